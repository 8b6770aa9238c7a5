//! Scenarios for a shared production session store (Redis, in `tests/tests/redis.rs`), through
//! each adapter: the first requests after the store restarts succeed on every instance, and a
//! logout sent by the provider to one instance ends the sessions it names on all of them.
//! The stores are passed in, so these run on whatever the caller starts.

use std::sync::Arc;

use http::StatusCode;
use oidc_runtime::{Clock as _, SessionStore};

use crate::channel_logout_scenarios::{form, post_to, sid_of};
use crate::harness::{system_now, App, Bench, BenchOptions, Browser, Page, CLIENT_ID};
use crate::logout_token::LogoutTokenSpec;
use crate::unchanged::whoami;

/// Whether `b`'s session is gone within `bound` (at once for a zero bound).
async fn ended_within<A: App>(b: &mut Browser<'_, A>, bound: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + bound;
    loop {
        if whoami(b).await.is_none() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// A bench (instance A) on `store`, on the system clock.
fn bench_on<A: App>(store: Arc<dyn SessionStore>) -> Bench<A> {
    Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| r.session_store(store)),
        start_time: Some(system_now()),
        ..Default::default()
    })
}

/// A browser of `bench` on instance `app`, presenting `cookie` as its session cookie: the same
/// session reaching another instance through the load balancer.
fn same_session_on<'a, A: App>(bench: &'a Bench<A>, app: &'a A, cookie: &str) -> Browser<'a, A> {
    let mut b = bench.browser();
    b.use_app(app);
    b.set_app_cookie("oidc_session", cookie);
    b
}

/// Two instances on one store that `restart` restarts (keeping its data, as a Redis with
/// persistence does) while both hold open connections to it: the first request on each
/// instance after the restart is served (no `503`, the store reconnects and retries), a login
/// started after it completes (its spent mark and its save), and a logout still ends the
/// session on both.
pub async fn sessions_survive_a_store_restart<A: App>(
    store_a: Arc<dyn SessionStore>,
    store_b: Arc<dyn SessionStore>,
    restart: impl FnOnce(),
) {
    let bench = bench_on::<A>(store_a);
    let instance_b = bench.another_instance(store_b);
    let mut on_a = bench.browser();
    assert_eq!(on_a.login("/", "alice").await.status, StatusCode::OK);
    let cookie = on_a.session_cookie().expect("a session").to_owned();
    let mut on_b = same_session_on(&bench, &instance_b, &cookie);
    // Both instances have used their connection before the restart breaks it.
    assert_eq!(whoami(&mut on_a).await.as_deref(), Some("alice"));
    assert_eq!(whoami(&mut on_b).await.as_deref(), Some("alice"));

    restart();

    let page = on_a.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice", "instance A, first request");
    let page = on_b.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice", "instance B, first request");

    let mut bob = bench.browser();
    bob.use_app(&instance_b);
    assert_eq!(bob.login("/", "bob").await.status, StatusCode::OK);
    let mut bob_on_a = same_session_on(&bench, &bench.app, bob.session_cookie().expect("bob"));
    assert_eq!(whoami(&mut bob_on_a).await.as_deref(), Some("bob"));

    let page = on_a.get("/logout").await;
    let page = on_a.follow(page).await;
    assert!(page.text().contains("logged out"), "{}", page.text());
    assert_eq!(
        whoami(&mut on_b).await,
        None,
        "logged out on both instances"
    );
    assert_eq!(whoami(&mut bob).await.as_deref(), Some("bob"));
}

/// `POST <app>/backchannel_logout` with `logout_token`, as the provider sends it (no browser,
/// no cookies), to instance `app`.
async fn backchannel<A: App>(bench: &Bench<A>, app: &A, logout_token: &str) -> Page {
    post_to(bench, Some(app), form(logout_token)).await
}

/// Two instances on one shared store: a logout token naming one provider session, delivered
/// to instance B, ends that session on both instances at once, and leaves the same user's
/// other provider session and another user logged in; a token naming only the user, delivered
/// to instance A, then ends the user's remaining sessions everywhere and leaves the other user.
///
/// `propagation` is how long an instance may still serve an ended session: zero for stores
/// that read the shared store on every request (asserted at once), the bound of a local cache
/// that the shared store invalidates (asserted by polling until then).
pub async fn provider_logout_ends_sessions_on_every_instance<A: App>(
    store_a: Arc<dyn SessionStore>,
    store_b: Arc<dyn SessionStore>,
    propagation: std::time::Duration,
) {
    let bench = bench_on::<A>(store_a);
    let instance_b = bench.another_instance(store_b);
    let mut alice = bench.browser();
    assert_eq!(alice.login("/", "alice").await.status, StatusCode::OK);
    let sid = sid_of(&mut alice).await;
    let mut alice_on_b = same_session_on(
        &bench,
        &instance_b,
        alice.session_cookie().expect("a session"),
    );
    assert_eq!(whoami(&mut alice_on_b).await.as_deref(), Some("alice"));
    let mut alice_too = bench.browser();
    alice_too.use_app(&instance_b);
    assert_eq!(alice_too.login("/", "alice").await.status, StatusCode::OK);
    assert_ne!(sid_of(&mut alice_too).await, sid, "two provider sessions");
    let mut bob = bench.browser();
    assert_eq!(bob.login("/", "bob").await.status, StatusCode::OK);

    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_session(CLIENT_ID, "alice", &sid),
        bench.clock.now(),
    );
    let page = backchannel(&bench, &instance_b, &token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(
        ended_within(&mut alice, propagation).await,
        "ended on instance A"
    );
    assert!(
        ended_within(&mut alice_on_b, propagation).await,
        "ended on instance B"
    );
    assert_eq!(whoami(&mut alice_too).await.as_deref(), Some("alice"));
    assert_eq!(whoami(&mut bob).await.as_deref(), Some("bob"));

    let token = bench.provider.logout_token(
        &LogoutTokenSpec::for_subject(CLIENT_ID, "alice"),
        bench.clock.now(),
    );
    let page = backchannel(&bench, &bench.app, &token).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(
        ended_within(&mut alice_too, propagation).await,
        "every session of alice"
    );
    assert_eq!(whoami(&mut bob).await.as_deref(), Some("bob"));
}
