//! Randomness from the caller: a flow is given 32 bytes of entropy when it starts
//! ([`Context`](crate::Context)) and expands them with a CSPRNG (ChaCha12, `rand`'s `StdRng`)
//! into every `state`, `nonce`, PKCE verifier and session id it needs. The core never draws
//! randomness of its own, so a test that fixes the entropy fixes every value.

use base64::Engine;
use rand::{RngCore, SeedableRng};

/// A flow's generator, seeded from the entropy it was started with.
///
/// The generator is made at the first draw, on the heap: most flows (a protected route's
/// session lookup) draw nothing, and a `StdRng` is about 300 bytes of state that would be
/// seeded for nothing and moved with the flow through every future that carries it.
pub(crate) struct Rng {
    seed: [u8; 32],
    generator: Option<Box<rand::rngs::StdRng>>,
}

impl Rng {
    pub(crate) fn new(entropy: [u8; 32]) -> Self {
        Rng {
            seed: entropy,
            generator: None,
        }
    }

    /// The generator, seeded from the entropy on first use: the same draws as if it had been
    /// seeded at once.
    fn generator(&mut self) -> &mut rand::rngs::StdRng {
        let seed = self.seed;
        self.generator
            .get_or_insert_with(|| Box::new(rand::rngs::StdRng::from_seed(seed)))
    }

    /// `n` random bytes, base64url-encoded.
    pub(crate) fn token(&mut self, n: usize) -> String {
        let mut buf = vec![0u8; n];
        self.generator().fill_bytes(&mut buf);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }

    /// 32 fresh bytes, to seed a generator of its own (an authentication request's).
    pub(crate) fn entropy(&mut self) -> [u8; 32] {
        let mut buf = [0u8; 32];
        self.generator().fill_bytes(&mut buf);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// The same entropy gives the same values; different entropy, different values.
    #[test]
    fn tokens_follow_the_entropy() {
        let a = Rng::new([1; 32]).token(32);
        assert_eq!(a, Rng::new([1; 32]).token(32));
        assert_ne!(a, Rng::new([2; 32]).token(32));
        assert_eq!(a.len(), 43);
        let mut r = Rng::new([1; 32]);
        assert_ne!(r.token(32), r.token(32), "each draw is new");
    }
}
