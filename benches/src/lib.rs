//! # oidc-bench
//!
//! The fixtures behind `cargo xtask bench` (see `xtask/src/bench.rs`, which runs everything and
//! writes `target/bench/report.md`):
//!
//! - [`tokens`]: realistic ID tokens (RS256 with a 2048-bit key, ES256, EdDSA) with a cached key
//!   set, the core's validation of them, and the floor: the bare signature verification of the
//!   same token with the same crypto library (josekit over OpenSSL);
//! - [`flow`]: a relying party whose provider answers are recorded once and then replayed (no
//!   network, no provider work), an in-process login, and the callback fixture, driving the
//!   sans-IO core directly (no executor: each action answered on the spot);
//! - [`floor`]: the guard's floor, the least any guard of a protected route must do (check the
//!   session cookie's HMAC, look the session up), done with the core's own crates;
//! - [`servers`]: a bare route, the floor route and two protected routes (one whose handler
//!   reads the user's claims, one whose handler does not) on each adapter (axum, Rocket, warp);
//! - [`stats`]: the report's arithmetic (ratios, medians and ranges over rounds, targets).
//!
//! The criterion benches (`benches/*.rs`) and the load-test binary (`src/main.rs`) only measure;
//! every key, token, session and server is made here, before any timed loop.

#![deny(missing_docs)]

pub mod floor;
pub mod flow;
pub mod servers;
pub mod stats;
pub mod tokens;

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
    fn callback_baselines_validate_the_callbacks_token() {
        for flow in [Flow::Code, Flow::Hybrid] {
            let fixture = CallbackFixture::new(flow);
            match fixture.validate_id_token() {
                Ok(oidc_core::id_token::Validation::Valid(token)) => {
                    assert!(!token.subject().is_empty(), "{flow:?}")
                }
                other => panic!("{flow:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_floor_finds_the_signed_session_only() {
        use crate::floor::{store_for_floor, GuardFloor};
        use std::sync::Arc;
        let (record, cookie, _) = typical_session();
        let clock = Arc::new(oidc_testkit::harness::TestClock::new(1_700_000_000));
        // The fixture's session cookie is signed with this secret.
        let floor = GuardFloor::new(&[9u8; 32], store_for_floor(&record, &cookie, clock.clone()));
        let found = floor.session(["theme=dark", cookie.as_str()]);
        assert_eq!(
            found.and_then(|r| r.user).map(|u| u.subject().to_owned()),
            record.user.as_ref().map(|u| u.subject().to_owned())
        );
        // Another secret, a changed tag, an unsigned id, no cookie: nothing.
        let other = GuardFloor::new(&[8u8; 32], store_for_floor(&record, &cookie, clock));
        assert!(other.session([cookie.as_str()]).is_none());
        // The tag's first character (its last one carries padding bits).
        let (id, tag) = cookie.split_once('.').expect("a signed cookie");
        let first = if tag.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{id}.{first}{}", &tag[1..]);
        assert!(floor.session([tampered.as_str()]).is_none());
        assert!(floor.session([id]).is_none());
        assert!(floor.session(std::iter::empty()).is_none());
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
