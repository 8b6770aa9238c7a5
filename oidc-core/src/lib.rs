//! # oidc-core
//!
//! An OpenID Connect relying party as a sans-IO state machine. It never opens a socket, reads
//! the clock or draws random numbers by itself: HTTP calls come out as `http::Request` values and
//! their answers go back in as `http::Response` values, and time and randomness are parameters.
//! That makes every protocol path testable without a network, and lets thin adapters
//! (`oidc-axum`, ...) fit it to a web framework.
//!
//! Two levels:
//! - the protocol pieces, each a pure function or a small state machine:
//!   [`discovery`], [`login`] (the authentication request), [`callback`] (the code exchange and
//!   validation), [`id_token`], [`jwks`], [`token`], [`userinfo`]; for access tokens,
//!   [`refresh`], [`bearer`] (RFC 6750), [`introspection`] (RFC 7662), [`access_token`]
//!   (RFC 9068 JWT access tokens) and [`client_credentials`];
//! - [`RelyingParty`], which wires them to a [`SessionStore`], a [`Transport`], a [`Clock`] and a
//!   [`Random`] source, takes the app's `http` requests, and returns the responses to send.
//!
//! ```
//! use oidc_core::{AuthorizationResponse, ProtocolError, Error};
//!
//! // Duplicated parameters in a callback are refused outright.
//! let err = AuthorizationResponse::parse(b"code=a&state=x&state=y").unwrap_err();
//! assert!(matches!(err, Error::Protocol(ProtocolError::DuplicateParameter(_))));
//! ```
//!
//! ## Security
//! ID tokens are checked per OpenID Connect Core 3.1.3.7: signature against the provider's JWKS
//! with an explicit algorithm allow-list (never `none`, never HMAC), `iss`, `aud`, `azp`, `exp`
//! and `iat` with a bounded skew (30 s by default), and `nonce`. `state` is compared in constant
//! time and is single-use; PKCE S256 is on by default; the discovery document's `issuer` must
//! equal the configured issuer; the RFC 9207 `iss` response parameter is checked; the session id
//! rotates on login; return URLs are same-origin paths only. Secrets and tokens are wrapped in
//! [`Secret`], whose `Debug` prints nothing.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access_token;
pub mod bearer;
pub mod callback;
pub mod client_credentials;
pub mod config;
mod cookies;
pub mod discovery;
pub mod env;
pub mod error;
pub mod error_view;
pub mod id_token;
pub mod introspection;
pub mod jwks;
pub mod log_safe;
pub mod login;
mod login_cookie;
pub mod manual;
pub mod metadata;
mod provider;
pub mod refresh;
pub mod registration;
pub mod rp;
pub mod secret;
pub mod session;
pub mod store;
pub mod token;
pub mod userinfo;
mod wire;

pub use bearer::{BearerRequirements, BearerValidation, Principal, TokenIdentity};
pub use callback::{
    drive, AuthorizationResponse, CodeExchange, Exchange, LoginOutcome, Outbound, Step,
};
pub use config::{ProviderConfig, ProviderConfigBuilder, ResponseMode, ResponseType};
pub use env::{BoxFuture, Clock, OsRandom, Random, SeededRandom, SystemClock, Transport};
pub use error::{
    BearerError, Endpoint, Error, IdTokenError, LoginCookieError, Misuse, ProtocolError,
    ProviderError, Result, StoreError, TransportError,
};
pub use error_view::{ErrorInfo, ErrorView, HtmlErrorView, JsonErrorView};
pub use id_token::IdToken;
pub use log_safe::{log_safe, LogSafe};
pub use metadata::{ClientAuthMethod, ClientMetadata, ProviderMetadata};
pub use registration::ClientRegistrationInfo;
pub use rp::{RelyingParty, RelyingPartyBuilder, Response, Route};
pub use secret::Secret;
pub use session::{PendingLogin, SessionRecord, UserSession};
pub use store::{MemoryStore, SessionStore};

pub use bytes::Bytes;
pub use http;
