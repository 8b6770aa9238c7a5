//! The checks every adapter's `*-basic` example passes: configured as its `main` configures it
//! (the variables of `Config::from_env`, pointing at the simulated provider), a browser sees the
//! public page, logs in, sees the protected page and logs out, with no network. Each adapter's
//! `tests/basic_example.rs` includes its example as a module and runs these on it.

use std::sync::Arc;

use http::StatusCode;
use oidc_runtime::{Config, RelyingParty};

use crate::harness::{App, Bench, CLIENT_ID, CLIENT_SECRET, ISSUER};

/// The relying party as an example's `main` builds it, from the environment it documents, with
/// the bench's transport (the simulated provider) and clock in place of the network's and the
/// system's.
pub fn from_environment<A: App>(bench: &Bench<A>) -> RelyingParty {
    let env = [
        ("APP_URL", bench.app_url),
        ("OIDC_ISSUER", ISSUER),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        (
            "SESSION_SECRET",
            "a session secret of thirty-two bytes or more",
        ),
    ];
    let config = Config::from_vars(|name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("the documented variables are a configuration");
    config
        .builder()
        .expect("a complete configuration")
        .transport(Arc::new(bench.transport.clone()))
        .clock(bench.clock.clone())
        .build()
        .expect("a relying party")
}

/// The public page, a login to `/me` showing the user's name and email, and a logout through
/// the provider, after which `/me` asks for a login again.
pub async fn login_protected_page_and_logout<A: App>() {
    let bench = Bench::<A>::new();
    bench
        .provider
        .set_user("alice", serde_json::json!({ "name": "Alice Liddell" }));
    let app = A::new(from_environment(&bench));
    let mut browser = bench.browser();
    browser.use_app(&app);

    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Public"), "{}", page.text());

    let page = browser.login("/me", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(
        page.text(),
        "Hello, Alice Liddell (alice@example.com)! Log out at /logout."
    );

    let page = browser.get("/logout").await;
    assert_eq!(
        page.status,
        StatusCode::FOUND,
        "on to the provider's logout"
    );
    let location = page.location().unwrap_or_default();
    assert!(location.starts_with(ISSUER), "{location}");
    let page = browser.get("/me").await;
    assert_eq!(
        page.status,
        StatusCode::FOUND,
        "logged out: back to the login"
    );
    assert!(page.location().unwrap_or_default().starts_with(ISSUER));
}

/// The login link logs in and lands on the protected page.
pub async fn login_link_lands_on_the_protected_page<A: App>() {
    let bench = Bench::<A>::new();
    let app = A::new(from_environment(&bench));
    let mut browser = bench.browser();
    browser.use_app(&app);
    let page = browser.login("/login", "bob").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(
        page.text(),
        "Hello, bob (bob@example.com)! Log out at /logout."
    );
}
