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

/// How long installing cargo-deny may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(30 * 60);
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
    let log = std::fs::read_to_string(&err).unwrap_or_default();
    match status {
        Ok(s) if s.success() => {
            println!("==> ok: advisories");
            Ok(())
        }
        _ if fetch_failed(&log) => {
            let reason = log
                .lines()
                .find(|l| is_fetch_error(l))
                .unwrap_or("the advisory database could not be fetched")
                .trim();
            println!(
                "==> SKIPPED: advisories: the RustSec advisory database could not be fetched \
                 (GitHub is unreachable from this machine): {reason}"
            );
            println!("==> bans, licenses and sources passed; advisories were NOT checked");
            Ok(())
        }
        Ok(s) => Err(format!(
            "cargo deny check advisories failed ({s}):\n{}",
            process::tail(&err, 0, 60).join("\n")
        )),
        Err(e) => Err(format!("cargo deny check advisories: {e}")),
    }
}

fn deny(cargo: &str, root: &Path) -> Command {
    let mut cmd = Command::new(cargo);
    cmd.arg("deny").current_dir(root);
    cmd
}

fn ensure_cargo_deny(cargo: &str, root: &Path) -> Result<(), String> {
    let present = Command::new(cargo)
        .args(["deny", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("==> cargo-deny is missing: cargo install cargo-deny --locked");
    process::run_visible(
        "cargo install cargo-deny",
        Command::new(cargo)
            .args(["install", "cargo-deny", "--locked"])
            .current_dir(root),
        INSTALL_LIMIT,
    )
}

/// Whether the advisories check failed because the database could not be fetched (and not
/// because it found something).
fn fetch_failed(log: &str) -> bool {
    !log.contains("error[vulnerability]")
        && !log.contains("error[unmaintained]")
        && !log.contains("error[yanked]")
        && log.lines().any(is_fetch_error)
}

fn is_fetch_error(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    [
        "failed to fetch",
        "failed to open advisory database",
        "unable to fetch",
        "failed to clone",
        "failed to load advisory database",
        "could not resolve host",
        "failed to connect",
        "timed out",
        "network",
    ]
    .iter()
    .any(|p| l.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_failures_are_told_from_findings() {
        assert!(fetch_failed(
            "error: failed to fetch advisory database: Could not resolve host: github.com"
        ));
        assert!(!fetch_failed(
            "error[vulnerability]: something\nfailed to fetch nothing"
        ));
        assert!(!fetch_failed("error[yanked]: crate was yanked"));
    }
}
