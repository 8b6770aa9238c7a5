//! Rotating the session secret through every adapter: sessions and logins under the replaced
//! secret carry on while it is listed as a previous secret, and end once it is dropped.
//! Re-exported by the `scenarios` module and run by the [`scenarios!`](crate::scenarios!)
//! macro.

use std::sync::Arc;

use http::StatusCode;
use oidc_runtime::{MemoryStore, SessionStore};

use crate::harness::{App, Bench, BenchOptions, EpochClock};
use crate::unchanged::whoami;

/// The bench's own session secret (see `harness`), which the rotation replaces.
const OLD_SECRET: [u8; 32] = [9u8; 32];
const NEW_SECRET: [u8; 32] = [10u8; 32];

/// A rolling rotation: instance B runs with a new session secret and the old one as a
/// previous secret, next to instance A still on the old one, on one store. A session made on
/// A is served by B; a login started on A completes on B; B's new sessions are signed with
/// the new secret, which A (the old configuration) does not accept, so its user is asked to
/// log in rather than served someone else's data. Once the old secret is dropped (instance
/// C), the session under it ends.
pub async fn session_secret_rotation_keeps_sessions<A: App>() {
    // The bench's clock starts in the past; a store on it would drop every record as expired.
    let store: Arc<dyn SessionStore> =
        Arc::new(MemoryStore::with_clock(1000, Arc::new(EpochClock)));
    let on_bench = store.clone();
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| r.session_store(on_bench)),
        ..Default::default()
    });
    let rotated = bench.another_instance_configured(store.clone(), |b| {
        b.session_secret(NEW_SECRET)
            .previous_session_secrets([OLD_SECRET])
    });
    let dropped =
        bench.another_instance_configured(store.clone(), |b| b.session_secret(NEW_SECRET));

    // A session under the old secret is still a session on the rotated instance.
    let mut alice = bench.browser();
    assert_eq!(alice.login("/", "alice").await.status, StatusCode::OK);
    alice.use_app(&rotated);
    assert_eq!(whoami(&mut alice).await.as_deref(), Some("alice"));

    // A login started under the old secret (its login cookie encrypted with it) completes
    // on the rotated instance.
    let mut bob = bench.browser();
    let authorization = bob.start_login("/").await;
    let back = bob.authorize(&authorization, "bob");
    bob.use_app(&rotated);
    let page = bob.deliver(&authorization, &back).await;
    let page = bob.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "bob");
    assert_eq!(whoami(&mut bob).await.as_deref(), Some("bob"));

    // That new session is signed with the new secret: the old configuration does not take
    // it (its user logs in again there), the rotated one and one without the old secret do.
    let cookie = bob.session_cookie().expect("a session cookie").to_owned();
    let mut bob_on_a = bench.browser();
    bob_on_a.set_app_cookie("oidc_session", &cookie);
    assert_eq!(whoami(&mut bob_on_a).await, None);
    let mut bob_on_c = bench.browser();
    bob_on_c.use_app(&dropped);
    bob_on_c.set_app_cookie("oidc_session", &cookie);
    assert_eq!(whoami(&mut bob_on_c).await.as_deref(), Some("bob"));

    // With the old secret dropped, the session signed with it is no session.
    alice.use_app(&dropped);
    assert_eq!(whoami(&mut alice).await, None);
}
