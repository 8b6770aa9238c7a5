//! (5) Session size: bytes per stored session for typical tokens (the JSON a shared store such
//! as Redis holds, and the heap the in-memory store holds), and the cookie the browser holds.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use futures_util::FutureExt;
use oidc_bench::flow::{enterprise_session, typical_session, COOKIE_NAME};
use oidc_core::SessionRecord;
use oidc_runtime::{MemoryStore, SessionStore};
use oidc_testkit::harness::TestClock;

use crate::alloc;

/// The sizes of one kind of session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct SessionSize {
    pub(crate) name: String,
    /// The record as JSON (what `oidc-redis` stores).
    pub(crate) json_bytes: usize,
    /// Heap held per session by the in-memory store (record, id, expiry index).
    pub(crate) memory_store_bytes: f64,
    pub(crate) id_token_bytes: usize,
    pub(crate) access_token_bytes: usize,
    pub(crate) refresh_token_bytes: usize,
    /// Heap held by the session's two claims sets alone (the ID token's and userinfo's, each
    /// its raw JSON text), read from their JSON as a stored record's are: what the record's
    /// claims cost in memory.
    #[serde(default)]
    pub(crate) claims_sets_bytes: f64,
    /// The JSON of those two sets (their share of `json_bytes`).
    #[serde(default)]
    pub(crate) claims_json_bytes: usize,
    /// A client-side session cookie holding the same record (base64url JSON plus a MAC), as
    /// cookie-session frameworks keep it: for comparison.
    pub(crate) client_side_cookie_bytes: usize,
}

/// Every size measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sizes {
    pub(crate) sessions: Vec<SessionSize>,
    /// `oidc_session=<id>.<mac>`, as the browser sends it back.
    pub(crate) cookie_bytes: usize,
    /// The whole `Set-Cookie` value with its attributes.
    pub(crate) set_cookie_bytes: usize,
}

fn measure(name: &str, record: &SessionRecord) -> Result<SessionSize, String> {
    let json = serde_json::to_vec(record).map_err(|e| e.to_string())?;
    let user = record.user.as_ref().ok_or("no user in the session")?;
    // Deep copies, as each login makes its own, into a store.
    let store = MemoryStore::with_clock(100_000, Arc::new(TestClock::new(1_700_000_000)));
    let copies = 1_000;
    let ids: Vec<String> = (0..copies).map(|i| format!("{i:0>43}")).collect();
    let before = alloc::live();
    for id in &ids {
        let copy: SessionRecord = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
        // The memory store's futures are ready when made: one poll, no runtime.
        store
            .save(id, &copy)
            .now_or_never()
            .ok_or("the memory store did not answer at once")?
            .map_err(|e| e.to_string())?;
    }
    let memory_store_bytes = (alloc::live() - before) as f64 / copies as f64
        // The ids themselves were allocated before, but the store holds them: count them.
        + 43.0;
    drop(store);
    let (claims_sets_bytes, claims_json_bytes) = claims_sets(user, copies)?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    Ok(SessionSize {
        name: name.into(),
        json_bytes: json.len(),
        memory_store_bytes,
        id_token_bytes: user.id_token_jwt().len(),
        access_token_bytes: user.access_token.as_ref().map_or(0, |t| t.expose().len()),
        refresh_token_bytes: user.refresh_token.as_ref().map_or(0, |t| t.expose().len()),
        claims_sets_bytes,
        claims_json_bytes,
        client_side_cookie_bytes: COOKIE_NAME.len() + 1 + b64.encode(&json).len() + 1 + 43,
    })
}

/// The heap of a session's claims sets (the ID token's and userinfo's) per session, over
/// `copies` copies read from their JSON and held at once, and the size of that JSON.
fn claims_sets(user: &oidc_core::UserSession, copies: usize) -> Result<(f64, usize), String> {
    use oidc_core::ClaimsSet;
    let mut json = vec![serde_json::to_vec(user.id_token_claims()).map_err(|e| e.to_string())?];
    if let Some(userinfo) = &user.userinfo {
        json.push(serde_json::to_vec(userinfo).map_err(|e| e.to_string())?);
    }
    let mut held: Vec<ClaimsSet> = Vec::with_capacity(copies * json.len());
    let before = alloc::live();
    for _ in 0..copies {
        for j in &json {
            held.push(serde_json::from_slice(j).map_err(|e| e.to_string())?);
        }
    }
    // The sets' own handles live inside the record: count them as the store holds them.
    let inline = std::mem::size_of::<ClaimsSet>() * json.len();
    let bytes = (alloc::live() - before) as f64 / copies as f64 + inline as f64;
    drop(held);
    Ok((bytes, json.iter().map(Vec::len).sum()))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let out = match args {
        [flag, path] if flag == "--out" => PathBuf::from(path),
        [] => PathBuf::from("target/bench/sizes.json"),
        _ => return Err("sizes: usage: sizes [--out FILE]".into()),
    };
    alloc::enable();
    let (typical, cookie, set_cookie) = typical_session();
    let enterprise = enterprise_session(&typical);
    let sizes = Sizes {
        sessions: vec![
            measure(
                "typical (simulated provider: opaque access and refresh tokens)",
                &typical,
            )?,
            measure(
                "enterprise-style (JWT access token, 1 KB refresh token, 23-claim ID token)",
                &enterprise,
            )?,
        ],
        cookie_bytes: cookie.len(),
        set_cookie_bytes: set_cookie.len(),
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_vec_pretty(&sizes).map_err(|e| e.to_string())?;
    std::fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))
}
