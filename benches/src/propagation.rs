//! (3) Logout propagation between instances sharing Redis: how long after one instance deletes
//! a session (a logout) or deletes by index (a back-channel logout, which names the user's
//! `sid`) another instance stops accepting it.
//!
//! Two `RedisStore` clients on the same Redis, as two app instances have: A saves a session, B
//! reads it (so that any cache B keeps holds it), then A deletes it and B reads until the
//! session is gone. The time from the start of A's delete to B's first read that misses is the
//! propagation time; issue 19's target is p99 ≤ 5 ms on loopback. Everything goes through the
//! public `SessionStore` API, so the figure covers whatever a store does behind it (a
//! client-side cache with invalidations pushed by Redis included).
//!
//! The baseline, from the same run: B's read of a session it has (one round trip today).

use std::path::PathBuf;
#[cfg(feature = "redis")]
use std::sync::Arc;
#[cfg(feature = "redis")]
use std::time::{Duration, Instant};

#[cfg(feature = "redis")]
use oidc_core::SessionRecord;
#[cfg(feature = "redis")]
use oidc_runtime::SessionStore;

/// How long B may keep seeing a deleted session before the trial counts as never propagated.
#[cfg(feature = "redis")]
const GIVE_UP: Duration = Duration::from_secs(1);

/// The figures of one kind of logout, microseconds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Propagation {
    /// `logout` (delete by session id) or `back-channel logout` (delete by `sid` index).
    pub(crate) kind: String,
    /// Every trial's propagation time; a trial that gave up counts as the time it gave up
    /// after (1 s).
    pub(crate) trials_us: Vec<f64>,
    /// Trials where B still saw the session after `GIVE_UP`.
    pub(crate) gave_up: usize,
}

/// Everything this measurement made.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct PropagationResults {
    pub(crate) kinds: Vec<Propagation>,
    /// B's reads of a live session, microseconds: the baseline.
    pub(crate) read_us: Vec<f64>,
    /// Why nothing was measured, when so.
    pub(crate) note: Option<String>,
}

fn parse(args: &[String]) -> Result<(Option<String>, usize, PathBuf), String> {
    let mut redis = None;
    let mut trials = 1_000;
    let mut out = PathBuf::from("target/bench/propagation.json");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--redis" => redis = Some(value.clone()),
            "--trials" => trials = value.parse().map_err(|e| format!("--trials: {e}"))?,
            "--out" => out = PathBuf::from(value),
            other => return Err(format!("propagation: unknown option `{other}`")),
        }
    }
    if trials == 0 {
        return Err("propagation: --trials must be at least 1".into());
    }
    Ok((redis, trials, out))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (redis, trials, out) = parse(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let results = match (redis, cfg!(feature = "redis")) {
        (Some(url), true) => runtime.block_on(measure(&url, trials))?,
        (Some(_), false) => PropagationResults {
            note: Some("oidc-bench was built without its `redis` feature".into()),
            ..Default::default()
        },
        (None, _) => PropagationResults {
            note: Some("no Redis server".into()),
            ..Default::default()
        },
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_vec_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))
}

/// A session record that lives for an hour from now (Redis expires records by their
/// `expires_at`, so the fixtures' fixed time would have it gone at once), with its `sid`.
#[cfg(feature = "redis")]
fn live_record() -> Result<(SessionRecord, String), String> {
    let (mut record, _, _) = oidc_bench::flow::typical_session();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    record.expires_at = now + 3600;
    let index = record
        .index_keys()
        .into_iter()
        .find(|k| k.starts_with("sid:"))
        .or_else(|| record.index_keys().into_iter().next())
        .ok_or("the typical session has no index key for a back-channel logout")?;
    Ok((record, index))
}

#[cfg(feature = "redis")]
async fn measure(url: &str, trials: usize) -> Result<PropagationResults, String> {
    let prefix = format!("oidc-bench:propagation:{}:", std::process::id());
    let connect = || async {
        oidc_redis::RedisStore::connect(url)
            .await
            .map(|s| {
                // The instance that must see the logout reads through its local cache, as the
                // load test's stores do: the figure is the cache's invalidation delay.
                let s = s
                    .with_prefix(prefix.clone())
                    .with_local_cache(oidc_redis::LocalCache::new(10_000));
                Arc::new(s) as Arc<dyn SessionStore>
            })
            .map_err(|e| format!("redis at {url}: {e}"))
    };
    let (a, b) = (connect().await?, connect().await?);
    let (record, index) = live_record()?;
    let mut results = PropagationResults::default();
    for kind in ["logout", "back-channel logout"] {
        let mut p = Propagation {
            kind: kind.into(),
            trials_us: Vec::with_capacity(trials),
            gave_up: 0,
        };
        for trial in 0..trials {
            let id = format!("propagation-{trial:0>36}");
            a.save(&id, &record).await.map_err(|e| e.to_string())?;
            // B reads it first, as an instance serving that user's requests does.
            let read = Instant::now();
            let seen = b.load(&id).await.map_err(|e| e.to_string())?;
            results.read_us.push(read.elapsed().as_secs_f64() * 1e6);
            if seen.is_none() {
                return Err(format!("instance B does not see the session {kind} saved"));
            }
            let start = Instant::now();
            match kind {
                "logout" => a.delete(&id).await,
                _ => a.delete_indexed(&index).await,
            }
            .map_err(|e| format!("{kind}: {e}"))?;
            loop {
                if b.load(&id).await.map_err(|e| e.to_string())?.is_none() {
                    p.trials_us.push(start.elapsed().as_secs_f64() * 1e6);
                    break;
                }
                if start.elapsed() > GIVE_UP {
                    p.trials_us.push(GIVE_UP.as_secs_f64() * 1e6);
                    p.gave_up += 1;
                    // Leave nothing behind for the next trial.
                    a.delete(&id).await.map_err(|e| e.to_string())?;
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        results.kinds.push(p);
    }
    Ok(results)
}

#[cfg(not(feature = "redis"))]
async fn measure(_url: &str, _trials: usize) -> Result<PropagationResults, String> {
    Err("built without the `redis` feature".into())
}
