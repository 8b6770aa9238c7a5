//! Logins through the core, in-process, against the simulated provider; and the callback
//! fixture, whose provider answers were recorded once and are replayed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use oidc_core::{
    BoxFuture, ClientMetadata, MemoryStore, ProviderConfig, RelyingParty, SessionRecord,
    SessionStore, Transport, TransportError,
};
use oidc_testkit::harness::{SimTransport, TestClock};
use oidc_testkit::{SimClient, SimProvider};

use crate::block_on;

/// The simulated provider's issuer in these benchmarks.
pub const ISSUER: &str = "https://op.bench";
/// The client registered there.
pub const CLIENT_ID: &str = "bench-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "bench-secret";
/// The session cookie's name (the core's default).
pub const COOKIE_NAME: &str = "oidc_session";

/// A transport that sends to the simulated provider and records each answer by path, until
/// [`replay`](Self::replay) is switched on: then it answers every request with the answer
/// recorded for its path, doing no provider work at all.
pub struct ReplayTransport {
    sim: SimTransport,
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
    /// Records what `sim` answers.
    pub fn new(sim: SimTransport) -> Self {
        ReplayTransport {
            sim,
            replaying: AtomicBool::new(false),
            recorded: Mutex::default(),
        }
    }

    /// From now on, answers from the recording only.
    pub fn replay(&self) {
        self.replaying.store(true, Ordering::SeqCst);
    }
}

impl Transport for ReplayTransport {
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        let path = request.uri().path().to_owned();
        if self.replaying.load(Ordering::Relaxed) {
            let answer = self
                .recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&path)
                .map(copy_response)
                .ok_or_else(|| TransportError::Other(format!("nothing recorded for {path}")));
            return Box::pin(std::future::ready(answer));
        }
        let sent = self.sim.send(request);
        Box::pin(async move {
            let answer = sent.await?;
            self.recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(path, copy_response(&answer));
            Ok(answer)
        })
    }
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

/// A login as a browser starts it: `(cookies, authorization URL)`, the cookies being those the
/// browser then sends to the redirect endpoint (`cookie`, if given, and the login cookie the
/// relying party set: a login in progress lives in the browser, not in the store).
pub async fn start_login(
    rp: &RelyingParty,
    cookie: Option<&str>,
) -> Result<(String, String), String> {
    let mut request = Request::get("/").body(()).expect("a request");
    if let Some(c) = cookie {
        request
            .headers_mut()
            .insert(header::COOKIE, c.parse().map_err(|_| "bad cookie")?);
    }
    let (parts, ()) = request.into_parts();
    let response = rp.login(&parts, None, "/").await;
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
/// first did.
pub struct CallbackFixture {
    /// The relying party.
    pub rp: RelyingParty,
    store: Arc<FixtureStore>,
    request: Request<Bytes>,
}

/// The fixture's store: sessions in a memory store, spent-`state` marks in a memory store of
/// their own that clean-up replaces. Each run then spends the same `state` anew, paying for
/// the mark as a real callback does, instead of being refused as a replay.
struct FixtureStore {
    sessions: MemoryStore,
    marks: Mutex<Arc<MemoryStore>>,
    clock: Arc<TestClock>,
}

impl FixtureStore {
    fn new(clock: Arc<TestClock>) -> Self {
        FixtureStore {
            sessions: MemoryStore::with_clock(100_000, clock.clone()),
            marks: Mutex::new(Arc::new(MemoryStore::with_clock(16, clock.clone()))),
            clock,
        }
    }

    fn forget_marks(&self) {
        *self.marks.lock().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(MemoryStore::with_clock(16, self.clock.clone()));
    }
}

impl SessionStore for FixtureStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, oidc_core::StoreError>> {
        self.sessions.load(id)
    }

    fn save<'a>(
        &'a self,
        id: &'a str,
        record: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), oidc_core::StoreError>> {
        self.sessions.save(id, record)
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), oidc_core::StoreError>> {
        self.sessions.delete(id)
    }

    fn mark_spent<'a>(
        &'a self,
        key: &'a str,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, oidc_core::StoreError>> {
        let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Box::pin(async move { marks.mark_spent(key, ttl).await })
    }
}

impl std::fmt::Debug for CallbackFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackFixture").finish_non_exhaustive()
    }
}

impl CallbackFixture {
    /// Logs in once for real against the simulated provider (recording its answers), then
    /// switches the transport to replay and checks that a replayed callback succeeds.
    ///
    /// # Panics
    /// If the login fails.
    pub fn new(flow: Flow) -> Self {
        let app_url = "http://app.bench";
        let clock = Arc::new(TestClock::new(1_700_000_000));
        let provider = provider(app_url);
        let transport = Arc::new(ReplayTransport::new(SimTransport::new(
            provider.clone(),
            clock.clone(),
        )));
        let store = Arc::new(FixtureStore::new(clock.clone()));
        let rp = RelyingParty::builder(app_url)
            .provider("default", provider_config(flow.response_type()))
            .transport(transport.clone())
            .clock(clock.clone())
            .session_secret([9u8; 32])
            .session_store(store.clone())
            .build()
            .expect("a valid relying party");
        let (cookie, auth) = block_on(start_login(&rp, None)).expect("login starts");
        let back = provider.authorize(&auth, "alice", oidc_core::Clock::now(&*clock));
        let request = callback_request(&back, &cookie);
        let fixture = CallbackFixture { rp, store, request };
        // The recorded login: discovery was done by `login`, the key set is fetched and cached
        // here, and the token and userinfo answers are recorded.
        let first = fixture.run(fixture.prepare());
        assert!(
            fixture.clean_up(&first),
            "recorded callback failed: {}",
            String::from_utf8_lossy(first.body())
        );
        transport.replay();
        let replayed = fixture.run(fixture.prepare());
        assert!(
            fixture.clean_up(&replayed),
            "replayed callback failed: {}",
            String::from_utf8_lossy(replayed.body())
        );
        fixture
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
        block_on(self.rp.handle_redirect(request))
    }

    /// Untimed clean-up after a [`run`](Self::run): whether the callback logged the user in (a
    /// redirect setting a new session cookie), and the new session removed from the store.
    pub fn clean_up(&self, response: &oidc_core::Response) -> bool {
        match session_cookie(response) {
            Some(cookie) if response.status() == StatusCode::FOUND => {
                self.store.forget_marks();
                block_on(self.store.delete(session_id(&cookie))).is_ok()
            }
            _ => false,
        }
    }
}

/// One complete login against the simulated provider, in-process; returns the stored session
/// record, the session cookie (`name=value`) and the whole `Set-Cookie` header value.
///
/// # Panics
/// If the login fails.
pub fn typical_session() -> (SessionRecord, String, String) {
    let app_url = "http://app.bench";
    let clock = Arc::new(TestClock::new(1_700_000_000));
    let provider = provider(app_url);
    let store = Arc::new(MemoryStore::with_clock(100_000, clock.clone()));
    let rp = RelyingParty::builder(app_url)
        .provider("default", provider_config("code"))
        .transport(Arc::new(SimTransport::new(provider.clone(), clock.clone())))
        .clock(clock.clone())
        .session_secret([9u8; 32])
        .session_store(store.clone())
        .build()
        .expect("a valid relying party");
    let (cookie, auth) = block_on(start_login(&rp, None)).expect("login starts");
    let back = provider.authorize(&auth, "alice", oidc_core::Clock::now(&*clock));
    let response = block_on(rp.handle_redirect(callback_request(&back, &cookie)));
    let set_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{COOKIE_NAME}=")))
        .expect("a session cookie")
        .to_owned();
    let cookie = session_cookie(&response).expect("a session cookie");
    let record = block_on(store.load(session_id(&cookie)))
        .expect("the store answers")
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
    user.id_token = oidc_core::IdToken {
        raw: oidc_core::Secret::new(fixture.token.clone()),
        claims: claims.clone(),
    };
    user.userinfo = Some(claims);
    user.access_token = Some(oidc_core::Secret::new(access_token));
    user.refresh_token = Some(oidc_core::Secret::new(refresh_token));
    record.user = Some(Arc::new(user));
    record
}
