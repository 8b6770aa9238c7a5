//! The redirect endpoint: parsing the authorization response and finishing the login, as a
//! state machine that asks for the HTTP calls it needs (token, JWKS, userinfo) and never makes
//! them itself. Its caller runs this loop, which [`drive`] is, for any [`Exchange`]:
//!
//! ```text
//! let mut step = exchange.start();
//! loop {
//!     match step {
//!         Step::Send(out) => step = exchange.resume(transport.send(out.request).await),
//!         Step::Done(result) => break result,
//!     }
//! }
//! ```
//!
//! Key sets are the exception to "the caller only sends": an exchange starts from a copy of
//! the provider's [`KeyCache`] and asks for the JWKS only when that cache allows it. Every
//! fetch it made, failed ones included, comes back from [`Exchange::take_key_fetches`] for the
//! caller's cache, whatever the outcome. A caller that serialises fetches across requests may
//! answer a JWKS request with the cache another request just filled, through
//! [`Exchange::resume_with_keys`], instead of sending it.

use std::sync::Arc;

use bytes::Bytes;
use url::Url;

use crate::config::{ProviderConfig, ResponseType};
use crate::error::{Endpoint, Error, IdTokenError, Misuse, ProtocolError, Result, TransportError};
use crate::id_token::{self, Expectations, IdToken, Validation};
use crate::jwks::{self, KeyCache, KeyDecision, KeyFetch};
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::secret::Secret;
use crate::session::{PendingLogin, UserSession};
use crate::token::{self, TokenResponse};
use crate::userinfo;

/// The parameters of an authorization response (query, form body, or posted fragment).
#[derive(Default, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// RFC 9207 `iss`.
    pub iss: Option<String>,
    /// `id_token` (implicit and hybrid flows).
    pub id_token: Option<Secret>,
    /// `access_token` (implicit and hybrid flows).
    pub access_token: Option<Secret>,
    /// `token_type`.
    pub token_type: Option<String>,
    /// `expires_in`.
    pub expires_in: Option<String>,
}

impl std::fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationResponse")
            .field("has_state", &self.state.is_some())
            .field("has_code", &self.code.is_some())
            .field("has_id_token", &self.id_token.is_some())
            .field("has_access_token", &self.access_token.is_some())
            .field("error", &self.error)
            .field("iss", &self.iss)
            .finish()
    }
}

/// Longest parameter value accepted; anything longer is an attack or a bug. (ID tokens with
/// many claims are the longest legitimate values.)
const MAX_PARAM_LEN: usize = 16 * 1024;

impl AuthorizationResponse {
    /// Parses `application/x-www-form-urlencoded` parameters (a query string or a POST body).
    /// A parameter given twice is an error: which one counts would otherwise be up to chance.
    pub fn parse(encoded: &[u8]) -> Result<Self> {
        let mut r = AuthorizationResponse::default();
        let mut id_token = None;
        let mut access_token = None;
        for (k, v) in form_urlencoded::parse(encoded) {
            let slot = match k.as_ref() {
                "state" => &mut r.state,
                "code" => &mut r.code,
                "error" => &mut r.error,
                "error_description" => &mut r.error_description,
                "iss" => &mut r.iss,
                "id_token" => &mut id_token,
                "access_token" => &mut access_token,
                "token_type" => &mut r.token_type,
                "expires_in" => &mut r.expires_in,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ProtocolError::DuplicateParameter(k.into_owned()).into());
            }
            if v.len() > MAX_PARAM_LEN {
                return Err(ProtocolError::MalformedResponse {
                    endpoint: Endpoint::Authorization,
                    reason: format!("parameter `{k}` is too long"),
                }
                .into());
            }
            *slot = Some(v.into_owned());
        }
        r.id_token = id_token.map(Secret::new);
        r.access_token = access_token.map(Secret::new);
        Ok(r)
    }

    /// Whether no response parameter at all is present (a fragment response seen by the server).
    pub fn is_empty(&self) -> bool {
        self.state.is_none()
            && self.code.is_none()
            && self.error.is_none()
            && self.id_token.is_none()
            && self.access_token.is_none()
            && self.iss.is_none()
    }

    /// Checks the response against the provider that started the login, before anything is
    /// trusted: the RFC 9207 `iss` (when sent, or when the provider promises it), then the
    /// provider's error.
    pub fn check(&self, metadata: &ProviderMetadata) -> Result<()> {
        match &self.iss {
            Some(iss) if iss != &metadata.issuer => {
                return Err(ProtocolError::IssuerMismatch.into())
            }
            // A response carrying an ID token identifies its issuer through the token's signed
            // `iss` claim, which is checked against this provider; providers (node-oidc-provider
            // among them) leave the parameter out then.
            None if metadata.authorization_response_iss_parameter_supported
                && self.id_token.is_none() =>
            {
                return Err(ProtocolError::MissingParameter("iss").into())
            }
            _ => {}
        }
        if let Some(error) = &self.error {
            return Err(Error::Provider(crate::error::ProviderError {
                error: error.chars().take(128).collect(),
                error_description: self
                    .error_description
                    .as_ref()
                    .map(|d| d.chars().take(512).collect()),
            }));
        }
        Ok(())
    }
}

/// An HTTP request the machine needs sent. Its `Debug` shows the endpoint, method and URL only:
/// headers and body carry client secrets, codes and tokens.
#[must_use]
pub struct Outbound {
    /// Which endpoint it is for (for errors and logs).
    pub endpoint: Endpoint,
    /// The request.
    pub request: http::Request<Bytes>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("endpoint", &self.endpoint)
            .field("method", self.request.method())
            .field("uri", &self.request.uri().path())
            .finish_non_exhaustive()
    }
}

/// What a sans-IO exchange wants next: an HTTP call made, or nothing more (it is done).
/// `Step` alone is the login's ([`CodeExchange`]); a token refresh's is
/// [`RefreshStep`](crate::refresh::RefreshStep).
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
// One step at a time lives on the stack, and is matched at once: boxing would only add an
// allocation per step.
#[allow(clippy::large_enum_variant)]
pub enum Step<T = Result<LoginOutcome>> {
    /// Send this request and feed the response to the exchange's `resume`.
    Send(Outbound),
    /// Finished.
    Done(T),
}

/// An exchange with the provider that asks for HTTP calls one at a time: [`CodeExchange`],
/// [`TokenRefresh`](crate::refresh::TokenRefresh). [`drive`] runs one with any transport.
pub trait Exchange {
    /// What the exchange ends with.
    type Output;
    /// The first step.
    fn start(&mut self) -> Step<Self::Output>;
    /// Feeds the answer to the last [`Step::Send`] and returns the next step.
    fn resume(
        &mut self,
        response: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> Step<Self::Output>;
    /// Answers the last [`Step::Send`], a JWKS request, with the provider's key cache as it is
    /// now, instead of sending it: another request fetched the set meanwhile. The exchange
    /// decides again from that cache (and does not ask for the JWKS twice).
    fn resume_with_keys(&mut self, keys: KeyCache) -> Step<Self::Output>;
    /// Every JWKS fetch the exchange made so far (taken: each is reported once), whether it
    /// succeeded or not, for the caller's [`KeyCache`]. Call it after the exchange, whatever
    /// its outcome.
    fn take_key_fetches(&mut self) -> Vec<KeyFetch>;
}

/// Runs an exchange to its end, sending each request it asks for through `transport`. The one
/// loop every caller of the core needs; it awaits only the transport.
pub async fn drive<E: Exchange>(
    exchange: &mut E,
    transport: &(impl crate::env::Transport + ?Sized),
) -> E::Output {
    let mut step = exchange.start();
    loop {
        match step {
            Step::Send(out) => {
                let response = transport.send(out.request).await;
                if let Err(e) = &response {
                    tracing::warn!(endpoint = %out.endpoint, error = %e, "provider call failed");
                }
                step = exchange.resume(response);
            }
            Step::Done(result) => return result,
        }
    }
}

impl Exchange for CodeExchange {
    type Output = Result<LoginOutcome>;

    fn start(&mut self) -> Step<Self::Output> {
        CodeExchange::start(self)
    }

    fn resume(
        &mut self,
        response: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> Step<Self::Output> {
        CodeExchange::resume(self, response)
    }

    fn resume_with_keys(&mut self, keys: KeyCache) -> Step<Self::Output> {
        CodeExchange::resume_with_keys(self, keys)
    }

    fn take_key_fetches(&mut self) -> Vec<KeyFetch> {
        std::mem::take(&mut self.key_fetches)
    }
}

/// A completed login.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The new user session.
    pub user: UserSession,
    /// Where to send the browser (a path on the app's origin).
    pub return_to: String,
}

/// Which ID token is being validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// From the authorization endpoint (implicit, hybrid).
    Front,
    /// From the token endpoint.
    Back,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ready,
    Token,
    Jwks(Source),
    Userinfo,
    Finished,
}

/// Finishing a login after the browser came back: the front-channel ID token (implicit and
/// hybrid flows), the code exchange, ID token validation (fetching the JWKS when the
/// [`KeyCache`] allows it, at most once), userinfo.
///
/// Nothing from the front channel is trusted before its ID token validates: in `code token`,
/// the access token from the authorization endpoint has no ID token to vouch for it and is
/// dropped in favour of the token endpoint's.
pub struct CodeExchange {
    input: ExchangeInput,
    key_fetches: Vec<KeyFetch>,
    /// Whether this exchange asked for the JWKS already: once is enough for one login.
    jwks_requested: bool,
    front_id: Option<IdToken>,
    tokens: Option<TokenResponse>,
    back_id: Option<IdToken>,
    stage: Stage,
}

impl std::fmt::Debug for CodeExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeExchange")
            .field("provider", &self.input.provider)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// Everything a [`CodeExchange`] starts from.
#[derive(Debug)]
pub struct ExchangeInput {
    /// The provider's name.
    pub provider: String,
    /// Its configuration.
    pub config: ProviderConfig,
    /// This client's registration at the provider.
    pub client: Arc<ClientMetadata>,
    /// Its metadata.
    pub metadata: Arc<ProviderMetadata>,
    /// A copy of the provider's key cache.
    pub keys: KeyCache,
    /// The pending login the response answers (already removed from the session).
    pub pending: PendingLogin,
    /// The authorization response (already [`check`](AuthorizationResponse::check)ed).
    pub response: AuthorizationResponse,
    /// The redirect URI used in the authentication request.
    pub redirect_uri: Url,
    /// Now, unix seconds.
    pub now: u64,
    /// How long the new session lasts, seconds.
    pub session_lifetime: u64,
}

impl CodeExchange {
    /// Prepares the exchange.
    pub fn new(input: ExchangeInput) -> Self {
        CodeExchange {
            input,
            key_fetches: Vec::new(),
            jwks_requested: false,
            front_id: None,
            tokens: None,
            back_id: None,
            stage: Stage::Ready,
        }
    }

    fn response_type(&self) -> ResponseType {
        self.input.pending.response_type
    }

    /// The first step.
    pub fn start(&mut self) -> Step {
        if self.stage != Stage::Ready {
            return self.fail(Misuse::StartedTwice("callback").into());
        }
        let rt = self.response_type();
        let r = &self.input.response;
        let missing = if rt.has_code() && r.code.is_none() {
            Some("code")
        } else if rt.has_front_id_token() && r.id_token.is_none() {
            Some("id_token")
        } else if rt.has_front_access_token() && r.access_token.is_none() {
            Some("access_token")
        } else {
            None
        };
        if let Some(name) = missing {
            return self.fail(ProtocolError::MissingParameter(name).into());
        }
        if rt.has_front_id_token() {
            self.validate(Source::Front)
        } else {
            self.token_request()
        }
    }

    fn token_request(&mut self) -> Step {
        let Some(token_endpoint) = &self.input.metadata.token_endpoint else {
            return self.fail(Error::config(
                "provider_metadata.token_endpoint",
                "the code flow needs a token endpoint",
            ));
        };
        let code = self.input.response.code.as_deref().unwrap_or_default();
        match token::code_exchange_request(
            token_endpoint.as_str(),
            &self.input.client,
            code,
            self.input.redirect_uri.as_str(),
            self.input
                .pending
                .code_verifier
                .as_ref()
                .map(|v| v.expose()),
        ) {
            Ok(request) => {
                self.stage = Stage::Token;
                Step::Send(Outbound {
                    endpoint: Endpoint::Token,
                    request,
                })
            }
            Err(e) => self.fail(e),
        }
    }

    /// Feeds the answer to the last [`Step::Send`] and returns the next step.
    pub fn resume(
        &mut self,
        response: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> Step {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        if let Stage::Jwks(source) = stage {
            let now = self.input.now;
            let failure = self
                .input
                .keys
                .record_answer(now, response, &mut self.key_fetches);
            return match failure {
                Some(e) => self.fail(e),
                None => self.validate(source),
            };
        }
        let endpoint = match stage {
            Stage::Token => Endpoint::Token,
            Stage::Jwks(_) => Endpoint::Jwks,
            Stage::Userinfo => Endpoint::Userinfo,
            Stage::Ready | Stage::Finished => {
                return self.fail(Misuse::ResumedWithoutRequest("callback").into())
            }
        };
        let response = match response {
            Ok(r) => r,
            Err(source) => return self.fail(Error::Transport { endpoint, source }),
        };
        match stage {
            Stage::Token => match token::parse_token_response(response) {
                Ok(tokens) => {
                    self.tokens = Some(tokens);
                    self.validate(Source::Back)
                }
                Err(e) => self.fail(e),
            },
            Stage::Userinfo => {
                let sub = self
                    .id_token()
                    .map(|t| t.subject().to_owned())
                    .unwrap_or_default();
                match userinfo::parse_userinfo_response(response, &sub) {
                    Ok(claims) => self.finish(Some(claims)),
                    Err(e) => self.fail(e),
                }
            }
            Stage::Jwks(_) | Stage::Ready | Stage::Finished => {
                self.fail(Misuse::Finished("callback").into())
            }
        }
    }

    /// Answers the last [`Step::Send`], a JWKS request, with the provider's key cache as it is
    /// now (see [`Exchange::resume_with_keys`]).
    pub fn resume_with_keys(&mut self, keys: KeyCache) -> Step {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Jwks(source) => {
                self.input.keys = keys;
                self.validate(source)
            }
            _ => self.fail(Misuse::KeysWithoutRequest("callback").into()),
        }
    }

    /// Every JWKS fetch made so far (see [`Exchange::take_key_fetches`]).
    pub fn take_key_fetches(&mut self) -> Vec<KeyFetch> {
        std::mem::take(&mut self.key_fetches)
    }

    fn id_token(&self) -> Option<&IdToken> {
        self.back_id.as_ref().or(self.front_id.as_ref())
    }

    fn validate(&mut self, source: Source) -> Step {
        let rt = self.response_type();
        let (raw, access_token, require_at_hash, code) = match source {
            Source::Front => (
                self.input.response.id_token.clone(),
                self.input.response.access_token.clone(),
                rt.has_front_access_token(),
                self.input.response.code.clone().filter(|_| rt.has_code()),
            ),
            Source::Back => {
                let tokens = self.tokens.as_ref();
                (
                    tokens.and_then(|t| t.id_token.clone()),
                    tokens.map(|t| t.access_token.clone()),
                    false,
                    None,
                )
            }
        };
        let Some(raw) = raw else {
            return self.fail(Error::Protocol(ProtocolError::MalformedResponse {
                endpoint: Endpoint::Token,
                reason: "no id_token in the token response".into(),
            }));
        };
        let now = self.input.now;
        let mut keys = match self.input.keys.current(now) {
            KeyDecision::Use(keys) => keys,
            KeyDecision::Fetch if !self.jwks_requested => return self.fetch_jwks(source),
            KeyDecision::RecentlyFailed(e) => return self.fail(e),
            KeyDecision::Fetch | KeyDecision::Throttled => {
                return self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into())
            }
        };
        let expect = Expectations {
            issuer: &self.input.metadata.issuer,
            client_id: &self.input.client.client_id,
            nonce: Some(self.input.pending.nonce.expose()),
            now: self.input.now,
            skew: self.input.config.clock_skew.as_secs(),
            algorithms: &self.input.config.algorithms,
            access_token: access_token.as_ref().map(Secret::expose),
            require_at_hash,
            code: code.as_deref(),
            max_age: self.input.pending.max_age,
            acr_values: &self.input.pending.acr_values,
        };
        loop {
            match id_token::validate(raw.expose(), &keys, &expect) {
                Ok(Validation::Valid(token)) => return self.validated(source, token),
                Ok(Validation::UnknownKey) => {
                    match self.input.keys.after_unknown_kid(now, &keys) {
                        // Ends: the newer set is the cache's, which is never newer than itself.
                        KeyDecision::Use(newer) => keys = newer,
                        KeyDecision::Fetch if !self.jwks_requested => {
                            return self.fetch_jwks(source)
                        }
                        KeyDecision::RecentlyFailed(e) => return self.fail(e),
                        KeyDecision::Fetch | KeyDecision::Throttled => {
                            return self
                                .fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into())
                        }
                    }
                }
                Err(e) => return self.fail(ProtocolError::IdToken(e).into()),
            }
        }
    }

    fn validated(&mut self, source: Source, token: IdToken) -> Step {
        match source {
            Source::Front => {
                self.front_id = Some(token);
                if self.response_type().has_code() {
                    self.token_request()
                } else {
                    self.userinfo()
                }
            }
            Source::Back => {
                // OpenID Connect Core 3.3.3.6: the token endpoint's ID token describes the same
                // authentication as the front channel's.
                if let Some(front) = &self.front_id {
                    for claim in ["iss", "sub", "aud"] {
                        if front.claims.get(claim) != token.claims.get(claim) {
                            return self.fail(
                                ProtocolError::IdToken(IdTokenError::SubjectChanged(claim)).into(),
                            );
                        }
                    }
                }
                self.back_id = Some(token);
                self.userinfo()
            }
        }
    }

    /// The access token the session will hold: the token endpoint's, else a front-channel one
    /// whose ID token vouched for it through `at_hash`.
    fn access_token(&self) -> Option<&Secret> {
        match &self.tokens {
            Some(t) => Some(&t.access_token),
            None if self.response_type() == ResponseType::IdTokenToken => {
                self.input.response.access_token.as_ref()
            }
            None => None,
        }
    }

    fn userinfo(&mut self) -> Step {
        let endpoint = match (
            &self.input.metadata.userinfo_endpoint,
            self.input.config.fetch_userinfo,
            self.access_token(),
        ) {
            (Some(endpoint), true, Some(token)) => {
                userinfo::userinfo_request(endpoint.as_str(), token.expose())
            }
            _ => return self.finish(None),
        };
        match endpoint {
            Ok(request) => {
                self.stage = Stage::Userinfo;
                Step::Send(Outbound {
                    endpoint: Endpoint::Userinfo,
                    request,
                })
            }
            Err(e) => self.fail(e),
        }
    }

    fn fetch_jwks(&mut self, source: Source) -> Step {
        let Some(uri) = &self.input.metadata.jwks_uri else {
            return self.fail(Error::config(
                "provider_metadata.jwks_uri",
                "required to verify ID tokens",
            ));
        };
        match jwks::jwks_request(uri.as_str()) {
            Ok(request) => {
                self.jwks_requested = true;
                self.stage = Stage::Jwks(source);
                Step::Send(Outbound {
                    endpoint: Endpoint::Jwks,
                    request,
                })
            }
            Err(e) => self.fail(e),
        }
    }

    fn finish(&mut self, userinfo: Option<serde_json::Map<String, serde_json::Value>>) -> Step {
        self.stage = Stage::Finished;
        let now = self.input.now;
        let Some(id_token) = self.back_id.take().or_else(|| self.front_id.take()) else {
            return self.fail(ProtocolError::MissingParameter("id_token").into());
        };
        let access_token = self.access_token().cloned();
        let expires_in = match &self.tokens {
            Some(t) => t.expires_in,
            None => self
                .input
                .response
                .expires_in
                .as_deref()
                .and_then(|e| e.parse::<u64>().ok()),
        };
        let refresh_token = self.tokens.as_mut().and_then(|t| t.refresh_token.take());
        let user = UserSession {
            provider: self.input.provider.clone(),
            access_token_expires_at: access_token
                .as_ref()
                .and(expires_in)
                .map(|e| now.saturating_add(e)),
            access_token,
            last_authenticated: id_token.auth_time().unwrap_or(now),
            id_token,
            userinfo,
            refresh_token,
            last_session_refresh: now,
            expires_at: now.saturating_add(self.input.session_lifetime),
        };
        Step::Done(Ok(LoginOutcome {
            user,
            return_to: self.input.pending.return_to.clone(),
        }))
    }

    fn fail(&mut self, error: Error) -> Step {
        self.stage = Stage::Finished;
        Step::Done(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_duplicates_and_keeps_others() {
        let r = AuthorizationResponse::parse(b"code=c&state=s&iss=https%3A%2F%2Fop&x=1").unwrap();
        assert_eq!(r.code.as_deref(), Some("c"));
        assert_eq!(r.iss.as_deref(), Some("https://op"));
        assert!(!format!("{r:?}").contains("\"c\""));
        let err = AuthorizationResponse::parse(b"state=a&state=b").unwrap_err();
        assert!(matches!(
            err,
            Error::Protocol(ProtocolError::DuplicateParameter(ref p)) if p == "state"
        ));
        let long = format!("code={}", "a".repeat(MAX_PARAM_LEN + 1));
        assert!(AuthorizationResponse::parse(long.as_bytes()).is_err());
    }

    #[test]
    fn outbound_debug_hides_credentials() {
        let request = http::Request::post("https://op/token?x=1")
            .header("authorization", "Basic c2VjcmV0")
            .body(Bytes::from_static(b"code=the-code&client_secret=s3cret"))
            .unwrap();
        let step: Step = Step::Send(Outbound {
            endpoint: Endpoint::Token,
            request,
        });
        let shown = format!("{step:?}");
        assert!(
            shown.contains("Token") && shown.contains("/token"),
            "{shown}"
        );
        for secret in ["c2VjcmV0", "the-code", "s3cret", "x=1"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn check_order() {
        let mut m = ProviderMetadata::new("https://op", "https://op/a".parse().unwrap());
        let r = AuthorizationResponse::parse(b"code=c&state=s&iss=https%3A%2F%2Fevil").unwrap();
        assert!(matches!(
            r.check(&m),
            Err(Error::Protocol(ProtocolError::IssuerMismatch))
        ));
        let r = AuthorizationResponse::parse(b"error=access_denied&error_description=no&state=s")
            .unwrap();
        match r.check(&m) {
            Err(Error::Provider(e)) => assert_eq!(e.error, "access_denied"),
            other => panic!("{other:?}"),
        }
        m.authorization_response_iss_parameter_supported = true;
        let r = AuthorizationResponse::parse(b"code=c&state=s").unwrap();
        assert!(matches!(
            r.check(&m),
            Err(Error::Protocol(ProtocolError::MissingParameter("iss")))
        ));
        let r = AuthorizationResponse::parse(b"code=c&state=s&id_token=a.b.c").unwrap();
        assert!(
            r.check(&m).is_ok(),
            "the ID token's iss stands in for the parameter"
        );
        let r = AuthorizationResponse::parse(b"code=c&state=s&iss=https%3A%2F%2Fop").unwrap();
        assert!(r.check(&m).is_ok());
        assert!(!r.is_empty());
        assert!(AuthorizationResponse::parse(b"x=1").unwrap().is_empty());
    }
}
