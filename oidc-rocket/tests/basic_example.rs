//! The `rocket-basic` example works: configured as its `main` configures it (the variables of
//! `Config::from_env`, here pointing at the test kit's simulated provider), a browser logs in,
//! sees the protected page, and logs out, with no network.

// The example's `main` and its public items are the example's; this test uses `app`.
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/rocket-basic.rs"]
mod basic;

use std::sync::Arc;

use http::StatusCode;
use oidc_rocket::oidc_runtime::{BoxFuture, Config};
use oidc_rocket::RelyingParty;
use oidc_testkit::apps::RocketClient;
use oidc_testkit::harness::{App, Bench, CLIENT_ID, CLIENT_SECRET, ISSUER};

struct BasicApp(RocketClient);

impl App for BasicApp {
    fn new(rp: RelyingParty) -> Self {
        let rocket = rocket::custom(RocketClient::quiet_config());
        BasicApp(RocketClient::new(basic::app(rocket, rp)))
    }

    fn call(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> BoxFuture<'_, http::Response<bytes::Bytes>> {
        Box::pin(self.0.call(request))
    }
}

/// The relying party as the example's `main` builds it, from the environment it documents,
/// with the bench's transport (the simulated provider) and clock in place of the network's
/// and the system's.
fn from_environment(bench: &Bench<BasicApp>) -> RelyingParty {
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

#[tokio::test]
async fn login_protected_page_and_logout() {
    let bench = Bench::<BasicApp>::new();
    bench
        .provider
        .set_user("alice", serde_json::json!({ "name": "Alice Liddell" }));
    let app = BasicApp::new(from_environment(&bench));
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
#[tokio::test]
async fn login_link_lands_on_the_protected_page() {
    let bench = Bench::<BasicApp>::new();
    let app = BasicApp::new(from_environment(&bench));
    let mut browser = bench.browser();
    browser.use_app(&app);
    let page = browser.login("/login", "bob").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(
        page.text(),
        "Hello, bob (bob@example.com)! Log out at /logout."
    );
}
