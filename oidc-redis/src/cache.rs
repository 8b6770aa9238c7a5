//! The local cache of decoded session records, kept coherent by Redis' server-assisted
//! client-side caching (RESP3 `CLIENT TRACKING ... BCAST`). How it works and what it bounds is
//! in the crate docs, `# Client-side caching`; this module holds the mechanism.
//!
//! Three rules make it safe:
//! - An entry is only served while the tracking connection is up and Redis answered a `PING`
//!   on it, sent less than the staleness bound ago. Redis queues a BCAST invalidation at the
//!   end of the event-loop pass that ran the write, so a `PONG` may come before the
//!   invalidations of writes run in the same pass; but a write whose invalidation a `PONG`
//!   overtakes was run after that `PING` was sent, and the confirmation is stamped with the
//!   time the `PING` was sent. So when the `PONG` arrives, every write Redis ran before the
//!   `PING` was sent has had its invalidation applied, and the bound holds. Two things would
//!   break it, and must not be done: stamping a confirmation with the time its `PONG` arrived,
//!   and pipelining heartbeats (one `PING` is outstanding at a time).
//! - A record read from Redis is only cached if no invalidation of its key (nor a flush) came
//!   in since just before its `GET` was sent: a pending ticket, taken while tracking was up,
//!   that an invalidation or a flush takes away.
//! - Losing the tracking connection (a `Disconnection` from its reader, a failed heartbeat, a
//!   lost data connection) flushes everything and stops both serving and filling until a new
//!   connection has tracking on again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use oidc_runtime::SessionRecord;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, RedisError, Value};
use tokio::sync::Notify;

/// Options of the local cache of [`RedisStore::with_local_cache`](crate::RedisStore::with_local_cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalCache {
    capacity: usize,
    staleness_bound: Duration,
}

/// The shortest staleness bound: its heartbeat (a quarter of it) must stay well above a
/// loopback round trip.
const MIN_STALENESS_BOUND: Duration = Duration::from_millis(20);
/// Well under the relying party's refresh lease (60 s): an instance serving an unconfirmed
/// entry past the lease could spend a refresh token another instance already rotated.
const MAX_STALENESS_BOUND: Duration = Duration::from_secs(10);
/// Records larger than this are read from Redis every time rather than cached: the memory
/// bound is then `capacity` times this at most, whatever claims a user's provider sends.
pub(crate) const MAX_CACHED_RECORD: usize = 64 * 1024;

/// How many entries an eviction looks at, oldest use wins (Redis' own sampled LRU).
const EVICTION_SAMPLES: usize = 5;

/// The first and the longest wait between two attempts to open the tracking connection.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl LocalCache {
    /// A cache of at most `capacity` records (at least one), with a staleness bound of one
    /// second.
    pub fn new(capacity: usize) -> Self {
        LocalCache {
            capacity: capacity.max(1),
            staleness_bound: Duration::from_secs(1),
        }
    }

    /// How old, at most, a cached record's confirmation may be (20 ms to 10 s): a cached
    /// record is served only if Redis answered a heartbeat sent on the tracking connection
    /// within this time, so a connection lost without the socket saying so (a network
    /// partition, a stalled process) stops cache hits after at most this long. Heartbeats go
    /// out four times per bound.
    pub fn staleness_bound(mut self, bound: Duration) -> Self {
        self.staleness_bound = bound.clamp(MIN_STALENESS_BOUND, MAX_STALENESS_BOUND);
        self
    }

    /// The most records held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn heartbeat(&self) -> Duration {
        self.staleness_bound / 4
    }
}

/// What a store's local cache holds and has done since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LocalCacheStats {
    /// Records held now.
    pub entries: usize,
    /// The most records held.
    pub capacity: usize,
    /// Loads answered from the cache.
    pub hits: u64,
    /// Loads that went to Redis (not cached, or the cache not usable at that moment).
    pub misses: u64,
    /// Entries removed because Redis said their key changed, or this store wrote it.
    pub invalidations: u64,
    /// Times the whole cache was emptied (tracking lost, `FLUSHDB`).
    pub flushes: u64,
    /// Entries evicted to stay within the capacity.
    pub evictions: u64,
    /// Whether the tracking connection is up now (with tracking on), so that reads may be
    /// cached.
    pub tracking: bool,
}

struct Slot {
    id: String,
    record: SessionRecord,
    last_used: u64,
}

struct State {
    /// The connection whose invalidations keep the entries coherent: its generation once Redis
    /// confirmed `CLIENT TRACKING` on it, `None` while there is none.
    tracking: Option<u64>,
    next_generation: u64,
    /// When the last `PING` (or `CLIENT TRACKING`) answered on that connection was sent.
    confirmed_at: Instant,
    slots: Vec<Slot>,
    by_id: HashMap<String, usize>,
    /// Reads in flight whose result may be cached: id -> ticket.
    pending: HashMap<String, u64>,
    next_ticket: u64,
    tick: u64,
    /// xorshift state, for eviction samples (not security relevant).
    rng: u64,
}

impl State {
    fn remove(&mut self, id: &str) -> bool {
        let Some(index) = self.by_id.remove(id) else {
            return false;
        };
        self.slots.swap_remove(index);
        if let Some(moved) = self.slots.get(index) {
            self.by_id.insert(moved.id.clone(), index);
        }
        true
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.by_id.clear();
        self.pending.clear();
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// The least recently used of a few sampled entries.
    fn victim(&mut self) -> Option<String> {
        let len = self.slots.len();
        if len == 0 {
            return None;
        }
        let candidates: Vec<usize> = if len <= EVICTION_SAMPLES {
            (0..len).collect()
        } else {
            (0..EVICTION_SAMPLES)
                .map(|_| (self.random() % len as u64) as usize)
                .collect()
        };
        candidates
            .into_iter()
            .min_by_key(|&i| self.slots[i].last_used)
            .map(|i| self.slots[i].id.clone())
    }
}

/// A store's cache and the state of its tracking connection, shared by the store's clones.
pub(crate) struct Cache {
    options: LocalCache,
    /// The store's client, speaking RESP3 (push messages).
    client: redis::Client,
    timeout: Duration,
    /// The store's key prefix: tracked keys, and what turns a key back into a session id.
    prefix: String,
    state: Mutex<State>,
    /// Asks the tracking connection to start again (the data connection was lost).
    reset: Arc<Notify>,
    tracker_running: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    evictions: AtomicU64,
}

/// The right to cache what one read from Redis returns, unless an invalidation of its id (or
/// a flush) came first. Dropped unused (the read failed, its future was dropped), it gives the
/// id's pending slot back.
pub(crate) struct Ticket<'a> {
    cache: &'a Cache,
    id: &'a str,
    ticket: u64,
}

impl Ticket<'_> {
    /// Caches `record`, read by this ticket's `GET` as `stored_len` bytes, if nothing
    /// invalidated its id since and it is no larger than [`MAX_CACHED_RECORD`].
    pub(crate) fn fill(self, record: &SessionRecord, stored_len: usize) {
        if stored_len > MAX_CACHED_RECORD {
            return;
        }
        let mut state = self.cache.lock();
        if state.pending.get(self.id) != Some(&self.ticket) {
            return;
        }
        state.pending.remove(self.id);
        state.remove(self.id);
        while state.slots.len() >= self.cache.options.capacity {
            let Some(victim) = state.victim() else { break };
            state.remove(&victim);
            self.cache.evictions.fetch_add(1, Ordering::Relaxed);
        }
        state.tick += 1;
        let last_used = state.tick;
        let index = state.slots.len();
        state.slots.push(Slot {
            id: self.id.to_owned(),
            record: record.clone(),
            last_used,
        });
        state.by_id.insert(self.id.to_owned(), index);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut state = self.cache.lock();
        if state.pending.get(self.id) == Some(&self.ticket) {
            state.pending.remove(self.id);
        }
    }
}

impl Cache {
    /// A cache for the store of `prefix` on `client` (switched to RESP3 here), whose tracking
    /// connection starts with the first read.
    pub(crate) fn new(
        options: LocalCache,
        client: &redis::Client,
        timeout: Duration,
        prefix: String,
    ) -> Result<Self, RedisError> {
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        Ok(Cache {
            options,
            client,
            timeout,
            prefix,
            state: Mutex::new(State {
                tracking: None,
                next_generation: 0,
                confirmed_at: Instant::now(),
                slots: Vec::new(),
                by_id: HashMap::new(),
                pending: HashMap::new(),
                next_ticket: 0,
                tick: 0,
                rng: rand::random::<u64>() | 1,
            }),
            reset: Arc::new(Notify::new()),
            tracker_running: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    pub(crate) fn options(&self) -> LocalCache {
        self.options
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| {
            // A panic under the lock may have left the index half-updated: start empty.
            let mut state = p.into_inner();
            state.clear();
            state
        })
    }

    /// The cached record of `id`, if the cache may serve it now and it has not expired at
    /// `now` (unix seconds); otherwise a ticket to cache what Redis will return, when the
    /// cache may be filled now.
    pub(crate) fn get<'a>(
        &'a self,
        id: &'a str,
        now: u64,
    ) -> Result<SessionRecord, Option<Ticket<'a>>> {
        let mut state = self.lock();
        if state.tracking.is_none() {
            drop(state);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Err(None);
        }
        let fresh = state.confirmed_at.elapsed() <= self.options.staleness_bound;
        if fresh {
            if let Some(&index) = state.by_id.get(id) {
                // The id check costs nothing and makes a broken index a miss, not another
                // user's session.
                let slot = &state.slots[index];
                if slot.id == id && slot.record.expires_at > now {
                    state.tick += 1;
                    let tick = state.tick;
                    let slot = &mut state.slots[index];
                    slot.last_used = tick;
                    let record = slot.record.clone();
                    drop(state);
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(record);
                }
                state.remove(id);
            }
        }
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state.pending.insert(id.to_owned(), ticket);
        drop(state);
        self.misses.fetch_add(1, Ordering::Relaxed);
        Err(Some(Ticket {
            cache: self,
            id,
            ticket,
        }))
    }

    /// Forgets `id`: its entry, and the right of a read in flight to cache it.
    pub(crate) fn invalidate(&self, id: &str) {
        let mut state = self.lock();
        let removed = state.remove(id);
        state.pending.remove(id);
        drop(state);
        if removed {
            self.invalidations.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn invalidate_key(&self, key: &[u8]) {
        // A key that is not `<prefix><id>` names nothing cached here.
        let Some(id) = std::str::from_utf8(key)
            .ok()
            .and_then(|key| key.strip_prefix(self.prefix.as_str()))
        else {
            return;
        };
        self.invalidate(id);
    }

    /// Empties the cache (its tracking stays as it is).
    pub(crate) fn flush_all(&self) {
        self.flush(&mut self.lock());
    }

    fn flush(&self, state: &mut State) {
        state.clear();
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// The tracking connection `generation` (any, for `None`) is gone: nothing is served or
    /// cached until another one has tracking on.
    fn tracking_lost(&self, generation: Option<u64>) {
        let mut state = self.lock();
        if state.tracking.is_some() && (generation.is_none() || state.tracking == generation) {
            state.tracking = None;
            self.flush(&mut state);
            drop(state);
            tracing::info!("redis tracking connection lost; local session cache flushed");
        }
    }

    /// The data connection was found broken: the tracking connection starts again too, so that
    /// both reach the same server, and the cache is flushed meanwhile.
    pub(crate) fn connection_lost(&self) {
        self.tracking_lost(None);
        self.reset.notify_one();
    }

    fn new_generation(&self) -> u64 {
        let mut state = self.lock();
        state.next_generation += 1;
        state.next_generation
    }

    /// Redis confirmed tracking on connection `generation`, asked for at `sent_at`.
    fn tracking_up(&self, generation: u64, sent_at: Instant) {
        let mut state = self.lock();
        // Entries from before can only have been cleared already (tracking was down), but a
        // flush costs nothing here and makes that plain.
        state.clear();
        state.tracking = Some(generation);
        state.confirmed_at = sent_at;
    }

    /// Redis answered a `PING` sent at `sent_at` on connection `generation`.
    fn confirmed(&self, generation: u64, sent_at: Instant) {
        let mut state = self.lock();
        if state.tracking == Some(generation) && sent_at > state.confirmed_at {
            state.confirmed_at = sent_at;
        }
    }

    fn on_push(&self, generation: u64, lost: &Notify, info: PushInfo) {
        match info.kind {
            PushKind::Invalidate => match info.data.first() {
                Some(Value::Array(keys)) => {
                    for key in keys {
                        match key {
                            Value::BulkString(key) => self.invalidate_key(key),
                            Value::SimpleString(key) => self.invalidate_key(key.as_bytes()),
                            // What it invalidates is unknown: everything goes.
                            _ => self.flush(&mut self.lock()),
                        }
                    }
                }
                // A null after `FLUSHALL`/`FLUSHDB`; anything else unexpected is treated alike.
                _ => self.flush(&mut self.lock()),
            },
            PushKind::Disconnection => {
                self.tracking_lost(Some(generation));
                lost.notify_one();
            }
            _ => {}
        }
    }

    pub(crate) fn stats(&self) -> LocalCacheStats {
        let state = self.lock();
        LocalCacheStats {
            entries: state.slots.len(),
            capacity: self.options.capacity,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            tracking: state.tracking.is_some(),
        }
    }

    /// Starts the tracking connection's task on the current Tokio runtime, unless it runs.
    /// Without a runtime nothing starts, and the cache stays unused.
    pub(crate) fn ensure_tracker(self: &Arc<Self>) {
        if self.tracker_running.load(Ordering::Acquire)
            || self.tracker_running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                // Made before the task: dropped with it even if the task never runs (its
                // runtime shutting down), so that the next read starts another.
                let running = Running(Arc::downgrade(self));
                runtime.spawn(track(Arc::downgrade(self), running));
            }
            Err(_) => self.tracker_running.store(false, Ordering::Release),
        }
    }
}

/// Marks the tracker stopped, and the cache unusable, when its task ends or is dropped (its
/// runtime shut down): the next read starts another.
struct Running(Weak<Cache>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(cache) = self.0.upgrade() {
            cache.tracking_lost(None);
            cache.tracker_running.store(false, Ordering::Release);
        }
    }
}

/// How a tracking connection ended.
enum Ended {
    /// The store is gone.
    Dropped,
    /// Asked to start again.
    Reset,
    /// Lost, or never opened.
    Failed(RedisError),
    /// Its reader saw the connection close.
    Disconnected,
}

/// The tracking connection's task: opens it, keeps it confirmed, opens another when it goes,
/// until every clone of the store is dropped.
async fn track(weak: Weak<Cache>, running: Running) {
    let _running = running;
    let mut backoff = MIN_BACKOFF;
    // The first failure to open tracking is worth an operator's attention (an ACL refusing
    // CLIENT TRACKING, a proxy without RESP3, Redis older than 6): the cache stays off.
    let mut warned = false;
    loop {
        let ended = tracking_connection(&weak).await;
        let Some(cache) = weak.upgrade() else { return };
        let was_up = cache.lock().tracking.is_some();
        cache.tracking_lost(None);
        drop(cache);
        match ended {
            Ended::Dropped => return,
            Ended::Reset => backoff = MIN_BACKOFF,
            Ended::Disconnected => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Ended::Failed(e) => {
                if was_up {
                    tracing::warn!(
                        error = e.category(),
                        "redis tracking connection failed; local session cache off until it is back"
                    );
                } else if !warned {
                    warned = true;
                    tracing::warn!(
                        error = e.category(),
                        "cannot open the redis tracking connection; local session cache off \
                         until it opens (retrying)"
                    );
                } else {
                    tracing::debug!(
                        error = e.category(),
                        "cannot open the redis tracking connection"
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One tracking connection, from its opening to its end. Holds the cache only between two
/// awaits, so that dropping the store ends it.
async fn tracking_connection(weak: &Weak<Cache>) -> Ended {
    let Some(cache) = weak.upgrade() else {
        return Ended::Dropped;
    };
    let generation = cache.new_generation();
    let (client, timeout, prefix, reset, heartbeat) = (
        cache.client.clone(),
        cache.timeout,
        cache.prefix.clone(),
        cache.reset.clone(),
        cache.options.heartbeat(),
    );
    drop(cache);
    let lost = Arc::new(Notify::new());
    let (sink, on_lost) = (weak.clone(), lost.clone());
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_push_sender(move |info: PushInfo| -> Result<(), Infallible> {
            if let Some(cache) = sink.upgrade() {
                cache.on_push(generation, &on_lost, info);
            }
            Ok(())
        });
    let mut conn = match client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    {
        Ok(conn) => conn,
        Err(e) => return Ended::Failed(e),
    };
    // BCAST: Redis tells this connection of every change to a key under the prefix, whoever
    // makes it, and keeps no per-key state for it.
    let mut on = redis::cmd("CLIENT");
    on.arg("TRACKING").arg("ON").arg("BCAST");
    if !prefix.is_empty() {
        on.arg("PREFIX").arg(&prefix);
    }
    let sent_at = Instant::now();
    if let Err(e) = on.query_async::<()>(&mut conn).await {
        return Ended::Failed(e);
    }
    match weak.upgrade() {
        Some(cache) => cache.tracking_up(generation, sent_at),
        None => return Ended::Dropped,
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(heartbeat) => {}
            _ = lost.notified() => return Ended::Disconnected,
            _ = reset.notified() => return Ended::Reset,
        }
        if weak.strong_count() == 0 {
            return Ended::Dropped;
        }
        let sent_at = Instant::now();
        if let Err(e) = redis::cmd("PING").query_async::<()>(&mut conn).await {
            return Ended::Failed(e);
        }
        match weak.upgrade() {
            Some(cache) => cache.confirmed(generation, sent_at),
            None => return Ended::Dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "p:";
    const FAR: u64 = u64::MAX;

    /// A cache that never connects: these tests drive its tracking state by hand.
    fn cache(capacity: usize) -> Cache {
        let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
        Cache::new(
            LocalCache::new(capacity),
            &client,
            Duration::from_secs(1),
            PREFIX.into(),
        )
        .unwrap()
    }

    fn record(expires_at: u64) -> SessionRecord {
        SessionRecord::new(expires_at)
    }

    /// Reads `id` through the cache as the store does, Redis answering `stored`.
    fn read(cache: &Cache, id: &str, stored: &SessionRecord) -> SessionRecord {
        match cache.get(id, 100) {
            Ok(hit) => hit,
            Err(ticket) => {
                if let Some(ticket) = ticket {
                    ticket.fill(stored, 1);
                }
                stored.clone()
            }
        }
    }

    fn invalidate_push(keys: &[&str]) -> PushInfo {
        PushInfo {
            kind: PushKind::Invalidate,
            data: vec![Value::Array(
                keys.iter()
                    .map(|k| Value::BulkString(k.as_bytes().to_vec()))
                    .collect(),
            )],
        }
    }

    fn disconnection() -> PushInfo {
        PushInfo {
            kind: PushKind::Disconnection,
            data: vec![],
        }
    }

    #[test]
    fn nothing_is_served_or_filled_without_tracking() {
        let cache = cache(10);
        assert!(matches!(cache.get("a", 100), Err(None)));
        cache.tracking_up(1, Instant::now());
        read(&cache, "a", &record(FAR));
        assert!(cache.get("a", 100).is_ok(), "served once tracking is on");
        assert_eq!(cache.stats().hits, 1);
        assert!(cache.stats().tracking);
    }

    /// A write that Redis reports while the read is in flight wins: the value read is not
    /// cached, and the next load reads Redis again.
    #[test]
    fn an_invalidation_during_a_read_prevents_its_fill() {
        let cache = cache(10);
        cache.tracking_up(1, Instant::now());
        let Err(Some(ticket)) = cache.get("a", 100) else {
            panic!("a miss with a ticket");
        };
        cache.on_push(1, &Notify::new(), invalidate_push(&["p:a"]));
        ticket.fill(&record(FAR), 1);
        assert_eq!(cache.stats().entries, 0);
        assert!(matches!(cache.get("a", 100), Err(Some(_))), "read again");
    }

    /// A record stored larger than the cap is never cached (the memory bound is per entry
    /// too), and the staleness bound is clamped to 20 ms..10 s.
    #[test]
    fn large_records_and_long_bounds_are_refused() {
        let cache = cache(10);
        cache.tracking_up(1, Instant::now());
        let Err(Some(ticket)) = cache.get("a", 100) else {
            panic!("a miss with a ticket");
        };
        ticket.fill(&record(FAR), MAX_CACHED_RECORD + 1);
        assert_eq!(cache.stats().entries, 0);
        assert!(matches!(cache.get("a", 100), Err(Some(_))), "read again");
        let bound = |d| LocalCache::new(1).staleness_bound(d).staleness_bound;
        assert_eq!(bound(Duration::from_secs(3600)), MAX_STALENESS_BOUND);
        assert_eq!(bound(Duration::ZERO), MIN_STALENESS_BOUND);
        assert_eq!(bound(Duration::from_secs(2)), Duration::from_secs(2));
    }

    /// An invalidation drops the entry; keys outside the prefix, or other ids, leave it.
    #[test]
    fn invalidations_drop_their_entries_only() {
        let cache = cache(10);
        cache.tracking_up(1, Instant::now());
        read(&cache, "a", &record(FAR));
        read(&cache, "b", &record(FAR));
        cache.on_push(
            1,
            &Notify::new(),
            invalidate_push(&["q:a", "p:idx:x", "p:c"]),
        );
        assert_eq!(cache.stats().entries, 2);
        cache.on_push(1, &Notify::new(), invalidate_push(&["p:a"]));
        assert!(cache.get("a", 100).is_err());
        assert!(cache.get("b", 100).is_ok());
        assert_eq!(cache.stats().invalidations, 1);
        // A null list (FLUSHDB) empties everything.
        let flushdb = PushInfo {
            kind: PushKind::Invalidate,
            data: vec![Value::Nil],
        };
        cache.on_push(1, &Notify::new(), flushdb);
        assert_eq!(cache.stats().entries, 0);
        assert!(cache.get("b", 100).is_err());
    }

    /// The tracking connection's end flushes the cache at once, voids reads in flight, and
    /// nothing is served or filled until a new connection has tracking on.
    #[test]
    fn losing_tracking_flushes_and_stops_the_cache() {
        let cache = cache(10);
        cache.tracking_up(1, Instant::now());
        read(&cache, "a", &record(FAR));
        let Err(Some(in_flight)) = cache.get("b", 100) else {
            panic!("a miss with a ticket");
        };
        let lost = Notify::new();
        // A late disconnection of an older connection changes nothing.
        cache.on_push(0, &lost, disconnection());
        assert_eq!(cache.stats().entries, 1);
        cache.on_push(1, &lost, disconnection());
        let stats = cache.stats();
        assert_eq!(
            (stats.entries, stats.tracking, stats.flushes),
            (0, false, 1)
        );
        in_flight.fill(&record(FAR), 1);
        assert_eq!(cache.stats().entries, 0, "a read from before is not cached");
        assert!(matches!(cache.get("a", 100), Err(None)));
        cache.tracking_up(2, Instant::now());
        read(&cache, "a", &record(FAR));
        assert!(cache.get("a", 100).is_ok());
        // A lost data connection flushes too.
        cache.connection_lost();
        assert!(matches!(cache.get("a", 100), Err(None)));
    }

    /// Entries are served only while the last heartbeat answer is younger than the bound.
    #[test]
    fn an_unconfirmed_cache_is_not_served() {
        let cache = cache(10);
        let bound = cache.options.staleness_bound;
        let long_ago = Instant::now() - bound * 2;
        cache.tracking_up(1, long_ago);
        read(&cache, "a", &record(FAR));
        assert!(cache.get("a", 100).is_err(), "not confirmed lately");
        cache.confirmed(2, Instant::now());
        assert!(cache.get("a", 100).is_err(), "another connection's answer");
        cache.confirmed(1, Instant::now());
        assert!(cache.get("a", 100).is_ok());
    }

    #[test]
    fn expired_records_are_not_served() {
        let cache = cache(10);
        cache.tracking_up(1, Instant::now());
        read(&cache, "a", &record(150));
        assert!(cache.get("a", 100).is_ok());
        assert!(cache.get("a", 150).is_err());
        assert_eq!(cache.stats().entries, 0);
    }

    /// At most `capacity` entries; the recently used ones stay.
    #[test]
    fn the_cache_is_bounded() {
        let cache = cache(3);
        cache.tracking_up(1, Instant::now());
        for i in 0..10 {
            read(&cache, "hot", &record(FAR));
            read(&cache, &format!("cold{i}"), &record(FAR));
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 3);
        assert_eq!(stats.evictions, 8);
        assert!(cache.get("hot", 100).is_ok(), "used last, kept");
        assert!(cache.get("cold9", 100).is_ok());
        assert!(cache.get("cold0", 100).is_err());

        let big = self::cache(100);
        big.tracking_up(1, Instant::now());
        for i in 0..1000 {
            read(&big, &format!("s{i}"), &record(FAR));
        }
        assert_eq!(big.stats().entries, 100);
        assert_eq!(big.lock().by_id.len(), 100, "the index follows the slots");
    }
}
