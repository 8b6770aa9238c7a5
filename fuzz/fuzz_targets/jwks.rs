//! A JWKS response: parsed, then used to verify tokens signed with each algorithm family
//! (RS256 with and without `kid`, ES256, EdDSA, PS256), so that hostile key material reaches
//! key selection and verifier construction. Among the tokens are some signed by a key generated
//! at start-up, which no input can contain.
//!
//! Oracle: a token that validates against the fuzzed set was signed by a key that set
//! publishes. The same body is read again here, independently of the core (serde_json and
//! josekit's `Jwk`), and some published key must verify the token's signature with josekit
//! directly: a key with the token's `kid` when it has one, whose `use` and `alg`, if any, allow
//! the token's algorithm, which must be on the allow-list (never `none`, never HMAC). So a
//! mutated set never makes a token valid whose signing key it lacks, and a key is never used
//! for an algorithm or a purpose it is not published for. Before any input, the fixed set must
//! accept the tokens its keys signed for the algorithms it publishes them for, and refuse the
//! others, so the oracle is not vacuous.
//!
//! Input: a status byte, then the body.
#![no_main]

use std::sync::OnceLock;

use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use libfuzzer_sys::fuzz_target;
use oidc_core::id_token::{validate, Validation};
use oidc_fuzz::Signer;
use serde_json::Value;

/// The tokens every input's key set is tried with, and whether the fixed set (`keys().set`)
/// accepts them.
fn tokens() -> &'static [(String, bool)] {
    static TOKENS: OnceLock<Vec<(String, bool)>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let keys = oidc_fuzz::keys();
        let claims = oidc_fuzz::base_claims(oidc_fuzz::NONCE);
        let none = serde_json::Map::new();
        let mut tokens: Vec<(String, bool)> = [
            (Signer::Rsa, Some("rsa1")),
            (Signer::Rsa, None),
            (Signer::Ec, Some("ec1")),
            (Signer::Ed, Some("ed1")),
        ]
        .into_iter()
        .filter_map(|(s, kid)| keys.sign(s, kid, &none, claims.clone()))
        .map(|t| (t, true))
        .collect();
        let payload = JwtPayload::from_map(claims).expect("claims");
        let sign = |signer: &dyn josekit::jws::JwsSigner, kid: Option<&str>| {
            let mut header = JwsHeader::new();
            header.set_token_type("JWT");
            if let Some(kid) = kid {
                header.set_key_id(kid);
            }
            jwt::encode_with_signer(&payload, &header, signer).expect("a signed token")
        };
        // PS256 with the fixed RSA key (josekit reads the PEM as an RS256 key only).
        let rsa = josekit::jws::RS256
            .key_pair_from_pem(include_str!("../keys/rsa-test-only.pem"))
            .expect("the RSA key");
        let mut jwk = rsa.to_jwk_private_key();
        jwk.set_algorithm("PS256");
        let pss = josekit::jws::PS256
            .signer_from_jwk(&jwk)
            .expect("PS256 signer");
        // The fixed set publishes `rsa1` for RS256 only, so it refuses this one; a fuzzed set
        // that publishes the same key without an `alg`, or for PS256, takes it.
        tokens.push((sign(&pss, Some("rsa1")), false));
        // A key no input can hold, under the fixed keys' ids and under none.
        let rogue = josekit::jws::RS256
            .generate_key_pair(2048)
            .expect("an RSA key");
        let rogue = josekit::jws::RS256
            .signer_from_der(rogue.to_der_private_key())
            .expect("RS256 signer");
        tokens.push((sign(&rogue, Some("rsa1")), false));
        tokens.push((sign(&rogue, None), false));
        // The oracle's own check: the fixed set takes its own tokens and no other.
        let expect = keys.expectations();
        for (token, ours) in &tokens {
            let valid = matches!(
                validate(token, &keys.set, &expect),
                Ok(Validation::Valid(_))
            );
            assert_eq!(valid, *ours, "the fixed key set and {token}");
            if valid {
                assert_signed_by_a_published_key(token, keys.jwks_json.as_bytes());
            }
        }
        tokens
    })
}

/// josekit's verifier for `alg` from `jwk`, for the algorithms the core may allow.
fn verifier(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    use josekit::jws::*;
    let v: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).ok()?),
        "RS384" => Box::new(RS384.verifier_from_jwk(jwk).ok()?),
        "RS512" => Box::new(RS512.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).ok()?),
        "PS384" => Box::new(PS384.verifier_from_jwk(jwk).ok()?),
        "PS512" => Box::new(PS512.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).ok()?),
        "ES384" => Box::new(ES384.verifier_from_jwk(jwk).ok()?),
        "ES512" => Box::new(ES512.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(v)
}

/// Panics unless a key that `body` publishes (read here without the core), fit for the
/// token's `kid` and algorithm, verifies `token`'s signature.
fn assert_signed_by_a_published_key(token: &str, body: &[u8]) {
    let header = jwt::decode_header(token).expect("an accepted token has a header");
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .expect("an accepted token names its algorithm");
    let allowed = &oidc_fuzz::keys().algorithms;
    assert!(
        allowed.iter().any(|a| a == alg) && alg != "none" && !alg.starts_with("HS"),
        "a token signed with {alg:?} was accepted"
    );
    let kid = header.claim("kid").and_then(Value::as_str);
    let doc: Value = serde_json::from_slice(body).expect("an accepted set is JSON");
    let raw_keys = doc["keys"].as_array().cloned().unwrap_or_default();
    let fits = |raw: &Value| {
        let field = |name: &str| raw.get(name).and_then(Value::as_str);
        (kid.is_none() || field("kid") == kid)
            && field("use").is_none_or(|u| u == "sig")
            && field("alg").is_none_or(|a| a == alg)
    };
    let verified = raw_keys.iter().filter(|raw| fits(raw)).any(|raw| {
        // josekit makes a verifier from a JWK with a `kid` demand that `kid` in the token;
        // the match on `kid` is made above, by the oracle.
        let Some(mut map) = raw.as_object().cloned() else {
            return false;
        };
        map.remove("kid");
        Jwk::from_map(map)
            .ok()
            .and_then(|jwk| verifier(alg, &jwk))
            .is_some_and(|v| jwt::decode_with_verifier(token, v.as_ref()).is_ok())
    });
    assert!(
        verified,
        "a token (alg {alg}, kid {kid:?}) was accepted, but no key of the set with that kid, \
         fit for {alg}, verifies its signature: {}",
        String::from_utf8_lossy(body)
    );
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
    for (token, _) in tokens() {
        // Twice: the second goes through the verifier cache.
        for _ in 0..2 {
            if let Ok(Validation::Valid(_)) = validate(token, &set, &expect) {
                assert_signed_by_a_published_key(token, body);
            }
        }
    }
});
