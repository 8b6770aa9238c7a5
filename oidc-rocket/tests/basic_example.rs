//! The `rocket-basic` example works: configured as its `main` configures it (the variables of
//! `Config::from_env`, here pointing at the test kit's simulated provider), a browser logs in,
//! sees the protected page, and logs out, with no network.

// The example's `main` and its public items are the example's; this test uses `app`.
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/rocket-basic.rs"]
mod basic;

use oidc_rocket::oidc_runtime::BoxFuture;
use oidc_rocket::RelyingParty;
use oidc_testkit::apps::RocketClient;
use oidc_testkit::basic_example_scenarios;
use oidc_testkit::harness::App;

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

#[tokio::test]
async fn login_protected_page_and_logout() {
    basic_example_scenarios::login_protected_page_and_logout::<BasicApp>().await;
}

/// The login link logs in and lands on the protected page.
#[tokio::test]
async fn login_link_lands_on_the_protected_page() {
    basic_example_scenarios::login_link_lands_on_the_protected_page::<BasicApp>().await;
}
