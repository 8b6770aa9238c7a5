//! What the scenario suite does not cover: the guard response's headers, `MaybeUser`,
//! `MaybeClaims`, `ProviderUser`, route-specific bearer requirements, a guard without the
//! fairing, the body cap, ignition failures, the app's own catchers, configuration from
//! figment, the request head read once per request.

use std::str::FromStr;
use std::sync::Mutex;

use bytes::Bytes;
use http::StatusCode;
use oidc_runtime::{BoxFuture, Clock};
use oidc_testkit::harness::{App, Bench, BenchOptions, APP_URL, CLIENT_ID, CLIENT_SECRET, ISSUER};
use oidc_testkit::JwtAccessTokenSpec;
use rocket::http::{Header, Method};
use rocket::local::asynchronous::Client;

use super::*;

fn quiet(rocket: Rocket<Build>) -> Rocket<Build> {
    let config = rocket::Config::figment()
        .merge(("log_level", rocket::config::LogLevel::Off))
        .merge(("cli_colors", false));
    rocket.configure(config)
}

#[rocket::get("/")]
fn home(user: OidcUser) -> String {
    user.subject().to_owned()
}

#[rocket::get("/maybe")]
fn maybe(user: MaybeUser) -> String {
    match user.0 {
        Some(u) => u.subject().to_owned(),
        None => "anonymous".into(),
    }
}

/// Claims every simulated user has.
#[derive(serde::Deserialize)]
struct Named {
    preferred_username: String,
}

/// A claim no simulated user has.
#[derive(serde::Deserialize)]
struct Employee {
    // Read only to make the claim required.
    #[allow(dead_code)]
    employee_id: String,
}

#[rocket::get("/named")]
fn named(claims: MaybeClaims<Named>) -> String {
    claims
        .0
        .map_or_else(|| "anonymous".into(), |c| c.preferred_username)
}

#[rocket::get("/employee")]
fn employee(claims: MaybeClaims<Employee>) -> &'static str {
    match claims.0 {
        Some(_) => "an employee",
        None => "anonymous",
    }
}

#[rocket::get("/employee/result")]
fn employee_result(claims: Result<Claims<Employee>, GuardError>) -> &'static str {
    match claims {
        Ok(_) => "an employee",
        Err(GuardError::LoginRequired) => "anonymous",
        Err(GuardError::InsufficientClaims) => "not an employee",
        Err(_) => "another failure",
    }
}

#[rocket::get("/employee/option")]
fn employee_option(claims: Option<Claims<Employee>>) -> &'static str {
    match claims {
        Some(_) => "an employee",
        None => "none",
    }
}

struct Second;

impl ProviderName for Second {
    const NAME: &'static str = "second";
}

#[rocket::get("/second")]
fn second(user: ProviderUser<Second>) -> String {
    format!("{} via {}", user.subject(), user.provider)
}

struct OrdersRead;

impl BearerPolicy for OrdersRead {
    fn requirements() -> BearerRequirements {
        BearerRequirements::new().scopes(["orders.read"])
    }
}

#[rocket::get("/orders")]
fn orders(token: BearerWith<OrdersRead>) -> String {
    token.subject().unwrap_or("-").to_owned()
}

#[rocket::get("/orders/either")]
fn orders_either(who: SessionOrBearerWith<OrdersRead>) -> String {
    let via = match &*who {
        Principal::Bearer(_) => "bearer",
        _ => "session",
    };
    format!("{via} {}", who.subject().unwrap_or("-"))
}

struct TestApp {
    rocket: Mutex<Option<Rocket<Build>>>,
    client: tokio::sync::OnceCell<Client>,
}

impl TestApp {
    fn from_rocket(rocket: Rocket<Build>) -> Self {
        TestApp {
            rocket: Mutex::new(Some(rocket)),
            client: tokio::sync::OnceCell::new(),
        }
    }
}

impl App for TestApp {
    const ADAPTER: &'static str = "rocket-unit";

    fn new(rp: RelyingParty) -> Self {
        Self::new_under(rp, "/")
    }

    fn new_under(rp: RelyingParty, prefix: &'static str) -> Self {
        let rocket = quiet(rocket::build()).attach(OidcFairing::new(rp)).mount(
            prefix,
            rocket::routes![
                home,
                maybe,
                named,
                employee,
                employee_result,
                employee_option,
                second,
                orders,
                orders_either
            ],
        );
        TestApp::from_rocket(rocket)
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        Box::pin(async move {
            let client = self
                .client
                .get_or_init(|| async {
                    let rocket = self.rocket.lock().unwrap().take().unwrap();
                    Client::untracked(rocket).await.unwrap()
                })
                .await;
            dispatch(client, request).await
        })
    }
}

async fn dispatch(client: &Client, request: http::Request<Bytes>) -> http::Response<Bytes> {
    let (parts, body) = request.into_parts();
    let mut local = client.req(
        Method::from_str(parts.method.as_str()).unwrap(),
        parts.uri.to_string(),
    );
    for (name, value) in &parts.headers {
        local.add_header(Header::new(
            name.as_str().to_owned(),
            value.to_str().unwrap().to_owned(),
        ));
    }
    local.set_body(body);
    let response = local.dispatch().await;
    let mut out = http::Response::builder().status(response.status().code);
    for header in response.headers().iter() {
        out = out.header(header.name().as_str(), header.value());
    }
    let body = response.into_bytes().await.unwrap_or_default();
    out.body(Bytes::from(body)).unwrap()
}

fn two_providers() -> Bench<TestApp> {
    let bench = Bench::with(BenchOptions::default().rp(|rp| {
        rp.provider(
            "second",
            ProviderConfig::discover(ISSUER)
                .client(ClientMetadata::new(CLIENT_ID, CLIENT_SECRET))
                .build()
                .unwrap(),
        )
    }));
    // With two providers, each has its own redirect URI (both mounted by the fairing),
    // registered at the provider.
    let mut client = oidc_testkit::SimClient::confidential(
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("{APP_URL}/redirect_uri/default"),
    );
    client
        .redirect_uris
        .push(format!("{APP_URL}/redirect_uri/second"));
    bench.provider.register_client(client);
    bench
}

#[tokio::test]
async fn guard_answers_with_the_core_response_and_keeps_shield_headers() {
    let bench = Bench::<TestApp>::new();
    let mut b = bench.browser();
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(page.location().unwrap().starts_with(ISSUER));
    assert!(page.body.is_empty(), "not the 401 catcher's page");
    assert!(page.headers.get("content-type").is_none());
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.headers.contains_key("x-frame-options"), "Shield's");
    assert!(page.headers.contains_key("set-cookie"));
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.json()["error"], "login_required");
}

fn api_request(path: &str, token: Option<&str>) -> http::Request<Bytes> {
    let mut request = http::Request::get(path).header("accept", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Bytes::new()).unwrap()
}

fn jwt(bench: &Bench<TestApp>, scope: &str) -> String {
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, scope);
    bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now())
}

#[tokio::test]
async fn bearer_refusals_are_the_core_responses() {
    let bench = Bench::<TestApp>::new();
    let unscoped = jwt(&bench, "openid");
    let cases = [
        (None, StatusCode::UNAUTHORIZED),
        (Some("a b"), StatusCode::UNAUTHORIZED),
        (Some(unscoped.as_str()), StatusCode::FORBIDDEN),
    ];
    for (token, status) in cases {
        let request = api_request("/orders", token);
        let parts = request.clone().into_parts().0;
        let expected = bench
            .rp
            .authorize_bearer(&parts, &OrdersRead::requirements())
            .await
            .unwrap_err();
        let got = bench.app.call(request).await;
        assert_eq!(got.status(), status, "{token:?}");
        assert_eq!(got.status(), expected.status(), "{token:?}");
        for name in expected.headers().keys() {
            let want: Vec<_> = expected.headers().get_all(name).iter().collect();
            let have: Vec<_> = got.headers().get_all(name).iter().collect();
            assert_eq!(have, want, "{token:?}: {name}");
        }
        assert!(got.headers().contains_key("www-authenticate"));
        assert_eq!(got.body(), expected.body(), "{token:?}");
        assert!(got.headers().contains_key("x-frame-options"), "Shield's");
    }
    let challenge = bench
        .app
        .call(api_request("/orders", Some(&unscoped)))
        .await;
    let challenge = challenge.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("scope=\"orders.read\""), "{challenge}");
    let scoped = jwt(&bench, "openid orders.read");
    let page = bench.app.call(api_request("/orders", Some(&scoped))).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.body().as_ref(), b"alice");
}

#[tokio::test]
async fn session_or_bearer_with_a_policy() {
    let bench = Bench::<TestApp>::new();
    let mut b = bench.browser();
    let page = b.get("/orders/either").await;
    assert_eq!(page.status, StatusCode::FOUND, "a browser logs in");
    let page = b.get_json("/orders/either").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    b.login("/", "alice").await;
    assert_eq!(b.get("/orders/either").await.text(), "session alice");
    let unscoped = jwt(&bench, "openid");
    let page = bench
        .app
        .call(api_request("/orders/either", Some(&unscoped)))
        .await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN, "the policy's scope");
    let scoped = jwt(&bench, "orders.read");
    let page = bench
        .app
        .call(api_request("/orders/either", Some(&scoped)))
        .await;
    assert_eq!(page.body().as_ref(), b"bearer alice");
}

#[tokio::test]
async fn maybe_user_does_not_start_a_login() {
    let bench = Bench::<TestApp>::new();
    let mut b = bench.browser();
    let page = b.get("/maybe").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(), "anonymous");
    assert!(page.headers.get("set-cookie").is_none());
    b.login("/", "alice").await;
    assert_eq!(b.get("/maybe").await.text(), "alice");
}

/// `MaybeClaims<T>` is `None` for an anonymous browser, without starting a login, and the
/// claims once logged in; a logged-in user whose claims do not fit `T` gets `403`
/// `insufficient_claims`, never `None`. `Result<Claims<T>, GuardError>` names the two
/// failures apart; `Option<Claims<T>>` is Rocket's, `None` for either.
#[tokio::test]
async fn maybe_claims_are_none_only_when_anonymous() {
    let bench = Bench::<TestApp>::new();
    let mut b = bench.browser();
    for path in ["/named", "/employee"] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.text(), "anonymous", "{path}");
        assert!(page.headers.get("set-cookie").is_none(), "{path}");
    }
    assert_eq!(b.get("/employee/result").await.text(), "anonymous");
    b.login("/", "alice").await;
    assert_eq!(b.get("/named").await.text(), "alice");
    let page = b.get("/employee").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text());
    assert_eq!(page.error(), "insufficient_claims");
    assert_eq!(b.get("/employee/result").await.text(), "not an employee");
    assert_eq!(b.get("/employee/option").await.text(), "none");
    assert_eq!(b.get("/maybe").await.text(), "alice", "still logged in");
}

#[tokio::test]
async fn provider_user_requires_that_provider() {
    let bench = two_providers();
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.text(), "alice");
    // A session with the default provider does not count for `second`.
    let page = b.login("/second", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.text(), "alice via second");
    assert_eq!(b.get("/").await.status, StatusCode::FOUND);
}

#[tokio::test]
async fn the_login_route_is_served_and_other_paths_forwarded() {
    let bench = Bench::<TestApp>::new();
    let mut b = bench.browser();
    let page = b.get("/login?next=%2Fmaybe").await;
    assert_eq!(page.status, StatusCode::FOUND);
    let back = b.authorize(&page.location().unwrap(), "bob");
    let page = b.get(&back).await;
    assert_eq!(page.location().as_deref(), Some("/maybe"));
    assert_eq!(b.get("/maybe").await.text(), "bob");
    assert_eq!(b.get("/nowhere").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_callback_body_is_refused() {
    let bench = Bench::<TestApp>::new();
    let request = http::Request::post("/redirect_uri")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(vec![b'a'; MAX_CALLBACK_BODY + 1]))
        .unwrap();
    let response = bench.app.call(request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn guards_without_the_fairing_fail_with_500() {
    let rocket = quiet(rocket::build()).mount("/", rocket::routes![home, maybe, orders]);
    let client = Client::untracked(rocket).await.unwrap();
    for path in ["/", "/maybe", "/orders"] {
        let request = http::Request::get(path).body(Bytes::new()).unwrap();
        let response = dispatch(&client, request).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

#[tokio::test]
async fn ignition_fails_when_a_relying_party_is_already_managed() {
    let bench = Bench::<TestApp>::new();
    let rocket = quiet(rocket::build())
        .manage(bench.rp.clone())
        .attach(OidcFairing::new(bench.rp.clone()));
    match Client::untracked(rocket).await {
        // Reading the kind marks the error handled (an unread one panics when dropped).
        Err(e) => assert!(matches!(
            e.kind(),
            rocket::error::ErrorKind::FailedFairings(f) if f[0].name == "OpenID Connect"
        )),
        Ok(_) => panic!("ignition should fail"),
    }
}

#[rocket::catch(401)]
fn own_401() -> &'static str {
    "the app's own 401 page"
}

/// The app's 401 catcher at `/admin` sends the kept answer to browsers only.
#[rocket::catch(401)]
fn admin_401(request: &Request<'_>) -> Result<GuardResponse, (Status, &'static str)> {
    let browser = request
        .headers()
        .get_one("accept")
        .is_none_or(|accept| !accept.contains("json"));
    match browser {
        true => guard_response(request).ok_or((Status::Forbidden, "forbidden")),
        false => Err((Status::Forbidden, "forbidden")),
    }
}

#[tokio::test]
async fn an_apps_own_401_catcher_answers() {
    let bench = Bench::<TestApp>::new();
    let rocket = quiet(rocket::build())
        .attach(OidcFairing::new(bench.rp.clone()))
        .mount("/", rocket::routes![home, maybe])
        .register("/", rocket::catchers![own_401]);
    let app = TestApp::from_rocket(rocket);
    let mut b = bench.browser();
    b.use_app(&app);
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.text(), "the app's own 401 page");
    assert!(page.headers.get("location").is_none(), "not replaced");
    assert!(
        b.login_cookie_names().is_empty(),
        "the kept login response, and its cookie, are not sent"
    );
    assert_eq!(b.get("/maybe").await.text(), "anonymous", "nothing changed");
}

#[tokio::test]
async fn an_apps_catcher_under_a_base_may_send_the_kept_answer() {
    let bench = Bench::<TestApp>::new();
    let rocket = quiet(rocket::build())
        .attach(OidcFairing::new(bench.rp.clone()))
        .mount("/", rocket::routes![home, maybe])
        .mount("/admin", rocket::routes![home])
        .register("/admin", rocket::catchers![admin_401]);
    let app = TestApp::from_rocket(rocket);
    let mut b = bench.browser();
    b.use_app(&app);
    let page = b.get_json("/admin").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "the app's catcher");
    let page = b.get("/admin").await;
    assert_eq!(
        page.status,
        StatusCode::FOUND,
        "the app's catcher sent ours"
    );
    assert!(page.location().unwrap().starts_with(ISSUER));
    // Outside `/admin` the fairing's catcher answers: the JSON 401 of API requests.
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.json()["error"], "login_required");
    assert_eq!(b.login("/admin", "alice").await.text(), "alice");
}

#[tokio::test]
async fn mounting_our_catchers_gives_the_relying_partys_answers() {
    let bench = Bench::<TestApp>::new();
    let rocket = quiet(rocket::build())
        .attach(OidcFairing::new(bench.rp.clone()))
        .mount("/", rocket::routes![home, maybe])
        .register("/", catchers());
    let app = TestApp::from_rocket(rocket);
    let mut b = bench.browser();
    b.use_app(&app);
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(page.location().unwrap().starts_with(ISSUER));
    assert!(page.body.is_empty());
    assert!(page.headers.contains_key("x-frame-options"), "Shield's");
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.json()["error"], "login_required");
    assert_eq!(b.login("/", "alice").await.text(), "alice");
}

#[rocket::get("/refuse")]
fn refuse() -> Status {
    Status::Unauthorized
}

#[tokio::test]
async fn a_401_of_the_apps_handler_is_not_a_login() {
    let bench = Bench::<TestApp>::new();
    let rocket = quiet(rocket::build())
        .attach(OidcFairing::new(bench.rp.clone()))
        .mount("/", rocket::routes![refuse]);
    let app = TestApp::from_rocket(rocket);
    let mut b = bench.browser();
    b.use_app(&app);
    let page = b.get("/refuse").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.text(), "401 Unauthorized");
    assert!(page.headers.get("set-cookie").is_none());
}

const OIDC_TOML: &str = r#"
[default.oidc]
app_url = "http://app.test"
session = { secret = "a session secret of at least thirty-two bytes" }

[default.oidc.providers.default]
issuer = "https://op.test"
client_id = "test-client"
client_secret = "test-secret"
scopes = ["openid", "profile", "email"]
"#;

fn figment(toml: &str) -> rocket::figment::Figment {
    use rocket::figment::providers::Format;
    rocket::Config::figment()
        .merge(("log_level", rocket::config::LogLevel::Off))
        .merge(("cli_colors", false))
        .merge(rocket::figment::providers::Toml::string(toml).nested())
}

fn sim_transport(
    bench: &Bench<TestApp>,
) -> impl Fn(RelyingPartyBuilder) -> RelyingPartyBuilder + Send + Sync + 'static {
    let transport = bench.transport.clone();
    let clock = bench.clock.clone();
    move |builder| {
        builder
            .transport(Arc::new(transport.clone()))
            .clock(clock.clone())
    }
}

#[tokio::test]
async fn the_relying_party_is_read_from_the_rocket_configuration() {
    // The constants the bench registered its client with.
    assert!(OIDC_TOML.contains(APP_URL) && OIDC_TOML.contains(ISSUER));
    assert!(OIDC_TOML.contains(CLIENT_ID) && OIDC_TOML.contains(CLIENT_SECRET));
    let bench = Bench::<TestApp>::new();
    let rocket = rocket::custom(figment(OIDC_TOML))
        .attach(OidcFairing::from_figment_with(sim_transport(&bench)))
        .mount("/", rocket::routes![home, maybe]);
    let app = TestApp::from_rocket(rocket);
    let mut b = bench.browser();
    b.use_app(&app);
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(page.location().unwrap().starts_with(ISSUER));
    let page = b.login("/", "alice").await;
    assert_eq!(page.text(), "alice");
    assert_eq!(b.get("/maybe").await.text(), "alice");
}

#[tokio::test]
async fn ignition_fails_on_a_missing_or_invalid_configuration() {
    let bench = Bench::<TestApp>::new();
    let no_app_url = OIDC_TOML.replace("app_url = \"http://app.test\"", "");
    let unknown_field = OIDC_TOML.replace("scopes =", "scope =");
    for toml in ["", no_app_url.as_str(), unknown_field.as_str()] {
        let rocket = rocket::custom(figment(toml))
            .attach(OidcFairing::from_figment_with(sim_transport(&bench)))
            .mount("/", rocket::routes![home]);
        match Client::untracked(rocket).await {
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    rocket::error::ErrorKind::FailedFairings(f) if f[0].name == "OpenID Connect"
                ),
                "{toml}"
            ),
            Ok(_) => panic!("ignition should fail: {toml}"),
        }
    }
}

#[tokio::test]
async fn the_request_head_is_read_once_per_request() {
    let client = Client::untracked(quiet(rocket::build())).await.unwrap();
    let request = client
        .get("/page?x=1")
        .header(Header::new("x-custom", "one"))
        .header(Header::new("accept", "application/json"));
    let first = parts(&request).unwrap();
    let second = parts(&request).unwrap();
    assert!(std::ptr::eq(first, second), "the cached copy is shared");
    assert_eq!(first.uri, "/page?x=1");
    assert_eq!(first.headers["x-custom"], "one");
    assert_eq!(first.headers["accept"], "application/json");
}

/// The URI crosses as Rocket received it, percent-encoding kept, with and without a query.
#[tokio::test]
async fn the_request_uri_crosses_raw() {
    let client = Client::untracked(quiet(rocket::build())).await.unwrap();
    for uri in ["/a%20b/c", "/a%20b?q=%2F&r", "/"] {
        let request = client.get(uri);
        assert_eq!(parts(&request).unwrap().uri, uri);
    }
}
