//! The Markdown report: every figure beside its baseline from the same run, the ratio, the
//! target of issue 19 and whether it is met; the load test's median over interleaved rounds with
//! its range and the share of the machine other work used in each round; the machine.
//!
//! Nothing here is a figure from another run: a target the run could not measure says "not
//! measured" and why, and a missed target gives its measured figures, never a cause written
//! in advance.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use oidc_bench::stats::{self, Bound, Spread, StatsError, Status, Target};

use crate::load::{LoadResults, ServerResult};
use crate::logins::LoginsResult;
use crate::propagation::PropagationResults;
use crate::sizes::Sizes;
use crate::sys::Noise;

struct Options {
    dir: PathBuf,
    criterion: PathBuf,
    elapsed: Option<f64>,
    command: String,
    out: PathBuf,
    quick: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut dir = PathBuf::from("target/bench");
    let mut criterion = None;
    let mut out = None;
    let mut elapsed = None;
    let mut quick = false;
    let mut command = "cargo xtask bench".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--quick" {
            quick = true;
            continue;
        }
        let value = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--dir" => dir = PathBuf::from(value),
            "--criterion" => criterion = Some(PathBuf::from(value)),
            "--out" => out = Some(PathBuf::from(value)),
            "--elapsed" => elapsed = Some(value.parse().map_err(|e| format!("--elapsed: {e}"))?),
            "--command" => command = value.clone(),
            other => return Err(format!("report: unknown option `{other}`")),
        }
    }
    Ok(Options {
        criterion: criterion.unwrap_or_else(|| dir.join("criterion")),
        out: out.unwrap_or_else(|| dir.join("report.md")),
        dir,
        elapsed,
        command,
        quick,
    })
}

/// `name` in `dir`, parsed; why not, for the "not measured" rows.
fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T, String> {
    let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("no {name}: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{name} unreadable: {e}"))
}

/// The median of a criterion benchmark, nanoseconds.
fn criterion_median(dir: &Path, group: &str, bench: &str) -> Result<f64, StatsError> {
    let path = dir
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let v: serde_json::Value = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(StatsError::Empty)?;
    let median = v["median"]["point_estimate"]
        .as_f64()
        .ok_or(StatsError::Empty)?;
    if median.is_finite() {
        Ok(median)
    } else {
        Err(StatsError::NotFinite)
    }
}

fn pct(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// The noise of a set of rounds: the range of other work's share, and the highest steal.
fn noise_text(noise: &[Option<Noise>]) -> String {
    let other: Vec<f64> = noise.iter().flatten().map(|n| n.other).collect();
    let steal = noise.iter().flatten().map(|n| n.steal).fold(0.0, f64::max);
    match Spread::of(&other) {
        Ok(s) if s.count == 1 => format!("{} (steal {})", pct(s.median), pct(steal)),
        Ok(s) => format!("{}-{} (steal ≤ {})", pct(s.min), pct(s.max), pct(steal)),
        Err(_) => "not read".into(),
    }
}

fn us(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns >= 100_000.0 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(b: f64) -> String {
    if b.abs() >= 10.0 * 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / 1024.0 / 1024.0 / 1024.0)
    } else if b.abs() >= 10.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b.abs() >= 10.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{} B", thousands(b))
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// A row of the summary table.
struct Row {
    section: &'static str,
    measure: String,
    figure: String,
    baseline: String,
    /// The ratio, or for a figure over rounds its median and range.
    ratio: String,
    /// What other work used of the machine while this was measured.
    noise: String,
    target: String,
    status: Status,
}

impl Row {
    /// A row whose figure this run could not measure.
    fn unmeasured(section: &'static str, measure: String, target: String, why: String) -> Row {
        Row {
            section,
            measure,
            figure: "not measured".into(),
            baseline: "—".into(),
            ratio: "—".into(),
            noise: "—".into(),
            target,
            status: Status::NotMeasured(why),
        }
    }
}

fn ratio_text(r: &Result<f64, StatsError>) -> String {
    match r {
        Ok(x) => format!("{x:.2}x"),
        Err(_) => "—".into(),
    }
}

/// The report's sections, each adding its rows and its details.
struct Report {
    rows: Vec<Row>,
    details: String,
    quick: bool,
    /// For a row (by its measure), the floor this run measured under it: named beside the
    /// target in "Missed targets", so that a miss shows what blocks it.
    floors: Vec<(String, String)>,
}

impl Report {
    /// A row giving the floor this run measured under the row `of` (pushed just before): the
    /// least the work it cannot skip costs, as a ratio to the same baseline, so that a missed
    /// target shows in the table what blocks it. Also named in "Missed targets". `floor` is
    /// the row's target judged on the floor's figure: when the floor misses it too, a missed
    /// target is [`Status::Blocked`].
    fn floor_row(
        &mut self,
        of: &str,
        what: &str,
        (figure, baseline, ratio): (String, String, String),
        floor: Status,
    ) {
        if floor == Status::Missed {
            if let Some(row) = self.rows.iter_mut().rev().find(|r| r.measure == of) {
                if row.status == Status::Missed {
                    row.status = Status::Blocked;
                }
            }
        }
        self.floors.push((
            of.to_owned(),
            format!("{what}: {figure} against {baseline}, {ratio}"),
        ));
        let noise = self
            .rows
            .last()
            .map_or_else(|| "—".to_owned(), |r| r.noise.clone());
        let section = self.rows.last().map_or("", |r| r.section);
        self.rows.push(Row {
            section,
            measure: format!("↳ floor: {what}"),
            figure,
            baseline,
            ratio,
            noise,
            target: "—".into(),
            status: Status::NoTarget,
        });
    }

    fn detail(&mut self, text: std::fmt::Arguments<'_>) {
        let _ = self.details.write_fmt(text);
        self.details.push('\n');
    }

    /// (1) ID token validation.
    fn id_tokens(&mut self, crit: &dyn Fn(&str, &str) -> Result<f64, StatsError>, noise: &str) {
        self.detail(format_args!(
            "### 1. ID token validation\n\nThe core's `id_token::validate` of a realistic token \
             (23 claims, about 1.3 KB) against a cached two-key JWKS, beside the floor: the bare \
             signature verification of the same token with the same library (josekit's verifier \
             over OpenSSL, built beforehand). josekit's own `jwt::decode_with_verifier` is shown \
             for reference. The session keeps the token's claims as the payload's JSON text \
             (`IdToken::claims`, a `ClaimsSet`): \"+ claims set\" adds to the floor the decoding \
             of the payload into that set alone (base64url, UTF-8, and the JSON validated as one \
             object, `id_token/<alg>-claims`), the least a validation that keeps the claims can \
             cost. Criterion medians.\n\n\
             | algorithm | core validation | josekit decode | floor (signature only) | floor + claims set | core ÷ floor | (floor + claims set) ÷ floor | josekit ÷ floor |\n\
             |---|---|---|---|---|---|---|---|"
        ));
        let target = Target::ratio(Bound::AtMost(1.2), "of the signature check");
        for (id, name) in [
            ("rs256", "RS256 (2048-bit)"),
            ("es256", "ES256"),
            ("eddsa", "EdDSA (Ed25519)"),
        ] {
            let measure = format!("ID token validation, {name}");
            let core = crit("id_token", &format!("{id}-core"));
            let floor = crit("id_token", &format!("{id}-floor"));
            let josekit = crit("id_token", &format!("{id}-josekit"));
            let claims = crit("id_token", &format!("{id}-claims"));
            let (Ok(core), Ok(floor)) = (core, floor) else {
                self.detail(format_args!("| {name} | not measured | | | | | | |"));
                self.rows.push(Row::unmeasured(
                    "1",
                    measure,
                    target.to_string(),
                    "no criterion estimate".into(),
                ));
                continue;
            };
            let ratio = stats::ratio(core, floor);
            let with_map = claims.as_ref().ok().map(|c| floor + c);
            let map_ratio = with_map.map(|w| stats::ratio(w, floor));
            self.detail(format_args!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                us(core),
                josekit.as_ref().map_or("—".into(), |j| us(*j)),
                us(floor),
                with_map.map_or("—".into(), us),
                ratio_text(&ratio),
                map_ratio.as_ref().map_or("—".into(), ratio_text),
                ratio_text(&josekit.and_then(|j| stats::ratio(j, floor))),
            ));
            self.rows.push(Row {
                section: "1",
                measure: measure.clone(),
                figure: us(core),
                baseline: format!("{} bare signature check", us(floor)),
                ratio: ratio_text(&ratio),
                noise: noise.into(),
                target: target.to_string(),
                status: target.judge(ratio),
            });
            if let (Some(with_map), Some(map_ratio)) = (with_map, &map_ratio) {
                self.floor_row(
                    &measure,
                    "signature check + payload decoded and its JSON validated into the raw claims set the session keeps",
                    (
                        us(with_map),
                        format!("{} bare signature check", us(floor)),
                        ratio_text(map_ratio),
                    ),
                    target.judge(map_ratio.clone()),
                );
            }
        }
    }

    /// (2) Callback processing, beside one validation of the same ID token.
    fn callbacks(&mut self, crit: &dyn Fn(&str, &str) -> Result<f64, StatsError>, noise: &str) {
        self.detail(format_args!(
            "\n### 2. Callback processing\n\n`oidc_core::RelyingParty::handle_redirect` from the \
             browser's request to the session write, its actions answered on the spot (no \
             executor, records in a map): state check and single use, the token request, the \
             token response, ID token validation (RS256, cached key set), userinfo with the \
             `sub` check, session id rotation and the cookie. The provider's answers were \
             recorded beforehand and are replayed (no network, no provider work); putting the \
             pending login back before each call is not timed. The baseline is one validation \
             of the very ID token that callback receives from the token endpoint, with the same \
             key set and checks (`callback/<flow>-id-token`); the hybrid flow validates two ID \
             tokens (the authorization response's, with `c_hash`, and the token endpoint's), as \
             OpenID Connect Core 3.3.2.12 and 3.3.3.7 require. Criterion medians.\n\n\
             | flow | callback | one validation of its ID token | callback ÷ validation |\n\
             |---|---|---|---|"
        ));
        for (id, name, target) in [
            ("code", "code flow", None),
            (
                "hybrid",
                "hybrid flow (`code id_token`)",
                Some(Target::ratio(Bound::AtMost(2.2), "of one validation")),
            ),
        ] {
            let measure = format!("Callback, {name}");
            let target_text = target.as_ref().map_or("—".into(), Target::to_string);
            let (Ok(t), Ok(base)) = (
                crit("callback", id),
                crit("callback", &format!("{id}-id-token")),
            ) else {
                self.detail(format_args!("| {name} | not measured | | |"));
                self.rows.push(Row::unmeasured(
                    "2",
                    measure,
                    target_text,
                    "no criterion estimate".into(),
                ));
                continue;
            };
            let ratio = stats::ratio(t, base);
            self.detail(format_args!(
                "| {name} | {} | {} | {} |",
                us(t),
                us(base),
                ratio_text(&ratio)
            ));
            self.rows.push(Row {
                section: "2",
                measure: measure.clone(),
                figure: us(t),
                baseline: format!("{} one validation of the same ID token", us(base)),
                ratio: ratio_text(&ratio),
                noise: noise.into(),
                target: target_text,
                status: target
                    .as_ref()
                    .map_or(Status::NoTarget, |t| t.judge(ratio.clone())),
            });
            // The hybrid callback does all the code flow's callback does (the token request,
            // its ID token, userinfo, the session) and validates the authorization response's
            // ID token too: it cannot cost less than the code flow's callback plus one
            // validation, both measured here.
            if id == "hybrid" {
                if let Ok(code) = crit("callback", "code") {
                    let floor = code + base;
                    self.detail(format_args!(
                        "| floor of the hybrid flow: the code flow's callback + one more \
                         validation | {} | {} | {} |",
                        us(floor),
                        us(base),
                        ratio_text(&stats::ratio(floor, base))
                    ));
                    let ratio = stats::ratio(floor, base);
                    self.floor_row(
                        &measure,
                        "the code flow's callback + one more validation (the hybrid does both)",
                        (
                            us(floor),
                            format!("{} one validation", us(base)),
                            ratio_text(&ratio),
                        ),
                        target.as_ref().map_or(Status::NoTarget, |t| t.judge(ratio)),
                    );
                }
            }
        }
    }

    /// (3) The protected route, per adapter and store, over interleaved rounds.
    ///
    /// `guard` is the criterion medians (ns) of the guard's floor (`guard/floor`: the session
    /// cookie's HMAC check and one memory-store lookup) and of the core's whole guard
    /// (`guard/authenticate`), when measured.
    fn load(
        &mut self,
        load: &Result<LoadResults, String>,
        adapters: &[&str],
        guard_cost: (Result<f64, StatsError>, Result<f64, StatsError>),
    ) {
        let guard = |store: &str| {
            Target::ratio(
                Bound::AtLeast(if store == "memory" { 0.95 } else { 0.8 }),
                "of bare",
            )
        };
        let claims_target = Target {
            bound: Bound::AtMost(2.0),
            unit: " µs",
            of: "CPU/request more",
        };
        let load = match load {
            Ok(load) => load,
            Err(why) => {
                self.detail(format_args!(
                    "\n### 3. Protected route\n\nNot measured: {why}."
                ));
                for store in ["memory", "redis"] {
                    for adapter in adapters {
                        self.rows.push(Row::unmeasured(
                            "3",
                            format!("Protected route, {adapter}, {store} store"),
                            guard(store).to_string(),
                            why.clone(),
                        ));
                    }
                }
                for adapter in adapters {
                    self.rows.push(Row::unmeasured(
                        "3",
                        format!("Handler reading the claims, {adapter}, memory store"),
                        claims_target.to_string(),
                        why.clone(),
                    ));
                }
                return;
            }
        };
        let quick_note = if self.quick {
            format!(
                " This is a `--quick` run: {} round(s) of {} s, fewer and shorter than a \
                 published run's (at least 5); its medians are a smoke test, not figures.",
                load.rounds, load.seconds
            )
        } else if load.rounds < crate::load::DEFAULT_ROUNDS {
            format!(
                " Only {} round(s): fewer than the {} a published figure is judged on.",
                load.rounds,
                crate::load::DEFAULT_ROUNDS
            )
        } else {
            String::new()
        };
        self.detail(format_args!(
            "\n### 3. Protected route\n\n`wrk` on loopback, 1 thread, {} connections, {} s per \
             run. Each server is measured in {} interleaved rounds: bare route, protected route, \
             protected route whose handler reads the user's claims (`standard_claims()`), the \
             guard's floor (`/floor`: the least guard in the framework's own idiom, an axum \
             `FromRequestParts` extractor, a Rocket request guard or a warp filter, reading the \
             session cookie, checking its HMAC and looking the session up in a memory store), \
             then again, so that each protected figure has a bare figure taken seconds before it. \
             Ratios are per round (protected ÷ bare of the same round); a target is judged on \
             the median over rounds, and the summary gives the range beside it.{quick_note} The \
             server runs on one Tokio worker thread; CPU per request is the server process's \
             (and, for Redis, the Redis server's) CPU time over the requests served. A valid \
             session is a store lookup: no signature check, no cookie rewritten (checked before \
             the load). \"Other work\" is the share of the whole machine (every core) that was \
             busy during the round but not in this process, the `wrk` runs, or the Redis server: \
             other builds and tests on a shared machine, and kernel work not charged to a \
             process.",
            load.connections, load.seconds, load.rounds
        ));
        for note in &load.notes {
            self.detail(format_args!("\n{note}."));
        }
        for server in &load.servers {
            self.server(server, &guard(&server.store), &claims_target, &guard_cost);
        }
        // The rows that the run could not make.
        for store in ["memory", "redis"] {
            for adapter in adapters {
                let done = load
                    .servers
                    .iter()
                    .any(|s| s.store == store && s.adapter == *adapter);
                if !done {
                    let why = if store == "redis" {
                        load.notes
                            .iter()
                            .find(|n| n.starts_with("Redis"))
                            .cloned()
                            .unwrap_or_else(|| "no Redis server".into())
                    } else {
                        "adapter not in this run".into()
                    };
                    self.rows.push(Row::unmeasured(
                        "3",
                        format!("Protected route, {adapter}, {store} store"),
                        guard(store).to_string(),
                        why.clone(),
                    ));
                    if store == "memory" {
                        self.rows.push(Row::unmeasured(
                            "3",
                            format!("Handler reading the claims, {adapter}, memory store"),
                            claims_target.to_string(),
                            why,
                        ));
                    }
                }
            }
        }
    }

    /// One server's rounds: the details table and its summary rows.
    fn server(
        &mut self,
        server: &ServerResult,
        guard: &Target,
        claims_target: &Target,
        guard_cost: &(Result<f64, StatsError>, Result<f64, StatsError>),
    ) {
        let rps = |route| server.series(route, |r| r.wrk.rps);
        let cpu = |route| server.series(route, |r| r.cpu_us_per_request);
        let p99 = |route| server.series(route, |r| r.wrk.p99_us);
        let (bare, protected, claims) = (rps("bare"), rps("protected"), rps("claims"));
        let ratios = stats::paired_ratios(&protected, &bare);
        let claims_cpu = stats::paired_differences(&cpu("claims"), &cpu("protected"));
        self.detail(format_args!(
            "\n#### {}, {} store\n\n\
             | round | bare req/s | protected req/s | claims req/s | floor req/s | protected ÷ bare | floor ÷ bare | CPU/req bare | protected | claims | floor | claims − protected | other work | steal |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            server.adapter, server.store
        ));
        for (i, round) in server.rounds.iter().enumerate() {
            let get = |route: &str, f: &dyn Fn(&crate::load::RouteRun) -> String| {
                round.run(route).map_or("—".into(), f)
            };
            let rps = |r: &crate::load::RouteRun| thousands(r.wrk.rps);
            let cpu = |r: &crate::load::RouteRun| format!("{:.2} µs", r.cpu_us_per_request);
            let to_bare = |route: &str| match (round.run(route), round.run("bare")) {
                (Some(p), Some(b)) => ratio_text(&stats::ratio(p.wrk.rps, b.wrk.rps)),
                _ => "—".into(),
            };
            let (ratio, floor_ratio) = (to_bare("protected"), to_bare("floor"));
            let delta = match (round.run("claims"), round.run("protected")) {
                (Some(c), Some(p)) => {
                    format!("{:+.2} µs", c.cpu_us_per_request - p.cpu_us_per_request)
                }
                _ => "—".into(),
            };
            self.detail(format_args!(
                "| {} | {} | {} | {} | {} | {ratio} | {floor_ratio} | {} | {} | {} | {} | {delta} | {} | {} |",
                i + 1,
                get("bare", &rps),
                get("protected", &rps),
                get("claims", &rps),
                get("floor", &rps),
                get("bare", &cpu),
                get("protected", &cpu),
                get("claims", &cpu),
                get("floor", &cpu),
                round.noise.map_or("not read".into(), |n| pct(n.other)),
                round.noise.map_or("not read".into(), |n| pct(n.steal)),
            ));
        }
        let noise: Vec<Option<Noise>> = server.rounds.iter().map(|r| r.noise).collect();
        let noise = noise_text(&noise);
        let median = |values: Vec<f64>| Spread::of(&values).map(|s| s.median);
        let fmt_median =
            |values: Vec<f64>, f: &dyn Fn(f64) -> String| median(values).map_or("—".into(), f);
        let spread = ratios.and_then(|r| Spread::of(&r));
        let protected_measure = format!(
            "Protected route, {}, {} store",
            server.adapter, server.store
        );
        let (bare_cpu, protected_cpu) = (median(cpu("bare")), median(cpu("protected")));
        self.rows.push(Row {
            section: "3",
            measure: protected_measure.clone(),
            figure: format!(
                "{} req/s, p99 {}, {} CPU/req",
                fmt_median(protected, &thousands),
                fmt_median(p99("protected"), &|x| format!("{x:.0} µs")),
                fmt_median(cpu("protected"), &|x| format!("{x:.1} µs")),
            ),
            baseline: format!(
                "bare route {} req/s, p99 {}, {} CPU/req",
                fmt_median(bare, &thousands),
                fmt_median(p99("bare"), &|x| format!("{x:.0} µs")),
                fmt_median(cpu("bare"), &|x| format!("{x:.1} µs")),
            ),
            ratio: spread
                .as_ref()
                .map_or("—".into(), |s| format!("median {}", s.ratio_text())),
            noise: noise.clone(),
            target: guard.to_string(),
            status: guard.judge(spread.as_ref().map(|s| s.median).map_err(Clone::clone)),
        });
        // The criterion split of the protection's CPU: the core's guard, of it the floor's
        // work outside any framework, and the rest (the adapter, the framework, the task).
        if let (Ok(bare), Ok(floor_ns), Ok(core_ns), Ok(protected)) =
            (&bare_cpu, &guard_cost.0, &guard_cost.1, &protected_cpu)
        {
            let (floor, core) = (floor_ns / 1000.0, core_ns / 1000.0);
            self.detail(format_args!(
                "\nWhere the protected route's CPU goes (medians, µs per request): bare \
                 route {bare:.2}; protected {protected:.2}, so the protection costs \
                 {:.2}; of it the core's guard (`guard/authenticate`, criterion) {core:.2}, \
                 of which the floor's work outside any framework (cookie HMAC check + one \
                 store lookup, `guard/floor`) {floor:.2}; the rest, {:.2}, is the adapter's \
                 and the framework's (the layer or filter, the extractor, the future) and the \
                 Tokio task. Added to the bare route's CPU, the criterion floor alone would \
                 allow at best {}; the `/floor` route measures it inside the framework.",
                protected - bare,
                protected - bare - core,
                ratio_text(&stats::ratio(*bare, bare + floor)),
            ));
        }
        // The floor measured under load: `/floor`, the least guard in this framework's own
        // idiom, in the same rounds as the protected route, as a ratio to the bare route of
        // its round. When its median misses the target, no guard doing that work in this
        // framework can meet it.
        let floor_rps = rps("floor");
        if floor_rps.is_empty() {
            self.detail(format_args!(
                "\nNo `/floor` runs in this load file: the guard's floor was not measured \
                 under load."
            ));
        } else {
            let floor_spread =
                stats::paired_ratios(&floor_rps, &rps("bare")).and_then(|r| Spread::of(&r));
            let floor_cpu = median(cpu("floor"));
            let idiom = match server.adapter.as_str() {
                "axum" => "its `FromRequestParts` extractor",
                "rocket" => "its request guard",
                "warp" => "its filter",
                _ => "its own guard",
            };
            let store_note = if server.store == "memory" {
                ""
            } else {
                "; a memory-store lookup, a lower bound for Redis's local cache"
            };
            let floor_status = guard.judge(
                floor_spread
                    .as_ref()
                    .map(|s| s.median)
                    .map_err(Clone::clone),
            );
            self.floor_row(
                &protected_measure,
                &format!(
                    "the least guard in {} ({idiom} reading the session cookie, HMAC check, \
                     one store lookup{store_note}), measured under load",
                    server.adapter
                ),
                (
                    format!(
                        "{} req/s, p99 {}, {} CPU/req",
                        fmt_median(floor_rps, &thousands),
                        fmt_median(p99("floor"), &|x| format!("{x:.0} µs")),
                        floor_cpu
                            .as_ref()
                            .map_or("—".into(), |x| format!("{x:.1} µs")),
                    ),
                    format!(
                        "bare route {} CPU/req",
                        bare_cpu
                            .as_ref()
                            .map_or("—".into(), |x| format!("{x:.1} µs")),
                    ),
                    floor_spread
                        .as_ref()
                        .map_or("—".into(), |s| format!("median {}", s.ratio_text())),
                ),
                floor_status.clone(),
            );
            let verdict = match (&floor_spread, floor_status) {
                (Ok(f), Status::Missed) => format!(
                    " The floor's median, {:.2}x, is itself below the target ({guard}): no \
                     guard doing this work in {} can meet it, so the target is blocked by what \
                     a guard costs in this framework.",
                    f.median, server.adapter
                ),
                (Ok(f), Status::Met) => {
                    let above = match (&protected_cpu, &floor_cpu) {
                        (Ok(p), Ok(f)) => format!(", {:+.2} µs CPU/req", p - f),
                        _ => String::new(),
                    };
                    format!(
                        " The floor's median, {:.2}x, meets the target: the adapter adds the \
                         rest (protected median {} against the floor's {:.2}x{above}).",
                        f.median,
                        spread
                            .as_ref()
                            .map_or("—".into(), |s| format!("{:.2}x", s.median)),
                        f.median
                    )
                }
                _ => String::new(),
            };
            if let Some((_, text)) = self.floors.last_mut() {
                text.push('.');
                text.push_str(verdict.trim_end_matches('.'));
            }
        }
        let claims_spread = claims_cpu.and_then(|d| Spread::of(&d));
        let memory = server.store == "memory";
        self.rows.push(Row {
            section: "3",
            measure: format!(
                "Handler reading the claims, {}, {} store",
                server.adapter, server.store
            ),
            figure: format!(
                "{} req/s, {} CPU/req",
                fmt_median(claims, &thousands),
                fmt_median(cpu("claims"), &|x| format!("{x:.2} µs")),
            ),
            baseline: format!(
                "same route, handler not reading them: {} CPU/req",
                fmt_median(cpu("protected"), &|x| format!("{x:.2} µs")),
            ),
            ratio: claims_spread.as_ref().map_or("—".into(), |s| {
                format!(
                    "median {:+.2} µs ({:+.2} to {:+.2})",
                    s.median, s.min, s.max
                )
            }),
            noise,
            target: if memory {
                claims_target.to_string()
            } else {
                "—".into()
            },
            status: if memory {
                claims_target.judge(claims_spread.map(|s| s.median))
            } else {
                Status::NoTarget
            },
        });
    }

    /// (3) Logout propagation between two Redis clients.
    fn propagation(&mut self, results: &Result<PropagationResults, String>) {
        let target = Target {
            bound: Bound::AtMost(5.0),
            unit: " ms",
            of: "p99",
        };
        let kinds = ["logout", "back-channel logout"];
        let why = match results {
            Ok(r) => r.note.clone(),
            Err(e) => Some(e.clone()),
        };
        let (Ok(results), None) = (results, why.clone()) else {
            let why = why.unwrap_or_default();
            self.detail(format_args!(
                "\n### 3b. Logout propagation (Redis)\n\nNot measured: {why}."
            ));
            for kind in kinds {
                self.rows.push(Row::unmeasured(
                    "3",
                    format!("Redis {kind} seen by another instance"),
                    target.to_string(),
                    why.clone(),
                ));
            }
            return;
        };
        let read_p50 = stats::percentile(&results.read_us, 50.0);
        self.detail(format_args!(
            "\n### 3b. Logout propagation (Redis)\n\nTwo `RedisStore` clients on the same Redis, \
             as two app instances: A saves a session, B reads it, A deletes it (by id for a \
             logout, by its `sid` index for a back-channel logout), and B reads until it is \
             gone. Propagation is the time from the start of A's delete to B's first read that \
             misses, through the public `SessionStore` API (so a store's client-side cache, if \
             it keeps one, is inside the figure). Baseline: B's read of a live session, p50 {}.\n\n\
             | kind | trials | p50 | p99 | max | never seen gone (after 1 s) |\n|---|---|---|---|---|---|",
            read_p50.as_ref().map_or("—".into(), |x| format!("{x:.0} µs"))
        ));
        for kind in kinds {
            let measure = format!("Redis {kind} seen by another instance");
            let Some(p) = results.kinds.iter().find(|k| k.kind == kind) else {
                self.rows.push(Row::unmeasured(
                    "3",
                    measure,
                    target.to_string(),
                    "no trial".into(),
                ));
                continue;
            };
            let at = |q: f64| stats::percentile(&p.trials_us, q);
            let show =
                |r: Result<f64, StatsError>| r.map_or("—".into(), |x| format!("{x:.0} µs"));
            self.detail(format_args!(
                "| {kind} | {} | {} | {} | {} | {} |",
                p.trials_us.len(),
                show(at(50.0)),
                show(at(99.0)),
                show(at(100.0)),
                p.gave_up
            ));
            self.rows.push(Row {
                section: "3",
                measure,
                figure: format!(
                    "p50 {}, p99 {} over {} trials",
                    show(at(50.0)),
                    show(at(99.0)),
                    p.trials_us.len()
                ),
                baseline: format!("one session read, p50 {}", show(read_p50.clone())),
                ratio: "—".into(),
                noise: "—".into(),
                target: target.to_string(),
                status: target.judge(at(99.0).map(|us| us / 1e3)),
            });
        }
    }

    /// (4) Logins at scale.
    fn logins(&mut self, logins: &Result<Vec<LoginsResult>, String>) {
        let cpu_target = Target {
            bound: Bound::AtMost(0.3),
            unit: " ms",
            of: "",
        };
        let expected = [1_000usize, 10_000];
        let logins = match logins {
            Ok(l) => l.as_slice(),
            Err(why) => {
                self.detail(format_args!(
                    "\n### 4. Logins at scale\n\nNot measured: {why}."
                ));
                for n in expected {
                    self.rows.push(Row::unmeasured(
                        "4",
                        format!("App CPU per login, N = {}", thousands(n as f64)),
                        cpu_target.to_string(),
                        why.clone(),
                    ));
                }
                return;
            }
        };
        self.detail(format_args!(
            "\n### 4. Logins at scale\n\nN browsers log in at once (code flow with userinfo, \
             RS256 ID tokens), in-process, through the core against the simulated provider \
             (which signs an RSA-2048 ID token per login behind one lock), on a runtime with one \
             worker per core. \"Provider alone\" is N over the time spent inside the provider: \
             the rate it sustains by itself. App CPU per login is the process's CPU time minus \
             the provider's, over N. Heap figures come from a counting allocator; per pending \
             login and per session are what the relying party holds (the session figure is what \
             deleting the sessions frees).\n\n\
             | N | time | logins/s | provider alone | app CPU per login | provider per login | peak heap | peak RSS | per pending login | per session |\n\
             |---|---|---|---|---|---|---|---|---|---|"
        ));
        for l in logins {
            self.detail(format_args!(
                "| {} | {:.2} s | {} | {} | {:.0} µs | {} | {} | {} | {} | {} |",
                thousands(l.n as f64),
                l.seconds,
                thousands(l.logins_per_second),
                thousands(l.provider_logins_per_second),
                l.rp_cpu_us_per_login,
                stats::ratio(1e6, l.provider_logins_per_second)
                    .map_or("—".into(), |x| format!("{x:.0} µs")),
                bytes(l.peak_heap_bytes as f64),
                bytes(l.peak_rss_bytes as f64),
                bytes(l.bytes_per_pending_login),
                bytes(l.bytes_per_session),
            ));
        }
        self.detail(format_args!("\nChecks:\n"));
        for l in logins {
            for (what, ok) in &l.checks {
                self.detail(format_args!("- [{}] {what}", if *ok { "x" } else { " " }));
            }
        }
        for n in expected {
            let name = thousands(n as f64);
            let Some(l) = logins.iter().find(|l| l.n == n) else {
                let why = if self.quick {
                    "--quick runs N = 1,000 only".to_owned()
                } else {
                    "not in this run".to_owned()
                };
                self.rows.push(Row::unmeasured(
                    "4",
                    format!("App CPU per login, N = {name}"),
                    cpu_target.to_string(),
                    why,
                ));
                continue;
            };
            let provider_us = stats::ratio(1e6, l.provider_logins_per_second);
            let cpu_ms = if l.rp_cpu_us_per_login.is_finite() {
                Ok(l.rp_cpu_us_per_login / 1e3)
            } else {
                Err(StatsError::NotFinite)
            };
            self.rows.push(Row {
                section: "4",
                measure: format!("App CPU per login (code flow, userinfo, RS256), N = {name}"),
                figure: format!("{:.0} µs", l.rp_cpu_us_per_login),
                baseline: format!(
                    "simulated provider's own work {} per login",
                    provider_us
                        .as_ref()
                        .map_or("—".into(), |x| format!("{x:.0} µs"))
                ),
                ratio: ratio_text(
                    &provider_us.and_then(|p| stats::ratio(l.rp_cpu_us_per_login, p)),
                ),
                noise: "—".into(),
                target: cpu_target.to_string(),
                status: cpu_target.judge(cpu_ms),
            });
            let ok = l.checks.iter().all(|(_, ok)| *ok);
            self.rows.push(Row {
                section: "4",
                measure: format!("Logins per second, N = {name}"),
                figure: format!(
                    "{} logins/s; peak heap {}",
                    thousands(l.logins_per_second),
                    bytes(l.peak_heap_bytes as f64)
                ),
                baseline: format!(
                    "simulated provider alone {} logins/s",
                    thousands(l.provider_logins_per_second)
                ),
                ratio: ratio_text(&stats::ratio(
                    l.logins_per_second,
                    l.provider_logins_per_second,
                )),
                noise: "—".into(),
                target: "checks under (4) pass".into(),
                status: if ok { Status::Met } else { Status::Missed },
            });
        }
    }

    /// (5) Session size.
    fn sizes(
        &mut self,
        sizes: &Result<Sizes, String>,
        crit: &dyn Fn(&str, &str) -> Result<f64, StatsError>,
    ) {
        let target = Target::ratio(Bound::AtMost(2.0), "of its JSON");
        let sizes = match sizes {
            Ok(s) => s,
            Err(why) => {
                self.detail(format_args!(
                    "\n### 5. Session size\n\nNot measured: {why}."
                ));
                for id in ["typical", "enterprise"] {
                    self.rows.push(Row::unmeasured(
                        "5",
                        format!("Memory per session, {id}"),
                        target.to_string(),
                        why.clone(),
                    ));
                }
                return;
            }
        };
        self.detail(format_args!(
            "\n### 5. Session size\n\nThe stored record keeps the raw ID token (for \
             `id_token_hint`) and its claims (the payload's JSON text), the access and refresh \
             tokens, and userinfo (the response's JSON text). JSON is what `oidc-redis` stores; the in-memory store holds the parsed \
             record (heap, counted). The browser holds only the signed session id. Read times \
             are criterion medians (`session` bench).\n\n\
             | session | JSON (Redis) | in-memory store | memory ÷ JSON | tokens (ID + access + refresh) | memory-store load | JSON decode | a client-side cookie would be |\n\
             |---|---|---|---|---|---|---|---|"
        ));
        for (s, id) in sizes.sessions.iter().zip(["typical", "enterprise"]) {
            let raw = s.id_token_bytes + s.access_token_bytes + s.refresh_token_bytes;
            let ratio = stats::ratio(s.memory_store_bytes, s.json_bytes as f64);
            self.detail(format_args!(
                "| {} | {} | {} | {} | {} ({} + {} + {}) | {} | {} | {} |",
                s.name,
                bytes(s.json_bytes as f64),
                bytes(s.memory_store_bytes),
                ratio_text(&ratio),
                bytes(raw as f64),
                s.id_token_bytes,
                s.access_token_bytes,
                s.refresh_token_bytes,
                crit("session", &format!("{id}-memory-load")).map_or("—".into(), us),
                crit("session", &format!("{id}-json-decode")).map_or("—".into(), us),
                bytes(s.client_side_cookie_bytes as f64),
            ));
            let measure = format!("Memory per session, {id}");
            self.rows.push(Row {
                section: "5",
                measure: measure.clone(),
                figure: format!("{} in the memory store", bytes(s.memory_store_bytes)),
                baseline: format!("its JSON {}", bytes(s.json_bytes as f64)),
                ratio: ratio_text(&ratio),
                noise: "—".into(),
                target: target.to_string(),
                status: target.judge(ratio),
            });
            // What a record cannot go below: the tokens it must keep (their bytes) and the two
            // claims sets, each its raw JSON (their heap, measured alone).
            if s.claims_sets_bytes > 0.0 {
                let floor = raw as f64 + s.claims_sets_bytes;
                self.detail(format_args!(
                    "\n{}: the two claims sets (ID token, userinfo) hold {} of heap for {} of \
                     JSON; the tokens the record keeps are {}; the rest of the record, the \
                     store's index entries and the session id take {}.",
                    s.name,
                    bytes(s.claims_sets_bytes),
                    bytes(s.claims_json_bytes as f64),
                    bytes(raw as f64),
                    bytes((s.memory_store_bytes - floor).max(0.0)),
                ));
                let floor_ratio = stats::ratio(floor, s.json_bytes as f64);
                self.floor_row(
                    &measure,
                    &format!("its tokens + its two claims sets as their raw JSON, {id}"),
                    (
                        format!(
                            "{} ({} tokens + {} claims sets of {} JSON)",
                            bytes(floor),
                            bytes(raw as f64),
                            bytes(s.claims_sets_bytes),
                            bytes(s.claims_json_bytes as f64)
                        ),
                        format!("its JSON {}", bytes(s.json_bytes as f64)),
                        ratio_text(&floor_ratio),
                    ),
                    target.judge(floor_ratio),
                );
            }
        }
        let client = sizes
            .sessions
            .first()
            .map_or(0, |s| s.client_side_cookie_bytes);
        self.detail(format_args!(
            "\nThe cookie: `oidc_session=<id>.<mac>` is {} (the whole `Set-Cookie` with its \
             attributes {}), whatever the tokens; browsers cap a cookie at 4,096 B.",
            bytes(sizes.cookie_bytes as f64),
            bytes(sizes.set_cookie_bytes as f64)
        ));
        self.rows.push(Row {
            section: "5",
            measure: "Cookie the browser holds".into(),
            figure: bytes(sizes.cookie_bytes as f64),
            baseline: format!("client-side session cookie {}", bytes(client as f64)),
            ratio: ratio_text(&stats::ratio(sizes.cookie_bytes as f64, client as f64)),
            noise: "—".into(),
            target: "—".into(),
            status: Status::NoTarget,
        });
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let (md, summary) = render(&o);
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&o.out, &md).map_err(|e| format!("{}: {e}", o.out.display()))?;
    // The summary alone, for the README.
    std::fs::write(o.dir.join("summary.md"), summary).map_err(|e| format!("summary.md: {e}"))?;
    print!("{md}");
    Ok(())
}

/// The report and its summary table, from what the run left in `o.dir`.
fn render(o: &Options) -> (String, String) {
    let crit = |g: &str, b: &str| criterion_median(&o.criterion, g, b);
    let criterion_noise = read_json::<Noise>(&o.dir, "criterion-noise.json").map_or_else(
        |_| "not read".to_owned(),
        |n| {
            format!(
                "{} over the criterion step (steal {})",
                pct(n.other),
                pct(n.steal)
            )
        },
    );
    let adapters: Vec<&str> = oidc_bench::servers::Adapter::ALL
        .iter()
        .map(|a| a.name())
        .collect();
    let mut report = Report {
        rows: Vec::new(),
        details: String::new(),
        quick: o.quick,
        floors: Vec::new(),
    };
    report.id_tokens(&crit, &criterion_noise);
    report.callbacks(&crit, &criterion_noise);
    report.load(
        &read_json(&o.dir, "load.json"),
        &adapters,
        (crit("guard", "floor"), crit("guard", "authenticate")),
    );
    report.propagation(&read_json(&o.dir, "propagation.json"));
    report.logins(&read_json(&o.dir, "logins.json"));
    report.sizes(&read_json(&o.dir, "sizes.json"), &crit);
    let Report {
        rows,
        details,
        floors,
        ..
    } = report;

    // The report.
    let (cores, model, memory, kernel) = crate::sys::machine();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut md = String::new();
    let _ = writeln!(md, "# oidc-rs benchmark report\n");
    let _ = writeln!(
        md,
        "Produced by `{}` on {}{}.\n\nMachine: **{cores} cores** ({model}), {} memory, Linux {kernel}. \
         Every figure below was measured in this run, beside a baseline measured in this run; \
         the \"other work\" column says how much of the machine other processes used meanwhile.\n",
        o.command,
        utc(now),
        o.elapsed
            .map_or(String::new(), |s| format!(", in {:.1} min", s / 60.0)),
        bytes(memory as f64),
    );
    if o.quick {
        let _ = writeln!(
            md,
            "**Quick run** (`--quick`): shorter criterion runs, fewer and shorter load rounds, \
             N = 1,000 only. A smoke test of the benchmarks: its figures are not for publishing \
             (`--quick` never updates the README).\n"
        );
    }
    let _ = writeln!(md, "## Summary\n");
    md.push_str(&summary_table(&rows));
    let missed: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Missed | Status::Blocked))
        .collect();
    let unmeasured: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.status, Status::NotMeasured(_)))
        .collect();
    if missed.is_empty() && unmeasured.is_empty() {
        let _ = writeln!(md, "\nEvery target is met.");
    }
    if !missed.is_empty() {
        let _ = writeln!(md, "\n## Missed targets\n");
        for r in &missed {
            let floor = floors
                .iter()
                .find(|(measure, _)| *measure == r.measure)
                .map_or(String::new(), |(_, floor)| {
                    format!(" Measured floor: {floor}.")
                });
            // The guard's floor already says why it blocks the target, in its framework's terms.
            let blocked = if r.status == Status::Blocked && !floor.contains("is blocked") {
                " Blocked: the floor misses the target too, so no implementation doing that \
                 work meets it on this machine."
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "- **{}**: {} against {} (target {}; details under ({})).{floor}{blocked}",
                r.measure, r.figure, r.baseline, r.target, r.section
            );
        }
    }
    if !unmeasured.is_empty() {
        let _ = writeln!(md, "\n## Not measured\n");
        for r in &unmeasured {
            let _ = writeln!(
                md,
                "- **{}** (target {}): {}.",
                r.measure, r.target, r.status
            );
        }
    }
    let _ = writeln!(md, "\n## Details\n\n{details}");
    let _ = writeln!(
        md,
        "\n## How to run\n\n`cargo xtask bench` ({}, the build of `oidc-bench` included). It \
         installs `wrk` (and `redis-server`, for the Redis rows) when missing, builds and runs \
         the criterion benches of `benches/` (`cargo bench -p oidc-bench`), then \
         `oidc-bench load` (interleaved rounds, `--rounds N`, at least 5 for a published run), \
         `propagation`, `logins` and `sizes`, and writes this report to \
         `target/bench/report.md`; `--update-readme` also puts the summary table into the \
         README (refused with `--quick`).",
        o.elapsed
            .map_or("about 10 minutes on 2 cores".into(), |s| format!(
                "this run: {:.1} min",
                s / 60.0
            ))
    );
    let summary = summary_table(&rows);
    (md, summary)
}

fn summary_table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| # | measure | figure | baseline (same run) | ratio (median, min-max over rounds) | other work | target | status |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.section, r.measure, r.figure, r.baseline, r.ratio, r.noise, r.target, r.status
        );
    }
    t
}

#[cfg(test)]
mod tests {
    //! The report from hand-made measurements: targets judged on medians in the right
    //! direction, and what a run did not measure said so, never a NaN or a panic.

    use super::*;
    use serde_json::{json, Value};

    /// A fresh directory for one test's measurements.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("oidc-bench-report-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    }

    fn options(dir: &Path, quick: bool) -> Options {
        Options {
            criterion: dir.join("criterion"),
            out: dir.join("report.md"),
            dir: dir.to_path_buf(),
            elapsed: None,
            command: "test".into(),
            quick,
        }
    }

    fn write(dir: &Path, name: &str, value: &Value) {
        std::fs::write(dir.join(name), value.to_string()).expect("written");
    }

    fn run(route: &str, rps: f64, cpu: f64) -> Value {
        json!({
            "route": route,
            "wrk": {"requests": (rps * 2.0) as u64, "seconds": 2.0, "rps": rps,
                    "p50_us": 40.0, "p99_us": 90.0, "errors": 0},
            "cpu_us_per_request": cpu,
        })
    }

    /// Rounds with these protected ÷ bare ratios (bare at 100,000 req/s) and a claims handler
    /// costing `claims_extra` µs of CPU per request more than the protected one; the floor
    /// route at 0.97x of bare.
    fn server(adapter: &str, ratios: &[f64], claims_extra: f64) -> Value {
        server_with_floor(adapter, ratios, claims_extra, 0.97)
    }

    /// As [`server`], the floor route at `floor` times bare (and 6.5 µs of CPU per request).
    fn server_with_floor(adapter: &str, ratios: &[f64], claims_extra: f64, floor: f64) -> Value {
        let rounds: Vec<Value> = ratios
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "runs": [
                        run("bare", 100_000.0, 6.0),
                        run("protected", 100_000.0 * r, 7.0),
                        run("claims", 95_000.0 * r, 7.0 + claims_extra),
                        run("floor", 100_000.0 * floor, 6.5),
                    ],
                    "noise": {"other": 0.03 * (i + 1) as f64, "steal": 0.0},
                })
            })
            .collect();
        json!({"adapter": adapter, "store": "memory", "rounds": rounds})
    }

    /// The status cell of the summary row whose measure starts with `measure`.
    fn status<'a>(summary: &'a str, measure: &str) -> &'a str {
        let line = summary
            .lines()
            .find(|l| {
                l.split('|')
                    .nth(2)
                    .is_some_and(|m| m.trim().starts_with(measure))
            })
            .unwrap_or_else(|| panic!("no row `{measure}` in\n{summary}"));
        line.trim_end_matches('|')
            .rsplit('|')
            .next()
            .map_or("", str::trim)
    }

    /// No word of the report is a float that is not a number (`userinfo` is fine).
    fn assert_no_nan(text: &str) {
        let words = text.split(|c: char| !c.is_ascii_alphanumeric());
        for word in words {
            assert!(
                !["NaN", "inf"].contains(&word),
                "`{word}` in the report:\n{text}"
            );
        }
    }

    #[test]
    fn an_empty_run_is_not_measured_everywhere() {
        let dir = scratch("empty");
        let (md, summary) = render(&options(&dir, false));
        assert_no_nan(&md);
        for measure in [
            "ID token validation, RS256",
            "Callback, hybrid flow",
            "Protected route, axum, memory store",
            "Protected route, warp, redis store",
            "Handler reading the claims, rocket",
            "Redis logout seen by another instance",
            "App CPU per login, N = 10,000",
            "Memory per session, typical",
        ] {
            assert!(
                status(&summary, measure).starts_with("not measured ("),
                "{measure}: {}",
                status(&summary, measure)
            );
        }
        assert!(!summary.contains("| met |") && !summary.contains("**missed**"));
        assert!(md.contains("## Not measured") && !md.contains("Every target is met"));
    }

    #[test]
    fn the_guard_is_judged_on_the_median_of_interleaved_rounds() {
        let dir = scratch("load");
        write(
            &dir,
            "load.json",
            &json!({
                "connections": 8, "seconds": 2, "rounds": 5,
                "servers": [
                    // One disturbed round each way: the median stays at 0.97x.
                    server("axum", &[0.97, 1.24, 0.96, 0.98, 0.84], 1.0),
                    server("warp", &[0.90, 0.99, 0.93, 0.94, 0.80], 3.0),
                ],
                "notes": ["Redis rows skipped: no Redis server (`--redis URL`)"],
            }),
        );
        let (md, summary) = render(&options(&dir, false));
        assert_no_nan(&md);
        assert_eq!(status(&summary, "Protected route, axum, memory"), "met");
        assert!(summary.contains("median 0.97x (0.84-1.24)"), "{summary}");
        assert_eq!(
            status(&summary, "Protected route, warp, memory"),
            "**missed**"
        );
        // Lower is better for the claims read: 1 µs meets ≤ 2 µs, 3 µs misses it.
        assert_eq!(status(&summary, "Handler reading the claims, axum"), "met");
        assert_eq!(
            status(&summary, "Handler reading the claims, warp"),
            "**missed**"
        );
        assert_eq!(
            status(&summary, "Protected route, rocket, memory"),
            "not measured (adapter not in this run)"
        );
        assert!(status(&summary, "Protected route, axum, redis")
            .starts_with("not measured (Redis rows skipped: no Redis server"));
        // Other work per round, and its range per server.
        assert!(summary.contains("3 %-15 % (steal ≤ 0 %)"), "{summary}");
        assert!(
            md.contains("| 5 | 100,000 | 84,000 | 79,800 | 97,000 | 0.84x | 0.97x |"),
            "{md}"
        );
    }

    #[test]
    fn a_zero_baseline_is_not_measured_rather_than_a_ratio() {
        let dir = scratch("zero");
        let mut axum = server("axum", &[1.0, 1.0, 1.0], 1.0);
        for round in axum["rounds"].as_array_mut().expect("rounds") {
            round["runs"][0]["wrk"]["rps"] = json!(0.0);
            round["noise"] = Value::Null;
        }
        write(
            &dir,
            "load.json",
            &json!({"connections": 8, "seconds": 1, "rounds": 3, "servers": [axum], "notes": []}),
        );
        let (md, summary) = render(&options(&dir, false));
        assert_no_nan(&md);
        assert_eq!(
            status(&summary, "Protected route, axum, memory"),
            "not measured (the baseline is not positive)"
        );
        assert!(md.contains("not read"));
    }

    #[test]
    fn a_quick_run_says_so_and_leaves_n_10000_unmeasured() {
        let dir = scratch("quick");
        let logins = |cpu: f64| {
            json!([{
                "n": 1000, "seconds": 0.3, "logins_per_second": 3300.0,
                "provider_logins_per_second": 4000.0, "rp_cpu_us_per_login": cpu,
                "bytes_per_pending_login": 600.0, "bytes_per_session": 4000.0,
                "peak_heap_bytes": 7000000, "peak_rss_bytes": 90000000,
                "checks": [["pending logins are freed", true]],
            }])
        };
        write(&dir, "logins.json", &logins(250.0));
        let (md, summary) = render(&options(&dir, true));
        assert!(md.contains("**Quick run**"));
        assert_eq!(status(&summary, "App CPU per login (code flow"), "met");
        assert_eq!(
            status(&summary, "App CPU per login, N = 10,000"),
            "not measured (--quick runs N = 1,000 only)"
        );
        write(&dir, "logins.json", &logins(350.0));
        let (_, summary) = render(&options(&dir, true));
        assert_eq!(
            status(&summary, "App CPU per login (code flow"),
            "**missed**"
        );
    }

    /// A criterion median (ns) where `criterion_median` reads it.
    fn criterion(dir: &Path, group: &str, bench: &str, ns: f64) {
        let dir = dir.join("criterion").join(group).join(bench).join("new");
        std::fs::create_dir_all(&dir).expect("a criterion directory");
        write(
            &dir,
            "estimates.json",
            &json!({"median": {"point_estimate": ns}}),
        );
    }

    /// The summary row whose measure starts with `measure`.
    fn row<'a>(summary: &'a str, measure: &str) -> &'a str {
        summary
            .lines()
            .find(|l| {
                l.split('|')
                    .nth(2)
                    .is_some_and(|m| m.trim().starts_with(measure))
            })
            .unwrap_or_else(|| panic!("no row `{measure}` in\n{summary}"))
    }

    /// A missed target is followed by the floor this run measured under it, in the table and
    /// in "Missed targets": the signature check plus the claims set for ID tokens, the code
    /// flow's callback plus a validation for the hybrid flow, the bare route plus the guard's
    /// unavoidable work for the protected route, the tokens plus the claims sets for memory.
    #[test]
    fn a_missed_target_shows_the_floor_measured_under_it() {
        let dir = scratch("floors");
        criterion(&dir, "id_token", "rs256-core", 26_000.0);
        criterion(&dir, "id_token", "rs256-floor", 20_000.0);
        criterion(&dir, "id_token", "rs256-claims", 3_000.0);
        criterion(&dir, "callback", "code", 46_000.0);
        criterion(&dir, "callback", "code-id-token", 25_000.0);
        criterion(&dir, "callback", "hybrid", 76_000.0);
        criterion(&dir, "callback", "hybrid-id-token", 24_000.0);
        criterion(&dir, "guard", "floor", 300.0);
        criterion(&dir, "guard", "authenticate", 600.0);
        write(
            &dir,
            "load.json",
            &json!({
                "connections": 8, "seconds": 2, "rounds": 5, "notes": [],
                "servers": [
                    // The floor itself below 0.95x: the target is blocked.
                    server_with_floor("axum", &[0.85, 0.86, 0.84, 0.85, 0.85], 1.0, 0.90),
                    // The floor above it: the adapter adds the rest.
                    server_with_floor("warp", &[0.85, 0.86, 0.84, 0.85, 0.85], 1.0, 0.97),
                ],
            }),
        );
        let session = json!({"name": "typical", "json_bytes": 1500, "memory_store_bytes": 4200.0,
               "id_token_bytes": 700, "access_token_bytes": 40, "refresh_token_bytes": 40,
               "claims_sets_bytes": 2500.0, "claims_json_bytes": 400,
               "client_side_cookie_bytes": 2100});
        write(
            &dir,
            "sizes.json",
            &json!({"sessions": [session.clone(), session],
                    "cookie_bytes": 100, "set_cookie_bytes": 160}),
        );
        let (md, summary) = render(&options(&dir, false));
        assert_no_nan(&md);
        assert_eq!(status(&summary, "ID token validation, RS256"), "**missed**");
        // A missed target whose floor misses it too is blocked; one whose floor meets it is
        // only missed.
        let blocked = "**missed**, blocked by its floor";
        assert_eq!(status(&summary, "Callback, hybrid flow"), blocked);
        assert_eq!(
            status(&summary, "Protected route, axum, memory store"),
            blocked
        );
        assert_eq!(status(&summary, "Memory per session, typical"), blocked);
        assert_eq!(
            status(&summary, "Protected route, warp, memory store"),
            "**missed**"
        );
        // 20 µs + 3 µs over 20 µs.
        assert!(row(&summary, "↳ floor: signature check").contains("1.15x"));
        // 46 µs + 24 µs over 24 µs.
        assert!(row(&summary, "↳ floor: the code flow's callback").contains("2.92x"));
        // The guard's floor is the `/floor` route, measured under load beside bare.
        let guard = row(&summary, "↳ floor: the least guard in axum");
        assert!(
            guard.contains("median 0.90x (0.90-0.90)")
                && guard.contains("90,000 req/s")
                && guard.contains("6.5 µs CPU/req")
                && guard.contains("bare route 6.0 µs CPU/req"),
            "{guard}"
        );
        assert!(row(&summary, "↳ floor: the least guard in warp").contains("median 0.97x"));
        // The criterion split stays in the details: 6 µs of bare CPU per request + 0.3 µs of
        // `guard/floor`, at best 6 ÷ 6.3.
        assert!(md.contains("the core's guard (`guard/authenticate`, criterion) 0.60"));
        assert!(md.contains("would allow at best 0.95x"), "{md}");
        // 780 B of tokens + 2,500 B of claims sets over 1,500 B of JSON.
        assert!(row(&summary, "↳ floor: its tokens + its two claims sets").contains("2.19x"));
        let missed = md
            .split("## Missed targets")
            .nth(1)
            .and_then(|m| m.split("\n## ").next())
            .expect("a missed-targets section");
        for measure in [
            "ID token validation, RS256",
            "Callback, hybrid flow",
            "Protected route, axum, memory store",
            "Memory per session, typical",
        ] {
            let line = missed
                .lines()
                .find(|l| l.contains(measure))
                .unwrap_or_else(|| panic!("{measure} not in\n{missed}"));
            assert!(line.contains("Measured floor: "), "{line}");
        }
        let missed_line = |measure: &str| {
            missed
                .lines()
                .find(|l| l.contains(measure))
                .unwrap_or_else(|| panic!("{measure} not in\n{missed}"))
        };
        let axum = missed_line("Protected route, axum, memory store");
        assert!(
            axum.contains("The floor's median, 0.90x, is itself below the target")
                && axum.contains("the target is blocked")
                && !axum.contains("Blocked: the floor misses the target too"),
            "{axum}"
        );
        assert!(missed_line("Callback, hybrid flow").contains("Blocked: "));
        assert!(!missed_line("ID token validation, RS256").contains("Blocked: "));
        // 7 µs of CPU per request protected, 6.5 µs at the floor.
        let warp = missed_line("Protected route, warp, memory store");
        assert!(
            warp.contains("The floor's median, 0.97x, meets the target: the adapter adds")
                && warp.contains("+0.50 µs CPU/req"),
            "{warp}"
        );
        // Floor rows carry no target of their own.
        assert!(summary
            .lines()
            .filter(|l| l.contains("↳ floor"))
            .all(|l| l.trim_end().ends_with("| — | — |")));
    }

    #[test]
    fn memory_per_session_is_judged_against_its_json() {
        let dir = scratch("sizes");
        let session = |memory: f64| {
            json!({"name": "typical", "json_bytes": 1500, "memory_store_bytes": memory,
                   "id_token_bytes": 700, "access_token_bytes": 40, "refresh_token_bytes": 40,
                   "client_side_cookie_bytes": 2100})
        };
        write(
            &dir,
            "sizes.json",
            &json!({"sessions": [session(2900.0), session(4200.0)],
                    "cookie_bytes": 100, "set_cookie_bytes": 160}),
        );
        let (md, summary) = render(&options(&dir, false));
        assert_no_nan(&md);
        assert_eq!(status(&summary, "Memory per session, typical"), "met");
        assert_eq!(
            status(&summary, "Memory per session, enterprise"),
            "**missed**"
        );
    }
}
