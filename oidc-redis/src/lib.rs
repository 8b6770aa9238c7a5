//! A Redis [`SessionStore`] for `oidc-runtime`: app instances behind one Redis share logins and
//! logouts. Written once for every adapter.
//!
//! # What is stored
//!
//! Every key starts with the store's prefix (`oidc:session:` by default,
//! [`RedisStore::with_prefix`]), so that several apps share one Redis without seeing each
//! other's sessions:
//!
//! - `<prefix><session id>`: the session record, with an absolute expiry (`SET ... EXAT`) equal
//!   to the record's own `expires_at`, so Redis drops it when the session ends. The record is
//!   JSON, or, with [`RedisStore::encrypt_records`], a JWE holding that JSON. Each record
//!   carries its schema version; fields added later have defaults, so instances of two adjacent
//!   versions read each other's records during a rolling upgrade.
//! - `<prefix>idx:<index key>`: a set of the session ids saved under that key of
//!   [`SessionRecord::index_keys`] (hashes of the provider and the user's `sub` or `sid`, never
//!   the raw values), so that a logout sent by the provider finds the sessions it names
//!   ([`SessionStore::delete_indexed`]). A record and its index entries are written by one Lua
//!   script; a set expires no earlier than the latest record it lists, and ids of records since
//!   gone are pruned when a set grows, so the index stays about as large as the live sessions.
//!   [`SessionStore::delete_indexed`] deletes the records listed and the set in one script:
//!   every instance sees the logout at once.
//! - `<prefix>spent:<hash>`: a spent `state` or logout token (the relying party's single-use
//!   mark, [`SessionStore::mark_spent`]), set with `SET ... NX PX <ttl>`: one atomic command,
//!   so of several instances receiving the same callback at once exactly one wins.
//!
//! Redis 6.2 or later (`SET ... EXAT`); the scripts use nothing newer. The store speaks to one
//! Redis (or a primary), not to a Redis Cluster: a script touches keys it computes.
//!
//! # Outages and reconnection
//!
//! Every call is bounded by a response timeout (2 s by default): when Redis is down, requests
//! fail fast with a [`StoreError`], which the relying party shows as a clear error page (HTTP
//! 503). When a call finds the connection broken (Redis restarted, a proxy dropped it), the
//! connection is re-established and the call is retried once, so the first request after
//! Redis comes back succeeds. A retry never applies a write twice: reads, `SET ... EXAT`,
//! `DEL` and the scripts leave the same state however often they run, and the spent mark
//! writes a random token of the caller's, so a retried `SET NX` that finds the key tells
//! whether the first attempt (this caller's) or another instance set it. A timeout is not
//! retried: the command may still be running, and waiting twice as long helps no one.
//!
//! # Client-side caching
//!
//! Opt-in, with [`RedisStore::with_local_cache`]: the store then keeps up to
//! [`LocalCache::new`]`(capacity)` decoded session records in this process, and a load of one
//! of them costs a hash lookup instead of a round trip to Redis, a decryption and a JSON
//! parse. Redis keeps the copies coherent (server-assisted client-side caching): each store
//! opens a second connection, in RESP3, that runs `CLIENT TRACKING ON BCAST PREFIX <prefix>`,
//! so that Redis pushes on it the name of every key under the prefix that anyone changes,
//! deletes or lets expire, and the store drops that entry as the push is read.
//!
//! - **A logout through this store** (`delete`, `delete_indexed`, or a `save`/`update` of new
//!   tokens) drops the entries it touched before it returns: this store's next load reads
//!   Redis. `delete_indexed`'s script returns the ids it deleted for that.
//! - **A logout through another store** (another instance) is seen here once Redis' push
//!   arrives: after one write to the socket and one read, on loopback a fraction of a
//!   millisecond (the benchmark measures it, `cargo xtask bench`). Until then this store may
//!   still serve the record it had. That window is why the cache is off by default: without it,
//!   every load reads Redis, so a logout is seen everywhere as soon as it returns.
//! - **No stale fill**: a record read from Redis is cached only if no invalidation of its key
//!   arrived since just before its `GET` was sent, so a write that raced the read is never
//!   papered over.
//! - **Lost tracking, no cache**: when the tracking connection goes (Redis restarted or
//!   failed over, a proxy dropped it), its reader flushes the whole cache as it sees the
//!   socket close, and nothing is cached or served again until a new connection has tracking
//!   on; a broken data connection flushes the cache too, and restarts the tracking
//!   connection so that both reach the same server. A connection lost without the socket
//!   saying so (a partition), or a process too stalled to read it, is caught by a heartbeat:
//!   a cached record is served only if Redis answered a `PING` sent on the tracking
//!   connection less than [`LocalCache::staleness_bound`] ago (1 s by default, at most 10 s;
//!   heartbeats go out four times per bound), and that answer proves that every write Redis
//!   ran before the `PING` was sent has had its invalidation applied. That bound is the most
//!   a partition can delay a logout's effect on a cached record. A tracking connection that
//!   cannot be opened (an ACL refusing `CLIENT TRACKING`, a proxy without RESP3) is logged
//!   once as a warning, and [`LocalCacheStats::tracking`] says whether tracking is on.
//!   `FLUSHDB`/`FLUSHALL` flush the cache.
//! - **Bounded memory**: at most `capacity` records, each at most 64 KiB as stored (a larger
//!   record is read from Redis every time), so at most about `capacity` × 64 KiB; a full
//!   cache evicts the least recently used of a few sampled entries (Redis' own approximation
//!   of LRU). Expired records are never served.
//! - **What Redis does not announce**: `SWAPDB`, a database restored from a backup behind a
//!   live connection, a failover that moves the data connection but not the tracking one
//!   (a split brain behind DNS), and time the host spent suspended (the bound is measured on
//!   a monotonic clock that stops then). After an operation of the first kinds, call
//!   [`RedisStore::flush_local_cache`] on every instance, or restart them. [`RedisStore::local_cache_stats`] tells hits, misses, invalidations,
//!   flushes and evictions.
//!
//! Encrypted records are cached decrypted, in this process's memory only (where the relying
//! party holds the session anyway); Redis still holds only JWEs. The tracking connection
//! starts with the first load, on the Tokio runtime that runs it, and ends when the store and
//! its clones are dropped; [`RedisStore::with_prefix`] after `with_local_cache` gives the
//! store a fresh cache tracking the new prefix. Every instance receives an invalidation per
//! write under the prefix (sessions, index sets, spent marks): a few bytes each, far fewer
//! than the reads the cache saves.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = oidc_redis::RedisStore::connect("redis://redis.internal:6379/")
//!     .await?
//!     .with_prefix("myapp:session:")
//!     .with_local_cache(oidc_redis::LocalCache::new(10_000));
//! # let _ = store; Ok(()) }
//! ```
//!
//! # TLS
//!
//! `rediss://host:port/` connects over TLS (rustls on the ring provider by default, as
//! `oidc-runtime`'s transport; native-tls, the system's OpenSSL on Linux, with the `native-tls`
//! feature and the default features off), verifying the server's certificate against the
//! system's roots, or against a CA of your own with [`RedisStore::connect_with_root_cert`].
//! Without either feature, `rediss://` is refused. rustls finds its provider through its crate
//! features: an app that also enables rustls's `aws-lc-rs` installs one of the two as the
//! process default (`CryptoProvider::install_default`) before connecting.
//! `rediss://...#insecure` skips verification: for tests only.
//!
//! # Encryption at rest
//!
//! Session records hold the user's access, refresh and ID tokens. Without encryption they sit
//! in Redis as plaintext JSON, readable by whoever reads Redis, its snapshots or its
//! replication stream. In production, turn on [`RedisStore::encrypt_records`] with the app's
//! session secret: each record is then a JWE (`dir` + `A256GCM`, authenticated encryption)
//! under a key derived from the secret, bound to its session id (a record copied under another
//! id does not decrypt there). The header's `kid` names the key; records under a previous
//! secret, passed as `previous`, are still read after a rotation, and every write uses the
//! current one, so a rotation completes as sessions are saved again or expire. A record that
//! does not decrypt (plaintext, tampered, moved, or under a key no longer held) is no session:
//! the user logs in again, and a warning is logged. Turning encryption on therefore ends the
//! sessions stored before as plaintext.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let secret = std::env::var("SESSION_SECRET")?;
//! let store = oidc_redis::RedisStore::connect("rediss://redis.internal:6380/")
//!     .await?
//!     .with_prefix("myapp:session:")
//!     .encrypt_records(secret.as_bytes(), &[])?;
//! let builder = oidc_runtime::RelyingParty::builder("https://app.example")
//!     .session_secret(secret.as_bytes())
//!     .session_store(Arc::new(store));
//! # let _ = builder; Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cache;
mod seal;

use std::sync::Arc;
use std::time::Duration;

use oidc_runtime::{BoxFuture, SessionRecord, SessionStore, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisError};

use crate::cache::Cache;
pub use crate::cache::{LocalCache, LocalCacheStats};
use crate::seal::{Sealer, Unsealed};

/// Writes a record and adds its id to each of its index sets, in one step.
///
/// KEYS: the record, then its index sets. ARGV: the stored value, `expires_at` (unix seconds),
/// the session id, the record key prefix, and `1` to write only over an existing record
/// ([`SessionStore::update`]: nothing is written, and `0` returned, when it is gone). A set lives until its latest record expires (`TTL`
/// and `TIME`, not `EXPIREAT GT`, so that Redis 6.2 runs it); once it lists more than a few
/// ids, those whose record is gone (rotated, logged out, expired) are dropped, so a user who
/// logs in often does not grow it without bound.
const SAVE_SCRIPT: &str = r"
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
local expires_at = tonumber(ARGV[2])
local now = tonumber(redis.call('TIME')[1])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  if redis.call('SCARD', KEYS[i]) > 16 then
    for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
      if redis.call('EXISTS', ARGV[4] .. id) == 0 then
        redis.call('SREM', KEYS[i], id)
      end
    end
  end
  local ttl = redis.call('TTL', KEYS[i])
  if ttl < 0 or now + ttl < expires_at then
    redis.call('EXPIREAT', KEYS[i], expires_at)
  end
end
return 1
";

/// Deletes every record listed in an index set, and the set, in one step: a record saved
/// under the key before the call is gone when it returns, for every instance.
///
/// KEYS: the set. ARGV: the record key prefix. Returns the ids listed, which the calling
/// store drops from its local cache.
const DELETE_INDEXED_SCRIPT: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return ids
";

/// A session store on Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    sealer: Option<Arc<Sealer>>,
    /// The client and timeout the store connected with, for the local cache's tracking
    /// connection.
    client: redis::Client,
    timeout: Duration,
    /// The local cache ([`RedisStore::with_local_cache`]), shared by the store's clones.
    cache: Option<Arc<Cache>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            // How many keys records are read with; none when records are not encrypted.
            .field(
                "encryption_keys",
                &self.sealer.as_ref().map(|s| s.key_count()),
            )
            .field("local_cache", &self.cache.as_ref().map(|c| c.options()))
            .finish_non_exhaustive()
    }
}

fn store_error(e: RedisError) -> StoreError {
    StoreError::new(format!("redis: {}", e.category()))
}

/// Whether `e` says the connection is gone (Redis restarted, a proxy dropped it, a reconnect
/// was refused) rather than that the command failed: the connection manager then reconnects,
/// and one more attempt is worth it. A timeout is not such an error: see the crate docs.
fn lost_connection(e: &RedisError) -> bool {
    (e.is_io_error() && !e.is_timeout()) || e.is_unrecoverable_error()
}

/// Now, in unix seconds: what a cached record's `expires_at` is checked against.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random token: the value of a spent mark, telling this caller's mark from another's.
fn random_token() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RedisStore {
    /// Connects to Redis at `url` (`redis://host:port/db`, or `rediss://` for TLS), with a 2 s
    /// connection and response timeout, and the key prefix `oidc:session:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, Duration::from_secs(2)).await
    }

    /// Connects with a given timeout for connecting and for each command.
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(store_error)?;
        Self::from_client(client, timeout).await
    }

    /// Connects to a `rediss://` `url` whose server certificate is verified against
    /// `root_cert_pem` (PEM: your own CA) instead of the system's roots.
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    pub async fn connect_with_root_cert(
        url: &str,
        root_cert_pem: &[u8],
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert_pem.to_vec()),
            },
        )
        .map_err(store_error)?;
        Self::from_client(client, timeout).await
    }

    async fn from_client(client: redis::Client, timeout: Duration) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(store_error)?;
        Ok(RedisStore {
            conn,
            prefix: "oidc:session:".into(),
            sealer: None,
            client,
            timeout,
            cache: None,
        })
    }

    /// Uses another key prefix (several apps on one Redis). Records, index sets and spent
    /// marks all live under it.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        // The cache tracks the keys under one prefix: a store with another needs its own.
        if let Some(cache) = self.cache.take() {
            self = self.with_local_cache(cache.options());
        }
        self
    }

    /// Keeps up to `cache.capacity()` decoded session records in this process, kept coherent
    /// by Redis' invalidation messages (see the crate docs, `# Client-side caching`): a load
    /// of a cached session costs no round trip, no decryption and no parsing. A logout
    /// through this store is seen by its next load at once, and by other stores once Redis'
    /// invalidation reaches them (a loopback round trip, typically); a record is never served
    /// from a cache whose tracking connection was lost. Off by default.
    pub fn with_local_cache(mut self, cache: LocalCache) -> Self {
        match Cache::new(cache, &self.client, self.timeout, self.prefix.clone()) {
            Ok(cache) => self.cache = Some(Arc::new(cache)),
            // The client was built from this very connection info, so this cannot fail in
            // practice; should it, the store works as it did, uncached.
            Err(e) => tracing::warn!(
                error = e.category(),
                "cannot set up the local session cache; records are read from redis"
            ),
        }
        self
    }

    /// Empties the local cache now, in this process. Redis announces every write, delete and
    /// expiry, `FLUSHDB` and `FLUSHALL`, but not `SWAPDB` (nor a database restored behind the
    /// tracking connection's back): after such a change, call this on every instance (or
    /// restart them) so that none serves a record from before it.
    pub fn flush_local_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.flush_all();
        }
    }

    /// What the local cache holds and has done; `None` without one.
    pub fn local_cache_stats(&self) -> Option<LocalCacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    /// Encrypts session records at rest (see the crate docs): new records under a key derived
    /// from `current`, records under `current` or any of `previous` read. Pass the app's
    /// session secret (the one given to
    /// [`session_secret`](oidc_runtime::RelyingPartyBuilder::session_secret)) as `current`,
    /// and the secrets it replaced, while records written under them may live, as `previous`.
    ///
    /// Fails when a secret is shorter than 32 bytes.
    pub fn encrypt_records(
        mut self,
        current: &[u8],
        previous: &[&[u8]],
    ) -> Result<Self, StoreError> {
        self.sealer = Some(Arc::new(Sealer::new(current, previous)?));
        // A clone with other encryption settings must not share a cache with this one: it
        // would serve records this store refuses (a plaintext record planted in Redis).
        if let Some(cache) = self.cache.take() {
            self = self.with_local_cache(cache.options());
        }
        Ok(self)
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Session ids are base64url, so no id contains the `:` that sets marks apart.
    fn spent_key(&self, key: &str) -> String {
        format!("{}spent:{key}", self.prefix)
    }

    /// Index keys are `<kind>:<base64url>`; the `idx:` sets them apart from ids and marks.
    fn index_key(&self, key: &str) -> String {
        format!("{}idx:{key}", self.prefix)
    }

    /// Runs `cmd`, once more on a new connection if the first attempt found the connection
    /// lost. Only for commands that leave the same state however often they run.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        match cmd.query_async(&mut conn).await {
            Ok(value) => Ok(value),
            Err(e) if lost_connection(&e) => {
                tracing::info!(
                    error = e.category(),
                    "the redis connection was lost; retrying once on a new one"
                );
                self.connection_lost();
                cmd.query_async(&mut conn).await.map_err(store_error)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Writes `record` and its index entries; with `only_if_present`, only over an existing
    /// record. Whether it wrote.
    async fn write(
        &self,
        id: &str,
        record: &SessionRecord,
        only_if_present: bool,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::new(format!("cannot encode the session record: {e}")))?;
        let value = match &self.sealer {
            Some(sealer) => sealer.seal(id, json.as_bytes())?,
            None => json,
        };
        let index_keys = record.index_keys();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SAVE_SCRIPT)
            .arg(1 + index_keys.len())
            .arg(self.key(id));
        for key in &index_keys {
            cmd.arg(self.index_key(key));
        }
        cmd.arg(value)
            .arg(record.expires_at)
            .arg(id)
            .arg(&self.prefix)
            .arg(if only_if_present { "1" } else { "0" });
        let written = self.query::<i64>(&cmd).await;
        // Whatever the answer (a write that timed out may still have been applied), this
        // store's next load of `id` reads Redis.
        self.forget(id);
        Ok(written? == 1)
    }

    /// Drops `id` from the local cache, if any.
    fn forget(&self, id: &str) {
        if let Some(cache) = &self.cache {
            cache.invalidate(id);
        }
    }

    /// The data connection was found broken: the local cache, if any, is flushed and its
    /// tracking connection started again.
    fn connection_lost(&self) {
        if let Some(cache) = &self.cache {
            cache.connection_lost();
        }
    }

    fn decode(&self, id: &str, stored: &str) -> Option<SessionRecord> {
        let json = match &self.sealer {
            None => stored.as_bytes().to_vec(),
            Some(sealer) => match sealer.open(id, stored) {
                Ok(json) => json,
                Err(why) => {
                    let reason = match why {
                        Unsealed::NotEncrypted => "not encrypted",
                        Unsealed::UnknownKey => "under a key this instance does not hold",
                        Unsealed::Invalid => "does not decrypt",
                    };
                    tracing::warn!(reason, "session record in redis refused; no session");
                    return None;
                }
            },
        };
        match serde_json::from_slice::<SessionRecord>(&json) {
            Ok(record) if record.is_compatible() => Some(record),
            Ok(_) => None,
            Err(e) => {
                // An unreadable record is treated as no session rather than an outage.
                // serde's message can quote the stored (maybe planted) data.
                tracing::warn!(
                    error = %oidc_runtime::log_safe(&e.to_string()),
                    "unreadable session record in redis"
                );
                None
            }
        }
    }
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let ticket = match &self.cache {
                Some(cache) => {
                    cache.ensure_tracker();
                    match cache.get(id, unix_now()) {
                        Ok(record) => return Ok(Some(record)),
                        Err(ticket) => ticket,
                    }
                }
                None => None,
            };
            let value: Option<String> = self.query(redis::cmd("GET").arg(self.key(id))).await?;
            let stored_len = value.as_ref().map_or(0, String::len);
            let record = value.and_then(|stored| self.decode(id, &stored));
            if let (Some(ticket), Some(record)) = (ticket, &record) {
                ticket.fill(record, stored_len);
            }
            Ok(record)
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.write(id, record, false).await?;
            Ok(())
        })
    }

    /// One script: the existence test and the write cannot be split by another instance's
    /// delete. A retry after a lost connection writes the same value again, or finds the
    /// record gone: the same state either way.
    fn update<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.write(id, record, true))
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let deleted = self.query::<()>(redis::cmd("DEL").arg(self.key(id))).await;
            // This store's own next load never sees the record again, without waiting for
            // Redis' invalidation; other stores' caches get that.
            self.forget(id);
            deleted
        })
    }

    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            // A relative expiry: the mark lasts `ttl` on Redis' clock, whatever the skew of
            // the instances' clocks.
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let token = random_token();
            let spent_key = self.spent_key(key);
            let mut set = redis::cmd("SET");
            set.arg(&spent_key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(millis);
            let mut conn = self.conn.clone();
            // `OK` when set, nil when the key was already there.
            match set.query_async::<Option<String>>(&mut conn).await {
                Ok(reply) => Ok(reply.is_some()),
                Err(e) if lost_connection(&e) => {
                    tracing::info!(
                        error = e.category(),
                        "the redis connection was lost; retrying once on a new one"
                    );
                    self.connection_lost();
                    if set
                        .query_async::<Option<String>>(&mut conn)
                        .await
                        .map_err(store_error)?
                        .is_some()
                    {
                        return Ok(true);
                    }
                    // The first attempt may have set the key before the connection went:
                    // then the mark holds this caller's token, and this caller won.
                    let holder: Option<String> = redis::cmd("GET")
                        .arg(&spent_key)
                        .query_async(&mut conn)
                        .await
                        .map_err(store_error)?;
                    Ok(holder.as_deref() == Some(token.as_str()))
                }
                Err(e) => Err(store_error(e)),
            }
        })
    }

    fn delete_indexed<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(DELETE_INDEXED_SCRIPT)
                .arg(1)
                .arg(self.index_key(key))
                .arg(&self.prefix);
            match self.query::<Vec<String>>(&cmd).await {
                Ok(ids) => {
                    for id in &ids {
                        self.forget(id);
                    }
                    Ok(())
                }
                Err(e) => {
                    // Which records went is unknown: none of this store's cached ones is
                    // trusted until read again.
                    if let Some(cache) = &self.cache {
                        cache.flush_all();
                    }
                    Err(e)
                }
            }
        })
    }

    /// `DEL` of the mark: idempotent, so retried once like the others. The relying party
    /// gives a mark back well within its time (a refresh lease after a refused connection or
    /// an error answer), so the mark is still the one it set.
    fn unmark<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _: () = self
                .query(redis::cmd("DEL").arg(self.spent_key(key)))
                .await?;
            Ok(())
        })
    }
}
