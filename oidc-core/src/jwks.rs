//! The provider's JSON Web Key Set: fetching, parsing, and choosing the key for a token.
//!
//! Verifiers are built once per key and algorithm and reused, so validating a token costs one
//! signature check, not a key parse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;

use crate::error::{Endpoint, Error, IdTokenError, ProtocolError, Result};
use crate::wire;

/// Keys smaller than this are refused (RFC 7518 3.3).
const MIN_RSA_BITS: usize = 2048;

/// Verifiers built so far, by key index, algorithm, and whether the token names no key.
type VerifierCache = HashMap<(usize, &'static str, bool), KeyVerifier>;

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
        let keys = doc
            .keys
            .into_iter()
            .filter_map(|m| Jwk::from_map(m).ok())
            .collect();
        Ok(JwkSet {
            keys,
            fetched_at,
            verifiers: Mutex::new(HashMap::new()),
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
        let fits = |k: &&Jwk| {
            key_fits(k, alg)
                && k.key_use().is_none_or(|u| u == "sig")
                && k.algorithm().is_none_or(|a| a == alg)
        };
        let mut candidates = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| fits(k))
            .filter(|(_, k)| kid.is_none() || k.key_id() == kid);
        let (index, jwk) = match (candidates.next(), candidates.next(), kid) {
            (None, _, _) => return Err(IdTokenError::UnknownKey),
            (Some(one), None, _) => one,
            // Several keys with the same kid: take the first; without a kid it is ambiguous.
            (Some(first), Some(_), Some(_)) => first,
            (Some(_), Some(_), None) => return Err(IdTokenError::AmbiguousKey),
        };
        let mut cache = self.verifiers.lock().unwrap_or_else(|p| p.into_inner());
        let cache_key = (index, alg, kid.is_none());
        if let Some(v) = cache.get(&cache_key) {
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
        cache.insert(cache_key, verifier.clone());
        Ok(verifier)
    }
}

fn key_fits(k: &Jwk, alg: &str) -> bool {
    match (k.key_type(), alg) {
        ("RSA", a) if a.starts_with("RS") || a.starts_with("PS") => true,
        ("EC", "ES256") => k.curve() == Some("P-256"),
        ("EC", "ES384") => k.curve() == Some("P-384"),
        ("EC", "ES512") => k.curve() == Some("P-521"),
        ("OKP", "EdDSA") => matches!(k.curve(), Some("Ed25519") | Some("Ed448")),
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

    fn rsa_jwk(kid: &str, bits: u32) -> Jwk {
        let pair = RS256.generate_key_pair(bits).unwrap();
        let mut jwk = pair.to_jwk_public_key();
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
}
