//! The relying party: the protocol state machines wired to a session store, a transport, a
//! clock and a source of randomness, all supplied by the caller. Adapters translate their
//! framework's request into an `http::Request`, call one method here, and translate the answer
//! back; nothing protocol-related lives in an adapter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use url::Url;

use crate::callback::{AuthorizationResponse, CodeExchange, ExchangeInput, LoginOutcome};
use crate::callback::{Exchange, Step};
use crate::config::{ProviderConfig, ResponseMode};
use crate::cookies::SessionCookies;
use crate::env::{random_token, Clock, OsRandom, Random, SystemClock, Transport};
use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::error_view::{ErrorInfo, ErrorView, HtmlErrorView};
use crate::jwks::{self, JwkSet, KeyCache, KeyDecision, KeyFetch};
use crate::login::{authentication_request, safe_return_path};
use crate::login_cookie::LoginCookies;
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::provider::{ClientPlan, MetadataPlan, ProviderState};
use crate::secret::{constant_time_eq, Secret};
use crate::session::{PendingLogin, SessionRecord, UserSession, PENDING_LOGIN_TTL};

/// A return path longer than this is replaced by the app's root: it travels in the login cookie,
/// which browsers cap at about 4 KiB.
const MAX_RETURN_PATH: usize = 1024;
use crate::store::{MemoryStore, SessionStore};

mod logout;
mod tokens;

/// The HTTP response type of the core.
pub type Response = http::Response<Bytes>;

/// One configured provider and what has been learnt about it.
struct ProviderSlot {
    name: String,
    config: ProviderConfig,
    /// Where this provider sends its answers: with several providers, one of its own, so that
    /// the path a response arrives on says which provider it is for (RFC 9700 4.4.2).
    redirect_uri: Url,
    /// Its metadata, client and discovery failures as learnt so far; never locked across an
    /// `.await`.
    state: Mutex<ProviderState>,
    /// The key set and its fetch history; never locked across an `.await`.
    keys: Mutex<KeyCache>,
    /// Held around every JWKS fetch, so that concurrent requests needing keys wait for one
    /// fetch and then decide from its outcome instead of each fetching.
    key_gate: futures_util::lock::Mutex<()>,
}

impl ProviderSlot {
    fn key_cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProviderState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Inner {
    providers: Vec<ProviderSlot>,
    app_url: Url,
    post_logout_redirect_uri: Url,
    login_path: Option<String>,
    store: Arc<dyn SessionStore>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    cookies: SessionCookies,
    login_cookies: LoginCookies,
    error_view: Arc<dyn ErrorView>,
    session_lifetime: u64,
    tokens: tokens::TokenState,
}

/// The relying party. Cheap to clone; share one per app.
///
/// ```
/// # use std::sync::Arc;
/// use oidc_core::{ClientMetadata, ProviderConfig, RelyingParty};
/// # struct NoNet;
/// # impl oidc_core::Transport for NoNet {
/// #     fn send(&self, _: http::Request<bytes::Bytes>) -> oidc_core::BoxFuture<'_, Result<http::Response<bytes::Bytes>, oidc_core::TransportError>> {
/// #         Box::pin(async { Err(oidc_core::TransportError::Connect("offline".into())) })
/// #     }
/// # }
/// let rp = RelyingParty::builder("https://app.example")
///     .provider(
///         "default",
///         ProviderConfig::discover("https://accounts.example.com")
///             .client(ClientMetadata::new("my-app", "s3cret"))
///             .build()?,
///     )
///     .transport(Arc::new(NoNet))
///     .session_secret([7u8; 32])
///     .build()?;
/// assert_eq!(rp.redirect_path(), "/redirect_uri");
/// # Ok::<(), oidc_core::Error>(())
/// ```
#[derive(Clone)]
pub struct RelyingParty {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("app_url", &self.inner.app_url.as_str())
            .field(
                "providers",
                &self
                    .inner
                    .providers
                    .iter()
                    .map(|p| &p.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Builds a [`RelyingParty`].
#[must_use]
pub struct RelyingPartyBuilder {
    app_url: String,
    providers: Vec<(String, ProviderConfig)>,
    redirect_uri: Option<String>,
    post_logout_redirect_uri: Option<String>,
    login_path: Option<String>,
    store: Option<Arc<dyn SessionStore>>,
    transport: Option<Arc<dyn Transport>>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    secret: Option<Vec<u8>>,
    cookie_name: String,
    error_view: Arc<dyn ErrorView>,
    session_lifetime: Duration,
    permanent: bool,
    tokens: tokens::TokenSettings,
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
    /// session deleted, the id rotated); [`UserSession::provider`] says which one it is.
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

    /// The session store (default: a bounded [`MemoryStore`]).
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The HTTP transport (required).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The source of randomness (default: the OS CSPRNG).
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// The key that signs session cookies, at least 32 bytes. Instances that share sessions
    /// share it. Default: a random key (sessions do not survive a restart).
    pub fn session_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
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
        let transport = self
            .transport
            .ok_or_else(|| Error::config("transport", "an HTTP transport is required"))?;
        let secret = match self.secret {
            Some(s) => s,
            None => {
                let mut s = vec![0u8; 32];
                self.random.fill(&mut s);
                s
            }
        };
        let lifetime = self.session_lifetime.as_secs().max(1);
        let cookies = SessionCookies::new(
            self.cookie_name.clone(),
            &secret,
            app_url.scheme() == "https",
            base.path().to_owned(),
            self.permanent.then_some(lifetime),
        )?;
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::with_clock(100_000, self.clock.clone())));
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
            app_url.scheme() == "https",
            &login_cookie_path,
        )?;
        let providers = self
            .providers
            .into_iter()
            .zip(redirect_uris)
            .map(|((name, config), redirect_uri)| ProviderSlot {
                name,
                keys: Mutex::new(KeyCache::new(config.key_fetch_policy())),
                state: Mutex::new(ProviderState::new(&config)),
                config,
                redirect_uri,
                key_gate: futures_util::lock::Mutex::new(()),
            })
            .collect();
        Ok(RelyingParty {
            inner: Arc::new(Inner {
                providers,
                app_url: base,
                post_logout_redirect_uri,
                login_path: self.login_path,
                store,
                transport,
                clock: self.clock,
                random: self.random,
                cookies,
                login_cookies,
                error_view: self.error_view,
                session_lifetime: lifetime,
                tokens: tokens::TokenState::new(self.tokens),
            }),
        })
    }
}

/// A provider's redirect URI: its own when configured; else, with a single provider, the
/// relying party's; with several, `<redirect uri>/<name>`.
/// The longest path, in whole segments, that is a prefix of every path given (`/` at least).
fn common_path<'a>(paths: impl Iterator<Item = &'a str>) -> String {
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

/// The store key that marks `state` spent: a hash, so that the store (and whoever can read
/// it) never holds a `state` of a login that may still be in flight.
fn spent_state_key(state: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(state.as_bytes()))
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

/// Which route of the relying party a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// The redirect endpoint (the provider's response comes back here).
    Redirect,
    /// Logout, and the page the provider returns to after logout.
    Logout,
    /// The explicit login route, when configured.
    Login,
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
            store: None,
            transport: None,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            secret: None,
            cookie_name: "oidc_session".into(),
            error_view: Arc::new(HtmlErrorView),
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            permanent: true,
            tokens: tokens::TokenSettings::default(),
        }
    }

    /// The path of the redirect endpoint, for routing: with a single provider, the only one;
    /// with several, the default provider's (each provider has its own: route every one of
    /// [`redirect_paths`](Self::redirect_paths), or route by [`route`](Self::route)).
    pub fn redirect_path(&self) -> &str {
        self.inner
            .providers
            .first()
            .map_or("/", |p| p.redirect_uri.path())
    }

    /// The paths of every provider's redirect endpoint (one per provider, the default
    /// provider's first; a single one with a single provider), for routing.
    pub fn redirect_paths(&self) -> impl Iterator<Item = &str> {
        self.inner.providers.iter().map(|p| p.redirect_uri.path())
    }

    /// The redirect URI of the provider `name` (the default provider when `None`): the URL to
    /// register at that provider.
    pub fn redirect_uri(&self, provider: Option<&str>) -> Option<&str> {
        self.slot(provider).ok().map(|p| p.redirect_uri.as_str())
    }

    /// The path of the logout route, for routing.
    pub fn logout_path(&self) -> &str {
        self.inner.post_logout_redirect_uri.path()
    }

    /// The path of the login route, when one is configured
    /// ([`RelyingPartyBuilder::login_path`]).
    pub fn login_path(&self) -> Option<&str> {
        self.inner.login_path.as_deref()
    }

    /// The configured provider names, the default first.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> {
        self.inner.providers.iter().map(|p| p.name.as_str())
    }

    /// The path the app is served under, from its URL (`/` at the root, `/app/` for
    /// `https://example.com/app`): where an app mounts its routes when no proxy strips it.
    pub fn base_path(&self) -> &str {
        self.inner.app_url.path()
    }

    /// `path` relative to the app: without the app's path prefix when it carries it (the app
    /// mounted under its prefix, an axum layer outside `Router::nest`), as it is when it does
    /// not (a proxy that strips the prefix, a layer or extractor inside `Router::nest`). So
    /// an app under `/app` should not have routes of its own under `/app/app`.
    fn app_relative<'a>(&self, path: &'a str) -> &'a str {
        let prefix = self.inner.app_url.path().trim_end_matches('/');
        match path.strip_prefix(prefix) {
            Some("") if !prefix.is_empty() => "/",
            Some(rest) if !prefix.is_empty() && rest.starts_with('/') => rest,
            _ => path,
        }
    }

    /// Whether a request for `request_path` is for the route at `route_path` (a path of the
    /// app's URL): the same path, or the route's path without the app's prefix when that was
    /// stripped before the request reached the app.
    fn is_route(&self, request_path: &str, route_path: &str) -> bool {
        request_path == route_path
            || (self.app_relative(route_path) != route_path
                && self.app_relative(route_path) == request_path)
    }

    /// Every path on which [`route`](Self::route) finds one of the relying party's own
    /// routes, for frameworks that route by path (Rocket): each route's path, and, when the
    /// app has a path prefix, that path without it (for a proxy that strips the prefix).
    pub fn route_paths(&self) -> Vec<(Route, &str)> {
        let own = self
            .redirect_paths()
            .map(|p| (Route::Redirect, p))
            .chain([(Route::Logout, self.logout_path())])
            .chain(self.inner.login_path.as_deref().map(|p| (Route::Login, p)));
        let mut paths: Vec<(Route, &str)> = Vec::new();
        for (route, path) in own {
            for p in [path, self.app_relative(path)] {
                if !paths.contains(&(route, p)) {
                    paths.push((route, p));
                }
            }
        }
        paths
    }

    /// Which of the relying party's own routes `path` is, if any: `path` as the app receives
    /// it, with the app's path prefix or without it (stripped by a proxy or `Router::nest`).
    pub fn route(&self, path: &str) -> Option<Route> {
        if self.redirect_paths().any(|p| self.is_route(path, p)) {
            Some(Route::Redirect)
        } else if self.is_route(path, self.logout_path()) {
            Some(Route::Logout)
        } else if self
            .inner
            .login_path
            .as_deref()
            .is_some_and(|p| self.is_route(path, p))
        {
            Some(Route::Login)
        } else {
            None
        }
    }

    /// Handles a request to one of the relying party's own routes; `None` for any other path.
    pub async fn handle(&self, request: http::Request<Bytes>) -> Option<Response> {
        match self.route(request.uri().path())? {
            Route::Redirect => Some(self.handle_redirect(request).await),
            Route::Logout => {
                let (parts, body) = request.into_parts();
                Some(if parts.method == Method::POST {
                    self.confirm_logout(&parts, &body).await
                } else {
                    self.logout(&parts).await
                })
            }
            Route::Login => {
                let (parts, _) = request.into_parts();
                let mut next = None;
                let mut provider = None;
                for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
                    match k.as_ref() {
                        "next" => next = Some(v.into_owned()),
                        "provider" => provider = Some(v.into_owned()),
                        _ => {}
                    }
                }
                let next = next.unwrap_or_else(|| "/".to_owned());
                Some(self.login(&parts, provider.as_deref(), &next).await)
            }
        }
    }

    /// Whether every provider's metadata is known (discovery done). Tries discovery for those
    /// that are not; a provider that is down makes this `false` without failing.
    pub async fn ready(&self) -> bool {
        let mut all = true;
        for slot in &self.inner.providers {
            let ok = match self.metadata(slot).await {
                Ok(m) => self.client(slot, &m).await.is_ok(),
                Err(_) => false,
            };
            all &= ok;
        }
        all
    }

    /// The logged-in user of the request's session, whatever the provider, without starting a
    /// login.
    pub async fn session(&self, parts: &http::request::Parts) -> Option<Arc<UserSession>> {
        let id = self.inner.cookies.read(&parts.headers)?;
        let record = self.inner.store.load(&id).await.ok()??;
        record.authenticated_user(self.inner.clock.now()).cloned()
    }

    /// Protects a route: the user of the session if logged in with `provider` (the default
    /// provider when `None`); otherwise the response to return instead, which starts a login
    /// (a redirect) or, for API-style requests, is a `401`.
    pub async fn authenticate(
        &self,
        parts: &http::request::Parts,
        provider: Option<&str>,
    ) -> std::result::Result<Arc<UserSession>, Response> {
        let slot = self.slot(provider).map_err(|e| self.error_response(&e))?;
        self.refresh_if_due(parts).await?;
        let now = self.inner.clock.now();
        let id = self.inner.cookies.read(&parts.headers);
        let record = match &id {
            Some(id) => self
                .inner
                .store
                .load(id)
                .await
                .map_err(|e| self.error_response(&Error::Store(e)))?,
            None => None,
        };
        let api = is_api_request(parts);
        let mut silent = false;
        if let Some(user) = record.as_ref().and_then(|r| r.authenticated_user(now)) {
            if user.provider == slot.name {
                let due = slot
                    .config
                    .session_refresh_interval
                    .is_some_and(|i| user.needs_refresh(now, i.as_secs()));
                if !due || api {
                    return Ok(user.clone());
                }
                silent = true;
            }
        }
        if api {
            return Err(api_unauthorized(&self.realm()));
        }
        // The return path is relative to the app (the login's answer puts the prefix back),
        // whether or not the request still carries the prefix.
        let return_to = match parts.uri.query() {
            Some(q) => format!("{}?{q}", self.app_relative(parts.uri.path())),
            None => self.app_relative(parts.uri.path()).to_owned(),
        };
        let return_to = if safe_return_path(&return_to).is_ok() {
            return_to.as_str()
        } else {
            "/"
        };
        Err(self.start_login(slot, return_to, now, silent).await)
    }

    /// Starts a login explicitly (a "Log in" button), returning the user to `return_to`
    /// afterwards: a path on the app's origin, refused with the error view otherwise.
    pub async fn login(
        &self,
        _parts: &http::request::Parts,
        provider: Option<&str>,
        return_to: &str,
    ) -> Response {
        let slot = match self.slot(provider) {
            Ok(s) => s,
            Err(e) => return self.error_response(&e),
        };
        if let Err(e) = safe_return_path(return_to) {
            return self.error_response(&e);
        }
        let now = self.inner.clock.now();
        self.start_login(slot, return_to, now, false).await
    }

    /// Redirects to the provider, remembering the login in a login cookie of its own: starting
    /// a login writes nothing to the session store (an anonymous request costs no shared
    /// storage), and tabs do not overwrite each other's logins.
    async fn start_login(
        &self,
        slot: &ProviderSlot,
        return_to: &str,
        now: u64,
        silent: bool,
    ) -> Response {
        let metadata = match self.metadata(slot).await {
            Ok(m) => m,
            Err(e) => return self.error_response(&e),
        };
        let client = match self.client(slot, &metadata).await {
            Ok(c) => c,
            Err(e) => return self.error_response(&e),
        };
        let return_to = if return_to.len() > MAX_RETURN_PATH {
            "/"
        } else {
            return_to
        };
        let auth = match authentication_request(
            &slot.name,
            &slot.config,
            &client,
            &metadata,
            &slot.redirect_uri,
            return_to,
            if silent { &[("prompt", "none")] } else { &[] },
            now,
            self.inner.random.as_ref(),
        ) {
            Ok(a) => a,
            Err(e) => return self.error_response(&e),
        };
        let cookie = match self.inner.login_cookies.set(&auth.pending) {
            Ok(c) => c,
            Err(e) => return self.error_response(&e),
        };
        let mut resp = redirect(auth.url.as_str());
        resp.headers_mut().append(header::SET_COOKIE, cookie);
        resp
    }

    /// The redirect endpoint: validates the provider's response, finishes the login, rotates
    /// the session id and redirects to the page first asked for. Any failure goes to the error
    /// view and leaves no logged-in session behind.
    pub async fn handle_redirect(&self, request: http::Request<Bytes>) -> Response {
        // Login cookies to remove, whatever the outcome: the one spent, and any that are
        // expired, unreadable or beyond the cap.
        let mut clear = Vec::new();
        let mut resp = match self.try_redirect(request, &mut clear).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::warn!(error = %e, "login failed");
                self.error_response(&e)
            }
        };
        for c in clear {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
        resp
    }

    async fn try_redirect(
        &self,
        request: http::Request<Bytes>,
        clear: &mut Vec<HeaderValue>,
    ) -> Result<Response> {
        let now = self.inner.clock.now();
        let (parts, body) = request.into_parts();
        let params = if parts.method == Method::GET {
            let params = AuthorizationResponse::parse(parts.uri.query().unwrap_or("").as_bytes())?;
            if params.id_token.is_some() || params.access_token.is_some() {
                // Tokens in a query string end up in logs and Referer headers: refuse them.
                return Err(ProtocolError::MalformedResponse {
                    endpoint: Endpoint::Authorization,
                    reason: "tokens must not be sent in the query string".into(),
                }
                .into());
            }
            params
        } else if parts.method == Method::POST && is_form(&parts.headers) {
            AuthorizationResponse::parse(&body)?
        } else {
            return Err(ProtocolError::MalformedResponse {
                endpoint: Endpoint::Authorization,
                reason: "the redirect endpoint takes GET, or POST with a form body".into(),
            }
            .into());
        };
        let mut jar = self.inner.login_cookies.read(&parts.headers, now);
        for name in &jar.stale {
            clear.push(self.inner.login_cookies.clear(name, ResponseMode::Query));
        }
        if params.is_empty()
            && parts.method == Method::GET
            && jar
                .logins
                .iter()
                .any(|(_, p)| p.response_mode == ResponseMode::Fragment)
        {
            // The response is in the URL fragment, which only the browser sees.
            let pending: Vec<&PendingLogin> = jar.logins.iter().map(|(_, p)| p).collect();
            return Ok(self.fragment_page(&pending).await);
        }
        let state = params
            .state
            .as_deref()
            .ok_or(ProtocolError::MissingParameter("state"))?;
        let had_pending = !jar.logins.is_empty();
        let (name, pending) = match jar.take(state) {
            Some(found) => found,
            None if had_pending => return Err(ProtocolError::StateMismatch.into()),
            None => return Err(ProtocolError::UnsolicitedResponse(
                "no login in progress: it was completed, expired, or never started in this browser",
            )
            .into()),
        };
        // The login is spent whatever happens next: its cookie goes with this response, so
        // the browser cannot complete it twice (the code itself is single use at the provider).
        clear.push(self.inner.login_cookies.clear(&name, pending.response_mode));
        // The cookie is no single use on its own: concurrent requests carrying the same one
        // (a double submit, a replayed front-channel response) each decrypt it. The store's
        // atomic mark decides which one spends the login, before anything else is done.
        if !self
            .inner
            .store
            .mark_spent(
                &spent_state_key(state),
                Duration::from_secs(PENDING_LOGIN_TTL),
            )
            .await?
        {
            return Err(ProtocolError::UnsolicitedResponse(
                "this login was already completed by another request",
            )
            .into());
        }

        let slot = self.slot(Some(&pending.provider))?;
        // RFC 9700 4.4.2: the redirect URI a response arrives on names its provider. One that
        // came back on another provider's is a mix-up attempt; its login stays spent (its
        // `state` is in the attacker's hands), and the user starts again.
        if !self.is_route(parts.uri.path(), slot.redirect_uri.path())
            && self.inner.providers.len() > 1
        {
            return Err(ProtocolError::RedirectUriMismatch.into());
        }
        let metadata = self.metadata(slot).await?;
        if let Err(e) = params.check(&metadata) {
            if let Error::Provider(p) = &e {
                let interaction = matches!(
                    p.error.as_str(),
                    "login_required"
                        | "interaction_required"
                        | "consent_required"
                        | "account_selection_required"
                );
                if pending.silent && interaction {
                    // The provider needs the user: the silent refresh becomes a normal login.
                    tracing::info!(provider = %slot.name, "silent refresh needs interaction");
                    return Ok(self.start_login(slot, &pending.return_to, now, false).await);
                }
            }
            return Err(e);
        }
        // The missing-`iss` exemption for responses carrying an ID token holds only when this
        // flow validates that token; in `code` or `code token` it is never looked at.
        if params.iss.is_none()
            && metadata.authorization_response_iss_parameter_supported
            && !pending.response_type.has_front_id_token()
        {
            return Err(ProtocolError::MissingParameter("iss").into());
        }
        let client = self.client(slot, &metadata).await?;
        let keys = slot.key_cache().clone();
        let mut exchange = CodeExchange::new(ExchangeInput {
            provider: slot.name.clone(),
            config: slot.config.clone(),
            client,
            metadata,
            keys,
            pending,
            response: params,
            redirect_uri: slot.redirect_uri.clone(),
            now,
            session_lifetime: self.inner.session_lifetime,
        });
        let outcome = self.drive(slot, &mut exchange).await?;
        self.complete_login(&parts, outcome).await
    }

    /// The page that carries a fragment-encoded response to the server: a script copies the
    /// fragment into a form and submits it to this same URL (so any redirect path and prefix
    /// works), and the browser then shows the redirect endpoint's own answer. Nothing is loaded
    /// from elsewhere; the CSP allows only this script, by nonce.
    ///
    /// The form may go to the app, and to the authorization endpoint of the provider of each
    /// silent refresh pending here: when one answers `login_required`, the redirect endpoint
    /// answers the POST with a redirect there, and browsers apply `form-action` to the
    /// redirects of a form submission too.
    async fn fragment_page(&self, pending_logins: &[&PendingLogin]) -> Response {
        let mut form_action = String::from("'self'");
        let mut seen = Vec::new();
        for pending in pending_logins
            .iter()
            .filter(|p| p.silent && p.response_mode == ResponseMode::Fragment)
        {
            let Ok(slot) = self.slot(Some(&pending.provider)) else {
                continue;
            };
            let Ok(metadata) = self.metadata(slot).await else {
                continue;
            };
            let origin = metadata.authorization_endpoint.origin();
            if origin.is_tuple() && !seen.contains(&origin) {
                form_action.push(' ');
                form_action.push_str(&origin.ascii_serialization());
                seen.push(origin);
            }
        }
        let nonce = random_token(self.inner.random.as_ref(), 16);
        let body = format!(
            r#"<!doctype html><html><head><meta charset="utf-8"><title>Signing in</title></head><body>
<form id="f" method="post" action=""></form>
<p id="m">Signing you in&hellip;</p>
<noscript><p>This sign-in needs JavaScript to pass the provider's answer from the address bar to the site. Enable JavaScript and sign in again.</p></noscript>
<script nonce="{nonce}">
(function () {{
  var params = new URLSearchParams(window.location.hash.substring(1));
  var form = document.getElementById("f");
  var n = 0;
  params.forEach(function (value, key) {{
    var input = document.createElement("input");
    input.type = "hidden"; input.name = key; input.value = value;
    form.appendChild(input); n++;
  }});
  if (window.history && window.history.replaceState) {{
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }}
  if (n === 0) {{
    document.getElementById("m").textContent = "The provider sent no sign-in response. Please sign in again.";
    return;
  }}
  form.submit();
}})();
</script></body></html>"#
        );
        // The nonce is base64url and origins are ASCII-serialized: the header is always valid;
        // the fallback (no script at all) only keeps the page locked if that ever changed.
        let csp = HeaderValue::from_str(&format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
        ))
        .unwrap_or_else(|_| {
            HeaderValue::from_static(
                "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            )
        });
        let mut resp = crate::error_view::html_page(body, csp);
        resp.headers_mut().insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        resp
    }

    async fn complete_login(
        &self,
        parts: &http::request::Parts,
        outcome: LoginOutcome,
    ) -> Result<Response> {
        let user = Arc::new(outcome.user);
        // Rotate the session id: the id an attacker may have planted before login is worthless
        // after it. Logins pending in other tabs live in their own cookies and are unaffected.
        // A session holds one provider's user: a login with another replaces it, old record
        // deleted below, rather than keeping two identities under one id.
        let new_id = self.inner.cookies.new_id(self.inner.random.as_ref());
        let record = SessionRecord {
            user: Some(user.clone()),
            logout_state: None,
            expires_at: user.expires_at,
            ..SessionRecord::new(user.expires_at)
        };
        self.inner.store.save(&new_id, &record).await?;
        if let Some(old_id) = self.inner.cookies.read(&parts.headers) {
            if let Err(e) = self.inner.store.delete(&old_id).await {
                tracing::warn!(error = %e, "could not delete the pre-login session");
            }
        }
        let target = self.app_target(&outcome.return_to);
        let mut resp = redirect(&target);
        resp.headers_mut()
            .append(header::SET_COOKIE, self.inner.cookies.set(&new_id));
        tracing::info!(provider = %user.provider, "login completed");
        Ok(resp)
    }

    /// The return path resolved against the app's base URL (so that apps under a prefix work).
    fn app_target(&self, return_to: &str) -> String {
        match safe_return_path(return_to) {
            Ok(p) => {
                let prefix = self.inner.app_url.path().trim_end_matches('/');
                format!("{prefix}{p}")
            }
            Err(_) => self.inner.app_url.path().to_owned(),
        }
    }

    /// Logout, and the page the provider returns to afterwards (the same route), for `GET` and
    /// `HEAD`.
    ///
    /// With `state`: the return from the provider, accepted only when `state` matches the logout
    /// this browser started; it is a cross-site navigation, and only finishes that logout (it
    /// never ends a logged-in session). Without `state`: a request from another site
    /// (`Sec-Fetch-Site`, `Origin`, `Referer`) gets a confirmation page whose button posts to
    /// [`confirm_logout`](Self::confirm_logout), and nothing changes; any other request removes
    /// the local session first, then, when the provider has an `end_session_endpoint`,
    /// redirects there (RP-Initiated Logout 1.0) with `id_token_hint`,
    /// `post_logout_redirect_uri`, `state` and `client_id`.
    pub async fn logout(&self, parts: &http::request::Parts) -> Response {
        match self.try_logout(parts).await {
            Ok(r) => r,
            Err(e) => self.error_response(&e),
        }
    }

    /// The logout confirmation (`POST` to the logout route, a form body with `csrf_token`):
    /// logs out as [`logout`](Self::logout) does when the token is this session's and the
    /// request is not from another site; otherwise the error view, and the session stays.
    pub async fn confirm_logout(&self, parts: &http::request::Parts, body: &[u8]) -> Response {
        match self.try_confirm_logout(parts, body).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "logout confirmation refused");
                self.error_response(&e)
            }
        }
    }

    /// The app's own origins: where its pages (and its logout route) are served.
    fn own_origins(&self) -> [url::Origin; 2] {
        [
            self.inner.app_url.origin(),
            self.inner.post_logout_redirect_uri.origin(),
        ]
    }

    async fn try_confirm_logout(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<Response> {
        if logout::request_site(&parts.headers, &self.own_origins()).is_cross_site() {
            return Err(ProtocolError::CrossSiteRequest.into());
        }
        if !is_form(&parts.headers) {
            return Err(ProtocolError::InvalidCsrfToken.into());
        }
        let token = logout::csrf_token_from_form(body)?;
        let id = self
            .inner
            .cookies
            .read(&parts.headers)
            .filter(|id| self.inner.cookies.verify_csrf_token(id, &token))
            .ok_or(ProtocolError::InvalidCsrfToken)?;
        let record = self.inner.store.load(&id).await?;
        self.end_session(Some(id), record).await
    }

    async fn try_logout(&self, parts: &http::request::Parts) -> Result<Response> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return Err(ProtocolError::MethodNotAllowed("GET, or POST to confirm a logout").into());
        }
        let id = self.inner.cookies.read(&parts.headers);
        let record = match &id {
            Some(id) => self.inner.store.load(id).await?,
            None => None,
        };
        let returned_state = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned());
        if let Some(state) = returned_state {
            let expected = record.as_ref().and_then(|r| r.logout_state.as_ref());
            if !expected.is_some_and(|e| constant_time_eq(e.expose(), &state)) {
                return Err(ProtocolError::StateMismatch.into());
            }
            let (Some(id), Some(mut record)) = (id, record) else {
                return Err(ProtocolError::StateMismatch.into());
            };
            if record.user.is_some() {
                // Only the record of a logout in progress is finished here; a session that
                // logged in since is not this return's to end.
                record.logout_state = None;
                self.inner.store.save(&id, &record).await?;
                return Ok(redirect(self.inner.app_url.path()));
            }
            self.inner.store.delete(&id).await?;
            return Ok(self.logged_out_page(true));
        }
        if logout::request_site(&parts.headers, &self.own_origins()).is_cross_site() {
            let Some(id) = id else {
                // Nothing to log out, and no cookie to touch for another site.
                return Ok(self.logged_out_page(false));
            };
            let end_session = match record.as_ref().and_then(|r| r.user.as_ref()) {
                Some(user) => self.end_session_endpoint(&user.provider).await,
                None => None,
            };
            return Ok(logout::confirmation_page(
                self.logout_path(),
                self.inner.app_url.path(),
                &self.inner.cookies.csrf_token(&id),
                end_session.map(|(url, _)| url.origin()).as_ref(),
            ));
        }
        self.end_session(id, record).await
    }

    /// The provider's end-session endpoint and this client, when it has one and both are known.
    async fn end_session_endpoint(&self, provider: &str) -> Option<(Url, Arc<ClientMetadata>)> {
        let slot = self.slot(Some(provider)).ok()?;
        let m = self.metadata(slot).await.ok()?;
        let endpoint = m.end_session_endpoint.clone()?;
        let client = self.client(slot, &m).await.ok()?;
        Some((endpoint, client))
    }

    /// Ends the session `id`: the local session first (whatever happens at the provider, this
    /// app has forgotten the user), then RP-initiated logout when the provider offers it.
    async fn end_session(
        &self,
        id: Option<String>,
        record: Option<SessionRecord>,
    ) -> Result<Response> {
        let now = self.inner.clock.now();
        if let Some(id) = &id {
            self.inner.store.delete(id).await?;
        }
        let user = record.and_then(|r| r.user);
        let end_session = match &user {
            Some(u) => {
                self.slot(Some(&u.provider))?;
                self.end_session_endpoint(&u.provider).await
            }
            None => None,
        };
        let (Some(user), Some((mut url, client))) = (user, end_session) else {
            return Ok(self.logged_out_page(true));
        };
        let state = random_token(self.inner.random.as_ref(), 32);
        url.query_pairs_mut()
            .append_pair("id_token_hint", user.id_token_jwt())
            .append_pair(
                "post_logout_redirect_uri",
                self.inner.post_logout_redirect_uri.as_str(),
            )
            .append_pair("state", &state)
            .append_pair("client_id", &client.client_id);
        let record = SessionRecord {
            logout_state: Some(Secret::new(state)),
            ..SessionRecord::new(now + PENDING_LOGIN_TTL)
        };
        let new_id = self.inner.cookies.new_id(self.inner.random.as_ref());
        self.inner.store.save(&new_id, &record).await?;
        let mut resp = redirect(url.as_str());
        resp.headers_mut()
            .append(header::SET_COOKIE, self.inner.cookies.set(&new_id));
        Ok(resp)
    }

    /// The logged-out page; `clear` also removes the session cookie (never for a request from
    /// another site, which must not be able to log anyone out).
    fn logged_out_page(&self, clear: bool) -> Response {
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Logged out</title></head>\
             <body><h1>You have been logged out.</h1><p><a href=\"{}\">Log in again</a></p></body></html>",
            crate::error_view::escape_html(self.inner.app_url.path())
        );
        let mut resp = crate::error_view::html_page(
            body,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
        if clear {
            resp.headers_mut()
                .append(header::SET_COOKIE, self.inner.cookies.clear());
        }
        resp
    }

    fn slot(&self, name: Option<&str>) -> Result<&ProviderSlot> {
        match name {
            None => self.inner.providers.first(),
            Some(n) => self.inner.providers.iter().find(|p| p.name == n),
        }
        .ok_or_else(|| {
            Error::config(
                "provider",
                format!("no provider named `{}`", name.unwrap_or("")),
            )
        })
    }

    /// Sends one request to the provider through the transport, naming the endpoint in the
    /// error when the call fails.
    /// Runs a protocol exchange for `slot`, like [`crate::callback::drive`], with its JWKS
    /// requests serialised per provider: each is sent under the provider's key gate, and its
    /// outcome (a set or a failure) goes into the provider's cache before the gate opens. An
    /// exchange that waited at the gate while another request fetched gets that cache instead
    /// of sending its own request.
    async fn drive<E: Exchange>(&self, slot: &ProviderSlot, exchange: &mut E) -> E::Output {
        // Attempts the exchange's copy of the cache has seen (it was copied just before).
        let mut seen = slot.key_cache().attempts();
        let mut step = exchange.start();
        loop {
            step = match step {
                Step::Send(out) if out.endpoint == Endpoint::Jwks => {
                    let _gate = slot.key_gate.lock().await;
                    let newer = {
                        let cache = slot.key_cache();
                        (cache.attempts() > seen).then(|| cache.clone())
                    };
                    match newer {
                        Some(cache) => {
                            seen = cache.attempts();
                            exchange.resume_with_keys(cache)
                        }
                        None => {
                            let response = self.send_logged(out).await;
                            let next = exchange.resume(response);
                            let mut cache = slot.key_cache();
                            for fetch in exchange.take_key_fetches() {
                                cache.record(&fetch);
                            }
                            seen = cache.attempts();
                            next
                        }
                    }
                }
                Step::Send(out) => {
                    let response = self.send_logged(out).await;
                    exchange.resume(response)
                }
                Step::Done(result) => return result,
            };
        }
    }

    async fn send_logged(
        &self,
        out: crate::callback::Outbound,
    ) -> std::result::Result<http::Response<Bytes>, crate::error::TransportError> {
        let response = self.inner.transport.send(out.request).await;
        if let Err(e) = &response {
            tracing::warn!(endpoint = %out.endpoint, error = %e, "provider call failed");
        }
        response
    }

    /// The provider's keys for validating a token outside a sans-IO exchange (bearer tokens):
    /// the current set when `tried` is `None`, else a set newer than `tried`, which lacked the
    /// token's key. `Ok(None)`: no newer set, and the cache's policy allows no fetch yet.
    async fn provider_keys(
        &self,
        slot: &ProviderSlot,
        metadata: &ProviderMetadata,
        tried: Option<&Arc<JwkSet>>,
    ) -> Result<Option<Arc<JwkSet>>> {
        let decide = |cache: &KeyCache, now: u64| match tried {
            None => cache.current(now),
            Some(tried) => cache.after_unknown_kid(now, tried),
        };
        let now = self.inner.clock.now();
        let first = decide(&slot.key_cache(), now);
        let decision = match first {
            KeyDecision::Fetch => {
                let gate = slot.key_gate.lock().await;
                // Another request may have fetched while this one waited: decide again.
                let now = self.inner.clock.now();
                let again = decide(&slot.key_cache(), now);
                match again {
                    KeyDecision::Fetch => {
                        let uri = metadata.jwks_uri.as_ref().ok_or_else(|| {
                            Error::config(
                                "provider_metadata.jwks_uri",
                                "required to verify JWT access tokens",
                            )
                        })?;
                        let request = jwks::jwks_request(uri.as_str())?;
                        let response = self
                            .send_logged(crate::callback::Outbound {
                                endpoint: Endpoint::Jwks,
                                request,
                            })
                            .await;
                        let fetch = KeyFetch::from_response(now, response);
                        slot.key_cache().record(&fetch);
                        drop(gate);
                        return fetch.outcome.map(Some);
                    }
                    other => other,
                }
            }
            other => other,
        };
        match decision {
            KeyDecision::Use(set) => Ok(Some(set)),
            KeyDecision::Throttled | KeyDecision::Fetch => Ok(None),
            KeyDecision::RecentlyFailed(e) => Err(e),
        }
    }

    async fn call(
        &self,
        endpoint: Endpoint,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>> {
        self.inner
            .transport
            .send(request)
            .await
            .map_err(|source| Error::Transport { endpoint, source })
    }

    /// The provider's metadata, discovering it if needed (see [`ProviderState::plan_metadata`]).
    async fn metadata(&self, slot: &ProviderSlot) -> Result<Arc<ProviderMetadata>> {
        let now = self.inner.clock.now();
        let plan = slot.state().plan_metadata(&slot.config, now)?;
        let request = match plan {
            MetadataPlan::Use(m) => return Ok(m),
            MetadataPlan::Discover(request) => *request,
        };
        let answer = self.inner.transport.send(request).await;
        slot.state()
            .record_discovery(&slot.config, now, answer)
            .inspect_err(|e| tracing::warn!(provider = %slot.name, error = %e, "discovery failed"))
    }

    /// This client's registration at the provider (see [`ProviderState::plan_client`]).
    async fn client(
        &self,
        slot: &ProviderSlot,
        metadata: &ProviderMetadata,
    ) -> Result<Arc<ClientMetadata>> {
        let now = self.inner.clock.now();
        let plan = slot.state().plan_client(
            &slot.config,
            metadata,
            &slot.redirect_uri,
            &self.inner.post_logout_redirect_uri,
            now,
        )?;
        let request = match plan {
            ClientPlan::Use(c) => return Ok(c),
            ClientPlan::Register(request) => *request,
        };
        let answer = self.inner.transport.send(request).await;
        let client = slot
            .state()
            .record_registration(&slot.config, answer)
            .inspect_err(|e| {
                tracing::warn!(provider = %slot.name, error = %e, "client registration failed");
            })?;
        tracing::info!(
            provider = %slot.name,
            client_id = %crate::log_safe::log_safe(&client.client_id),
            "registered client"
        );
        Ok(client)
    }

    /// Renders an error through the configured error view.
    pub fn error_response(&self, error: &Error) -> Response {
        let info = ErrorInfo {
            status: error.status(),
            // The code and description can carry the provider's text: the view (the app's own,
            // maybe logging it) gets it escaped.
            error: crate::log_safe::log_safe(error.error_code()).to_string(),
            error_description: error.error_description(),
        };
        let mut resp = self.inner.error_view.render(&info);
        if !(resp.status().is_client_error() || resp.status().is_server_error()) {
            *resp.status_mut() = info.status;
        }
        resp
    }
}

fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// Requests that cannot follow a login redirect: anything but GET/HEAD, and clients that ask
/// for JSON and not HTML.
fn is_api_request(parts: &http::request::Parts) -> bool {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return true;
    }
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// The `401` for an API-style request that needs a logged-in session. RFC 9110 11.6.1 asks a
/// `401` for a challenge: `Session`, with the realm, names the only way in (a browser login),
/// so that a client does not retry with credentials this route would never accept.
fn api_unauthorized(realm: &str) -> Response {
    let mut r = http::Response::new(Bytes::from_static(
        br#"{"error":"login_required","error_description":"this request needs a logged-in session"}"#,
    ));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        crate::bearer::session_challenge(realm),
    );
    r
}

fn redirect(location: &str) -> Response {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::{common_path, spent_state_key};

    struct NoNet;

    impl crate::Transport for NoNet {
        fn send(
            &self,
            _: http::Request<bytes::Bytes>,
        ) -> crate::BoxFuture<'_, Result<http::Response<bytes::Bytes>, crate::TransportError>>
        {
            Box::pin(async { Err(crate::TransportError::Connect("offline".into())) })
        }
    }

    fn rp_at(app_url: &str) -> super::RelyingParty {
        let config = crate::ProviderConfig::discover("https://op.example")
            .client(crate::ClientMetadata::new("c", "s"))
            .build()
            .unwrap();
        super::RelyingParty::builder(app_url)
            .provider("default", config)
            .transport(std::sync::Arc::new(NoNet))
            .session_secret([7u8; 32])
            .build()
            .unwrap()
    }

    /// Paths relative to an app under `/app`: with the prefix (taken off once) or without it
    /// (a proxy stripped it), never a lookalike such as `/appx`; at the root, unchanged.
    #[test]
    fn paths_are_relative_to_the_app_prefix() {
        let rp = rp_at("https://example.com/app");
        assert_eq!(rp.base_path(), "/app/");
        assert_eq!(rp.app_relative("/app/x"), "/x");
        assert_eq!(rp.app_relative("/app/"), "/");
        assert_eq!(rp.app_relative("/app"), "/");
        assert_eq!(
            rp.app_relative("/app/app/x"),
            "/app/x",
            "the prefix goes once"
        );
        assert_eq!(rp.app_relative("/appx"), "/appx");
        assert_eq!(rp.app_relative("/x"), "/x");
        let root = rp_at("https://example.com");
        assert_eq!(root.app_relative("/app/x"), "/app/x");
    }

    /// The relying party's routes answer with the app's prefix and without it, and nowhere
    /// else; Rocket mounts both.
    #[test]
    fn routes_answer_with_and_without_the_prefix() {
        use super::Route;
        let rp = rp_at("https://example.com/app");
        assert_eq!(rp.route("/app/redirect_uri"), Some(Route::Redirect));
        assert_eq!(rp.route("/redirect_uri"), Some(Route::Redirect));
        assert_eq!(rp.route("/app/logout"), Some(Route::Logout));
        assert_eq!(rp.route("/logout"), Some(Route::Logout));
        assert_eq!(rp.route("/appredirect_uri"), None);
        assert_eq!(rp.route("/app/app/redirect_uri"), None);
        assert_eq!(
            rp.route_paths(),
            [
                (Route::Redirect, "/app/redirect_uri"),
                (Route::Redirect, "/redirect_uri"),
                (Route::Logout, "/app/logout"),
                (Route::Logout, "/logout"),
            ]
        );
        let root = rp_at("https://example.com");
        assert_eq!(
            root.route_paths(),
            [
                (Route::Redirect, "/redirect_uri"),
                (Route::Logout, "/logout")
            ]
        );
    }

    /// The spent mark names the `state` without holding it, and tells states apart.
    #[test]
    fn spent_state_key_is_a_hash() {
        let state = "f3QmV2x9b8ZkqYt7uW1sR4eN0aLcJhPd";
        let key = spent_state_key(state);
        assert!(!key.contains(state));
        assert_eq!(key.len(), 43, "SHA-256, base64url without padding");
        assert_eq!(key, spent_state_key(state));
        assert_ne!(key, spent_state_key("another state"));
    }

    /// The login cookie's path covers every provider's redirect endpoint, in whole segments.
    #[test]
    fn login_cookie_path_is_the_common_prefix() {
        assert_eq!(common_path(["/redirect_uri"].into_iter()), "/redirect_uri");
        assert_eq!(
            common_path(["/redirect_uri/a", "/redirect_uri/b"].into_iter()),
            "/redirect_uri"
        );
        assert_eq!(
            common_path(["/redirect_uri/a", "/cb/google"].into_iter()),
            "/"
        );
        assert_eq!(common_path(["/app/cb1", "/app/cb2"].into_iter()), "/app");
        assert_eq!(common_path(["/cb/"].into_iter()), "/cb");
    }
}
