//! Configuration as data: the relying party described by a value that serde can read from any
//! format (TOML, YAML, JSON, figment, config-rs), or read from the environment the
//! twelve-factor way with [`Config::from_env`], then turned into a builder.
//!
//! ```
//! # fn main() -> Result<(), oidc_runtime::Error> {
//! let config: oidc_runtime::Config = serde_json::from_str(r#"{
//!     "app_url": "https://app.example",
//!     "session": { "secret": "a session secret of at least thirty-two bytes" },
//!     "providers": {
//!         "default": {
//!             "issuer": "https://op.example",
//!             "client_id": "app",
//!             "client_secret": "s3cret",
//!             "scopes": ["openid", "profile", "email"]
//!         }
//!     }
//! }"#).expect("valid JSON");
//! let builder = config.builder()?; // add a transport, a store, an error view...
//! # let _ = builder; Ok(()) }
//! ```
//!
//! A configuration holds only data. What is code (a [`Transport`](crate::Transport), a
//! [`SessionStore`](crate::SessionStore), an [`ErrorView`](crate::ErrorView)) is added to the
//! builder [`Config::builder`] returns. Secrets are [`Secret`]s: `Debug` never shows them.

use std::collections::BTreeMap;
use std::time::Duration;

use oidc_core::{
    BearerValidation, ClientAuthMethod, ClientMetadata, ClientPrivateKey, ClientRegistrationInfo,
    Error, ProviderConfig, ProviderConfigBuilder, Secret, UserinfoMethod,
};
use serde::Deserialize;

use crate::rp::{RelyingParty, RelyingPartyBuilder};

/// A relying party's configuration (see the [module docs](self)).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The app's public base URL (`APP_URL`).
    pub app_url: String,
    /// The providers by name. With several, [`default_provider`](Self::default_provider)
    /// names the one protected routes use unless they name another.
    pub providers: BTreeMap<String, ProviderSettings>,
    /// The default provider's name; needed only when there are several.
    pub default_provider: Option<String>,
    /// Session cookies and secrets.
    pub session: SessionSettings,
    /// How bearer tokens sent to the app's APIs are validated.
    pub api: ApiSettings,
}

/// One provider and this app's client there.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderSettings {
    /// The issuer; discovery starts from it (`OIDC_ISSUER`).
    pub issuer: String,
    /// The registered client id (`OIDC_CLIENT_ID`); without one the client is registered
    /// dynamically at start-up.
    pub client_id: Option<String>,
    /// The client secret (`OIDC_CLIENT_SECRET`); without one (and without a private key) the
    /// client is public.
    pub client_secret: Option<Secret>,
    /// The client's private key for `private_key_jwt` and signed request objects, PEM or JWK
    /// (`OIDC_CLIENT_PRIVATE_KEY`: the key, or the path of a file holding it).
    pub client_private_key: Option<Secret>,
    /// The token endpoint authentication method (`OIDC_TOKEN_ENDPOINT_AUTH_METHOD`); unset:
    /// chosen from discovery.
    pub token_endpoint_auth_method: Option<String>,
    /// The client name sent in a dynamic registration (default `oidc-rs`).
    pub client_name: Option<String>,
    /// The scopes asked for (`OIDC_SCOPES`, space-separated; default `openid profile email`).
    pub scopes: Option<Vec<String>>,
    /// `response_type` (`OIDC_RESPONSE_TYPE`; default `code`).
    pub response_type: Option<String>,
    /// `response_mode` (`OIDC_RESPONSE_MODE`), JARM's `*.jwt` modes included.
    pub response_mode: Option<String>,
    /// How userinfo is called: `header`, `body` or `none` (`OIDC_USERINFO_METHOD`).
    pub userinfo_method: Option<String>,
    /// Seconds between silent re-authentications of a session
    /// (`OIDC_SESSION_REFRESH_INTERVAL_SECONDS`).
    pub session_refresh_interval_seconds: Option<u64>,
    /// A profile: `fapi2` for the FAPI 2.0 preset (`OIDC_PROFILE`).
    pub profile: Option<String>,
    /// Pushed authorization requests (`OIDC_PUSHED_AUTHORIZATION_REQUESTS`).
    pub pushed_authorization_requests: Option<bool>,
    /// `signed` for signed request objects, `none` for none (`OIDC_REQUEST_OBJECT`).
    pub request_object: Option<String>,
    /// DPoP-bound tokens (`OIDC_DPOP`).
    pub dpop: Option<bool>,
    /// The key ID tokens and userinfo are encrypted to, PEM or JWK
    /// (`OIDC_CLIENT_DECRYPTION_KEY`: the key, or the path of a file holding it).
    pub client_decryption_key: Option<Secret>,
    /// `alg` and `enc` of encrypted ID tokens (`OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ALG`,
    /// `_ENC`; `enc` defaults to `A128CBC-HS256`).
    pub id_token_encrypted_response: Option<Encryption>,
    /// `alg` and `enc` of encrypted userinfo (`OIDC_USERINFO_ENCRYPTED_RESPONSE_ALG`, `_ENC`).
    pub userinfo_encrypted_response: Option<Encryption>,
}

/// A JWE `alg` and `enc` pair.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Encryption {
    /// The key management algorithm (`RSA-OAEP-256`, `ECDH-ES`...).
    pub alg: String,
    /// The content encryption (default `A128CBC-HS256`, as in OpenID Connect Dynamic Client
    /// Registration).
    #[serde(default = "default_enc")]
    pub enc: String,
}

fn default_enc() -> String {
    "A128CBC-HS256".into()
}

impl Encryption {
    /// `alg` with `enc`.
    pub fn new(alg: impl Into<String>, enc: impl Into<String>) -> Self {
        Encryption {
            alg: alg.into(),
            enc: enc.into(),
        }
    }
}

/// Session cookies and the secrets behind them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionSettings {
    /// The session secret, at least 32 bytes (`SESSION_SECRET`); unset: a random key per
    /// process (sessions end with it).
    pub secret: Option<Secret>,
    /// Secrets the session secret replaced (`SESSION_SECRET_PREVIOUS`, one); see
    /// [`previous_session_secrets`](RelyingPartyBuilder::previous_session_secrets).
    pub previous_secrets: Vec<Secret>,
    /// The session cookie's name.
    pub cookie_name: Option<String>,
    /// How long a session lives, in seconds.
    pub lifetime_seconds: Option<u64>,
}

/// How bearer tokens are validated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiSettings {
    /// `jwt` or `introspection` (`OIDC_API_VALIDATION`).
    pub validation: Option<String>,
    /// The audience tokens must carry (`OIDC_API_AUDIENCE`; default: the app's URL).
    pub audience: Option<String>,
    /// Scopes every token must carry (`OIDC_API_SCOPES`, space-separated).
    pub scopes: Option<Vec<String>>,
    /// Accept DPoP-bound tokens (`OIDC_API_DPOP`).
    pub accept_dpop: Option<bool>,
}

impl Config {
    /// Reads the process environment: the variables named on each field (`APP_URL`,
    /// `OIDC_ISSUER`, `SESSION_SECRET`...). Without `OIDC_ISSUER` there is no provider (add
    /// one to [`providers`](Self::providers)); a key variable holds the key or the path of a
    /// file holding it.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `var` (a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let switch = |name: &'static str| -> Result<Option<bool>, Error> {
            match var(name).map(|v| v.to_ascii_lowercase()).as_deref() {
                None => Ok(None),
                Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
                Some("false" | "0" | "no" | "off") => Ok(Some(false)),
                Some(_) => Err(invalid(name, "is not true or false")),
            }
        };
        let key = |name: &'static str| -> Result<Option<Secret>, Error> {
            let Some(value) = var(name) else {
                return Ok(None);
            };
            let inline = value.trim_start();
            if inline.starts_with("-----BEGIN") || inline.starts_with('{') {
                return Ok(Some(Secret::new(value)));
            }
            std::fs::read_to_string(&value)
                .map(|text| Some(Secret::new(text)))
                .map_err(|e| invalid(name, format!("cannot read the file: {e}")))
        };
        let words = |v: String| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let encryption = |alg: &'static str, enc: &'static str| {
            var(alg).map(|alg| Encryption {
                alg,
                enc: var(enc).unwrap_or_else(default_enc),
            })
        };
        let mut providers = BTreeMap::new();
        if let Some(issuer) = var("OIDC_ISSUER") {
            let seconds = var("OIDC_SESSION_REFRESH_INTERVAL_SECONDS")
                .map(|s| s.parse::<u64>())
                .transpose()
                .map_err(|e| invalid("OIDC_SESSION_REFRESH_INTERVAL_SECONDS", e.to_string()))?;
            let provider = ProviderSettings {
                issuer,
                client_id: var("OIDC_CLIENT_ID"),
                client_secret: var("OIDC_CLIENT_SECRET").map(Secret::new),
                client_private_key: key("OIDC_CLIENT_PRIVATE_KEY")?,
                token_endpoint_auth_method: var("OIDC_TOKEN_ENDPOINT_AUTH_METHOD"),
                client_name: None,
                scopes: var("OIDC_SCOPES").map(words),
                response_type: var("OIDC_RESPONSE_TYPE"),
                response_mode: var("OIDC_RESPONSE_MODE"),
                userinfo_method: var("OIDC_USERINFO_METHOD"),
                session_refresh_interval_seconds: seconds,
                profile: var("OIDC_PROFILE"),
                pushed_authorization_requests: switch("OIDC_PUSHED_AUTHORIZATION_REQUESTS")?,
                request_object: var("OIDC_REQUEST_OBJECT"),
                dpop: switch("OIDC_DPOP")?,
                client_decryption_key: key("OIDC_CLIENT_DECRYPTION_KEY")?,
                id_token_encrypted_response: encryption(
                    "OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ALG",
                    "OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ENC",
                ),
                userinfo_encrypted_response: encryption(
                    "OIDC_USERINFO_ENCRYPTED_RESPONSE_ALG",
                    "OIDC_USERINFO_ENCRYPTED_RESPONSE_ENC",
                ),
            };
            providers.insert("default".to_owned(), provider);
        }
        let previous: Vec<Secret> = var("SESSION_SECRET_PREVIOUS")
            .map(Secret::new)
            .into_iter()
            .collect();
        let secret = var("SESSION_SECRET").map(Secret::new);
        if secret.is_none() && !previous.is_empty() {
            return Err(invalid(
                "SESSION_SECRET_PREVIOUS",
                "needs SESSION_SECRET, the secret replacing it",
            ));
        }
        Ok(Config {
            app_url: var("APP_URL").unwrap_or_default(),
            providers,
            default_provider: None,
            session: SessionSettings {
                secret,
                previous_secrets: previous,
                cookie_name: None,
                lifetime_seconds: None,
            },
            api: ApiSettings {
                validation: var("OIDC_API_VALIDATION"),
                audience: var("OIDC_API_AUDIENCE"),
                scopes: var("OIDC_API_SCOPES").map(words),
                accept_dpop: switch("OIDC_API_DPOP")?,
            },
        })
    }

    /// A relying-party builder configured from this: each provider, the session settings and
    /// the bearer validation. Add the code-valued parts (transport, store, error view) and
    /// [`build`](RelyingPartyBuilder::build) it. Fails on a value no builder would take
    /// (an unknown method, an unreadable key), naming the field.
    pub fn builder(&self) -> Result<RelyingPartyBuilder, Error> {
        if self.app_url.is_empty() {
            return Err(invalid("app_url", "is required (`APP_URL`)"));
        }
        let mut builder = RelyingParty::builder(self.app_url.clone());
        let default = match (&self.default_provider, self.providers.len()) {
            (Some(name), _) => {
                if !self.providers.contains_key(name) {
                    return Err(invalid("default_provider", "names no configured provider"));
                }
                Some(name.as_str())
            }
            (None, 0 | 1) => self.providers.keys().next().map(String::as_str),
            (None, _) => {
                return Err(invalid(
                    "default_provider",
                    "is required with several providers",
                ))
            }
        };
        // The first provider added is the default.
        let ordered = default
            .into_iter()
            .chain(self.providers.keys().map(String::as_str))
            .filter({
                let mut seen = std::collections::HashSet::new();
                move |name| seen.insert(*name)
            });
        for name in ordered {
            builder = builder.provider(name, self.providers[name].to_config()?);
        }
        if let Some(secret) = &self.session.secret {
            builder = builder.session_secret(secret.expose().as_bytes());
        }
        if !self.session.previous_secrets.is_empty() {
            builder = builder.previous_session_secrets(
                self.session
                    .previous_secrets
                    .iter()
                    .map(|s| s.expose().as_bytes()),
            );
        }
        if let Some(name) = &self.session.cookie_name {
            builder = builder.cookie_name(name.clone());
        }
        if let Some(seconds) = self.session.lifetime_seconds {
            builder = builder.session_lifetime(Duration::from_secs(seconds));
        }
        if let Some(validation) = &self.api.validation {
            builder = builder.bearer_validation(BearerValidation::parse(validation)?);
        }
        if let Some(audience) = &self.api.audience {
            builder = builder.bearer_audience(audience.clone());
        }
        if let Some(scopes) = &self.api.scopes {
            builder = builder.bearer_scopes(scopes.iter().cloned());
        }
        if let Some(on) = self.api.accept_dpop {
            builder = builder.bearer_accept_dpop(on);
        }
        Ok(builder)
    }
}

impl ProviderSettings {
    /// The provider's configuration.
    pub fn to_config(&self) -> Result<ProviderConfig, Error> {
        self.to_builder()?.build()
    }

    /// The provider's configuration builder, to change further before building.
    pub fn to_builder(&self) -> Result<ProviderConfigBuilder, Error> {
        if self.issuer.is_empty() {
            return Err(invalid("issuer", "is required (`OIDC_ISSUER`)"));
        }
        let method = self
            .token_endpoint_auth_method
            .as_deref()
            .map(ClientAuthMethod::parse)
            .transpose()?;
        let key = self
            .client_private_key
            .as_ref()
            .map(|k| ClientPrivateKey::parse(k.expose()))
            .transpose()
            .map_err(|e| invalid("client_private_key", e.to_string()))?;
        let pin = |client: ClientMetadata| match method {
            Some(m) => client.with_auth_method(m),
            None => client,
        };
        let mut config = ProviderConfig::discover(self.issuer.clone());
        config = match (&self.client_id, &self.client_secret) {
            (Some(id), Some(secret)) => {
                config.client(pin(ClientMetadata::new(id.clone(), secret.expose())))
            }
            (Some(id), None) if key.is_some() => {
                config.client(pin(ClientMetadata::without_secret(id.clone())))
            }
            (Some(id), None) => config.client(ClientMetadata::public(id.clone())),
            (None, Some(_)) => {
                return Err(invalid(
                    "client_secret",
                    "needs client_id (`OIDC_CLIENT_ID`); without both, the client registers",
                ))
            }
            (None, None) => {
                let name = self.client_name.as_deref().unwrap_or("oidc-rs");
                let mut info = ClientRegistrationInfo::new(name);
                info.token_endpoint_auth_method = method;
                config.register(info)
            }
        };
        if let Some(key) = key {
            config = config.private_key(key);
        }
        let scopes = self
            .scopes
            .clone()
            .unwrap_or_else(|| ["openid", "profile", "email"].map(str::to_owned).to_vec());
        config = config.scopes(scopes);
        if let Some(response_type) = &self.response_type {
            config = config.response_type(response_type.clone());
        }
        if let Some(mode) = &self.response_mode {
            config = config.response_mode(mode.clone());
        }
        if let Some(method) = &self.userinfo_method {
            config = config.userinfo_method(UserinfoMethod::parse(method)?);
        }
        if let Some(seconds) = self.session_refresh_interval_seconds {
            config = config.session_refresh_interval(Duration::from_secs(seconds));
        }
        match self.profile.as_deref() {
            None => {}
            Some("fapi2") => config = config.fapi2(),
            Some(_) => return Err(invalid("profile", "is not a known profile (fapi2)")),
        }
        if let Some(on) = self.pushed_authorization_requests {
            config = config.pushed_authorization_requests(on);
        }
        match self.request_object.as_deref() {
            None | Some("none") => {}
            Some("signed") => config = config.signed_request_object(true),
            Some(_) => return Err(invalid("request_object", "is not `signed` or `none`")),
        }
        if let Some(on) = self.dpop {
            config = config.dpop(on);
        }
        if let Some(key) = &self.client_decryption_key {
            let key = oidc_core::ClientDecryptionKey::parse(key.expose())
                .map_err(|e| invalid("client_decryption_key", e.to_string()))?;
            config = config.decryption_key(key);
        }
        if let Some(e) = &self.id_token_encrypted_response {
            config = config.id_token_encrypted_response(e.alg.clone(), e.enc.clone());
        }
        if let Some(e) = &self.userinfo_encrypted_response {
            config = config.userinfo_encrypted_response(e.alg.clone(), e.enc.clone());
        }
        Ok(config)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Config {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const SECRET: &str = "a session secret of at least thirty-two bytes";

    /// A transport that is never called: these tests only build.
    struct Unused;
    impl crate::Transport for Unused {
        fn send(
            &self,
            _: http::Request<bytes::Bytes>,
        ) -> crate::BoxFuture<'_, Result<http::Response<bytes::Bytes>, oidc_core::TransportError>>
        {
            Box::pin(async { Err(oidc_core::TransportError::Other("not in this test".into())) })
        }
    }

    fn build(config: &Config) -> Result<RelyingParty, Error> {
        config
            .builder()?
            .transport(std::sync::Arc::new(Unused))
            .build()
    }

    #[test]
    fn the_environment_becomes_a_relying_party() {
        let config = Config::from_vars(vars(&[
            ("APP_URL", "https://app.example"),
            ("OIDC_ISSUER", "https://op.example"),
            ("OIDC_CLIENT_ID", "app"),
            ("OIDC_CLIENT_SECRET", "client-secret"),
            ("OIDC_SCOPES", "openid email"),
            ("OIDC_RESPONSE_MODE", "form_post"),
            ("OIDC_PUSHED_AUTHORIZATION_REQUESTS", "yes"),
            ("OIDC_ID_TOKEN_ENCRYPTED_RESPONSE_ALG", "RSA-OAEP-256"),
            ("OIDC_API_SCOPES", "read write"),
            ("OIDC_API_DPOP", "off"),
            ("SESSION_SECRET", SECRET),
            (
                "SESSION_SECRET_PREVIOUS",
                "the secret before it, also thirty-two bytes",
            ),
        ]))
        .unwrap();
        let p = &config.providers["default"];
        assert_eq!(p.issuer, "https://op.example");
        assert_eq!(
            p.scopes.as_deref(),
            Some(&["openid".into(), "email".into()][..])
        );
        assert_eq!(p.pushed_authorization_requests, Some(true));
        assert_eq!(
            p.id_token_encrypted_response,
            Some(Encryption {
                alg: "RSA-OAEP-256".into(),
                enc: "A128CBC-HS256".into()
            })
        );
        assert_eq!(config.api.accept_dpop, Some(false));
        assert_eq!(config.session.previous_secrets.len(), 1);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("client-secret") && !debug.contains(SECRET),
            "{debug}"
        );

        // Encryption needs a decryption key, which the builder checks.
        let err = p.to_config().unwrap_err();
        assert!(matches!(
            err,
            Error::Config {
                field: "id_token_encrypted_response",
                ..
            }
        ));
        let mut config = config.clone();
        let p = config.providers.get_mut("default").unwrap();
        p.id_token_encrypted_response = None;
        let built = p.to_config().unwrap();
        assert_eq!(built.scopes(), ["openid", "email"]);
        assert_eq!(built.response_mode(), oidc_core::ResponseMode::FormPost);
        assert_eq!(built.client().unwrap().client_id, "app");
        if let Err(e) = build(&config) {
            panic!("the relying party builds: {e}");
        }
    }

    #[test]
    fn serde_reads_the_same_configuration() {
        let config: Config = serde_json::from_value(serde_json::json!({
            "app_url": "https://app.example",
            "default_provider": "work",
            "providers": {
                "home": { "issuer": "https://home.example" },
                "work": { "issuer": "https://work.example", "client_id": "app",
                          "client_secret": "s" }
            },
            "session": { "secret": SECRET, "lifetime_seconds": 3600 },
            "api": { "validation": "jwt", "audience": "https://api.example" }
        }))
        .unwrap();
        assert!(
            config.providers["home"].client_id.is_none(),
            "registers dynamically"
        );
        let encryption: Encryption =
            serde_json::from_value(serde_json::json!({"alg": "ECDH-ES"})).unwrap();
        assert_eq!(encryption.enc, "A128CBC-HS256");
        let rp = build(&config).unwrap();
        assert_eq!(
            rp.provider_names().next(),
            Some("work"),
            "the default first"
        );

        let unknown = serde_json::from_value::<Config>(serde_json::json!({"app_ur": "x"}));
        assert!(
            unknown.unwrap_err().to_string().contains("app_ur"),
            "typos are refused"
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let field = |pairs: &[(&str, &str)]| match Config::from_vars(vars(pairs))
            .and_then(|c| c.builder())
            .map(|_| ())
        {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a configuration error: {other:?}"),
        };
        let base = [
            ("APP_URL", "https://app.example"),
            ("OIDC_ISSUER", "https://op.example"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut v = base.to_vec();
            v.push(extra);
            v
        };
        assert_eq!(field(&with(("OIDC_DPOP", "maybe"))), "OIDC_DPOP");
        assert_eq!(field(&with(("OIDC_PROFILE", "fapi3"))), "profile");
        assert_eq!(
            field(&with(("OIDC_REQUEST_OBJECT", "plain"))),
            "request_object"
        );
        assert_eq!(
            field(&with(("OIDC_CLIENT_PRIVATE_KEY", "/no/such/key.pem"))),
            "OIDC_CLIENT_PRIVATE_KEY"
        );
        assert_eq!(
            field(&with(("OIDC_SESSION_REFRESH_INTERVAL_SECONDS", "soon"))),
            "OIDC_SESSION_REFRESH_INTERVAL_SECONDS"
        );
        assert_eq!(field(&with(("OIDC_CLIENT_SECRET", "s"))), "client_secret");
        assert_eq!(
            field(&with(("SESSION_SECRET_PREVIOUS", "x"))),
            "SESSION_SECRET_PREVIOUS"
        );
        assert_eq!(field(&[("OIDC_ISSUER", "https://op.example")]), "app_url");
    }
}
