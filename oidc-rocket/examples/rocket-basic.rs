//! A minimal app protected by OpenID Connect, to copy: a public page, a page for the logged-in
//! user, and login and logout links. Configured from the environment
//! (`oidc_runtime::Config::from_env`; every variable is in `docs/demo-contract.md`; Rocket's
//! own, such as `ROCKET_PORT`, as usual):
//!
//! ```sh
//! APP_URL=http://127.0.0.1:8000 OIDC_ISSUER=https://accounts.example.com \
//! OIDC_CLIENT_ID=my-app OIDC_CLIENT_SECRET=... SESSION_SECRET=<32 bytes or more> \
//!   cargo run -p oidc-rocket --example rocket-basic
//! ```
//!
//! Register `$APP_URL/redirect_uri` at the provider as the redirect URI and `$APP_URL/logout`
//! as the post-logout redirect URI.

use oidc_rocket::oidc_runtime::Config;
use oidc_rocket::{Login, LoginParams, LoginRedirect, OidcFairing, OidcUser, RelyingParty};
use rocket::response::content::RawHtml;
use rocket::{Build, Rocket};

#[rocket::get("/")]
fn home() -> RawHtml<&'static str> {
    RawHtml(r#"<p>Public. <a href="/me">Your page</a> or <a href="/login">log in</a>.</p>"#)
}

/// Protected: an anonymous visitor is sent to log in, and comes back here.
#[rocket::get("/me")]
fn me(user: OidcUser) -> String {
    let name = user.name().unwrap_or_else(|| user.subject().into());
    let email = user.email().unwrap_or_else(|| "not released".into());
    format!("Hello, {name} ({email})! Log out at /logout.")
}

#[rocket::get("/login")]
async fn login(login: Login) -> LoginRedirect {
    login.redirect("/me", &LoginParams::new()).await
}

/// The app on `rocket` around its relying party: `main` configures that from the environment,
/// a test from the test kit's simulated provider.
pub fn app(rocket: Rocket<Build>, rp: RelyingParty) -> Rocket<Build> {
    // The fairing mounts `/redirect_uri` (the provider's answer) and `/logout`.
    rocket
        .attach(OidcFairing::new(rp))
        .mount("/", rocket::routes![home, me, login])
}

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rp = Config::from_env()?
        .builder()?
        .transport(oidc_rocket::default_transport()?)
        .build()?;
    app(rocket::build(), rp).launch().await?;
    Ok(())
}
