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

/// The machine's CPU accounting at one instant, in clock ticks (`/proc/stat`'s first line):
/// what every process on every core used, against which the work of this process tree is
/// subtracted to see what other work used.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuSnapshot {
    /// Every tick of every core (busy, idle and stolen).
    total: u64,
    /// Ticks not idle and not waiting for I/O.
    busy: u64,
    /// Ticks the hypervisor gave to other guests while this one wanted to run.
    steal: u64,
    /// This process and the children it waited for (`wrk` runs), user and system.
    ours: u64,
    /// The other processes whose work counts as ours (the Redis server of the Redis rows).
    helpers: u64,
}

/// Ticks of `/proc/<pid>/stat` (`self` for this process): user and system, plus those of the
/// children it waited for when `children` is set. The command name, in parentheses, may hold
/// spaces: fields are counted after its closing parenthesis.
fn process_ticks(pid: &str, children: bool) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0;
    };
    // After the name: state (field 3), ..., utime (14), stime (15), cutime (16), cstime (17).
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let own: u64 = fields.iter().take(2).sum();
    if children {
        own + fields.iter().skip(2).sum::<u64>()
    } else {
        own
    }
}

impl CpuSnapshot {
    /// Now, counting the processes `helpers` (pids) as this run's own work.
    pub(crate) fn take(helpers: &[String]) -> CpuSnapshot {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let f: Vec<u64> = stat
            .lines()
            .next()
            .filter(|l| l.starts_with("cpu "))
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .take(8)
                    .map(|x| x.parse().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        let field = |i: usize| f.get(i).copied().unwrap_or(0);
        let total: u64 = f.iter().sum();
        CpuSnapshot {
            total,
            busy: total.saturating_sub(field(3) + field(4) + field(7)),
            steal: field(7),
            ours: process_ticks("self", true),
            helpers: helpers.iter().map(|pid| process_ticks(pid, false)).sum(),
        }
    }

    /// What the machine did between `self` (earlier) and `later`: the shares of its capacity
    /// (all cores) that other work used and that the hypervisor stole. `None` when `/proc/stat`
    /// could not be read or no tick passed.
    pub(crate) fn noise_until(&self, later: &CpuSnapshot) -> Option<Noise> {
        let total = later.total.checked_sub(self.total).filter(|t| *t > 0)? as f64;
        let busy = later.busy.saturating_sub(self.busy);
        let ours =
            later.ours.saturating_sub(self.ours) + later.helpers.saturating_sub(self.helpers);
        Some(Noise {
            other: busy.saturating_sub(ours) as f64 / total,
            steal: later.steal.saturating_sub(self.steal) as f64 / total,
        })
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
