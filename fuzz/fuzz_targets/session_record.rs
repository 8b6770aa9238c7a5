//! A stored session record, as a shared store (Redis, a database) would hand it back: JSON
//! that may be corrupt, from another version, or planted.
//!
//! Oracles: what parses can be used (pending logins pruned, taken, pushed within the bound),
//! saved to and loaded from the memory store, and written back in a form that reads again.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use oidc_core::session::{SessionRecord, MAX_PENDING_LOGINS};
use oidc_core::{MemoryStore, SessionStore};

fuzz_target!(|data: &[u8]| {
    let Ok(mut record) = serde_json::from_slice::<SessionRecord>(data) else {
        return;
    };
    let now = oidc_fuzz::NOW;
    let _ = format!("{record:?}");
    let compatible = record.is_compatible();
    if let Some(user) = record.authenticated_user(now) {
        let _ = (
            user.subject(),
            user.id_token_jwt(),
            user.needs_refresh(now, 60),
        );
    }
    let store = MemoryStore::with_clock(4, Arc::new(oidc_fuzz::FixedClock));
    oidc_fuzz::block_on(store.save("id", &record)).expect("the memory store saves");
    let loaded = oidc_fuzz::block_on(store.load("id")).expect("the memory store loads");
    if loaded.is_some() {
        assert!(compatible && record.expires_at > now);
    }
    let json = serde_json::to_vec(&record).expect("a record serialises");
    serde_json::from_slice::<SessionRecord>(&json).expect("a written record reads back");
    if let Some(first) = record.pending.first().cloned() {
        let state = first.state.expose().to_owned();
        record.prune_pending(now);
        let _ = record.take_pending(&state);
        for _ in 0..=MAX_PENDING_LOGINS {
            record.push_pending(first.clone(), now);
        }
        assert!(record.pending.len() <= MAX_PENDING_LOGINS);
    }
});
