//! A Redis [`SessionStore`] for `oidc-runtime`: app instances behind one Redis share logins and
//! logouts. Written once for every adapter.
//!
//! Records are stored as JSON under `<prefix><session id>` with an absolute expiry
//! (`SET ... EXAT`, Redis 6.2 or later) equal to the record's own `expires_at`, so Redis drops
//! them when the session ends. Each record carries its schema version; fields added later have
//! defaults, so instances of two adjacent versions read each other's records during a rolling
//! upgrade.
//!
//! A spent `state` (the relying party's single-use mark, [`SessionStore::mark_spent`]) is a key
//! `<prefix>spent:<hash>` set with `SET ... NX PX <ttl>`: one atomic command, so of several
//! instances receiving the same callback at once exactly one wins.
//!
//! Every call is bounded by a response timeout (2 s by default): when Redis is down, requests
//! fail fast with a [`StoreError`], which the relying party shows as a clear error page (HTTP
//! 503), and the connection is re-established in the background.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let store = oidc_redis::RedisStore::connect("redis://127.0.0.1:6379/").await?;
//! let builder = oidc_runtime::RelyingParty::builder("https://app.example")
//!     .session_store(Arc::new(store));
//! # let _ = builder; Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::time::Duration;

use oidc_runtime::{BoxFuture, SessionRecord, SessionStore, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

/// A session store on Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn store_error(e: redis::RedisError) -> StoreError {
    StoreError(format!("redis: {}", e.category()))
}

impl RedisStore {
    /// Connects to Redis at `url` (`redis://host:port/db`), with a 2 s connection and response
    /// timeout, and the key prefix `oidc:session:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, Duration::from_secs(2)).await
    }

    /// Connects with a given timeout for connecting and for each command.
    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(store_error)?;
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
        })
    }

    /// Uses another key prefix (several apps on one Redis).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Session ids are base64url, so no id contains the `:` that sets marks apart.
    fn spent_key(&self, key: &str) -> String {
        format!("{}spent:{key}", self.prefix)
    }
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let value: Option<String> = conn.get(self.key(id)).await.map_err(store_error)?;
            let Some(json) = value else { return Ok(None) };
            match serde_json::from_str::<SessionRecord>(&json) {
                Ok(record) if record.is_compatible() => Ok(Some(record)),
                Ok(_) => Ok(None),
                Err(e) => {
                    // An unreadable record is treated as no session rather than an outage.
                    // serde's message can quote the stored (maybe planted) data.
                    tracing::warn!(
                        error = %oidc_runtime::log_safe(&e.to_string()),
                        "unreadable session record in redis"
                    );
                    Ok(None)
                }
            }
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
            let mut conn = self.conn.clone();
            let options = redis::SetOptions::default()
                .with_expiration(redis::SetExpiry::EXAT(record.expires_at));
            let _: () = conn
                .set_options(self.key(id), json, options)
                .await
                .map_err(store_error)?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: () = conn.del(self.key(id)).await.map_err(store_error)?;
            Ok(())
        })
    }

    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            // A relative expiry: the mark lasts `ttl` on Redis' clock, whatever the skew of
            // the instances' clocks.
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let options = redis::SetOptions::default()
                .conditional_set(redis::ExistenceCheck::NX)
                .with_expiration(redis::SetExpiry::PX(millis));
            // `OK` when set, nil when the key was already there.
            let set: Option<String> = conn
                .set_options(self.spent_key(key), "1", options)
                .await
                .map_err(store_error)?;
            Ok(set.is_some())
        })
    }
}
