//! Client authentication at the provider's token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `client_secret_jwt`, `private_key_jwt`
//! (OpenID Connect Core 9, RFC 7523) and `none`, the method chosen from discovery when the
//! app did not pin one ([`negotiate`]), and the app's own signing key ([`ClientPrivateKey`])
//! with the public JWKS the relying party serves for it.
//!
//! A JWT assertion carries `iss` = `sub` = the client id, `aud` = the URL of the endpoint it is
//! sent to (OpenID Connect Core 9 asks for the token endpoint's URL; Okta and others want the
//! URL of the endpoint called, which is the token endpoint for every grant;
//! [`AssertionAudience::Issuer`] sends the issuer instead, as RFC 7523bis recommends), a fresh
//! `jti`, `iat` and an `exp` one minute later: long enough for any clock skew, short enough
//! that a captured assertion is of little use.

use std::sync::Arc;

use bytes::Bytes;
use josekit::jwk::alg::{ec::EcCurve, ec::EcKeyPair, ed::EdCurve, ed::EdKeyPair, rsa::RsaKeyPair};
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{Error, Result};
use crate::metadata::{ClientAuthMethod, ClientMetadata};
use crate::secret::Secret;
use crate::wire;

/// `client_assertion_type` for JWT assertions (RFC 7523 2.2).
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid, seconds.
pub const ASSERTION_LIFETIME: u64 = 60;

/// HS256 needs a key at least as long as its hash (RFC 7518 3.2): a shorter client secret
/// cannot make a `client_secret_jwt` assertion.
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// Why a configured private key cannot be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientKeyError {
    /// Neither a PEM private key nor a JSON Web Key.
    #[error("not a PEM private key or a JWK")]
    Unreadable,
    /// A JWK without its private part (`d`).
    #[error("the JWK is a public key: private_key_jwt needs the private key")]
    NotPrivate,
    /// A key type or curve this client cannot sign with.
    #[error("unsupported key ({0}): use RSA (RS256, PS256), EC P-256 (ES256) or Ed25519 (EdDSA)")]
    Unsupported(String),
    /// An RSA key shorter than 2048 bits.
    #[error("the RSA key has {0} bits; at least 2048 are required")]
    WeakKey(u32),
    /// The algorithm asked for does not fit the key.
    #[error("the algorithm `{alg}` does not fit a {key} key")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        alg: String,
        /// The key's type.
        key: &'static str,
    },
}

impl From<ClientKeyError> for Error {
    fn from(e: ClientKeyError) -> Self {
        Error::config("client_private_key", e.to_string())
    }
}

/// The signature algorithms a client key signs assertions with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default for RSA keys).
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl KeyAlgorithm {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rs256 => "RS256",
            KeyAlgorithm::Ps256 => "PS256",
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::EdDsa => "EdDSA",
        }
    }

    fn key_type(self) -> &'static str {
        match self {
            KeyAlgorithm::Rs256 | KeyAlgorithm::Ps256 => "RSA",
            KeyAlgorithm::Es256 => "EC P-256",
            KeyAlgorithm::EdDsa => "Ed25519",
        }
    }
}

struct KeyInner {
    /// The private key with `kid` and `alg`: the only copy, never printed.
    jwk: Jwk,
    alg: KeyAlgorithm,
    kid: String,
    /// The public half, with `kid`, `use` and `alg`: what the app's JWKS serves.
    public: Value,
}

/// This client's private key for `private_key_jwt`, from configuration (PEM or JWK). Its
/// `Debug` shows the algorithm and key id only. Cheap to clone.
#[derive(Clone)]
pub struct ClientPrivateKey(Arc<KeyInner>);

impl std::fmt::Debug for ClientPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPrivateKey")
            .field("alg", &self.0.alg.as_str())
            .field("kid", &self.0.kid)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ClientPrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.public == other.0.public
    }
}

impl ClientPrivateKey {
    /// A key from PEM (PKCS#8, or the traditional RSA and EC forms) or from a JWK (JSON), told
    /// apart by the PEM armour. See [`from_pem`](Self::from_pem) and
    /// [`from_jwk`](Self::from_jwk).
    pub fn parse(text: &str) -> std::result::Result<Self, ClientKeyError> {
        if text.trim_start().starts_with("-----BEGIN") {
            Self::from_pem(text)
        } else {
            Self::from_jwk(text)
        }
    }

    /// A PEM private key: RSA (signs RS256; [`with_algorithm`](Self::with_algorithm) for
    /// PS256), EC P-256 (ES256) or Ed25519 (EdDSA). Its `kid` is its RFC 7638 thumbprint.
    pub fn from_pem(pem: &str) -> std::result::Result<Self, ClientKeyError> {
        let pem = pem.trim().as_bytes();
        let (pair, alg): (Box<dyn KeyPair>, KeyAlgorithm) =
            if let Ok(rsa) = RsaKeyPair::from_pem(pem) {
                check_rsa_len(&rsa)?;
                (Box::new(rsa), KeyAlgorithm::Rs256)
            } else if let Ok(ec) = EcKeyPair::from_pem(pem, None) {
                if ec.curve() != EcCurve::P256 {
                    return Err(ClientKeyError::Unsupported(format!("EC {}", ec.curve())));
                }
                (Box::new(ec), KeyAlgorithm::Es256)
            } else if let Ok(ed) = EdKeyPair::from_pem(pem) {
                if ed.curve() != EdCurve::Ed25519 {
                    return Err(ClientKeyError::Unsupported(ed.curve().to_string()));
                }
                (Box::new(ed), KeyAlgorithm::EdDsa)
            } else {
                return Err(ClientKeyError::Unreadable);
            };
        Self::assemble(pair.to_jwk_key_pair(), alg, None)
    }

    /// A private JWK (`kty` RSA, EC with `crv` P-256, or OKP with `crv` Ed25519, and `d`).
    /// Its `kid` and `alg` are kept when present; otherwise the `kid` is the RFC 7638
    /// thumbprint and the algorithm the key type's default.
    pub fn from_jwk(json: &str) -> std::result::Result<Self, ClientKeyError> {
        let jwk =
            Jwk::from_bytes(json.trim().as_bytes()).map_err(|_| ClientKeyError::Unreadable)?;
        if jwk.parameter("d").is_none() {
            return Err(ClientKeyError::NotPrivate);
        }
        let (pair, default): (Box<dyn KeyPair>, KeyAlgorithm) = match jwk.key_type() {
            "RSA" => {
                let rsa = RsaKeyPair::from_jwk(&jwk).map_err(|_| ClientKeyError::Unreadable)?;
                check_rsa_len(&rsa)?;
                (Box::new(rsa), KeyAlgorithm::Rs256)
            }
            "EC" if jwk.curve() == Some("P-256") => (
                Box::new(EcKeyPair::from_jwk(&jwk).map_err(|_| ClientKeyError::Unreadable)?),
                KeyAlgorithm::Es256,
            ),
            "OKP" if jwk.curve() == Some("Ed25519") => (
                Box::new(EdKeyPair::from_jwk(&jwk).map_err(|_| ClientKeyError::Unreadable)?),
                KeyAlgorithm::EdDsa,
            ),
            other => {
                let curve = jwk.curve().map(|c| format!(" {c}")).unwrap_or_default();
                return Err(ClientKeyError::Unsupported(format!("{other}{curve}")));
            }
        };
        let alg = match jwk.algorithm() {
            None => default,
            Some(named) => algorithm_for(default, named)?,
        };
        Self::assemble(pair.to_jwk_key_pair(), alg, jwk.key_id().map(str::to_owned))
    }

    /// The same key signing with `alg` (`RS256` or `PS256` for an RSA key; an EC or Ed25519
    /// key has one algorithm).
    pub fn with_algorithm(self, alg: &str) -> std::result::Result<Self, ClientKeyError> {
        let alg = algorithm_for(self.0.alg, alg)?;
        Self::assemble(self.0.jwk.clone(), alg, Some(self.0.kid.clone()))
    }

    /// The same key under another key id.
    pub fn with_key_id(self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        let mut public = self.0.public.clone();
        public["kid"] = json!(kid);
        let mut jwk = self.0.jwk.clone();
        jwk.set_key_id(kid.clone());
        ClientPrivateKey(Arc::new(KeyInner {
            jwk,
            alg: self.0.alg,
            kid,
            public,
        }))
    }

    fn assemble(
        mut jwk: Jwk,
        alg: KeyAlgorithm,
        kid: Option<String>,
    ) -> std::result::Result<Self, ClientKeyError> {
        let public_jwk = match jwk.to_public_key() {
            Ok(p) => p,
            Err(_) => return Err(ClientKeyError::Unreadable),
        };
        let mut public: Map<String, Value> = public_jwk.as_ref().clone();
        for private_only in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            public.remove(private_only);
        }
        let kid = kid.unwrap_or_else(|| thumbprint(&public));
        public.insert("kid".into(), json!(kid));
        public.insert("use".into(), json!("sig"));
        public.insert("alg".into(), json!(alg.as_str()));
        public.remove("key_ops");
        jwk.set_key_id(kid.clone());
        jwk.set_algorithm(alg.as_str());
        let key = ClientPrivateKey(Arc::new(KeyInner {
            jwk,
            alg,
            kid,
            public: Value::Object(public),
        }));
        // A key the JOSE library cannot sign with is refused now, not at the first login.
        key.sign(Map::new())
            .map_err(|_| ClientKeyError::Unsupported(alg.key_type().to_owned()))?;
        Ok(key)
    }

    /// The key id sent in each assertion's header and published in the JWKS.
    pub fn key_id(&self) -> &str {
        &self.0.kid
    }

    /// The algorithm assertions are signed with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.0.alg
    }

    /// The public half as a JWK, with `kid`, `use: sig` and `alg`.
    pub fn public_jwk(&self) -> &Value {
        &self.0.public
    }

    fn sign(&self, claims: Map<String, Value>) -> Result<String> {
        self.sign_typed("JWT", claims)
    }

    /// `claims` signed with this key under the header `typ` (a request object's
    /// `oauth-authz-req+jwt`, RFC 9101 10.8).
    pub(crate) fn sign_typed(&self, typ: &str, claims: Map<String, Value>) -> Result<String> {
        let jwk = &self.0.jwk;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(self.0.kid.clone());
        let payload = JwtPayload::from_map(claims).map_err(signing_failed)?;
        let signed = match self.0.alg {
            KeyAlgorithm::Rs256 => josekit::jws::RS256
                .signer_from_jwk(jwk)
                .and_then(|s| jwt::encode_with_signer(&payload, &header, &s)),
            KeyAlgorithm::Ps256 => josekit::jws::PS256
                .signer_from_jwk(jwk)
                .and_then(|s| jwt::encode_with_signer(&payload, &header, &s)),
            KeyAlgorithm::Es256 => josekit::jws::ES256
                .signer_from_jwk(jwk)
                .and_then(|s| jwt::encode_with_signer(&payload, &header, &s)),
            KeyAlgorithm::EdDsa => josekit::jws::EdDSA
                .signer_from_jwk(jwk)
                .and_then(|s| jwt::encode_with_signer(&payload, &header, &s)),
        };
        signed.map_err(signing_failed)
    }
}

/// The JOSE library's message may quote key parameters: the error says only what failed.
fn signing_failed(_: josekit::JoseError) -> Error {
    Error::config(
        "client_private_key",
        "the client assertion could not be signed with this key",
    )
}

fn check_rsa_len(rsa: &RsaKeyPair) -> std::result::Result<(), ClientKeyError> {
    let bits = rsa.key_len() * 8;
    if bits < 2048 {
        return Err(ClientKeyError::WeakKey(bits));
    }
    Ok(())
}

/// `named` for a key whose default algorithm is `default`: an RSA key signs RS256 or PS256,
/// the others their one algorithm.
fn algorithm_for(
    default: KeyAlgorithm,
    named: &str,
) -> std::result::Result<KeyAlgorithm, ClientKeyError> {
    let alg = match named {
        "RS256" => KeyAlgorithm::Rs256,
        "PS256" => KeyAlgorithm::Ps256,
        "ES256" => KeyAlgorithm::Es256,
        "EdDSA" => KeyAlgorithm::EdDsa,
        _ => {
            return Err(ClientKeyError::AlgorithmMismatch {
                alg: named.to_owned(),
                key: default.key_type(),
            })
        }
    };
    if alg.key_type() != default.key_type() {
        return Err(ClientKeyError::AlgorithmMismatch {
            alg: named.to_owned(),
            key: default.key_type(),
        });
    }
    Ok(alg)
}

/// The RFC 7638 thumbprint of one of the app's own public JWKs (its default `kid`): the one
/// rule, [`crate::dpop::jwk_thumbprint`], which cannot fail for a key this crate parsed.
pub(crate) fn thumbprint(public: &Map<String, Value>) -> String {
    crate::dpop::jwk_thumbprint(public).unwrap_or_default()
}

/// The JWKS document of the app's public keys (each once, by `kid`).
pub fn jwks_document<'a>(keys: impl IntoIterator<Item = &'a ClientPrivateKey>) -> Value {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for key in keys {
        if !seen.contains(&key.key_id()) {
            seen.push(key.key_id());
            out.push(key.public_jwk().clone());
        }
    }
    json!({ "keys": out })
}

/// What an assertion's `aud` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAudience {
    /// The URL of the endpoint the assertion is sent to (the default): the token endpoint for
    /// every grant, as OpenID Connect Core 9 asks; the introspection endpoint for
    /// introspection.
    #[default]
    Endpoint,
    /// The provider's issuer identifier (RFC 7523bis).
    Issuer,
}

/// A provider's client authentication settings beyond the client's metadata: the private key
/// and the assertion audience (set on the
/// [`ProviderConfigBuilder`](crate::ProviderConfigBuilder)), and the app's JWKS URL (set by
/// the relying party).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientAuthConfig {
    pub(crate) key: Option<ClientPrivateKey>,
    pub(crate) audience: AssertionAudience,
    /// The app's JWKS URL, sent as `jwks_uri` at dynamic registration.
    pub(crate) jwks_uri: Option<Url>,
}

impl ClientAuthConfig {
    /// `ClientAuth` for `client` at `now` with `jti`, the audience per the settings.
    pub(crate) fn auth<'a>(
        &'a self,
        client: &'a ClientMetadata,
        issuer: &'a str,
        now: u64,
        jti: String,
    ) -> ClientAuth<'a> {
        let auth = ClientAuth::new(client)
            .private_key(self.key.as_ref())
            .assertion(now, jti);
        match self.audience {
            AssertionAudience::Endpoint => auth,
            AssertionAudience::Issuer => auth.audience(issuer),
        }
    }

    /// [`auth`](Self::auth) for a caller that may have no `jti`: without one no assertion is
    /// made (see [`ClientAuth::needs_assertion`]), rather than one with a `jti` that could
    /// repeat.
    pub(crate) fn auth_with<'a>(
        &'a self,
        client: &'a ClientMetadata,
        issuer: &'a str,
        now: u64,
        jti: Option<String>,
    ) -> ClientAuth<'a> {
        match jti {
            Some(jti) => self.auth(client, issuer, now, jti),
            None => {
                let auth = ClientAuth::new(client).private_key(self.key.as_ref());
                match self.audience {
                    AssertionAudience::Endpoint => auth,
                    AssertionAudience::Issuer => auth.audience(issuer),
                }
            }
        }
    }
}

/// How one request authenticates this client: its metadata, and what a JWT assertion needs
/// (the private key, the time, a fresh `jti`). The one place that applies client
/// authentication to a form POST, for every endpoint that takes it (token, introspection,
/// revocation).
#[derive(Debug, Clone)]
pub struct ClientAuth<'a> {
    client: &'a ClientMetadata,
    key: Option<&'a ClientPrivateKey>,
    assertion: Option<(u64, String)>,
    audience: Option<&'a str>,
}

impl<'a> ClientAuth<'a> {
    /// Authentication as `client` by its method (see [`method`](Self::method)). JWT methods
    /// need [`assertion`](Self::assertion) too, and `private_key_jwt` the key.
    pub fn new(client: &'a ClientMetadata) -> Self {
        ClientAuth {
            client,
            key: None,
            assertion: None,
            audience: None,
        }
    }

    /// The private key for `private_key_jwt`.
    pub fn private_key(mut self, key: Option<&'a ClientPrivateKey>) -> Self {
        self.key = key;
        self
    }

    /// The time (unix seconds) and a fresh, unique `jti` for a JWT assertion.
    pub fn assertion(mut self, now: u64, jti: impl Into<String>) -> Self {
        self.assertion = Some((now, jti.into()));
        self
    }

    /// Whether the [`method`](Self::method) authenticates with a JWT assertion
    /// (`client_secret_jwt`, `private_key_jwt`), which needs a fresh `jti`.
    pub fn needs_assertion(&self) -> bool {
        matches!(
            self.method(),
            ClientAuthMethod::ClientSecretJwt | ClientAuthMethod::PrivateKeyJwt
        )
    }

    /// Whether the time and a `jti` were given ([`assertion`](Self::assertion)).
    pub fn has_assertion(&self) -> bool {
        self.assertion.is_some()
    }

    /// The assertion's `aud` (default: the URL the request is sent to).
    pub fn audience(mut self, audience: &'a str) -> Self {
        self.audience = Some(audience);
        self
    }

    /// The method used: the client's (pinned or negotiated), or for a client whose method
    /// was never settled, `client_secret_basic` with a secret (the RFC 8414 default),
    /// `private_key_jwt` with a key alone, else `none`.
    pub fn method(&self) -> ClientAuthMethod {
        match self.client.token_endpoint_auth_method {
            Some(m) => m,
            None if self.client.client_secret.is_some() => ClientAuthMethod::ClientSecretBasic,
            None if self.key.is_some() => ClientAuthMethod::PrivateKeyJwt,
            None => ClientAuthMethod::None,
        }
    }

    /// A form POST to `url` with `form` and this client's authentication.
    pub fn post_form(&self, url: &str, form: Vec<(&str, &str)>) -> Result<http::Request<Bytes>> {
        // A binding of its own, whose fields may borrow from this call (the assertion).
        let mut form: Vec<(&str, &str)> = form;
        let client = self.client;
        let id = client.client_id.as_str();
        let secret = client.client_secret.as_ref().map(Secret::expose);
        let method = self.method();
        let missing_secret =
            || Error::config("client_secret", format!("required for {}", method.as_str()));
        match method {
            ClientAuthMethod::ClientSecretBasic => {
                let secret = secret.ok_or_else(missing_secret)?;
                wire::post_form(url, &form, Some((id, secret)))
            }
            ClientAuthMethod::ClientSecretPost => {
                let secret = secret.ok_or_else(missing_secret)?;
                form.push(("client_id", id));
                form.push(("client_secret", secret));
                wire::post_form(url, &form, None)
            }
            ClientAuthMethod::ClientSecretJwt | ClientAuthMethod::PrivateKeyJwt => {
                let assertion = self.client_assertion(url)?;
                form.push(("client_id", id));
                form.push(("client_assertion_type", JWT_BEARER_ASSERTION_TYPE));
                form.push(("client_assertion", assertion.expose()));
                wire::post_form(url, &form, None)
            }
            ClientAuthMethod::None => {
                form.push(("client_id", id));
                wire::post_form(url, &form, None)
            }
        }
    }

    /// The signed assertion for a request to `url`.
    fn client_assertion(&self, url: &str) -> Result<Secret> {
        let method = self.method();
        let Some((now, jti)) = &self.assertion else {
            return Err(Error::config(
                "token_endpoint_auth_method",
                format!(
                    "{} needs the time and a fresh jti (ClientAuth::assertion)",
                    method.as_str()
                ),
            ));
        };
        let claims = assertion_claims(
            &self.client.client_id,
            self.audience.unwrap_or(url),
            *now,
            jti,
        );
        let signed = match method {
            ClientAuthMethod::PrivateKeyJwt => {
                let key = self.key.ok_or_else(|| {
                    Error::config(
                        "client_private_key",
                        "private_key_jwt needs a private key (ProviderConfigBuilder::private_key)",
                    )
                })?;
                key.sign(claims)?
            }
            _ => {
                let secret = self.client.client_secret.as_ref().map(Secret::expose);
                hmac_assertion(secret.unwrap_or_default(), claims)?
            }
        };
        Ok(Secret::new(signed))
    }
}

/// The claims of an assertion (RFC 7523 3).
fn assertion_claims(client_id: &str, audience: &str, now: u64, jti: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(client_id));
    claims.insert("sub".into(), json!(client_id));
    claims.insert("aud".into(), json!(audience));
    claims.insert("jti".into(), json!(jti));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(ASSERTION_LIFETIME)));
    claims
}

/// A `client_secret_jwt` assertion: HS256 keyed with the client secret.
fn hmac_assertion(secret: &str, claims: Map<String, Value>) -> Result<String> {
    if secret.len() < MIN_HMAC_SECRET_LEN {
        return Err(Error::config(
            "client_secret",
            format!(
                "client_secret_jwt (HS256) needs a secret of at least {MIN_HMAC_SECRET_LEN} bytes"
            ),
        ));
    }
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    let fail = |_| Error::config("client_secret", "the client assertion could not be signed");
    let payload = JwtPayload::from_map(claims).map_err(fail)?;
    let signer = josekit::jws::HS256
        .signer_from_bytes(secret.as_bytes())
        .map_err(fail)?;
    jwt::encode_with_signer(&payload, &header, &signer).map_err(fail)
}

/// A `jti` derived from values unique to one request (a login's `state`), for callers of the
/// protocol pieces that give no fresh one: SHA-256 over a label and the values.
pub(crate) fn derived_jti(label: &str, parts: &[&[u8]]) -> String {
    use base64::Engine;
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.finalize()[..18])
}

/// The methods this client can use, in order of preference: with a private key,
/// `private_key_jwt` first; with a secret, `client_secret_basic`, `client_secret_post`, then
/// `client_secret_jwt` (when the secret is long enough for HS256); with neither, `none`.
pub fn capable_methods(client: &ClientMetadata, has_key: bool) -> Vec<ClientAuthMethod> {
    let mut methods = Vec::new();
    if has_key {
        methods.push(ClientAuthMethod::PrivateKeyJwt);
    }
    if let Some(secret) = client
        .client_secret
        .as_ref()
        .filter(|s| !s.expose().is_empty())
    {
        methods.push(ClientAuthMethod::ClientSecretBasic);
        methods.push(ClientAuthMethod::ClientSecretPost);
        if secret.expose().len() >= MIN_HMAC_SECRET_LEN {
            methods.push(ClientAuthMethod::ClientSecretJwt);
        }
    }
    if methods.is_empty() {
        methods.push(ClientAuthMethod::None);
    }
    methods
}

/// The method `client` uses at a provider advertising `supported`
/// (`token_endpoint_auth_methods_supported`).
///
/// - A pinned method is used as it is, but one the provider does not advertise (when it
///   advertises a list) is a configuration error, not a silent fallback. `none` is the
///   exception: a public client has nothing else to offer, and providers seldom list it.
/// - Unset, with no list: `client_secret_basic` (the RFC 8414 default) when the client has a
///   secret, else its first capable method.
/// - Unset, with a list: the first of [`capable_methods`] the provider advertises; none of
///   them is a configuration error.
pub fn negotiate(
    client: &ClientMetadata,
    key: Option<&ClientPrivateKey>,
    supported: Option<&[String]>,
) -> Result<ClientAuthMethod> {
    let advertised = supported.filter(|list| !list.is_empty());
    let listed = |m: ClientAuthMethod| advertised.is_none_or(|l| l.iter().any(|s| s == m.as_str()));
    let shown = || advertised.map(|l| l.join(", ")).unwrap_or_default();
    if let Some(pinned) = client.token_endpoint_auth_method {
        if pinned == ClientAuthMethod::PrivateKeyJwt && key.is_none() {
            return Err(Error::config(
                "client_private_key",
                "private_key_jwt needs a private key (ProviderConfigBuilder::private_key)",
            ));
        }
        if pinned != ClientAuthMethod::None && !listed(pinned) {
            return Err(Error::config(
                "token_endpoint_auth_method",
                format!(
                    "`{}` is pinned, but the provider supports only: {}",
                    pinned.as_str(),
                    shown()
                ),
            ));
        }
        return Ok(pinned);
    }
    let capable = capable_methods(client, key.is_some());
    if advertised.is_none() && capable.contains(&ClientAuthMethod::ClientSecretBasic) {
        return Ok(ClientAuthMethod::ClientSecretBasic);
    }
    capable.iter().copied().find(|m| listed(*m)).ok_or_else(|| {
        Error::config(
            "token_endpoint_auth_method",
            format!(
                "none of this client's methods ({}) is supported by the provider ({})",
                capable
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                shown()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(r: &http::Request<Bytes>) -> Map<String, Value> {
        form_urlencoded::parse(r.body())
            .map(|(k, v)| (k.into_owned(), json!(v)))
            .collect()
    }

    fn payload(jwt: &str) -> Value {
        use base64::Engine;
        let part = jwt.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn header(jwt: &str) -> Value {
        use base64::Engine;
        let part = jwt.split('.').next().unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn ec_pem() -> String {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        String::from_utf8(pair.to_pem_private_key()).unwrap()
    }

    const LONG_SECRET: &str = "0123456789abcdef0123456789abcdef-long";

    #[test]
    fn client_secret_jwt_assertion_has_the_rfc7523_claims() {
        let client = ClientMetadata::new("app", LONG_SECRET)
            .with_auth_method(ClientAuthMethod::ClientSecretJwt);
        let r = ClientAuth::new(&client)
            .assertion(1000, "jti-1")
            .post_form("https://op/token", vec![("grant_type", "x")])
            .unwrap();
        assert!(r.headers().get("authorization").is_none());
        let f = form(&r);
        assert_eq!(f["client_assertion_type"], JWT_BEARER_ASSERTION_TYPE);
        assert_eq!(f["client_id"], "app");
        assert!(f.get("client_secret").is_none());
        let jwt = f["client_assertion"].as_str().unwrap();
        assert_eq!(
            payload(jwt),
            json!({"iss": "app", "sub": "app", "aud": "https://op/token", "jti": "jti-1",
                "iat": 1000, "exp": 1060})
        );
        assert_eq!(header(jwt)["alg"], "HS256");
        let verifier = josekit::jws::HS256
            .verifier_from_bytes(LONG_SECRET.as_bytes())
            .unwrap();
        assert!(jwt::decode_with_verifier(jwt, &verifier).is_ok());
        let wrong = josekit::jws::HS256
            .verifier_from_bytes(b"another-secret-of-thirty-two-bytes!!")
            .unwrap();
        assert!(jwt::decode_with_verifier(jwt, &wrong).is_err());
    }

    #[test]
    fn private_key_jwt_is_signed_with_the_key_under_its_kid() {
        let key = ClientPrivateKey::parse(&ec_pem()).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Es256);
        let client = ClientMetadata::without_secret("app");
        let auth = ClientAuth::new(&client)
            .private_key(Some(&key))
            .assertion(5, "j")
            .audience("https://op.example");
        assert_eq!(auth.method(), ClientAuthMethod::PrivateKeyJwt);
        let r = auth.post_form("https://op/introspect", vec![]).unwrap();
        let jwt = form(&r)["client_assertion"].as_str().unwrap().to_owned();
        assert_eq!(payload(&jwt)["aud"], "https://op.example");
        let h = header(&jwt);
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["kid"], key.key_id());
        let public = Jwk::from_map(key.public_jwk().as_object().unwrap().clone()).unwrap();
        let verifier = josekit::jws::ES256.verifier_from_jwk(&public).unwrap();
        assert!(jwt::decode_with_verifier(&jwt, &verifier).is_ok());
    }

    #[test]
    fn jwt_methods_need_their_ingredients() {
        let client = ClientMetadata::new("app", LONG_SECRET)
            .with_auth_method(ClientAuthMethod::ClientSecretJwt);
        let err = ClientAuth::new(&client)
            .post_form("https://op/token", vec![])
            .unwrap_err();
        assert!(err.to_string().contains("jti"), "{err}");
        let short =
            ClientMetadata::new("app", "short").with_auth_method(ClientAuthMethod::ClientSecretJwt);
        let err = ClientAuth::new(&short)
            .assertion(1, "j")
            .post_form("https://op/token", vec![])
            .unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
        let keyless =
            ClientMetadata::without_secret("app").with_auth_method(ClientAuthMethod::PrivateKeyJwt);
        let err = ClientAuth::new(&keyless)
            .assertion(1, "j")
            .post_form("https://op/token", vec![])
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Config {
                    field: "client_private_key",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn keys_parse_from_pem_and_jwk_with_typed_errors() {
        let ed = EdKeyPair::generate(EdCurve::Ed25519).unwrap();
        let key =
            ClientPrivateKey::parse(&String::from_utf8(ed.to_pem_private_key()).unwrap()).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::EdDsa);
        let mut jwk = ed.to_jwk_key_pair();
        jwk.set_key_id("mine");
        let from_jwk = ClientPrivateKey::parse(&jwk.to_string()).unwrap();
        assert_eq!(from_jwk.key_id(), "mine");
        assert_eq!(from_jwk.public_jwk()["use"], "sig");
        assert_eq!(
            ClientPrivateKey::parse(&ed.to_jwk_public_key().to_string()).unwrap_err(),
            ClientKeyError::NotPrivate
        );
        assert_eq!(
            ClientPrivateKey::parse("not a key").unwrap_err(),
            ClientKeyError::Unreadable
        );
        assert_eq!(
            ClientPrivateKey::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .unwrap_err(),
            ClientKeyError::Unreadable
        );
        let p384 = EcKeyPair::generate(EcCurve::P384).unwrap();
        assert!(matches!(
            ClientPrivateKey::parse(&String::from_utf8(p384.to_pem_private_key()).unwrap()),
            Err(ClientKeyError::Unsupported(_))
        ));
        assert!(matches!(
            ClientPrivateKey::parse(&ec_pem())
                .unwrap()
                .with_algorithm("PS256"),
            Err(ClientKeyError::AlgorithmMismatch { .. })
        ));
        let weak = RsaKeyPair::generate(1024).unwrap();
        assert_eq!(
            ClientPrivateKey::parse(&String::from_utf8(weak.to_pem_private_key()).unwrap())
                .unwrap_err(),
            ClientKeyError::WeakKey(1024)
        );
        let err: Error = ClientKeyError::NotPrivate.into();
        assert!(matches!(
            err,
            Error::Config {
                field: "client_private_key",
                ..
            }
        ));
    }

    /// Malformed keys of every shape are typed errors, never panics.
    #[test]
    fn junk_keys_are_refused_with_a_typed_error() {
        for junk in [
            "",
            "{}",
            "[]",
            "null",
            "\u{0}\u{1}",
            r#"{"kty":"RSA","d":"AA"}"#,
            r#"{"kty":"RSA","n":5,"e":"AQAB","d":"x"}"#,
            r#"{"kty":"EC","crv":"P-256","d":"AA","x":"AA","y":"AA"}"#,
            r#"{"kty":"OKP","crv":"Ed25519","d":"!!","x":"AA"}"#,
            r#"{"kty":"oct","k":"AAAA","d":"x"}"#,
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\n////\n-----END RSA PRIVATE KEY-----",
        ] {
            assert!(ClientPrivateKey::parse(junk).is_err(), "{junk}");
        }
        let mut ec = EcKeyPair::generate(EcCurve::P256)
            .unwrap()
            .to_jwk_key_pair();
        ec.set_algorithm("HS256");
        assert!(matches!(
            ClientPrivateKey::parse(&ec.to_string()),
            Err(ClientKeyError::AlgorithmMismatch { .. })
        ));
    }

    #[test]
    fn rsa_keys_sign_rs256_or_ps256_and_publish_no_private_part() {
        let rsa = RsaKeyPair::generate(2048).unwrap();
        let pem = String::from_utf8(rsa.to_pem_private_key()).unwrap();
        let key = ClientPrivateKey::parse(&pem).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Rs256);
        let kid = key.key_id().to_owned();
        let pss = key.with_algorithm("PS256").unwrap();
        assert_eq!(
            (pss.key_id(), pss.algorithm()),
            (kid.as_str(), KeyAlgorithm::Ps256)
        );
        let public = pss.public_jwk().as_object().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(!public.contains_key(private), "{private}");
        }
        assert_eq!(public["alg"], "PS256");
        // RFC 7638's example: the thumbprint of this RSA key.
        let example = json!({"kty": "RSA", "e": "AQAB", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(example.as_object().unwrap()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let ed = EdKeyPair::generate(EdCurve::Ed25519).unwrap();
        let jwk = ed.to_jwk_key_pair();
        let d = jwk.parameter("d").unwrap().as_str().unwrap().to_owned();
        let key = ClientPrivateKey::parse(&jwk.to_string()).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("EdDSA") && !shown.contains(&d), "{shown}");
        let client = ClientMetadata::new("app", LONG_SECRET)
            .with_auth_method(ClientAuthMethod::ClientSecretJwt);
        let auth = ClientAuth::new(&client).private_key(Some(&key));
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains(&d) && !shown.contains(LONG_SECRET),
            "{shown}"
        );
    }

    #[test]
    fn negotiation_prefers_our_order_among_what_the_provider_advertises() {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let secret = ClientMetadata::new("app", "s3cret");
        let long = ClientMetadata::new("app", LONG_SECRET);
        let key = ClientPrivateKey::parse(&ec_pem()).unwrap();
        use ClientAuthMethod as M;
        assert_eq!(
            negotiate(&secret, None, None).unwrap(),
            M::ClientSecretBasic
        );
        assert_eq!(
            negotiate(&secret, None, Some(&[])).unwrap(),
            M::ClientSecretBasic
        );
        let post_only = list(&["client_secret_post"]);
        assert_eq!(
            negotiate(&secret, None, Some(&post_only)).unwrap(),
            M::ClientSecretPost
        );
        let both = list(&["client_secret_post", "client_secret_basic"]);
        assert_eq!(
            negotiate(&secret, None, Some(&both)).unwrap(),
            M::ClientSecretBasic
        );
        let jwt = list(&["client_secret_jwt", "private_key_jwt"]);
        assert!(
            negotiate(&secret, None, Some(&jwt)).is_err(),
            "short secret: no HS256"
        );
        assert_eq!(
            negotiate(&long, None, Some(&jwt)).unwrap(),
            M::ClientSecretJwt
        );
        assert_eq!(
            negotiate(&long, Some(&key), Some(&jwt)).unwrap(),
            M::PrivateKeyJwt
        );
        assert_eq!(
            negotiate(&long, Some(&key), None).unwrap(),
            M::ClientSecretBasic
        );
        let keyed = ClientMetadata::without_secret("app");
        assert_eq!(
            negotiate(&keyed, Some(&key), None).unwrap(),
            M::PrivateKeyJwt
        );
        // Pinned: used as it is when advertised, a configuration error when not.
        let pinned = secret.clone().with_auth_method(M::ClientSecretBasic);
        let err = negotiate(&pinned, None, Some(&post_only)).unwrap_err();
        assert!(
            matches!(&err, Error::Config { field: "token_endpoint_auth_method", reason } if reason.contains("client_secret_basic")),
            "{err}"
        );
        assert_eq!(
            negotiate(&pinned, None, None).unwrap(),
            M::ClientSecretBasic
        );
        let public = ClientMetadata::public("spa");
        assert_eq!(negotiate(&public, None, Some(&both)).unwrap(), M::None);
        let pk = keyed.with_auth_method(M::PrivateKeyJwt);
        assert!(negotiate(&pk, None, Some(&jwt)).is_err(), "no key");
    }

    #[test]
    fn jwks_document_lists_each_key_once() {
        let a = ClientPrivateKey::parse(&ec_pem()).unwrap();
        let b = ClientPrivateKey::parse(&ec_pem()).unwrap();
        let doc = jwks_document([&a, &b, &a]);
        assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
        assert_eq!(doc["keys"][0]["kid"], a.key_id());
        assert!(doc["keys"][0].get("d").is_none());
    }

    #[test]
    fn derived_jtis_differ_per_input() {
        let a = derived_jti("code", &[b"state-1"]);
        assert_eq!(a, derived_jti("code", &[b"state-1"]));
        assert_ne!(a, derived_jti("code", &[b"state-2"]));
        assert_ne!(a, derived_jti("refresh", &[b"state-1"]));
    }
}
