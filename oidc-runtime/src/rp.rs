//! The async relying party: [`oidc_core::RelyingParty`] with a transport, a session store, a
//! clock and randomness, whose every method starts a flow of the core and drives it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use oidc_core::{
    BearerRequirements, BearerValidation, Context, Error, ErrorView, Flow, LoginParams, Principal,
    ProviderConfig, Response, Route, Secret, TokenIdentity, UserSession,
};
use tokio::sync::Notify;

/// The span of one operation: its name, the provider when known, and the `outcome` and
/// `duration_ms` that [`drive_traced`] records at the end (see the crate docs,
/// "Observability").
macro_rules! op_span {
    ($name:literal, $provider:expr) => {
        tracing::info_span!(
            $name,
            provider = $provider,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        )
    };
}

use crate::driver::{drive, drive_traced, FlowGuard, Outcome, Shared};
use crate::{Clock, MemoryStore, OsRandom, Random, SessionStore, SystemClock, Transport};

/// The relying party, for apps on tokio: the adapters (`oidc-axum`, `oidc-rocket`,
/// `oidc-warp`) take it, and so can an app's own handlers. Cheap to clone; share one per app:
/// clones share the provider state and the coordination of concurrent requests.
///
/// Each async method is the [`oidc_core::RelyingParty`] method of the same name, driven over
/// the transport and the session store (see [the driver loop](crate#the-driver-loop)).
///
/// ```
/// # use std::sync::Arc;
/// use oidc_runtime::{ClientMetadata, ProviderConfig, RelyingParty};
/// # struct NoNet;
/// # impl oidc_runtime::Transport for NoNet {
/// #     fn send(&self, _: http::Request<bytes::Bytes>) -> oidc_runtime::BoxFuture<'_, Result<http::Response<bytes::Bytes>, oidc_runtime::TransportError>> {
/// #         Box::pin(async { Err(oidc_runtime::TransportError::Connect("offline".into())) })
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
///     .build()?;
/// assert_eq!(rp.redirect_path(), "/redirect_uri");
/// # Ok::<(), oidc_runtime::Error>(())
/// ```
#[derive(Clone)]
pub struct RelyingParty {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("core", &self.shared.core)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RelyingParty`]: the [`oidc_core::RelyingPartyBuilder`] settings, plus what the
/// runtime drives flows with (a transport, required; a session store, a clock and a source of
/// randomness, with defaults).
#[must_use]
pub struct RelyingPartyBuilder {
    core: oidc_core::RelyingPartyBuilder,
    transport: Option<Arc<dyn Transport>>,
    store: Option<Arc<dyn SessionStore>>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
}

impl std::fmt::Debug for RelyingPartyBuilder {
    // Not the core builder: it holds the session secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingPartyBuilder")
            .field("transport", &self.transport.is_some())
            .field("session_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl RelyingPartyBuilder {
    fn forward(
        mut self,
        f: impl FnOnce(oidc_core::RelyingPartyBuilder) -> oidc_core::RelyingPartyBuilder,
    ) -> Self {
        self.core = f(self.core);
        self
    }

    /// Adds a provider under a name; the first one added is the default. See
    /// [`oidc_core::RelyingPartyBuilder::provider`].
    pub fn provider(self, name: impl Into<String>, config: ProviderConfig) -> Self {
        self.forward(|b| b.provider(name, config))
    }

    /// The redirect URI, as a full URL (default: `<app url>/redirect_uri`). See
    /// [`oidc_core::RelyingPartyBuilder::redirect_uri`].
    pub fn redirect_uri(self, url: impl Into<String>) -> Self {
        self.forward(|b| b.redirect_uri(url))
    }

    /// Where the provider sends the user after logout (default: `<app url>/logout`). See
    /// [`oidc_core::RelyingPartyBuilder::post_logout_redirect_uri`].
    pub fn post_logout_redirect_uri(self, url: impl Into<String>) -> Self {
        self.forward(|b| b.post_logout_redirect_uri(url))
    }

    /// Serves a login route at this path (off by default). See
    /// [`oidc_core::RelyingPartyBuilder::login_path`].
    pub fn login_path(self, path: impl Into<String>) -> Self {
        self.forward(|b| b.login_path(path))
    }

    /// Where the app's public JWKS is served when a provider has a private key (default:
    /// `<app url>/jwks.json`). See [`oidc_core::RelyingPartyBuilder::jwks_path`].
    pub fn jwks_path(self, path: impl Into<String>) -> Self {
        self.forward(|b| b.jwks_path(path))
    }

    /// Where the provider posts logout tokens (default `<app url>/backchannel_logout`). See
    /// [`oidc_core::RelyingPartyBuilder::backchannel_logout_path`].
    pub fn backchannel_logout_path(self, path: impl Into<String>) -> Self {
        self.forward(|b| b.backchannel_logout_path(path))
    }

    /// Serves no back-channel logout route. See
    /// [`oidc_core::RelyingPartyBuilder::without_backchannel_logout`].
    pub fn without_backchannel_logout(self) -> Self {
        self.forward(|b| b.without_backchannel_logout())
    }

    /// Serves front-channel logout at this path (off by default). See
    /// [`oidc_core::RelyingPartyBuilder::frontchannel_logout_path`].
    pub fn frontchannel_logout_path(self, path: impl Into<String>) -> Self {
        self.forward(|b| b.frontchannel_logout_path(path))
    }

    /// The key that signs session cookies, at least 32 bytes; instances that share sessions
    /// share it. Default here: a random key (sessions do not survive a restart). See
    /// [`oidc_core::RelyingPartyBuilder::session_secret`].
    pub fn session_secret(self, secret: impl AsRef<[u8]>) -> Self {
        self.forward(|b| b.session_secret(secret))
    }

    /// Secrets the session secret replaced, still accepted for what they signed. See
    /// [`oidc_core::RelyingPartyBuilder::previous_session_secrets`].
    pub fn previous_session_secrets<S: AsRef<[u8]>>(
        self,
        secrets: impl IntoIterator<Item = S>,
    ) -> Self {
        self.forward(|b| b.previous_session_secrets(secrets))
    }

    /// Whether a session secret was set. See
    /// [`oidc_core::RelyingPartyBuilder::has_session_secret`].
    pub fn has_session_secret(&self) -> bool {
        self.core.has_session_secret()
    }

    /// The session cookie's name (default `oidc_session`). See
    /// [`oidc_core::RelyingPartyBuilder::cookie_name`].
    pub fn cookie_name(self, name: impl Into<String>) -> Self {
        self.forward(|b| b.cookie_name(name))
    }

    /// The error view (default: [`HtmlErrorView`](oidc_core::HtmlErrorView)). See
    /// [`oidc_core::RelyingPartyBuilder::error_view`].
    pub fn error_view(self, view: impl ErrorView) -> Self {
        self.forward(|b| b.error_view(view))
    }

    /// How long a login lasts (default 7 days). See
    /// [`oidc_core::RelyingPartyBuilder::session_lifetime`].
    pub fn session_lifetime(self, lifetime: Duration) -> Self {
        self.forward(|b| b.session_lifetime(lifetime))
    }

    /// Permanent sessions (the default) or browser sessions. See
    /// [`oidc_core::RelyingPartyBuilder::permanent_sessions`].
    pub fn permanent_sessions(self, permanent: bool) -> Self {
        self.forward(|b| b.permanent_sessions(permanent))
    }

    /// How long before they expire access tokens are refreshed (default 30 s). See
    /// [`oidc_core::RelyingPartyBuilder::access_token_refresh_margin`].
    pub fn access_token_refresh_margin(self, margin: Duration) -> Self {
        self.forward(|b| b.access_token_refresh_margin(margin))
    }

    /// Refresh a due access token on every protected request (default off). See
    /// [`oidc_core::RelyingPartyBuilder::auto_refresh_access_tokens`].
    pub fn auto_refresh_access_tokens(self, on: bool) -> Self {
        self.forward(|b| b.auto_refresh_access_tokens(on))
    }

    /// How bearer tokens are validated (default: introspection). See
    /// [`oidc_core::RelyingPartyBuilder::bearer_validation`].
    pub fn bearer_validation(self, validation: BearerValidation) -> Self {
        self.forward(|b| b.bearer_validation(validation))
    }

    /// Issue 18 (D): accepts DPoP-bound access tokens (RFC 9449) at bearer-protected routes.
    /// See [`oidc_core::RelyingPartyBuilder::bearer_accept_dpop`].
    pub fn bearer_accept_dpop(self, on: bool) -> Self {
        self.forward(|b| b.bearer_accept_dpop(on))
    }

    /// The audience bearer tokens must carry (default: the app's base URL). See
    /// [`oidc_core::RelyingPartyBuilder::bearer_audience`].
    pub fn bearer_audience(self, audience: impl Into<String>) -> Self {
        self.forward(|b| b.bearer_audience(audience))
    }

    /// Opts out of the audience check for introspected tokens. See
    /// [`oidc_core::RelyingPartyBuilder::skip_introspection_audience_check`].
    pub fn skip_introspection_audience_check(self) -> Self {
        self.forward(|b| b.skip_introspection_audience_check())
    }

    /// Scopes every bearer token must carry (routes can require more). See
    /// [`oidc_core::RelyingPartyBuilder::bearer_scopes`].
    pub fn bearer_scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.forward(|b| b.bearer_scopes(scopes))
    }

    /// How long and for how many tokens introspection results are cached (default 30 s, 10
    /// 000). See [`oidc_core::RelyingPartyBuilder::introspection_cache`].
    pub fn introspection_cache(self, ttl: Duration, capacity: usize) -> Self {
        self.forward(|b| b.introspection_cache(ttl, capacity))
    }

    /// The HTTP transport (required): [`default_transport`](crate::default_transport), or a
    /// [`ReqwestTransport`](crate::ReqwestTransport) of your settings.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The session store (default: a bounded [`MemoryStore`], on this builder's clock).
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The source of randomness (default: the OS CSPRNG). Each flow starts with 32 fresh
    /// bytes of it.
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// Validates the configuration and builds the relying party. Fails with
    /// [`Error::Config`] for what [`oidc_core::RelyingPartyBuilder::build`] refuses, and when
    /// there is no transport.
    pub fn build(self) -> oidc_core::Result<RelyingParty> {
        let mut core = self.core;
        if !core.has_session_secret() {
            let mut secret = [0u8; 32];
            self.random.fill(&mut secret);
            core = core.session_secret(secret);
        }
        let core = core.build()?;
        let transport = self.transport.ok_or_else(|| Error::Config {
            field: "transport",
            reason: "an HTTP transport is required".into(),
        })?;
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::with_clock(100_000, self.clock.clone())));
        Ok(RelyingParty {
            shared: Arc::new(Shared {
                core,
                transport,
                store,
                clock: self.clock,
                random: self.random,
                progress: Notify::new(),
            }),
        })
    }
}

impl RelyingParty {
    /// Starts building a relying party for the app served at `app_url` (its public base URL).
    pub fn builder(app_url: impl Into<String>) -> RelyingPartyBuilder {
        RelyingPartyBuilder {
            core: oidc_core::RelyingParty::builder(app_url),
            transport: None,
            store: None,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
        }
    }

    /// The sans-IO relying party this one drives: for flows an app drives itself, and for
    /// what is not repeated here.
    pub fn core(&self) -> &oidc_core::RelyingParty {
        &self.shared.core
    }

    /// The time and fresh randomness a flow starts with.
    fn context(&self) -> Context {
        let mut entropy = [0u8; 32];
        self.shared.random.fill(&mut entropy);
        Context::new(self.shared.clock.now(), entropy)
    }

    // Not `async fn`s: the flow goes into its guard (on the heap) before any future holds it,
    // so the caller's future keeps a pointer, not a copy of the flow.
    fn drive<T: Send + 'static>(&self, flow: Flow<T>) -> impl Future<Output = T> + Send {
        drive(FlowGuard::new(self.shared.clone(), flow))
    }

    fn drive_in<T: Send + 'static + Outcome>(
        &self,
        flow: Flow<T>,
        span: tracing::Span,
    ) -> impl Future<Output = T> + Send {
        drive_traced(FlowGuard::new(self.shared.clone(), flow), span)
    }

    /// The configured name of the provider asked for (the default when `None`): only a
    /// configured name goes into a span, never a name from the request.
    fn provider_name(&self, asked: Option<&str>) -> Option<&str> {
        let mut names = self.shared.core.provider_names();
        match asked {
            None => names.next(),
            Some(asked) => names.find(|name| *name == asked),
        }
    }

    /// The provider whose redirect endpoint is `path`, when only one has it (providers that
    /// share one are told apart by the login's state, which the span does not read).
    fn provider_of_redirect(&self, path: &str) -> Option<&str> {
        let mut matching = self
            .shared
            .core
            .provider_names()
            .zip(self.shared.core.redirect_paths())
            .filter(|(_, redirect)| *redirect == path)
            .map(|(name, _)| name);
        match (matching.next(), matching.next()) {
            (Some(name), None) => Some(name),
            _ => None,
        }
    }

    /// The path of the redirect endpoint, for routing (the default provider's when there are
    /// several). See [`oidc_core::RelyingParty::redirect_path`].
    pub fn redirect_path(&self) -> &str {
        self.shared.core.redirect_path()
    }

    /// The paths of every provider's redirect endpoint, the default provider's first. See
    /// [`oidc_core::RelyingParty::redirect_paths`].
    pub fn redirect_paths(&self) -> impl Iterator<Item = &str> {
        self.shared.core.redirect_paths()
    }

    /// The redirect URI of the provider `name` (the default provider when `None`): the URL to
    /// register at that provider. See [`oidc_core::RelyingParty::redirect_uri`].
    pub fn redirect_uri(&self, provider: Option<&str>) -> Option<&str> {
        self.shared.core.redirect_uri(provider)
    }

    /// The path of the logout route, for routing. See
    /// [`oidc_core::RelyingParty::logout_path`].
    pub fn logout_path(&self) -> &str {
        self.shared.core.logout_path()
    }

    /// The path of the login route, when one is configured
    /// ([`RelyingPartyBuilder::login_path`]). See [`oidc_core::RelyingParty::login_path`].
    pub fn login_path(&self) -> Option<&str> {
        self.shared.core.login_path()
    }

    /// The path of the back-channel logout route, when served. See
    /// [`oidc_core::RelyingParty::backchannel_logout_path`].
    pub fn backchannel_logout_path(&self) -> Option<&str> {
        self.shared.core.backchannel_logout_path()
    }

    /// The path of the front-channel logout route, when served. See
    /// [`oidc_core::RelyingParty::frontchannel_logout_path`].
    pub fn frontchannel_logout_path(&self) -> Option<&str> {
        self.shared.core.frontchannel_logout_path()
    }

    /// The path of the app's public JWKS route, when a provider has a private key. See
    /// [`oidc_core::RelyingParty::jwks_path`].
    pub fn jwks_path(&self) -> Option<&str> {
        self.shared.core.jwks_path()
    }

    /// The URL of the app's public JWKS, when a provider has a private key: the `jwks_uri` to
    /// register at a provider. See [`oidc_core::RelyingParty::jwks_uri`].
    pub fn jwks_uri(&self) -> Option<&str> {
        self.shared.core.jwks_uri()
    }

    /// The configured provider names, the default first. See
    /// [`oidc_core::RelyingParty::provider_names`].
    pub fn provider_names(&self) -> impl Iterator<Item = &str> {
        self.shared.core.provider_names()
    }

    /// The path the app is served under (`/` at the root, `/app/` for
    /// `https://example.com/app`). See [`oidc_core::RelyingParty::base_path`].
    pub fn base_path(&self) -> &str {
        self.shared.core.base_path()
    }

    /// Every path on which [`route`](Self::route) finds one of the relying party's own
    /// routes, with and without the app's path prefix, for frameworks that route by path. See
    /// [`oidc_core::RelyingParty::route_paths`].
    pub fn route_paths(&self) -> Vec<(Route, &str)> {
        self.shared.core.route_paths()
    }

    /// Which of the relying party's own routes `path` is, if any (with or without the app's
    /// path prefix). See [`oidc_core::RelyingParty::route`].
    pub fn route(&self, path: &str) -> Option<Route> {
        self.shared.core.route(path)
    }

    /// Renders an error through the configured error view.
    pub fn error_response(&self, error: &Error) -> Response {
        self.shared.core.error_response(error)
    }

    /// Handles a request to one of the relying party's own routes (the redirect endpoint,
    /// logout and its confirmation, the login route); `None` for any other path. See
    /// [`oidc_core::RelyingParty::handle`].
    pub async fn handle(&self, request: http::Request<Bytes>) -> Option<Response> {
        let route = self.shared.core.route(request.uri().path());
        let span = match route {
            Some(Route::Redirect) => {
                op_span!(
                    "oidc.callback",
                    self.provider_of_redirect(request.uri().path())
                )
            }
            Some(Route::Logout) => op_span!("oidc.logout", None::<&str>),
            Some(Route::Login) => op_span!("oidc.login", None::<&str>),
            Some(Route::BackchannelLogout) => op_span!("oidc.backchannel_logout", None::<&str>),
            Some(Route::FrontchannelLogout) => {
                op_span!("oidc.frontchannel_logout", None::<&str>)
            }
            // Serving the app's public keys is no operation of the protocol worth a span.
            _ => tracing::Span::none(),
        };
        let flow = self.shared.core.handle(request, self.context())?;
        Some(self.drive_in(flow, span).await)
    }

    /// The redirect endpoint: validates the provider's response, finishes the login, rotates
    /// the session id and redirects to the page first asked for. Any failure goes to the error
    /// view and leaves no logged-in session behind. See
    /// [`oidc_core::RelyingParty::handle_redirect`].
    pub async fn handle_redirect(&self, request: http::Request<Bytes>) -> Response {
        let span = op_span!(
            "oidc.callback",
            self.provider_of_redirect(request.uri().path())
        );
        let flow = self.shared.core.handle_redirect(request, self.context());
        self.drive_in(flow, span).await
    }

    /// Starts a login explicitly (a "Log in" button), returning the user to `return_to`
    /// afterwards: a path on the app's origin, refused with the error view otherwise. See
    /// [`oidc_core::RelyingParty::login`].
    pub async fn login(&self, parts: &Parts, provider: Option<&str>, return_to: &str) -> Response {
        let flow = self
            .shared
            .core
            .login(parts, provider, return_to, self.context());
        self.drive_in(flow, op_span!("oidc.login", self.provider_name(provider)))
            .await
    }

    /// Starts a login as [`login`](Self::login) does, with parameters for this login (a
    /// `login_hint`, `acr_values`, `prompt`...). See [`oidc_core::RelyingParty::login_with`].
    pub async fn login_with(
        &self,
        parts: &Parts,
        provider: Option<&str>,
        return_to: &str,
        params: &LoginParams,
    ) -> Response {
        let flow = self
            .shared
            .core
            .login_with(parts, provider, return_to, params, self.context());
        self.drive_in(flow, op_span!("oidc.login", self.provider_name(provider)))
            .await
    }

    /// Logout, and the page the provider returns to afterwards (the same route), for `GET` and
    /// `HEAD`.
    ///
    /// With `state`: the return from the provider, accepted only when `state` matches the
    /// logout this browser started; it only finishes that logout (it never ends a logged-in
    /// session). Without `state`: a request from another site (`Sec-Fetch-Site`, `Origin`,
    /// `Referer`) gets a confirmation page whose button posts to
    /// [`confirm_logout`](Self::confirm_logout), and nothing changes; any other request
    /// removes the local session first, then, when the provider has an
    /// `end_session_endpoint`, redirects there (RP-Initiated Logout 1.0). See
    /// [`oidc_core::RelyingParty::logout`].
    pub async fn logout(&self, parts: &Parts) -> Response {
        let flow = self.shared.core.logout(parts, self.context());
        self.drive_in(flow, op_span!("oidc.logout", None::<&str>))
            .await
    }

    /// The logout confirmation (`POST` to the logout route, a form body with `csrf_token`):
    /// logs out as [`logout`](Self::logout) does when the token is this session's and the
    /// request is not from another site; otherwise the error view, and the session stays. See
    /// [`oidc_core::RelyingParty::confirm_logout`].
    pub async fn confirm_logout(&self, parts: &Parts, body: &[u8]) -> Response {
        let flow = self.shared.core.confirm_logout(parts, body, self.context());
        self.drive_in(flow, op_span!("oidc.logout", None::<&str>))
            .await
    }

    /// Whether every provider's metadata is known (discovery done) and its client registered.
    /// Tries discovery for those that are not; a provider that is down makes this `false`
    /// without failing. See [`oidc_core::RelyingParty::ready`].
    pub async fn ready(&self) -> bool {
        let flow = self.shared.core.ready(self.context());
        self.drive(flow).await
    }

    /// The logged-in user of the request's session, whatever the provider, without starting a
    /// login. See [`oidc_core::RelyingParty::session`].
    pub async fn session(&self, parts: &Parts) -> Option<Arc<UserSession>> {
        let flow = self.shared.core.session(parts, self.context());
        self.drive(flow).await
    }

    /// Protects a route: the user of the session if logged in with `provider` (the default
    /// provider when `None`); otherwise the response to return instead, which starts a login
    /// (a redirect) or, for API-style requests, is a `401`. See
    /// [`oidc_core::RelyingParty::authenticate`].
    pub async fn authenticate(
        &self,
        parts: &Parts,
        provider: Option<&str>,
    ) -> Result<Arc<UserSession>, Response> {
        if let Some(user) = self.served(parts, provider, None).await {
            return Ok(user);
        }
        let flow = self
            .shared
            .core
            .authenticate(parts, provider, self.context());
        self.drive(flow).await
    }

    /// The logged-in user a protected request is served, found without a flow when the core
    /// can decide it from the session record alone
    /// ([`oidc_core::RelyingParty::session_lookup`]); `None` sends the request through the
    /// flow, which decides everything else (and reads the store again). A store error is left
    /// to the flow too, so that it is answered in one place.
    async fn served(
        &self,
        parts: &Parts,
        provider: Option<&str>,
        params: Option<&LoginParams>,
    ) -> Option<Arc<UserSession>> {
        let core = &self.shared.core;
        let lookup = core.session_lookup(parts, provider, params)?;
        let record = self.shared.store.load(lookup.id()).await.ok()??;
        lookup.user(core, Some(&record), self.shared.clock.now())
    }

    /// Protects a route as [`authenticate`](Self::authenticate) does, with this route's login
    /// parameters: a login it starts sends them, and a session without the `acr` or as recent
    /// an authentication as they ask logs in again (step-up authentication). See
    /// [`oidc_core::RelyingParty::authenticate_with`].
    pub async fn authenticate_with(
        &self,
        parts: &Parts,
        provider: Option<&str>,
        params: &LoginParams,
    ) -> Result<Arc<UserSession>, Response> {
        if let Some(user) = self.served(parts, provider, Some(params)).await {
            return Ok(user);
        }
        let flow = self
            .shared
            .core
            .authenticate_with(parts, provider, params, self.context());
        self.drive(flow).await
    }

    /// A valid access token for the request's session: the stored one while it is valid
    /// (beyond the refresh margin), else a new one from the refresh token; `force_refresh`
    /// refreshes regardless. The refreshed tokens (and a new ID token, validated) are saved in
    /// the session.
    ///
    /// Errors: [`Error::LoginRequired`] without a logged-in session, or when the token has
    /// expired and there is no refresh token; [`Error::Provider`] with `invalid_grant` when the
    /// provider refuses the refresh token, which also ends the session (the next protected
    /// request logs in again); [`Error::Transport`] when the provider cannot be reached, with
    /// the session left as it was. Concurrent requests of one session share one refresh, and
    /// a refresh that was sent is saved even when every request waiting on it went away. See
    /// [`oidc_core::RelyingParty::valid_access_token`].
    pub async fn valid_access_token(
        &self,
        parts: &Parts,
        force_refresh: bool,
    ) -> oidc_core::Result<Secret> {
        let flow = self
            .shared
            .core
            .valid_access_token(parts, force_refresh, self.context());
        self.drive_in(flow, op_span!("oidc.refresh", None::<&str>))
            .await
    }

    /// [`valid_access_token`](Self::valid_access_token) for a protected route: when the user
    /// must log in (again), the response starts the login (a `401` for API-style requests);
    /// any other failure is rendered by the error view. See
    /// [`oidc_core::RelyingParty::require_access_token`].
    pub async fn require_access_token(
        &self,
        parts: &Parts,
        force_refresh: bool,
    ) -> Result<Secret, Response> {
        let flow = self
            .shared
            .core
            .require_access_token(parts, force_refresh, self.context());
        self.drive_in(flow, op_span!("oidc.refresh", None::<&str>))
            .await
    }

    /// Protects an API route with a bearer token (RFC 6750): reads `Authorization: Bearer`,
    /// validates the token by introspection or as a JWT access token (per `requirements`, else
    /// the builder's settings), and checks the required scopes (the builder's and
    /// `requirements`'). The refusal is the response to send: `401` with a `WWW-Authenticate`
    /// challenge for a missing or invalid token, `403` `insufficient_scope`, `400` for a
    /// malformed request, `502`/`500` (JSON) when the provider or the configuration fails. See
    /// [`oidc_core::RelyingParty::authorize_bearer`].
    pub async fn authorize_bearer(
        &self,
        parts: &Parts,
        requirements: &BearerRequirements,
    ) -> Result<TokenIdentity, Response> {
        let flow = self
            .shared
            .core
            .authorize_bearer(parts, requirements, self.context());
        self.drive_in(flow, op_span!("oidc.bearer", None::<&str>))
            .await
    }

    /// Protects a route for browsers and API clients alike (Flask-pyoidc's `access_control`):
    /// a request with an `Authorization` header is judged by its bearer token alone, as
    /// [`authorize_bearer`](Self::authorize_bearer) does (a bad token is `401`/`403`, never a
    /// login redirect); a request without one needs a logged-in session, as
    /// [`authenticate`](Self::authenticate) does (a login redirect, or `401` for API-style
    /// requests, which then also carries the bearer challenge). `requirements` name the
    /// provider for both, and the scopes for tokens. See
    /// [`oidc_core::RelyingParty::session_or_bearer`].
    pub async fn session_or_bearer(
        &self,
        parts: &Parts,
        requirements: &BearerRequirements,
    ) -> Result<Principal, Response> {
        let flow = self
            .shared
            .core
            .session_or_bearer(parts, requirements, self.context());
        // Judged by the token alone when there is one: then it is a bearer check.
        if parts.headers.contains_key(http::header::AUTHORIZATION) {
            self.drive_in(flow, op_span!("oidc.bearer", None::<&str>))
                .await
        } else {
            self.drive(flow).await
        }
    }

    /// An access token for the app itself (the client credentials grant) from `provider` (the
    /// default one when `None`), for `scopes` and with `extra` token request parameters (such
    /// as `audience`). Tokens are cached per provider, scopes and parameters until the refresh
    /// margin before they expire. See [`oidc_core::RelyingParty::client_credentials_token`].
    pub async fn client_credentials_token(
        &self,
        provider: Option<&str>,
        scopes: &[&str],
        extra: &[(&str, &str)],
    ) -> oidc_core::Result<Secret> {
        let flow =
            self.shared
                .core
                .client_credentials_token(provider, scopes, extra, self.context());
        self.drive(flow).await
    }
}

/// A login to start from a handler, with parameters chosen for this request (a "log in as"
/// link with a `login_hint`, a step-up with `acr_values`, a `prompt=login`): what each
/// adapter's `Login` extractor, guard or filter holds. The protocol's own parameters cannot be
/// set (the error view answers).
#[derive(Clone)]
pub struct Login {
    rp: RelyingParty,
    parts: Parts,
}

// Not the request's headers: they carry the session cookie.
impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("path", &self.parts.uri.path())
            .finish_non_exhaustive()
    }
}

impl Login {
    /// A login for this request: only its method, URI, version and headers are kept (what a
    /// login reads), not its extensions.
    pub fn new(rp: RelyingParty, parts: &Parts) -> Self {
        let mut own = http::Request::new(()).into_parts().0;
        own.method = parts.method.clone();
        own.uri = parts.uri.clone();
        own.version = parts.version;
        own.headers = parts.headers.clone();
        Login { rp, parts: own }
    }

    /// A login for these request parts, taken as they are (an adapter that built the parts
    /// for the login alone gives them up rather than have them copied); their extensions are
    /// dropped, as [`new`](Self::new) leaves them out.
    pub fn from_parts(rp: RelyingParty, mut parts: Parts) -> Self {
        parts.extensions.clear();
        Login { rp, parts }
    }

    /// The login redirect with the default provider, returning the user to `return_to` (a
    /// path on the app's origin) afterwards; the error view when it cannot start. See
    /// [`RelyingParty::login_with`].
    pub async fn redirect(&self, return_to: &str, params: &LoginParams) -> Response {
        self.rp
            .login_with(&self.parts, None, return_to, params)
            .await
    }

    /// [`redirect`](Self::redirect) with the named provider.
    pub async fn redirect_to(
        &self,
        provider: &str,
        return_to: &str,
        params: &LoginParams,
    ) -> Response {
        self.rp
            .login_with(&self.parts, Some(provider), return_to, params)
            .await
    }
}
