//! ID token validation, per OpenID Connect Core 1.0 section 3.1.3.7 (and 3.2.2.11 / 3.3.2.12
//! for tokens from the authorization endpoint).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::claims::{ClaimsSet, Lenient, LenientStr};
use crate::error::IdTokenError;
use crate::issuer::IssuerPolicy;
use crate::jwks::JwkSet;
use crate::secret::{constant_time_eq, Secret};
use crate::signing::{is_hmac, TokenKeys};

/// A validated ID token: the raw JWT and its claims.
///
/// Stored as `{"raw": <the JWT>, "claims": <its payload>}`: records written when the claims
/// were kept as a map read the same.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "IdTokenRecord")]
pub struct IdToken {
    /// The compact JWS, for `id_token_hint` at logout.
    pub raw: Secret,
    /// The claims: the payload's JSON text.
    claims: ClaimsSet,
    /// `sub`, read once: every request's session checks and logs name the user.
    #[serde(skip_serializing)]
    sub: Box<str>,
}

/// What an [`IdToken`] is stored as.
#[derive(serde::Deserialize)]
struct IdTokenRecord {
    raw: Secret,
    claims: ClaimsSet,
}

impl From<IdTokenRecord> for IdToken {
    fn from(record: IdTokenRecord) -> Self {
        IdToken::new(record.raw, record.claims)
    }
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdToken")
            .field("raw", &self.raw)
            .field("sub", &self.subject())
            .finish_non_exhaustive()
    }
}

impl IdToken {
    /// An ID token from its JWT and claims, as validation builds it (or a test, or a store
    /// reading one back): nothing is checked here.
    pub fn new(raw: Secret, claims: ClaimsSet) -> Self {
        let sub = claims.get_str("sub").unwrap_or_default().into();
        IdToken { raw, claims, sub }
    }

    /// The claims.
    pub fn claims(&self) -> &ClaimsSet {
        &self.claims
    }

    /// The `sub` claim (empty when there is none, which validation never accepts).
    pub fn subject(&self) -> &str {
        &self.sub
    }

    /// The `auth_time` claim, if present.
    pub fn auth_time(&self) -> Option<u64> {
        self.claims.get_u64("auth_time")
    }
}

#[cfg(test)]
impl IdToken {
    /// This token with the claim `name` set to `value`, or removed for `None` (for tests: a
    /// validated token's claims never change).
    pub(crate) fn with_claim(&self, name: &str, value: Option<Value>) -> IdToken {
        let mut map = self.claims.to_map();
        match value {
            Some(v) => map.insert(name.into(), v),
            None => map.remove(name),
        };
        IdToken::new(self.raw.clone(), ClaimsSet::from_map(&map))
    }
}

/// What a token is checked against. Its `Debug` shows whether a nonce, access token or code is
/// expected, never their values.
#[derive(Clone)]
#[non_exhaustive]
pub struct Expectations<'a> {
    /// The provider's issuer.
    pub issuer: &'a str,
    /// This client's id.
    pub client_id: &'a str,
    /// The nonce sent in the authentication request. `None` only for refreshed tokens, where a
    /// present nonce must still equal the original's (checked by
    /// [`check_refreshed_id_token`](crate::refresh::check_refreshed_id_token)).
    pub nonce: Option<&'a str>,
    /// Current time, unix seconds.
    pub now: u64,
    /// Allowed clock skew in seconds.
    pub skew: u64,
    /// The signature algorithm allow-list.
    pub algorithms: &'a [String],
    /// An access token issued with this ID token by the authorization endpoint: `at_hash` must
    /// match it. `at_hash` is required when `require_at_hash` is set.
    pub access_token: Option<&'a str>,
    /// Whether `at_hash` must be present.
    pub require_at_hash: bool,
    /// A code issued with this ID token by the authorization endpoint: `c_hash` must be present
    /// and match.
    pub code: Option<&'a str>,
    /// The `max_age` sent in the authentication request: `auth_time` must then be present and
    /// `auth_time + max_age + skew >= now` (OpenID Connect Core 3.1.3.7 item 13).
    pub max_age: Option<u64>,
    /// The `acr_values` sent: when not empty, `acr` must be present and one of them (item 12,
    /// strictly: see [`ProviderConfigBuilder::acr_values`](crate::ProviderConfigBuilder::acr_values)).
    pub acr_values: &'a [String],
}

impl<'a> Expectations<'a> {
    /// The expectations for a token of `issuer` to `client_id` carrying `nonce`, signed with one
    /// of `algorithms`, at `now` give or take `skew` seconds; no access token, code, `max_age`
    /// or `acr_values` to check against (set those fields as the request had them). The type
    /// is `#[non_exhaustive]`, so that a later check can add an input with a default without a
    /// breaking change.
    pub fn new(
        issuer: &'a str,
        client_id: &'a str,
        nonce: Option<&'a str>,
        now: u64,
        skew: u64,
        algorithms: &'a [String],
    ) -> Self {
        Expectations {
            issuer,
            client_id,
            nonce,
            now,
            skew,
            algorithms,
            access_token: None,
            require_at_hash: false,
            code: None,
            max_age: None,
            acr_values: &[],
        }
    }
}

impl std::fmt::Debug for Expectations<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expectations")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("has_nonce", &self.nonce.is_some())
            .field("now", &self.now)
            .field("skew", &self.skew)
            .field("algorithms", &self.algorithms)
            .field("has_access_token", &self.access_token.is_some())
            .field("require_at_hash", &self.require_at_hash)
            .field("has_code", &self.code.is_some())
            .field("max_age", &self.max_age)
            .field("acr_values", &self.acr_values)
            .finish()
    }
}

/// The outcome of a validation attempt that may need a fresh key set.
#[derive(Debug)]
pub enum Validation {
    /// The token is valid.
    Valid(IdToken),
    /// No key in the set matches the token's `kid`: fetch the JWKS again and retry once.
    UnknownKey,
}

/// Validates a compact-serialised ID token against a key set.
///
/// Returns [`Validation::UnknownKey`] (not an error) when the token names a key the set does
/// not have, so that the caller can fetch the set again once.
pub fn validate(
    raw: &str,
    keys: &JwkSet,
    expect: &Expectations<'_>,
) -> Result<Validation, IdTokenError> {
    validate_with(raw, TokenKeys::Provider(keys), &IssuerPolicy::Exact, expect)
}

/// Validates a compact-serialised ID token with the key
/// [`TokenSigning`](crate::signing::TokenSigning) chose (the provider's key set, or the client
/// secret for HMAC) and the provider's [`IssuerPolicy`]. The allow-list is
/// `expect.algorithms`; an HMAC algorithm is only ever verified with the client secret, and an
/// asymmetric one only with the key set, whatever the list says.
///
/// Returns [`Validation::UnknownKey`] when the token names a key the set does not have (never
/// for HMAC: the secret is the only key).
pub fn validate_with(
    raw: &str,
    keys: TokenKeys<'_>,
    issuer: &IssuerPolicy,
    expect: &Expectations<'_>,
) -> Result<Validation, IdTokenError> {
    let Some(verified) = verify_signature(raw, keys, expect.algorithms)? else {
        return Ok(Validation::UnknownKey);
    };
    let undecodable = || IdTokenError::Malformed("undecodable token".into());
    let payload = String::from_utf8(verified.payload).map_err(|_| undecodable())?;
    let payload = crate::claims::trim_json(payload);
    // The payload is read once for the claims checked here, borrowed from its text; the text
    // itself is what the session keeps.
    let sub = {
        let checked = CheckedClaims::parse(&payload).ok_or_else(undecodable)?;
        check_claims(&checked, verified.alg, verified.curve, issuer, expect)?;
        checked.sub.map_or_else(Box::default, |s| Box::from(s.0))
    };
    let claims = ClaimsSet::from_checked(payload);
    Ok(Validation::Valid(IdToken {
        raw: Secret::new(raw),
        claims,
        sub,
    }))
}

/// A JWS whose signature verified against a key set, before any claim is checked.
pub(crate) struct VerifiedJws {
    /// The header's `typ`, if any.
    pub(crate) typ: Option<String>,
    /// The payload's claims.
    pub(crate) claims: Map<String, Value>,
}

/// Verifies a compact JWS (any JWT, e.g. an RFC 9068 access token) with the same rules as ID
/// tokens: the algorithm on the allow-list, the key chosen by `kid`. `Ok(None)` when the token
/// names a key the set does not have (fetch the set again, once).
pub(crate) fn verify_jws(
    raw: &str,
    keys: &JwkSet,
    algorithms: &[String],
) -> Result<Option<VerifiedJws>, IdTokenError> {
    verify_token(raw, TokenKeys::Provider(keys), algorithms)
}

/// [`verify_jws`] with the key [`TokenSigning`](crate::signing::TokenSigning) chose: an
/// asymmetric algorithm is verified with the provider's key set only, an HMAC one with the
/// client secret only, so that no token chooses its key by naming an algorithm (a token MACed
/// with the provider's public key is refused before any key is looked at).
pub(crate) fn verify_token(
    raw: &str,
    keys: TokenKeys<'_>,
    algorithms: &[String],
) -> Result<Option<VerifiedJws>, IdTokenError> {
    let Some(verified) = verify_signature(raw, keys, algorithms)? else {
        return Ok(None);
    };
    let claims = parse_claims(&verified.payload)
        .ok_or_else(|| IdTokenError::Malformed("undecodable token".into()))?;
    Ok(Some(VerifiedJws {
        typ: verified.typ,
        claims,
    }))
}

/// A JWS whose signature verified, its payload decoded but not parsed.
struct VerifiedPayload {
    /// The header's `typ`, if any.
    typ: Option<String>,
    /// The decoded payload.
    payload: Vec<u8>,
    /// The algorithm it was verified with (on the allow-list).
    alg: &'static str,
    /// The key's curve, for OKP keys (the half hashes of EdDSA tokens depend on it).
    curve: Option<&'static str>,
}

/// [`verify_token`] up to the decoded payload: what the signature covers, before any JSON.
fn verify_signature(
    raw: &str,
    keys: TokenKeys<'_>,
    algorithms: &[String],
) -> Result<Option<VerifiedPayload>, IdTokenError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let undecodable = || IdTokenError::Malformed("undecodable token".into());
    // The compact serialization is exactly three parts (RFC 7515 section 7.1); the signature
    // covers the first two as they were sent, so they are verified in place, not re-encoded.
    let mut parts = raw.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed("cannot decode header".into()));
    };
    // The header is decoded once into the few members read here, borrowed from its text.
    let header_json = b64
        .decode(header_b64)
        .map_err(|_| IdTokenError::Malformed("cannot decode header".into()))?;
    let header = JoseHeader::parse(&header_json)
        .ok_or_else(|| IdTokenError::Malformed("cannot decode header".into()))?;
    let Some((verifier, alg)) = select_verifier(&header, keys, algorithms)? else {
        return Ok(None);
    };
    // What josekit checks before verifying: a verifier that names its key requires that `kid`,
    // and no critical header extension is understood here (RFC 7515 section 4.1.11), so a
    // token that lists one is refused.
    if let Some(expected) = verifier.verifier.key_id() {
        if header.kid.as_deref() != Some(expected) {
            return Err(undecodable());
        }
    }
    if header.crit.is_some_and(|crit| !crit.is_empty()) || header.b64 == Some(false) {
        return Err(undecodable());
    }
    let signature = b64.decode(signature_b64).map_err(|_| undecodable())?;
    let signing_input = &raw[..header_b64.len() + 1 + payload_b64.len()];
    verifier
        .verifier
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|e| match e {
            josekit::JoseError::InvalidSignature(_) => IdTokenError::BadSignature,
            _ => undecodable(),
        })?;
    let payload = b64.decode(payload_b64).map_err(|_| undecodable())?;
    Ok(Some(VerifiedPayload {
        typ: header.typ.map(Cow::into_owned),
        payload,
        alg,
        curve: verifier.curve,
    }))
}

/// The verified payload of a JWT other than an ID token (an access token, a logout token...),
/// parsed once into a map under josekit's JWT rules for the registered claims' types (an `aud`
/// of strings, a numeric `exp`...): the map is moved through its check, not copied.
fn parse_claims(payload: &[u8]) -> Option<Map<String, Value>> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_slice(payload);
    let claims = de.deserialize_map(ClaimsVisitor).ok()?;
    de.end().ok()?;
    Some(josekit::jwt::JwtPayload::from_map(claims).ok()?.into())
}

/// Reads a JSON object into a map sized for an ID token's claims up front: growing it from
/// empty rehashes its index several times per token.
struct ClaimsVisitor;

/// Room for the claims of a typical ID token (about twenty).
const CLAIMS_CAPACITY: usize = 32;

impl<'de> serde::de::Visitor<'de> for ClaimsVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut access: A,
    ) -> Result<Self::Value, A::Error> {
        let mut claims = Map::with_capacity(CLAIMS_CAPACITY);
        while let Some((name, value)) = access.next_entry::<String, Value>()? {
            claims.insert(name, value);
        }
        Ok(claims)
    }
}

/// The members of a JWS header read here (RFC 7515 section 4.1), borrowed from its text.
/// Each has its registered type or the header is malformed, as josekit's header rules have it;
/// a member given twice is refused; the others are not read. None of those others (`jku`,
/// `jwk`, `x5u`, `x5c`...) may ever choose a key: a key comes from the provider's key set (or
/// the client secret) by `alg` and `kid` alone.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow, default, deserialize_with = "some_text")]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "some_text")]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "some_text")]
    typ: Option<Cow<'a, str>>,
    /// Present, `null` included: only an empty array is harmless.
    #[serde(borrow, default, deserialize_with = "present")]
    crit: Option<Vec<Text<'a>>>,
    /// RFC 7797's unencoded payload: only the default (`true`) is the JWS verified here, whose
    /// payload is base64url-decoded.
    #[serde(default, deserialize_with = "present")]
    b64: Option<bool>,
}

impl<'a> JoseHeader<'a> {
    /// `None` unless `json` is one JSON object whose members read here have their types.
    fn parse(json: &'a [u8]) -> Option<Self> {
        // `serde` would read a struct from an array too: only an object is a header.
        if json.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(json).ok()
    }
}

/// A string member, borrowed from the text where it has no escapes (`null` is no string).
fn some_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    crate::claims::borrowed_str(d).map(Some)
}

/// The verifier for a decoded header: its `alg` on the allow-list, the key by its `kid`.
/// `Ok(None)` when the token names a key the set does not have.
fn select_verifier(
    header: &JoseHeader<'_>,
    keys: TokenKeys<'_>,
    algorithms: &[String],
) -> Result<Option<(crate::jwks::KeyVerifier, &'static str)>, IdTokenError> {
    let alg = header
        .alg
        .as_deref()
        .ok_or_else(|| IdTokenError::Malformed("no alg".into()))?;
    let alg: &'static str = match algorithms.iter().find(|a| a.as_str() == alg) {
        Some(_) => static_alg(alg).ok_or_else(|| IdTokenError::AlgorithmNotAllowed(alg.into()))?,
        None => return Err(IdTokenError::AlgorithmNotAllowed(truncate(alg))),
    };
    let kid = header.kid.as_deref();
    let verifier = match (keys, is_hmac(alg)) {
        (TokenKeys::Provider(keys), false) => match keys.verifier(alg, kid) {
            Ok(v) => v,
            Err(IdTokenError::UnknownKey) if kid.is_some() => return Ok(None),
            Err(e) => return Err(e),
        },
        // The secret is the one key: a `kid` names nothing to fetch.
        (TokenKeys::ClientSecret(secret), true) => hmac_verifier(alg, secret)?,
        _ => return Err(IdTokenError::AlgorithmNotAllowed(alg.to_owned())),
    };
    Ok(Some((verifier, alg)))
}

/// The HMAC verifier keyed with the octets of the client secret (OpenID Connect Core 10.1).
/// A secret shorter than the hash is refused here too (josekit does), not only at
/// configuration.
fn hmac_verifier(
    alg: &'static str,
    secret: &Secret,
) -> Result<crate::jwks::KeyVerifier, IdTokenError> {
    use josekit::jws::{HS256, HS384, HS512};
    use std::sync::Arc;
    let key = secret.expose().as_bytes();
    let short = |_| IdTokenError::UnknownKey;
    let signer = match alg {
        "HS256" => HS256.signer_from_bytes(key).map_err(short)?,
        "HS384" => HS384.signer_from_bytes(key).map_err(short)?,
        "HS512" => HS512.signer_from_bytes(key).map_err(short)?,
        other => return Err(IdTokenError::AlgorithmNotAllowed(other.to_owned())),
    };
    Ok(crate::jwks::KeyVerifier {
        verifier: Arc::new(ConstantTimeHmac { signer }),
        curve: None,
    })
}

/// Verifies an HMAC JWS by computing the MAC over the signing input with josekit's signer and
/// comparing it in constant time: josekit's own HMAC verifier compares with `!=`, whose early
/// exit tells an attacker, byte by byte, how much of a forged MAC is right.
#[derive(Clone)]
struct ConstantTimeHmac {
    signer: josekit::jws::alg::hmac::HmacJwsSigner,
}

impl std::fmt::Debug for ConstantTimeHmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use josekit::jws::JwsSigner;
        f.debug_struct("ConstantTimeHmac")
            .field("alg", &self.signer.algorithm().name())
            .finish_non_exhaustive()
    }
}

/// Why an HMAC JWS was refused (never shown with the MACs themselves).
#[derive(Debug, thiserror::Error)]
#[error("the MAC does not match")]
struct MacMismatch;

impl josekit::jws::JwsVerifier for ConstantTimeHmac {
    fn algorithm(&self) -> &dyn josekit::jws::JwsAlgorithm {
        josekit::jws::JwsSigner::algorithm(&self.signer)
    }

    fn key_id(&self) -> Option<&str> {
        None
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), josekit::JoseError> {
        use base64::Engine;
        let expected = josekit::jws::JwsSigner::sign(&self.signer, message)?;
        // `constant_time_eq` compares strings; the base64url forms of two MACs of one length
        // have one length, and are equal exactly when the MACs are.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        if constant_time_eq(&b64.encode(expected), &b64.encode(signature)) {
            Ok(())
        } else {
            Err(josekit::JoseError::InvalidSignature(MacMismatch.into()))
        }
    }

    fn box_clone(&self) -> Box<dyn josekit::jws::JwsVerifier> {
        Box::new(self.clone())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

fn static_alg(alg: &str) -> Option<&'static str> {
    crate::config::DEFAULT_ALGORITHMS
        .iter()
        .chain(crate::signing::HMAC_ALGORITHMS)
        .copied()
        .find(|a| *a == alg)
}

/// The claims an ID token's validation reads, borrowed from the payload's text; every other
/// claim is skipped here (the claims set kept afterwards checks the whole text strictly). A
/// claim named twice is refused (here `serde` reports the duplicate field; the claims set
/// refuses any repeated name): which of two `aud`s or `nonce`s counted would otherwise be up
/// to the parser.
///
/// The registered claims follow josekit's JWT rules, as for every other JWT here: `iss`, `sub`
/// and `jti` strings, `aud` a string or an array of strings, `exp`, `nbf` and `iat`
/// non-negative numbers; a claim breaking them makes the token malformed. The others are read
/// leniently, as absent when of another type, which each check then treats as it treats a
/// missing claim.
#[derive(Default)]
struct CheckedClaims<'a> {
    iss: Option<Text<'a>>,
    sub: Option<Text<'a>>,
    aud: Option<Audience<'a>>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    azp: LenientStr<'a>,
    nonce: LenientStr<'a>,
    acr: LenientStr<'a>,
    at_hash: LenientStr<'a>,
    c_hash: LenientStr<'a>,
    /// Absent, or present (a string or not: a tenant template tells the two apart).
    tid: Option<LenientStr<'a>>,
    auth_time: Lenient<u64>,
}

impl<'a> CheckedClaims<'a> {
    /// `None` unless `payload` is one JSON object, as strict as a claims set (every value
    /// decoded, no name twice), whose checked claims have their types: the one pass that both
    /// checks the text the session keeps and reads the claims checked here.
    fn parse(payload: &'a str) -> Option<Self> {
        // `serde` would read a map from an array too: only an object is a claims set.
        if !payload.starts_with('{') {
            return None;
        }
        crate::claims::check_picking(payload, CheckedClaims::default()).ok()
    }
}

impl<'de> crate::claims::PickClaims<'de> for CheckedClaims<'de> {
    fn pick<A: serde::de::MapAccess<'de>>(
        &mut self,
        name: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        // Each type reads its value in full (`Text` and `Audience` decode their strings, the
        // lenient ones check what they do not keep): the set's strict check stays whole. A
        // name given twice is refused by that check, after this.
        match name {
            "iss" => self.iss = Some(map.next_value()?),
            "sub" => self.sub = Some(map.next_value()?),
            // Only its type is checked.
            "jti" => {
                map.next_value::<Text<'de>>()?;
            }
            "aud" => self.aud = Some(map.next_value()?),
            "exp" => self.exp = Some(map.next_value()?),
            "nbf" => self.nbf = Some(map.next_value()?),
            "iat" => self.iat = Some(map.next_value()?),
            "azp" => self.azp = map.next_value()?,
            "nonce" => self.nonce = map.next_value()?,
            "acr" => self.acr = map.next_value()?,
            "at_hash" => self.at_hash = map.next_value()?,
            "c_hash" => self.c_hash = map.next_value()?,
            "tid" => self.tid = Some(map.next_value()?),
            "auth_time" => self.auth_time = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A present claim, `null` included (`Option`'s own reading would take `null` for absent).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A string claim, borrowed from the payload where it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::claims::borrowed_str(d).map(Text)
    }
}

/// `aud`: one string or an array of strings.
struct Audience<'a>(Vec<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Audience<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Audience(vec![Cow::Borrowed(v)]))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Audience(vec![Cow::Owned(v.to_owned())]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(Text(a)) = seq.next_element()? {
                    all.push(a);
                }
                Ok(Audience(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// `exp`, `nbf`, `iat`: a non-negative number (josekit's rule); `None` inside when it is not an
/// integer, which the time checks refuse as they refuse a missing claim.
struct NumericDate(Option<u64>);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NumericDate;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative number")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumericDate(Some(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|v| NumericDate(Some(v)))
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v < 0.0 {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                } else {
                    Ok(NumericDate(None))
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn check_claims(
    claims: &CheckedClaims<'_>,
    alg: &str,
    curve: Option<&str>,
    issuer: &IssuerPolicy,
    expect: &Expectations<'_>,
) -> Result<(), IdTokenError> {
    fn text<'t>(c: &'t Option<Text<'_>>) -> Option<&'t str> {
        c.as_ref().map(|t| &*t.0)
    }
    issuer.check_values(
        text(&claims.iss),
        claims.tid.as_ref().map(LenientStr::as_deref),
        expect.issuer,
    )?;
    if text(&claims.sub).is_none_or(str::is_empty) {
        return Err(IdTokenError::MissingClaim("sub"));
    }
    let audiences: &[Cow<'_, str>] = match &claims.aud {
        Some(aud) => &aud.0,
        None => return Err(IdTokenError::MissingClaim("aud")),
    };
    if !audiences.iter().any(|a| a == expect.client_id) {
        return Err(IdTokenError::Audience);
    }
    match claims.azp.as_deref() {
        Some(azp) if azp != expect.client_id => return Err(IdTokenError::AuthorizedParty),
        None if audiences.len() > 1 => return Err(IdTokenError::AuthorizedParty),
        _ => {}
    }
    let date = |d: &Option<NumericDate>| d.as_ref().map(|d| d.0);
    check_times(
        [date(&claims.exp), date(&claims.nbf), date(&claims.iat)],
        expect.now,
        expect.skew,
        &["exp", "iat"],
    )?;
    if let Some(max_age) = expect.max_age {
        let auth_time = claims
            .auth_time
            .0
            .ok_or(IdTokenError::MissingClaim("auth_time"))?;
        if auth_time
            .saturating_add(max_age)
            .saturating_add(expect.skew)
            < expect.now
        {
            return Err(IdTokenError::AuthenticationTooOld);
        }
    }
    if !expect.acr_values.is_empty() {
        match claims.acr.as_deref() {
            Some(acr) if expect.acr_values.iter().any(|v| v == acr) => {}
            Some(_) => return Err(IdTokenError::AuthenticationContext),
            None => return Err(IdTokenError::MissingClaim("acr")),
        }
    }
    match (expect.nonce, claims.nonce.as_deref()) {
        (Some(want), Some(got)) if constant_time_eq(want, got) => {}
        (Some(_), _) => return Err(IdTokenError::Nonce),
        (None, _) => {}
    }
    if let Some(token) = expect.access_token {
        match claims.at_hash.as_deref() {
            Some(h) if h == half_hash_for_curve(alg, curve, token)? => {}
            Some(_) => return Err(IdTokenError::AccessTokenHash),
            None if expect.require_at_hash => return Err(IdTokenError::AccessTokenHash),
            None => {}
        }
    }
    if let Some(code) = expect.code {
        match claims.c_hash.as_deref() {
            Some(h) if h == half_hash_for_curve(alg, curve, code)? => {}
            _ => return Err(IdTokenError::CodeHash),
        }
    }
    Ok(())
}

/// The time rules every signed token shares (ID tokens, RFC 9068 access tokens, logout
/// tokens), each with `skew` seconds of tolerance: `exp` not passed, `nbf` and `iat` not in the
/// future. A claim named in `required` must be present; the others are checked when present.
/// A present time claim that is not a non-negative integer is refused, never skipped: skipping
/// a malformed `nbf` would accept a token its issuer said is not valid yet.
pub(crate) fn check_time_claims(
    claims: &Map<String, Value>,
    now: u64,
    skew: u64,
    required: &[&'static str],
) -> Result<(), IdTokenError> {
    let read = |name| claims.get(name).map(Value::as_u64);
    check_times([read("exp"), read("nbf"), read("iat")], now, skew, required)
}

/// [`check_time_claims`] on the values of `exp`, `nbf` and `iat`: each `None` when absent,
/// `Some(None)` when present but not a non-negative integer.
fn check_times(
    values: [Option<Option<u64>>; 3],
    now: u64,
    skew: u64,
    required: &[&'static str],
) -> Result<(), IdTokenError> {
    for ((name, err), value) in [
        ("exp", IdTokenError::Expired),
        ("nbf", IdTokenError::NotYetValid),
        ("iat", IdTokenError::IssuedAt),
    ]
    .into_iter()
    .zip(values)
    {
        let value = match value {
            None if required.contains(&name) => return Err(IdTokenError::MissingClaim(name)),
            None => continue,
            Some(v) => v.ok_or(IdTokenError::MissingClaim(name))?,
        };
        let refused = if name == "exp" {
            now > value.saturating_add(skew)
        } else {
            value > now.saturating_add(skew)
        };
        if refused {
            return Err(err);
        }
    }
    Ok(())
}

/// `at_hash` / `c_hash`: the base64url left half of the hash that matches the JWS algorithm
/// (OpenID Connect Core 3.3.2.11). `EdDSA` here means Ed25519; use [`half_hash_for_curve`]
/// when the key may be Ed448.
pub fn half_hash(alg: &str, value: &str) -> Result<String, IdTokenError> {
    half_hash_for_curve(alg, None, value)
}

/// `at_hash` / `c_hash` for a token signed with `alg` by a key on curve `crv` (the JWK's
/// `crv`, which only matters for `EdDSA`): SHA-512 for Ed25519, SHAKE256 with a 114-byte output
/// for Ed448 (OpenID Connect Core 3.1.3.6 ties the hash to the curve, not to `EdDSA`).
pub fn half_hash_for_curve(
    alg: &str,
    crv: Option<&str>,
    value: &str,
) -> Result<String, IdTokenError> {
    use base64::Engine;
    use sha2::Digest;
    let digest = match (alg, crv) {
        ("EdDSA", Some("Ed448")) => {
            use sha3::digest::{ExtendableOutput, Update};
            let mut out = [0u8; 114];
            sha3::Shake256::default()
                .chain(value.as_bytes())
                .finalize_xof_into(&mut out);
            out.to_vec()
        }
        ("EdDSA", Some(other)) if other != "Ed25519" => {
            return Err(IdTokenError::AlgorithmNotAllowed(truncate(other)))
        }
        _ => match alg {
            "RS256" | "PS256" | "ES256" | "HS256" => {
                sha2::Sha256::digest(value.as_bytes()).to_vec()
            }
            "RS384" | "PS384" | "ES384" | "HS384" => {
                sha2::Sha384::digest(value.as_bytes()).to_vec()
            }
            "RS512" | "PS512" | "ES512" | "HS512" | "EdDSA" => {
                sha2::Sha512::digest(value.as_bytes()).to_vec()
            }
            other => return Err(IdTokenError::AlgorithmNotAllowed(truncate(other))),
        },
    };
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};
    use serde_json::json;

    struct Fixture {
        signer: josekit::jws::alg::rsassa::RsassaJwsSigner,
        keys: JwkSet,
        algs: Vec<String>,
    }

    /// The fixture's private key (DER) and its public JWKS, made once.
    fn key_material() -> &'static (Vec<u8>, String) {
        static KEY: std::sync::OnceLock<(Vec<u8>, String)> = std::sync::OnceLock::new();
        KEY.get_or_init(|| {
            let pair = RS256.generate_key_pair(2048).unwrap();
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id("k1");
            let doc = json!({ "keys": [jwk.as_ref()] });
            (pair.to_der_private_key(), doc.to_string())
        })
    }

    /// Every test signs with the same key pair, generated once: RSA key generation would
    /// otherwise be most of the time these tests take, and `cargo xtask mutants` runs them once
    /// per mutant.
    fn fixture() -> Fixture {
        let (der, jwks) = key_material();
        Fixture {
            signer: RS256.signer_from_der(der).unwrap(),
            keys: JwkSet::from_json(jwks.as_bytes(), 0).unwrap(),
            algs: vec!["RS256".into()],
        }
    }

    fn claims() -> Value {
        json!({"iss":"https://op","sub":"alice","aud":"client","exp":2000,"iat":1000,"nonce":"n1"})
    }

    fn sign(f: &Fixture, claims: &Value, kid: &str) -> String {
        let mut h = JwsHeader::new();
        h.set_token_type("JWT");
        h.set_key_id(kid);
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&p, &h, &f.signer).unwrap()
    }

    fn expect(f: &Fixture) -> Expectations<'_> {
        Expectations {
            issuer: "https://op",
            client_id: "client",
            nonce: Some("n1"),
            now: 1500,
            skew: 30,
            algorithms: &f.algs,
            access_token: None,
            require_at_hash: false,
            code: None,
            max_age: None,
            acr_values: &[],
        }
    }

    fn check(f: &Fixture, c: Value) -> Result<Validation, IdTokenError> {
        validate(&sign(f, &c, "k1"), &f.keys, &expect(f))
    }

    fn with(mut c: Value, k: &str, v: Value) -> Value {
        c[k] = v;
        c
    }

    #[test]
    fn valid_token() {
        let f = fixture();
        match check(&f, claims()).unwrap() {
            Validation::Valid(t) => {
                assert_eq!(t.subject(), "alice");
                assert!(!format!("{t:?}").contains(t.raw.expose()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn claim_failures() {
        let f = fixture();
        let c = claims();
        let cases = [
            (
                with(c.clone(), "iss", json!("https://evil")),
                IdTokenError::Issuer,
            ),
            (
                with(c.clone(), "aud", json!("other")),
                IdTokenError::Audience,
            ),
            (
                with(c.clone(), "aud", json!(["client", "other"])),
                IdTokenError::AuthorizedParty,
            ),
            (
                with(c.clone(), "azp", json!("other")),
                IdTokenError::AuthorizedParty,
            ),
            (with(c.clone(), "exp", json!(1400)), IdTokenError::Expired),
            (with(c.clone(), "iat", json!(9999)), IdTokenError::IssuedAt),
            (with(c.clone(), "nonce", json!("n2")), IdTokenError::Nonce),
            (
                with(c.clone(), "sub", json!("")),
                IdTokenError::MissingClaim("sub"),
            ),
        ];
        for (claims, want) in cases {
            assert_eq!(check(&f, claims).unwrap_err(), want);
        }
        let mut no_nonce = c.clone();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(&f, no_nonce).unwrap_err(), IdTokenError::Nonce);
        let mut no_exp = c.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            check(&f, no_exp).unwrap_err(),
            IdTokenError::MissingClaim("exp")
        );
        // Within skew is fine.
        assert!(check(&f, with(c.clone(), "exp", json!(1480))).is_ok());
        assert!(check(
            &f,
            with(c.clone(), "aud", json!(["client", "o"]))
                .as_object()
                .map(|m| {
                    let mut m = m.clone();
                    m.insert("azp".into(), json!("client"));
                    Value::Object(m)
                })
                .unwrap()
        )
        .is_ok());
    }

    #[test]
    fn token_without_kid_verifies_against_the_single_key() {
        let f = fixture();
        let mut h = JwsHeader::new();
        h.set_token_type("JWT");
        let p = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
        let token = jwt::encode_with_signer(&p, &h, &f.signer).unwrap();
        match validate(&token, &f.keys, &expect(&f)).unwrap() {
            Validation::Valid(t) => assert_eq!(t.subject(), "alice"),
            other => panic!("{other:?}"),
        }
        // And the same key still verifies tokens that name it.
        assert!(check(&f, claims()).is_ok());
    }

    #[test]
    fn unknown_kid_asks_for_refetch() {
        let f = fixture();
        let t = sign(&f, &claims(), "other");
        assert!(matches!(
            validate(&t, &f.keys, &expect(&f)).unwrap(),
            Validation::UnknownKey
        ));
    }

    #[test]
    fn bad_signature_and_alg_none() {
        let f = fixture();
        let t = sign(&f, &claims(), "k1");
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mid = parts[2].len() / 2;
        let flipped = if &parts[2][mid..mid + 1] == "A" {
            "B"
        } else {
            "A"
        };
        parts[2].replace_range(mid..mid + 1, flipped);
        let tampered = parts.join(".");
        assert_eq!(
            validate(&tampered, &f.keys, &expect(&f)).unwrap_err(),
            IdTokenError::BadSignature
        );
        let unsigned = jwt::encode_unsecured(
            &JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap(),
            &JwsHeader::new(),
        )
        .unwrap();
        assert!(matches!(
            validate(&unsigned, &f.keys, &expect(&f)).unwrap_err(),
            IdTokenError::AlgorithmNotAllowed(_)
        ));
        assert!(matches!(
            validate("a.b", &f.keys, &expect(&f)).unwrap_err(),
            IdTokenError::Malformed(_)
        ));
    }

    #[test]
    fn at_hash_and_c_hash() {
        let f = fixture();
        let at = half_hash("RS256", "token").unwrap();
        let ch = half_hash("RS256", "code").unwrap();
        let c = with(with(claims(), "at_hash", json!(at)), "c_hash", json!(ch));
        let t = sign(&f, &c, "k1");
        let mut e = expect(&f);
        e.access_token = Some("token");
        e.require_at_hash = true;
        e.code = Some("code");
        assert!(validate(&t, &f.keys, &e).is_ok());
        e.access_token = Some("other");
        assert_eq!(
            validate(&t, &f.keys, &e).unwrap_err(),
            IdTokenError::AccessTokenHash
        );
        e.access_token = Some("token");
        e.code = Some("other");
        assert_eq!(
            validate(&t, &f.keys, &e).unwrap_err(),
            IdTokenError::CodeHash
        );
        // Missing at_hash when required.
        let t2 = sign(&f, &claims(), "k1");
        e.code = None;
        assert_eq!(
            validate(&t2, &f.keys, &e).unwrap_err(),
            IdTokenError::AccessTokenHash
        );
    }

    /// `at_hash`/`c_hash` against literal values: OpenID Connect Core Appendix A.4's published
    /// `c_hash` for its example code (SHA-256), and for SHA-384/SHA-512 values computed at
    /// authoring time with `openssl dgst -sha384|-sha512 -binary | head -c N/2 | base64` made
    /// url-safe, so a wrong hash, a wrong half or a padded encoding each fail here. HMAC ID
    /// tokens hash with their algorithm's SHA-2 (HS256: SHA-256, ...).
    #[test]
    fn half_hash_known_vectors() {
        let code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk";
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNrdJ-Q";
        for (algs, code_hash, token_hash) in [
            (
                ["RS256", "PS256", "ES256", "HS256"],
                "LDktKdoQak3Pk0cnXxCltA",
                "Qtki6x8fXkQmKMk_j_COeA",
            ),
            (
                ["RS384", "PS384", "ES384", "HS384"],
                "Mq-knyaEMtWGfnBi2POEZb1kiLx10_DF",
                "prooHVT_ZXP5Dwz3T2pJGLCt-0gV_GjL",
            ),
            (
                ["RS512", "PS512", "ES512", "HS512"],
                "E9z1C-c0Az4eTEzE0Nm3OQ3BS2BhMgxuP7x5JAQj1_4",
                "nH5XY4JlKu0RDcBNdISaeyLVXdJJq0ZGANoY8uXWQx8",
            ),
        ] {
            for alg in algs {
                assert_eq!(half_hash(alg, code).unwrap(), code_hash, "{alg}");
                assert_eq!(half_hash(alg, token).unwrap(), token_hash, "{alg}");
            }
        }
        assert_eq!(
            half_hash("EdDSA", code).unwrap(),
            "E9z1C-c0Az4eTEzE0Nm3OQ3BS2BhMgxuP7x5JAQj1_4"
        );
        assert!(matches!(
            half_hash("none", code).unwrap_err(),
            IdTokenError::AlgorithmNotAllowed(_)
        ));
    }

    /// The RFC 7515 A.2 (RS256) and A.3 (ES256) example JWSs verify against their published
    /// public keys through the core's own key set and algorithm rules, and one changed signature
    /// character makes each a `BadSignature`: the JWK import and algorithm-to-key matching are
    /// right for RSA and P-256, not only for keys this crate generated itself.
    #[test]
    fn rfc7515_examples_verify_and_tampering_fails() {
        let payload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let rs256 = format!(
            "eyJhbGciOiJSUzI1NiJ9.{payload}.{}",
            concat!(
                "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
                "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
                "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
                "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
                "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
                "p0igcN_IoypGlUPQGe77Rw"
            )
        );
        let rsa_key = json!({"kty": "RSA", "e": "AQAB", "n": concat!(
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
            "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
            "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
            "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
            "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
            "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        )});
        let es256 = format!(
            "eyJhbGciOiJFUzI1NiJ9.{payload}.{}",
            "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
        );
        let ec_key = json!({"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        for (alg, token, key) in [("RS256", rs256, rsa_key), ("ES256", es256, ec_key)] {
            let keys =
                JwkSet::from_json(json!({ "keys": [key] }).to_string().as_bytes(), 0).unwrap();
            let algs = vec![alg.to_owned()];
            let verified = verify_jws(&token, &keys, &algs)
                .unwrap()
                .unwrap_or_else(|| panic!("{alg}: no key"));
            assert_eq!(verified.claims["iss"], "joe", "{alg}");
            assert_eq!(verified.claims["exp"], 1300819380, "{alg}");
            assert_eq!(
                verify_jws(&flip_signature_char(&token), &keys, &algs).err(),
                Some(IdTokenError::BadSignature),
                "{alg}"
            );
            let other = vec![if alg == "RS256" { "ES256" } else { "RS256" }.to_owned()];
            assert!(
                matches!(
                    verify_jws(&token, &keys, &other).err(),
                    Some(IdTokenError::AlgorithmNotAllowed(_))
                ),
                "{alg} is refused when only another algorithm is allowed"
            );
        }
    }

    /// RFC 8037 Appendix A.4's Ed25519 example verifies with its published public key through
    /// the core's key set (its payload is not JSON, so the JWS layer is called directly), and a
    /// changed signature character does not.
    #[test]
    fn rfc8037_ed25519_example_verifies_and_tampering_fails() {
        let token = concat!(
            "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.",
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        let key = json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let keys = JwkSet::from_json(json!({ "keys": [key] }).to_string().as_bytes(), 0).unwrap();
        let verifier = keys.verifier("EdDSA", None).unwrap();
        assert_eq!(verifier.curve, Some("Ed25519"));
        let (payload, _) =
            josekit::jws::deserialize_compact(token, verifier.verifier.as_ref()).unwrap();
        assert_eq!(payload, b"Example of Ed25519 signing");
        assert!(josekit::jws::deserialize_compact(
            flip_signature_char(token),
            verifier.verifier.as_ref()
        )
        .is_err());
        assert_eq!(
            keys.verifier("ES256", None).err(),
            Some(IdTokenError::UnknownKey),
            "an Ed25519 key never verifies another algorithm"
        );
    }

    /// HMAC tokens are verified by the constant-time comparison, not josekit's `!=`: the right
    /// MAC verifies, and a MAC wrong in its last byte only, truncated, lengthened or empty is
    /// refused as a bad signature; the verifier's Debug shows no key.
    #[test]
    fn hmac_macs_are_compared_in_constant_time() {
        use josekit::jws::JwsSigner;
        let secret = Secret::new("0123456789abcdef0123456789abcdef-hmac");
        for alg in ["HS256", "HS384", "HS512"] {
            let key = format!("{}{}", secret.expose(), "x".repeat(32));
            let secret = Secret::new(key.as_str());
            let v = hmac_verifier(static_alg(alg).unwrap(), &secret).unwrap();
            let shown = format!("{:?}", v.verifier);
            assert!(shown.starts_with("ConstantTimeHmac"), "{shown}");
            assert!(!shown.contains(secret.expose()), "{shown}");
            let signer = match alg {
                "HS256" => josekit::jws::HS256.signer_from_bytes(key.as_bytes()),
                "HS384" => josekit::jws::HS384.signer_from_bytes(key.as_bytes()),
                _ => josekit::jws::HS512.signer_from_bytes(key.as_bytes()),
            }
            .unwrap();
            let message = b"header.payload";
            let mac = signer.sign(message).unwrap();
            assert!(v.verifier.verify(message, &mac).is_ok(), "{alg}");
            let mut last = mac.clone();
            *last.last_mut().unwrap() ^= 1;
            let mut longer = mac.clone();
            longer.push(0);
            for bad in [last, mac[..mac.len() - 1].to_vec(), longer, Vec::new()] {
                assert!(
                    matches!(
                        v.verifier.verify(message, &bad),
                        Err(josekit::JoseError::InvalidSignature(_))
                    ),
                    "{alg}"
                );
            }
            assert!(v.verifier.verify(b"header.other", &mac).is_err(), "{alg}");
        }
    }

    /// An HS256 token is refused when it is validated, even if an allow-list naming HS256 and
    /// a symmetric key in the set reach the validator (configuration refuses HS256 too, but the
    /// validator must not depend on it): signing with a shared secret is never accepted.
    #[test]
    fn hs256_token_is_refused_at_validation() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let signer = josekit::jws::HS256.signer_from_bytes(secret).unwrap();
        let mut h = JwsHeader::new();
        h.set_key_id("hmac");
        let p = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
        let token = jwt::encode_with_signer(&p, &h, &signer).unwrap();
        use base64::Engine;
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let keys = JwkSet::from_json(
            json!({"keys": [{"kty": "oct", "kid": "hmac", "k": k}]})
                .to_string()
                .as_bytes(),
            0,
        )
        .unwrap();
        let f = fixture();
        let algs = vec!["HS256".to_owned(), "RS256".to_owned()];
        let mut e = expect(&f);
        e.algorithms = &algs;
        for (keys, name) in [(&keys, "with the secret as a key"), (&f.keys, "RSA keys")] {
            assert!(
                matches!(
                    validate(&token, keys, &e),
                    Err(IdTokenError::AlgorithmNotAllowed(ref a)) if a == "HS256"
                ),
                "{name}"
            );
            assert!(matches!(
                verify_jws(&token, keys, &algs),
                Err(IdTokenError::AlgorithmNotAllowed(_))
            ));
        }
    }

    fn hmac_token(alg: &str, key: &[u8], claims: &Value, kid: Option<&str>) -> String {
        use josekit::jws::{HS256, HS384, HS512};
        let signer: Box<dyn josekit::jws::JwsSigner> = match alg {
            "HS256" => Box::new(HS256.signer_from_bytes(key).unwrap()),
            "HS384" => Box::new(HS384.signer_from_bytes(key).unwrap()),
            _ => Box::new(HS512.signer_from_bytes(key).unwrap()),
        };
        let mut h = JwsHeader::new();
        if let Some(kid) = kid {
            h.set_key_id(kid);
        }
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&p, &h, signer.as_ref()).unwrap()
    }

    const SECRET: &str = "a-client-secret-of-64-bytes-0123456789-0123456789-0123456789-xyz";

    /// The algorithm confusion: a client that verifies with the provider's RSA key refuses an
    /// HS256 token MACed with that public key's octets (its modulus `n`, its DER, its PEM, its
    /// JWK) and one MACed with the client secret, even if an allow-list naming HS256 reached
    /// the validator: an HMAC algorithm is never verified with the provider's keys.
    #[test]
    fn an_rs256_client_refuses_hs256_keyed_with_the_public_key_or_the_secret() {
        use base64::Engine;
        let f = fixture();
        let (der, jwks) = key_material();
        let jwks: Value = serde_json::from_str(jwks).unwrap();
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["n"].as_str().unwrap())
            .unwrap();
        let pair = RS256.key_pair_from_der(der).unwrap();
        let keys: Vec<(&str, Vec<u8>)> = vec![
            ("n", n),
            ("DER", pair.to_der_public_key()),
            ("PEM", pair.to_pem_public_key()),
            ("JWK", jwks["keys"][0].to_string().into_bytes()),
            ("secret", SECRET.as_bytes().to_vec()),
        ];
        let with_hs = vec!["RS256".to_owned(), "HS256".to_owned()];
        for (name, key) in keys {
            for kid in [None, Some("k1")] {
                let token = hmac_token("HS256", &key, &claims(), kid);
                for algs in [&f.algs, &with_hs] {
                    let mut e = expect(&f);
                    e.algorithms = algs;
                    assert_eq!(
                        validate(&token, &f.keys, &e).unwrap_err(),
                        IdTokenError::AlgorithmNotAllowed("HS256".into()),
                        "{name} {kid:?} {algs:?}"
                    );
                }
            }
        }
    }

    /// An HS256 client accepts a token MACed with its secret, and refuses one MACed with
    /// another secret, an unsigned one, and one signed with RS256 (by any key): with the
    /// secret as the key, asymmetric algorithms are never verified. A `kid` the secret does
    /// not have asks for no key set.
    #[test]
    fn an_hs256_client_accepts_its_secret_only() {
        let f = fixture();
        let secret = Secret::new(SECRET);
        let keys = TokenKeys::ClientSecret(&secret);
        let hs256 = vec!["HS256".to_owned()];
        let mut e = expect(&f);
        e.algorithms = &hs256;
        let exact = IssuerPolicy::Exact;
        for kid in [None, Some("unknown-kid")] {
            let good = hmac_token("HS256", SECRET.as_bytes(), &claims(), kid);
            match validate_with(&good, keys, &exact, &e).unwrap() {
                Validation::Valid(t) => assert_eq!(t.subject(), "alice"),
                other => panic!("{other:?}"),
            }
        }
        let other = hmac_token("HS256", &[7u8; 32], &claims(), None);
        assert_eq!(
            validate_with(&other, keys, &exact, &e).unwrap_err(),
            IdTokenError::BadSignature
        );
        let unsigned = josekit::jwt::encode_unsecured(
            &JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap(),
            &JwsHeader::new(),
        )
        .unwrap();
        assert!(matches!(
            validate_with(&unsigned, keys, &exact, &e).unwrap_err(),
            IdTokenError::AlgorithmNotAllowed(_)
        ));
        let rs256 = sign(&f, &claims(), "k1");
        let both = vec!["HS256".to_owned(), "RS256".to_owned()];
        for algs in [&hs256, &both] {
            let mut e = expect(&f);
            e.algorithms = algs;
            assert_eq!(
                validate_with(&rs256, keys, &exact, &e).unwrap_err(),
                IdTokenError::AlgorithmNotAllowed("RS256".into()),
                "{algs:?}"
            );
        }
        // Validation itself refuses a secret too short for the algorithm.
        let short = Secret::new("short");
        let token = hmac_token("HS256", SECRET.as_bytes(), &claims(), None);
        assert_eq!(
            validate_with(&token, TokenKeys::ClientSecret(&short), &exact, &e).unwrap_err(),
            IdTokenError::UnknownKey
        );
    }

    /// HS384 and HS512 tokens verify with a long enough secret, with `at_hash` by their hash.
    #[test]
    fn hs384_and_hs512_verify_with_their_hash() {
        let f = fixture();
        let secret = Secret::new(SECRET);
        for alg in ["HS384", "HS512"] {
            let c = with(
                claims(),
                "at_hash",
                json!(half_hash(alg, "the-access-token").unwrap()),
            );
            let token = hmac_token(alg, SECRET.as_bytes(), &c, None);
            let algs = vec![alg.to_owned()];
            let mut e = expect(&f);
            e.algorithms = &algs;
            e.access_token = Some("the-access-token");
            e.require_at_hash = true;
            assert!(
                matches!(
                    validate_with(
                        &token,
                        TokenKeys::ClientSecret(&secret),
                        &IssuerPolicy::Exact,
                        &e
                    ),
                    Ok(Validation::Valid(_))
                ),
                "{alg}"
            );
        }
    }

    /// With a tenant template, a token is checked against the template and its `tid`, not the
    /// metadata's issuer.
    #[test]
    fn tenant_policy_applies_to_id_tokens() {
        let f = fixture();
        let policy = IssuerPolicy::tenant_template("https://op/{tenantid}/v2.0");
        let c = with(
            with(claims(), "iss", json!("https://op/t1/v2.0")),
            "tid",
            json!("t1"),
        );
        let token = sign(&f, &c, "k1");
        let keys = TokenKeys::Provider(&f.keys);
        assert!(matches!(
            validate_with(&token, keys, &policy, &expect(&f)),
            Ok(Validation::Valid(_))
        ));
        assert_eq!(
            validate(&token, &f.keys, &expect(&f)).unwrap_err(),
            IdTokenError::Issuer,
            "exact matching is unchanged"
        );
        let wrong = sign(&f, &with(c.clone(), "tid", json!("t2")), "k1");
        assert_eq!(
            validate_with(&wrong, keys, &policy, &expect(&f)).unwrap_err(),
            IdTokenError::Issuer
        );
    }

    fn flip_signature_char(token: &str) -> String {
        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut sig = sig.to_owned();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        sig.replace_range(0..1, flipped);
        format!("{head}.{sig}")
    }

    /// `exp`, `iat` and `nbf` at exactly `now ± skew` are accepted and one second beyond is
    /// refused (now = 1500, skew = 30), so a `>`/`>=` slip in either direction fails here.
    #[test]
    fn time_claims_at_the_boundary_second() {
        let f = fixture();
        let c = claims();
        assert!(check(&f, with(c.clone(), "exp", json!(1470))).is_ok());
        assert_eq!(
            check(&f, with(c.clone(), "exp", json!(1469))).unwrap_err(),
            IdTokenError::Expired
        );
        assert!(check(&f, with(c.clone(), "iat", json!(1530))).is_ok());
        assert_eq!(
            check(&f, with(c.clone(), "iat", json!(1531))).unwrap_err(),
            IdTokenError::IssuedAt
        );
        assert!(check(&f, with(c.clone(), "nbf", json!(1530))).is_ok());
        assert_eq!(
            check(&f, with(c.clone(), "nbf", json!(1531))).unwrap_err(),
            IdTokenError::NotYetValid
        );
    }

    /// A future `nbf` (beyond the skew) is refused, and so is one that is not a NumericDate
    /// (josekit will not sign one, so the rule is called directly): a malformed `nbf` must not
    /// be read as "no `nbf`".
    #[test]
    fn future_or_malformed_nbf_is_refused() {
        let f = fixture();
        assert_eq!(
            check(&f, with(claims(), "nbf", json!(1600))).unwrap_err(),
            IdTokenError::NotYetValid
        );
        assert!(check(&f, with(claims(), "nbf", json!(1000))).is_ok());
        let mut c = claims().as_object().unwrap().clone();
        c.insert("nbf".into(), json!("soon"));
        assert_eq!(
            check_time_claims(&c, 1500, 30, &["exp", "iat"]).unwrap_err(),
            IdTokenError::MissingClaim("nbf")
        );
    }

    /// Ed448 hashes with SHAKE256 (114 bytes, left half 57 bytes), Ed25519 with SHA-512: known
    /// vectors (computed with Python's hashlib) and a whole Ed448-signed token with `at_hash`.
    #[test]
    fn eddsa_half_hash_follows_the_curve() {
        assert_eq!(
            half_hash_for_curve("EdDSA", Some("Ed448"), "token").unwrap(),
            "ZpsVsPHyCxw-L854tH1BSHo_uyeotZeU9GcDngReCYbbGANfhQ0WKs70DNeb3r5aEWB26f_H-CGq"
        );
        let ed25519 = "ImXaughy_DrvFp0Hk2XlkPDLyO1GwqeYTIpkKAPP2Ww";
        assert_eq!(
            half_hash_for_curve("EdDSA", Some("Ed25519"), "token").unwrap(),
            ed25519
        );
        assert_eq!(half_hash("EdDSA", "token").unwrap(), ed25519);

        use josekit::jwk::alg::ed::EdCurve;
        let pair = josekit::jws::EdDSA
            .generate_key_pair(EdCurve::Ed448)
            .unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id("ed");
        let keys =
            JwkSet::from_json(json!({ "keys": [jwk.as_ref()] }).to_string().as_bytes(), 0).unwrap();
        let signer = josekit::jws::EdDSA
            .signer_from_der(pair.to_der_private_key())
            .unwrap();
        let mut h = JwsHeader::new();
        h.set_key_id("ed");
        let c = with(
            claims(),
            "at_hash",
            json!(half_hash_for_curve("EdDSA", Some("Ed448"), "token").unwrap()),
        );
        let p = JwtPayload::from_map(c.as_object().unwrap().clone()).unwrap();
        let token = jwt::encode_with_signer(&p, &h, &signer).unwrap();
        let algs = vec!["EdDSA".to_owned()];
        let rsa = fixture();
        let mut e = expect(&rsa);
        e.algorithms = &algs;
        e.access_token = Some("token");
        e.require_at_hash = true;
        assert!(matches!(
            validate(&token, &keys, &e).unwrap(),
            Validation::Valid(_)
        ));
        e.access_token = Some("other");
        assert_eq!(
            validate(&token, &keys, &e).unwrap_err(),
            IdTokenError::AccessTokenHash
        );
    }

    /// With `max_age` sent, `auth_time` is required and may be at most `max_age + skew` old
    /// (now = 1500, skew = 30, max_age = 100: 1370 is the oldest accepted); without `max_age`
    /// neither is asked.
    #[test]
    fn max_age_requires_a_recent_auth_time() {
        let f = fixture();
        let mut e = expect(&f);
        e.max_age = Some(100);
        let run = |c: Value, e: &Expectations<'_>| validate(&sign(&f, &c, "k1"), &f.keys, e);
        assert!(run(with(claims(), "auth_time", json!(1370)), &e).is_ok());
        assert_eq!(
            run(with(claims(), "auth_time", json!(1369)), &e).unwrap_err(),
            IdTokenError::AuthenticationTooOld
        );
        assert_eq!(
            run(claims(), &e).unwrap_err(),
            IdTokenError::MissingClaim("auth_time")
        );
        assert!(run(claims(), &expect(&f)).is_ok(), "no max_age, no check");
        assert!(run(with(claims(), "auth_time", json!(1)), &expect(&f)).is_ok());
    }

    /// With `acr_values` sent, `acr` must be one of them; another class or none is refused.
    #[test]
    fn acr_must_be_one_requested() {
        let f = fixture();
        let wanted = vec!["urn:gold".to_owned(), "urn:silver".to_owned()];
        let mut e = expect(&f);
        e.acr_values = &wanted;
        let run = |c: Value, e: &Expectations<'_>| validate(&sign(&f, &c, "k1"), &f.keys, e);
        assert!(run(with(claims(), "acr", json!("urn:silver")), &e).is_ok());
        assert_eq!(
            run(with(claims(), "acr", json!("urn:bronze")), &e).unwrap_err(),
            IdTokenError::AuthenticationContext
        );
        assert_eq!(
            run(claims(), &e).unwrap_err(),
            IdTokenError::MissingClaim("acr")
        );
        assert!(run(with(claims(), "acr", json!("urn:bronze")), &expect(&f)).is_ok());
    }

    /// `auth_time` is read from the claims when it is a NumericDate, and absent otherwise: the
    /// session's "last authenticated" time (and `max_age` on refresh) depend on it.
    #[test]
    fn auth_time_is_the_claim() {
        let token = |c: Value| IdToken::new(Secret::new("x"), ClaimsSet::try_from(c).unwrap());
        assert_eq!(
            token(with(claims(), "auth_time", json!(1234))).auth_time(),
            Some(1234)
        );
        assert_eq!(
            token(with(claims(), "auth_time", json!(99))).auth_time(),
            Some(99)
        );
        assert_eq!(token(claims()).auth_time(), None);
        assert_eq!(
            token(with(claims(), "auth_time", json!("1234"))).auth_time(),
            None
        );
        assert_eq!(token(json!({})).subject(), "");
        let shown = format!("{:?}", token(claims()));
        assert!(
            shown.contains("alice") && shown.contains("IdToken"),
            "{shown}"
        );
    }

    /// A token without a `kid` that no key in the set fits is refused as `UnknownKey`, not
    /// answered with a JWKS refetch: only a token naming a key the set lacks may cause one,
    /// and a token without a `kid` never names one.
    #[test]
    fn a_token_without_kid_and_no_fitting_key_is_refused_without_refetch() {
        let f = fixture();
        let mut h = JwsHeader::new();
        h.set_token_type("JWT");
        let p = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
        let token = jwt::encode_with_signer(&p, &h, &f.signer).unwrap();
        let empty = JwkSet::from_json(br#"{"keys":[]}"#, 0).unwrap();
        assert!(matches!(
            validate(&token, &empty, &expect(&f)),
            Err(IdTokenError::UnknownKey)
        ));
        assert!(matches!(
            verify_jws(&token, &empty, &f.algs),
            Err(IdTokenError::UnknownKey)
        ));
        // Naming a key the set lacks does ask for one.
        assert!(matches!(
            verify_jws(&sign(&f, &claims(), "k9"), &f.keys, &f.algs),
            Ok(None)
        ));
        let verified = verify_jws(&sign(&f, &claims(), "k1"), &f.keys, &f.algs)
            .unwrap()
            .unwrap();
        assert_eq!(verified.typ.as_deref(), Some("JWT"));
        assert_eq!(verified.claims["sub"], "alice");
    }

    /// An algorithm name that is not allowed is echoed in the error cut to 32 characters, so a
    /// forged header cannot fill logs; an EdDSA key on an unknown curve has no `at_hash`.
    #[test]
    fn refused_algorithm_names_are_truncated() {
        use base64::Engine;
        let f = fixture();
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let header = b64(&format!("{{\"alg\":\"{}\"}}", "X".repeat(100)));
        let token = format!("{header}.{}.c2ln", b64("{}"));
        for err in [
            validate(&token, &f.keys, &expect(&f)).unwrap_err(),
            verify_jws(&token, &f.keys, &f.algs).err().unwrap(),
        ] {
            assert_eq!(err, IdTokenError::AlgorithmNotAllowed("X".repeat(32)));
        }
        assert_eq!(
            half_hash_for_curve("EdDSA", Some("Ed999"), "t").unwrap_err(),
            IdTokenError::AlgorithmNotAllowed("Ed999".into())
        );
    }

    /// `Debug` of what a token is checked against says whether a nonce, access token or code
    /// is expected, never their values.
    #[test]
    fn expectations_debug_hides_values() {
        let f = fixture();
        let mut e = expect(&f);
        e.access_token = Some("the-access-token");
        e.code = Some("the-code");
        let shown = format!("{e:?}");
        assert!(
            shown.contains("has_nonce: true") && shown.contains("https://op"),
            "{shown}"
        );
        for secret in ["n1", "the-access-token", "the-code"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    /// Signs `payload` as it is (josekit's JWT encoder would refuse the ill-typed claims these
    /// tests need), with `header`'s `kid` and the fixture's key.
    fn sign_raw(f: &Fixture, header: &JwsHeader, payload: &[u8]) -> String {
        josekit::jws::serialize_compact(payload, header, &f.signer).unwrap()
    }

    /// Verifying on the compact parts keeps josekit's JWT rules: a correctly signed payload
    /// whose registered claims have the wrong types (an `aud` of numbers, a string `exp`), or
    /// that is not a JSON object, is refused as malformed; a header with a `crit` extension
    /// this code does not understand, and a token in more or fewer parts, are refused too.
    #[test]
    fn signed_but_ill_formed_tokens_are_refused() {
        let f = fixture();
        let mut h = JwsHeader::new();
        h.set_key_id("k1");
        let mut good = claims();
        good["aud"] = json!("client");
        let ok = sign_raw(&f, &h, good.to_string().as_bytes());
        assert!(matches!(
            validate(&ok, &f.keys, &expect(&f)),
            Ok(Validation::Valid(_))
        ));
        for bad in [
            with(claims(), "aud", json!([1, "client"])).to_string(),
            with(claims(), "exp", json!("2000")).to_string(),
            with(claims(), "iss", json!(["https://op"])).to_string(),
            "[1, 2]".to_owned(),
            "not json".to_owned(),
        ] {
            let token = sign_raw(&f, &h, bad.as_bytes());
            assert!(
                matches!(
                    validate(&token, &f.keys, &expect(&f)).unwrap_err(),
                    IdTokenError::Malformed(_)
                ),
                "{bad}"
            );
        }
        let mut crit = JwsHeader::new();
        crit.set_key_id("k1");
        crit.set_critical(&vec!["exp-ext"]);
        crit.set_claim("exp-ext", Some(json!(1))).unwrap();
        let token = sign_raw(&f, &crit, good.to_string().as_bytes());
        assert!(matches!(
            validate(&token, &f.keys, &expect(&f)).unwrap_err(),
            IdTokenError::Malformed(_)
        ));
        for token in [format!("{ok}.x"), "a.b.c.d.e".to_owned(), "ab".to_owned()] {
            assert!(
                matches!(
                    validate(&token, &f.keys, &expect(&f)).unwrap_err(),
                    IdTokenError::Malformed(_)
                ),
                "{token}"
            );
        }
    }

    /// `header` (JSON text, as sent) over `payload`, signed with the fixture's key.
    fn sign_header_text(f: &Fixture, header: &str, payload: &[u8]) -> String {
        use base64::Engine;
        use josekit::jws::JwsSigner;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input = format!("{}.{}", b64.encode(header), b64.encode(payload));
        let signature = f.signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64.encode(signature))
    }

    /// The header is read for `alg`, `kid`, `typ` and `crit` only, each of its registered type:
    /// a header that is no object, names a member twice, gives one of them another type or
    /// `null`, or lists any critical extension is refused before the signature is checked.
    #[test]
    fn ill_formed_headers_are_refused() {
        let f = fixture();
        let mut good = claims();
        good["aud"] = json!("client");
        let payload = good.to_string();
        let run = |header: &str| {
            validate(
                &sign_header_text(&f, header, payload.as_bytes()),
                &f.keys,
                &expect(&f),
            )
        };
        for ok in [
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#" {"kid":"k1","alg":"RS256","typ":"JWT","crit":[],"x5t":7,"b64":true}"#,
            r#"{"alg":"RS\u0032\u0035\u0036","kid":"k\u0031"}"#,
        ] {
            assert!(matches!(run(ok), Ok(Validation::Valid(_))), "{ok}");
        }
        for bad in [
            r#"["RS256","k1"]"#,
            r#"{"alg":"RS256","kid":"k1","alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":"k1","kid":"k1"}"#,
            r#"{"alg":"RS256","kid":1}"#,
            r#"{"alg":null,"kid":"k1"}"#,
            r#"{"kid":"k1"}"#,
            r#"{"alg":"RS256","kid":"k1","typ":["JWT"]}"#,
            r#"{"alg":"RS256","kid":"k1","crit":null}"#,
            r#"{"alg":"RS256","kid":"k1","crit":"exp"}"#,
            r#"{"alg":"RS256","kid":"k1","crit":["exp"],"exp":1}"#,
            r#"{"alg":"RS256","kid":"k1","b64":false}"#,
            r#"{"alg":"RS256","kid":"k1","b64":false,"crit":[]}"#,
            r#"{"alg":"RS256","kid":"k1","b64":false,"crit":["b64"]}"#,
            r#"{"alg":"RS256","kid":"k1","b64":"no"}"#,
            r#"{"alg":"RS256","kid":"k1","b64":null}"#,
            r#"{"alg":"RS256","kid":"k1","\u0061lg":"HS256"}"#,
            r#"{"alg":"RS256","kid":"k1""#,
        ] {
            assert!(
                matches!(run(bad), Err(IdTokenError::Malformed(_))),
                "{bad}: {:?}",
                run(bad)
            );
        }
    }

    /// A value nested past serde_json's limit (128) is refused wherever it sits, in a claim
    /// read leniently too: the one pass reads every value on the payload's own parser, so the
    /// depth of the object around it counts. A token accepted here is a set `from_json` accepts.
    #[test]
    fn values_nested_past_the_limit_are_refused_in_every_claim() {
        let f = fixture();
        let mut h = JwsHeader::new();
        h.set_key_id("k1");
        let base =
            r#""iss":"https://op","sub":"alice","aud":"client","exp":2000,"iat":1000,"nonce":"n1""#;
        for name in [
            "azp",
            "acr",
            "at_hash",
            "c_hash",
            "tid",
            "auth_time",
            "x",
            "\\u0061cr",
        ] {
            for depth in 125..=129 {
                for value in [
                    format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
                    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)),
                ] {
                    let payload = format!(r#"{{{base},"{name}":{value}}}"#);
                    let fits = ClaimsSet::from_json(payload.clone()).is_ok();
                    // Within the object, a value's depth is one more than its own.
                    assert_eq!(fits, depth < 127, "{name} at {depth}");
                    let token = sign_raw(&f, &h, payload.as_bytes());
                    match validate(&token, &f.keys, &expect(&f)) {
                        Ok(Validation::Valid(t)) => {
                            assert!(fits, "{name} at {depth} accepted");
                            assert!(ClaimsSet::from_json(t.claims().as_json().into()).is_ok());
                        }
                        Err(IdTokenError::Malformed(_)) => assert!(!fits, "{name} at {depth}"),
                        // azp as an array is no string: absent, and one audience is enough.
                        other => panic!("{name} at {depth}: {other:?}"),
                    }
                }
            }
        }
    }

    /// A claim named twice is refused, whichever copy would have passed: which one a parser
    /// keeps is not the provider's statement, and a reader of the stored text might keep the
    /// other. A registered claim of `null` is malformed, a
    /// non-integer `exp` is refused like a missing one, and a lenient claim of another type
    /// counts as absent.
    #[test]
    fn repeated_checked_claims_are_refused() {
        let f = fixture();
        let mut h = JwsHeader::new();
        h.set_key_id("k1");
        let base = r#""iss":"https://op","sub":"alice","aud":"client","exp":2000,"iat":1000"#;
        let run =
            |payload: String| validate(&sign_raw(&f, &h, payload.as_bytes()), &f.keys, &expect(&f));
        for dup in [
            r#""nonce":"n1","nonce":"n1""#,
            r#""nonce":"n1","aud":"client""#,
            r#""nonce":"n1","sub":"alice""#,
            r#""nonce":"n1","azp":"client","azp":"client""#,
            r#""nonce":"n1","exp":2000"#,
        ] {
            assert!(
                matches!(
                    run(format!("{{{base},{dup}}}")),
                    Err(IdTokenError::Malformed(_))
                ),
                "{dup}"
            );
        }
        for unchecked in [r#""x":1,"x":2"#, r#""email":"a@op","\u0065mail":"b@op""#] {
            assert!(
                matches!(
                    run(format!(r#"{{{base},"nonce":"n1",{unchecked}}}"#)),
                    Err(IdTokenError::Malformed(_))
                ),
                "{unchecked}"
            );
        }
        // A value a full parse refuses is refused wherever it sits: in a claim validation does
        // not read, deep inside one, or in a claim it reads leniently (another type counting
        // as absent is no licence to skip checking it).
        for bad in [
            r#""pad":1e400"#,
            r#""x":"\ud800""#,
            r#""o":{"a":[1,{"b":-1e999}]}"#,
            r#""acr":"\ud800""#,
            r#""acr":[1e400]"#,
            r#""at_hash":{"x":"\udfff"}"#,
            r#""auth_time":1e400"#,
            r#""auth_time":["\ud800"]"#,
            r#""tid":[1e400]"#,
        ] {
            assert!(
                matches!(
                    run(format!(r#"{{{base},"nonce":"n1",{bad}}}"#)),
                    Err(IdTokenError::Malformed(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            run(format!(r#"{{{base},"nonce":"n1","jti":null}}"#)),
            Err(IdTokenError::Malformed(_))
        ));
        assert!(matches!(
            run(format!(r#"{{"iss":null,{},"nonce":"n1"}}"#, &base[19..])),
            Err(IdTokenError::Malformed(_))
        ));
        let float_exp = base.replace("2000", "2000.5");
        assert_eq!(
            run(format!(r#"{{{float_exp},"nonce":"n1"}}"#)).unwrap_err(),
            IdTokenError::MissingClaim("exp")
        );
        assert_eq!(
            run(format!(r#"{{{base},"nonce":7}}"#)).unwrap_err(),
            IdTokenError::Nonce
        );
        assert!(run(format!(r#"{{{base},"nonce":"n1","azp":null,"acr":5}}"#)).is_ok());
        // Escapes are decoded before a claim is compared.
        assert!(run(format!(r#"{{{base},"nonce":"\u006e1"}}"#)).is_ok());
        // Whitespace around the object is JSON's, and not kept.
        let Ok(Validation::Valid(token)) = run(format!(" \n{{{base},\"nonce\":\"n1\"}}\r\t"))
        else {
            panic!("whitespace around the payload is allowed");
        };
        assert_eq!(
            token.claims().as_json(),
            format!(r#"{{{base},"nonce":"n1"}}"#)
        );
    }

    /// The claims of a valid token are the payload's, every one of them, and its `typ` the
    /// header's: what the session keeps is read from the one decoding.
    #[test]
    fn the_payload_is_kept_whole() {
        let f = fixture();
        let c = with(
            with(claims(), "groups", json!(["a", "b"])),
            "address",
            json!({"country": "FR"}),
        );
        let token = sign(&f, &c, "k1");
        match validate(&token, &f.keys, &expect(&f)).unwrap() {
            Validation::Valid(t) => {
                assert_eq!(Value::Object(t.claims().to_map()), c);
                assert_eq!(t.raw.expose(), token);
            }
            other => panic!("{other:?}"),
        }
        let verified = verify_jws(&token, &f.keys, &f.algs).unwrap().unwrap();
        assert_eq!(verified.typ.as_deref(), Some("JWT"));
        let verified = verify_signature(&token, TokenKeys::Provider(&f.keys), &f.algs)
            .unwrap()
            .unwrap();
        assert_eq!((verified.alg, verified.curve), ("RS256", None));
    }
}
