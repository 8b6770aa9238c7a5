//! The two-instance group of `cargo xtask interop` (issue 17 item 7): for one adapter, two
//! instances of its demo, A on the adapter's port and B on its peer port, share one
//! `redis-server` of their own and one session secret, with the provider's back-channel
//! logout client for A's port (`demo-client-backchannel-<port>` in `provider.mjs`, whose
//! `backchannel_logout_uri` is A's `/backchannel_logout`). One run of
//! `drive.mjs --scenario two-instances` does every selected check in Chromium and prints a
//! verdict per check:
//!
//! - `shared-session`: a login on A is served by B;
//! - `backchannel-logout`: a sign-out at the provider, which the app hears of only through
//!   the logout token, ends the session on both (and the provider's log must show the token
//!   delivered);
//! - `redis-restart`: Redis restarts between two requests (here, on the driver's request:
//!   the `restart-requested` / `restarted` files of `--restart-dir`), and the first request
//!   each instance gets afterwards is served.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::{
    show, start_instance, Adapter, Options, Paths, Scenario, Tally, DRIVE, DRIVE_LIMIT, ISSUER,
    TAIL,
};
use crate::process::{self, Guard};

/// The driver's name for the check a two-instance scenario runs: the value of `--checks`
/// in its arguments (each such scenario names one).
fn check_of(scenario: &Scenario) -> &'static str {
    scenario
        .drive
        .windows(2)
        .find(|w| w[0] == "--checks")
        .map_or(scenario.name, |w| w[1])
}
/// How long `redis-server` may take to accept connections, and to let go of its port.
const REDIS_START: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// Whether `redis-server` can be run.
pub(super) fn redis_server_present() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A `redis-server` on a loopback port, keeping its data in a directory of its own so that a
/// restart on the same port finds it again, as a production Redis with persistence would.
struct Redis {
    guard: Guard,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
}

impl Redis {
    fn start(dir: PathBuf, log: PathBuf) -> Result<Redis, String> {
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // A port nobody listens on now; the listener goes before Redis binds it.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free loopback port for redis-server: {e}"))?;
        let guard = Self::spawn(port, &dir, &log)?;
        Ok(Redis {
            guard,
            port,
            dir,
            log,
        })
    }

    fn spawn(port: u16, dir: &Path, log: &Path) -> Result<Guard, String> {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            // A save point makes Redis write its snapshot when it gets SIGTERM (how `Guard`
            // stops it), and load it at the next start: the restart keeps the sessions.
            .args(["--save", "3600 1", "--appendonly", "no"])
            .args(["--dbfilename", "dump.rdb", "--logfile", ""]);
        let mut guard =
            Guard::spawn_logged("redis-server", &mut cmd, log).map_err(|e| e.to_string())?;
        let addr = Self::addr(port);
        let deadline = Instant::now() + REDIS_START;
        while !process::listening(addr) {
            if let Some(status) = guard.exited() {
                return Err(format!(
                    "redis-server exited ({status}) before listening on {addr}"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server did not listen on {addr} within {}s",
                    REDIS_START.as_secs()
                ));
            }
            sleep(POLL);
        }
        Ok(guard)
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops Redis (SIGTERM: it saves its data first) and starts it again on the same port
    /// with the same data. Says how many keys it had and has; fewer after is an error, since
    /// the check is about the app reconnecting, not about lost data.
    fn restart(&mut self) -> Result<String, String> {
        let before = self.dbsize()?;
        self.guard.stop();
        let addr = Self::addr(self.port);
        let deadline = Instant::now() + REDIS_START;
        while process::listening(addr) {
            if Instant::now() > deadline {
                return Err(format!(
                    "{addr} still accepts connections after redis-server stopped"
                ));
            }
            sleep(POLL);
        }
        self.guard = Self::spawn(self.port, &self.dir, &self.log)?;
        let after = self.dbsize()?;
        if after < before {
            return Err(format!(
                "redis-server came back with {after} keys, it had {before}: its data was not kept"
            ));
        }
        Ok(format!(
            "redis-server on port {} stopped and started again, {after} keys kept",
            self.port
        ))
    }

    /// `DBSIZE`, in the protocol's own terms (RESP), so that no client is needed.
    fn dbsize(&self) -> Result<u64, String> {
        let failed = |e: std::io::Error| format!("DBSIZE at redis-server: {e}");
        let mut stream = TcpStream::connect_timeout(&Self::addr(self.port), Duration::from_secs(2))
            .map_err(failed)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(failed)?;
        stream
            .write_all(b"*1\r\n$6\r\nDBSIZE\r\n")
            .map_err(failed)?;
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n") && reply.len() < 64 {
            match stream.read(&mut byte).map_err(failed)? {
                0 => break,
                _ => reply.push(byte[0]),
            }
        }
        let reply = String::from_utf8_lossy(&reply);
        reply
            .strip_prefix(':')
            .and_then(|n| n.trim_end().parse().ok())
            .ok_or_else(|| format!("DBSIZE at redis-server answered {:?}", reply.trim_end()))
    }
}

/// A session secret for the two instances of one group: random, so that no secret lives in
/// the source, and the same for both, as sharing sessions requires.
fn session_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a session secret: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `provider.mjs`'s static client whose `backchannel_logout_uri` is the `/backchannel_logout`
/// of the instance on `port`.
fn backchannel_client(port: u16) -> String {
    format!("demo-client-backchannel-{port}")
}

/// The line `provider.mjs` logs once a logout token to `client` was answered 200.
fn delivered_line(client: &str) -> String {
    format!("event backchannel.success (client {client})")
}

/// One instance of the demo and its log.
struct Instance {
    name: &'static str,
    guard: Guard,
    log: PathBuf,
    from: u64,
}

/// Runs the selected two-instance `scenarios` for `adapter`: one Redis, instances A and B,
/// one driver run. Each scenario is one line of the tally; when the group cannot start, each
/// fails with the reason.
pub(super) fn run_group(
    paths: &Paths,
    opts: &Options,
    adapter: &Adapter,
    bin: &Path,
    scenarios: &[&Scenario],
    tally: &mut Tally,
) {
    let checks: Vec<(&str, String)> = scenarios
        .iter()
        .map(|s| (check_of(s), format!("{}/{}", adapter.name, s.name)))
        .collect();
    let fail_all = |tally: &mut Tally, why: &str| {
        for (_, label) in &checks {
            tally.fail(label, why);
        }
    };
    let stem = format!("{}-two-instances", adapter.name);
    let redis_log = paths.out.join(format!("redis-{}.log", adapter.name));
    let mut redis = match Redis::start(
        paths.out.join(format!("redis-{}", adapter.name)),
        redis_log.clone(),
    ) {
        Ok(r) => r,
        Err(e) => {
            fail_all(tally, &format!("Redis did not start: {e}"));
            show(
                &format!("{}:", paths.show(&redis_log)),
                &process::tail(&redis_log, 0, TAIL),
            );
            return;
        }
    };
    println!(
        "==> redis-server for the {} instances at {} (pid {})",
        adapter.name,
        redis.url(),
        redis.guard.pid()
    );
    let secret = match session_secret() {
        Ok(s) => s,
        Err(e) => {
            fail_all(tally, &e);
            return;
        }
    };
    let client = backchannel_client(adapter.port);
    let env: Vec<(&'static str, String)> = vec![
        ("OIDC_CLIENT_ID", client.clone()),
        ("REDIS_URL", redis.url()),
        ("SESSION_SECRET", secret),
    ];
    let mut instances = Vec::new();
    for (name, port) in [("A", adapter.port), ("B", adapter.peer_port)] {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = paths
            .out
            .join(format!("demo-{stem}-{}.log", name.to_lowercase()));
        let from = process::file_len(&log);
        let config = format!("two-instances, instance {name}");
        match start_instance(bin, adapter.name, addr, &config, &env, &log) {
            Ok(guard) => instances.push(Instance {
                name,
                guard,
                log,
                from,
            }),
            Err(e) => {
                fail_all(tally, &format!("instance {name} did not start: {e}"));
                show(
                    &format!("{}:", paths.show(&log)),
                    &process::tail(&log, from, TAIL),
                );
                return;
            }
        }
    }

    let provider_log = paths.out.join("provider.log");
    let provider_from = process::file_len(&provider_log);
    let restart_dir = paths.out.join(format!("restart-{}", adapter.name));
    let _ = fs::remove_dir_all(&restart_dir);
    let artifacts = paths.out.join("artifacts").join(&stem);
    let out = paths.out.join(format!("drive-{stem}.out"));
    let err = paths.out.join(format!("drive-{stem}.log"));
    let names: Vec<&str> = checks.iter().map(|(check, _)| *check).collect();
    let mut cmd = Command::new("node");
    cmd.arg(DRIVE)
        .args(["--scenario", "two-instances", "--issuer", ISSUER])
        .arg("--app")
        .arg(format!("http://127.0.0.1:{}", adapter.port))
        .arg("--second-app")
        .arg(format!("http://127.0.0.1:{}", adapter.peer_port))
        .args(["--checks", &names.join(",")])
        .arg("--restart-dir")
        .arg(&restart_dir)
        .arg("--artifacts")
        .arg(&artifacts)
        .current_dir(&paths.interop);
    if opts.verbose {
        cmd.arg("--verbose");
    }
    let ran = drive_with_restarts(&mut cmd, &out, &err, &restart_dir, &mut redis);
    let said = fs::read_to_string(&out).unwrap_or_default();

    for (check, label) in &checks {
        let verdict = match &ran {
            Err(e) => Err(e.clone()),
            Ok(status) => check_verdict(check, &said, *status, &err),
        }
        .and_then(|()| match *check {
            "backchannel-logout" => delivered(&provider_log, provider_from, &client),
            _ => Ok(()),
        });
        match verdict {
            Ok(()) => tally.pass(label),
            Err(reason) => {
                let mut reason = reason;
                for instance in &mut instances {
                    if let Some(status) = instance.guard.exited() {
                        reason.push_str(&format!(
                            " (and instance {} exited: {status})",
                            instance.name
                        ));
                    }
                }
                tally.fail(label, &reason);
                for instance in &instances {
                    show(
                        &format!(
                            "{} (instance {}):",
                            paths.show(&instance.log),
                            instance.name
                        ),
                        &process::tail(&instance.log, instance.from, TAIL),
                    );
                }
                if *check == "backchannel-logout" {
                    let lines: Vec<String> =
                        process::tail(&provider_log, provider_from, usize::MAX)
                            .into_iter()
                            .filter(|l| l.contains("backchannel") || l.contains("/session/end"))
                            .collect();
                    show(
                        &format!("{} (sign-out and back channel):", paths.show(&provider_log)),
                        &lines,
                    );
                }
                if *check == "redis-restart" {
                    show(
                        &format!("{}:", paths.show(&redis.log)),
                        &process::tail(&redis.log, 0, TAIL),
                    );
                }
                println!("    driver log: {}", paths.show(&err));
                if artifacts.is_dir() {
                    println!("    screenshot, page, trace: {}", paths.show(&artifacts));
                }
            }
        }
    }
    // The instances stop here (their guards drop), before Redis does.
    drop(instances);
}

/// Runs the driver for at most [`DRIVE_LIMIT`], restarting `redis` once when it asks (it
/// writes `restart-requested` in `restart_dir`, then waits for `restarted`, which says `ok`
/// or `error: ...`). `Ok(None)`: it had to be stopped.
fn drive_with_restarts(
    cmd: &mut Command,
    out: &Path,
    err: &Path,
    restart_dir: &Path,
    redis: &mut Redis,
) -> Result<Option<ExitStatus>, String> {
    let mut driver = Guard::spawn_split(DRIVE, cmd, out, err).map_err(|e| e.to_string())?;
    let requested = restart_dir.join("restart-requested");
    let done = restart_dir.join("restarted");
    let deadline = Instant::now() + DRIVE_LIMIT;
    let mut restarted = false;
    loop {
        if let Some(status) = driver.exited() {
            return Ok(Some(status));
        }
        if !restarted && requested.is_file() {
            restarted = true;
            let said = match redis.restart() {
                Ok(how) => {
                    println!("==> {how}");
                    format!("ok: {how}")
                }
                Err(e) => format!("error: {e}"),
            };
            // Written aside and renamed, so that the driver never reads half of it.
            let part = restart_dir.join("restarted.part");
            fs::write(&part, said)
                .and_then(|()| fs::rename(&part, &done))
                .map_err(|e| format!("cannot answer the driver in {}: {e}", done.display()))?;
        }
        if Instant::now() > deadline {
            driver.stop();
            return Ok(None);
        }
        sleep(POLL);
    }
}

/// The driver's verdict on `check`: its `PASS <check>` or `FAIL <check>: <reason>` line.
fn check_verdict(
    check: &str,
    said: &str,
    status: Option<ExitStatus>,
    err: &Path,
) -> Result<(), String> {
    let Some(status) = status else {
        return Err(format!(
            "{DRIVE} did not finish within {}s",
            DRIVE_LIMIT.as_secs()
        ));
    };
    let fail_prefix = format!("FAIL {check}: ");
    for line in said.lines() {
        if line.trim_end() == format!("PASS {check}") {
            return Ok(());
        }
        if let Some(reason) = line.strip_prefix(&fail_prefix) {
            return Err(reason.to_owned());
        }
    }
    let last = said
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let stderr = process::tail(err, 0, 3).join(" / ");
    Err(format!(
        "{DRIVE} gave no verdict on this check ({status}; last line {last:?}; stderr: {stderr})"
    ))
}

/// That `provider.mjs`'s log shows, since `from`, a logout token delivered to `client`: the
/// sessions ended through the back channel, not some other way.
fn delivered(provider_log: &Path, from: u64, client: &str) -> Result<(), String> {
    let lines = process::tail(provider_log, from, usize::MAX);
    let line = delivered_line(client);
    if lines.iter().any(|l| l.contains(&line)) {
        return Ok(());
    }
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("backchannel.error"))
        .collect();
    Err(match errors.last() {
        Some(e) => format!(
            "the sessions ended, but the provider's back-channel logout failed: {}",
            e.trim()
        ),
        None => format!(
            "the sessions ended, but the provider's log never shows `{line}`: no logout token \
             was delivered"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_checks_verdict() {
        let said = "PASS shared-session\nFAIL backchannel-logout: still 200\nFAIL two-instances: 1 of 2 checks failed\n";
        let ok = Some(ExitStatus::default());
        let err = Path::new("/nonexistent");
        assert!(check_verdict("shared-session", said, ok, err).is_ok());
        assert_eq!(
            check_verdict("backchannel-logout", said, ok, err),
            Err("still 200".to_owned())
        );
        let missing = check_verdict("redis-restart", said, ok, err).unwrap_err();
        assert!(missing.contains("no verdict"), "{missing}");
        assert!(check_verdict("shared-session", said, None, err).is_err());
    }

    #[test]
    fn the_group_is_every_two_instance_scenario() {
        let names: Vec<_> = super::super::SCENARIOS
            .iter()
            .filter(|s| s.app.name == super::super::TWO_INSTANCES.name)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            names,
            [
                "two-instances-shared-session",
                "two-instances-backchannel-logout",
                "two-instances-redis-restart"
            ]
        );
        for s in super::super::SCENARIOS
            .iter()
            .filter(|s| s.app.name == super::super::TWO_INSTANCES.name)
        {
            assert_eq!(
                Some(check_of(s)),
                s.name.strip_prefix("two-instances-"),
                "{} runs the check it is named after",
                s.name
            );
        }
        assert!(
            super::super::app_ports()
                .split(',')
                .any(|p| p == super::super::ADAPTERS[0].peer_port.to_string()),
            "the provider registers the peer instances' ports"
        );
    }
}
