//! Child processes that are always stopped (by their PID) and waits that are always bounded.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a process gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

/// A child process that is stopped when the guard goes away: on success, on error and on
/// panic alike. Stopping is SIGTERM to its PID, then SIGKILL after a grace period.
pub(crate) struct Guard {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
}

impl Guard {
    /// Spawns `cmd` with stdout and stderr appended to `log` (one file, interleaved).
    pub(crate) fn spawn_logged(name: &str, cmd: &mut Command, log: &Path) -> io::Result<Guard> {
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        Self::spawn(name, cmd.stdout(out).stderr(err))
    }

    /// Spawns `cmd` with stdout to `out` and stderr to `err` (files, truncated).
    pub(crate) fn spawn_split(
        name: &str,
        cmd: &mut Command,
        out: &Path,
        err: &Path,
    ) -> io::Result<Guard> {
        Self::spawn(
            name,
            cmd.stdout(File::create(out)?).stderr(File::create(err)?),
        )
    }

    /// Spawns `cmd` with the output inherited (shown as it comes).
    pub(crate) fn spawn_inherited(name: &str, cmd: &mut Command) -> io::Result<Guard> {
        Self::spawn(name, cmd)
    }

    fn spawn(name: &str, cmd: &mut Command) -> io::Result<Guard> {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {name}: {e}")))?;
        Ok(Guard {
            name: name.to_owned(),
            child,
            status: None,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has ended.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits at most `limit` for the process to end on its own; stops it if it does not.
    /// `None` means it had to be stopped.
    pub(crate) fn wait_bounded(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            sleep(POLL);
        }
        self.stop();
        None
    }

    /// SIGTERM to the PID, then SIGKILL if it has not ended within the grace period. The
    /// child is not reaped before it has ended, so its PID cannot have been reused.
    pub(crate) fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let pid = self.child.id().to_string();
        // std has no way to send SIGTERM; the shell's `kill` builtin does, by PID.
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$1\" 2>/dev/null", "sh", &pid])
            .stdin(Stdio::null())
            .status();
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            sleep(POLL);
        }
        eprintln!(
            "warning: {} (pid {pid}) ignored SIGTERM for {}s; killing it",
            self.name,
            GRACE.as_secs()
        );
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cmd` to completion with stdout and stderr going to files, for at most `limit`.
pub(crate) fn run_bounded(
    name: &str,
    cmd: &mut Command,
    out: &Path,
    err: &Path,
    limit: Duration,
) -> io::Result<ExitStatus> {
    let mut guard = Guard::spawn_split(name, cmd, out, err)?;
    guard.wait_bounded(limit).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{name} did not finish within {}s", limit.as_secs()),
        )
    })
}

/// Runs `cmd` with inherited output for at most `limit`; an error unless it succeeds.
pub(crate) fn run_visible(name: &str, cmd: &mut Command, limit: Duration) -> Result<(), String> {
    let mut guard = Guard::spawn(name, cmd).map_err(|e| e.to_string())?;
    match guard.wait_bounded(limit) {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{name} failed ({s})")),
        None => Err(format!("{name} did not finish within {}s", limit.as_secs())),
    }
}

/// Whether something accepts TCP connections at `addr`.
pub(crate) fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// The status code of `GET path` at `addr`, or an error. Bounded by short timeouts.
pub(crate) fn http_get_status(addr: SocketAddr, path: &str) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.set_write_timeout(Some(Duration::from_secs(3)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&head[..len]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {line:?}")))
}

/// The size of a file (0 if it does not exist): where a later [`tail`] can start from.
pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The last `lines` lines of `path`, reading from byte `from` on.
pub(crate) fn tail(path: &Path, from: u64, lines: usize) -> Vec<String> {
    let mut text = Vec::new();
    if let Ok(mut f) = File::open(path) {
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.read_to_end(&mut text);
        }
    }
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// How long installing a cargo subcommand may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Installs `krate` (`cargo install --locked`) unless `cargo <subcommand> --version` already
/// works: the tasks install the tools they drive, so a fresh machine needs nothing by hand.
pub(crate) fn ensure_cargo_tool(
    cargo: &str,
    root: &Path,
    subcommand: &str,
    krate: &str,
) -> Result<(), String> {
    let present = Command::new(cargo)
        .args([subcommand, "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("==> {krate} is missing: cargo install {krate} --locked");
    run_visible(
        &format!("cargo install {krate}"),
        Command::new(cargo)
            .args(["install", krate, "--locked"])
            .current_dir(root),
        INSTALL_LIMIT,
    )
}
