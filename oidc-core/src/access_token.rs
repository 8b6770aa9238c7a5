//! Local validation of JWT access tokens (RFC 9068): the signature against the provider's
//! JWKS (the same key choice and algorithm allow-list as ID tokens), the `typ` header
//! (`at+jwt`), `iss`, `aud`, `exp` (and `nbf`, `iat` when present). No call to the provider
//! per request: the caller keeps the key set, and fetches it again only on an unknown `kid`.
//!
//! Scopes are checked by the caller ([`crate::bearer::check_scopes`]) so that one validated
//! token serves routes with different requirements.

use serde_json::Value;

use crate::bearer::{audiences_of, BearerValidation, TokenIdentity};
use crate::error::{BearerError, IdTokenError};
use crate::id_token::{check_time_claims, verify_jws};
use crate::jwks::JwkSet;

/// What a JWT access token is checked against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwtAccessTokenExpectations<'a> {
    /// The provider's issuer: `iss` must equal it.
    pub issuer: &'a str,
    /// This resource server's identifier: `aud` must contain it.
    pub audience: &'a str,
    /// Now, unix seconds.
    pub now: u64,
    /// Allowed clock skew, seconds.
    pub skew: u64,
    /// The signature algorithm allow-list.
    pub algorithms: &'a [String],
}

impl<'a> JwtAccessTokenExpectations<'a> {
    /// The expectations of a resource server `audience` for tokens of `issuer`, signed with one of
    /// `algorithms`, at `now` give or take `skew` seconds (the type is `#[non_exhaustive]`, so that
    /// a later check can add an input with a default without a breaking change).
    pub fn new(
        issuer: &'a str,
        audience: &'a str,
        now: u64,
        skew: u64,
        algorithms: &'a [String],
    ) -> Self {
        JwtAccessTokenExpectations {
            issuer,
            audience,
            now,
            skew,
            algorithms,
        }
    }
}

/// The outcome of a validation attempt that may need a fresh key set.
#[derive(Debug)]
#[non_exhaustive]
pub enum JwtValidation {
    /// The token is valid (scopes not yet checked).
    Valid(TokenIdentity),
    /// The token names a key the set does not have: fetch the JWKS again and retry once.
    UnknownKey,
}

fn invalid(why: impl Into<String>) -> BearerError {
    BearerError::InvalidToken(why.into())
}

/// Validates a JWT access token (RFC 9068 section 4).
pub fn validate_jwt_access_token(
    raw: &str,
    keys: &JwkSet,
    expect: &JwtAccessTokenExpectations<'_>,
) -> Result<JwtValidation, BearerError> {
    if raw.split('.').count() != 3 {
        return Err(invalid("not a JWT"));
    }
    let verified = match verify_jws(raw, keys, expect.algorithms) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(JwtValidation::UnknownKey),
        Err(IdTokenError::UnknownKey) => return Err(invalid("no matching key")),
        Err(e) => return Err(invalid(e.to_string())),
    };
    // RFC 9068 4: `typ` must be `at+jwt` (or its full media type), which also keeps ID tokens
    // from passing as access tokens.
    let typ_ok = verified.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(invalid("not a JWT access token (typ is not at+jwt)"));
    }
    let c = &verified.claims;
    if c.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return Err(invalid("the token was issued by another issuer"));
    }
    if !audiences_of(c).contains(&expect.audience) {
        return Err(invalid("the token is not for this audience"));
    }
    // The same time rules as ID tokens, written once; `iat` stays optional here as before.
    check_time_claims(c, expect.now, expect.skew, &["exp"]).map_err(|e| match e {
        IdTokenError::MissingClaim(name) => invalid(format!("the token has no valid {name}")),
        IdTokenError::Expired => invalid("the token has expired"),
        IdTokenError::NotYetValid => invalid("the token is not valid yet"),
        IdTokenError::IssuedAt => invalid("the token was issued in the future"),
        other => invalid(other.to_string()),
    })?;
    Ok(JwtValidation::Valid(TokenIdentity::new(
        raw,
        verified.claims,
        BearerValidation::Jwt,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};
    use serde_json::json;

    struct Fixture {
        signer: josekit::jws::alg::rsassa::RsassaJwsSigner,
        other: josekit::jws::alg::rsassa::RsassaJwsSigner,
        keys: JwkSet,
        algs: Vec<String>,
    }

    /// The same key pairs for every test, generated once: RSA key generation would otherwise
    /// be most of the time these tests take, and `cargo xtask mutants` runs them once per
    /// mutant.
    fn fixture() -> Fixture {
        static KEYS: std::sync::OnceLock<(Vec<u8>, Vec<u8>, String)> = std::sync::OnceLock::new();
        let (der, other, jwks) = KEYS.get_or_init(|| {
            let pair = RS256.generate_key_pair(2048).unwrap();
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id("k1");
            let doc = json!({ "keys": [jwk.as_ref()] });
            let other = RS256.generate_key_pair(2048).unwrap();
            (
                pair.to_der_private_key(),
                other.to_der_private_key(),
                doc.to_string(),
            )
        });
        Fixture {
            signer: RS256.signer_from_der(der).unwrap(),
            other: RS256.signer_from_der(other).unwrap(),
            keys: JwkSet::from_json(jwks.as_bytes(), 0).unwrap(),
            algs: vec!["RS256".into()],
        }
    }

    fn claims() -> Value {
        json!({"iss": "https://op", "sub": "alice", "aud": ["https://api", "x"], "exp": 2000,
            "iat": 1000, "client_id": "c", "jti": "j", "scope": "read write"})
    }

    fn sign_with(
        signer: &josekit::jws::alg::rsassa::RsassaJwsSigner,
        claims: &Value,
        typ: Option<&str>,
        kid: &str,
    ) -> String {
        let mut h = JwsHeader::new();
        if let Some(t) = typ {
            h.set_token_type(t);
        }
        h.set_key_id(kid);
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&p, &h, signer).unwrap()
    }

    fn sign(f: &Fixture, claims: &Value) -> String {
        sign_with(&f.signer, claims, Some("at+jwt"), "k1")
    }

    fn expect(f: &Fixture) -> JwtAccessTokenExpectations<'_> {
        JwtAccessTokenExpectations {
            issuer: "https://op",
            audience: "https://api",
            now: 1500,
            skew: 30,
            algorithms: &f.algs,
        }
    }

    fn check(f: &Fixture, token: &str) -> Result<JwtValidation, BearerError> {
        validate_jwt_access_token(token, &f.keys, &expect(f))
    }

    fn with(mut c: Value, k: &str, v: Value) -> Value {
        c[k] = v;
        c
    }

    #[test]
    fn valid_token() {
        let f = fixture();
        let t = sign(&f, &claims());
        match check(&f, &t).unwrap() {
            JwtValidation::Valid(id) => {
                assert_eq!(id.subject(), Some("alice"));
                assert_eq!(id.scopes, ["read", "write"]);
                assert_eq!(id.validation, BearerValidation::Jwt);
                assert_eq!(id.token.expose(), t);
            }
            other => panic!("{other:?}"),
        }
        let t = sign_with(&f.signer, &claims(), Some("application/AT+JWT"), "k1");
        assert!(matches!(check(&f, &t), Ok(JwtValidation::Valid(_))));
        // `nbf` up to the skew ahead is tolerated.
        let t = sign(&f, &with(claims(), "nbf", json!(1530)));
        assert!(matches!(check(&f, &t), Ok(JwtValidation::Valid(_))));
        // Expired within the skew is tolerated.
        let t = sign(&f, &with(claims(), "exp", json!(1480)));
        assert!(matches!(check(&f, &t), Ok(JwtValidation::Valid(_))));
    }

    #[test]
    fn refusals() {
        let f = fixture();
        let c = claims();
        let mut no_exp = c.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        let tokens = [
            ("expired", sign(&f, &with(c.clone(), "exp", json!(1400)))),
            (
                "wrong aud",
                sign(&f, &with(c.clone(), "aud", json!("https://other"))),
            ),
            ("no aud", {
                let mut n = c.clone();
                n.as_object_mut().unwrap().remove("aud");
                sign(&f, &n)
            }),
            (
                "wrong iss",
                sign(&f, &with(c.clone(), "iss", json!("https://evil"))),
            ),
            ("no exp", sign(&f, &no_exp)),
            ("nbf", sign(&f, &with(c.clone(), "nbf", json!(1600)))),
            (
                "nbf one past skew",
                sign(&f, &with(c.clone(), "nbf", json!(1531))),
            ),
            ("iat", sign(&f, &with(c.clone(), "iat", json!(1600)))),
            ("typ JWT", sign_with(&f.signer, &c, Some("JWT"), "k1")),
            ("no typ", sign_with(&f.signer, &c, None, "k1")),
            ("wrong key", sign_with(&f.other, &c, Some("at+jwt"), "k1")),
            ("not a jwt", "opaque-token".to_owned()),
            ("garbage", "a.b.c".to_owned()),
        ];
        for (name, t) in tokens {
            assert!(
                matches!(check(&f, &t), Err(BearerError::InvalidToken(_))),
                "{name}"
            );
        }
        let tampered = {
            let t = sign(&f, &c);
            let (head, _) = t.rsplit_once('.').unwrap();
            let sig = sign(&f, &with(c.clone(), "sub", json!("mallory")));
            format!("{head}.{}", sig.rsplit_once('.').unwrap().1)
        };
        assert_eq!(
            check(&f, &tampered).unwrap_err(),
            BearerError::InvalidToken("signature verification failed".into())
        );
        let unsigned = jwt::encode_unsecured(
            &JwtPayload::from_map(c.as_object().unwrap().clone()).unwrap(),
            &JwsHeader::new(),
        )
        .unwrap();
        assert!(matches!(
            check(&f, &unsigned),
            Err(BearerError::InvalidToken(_))
        ));
    }

    #[test]
    fn unknown_kid_asks_for_refetch() {
        let f = fixture();
        let t = sign_with(&f.signer, &claims(), Some("at+jwt"), "k9");
        assert!(matches!(check(&f, &t), Ok(JwtValidation::UnknownKey)));
        // No kid and no fitting key: refused outright.
        let empty = JwkSet::from_json(br#"{"keys":[]}"#, 0).unwrap();
        let mut h = JwsHeader::new();
        h.set_token_type("at+jwt");
        let p = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
        let t = jwt::encode_with_signer(&p, &h, &f.signer).unwrap();
        assert!(matches!(
            validate_jwt_access_token(&t, &empty, &expect(&f)),
            Err(BearerError::InvalidToken(_))
        ));
    }
}
