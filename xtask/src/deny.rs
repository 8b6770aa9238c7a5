//! `cargo xtask deny`: the supply-chain checks of `deny.toml` with cargo-deny.
//!
//! Installs cargo-deny when it is missing (`cargo install cargo-deny --locked`), then runs
//! `cargo deny check bans licenses sources`, which needs nothing but the lock file, and
//! `cargo deny check advisories`, which needs the RustSec advisory database from GitHub.
//! Where that database cannot be fetched (these machines reach crates.io but not GitHub) the
//! advisories check is reported as SKIPPED with the reason, never as passed; a vulnerability
//! it does find fails the task.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process;

/// How long one check may take (the advisories check includes a fetch).
const CHECK_LIMIT: Duration = Duration::from_secs(5 * 60);

/// Runs the task; `Err` carries what to tell the user.
pub(crate) fn run() -> Result<(), String> {
    let root = crate::workspace_root();
    let cargo = crate::cargo();
    ensure_cargo_deny(&cargo, &root)?;

    println!("==> cargo deny check bans licenses sources");
    process::run_visible(
        "cargo deny check bans licenses sources",
        deny(&cargo, &root).args(["check", "bans", "licenses", "sources"]),
        CHECK_LIMIT,
    )?;

    println!("==> cargo deny check advisories");
    let logs = root.join("target").join("xtask-deny");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let (out, err) = (logs.join("advisories.out"), logs.join("advisories.log"));
    let status = process::run_bounded(
        "cargo deny check advisories",
        deny(&cargo, &root).args(["check", "advisories"]),
        &out,
        &err,
        CHECK_LIMIT,
    );
    // cargo-deny writes its diagnostics and errors to stderr; stdout is read too, so that a
    // finding is never missed because it went to the other stream.
    let log = std::fs::read_to_string(&err).unwrap_or_default()
        + &std::fs::read_to_string(&out).unwrap_or_default();
    let status = status.map_err(|e| format!("cargo deny check advisories: {e}"))?;
    match classify(status.success(), &log) {
        Advisories::Passed => {
            println!("==> ok: advisories");
            Ok(())
        }
        Advisories::Unreachable(reason) => {
            println!(
                "==> SKIPPED: advisories: the RustSec advisory database could not be fetched \
                 (GitHub is unreachable from this machine): {reason}"
            );
            println!("==> bans, licenses and sources passed; advisories were NOT checked");
            Ok(())
        }
        Advisories::Failed(why) => Err(format!(
            "cargo deny check advisories failed ({status}): {why}\n{}",
            process::tail(&err, 0, 60).join("\n")
        )),
    }
}

fn deny(cargo: &str, root: &Path) -> Command {
    let mut cmd = Command::new(cargo);
    cmd.arg("deny").current_dir(root);
    cmd
}

fn ensure_cargo_deny(cargo: &str, root: &Path) -> Result<(), String> {
    process::ensure_cargo_tool(cargo, root, "deny", "cargo-deny")
}

/// What one `cargo deny check advisories` run says.
#[derive(Debug, PartialEq, Eq)]
enum Advisories {
    /// It ran against the database and found nothing.
    Passed,
    /// It could not fetch the database, so it checked nothing: cargo-deny's own fetch error,
    /// with its cause.
    Unreachable(String),
    /// Anything else: a finding of any kind, or a failure that is not the fetch.
    Failed(String),
}

/// The error context cargo-deny puts on every failure to fetch an advisory database
/// (`failed to fetch advisory database <url>`, or `... <url> with cli` when it clones with
/// git), printed as `<time> [ERROR] failed to fetch advisory database
/// https://github.com/RustSec/advisory-db with cli: failed to clone: [...]` and then git's own
/// lines (`fatal: unable to access ...: Could not resolve host: github.com`). Nothing else it prints contains it: advisory titles and descriptions are never
/// shown without an `error[<kind>]` diagnostic.
const FETCH_ERROR: &str = "failed to fetch advisory database";

/// Classifies a run from its exit status and its output (stderr and stdout).
///
/// Any `error[...]` diagnostic fails, whatever its kind (`vulnerability`, `unsound`,
/// `unmaintained`, `yanked`, `notice`, or one cargo-deny adds later): a kind we did not think
/// of is never taken for a fetch problem. A failed run is a fetch problem only when it carries
/// cargo-deny's own fetch error, and checked nothing (no `advisories ok`/`FAILED` summary).
fn classify(success: bool, log: &str) -> Advisories {
    let findings: Vec<&str> = log
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("error["))
        .collect();
    if !findings.is_empty() {
        let shown: Vec<&str> = findings.iter().take(10).copied().collect();
        return Advisories::Failed(format!(
            "{} finding(s): {}",
            findings.len(),
            shown.join(" | ")
        ));
    }
    if success {
        return Advisories::Passed;
    }
    let checked = log.lines().any(|l| {
        let l = l.trim();
        l.starts_with("advisories ok") || l.starts_with("advisories FAILED")
    });
    let lines: Vec<&str> = log.lines().collect();
    match lines.iter().position(|l| l.contains(FETCH_ERROR)) {
        Some(i) if !checked => {
            // The fetch error and its cause (the next non-empty lines, indented by cargo-deny).
            let reason: Vec<&str> = lines[i..]
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .take(4)
                .collect();
            Advisories::Unreachable(reason.join(" "))
        }
        _ => Advisories::Failed(
            "no finding, and not cargo-deny's failure to fetch the advisory database".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo deny check advisories` (cargo-deny 0.20.2, which clones with the git CLI) on a
    /// machine that cannot reach GitHub, its stderr as captured here: the run stops at the
    /// fetch, checks nothing, and exits with status 1.
    const UNREACHABLE: &str = include_str!("../testdata/deny-unreachable.log");

    /// A vulnerability, in cargo-deny's diagnostic format.
    const VULNERABILITY: &str = "\
error[vulnerability]: Timing variability in `hyper` over the network
   ┌─ /w/Cargo.lock:80:1
   │
80 │ hyper 0.14.10 registry+https://github.com/rust-lang/crates.io-index
   │ ------------------------------------------------------------------- security vulnerability detected
   │
   ├ ID: RUSTSEC-2099-0001
   ├ Advisory: https://rustsec.org/advisories/RUSTSEC-2099-0001
   ├ A request could be timed out by a network peer.

advisories FAILED
";

    /// An unsound advisory: a kind the old classification did not list, whose text mentions
    /// the network and a timeout.
    const UNSOUND: &str = "\
error[unsound]: `socket2` may read uninitialised memory when the network times out
   ┌─ /w/Cargo.lock:120:1
   │
   ├ ID: RUSTSEC-2099-0002
   ├ Advisory: https://rustsec.org/advisories/RUSTSEC-2099-0002
   ├ failed to connect, timed out, network unreachable

advisories FAILED
";

    #[test]
    fn the_captured_fetch_failure_is_unreachable() {
        match classify(false, UNREACHABLE) {
            Advisories::Unreachable(reason) => {
                assert!(reason.contains(FETCH_ERROR), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn findings_of_any_kind_fail() {
        for log in [VULNERABILITY, UNSOUND] {
            assert!(
                matches!(classify(false, log), Advisories::Failed(_)),
                "{log}"
            );
        }
        // A kind cargo-deny may add one day.
        let new_kind = "error[something-new]: crate `x` is suspicious\nadvisories FAILED\n";
        assert!(matches!(classify(false, new_kind), Advisories::Failed(_)));
        // A finding next to a fetch error (one of several databases) still fails.
        let both = format!("{UNREACHABLE}\n{UNSOUND}");
        assert!(matches!(classify(false, &both), Advisories::Failed(_)));
    }

    #[test]
    fn network_words_alone_are_not_a_fetch_failure() {
        for log in [
            "error: network unreachable",
            "[ERROR] operation timed out",
            "failed to connect to github.com: Could not resolve host",
            "",
            // The fetch error after a check ran: not a fetch-only failure.
            "[ERROR] failed to fetch advisory database https://x\nadvisories FAILED\n",
        ] {
            assert!(
                matches!(classify(false, log), Advisories::Failed(_)),
                "{log:?}"
            );
        }
    }

    #[test]
    fn a_clean_run_passes() {
        assert_eq!(classify(true, "advisories ok\n"), Advisories::Passed);
        assert_eq!(
            classify(true, "warning[yanked]: nothing\nadvisories ok\n"),
            Advisories::Passed
        );
    }
}
