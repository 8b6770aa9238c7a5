//! JWT access tokens (RFC 9068) presented to a protected API: raw tokens, and tokens really
//! signed over fuzzed header and claims; plus the `Authorization` header they arrive in.
//!
//! Input: a control byte; bit 0 clear: the rest is `Authorization` header bytes, whose bearer
//! token is validated; set: `0xFF`-separated header JSON and claims JSON, signed.
//!
//! Oracle: an accepted token has `typ` `at+jwt`, our issuer, our audience, and is not expired,
//! not yet valid or issued in the future.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::access_token::{
    validate_jwt_access_token, JwtAccessTokenExpectations, JwtValidation,
};
use oidc_fuzz::Signer;
use serde_json::{Map, Value};

const AUDIENCE: &str = "https://api.fuzz";

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let keys = oidc_fuzz::keys();
    let token = if control & 1 == 0 {
        let mut headers = http::HeaderMap::new();
        let Ok(v) = http::HeaderValue::from_bytes(rest) else {
            return;
        };
        headers.insert(http::header::AUTHORIZATION, v);
        if control & 2 != 0 {
            headers.append(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static("Bearer x"),
            );
        }
        match oidc_core::bearer::bearer_token(&headers) {
            Ok(t) => {
                assert!(control & 2 == 0, "several Authorization headers accepted");
                assert!(!t.is_empty() && t.is_ascii());
                t.to_owned()
            }
            Err(_) => return,
        }
    } else {
        let seg = oidc_fuzz::segments(rest, 2);
        let object = |b: &[u8]| match serde_json::from_slice::<Value>(b) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut claims = object(
            &serde_json::to_vec(&serde_json::json!({
                "iss": oidc_fuzz::ISSUER, "aud": AUDIENCE, "sub": "alice",
                "exp": oidc_fuzz::NOW + 60, "iat": oidc_fuzz::NOW, "scope": "read",
            }))
            .unwrap_or_default(),
        );
        for (k, v) in object(seg[1]) {
            if v.is_null() {
                claims.remove(&k);
            } else {
                claims.insert(k, v);
            }
        }
        let mut header = object(seg[0]);
        header.entry("typ").or_insert_with(|| "at+jwt".into());
        let signer = if control & 2 == 0 {
            Signer::Ec
        } else {
            Signer::Rsa
        };
        let kid = if control & 2 == 0 { "ec1" } else { "rsa1" };
        match keys.sign(signer, Some(kid), &header, claims) {
            Some(t) => t,
            None => return,
        }
    };
    let expect = JwtAccessTokenExpectations::new(
        oidc_fuzz::ISSUER,
        AUDIENCE,
        oidc_fuzz::NOW,
        30,
        &keys.algorithms,
    );
    if let Ok(JwtValidation::Valid(identity)) =
        validate_jwt_access_token(&token, &keys.set, &expect)
    {
        let c = &identity.claims;
        assert_eq!(
            c.get("iss").and_then(Value::as_str),
            Some(oidc_fuzz::ISSUER)
        );
        assert!(oidc_core::bearer::audiences_of(c).contains(&AUDIENCE));
        let num = |n: &str| c.get(n).and_then(Value::as_u64);
        let exp = num("exp").expect("exp");
        assert!(oidc_fuzz::NOW <= exp.saturating_add(30));
        assert!(num("nbf").is_none_or(|t| t <= oidc_fuzz::NOW + 30));
        assert!(num("iat").is_none_or(|t| t <= oidc_fuzz::NOW + 30));
    }
});
