//! The `warp-basic` example works: configured as its `main` configures it (the variables of
//! `Config::from_env`, here pointing at the test kit's simulated provider), a browser logs in,
//! sees the protected page, and logs out, with no network.

// The example's `main` and its public items are the example's; this test uses `app`.
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/warp-basic.rs"]
mod basic;

use oidc_testkit::basic_example_scenarios;
use oidc_testkit::harness::App;
use oidc_warp::oidc_runtime::BoxFuture;
use oidc_warp::RelyingParty;

struct BasicApp(RelyingParty);

impl App for BasicApp {
    fn new(rp: RelyingParty) -> Self {
        BasicApp(rp)
    }

    fn call(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> BoxFuture<'_, http::Response<bytes::Bytes>> {
        Box::pin(oidc_testkit::apps::call_warp(
            basic::app(self.0.clone()),
            request,
        ))
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
