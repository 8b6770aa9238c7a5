//! The load test's servers: for each adapter, one app with an unprotected route (`GET /bare`),
//! two protected ones and the guard's floor, every one answering the same two bytes:
//! `GET /protected`, whose handler only takes the user, and `GET /claims`, whose handler also
//! reads the user's claims as an app does
//! ([`UserSession::standard_claims`](oidc_core::UserSession::standard_claims)). The two
//! protected routes differ in that read alone, so their CPU per request tells what reading the
//! claims costs. `GET /floor` is the least a guard can do in the framework's own idiom (axum: a
//! `FromRequestParts` extractor, no layer; Rocket: a request guard; warp: a filter), each
//! running [`GuardFloor`] on the session cookie the framework hands it: what no guard in that
//! framework can go below.
//!
//! The bare route is the framework alone: the relying party's machinery (axum's `OidcLayer`,
//! warp's routes filter) is not in front of it, so that the comparison charges everything the
//! protection costs to the protected route. (Rocket's fairing is app-wide; its response hook is
//! one status comparison on the bare route.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oidc_core::SessionRecord;
use oidc_runtime::RelyingParty;

use crate::floor::GuardFloor;

/// The framework adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `oidc-axum`.
    Axum,
    /// `oidc-rocket`.
    Rocket,
    /// `oidc-warp`.
    Warp,
}

impl Adapter {
    /// Every adapter, in report order.
    pub const ALL: [Adapter; 3] = [Adapter::Axum, Adapter::Rocket, Adapter::Warp];

    /// The framework's name.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::Axum => "axum",
            Adapter::Rocket => "rocket",
            Adapter::Warp => "warp",
        }
    }
}

/// The routes of every app, in the order each load round runs them.
pub const ROUTES: [&str; 4] = ["bare", "protected", "claims", "floor"];

/// What the `/claims` handlers do with the user: read the claims an app shows.
fn read_claims(user: &oidc_core::UserSession) {
    std::hint::black_box(user.standard_claims());
}

/// A free loopback address (bound and released; the server binds it again at once).
pub fn free_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Starts `adapter`'s app for `rp` at `addr` on the current Tokio runtime, its `/floor` route
/// guarded by `floor`, and returns when it accepts connections.
pub async fn start(
    adapter: Adapter,
    rp: RelyingParty,
    floor: Arc<GuardFloor>,
    addr: SocketAddr,
) -> Result<(), String> {
    match adapter {
        Adapter::Axum => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("bind {addr}: {e}"))?;
            tokio::spawn(async move {
                let _ = axum::serve(listener, axum_app(rp, floor)).await;
            });
        }
        Adapter::Rocket => {
            let rocket = rocket_app(rp, floor, addr);
            tokio::spawn(async move {
                if let Err(e) = rocket.launch().await {
                    eprintln!("rocket stopped: {e}");
                }
            });
        }
        Adapter::Warp => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("bind {addr}: {e}"))?;
            let app = warp_app(rp, floor);
            tokio::spawn(async move {
                warp::serve(app).incoming(listener).run().await;
            });
        }
    }
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(format!("{} did not start on {addr}", adapter.name()))
}

/// The session the floor found: axum's least guard, an extractor reading the `Cookie` headers
/// from the request's parts.
struct AxumFloor(SessionRecord);

impl axum::extract::FromRequestParts<Arc<GuardFloor>> for AxumFloor {
    type Rejection = http::StatusCode;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        floor: &Arc<GuardFloor>,
    ) -> Result<Self, Self::Rejection> {
        floor
            .run(&parts.headers)
            .map(AxumFloor)
            .ok_or(http::StatusCode::UNAUTHORIZED)
    }
}

fn axum_app(rp: RelyingParty, floor: Arc<GuardFloor>) -> axum::Router {
    use axum::routing::get;
    use oidc_axum::{OidcLayer, OidcUser};
    let protected = axum::Router::new()
        .route(
            "/protected",
            get(|OidcUser(user): OidcUser| async move {
                std::hint::black_box(&user);
                "ok"
            }),
        )
        .route(
            "/claims",
            get(|OidcUser(user): OidcUser| async move {
                read_claims(&user);
                "ok"
            }),
        )
        .layer(OidcLayer::new(rp));
    let floor = axum::Router::new()
        .route(
            "/floor",
            get(|AxumFloor(session): AxumFloor| async move {
                std::hint::black_box(&session);
                "ok"
            }),
        )
        .with_state(floor);
    axum::Router::new()
        .route("/bare", get(|| async { "ok" }))
        .merge(protected)
        .merge(floor)
}

#[rocket::get("/bare")]
fn rocket_bare() -> &'static str {
    "ok"
}

#[rocket::get("/protected")]
fn rocket_protected(user: oidc_rocket::OidcUser) -> &'static str {
    std::hint::black_box(&user);
    "ok"
}

#[rocket::get("/claims")]
fn rocket_claims(user: oidc_rocket::OidcUser) -> &'static str {
    read_claims(&user);
    "ok"
}

/// The session the floor found: Rocket's least guard, a request guard reading the `Cookie`
/// headers, the floor in the app's managed state.
struct RocketFloor(SessionRecord);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for RocketFloor {
    type Error = ();

    async fn from_request(
        request: &'r rocket::Request<'_>,
    ) -> rocket::request::Outcome<Self, Self::Error> {
        use rocket::http::Status;
        use rocket::request::Outcome;
        let Some(floor) = request.rocket().state::<Arc<GuardFloor>>() else {
            return Outcome::Error((Status::InternalServerError, ()));
        };
        match floor.session(request.headers().get("Cookie")) {
            Some(session) => Outcome::Success(RocketFloor(session)),
            None => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

#[rocket::get("/floor")]
fn rocket_floor(session: RocketFloor) -> &'static str {
    std::hint::black_box(&session.0);
    "ok"
}

fn rocket_app(
    rp: RelyingParty,
    floor: Arc<GuardFloor>,
    addr: SocketAddr,
) -> rocket::Rocket<rocket::Build> {
    let config = rocket::Config::figment()
        .merge(("address", addr.ip()))
        .merge(("port", addr.port()))
        .merge(("log_level", rocket::config::LogLevel::Off))
        .merge(("cli_colors", false))
        .merge(("shutdown.ctrlc", false));
    rocket::custom(config)
        .attach(oidc_rocket::OidcFairing::new(rp))
        .manage(floor)
        .mount(
            "/",
            rocket::routes![rocket_bare, rocket_protected, rocket_claims, rocket_floor],
        )
}

/// Why warp's floor filter refused a request: no session cookie that verifies and names a
/// stored session.
#[derive(Debug)]
struct FloorRefused;

impl warp::reject::Reject for FloorRefused {}

/// The session the floor found: warp's least guard, a filter taking the `Cookie` header (a
/// cheap `HeaderValue` clone, not the whole header map), 401 when it fails.
fn warp_floor(
    floor: Arc<GuardFloor>,
) -> impl warp::Filter<Extract = (SessionRecord,), Error = warp::Rejection> + Clone {
    use warp::Filter;
    warp::header::value(http::header::COOKIE.as_str()).and_then(move |cookie: http::HeaderValue| {
        let session = cookie
            .to_str()
            .ok()
            .and_then(|value| floor.session([value]))
            .ok_or_else(|| warp::reject::custom(FloorRefused));
        std::future::ready(session)
    })
}

/// Answers 401 for [`FloorRefused`], and hands any other rejection on.
async fn warp_floor_refused(
    rejection: warp::Rejection,
) -> Result<http::StatusCode, warp::Rejection> {
    match rejection.find::<FloorRefused>() {
        Some(FloorRefused) => Ok(http::StatusCode::UNAUTHORIZED),
        None => Err(rejection),
    }
}

fn warp_app(
    rp: RelyingParty,
    floor: Arc<GuardFloor>,
) -> impl warp::Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    use warp::Filter;
    let bare = warp::path!("bare").and(warp::get()).map(|| "ok");
    let protected = warp::path!("protected")
        .and(warp::get())
        .and(oidc_warp::user(rp.clone()))
        .map(|user| {
            std::hint::black_box(&user);
            "ok"
        });
    let claims = warp::path!("claims")
        .and(warp::get())
        .and(oidc_warp::user(rp.clone()))
        .map(|user: std::sync::Arc<oidc_core::UserSession>| {
            read_claims(&user);
            "ok"
        });
    let floor = warp::path!("floor")
        .and(warp::get())
        .and(warp_floor(floor))
        .map(|session: SessionRecord| {
            std::hint::black_box(&session);
            "ok"
        });
    bare.or(protected)
        .or(claims)
        .or(floor.recover(warp_floor_refused))
        .or(oidc_warp::routes(rp))
        .recover(oidc_warp::recover)
}
