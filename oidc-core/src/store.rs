//! Where session records live: a small trait of our own, and a bounded in-memory store.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::env::{BoxFuture, Clock, SystemClock};
use crate::error::StoreError;
use crate::session::SessionRecord;

/// A session store, keyed by opaque session id. Records carry their own `expires_at`; a store
/// may drop a record after it, and must not return one whose schema it cannot read.
///
/// Implement this for any backend; it is deliberately tiny so that it never breaks on a
/// dependency's version bump.
pub trait SessionStore: Send + Sync + 'static {
    /// The record under `id`, if any.
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>>;
    /// Stores `record` under `id`, replacing what was there.
    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Removes the record under `id`.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// A bounded in-memory store: at most `capacity` records; expired ones go first, then those
/// closest to expiry. Good for one process; use a shared store for several.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, SessionRecord>,
    by_expiry: BTreeSet<(u64, String)>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(100_000)
    }
}

impl MemoryStore {
    /// A store for at most `capacity` sessions, on the system clock.
    pub fn new(capacity: usize) -> Self {
        MemoryStore::with_clock(capacity, Arc::new(SystemClock))
    }

    /// A store on a given clock (for tests).
    pub fn with_clock(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            clock,
        }
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load_now(&self, id: &str) -> Option<SessionRecord> {
        let now = self.clock.now();
        let mut inner = self.lock();
        match inner.records.get(id) {
            Some(r) if r.expires_at > now && r.is_compatible() => Some(r.clone()),
            Some(_) => {
                inner.remove(id);
                None
            }
            None => None,
        }
    }

    fn save_now(&self, id: &str, record: &SessionRecord) {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.remove(id);
        // Evict expired records, then the ones closest to expiry, to make room.
        while inner.records.len() >= self.capacity {
            let Some(first) = inner.by_expiry.iter().next().cloned() else {
                break;
            };
            inner.remove(&first.1);
            if first.0 > now && inner.records.len() < self.capacity {
                break;
            }
        }
        inner.by_expiry.insert((record.expires_at, id.to_owned()));
        inner.records.insert(id.to_owned(), record.clone());
    }
}

impl Inner {
    fn remove(&mut self, id: &str) {
        if let Some(old) = self.records.remove(id) {
            self.by_expiry.remove(&(old.expires_at, id.to_owned()));
        }
    }
}

impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        let r = self.load_now(id);
        Box::pin(async move { Ok(r) })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.save_now(id, record);
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.lock().remove(id);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct FakeClock(AtomicU64);
    impl Clock for FakeClock {
        fn now(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        // The memory store's futures are ready at once.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = f;
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("memory store future pending"),
        }
    }

    #[test]
    fn bounded_and_expiring() {
        let clock = Arc::new(FakeClock(AtomicU64::new(100)));
        let store = MemoryStore::with_clock(3, clock.clone());
        for i in 0..5u64 {
            let r = SessionRecord::new(200 + i);
            block(store.save(&format!("s{i}"), &r)).unwrap();
        }
        assert_eq!(store.len(), 3);
        assert!(block(store.load("s0")).unwrap().is_none());
        assert!(block(store.load("s4")).unwrap().is_some());
        clock.0.store(203, Ordering::SeqCst);
        assert!(block(store.load("s2")).unwrap().is_none(), "expired");
        assert!(block(store.load("s4")).unwrap().is_some());
        block(store.delete("s4")).unwrap();
        assert!(block(store.load("s4")).unwrap().is_none());
    }

    #[test]
    fn incompatible_records_are_not_returned() {
        let store = MemoryStore::with_clock(3, Arc::new(FakeClock(AtomicU64::new(0))));
        let mut r = SessionRecord::new(10);
        r.version = 999;
        block(store.save("x", &r)).unwrap();
        assert!(block(store.load("x")).unwrap().is_none());
    }
}
