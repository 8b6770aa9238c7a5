//! Encrypted ID tokens and userinfo responses (OpenID Connect Core 10.2): the provider
//! encrypts to a public key this client registered (the `use: enc` keys of the app's JWKS
//! route), and the relying party decrypts with its private half, then verifies what is inside
//! exactly as a signed token.
//!
//! The rules:
//! - encryption is opt-in per provider
//!   ([`id_token_encrypted_response`](crate::ProviderConfigBuilder::id_token_encrypted_response),
//!   [`userinfo_encrypted_response`](crate::ProviderConfigBuilder::userinfo_encrypted_response)),
//!   and once asked for it is required: a plain token is refused, so that whoever answers
//!   cannot skip it;
//! - the JWE's `alg` and `enc` must be the configured pair, not merely ones this client could
//!   decrypt (an attacker must not pick a weaker key agreement);
//! - an ID token must be a nested JWT (a JWS inside the JWE): the encryption hides the claims,
//!   only the provider's signature says who wrote them, since anyone can encrypt to a public
//!   key. Userinfo may be encrypted JSON, as plain JSON userinfo is accepted, unless
//!   `userinfo_signed_response_alg` asks for a signature;
//! - key agreement: `RSA-OAEP-256` (RSA keys of 2048 bits or more), `ECDH-ES`,
//!   `ECDH-ES+A128KW`, `ECDH-ES+A192KW`, `ECDH-ES+A256KW` (EC P-256, P-384, P-521); content
//!   encryption: `A128GCM`, `A192GCM`, `A256GCM`, `A128CBC-HS256`, `A192CBC-HS384`,
//!   `A256CBC-HS512`. `RSA1_5` (padding oracles) and `dir` (a shared secret) are not offered;
//! - several keys may be configured at once (rotation): the JWE's `kid` picks one, and without
//!   a `kid` each key that fits the algorithm is tried.
//!
//! All JOSE work is josekit's; nothing here parses or decrypts by hand.

use std::sync::Arc;

use josekit::jwe::{JweDecrypter, ECDH_ES, ECDH_ES_A128KW, ECDH_ES_A192KW, ECDH_ES_A256KW};
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::log_safe::LogSafe;

/// The key agreement algorithms a client may configure.
pub const KEY_ALGORITHMS: &[&str] = &[
    "RSA-OAEP-256",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
];

/// The content encryption algorithms a client may configure.
pub const CONTENT_ALGORITHMS: &[&str] = &[
    "A128GCM",
    "A192GCM",
    "A256GCM",
    "A128CBC-HS256",
    "A192CBC-HS384",
    "A256CBC-HS512",
];

/// Why a decryption key cannot be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptionKeyError {
    /// Neither a PEM private key nor a JSON Web Key.
    #[error("not a PEM private key or a JWK")]
    Unreadable,
    /// A JWK without its private part (`d`).
    #[error("the JWK is a public key: decryption needs the private key")]
    NotPrivate,
    /// A key type or curve this client cannot decrypt with.
    #[error("unsupported key ({0}): use RSA (2048 bits or more) or EC P-256, P-384, P-521")]
    Unsupported(String),
    /// An RSA key shorter than 2048 bits.
    #[error("the RSA key has {0} bits; at least 2048 are required")]
    WeakKey(u32),
}

impl From<DecryptionKeyError> for Error {
    fn from(e: DecryptionKeyError) -> Self {
        Error::config("decryption_key", e.to_string())
    }
}

/// Why an encrypted token (or a token that should have been encrypted) was refused. Never
/// carries the token, the key or what was decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JweError {
    /// Encryption is configured and the token is not a JWE: a downgrade.
    #[error("the token is not encrypted, though encryption is configured")]
    NotEncrypted,
    /// The JWE's `alg` or `enc` is not the configured pair.
    #[error(
        "the token is encrypted with {}/{}, not the configured {}/{}",
        LogSafe(.alg),
        LogSafe(.enc),
        LogSafe(.expected_alg),
        LogSafe(.expected_enc)
    )]
    AlgorithmNotConfigured {
        /// The JWE header's `alg`.
        alg: String,
        /// The JWE header's `enc`.
        enc: String,
        /// The configured `alg`.
        expected_alg: String,
        /// The configured `enc`.
        expected_enc: String,
    },
    /// No configured key decrypts it (encrypted to another key, or tampered with).
    #[error("no configured decryption key decrypts the token")]
    Undecryptable,
    /// It decrypts to claims, not to a signed JWT: anyone can encrypt to a public key.
    #[error("the encrypted token is not signed (a nested JWT is required)")]
    Unsigned,
    /// Not a JWE compact serialisation, or its content is neither a JWT nor JSON.
    #[error("malformed encrypted token: {}", LogSafe(.0))]
    Malformed(String),
}

/// The `alg` and `enc` a provider is to encrypt a response with.
///
/// Not `#[non_exhaustive]`: a JWE's algorithms are this pair, complete by definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// The key agreement algorithm (`RSA-OAEP-256`, `ECDH-ES`, `ECDH-ES+A128KW`...).
    pub alg: String,
    /// The content encryption algorithm (`A128GCM`, `A256GCM`, `A128CBC-HS256`...).
    pub enc: String,
}

impl Encryption {
    /// Checks the pair against what this client supports and the keys it has: every key
    /// agreement needs a key of its type. `field` names the setting in the error.
    pub(crate) fn check(&self, field: &'static str, keys: &[ClientDecryptionKey]) -> Result<()> {
        if !KEY_ALGORITHMS.contains(&self.alg.as_str()) {
            return Err(Error::config(
                field,
                format!(
                    "unsupported key agreement `{}` (use one of {})",
                    LogSafe(&self.alg),
                    KEY_ALGORITHMS.join(", ")
                ),
            ));
        }
        if !CONTENT_ALGORITHMS.contains(&self.enc.as_str()) {
            return Err(Error::config(
                field,
                format!(
                    "unsupported content encryption `{}` (use one of {})",
                    LogSafe(&self.enc),
                    CONTENT_ALGORITHMS.join(", ")
                ),
            ));
        }
        if !keys.iter().any(|k| k.fits(&self.alg)) {
            return Err(Error::config(
                field,
                format!(
                    "`{}` needs a decryption key of its type (decryption_key)",
                    self.alg
                ),
            ));
        }
        Ok(())
    }
}

/// What a provider configuration asks of JARM and encryption (issue 18 J): set through the
/// builder, checked by `build`, read by the redirect endpoint and the login.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecuredResponses {
    /// `authorization_signed_response_alg` for JARM responses.
    pub(crate) authorization_signed_response_alg: Option<String>,
    /// The keys encrypted responses are decrypted with, oldest first.
    pub(crate) decryption_keys: Vec<ClientDecryptionKey>,
    /// The encryption ID tokens must have.
    pub(crate) id_token: Option<Encryption>,
    /// The encryption userinfo responses must have.
    pub(crate) userinfo: Option<Encryption>,
}

impl SecuredResponses {
    /// Checks the settings against the allow-list `algorithms` and the client, and adds them
    /// to a dynamic registration's request.
    pub(crate) fn settle(
        &self,
        mut client: crate::config::ClientRegistration,
        algorithms: &[String],
    ) -> Result<crate::config::ClientRegistration> {
        use crate::config::ClientRegistration;
        if let Some(alg) = &self.authorization_signed_response_alg {
            crate::signing::check_configured_alg(
                "authorization_signed_response_alg",
                alg,
                algorithms,
                &client,
            )?;
        }
        if let Some(e) = &self.id_token {
            e.check("id_token_encrypted_response", &self.decryption_keys)?;
        }
        if let Some(e) = &self.userinfo {
            e.check("userinfo_encrypted_response", &self.decryption_keys)?;
        }
        if let ClientRegistration::Dynamic(info) = &mut client {
            let mut ask = |name: &str, value: &str| {
                info.extra
                    .entry(name.to_owned())
                    .or_insert_with(|| Value::String(value.to_owned()));
            };
            if let Some(alg) = &self.authorization_signed_response_alg {
                ask("authorization_signed_response_alg", alg);
            }
            if let Some(e) = &self.id_token {
                ask("id_token_encrypted_response_alg", &e.alg);
                ask("id_token_encrypted_response_enc", &e.enc);
            }
            if let Some(e) = &self.userinfo {
                ask("userinfo_encrypted_response_alg", &e.alg);
                ask("userinfo_encrypted_response_enc", &e.enc);
            }
        }
        Ok(client)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    Ec,
}

struct KeyInner {
    /// The private key with its `kid`: the only copy, never printed.
    jwk: Jwk,
    kind: KeyKind,
    kid: String,
    /// The public half, with `kid` and `use: enc`: what the app's JWKS serves.
    public: Value,
}

/// A private key this client decrypts ID tokens and userinfo with, from configuration (PEM or
/// JWK). Its `Debug` shows the key type and id only. Cheap to clone.
#[derive(Clone)]
pub struct ClientDecryptionKey(Arc<KeyInner>);

impl std::fmt::Debug for ClientDecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDecryptionKey")
            .field(
                "kty",
                &match self.0.kind {
                    KeyKind::Rsa => "RSA",
                    KeyKind::Ec => "EC",
                },
            )
            .field("kid", &self.0.kid)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ClientDecryptionKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.public == other.0.public
    }
}

impl ClientDecryptionKey {
    /// A key from PEM (PKCS#8, or the traditional RSA and EC forms) or from a private JWK
    /// (JSON), told apart by the PEM armour: RSA of 2048 bits or more, or EC on P-256, P-384
    /// or P-521. A JWK's `kid` is kept; otherwise the `kid` is the RFC 7638 thumbprint.
    pub fn parse(text: &str) -> std::result::Result<Self, DecryptionKeyError> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            let pem = text.as_bytes();
            if let Ok(rsa) = RsaKeyPair::from_pem(pem) {
                check_rsa_len(&rsa)?;
                return Self::assemble(rsa.to_jwk_key_pair(), KeyKind::Rsa, None);
            }
            if let Ok(ec) = EcKeyPair::from_pem(pem, None) {
                return Self::assemble(ec.to_jwk_key_pair(), KeyKind::Ec, None);
            }
            return Err(DecryptionKeyError::Unreadable);
        }
        let jwk = Jwk::from_bytes(text.as_bytes()).map_err(|_| DecryptionKeyError::Unreadable)?;
        if jwk.parameter("d").is_none() {
            return Err(DecryptionKeyError::NotPrivate);
        }
        let kid = jwk.key_id().map(str::to_owned);
        match jwk.key_type() {
            "RSA" => {
                let rsa = RsaKeyPair::from_jwk(&jwk).map_err(|_| DecryptionKeyError::Unreadable)?;
                check_rsa_len(&rsa)?;
                Self::assemble(rsa.to_jwk_key_pair(), KeyKind::Rsa, kid)
            }
            "EC" if matches!(jwk.curve(), Some("P-256" | "P-384" | "P-521")) => {
                let ec = EcKeyPair::from_jwk(&jwk).map_err(|_| DecryptionKeyError::Unreadable)?;
                Self::assemble(ec.to_jwk_key_pair(), KeyKind::Ec, kid)
            }
            other => {
                let curve = jwk.curve().map(|c| format!(" {c}")).unwrap_or_default();
                Err(DecryptionKeyError::Unsupported(format!("{other}{curve}")))
            }
        }
    }

    /// The same key under another key id.
    pub fn with_key_id(self, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        let mut public = self.0.public.clone();
        public["kid"] = json!(kid);
        let mut jwk = self.0.jwk.clone();
        jwk.set_key_id(kid.clone());
        ClientDecryptionKey(Arc::new(KeyInner {
            jwk,
            kind: self.0.kind,
            kid,
            public,
        }))
    }

    fn assemble(
        mut jwk: Jwk,
        kind: KeyKind,
        kid: Option<String>,
    ) -> std::result::Result<Self, DecryptionKeyError> {
        let public_jwk = jwk
            .to_public_key()
            .map_err(|_| DecryptionKeyError::Unreadable)?;
        let mut public: Map<String, Value> = public_jwk.as_ref().clone();
        for private_only in [
            "d", "p", "q", "dp", "dq", "qi", "oth", "k", "key_ops", "alg",
        ] {
            public.remove(private_only);
        }
        let kid = kid.unwrap_or_else(|| crate::client_auth::thumbprint(&public));
        public.insert("kid".into(), json!(kid));
        public.insert("use".into(), json!("enc"));
        jwk.set_key_id(kid.clone());
        let key = ClientDecryptionKey(Arc::new(KeyInner {
            jwk,
            kind,
            kid,
            public: Value::Object(public),
        }));
        // A key the JOSE library cannot decrypt with is refused now, not at the first login.
        let probe = match kind {
            KeyKind::Rsa => "RSA-OAEP-256",
            KeyKind::Ec => "ECDH-ES",
        };
        if key.decrypter(probe).is_none() {
            return Err(DecryptionKeyError::Unsupported(probe.to_owned()));
        }
        Ok(key)
    }

    /// The key id published in the JWKS, which providers name in the JWE header.
    pub fn key_id(&self) -> &str {
        &self.0.kid
    }

    /// The public half as a JWK, with `kid` and `use: enc`.
    pub fn public_jwk(&self) -> &Value {
        &self.0.public
    }

    /// Whether this key can do the key agreement `alg`.
    fn fits(&self, alg: &str) -> bool {
        match self.0.kind {
            KeyKind::Rsa => alg == "RSA-OAEP-256",
            KeyKind::Ec => alg.starts_with("ECDH-ES"),
        }
    }

    fn decrypter(&self, alg: &str) -> Option<Box<dyn JweDecrypter>> {
        let jwk = &self.0.jwk;
        let decrypter: Box<dyn JweDecrypter> = match (self.0.kind, alg) {
            (KeyKind::Rsa, "RSA-OAEP-256") => {
                Box::new(josekit::jwe::RSA_OAEP_256.decrypter_from_jwk(jwk).ok()?)
            }
            (KeyKind::Ec, "ECDH-ES") => Box::new(ECDH_ES.decrypter_from_jwk(jwk).ok()?),
            (KeyKind::Ec, "ECDH-ES+A128KW") => {
                Box::new(ECDH_ES_A128KW.decrypter_from_jwk(jwk).ok()?)
            }
            (KeyKind::Ec, "ECDH-ES+A192KW") => {
                Box::new(ECDH_ES_A192KW.decrypter_from_jwk(jwk).ok()?)
            }
            (KeyKind::Ec, "ECDH-ES+A256KW") => {
                Box::new(ECDH_ES_A256KW.decrypter_from_jwk(jwk).ok()?)
            }
            _ => return None,
        };
        Some(decrypter)
    }
}

fn check_rsa_len(rsa: &RsaKeyPair) -> std::result::Result<(), DecryptionKeyError> {
    let bits = rsa.key_len() * 8;
    if bits < 2048 {
        return Err(DecryptionKeyError::WeakKey(bits));
    }
    Ok(())
}

/// The public halves of the decryption keys, each once by `kid`, for the app's JWKS.
pub fn public_jwks<'a>(keys: impl IntoIterator<Item = &'a ClientDecryptionKey>) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for key in keys {
        if !seen.contains(&key.key_id()) {
            seen.push(key.key_id());
            out.push(key.public_jwk().clone());
        }
    }
    out
}

/// Whether `raw` has the shape of a JWE compact serialisation (five parts), rather than a JWS
/// (three) or JSON.
pub fn is_jwe(raw: &str) -> bool {
    raw.split('.').count() == 5
}

/// What a JWE held.
///
/// Not `#[non_exhaustive]`: each kind needs its own verification, so a kind added later must
/// break a caller's `match` rather than fall into a wildcard arm unverified.
pub enum Decrypted {
    /// A nested JWT (a compact JWS), to verify as a signed token.
    Signed(String),
    /// JSON claims, not signed.
    Claims(Map<String, Value>),
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decrypted::Signed(_) => f.write_str("Signed(..)"),
            Decrypted::Claims(c) => f.debug_tuple("Claims").field(&c.len()).finish(),
        }
    }
}

/// Refuses a compact JWE whose parts cannot have been made with `alg` and `enc` (already
/// checked to be the configured pair) before any of it reaches the crypto libraries, which
/// panic on some of them (an empty IV, a wrapped key shorter than its integrity block).
fn check_shape(raw: &str, alg: &str, enc: &str) -> std::result::Result<(), JweError> {
    use base64::Engine as _;
    let malformed = |what: &str| JweError::Malformed(format!("the {what} has the wrong length"));
    let mut parts = raw.split('.').skip(1).map(|p| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| JweError::Malformed("a part is not base64url".into()))
    });
    let mut next = || parts.next().unwrap_or(Ok(Vec::new()));
    let (key, iv, ciphertext, tag) = (next()?, next()?, next()?, next()?);
    // (content key, IV, tag) lengths, and the cipher's block for CBC.
    let (cek_len, iv_len, tag_len, block) = match enc {
        "A128GCM" => (16, 12, 16, None),
        "A192GCM" => (24, 12, 16, None),
        "A256GCM" => (32, 12, 16, None),
        "A128CBC-HS256" => (32, 16, 16, Some(16)),
        "A192CBC-HS384" => (48, 16, 24, Some(16)),
        "A256CBC-HS512" => (64, 16, 32, Some(16)),
        _ => return Err(malformed("content algorithm")),
    };
    let key_ok = match alg {
        "ECDH-ES" => key.is_empty(),
        // AES key wrap adds one 8-byte integrity block to the content key.
        "ECDH-ES+A128KW" | "ECDH-ES+A192KW" | "ECDH-ES+A256KW" => key.len() == cek_len + 8,
        // The RSA modulus' length: 2048 bits at least, 16384 at most.
        "RSA-OAEP-256" => (256..=2048).contains(&key.len()),
        _ => false,
    };
    if !key_ok {
        return Err(malformed("encrypted key"));
    }
    if iv.len() != iv_len {
        return Err(malformed("initialization vector"));
    }
    if tag.len() != tag_len {
        return Err(malformed("authentication tag"));
    }
    if block.is_some_and(|b| ciphertext.is_empty() || ciphertext.len() % b != 0) {
        return Err(malformed("ciphertext"));
    }
    Ok(())
}

/// Decrypts a compact JWE with one of `keys`, refusing it unless its `alg` and `enc` are
/// `expected`. A token that is not a JWE is refused ([`JweError::NotEncrypted`]): the caller
/// asked for encryption.
pub fn decrypt(
    raw: &str,
    keys: &[ClientDecryptionKey],
    expected: &Encryption,
) -> std::result::Result<Decrypted, JweError> {
    let raw = raw.trim();
    if !is_jwe(raw) {
        return Err(JweError::NotEncrypted);
    }
    let header = josekit::jwt::decode_header(raw)
        .map_err(|_| JweError::Malformed("cannot decode the header".into()))?;
    let claim = |name: &str| {
        header
            .claim(name)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(32).collect::<String>())
    };
    let (alg, enc) = (
        claim("alg").unwrap_or_default(),
        claim("enc").unwrap_or_default(),
    );
    if alg != expected.alg || enc != expected.enc {
        return Err(JweError::AlgorithmNotConfigured {
            alg,
            enc,
            expected_alg: expected.alg.clone(),
            expected_enc: expected.enc.clone(),
        });
    }
    // Compression would let a small token inflate without bound (josekit inflates with no
    // limit); OpenID Connect never needs it.
    if header.claim("zip").is_some() {
        return Err(JweError::Malformed(
            "compressed content (`zip`) is refused".into(),
        ));
    }
    check_shape(raw, &alg, &enc)?;
    let kid = header.claim("kid").and_then(Value::as_str);
    let candidates = keys
        .iter()
        .filter(|k| k.fits(&alg) && kid.is_none_or(|kid| kid == k.key_id()));
    let mut payload = None;
    for key in candidates {
        let Some(decrypter) = key.decrypter(&alg) else {
            continue;
        };
        // `check_shape` refuses every part length the crypto libraries are known to panic
        // on; a panic they still raise on other input is a refusal, not a crashed request.
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            josekit::jwe::deserialize_compact(raw, decrypter.as_ref())
        }));
        if let Ok(Ok((bytes, _))) = attempt {
            payload = Some(bytes);
            break;
        }
    }
    let payload = payload.ok_or(JweError::Undecryptable)?;
    let text = String::from_utf8(payload)
        .map_err(|_| JweError::Malformed("the content is not UTF-8".into()))?;
    let text = text.trim();
    if text.starts_with('{') {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(claims)) => Ok(Decrypted::Claims(claims)),
            _ => Err(JweError::Malformed(
                "the content is not a JSON object".into(),
            )),
        };
    }
    if text.split('.').count() == 3 && josekit::jwt::decode_header(text).is_ok() {
        return Ok(Decrypted::Signed(text.to_owned()));
    }
    Err(JweError::Malformed(
        "the content is neither a JWT nor JSON".into(),
    ))
}

/// Decrypts an encrypted ID token into the signed JWT it must hold.
pub fn decrypt_id_token(
    raw: &str,
    keys: &[ClientDecryptionKey],
    expected: &Encryption,
) -> std::result::Result<String, JweError> {
    match decrypt(raw, keys, expected)? {
        Decrypted::Signed(jws) => Ok(jws),
        Decrypted::Claims(_) => Err(JweError::Unsigned),
    }
}

/// The ID token to verify: `raw` itself, or, when the configuration asks for encrypted ID
/// tokens, the signed JWT decrypted from it (a plain one is then refused).
pub(crate) fn id_token_to_verify(
    config: &crate::config::ProviderConfig,
    raw: crate::secret::Secret,
) -> Result<crate::secret::Secret> {
    let Some(expected) = &config.secured.id_token else {
        return Ok(raw);
    };
    decrypt_id_token(raw.expose(), &config.secured.decryption_keys, expected)
        .map(crate::secret::Secret::new)
        .map_err(|error| {
            crate::error::ProtocolError::Encryption {
                what: "ID token",
                error,
            }
            .into()
        })
}

/// Reads a userinfo response as [`read_userinfo_response`](crate::userinfo::read_userinfo_response)
/// does, decrypting it first when the configuration asks for encrypted userinfo (a plain
/// answer is then refused): a nested JWT comes out as signed userinfo, encrypted JSON as
/// claims.
pub(crate) fn read_userinfo_response(
    config: &crate::config::ProviderConfig,
    response: http::Response<bytes::Bytes>,
) -> Result<crate::userinfo::UserinfoBody> {
    use crate::userinfo::UserinfoBody;
    let Some(expected) = &config.secured.userinfo else {
        return crate::userinfo::read_userinfo_response(response);
    };
    let refused = |error| crate::error::ProtocolError::Encryption {
        what: "userinfo response",
        error,
    };
    let body = crate::wire::expect_success(crate::error::Endpoint::Userinfo, response)?;
    let text = std::str::from_utf8(&body).map_err(|_| refused(JweError::NotEncrypted))?;
    match decrypt(text, &config.secured.decryption_keys, expected).map_err(refused)? {
        Decrypted::Signed(jws) => Ok(UserinfoBody::Signed(jws)),
        Decrypted::Claims(claims) => Ok(UserinfoBody::Claims(crate::ClaimsSet::from_map(&claims))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwe::JweHeader;
    use std::sync::OnceLock;

    /// Two RSA keys and a P-256 key, made once: RSA key generation is slow.
    fn keys() -> &'static (
        ClientDecryptionKey,
        ClientDecryptionKey,
        ClientDecryptionKey,
    ) {
        static KEYS: OnceLock<(
            ClientDecryptionKey,
            ClientDecryptionKey,
            ClientDecryptionKey,
        )> = OnceLock::new();
        KEYS.get_or_init(|| {
            let rsa = |kid: &str| {
                let pair = RsaKeyPair::generate(2048).unwrap();
                let mut jwk = pair.to_jwk_key_pair();
                jwk.set_key_id(kid);
                ClientDecryptionKey::parse(&jwk.to_string()).unwrap()
            };
            let ec = EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
            let ec =
                ClientDecryptionKey::parse(std::str::from_utf8(&ec.to_pem_private_key()).unwrap())
                    .unwrap();
            (rsa("r1"), rsa("r2"), ec)
        })
    }

    fn encrypt(key: &ClientDecryptionKey, alg: &str, enc: &str, payload: &str) -> String {
        let public = Jwk::from_map(key.public_jwk().as_object().unwrap().clone()).unwrap();
        let mut header = JweHeader::new();
        header.set_content_encryption(enc);
        header.set_content_type("JWT");
        let encrypter: Box<dyn josekit::jwe::JweEncrypter> = match alg {
            "RSA-OAEP-256" => Box::new(
                josekit::jwe::RSA_OAEP_256
                    .encrypter_from_jwk(&public)
                    .unwrap(),
            ),
            "ECDH-ES" => Box::new(ECDH_ES.encrypter_from_jwk(&public).unwrap()),
            "ECDH-ES+A128KW" => Box::new(ECDH_ES_A128KW.encrypter_from_jwk(&public).unwrap()),
            other => panic!("{other}"),
        };
        josekit::jwe::serialize_compact(payload.as_bytes(), &header, encrypter.as_ref()).unwrap()
    }

    fn pair(alg: &str, enc: &str) -> Encryption {
        Encryption {
            alg: alg.into(),
            enc: enc.into(),
        }
    }

    const JWS: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";

    #[test]
    fn nested_jwts_decrypt_with_the_named_key() {
        let (r1, r2, ec) = keys();
        let all = [r1.clone(), r2.clone(), ec.clone()];
        let e = pair("RSA-OAEP-256", "A256GCM");
        let token = encrypt(r2, "RSA-OAEP-256", "A256GCM", JWS);
        assert_eq!(decrypt_id_token(&token, &all, &e).unwrap(), JWS);
        for (alg, enc) in [("ECDH-ES", "A128GCM"), ("ECDH-ES+A128KW", "A128CBC-HS256")] {
            let token = encrypt(ec, alg, enc, JWS);
            assert_eq!(
                decrypt_id_token(&token, &all, &pair(alg, enc)).unwrap(),
                JWS
            );
        }
    }

    #[test]
    fn refusals() {
        let (r1, r2, ec) = keys();
        let e = pair("RSA-OAEP-256", "A256GCM");
        // Encrypted to a key this client does not have.
        let token = encrypt(r2, "RSA-OAEP-256", "A256GCM", JWS);
        assert_eq!(
            decrypt(&token, std::slice::from_ref(r1), &e).unwrap_err(),
            JweError::Undecryptable
        );
        // Another pair than the configured one, though the key could decrypt it.
        let token = encrypt(r1, "RSA-OAEP-256", "A128GCM", JWS);
        assert!(matches!(
            decrypt(&token, std::slice::from_ref(r1), &e).unwrap_err(),
            JweError::AlgorithmNotConfigured { .. }
        ));
        // Encrypted claims, no signature.
        let token = encrypt(r1, "RSA-OAEP-256", "A256GCM", r#"{"sub":"a"}"#);
        assert_eq!(
            decrypt_id_token(&token, std::slice::from_ref(r1), &e).unwrap_err(),
            JweError::Unsigned
        );
        assert!(matches!(
            decrypt(&token, std::slice::from_ref(r1), &e).unwrap(),
            Decrypted::Claims(_)
        ));
        // A plain JWS where a JWE is configured.
        assert_eq!(
            decrypt(JWS, &[r1.clone(), ec.clone()], &e).unwrap_err(),
            JweError::NotEncrypted
        );
        assert!(matches!(
            decrypt("a.b.c.d.e", std::slice::from_ref(r1), &e).unwrap_err(),
            JweError::Malformed(_)
        ));
    }

    /// Parts of the wrong length (which make OpenSSL or josekit panic: an empty IV, a wrapped
    /// key shorter than its integrity block) and compressed content are refused, not decrypted.
    #[test]
    fn malformed_parts_and_compression_are_refused_without_a_panic() {
        let (_, _, ec) = keys();
        let keys = std::slice::from_ref(ec);
        let reshape = |token: &str, part: usize, value: &str| {
            let mut parts: Vec<&str> = token.split('.').collect();
            parts[part] = value;
            parts.join(".")
        };
        for (alg, enc) in [
            ("ECDH-ES", "A128GCM"),
            ("ECDH-ES", "A128CBC-HS256"),
            ("ECDH-ES+A128KW", "A128GCM"),
            ("ECDH-ES+A128KW", "A128CBC-HS256"),
        ] {
            let token = encrypt(ec, alg, enc, JWS);
            let e = pair(alg, enc);
            let mut forged = vec![
                reshape(&token, 2, ""),   // empty IV
                reshape(&token, 2, "AA"), // a 1-byte IV
                reshape(&token, 4, ""),   // no tag
            ];
            if alg.ends_with("KW") {
                forged.push(reshape(&token, 1, "AAAA")); // a 3-byte wrapped key
                forged.push(reshape(&token, 1, ""));
            } else {
                forged.push(reshape(&token, 1, "AAAA")); // ECDH-ES has no encrypted key
            }
            for f in forged {
                assert!(
                    matches!(decrypt(&f, keys, &e).unwrap_err(), JweError::Malformed(_)),
                    "{alg} {enc}"
                );
            }
        }
        // `zip: DEF` in the header.
        let public = Jwk::from_map(ec.public_jwk().as_object().unwrap().clone()).unwrap();
        let mut header = JweHeader::new();
        header.set_content_encryption("A128GCM");
        header.set_compression("DEF");
        let encrypter = ECDH_ES.encrypter_from_jwk(&public).unwrap();
        let token = josekit::jwe::serialize_compact(JWS.as_bytes(), &header, &encrypter).unwrap();
        assert!(matches!(
            decrypt(&token, keys, &pair("ECDH-ES", "A128GCM")).unwrap_err(),
            JweError::Malformed(_)
        ));
    }

    /// Encryption needs a key of the algorithm's type and a supported pair; a dynamic
    /// registration asks for what is configured.
    #[test]
    fn configuration_is_checked_and_registered() {
        use crate::config::ClientRegistration;
        use crate::{ClientMetadata, ClientRegistrationInfo, ProviderConfig};
        let (r1, _, ec) = keys();
        let base = || {
            ProviderConfig::discover("https://op.example")
                .client(ClientMetadata::new("id", "secret"))
        };
        let err = base()
            .id_token_encrypted_response("RSA-OAEP-256", "A256GCM")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("decryption key"), "{err}");
        let err = base()
            .decryption_key(ec.clone())
            .id_token_encrypted_response("RSA-OAEP-256", "A256GCM")
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("id_token_encrypted_response"),
            "{err}"
        );
        assert!(base()
            .decryption_key(r1.clone())
            .userinfo_encrypted_response("RSA-OAEP-256", "A999GCM")
            .build()
            .is_err());
        assert!(base()
            .decryption_key(r1.clone())
            .decryption_key(ec.clone())
            .id_token_encrypted_response("ECDH-ES+A256KW", "A256GCM")
            .userinfo_encrypted_response("RSA-OAEP-256", "A128CBC-HS256")
            .build()
            .is_ok());
        let c = ProviderConfig::discover("https://op.example")
            .register(ClientRegistrationInfo::new("app"))
            .decryption_key(r1.clone())
            .id_token_encrypted_response("RSA-OAEP-256", "A256GCM")
            .userinfo_encrypted_response("RSA-OAEP-256", "A128GCM")
            .authorization_signed_response_alg("PS256")
            .build()
            .unwrap();
        let ClientRegistration::Dynamic(info) = c.registration() else {
            panic!("dynamic")
        };
        for (field, value) in [
            ("id_token_encrypted_response_alg", "RSA-OAEP-256"),
            ("id_token_encrypted_response_enc", "A256GCM"),
            ("userinfo_encrypted_response_alg", "RSA-OAEP-256"),
            ("userinfo_encrypted_response_enc", "A128GCM"),
            ("authorization_signed_response_alg", "PS256"),
        ] {
            assert_eq!(info.extra[field], value, "{field}");
        }
    }

    /// Neither `Debug` nor the published JWK nor an error shows the private key.
    #[test]
    fn the_private_key_is_never_shown() {
        let pair = EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P384).unwrap();
        let jwk = pair.to_jwk_key_pair();
        let d = jwk
            .parameter("d")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        let key = ClientDecryptionKey::parse(&jwk.to_string()).unwrap();
        for shown in [
            format!("{key:?}"),
            key.public_jwk().to_string(),
            format!("{:?}", Decrypted::Signed(d.clone())),
        ] {
            assert!(!shown.contains(&d), "{shown}");
        }
        let mut weak = jwk.clone();
        weak.set_parameter("crv", Some(Value::from("P-192")))
            .unwrap();
        let err = ClientDecryptionKey::parse(&weak.to_string()).unwrap_err();
        assert!(!err.to_string().contains(&d), "{err}");
    }

    #[test]
    fn keys_parse_and_publish_their_public_half() {
        let (r1, _, ec) = keys();
        let public = r1.public_jwk();
        assert_eq!(public["use"], "enc");
        assert_eq!(public["kid"], "r1");
        assert!(public.get("d").is_none());
        assert!(!ec.key_id().is_empty());
        assert!(ec.public_jwk().get("d").is_none());
        let shown = format!("{r1:?}");
        assert!(shown.contains("r1") && !shown.contains(public["n"].as_str().unwrap()));
        let public_only = r1.public_jwk().to_string();
        assert_eq!(
            ClientDecryptionKey::parse(&public_only).unwrap_err(),
            DecryptionKeyError::NotPrivate
        );
        assert_eq!(
            ClientDecryptionKey::parse("nonsense").unwrap_err(),
            DecryptionKeyError::Unreadable
        );
        let docs = public_jwks([r1, r1, ec]);
        assert_eq!(docs.len(), 2);
        assert!(pair("RSA-OAEP-256", "A256GCM")
            .check("f", std::slice::from_ref(ec))
            .is_err());
        assert!(pair("RSA1_5", "A256GCM")
            .check("f", std::slice::from_ref(r1))
            .is_err());
        assert!(pair("RSA-OAEP-256", "A256GCM")
            .check("f", std::slice::from_ref(r1))
            .is_ok());
    }
}
