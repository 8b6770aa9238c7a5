//! Access tokens for the relying party: a valid access token on demand (refreshing it when
//! due), bearer-token protection for APIs, session-or-bearer protection, and the client
//! credentials grant.
//!
//! ## One refresh for concurrent requests
//! Requests of one session that all find the access token due would each spend the refresh
//! token; with rotating refresh tokens all but the first would then fail with `invalid_grant`
//! and log the user out. So a refresh runs as a *flight* per session id: the first request
//! starts it as a [`Shared`] future and records it in an in-flight map (a std `Mutex`, never
//! held across an `.await`); later requests of that session join it and get its outcome. The
//! flight reloads the session before deciding, so a request that arrives just after a refresh
//! finds the new token and sends nothing.
//!
//! ## A refresh that was sent is saved
//! A flight is also handed to the transport's [`spawn`](crate::Transport::spawn), which runs
//! it to completion in the background: if every request waiting on it is dropped (the clients
//! went away) after the token request went out, the provider has already rotated the refresh
//! token, and only finishing the flight saves the new one; abandoning it would leave the spent
//! token in the session, the next refresh would get `invalid_grant` (providers with reuse
//! detection revoke the whole grant) and the user would be logged out. The core has no runtime
//! of its own, so it borrows the transport's (`oidc-reqwest` spawns on tokio); a transport
//! that cannot spawn leaves flights to their waiters, as before.
//!
//! The map holds only a [`WeakShared`]: the background task and the requests waiting on a
//! flight own it, and the flight removes itself from the map when done, so nothing lingers in
//! memory. The coordination is per process: app instances sharing a session store each refresh
//! on their own.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{FutureExt, Shared, WeakShared};
use http::{header, HeaderValue, StatusCode};

use super::{api_unauthorized, is_api_request, RelyingParty, RelyingPartyBuilder, Response};
use crate::access_token::{validate_jwt_access_token, JwtAccessTokenExpectations, JwtValidation};
use crate::bearer::{
    bearer_token, check_scopes, rejection_response, BearerRequirements, BearerValidation,
    Principal, TokenIdentity,
};
use crate::client_credentials::{
    client_credentials_request, parse_client_credentials_response, ClientCredentialsCache,
};
use crate::error::{BearerError, Endpoint, Error, Result};
use crate::introspection::{
    check_introspection, introspection_request, parse_introspection_response, IntrospectionCache,
    IntrospectionExpectations,
};
use crate::login::safe_return_path;
use crate::refresh::{needs_refresh, RefreshInput, TokenRefresh};
use crate::secret::Secret;
use crate::session::UserSession;

/// How many client credentials tokens (provider, scopes, parameters) are cached at most.
const CLIENT_CREDENTIALS_CAPACITY: usize = 256;

/// The access-token settings of the builder.
pub(super) struct TokenSettings {
    refresh_margin: Duration,
    auto_refresh: bool,
    bearer_validation: BearerValidation,
    bearer_audience: Option<String>,
    introspection_audience_check: bool,
    bearer_scopes: Vec<String>,
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
            introspection_ttl: Duration::from_secs(30),
            introspection_capacity: 10_000,
        }
    }
}

/// What a refresh flight hands to every request waiting on it.
#[derive(Clone)]
struct Refreshed {
    token: Secret,
    refreshed: bool,
}

type FlightFuture = Pin<Box<dyn Future<Output = Result<Refreshed>> + Send>>;

struct Flight {
    serial: u64,
    force: bool,
    future: WeakShared<FlightFuture>,
}

/// The access-token state of a relying party: settings, refreshes in flight, caches.
pub(super) struct TokenState {
    settings: TokenSettings,
    flights: Mutex<(u64, HashMap<String, Flight>)>,
    introspection: IntrospectionCache,
    client_credentials: ClientCredentialsCache,
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
            flights: Mutex::new((0, HashMap::new())),
            settings,
        }
    }

    fn margin(&self) -> u64 {
        self.settings.refresh_margin.as_secs()
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

    /// Introspection results are cached for `ttl` (default 30 s; zero disables the cache),
    /// never past the token's expiry, for at most `capacity` tokens (default 10 000). A revoked
    /// token is accepted until its cached result expires.
    pub fn introspection_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.tokens.introspection_ttl = ttl;
        self.tokens.introspection_capacity = capacity;
        self
    }
}

/// Access tokens: on demand, bearer protection, client credentials.
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
    pub async fn valid_access_token(
        &self,
        parts: &http::request::Parts,
        force_refresh: bool,
    ) -> Result<Secret> {
        let id = self
            .inner
            .cookies
            .read(&parts.headers)
            .ok_or(Error::LoginRequired("the request has no session"))?;
        self.session_access_token(&id, force_refresh)
            .await
            .map(|r| r.token)
    }

    /// [`valid_access_token`](Self::valid_access_token) for a protected route: when the user
    /// must log in (again), the response starts the login (a `401` for API-style requests);
    /// any other failure is rendered by the error view.
    pub async fn require_access_token(
        &self,
        parts: &http::request::Parts,
        force_refresh: bool,
    ) -> std::result::Result<Secret, Response> {
        match self.valid_access_token(parts, force_refresh).await {
            Ok(token) => Ok(token),
            Err(e) if needs_login(&e) => {
                if is_api_request(parts) {
                    return Err(api_unauthorized(&self.realm()));
                }
                let provider = self.session(parts).await.map(|u| u.provider.clone());
                let return_to = parts
                    .uri
                    .path_and_query()
                    .map(|pq| pq.as_str())
                    .filter(|p| safe_return_path(p).is_ok())
                    .unwrap_or("/");
                Err(self.login(parts, provider.as_deref(), return_to).await)
            }
            Err(e) => Err(self.error_response(&e)),
        }
    }

    /// With [`auto_refresh_access_tokens`](RelyingPartyBuilder::auto_refresh_access_tokens):
    /// refreshes the session's access token when due, before a protected request is served.
    /// A session that can no longer refresh is left to the caller, which then sees it logged
    /// out (`invalid_grant`) or serves it as it is (no refresh token).
    pub(super) async fn refresh_if_due(
        &self,
        parts: &http::request::Parts,
    ) -> std::result::Result<(), Response> {
        if !self.inner.tokens.settings.auto_refresh {
            return Ok(());
        }
        let Some(id) = self.inner.cookies.read(&parts.headers) else {
            return Ok(());
        };
        match self.session_access_token(&id, false).await {
            Ok(_) => Ok(()),
            Err(e) if needs_login(&e) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "automatic access token refresh failed");
                Err(self.error_response(&e))
            }
        }
    }

    /// The access token of the session `id`, refreshed when due or forced, through the
    /// session's single refresh flight.
    async fn session_access_token(&self, id: &str, force: bool) -> Result<Refreshed> {
        if !force {
            // The common case needs no coordination: a valid token is just read.
            let record = self.inner.store.load(id).await?;
            if let Some(done) = self.usable_token(record.as_ref(), false)? {
                return Ok(done);
            }
        }
        let mut last = None;
        for _ in 0..2 {
            let (flight, flight_forced) = self.join_flight(id, force);
            let outcome = flight.await?;
            // A forced request that joined a flight which found the token valid starts its own.
            if !force || flight_forced || outcome.refreshed {
                return Ok(outcome);
            }
            last = Some(outcome);
        }
        last.ok_or(Error::LoginRequired("no access token"))
    }

    /// The stored token when no refresh is needed: `Ok(Some)` to use it, `Ok(None)` to refresh,
    /// an error when the session cannot have a valid token.
    fn usable_token(
        &self,
        record: Option<&crate::session::SessionRecord>,
        force: bool,
    ) -> Result<Option<Refreshed>> {
        let now = self.inner.clock.now();
        let user = record
            .and_then(|r| r.authenticated_user(now))
            .ok_or(Error::LoginRequired("the session is not logged in"))?;
        let valid = |margin| match &user.access_token {
            Some(t) if !needs_refresh(user, now, margin) => Some(Refreshed {
                token: t.clone(),
                refreshed: false,
            }),
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
        Ok(valid(self.inner.tokens.margin()))
    }

    /// The refresh flight of session `id`: the one in progress, or a new one. Returns it and
    /// whether it forces a refresh.
    fn join_flight(&self, id: &str, force: bool) -> (Shared<FlightFuture>, bool) {
        let mut guard = self
            .inner
            .tokens
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (serial, flights) = &mut *guard;
        if let Some(f) = flights.get(id) {
            if let Some(shared) = f.future.upgrade() {
                return (shared, f.force);
            }
        }
        // Drop flights whose waiters all went away.
        flights.retain(|_, f| f.future.upgrade().is_some());
        *serial += 1;
        let this = *serial;
        let rp = self.clone();
        let key = id.to_owned();
        let fut: FlightFuture = Box::pin(async move {
            let result = rp.refresh_session(&key, force).await;
            let mut guard = rp
                .inner
                .tokens
                .flights
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if guard.1.get(&key).is_some_and(|f| f.serial == this) {
                guard.1.remove(&key);
            }
            result
        });
        let shared = fut.shared();
        let background = shared.clone();
        if !self.inner.transport.spawn(Box::pin(async move {
            // The outcome reaches the waiters through the shared future; the flight has saved
            // whatever there was to save.
            let _ = background.await;
        })) {
            tracing::debug!("the transport cannot spawn: the refresh depends on its waiters");
        }
        if let Some(weak) = shared.downgrade() {
            flights.insert(
                id.to_owned(),
                Flight {
                    serial: this,
                    force,
                    future: weak,
                },
            );
        }
        (shared, force)
    }

    /// One refresh of session `id` (the body of a flight): reload, decide, refresh, save.
    async fn refresh_session(&self, id: &str, force: bool) -> Result<Refreshed> {
        let record = self.inner.store.load(id).await?;
        if let Some(done) = self.usable_token(record.as_ref(), force)? {
            return Ok(done);
        }
        let now = self.inner.clock.now();
        let Some(user) = record.and_then(|r| r.user) else {
            return Err(Error::LoginRequired("the session is not logged in"));
        };
        let slot = self.slot(Some(&user.provider))?;
        let metadata = self.metadata(slot).await?;
        let client = self.client(slot, &metadata).await?;
        let mut refresh = TokenRefresh::new(RefreshInput {
            config: slot.config.clone(),
            client,
            metadata,
            keys: slot.key_cache().clone(),
            user: user.clone(),
            now,
        });
        let outcome = self.drive(slot, &mut refresh).await;
        // Save against the session as it is now (another tab may have changed it meanwhile),
        // and only if it is still the login that was refreshed.
        let mut latest = self
            .inner
            .store
            .load(id)
            .await?
            .filter(|r| r.user.as_ref().is_some_and(|u| same_login(u, &user)))
            .ok_or(Error::LoginRequired(
                "the session changed while its tokens were refreshed",
            ))?;
        match outcome {
            Ok(outcome) => {
                let token = outcome
                    .user
                    .access_token
                    .clone()
                    .ok_or(Error::LoginRequired(
                        "the provider returned no access token",
                    ))?;
                latest.user = Some(Arc::new(outcome.user));
                self.inner.store.save(id, &latest).await?;
                tracing::debug!(provider = %user.provider, "access token refreshed");
                Ok(Refreshed {
                    token,
                    refreshed: true,
                })
            }
            Err(Error::Provider(e)) if e.error == "invalid_grant" => {
                // The refresh token is dead: so is the login.
                tracing::info!(provider = %user.provider, "refresh token refused; session ended");
                latest.user = None;
                self.inner.store.save(id, &latest).await?;
                Err(Error::Provider(e))
            }
            Err(e) => {
                tracing::warn!(provider = %user.provider, error = %e, "access token refresh failed");
                Err(e)
            }
        }
    }

    /// Protects an API route with a bearer token (RFC 6750): reads `Authorization: Bearer`,
    /// validates the token by introspection or as a JWT access token (per `requirements`, else
    /// the builder's settings), and checks the required scopes (the builder's and
    /// `requirements`'). The refusal is the response to send: `401` with a `WWW-Authenticate`
    /// challenge for a missing or invalid token, `403` `insufficient_scope`, `400` for a
    /// malformed request, `502`/`500` (JSON) when the provider or the configuration fails.
    pub async fn authorize_bearer(
        &self,
        parts: &http::request::Parts,
        requirements: &BearerRequirements,
    ) -> std::result::Result<TokenIdentity, Response> {
        let mut required = self.inner.tokens.settings.bearer_scopes.clone();
        for s in requirements.required_scopes() {
            if !required.contains(s) {
                required.push(s.clone());
            }
        }
        match self.try_bearer(parts, requirements, &required).await {
            Ok(identity) => Ok(identity),
            Err(Error::Bearer(e)) => {
                tracing::debug!(error = %e, "bearer token refused");
                let realm = self.realm();
                Err(rejection_response(&e, Some(&realm), &required))
            }
            // The introspection endpoint refusing the token itself (a JWT it will not
            // introspect, say) is the client's bad token, not a provider outage: a 401, so that
            // no client can turn its tokens into 502s.
            Err(Error::Provider(p))
                if matches!(
                    p.error.as_str(),
                    "unsupported_token_type" | "invalid_token" | "invalid_request"
                ) =>
            {
                tracing::debug!(error = %p, "the provider refused to introspect the token");
                let realm = self.realm();
                let e = BearerError::InvalidToken("the provider cannot introspect it".into());
                Err(rejection_response(&e, Some(&realm), &required))
            }
            Err(e) => {
                tracing::warn!(error = %e, "bearer token validation failed");
                Err(json_error(&e))
            }
        }
    }

    async fn try_bearer(
        &self,
        parts: &http::request::Parts,
        requirements: &BearerRequirements,
        required: &[String],
    ) -> Result<TokenIdentity> {
        let token = bearer_token(&parts.headers)?;
        let settings = &self.inner.tokens.settings;
        let slot = self.slot(requirements.required_provider())?;
        let now = self.inner.clock.now();
        let skew = slot.config.clock_skew.as_secs();
        let metadata = self.metadata(slot).await?;
        let default_audience = self.default_audience();
        let configured = requirements
            .required_audience()
            .or(settings.bearer_audience.as_deref());
        let validation = requirements
            .required_validation()
            .unwrap_or(settings.bearer_validation);
        let identity = match validation {
            BearerValidation::Introspection => {
                let result = match self.inner.tokens.introspection.get(&slot.name, token, now) {
                    Some(r) => r,
                    None => {
                        let endpoint = metadata.introspection_endpoint.as_ref().ok_or_else(|| {
                            Error::config(
                                "provider_metadata.introspection_endpoint",
                                "bearer tokens are validated by introspection, and the provider has no introspection endpoint",
                            )
                        })?;
                        let client = self.client(slot, &metadata).await?;
                        let request = introspection_request(endpoint.as_str(), &client, token)?;
                        let response = self.call(Endpoint::Introspection, request).await?;
                        let result = Arc::new(parse_introspection_response(response)?);
                        self.inner.tokens.introspection.insert(
                            &slot.name,
                            token,
                            result.clone(),
                            now,
                        );
                        result
                    }
                };
                let audience = configured.or(settings
                    .introspection_audience_check
                    .then_some(default_audience.as_str()));
                let expect = IntrospectionExpectations {
                    issuer: &metadata.issuer,
                    audience,
                    now,
                    skew,
                };
                check_introspection(token, &result, &expect)?
            }
            BearerValidation::Jwt => {
                let expect = JwtAccessTokenExpectations {
                    issuer: &metadata.issuer,
                    audience: configured.unwrap_or(&default_audience),
                    now,
                    skew,
                    algorithms: &slot.config.algorithms,
                };
                let no_key = || Error::from(BearerError::InvalidToken("no matching key".into()));
                let keys = self
                    .provider_keys(slot, &metadata, None)
                    .await?
                    .ok_or_else(no_key)?;
                match validate_jwt_access_token(token, &keys, &expect)? {
                    JwtValidation::Valid(id) => id,
                    JwtValidation::UnknownKey => {
                        // Perhaps the provider rotated its keys: a newer set, if the provider's
                        // key cache has or allows one (made-up `kid`s buy no fetches).
                        let keys = self
                            .provider_keys(slot, &metadata, Some(&keys))
                            .await?
                            .ok_or_else(no_key)?;
                        match validate_jwt_access_token(token, &keys, &expect)? {
                            JwtValidation::Valid(id) => id,
                            JwtValidation::UnknownKey => return Err(no_key()),
                        }
                    }
                }
            }
        };
        check_scopes(&identity.scopes, required)?;
        Ok(identity)
    }

    /// Protects a route for browsers and API clients alike (Flask-pyoidc's `access_control`):
    /// a request with an `Authorization` header is judged by its bearer token alone, as
    /// [`authorize_bearer`](Self::authorize_bearer) does (a bad token is `401`/`403`, never a
    /// login redirect); a request without one needs a logged-in session, as
    /// [`authenticate`](Self::authenticate) does (a login redirect, or `401` for API-style
    /// requests, which then also carries the bearer challenge). `requirements` name the
    /// provider for both, and the scopes for tokens.
    pub async fn session_or_bearer(
        &self,
        parts: &http::request::Parts,
        requirements: &BearerRequirements,
    ) -> std::result::Result<Principal, Response> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return self
                .authorize_bearer(parts, requirements)
                .await
                .map(Principal::Bearer);
        }
        match self
            .authenticate(parts, requirements.required_provider())
            .await
        {
            Ok(user) => Ok(Principal::Session(user)),
            Err(mut resp) => {
                if resp.status() == StatusCode::UNAUTHORIZED {
                    let realm = self.realm();
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        crate::bearer::challenge(&BearerError::Missing, Some(&realm), &[]),
                    );
                }
                Err(resp)
            }
        }
    }

    /// An access token for the app itself (the client credentials grant) from `provider` (the
    /// default one when `None`), for `scopes` and with `extra` token request parameters (such
    /// as `audience`). Tokens are cached per provider, scopes and parameters until the refresh
    /// margin before they expire.
    pub async fn client_credentials_token(
        &self,
        provider: Option<&str>,
        scopes: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<Secret> {
        let slot = self.slot(provider)?;
        let now = self.inner.clock.now();
        let cache = &self.inner.tokens.client_credentials;
        if let Some(token) = cache.get(&slot.name, scopes, extra, now) {
            return Ok(token);
        }
        let metadata = self.metadata(slot).await?;
        let client = self.client(slot, &metadata).await?;
        let endpoint = metadata.token_endpoint.as_ref().ok_or_else(|| {
            Error::config(
                "provider_metadata.token_endpoint",
                "the client credentials grant needs a token endpoint",
            )
        })?;
        let request = client_credentials_request(endpoint.as_str(), &client, scopes, extra)?;
        let response = self.call(Endpoint::Token, request).await?;
        let tokens = parse_client_credentials_response(response)?;
        cache.insert(&slot.name, scopes, extra, &tokens, now);
        Ok(tokens.access_token)
    }

    /// The app's base URL without the trailing slash: the default JWT audience.
    fn default_audience(&self) -> String {
        self.inner.app_url.as_str().trim_end_matches('/').to_owned()
    }

    pub(super) fn realm(&self) -> String {
        self.default_audience()
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
fn needs_login(e: &Error) -> bool {
    match e {
        Error::LoginRequired(_) => true,
        Error::Provider(p) => p.error == "invalid_grant",
        _ => false,
    }
}

/// A JSON error for API clients (bearer routes do not go through the HTML error view). A
/// provider's refusal of our own request is a bad gateway, not the client's fault.
fn json_error(e: &Error) -> Response {
    let status = match e {
        // The provider refused our request, or answered with something malformed: either way
        // the fault is upstream, not the API client's.
        Error::Provider(_) | Error::Protocol(_) => StatusCode::BAD_GATEWAY,
        other => other.status(),
    };
    let body = serde_json::json!({
        "error": e.error_code(),
        "error_description": e.error_description(),
    });
    let mut r = http::Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
