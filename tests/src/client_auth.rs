//! The provider's side of JWT client authentication (`client_secret_jwt`, `private_key_jwt`,
//! OpenID Connect Core 9, RFC 7523) and the token endpoint authentication methods its
//! discovery advertises.
//!
//! An assertion is accepted when its signature verifies (HS256 with the client's secret, or
//! a key of the client's registered JWKS named by `kid`), `iss` and `sub` are the client id,
//! `aud` names the endpoint called, the token endpoint or the issuer, it has not expired, and
//! its `jti` was never seen before.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bytes::Bytes;
use http::Response;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{json, Value};

use crate::util::{oauth_error, Params};
use crate::{Config, SimClient, State};

/// `client_assertion_type` of RFC 7523.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the provider knows about JWT client authentication.
#[derive(Default)]
pub(crate) struct ClientAuthState {
    /// The `token_endpoint_auth_methods_supported` discovery advertises, when set.
    pub(crate) methods_supported: Option<Vec<String>>,
    /// Each client's public keys, for `private_key_jwt`.
    pub(crate) jwks: HashMap<String, Value>,
    /// Each dynamically registered client's `jwks_uri`.
    pub(crate) jwks_uris: HashMap<String, String>,
    /// The method each client registered, when it is a JWT one: other methods are refused.
    pub(crate) registered_methods: HashMap<String, String>,
    /// Every `jti` accepted so far: a replayed assertion is refused.
    seen_jtis: Mutex<HashSet<String>>,
    /// The header and claims of the last accepted assertion.
    last: Mutex<Option<Value>>,
}

impl ClientAuthState {
    /// The header and claims of the last accepted assertion.
    pub(crate) fn last_assertion(&self) -> Option<Value> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Replaces the advertised token endpoint authentication methods, when set.
pub(crate) fn adjust_discovery(st: &State, doc: &mut Value) {
    if let Some(methods) = &st.client_auth.methods_supported {
        doc["token_endpoint_auth_methods_supported"] = json!(methods);
        doc["introspection_endpoint_auth_methods_supported"] = json!(methods);
    }
}

/// Whether the request authenticates with a JWT assertion.
pub(crate) fn uses_assertion(form: &Params) -> bool {
    form.has("client_assertion") || form.has("client_assertion_type")
}

/// A method other than the JWT one a client registered is refused, as a provider holding
/// the client to its registration does.
pub(crate) fn check_registered_method(
    st: &State,
    client_id: &str,
    used: &str,
) -> Result<(), Box<Response<Bytes>>> {
    match st.client_auth.registered_methods.get(client_id) {
        Some(registered) if registered != used => Err(Box::new(invalid_client(&format!(
            "this client authenticates with {registered}"
        )))),
        _ => Ok(()),
    }
}

fn invalid_client(description: &str) -> Response<Bytes> {
    oauth_error(401, "invalid_client", description)
}

fn b64_json(part: &str) -> Option<Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Authenticates the client by its assertion, for a request to `endpoint` (a path below the
/// issuer) at `now`.
pub(crate) fn authenticate(
    cfg: &Config,
    st: &State,
    form: &Params,
    endpoint: &str,
    now: u64,
) -> Result<SimClient, Box<Response<Bytes>>> {
    let refuse = |why: &str| Box::new(invalid_client(why));
    if form.get("client_assertion_type") != Some(JWT_BEARER) {
        return Err(refuse("unsupported client_assertion_type"));
    }
    if form.has("client_secret") {
        return Err(Box::new(oauth_error(
            400,
            "invalid_request",
            "more than one client authentication method used",
        )));
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| refuse("client_assertion is missing"))?;
    let mut parts = assertion.split('.');
    let (Some(head), Some(body), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse("client_assertion is not a compact JWS"));
    };
    let (Some(header), Some(claims)) = (b64_json(head), b64_json(body)) else {
        return Err(refuse("client_assertion is malformed"));
    };
    let client_id = claims["sub"]
        .as_str()
        .ok_or_else(|| refuse("client_assertion has no sub"))?;
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(refuse("client_id does not match the assertion"));
    }
    let client = st
        .client(client_id)
        .cloned()
        .ok_or_else(|| refuse("unknown client"))?;
    let alg = header["alg"].as_str().unwrap_or_default();
    let method = if alg.starts_with("HS") {
        "client_secret_jwt"
    } else {
        "private_key_jwt"
    };
    check_registered_method(st, client_id, method)?;
    let verified = if method == "client_secret_jwt" {
        let secret = client
            .client_secret
            .as_deref()
            .ok_or_else(|| refuse("a public client has no secret to MAC with"))?;
        match alg {
            "HS256" => josekit::jws::HS256
                .verifier_from_bytes(secret.as_bytes())
                .ok()
                .and_then(|v| verify(assertion, &v)),
            _ => None,
        }
    } else {
        let kid = header["kid"].as_str();
        let jwk = st
            .client_auth
            .jwks
            .get(client_id)
            .and_then(|set| set["keys"].as_array())
            .into_iter()
            .flatten()
            .find(|k| kid.is_none() || k["kid"].as_str() == kid)
            .and_then(|k| Jwk::from_map(k.as_object()?.clone()).ok())
            .ok_or_else(|| refuse("no registered key for the assertion"))?;
        verifier_for(alg, &jwk).and_then(|v| verify(assertion, v.as_ref()))
    };
    if !verified.unwrap_or(false) {
        return Err(refuse("the client assertion's signature is invalid"));
    }
    if claims["iss"].as_str() != Some(client_id) {
        return Err(refuse("the assertion's iss is not the client"));
    }
    let accepted = [
        cfg.endpoint(endpoint),
        cfg.endpoint("/token"),
        cfg.issuer.clone(),
    ];
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| accepted.iter().any(|e| e == a)) {
        return Err(refuse("the assertion is not for this provider"));
    }
    match claims["exp"].as_u64() {
        Some(exp) if exp > now => {}
        _ => return Err(refuse("the assertion has expired")),
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| refuse("the assertion has no jti"))?;
    let fresh = st
        .client_auth
        .seen_jtis
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(jti.to_owned());
    if !fresh {
        return Err(refuse("the assertion's jti was used before"));
    }
    *st.client_auth
        .last
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(json!({ "header": header, "claims": claims }));
    Ok(client)
}

fn verify(assertion: &str, verifier: &dyn JwsVerifier) -> Option<bool> {
    Some(josekit::jwt::decode_with_verifier(assertion, verifier).is_ok())
}

fn verifier_for(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    let verifier: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(josekit::jws::PS256.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(josekit::jws::EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(verifier)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use oidc_core::client_auth::{ClientAuth, ClientPrivateKey};
    use oidc_core::{ClientAuthMethod, ClientMetadata};
    use serde_json::Value;

    use crate::{SimClient, SimProvider};

    const ISS: &str = "https://op.example";
    const SECRET: &str = "a-client-secret-of-more-than-thirty-two-bytes";
    const NOW: u64 = 1_700_000_000;

    /// A provider with client `c` (secret [`SECRET`]) and an outstanding refresh-free request
    /// to make: introspection of an unknown token, which answers `active: false` once the
    /// client is authenticated.
    fn provider() -> SimProvider {
        let op = SimProvider::new(ISS);
        op.register_client(SimClient::confidential(
            "c",
            SECRET,
            "https://rp.example/cb",
        ));
        op
    }

    fn send(op: &SimProvider, request: http::Request<Bytes>, now: u64) -> (u16, Value) {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let mut request = http::Request::from_parts(parts, body);
        *request.uri_mut() = path.parse().unwrap();
        let resp = op.handle(request, now);
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_slice(resp.body()).unwrap_or(Value::Null),
        )
    }

    fn introspect(op: &SimProvider, auth: &ClientAuth<'_>, now: u64) -> (u16, Value) {
        let request = oidc_core::introspection::introspection_request_with(
            &format!("{ISS}/introspect"),
            auth,
            "some-token",
        )
        .unwrap();
        send(op, request, now)
    }

    fn jwt_client() -> ClientMetadata {
        ClientMetadata::new("c", SECRET).with_auth_method(ClientAuthMethod::ClientSecretJwt)
    }

    #[test]
    fn a_valid_assertion_is_accepted_once() {
        let op = provider();
        let client = jwt_client();
        let auth = ClientAuth::new(&client).assertion(NOW, "j1");
        let (status, body) = introspect(&op, &auth, NOW);
        assert_eq!(
            (status, &body["active"]),
            (200, &Value::Bool(false)),
            "{body}"
        );
        let (status, body) = introspect(&op, &auth, NOW);
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert!(body["error_description"].as_str().unwrap().contains("jti"));
    }

    #[test]
    fn wrong_audience_expiry_issuer_or_key_are_refused() {
        let op = provider();
        let client = jwt_client();
        let refused = |auth: &ClientAuth<'_>, now: u64, why: &str| {
            let (status, body) = introspect(&op, auth, now);
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("invalid_client")),
                "{why}: {body}"
            );
        };
        let other_aud = ClientAuth::new(&client)
            .assertion(NOW, "a1")
            .audience("https://elsewhere.example/token");
        refused(&other_aud, NOW, "audience");
        refused(
            &ClientAuth::new(&client).assertion(NOW - 61, "a2"),
            NOW,
            "expired",
        );
        let impostor = ClientMetadata::new("c", "another-secret-that-is-long-enough-to-mac")
            .with_auth_method(ClientAuthMethod::ClientSecretJwt);
        refused(
            &ClientAuth::new(&impostor).assertion(NOW, "a3"),
            NOW,
            "secret",
        );
        let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        let key = ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
        let keyed =
            ClientMetadata::new("c", SECRET).with_auth_method(ClientAuthMethod::PrivateKeyJwt);
        let signed = ClientAuth::new(&keyed).private_key(Some(&key));
        refused(
            &signed.clone().assertion(NOW, "a4"),
            NOW,
            "no registered key",
        );
        op.set_client_jwks("c", oidc_core::client_auth::jwks_document([&key]));
        let (status, body) = introspect(&op, &signed.clone().assertion(NOW, "a5"), NOW);
        assert_eq!(status, 200, "{body}");
        // Held to private_key_jwt, the client may no longer use its secret.
        op.require_client_auth_method("c", "private_key_jwt");
        refused(
            &ClientAuth::new(&client).assertion(NOW, "a6"),
            NOW,
            "registered method",
        );
        let basic =
            ClientMetadata::new("c", SECRET).with_auth_method(ClientAuthMethod::ClientSecretBasic);
        refused(&ClientAuth::new(&basic), NOW, "basic");
        let seen = op.last_client_assertion().unwrap();
        assert_eq!(seen["claims"]["jti"], "a5");
        assert_eq!(seen["claims"]["aud"], format!("{ISS}/introspect"));
    }

    #[test]
    fn discovery_advertises_the_configured_methods() {
        let op = provider();
        let discovery = || {
            let request = http::Request::get("/.well-known/openid-configuration")
                .body(Bytes::new())
                .unwrap();
            send(&op, request, NOW).1
        };
        assert_eq!(
            discovery()["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post"])
        );
        op.set_token_endpoint_auth_methods(Some(&["private_key_jwt"]));
        assert_eq!(
            discovery()["token_endpoint_auth_methods_supported"],
            serde_json::json!(["private_key_jwt"])
        );
    }
}
