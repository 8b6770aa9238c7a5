//! A page protected by OpenID Connect in a blocking server, with no framework and no async
//! runtime: `tiny_http` serves, `ureq` sends the core's requests, a `Mutex<HashMap>` keeps the
//! sessions, and each request drives one `oidc_core::Flow` to its end on its own thread.
//!
//! ```sh
//! cargo run -p oidc-testkit --example embedded_provider   # prints OIDC_ISSUER=http://127.0.0.1:PORT
//! OIDC_ISSUER=http://127.0.0.1:PORT cargo run -p oidc-embed-blocking --example blocking
//! ```
//!
//! It reads `APP_ADDR`, `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET` (dynamic
//! registration without an id) and `SESSION_SECRET`, and serves `/` (protected: JSON about the
//! user), `/redirect_uri`, `/logout` and `/health`, as `docs/demo-contract.md` says.
//! `cargo xtask ci` checks that `cargo tree -p oidc-embed-blocking -e normal` has no `tokio`,
//! `async-std`, `smol` or `futures-executor`.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oidc_core::http::{self, header, HeaderValue, Method, Request, StatusCode};
use oidc_core::{
    Action, Answer, Bytes, ClientMetadata, ClientRegistrationInfo, Context, Flow, JsonErrorView,
    ProviderConfig, RelyingParty, Secret, SessionRecord, TransportError,
};
use rand::RngCore;

/// A provider's answer larger than this is refused (a JWKS or token response is a few KiB).
const MAX_RESPONSE_BODY: u64 = 1024 * 1024;
/// A browser's request body larger than this (a `form_post` callback) is refused.
const MAX_REQUEST_BODY: u64 = 64 * 1024;
/// Requests served at once: a flow that waits for another's fetch needs that one to run.
const WORKERS: usize = 4;

/// The configuration of the demo contract's parts that apply here.
#[derive(Debug)]
pub struct Config {
    /// Where the app listens; its URL is `http://APP_ADDR`.
    pub app_addr: SocketAddr,
    /// The provider, configured by discovery.
    pub issuer: String,
    /// The static client; `None` registers one dynamically.
    pub client: Option<ClientMetadata>,
    /// The key of the session and login cookies (32 bytes or more); `None` draws one.
    pub session_secret: Option<Secret>,
}

impl Config {
    /// Reads `APP_ADDR`, `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `SESSION_SECRET`.
    pub fn from_env() -> oidc_core::Result<Config> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let invalid = |field, reason: String| oidc_core::Error::Config { field, reason };
        let app_addr = var("APP_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        Ok(Config {
            app_addr: app_addr
                .parse()
                .map_err(|e| invalid("APP_ADDR", format!("{e}")))?,
            issuer: var("OIDC_ISSUER").ok_or_else(|| invalid("OIDC_ISSUER", "required".into()))?,
            client: var("OIDC_CLIENT_ID").map(|id| match var("OIDC_CLIENT_SECRET") {
                Some(secret) => ClientMetadata::new(id, secret),
                None => ClientMetadata::public(id),
            }),
            session_secret: var("SESSION_SECRET").map(Secret::new),
        })
    }
}

/// Serves the app on `server`, `WORKERS` requests at a time, until `server.unblock()`.
pub fn serve(config: Config, server: &tiny_http::Server) -> oidc_core::Result<()> {
    let app_url = format!("http://{}", config.app_addr);
    let provider = ProviderConfig::discover(config.issuer).scopes(["openid", "profile", "email"]);
    let provider = match config.client {
        Some(client) => provider.client(client),
        None => provider.register(ClientRegistrationInfo::new("oidc-rs blocking example")),
    };
    let secret = match config.session_secret {
        Some(s) => s.expose().as_bytes().to_vec(),
        None => {
            eprintln!("SESSION_SECRET is unset: a random key, sessions end with the process");
            entropy().to_vec()
        }
    };
    let rp = RelyingParty::builder(app_url.clone())
        .provider("default", provider.build()?)
        .session_secret(secret)
        .error_view(JsonErrorView)
        .build()?;
    // TLS is OpenSSL (which josekit links anyway) with the system's roots. No redirects (an
    // endpoint that redirects is misconfigured) and no cookies: nothing crosses between users.
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(10)))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent();
    let app = App {
        rp,
        agent,
        store: Mutex::default(),
    };
    // Discovery (and registration) now, but start anyway: `/health` says when it is ready.
    if !app.run(app.rp.ready(context())) {
        eprintln!("the provider is not reachable yet; logins fail until it is");
    }
    println!("blocking example ready: open {app_url}/");
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                while let Ok(request) = server.recv() {
                    app.answer(request);
                }
                // Unblocked, or the listener failed: wake the next worker, so that all stop.
                server.unblock();
            });
        }
    });
    Ok(())
}

/// Everything a request needs: the relying party, the HTTP client, the session store.
struct App {
    rp: RelyingParty,
    agent: ureq::Agent,
    store: Mutex<Store>,
}

/// Session records, and the spent marks that make a login's `state` single-use. A server
/// with many users bounds it (as `oidc-runtime`'s `MemoryStore` does).
#[derive(Default)]
struct Store {
    records: HashMap<String, SessionRecord>,
    spent: HashMap<String, u64>,
}

impl App {
    /// Translates the request, lets the relying party (or the page) answer, translates back.
    fn answer(&self, mut request: tiny_http::Request) {
        let response = match into_http(&mut request) {
            Ok(req) => self.route(req),
            Err(status) => plain(status, "bad request"),
        };
        let (parts, body) = response.into_parts();
        let mut out = tiny_http::Response::from_data(body).with_status_code(parts.status.as_u16());
        for (name, value) in &parts.headers {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_str(), value.as_bytes()) {
                out.add_header(h);
            }
        }
        // The browser may have gone: its flow has finished all the same, nothing is half-done.
        let _ = request.respond(out);
    }

    fn route(&self, request: Request<Bytes>) -> http::Response<Bytes> {
        match request.uri().path() {
            "/health" if self.run(self.rp.ready(context())) => plain(StatusCode::OK, "ready"),
            "/health" => plain(StatusCode::SERVICE_UNAVAILABLE, "provider not ready"),
            "/" => {
                let (parts, _) = request.into_parts();
                match self.run(self.rp.authenticate(&parts, None, context())) {
                    Ok(user) => {
                        let page = serde_json::json!({
                            "sub": user.subject(),
                            "provider": user.provider,
                            "id_token_claims": user.id_token_claims(),
                            "userinfo": user.userinfo,
                            "access_token_present": user.access_token.is_some(),
                        });
                        let mut response = http::Response::new(Bytes::from(page.to_string()));
                        let json = HeaderValue::from_static("application/json");
                        response.headers_mut().insert(header::CONTENT_TYPE, json);
                        response
                    }
                    // A redirect to the provider, a `401` for an API client, or the error view.
                    Err(response) => response,
                }
            }
            // The redirect endpoint and logout, or nothing of ours.
            _ => match self.rp.handle(request, context()) {
                Some(flow) => self.run(flow),
                None => plain(StatusCode::NOT_FOUND, "not found"),
            },
        }
    }

    /// Drives a flow to its end on this thread: poll, do what it asks, answer. Nothing returns
    /// before `Done`, so a flow that must finish (a token refresh was sent) always does.
    fn run<T>(&self, mut flow: Flow<T>) -> T {
        loop {
            let now = now();
            let answer = match flow.poll() {
                Action::Done(outcome) => return outcome,
                Action::Send(out) => Answer::Http(self.send(out.request)),
                Action::Load(id) => {
                    let record = self.store().records.get(&id).cloned();
                    Answer::Loaded(Ok(
                        record.filter(|r| r.expires_at > now && r.is_compatible())
                    ))
                }
                Action::Save(id, record) => {
                    let mut store = self.store();
                    store.records.retain(|_, r| r.expires_at > now);
                    store.records.insert(id, record);
                    Answer::Stored(Ok(()))
                }
                // A write-back of a session read before: a session ended meanwhile stays ended.
                Action::Update(id, record) => {
                    let mut store = self.store();
                    let present = store
                        .records
                        .get(&id)
                        .is_some_and(|r| r.expires_at > now && r.is_compatible());
                    if present {
                        store.records.insert(id, record);
                    }
                    Answer::Updated(Ok(present))
                }
                Action::Delete(id) => {
                    self.store().records.remove(&id);
                    Answer::Stored(Ok(()))
                }
                // A logout sent by the provider names a user, not a session id.
                Action::DeleteIndexed(key) => {
                    self.store()
                        .records
                        .retain(|_, record| !record.index_keys().contains(&key));
                    Answer::Stored(Ok(()))
                }
                Action::MarkSpent(key, ttl) => {
                    // Test and set under one lock: of two callbacks with one `state`, one wins.
                    let mut store = self.store();
                    store.spent.retain(|_, until| *until > now);
                    let fresh = !store.spent.contains_key(&key);
                    if fresh {
                        store
                            .spent
                            .insert(key, now.saturating_add(ttl.as_secs().max(1)));
                    }
                    Answer::Marked(Ok(fresh))
                }
                // A refresh lease given back early.
                Action::Unmark(key) => {
                    self.store().spent.remove(&key);
                    Answer::Stored(Ok(()))
                }
                // Another request is fetching what this one needs (keys, discovery).
                Action::Wait => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                // Another process sharing the store refreshes this session's tokens.
                Action::Sleep(duration) => {
                    std::thread::sleep(duration);
                    continue;
                }
            };
            flow.answer(answer);
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One call to the provider, with a timeout and a cap on the body.
    fn send(&self, request: Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
        let request = request.map(|body| body.to_vec());
        let response = self.agent.run(request).map_err(transport_error)?;
        let (parts, mut body) = response.into_parts();
        let body = body.with_config().limit(MAX_RESPONSE_BODY).read_to_vec();
        Ok(http::Response::from_parts(
            parts,
            Bytes::from(body.map_err(transport_error)?),
        ))
    }
}

/// What went wrong, in the core's terms (a timeout, a body over the cap, no connection).
fn transport_error(e: ureq::Error) -> TransportError {
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::BodyExceedsLimit(max) => TransportError::BodyTooLarge(max as usize),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            TransportError::Connect(e.to_string())
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            TransportError::Connect(io.to_string())
        }
        other => TransportError::Other(other.to_string()),
    }
}

/// The `http` request for a `tiny_http` one, its body capped; else the status to answer.
fn into_http(request: &mut tiny_http::Request) -> Result<Request<Bytes>, StatusCode> {
    let bad = StatusCode::BAD_REQUEST;
    let method = Method::from_bytes(request.method().as_str().as_bytes()).map_err(|_| bad)?;
    let mut req = Request::builder().method(method).uri(request.url());
    for h in request.headers() {
        req = req.header(h.field.as_str().as_str(), h.value.as_str());
    }
    let mut body = Vec::new();
    let mut reader = request.as_reader().take(MAX_REQUEST_BODY + 1);
    reader.read_to_end(&mut body).map_err(|_| bad)?;
    if body.len() as u64 > MAX_REQUEST_BODY {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    req.body(Bytes::from(body)).map_err(|_| bad)
}

fn plain(status: StatusCode, text: &'static str) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from_static(text.as_bytes()));
    *response.status_mut() = status;
    response
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 32 fresh bytes from a CSPRNG seeded by the operating system.
fn entropy() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// What each flow starts with: the time, and entropy of its own (its `state`, its nonce).
fn context() -> Context {
    Context::new(now(), entropy())
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    let server = tiny_http::Server::http(config.app_addr)?;
    serve(config, &server)?;
    Ok(())
}
