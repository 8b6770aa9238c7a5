//! # Testing your own app
//!
//! The test kit runs your app's real routes, with the real relying party in front of them,
//! against a simulated provider: deterministic tests of login, logout and failure paths, with
//! no network, no sockets and no real clock. A test needs three things:
//!
//! 1. your app as an [`App`](crate::harness::App): `new` builds it around the relying party the
//!    test kit configured, and `call` sends one request through it, with
//!    [`apps::call_axum`](crate::apps::call_axum), [`apps::RocketClient`](crate::apps::RocketClient)
//!    or [`apps::call_warp`](crate::apps::call_warp);
//! 2. a [`Bench`](crate::harness::Bench): the simulated provider, a test clock, the transport
//!    between them (where faults are injected), and your app;
//! 3. a [`Browser`](crate::harness::Browser) per user: it keeps cookies, follows the redirects
//!    to the provider and back, and logs in as any username.
//!
//! For an axum app:
//!
//! ```no_run
//! use http::StatusCode;
//! use oidc_runtime::{BoxFuture, RelyingParty};
//! use oidc_testkit::harness::{App, Bench, Fault};
//!
//! // Your app, built from a relying party as your `main` builds it.
//! fn app(rp: RelyingParty) -> axum::Router {
//!     axum::Router::new()
//!         .route("/dashboard", axum::routing::get(
//!             |oidc_axum::OidcUser(user): oidc_axum::OidcUser| async move {
//!                 format!("welcome, {}", user.subject())
//!             },
//!         ))
//!         .layer(oidc_axum::OidcLayer::new(rp))
//! }
//!
//! struct YourApp(axum::Router);
//!
//! impl App for YourApp {
//!     fn new(rp: RelyingParty) -> Self {
//!         YourApp(app(rp))
//!     }
//!     fn call(&self, request: http::Request<bytes::Bytes>) -> BoxFuture<'_, http::Response<bytes::Bytes>> {
//!         Box::pin(oidc_testkit::apps::call_axum(self.0.clone(), request))
//!     }
//! }
//!
//! #[tokio::test]
//! async fn login_lands_on_the_page_asked_for() {
//!     let bench = Bench::<YourApp>::new();
//!     let mut browser = bench.browser();
//!     let page = browser.login("/dashboard", "alice").await;
//!     assert_eq!(page.status, StatusCode::OK);
//!     assert_eq!(page.text(), "welcome, alice");
//! }
//!
//! #[tokio::test]
//! async fn an_unreachable_provider_shows_the_error_page() {
//!     let bench = Bench::<YourApp>::new();
//!     bench.transport.fail("/.well-known/openid-configuration", Fault::Refused);
//!     let page = bench.browser().get("/dashboard").await;
//!     assert_eq!(page.error(), "provider_unreachable");
//! }
//! ```
//!
//! The same tests for a Rocket app and a warp app, plus logout and a forged callback, are in
//! this crate's `tests/your_app.rs`, where they run on every build.
//!
//! ## What a bench gives you
//!
//! - **The provider** ([`SimProvider`](crate::SimProvider), `bench.provider`): any username
//!   logs in; a [`Misbehavior`](crate::Misbehavior) makes it get one thing wrong (a bad
//!   signature, a wrong `nonce`, an expired token...), so that you can watch your app refuse it;
//!   it can rotate its keys, sign with another algorithm, revoke tokens and send back-channel
//!   logouts.
//! - **The clock** (`bench.clock`): `advance(seconds)` expires tokens and sessions without
//!   waiting.
//! - **The transport** (`bench.transport`): `fail(path, Fault::Refused)` (or a timeout, or an
//!   error status) makes one provider endpoint fail, and `clear()` heals it.
//! - **Options** ([`BenchOptions`](crate::harness::BenchOptions)): https, a second provider,
//!   dynamic registration, a path prefix, and your own changes to the provider configuration
//!   (`configure`) and to the relying party (`rp`: a session store, a session lifetime...).
//!   `Bench::new()` serves the relying party at `http://app.test` with the JSON error view,
//!   so failures read as `page.error()`.
//!
//! ## Writing a rejection test
//!
//! A test that an attack fails should start from the state the attack would change, and check
//! that nothing changed. For example: log a user in, send a forged callback, check that the
//! answer is an error, and check that the user is still logged in with the same session
//! cookie. `tests/your_app.rs` has one (`a_forged_callback_changes_nothing`).
