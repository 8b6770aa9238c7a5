//! (3) The protected route under load: for each adapter and store, `wrk` on loopback against the
//! bare route and the protected route of the same server, alternately, with a session logged in
//! beforehand (in-process, against the simulated provider).
//!
//! The server runs on one Tokio worker thread, so that it has one core and `wrk` the other; its
//! CPU time per request comes from the scheduler's accounting of this process's threads (and of
//! the Redis server's, when it is given).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oidc_bench::flow;
use oidc_bench::servers::{self, Adapter};
use oidc_runtime::{Clock, RelyingParty, SessionStore, SystemClock};
use oidc_testkit::harness::{SimTransport, TestClock};

use crate::wrk::{self, WrkRun};

/// One route of one server, measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RouteResult {
    pub(crate) adapter: String,
    pub(crate) store: String,
    /// `bare` or `protected`.
    pub(crate) route: String,
    /// The best of the rounds (highest requests per second).
    pub(crate) best: WrkRun,
    /// Server CPU time per request in that round, microseconds (this process, plus the Redis
    /// server for the Redis store when its pid is known).
    pub(crate) cpu_us_per_request: f64,
    /// Every round's requests per second.
    pub(crate) rounds_rps: Vec<f64>,
}

/// Everything the load test measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct LoadResults {
    pub(crate) connections: u32,
    pub(crate) seconds: u32,
    pub(crate) rounds: u32,
    pub(crate) routes: Vec<RouteResult>,
    /// Why some rows are missing (no Redis, ...).
    pub(crate) notes: Vec<String>,
}

struct Options {
    wrk: String,
    seconds: u32,
    connections: u32,
    rounds: u32,
    redis: Option<String>,
    redis_pid: Option<String>,
    adapters: Vec<Adapter>,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        wrk: "wrk".into(),
        seconds: 3,
        connections: 8,
        rounds: 2,
        redis: None,
        redis_pid: None,
        adapters: Adapter::ALL.to_vec(),
        out: PathBuf::from("target/bench/load.json"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--wrk" => o.wrk = value()?,
            "--seconds" => o.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--connections" => {
                o.connections = value()?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?
            }
            "--rounds" => o.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--redis" => o.redis = Some(value()?),
            "--redis-pid" => o.redis_pid = Some(value()?),
            "--adapters" => {
                let names = value()?;
                o.adapters = Adapter::ALL
                    .into_iter()
                    .filter(|a| names.split(',').any(|n| n == a.name()))
                    .collect();
            }
            "--out" => o.out = PathBuf::from(value()?),
            other => return Err(format!("load: unknown option `{other}`")),
        }
    }
    Ok(o)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = LoadResults {
        connections: o.connections,
        seconds: o.seconds,
        rounds: o.rounds,
        ..Default::default()
    };
    let mut stores = vec!["memory"];
    match (&o.redis, cfg!(feature = "redis")) {
        (Some(_), true) => stores.push("redis"),
        (Some(_), false) => results
            .notes
            .push("Redis rows skipped: oidc-bench was built without its `redis` feature".into()),
        (None, _) => results
            .notes
            .push("Redis rows skipped: no Redis server (`--redis URL`)".into()),
    }
    let script_dir = o
        .out
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    for store in stores {
        for &adapter in &o.adapters {
            eprintln!("load: {} with the {store} store", adapter.name());
            let (addr, cookie) = match runtime.block_on(serve(adapter, store, o.redis.as_deref())) {
                Ok(served) => served,
                Err(e) if store == "redis" => {
                    results.notes.push(format!("Redis rows skipped: {e}"));
                    break;
                }
                Err(e) => return Err(e),
            };
            sanity_check(addr, &cookie)?;
            let url = |route: &str| format!("http://{addr}/{route}");
            for route in ["bare", "protected"] {
                // Warm-up: connections, caches, the allocator's pools.
                wrk::run(&o.wrk, &script_dir, &url(route), &cookie, o.connections, 1)?;
            }
            let mut rounds: Vec<(&str, WrkRun, f64)> = Vec::new();
            for _ in 0..o.rounds.max(1) {
                for route in ["bare", "protected"] {
                    let cpu = || {
                        let redis = match (store, &o.redis_pid) {
                            ("redis", Some(pid)) => crate::sys::cpu_ns(pid),
                            _ => 0,
                        };
                        crate::sys::cpu_ns("self") + redis
                    };
                    let before = cpu();
                    let run = wrk::run(
                        &o.wrk,
                        &script_dir,
                        &url(route),
                        &cookie,
                        o.connections,
                        o.seconds,
                    )?;
                    let cpu_ns = cpu().saturating_sub(before);
                    if run.errors > 0 {
                        return Err(format!(
                            "{} {store} /{route}: {} errors or non-2xx answers under load",
                            adapter.name(),
                            run.errors
                        ));
                    }
                    let per_request = cpu_ns as f64 / 1e3 / run.requests.max(1) as f64;
                    rounds.push((route, run, per_request));
                }
            }
            for route in ["bare", "protected"] {
                let mine: Vec<&(&str, WrkRun, f64)> =
                    rounds.iter().filter(|(r, _, _)| *r == route).collect();
                let Some(best) = mine
                    .iter()
                    .max_by(|a, b| a.1.rps.total_cmp(&b.1.rps))
                    .copied()
                else {
                    continue;
                };
                results.routes.push(RouteResult {
                    adapter: adapter.name().into(),
                    store: store.into(),
                    route: route.into(),
                    best: best.1.clone(),
                    cpu_us_per_request: best.2,
                    rounds_rps: mine.iter().map(|r| r.1.rps).collect(),
                });
            }
        }
    }
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_vec_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&o.out, json).map_err(|e| format!("{}: {e}", o.out.display()))?;
    // The servers are dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// Starts `adapter`'s server on a relying party with `store`, logs a user in in-process, and
/// returns the address and the session cookie.
async fn serve(
    adapter: Adapter,
    store: &str,
    redis: Option<&str>,
) -> Result<(SocketAddr, String), String> {
    let addr = servers::free_addr().map_err(|e| e.to_string())?;
    let app_url = format!("http://{addr}");
    let clock = Arc::new(TestClock::new(SystemClock.now()));
    let provider = flow::provider(&app_url);
    let session_store: Arc<dyn SessionStore> = match store {
        "memory" => Arc::new(oidc_runtime::MemoryStore::new(100_000)),
        _ => redis_store(redis, adapter).await?,
    };
    let rp = RelyingParty::builder(app_url)
        .provider("default", flow::provider_config("code"))
        .transport(Arc::new(SimTransport::new(provider.clone(), clock.clone())))
        .session_store(session_store)
        .build()
        .map_err(|e| e.to_string())?;
    let (cookie, auth) = flow::start_login(&rp, None).await?;
    let cookie = flow::finish_login(&rp, &provider, clock.now(), &cookie, &auth, "alice").await?;
    servers::start(adapter, rp, addr).await?;
    Ok((addr, cookie))
}

#[cfg(feature = "redis")]
async fn redis_store(url: Option<&str>, adapter: Adapter) -> Result<Arc<dyn SessionStore>, String> {
    let url = url.ok_or("no Redis URL")?;
    let store = oidc_redis::RedisStore::connect(url)
        .await
        .map_err(|e| format!("redis at {url}: {e}"))?
        .with_prefix(format!("oidc-bench:{}:", adapter.name()));
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
async fn redis_store(
    _url: Option<&str>,
    _adapter: Adapter,
) -> Result<Arc<dyn SessionStore>, String> {
    Err("built without the `redis` feature".into())
}

/// One HTTP/1.1 request over a fresh connection: `(status, headers and body)`.
fn http_get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Result<(u16, String), String> {
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {answer}"))?;
    Ok((status, answer))
}

/// Before any load: the bare route answers, the protected route answers the logged-in user
/// without rewriting the cookie, and refuses a request without the session.
fn sanity_check(addr: SocketAddr, cookie: &str) -> Result<(), String> {
    let (status, _) = http_get(addr, "/bare", Some(cookie))?;
    if status != 200 {
        return Err(format!("/bare answered {status}"));
    }
    let (status, answer) = http_get(addr, "/protected", Some(cookie))?;
    if status != 200 {
        return Err(format!(
            "/protected with the session answered {status}: {answer}"
        ));
    }
    if answer.to_ascii_lowercase().contains("\r\nset-cookie:") {
        return Err("/protected rewrote the cookie of a valid session".into());
    }
    let (status, _) = http_get(addr, "/protected", None)?;
    if status == 200 {
        return Err("/protected answered 200 without a session".into());
    }
    Ok(())
}
