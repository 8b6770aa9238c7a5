//! The relying party: the protocol state machines wired to a session store, a transport, a
//! clock and a source of randomness, all supplied by the caller. Adapters translate their
//! framework's request into an `http::Request`, call one method here, and translate the answer
//! back; nothing protocol-related lives in an adapter.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use url::Url;

use crate::callback::{AuthorizationResponse, CodeExchange, ExchangeInput, LoginOutcome};
use crate::config::{
    ClientRegistration, MetadataSource, ProviderConfig, ResponseMode, ResponseType,
};
use crate::cookies::SessionCookies;
use crate::discovery;
use crate::env::{random_token, Clock, OsRandom, Random, SystemClock, Transport};
use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::error_view::{ErrorInfo, ErrorView, HtmlErrorView};
use crate::jwks::JwkSet;
use crate::login::{authentication_request, safe_return_path};
use crate::login_cookie::LoginCookies;
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::registration;
use crate::secret::{constant_time_eq, Secret};
use crate::session::{SessionRecord, UserSession, PENDING_LOGIN_TTL};

/// A return path longer than this is replaced by the app's root: it travels in the login cookie,
/// which browsers cap at about 4 KiB.
const MAX_RETURN_PATH: usize = 1024;
use crate::store::{MemoryStore, SessionStore};

mod tokens;

/// A cached key set older than this is fetched again before use, so that a key the provider
/// withdrew stops being trusted.
const JWKS_MAX_AGE: u64 = 300;

/// The HTTP response type of the core.
pub type Response = http::Response<Bytes>;

/// One configured provider and what has been learnt about it.
struct ProviderSlot {
    name: String,
    config: ProviderConfig,
    /// The metadata and when it was fetched (static metadata: never refetched).
    metadata: RwLock<Option<(Arc<ProviderMetadata>, u64)>>,
    /// The registered client and when its secret expires.
    client: RwLock<Option<(Arc<ClientMetadata>, Option<u64>)>>,
    last_failure: Mutex<Option<(u64, String)>>,
    jwks: RwLock<Option<Arc<JwkSet>>>,
}

struct Inner {
    providers: Vec<ProviderSlot>,
    app_url: Url,
    redirect_uri: Url,
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
    pub fn provider(mut self, name: impl Into<String>, config: ProviderConfig) -> Self {
        self.providers.push((name.into(), config));
        self
    }

    /// The redirect URI, as a full URL (default: `<app url>/redirect_uri`). Set it when the app
    /// runs behind a TLS-terminating proxy or under a path prefix.
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

    /// The session cookie's name (default `oidc_session`).
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
        let login_cookies = LoginCookies::new(
            &self.cookie_name,
            &secret,
            app_url.scheme() == "https",
            redirect_uri.path(),
        )?;
        let cookies = SessionCookies::new(
            self.cookie_name,
            &secret,
            app_url.scheme() == "https",
            base.path().to_owned(),
            self.permanent.then_some(lifetime),
        )?;
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::with_clock(100_000, self.clock.clone())));
        let providers = self
            .providers
            .into_iter()
            .map(|(name, config)| {
                let metadata = match &config.source {
                    MetadataSource::Static(m) => Some((Arc::new((**m).clone()), u64::MAX)),
                    MetadataSource::Discovery { .. } => None,
                };
                let client = config.client().map(|c| (Arc::new(c.clone()), None));
                ProviderSlot {
                    name,
                    config,
                    metadata: RwLock::new(metadata),
                    client: RwLock::new(client),
                    last_failure: Mutex::new(None),
                    jwks: RwLock::new(None),
                }
            })
            .collect();
        Ok(RelyingParty {
            inner: Arc::new(Inner {
                providers,
                app_url: base,
                redirect_uri,
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

    /// The path of the redirect endpoint, for routing.
    pub fn redirect_path(&self) -> &str {
        self.inner.redirect_uri.path()
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

    /// Which of the relying party's own routes `path` is, if any.
    pub fn route(&self, path: &str) -> Option<Route> {
        if path == self.redirect_path() {
            Some(Route::Redirect)
        } else if path == self.logout_path() {
            Some(Route::Logout)
        } else if self.inner.login_path.as_deref() == Some(path) {
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
                let (parts, _) = request.into_parts();
                Some(self.logout(&parts).await)
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
            return Err(api_unauthorized());
        }
        let return_to = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .filter(|p| safe_return_path(p).is_ok())
            .unwrap_or("/");
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
            &self.inner.redirect_uri,
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
            return Ok(self.fragment_page());
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

        let slot = self.slot(Some(&pending.provider))?;
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
        let jwks = slot
            .jwks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|k| now.saturating_sub(k.fetched_at()) < JWKS_MAX_AGE);
        let mut exchange = CodeExchange::new(ExchangeInput {
            provider: slot.name.clone(),
            config: slot.config.clone(),
            client,
            metadata,
            jwks,
            pending,
            response: params,
            redirect_uri: self.inner.redirect_uri.clone(),
            now,
            session_lifetime: self.inner.session_lifetime,
        });
        let outcome = crate::callback::drive(&mut exchange, self.inner.transport.as_ref()).await?;
        if let Some(set) = &outcome.fetched_jwks {
            *slot.jwks.write().unwrap_or_else(|p| p.into_inner()) = Some(set.clone());
        }
        self.complete_login(&parts, outcome).await
    }

    /// The page that carries a fragment-encoded response to the server: a script copies the
    /// fragment into a form and submits it to this same URL (so any redirect path and prefix
    /// works), and the browser then shows the redirect endpoint's own answer. Nothing is loaded
    /// from elsewhere; the CSP allows only this script, by nonce.
    fn fragment_page(&self) -> Response {
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
        let mut resp = http::Response::new(Bytes::from(body));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        if let Ok(csp) = HeaderValue::from_str(&format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )) {
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
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

    /// Logout, and the page the provider returns to afterwards (the same route).
    ///
    /// Without a `state` parameter: removes the local session first, then, when the provider has
    /// an `end_session_endpoint`, redirects there (RP-Initiated Logout 1.0) with `id_token_hint`,
    /// `post_logout_redirect_uri`, `state` and `client_id`. With `state`: the return from the
    /// provider, accepted only when `state` matches the logout this browser started.
    pub async fn logout(&self, parts: &http::request::Parts) -> Response {
        match self.try_logout(parts).await {
            Ok(r) => r,
            Err(e) => self.error_response(&e),
        }
    }

    async fn try_logout(&self, parts: &http::request::Parts) -> Result<Response> {
        let now = self.inner.clock.now();
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
            if let Some(id) = &id {
                self.inner.store.delete(id).await?;
            }
            return Ok(self.logged_out_page());
        }
        // Local logout first: whatever happens at the provider, this app has forgotten the user.
        if let Some(id) = &id {
            self.inner.store.delete(id).await?;
        }
        let user = record.and_then(|r| r.user);
        let end_session = match &user {
            Some(u) => {
                let slot = self.slot(Some(&u.provider))?;
                match self.metadata(slot).await {
                    Ok(m) => match (m.end_session_endpoint.clone(), self.client(slot, &m).await) {
                        (Some(e), Ok(client)) => Some((e, client)),
                        _ => None,
                    },
                    Err(_) => None,
                }
            }
            None => None,
        };
        let (Some(user), Some((mut url, client))) = (user, end_session) else {
            return Ok(self.logged_out_page());
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

    fn logged_out_page(&self) -> Response {
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Logged out</title></head>\
             <body><h1>You have been logged out.</h1><p><a href=\"{}\">Log in again</a></p></body></html>",
            crate::error_view::escape_html(self.inner.app_url.path())
        );
        let mut resp = http::Response::new(Bytes::from(body));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.append(header::SET_COOKIE, self.inner.cookies.clear());
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

    /// The provider's metadata, discovering it if needed, and again once it is older than the
    /// configured maximum age. A failed discovery is retried after the configured wait; until
    /// then callers get the last error at once, or the cached copy when there is one (an outage
    /// of the provider does not stop logins that only need what is cached).
    async fn metadata(&self, slot: &ProviderSlot) -> Result<Arc<ProviderMetadata>> {
        let now = self.inner.clock.now();
        let cached = slot
            .metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((m, fetched_at)) = &cached {
            if now.saturating_sub(*fetched_at) < slot.config.metadata_max_age.as_secs() {
                return Ok(m.clone());
            }
        }
        let MetadataSource::Discovery { issuer } = &slot.config.source else {
            return cached
                .map(|(m, _)| m)
                .ok_or_else(|| Error::config("provider_metadata", "missing"));
        };
        let last_failure = slot
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some((at, reason)) = last_failure {
            if now < at + slot.config.discovery_retry.as_secs() {
                return match cached {
                    Some((m, _)) => Ok(m),
                    None => Err(Error::Transport {
                        endpoint: Endpoint::Discovery,
                        source: crate::error::TransportError::Other(format!(
                            "the provider is unavailable ({reason}); retrying shortly"
                        )),
                    }),
                };
            }
        }
        let result = async {
            let request = discovery::discovery_request(issuer)?;
            let response = self.call(Endpoint::Discovery, request).await?;
            discovery::parse_discovery_response(issuer, response)
        }
        .await;
        match result {
            Ok(m) => {
                let m = Arc::new(m);
                *slot.metadata.write().unwrap_or_else(|p| p.into_inner()) = Some((m.clone(), now));
                *slot.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(m)
            }
            Err(e) => {
                tracing::warn!(provider = %slot.name, error = %e, "discovery failed");
                *slot.last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((now, e.to_string()));
                match cached {
                    Some((m, _)) => Ok(m),
                    None => Err(e),
                }
            }
        }
    }

    /// This client's registration at the provider: the static one, or a dynamic registration
    /// made once and again only when its secret expires.
    async fn client(
        &self,
        slot: &ProviderSlot,
        metadata: &ProviderMetadata,
    ) -> Result<Arc<ClientMetadata>> {
        let now = self.inner.clock.now();
        if let Some((c, expires)) = slot
            .client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            if expires.is_none_or(|t| t > now) {
                return Ok(c);
            }
        }
        let ClientRegistration::Dynamic(info) = slot.config.registration() else {
            return Err(Error::config("client", "missing"));
        };
        let endpoint = metadata.registration_endpoint.as_ref().ok_or_else(|| {
            Error::config(
                "provider_metadata.registration_endpoint",
                "the provider offers no dynamic client registration",
            )
        })?;
        let mut info = (**info).clone();
        if info.redirect_uris.is_empty() {
            info.redirect_uris = vec![self.inner.redirect_uri.to_string()];
        }
        if info.post_logout_redirect_uris.is_empty() {
            info.post_logout_redirect_uris = vec![self.inner.post_logout_redirect_uri.to_string()];
        }
        let rt = slot.config.response_type;
        if info.response_types.is_empty() {
            info.response_types = vec![rt.as_str().to_owned()];
        }
        if info.grant_types.is_empty() {
            if rt.has_code() {
                // Refresh tokens come with codes; without the grant registered, providers
                // refuse to refresh.
                info.grant_types.push("authorization_code".into());
                info.grant_types.push("refresh_token".into());
            }
            if rt != ResponseType::Code {
                info.grant_types.push("implicit".into());
            }
        }
        let request = registration::registration_request(endpoint.as_str(), &info)?;
        let response = self.call(Endpoint::Registration, request).await?;
        let registered = registration::parse_registration_response(response).inspect_err(|e| {
            tracing::warn!(provider = %slot.name, error = %e, "client registration failed");
        })?;
        tracing::info!(provider = %slot.name, client_id = %registered.client.client_id, "registered client");
        let client = Arc::new(registered.client);
        *slot.client.write().unwrap_or_else(|p| p.into_inner()) =
            Some((client.clone(), registered.secret_expires_at));
        Ok(client)
    }

    /// Renders an error through the configured error view.
    pub fn error_response(&self, error: &Error) -> Response {
        let info = ErrorInfo {
            status: error.status(),
            error: error.error_code().to_owned(),
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

fn api_unauthorized() -> Response {
    let mut r = http::Response::new(Bytes::from_static(
        br#"{"error":"login_required","error_description":"this request needs a logged-in session"}"#,
    ));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
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
