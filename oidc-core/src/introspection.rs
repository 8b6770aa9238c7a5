//! Token introspection (RFC 7662): the request, its response, the checks a resource server
//! makes on the result, and a bounded, short-lived cache of results.
//!
//! The cache is keyed by the SHA-256 of the provider's name and the token, so the tokens
//! themselves are not kept as keys; each entry lives at most the configured TTL and never past
//! the token's `exp`. The checks ([`check_introspection`]) run on every use, cached or not, so
//! expiry and scopes are always judged at the time of the request.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::bearer::{audiences_of, BearerValidation, TokenIdentity};
use crate::client_auth::ClientAuth;
use crate::error::{BearerError, Endpoint, Error, ProtocolError, Result};
use crate::metadata::ClientMetadata;
use crate::wire;

/// The introspection request (RFC 7662 2.1) for an access token, authenticated the way the
/// client authenticates at the token endpoint (`client_secret_basic`, `client_secret_post`,
/// or `client_id` alone for a public client); JWT assertions need
/// [`introspection_request_with`].
pub fn introspection_request(
    introspection_endpoint: &str,
    client: &ClientMetadata,
    token: &str,
) -> Result<http::Request<Bytes>> {
    introspection_request_with(introspection_endpoint, &ClientAuth::new(client), token)
}

/// The introspection request, authenticated by `auth` (any method, JWT assertions included).
pub fn introspection_request_with(
    introspection_endpoint: &str,
    auth: &ClientAuth<'_>,
    token: &str,
) -> Result<http::Request<Bytes>> {
    auth.post_form(
        introspection_endpoint,
        vec![("token", token), ("token_type_hint", "access_token")],
    )
}

/// An introspection response (RFC 7662 2.2).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Every member of the response (`scope`, `client_id`, `sub`, `exp`, `aud`, `iss`, ...).
    pub claims: Map<String, Value>,
}

/// Parses the introspection endpoint's response: a JSON object with a boolean `active`.
pub fn parse_introspection_response(response: http::Response<Bytes>) -> Result<Introspection> {
    let body = wire::expect_success(Endpoint::Introspection, response)?;
    let claims: Map<String, Value> = wire::json(Endpoint::Introspection, &body)?;
    let Some(active) = claims.get("active").and_then(Value::as_bool) else {
        return Err(Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Introspection,
            reason: "`active` is missing or not a boolean".into(),
        }));
    };
    Ok(Introspection { active, claims })
}

/// What an introspection result is checked against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IntrospectionExpectations<'a> {
    /// The provider's issuer: an `iss` in the response must equal it.
    pub issuer: &'a str,
    /// The audience the token must be for, if any. With one, `aud` must be present and contain
    /// it; without one, `aud` is not looked at (it is optional in RFC 7662).
    pub audience: Option<&'a str>,
    /// Now, unix seconds.
    pub now: u64,
    /// Allowed clock skew, seconds.
    pub skew: u64,
}

impl<'a> IntrospectionExpectations<'a> {
    /// The expectations for tokens of `issuer`, for `audience` if given, at `now` give or take
    /// `skew` seconds (the type is `#[non_exhaustive]`, so that a later check can add an input with
    /// a default without a breaking change).
    pub fn new(issuer: &'a str, audience: Option<&'a str>, now: u64, skew: u64) -> Self {
        IntrospectionExpectations {
            issuer,
            audience,
            now,
            skew,
        }
    }
}

/// Checks an introspection result: active, not expired or not yet valid (by our clock too),
/// from the expected issuer, for the expected audience, and not a refresh token.
pub fn check_introspection(
    token: &str,
    result: &Introspection,
    expect: &IntrospectionExpectations<'_>,
) -> std::result::Result<TokenIdentity, BearerError> {
    let invalid = |why: &str| BearerError::InvalidToken(why.to_owned());
    if !result.active {
        return Err(invalid("the token is not active"));
    }
    let c = &result.claims;
    let num = |name: &str| c.get(name).and_then(Value::as_u64);
    if num("exp").is_some_and(|exp| expect.now > exp.saturating_add(expect.skew)) {
        return Err(invalid("the token has expired"));
    }
    if num("nbf").is_some_and(|nbf| nbf > expect.now.saturating_add(expect.skew)) {
        return Err(invalid("the token is not valid yet"));
    }
    if let Some(iss) = c.get("iss") {
        if iss.as_str() != Some(expect.issuer) {
            return Err(invalid("the token was issued by another issuer"));
        }
    }
    if let Some(token_type) = c.get("token_type").and_then(Value::as_str) {
        if token_type.eq_ignore_ascii_case("refresh_token") {
            return Err(invalid("a refresh token is not an access token"));
        }
    }
    if let Some(audience) = expect.audience {
        if !audiences_of(c).contains(&audience) {
            return Err(invalid("the token is not for this audience"));
        }
    }
    Ok(TokenIdentity::new(
        token,
        c.clone(),
        BearerValidation::Introspection,
    ))
}

/// A bounded map whose entries expire: at most `capacity` entries; when full, the entry that
/// expires first (an expired one, if any) makes room.
pub(crate) struct TtlCache<K, V> {
    inner: Mutex<TtlInner<K, V>>,
    capacity: usize,
}

struct TtlInner<K, V> {
    entries: HashMap<K, (u64, V)>,
    by_expiry: BTreeSet<(u64, K)>,
}

impl<K: Clone + Eq + Hash + Ord, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        TtlCache {
            inner: Mutex::new(TtlInner {
                entries: HashMap::new(),
                by_expiry: BTreeSet::new(),
            }),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TtlInner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value under `key`, if it has not expired at `now`.
    pub(crate) fn get(&self, key: &K, now: u64) -> Option<V> {
        let mut inner = self.lock();
        match inner.entries.get(key) {
            Some((expires, v)) if *expires > now => Some(v.clone()),
            Some(_) => {
                inner.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` until `expires_at` (nothing is stored when that is not after `now`, or
    /// when the capacity is zero).
    pub(crate) fn insert(&self, key: K, value: V, expires_at: u64, now: u64) {
        if expires_at <= now || self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.remove(&key);
        while inner.entries.len() >= self.capacity {
            let Some(first) = inner.by_expiry.iter().next().cloned() else {
                break;
            };
            inner.remove(&first.1);
        }
        inner.by_expiry.insert((expires_at, key.clone()));
        inner.entries.insert(key, (expires_at, value));
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

impl<K: Clone + Eq + Hash + Ord, V> TtlInner<K, V> {
    fn remove(&mut self, key: &K) {
        if let Some((expires, _)) = self.entries.remove(key) {
            self.by_expiry.remove(&(expires, key.clone()));
        }
    }
}

/// A bounded cache of introspection results, keyed by a SHA-256 hash of the provider's name
/// and the token.
pub struct IntrospectionCache {
    cache: TtlCache<[u8; 32], Arc<Introspection>>,
    ttl: u64,
}

impl std::fmt::Debug for IntrospectionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionCache")
            .field("len", &self.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl IntrospectionCache {
    /// A cache keeping each result at most `ttl` (zero disables caching), for at most
    /// `capacity` tokens.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        IntrospectionCache {
            cache: TtlCache::new(capacity),
            ttl: ttl.as_secs(),
        }
    }

    fn key(provider: &str, token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::new()
            .chain_update(provider.as_bytes())
            .chain_update([0])
            .chain_update(token.as_bytes())
            .finalize()
            .into()
    }

    /// The cached result for `token` at `provider`, if still fresh at `now`.
    pub fn get(&self, provider: &str, token: &str, now: u64) -> Option<Arc<Introspection>> {
        self.cache.get(&Self::key(provider, token), now)
    }

    /// Caches a result: for the TTL, and never past the token's `exp`.
    pub fn insert(&self, provider: &str, token: &str, result: Arc<Introspection>, now: u64) {
        let mut expires = now.saturating_add(self.ttl);
        if let Some(exp) = result.claims.get("exp").and_then(Value::as_u64) {
            expires = expires.min(exp);
        }
        self.cache
            .insert(Self::key(provider, token), result, expires, now);
    }

    /// How many results are held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::ClientAuthMethod;
    use crate::test_support::{form, resp};
    use serde_json::json;

    #[test]
    fn request_uses_client_authentication() {
        let c = ClientMetadata::new("id", "secret");
        let r = introspection_request("https://op/introspect", &c, "tok").unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert!(r.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Basic "));
        let f = form(&r);
        assert!(f.contains(&("token".into(), "tok".into())));
        assert!(f.contains(&("token_type_hint".into(), "access_token".into())));
        let c = c.with_auth_method(ClientAuthMethod::ClientSecretPost);
        let r = introspection_request("https://op/introspect", &c, "tok").unwrap();
        assert!(r.headers().get("authorization").is_none());
        assert!(form(&r).contains(&("client_secret".into(), "secret".into())));
        assert!(introspection_request("not a url", &c, "tok").is_err());
    }

    #[test]
    fn parses_responses() {
        let ok = parse_introspection_response(resp(200, r#"{"active":true,"sub":"a"}"#)).unwrap();
        assert!(ok.active);
        assert_eq!(ok.claims["sub"], "a");
        let inactive = parse_introspection_response(resp(200, r#"{"active":false}"#)).unwrap();
        assert!(!inactive.active);
        for bad in [r#"{"sub":"a"}"#, r#"{"active":"yes"}"#, "[]", "nope"] {
            assert!(
                matches!(
                    parse_introspection_response(resp(200, bad)),
                    Err(Error::Protocol(ProtocolError::MalformedResponse {
                        endpoint: Endpoint::Introspection,
                        ..
                    }))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_introspection_response(resp(401, r#"{"error":"invalid_client"}"#)),
            Err(Error::Provider(_))
        ));
        assert!(matches!(
            parse_introspection_response(resp(500, "<html>")),
            Err(Error::Protocol(ProtocolError::UnexpectedStatus { .. }))
        ));
    }

    fn result(claims: Value) -> Introspection {
        let claims = claims.as_object().unwrap().clone();
        Introspection {
            active: claims["active"].as_bool().unwrap(),
            claims,
        }
    }

    fn expect(audience: Option<&str>) -> IntrospectionExpectations<'_> {
        IntrospectionExpectations {
            issuer: "https://op",
            audience,
            now: 1000,
            skew: 30,
        }
    }

    #[test]
    fn checks() {
        let good = json!({"active": true, "iss": "https://op", "sub": "alice", "scope": "a b",
            "exp": 2000, "token_type": "Bearer"});
        let id = check_introspection("t", &result(good.clone()), &expect(None)).unwrap();
        assert_eq!(id.subject(), Some("alice"));
        assert_eq!(id.scopes, ["a", "b"]);
        assert_eq!(id.validation, BearerValidation::Introspection);
        // `aud` is optional: absent is fine when no audience is required...
        assert!(check_introspection("t", &result(good.clone()), &expect(None)).is_ok());
        // ...and required when one is.
        let mut with_aud = good.clone();
        with_aud["aud"] = json!(["api", "other"]);
        assert!(check_introspection("t", &result(with_aud.clone()), &expect(Some("api"))).is_ok());
        let cases = [
            (json!({"active": false}), None),
            (
                json!({"active": true, "exp": 900, "iss": "https://op"}),
                None,
            ),
            (json!({"active": true, "nbf": 1100}), None),
            (json!({"active": true, "iss": "https://evil"}), None),
            (json!({"active": true, "token_type": "refresh_token"}), None),
            (good.clone(), Some("api")),
            (with_aud.clone(), Some("elsewhere")),
        ];
        for (claims, aud) in cases {
            assert!(
                matches!(
                    check_introspection("t", &result(claims.clone()), &expect(aud)),
                    Err(BearerError::InvalidToken(_))
                ),
                "{claims} {aud:?}"
            );
        }
        // Expiry within the skew is tolerated.
        assert!(check_introspection(
            "t",
            &result(json!({"active": true, "exp": 980})),
            &expect(None)
        )
        .is_ok());
    }

    #[test]
    fn cache_is_bounded_and_expires() {
        let cache = IntrospectionCache::new(Duration::from_secs(60), 2);
        let r = Arc::new(result(json!({"active": true})));
        cache.insert("p", "t1", r.clone(), 100);
        assert!(cache.get("p", "t1", 159).is_some());
        assert!(cache.get("p", "t1", 160).is_none(), "TTL");
        assert!(cache.get("q", "t1", 100).is_none(), "keyed by provider");
        cache.insert("p", "t1", r.clone(), 100);
        cache.insert("p", "t2", r.clone(), 101);
        cache.insert("p", "t3", r.clone(), 102);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("p", "t1", 102).is_none(), "first to expire went");
        assert!(cache.get("p", "t3", 102).is_some());
        // Never past the token's expiry.
        let short = Arc::new(result(json!({"active": true, "exp": 110})));
        cache.insert("p", "t4", short, 100);
        assert!(cache.get("p", "t4", 109).is_some());
        assert!(cache.get("p", "t4", 110).is_none());
        // A TTL of zero caches nothing; nor does a zero capacity.
        let off = IntrospectionCache::new(Duration::ZERO, 10);
        off.insert("p", "t", r.clone(), 100);
        assert!(off.is_empty());
        let none = IntrospectionCache::new(Duration::from_secs(60), 0);
        none.insert("p", "t", r, 100);
        assert!(none.is_empty());
        assert!(format!("{cache:?}").contains("len"));
    }

    /// `exp` and `nbf` are judged to the second with the skew (now = 1000, skew = 30): `exp`
    /// 970 and `nbf` 1030 pass, one second beyond each is refused. An issuer that is not a
    /// string is refused too, and a refresh token in any case.
    #[test]
    fn time_checks_at_the_boundary_second() {
        let run = |claims: Value| check_introspection("t", &result(claims), &expect(None));
        assert!(run(json!({"active": true, "exp": 970})).is_ok());
        assert!(run(json!({"active": true, "exp": 969})).is_err());
        assert!(run(json!({"active": true, "nbf": 1030})).is_ok());
        assert!(run(json!({"active": true, "nbf": 1031})).is_err());
        assert!(run(json!({"active": true, "iss": 7})).is_err());
        assert!(run(json!({"active": true, "token_type": "Refresh_Token"})).is_err());
        let id = run(json!({"active": true, "client_id": "c"})).unwrap();
        assert_eq!(id.token.expose(), "t");
        assert_eq!(id.client_id(), Some("c"));
    }

    /// Nothing is cached that expires by `now`; a cached token is replaced in place (the
    /// others stay) and the newest result counts; a full cache evicts the entry that expires
    /// first, not the oldest inserted.
    #[test]
    fn the_cache_keeps_what_lives_longest() {
        let cache = TtlCache::new(2);
        cache.insert("a", 1, 100, 100);
        assert_eq!(cache.len(), 0, "expires now: not stored");
        cache.insert("a", 1, 200, 100);
        cache.insert("b", 2, 150, 100);
        cache.insert("a", 3, 300, 100);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"a", 100), Some(3));
        assert_eq!(cache.get(&"b", 100), Some(2));
        cache.insert("c", 4, 400, 100);
        assert_eq!(cache.get(&"b", 100), None, "b expires first");
        assert_eq!(cache.get(&"a", 100), Some(3));
        assert_eq!(cache.get(&"c", 100), Some(4));
        // An expired entry read is dropped.
        assert_eq!(cache.get(&"a", 300), None);
        assert_eq!(cache.len(), 1);
        let ic = IntrospectionCache::new(Duration::from_secs(60), 4);
        assert!(ic.is_empty());
        ic.insert("p", "t", Arc::new(result(json!({"active": true}))), 100);
        assert!(!ic.is_empty());
        assert_eq!(ic.len(), 1);
        assert!(format!("{ic:?}").contains("ttl: 60"));
    }
}
