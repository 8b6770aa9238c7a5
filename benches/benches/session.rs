//! (5) Session size, in time: what a stored session costs per request to read, for a typical
//! session (a login at the simulated provider) and one with enterprise-style tokens (a JWT access
//! token, a long refresh token): the in-memory store's load (a clone), and the JSON decoding a
//! shared store such as Redis does. The sizes themselves are measured by `oidc-bench sizes`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use oidc_bench::floor::{store_for_floor, GuardFloor};
use oidc_bench::flow::{enterprise_session, typical_session};
use oidc_core::SessionRecord;
use oidc_runtime::{MemoryStore, SessionStore};
use oidc_testkit::harness::TestClock;

fn session(c: &mut Criterion) {
    let mut group = c.benchmark_group("session");
    let (typical, _, _) = typical_session();
    for (name, record) in [
        ("typical", typical.clone()),
        ("enterprise", enterprise_session(&typical)),
    ] {
        // The sessions were made at the fixtures' fixed time: the store reads at that time.
        let clock = Arc::new(TestClock::new(1_700_000_000));
        let store = MemoryStore::with_clock(16, clock);
        // The memory store's futures are ready when made: one poll each, no runtime.
        store
            .save("bench-session", &record)
            .now_or_never()
            .expect("the memory store answers at once")
            .expect("the store saves");
        assert!(store
            .load("bench-session")
            .now_or_never()
            .expect("the memory store answers at once")
            .expect("the store loads")
            .is_some());
        let json = serde_json::to_vec(&record).expect("a serialisable record");
        group.bench_function(format!("{name}-memory-load"), |b| {
            b.iter(|| black_box(store.load(black_box("bench-session")).now_or_never()))
        });
        group.bench_function(format!("{name}-json-decode"), |b| {
            b.iter(|| black_box(serde_json::from_slice::<SessionRecord>(black_box(&json))))
        });
        group.bench_function(format!("{name}-json-encode"), |b| {
            b.iter(|| black_box(serde_json::to_vec(black_box(&record))))
        });
    }
    group.finish();
}

/// The guard of a protected route, without a server: the runtime's `authenticate` for a request
/// carrying a valid session cookie, the session in the memory store (everything the protection
/// adds to a route's CPU time, the framework aside), and a handler reading the user's claims
/// into its own type.
fn guard(c: &mut Criterion) {
    use oidc_bench::flow::{provider, provider_config, session_id};
    use oidc_testkit::harness::SimTransport;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Profile {
        sub: String,
        email: String,
        name: String,
        #[serde(default)]
        groups: Vec<String>,
    }

    let mut group = c.benchmark_group("guard");
    let (record, cookie, _) = typical_session();
    let app_url = "http://app.bench";
    let clock = Arc::new(TestClock::new(1_700_000_000));
    let store = Arc::new(MemoryStore::with_clock(16, clock.clone()));
    store
        .save(session_id(&cookie), &record)
        .now_or_never()
        .expect("the memory store answers at once")
        .expect("the store saves");
    // The secret the fixture's session cookie was signed with.
    let rp = oidc_runtime::RelyingParty::builder(app_url)
        .provider("default", provider_config("code"))
        .session_secret([9u8; 32])
        .transport(Arc::new(SimTransport::new(
            provider(app_url),
            clock.clone(),
        )))
        .session_store(store)
        .clock(clock.clone())
        .build()
        .expect("a relying party");
    let request = http::Request::get("/protected")
        .header(http::header::HOST, "app.bench")
        .header(http::header::ACCEPT, "*/*")
        .header(http::header::COOKIE, cookie.as_str())
        .body(())
        .expect("a request");
    let (parts, ()) = request.into_parts();
    let user = rp
        .authenticate(&parts, None)
        .now_or_never()
        .expect("the memory store answers at once")
        .expect("the session is logged in");
    assert!(user.claims::<Profile>().is_ok(), "the claims fit");
    group.bench_function("authenticate", |b| {
        b.iter(|| black_box(rp.authenticate(black_box(&parts), None).now_or_never()))
    });
    // The floor (`oidc_bench::floor`): the work no guard can skip, done directly with the
    // core's own crates, outside any framework. The report splits the guard's cost into this
    // and what the adapter adds; the load test measures the floor inside each framework too.
    let floor = GuardFloor::new(&[9u8; 32], store_for_floor(&record, &cookie, clock.clone()));
    assert!(
        floor.run(&parts.headers).is_some(),
        "the floor finds the session"
    );
    group.bench_function("floor", |b| {
        b.iter(|| black_box(floor.run(black_box(&parts.headers))))
    });
    group.bench_function("claims", |b| {
        b.iter(|| black_box(black_box(&user).claims::<Profile>()))
    });
    // What the load test's `/claims` handler does on every request (`servers::read_claims`).
    group.bench_function("standard-claims", |b| {
        b.iter(|| black_box(black_box(&user).standard_claims()))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = session, guard
}
criterion_main!(benches);
