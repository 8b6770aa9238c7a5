//! `cargo xtask mutants`: mutation testing of the core's security-critical modules with
//! cargo-mutants, and their mutation score.
//!
//! Installs cargo-mutants when it is missing (`cargo install cargo-mutants --locked`), then runs
//! it over [`MODULES`] (or the `--file`s given), each mutant judged by the `oidc-core`
//! package's own unit tests (`cargo test -p oidc-core --lib`). The scenario suite in `tests/`
//! would catch more, but it rebuilds three adapters per mutant: on a 2-core machine that is
//! hours per file, so the rule is that the core's state machines and rules are proved by the
//! tests beside them. Doc tests are left out too (they are usage examples, and compiling them
//! again per mutant doubles its cost).
//!
//! cargo-mutants copies the tree and builds each mutant there, so the worktree's sources are
//! never touched. Every copy builds into one target directory of its own,
//! `target/mutants-target` (`CARGO_TARGET_DIR`), with the `mutants` profile (the test profile
//! without debug info, `.cargo/mutants.toml`): the dependencies are built by the first run only
//! (about 10 minutes on 2 busy cores), and each mutant then costs one build of oidc-core's test
//! binary and its tests (about 15 s). Only that test binary is built (`--lib`), not the library
//! a second time. The directory must be the run's alone: cargo names the core's test binary
//! the same in every copy of the tree, so a `cargo test -p oidc-core` building into the same
//! directory meanwhile would have mutants judged by an unmutated binary (and the other way
//! round). cargo-mutants' lock on its output directory keeps two runs of the task apart.
//! Equivalent mutants (ones no test can tell from the original) are excluded in
//! `.cargo/mutants.toml`, each with its reason in `docs/mutants.md`, where the last full run's
//! score and survivors are recorded.
//!
//! The score is detected / viable, where viable = caught + missed + timed out, and detected =
//! caught + timed out: a mutant that makes the tests hang (a loop that no longer ends) does not
//! pass them, any more than it would pass CI, whose jobs are bounded too. Timeouts are listed
//! apart all the same. Unviable mutants (they do not compile) do not count. Exit status
//! non-zero when the score is below [`MIN_SCORE`].

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process;

const USAGE: &str = "\
usage: cargo xtask mutants [--file PATH]... [--list] [-- CARGO-MUTANTS-ARGS...]

Mutation testing (cargo-mutants) of oidc-core's security-critical modules, judged by
oidc-core's own unit tests only: the scenario suite is too slow to run per mutant on this
machine (about 15 s per mutant here, minutes with the adapters). Prints the score (caught
or timed out / viable) and every surviving mutant; fails below 95%. Results are kept in
target/xtask-mutants/mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt).

  --file PATH   only this file (repeatable), e.g. --file oidc-core/src/cookies.rs
  --list        list the mutants without testing them
  -- ARGS       passed to cargo mutants as they are (e.g. -- --baseline skip, or
                -- --iterate to test only the mutants the last run did not catch)

The 534 mutants of every module take about 2.5 hours on 2 cores (the first run also builds
the dependencies in the `mutants` profile): narrow it with --file, run it in the background.
docs/mutants.md records the last run and the reason for every survivor.
";

/// The modules whose every check must be able to fail: ID tokens, the callback, login, the
/// cookies, key sets, bearer and access tokens, introspection, refresh and sessions.
pub(crate) const MODULES: &[&str] = &[
    "oidc-core/src/id_token.rs",
    "oidc-core/src/callback.rs",
    "oidc-core/src/login.rs",
    "oidc-core/src/cookies.rs",
    "oidc-core/src/login_cookie.rs",
    "oidc-core/src/jwks.rs",
    "oidc-core/src/bearer.rs",
    "oidc-core/src/access_token.rs",
    "oidc-core/src/introspection.rs",
    "oidc-core/src/refresh.rs",
    "oidc-core/src/session.rs",
];

/// The lowest acceptable score, in percent of the viable mutants.
const MIN_SCORE: f64 = 95.0;

/// How long one run may take: every module, one rebuild of the core's tests per mutant.
const RUN_LIMIT: Duration = Duration::from_secs(12 * 60 * 60);
/// How long the tests of one mutant may run before it counts as a hang (the core's tests take
/// a few seconds; cargo-mutants' own default would be derived from the baseline).
const TEST_TIMEOUT_SECS: &str = "120";

struct Options {
    files: Vec<String>,
    list: bool,
    extra: Vec<String>,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        files: Vec::new(),
        list: false,
        extra: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--file" => options
                .files
                .push(it.next().ok_or("--file needs a path")?.clone()),
            "--list" => options.list = true,
            "--" => {
                options.extra = it.cloned().collect();
                break;
            }
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    Ok(Some(options))
}

/// Runs the task; `Err` carries what to tell the user.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let root = crate::workspace_root();
    let cargo = crate::cargo();
    let files: Vec<String> = if options.files.is_empty() {
        MODULES.iter().map(|m| (*m).to_owned()).collect()
    } else {
        options.files.clone()
    };
    for file in &files {
        if !root.join(file).is_file() {
            return Err(format!("no file `{file}` in {}", root.display()));
        }
    }
    ensure_cargo_mutants(&cargo, &root)?;

    let target = root.join("target").join("mutants-target");
    let output = root.join("target").join("xtask-mutants");
    std::fs::create_dir_all(&output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        // Every copy of the tree builds into this one directory, so the dependencies are built
        // once, not once per run; nothing else builds there (see the module docs).
        .env("CARGO_TARGET_DIR", &target)
        .args(mutants_args(&files, options.list, &output))
        .args(&options.extra);
    let started = Instant::now();
    println!("==> cargo mutants over {} file(s)", files.len());
    let mut guard =
        process::Guard::spawn_inherited("cargo mutants", &mut cmd).map_err(|e| e.to_string())?;
    let status = guard.wait_bounded(RUN_LIMIT).ok_or_else(|| {
        format!(
            "cargo mutants did not finish within {}h",
            RUN_LIMIT.as_secs() / 3600
        )
    })?;
    if options.list {
        return if status.success() {
            Ok(())
        } else {
            Err(format!("cargo mutants --list failed ({status})"))
        };
    }
    let results = output.join("mutants.out");
    // cargo-mutants exits 0 (all caught), 2 (some missed) or 3 (some timed out); anything
    // else means it could not judge the mutants (the tree does not build, the baseline fails),
    // and its empty lists must not read as a perfect score.
    if !matches!(status.code(), Some(0 | 2 | 3)) {
        return Err(format!(
            "cargo mutants failed ({status}); see {}",
            results.join("debug.log").display()
        ));
    }
    let outcome = Outcome::read(&results)?;
    println!(
        "==> {} mutants in {:.0} min: {} caught, {} missed, {} timed out, {} unviable",
        outcome.caught + outcome.missed.len() + outcome.timeout.len() + outcome.unviable,
        started.elapsed().as_secs_f64() / 60.0,
        outcome.caught,
        outcome.missed.len(),
        outcome.timeout.len(),
        outcome.unviable,
    );
    for m in &outcome.missed {
        println!("    MISSED   {m}");
    }
    for m in &outcome.timeout {
        println!("    TIMEOUT  {m}");
    }
    let score = outcome.score();
    println!(
        "==> mutation score: {score:.1}% of {} viable mutants caught or timed out (minimum \
         {MIN_SCORE}%)",
        outcome.viable()
    );
    if score < MIN_SCORE {
        Err(format!(
            "mutation score {score:.1}% is below {MIN_SCORE}%: kill the survivors above with \
             unit tests, or record why they are equivalent in docs/mutants.md"
        ))
    } else {
        Ok(())
    }
}

/// The cargo-mutants command line (after `cargo`) for `files`.
fn mutants_args(files: &[String], list: bool, output: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["mutants", "--package", "oidc-core"]
        .map(str::to_owned)
        .to_vec();
    for f in files {
        args.extend(["--file".to_owned(), f.clone()]);
    }
    if list {
        args.push("--list".to_owned());
        return args;
    }
    // The profile and `--lib` (only the core's unit tests judge a mutant) are in
    // `.cargo/mutants.toml`, so that a bare `cargo mutants` does the same.
    args.extend(["--timeout", TEST_TIMEOUT_SECS, "--output"].map(str::to_owned));
    args.push(output.display().to_string());
    args
}

fn ensure_cargo_mutants(cargo: &str, root: &Path) -> Result<(), String> {
    process::ensure_cargo_tool(cargo, root, "mutants", "cargo-mutants")
}

/// What one run found, from cargo-mutants' result lists (one mutant a line).
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    caught: usize,
    missed: Vec<String>,
    timeout: Vec<String>,
    unviable: usize,
}

impl Outcome {
    fn read(dir: &Path) -> Result<Outcome, String> {
        let lines = |name: &str| -> Result<Vec<String>, String> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(non_empty_lines(&text)),
                // cargo-mutants writes every list, empty ones included; a missing one means
                // the run stopped before testing anything.
                Err(e) => Err(format!("{}: {e}", path.display())),
            }
        };
        Ok(Outcome {
            caught: lines("caught.txt")?.len(),
            missed: lines("missed.txt")?,
            timeout: lines("timeout.txt")?,
            unviable: lines("unviable.txt")?.len(),
        })
    }

    fn viable(&self) -> usize {
        self.caught + self.missed.len() + self.timeout.len()
    }

    /// Detected (caught or timed out), in percent of the viable mutants; 100 when there are
    /// none.
    fn score(&self) -> f64 {
        match self.viable() {
            0 => 100.0,
            viable => (self.caught + self.timeout.len()) as f64 * 100.0 / viable as f64,
        }
    }
}

fn non_empty_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_module_exists() {
        let root = crate::workspace_root();
        for m in MODULES {
            assert!(root.join(m).is_file(), "{m}");
        }
    }

    #[test]
    fn files_narrow_the_run_and_extra_args_pass_through() {
        let args: Vec<String> = [
            "--file",
            "oidc-core/src/cookies.rs",
            "--",
            "--baseline",
            "skip",
        ]
        .map(str::to_owned)
        .to_vec();
        let o = parse(&args).unwrap().unwrap();
        assert_eq!(o.files, ["oidc-core/src/cookies.rs"]);
        assert_eq!(o.extra, ["--baseline", "skip"]);
        let cmd = mutants_args(&o.files, false, Path::new("/t"));
        assert!(cmd
            .windows(2)
            .any(|w| w[0] == "--file" && w[1] == "oidc-core/src/cookies.rs"));
        assert_eq!(cmd.iter().filter(|a| *a == "--file").count(), 1);
        assert!(cmd
            .windows(2)
            .any(|w| w[0] == "--package" && w[1] == "oidc-core"));
        assert!(cmd.windows(2).any(|w| w[0] == "--output" && w[1] == "/t"));
        assert!(parse(&["--bogus".to_owned()]).is_err());
        assert!(parse(&["--file".to_owned()]).is_err());
        assert!(parse(&["--help".to_owned()]).unwrap().is_none());
    }

    /// Missed mutants count against the score, timed-out ones for it (the tests did not
    /// pass), unviable ones not at all.
    #[test]
    fn score_counts_detected_among_viable() {
        let o = Outcome {
            caught: 93,
            missed: vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
            timeout: vec!["f".into(), "g".into()],
            unviable: 40,
        };
        assert_eq!(o.viable(), 100);
        assert!((o.score() - 95.0).abs() < 1e-9);
        assert_eq!(Outcome::default().score(), 100.0);
        assert_eq!(non_empty_lines("x\n\n  y  \n"), ["x", "y"]);
    }
}
