//! # oidc-bench
//!
//! The fixtures behind `cargo xtask bench` (see `xtask/src/bench.rs`, which runs everything and
//! writes `target/bench/report.md`):
//!
//! - [`tokens`]: realistic ID tokens (RS256 with a 2048-bit key, ES256, EdDSA) with a cached key
//!   set, the core's validation of them, and the floor: the bare signature verification of the
//!   same token with the same crypto library (josekit over OpenSSL);
//! - [`flow`]: a relying party whose provider answers are recorded once and then replayed (no
//!   network, no provider work), an in-process login, and the callback fixture;
//! - [`servers`]: a bare and a protected route on each adapter (axum, Rocket, warp).
//!
//! The criterion benches (`benches/*.rs`) and the load-test binary (`src/main.rs`) only measure;
//! every key, token, session and server is made here, before any timed loop.

pub mod flow;
pub mod servers;
pub mod tokens;

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Runs a future that never waits on I/O (the core over the in-memory store and a replaying
/// transport) to completion on this thread, without a runtime.
///
/// # Panics
/// If the future is still pending after many polls: it waits on something that no one drives.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
    panic!("block_on: the future waits on I/O; run it on a runtime");
}

#[cfg(test)]
mod tests {
    //! The fixtures still make what the benchmarks measure (run by `cargo test`, so that a
    //! change in the core that breaks them shows before `cargo xtask bench` does).

    use crate::flow::{enterprise_session, typical_session, CallbackFixture, Flow};
    use crate::tokens::{Alg, TokenFixture};

    #[test]
    fn token_fixtures_validate() {
        for alg in Alg::ALL {
            let fixture = TokenFixture::new(alg);
            assert!(fixture.token.len() > 1000, "a realistic token");
        }
    }

    #[test]
    fn callbacks_replay() {
        for flow in [Flow::Code, Flow::Hybrid] {
            let fixture = CallbackFixture::new(flow);
            for _ in 0..3 {
                let response = fixture.run(fixture.prepare());
                assert!(fixture.clean_up(&response), "{flow:?}");
            }
        }
    }

    #[test]
    fn sessions_have_tokens() {
        let (typical, cookie, _) = typical_session();
        assert!(cookie.starts_with("oidc_session=") && cookie.len() < 128);
        let enterprise = enterprise_session(&typical);
        let user = enterprise.user.expect("a user");
        assert!(user.access_token.is_some() && user.refresh_token.is_some());
    }
}
