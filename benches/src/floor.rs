//! The guard's floor: the work no guard of a protected route can skip, done directly with the
//! core's own crates. Find the session cookie among the request's cookies, check its
//! HMAC-SHA256 (keyed once, the keyed state cloned per request, as the core does), and look the
//! session up in a memory store.
//!
//! The criterion bench `guard/floor` times it without a server; the load test's `GET /floor`
//! route runs it in each framework's own idiom (axum's `FromRequestParts` extractor, Rocket's
//! request guard, a warp filter), so that the report can set beside the bare route the least
//! any guard pays in that framework, measured under load in the same rounds.

use std::sync::Arc;

use futures_util::FutureExt;
use oidc_core::SessionRecord;
use oidc_runtime::{Clock, MemoryStore, SessionStore};

use crate::flow::{session_id, COOKIE_NAME};

/// The guard's unavoidable work, for sessions signed with one secret and kept in one memory
/// store.
pub struct GuardFloor {
    mac: hmac::Hmac<sha2::Sha256>,
    store: Arc<MemoryStore>,
}

impl std::fmt::Debug for GuardFloor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keyed MAC state is a secret: never printed.
        f.debug_struct("GuardFloor").finish_non_exhaustive()
    }
}

/// A memory store holding `record` under the session id of `cookie` (a `name=id.mac` cookie),
/// reading at `clock`'s time.
pub fn store_for_floor(
    record: &SessionRecord,
    cookie: &str,
    clock: Arc<dyn Clock>,
) -> Arc<MemoryStore> {
    let store = MemoryStore::with_clock(16, clock);
    store
        .save(session_id(cookie), record)
        .now_or_never()
        .expect("the memory store answers at once")
        .expect("the store saves");
    Arc::new(store)
}

impl GuardFloor {
    /// The floor for session cookies signed with `secret` (the relying party's session secret),
    /// their sessions in `store`.
    pub fn new(secret: &[u8], store: Arc<MemoryStore>) -> Self {
        use hmac::Mac;
        GuardFloor {
            mac: hmac::Hmac::new_from_slice(secret).expect("HMAC takes any key length"),
            store,
        }
    }

    /// The session named by the first session cookie among the `Cookie` header values
    /// `cookie_headers` whose signature verifies, if it is stored.
    pub fn session<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a str>,
    ) -> Option<SessionRecord> {
        use base64::Engine;
        use hmac::Mac;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for value in cookie_headers {
            for cookie in cookie::Cookie::split_parse(value).flatten() {
                if cookie.name() != COOKIE_NAME {
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
                    return self.store.load(id).now_or_never()?.ok().flatten();
                }
            }
        }
        None
    }

    /// [`session`](Self::session) for the `Cookie` headers of `headers` (the values that are
    /// not visible ASCII are no cookies of ours).
    pub fn run(&self, headers: &http::HeaderMap) -> Option<SessionRecord> {
        self.session(
            headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    }
}
