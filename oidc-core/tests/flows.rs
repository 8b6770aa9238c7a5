//! Every operation of the relying party stepped action by action against a canned provider
//! and an in-memory map for the session store: no executor, no network, no clock. Each test
//! asserts the exact sequence of actions a flow asks for, which is the contract a runtime
//! implements.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, Request, StatusCode};
use josekit::jws::{EdDSA, JwsHeader, JwsSigner};
use josekit::jwt::{self, JwtPayload};
use oidc_core::{
    Action, Answer, BearerRequirements, BearerValidation, ClientMetadata, Context, Endpoint, Flow,
    ProviderConfig, RelyingParty, Response, SessionRecord, TransportError,
};
use serde_json::{json, Value};

const ISSUER: &str = "https://op.example";
const APP: &str = "https://app.example";
const NOW: u64 = 1_700_000_000;

struct Key {
    signer: Box<dyn JwsSigner>,
    jwks: Value,
}

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = EdDSA
            .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
            .unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id("k1");
        Key {
            signer: Box::new(EdDSA.signer_from_der(pair.to_der_private_key()).unwrap()),
            jwks: json!({ "keys": [serde_json::to_value(jwk.as_ref()).unwrap()] }),
        }
    })
}

fn sign(claims: Value) -> String {
    let mut h = JwsHeader::new();
    h.set_key_id("k1");
    let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    jwt::encode_with_signer(&p, &h, key().signer.as_ref()).unwrap()
}

fn id_token(nonce: &str, now: u64) -> String {
    sign(
        json!({"iss": ISSUER, "sub": "alice", "aud": "client", "exp": now + 300,
        "iat": now, "nonce": nonce}),
    )
}

fn json_response(body: Value) -> Result<http::Response<Bytes>, TransportError> {
    Ok(http::Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap())
}

fn discovery() -> Value {
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": format!("{ISSUER}/authorize"),
        "token_endpoint": format!("{ISSUER}/token"),
        "userinfo_endpoint": format!("{ISSUER}/userinfo"),
        "jwks_uri": format!("{ISSUER}/jwks"),
        "introspection_endpoint": format!("{ISSUER}/introspect"),
        "end_session_endpoint": format!("{ISSUER}/logout"),
        "registration_endpoint": format!("{ISSUER}/register"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
    })
}

/// The canned provider: answers by path, and records what was asked.
#[derive(Default)]
struct Op {
    /// The nonce of the login in progress, for the ID token the token endpoint returns.
    nonce: String,
    refreshed: u32,
    /// The key set endpoint fails.
    jwks_down: bool,
    /// Publish a `revocation_endpoint`, which answers this (RFC 7009).
    revocation: Option<Result<u16, TransportError>>,
    /// The form bodies the revocation endpoint received.
    revoked: Vec<String>,
    /// How many clients the registration endpoint registered.
    registered: u32,
    /// The registration endpoint cannot be reached.
    registration_down: bool,
    /// The token endpoint refuses connections.
    token_down: bool,
    /// Registered secrets expire after this many seconds (each registration a new client).
    secret_lifetime: Option<u64>,
    /// The `Authorization` header of the last token request.
    token_auth: Option<String>,
}

impl Op {
    fn answer(
        &mut self,
        request: &http::Request<Bytes>,
        now: u64,
    ) -> Result<http::Response<Bytes>, TransportError> {
        match request.uri().path() {
            "/.well-known/openid-configuration" => {
                let mut doc = discovery();
                if self.revocation.is_some() {
                    doc["revocation_endpoint"] = json!(format!("{ISSUER}/revoke"));
                }
                json_response(doc)
            }
            "/revoke" => {
                let outcome = self.revocation.clone().expect("published");
                self.revoked
                    .push(String::from_utf8_lossy(request.body()).into_owned());
                outcome.map(|status| {
                    http::Response::builder()
                        .status(status)
                        .body(Bytes::new())
                        .unwrap()
                })
            }
            "/register" if self.registration_down => Err(TransportError::Connect("refused".into())),
            "/register" => {
                self.registered += 1;
                // With `secret_lifetime`, each registration is a new client whose secret
                // expires after it.
                let (id, expires) = match self.secret_lifetime {
                    Some(life) if self.registered > 1 => {
                        (format!("client{}", self.registered), now + life)
                    }
                    Some(life) => ("client".to_owned(), now + life),
                    None => ("client".to_owned(), 0),
                };
                json_response(json!({"client_id": id, "client_secret": "secret",
                    "client_secret_expires_at": expires}))
            }
            "/jwks" if self.jwks_down => Err(TransportError::Connect("refused".into())),
            "/jwks" => json_response(key().jwks.clone()),
            "/token" if self.token_down => Err(TransportError::Connect("refused".into())),
            "/token" => {
                self.token_auth = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = String::from_utf8_lossy(request.body()).into_owned();
                if body.contains("grant_type=refresh_token") {
                    self.refreshed += 1;
                    json_response(json!({"access_token": format!("at-{}", self.refreshed + 1),
                        "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt"}))
                } else {
                    json_response(json!({"access_token": "at-1", "token_type": "Bearer",
                        "expires_in": 600, "refresh_token": "rt",
                        "id_token": id_token(&self.nonce, now)}))
                }
            }
            "/userinfo" => json_response(json!({"sub": "alice", "name": "Alice"})),
            "/introspect" => json_response(json!({"active": true, "iss": ISSUER,
                "aud": APP, "sub": "svc", "scope": "read", "exp": now + 60})),
            other => Err(TransportError::Other(format!("unexpected {other}"))),
        }
    }
}

/// The caller's side of the loop: the provider, a map for the store, the time.
struct Driver {
    op: Op,
    records: HashMap<String, SessionRecord>,
    marks: Vec<String>,
    now: u64,
    seed: u8,
    /// How many `DeleteIndexed` actions fail before they succeed again.
    failing_deletions: u32,
}

impl Driver {
    fn new() -> Self {
        Driver {
            op: Op::default(),
            records: HashMap::new(),
            marks: Vec::new(),
            now: NOW,
            seed: 0,
            failing_deletions: 0,
        }
    }

    fn cx(&mut self) -> Context {
        self.seed += 1;
        Context::new(self.now, [self.seed; 32])
    }

    /// Performs one action and answers it; `None` when the flow is done (the outcome) or
    /// waits.
    fn perform<T>(
        &mut self,
        flow: &mut Flow<T>,
        action: Action<T>,
        log: &mut Vec<String>,
    ) -> Option<T> {
        match action {
            Action::Send(out) => {
                log.push(format!("send {}", out.request.uri().path()));
                let answer = self.op.answer(&out.request, self.now);
                flow.answer(Answer::Http(answer));
            }
            Action::Load(id) => {
                log.push("load".into());
                flow.answer(Answer::Loaded(Ok(self.records.get(&id).cloned())));
            }
            Action::Save(id, record) => {
                log.push("save".into());
                self.records.insert(id, record);
                flow.answer(Answer::Stored(Ok(())));
            }
            Action::Update(id, record) => {
                log.push("update".into());
                let present = self.records.contains_key(&id);
                if present {
                    self.records.insert(id, record);
                }
                flow.answer(Answer::Updated(Ok(present)));
            }
            Action::Delete(id) => {
                log.push("delete".into());
                self.records.remove(&id);
                flow.answer(Answer::Stored(Ok(())));
            }
            Action::DeleteIndexed(_) if self.failing_deletions > 0 => {
                log.push("delete indexed (fails)".into());
                self.failing_deletions -= 1;
                flow.answer(Answer::Stored(Err(oidc_core::StoreError::new("down"))));
            }
            Action::DeleteIndexed(key) => {
                log.push("delete indexed".into());
                self.records
                    .retain(|_, record| !record.index_keys().contains(&key));
                flow.answer(Answer::Stored(Ok(())));
            }
            Action::MarkSpent(key, _) => {
                log.push("mark".into());
                let fresh = !self.marks.contains(&key);
                self.marks.push(key);
                flow.answer(Answer::Marked(Ok(fresh)));
            }
            Action::Unmark(key) => {
                log.push("unmark".into());
                self.marks.retain(|m| *m != key);
                flow.answer(Answer::Stored(Ok(())));
            }
            Action::Wait => log.push("wait".into()),
            Action::Sleep(d) => log.push(format!("sleep {}ms", d.as_millis())),
            Action::Done(out) => return Some(out),
        }
        None
    }

    /// Drives `flow` to its end; the outcome and the actions it asked for.
    fn run<T>(&mut self, mut flow: Flow<T>) -> (T, Vec<String>) {
        let mut log = Vec::new();
        for _ in 0..50 {
            let action = flow.poll();
            if let Some(out) = self.perform(&mut flow, action, &mut log) {
                return (out, log);
            }
            assert_ne!(
                log.last().map(String::as_str),
                Some("wait"),
                "nobody else runs: {log:?}"
            );
        }
        panic!("the flow did not finish: {log:?}");
    }
}

fn rp_with(config: ProviderConfig) -> RelyingParty {
    rp_with_builder(config).build().unwrap()
}

fn rp_with_builder(config: ProviderConfig) -> oidc_core::RelyingPartyBuilder {
    RelyingParty::builder(APP)
        .provider("op", config)
        .session_secret([9u8; 32])
}

fn rp() -> RelyingParty {
    builder().build().unwrap()
}

/// The relying party of [`rp`], before its options.
fn builder() -> oidc_core::RelyingPartyBuilder {
    rp_with_builder(
        ProviderConfig::discover(ISSUER)
            .client(ClientMetadata::new("client", "secret"))
            .build()
            .unwrap(),
    )
}

fn get(uri: &str, cookies: &[String]) -> Request<Bytes> {
    let mut b = Request::get(uri).header(header::ACCEPT, "text/html");
    if !cookies.is_empty() {
        b = b.header(header::COOKIE, cookies.join("; "));
    }
    b.body(Bytes::new()).unwrap()
}

fn post_form(uri: &str, form: &str, cookies: &[String]) -> Request<Bytes> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookies.join("; "))
        .body(Bytes::from(form.to_owned()))
        .unwrap()
}

/// The `name=value` pairs a response sets (cleared cookies left out).
fn set_cookies(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .filter(|c| !c.ends_with('='))
        .collect()
}

fn location(resp: &Response) -> url::Url {
    url::Url::parse(resp.headers()[header::LOCATION].to_str().unwrap())
        .or_else(|_| {
            url::Url::parse(APP)
                .unwrap()
                .join(resp.headers()[header::LOCATION].to_str().unwrap())
        })
        .unwrap()
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
        .into_owned()
}

/// A protected page without a session: discovery, then the redirect to the provider with a
/// login cookie. Returns the login cookie and the authorization request's URL.
fn start(d: &mut Driver, rp: &RelyingParty) -> (Vec<String>, url::Url) {
    let (parts, _) = get("/private?x=1", &[]).into_parts();
    let cx = d.cx();
    let (outcome, _) = d.run(rp.authenticate(&parts, None, cx));
    let resp = outcome.unwrap_err();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let url = location(&resp);
    assert_eq!(url.path(), "/authorize");
    d.op.nonce = param(&url, "nonce");
    (set_cookies(&resp), url)
}

/// A logged-in browser: its session cookie.
fn logged_in(d: &mut Driver, rp: &RelyingParty) -> Vec<String> {
    let (login, url) = start(d, rp);
    let state = param(&url, "state");
    let cx = d.cx();
    let flow = rp.handle(
        get(&format!("/redirect_uri?code=c1&state={state}"), &login),
        cx,
    );
    let (resp, _) = d.run(flow.unwrap());
    set_cookies(&resp)
}

#[test]
fn code_flow_step_by_step() {
    let mut d = Driver::new();
    let rp = rp();
    let (parts, _) = get("/private?x=1", &[]).into_parts();
    let cx = d.cx();
    let (outcome, log) = d.run(rp.authenticate(&parts, None, cx));
    assert_eq!(log, ["send /.well-known/openid-configuration"]);
    let resp = outcome.unwrap_err();
    let url = location(&resp);
    assert_eq!(param(&url, "client_id"), "client");
    assert_eq!(param(&url, "code_challenge_method"), "S256");
    d.op.nonce = param(&url, "nonce");
    let login = set_cookies(&resp);
    assert!(d.records.is_empty(), "starting a login stores nothing");

    let state = param(&url, "state");
    let cx = d.cx();
    let flow = rp.handle(
        get(&format!("/redirect_uri?code=c1&state={state}"), &login),
        cx,
    );
    let (resp, log) = d.run(flow.expect("the redirect endpoint is the relying party's"));
    assert_eq!(
        log,
        [
            "mark",
            "send /token",
            "send /jwks",
            "send /userinfo",
            "save"
        ],
        "metadata known: no second discovery"
    );
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()[header::LOCATION], "/private?x=1");
    let session = set_cookies(&resp);
    assert_eq!(session.len(), 1, "{session:?}");

    let (parts, _) = get("/private", &session).into_parts();
    let cx = d.cx();
    let (user, log) = d.run(rp.authenticate(&parts, None, cx));
    assert_eq!(log, ["load"]);
    let user = user.unwrap();
    assert_eq!(
        user.userinfo.as_ref().unwrap().get_str("name").unwrap(),
        "Alice"
    );

    // The same response again: the login is spent, nothing is sent, nothing saved.
    let before = d.records.len();
    let cx = d.cx();
    let flow = rp.handle(
        get(&format!("/redirect_uri?code=c1&state={state}"), &login),
        cx,
    );
    let (resp, log) = d.run(flow.unwrap());
    assert_eq!(log, ["mark"]);
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(d.records.len(), before);
}

#[test]
fn implicit_flow_step_by_step() {
    let mut d = Driver::new();
    let rp = rp_with(
        ProviderConfig::discover(ISSUER)
            .client(ClientMetadata::new("client", "secret"))
            .response_type("id_token")
            .response_mode("form_post")
            .build()
            .unwrap(),
    );
    let (login, url) = start(&mut d, &rp);
    let form = format!(
        "id_token={}&state={}",
        id_token(&param(&url, "nonce"), NOW),
        param(&url, "state")
    );
    let cx = d.cx();
    let (resp, log) = d.run(rp.handle_redirect(post_form("/redirect_uri", &form, &login), cx));
    assert_eq!(
        log,
        ["mark", "send /jwks", "save"],
        "no token call in the implicit flow"
    );
    assert_eq!(resp.status(), StatusCode::FOUND);
}

#[test]
fn hybrid_flow_step_by_step() {
    let mut d = Driver::new();
    let rp = rp_with(
        ProviderConfig::discover(ISSUER)
            .client(ClientMetadata::new("client", "secret"))
            .response_type("code id_token")
            .response_mode("form_post")
            .build()
            .unwrap(),
    );
    let (login, url) = start(&mut d, &rp);
    let nonce = param(&url, "nonce");
    // The front-channel ID token binds the code with `c_hash`.
    use sha2::Digest;
    let digest = sha2::Sha512::digest(b"c1");
    let c_hash = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &digest[..32],
    );
    let front = sign(
        json!({"iss": ISSUER, "sub": "alice", "aud": "client", "exp": NOW + 300,
        "iat": NOW, "nonce": nonce, "c_hash": c_hash}),
    );
    let form = format!("code=c1&id_token={front}&state={}", param(&url, "state"));
    let cx = d.cx();
    let (resp, log) = d.run(rp.handle_redirect(post_form("/redirect_uri", &form, &login), cx));
    assert_eq!(
        log,
        [
            "mark",
            "send /jwks",
            "send /token",
            "send /userinfo",
            "save"
        ],
        "{resp:?}"
    );
    assert_eq!(resp.status(), StatusCode::FOUND);
}

#[test]
fn refresh_step_by_step_and_one_refresh_for_two_requests() {
    let mut d = Driver::new();
    let rp = rp();
    let session = logged_in(&mut d, &rp);
    let (parts, _) = get("/api", &session).into_parts();

    let cx = d.cx();
    let (token, log) = d.run(rp.valid_access_token(&parts, false, cx));
    assert_eq!(token.unwrap().expose(), "at-1");
    assert_eq!(log, ["load"], "a valid token is just read");

    let cx = d.cx();
    let (token, log) = d.run(rp.valid_access_token(&parts, true, cx));
    assert_eq!(token.unwrap().expose(), "at-2");
    assert_eq!(
        log,
        ["load", "load", "mark", "send /token", "load", "update"],
        "the refresh lease in the shared store is taken before the refresh token is spent"
    );

    // Two requests of one session force a refresh at once: the second waits for the first's
    // and takes its token; one token request in all.
    let mut log = Vec::new();
    let (cx1, cx2) = (d.cx(), d.cx());
    let mut first = rp.valid_access_token(&parts, true, cx1);
    let mut second = rp.valid_access_token(&parts, true, cx2);
    let a = first.poll();
    assert!(d.perform(&mut first, a, &mut log).is_none()); // load
    let a = first.poll();
    assert!(d.perform(&mut first, a, &mut log).is_none()); // load (own refresh)
    let a = first.poll();
    assert!(d.perform(&mut first, a, &mut log).is_none()); // the lease
    let a = first.poll();
    assert!(matches!(&a, Action::Send(out) if out.endpoint == Endpoint::Token));
    assert!(
        first.must_finish(),
        "the refresh token may be spent from here"
    );
    let b = second.poll();
    assert!(d.perform(&mut second, b, &mut log).is_none()); // load
    assert!(matches!(second.poll(), Action::Wait));
    let (token1, _) = {
        assert!(d.perform(&mut first, a, &mut log).is_none());
        d.run(first)
    };
    assert_eq!(token1.unwrap().expose(), "at-3");
    let (token2, log2) = d.run(second);
    assert_eq!(token2.unwrap().expose(), "at-3");
    assert_eq!(log2, ["load"], "the waiter reads the saved token");
    assert_eq!(d.op.refreshed, 2);
}

/// A logout that lands while a refresh is at the provider (here: the provider's back-channel
/// logout handled by another instance, which deletes the record) stays a logout: the refreshed
/// tokens are not written back over the deleted session.
#[test]
fn a_session_ended_during_its_refresh_stays_ended() {
    let mut d = Driver::new();
    let rp = rp();
    let session = logged_in(&mut d, &rp);
    let (parts, _) = get("/api", &session).into_parts();
    let id = d.records.keys().next().cloned().expect("a session record");

    let cx = d.cx();
    let mut flow = rp.valid_access_token(&parts, true, cx);
    let mut log = Vec::new();
    let outcome = loop {
        let action = flow.poll();
        if let Action::Update(..) = &action {
            // The other instance's delete falls between the refresh's load and its write.
            d.records.remove(&id);
        }
        if let Some(out) = d.perform(&mut flow, action, &mut log) {
            break out;
        }
        assert!(log.len() < 50, "the flow did not finish: {log:?}");
    };
    assert_eq!(
        log,
        [
            "load",
            "load",
            "mark",
            "send /token",
            "load",
            "update",
            "unmark"
        ],
        "the lease is given back: the session it guarded is gone"
    );
    assert!(
        matches!(outcome, Err(oidc_core::Error::LoginRequired(_))),
        "the refresh reports the session gone: {outcome:?}"
    );
    assert!(
        d.records.is_empty(),
        "nothing was written back: {:?}",
        d.records.keys()
    );
}

#[test]
fn logout_step_by_step() {
    let mut d = Driver::new();
    let rp = rp();
    let session = logged_in(&mut d, &rp);
    let (parts, _) = get("/logout", &session).into_parts();
    let cx = d.cx();
    let (resp, log) = d.run(rp.logout(&parts, cx));
    assert_eq!(log, ["load", "delete", "save"]);
    let url = location(&resp);
    assert_eq!(url.path(), "/logout");
    assert_eq!(url.host_str(), Some("op.example"));
    let state = param(&url, "state");
    let logout_cookie = set_cookies(&resp);
    assert_eq!(d.records.len(), 1, "only the logout's own record");

    let (parts, _) = get(&format!("/logout?state={state}"), &logout_cookie).into_parts();
    let cx = d.cx();
    let (resp, log) = d.run(rp.logout(&parts, cx));
    assert_eq!(log, ["load", "delete"]);
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(d.records.is_empty());
}

/// With a `revocation_endpoint`, logout deletes the local session, then revokes the refresh
/// token and the access token (one `Send` each, in that order, with the client's
/// authentication), then goes on to RP-initiated logout; a failing revocation changes none of
/// that. A logout return revokes nothing.
#[test]
fn logout_revokes_tokens_step_by_step() {
    for outcome in [
        Ok(200),
        Ok(503),
        Err(TransportError::Timeout),
        Err(TransportError::Connect("refused".into())),
    ] {
        let mut d = Driver::new();
        d.op.revocation = Some(outcome.clone());
        let rp = rp();
        let session = logged_in(&mut d, &rp);
        let (parts, _) = get("/logout", &session).into_parts();
        let cx = d.cx();
        let (resp, log) = d.run(rp.logout(&parts, cx));
        assert_eq!(
            log,
            ["load", "delete", "send /revoke", "send /revoke", "save"],
            "{outcome:?}"
        );
        assert_eq!(d.op.revoked.len(), 2);
        assert!(d.op.revoked[0].contains("token=rt"), "{:?}", d.op.revoked);
        assert!(d.op.revoked[0].contains("token_type_hint=refresh_token"));
        assert!(d.op.revoked[1].contains("token=at-1"));
        assert!(d.op.revoked[1].contains("token_type_hint=access_token"));
        let url = location(&resp);
        assert_eq!(url.path(), "/logout", "{outcome:?}");
        assert_eq!(url.host_str(), Some("op.example"));
        assert_eq!(d.records.len(), 1, "only the logout's own record");

        let state = param(&url, "state");
        let (parts, _) = get(&format!("/logout?state={state}"), &set_cookies(&resp)).into_parts();
        let cx = d.cx();
        let (resp, log) = d.run(rp.logout(&parts, cx));
        assert_eq!(log, ["load", "delete"], "the return revokes nothing");
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

#[test]
fn bearer_by_introspection_and_as_jwt() {
    let mut d = Driver::new();
    let rp = rp();
    let parts = |token: &str| {
        Request::get("/api")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let requirements = BearerRequirements::new().scopes(["read"]);
    let cx = d.cx();
    let (identity, log) = d.run(rp.authorize_bearer(&parts("opaque"), &requirements, cx));
    assert_eq!(identity.unwrap().claims["sub"], "svc");
    assert_eq!(
        log,
        ["send /.well-known/openid-configuration", "send /introspect"]
    );
    let cx = d.cx();
    let (_, log) = d.run(rp.authorize_bearer(&parts("opaque"), &requirements, cx));
    assert!(
        log.is_empty(),
        "the introspection result is cached: {log:?}"
    );

    let jwt = sign(
        json!({"iss": ISSUER, "sub": "svc", "aud": APP, "exp": NOW + 60,
        "iat": NOW, "client_id": "c", "jti": "j1", "scope": "read"}),
    );
    let mut h = JwsHeader::new();
    h.set_key_id("k1");
    h.set_token_type("at+jwt");
    let p = JwtPayload::from_map(
        json!({"iss": ISSUER, "sub": "svc", "aud": APP, "exp": NOW + 60, "iat": NOW,
            "client_id": "c", "jti": "j1", "scope": "read"})
        .as_object()
        .unwrap()
        .clone(),
    )
    .unwrap();
    let at_jwt = jwt::encode_with_signer(&p, &h, key().signer.as_ref()).unwrap();
    let jwt_requirements = requirements.clone().validation(BearerValidation::Jwt);
    let cx = d.cx();
    let (identity, log) = d.run(rp.authorize_bearer(&parts(&at_jwt), &jwt_requirements, cx));
    assert_eq!(identity.unwrap().claims["sub"], "svc");
    assert_eq!(log, ["send /jwks"]);
    // An ID token is no access token (`typ` is not `at+jwt`): refused, the keys cached.
    let cx = d.cx();
    let (refused, log) = d.run(rp.authorize_bearer(&parts(&jwt), &jwt_requirements, cx));
    assert_eq!(refused.unwrap_err().status(), StatusCode::UNAUTHORIZED);
    assert!(log.is_empty());
}

/// One discovery for concurrent flows: the second waits, then uses what the first learnt; a
/// flow dropped half-way hands the fetch back.
#[test]
fn shared_fetches_are_single_flight_and_released_on_drop() {
    let mut d = Driver::new();
    let rp = rp();
    let (parts, _) = get("/private", &[]).into_parts();
    let (cx1, cx2, cx3) = (d.cx(), d.cx(), d.cx());
    let mut first = rp.authenticate(&parts, None, cx1);
    let mut second = rp.authenticate(&parts, None, cx2);
    let a = first.poll();
    assert!(matches!(&a, Action::Send(out) if out.endpoint == Endpoint::Discovery));
    assert!(matches!(second.poll(), Action::Wait));
    drop(first);
    // The waiter polls again and discovers itself; a newcomer waits for it.
    let mut log = Vec::new();
    let a = second.poll();
    assert!(matches!(&a, Action::Send(out) if out.endpoint == Endpoint::Discovery));
    let mut third = rp.authenticate(&parts, None, cx3);
    assert!(matches!(third.poll(), Action::Wait));
    assert!(d.perform(&mut second, a, &mut log).is_none());
    let (resp, log) = d.run(second);
    assert!(log.is_empty());
    assert_eq!(resp.unwrap_err().status(), StatusCode::FOUND);
    let (resp, log) = d.run(third);
    assert!(log.is_empty());
    assert_eq!(resp.unwrap_err().status(), StatusCode::FOUND);
}

/// Driving a flow out of order ends it with an error response, never a panic, and leaves
/// nothing behind.
#[test]
fn misuse_is_an_error_outcome() {
    let mut d = Driver::new();
    let rp = rp();
    let (parts, _) = get("/private", &[]).into_parts();
    let cx = d.cx();
    let mut flow = rp.authenticate(&parts, None, cx);
    assert!(matches!(flow.poll(), Action::Send(_)));
    flow.answer(Answer::Loaded(Ok(None)));
    match flow.poll() {
        Action::Done(Err(resp)) => assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR),
        other => panic!("{other:?}"),
    }
    match flow.poll() {
        Action::Done(Err(resp)) => assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR),
        other => panic!("{other:?}"),
    }
    // Its discovery was released: the next flow discovers at once.
    let cx = d.cx();
    let mut next = rp.authenticate(&parts, None, cx);
    assert!(matches!(next.poll(), Action::Send(_)));
    next.answer(Answer::Http(json_response(discovery())));
    let cx = d.cx();
    let mut unanswered = rp.authenticate(&parts, None, cx);
    assert!(matches!(unanswered.poll(), Action::Done(Err(r)) if r.status() == StatusCode::FOUND));

    // Polled again without an answer.
    let session = logged_in(&mut d, &rp);
    let before = d.records.clone();
    let (parts, _) = get("/private", &session).into_parts();
    let cx = d.cx();
    let mut flow = rp.authenticate(&parts, None, cx);
    assert!(matches!(flow.poll(), Action::Load(_)));
    assert!(
        matches!(flow.poll(), Action::Done(Err(r)) if r.status() == StatusCode::INTERNAL_SERVER_ERROR)
    );
    assert_eq!(d.records, before, "the logged-in session is as it was");
    // And the browser is still logged in.
    let cx = d.cx();
    let (user, _) = d.run(rp.authenticate(&parts, None, cx));
    assert_eq!(user.unwrap().subject(), "alice");
}

/// A flow uses the outcome of the fetch it made once, whatever the shared state would decide
/// again: metadata that is stale at once is still discovered once per flow, and a key set that
/// cannot be fetched is one failed request and an answer, not a loop.
#[test]
fn a_flow_fetches_once_even_when_the_policy_would_fetch_again() {
    let mut d = Driver::new();
    let rp = rp_with(
        ProviderConfig::discover(ISSUER)
            .client(ClientMetadata::new("client", "secret"))
            .metadata_max_age(std::time::Duration::ZERO)
            .jwks_min_refetch(std::time::Duration::ZERO)
            .build()
            .unwrap(),
    );
    let (parts, _) = get("/private", &[]).into_parts();
    let cx = d.cx();
    let (resp, log) = d.run(rp.authenticate(&parts, None, cx));
    assert_eq!(log, ["send /.well-known/openid-configuration"]);
    assert_eq!(resp.unwrap_err().status(), StatusCode::FOUND);

    d.op.jwks_down = true;
    let at = Request::get("/api")
        .header(header::AUTHORIZATION, "Bearer a.b.c")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let jwt = BearerRequirements::new().validation(BearerValidation::Jwt);
    let cx = d.cx();
    let (refused, log) = d.run(rp.authorize_bearer(&at, &jwt, cx));
    assert_eq!(
        log,
        ["send /.well-known/openid-configuration", "send /jwks"],
        "one key set request"
    );
    assert_eq!(refused.unwrap_err().status(), StatusCode::BAD_GATEWAY);
}

/// A logout token for `sub` (no `sid`), issued at `now`.
fn logout_token(sub: &str, jti: &str, now: u64) -> String {
    sign(
        json!({"iss": ISSUER, "aud": "client", "iat": now, "jti": jti, "sub": sub,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
    )
}

/// The provider's back-channel logout request carrying `token`.
fn post_logout_token(token: &str) -> Request<Bytes> {
    post_form("/backchannel_logout", &format!("logout_token={token}"), &[])
}

/// Back-channel logout: a valid logout token naming the user (`sub`, since these ID tokens
/// carry no `sid`) ends both browsers' sessions through the store's index, after spending its
/// `jti`; the keys are those the logins fetched. The same token again is a replay: its mark is
/// taken, and nothing is deleted. A token for another user ends nothing of alice's.
#[test]
fn backchannel_logout_step_by_step() {
    let mut d = Driver::new();
    let rp = rp();
    logged_in(&mut d, &rp);
    logged_in(&mut d, &rp);
    assert_eq!(d.records.len(), 2);
    let post = post_logout_token;

    let cx = d.cx();
    let bob = logout_token("bob", "j0", d.now);
    let (resp, log) = d.run(rp.handle(post(&bob), cx).unwrap());
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(log, ["mark", "delete indexed"]);
    assert_eq!(
        d.records.len(),
        2,
        "bob's logout ends none of alice's sessions"
    );

    let token = logout_token("alice", "j1", d.now);
    let cx = d.cx();
    let (resp, log) = d.run(rp.handle(post(&token), cx).unwrap());
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(log, ["mark", "delete indexed"]);
    assert!(d.records.is_empty(), "both sessions ended");

    logged_in(&mut d, &rp);
    let cx = d.cx();
    let (resp, log) = d.run(rp.handle(post(&token), cx).unwrap());
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(log, ["mark"], "a replay deletes nothing");
    assert_eq!(d.records.len(), 1);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"], "invalid_request");
}

/// Two instances sharing the store (two relying parties, one map of records and marks) force
/// a refresh of one session at once: the first takes the session's refresh lease and spends
/// the refresh token; the second finds the lease taken, sleeps and reloads until the first
/// has saved, and uses its token. One token request in all, so a rotating refresh token is
/// never presented twice.
#[test]
fn two_instances_share_one_refresh() {
    let mut d = Driver::new();
    let (a_rp, b_rp) = (rp(), rp());
    let session = logged_in(&mut d, &a_rp);
    let (parts, _) = get("/api", &session).into_parts();
    let mut log = Vec::new();
    let (cx1, cx2) = (d.cx(), d.cx());
    let mut a = a_rp.valid_access_token(&parts, true, cx1);
    let mut b = b_rp.valid_access_token(&parts, true, cx2);
    for _ in 0..3 {
        let action = a.poll(); // load, load, lease
        assert!(d.perform(&mut a, action, &mut log).is_none());
    }
    let send = a.poll();
    assert!(matches!(&send, Action::Send(out) if out.endpoint == Endpoint::Token));
    let mut b_log = Vec::new();
    for _ in 0..3 {
        let action = b.poll(); // load, load, lease (taken)
        assert!(d.perform(&mut b, action, &mut b_log).is_none());
    }
    assert_eq!(b_log, ["load", "load", "mark"]);
    // Instance A's refresh is in flight: B sleeps and finds nothing new yet.
    for _ in 0..2 {
        let action = b.poll();
        assert!(d.perform(&mut b, action, &mut b_log).is_none());
    }
    assert_eq!(b_log[3..], ["sleep 100ms", "load"]);
    assert!(!b.must_finish(), "the waiting instance spends nothing");
    let (token_a, _) = {
        assert!(d.perform(&mut a, send, &mut log).is_none());
        d.run(a)
    };
    let (token_b, rest) = d.run(b);
    assert_eq!(token_b.unwrap().expose(), token_a.unwrap().expose());
    // B's reload came before A's save: it finds the lease still taken (A keeps it: the next
    // refresh has a key of its own), sleeps, and reads what A saved.
    assert_eq!(
        rest,
        ["mark", "sleep 100ms", "load"],
        "B reads what A saved"
    );
    assert_eq!(
        d.op.refreshed, 1,
        "one token request between the two instances"
    );
}

/// A logged-in session whose refresh lease an instance took and kept, dying before it refreshed
/// or gave the lease back: in the shared store the lease stays taken (in this driver marks never
/// run out; a real store lets the lease run out after a minute). The other instance's forced
/// refresh of that session.
fn refresh_behind_a_dead_instance(d: &mut Driver) -> Flow<oidc_core::Result<oidc_core::Secret>> {
    let (dead_rp, b_rp) = (rp(), rp());
    let session = logged_in(d, &dead_rp);
    let (parts, _) = get("/api", &session).into_parts();
    let mut log = Vec::new();
    let cx = d.cx();
    let mut dead = dead_rp.valid_access_token(&parts, true, cx);
    for _ in 0..3 {
        let action = dead.poll(); // load, load, lease
        assert!(d.perform(&mut dead, action, &mut log).is_none());
    }
    assert_eq!(log, ["load", "load", "mark"]);
    drop(dead);
    let cx = d.cx();
    b_rp.valid_access_token(&parts, true, cx)
}

/// An instance waiting on a dead instance's refresh lease gives up once it has waited twice the
/// lease's lifetime, with a transport error, having sent nothing and written nothing: the
/// session stays as it was and the next request tries again.
#[test]
fn a_refresh_waiting_on_a_dead_instance_gives_up_and_changes_nothing() {
    let mut d = Driver::new();
    let mut b = refresh_behind_a_dead_instance(&mut d);
    let before = d.records.clone();
    let mut log = Vec::new();
    let outcome = loop {
        let action = b.poll();
        if let Some(out) = d.perform(&mut b, action, &mut log) {
            break out;
        }
        assert!(log.len() < 10_000, "it never gives up");
    };
    let err = outcome.expect_err("no token without the lease");
    assert!(
        matches!(
            &err,
            oidc_core::Error::Transport {
                endpoint: Endpoint::Token,
                ..
            }
        ),
        "{err:?}"
    );
    let sleeps = log.iter().filter(|l| *l == "sleep 100ms").count();
    assert_eq!(sleeps, 1200, "twice the 60 s lease, in 100 ms steps");
    let others: Vec<_> = log
        .iter()
        .filter(|l| !matches!(l.as_str(), "load" | "mark" | "sleep 100ms"))
        .collect();
    assert!(
        others.is_empty(),
        "nothing sent, nothing written: {others:?}"
    );
    assert_eq!(d.op.refreshed, 0);
    assert_eq!(d.records, before, "the session is as it was");
}

/// When the dead instance's lease runs out, the waiting instance takes it and refreshes.
#[test]
fn a_refresh_waiting_on_a_dead_instance_takes_the_lease_once_it_runs_out() {
    let mut d = Driver::new();
    let mut b = refresh_behind_a_dead_instance(&mut d);
    let mut log = Vec::new();
    let outcome = loop {
        let action = b.poll();
        if let Some(out) = d.perform(&mut b, action, &mut log) {
            break out;
        }
        if log.iter().filter(|l| *l == "sleep 100ms").count() == 5 {
            d.marks.clear(); // the lease ran out
        }
        assert!(log.len() < 10_000, "it never takes the lease");
    };
    assert_eq!(outcome.unwrap().expose(), "at-2");
    assert_eq!(d.op.refreshed, 1);
    assert_eq!(log.last().map(String::as_str), Some("update"));
}

fn dynamic_rp() -> RelyingParty {
    rp_with(
        ProviderConfig::discover(ISSUER)
            .register(oidc_core::ClientRegistrationInfo::new("app"))
            .build()
            .unwrap(),
    )
}

/// One dynamic registration per app, not per process: the first instance finds no
/// registration kept in the shared store, takes the registration lease, registers and keeps
/// the client there; a second instance (another relying party on the same store) loads it
/// and registers nothing, and a login started on the first completes on the second.
#[test]
fn instances_share_one_registration() {
    let mut d = Driver::new();
    let (a, b) = (dynamic_rp(), dynamic_rp());
    let (parts, _) = get("/private", &[]).into_parts();
    let cx = d.cx();
    let (outcome, log) = d.run(a.authenticate(&parts, None, cx));
    let login = outcome.unwrap_err();
    assert_eq!(
        log,
        [
            "send /.well-known/openid-configuration",
            "load",
            "mark",
            "send /register",
            "save"
        ]
    );
    assert_eq!(d.op.registered, 1);
    let url = location(&login);
    d.op.nonce = param(&url, "nonce");
    let state = param(&url, "state");
    // The browser comes back to the other instance.
    let cx = d.cx();
    let flow = b.handle(
        get(
            &format!("/redirect_uri?code=c1&state={state}"),
            &set_cookies(&login),
        ),
        cx,
    );
    let (resp, log) = d.run(flow.unwrap());
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "logged in on the other instance"
    );
    assert_eq!(
        log[..3],
        ["mark", "send /.well-known/openid-configuration", "load"],
        "the state spent, then the kept registration loaded"
    );
    assert!(!log.iter().any(|l| l == "send /register"), "{log:?}");
    assert_eq!(d.op.registered, 1, "one registration for the two instances");
}

/// A failing registration is kept as a failure for the retry interval: the instance that
/// tried answers the next request at once, and so does another instance, each without a
/// registration request; after the interval it is tried again.
#[test]
fn a_failed_registration_backs_off_on_every_instance() {
    let mut d = Driver::new();
    d.op.registration_down = true;
    let (a, b) = (dynamic_rp(), dynamic_rp());
    let (parts, _) = get("/private", &[]).into_parts();
    let cx = d.cx();
    let (outcome, log) = d.run(a.authenticate(&parts, None, cx));
    assert_eq!(outcome.unwrap_err().status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        log,
        [
            "send /.well-known/openid-configuration",
            "load",
            "mark",
            "send /register",
            "save"
        ]
    );
    d.op.registration_down = false;
    let cx = d.cx();
    let (outcome, log) = d.run(a.authenticate(&parts, None, cx));
    assert_eq!(outcome.unwrap_err().status(), StatusCode::BAD_GATEWAY);
    assert!(log.is_empty(), "backed off in this process: {log:?}");
    let cx = d.cx();
    let (outcome, log) = d.run(b.authenticate(&parts, None, cx));
    assert_eq!(outcome.unwrap_err().status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        log,
        ["send /.well-known/openid-configuration", "load"],
        "the other instance learns the failure from the store"
    );
    d.now += 11;
    d.records.clear(); // the failure record has expired
    d.marks.clear(); // and so has the lease
    let cx = d.cx();
    let (outcome, log) = d.run(a.authenticate(&parts, None, cx));
    assert_eq!(outcome.unwrap_err().status(), StatusCode::FOUND);
    assert!(log.contains(&"send /register".to_owned()), "{log:?}");
    assert_eq!(d.op.registered, 1);
}

/// A refresh that failed (here its token request was refused at the connection) gives the
/// session's refresh lease back, so that the next request, on any instance, refreshes at once
/// instead of waiting for the lease to run out.
#[test]
fn a_failed_refresh_gives_its_lease_back() {
    let mut d = Driver::new();
    let rp = rp();
    let session = logged_in(&mut d, &rp);
    let (parts, _) = get("/api", &session).into_parts();
    d.op.token_down = true;
    let cx = d.cx();
    let (token, log) = d.run(rp.valid_access_token(&parts, true, cx));
    assert!(token.is_err());
    assert_eq!(
        log,
        ["load", "load", "mark", "send /token", "load", "unmark"]
    );
    d.op.token_down = false;
    let other = rp_with(
        ProviderConfig::discover(ISSUER)
            .client(ClientMetadata::new("client", "secret"))
            .build()
            .unwrap(),
    );
    let cx = d.cx();
    let (token, log) = d.run(other.valid_access_token(&parts, true, cx));
    assert_eq!(token.unwrap().expose(), "at-2");
    assert_eq!(
        log,
        [
            "load",
            "load",
            "mark",
            "send /.well-known/openid-configuration",
            "send /token",
            "load",
            "update"
        ],
        "another instance takes the lease at once"
    );
}

/// Once a logout token's `jti` is spent, the provider's own retry would be refused as a
/// replay: a deletion the store fails is tried again (three times in all) before the logout is
/// answered `400`.
#[test]
fn backchannel_logout_tries_a_failed_deletion_again() {
    let mut d = Driver::new();
    let rp = rp();
    logged_in(&mut d, &rp);
    let token = |jti: &str, now: u64| logout_token("alice", jti, now);
    let post = post_logout_token;
    d.failing_deletions = 2;
    let cx = d.cx();
    let (resp, log) = d.run(rp.handle(post(&token("j1", d.now)), cx).unwrap());
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        log,
        [
            "mark",
            "delete indexed (fails)",
            "sleep 200ms",
            "delete indexed (fails)",
            "sleep 200ms",
            "delete indexed"
        ]
    );
    assert!(d.records.is_empty());
    logged_in(&mut d, &rp);
    d.failing_deletions = 3;
    let cx = d.cx();
    let (resp, _) = d.run(rp.handle(post(&token("j2", d.now)), cx).unwrap());
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(
        !body["error_description"].as_str().unwrap().contains("down"),
        "no store detail for whoever posted: {body}"
    );
    assert_eq!(d.records.len(), 1);
}

/// Front-channel logout, when configured: a `GET` with the provider's `iss` and a `sid` ends
/// that provider session's sessions through the index, and its page may be framed by the
/// provider alone; `HEAD` (a prefetch) and an unknown issuer end nothing.
#[test]
fn frontchannel_logout_step_by_step() {
    let mut d = Driver::new();
    let rp = builder().frontchannel_logout_path("/fc").build().unwrap();
    logged_in(&mut d, &rp);
    let mut record = d.records.values().next().unwrap().clone();
    // These ID tokens carry no `sid`: give the login one, as a provider with sessions would.
    let mut user = (**record.user.as_ref().unwrap()).clone();
    user.sid = Some("s1".into());
    record.user = Some(std::sync::Arc::new(user));
    let id = d.records.keys().next().unwrap().clone();
    d.records.insert(id, record);
    let iss = url::form_urlencoded::byte_serialize(ISSUER.as_bytes()).collect::<String>();

    let head = Request::head(format!("/fc?iss={iss}&sid=s1"))
        .body(Bytes::new())
        .unwrap();
    let cx = d.cx();
    let (resp, log) = d.run(rp.handle(head, cx).unwrap());
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(log.is_empty());
    let cx = d.cx();
    let foreign = get("/fc?iss=https%3A%2F%2Fevil.example&sid=s1", &[]);
    let (resp, log) = d.run(rp.handle(foreign, cx).unwrap());
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(log.is_empty());
    assert_eq!(d.records.len(), 1);

    let cx = d.cx();
    let (resp, log) = d.run(
        rp.handle(get(&format!("/fc?iss={iss}&sid=s1"), &[]), cx)
            .unwrap(),
    );
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(log, ["delete indexed"]);
    assert!(d.records.is_empty());
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors https://op.example"), "{csp}");
    assert!(resp.headers().get(header::X_FRAME_OPTIONS).is_none());
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
}

/// A login keeps the client it started with: started with a registered client whose secret
/// then expires, it finishes with that client (the code was issued to it) even though the
/// next request registered a new one meanwhile.
#[test]
fn a_login_finishes_with_the_client_it_started_with() {
    use base64::Engine as _;
    let mut d = Driver::new();
    d.op.secret_lifetime = Some(60);
    let rp = dynamic_rp();
    let (parts, _) = get("/private", &[]).into_parts();
    let cx = d.cx();
    let (outcome, _) = d.run(rp.authenticate(&parts, None, cx));
    let login = outcome.unwrap_err();
    let url = location(&login);
    assert_eq!(param(&url, "client_id"), "client");
    d.op.nonce = param(&url, "nonce");
    let state = param(&url, "state");
    // The secret expires; another request registers a new client.
    d.now += 61;
    let cx = d.cx();
    let (outcome, _) = d.run(rp.authenticate(&parts, None, cx));
    assert_eq!(
        param(&location(&outcome.unwrap_err()), "client_id"),
        "client2"
    );
    assert_eq!(d.op.registered, 2);
    let cx = d.cx();
    let flow = rp.handle(
        get(
            &format!("/redirect_uri?code=c1&state={state}"),
            &set_cookies(&login),
        ),
        cx,
    );
    let (resp, _) = d.run(flow.unwrap());
    assert_eq!(resp.status(), StatusCode::FOUND, "the login completes");
    let basic = base64::engine::general_purpose::STANDARD.encode("client:secret");
    assert_eq!(
        d.op.token_auth.as_deref(),
        Some(format!("Basic {basic}").as_str()),
        "the code is redeemed by the client it was issued to"
    );
}

/// The flow-free path of a protected request ([`RelyingParty::session_lookup`]) serves a user
/// only where the flow serves that very user, and leaves every other case to the flow: no
/// cookie, a forged one, an unknown provider, a deleted or expired session, login parameters
/// the session does not meet or that a route may not ask, automatic token refresh.
#[test]
fn session_lookup_serves_only_what_the_flow_serves() {
    use oidc_core::LoginParams;
    use std::sync::Arc;

    let rp = rp();
    let mut d = Driver::new();
    let session = logged_in(&mut d, &rp);
    // The fast path's user, after checking that the flow, on the same request and records,
    // serves the same user whenever the fast path serves one.
    let fast = |d: &mut Driver,
                rp: &RelyingParty,
                cookies: &[String],
                provider: Option<&str>,
                params: Option<&LoginParams>| {
        let (parts, _) = get("/private", cookies).into_parts();
        let served = rp
            .session_lookup(&parts, provider, params)
            .and_then(|l| l.user(rp, d.records.get(l.id()), d.now));
        let cx = d.cx();
        let flow = match params {
            Some(p) => rp.authenticate_with(&parts, provider, p, cx),
            None => rp.authenticate(&parts, provider, cx),
        };
        let (outcome, _) = d.run(flow);
        if let Some(user) = &served {
            let by_flow = outcome.expect("the flow serves the user the fast path serves");
            assert!(Arc::ptr_eq(user, &by_flow) || **user == *by_flow);
        }
        served
    };
    let user = fast(&mut d, &rp, &session, None, None).expect("a logged-in session is served");
    assert_eq!(user.provider, "op");
    assert!(fast(&mut d, &rp, &session, Some("op"), None).is_some());
    assert!(fast(&mut d, &rp, &[], None, None).is_none());
    let mut forged = session.clone();
    forged[0].push('x');
    assert!(fast(&mut d, &rp, &forged, None, None).is_none());
    let (parts, _) = get("/private", &session).into_parts();
    assert!(rp.session_lookup(&parts, Some("other"), None).is_none());
    // Parameters the session does not meet, and ones no route may ask: the flow decides.
    let mfa = LoginParams::new().acr_values(["mfa"]);
    assert!(fast(&mut d, &rp, &session, None, Some(&mfa)).is_none());
    let none = LoginParams::new().prompt("none");
    assert!(rp.session_lookup(&parts, None, Some(&none)).is_none());
    assert!(fast(&mut d, &rp, &session, None, Some(&LoginParams::new())).is_some());
    // Automatic access token refresh comes before the record is read: always the flow.
    let refreshing = builder().auto_refresh_access_tokens(true).build().unwrap();
    assert!(refreshing.session_lookup(&parts, None, None).is_none());
    // Expired, then deleted: nobody is served.
    let id = rp
        .session_lookup(&parts, None, None)
        .unwrap()
        .id()
        .to_owned();
    let expires_at = d.records[&id].expires_at;
    d.now = expires_at + 1;
    assert!(fast(&mut d, &rp, &session, None, None).is_none());
    d.now = NOW;
    d.records.remove(&id);
    assert!(fast(&mut d, &rp, &session, None, None).is_none());
}
