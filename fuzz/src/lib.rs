//! Fixtures shared by the fuzz targets: fixed test-only keys (`keys/*.pem`, never used outside
//! fuzzing), the key set and expectations ID tokens are checked against, canned provider
//! responses, and a relying party whose transport answers from the fuzz input: the sans-IO core
//! driven on the spot ([`FuzzRp::run`]), each HTTP call answered from the canned table and each
//! session record kept in a map, at a fixed time and with fixed entropy.
//!
//! The targets themselves are in `fuzz_targets/`; `cargo xtask fuzz --seconds N` runs each.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use josekit::jwk::KeyPair;
use josekit::jws::{JwsHeader, JwsSigner};
use josekit::jwt::{self, JwtPayload};
use oidc_core::id_token::Expectations;
use oidc_core::jwks::JwkSet;
use oidc_core::{
    Action, Answer, ClientMetadata, Context, Flow, ProviderConfig, ProviderMetadata, RelyingParty,
    SessionRecord, TransportError,
};
use serde_json::{Map, Value};

/// The provider every target pretends to talk to.
pub const ISSUER: &str = "https://op.fuzz";
/// This client.
pub const CLIENT_ID: &str = "fuzz-client";
/// The app's base URL.
pub const APP_URL: &str = "https://app.fuzz";
/// The fixed time of every target (unix seconds).
pub const NOW: u64 = 1_700_000_000;
/// The nonce the standalone ID token targets expect.
pub const NONCE: &str = "fuzz-nonce";

/// The fixed keys and what is derived from them.
pub struct Keys {
    rsa: josekit::jws::alg::rsassa::RsassaJwsSigner,
    ec: josekit::jws::alg::ecdsa::EcdsaJwsSigner,
    ed: josekit::jws::alg::eddsa::EddsaJwsSigner,
    /// The public keys as a JWKS document (kids `rsa1`, `ec1`, `ed1`).
    pub jwks_json: String,
    /// That document, parsed.
    pub set: JwkSet,
    /// Every algorithm the core accepts.
    pub algorithms: Vec<String>,
}

/// The keys, loaded once per process.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa_pem = include_str!("../keys/rsa-test-only.pem");
        let ec_pem = include_str!("../keys/ec-test-only.pem");
        let ed_pem = include_str!("../keys/ed25519-test-only.pem");
        let rs = josekit::jws::RS256;
        let es = josekit::jws::ES256;
        let ed = josekit::jws::EdDSA;
        let public = |mut jwk: josekit::jwk::Jwk, kid: &str| {
            jwk.set_key_id(kid);
            Value::Object(jwk.as_ref().clone())
        };
        let doc = serde_json::json!({ "keys": [
            public(rs.key_pair_from_pem(rsa_pem).expect("rsa key").to_jwk_public_key(), "rsa1"),
            public(es.key_pair_from_pem(ec_pem).expect("ec key").to_jwk_public_key(), "ec1"),
            public(ed.key_pair_from_pem(ed_pem).expect("ed key").to_jwk_public_key(), "ed1"),
        ]});
        let jwks_json = doc.to_string();
        Keys {
            rsa: rs.signer_from_pem(rsa_pem).expect("rsa signer"),
            ec: es.signer_from_pem(ec_pem).expect("ec signer"),
            ed: ed.signer_from_pem(ed_pem).expect("ed signer"),
            set: JwkSet::from_json(jwks_json.as_bytes(), NOW).expect("the fixed JWKS parses"),
            jwks_json,
            algorithms: oidc_core::config::DEFAULT_ALGORITHMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    })
}

/// Which fixed key signs.
#[derive(Debug, Clone, Copy)]
pub enum Signer {
    /// RS256, kid `rsa1`.
    Rsa,
    /// ES256, kid `ec1`.
    Ec,
    /// EdDSA, kid `ed1`.
    Ed,
}

impl Keys {
    /// Signs `claims` with a fixed key; `kid` as given (`None`: no `kid`), extra header
    /// parameters from `header` (josekit refuses some, which then are dropped).
    pub fn sign(
        &self,
        signer: Signer,
        kid: Option<&str>,
        header: &Map<String, Value>,
        claims: Map<String, Value>,
    ) -> Option<String> {
        let mut h = JwsHeader::new();
        h.set_token_type("JWT");
        for (k, v) in header {
            if !matches!(k.as_str(), "alg" | "kid" | "b64" | "crit") {
                let _ = h.set_claim(k, Some(v.clone()));
            }
        }
        if let Some(kid) = kid {
            h.set_key_id(kid);
        }
        let payload = JwtPayload::from_map(claims).ok()?;
        let signer: &dyn JwsSigner = match signer {
            Signer::Rsa => &self.rsa,
            Signer::Ec => &self.ec,
            Signer::Ed => &self.ed,
        };
        jwt::encode_with_signer(&payload, &h, signer).ok()
    }

    /// What the standalone ID token targets check tokens against.
    pub fn expectations(&self) -> Expectations<'_> {
        Expectations::new(ISSUER, CLIENT_ID, Some(NONCE), NOW, 30, &self.algorithms)
    }
}

/// Valid ID token claims for the standalone targets.
pub fn base_claims(nonce: &str) -> Map<String, Value> {
    let v = serde_json::json!({
        "iss": ISSUER, "sub": "alice", "aud": CLIENT_ID, "exp": NOW + 300, "iat": NOW,
        "nonce": nonce,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A provider response with this status, optional content type and body.
pub fn response(status: u16, content_type: Option<&str>, body: &[u8]) -> http::Response<Bytes> {
    let mut r = http::Response::new(Bytes::copy_from_slice(body));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Some(ct) = content_type.and_then(|c| http::HeaderValue::from_str(c).ok()) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, ct);
    }
    r
}

/// A status drawn from one fuzz byte: mostly 200, else a spread of the others.
pub fn status_from(byte: u8) -> u16 {
    match byte % 8 {
        0..=3 => 200,
        4 => 201,
        5 => 400,
        6 => 401,
        _ => 500 + u16::from(byte / 8 % 4),
    }
}

/// Splits fuzz input into at most `n` segments at `0xFF` bytes (a byte that never occurs in
/// UTF-8 text, so text inputs keep their shape); missing segments are empty.
pub fn segments(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0xFF).collect();
    out.resize(n, &[]);
    out
}

/// One canned answer.
#[derive(Debug, Clone)]
pub enum Canned {
    /// Answer with this status, content type and body.
    Respond(u16, Option<String>, Bytes),
    /// Fail like the transport would.
    Fail(TransportError),
}

/// A transport that answers by the request path's last segment (`token`, `jwks`,
/// `userinfo`, ...) from a table, and fails for anything not in it.
#[derive(Default, Clone)]
pub struct CannedTransport {
    answers: Arc<Mutex<HashMap<String, Canned>>>,
    /// How many requests were sent.
    pub sent: Arc<Mutex<usize>>,
}

impl CannedTransport {
    /// Sets the answer for requests whose path ends with `/{segment}`.
    pub fn answer(&self, segment: &str, canned: Canned) {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(segment.to_owned(), canned);
    }

    /// The canned answer to `request`.
    pub fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        *self.sent.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let segment = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let canned = self
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&segment)
            .cloned();
        match canned {
            Some(Canned::Respond(status, ct, body)) => Ok(response(status, ct.as_deref(), &body)),
            Some(Canned::Fail(e)) => Err(e),
            None => Err(TransportError::Connect("nothing listens there".into())),
        }
    }
}

/// The fixed provider metadata of the relying-party targets.
pub fn metadata() -> ProviderMetadata {
    let url = |p: &str| format!("{ISSUER}{p}").parse().expect("a fixed URL");
    let mut m = ProviderMetadata::new(ISSUER, url("/authorize"));
    m.token_endpoint = Some(url("/token"));
    m.userinfo_endpoint = Some(url("/userinfo"));
    m.jwks_uri = Some(url("/jwks"));
    m.end_session_endpoint = Some(url("/logout"));
    m.response_types_supported = [
        "code",
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    m
}

/// The providers of the relying-party target: `(name, response_type, response_mode)`.
pub const FLOWS: &[(&str, &str, Option<&str>)] = &[
    ("code", "code", None),
    ("code-form-post", "code", Some("form_post")),
    ("hybrid", "code id_token", None),
    ("implicit", "id_token token", Some("form_post")),
];

/// The sans-IO relying party of the fuzz targets, with what it asks for answered on the spot:
/// HTTP calls by the [`CannedTransport`], session records from a map (a store that keeps no
/// time: it hands back expired records, as a shared store may, but never one of another
/// schema, which no store may), the time is [`NOW`], and each flow's entropy is fixed by its
/// rank, so that a crash reproduces.
pub struct FuzzRp {
    /// The core.
    pub core: RelyingParty,
    /// The transport every `Send` goes to.
    pub transport: CannedTransport,
    sessions: Mutex<HashMap<String, SessionRecord>>,
    spent: Mutex<HashSet<String>>,
    flows: AtomicU64,
}

/// A panic while a lock is held aborts the fuzzer anyway: the data under it is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FuzzRp {
    /// The session records, by id.
    pub fn sessions(&self) -> MutexGuard<'_, HashMap<String, SessionRecord>> {
        lock(&self.sessions)
    }

    /// The next flow's context: [`NOW`], and entropy of its own.
    pub fn cx(&self) -> Context {
        let n = self.flows.fetch_add(1, Ordering::Relaxed);
        let mut entropy = [7u8; 32];
        entropy[..8].copy_from_slice(&n.to_le_bytes());
        Context::new(NOW, entropy)
    }

    /// Drives `flow` to its end, answering each action at once.
    ///
    /// # Panics
    /// When the flow waits: with one flow running and every answer given at once, nothing
    /// would ever wake it (in production, a hang).
    pub fn run<T>(&self, mut flow: Flow<T>) -> T {
        loop {
            let answer = match flow.poll() {
                Action::Done(out) => return out,
                Action::Send(outbound) => Answer::Http(self.transport.send(outbound.request)),
                Action::Load(id) => Answer::Loaded(Ok(self
                    .sessions()
                    .get(&id)
                    .filter(|r| r.is_compatible())
                    .cloned())),
                Action::Save(id, record) => {
                    self.sessions().insert(id, record);
                    Answer::Stored(Ok(()))
                }
                Action::Update(id, record) => {
                    let mut sessions = self.sessions();
                    let present = sessions.contains_key(&id);
                    if present {
                        sessions.insert(id, record);
                    }
                    Answer::Updated(Ok(present))
                }
                Action::Delete(id) => {
                    self.sessions().remove(&id);
                    Answer::Stored(Ok(()))
                }
                Action::DeleteIndexed(key) => {
                    self.sessions()
                        .retain(|_, record| !record.index_keys().contains(&key));
                    Answer::Stored(Ok(()))
                }
                // The marks never expire here: every target runs at one fixed time.
                Action::MarkSpent(key, _ttl) => Answer::Marked(Ok(lock(&self.spent).insert(key))),
                Action::Unmark(key) => {
                    lock(&self.spent).remove(&key);
                    Answer::Stored(Ok(()))
                }
                Action::Wait => panic!("a flow waits with nothing else running: a hang"),
                Action::Sleep(_) => {
                    panic!("a flow waits for another process, but none shares this store")
                }
            };
            flow.answer(answer);
        }
    }
}

/// A fresh relying party on `transport`, with one provider per entry of [`FLOWS`].
pub fn relying_party(transport: CannedTransport, iss_param: bool) -> FuzzRp {
    let mut builder = RelyingParty::builder(APP_URL);
    for (name, rt, mode) in FLOWS {
        let mut m = metadata();
        m.authorization_response_iss_parameter_supported = iss_param;
        let c = ProviderConfig::from_metadata(m)
            .client(ClientMetadata::new(CLIENT_ID, "fuzz-secret"))
            .scopes(["openid", "email"])
            .response_type(*rt);
        let c = match mode {
            Some(m) => c.response_mode(*m),
            None => c,
        };
        builder = builder.provider(*name, c.build().expect("a valid fuzz configuration"));
    }
    let core = builder
        .session_secret([3u8; 32])
        .login_path("/login")
        .build()
        .expect("a valid fuzz relying party");
    FuzzRp {
        core,
        transport,
        sessions: Mutex::default(),
        spent: Mutex::default(),
        flows: AtomicU64::new(0),
    }
}

/// The request parts of a browser's `GET /` with this `Cookie` header (none if it is not a
/// valid header value).
pub fn parts_with_cookie(cookie: &str) -> http::request::Parts {
    let mut r = http::Request::get("/").body(()).expect("a request");
    if let Ok(v) = http::HeaderValue::from_str(cookie) {
        r.headers_mut().insert(http::header::COOKIE, v);
    }
    r.into_parts().0
}

/// The `name=value` of every cookie a response sets (not those it removes).
pub fn cookies_of(resp: &http::Response<Bytes>) -> Vec<String> {
    resp.headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|c| !c.ends_with('='))
        .map(str::to_owned)
        .collect()
}

/// A relying party with `alice` logged in for real through the `code` provider (the core's
/// login, then its redirect endpoint with the provider's answers canned: an ID token signed
/// by the fixed RSA key, the fixed key set, userinfo), made once per process:
/// `(relying party, the session cookie as the browser sends it, the session id)`.
///
/// # Panics
/// If that login fails.
pub fn logged_in() -> &'static (FuzzRp, String, String) {
    static LOGGED_IN: OnceLock<(FuzzRp, String, String)> = OnceLock::new();
    LOGGED_IN.get_or_init(|| {
        let rp = relying_party(CannedTransport::default(), false);
        let start = rp.run(
            rp.core
                .login(&parts_with_cookie(""), Some("code"), "/", rp.cx()),
        );
        let location = start.headers()[http::header::LOCATION]
            .to_str()
            .expect("ASCII");
        let auth = url::Url::parse(location).expect("an absolute authorization URL");
        let param = |name: &str| {
            auth.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .expect("the authorization request's parameter")
        };
        let id_token = keys()
            .sign(
                Signer::Rsa,
                Some("rsa1"),
                &Map::new(),
                base_claims(&param("nonce")),
            )
            .expect("a signed ID token");
        let token = serde_json::json!({
            "access_token": "fuzz-access-token", "token_type": "Bearer", "expires_in": 600,
            "id_token": id_token,
        });
        let json = Some("application/json".to_owned());
        let canned = |body: String| Canned::Respond(200, json.clone(), Bytes::from(body));
        rp.transport.answer("token", canned(token.to_string()));
        rp.transport
            .answer("jwks", canned(keys().jwks_json.clone()));
        rp.transport
            .answer("userinfo", canned(r#"{"sub":"alice"}"#.to_owned()));
        let redirect = url::Url::parse(rp.core.redirect_uri(Some("code")).expect("a flow"))
            .expect("an absolute redirect URI");
        let callback = http::Request::get(format!(
            "{}?code=fuzz-code&state={}",
            redirect.path(),
            param("state")
        ))
        .header(http::header::COOKIE, cookies_of(&start).join("; "))
        .body(Bytes::new())
        .expect("a callback request");
        let back = rp.run(
            rp.core
                .handle(callback, rp.cx())
                .expect("the redirect path is the relying party's"),
        );
        assert_eq!(
            back.status(),
            http::StatusCode::FOUND,
            "the fixed login fails: {}",
            String::from_utf8_lossy(back.body())
        );
        let id = {
            let sessions = rp.sessions();
            assert_eq!(sessions.len(), 1, "one session made");
            sessions.keys().next().cloned().expect("a session")
        };
        let cookie = cookies_of(&back)
            .into_iter()
            .find(|c| c.split_once('=').is_some_and(|(_, v)| v.starts_with(&id)))
            .expect("the session cookie");
        (rp, cookie, id)
    })
}

/// Percent-encodes the bytes an `http::Uri` cannot carry, leaving the rest as the fuzzer made
/// it (so `%`-sequences, `&`, `=` and `+` reach the parser untouched).
pub fn uri_safe(raw: &[u8]) -> String {
    let mut s = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_graphic() && !b"#\"<>\\^`{|}".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `bytes` with every `from` replaced by `to`.
pub fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The OpenID Connect Core 3.1.3.7 rules, restated independently of the core, for the oracle
/// of the targets that can log in: claims a session holds must pass them.
pub fn assert_claims_valid(claims: &oidc_core::ClaimsSet, nonce: &str) {
    let claims = claims.to_map();
    assert_eq!(
        claims.get("iss").and_then(Value::as_str),
        Some(ISSUER),
        "iss"
    );
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    assert!(!sub.is_empty(), "sub must be present");
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    assert!(auds.contains(&CLIENT_ID), "aud must contain the client");
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) => assert_eq!(azp, CLIENT_ID, "azp"),
        None => assert!(auds.len() <= 1, "several audiences need azp"),
    }
    let exp = claims.get("exp").and_then(Value::as_u64).expect("exp");
    assert!(NOW <= exp.saturating_add(30), "expired token accepted");
    let iat = claims.get("iat").and_then(Value::as_u64).expect("iat");
    assert!(iat <= NOW + 30, "future iat accepted");
    assert_eq!(
        claims.get("nonce").and_then(Value::as_str),
        Some(nonce),
        "nonce"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The login the `session_record` target starts from works: the session cookie it keeps
    /// logs `alice` in, and the record stored for it is the one the target replaces.
    #[test]
    fn the_fixed_login_logs_alice_in() {
        let (rp, cookie, id) = logged_in();
        let user = rp
            .run(rp.core.session(&parts_with_cookie(cookie), rp.cx()))
            .expect("logged in");
        assert_eq!(user.subject(), "alice");
        assert!(rp.sessions().contains_key(id));
        // The same id under a MAC that is not the relying party's.
        let name = cookie.split_once('=').expect("name=value").0;
        let forged = format!("{name}={id}.AAAA");
        let other = rp.run(rp.core.session(&parts_with_cookie(&forged), rp.cx()));
        assert!(other.is_none(), "a forged cookie is not a session");
    }
}

/// The seeds that need the fixed keys (signed tokens, the key set, a session record holding a
/// real token). Regenerate with
/// `cargo test --manifest-path fuzz/Cargo.toml --lib -- --ignored write_seeds`.
#[cfg(test)]
mod seeds {
    use super::*;

    fn write(target: &str, seeds: &[Vec<u8>]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), s).unwrap();
        }
    }

    #[test]
    #[ignore]
    fn write_seeds() {
        let k = keys();
        let none = Map::new();
        let claims = base_claims(NONCE);
        let sign = |s, kid| k.sign(s, kid, &none, claims.clone()).unwrap().into_bytes();
        let mut other = claims.clone();
        other.insert("aud".into(), serde_json::json!(["fuzz-client", "x"]));
        let unsigned = |header: &str| {
            use base64::Engine;
            let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            format!(
                "{}.{}.",
                e(header),
                e(&Value::Object(claims.clone()).to_string())
            )
            .into_bytes()
        };
        write(
            "id_token",
            &[
                sign(Signer::Rsa, Some("rsa1")),
                sign(Signer::Rsa, None),
                sign(Signer::Ec, Some("ec1")),
                sign(Signer::Ed, Some("ed1")),
                sign(Signer::Rsa, Some("unknown")),
                k.sign(Signer::Rsa, Some("rsa1"), &none, other)
                    .unwrap()
                    .into_bytes(),
                unsigned(r#"{"alg":"none"}"#),
                unsigned(r#"{"alg":"HS256","kid":"rsa1"}"#),
                b"eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d".to_vec(),
                b"a.b".to_vec(),
            ],
        );
        let jwks: Value = serde_json::from_str(&k.jwks_json).unwrap();
        let mut duplicated = jwks.clone();
        let first = duplicated["keys"][0].clone();
        duplicated["keys"].as_array_mut().unwrap().push(first);
        let mut small = jwks.clone();
        small["keys"][0]["n"] = "AQAB".into();
        let mut bad_use = jwks.clone();
        bad_use["keys"][1]["use"] = "enc".into();
        bad_use["keys"][2]["alg"] = "ES256".into();
        let body = |v: &Value| [&[0u8][..], v.to_string().as_bytes()].concat();
        write(
            "jwks",
            &[
                body(&jwks),
                body(&duplicated),
                body(&small),
                body(&bad_use),
                b"\x00{\"keys\":[{\"kty\":\"weird\"},{\"kty\":\"RSA\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}".to_vec(),
                b"\x06{\"error\":\"nope\"}".to_vec(),
            ],
        );
        let record = serde_json::json!({
            "version": 1,
            "user": {
                "provider": "default", "access_token": "at", "access_token_expires_at": NOW + 600,
                "id_token": { "raw": String::from_utf8(sign(Signer::Rsa, Some("rsa1"))).unwrap(),
                              "claims": Value::Object(base_claims(NONCE)) },
                "userinfo": { "sub": "alice", "email": "a@example" }, "refresh_token": "rt",
                "last_authenticated": NOW, "last_session_refresh": NOW, "expires_at": NOW + 3600
            },
            "pending": [{
                "provider": "default", "state": "s1", "nonce": "n1", "code_verifier": "v",
                "return_to": "/", "created_at": NOW - 10, "response_type": "code id_token",
                "response_mode": "form_post", "silent": false
            }],
            "logout_state": null,
            "expires_at": NOW + 3600
        });
        let parsed: oidc_core::SessionRecord =
            serde_json::from_value(record.clone()).expect("the seed record is a record");
        assert!(parsed.authenticated_user(NOW).is_some());
        write(
            "session_record",
            &[
                record.to_string().into_bytes(),
                br#"{"version":2,"expires_at":1}"#.to_vec(),
                br#"{"version":1,"expires_at":99999999999,"pending":[],"user":null}"#.to_vec(),
            ],
        );
    }
}
