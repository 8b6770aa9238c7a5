//! The provider's JSON Web Key Set: fetching, parsing, and choosing the key for a token.
//!
//! Verifiers are built once per key and algorithm and reused, so validating a token costs one
//! signature check, not a key parse.
//!
//! ## When the key set is fetched
//! One [`KeyCache`] per provider decides, for every path that validates a signature (login,
//! refresh, bearer tokens), whether to use the cached set, fetch it, or refuse without a
//! fetch. Anyone can make the app validate a token (a forged front-channel ID token, a bearer
//! token), so a token naming an unknown `kid` must not be able to buy an outbound call each:
//!
//! - every set fetched is kept, whatever became of the attempt that fetched it;
//! - a fetch because of an unknown `kid` is allowed only when the last *attempt* (successful or
//!   not) is at least [`KeyFetchPolicy::refetch_interval`] old, so a flood costs one fetch per
//!   interval, and a provider's key rotation is still seen within that interval;
//! - a failed fetch is remembered for the same interval and its error returned meanwhile;
//! - a set older than [`JWKS_MAX_AGE`] is fetched again before use, so that a key the
//!   provider withdrew stops being trusted.
//!
//! The cache is pure (the caller passes `now`); the relying party serialises the fetches it
//! allows, so that concurrent requests wait for one fetch instead of each making their own.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;

use crate::error::{Endpoint, Error, IdTokenError, ProtocolError, Result};
use crate::wire;

/// Keys smaller than this are refused (RFC 7518 3.3).
const MIN_RSA_BITS: usize = 2048;

/// A cached key set older than this (seconds) is fetched again before use, so that a key the
/// provider withdrew stops being trusted.
pub const JWKS_MAX_AGE: u64 = 300;

/// The default [`KeyFetchPolicy::refetch_interval`], seconds.
pub const DEFAULT_REFETCH_INTERVAL: u64 = 5;

/// How one provider's key set is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyFetchPolicy {
    /// Seconds that must pass after a fetch attempt before a token with an unknown `kid` may
    /// cause another, and for which a failed attempt is remembered (and not retried).
    pub refetch_interval: u64,
    /// Seconds after which a cached set is fetched again before use.
    pub max_age: u64,
}

impl Default for KeyFetchPolicy {
    fn default() -> Self {
        KeyFetchPolicy {
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            max_age: JWKS_MAX_AGE,
        }
    }
}

/// One fetch of the key set and how it went, as a validation reports it to the owner of the
/// provider's [`KeyCache`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyFetch {
    /// When it was attempted, unix seconds.
    pub at: u64,
    /// The set fetched, or why there is none.
    pub outcome: std::result::Result<Arc<JwkSet>, Error>,
}

impl KeyFetch {
    /// The outcome of a JWKS request attempted at `at` (unix seconds), from the transport's
    /// answer.
    pub fn from_response(
        at: u64,
        response: std::result::Result<http::Response<Bytes>, crate::error::TransportError>,
    ) -> Self {
        let outcome = match response {
            Ok(r) => parse_jwks_response(r, at).map(Arc::new),
            Err(source) => Err(Error::Transport {
                endpoint: Endpoint::Jwks,
                source,
            }),
        };
        KeyFetch { at, outcome }
    }
}

/// What a validation should do for keys, as [`KeyCache`] answers it.
///
/// Not `#[non_exhaustive]`: like [`Action`](crate::Action), each decision is one the caller
/// must carry out, so a decision added later must break its `match`.
#[derive(Debug, Clone)]
pub enum KeyDecision {
    /// Validate with this set.
    Use(Arc<JwkSet>),
    /// Fetch the set now (and [`record`](KeyCache::record) the outcome).
    Fetch,
    /// Do not fetch: the last attempt is too recent. The token's key is unknown.
    Throttled,
    /// Do not fetch: the last attempt, too recent to retry, failed with this error.
    RecentlyFailed(Error),
}

/// One provider's key set and the history of its fetches: the fetch policy, written once for
/// every path that validates a signature. Pure: `now` is always the caller's.
#[derive(Debug, Clone)]
pub struct KeyCache {
    policy: KeyFetchPolicy,
    set: Option<Arc<JwkSet>>,
    /// The last attempt's time, and its error if it failed.
    last_attempt: Option<(u64, Option<Error>)>,
    /// How many attempts were recorded, so that a caller that waited for another's fetch can
    /// tell that one happened.
    attempts: u64,
}

impl KeyCache {
    /// An empty cache: the first validation fetches.
    pub fn new(policy: KeyFetchPolicy) -> Self {
        KeyCache {
            policy,
            set: None,
            last_attempt: None,
            attempts: 0,
        }
    }

    /// The policy.
    pub fn policy(&self) -> KeyFetchPolicy {
        self.policy
    }

    /// How many fetch attempts were recorded so far.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// The cached set, whatever its age.
    pub fn set(&self) -> Option<&Arc<JwkSet>> {
        self.set.as_ref()
    }

    /// The error of the last attempt if it failed less than the refetch interval ago.
    fn recent_failure(&self, now: u64) -> Option<&Error> {
        match &self.last_attempt {
            Some((at, Some(e))) if self.recent(*at, now) => Some(e),
            _ => None,
        }
    }

    fn recent(&self, at: u64, now: u64) -> bool {
        now.saturating_sub(at) < self.policy.refetch_interval
    }

    /// The keys to validate a token with: the cached set while it is younger than the maximum
    /// age; else a fetch, unless the last attempt failed within the refetch interval.
    pub fn current(&self, now: u64) -> KeyDecision {
        match &self.set {
            Some(set) if now.saturating_sub(set.fetched_at()) < self.policy.max_age => {
                KeyDecision::Use(set.clone())
            }
            _ => match self.recent_failure(now) {
                Some(e) => KeyDecision::RecentlyFailed(e.clone()),
                None => KeyDecision::Fetch,
            },
        }
    }

    /// What to do when a token names a key that `tried` lacks: use a newer cached set if there
    /// is one (another request fetched it meanwhile); else fetch, unless the last attempt is
    /// younger than the refetch interval.
    pub fn after_unknown_kid(&self, now: u64, tried: &Arc<JwkSet>) -> KeyDecision {
        if let Some(set) = &self.set {
            if !Arc::ptr_eq(set, tried)
                && set.fetched_at() >= tried.fetched_at()
                && now.saturating_sub(set.fetched_at()) < self.policy.max_age
            {
                return KeyDecision::Use(set.clone());
            }
        }
        match &self.last_attempt {
            Some((at, failure)) if self.recent(*at, now) => match failure {
                Some(e) => KeyDecision::RecentlyFailed(e.clone()),
                None => KeyDecision::Throttled,
            },
            _ => KeyDecision::Fetch,
        }
    }

    /// Records the answer to a JWKS request a login or refresh machine sent: into this cache
    /// and into `log` (for the caller's shared cache), whatever the token turns out to be.
    /// Returns the fetch's error, if it failed.
    pub(crate) fn record_answer(
        &mut self,
        now: u64,
        response: std::result::Result<http::Response<Bytes>, crate::error::TransportError>,
        log: &mut Vec<KeyFetch>,
    ) -> Option<Error> {
        let fetch = KeyFetch::from_response(now, response);
        self.record(&fetch);
        let failure = fetch.outcome.as_ref().err().cloned();
        log.push(fetch);
        failure
    }

    /// Records a fetch attempt: its set is kept (a set is never thrown away because the token
    /// that caused the fetch was bad), its failure remembered.
    pub fn record(&mut self, fetch: &KeyFetch) {
        self.attempts += 1;
        let newer = self
            .last_attempt
            .as_ref()
            .is_none_or(|(at, _)| fetch.at >= *at);
        match &fetch.outcome {
            Ok(set) => {
                if self
                    .set
                    .as_ref()
                    .is_none_or(|s| set.fetched_at() >= s.fetched_at())
                {
                    self.set = Some(set.clone());
                }
                if newer {
                    self.last_attempt = Some((fetch.at, None));
                }
            }
            Err(e) => {
                if newer {
                    self.last_attempt = Some((fetch.at, Some(e.clone())));
                }
            }
        }
    }
}

/// Verifiers built so far, by key index, algorithm, and whether the token names no key: a
/// handful at most (the set's signing keys times the allowed algorithms), found by a scan,
/// which costs less per token than hashing the key.
type VerifierCache = Vec<((usize, &'static str, bool), KeyVerifier)>;

/// What choosing a key reads of each key, read once when the set is parsed: looking these up
/// in the key's JSON map for every token cost more than the rest of the choice.
struct KeyFacts {
    kty: String,
    crv: Option<String>,
    key_use: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
}

impl KeyFacts {
    fn of(k: &Jwk) -> Self {
        KeyFacts {
            kty: k.key_type().to_owned(),
            crv: k.curve().map(str::to_owned),
            key_use: k.key_use().map(str::to_owned),
            alg: k.algorithm().map(str::to_owned),
            kid: k.key_id().map(str::to_owned),
        }
    }

    /// Whether the key may verify a token signed with `alg`: its type and curve fit, and
    /// neither its `use` nor its `alg` says otherwise.
    fn fits(&self, alg: &str) -> bool {
        key_fits(&self.kty, self.crv.as_deref(), alg)
            && self.key_use.as_deref().is_none_or(|u| u == "sig")
            && self.alg.as_deref().is_none_or(|a| a == alg)
    }
}

/// The verifier for one key and algorithm, and the key's curve: for `EdDSA` the curve, not the
/// algorithm, decides the `at_hash` / `c_hash` hash (SHA-512 for Ed25519, SHAKE256 for Ed448).
#[derive(Clone)]
pub(crate) struct KeyVerifier {
    /// Checks the signature.
    pub(crate) verifier: Arc<dyn JwsVerifier>,
    /// `Ed25519` or `Ed448` for OKP keys, else `None`.
    pub(crate) curve: Option<&'static str>,
}

/// A parsed key set, with the time it was fetched.
pub struct JwkSet {
    keys: Vec<Jwk>,
    /// `keys[i]`'s facts at `facts[i]`.
    facts: Vec<KeyFacts>,
    fetched_at: u64,
    verifiers: Mutex<VerifierCache>,
}

impl std::fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwkSet")
            .field("keys", &self.keys.len())
            .field("fetched_at", &self.fetched_at)
            .finish()
    }
}

/// The request that fetches the key set.
pub fn jwks_request(jwks_uri: &str) -> Result<http::Request<Bytes>> {
    wire::get(jwks_uri, None)
}

/// Parses a JWKS response fetched at `now` (unix seconds).
pub fn parse_jwks_response(response: http::Response<Bytes>, now: u64) -> Result<JwkSet> {
    let body = wire::expect_success(Endpoint::Jwks, response)?;
    JwkSet::from_json(&body, now).map_err(|reason| {
        Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Jwks,
            reason,
        })
    })
}

impl JwkSet {
    /// Parses a JWKS document. Keys that josekit cannot read are skipped, not fatal: providers
    /// publish encryption keys and new key types next to the signing keys we need.
    pub fn from_json(body: &[u8], fetched_at: u64) -> std::result::Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Map<String, serde_json::Value>>,
        }
        let doc: Doc = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let keys: Vec<Jwk> = doc
            .keys
            .into_iter()
            .filter_map(|m| Jwk::from_map(m).ok())
            .collect();
        Ok(JwkSet {
            facts: keys.iter().map(KeyFacts::of).collect(),
            keys,
            fetched_at,
            verifiers: Mutex::new(Vec::new()),
        })
    }

    /// When the set was fetched (unix seconds).
    pub fn fetched_at(&self) -> u64 {
        self.fetched_at
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The verifier for a token signed with `alg` and carrying `kid`, per the rules: with a
    /// `kid`, the key with that id; without one, the only key that fits, else an error.
    pub(crate) fn verifier(
        &self,
        alg: &'static str,
        kid: Option<&str>,
    ) -> std::result::Result<KeyVerifier, IdTokenError> {
        let mut candidates = self
            .facts
            .iter()
            .enumerate()
            .filter(|(_, k)| k.fits(alg))
            .filter(|(_, k)| kid.is_none() || k.kid.as_deref() == kid);
        let (index, _) = match (candidates.next(), candidates.next(), kid) {
            (None, _, _) => return Err(IdTokenError::UnknownKey),
            (Some(one), None, _) => one,
            // Several keys with the same kid: take the first; without a kid it is ambiguous.
            (Some(first), Some(_), Some(_)) => first,
            (Some(_), Some(_), None) => return Err(IdTokenError::AmbiguousKey),
        };
        let jwk = &self.keys[index];
        let mut cache = self.verifiers.lock().unwrap_or_else(|p| p.into_inner());
        let cache_key = (index, alg, kid.is_none());
        if let Some((_, v)) = cache.iter().find(|(k, _)| *k == cache_key) {
            return Ok(v.clone());
        }
        // josekit makes a verifier built from a JWK with a `kid` demand that `kid` in every
        // token; a token without one was matched above as the only key that fits, so the key's
        // id must not be required again.
        let verifier = if kid.is_none() && jwk.key_id().is_some() {
            let mut map = jwk.as_ref().clone();
            map.remove("kid");
            let anonymous = Jwk::from_map(map).map_err(|_| IdTokenError::UnknownKey)?;
            build_verifier(&anonymous, alg)?
        } else {
            build_verifier(jwk, alg)?
        };
        let curve = match jwk.curve() {
            Some("Ed25519") if jwk.key_type() == "OKP" => Some("Ed25519"),
            Some("Ed448") if jwk.key_type() == "OKP" => Some("Ed448"),
            _ => None,
        };
        let verifier = KeyVerifier { verifier, curve };
        cache.push((cache_key, verifier.clone()));
        Ok(verifier)
    }
}

fn key_fits(kty: &str, crv: Option<&str>, alg: &str) -> bool {
    match (kty, alg) {
        ("RSA", a) if a.starts_with("RS") || a.starts_with("PS") => true,
        ("EC", "ES256") => crv == Some("P-256"),
        ("EC", "ES384") => crv == Some("P-384"),
        ("EC", "ES512") => crv == Some("P-521"),
        ("OKP", "EdDSA") => matches!(crv, Some("Ed25519") | Some("Ed448")),
        _ => false,
    }
}

/// The exact bit length of a big-endian modulus: counting whole bytes would let a 2041-bit
/// key pass as 2048.
fn rsa_modulus_bits(n: &[u8]) -> usize {
    match n.iter().position(|b| *b != 0) {
        Some(i) => (n.len() - i - 1) * 8 + (8 - n[i].leading_zeros() as usize),
        None => 0,
    }
}

fn build_verifier(
    jwk: &Jwk,
    alg: &'static str,
) -> std::result::Result<Arc<dyn JwsVerifier>, IdTokenError> {
    use josekit::jws;
    if jwk.key_type() == "RSA" {
        let bits = jwk
            .parameter("n")
            .and_then(|n| n.as_str())
            .map(|n| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(n.trim_end_matches('='))
                    .map(|b| rsa_modulus_bits(&b))
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if bits < MIN_RSA_BITS {
            return Err(IdTokenError::UnknownKey);
        }
    }
    let bad = |_| IdTokenError::UnknownKey;
    let v: Arc<dyn JwsVerifier> = match alg {
        "RS256" => Arc::new(jws::RS256.verifier_from_jwk(jwk).map_err(bad)?),
        "RS384" => Arc::new(jws::RS384.verifier_from_jwk(jwk).map_err(bad)?),
        "RS512" => Arc::new(jws::RS512.verifier_from_jwk(jwk).map_err(bad)?),
        "PS256" => Arc::new(jws::PS256.verifier_from_jwk(jwk).map_err(bad)?),
        "PS384" => Arc::new(jws::PS384.verifier_from_jwk(jwk).map_err(bad)?),
        "PS512" => Arc::new(jws::PS512.verifier_from_jwk(jwk).map_err(bad)?),
        "ES256" => Arc::new(jws::ES256.verifier_from_jwk(jwk).map_err(bad)?),
        "ES384" => Arc::new(jws::ES384.verifier_from_jwk(jwk).map_err(bad)?),
        "ES512" => Arc::new(jws::ES512.verifier_from_jwk(jwk).map_err(bad)?),
        "EdDSA" => Arc::new(jws::EdDSA.verifier_from_jwk(jwk).map_err(bad)?),
        other => return Err(IdTokenError::AlgorithmNotAllowed(other.to_owned())),
    };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::RS256;

    /// A public RSA key of `bits` bits named `kid`. One key per size, generated once: only the
    /// names and the sizes matter to these tests, and `cargo xtask mutants` runs them once per
    /// mutant.
    fn rsa_jwk(kid: &str, bits: u32) -> Jwk {
        type Made = Mutex<std::collections::HashMap<u32, Jwk>>;
        static MADE: std::sync::OnceLock<Made> = std::sync::OnceLock::new();
        let mut made = MADE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut jwk = made
            .entry(bits)
            .or_insert_with(|| RS256.generate_key_pair(bits).unwrap().to_jwk_public_key())
            .clone();
        jwk.set_key_id(kid);
        jwk
    }

    fn set(keys: Vec<Jwk>) -> JwkSet {
        let doc = serde_json::json!({ "keys": keys.iter().map(|k| k.as_ref().clone()).collect::<Vec<_>>() });
        JwkSet::from_json(doc.to_string().as_bytes(), 0).unwrap()
    }

    #[test]
    fn picks_by_kid_and_refuses_unknown() {
        let s = set(vec![rsa_jwk("a", 2048), rsa_jwk("b", 2048)]);
        assert!(s.verifier("RS256", Some("a")).is_ok());
        assert!(matches!(
            s.verifier("RS256", Some("zzz")),
            Err(IdTokenError::UnknownKey)
        ));
        assert!(matches!(
            s.verifier("RS256", None),
            Err(IdTokenError::AmbiguousKey)
        ));
        assert!(matches!(
            s.verifier("ES256", Some("a")),
            Err(IdTokenError::UnknownKey)
        ));
    }

    #[test]
    fn single_key_without_kid() {
        let s = set(vec![rsa_jwk("a", 2048)]);
        assert!(s.verifier("RS256", None).is_ok());
        // Cached the second time.
        assert!(s.verifier("RS256", None).is_ok());
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        use base64::Engine;
        let rsa = openssl::rsa::Rsa::generate(1024).unwrap();
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let doc = serde_json::json!({"keys": [{"kty": "RSA", "kid": "a",
            "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec())}]});
        let s = JwkSet::from_json(doc.to_string().as_bytes(), 0).unwrap();
        assert!(matches!(
            s.verifier("RS256", Some("a")),
            Err(IdTokenError::UnknownKey)
        ));
    }

    /// Key size is counted in bits: a 2047-bit modulus (256 bytes, like a 2048-bit one) is
    /// refused, a 2048-bit one accepted.
    #[test]
    fn rsa_key_size_is_counted_in_bits() {
        use base64::Engine;
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let with_bits = |bits: u32| {
            let rsa = openssl::rsa::Rsa::generate(bits).unwrap();
            assert_eq!(rsa.n().num_bits(), bits as i32);
            let doc = serde_json::json!({"keys": [{"kty": "RSA", "kid": "a",
                "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec())}]});
            JwkSet::from_json(doc.to_string().as_bytes(), 0).unwrap()
        };
        assert!(matches!(
            with_bits(2047).verifier("RS256", Some("a")),
            Err(IdTokenError::UnknownKey)
        ));
        assert!(with_bits(2048).verifier("RS256", Some("a")).is_ok());
        assert_eq!(rsa_modulus_bits(&[0, 0x01, 0xff]), 9);
        assert_eq!(rsa_modulus_bits(&[0x80, 0]), 16);
        assert_eq!(rsa_modulus_bits(&[0, 0]), 0);
    }

    fn fetched(at: u64) -> KeyFetch {
        KeyFetch {
            at,
            outcome: Ok(Arc::new(set_at(at))),
        }
    }

    fn set_at(at: u64) -> JwkSet {
        JwkSet::from_json(br#"{"keys":[]}"#, at).unwrap()
    }

    fn failed(at: u64) -> KeyFetch {
        KeyFetch {
            at,
            outcome: Err(Error::Transport {
                endpoint: Endpoint::Jwks,
                source: crate::error::TransportError::Timeout,
            }),
        }
    }

    fn policy() -> KeyFetchPolicy {
        KeyFetchPolicy {
            refetch_interval: 5,
            max_age: 300,
        }
    }

    #[test]
    fn key_cache_fresh_and_stale() {
        let mut c = KeyCache::new(policy());
        assert!(
            matches!(c.current(1000), KeyDecision::Fetch),
            "empty: fetch"
        );
        c.record(&fetched(1000));
        assert_eq!(c.attempts(), 1);
        let KeyDecision::Use(s) = c.current(1299) else {
            panic!("fresh: use")
        };
        assert_eq!(s.fetched_at(), 1000);
        // At the maximum age the set is fetched again before use, even right after a
        // throttled unknown kid.
        assert!(matches!(c.current(1300), KeyDecision::Fetch));
    }

    #[test]
    fn key_cache_unknown_kid_is_throttled_on_the_last_attempt() {
        let mut c = KeyCache::new(policy());
        c.record(&fetched(1000));
        let tried = c.set().unwrap().clone();
        assert!(matches!(
            c.after_unknown_kid(1004, &tried),
            KeyDecision::Throttled
        ));
        assert!(matches!(
            c.after_unknown_kid(1005, &tried),
            KeyDecision::Fetch
        ));
        // The attempt at 1005 counts even though its set is no better: the next is at 1010.
        c.record(&fetched(1005));
        let tried = c.set().unwrap().clone();
        assert_eq!(tried.fetched_at(), 1005, "every fetched set is kept");
        assert!(matches!(
            c.after_unknown_kid(1009, &tried),
            KeyDecision::Throttled
        ));
        assert!(matches!(
            c.after_unknown_kid(1010, &tried),
            KeyDecision::Fetch
        ));
    }

    #[test]
    fn key_cache_offers_a_newer_set_fetched_meanwhile() {
        let mut c = KeyCache::new(policy());
        c.record(&fetched(1000));
        let old = c.set().unwrap().clone();
        c.record(&fetched(1001));
        let KeyDecision::Use(newer) = c.after_unknown_kid(1001, &old) else {
            panic!("a newer set: use it")
        };
        assert_eq!(newer.fetched_at(), 1001);
        assert!(matches!(
            c.after_unknown_kid(1001, &newer),
            KeyDecision::Throttled
        ));
        // An older set reported late does not replace the newer one.
        c.record(&fetched(999));
        assert_eq!(c.set().unwrap().fetched_at(), 1001);
    }

    #[test]
    fn key_cache_failure_is_cached_then_retried() {
        let mut c = KeyCache::new(policy());
        c.record(&failed(1000));
        assert!(matches!(
            c.current(1004),
            KeyDecision::RecentlyFailed(Error::Transport { .. })
        ));
        assert!(matches!(c.current(1005), KeyDecision::Fetch));
        // Success after failure clears it.
        c.record(&fetched(1005));
        assert!(matches!(c.current(1005), KeyDecision::Use(_)));
        // A failed refetch keeps the good set, and refuses refetches for the interval.
        let tried = c.set().unwrap().clone();
        c.record(&failed(1010));
        assert!(matches!(c.current(1011), KeyDecision::Use(_)));
        assert!(matches!(
            c.after_unknown_kid(1011, &tried),
            KeyDecision::RecentlyFailed(_)
        ));
        assert!(matches!(
            c.after_unknown_kid(1015, &tried),
            KeyDecision::Fetch
        ));
        // A stale set with a recent failure: no fetch, the failure.
        assert!(matches!(c.current(1305), KeyDecision::Fetch));
        c.record(&failed(1305));
        assert!(matches!(c.current(1306), KeyDecision::RecentlyFailed(_)));
    }

    #[test]
    fn key_fetch_from_response() {
        let ok = http::Response::builder()
            .status(200)
            .body(Bytes::from_static(br#"{"keys":[]}"#))
            .unwrap();
        assert_eq!(
            KeyFetch::from_response(7, Ok(ok))
                .outcome
                .unwrap()
                .fetched_at(),
            7
        );
        assert!(matches!(
            KeyFetch::from_response(7, Err(crate::error::TransportError::Timeout)).outcome,
            Err(Error::Transport {
                endpoint: Endpoint::Jwks,
                ..
            })
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        let resp = http::Response::builder()
            .status(200)
            .body(Bytes::from_static(b"{\"nokeys\":1}"))
            .unwrap();
        assert!(matches!(
            parse_jwks_response(resp, 0),
            Err(Error::Protocol(ProtocolError::MalformedResponse { .. }))
        ));
    }

    #[test]
    fn unreadable_keys_are_skipped() {
        let doc = br#"{"keys":[{"kty":"weird"},{"kty":"RSA"}]}"#;
        let s = JwkSet::from_json(doc, 5).unwrap();
        assert_eq!(s.fetched_at(), 5);
        assert!(s.verifier("RS256", None).is_err());
    }

    fn ec_jwk(alg: &josekit::jws::alg::ecdsa::EcdsaJwsAlgorithm, kid: Option<&str>) -> Jwk {
        let mut jwk = alg.generate_key_pair().unwrap().to_jwk_public_key();
        if let Some(kid) = kid {
            jwk.set_key_id(kid);
        }
        jwk
    }

    /// Each EC algorithm takes only its own curve: P-256 for ES256, P-384 for ES384, P-521
    /// for ES512; an RSA key never serves an EC algorithm, so a kid-less EC token is not made
    /// ambiguous by an RSA key beside it.
    #[test]
    fn ec_algorithms_take_only_their_curve() {
        use josekit::jws::{ES256, ES384, ES512};
        let s = set(vec![
            ec_jwk(&ES256, Some("p256")),
            ec_jwk(&ES384, Some("p384")),
            ec_jwk(&ES512, Some("p521")),
        ]);
        for (alg, kid) in [("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521")] {
            assert!(s.verifier(alg, Some(kid)).is_ok(), "{alg}");
            for other in ["p256", "p384", "p521"].into_iter().filter(|k| *k != kid) {
                assert_eq!(
                    s.verifier(alg, Some(other)).err(),
                    Some(IdTokenError::UnknownKey),
                    "{alg} with {other}"
                );
            }
        }
        let mixed = set(vec![rsa_jwk("r", 2048), ec_jwk(&ES256, None)]);
        assert!(mixed.verifier("ES256", None).is_ok());
        assert!(mixed.verifier("RS256", None).is_ok());
        assert_eq!(mixed.len(), 2);
        assert!(!mixed.is_empty());
        assert!(set(vec![]).is_empty());
    }

    /// Keys published without `alg` (as many providers publish them) are told apart by type
    /// and curve alone: a token without `kid` takes the only key of its algorithm's type (and
    /// curve), neither an RSA key for an EC algorithm nor an EC key of another curve, and no
    /// key at all for an algorithm none of them serves.
    #[test]
    fn keys_without_alg_fit_by_type_and_curve() {
        use josekit::jws::{ES256, ES384};
        let bare = |k: Jwk| {
            let mut map = k.as_ref().clone();
            map.remove("alg");
            Jwk::from_map(map).unwrap()
        };
        let s = set(vec![
            bare(rsa_jwk("r", 2048)),
            bare(ec_jwk(&ES256, None)),
            bare(ec_jwk(&ES384, None)),
        ]);
        for alg in ["RS256", "PS384", "ES256", "ES384"] {
            assert!(s.verifier(alg, None).is_ok(), "{alg}");
        }
        for alg in ["ES512", "EdDSA"] {
            assert_eq!(
                s.verifier(alg, None).err(),
                Some(IdTokenError::UnknownKey),
                "{alg}"
            );
        }
    }

    /// A key published for encryption (`use: enc`) or for another algorithm (`alg`) never
    /// verifies a signature, even under the token's `kid`.
    #[test]
    fn keys_for_another_use_or_algorithm_are_not_used() {
        let mut enc = rsa_jwk("a", 2048);
        enc.set_key_use("enc");
        let mut rs384 = rsa_jwk("b", 2048);
        rs384.set_algorithm("RS384");
        let mut sig = rsa_jwk("c", 2048);
        sig.set_key_use("sig");
        sig.set_algorithm("RS256");
        let s = set(vec![enc, rs384, sig]);
        assert_eq!(
            s.verifier("RS256", Some("a")).err(),
            Some(IdTokenError::UnknownKey)
        );
        assert_eq!(
            s.verifier("RS256", Some("b")).err(),
            Some(IdTokenError::UnknownKey)
        );
        assert!(s.verifier("RS384", Some("b")).is_ok());
        assert!(s.verifier("RS256", Some("c")).is_ok());
        // Without a kid the only RS256 key fits.
        assert!(s.verifier("RS256", None).is_ok());
    }

    /// The cache reports its policy and counts every attempt; the JWKS request is a GET of
    /// the configured URI; a set's `Debug` shows its size, not its keys.
    #[test]
    fn key_cache_accessors_and_request() {
        let custom = KeyFetchPolicy {
            refetch_interval: 7,
            max_age: 60,
        };
        let mut c = KeyCache::new(custom);
        assert_eq!(c.policy(), custom);
        c.record(&fetched(1000));
        c.record(&failed(1001));
        assert_eq!(c.attempts(), 2);
        let r = jwks_request("https://op/jwks?x=1").unwrap();
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(r.uri(), "https://op/jwks?x=1");
        let shown = format!("{:?}", set_at(9));
        assert!(
            shown.contains("keys: 0") && shown.contains("fetched_at: 9"),
            "{shown}"
        );
    }

    /// An attempt reported late (older than the last one recorded) does not become the last
    /// attempt: a late failure does not block refetches, and the throttle still counts from the
    /// newer success.
    #[test]
    fn key_cache_ignores_late_older_attempts() {
        let mut c = KeyCache::new(policy());
        c.record(&fetched(1000));
        c.record(&failed(999));
        let tried = c.set().unwrap().clone();
        assert!(matches!(c.current(1001), KeyDecision::Use(_)));
        assert!(matches!(
            c.after_unknown_kid(1004, &tried),
            KeyDecision::Throttled
        ));
        assert!(matches!(
            c.after_unknown_kid(1005, &tried),
            KeyDecision::Fetch
        ));
    }

    /// A newer set fetched meanwhile is offered after an unknown `kid` only while it is
    /// younger than the maximum age; a stale one is fetched again instead.
    #[test]
    fn key_cache_does_not_offer_a_stale_newer_set() {
        let mut c = KeyCache::new(policy());
        c.record(&fetched(1000));
        let tried = c.set().unwrap().clone();
        c.record(&fetched(1001));
        assert!(matches!(
            c.after_unknown_kid(1300, &tried),
            KeyDecision::Use(_)
        ));
        assert!(matches!(
            c.after_unknown_kid(1301, &tried),
            KeyDecision::Fetch
        ));
    }
}
