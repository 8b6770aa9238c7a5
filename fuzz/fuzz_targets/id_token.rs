//! A raw ID token (compact JWS, or anything else: JWE, two parts, garbage) validated against
//! a fixed key set (RSA, EC and Ed25519 keys).
//!
//! Oracle: whatever validates satisfies OpenID Connect Core 3.1.3.7 (restated in the fixture).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::id_token::{validate, Validation};

fuzz_target!(|data: &[u8]| {
    let keys = oidc_fuzz::keys();
    let raw = String::from_utf8_lossy(data);
    if let Ok(Validation::Valid(token)) = validate(&raw, &keys.set, &keys.expectations()) {
        oidc_fuzz::assert_claims_valid(token.claims(), oidc_fuzz::NONCE);
        assert_eq!(token.raw.expose(), raw);
    }
});
