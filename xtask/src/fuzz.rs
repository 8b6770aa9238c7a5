//! `cargo xtask fuzz --seconds N`: every cargo-fuzz target in `fuzz/` for N seconds each.
//!
//! Installs cargo-fuzz when it is missing (`cargo install cargo-fuzz --locked`), builds every
//! target once (address sanitizer, debug assertions, so integer overflow panics too), replays
//! every past finding in `fuzz/regressions/` (`<target>-<what>`, each run once by its target:
//! a finding that comes back fails the task before any fuzzing), then runs each target against
//! its committed seeds (`fuzz/corpus/<target>/`, read only) plus a scratch corpus
//! under `target/fuzz-corpus/<target>/`. libFuzzer is told to treat an input that runs longer
//! than 10 s as a hang and a single allocation over 512 MiB (or 2 GiB of RSS) as a crash, so
//! "no panic, no unbounded allocation, no hang" is what a green run means.
//!
//! Only the stable toolchain exists on these machines: cargo-fuzz runs with
//! `RUSTC_BOOTSTRAP=1`. Every child process is bounded in time and stopped by its PID.
//!
//! Exit status non-zero when any target finds a crash; its input is in
//! `fuzz/artifacts/<target>/` and the tail of its log is printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process;

const USAGE: &str = "\
usage: cargo xtask fuzz [--seconds N] [--target NAME]...

Runs every fuzz target in fuzz/ (or only the named ones) for N seconds each (default 30).
Installs cargo-fuzz if it is missing. Non-zero exit status when a target crashes, hangs or
allocates without bound; the input that did it is kept in fuzz/artifacts/<target>/.
";

/// How long building every target may take.
const BUILD_LIMIT: Duration = Duration::from_secs(45 * 60);
/// Slack on top of `--seconds` for one target's run (start-up, corpus loading, the final
/// report), after which it is stopped and counted as hung.
const RUN_SLACK: Duration = Duration::from_secs(120);

/// libFuzzer options every run gets.
const LIBFUZZER_FLAGS: &[&str] = &[
    // An input that takes longer than this is a hang.
    "-timeout=10",
    // One allocation larger than this is unbounded allocation.
    "-malloc_limit_mb=512",
    "-rss_limit_mb=2048",
    // Inputs large enough for whole provider documents, small enough to stay fast.
    "-max_len=16384",
    "-print_final_stats=1",
];

struct Options {
    seconds: u64,
    targets: Vec<String>,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        seconds: 30,
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                options.seconds = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--seconds: `{v}` is not a positive number"))?;
            }
            "--target" => options
                .targets
                .push(it.next().ok_or("--target needs a name")?.clone()),
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
    let logs = root.join("target").join("xtask-fuzz");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;

    ensure_cargo_fuzz(&cargo, &root)?;
    let all = list_targets(&root)?;
    let targets = if options.targets.is_empty() {
        all.clone()
    } else {
        for t in &options.targets {
            if !all.contains(t) {
                return Err(format!(
                    "no fuzz target `{t}`; there are: {}",
                    all.join(", ")
                ));
            }
        }
        options.targets.clone()
    };

    println!("==> building {} fuzz targets", targets.len());
    let started = Instant::now();
    process::run_visible(
        "cargo fuzz build",
        fuzz_command(&cargo, &root).args(["build", "--debug-assertions"]),
        BUILD_LIMIT,
    )?;
    println!("==> built in {:.0}s", started.elapsed().as_secs_f64());

    replay_regressions(&cargo, &root, &logs, &all)?;

    let mut failed = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        println!(
            "==> [{}/{}] {target} for {}s",
            i + 1,
            targets.len(),
            options.seconds
        );
        match run_target(&cargo, &root, &logs, target, options.seconds) {
            Ok(summary) => println!("==> ok: {target}: {summary}"),
            Err(e) => {
                eprintln!("==> FAILED: {target}: {e}");
                failed.push(target.clone());
            }
        }
    }
    if failed.is_empty() {
        println!(
            "==> fuzz: all {} targets ran {}s each without a crash",
            targets.len(),
            options.seconds
        );
        Ok(())
    } else {
        Err(format!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/<target>/, logs in {})",
            failed.join(", "),
            logs.display()
        ))
    }
}

fn fuzz_command(cargo: &str, root: &Path) -> Command {
    let mut cmd = Command::new(cargo);
    cmd.arg("fuzz")
        .current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUST_BACKTRACE", "1");
    cmd
}

fn ensure_cargo_fuzz(cargo: &str, root: &Path) -> Result<(), String> {
    process::ensure_cargo_tool(cargo, root, "fuzz", "cargo-fuzz")
}

/// The `[[bin]]` names of `fuzz/Cargo.toml`, which are the targets.
fn list_targets(root: &Path) -> Result<Vec<String>, String> {
    let manifest = root.join("fuzz").join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let mut targets = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(name) = line
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
            {
                targets.push(name.trim().trim_matches('"').to_owned());
            }
        }
    }
    if targets.is_empty() {
        return Err(format!("{} declares no fuzz target", manifest.display()));
    }
    Ok(targets)
}

/// The files of `fuzz/regressions/` (all but its README), each with the target it is for: the
/// longest target name that the file name starts with, followed by `-`.
fn regressions(dir: &Path, targets: &[String]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !path.is_file() || name == "README.md" || name.starts_with('.') {
            continue;
        }
        let target = targets
            .iter()
            .filter(|t| name.starts_with(&format!("{t}-")))
            .max_by_key(|t| t.len())
            .ok_or_else(|| {
                format!(
                    "{}: names no fuzz target (call it <target>-<what>; targets: {})",
                    path.display(),
                    targets.join(", ")
                )
            })?;
        found.push((target.clone(), path));
    }
    found.sort();
    Ok(found)
}

/// Runs every past finding once through its target. Any of them crashing again fails.
fn replay_regressions(
    cargo: &str,
    root: &Path,
    logs: &Path,
    targets: &[String],
) -> Result<(), String> {
    let found = regressions(&root.join("fuzz").join("regressions"), targets)?;
    println!(
        "==> replaying {} past findings (fuzz/regressions/)",
        found.len()
    );
    for (target, input) in &found {
        let shown = input.strip_prefix(root).unwrap_or(input).display();
        let stem = input
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("regression");
        let out = logs.join(format!("replay-{stem}.out"));
        let err = logs.join(format!("replay-{stem}.log"));
        let mut cmd = fuzz_command(cargo, root);
        // libFuzzer runs each file given as an argument once, and fuzzes nothing.
        cmd.args(["run", "--debug-assertions", target])
            .arg(input)
            .arg("--")
            .args(LIBFUZZER_FLAGS);
        let status = process::run_bounded(target, &mut cmd, &out, &err, RUN_SLACK)
            .map_err(|e| format!("replaying {shown}: {e}"))?;
        if !status.success() {
            return Err(format!(
                "the past finding {shown} fails {target} again ({status}){}; last lines of {}:\n{}",
                panic_message(&err),
                err.display(),
                process::tail(&err, 0, 30).join("\n")
            ));
        }
        println!("==> ok: {shown} ({target})");
    }
    Ok(())
}

fn run_target(
    cargo: &str,
    root: &Path,
    logs: &Path,
    target: &str,
    seconds: u64,
) -> Result<String, String> {
    let scratch: PathBuf = root.join("target").join("fuzz-corpus").join(target);
    let seeds = root.join("fuzz").join("corpus").join(target);
    for dir in [&scratch, &seeds] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let out = logs.join(format!("{target}.out"));
    let err = logs.join(format!("{target}.log"));
    let mut cmd = fuzz_command(cargo, root);
    cmd.args(["run", "--debug-assertions", target])
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(LIBFUZZER_FLAGS);
    let limit = Duration::from_secs(seconds) + RUN_SLACK;
    let status = process::run_bounded(target, &mut cmd, &out, &err, limit)
        .map_err(|e| format!("{e}\n{}", process::tail(&err, 0, 30).join("\n")))?;
    let tail = process::tail(&err, 0, 40);
    if !status.success() {
        return Err(format!(
            "{status}{}; last lines of {}:\n{}",
            panic_message(&err),
            err.display(),
            tail.join("\n")
        ));
    }
    let stat = |name: &str| {
        tail.iter()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".into())
    };
    Ok(format!(
        "{} runs, {} corpus inputs",
        stat("stat::number_of_executed_units:"),
        std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0)
    ))
}

/// The target's panic (where, and the assertion's first lines), which libFuzzer's log puts
/// before a long sanitizer backtrace that the tail alone would show instead.
fn panic_message(log: &Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    panic_lines(&String::from_utf8_lossy(&text))
}

fn panic_lines(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let Some(at) = lines.iter().position(|l| l.contains("panicked at")) else {
        return String::new();
    };
    let shown: Vec<String> = lines[at..lines.len().min(at + 4)]
        .iter()
        .map(|l| l.chars().take(300).collect())
        .collect();
    format!("\n  {}", shown.join("\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regressions_are_matched_to_their_targets() {
        let dir = std::env::temp_dir().join(format!("xtask-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "README.md",
            "return_path-ampersand",
            "id_token_claims-x",
            "id_token-y",
        ] {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        let targets: Vec<String> = ["id_token", "id_token_claims", "return_path"]
            .map(String::from)
            .to_vec();
        let found = regressions(&dir, &targets).unwrap();
        let found: Vec<(&str, String)> = found
            .iter()
            .map(|(t, p)| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (t.as_str(), name)
            })
            .collect();
        assert_eq!(
            found,
            [
                ("id_token", "id_token-y".to_owned()),
                ("id_token_claims", "id_token_claims-x".to_owned()),
                ("return_path", "return_path-ampersand".to_owned()),
            ]
        );
        std::fs::write(dir.join("nobody-z"), b"x").unwrap();
        assert!(regressions(&dir, &targets).is_err(), "a file for no target");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_committed_regressions_name_their_targets() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let targets = list_targets(&root).unwrap();
        let found = regressions(&root.join("fuzz").join("regressions"), &targets).unwrap();
        assert!(!found.is_empty());
    }

    #[test]
    fn a_failure_shows_the_panic_not_only_the_backtrace() {
        let log = "INFO: seed\nthread '<unnamed>' panicked at fuzz_targets/jwks.rs:84:13:\n\
                   assertion `left == right` failed\n  left: true\n right: false\n#0 0x1 in f\n";
        let shown = panic_lines(log);
        assert!(shown.contains("jwks.rs:84:13") && shown.contains("right: false"));
        assert!(!shown.contains("#0 0x1"));
        assert_eq!(panic_lines("==1== ERROR: AddressSanitizer\n"), "");
    }
}
