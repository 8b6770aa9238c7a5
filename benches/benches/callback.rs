//! (2) Callback processing: the redirect endpoint from the browser's request to the session
//! write, for the code flow and a hybrid flow (`code id_token`), with the provider's token and
//! userinfo answers recorded beforehand and the key set cached (no network, no provider work).
//!
//! Beside each flow, `<flow>-id-token` times one validation of the very ID token that flow's
//! callback receives from the token endpoint, checked as the callback checks it: the baseline
//! of the report's callback rows (the hybrid flow validates two such tokens, the code flow one).
//!
//! Each iteration first builds the request (with the login cookie that holds the pending
//! login), and afterwards removes the session it made, untimed; only the core's
//! `RelyingParty::handle_redirect` flow is timed, driven to its end on this thread (each action
//! answered at once from the recording and a map of records: no executor).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use oidc_bench::flow::{CallbackFixture, Flow};

fn callback(c: &mut Criterion) {
    let mut group = c.benchmark_group("callback");
    for (name, flow) in [("code", Flow::Code), ("hybrid", Flow::Hybrid)] {
        let fixture = CallbackFixture::new(flow);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let request = fixture.prepare();
                    let start = Instant::now();
                    let response = fixture.run(request);
                    timed += start.elapsed();
                    assert!(fixture.clean_up(&response), "the callback failed");
                }
                timed
            })
        });
        group.bench_function(format!("{name}-id-token"), |b| {
            b.iter(|| black_box(fixture.validate_id_token()))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = callback
}
criterion_main!(benches);
