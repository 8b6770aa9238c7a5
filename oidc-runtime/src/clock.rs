//! The current time, which every flow starts with ([`oidc_core::Context`]).

/// The current time.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system clock reads the Unix time: after 2020-01-01 and moving forward.
    #[test]
    fn system_clock_reads_unix_seconds() {
        let now = SystemClock.now();
        assert!(now > 1_577_836_800, "{now}");
        assert!(SystemClock.now() >= now);
    }
}
