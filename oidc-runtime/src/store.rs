//! Where session records live: a small trait of our own, and a bounded in-memory store. The
//! driver answers the core's `Load`, `Save`, `Update`, `Delete` and `MarkSpent` actions with it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oidc_core::{SessionRecord, StoreError};

use crate::{BoxFuture, Clock, SystemClock};

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
    /// Stores `record` under `id` only if a record is stored there now: `Ok(true)` when it
    /// was, and was replaced, `Ok(false)` when there was none and nothing was written. The
    /// relying party writes a session it read and changed (refreshed tokens) back this way, so
    /// that a session deleted meanwhile (a logout in another tab, a provider's logout handled
    /// by another instance) is not written back to life.
    ///
    /// The default loads and then saves: correct for one process at a time, but another
    /// process's delete can fall between the two. A store shared by several processes should
    /// override it with one atomic step (a lock, `SET ... XX`, an `UPDATE ... WHERE`).
    fn update<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            if self.load(id).await?.is_none() {
                return Ok(false);
            }
            self.save(id, record).await?;
            Ok(true)
        })
    }
    /// Removes the record under `id`.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Marks `key` as spent for `ttl`, unless it already is: `Ok(true)` when this call marked
    /// it, `Ok(false)` when a mark that has not expired was there. It must be one atomic
    /// insert-if-absent for every process sharing the store (a lock, `SET NX`, a unique
    /// constraint), never a load followed by a save: the relying party spends a login's
    /// `state` with it, and of two concurrent callbacks for one login exactly one may win.
    /// Marks live apart from session records (`key` is never a session id) and need hold
    /// nothing but their expiry.
    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes the mark `key` that this process set with [`mark_spent`](Self::mark_spent), before
    /// its time is up: the relying party gives a session's refresh lease back this way when
    /// its refresh failed before the refresh token could be spent (the provider refused the
    /// connection, or answered with an error), so that the next request need not wait for
    /// the lease to expire. It does so well within the mark's `ttl`, so the mark is still its
    /// own.
    ///
    /// The default does nothing, and the mark expires on its own: safe, only slower.
    fn unmark<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = key;
        Box::pin(async { Ok(()) })
    }

    /// Deletes every record saved with `key` among its [`SessionRecord::index_keys`], for
    /// every process sharing the store: how a logout sent by the provider (back-channel or
    /// front-channel), which names the user's `sid` or `sub` and never a session id, ends
    /// the sessions it names.
    ///
    /// A store that supports it keeps, on every [`save`](Self::save), the record's id under
    /// each of its index keys for at least as long as the record lives (and no longer than
    /// needed: entries expire or go with their records), and deletes here every record listed
    /// under `key` and the entry itself, so that a record saved under `key` before this call
    /// began is gone when it returns. An entry may list ids whose record has since been
    /// deleted or replaced: deleting those is harmless, since the relying party never saves
    /// another user's record under an existing id (the id rotates at every login).
    ///
    /// The default refuses, so that stores written before this method keep compiling and a
    /// provider's logout against them fails visibly (HTTP 400 to the provider, a logged
    /// error) instead of quietly ending nothing.
    fn delete_indexed<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = key;
        Box::pin(async {
            Err(StoreError::new(
                "this session store does not index sessions, which a logout sent by the \
                 provider needs (SessionStore::delete_indexed)",
            ))
        })
    }
}

/// A bounded in-memory store: at most `capacity` records; expired ones go first, then those
/// closest to expiry. Spent marks are kept apart, at most `capacity` of each kind (the logins'
/// `state` marks and each of [`MARK_KINDS`](oidc_core::session::MARK_KINDS): five pools, so
/// up to five times `capacity` marks in all, each a hash of about 100 bytes with its expiry).
/// Good for one process; use a shared store for several.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, SessionRecord>,
    by_expiry: BTreeSet<(u64, String)>,
    /// Index key -> ids of the records saved with it among their `index_keys()`. Entries go
    /// with their records (removed, evicted, replaced), so the index never outgrows the
    /// records it lists.
    index: HashMap<String, HashSet<String>>,
    /// Spent marks by kind (the key's prefix before `:`: `logout-jti`, `dpop-jti`,
    /// `refresh-lease`, ...; the logins' `state` marks have none). Each kind is bounded by the
    /// same capacity, apart from the records and from the other kinds: marks never evict a
    /// session (nor sessions a mark), and a flood of one kind (callbacks carrying login
    /// cookies an attacker collected, say) cannot evict a logout token's replay mark.
    spent: HashMap<&'static str, Marks>,
}

/// The spent marks of one kind and their expiry.
#[derive(Default)]
struct Marks {
    expiry: HashMap<String, u64>,
    by_expiry: BTreeSet<(u64, String)>,
}

/// The pool a mark's `key` belongs to: its kind, one of the core's
/// [`MARK_KINDS`](oidc_core::session::MARK_KINDS); a key of another prefix shares one pool with
/// the logins' unprefixed `state` marks, so no key can open a pool of its own.
fn mark_kind(key: &str) -> &'static str {
    key.split_once(':')
        .and_then(|(kind, _)| oidc_core::session::MARK_KINDS.iter().find(|k| **k == kind))
        .copied()
        .unwrap_or("")
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
        self.save_locked(&mut inner, now, id, record);
    }

    /// The test and the write under one lock, so that a delete cannot fall between them.
    fn update_now(&self, id: &str, record: &SessionRecord) -> bool {
        let now = self.clock.now();
        let mut inner = self.lock();
        let present = inner
            .records
            .get(id)
            .is_some_and(|r| r.expires_at > now && r.is_compatible());
        if present {
            self.save_locked(&mut inner, now, id, record);
        }
        present
    }

    fn save_locked(&self, inner: &mut Inner, now: u64, id: &str, record: &SessionRecord) {
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
        for key in record.index_keys() {
            inner.index.entry(key).or_default().insert(id.to_owned());
        }
        inner.records.insert(id.to_owned(), record.clone());
    }

    /// Every record listed under `key` goes, with the entry, under one lock: a record saved
    /// before the call is gone when it returns.
    fn delete_indexed_now(&self, key: &str) {
        let mut inner = self.lock();
        if let Some(ids) = inner.index.remove(key) {
            for id in ids {
                inner.remove(&id);
            }
        }
    }

    /// Test and set under one lock: nothing can run between the two.
    fn mark_spent_now(&self, key: &str, ttl: Duration) -> bool {
        let now = self.clock.now();
        let mut inner = self.lock();
        let marks = inner.spent.entry(mark_kind(key)).or_default();
        while let Some(first) = marks.by_expiry.iter().next().cloned() {
            // Expired marks go first; beyond the capacity the oldest of this kind goes too:
            // a flood can only shorten how long the marks of its own kind last.
            if first.0 > now && marks.expiry.len() < self.capacity {
                break;
            }
            marks.by_expiry.remove(&first);
            marks.expiry.remove(&first.1);
        }
        if marks.expiry.contains_key(key) {
            return false;
        }
        let expires_at = now.saturating_add(ttl.as_secs().max(1));
        marks.expiry.insert(key.to_owned(), expires_at);
        marks.by_expiry.insert((expires_at, key.to_owned()));
        true
    }
}

impl Inner {
    fn remove(&mut self, id: &str) {
        if let Some(old) = self.records.remove(id) {
            self.by_expiry.remove(&(old.expires_at, id.to_owned()));
            for key in old.index_keys() {
                if let Some(ids) = self.index.get_mut(&key) {
                    ids.remove(id);
                    if ids.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
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

    fn update<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let updated = self.update_now(id, record);
        Box::pin(async move { Ok(updated) })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.lock().remove(id);
        Box::pin(async { Ok(()) })
    }

    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let marked = self.mark_spent_now(key, ttl);
        Box::pin(async move { Ok(marked) })
    }

    fn delete_indexed<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.delete_indexed_now(key);
        Box::pin(async { Ok(()) })
    }

    fn unmark<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut inner = self.lock();
        if let Some(marks) = inner.spent.get_mut(mark_kind(key)) {
            if let Some(expires_at) = marks.expiry.remove(key) {
                marks.by_expiry.remove(&(expires_at, key.to_owned()));
            }
        }
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

    #[tokio::test]
    async fn bounded_and_expiring() {
        let clock = Arc::new(FakeClock(AtomicU64::new(100)));
        let store = MemoryStore::with_clock(3, clock.clone());
        for i in 0..5u64 {
            let r = SessionRecord::new(200 + i);
            store.save(&format!("s{i}"), &r).await.unwrap();
        }
        assert_eq!(store.len(), 3);
        assert!(store.load("s0").await.unwrap().is_none());
        assert!(store.load("s4").await.unwrap().is_some());
        clock.0.store(203, Ordering::SeqCst);
        assert!(store.load("s2").await.unwrap().is_none(), "expired");
        assert!(store.load("s4").await.unwrap().is_some());
        store.delete("s4").await.unwrap();
        assert!(store.load("s4").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn updates_write_over_live_records_only() {
        let clock = Arc::new(FakeClock(AtomicU64::new(100)));
        let store = MemoryStore::with_clock(3, clock.clone());
        let r = SessionRecord::new(200);
        assert!(!store.update("s", &r).await.unwrap(), "none there");
        assert!(store.load("s").await.unwrap().is_none(), "nothing written");
        store.save("s", &r).await.unwrap();
        assert!(store.update("s", &SessionRecord::new(300)).await.unwrap());
        assert_eq!(store.load("s").await.unwrap().unwrap().expires_at, 300);
        store.delete("s").await.unwrap();
        assert!(
            !store.update("s", &r).await.unwrap(),
            "a deleted session stays deleted"
        );
        assert!(store.is_empty());
        store.save("s", &r).await.unwrap();
        clock.0.store(250, Ordering::SeqCst);
        assert!(!store.update("s", &r).await.unwrap(), "an expired one too");
    }

    #[tokio::test]
    async fn incompatible_records_are_not_returned() {
        let store = MemoryStore::with_clock(3, Arc::new(FakeClock(AtomicU64::new(0))));
        let mut r = SessionRecord::new(10);
        r.version = 999;
        store.save("x", &r).await.unwrap();
        assert!(store.load("x").await.unwrap().is_none());
    }

    /// A key is marked once until its mark expires; marks are bounded apart from sessions and
    /// never evict one.
    #[tokio::test]
    async fn spent_marks_are_taken_once_and_expire() {
        let clock = Arc::new(FakeClock(AtomicU64::new(100)));
        let store = MemoryStore::with_clock(2, clock.clone());
        let ttl = Duration::from_secs(10);
        assert!(store.mark_spent("a", ttl).await.unwrap());
        assert!(!store.mark_spent("a", ttl).await.unwrap(), "spent once");
        store.save("s", &SessionRecord::new(1000)).await.unwrap();
        assert!(store.mark_spent("b", ttl).await.unwrap());
        assert!(store.mark_spent("c", ttl).await.unwrap());
        assert!(
            store.load("s").await.unwrap().is_some(),
            "marks never evict a session"
        );
        assert_eq!(store.len(), 1, "marks are not session records");
        clock.0.store(111, Ordering::SeqCst);
        assert!(store.mark_spent("c", ttl).await.unwrap(), "expired");
        store.unmark("c").await.unwrap();
        assert!(store.mark_spent("c", ttl).await.unwrap(), "given back");
        assert!(!store.mark_spent("c", ttl).await.unwrap());
    }

    /// A flood of one kind of mark (here, logins' `state` marks) evicts only marks of its own
    /// kind: a logout token's replay mark outlives it.
    #[tokio::test]
    async fn a_flood_of_marks_never_evicts_another_kind() {
        let clock = Arc::new(FakeClock(AtomicU64::new(100)));
        let store = MemoryStore::with_clock(3, clock.clone());
        let ttl = Duration::from_secs(60);
        let jti = "logout-jti:abc";
        assert!(store.mark_spent(jti, ttl).await.unwrap());
        let lease = "refresh-lease:def";
        assert!(store.mark_spent(lease, ttl).await.unwrap());
        for i in 0..100 {
            assert!(store.mark_spent(&format!("state{i}"), ttl).await.unwrap());
            // A key that names no kind the core uses cannot open a pool of its own.
            assert!(store.mark_spent(&format!("other{i}:x"), ttl).await.unwrap());
        }
        assert!(
            !store.mark_spent(jti, ttl).await.unwrap(),
            "the replay mark holds"
        );
        assert!(
            !store.mark_spent(lease, ttl).await.unwrap(),
            "the lease holds"
        );
        assert!(
            store.mark_spent("state0", ttl).await.unwrap(),
            "the flood's own oldest marks went"
        );
        let inner = store.lock();
        let pools: Vec<_> = inner.spent.keys().collect();
        assert_eq!(pools.len(), 3, "three pools: {pools:?}");
        assert!(inner.spent.values().all(|m| m.expiry.len() <= 3));
    }

    /// A record of the user `sub` at the example issuer, with the ID token's `sid` if given.
    fn user_record(expires_at: u64, sub: &str, sid: Option<&str>) -> SessionRecord {
        let mut user = oidc_core::claims::example_user();
        let mut claims = user.id_token.claims().to_map();
        claims.insert("sub".into(), sub.into());
        if let Some(sid) = sid {
            claims.insert("sid".into(), sid.into());
        }
        user.id_token = oidc_core::IdToken::new(
            user.id_token.raw.clone(),
            oidc_core::ClaimsSet::from_map(&claims),
        );
        SessionRecord::new(expires_at).with_user(Arc::new(user))
    }

    fn index_len(store: &MemoryStore) -> usize {
        store.lock().index.values().map(HashSet::len).sum()
    }

    /// A logout by `sid` ends the sessions of that provider session and only those; by `sub`,
    /// every session of the user; the entry goes with them.
    #[tokio::test]
    async fn delete_indexed_deletes_all_and_only_the_listed_records() {
        let store = MemoryStore::with_clock(10, Arc::new(FakeClock(AtomicU64::new(100))));
        let iss = "https://op.example";
        store
            .save("a1", &user_record(1000, "alice", Some("s1")))
            .await
            .unwrap();
        store
            .save("a2", &user_record(1000, "alice", Some("s1")))
            .await
            .unwrap();
        store
            .save("a3", &user_record(1000, "alice", Some("s2")))
            .await
            .unwrap();
        store
            .save("b1", &user_record(1000, "bob", Some("s9")))
            .await
            .unwrap();
        store.save("anon", &SessionRecord::new(1000)).await.unwrap();

        store
            .delete_indexed(&oidc_core::session::sid_index_key(iss, "s1"))
            .await
            .unwrap();
        for gone in ["a1", "a2"] {
            assert!(store.load(gone).await.unwrap().is_none(), "{gone}");
        }
        for kept in ["a3", "b1", "anon"] {
            assert!(store.load(kept).await.unwrap().is_some(), "{kept}");
        }
        assert!(
            !store
                .lock()
                .index
                .contains_key(&oidc_core::session::sid_index_key(iss, "s1")),
            "the entry goes too"
        );

        store
            .delete_indexed(&oidc_core::session::subject_index_key(iss, "alice"))
            .await
            .unwrap();
        assert!(store.load("a3").await.unwrap().is_none());
        assert!(store.load("b1").await.unwrap().is_some());
        assert!(store.load("anon").await.unwrap().is_some());
        // An unknown key ends nothing and is no error.
        store
            .delete_indexed(&oidc_core::session::subject_index_key(iss, "carol"))
            .await
            .unwrap();
        assert_eq!(store.len(), 2);
    }

    /// A record without a `sid` is indexed as sid-less for its user, so a logout naming a
    /// `sid` and that user can reach it.
    #[tokio::test]
    async fn sidless_records_are_indexed_for_their_user() {
        let store = MemoryStore::with_clock(10, Arc::new(FakeClock(AtomicU64::new(100))));
        let iss = "https://op.example";
        store
            .save("a", &user_record(1000, "alice", None))
            .await
            .unwrap();
        store
            .save("b", &user_record(1000, "bob", None))
            .await
            .unwrap();
        store
            .delete_indexed(&oidc_core::session::sidless_index_key(iss, "alice"))
            .await
            .unwrap();
        assert!(store.load("a").await.unwrap().is_none());
        assert!(store.load("b").await.unwrap().is_some());
    }

    /// Eviction and deletion take a record's index entries with it: the index stays bounded
    /// by the records it lists.
    #[tokio::test]
    async fn eviction_and_delete_clean_the_index() {
        let clock = Arc::new(FakeClock(AtomicU64::new(100)));
        let store = MemoryStore::with_clock(2, clock.clone());
        for i in 0..50u64 {
            let r = user_record(200 + i, &format!("user{i}"), Some(&format!("sid{i}")));
            store.save(&format!("s{i}"), &r).await.unwrap();
        }
        assert_eq!(store.len(), 2);
        assert_eq!(
            index_len(&store),
            4,
            "two keys for each of the two records held"
        );
        assert_eq!(store.lock().index.len(), 4);
        store.delete("s49").await.unwrap();
        assert_eq!(index_len(&store), 2);
        // A load of an expired record removes it, and its entries.
        clock.0.store(10_000, Ordering::SeqCst);
        assert!(store.load("s48").await.unwrap().is_none());
        assert_eq!(index_len(&store), 0);
        assert!(store.lock().index.is_empty());
    }

    /// A record replaced under the same id by one with other keys leaves the old keys: a
    /// logout naming them no longer reaches it.
    #[tokio::test]
    async fn replacing_a_record_moves_its_index_entries() {
        let store = MemoryStore::with_clock(10, Arc::new(FakeClock(AtomicU64::new(100))));
        let iss = "https://op.example";
        store
            .save("x", &user_record(1000, "alice", Some("s1")))
            .await
            .unwrap();
        store
            .save("x", &user_record(1000, "alice", Some("s2")))
            .await
            .unwrap();
        assert_eq!(index_len(&store), 2);
        store
            .delete_indexed(&oidc_core::session::sid_index_key(iss, "s1"))
            .await
            .unwrap();
        assert!(
            store.load("x").await.unwrap().is_some(),
            "no longer under s1"
        );
        // A record replaced by an anonymous one is in no entry at all.
        store.save("x", &SessionRecord::new(1000)).await.unwrap();
        assert_eq!(index_len(&store), 0);
        store
            .delete_indexed(&oidc_core::session::subject_index_key(iss, "alice"))
            .await
            .unwrap();
        assert!(store.load("x").await.unwrap().is_some());
    }

    /// Threads racing for one key: exactly one wins. Each thread runs its call on a
    /// current-thread runtime of its own, so the calls really run in parallel.
    #[test]
    fn one_winner_among_threads() {
        let store = Arc::new(MemoryStore::new(100));
        let barrier = std::sync::Barrier::new(8);
        let winners: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let store = store.clone();
                    let barrier = &barrier;
                    s.spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        barrier.wait();
                        let marked = runtime
                            .block_on(store.mark_spent("k", Duration::from_secs(60)))
                            .unwrap();
                        usize::from(marked)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(winners, 1);
    }
}
