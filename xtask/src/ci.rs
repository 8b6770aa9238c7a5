//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

/// What a step needs done first, given the workspace root; an error fails the step.
type Prepare = fn(&Path) -> Result<(), String>;

/// One `cargo` invocation: its arguments, the environment it needs beyond the caller's, and
/// what must be done first.
struct Step {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    prepare: Option<Prepare>,
}

impl Step {
    /// The command as a user would type it.
    fn shown(&self) -> String {
        let env: String = self
            .env
            .iter()
            .map(|(name, value)| format!("{name}=\"{value}\" "))
            .collect();
        format!("{env}cargo {}", self.args.join(" "))
    }
}

/// The steps, in order, the quick ones first. `cargo test --workspace` is the one test
/// command: it builds every test, example and doc test of the workspace in a single cargo
/// invocation.
const STEPS: &[Step] = &[
    Step {
        args: &["fmt", "--all", "--check"],
        env: &[],
        prepare: None,
    },
    Step {
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
        prepare: None,
    },
    // The documentation as docs.rs builds it: a broken intra-doc link is an error.
    Step {
        args: &["doc", "--workspace", "--no-deps"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        prepare: None,
    },
    // An app that brings its own `Transport` turns the default features off: the runtime, the
    // adapters and the Redis store must build without reqwest and without any TLS stack.
    Step {
        args: &[
            "check",
            "-p",
            "oidc-runtime",
            "-p",
            "oidc-axum",
            "-p",
            "oidc-rocket",
            "-p",
            "oidc-warp",
            "-p",
            "oidc-redis",
            "--no-default-features",
        ],
        env: &[],
        prepare: None,
    },
    // Every published crate packages, with its version-carrying dependencies resolved from the
    // other packages (cargo's local registry overlay), and builds from its own tarball. The
    // members with `publish = false` are excluded (their path-only dependencies cannot be
    // packaged); a test below keeps the list in step with the manifests. `--allow-dirty`:
    // this checks the packages, not whether the work tree is committed. Each package builds as
    // a workspace of its own, without this one's profile: no debug info, as in ours for
    // dependencies, keeps those builds (about 4 minutes on 2 cores) and their disk use down.
    // They go to a target directory of their own, from which `package::prepare` first removes
    // what an earlier run built of our packages (cargo would take it for fresh).
    Step {
        args: &[
            "package",
            "--workspace",
            "--exclude",
            "oidc-bench",
            "--exclude",
            "oidc-embed-blocking",
            "--exclude",
            "xtask",
            "--allow-dirty",
            "--target-dir",
            crate::package::TARGET_DIR,
        ],
        env: &[("CARGO_PROFILE_DEV_DEBUG", "0")],
        prepare: Some(crate::package::prepare),
    },
    Step {
        args: &["test", "--workspace"],
        env: &[],
        prepare: None,
    },
];

pub(crate) fn run(args: &[String]) -> ExitCode {
    if let Some(arg) = args.first() {
        if arg == "-h" || arg == "--help" {
            println!("usage: cargo xtask ci\n\nRuns, stopping at the first failure:");
            for step in STEPS {
                println!("  {}", step.shown());
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
        let shown = step.shown();
        println!("==> [{}/{}] {shown}", i + 1, STEPS.len());
        let step_started = Instant::now();
        if let Some(prepare) = step.prepare {
            if let Err(e) = prepare(&root) {
                eprintln!("==> FAILED: before `{shown}`: {e}");
                return ExitCode::FAILURE;
            }
        }
        let status = Command::new(&cargo)
            .args(step.args)
            .envs(step.env.iter().copied())
            .current_dir(&root)
            .status();
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
    use super::{async_runtimes_in, STEPS};

    /// `cargo package --workspace` excludes exactly the members that are not published: one
    /// left out would fail the step (its path-only dependencies), and a published crate
    /// excluded would go unchecked.
    #[test]
    fn package_step_excludes_exactly_the_unpublished_members() {
        let package = STEPS
            .iter()
            .find(|step| step.args.first() == Some(&"package"))
            .expect("a packaging step");
        let mut excluded: Vec<String> = package
            .args
            .windows(2)
            .filter(|pair| pair[0] == "--exclude")
            .map(|pair| pair[1].to_owned())
            .collect();
        excluded.sort();
        let mut unpublished: Vec<String> =
            crate::package::workspace_members(&crate::workspace_root())
                .unwrap()
                .into_iter()
                .filter(|m| !m.publish)
                .map(|m| m.name)
                .collect();
        unpublished.sort();
        assert!(unpublished.contains(&"xtask".to_owned()), "{unpublished:?}");
        assert_eq!(excluded, unpublished);
    }

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
