//! (5) Session size, in time: what a stored session costs per request to read, for a typical
//! session (a login at the simulated provider) and one with enterprise-style tokens (a JWT access
//! token, a long refresh token): the in-memory store's load (a clone), and the JSON decoding a
//! shared store such as Redis does. The sizes themselves are measured by `oidc-bench sizes`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
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
        .clock(clock)
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
    // The floor: the work no guard can skip, done directly with the core's own crates. Find
    // the session cookie among the request's cookies, check its HMAC-SHA256 (keyed once,
    // the keyed state cloned per request, as the core does), and look the session up in the
    // same memory store. The report sets it beside the bare route's CPU per request: the best
    // ratio any guard doing this work could reach.
    let floor = GuardFloor::new(&[9u8; 32], store_for_floor(&record, &cookie));
    assert!(floor.run(&parts.headers), "the floor finds the session");
    group.bench_function("floor", |b| {
        b.iter(|| black_box(floor.run(black_box(&parts.headers))))
    });
    group.bench_function("claims", |b| {
        b.iter(|| black_box(black_box(&user).claims::<Profile>()))
    });
    group.finish();
}

/// The guard's unavoidable work (see the `guard/floor` bench).
struct GuardFloor {
    mac: hmac::Hmac<sha2::Sha256>,
    store: MemoryStore,
}

/// A memory store holding `record` under the session id of `cookie`, at the fixtures' time.
fn store_for_floor(record: &SessionRecord, cookie: &str) -> MemoryStore {
    let store = MemoryStore::with_clock(16, Arc::new(TestClock::new(1_700_000_000)));
    store
        .save(oidc_bench::flow::session_id(cookie), record)
        .now_or_never()
        .expect("the memory store answers at once")
        .expect("the store saves");
    store
}

impl GuardFloor {
    fn new(secret: &[u8], store: MemoryStore) -> Self {
        use hmac::Mac;
        GuardFloor {
            mac: hmac::Hmac::new_from_slice(secret).expect("any key length"),
            store,
        }
    }

    /// Whether the request's session cookie verifies and names a stored session.
    fn run(&self, headers: &http::HeaderMap) -> bool {
        use base64::Engine;
        use hmac::Mac;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for header in headers.get_all(http::header::COOKIE) {
            let Ok(value) = header.to_str() else { continue };
            for cookie in cookie::Cookie::split_parse(value).flatten() {
                if cookie.name() != oidc_bench::flow::COOKIE_NAME {
                    continue;
                }
                let Some((id, tag)) = cookie.value().split_once('.') else {
                    continue;
                };
                // Decoded on the stack, as the core does: the tag needs no heap allocation.
                let mut buf = [0u8; 64];
                let Ok(n) = b64.decode_slice(tag, &mut buf) else {
                    continue;
                };
                let verified = self
                    .mac
                    .clone()
                    .chain_update(id.as_bytes())
                    .verify_slice(&buf[..n])
                    .is_ok();
                if verified {
                    return self
                        .store
                        .load(id)
                        .now_or_never()
                        .is_some_and(|r| matches!(r, Ok(Some(_))));
                }
            }
        }
        false
    }
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
