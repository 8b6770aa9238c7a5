//! An in-process test bench for a relying party: the simulated provider as its transport, a
//! clock the test moves, fault injection at any provider endpoint, and a small browser that
//! keeps cookies and follows redirects between the app and the provider. No socket is opened.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use oidc_core::TransportError;
use oidc_runtime::{BoxFuture, Clock, Random, RelyingParty, RelyingPartyBuilder, Transport};

use crate::{SimClient, SimProvider};

/// The base URL of the app under test.
pub const APP_URL: &str = "http://app.test";
/// The simulated provider's issuer.
pub const ISSUER: &str = "https://op.test";
/// The second simulated provider's issuer (with [`BenchOptions::second_provider`]).
pub const ISSUER2: &str = "https://op2.test";
/// The test client's id.
pub const CLIENT_ID: &str = "test-client";
/// The test client's secret.
pub const CLIENT_SECRET: &str = "test-secret";

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct TestClock(AtomicU64);

impl TestClock {
    /// A clock at `now` (unix seconds).
    pub fn new(now: u64) -> Self {
        TestClock(AtomicU64::new(now))
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Seconds since the epoch now: a bench on a store with real expiry (Redis, or a
/// [`MemoryStore`](oidc_runtime::MemoryStore) on the system clock) starts its clock here
/// ([`BenchOptions::start_time`]), so that both agree when sessions expire.
pub fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A clock at the epoch, for a [`MemoryStore`](oidc_runtime::MemoryStore) shared with a bench
/// whose clock starts in the past: the store then never expires records itself (the relying
/// party judges expiry by the bench clock).
#[derive(Debug)]
pub struct EpochClock;

impl Clock for EpochClock {
    fn now(&self) -> u64 {
        0
    }
}

/// A deterministic [`oidc_runtime::Random`] for tests: the same seed gives the same bytes, so
/// that a scenario's `state`, nonces and session ids are the same on every run.
#[derive(Debug)]
pub struct SeededRandom(Mutex<rand::rngs::StdRng>);

impl SeededRandom {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        SeededRandom(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        use rand::RngCore;
        // A panic elsewhere while holding the lock leaves the generator itself intact.
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fill_bytes(buf);
    }
}

/// A failure to inject at a provider endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The connection is refused.
    Refused,
    /// The call times out.
    Timeout,
    /// The body exceeds the transport's cap.
    BodyTooLarge,
    /// The endpoint answers with this status and body.
    Respond(u16, String),
    /// The provider's real answer, served from a loopback socket that sends the headers at
    /// once and then the body one byte at a time over [`DRIP_LENGTH`], read by the real
    /// transport (`oidc_runtime::ReqwestTransport`) with a total timeout of [`DRIP_TIMEOUT`]:
    /// the call fails with a timeout only if that timeout covers the body too. Each such call
    /// is recorded ([`SimTransport::drips`]).
    SlowDrip,
    /// The connection closes before the announced body is complete; the transport reports it.
    Truncated,
    /// The provider answers normally, but the answer takes this many milliseconds to arrive
    /// (the request reaches the provider, and is counted, at once): to hold a call in flight
    /// while concurrent requests arrive.
    Delay(u64),
}

/// The total timeout of the real transport that reads a [`Fault::SlowDrip`] answer.
pub const DRIP_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a [`Fault::SlowDrip`] body takes to arrive in full: ten times [`DRIP_TIMEOUT`], so
/// that a transport whose timeout stops at the headers gets the whole answer, late.
pub const DRIP_LENGTH: Duration = Duration::from_secs(3);
/// A dripped body is padded with JSON-neutral spaces to at least this many bytes, so that
/// there is always a body left to drip when the timeout should fire.
const DRIP_MIN_BODY: usize = 256;

/// One call answered by [`Fault::SlowDrip`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Drip {
    /// The request's path.
    pub path: String,
    /// The body's length, announced in `content-length`.
    pub body_len: usize,
    /// Body bytes the server had written when the transport gave up (or all of them).
    pub sent: usize,
    /// How long the transport's call took.
    pub elapsed: Duration,
    /// What the transport returned: `Ok(status)` or the error.
    pub outcome: Result<u16, TransportError>,
}

/// A [`Transport`] that hands every request to a [`SimProvider`], unless a fault is armed for
/// the request's path.
#[derive(Clone)]
pub struct SimTransport {
    providers: Arc<Mutex<Vec<SimProvider>>>,
    clock: Arc<TestClock>,
    faults: Arc<Mutex<HashMap<String, Fault>>>,
    drips: Arc<Mutex<Vec<Drip>>>,
    /// The path of every request asked of the transport, faulted or not.
    calls: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for SimTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTransport").finish_non_exhaustive()
    }
}

impl SimTransport {
    /// A transport to `provider` on `clock`.
    pub fn new(provider: SimProvider, clock: Arc<TestClock>) -> Self {
        SimTransport {
            providers: Arc::new(Mutex::new(vec![provider])),
            clock,
            faults: Arc::default(),
            drips: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// Every later call whose path ends with `path_suffix` (`/token`, `/jwks`, `/userinfo`,
    /// `/.well-known/openid-configuration`) fails with `fault`, until [`clear`](Self::clear).
    pub fn fail(&self, path_suffix: &str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .insert(path_suffix.to_owned(), fault);
    }

    /// Routes requests for `provider`'s issuer to it too.
    pub fn add_provider(&self, provider: SimProvider) {
        self.providers.lock().unwrap().push(provider);
    }

    /// How many requests whose path ends with `path_suffix` the relying party has sent through
    /// this transport, including those a fault answered (which the provider never sees).
    pub fn calls(&self, path_suffix: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.ends_with(path_suffix))
            .count()
    }

    /// Removes every armed fault.
    pub fn clear(&self) {
        self.faults.lock().unwrap().clear();
    }

    /// Every call answered by [`Fault::SlowDrip`] so far.
    pub fn drips(&self) -> Vec<Drip> {
        self.drips.lock().unwrap().clone()
    }

    /// The provider's answer to `request`.
    fn answer(&self, request: Request<Bytes>) -> Response<Bytes> {
        let url = request.uri().to_string();
        let providers = self.providers.lock().unwrap().clone();
        let provider = providers
            .iter()
            .find(|p| url.starts_with(&format!("{}/", p.issuer())))
            .unwrap_or(&providers[0]);
        provider.handle(request, self.clock.now())
    }
}

/// Serves `answer` once on a loopback port: the status line and headers at once, then the
/// body a byte at a time, spread over [`DRIP_LENGTH`], until the client goes away. Counts the
/// body bytes written in `sent`. Returns the URL to fetch.
async fn drip_server(answer: Response<Bytes>, sent: Arc<AtomicUsize>) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut body = answer.body().to_vec();
    if body.len() < DRIP_MIN_BODY {
        body.resize(DRIP_MIN_BODY, b' ');
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status().as_u16(),
        answer.status().canonical_reason().unwrap_or("Status"),
        body.len()
    );
    for (name, value) in answer.headers() {
        if name != header::CONTENT_LENGTH && name != header::CONNECTION {
            head.push_str(&format!(
                "{name}: {}\r\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    head.push_str("\r\n");
    let interval = DRIP_LENGTH / body.len() as u32;
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = [0u8; 8192];
        let _ = socket.read(&mut request).await;
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for byte in body.chunks(1) {
            tokio::time::sleep(interval).await;
            if socket.write_all(byte).await.is_err() || socket.flush().await.is_err() {
                return;
            }
            sent.fetch_add(1, Ordering::SeqCst);
        }
    });
    Ok(format!("http://{addr}/"))
}

/// `answer` as [`Fault::SlowDrip`] serves it, read by the real transport.
async fn drip(
    drips: Arc<Mutex<Vec<Drip>>>,
    path: String,
    answer: Response<Bytes>,
) -> Result<Response<Bytes>, TransportError> {
    let transport = oidc_runtime::ReqwestTransport::builder()
        .timeout(DRIP_TIMEOUT)
        .build()?;
    let sent = Arc::new(AtomicUsize::new(0));
    let body_len = answer.body().len().max(DRIP_MIN_BODY);
    let url = drip_server(answer, sent.clone())
        .await
        .map_err(|e| TransportError::Other(format!("drip server: {e}")))?;
    let started = Instant::now();
    let result = transport
        .send(Request::get(url).body(Bytes::new()).expect("a request"))
        .await;
    drips.lock().unwrap().push(Drip {
        path,
        body_len,
        sent: sent.load(Ordering::SeqCst),
        elapsed: started.elapsed(),
        outcome: result
            .as_ref()
            .map(|r| r.status().as_u16())
            .map_err(Clone::clone),
    });
    result
}

impl Transport for SimTransport {
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> BoxFuture<'_, Result<Response<Bytes>, TransportError>> {
        let path = request.uri().path().to_owned();
        self.calls.lock().unwrap().push(path.clone());
        let fault = self
            .faults
            .lock()
            .unwrap()
            .iter()
            .find(|(suffix, _)| path.ends_with(suffix.as_str()))
            .map(|(_, f)| f.clone());
        let delay = match fault {
            Some(Fault::Delay(ms)) => ms,
            _ => 0,
        };
        let result = match fault {
            Some(Fault::SlowDrip) => {
                let answer = self.answer(request);
                return Box::pin(drip(self.drips.clone(), path, answer));
            }
            Some(Fault::Refused) => Err(TransportError::Connect("connection refused".into())),
            Some(Fault::Timeout) => Err(TransportError::Timeout),
            Some(Fault::BodyTooLarge) => Err(TransportError::BodyTooLarge(1024 * 1024)),
            Some(Fault::Truncated) => Err(TransportError::Other(
                "connection closed before the message completed".into(),
            )),
            Some(Fault::Respond(status, body)) => {
                let mut r = Response::new(Bytes::from(body));
                *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                Ok(r)
            }
            None | Some(Fault::Delay(_)) => Ok(self.answer(request)),
        };
        Box::pin(async move {
            if delay > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            }
            result
        })
    }
}

/// An app under test, built around a relying party by one adapter. The app follows
/// `docs/demo-contract.md`: `GET /` is protected and answers JSON with `sub`, `id_token_claims`,
/// `userinfo` and `access_token_present`; `GET /second` is protected by the provider named
/// `second` when there is one; the relying party's own routes are served; the error view
/// answers JSON. `GET /step-up` and `GET /login-with` are described in
/// [`app_api_scenarios`](crate::app_api_scenarios).
///
/// For [`token_scenarios!`](macro@crate::token_scenarios) the app also serves: `GET /api/me`,
/// protected by a bearer token per the relying party's configuration, answering the token's
/// claims as a JSON object; `GET` and `POST /api/either`, accepting a bearer token or else a
/// session, answering `{"via": "bearer" | "session", "sub": ...}`; and `GET /access_token`,
/// answering `{"access_token": ...}` with a valid access token of the session, refreshed when
/// due (`?force=true` forces a refresh), through the adapter's access-token extractor or guard.
///
/// An app of your own needs only [`new`](Self::new) and [`call`](Self::call) to be driven by a
/// [`Bench`] and its [`Browser`]; the routes above matter only to the scenario suite. See the
/// [testing guide](crate::guide).
pub trait App: Send + Sync + Sized + 'static {
    /// The adapter's name, for test output.
    const ADAPTER: &'static str = "app";
    /// Builds the app.
    fn new(rp: RelyingParty) -> Self;
    /// Builds the app with its routes (all of the above) under `prefix` (`/app`), as mounted
    /// there with no proxy in front: `rp`'s URL ends with that prefix. Only a bench with
    /// [`BenchOptions::prefix`] (and no [`BenchOptions::proxy_strips_prefix`]) asks for it; the
    /// default builds the app at the root with [`new`](Self::new), which suits an app never
    /// tested under a prefix.
    fn new_under(rp: RelyingParty, prefix: &'static str) -> Self {
        let _ = prefix;
        Self::new(rp)
    }
    /// Sends one request through the framework, in-process.
    fn call(&self, request: Request<Bytes>) -> BoxFuture<'_, Response<Bytes>>;
}

/// Everything one scenario needs: provider, clock, transport and the app.
#[non_exhaustive]
pub struct Bench<A: App> {
    /// The app's base URL (`APP_URL`, or `https://app.test` with [`BenchOptions::https`]).
    pub app_url: &'static str,
    /// The simulated provider.
    pub provider: SimProvider,
    /// The second provider, with [`BenchOptions::second_provider`].
    pub provider2: Option<SimProvider>,
    /// The shared clock.
    pub clock: Arc<TestClock>,
    /// The relying party's transport (arm faults here).
    pub transport: SimTransport,
    /// The relying party.
    pub rp: RelyingParty,
    /// The app.
    pub app: A,
    /// The app's path prefix when a proxy in front strips it ([`BenchOptions::prefix`]).
    pub stripped_prefix: Option<&'static str>,
}

/// What a bench is built with: [`Default`], then the setters below (or, inside this crate,
/// fields). `#[non_exhaustive]`, so that a new option is not a breaking change.
#[non_exhaustive]
pub struct BenchOptions {
    /// Adjusts the default provider's configuration.
    pub configure:
        Box<dyn FnOnce(oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder>,
    /// Adjusts the relying party's builder.
    pub rp: Box<dyn FnOnce(RelyingPartyBuilder) -> RelyingPartyBuilder>,
    /// Serve the app at `https://app.test` instead of `http://app.test`.
    pub https: bool,
    /// Add a second provider, named `second`, at [`ISSUER2`] (same client id and secret).
    pub second_provider: bool,
    /// Register the default provider's client dynamically instead of statically.
    pub dynamic_registration: bool,
    /// Configure the default provider with static metadata instead of discovery.
    pub static_metadata: bool,
    /// Adjusts the static metadata (with [`static_metadata`](Self::static_metadata)).
    pub metadata: Box<dyn FnOnce(oidc_core::ProviderMetadata) -> oidc_core::ProviderMetadata>,
    /// Start the clock at this time (unix seconds) instead of a fixed date in the past; for
    /// stores with real expiry, such as Redis.
    pub start_time: Option<u64>,
    /// Serve the app under this path prefix (`/app`): the relying party's URL, redirect URIs
    /// and post-logout URI carry it, and the app is built with [`App::new_under`]; or, with
    /// [`proxy_strips_prefix`](Self::proxy_strips_prefix), with [`App::new`] behind a proxy
    /// that takes the prefix off every request path.
    pub prefix: Option<&'static str>,
    /// With [`prefix`](Self::prefix): a proxy in front of the app strips it.
    pub proxy_strips_prefix: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            configure: Box::new(|b| b),
            rp: Box::new(|b| b),
            https: false,
            second_provider: false,
            dynamic_registration: false,
            static_metadata: false,
            metadata: Box::new(|m| m),
            start_time: None,
            prefix: None,
            proxy_strips_prefix: false,
        }
    }
}

impl BenchOptions {
    /// Sets [`configure`](Self::configure).
    pub fn configure(
        mut self,
        f: impl FnOnce(oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder + 'static,
    ) -> Self {
        self.configure = Box::new(f);
        self
    }

    /// Sets [`rp`](Self::rp).
    pub fn rp(
        mut self,
        f: impl FnOnce(RelyingPartyBuilder) -> RelyingPartyBuilder + 'static,
    ) -> Self {
        self.rp = Box::new(f);
        self
    }

    /// Sets [`https`](Self::https).
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// Sets [`second_provider`](Self::second_provider).
    pub fn second_provider(mut self, second_provider: bool) -> Self {
        self.second_provider = second_provider;
        self
    }

    /// Sets [`dynamic_registration`](Self::dynamic_registration).
    pub fn dynamic_registration(mut self, dynamic_registration: bool) -> Self {
        self.dynamic_registration = dynamic_registration;
        self
    }

    /// Sets [`static_metadata`](Self::static_metadata).
    pub fn static_metadata(mut self, static_metadata: bool) -> Self {
        self.static_metadata = static_metadata;
        self
    }

    /// Sets [`metadata`](Self::metadata).
    pub fn metadata(
        mut self,
        f: impl FnOnce(oidc_core::ProviderMetadata) -> oidc_core::ProviderMetadata + 'static,
    ) -> Self {
        self.metadata = Box::new(f);
        self
    }

    /// Sets [`start_time`](Self::start_time).
    pub fn start_time(mut self, unix_seconds: u64) -> Self {
        self.start_time = Some(unix_seconds);
        self
    }

    /// Sets [`prefix`](Self::prefix).
    pub fn prefix(mut self, prefix: &'static str) -> Self {
        self.prefix = Some(prefix);
        self
    }

    /// Sets [`proxy_strips_prefix`](Self::proxy_strips_prefix).
    pub fn proxy_strips_prefix(mut self, strips: bool) -> Self {
        self.proxy_strips_prefix = strips;
        self
    }
}

impl<A: App> Bench<A> {
    /// The standard bench: one provider by discovery, a confidential client, JSON errors.
    pub fn new() -> Self {
        Self::with(BenchOptions::default())
    }

    /// A bench with adjusted configuration.
    pub fn with(options: BenchOptions) -> Self {
        let app_url = if options.https {
            "https://app.test"
        } else {
            APP_URL
        };
        let clock = Arc::new(TestClock::new(options.start_time.unwrap_or(1_700_000_000)));
        let provider = SimProvider::new(ISSUER);
        // With several providers, each has its own redirect URI (`/redirect_uri/<name>`).
        let several = options.second_provider;
        let prefix = options.prefix.unwrap_or("");
        let redirect_uri = |name: &str| match several {
            true => format!("{app_url}{prefix}/redirect_uri/{name}"),
            false => format!("{app_url}{prefix}/redirect_uri"),
        };
        let mut client =
            SimClient::confidential(CLIENT_ID, CLIENT_SECRET, &redirect_uri("default"));
        client.post_logout_redirect_uris = vec![format!("{app_url}{prefix}/logout")];
        provider.register_client(client);
        // The provider issues this client's access tokens for the app's API too (an audience
        // mapper), so that the app accepts its own session's tokens as bearer tokens.
        provider.set_access_token_audience(Some(vec![CLIENT_ID.to_owned(), app_url.to_owned()]));
        let transport = SimTransport::new(provider.clone(), clock.clone());
        let base = if options.static_metadata {
            let discovery = provider.handle(
                Request::get(format!("{ISSUER}/.well-known/openid-configuration"))
                    .body(Bytes::new())
                    .unwrap(),
                clock.now(),
            );
            let metadata = (options.metadata)(
                oidc_core::ProviderMetadata::from_json(discovery.body())
                    .expect("the simulated provider's metadata parses"),
            );
            oidc_core::ProviderConfig::from_metadata(metadata)
        } else {
            oidc_core::ProviderConfig::discover(ISSUER)
        };
        let base = if options.dynamic_registration {
            base.register(oidc_core::ClientRegistrationInfo::new("bench app"))
        } else {
            base.client(oidc_core::ClientMetadata::new(CLIENT_ID, CLIENT_SECRET))
        };
        let config = (options.configure)(base.scopes(["openid", "profile", "email"]))
            .build()
            .expect("valid test configuration");
        let mut builder = RelyingParty::builder(format!("{app_url}{prefix}"))
            .provider("default", config)
            .transport(Arc::new(transport.clone()))
            .clock(clock.clone())
            .random(Arc::new(SeededRandom::new(42)))
            .session_secret([9u8; 32])
            .login_path("/login")
            .error_view(oidc_core::JsonErrorView);
        let provider2 = options.second_provider.then(|| {
            let p2 = SimProvider::new(ISSUER2);
            let mut client =
                SimClient::confidential(CLIENT_ID, CLIENT_SECRET, &redirect_uri("second"));
            client.post_logout_redirect_uris = vec![format!("{app_url}{prefix}/logout")];
            p2.register_client(client);
            transport.add_provider(p2.clone());
            p2
        });
        if provider2.is_some() {
            builder = builder.provider(
                "second",
                oidc_core::ProviderConfig::discover(ISSUER2)
                    .client(oidc_core::ClientMetadata::new(CLIENT_ID, CLIENT_SECRET))
                    .build()
                    .expect("valid second provider"),
            );
        }
        let rp = (options.rp)(builder).build().expect("valid relying party");
        let app = match options.prefix {
            Some(prefix) if !options.proxy_strips_prefix => A::new_under(rp.clone(), prefix),
            _ => A::new(rp.clone()),
        };
        let stripped_prefix = options.prefix.filter(|_| options.proxy_strips_prefix);
        Bench {
            app_url,
            provider,
            provider2,
            clock,
            transport,
            rp,
            app,
            stripped_prefix,
        }
    }

    /// Another instance of the app (same provider, client, clock and cookie key; its own
    /// randomness) on `store`: what a second process behind a shared session store is.
    pub fn another_instance(&self, store: Arc<dyn oidc_runtime::SessionStore>) -> A {
        self.instance_with(
            store,
            oidc_core::ProviderConfig::discover(ISSUER)
                .client(oidc_core::ClientMetadata::new(CLIENT_ID, CLIENT_SECRET)),
        )
    }

    /// [`another_instance`](Self::another_instance) registering its client dynamically, as
    /// the bench's own app does with [`BenchOptions::dynamic_registration`].
    pub fn another_registering_instance(&self, store: Arc<dyn oidc_runtime::SessionStore>) -> A {
        self.instance_with(
            store,
            oidc_core::ProviderConfig::discover(ISSUER)
                .register(oidc_core::ClientRegistrationInfo::new("bench app")),
        )
    }

    /// [`another_instance`](Self::another_instance) whose relying party `configure` changes
    /// further (another session secret, say), applied last.
    pub fn another_instance_configured(
        &self,
        store: Arc<dyn oidc_runtime::SessionStore>,
        configure: impl FnOnce(RelyingPartyBuilder) -> RelyingPartyBuilder,
    ) -> A {
        self.instance_configured(
            store,
            oidc_core::ProviderConfig::discover(ISSUER)
                .client(oidc_core::ClientMetadata::new(CLIENT_ID, CLIENT_SECRET)),
            configure,
        )
    }

    fn instance_with(
        &self,
        store: Arc<dyn oidc_runtime::SessionStore>,
        config: oidc_core::ProviderConfigBuilder,
    ) -> A {
        self.instance_configured(store, config, |b| b)
    }

    fn instance_configured(
        &self,
        store: Arc<dyn oidc_runtime::SessionStore>,
        config: oidc_core::ProviderConfigBuilder,
        configure: impl FnOnce(RelyingPartyBuilder) -> RelyingPartyBuilder,
    ) -> A {
        let config = config
            .scopes(["openid", "profile", "email"])
            .build()
            .expect("valid test configuration");
        let rp = RelyingParty::builder(self.app_url)
            .provider("default", config)
            .transport(Arc::new(self.transport.clone()))
            .clock(self.clock.clone())
            .random(Arc::new(SeededRandom::new(4242)))
            .session_secret([9u8; 32])
            .session_store(store)
            .error_view(oidc_core::JsonErrorView);
        let rp = configure(rp).build().expect("valid relying party");
        A::new(rp)
    }

    /// A fresh browser (no cookies).
    pub fn browser(&self) -> Browser<'_, A> {
        Browser {
            bench: self,
            app: None,
            app_cookies: HashMap::new(),
            provider_cookies: HashMap::new(),
            accept: "text/html",
        }
    }
}

impl<A: App> Default for Bench<A> {
    fn default() -> Self {
        Self::new()
    }
}

/// A stored cookie: its value, whether it is `SameSite=None` (sent on cross-site POSTs), and
/// its `Path` (sent only to paths under it).
#[derive(Debug, Clone)]
struct StoredCookie {
    value: String,
    cross_site: bool,
    path: String,
}

/// RFC 6265 5.1.4 path-match.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// A minimal browser: cookies per site (honouring `Path`, and `SameSite` on cross-site POSTs),
/// manual redirects.
pub struct Browser<'a, A: App> {
    bench: &'a Bench<A>,
    app: Option<&'a A>,
    app_cookies: HashMap<String, StoredCookie>,
    provider_cookies: HashMap<String, StoredCookie>,
    accept: &'static str,
}

/// A response as the browser saw it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Page {
    /// The `Location` header.
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON (HTTP {}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` of a JSON error page, asserting that this is one (4xx/5xx with JSON
    /// `error` and `error_description`).
    pub fn error(&self) -> String {
        assert!(
            self.status.is_client_error() || self.status.is_server_error(),
            "expected the error view, got HTTP {}: {}",
            self.status,
            self.text()
        );
        let v = self.json();
        assert!(v["error_description"].is_string(), "{v}");
        v["error"].as_str().expect("error is a string").to_owned()
    }
}

impl<'a, A: App> Browser<'a, A> {
    /// Sends a request to the app or the provider, with this browser's cookies, without
    /// following redirects.
    pub async fn send(&mut self, request: Request<Bytes>) -> Page {
        self.send_from(request, false).await
    }

    /// Sends a request as if from a page on another site (a provider's `form_post` page): only
    /// `SameSite=None` cookies go along.
    pub async fn send_cross_site(&mut self, request: Request<Bytes>) -> Page {
        self.send_from(request, true).await
    }

    async fn send_from(&mut self, mut request: Request<Bytes>, cross_site: bool) -> Page {
        let url = request.uri().to_string();
        let to_app = url.starts_with(self.bench.app_url);
        let jar = if to_app {
            &self.app_cookies
        } else {
            &self.provider_cookies
        };
        let request_path = request.uri().path().to_owned();
        let sent: Vec<String> = jar
            .iter()
            .filter(|(_, c)| !cross_site || c.cross_site)
            .filter(|(_, c)| path_matches(&request_path, &c.path))
            .map(|(k, c)| format!("{k}={}", c.value))
            .collect();
        if !sent.is_empty() {
            let cookie = sent.join("; ");
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        if !request.headers().contains_key(header::ACCEPT) {
            request
                .headers_mut()
                .insert(header::ACCEPT, self.accept.parse().unwrap());
        }
        let response = if to_app {
            // The app sees origin-form URIs, as from a real HTTP/1.1 client.
            let pq = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".into());
            // A proxy that strips the app's prefix: the app sees the path without it.
            let pq = match self.bench.stripped_prefix {
                Some(prefix) => match pq.strip_prefix(prefix) {
                    Some(rest) if rest.starts_with('/') => rest.to_owned(),
                    Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
                    _ => pq,
                },
                None => pq,
            };
            *request.uri_mut() = pq.parse().unwrap();
            request
                .headers_mut()
                .insert(header::HOST, "app.test".parse().unwrap());
            self.app.unwrap_or(&self.bench.app).call(request).await
        } else {
            let provider = match &self.bench.provider2 {
                Some(p2) if url.starts_with(&format!("{ISSUER2}/")) => p2,
                _ => &self.bench.provider,
            };
            provider.handle(request, self.bench.clock.now())
        };
        let jar = if to_app {
            &mut self.app_cookies
        } else {
            &mut self.provider_cookies
        };
        for set in response.headers().get_all(header::SET_COOKIE) {
            let Ok(s) = set.to_str() else { continue };
            let Ok(c) = cookie::Cookie::parse(s.to_owned()) else {
                continue;
            };
            let expired = c.max_age().is_some_and(|a| a.is_zero() || a.is_negative());
            if expired || c.value().is_empty() {
                jar.remove(c.name());
            } else {
                jar.insert(
                    c.name().to_owned(),
                    StoredCookie {
                        value: c.value().to_owned(),
                        cross_site: c.same_site() == Some(cookie::SameSite::None),
                        path: c.path().unwrap_or("/").to_owned(),
                    },
                );
            }
        }
        let (parts, body) = response.into_parts();
        Page {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET` an absolute URL or an app path (any fragment stays in the browser).
    pub async fn get(&mut self, url: &str) -> Page {
        let url = self.absolute(url);
        let url = url.split('#').next().unwrap_or_default().to_owned();
        self.send(Request::get(url).body(Bytes::new()).unwrap())
            .await
    }

    /// `GET` asking for JSON (an API client): the app answers `401` rather than redirecting.
    pub async fn get_json(&mut self, url: &str) -> Page {
        let url = self.absolute(url);
        self.send(
            Request::get(url)
                .header(header::ACCEPT, "application/json")
                .body(Bytes::new())
                .unwrap(),
        )
        .await
    }

    /// Follows redirects from `page` (at most 10), returning the last page.
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..10 {
            match page.location() {
                Some(loc) if page.status.is_redirection() => page = self.get(&loc).await,
                _ => return page,
            }
        }
        panic!("too many redirects");
    }

    /// Starts at `path`, expects the redirect to the provider, and returns the authorization URL.
    pub async fn start_login(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
        let loc = page.location().expect("a login redirect");
        assert!(
            loc.starts_with(ISSUER) || loc.starts_with(ISSUER2),
            "redirect to the provider, got {loc}"
        );
        loc
    }

    /// Brings the provider's answer (`back`, from [`authorize`](Self::authorize)) to the app
    /// the way a browser would for the response mode of `authorization_url`: a GET for `query`;
    /// for `fragment`, the GET (fragment withheld), then the page's form POST of the fragment;
    /// for `form_post`, a cross-site POST. Returns the app's answer to the last request.
    pub async fn deliver(&mut self, authorization_url: &str, back: &str) -> Page {
        let auth = url::Url::parse(authorization_url).expect("absolute authorization URL");
        let q: HashMap<String, String> = auth.query_pairs().into_owned().collect();
        let mode = q.get("response_mode").cloned().unwrap_or_else(|| {
            if q.get("response_type").map(String::as_str) == Some("code") {
                "query".into()
            } else {
                "fragment".into()
            }
        });
        // Issue 18 (J): a JARM mode travels as its base mode (`jwt`: the response type's).
        let mode = match mode.as_str() {
            "query.jwt" => "query".to_owned(),
            "fragment.jwt" => "fragment".to_owned(),
            "form_post.jwt" => "form_post".to_owned(),
            "jwt" if q.get("response_type").map(String::as_str) == Some("code") => {
                "query".to_owned()
            }
            "jwt" => "fragment".to_owned(),
            _ => mode,
        };
        match mode.as_str() {
            "fragment" if back.contains('#') => {
                let (base, fragment) = back.split_once('#').unwrap_or((back, ""));
                let page = self.get(base).await;
                assert_eq!(
                    page.status,
                    StatusCode::OK,
                    "fragment page: {}",
                    page.text()
                );
                let csp = page.headers[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap();
                assert!(csp.contains("script-src 'nonce-"), "{csp}");
                assert!(page
                    .text()
                    .contains(r#"<form id="f" method="post" action="">"#));
                self.send(
                    Request::post(base)
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(Bytes::from(fragment.to_owned()))
                        .unwrap(),
                )
                .await
            }
            "form_post" => {
                let (base, params) = back.split_once('?').unwrap_or((back, ""));
                self.send_cross_site(
                    Request::post(base)
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(Bytes::from(params.to_owned()))
                        .unwrap(),
                )
                .await
            }
            _ => self.get(back).await,
        }
    }

    /// The provider's answer for `username` to an authorization URL: the URL the browser comes
    /// back to.
    pub fn authorize(&self, authorization_url: &str, username: &str) -> String {
        let provider = match &self.bench.provider2 {
            Some(p2) if authorization_url.starts_with(&format!("{ISSUER2}/")) => p2,
            _ => &self.bench.provider,
        };
        provider.authorize(authorization_url, username, self.bench.clock.now())
    }

    /// A whole login from `path` as `username`; returns the page finally shown.
    pub async fn login(&mut self, path: &str, username: &str) -> Page {
        let auth = self.start_login(path).await;
        let back = self.authorize(&auth, username);
        let page = self.deliver(&auth, &back).await;
        self.follow(page).await
    }

    /// Whether the app considers this browser logged in (`GET /` as an API client).
    pub async fn is_logged_in(&mut self) -> bool {
        let page = self.get_json("/").await;
        match page.status {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("unexpected HTTP {other}: {}", page.text()),
        }
    }

    /// The app's session cookie value, if any: `__Host-oidc_session` (the name on https),
    /// else `oidc_session`.
    pub fn session_cookie(&self) -> Option<&str> {
        self.app_cookies
            .get("__Host-oidc_session")
            .or_else(|| self.app_cookies.get("oidc_session"))
            .map(|c| c.value.as_str())
    }

    /// The session the bench's app has stored for this browser's session cookie (read through
    /// the relying party, as a handler would): its tokens, ID token and claims.
    pub async fn stored_session(&self) -> Option<Arc<oidc_core::UserSession>> {
        let cookie = self.session_cookie()?;
        let name = if self.app_cookies.contains_key("__Host-oidc_session") {
            "__Host-oidc_session"
        } else {
            "oidc_session"
        };
        let parts = Request::get("/")
            .header(header::COOKIE, format!("{name}={cookie}"))
            .body(())
            .ok()?
            .into_parts()
            .0;
        self.bench.rp.session(&parts).await
    }

    /// The names of the app cookies this browser holds for logins in progress (one per login,
    /// `oidc_session_login_...`, `__Host-` first on https).
    pub fn login_cookie_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .app_cookies
            .keys()
            .filter(|n| {
                n.trim_start_matches("__Host-")
                    .starts_with("oidc_session_login_")
            })
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// An app cookie's value, if this browser holds it.
    pub fn app_cookie(&self, name: &str) -> Option<&str> {
        self.app_cookies.get(name).map(|c| c.value.as_str())
    }

    /// The bench this browser belongs to (its relying party, provider and clock).
    pub fn bench(&self) -> &'a Bench<A> {
        self.bench
    }

    /// Sends later app requests to `app` (another instance), keeping this browser's cookies.
    pub fn use_app(&mut self, app: &'a A) {
        self.app = Some(app);
    }

    /// Sets or replaces an app cookie (to plant or tamper).
    pub fn set_app_cookie(&mut self, name: &str, value: &str) {
        self.app_cookies.insert(
            name.to_owned(),
            StoredCookie {
                value: value.to_owned(),
                cross_site: false,
                path: "/".to_owned(),
            },
        );
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.bench.app_url)
        } else {
            url.to_owned()
        }
    }
}

/// The JSON the contract's `GET /` answers for a user session; every adapter's test app and
/// demo uses it.
pub fn contract_json(user: &oidc_core::UserSession) -> serde_json::Value {
    serde_json::json!({
        "sub": user.subject(),
        "provider": user.provider,
        "id_token_claims": user.id_token_claims(),
        "userinfo": user.userinfo,
        "access_token_present": user.access_token.is_some(),
    })
}
