//! The redirect endpoint: parsing the authorization response and finishing the login, as a
//! state machine that asks for the HTTP calls it needs (token, JWKS, userinfo) and never makes
//! them itself.
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

use std::sync::Arc;

use bytes::Bytes;
use url::Url;

use crate::config::ProviderConfig;
use crate::error::{Endpoint, Error, IdTokenError, ProtocolError, Result, TransportError};
use crate::id_token::{self, Expectations, IdToken, Validation};
use crate::jwks::{self, JwkSet};
use crate::metadata::ProviderMetadata;
use crate::session::{PendingLogin, UserSession};
use crate::token::{self, TokenResponse};
use crate::userinfo;

/// The parameters of an authorization response.
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
}

impl std::fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationResponse")
            .field("has_state", &self.state.is_some())
            .field("has_code", &self.code.is_some())
            .field("error", &self.error)
            .field("iss", &self.iss)
            .finish()
    }
}

/// Longest parameter value accepted; anything longer is an attack or a bug.
const MAX_PARAM_LEN: usize = 8 * 1024;

impl AuthorizationResponse {
    /// Parses `application/x-www-form-urlencoded` parameters (a query string or a POST body).
    /// A parameter given twice is an error: which one counts would otherwise be up to chance.
    pub fn parse(encoded: &[u8]) -> Result<Self> {
        let mut r = AuthorizationResponse::default();
        for (k, v) in form_urlencoded::parse(encoded) {
            let slot = match k.as_ref() {
                "state" => &mut r.state,
                "code" => &mut r.code,
                "error" => &mut r.error,
                "error_description" => &mut r.error_description,
                "iss" => &mut r.iss,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ProtocolError::DuplicateParameter(k.into_owned()).into());
            }
            if v.len() > MAX_PARAM_LEN {
                return Err(ProtocolError::MalformedResponse {
                    endpoint: Endpoint::Token,
                    reason: format!("parameter `{k}` is too long"),
                }
                .into());
            }
            *slot = Some(v.into_owned());
        }
        Ok(r)
    }

    /// Checks the response against the login it answers, before any token is requested:
    /// the RFC 9207 `iss` (when sent, or when the provider promises it), then the provider's
    /// error, then the presence of a code.
    pub fn check(&self, metadata: &ProviderMetadata) -> Result<String> {
        match &self.iss {
            Some(iss) if iss != &metadata.issuer => {
                return Err(ProtocolError::IssuerMismatch.into())
            }
            None if metadata.authorization_response_iss_parameter_supported => {
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
        self.code
            .clone()
            .ok_or_else(|| ProtocolError::MissingParameter("code").into())
    }
}

/// An HTTP request the machine needs sent.
#[derive(Debug)]
#[must_use]
pub struct Outbound {
    /// Which endpoint it is for (for errors and logs).
    pub endpoint: Endpoint,
    /// The request.
    pub request: http::Request<Bytes>,
}

/// What to do next.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Step {
    /// Send this request and feed the response to [`CodeExchange::resume`].
    Send(Outbound),
    /// Finished.
    Done(Result<LoginOutcome>),
}

/// A completed login.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The new user session.
    pub user: UserSession,
    /// Where to send the browser (a path on the app's origin).
    pub return_to: String,
    /// A key set fetched during the login, for the caller's cache.
    pub fetched_jwks: Option<Arc<JwkSet>>,
}

enum Stage {
    Token,
    Jwks {
        tokens: TokenResponse,
        refetch: bool,
    },
    Userinfo {
        tokens: TokenResponse,
        id_token: IdToken,
    },
    Finished,
}

/// The code flow after the browser came back: code exchange, ID token validation (fetching the
/// JWKS when needed, and once more on an unknown `kid`), userinfo.
pub struct CodeExchange {
    provider: String,
    config: ProviderConfig,
    metadata: Arc<ProviderMetadata>,
    jwks: Option<Arc<JwkSet>>,
    fetched_jwks: Option<Arc<JwkSet>>,
    pending: PendingLogin,
    code: String,
    redirect_uri: Url,
    now: u64,
    session_lifetime: u64,
    stage: Stage,
}

impl std::fmt::Debug for CodeExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeExchange")
            .field("provider", &self.provider)
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
    /// Its metadata.
    pub metadata: Arc<ProviderMetadata>,
    /// The cached key set, if any.
    pub jwks: Option<Arc<JwkSet>>,
    /// The pending login the response answers (already removed from the session).
    pub pending: PendingLogin,
    /// The authorization code.
    pub code: String,
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
            provider: input.provider,
            config: input.config,
            metadata: input.metadata,
            jwks: input.jwks,
            fetched_jwks: None,
            pending: input.pending,
            code: input.code,
            redirect_uri: input.redirect_uri,
            now: input.now,
            session_lifetime: input.session_lifetime,
            stage: Stage::Token,
        }
    }

    /// The first step: the token request.
    pub fn start(&mut self) -> Step {
        let Some(token_endpoint) = &self.metadata.token_endpoint else {
            return self.fail(Error::config(
                "provider_metadata.token_endpoint",
                "the code flow needs a token endpoint",
            ));
        };
        match token::code_exchange_request(
            token_endpoint.as_str(),
            self.config.client(),
            &self.code,
            self.redirect_uri.as_str(),
            self.pending.code_verifier.as_ref().map(|v| v.expose()),
        ) {
            Ok(request) => Step::Send(Outbound {
                endpoint: Endpoint::Token,
                request,
            }),
            Err(e) => self.fail(e),
        }
    }

    /// Feeds the answer to the last [`Step::Send`] and returns the next step.
    pub fn resume(
        &mut self,
        response: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> Step {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        let endpoint = match &stage {
            Stage::Token => Endpoint::Token,
            Stage::Jwks { .. } => Endpoint::Jwks,
            Stage::Userinfo { .. } => Endpoint::Userinfo,
            Stage::Finished => {
                return self.fail(Error::config("callback", "resumed after completion"))
            }
        };
        let response = match response {
            Ok(r) => r,
            Err(source) => return self.fail(Error::Transport { endpoint, source }),
        };
        match stage {
            Stage::Token => match token::parse_token_response(response) {
                Ok(tokens) => self.validate(tokens, false),
                Err(e) => self.fail(e),
            },
            Stage::Jwks { tokens, refetch } => {
                match jwks::parse_jwks_response(response, self.now) {
                    Ok(set) => {
                        let set = Arc::new(set);
                        self.jwks = Some(set.clone());
                        self.fetched_jwks = Some(set);
                        self.validate(tokens, refetch)
                    }
                    Err(e) => self.fail(e),
                }
            }
            Stage::Userinfo { tokens, id_token } => {
                match userinfo::parse_userinfo_response(response, id_token.subject()) {
                    Ok(claims) => self.finish(tokens, id_token, Some(claims)),
                    Err(e) => self.fail(e),
                }
            }
            Stage::Finished => unreachable_finished(),
        }
    }

    fn validate(&mut self, tokens: TokenResponse, refetched: bool) -> Step {
        let Some(raw) = tokens.id_token.clone() else {
            return self.fail(Error::Protocol(ProtocolError::MalformedResponse {
                endpoint: Endpoint::Token,
                reason: "no id_token in the token response".into(),
            }));
        };
        let Some(keys) = self.jwks.clone() else {
            return self.fetch_jwks(tokens, false);
        };
        let expect = Expectations {
            issuer: &self.metadata.issuer,
            client_id: &self.config.client().client_id,
            nonce: Some(self.pending.nonce.expose()),
            now: self.now,
            skew: self.config.clock_skew.as_secs(),
            algorithms: &self.config.algorithms,
            access_token: None,
            require_at_hash: false,
            code: None,
        };
        match id_token::validate(raw.expose(), &keys, &expect) {
            Ok(Validation::Valid(id_token)) => self.after_id_token(tokens, id_token),
            Ok(Validation::UnknownKey) => {
                let old_enough = self.now.saturating_sub(keys.fetched_at())
                    >= self.config.jwks_min_refetch.as_secs();
                if !refetched && self.fetched_jwks.is_none() && old_enough {
                    self.fetch_jwks(tokens, true)
                } else {
                    self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into())
                }
            }
            Err(e) => self.fail(ProtocolError::IdToken(e).into()),
        }
    }

    fn fetch_jwks(&mut self, tokens: TokenResponse, refetch: bool) -> Step {
        let Some(uri) = &self.metadata.jwks_uri else {
            return self.fail(Error::config(
                "provider_metadata.jwks_uri",
                "required to verify ID tokens",
            ));
        };
        match jwks::jwks_request(uri.as_str()) {
            Ok(request) => {
                self.stage = Stage::Jwks { tokens, refetch };
                Step::Send(Outbound {
                    endpoint: Endpoint::Jwks,
                    request,
                })
            }
            Err(e) => self.fail(e),
        }
    }

    fn after_id_token(&mut self, tokens: TokenResponse, id_token: IdToken) -> Step {
        match (&self.metadata.userinfo_endpoint, self.config.fetch_userinfo) {
            (Some(endpoint), true) => {
                match userinfo::userinfo_request(endpoint.as_str(), tokens.access_token.expose()) {
                    Ok(request) => {
                        self.stage = Stage::Userinfo { tokens, id_token };
                        Step::Send(Outbound {
                            endpoint: Endpoint::Userinfo,
                            request,
                        })
                    }
                    Err(e) => self.fail(e),
                }
            }
            _ => self.finish(tokens, id_token, None),
        }
    }

    fn finish(
        &mut self,
        tokens: TokenResponse,
        id_token: IdToken,
        userinfo: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Step {
        self.stage = Stage::Finished;
        let now = self.now;
        let user = UserSession {
            provider: self.provider.clone(),
            access_token: Some(tokens.access_token),
            access_token_expires_at: tokens.expires_in.map(|e| now.saturating_add(e)),
            last_authenticated: id_token.auth_time().unwrap_or(now),
            id_token,
            userinfo,
            refresh_token: tokens.refresh_token,
            last_session_refresh: now,
            expires_at: now.saturating_add(self.session_lifetime),
        };
        Step::Done(Ok(LoginOutcome {
            user,
            return_to: self.pending.return_to.clone(),
            fetched_jwks: self.fetched_jwks.take(),
        }))
    }

    fn fail(&mut self, error: Error) -> Step {
        self.stage = Stage::Finished;
        Step::Done(Err(error))
    }
}

fn unreachable_finished() -> Step {
    Step::Done(Err(Error::config("callback", "resumed after completion")))
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
        let r = AuthorizationResponse::parse(b"state=s").unwrap();
        assert!(matches!(
            r.check(&m),
            Err(Error::Protocol(ProtocolError::MissingParameter("code")))
        ));
        m.authorization_response_iss_parameter_supported = true;
        let r = AuthorizationResponse::parse(b"code=c&state=s").unwrap();
        assert!(matches!(
            r.check(&m),
            Err(Error::Protocol(ProtocolError::MissingParameter("iss")))
        ));
        let r = AuthorizationResponse::parse(b"code=c&state=s&iss=https%3A%2F%2Fop").unwrap();
        assert_eq!(r.check(&m).unwrap(), "c");
    }
}
