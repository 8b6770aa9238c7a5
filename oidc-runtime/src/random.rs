//! Fresh randomness, 32 bytes of which every flow starts with ([`oidc_core::Context`]): the
//! core expands them into `state`, `nonce`, PKCE verifiers and session ids.

use rand::RngCore;

/// A source of unpredictable bytes.
pub trait Random: Send + Sync + 'static {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG (through `rand`'s thread-local generator, seeded from it).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rng().fill_bytes(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two draws differ (a source that repeated itself would repeat `state` and session ids).
    #[test]
    fn os_random_does_not_repeat() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        OsRandom.fill(&mut a);
        OsRandom.fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}
