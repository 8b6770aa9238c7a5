//! (4) Logins at scale: N browsers log in at once against the simulated provider, in-process,
//! through the core (`RelyingParty::login`, the provider's authorization, the redirect endpoint
//! with the token, key set and userinfo calls), on a multi-threaded runtime with one worker per
//! core.
//!
//! Measured: logins per second, beside what the simulated provider alone sustains (it signs an
//! RSA-2048 ID token per login behind one lock: the bottleneck); the relying party's CPU per
//! login; peak heap and peak RSS; heap bytes held per pending login and per session (a counting
//! allocator). Checked: every pending login is freed by its callback, abandoned ones expire and
//! free their memory, and one browser holds at most `MAX_PENDING_LOGINS`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use oidc_bench::flow;
use oidc_core::session::{MAX_PENDING_LOGINS, PENDING_LOGIN_TTL};
use oidc_core::TransportError;
use oidc_runtime::{BoxFuture, Clock, MemoryStore, RelyingParty, SessionStore, Transport};
use oidc_testkit::harness::{SimTransport, TestClock};
use oidc_testkit::SimProvider;

use crate::alloc;

/// The figures for one N.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct LoginsResult {
    pub(crate) n: usize,
    pub(crate) seconds: f64,
    pub(crate) logins_per_second: f64,
    /// Logins per second the simulated provider alone sustains (its time, serialised).
    pub(crate) provider_logins_per_second: f64,
    /// CPU time of the relying party (the process minus the provider) per login, microseconds.
    pub(crate) rp_cpu_us_per_login: f64,
    pub(crate) bytes_per_pending_login: f64,
    pub(crate) bytes_per_session: f64,
    /// Peak heap above the baseline during the logins, bytes.
    pub(crate) peak_heap_bytes: i64,
    /// Peak resident set of the process so far, bytes.
    pub(crate) peak_rss_bytes: u64,
    /// Checks, each `(what, passed)`.
    pub(crate) checks: Vec<(String, bool)>,
}

/// The simulated provider behind one more lock, timing the time spent in it.
struct TimedProvider {
    sim: SimTransport,
    provider: SimProvider,
    lock: Mutex<()>,
    nanos: AtomicU64,
}

impl TimedProvider {
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let start = Instant::now();
        let out = f();
        self.nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }

    fn authorize(&self, url: &str, user: &str, now: u64) -> String {
        self.timed(|| self.provider.authorize(url, user, now))
    }
}

struct TimedTransport(Arc<TimedProvider>);

impl Transport for TimedTransport {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        // The simulated provider does its work inside `send`; the future it returns is ready.
        self.0.timed(|| self.0.sim.send(request))
    }
}

fn parse(args: &[String]) -> Result<(Vec<usize>, PathBuf), String> {
    let mut ns = vec![1_000, 10_000];
    let mut out = PathBuf::from("target/bench/logins.json");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--n" => {
                ns = value
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|e| format!("--n: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--out" => out = PathBuf::from(value),
            other => return Err(format!("logins: unknown option `{other}`")),
        }
    }
    Ok((ns, out))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (ns, out) = parse(args)?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    alloc::enable();
    let mut results = Vec::new();
    for n in ns {
        eprintln!("logins: {n} concurrent logins");
        results.push(runtime.block_on(logins(n))?);
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_vec_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))
}

/// Heap bytes of the driver's own bookkeeping (the strings it keeps per browser), which the
/// relying party does not hold.
fn held(strings: &Vec<(String, String)>) -> isize {
    (strings.capacity() * std::mem::size_of::<(String, String)>()
        + strings
            .iter()
            .map(|(a, b)| a.capacity() + b.capacity())
            .sum::<usize>()) as isize
}

async fn logins(n: usize) -> Result<LoginsResult, String> {
    let app_url = "http://app.bench";
    let clock = Arc::new(TestClock::new(1_700_000_000));
    let provider = flow::provider(app_url);
    let timed = Arc::new(TimedProvider {
        sim: SimTransport::new(provider.clone(), clock.clone()),
        provider,
        lock: Mutex::new(()),
        nanos: AtomicU64::new(0),
    });
    let store = Arc::new(MemoryStore::with_clock(1_000_000, clock.clone()));
    let rp = RelyingParty::builder(app_url)
        .provider("default", flow::provider_config("code"))
        .transport(Arc::new(TimedTransport(timed.clone())))
        .clock(clock.clone())
        .session_secret([9u8; 32])
        .session_store(store.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let mut checks = Vec::new();

    // One login first: discovery and the key set are cached, as in a running app.
    let (c, a) = flow::start_login(&rp, None).await?;
    let back = timed.authorize(&a, "warm-up", clock.now());
    let response = rp.handle_redirect(flow::callback_request(&back, &c)).await;
    if flow::session_cookie(&response).is_none() {
        return Err("the warm-up login failed".into());
    }
    let stored_before = store.len();
    timed.nanos.store(0, Ordering::Relaxed);

    let heap_base = alloc::live();
    alloc::reset_peak();
    let cpu_start = crate::sys::cpu_ns("self");
    let start = Instant::now();

    // Every browser starts its login.
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let rp = rp.clone();
            tokio::spawn(async move { flow::start_login(&rp, None).await })
        })
        .collect();
    let mut started = Vec::with_capacity(n);
    for t in tasks {
        started.push(t.await.map_err(|e| e.to_string())??);
    }
    let heap_pending = alloc::live();
    let bytes_per_pending = (heap_pending - heap_base - held(&started)) as f64 / n as f64;
    checks.push((
        format!("{n} logins pending at once: nothing in the store (they live in login cookies)"),
        store.len() == stored_before,
    ));

    // Every browser comes back from the provider.
    let now = clock.now();
    let tasks: Vec<_> = started
        .into_iter()
        .enumerate()
        .map(|(i, (cookie, auth))| {
            let rp = rp.clone();
            let timed = timed.clone();
            tokio::spawn(async move {
                let back = timed.authorize(&auth, &format!("user{i}"), now);
                drop(auth);
                let response = rp
                    .handle_redirect(flow::callback_request(&back, &cookie))
                    .await;
                flow::session_cookie(&response).ok_or_else(|| {
                    format!(
                        "login {i} failed: HTTP {}: {}",
                        response.status(),
                        String::from_utf8_lossy(response.body())
                    )
                })
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(n);
    for t in tasks {
        sessions.push(t.await.map_err(|e| e.to_string())??);
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_ns = crate::sys::cpu_ns("self").saturating_sub(cpu_start);
    let provider_ns = timed.nanos.load(Ordering::Relaxed);
    let peak_heap = alloc::peak() - heap_base;
    checks.push((
        format!("after the callbacks: {n} sessions, no pre-login record left"),
        store.len() == stored_before + n,
    ));

    // Abandoned logins: started, never finished. They store nothing (the login cookie is the
    // browser's, and expires there), and any memory they used is freed. Two waves: the second
    // must leave nothing.
    let mut left = Vec::new();
    let mut all_expired = true;
    for _ in 0..2 {
        let heap_before = alloc::live();
        let mut abandoned = Vec::with_capacity(n);
        for _ in 0..n {
            abandoned.push(flow::start_login(&rp, None).await?.0);
        }
        let grew = store.len() == stored_before + n;
        clock.advance(PENDING_LOGIN_TTL + 1);
        let mut expired = 0;
        for cookie in &abandoned {
            let record = store
                .load(flow::session_id(cookie))
                .await
                .map_err(|e| e.to_string())?;
            expired += usize::from(record.is_none());
        }
        drop(abandoned);
        all_expired &= grew && expired == n && store.len() == stored_before + n;
        left.push((alloc::live() - heap_before) as f64 / n as f64);
    }
    checks.push((
        format!(
            "{n} abandoned logins expire after {PENDING_LOGIN_TTL} s and are freed \
             (heap left per login: {:.0} B after the first wave, the store's grown table; \
             {:.0} B after the second)",
            left[0], left[1]
        ),
        all_expired && left[1] < 16.0,
    ));

    // One browser starting many logins (tabs) stores nothing either; the cap on what counts
    // (MAX_PENDING_LOGINS) is applied at the redirect endpoint and tested in the hardening suite.
    let before = store.len();
    let (mut cookie, _) = flow::start_login(&rp, None).await?;
    for _ in 0..3 * MAX_PENDING_LOGINS {
        cookie = flow::start_login(&rp, Some(&cookie)).await?.0;
    }
    checks.push((
        format!(
            "one browser starting {} logins adds {} records to the store",
            3 * MAX_PENDING_LOGINS + 1,
            store.len() - before
        ),
        store.len() == before,
    ));

    // Bytes per session: what deleting the sessions frees.
    let heap_sessions = alloc::live();
    for cookie in &sessions {
        store
            .delete(flow::session_id(cookie))
            .await
            .map_err(|e| e.to_string())?;
    }
    let bytes_per_session = (heap_sessions - alloc::live()) as f64 / n as f64;

    Ok(LoginsResult {
        n,
        seconds,
        logins_per_second: n as f64 / seconds,
        provider_logins_per_second: n as f64 / (provider_ns as f64 / 1e9),
        rp_cpu_us_per_login: cpu_ns.saturating_sub(provider_ns) as f64 / 1e3 / n as f64,
        bytes_per_pending_login: bytes_per_pending,
        bytes_per_session,
        peak_heap_bytes: peak_heap as i64,
        peak_rss_bytes: crate::sys::status_bytes("VmHWM").unwrap_or(0),
        checks,
    })
}
