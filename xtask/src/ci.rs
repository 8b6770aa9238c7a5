//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.

use std::process::{Command, ExitCode};
use std::time::Instant;

/// The steps, in order. `cargo test --workspace` is the one test command: it builds every
/// test, example and doc test of the workspace in a single cargo invocation.
const STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace"],
];

pub(crate) fn run(args: &[String]) -> ExitCode {
    if let Some(arg) = args.first() {
        if arg == "-h" || arg == "--help" {
            println!("usage: cargo xtask ci\n\nRuns, stopping at the first failure:");
            for step in STEPS {
                println!("  cargo {}", step.join(" "));
            }
            println!(
                "  cargo {}  (no async runtime in it)",
                NO_RUNTIME_TREE.join(" ")
            );
            return ExitCode::SUCCESS;
        }
        eprintln!("error: `cargo xtask ci` takes no arguments (got `{arg}`)");
        return ExitCode::from(2);
    }
    let root = crate::workspace_root();
    let cargo = crate::cargo();
    let started = Instant::now();
    for (i, step) in STEPS.iter().enumerate() {
        let shown = format!("cargo {}", step.join(" "));
        println!("==> [{}/{}] {shown}", i + 1, STEPS.len());
        let step_started = Instant::now();
        let status = Command::new(&cargo).args(*step).current_dir(&root).status();
        match status {
            Ok(s) if s.success() => {
                println!(
                    "==> ok: {shown} ({:.0}s)",
                    step_started.elapsed().as_secs_f64()
                );
            }
            Ok(s) => {
                eprintln!(
                    "==> FAILED: step {}/{} `{shown}` ({s}); stopping here",
                    i + 1,
                    STEPS.len()
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("==> FAILED: could not run `{shown}`: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = no_async_runtime(&cargo, &root) {
        eprintln!("==> FAILED: {e}; stopping here");
        return ExitCode::FAILURE;
    }
    println!(
        "==> ci: all {} steps passed in {:.0}s",
        STEPS.len(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// The normal dependency tree of `oidc-embed-blocking`, whose example embeds the core in a
/// blocking server: it must hold no async runtime, which is what that example proves.
const NO_RUNTIME_TREE: &[&str] = &[
    "tree",
    "-p",
    "oidc-embed-blocking",
    "-e",
    "normal",
    "--prefix",
    "none",
    "--format",
    "{p}",
];

/// Crates that are, or start, an async runtime.
const ASYNC_RUNTIMES: &[&str] = &["tokio", "async-std", "smol", "futures-executor"];

/// Fails when `cargo tree` shows an async runtime in `oidc-embed-blocking`'s normal tree.
fn no_async_runtime(cargo: &str, root: &std::path::Path) -> Result<(), String> {
    let shown = format!("cargo {}", NO_RUNTIME_TREE.join(" "));
    println!("==> {shown}: no async runtime in oidc-embed-blocking");
    let out = Command::new(cargo)
        .args(NO_RUNTIME_TREE)
        .current_dir(root)
        .output()
        .map_err(|e| format!("could not run `{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{shown}` ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = async_runtimes_in(&stdout);
    if !found.is_empty() {
        return Err(format!(
            "oidc-embed-blocking depends on an async runtime: {}",
            found.join(", ")
        ));
    }
    println!("==> ok: none of {} in it", ASYNC_RUNTIMES.join(", "));
    Ok(())
}

/// The async runtimes among the packages of a `cargo tree --prefix none --format {p}`
/// listing (one `name vX.Y.Z [(path)]` a line), each once.
fn async_runtimes_in(tree: &str) -> Vec<&str> {
    let mut found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| ASYNC_RUNTIMES.contains(name))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::async_runtimes_in;

    /// A runtime is found by its exact package name, wherever it sits in the tree; crates that
    /// only share a prefix (`tokio-util` never comes without `tokio`) or mention one are not.
    #[test]
    fn finds_async_runtimes_by_package_name() {
        let clean =
            "oidc-embed-blocking v0.1.0 (/w/embed-blocking)\nureq v3.5.2\nfutures-core v0.3.31\n";
        assert!(async_runtimes_in(clean).is_empty());
        let tree = "oidc-embed-blocking v0.1.0\ntokio v1.48.0\nhyper v1.7.0\ntokio v1.48.0 (*)\nfutures-executor v0.3.31\n";
        assert_eq!(async_runtimes_in(tree), ["futures-executor", "tokio"]);
        assert_eq!(
            async_runtimes_in("smol v2.0.2\nasync-std v1.13.0"),
            ["async-std", "smol"]
        );
    }
}
