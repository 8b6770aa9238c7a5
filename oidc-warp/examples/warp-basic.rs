//! A minimal app protected by OpenID Connect, to copy: a public page, a page for the logged-in
//! user, and login and logout links. Configured from the environment
//! (`oidc_runtime::Config::from_env`; every variable is in `docs/demo-contract.md`):
//!
//! ```sh
//! APP_URL=http://127.0.0.1:8080 OIDC_ISSUER=https://accounts.example.com \
//! OIDC_CLIENT_ID=my-app OIDC_CLIENT_SECRET=... SESSION_SECRET=<32 bytes or more> \
//!   cargo run -p oidc-warp --example warp-basic
//! ```
//!
//! Register `$APP_URL/redirect_uri` at the provider as the redirect URI and `$APP_URL/logout`
//! as the post-logout redirect URI. `APP_ADDR` is where it listens (default `127.0.0.1:8080`).

use std::sync::Arc;

use oidc_warp::oidc_runtime::Config;
use oidc_warp::{Login, LoginParams, RelyingParty, UserSession};
use warp::{Filter, Rejection, Reply};

/// The app around its relying party: `main` configures that from the environment, a test from
/// the test kit's simulated provider.
pub fn app(rp: RelyingParty) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let home = warp::path::end().map(|| {
        warp::reply::html(
            r#"<p>Public. <a href="/me">Your page</a> or <a href="/login">log in</a>.</p>"#,
        )
    });
    // Protected: an anonymous visitor is sent to log in, and comes back here.
    let me = warp::path!("me")
        .and(oidc_warp::user(rp.clone()))
        .map(|user: Arc<UserSession>| {
            let name = user.name().unwrap_or_else(|| user.subject().into());
            let email = user.email().unwrap_or_else(|| "not released".into());
            format!("Hello, {name} ({email})! Log out at /logout.")
        });
    let login = warp::path!("login")
        .and(oidc_warp::login(rp.clone()))
        .then(|login: Login| async move { login.redirect("/me", &LoginParams::new()).await });
    // `routes` serves `/redirect_uri` (the provider's answer) and `/logout`; `recover` answers
    // a protected route's rejection (the login redirect, or the error page).
    oidc_warp::routes(rp)
        .or(warp::get().and(home.or(me).or(login)))
        .recover(oidc_warp::recover)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rp = Config::from_env()?
        .builder()?
        .transport(oidc_warp::default_transport()?)
        .build()?;
    let addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}/");
    warp::serve(app(rp)).incoming(listener).run().await;
    Ok(())
}
