//! Logout driven by the provider, at the simulated provider: OpenID Connect Back-Channel Logout
//! 1.0 and Front-Channel Logout 1.0.
//!
//! Each interactive login starts a provider session with its own `sid` (kept in the browser's
//! `sim_sid` cookie next to `sim_session`, so that a browser that comes back is still in the
//! same session, and two browsers of one user are in two); ID tokens carry it unless
//! [`SimProvider::set_sid_claim`] turns it off. Discovery advertises both logout kinds,
//! dynamic registration records a client's logout URIs, and the end-session endpoint, when it
//! ends a provider session, queues a logout token for each back-channel URI and a
//! front-channel URL (with `iss` and `sid`) for each front-channel URI of the clients that took
//! part: a test delivers them with [`SimProvider::take_backchannel_logouts`] and
//! [`SimProvider::take_frontchannel_logouts`], since the provider sends nothing by itself.
//! [`SimProvider::logout_token`] mints a logout token to a test's [`LogoutTokenSpec`], right
//! or wrong in any one way.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use josekit::jws::{JwsHeader, HS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{json, Map, Value};

use crate::keys::{self, CustomHeader, SigningAlg};
use crate::util::{self, random_token};
use crate::{Config, Grant, SimProvider, State};

/// The event a logout token's `events` claim must name (Back-Channel Logout 1.0, 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The cookie naming the browser's provider session (next to the `sim_session` cookie).
pub(crate) const SID_COOKIE: &str = "sim_sid";

/// How long the logout tokens the end-session endpoint queues are valid, seconds.
const QUEUED_TOKEN_LIFETIME: i64 = 120;

/// What a logout token's `events` claim holds.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogoutEvents {
    /// `{"http://schemas.openid.net/event/backchannel-logout": {}}`: a valid one.
    #[default]
    BackchannelLogout,
    /// No `events` claim.
    Absent,
    /// This value instead (another event, a string, an event whose value is not an object).
    Custom(Value),
}

/// How a logout token is signed.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogoutSigning {
    /// With the provider's current signing key, as its ID tokens are.
    #[default]
    CurrentKey,
    /// With a key the provider never publishes (a forgery), under the current key's `kid`
    /// unless [`LogoutTokenSpec::kid`] names another.
    ForeignKey,
    /// With the current key, under a header naming this algorithm (signed with it when the
    /// key can, else with the key's own algorithm under the false name).
    Labelled(SigningAlg),
    /// Not at all: `alg: none`, an empty signature.
    Unsigned,
    /// MACed with HS256 keyed with the secret of the first audience's client, which must be
    /// at least 32 bytes long (josekit refuses shorter HS256 keys).
    HmacWithClientSecret,
}

/// A logout token to mint with [`SimProvider::logout_token`]. The constructors give a valid
/// token; each field makes it wrong in one way.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogoutTokenSpec {
    /// `aud`: one string when it has one member, else an array.
    pub audience: Vec<String>,
    /// `sub`, if any.
    pub sub: Option<String>,
    /// `sid`, if any.
    pub sid: Option<String>,
    /// `iss`; `None`: the provider's issuer.
    pub issuer: Option<String>,
    /// `iat`, in seconds from `now` (negative: in the past); `None` leaves it out.
    pub iat: Option<i64>,
    /// `exp`, in seconds from `now`; `None` leaves it out (the claim is optional).
    pub exp: Option<i64>,
    /// `jti`; `None` leaves it out. The constructors draw a fresh one, so two tokens minted
    /// from one spec share it: the second is a replay.
    pub jti: Option<String>,
    /// `events`.
    pub events: LogoutEvents,
    /// `nonce`, which a logout token must not carry.
    pub nonce: Option<String>,
    /// The header's `typ` (`logout+jwt` by default); `None` leaves it out.
    pub typ: Option<String>,
    /// The header's `kid`; `None`: the signing key's.
    pub kid: Option<String>,
    /// The key and algorithm.
    pub signing: LogoutSigning,
}

impl LogoutTokenSpec {
    /// A valid logout token for `client_id` ending the provider session `sid` of `sub`.
    pub fn for_session(client_id: &str, sub: &str, sid: &str) -> Self {
        LogoutTokenSpec {
            sid: Some(sid.to_owned()),
            ..Self::for_subject(client_id, sub)
        }
    }

    /// A valid logout token for `client_id` naming only the user `sub`: every session of the
    /// user ends.
    pub fn for_subject(client_id: &str, sub: &str) -> Self {
        LogoutTokenSpec {
            audience: vec![client_id.to_owned()],
            sub: Some(sub.to_owned()),
            sid: None,
            issuer: None,
            iat: Some(0),
            exp: Some(QUEUED_TOKEN_LIFETIME),
            jti: Some(random_token()),
            events: LogoutEvents::BackchannelLogout,
            nonce: None,
            typ: Some("logout+jwt".to_owned()),
            kid: None,
            signing: LogoutSigning::CurrentKey,
        }
    }
}

/// What a client registered (or a test set) for provider-driven logout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogoutRegistration {
    /// `backchannel_logout_uri`.
    pub backchannel_logout_uri: Option<String>,
    /// `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: Option<bool>,
    /// `frontchannel_logout_uri`.
    pub frontchannel_logout_uri: Option<String>,
    /// `frontchannel_logout_session_required`.
    pub frontchannel_logout_session_required: Option<bool>,
}

/// A logout token the end-session endpoint would have POSTed to a client's
/// `backchannel_logout_uri`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackchannelLogout {
    /// The client it is for.
    pub client_id: String,
    /// Where it goes (`backchannel_logout_uri`), as the form body `logout_token=...`.
    pub uri: String,
    /// The logout token.
    pub logout_token: String,
}

// The token is a credential: it stays out of test output.
impl fmt::Debug for BackchannelLogout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackchannelLogout")
            .field("client_id", &self.client_id)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// One provider login session.
#[derive(Debug)]
struct ProviderSession {
    username: String,
    /// Order of creation, for [`SimProvider::session_ids`].
    seq: u64,
    /// The clients that got tokens in this session, each once.
    clients: Vec<String>,
}

/// What a discovery document says of one kind of logout.
#[derive(Clone, Copy, Debug)]
struct Support {
    supported: bool,
    session_required: bool,
}

/// Provider-driven logout: the provider sessions, the advertised support, the clients' logout
/// URIs, and what logouts have queued.
#[derive(Debug)]
pub(crate) struct LogoutState {
    sid_claim: bool,
    backchannel: Support,
    frontchannel: Support,
    sessions: HashMap<String, ProviderSession>,
    next_seq: u64,
    registrations: HashMap<String, LogoutRegistration>,
    backchannel_outbox: Vec<BackchannelLogout>,
    frontchannel_outbox: Vec<String>,
}

impl Default for LogoutState {
    fn default() -> Self {
        let on = Support {
            supported: true,
            session_required: true,
        };
        LogoutState {
            sid_claim: true,
            backchannel: on,
            frontchannel: on,
            sessions: HashMap::new(),
            next_seq: 0,
            registrations: HashMap::new(),
            backchannel_outbox: Vec::new(),
            frontchannel_outbox: Vec::new(),
        }
    }
}

/// Advertises both kinds of logout as configured (OpenID Connect Back-Channel Logout 2.1,
/// Front-Channel Logout 3).
pub(crate) fn adjust_discovery(st: &State, doc: &mut Value) {
    for (support, prefix) in [
        (st.logout.backchannel, "backchannel"),
        (st.logout.frontchannel, "frontchannel"),
    ] {
        doc[format!("{prefix}_logout_supported")] = json!(support.supported);
        if support.supported {
            doc[format!("{prefix}_logout_session_required")] = json!(support.session_required);
        }
    }
}

/// Reads a dynamic registration's logout metadata, refusing what a provider would: a logout
/// URI that is not an absolute URL without a fragment, a flag that is not a boolean.
pub(crate) fn registration_from(meta: &Map<String, Value>) -> Result<LogoutRegistration, String> {
    let uri = |key: &str| match meta.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(u))
            if url::Url::parse(u).is_ok_and(|u| {
                u.fragment().is_none() && matches!(u.scheme(), "https" | "http")
            }) =>
        {
            Ok(Some(u.clone()))
        }
        Some(_) => Err(format!("{key} must be an absolute URL without a fragment")),
    };
    let flag = |key: &str| match meta.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{key} must be a boolean")),
    };
    Ok(LogoutRegistration {
        backchannel_logout_uri: uri("backchannel_logout_uri")?,
        backchannel_logout_session_required: flag("backchannel_logout_session_required")?,
        frontchannel_logout_uri: uri("frontchannel_logout_uri")?,
        frontchannel_logout_session_required: flag("frontchannel_logout_session_required")?,
    })
}

/// Records a registered client's logout metadata.
pub(crate) fn record_registration(st: &mut State, client_id: &str, reg: LogoutRegistration) {
    if reg != LogoutRegistration::default() {
        st.logout.registrations.insert(client_id.to_owned(), reg);
    }
}

/// The provider session an authorization by `username` belongs to: the browser's (its
/// `sim_sid` cookie) when it is a live session of that user, else a new one. Returns the sid
/// and, for a new session, the `Set-Cookie` value naming it.
pub(crate) fn session_for(
    cfg: &Config,
    st: &mut State,
    username: &str,
    cookie_sid: Option<&str>,
) -> (String, Option<String>) {
    let logout = &mut st.logout;
    if let Some(sid) = cookie_sid {
        if logout
            .sessions
            .get(sid)
            .is_some_and(|s| s.username == username)
        {
            return (sid.to_owned(), None);
        }
    }
    // Shorter than a token: a sid identifies, it does not authorize.
    let sid = random_token()[..22].to_owned();
    logout.next_seq += 1;
    logout.sessions.insert(
        sid.clone(),
        ProviderSession {
            username: username.to_owned(),
            seq: logout.next_seq,
            clients: Vec::new(),
        },
    );
    let cookie = format!(
        "{SID_COOKIE}={sid}; Path={}; HttpOnly; SameSite=Lax",
        cfg.cookie_path()
    );
    (sid, Some(cookie))
}

/// Notes that `client_id` got tokens in the provider session `sid`: it is told when that
/// session ends.
pub(crate) fn join(st: &mut State, sid: &str, client_id: &str) {
    if let Some(session) = st.logout.sessions.get_mut(sid) {
        if !session.clients.iter().any(|c| c == client_id) {
            session.clients.push(client_id.to_owned());
        }
    }
}

/// Adds the grant's `sid` to ID token claims, unless the provider leaves it out.
pub(crate) fn add_sid_claim(st: &State, grant: &Grant, claims: &mut Map<String, Value>) {
    if let Some(sid) = grant.sid.as_ref().filter(|_| st.logout.sid_claim) {
        claims.insert("sid".into(), json!(sid));
    }
}

/// The `Set-Cookie` value that removes the `sim_sid` cookie.
pub(crate) fn clear_sid_cookie(cfg: &Config) -> String {
    format!(
        "{SID_COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax",
        cfg.cookie_path()
    )
}

/// The provider sessions an RP-initiated logout ends: the browser's (its `sim_sid` cookie),
/// else the one the `id_token_hint` names by `sid`; with neither (a hint without `sid`, from a
/// provider told to leave it out), every session of the hint's `sub` in which the hint's
/// client took part, since nothing tells them apart.
pub(crate) fn sessions_ended_by(
    st: &State,
    cookie_sid: Option<&str>,
    hint: Option<&Map<String, Value>>,
    hint_client: Option<&str>,
) -> Vec<String> {
    let live = |sid: &str| st.logout.sessions.contains_key(sid);
    if let Some(sid) = cookie_sid.filter(|s| live(s)) {
        return vec![sid.to_owned()];
    }
    let Some(hint) = hint else {
        return Vec::new();
    };
    if let Some(sid) = hint.get("sid").and_then(Value::as_str).filter(|s| live(s)) {
        return vec![sid.to_owned()];
    }
    let (Some(sub), Some(client)) = (hint.get("sub").and_then(Value::as_str), hint_client) else {
        return Vec::new();
    };
    st.logout
        .sessions
        .iter()
        .filter(|(_, s)| s.username == sub && s.clients.iter().any(|c| c == client))
        .map(|(sid, _)| sid.clone())
        .collect()
}

/// Ends provider sessions: for each client that took part, queues a logout token for its
/// back-channel URI and a front-channel URL for its front-channel URI.
pub(crate) fn end_sessions(cfg: &Config, st: &mut State, sids: &[String], now: u64) {
    for sid in sids {
        let Some(session) = st.logout.sessions.remove(sid) else {
            continue;
        };
        let sid_claim = st.logout.sid_claim;
        for client_id in &session.clients {
            let Some(reg) = st.logout.registrations.get(client_id).cloned() else {
                continue;
            };
            if let Some(uri) = reg.backchannel_logout_uri {
                let mut spec = LogoutTokenSpec::for_subject(client_id, &session.username);
                spec.sid = sid_claim.then(|| sid.clone());
                // Minting with the provider's own key fails only if the crypto library does;
                // then nothing is queued, as a provider that cannot sign sends nothing.
                if let Ok(logout_token) = mint(cfg, st, &spec, now) {
                    st.logout.backchannel_outbox.push(BackchannelLogout {
                        client_id: client_id.clone(),
                        uri,
                        logout_token,
                    });
                }
            }
            if let Some(uri) = reg.frontchannel_logout_uri {
                let params = if sid_claim {
                    vec![
                        ("iss".to_owned(), crate::compat::token_issuer(cfg, st)),
                        ("sid".to_owned(), sid.clone()),
                    ]
                } else {
                    Vec::new()
                };
                let url = if params.is_empty() {
                    uri
                } else {
                    util::append_params(&uri, &params, false)
                };
                st.logout.frontchannel_outbox.push(url);
            }
        }
    }
}

/// `now + offset`, never below zero.
fn at(now: u64, offset: i64) -> u64 {
    now.saturating_add_signed(offset)
}

/// Builds and signs a logout token per `spec`.
fn mint(cfg: &Config, st: &mut State, spec: &LogoutTokenSpec, now: u64) -> Result<String, String> {
    let mut claims = Map::new();
    let issuer = spec
        .issuer
        .clone()
        .unwrap_or_else(|| crate::compat::token_issuer(cfg, st));
    claims.insert("iss".into(), json!(issuer));
    claims.insert(
        "aud".into(),
        match spec.audience.as_slice() {
            [one] => json!(one),
            many => json!(many),
        },
    );
    if let Some(iat) = spec.iat {
        claims.insert("iat".into(), json!(at(now, iat)));
    }
    if let Some(exp) = spec.exp {
        claims.insert("exp".into(), json!(at(now, exp)));
    }
    if let Some(jti) = &spec.jti {
        claims.insert("jti".into(), json!(jti));
    }
    match &spec.events {
        LogoutEvents::BackchannelLogout => {
            claims.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        }
        LogoutEvents::Absent => {}
        LogoutEvents::Custom(v) => {
            claims.insert("events".into(), v.clone());
        }
    }
    if let Some(sub) = &spec.sub {
        claims.insert("sub".into(), json!(sub));
    }
    if let Some(sid) = &spec.sid {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(nonce) = &spec.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    let key = st.signing_key().cloned().ok_or("no signing key")?;
    let header = |alg| CustomHeader {
        typ: spec.typ.as_deref(),
        kid: spec.kid.as_deref(),
        alg,
    };
    match &spec.signing {
        LogoutSigning::CurrentKey => key.sign_with_header(claims, &header(None)),
        LogoutSigning::Labelled(alg) => key.sign_with_header(claims, &header(Some(*alg))),
        LogoutSigning::ForeignKey => {
            let forger = st
                .forging_key
                .get_or_insert_with(|| {
                    Arc::new(keys::ForgingKey::generate().expect("RSA-2048 key generation failed"))
                })
                .clone();
            let kid = spec.kid.clone().unwrap_or_else(|| key.kid.clone());
            let custom = CustomHeader {
                typ: spec.typ.as_deref(),
                kid: Some(&kid),
                alg: None,
            };
            forger.sign_with_header(claims, &custom)
        }
        LogoutSigning::Unsigned => keys::encode_unsigned(claims),
        LogoutSigning::HmacWithClientSecret => {
            let secret = spec
                .audience
                .first()
                .and_then(|c| st.client(c))
                .and_then(|c| c.client_secret.clone())
                .ok_or("the first audience is no client with a secret")?;
            let signer = HS256
                .signer_from_bytes(secret.as_bytes())
                .map_err(|e| e.to_string())?;
            let mut h = JwsHeader::new();
            if let Some(typ) = &spec.typ {
                h.set_token_type(typ);
            }
            let payload = JwtPayload::from_map(claims).map_err(|e| e.to_string())?;
            jwt::encode_with_signer(&payload, &h, &signer)
        }
    }
    .map_err(|e| e.to_string())
}

impl SimProvider {
    /// Mints a logout token per `spec` at `now` (unix seconds), signed as ID tokens are
    /// unless the spec says otherwise. Nothing is recorded: the provider sessions are
    /// unchanged.
    ///
    /// # Panics
    /// If the crypto library cannot sign, or [`LogoutSigning::HmacWithClientSecret`] names no
    /// client with a secret of at least 32 bytes.
    pub fn logout_token(&self, spec: &LogoutTokenSpec, now: u64) -> String {
        let mut st = self.lock();
        mint(&self.inner.cfg, &mut st, spec, now).expect("a logout token")
    }

    /// Whether ID tokens carry `sid`, the provider session (the default). Off: a provider
    /// whose logout tokens can only name the user.
    pub fn set_sid_claim(&self, on: bool) {
        self.lock().logout.sid_claim = on;
    }

    /// What discovery says of Back-Channel Logout: `backchannel_logout_supported` and, when
    /// supported, `backchannel_logout_session_required` (both true by default).
    pub fn set_backchannel_logout_support(&self, supported: bool, session_required: bool) {
        self.lock().logout.backchannel = Support {
            supported,
            session_required,
        };
    }

    /// What discovery says of Front-Channel Logout: `frontchannel_logout_supported` and, when
    /// supported, `frontchannel_logout_session_required` (both true by default).
    pub fn set_frontchannel_logout_support(&self, supported: bool, session_required: bool) {
        self.lock().logout.frontchannel = Support {
            supported,
            session_required,
        };
    }

    /// A client's logout metadata, as its dynamic registration sent it or
    /// [`set_logout_registration`](Self::set_logout_registration) set it; `None` when it has
    /// none.
    pub fn logout_registration(&self, client_id: &str) -> Option<LogoutRegistration> {
        self.lock().logout.registrations.get(client_id).cloned()
    }

    /// Sets a (statically registered) client's logout URIs, as an administrator would at the
    /// provider.
    pub fn set_logout_registration(&self, client_id: &str, registration: LogoutRegistration) {
        self.lock()
            .logout
            .registrations
            .insert(client_id.to_owned(), registration);
    }

    /// The `sid`s of `username`'s live provider sessions, oldest first.
    pub fn session_ids(&self, username: &str) -> Vec<String> {
        let st = self.lock();
        let mut sessions: Vec<(&String, &ProviderSession)> = st
            .logout
            .sessions
            .iter()
            .filter(|(_, s)| s.username == username)
            .collect();
        sessions.sort_by_key(|(_, s)| s.seq);
        sessions.into_iter().map(|(sid, _)| sid.clone()).collect()
    }

    /// The logout tokens the end-session endpoint has queued for clients' back-channel logout
    /// URIs since the last call, oldest first (the queue is emptied).
    pub fn take_backchannel_logouts(&self) -> Vec<BackchannelLogout> {
        std::mem::take(&mut self.lock().logout.backchannel_outbox)
    }

    /// The front-channel logout URLs (each client's `frontchannel_logout_uri` with `iss` and
    /// `sid`) the end-session endpoint's page would have loaded in iframes since the last
    /// call, oldest first (the queue is emptied).
    pub fn take_frontchannel_logouts(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().logout.frontchannel_outbox)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{header, Request, Response};
    use serde_json::{json, Map, Value};

    use super::*;
    use crate::SimClient;

    const ISS: &str = "https://op.example";
    const CB: &str = "https://rp.example/cb";
    const NOW: u64 = 1_700_000_000;

    fn provider() -> SimProvider {
        let op = SimProvider::new(ISS);
        op.register_client(SimClient::confidential(
            "rp",
            "rp-secret-long-enough-for-hs256-macs",
            CB,
        ));
        op
    }

    fn authorization_url() -> String {
        url::Url::parse_with_params(
            &format!("{ISS}/authorize"),
            [
                ("response_type", "code"),
                ("client_id", "rp"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("state", "s"),
                ("nonce", "n"),
            ],
        )
        .unwrap()
        .to_string()
    }

    /// The `name=value` of every `Set-Cookie` of a response.
    fn set_cookies(resp: &Response<Bytes>) -> Vec<String> {
        resp.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
            .collect()
    }

    /// A browser's login through the form (with its cookies `cookie`, if any): the code, and
    /// the cookies set.
    fn browser_login(op: &SimProvider, cookie: Option<&str>, user: &str) -> (String, Vec<String>) {
        let auth = authorization_url();
        let query = url::Url::parse(&auth).unwrap().query().unwrap().to_owned();
        let mut get = Request::get(&auth);
        if let Some(c) = cookie {
            get = get.header(header::COOKIE, c);
        }
        let resp = op.handle(get.body(Bytes::new()).unwrap(), NOW);
        let resp = if resp.status() == 200 {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("request_params", &query)
                .append_pair("username", user)
                .append_pair("action", "login")
                .finish();
            let mut post = Request::post(format!("{ISS}/authorize"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            if let Some(c) = cookie {
                post = post.header(header::COOKIE, c);
            }
            op.handle(post.body(Bytes::from(body)).unwrap(), NOW)
        } else {
            resp
        };
        assert_eq!(resp.status(), 302, "{:?}", resp.body());
        let location = resp.headers()[header::LOCATION].to_str().unwrap();
        let code = url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code");
        (code, set_cookies(&resp))
    }

    /// The ID token claims of the code's token response.
    fn id_token_claims(op: &SimProvider, code: &str) -> Map<String, Value> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", CB)
            .append_pair("client_id", "rp")
            .append_pair("client_secret", "rp-secret-long-enough-for-hs256-macs")
            .finish();
        let resp = op.handle(
            Request::post(format!("{ISS}/token"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Bytes::from(body))
                .unwrap(),
            NOW,
        );
        assert_eq!(resp.status(), 200, "{:?}", resp.body());
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        claims_of(v["id_token"].as_str().unwrap())
    }

    /// The claims of a JWT, unverified.
    fn claims_of(jwt: &str) -> Map<String, Value> {
        part(jwt, 1).as_object().cloned().expect("a claims object")
    }

    /// The header of a JWT.
    fn header_of(jwt: &str) -> Value {
        part(jwt, 0)
    }

    /// One base64url JSON part of a compact JWS.
    fn part(jwt: &str, index: usize) -> Value {
        use base64::Engine as _;
        let part = jwt.split('.').nth(index).unwrap_or_default();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn one_browser_keeps_its_sid_and_two_browsers_have_two() {
        let op = provider();
        let (code, cookies) = browser_login(&op, None, "alice");
        let sid = id_token_claims(&op, &code)["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        assert!(
            cookies.contains(&"sim_session=alice".to_owned()),
            "{cookies:?}"
        );
        assert!(cookies.contains(&format!("sim_sid={sid}")), "{cookies:?}");
        // The same browser again: single sign-on, no new cookie, the same sid.
        let jar = format!("sim_session=alice; sim_sid={sid}");
        let (code, cookies) = browser_login(&op, Some(&jar), "alice");
        assert!(cookies.is_empty(), "{cookies:?}");
        assert_eq!(id_token_claims(&op, &code)["sid"], json!(sid));
        // Another browser (and the test shortcut, which is no browser): other sessions.
        let (code, _) = browser_login(&op, None, "alice");
        let other = id_token_claims(&op, &code)["sid"].clone();
        assert_ne!(other, json!(sid));
        assert_eq!(op.session_ids("alice").len(), 2);
        // A sid cookie of another user's session is not taken over.
        let jar = format!("sim_session=bob; sim_sid={sid}");
        let (code, _) = browser_login(&op, Some(&jar), "bob");
        assert_ne!(id_token_claims(&op, &code)["sid"], json!(sid));
        // Off: no sid in ID tokens.
        op.set_sid_claim(false);
        let (code, _) = browser_login(&op, None, "carol");
        assert!(id_token_claims(&op, &code).get("sid").is_none());
    }

    #[test]
    fn discovery_and_registration_carry_logout_metadata() {
        let op = provider();
        let discovery = |op: &SimProvider| -> Value {
            let resp = op.handle(
                Request::get(format!("{ISS}/.well-known/openid-configuration"))
                    .body(Bytes::new())
                    .unwrap(),
                NOW,
            );
            serde_json::from_slice(resp.body()).unwrap()
        };
        let d = discovery(&op);
        for key in [
            "backchannel_logout_supported",
            "backchannel_logout_session_required",
            "frontchannel_logout_supported",
            "frontchannel_logout_session_required",
        ] {
            assert_eq!(d[key], true, "{key}");
        }
        op.set_backchannel_logout_support(false, true);
        op.set_frontchannel_logout_support(true, false);
        let d = discovery(&op);
        assert_eq!(d["backchannel_logout_supported"], false);
        assert!(d.get("backchannel_logout_session_required").is_none());
        assert_eq!(d["frontchannel_logout_session_required"], false);

        let register = |meta: Value| -> Response<Bytes> {
            op.handle(
                Request::post(format!("{ISS}/register"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Bytes::from(meta.to_string()))
                    .unwrap(),
                NOW,
            )
        };
        let resp = register(json!({
            "redirect_uris": [CB],
            "backchannel_logout_uri": "https://rp.example/bc",
            "backchannel_logout_session_required": true,
            "frontchannel_logout_uri": "https://rp.example/fc",
        }));
        assert_eq!(resp.status(), 201);
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        let client_id = v["client_id"].as_str().unwrap();
        assert_eq!(
            op.logout_registration(client_id),
            Some(LogoutRegistration {
                backchannel_logout_uri: Some("https://rp.example/bc".into()),
                backchannel_logout_session_required: Some(true),
                frontchannel_logout_uri: Some("https://rp.example/fc".into()),
                frontchannel_logout_session_required: None,
            })
        );
        for bad in [
            json!({ "redirect_uris": [CB], "backchannel_logout_uri": "https://rp.example/bc#x" }),
            json!({ "redirect_uris": [CB], "backchannel_logout_uri": "/bc" }),
            json!({ "redirect_uris": [CB], "frontchannel_logout_session_required": "yes" }),
        ] {
            let resp = register(bad.clone());
            assert_eq!(resp.status(), 400, "{bad}");
        }
        let resp = register(json!({ "redirect_uris": [CB] }));
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(
            op.logout_registration(v["client_id"].as_str().unwrap()),
            None
        );
    }

    #[test]
    fn logout_tokens_follow_the_spec() {
        let op = provider();
        let spec = LogoutTokenSpec::for_session("rp", "alice", "sid-1");
        let token = op.logout_token(&spec, NOW);
        let header = header_of(&token);
        assert_eq!(header["typ"], "logout+jwt");
        assert_eq!(header["kid"], json!(op.current_kid()));
        assert_eq!(header["alg"], "RS256");
        let keys = op.lock().keys.clone();
        let claims =
            keys::verify(&token, keys.iter().map(|k| &**k)).expect("signed by the provider");
        assert_eq!(claims["iss"], ISS);
        assert_eq!(claims["aud"], "rp");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["sid"], "sid-1");
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + 120);
        assert_eq!(claims["jti"], json!(spec.jti));
        assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        assert!(claims.get("nonce").is_none());

        let mut spec = LogoutTokenSpec::for_subject("rp", "alice");
        spec.typ = None;
        spec.jti = None;
        spec.iat = Some(-30);
        spec.exp = None;
        spec.events = LogoutEvents::Absent;
        spec.nonce = Some("n".into());
        spec.audience = vec!["rp".into(), "other".into()];
        let token = op.logout_token(&spec, NOW);
        assert!(header_of(&token).get("typ").is_none());
        let claims = claims_of(&token);
        for absent in ["jti", "exp", "events", "sid"] {
            assert!(claims.get(absent).is_none(), "{absent}");
        }
        assert_eq!(claims["iat"], NOW - 30);
        assert_eq!(claims["nonce"], "n");
        assert_eq!(claims["aud"], json!(["rp", "other"]));

        let mut forged = LogoutTokenSpec::for_subject("rp", "alice");
        forged.signing = LogoutSigning::ForeignKey;
        let token = op.logout_token(&forged, NOW);
        assert_eq!(header_of(&token)["kid"], json!(op.current_kid()));
        assert!(keys::verify(&token, keys.iter().map(|k| &**k)).is_none());
        forged.kid = Some("nope".into());
        assert_eq!(header_of(&op.logout_token(&forged, NOW))["kid"], "nope");

        let mut other = LogoutTokenSpec::for_subject("rp", "alice");
        other.signing = LogoutSigning::Unsigned;
        assert_eq!(header_of(&op.logout_token(&other, NOW))["alg"], "none");
        other.signing = LogoutSigning::HmacWithClientSecret;
        assert_eq!(header_of(&op.logout_token(&other, NOW))["alg"], "HS256");
        other.signing = LogoutSigning::Labelled(SigningAlg::Ps256);
        assert_eq!(header_of(&op.logout_token(&other, NOW))["alg"], "PS256");
        assert!(
            op.session_ids("alice").is_empty(),
            "minting records nothing"
        );
    }

    #[test]
    fn ending_a_provider_session_queues_its_clients_logouts() {
        let op = provider();
        op.set_logout_registration(
            "rp",
            LogoutRegistration {
                backchannel_logout_uri: Some("https://rp.example/bc".into()),
                backchannel_logout_session_required: Some(true),
                frontchannel_logout_uri: Some("https://rp.example/fc?x=1".into()),
                frontchannel_logout_session_required: Some(true),
            },
        );
        let (code, _) = browser_login(&op, None, "alice");
        let sid = id_token_claims(&op, &code)["sid"]
            .as_str()
            .unwrap()
            .to_owned();
        let (code, _) = browser_login(&op, None, "alice");
        let other = id_token_claims(&op, &code)["sid"]
            .as_str()
            .unwrap()
            .to_owned();
        // A logout the provider refuses ends nothing.
        let resp = op.handle(
            Request::get(format!("{ISS}/logout?id_token_hint=garbage"))
                .header(header::COOKIE, format!("sim_sid={sid}"))
                .body(Bytes::new())
                .unwrap(),
            NOW,
        );
        assert_eq!(resp.status(), 400);
        assert!(op.take_backchannel_logouts().is_empty());
        let resp = op.handle(
            Request::get(format!("{ISS}/logout"))
                .header(header::COOKIE, format!("sim_session=alice; sim_sid={sid}"))
                .body(Bytes::new())
                .unwrap(),
            NOW,
        );
        assert_eq!(resp.status(), 200);
        assert!(set_cookies(&resp).contains(&"sim_sid=".to_owned()));
        let sent = op.take_backchannel_logouts();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].uri, "https://rp.example/bc");
        assert!(!format!("{sent:?}").contains(&sent[0].logout_token));
        let claims = claims_of(&sent[0].logout_token);
        assert_eq!(claims["sid"], json!(sid));
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "rp");
        assert!(op.take_backchannel_logouts().is_empty(), "taken once");
        let frames = op.take_frontchannel_logouts();
        assert_eq!(
            frames,
            [format!(
                "https://rp.example/fc?x=1&iss=https%3A%2F%2Fop.example&sid={sid}"
            )]
        );
        assert_eq!(op.session_ids("alice"), [other]);
    }
}
