//! The redirect endpoint: parsing the authorization response and finishing the login, as a
//! state machine that asks for the HTTP calls it needs (token, JWKS, userinfo) and never makes
//! them itself. Its caller runs this loop, which [`drive`] is, for any [`Exchange`]:
//!
//! ```text
//! let mut step = exchange.start();
//! loop {
//!     match step {
//!         Step::Send(out) => step = exchange.resume(send(out.request)),
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

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use url::Url;

use crate::claims::ClaimsSet;
use crate::config::{ProviderConfig, ResponseType};
use crate::error::{Endpoint, Error, IdTokenError, Misuse, ProtocolError, Result, TransportError};
use crate::id_token::{self, Expectations, IdToken, Validation};
use crate::jwks::{self, KeyCache, KeyDecision, KeyFetch};
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::secret::Secret;
use crate::session::{PendingLogin, UserSession};
use crate::signing::{SignedResponse, TokenSigning};
use crate::token::{self, TokenResponse};
use crate::userinfo::{self, UserinfoBody};

/// The parameters of an authorization response (query, form body, or posted fragment).
#[derive(Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// JARM's `response`: the JWT that wraps the other parameters (see [`crate::jarm`]).
    /// Read in the same pass as the rest, so a long response is decoded once.
    pub response: Option<Secret>,
}

impl std::fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationResponse")
            .field("has_state", &self.state.is_some())
            .field("has_code", &self.code.is_some())
            .field("has_id_token", &self.id_token.is_some())
            .field("has_access_token", &self.access_token.is_some())
            .field("has_response", &self.response.is_some())
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
        let mut response = None;
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
                crate::jarm::RESPONSE_PARAMETER => &mut response,
                _ => continue,
            };
            let max = if k == crate::jarm::RESPONSE_PARAMETER {
                crate::jarm::MAX_RESPONSE_LEN
            } else {
                MAX_PARAM_LEN
            };
            if slot.is_some() {
                return Err(ProtocolError::DuplicateParameter(k.into_owned()).into());
            }
            if v.len() > max {
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
        r.response = response.map(Secret::new);
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
    /// trusted: the RFC 9207 `iss` (when sent, or when the provider promises it, or always
    /// with `require_iss`, as the FAPI 2.0 preset asks), then the provider's error.
    pub fn check(&self, metadata: &ProviderMetadata, require_iss: bool) -> Result<()> {
        match &self.iss {
            Some(iss) if iss != &metadata.issuer => {
                return Err(ProtocolError::IssuerMismatch.into())
            }
            // A response carrying an ID token identifies its issuer through the token's signed
            // `iss` claim, which is checked against this provider; providers (node-oidc-provider
            // among them) leave the parameter out then.
            None if (metadata.authorization_response_iss_parameter_supported || require_iss)
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
///
/// Not `#[non_exhaustive]`: a request and the endpoint it is for is all there is to send, and
/// a runtime takes it apart (`let Outbound { endpoint, request } = ..`).
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

/// Runs an exchange to its end, answering each request it asks for with `send` (a blocking
/// HTTP client, canned answers in a test). The relying party's flows do the same step by step,
/// with the answers coming from their caller ([`Flow`](crate::Flow)).
pub fn drive<E: Exchange>(
    exchange: &mut E,
    mut send: impl FnMut(Outbound) -> std::result::Result<http::Response<Bytes>, TransportError>,
) -> E::Output {
    let mut step = exchange.start();
    loop {
        match step {
            Step::Send(out) => step = exchange.resume(send(out)),
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
#[non_exhaustive]
pub struct LoginOutcome {
    /// The new user session.
    pub user: UserSession,
    /// Where to send the browser (a path on the app's origin).
    pub return_to: String,
}

impl LoginOutcome {
    /// A completed login of `user`, to go on at `return_to`: for a custom runtime's or view's
    /// tests (the type is `#[non_exhaustive]`, so that a later field is not a breaking change).
    pub fn new(user: UserSession, return_to: impl Into<String>) -> Self {
        LoginOutcome {
            user,
            return_to: return_to.into(),
        }
    }
}

/// Which ID token is being validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// From the authorization endpoint (implicit, hybrid).
    Front,
    /// From the token endpoint.
    Back,
    /// Not an ID token: a signed userinfo response, verified with the same keys.
    Userinfo,
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
    /// A signed userinfo response, kept while the key set it names is fetched.
    signed_userinfo: Option<Secret>,
    stage: Stage,
    /// The `jti` of a client assertion, when the caller gave one.
    assertion_id: Option<String>,
    /// Issue 18 (D): the login's DPoP key and proofs, with a provider configured for DPoP.
    dpop: Option<crate::dpop::DpopProver>,
    /// Issue 18 (D): the caller's randomness the DPoP key is made from.
    dpop_entropy: Option<[u8; 32]>,
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
///
/// Not `#[non_exhaustive]`: every field is a required input, so a field added later would
/// be one every caller must supply, a breaking change either way; a struct literal at least
/// makes the compiler name it.
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
            signed_userinfo: None,
            stage: Stage::Ready,
            assertion_id: None,
            dpop: None,
            dpop_entropy: None,
        }
    }

    /// Issue 18 (D): 32 bytes from the caller's randomness for the login's DPoP key and its
    /// proofs' `jti`s; required when the provider is configured with
    /// [`dpop`](crate::ProviderConfigBuilder::dpop).
    pub fn dpop_entropy(mut self, entropy: [u8; 32]) -> Self {
        self.dpop_entropy = Some(entropy);
        self
    }

    /// A fresh `jti` for the client assertion (`client_secret_jwt`, `private_key_jwt`), from
    /// the caller's randomness. Without one, the `jti` is derived from the login's `state`,
    /// which is random and spent once.
    pub fn client_assertion_id(mut self, jti: impl Into<String>) -> Self {
        self.assertion_id = Some(jti.into());
        self
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
        // Issue 18 (D): the login's DPoP key, made before the first request it signs.
        let on = self.input.config.dpop;
        if let Err(e) = crate::dpop::ensure_prover(
            &mut self.dpop,
            on,
            None,
            &mut self.dpop_entropy,
            &self.input.metadata,
        ) {
            return self.fail(e);
        }
        let Some(token_endpoint) = &self.input.metadata.token_endpoint else {
            return self.fail(Error::config(
                "provider_metadata.token_endpoint",
                "the code flow needs a token endpoint",
            ));
        };
        let code = self.input.response.code.as_deref().unwrap_or_default();
        // Without a fresh jti from the caller, one unique to this login: its `state` is
        // random and spent once (the pending login is consumed by its callback), so no two
        // exchanges share it. A refresh has no such value and needs the caller's jti.
        let jti = self.assertion_id.take().unwrap_or_else(|| {
            crate::client_auth::derived_jti("code", &[self.input.pending.state.expose().as_bytes()])
        });
        let input = &self.input;
        let auth =
            input
                .config
                .client_auth
                .auth(&input.client, &input.metadata.issuer, input.now, jti);
        match token::code_exchange_request_with(
            token_endpoint.as_str(),
            &auth,
            code,
            self.input.redirect_uri.as_str(),
            self.input
                .pending
                .code_verifier
                .as_ref()
                .map(|v| v.expose()),
        ) {
            Ok(mut request) => {
                // Issue 18 (D): the token request's DPoP proof.
                if let Some(prover) = &mut self.dpop {
                    if let Err(e) = prover.sign(&mut request, None, self.input.now) {
                        return self.fail(e);
                    }
                }
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
                None => self.validate_source(source),
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
            // Issue 18 (D): a DPoP nonce challenge is answered by one retry with the nonce (a
            // fresh client assertion with it).
            Stage::Token
                if self
                    .dpop
                    .as_mut()
                    .is_some_and(|p| p.wants_retry(&response, false)) =>
            {
                self.assertion_id = self.dpop.as_mut().map(|p| p.fresh_id());
                self.token_request()
            }
            Stage::Userinfo
                if self
                    .dpop
                    .as_mut()
                    .is_some_and(|p| p.wants_retry(&response, true)) =>
            {
                self.userinfo()
            }
            Stage::Token => match crate::dpop::parse_token_response(self.dpop.as_ref(), response) {
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
                // Issue 18 (J): an encrypted userinfo response is decrypted first.
                match crate::jwe::read_userinfo_response(&self.input.config, response) {
                    // With a configured userinfo algorithm, a plain JSON answer is a downgrade
                    // that would skip the signature check the app asked for.
                    Ok(UserinfoBody::Claims(_))
                        if self.input.config.userinfo_signed_response_alg.is_some() =>
                    {
                        self.fail(userinfo::unsigned_userinfo())
                    }
                    Ok(UserinfoBody::Claims(claims)) => match userinfo::check_subject(claims, &sub)
                    {
                        Ok(claims) => self.finish(Some(claims)),
                        Err(e) => self.fail(e),
                    },
                    Ok(UserinfoBody::Signed(jwt)) => {
                        self.signed_userinfo = Some(Secret::new(jwt));
                        self.verify_userinfo()
                    }
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
                self.validate_source(source)
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

    /// Goes on with what the key set was fetched for.
    fn validate_source(&mut self, source: Source) -> Step {
        match source {
            Source::Userinfo => self.verify_userinfo(),
            Source::Front | Source::Back => self.validate(source),
        }
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
            Source::Userinfo => return self.fail(Misuse::Finished("callback").into()),
        };
        let Some(raw) = raw else {
            return self.fail(Error::Protocol(ProtocolError::MalformedResponse {
                endpoint: Endpoint::Token,
                reason: "no id_token in the token response".into(),
            }));
        };
        // Issue 18 (J): an encrypted ID token is decrypted first (OpenID Connect Core 10.2).
        let raw = match crate::jwe::id_token_to_verify(&self.input.config, raw) {
            Ok(raw) => raw,
            Err(e) => return self.fail(e),
        };
        // A front-channel ID token gets HMAC only when the app configured it (see
        // `crate::signing`): anyone holding the client secret could mint one.
        let response = match source {
            Source::Front => SignedResponse::FrontChannelIdToken,
            Source::Back | Source::Userinfo => SignedResponse::IdToken,
        };
        let signing = match TokenSigning::decide(
            &self.input.config,
            &self.input.client,
            &self.input.metadata,
            response,
        ) {
            Ok(signing) => signing,
            Err(e) => return self.fail(e),
        };
        let now = self.input.now;
        // An HMAC token is verified with the client secret: it never makes the app fetch keys.
        let mut keys = None;
        if signing.needs_provider_keys() {
            keys = Some(match self.input.keys.current(now) {
                KeyDecision::Use(keys) => keys,
                KeyDecision::Fetch if !self.jwks_requested => return self.fetch_jwks(source),
                KeyDecision::RecentlyFailed(e) => return self.fail(e),
                KeyDecision::Fetch | KeyDecision::Throttled => {
                    return self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into())
                }
            });
        }
        let expect = Expectations {
            issuer: &self.input.metadata.issuer,
            client_id: &self.input.client.client_id,
            nonce: Some(self.input.pending.nonce.expose()),
            now: self.input.now,
            skew: self.input.config.clock_skew.as_secs(),
            algorithms: signing.algorithms(),
            access_token: access_token.as_ref().map(Secret::expose),
            require_at_hash,
            code: code.as_deref(),
            max_age: self.input.pending.max_age,
            acr_values: &self.input.pending.acr_values,
        };
        loop {
            let Some(token_keys) = signing.keys(keys.as_deref()) else {
                return self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into());
            };
            let policy = &self.input.config.issuer_policy;
            match id_token::validate_with(raw.expose(), token_keys, policy, &expect) {
                Ok(Validation::Valid(token)) => return self.validated(source, token),
                Ok(Validation::UnknownKey) => {
                    let Some(tried) = &keys else {
                        return self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into());
                    };
                    match self.input.keys.after_unknown_kid(now, tried) {
                        // Ends: the newer set is the cache's, which is never newer than itself.
                        KeyDecision::Use(newer) => keys = Some(newer),
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

    /// Verifies the signed userinfo response kept in `signed_userinfo` (OpenID Connect Core
    /// 5.3.2) with the keys and allow-list of [`TokenSigning::decide`] for userinfo: its
    /// signature, `iss` (the ID token's, already checked against the issuer policy), `aud`
    /// when present, then `sub`. A key the cached set lacks fetches the set, unless this login
    /// already did (once per login, as for ID tokens).
    fn verify_userinfo(&mut self) -> Step {
        let Some(raw) = self.signed_userinfo.clone() else {
            return self.fail(Misuse::ResumedWithoutRequest("callback").into());
        };
        let signing = match TokenSigning::decide(
            &self.input.config,
            &self.input.client,
            &self.input.metadata,
            SignedResponse::Userinfo,
        ) {
            Ok(signing) => signing,
            Err(e) => return self.fail(e),
        };
        let unknown_key = || Error::from(ProtocolError::SignedUserinfo(IdTokenError::UnknownKey));
        let now = self.input.now;
        let mut keys = None;
        if signing.needs_provider_keys() {
            keys = Some(match self.input.keys.current(now) {
                KeyDecision::Use(keys) => keys,
                KeyDecision::Fetch if !self.jwks_requested => {
                    return self.fetch_jwks(Source::Userinfo)
                }
                KeyDecision::RecentlyFailed(e) => return self.fail(e),
                KeyDecision::Fetch | KeyDecision::Throttled => return self.fail(unknown_key()),
            });
        }
        let (issuer, sub) = match self.id_token() {
            Some(t) => (
                t.claims().get_str("iss").unwrap_or_default().into_owned(),
                t.subject().to_owned(),
            ),
            None => return self.fail(ProtocolError::MissingParameter("id_token").into()),
        };
        loop {
            let Some(token_keys) = signing.keys(keys.as_deref()) else {
                return self.fail(unknown_key());
            };
            match userinfo::verify_signed_userinfo(
                raw.expose(),
                token_keys,
                signing.algorithms(),
                &issuer,
                &self.input.client.client_id,
                &sub,
            ) {
                Ok(Some(claims)) => {
                    self.signed_userinfo = None;
                    return self.finish(Some(claims));
                }
                Ok(None) => {
                    let Some(tried) = &keys else {
                        return self.fail(unknown_key());
                    };
                    match self.input.keys.after_unknown_kid(now, tried) {
                        KeyDecision::Use(newer) => keys = Some(newer),
                        KeyDecision::Fetch if !self.jwks_requested => {
                            return self.fetch_jwks(Source::Userinfo)
                        }
                        KeyDecision::RecentlyFailed(e) => return self.fail(e),
                        KeyDecision::Fetch | KeyDecision::Throttled => {
                            return self.fail(unknown_key())
                        }
                    }
                }
                Err(e) => return self.fail(e),
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
                        if front.claims().get(claim) != token.claims().get(claim) {
                            return self.fail(
                                ProtocolError::IdToken(IdTokenError::SubjectChanged(claim)).into(),
                            );
                        }
                    }
                }
                self.back_id = Some(token);
                self.userinfo()
            }
            Source::Userinfo => self.fail(Misuse::Finished("callback").into()),
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
        let request = match (&self.input.metadata.userinfo_endpoint, self.access_token()) {
            (Some(endpoint), Some(token)) => userinfo::userinfo_request_with(
                endpoint.as_str(),
                token.expose(),
                self.input.config.userinfo_method(),
            ),
            _ => return self.finish(None),
        };
        match request {
            Ok(None) => self.finish(None),
            Ok(Some(mut request)) => {
                // Issue 18 (D): a DPoP-bound token goes with `Authorization: DPoP` and a proof.
                let token = self.access_token().map(|t| t.expose().to_owned());
                if let Some(prover) = &mut self.dpop {
                    if let Err(e) = prover.sign(&mut request, token.as_deref(), self.input.now) {
                        return self.fail(e);
                    }
                }
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

    fn finish(&mut self, userinfo: Option<ClaimsSet>) -> Step {
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
            sid: id_token.claims().get_str("sid").map(Cow::into_owned),
            id_token,
            userinfo,
            refresh_token,
            last_session_refresh: now,
            expires_at: now.saturating_add(self.input.session_lifetime),
            dpop: self.dpop.as_ref().map(|p| p.key().clone()),
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
    fn the_jarm_response_is_read_in_the_same_pass() {
        let r = AuthorizationResponse::parse(b"response=a.b.c&x=1").unwrap();
        assert_eq!(r.response.as_ref().map(Secret::expose), Some("a.b.c"));
        assert!(!format!("{r:?}").contains("a.b.c"));
        assert_eq!(
            AuthorizationResponse::parse(b"code=c").unwrap().response,
            None
        );
        let twice = AuthorizationResponse::parse(b"response=a&response=b").unwrap_err();
        assert!(matches!(
            twice,
            Error::Protocol(ProtocolError::DuplicateParameter(ref p)) if p == "response"
        ));
        // A JARM response wraps an ID token with the other parameters: it may exceed the
        // plain parameters' bound, up to its own.
        let wrapped = format!("response={}", "a".repeat(MAX_PARAM_LEN + 1));
        assert!(AuthorizationResponse::parse(wrapped.as_bytes()).is_ok());
        let huge = format!("response={}", "a".repeat(crate::jarm::MAX_RESPONSE_LEN + 1));
        assert!(AuthorizationResponse::parse(huge.as_bytes()).is_err());
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
            r.check(&m, false),
            Err(Error::Protocol(ProtocolError::IssuerMismatch))
        ));
        let r = AuthorizationResponse::parse(b"error=access_denied&error_description=no&state=s")
            .unwrap();
        match r.check(&m, false) {
            Err(Error::Provider(e)) => assert_eq!(e.error, "access_denied"),
            other => panic!("{other:?}"),
        }
        m.authorization_response_iss_parameter_supported = true;
        let r = AuthorizationResponse::parse(b"code=c&state=s").unwrap();
        assert!(matches!(
            r.check(&m, false),
            Err(Error::Protocol(ProtocolError::MissingParameter("iss")))
        ));
        let r = AuthorizationResponse::parse(b"code=c&state=s&id_token=a.b.c").unwrap();
        assert!(
            r.check(&m, false).is_ok(),
            "the ID token's iss stands in for the parameter"
        );
        let r = AuthorizationResponse::parse(b"code=c&state=s&iss=https%3A%2F%2Fop").unwrap();
        assert!(r.check(&m, false).is_ok());
        assert!(!r.is_empty());
        assert!(AuthorizationResponse::parse(b"x=1").unwrap().is_empty());
    }

    // ---- The exchange as a state machine, driven step by step. ----

    use crate::config::ResponseMode;
    use crate::error::TransportError;
    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};
    use serde_json::{json, Value};
    use std::sync::OnceLock;

    /// The provider's signing key `k1` (in the cached set) and `k2` (a rotated-in key), made
    /// once: RSA key generation is the slow part of these tests.
    struct Keys {
        signers: Vec<(&'static str, josekit::jws::alg::rsassa::RsassaJwsSigner)>,
        jwks_k1: String,
        jwks_both: String,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let mut signers = Vec::new();
            let mut jwks = Vec::new();
            for kid in ["k1", "k2"] {
                let pair = RS256.generate_key_pair(2048).unwrap();
                let mut jwk = pair.to_jwk_public_key();
                jwk.set_key_id(kid);
                jwks.push(jwk.as_ref().clone());
                signers.push((
                    kid,
                    RS256.signer_from_der(pair.to_der_private_key()).unwrap(),
                ));
            }
            Keys {
                signers,
                jwks_k1: json!({ "keys": [jwks[0]] }).to_string(),
                jwks_both: json!({ "keys": jwks }).to_string(),
            }
        })
    }

    const NOW: u64 = 1500;

    fn sign(kid: &str, claims: Value) -> String {
        let signer = &keys().signers.iter().find(|(k, _)| *k == kid).unwrap().1;
        let mut h = JwsHeader::new();
        h.set_key_id(kid);
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&p, &h, signer).unwrap()
    }

    fn id_claims() -> Value {
        json!({"iss": "https://op", "sub": "alice", "aud": "client", "exp": 2000, "iat": 1490,
            "nonce": "n1"})
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims.as_object_mut().unwrap().insert(name.into(), value);
        claims
    }

    fn metadata() -> ProviderMetadata {
        ProviderMetadata {
            token_endpoint: Some("https://op/token".parse().unwrap()),
            jwks_uri: Some("https://op/jwks".parse().unwrap()),
            userinfo_endpoint: Some("https://op/userinfo".parse().unwrap()),
            ..ProviderMetadata::new("https://op", "https://op/authorize".parse().unwrap())
        }
    }

    /// A key cache that fetched `jwks` at `at`.
    fn cache_with(jwks: &str, at: u64) -> KeyCache {
        let mut cache = KeyCache::new(crate::jwks::KeyFetchPolicy::default());
        let set = crate::jwks::JwkSet::from_json(jwks.as_bytes(), at).unwrap();
        cache.record(&KeyFetch {
            at,
            outcome: Ok(Arc::new(set)),
        });
        cache
    }

    /// A login of `response_type` answered by `response`, with `k1` cached 10 s ago (beyond
    /// the refetch interval, within the maximum age).
    fn input(response_type: &str, response: AuthorizationResponse) -> ExchangeInput {
        let config = ProviderConfig::from_metadata(metadata())
            .client(ClientMetadata::new("client", "secret"))
            .response_type(response_type)
            .response_mode(if response_type == "code" {
                "query"
            } else {
                "fragment"
            })
            .build()
            .unwrap();
        let rt = config.response_type();
        ExchangeInput {
            provider: "op-name".into(),
            config,
            client: Arc::new(ClientMetadata::new("client", "secret")),
            metadata: Arc::new(metadata()),
            keys: cache_with(&keys().jwks_k1, NOW - 10),
            pending: PendingLogin {
                provider: "op-name".into(),
                state: Secret::new("st"),
                nonce: Secret::new("n1"),
                code_verifier: Some(Secret::new("the-verifier")),
                return_to: "/after?x=1".into(),
                created_at: NOW - 20,
                response_type: rt,
                response_mode: ResponseMode::Query,
                silent: false,
                max_age: None,
                acr_values: Vec::new(),
                params: Vec::new(),
                client_id: None,
            },
            response,
            redirect_uri: "https://rp/cb".parse().unwrap(),
            now: NOW,
            session_lifetime: 3600,
        }
    }

    fn code_response() -> AuthorizationResponse {
        AuthorizationResponse {
            state: Some("st".into()),
            code: Some("the-code".into()),
            ..Default::default()
        }
    }

    fn ok(body: Value) -> std::result::Result<http::Response<Bytes>, TransportError> {
        Ok(http::Response::builder()
            .status(200)
            .body(Bytes::from(body.to_string()))
            .unwrap())
    }

    fn jwks_answer(jwks: &str) -> std::result::Result<http::Response<Bytes>, TransportError> {
        ok(serde_json::from_str(jwks).unwrap())
    }

    fn tokens(id_token: Option<String>) -> Value {
        let mut t = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60,
            "refresh_token": "rt"});
        if let Some(id) = id_token {
            t["id_token"] = json!(id);
        }
        t
    }

    fn send(step: Step) -> Outbound {
        match step {
            Step::Send(out) => out,
            Step::Done(r) => panic!("expected a request, got {r:?}"),
        }
    }

    fn done(step: Step) -> Result<LoginOutcome> {
        match step {
            Step::Done(r) => r,
            Step::Send(out) => panic!("expected the end, got a request to {}", out.endpoint),
        }
    }

    fn form(out: &Outbound) -> Vec<(String, String)> {
        form_urlencoded::parse(out.request.body())
            .into_owned()
            .collect()
    }

    fn bearer(out: &Outbound) -> &str {
        out.request.headers()[http::header::AUTHORIZATION]
            .to_str()
            .unwrap()
    }

    /// The code flow end to end: the code, redirect URI and PKCE verifier go to the token
    /// endpoint; the token endpoint's access token (and no other) fetches userinfo; the session
    /// holds the tokens, the access token's expiry, `auth_time`, the userinfo claims, the
    /// session's lifetime, and the login's provider and return path.
    #[test]
    fn code_flow_exchanges_the_code_and_builds_the_session() {
        let mut x = CodeExchange::new(input("code", code_response()));
        let token = send(x.start());
        assert_eq!(token.endpoint, Endpoint::Token);
        assert_eq!(token.request.uri(), "https://op/token");
        let f = form(&token);
        for (k, v) in [
            ("grant_type", "authorization_code"),
            ("code", "the-code"),
            ("redirect_uri", "https://rp/cb"),
            ("code_verifier", "the-verifier"),
        ] {
            assert!(f.contains(&(k.into(), v.into())), "{k} in {f:?}");
        }
        let id = sign("k1", with(id_claims(), "auth_time", json!(1400)));
        let ui = send(x.resume(ok(tokens(Some(id.clone())))));
        assert_eq!(ui.endpoint, Endpoint::Userinfo);
        assert_eq!(ui.request.uri(), "https://op/userinfo");
        assert_eq!(bearer(&ui), "Bearer at");
        let outcome = done(x.resume(ok(json!({"sub": "alice", "email": "a@op"})))).unwrap();
        assert_eq!(outcome.return_to, "/after?x=1");
        let user = outcome.user;
        assert_eq!(user.provider, "op-name");
        assert_eq!(user.subject(), "alice");
        assert_eq!(user.id_token_jwt(), id);
        assert_eq!(user.access_token.as_ref().map(Secret::expose), Some("at"));
        assert_eq!(user.access_token_expires_at, Some(NOW + 60));
        assert_eq!(user.refresh_token.as_ref().map(Secret::expose), Some("rt"));
        assert_eq!(user.last_authenticated, 1400, "auth_time");
        assert_eq!(user.last_session_refresh, NOW);
        assert_eq!(user.expires_at, NOW + 3600);
        assert_eq!(user.userinfo.unwrap().get("email").unwrap(), "a@op");
        assert!(x.take_key_fetches().is_empty(), "the cached set sufficed");
    }

    /// Without userinfo (switched off) the login ends after the ID token; a token without
    /// `auth_time` dates the authentication at the login, and an access token without
    /// `expires_in` has no known expiry.
    #[test]
    fn without_userinfo_or_auth_time_the_login_time_counts() {
        let mut i = input("code", code_response());
        i.config.fetch_userinfo = false;
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let mut t = tokens(Some(sign("k1", id_claims())));
        t.as_object_mut().unwrap().remove("expires_in");
        let user = done(x.resume(ok(t))).unwrap().user;
        assert_eq!(user.last_authenticated, NOW);
        assert_eq!(user.access_token_expires_at, None);
        assert!(user.access_token.is_some() && user.userinfo.is_none());
    }

    /// Each flow needs its parameters: a response without them is refused before any request.
    #[test]
    fn a_missing_response_parameter_is_refused_before_any_request() {
        let id_only = AuthorizationResponse {
            id_token: Some(Secret::new("a.b.c")),
            ..Default::default()
        };
        for (rt, response, missing) in [
            ("code", AuthorizationResponse::default(), "code"),
            ("code id_token", code_response(), "id_token"),
            ("id_token", AuthorizationResponse::default(), "id_token"),
            ("id_token token", id_only, "access_token"),
        ] {
            let mut x = CodeExchange::new(input(rt, response));
            match done(x.start()) {
                Err(Error::Protocol(ProtocolError::MissingParameter(p))) => {
                    assert_eq!(p, missing, "{rt}")
                }
                other => panic!("{rt}: {other:?}"),
            }
        }
    }

    /// A token signed with a key the cached set lacks fetches the JWKS (the last fetch is older
    /// than the refetch interval) and validates with the new set; the fetch is reported for the
    /// provider's cache.
    #[test]
    fn an_unknown_kid_fetches_the_key_set_then_validates() {
        let mut i = input("code", code_response());
        i.config.fetch_userinfo = false;
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let jwks = send(x.resume(ok(tokens(Some(sign("k2", id_claims()))))));
        assert_eq!(jwks.endpoint, Endpoint::Jwks);
        assert_eq!(jwks.request.uri(), "https://op/jwks");
        let user = done(x.resume(jwks_answer(&keys().jwks_both))).unwrap().user;
        assert_eq!(user.subject(), "alice");
        let fetches = x.take_key_fetches();
        assert!(
            fetches.len() == 1 && fetches[0].outcome.is_ok() && fetches[0].at == NOW,
            "{fetches:?}"
        );
        assert!(x.take_key_fetches().is_empty(), "reported once");
    }

    /// One login fetches the key set at most once: a fetched set that still lacks the token's
    /// key ends the login with `UnknownKey`, and a cache whose last fetch is younger than the
    /// refetch interval is not fetched again at all.
    #[test]
    fn an_unknown_kid_costs_at_most_one_fetch() {
        let mut x = CodeExchange::new(input("code", code_response()));
        let _ = send(x.start());
        let _ = send(x.resume(ok(tokens(Some(sign("k2", id_claims()))))));
        assert!(matches!(
            done(x.resume(jwks_answer(&keys().jwks_k1))),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::UnknownKey
            )))
        ));
        assert_eq!(x.take_key_fetches().len(), 1);

        let mut i = input("code", code_response());
        i.keys = cache_with(&keys().jwks_k1, NOW - 1);
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        assert!(matches!(
            done(x.resume(ok(tokens(Some(sign("k2", id_claims())))))),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::UnknownKey
            )))
        ));
        assert!(x.take_key_fetches().is_empty(), "throttled: no fetch");
    }

    /// With no cached set the JWKS is fetched before validation; a failed fetch ends the login
    /// with the transport error, and is reported so that the cache does not retry at once; a
    /// recent failure in the cache is returned without a fetch.
    #[test]
    fn key_set_fetch_failures_end_the_login() {
        let mut i = input("code", code_response());
        i.keys = KeyCache::new(crate::jwks::KeyFetchPolicy::default());
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let jwks = send(x.resume(ok(tokens(Some(sign("k1", id_claims()))))));
        assert_eq!(jwks.endpoint, Endpoint::Jwks);
        assert!(matches!(
            done(x.resume(Err(TransportError::Timeout))),
            Err(Error::Transport {
                endpoint: Endpoint::Jwks,
                ..
            })
        ));
        let fetches = x.take_key_fetches();
        assert!(fetches.len() == 1 && fetches[0].outcome.is_err());

        let mut i = input("code", code_response());
        i.keys = KeyCache::new(crate::jwks::KeyFetchPolicy::default());
        i.keys.record(&fetches[0]);
        i.now = fetches[0].at + 1;
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        assert!(matches!(
            done(x.resume(ok(tokens(Some(sign("k1", id_claims())))))),
            Err(Error::Transport {
                endpoint: Endpoint::Jwks,
                ..
            })
        ));
        assert!(x.take_key_fetches().is_empty());
    }

    /// A JWKS request may be answered with the cache another request just filled: the login
    /// goes on with it, without a fetch of its own.
    #[test]
    fn a_jwks_request_can_be_answered_from_the_shared_cache() {
        let mut i = input("code", code_response());
        i.config.fetch_userinfo = false;
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let _ = send(x.resume(ok(tokens(Some(sign("k2", id_claims()))))));
        let filled = cache_with(&keys().jwks_both, NOW);
        assert_eq!(
            done(x.resume_with_keys(filled)).unwrap().user.subject(),
            "alice"
        );
        assert!(x.take_key_fetches().is_empty());
    }

    /// Steps out of order are refused, never acted on: a second start, an answer nobody asked
    /// for, keys given without a JWKS request.
    #[test]
    fn steps_out_of_order_are_refused() {
        let mut x = CodeExchange::new(input("code", code_response()));
        assert!(matches!(
            done(x.resume(ok(json!({})))),
            Err(Error::Misuse(Misuse::ResumedWithoutRequest("callback")))
        ));
        let mut x = CodeExchange::new(input("code", code_response()));
        let _ = send(x.start());
        assert!(matches!(
            done(x.start()),
            Err(Error::Misuse(Misuse::StartedTwice("callback")))
        ));
        let mut x = CodeExchange::new(input("code", code_response()));
        let _ = send(x.start());
        assert!(matches!(
            done(x.resume_with_keys(cache_with(&keys().jwks_k1, NOW))),
            Err(Error::Misuse(Misuse::KeysWithoutRequest("callback")))
        ));
        // After the end, nothing more happens.
        assert!(matches!(
            done(x.resume(ok(tokens(None)))),
            Err(Error::Misuse(Misuse::ResumedWithoutRequest("callback")))
        ));
    }

    /// Failures at the token and userinfo endpoints end the login with a typed error: the
    /// provider's error, a transport error naming the endpoint, a token response without an
    /// ID token, a userinfo `sub` that is not the ID token's.
    #[test]
    fn token_and_userinfo_failures_end_the_login() {
        let start = || {
            let mut x = CodeExchange::new(input("code", code_response()));
            let _ = send(x.start());
            x
        };
        let mut x = start();
        let refused = http::Response::builder()
            .status(400)
            .body(Bytes::from_static(br#"{"error":"invalid_grant"}"#))
            .unwrap();
        assert!(matches!(
            done(x.resume(Ok(refused))),
            Err(Error::Provider(ref e)) if e.error == "invalid_grant"
        ));
        let mut x = start();
        assert!(matches!(
            done(x.resume(Err(TransportError::Timeout))),
            Err(Error::Transport {
                endpoint: Endpoint::Token,
                ..
            })
        ));
        let mut x = start();
        assert!(matches!(
            done(x.resume(ok(tokens(None)))),
            Err(Error::Protocol(ProtocolError::MalformedResponse {
                endpoint: Endpoint::Token,
                ..
            }))
        ));
        let mut x = start();
        let _ = send(x.resume(ok(tokens(Some(sign("k1", id_claims()))))));
        assert!(matches!(
            done(x.resume(ok(json!({"sub": "mallory"})))),
            Err(Error::Protocol(ProtocolError::UserinfoSubjectMismatch))
        ));
        let mut x = start();
        let _ = send(x.resume(ok(tokens(Some(sign("k1", id_claims()))))));
        assert!(matches!(
            done(x.resume(Err(TransportError::Timeout))),
            Err(Error::Transport {
                endpoint: Endpoint::Userinfo,
                ..
            })
        ));
    }

    /// An ID token that fails validation (here: another nonce) ends the login.
    #[test]
    fn an_invalid_id_token_ends_the_login() {
        let mut x = CodeExchange::new(input("code", code_response()));
        let _ = send(x.start());
        let id = sign("k1", with(id_claims(), "nonce", json!("other")));
        assert!(matches!(
            done(x.resume(ok(tokens(Some(id))))),
            Err(Error::Protocol(ProtocolError::IdToken(IdTokenError::Nonce)))
        ));
    }

    fn hybrid_front(claims: Value) -> AuthorizationResponse {
        AuthorizationResponse {
            id_token: Some(Secret::new(sign(
                "k1",
                with(
                    claims,
                    "c_hash",
                    json!(id_token::half_hash("RS256", "the-code").unwrap()),
                ),
            ))),
            ..code_response()
        }
    }

    /// Hybrid flow: the front-channel ID token is validated (with its `c_hash`) before the code
    /// is exchanged, and the token endpoint's ID token must name the same subject and audience
    /// (OpenID Connect Core 3.3.3.6; both issuers are checked against the provider's anyway);
    /// the session keeps the token endpoint's.
    #[test]
    fn hybrid_id_tokens_must_describe_the_same_user() {
        let run = |front: Value| {
            let mut i = input("code id_token", hybrid_front(front));
            i.config.fetch_userinfo = false;
            let mut x = CodeExchange::new(i);
            let token = send(x.start());
            assert_eq!(token.endpoint, Endpoint::Token);
            let back = sign("k1", with(id_claims(), "auth_time", json!(1450)));
            (back.clone(), done(x.resume(ok(tokens(Some(back))))))
        };
        let (back, outcome) = run(id_claims());
        let user = outcome.unwrap().user;
        assert_eq!(user.id_token_jwt(), back);
        assert_eq!(user.last_authenticated, 1450);

        let other_aud = with(
            with(id_claims(), "aud", json!(["client", "other"])),
            "azp",
            json!("client"),
        );
        for (claim, front) in [
            ("sub", with(id_claims(), "sub", json!("mallory"))),
            ("aud", other_aud),
        ] {
            match run(front).1 {
                Err(Error::Protocol(ProtocolError::IdToken(IdTokenError::SubjectChanged(c)))) => {
                    assert_eq!(c, claim)
                }
                other => panic!("{claim}: {other:?}"),
            }
        }
        // A wrong c_hash is refused before the code is exchanged.
        let mut front = hybrid_front(id_claims());
        front.code = Some("another-code".into());
        let mut x = CodeExchange::new(input("code id_token", front));
        assert!(matches!(
            done(x.start()),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::CodeHash
            )))
        ));
    }

    /// Implicit `id_token token`: the front-channel access token, vouched for by `at_hash`,
    /// fetches userinfo and is kept with its `expires_in`.
    #[test]
    fn implicit_access_token_is_kept_when_its_id_token_vouches_for_it() {
        let at_hash = id_token::half_hash("RS256", "front-at").unwrap();
        let response = AuthorizationResponse {
            id_token: Some(Secret::new(sign(
                "k1",
                with(id_claims(), "at_hash", json!(at_hash)),
            ))),
            access_token: Some(Secret::new("front-at")),
            token_type: Some("Bearer".into()),
            expires_in: Some("120".into()),
            ..Default::default()
        };
        let mut x = CodeExchange::new(input("id_token token", response));
        let ui = send(x.start());
        assert_eq!(ui.endpoint, Endpoint::Userinfo);
        assert_eq!(bearer(&ui), "Bearer front-at");
        let user = done(x.resume(ok(json!({"sub": "alice"})))).unwrap().user;
        assert_eq!(
            user.access_token.as_ref().map(Secret::expose),
            Some("front-at")
        );
        assert_eq!(user.access_token_expires_at, Some(NOW + 120));
        assert!(user.refresh_token.is_none());
    }

    /// `id_token` alone: no access token, so no userinfo call and no access-token expiry, even
    /// when the response carries an `expires_in`.
    #[test]
    fn implicit_id_token_only_has_no_access_token() {
        let response = AuthorizationResponse {
            id_token: Some(Secret::new(sign("k1", id_claims()))),
            expires_in: Some("120".into()),
            ..Default::default()
        };
        let mut x = CodeExchange::new(input("id_token", response));
        let user = done(x.start()).unwrap().user;
        assert!(user.access_token.is_none());
        assert_eq!(user.access_token_expires_at, None);
        assert!(user.userinfo.is_none());
    }

    /// `code token`: the front-channel access token has no ID token to vouch for it, so the
    /// token endpoint's replaces it, for userinfo and in the session.
    #[test]
    fn code_token_keeps_the_token_endpoints_access_token() {
        let response = AuthorizationResponse {
            access_token: Some(Secret::new("front-at")),
            ..code_response()
        };
        let mut x = CodeExchange::new(input("code token", response));
        let _ = send(x.start());
        let ui = send(x.resume(ok(tokens(Some(sign("k1", id_claims()))))));
        assert_eq!(bearer(&ui), "Bearer at");
        let user = done(x.resume(ok(json!({"sub": "alice"})))).unwrap().user;
        assert_eq!(user.access_token.as_ref().map(Secret::expose), Some("at"));
    }

    /// The provider's `error_description` reaches the error (for the error view), cut to 512
    /// characters, and its `error` to 128: a provider cannot make the page arbitrarily long.
    #[test]
    fn provider_errors_keep_their_description_bounded() {
        let m = ProviderMetadata::new("https://op", "https://op/a".parse().unwrap());
        let r = AuthorizationResponse::parse(
            b"error=access_denied&error_description=the+user+said+no&state=s",
        )
        .unwrap();
        assert_eq!(r.error_description.as_deref(), Some("the user said no"));
        match r.check(&m, false) {
            Err(Error::Provider(e)) => {
                assert_eq!(e.error, "access_denied");
                assert_eq!(e.error_description.as_deref(), Some("the user said no"));
            }
            other => panic!("{other:?}"),
        }
        let long = format!(
            "error={}&error_description={}",
            "e".repeat(300),
            "d".repeat(900)
        );
        match AuthorizationResponse::parse(long.as_bytes())
            .unwrap()
            .check(&m, false)
        {
            Err(Error::Provider(e)) => {
                assert_eq!(e.error.len(), 128);
                assert_eq!(e.error_description.map(|d| d.len()), Some(512));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every response parameter, alone, makes a response non-empty (an empty one is a fragment
    /// response the server cannot see, answered with the page that posts it back).
    #[test]
    fn any_response_parameter_makes_a_response_non_empty() {
        for p in [
            "state=s",
            "code=c",
            "error=e",
            "id_token=t",
            "access_token=a",
            "iss=i",
        ] {
            assert!(
                !AuthorizationResponse::parse(p.as_bytes())
                    .unwrap()
                    .is_empty(),
                "{p}"
            );
        }
        assert!(AuthorizationResponse::parse(b"").unwrap().is_empty());
    }

    /// Every parameter lands in its own field, and a token or code never shows in `Debug`.
    #[test]
    fn parse_fills_every_field_and_debug_hides_tokens() {
        let r = AuthorizationResponse::parse(
            b"state=s1&code=c1&error=e1&error_description=d1&iss=i1&id_token=t1&access_token=a1\
              &token_type=Bearer&expires_in=60",
        )
        .unwrap();
        assert_eq!(r.state.as_deref(), Some("s1"));
        assert_eq!(r.code.as_deref(), Some("c1"));
        assert_eq!(r.error.as_deref(), Some("e1"));
        assert_eq!(r.error_description.as_deref(), Some("d1"));
        assert_eq!(r.iss.as_deref(), Some("i1"));
        assert_eq!(r.id_token.as_ref().map(Secret::expose), Some("t1"));
        assert_eq!(r.access_token.as_ref().map(Secret::expose), Some("a1"));
        assert_eq!(r.token_type.as_deref(), Some("Bearer"));
        assert_eq!(r.expires_in.as_deref(), Some("60"));
        let shown = format!("{r:?}");
        assert!(
            shown.contains("has_code: true") && shown.contains("e1"),
            "{shown}"
        );
        for secret in ["s1", "c1", "t1", "a1"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let x = CodeExchange::new(input("code", code_response()));
        let shown = format!("{x:?}");
        assert!(
            shown.contains("op-name") && shown.contains("Ready"),
            "{shown}"
        );
        assert!(!shown.contains("the-code") && !shown.contains("the-verifier"));
    }

    /// Answers each request by its path, in order, and records the paths asked for.
    struct Scripted {
        answers: std::sync::Mutex<Vec<(&'static str, Value)>>,
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl Scripted {
        fn send(
            &self,
            out: Outbound,
        ) -> std::result::Result<http::Response<Bytes>, TransportError> {
            let path = out.request.uri().path().to_owned();
            self.asked.lock().unwrap().push(path.clone());
            let mut answers = self.answers.lock().unwrap();
            match answers.iter().position(|(p, _)| *p == path) {
                Some(i) => ok(answers.remove(i).1),
                None => Err(TransportError::Other(format!("unexpected {path}"))),
            }
        }
    }

    /// [`drive`] runs a whole login through the [`Exchange`] trait with any transport: the
    /// token, JWKS and userinfo calls in order, the session at the end, and the key fetch
    /// reported through the trait for the provider's cache.
    #[test]
    fn drive_runs_a_login_through_the_exchange_trait() {
        let transport = Scripted {
            answers: std::sync::Mutex::new(vec![
                ("/token", tokens(Some(sign("k2", id_claims())))),
                ("/jwks", serde_json::from_str(&keys().jwks_both).unwrap()),
                ("/userinfo", json!({"sub": "alice", "name": "Alice"})),
            ]),
            asked: std::sync::Mutex::new(Vec::new()),
        };
        let mut x = CodeExchange::new(input("code", code_response()));
        let outcome = drive(&mut x, |out| transport.send(out)).unwrap();
        assert_eq!(outcome.user.userinfo.unwrap().get("name").unwrap(), "Alice");
        assert_eq!(
            *transport.asked.lock().unwrap(),
            ["/token", "/jwks", "/userinfo"]
        );
        let fetches = Exchange::take_key_fetches(&mut x);
        assert!(fetches.len() == 1 && fetches[0].outcome.is_ok());
        assert!(Exchange::take_key_fetches(&mut x).is_empty());

        // The trait's own steps, one by one, as a caller that shares key caches uses them.
        let mut i = input("code", code_response());
        i.config.fetch_userinfo = false;
        let mut x = CodeExchange::new(i);
        assert_eq!(send(Exchange::start(&mut x)).endpoint, Endpoint::Token);
        let jwks = send(Exchange::resume(
            &mut x,
            ok(tokens(Some(sign("k2", id_claims())))),
        ));
        assert_eq!(jwks.endpoint, Endpoint::Jwks);
        let user = done(Exchange::resume_with_keys(
            &mut x,
            cache_with(&keys().jwks_both, NOW),
        ))
        .unwrap()
        .user;
        assert_eq!(user.subject(), "alice");
    }

    /// A JWKS request answered with a shared cache that still has nothing usable ends the
    /// login: the exchange does not ask for the key set a second time.
    #[test]
    fn a_shared_cache_without_keys_does_not_buy_a_second_fetch() {
        let mut x = CodeExchange::new(input("code", code_response()));
        let _ = send(x.start());
        let _ = send(x.resume(ok(tokens(Some(sign("k2", id_claims()))))));
        let empty = KeyCache::new(crate::jwks::KeyFetchPolicy::default());
        assert!(matches!(
            done(x.resume_with_keys(empty)),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::UnknownKey
            )))
        ));
    }

    /// Even with no refetch interval at all, one login fetches the key set once: a fetched set
    /// that lacks the token's key ends it.
    #[test]
    fn without_a_refetch_interval_a_login_still_fetches_once() {
        let mut i = input("code", code_response());
        let policy = crate::jwks::KeyFetchPolicy {
            refetch_interval: 0,
            ..Default::default()
        };
        i.keys = KeyCache::new(policy);
        i.keys.record(&KeyFetch {
            at: NOW - 10,
            outcome: Ok(Arc::new(
                crate::jwks::JwkSet::from_json(keys().jwks_k1.as_bytes(), NOW - 10).unwrap(),
            )),
        });
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let jwks = send(x.resume(ok(tokens(Some(sign("k2", id_claims()))))));
        assert_eq!(jwks.endpoint, Endpoint::Jwks);
        assert!(matches!(
            done(x.resume(jwks_answer(&keys().jwks_k1))),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::UnknownKey
            )))
        ));
    }

    /// An access token slipped into an `id_token` (implicit, no access token requested)
    /// response is not kept: nothing vouches for it.
    #[test]
    fn an_access_token_added_to_an_id_token_response_is_dropped() {
        let response = AuthorizationResponse {
            id_token: Some(Secret::new(sign("k1", id_claims()))),
            access_token: Some(Secret::new("injected")),
            ..Default::default()
        };
        let mut x = CodeExchange::new(input("id_token", response));
        let user = done(x.start()).unwrap().user;
        assert!(user.access_token.is_none());
    }

    /// A parameter of exactly 16 KiB (a large ID token) is accepted; one byte more is not.
    #[test]
    fn parameters_up_to_16_kib_are_accepted() {
        let at_limit = format!("id_token={}", "a".repeat(16 * 1024));
        let r = AuthorizationResponse::parse(at_limit.as_bytes()).unwrap();
        assert_eq!(r.id_token.map(|t| t.expose().len()), Some(16 * 1024));
        let beyond = format!("id_token={}", "a".repeat(16 * 1024 + 1));
        assert!(AuthorizationResponse::parse(beyond.as_bytes()).is_err());
    }

    // ---- HMAC ID tokens, the userinfo method, signed userinfo. ----

    const LONG_SECRET: &str = "a-client-secret-long-enough-for-hs256-0123456789";

    fn hs256(claims: Value, key: &[u8]) -> String {
        let signer = josekit::jws::HS256.signer_from_bytes(key).unwrap();
        let mut h = JwsHeader::new();
        h.set_key_id("not-in-any-jwks");
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&p, &h, &signer).unwrap()
    }

    /// A client configured for HS256, with no key set cached at all: its ID token, MACed with
    /// the secret and naming a `kid`, is verified without a JWKS request, and the login goes on
    /// to userinfo. Refreshing the key set is only ever for keys the provider publishes.
    #[test]
    fn an_hmac_id_token_never_fetches_the_key_set() {
        let mut i = input("code", code_response());
        i.config.id_token_signed_response_alg = Some("HS256".into());
        i.client = Arc::new(ClientMetadata::new("client", LONG_SECRET));
        i.keys = KeyCache::new(crate::jwks::KeyFetchPolicy::default());
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let token = hs256(id_claims(), LONG_SECRET.as_bytes());
        let ui = send(x.resume(ok(tokens(Some(token)))));
        assert_eq!(ui.endpoint, Endpoint::Userinfo);
        let user = done(x.resume(ok(json!({"sub": "alice"})))).unwrap().user;
        assert_eq!(user.subject(), "alice");
        assert!(x.take_key_fetches().is_empty());

        // The same token for a client that never agreed to HMAC: refused, no fetch either.
        let mut i = input("code", code_response());
        i.client = Arc::new(ClientMetadata::new("client", LONG_SECRET));
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let token = hs256(id_claims(), LONG_SECRET.as_bytes());
        assert!(matches!(
            done(x.resume(ok(tokens(Some(token))))),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::AlgorithmNotAllowed(_)
            )))
        ));
        assert!(x.take_key_fetches().is_empty());
    }

    /// `body`: userinfo is a POST with the access token in the form body and no
    /// `Authorization` header (RFC 6750 2.2); `none`: no userinfo call at all.
    #[test]
    fn the_userinfo_method_is_followed() {
        let mut i = input("code", code_response());
        i.config.userinfo_method = crate::userinfo::UserinfoMethod::Body;
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let ui = send(x.resume(ok(tokens(Some(sign("k1", id_claims()))))));
        assert_eq!(ui.endpoint, Endpoint::Userinfo);
        assert_eq!(ui.request.method(), http::Method::POST);
        assert!(ui
            .request
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_none());
        assert_eq!(form(&ui), [("access_token".to_owned(), "at".to_owned())]);
        let user = done(x.resume(ok(json!({"sub": "alice", "name": "A"}))))
            .unwrap()
            .user;
        assert_eq!(user.userinfo.unwrap().get("name").unwrap(), "A");

        let mut i = input("code", code_response());
        i.config.userinfo_method = crate::userinfo::UserinfoMethod::None;
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let user = done(x.resume(ok(tokens(Some(sign("k1", id_claims()))))))
            .unwrap()
            .user;
        assert!(user.userinfo.is_none());
    }

    fn jwt_answer(jwt: String) -> std::result::Result<http::Response<Bytes>, TransportError> {
        Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/jwt")
            .body(Bytes::from(jwt))
            .unwrap())
    }

    fn userinfo_claims() -> Value {
        json!({"iss": "https://op", "aud": "client", "sub": "alice", "email": "a@op"})
    }

    /// A code login up to its userinfo request.
    fn at_userinfo(i: ExchangeInput) -> CodeExchange {
        let mut x = CodeExchange::new(i);
        let _ = send(x.start());
        let ui = send(x.resume(ok(tokens(Some(sign("k1", id_claims()))))));
        assert_eq!(ui.endpoint, Endpoint::Userinfo);
        x
    }

    /// A signed userinfo response (`application/jwt`) is verified with the provider's keys:
    /// accepted with the right `iss`, `aud` and `sub` (and without `aud`); refused with another
    /// `iss` or `aud`, a changed signature, another `sub`, an algorithm off the list; an
    /// encrypted one is a clear error.
    #[test]
    fn signed_userinfo_is_verified() {
        let mut x = at_userinfo(input("code", code_response()));
        let user = done(x.resume(jwt_answer(sign("k1", userinfo_claims()))))
            .unwrap()
            .user;
        assert_eq!(user.userinfo.unwrap().get("email").unwrap(), "a@op");
        let mut no_aud = userinfo_claims();
        no_aud.as_object_mut().unwrap().remove("aud");
        let mut x = at_userinfo(input("code", code_response()));
        assert!(done(x.resume(jwt_answer(sign("k1", no_aud)))).is_ok());

        let refused = |answer, want: IdTokenError| {
            let mut x = at_userinfo(input("code", code_response()));
            match done(x.resume(answer)) {
                Err(Error::Protocol(ProtocolError::SignedUserinfo(e))) => assert_eq!(e, want),
                other => panic!("{want:?}: {other:?}"),
            }
        };
        let c = userinfo_claims();
        refused(
            jwt_answer(sign("k1", with(c.clone(), "iss", json!("https://evil")))),
            IdTokenError::Issuer,
        );
        refused(
            jwt_answer(sign("k1", with(c.clone(), "aud", json!(["other"])))),
            IdTokenError::Audience,
        );
        let tampered = sign("k1", c.clone());
        let (head, sig) = tampered.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        refused(
            jwt_answer(format!("{head}.{flipped}{}", &sig[1..])),
            IdTokenError::BadSignature,
        );
        refused(
            jwt_answer(hs256(c.clone(), b"0123456789abcdef0123456789abcdef")),
            IdTokenError::AlgorithmNotAllowed("HS256".into()),
        );
        let mut x = at_userinfo(input("code", code_response()));
        assert!(matches!(
            done(x.resume(jwt_answer(sign("k1", with(c, "sub", json!("mallory")))))),
            Err(Error::Protocol(ProtocolError::UserinfoSubjectMismatch))
        ));

        let mut header = josekit::jwe::JweHeader::new();
        header.set_content_encryption("A128GCM");
        let encrypter = josekit::jwe::Dir.encrypter_from_bytes([3u8; 16]).unwrap();
        let jwe = josekit::jwe::serialize_compact(b"{}", &header, &encrypter).unwrap();
        let mut x = at_userinfo(input("code", code_response()));
        assert!(matches!(
            done(x.resume(jwt_answer(jwe))),
            Err(Error::Protocol(ProtocolError::EncryptedUserinfo))
        ));
    }

    /// Signed userinfo naming a key the cached set lacks fetches the set once (the ID token
    /// did not), then verifies; HMAC userinfo uses the client secret when configured so.
    #[test]
    fn signed_userinfo_follows_the_key_rules() {
        let mut x = at_userinfo(input("code", code_response()));
        let jwks = send(x.resume(jwt_answer(sign("k2", userinfo_claims()))));
        assert_eq!(jwks.endpoint, Endpoint::Jwks);
        let user = done(x.resume(jwks_answer(&keys().jwks_both))).unwrap().user;
        assert_eq!(user.userinfo.unwrap().get("sub").unwrap(), "alice");
        assert_eq!(x.take_key_fetches().len(), 1);

        let mut i = input("code", code_response());
        i.config.userinfo_signed_response_alg = Some("HS256".into());
        i.client = Arc::new(ClientMetadata::new("client", LONG_SECRET));
        let mut x = at_userinfo(i);
        let user = done(x.resume(jwt_answer(hs256(userinfo_claims(), LONG_SECRET.as_bytes()))))
            .unwrap()
            .user;
        assert_eq!(user.userinfo.unwrap().get("email").unwrap(), "a@op");
        assert!(x.take_key_fetches().is_empty());
    }

    /// A login for a confidential client whose provider advertises HS256 only, with nothing
    /// configured: HMAC is negotiated for the token endpoint's ID token alone.
    fn hmac_only_provider(response_type: &str, response: AuthorizationResponse) -> ExchangeInput {
        let mut i = input(response_type, response);
        let mut m = metadata();
        m.id_token_signing_alg_values_supported = vec!["HS256".into()];
        i.metadata = Arc::new(m);
        i.client = Arc::new(ClientMetadata::new("client", LONG_SECRET));
        i
    }

    /// With `userinfo_signed_response_alg` configured, a plain JSON userinfo answer is a
    /// downgrade: refused with a typed error, no session; the signed answer is accepted.
    #[test]
    fn configured_signed_userinfo_refuses_plain_json() {
        let signed = || {
            let mut i = input("code", code_response());
            i.config.userinfo_signed_response_alg = Some("RS256".into());
            i
        };
        let mut x = at_userinfo(signed());
        match done(x.resume(ok(json!({"sub": "alice", "email": "a@op"})))) {
            Err(Error::Protocol(ProtocolError::SignedUserinfo(IdTokenError::Malformed(m)))) => {
                assert!(m.contains("application/jwt"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        let mut x = at_userinfo(signed());
        let user = done(x.resume(jwt_answer(sign("k1", userinfo_claims()))))
            .unwrap()
            .user;
        assert_eq!(user.userinfo.unwrap().get("email").unwrap(), "a@op");
    }

    /// HMAC negotiated from an HMAC-only provider covers the code flow's ID token, never a
    /// front-channel one (implicit, hybrid): whoever holds the client secret could mint it.
    /// Configured explicitly, the front channel accepts it.
    #[test]
    fn negotiated_hmac_never_covers_the_front_channel() {
        let mut code = CodeExchange::new(hmac_only_provider("code", code_response()));
        let _ = send(code.start());
        let back = hs256(id_claims(), LONG_SECRET.as_bytes());
        let ui = send(code.resume(ok(tokens(Some(back)))));
        assert_eq!(ui.endpoint, Endpoint::Userinfo);

        let front = || AuthorizationResponse {
            id_token: Some(Secret::new(hs256(id_claims(), LONG_SECRET.as_bytes()))),
            ..Default::default()
        };
        let mut x = CodeExchange::new(hmac_only_provider("id_token", front()));
        match done(x.start()) {
            Err(Error::Protocol(ProtocolError::IdToken(IdTokenError::AlgorithmNotAllowed(a)))) => {
                assert_eq!(a, "HS256")
            }
            other => panic!("{other:?}"),
        }
        let c_hash = id_token::half_hash("HS256", "the-code").unwrap();
        let hybrid = AuthorizationResponse {
            id_token: Some(Secret::new(hs256(
                with(id_claims(), "c_hash", json!(c_hash)),
                LONG_SECRET.as_bytes(),
            ))),
            ..code_response()
        };
        let mut x = CodeExchange::new(hmac_only_provider("code id_token", hybrid));
        assert!(matches!(
            done(x.start()),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::AlgorithmNotAllowed(_)
            )))
        ));

        let mut i = hmac_only_provider("id_token", front());
        i.config.id_token_signed_response_alg = Some("HS256".into());
        let user = done(CodeExchange::new(i).start()).unwrap().user;
        assert_eq!(user.subject(), "alice");
    }

    /// Signed userinfo never negotiates HMAC: with the ID token's HMAC negotiated, an HS256
    /// userinfo answer is still refused; only a configured algorithm enables it.
    #[test]
    fn userinfo_never_negotiates_hmac() {
        let mut x = CodeExchange::new(hmac_only_provider("code", code_response()));
        let _ = send(x.start());
        let back = hs256(id_claims(), LONG_SECRET.as_bytes());
        let ui = send(x.resume(ok(tokens(Some(back)))));
        assert_eq!(ui.endpoint, Endpoint::Userinfo);
        let answer = hs256(userinfo_claims(), LONG_SECRET.as_bytes());
        match done(x.resume(jwt_answer(answer))) {
            Err(Error::Protocol(ProtocolError::SignedUserinfo(
                IdTokenError::AlgorithmNotAllowed(a),
            ))) => assert_eq!(a, "HS256"),
            other => panic!("{other:?}"),
        }
    }
}
