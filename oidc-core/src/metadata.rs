//! Provider and client metadata: what the provider publishes (or the app states statically) and
//! what identifies this client.
//!
//! Parsing is tolerant: unknown fields are kept in `extra`, and errors name the field path.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The provider's metadata (OpenID Connect Discovery 1.0, section 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: Url,
    /// Where codes are exchanged for tokens. Absent for implicit-only providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<Url>,
    /// Where userinfo claims are fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<Url>,
    /// The provider's signing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<Url>,
    /// Dynamic client registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<Url>,
    /// RP-initiated logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<Url>,
    /// Token introspection (RFC 7662).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<Url>,
    /// Supported `response_type` values.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// Supported `response_mode` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    /// Algorithms the provider signs ID tokens with.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Supported token endpoint client authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Supported PKCE methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the provider sends `iss` in authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// Every other field, kept as published.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ProviderMetadata {
    /// Metadata with only the required endpoints; fill in the rest with struct update syntax.
    pub fn new(issuer: impl Into<String>, authorization_endpoint: Url) -> Self {
        ProviderMetadata {
            issuer: issuer.into(),
            authorization_endpoint,
            token_endpoint: None,
            userinfo_endpoint: None,
            jwks_uri: None,
            registration_endpoint: None,
            end_session_endpoint: None,
            introspection_endpoint: None,
            response_types_supported: vec!["code".into()],
            response_modes_supported: None,
            id_token_signing_alg_values_supported: vec!["RS256".into()],
            token_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: None,
            authorization_response_iss_parameter_supported: false,
            extra: Map::new(),
        }
    }

    /// The first endpoint this relying party may call, or send the browser to, that does not
    /// use https (http is allowed only on loopback hosts, as for the issuer): its metadata
    /// field name and URL. Besides the named fields, every other `*_endpoint` member
    /// (`revocation_endpoint`, `pushed_authorization_request_endpoint`, ...) counts.
    pub fn insecure_endpoint(&self) -> Option<(String, String)> {
        let named = [
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("token_endpoint", self.token_endpoint.as_ref()),
            ("userinfo_endpoint", self.userinfo_endpoint.as_ref()),
            ("jwks_uri", self.jwks_uri.as_ref()),
            ("registration_endpoint", self.registration_endpoint.as_ref()),
            ("end_session_endpoint", self.end_session_endpoint.as_ref()),
            (
                "introspection_endpoint",
                self.introspection_endpoint.as_ref(),
            ),
        ];
        let named = named
            .into_iter()
            .filter_map(|(field, url)| Some((field.to_owned(), url?.clone())));
        // Other members are kept as published; one that is not a URL is never called.
        let others = self.extra.iter().filter_map(|(field, value)| {
            let url = Url::parse(value.as_str()?).ok()?;
            field.ends_with("_endpoint").then(|| (field.clone(), url))
        });
        named
            .chain(others)
            .find(|(_, url)| !is_secure_endpoint(url))
            .map(|(field, url)| (field, url.to_string()))
    }

    /// The token revocation endpoint (RFC 7009), from the `revocation_endpoint` member kept in
    /// [`extra`](Self::extra); `None` when absent or not a URL (such a member is never called;
    /// an http one on a non-loopback host is refused by [`insecure_endpoint`](Self::insecure_endpoint)).
    pub fn revocation_endpoint(&self) -> Option<Url> {
        let value = self.extra.get("revocation_endpoint")?.as_str()?;
        Url::parse(value).ok()
    }

    /// Whether the provider sends logout tokens to the clients' `backchannel_logout_uri`
    /// (`backchannel_logout_supported`, OpenID Connect Back-Channel Logout 2.1, kept in
    /// [`extra`](Self::extra)).
    pub fn backchannel_logout_supported(&self) -> bool {
        self.extra.get("backchannel_logout_supported") == Some(&Value::Bool(true))
    }

    /// Whether the provider loads the clients' `frontchannel_logout_uri` at logout
    /// (`frontchannel_logout_supported`, OpenID Connect Front-Channel Logout 2.1).
    pub fn frontchannel_logout_supported(&self) -> bool {
        self.extra.get("frontchannel_logout_supported") == Some(&Value::Bool(true))
    }

    /// Parses a metadata document, naming the failing field path on error.
    pub fn from_json(body: &[u8]) -> std::result::Result<Self, String> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error(de)
    }
}

/// https, or http on a loopback host (a provider in development).
fn is_secure_endpoint(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && crate::config::is_loopback(url))
}

fn serde_path_to_error<'de, T: Deserialize<'de>>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> std::result::Result<T, String> {
    // serde_json reports line and column; that plus the message locates the field well enough
    // without copying the (possibly sensitive) body into the error.
    T::deserialize(de).map_err(|e| e.to_string())
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 2.3.1). The default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT assertion MACed (HS256) with the client secret (OpenID Connect Core 9).
    ClientSecretJwt,
    /// A JWT assertion signed with the client's private key (OpenID Connect Core 9, RFC 7523).
    PrivateKeyJwt,
    /// A public client: only `client_id` is sent (PKCE protects the code).
    None,
}

impl ClientAuthMethod {
    /// The registered name of the method.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::ClientSecretJwt => "client_secret_jwt",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::None => "none",
        }
    }

    /// Parses a registered method name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "client_secret_basic" => Ok(ClientAuthMethod::ClientSecretBasic),
            "client_secret_post" => Ok(ClientAuthMethod::ClientSecretPost),
            "client_secret_jwt" => Ok(ClientAuthMethod::ClientSecretJwt),
            "private_key_jwt" => Ok(ClientAuthMethod::PrivateKeyJwt),
            "none" => Ok(ClientAuthMethod::None),
            other => Err(Error::config(
                "token_endpoint_auth_method",
                format!("unsupported method `{other}`"),
            )),
        }
    }
}

/// This client's registration: static, or the result of dynamic registration. Its `Debug`
/// names the `extra` fields without their values, which may be credentials
/// (`registration_access_token`, a private key JWK...).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientMetadata {
    /// The client identifier.
    pub client_id: String,
    /// The client secret; `None` for public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// How to authenticate at the token endpoint: pinned, or `None` to choose from the
    /// provider's `token_endpoint_auth_methods_supported` (see
    /// [`client_auth::negotiate`](crate::client_auth::negotiate)). A client serialized
    /// before negotiation existed always names its method, so it stays pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Every other registered field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for ClientMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMetadata")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ClientMetadata {
    /// A confidential client with a secret. Its authentication method is chosen from the
    /// provider's discovery (`client_secret_basic` when the provider lists none or lists it;
    /// see [`client_auth::negotiate`](crate::client_auth::negotiate)); pin one with
    /// [`with_auth_method`](Self::with_auth_method).
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        ClientMetadata {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            token_endpoint_auth_method: None,
            extra: Map::new(),
        }
    }

    /// A confidential client without a secret, authenticating with the private key set by
    /// [`ProviderConfigBuilder::private_key`](crate::ProviderConfigBuilder::private_key)
    /// (`private_key_jwt`).
    pub fn without_secret(client_id: impl Into<String>) -> Self {
        ClientMetadata {
            client_id: client_id.into(),
            client_secret: None,
            token_endpoint_auth_method: None,
            extra: Map::new(),
        }
    }

    /// A public client (no secret, `none` authentication).
    pub fn public(client_id: impl Into<String>) -> Self {
        ClientMetadata {
            client_id: client_id.into(),
            client_secret: None,
            token_endpoint_auth_method: Some(ClientAuthMethod::None),
            extra: Map::new(),
        }
    }

    /// The same client with its token endpoint authentication method pinned: used as it is,
    /// and a configuration error if the provider's discovery does not list it.
    pub fn with_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.token_endpoint_auth_method = Some(method);
        self
    }

    /// Whether this is a public client (pinned to `none`).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == Some(ClientAuthMethod::None)
    }

    /// Checks the client, knowing whether a private key is configured for it.
    pub(crate) fn validate(&self, has_key: bool) -> Result<()> {
        if self.client_id.is_empty() {
            return Err(Error::config("client_id", "must not be empty"));
        }
        let has_secret = self
            .client_secret
            .as_ref()
            .is_some_and(|s| !s.expose().is_empty());
        match self.token_endpoint_auth_method {
            Some(ClientAuthMethod::None) => Ok(()),
            Some(ClientAuthMethod::PrivateKeyJwt) | None if has_key => Ok(()),
            Some(ClientAuthMethod::PrivateKeyJwt) => Err(Error::config(
                "client_private_key",
                "required for private_key_jwt (ProviderConfigBuilder::private_key)",
            )),
            _ if has_secret => Ok(()),
            Some(m) => Err(Error::config(
                "client_secret",
                format!("required for {}", m.as_str()),
            )),
            None => Err(Error::config(
                "client_secret",
                "required (or a private key, or ClientMetadata::public for a public client)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keeps_unknown_fields() {
        let doc = br#"{"issuer":"https://op","authorization_endpoint":"https://op/auth",
            "x-custom":{"a":1},"response_types_supported":["code"]}"#;
        let m = ProviderMetadata::from_json(doc).unwrap();
        assert_eq!(m.extra["x-custom"]["a"], 1);
        assert!(m.token_endpoint.is_none());
    }

    #[test]
    fn metadata_error_names_position() {
        let doc = br#"{"issuer":"https://op","authorization_endpoint":"not a url"}"#;
        let err = ProviderMetadata::from_json(doc).unwrap_err();
        assert!(
            err.contains("relative URL") || err.contains("line"),
            "{err}"
        );
    }

    #[test]
    fn client_validation() {
        assert!(ClientMetadata::new("id", "secret").validate(false).is_ok());
        assert!(ClientMetadata::public("id").validate(false).is_ok());
        let err = ClientMetadata::new("", "s").validate(false).unwrap_err();
        assert!(err.to_string().contains("client_id"));
        let err = ClientMetadata::new("id", "").validate(false).unwrap_err();
        assert!(err.to_string().contains("client_secret"));
        let keyed = ClientMetadata::without_secret("id");
        assert!(keyed.validate(true).is_ok());
        assert!(keyed.validate(false).is_err());
        let pinned = keyed.with_auth_method(ClientAuthMethod::PrivateKeyJwt);
        assert!(matches!(
            pinned.validate(false),
            Err(Error::Config {
                field: "client_private_key",
                ..
            })
        ));
        assert!(ClientAuthMethod::parse("tls_client_auth").is_err());
        assert_eq!(
            ClientAuthMethod::parse("private_key_jwt").unwrap(),
            ClientAuthMethod::PrivateKeyJwt
        );
        assert_eq!(
            ClientAuthMethod::parse("client_secret_post").unwrap(),
            ClientAuthMethod::ClientSecretPost
        );
    }

    #[test]
    fn revocation_endpoint_is_read_from_extra() {
        let mut m = ProviderMetadata::new(
            "https://op.example",
            "https://op.example/auth".parse().unwrap(),
        );
        assert_eq!(m.revocation_endpoint(), None);
        m.extra.insert(
            "revocation_endpoint".into(),
            "https://op.example/revoke".into(),
        );
        assert_eq!(
            m.revocation_endpoint().map(String::from).as_deref(),
            Some("https://op.example/revoke")
        );
        for bad in [Value::from("not a url"), Value::from(7), Value::Null] {
            m.extra.insert("revocation_endpoint".into(), bad.clone());
            assert_eq!(m.revocation_endpoint(), None, "{bad}");
        }
        let parsed = ProviderMetadata::from_json(
            br#"{"issuer":"https://op.example","authorization_endpoint":"https://op.example/a",
                "revocation_endpoint":"https://op.example/r"}"#,
        )
        .unwrap();
        assert_eq!(
            parsed.revocation_endpoint().map(String::from).as_deref(),
            Some("https://op.example/r")
        );
    }

    #[test]
    fn insecure_endpoints_are_named() {
        let mut m = ProviderMetadata::new(
            "https://op.example",
            "https://op.example/auth".parse().unwrap(),
        );
        m.token_endpoint = Some("https://op.example/token".parse().unwrap());
        m.jwks_uri = Some("http://127.0.0.1:9000/jwks".parse().unwrap());
        m.extra
            .insert("op_policy_uri".into(), "http://op.example/policy".into());
        m.extra
            .insert("revocation_endpoint".into(), "not a url".into());
        assert_eq!(
            m.insecure_endpoint(),
            None,
            "https, loopback, non-endpoints"
        );
        m.userinfo_endpoint = Some("http://op.example/userinfo".parse().unwrap());
        assert_eq!(
            m.insecure_endpoint(),
            Some((
                "userinfo_endpoint".into(),
                "http://op.example/userinfo".into()
            ))
        );
        m.userinfo_endpoint = None;
        m.extra.insert(
            "revocation_endpoint".into(),
            "http://op.example/revoke".into(),
        );
        assert_eq!(
            m.insecure_endpoint().map(|(f, _)| f).as_deref(),
            Some("revocation_endpoint")
        );
        m.extra.remove("revocation_endpoint");
        m.authorization_endpoint = "ftp://localhost/auth".parse().unwrap();
        assert_eq!(
            m.insecure_endpoint().map(|(f, _)| f).as_deref(),
            Some("authorization_endpoint")
        );
    }

    /// A client serialized before negotiation existed names its method and stays pinned; a
    /// negotiated one is written without it and read back unset.
    #[test]
    fn stored_clients_deserialize_old_and_new() {
        let old = r#"{"client_id":"c","client_secret":"s","token_endpoint_auth_method":"client_secret_post","registration_access_token":"[redacted]"}"#;
        let c: ClientMetadata = serde_json::from_str(old).unwrap();
        assert_eq!(
            c.token_endpoint_auth_method,
            Some(ClientAuthMethod::ClientSecretPost)
        );
        let unset = ClientMetadata::new("c", "s");
        let json = serde_json::to_string(&unset).unwrap();
        assert!(!json.contains("token_endpoint_auth_method"), "{json}");
        assert_eq!(
            serde_json::from_str::<ClientMetadata>(&json).unwrap(),
            unset
        );
        let jwt = ClientMetadata::new("c", "s").with_auth_method(ClientAuthMethod::PrivateKeyJwt);
        let back: ClientMetadata =
            serde_json::from_str(&serde_json::to_string(&jwt).unwrap()).unwrap();
        assert_eq!(back, jwt);
    }

    #[test]
    fn client_debug_hides_secret() {
        let c = ClientMetadata::new("id", "top-secret");
        assert!(!format!("{c:?}").contains("top-secret"));
    }
}
