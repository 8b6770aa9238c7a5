//! `oidc-bench`: the measurements of `cargo xtask bench` that criterion does not make, and the
//! report.
//!
//! ```text
//! oidc-bench load        [--wrk PATH] [--seconds 3] [--connections 8] [--rounds 5]
//!                        [--adapters axum,rocket,warp] [--redis URL [--redis-pid PID]]
//!                        [--out target/bench/load.json]
//! oidc-bench propagation [--redis URL] [--trials 1000] [--out target/bench/propagation.json]
//! oidc-bench logins      [--n 1000,10000] [--out target/bench/logins.json]
//! oidc-bench sizes       [--out target/bench/sizes.json]
//! oidc-bench report      --dir target/bench [--criterion DIR] [--elapsed SECS] [--out FILE]
//!                        [--quick true]
//! ```

mod alloc;
mod load;
mod logins;
mod proc_stat;
mod propagation;
mod report;
mod sizes;
mod sys;
mod wrk;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("load") => load::run(&args[1..]),
        Some("logins") => logins::run(&args[1..]),
        Some("sizes") => sizes::run(&args[1..]),
        Some("propagation") => propagation::run(&args[1..]),
        Some("report") => report::run(&args[1..]),
        _ => Err(
            "usage: oidc-bench load|propagation|logins|sizes|report [options] (see src/main.rs)"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oidc-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
