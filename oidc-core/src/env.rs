//! What the core needs from its surroundings, as small traits: the time, randomness, and an
//! HTTP transport. The core itself has no clock, RNG or socket; tests inject fakes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use bytes::Bytes;
use rand::{RngCore, SeedableRng};

use crate::error::TransportError;

/// A boxed, sendable future (what trait objects here return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

/// A source of unpredictable bytes (for `state`, `nonce`, PKCE verifiers and session ids).
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

/// A deterministic generator for tests: the same seed gives the same values.
#[derive(Debug)]
pub struct SeededRandom(Mutex<rand::rngs::StdRng>);

impl SeededRandom {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRandom(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fill_bytes(buf);
    }
}

/// `n` random bytes, base64url-encoded.
pub(crate) fn random_token(random: &dyn Random, n: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; n];
    random.fill(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Sends the HTTP requests the core asks for. Adapters implement it (with reqwest, say); it must
/// apply a timeout and a cap on the response body size, and report both as [`TransportError`].
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and returns the whole response.
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>>;

    /// Runs `task` to completion in the background, whatever happens to the request that
    /// started it, and returns `true`; or returns `false` (dropping `task`) when this transport
    /// has no runtime to run it on, which is the default.
    ///
    /// The core has no runtime of its own. It uses this for work that must not be abandoned
    /// half-way when the client goes away: a token refresh that was sent must be saved, or the
    /// rotated refresh token is lost and the session with it. Without a runtime such work is
    /// driven only by the requests waiting on it. Implement it with your runtime's spawn
    /// (`tokio::spawn`, as `oidc-reqwest` does).
    fn spawn(&self, task: BoxFuture<'static, ()>) -> bool {
        drop(task);
        false
    }
}
