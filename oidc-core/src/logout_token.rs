//! Logouts the provider sends: the logout token of OpenID Connect Back-Channel Logout 1.0
//! (section 2.6), and the `iss` + `sid` of Front-Channel Logout 1.0 (section 2), each turned
//! into the session index keys whose sessions end ([`crate::session::sid_index_key`] and its
//! siblings).
//!
//! A logout token is checked like an ID token where the two share a rule (the signature with
//! the provider's keys and allow-list, `iss`, `aud`, the time claims, all written once in
//! [`crate::id_token`]), and against the rules that keep the one from passing for the other:
//! the back-channel-logout event must be there, a `nonce` must not (Back-Channel Logout 2.4, 4.1),
//! and a `typ` header, when present, must say `logout+jwt`.

use serde_json::{Map, Value};

use crate::bearer::audiences_of;
use crate::error::{IdTokenError, LogoutError};
use crate::id_token::{check_time_claims, verify_token, VerifiedJws};
use crate::session::{sid_index_key, sidless_index_key, subject_index_key};
use crate::signing::TokenKeys;

/// The event a logout token must carry (Back-Channel Logout 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old (seconds, by `iat`, beyond the clock skew) a logout token may be. A provider sends
/// it at once; the bound is what lets a replay be refused with a `jti` mark that lives no
/// longer than this: an older copy is refused by its age.
pub const LOGOUT_TOKEN_MAX_AGE: u64 = 600;

/// What a logout token is checked against.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LogoutTokenExpectations<'a> {
    /// The provider's issuer: `iss` must equal it.
    pub issuer: &'a str,
    /// This client's id: `aud` must contain it.
    pub client_id: &'a str,
    /// Now, unix seconds.
    pub now: u64,
    /// Allowed clock skew, seconds.
    pub skew: u64,
    /// The signature algorithm allow-list (the ID token's).
    pub algorithms: &'a [String],
}

impl<'a> LogoutTokenExpectations<'a> {
    /// The expectations for logout tokens of `issuer` to `client_id`, signed with one of
    /// `algorithms`, at `now` give or take `skew` seconds (the type is `#[non_exhaustive]`, so that
    /// a later check can add an input with a default without a breaking change).
    pub fn new(
        issuer: &'a str,
        client_id: &'a str,
        now: u64,
        skew: u64,
        algorithms: &'a [String],
    ) -> Self {
        LogoutTokenExpectations {
            issuer,
            client_id,
            now,
            skew,
            algorithms,
        }
    }
}

/// A validated logout token: who it logs out, and its `jti` for the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogoutToken {
    /// The issuer.
    pub issuer: String,
    /// The provider session it ends, if named.
    pub sid: Option<String>,
    /// The user it logs out, if named.
    pub sub: Option<String>,
    /// Its unique id.
    pub jti: String,
}

impl LogoutToken {
    /// The session index keys whose sessions this logout ends (Back-Channel Logout 2.7): with a
    /// `sid`, that provider session's, plus, with a `sub` too, the user's sessions that carry
    /// no `sid` to tell them apart; with a `sub` alone, every session of the user.
    pub fn index_keys(&self) -> Vec<String> {
        provider_logout_keys(&self.issuer, self.sid.as_deref(), self.sub.as_deref())
    }

    /// The key its `jti` is spent under: per issuer, hashed like the session keys.
    pub fn replay_key(&self) -> String {
        crate::session::index_key(crate::session::LOGOUT_JTI, &self.issuer, &self.jti)
    }
}

/// The index keys a logout naming `sid` and/or `sub` at `issuer` ends (see
/// [`LogoutToken::index_keys`]); a front-channel logout names a `sid` only.
pub fn provider_logout_keys(issuer: &str, sid: Option<&str>, sub: Option<&str>) -> Vec<String> {
    match (sid, sub) {
        (Some(sid), Some(sub)) => vec![sid_index_key(issuer, sid), sidless_index_key(issuer, sub)],
        (Some(sid), None) => vec![sid_index_key(issuer, sid)],
        (None, Some(sub)) => vec![subject_index_key(issuer, sub)],
        (None, None) => Vec::new(),
    }
}

/// The outcome of a validation that may need a fresh key set.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogoutValidation {
    /// The token is valid (its `jti` not yet checked for replay).
    Valid(LogoutToken),
    /// The token names a key the set does not have: the provider may have rotated its keys.
    UnknownKey,
}

/// The `iss` a logout token claims, unverified: only to choose which provider's keys verify it.
pub fn unverified_issuer(raw: &str) -> Result<String, LogoutError> {
    let payload = raw
        .split('.')
        .nth(1)
        .ok_or_else(|| malformed("not a JWT"))?;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| malformed("undecodable payload"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| malformed("the payload is not a JSON object"))?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(LogoutError::Token(IdTokenError::MissingClaim("iss")))
}

fn malformed(why: &str) -> LogoutError {
    LogoutError::Token(IdTokenError::Malformed(why.into()))
}

/// Validates a logout token (Back-Channel Logout 1.0, 2.6) with `keys` (the provider's set, or
/// the client secret when HMAC was agreed).
pub fn validate_logout_token(
    raw: &str,
    keys: TokenKeys<'_>,
    expect: &LogoutTokenExpectations<'_>,
) -> Result<LogoutValidation, LogoutError> {
    if raw.split('.').count() != 3 {
        return Err(malformed("not a signed JWT"));
    }
    let VerifiedJws { typ, claims, .. } = match verify_token(raw, keys, expect.algorithms) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(LogoutValidation::UnknownKey),
        Err(e) => return Err(LogoutError::Token(e)),
    };
    // Explicit typing (Back-Channel Logout 4.1): a JWT of another kind says so.
    if let Some(typ) = typ {
        if !typ.eq_ignore_ascii_case("logout+jwt")
            && !typ.eq_ignore_ascii_case("application/logout+jwt")
        {
            return Err(LogoutError::Type);
        }
    }
    let text = |name: &'static str| -> Result<Option<String>, LogoutError> {
        match claims.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(LogoutError::Token(IdTokenError::MissingClaim(name))),
        }
    };
    if text("iss")?.as_deref() != Some(expect.issuer) {
        return Err(LogoutError::Token(IdTokenError::Issuer));
    }
    if !audiences_of(&claims).contains(&expect.client_id) {
        return Err(LogoutError::Token(IdTokenError::Audience));
    }
    check_time_claims(&claims, expect.now, expect.skew, &["iat"]).map_err(LogoutError::Token)?;
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if iat.saturating_add(LOGOUT_TOKEN_MAX_AGE + expect.skew) < expect.now {
        return Err(LogoutError::TooOld);
    }
    let has_event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !has_event {
        return Err(LogoutError::MissingEvent);
    }
    if claims.contains_key("nonce") {
        return Err(LogoutError::Nonce);
    }
    let jti = text("jti")?.ok_or(LogoutError::Token(IdTokenError::MissingClaim("jti")))?;
    let sid = text("sid")?;
    let sub = text("sub")?;
    if sid.is_none() && sub.is_none() {
        return Err(LogoutError::NoSubject);
    }
    Ok(LogoutValidation::Valid(LogoutToken {
        issuer: expect.issuer.to_owned(),
        sid,
        sub,
        jti,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::JwkSet;
    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};
    use serde_json::json;

    struct Keys {
        der: Vec<u8>,
        other: Vec<u8>,
        set: JwkSet,
    }

    /// One key pair for every test (RSA generation is slow).
    fn keys() -> &'static Keys {
        static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let pair = RS256.generate_key_pair(2048).unwrap();
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id("k1");
            let doc = json!({ "keys": [jwk.as_ref()] }).to_string();
            Keys {
                der: pair.to_der_private_key(),
                other: RS256.generate_key_pair(2048).unwrap().to_der_private_key(),
                set: JwkSet::from_json(doc.as_bytes(), 0).unwrap(),
            }
        })
    }

    const NOW: u64 = 10_000;

    fn claims() -> Value {
        json!({"iss": "https://op", "aud": "client", "iat": NOW - 5, "exp": NOW + 120,
            "jti": "j1", "sid": "s1", "sub": "alice",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}}})
    }

    fn sign(claims: &Value, typ: Option<&str>, kid: &str, der: &[u8]) -> String {
        let mut h = JwsHeader::new();
        if let Some(t) = typ {
            h.set_token_type(t);
        }
        h.set_key_id(kid);
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&payload, &h, &RS256.signer_from_der(der).unwrap()).unwrap()
    }

    fn check(raw: &str) -> Result<LogoutValidation, LogoutError> {
        let algs = vec!["RS256".to_owned()];
        let expect = LogoutTokenExpectations {
            issuer: "https://op",
            client_id: "client",
            now: NOW,
            skew: 30,
            algorithms: &algs,
        };
        validate_logout_token(raw, TokenKeys::Provider(&keys().set), &expect)
    }

    fn with(change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut c = claims();
        change(c.as_object_mut().unwrap());
        sign(&c, Some("logout+jwt"), "k1", &keys().der)
    }

    #[test]
    fn a_valid_token_names_its_session() {
        let Ok(LogoutValidation::Valid(t)) = check(&with(|_| {})) else {
            panic!("valid")
        };
        assert_eq!(t.sid.as_deref(), Some("s1"));
        assert_eq!(t.sub.as_deref(), Some("alice"));
        assert_eq!(
            t.index_keys(),
            vec![
                sid_index_key("https://op", "s1"),
                sidless_index_key("https://op", "alice")
            ]
        );
        // No typ at all is allowed too (providers before explicit typing).
        let raw = sign(&claims(), None, "k1", &keys().der);
        assert!(matches!(check(&raw), Ok(LogoutValidation::Valid(_))));
        let raw = sign(&claims(), Some("application/logout+jwt"), "k1", &keys().der);
        assert!(matches!(check(&raw), Ok(LogoutValidation::Valid(_))));
    }

    #[test]
    fn sub_only_names_every_session_of_the_user() {
        let Ok(LogoutValidation::Valid(t)) = check(&with(|c| {
            c.remove("sid");
        })) else {
            panic!("valid")
        };
        assert_eq!(
            t.index_keys(),
            vec![subject_index_key("https://op", "alice")]
        );
    }

    #[test]
    fn each_rule_refuses() {
        let cases: Vec<(&str, String, LogoutError)> = vec![
            (
                "wrong iss",
                with(|c| {
                    c.insert("iss".into(), json!("https://evil"));
                }),
                LogoutError::Token(IdTokenError::Issuer),
            ),
            (
                "wrong aud",
                with(|c| {
                    c.insert("aud".into(), json!("other"));
                }),
                LogoutError::Token(IdTokenError::Audience),
            ),
            (
                "no iat",
                with(|c| {
                    c.remove("iat");
                }),
                LogoutError::Token(IdTokenError::MissingClaim("iat")),
            ),
            (
                "future iat",
                with(|c| {
                    c.insert("iat".into(), json!(NOW + 100));
                }),
                LogoutError::Token(IdTokenError::IssuedAt),
            ),
            (
                "old iat",
                with(|c| {
                    c.insert("iat".into(), json!(NOW - LOGOUT_TOKEN_MAX_AGE - 31));
                    c.remove("exp");
                }),
                LogoutError::TooOld,
            ),
            (
                "expired",
                with(|c| {
                    c.insert("exp".into(), json!(NOW - 31));
                }),
                LogoutError::Token(IdTokenError::Expired),
            ),
            (
                "no events",
                with(|c| {
                    c.remove("events");
                }),
                LogoutError::MissingEvent,
            ),
            (
                "other event",
                with(|c| {
                    c.insert(
                        "events".into(),
                        json!({"http://schemas.openid.net/event/other": {}}),
                    );
                }),
                LogoutError::MissingEvent,
            ),
            (
                "event not an object",
                with(|c| {
                    c.insert("events".into(), json!({BACKCHANNEL_LOGOUT_EVENT: "yes"}));
                }),
                LogoutError::MissingEvent,
            ),
            (
                "nonce",
                with(|c| {
                    c.insert("nonce".into(), json!("n"));
                }),
                LogoutError::Nonce,
            ),
            (
                "no jti",
                with(|c| {
                    c.remove("jti");
                }),
                LogoutError::Token(IdTokenError::MissingClaim("jti")),
            ),
            (
                "neither sid nor sub",
                with(|c| {
                    c.remove("sid");
                    c.remove("sub");
                }),
                LogoutError::NoSubject,
            ),
            (
                "sid not a string",
                with(|c| {
                    c.insert("sid".into(), json!(7));
                }),
                LogoutError::Token(IdTokenError::MissingClaim("sid")),
            ),
            (
                "typ JWT",
                sign(&claims(), Some("JWT"), "k1", &keys().der),
                LogoutError::Type,
            ),
            (
                "forged",
                sign(&claims(), Some("logout+jwt"), "k1", &keys().other),
                LogoutError::Token(IdTokenError::BadSignature),
            ),
        ];
        for (what, raw, want) in cases {
            match check(&raw) {
                Err(e) => assert_eq!(e, want, "{what}"),
                Ok(v) => panic!("{what}: accepted {v:?}"),
            }
        }
        assert!(check("a.b").is_err());
        let unsigned = format!("{}.", with(|_| {}).rsplit_once('.').unwrap().0);
        assert!(check(&unsigned).is_err(), "an unsigned token");
    }

    #[test]
    fn an_unknown_kid_asks_for_newer_keys() {
        let raw = sign(&claims(), Some("logout+jwt"), "rotated", &keys().other);
        assert!(matches!(check(&raw), Ok(LogoutValidation::UnknownKey)));
    }

    #[test]
    fn the_issuer_is_read_before_verification_only_to_pick_keys() {
        assert_eq!(unverified_issuer(&with(|_| {})).unwrap(), "https://op");
        assert!(unverified_issuer("x").is_err());
        assert!(unverified_issuer("a.bm90IGpzb24.c").is_err());
    }

    #[test]
    fn replay_keys_are_per_issuer() {
        let a = LogoutToken {
            issuer: "https://a".into(),
            sid: None,
            sub: Some("u".into()),
            jti: "j".into(),
        };
        let b = LogoutToken {
            issuer: "https://b".into(),
            ..a.clone()
        };
        assert_ne!(a.replay_key(), b.replay_key());
        assert!(a.replay_key().starts_with("logout-jti:"));
    }
}
