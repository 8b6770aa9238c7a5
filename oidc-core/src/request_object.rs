//! Signed request objects (JAR, RFC 9101): the authorization request as a JWT signed with this
//! client's key, so that the provider can tell that its parameters come from the client and
//! were not changed on the way (in the browser, or by an attacker reading the URL).
//!
//! The JWT carries every authorization parameter as a claim, plus `iss` = the client id,
//! `aud` = the provider's issuer (RFC 9101 4), `client_id`, `iat`, `nbf`, a short `exp` and a
//! fresh `jti`; its header says `typ: oauth-authz-req+jwt` (RFC 9101 10.8) so that it cannot
//! be taken for any other kind of JWT the client signs (its `private_key_jwt` assertions). It
//! is signed by josekit with the key set by
//! [`ProviderConfigBuilder::private_key`](crate::ProviderConfigBuilder::private_key).

use serde_json::{json, Map, Value};

use crate::client_auth::ClientPrivateKey;
use crate::error::{Error, Result};
use crate::metadata::ProviderMetadata;
use crate::secret::Secret;

/// The `typ` header of a request object (RFC 9101 10.8).
pub const REQUEST_OBJECT_TYPE: &str = "oauth-authz-req+jwt";

/// How long a request object is valid, seconds: the browser takes it to the provider at once
/// (or the client pushes it), so a few minutes cover any clock skew while keeping a copied
/// request object of little use.
pub const REQUEST_OBJECT_LIFETIME: u64 = 300;

/// The request object for the authorization parameters `params` (as
/// [`authentication_request`](crate::login::authentication_request) would send them), signed
/// with `key` for the provider `issuer` at `now` with a fresh, unique `jti`.
///
/// `max_age` is a number and `claims` a JSON object in a request object (OpenID Connect Core
/// 6.1), not the strings they are in a URL; every other parameter is a string. The JWT's own
/// claims (`iss`, `aud`, `exp`...) take precedence over a parameter of the same name.
pub fn request_object(
    key: &ClientPrivateKey,
    client_id: &str,
    issuer: &str,
    params: &[(String, String)],
    now: u64,
    jti: &str,
) -> Result<Secret> {
    let mut claims = Map::new();
    for (name, value) in params {
        // The JWT's own claims are set below, never from a parameter: a `sub` or `iss` from a
        // login's parameters would make the object look like a client assertion (RFC 7523),
        // which is signed with the same key.
        if matches!(
            name.as_str(),
            "iss" | "sub" | "aud" | "exp" | "nbf" | "iat" | "jti" | "client_id"
        ) {
            continue;
        }
        let claim = match name.as_str() {
            "max_age" => value
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(value)),
            "claims" => match serde_json::from_str::<Value>(value) {
                Ok(object @ Value::Object(_)) => object,
                _ => json!(value),
            },
            _ => json!(value),
        };
        claims.insert(name.clone(), claim);
    }
    claims.insert("iss".into(), json!(client_id));
    claims.insert("aud".into(), json!(issuer));
    claims.insert("client_id".into(), json!(client_id));
    claims.insert("jti".into(), json!(jti));
    claims.insert("iat".into(), json!(now));
    // A little before `iat`: a provider whose clock is a few seconds behind still takes it.
    claims.insert("nbf".into(), json!(now.saturating_sub(30)));
    claims.insert(
        "exp".into(),
        json!(now.saturating_add(REQUEST_OBJECT_LIFETIME)),
    );
    let signed = key.sign_typed(REQUEST_OBJECT_TYPE, claims).map_err(|_| {
        Error::config(
            "client_private_key",
            "the request object could not be signed with this key",
        )
    })?;
    Ok(Secret::new(signed))
}

/// Refuses a key whose algorithm the provider does not list in its
/// `request_object_signing_alg_values_supported` (when it lists any): it would refuse every
/// login, so this is a configuration error, named, before anything is sent.
pub fn check_algorithm(key: &ClientPrivateKey, metadata: &ProviderMetadata) -> Result<()> {
    let alg = key.algorithm().as_str();
    match metadata.request_object_signing_alg_values_supported() {
        Some(supported) if !supported.is_empty() && !supported.iter().any(|a| a == alg) => {
            Err(Error::config(
                "request_object_signing_alg",
                format!(
                    "the client's key signs {alg}, but the provider accepts request objects \
                     signed with {} only",
                    supported.join(", ")
                ),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::Jwk;

    fn key() -> ClientPrivateKey {
        let pem = EcKeyPair::generate(EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap()
    }

    fn params() -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", "c"),
            ("scope", "openid email"),
            ("state", "s1"),
            ("max_age", "60"),
            ("claims", r#"{"id_token":{"acr":null}}"#),
            ("iss", "forged"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// The JWT verifies with the key's public half, says `typ: oauth-authz-req+jwt`, and
    /// carries every parameter, `max_age` as a number, `claims` as an object, and its own
    /// `iss`, `aud`, times and `jti` (a parameter named `iss` cannot replace the client).
    #[test]
    fn request_object_is_signed_and_complete() {
        let key = key();
        let jwt = request_object(&key, "c", "https://op.example", &params(), 1000, "j1").unwrap();
        let public = Jwk::from_map(key.public_jwk().as_object().unwrap().clone()).unwrap();
        let verifier = josekit::jws::ES256.verifier_from_jwk(&public).unwrap();
        let (payload, header) =
            josekit::jwt::decode_with_verifier(jwt.expose(), &verifier).unwrap();
        assert_eq!(header.token_type(), Some(REQUEST_OBJECT_TYPE));
        assert_eq!(header.key_id(), Some(key.key_id()));
        let claims = payload.claims_set();
        assert_eq!(claims["iss"], "c");
        assert_eq!(claims["aud"], "https://op.example");
        assert_eq!(claims["client_id"], "c");
        assert_eq!(claims["jti"], "j1");
        assert_eq!(claims["iat"], 1000);
        assert_eq!(claims["nbf"], 1000 - 30);
        assert_eq!(claims["exp"], 1000 + REQUEST_OBJECT_LIFETIME);
        assert_eq!(claims["response_type"], "code");
        assert_eq!(claims["scope"], "openid email");
        assert_eq!(claims["state"], "s1");
        assert_eq!(claims["max_age"], 60);
        assert_eq!(claims["claims"]["id_token"]["acr"], Value::Null);
        // A parameter named like one of the JWT's own claims never replaces it.
        let mut forged = params();
        forged.push(("sub".into(), "c".into()));
        forged.push(("aud".into(), "https://elsewhere.example".into()));
        let jwt = request_object(&key, "c", "https://op.example", &forged, 1000, "j2").unwrap();
        let (payload, _) = josekit::jwt::decode_with_verifier(jwt.expose(), &verifier).unwrap();
        assert!(payload.claims_set().get("sub").is_none());
        assert_eq!(payload.claims_set()["aud"], "https://op.example");
    }

    /// Another key's signature does not verify: the provider can tell a forged request.
    #[test]
    fn another_key_does_not_verify() {
        let jwt = request_object(&key(), "c", "https://op.example", &params(), 1, "j").unwrap();
        let other = key();
        let public = Jwk::from_map(other.public_jwk().as_object().unwrap().clone()).unwrap();
        let verifier = josekit::jws::ES256.verifier_from_jwk(&public).unwrap();
        assert!(josekit::jwt::decode_with_verifier(jwt.expose(), &verifier).is_err());
    }

    /// A provider that lists request object algorithms without the key's is a configuration
    /// error naming the field; one that lists it, or lists none, is not.
    #[test]
    fn algorithm_must_be_supported() {
        let key = key();
        let mut m = ProviderMetadata::new("https://op", "https://op/auth".parse().unwrap());
        assert!(check_algorithm(&key, &m).is_ok());
        m.extra.insert(
            "request_object_signing_alg_values_supported".into(),
            json!(["RS256", "PS256"]),
        );
        let err = check_algorithm(&key, &m).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "request_object_signing_alg",
                    ..
                }
            ),
            "{err}"
        );
        m.extra.insert(
            "request_object_signing_alg_values_supported".into(),
            json!(["ES256"]),
        );
        assert!(check_algorithm(&key, &m).is_ok());
    }
}
