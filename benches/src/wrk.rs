//! Drives `wrk` (the load generator) against one URL and reads its summary.

use std::path::Path;
use std::process::Command;

/// What one `wrk` run measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct WrkRun {
    /// Completed requests.
    pub(crate) requests: u64,
    /// Duration of the run, seconds.
    pub(crate) seconds: f64,
    /// Requests per second.
    pub(crate) rps: f64,
    /// Median latency, microseconds.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub(crate) p99_us: f64,
    /// Socket errors and non-2xx/3xx answers.
    pub(crate) errors: u64,
}

/// The Lua script that makes `wrk` print an exact, machine-readable summary.
const SCRIPT: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("oidc-bench %d %d %.1f %.1f %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#;

/// Runs `wrk` for `seconds` with `connections` connections on one thread, sending `cookie`.
pub(crate) fn run(
    wrk: &str,
    script_dir: &Path,
    url: &str,
    cookie: &str,
    connections: u32,
    seconds: u32,
) -> Result<WrkRun, String> {
    let script = script_dir.join("wrk-summary.lua");
    if !script.exists() {
        std::fs::create_dir_all(script_dir).map_err(|e| e.to_string())?;
        std::fs::write(&script, SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    }
    let output = Command::new(wrk)
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg("-s")
        .arg(&script)
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run {wrk}: {e} (install wrk)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("oidc-bench "))
        .ok_or_else(|| format!("no summary in wrk's output: {stdout}"))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|x| {
            x.parse::<f64>()
                .map_err(|e| format!("wrk summary `{line}`: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let [requests, duration_us, p50, p99, errors] = f[..] else {
        return Err(format!("wrk summary `{line}`"));
    };
    let seconds = duration_us / 1e6;
    Ok(WrkRun {
        requests: requests as u64,
        seconds,
        rps: if seconds > 0.0 {
            requests / seconds
        } else {
            0.0
        },
        p50_us: p50,
        p99_us: p99,
        errors: errors as u64,
    })
}
