//! The workspace's task runner: `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `cargo xtask ci`: formatting, clippy, docs, packaging and the test suite, stopping at the
//!   first failure.
//! - `cargo xtask interop`: every adapter's demo app against a real OpenID provider
//!   (`interop/provider.mjs`) driven by headless Chromium (`interop/drive.mjs`).
//! - `cargo xtask bench`: the benchmarks, written to `target/bench/report.md`.
//! - `cargo xtask fuzz [--seconds N]`: every cargo-fuzz target for N seconds.
//! - `cargo xtask deny`: `cargo deny` (advisories, licences, duplicate crates, sources).
//! - `cargo xtask mutants [--file PATH]...`: mutation testing of the core's security-critical
//!   modules (cargo-mutants, judged by the core's unit tests), with the score.
//!
//! Standard library only, so that it builds in seconds on a fresh machine.

#![forbid(unsafe_code)]

mod bench;
mod ci;
mod deny;
mod fuzz;
mod interop;
mod mutants;
mod package;
mod process;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  ci        cargo fmt --all --check; cargo clippy --workspace --all-targets -- -D warnings;
            cargo doc (warnings denied); the adapters without default features; cargo
            package of the published crates; cargo test --workspace. Stops at the first
            failing step (`cargo xtask ci --help` lists the commands).
  interop   the demo apps against a real OpenID provider in headless Chromium.
            Run `cargo xtask interop --help` for its options.
  bench     the benchmarks; the report goes to target/bench/report.md.
  fuzz      every fuzz target for a bounded time: [--seconds N] [--target NAME]...
  deny      cargo deny: advisories (when the database can be fetched), bans, licences, sources.
  mutants   mutation testing (cargo-mutants) of oidc-core's security-critical modules against
            its unit tests, with the score; hours in all, so narrow it: [--file PATH]...
            [--list] [-- CARGO-MUTANTS-ARGS]. Run `cargo xtask mutants --help`.
";

/// A task that reports failure as a message.
fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("interop") => interop::run(&args[1..]),
        Some("bench") => report(bench::run(&args[1..])),
        Some("fuzz") => report(fuzz::run(&args[1..])),
        Some("deny") => report(deny::run()),
        Some("mutants") => report(mutants::run(&args[1..])),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprint!("error: unknown task `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// The cargo that runs us (`$CARGO`), so that the same toolchain does the work.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}
