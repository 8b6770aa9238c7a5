//! Protected routes and the start of a login: the logged-in user of a request, or the
//! response that starts a login (a redirect to the provider, or a `401` for API clients).

use std::sync::Arc;

use http::header;

use super::pages::{api_unauthorized, is_api_request, redirect};
use super::tokens::{needs_login, AccessToken};
use super::{RelyingParty, Response};
use crate::flow::{ready, Ask, Context, Cx, Flow, Immediate, Machine, Progress};
use crate::login::{authorization_params, safe_return_path, LoginParams};
use crate::session::{PendingLogin, SessionRecord, UserSession};

/// A return path longer than this is replaced by the app's root: it travels in the login cookie,
/// which browsers cap at about 4 KiB.
const MAX_RETURN_PATH: usize = 1024;

impl RelyingParty {
    /// The logged-in user of the request's session, whatever the provider, without starting a
    /// login.
    pub fn session(
        &self,
        parts: &http::request::Parts,
        cx: Context,
    ) -> Flow<Option<Arc<UserSession>>> {
        let machine = SessionUser {
            id: self.inner.cookies.read(&parts.headers),
            asked: false,
        };
        Flow::new(self, cx, machine, |_, _| None)
    }

    /// Protects a route: the user of the session if logged in with `provider` (the default
    /// provider when `None`); otherwise the response to return instead, which starts a login
    /// (a redirect) or, for API-style requests, is a `401`.
    pub fn authenticate(
        &self,
        parts: &http::request::Parts,
        provider: Option<&str>,
        cx: Context,
    ) -> Flow<std::result::Result<Arc<UserSession>, Response>> {
        Flow::new(
            self,
            cx,
            Authenticate::new(self, parts, provider, None),
            |rp, e| Err(rp.error_response(&e)),
        )
    }

    /// Protects a route as [`authenticate`](Self::authenticate) does, with this route's login
    /// parameters: a login it starts sends them, and a session that does not meet their
    /// `acr_values` or `max_age` logs in again with them (step-up authentication; see
    /// [`LoginParams::satisfied_by`]). Parameters the protocol sets itself are refused with the
    /// error view ([`Misuse::ReservedParameter`](crate::error::Misuse::ReservedParameter)).
    pub fn authenticate_with(
        &self,
        parts: &http::request::Parts,
        provider: Option<&str>,
        params: &LoginParams,
        cx: Context,
    ) -> Flow<std::result::Result<Arc<UserSession>, Response>> {
        let fail = |rp: &RelyingParty, e| Err(rp.error_response(&e));
        if let Err(e) = params.check_for_route() {
            return Flow::new(
                self,
                cx,
                Immediate(Some(Err(self.error_response(&e)))),
                fail,
            );
        }
        let machine = Authenticate::new(self, parts, provider, Some(params.clone()));
        Flow::new(self, cx, machine, fail)
    }

    /// Starts a login explicitly (a "Log in" button), returning the user to `return_to`
    /// afterwards: a path on the app's origin, refused with the error view otherwise.
    pub fn login(
        &self,
        parts: &http::request::Parts,
        provider: Option<&str>,
        return_to: &str,
        cx: Context,
    ) -> Flow<Response> {
        self.login_with(parts, provider, return_to, &LoginParams::new(), cx)
    }

    /// Starts a login as [`login`](Self::login) does, with parameters for this login (a
    /// `login_hint`, `acr_values`, `prompt`...). Parameters the protocol sets itself are
    /// refused with the error view
    /// ([`Misuse::ReservedParameter`](crate::error::Misuse::ReservedParameter)).
    pub fn login_with(
        &self,
        _parts: &http::request::Parts,
        provider: Option<&str>,
        return_to: &str,
        params: &LoginParams,
        cx: Context,
    ) -> Flow<Response> {
        let fail = |rp: &RelyingParty, e| rp.error_response(&e);
        let slot = match self.slot(provider) {
            Ok((i, _)) => i,
            Err(e) => return Flow::new(self, cx, Immediate(Some(self.error_response(&e))), fail),
        };
        if let Err(e) = safe_return_path(return_to).and_then(|_| params.check()) {
            return Flow::new(self, cx, Immediate(Some(self.error_response(&e))), fail);
        }
        let machine = StartLogin {
            slot,
            return_to: return_to.to_owned(),
            params: params.clone(),
            start: LoginStart::default(),
        };
        Flow::new(self, cx, machine, fail)
    }
}

/// Where the start of a login is: nothing sent yet, or its authorization request pushed
/// (PAR, [`crate::par`]) and the provider's answer awaited, with the login it started.
#[derive(Default)]
pub(super) struct LoginStart(Option<Box<Pushed>>);

/// A login whose authorization request was pushed.
struct Pushed {
    pending: PendingLogin,
    authorization_endpoint: url::Url,
    client_id: String,
}

/// Redirects to the provider, remembering the login in a login cookie of its own: starting
/// a login writes nothing to the session store (an anonymous request costs no shared
/// storage), and tabs do not overwrite each other's logins. Needs the provider's metadata and
/// client, and with PAR the provider's answer to the push (`start` holds the login meanwhile);
/// any failure is the error view, and sets no cookie. `params` were checked by whoever took
/// them from the app; a silent login adds `prompt=none` to them.
pub(super) fn start_login(
    cx: &mut Cx<'_>,
    start: &mut LoginStart,
    slot: usize,
    return_to: &str,
    silent: bool,
    params: Option<&LoginParams>,
) -> Progress<Response> {
    let rp = cx.rp;
    // Issue 18 (P): the answer to the push.
    if let Some(pushed) = start.0.take() {
        let pushed_request = match cx.http() {
            Ok(Ok(response)) => crate::par::parse_push_response(response),
            Ok(Err(source)) => Err(crate::Error::Transport {
                endpoint: crate::error::Endpoint::PushedAuthorization,
                source,
            }),
            Err(e) => Err(e),
        };
        return Progress::Ready(match pushed_request {
            Ok(p) => login_redirect(
                rp,
                crate::par::pushed_request_url(
                    &pushed.authorization_endpoint,
                    &pushed.client_id,
                    &p.request_uri,
                ),
                &pushed.pending,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "the pushed authorization request failed");
                rp.error_response(&e)
            }
        });
    }
    let metadata = match ready!(cx.ensure_metadata(slot)) {
        Ok(m) => m,
        Err(e) => return Progress::Ready(rp.error_response(&e)),
    };
    let client = match ready!(cx.ensure_client(slot, &metadata)) {
        Ok(c) => c,
        Err(e) => return Progress::Ready(rp.error_response(&e)),
    };
    let Some(provider) = rp.slot_at(slot) else {
        return Progress::Ready(
            rp.error_response(&crate::Error::config("provider", "unknown provider")),
        );
    };
    let return_to = if return_to.len() > MAX_RETURN_PATH {
        "/"
    } else {
        return_to
    };
    let mut extra: Vec<(&str, &str)> = params.map(|p| p.iter().collect()).unwrap_or_default();
    if silent {
        extra.retain(|(k, _)| *k != "prompt");
        extra.push(("prompt", "none"));
    }
    let (sent, pending) = match authorization_params(
        &provider.name,
        &provider.config,
        &client,
        &metadata,
        &provider.redirect_uri,
        return_to,
        &extra,
        cx.now,
        cx.rng.entropy(),
    ) {
        Ok(a) => a,
        Err(e) => return Progress::Ready(rp.error_response(&e)),
    };
    // Issue 18 (P): in the URL, as a request object, or pushed first.
    let jtis = [cx.rng.token(18), cx.rng.token(18)];
    match crate::par::deliver(&provider.config, &client, &metadata, &sent, cx.now, jtis) {
        Ok(crate::par::Delivery::Redirect(url)) => {
            Progress::Ready(login_redirect(rp, url, &pending))
        }
        Ok(crate::par::Delivery::Push(out)) => {
            start.0 = Some(Box::new(Pushed {
                pending,
                authorization_endpoint: metadata.authorization_endpoint.clone(),
                client_id: client.client_id.clone(),
            }));
            Progress::Pending(Ask::send(out))
        }
        Err(e) => Progress::Ready(rp.error_response(&e)),
    }
}

/// The redirect to `url` with the login cookie remembering `pending`.
fn login_redirect(rp: &RelyingParty, url: url::Url, pending: &PendingLogin) -> Response {
    let cookie = match rp.inner.login_cookies.set(pending) {
        Ok(c) => c,
        Err(e) => return rp.error_response(&e),
    };
    let mut resp = redirect(url.as_str());
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

/// [`RelyingParty::session`]: one load.
struct SessionUser {
    id: Option<String>,
    asked: bool,
}

impl Machine for SessionUser {
    type Output = Option<Arc<UserSession>>;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Self::Output> {
        if !self.asked {
            // The id is asked for once: moved into the action, not copied.
            return match self.id.take() {
                Some(id) => {
                    self.asked = true;
                    Progress::Pending(Ask::Load(id))
                }
                None => Progress::Ready(None),
            };
        }
        let record = cx.loaded().ok().flatten();
        Progress::Ready(record.and_then(|r| r.authenticated_user(cx.now).cloned()))
    }
}

/// [`RelyingParty::login`]: the provider's metadata and client, then the redirect.
struct StartLogin {
    slot: usize,
    return_to: String,
    params: LoginParams,
    start: LoginStart,
}

impl Machine for StartLogin {
    type Output = Response;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Response> {
        let params = Some(&self.params);
        start_login(
            cx,
            &mut self.start,
            self.slot,
            &self.return_to,
            false,
            params,
        )
    }
}

/// [`RelyingParty::authenticate`].
pub(super) struct Authenticate {
    /// The provider asked for, or the error view when there is no such provider.
    slot: std::result::Result<usize, Option<Response>>,
    id: Option<String>,
    api: bool,
    /// The request's URI, the page a login returns to: worked out only when a login starts
    /// (a logged-in request, the common case, never parses it).
    uri: http::Uri,
    /// The route's login parameters ([`RelyingParty::authenticate_with`]), checked.
    params: Option<LoginParams>,
    state: AuthState,
}

enum AuthState {
    /// The automatic refresh of a due access token, first.
    Refresh(Box<AccessToken>),
    Load,
    Loaded,
    Login {
        silent: bool,
        start: LoginStart,
    },
}

impl Authenticate {
    pub(super) fn new(
        rp: &RelyingParty,
        parts: &http::request::Parts,
        provider: Option<&str>,
        params: Option<LoginParams>,
    ) -> Self {
        let slot = rp
            .slot(provider)
            .map(|(i, _)| i)
            .map_err(|e| Some(rp.error_response(&e)));
        let id = rp.inner.cookies.read(&parts.headers);
        let state = match &id {
            Some(id) if rp.inner.tokens.auto_refresh() => {
                AuthState::Refresh(Box::new(AccessToken::new(id.clone(), false)))
            }
            _ => AuthState::Load,
        };
        Authenticate {
            slot,
            id,
            api: is_api_request(parts),
            uri: parts.uri.clone(),
            params,
            state,
        }
    }

    /// The page to return to after the login: relative to the app (the login's answer puts
    /// the prefix back), whether or not the request still carries the prefix; the app's root
    /// when it is not a safe same-origin path.
    fn return_to(&self, rp: &RelyingParty) -> String {
        let path = rp.app_relative(self.uri.path());
        let return_to = match self.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        if safe_return_path(&return_to).is_ok() {
            return_to
        } else {
            "/".to_owned()
        }
    }

    /// The user when logged in with this provider and not due for a silent refresh; else
    /// what starts a login.
    fn decide(
        &mut self,
        cx: &mut Cx<'_>,
        slot: usize,
        record: Option<SessionRecord>,
    ) -> Option<std::result::Result<Arc<UserSession>, Response>> {
        let rp = cx.rp;
        let Some(provider) = rp.slot_at(slot) else {
            let e = crate::Error::config("provider", "unknown provider");
            return Some(Err(rp.error_response(&e)));
        };
        let silent = match served(
            provider,
            self.params.as_ref(),
            self.api,
            record.as_ref(),
            cx.now,
        ) {
            Served::User(user) => return Some(Ok(user.clone())),
            Served::SilentRefresh => true,
            Served::Nobody => false,
        };
        if self.api {
            return Some(Err(api_unauthorized(&rp.realm())));
        }
        self.state = AuthState::Login {
            silent,
            start: LoginStart::default(),
        };
        None
    }
}

/// What a protected request's session record means for its route: the one rule both the
/// [`Authenticate`] flow and [`SessionLookup::user`] apply.
enum Served<'r> {
    /// Logged in with the route's provider, as recently and as strongly as the route asks,
    /// and not due for a silent refresh (or an API request, which is never redirected).
    User(&'r Arc<UserSession>),
    /// Logged in, but due for a silent re-authentication at the provider.
    SilentRefresh,
    /// Not logged in for this route.
    Nobody,
}

fn served<'r>(
    provider: &super::ProviderSlot,
    params: Option<&LoginParams>,
    api: bool,
    record: Option<&'r SessionRecord>,
    now: u64,
) -> Served<'r> {
    let Some(user) = record.and_then(|r| r.authenticated_user(now)) else {
        return Served::Nobody;
    };
    let satisfied =
        params.is_none_or(|p| p.satisfied_by(user, now, provider.config.clock_skew().as_secs()));
    if user.provider != provider.name || !satisfied {
        return Served::Nobody;
    }
    let due = provider
        .config
        .session_refresh_interval
        .is_some_and(|i| user.needs_refresh(now, i.as_secs()));
    if !due || api {
        Served::User(user)
    } else {
        Served::SilentRefresh
    }
}

/// The session a protected request names, for the common case decided without a [`Flow`]: a
/// valid session cookie, and nothing to do before its record is read. See
/// [`RelyingParty::session_lookup`].
#[derive(Debug)]
#[must_use]
pub struct SessionLookup<'p> {
    id: String,
    slot: usize,
    api: bool,
    params: Option<&'p LoginParams>,
}

impl<'p> SessionLookup<'p> {
    /// The id of the session record to load.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The logged-in user the route serves, from the record stored under [`id`](Self::id)
    /// (`None` when there is none) at `now`; `None` when the user is not served as things
    /// stand: no session, another provider's, one the route's parameters want renewed, one
    /// due for a silent refresh. Then run the flow
    /// ([`authenticate`](RelyingParty::authenticate) or
    /// [`authenticate_with`](RelyingParty::authenticate_with)), which decides the rest (the
    /// login, the `401`, the silent refresh) by the same rule.
    pub fn user(
        &self,
        rp: &RelyingParty,
        record: Option<&SessionRecord>,
        now: u64,
    ) -> Option<Arc<UserSession>> {
        let provider = rp.slot_at(self.slot)?;
        match served(provider, self.params, self.api, record, now) {
            Served::User(user) => Some(user.clone()),
            Served::SilentRefresh | Served::Nobody => None,
        }
    }
}

impl RelyingParty {
    /// The fast path of [`authenticate`](Self::authenticate) (with `params`,
    /// [`authenticate_with`](Self::authenticate_with)) for a logged-in request: when the
    /// request carries a valid session cookie for a configured provider and nothing must
    /// happen before its record is read (no automatic access token refresh is configured), the
    /// session to load; `None` otherwise. A runtime loads the record and asks
    /// [`SessionLookup::user`]; when that gives no user, or the load fails, it runs the flow
    /// as usual, which reads the cookie and the record again.
    ///
    /// A protected request costs no [`Flow`] this way (its state, its boxed machine, its
    /// actions), which is most of what the guard costs above its cookie check and its store
    /// read.
    pub fn session_lookup<'p>(
        &self,
        parts: &http::request::Parts,
        provider: Option<&str>,
        params: Option<&'p LoginParams>,
    ) -> Option<SessionLookup<'p>> {
        if self.inner.tokens.auto_refresh() {
            return None;
        }
        if params.is_some_and(|p| p.check_for_route().is_err()) {
            return None;
        }
        let (slot, _) = self.slot(provider).ok()?;
        let id = self.inner.cookies.read(&parts.headers)?;
        Some(SessionLookup {
            id,
            slot,
            api: is_api_request(parts),
            params,
        })
    }
}

impl Machine for Authenticate {
    type Output = std::result::Result<Arc<UserSession>, Response>;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Self::Output> {
        let slot = match &mut self.slot {
            Ok(i) => *i,
            Err(resp) => {
                let resp = resp.take().unwrap_or_else(|| {
                    cx.rp
                        .error_response(&crate::Error::config("provider", "unknown"))
                });
                return Progress::Ready(Err(resp));
            }
        };
        loop {
            match &mut self.state {
                AuthState::Refresh(token) => {
                    match ready!(token.step(cx)) {
                        Ok(_) => {}
                        // A session that can no longer refresh is left to what follows: it
                        // is logged out (`invalid_grant`), or served as it is.
                        Err(e) if needs_login(&e) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "automatic access token refresh failed");
                            return Progress::Ready(Err(cx.rp.error_response(&e)));
                        }
                    }
                    self.state = AuthState::Load;
                }
                // Left once for `Loaded`, never entered again: the id moves into the action.
                AuthState::Load => match self.id.take() {
                    Some(id) => {
                        self.state = AuthState::Loaded;
                        return Progress::Pending(Ask::Load(id));
                    }
                    None => {
                        if let Some(done) = self.decide(cx, slot, None) {
                            return Progress::Ready(done);
                        }
                    }
                },
                AuthState::Loaded => {
                    let record = match cx.loaded() {
                        Ok(r) => r,
                        Err(e) => return Progress::Ready(Err(cx.rp.error_response(&e))),
                    };
                    if let Some(done) = self.decide(cx, slot, record) {
                        return Progress::Ready(done);
                    }
                }
                AuthState::Login { .. } => {
                    let return_to = self.return_to(cx.rp);
                    let AuthState::Login { silent, start } = &mut self.state else {
                        continue;
                    };
                    let silent = *silent;
                    let params = self.params.as_ref();
                    let resp = ready!(start_login(cx, start, slot, &return_to, silent, params));
                    return Progress::Ready(Err(resp));
                }
            }
        }
    }
}
