//! A minimal app protected by OpenID Connect, to copy: a public page, a page for the logged-in
//! user, and login and logout links. Configured from the environment
//! (`oidc_runtime::Config::from_env`; every variable is in `docs/demo-contract.md`):
//!
//! ```sh
//! APP_URL=http://127.0.0.1:8080 OIDC_ISSUER=https://accounts.example.com \
//! OIDC_CLIENT_ID=my-app OIDC_CLIENT_SECRET=... SESSION_SECRET=<32 bytes or more> \
//!   cargo run -p oidc-axum --example axum-basic
//! ```
//!
//! Register `$APP_URL/redirect_uri` at the provider as the redirect URI and `$APP_URL/logout`
//! as the post-logout redirect URI. `APP_ADDR` is where it listens (default `127.0.0.1:8080`).

use axum::response::{Html, Response};
use axum::{routing::get, Router};
use oidc_axum::oidc_runtime::Config;
use oidc_axum::{Login, LoginParams, OidcLayer, OidcUser, RelyingParty};

/// The app around its relying party: `main` configures that from the environment, a test from
/// the test kit's simulated provider.
pub fn app(rp: RelyingParty) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/login", get(login))
        // Serves `/redirect_uri` (the provider's answer) and `/logout`.
        .layer(OidcLayer::new(rp))
}

async fn home() -> Html<&'static str> {
    Html(r#"<p>Public. <a href="/me">Your page</a> or <a href="/login">log in</a>.</p>"#)
}

/// Protected: an anonymous visitor is sent to log in, and comes back here.
async fn me(OidcUser(user): OidcUser) -> String {
    let name = user.name().unwrap_or_else(|| user.subject().into());
    let email = user.email().unwrap_or_else(|| "not released".into());
    format!("Hello, {name} ({email})! Log out at /logout.")
}

async fn login(login: Login) -> Response {
    login.redirect("/me", &LoginParams::new()).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rp = Config::from_env()?
        .builder()?
        .transport(oidc_axum::default_transport()?)
        .build()?;
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}/");
    axum::serve(listener, app(rp)).await?;
    Ok(())
}
