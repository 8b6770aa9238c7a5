//! Access tokens for the relying party: a valid access token on demand, refreshed when due.
//!
//! ## One refresh for concurrent requests
//! Requests of one session that all find the access token due would each spend the refresh
//! token; with rotating refresh tokens all but the first would then fail with `invalid_grant`
//! and log the user out. So one flow at a time refreshes a session: the relying party records
//! which flow refreshes which session id, and the others [`Wait`](crate::Action::Wait), then
//! read the session again and use the token the refresh saved. The refreshing flow reloads the
//! session before deciding, so a request that arrives just after a refresh finds the new token
//! and sends nothing.
//!
//! ## One refresh for several instances
//! App instances sharing a session store coordinate through it: before it spends the refresh
//! token, the refreshing flow takes the session's refresh lease, a key marked in the store for
//! [`REFRESH_LEASE_TTL`] ([`Action::MarkSpent`](crate::Action::MarkSpent), one atomic
//! insert-if-absent such as Redis' `SET NX PX`). The key names the tokens being replaced, so
//! the next refresh has a key of its own and no lease needs releasing. An instance that finds
//! the lease taken [`Sleep`](crate::Action::Sleep)s, reloads the session and uses the token the
//! other instance saved (or learns that its refresh token was refused and the session is
//! over), and meanwhile tries the lease again: it is free once its holder gave it back (a
//! refresh that failed gives it back, [`Action::Unmark`](crate::Action::Unmark), so that the
//! next request need not wait) or once it ran out (the holder died). The lease outlives the
//! refresh it guards ([`REFRESH_LEASE_TTL`], several times the calls' timeouts), so no
//! instance takes it while another may still spend the token. What a lease cannot prevent is
//! what a single instance cannot either: a token request that timed out here and that the
//! provider still carries out, while the next one is sent.
//!
//! ## A refresh that was sent is saved
//! Once the refresh request is sent, the provider may already have rotated the refresh token:
//! only the flow that sent it can save the new one. Such a flow says so with
//! [`Flow::must_finish`](crate::Flow::must_finish), and a runtime drives it to its end even
//! when the request that started it goes away; abandoning it would leave the spent token in
//! the session, the next refresh would get `invalid_grant` (providers with reuse detection
//! revoke the whole grant) and the user would be logged out.

use std::sync::Arc;
use std::time::Duration;

use super::builder::RelyingPartyBuilder;
use super::login::start_login;
use super::pages::{api_unauthorized, is_api_request};
use super::{RelyingParty, Response};
use crate::bearer::BearerValidation;
use crate::client_credentials::ClientCredentialsCache;
use crate::error::{Error, Result};
use crate::flow::{ready, Ask, Context, Cx, Flow, Gated, Immediate, Machine, Map, Progress};
use crate::introspection::IntrospectionCache;
use crate::login::safe_return_path;
use crate::refresh::{needs_refresh, RefreshInput, RefreshOutcome, TokenRefresh};
use crate::secret::Secret;
use crate::session::{SessionRecord, UserSession};

/// How many client credentials tokens (provider, scopes, parameters) are cached at most.
const CLIENT_CREDENTIALS_CAPACITY: usize = 256;

/// The access-token settings of the builder.
pub(crate) struct TokenSettings {
    pub(super) refresh_margin: Duration,
    pub(super) auto_refresh: bool,
    pub(super) bearer_validation: BearerValidation,
    pub(super) bearer_audience: Option<String>,
    pub(super) introspection_audience_check: bool,
    pub(super) bearer_scopes: Vec<String>,
    /// Issue 18 (D): whether `Authorization: DPoP` tokens are accepted.
    pub(super) bearer_dpop: bool,
    introspection_ttl: Duration,
    introspection_capacity: usize,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            refresh_margin: Duration::from_secs(30),
            auto_refresh: false,
            bearer_validation: BearerValidation::Introspection,
            bearer_audience: None,
            introspection_audience_check: true,
            bearer_scopes: Vec::new(),
            bearer_dpop: false,
            introspection_ttl: Duration::from_secs(30),
            introspection_capacity: 10_000,
        }
    }
}

/// The access-token state of a relying party: settings and caches.
pub(super) struct TokenState {
    pub(super) settings: TokenSettings,
    pub(super) introspection: IntrospectionCache,
    pub(super) client_credentials: ClientCredentialsCache,
}

impl TokenState {
    pub(super) fn new(settings: TokenSettings) -> Self {
        TokenState {
            introspection: IntrospectionCache::new(
                settings.introspection_ttl,
                settings.introspection_capacity,
            ),
            client_credentials: ClientCredentialsCache::new(
                settings.refresh_margin,
                CLIENT_CREDENTIALS_CAPACITY,
            ),
            settings,
        }
    }

    fn margin(&self) -> u64 {
        self.settings.refresh_margin.as_secs()
    }

    pub(super) fn auto_refresh(&self) -> bool {
        self.settings.auto_refresh
    }
}

/// Access-token options.
impl RelyingPartyBuilder {
    /// Access tokens are refreshed this long before they expire (default 30 s). Without a
    /// refresh token, a token is used until it actually expires.
    pub fn access_token_refresh_margin(mut self, margin: Duration) -> Self {
        self.tokens.refresh_margin = margin;
        self
    }

    /// Refresh a due access token on every protected request ([`RelyingParty::authenticate`]),
    /// so that handlers always see a valid one (default off: tokens are refreshed when asked
    /// for with [`RelyingParty::valid_access_token`]). A refresh token the provider refuses
    /// ends the session and the request logs in again; an unreachable provider gets the error
    /// view. Costs one more session-store read per protected request.
    pub fn auto_refresh_access_tokens(mut self, on: bool) -> Self {
        self.tokens.auto_refresh = on;
        self
    }

    /// How bearer tokens are validated (default: introspection).
    pub fn bearer_validation(mut self, validation: BearerValidation) -> Self {
        self.tokens.bearer_validation = validation;
        self
    }

    /// The audience bearer tokens must carry, by introspection and as JWTs alike (default:
    /// the app's base URL, without a trailing slash). Without this check any active token the
    /// provider issued, to any client for any API, would open this one (RFC 9700 4.9, RFC 6750
    /// 5.2): ask the provider to issue tokens for this audience (a resource indicator, RFC
    /// 8707, or an audience setting at the provider).
    pub fn bearer_audience(mut self, audience: impl Into<String>) -> Self {
        self.tokens.bearer_audience = Some(audience.into());
        self
    }

    /// Opts out of the audience check for introspected tokens (JWT access tokens keep theirs,
    /// which RFC 9068 requires): any active token of the provider is then accepted, whoever it
    /// was issued to. Only for a provider that cannot put an audience in its tokens and serves
    /// no other client; an audience set by [`bearer_audience`](Self::bearer_audience) or a
    /// route's requirements is still checked.
    pub fn skip_introspection_audience_check(mut self) -> Self {
        self.tokens.introspection_audience_check = false;
        self
    }

    /// Scopes every bearer token must carry (routes can require more).
    pub fn bearer_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tokens.bearer_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Issue 18 (D): accepts DPoP-bound access tokens (RFC 9449) at bearer-protected routes:
    /// `Authorization: DPoP <token>` with a `DPoP` proof, verified (signature by its own
    /// asymmetric key, `typ`, the request's method and URL under the app's URL, `iat` within
    /// a minute, `ath`, a `jti` spent once in the session store) and matched with the
    /// token's `cnf.jkt` (from the JWT or the introspection response). Refusals answer
    /// `401` with a `DPoP` challenge. Whether on or off, a DPoP-bound token sent as `Bearer`
    /// is refused. Routes can opt in alone with
    /// [`BearerRequirements::accept_dpop`](crate::BearerRequirements::accept_dpop).
    pub fn bearer_accept_dpop(mut self, on: bool) -> Self {
        self.tokens.bearer_dpop = on;
        self
    }

    /// Introspection results are cached for `ttl` (default 30 s; zero disables the cache),
    /// never past the token's expiry, for at most `capacity` tokens (default 10 000). A revoked
    /// token is accepted until its cached result expires.
    pub fn introspection_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.tokens.introspection_ttl = ttl;
        self.tokens.introspection_capacity = capacity;
        self
    }
}

/// Access tokens on demand.
impl RelyingParty {
    /// A valid access token for the request's session: the stored one while it is valid
    /// (beyond the refresh margin), else a new one from the refresh token; `force_refresh`
    /// refreshes regardless. The refreshed tokens (and a new ID token, validated) are saved in
    /// the session.
    ///
    /// Errors: [`Error::LoginRequired`] without a logged-in session, or when the token has
    /// expired and there is no refresh token; [`Error::Provider`] with `invalid_grant` when the
    /// provider refuses the refresh token, which also ends the session (the next protected
    /// request logs in again); [`Error::Transport`] when the provider cannot be reached, with
    /// the session left as it was. Concurrent requests of one session share one refresh.
    pub fn valid_access_token(
        &self,
        parts: &http::request::Parts,
        force_refresh: bool,
        cx: Context,
    ) -> Flow<Result<Secret>> {
        let fail = |_: &RelyingParty, e| Err(e);
        let Some(id) = self.inner.cookies.read(&parts.headers) else {
            let e = Error::LoginRequired("the request has no session");
            return Flow::new(self, cx, Immediate(Some(Err(e))), fail);
        };
        let machine = Map {
            machine: AccessToken::new(id, force_refresh),
            f: Some(|_: &RelyingParty, r: Result<Refreshed>| r.map(|r| r.token)),
        };
        Flow::new(self, cx, machine, fail)
    }

    /// [`valid_access_token`](Self::valid_access_token) for a protected route: when the user
    /// must log in (again), the response starts the login (a `401` for API-style requests);
    /// any other failure is rendered by the error view.
    pub fn require_access_token(
        &self,
        parts: &http::request::Parts,
        force_refresh: bool,
        cx: Context,
    ) -> Flow<std::result::Result<Secret, Response>> {
        let id = self.inner.cookies.read(&parts.headers);
        let return_to = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .filter(|p| safe_return_path(p).is_ok())
            .unwrap_or("/")
            .to_owned();
        let state = match &id {
            Some(id) => RequireState::Token(Box::new(AccessToken::new(id.clone(), force_refresh))),
            None => RequireState::LoginNeeded,
        };
        let machine = RequireToken {
            id,
            api: is_api_request(parts),
            return_to,
            state,
        };
        Flow::new(self, cx, machine, |rp, e| Err(rp.error_response(&e)))
    }
}

/// [`RelyingParty::require_access_token`]: the token, or what starts the login again.
struct RequireToken {
    id: Option<String>,
    api: bool,
    return_to: String,
    state: RequireState,
}

enum RequireState {
    Token(Box<AccessToken>),
    LoginNeeded,
    /// The session loaded, for the provider it was logged in with.
    ProviderLoaded,
    Login(usize, super::login::LoginStart),
}

impl Machine for RequireToken {
    type Output = std::result::Result<Secret, Response>;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Self::Output> {
        loop {
            match &mut self.state {
                RequireState::Token(token) => match ready!(token.step(cx)) {
                    Ok(r) => return Progress::Ready(Ok(r.token)),
                    Err(e) if needs_login(&e) => self.state = RequireState::LoginNeeded,
                    Err(e) => return Progress::Ready(Err(cx.rp.error_response(&e))),
                },
                RequireState::LoginNeeded => {
                    if self.api {
                        return Progress::Ready(Err(api_unauthorized(&cx.rp.realm())));
                    }
                    match &self.id {
                        // The login goes to the provider the session was logged in with.
                        Some(id) => {
                            let id = id.clone();
                            self.state = RequireState::ProviderLoaded;
                            return Progress::Pending(Ask::Load(id));
                        }
                        None => self.state = RequireState::Login(0, Default::default()),
                    }
                }
                RequireState::ProviderLoaded => {
                    let provider = cx
                        .loaded()
                        .ok()
                        .flatten()
                        .and_then(|r| r.authenticated_user(cx.now).map(|u| u.provider.clone()));
                    match cx.rp.slot(provider.as_deref()) {
                        Ok((i, _)) => self.state = RequireState::Login(i, Default::default()),
                        Err(e) => return Progress::Ready(Err(cx.rp.error_response(&e))),
                    }
                }
                RequireState::Login(slot, start) => {
                    let slot = *slot;
                    let resp = ready!(start_login(cx, start, slot, &self.return_to, false, None));
                    return Progress::Ready(Err(resp));
                }
            }
        }
    }
}

/// What a refresh gives the request that asked.
#[derive(Clone)]
pub(super) struct Refreshed {
    pub(super) token: Secret,
}

/// The access token of one session, refreshed when due or forced, one refresh per session at
/// a time (see the module documentation).
pub(super) struct AccessToken {
    id: String,
    force: bool,
    state: TokenStep,
    /// The session's refresh lease, while this flow holds it.
    lease: Option<String>,
}

enum TokenStep {
    Begin,
    FirstLoaded,
    /// Waiting for another flow's refresh of this session; `seen` is the token before it.
    Join {
        seen: Option<Secret>,
        waited: bool,
    },
    Reloaded {
        seen: Option<Secret>,
    },
    /// This flow refreshes: the session as it is now.
    OwnLoaded,
    /// Taking the session's refresh lease in the shared store (asked for yet or not), after
    /// waiting this many times for another process's refresh.
    Leasing {
        slot: usize,
        user: Arc<UserSession>,
        asked: bool,
        waited: u32,
    },
    /// Another process holds the lease: sleep, reload, and use its refresh once it shows (or
    /// take the lease once it is free).
    PeerRefresh {
        slot: usize,
        user: Arc<UserSession>,
        waited: u32,
        phase: PeerPhase,
    },
    Prepare {
        slot: usize,
        user: Arc<UserSession>,
    },
    Exchanging {
        exchange: Box<Gated<TokenRefresh>>,
        user: Arc<UserSession>,
    },
    Latest {
        outcome: Option<Box<Result<RefreshOutcome>>>,
        user: Arc<UserSession>,
    },
    /// The refresh failed: the lease is given back first.
    Releasing {
        result: Option<Result<Refreshed>>,
    },
    Saved {
        result: Option<Result<Refreshed>>,
    },
    Done,
}

/// Where a flow waiting for another process's refresh is.
#[derive(Clone, Copy)]
enum PeerPhase {
    Sleep,
    Load,
    Check,
}

/// How long a session's refresh lease lasts in the shared store. The lease must outlive the
/// refresh it guards, or another instance could take it and spend the same refresh token: a
/// token request, perhaps a key-set fetch, and the save, each bounded by the runtime's timeout
/// (10 s by default), fit several times over.
pub(crate) const REFRESH_LEASE_TTL: Duration = Duration::from_secs(60);

/// How many times a flow sleeps for another process's refresh before it gives up: twice the
/// lease, by which time the lease of a holder that died has run out and this flow has taken
/// it (a runtime whose sleep returns at once only makes this shorter).
const REFRESH_LEASE_WAITS: u32 =
    (2 * REFRESH_LEASE_TTL.as_millis() / REFRESH_LEASE_POLL.as_millis()) as u32;

/// How often a flow waiting for another process's refresh looks at the session again.
const REFRESH_LEASE_POLL: Duration = Duration::from_millis(100);

/// The lease key of a refresh of the session `id` holding `user`'s tokens: a refresh replaces
/// the access token (and, rotating, the refresh token), so the next refresh of the session has
/// a key of its own, and no lease ever needs releasing.
fn refresh_lease_key(id: &str, user: &UserSession) -> String {
    let tokens = format!(
        "{}\0{}",
        user.refresh_token.as_ref().map_or("", |t| t.expose()),
        user.access_token.as_ref().map_or("", |t| t.expose())
    );
    crate::session::index_key(crate::session::REFRESH_LEASE, id, &tokens)
}

impl AccessToken {
    pub(super) fn new(id: String, force: bool) -> Self {
        AccessToken {
            id,
            force,
            state: TokenStep::Begin,
            lease: None,
        }
    }

    /// Ends this flow's refresh of the session with `result`. A failure gives the lease back
    /// first, if this flow holds it: the next request, on any instance, then tries at once
    /// instead of waiting for the lease to run out. (A success needs no release: the session's
    /// next refresh has new tokens, so a lease key of its own.)
    fn end(&mut self, cx: &mut Cx<'_>, result: Result<Refreshed>) -> Progress<Result<Refreshed>> {
        if result.is_err() {
            if let Some(lease) = self.lease.take() {
                self.state = TokenStep::Releasing {
                    result: Some(result),
                };
                return Progress::Pending(Ask::Unmark(lease));
            }
        }
        self.lease = None;
        cx.release_refresh(&self.id);
        self.state = TokenStep::Done;
        Progress::Ready(result)
    }

    pub(super) fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Result<Refreshed>> {
        let margin = cx.rp.inner.tokens.margin();
        loop {
            match &mut self.state {
                TokenStep::Begin => {
                    self.state = TokenStep::FirstLoaded;
                    return Progress::Pending(Ask::Load(self.id.clone()));
                }
                TokenStep::FirstLoaded => {
                    // The common case needs no coordination: a valid token is just read.
                    let record = match cx.loaded() {
                        Ok(r) => r,
                        Err(e) => return Progress::Ready(Err(e)),
                    };
                    match usable_token(record.as_ref(), self.force, cx.now, margin) {
                        Ok(Some(done)) => return Progress::Ready(Ok(done)),
                        Err(e) => return Progress::Ready(Err(e)),
                        Ok(None) => {}
                    }
                    self.state = TokenStep::Join {
                        seen: current_token(record.as_ref()),
                        waited: false,
                    };
                }
                TokenStep::Join { seen, waited } => {
                    if cx.refresh_running(&self.id) {
                        *waited = true;
                        return Progress::Pending(Ask::Wait);
                    }
                    let next = if *waited {
                        TokenStep::Reloaded { seen: seen.take() }
                    } else if cx.claim_refresh(&self.id) {
                        TokenStep::OwnLoaded
                    } else {
                        // Another flow claimed it since the check above: wait for it (the
                        // check and the claim are apart, the claim alone is atomic).
                        *waited = true;
                        return Progress::Pending(Ask::Wait);
                    };
                    self.state = next;
                    return Progress::Pending(Ask::Load(self.id.clone()));
                }
                TokenStep::Reloaded { seen } => {
                    let record = match cx.loaded() {
                        Ok(r) => r,
                        Err(e) => return Progress::Ready(Err(e)),
                    };
                    // The refresh waited for saved a new token: that is this request's too,
                    // forced or not.
                    let now = cx.now;
                    let user = record.as_ref().and_then(|r| r.authenticated_user(now));
                    if let Some(token) = user.and_then(|u| u.access_token.clone()) {
                        if seen.as_ref() != Some(&token) {
                            return Progress::Ready(Ok(Refreshed { token }));
                        }
                    }
                    match usable_token(record.as_ref(), self.force, now, margin) {
                        Ok(Some(done)) => return Progress::Ready(Ok(done)),
                        Err(e) => return Progress::Ready(Err(e)),
                        // That refresh failed: this request tries its own.
                        Ok(None) => {
                            self.state = TokenStep::Join {
                                seen: current_token(record.as_ref()),
                                waited: false,
                            }
                        }
                    }
                }
                TokenStep::OwnLoaded => {
                    let record = match cx.loaded() {
                        Ok(r) => r,
                        Err(e) => return self.end(cx, Err(e)),
                    };
                    match usable_token(record.as_ref(), self.force, cx.now, margin) {
                        Ok(Some(done)) => return self.end(cx, Ok(done)),
                        Err(e) => return self.end(cx, Err(e)),
                        Ok(None) => {}
                    }
                    let Some(user) = record.and_then(|r| r.user) else {
                        return self.end(
                            cx,
                            Err(Error::LoginRequired("the session is not logged in")),
                        );
                    };
                    match cx.rp.slot(Some(&user.provider)) {
                        Ok((slot, _)) => {
                            self.state = TokenStep::Leasing {
                                slot,
                                user,
                                asked: false,
                                waited: 0,
                            }
                        }
                        Err(e) => return self.end(cx, Err(e)),
                    }
                }
                TokenStep::Leasing {
                    slot,
                    user,
                    asked,
                    waited,
                } => {
                    let key = refresh_lease_key(&self.id, user);
                    if !*asked {
                        *asked = true;
                        return Progress::Pending(Ask::MarkSpent(key, REFRESH_LEASE_TTL));
                    }
                    let (slot, user, waited) = (*slot, user.clone(), *waited);
                    match cx.marked() {
                        Ok(true) => {
                            self.lease = Some(key);
                            self.state = TokenStep::Prepare { slot, user };
                        }
                        Ok(false) if waited < REFRESH_LEASE_WAITS => {
                            if waited == 0 {
                                tracing::debug!(
                                    "another instance refreshes this session's tokens; waiting for it"
                                );
                            }
                            self.state = TokenStep::PeerRefresh {
                                slot,
                                user,
                                waited,
                                phase: PeerPhase::Sleep,
                            };
                        }
                        Ok(false) => {
                            return self.end(
                                cx,
                                Err(Error::Transport {
                                    endpoint: crate::error::Endpoint::Token,
                                    source: crate::error::TransportError::Other(
                                        "another instance's refresh of this session's tokens \
                                         did not finish"
                                            .into(),
                                    ),
                                }),
                            )
                        }
                        Err(e) => return self.end(cx, Err(e)),
                    }
                }
                TokenStep::PeerRefresh {
                    slot,
                    user,
                    waited,
                    phase,
                } => match *phase {
                    PeerPhase::Sleep => {
                        *phase = PeerPhase::Load;
                        return Progress::Pending(Ask::Sleep(REFRESH_LEASE_POLL));
                    }
                    PeerPhase::Load => {
                        *phase = PeerPhase::Check;
                        return Progress::Pending(Ask::Load(self.id.clone()));
                    }
                    PeerPhase::Check => {
                        let record = match cx.loaded() {
                            Ok(r) => r,
                            Err(e) => return self.end(cx, Err(e)),
                        };
                        let now = cx.now;
                        let Some(latest) = record.as_ref().and_then(|r| r.authenticated_user(now))
                        else {
                            // Its refresh token was refused: the session is over.
                            return self.end(
                                cx,
                                Err(Error::LoginRequired(
                                    "the session ended while another instance refreshed it",
                                )),
                            );
                        };
                        // The other instance saved new tokens (a provider may even return the
                        // same access token with a new expiry), or the stored one will do.
                        let replaced = latest.access_token != user.access_token
                            || latest.refresh_token != user.refresh_token
                            || latest.access_token_expires_at != user.access_token_expires_at;
                        if let (true, Some(token)) = (replaced, latest.access_token.clone()) {
                            return self.end(cx, Ok(Refreshed { token }));
                        }
                        if !self.force {
                            match usable_token(record.as_ref(), false, now, margin) {
                                Ok(Some(done)) => return self.end(cx, Ok(done)),
                                Err(e) => return self.end(cx, Err(e)),
                                Ok(None) => {}
                            }
                        }
                        // Nothing yet: the lease again, free once its holder gave it back
                        // (its refresh failed) or it ran out (the holder died).
                        self.state = TokenStep::Leasing {
                            slot: *slot,
                            user: user.clone(),
                            asked: false,
                            waited: *waited + 1,
                        };
                    }
                },
                TokenStep::Prepare { slot, user } => {
                    let (slot, user) = (*slot, user.clone());
                    let metadata = match ready!(cx.ensure_metadata(slot)) {
                        Ok(m) => m,
                        Err(e) => return self.end(cx, Err(e)),
                    };
                    let client = match ready!(cx.ensure_client(slot, &metadata)) {
                        Ok(c) => c,
                        Err(e) => return self.end(cx, Err(e)),
                    };
                    let Some(provider) = cx.rp.slot_at(slot) else {
                        return self.end(cx, Err(Error::config("provider", "unknown provider")));
                    };
                    let keys = provider.state().keys.clone();
                    let seen = keys.attempts();
                    let refresh = TokenRefresh::new(RefreshInput {
                        config: provider.config.clone(),
                        client,
                        metadata,
                        keys,
                        user: user.clone(),
                        now: cx.now,
                    })
                    .client_assertion_id(cx.rng.token(18));
                    // Issue 18 (D): DPoP proofs from the flow's randomness.
                    let refresh = match provider.config.dpop || user.dpop.is_some() {
                        true => refresh.dpop_entropy(cx.rng.entropy()),
                        false => refresh,
                    };
                    // From here the refresh token may be spent at the provider.
                    cx.set_must_finish();
                    self.state = TokenStep::Exchanging {
                        exchange: Box::new(Gated::new(refresh, slot, seen)),
                        user,
                    };
                }
                TokenStep::Exchanging { exchange, user } => {
                    let outcome = ready!(exchange.step(cx)).and_then(|r| r);
                    let user = user.clone();
                    // Save against the session as it is now (another tab may have changed it
                    // meanwhile), and only if it is still the login that was refreshed.
                    self.state = TokenStep::Latest {
                        outcome: Some(Box::new(outcome)),
                        user,
                    };
                    return Progress::Pending(Ask::Load(self.id.clone()));
                }
                TokenStep::Latest { outcome, user } => {
                    let (outcome, user) = (outcome.take().map(|o| *o), user.clone());
                    let latest = match cx.loaded() {
                        Ok(r) => r,
                        Err(e) => return self.end(cx, Err(e)),
                    };
                    let Some(mut latest) =
                        latest.filter(|r| r.user.as_ref().is_some_and(|u| same_login(u, &user)))
                    else {
                        return self.end(
                            cx,
                            Err(Error::LoginRequired(
                                "the session changed while its tokens were refreshed",
                            )),
                        );
                    };
                    let result = match outcome {
                        Some(Ok(outcome)) => {
                            let Some(token) = outcome.user.access_token.clone() else {
                                return self.end(
                                    cx,
                                    Err(Error::LoginRequired(
                                        "the provider returned no access token",
                                    )),
                                );
                            };
                            latest.user = Some(Arc::new(outcome.user));
                            tracing::debug!(provider = %user.provider, "access token refreshed");
                            Ok(Refreshed { token })
                        }
                        Some(Err(Error::Provider(e))) if e.error == "invalid_grant" => {
                            // The refresh token is dead: so is the login.
                            tracing::info!(provider = %user.provider, "refresh token refused; session ended");
                            latest.user = None;
                            Err(Error::Provider(e))
                        }
                        Some(Err(e)) => {
                            tracing::warn!(provider = %user.provider, error = %e, "access token refresh failed");
                            return self.end(cx, Err(e));
                        }
                        None => return self.end(cx, Err(Error::LoginRequired("no access token"))),
                    };
                    self.state = TokenStep::Saved {
                        result: Some(result),
                    };
                    // Only if still there: a logout (here, or the provider's on another
                    // instance) between the load and this write must not be undone by it.
                    return Progress::Pending(Ask::Update(self.id.clone(), latest));
                }
                TokenStep::Releasing { result } => {
                    let result = result
                        .take()
                        .unwrap_or(Err(Error::LoginRequired("no access token")));
                    if let Err(e) = cx.stored() {
                        // It expires on its own.
                        tracing::warn!(error = %e, "cannot give the refresh lease back");
                    }
                    return self.end(cx, result);
                }
                TokenStep::Saved { result } => {
                    let result = result.take();
                    let result = match cx.updated() {
                        Ok(true) => result.unwrap_or(Err(Error::LoginRequired("no access token"))),
                        Ok(false) => Err(Error::LoginRequired(
                            "the session ended while its tokens were refreshed",
                        )),
                        Err(e) => Err(e),
                    };
                    return self.end(cx, result);
                }
                TokenStep::Done => {
                    return Progress::Ready(Err(crate::error::Misuse::Finished(
                        "an access token refresh",
                    )
                    .into()));
                }
            }
        }
    }
}

/// The session's access token as stored, if any.
fn current_token(record: Option<&SessionRecord>) -> Option<Secret> {
    record
        .and_then(|r| r.user.as_ref())
        .and_then(|u| u.access_token.clone())
}

/// The stored token when no refresh is needed: `Ok(Some)` to use it, `Ok(None)` to refresh,
/// an error when the session cannot have a valid token.
fn usable_token(
    record: Option<&SessionRecord>,
    force: bool,
    now: u64,
    margin: u64,
) -> Result<Option<Refreshed>> {
    let user = record
        .and_then(|r| r.authenticated_user(now))
        .ok_or(Error::LoginRequired("the session is not logged in"))?;
    let valid = |margin| match &user.access_token {
        Some(t) if !needs_refresh(user, now, margin) => Some(Refreshed { token: t.clone() }),
        _ => None,
    };
    if user.refresh_token.is_none() {
        // Nothing to refresh with: use the token until it actually expires.
        return match valid(0) {
            Some(r) if !force => Ok(Some(r)),
            _ => Err(Error::LoginRequired(
                "the session has no refresh token to get a new access token with",
            )),
        };
    }
    if force {
        return Ok(None);
    }
    Ok(valid(margin))
}

impl Machine for AccessToken {
    type Output = Result<Refreshed>;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Self::Output> {
        AccessToken::step(self, cx)
    }
}

/// Whether two sessions are the same login (a refresh changes tokens, not the login).
fn same_login(a: &UserSession, b: &UserSession) -> bool {
    a.provider == b.provider
        && a.id_token.raw == b.id_token.raw
        && a.refresh_token == b.refresh_token
        && a.last_authenticated == b.last_authenticated
}

/// Errors after which only a new login gives the session a valid access token.
pub(super) fn needs_login(e: &Error) -> bool {
    match e {
        Error::LoginRequired(_) => true,
        Error::Provider(p) => p.error == "invalid_grant",
        _ => false,
    }
}
