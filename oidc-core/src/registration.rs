//! OpenID Connect Dynamic Client Registration 1.0 (sections 3.1-3.3): the registration request
//! and the registered client it returns.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::metadata::{ClientAuthMethod, ClientMetadata};
use crate::secret::Secret;
use crate::wire;

/// What to register. Unset lists are filled in from the app: `redirect_uris` with the app's
/// redirect endpoint, `post_logout_redirect_uris` with its logout page, `response_types` and
/// `grant_types` with what the configured response type needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientRegistrationInfo {
    /// `client_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// `contacts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// `redirect_uris` (default: the app's redirect URI).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// `post_logout_redirect_uris` (default: the app's post-logout redirect URI).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// `response_types` (default: the configured response type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types: Vec<String>,
    /// `grant_types` (default: what the response type needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types: Vec<String>,
    /// `token_endpoint_auth_method` (default: chosen from the provider's
    /// `token_endpoint_auth_methods_supported`, and sent when that is not
    /// `client_secret_basic` or a private key is configured; see
    /// [`client_auth::negotiate`](crate::client_auth::negotiate)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// `id_token_signed_response_alg` (default: the provider's choice, RS256 per the spec);
    /// the same as, and filled in from,
    /// [`ProviderConfigBuilder::id_token_signed_response_alg`](crate::ProviderConfigBuilder::id_token_signed_response_alg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// `userinfo_signed_response_alg` (default: plain JSON userinfo); the same as, and filled
    /// in from,
    /// [`ProviderConfigBuilder::userinfo_signed_response_alg`](crate::ProviderConfigBuilder::userinfo_signed_response_alg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    // Issue 18 (P): PAR (RFC 9126 6) and signed request objects (RFC 9101 10.5).
    /// `require_pushed_authorization_requests`: sent as `true` when
    /// [`ProviderConfigBuilder::pushed_authorization_requests`](crate::ProviderConfigBuilder::pushed_authorization_requests)
    /// is on, so that the provider refuses this client's requests that were not pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pushed_authorization_requests: Option<bool>,
    /// `request_object_signing_alg`: the algorithm of the client's key, sent when
    /// [`ProviderConfigBuilder::signed_request_object`](crate::ProviderConfigBuilder::signed_request_object)
    /// is on, so that the provider refuses request objects signed otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// Any other client metadata to register.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// An initial access token, sent as `Authorization: Bearer` (RFC 7591 3), when the provider
    /// requires one.
    #[serde(skip)]
    pub initial_access_token: Option<Secret>,
}

impl ClientRegistrationInfo {
    /// Registration info with a client name and every other field defaulted.
    pub fn new(client_name: impl Into<String>) -> Self {
        ClientRegistrationInfo {
            client_name: Some(client_name.into()),
            ..Default::default()
        }
    }
}

/// The registration request.
pub fn registration_request(
    registration_endpoint: &str,
    info: &ClientRegistrationInfo,
) -> Result<http::Request<Bytes>> {
    let body = serde_json::to_vec(info)
        .map_err(|e| Error::config("client_registration_info", e.to_string()))?;
    let mut b = http::Request::post(registration_endpoint)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json");
    if let Some(iat) = &info.initial_access_token {
        // Sensitive, like every other credential header: `Debug` then prints no token.
        b = b.header(
            http::header::AUTHORIZATION,
            wire::sensitive(format!("Bearer {}", iat.expose())),
        );
    }
    b.body(Bytes::from(body)).map_err(|e| {
        Error::config(
            "provider_metadata.registration_endpoint",
            format!("invalid URL: {e}"),
        )
    })
}

/// A registered client, with when its secret expires.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The client, ready for the token endpoint.
    pub client: ClientMetadata,
    /// `client_secret_expires_at` (unix seconds; `None` for never).
    pub secret_expires_at: Option<u64>,
}

impl RegisteredClient {
    /// Whether the client must register again at `now` (its secret has expired).
    pub fn is_expired(&self, now: u64) -> bool {
        self.secret_expires_at.is_some_and(|t| t <= now)
    }
}

/// Parses the registration response (3.2), or the error (3.3).
pub fn parse_registration_response(response: http::Response<Bytes>) -> Result<RegisteredClient> {
    let body = wire::expect_success(Endpoint::Registration, response)?;
    let mut doc: Map<String, Value> = wire::json(Endpoint::Registration, &body)?;
    let malformed = |reason: &str| {
        Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Registration,
            reason: reason.to_owned(),
        })
    };
    let client_id = match doc.remove("client_id") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err(malformed("no client_id")),
    };
    let client_secret = match doc.remove("client_secret") {
        Some(Value::String(s)) => Some(Secret::new(s)),
        None | Some(Value::Null) => None,
        Some(_) => return Err(malformed("client_secret is not a string")),
    };
    let method = match doc.remove("token_endpoint_auth_method") {
        Some(Value::String(m)) => ClientAuthMethod::parse(&m).map_err(|_| {
            malformed("the provider registered an unsupported token_endpoint_auth_method")
        })?,
        _ if client_secret.is_some() => ClientAuthMethod::ClientSecretBasic,
        _ => ClientAuthMethod::None,
    };
    // A private key needs no secret; every other confidential method does.
    let keyed = matches!(
        method,
        ClientAuthMethod::None | ClientAuthMethod::PrivateKeyJwt
    );
    if !keyed && client_secret.is_none() {
        return Err(malformed("no client_secret for a confidential client"));
    }
    let secret_expires_at = match doc.get("client_secret_expires_at") {
        Some(Value::Number(n)) => n.as_u64().filter(|t| *t != 0),
        _ => None,
    };
    // The registration access token lets the client read or update its registration later; it
    // is a secret like the client secret.
    if let Some(Value::String(_)) = doc.get("registration_access_token") {
        doc.insert(
            "registration_access_token".into(),
            Value::String("[redacted]".into()),
        );
    }
    Ok(RegisteredClient {
        client: ClientMetadata {
            client_id,
            client_secret,
            token_endpoint_auth_method: Some(method),
            extra: doc,
        },
        secret_expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::resp;

    #[test]
    fn request_shape() {
        let mut info = ClientRegistrationInfo::new("demo");
        info.redirect_uris = vec!["https://rp/cb".into()];
        info.extra
            .insert("logo_uri".into(), "https://rp/logo.png".into());
        info.initial_access_token = Some(Secret::new("iat"));
        let r = registration_request("https://op/register", &info).unwrap();
        assert_eq!(r.headers()["authorization"], "Bearer iat");
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["client_name"], "demo");
        assert_eq!(v["redirect_uris"][0], "https://rp/cb");
        assert_eq!(v["logo_uri"], "https://rp/logo.png");
        assert!(v.get("initial_access_token").is_none());
        assert!(v.get("contacts").is_none());
        assert!(v.get("id_token_signed_response_alg").is_none());
        info.id_token_signed_response_alg = Some("HS256".into());
        info.userinfo_signed_response_alg = Some("RS256".into());
        let r = registration_request("https://op/register", &info).unwrap();
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["id_token_signed_response_alg"], "HS256");
        assert_eq!(v["userinfo_signed_response_alg"], "RS256");
    }

    #[test]
    fn parses_registration() {
        let r = parse_registration_response(resp(
            201,
            r#"{"client_id":"c1","client_secret":"s1","client_secret_expires_at":0,
                "registration_access_token":"rat","token_endpoint_auth_method":"client_secret_post"}"#,
        ))
        .unwrap();
        assert_eq!(r.client.client_id, "c1");
        assert_eq!(r.client.client_secret.as_ref().unwrap().expose(), "s1");
        assert_eq!(
            r.client.token_endpoint_auth_method,
            Some(ClientAuthMethod::ClientSecretPost)
        );
        assert_eq!(r.secret_expires_at, None);
        assert!(!r.is_expired(u64::MAX));
        assert!(!format!("{r:?}").contains("rat\""));
        assert!(!format!("{r:?}").contains("s1"));
        let r = parse_registration_response(resp(
            201,
            r#"{"client_id":"c1","client_secret":"s1","client_secret_expires_at":100}"#,
        ))
        .unwrap();
        assert!(r.is_expired(100) && !r.is_expired(99));
        let public = parse_registration_response(resp(201, r#"{"client_id":"p"}"#)).unwrap();
        assert_eq!(
            public.client.token_endpoint_auth_method,
            Some(ClientAuthMethod::None)
        );
        let keyed = parse_registration_response(resp(
            201,
            r#"{"client_id":"k","token_endpoint_auth_method":"private_key_jwt"}"#,
        ))
        .unwrap();
        assert_eq!(
            keyed.client.token_endpoint_auth_method,
            Some(ClientAuthMethod::PrivateKeyJwt)
        );
        assert!(keyed.client.client_secret.is_none());
    }

    #[test]
    fn registration_errors() {
        match parse_registration_response(resp(
            400,
            r#"{"error":"invalid_redirect_uri","error_description":"bad"}"#,
        )) {
            Err(Error::Provider(e)) => assert_eq!(e.error, "invalid_redirect_uri"),
            other => panic!("{other:?}"),
        }
        for body in [
            r#"{"client_secret":"s"}"#,
            r#"{"client_id":""}"#,
            r#"{"client_id":"c","client_secret":5}"#,
            r#"{"client_id":"c","token_endpoint_auth_method":"client_secret_basic"}"#,
            r#"{"client_id":"c","token_endpoint_auth_method":"client_secret_jwt"}"#,
            r#"{"client_id":"c","client_secret":"s","token_endpoint_auth_method":"tls_client_auth"}"#,
            "not json",
        ] {
            assert!(
                matches!(
                    parse_registration_response(resp(201, body)),
                    Err(Error::Protocol(ProtocolError::MalformedResponse { .. }))
                ),
                "{body}"
            );
        }
    }
}
