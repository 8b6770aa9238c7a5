//! # oidc-axum
//!
//! OpenID Connect login, sessions and logout for [axum], over the sans-IO [`oidc_core`] driven by
//! [`oidc_runtime`].
//!
//! - [`OidcLayer`], a tower layer, serves the redirect endpoint and the logout route and makes
//!   the relying party available to extractors;
//! - the [`OidcUser`] extractor protects a handler: it yields the logged-in [`UserSession`] or
//!   answers with the login redirect (`401` for API-style requests);
//! - [`RequireLogin`] protects a whole router, optionally for a named provider and with login
//!   parameters of its own ([`RequireLogin::params`]: step-up authentication);
//! - [`Login`] starts a login from a handler, with per-request [`LoginParams`] (a
//!   `login_hint`, `acr_values`, `prompt`...);
//! - [`Claims`] protects a handler like [`OidcUser`] and reads the user's claims into the
//!   app's own `serde` type ([`UserSession::claims`]; accessors such as
//!   [`UserSession::email`] read the standard ones);
//! - [`MaybeUser`] (or `Option<OidcUser>`) reads the session without requiring one;
//! - [`AccessToken`] yields a valid access token for the logged-in user, refreshing it when due;
//! - [`BearerIdentity`] protects an API handler with a bearer token (introspection or JWT
//!   validation), [`RequireBearer`] adds route-specific requirements (scopes, audience);
//! - [`SessionOrBearer`] accepts a bearer token, or a browser session when there is no
//!   `Authorization` header.
//!
//! ```no_run
//! use axum::{routing::get, Router, Json};
//! use oidc_axum::{OidcLayer, OidcUser, RelyingParty, ProviderConfig, ClientMetadata};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let rp = RelyingParty::builder("http://127.0.0.1:8080")
//!     .provider("default", ProviderConfig::discover("https://accounts.example.com")
//!         .client(ClientMetadata::new("my-app", "s3cret"))
//!         .build()?)
//!     .transport(oidc_axum::default_transport()?)
//!     .build()?;
//!
//! async fn home(OidcUser(user): OidcUser) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "sub": user.subject() }))
//! }
//!
//! let app = Router::new().route("/", get(home)).layer(OidcLayer::new(rp));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! A whole app to copy, configured from the environment ([`oidc_runtime::Config::from_env`])
//! with a public page, a protected one, login and logout: `examples/axum-basic.rs` in this
//! crate (`cargo run -p oidc-axum --example axum-basic`), tested by `tests/basic_example.rs`.
//!
//! ## Rejections
//!
//! Every extractor here refuses a request with an [`OidcRejection`], whose [`IntoResponse`]
//! is the relying party's answer: the login redirect, a `401` for API-style requests (JSON
//! clients, anything but `GET`) or bad bearer tokens, a `403`, the error view's page. A
//! handler that takes `Result<OidcUser, OidcRejection>` can `match` on it and answer some
//! cases its own way (see [`OidcRejection`]); keep the login redirect's response as it is,
//! since it sets the pending login's cookie.
//!
//! ## Optional login
//!
//! `Option<OidcUser>` (axum's `OptionalFromRequestParts`) and [`MaybeUser`] read the session
//! without requiring one: `None` for an anonymous request, which is never redirected and gets
//! no cookie. `Option<Claims<T>>` likewise, except that a logged-in user whose claims do not
//! fit `T` is refused (`403` `insufficient_claims`) rather than taken for anonymous.
//!
//! ## Nested routers
//!
//! Inside `Router::nest("/admin", ..)` a handler sees the path without `/admin`. The
//! extractors, [`RequireLogin`] and [`RequireBearer`] give the relying party axum's
//! [`OriginalUri`] instead (this crate turns on axum's
//! `original-uri` feature), so that a login started there returns to `/admin/...`; the
//! handler itself still sees the nested path. [`OidcLayer`] matches its own routes
//! (`/redirect_uri`, `/logout`...) on the original path too, so a layer inside a nest never
//! takes the app's own `/admin/logout` for its logout. An app served under a path prefix
//! (`RelyingParty::builder("https://example.com/app")`) may equally have a proxy strip the
//! prefix.
//!
//! ## The relying party in the state
//!
//! The extractors find the relying party in the request's extensions, put there by
//! [`OidcLayer`], or else in the router's state when the state is the [`RelyingParty`]
//! itself (`Router::new().route(..).with_state(rp)`): the layer wins when both are there.
//! An app state of its own (`RelyingParty: FromRef<AppState>`) cannot be read by an
//! extractor that must also work without any state (Rust has no specialisation): such an
//! app adds the layer, [`OidcLayer::from_state`]. Without the layer,
//! the app must still route the relying party's own paths to it ([`RelyingParty::handle`]);
//! the layer does that.
//!
//! ## Error pages
//!
//! [`error_view`] turns a function returning any axum response (`Html`, `Json`,
//! `(StatusCode, ..)`) into the relying party's error view; see there for why its body must
//! be in memory.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http_body_util::{BodyExt, Limited};
use oidc_runtime::MAX_CALLBACK_BODY;
use tower_layer::Layer;
use tower_service::Service;

pub use oidc_runtime::{self, prelude::*};

mod error_view;
mod rejection;

pub use error_view::{error_view, AxumErrorView};
pub use rejection::OidcRejection;

fn into_axum(response: http::Response<Bytes>) -> Response {
    response.map(Body::from)
}

/// A tower layer that serves the relying party's routes (redirect endpoint, logout) and hands
/// the relying party to the extractors of every other route.
#[derive(Clone, Debug)]
pub struct OidcLayer {
    rp: RelyingParty,
}

impl OidcLayer {
    /// The layer for a relying party.
    pub fn new(rp: RelyingParty) -> Self {
        OidcLayer { rp }
    }

    /// The layer for the relying party an app state holds (`RelyingParty: FromRef<S>`), for
    /// a router whose handlers also reach it with `State<RelyingParty>`.
    ///
    /// ```
    /// use axum::{extract::FromRef, routing::get, Router};
    /// use oidc_axum::{OidcLayer, OidcUser, RelyingParty};
    ///
    /// #[derive(Clone)]
    /// struct AppState {
    ///     rp: RelyingParty,
    ///     greeting: &'static str,
    /// }
    ///
    /// impl FromRef<AppState> for RelyingParty {
    ///     fn from_ref(state: &AppState) -> Self {
    ///         state.rp.clone()
    ///     }
    /// }
    ///
    /// fn app(state: AppState) -> Router {
    ///     Router::new()
    ///         .route("/", get(|OidcUser(user): OidcUser| async move { user.subject().to_owned() }))
    ///         .layer(OidcLayer::from_state(&state))
    ///         .with_state(state)
    /// }
    /// ```
    pub fn from_state<S>(state: &S) -> Self
    where
        RelyingParty: axum::extract::FromRef<S>,
    {
        OidcLayer::new(<RelyingParty as axum::extract::FromRef<S>>::from_ref(state))
    }
}

impl<S> Layer<S> for OidcLayer {
    type Service = OidcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OidcService {
            rp: self.rp.clone(),
            inner,
        }
    }
}

/// The service [`OidcLayer`] produces.
#[derive(Clone, Debug)]
pub struct OidcService<S> {
    rp: RelyingParty,
    inner: S,
}

impl<S> Service<Request> for OidcService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let rp = self.rp.clone();
        // Inside `Router::nest` the path is the nested one; the relying party's routes are
        // paths of the app's URL, which the original URI has.
        let original = req.extensions().get::<OriginalUri>().map(|o| &o.0);
        if rp.route(original.unwrap_or(req.uri()).path()).is_some() {
            if let Some(OriginalUri(uri)) = req.extensions().get::<OriginalUri>().cloned() {
                *req.uri_mut() = uri;
            }
            return Box::pin(async move {
                let (parts, body) = req.into_parts();
                let body = match Limited::new(body, MAX_CALLBACK_BODY).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => {
                        return Ok((
                            http::StatusCode::PAYLOAD_TOO_LARGE,
                            "request body too large",
                        )
                            .into_response())
                    }
                };
                let req = http::Request::from_parts(parts, body);
                let resp = rp.handle(req).await.unwrap_or_else(not_found);
                Ok(into_axum(resp))
            });
        }
        req.extensions_mut().insert(rp);
        // Called here, on the service `poll_ready` drove, and not inside the future: the future
        // needs no service of its own, so none is cloned per request.
        Box::pin(self.inner.call(req))
    }
}

fn not_found() -> http::Response<Bytes> {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() = http::StatusCode::NOT_FOUND;
    r
}

// The rejection carries the response itself, returned at once: boxing it would only add an
// allocation on the failure path. The relying party is borrowed from the request's
// extensions (the layer's) or the router's state: an extractor that only reads the session
// needs no handle of its own.
#[allow(clippy::result_large_err)]
fn relying_party<'a, S: Any>(
    parts: &'a Parts,
    state: &'a S,
) -> Result<&'a RelyingParty, OidcRejection> {
    parts
        .extensions
        .get::<RelyingParty>()
        .or_else(|| (state as &dyn Any).downcast_ref::<RelyingParty>())
        .ok_or_else(|| {
            tracing::error!("an oidc-axum extractor used on a route without OidcLayer");
            OidcRejection::MissingLayer
        })
}

/// The request's parts as the relying party must see them: with the URI the app received
/// (axum's [`OriginalUri`]) rather than the one a `Router::nest` stripped, so that the page a
/// login returns to, and a DPoP proof's URL, are the app's. The stripped URI is put back when
/// this is dropped, also when the extractor's future is cancelled, so that axum's routing and
/// later extractors see what they expect.
struct AppView<'a> {
    parts: &'a mut Parts,
    stripped: Option<http::Uri>,
}

impl<'a> AppView<'a> {
    fn new(parts: &'a mut Parts) -> Self {
        // Compared before it is cloned: outside `Router::nest` (the common case) the two are
        // equal and nothing is copied.
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .filter(|o| o.0 != parts.uri)
            .map(|o| o.0.clone());
        let stripped = original.map(|o| std::mem::replace(&mut parts.uri, o));
        AppView { parts, stripped }
    }
}

impl std::ops::Deref for AppView<'_> {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        self.parts
    }
}

impl Drop for AppView<'_> {
    fn drop(&mut self) {
        if let Some(uri) = self.stripped.take() {
            self.parts.uri = uri;
        }
    }
}

/// The logged-in user. As an extractor it protects the handler: without a valid session (for
/// the route's provider, see [`RequireLogin::provider`], else the default one) the handler is
/// not called and the user is sent to log in.
#[derive(Clone, Debug)]
pub struct OidcUser(pub Arc<UserSession>);

/// The session a [`RequireLogin`] layer already checked.
#[derive(Clone)]
struct Authenticated(Arc<UserSession>);

impl<S: Send + Sync + 'static> FromRequestParts<S> for OidcUser {
    type Rejection = OidcRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Authenticated(user)) = parts.extensions.get::<Authenticated>() {
            return Ok(OidcUser(user.clone()));
        }
        let view = AppView::new(parts);
        let rp = relying_party(&view, state)?;
        rp.authenticate(&view, None)
            .await
            .map(OidcUser)
            .map_err(OidcRejection::from_refusal)
    }
}

/// `Option<OidcUser>`: the logged-in user if there is one (with any provider), `None`
/// otherwise, without starting a login; as [`MaybeUser`].
impl<S: Send + Sync + 'static> OptionalFromRequestParts<S> for OidcUser {
    type Rejection = OidcRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let MaybeUser(user) =
            <MaybeUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        Ok(user.map(OidcUser))
    }
}

/// The logged-in user's claims (the ID token's, plus userinfo's; see
/// [`UserSession::claims`]) read into the app's type. As an extractor it protects the handler
/// like [`OidcUser`]; when the claims do not fit `T` (a claim it needs is missing) the error
/// view answers `403` with `insufficient_claims`.
///
/// ```
/// use oidc_axum::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Me {
///     email: String,
///     #[serde(default)]
///     groups: Vec<String>,
/// }
///
/// async fn me(Claims(me): Claims<Me>) -> String {
///     format!("{} in {:?}", me.email, me.groups)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Claims<T>(pub T);

impl<T: serde::de::DeserializeOwned> Claims<T> {
    /// `user`'s claims read into `T`, or the `403` `insufficient_claims` rejection.
    // The error is the extractors' own rejection, which they return by value anyway.
    #[allow(clippy::result_large_err)]
    fn read<S: Send + Sync + 'static>(
        user: &UserSession,
        parts: &Parts,
        state: &S,
    ) -> Result<Self, OidcRejection> {
        match user.claims::<T>() {
            Ok(claims) => Ok(Claims(claims)),
            Err(e) => {
                let rp = relying_party(parts, state)?;
                Err(OidcRejection::InsufficientClaims(into_axum(
                    rp.error_response(&e.into()),
                )))
            }
        }
    }
}

impl<S: Send + Sync + 'static, T: serde::de::DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = OidcRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let OidcUser(user) =
            <OidcUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        Self::read(&user, parts, state)
    }
}

/// `Option<Claims<T>>`: `None` for an anonymous request (without starting a login, as
/// `Option<OidcUser>`), the claims of a logged-in user (with any provider). A logged-in user
/// whose claims do not fit `T` is still refused with `403` `insufficient_claims`: that is a
/// user the app cannot serve as it expects, not an anonymous one.
impl<S: Send + Sync + 'static, T: serde::de::DeserializeOwned> OptionalFromRequestParts<S>
    for Claims<T>
{
    type Rejection = OidcRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let MaybeUser(user) =
            <MaybeUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        match user {
            Some(user) => Self::read(&user, parts, state).map(Some),
            None => Ok(None),
        }
    }
}

/// The logged-in user if there is one, without requiring a login.
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<Arc<UserSession>>);

impl<S: Send + Sync + 'static> FromRequestParts<S> for MaybeUser {
    type Rejection = OidcRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Authenticated(user)) = parts.extensions.get::<Authenticated>() {
            return Ok(MaybeUser(Some(user.clone())));
        }
        let rp = relying_party(parts, state)?;
        Ok(MaybeUser(rp.session(parts).await))
    }
}

/// Starts a login from a handler, with parameters chosen for this request: a "log in as"
/// link with a `login_hint`, a step-up with `acr_values`, a `prompt=login`. The protocol's own
/// parameters cannot be set (the error view answers).
///
/// ```
/// use axum::{extract::Query, response::Response};
/// use oidc_axum::{Login, LoginParams};
/// use std::collections::HashMap;
///
/// async fn log_in_as(login: Login, Query(q): Query<HashMap<String, String>>) -> Response {
///     let hint = q.get("email").cloned().unwrap_or_default();
///     login.redirect("/", &LoginParams::new().login_hint(hint)).await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Login(pub oidc_runtime::Login);

impl Login {
    /// The login redirect with the default provider, returning the user to `return_to` (a
    /// path on the app's origin) afterwards; the error view when it cannot start.
    pub async fn redirect(&self, return_to: &str, params: &LoginParams) -> Response {
        into_axum(self.0.redirect(return_to, params).await)
    }

    /// [`redirect`](Self::redirect) with the named provider.
    pub async fn redirect_to(
        &self,
        provider: &str,
        return_to: &str,
        params: &LoginParams,
    ) -> Response {
        into_axum(self.0.redirect_to(provider, return_to, params).await)
    }
}

impl<S: Send + Sync + 'static> FromRequestParts<S> for Login {
    type Rejection = OidcRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let view = AppView::new(parts);
        let rp = relying_party(&view, state)?.clone();
        Ok(Login(oidc_runtime::Login::new(rp, &view)))
    }
}

/// A layer that protects every route it wraps (use it with `Router::route_layer`), for the
/// default provider or a named one.
///
/// ```
/// use axum::{routing::get, Router};
/// use oidc_axum::RequireLogin;
/// let admin: Router = Router::new()
///     .route("/admin", get(|| async { "secret" }))
///     .route_layer(RequireLogin::provider("corporate"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequireLogin {
    provider: Option<Arc<str>>,
    params: Option<Arc<LoginParams>>,
}

impl RequireLogin {
    /// Requires a session with the default provider.
    pub fn new() -> Self {
        RequireLogin::default()
    }

    /// Requires a session with the named provider: a session from another provider does not
    /// count.
    pub fn provider(name: &str) -> Self {
        RequireLogin {
            provider: Some(Arc::from(name)),
            params: None,
        }
    }

    /// Logs in with these parameters, and requires of an existing session what they ask
    /// (`acr_values`, `max_age`): a session without them logs in again (step-up
    /// authentication). See [`RelyingParty::authenticate_with`].
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use oidc_axum::{LoginParams, RequireLogin};
    /// let payments: Router = Router::new()
    ///     .route("/payments", get(|| async { "strongly authenticated" }))
    ///     .route_layer(RequireLogin::new().params(LoginParams::new().acr_values(["mfa"])));
    /// ```
    pub fn params(mut self, params: LoginParams) -> Self {
        self.params = Some(Arc::new(params));
        self
    }
}

impl<S> Layer<S> for RequireLogin {
    type Service = RequireLoginService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireLoginService {
            provider: self.provider.clone(),
            params: self.params.clone(),
            inner,
        }
    }
}

/// The service [`RequireLogin`] produces.
#[derive(Clone, Debug)]
pub struct RequireLoginService<S> {
    provider: Option<Arc<str>>,
    params: Option<Arc<LoginParams>>,
    inner: S,
}

impl<S> Service<Request> for RequireLoginService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let provider = self.provider.clone();
        let params = self.params.clone();
        guarded(&mut self.inner, req, move |rp, mut parts| {
            Box::pin(async move {
                let user = match &params {
                    Some(params) => {
                        rp.authenticate_with(&parts, provider.as_deref(), params)
                            .await?
                    }
                    None => rp.authenticate(&parts, provider.as_deref()).await?,
                };
                parts.extensions.insert(Authenticated(user));
                Ok(parts)
            })
        })
    }
}

/// The check a route layer runs before its inner service: the request's parts, with what it
/// established in their extensions, or the response to send instead.
type Check = Pin<Box<dyn Future<Output = Result<Parts, oidc_runtime::Response>> + Send>>;

/// What [`RequireLoginService`] and [`RequireBearerService`] share: take the service that was
/// driven to readiness, run `check`, then call it or answer with the check's response.
fn guarded<S>(
    service: &mut S,
    req: Request,
    check: impl FnOnce(RelyingParty, Parts) -> Check + Send + 'static,
) -> Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let clone = service.clone();
    let mut inner = std::mem::replace(service, clone);
    Box::pin(async move {
        let (mut parts, body) = req.into_parts();
        let rp = match relying_party(&parts, &()) {
            Ok(rp) => rp.clone(),
            Err(rejection) => return Ok(rejection.into_response()),
        };
        // The check sees the app's URI (see `AppView`), the inner service the one routing
        // gave it.
        let stripped = match parts.extensions.get::<OriginalUri>() {
            Some(OriginalUri(original)) if *original != parts.uri => {
                Some(std::mem::replace(&mut parts.uri, original.clone()))
            }
            _ => None,
        };
        match check(rp, parts).await {
            Ok(mut parts) => {
                if let Some(uri) = stripped {
                    parts.uri = uri;
                }
                inner.call(Request::from_parts(parts, body)).await
            }
            Err(resp) => Ok(into_axum(resp)),
        }
    })
}

/// A valid access token for the logged-in user, refreshed with the refresh token when it is
/// due. As an extractor it protects the handler like [`OidcUser`]: without a session, or when
/// the session can no longer get a token (the refresh token was refused, or the token expired
/// and there is none), the user is sent to log in (`401` for API-style requests); when the
/// provider cannot be reached the error view answers.
///
/// ```
/// use oidc_axum::AccessToken;
/// async fn call_api(AccessToken(token): AccessToken) -> String {
///     // Send `token.expose()` as `Authorization: Bearer ...` to a resource server.
///     format!("{} bytes of token", token.expose().len())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct AccessToken(pub Secret);

impl AccessToken {
    /// A freshly refreshed access token, whether or not the current one is due (after a
    /// resource server refused it, say). Rejections as for the extractor. `parts` is
    /// mutable only to show the relying party the original URI under `Router::nest`; it is
    /// left as it was.
    pub async fn force_refresh(parts: &mut Parts) -> Result<Self, OidcRejection> {
        Self::get(parts, &(), true).await
    }

    async fn get<S: Any>(
        parts: &mut Parts,
        state: &S,
        force_refresh: bool,
    ) -> Result<Self, OidcRejection> {
        let view = AppView::new(parts);
        let rp = relying_party(&view, state)?;
        rp.require_access_token(&view, force_refresh)
            .await
            .map(AccessToken)
            .map_err(OidcRejection::from_refusal)
    }
}

impl<S: Send + Sync + 'static> FromRequestParts<S> for AccessToken {
    type Rejection = OidcRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        AccessToken::get(parts, state, false).await
    }
}

/// A validated bearer token (RFC 6750). As an extractor it protects an API handler: a missing
/// or invalid token is answered `401` with a `WWW-Authenticate` challenge, a token lacking a
/// required scope `403` (`insufficient_scope`). Validation (introspection or JWT), audience and
/// required scopes are the relying party's
/// ([`bearer_validation`](RelyingPartyBuilder::bearer_validation), ...), plus those of
/// a [`RequireBearer`] layer on the route.
///
/// ```
/// use axum::{routing::get, Json, Router};
/// use oidc_axum::{BearerIdentity, RequireBearer};
/// async fn me(BearerIdentity(token): BearerIdentity) -> Json<serde_json::Value> {
///     Json(serde_json::Value::Object(token.claims))
/// }
/// let api: Router = Router::new()
///     .route("/api/me", get(me))
///     .route_layer(RequireBearer::scopes(["profile.read"]));
/// ```
#[derive(Clone, Debug)]
pub struct BearerIdentity(pub TokenIdentity);

/// What a [`RequireBearer`] layer already validated.
#[derive(Clone)]
struct Validated(Principal);

impl<S: Send + Sync + 'static> FromRequestParts<S> for BearerIdentity {
    type Rejection = OidcRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Validated(Principal::Bearer(token))) = parts.extensions.get::<Validated>() {
            return Ok(BearerIdentity(token.clone()));
        }
        let view = AppView::new(parts);
        let rp = relying_party(&view, state)?;
        rp.authorize_bearer(&view, &BearerRequirements::new())
            .await
            .map(BearerIdentity)
            .map_err(OidcRejection::from_refusal)
    }
}

/// A browser session or a bearer token (Flask-pyoidc's `access_control`): a request with an
/// `Authorization` header is judged by its bearer token alone (`401`/`403` when bad, never a
/// login redirect); one without needs a logged-in session (the login redirect, or `401` for
/// API-style requests: JSON clients and anything but `GET`).
#[derive(Clone, Debug)]
pub struct SessionOrBearer(pub Principal);

impl<S: Send + Sync + 'static> FromRequestParts<S> for SessionOrBearer {
    type Rejection = OidcRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Validated(principal)) = parts.extensions.get::<Validated>() {
            return Ok(SessionOrBearer(principal.clone()));
        }
        if let Some(Authenticated(user)) = parts.extensions.get::<Authenticated>() {
            if !parts.headers.contains_key(http::header::AUTHORIZATION) {
                return Ok(SessionOrBearer(Principal::Session(user.clone())));
            }
        }
        let view = AppView::new(parts);
        let rp = relying_party(&view, state)?;
        rp.session_or_bearer(&view, &BearerRequirements::new())
            .await
            .map(SessionOrBearer)
            .map_err(OidcRejection::from_refusal)
    }
}

/// A layer that protects every route it wraps (use it with `Router::route_layer`) with a
/// bearer token meeting route-specific requirements, or, with
/// [`or_session`](Self::or_session), with a bearer token or a browser session. Handlers read
/// the result with [`BearerIdentity`] or [`SessionOrBearer`].
#[derive(Clone, Debug, Default)]
pub struct RequireBearer {
    requirements: Arc<BearerRequirements>,
    or_session: bool,
}

impl RequireBearer {
    /// Requires a valid bearer token (per the relying party's configuration).
    pub fn new() -> Self {
        RequireBearer::default()
    }

    /// Requires a valid bearer token with these scopes (on top of the configured ones).
    pub fn scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireBearer::with(BearerRequirements::new().scopes(scopes))
    }

    /// Requires a valid bearer token meeting `requirements` (scopes, audience, validation,
    /// provider).
    pub fn with(requirements: BearerRequirements) -> Self {
        RequireBearer {
            requirements: Arc::new(requirements),
            or_session: false,
        }
    }

    /// Also accepts a logged-in browser session when the request has no `Authorization`
    /// header (see [`SessionOrBearer`]).
    pub fn or_session(mut self) -> Self {
        self.or_session = true;
        self
    }
}

impl<S> Layer<S> for RequireBearer {
    type Service = RequireBearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireBearerService {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`RequireBearer`] produces.
#[derive(Clone, Debug)]
pub struct RequireBearerService<S> {
    layer: RequireBearer,
    inner: S,
}

impl<S> Service<Request> for RequireBearerService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let layer = self.layer.clone();
        guarded(&mut self.inner, req, move |rp, mut parts| {
            Box::pin(async move {
                let principal = if layer.or_session {
                    rp.session_or_bearer(&parts, &layer.requirements).await?
                } else {
                    Principal::Bearer(rp.authorize_bearer(&parts, &layer.requirements).await?)
                };
                parts.extensions.insert(Validated(principal));
                Ok(parts)
            })
        })
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod idiom_tests;
