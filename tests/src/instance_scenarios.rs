//! Several instances of one app on one session store, through every adapter: one dynamic
//! client registration for all of them. (Refresh across instances is in
//! `token_scenarios::two_instances_share_one_refresh`; logouts the provider sends in
//! `channel_logout_scenarios`; Redis itself in `tests/tests/redis.rs`.) Re-exported by the
//! `scenarios` module and run by the [`scenarios!`](crate::scenarios!) macro.

use std::sync::Arc;

use http::StatusCode;
use oidc_runtime::{MemoryStore, SessionStore};

use crate::harness::{App, Bench, BenchOptions, EpochClock};

/// Two instances registering dynamically on one store register one client between them: the
/// first registers and keeps the client in the store, the second loads it. So a login started
/// on one instance completes on the other (the code was issued to the one client), and a
/// login on the second alone registers nothing.
pub async fn instances_share_one_registration<A: App>() {
    // The bench's clock starts in the past; a store on it would drop every record as expired.
    let store: Arc<dyn SessionStore> =
        Arc::new(MemoryStore::with_clock(1000, Arc::new(EpochClock)));
    instances_share_one_registration_on::<A>(store.clone(), store, None).await;
}

/// [`instances_share_one_registration`] with instance A on `store_a` and B on `store_b` (two
/// connections to one shared store), the bench's clock starting at `start_time` (a store with
/// real expiry, such as Redis, needs the present).
pub async fn instances_share_one_registration_on<A: App>(
    store_a: Arc<dyn SessionStore>,
    store_b: Arc<dyn SessionStore>,
    start_time: Option<u64>,
) {
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        rp: Box::new(move |r| r.session_store(store_a)),
        start_time,
        ..Default::default()
    });
    let instance_b = bench.another_registering_instance(store_b);
    let mut b = bench.browser();
    let authorization = b.start_login("/").await;
    assert_eq!(bench.provider.counters().registration, 1);
    let back = b.authorize(&authorization, "alice");
    b.use_app(&instance_b);
    let page = b.deliver(&authorization, &back).await;
    let page = b.follow(page).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the login completes on the other instance: {}",
        page.text()
    );
    assert_eq!(page.json()["sub"], "alice");
    let mut on_b = bench.browser();
    on_b.use_app(&instance_b);
    assert_eq!(on_b.login("/", "bob").await.status, StatusCode::OK);
    assert_eq!(
        bench.provider.counters().registration,
        1,
        "one registration for the two instances"
    );
}
