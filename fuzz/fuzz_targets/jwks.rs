//! A JWKS response: parsed, then used to verify tokens signed with each algorithm family
//! (RS256 with and without `kid`, ES256, EdDSA, PS256), so that hostile key material reaches
//! key selection and verifier construction.
//!
//! Input: a status byte, then the body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oidc_core::id_token::validate;
use oidc_fuzz::Signer;

fn tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let keys = oidc_fuzz::keys();
        let claims = oidc_fuzz::base_claims(oidc_fuzz::NONCE);
        let none = serde_json::Map::new();
        [
            (Signer::Rsa, Some("rsa1")),
            (Signer::Rsa, None),
            (Signer::Ec, Some("ec1")),
            (Signer::Ed, Some("ed1")),
        ]
        .into_iter()
        .filter_map(|(s, kid)| keys.sign(s, kid, &none, claims.clone()))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&status, body)) = data.split_first() else {
        return;
    };
    let response = oidc_fuzz::response(
        oidc_fuzz::status_from(status),
        Some("application/json"),
        body,
    );
    let Ok(set) = oidc_core::jwks::parse_jwks_response(response, oidc_fuzz::NOW) else {
        return;
    };
    let _ = (
        set.len(),
        set.is_empty(),
        set.fetched_at(),
        format!("{set:?}"),
    );
    let keys = oidc_fuzz::keys();
    let expect = keys.expectations();
    for token in tokens() {
        let _ = validate(token, &set, &expect);
        // A second time: the verifier cache.
        let _ = validate(token, &set, &expect);
    }
});
