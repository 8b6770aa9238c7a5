//! `cargo xtask bench`: every benchmark of the workspace in one go, and the Markdown report
//! `target/bench/report.md` (each figure beside its baseline from the same run, the ratio, the
//! target, the machine's core count).
//!
//! 1. installs `wrk` (the load generator) and, for the Redis rows, `redis-server` when missing
//!    (Debian packages, as CI does for its own);
//! 2. builds `oidc-bench` once (`cargo bench --no-run`, which also builds its binary);
//! 3. runs its criterion benches: ID token validation (1), callback processing (2), session
//!    reads (5);
//!    While they run, it reads how much of the machine other processes used (`/proc/stat`
//!    minus this process tree) into `criterion-noise.json`, for the report;
//! 4. runs `oidc-bench load` (3: bare and protected routes interleaved over `--rounds` rounds,
//!    against a private Redis started here on a free loopback port), `oidc-bench propagation`
//!    (3, logout propagation between two Redis clients), `oidc-bench logins` (4) and
//!    `oidc-bench sizes` (5);
//! 5. writes the report with `oidc-bench report`, prints it, and with `--update-readme` puts
//!    its summary table into the README's Performance section (never from a `--quick` run,
//!    nor from fewer rounds than a published figure needs).
//!
//! Standard library only, like the rest of xtask.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Shared by path with the bench crate, which xtask does not depend on (it would build the
// adapters and criterion for every xtask command).
#[path = "../../benches/src/proc_stat.rs"]
mod proc_stat;
use proc_stat::CpuSnapshot;

const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--rounds N] [--no-redis] [--update-readme]

Runs every benchmark and writes target/bench/report.md (about 10 minutes on 2 cores).

  --quick          shorter runs (criterion 0.5 s + 1 s per bench, 3 load rounds of 1 s per
                   route, 200 propagation trials, N = 1,000 only): a smoke test, not figures to
                   publish; the report says so
  --rounds N       interleaved load rounds per server (default 5, or 3 with --quick); the
                   report judges the load targets on the median over them
  --no-redis       skip the Redis rows of the protected-route load test
  --update-readme  replace the table between the bench markers of README.md with this run's
                   (refused with --quick or fewer than 5 rounds)
";

/// The fewest interleaved load rounds a published (README) figure is judged on (issue 19).
const PUBLISHED_ROUNDS: u32 = 5;

/// The README markers around the generated summary table.
const README_START: &str = "<!-- bench-table:start -->";
const README_END: &str = "<!-- bench-table:end -->";

struct Options {
    quick: bool,
    redis: bool,
    update_readme: bool,
    rounds: Option<u32>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut o = Options {
        quick: false,
        redis: true,
        update_readme: false,
        rounds: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => o.quick = true,
            "--rounds" => {
                let n = it
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or(format!(
                        "--rounds needs a number of rounds (at least 1)\n\n{USAGE}"
                    ))?;
                o.rounds = Some(n);
            }
            "--no-redis" => o.redis = false,
            "--update-readme" => o.update_readme = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    let rounds = o
        .rounds
        .unwrap_or(if o.quick { 3 } else { PUBLISHED_ROUNDS });
    // Checked before anything runs: the README's table is only ever a full run's.
    if o.update_readme && o.quick {
        return Err(
            "--update-readme is refused with --quick: a quick run is a smoke test, and \
                    the README's table must come from a full run (`cargo xtask bench \
                    --update-readme`)"
                .into(),
        );
    }
    if o.update_readme && rounds < PUBLISHED_ROUNDS {
        return Err(format!(
            "--update-readme is refused with --rounds {rounds}: the README's figures are judged \
             on at least {PUBLISHED_ROUNDS} interleaved rounds"
        ));
    }
    let started = Instant::now();
    let root = workspace_root()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let out = target.join("bench");
    // Nothing from an earlier run may end up in this report.
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    step("tools");
    ensure_installed("wrk", "wrk")?;
    let redis_crate = root.join("oidc-redis").join("Cargo.toml").exists();
    let mut redis = None;
    if !redis_crate {
        println!("no oidc-redis crate: the Redis rows are skipped");
    } else if !o.redis {
        println!("--no-redis: the Redis rows are skipped");
    } else {
        match ensure_installed("redis-server", "redis-server").and_then(|()| RedisServer::start()) {
            Ok(server) => redis = Some(server),
            Err(e) => println!("no Redis server ({e}): the Redis rows are skipped"),
        }
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut package = vec!["-p", "oidc-bench"];
    if redis_crate {
        package.extend(["--features", "redis"]);
    }

    step("build (cargo bench -p oidc-bench --no-run)");
    let mut build = Command::new(&cargo);
    build
        .arg("bench")
        .args(&package)
        .arg("--no-run")
        .current_dir(&root);
    status(&mut build)?;

    step("criterion: ID token validation, callback processing, session reads");
    let mut criterion = Command::new(&cargo);
    criterion
        .arg("bench")
        .args(&package)
        .current_dir(&root)
        .env("CRITERION_HOME", out.join("criterion"));
    if o.quick {
        criterion.args(["--", "--warm-up-time", "0.5", "--measurement-time", "1"]);
    }
    let before = CpuSnapshot::take(&[]);
    status(&mut criterion)?;
    if let Some(noise) = noise_json(&before, &CpuSnapshot::take(&[])) {
        std::fs::write(out.join("criterion-noise.json"), noise)
            .map_err(|e| format!("criterion-noise.json: {e}"))?;
    }

    let bin = target.join("release").join("oidc-bench");
    let bin = bin.to_string_lossy().into_owned();
    let path = |name: &str| out.join(name).to_string_lossy().into_owned();

    step("load: the protected route of each adapter under wrk, interleaved rounds");
    let seconds = if o.quick { "1" } else { "2" };
    let rounds = rounds.to_string();
    let mut load = Command::new(&bin);
    load.args(["load", "--seconds", seconds, "--rounds", &rounds])
        .args(["--out", &path("load.json")])
        .current_dir(&root);
    if let Some(r) = &redis {
        load.args(["--redis", &r.url, "--redis-pid", &r.child.id().to_string()]);
    }
    let load_result = status(&mut load);
    let propagation_result = load_result.and_then(|()| {
        step("logout propagation between two Redis clients");
        let mut propagation = Command::new(&bin);
        propagation
            .args([
                "propagation",
                "--trials",
                if o.quick { "200" } else { "1000" },
            ])
            .args(["--out", &path("propagation.json")])
            .current_dir(&root);
        if let Some(r) = &redis {
            propagation.args(["--redis", &r.url]);
        }
        status(&mut propagation)
    });
    drop(redis);
    propagation_result?;

    step("logins at scale");
    let ns = if o.quick { "1000" } else { "1000,10000" };
    status(
        Command::new(&bin)
            .args(["logins", "--n", ns, "--out", &path("logins.json")])
            .current_dir(&root),
    )?;

    step("session sizes");
    status(
        Command::new(&bin)
            .args(["sizes", "--out", &path("sizes.json")])
            .current_dir(&root),
    )?;

    step("report");
    let elapsed = started.elapsed().as_secs_f64();
    let mut shown = String::from("cargo xtask bench");
    for arg in args {
        shown.push(' ');
        shown.push_str(arg);
    }
    status(
        Command::new(&bin)
            .args(["report", "--dir", &path(""), "--elapsed"])
            .arg(format!("{elapsed:.0}"))
            .args(["--command", &shown])
            .args(if o.quick { &["--quick"][..] } else { &[] })
            .current_dir(&root),
    )?;
    if o.update_readme {
        update_readme(&root, &out.join("summary.md"))?;
    }
    println!(
        "\nreport: {} ({:.1} min)",
        out.join("report.md").display(),
        elapsed / 60.0
    );
    Ok(())
}

fn step(name: &str) {
    println!("\n==> bench: {name}");
    let _ = std::io::stdout().flush();
}

fn status(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// The workspace root: the parent of this crate's directory, or the nearest ancestor of the
/// current directory whose `Cargo.toml` declares the workspace with `benches` in it.
fn workspace_root() -> Result<PathBuf, String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let candidates = here
        .parent()
        .map(Path::to_path_buf)
        .into_iter()
        .chain(cwd.ancestors().map(Path::to_path_buf));
    for dir in candidates {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if manifest.contains("[workspace]") && dir.join("benches").join("Cargo.toml").exists() {
            return Ok(dir);
        }
    }
    Err("cannot find the workspace root (with benches/)".into())
}

fn on_path(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs Debian's `package` when `command` is missing (as root, or through sudo).
fn ensure_installed(command: &str, package: &str) -> Result<(), String> {
    if on_path(command) {
        return Ok(());
    }
    println!("installing {package} (for {command})");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !apt(&["install", "-y", package]) {
        // A fresh machine may have no package lists yet.
        apt(&["update"]);
        apt(&["install", "-y", package]);
    }
    if on_path(command) {
        Ok(())
    } else {
        Err(format!(
            "{command} is missing and `apt-get install {package}` failed"
        ))
    }
}

/// A private Redis on a free loopback port, without persistence; stopped when dropped.
struct RedisServer {
    child: Child,
    url: String,
}

impl RedisServer {
    fn start() -> Result<RedisServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        let server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("redis-server did not start".into())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `{"other": .., "steal": ..}`: the shares of the machine that other processes used and the
/// hypervisor stole between `before` and `later` (the step's processes, cargo and the bench
/// binaries, were waited for and so count as this process tree's). `None` if no tick passed.
fn noise_json(before: &CpuSnapshot, later: &CpuSnapshot) -> Option<String> {
    let (other, steal) = before.shares_until(later)?;
    Some(format!("{{\"other\": {other:.4}, \"steal\": {steal:.4}}}"))
}

/// Puts this run's summary table between the README's bench markers.
fn update_readme(root: &Path, summary: &Path) -> Result<(), String> {
    let readme_path = root.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).map_err(|e| format!("README.md: {e}"))?;
    let table =
        std::fs::read_to_string(summary).map_err(|e| format!("{}: {e}", summary.display()))?;
    let (Some(start), Some(end)) = (readme.find(README_START), readme.find(README_END)) else {
        return Err(format!(
            "README.md has no `{README_START}` ... `{README_END}` markers"
        ));
    };
    if end < start {
        return Err("README.md: the bench markers are out of order".into());
    }
    let updated = format!(
        "{}{README_START}\n{table}{}",
        &readme[..start],
        &readme[end..]
    );
    std::fs::write(&readme_path, updated).map_err(|e| format!("README.md: {e}"))?;
    println!("README.md: Performance table updated");
    Ok(())
}
