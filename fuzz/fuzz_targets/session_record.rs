//! A stored session record, as a shared store (Redis, a database) would hand it back: JSON
//! that may be corrupt, from another version, or planted.
//!
//! Oracles: what parses can be used (pending logins pruned, taken, pushed within the bound; the
//! standard claims read through their index as a scan of the claims text reads them),
//! handed to the relying party as the record of a logged-in browser's session (the store's
//! answer to its `Load`), where it logs the browser in only with a user still authenticated
//! at that time, and written back in a form that reads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::session::{SessionRecord, MAX_PENDING_LOGINS};

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
        // The standard claims, read through each claims set's index, are the values a scan of
        // the text parses (the ID token's, else userinfo's), read twice as a handler would.
        for _ in 0..2 {
            let standard = user.standard_claims();
            for (indexed, name) in [
                (user.email(), "email"),
                (user.name(), "name"),
                (user.preferred_username(), "preferred_username"),
                (standard.email, "email"),
                (standard.name, "name"),
                (standard.locale, "locale"),
                (standard.phone_number, "phone_number"),
            ] {
                let scanned = user.claim(name);
                assert_eq!(
                    indexed.as_deref(),
                    scanned.as_ref().and_then(|v| v.as_str())
                );
            }
            let updated_at = user.claim("updated_at").and_then(|v| v.as_u64());
            assert_eq!(standard.updated_at, updated_at);
        }
    }
    let (rp, cookie, id) = oidc_fuzz::logged_in();
    rp.sessions().insert(id.clone(), record.clone());
    let cx = rp.cx();
    if let Some(user) = rp.run(rp.core.session(&oidc_fuzz::parts_with_cookie(cookie), cx)) {
        assert!(compatible, "a record of another schema logged in");
        let stored = record
            .authenticated_user(now)
            .expect("only a user authenticated now logs in");
        assert_eq!(user.subject(), stored.subject());
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
