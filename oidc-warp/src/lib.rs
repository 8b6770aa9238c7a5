//! # oidc-warp
//!
//! OpenID Connect login, sessions and logout for [warp], over the sans-IO [`oidc_core`] driven by
//! [`oidc_runtime`].
//!
//! - [`routes`] serves the relying party's own routes (redirect endpoint, logout, and the
//!   login route when configured); every other path falls through;
//! - [`user`] (or [`user_for`] a named provider, [`user_with`] login parameters of the route's
//!   own: step-up authentication) protects a route: it extracts the logged-in [`UserSession`]
//!   or rejects with [`OidcRejection`];
//! - [`claims`] protects a route like [`user`] and extracts the user's claims read into the
//!   app's own `serde` type ([`UserSession::claims`]; accessors such as
//!   [`UserSession::email`] read the standard ones); [`maybe_claims`] reads them without
//!   requiring a login;
//! - [`login`] extracts a [`Login`], which starts a login from a handler with per-request
//!   [`LoginParams`] (a `login_hint`, `acr_values`, `prompt`...);
//! - [`recover`] turns that rejection into the response it carries: the login redirect, a `401`
//!   for API-style requests, or the error view;
//! - [`maybe_user`] reads the session without requiring one;
//! - [`access_token`] extracts a valid access token for the logged-in user, refreshing it when
//!   due ([`refreshed_access_token`] refreshes it in any case);
//! - [`bearer`] (or [`bearer_with`] route-specific requirements) protects an API route with a
//!   bearer token (introspection or JWT validation);
//! - [`session_or_bearer`] accepts a bearer token, or a browser session when there is no
//!   `Authorization` header.
//!
//! Every failing filter rejects with [`OidcRejection`], which carries the relying party's
//! response (a login, a `403`, or the error view: its [`kind`](OidcRejection::kind) tells which);
//! [`recover`] answers it.
//!
//! What warp imposes on each protecting filter: it hands no filter the request's [`Uri`] nor
//! a borrowed [`HeaderMap`](http::HeaderMap), only the path, the raw query and an owned copy
//! of the headers, so each builds its own [`Parts`] from them; and [`recover`] sees the
//! rejection by reference only, so the response is moved out of it once rather than cloned.
//!
//! ```no_run
//! use std::sync::Arc;
//! use oidc_warp::{ClientMetadata, ProviderConfig, RelyingParty, UserSession};
//! use warp::Filter;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let rp = RelyingParty::builder("http://127.0.0.1:8080")
//!     .provider("default", ProviderConfig::discover("https://accounts.example.com")
//!         .client(ClientMetadata::new("my-app", "s3cret"))
//!         .build()?)
//!     .transport(oidc_warp::default_transport()?)
//!     .build()?;
//! let home = warp::path::end()
//!     .and(oidc_warp::user(rp.clone()))
//!     .map(|user: Arc<UserSession>| format!("hello {}", user.subject()));
//! let app = oidc_warp::routes(rp).or(home).recover(oidc_warp::recover);
//! warp::serve(app).run(([127, 0, 0, 1], 8080)).await;
//! # Ok(()) }
//! ```
//!
//! A whole app to copy, configured from the environment ([`oidc_runtime::Config::from_env`])
//! with a public page, a protected one, login and logout: `examples/warp-basic.rs` in this
//! crate (`cargo run -p oidc-warp --example warp-basic`), tested by `tests/basic_example.rs`.
//!
//! Put [`routes`] first, and [`user`] (and the other protecting filters) after the path and
//! method filters of the route it protects: a request without a session that reaches it starts
//! a login. Mind that warp tries the next alternative of an `or` after any rejection: a route
//! that follows a protected one on the same path and method would serve the refused request.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes, BytesMut};
use http::request::Parts;
use http::{Method, StatusCode, Uri};
use oidc_runtime::MAX_CALLBACK_BODY;
use warp::filters::path::FullPath;
use warp::{Filter, Rejection, Reply};

/// Starts a login from a handler with per-request parameters; extracted by [`login`].
pub use oidc_runtime::Login;
pub use oidc_runtime::{self, prelude::*};

fn with_rp(rp: RelyingParty) -> impl Filter<Extract = (RelyingParty,), Error = Infallible> + Clone {
    warp::any().map(move || rp.clone())
}

/// Extracts the request's method, path and query, and headers as [`http::request::Parts`]
/// (without the body), for calling [`RelyingParty`] methods such as
/// [`login`](RelyingParty::login) from a handler.
pub fn request_parts() -> impl Filter<Extract = (Parts,), Error = Infallible> + Clone {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .map(
            |method: Method, path: FullPath, query: Option<String>, headers| {
                // warp gives the path and the query apart: the URI is parsed again from them
                // (joined only when there is a query).
                let uri = match query {
                    Some(q) => format!("{}?{q}", path.as_str()).parse::<Uri>().ok(),
                    None => None,
                }
                .or_else(|| path.as_str().parse::<Uri>().ok())
                .unwrap_or_else(|| Uri::from_static("/"));
                let (mut parts, ()) = http::Request::new(()).into_parts();
                parts.method = method;
                parts.uri = uri;
                parts.headers = headers;
                parts
            },
        )
}

/// The request body, at most [`MAX_CALLBACK_BODY`] bytes; otherwise the status to answer.
fn capped_body() -> impl Filter<Extract = (Result<Bytes, StatusCode>,), Error = Rejection> + Clone {
    warp::body::stream().then(read_capped)
}

async fn read_capped<S, B>(stream: S) -> Result<Bytes, StatusCode>
where
    S: warp::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut body = BytesMut::new();
    while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        let mut chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        if body.len() + chunk.remaining() > MAX_CALLBACK_BODY {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            body.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(body.freeze())
}

fn status_response(status: StatusCode) -> http::Response<Bytes> {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

/// Serves the relying party's own routes: the redirect endpoint (`GET`, and `POST` for
/// `form_post`), logout, and the login route when configured. Any other path is rejected with
/// [`warp::reject::not_found`], so it falls through to the app's other filters.
pub fn routes(rp: RelyingParty) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let own_route =
        with_rp(rp)
            .and(warp::path::full())
            .and_then(|rp: RelyingParty, path: FullPath| {
                let found = rp.route(path.as_str()).is_some();
                async move {
                    if found {
                        Ok(rp)
                    } else {
                        Err(warp::reject::not_found())
                    }
                }
            });
    own_route.and(request_parts()).and(capped_body()).then(
        |rp: RelyingParty, parts: Parts, body: Result<Bytes, StatusCode>| async move {
            let body = match body {
                Ok(body) => body,
                Err(status) => return status_response(status),
            };
            rp.handle(http::Request::from_parts(parts, body))
                .await
                .unwrap_or_else(|| status_response(StatusCode::NOT_FOUND))
        },
    )
}

/// What an [`OidcRejection`] answers with, for an app's own `recover` that treats them
/// apart (its own page for `403`, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The user must log in (again): the login redirect, or a `401` (API-style requests,
    /// bearer tokens missing or invalid, with their `WWW-Authenticate` challenge).
    LoginRequired,
    /// The user or token is known but not allowed: a `403` (`insufficient_scope`,
    /// `insufficient_claims`).
    Forbidden,
    /// Anything else the relying party answered: the error view, a `400` for a malformed
    /// request, a JSON `5xx` when the provider or the configuration fails.
    Error,
}

impl RejectionKind {
    fn of(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => RejectionKind::LoginRequired,
            StatusCode::FORBIDDEN => RejectionKind::Forbidden,
            s if s.is_redirection() => RejectionKind::LoginRequired,
            _ => RejectionKind::Error,
        }
    }
}

/// The rejection of the protecting filters ([`user`], [`user_for`], [`access_token`],
/// [`bearer`], [`session_or_bearer`], [`claims`], ...). It carries the relying party's
/// response to answer instead: the login redirect, a `401` for API-style requests, or the
/// error view; for bearer tokens a `401` or `403` with a `WWW-Authenticate` challenge, a
/// `400`, or a JSON `5xx`. [`kind`](Self::kind) tells them apart; [`recover`] returns the
/// response.
pub struct OidcRejection {
    kind: RejectionKind,
    status: StatusCode,
    /// Taken once by [`recover`] (warp lends a rejection only by reference).
    response: Mutex<Option<http::Response<Bytes>>>,
}

/// The former name of [`OidcRejection`], which also carries `403`s and error views.
#[deprecated(note = "renamed OidcRejection: it also carries 403s and error views")]
pub type Unauthenticated = OidcRejection;

impl OidcRejection {
    fn new(response: http::Response<Bytes>) -> Self {
        OidcRejection {
            kind: RejectionKind::of(response.status()),
            status: response.status(),
            response: Mutex::new(Some(response)),
        }
    }

    /// What the response answers with: a login, a refusal, or an error.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// A copy of the response to answer instead of the protected route ([`recover`] moves it
    /// out instead). Once [`recover`] took it, only its status is left.
    pub fn response(&self) -> http::Response<Bytes> {
        let held = self.response.lock().unwrap_or_else(PoisonError::into_inner);
        match held.as_ref() {
            Some(held) => {
                let mut r = http::Response::new(held.body().clone());
                *r.status_mut() = held.status();
                *r.version_mut() = held.version();
                *r.headers_mut() = held.headers().clone();
                r
            }
            None => status_response(self.status),
        }
    }

    /// The response, moved out: [`recover`] owns the rejection, so it is answered once.
    fn take_response(&self) -> http::Response<Bytes> {
        let taken = self
            .response
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        taken.unwrap_or_else(|| status_response(self.status))
    }
}

impl std::fmt::Debug for OidcRejection {
    // Not the headers: they may set a session cookie.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcRejection")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl warp::reject::Reject for OidcRejection {}

/// The relying party's refusal as a rejection.
fn refused(response: http::Response<Bytes>) -> Rejection {
    warp::reject::custom(OidcRejection::new(response))
}

fn authenticated(
    rp: RelyingParty,
    provider: Option<Arc<str>>,
) -> impl Filter<Extract = (Arc<UserSession>,), Error = Rejection> + Clone {
    with_rp(rp)
        .and(request_parts())
        .and_then(move |rp: RelyingParty, parts: Parts| {
            let provider = provider.clone();
            async move {
                rp.authenticate(&parts, provider.as_deref())
                    .await
                    .map_err(refused)
            }
        })
}

/// Protects a route: extracts the user logged in with the default provider, or rejects with
/// [`OidcRejection`] (answered by [`recover`]), which starts a login. Place it after the
/// route's path and method filters.
pub fn user(
    rp: RelyingParty,
) -> impl Filter<Extract = (Arc<UserSession>,), Error = Rejection> + Clone {
    authenticated(rp, None)
}

/// Like [`user`], for the named provider: a session from another provider does not count.
pub fn user_for(
    rp: RelyingParty,
    provider: &str,
) -> impl Filter<Extract = (Arc<UserSession>,), Error = Rejection> + Clone {
    authenticated(rp, Some(Arc::from(provider)))
}

/// Like [`user`] (or [`user_for`] with a `provider`), with login parameters of the route's own:
/// a login it starts sends them, and a session that does not meet their `acr_values` or
/// `max_age` logs in again with them (step-up authentication; see
/// [`RelyingParty::authenticate_with`]).
///
/// ```
/// # fn routes(rp: oidc_warp::RelyingParty) {
/// use oidc_warp::LoginParams;
/// use warp::Filter;
/// let payments = warp::path!("payments")
///     .and(oidc_warp::user_with(rp, None, LoginParams::new().acr_values(["mfa"])))
///     .map(|user: std::sync::Arc<oidc_warp::UserSession>| format!("hello {}", user.subject()));
/// # }
/// ```
pub fn user_with(
    rp: RelyingParty,
    provider: Option<&str>,
    params: LoginParams,
) -> impl Filter<Extract = (Arc<UserSession>,), Error = Rejection> + Clone {
    let provider: Option<Arc<str>> = provider.map(Arc::from);
    let params = Arc::new(params);
    with_rp(rp)
        .and(request_parts())
        .and_then(move |rp: RelyingParty, parts: Parts| {
            let provider = provider.clone();
            let params = params.clone();
            async move {
                rp.authenticate_with(&parts, provider.as_deref(), &params)
                    .await
                    .map_err(refused)
            }
        })
}

/// Protects a route like [`user`] and extracts the user's claims (the ID token's, plus
/// userinfo's; see [`UserSession::claims`]) read into the app's type; when they do not fit
/// `T` (a claim it needs is missing) it rejects with the error view (`403`,
/// `insufficient_claims`).
///
/// ```
/// # fn routes(rp: oidc_warp::RelyingParty) {
/// use warp::Filter;
///
/// #[derive(serde::Deserialize)]
/// struct Me {
///     email: String,
/// }
///
/// let me = warp::path!("me")
///     .and(oidc_warp::claims::<Me>(rp))
///     .map(|me: Me| me.email);
/// # }
/// ```
pub fn claims<T>(rp: RelyingParty) -> impl Filter<Extract = (T,), Error = Rejection> + Clone
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    with_rp(rp)
        .and(request_parts())
        .and_then(|rp: RelyingParty, parts: Parts| async move {
            let user = rp.authenticate(&parts, None).await.map_err(refused)?;
            user.claims::<T>()
                .map_err(|e| refused(rp.error_response(&e.into())))
        })
}

/// Extracts the logged-in user's claims read into the app's type if there is a user (with any
/// provider), as [`maybe_user`]: `None` for an anonymous request, which does not start a login.
/// A logged-in user whose claims do not fit `T` is rejected as by [`claims`] (`403`
/// `insufficient_claims`), not taken for anonymous, which an `or` fallback after [`claims`]
/// would do.
///
/// ```
/// # fn routes(rp: oidc_warp::RelyingParty) {
/// use warp::Filter;
///
/// #[derive(serde::Deserialize)]
/// struct Me {
///     email: String,
/// }
///
/// let home = warp::path::end()
///     .and(oidc_warp::maybe_claims::<Me>(rp))
///     .map(|me: Option<Me>| match me {
///         Some(me) => format!("Hello, {}", me.email),
///         None => "Hello, stranger".to_owned(),
///     });
/// # }
/// ```
pub fn maybe_claims<T>(
    rp: RelyingParty,
) -> impl Filter<Extract = (Option<T>,), Error = Rejection> + Clone
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    with_rp(rp)
        .and(request_parts())
        .and_then(|rp: RelyingParty, parts: Parts| async move {
            match rp.session(&parts).await {
                Some(user) => user
                    .claims::<T>()
                    .map(Some)
                    .map_err(|e| refused(rp.error_response(&e.into()))),
                None => Ok(None),
            }
        })
}

/// Extracts a [`Login`] for the request: it starts a login from a handler, with parameters
/// chosen for this request (a "log in as" link with a `login_hint`, a step-up with
/// `acr_values`, a `prompt=login`); its `redirect` is the reply. The protocol's own parameters
/// cannot be set (the error view answers).
///
/// ```
/// # fn routes(rp: oidc_warp::RelyingParty) {
/// use oidc_warp::{Login, LoginParams};
/// use std::collections::HashMap;
/// use warp::Filter;
/// let log_in_as = warp::path!("login")
///     .and(oidc_warp::login(rp))
///     .and(warp::query::<HashMap<String, String>>())
///     .then(|login: Login, q: HashMap<String, String>| async move {
///         let hint = q.get("email").cloned().unwrap_or_default();
///         login.redirect("/", &LoginParams::new().login_hint(hint)).await
///     });
/// # }
/// ```
pub fn login(rp: RelyingParty) -> impl Filter<Extract = (Login,), Error = Infallible> + Clone {
    with_rp(rp).and(request_parts()).map(Login::from_parts)
}

/// Extracts the logged-in user if there is one (whatever the provider), without requiring a
/// login.
pub fn maybe_user(
    rp: RelyingParty,
) -> impl Filter<Extract = (Option<Arc<UserSession>>,), Error = Infallible> + Clone {
    with_rp(rp)
        .and(request_parts())
        .then(|rp: RelyingParty, parts: Parts| async move { rp.session(&parts).await })
}

fn valid_access_token(
    rp: RelyingParty,
    force: bool,
) -> impl Filter<Extract = (Secret,), Error = Rejection> + Clone {
    with_rp(rp)
        .and(request_parts())
        .and_then(move |rp: RelyingParty, parts: Parts| async move {
            rp.require_access_token(&parts, force)
                .await
                .map_err(refused)
        })
}

/// Protects a route like [`user`] and extracts a valid access token for the logged-in user,
/// refreshed with the refresh token when it is due. Without a session, or when the session can
/// no longer get a token (the refresh token was refused, or the token expired and there is
/// none), it rejects with [`OidcRejection`] carrying the login (a `401` for API-style
/// requests); when the provider cannot be reached, the error view.
///
/// ```
/// use oidc_warp::{RelyingParty, Secret};
/// use warp::Filter;
///
/// fn call_api(
///     rp: RelyingParty,
/// ) -> impl Filter<Extract = (String,), Error = warp::Rejection> + Clone {
///     warp::path!("call-api")
///         .and(warp::get())
///         .and(oidc_warp::access_token(rp))
///         // Send `token.expose()` as `Authorization: Bearer ...` to a resource server.
///         .map(|token: Secret| format!("{} bytes of token", token.expose().len()))
/// }
/// ```
pub fn access_token(
    rp: RelyingParty,
) -> impl Filter<Extract = (Secret,), Error = Rejection> + Clone {
    valid_access_token(rp, false)
}

/// Like [`access_token`], but refreshes the token whether or not it is due (after a resource
/// server refused it, say). Concurrent requests of one session share one refresh.
pub fn refreshed_access_token(
    rp: RelyingParty,
) -> impl Filter<Extract = (Secret,), Error = Rejection> + Clone {
    valid_access_token(rp, true)
}

/// Protects an API route with a bearer token (RFC 6750) and extracts it, validated: a missing
/// or invalid token rejects with [`OidcRejection`] carrying a `401` with a
/// `WWW-Authenticate` challenge, a token lacking a required scope a `403`
/// (`insufficient_scope`); never a login redirect. Validation (introspection or JWT), audience
/// and required scopes are the relying party's
/// ([`bearer_validation`](RelyingPartyBuilder::bearer_validation),
/// [`bearer_scopes`](RelyingPartyBuilder::bearer_scopes), ...).
///
/// ```
/// use oidc_warp::{RelyingParty, TokenIdentity};
/// use warp::Filter;
///
/// fn me(
///     rp: RelyingParty,
/// ) -> impl Filter<Extract = (warp::reply::Json,), Error = warp::Rejection> + Clone {
///     warp::path!("api" / "me")
///         .and(warp::get())
///         .and(oidc_warp::bearer(rp))
///         .map(|token: TokenIdentity| warp::reply::json(&token.claims))
/// }
/// ```
pub fn bearer(
    rp: RelyingParty,
) -> impl Filter<Extract = (TokenIdentity,), Error = Rejection> + Clone {
    bearer_with(rp, BearerRequirements::new())
}

/// Like [`bearer`], with route-specific `requirements` on top of the relying party's
/// configuration: scopes (added to the configured ones), audience, validation, provider.
///
/// ```
/// use oidc_warp::{BearerRequirements, RelyingParty, TokenIdentity};
/// use warp::Filter;
///
/// fn orders(
///     rp: RelyingParty,
/// ) -> impl Filter<Extract = (String,), Error = warp::Rejection> + Clone {
///     let read = BearerRequirements::new().scopes(["orders.read"]);
///     warp::path!("api" / "orders")
///         .and(warp::get())
///         .and(oidc_warp::bearer_with(rp, read))
///         .map(|token: TokenIdentity| format!("orders of {:?}", token.subject()))
/// }
/// ```
pub fn bearer_with(
    rp: RelyingParty,
    requirements: BearerRequirements,
) -> impl Filter<Extract = (TokenIdentity,), Error = Rejection> + Clone {
    let requirements = Arc::new(requirements);
    with_rp(rp)
        .and(request_parts())
        .and_then(move |rp: RelyingParty, parts: Parts| {
            let requirements = requirements.clone();
            async move {
                rp.authorize_bearer(&parts, &requirements)
                    .await
                    .map_err(refused)
            }
        })
}

/// Protects a route for browsers and API clients alike (Flask-pyoidc's `access_control`) and
/// extracts who the request comes from: a request with an `Authorization` header is judged by
/// its bearer token alone (a `401`/`403` when bad, never a login redirect); one without needs a
/// logged-in session (the login redirect, or a `401` for API-style requests: JSON clients and
/// anything but `GET`). `requirements` (use [`BearerRequirements::new`] for none beyond the
/// relying party's) name the provider for both, and the scopes for tokens.
pub fn session_or_bearer(
    rp: RelyingParty,
    requirements: BearerRequirements,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone {
    let requirements = Arc::new(requirements);
    with_rp(rp)
        .and(request_parts())
        .and_then(move |rp: RelyingParty, parts: Parts| {
            let requirements = requirements.clone();
            async move {
                rp.session_or_bearer(&parts, &requirements)
                    .await
                    .map_err(refused)
            }
        })
}

/// Answers an [`OidcRejection`] with the response it carries; passes any other rejection on.
/// Use it as `.recover(oidc_warp::recover)`.
pub async fn recover(rejection: Rejection) -> Result<http::Response<Bytes>, Rejection> {
    match rejection.find::<OidcRejection>() {
        Some(refusal) => Ok(refusal.take_response()),
        None => Err(rejection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: StatusCode) -> http::Response<Bytes> {
        let mut r = http::Response::new(Bytes::from_static(b"body"));
        *r.status_mut() = status;
        r.headers_mut().insert(
            http::header::SET_COOKIE,
            http::HeaderValue::from_static("oidc_session=s3ss10n; Path=/"),
        );
        r
    }

    #[test]
    fn the_kind_names_what_the_rejection_carries() {
        for (status, kind) in [
            (StatusCode::FOUND, RejectionKind::LoginRequired),
            (StatusCode::UNAUTHORIZED, RejectionKind::LoginRequired),
            (StatusCode::FORBIDDEN, RejectionKind::Forbidden),
            (StatusCode::BAD_REQUEST, RejectionKind::Error),
            (StatusCode::BAD_GATEWAY, RejectionKind::Error),
        ] {
            let rejection = OidcRejection::new(response(status));
            assert_eq!(rejection.kind(), kind, "{status}");
            assert_eq!(rejection.status(), status);
            // The session cookie it may set stays out of logs.
            assert!(!format!("{rejection:?}").contains("s3ss10n"));
        }
    }

    #[tokio::test]
    async fn recover_answers_with_the_carried_response_whole() {
        let rejection = warp::reject::custom(OidcRejection::new(response(StatusCode::FORBIDDEN)));
        let copy = rejection.find::<OidcRejection>().expect("ours").response();
        let answered = recover(rejection).await.expect("answered");
        for r in [&copy, &answered] {
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
            assert_eq!(r.body(), &Bytes::from_static(b"body"));
            assert_eq!(
                r.headers()[http::header::SET_COOKIE],
                "oidc_session=s3ss10n; Path=/"
            );
        }
        let other = recover(warp::reject::not_found()).await;
        assert!(other.is_err(), "not ours: passed on");
    }
}
