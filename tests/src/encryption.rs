//! Encrypted ID tokens and userinfo on the simulated provider (OpenID Connect Core 10.2): for
//! a client that registered `id_token_encrypted_response_alg`/`_enc` (or the userinfo pair,
//! [`SimProvider::set_id_token_encryption`](crate::SimProvider::set_id_token_encryption)),
//! the signed ID token (or userinfo) is encrypted with josekit to the newest key of the
//! client's public JWKS ([`SimProvider::set_client_jwks`](crate::SimProvider::set_client_jwks))
//! with `use: enc` and the key type the algorithm needs: a nested JWT, `cty: JWT`.

use std::collections::HashMap;

use bytes::Bytes;
use http::{Request, Response};
use josekit::jwe::{
    JweEncrypter, JweHeader, ECDH_ES, ECDH_ES_A128KW, ECDH_ES_A192KW, ECDH_ES_A256KW, RSA_OAEP_256,
};
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair as _};
use serde_json::{json, Map, Value};

use crate::util;
use crate::State;

/// One thing the provider gets wrong in the tokens it encrypts, for rejection tests.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptionMisbehavior {
    /// Encrypts to a fresh key of the same type, under the client key's `kid`.
    OtherKey,
    /// Encrypts with another `enc` than the client registered.
    OtherAlgorithm,
    /// Encrypts the claims themselves: no signed JWT inside.
    Unsigned,
    /// Sends the signed token without encrypting it.
    Plain,
}

/// An `alg`/`enc` pair a client registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pair {
    pub(crate) alg: String,
    pub(crate) enc: String,
}

/// The provider's encryption state.
#[derive(Debug, Default)]
pub(crate) struct EncryptionState {
    /// Each client's ID token encryption.
    pub(crate) id_token: HashMap<String, Pair>,
    /// Each client's userinfo encryption.
    pub(crate) userinfo: HashMap<String, Pair>,
    pub(crate) misbehavior: Option<EncryptionMisbehavior>,
}

const ALGS: &[&str] = &[
    "RSA-OAEP-256",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
];
const ENCS: &[&str] = &[
    "A128GCM",
    "A192GCM",
    "A256GCM",
    "A128CBC-HS256",
    "A192CBC-HS384",
    "A256CBC-HS512",
];

/// Discovery lists what the provider can encrypt with.
pub(crate) fn adjust_discovery(doc: &mut Value) {
    for what in ["id_token", "userinfo"] {
        doc[format!("{what}_encryption_alg_values_supported")] = json!(ALGS);
        doc[format!("{what}_encryption_enc_values_supported")] = json!(ENCS);
    }
}

/// A dynamic registration's `id_token_encrypted_response_alg`/`_enc` and
/// `userinfo_encrypted_response_alg`/`_enc` (`enc` defaults to `A128CBC-HS256`, OpenID Connect
/// Dynamic Client Registration 2), and its `jwks_uri`, where the encryption keys are.
pub(crate) fn record_registration(st: &mut State, client_id: &str, meta: &Map<String, Value>) {
    let text = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
    for what in ["id_token", "userinfo"] {
        let Some(alg) = text(&format!("{what}_encrypted_response_alg")) else {
            continue;
        };
        let enc = text(&format!("{what}_encrypted_response_enc"))
            .unwrap_or_else(|| "A128CBC-HS256".to_owned());
        let table = if what == "id_token" {
            &mut st.encryption.id_token
        } else {
            &mut st.encryption.userinfo
        };
        table.insert(client_id.to_owned(), Pair { alg, enc });
    }
    if let Some(uri) = text("jwks_uri") {
        st.client_auth
            .jwks_uris
            .entry(client_id.to_owned())
            .or_insert(uri);
    }
}

/// The ID token for `client_id`, encrypted when the client registered encryption.
pub(crate) fn id_token(st: &State, client_id: &str, signed: String) -> Result<String, String> {
    match st.encryption.id_token.get(client_id) {
        Some(pair) => encrypt(st, client_id, pair, &signed),
        None => Ok(signed),
    }
}

/// The userinfo response, encrypted when the access token's client registered userinfo
/// encryption: the signed userinfo JWT, or the JSON claims, as `application/jwt`.
pub(crate) fn userinfo(
    st: &State,
    request: &Request<Bytes>,
    response: Response<Bytes>,
) -> Response<Bytes> {
    if response.status() != 200 {
        return response;
    }
    let client_id = crate::compat::presented_token(request)
        .and_then(|t| st.access_tokens.get(&t).map(|r| r.grant.client_id.clone()));
    let Some((client_id, pair)) = client_id.and_then(|c| {
        let pair = st.encryption.userinfo.get(&c)?.clone();
        Some((c, pair))
    }) else {
        return response;
    };
    let Ok(body) = std::str::from_utf8(response.body()) else {
        return response;
    };
    match encrypt(st, &client_id, &pair, body.trim()) {
        Ok(jwe) => util::response(200, "application/jwt", jwe),
        Err(e) => util::oauth_error(500, "server_error", &e),
    }
}

/// `content` (a JWS, or JSON) encrypted per `pair` to the client's newest fitting key, or
/// what the misbehavior asks for.
fn encrypt(st: &State, client_id: &str, pair: &Pair, content: &str) -> Result<String, String> {
    let misbehavior = st.encryption.misbehavior;
    if misbehavior == Some(EncryptionMisbehavior::Plain) {
        return Ok(content.to_owned());
    }
    let rsa = pair.alg.starts_with("RSA");
    let key = st
        .client_auth
        .jwks
        .get(client_id)
        .and_then(|doc| doc.get("keys"))
        .and_then(Value::as_array)
        .and_then(|keys| {
            keys.iter().rev().find(|k| {
                k.get("use").and_then(Value::as_str) == Some("enc")
                    && k.get("kty").and_then(Value::as_str) == Some(if rsa { "RSA" } else { "EC" })
            })
        })
        .and_then(|k| k.as_object().cloned())
        .ok_or_else(|| format!("client {client_id} has no encryption key for {}", pair.alg))?;
    let mut jwk = Jwk::from_map(key).map_err(|e| e.to_string())?;
    if misbehavior == Some(EncryptionMisbehavior::OtherKey) {
        jwk = other_key(&jwk).map_err(|e| e.to_string())?;
    }
    let enc = match misbehavior {
        Some(EncryptionMisbehavior::OtherAlgorithm) if pair.enc == "A256GCM" => "A128GCM",
        Some(EncryptionMisbehavior::OtherAlgorithm) => "A256GCM",
        _ => pair.enc.as_str(),
    };
    let (payload, nested) = if misbehavior == Some(EncryptionMisbehavior::Unsigned) {
        (
            unsigned_claims(content).unwrap_or_else(|| content.to_owned()),
            false,
        )
    } else {
        (content.to_owned(), content.split('.').count() == 3)
    };
    let mut header = JweHeader::new();
    header.set_content_encryption(enc);
    if nested {
        header.set_content_type("JWT");
    }
    let encrypter: Box<dyn JweEncrypter> = match pair.alg.as_str() {
        "RSA-OAEP-256" => Box::new(
            RSA_OAEP_256
                .encrypter_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        "ECDH-ES" => Box::new(
            ECDH_ES
                .encrypter_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        "ECDH-ES+A128KW" => Box::new(
            ECDH_ES_A128KW
                .encrypter_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        "ECDH-ES+A192KW" => Box::new(
            ECDH_ES_A192KW
                .encrypter_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        "ECDH-ES+A256KW" => Box::new(
            ECDH_ES_A256KW
                .encrypter_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unsupported alg {other}")),
    };
    josekit::jwe::serialize_compact(payload.as_bytes(), &header, encrypter.as_ref())
        .map_err(|e| e.to_string())
}

/// The claims of a JWS, as JSON: what an unsigned token would carry.
fn unsigned_claims(jws: &str) -> Option<String> {
    use base64::Engine;
    let payload = jws.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A fresh public key of `jwk`'s type (and curve) under its `kid`.
fn other_key(jwk: &Jwk) -> Result<Jwk, josekit::JoseError> {
    let mut fresh = match (jwk.key_type(), jwk.curve()) {
        ("RSA", _) => RsaKeyPair::generate(2048)?.to_jwk_public_key(),
        (_, Some("P-384")) => {
            EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P384)?.to_jwk_public_key()
        }
        (_, Some("P-521")) => {
            EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P521)?.to_jwk_public_key()
        }
        _ => EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)?.to_jwk_public_key(),
    };
    if let Some(kid) = jwk.key_id() {
        fresh.set_key_id(kid);
    }
    Ok(fresh)
}
