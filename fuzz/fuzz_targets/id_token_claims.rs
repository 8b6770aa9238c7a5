//! ID tokens signed with a real key over fuzzed claims and header, so that the claim checks
//! (not just the signature) meet hostile values: wrong types, huge numbers, arrays for
//! strings, `at_hash`/`c_hash` of the wrong length.
//!
//! Input: a control byte, then `0xFF`-separated JSON for the header, JSON claims merged over
//! valid ones (`null` removes a claim), and an access token / code for `at_hash`/`c_hash`.
//!
//! Oracle: whatever validates satisfies OpenID Connect Core 3.1.3.7, and `at_hash`/`c_hash`
//! match when they are required.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::id_token::{half_hash, validate, Validation};
use oidc_fuzz::Signer;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let seg = oidc_fuzz::segments(rest, 3);
    let object = |b: &[u8]| match serde_json::from_slice::<Value>(b) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let header = object(seg[0]);
    let mut claims = oidc_fuzz::base_claims(oidc_fuzz::NONCE);
    for (k, v) in object(seg[1]) {
        if v.is_null() {
            claims.remove(&k);
        } else {
            claims.insert(k, v);
        }
    }
    let (signer, alg, kid) = match control % 4 {
        0 => (Signer::Rsa, "RS256", Some("rsa1")),
        1 => (Signer::Ec, "ES256", Some("ec1")),
        2 => (Signer::Ed, "EdDSA", Some("ed1")),
        _ => (Signer::Rsa, "RS256", None),
    };
    let keys = oidc_fuzz::keys();
    let Some(token) = keys.sign(signer, kid, &header, claims) else {
        return;
    };
    let extra = String::from_utf8_lossy(seg[2]);
    let mut expect = keys.expectations();
    if control & 0x10 != 0 {
        expect.access_token = Some(&extra);
        expect.require_at_hash = control & 0x20 != 0;
    }
    if control & 0x40 != 0 {
        expect.code = Some(&extra);
    }
    if control & 0x80 != 0 {
        expect.nonce = None;
    }
    let nonce_expected = expect.nonce.is_some();
    match validate(&token, &keys.set, &expect) {
        Ok(Validation::Valid(t)) => {
            let c = t.claims();
            if nonce_expected {
                oidc_fuzz::assert_claims_valid(c, oidc_fuzz::NONCE);
            }
            let hash = |name: &str| c.get(name).and_then(|v| v.as_str().map(str::to_owned));
            if let Some(at) = expect.access_token {
                let want = half_hash(alg, at).ok();
                match hash("at_hash") {
                    Some(h) => assert_eq!(Some(h), want, "at_hash"),
                    None => assert!(!expect.require_at_hash, "missing at_hash accepted"),
                }
            }
            if let Some(code) = expect.code {
                assert_eq!(hash("c_hash"), half_hash(alg, code).ok());
            }
        }
        Ok(Validation::UnknownKey) => panic!("a token signed with a published key is unknown"),
        Err(_) => {}
    }
});
