//! Logins through the core, in-process, against the simulated provider; and the callback
//! fixture, whose provider answers were recorded once and are replayed.
//!
//! The fixtures that measure the core ([`CallbackFixture`], [`typical_session`]) drive
//! `oidc_core::RelyingParty` directly, on this thread: [`drive`] answers each action the core
//! returns, HTTP calls from the simulated provider or its recording, session records from a
//! [`MapStore`]. No executor and no async: what is timed is the core's work plus a map lookup
//! per store action. [`start_login`] and [`finish_login`] drive the async
//! `oidc_runtime::RelyingParty` the adapters use, for the load test and logins at scale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use oidc_core::{
    Action, Answer, ClientMetadata, Context, ProviderConfig, SessionRecord, TransportError,
};
use oidc_runtime::{Clock, RelyingParty};
use oidc_testkit::harness::TestClock;
use oidc_testkit::{SimClient, SimProvider};

/// The simulated provider's issuer in these benchmarks.
pub const ISSUER: &str = "https://op.bench";
/// The client registered there.
pub const CLIENT_ID: &str = "bench-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "bench-secret";
/// The session cookie's name (the core's default).
pub const COOKIE_NAME: &str = "oidc_session";

/// A transport that sends to the simulated provider (answering at once, on this thread) and
/// records each answer by path, until [`replay`](Self::replay) is switched on: then it answers
/// every request with the answer recorded for its path, doing no provider work at all.
pub struct ReplayTransport {
    provider: SimProvider,
    clock: Arc<TestClock>,
    replaying: AtomicBool,
    recorded: Mutex<HashMap<String, http::Response<Bytes>>>,
}

impl std::fmt::Debug for ReplayTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayTransport")
            .field("replaying", &self.replaying.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn copy_response(r: &http::Response<Bytes>) -> http::Response<Bytes> {
    let mut out = http::Response::new(r.body().clone());
    *out.status_mut() = r.status();
    *out.headers_mut() = r.headers().clone();
    out
}

impl ReplayTransport {
    /// Records what `provider` answers at `clock`'s time.
    pub fn new(provider: SimProvider, clock: Arc<TestClock>) -> Self {
        ReplayTransport {
            provider,
            clock,
            replaying: AtomicBool::new(false),
            recorded: Mutex::default(),
        }
    }

    /// The recorded answers whose bodies are JSON objects (token responses, key sets, ...).
    fn recorded_objects(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|r| serde_json::from_slice(r.body()).ok())
            .collect()
    }

    /// From now on, answers from the recording only.
    pub fn replay(&self) {
        self.replaying.store(true, Ordering::SeqCst);
    }

    /// The answer to `request`: the provider's (recorded), or the recording's.
    ///
    /// # Errors
    /// When replaying, for a path that was never recorded.
    pub fn send(&self, request: Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
        let path = request.uri().path().to_owned();
        if self.replaying.load(Ordering::Relaxed) {
            return self
                .recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&path)
                .map(copy_response)
                .ok_or_else(|| TransportError::Other(format!("nothing recorded for {path}")));
        }
        let answer = self.provider.handle(request, self.clock.now());
        self.recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path, copy_response(&answer));
        Ok(answer)
    }
}

/// The session store of the fixtures that drive the core directly: records and spent marks in
/// plain maps, each answered at once. Like the runtime's memory store, it never hands back an
/// expired record or one of a schema it cannot read.
#[derive(Default)]
pub struct MapStore {
    sessions: Mutex<HashMap<String, SessionRecord>>,
    /// Spent keys and when each mark expires (unix seconds).
    spent: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for MapStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapStore")
            .field("sessions", &lock(&self.sessions).len())
            .field("spent", &lock(&self.spent).len())
            .finish()
    }
}

/// A fixture's lock; a panic elsewhere while holding it leaves the map itself intact.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MapStore {
    /// The live record under `id` at `now`.
    pub fn load(&self, id: &str, now: u64) -> Option<SessionRecord> {
        lock(&self.sessions)
            .get(id)
            .filter(|r| r.expires_at > now && r.is_compatible())
            .cloned()
    }

    /// Stores `record` under `id`.
    pub fn save(&self, id: String, record: SessionRecord) {
        lock(&self.sessions).insert(id, record);
    }

    /// Stores `record` under `id` only if a live record is there; whether it was.
    pub fn update(&self, id: String, record: SessionRecord, now: u64) -> bool {
        let mut sessions = lock(&self.sessions);
        let present = sessions
            .get(&id)
            .is_some_and(|r| r.expires_at > now && r.is_compatible());
        if present {
            sessions.insert(id, record);
        }
        present
    }

    /// Removes the record under `id`; whether there was one.
    pub fn delete(&self, id: &str) -> bool {
        lock(&self.sessions).remove(id).is_some()
    }

    /// Removes the mark `key`, if any.
    pub fn unmark(&self, key: &str) {
        lock(&self.spent).remove(key);
    }

    /// Removes every record indexed under `key` (a scan: this store holds a benchmark's few
    /// sessions).
    pub fn delete_indexed(&self, key: &str) {
        lock(&self.sessions).retain(|_, record| !record.index_keys().iter().any(|k| k == key));
    }

    /// Marks `key` spent for `ttl` from `now`: `true` the first time (or once the last mark
    /// expired), `false` while it is marked. Test and set under one lock.
    pub fn mark_spent(&self, key: String, ttl: Duration, now: u64) -> bool {
        let mut spent = lock(&self.spent);
        if spent.get(&key).is_some_and(|&until| until > now) {
            return false;
        }
        spent.insert(key, now.saturating_add(ttl.as_secs().max(1)));
        true
    }

    /// Forgets every spent mark.
    pub fn forget_marks(&self) {
        lock(&self.spent).clear();
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drives one core flow to its end on this thread, at time `now`: each `Send` answered by
/// `send`, each store action by `store`, until the flow is done.
///
/// # Panics
/// On `Wait`: only one flow runs here, so no other one can be fetching what this one waits
/// for, and it would wait forever.
pub fn drive<T>(
    mut flow: oidc_core::Flow<T>,
    send: &dyn Fn(Request<Bytes>) -> Result<http::Response<Bytes>, TransportError>,
    store: &MapStore,
    now: u64,
) -> T {
    loop {
        let answer = match flow.poll() {
            Action::Done(out) => return out,
            Action::Send(outbound) => Answer::Http(send(outbound.request)),
            Action::Load(id) => Answer::Loaded(Ok(store.load(&id, now))),
            Action::Save(id, record) => {
                store.save(id, record);
                Answer::Stored(Ok(()))
            }
            Action::Update(id, record) => Answer::Updated(Ok(store.update(id, record, now))),
            Action::Delete(id) => {
                store.delete(&id);
                Answer::Stored(Ok(()))
            }
            Action::DeleteIndexed(key) => {
                store.delete_indexed(&key);
                Answer::Stored(Ok(()))
            }
            Action::MarkSpent(key, ttl) => Answer::Marked(Ok(store.mark_spent(key, ttl, now))),
            Action::Unmark(key) => {
                store.unmark(&key);
                Answer::Stored(Ok(()))
            }
            Action::Wait => panic!("a flow waits for another, but it runs alone here"),
            Action::Sleep(_) => {
                panic!("a flow waits for another process, but none shares this store")
            }
        };
        flow.answer(answer);
    }
}

/// Fresh entropy for the n-th flow of a fixture: distinct per flow, the same on every run (a
/// bench does not need unpredictable values, only different ones).
fn entropy(n: u64) -> [u8; 32] {
    let mut e = [0x5a; 32];
    e[..8].copy_from_slice(&n.to_le_bytes());
    e
}

/// A simulated provider with the bench client registered for `app_url`.
pub fn provider(app_url: &str) -> SimProvider {
    let provider = SimProvider::new(ISSUER);
    let mut client =
        SimClient::confidential(CLIENT_ID, CLIENT_SECRET, &format!("{app_url}/redirect_uri"));
    client.post_logout_redirect_uris = vec![format!("{app_url}/logout")];
    provider.register_client(client);
    provider
}

/// The provider configuration every benchmark uses: discovery, a confidential client,
/// `openid profile email`, and the given response type.
pub fn provider_config(response_type: &str) -> ProviderConfig {
    ProviderConfig::discover(ISSUER)
        .client(ClientMetadata::new(CLIENT_ID, CLIENT_SECRET))
        .scopes(["openid", "profile", "email"])
        .response_type(response_type)
        .build()
        .expect("a valid provider configuration")
}

/// The `name=value` of the session cookie an answer sets, if any.
pub fn session_cookie(response: &http::Response<Bytes>) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with(&format!("{COOKIE_NAME}=")) && c.len() > COOKIE_NAME.len() + 1)
        .map(str::to_owned)
}

/// The session id inside a `name=id.mac` cookie.
pub fn session_id(cookie: &str) -> &str {
    let value = cookie.split_once('=').map_or(cookie, |(_, v)| v);
    value.split_once('.').map_or(value, |(id, _)| id)
}

/// The request of a browser asking for a protected page, with `cookie` if given.
fn login_parts(cookie: Option<&str>) -> Result<http::request::Parts, String> {
    let mut request = Request::get("/").body(()).expect("a request");
    if let Some(c) = cookie {
        request
            .headers_mut()
            .insert(header::COOKIE, c.parse().map_err(|_| "bad cookie")?);
    }
    Ok(request.into_parts().0)
}

/// What a browser keeps from the answer to a login: `(cookies, authorization URL)`.
fn login_redirect(
    response: &http::Response<Bytes>,
    cookie: Option<&str>,
) -> Result<(String, String), String> {
    if response.status() != StatusCode::FOUND {
        return Err(format!(
            "login did not redirect: HTTP {}",
            response.status()
        ));
    }
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Location")?
        .to_owned();
    let login = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with(&format!("{COOKIE_NAME}_login_")))
        .ok_or("no login cookie")?
        .to_owned();
    let cookie = match cookie {
        Some(c) => format!("{c}; {login}"),
        None => login,
    };
    Ok((cookie, location))
}

/// A login as a browser starts it: `(cookies, authorization URL)`, the cookies being those the
/// browser then sends to the redirect endpoint (`cookie`, if given, and the login cookie the
/// relying party set: a login in progress lives in the browser, not in the store).
pub async fn start_login(
    rp: &RelyingParty,
    cookie: Option<&str>,
) -> Result<(String, String), String> {
    let response = rp.login(&login_parts(cookie)?, None, "/").await;
    login_redirect(&response, cookie)
}

/// The request a browser makes to the redirect endpoint with the provider's answer `back`: a
/// GET for a query response, the POST of the fragment page for a fragment response.
pub fn callback_request(back: &str, cookie: &str) -> Request<Bytes> {
    let url = url::Url::parse(back).expect("an absolute redirect URL");
    let builder = Request::builder().header(header::COOKIE, cookie);
    match url.fragment() {
        Some(fragment) => builder
            .method(Method::POST)
            .uri(url.path())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Bytes::from(fragment.to_owned())),
        None => builder
            .method(Method::GET)
            .uri(format!("{}?{}", url.path(), url.query().unwrap_or("")))
            .body(Bytes::new()),
    }
    .expect("a valid callback request")
}

/// Completes a login started with [`start_login`]: the user `username` logs in at the provider,
/// the browser comes back to the redirect endpoint. Returns the new session cookie.
pub async fn finish_login(
    rp: &RelyingParty,
    provider: &SimProvider,
    now: u64,
    cookie: &str,
    authorization_url: &str,
    username: &str,
) -> Result<String, String> {
    let back = provider.authorize(authorization_url, username, now);
    let response = rp.handle_redirect(callback_request(&back, cookie)).await;
    if response.status() != StatusCode::FOUND {
        return Err(format!(
            "callback failed: HTTP {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        ));
    }
    session_cookie(&response).ok_or_else(|| "the callback set no session cookie".into())
}

/// The flows of the callback benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `response_type=code`: the code comes back in the query; the token endpoint's ID token.
    Code,
    /// `response_type=code id_token`: the fragment's ID token (with `c_hash`), then the token
    /// endpoint's.
    Hybrid,
}

impl Flow {
    /// The response type.
    pub fn response_type(self) -> &'static str {
        match self {
            Flow::Code => "code",
            Flow::Hybrid => "code id_token",
        }
    }
}

/// The redirect endpoint with everything in place: a relying party with its provider metadata
/// and key set cached, a pending login in the browser's login cookie, and the provider's token
/// and userinfo answers recorded. Each [`prepare`](Self::prepare) builds the same browser
/// request (the login cookie comes with it); each [`run`](Self::run) is then one complete
/// callback, from the request to the session write; and [`clean_up`](Self::clean_up) removes
/// the session it made and forgets the spent `state`, so that every run finds the store as the
/// first did. Each run spends the same `state` anew, paying for the mark as a real callback
/// does, instead of being refused as a replay.
pub struct CallbackFixture {
    /// The relying party (the sans-IO core, driven by [`drive`]).
    pub rp: oidc_core::RelyingParty,
    transport: ReplayTransport,
    store: MapStore,
    clock: Arc<TestClock>,
    /// Flows started so far, for each one's entropy.
    flows: AtomicU64,
    request: Request<Bytes>,
    /// What the callback validates at the token endpoint, for
    /// [`validate_id_token`](Self::validate_id_token): filled from the recorded login.
    validation: TokenValidation,
}

/// The token endpoint's ID token of the recorded login and what the callback checks it
/// against: the provider's key set as recorded, the login's nonce, the access token.
#[derive(Default)]
struct TokenValidation {
    id_token: String,
    keys: Option<oidc_core::jwks::JwkSet>,
    nonce: String,
    access_token: String,
    algorithms: Vec<String>,
}

impl std::fmt::Debug for CallbackFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackFixture").finish_non_exhaustive()
    }
}

/// The core relying party of the fixtures, for `app_url` and `response_type`.
fn core_rp(app_url: &str, response_type: &str) -> oidc_core::RelyingParty {
    oidc_core::RelyingParty::builder(app_url)
        .provider("default", provider_config(response_type))
        .session_secret([9u8; 32])
        .build()
        .expect("a valid relying party")
}

/// Starts a login on the core, as [`start_login`] does on the runtime.
fn start_core_login(
    rp: &oidc_core::RelyingParty,
    send: &dyn Fn(Request<Bytes>) -> Result<http::Response<Bytes>, TransportError>,
    store: &MapStore,
    cx: Context,
    now: u64,
) -> Result<(String, String), String> {
    let flow = rp.login(&login_parts(None)?, None, "/", cx);
    login_redirect(&drive(flow, send, store, now), None)
}

impl CallbackFixture {
    /// Logs in once for real against the simulated provider (recording its answers), then
    /// switches the transport to replay and checks that a replayed callback succeeds.
    ///
    /// # Panics
    /// If the login fails, or the session it makes keeps another ID token than the token
    /// endpoint's that [`validate_id_token`](Self::validate_id_token) validates.
    pub fn new(flow: Flow) -> Self {
        let app_url = "http://app.bench";
        let clock = Arc::new(TestClock::new(1_700_000_000));
        let provider = provider(app_url);
        let mut fixture = CallbackFixture {
            rp: core_rp(app_url, flow.response_type()),
            transport: ReplayTransport::new(provider.clone(), clock.clone()),
            store: MapStore::default(),
            clock: clock.clone(),
            flows: AtomicU64::new(0),
            request: Request::new(Bytes::new()),
            validation: TokenValidation::default(),
        };
        let (cookie, auth) = start_core_login(
            &fixture.rp,
            &|r| fixture.transport.send(r),
            &fixture.store,
            fixture.context(),
            clock.now(),
        )
        .expect("login starts");
        let back = provider.authorize(&auth, "alice", clock.now());
        fixture.request = callback_request(&back, &cookie);
        // The recorded login: discovery was done by `login`, the key set is fetched and cached
        // here, and the token and userinfo answers are recorded.
        let first = fixture.run(fixture.prepare());
        fixture.validation = TokenValidation::recorded(&fixture.transport, &auth, clock.now());
        // The baseline must time the token the callback validated and kept, not another one.
        let kept = session_cookie(&first)
            .and_then(|c| fixture.store.load(session_id(&c), clock.now()))
            .and_then(|r| r.user)
            .map(|u| u.id_token_jwt().to_owned());
        assert_eq!(
            kept.as_deref(),
            Some(fixture.validation.id_token.as_str()),
            "the callback kept the recorded token endpoint's ID token"
        );
        assert!(
            fixture.clean_up(&first),
            "recorded callback failed: {}",
            String::from_utf8_lossy(first.body())
        );
        match fixture.validate_id_token() {
            Ok(oidc_core::id_token::Validation::Valid(token)) => {
                assert!(
                    !token.subject().is_empty(),
                    "the recorded ID token has a subject"
                )
            }
            other => panic!("the recorded ID token does not validate: {other:?}"),
        }
        fixture.transport.replay();
        let replayed = fixture.run(fixture.prepare());
        assert!(
            fixture.clean_up(&replayed),
            "replayed callback failed: {}",
            String::from_utf8_lossy(replayed.body())
        );
        fixture
    }

    /// One validation of the ID token the callback receives from the token endpoint, checked as
    /// the callback checks it (OpenID Connect Core 3.1.3.7): the same token, the provider's key
    /// set (its verifier cache warm), the client, the login's nonce, the default skew and
    /// algorithms, and `at_hash` against the same access token. The baseline of the callback
    /// rows, so that both time the same signature over the same bytes.
    pub fn validate_id_token(
        &self,
    ) -> Result<oidc_core::id_token::Validation, oidc_core::IdTokenError> {
        let v = &self.validation;
        let Some(keys) = &v.keys else {
            return Ok(oidc_core::id_token::Validation::UnknownKey);
        };
        let mut expect = oidc_core::id_token::Expectations::new(
            ISSUER,
            CLIENT_ID,
            Some(&v.nonce),
            self.clock.now(),
            30,
            &v.algorithms,
        );
        expect.access_token = Some(&v.access_token);
        oidc_core::id_token::validate(&v.id_token, keys, &expect)
    }

    /// The next flow's context: the clock's time, entropy of its own.
    fn context(&self) -> Context {
        let n = self.flows.fetch_add(1, Ordering::Relaxed);
        Context::new(self.clock.now(), entropy(n))
    }

    /// Untimed set-up of one callback: the browser's request, with its login cookie.
    pub fn prepare(&self) -> Request<Bytes> {
        let mut request = Request::new(self.request.body().clone());
        *request.method_mut() = self.request.method().clone();
        *request.uri_mut() = self.request.uri().clone();
        *request.headers_mut() = self.request.headers().clone();
        request
    }

    /// One callback: the redirect endpoint from the request to the session write.
    pub fn run(&self, request: Request<Bytes>) -> oidc_core::Response {
        let cx = self.context();
        let flow = self.rp.handle_redirect(request, cx);
        drive(
            flow,
            &|r| self.transport.send(r),
            &self.store,
            self.clock.now(),
        )
    }

    /// Untimed clean-up after a [`run`](Self::run): whether the callback logged the user in (a
    /// redirect setting a new session cookie), and the new session removed from the store.
    pub fn clean_up(&self, response: &oidc_core::Response) -> bool {
        match session_cookie(response) {
            Some(cookie) if response.status() == StatusCode::FOUND => {
                self.store.forget_marks();
                self.store.delete(session_id(&cookie))
            }
            _ => false,
        }
    }
}

impl TokenValidation {
    /// Reads the recorded token response and key set, and the nonce the authorization request
    /// `authorization_url` carried.
    ///
    /// # Panics
    /// If the recording lacks either answer, or the URL its nonce.
    fn recorded(transport: &ReplayTransport, authorization_url: &str, now: u64) -> Self {
        let objects = transport.recorded_objects();
        let field = |object: &serde_json::Map<String, serde_json::Value>, name: &str| {
            object.get(name).and_then(|v| v.as_str()).map(str::to_owned)
        };
        let tokens = objects
            .iter()
            .find(|o| o.contains_key("id_token"))
            .expect("a recorded token response");
        let key_set = objects
            .iter()
            .find(|o| o.get("keys").is_some_and(serde_json::Value::is_array))
            .expect("a recorded key set");
        let keys = oidc_core::jwks::JwkSet::from_json(
            serde_json::to_string(key_set)
                .expect("a JSON object serialises")
                .as_bytes(),
            now,
        )
        .expect("the recorded key set parses");
        let nonce = url::Url::parse(authorization_url)
            .expect("an absolute authorization URL")
            .query_pairs()
            .find(|(k, _)| k == "nonce")
            .map(|(_, v)| v.into_owned())
            .expect("the authorization request carries a nonce");
        TokenValidation {
            id_token: field(tokens, "id_token").expect("an ID token"),
            keys: Some(keys),
            nonce,
            access_token: field(tokens, "access_token").expect("an access token"),
            algorithms: oidc_core::config::DEFAULT_ALGORITHMS
                .iter()
                .map(|a| a.to_string())
                .collect(),
        }
    }
}

/// One complete login against the simulated provider, in-process, through the core; returns
/// the stored session record, the session cookie (`name=value`) and the whole `Set-Cookie`
/// header value.
///
/// # Panics
/// If the login fails.
pub fn typical_session() -> (SessionRecord, String, String) {
    let app_url = "http://app.bench";
    let now = 1_700_000_000;
    let provider = provider(app_url);
    let rp = core_rp(app_url, "code");
    let store = MapStore::default();
    let send = |r: Request<Bytes>| -> Result<http::Response<Bytes>, TransportError> {
        Ok(provider.handle(r, now))
    };
    let (cookie, auth) = start_core_login(&rp, &send, &store, Context::new(now, entropy(0)), now)
        .expect("login starts");
    let back = provider.authorize(&auth, "alice", now);
    let flow = rp.handle_redirect(
        callback_request(&back, &cookie),
        Context::new(now, entropy(1)),
    );
    let response = drive(flow, &send, &store, now);
    let set_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{COOKIE_NAME}=")))
        .expect("a session cookie")
        .to_owned();
    let cookie = session_cookie(&response).expect("a session cookie");
    let record = store
        .load(session_id(&cookie), now)
        .expect("the session is stored");
    (record, cookie, set_cookie)
}

/// The same session with enterprise-style tokens: the realistic RS256 ID token of
/// [`crate::tokens`] and its claims as userinfo, a signed JWT access token (RFC 9068, with
/// roles and groups) and a long opaque refresh token, as large providers issue them.
pub fn enterprise_session(typical: &SessionRecord) -> SessionRecord {
    use josekit::jws::JwsHeader;
    use josekit::jwt::JwtPayload;
    use serde_json::json;

    let fixture = crate::tokens::TokenFixture::new(crate::tokens::Alg::Rs256);
    let claims = crate::tokens::realistic_claims(crate::tokens::Alg::Rs256);
    let pair = josekit::jws::RS256
        .generate_key_pair(2048)
        .expect("RSA key generation");
    let signer = josekit::jws::RS256
        .signer_from_der(pair.to_der_private_key())
        .expect("a signer");
    let now = crate::tokens::NOW;
    let access = json!({
        "iss": crate::tokens::ISSUER,
        "sub": claims["sub"],
        "aud": "https://api.example.com",
        "client_id": crate::tokens::CLIENT_ID,
        "exp": now + 3600, "iat": now, "nbf": now, "jti": "9d2c4e1f-7a3b-4c5d-8e6f-0a1b2c3d4e5f",
        "scope": "openid profile email offline_access api.read api.write",
        "roles": ["reader", "writer", "approver"],
        "groups": ["b1c2d3e4-0001", "b1c2d3e4-0002", "b1c2d3e4-0003", "b1c2d3e4-0004"],
        "tid": claims["tid"], "oid": claims["oid"], "azp": crate::tokens::CLIENT_ID,
        "auth_time": now - 12, "acr": "1", "amr": ["pwd", "mfa"], "ver": "2.0",
    });
    let mut header = JwsHeader::new();
    header.set_token_type("at+jwt");
    header.set_key_id("2024-06");
    let payload = JwtPayload::from_map(access.as_object().cloned().unwrap_or_default())
        .expect("access token claims");
    let access_token =
        josekit::jwt::encode_with_signer(&payload, &header, &signer).expect("a signed JWT");
    // Providers' refresh tokens are opaque and long (often encrypted blobs): 1 KB here.
    let refresh_token: String = (0..1024)
        .map(|i| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i * 7 % 64],
            )
        })
        .collect();
    let mut record = typical.clone();
    let mut user = record
        .user
        .as_deref()
        .cloned()
        .expect("the typical session has a user");
    let claims = oidc_core::ClaimsSet::from_map(&claims);
    user.id_token = oidc_core::IdToken::new(
        oidc_core::Secret::new(fixture.token.clone()),
        claims.clone(),
    );
    user.userinfo = Some(claims);
    user.access_token = Some(oidc_core::Secret::new(access_token));
    user.refresh_token = Some(oidc_core::Secret::new(refresh_token));
    record.user = Some(Arc::new(user));
    record
}
