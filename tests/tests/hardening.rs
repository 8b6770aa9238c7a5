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
/// ends up with its own identity. Then hundreds of login-logout cycles, after a warm-up, must
/// leave the relying party's heap where it was, to within a fraction of a KiB per login.
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
    use oidc_core::{ClientMetadata, JsonErrorView, ProviderConfig};
    use oidc_runtime::{MemoryStore, RelyingParty, ReqwestTransport, Transport};
    use oidc_testkit::harness::contract_json;

    /// Clients per round of the concurrency check.
    const CLIENTS: usize = 200;
    /// Rounds of the concurrency check after the first.
    const ROUNDS: usize = 2;
    /// Login-logout cycles before the first heap reading: caches, connection pools, the
    /// store's table and the allocator's own structures reach their steady size.
    const WARM_UP: usize = 100;
    /// Login-logout cycles in each of the two measured windows.
    const MEASURED: usize = 400;
    /// Cycles in flight at once in the leak check (the same in the warm-up and the measured
    /// phase, so that pools and tables are the same size at both readings).
    const PARALLEL: usize = 8;
    /// How much the relying party's live heap may grow per login-logout cycle, in the
    /// smaller of two consecutive windows of [`MEASURED`] cycles. A logged-out user leaves behind
    /// only the spent mark of its login's `state`, which lives ten minutes; the store is sized
    /// ([`STORE_CAPACITY`]) so that its marks fill up during the warm-up and each new mark then
    /// replaces the oldest. So the steady state is zero; but a table that doubles (the store's, a
    /// connection pool's) adds some 100 KiB once, in one window. A leak grows the heap in every
    /// window, so the smaller window tells the two apart. This is a quarter of a leak of one KiB
    /// per login (which would show as 1024 bytes per cycle in both windows).
    const MAX_GROWTH_PER_LOGIN: i64 = 256;
    /// The store's capacity: the sessions of the concurrency rounds, which stay logged in,
    /// and the cycles in flight fit in it, and the logins' `state` marks (a pool of that
    /// capacity of their own) reach it by the end of the warm-up.
    const STORE_CAPACITY: usize = CLIENTS * (ROUNDS + 1) + WARM_UP;
    /// Below this many bytes allocated per cycle, the counter did not see the logins (it
    /// measures the wrong threads, or is not installed), and the check would prove nothing.
    const MIN_ALLOCATED_PER_LOGIN: u64 = 16 * 1024;

    /// A counting global allocator: live and total heap bytes allocated by the threads that
    /// opt in ([`measure_this_thread`]): the test's own thread and the workers of the runtime
    /// that runs the app, its relying party and the test's clients. The embedded provider runs
    /// on threads that do not opt in, since it keeps every token it issued (it is a test
    /// double, not the code under test), and so do the other tests of this binary, which run
    /// in parallel.
    #[allow(unsafe_code)]
    pub(crate) mod heap {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;
        use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

        struct Counting;

        #[global_allocator]
        static GLOBAL: Counting = Counting;

        static LIVE: AtomicI64 = AtomicI64::new(0);
        static ALLOCATED: AtomicU64 = AtomicU64::new(0);

        thread_local! {
            // `const` and without `Drop`: reading it allocates nothing and works during a
            // thread's teardown, which the allocator needs.
            static MEASURED: Cell<bool> = const { Cell::new(false) };
        }

        fn measured() -> bool {
            MEASURED.try_with(Cell::get).unwrap_or(false)
        }

        fn grow(n: usize) {
            if measured() {
                LIVE.fetch_add(n as i64, Relaxed);
                ALLOCATED.fetch_add(n as u64, Relaxed);
            }
        }

        fn shrink(n: usize) {
            if measured() {
                LIVE.fetch_sub(n as i64, Relaxed);
            }
        }

        // SAFETY: every call is forwarded unchanged to `System`, which upholds
        // `GlobalAlloc`'s contract; the counters are only arithmetic on the side.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                // SAFETY: the caller's contract for `alloc` is passed on as is.
                let p = unsafe { System.alloc(layout) };
                if !p.is_null() {
                    grow(layout.size());
                }
                p
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                // SAFETY: as for `alloc`.
                let p = unsafe { System.alloc_zeroed(layout) };
                if !p.is_null() {
                    grow(layout.size());
                }
                p
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation
                // goes there).
                unsafe { System.dealloc(ptr, layout) };
                shrink(layout.size());
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                // SAFETY: as for `dealloc`; `new_size` is the caller's, checked by its contract.
                let p = unsafe { System.realloc(ptr, layout, new_size) };
                if !p.is_null() {
                    shrink(layout.size());
                    grow(new_size);
                }
                p
            }
        }

        /// Counts the calling thread's allocations and frees from now on.
        pub(crate) fn measure_this_thread() {
            MEASURED.with(|m| m.set(true));
        }

        /// Live bytes allocated by measured threads (relative: only differences mean anything).
        pub(crate) fn live() -> i64 {
            LIVE.load(Relaxed)
        }

        /// Bytes ever allocated by measured threads.
        pub(crate) fn allocated() -> u64 {
            ALLOCATED.load(Relaxed)
        }
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

        fn session_cookie(&self) -> Option<String> {
            self.jars
                .values()
                .find_map(|j| j.get("oidc_session").cloned())
        }
    }

    fn location(r: &http::Response<Bytes>) -> String {
        r.headers()[header::LOCATION].to_str().unwrap().to_owned()
    }

    /// One full login as `user`: the app's redirect, the provider's login form posted, the
    /// callback, the page. Returns what the page says about the user, the session cookie and
    /// the browser (still logged in).
    async fn login(http: Arc<ReqwestTransport>, app: String, user: String) -> (String, String) {
        let (sub, cookie, _) = login_as(http, &app, &user).await;
        (sub, cookie)
    }

    async fn login_as(
        http: Arc<ReqwestTransport>,
        app: &str,
        user: &str,
    ) -> (String, String, Client) {
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
            .append_pair("username", user)
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
        let cookie = c.session_cookie().expect("a session cookie");
        (v["sub"].as_str().unwrap_or_default().to_owned(), cookie, c)
    }

    /// A login as `user`, then RP-initiated logout through the provider and back: the app's
    /// session record is deleted, and so is the one that held the logout's `state`.
    async fn login_and_logout(http: Arc<ReqwestTransport>, app: String, user: String) {
        let (sub, _, mut c) = login_as(http, &app, &user).await;
        assert_eq!(sub, user, "no crossed sessions");
        let r = c.get(&format!("{app}/logout")).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{user}: to end_session");
        let r = c.get(&location(&r)).await;
        assert_eq!(
            r.status(),
            StatusCode::FOUND,
            "{user}: back from end_session"
        );
        let back = location(&r);
        assert!(back.starts_with(&format!("{app}/logout?")), "{back}");
        let r = c.get(&back).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "{user}: logged out: {}",
            String::from_utf8_lossy(r.body())
        );
        assert_eq!(c.session_cookie(), None, "{user}: the cookie is cleared");
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

    /// `count` login-logout cycles, [`PARALLEL`] at a time.
    async fn cycles(http: &Arc<ReqwestTransport>, app: &str, phase: &str, count: usize) {
        for batch in 0..count / PARALLEL {
            let tasks: Vec<_> = (0..PARALLEL)
                .map(|i| {
                    let user = format!("{phase}-{batch}-{i}");
                    tokio::spawn(login_and_logout(http.clone(), app.to_owned(), user))
                })
                .collect();
            for task in tasks {
                task.await.expect("a client task");
            }
        }
        // Let connection tasks finish what the last responses started.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// The embedded provider, on its own runtime and threads (whose allocations are not
    /// counted), until the returned sender is dropped.
    fn provider_for(app_url: String) -> (String, tokio::sync::oneshot::Sender<()>) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (issuer_tx, issuer_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the provider's runtime");
            rt.block_on(async move {
                let issuer = oidc_testkit::demo::serve_embedded_provider(&app_url).await;
                let _ = issuer_tx.send(issuer);
                let _ = stopped.await;
            });
        });
        let issuer = issuer_rx
            .recv()
            .expect("the provider thread")
            .expect("the embedded provider");
        (issuer, stop)
    }

    #[test]
    fn concurrent_logins_keep_identities_apart_and_memory_bounded() {
        heap::measure_this_thread();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .on_thread_start(heap::measure_this_thread)
            .enable_all()
            .build()
            .expect("the app's runtime");
        rt.block_on(run());
    }

    async fn run() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app_url = format!("http://{addr}");
        let (issuer, _provider) = provider_for(app_url.clone());
        let transport: Arc<dyn Transport> = Arc::new(ReqwestTransport::new().unwrap());
        let store = Arc::new(MemoryStore::new(STORE_CAPACITY));
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
            .session_store(store.clone())
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
            for r in 0..=ROUNDS {
                round(&http, &app_url, r).await;
            }
            cycles(&http, &app_url, "warm-up", WARM_UP).await;
            let (start, allocated) = (heap::live(), heap::allocated());
            cycles(&http, &app_url, "first", MEASURED).await;
            let middle = heap::live();
            cycles(&http, &app_url, "second", MEASURED).await;
            let end = heap::live();
            (
                [middle - start, end - middle],
                heap::allocated() - allocated,
            )
        };
        let (growth, allocated) = tokio::time::timeout(Duration::from_secs(300), test)
            .await
            .expect("the load test finishes in bounded time");
        server.abort();
        // The bounded store would hide a leak of records (evicting the oldest, the heap stays
        // flat): the sessions of the rounds are all it holds, every cycle's gone with its logout.
        assert_eq!(
            store.len(),
            CLIENTS * (ROUNDS + 1),
            "a logged-out session left a record behind"
        );
        let window = (MEASURED / PARALLEL * PARALLEL) as i64;
        let per_login = growth.map(|g| g / window);
        eprintln!(
            "{} concurrent logins, then {WARM_UP} + 2 x {window} login-logout cycles in \
             {:.1}s: live heap {:+} then {:+} bytes over the two windows ({:+} and {:+} per \
             login), {} KiB allocated per login",
            CLIENTS * (ROUNDS + 1),
            started.elapsed().as_secs_f64(),
            growth[0],
            growth[1],
            per_login[0],
            per_login[1],
            allocated / (2 * window) as u64 / 1024,
        );
        assert!(
            allocated >= MIN_ALLOCATED_PER_LOGIN * 2 * window as u64,
            "the counting allocator saw only {allocated} bytes allocated over {} logins: it \
             is not measuring the relying party, so this test proves nothing",
            2 * window
        );
        let steady = per_login[0].min(per_login[1]);
        assert!(
            steady <= MAX_GROWTH_PER_LOGIN,
            "the live heap grew in both windows of {window} login-logout cycles, by {} and {} \
             bytes: at least {steady} per login (at most {MAX_GROWTH_PER_LOGIN}): a leak",
            growth[0],
            growth[1]
        );
    }
}
