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
    println!(
        "==> ci: all {} steps passed in {:.0}s",
        STEPS.len(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
