//! What app code asks of an adapter beyond protecting a route: per-request login parameters,
//! step-up routes and typed claims. Run by every adapter through the
//! [`scenarios!`](macro@crate::scenarios) macro (re-exported by [`mod@crate::scenarios`]).
//!
//! Besides the contract's routes, the app under test serves:
//! - `GET /login-with?<parameters>`, which starts a login with the query's pairs as
//!   [`LoginParams`] ([`login_params_from_query`]) and returns to `/`;
//! - `GET /step-up`, protected with [`step_up_params`], answering like `GET /`;
//! - `GET /claims`, answering the user's claims read into [`Profile`] through the adapter's
//!   typed-claims extractor, as JSON;
//! - `GET /claims/phone`, the same with [`NeedsPhone`] (a claim the provider never releases).

use std::collections::HashMap;

use http::StatusCode;
use oidc_core::LoginParams;
use serde::{Deserialize, Serialize};

use crate::harness::{App, Bench, BenchOptions};
use crate::unchanged::{logged_in, Unchanged};
use crate::Misbehavior;

/// The authentication context class `GET /step-up` asks for.
pub const STEP_UP_ACR: &str = "urn:sim:gold";

/// The login parameters of `GET /step-up`.
pub fn step_up_params() -> LoginParams {
    LoginParams::new().acr_values([STEP_UP_ACR])
}

/// The login parameters of `GET /login-with`: every pair of the query, as sent.
pub fn login_params_from_query(query: Option<&str>) -> LoginParams {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .fold(LoginParams::new(), |params, (k, v)| params.param(k, v))
}

/// What `GET /claims` reads the user's claims into: standard claims from the ID token and
/// userinfo, and a custom one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `sub`.
    pub sub: String,
    /// `email`.
    pub email: String,
    /// `email_verified`.
    pub email_verified: bool,
    /// A custom claim (`groups`), empty when not released.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Filled by the route from [`oidc_core::UserSession::preferred_username`], not from
    /// the claims: the accessor's answer.
    #[serde(default)]
    pub preferred_username: Option<String>,
}

/// What `GET /claims/phone` reads the claims into: a claim the simulated provider never
/// releases by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeedsPhone {
    /// `phone_number`.
    pub phone_number: String,
}

fn query(authorization_url: &str) -> Vec<(String, String)> {
    url::Url::parse(authorization_url)
        .expect("an absolute authorization URL")
        .query_pairs()
        .into_owned()
        .collect()
}

/// A login started by app code with a `login_hint`, `ui_locales` and `prompt` sends them
/// (once each) beside the core's own `state`, `nonce` and PKCE, and completes.
pub async fn login_parameters_are_sent_per_request<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b
        .start_login("/login-with?login_hint=alice%40example.com&ui_locales=fr&prompt=login")
        .await;
    let pairs = query(&auth);
    let count = |name: &str| pairs.iter().filter(|(k, _)| k == name).count();
    for name in [
        "login_hint",
        "ui_locales",
        "prompt",
        "state",
        "nonce",
        "code_challenge",
    ] {
        assert_eq!(count(name), 1, "{name} sent once: {auth}");
    }
    let q: HashMap<String, String> = pairs.into_iter().collect();
    assert_eq!(q["login_hint"], "alice@example.com");
    assert_eq!(q["ui_locales"], "fr");
    assert_eq!(q["prompt"], "login");
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.location().as_deref(), Some("/"), "{}", page.text());
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
}

/// A route that needs an `acr` the session lacks logs the user in again, asking for it; the
/// new login lands on that route with the `acr`, in a new session id; the route then serves
/// the session without a login, and an API client with a weaker session gets `401`.
pub async fn step_up_route_logs_in_again_for_its_acr<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.json()["id_token_claims"].get("acr").is_none());
    let weak_cookie = b.session_cookie().expect("a session").to_owned();

    let auth = b.start_login("/step-up").await;
    let q: HashMap<String, String> = query(&auth).into_iter().collect();
    assert_eq!(q["acr_values"], STEP_UP_ACR);
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/step-up"),
        "{}",
        page.text()
    );
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["id_token_claims"]["acr"], STEP_UP_ACR);
    assert_ne!(
        b.session_cookie(),
        Some(weak_cookie.as_str()),
        "the session id rotated"
    );
    let page = b.get("/step-up").await;
    assert_eq!(page.status, StatusCode::OK, "served without another login");

    let mut api = bench.browser();
    assert_eq!(api.login("/", "bob").await.status, StatusCode::OK);
    assert_eq!(
        api.get_json("/step-up").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// App code cannot set the protocol's own parameters: a login given `state`, `nonce`,
/// `redirect_uri`, a PKCE challenge, `client_id`, or a request object (`request`,
/// `request_uri`, whose values a provider takes over the query's), in any case, is refused
/// with the error view, starts no login, and the logged-in browser stays as it was.
pub async fn login_parameters_cannot_override_protocol_ones<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    for reserved in [
        "state",
        "nonce",
        "redirect_uri",
        "code_challenge",
        "client_id",
        "request",
        "request_uri",
        "State",
    ] {
        let page = b
            .get(&format!("/login-with?login_hint=x&{reserved}=attacker"))
            .await;
        assert_eq!(
            page.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{reserved}: {}",
            page.text()
        );
        assert_eq!(page.error(), "internal_error", "{reserved}");
        assert!(b.login_cookie_names().is_empty(), "{reserved}: no login");
    }
    before.unchanged(&mut b).await
}

/// A step-up login whose ID token carries another `acr` than the route asked for is refused,
/// and the session that was there stays as it was.
pub async fn step_up_with_another_acr_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    bench.provider.set_misbehavior(Misbehavior::WrongAcr);
    let auth = b.start_login("/step-up").await;
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    page.error();
    before.unchanged(&mut b).await
}

/// `GET /claims` reads the claims into the app's type through the adapter: standard claims,
/// a custom claim the provider released, and the standard accessors.
pub async fn typed_claims_are_read_through_the_adapter<A: App>() {
    let bench = Bench::<A>::new();
    bench
        .provider
        .set_user("alice", serde_json::json!({ "groups": ["admins", "ops"] }));
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let page = b.get("/claims").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let profile: Profile = serde_json::from_value(page.json()).expect("a profile");
    assert_eq!(
        profile,
        Profile {
            sub: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            groups: vec!["admins".into(), "ops".into()],
            preferred_username: Some("alice".into()),
        }
    );
    let mut anonymous = bench.browser();
    let page = anonymous.get("/claims").await;
    assert_eq!(page.status, StatusCode::FOUND, "protected like any route");
}

/// Claims that do not fit the route's type (a claim it needs was never released) are refused
/// with the error view (`403 insufficient_claims`), and the logged-in browser stays as it was.
pub async fn claims_not_fitting_the_type_are_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let page = b.get("/claims/phone").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text());
    assert_eq!(page.error(), "insufficient_claims");
    before.unchanged(&mut b).await
}

/// A step-up route's session due for a silent refresh: the silent login asks for the route's
/// `acr_values` too, and when the provider needs interaction (`login_required`), the
/// interactive login that follows still asks for them, and lands back on the route.
pub async fn step_up_route_asks_for_its_parameters_through_a_silent_refresh<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.session_refresh_interval(std::time::Duration::from_secs(60))),
        ..Default::default()
    });
    let mut b = bench.browser();
    let page = b.login("/step-up", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["id_token_claims"]["acr"], STEP_UP_ACR);
    bench.clock.advance(61);
    let silent = b.start_login("/step-up").await;
    let q: HashMap<String, String> = query(&silent).into_iter().collect();
    assert_eq!(q["prompt"], "none");
    assert_eq!(q["acr_values"], STEP_UP_ACR);
    // An empty username: the provider has no session for this user.
    let back = b.authorize(&silent, "");
    assert!(back.contains("error=login_required"), "{back}");
    let page = b.deliver(&silent, &back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let interactive = page.location().expect("the interactive login");
    let q: HashMap<String, String> = query(&interactive).into_iter().collect();
    assert!(!q.contains_key("prompt"), "{interactive}");
    assert_eq!(
        q["acr_values"], STEP_UP_ACR,
        "the route's parameters are kept"
    );
    let back = b.authorize(&interactive, "alice");
    let page = b.deliver(&interactive, &back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/step-up"),
        "{}",
        page.text()
    );
    let page = b.follow(page).await;
    assert_eq!(page.json()["id_token_claims"]["acr"], STEP_UP_ACR);
}
