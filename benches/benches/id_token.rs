//! (1) ID token validation: the core's full validation of a realistic token against a cached key
//! set, beside the bare signature verification of the same token with the same crypto library
//! (the floor), and josekit's own JWT decoding (for reference), for RS256 (2048-bit), ES256 and
//! EdDSA (Ed25519); and the decoding of the token's payload into the claims set the session
//! keeps (its JSON text, validated as one object), which with the signature check is the least a
//! validation keeping the claims can cost.
//!
//! Key generation, signing, key-set parsing and the first validation (which builds the cached
//! verifier) happen before the timed loops.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use oidc_bench::tokens::{Alg, TokenFixture};

fn id_token(c: &mut Criterion) {
    let mut group = c.benchmark_group("id_token");
    for alg in Alg::ALL {
        let fixture = TokenFixture::new(alg);
        group.bench_function(format!("{}-core", alg.id()), |b| {
            b.iter(|| black_box(fixture.validate()))
        });
        group.bench_function(format!("{}-floor", alg.id()), |b| {
            b.iter(|| black_box(fixture.floor()))
        });
        group.bench_function(format!("{}-claims", alg.id()), |b| {
            b.iter(|| black_box(fixture.claims_set()))
        });
        group.bench_function(format!("{}-josekit", alg.id()), |b| {
            b.iter(|| black_box(fixture.josekit()))
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
    targets = id_token
}
criterion_main!(benches);
