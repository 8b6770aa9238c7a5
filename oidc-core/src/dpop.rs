//! DPoP, OAuth 2.0 Demonstrating Proof of Possession (RFC 9449): access tokens bound to a key
//! pair, so that a stolen token is useless without the key.
//!
//! Client side ([`ProviderConfigBuilder::dpop`](crate::ProviderConfigBuilder::dpop)): each login
//! gets its own ES256 key pair ([`DpopKey`]), kept in the session record (so a store that
//! encrypts records encrypts it). The token request at the callback, every refresh and the
//! userinfo call carry a proof (`typ: dpop+jwt`, the public key as `jwk`, `htm`, `htu`, `iat`,
//! `jti`, `ath` for resource calls, the provider's `nonce` once it gave one); a `DPoP-Nonce`
//! challenge is answered by one retry with the nonce. The token response must say
//! `token_type: DPoP`, and a JWT access token's `cnf.jkt` must be the key's thumbprint.
//! [`UserSession::dpop_proof`](crate::UserSession::dpop_proof) makes the proof an app sends
//! to a resource server with the session's access token.
//!
//! Resource side ([`RelyingPartyBuilder::bearer_accept_dpop`](crate::RelyingPartyBuilder::bearer_accept_dpop)):
//! [`verify_proof`] checks a request's proof; the bearer guard then checks the token's
//! `cnf.jkt` against the proof's key and spends the proof's `jti` in the session store.
//!
//! The key is generated from the flow's randomness (the caller's entropy, as every other
//! value of a flow): its private scalar is drawn from the flow's generator and handed to
//! josekit as a JWK. Signatures are ECDSA, whose per-signature nonce OpenSSL draws from its own
//! generator, so proofs differ from run to run whatever the entropy; the `jti` of a proof an
//! app makes outside a flow ([`DpopKey::resource_proof`]) comes from that generator too.

use base64::Engine as _;
use bytes::Bytes;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsVerifier, ES256};
use josekit::jwt::{self, JwtPayload};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{BearerError, DpopError, Error, ProtocolError, Result};
use crate::random::Rng;
use crate::secret::Secret;
use crate::token::TokenResponse;

/// The `typ` header of a DPoP proof.
pub const PROOF_TYPE: &str = "dpop+jwt";

/// The signature algorithms a resource server accepts in proofs: asymmetric only (a proof is
/// verified with the public key it carries; a MAC key in a header would prove nothing).
pub const PROOF_ALGORITHMS: &[&str] = &[
    "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA",
];

/// How old a proof may be at a resource server (seconds, plus the clock skew), and so how
/// long its `jti` is remembered.
pub const PROOF_MAX_AGE: u64 = 60;

/// The order of P-256: a private scalar must be in `[1, n-1]`.
const P256_ORDER: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key_error(why: impl std::fmt::Display) -> Error {
    ProtocolError::Dpop(DpopError::Key(why.to_string())).into()
}

/// A DPoP key pair (ES256 on P-256), private half included: kept in the session record, and
/// never shown by `Debug` (which prints the public key's thumbprint only).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct DpopKey {
    /// The private key as a JWK (`kty`, `crv`, `x`, `y`, `d`).
    private_jwk: Secret,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("jkt", &self.thumbprint().unwrap_or_default())
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A new key pair whose private scalar is drawn from `entropy` (32 bytes from the
    /// operating system's generator, as a flow's). Only for tests and embedders that manage
    /// their own randomness: flows make their keys themselves.
    pub fn from_entropy(entropy: [u8; 32]) -> Result<Self> {
        Self::generate(&mut Rng::new(entropy))
    }

    pub(crate) fn generate(rng: &mut Rng) -> Result<Self> {
        // Rejection sampling keeps the scalar uniform in [1, n-1]; a draw at or above n has a
        // probability of about 2^-32.
        let d = loop {
            let d = rng.entropy();
            if d.iter().any(|b| *b != 0) && d < P256_ORDER {
                break d;
            }
        };
        let mut map = Map::new();
        map.insert("kty".into(), "EC".into());
        map.insert("crv".into(), "P-256".into());
        map.insert("d".into(), b64(d).into());
        let jwk = Jwk::from_map(map).map_err(key_error)?;
        // OpenSSL derives the public point from the scalar.
        let pair = josekit::jwk::alg::ec::EcKeyPair::from_jwk(&jwk).map_err(key_error)?;
        let full = pair.to_jwk_key_pair();
        let text = serde_json::to_string(full.as_ref()).map_err(key_error)?;
        Ok(DpopKey {
            private_jwk: Secret::new(text),
        })
    }

    fn jwk(&self) -> Result<Jwk> {
        Jwk::from_bytes(self.private_jwk.expose().as_bytes()).map_err(key_error)
    }

    /// The public key, as the `jwk` header of proofs carries it.
    pub fn public_jwk(&self) -> Result<Map<String, Value>> {
        let jwk = self.jwk()?;
        let mut public = Map::new();
        for name in ["kty", "crv", "x", "y"] {
            let value = jwk
                .parameter(name)
                .ok_or_else(|| key_error(format!("the key has no `{name}`")))?;
            public.insert(name.into(), value.clone());
        }
        Ok(public)
    }

    /// The key's JWK SHA-256 thumbprint (RFC 7638), which a bound token names in `cnf.jkt`.
    pub fn thumbprint(&self) -> Result<String> {
        let public = self.public_jwk()?;
        jwk_thumbprint(&public).map_err(key_error)
    }

    /// A proof for a request with `method` to `url` at `now`, with the `jti` given; `ath` of
    /// `access_token` when the request carries one (a resource call), and the server's
    /// `nonce` when it gave one. The query and fragment of `url` are left out of `htu`.
    pub fn proof(
        &self,
        method: &http::Method,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: u64,
        jti: &str,
    ) -> Result<String> {
        let htu = htu_of(url).ok_or_else(|| {
            // The URL itself stays out: its query may carry a credential.
            Error::config("dpop", "the URL is not an absolute http(s) URL")
        })?;
        let jwk = self.jwk()?;
        let signer = ES256.signer_from_jwk(&jwk).map_err(key_error)?;
        let mut header = JwsHeader::new();
        header.set_token_type(PROOF_TYPE);
        header.set_jwk(Jwk::from_map(self.public_jwk()?).map_err(key_error)?);
        let mut claims = Map::new();
        claims.insert("jti".into(), jti.into());
        claims.insert("htm".into(), method.as_str().into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), now.into());
        if let Some(token) = access_token {
            claims.insert("ath".into(), access_token_hash(token).into());
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        let payload = JwtPayload::from_map(claims).map_err(key_error)?;
        jwt::encode_with_signer(&payload, &header, &signer).map_err(key_error)
    }

    /// The proof an app sends to a resource server with `access_token` (as
    /// `Authorization: DPoP <access_token>` and `DPoP: <proof>`), for `method` and `url` at
    /// `now`; its `jti` is fresh from OpenSSL's generator (outside a flow there is no caller's
    /// entropy, and the signature draws from that generator anyway).
    pub fn resource_proof(
        &self,
        method: &http::Method,
        url: &str,
        access_token: &str,
        now: u64,
    ) -> Result<String> {
        let jti = b64(josekit::util::random_bytes(18));
        self.proof(method, url, Some(access_token), None, now, &jti)
    }
}

/// Checks the `dpop` setting against the rest of the configuration, and asks a dynamic
/// registration for DPoP-bound tokens (`dpop_bound_access_tokens`, RFC 9449 5.2).
pub(crate) fn settle(
    on: bool,
    client: crate::config::ClientRegistration,
    response_type: crate::config::ResponseType,
    userinfo: crate::userinfo::UserinfoMethod,
) -> Result<crate::config::ClientRegistration> {
    if !on {
        return Ok(client);
    }
    if !response_type.has_code() {
        return Err(Error::config(
            "dpop",
            "DPoP binds tokens from the token endpoint: the response type needs a code",
        ));
    }
    if userinfo == crate::userinfo::UserinfoMethod::Body {
        return Err(Error::config(
            "dpop",
            "a DPoP-bound token is sent in the Authorization header, not the userinfo body",
        ));
    }
    Ok(match client {
        crate::config::ClientRegistration::Dynamic(mut info) => {
            info.extra
                .entry("dpop_bound_access_tokens")
                .or_insert(Value::Bool(true));
            crate::config::ClientRegistration::Dynamic(info)
        }
        other => other,
    })
}

/// `htu` for `url`: the URL without its query and fragment (RFC 9449 4.2).
fn htu_of(url: &str) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

/// `ath`: the base64url SHA-256 of the access token.
pub fn access_token_hash(access_token: &str) -> String {
    b64(Sha256::digest(access_token.as_bytes()))
}

/// The RFC 7638 thumbprint of a public JWK: SHA-256 over its required members in
/// lexicographic order, as compact JSON (a `BTreeMap` of strings serialises exactly so).
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> std::result::Result<String, &'static str> {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err("unsupported key type"),
    };
    let mut members = std::collections::BTreeMap::new();
    for name in required {
        let value = jwk
            .get(*name)
            .and_then(Value::as_str)
            .ok_or("a required key member is missing")?;
        members.insert(*name, value);
    }
    let canonical = serde_json::to_string(&members).map_err(|_| "unserialisable key")?;
    Ok(b64(Sha256::digest(canonical.as_bytes())))
}

/// The `cnf.jkt` of a token's claims, if it names one.
pub fn bound_thumbprint(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("cnf")?.get("jkt")?.as_str()
}

/// The claims of an access token that is a JWT, read without verifying it: the client is not
/// the token's audience and has no business validating it, but a `cnf.jkt` in it must be the
/// client's own key. `None` for an opaque token.
fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The DPoP state of one exchange with the provider (a login's token and userinfo calls, a
/// refresh): the key, the generator the proofs' `jti`s come from, and the provider's latest
/// `DPoP-Nonce`.
pub(crate) struct DpopProver {
    key: DpopKey,
    rng: Rng,
    nonce: Option<String>,
    /// Whether the request in flight is already the retry with a nonce: one retry only.
    retried: bool,
    /// Whether the next request signed is that retry.
    retry_next: bool,
}

/// Makes `prover` for an exchange that needs one: when `on` (the provider is configured
/// with DPoP) or `key` (the session's tokens are bound already), from the session's `key`
/// or a new one, with the caller's `entropy`.
pub(crate) fn ensure_prover(
    prover: &mut Option<DpopProver>,
    on: bool,
    key: Option<&DpopKey>,
    entropy: &mut Option<[u8; 32]>,
    metadata: &crate::metadata::ProviderMetadata,
) -> Result<()> {
    if prover.is_some() || (!on && key.is_none()) {
        return Ok(());
    }
    // A provider that lists the proof algorithms it takes (RFC 9449 5.1) must take ES256.
    if let Some(algs) = metadata.extra.get("dpop_signing_alg_values_supported") {
        let listed = algs
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("ES256")));
        if !listed {
            return Err(Error::config(
                "provider_metadata.dpop_signing_alg_values_supported",
                "the provider does not take ES256 DPoP proofs",
            ));
        }
    }
    let entropy = entropy.take().ok_or_else(|| {
        Error::config(
            "dpop",
            "a DPoP exchange needs the caller's randomness (`dpop_entropy`)",
        )
    })?;
    *prover = Some(DpopProver::new(key.cloned(), entropy)?);
    Ok(())
}

/// Parses a token response: with a `prover` (the request carried a proof) the token must be
/// bound to its key, else it must be a bearer token.
pub(crate) fn parse_token_response(
    prover: Option<&DpopProver>,
    response: http::Response<Bytes>,
) -> Result<TokenResponse> {
    let Some(prover) = prover else {
        return crate::token::parse_token_response(response);
    };
    let tokens = crate::token::parse_token_body(response)?;
    prover.check_tokens(&tokens)?;
    Ok(tokens)
}

impl DpopProver {
    /// A prover with `key`, or with a new key when `None`, seeded with `entropy`.
    pub(crate) fn new(key: Option<DpopKey>, entropy: [u8; 32]) -> Result<Self> {
        let mut rng = Rng::new(entropy);
        let key = match key {
            Some(key) => key,
            None => DpopKey::generate(&mut rng)?,
        };
        Ok(DpopProver {
            key,
            rng,
            nonce: None,
            retried: false,
            retry_next: false,
        })
    }

    pub(crate) fn key(&self) -> &DpopKey {
        &self.key
    }

    /// A fresh random value (a client assertion's `jti` for a retried request).
    pub(crate) fn fresh_id(&mut self) -> String {
        self.rng.token(18)
    }

    /// Adds the proof to `request`; with `access_token`, also `Authorization: DPoP <token>`
    /// (a resource call).
    pub(crate) fn sign(
        &mut self,
        request: &mut http::Request<Bytes>,
        access_token: Option<&str>,
        now: u64,
    ) -> Result<()> {
        self.retried = std::mem::take(&mut self.retry_next);
        let jti = self.rng.token(18);
        let proof = self.key.proof(
            request.method(),
            &request.uri().to_string(),
            access_token,
            self.nonce.as_deref(),
            now,
            &jti,
        )?;
        let headers = request.headers_mut();
        headers.insert("dpop", crate::wire::sensitive(proof));
        if let Some(token) = access_token {
            headers.insert(
                http::header::AUTHORIZATION,
                crate::wire::sensitive(format!("DPoP {token}")),
            );
        }
        Ok(())
    }

    /// Reads the provider's `DPoP-Nonce` from `response`, and says whether the response is
    /// a nonce challenge to answer with one retry: a `400 use_dpop_nonce` from the token
    /// endpoint, a `401` with a `DPoP error="use_dpop_nonce"` challenge from a resource.
    pub(crate) fn wants_retry(&mut self, response: &http::Response<Bytes>, resource: bool) -> bool {
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 1024);
        let Some(nonce) = nonce else {
            return false;
        };
        self.nonce = Some(nonce.to_owned());
        let challenged = if resource {
            response.status() == http::StatusCode::UNAUTHORIZED
                && response
                    .headers()
                    .get_all(http::header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .any(is_nonce_challenge)
        } else {
            response.status() == http::StatusCode::BAD_REQUEST
                && serde_json::from_slice::<Value>(response.body())
                    .ok()
                    .is_some_and(|b| b["error"] == "use_dpop_nonce")
        };
        self.retry_next = challenged && !self.retried;
        self.retry_next
    }

    /// The checks on a token response to a request with a proof: `token_type` `DPoP`, and a
    /// JWT access token's `cnf.jkt` naming this key.
    pub(crate) fn check_tokens(&self, tokens: &TokenResponse) -> Result<()> {
        check_bound_tokens(&self.key, tokens)
    }
}

/// Whether a `WWW-Authenticate` value is a DPoP challenge asking for a nonce.
fn is_nonce_challenge(value: &str) -> bool {
    let value = value.trim_start();
    value.len() > 4
        && value[..4].eq_ignore_ascii_case("dpop")
        && value[4..].starts_with(' ')
        && value.contains("error=\"use_dpop_nonce\"")
}

/// See [`DpopProver::check_tokens`].
fn check_bound_tokens(key: &DpopKey, tokens: &TokenResponse) -> Result<()> {
    if !tokens.token_type.eq_ignore_ascii_case("dpop") {
        return Err(ProtocolError::Dpop(DpopError::NotBound).into());
    }
    if let Some(claims) = unverified_claims(tokens.access_token.expose()) {
        if let Some(jkt) = bound_thumbprint(&claims) {
            if !crate::secret::constant_time_eq(jkt, &key.thumbprint()?) {
                return Err(ProtocolError::Dpop(DpopError::BoundToAnotherKey).into());
            }
        }
    }
    Ok(())
}

/// The access token and proof of a request with `Authorization: DPoP <token>` (RFC 9449 7.1):
/// `Ok(None)` when the request uses another scheme (or none); the proof must be exactly one
/// `DPoP` header.
pub fn dpop_credentials(
    headers: &http::HeaderMap,
) -> std::result::Result<Option<(String, String)>, BearerError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let Ok(value) = value.to_str() else {
        return Ok(None);
    };
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Ok(None);
    }
    if values.next().is_some() {
        return Err(BearerError::InvalidRequest(
            "the request has several Authorization headers",
        ));
    }
    // The token has the same syntax as a bearer token: reuse that check.
    let mut as_bearer = http::HeaderMap::new();
    let rewritten = http::HeaderValue::from_str(&format!("Bearer {}", rest.trim()))
        .map_err(|_| BearerError::InvalidToken("malformed DPoP access token".into()))?;
    as_bearer.insert(http::header::AUTHORIZATION, rewritten);
    let token = crate::bearer::bearer_token(&as_bearer)
        .map_err(|_| BearerError::InvalidToken("malformed DPoP access token".into()))?
        .to_owned();
    let mut proofs = headers.get_all("dpop").iter();
    let proof = match (proofs.next(), proofs.next()) {
        (Some(p), None) => p
            .to_str()
            .map_err(|_| invalid_proof("the DPoP header is not ASCII"))?,
        (None, _) => return Err(invalid_proof("the request has no DPoP proof")),
        (Some(_), Some(_)) => return Err(invalid_proof("the request has several DPoP proofs")),
    };
    Ok(Some((token, proof.trim().to_owned())))
}

fn invalid_proof(why: &str) -> BearerError {
    BearerError::InvalidDpopProof(why.to_owned())
}

/// What a proof at a resource server is checked against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProofExpectations<'a> {
    /// The request's method.
    pub method: &'a http::Method,
    /// The request's URL as the client sees it (the app's external URL and the path).
    pub url: &'a str,
    /// The access token the request carries: `ath` must be its hash.
    pub access_token: &'a str,
    /// Now, unix seconds.
    pub now: u64,
    /// Allowed clock skew, seconds.
    pub skew: u64,
}

impl<'a> ProofExpectations<'a> {
    /// The expectations for a proof of a `method` request to `url` carrying `access_token`, at
    /// `now` give or take `skew` seconds (the type is `#[non_exhaustive]`, so that a later check
    /// can add an input with a default without a breaking change).
    pub fn new(
        method: &'a http::Method,
        url: &'a str,
        access_token: &'a str,
        now: u64,
        skew: u64,
    ) -> Self {
        ProofExpectations {
            method,
            url,
            access_token,
            now,
            skew,
        }
    }
}

/// A verified proof: the thumbprint of its key and its `jti` (to spend once).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
}

impl VerifiedProof {
    /// The key the proof's `jti` is spent under in the session store: per key, so that no
    /// client can spend another's `jti`s.
    pub fn replay_key(&self) -> String {
        crate::session::index_key(crate::session::DPOP_JTI, &self.jkt, &self.jti)
    }
}

/// Verifies a DPoP proof at a resource server (RFC 9449 4.3): one JWS signed with an
/// asymmetric algorithm of [`PROOF_ALGORITHMS`] by the public key in its `jwk` header (which
/// must hold no private part), `typ` `dpop+jwt`, `htm` and `htu` the request's, `iat` within
/// [`PROOF_MAX_AGE`] (and the skew), `ath` the token's hash, a `jti`. The `jti`'s single use
/// and the token's `cnf.jkt` are the caller's to check.
pub fn verify_proof(
    proof: &str,
    expect: &ProofExpectations<'_>,
) -> std::result::Result<VerifiedProof, BearerError> {
    let header = jwt::decode_header(proof).map_err(|_| invalid_proof("malformed proof"))?;
    if header.claim("typ").and_then(Value::as_str) != Some(PROOF_TYPE) {
        return Err(invalid_proof("the proof's typ is not dpop+jwt"));
    }
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .filter(|a| PROOF_ALGORITHMS.contains(a))
        .ok_or_else(|| invalid_proof("the proof's algorithm is not allowed"))?;
    let Some(Value::Object(jwk_map)) = header.claim("jwk") else {
        return Err(invalid_proof("the proof has no jwk"));
    };
    // A private member would mean the client published its key.
    if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        .iter()
        .any(|m| jwk_map.contains_key(*m))
    {
        return Err(invalid_proof("the proof's jwk holds a private key"));
    }
    let jwk = Jwk::from_map(jwk_map.clone()).map_err(|_| invalid_proof("malformed jwk"))?;
    let verifier = proof_verifier(alg, &jwk)?;
    let (payload, _) = jwt::decode_with_verifier(proof, verifier.as_ref())
        .map_err(|_| invalid_proof("the proof's signature does not verify"))?;
    let claims = payload.claims_set();
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("htm") != Some(expect.method.as_str()) {
        return Err(invalid_proof("the proof is for another method"));
    }
    let same_url = match (text("htu").and_then(htu_of), htu_of(expect.url)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    if !same_url {
        return Err(invalid_proof("the proof is for another URL"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid_proof("the proof has no iat"))?;
    if iat > expect.now.saturating_add(expect.skew)
        || iat.saturating_add(PROOF_MAX_AGE + expect.skew) < expect.now
    {
        return Err(invalid_proof("the proof is too old or from the future"));
    }
    let ath = access_token_hash(expect.access_token);
    if !text("ath").is_some_and(|a| crate::secret::constant_time_eq(a, &ath)) {
        return Err(invalid_proof("the proof is for another access token"));
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| invalid_proof("the proof has no jti"))?;
    let jkt = jwk_thumbprint(jwk_map).map_err(invalid_proof)?;
    Ok(VerifiedProof {
        jkt,
        jti: jti.to_owned(),
    })
}

fn proof_verifier(alg: &str, jwk: &Jwk) -> std::result::Result<Box<dyn JwsVerifier>, BearerError> {
    use josekit::jws::{EdDSA, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512};
    let bad = |_| invalid_proof("the proof's jwk does not fit its algorithm");
    Ok(match alg {
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).map_err(bad)?),
        "ES384" => Box::new(ES384.verifier_from_jwk(jwk).map_err(bad)?),
        "ES512" => Box::new(ES512.verifier_from_jwk(jwk).map_err(bad)?),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).map_err(bad)?),
        "PS384" => Box::new(PS384.verifier_from_jwk(jwk).map_err(bad)?),
        "PS512" => Box::new(PS512.verifier_from_jwk(jwk).map_err(bad)?),
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).map_err(bad)?),
        "RS384" => Box::new(RS384.verifier_from_jwk(jwk).map_err(bad)?),
        "RS512" => Box::new(RS512.verifier_from_jwk(jwk).map_err(bad)?),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(jwk).map_err(bad)?),
        _ => return Err(invalid_proof("the proof's algorithm is not allowed")),
    })
}

/// The `WWW-Authenticate` challenge of the `DPoP` scheme (RFC 9449 7.1): the algorithms
/// accepted, and the error when there is one.
pub fn challenge(error: Option<&BearerError>, realm: &str) -> http::HeaderValue {
    let mut params = vec![format!("realm=\"{}\"", quotable(realm))];
    if let Some(error) = error.filter(|e| **e != BearerError::Missing) {
        params.push(format!("error=\"{}\"", error.error_code()));
        params.push(format!(
            "error_description=\"{}\"",
            quotable(&error.to_string())
        ));
    }
    params.push(format!("algs=\"{}\"", PROOF_ALGORITHMS.join(" ")));
    http::HeaderValue::from_str(&format!("DPoP {}", params.join(", ")))
        .unwrap_or_else(|_| http::HeaderValue::from_static("DPoP"))
}

fn quotable(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> DpopKey {
        DpopKey::from_entropy([seed; 32]).unwrap()
    }

    fn expect<'a>(method: &'a http::Method, url: &'a str, token: &'a str) -> ProofExpectations<'a> {
        ProofExpectations {
            method,
            url,
            access_token: token,
            now: 1000,
            skew: 5,
        }
    }

    /// The key follows the entropy; its thumbprint is RFC 7638's (checked against the RFC's
    /// own example, section 3.1); `Debug` shows no private part.
    #[test]
    fn keys_follow_the_entropy_and_hide_their_private_part() {
        assert_eq!(key(1), key(1));
        assert_ne!(key(1).thumbprint().unwrap(), key(2).thumbprint().unwrap());
        let k = key(1);
        let public = k.public_jwk().unwrap();
        assert!(!public.contains_key("d"));
        let d = k
            .jwk()
            .unwrap()
            .parameter("d")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let shown = format!("{k:?}");
        assert!(
            !shown.contains(&d) && shown.contains(&k.thumbprint().unwrap()),
            "{shown}"
        );
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(serde_json::from_str::<DpopKey>(&json).unwrap(), k);
        // In a session: kept by the record's JSON, shown by no `Debug`.
        let mut user = crate::claims::example_user();
        user.dpop = Some(k.clone());
        assert_eq!(user.access_token_type(), "DPoP");
        let mut record = crate::SessionRecord::new(10);
        record.user = Some(std::sync::Arc::new(user));
        assert!(!format!("{record:?}").contains(&d));
        let stored = serde_json::to_string(&record).unwrap();
        let back: crate::SessionRecord = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.user.unwrap().dpop.as_ref(), Some(&k));
        let rfc = serde_json::json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            jwk_thumbprint(rfc.as_object().unwrap()).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// A proof carries what RFC 9449 4.2 asks, and verifies; its `htu` has no query.
    #[test]
    fn a_proof_verifies_and_names_the_key() {
        let k = key(3);
        let get = http::Method::GET;
        let url = "https://api.example/orders";
        let p = k
            .proof(
                &get,
                "https://api.example/orders?x=1#f",
                Some("tok"),
                Some("n1"),
                1000,
                "j1",
            )
            .unwrap();
        let header = jwt::decode_header(&p).unwrap();
        assert_eq!(header.claim("typ").unwrap(), PROOF_TYPE);
        assert_eq!(header.claim("alg").unwrap(), "ES256");
        let v = verify_proof(&p, &expect(&get, url, "tok")).unwrap();
        assert_eq!(v.jkt, k.thumbprint().unwrap());
        assert_eq!(v.jti, "j1");
        let claims = unverified_claims(&p).unwrap();
        assert_eq!(claims["htu"], url);
        assert_eq!(claims["nonce"], "n1");
        assert_eq!(claims["ath"], access_token_hash("tok"));
        assert_ne!(
            VerifiedProof {
                jkt: "a".into(),
                jti: "j".into()
            }
            .replay_key(),
            VerifiedProof {
                jkt: "b".into(),
                jti: "j".into()
            }
            .replay_key()
        );
    }

    /// Another method, URL, token, an old or future `iat`, a tampered signature, a wrong
    /// `typ`: each refused as an invalid proof.
    #[test]
    fn proofs_for_something_else_are_refused() {
        let k = key(4);
        let get = http::Method::GET;
        let post = http::Method::POST;
        let url = "https://api.example/orders";
        let p = k.proof(&get, url, Some("tok"), None, 1000, "j").unwrap();
        let refused = |p: &str, e: &ProofExpectations<'_>| {
            matches!(verify_proof(p, e), Err(BearerError::InvalidDpopProof(_)))
        };
        assert!(refused(&p, &expect(&post, url, "tok")), "method");
        assert!(
            refused(&p, &expect(&get, "https://api.example/other", "tok")),
            "url"
        );
        assert!(refused(&p, &expect(&get, url, "other-token")), "ath");
        let mut late = expect(&get, url, "tok");
        late.now = 1000 + PROOF_MAX_AGE + 6;
        assert!(refused(&p, &late), "too old");
        let mut early = expect(&get, url, "tok");
        early.now = 1000 - 6;
        assert!(refused(&p, &early), "from the future");
        let mut tampered = p.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(refused(&tampered, &expect(&get, url, "tok")), "signature");
        let no_ath = k.proof(&get, url, None, None, 1000, "j").unwrap();
        assert!(refused(&no_ath, &expect(&get, url, "tok")), "no ath");
        // Signed by another key than the one in its header.
        let other = key(5);
        let mut header = JwsHeader::new();
        header.set_token_type(PROOF_TYPE);
        header.set_jwk(Jwk::from_map(k.public_jwk().unwrap()).unwrap());
        let payload = JwtPayload::from_map(unverified_claims(&p).unwrap()).unwrap();
        let signer = ES256.signer_from_jwk(&other.jwk().unwrap()).unwrap();
        let forged = jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        assert!(refused(&forged, &expect(&get, url, "tok")), "another key");
        header.set_token_type("JWT");
        header.set_jwk(Jwk::from_map(other.public_jwk().unwrap()).unwrap());
        let untyped = jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        assert!(refused(&untyped, &expect(&get, url, "tok")), "typ");
        // A private key in the header.
        header.set_token_type(PROOF_TYPE);
        header.set_jwk(other.jwk().unwrap());
        let leaky = jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        assert!(refused(&leaky, &expect(&get, url, "tok")), "private jwk");
    }

    /// Reading `Authorization: DPoP` and its proof: other schemes are not DPoP; a missing or
    /// doubled proof is refused.
    #[test]
    fn credentials_need_the_scheme_and_one_proof() {
        let mut h = http::HeaderMap::new();
        assert_eq!(dpop_credentials(&h), Ok(None));
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(dpop_credentials(&h), Ok(None));
        h.insert("authorization", "DPoP abc".parse().unwrap());
        assert!(matches!(
            dpop_credentials(&h),
            Err(BearerError::InvalidDpopProof(_))
        ));
        h.insert("dpop", "p.r.f".parse().unwrap());
        assert_eq!(
            dpop_credentials(&h),
            Ok(Some(("abc".into(), "p.r.f".into())))
        );
        h.append("dpop", "x.y.z".parse().unwrap());
        assert!(matches!(
            dpop_credentials(&h),
            Err(BearerError::InvalidDpopProof(_))
        ));
        h.remove("dpop");
        h.insert("dpop", "p.r.f".parse().unwrap());
        h.insert("authorization", "dpop a\"b".parse().unwrap());
        assert!(matches!(
            dpop_credentials(&h),
            Err(BearerError::InvalidToken(_))
        ));
    }

    fn tokens(token_type: &str, access_token: String) -> TokenResponse {
        serde_json::from_value(serde_json::json!({
            "access_token": access_token, "token_type": token_type,
        }))
        .unwrap()
    }

    fn jwt_with_jkt(jkt: &str) -> String {
        let claims = serde_json::json!({"sub": "a", "cnf": {"jkt": jkt}});
        format!("e30.{}.c2ln", b64(claims.to_string()))
    }

    /// A token response to a proof must be of type DPoP, and a JWT access token's `cnf.jkt`
    /// this key's; an opaque token has nothing to compare.
    #[test]
    fn token_responses_must_be_bound_to_this_key() {
        let k = key(6);
        let p = DpopProver::new(Some(k.clone()), [0; 32]).unwrap();
        assert!(p.check_tokens(&tokens("DPoP", "opaque".into())).is_ok());
        assert!(p
            .check_tokens(&tokens("dpop", jwt_with_jkt(&k.thumbprint().unwrap())))
            .is_ok());
        assert!(matches!(
            p.check_tokens(&tokens("Bearer", "opaque".into())),
            Err(Error::Protocol(ProtocolError::Dpop(DpopError::NotBound)))
        ));
        assert!(matches!(
            p.check_tokens(&tokens("DPoP", jwt_with_jkt(&key(7).thumbprint().unwrap()))),
            Err(Error::Protocol(ProtocolError::Dpop(
                DpopError::BoundToAnotherKey
            )))
        ));
    }

    fn response(status: u16, body: &str, headers: &[(&str, &str)]) -> http::Response<Bytes> {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::from(body.to_owned())).unwrap()
    }

    /// A nonce challenge is retried once, with the nonce in the next proof; a challenge
    /// without a nonce, or of another kind, is not.
    #[test]
    fn nonce_challenges_are_retried_once() {
        let mut p = DpopProver::new(None, [8; 32]).unwrap();
        let use_nonce = r#"{"error":"use_dpop_nonce"}"#;
        assert!(
            !p.wants_retry(&response(400, use_nonce, &[]), false),
            "no nonce"
        );
        assert!(!p.wants_retry(
            &response(400, r#"{"error":"invalid_grant"}"#, &[("dpop-nonce", "n")]),
            false
        ));
        assert!(p.wants_retry(&response(400, use_nonce, &[("dpop-nonce", "n1")]), false));
        let mut req = http::Request::post("https://op/token?x")
            .body(Bytes::new())
            .unwrap();
        p.sign(&mut req, None, 1000).unwrap();
        let proof = req.headers()["dpop"].to_str().unwrap().to_owned();
        let claims = unverified_claims(&proof).unwrap();
        assert_eq!(
            (claims["nonce"].as_str(), claims["htu"].as_str()),
            (Some("n1"), Some("https://op/token"))
        );
        assert!(
            !p.wants_retry(&response(400, use_nonce, &[("dpop-nonce", "n2")]), false),
            "once"
        );
        let challenge = [
            ("dpop-nonce", "n3"),
            ("www-authenticate", "DPoP error=\"use_dpop_nonce\""),
        ];
        let mut req = http::Request::get("https://op/userinfo")
            .body(Bytes::new())
            .unwrap();
        p.sign(&mut req, Some("at"), 1000).unwrap();
        assert_eq!(req.headers()["authorization"], "DPoP at");
        assert!(p.wants_retry(&response(401, "", &challenge), true));
        assert!(!p.wants_retry(
            &response(
                401,
                "",
                &[
                    ("dpop-nonce", "n"),
                    ("www-authenticate", "Bearer error=\"use_dpop_nonce\"")
                ]
            ),
            true
        ));
    }

    /// `dpop(true)` needs a code and the userinfo header; a dynamic registration asks for
    /// DPoP-bound tokens; off, nothing changes.
    #[test]
    fn the_setting_is_checked_and_registered() {
        use crate::config::ClientRegistration;
        use crate::{ClientMetadata, ClientRegistrationInfo, ProviderConfig};
        let base = || ProviderConfig::discover("https://op.example");
        let client = || ClientMetadata::new("id", "secret");
        assert!(base().client(client()).dpop(true).build().is_ok());
        let implicit = base()
            .client(client())
            .response_type("id_token")
            .response_mode("fragment")
            .dpop(true)
            .build();
        assert!(matches!(implicit, Err(Error::Config { field: "dpop", .. })));
        let body = base()
            .client(client())
            .userinfo_method(crate::userinfo::UserinfoMethod::Body)
            .dpop(true)
            .build();
        assert!(matches!(body, Err(Error::Config { field: "dpop", .. })));
        let registered = |on: bool| {
            let config = base()
                .register(ClientRegistrationInfo::new("app"))
                .dpop(on)
                .build()
                .unwrap();
            match config.registration() {
                ClientRegistration::Dynamic(info) => {
                    info.extra.get("dpop_bound_access_tokens").cloned()
                }
                ClientRegistration::Static(_) => None,
            }
        };
        assert_eq!(registered(true), Some(Value::Bool(true)));
        assert_eq!(registered(false), None);
    }

    /// A prover is made only where DPoP is on or the session is bound already, needs the
    /// caller's entropy, and a provider listing its proof algorithms must list ES256.
    #[test]
    fn provers_need_entropy_and_an_es256_provider() {
        let url = url::Url::parse("https://op.example/authorize").unwrap();
        let mut metadata = crate::ProviderMetadata::new("https://op.example", url);
        let mut prover = None;
        ensure_prover(&mut prover, false, None, &mut None, &metadata).unwrap();
        assert!(prover.is_none(), "off and unbound: no DPoP");
        assert!(ensure_prover(&mut prover, true, None, &mut None, &metadata).is_err());
        let k = key(9);
        ensure_prover(&mut prover, false, Some(&k), &mut Some([1; 32]), &metadata).unwrap();
        assert_eq!(
            prover.as_ref().map(|p| p.key()),
            Some(&k),
            "a bound session keeps its key"
        );
        metadata.extra.insert(
            "dpop_signing_alg_values_supported".into(),
            serde_json::json!(["PS256"]),
        );
        let mut prover = None;
        assert!(ensure_prover(&mut prover, true, None, &mut Some([1; 32]), &metadata).is_err());
        metadata.extra.insert(
            "dpop_signing_alg_values_supported".into(),
            serde_json::json!(["PS256", "ES256"]),
        );
        ensure_prover(&mut prover, true, None, &mut Some([1; 32]), &metadata).unwrap();
        assert!(prover.is_some());
    }

    /// The DPoP challenge names the algorithms and the error, never the token.
    #[test]
    fn the_challenge_names_algorithms_and_error() {
        let c = challenge(Some(&invalid_proof("bad \"x\"")), "https://app");
        let c = c.to_str().unwrap();
        assert!(
            c.starts_with("DPoP realm=\"https://app\", error=\"invalid_dpop_proof\""),
            "{c}"
        );
        assert!(c.contains("algs=\"ES256 "), "{c}");
        let c = challenge(Some(&BearerError::Missing), "r");
        assert!(!c.to_str().unwrap().contains("error="));
    }
}
