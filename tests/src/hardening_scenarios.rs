//! Hardening scenarios, written once and run by every adapter like [`crate::scenarios`](mod@crate::scenarios):
//! `oidc_testkit::hardening_scenarios!(name, AppType)` instantiates each as a test named
//! `name::scenario`.
//!
//! Two families:
//! - **faults at every outbound call** the relying party makes (discovery, registration, token,
//!   JWKS, userinfo, the session store): refused, timed out, slow, truncated, oversized, 5xx,
//!   not JSON, JSON of the wrong shape, a JWKS without the needed key. Each must give the error
//!   view (or the API's 401/503) naming the endpoint, leave no session and no pending login
//!   that can still be completed, and the app must serve the next login;
//! - **hostile input** the scenario suite does not already cover: encoded open-redirect
//!   variants, duplicated parameters in posted responses, oversized cookies, headers and
//!   parameters, invalid UTF-8, a session cookie from another app, a pending-login flood.
//!
//! What [`crate::scenarios`](mod@crate::scenarios) covers is not repeated here: the plain off-origin return URLs,
//! `state` twice in a query, replayed and unsolicited callbacks (login CSRF), forged cookies,
//! refused/timed-out/oversized token, JWKS and userinfo calls, token endpoint errors, the
//! discovery outage and a refused registration.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use oidc_core::session::MAX_PENDING_LOGINS;
use oidc_core::{SessionRecord, StoreError, TransportError};
use oidc_runtime::{BoxFuture, MemoryStore, SessionStore};

use crate::harness::{
    App, Bench, BenchOptions, Browser, Fault, Page, TestClock, APP_URL, CLIENT_SECRET, DRIP_LENGTH,
    DRIP_TIMEOUT,
};
use crate::unchanged::{logged_in, logged_in_with_pending, whoami, Before, Unchanged};

/// The bench's starting time (see [`Bench::with`]).
const START: u64 = 1_700_000_000;

/// Asserts that `page` is the error view with `error`, and that its description names
/// `endpoint` (so that the user, or whoever reads the log, knows what failed).
fn assert_error_view(page: &Page, error: &str, endpoint: &str, context: &str) {
    assert_eq!(page.error(), error, "{context}: {}", page.text());
    let description = page.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description
            .to_lowercase()
            .contains(&endpoint.to_lowercase()),
        "{context}: the message should name the {endpoint} endpoint: {description}"
    );
}

/// A login whose callback meets `fault` at `path` must fail with `error`, spend its pending
/// login (the same callback again is refused even once the provider is healthy), and change
/// nothing for the browser it ran in: logged in as `carol`, with another tab's login in
/// progress, it keeps its session and that login still completes. The same browser can log
/// in right after.
async fn callback_fault<A: App>(
    path: &str,
    fault: Fault,
    error: &str,
    endpoint: &str,
) -> Unchanged {
    let bench = Bench::<A>::new();
    let context = format!("{path} {fault:?}");
    let (mut b, before) = logged_in_with_pending(&bench, "carol").await;
    if path == "/jwks" {
        // Carol's login fetched the key set: a new signing key, once the refetch interval
        // (5 s) has passed, sends this login to the JWKS endpoint again, into the fault.
        bench.provider.rotate_keys();
        bench.clock.advance(5);
    }
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    bench.transport.fail(path, fault);
    let page = b.get(&back).await;
    assert_error_view(&page, error, endpoint, &context);
    assert_eq!(
        whoami(&mut b).await.as_deref(),
        Some("carol"),
        "{context}: a fault logs nobody in"
    );
    bench.transport.clear();
    if path == "/jwks" {
        // A failed or useless JWKS fetch is remembered for the refetch interval (5 s): the
        // provider is not asked again before.
        bench.clock.advance(5);
    }
    let again = b.get(&back).await;
    again.error();
    assert_eq!(
        whoami(&mut b).await.as_deref(),
        Some("carol"),
        "{context}: the failed login's callback cannot be completed later"
    );
    let proof = before.unchanged(&mut b).await;
    let auth = b.start_login("/login?next=%2F%3Fnext%3D1").await;
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/?next=1"),
        "{context}: {}",
        page.text()
    );
    assert_eq!(whoami(&mut b).await.as_deref(), Some("alice"), "{context}");
    proof
}

/// Runs [`callback_fault`] for every case, handing back the last case's proof (each case
/// checked its own).
async fn callback_faults<A: App>(
    path: &str,
    cases: Vec<(Fault, &str)>,
    endpoint: &str,
) -> Unchanged {
    let mut proof = None;
    for (fault, error) in cases {
        proof = Some(callback_fault::<A>(path, fault, error, endpoint).await);
    }
    proof.expect("at least one fault")
}

/// The token endpoint: slow, truncated, not JSON, the wrong shape, no ID token, 5xx. Each
/// fails the login it hit and nothing else (see `callback_fault`).
pub async fn token_endpoint_faults<A: App>() -> Unchanged {
    let cases: Vec<(Fault, &str)> = vec![
        (Fault::SlowDrip, "provider_unreachable"),
        (Fault::Truncated, "provider_unreachable"),
        (Fault::Respond(200, String::new()), "invalid_response"),
        (
            Fault::Respond(200, r#"{"access_token":"a","tok"#.into()),
            "invalid_response",
        ),
        (Fault::Respond(200, "[1,2,3]".into()), "invalid_response"),
        (
            Fault::Respond(200, r#"{"access_token":5,"token_type":"Bearer"}"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(200, r#"{"access_token":"a","token_type":"Bearer"}"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(500, "<html>Internal Server Error</html>".into()),
            "invalid_response",
        ),
    ];
    callback_faults::<A>("/token", cases, "token").await
}

/// The JWKS endpoint: slow, truncated, not JSON, the wrong shape, 5xx, and a key set without
/// the key the ID token names. Each fails the login it hit and nothing else (see
/// `callback_fault`).
pub async fn jwks_faults<A: App>() -> Unchanged {
    let cases: Vec<(Fault, &str)> = vec![
        (Fault::SlowDrip, "provider_unreachable"),
        (Fault::Truncated, "provider_unreachable"),
        (Fault::Respond(200, "not json".into()), "invalid_response"),
        (
            Fault::Respond(200, r#"{"keys":[{"kty":"RSA","#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(200, r#"{"keys":{}}"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(200, r#"{"keys":[]}"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(
                200,
                r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"other","x":"AAAA","y":"AAAA"}]}"#
                    .into(),
            ),
            "invalid_response",
        ),
        (Fault::Respond(503, String::new()), "invalid_response"),
    ];
    callback_faults::<A>("/jwks", cases, "JWKS").await
}

/// The userinfo endpoint: slow, truncated, not JSON, the wrong shape, 5xx. Each fails the
/// login it hit and nothing else (see `callback_fault`).
pub async fn userinfo_faults<A: App>() -> Unchanged {
    let cases: Vec<(Fault, &str)> = vec![
        (Fault::SlowDrip, "provider_unreachable"),
        (Fault::Truncated, "provider_unreachable"),
        (Fault::Respond(200, "<html>".into()), "invalid_response"),
        (
            Fault::Respond(200, r#"{"sub":"ali"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(200, r#"["alice"]"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(200, r#"{"sub":42}"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(502, "bad gateway".into()),
            "invalid_response",
        ),
    ];
    callback_faults::<A>("/userinfo", cases, "userinfo").await
}

/// Discovery: every kind of fault gives the error view naming discovery, the API answers
/// `401` meanwhile, no session cookie is set, and logins work once the provider is back. The
/// provider that is down is the second of two (the first one's metadata is known): a browser
/// logged in through the first, with a login there in progress (another tab), keeps its
/// session while the second is down, its own attempt to log in there fails cleanly, and
/// nothing of it changes.
pub async fn discovery_faults<A: App>() -> Unchanged {
    let cases: Vec<(Fault, &str)> = vec![
        (Fault::Timeout, "provider_unreachable"),
        (Fault::SlowDrip, "provider_unreachable"),
        (Fault::Truncated, "provider_unreachable"),
        (Fault::BodyTooLarge, "provider_unreachable"),
        (Fault::Respond(500, "oops".into()), "invalid_response"),
        (Fault::Respond(200, "not json".into()), "invalid_response"),
        (
            Fault::Respond(200, r#"["issuer"]"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(200, r#"{"issuer":5,"authorization_endpoint":[]}"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(200, r#"{"issuer":"https://op.test","authoriz"#.into()),
            "invalid_response",
        ),
    ];
    let mut proof = None;
    for (fault, error) in cases {
        let context = format!("discovery {fault:?}");
        let bench = Bench::<A>::with(BenchOptions {
            second_provider: true,
            ..Default::default()
        });
        let (mut b, before) = logged_in_with_pending(&bench, "carol").await;
        bench
            .transport
            .fail("/.well-known/openid-configuration", fault);
        let page = b.get("/second").await;
        assert_error_view(&page, error, "discovery", &context);
        assert_eq!(
            whoami(&mut b).await.as_deref(),
            Some("carol"),
            "{context}: the session through the other provider is kept"
        );
        // Within the retry wait the last failure is answered at once, as unreachable.
        let mut anon = bench.browser();
        let page = anon.get("/second").await;
        assert_error_view(&page, "provider_unreachable", "discovery", &context);
        assert!(
            anon.session_cookie().is_none(),
            "{context}: no session is started"
        );
        assert_eq!(
            anon.get_json("/second").await.status,
            StatusCode::UNAUTHORIZED,
            "{context}"
        );
        bench.transport.clear();
        bench.clock.advance(60);
        proof = Some(before.unchanged(&mut b).await);
        let auth = anon.start_login("/second").await;
        let back = anon.authorize(&auth, "alice");
        let page = anon.deliver(&auth, &back).await;
        let page = anon.follow(page).await;
        assert_eq!(page.status, StatusCode::OK, "{context}: {}", page.text());
        assert_eq!(page.json()["sub"], "alice", "{context}");
    }
    proof.expect("at least one fault")
}

/// Dynamic registration: every kind of fault gives the error view naming registration, and
/// the next login registers and works. The fault meets a re-registration (the first
/// registration's secret has expired), so a browser is logged in through the first one: its
/// own attempt to log in again fails cleanly, and its session is unchanged.
pub async fn registration_faults<A: App>() -> Unchanged {
    let cases: Vec<(Fault, &str)> = vec![
        (Fault::Refused, "provider_unreachable"),
        (Fault::Timeout, "provider_unreachable"),
        (Fault::SlowDrip, "provider_unreachable"),
        (Fault::Truncated, "provider_unreachable"),
        (Fault::BodyTooLarge, "provider_unreachable"),
        (Fault::Respond(500, "<html>".into()), "invalid_response"),
        (Fault::Respond(201, "not json".into()), "invalid_response"),
        (Fault::Respond(201, "[]".into()), "invalid_response"),
        (
            Fault::Respond(201, r#"{"client_id":5,"client_secret":"s"}"#.into()),
            "invalid_response",
        ),
        (
            Fault::Respond(201, r#"{"client_id":"c","client_sec"#.into()),
            "invalid_response",
        ),
    ];
    let mut proof = None;
    for (fault, error) in cases {
        let context = format!("registration {fault:?}");
        let bench = Bench::<A>::with(BenchOptions {
            dynamic_registration: true,
            ..Default::default()
        });
        let (mut carol, before) = logged_in_on_expiring_registration(&bench, "carol").await;
        bench.transport.fail("/register", fault);
        let page = carol.get("/login").await;
        assert_error_view(&page, error, "registration", &context);
        assert_eq!(
            whoami(&mut carol).await.as_deref(),
            Some("carol"),
            "{context}: the session is kept"
        );
        let mut b = bench.browser();
        let page = b.get("/").await;
        assert_error_view(&page, error, "registration", &context);
        assert!(!b.is_logged_in().await, "{context}");
        bench.transport.clear();
        proof = Some(before.unchanged(&mut carol).await);
        // The failed registration is backed off for the retry interval (10 s): the next
        // login registers after it.
        let calls = bench.transport.calls("/register");
        assert_error_view(&b.get("/").await, error, "registration", &context);
        assert_eq!(
            bench.transport.calls("/register"),
            calls,
            "{context}: backed off"
        );
        bench.clock.advance(11);
        let page = b.login("/", "alice").await;
        assert_eq!(page.status, StatusCode::OK, "{context}: {}", page.text());
    }
    proof.expect("at least one fault")
}

/// On a bench with dynamic registration, a browser logged in as `user` through a first
/// registration whose secret has expired since (the simulated provider's own never do, so it
/// is answered in the provider's place, for a client it knows), and its state: the next login
/// must register again.
pub(crate) async fn logged_in_on_expiring_registration<'a, A: App>(
    bench: &'a Bench<A>,
    user: &str,
) -> (Browser<'a, A>, Before) {
    let mut short_lived = crate::SimClient::confidential(
        "short-lived",
        CLIENT_SECRET,
        &format!("{APP_URL}/redirect_uri"),
    );
    short_lived.post_logout_redirect_uris = vec![format!("{APP_URL}/logout")];
    bench.provider.register_client(short_lived);
    let registered = serde_json::json!({
        "client_id": "short-lived",
        "client_secret": CLIENT_SECRET,
        "client_secret_expires_at": START + 100,
        "redirect_uris": [format!("{APP_URL}/redirect_uri")],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    bench
        .transport
        .fail("/register", Fault::Respond(201, registered.to_string()));
    let logged_in = logged_in(bench, user).await;
    bench.transport.clear();
    bench.clock.advance(100);
    logged_in
}

/// A session store that can be made to fail: every operation, or only saves.
#[derive(Clone)]
struct FlakyStore {
    inner: Arc<MemoryStore>,
    mode: Arc<AtomicU8>,
}

const HEALTHY: u8 = 0;
const DOWN: u8 = 1;
const SAVES_FAIL: u8 = 2;

impl FlakyStore {
    fn new() -> Self {
        FlakyStore {
            inner: Arc::new(MemoryStore::with_clock(
                10_000,
                Arc::new(TestClock::new(START)),
            )),
            mode: Arc::default(),
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn failing(&self, op: &str) -> Option<StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            DOWN => Some(StoreError::new(format!("{op}: connection refused"))),
            SAVES_FAIL if op == "save" => Some(StoreError::new("save: read-only replica")),
            _ => None,
        }
    }
}

impl SessionStore for FlakyStore {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        match self.failing("load") {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.load(id),
        }
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        match self.failing("save") {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.save(id, record),
        }
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        match self.failing("delete") {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.delete(id),
        }
    }

    /// A write: refused by a read-only replica as a save is.
    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        match self.failing("save") {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.mark_spent(key, ttl),
        }
    }
}

fn bench_on<A: App>(store: &FlakyStore) -> Bench<A> {
    let store: Arc<dyn SessionStore> = Arc::new(store.clone());
    Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| r.session_store(store)),
        ..Default::default()
    })
}

/// The session store fails: at login start (which does not need it: the login in progress
/// lives in the browser's login cookie), at the callback (down, or only saves failing), and
/// under a logged-in session. Pages get the error view `503`, the API `401` without a session
/// and `503` with one; nobody is logged in by a half-done login; once the store is back
/// everything works. The browser logged in under the outage (with a login in progress in
/// another tab, started before any of it) comes out of it unchanged.
pub async fn session_store_faults<A: App>() -> Unchanged {
    let store = FlakyStore::new();
    let bench = bench_on::<A>(&store);
    let (mut carol, before) = logged_in_with_pending(&bench, "carol").await;

    // Down when a login starts.
    store.set(DOWN);
    let mut b = bench.browser();
    b.start_login("/").await;
    assert_eq!(b.get_json("/").await.status, StatusCode::UNAUTHORIZED);
    store.set(HEALTHY);
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);

    // Down, then saves failing, when the browser comes back.
    for mode in [DOWN, SAVES_FAIL] {
        let mut b = bench.browser();
        let auth = b.start_login("/").await;
        let back = b.authorize(&auth, "bob");
        store.set(mode);
        let page = b.get(&back).await;
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            page.text()
        );
        assert_eq!(page.error(), "session_store_unavailable");
        store.set(HEALTHY);
        assert!(!b.is_logged_in().await, "mode {mode}: no session");
        let page = b.login("/", "bob").await;
        assert_eq!(page.status, StatusCode::OK, "mode {mode}: {}", page.text());
        assert_eq!(page.json()["sub"], "bob");
    }

    // Down under a logged-in session: the API says 503, not 401 (the user is not logged
    // out, the store is unavailable); pages get the error view.
    store.set(DOWN);
    let page = carol.get_json("/").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.text()
    );
    assert_eq!(page.error(), "session_store_unavailable");
    assert_eq!(carol.get("/").await.error(), "session_store_unavailable");
    store.set(HEALTHY);
    assert!(
        carol.is_logged_in().await,
        "the session survives the outage"
    );
    before.unchanged(&mut carol).await
}

/// Return URLs that only look local once decoded, normalised or resolved; other schemes and
/// ports (beyond the list in the scenario suite): refused without starting a login, and a
/// logged-in browser sent there keeps its session and its login in progress (another tab).
pub async fn encoded_open_redirects_are_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut proof = None;
    for evil in [
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "/%5C%5Cevil.example",
        "%5C%5Cevil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "///evil.example",
        "\\\\evil.example",
        "/\\/evil.example",
        "//app.test@evil.example",
        "https://app.test/",
        "HTTP://app.test/",
        "//app.test:8443/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "",
    ] {
        let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
        let login_cookies = b.login_cookie_names();
        let next: String = form_urlencoded::byte_serialize(evil.as_bytes()).collect();
        let page = b.get(&format!("/login?next={next}")).await;
        assert_eq!(
            page.error(),
            "invalid_response",
            "{evil:?}: {}",
            page.text()
        );
        assert_eq!(
            b.login_cookie_names(),
            login_cookies,
            "{evil:?}: no login started"
        );
        proof = Some(before.unchanged(&mut b).await);
    }
    // What is on the origin still works, query and all.
    let mut b = bench.browser();
    let page = b.get("/login?next=%2Fa%2F..%2Fb%3Fx%3D%252F%252F").await;
    let auth = page.location().expect("a login redirect");
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(page.location().as_deref(), Some("/a/../b?x=%2F%2F"));
    proof.expect("at least one return URL")
}

/// Rewrites a provider answer's query parameters.
fn with_params(back: &str, edit: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    let (base, query) = back.split_once('?').unwrap_or((back, ""));
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    edit(&mut pairs);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}?{query}")
}

/// Makes `name` appear twice (once more, or twice when absent).
fn duplicate(name: &'static str) -> impl FnOnce(&mut Vec<(String, String)>) {
    move |pairs| {
        while pairs.iter().filter(|(k, _)| k == name).count() < 2 {
            let value = pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| format!("{v}x"))
                .unwrap_or_else(|| "x".into());
            pairs.push((name.to_owned(), value));
        }
    }
}

/// `back` with parameter `name` replaced by `raw`, appended without encoding.
fn with_raw_param(back: &str, name: &str, raw: &str) -> String {
    let without = with_params(back, |p| p.retain(|(k, _)| k != name));
    format!("{without}&{name}={raw}")
}

/// Parameters given twice (`code`, `iss`, `error`; `state` in a posted `form_post` body) are
/// refused before anything is spent: a browser logged in as `alice` keeps its session, and the
/// genuine response still completes the login the forged one copied.
pub async fn duplicated_parameters_are_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    for name in ["code", "iss", "error"] {
        let (mut b, before) = logged_in(&bench, "alice").await;
        let auth = b.start_login("/login").await;
        let back = b.authorize(&auth, "alice");
        let before = before.with_pending(back.clone());
        let page = b.get(&with_params(&back, duplicate(name))).await;
        assert_eq!(page.error(), "invalid_response", "{name}: {}", page.text());
        let _each = before.unchanged(&mut b).await;
    }
    // form_post: the duplicate arrives in the cross-site POST body.
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.response_mode("form_post")),
        https: true,
        ..Default::default()
    });
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    let before = before.with_pending_login(auth.clone(), back.clone());
    let doubled = with_params(&back, duplicate("state"));
    let page = b.deliver(&auth, &doubled).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    before.unchanged(&mut b).await
}

fn get_with(url: &str, name: header::HeaderName, value: &[u8]) -> Request<Bytes> {
    Request::get(format!("{APP_URL}{url}"))
        .header(
            name,
            http::HeaderValue::from_bytes(value).expect("a header value"),
        )
        .header(header::ACCEPT, "application/json")
        .body(Bytes::new())
        .unwrap()
}

/// Oversized cookies, headers and callback parameters are answered sanely (no `500`, no
/// session) and do not stop the app: a browser logged in before them, with a login in
/// progress in another tab, is unchanged, and so is each oversized callback's own login in
/// progress.
pub async fn oversized_input_is_harmless<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut alice, before) = logged_in_with_pending(&bench, "alice").await;
    let real = format!("oidc_session={}", alice.session_cookie().unwrap());

    // 32 KiB of cookies, with and without the real one last; one huge session cookie value.
    let junk: Vec<String> = (0..1500)
        .map(|i| format!("c{i}=v{i}xxxxxxxxxxxxxxx"))
        .collect();
    let forged: Vec<String> = (0..200)
        .map(|i| format!("oidc_session=id{i}.mac"))
        .collect();
    let huge_id = format!("oidc_session={}.{}", "A".repeat(64 * 1024), "B".repeat(43));
    for (cookie, logged) in [
        (junk.join("; "), false),
        (
            format!("{}; {}; {real}", junk.join("; "), forged.join("; ")),
            true,
        ),
        (huge_id, false),
    ] {
        let mut b = bench.browser();
        let page = b
            .send(get_with("/", header::COOKIE, cookie.as_bytes()))
            .await;
        let want = if logged {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(page.status, want, "{} bytes of cookies", cookie.len());
    }

    // A 64 KiB header the app has no use for.
    let mut b = bench.browser();
    let big = "x".repeat(64 * 1024);
    let page = b
        .send(get_with(
            "/",
            header::HeaderName::from_static("x-padding"),
            big.as_bytes(),
        ))
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    // A `state` and a `code` over the parameter cap: refused, and the login still completes.
    for name in ["state", "code"] {
        let mut b = bench.browser();
        let auth = b.start_login("/").await;
        let back = b.authorize(&auth, "bob");
        let each = Before::take(&mut b).await.with_pending(back.clone());
        let long = with_params(&back, |p| {
            for (k, v) in p.iter_mut() {
                if k == name {
                    *v = "s".repeat(20 * 1024);
                }
            }
        });
        let page = b.get(&long).await;
        assert_eq!(page.error(), "invalid_response", "{name}");
        assert!(!b.is_logged_in().await);
        let _each = each.unchanged(&mut b).await;
    }
    assert!(alice.is_logged_in().await, "the app kept serving");
    before.unchanged(&mut alice).await
}

/// Invalid UTF-8, percent-encoded in the callback and raw in a cookie or a posted body: a clean
/// refusal, never a crash; a logged-in browser keeps its session, and the login in progress
/// is not spent.
pub async fn invalid_utf8_is_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    let before = before.with_pending(back.clone());
    for bad in ["%FF%FE", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%80"] {
        let each = Before::take(&mut b).await;
        let page = b.get(&with_raw_param(&back, "state", bad)).await;
        assert_eq!(page.error(), "invalid_state", "{bad}: {}", page.text());
        let _each = each.unchanged(&mut b).await;
    }
    let _state = before.unchanged(&mut b).await;

    // A provider error whose description is not UTF-8: shown (replaced), not crashed on.
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    let back = with_raw_param(&back, "code", "x");
    let page = b
        .get(&format!(
            "{back}&error=access_denied&error_description=%C3%28%FF"
        ))
        .await;
    assert_eq!(page.error(), "access_denied", "{}", page.text());
    let _error = before.unchanged(&mut b).await;

    // A raw non-UTF-8 cookie header: ignored.
    let mut other = bench.browser();
    let page = other
        .send(get_with(
            "/",
            header::COOKIE,
            b"oidc_session=\xff\xfe.\xc3\x28; x=\x80",
        ))
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    // A posted authorization response with invalid UTF-8.
    let (mut poster, before) = logged_in(&bench, "carol").await;
    let auth = poster.start_login("/login").await;
    let before = before.with_pending(poster.authorize(&auth, "carol"));
    let page = poster
        .send(
            Request::post(format!("{APP_URL}/redirect_uri"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Bytes::from_static(b"code=\xff\xfe&state=\xc3\x28"))
                .unwrap(),
        )
        .await;
    page.error();
    before.unchanged(&mut poster).await
}

/// A session cookie from another app: signed with another key, or with the same key (a
/// shared secret) but naming a session this app never stored. Both are ignored, also next to
/// this app's own cookie, and the session and login in progress of the browser whose cookie
/// they were sent with are left as they were.
pub async fn cookie_from_another_app_is_ignored<A: App>() -> Unchanged {
    let ours = Bench::<A>::new();
    let other_key = Bench::<A>::with(BenchOptions {
        rp: Box::new(|r| r.session_secret([1u8; 32])),
        ..Default::default()
    });
    let same_key = Bench::<A>::with(BenchOptions {
        rp: Box::new(|r| r.random(Arc::new(crate::SeededRandom::new(7)))),
        ..Default::default()
    });
    let mut foreign = Vec::new();
    for bench in [&other_key, &same_key] {
        let mut b = bench.browser();
        assert_eq!(b.login("/", "mallory").await.status, StatusCode::OK);
        foreign.push(b.session_cookie().unwrap().to_owned());
    }
    for cookie in &foreign {
        let mut b = ours.browser();
        b.set_app_cookie("oidc_session", cookie);
        assert!(!b.is_logged_in().await, "a foreign session is not ours");
    }
    let (mut b, before) = logged_in_with_pending(&ours, "alice").await;
    let own = format!("oidc_session={}", b.session_cookie().unwrap());
    // After ours, a foreign cookie changes nothing. Before ours, one signed with our key
    // shadows ours (the first validly signed cookie counts): the request is then anonymous,
    // never the other app's user.
    for (i, cookie) in foreign.iter().enumerate() {
        for (cookies, shadowed) in [
            (format!("{own}; oidc_session={cookie}"), false),
            (format!("oidc_session={cookie}; {own}"), i == 1),
        ] {
            let mut fresh = ours.browser();
            let page = fresh
                .send(get_with("/", header::COOKIE, cookies.as_bytes()))
                .await;
            if shadowed {
                assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
            } else {
                assert_eq!(page.status, StatusCode::OK, "{cookies}: {}", page.text());
                assert_eq!(page.json()["sub"], "alice");
            }
        }
    }
    before.unchanged(&mut b).await
}

fn session_id(b: &Browser<'_, impl App>) -> String {
    b.session_cookie()
        .and_then(|c| c.split('.').next())
        .expect("a session cookie")
        .to_owned()
}

/// One client starting logins in a loop keeps at most [`MAX_PENDING_LOGINS`] of them, the
/// oldest evicted (its callback refused, the others' cookies removed by that answer, the newest
/// completing); many cookie-less clients cannot grow the store past its capacity; a pending
/// login expires. A browser logged in before the flood, with its own login in progress in
/// another tab, is unchanged by it.
pub async fn pending_login_flood_is_bounded<A: App>() -> Unchanged {
    let store = Arc::new(MemoryStore::with_clock(
        100,
        Arc::new(TestClock::new(START)),
    ));
    let shared: Arc<dyn SessionStore> = store.clone();
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| r.session_store(shared)),
        ..Default::default()
    });
    let (mut carol, before) = logged_in_with_pending(&bench, "carol").await;

    let mut b = bench.browser();
    let mut auths = Vec::new();
    for i in 0..50 {
        auths.push(b.start_login(&format!("/?tab={i}")).await);
        bench.clock.advance(1);
    }
    assert!(
        b.session_cookie().is_none(),
        "starting logins stores nothing"
    );
    let first = b.authorize(&auths[0], "alice");
    assert_eq!(b.get(&first).await.error(), "invalid_state", "evicted");
    assert_eq!(
        b.login_cookie_names().len(),
        MAX_PENDING_LOGINS,
        "the redirect endpoint removes the logins beyond the cap"
    );
    assert!(!b.is_logged_in().await);
    let last = b.authorize(&auths[49], "alice");
    let page = b.get(&last).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/?tab=49"),
        "{}",
        page.text()
    );
    assert!(b.is_logged_in().await);

    for _ in 0..300 {
        let mut c = bench.browser();
        c.start_login("/").await;
    }
    assert!(
        store.len() <= 100,
        "the store holds {} records",
        store.len()
    );
    let mut late = bench.browser();
    assert_eq!(late.login("/", "bob").await.status, StatusCode::OK);
    let proof = before.unchanged(&mut carol).await;

    // A pending login past its lifetime is refused.
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    bench
        .clock
        .advance(oidc_core::session::PENDING_LOGIN_TTL + 1);
    b.get(&back).await.error();
    assert!(!b.is_logged_in().await);
    proof
}

/// `GET /access_token` as an API client of the browser's session (the token routes of
/// [`crate::token_scenarios`](mod@crate::token_scenarios)): the token, or the page.
async fn session_access_token<A: App>(b: &mut Browser<'_, A>) -> Result<String, Page> {
    let page = b.get_json("/access_token").await;
    if page.status != StatusCode::OK {
        return Err(page);
    }
    Ok(page.json()["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_owned())
}

async fn bearer_get<A: App>(bench: &Bench<A>, path: &str, token: &str) -> Page {
    let mut client = bench.browser();
    let request = Request::get(format!("{APP_URL}{path}"))
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    client.send(request).await
}

/// The introspection endpoint fails while an API checks a bearer token: an error that blames
/// the provider (never `401 invalid_token`, which would make the client drop a good token,
/// nor a `200`), naming introspection; the failure is not cached, so the same token works
/// once the provider is back. Another user's browser session, its login in progress (another
/// tab) and its bearer token (answered before the outage) are unchanged by each fault.
pub async fn introspection_faults<A: App>() -> Unchanged {
    let cases = [
        Fault::Timeout,
        Fault::SlowDrip,
        Fault::Truncated,
        Fault::BodyTooLarge,
        Fault::Respond(500, "<html>".into()),
        Fault::Respond(200, "not json".into()),
        Fault::Respond(200, "[true]".into()),
        Fault::Respond(200, r#"{"active":"yes"}"#.into()),
        Fault::Respond(200, r#"{"active":tr"#.into()),
    ];
    let bench = Bench::<A>::new();
    let mut proof = None;
    for fault in cases {
        let context = format!("introspection {fault:?}");
        let (mut carol, before) = logged_in_with_pending(&bench, "carol").await;
        let carol_token = session_access_token(&mut carol).await.expect("a token");
        let before = before.with_bearer(&carol, &carol_token).await;
        let mut b = bench.browser();
        assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
        let token = session_access_token(&mut b)
            .await
            .unwrap_or_else(|p| panic!("{context}: HTTP {}: {}", p.status, p.text()));
        bench.transport.fail("/introspect", fault);
        let page = bearer_get(&bench, "/api/me", &token).await;
        assert!(
            !matches!(
                page.status,
                StatusCode::OK | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ),
            "{context}: HTTP {}: {}",
            page.status,
            page.text()
        );
        let error = page.error();
        assert!(
            error == "provider_unreachable" || error == "invalid_response",
            "{context}: {error}"
        );
        assert_error_view(&page, &error, "introspection", &context);
        bench.transport.clear();
        let page = bearer_get(&bench, "/api/me", &token).await;
        assert_eq!(page.status, StatusCode::OK, "{context}: {}", page.text());
        assert_eq!(page.json()["sub"], "alice", "{context}");
        proof = Some(before.unchanged(&mut carol).await);
    }
    proof.expect("at least one fault")
}

/// The token endpoint fails while an expired access token is refreshed: the error names the
/// token endpoint, the session is unchanged (the stored tokens, claims and times, checked
/// after each fault through the `Unchanged` proof), and the refresh succeeds once the
/// provider is back.
pub async fn refresh_faults<A: App>() -> Unchanged {
    let cases = [
        Fault::SlowDrip,
        Fault::Truncated,
        Fault::BodyTooLarge,
        Fault::Respond(200, "not json".into()),
        Fault::Respond(200, "[]".into()),
        Fault::Respond(200, r#"{"access_token":5,"token_type":"Bearer"}"#.into()),
        Fault::Respond(200, r#"{"access_token":"a","tok"#.into()),
        Fault::Respond(502, String::new()),
    ];
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let mut token = session_access_token(&mut b).await.expect("a token");
    let mut proof = None;
    for fault in cases {
        let context = format!("refresh {fault:?}");
        let dripped = fault == Fault::SlowDrip;
        bench.clock.advance(3600);
        let each = Before::take(&mut b).await;
        bench.transport.fail("/token", fault);
        let page = session_access_token(&mut b).await.unwrap_err();
        let error = page.error();
        assert!(
            error == "provider_unreachable" || error == "invalid_response",
            "{context}: {error}"
        );
        assert_error_view(&page, &error, "token", &context);
        assert!(
            b.is_logged_in().await,
            "{context}: the session is unchanged"
        );
        proof = Some(each.unchanged(&mut b).await);
        bench.transport.clear();
        if dripped {
            // The provider did answer, rotating the refresh token, but its answer was cut
            // off: the refresh token the session holds is spent, so the next refresh meets
            // `invalid_grant` and ends the session (`tokens::invalid_grant_ends_the_session`),
            // and the user logs in again.
            let page = session_access_token(&mut b).await.unwrap_err();
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{context}");
            assert!(!b.is_logged_in().await, "{context}: the spent session ends");
            assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
            token = session_access_token(&mut b).await.expect("a token");
            continue;
        }
        let fresh = session_access_token(&mut b)
            .await
            .unwrap_or_else(|p| panic!("{context}: HTTP {}: {}", p.status, p.text()));
        assert_ne!(fresh, token, "{context}: a new access token");
        token = fresh;
    }
    proof.expect("at least one fault")
}

/// The logout confirmation (`POST /logout`) is read with the adapter's body cap: a body of
/// 1 MiB, even one that starts with the session's genuine token, is refused with `413` before
/// the relying party sees it, and the browser stays logged in as before; the genuine
/// confirmation still logs out afterwards.
pub async fn oversized_logout_confirmation_is_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, _) = logged_in(&bench, "alice").await;
    let page = b
        .send(
            Request::get(format!("{APP_URL}/logout"))
                .header("sec-fetch-site", "cross-site")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    let body = page.text();
    let marker = r#"name="csrf_token" value=""#;
    let start = body.find(marker).expect("a confirmation form") + marker.len();
    let token = body[start..].split('"').next().unwrap().to_owned();
    let confirm = |body: String| {
        Request::post(format!("{APP_URL}/logout"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .header(header::ORIGIN, APP_URL)
            .body(Bytes::from(body))
            .unwrap()
    };
    let huge = format!("csrf_token={token}&x={}", "a".repeat(1024 * 1024));
    let before = Before::take(&mut b).await;
    let page = b.send(confirm(huge)).await;
    assert_eq!(
        page.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        page.text()
    );
    let proof = before.unchanged(&mut b).await;
    let page = b.send(confirm(format!("csrf_token={token}"))).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert!(!b.is_logged_in().await);
    proof
}

/// A token endpoint that sends its headers at once and then drips its body a byte at a time,
/// over a real loopback socket read by the real transport (`oidc_runtime::ReqwestTransport`, as
/// every adapter uses it): the transport's total timeout cuts the call off mid-body. A timeout
/// that covered only the connection or the headers would let the whole answer in, late, and
/// the login succeed. Starting from a browser logged in as alice and another with two pending
/// logins (two tabs), the dripped callback fails as `provider_unreachable` in about the
/// timeout, and nothing else changes: alice keeps her session and her own login in progress,
/// and the other tab's login still completes.
pub async fn slow_drip_is_cut_off_by_the_total_timeout<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut alice, before) = logged_in_with_pending(&bench, "alice").await;
    let alice_session = alice.session_cookie().map(str::to_owned);
    let mut b = bench.browser();
    let first = b.start_login("/").await;
    let second = b.start_login("/?tab=2").await;
    let second_back = b.authorize(&second, "carol");
    let other_tab = Before::take(&mut b)
        .await
        .with_pending_login(second, second_back)
        .landing_on("/?tab=2");
    let back = b.authorize(&first, "bob");
    bench.transport.fail("/token", Fault::SlowDrip);
    let page = b.get(&back).await;
    bench.transport.clear();
    assert_error_view(&page, "provider_unreachable", "token", "slow drip");
    let drips = bench.transport.drips();
    assert_eq!(drips.len(), 1, "one dripped call: {drips:?}");
    let drip = &drips[0];
    assert_eq!(drip.outcome, Err(TransportError::Timeout), "{drip:?}");
    assert!(
        drip.sent > 0 && drip.sent < drip.body_len,
        "the headers came, and the timeout fired in the middle of the body: {drip:?}"
    );
    assert!(
        drip.elapsed >= DRIP_TIMEOUT && drip.elapsed < DRIP_LENGTH / 2,
        "cut off by the {DRIP_TIMEOUT:?} timeout, not at the end of the body: {drip:?}"
    );
    assert!(!b.is_logged_in().await, "no session after the failed login");
    assert_eq!(
        alice.session_cookie().map(str::to_owned),
        alice_session,
        "alice's session is untouched"
    );
    let page = alice.get_json("/").await;
    assert_eq!(page.json()["sub"], "alice", "{}", page.text());
    let _other_tab = other_tab.unchanged(&mut b).await;
    assert_eq!(
        whoami(&mut b).await.as_deref(),
        Some("carol"),
        "the other tab's login completes"
    );
    before.unchanged(&mut alice).await
}

/// Counts writes to a [`MemoryStore`].
struct CountingStore {
    inner: Arc<MemoryStore>,
    saves: std::sync::atomic::AtomicUsize,
}

impl SessionStore for CountingStore {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        self.inner.load(id)
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(id, record)
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.delete(id)
    }

    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.mark_spent(key, ttl)
    }
}

/// A flood of anonymous requests to a protected page (2,000, against a store of capacity 100)
/// writes nothing to the session store: each login in progress lives in the requesting
/// browser's own cookie. So a logged-in user stays logged in as themselves (their stored
/// session and their own login in progress unchanged), and a victim's login started before
/// the flood still completes.
pub async fn anonymous_flood_costs_no_storage<A: App>() -> Unchanged {
    let memory = Arc::new(MemoryStore::with_clock(
        100,
        Arc::new(TestClock::new(START)),
    ));
    let store = Arc::new(CountingStore {
        inner: memory.clone(),
        saves: Default::default(),
    });
    let shared: Arc<dyn SessionStore> = store.clone();
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| r.session_store(shared)),
        ..Default::default()
    });
    let (mut user, before) = logged_in_with_pending(&bench, "alice").await;
    let mut victim = bench.browser();
    let auth = victim.start_login("/?victim=1").await;
    let saves = store.saves.load(Ordering::SeqCst);

    for i in 0..2000 {
        let mut anon = bench.browser();
        let page = anon.get(&format!("/?flood={i}")).await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
        assert!(
            anon.session_cookie().is_none(),
            "no session for a login start"
        );
    }
    assert_eq!(
        store.saves.load(Ordering::SeqCst),
        saves,
        "anonymous requests wrote to the store"
    );
    assert_eq!(memory.len(), 1, "only the logged-in user's session");
    assert!(memory.load(&session_id(&user)).await.unwrap().is_some());

    let back = victim.authorize(&auth, "victim");
    let page = victim.get(&back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/?victim=1"),
        "{}",
        page.text()
    );
    assert_eq!(victim.get_json("/").await.json()["sub"], "victim");
    let page = user.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice", "still the same user");
    before.unchanged(&mut user).await
}

/// Instantiates the hardening scenarios that need the token routes of
/// [`crate::token_scenarios`](mod@crate::token_scenarios) (`/api/me`, `/access_token`):
/// `hardening_token_scenarios!(axum_tokens, MyAxumApp);`.
#[macro_export]
macro_rules! hardening_token_scenarios {
    ($adapter:ident, $app:ty) => {
        $crate::hardening_scenarios!(@each $adapter, $app, [
        ], rejections: [
            introspection_faults,
            refresh_faults,
        ]);
    };
}

/// Instantiates every hardening scenario for one adapter: `hardening_scenarios!(axum,
/// MyAxumApp);` gives tests named `axum::token_endpoint_faults`, ...
#[macro_export]
macro_rules! hardening_scenarios {
    ($adapter:ident, $app:ty) => {
        $crate::hardening_scenarios!(@each $adapter, $app, [
        ], rejections: [
            encoded_open_redirects_are_rejected,
            duplicated_parameters_are_rejected,
            invalid_utf8_is_refused,
            cookie_from_another_app_is_ignored,
            oversized_logout_confirmation_is_refused,
            token_endpoint_faults,
            jwks_faults,
            userinfo_faults,
            discovery_faults,
            session_store_faults,
            registration_faults,
            oversized_input_is_harmless,
            pending_login_flood_is_bounded,
            slow_drip_is_cut_off_by_the_total_timeout,
            anonymous_flood_costs_no_storage,
        ]);
    };
    (@each $adapter:ident, $app:ty, [$($name:ident),* $(,)?],
        rejections: [$($rejection:ident),* $(,)?]) => {
        mod $adapter {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::hardening_scenarios::$name::<$app>().await
                }
            )*
            // A rejection scenario must hand back the proof that it checked nothing changed.
            $(
                #[tokio::test]
                async fn $rejection() {
                    let _: $crate::unchanged::Unchanged =
                        $crate::hardening_scenarios::$rejection::<$app>().await;
                }
            )*
        }
    };
}
