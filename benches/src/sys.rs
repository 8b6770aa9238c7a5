//! What the machine and this process say about themselves (Linux `/proc`).

/// CPU time of every thread of process `pid` (`self` for this one) in nanoseconds, from the
/// scheduler's own accounting (`/proc/<pid>/task/*/schedstat`), so finer than clock ticks.
/// Threads that already exited are not counted: read it around a window where threads persist.
pub(crate) fn cpu_ns(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`), in bytes.
pub(crate) fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The machine: `(cores, CPU model, memory bytes, kernel)`.
pub(crate) fn machine() -> (usize, String, u64, String) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    (cores, model, memory, kernel)
}

pub(crate) use crate::proc_stat::CpuSnapshot;

impl CpuSnapshot {
    /// [`CpuSnapshot::shares_until`] as the report's [`Noise`].
    pub(crate) fn noise_until(&self, later: &CpuSnapshot) -> Option<Noise> {
        let (other, steal) = self.shares_until(later)?;
        Some(Noise { other, steal })
    }
}

/// The machine's other work during a measurement, as shares (0 to 1) of its capacity.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Noise {
    /// CPU other processes used (busy time minus this process, the `wrk` runs it waited for,
    /// and the helper processes it was told about; kernel work not charged to any process,
    /// such as some network interrupts, counts here too).
    pub(crate) other: f64,
    /// Time stolen by the hypervisor.
    pub(crate) steal: f64,
}
