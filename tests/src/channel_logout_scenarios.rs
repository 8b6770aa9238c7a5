//! Logout driven by the provider, through every adapter: OpenID Connect Back-Channel Logout
//! 1.0 (the provider POSTs a logout token to `/backchannel_logout`) and Front-Channel Logout
//! 1.0 (the provider's logout page loads `/frontchannel_logout?iss=..&sid=..`).
//!
//! A valid logout token ends exactly the sessions it names, by `sid` (one provider session) or
//! by `sub` alone (every session of the user), in every instance sharing the session store; a
//! token signed with a rotated key costs one JWKS fetch. Every invalid token or request is
//! refused with a `400` JSON error that is not cached, and ends nothing: each rejection
//! scenario starts from logged-in browsers and proves them unchanged. Dynamic registration
//! tells the provider where both routes are. Requests come as the provider sends them: from no
//! browser, without the app's cookies.
//!
//! Re-exported by the `scenarios` module and run by the [`scenarios!`](crate::scenarios!)
//! macro.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use oidc_runtime::{Clock as _, MemoryStore};
use serde_json::json;

use crate::harness::{system_now, App, Bench, BenchOptions, Browser, Page, CLIENT_ID, ISSUER};
use crate::logout_token::{LogoutEvents, LogoutSigning, LogoutTokenSpec};
use crate::unchanged::{logged_in, whoami, Before, Unchanged};
use crate::LogoutRegistration;

/// The front-channel route the benches of this module serve (it is off by default).
const FRONTCHANNEL_PATH: &str = "/frontchannel_logout";

/// A bench whose relying party keeps its sessions in `store` (to share it with
/// [`Bench::another_instance`]) and serves front-channel logout too.
fn bench_on<A: App>(store: Arc<MemoryStore>) -> Bench<A> {
    Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| {
            r.session_store(store)
                .frontchannel_logout_path(FRONTCHANNEL_PATH)
        }),
        start_time: Some(system_now()),
        ..Default::default()
    })
}

/// A bench on a store of its own.
fn bench<A: App>() -> Bench<A> {
    bench_on(Arc::new(MemoryStore::new(1000)))
}

/// The `sid` of the provider session this browser's app session came from (its ID token's).
pub(crate) async fn sid_of<A: App>(b: &mut Browser<'_, A>) -> String {
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    page.json()["id_token_claims"]["sid"]
        .as_str()
        .expect("the ID token carries sid")
        .to_owned()
}

/// The raw ID token of this browser's session.
async fn id_token_of<A: App>(b: &Browser<'_, A>) -> String {
    let session = b.stored_session().await.expect("a stored session");
    session.id_token.raw.expose().to_owned()
}

/// A form body `logout_token=<token>`.
pub(crate) fn form(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish()
}

/// `POST <app>/backchannel_logout` with `body`, as the provider sends it (no browser, no
/// cookies), to `app` (another instance) or the bench's app.
pub(crate) async fn post_to<A: App>(bench: &Bench<A>, app: Option<&A>, body: String) -> Page {
    let mut provider = bench.browser();
    if let Some(app) = app {
        provider.use_app(app);
    }
    provider
        .send(
            Request::post(format!("{}/backchannel_logout", bench.app_url))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Bytes::from(body))
                .expect("a request"),
        )
        .await
}

/// Delivers a logout token to the bench's app.
async fn deliver<A: App>(bench: &Bench<A>, token: &str) -> Page {
    post_to(bench, None, form(token)).await
}

/// `GET <app>/frontchannel_logout?<query>` from a frame without the app's cookies (a
/// cross-site iframe gets no `SameSite=Lax` cookie).
async fn frontchannel<A: App>(bench: &Bench<A>, query: &str) -> Page {
    let mut frame = bench.browser();
    frame
        .get(&format!("{}{FRONTCHANNEL_PATH}?{query}", bench.app_url))
        .await
}

/// Asserts the answer to an accepted logout: `200`, not cached.
fn assert_accepted(page: &Page) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_no_store(page);
}

/// Asserts the `Cache-Control: no-store` the specifications ask of every answer.
fn assert_no_store(page: &Page) {
    let cache = page
        .headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cache.contains("no-store"), "Cache-Control: {cache:?}");
}

/// Asserts a refused back-channel logout: `400`, a JSON `error`, not cached.
fn assert_refused(page: &Page, what: &str) {
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        page.text()
    );
    let body: serde_json::Value = serde_json::from_slice(&page.body)
        .unwrap_or_else(|_| panic!("{what}: not JSON: {}", page.text()));
    assert!(body["error"].is_string(), "{what}: {body}");
    assert_no_store(page);
}

/// A second browser of `alice`, in a provider session of its own, and a browser of `bob`:
/// what a logout of one session must leave alone.
async fn bystanders<'a, A: App>(bench: &'a Bench<A>) -> (Browser<'a, A>, Browser<'a, A>) {
    let (alice_too, _) = logged_in(bench, "alice").await;
    let (bob, _) = logged_in(bench, "bob").await;
    (alice_too, bob)
}

/// Asserts that `b` is still logged in as `user`.
async fn still_in<A: App>(b: &mut Browser<'_, A>, user: &str) {
    assert_eq!(
        whoami(b).await.as_deref(),
        Some(user),
        "{user} stays logged in"
    );
}

/// A valid logout token naming one provider session (`sid`) ends the app sessions of that
/// provider session, on the instance that got it and on another instance sharing the store,
/// and answers `200` with `Cache-Control: no-store`; the same user's other browser (another
/// provider session) and another user stay logged in.
pub async fn backchannel_logout_ends_the_named_session_everywhere<A: App>() {
    let store = Arc::new(MemoryStore::new(1000));
    let bench = bench_on::<A>(store.clone());
    let instance_b = bench.another_instance(store);
    let (mut b, _) = logged_in(&bench, "alice").await;
    let sid = sid_of(&mut b).await;
    // The same session seen through instance B.
    let mut on_b = bench.browser();
    on_b.use_app(&instance_b);
    on_b.set_app_cookie("oidc_session", b.session_cookie().expect("a session"));
    still_in(&mut on_b, "alice").await;
    let (mut alice_too, mut bob) = bystanders(&bench).await;
    assert_ne!(sid_of(&mut alice_too).await, sid, "two provider sessions");

    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid),
        bench.clock.now(),
    );
    // The load balancer sends the provider's POST to instance B.
    let page = post_to(&bench, Some(&instance_b), form(&token)).await;
    assert_accepted(&page);

    assert_eq!(whoami(&mut b).await, None, "ended on instance A");
    assert_eq!(whoami(&mut on_b).await, None, "ended on instance B");
    assert!(bench.rp.session(&request_parts(&b)).await.is_none());
    still_in(&mut alice_too, "alice").await;
    still_in(&mut bob, "bob").await;
}

/// The request head carrying this browser's session cookie, to read its stored session.
fn request_parts<A: App>(b: &Browser<'_, A>) -> http::request::Parts {
    Request::get("/")
        .header(
            header::COOKIE,
            format!("oidc_session={}", b.session_cookie().unwrap_or("none")),
        )
        .body(())
        .expect("a request")
        .into_parts()
        .0
}

/// A logout token naming only the user (`sub`, no `sid`: a provider that ends all of a
/// user's sessions) ends every session of that user, and no other user's.
pub async fn backchannel_logout_by_subject_ends_every_session_of_the_user<A: App>() {
    let bench = bench::<A>();
    let (mut b, _) = logged_in(&bench, "alice").await;
    let (mut alice_too, mut bob) = bystanders(&bench).await;
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_subject(CLIENT_ID, "alice"),
        bench.clock.now(),
    );
    assert_accepted(&deliver(&bench, &token).await);
    assert_eq!(whoami(&mut b).await, None);
    assert_eq!(whoami(&mut alice_too).await, None, "every session of alice");
    still_in(&mut bob, "bob").await;
}

/// A provider that leaves `sid` out of its ID tokens: its sub-only logout token ends the
/// user's sessions, and a token with a `sid` (and the `sub`) ends them too, since nothing says
/// which provider session they were.
pub async fn sessions_without_sid_end_by_subject<A: App>() {
    let bench = bench::<A>();
    bench.provider.set_sid_claim(false);
    let (mut b, _) = logged_in(&bench, "alice").await;
    let page = b.get_json("/").await;
    assert!(page.json()["id_token_claims"].get("sid").is_none());
    let (_, mut bob) = bystanders(&bench).await;
    let sid = bench
        .provider
        .session_ids("alice")
        .pop()
        .expect("a session");
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid),
        bench.clock.now(),
    );
    assert_accepted(&deliver(&bench, &token).await);
    assert_eq!(whoami(&mut b).await, None);
    still_in(&mut bob, "bob").await;
    let (mut b, _) = logged_in(&bench, "alice").await;
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_subject(CLIENT_ID, "alice"),
        bench.clock.now(),
    );
    assert_accepted(&deliver(&bench, &token).await);
    assert_eq!(whoami(&mut b).await, None);
    still_in(&mut bob, "bob").await;
}

/// After the provider rotates its keys, a logout token signed with the new key is accepted,
/// at the cost of one JWKS fetch.
pub async fn backchannel_logout_with_a_rotated_key_is_accepted<A: App>() {
    let bench = bench::<A>();
    let (mut b, _) = logged_in(&bench, "alice").await;
    let sid = sid_of(&mut b).await;
    let (_, mut bob) = bystanders(&bench).await;
    bench.provider.rotate_keys();
    // Past the key-fetch policy's refetch interval, as for an ID token with a new key.
    bench
        .clock
        .advance(oidc_core::jwks::DEFAULT_REFETCH_INTERVAL);
    let fetched = bench.transport.calls("/jwks");
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid),
        bench.clock.now(),
    );
    assert_accepted(&deliver(&bench, &token).await);
    assert_eq!(
        bench.transport.calls("/jwks") - fetched,
        1,
        "one JWKS fetch"
    );
    assert_eq!(whoami(&mut b).await, None);
    still_in(&mut bob, "bob").await;
}

/// Front-channel logout with the provider's `iss` and a session's `sid` ends the app sessions
/// of that provider session, from a frame without the app's cookies, and answers an HTML page
/// that is not cached; the user's other provider session stays.
pub async fn frontchannel_logout_ends_the_named_session<A: App>() {
    let bench = bench::<A>();
    let (mut b, _) = logged_in(&bench, "alice").await;
    let sid = sid_of(&mut b).await;
    let (mut alice_too, mut bob) = bystanders(&bench).await;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("iss", ISSUER)
        .append_pair("sid", &sid)
        .finish();
    let page = frontchannel(&bench, &query).await;
    assert_accepted(&page);
    let content_type = page.headers[header::CONTENT_TYPE].to_str().unwrap_or("");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(whoami(&mut b).await, None);
    still_in(&mut alice_too, "alice").await;
    still_in(&mut bob, "bob").await;
}

/// Front-channel logout requests that name no session of this app end nothing: an issuer
/// that is not a configured provider and a missing `sid` are refused with `400`; an unknown
/// `sid` (or one of another issuer's sessions) finds nothing to end.
pub async fn frontchannel_logout_mismatches_are_refused<A: App>() -> Unchanged {
    let bench = bench::<A>();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let sid = sid_of(&mut b).await;
    let (mut alice_too, _) = bystanders(&bench).await;
    let q = |pairs: &[(&str, &str)]| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    };
    for (query, refused) in [
        (q(&[("iss", "https://evil.test"), ("sid", &sid)]), true),
        (q(&[("iss", &format!("{ISSUER}/")), ("sid", &sid)]), true),
        (q(&[("iss", ISSUER)]), true),
        (q(&[("sid", &sid)]), true),
        (q(&[("iss", ISSUER), ("sid", "unknown-sid")]), false),
        (q(&[("iss", ISSUER), ("sid", &format!("{sid}x"))]), false),
    ] {
        let page = frontchannel(&bench, &query).await;
        if refused {
            assert_eq!(
                page.status,
                StatusCode::BAD_REQUEST,
                "{query}: {}",
                page.text()
            );
        } else {
            // Nothing tells an unknown provider session from one already ended: answered
            // like a logout with nothing left to end.
            assert!(
                !page.status.is_server_error(),
                "{query}: HTTP {}: {}",
                page.status,
                page.text()
            );
            assert_no_store(&page);
        }
        still_in(&mut alice_too, "alice").await;
    }
    before.unchanged(&mut b).await
}

/// Dynamic registration tells a provider that supports them where both logout routes are,
/// with `*_session_required: true` (the app finds sessions by `sid`); a provider that supports
/// neither is sent neither.
pub async fn dynamic_registration_sends_the_logout_uris<A: App>() {
    for supported in [true, false] {
        let bench = Bench::<A>::with(BenchOptions {
            dynamic_registration: true,
            rp: Box::new(|r| r.frontchannel_logout_path(FRONTCHANNEL_PATH)),
            ..Default::default()
        });
        bench
            .provider
            .set_backchannel_logout_support(supported, supported);
        bench
            .provider
            .set_frontchannel_logout_support(supported, supported);
        let mut b = bench.browser();
        let auth = b.start_login("/").await;
        let client_id = url::Url::parse(&auth)
            .expect("an absolute URL")
            .query_pairs()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
            .expect("a client_id");
        assert_ne!(client_id, CLIENT_ID, "registered dynamically");
        let registered = bench.provider.logout_registration(&client_id);
        if supported {
            assert_eq!(
                registered,
                Some(LogoutRegistration {
                    backchannel_logout_uri: Some(format!("{}/backchannel_logout", bench.app_url)),
                    backchannel_logout_session_required: Some(true),
                    frontchannel_logout_uri: Some(format!("{}{FRONTCHANNEL_PATH}", bench.app_url)),
                    frontchannel_logout_session_required: Some(true),
                })
            );
        } else {
            assert_eq!(registered, None, "nothing the provider does not support");
        }
        let back = b.authorize(&auth, "alice");
        let page = b.deliver(&auth, &back).await;
        let page = b.follow(page).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    }
}

/// A login through the provider's own pages, keeping the provider's cookies: a second login
/// of this browser is in the same provider session (single sign-on), as with a real browser.
async fn login_through_provider<A: App>(b: &mut Browser<'_, A>, user: &str) {
    let auth = b.start_login("/").await;
    let mut page = b.get(&auth).await;
    if page.status == StatusCode::OK {
        // The login form: post it as the user would.
        let query = url::Url::parse(&auth)
            .expect("an absolute URL")
            .query()
            .unwrap_or_default()
            .to_owned();
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("request_params", &query)
            .append_pair("username", user)
            .append_pair("action", "login")
            .finish();
        page = b
            .send(
                Request::post(format!("{ISSUER}/authorize"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Bytes::from(body))
                    .expect("a request"),
            )
            .await;
    }
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], user);
}

/// The whole loop with the provider: the user logs out at the provider (another app's logout
/// link), the provider sends its logout token to the app's registered back-channel URI, and
/// the app ends that browser's session and no other; the front-channel URL it would load
/// names the same issuer and provider session.
pub async fn logout_at_the_provider_reaches_the_app<A: App>() {
    let bench = bench::<A>();
    bench.provider.set_logout_registration(
        CLIENT_ID,
        LogoutRegistration {
            backchannel_logout_uri: Some(format!("{}/backchannel_logout", bench.app_url)),
            backchannel_logout_session_required: Some(true),
            frontchannel_logout_uri: Some(format!("{}{FRONTCHANNEL_PATH}", bench.app_url)),
            frontchannel_logout_session_required: Some(true),
        },
    );
    let mut b = bench.browser();
    login_through_provider(&mut b, "alice").await;
    let sid = sid_of(&mut b).await;
    let (mut alice_too, mut bob) = bystanders(&bench).await;
    assert_eq!(bench.provider.session_ids("alice").len(), 2);

    // Another app sends the browser to the provider's logout, which ends its session there.
    let page = b.get(&format!("{ISSUER}/logout")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let sent = bench.provider.take_backchannel_logouts();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].client_id, CLIENT_ID);
    assert_eq!(sent[0].uri, format!("{}/backchannel_logout", bench.app_url));
    let frames = bench.provider.take_frontchannel_logouts();
    let expected = url::Url::parse_with_params(
        &format!("{}{FRONTCHANNEL_PATH}", bench.app_url),
        [("iss", ISSUER), ("sid", &sid)],
    )
    .expect("a URL");
    assert_eq!(frames, [expected.to_string()]);
    assert_eq!(bench.provider.session_ids("alice").len(), 1);

    assert_accepted(&deliver(&bench, &sent[0].logout_token).await);
    assert_eq!(whoami(&mut b).await, None);
    still_in(&mut alice_too, "alice").await;
    still_in(&mut bob, "bob").await;
    // The front-channel URL, loaded too, has nothing left to end.
    let frame = frontchannel(&bench, expected.query().unwrap_or_default()).await;
    assert_accepted(&frame);
    still_in(&mut alice_too, "alice").await;
    // The provider session is gone: the next login asks again, in a new provider session.
    login_through_provider(&mut b, "alice").await;
    assert_ne!(sid_of(&mut b).await, sid);
}

/// A browser that logs in again while its provider session lives gets the same `sid` (and
/// one of another browser another).
pub async fn one_provider_session_has_one_sid<A: App>() {
    let bench = bench::<A>();
    let mut b = bench.browser();
    login_through_provider(&mut b, "alice").await;
    let sid = sid_of(&mut b).await;
    let page = b.get("/logout").await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    // The RP-initiated logout ended the provider session too: a new one now.
    login_through_provider(&mut b, "alice").await;
    let second = sid_of(&mut b).await;
    assert_ne!(second, sid);
    // A local-only re-login (the app's session ends, the provider's stays): same sid.
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_session(CLIENT_ID, "alice", &second),
        bench.clock.now(),
    );
    // The provider keeps its session (only the app was told to forget it).
    assert_accepted(&deliver(&bench, &token).await);
    assert_eq!(whoami(&mut b).await, None);
    login_through_provider(&mut b, "alice").await;
    assert_eq!(
        sid_of(&mut b).await,
        second,
        "single sign-on, same provider session"
    );
    let mut other = bench.browser();
    login_through_provider(&mut other, "alice").await;
    assert_ne!(sid_of(&mut other).await, second, "another browser");
}

/// A logged-in `alice` (with a second session of her own and `bob` as bystanders), a logout
/// token for her session made wrong by `spoil`, refused, and nothing changed.
async fn spoiled_token_is_refused<A: App>(
    what: &str,
    spoil: impl FnOnce(&mut LogoutTokenSpec),
) -> Unchanged {
    let bench = bench::<A>();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let sid = sid_of(&mut b).await;
    let (mut alice_too, mut bob) = bystanders(&bench).await;
    let mut spec = LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid);
    spoil(&mut spec);
    let token = bench.provider.logout_token(&spec, bench.clock.now());
    assert_refused(&deliver(&bench, &token).await, what);
    still_in(&mut alice_too, "alice").await;
    still_in(&mut bob, "bob").await;
    before.unchanged(&mut b).await
}

/// A logout token signed with a key the provider never published, under its real `kid`: a
/// forgery, refused.
pub async fn forged_logout_token_is_rejected<A: App>() -> Unchanged {
    spoiled_token_is_refused::<A>("forged", |s| s.signing = LogoutSigning::ForeignKey).await
}

/// A logout token for another client (`aud`), refused.
pub async fn logout_token_for_another_audience_is_rejected<A: App>() -> Unchanged {
    spoiled_token_is_refused::<A>("wrong aud", |s| {
        s.audience = vec!["another-client".to_owned()];
    })
    .await
}

/// A logout token without the `events` claim (an ID token or another JWT of the provider's),
/// refused.
pub async fn logout_token_without_events_is_rejected<A: App>() -> Unchanged {
    spoiled_token_is_refused::<A>("no events", |s| s.events = LogoutEvents::Absent).await
}

/// A logout token with a `nonce` (forbidden, so that an ID token cannot pass as one),
/// refused.
pub async fn logout_token_with_a_nonce_is_rejected<A: App>() -> Unchanged {
    spoiled_token_is_refused::<A>("nonce", |s| s.nonce = Some("n-0S6_WzA2Mj".to_owned())).await
}

/// The same logout token twice: the first ends the session; the browser logs in again in the
/// same provider session (single sign-on: the same `sid`), and the replay ends nothing.
pub async fn replayed_logout_token_is_rejected<A: App>() -> Unchanged {
    let bench = bench::<A>();
    let mut b = bench.browser();
    login_through_provider(&mut b, "alice").await;
    let sid = sid_of(&mut b).await;
    let (mut alice_too, mut bob) = bystanders(&bench).await;
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid),
        bench.clock.now(),
    );
    assert_accepted(&deliver(&bench, &token).await);
    assert_eq!(whoami(&mut b).await, None);
    login_through_provider(&mut b, "alice").await;
    assert_eq!(sid_of(&mut b).await, sid, "the same provider session");
    let before = Before::take(&mut b).await;
    bench.clock.advance(5);
    assert_refused(&deliver(&bench, &token).await, "replay");
    still_in(&mut alice_too, "alice").await;
    still_in(&mut bob, "bob").await;
    before.unchanged(&mut b).await
}

/// Every other way a logout token can be wrong, each refused with nothing changed: another
/// issuer; another event, or the event's value not an object; a `typ` other than
/// `logout+jwt`; neither `sid` nor `sub`; no `jti`; no `iat`, or one in the future or too old;
/// an expired `exp`; unsigned; a header `alg` the key does not have.
pub async fn malformed_logout_tokens_are_rejected<A: App>() -> Unchanged {
    let bench = bench::<A>();
    let (mut b, mut before) = logged_in(&bench, "alice").await;
    let sid = sid_of(&mut b).await;
    let (mut alice_too, mut bob) = bystanders(&bench).await;
    type Spoil = Box<dyn Fn(&mut LogoutTokenSpec)>;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "wrong iss",
            Box::new(|s| s.issuer = Some("https://evil.test".to_owned())),
        ),
        (
            "wrong event",
            Box::new(|s| {
                s.events = LogoutEvents::Custom(json!({
                    "http://schemas.openid.net/event/other": {}
                }));
            }),
        ),
        (
            "event value not an object",
            Box::new(|s| {
                s.events = LogoutEvents::Custom(json!({
                    crate::logout_token::BACKCHANNEL_LOGOUT_EVENT: "yes"
                }));
            }),
        ),
        (
            "events not an object",
            Box::new(|s| {
                s.events =
                    LogoutEvents::Custom(json!([crate::logout_token::BACKCHANNEL_LOGOUT_EVENT]));
            }),
        ),
        ("typ JWT", Box::new(|s| s.typ = Some("JWT".to_owned()))),
        (
            "typ at+jwt",
            Box::new(|s| s.typ = Some("at+jwt".to_owned())),
        ),
        (
            "neither sid nor sub",
            Box::new(|s| {
                s.sid = None;
                s.sub = None;
            }),
        ),
        ("no jti", Box::new(|s| s.jti = None)),
        ("no iat", Box::new(|s| s.iat = None)),
        ("iat in the future", Box::new(|s| s.iat = Some(3600))),
        ("iat too old", Box::new(|s| s.iat = Some(-7200))),
        (
            "expired",
            Box::new(|s| {
                s.iat = Some(-300);
                s.exp = Some(-240);
            }),
        ),
        (
            "unsigned",
            Box::new(|s| s.signing = LogoutSigning::Unsigned),
        ),
        (
            "alg ES256 on an RSA key",
            Box::new(|s| s.signing = LogoutSigning::Labelled(crate::SigningAlg::Es256)),
        ),
    ];
    for (what, spoil) in cases {
        let mut spec = LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid);
        spoil(&mut spec);
        let token = bench.provider.logout_token(&spec, bench.clock.now());
        assert_refused(&deliver(&bench, &token).await, what);
        still_in(&mut alice_too, "alice").await;
        still_in(&mut bob, "bob").await;
        let _checked = before.unchanged(&mut b).await;
        before = Before::take(&mut b).await;
    }
    before.unchanged(&mut b).await
}

/// The user's own ID token (valid, signed by the provider, for this client, with `sid` and
/// `sub`) posted as a logout token: it is no logout token (no `events`, a `nonce`), refused.
pub async fn id_token_as_logout_token_is_rejected<A: App>() -> Unchanged {
    let bench = bench::<A>();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let (mut alice_too, _) = bystanders(&bench).await;
    let id_token = id_token_of(&b).await;
    assert_refused(&deliver(&bench, &id_token).await, "an ID token");
    still_in(&mut alice_too, "alice").await;
    before.unchanged(&mut b).await
}

/// Requests that carry no single logout token end nothing: no body, no `logout_token`, two of
/// them (even both valid), an empty one, garbage, and a `GET` with the token in the query.
pub async fn logout_requests_without_one_token_are_refused<A: App>() -> Unchanged {
    let bench = bench::<A>();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let sid = sid_of(&mut b).await;
    let (mut alice_too, _) = bystanders(&bench).await;
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid),
        bench.clock.now(),
    );
    let twice = format!("{}&{}", form(&token), form(&token));
    for (what, body) in [
        ("no body", String::new()),
        ("no logout_token", "token=x".to_owned()),
        ("two logout_tokens", twice),
        ("empty", "logout_token=".to_owned()),
        ("garbage", "logout_token=not.a.jwt".to_owned()),
    ] {
        assert_refused(&post_to(&bench, None, body).await, what);
        still_in(&mut alice_too, "alice").await;
    }
    let mut provider = bench.browser();
    let page = provider
        .send(
            Request::get(format!(
                "{}/backchannel_logout?{}",
                bench.app_url,
                form(&token)
            ))
            .body(Bytes::new())
            .expect("a request"),
        )
        .await;
    assert!(
        page.status.is_client_error(),
        "GET: HTTP {}: {}",
        page.status,
        page.text()
    );
    still_in(&mut alice_too, "alice").await;
    before.unchanged(&mut b).await
}

/// A flood of forged logout tokens under unknown `kid`s costs at most one JWKS fetch (the
/// key-fetch policy's bound), ends nothing, and a genuine token after a real rotation is
/// still accepted.
pub async fn forged_kid_flood_is_refused_with_one_jwks_fetch<A: App>() -> Unchanged {
    let bench = bench::<A>();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let (mut carol, _) = logged_in(&bench, "carol").await;
    let (mut alice_too, _) = bystanders(&bench).await;
    // Beyond any "refetch when the cached set is old enough" threshold, within the max age.
    bench.clock.advance(120);
    let fetched = bench.transport.calls("/jwks");
    for i in 0..10 {
        let mut spec = LogoutTokenSpec::for_subject(CLIENT_ID, "alice");
        spec.signing = LogoutSigning::ForeignKey;
        spec.kid = Some(format!("forged-{i}"));
        let token = bench.provider.logout_token(&spec, bench.clock.now());
        assert_refused(&deliver(&bench, &token).await, "forged kid");
    }
    let fetches = bench.transport.calls("/jwks") - fetched;
    assert!(fetches <= 1, "{fetches} JWKS fetches for 10 forged tokens");
    still_in(&mut alice_too, "alice").await;
    let proof = before.unchanged(&mut b).await;
    // A real rotation: the next genuine token is still accepted.
    bench.provider.rotate_keys();
    bench.clock.advance(5);
    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_subject(CLIENT_ID, "carol"),
        bench.clock.now(),
    );
    assert_accepted(&deliver(&bench, &token).await);
    assert_eq!(whoami(&mut carol).await, None);
    still_in(&mut alice_too, "alice").await;
    proof
}
