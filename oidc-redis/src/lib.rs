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
//! # TLS
//!
//! `rediss://host:port/` connects over TLS (native-tls: the system's OpenSSL on Linux, the
//! stack the HTTP client already uses), verifying the server's certificate against the
//! system's roots, or against a CA of your own with [`RedisStore::connect_with_root_cert`].
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

mod seal;

use std::sync::Arc;
use std::time::Duration;

use oidc_runtime::{BoxFuture, SessionRecord, SessionStore, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisError};

use crate::seal::{Sealer, Unsealed};

/// Writes a record and adds its id to each of its index sets, in one step.
///
/// KEYS: the record, then its index sets. ARGV: the stored value, `expires_at` (unix seconds),
/// the session id, the record key prefix. A set lives until its latest record expires (`TTL`
/// and `TIME`, not `EXPIREAT GT`, so that Redis 6.2 runs it); once it lists more than a few
/// ids, those whose record is gone (rotated, logged out, expired) are dropped, so a user who
/// logs in often does not grow it without bound.
const SAVE_SCRIPT: &str = r"
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
/// KEYS: the set. ARGV: the record key prefix.
const DELETE_INDEXED_SCRIPT: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return #ids
";

/// A session store on Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    sealer: Option<Arc<Sealer>>,
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
            .finish_non_exhaustive()
    }
}

fn store_error(e: RedisError) -> StoreError {
    StoreError(format!("redis: {}", e.category()))
}

/// Whether `e` says the connection is gone (Redis restarted, a proxy dropped it, a reconnect
/// was refused) rather than that the command failed: the connection manager then reconnects,
/// and one more attempt is worth it. A timeout is not such an error: see the crate docs.
fn lost_connection(e: &RedisError) -> bool {
    (e.is_io_error() && !e.is_timeout()) || e.is_unrecoverable_error()
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
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(store_error)?;
        Ok(RedisStore {
            conn,
            prefix: "oidc:session:".into(),
            sealer: None,
        })
    }

    /// Uses another key prefix (several apps on one Redis). Records, index sets and spent
    /// marks all live under it.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
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
                cmd.query_async(&mut conn).await.map_err(store_error)
            }
            Err(e) => Err(store_error(e)),
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
            let value: Option<String> = self.query(redis::cmd("GET").arg(self.key(id))).await?;
            Ok(value.and_then(|stored| self.decode(id, &stored)))
        })
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(record)
                .map_err(|e| StoreError(format!("cannot encode the session record: {e}")))?;
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
                .arg(&self.prefix);
            let _: () = self.query(&cmd).await?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _: () = self.query(redis::cmd("DEL").arg(self.key(id))).await?;
            Ok(())
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
            let _: () = self.query(&cmd).await?;
            Ok(())
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
