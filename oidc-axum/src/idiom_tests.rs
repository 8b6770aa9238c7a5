//! The axum idioms: matching on `OidcRejection`, `Option<OidcUser>` and `Option<Claims<T>>`,
//! `Router::nest` through `OriginalUri`, the relying party in the router's state, and `error_view`.

use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use oidc_runtime::BoxFuture;
use oidc_testkit::harness::{App, Bench};
use tower::ServiceExt;

use super::*;

async fn subject(OidcUser(user): OidcUser) -> String {
    user.subject().to_owned()
}

/// What an app does with a matched rejection: keeps the login redirect, answers API clients
/// its own way.
async fn matched(user: Result<OidcUser, OidcRejection>) -> Response {
    match user {
        Ok(OidcUser(user)) => user.subject().to_owned().into_response(),
        Err(rejection @ OidcRejection::LoginRequired(_)) => rejection.into_response(),
        Err(OidcRejection::Unauthorized(_)) => {
            (StatusCode::IM_A_TEAPOT, "an API client, not logged in").into_response()
        }
        Err(other) => other.into_response(),
    }
}

async fn who(user: Option<OidcUser>) -> String {
    user.map_or_else(
        || "anonymous".to_owned(),
        |OidcUser(u)| u.subject().to_owned(),
    )
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

async fn optional_claims(claims: Option<Claims<Named>>) -> String {
    claims.map_or_else(|| "anonymous".to_owned(), |Claims(c)| c.preferred_username)
}

async fn optional_employee(claims: Option<Claims<Employee>>) -> &'static str {
    match claims {
        Some(_) => "an employee",
        None => "anonymous",
    }
}

/// Every idiom in one app: `/` matches on the rejection, `/who` takes `Option<OidcUser>`,
/// `/admin` is a nest with a layer of its own inside (its handlers see stripped paths) and a
/// `/logout` of the app's, `/area` a nest guarded by `RequireLogin`, and `/state` a nest added
/// after the layer, reaching the relying party through the router's state alone.
fn idiom_routes(rp: RelyingParty) -> Router {
    let admin = Router::new()
        .route("/page", get(subject))
        .route("/logout", get(|| async { "the app's own logout" }))
        .layer(OidcLayer::new(rp.clone()));
    let area = Router::new()
        .route("/guarded", get(subject))
        .route_layer(RequireLogin::new());
    let stateful = Router::new()
        .route("/", get(subject))
        .with_state(rp.clone());
    Router::new()
        .route("/", get(matched))
        .route("/who", get(who))
        .route("/named", get(optional_claims))
        .route("/employee", get(optional_employee))
        .nest("/admin", admin)
        .nest("/area", area)
        .layer(OidcLayer::new(rp))
        .nest("/state", stateful)
}

struct IdiomApp(Router);

impl App for IdiomApp {
    const ADAPTER: &'static str = "axum-idioms";

    fn new(rp: RelyingParty) -> Self {
        IdiomApp(idiom_routes(rp))
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        IdiomApp(self.0.clone()).call_owned(request)
    }
}

/// A handler taking `Result<OidcUser, OidcRejection>` sees a browser's missing session as
/// `LoginRequired` (whose response is the same login redirect `OidcUser` sends) and an API
/// client's as `Unauthorized`, which it answers its own way; once logged in, the user.
#[tokio::test]
async fn rejections_can_be_matched() {
    let bench = Bench::<IdiomApp>::new();
    let mut b = bench.browser();
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::FOUND);
    let location = page.location().unwrap_or_default();
    assert!(
        location.starts_with(oidc_testkit::harness::ISSUER),
        "{location}"
    );
    assert!(page.headers.get(http::header::SET_COOKIE).is_some());
    let plain = b.get("/admin/page").await;
    assert_eq!(plain.status, page.status, "as OidcUser answers");
    let api = b.get_json("/").await;
    assert_eq!(api.status, StatusCode::IM_A_TEAPOT, "{}", api.text());
    assert_eq!(b.login("/", "alice").await.text(), "alice");
    assert_eq!(b.get("/").await.text(), "alice");
}

/// `Option<OidcUser>` is `None` for an anonymous browser, without a redirect or any cookie,
/// and the user once logged in.
#[tokio::test]
async fn optional_user_never_starts_a_login() {
    let bench = Bench::<IdiomApp>::new();
    let mut b = bench.browser();
    let page = b.get("/who").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(), "anonymous");
    assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    b.login("/", "alice").await;
    assert_eq!(b.get("/who").await.text(), "alice");
}

/// `Option<Claims<T>>` is `None` for an anonymous browser, without a redirect or any cookie,
/// and the claims once logged in; a logged-in user whose claims do not fit `T` gets the typed
/// `403` `insufficient_claims`, never `None`, and stays logged in.
#[tokio::test]
async fn optional_claims_are_none_only_when_anonymous() {
    let bench = Bench::<IdiomApp>::new();
    let mut b = bench.browser();
    for path in ["/named", "/employee"] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.text(), "anonymous", "{path}");
        assert!(
            page.headers.get(http::header::SET_COOKIE).is_none(),
            "{path}"
        );
    }
    b.login("/", "alice").await;
    assert_eq!(b.get("/named").await.text(), "alice");
    let page = b.get("/employee").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text());
    assert_eq!(page.error(), "insufficient_claims");
    assert_eq!(b.get("/who").await.text(), "alice", "still logged in");
}

/// A protected handler inside `Router::nest` (with the layer inside the nest, seeing the
/// stripped path) and a `RequireLogin` layer inside another return the user to the page
/// asked for, with its prefix: the original URI's path, not the nested one.
#[tokio::test]
async fn nested_logins_return_to_the_original_path() {
    let bench = Bench::<IdiomApp>::new();
    for (path, user) in [("/admin/page?x=1", "alice"), ("/area/guarded", "bob")] {
        let mut b = bench.browser();
        let auth = b.start_login(path).await;
        let back = b.authorize(&auth, user);
        let page = b.deliver(&auth, &back).await;
        assert_eq!(page.location().as_deref(), Some(path), "{}", page.text());
        assert_eq!(b.follow(page).await.text(), user);
    }
}

/// A layer inside `Router::nest("/admin", ..)` matches its own routes on the original path:
/// the app's `/admin/logout` stays the app's, and the logged-in session is not ended.
#[tokio::test]
async fn nested_layer_leaves_the_apps_own_routes_alone() {
    let bench = Bench::<IdiomApp>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let page = b.get("/admin/logout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(), "the app's own logout");
    assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    assert_eq!(b.get("/").await.text(), "alice", "still logged in");
}

/// Without `OidcLayer` on the route, the extractors find the relying party in the router's
/// state: the login starts there and returns to that page.
#[tokio::test]
async fn relying_party_in_the_state_serves_the_extractors() {
    let bench = Bench::<IdiomApp>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/state").await;
    let back = b.authorize(&auth, "carol");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/state"),
        "{}",
        page.text()
    );
    assert_eq!(b.follow(page).await.text(), "carol");
}

/// An app without the layer nor the relying party in its state gets `MissingLayer`, which
/// answers 500 as before.
#[tokio::test]
async fn missing_layer_is_a_typed_rejection() {
    async fn probe(user: Result<OidcUser, OidcRejection>) -> String {
        match user {
            Err(OidcRejection::MissingLayer) => "missing layer".to_owned(),
            other => format!("{other:?}"),
        }
    }
    let app = Router::new().route("/", get(probe));
    let response = app
        .oneshot(http::Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"missing layer");
    assert_eq!(
        OidcRejection::MissingLayer.into_response().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

fn info() -> ErrorInfo {
    ErrorInfo::new(
        StatusCode::BAD_GATEWAY,
        "temporarily_unavailable",
        "the provider is down",
    )
}

/// `error_view` renders axum responses into the core's: status, headers and body as the
/// view built them, for `Html` and `Json` alike.
#[test]
fn error_view_renders_axum_responses() {
    let html =
        error_view(|info: &ErrorInfo| (info.status, Html(format!("<h1>{}</h1>", info.error))));
    let page = html.render(&info());
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        page.headers()[http::header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert_eq!(&page.body()[..], b"<h1>temporarily_unavailable</h1>");
    let json = error_view(|info: &ErrorInfo| {
        (
            info.status,
            Json(serde_json::json!({ "error": info.error })),
        )
    });
    let page = json.render(&info());
    assert_eq!(
        page.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    let body: serde_json::Value = serde_json::from_slice(page.body()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}

/// A view whose body is a stream that is not ready cannot be read synchronously: the default
/// page answers with the same status instead of a hang or a panic.
#[test]
fn error_view_with_a_stream_falls_back_to_the_default_page() {
    let view = error_view(|info: &ErrorInfo| {
        let stream = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
        (info.status, Body::from_stream(stream))
    });
    let page = view.render(&info());
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    let default = HtmlErrorView.render(&info());
    assert_eq!(page.headers(), default.headers());
    assert_eq!(page.body(), default.body());
}

/// The relying party renders its own failures through an `error_view` as well: a callback
/// with an unknown `state`, from a logged-in browser, gets the app's page and leaves the
/// session as it was.
#[tokio::test]
async fn error_view_is_used_by_the_relying_party() {
    let bench = Bench::<IdiomApp>::with(oidc_testkit::harness::BenchOptions::default().rp(|b| {
        b.error_view(error_view(|info: &ErrorInfo| {
            (
                info.status,
                Html(format!("<p>app page: {}</p>", info.error)),
            )
        }))
    }));
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let page = b.get("/redirect_uri?code=forged&state=forged").await;
    assert!(page.status.is_client_error(), "{}", page.status);
    assert!(page.text().starts_with("<p>app page: "), "{}", page.text());
    assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    assert_eq!(b.get("/").await.text(), "alice", "still logged in");
}

#[derive(Clone)]
struct AppState {
    rp: RelyingParty,
    greeting: &'static str,
}

impl axum::extract::FromRef<AppState> for RelyingParty {
    fn from_ref(state: &AppState) -> Self {
        state.rp.clone()
    }
}

/// An app state holding the relying party (`RelyingParty: FromRef<AppState>`): the layer
/// made from it serves the logins, and handlers read the rest of the state next to
/// `OidcUser`.
struct AppStateApp(Router);

impl App for AppStateApp {
    const ADAPTER: &'static str = "axum-app-state";

    fn new(rp: RelyingParty) -> Self {
        async fn greet(
            axum::extract::State(state): axum::extract::State<AppState>,
            OidcUser(user): OidcUser,
        ) -> String {
            format!("{} {}", state.greeting, user.subject())
        }
        let state = AppState {
            rp,
            greeting: "hello",
        };
        AppStateApp(
            Router::new()
                .route("/", get(greet))
                .layer(OidcLayer::from_state(&state))
                .with_state(state),
        )
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        IdiomApp(self.0.clone()).call_owned(request)
    }
}

impl IdiomApp {
    fn call_owned(
        self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, http::Response<Bytes>> {
        Box::pin(async move {
            let response = self.0.oneshot(request.map(Body::from)).await.unwrap();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            http::Response::from_parts(parts, body)
        })
    }
}

/// `OidcLayer::from_state` with an app state: a whole login, then the state and the user in
/// one handler.
#[tokio::test]
async fn layer_from_an_app_state() {
    let bench = Bench::<AppStateApp>::new();
    let mut b = bench.browser();
    assert_eq!(b.login("/", "dave").await.text(), "hello dave");
}

/// A rejection's Debug shows its variant and status, never the carried response's
/// `Location` (the login's `state`) or cookies.
#[test]
fn rejection_debug_hides_the_response() {
    let response = Response::builder()
        .status(StatusCode::FOUND)
        .header(
            http::header::LOCATION,
            "https://op.test/auth?state=s3cret-state",
        )
        .header(http::header::SET_COOKIE, "oidc_login=s3cret-cookie")
        .body(Body::empty())
        .unwrap();
    let debug = format!("{:?}", OidcRejection::LoginRequired(response));
    assert!(debug.contains("LoginRequired"), "{debug}");
    assert!(debug.contains("302"), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
}
