//! The one error type of the core.
//!
//! Errors never carry tokens, codes or secrets: their `Display` and `Debug` are safe to log and
//! to show (escaped) to the user. Strings from outside (the provider, the browser, the
//! transport) are written through [`LogSafe`], so no `Display` can forge a log line.

use std::fmt;

use crate::log_safe::LogSafe;

/// The `error` codes the OAuth 2.0 and OpenID Connect specifications register for the
/// responses a relying party reads (RFC 6749 4.1.2.1 and 5.2, OpenID Connect Core 3.1.2.6,
/// RFC 7591 3.2.2, RFC 9101, RFC 9126, RFC 9449, RFC 6750 3.1).
const REGISTERED_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
    "invalid_redirect_uri",
    "invalid_client_metadata",
    "invalid_software_statement",
    "unapproved_software_statement",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "invalid_token",
    "insufficient_scope",
];

/// Everything that can go wrong in the core, split by whose fault it is.
///
/// `Clone`, so that one outcome can be handed to every request waiting on a shared operation
/// (one token refresh for concurrent requests).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider answered with an OAuth 2.0 / OpenID Connect error response
    /// (at the authorization, token, userinfo or registration endpoint).
    #[error("the provider returned an error: {0}")]
    Provider(ProviderError),
    /// Something the provider or the browser sent breaks the protocol (bad signature, wrong
    /// `state`, wrong `nonce`, malformed response...). Never retried: a login is refused.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The configuration is invalid; the message names the field.
    #[error("invalid configuration: {field}: {}", LogSafe(.reason))]
    Config {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The HTTP call could not be made or was cut off (connection refused, timeout, body too
    /// large). The adapter's transport produces these.
    #[error("transport failure calling the {endpoint} endpoint: {source}")]
    Transport {
        /// Which endpoint was being called.
        endpoint: Endpoint,
        /// What the transport reported.
        source: TransportError,
    },
    /// The session store failed.
    #[error("session store failure: {0}")]
    Store(#[from] StoreError),
    /// The request has no logged-in session, or its access token expired and cannot be
    /// refreshed: the user has to log in (again). The message says which.
    #[error("login required: {0}")]
    LoginRequired(&'static str),
    /// A bearer token presented to a protected API was refused (RFC 6750).
    #[error("bearer token refused: {0}")]
    Bearer(#[from] BearerError),
    /// A protocol machine was driven out of order by the code embedding the core (a bug in
    /// that code, not in what the provider or the browser sent).
    #[error("API misuse: {0}")]
    Misuse(#[from] Misuse),
    /// The logged-in user's claims do not fit the type a route reads them into
    /// ([`UserSession::claims`](crate::UserSession::claims)): a claim it needs is missing or
    /// of another type.
    #[error(transparent)]
    Claims(#[from] crate::claims::ClaimsError),
}

/// Ways of driving a protocol machine (a callback exchange, a refresh) out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// `start` was called on a machine that had already started.
    #[error("{0} started twice")]
    StartedTwice(&'static str),
    /// `resume` was called when the machine was not waiting for a response.
    #[error("{0} resumed without a request in flight")]
    ResumedWithoutRequest(&'static str),
    /// Keys were handed to a machine that had not asked for a key set.
    #[error("{0} given keys without a key set request")]
    KeysWithoutRequest(&'static str),
    /// The machine was driven on after it finished.
    #[error("{0} driven after it finished")]
    Finished(&'static str),
    /// A [`Flow`](crate::Flow) was polled before its last action was answered.
    #[error("a flow was polled before its last action was answered")]
    Unanswered,
    /// A [`Flow`](crate::Flow) was given an answer of another kind than its last action asked
    /// for (or with no action outstanding).
    #[error("a flow was given {0} it did not ask for")]
    UnexpectedAnswer(&'static str),
    /// A login was given one of the protocol's own parameters (`state`, `nonce`,
    /// `redirect_uri`, PKCE...), which the core sets itself.
    #[error("the login parameter `{0}` is set by the protocol and cannot be overridden")]
    ReservedParameter(&'static str),
}

impl Error {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            field,
            reason: reason.into(),
        }
    }

    /// The OAuth-style `error` code that the error view receives.
    pub fn error_code(&self) -> &str {
        match self {
            Error::Provider(e) => &e.error,
            other => other.bounded_error_code(),
        }
    }

    /// [`error_code`](Self::error_code) from a closed set, fit for a metrics label or a span
    /// field: a provider's `error` that no OAuth 2.0 or OpenID Connect specification registers
    /// becomes `provider_error` (the provider, or anyone holding a login cookie, chooses that
    /// text; the description keeps it, escaped).
    pub fn bounded_error_code(&self) -> &'static str {
        match self {
            Error::Provider(e) => REGISTERED_ERRORS
                .iter()
                .find(|code| **code == e.error)
                .copied()
                .unwrap_or("provider_error"),
            Error::Protocol(ProtocolError::UnsolicitedResponse(_)) => "unsolicited_response",
            Error::Protocol(ProtocolError::StateMismatch) => "invalid_state",
            Error::Protocol(ProtocolError::CrossSiteRequest) => "cross_site_request",
            Error::Protocol(ProtocolError::InvalidCsrfToken) => "invalid_csrf_token",
            Error::Protocol(ProtocolError::MethodNotAllowed(_)) => "invalid_request",
            Error::Protocol(_) => "invalid_response",
            Error::Config { .. } => "configuration_error",
            Error::Transport { .. } => "provider_unreachable",
            Error::Store(_) => "session_store_unavailable",
            Error::LoginRequired(_) => "login_required",
            Error::Bearer(e) => e.error_code(),
            Error::Misuse(_) => "internal_error",
            Error::Claims(_) => "insufficient_claims",
        }
    }

    /// A human-readable description for the error view. Never contains secrets.
    pub fn error_description(&self) -> String {
        match self {
            Error::Provider(e) => match &e.error_description {
                Some(d) => LogSafe(d).to_string(),
                None => format!("the provider refused the request ({})", LogSafe(&e.error)),
            },
            other => other.to_string(),
        }
    }

    /// The HTTP status an error page for this error should carry.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Error::Provider(e) if e.error == "access_denied" => StatusCode::FORBIDDEN,
            Error::Provider(_) => StatusCode::UNAUTHORIZED,
            Error::Protocol(ProtocolError::CrossSiteRequest | ProtocolError::InvalidCsrfToken) => {
                StatusCode::FORBIDDEN
            }
            Error::Protocol(ProtocolError::MethodNotAllowed(_)) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Protocol(_) => StatusCode::BAD_REQUEST,
            Error::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Transport { .. } => StatusCode::BAD_GATEWAY,
            Error::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::LoginRequired(_) => StatusCode::UNAUTHORIZED,
            Error::Bearer(e) => e.status(),
            Error::Misuse(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Claims(_) => StatusCode::FORBIDDEN,
        }
    }
}

/// An error response from the provider (RFC 6749 4.1.2.1 and 5.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[non_exhaustive]
pub struct ProviderError {
    /// The `error` code, e.g. `access_denied` or `invalid_grant`.
    pub error: String,
    /// The optional `error_description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl ProviderError {
    /// A provider's `error` with its optional `error_description`.
    pub fn new(error: impl Into<String>, error_description: Option<String>) -> Self {
        ProviderError {
            error: error.into(),
            error_description,
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{}: {}", LogSafe(&self.error), LogSafe(d)),
            None => write!(f, "{}", LogSafe(&self.error)),
        }
    }
}

/// The ways a response can break the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A callback arrived that this browser session never started, or that was already used.
    #[error("unsolicited authentication response: {0}")]
    UnsolicitedResponse(&'static str),
    /// The `state` parameter does not match any pending login.
    #[error("the state parameter does not match the login in progress")]
    StateMismatch,
    /// A parameter that must be there is missing.
    #[error("missing parameter `{0}`")]
    MissingParameter(&'static str),
    /// A parameter appeared more than once.
    #[error("parameter `{}` appears more than once", LogSafe(.0))]
    DuplicateParameter(String),
    /// The RFC 9207 `iss` parameter names another provider (mix-up attack).
    #[error("the authorization response was issued by another provider")]
    IssuerMismatch,
    /// The discovery document's `issuer` differs from the configured issuer.
    #[error(
        "the discovery document's issuer `{}` is not the configured issuer `{}`",
        LogSafe(.found),
        LogSafe(.expected)
    )]
    DiscoveryIssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer the document claims.
        found: String,
    },
    /// The response body is not what the endpoint must return.
    #[error("malformed {endpoint} response: {}", LogSafe(.reason))]
    MalformedResponse {
        /// The endpoint.
        endpoint: Endpoint,
        /// What was wrong (a serde path and message, never the body itself).
        reason: String,
    },
    /// The endpoint answered with an unexpected HTTP status and no OAuth error body.
    #[error("the {endpoint} endpoint answered HTTP {status}")]
    UnexpectedStatus {
        /// The endpoint.
        endpoint: Endpoint,
        /// The status code.
        status: u16,
    },
    /// The ID token failed validation.
    #[error("invalid ID token: {0}")]
    IdToken(#[from] IdTokenError),
    /// The userinfo `sub` differs from the ID token's (OIDC Core 5.3.2).
    #[error("the userinfo subject does not match the ID token subject")]
    UserinfoSubjectMismatch,
    /// A signed userinfo response (`application/jwt`) failed verification: its signature,
    /// `iss` or `aud` (OIDC Core 5.3.2).
    #[error("invalid signed userinfo response: {0}")]
    SignedUserinfo(IdTokenError),
    /// The userinfo response is encrypted (a JWE), and this provider's configuration asks for
    /// no encryption (see `userinfo_encrypted_response`).
    #[error("the userinfo response is encrypted (JWE), which this client did not configure")]
    EncryptedUserinfo,
    // Issue 18 (J): JARM and encrypted responses.
    /// A JWT-secured authorization response (JARM) was refused: its signature, `iss`, `aud`
    /// or `exp`, or the response was not the JWT the login asked for.
    #[error("invalid JWT authorization response (JARM): {0}")]
    Jarm(IdTokenError),
    /// An encrypted ID token or userinfo response (OpenID Connect Core 10.2) was refused, or
    /// one that should have been encrypted was not.
    #[error("encrypted {what}: {error}")]
    Encryption {
        /// What was refused: `ID token` or `userinfo response`.
        what: &'static str,
        /// Why.
        error: crate::jwe::JweError,
    },
    /// The return URL is not on the app's origin.
    #[error("the return URL is not on this application's origin")]
    OffOriginReturn,
    /// The provider's metadata lists an endpoint that does not use https (loopback hosts
    /// excepted): calling it would send client credentials, codes or tokens in clear.
    #[error("the provider's `{field}` must use https (http only on loopback hosts): {url}")]
    InsecureEndpoint {
        /// The metadata field, such as `token_endpoint`.
        field: String,
        /// The URL it lists (a provider's public endpoint, never a secret).
        url: String,
    },
    /// With several providers, an authorization response arrived at the redirect URI of
    /// another provider than the one its login was started with (RFC 9700 4.4.2: a mix-up
    /// attack, or a provider sending its answer to the wrong redirect URI).
    #[error("the response arrived at the redirect URI of another provider than the login's")]
    RedirectUriMismatch,
    /// A state-changing request (a logout confirmation) came from a page of another site, as
    /// its `Sec-Fetch-Site`, `Origin` or `Referer` header says: possible cross-site request
    /// forgery.
    #[error("the request came from another site")]
    CrossSiteRequest,
    /// A logout confirmation without a session, or whose CSRF token is missing, duplicated or
    /// not this session's.
    #[error("the logout confirmation is missing or invalid: log out again from the app")]
    InvalidCsrfToken,
    /// A route was called with a method it does not take; the text names those it takes.
    #[error("this route takes {0}")]
    MethodNotAllowed(&'static str),
    /// A logout sent by the provider (back-channel or front-channel) was refused.
    #[error("logout refused: {0}")]
    ProviderLogout(#[from] LogoutError),
    /// Issue 18 (D): a DPoP (RFC 9449) exchange with the provider went wrong.
    #[error("DPoP: {0}")]
    Dpop(#[from] DpopError),
}

/// Why a login cookie (a login in progress, held by the browser) was ignored. The request is
/// then treated as if the cookie were absent: a callback needing it is an unsolicited response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginCookieError {
    /// Longer than any login cookie this library writes.
    #[error("the login cookie is too large")]
    TooLarge,
    /// Not encrypted and authenticated with this app's key (tampered, forged, another app's).
    #[error("the login cookie cannot be decrypted")]
    Undecryptable,
    /// Decrypted, but not a login, or stored under another login's name.
    #[error("the login cookie is malformed")]
    Malformed,
    /// Older than the pending-login lifetime.
    #[error("the login cookie has expired")]
    Expired,
}

/// Why an ID token was refused (OpenID Connect Core 3.1.3.7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a well-formed JWS compact serialisation.
    #[error("malformed token: {}", LogSafe(.0))]
    Malformed(String),
    /// The header's `alg` is not on the allow-list.
    #[error("algorithm `{}` is not allowed", LogSafe(.0))]
    AlgorithmNotAllowed(String),
    /// No key in the provider's JWKS matches the token, even after fetching it again.
    #[error("no matching key in the provider's JWKS")]
    UnknownKey,
    /// Several keys match and the token has no `kid`.
    #[error("the token has no kid and several keys match")]
    AmbiguousKey,
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// `iss` differs from the provider's issuer.
    #[error("issuer mismatch")]
    Issuer,
    /// `aud` does not contain the client id.
    #[error("audience does not contain this client")]
    Audience,
    /// `azp` is missing where required or names another client.
    #[error("authorized party (azp) mismatch")]
    AuthorizedParty,
    /// `exp` is in the past (beyond the allowed skew).
    #[error("token expired")]
    Expired,
    /// `iat` is in the future (beyond the allowed skew) or unreasonably old.
    #[error("issued-at time out of bounds")]
    IssuedAt,
    /// `nbf` is in the future (beyond the allowed skew): the token is not valid yet.
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    /// `max_age` was requested and `auth_time` is older than it allows (beyond the skew).
    #[error("the user's authentication is older than the requested max_age")]
    AuthenticationTooOld,
    /// `acr_values` were requested and `acr` is not one of them.
    #[error("the authentication context class (acr) is not one requested")]
    AuthenticationContext,
    /// `nonce` missing or not the one sent.
    #[error("nonce mismatch")]
    Nonce,
    /// A required claim is missing.
    #[error("missing claim `{0}`")]
    MissingClaim(&'static str),
    /// `at_hash` missing where required or wrong.
    #[error("at_hash mismatch")]
    AccessTokenHash,
    /// `c_hash` missing where required or wrong.
    #[error("c_hash mismatch")]
    CodeHash,
    /// A later ID token (refresh, hybrid token endpoint) does not match the first.
    #[error("the new ID token does not match the session's ({0})")]
    SubjectChanged(&'static str),
    /// With a tenant issuer template, the `tid` claim is not a plain tenant id (it holds `/`,
    /// `?`, `#`, `{` or other characters that could change the issuer URL).
    #[error("the tid claim is not a plain tenant id")]
    InvalidTenant,
    /// With a tenant allow-list, the token's tenant (`tid`) is not on it.
    #[error("the token's tenant is not allowed")]
    TenantNotAllowed,
}

/// Why a logout sent by the provider (OpenID Connect Back-Channel or Front-Channel Logout 1.0)
/// was refused. Nothing is ended when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// The logout token fails a rule it shares with ID tokens (signature, `iss`, `aud`, time
    /// claims, a malformed or missing claim).
    #[error("invalid logout token: {0}")]
    Token(IdTokenError),
    /// The token does not carry the back-channel-logout event.
    #[error("the token carries no back-channel logout event")]
    MissingEvent,
    /// The token carries a `nonce`, which logout tokens must not (an ID token, say).
    #[error("a logout token must not carry a nonce")]
    Nonce,
    /// The `typ` header names another kind of JWT.
    #[error("the token's typ is not logout+jwt")]
    Type,
    /// Neither `sid` nor `sub` says whom to log out.
    #[error("the logout names neither a sid nor a sub")]
    NoSubject,
    /// The token was issued too long ago.
    #[error("the logout token is too old")]
    TooOld,
    /// This token was used before.
    #[error("the logout token was already used")]
    Replayed,
    /// No configured provider has this issuer.
    #[error("no configured provider has this issuer")]
    UnknownIssuer,
}

/// Why a bearer token was refused, as RFC 6750 section 3.1 classifies it. Descriptions never
/// contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// The request carries no bearer token (the challenge then has no error code).
    #[error("the request has no bearer token")]
    Missing,
    /// The request is malformed (e.g. several `Authorization` headers): `400`.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The token is malformed, expired, revoked, wrongly signed, or for another audience: `401`.
    #[error("invalid token: {}", LogSafe(.0))]
    InvalidToken(String),
    /// The token is valid but lacks these scopes: `403`.
    #[error("the token lacks the scope `{}`", LogSafe(&.0.join(" ")))]
    InsufficientScope(Vec<String>),
    /// Issue 18 (D): the request's DPoP proof (RFC 9449) is missing, malformed, for another
    /// request or token, or replayed: `401` `invalid_dpop_proof`.
    #[error("invalid DPoP proof: {}", LogSafe(.0))]
    InvalidDpopProof(String),
}

/// Issue 18 (D): why a DPoP exchange with the provider (RFC 9449) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The token response to a request with a DPoP proof has another `token_type` than
    /// `DPoP`: the token is not bound to the key, and a bearer token was not asked for.
    #[error(
        "the provider issued a token that is not bound to the DPoP key (token_type is not DPoP)"
    )]
    NotBound,
    /// The access token's `cnf.jkt` names another key than this session's.
    #[error("the access token is bound to another key than this session's")]
    BoundToAnotherKey,
    /// The DPoP key could not be made or used (the reason never carries the key).
    #[error("the DPoP key cannot be used: {}", LogSafe(.0))]
    Key(String),
}

impl BearerError {
    /// The RFC 6750 `error` code. A request without a token gets `missing_token` in the JSON
    /// body only: RFC 6750 3.1 gives it no error code, so its challenge carries none.
    pub fn error_code(&self) -> &'static str {
        match self {
            BearerError::Missing => "missing_token",
            BearerError::InvalidToken(_) => "invalid_token",
            BearerError::InvalidRequest(_) => "invalid_request",
            BearerError::InsufficientScope(_) => "insufficient_scope",
            BearerError::InvalidDpopProof(_) => "invalid_dpop_proof",
        }
    }

    /// The HTTP status: `400`, `401` or `403`.
    pub fn status(&self) -> http::StatusCode {
        match self {
            BearerError::Missing
            | BearerError::InvalidToken(_)
            | BearerError::InvalidDpopProof(_) => http::StatusCode::UNAUTHORIZED,
            BearerError::InvalidRequest(_) => http::StatusCode::BAD_REQUEST,
            BearerError::InsufficientScope(_) => http::StatusCode::FORBIDDEN,
        }
    }
}

/// The provider endpoint a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `authorization_endpoint` (the response that comes back through the browser)
    Authorization,
    /// `/.well-known/openid-configuration`
    Discovery,
    /// `jwks_uri`
    Jwks,
    /// `token_endpoint`
    Token,
    /// `userinfo_endpoint`
    Userinfo,
    /// `registration_endpoint`
    Registration,
    /// `introspection_endpoint`
    Introspection,
    /// `revocation_endpoint` (RFC 7009)
    Revocation,
    /// `pushed_authorization_request_endpoint` (RFC 9126)
    PushedAuthorization,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::Authorization => "authorization",
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "JWKS",
            Endpoint::Token => "token",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Registration => "registration",
            Endpoint::Introspection => "introspection",
            Endpoint::Revocation => "revocation",
            Endpoint::PushedAuthorization => "pushed authorization request",
        })
    }
}

/// A failure reported by the adapter's HTTP transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection could not be made.
    #[error("connection failed: {}", LogSafe(.0))]
    Connect(String),
    /// The call did not finish in time.
    #[error("timed out")]
    Timeout,
    /// The response body was larger than the configured cap.
    #[error("response body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// Anything else.
    #[error("{}", LogSafe(.0))]
    Other(String),
}

/// A failure reported by a session store. Its text is escaped when displayed, since a store
/// may quote what its backend said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", LogSafe(&self.message))]
#[non_exhaustive]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store failure described by `message` (never a token or a record's content: it is
    /// logged).
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
        }
    }

    /// What the store said.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider's registered code is kept; any other text (which whoever holds a login cookie
    /// may put in a callback's `error`) becomes one value, so a metrics label stays bounded.
    #[test]
    fn bounded_codes_come_from_a_closed_set() {
        let provider = |code: &str| Error::Provider(ProviderError::new(code, None));
        assert_eq!(
            provider("access_denied").bounded_error_code(),
            "access_denied"
        );
        assert_eq!(
            provider("use_dpop_nonce").bounded_error_code(),
            "use_dpop_nonce"
        );
        for minted in ["made_up_1", "access_denied\n", "<script>", ""] {
            assert_eq!(provider(minted).bounded_error_code(), "provider_error");
        }
        assert_eq!(
            provider("made_up_1").error_code(),
            "made_up_1",
            "the view still shows it"
        );
        assert_eq!(
            Error::Protocol(ProtocolError::StateMismatch).bounded_error_code(),
            "invalid_state"
        );
    }
}
