//! The scenario suite through the warp adapter.

use std::sync::Arc;

use ::warp::{Filter, Rejection, Reply};
use bytes::Bytes;
use oidc_core::{BoxFuture, RelyingParty, UserSession};
use oidc_testkit::harness::{contract_json, App};

struct WarpApp(RelyingParty);

fn home(user: Arc<UserSession>) -> ::warp::reply::Json {
    ::warp::reply::json(&contract_json(&user))
}

/// The contract app: `GET`/`POST /` and `GET /second` protected, the relying party's routes.
fn app(rp: RelyingParty) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let root = ::warp::path::end()
        .and(::warp::get().or(::warp::post()).unify())
        .and(oidc_warp::user(rp.clone()))
        .map(home);
    let second = ::warp::path!("second")
        .and(::warp::get())
        .and(oidc_warp::user_for(rp.clone(), "second"))
        .map(home);
    oidc_warp::routes(rp)
        .or(root)
        .or(second)
        .recover(oidc_warp::recover)
}

impl App for WarpApp {
    const ADAPTER: &'static str = "warp";

    fn new(rp: RelyingParty) -> Self {
        WarpApp(rp)
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        let filter = app(self.0.clone());
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let target = parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            let mut builder = ::warp::test::request()
                .method(parts.method.as_str())
                .path(target);
            // The test builder sets one value per header: join repeated ones as HTTP allows.
            for name in parts.headers.keys() {
                let separator: &[u8] = if name == http::header::COOKIE {
                    b"; "
                } else {
                    b", "
                };
                let value = parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(http::HeaderValue::as_bytes)
                    .collect::<Vec<_>>()
                    .join(separator);
                let value = http::HeaderValue::from_bytes(&value).expect("a valid header value");
                builder = builder.header(name.clone(), value);
            }
            if !body.is_empty() {
                builder = builder.body(body);
            }
            builder.reply(&filter).await
        })
    }
}

oidc_testkit::scenarios!(warp, WarpApp);

/// What the scenarios do not reach: the body path of the redirect endpoint, fall-through, the
/// named-provider filter and `maybe_user`.
mod adapter {
    use super::*;
    use http::{header, StatusCode};
    use oidc_testkit::harness::{Bench, BenchOptions, APP_URL, CLIENT_ID, CLIENT_SECRET, ISSUER};

    fn post_form(path: &str, body: impl Into<Bytes>) -> http::Request<Bytes> {
        http::Request::post(format!("{APP_URL}{path}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.into())
            .unwrap()
    }

    #[tokio::test]
    async fn posted_authorization_response_logs_in() {
        let bench = Bench::<WarpApp>::new();
        let mut b = bench.browser();
        let auth = b.start_login("/?posted=1").await;
        let back = b.authorize(&auth, "alice");
        let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
        let page = b.send(post_form("/redirect_uri", query)).await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
        assert_eq!(page.location().as_deref(), Some("/?posted=1"));
        assert!(page.headers.contains_key(header::SET_COOKIE));
        assert!(b.is_logged_in().await);
    }

    #[tokio::test]
    async fn oversized_body_is_refused() {
        let bench = Bench::<WarpApp>::new();
        let mut b = bench.browser();
        let auth = b.start_login("/").await;
        let back = b.authorize(&auth, "alice");
        let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
        let body = format!("{query}&pad={}", "x".repeat(64 * 1024));
        let page = b.send(post_form("/redirect_uri", body)).await;
        assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!b.is_logged_in().await);
    }

    #[tokio::test]
    async fn other_paths_fall_through() {
        let bench = Bench::<WarpApp>::new();
        let mut b = bench.browser();
        let page = b.get("/nowhere").await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(b.session_cookie().is_none(), "no login started");
    }

    #[tokio::test]
    async fn named_provider_needs_its_own_session() {
        let bench = Bench::<WarpApp>::with(BenchOptions {
            rp: Box::new(|r| {
                r.provider(
                    "second",
                    oidc_core::ProviderConfig::discover(ISSUER)
                        .client(oidc_core::ClientMetadata::new(CLIENT_ID, CLIENT_SECRET))
                        .build()
                        .unwrap(),
                )
            }),
            ..Default::default()
        });
        let mut b = bench.browser();
        assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
        assert_eq!(b.get_json("/second").await.status, StatusCode::UNAUTHORIZED);
        let page = b.login("/second", "alice").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        assert_eq!(page.json()["provider"], "second");
    }

    #[tokio::test]
    async fn maybe_user_reads_the_session() {
        let bench = Bench::<WarpApp>::new();
        let filter = oidc_warp::maybe_user(bench.rp.clone());
        let anonymous = ::warp::test::request().filter(&filter).await.unwrap();
        assert!(anonymous.is_none());
        let mut b = bench.browser();
        b.login("/", "alice").await;
        let cookie = format!("oidc_session={}", b.session_cookie().unwrap());
        let user = ::warp::test::request()
            .header(header::COOKIE, cookie)
            .filter(&filter)
            .await
            .unwrap()
            .expect("a session");
        assert_eq!(user.subject(), "alice");
    }
}
