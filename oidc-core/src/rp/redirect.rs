//! The redirect endpoint: the provider's answer checked and turned into a logged-in session.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method};

use super::login::start_login;
use super::pages::{is_form, redirect};
use super::{RelyingParty, Response};
use crate::callback::{AuthorizationResponse, CodeExchange, ExchangeInput, LoginOutcome};
use crate::config::ResponseMode;
use crate::error::{Endpoint, Error, IdTokenError, ProtocolError, Result};
use crate::flow::{ready, tri, Ask, Context, Cx, Flow, Gated, Machine, Progress};
use crate::jarm::JarmExpectations;
use crate::login::{safe_return_path, LoginParams};
use crate::secret::Secret;
use crate::session::{PendingLogin, SessionRecord, PENDING_LOGIN_TTL};
use crate::signing::{SignedResponse, TokenSigning};

impl RelyingParty {
    /// The redirect endpoint: validates the provider's response, finishes the login, rotates
    /// the session id and redirects to the page first asked for. Any failure goes to the error
    /// view and leaves no logged-in session behind.
    pub fn handle_redirect(&self, request: http::Request<Bytes>, cx: Context) -> Flow<Response> {
        let machine = Redirect::new(self, request, cx.now());
        Flow::new(self, cx, machine, |rp, e| rp.error_response(&e))
    }

    /// The return path resolved against the app's base URL (so that apps under a prefix work).
    fn app_target(&self, return_to: &str) -> String {
        match safe_return_path(return_to) {
            Ok(p) => {
                let prefix = self.inner.app_url.path().trim_end_matches('/');
                format!("{prefix}{p}")
            }
            Err(_) => self.inner.app_url.path().to_owned(),
        }
    }
}

/// The store key that marks `state` spent: a hash, so that the store (and whoever can read
/// it) never holds a `state` of a login that may still be in flight.
pub(super) fn spent_state_key(state: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(state.as_bytes()))
}

/// [`RelyingParty::handle_redirect`].
struct Redirect {
    /// Login cookies to remove, whatever the outcome: the one spent, and any that are
    /// expired, unreadable or beyond the cap.
    clear: Vec<HeaderValue>,
    /// The request's path, which names the provider the response is for.
    path: String,
    /// The session id the browser had before, deleted once the new session is saved.
    old_id: Option<String>,
    state: State,
}

enum State {
    Failed(Option<Error>),
    /// Issue 18 (J): a JARM response to verify before anything else.
    Jarm(Box<Jarm>),
    /// The response is in the URL fragment: the page that posts it here. The providers of the
    /// silent logins pending in fragment mode, whose authorization endpoints the page's form
    /// may be redirected to.
    Fragment(Vec<usize>),
    Spend {
        key: String,
        login: Box<Login>,
    },
    Spent(Box<Login>),
    Check(usize, Box<Login>),
    /// A silent login that needs interaction: the interactive one, to the same page with the
    /// same login parameters.
    Relogin(usize, String, LoginParams, super::login::LoginStart),
    Exchanging(Box<Gated<CodeExchange>>),
    Saved {
        new_id: String,
        target: String,
        provider: String,
    },
    Deleted(Option<Response>),
    Done,
}

/// A JARM response (see [`crate::jarm`]) for the provider at `slot`, not verified yet: the
/// JWT, whether it came in a query string, the request's headers (its login cookies are read
/// once it verifies), and the key set it was tried with when it named a key missing there.
struct Jarm {
    slot: usize,
    raw: Secret,
    get: bool,
    headers: http::HeaderMap,
    tried: Option<Arc<crate::jwks::JwkSet>>,
}

/// Issue 18 (J): the JARM response to verify, when the response is one. The provider whose
/// redirect URI the request arrived on decides: when its logins ask for JARM, a response
/// without the `response` JWT is refused (a downgrade), an empty one in fragment mode gets
/// the fragment page; when they do not, a `response` JWT is refused. Either refusal happens
/// before any login is looked up.
fn jarm_state(
    rp: &RelyingParty,
    path: &str,
    params: &mut AuthorizationResponse,
    get: bool,
    headers: &http::HeaderMap,
) -> Result<Option<State>> {
    let raw = params.response.take();
    let providers = &rp.inner.providers;
    let slot = if providers.len() == 1 {
        Some(0)
    } else {
        providers
            .iter()
            .position(|p| rp.is_route(path, p.redirect_uri.path()))
    };
    let expects = slot
        .and_then(|i| rp.slot_at(i))
        .is_some_and(|p| p.config.response_mode.is_jwt());
    let refused = |why: &str| -> Result<Option<State>> {
        Err(ProtocolError::Jarm(IdTokenError::Malformed(why.into())).into())
    };
    match (raw, slot) {
        (Some(raw), Some(slot)) if expects => Ok(Some(State::Jarm(Box::new(Jarm {
            slot,
            raw,
            get,
            headers: headers.clone(),
            tried: None,
        })))),
        (Some(_), _) => refused("a JWT response, though the login did not ask for one"),
        (None, _) if expects && !(get && params.is_empty()) => {
            refused("a plain response, though the login asked for a JWT (JARM)")
        }
        (None, _) => Ok(None),
    }
}

/// The login a response is for, and the response.
struct Login {
    pending: PendingLogin,
    params: AuthorizationResponse,
}

impl Redirect {
    fn new(rp: &RelyingParty, request: http::Request<Bytes>, now: u64) -> Self {
        let (parts, body) = request.into_parts();
        let mut this = Redirect {
            clear: Vec::new(),
            path: parts.uri.path().to_owned(),
            old_id: rp.inner.cookies.read(&parts.headers),
            state: State::Done,
        };
        this.state = match this.begin(rp, &parts, &body, now) {
            Ok(state) => state,
            Err(e) => State::Failed(Some(e)),
        };
        this
    }

    /// Everything that needs nothing from outside: the response parsed, the login it is for
    /// found (and its cookie cleared).
    fn begin(
        &mut self,
        rp: &RelyingParty,
        parts: &http::request::Parts,
        body: &[u8],
        now: u64,
    ) -> Result<State> {
        let get = parts.method == Method::GET;
        let mut params = if get {
            let params = AuthorizationResponse::parse(parts.uri.query().unwrap_or("").as_bytes())?;
            if params.id_token.is_some() || params.access_token.is_some() {
                // Tokens in a query string end up in logs and Referer headers: refuse them.
                return Err(ProtocolError::MalformedResponse {
                    endpoint: Endpoint::Authorization,
                    reason: "tokens must not be sent in the query string".into(),
                }
                .into());
            }
            params
        } else if parts.method == Method::POST && is_form(&parts.headers) {
            AuthorizationResponse::parse(body)?
        } else {
            return Err(ProtocolError::MalformedResponse {
                endpoint: Endpoint::Authorization,
                reason: "the redirect endpoint takes GET, or POST with a form body".into(),
            }
            .into());
        };
        // Issue 18 (J): a JARM response is verified before the login its `state` names is
        // looked for, so that a forged one spends nothing.
        if let Some(state) = jarm_state(rp, &self.path, &mut params, get, &parts.headers)? {
            return Ok(state);
        }
        self.find_login(rp, &parts.headers, params, get, now)
    }

    /// The login `params` answers, taken from the browser's login cookies (and its cookie
    /// cleared), or the fragment page when the response is in the URL fragment.
    fn find_login(
        &mut self,
        rp: &RelyingParty,
        headers: &http::HeaderMap,
        params: AuthorizationResponse,
        get: bool,
        now: u64,
    ) -> Result<State> {
        let mut jar = rp.inner.login_cookies.read(headers, now);
        for name in &jar.stale {
            self.clear
                .push(rp.inner.login_cookies.clear(name, ResponseMode::Query));
        }
        if params.is_empty()
            && get
            && jar
                .logins
                .iter()
                .any(|(_, p)| p.response_mode.in_fragment(p.response_type))
        {
            // The response is in the URL fragment, which only the browser sees.
            let mut slots = Vec::new();
            for (_, pending) in &jar.logins {
                if pending.silent && pending.response_mode.in_fragment(pending.response_type) {
                    if let Ok((i, _)) = rp.slot(Some(&pending.provider)) {
                        if !slots.contains(&i) {
                            slots.push(i);
                        }
                    }
                }
            }
            return Ok(State::Fragment(slots));
        }
        let state = params
            .state
            .as_deref()
            .ok_or(ProtocolError::MissingParameter("state"))?;
        let had_pending = !jar.logins.is_empty();
        let (name, pending) = match jar.take(state) {
            Some(found) => found,
            None if had_pending => return Err(ProtocolError::StateMismatch.into()),
            None => return Err(ProtocolError::UnsolicitedResponse(
                "no login in progress: it was completed, expired, or never started in this browser",
            )
            .into()),
        };
        // The login is spent whatever happens next: its cookie goes with this response, so
        // the browser cannot complete it twice (the code itself is single use at the provider).
        self.clear
            .push(rp.inner.login_cookies.clear(&name, pending.response_mode));
        Ok(State::Spend {
            key: spent_state_key(state),
            login: Box::new(Login { pending, params }),
        })
    }

    fn run(&mut self, cx: &mut Cx<'_>) -> Progress<Result<Response>> {
        let rp = cx.rp;
        loop {
            match &mut self.state {
                State::Failed(e) => {
                    let e = e
                        .take()
                        .unwrap_or(Error::Misuse(crate::Misuse::Finished("a login")));
                    return Progress::Ready(Err(e));
                }
                State::Fragment(slots) => {
                    let mut form_action = String::from("'self'");
                    let mut seen = Vec::new();
                    for i in slots.clone() {
                        let Ok(metadata) = ready!(cx.ensure_metadata(i)) else {
                            continue;
                        };
                        let origin = metadata.authorization_endpoint.origin();
                        if origin.is_tuple() && !seen.contains(&origin) {
                            form_action.push(' ');
                            form_action.push_str(&origin.ascii_serialization());
                            seen.push(origin);
                        }
                    }
                    let nonce = cx.rng.token(16);
                    return Progress::Ready(Ok(fragment_page(&form_action, &nonce)));
                }
                State::Jarm(jarm) => {
                    let (slot, tried) = (jarm.slot, jarm.tried.clone());
                    let metadata = tri!(ready!(cx.ensure_metadata(slot)));
                    let client = tri!(ready!(cx.ensure_client(slot, &metadata)));
                    let Some(provider) = rp.slot_at(slot) else {
                        return Progress::Ready(Err(Error::config("provider", "unknown provider")));
                    };
                    let signing = tri!(TokenSigning::decide(
                        &provider.config,
                        &client,
                        &metadata,
                        SignedResponse::AuthorizationResponse,
                    ));
                    let unknown_key = || Error::from(ProtocolError::Jarm(IdTokenError::UnknownKey));
                    let keys = if signing.needs_provider_keys() {
                        let keys = tri!(ready!(cx.ensure_keys(slot, &metadata, tried.as_ref())));
                        Some(tri!(keys.ok_or_else(unknown_key)))
                    } else {
                        None
                    };
                    let Some(token_keys) = signing.keys(keys.as_deref()) else {
                        return Progress::Ready(Err(unknown_key()));
                    };
                    let previous = provider.state().previous_client_id();
                    let expect = JarmExpectations {
                        issuer: &metadata.issuer,
                        client_id: &client.client_id,
                        previous_client_id: previous.as_deref(),
                        now: cx.now,
                        skew: provider.config.clock_skew.as_secs(),
                        algorithms: signing.algorithms(),
                    };
                    let verified = tri!(crate::jarm::verify_response(
                        jarm.raw.expose(),
                        token_keys,
                        &expect
                    ));
                    let State::Jarm(jarm) = std::mem::replace(&mut self.state, State::Done) else {
                        continue;
                    };
                    let Jarm {
                        slot,
                        raw,
                        get,
                        headers,
                        ..
                    } = *jarm;
                    let Some(params) = verified else {
                        // A key the cached set lacks: a newer set once, as the key cache
                        // allows (forged `kid`s buy no fetches).
                        match (tried, keys) {
                            (None, Some(set)) => {
                                self.state = State::Jarm(Box::new(Jarm {
                                    slot,
                                    raw,
                                    get,
                                    headers,
                                    tried: Some(set),
                                }));
                                continue;
                            }
                            _ => return Progress::Ready(Err(unknown_key())),
                        }
                    };
                    if get && (params.id_token.is_some() || params.access_token.is_some()) {
                        return Progress::Ready(Err(ProtocolError::MalformedResponse {
                            endpoint: Endpoint::Authorization,
                            reason: "tokens must not be sent in the query string".into(),
                        }
                        .into()));
                    }
                    self.state = tri!(self.find_login(rp, &headers, params, get, cx.now));
                }
                State::Spend { key, .. } => {
                    // The cookie is no single use on its own: concurrent requests carrying the
                    // same one (a double submit, a replayed front-channel response) each
                    // decrypt it. The store's atomic mark decides which one spends the login,
                    // before anything else is done.
                    let key = std::mem::take(key);
                    let State::Spend { login, .. } =
                        std::mem::replace(&mut self.state, State::Done)
                    else {
                        continue;
                    };
                    self.state = State::Spent(login);
                    return Progress::Pending(Ask::MarkSpent(
                        key,
                        Duration::from_secs(PENDING_LOGIN_TTL),
                    ));
                }
                State::Spent(_) => {
                    if !tri!(cx.marked()) {
                        return Progress::Ready(Err(ProtocolError::UnsolicitedResponse(
                            "this login was already completed by another request",
                        )
                        .into()));
                    }
                    let State::Spent(login) = std::mem::replace(&mut self.state, State::Done)
                    else {
                        continue;
                    };
                    let (slot, provider) = tri!(rp.slot(Some(&login.pending.provider)));
                    // RFC 9700 4.4.2: the redirect URI a response arrives on names its
                    // provider. One that came back on another provider's is a mix-up attempt;
                    // its login stays spent (its `state` is in the attacker's hands), and the
                    // user starts again.
                    if !rp.is_route(&self.path, provider.redirect_uri.path())
                        && rp.inner.providers.len() > 1
                    {
                        return Progress::Ready(Err(ProtocolError::RedirectUriMismatch.into()));
                    }
                    self.state = State::Check(slot, login);
                }
                State::Check(slot, login) => {
                    let slot = *slot;
                    let metadata = tri!(ready!(cx.ensure_metadata(slot)));
                    let require_iss = rp.slot_at(slot).is_some_and(|p| p.config.is_fapi2());
                    if let Err(e) = login.params.check(&metadata, require_iss) {
                        if let Error::Provider(p) = &e {
                            let interaction = matches!(
                                p.error.as_str(),
                                "login_required"
                                    | "interaction_required"
                                    | "consent_required"
                                    | "account_selection_required"
                            );
                            if login.pending.silent && interaction {
                                // The provider needs the user: the silent refresh becomes a
                                // normal login.
                                tracing::info!(provider = %login.pending.provider, "silent refresh needs interaction");
                                let return_to = login.pending.return_to.clone();
                                let params = login
                                    .pending
                                    .params
                                    .iter()
                                    .fold(LoginParams::new(), |p, (k, v)| p.param(k, v));
                                self.state =
                                    State::Relogin(slot, return_to, params, Default::default());
                                continue;
                            }
                        }
                        return Progress::Ready(Err(e));
                    }
                    // The missing-`iss` exemption for responses carrying an ID token holds only
                    // when this flow validates that token; in `code` or `code token` it is
                    // never looked at.
                    if login.params.iss.is_none()
                        && metadata.authorization_response_iss_parameter_supported
                        && !login.pending.response_type.has_front_id_token()
                    {
                        return Progress::Ready(Err(ProtocolError::MissingParameter("iss").into()));
                    }
                    let client = tri!(ready!(cx.ensure_client(slot, &metadata)));
                    let State::Check(_, login) = std::mem::replace(&mut self.state, State::Done)
                    else {
                        continue;
                    };
                    let Some(provider) = rp.slot_at(slot) else {
                        return Progress::Ready(Err(Error::config("provider", "unknown provider")));
                    };
                    // The code was issued to the client the login started with: a registered
                    // client replaced since (its secret expired) still redeems it.
                    let client = match login.pending.client_id.as_deref() {
                        Some(id) if id != client.client_id => {
                            tri!(provider.state().client_for_login(id).ok_or(
                                ProtocolError::UnsolicitedResponse(
                                    "the login was started with a client registration this app no \
                                     longer has",
                                )
                            ))
                        }
                        _ => client,
                    };
                    let keys = provider.state().keys.clone();
                    let seen = keys.attempts();
                    let Login { pending, params } = *login;
                    let exchange = CodeExchange::new(ExchangeInput {
                        provider: provider.name.clone(),
                        config: provider.config.clone(),
                        client,
                        metadata,
                        keys,
                        pending,
                        response: params,
                        redirect_uri: provider.redirect_uri.clone(),
                        now: cx.now,
                        session_lifetime: rp.inner.session_lifetime,
                    })
                    .client_assertion_id(cx.rng.token(18));
                    // Issue 18 (D): a DPoP login's key comes from the flow's randomness.
                    let exchange = match provider.config.dpop {
                        true => exchange.dpop_entropy(cx.rng.entropy()),
                        false => exchange,
                    };
                    self.state = State::Exchanging(Box::new(Gated::new(exchange, slot, seen)));
                }
                State::Relogin(slot, return_to, params, start) => {
                    let slot = *slot;
                    let resp = ready!(start_login(cx, start, slot, return_to, false, Some(params)));
                    return Progress::Ready(Ok(resp));
                }
                State::Exchanging(exchange) => {
                    let outcome = tri!(tri!(ready!(exchange.step(cx))));
                    let (ask, next) = self.complete_login(cx, outcome);
                    self.state = next;
                    return Progress::Pending(ask);
                }
                State::Saved { .. } => {
                    tri!(cx.stored());
                    let State::Saved {
                        new_id,
                        target,
                        provider,
                    } = std::mem::replace(&mut self.state, State::Done)
                    else {
                        continue;
                    };
                    let mut resp = redirect(&target);
                    resp.headers_mut()
                        .append(header::SET_COOKIE, rp.inner.cookies.set(&new_id));
                    tracing::info!(provider = %provider, "login completed");
                    match self.old_id.take() {
                        Some(old) => {
                            self.state = State::Deleted(Some(resp));
                            return Progress::Pending(Ask::Delete(old));
                        }
                        None => return Progress::Ready(Ok(resp)),
                    }
                }
                State::Deleted(resp) => {
                    if let Err(e) = cx.stored() {
                        tracing::warn!(error = %e, "could not delete the pre-login session");
                    }
                    let resp = resp.take();
                    self.state = State::Done;
                    return match resp {
                        Some(r) => Progress::Ready(Ok(r)),
                        None => Progress::Ready(Err(crate::Misuse::Finished("a login").into())),
                    };
                }
                State::Done => {
                    return Progress::Ready(Err(crate::Misuse::Finished("a login").into()));
                }
            }
        }
    }

    /// The new session's record to save under a new id. The id rotates: the id an attacker
    /// may have planted before login is worthless after it. Logins pending in other tabs live
    /// in their own cookies and are unaffected. A session holds one provider's user: a login
    /// with another replaces it, the old record deleted once the new one is saved, rather than
    /// keeping two identities under one id.
    fn complete_login(&self, cx: &mut Cx<'_>, outcome: LoginOutcome) -> (Ask, State) {
        let rp = cx.rp;
        let user = Arc::new(outcome.user);
        let new_id = rp.inner.cookies.new_id(cx.rng);
        let record = SessionRecord {
            user: Some(user.clone()),
            logout_state: None,
            expires_at: user.expires_at,
            ..SessionRecord::new(user.expires_at)
        };
        let state = State::Saved {
            new_id: new_id.clone(),
            target: rp.app_target(&outcome.return_to),
            provider: user.provider.clone(),
        };
        (Ask::Save(new_id, record), state)
    }
}

impl Machine for Redirect {
    type Output = Response;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Response> {
        let mut resp = match ready!(self.run(cx)) {
            Ok(resp) => resp,
            Err(e) => {
                tracing::warn!(error = %e, "login failed");
                cx.rp.error_response(&e)
            }
        };
        for c in std::mem::take(&mut self.clear) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
        Progress::Ready(resp)
    }
}

/// The page that carries a fragment-encoded response to the server: a script copies the
/// fragment into a form and submits it to this same URL (so any redirect path and prefix
/// works), and the browser then shows the redirect endpoint's own answer. Nothing is loaded
/// from elsewhere; the CSP allows only this script, by nonce.
///
/// The form may go to the app, and to the authorization endpoint of the provider of each
/// silent refresh pending here: when one answers `login_required`, the redirect endpoint
/// answers the POST with a redirect there, and browsers apply `form-action` to the
/// redirects of a form submission too.
fn fragment_page(form_action: &str, nonce: &str) -> Response {
    let body = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Signing in</title></head><body>
<form id="f" method="post" action=""></form>
<p id="m">Signing you in&hellip;</p>
<noscript><p>This sign-in needs JavaScript to pass the provider's answer from the address bar to the site. Enable JavaScript and sign in again.</p></noscript>
<script nonce="{nonce}">
(function () {{
  var params = new URLSearchParams(window.location.hash.substring(1));
  var form = document.getElementById("f");
  var n = 0;
  params.forEach(function (value, key) {{
    var input = document.createElement("input");
    input.type = "hidden"; input.name = key; input.value = value;
    form.appendChild(input); n++;
  }});
  if (window.history && window.history.replaceState) {{
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }}
  if (n === 0) {{
    document.getElementById("m").textContent = "The provider sent no sign-in response. Please sign in again.";
    return;
  }}
  form.submit();
}})();
</script></body></html>"#
    );
    // The nonce is base64url and origins are ASCII-serialized: the header is always valid;
    // the fallback (no script at all) only keeps the page locked if that ever changed.
    let csp = HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
    ))
    .unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        )
    });
    let mut resp = crate::error_view::html_page(body, csp);
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
