//! How a user of the test kit tests *their own* app, one module per framework: a small app with
//! a public page and a protected one, and tests of its login, logout and failure paths against
//! the simulated provider, with no network and no sockets. The testing guide
//! (`oidc_testkit::guide`) walks through the axum one.

use http::StatusCode;
use oidc_testkit::harness::{App, Bench, Fault};

/// The same four tests for each app: `$app` is an [`App`] whose `GET /` is public and whose
/// `GET /dashboard` greets the logged-in user.
macro_rules! your_app_tests {
    ($app:ty) => {
        /// A login lands on the page first asked for, as the user the provider logged in.
        #[tokio::test]
        async fn login_lands_on_the_page_asked_for() {
            let bench = Bench::<$app>::new();
            let mut browser = bench.browser();
            assert_eq!(browser.get("/").await.text(), "hello, anyone");
            let page = browser.login("/dashboard", "alice").await;
            assert_eq!(page.status, StatusCode::OK);
            assert_eq!(page.text(), "welcome, alice");
        }

        /// After a logout, the protected page asks for a login again.
        #[tokio::test]
        async fn logout_ends_the_session() {
            let bench = Bench::<$app>::new();
            let mut browser = bench.browser();
            browser.login("/dashboard", "alice").await;
            let page = browser.get("/logout").await;
            assert_eq!(
                page.status,
                StatusCode::FOUND,
                "on to the provider's logout"
            );
            assert!(
                browser.stored_session().await.is_none(),
                "the session is gone"
            );
            let page = browser.get("/dashboard").await;
            assert_eq!(page.status, StatusCode::FOUND, "back to the login");
        }

        /// A provider that cannot be reached gives the error view, not a panic or a hang.
        #[tokio::test]
        async fn an_unreachable_provider_shows_the_error_page() {
            let bench = Bench::<$app>::new();
            bench
                .transport
                .fail("/.well-known/openid-configuration", Fault::Refused);
            let page = bench.browser().get("/dashboard").await;
            assert_eq!(page.status, StatusCode::BAD_GATEWAY);
            assert_eq!(page.error(), "provider_unreachable");
        }

        /// A forged callback is refused, and the logged-in user stays logged in as before.
        #[tokio::test]
        async fn a_forged_callback_changes_nothing() {
            let bench = Bench::<$app>::new();
            let mut browser = bench.browser();
            browser.login("/dashboard", "alice").await;
            let before = browser.session_cookie().map(str::to_owned);
            let page = browser.get("/redirect_uri?code=stolen&state=forged").await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST);
            assert_eq!(browser.session_cookie().map(str::to_owned), before);
            assert_eq!(browser.get("/dashboard").await.text(), "welcome, alice");
        }
    };
}

/// An axum app: the layer, an extractor, and `call_axum` to reach it in-process.
mod axum_app {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use oidc_axum::{OidcLayer, OidcUser};
    use oidc_runtime::{BoxFuture, RelyingParty};

    /// The app under test, as the app's own code would build it.
    fn app(rp: RelyingParty) -> Router {
        Router::new()
            .route("/", get(|| async { "hello, anyone" }))
            .route(
                "/dashboard",
                get(|OidcUser(user): OidcUser| async move { format!("welcome, {}", user.subject()) }),
            )
            .layer(OidcLayer::new(rp))
    }

    struct YourApp(Router);

    impl App for YourApp {
        fn new(rp: RelyingParty) -> Self {
            YourApp(app(rp))
        }

        fn call(
            &self,
            request: http::Request<bytes::Bytes>,
        ) -> BoxFuture<'_, http::Response<bytes::Bytes>> {
            Box::pin(oidc_testkit::apps::call_axum(self.0.clone(), request))
        }
    }

    your_app_tests!(YourApp);
}

/// A Rocket app: the fairing, a request guard, and `RocketClient` to reach it in-process.
mod rocket_app {
    use super::*;
    use oidc_rocket::{OidcFairing, OidcUser};
    use oidc_runtime::{BoxFuture, RelyingParty};
    use oidc_testkit::apps::RocketClient;

    #[rocket::get("/")]
    fn index() -> &'static str {
        "hello, anyone"
    }

    #[rocket::get("/dashboard")]
    fn dashboard(user: OidcUser) -> String {
        format!("welcome, {}", user.0.subject())
    }

    /// The app under test, as the app's own code would build it.
    fn app(rp: RelyingParty) -> rocket::Rocket<rocket::Build> {
        rocket::custom(RocketClient::quiet_config())
            .attach(OidcFairing::new(rp))
            .mount("/", rocket::routes![index, dashboard])
    }

    struct YourApp(RocketClient);

    impl App for YourApp {
        fn new(rp: RelyingParty) -> Self {
            YourApp(RocketClient::new(app(rp)))
        }

        fn call(
            &self,
            request: http::Request<bytes::Bytes>,
        ) -> BoxFuture<'_, http::Response<bytes::Bytes>> {
            Box::pin(self.0.call(request))
        }
    }

    your_app_tests!(YourApp);
}

/// A warp app: the relying party's routes, a filter for the user, and `call_warp`.
mod warp_app {
    use super::*;
    use oidc_runtime::{BoxFuture, RelyingParty};
    use warp::{Filter, Rejection, Reply};

    /// The app under test, as the app's own code would build it.
    fn app(
        rp: RelyingParty,
    ) -> impl Filter<Extract = (Box<dyn Reply>,), Error = Rejection> + Clone {
        let index = warp::path::end().map(|| "hello, anyone");
        let dashboard = warp::path("dashboard")
            .and(warp::path::end())
            .and(oidc_warp::user(rp.clone()))
            .map(|user: std::sync::Arc<oidc_runtime::UserSession>| {
                format!("welcome, {}", user.subject())
            });
        oidc_warp::routes(rp)
            .or(index)
            .or(dashboard)
            .recover(oidc_warp::recover)
            .map(|r| Box::new(r) as Box<dyn Reply>)
    }

    struct YourApp(RelyingParty);

    impl App for YourApp {
        fn new(rp: RelyingParty) -> Self {
            YourApp(rp)
        }

        fn call(
            &self,
            request: http::Request<bytes::Bytes>,
        ) -> BoxFuture<'_, http::Response<bytes::Bytes>> {
            Box::pin(oidc_testkit::apps::call_warp(app(self.0.clone()), request))
        }
    }

    your_app_tests!(YourApp);
}
