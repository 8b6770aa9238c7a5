//! Building a [`RelyingParty`]: the configuration checked once, up front.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use super::tokens::{TokenSettings, TokenState};
use super::{Inner, ProviderSlot, RelyingParty};
use crate::config::ProviderConfig;
use crate::cookies::SessionCookies;
use crate::error::{Error, Result};
use crate::error_view::{ErrorView, HtmlErrorView};
use crate::login_cookie::LoginCookies;
use crate::provider::ProviderState;

/// Builds a [`RelyingParty`].
#[must_use]
pub struct RelyingPartyBuilder {
    app_url: String,
    providers: Vec<(String, ProviderConfig)>,
    redirect_uri: Option<String>,
    post_logout_redirect_uri: Option<String>,
    login_path: Option<String>,
    jwks_path: Option<String>,
    backchannel_logout_path: Option<String>,
    frontchannel_logout_path: Option<String>,
    secret: Option<Vec<u8>>,
    previous_secrets: Vec<Vec<u8>>,
    cookie_name: String,
    error_view: Arc<dyn ErrorView>,
    session_lifetime: Duration,
    permanent: bool,
    pub(super) tokens: TokenSettings,
}

impl std::fmt::Debug for RelyingPartyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingPartyBuilder")
            .field("app_url", &self.app_url)
            .finish_non_exhaustive()
    }
}

impl RelyingPartyBuilder {
    /// Adds a provider under a name. The first one added is the default.
    ///
    /// A session belongs to one provider: logging in with another replaces it (the old
    /// session deleted, the id rotated); [`UserSession::provider`](crate::UserSession::provider) says which one it is.
    pub fn provider(mut self, name: impl Into<String>, config: ProviderConfig) -> Self {
        self.providers.push((name.into(), config));
        self
    }

    /// The redirect URI, as a full URL (default: `<app url>/redirect_uri`). Set it when the app
    /// runs behind a TLS-terminating proxy or under a path prefix.
    ///
    /// With several providers, each gets its own below it, `<redirect uri>/<provider name>`
    /// (or its [`ProviderConfigBuilder::redirect_uri`](crate::ProviderConfigBuilder::redirect_uri)),
    /// to register at that provider: a response is accepted only on the redirect URI of the
    /// provider its login was started with, which defeats mix-up attacks even with providers
    /// that do not send the RFC 9207 `iss` parameter (RFC 9700 4.4.2).
    pub fn redirect_uri(mut self, url: impl Into<String>) -> Self {
        self.redirect_uri = Some(url.into());
        self
    }

    /// Where the provider sends the user after logout (default: `<app url>/logout`).
    pub fn post_logout_redirect_uri(mut self, url: impl Into<String>) -> Self {
        self.post_logout_redirect_uri = Some(url.into());
        self
    }

    /// Serves a login route at this path (off by default): `GET <path>?next=/page&provider=name`
    /// starts a login that returns to `next` (a path on the app's origin; anything else is
    /// refused), with the named provider or the default one.
    pub fn login_path(mut self, path: impl Into<String>) -> Self {
        self.login_path = Some(path.into());
        self
    }

    /// Where the app serves its public JWKS when a provider has a private key
    /// ([`ProviderConfigBuilder::private_key`](crate::ProviderConfigBuilder::private_key)):
    /// an absolute path on the app's host (`/keys.json`), or one relative to the app's URL
    /// (default `jwks.json`: `<app url>/jwks.json`). Dynamic registration sends it as
    /// `jwks_uri`.
    pub fn jwks_path(mut self, path: impl Into<String>) -> Self {
        self.jwks_path = Some(path.into());
        self
    }

    /// Where the provider posts logout tokens (OpenID Connect Back-Channel Logout 1.0): a
    /// path on the app's host, absolute or relative to the app's URL (default
    /// `backchannel_logout`: `<app url>/backchannel_logout`). A valid logout token ends every
    /// session it names, in every instance sharing the session store (which must index
    /// sessions: [`SessionRecord::index_keys`](crate::SessionRecord::index_keys)). Dynamic
    /// registration sends it as `backchannel_logout_uri` when the provider supports it.
    pub fn backchannel_logout_path(mut self, path: impl Into<String>) -> Self {
        self.backchannel_logout_path = Some(path.into());
        self
    }

    /// Serves no back-channel logout route (it is on by default: see
    /// [`backchannel_logout_path`](Self::backchannel_logout_path)).
    pub fn without_backchannel_logout(mut self) -> Self {
        self.backchannel_logout_path = None;
        self
    }

    /// Serves front-channel logout (OpenID Connect Front-Channel Logout 1.0) at this path (off
    /// by default): the provider's logout page loads it in an iframe with `iss` and `sid`, and
    /// the sessions of that provider session end. Only for providers without back-channel
    /// logout: any page that knows a user's `sid` (the ID token carries it) can end that
    /// user's session through it. Dynamic registration sends it as `frontchannel_logout_uri`
    /// when the provider supports it.
    pub fn frontchannel_logout_path(mut self, path: impl Into<String>) -> Self {
        self.frontchannel_logout_path = Some(path.into());
        self
    }

    /// The key that signs session cookies and encrypts login cookies, at least 32 bytes
    /// (required). Instances that share sessions share it.
    pub fn session_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Secrets that [`session_secret`](Self::session_secret) replaced, each at least 32 bytes:
    /// session cookies signed, login cookies encrypted and logout confirmations issued under
    /// them are still accepted, while everything new uses the current secret. Keep a replaced
    /// secret here for as long as the sessions it signed may live (the session lifetime), then
    /// drop it: the sessions still under it end. [`manual::secrets`](crate::manual::secrets) walks
    /// through a rotation.
    pub fn previous_session_secrets<S: AsRef<[u8]>>(
        mut self,
        secrets: impl IntoIterator<Item = S>,
    ) -> Self {
        self.previous_secrets = secrets.into_iter().map(|s| s.as_ref().to_vec()).collect();
        self
    }

    /// Whether a session secret was set (a runtime sets a random one when not).
    pub fn has_session_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// The session cookie's name (default `oidc_session`); login cookies are named after it
    /// (`<name>_login_...`). On https both get the `__Host-` prefix (`__Host-oidc_session`),
    /// which makes browsers take them from this host alone, with `Path=/`: two apps under
    /// different path prefixes of one https host need different names.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// The error view (default: [`HtmlErrorView`]).
    pub fn error_view(mut self, view: impl ErrorView) -> Self {
        self.error_view = Arc::new(view);
        self
    }

    /// How long a login lasts (default 7 days).
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// Permanent sessions keep the cookie for the session lifetime (the default); browser
    /// sessions end when the browser closes (and at the lifetime on the server).
    pub fn permanent_sessions(mut self, permanent: bool) -> Self {
        self.permanent = permanent;
        self
    }

    /// Validates the configuration and builds the relying party.
    pub fn build(self) -> Result<RelyingParty> {
        let app_url =
            Url::parse(&self.app_url).map_err(|e| Error::config("app_url", e.to_string()))?;
        if !matches!(app_url.scheme(), "http" | "https") || app_url.host().is_none() {
            return Err(Error::config(
                "app_url",
                "must be an http(s) URL with a host",
            ));
        }
        let base = with_trailing_slash(&app_url);
        let resolve = |field: &'static str, given: Option<String>, default: &str| -> Result<Url> {
            let url = match given {
                Some(s) => Url::parse(&s).map_err(|e| Error::config(field, e.to_string()))?,
                None => base
                    .join(default)
                    .map_err(|e| Error::config(field, e.to_string()))?,
            };
            if url.fragment().is_some() {
                return Err(Error::config(field, "must not have a fragment"));
            }
            Ok(url)
        };
        let redirect_uri = resolve("redirect_uri", self.redirect_uri, "redirect_uri")?;
        let post_logout_redirect_uri = resolve(
            "post_logout_redirect_uri",
            self.post_logout_redirect_uri,
            "logout",
        )?;
        if self.providers.is_empty() {
            return Err(Error::config(
                "providers",
                "at least one provider is required",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (name, _) in &self.providers {
            if name.is_empty() || !names.insert(name.as_str()) {
                return Err(Error::config(
                    "providers",
                    format!("provider names must be unique and non-empty (`{name}`)"),
                ));
            }
        }
        let secret = self.secret.ok_or_else(|| {
            Error::config(
                "session_secret",
                "a session secret of at least 32 bytes is required",
            )
        })?;
        let lifetime = self.session_lifetime.as_secs().max(1);
        let cookies = SessionCookies::new(
            self.cookie_name.clone(),
            &secret,
            &self.previous_secrets,
            app_url.scheme() == "https",
            base.path().to_owned(),
            self.permanent.then_some(lifetime),
        )?;
        let several = self.providers.len() > 1;
        let mut redirect_uris = Vec::with_capacity(self.providers.len());
        for (name, config) in &self.providers {
            let uri = provider_redirect_uri(&redirect_uri, name, config, several)?;
            let path_taken = redirect_uris.iter().any(|u: &Url| u.path() == uri.path());
            if path_taken || uri.path() == post_logout_redirect_uri.path() {
                return Err(Error::config(
                    "redirect_uri",
                    format!("the redirect URI of provider `{name}` ({uri}) is not distinct"),
                ));
            }
            redirect_uris.push(uri);
        }
        // A login cookie must reach every provider's redirect endpoint (a provider may have a
        // redirect URI of its own, off the default path), and no wider: the longest path
        // prefix, by whole segments, that all of them share.
        let login_cookie_path = common_path(redirect_uris.iter().map(Url::path));
        let login_cookies = LoginCookies::new(
            &self.cookie_name,
            &secret,
            &self.previous_secrets,
            app_url.scheme() == "https",
            &login_cookie_path,
        )?;
        let client_jwks = client_jwks(&base, self.jwks_path.as_deref(), &self.providers)?;
        if let Some((url, _)) = &client_jwks {
            // Another route on the same path would answer in its place.
            let taken = redirect_uris.iter().any(|u| u.path() == url.path())
                || post_logout_redirect_uri.path() == url.path()
                || self.login_path.as_deref() == Some(url.path());
            if taken {
                return Err(Error::config(
                    "jwks_path",
                    format!("{} is the path of another route", url.path()),
                ));
            }
        }
        let own_route = |field: &'static str, path: Option<&str>| -> Result<Option<Url>> {
            let Some(path) = path else { return Ok(None) };
            let url = base
                .join(path)
                .map_err(|e| Error::config(field, e.to_string()))?;
            if url.origin() != base.origin() || url.query().is_some() || url.fragment().is_some() {
                return Err(Error::config(
                    field,
                    "must be a path on the app's host, without query or fragment",
                ));
            }
            // Another route on the same path would answer in its place.
            let taken = redirect_uris.iter().any(|u| u.path() == url.path())
                || post_logout_redirect_uri.path() == url.path()
                || self.login_path.as_deref() == Some(url.path())
                || client_jwks
                    .as_ref()
                    .is_some_and(|(u, _)| u.path() == url.path());
            if taken {
                return Err(Error::config(
                    field,
                    format!("{} is the path of another route", url.path()),
                ));
            }
            Ok(Some(url))
        };
        let backchannel_logout_uri = own_route(
            "backchannel_logout_path",
            self.backchannel_logout_path.as_deref(),
        )?;
        let frontchannel_logout_uri = own_route(
            "frontchannel_logout_path",
            self.frontchannel_logout_path.as_deref(),
        )?;
        if backchannel_logout_uri.is_some()
            && backchannel_logout_uri.as_ref().map(Url::path)
                == frontchannel_logout_uri.as_ref().map(Url::path)
        {
            return Err(Error::config(
                "frontchannel_logout_path",
                "is the path of the back-channel logout route",
            ));
        }
        let providers = self
            .providers
            .into_iter()
            .map(|(name, mut config)| {
                config.client_auth.jwks_uri = client_jwks.as_ref().map(|(url, _)| url.clone());
                (name, config)
            })
            .zip(redirect_uris)
            .map(|((name, config), redirect_uri)| ProviderSlot {
                name,
                state: Mutex::new(ProviderState::new(&config)),
                config,
                redirect_uri,
            })
            .collect();
        Ok(RelyingParty {
            inner: Arc::new(Inner {
                providers,
                app_url: base,
                post_logout_redirect_uri,
                login_path: self.login_path,
                client_jwks,
                backchannel_logout_uri,
                frontchannel_logout_uri,
                cookies,
                login_cookies,
                error_view: self.error_view,
                session_lifetime: lifetime,
                tokens: TokenState::new(self.tokens),
                refreshing: Mutex::new(std::collections::HashMap::new()),
                next_flow: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

/// The app's JWKS URL and document, when some provider has a private key: every provider's
/// public key, each once.
fn client_jwks(
    base: &Url,
    path: Option<&str>,
    providers: &[(String, ProviderConfig)],
) -> Result<Option<(Url, bytes::Bytes)>> {
    let keys: Vec<_> = providers
        .iter()
        .filter_map(|(_, c)| c.client_auth.key.as_ref())
        .collect();
    // Issue 18 (J): the public halves of the decryption keys (`use: enc`) beside the signing keys.
    let decryption_keys: Vec<_> = providers
        .iter()
        .flat_map(|(_, c)| c.secured.decryption_keys.iter())
        .collect();
    if keys.is_empty() && decryption_keys.is_empty() {
        return Ok(None);
    }
    let url = base
        .join(path.unwrap_or("jwks.json"))
        .map_err(|e| Error::config("jwks_path", e.to_string()))?;
    if url.origin() != base.origin() || url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            "jwks_path",
            "must be a path on the app's host, without query or fragment",
        ));
    }
    let mut document = crate::client_auth::jwks_document(keys);
    if let Some(list) = document.get_mut("keys").and_then(|k| k.as_array_mut()) {
        list.extend(crate::jwe::public_jwks(decryption_keys));
    }
    let document = document.to_string();
    Ok(Some((url, bytes::Bytes::from(document))))
}

/// The longest path, in whole segments, that is a prefix of every path given (`/` at least).
pub(super) fn common_path<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let mut common: Option<Vec<&str>> = None;
    for path in paths {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        common = Some(match common {
            None => segments,
            Some(c) => c
                .iter()
                .zip(&segments)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    format!("/{}", common.unwrap_or_default().join("/"))
}

/// A provider's redirect URI: its own when configured; else, with a single provider, the
/// relying party's; with several, `<redirect uri>/<name>`.
fn provider_redirect_uri(
    base: &Url,
    name: &str,
    config: &ProviderConfig,
    several: bool,
) -> Result<Url> {
    if let Some(own) = &config.redirect_uri {
        return Url::parse(own).map_err(|e| Error::config("redirect_uri", e.to_string()));
    }
    if !several {
        return Ok(base.clone());
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| Error::config("redirect_uri", "must be a hierarchical URL"))?
        .pop_if_empty()
        .push(name);
    Ok(url)
}

fn with_trailing_slash(url: &Url) -> Url {
    let mut u = url.clone();
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u.set_query(None);
    u.set_fragment(None);
    u
}

impl RelyingParty {
    /// Starts building a relying party for the app served at `app_url` (its public base URL).
    pub fn builder(app_url: impl Into<String>) -> RelyingPartyBuilder {
        RelyingPartyBuilder {
            app_url: app_url.into(),
            providers: Vec::new(),
            redirect_uri: None,
            post_logout_redirect_uri: None,
            login_path: None,
            jwks_path: None,
            backchannel_logout_path: Some("backchannel_logout".into()),
            frontchannel_logout_path: None,
            secret: None,
            previous_secrets: Vec::new(),
            cookie_name: "oidc_session".into(),
            error_view: Arc::new(HtmlErrorView),
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            permanent: true,
            tokens: TokenSettings::default(),
        }
    }
}
