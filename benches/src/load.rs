//! (3) The protected route under load: for each adapter and store, `wrk` on loopback against the
//! bare route, the protected route, the protected route whose handler reads the claims and the
//! guard's floor in the framework's own idiom (see [`servers`]) of the same server, interleaved
//! (bare, protected, claims, floor, bare, protected, ...) for several rounds, with a session logged
//! in beforehand (in-process, against the simulated provider). The report compares each route with
//! the one measured beside it in the same round and judges on the median over rounds, so that other
//! work on the machine during one round cannot flip a target; how much of the machine that other
//! work used is recorded per round.
//!
//! The server runs on one Tokio worker thread, so that it has one core and `wrk` the other; its
//! CPU time per request comes from the scheduler's accounting of this process's threads (and of
//! the Redis server's, when it is given).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oidc_bench::floor::{store_for_floor, GuardFloor};
use oidc_bench::flow;
use oidc_bench::servers::{self, Adapter, ROUTES};
use oidc_runtime::{Clock, RelyingParty, SessionStore, SystemClock};
use oidc_testkit::harness::{SimTransport, TestClock};

use crate::sys::{CpuSnapshot, Noise};
use crate::wrk::{self, WrkRun};

/// The rounds a run makes unless told otherwise: the fewest issue 19 accepts for a published
/// figure.
pub(crate) const DEFAULT_ROUNDS: u32 = 5;

/// One route's `wrk` run within a round.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RouteRun {
    /// `bare`, `protected`, `claims` or `floor`.
    pub(crate) route: String,
    pub(crate) wrk: WrkRun,
    /// Server CPU time per request during this run, microseconds (this process, plus the
    /// Redis server for the Redis store when its pid is known).
    pub(crate) cpu_us_per_request: f64,
}

/// One round: every route once, back to back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Round {
    pub(crate) runs: Vec<RouteRun>,
    /// What other work used of the machine during the round; `None` when `/proc/stat` could
    /// not be read.
    pub(crate) noise: Option<Noise>,
}

impl Round {
    /// The run of `route` in this round.
    pub(crate) fn run(&self, route: &str) -> Option<&RouteRun> {
        self.runs.iter().find(|r| r.route == route)
    }
}

/// Every round of one server (an adapter with a store).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ServerResult {
    pub(crate) adapter: String,
    pub(crate) store: String,
    pub(crate) rounds: Vec<Round>,
}

impl ServerResult {
    /// `route`'s value `f` in every round where it ran, in round order.
    pub(crate) fn series(&self, route: &str, f: impl Fn(&RouteRun) -> f64) -> Vec<f64> {
        self.rounds
            .iter()
            .filter_map(|r| r.run(route))
            .map(f)
            .collect()
    }
}

/// Everything the load test measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct LoadResults {
    pub(crate) connections: u32,
    pub(crate) seconds: u32,
    /// Rounds per server.
    pub(crate) rounds: u32,
    pub(crate) servers: Vec<ServerResult>,
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
        rounds: DEFAULT_ROUNDS,
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
    if o.rounds == 0 || o.seconds == 0 {
        return Err("load: --rounds and --seconds must be at least 1".into());
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
        // The Redis server works for the Redis rows: its CPU is theirs, not other work.
        let helpers: Vec<String> = match (store, &o.redis_pid) {
            ("redis", Some(pid)) => vec![pid.clone()],
            _ => Vec::new(),
        };
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
            for route in ROUTES {
                // Warm-up: connections, caches, the allocator's pools.
                wrk::run(&o.wrk, &script_dir, &url(route), &cookie, o.connections, 1)?;
            }
            let mut rounds = Vec::new();
            for _ in 0..o.rounds {
                let round_start = CpuSnapshot::take(&helpers);
                let mut runs = Vec::new();
                for route in ROUTES {
                    let cpu = || {
                        helpers
                            .iter()
                            .map(|pid| crate::sys::cpu_ns(pid))
                            .sum::<u64>()
                            + crate::sys::cpu_ns("self")
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
                    if run.requests == 0 {
                        return Err(format!(
                            "{} {store} /{route}: no request completed",
                            adapter.name()
                        ));
                    }
                    runs.push(RouteRun {
                        route: route.into(),
                        cpu_us_per_request: cpu_ns as f64 / 1e3 / run.requests as f64,
                        wrk: run,
                    });
                }
                let noise = round_start.noise_until(&CpuSnapshot::take(&helpers));
                rounds.push(Round { runs, noise });
            }
            results.servers.push(ServerResult {
                adapter: adapter.name().into(),
                store: store.into(),
                rounds,
            });
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

/// The servers' session secret, shared with their `/floor` route (a benchmark's fixed key for
/// sessions that live as long as the run).
const FLOOR_SECRET: [u8; 32] = [9u8; 32];

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
    let memory = Arc::new(oidc_runtime::MemoryStore::new(100_000));
    let session_store: Arc<dyn SessionStore> = match store {
        "memory" => memory.clone(),
        _ => redis_store(redis, adapter).await?,
    };
    let rp = RelyingParty::builder(app_url)
        .provider("default", flow::provider_config("code"))
        // Known here, so that the `/floor` route checks the very cookie `/protected` gets.
        .session_secret(FLOOR_SECRET)
        .transport(Arc::new(SimTransport::new(provider.clone(), clock.clone())))
        .session_store(session_store.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let (cookie, auth) = flow::start_login(&rp, None).await?;
    let cookie = flow::finish_login(&rp, &provider, clock.now(), &cookie, &auth, "alice").await?;
    // The floor looks up the very session `/protected` reads: in the relying party's own memory
    // store, or (Redis) a copy of the record in a memory store, the memory floor being a lower
    // bound of the Redis one.
    let floor_store = match store {
        "memory" => memory,
        _ => {
            let record = session_store
                .load(flow::session_id(&cookie))
                .await
                .map_err(|e| format!("the session store: {e}"))?
                .ok_or("the logged-in session is not in the store")?;
            store_for_floor(&record, &cookie, Arc::new(SystemClock))
        }
    };
    let floor = Arc::new(GuardFloor::new(&FLOOR_SECRET, floor_store));
    servers::start(adapter, rp, floor, addr).await?;
    Ok((addr, cookie))
}

#[cfg(feature = "redis")]
async fn redis_store(url: Option<&str>, adapter: Adapter) -> Result<Arc<dyn SessionStore>, String> {
    let url = url.ok_or("no Redis URL")?;
    let store = oidc_redis::RedisStore::connect(url)
        .await
        .map_err(|e| format!("redis at {url}: {e}"))?
        .with_prefix(format!("oidc-bench:{}:", adapter.name()))
        // Issue 19 item 3: sessions read from a local cache that Redis invalidates by push.
        .with_local_cache(oidc_redis::LocalCache::new(10_000));
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

/// Before any load: the bare route answers, both protected routes answer the logged-in user
/// without rewriting the cookie, and refuse a request without the session; so does the floor
/// route, so that it does the guard's work on the very cookie the protected routes get.
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
    let (status, answer) = http_get(addr, "/floor", Some(cookie))?;
    if status != 200 {
        return Err(format!(
            "/floor with the session answered {status}: {answer}"
        ));
    }
    for route in ["/protected", "/claims", "/floor"] {
        let (status, _) = http_get(addr, route, None)?;
        if status == 200 {
            return Err(format!("{route} answered 200 without a session"));
        }
    }
    let (status, answer) = http_get(addr, "/claims", Some(cookie))?;
    if status != 200 || answer.to_ascii_lowercase().contains("\r\nset-cookie:") {
        return Err(format!(
            "/claims with the session answered {status} or rewrote the cookie: {answer}"
        ));
    }
    Ok(())
}
