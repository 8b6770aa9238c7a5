//! The relying party: the protocol pieces wired into operations on the app's `http` requests.
//! Each operation is a [`Flow`] its caller drives (see the crate documentation's "Run loop");
//! adapters translate their framework's request into an `http::Request`, start one, drive it
//! through a runtime, and translate the answer back. Nothing protocol-related lives in an
//! adapter.
//!
//! The modules below hold one concern each: [`builder`] the configuration, `login` protected
//! routes and the start of a login, `redirect` the redirect endpoint, `logout`, `tokens` access
//! tokens and their refresh, `bearer` bearer-protected APIs and the client credentials grant,
//! `pages` the small responses they share.

// A protected route's refusal is the response to send, an `http::Response` returned by value
// once per request (and by the adapters' extractors and guards as it is): boxing it would cost
// an allocation for nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Method;
use url::Url;

use crate::config::ProviderConfig;
use crate::cookies::SessionCookies;
use crate::error::{Error, Result};
use crate::error_view::{ErrorInfo, ErrorView};
use crate::flow::{Context, Cx, Flow, Machine, Owned, Progress};
use crate::login_cookie::LoginCookies;
use crate::provider::ProviderState;

mod bearer;
pub mod builder;
mod login;
mod logout;
mod pages;
mod provider_logout;
mod redirect;
mod tokens;

pub use builder::RelyingPartyBuilder;
pub use login::SessionLookup;

/// The HTTP response type of the core.
pub type Response = http::Response<Bytes>;

/// One configured provider and what has been learnt about it.
pub(crate) struct ProviderSlot {
    pub(crate) name: String,
    pub(crate) config: ProviderConfig,
    /// Where this provider sends its answers: with several providers, one of its own, so that
    /// the path a response arrives on says which provider it is for (RFC 9700 4.4.2).
    pub(crate) redirect_uri: Url,
    /// Its metadata, client, key set and the fetches in flight, shared by every flow; locked
    /// only inside a step, never across an answer.
    state: Mutex<ProviderState>,
}

impl ProviderSlot {
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, ProviderState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Inner {
    providers: Vec<ProviderSlot>,
    app_url: Url,
    post_logout_redirect_uri: Url,
    login_path: Option<String>,
    /// The app's public JWKS (its URL and the document), when a provider has a private key.
    client_jwks: Option<(Url, Bytes)>,
    /// Where the provider posts logout tokens, when served.
    backchannel_logout_uri: Option<Url>,
    /// Where the provider's logout page loads front-channel logout, when served.
    frontchannel_logout_uri: Option<Url>,
    cookies: SessionCookies,
    login_cookies: LoginCookies,
    error_view: Arc<dyn ErrorView>,
    session_lifetime: u64,
    tokens: tokens::TokenState,
    /// The session ids whose token refresh runs now, and the flow running it.
    refreshing: Mutex<HashMap<String, u64>>,
    next_flow: AtomicU64,
}

/// The relying party, sans-IO. Cheap to clone; share one per app: the flows of one relying
/// party share what they learn about the providers.
///
/// ```
/// use oidc_core::{ClientMetadata, ProviderConfig, RelyingParty};
///
/// let rp = RelyingParty::builder("https://app.example")
///     .provider(
///         "default",
///         ProviderConfig::discover("https://accounts.example.com")
///             .client(ClientMetadata::new("my-app", "s3cret"))
///             .build()?,
///     )
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
    /// The app's public JWKS (`private_key_jwt`), when a private key is configured.
    Jwks,
    /// Back-channel logout: the provider posts a logout token (on by default).
    BackchannelLogout,
    /// Front-channel logout: the provider's logout page loads it with `iss` and `sid` (when
    /// configured).
    FrontchannelLogout,
}

impl Route {
    /// The HTTP methods the route answers (`HEAD` goes with `GET`), for frameworks that route
    /// by method too.
    pub fn methods(self) -> &'static [http::Method] {
        match self {
            Route::Redirect | Route::Logout => &[Method::GET, Method::POST],
            Route::Login | Route::Jwks | Route::FrontchannelLogout => &[Method::GET],
            Route::BackchannelLogout => &[Method::POST],
        }
    }
}

impl RelyingParty {
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
        self.slot(provider)
            .ok()
            .map(|(_, p)| p.redirect_uri.as_str())
    }

    /// The path of the back-channel logout route, when served.
    pub fn backchannel_logout_path(&self) -> Option<&str> {
        self.inner.backchannel_logout_uri.as_ref().map(Url::path)
    }

    /// The path of the front-channel logout route, when served.
    pub fn frontchannel_logout_path(&self) -> Option<&str> {
        self.inner.frontchannel_logout_uri.as_ref().map(Url::path)
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

    /// The path of the app's JWKS route, served when a provider has a private key
    /// ([`RelyingPartyBuilder::jwks_path`]).
    pub fn jwks_path(&self) -> Option<&str> {
        self.inner.client_jwks.as_ref().map(|(url, _)| url.path())
    }

    /// The URL of the app's JWKS, when a provider has a private key: the `jwks_uri` to
    /// register at a provider.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.inner.client_jwks.as_ref().map(|(url, _)| url.as_str())
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
            .chain(self.inner.login_path.as_deref().map(|p| (Route::Login, p)))
            .chain(self.jwks_path().map(|p| (Route::Jwks, p)))
            .chain(
                self.backchannel_logout_path()
                    .map(|p| (Route::BackchannelLogout, p)),
            )
            .chain(
                self.frontchannel_logout_path()
                    .map(|p| (Route::FrontchannelLogout, p)),
            );
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
        } else if self.jwks_path().is_some_and(|p| self.is_route(path, p)) {
            Some(Route::Jwks)
        } else if self
            .backchannel_logout_path()
            .is_some_and(|p| self.is_route(path, p))
        {
            Some(Route::BackchannelLogout)
        } else if self
            .frontchannel_logout_path()
            .is_some_and(|p| self.is_route(path, p))
        {
            Some(Route::FrontchannelLogout)
        } else {
            None
        }
    }

    /// Starts handling a request to one of the relying party's own routes (the redirect
    /// endpoint, logout, the login route); `None` for any other path.
    pub fn handle(&self, request: http::Request<Bytes>, cx: Context) -> Option<Flow<Response>> {
        match self.route(request.uri().path())? {
            Route::Redirect => Some(self.handle_redirect(request, cx)),
            Route::Logout => {
                let (parts, body) = request.into_parts();
                Some(if parts.method == Method::POST {
                    self.confirm_logout(&parts, &body, cx)
                } else {
                    self.logout(&parts, cx)
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
                Some(self.login(&parts, provider.as_deref(), &next, cx))
            }
            Route::Jwks => {
                let document = self.inner.client_jwks.as_ref().map(|(_, d)| d.clone());
                let response = pages::jwks(document.unwrap_or_default(), request.method());
                let fail = |rp: &RelyingParty, e| rp.error_response(&e);
                Some(Flow::new(
                    self,
                    cx,
                    crate::flow::Immediate(Some(response)),
                    fail,
                ))
            }
            Route::BackchannelLogout => Some(self.backchannel_logout(request, cx)),
            Route::FrontchannelLogout => {
                let (parts, _) = request.into_parts();
                Some(self.frontchannel_logout(&parts, cx))
            }
        }
    }

    /// Whether every provider's metadata and client are known: discovers and registers
    /// where they are not yet. A provider that is down makes the answer `false` without
    /// failing.
    pub fn ready(&self, cx: Context) -> Flow<bool> {
        Flow::new(self, cx, Ready { next: 0, all: true }, |_, _| false)
    }

    /// The provider named `name` (the default one when `None`), with its index.
    fn slot(&self, name: Option<&str>) -> Result<(usize, &ProviderSlot)> {
        match name {
            None => self.inner.providers.first().map(|p| (0, p)),
            Some(n) => self
                .inner
                .providers
                .iter()
                .enumerate()
                .find(|(_, p)| p.name == n),
        }
        .ok_or_else(|| {
            Error::config(
                "provider",
                format!("no provider named `{}`", name.unwrap_or("")),
            )
        })
    }

    pub(crate) fn slot_at(&self, i: usize) -> Option<&ProviderSlot> {
        self.inner.providers.get(i)
    }

    pub(crate) fn logout_routes(&self) -> crate::provider::LogoutRoutes<'_> {
        crate::provider::LogoutRoutes {
            backchannel: self.inner.backchannel_logout_uri.as_ref(),
            frontchannel: self.inner.frontchannel_logout_uri.as_ref(),
        }
    }

    pub(crate) fn post_logout_redirect_uri(&self) -> &Url {
        &self.inner.post_logout_redirect_uri
    }

    pub(crate) fn next_flow_id(&self) -> u64 {
        self.inner.next_flow.fetch_add(1, Ordering::Relaxed)
    }

    fn refreshing(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.inner
            .refreshing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the token refresh of session `session` for flow `flow`, unless another runs it.
    pub(crate) fn claim_refresh(&self, session: &str, flow: u64) -> bool {
        let mut map = self.refreshing();
        match map.get(session) {
            Some(owner) => *owner == flow,
            None => {
                map.insert(session.to_owned(), flow);
                true
            }
        }
    }

    /// The flow running the token refresh of `session`, if any.
    pub(crate) fn refresh_owner(&self, session: &str) -> Option<u64> {
        self.refreshing().get(session).copied()
    }

    /// Ends what flow `flow` was doing for others: a fetch for a provider, a refresh.
    pub(crate) fn release(&self, flow: u64, owned: &Owned) {
        match owned {
            Owned::Provider(i) => {
                if let Some(slot) = self.slot_at(*i) {
                    slot.state().release(flow);
                }
            }
            Owned::Refresh(session) => {
                let mut map = self.refreshing();
                if map.get(session) == Some(&flow) {
                    map.remove(session);
                }
            }
        }
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
        harden_error_page(resp.headers_mut());
        resp.extensions_mut()
            .insert(crate::error_view::ErrorCode::new(
                error.bounded_error_code(),
            ));
        resp
    }
}

/// What the default error views send, added to an app's own view where it set nothing of the
/// kind: an error page is reached through links from other sites, so it is never cached
/// (a shared cache could show one user's failure to another), never framed (clickjacking),
/// and never sniffed into another content type. A header the app's view did set stands.
fn harden_error_page(headers: &mut http::HeaderMap) {
    use http::header::{
        CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    };
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    }
    if !headers.contains_key(X_FRAME_OPTIONS) && !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(X_FRAME_OPTIONS, http::HeaderValue::from_static("DENY"));
    }
    if !headers.contains_key(X_CONTENT_TYPE_OPTIONS) {
        headers.insert(
            X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
    }
}

/// [`RelyingParty::ready`]: each provider's metadata, then client, in turn.
struct Ready {
    next: usize,
    all: bool,
}

impl Machine for Ready {
    type Output = bool;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<bool> {
        while self.next < cx.rp.inner.providers.len() {
            let i = self.next;
            let ok = match crate::flow::ready!(cx.ensure_metadata(i)) {
                Ok(m) => {
                    let client = crate::flow::ready!(cx.ensure_client(i, &m)).is_ok();
                    // Issue 18 (P): a PAR or request object setting every login would refuse.
                    let requests = match cx.rp.slot_at(i) {
                        Some(slot) => crate::par::check_provider(&slot.config, &m),
                        None => Ok(()),
                    };
                    if let Err(e) = &requests {
                        tracing::warn!(error = %e, "the provider cannot take this app's logins");
                    }
                    client && requests.is_ok()
                }
                Err(_) => false,
            };
            self.all &= ok;
            self.next += 1;
        }
        Progress::Ready(self.all)
    }
}

#[cfg(test)]
mod tests {
    use super::builder::common_path;
    use super::redirect::spent_state_key;

    /// An app's own error view that sets no caching or framing headers still answers with
    /// `no-store`, `DENY` and `nosniff`; one that sets its own keeps them.
    #[test]
    fn error_pages_of_the_apps_view_are_never_cached_or_framed() {
        use http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
        let build = |view: fn(&crate::ErrorInfo) -> http::Response<bytes::Bytes>| {
            let config = crate::ProviderConfig::discover("https://op.example")
                .client(crate::ClientMetadata::new("c", "s"))
                .build()
                .unwrap();
            super::RelyingParty::builder("https://app.example")
                .provider("default", config)
                .session_secret([7u8; 32])
                .error_view(view)
                .build()
                .unwrap()
        };
        let error = crate::Error::LoginRequired("no session");
        let bare = build(|info| {
            let mut r = http::Response::new(bytes::Bytes::from(info.error.clone()));
            *r.status_mut() = info.status;
            r
        })
        .error_response(&error);
        assert_eq!(bare.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(bare.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(bare.headers()[X_FRAME_OPTIONS], "DENY");
        assert_eq!(bare.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
        let own = build(|_| {
            http::Response::builder()
                .status(http::StatusCode::UNAUTHORIZED)
                .header(CACHE_CONTROL, "private, max-age=5")
                .header(
                    http::header::CONTENT_SECURITY_POLICY,
                    "frame-ancestors 'self'",
                )
                .body(bytes::Bytes::new())
                .unwrap()
        })
        .error_response(&error);
        assert_eq!(own.headers()[CACHE_CONTROL], "private, max-age=5");
        assert!(
            !own.headers().contains_key(X_FRAME_OPTIONS),
            "the view's CSP decides framing"
        );
    }

    fn rp_at(app_url: &str) -> super::RelyingParty {
        let config = crate::ProviderConfig::discover("https://op.example")
            .client(crate::ClientMetadata::new("c", "s"))
            .build()
            .unwrap();
        super::RelyingParty::builder(app_url)
            .provider("default", config)
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
                (Route::BackchannelLogout, "/app/backchannel_logout"),
                (Route::BackchannelLogout, "/backchannel_logout"),
            ]
        );
        assert_eq!(
            rp.route("/app/backchannel_logout"),
            Some(Route::BackchannelLogout)
        );
        assert_eq!(rp.route("/frontchannel_logout"), None, "off by default");
        let root = rp_at("https://example.com");
        assert_eq!(
            root.route_paths(),
            [
                (Route::Redirect, "/redirect_uri"),
                (Route::Logout, "/logout"),
                (Route::BackchannelLogout, "/backchannel_logout"),
            ]
        );
    }

    /// The provider-logout routes: back-channel on by default and can be turned off,
    /// front-channel when configured, and neither may take another route's path.
    #[test]
    fn provider_logout_routes_are_configurable() {
        use super::Route;
        let build = |f: fn(super::RelyingPartyBuilder) -> super::RelyingPartyBuilder| {
            f(super::RelyingParty::builder("https://example.com")
                .provider(
                    "default",
                    crate::ProviderConfig::discover("https://op.example")
                        .client(crate::ClientMetadata::new("c", "s"))
                        .build()
                        .unwrap(),
                )
                .session_secret([7u8; 32]))
            .build()
        };
        let rp = build(|b| {
            b.without_backchannel_logout()
                .frontchannel_logout_path("/fc")
        })
        .unwrap();
        assert_eq!(rp.route("/backchannel_logout"), None);
        assert_eq!(rp.route("/fc"), Some(Route::FrontchannelLogout));
        assert_eq!(Route::FrontchannelLogout.methods(), [http::Method::GET]);
        assert_eq!(Route::BackchannelLogout.methods(), [http::Method::POST]);
        let rp = build(|b| b.backchannel_logout_path("/op/logout")).unwrap();
        assert_eq!(rp.backchannel_logout_path(), Some("/op/logout"));
        for bad in [
            build(|b| b.backchannel_logout_path("/logout")),
            build(|b| b.frontchannel_logout_path("/redirect_uri")),
            build(|b| b.frontchannel_logout_path("/backchannel_logout")),
            build(|b| b.backchannel_logout_path("https://elsewhere.example/bc")),
        ] {
            assert!(matches!(bad, Err(crate::Error::Config { .. })), "{bad:?}");
        }
    }

    /// With a private key, the JWKS route is `<app url>/jwks.json` (or the configured path),
    /// also without the app's prefix; without one there is no such route; a path another route
    /// has is refused.
    #[test]
    fn jwks_route_follows_the_key_and_the_prefix() {
        use super::Route;
        let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        let key = crate::ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
        let keyed = || {
            crate::ProviderConfig::discover("https://op.example")
                .client(crate::ClientMetadata::without_secret("c"))
                .private_key(key.clone())
                .build()
                .unwrap()
        };
        let build = |path: Option<&str>| {
            let b = super::RelyingParty::builder("https://example.com/app")
                .provider("default", keyed())
                .session_secret([7u8; 32]);
            match path {
                Some(p) => b.jwks_path(p),
                None => b,
            }
            .build()
        };
        let rp = build(None).unwrap();
        assert_eq!(rp.jwks_uri(), Some("https://example.com/app/jwks.json"));
        assert_eq!(rp.route("/app/jwks.json"), Some(Route::Jwks));
        assert_eq!(rp.route("/jwks.json"), Some(Route::Jwks));
        assert!(rp.route_paths().contains(&(Route::Jwks, "/app/jwks.json")));
        let rp = build(Some("/keys")).unwrap();
        assert_eq!(rp.jwks_path(), Some("/keys"));
        let err = build(Some("logout")).unwrap_err();
        assert!(err.to_string().contains("jwks_path"), "{err}");
        assert!(build(Some("https://elsewhere.example/jwks")).is_err());
        assert_eq!(rp_at("https://example.com").route("/jwks.json"), None);
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
