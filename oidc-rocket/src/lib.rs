//! # oidc-rocket
//!
//! OpenID Connect login, sessions and logout for [Rocket](rocket) 0.5, over the sans-IO
//! [`oidc_core`] driven by [`oidc_runtime`].
//!
//! - [`OidcFairing`] manages the [`RelyingParty`] as state (handlers can take
//!   `&State<RelyingParty>`) and mounts its routes: the redirect endpoint (`GET` and `POST`),
//!   logout, and the login route when one is configured;
//! - the [`OidcUser`] request guard protects a handler: it yields the logged-in [`UserSession`]
//!   or the request is answered with the login redirect (`401` for API-style requests);
//! - [`ProviderUser`] does the same for a named provider, [`UserWith`] with login parameters a
//!   [`LoginPolicy`] names (step-up authentication), [`MaybeUser`] reads the session without
//!   requiring one;
//! - [`Claims`] protects a handler like [`OidcUser`] and reads the user's claims into the
//!   app's own `serde` type ([`UserSession::claims`]; accessors such as
//!   [`UserSession::email`] read the standard ones); [`MaybeClaims`] reads them without
//!   requiring a login;
//! - the [`Login`] guard starts a login from a handler with per-request [`LoginParams`] (a
//!   `login_hint`, `acr_values`, `prompt`...), answered by the [`LoginRedirect`] responder;
//! - [`AccessToken`] yields a valid access token for the logged-in user, refreshing it when due
//!   ([`RefreshedAccessToken`] refreshes it in any case);
//! - [`BearerIdentity`] protects an API handler with a bearer token (introspection or JWT
//!   validation), [`BearerWith`] adds route-specific requirements (scopes, audience) named by a
//!   [`BearerPolicy`];
//! - [`SessionOrBearer`] (and [`SessionOrBearerWith`]) accepts a bearer token, or a browser
//!   session when there is no `Authorization` header;
//! - a failing guard is answered through Rocket's catchers ([`catchers()`], registered by the
//!   fairing unless the app has its own `401` catcher; [`guard_response`] for the app's own);
//! - [`OidcFairing::from_figment`] reads the configuration from `Rocket.toml`
//!   (`[default.oidc]`).
//!
//! ```no_run
//! use oidc_rocket::{ClientMetadata, OidcFairing, OidcUser, ProviderConfig, RelyingParty};
//!
//! #[rocket::get("/")]
//! fn home(user: OidcUser) -> String {
//!     format!("Hello, {}!", user.subject())
//! }
//!
//! #[rocket::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let rp = RelyingParty::builder("http://127.0.0.1:8000")
//!         .provider("default", ProviderConfig::discover("https://accounts.example.com")
//!             .client(ClientMetadata::new("my-app", "s3cret")).build()?)
//!         .transport(oidc_rocket::default_transport()?)
//!         .build()?;
//!     let app = rocket::build().attach(OidcFairing::new(rp));
//!     app.mount("/", rocket::routes![home]).launch().await?;
//!     Ok(())
//! }
//! ```
//!
//! A whole app to copy, configured from the environment ([`oidc_runtime::Config::from_env`])
//! with a public page, a protected one, login and logout: `examples/rocket-basic.rs` in this
//! crate (`cargo run -p oidc-rocket --example rocket-basic`), tested by
//! `tests/basic_example.rs`.
//!
//! ## How a failing guard answers
//! A Rocket request guard cannot return a response of its own. When a guard of this crate
//! fails, it keeps the relying party's answer in the request's local cache (the login
//! redirect, the `401` for API requests, the error view; for bearer tokens a `401` or `403`
//! with a `WWW-Authenticate` challenge, a `400`, or a JSON `5xx`) and fails with
//! `401 Unauthorized`, whatever the kept status. Rocket then runs its `401` catcher, and the
//! catcher of this crate ([`catchers()`]) sends the kept answer: the client sees exactly the
//! relying party's status, headers and body (plus headers fairings add, such as Shield's).
//!
//! [`OidcFairing`] registers that catcher at `/` unless the app registered a `401` catcher
//! there itself: then the app's catcher answers, and its answer stands (it may send the kept
//! answer with [`guard_response`] when it wants to). Register [`catchers()`] under a base to
//! have it answer there in place of an outer catcher of the app's.
//!
//! ## Configuration from `Rocket.toml`
//! [`OidcFairing::from_figment`] reads the relying party from the app's Rocket configuration
//! (`[default.oidc]`, or `ROCKET_OIDC`) as an [`oidc_runtime::Config`]; see there for the
//! fields.
//!
//! A handler that takes `Option<OidcUser>` runs without a session; prefer [`MaybeUser`] there,
//! which does not start a login. If such a handler answers `401` itself, the login response
//! is sent by the catcher of this crate (the same holds for the other guards taken as `Option`
//! or `Result`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::future::Future;
use std::io::Cursor;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use oidc_runtime::MAX_CALLBACK_BODY;
use rocket::data::{Data, ToByteUnit};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Response;
use rocket::route::{self, Handler, Route};
use rocket::{Build, Rocket};

pub use oidc_runtime::{self, prelude::*};

/// The status every failing guard of this crate fails with, whatever the relying party's
/// answer: the catcher for it sends that answer.
const REFUSED: Status = Status::Unauthorized;

/// The request as the core sees it. Rocket 0.5 speaks `http` 0.2; the core `http` 1: the
/// method, URI and headers cross as strings. Headers `http` refuses are left out.
fn to_http(request: &Request<'_>, body: Bytes) -> Result<http::Request<Bytes>, Status> {
    let method = http::Method::from_bytes(request.method().as_str().as_bytes())
        .map_err(|_| Status::BadRequest)?;
    // The raw path and query, as Rocket received them (what `Origin`'s `Display` writes),
    // without going through the formatter: every guarded request converts its URI.
    let origin = request.uri();
    let path = origin.path().as_str();
    let uri = match origin.query() {
        None => http::Uri::try_from(path),
        Some(query) => http::Uri::try_from([path, "?", query.as_str()].concat()),
    }
    .map_err(|_| Status::BadRequest)?;
    let mut out = http::Request::new(body);
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    let headers = out.headers_mut();
    headers.reserve(request.headers().len());
    for header in request.headers().iter() {
        let name = http::HeaderName::from_bytes(header.name().as_str().as_bytes());
        let value = http::HeaderValue::from_str(header.value());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    Ok(out)
}

/// The core's response as a Rocket response: status, every header (each `Set-Cookie` on its
/// own), body.
fn to_rocket<'r>(response: http::Response<Bytes>) -> Response<'r> {
    let (parts, body) = response.into_parts();
    let mut out = Response::new();
    out.set_status(Status::new(parts.status.as_u16()));
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_LENGTH {
            continue; // Rocket frames the body itself.
        }
        match value.to_str() {
            Ok(v) => out.adjoin_raw_header(name.as_str().to_owned(), v.to_owned()),
            Err(_) => tracing::warn!(header = %name, "dropping a non-UTF-8 response header"),
        }
    }
    out.set_sized_body(body.len(), Cursor::new(body));
    out
}

/// The relying party's route handler: converts the request, calls [`RelyingParty::handle`],
/// converts the answer.
#[derive(Clone)]
struct RpHandler {
    rp: RelyingParty,
}

#[rocket::async_trait]
impl Handler for RpHandler {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        if self.rp.route(request.uri().path().as_str()).is_none() {
            return route::Outcome::Forward((data, Status::NotFound));
        }
        let body = match data.open(MAX_CALLBACK_BODY.bytes()).into_bytes().await {
            Ok(body) if body.is_complete() => Bytes::from(body.into_inner()),
            Ok(_) => return route::Outcome::Error(Status::PayloadTooLarge),
            Err(e) => {
                tracing::warn!(
                    error = %oidc_runtime::log_safe(&e.to_string()),
                    "could not read the request body"
                );
                return route::Outcome::Error(Status::BadRequest);
            }
        };
        let request = match to_http(request, body) {
            Ok(r) => r,
            Err(status) => return route::Outcome::Error(status),
        };
        match self.rp.handle(request).await {
            Some(response) => route::Outcome::Success(to_rocket(response)),
            None => route::Outcome::Error(Status::NotFound),
        }
    }
}

/// The fairing that wires a [`RelyingParty`] into Rocket.
///
/// On ignite it manages the relying party as state and mounts its routes at every one of
/// [`RelyingParty::redirect_paths`] (`GET`, `POST`; one per provider when there are several),
/// [`RelyingParty::logout_path`] (`GET`, and `POST` for the confirmation a logout from another
/// site asks for) and
/// [`RelyingParty::login_path`] (`GET`) when the relying party has one, each with and without
/// the app's path prefix ([`RelyingParty::route_paths`]), so that the app also works behind a
/// proxy that strips the prefix. Unless the app registered a `401` catcher at `/` itself, it
/// also registers [`catchers()`] there (see
/// [how a failing guard answers](crate#how-a-failing-guard-answers)).
///
/// The relying party is given ready-made ([`new`](Self::new)) or read from the app's Rocket
/// configuration at ignite ([`from_figment`](Self::from_figment)).
///
/// Ignition fails when a `RelyingParty` is already managed, when a route path is not a
/// valid Rocket route URI, or when the configuration cannot be read or built.
#[derive(Clone)]
pub struct OidcFairing {
    source: Source,
}

/// Turns the builder read from the configuration into the app's: the code-valued parts
/// (transport, store, error view) that configuration cannot hold.
type Customize = Arc<dyn Fn(RelyingPartyBuilder) -> RelyingPartyBuilder + Send + Sync>;

#[derive(Clone)]
enum Source {
    Ready(RelyingParty),
    Figment {
        key: &'static str,
        customize: Customize,
        default_transport: bool,
    },
}

impl std::fmt::Debug for OidcFairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Ready(rp) => f.debug_tuple("OidcFairing").field(rp).finish(),
            Source::Figment { key, .. } => f
                .debug_struct("OidcFairing")
                .field("figment_key", key)
                .finish_non_exhaustive(),
        }
    }
}

/// The configuration key [`OidcFairing::from_figment`] reads (`[default.oidc]` in
/// `Rocket.toml`, `ROCKET_OIDC={...}` in the environment).
pub const CONFIG_KEY: &str = "oidc";

impl OidcFairing {
    /// The fairing for a relying party.
    pub fn new(rp: RelyingParty) -> Self {
        OidcFairing {
            source: Source::Ready(rp),
        }
    }

    /// The fairing for the relying party the app's Rocket configuration describes: at ignite
    /// it reads the [`CONFIG_KEY`] table of `rocket.figment()` (`[default.oidc]` in
    /// `Rocket.toml`, with Rocket's profiles and `ROCKET_` environment overrides) as an
    /// [`oidc_runtime::Config`] and builds it with [`default_transport`].
    ///
    /// ```toml
    /// [default.oidc]
    /// app_url = "https://app.example"
    /// session = { secret = "a session secret of at least thirty-two bytes" }
    ///
    /// [default.oidc.providers.default]
    /// issuer = "https://accounts.example.com"
    /// client_id = "my-app"
    /// client_secret = "s3cret"
    /// ```
    ///
    /// ```no_run
    /// #[rocket::launch]
    /// fn rocket() -> _ {
    ///     rocket::build().attach(oidc_rocket::OidcFairing::from_figment())
    /// }
    /// ```
    #[cfg(feature = "reqwest")]
    pub fn from_figment() -> Self {
        OidcFairing {
            source: Source::Figment {
                key: CONFIG_KEY,
                customize: Arc::new(|builder| builder),
                default_transport: true,
            },
        }
    }

    /// [`from_figment`](Self::from_figment) with the parts configuration cannot hold added by
    /// `customize`: it receives the builder read from the configuration and must set a
    /// transport ([`RelyingPartyBuilder::transport`]); it may add a session store, an error
    /// view...
    ///
    /// ```no_run
    /// # let transport = oidc_rocket::default_transport().unwrap();
    /// let fairing = oidc_rocket::OidcFairing::from_figment_with(move |builder| {
    ///     builder.transport(transport.clone())
    /// });
    /// ```
    pub fn from_figment_with(
        customize: impl Fn(RelyingPartyBuilder) -> RelyingPartyBuilder + Send + Sync + 'static,
    ) -> Self {
        OidcFairing {
            source: Source::Figment {
                key: CONFIG_KEY,
                customize: Arc::new(customize),
                default_transport: false,
            },
        }
    }

    /// The relying party: the given one, or the one the configuration describes.
    fn relying_party(&self, figment: &rocket::figment::Figment) -> Option<RelyingParty> {
        let (key, customize, default_transport) = match &self.source {
            Source::Ready(rp) => return Some(rp.clone()),
            Source::Figment {
                key,
                customize,
                default_transport,
            } => (*key, customize, *default_transport),
        };
        let config: oidc_runtime::Config = match figment.extract_inner(key) {
            Ok(config) => config,
            Err(errors) => {
                for e in errors {
                    tracing::error!(
                        key = %e.path.join("."),
                        error = config_error(&e.kind),
                        "cannot read the OpenID Connect configuration"
                    );
                }
                return None;
            }
        };
        let mut builder = match config.builder() {
            Ok(builder) => builder,
            Err(e) => {
                tracing::error!(key, error = %e, "invalid OpenID Connect configuration");
                return None;
            }
        };
        if default_transport {
            builder = with_default_transport(builder)?;
        }
        match customize(builder).build() {
            Ok(rp) => Some(rp),
            Err(e) => {
                tracing::error!(key, error = %e, "cannot build the relying party");
                None
            }
        }
    }
}

/// What is wrong with a configuration value, without the value: figment's own messages quote
/// it, and it may be a client secret.
fn config_error(kind: &rocket::figment::error::Kind) -> String {
    use rocket::figment::error::Kind;
    match kind {
        Kind::MissingField(field) => format!("missing field `{field}`"),
        Kind::UnknownField(field, _) => format!("unknown field `{field}`"),
        Kind::DuplicateField(field) => format!("duplicate field `{field}`"),
        Kind::UnknownVariant(..) => "unknown variant".into(),
        Kind::InvalidType(_, expected) => format!("invalid type: expected {expected}"),
        Kind::InvalidValue(_, expected) => format!("invalid value: expected {expected}"),
        Kind::InvalidLength(_, expected) => format!("invalid length: expected {expected}"),
        _ => "invalid value".into(),
    }
}

#[cfg(feature = "reqwest")]
fn with_default_transport(builder: RelyingPartyBuilder) -> Option<RelyingPartyBuilder> {
    match default_transport() {
        Ok(transport) => Some(builder.transport(transport)),
        Err(e) => {
            tracing::error!(error = %e, "cannot create the HTTP transport");
            None
        }
    }
}

#[cfg(not(feature = "reqwest"))]
fn with_default_transport(builder: RelyingPartyBuilder) -> Option<RelyingPartyBuilder> {
    Some(builder)
}

/// The catchers that answer a failing guard of this crate with the relying party's response
/// (see [how a failing guard answers](crate#how-a-failing-guard-answers)): one for `401`.
/// [`OidcFairing`] registers them at `/` unless the app has a `401` catcher there; register
/// them yourself under a base to have them answer there in place of an outer catcher of yours:
///
/// ```no_run
/// # let rp: oidc_rocket::RelyingParty = unimplemented!();
/// rocket::build()
///     .attach(oidc_rocket::OidcFairing::new(rp))
///     .register("/account", oidc_rocket::catchers());
/// ```
pub fn catchers() -> Vec<rocket::Catcher> {
    let mut catcher = rocket::Catcher::new(REFUSED.code, answer_refusal);
    catcher.name = Some("oidc guard response".into());
    vec![catcher]
}

/// The response a failing guard of this crate kept for `request`, taken (so that it is sent
/// once): for an app's own `401` catcher that wants to send it in some cases. `None` when no
/// guard of this crate failed (the `401` comes from elsewhere).
///
/// ```
/// use oidc_rocket::GuardResponse;
/// use rocket::{catch, Request};
///
/// #[catch(401)]
/// fn unauthorized(request: &Request<'_>) -> Result<GuardResponse, &'static str> {
///     oidc_rocket::guard_response(request).ok_or("you are not allowed here")
/// }
/// ```
pub fn guard_response(request: &Request<'_>) -> Option<GuardResponse> {
    let pending = request.local_cache(PendingResponse::default);
    let kept = pending
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()?;
    Some(GuardResponse(kept))
}

/// The relying party's answer to a request a guard of this crate refused (see
/// [`guard_response`]): the login redirect, a `401` or `403`, the error view.
pub struct GuardResponse(pub oidc_runtime::Response);

impl std::fmt::Debug for GuardResponse {
    // Not the headers: they may set the login cookie.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardResponse")
            .field("status", &self.0.status())
            .finish_non_exhaustive()
    }
}

impl<'r, 'o: 'r> rocket::response::Responder<'r, 'o> for GuardResponse {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'o> {
        Ok(to_rocket(self.0))
    }
}

fn answer_refusal<'r>(status: Status, request: &'r Request<'_>) -> rocket::catcher::BoxFuture<'r> {
    Box::pin(async move {
        Ok(guard_response(request)
            .map(|r| to_rocket(r.0))
            .unwrap_or_else(|| {
                // A 401 of the app's own handler: a short page, as Rocket's default would be.
                let body = Bytes::from(format!("{} {}", status.code, status.reason_lossy()));
                let mut out = Response::new();
                out.set_status(status);
                out.set_header(rocket::http::ContentType::Plain);
                out.set_sized_body(body.len(), Cursor::new(body));
                out
            }))
    })
}

fn named(mut route: Route, name: &'static str) -> Route {
    route.name = Some(name.into());
    route
}

/// Whether `path` can be mounted as a static Rocket route.
fn valid_route_path(path: &str) -> bool {
    !path.contains(['<', '>']) && Origin::parse_route(path).is_ok()
}

/// The failing guard's response, kept for the catcher.
#[derive(Default)]
struct PendingResponse(Mutex<Option<oidc_runtime::Response>>);

#[rocket::async_trait]
impl Fairing for OidcFairing {
    fn info(&self) -> Info {
        Info {
            name: "OpenID Connect",
            kind: Kind::Ignite | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        if rocket.state::<RelyingParty>().is_some() {
            tracing::error!("a RelyingParty is already managed: attach OidcFairing instead");
            return Err(rocket);
        }
        let Some(rp) = self.relying_party(rocket.figment()) else {
            return Err(rocket);
        };
        // Each path with and without the app's prefix, which a proxy in front may strip.
        let paths = rp.route_paths();
        for (_, path) in &paths {
            if !valid_route_path(path) {
                tracing::error!(path, "not a valid Rocket route path");
                return Err(rocket);
            }
        }
        let handler = RpHandler { rp: rp.clone() };
        let mut routes = Vec::new();
        for (route, path) in paths {
            for method in route.methods() {
                let (method, name) = match (route, method.as_str()) {
                    (oidc_runtime::Route::Redirect, "POST") => {
                        (Method::Post, "oidc redirect endpoint (form_post)")
                    }
                    (oidc_runtime::Route::Redirect, _) => (Method::Get, "oidc redirect endpoint"),
                    (oidc_runtime::Route::Logout, "POST") => {
                        (Method::Post, "oidc logout confirmation")
                    }
                    (oidc_runtime::Route::Logout, _) => (Method::Get, "oidc logout"),
                    (oidc_runtime::Route::BackchannelLogout, _) => {
                        (Method::Post, "oidc back-channel logout")
                    }
                    (oidc_runtime::Route::FrontchannelLogout, _) => {
                        (Method::Get, "oidc front-channel logout")
                    }
                    (oidc_runtime::Route::Jwks, _) => (Method::Get, "oidc client jwks"),
                    (_, "POST") => (Method::Post, "oidc route"),
                    _ => (Method::Get, "oidc login"),
                };
                routes.push(named(Route::new(method, path, handler.clone()), name));
            }
        }
        // The app's own 401 catcher at the root stands (registering ours would collide).
        let app_catcher = rocket
            .catchers()
            .any(|c| c.code == Some(REFUSED.code) && c.base.path() == "/");
        let rocket = if app_catcher {
            rocket
        } else {
            rocket.register("/", catchers())
        };
        Ok(rocket.manage(rp).mount("/", routes))
    }
}

/// Why a guard of this crate failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardError {
    /// [`OidcFairing`] is not attached: the request fails with `500`.
    NotConfigured,
    /// There is no suitable session: the request is answered with the relying party's
    /// response (the login redirect, `401` for API-style requests, or the error view).
    LoginRequired,
    /// The request could not be read as an HTTP request (`400`).
    BadRequest,
    /// The bearer token is missing, malformed, invalid or lacks a required scope, or could not
    /// be validated: the request is answered with the relying party's response (`401` or `403`
    /// with a `WWW-Authenticate` challenge, `400`, or a JSON `5xx`).
    BearerRefused,
    /// The logged-in user's claims do not fit the type [`Claims`] or [`MaybeClaims`] reads:
    /// the request is answered with the error view (`403` `insufficient_claims`).
    InsufficientClaims,
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GuardError::NotConfigured => "OidcFairing is not attached",
            GuardError::LoginRequired => "login required",
            GuardError::BadRequest => "the request could not be read",
            GuardError::BearerRefused => "bearer token refused",
            GuardError::InsufficientClaims => "the user's claims do not fit",
        })
    }
}

impl std::error::Error for GuardError {}

fn relying_party<'r>(request: &'r Request<'_>) -> Result<&'r RelyingParty, (Status, GuardError)> {
    request.rocket().state::<RelyingParty>().ok_or_else(|| {
        tracing::error!("an oidc-rocket guard is used without OidcFairing");
        (Status::InternalServerError, GuardError::NotConfigured)
    })
}

/// The request head as the runtime reads it, converted once per request: every guard of the
/// request (and a handler's several guards) borrows the same copy from Rocket's local cache.
struct CachedParts(Result<http::request::Parts, Status>);

fn parts<'r>(request: &'r Request<'_>) -> Result<&'r http::request::Parts, (Status, GuardError)> {
    let cached = request
        .local_cache(|| CachedParts(to_http(request, Bytes::new()).map(|r| r.into_parts().0)));
    cached
        .0
        .as_ref()
        .map_err(|status| (*status, GuardError::BadRequest))
}

/// Runs a relying-party call for a guard: the call's refusal is kept for the catcher and the guard fails with [`REFUSED`] and `error`.
async fn guard<'r, T, F, Fut>(
    request: &'r Request<'_>,
    error: GuardError,
    call: F,
) -> Outcome<T, GuardError>
where
    F: FnOnce(&'r RelyingParty, &'r http::request::Parts) -> Fut,
    Fut: Future<Output = Result<T, oidc_runtime::Response>>,
{
    let rp = match relying_party(request) {
        Ok(rp) => rp,
        Err(e) => return Outcome::Error(e),
    };
    let parts = match parts(request) {
        Ok(parts) => parts,
        Err(e) => return Outcome::Error(e),
    };
    match call(rp, parts).await {
        Ok(value) => Outcome::Success(value),
        Err(response) => refuse(request, response, error),
    }
}

/// Keeps `response` for the catcher and fails the guard with [`REFUSED`] and `error`.
fn refuse<T>(
    request: &Request<'_>,
    response: oidc_runtime::Response,
    error: GuardError,
) -> Outcome<T, GuardError> {
    let pending = request.local_cache(PendingResponse::default);
    *pending.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(response);
    Outcome::Error((REFUSED, error))
}

/// [`RelyingParty::authenticate`] for a guard.
async fn authenticate(
    request: &Request<'_>,
    provider: Option<&str>,
) -> Outcome<Arc<UserSession>, GuardError> {
    guard(request, GuardError::LoginRequired, |rp, parts| async move {
        rp.authenticate(parts, provider).await
    })
    .await
}

/// The logged-in user. As a request guard it protects the handler: without a valid session
/// with the default provider the handler is not called and the user is sent to log in (API
/// clients get `401`).
#[derive(Clone, Debug)]
pub struct OidcUser(pub Arc<UserSession>);

impl Deref for OidcUser {
    type Target = UserSession;

    fn deref(&self) -> &UserSession {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OidcUser {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        authenticate(request, None).await.map(OidcUser)
    }
}

/// Names a provider for [`ProviderUser`].
///
/// ```
/// use oidc_rocket::{ProviderName, ProviderUser};
///
/// struct Corporate;
/// impl ProviderName for Corporate {
///     const NAME: &'static str = "corporate";
/// }
///
/// #[rocket::get("/admin")]
/// fn admin(user: ProviderUser<Corporate>) -> String {
///     format!("Hello, {}", user.subject())
/// }
/// ```
pub trait ProviderName: Send + Sync + 'static {
    /// The provider's name, as given to [`RelyingPartyBuilder::provider`].
    const NAME: &'static str;
}

/// The user logged in with the provider `P` names. As a request guard it is [`OidcUser`] for
/// that provider: a session from another provider does not count.
pub struct ProviderUser<P: ProviderName>(pub Arc<UserSession>, PhantomData<fn() -> P>);

impl<P: ProviderName> ProviderUser<P> {
    /// The session.
    pub fn into_inner(self) -> Arc<UserSession> {
        self.0
    }
}

impl<P: ProviderName> Clone for ProviderUser<P> {
    fn clone(&self) -> Self {
        ProviderUser(self.0.clone(), PhantomData)
    }
}

impl<P: ProviderName> std::fmt::Debug for ProviderUser<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ProviderUser")
            .field(&P::NAME)
            .field(&self.0)
            .finish()
    }
}

impl<P: ProviderName> Deref for ProviderUser<P> {
    type Target = UserSession;

    fn deref(&self) -> &UserSession {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r, P: ProviderName> FromRequest<'r> for ProviderUser<P> {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        authenticate(request, Some(P::NAME))
            .await
            .map(|user| ProviderUser(user, PhantomData))
    }
}

/// The logged-in user's claims (the ID token's, plus userinfo's; see
/// [`UserSession::claims`]) read into the app's type. As a request guard it protects the
/// handler like [`OidcUser`]; when the claims do not fit `T` (a claim it needs is missing) the
/// error view answers `403` with `insufficient_claims`.
///
/// ```
/// use oidc_rocket::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Me {
///     email: String,
/// }
///
/// #[rocket::get("/me")]
/// fn me(me: Claims<Me>) -> String {
///     me.0.email
/// }
/// ```
///
/// Taken as `Option<Claims<T>>`, Rocket makes any failure `None`, a logged-in user whose
/// claims do not fit `T` included; [`MaybeClaims`] is `None` only for an anonymous request.
/// `Result<Claims<T>, GuardError>` tells the cases apart: [`GuardError::LoginRequired`], or
/// [`GuardError::InsufficientClaims`].
#[derive(Clone, Debug)]
pub struct Claims<T>(pub T);

impl<T: serde::de::DeserializeOwned> Claims<T> {
    /// `user`'s claims read into `T`, or the guard's failure with the error view kept.
    fn read(request: &Request<'_>, user: &UserSession) -> Outcome<Self, GuardError> {
        match user.claims::<T>() {
            Ok(claims) => Outcome::Success(Claims(claims)),
            Err(e) => match relying_party(request) {
                Ok(rp) => refuse(
                    request,
                    rp.error_response(&e.into()),
                    GuardError::InsufficientClaims,
                ),
                Err(e) => Outcome::Error(e),
            },
        }
    }
}

#[rocket::async_trait]
impl<'r, T: serde::de::DeserializeOwned + Send> FromRequest<'r> for Claims<T> {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        match authenticate(request, None).await {
            Outcome::Success(user) => Self::read(request, &user),
            Outcome::Error(e) => Outcome::Error(e),
            Outcome::Forward(status) => Outcome::Forward(status),
        }
    }
}

/// The logged-in user's claims read into the app's type if there is a user (with any
/// provider), as [`MaybeUser`]: `None` for an anonymous request, which does not start a
/// login. A logged-in user whose claims do not fit `T` is refused as by [`Claims`] (`403`
/// `insufficient_claims`), not taken for anonymous as `Option<Claims<T>>` would.
///
/// ```
/// use oidc_rocket::MaybeClaims;
///
/// #[derive(serde::Deserialize)]
/// struct Me {
///     email: String,
/// }
///
/// #[rocket::get("/")]
/// fn home(me: MaybeClaims<Me>) -> String {
///     match me.0 {
///         Some(me) => format!("Hello, {}", me.email),
///         None => "Hello, stranger".into(),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct MaybeClaims<T>(pub Option<T>);

#[rocket::async_trait]
impl<'r, T: serde::de::DeserializeOwned + Send> FromRequest<'r> for MaybeClaims<T> {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        match MaybeUser::from_request(request).await {
            Outcome::Success(MaybeUser(Some(user))) => {
                Claims::read(request, &user).map(|Claims(claims)| MaybeClaims(Some(claims)))
            }
            Outcome::Success(MaybeUser(None)) => Outcome::Success(MaybeClaims(None)),
            Outcome::Error(e) => Outcome::Error(e),
            Outcome::Forward(status) => Outcome::Forward(status),
        }
    }
}

/// Names the login parameters (and provider) of a [`UserWith`] guard.
///
/// ```
/// use oidc_rocket::{LoginParams, LoginPolicy, UserWith};
///
/// struct Mfa;
/// impl LoginPolicy for Mfa {
///     fn params() -> LoginParams {
///         LoginParams::new().acr_values(["urn:example:mfa"])
///     }
/// }
///
/// #[rocket::get("/payments")]
/// fn payments(user: UserWith<Mfa>) -> String {
///     format!("{} passed multi-factor authentication", user.subject())
/// }
/// ```
pub trait LoginPolicy: Send + Sync + 'static {
    /// The provider, as given to [`RelyingPartyBuilder::provider`]; `None` for the default.
    const PROVIDER: Option<&'static str> = None;
    /// The login parameters (computed for each request the guard protects).
    fn params() -> LoginParams;
}

/// The logged-in user, as [`OidcUser`], for a route with login parameters of its own: a login
/// it starts sends `P`'s parameters, and a session that does not meet their `acr_values` or
/// `max_age` logs in again with them (step-up authentication; see
/// [`RelyingParty::authenticate_with`]).
pub struct UserWith<P: LoginPolicy>(pub Arc<UserSession>, PhantomData<fn() -> P>);

impl<P: LoginPolicy> UserWith<P> {
    /// The session.
    pub fn into_inner(self) -> Arc<UserSession> {
        self.0
    }
}

impl<P: LoginPolicy> Clone for UserWith<P> {
    fn clone(&self) -> Self {
        UserWith(self.0.clone(), PhantomData)
    }
}

impl<P: LoginPolicy> std::fmt::Debug for UserWith<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UserWith").field(&self.0).finish()
    }
}

impl<P: LoginPolicy> Deref for UserWith<P> {
    type Target = UserSession;

    fn deref(&self) -> &UserSession {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r, P: LoginPolicy> FromRequest<'r> for UserWith<P> {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        let params = P::params();
        guard(request, GuardError::LoginRequired, |rp, parts| async move {
            rp.authenticate_with(parts, P::PROVIDER, &params).await
        })
        .await
        .map(|user| UserWith(user, PhantomData))
    }
}

/// Starts a login from a handler, with parameters chosen for this request: a "log in as"
/// link with a `login_hint`, a step-up with `acr_values`, a `prompt=login`. The protocol's own
/// parameters cannot be set (the error view answers).
///
/// ```
/// use oidc_rocket::{Login, LoginParams, LoginRedirect};
///
/// #[rocket::get("/login?<email>")]
/// async fn log_in_as(login: Login, email: &str) -> LoginRedirect {
///     login.redirect("/", &LoginParams::new().login_hint(email)).await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Login(pub oidc_runtime::Login);

impl Login {
    /// The login redirect with the default provider, returning the user to `return_to` (a
    /// path on the app's origin) afterwards; the error view when it cannot start.
    pub async fn redirect(&self, return_to: &str, params: &LoginParams) -> LoginRedirect {
        LoginRedirect(self.0.redirect(return_to, params).await)
    }

    /// [`redirect`](Self::redirect) with the named provider.
    pub async fn redirect_to(
        &self,
        provider: &str,
        return_to: &str,
        params: &LoginParams,
    ) -> LoginRedirect {
        LoginRedirect(self.0.redirect_to(provider, return_to, params).await)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Login {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        let rp = match relying_party(request) {
            Ok(rp) => rp.clone(),
            Err(e) => return Outcome::Error(e),
        };
        match parts(request) {
            Ok(parts) => Outcome::Success(Login(oidc_runtime::Login::new(rp, parts))),
            Err(e) => Outcome::Error(e),
        }
    }
}

/// The relying party's answer to a [`Login`]: the redirect to the provider (with its login
/// cookie), or the error view.
pub struct LoginRedirect(pub oidc_runtime::Response);

impl std::fmt::Debug for LoginRedirect {
    // Not the headers: they set the login cookie.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRedirect")
            .field("status", &self.0.status())
            .finish_non_exhaustive()
    }
}

impl<'r, 'o: 'r> rocket::response::Responder<'r, 'o> for LoginRedirect {
    fn respond_to(self, _: &'r Request<'_>) -> rocket::response::Result<'o> {
        Ok(to_rocket(self.0))
    }
}

/// The logged-in user if there is one (with any provider), without requiring a login.
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<Arc<UserSession>>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for MaybeUser {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        let user = async {
            let rp = relying_party(request)?;
            let parts = parts(request)?;
            Ok(rp.session(parts).await)
        };
        match user.await {
            Ok(user) => Outcome::Success(MaybeUser(user)),
            Err(e) => Outcome::Error(e),
        }
    }
}

/// A valid access token for the logged-in user (default provider or not: the session's),
/// refreshed with the refresh token when it is due. As a request guard it protects the handler
/// like [`OidcUser`]: without a session, or when the session can no longer get a token (the
/// refresh token was refused, or the token expired and there is none), the user is sent to log
/// in (`401` for API-style requests); when the provider cannot be reached the error view
/// answers.
///
/// ```
/// use oidc_rocket::AccessToken;
///
/// #[rocket::get("/call-api")]
/// fn call_api(token: AccessToken) -> String {
///     // Send `token.expose()` as `Authorization: Bearer ...` to a resource server.
///     format!("{} bytes of token", token.expose().len())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct AccessToken(pub Secret);

impl AccessToken {
    /// A freshly refreshed access token, whether or not the current one is due (after a
    /// resource server refused it, say), for a guard of the app's own; failures as for the
    /// guard. [`RefreshedAccessToken`] is this as a guard.
    pub async fn force_refresh(request: &Request<'_>) -> Outcome<Self, GuardError> {
        guard(request, GuardError::LoginRequired, |rp, parts| async move {
            rp.require_access_token(parts, true).await.map(AccessToken)
        })
        .await
    }
}

impl Deref for AccessToken {
    type Target = Secret;

    fn deref(&self) -> &Secret {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AccessToken {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        guard(request, GuardError::LoginRequired, |rp, parts| async move {
            rp.require_access_token(parts, false).await.map(AccessToken)
        })
        .await
    }
}

/// A freshly refreshed access token for the logged-in user, whether or not the stored one is
/// due: [`AccessToken`] with a forced refresh (see [`AccessToken::force_refresh`]). Concurrent
/// requests of one session share one refresh.
///
/// ```
/// use oidc_rocket::{AccessToken, RefreshedAccessToken};
///
/// #[rocket::get("/call-api?retry")]
/// fn retry(token: RefreshedAccessToken) -> String {
///     format!("{} bytes of a new token", token.expose().len())
/// }
///
/// #[rocket::get("/call-api", rank = 2)]
/// fn call(token: AccessToken) -> String {
///     format!("{} bytes of token", token.expose().len())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct RefreshedAccessToken(pub Secret);

impl Deref for RefreshedAccessToken {
    type Target = Secret;

    fn deref(&self) -> &Secret {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RefreshedAccessToken {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        AccessToken::force_refresh(request)
            .await
            .map(|AccessToken(token)| RefreshedAccessToken(token))
    }
}

/// [`RelyingParty::authorize_bearer`] for a guard.
async fn authorize_bearer(
    request: &Request<'_>,
    requirements: &BearerRequirements,
) -> Outcome<TokenIdentity, GuardError> {
    guard(request, GuardError::BearerRefused, |rp, parts| async move {
        rp.authorize_bearer(parts, requirements).await
    })
    .await
}

/// [`RelyingParty::session_or_bearer`] for a guard.
async fn session_or_bearer(
    request: &Request<'_>,
    requirements: &BearerRequirements,
) -> Outcome<Principal, GuardError> {
    let error = if request.headers().contains("authorization") {
        GuardError::BearerRefused
    } else {
        GuardError::LoginRequired
    };
    guard(request, error, |rp, parts| async move {
        rp.session_or_bearer(parts, requirements).await
    })
    .await
}

/// A validated bearer token (RFC 6750). As a request guard it protects an API handler: a
/// missing or invalid token is answered `401` with a `WWW-Authenticate` challenge, a token
/// lacking a required scope `403` (`insufficient_scope`), never a login redirect. Validation
/// (introspection or JWT), audience and required scopes are the relying party's
/// ([`bearer_validation`](RelyingPartyBuilder::bearer_validation),
/// [`bearer_scopes`](RelyingPartyBuilder::bearer_scopes), ...); [`BearerWith`] adds
/// a route's own.
///
/// ```
/// use oidc_rocket::BearerIdentity;
///
/// #[rocket::get("/api/me")]
/// fn me(token: BearerIdentity) -> String {
///     format!("{:?} with scopes {:?}", token.subject(), token.scopes)
/// }
/// ```
#[derive(Clone, Debug)]
pub struct BearerIdentity(pub TokenIdentity);

impl Deref for BearerIdentity {
    type Target = TokenIdentity;

    fn deref(&self) -> &TokenIdentity {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BearerIdentity {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        authorize_bearer(request, &BearerRequirements::new())
            .await
            .map(BearerIdentity)
    }
}

/// Names what a route demands of a bearer token, on top of the relying party's configuration,
/// for [`BearerWith`] and [`SessionOrBearerWith`]: scopes (added to the configured ones),
/// audience, validation, provider (see [`BearerRequirements`]).
///
/// ```
/// use oidc_rocket::{BearerPolicy, BearerRequirements, BearerWith};
///
/// struct OrdersRead;
/// impl BearerPolicy for OrdersRead {
///     fn requirements() -> BearerRequirements {
///         BearerRequirements::new().scopes(["orders.read"])
///     }
/// }
///
/// #[rocket::get("/api/orders")]
/// fn orders(token: BearerWith<OrdersRead>) -> String {
///     format!("orders of {:?}", token.subject())
/// }
/// ```
pub trait BearerPolicy: Send + Sync + 'static {
    /// The requirements (computed for each request the guard protects).
    fn requirements() -> BearerRequirements;
}

/// A bearer token meeting the requirements `P` names: [`BearerIdentity`] for one route.
pub struct BearerWith<P: BearerPolicy>(pub TokenIdentity, PhantomData<fn() -> P>);

impl<P: BearerPolicy> BearerWith<P> {
    /// The validated token.
    pub fn into_inner(self) -> TokenIdentity {
        self.0
    }
}

impl<P: BearerPolicy> Clone for BearerWith<P> {
    fn clone(&self) -> Self {
        BearerWith(self.0.clone(), PhantomData)
    }
}

impl<P: BearerPolicy> std::fmt::Debug for BearerWith<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BearerWith").field(&self.0).finish()
    }
}

impl<P: BearerPolicy> Deref for BearerWith<P> {
    type Target = TokenIdentity;

    fn deref(&self) -> &TokenIdentity {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r, P: BearerPolicy> FromRequest<'r> for BearerWith<P> {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        authorize_bearer(request, &P::requirements())
            .await
            .map(|token| BearerWith(token, PhantomData))
    }
}

/// A browser session or a bearer token (Flask-pyoidc's `access_control`): a request with an
/// `Authorization` header is judged by its bearer token alone (`401`/`403` when bad, never a
/// login redirect); one without needs a logged-in session with the default provider (the login
/// redirect, or `401` for API-style requests: JSON clients and anything but `GET`).
///
/// ```
/// use oidc_rocket::{Principal, SessionOrBearer};
///
/// #[rocket::get("/api/either")]
/// fn either(who: SessionOrBearer) -> String {
///     match &who.0 {
///         Principal::Bearer(token) => format!("API client {:?}", token.subject()),
///         other => format!("browser user {:?}", other.subject()),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct SessionOrBearer(pub Principal);

impl Deref for SessionOrBearer {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SessionOrBearer {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        session_or_bearer(request, &BearerRequirements::new())
            .await
            .map(SessionOrBearer)
    }
}

/// [`SessionOrBearer`] with the requirements `P` names: its scopes (and audience, validation)
/// apply to bearer tokens, its provider to both tokens and sessions.
pub struct SessionOrBearerWith<P: BearerPolicy>(pub Principal, PhantomData<fn() -> P>);

impl<P: BearerPolicy> SessionOrBearerWith<P> {
    /// Who the request comes from.
    pub fn into_inner(self) -> Principal {
        self.0
    }
}

impl<P: BearerPolicy> Clone for SessionOrBearerWith<P> {
    fn clone(&self) -> Self {
        SessionOrBearerWith(self.0.clone(), PhantomData)
    }
}

impl<P: BearerPolicy> std::fmt::Debug for SessionOrBearerWith<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionOrBearerWith").field(&self.0).finish()
    }
}

impl<P: BearerPolicy> Deref for SessionOrBearerWith<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r, P: BearerPolicy> FromRequest<'r> for SessionOrBearerWith<P> {
    type Error = GuardError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, GuardError> {
        session_or_bearer(request, &P::requirements())
            .await
            .map(|principal| SessionOrBearerWith(principal, PhantomData))
    }
}

#[cfg(test)]
mod tests;
