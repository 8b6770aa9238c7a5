//! A real `redis-server` for tests: started on a free loopback port, restartable with its
//! data, killed (and its data directory removed) on drop. For testing an app's sessions in
//! Redis as this workspace's own Redis tests do.
//!
//! Without `redis-server` on the machine, [`RedisServer::start`] returns `None` (and prints
//! `SKIPPED`) outside CI, and panics under CI (`CI` set): a CI that meant to run the Redis
//! tests must not pass by skipping them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `redis://127.0.0.1:<port>/`.
    pub url: String,
    /// The arguments it was started with, to restart it the same way.
    args: Vec<String>,
    /// Its working directory (AOF, files a test puts there), removed on drop.
    dir: PathBuf,
}

/// Whether `redis-server` can run here: `false`, with a message, outside CI when it is not
/// installed; a panic under CI.
pub fn redis_installed() -> bool {
    match Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: redis-server is not installed ({e}); CI installs it");
            false
        }
        Err(e) => panic!("redis-server is required in CI: {e}"),
    }
}

/// A port free on 127.0.0.1 when asked (another process may take it before it is used).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether the Redis `child` on `port` answers `PING` within 10 s (not if it exited first).
fn answers_ping(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        let pong = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "PING"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
            .unwrap_or(false);
        if pong {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl RedisServer {
    /// A Redis that keeps nothing on disk.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// A Redis that writes every command to its AOF, so that its data survives a
    /// [`restart`](Self::restart).
    pub fn start_persistent() -> Option<RedisServer> {
        Self::start_with(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
    }

    /// A Redis with these arguments besides its port, bind address and directory. On a port
    /// that another process took between the probe and the start (tests run in parallel), it
    /// tries another; `None` when `redis-server` is not installed (outside CI).
    ///
    /// # Panics
    /// When it does not start five times in a row.
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        if !redis_installed() {
            return None;
        }
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir()
                .join(format!("oidc-testkit-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a data directory");
            let mut args: Vec<String> = vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.display().to_string(),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            if let Some(child) = Self::try_spawn(&args, port) {
                return Some(RedisServer {
                    child,
                    port,
                    url: format!("redis://127.0.0.1:{port}/"),
                    args,
                    dir,
                });
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("redis-server did not start");
    }

    /// Starts `redis-server` and waits until it answers `PING` (not merely accepts: a
    /// restarted one loads its AOF first); `None` if it exits or does not answer.
    fn try_spawn(args: &[String], port: u16) -> Option<Child> {
        let mut child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        if answers_ping(port, &mut child) {
            Some(child)
        } else {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }

    /// Kills Redis (no clean shutdown: clients' connections just break).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills Redis and starts it again on the same port with the same data directory.
    ///
    /// # Panics
    /// When it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Self::try_spawn(&self.args, self.port).expect("redis-server restarts");
    }

    /// A command through `redis-cli` (raw output), as another client of the same Redis.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--raw"])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
