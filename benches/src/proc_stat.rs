//! The machine's CPU accounting from `/proc/stat` and `/proc/<pid>/stat`, with no dependency,
//! so that the two places that judge how busy the machine was, this crate's load rounds and
//! `cargo xtask bench`'s criterion step (which includes this file by path), read it one way.

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

    /// What the machine did between `self` (earlier) and `later`: the shares (0 to 1) of its
    /// capacity (all cores) that other work used and that the hypervisor stole, in that order.
    /// `None` when `/proc/stat` could not be read or no tick passed.
    pub(crate) fn shares_until(&self, later: &CpuSnapshot) -> Option<(f64, f64)> {
        let total = later.total.checked_sub(self.total).filter(|t| *t > 0)? as f64;
        let busy = later.busy.saturating_sub(self.busy);
        let ours =
            later.ours.saturating_sub(self.ours) + later.helpers.saturating_sub(self.helpers);
        Some((
            busy.saturating_sub(ours) as f64 / total,
            later.steal.saturating_sub(self.steal) as f64 / total,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_fractions_of_the_machine() {
        let before = CpuSnapshot::take(&[]);
        assert_eq!(before.shares_until(&before), None, "no tick passed");
        let mut later = before;
        later.total += 100;
        later.busy += 30;
        later.steal += 5;
        later.ours += 10;
        let (other, steal) = before.shares_until(&later).unwrap();
        assert!((other - 0.20).abs() < 1e-9, "{other}");
        assert!((steal - 0.05).abs() < 1e-9, "{steal}");
    }
}
