//! The access-token scenario suite, run by every adapter: `oidc_testkit::token_scenarios!(name,
//! AppType)` instantiates each scenario as a test named `name::scenario`. The app serves the
//! routes [`App`] lists for it (`/api/me`, `/api/either`, `/access_token`).
//!
//! Covered: a valid access token on demand (refresh on expiry, forced refresh, no refresh
//! token, a refresh token kept when not rotated, `invalid_grant`, transport failures, a
//! refreshed ID token for another subject, concurrent requests sharing one refresh, automatic
//! refresh); bearer tokens at `/api/me` (absent, malformed, expired, wrongly signed, of the
//! wrong audience, missing a scope, inactive by introspection, valid, by introspection and as
//! JWTs); the session-or-bearer rules at `/api/either`; and the client credentials cache.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Request, StatusCode};
use oidc_core::{
    BearerRequirements, BearerValidation, ClientMetadata, Error, ProviderConfig, ProviderMetadata,
    SessionRecord, StoreError,
};
use oidc_runtime::{BoxFuture, Clock, MemoryStore, RelyingPartyBuilder, SessionStore};

use crate::harness::{
    App, Bench, BenchOptions, Browser, EpochClock, Fault, Page, APP_URL, CLIENT_ID, CLIENT_SECRET,
    ISSUER,
};
use crate::unchanged::{Before, Unchanged};
use crate::{JwtAccessTokenSpec, Misbehavior, SimClient};

/// How long the simulated provider's access tokens live.
const AT_LIFETIME: u64 = 3600;
/// The relying party's default refresh margin.
const MARGIN: u64 = 30;

fn bench_with<A: App>(
    rp: impl FnOnce(RelyingPartyBuilder) -> RelyingPartyBuilder + 'static,
) -> Bench<A> {
    Bench::<A>::with(BenchOptions {
        rp: Box::new(rp),
        ..Default::default()
    })
}

/// `GET /access_token` as an API client of the browser's session: the token, or the page.
async fn access_token<A: App>(b: &mut Browser<'_, A>, force: bool) -> Result<String, Page> {
    let path = if force {
        "/access_token?force=true"
    } else {
        "/access_token"
    };
    let page = b.get_json(path).await;
    if page.status != StatusCode::OK {
        return Err(page);
    }
    Ok(page.json()["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_owned())
}

async fn logged_in_token<A: App>(b: &mut Browser<'_, A>) -> String {
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    access_token(b, false)
        .await
        .unwrap_or_else(|p| panic!("HTTP {}: {}", p.status, p.text()))
}

/// A browser logged in as `alice`, and its state before the attack, with its access token as
/// a valid bearer token whose answer must not change.
async fn logged_in_with_bearer<A: App>(bench: &Bench<A>) -> (Browser<'_, A>, Before) {
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    let before = Before::take(&mut b).await.with_bearer(&b, &token).await;
    (b, before)
}

/// A request to the app as an API client: JSON, with the given `Authorization` headers.
async fn api<A: App>(b: &mut Browser<'_, A>, path: &str, authorization: &[&str]) -> Page {
    let mut req =
        Request::get(format!("{APP_URL}{path}")).header(header::ACCEPT, "application/json");
    for a in authorization {
        req = req.header(header::AUTHORIZATION, *a);
    }
    b.send(req.body(Bytes::new()).unwrap()).await
}

async fn bearer<A: App>(bench: &Bench<A>, path: &str, token: &str) -> Page {
    let mut client = bench.browser();
    api(&mut client, path, &[&format!("Bearer {token}")]).await
}

fn challenge(page: &Page) -> String {
    page.headers
        .get(header::WWW_AUTHENTICATE)
        .unwrap_or_else(|| {
            panic!(
                "no WWW-Authenticate (HTTP {}): {}",
                page.status,
                page.text()
            )
        })
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts a `401` with an `invalid_token` challenge.
fn assert_invalid_token(page: &Page, what: &str) {
    assert_eq!(
        page.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        page.text()
    );
    let c = challenge(page);
    assert!(
        c.starts_with("Bearer") && c.contains("error=\"invalid_token\""),
        "{what}: {c}"
    );
    assert_eq!(page.error(), "invalid_token", "{what}");
}

fn last_token_form<A: App>(bench: &Bench<A>) -> Vec<(String, String)> {
    let req = bench
        .provider
        .last_token_request()
        .expect("a token request");
    form_urlencoded::parse(req.body()).into_owned().collect()
}

fn has(form: &[(String, String)], k: &str, v: &str) -> bool {
    form.iter().any(|(a, b)| a == k && b == v)
}

/// The JSON `GET /api/either` answers (every adapter's test app uses it).
pub fn either_json(principal: &oidc_core::Principal) -> serde_json::Value {
    let via = match principal {
        oidc_core::Principal::Bearer(_) => "bearer",
        _ => "session",
    };
    serde_json::json!({ "via": via, "sub": principal.subject() })
}

/// The JSON `GET /access_token` answers (every adapter's test app uses it).
pub fn access_token_json(token: &oidc_core::Secret) -> serde_json::Value {
    serde_json::json!({ "access_token": token.expose() })
}

/// The stored token is served while valid; within the margin before expiry it is refreshed
/// (once), and the new one is good at the provider.
pub async fn access_token_is_refreshed_on_expiry<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let first = logged_in_token(&mut b).await;
    let calls = bench.provider.counters().token;
    assert_eq!(access_token(&mut b, false).await.unwrap(), first);
    bench.clock.advance(AT_LIFETIME - MARGIN - 10);
    assert_eq!(
        access_token(&mut b, false).await.unwrap(),
        first,
        "not due yet"
    );
    assert_eq!(bench.provider.counters().token, calls);
    bench.clock.advance(20);
    let second = access_token(&mut b, false).await.unwrap();
    assert_ne!(second, first, "refreshed within the margin");
    assert_eq!(bench.provider.counters().token, calls + 1);
    let form = last_token_form(&bench);
    assert!(has(&form, "grant_type", "refresh_token"), "{form:?}");
    assert!(!form
        .iter()
        .any(|(k, _)| k == "redirect_uri" || k == "state"));
    assert_eq!(access_token(&mut b, false).await.unwrap(), second);
    assert_eq!(bench.provider.counters().token, calls + 1, "refreshed once");
    let page = bearer(&bench, "/api/me", &second).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    // The session lives on, with the refreshed ID token of the same user.
    let page = b.get_json("/").await;
    assert_eq!(page.json()["sub"], "alice");
}

/// Without a session there is no access token: a login for a browser, `401` for an API client.
pub async fn access_token_needs_a_session<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let page = access_token(&mut b, false).await.unwrap_err();
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let page = b.get("/access_token").await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(page.location().unwrap().starts_with(ISSUER));
    let parts = Request::get("/").body(()).unwrap().into_parts().0;
    let err = bench
        .rp
        .valid_access_token(&parts, false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LoginRequired(_)), "{err:?}");
    assert_eq!(err.error_code(), "login_required");
}

/// A session store that deletes the record read by the n-th `load` from now, just before
/// reading it (the user logged out in another tab, say).
struct ChangingStore {
    inner: MemoryStore,
    countdown: AtomicUsize,
}

impl SessionStore for ChangingStore {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let left = self.countdown.load(Ordering::SeqCst);
            if left > 0 && self.countdown.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.inner.delete(id).await?;
            }
            self.inner.load(id).await
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
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

/// A session that ends while its tokens are being refreshed is not brought back by the
/// refresh; another browser's session on the same store, and its login in progress, are
/// unchanged.
pub async fn session_ended_during_refresh_stays_ended<A: App>() -> Unchanged {
    let store = Arc::new(ChangingStore {
        inner: MemoryStore::with_clock(1000, Arc::new(EpochClock)),
        countdown: AtomicUsize::new(0),
    });
    let bench = bench_with::<A>({
        let store = store.clone();
        move |r| r.session_store(store)
    });
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    bench.clock.advance(AT_LIFETIME);
    let (mut carol, before) = crate::unchanged::logged_in_with_pending(&bench, "carol").await;
    // Loads: the request's look at the token, the refresh's, then the one before saving.
    store.countdown.store(3, Ordering::SeqCst);
    let calls = bench.provider.counters().token;
    let page = access_token(&mut b, false).await.unwrap_err();
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    assert_eq!(
        bench.provider.counters().token,
        calls + 1,
        "the refresh happened"
    );
    assert!(!b.is_logged_in().await, "and did not revive the session");
    before.unchanged(&mut carol).await
}

/// A forced refresh refreshes a token that is not due.
pub async fn forced_refresh<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let first = logged_in_token(&mut b).await;
    let calls = bench.provider.counters().token;
    let forced = access_token(&mut b, true).await.unwrap();
    assert_ne!(forced, first);
    assert_eq!(bench.provider.counters().token, calls + 1);
    assert_eq!(access_token(&mut b, false).await.unwrap(), forced);
}

/// Without a refresh token the token is used until it expires; then the user must log in
/// again (a redirect for a browser, `401` for an API client), which gives a new token.
pub async fn no_refresh_token_means_login<A: App>() {
    let bench = Bench::<A>::new();
    bench
        .provider
        .set_misbehavior(Misbehavior::OmitRefreshToken);
    let mut b = bench.browser();
    let first = logged_in_token(&mut b).await;
    let calls = bench.provider.counters().token;
    bench.clock.advance(AT_LIFETIME - 5);
    assert_eq!(
        access_token(&mut b, false).await.unwrap(),
        first,
        "used until it expires: nothing to refresh it with"
    );
    bench.clock.advance(10);
    let page = access_token(&mut b, false).await.unwrap_err();
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    let page = access_token(&mut b, true).await.unwrap_err();
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    assert_eq!(bench.provider.counters().token, calls, "nothing to send");
    let page = b.login("/access_token", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_ne!(page.json()["access_token"], first.as_str());
}

/// A refresh response without a refresh token keeps the old one, which still works.
pub async fn refresh_token_is_kept_when_not_rotated<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let first = logged_in_token(&mut b).await;
    bench
        .provider
        .set_misbehavior(Misbehavior::OmitRefreshToken);
    bench.clock.advance(AT_LIFETIME);
    let second = access_token(&mut b, false).await.unwrap();
    assert_ne!(second, first);
    bench.clock.advance(AT_LIFETIME);
    let third = access_token(&mut b, false).await.unwrap();
    assert_ne!(third, second, "the kept refresh token refreshed again");
}

/// `invalid_grant` ends the session: the next protected request logs in again.
pub async fn invalid_grant_ends_the_session<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    bench.clock.advance(AT_LIFETIME);
    bench
        .provider
        .set_misbehavior(Misbehavior::TokenEndpointError {
            error: "invalid_grant".into(),
        });
    let page = access_token(&mut b, false).await.unwrap_err();
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    bench.provider.set_misbehavior(Misbehavior::None);
    assert!(
        !b.is_logged_in().await,
        "the session is no longer authenticated"
    );
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(page.location().unwrap().starts_with(ISSUER), "a new login");
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
}

/// A provider that cannot be reached (or answers garbage) leaves the session as it was (the
/// same stored tokens, claims and times: the `Unchanged` proof); the caller gets the error;
/// once it is back, the refresh works.
pub async fn refresh_failure_leaves_the_session<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    bench.clock.advance(AT_LIFETIME);
    let before = Before::take(&mut b).await;
    for fault in [Fault::Refused, Fault::Timeout] {
        bench.transport.fail("/token", fault);
        let page = access_token(&mut b, false).await.unwrap_err();
        assert_eq!(page.error(), "provider_unreachable");
        assert!(b.is_logged_in().await, "the session is unchanged");
    }
    bench.transport.clear();
    bench
        .provider
        .set_misbehavior(Misbehavior::TokenEndpointStatus(503));
    let page = access_token(&mut b, false).await.unwrap_err();
    assert_eq!(page.error(), "invalid_response");
    assert!(b.is_logged_in().await);
    let proof = before.unchanged(&mut b).await;
    bench.provider.set_misbehavior(Misbehavior::None);
    let token = access_token(&mut b, false).await.unwrap();
    assert_eq!(bench_api_sub(&bench, &token).await, "alice");
    proof
}

async fn bench_api_sub<A: App>(bench: &Bench<A>, token: &str) -> String {
    let page = bearer(bench, "/api/me", token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    page.json()["sub"].as_str().unwrap().to_owned()
}

/// A refreshed ID token naming another subject is refused; the session keeps its user and
/// its tokens (the refused refresh replaced neither the ID token nor the access or refresh
/// token), and its access token still works at the API.
pub async fn refreshed_id_token_with_another_subject_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    let before = Before::take(&mut b).await;
    bench.clock.advance(AT_LIFETIME - MARGIN + 10);
    // Due for a refresh, and still valid at the API until it expires.
    let before = before.with_bearer(&b, &token).await;
    bench.provider.set_misbehavior(Misbehavior::RefreshOtherSub);
    let page = access_token(&mut b, false).await.unwrap_err();
    assert_eq!(page.error(), "invalid_response");
    bench.provider.set_misbehavior(Misbehavior::None);
    before.unchanged(&mut b).await
}

/// A session store whose every operation yields once to the executor first, so that requests
/// running concurrently in one task really interleave. What it tests is the runtime's, not the
/// core's: the core only says `Wait` while another flow refreshes, and sharing that one refresh
/// across requests (`oidc_runtime`'s driver, through each adapter) is what needs requests
/// caught half-way through their store calls.
struct YieldingStore(MemoryStore);

/// Pending once, waking its task at once: a yield that needs no particular executor.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl SessionStore for YieldingStore {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            YieldNow(false).await;
            self.0.load(id).await
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            YieldNow(false).await;
            self.0.save(id, record).await
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            YieldNow(false).await;
            self.0.delete(id).await
        })
    }

    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            YieldNow(false).await;
            self.0.mark_spent(key, ttl).await
        })
    }
}

/// Two requests of one session that both find the token due cause one refresh, and both get
/// its token (with rotating refresh tokens a second refresh would fail and log the user out).
pub async fn concurrent_requests_share_one_refresh<A: App>() {
    let bench = bench_with::<A>(|r| {
        r.session_store(Arc::new(YieldingStore(MemoryStore::with_clock(
            1000,
            Arc::new(EpochClock),
        ))))
    });
    let mut b1 = bench.browser();
    let first = logged_in_token(&mut b1).await;
    let cookie = b1.session_cookie().unwrap().to_owned();
    let mut b2 = bench.browser();
    b2.set_app_cookie("oidc_session", &cookie);
    let mut b3 = bench.browser();
    b3.set_app_cookie("oidc_session", &cookie);
    bench.clock.advance(AT_LIFETIME);
    let calls = bench.provider.counters().token;
    let (t1, t2, t3) = tokio::join!(
        access_token(&mut b1, false),
        access_token(&mut b2, false),
        access_token(&mut b3, false)
    );
    let (t1, t2, t3) = (t1.unwrap(), t2.unwrap(), t3.unwrap());
    assert_eq!(bench.provider.counters().token, calls + 1, "one refresh");
    assert_ne!(t1, first);
    assert_eq!(t1, t2);
    assert_eq!(t1, t3);
    assert!(b1.is_logged_in().await);
    // And two forced refreshes at once are one refresh too.
    let (f1, f2) = tokio::join!(access_token(&mut b1, true), access_token(&mut b2, true));
    assert_eq!(f1.unwrap(), f2.unwrap());
    assert_eq!(bench.provider.counters().token, calls + 2);
}

/// Two app instances sharing one session store, and a provider that rotates refresh tokens
/// and revokes the grant when a spent one comes back: both instances find the session's access
/// token due at once. The first takes the session's refresh lease in the store and refreshes
/// (its token request held in flight); the second finds the lease taken, waits for the first's
/// result and uses it. One token request in all, the same new token on both instances, and the
/// user still logged in on both (a second refresh would have presented the spent refresh
/// token, and the provider would have revoked the grant).
pub async fn two_instances_share_one_refresh<A: App>() {
    let store: Arc<dyn SessionStore> =
        Arc::new(MemoryStore::with_clock(1000, Arc::new(EpochClock)));
    two_instances_share_one_refresh_on::<A>(store.clone(), store, None).await;
}

/// [`two_instances_share_one_refresh`] with instance A on `store_a` and B on `store_b` (two
/// connections to one shared store), the bench's clock starting at `start_time` (a store with
/// real expiry, such as Redis, needs the present).
pub async fn two_instances_share_one_refresh_on<A: App>(
    store_a: Arc<dyn SessionStore>,
    store_b: Arc<dyn SessionStore>,
    start_time: Option<u64>,
) {
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| r.session_store(store_a)),
        start_time,
        ..Default::default()
    });
    let instance_b = bench.another_instance(store_b);
    let mut on_a = bench.browser();
    let first = logged_in_token(&mut on_a).await;
    let cookie = on_a.session_cookie().unwrap().to_owned();
    let mut on_b = bench.browser();
    on_b.use_app(&instance_b);
    on_b.set_app_cookie("oidc_session", &cookie);
    bench.clock.advance(AT_LIFETIME);
    let calls = bench.provider.counters().token;
    // Holds instance A's refresh in flight while instance B's request arrives.
    bench.transport.fail("/token", Fault::Delay(300));
    let (a, b) = tokio::join!(access_token(&mut on_a, false), async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        access_token(&mut on_b, false).await
    });
    bench.transport.clear();
    let a = a.unwrap_or_else(|p| panic!("instance A: HTTP {}: {}", p.status, p.text()));
    let b = b.unwrap_or_else(|p| panic!("instance B: HTTP {}: {}", p.status, p.text()));
    assert_ne!(a, first, "refreshed");
    assert_eq!(a, b, "instance B uses instance A's refresh");
    assert_eq!(
        bench.provider.counters().token,
        calls + 1,
        "one token request between the two instances"
    );
    assert_eq!(on_a.get_json("/").await.json()["sub"], "alice");
    assert_eq!(on_b.get_json("/").await.json()["sub"], "alice");
    // The rotated refresh token still works: the grant was never revoked.
    let next = access_token(&mut on_b, true)
        .await
        .unwrap_or_else(|p| panic!("HTTP {}: {}", p.status, p.text()));
    assert_ne!(next, a);
}

/// With automatic refresh, a protected request refreshes a due token first; a refused refresh
/// token sends the user to log in.
pub async fn automatic_refresh_on_protected_requests<A: App>() {
    let bench = bench_with::<A>(|r| r.auto_refresh_access_tokens(true));
    let mut b = bench.browser();
    let first = logged_in_token(&mut b).await;
    let calls = bench.provider.counters().token;
    assert!(b.is_logged_in().await);
    assert_eq!(
        bench.provider.counters().token,
        calls,
        "not due: no refresh"
    );
    bench.clock.advance(AT_LIFETIME);
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(bench.provider.counters().token, calls + 1);
    let second = access_token(&mut b, false).await.unwrap();
    assert_ne!(second, first);
    assert_eq!(bench.provider.counters().token, calls + 1);
    bench.clock.advance(AT_LIFETIME);
    bench.transport.fail("/token", Fault::Refused);
    assert_eq!(b.get_json("/").await.error(), "provider_unreachable");
    bench.transport.clear();
    bench
        .provider
        .set_misbehavior(Misbehavior::TokenEndpointError {
            error: "invalid_grant".into(),
        });
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert!(page.location().unwrap().starts_with(ISSUER));

    // Without a refresh token the session is served as it is (no login loop).
    let bench = bench_with::<A>(|r| r.auto_refresh_access_tokens(true));
    bench
        .provider
        .set_misbehavior(Misbehavior::OmitRefreshToken);
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    bench.clock.advance(AT_LIFETIME + 1);
    assert_eq!(b.get_json("/").await.status, StatusCode::OK);
}

/// No token: `401` with a bare `Bearer` challenge (no error code), for browsers too; a logged-in
/// browser and its valid bearer token are unaffected.
pub async fn bearer_absent_is_401<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in_with_bearer(&bench).await;
    let mut client = bench.browser();
    let page = api(&mut client, "/api/me", &[]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let c = challenge(&page);
    assert!(c.starts_with("Bearer") && !c.contains("error="), "{c}");
    assert_eq!(page.error(), "missing_token");
    let page = client.get("/api/me").await;
    assert_eq!(
        page.status,
        StatusCode::UNAUTHORIZED,
        "never a login redirect"
    );
    let page = api(&mut client, "/api/me", &["Basic dXNlcjpwYXNz"]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(!challenge(&page).contains("error="));
    before
        .still_refusing("Basic dXNlcjpwYXNz", StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await
}

/// A token the introspection endpoint refuses to introspect (`400 unsupported_token_type`, as
/// node-oidc-provider answers for JWT access tokens) is the client's bad token: `401`, not a
/// `502` that any client could provoke. A logged-in browser and its valid bearer token are
/// unaffected, and the refused token is still refused afterwards.
pub async fn bearer_not_introspectable_is_401<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in_with_bearer(&bench).await;
    bench.transport.fail(
        "/introspect",
        crate::harness::Fault::Respond(
            400,
            r#"{"error":"unsupported_token_type","error_description":"no"}"#.into(),
        ),
    );
    let mut client = bench.browser();
    let page = api(&mut client, "/api/me", &["Bearer a.b.c"]).await;
    assert_invalid_token(&page, "not introspectable");
    // Our own credentials refused is the provider's answer to us: a 502.
    bench.transport.fail(
        "/introspect",
        crate::harness::Fault::Respond(401, r#"{"error":"invalid_client"}"#.into()),
    );
    let page = api(&mut client, "/api/me", &["Bearer other"]).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text());
    bench.transport.clear();
    before
        .still_refusing("Bearer a.b.c", StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await
}

/// Malformed: `401 invalid_token`; several `Authorization` headers: `400 invalid_request`;
/// neither reaches the provider. A logged-in browser keeps its session, its valid token is
/// still answered as before, and each malformed header is still refused afterwards.
pub async fn bearer_malformed_is_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    let mut before = Before::take(&mut b).await.with_bearer(&b, &token).await;
    let introspections = bench.provider.counters().introspection;
    let mut client = bench.browser();
    for bad in ["Bearer", "Bearer a b", "Bearer {}", "Bearer =="] {
        let page = api(&mut client, "/api/me", &[bad]).await;
        assert_invalid_token(&page, bad);
        before = before.still_refusing(bad, StatusCode::UNAUTHORIZED);
    }
    let page = api(&mut client, "/api/me", &["Bearer a", "Bearer b"]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(challenge(&page).contains("error=\"invalid_request\""));
    assert_eq!(bench.provider.counters().introspection, introspections);
    before.unchanged(&mut b).await
}

/// A valid token by introspection (scheme case-insensitive): `200` with its claims; the result
/// is cached, keyed by the token's hash.
pub async fn bearer_valid_by_introspection<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    let mut client = bench.browser();
    let page = api(&mut client, "/api/me", &[&format!("bEaReR {token}")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let v = page.json();
    assert_eq!(v["sub"], "alice");
    assert_eq!(v["client_id"], CLIENT_ID);
    assert_eq!(bench.provider.counters().introspection, 1);
    let page = api(&mut client, "/api/me", &[&format!("Bearer {token}")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(bench.provider.counters().introspection, 1, "cached");
    bench.clock.advance(60);
    assert_eq!(
        bearer(&bench, "/api/me", &token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        bench.provider.counters().introspection,
        2,
        "the cache is short-lived"
    );
}

/// A token the provider does not know is inactive: `401`; the introspection endpoint
/// unreachable: a JSON `502`, not a `401`. A logged-in browser and its valid bearer token are
/// unaffected, and the inactive token is still refused afterwards.
pub async fn bearer_inactive_by_introspection<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in_with_bearer(&bench).await;
    let page = bearer(&bench, "/api/me", "no-such-token").await;
    assert_invalid_token(&page, "unknown token");
    bench.transport.fail("/introspect", Fault::Refused);
    let page = bearer(&bench, "/api/me", "another-token").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert_eq!(page.error(), "provider_unreachable");
    bench.transport.clear();
    before
        .still_refusing("Bearer no-such-token", StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await
}

/// An expired token: `401`, by introspection and as a JWT (and still `401` afterwards: no
/// cached result lets it in); the logged-in browser keeps its session as it was.
pub async fn bearer_expired_is_401<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    assert_eq!(
        bearer(&bench, "/api/me", &token).await.status,
        StatusCode::OK
    );
    let before = Before::take(&mut b).await;
    bench.clock.advance(AT_LIFETIME + 1);
    assert_invalid_token(&bearer(&bench, "/api/me", &token).await, "expired");
    let _introspected = before
        .still_refusing(&format!("Bearer {token}"), StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await;

    let bench = bench_with::<A>(|r| r.bearer_validation(BearerValidation::Jwt));
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    let mut spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid");
    spec.lifetime = 60;
    let jwt = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    assert_eq!(bearer(&bench, "/api/me", &jwt).await.status, StatusCode::OK);
    let before = Before::take(&mut b).await;
    bench.clock.advance(120);
    assert_invalid_token(&bearer(&bench, "/api/me", &jwt).await, "expired JWT");
    before
        .still_refusing(&format!("Bearer {jwt}"), StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await
}

/// A required scope missing: `403 insufficient_scope` naming the scope; with it: `200`. The
/// logged-in browser and a token with the scope are unaffected, and the token without it is
/// still refused afterwards.
pub async fn bearer_missing_scope_is_403<A: App>() -> Unchanged {
    let bench = bench_with::<A>(|r| r.bearer_scopes(["api.read"]));
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid api.read");
    let scoped = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    let before = Before::take(&mut b).await.with_bearer(&b, &scoped).await;
    let page = bearer(&bench, "/api/me", &token).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text());
    let c = challenge(&page);
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    assert!(c.contains("scope=\"api.read\""), "{c}");
    assert_eq!(page.error(), "insufficient_scope");
    before
        .still_refusing(&format!("Bearer {token}"), StatusCode::FORBIDDEN)
        .unchanged(&mut b)
        .await
}

/// The wrong audience: `401`, by introspection (when an audience is configured) and as a JWT;
/// the logged-in browser and a token for the right audience are unaffected, and the wrong
/// one is still refused afterwards.
pub async fn bearer_wrong_audience_is_401<A: App>() -> Unchanged {
    let bench = bench_with::<A>(|r| r.bearer_audience("https://api.test"));
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, "https://api.test", "openid");
    let right = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    let before = Before::take(&mut b).await.with_bearer(&b, &right).await;
    assert_invalid_token(
        &bearer(&bench, "/api/me", &token).await,
        "aud is the client",
    );
    let _introspected = before
        .still_refusing(&format!("Bearer {token}"), StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await;

    let bench = bench_with::<A>(|r| r.bearer_validation(BearerValidation::Jwt));
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid");
    let right = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    let before = Before::take(&mut b).await.with_bearer(&b, &right).await;
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, "https://elsewhere.test", "openid");
    let wrong = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    assert_invalid_token(
        &bearer(&bench, "/api/me", &wrong).await,
        "JWT for elsewhere",
    );
    before
        .still_refusing(&format!("Bearer {wrong}"), StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await
}

/// JWT access tokens are validated locally: a valid one is accepted with no call to the
/// provider per request; wrongly signed, wrong `typ` or issuer, or not a JWT: `401`; a new
/// signing key is picked up.
pub async fn bearer_jwt_validated_locally<A: App>() {
    let bench = bench_with::<A>(|r| r.bearer_validation(BearerValidation::Jwt));
    let now = bench.clock.now();
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid profile");
    let good = bench.provider.issue_jwt_access_token(&spec, now);
    let page = bearer(&bench, "/api/me", &good).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    assert_eq!(page.json()["scope"], "openid profile");
    let jwks = bench.provider.counters().jwks;
    for _ in 0..3 {
        assert_eq!(
            bearer(&bench, "/api/me", &good).await.status,
            StatusCode::OK
        );
    }
    let c = bench.provider.counters();
    assert_eq!(
        (c.jwks, c.introspection),
        (jwks, 0),
        "no network per request"
    );

    let mut wrong_key = spec.clone();
    wrong_key.wrong_key = true;
    let mut wrong_typ = spec.clone();
    wrong_typ.typ = "JWT".into();
    let mut wrong_iss = spec.clone();
    wrong_iss.issuer = Some("https://evil.test".into());
    for (what, s) in [
        ("wrongly signed", wrong_key),
        ("typ JWT", wrong_typ),
        ("another issuer", wrong_iss),
    ] {
        let t = bench.provider.issue_jwt_access_token(&s, now);
        assert_invalid_token(&bearer(&bench, "/api/me", &t).await, what);
    }
    assert_invalid_token(&bearer(&bench, "/api/me", "opaque").await, "opaque");

    // Key rotation: a token under the new key fetches the JWKS once more, but not more often
    // than once per refetch interval (made-up kids cannot make the app hammer the provider).
    bench.provider.rotate_keys();
    let rotated = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    let before = bench.provider.counters().jwks;
    assert_invalid_token(&bearer(&bench, "/api/me", &rotated).await, "too soon");
    assert_eq!(bench.provider.counters().jwks, before);
    bench.clock.advance(120);
    assert_eq!(bench_api_sub(&bench, &rotated).await, "alice");
    assert_eq!(bench.provider.counters().jwks, before + 1);
    // A key the provider never publishes: one refetch, then refused.
    bench.provider.set_misbehavior(Misbehavior::UnknownKid);
    let rogue = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    bench.provider.set_misbehavior(Misbehavior::None);
    bench.clock.advance(120);
    assert_invalid_token(&bearer(&bench, "/api/me", &rogue).await, "unknown kid");
    assert_eq!(bench.provider.counters().jwks, before + 2);
    // The JWKS endpoint unreachable: a JSON 502.
    let bench = bench_with::<A>(|r| r.bearer_validation(BearerValidation::Jwt));
    bench.transport.fail("/jwks", Fault::Refused);
    let page = bearer(&bench, "/api/me", &good).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert_eq!(page.error(), "provider_unreachable");
}

/// A provider without an introspection or token endpoint, or an unknown provider: the bearer
/// guard answers a JSON `500`, the client credentials grant a configuration error; a browser
/// logged in through the default provider, and its valid bearer token, are unchanged.
pub async fn token_configuration_errors<A: App>() -> Unchanged {
    let bench = bench_with::<A>(|r| {
        let mut metadata =
            ProviderMetadata::new(ISSUER, format!("{ISSUER}/authorize").parse().unwrap());
        metadata.jwks_uri = Some(format!("{ISSUER}/jwks").parse().unwrap());
        r.provider(
            "bare",
            ProviderConfig::from_metadata(metadata)
                .client(ClientMetadata::new(CLIENT_ID, CLIENT_SECRET))
                .build()
                .unwrap(),
        )
    });
    // With two providers each has its own redirect URI, and `/` offers a choice: log in
    // through the default one by name.
    let mut client = SimClient::confidential(
        CLIENT_ID,
        CLIENT_SECRET,
        &format!("{APP_URL}/redirect_uri/default"),
    );
    client.post_logout_redirect_uris = vec![format!("{APP_URL}/logout")];
    bench.provider.register_client(client);
    let mut b = bench.browser();
    let auth = b.start_login("/login?provider=default").await;
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let token = access_token(&mut b, false)
        .await
        .unwrap_or_else(|p| panic!("HTTP {}: {}", p.status, p.text()));
    let before = Before::take(&mut b).await.with_bearer(&b, &token).await;
    let parts = Request::get("/api/me")
        .header(header::AUTHORIZATION, "Bearer t")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    for provider in ["bare", "nope"] {
        let resp = bench
            .rp
            .authorize_bearer(&parts, &BearerRequirements::new().provider(provider))
            .await
            .unwrap_err();
        assert_eq!(
            resp.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{provider}"
        );
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(v["error"], "configuration_error", "{provider}");
    }
    let err = bench
        .rp
        .client_credentials_token(Some("bare"), &[], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    before.unchanged(&mut b).await
}

/// End to end: a provider issuing RFC 9068 access tokens; the session's token works at the
/// JWT-validated API.
pub async fn bearer_jwt_from_login<A: App>() {
    let bench = bench_with::<A>(|r| r.bearer_validation(BearerValidation::Jwt));
    bench.provider.set_jwt_access_tokens(Some(APP_URL));
    let mut b = bench.browser();
    let token = logged_in_token(&mut b).await;
    assert_eq!(token.split('.').count(), 3, "a JWT");
    assert_eq!(bench_api_sub(&bench, &token).await, "alice");
    assert_eq!(bench.provider.counters().introspection, 0);
}

/// The session-or-bearer rules: no `Authorization` header falls back to the session (login
/// redirect for browsers, `401` for API requests); any `Authorization` header is judged alone:
/// a bad token is `401`/`403`, never a login redirect, even with a session.
pub async fn session_or_bearer_rules<A: App>() {
    let bench = bench_with::<A>(|r| r.bearer_scopes(["api.read"]));
    let mut b = bench.browser();
    let page = b.get("/api/either").await;
    assert_eq!(page.status, StatusCode::FOUND, "browser: login redirect");
    assert!(page.location().unwrap().starts_with(ISSUER));
    let page = b.get_json("/api/either").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "API client: 401");
    assert!(challenge(&page).starts_with("Bearer"));
    let page = b
        .send(
            Request::post(format!("{APP_URL}/api/either"))
                .body(Bytes::from_static(b"{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNAUTHORIZED,
        "non-GET: 401, the body would be lost"
    );

    let token = logged_in_token(&mut b).await;
    let page = b.get("/api/either").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["via"], "session");
    assert_eq!(page.json()["sub"], "alice");

    // A session with a bad token: the token decides.
    let page = b
        .send(
            Request::get(format!("{APP_URL}/api/either"))
                .header(header::AUTHORIZATION, "Bearer forged")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    assert!(challenge(&page).contains("invalid_token"));
    // The session's own token lacks `api.read`: 403, not the session.
    let page = bearer(&bench, "/api/either", &token).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let spec = JwtAccessTokenSpec::new("bob", CLIENT_ID, APP_URL, "api.read");
    let good = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    let page = bearer(&bench, "/api/either", &good).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["via"], "bearer");
    assert_eq!(page.json()["sub"], "bob");
}

/// Client credentials tokens are cached per scopes and parameters until shortly before they
/// expire; failures are typed errors.
pub async fn client_credentials_are_cached<A: App>() {
    // The tokens are for `https://api.test`; so is this app's API here.
    let bench = bench_with::<A>(|r| r.bearer_audience("https://api.test"));
    let rp = &bench.rp;
    let extra = [("audience", "https://api.test")];
    let calls = bench.provider.counters().token;
    let t1 = rp
        .client_credentials_token(None, &["api.read", "api.write"], &extra)
        .await
        .unwrap();
    assert_eq!(bench.provider.counters().token, calls + 1);
    let form = last_token_form(&bench);
    assert!(has(&form, "grant_type", "client_credentials"), "{form:?}");
    assert!(has(&form, "scope", "api.read api.write"));
    assert!(has(&form, "audience", "https://api.test"));
    let t2 = rp
        .client_credentials_token(None, &["api.write", "api.read"], &extra)
        .await
        .unwrap();
    assert_eq!(t1.expose(), t2.expose(), "cached");
    assert_eq!(bench.provider.counters().token, calls + 1);
    let other = rp
        .client_credentials_token(None, &["api.read"], &extra)
        .await
        .unwrap();
    assert_ne!(other.expose(), t1.expose(), "other scopes, other token");
    assert_eq!(bench.provider.counters().token, calls + 2);
    // The token is good at the provider, for the client itself.
    let page = bearer(&bench, "/api/me", t1.expose()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], CLIENT_ID);
    assert_eq!(page.json()["aud"], serde_json::json!(["https://api.test"]));
    // Renewed shortly before expiry.
    bench.clock.advance(AT_LIFETIME - MARGIN);
    let t3 = rp
        .client_credentials_token(None, &["api.read", "api.write"], &extra)
        .await
        .unwrap();
    assert_ne!(t3.expose(), t1.expose());
    assert_eq!(bench.provider.counters().token, calls + 3);
    // Failures.
    bench.transport.fail("/token", Fault::Timeout);
    let err = rp
        .client_credentials_token(None, &["x"], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    bench.transport.clear();
    bench
        .provider
        .set_misbehavior(Misbehavior::TokenEndpointError {
            error: "unauthorized_client".into(),
        });
    let err = rp
        .client_credentials_token(None, &["x"], &[])
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), "unauthorized_client");
    assert!(rp
        .client_credentials_token(Some("nope"), &[], &[])
        .await
        .is_err());
    assert!(rp
        .client_credentials_token(None, &[], &[("grant_type", "password")])
        .await
        .is_err());
}

/// A refresh is not an authentication: with `max_age` configured, a refresh long after
/// `max_age` still succeeds (the refreshed ID token keeps the login's `auth_time`), but a
/// refreshed ID token claiming another `auth_time` is refused and the session keeps its user
/// and its access token (OpenID Connect Core 12.2): the `Unchanged` proof, with the access
/// token as a bearer token answered as before and a login in progress in another tab.
pub async fn refreshed_id_token_keeps_the_login_auth_time<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.max_age(std::time::Duration::from_secs(60))),
        ..Default::default()
    });
    let mut b = bench.browser();
    let first = logged_in_token(&mut b).await;
    bench.clock.advance(AT_LIFETIME);
    let second = access_token(&mut b, false)
        .await
        .unwrap_or_else(|p| panic!("HTTP {}: {}", p.status, p.text()));
    assert_ne!(second, first, "refreshed although max_age has long passed");
    let tab = b.start_login("/login").await;
    let tab_back = b.authorize(&tab, "alice");
    let before = Before::take(&mut b)
        .await
        .with_bearer(&b, &second)
        .await
        .with_pending_login(tab, tab_back);
    bench
        .provider
        .set_misbehavior(Misbehavior::RefreshOtherAuthTime);
    let page = access_token(&mut b, true).await.unwrap_err();
    assert_eq!(page.error(), "invalid_response");
    bench.provider.set_misbehavior(Misbehavior::None);
    assert_eq!(access_token(&mut b, false).await.unwrap(), second);
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice", "still the original user");
    before.unchanged(&mut b).await
}

/// A client credentials token that the provider issues straight to `client_id` (another app
/// using the same provider).
fn token_of_another_client<A: App>(bench: &Bench<A>, client_id: &str, secret: &str) -> String {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", "openid profile")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", secret)
        .finish();
    let response = bench.provider.handle(
        Request::post(format!("{ISSUER}/token"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Bytes::from(body))
            .unwrap(),
        bench.clock.now(),
    );
    let v: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {v}"))
        .to_owned()
}

/// By default an introspected bearer token must be for this app (its `aud` contains the app's
/// base URL), as a JWT must (RFC 9700 4.9, RFC 6750 5.2): an active token the provider issued
/// to another client, or one of this client's own tokens for another API, is `401` at
/// `/api/me`, and still afterwards. The app's own token keeps working afterwards and the
/// logged-in browser stays logged in as before. `skip_introspection_audience_check` is the
/// explicit opt-out, and a configured audience is still checked with it.
pub async fn bearer_for_another_audience_is_401<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    bench.provider.register_client(SimClient::confidential(
        "third-party",
        "tp-secret",
        "https://third.test/cb",
    ));
    let third = token_of_another_client(&bench, "third-party", "tp-secret");
    let mut b = bench.browser();
    let own = logged_in_token(&mut b).await;
    let before = Before::take(&mut b).await.with_bearer(&b, &own).await;
    assert_invalid_token(
        &bearer(&bench, "/api/me", &third).await,
        "a token issued to another client",
    );
    let other_api = bench
        .rp
        .client_credentials_token(None, &["openid"], &[("audience", "https://api.test")])
        .await
        .unwrap();
    assert_invalid_token(
        &bearer(&bench, "/api/me", other_api.expose()).await,
        "this client's token for another API",
    );
    let proof = before
        .still_refusing(&format!("Bearer {third}"), StatusCode::UNAUTHORIZED)
        .still_refusing(
            &format!("Bearer {}", other_api.expose()),
            StatusCode::UNAUTHORIZED,
        )
        .unchanged(&mut b)
        .await;

    let bench = bench_with::<A>(|r| r.skip_introspection_audience_check());
    bench.provider.register_client(SimClient::confidential(
        "third-party",
        "tp-secret",
        "https://third.test/cb",
    ));
    let third = token_of_another_client(&bench, "third-party", "tp-secret");
    let page = bearer(&bench, "/api/me", &third).await;
    assert_eq!(page.status, StatusCode::OK, "opted out: {}", page.text());
    assert_eq!(page.json()["client_id"], "third-party");
    let bench = bench_with::<A>(|r| {
        r.skip_introspection_audience_check()
            .bearer_audience("https://api.test")
    });
    bench.provider.register_client(SimClient::confidential(
        "third-party",
        "tp-secret",
        "https://third.test/cb",
    ));
    let third = token_of_another_client(&bench, "third-party", "tp-secret");
    assert_invalid_token(
        &bearer(&bench, "/api/me", &third).await,
        "a configured audience is still checked",
    );
    proof
}

/// A JWT access token as an attacker forges it: valid claims for this app, signed with a key
/// the provider never published, under a made-up `kid`.
fn forged_access_token<A: App>(bench: &Bench<A>, kid: &str) -> String {
    let now = bench.clock.now();
    bench.provider.forge_token(
        serde_json::json!({
            "iss": ISSUER, "sub": "mallory", "aud": APP_URL, "client_id": CLIENT_ID,
            "scope": "openid", "exp": now + 600, "iat": now, "jti": kid,
        }),
        kid,
        "at+jwt",
    )
}

/// Concurrent bearer requests with JWT access tokens naming made-up `kid`s, long after the
/// last key fetch and while a JWKS fetch takes a while, cost one JWKS fetch between them (they
/// wait for the one in flight instead of each fetching), and each is refused; a valid token is
/// accepted before and after, with no further fetch. A browser logged in before the flood
/// keeps its session, the valid token is answered as before, and a forged one is still
/// refused afterwards (nothing cached lets it in).
pub async fn bearer_unknown_kid_flood_costs_one_jwks_fetch<A: App>() -> Unchanged {
    let bench = bench_with::<A>(|r| r.bearer_validation(BearerValidation::Jwt));
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid");
    let good = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    assert_eq!(bench_api_sub(&bench, &good).await, "alice");
    let forged: Vec<String> = (0..8)
        .map(|i| forged_access_token(&bench, &format!("forged-{i}")))
        .collect();
    let before = Before::take(&mut b)
        .await
        .with_bearer(&b, &good)
        .await
        .still_refusing(&format!("Bearer {}", forged[0]), StatusCode::UNAUTHORIZED);
    bench.clock.advance(120);
    bench.transport.fail("/jwks", Fault::Delay(50));
    let fetched = bench.provider.counters().jwks;
    let pages =
        futures_util::future::join_all(forged.iter().map(|t| bearer(&bench, "/api/me", t))).await;
    for page in &pages {
        assert_invalid_token(page, "forged kid");
    }
    let fetches = bench.provider.counters().jwks - fetched;
    assert!(
        fetches <= 1,
        "{fetches} JWKS fetches for 8 concurrent forged tokens"
    );
    // Sequential ones within the interval: no fetch at all.
    for t in &forged {
        assert_invalid_token(&bearer(&bench, "/api/me", t).await, "forged kid again");
    }
    assert_eq!(bench.provider.counters().jwks - fetched, fetches);
    assert_eq!(bench_api_sub(&bench, &good).await, "alice");
    assert_eq!(bench.provider.counters().jwks - fetched, fetches);
    before.unchanged(&mut b).await
}

/// A failing JWKS endpoint is not asked on every request: once the cached key set is past its
/// maximum age and the refetch fails, requests within the refetch interval get the remembered
/// failure (a JSON 502) without a call; once the endpoint is back and the interval has passed,
/// the same valid token that was accepted before is answered as before, and a logged-in
/// browser keeps its session throughout.
pub async fn bearer_failing_jwks_is_not_refetched_per_request<A: App>() -> Unchanged {
    let bench = bench_with::<A>(|r| r.bearer_validation(BearerValidation::Jwt));
    let mut b = bench.browser();
    logged_in_token(&mut b).await;
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid");
    let good = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    let before = Before::take(&mut b).await.with_bearer(&b, &good).await;
    bench.clock.advance(300);
    bench.transport.fail("/jwks", Fault::Refused);
    let jwks_calls = bench.transport.calls("/jwks");
    for _ in 0..5 {
        let page = bearer(&bench, "/api/me", &good).await;
        assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text());
        assert_eq!(page.error(), "provider_unreachable");
    }
    // A refused connection never reaches the provider: count what the transport was asked.
    assert_eq!(
        bench.transport.calls("/jwks") - jwks_calls,
        1,
        "one JWKS attempt for five requests"
    );
    bench.transport.clear();
    bench.clock.advance(5);
    let proof = before.unchanged(&mut b).await;
    assert_eq!(bench.transport.calls("/jwks") - jwks_calls, 2);
    proof
}

/// A refresh whose only waiting request goes away (the client disconnects) after the token
/// request was sent still completes and is saved: the provider has already rotated the refresh
/// token, and it rejects the spent one (revoking the grant), so an abandoned refresh would log
/// the user out. Afterwards the session serves the refreshed access token without asking the
/// provider again, the next (forced) refresh succeeds, and the user is still logged in.
pub async fn cancelled_refresh_is_still_saved<A: App>() {
    const DELAY_MS: u64 = 300;
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let first = logged_in_token(&mut b).await;
    bench.clock.advance(AT_LIFETIME);
    bench.transport.fail("/token", Fault::Delay(DELAY_MS));
    let calls = bench.provider.counters().token;
    {
        let request = access_token(&mut b, false);
        tokio::pin!(request);
        loop {
            tokio::select! {
                page = &mut request => panic!("the refresh should still be waiting: {page:?}"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(2)) => {
                    if bench.provider.counters().token > calls {
                        break;
                    }
                }
            }
        }
        // The request is dropped here, with the provider's answer still on its way.
    }
    assert_eq!(
        bench.provider.counters().token,
        calls + 1,
        "the token request was sent"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3 * DELAY_MS)).await;
    bench.transport.clear();
    let saved = access_token(&mut b, false)
        .await
        .unwrap_or_else(|p| panic!("HTTP {}: {}", p.status, p.text()));
    assert_ne!(saved, first, "the refreshed token was saved");
    assert_eq!(
        bench.provider.counters().token,
        calls + 1,
        "served from the session, no second refresh"
    );
    let next = access_token(&mut b, true).await.unwrap_or_else(|p| {
        panic!(
            "the rotated refresh token works: HTTP {}: {}",
            p.status,
            p.text()
        )
    });
    assert_ne!(next, saved);
    assert_eq!(
        b.get_json("/").await.json()["sub"],
        "alice",
        "still logged in"
    );
}

/// Instantiates every token scenario for one adapter: `token_scenarios!(axum_tokens, App);`
/// gives tests named `axum_tokens::access_token_is_refreshed_on_expiry`, ...
#[macro_export]
macro_rules! token_scenarios {
    ($adapter:ident, $app:ty) => {
        $crate::token_scenarios!(@each $adapter, $app, [
            access_token_is_refreshed_on_expiry,
            access_token_needs_a_session,
            forced_refresh,
            no_refresh_token_means_login,
            refresh_token_is_kept_when_not_rotated,
            invalid_grant_ends_the_session,
            concurrent_requests_share_one_refresh,
            two_instances_share_one_refresh,
            automatic_refresh_on_protected_requests,
            bearer_valid_by_introspection,
            bearer_jwt_validated_locally,
            bearer_jwt_from_login,
            session_or_bearer_rules,
            client_credentials_are_cached,
            cancelled_refresh_is_still_saved,
        ], rejections: [
            refreshed_id_token_with_another_subject_is_rejected,
            bearer_malformed_is_refused,
            bearer_absent_is_401,
            bearer_not_introspectable_is_401,
            bearer_inactive_by_introspection,
            bearer_expired_is_401,
            bearer_missing_scope_is_403,
            bearer_wrong_audience_is_401,
            bearer_for_another_audience_is_401,
            bearer_failing_jwks_is_not_refetched_per_request,
            bearer_unknown_kid_flood_costs_one_jwks_fetch,
            refresh_failure_leaves_the_session,
            session_ended_during_refresh_stays_ended,
            refreshed_id_token_keeps_the_login_auth_time,
            token_configuration_errors,
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
                    $crate::token_scenarios::$name::<$app>().await
                }
            )*
            // A rejection scenario must hand back the proof that it checked nothing changed.
            $(
                #[tokio::test]
                async fn $rejection() {
                    let _: $crate::unchanged::Unchanged =
                        $crate::token_scenarios::$rejection::<$app>().await;
                }
            )*
        }
    };
}
