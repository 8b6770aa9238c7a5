//! The hardening scenarios (`oidc_testkit::hardening_scenarios`) through each adapter's
//! contract app (`common/`), and a bounded load test of the axum demo pieces over loopback.

mod common;

use common::axum_app::AxumApp;
use common::rocket_app::RocketApp;
use common::warp_app::WarpApp;

oidc_testkit::hardening_scenarios!(axum, AxumApp);
oidc_testkit::hardening_scenarios!(rocket, RocketApp);
oidc_testkit::hardening_scenarios!(warp, WarpApp);

oidc_testkit::hardening_token_scenarios!(axum_tokens, AxumApp);
oidc_testkit::hardening_token_scenarios!(rocket_tokens, RocketApp);
oidc_testkit::hardening_token_scenarios!(warp_tokens, WarpApp);

/// Hundreds of concurrent browser-like clients log in through the axum adapter, served on a
/// loopback port, against the embedded development provider (also on loopback): every client
/// ends up with its own identity, and memory does not grow from one round to the next.
mod load {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use ::axum::routing::get;
    use ::axum::{Json, Router};
    use bytes::Bytes;
    use http::{header, Request, StatusCode};
    use oidc_axum::{OidcLayer, OidcUser};
    use oidc_core::{ClientMetadata, JsonErrorView, ProviderConfig, RelyingParty, Transport};
    use oidc_reqwest::ReqwestTransport;
    use oidc_testkit::harness::contract_json;

    /// Clients per round.
    const CLIENTS: usize = 200;
    /// Rounds after the warm-up round.
    const ROUNDS: usize = 2;
    /// How much resident memory may grow from the end of the warm-up round to the end of the
    /// last round: the sessions themselves (a few KiB each) and allocator slack, not a leak
    /// (a leak of even one response per login would be over this).
    const MAX_GROWTH_BYTES: u64 = 48 * 1024 * 1024;

    /// Resident set size, from `/proc/self/statm` (Linux).
    fn rss_bytes() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4096)
    }

    /// A browser: one cookie jar per site, redirects followed by hand.
    struct Client {
        http: Arc<ReqwestTransport>,
        jars: HashMap<String, HashMap<String, String>>,
    }

    impl Client {
        async fn send(&mut self, request: Request<Bytes>) -> http::Response<Bytes> {
            let site = request
                .uri()
                .authority()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let mut request = request;
            let jar = self.jars.entry(site.clone()).or_default();
            if !jar.is_empty() {
                let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
                request
                    .headers_mut()
                    .insert(header::COOKIE, cookie.join("; ").parse().unwrap());
            }
            let response = self.http.send(request).await.expect("loopback HTTP");
            let jar = self.jars.entry(site).or_default();
            for set in response.headers().get_all(header::SET_COOKIE) {
                let Ok(c) = cookie::Cookie::parse(set.to_str().unwrap_or("").to_owned()) else {
                    continue;
                };
                if c.value().is_empty() || c.max_age().is_some_and(|a| a.is_zero()) {
                    jar.remove(c.name());
                } else {
                    jar.insert(c.name().to_owned(), c.value().to_owned());
                }
            }
            response
        }

        async fn get(&mut self, url: &str) -> http::Response<Bytes> {
            self.send(Request::get(url).body(Bytes::new()).unwrap())
                .await
        }
    }

    fn location(r: &http::Response<Bytes>) -> String {
        r.headers()[header::LOCATION].to_str().unwrap().to_owned()
    }

    /// One full login as `user`: the app's redirect, the provider's login form posted, the
    /// callback, the page. Returns what the page says about the user.
    async fn login(http: Arc<ReqwestTransport>, app: String, user: String) -> (String, String) {
        let mut c = Client {
            http,
            jars: HashMap::new(),
        };
        let r = c.get(&format!("{app}/?who={user}")).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{user}: to the provider");
        let auth = location(&r);
        let (endpoint, query) = auth.split_once('?').expect("an authorization URL");
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("request_params", query)
            .append_pair("username", &user)
            .append_pair("action", "login")
            .finish();
        let r = c
            .send(
                Request::post(endpoint)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Bytes::from(form))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FOUND, "{user}: back to the app");
        let r = c.get(&location(&r)).await;
        assert_eq!(
            r.status(),
            StatusCode::FOUND,
            "{user}: callback: {}",
            String::from_utf8_lossy(r.body())
        );
        let page = location(&r);
        assert_eq!(page, format!("/?who={user}"), "{user}: the page asked for");
        let r = c.get(&format!("{app}{page}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{user}: the page");
        let v: serde_json::Value = serde_json::from_slice(r.body()).expect("JSON");
        let cookie = c
            .jars
            .values()
            .find_map(|j| j.get("oidc_session").cloned())
            .expect("a session cookie");
        (v["sub"].as_str().unwrap_or_default().to_owned(), cookie)
    }

    async fn round(http: &Arc<ReqwestTransport>, app: &str, round: usize) {
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let user = format!("user-{round}-{i}");
                tokio::spawn(login(http.clone(), app.to_owned(), user.clone()))
            })
            .collect();
        let mut cookies = std::collections::HashSet::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let (sub, cookie) = task.await.expect("a client task");
            assert_eq!(sub, format!("user-{round}-{i}"), "no crossed sessions");
            assert!(cookies.insert(cookie), "every client has its own session");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_logins_keep_identities_apart_and_memory_bounded() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app_url = format!("http://{addr}");
        let issuer = oidc_testkit::demo::serve_embedded_provider(&app_url)
            .await
            .expect("the embedded provider");
        let transport: Arc<dyn Transport> = Arc::new(ReqwestTransport::new().unwrap());
        let rp = RelyingParty::builder(app_url.clone())
            .provider(
                "default",
                ProviderConfig::discover(issuer)
                    .client(ClientMetadata::new("demo-client", "demo-secret"))
                    .scopes(["openid", "profile", "email"])
                    .build()
                    .unwrap(),
            )
            .transport(transport)
            .error_view(JsonErrorView)
            .build()
            .unwrap();
        async fn home(OidcUser(user): OidcUser) -> Json<serde_json::Value> {
            Json(contract_json(&user))
        }
        let app = Router::new()
            .route("/", get(home))
            .layer(OidcLayer::new(rp));
        let server = tokio::spawn(async move { ::axum::serve(listener, app).await });
        let http = Arc::new(
            ReqwestTransport::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        );

        let started = Instant::now();
        let test = async {
            round(&http, &app_url, 0).await;
            let baseline = rss_bytes();
            for r in 1..=ROUNDS {
                round(&http, &app_url, r).await;
            }
            (baseline, rss_bytes())
        };
        let (baseline, after) = tokio::time::timeout(Duration::from_secs(120), test)
            .await
            .expect("the load test finishes in bounded time");
        server.abort();
        let elapsed = started.elapsed();
        eprintln!(
            "{} logins in {:.1}s; RSS after warm-up {:?} MiB, after {ROUNDS} more rounds {:?} MiB",
            CLIENTS * (ROUNDS + 1),
            elapsed.as_secs_f64(),
            baseline.map(|b| b / (1024 * 1024)),
            after.map(|a| a / (1024 * 1024)),
        );
        if let (Some(baseline), Some(after)) = (baseline, after) {
            assert!(
                after <= baseline + MAX_GROWTH_BYTES,
                "memory grew by {} MiB over {ROUNDS} rounds of {CLIENTS} logins",
                (after - baseline) / (1024 * 1024)
            );
        }
    }
}
