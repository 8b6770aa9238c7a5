//! The load test's servers: for each adapter, one app with an unprotected route (`GET /bare`)
//! and two protected ones, every one answering the same two bytes: `GET /protected`, whose
//! handler only takes the user, and `GET /claims`, whose handler also reads the user's claims
//! as an app does ([`UserSession::standard_claims`](oidc_core::UserSession::standard_claims)).
//! The two protected routes differ in that read alone, so their CPU per request tells what
//! reading the claims costs.
//!
//! The bare route is the framework alone: the relying party's machinery (axum's `OidcLayer`,
//! warp's routes filter) is not in front of it, so that the comparison charges everything the
//! protection costs to the protected route. (Rocket's fairing is app-wide; its response hook is
//! one status comparison on the bare route.)

use std::net::SocketAddr;
use std::time::Duration;

use oidc_runtime::RelyingParty;

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
pub const ROUTES: [&str; 3] = ["bare", "protected", "claims"];

/// What the `/claims` handlers do with the user: read the claims an app shows.
fn read_claims(user: &oidc_core::UserSession) {
    std::hint::black_box(user.standard_claims());
}

/// A free loopback address (bound and released; the server binds it again at once).
pub fn free_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Starts `adapter`'s app for `rp` at `addr` on the current Tokio runtime, and returns when it
/// accepts connections.
pub async fn start(adapter: Adapter, rp: RelyingParty, addr: SocketAddr) -> Result<(), String> {
    match adapter {
        Adapter::Axum => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("bind {addr}: {e}"))?;
            tokio::spawn(async move {
                let _ = axum::serve(listener, axum_app(rp)).await;
            });
        }
        Adapter::Rocket => {
            let rocket = rocket_app(rp, addr);
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
            let app = warp_app(rp);
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

fn axum_app(rp: RelyingParty) -> axum::Router {
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
    axum::Router::new()
        .route("/bare", get(|| async { "ok" }))
        .merge(protected)
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

fn rocket_app(rp: RelyingParty, addr: SocketAddr) -> rocket::Rocket<rocket::Build> {
    let config = rocket::Config::figment()
        .merge(("address", addr.ip()))
        .merge(("port", addr.port()))
        .merge(("log_level", rocket::config::LogLevel::Off))
        .merge(("cli_colors", false))
        .merge(("shutdown.ctrlc", false));
    rocket::custom(config)
        .attach(oidc_rocket::OidcFairing::new(rp))
        .mount(
            "/",
            rocket::routes![rocket_bare, rocket_protected, rocket_claims],
        )
}

fn warp_app(
    rp: RelyingParty,
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
    bare.or(protected)
        .or(claims)
        .or(oidc_warp::routes(rp))
        .recover(oidc_warp::recover)
}
