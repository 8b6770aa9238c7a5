//! What the scenario suite does not cover for axum: `MaybeUser`, the callback body cap, and
//! extractors used without the layer.

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use oidc_runtime::BoxFuture;
use oidc_testkit::harness::{App, Bench, APP_URL};
use tower::ServiceExt;

use super::*;

async fn home(OidcUser(user): OidcUser) -> String {
    user.subject().to_owned()
}

async fn maybe(MaybeUser(user): MaybeUser) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.subject().to_owned())
}

fn routes() -> Router {
    let protected = Router::new()
        .route("/protected/maybe", get(maybe))
        .route_layer(RequireLogin::new());
    Router::new()
        .route("/", get(home))
        .route("/maybe", get(maybe))
        .merge(protected)
}

struct TestApp(Router);

impl App for TestApp {
    const ADAPTER: &'static str = "axum-unit";

    fn new(rp: RelyingParty) -> Self {
        TestApp(routes().layer(OidcLayer::new(rp)))
    }

    fn new_under(rp: RelyingParty, prefix: &'static str) -> Self {
        TestApp(
            Router::new()
                .nest(prefix, routes())
                .layer(OidcLayer::new(rp)),
        )
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        dispatch(self.0.clone(), request)
    }
}

fn dispatch(
    router: Router,
    request: http::Request<Bytes>,
) -> BoxFuture<'static, http::Response<Bytes>> {
    Box::pin(async move {
        let response = router.oneshot(request.map(Body::from)).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        http::Response::from_parts(parts, body)
    })
}

fn post_form(body: Vec<u8>) -> http::Request<Bytes> {
    http::Request::post(format!("{APP_URL}/redirect_uri"))
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Bytes::from(body))
        .unwrap()
}

/// `MaybeUser` answers for an anonymous browser without starting a login (no redirect, no
/// cookie set), sees the session once there is one, and takes the session a `RequireLogin`
/// layer already checked.
#[tokio::test]
async fn maybe_user_does_not_start_a_login() {
    let bench = Bench::<TestApp>::new();
    let mut b = bench.browser();
    let page = b.get("/maybe").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(), "anonymous");
    assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    assert_eq!(b.login("/", "alice").await.text(), "alice");
    assert_eq!(b.get("/maybe").await.text(), "alice");
    assert_eq!(b.get("/protected/maybe").await.text(), "alice");
    let mut anonymous = bench.browser();
    assert_eq!(
        anonymous.get("/protected/maybe").await.status,
        StatusCode::FOUND,
        "the layer, not MaybeUser, decides there"
    );
}

/// A posted authorization response over the 64 KiB cap is refused with 413 before the core
/// sees it, and neither the browser's session nor its pending login is touched: the same
/// response within the cap then still completes that login.
#[tokio::test]
async fn oversized_callback_body_is_refused() {
    let bench = Bench::<TestApp>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let auth = b.start_login("/login?next=%2Fmaybe").await;
    let back = b.authorize(&auth, "bob");
    let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
    let mut body = format!("{query}&pad=").into_bytes();
    body.resize(MAX_CALLBACK_BODY + 1, b'x');
    let page = b.send(post_form(body)).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    assert_eq!(b.get("/").await.text(), "alice", "still logged in as alice");
    let page = b.send(post_form(query.into_bytes())).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert_eq!(page.location().as_deref(), Some("/maybe"));
    assert_eq!(
        b.get("/maybe").await.text(),
        "bob",
        "the pending login completed"
    );
}

/// Extractors on a route without `OidcLayer` fail closed with 500, never as anonymous.
#[tokio::test]
async fn extractors_without_the_layer_fail_with_500() {
    for path in ["/", "/maybe"] {
        let request = http::Request::get(path).body(Bytes::new()).unwrap();
        let response = dispatch(routes(), request).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
    }
}
