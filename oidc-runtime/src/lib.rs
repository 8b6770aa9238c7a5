//! # oidc-runtime
//!
//! The runtime that drives [`oidc_core`]: a transport, a session store, and the coordination
//! of concurrent requests, on tokio. The core decides everything and performs nothing; this
//! crate performs what it asks for. Every adapter (`oidc-axum`, `oidc-rocket`, `oidc-warp`)
//! uses it and only translates requests between its framework and `http`; an app on another
//! tokio framework can use [`RelyingParty`] the same way.
//!
//! - [`RelyingParty`]: the async relying party, built with [`RelyingParty::builder`]
//!   (the core's settings, plus a [`Transport`], a [`SessionStore`], a [`Clock`] and a
//!   [`Random`] source);
//! - [`ReqwestTransport`] ([`default_transport`]): HTTP with timeouts, a body-size cap, no
//!   redirects, no cookies;
//! - [`SessionStore`], and [`MemoryStore`], the bounded in-memory default (`oidc-redis`
//!   provides a shared one);
//! - [`MAX_CALLBACK_BODY`], the body cap the adapters apply to the relying party's routes;
//! - [`Config`], the relying party's configuration as data (serde, or the environment);
//! - [`observability`]: the tracing span of each operation, and how to read them;
//! - [`prelude`], the names every adapter re-exports.
//!
//! ```no_run
//! use oidc_runtime::{ClientMetadata, ProviderConfig, RelyingParty};
//!
//! # async fn run(parts: http::request::Parts) -> Result<(), Box<dyn std::error::Error>> {
//! let rp = RelyingParty::builder("https://app.example")
//!     .provider("default", ProviderConfig::discover("https://accounts.example.com")
//!         .client(ClientMetadata::new("my-app", "s3cret"))
//!         .build()?)
//!     .transport(oidc_runtime::default_transport()?)
//!     .build()?;
//! match rp.authenticate(&parts, None).await {
//!     Ok(user) => println!("hello {}", user.subject()),
//!     Err(login) => println!("answer with the login redirect: {}", login.status()),
//! }
//! # Ok(()) }
//! ```
//!
//! ## The driver loop
//! Each async method of [`RelyingParty`] starts the core's flow of the same name with a
//! [`Context`](oidc_core::Context) (the [`Clock`]'s time and 32 fresh bytes of [`Random`]) and
//! drives it: it polls the flow, performs the [`Action`](oidc_core::Action) it returns and
//! feeds the [`Answer`](oidc_core::Answer) back, until the flow is done.
//!
//! - `Send`: the request goes out through the [`Transport`]. A transport error is logged here
//!   (a warning naming the endpoint) and handed to the flow like any answer: the flow decides
//!   what it means (the error view, a cached copy of the metadata).
//! - `Load`, `Save`, `Delete`, `MarkSpent`: the [`SessionStore`].
//! - `Wait`: see below.
//! - `Done`: the outcome, returned to the caller.
//!
//! A protected request of a logged-in user, the most frequent call by far, is served without
//! a flow: [`authenticate`](RelyingParty::authenticate) asks the core which session to read
//! ([`session_lookup`](oidc_core::RelyingParty::session_lookup)), reads it, and the core
//! decides by the rule its flow applies; anything else (no session, a login to start, a
//! silent refresh, a store error) goes through the flow.
//!
//! ### Why flows wait
//! The flows of one relying party share its provider state, which the core keeps (metadata,
//! registered client, key sets, the token refresh in progress for each session). Fetches
//! that concurrent requests would repeat are single-flight, and the core decides that as
//! data: a flow that needs what another flow is already fetching (a key set, discovery, a
//! session's refresh: with rotating refresh tokens a second refresh would fail with
//! `invalid_grant` and log the user out) returns `Wait` instead of fetching again. The
//! runtime parks it on a [`tokio::sync::Notify`] shared by the relying party's flows. Every
//! answer given to any flow, and every flow that ends or is dropped, notifies the waiting
//! ones, which poll again and decide from what changed (the keys arrived, the refresh was
//! saved, the fetching flow went away and its claim with it). The wait is registered before
//! the poll that returned `Wait`, so a notification in between is not lost; a 100 ms timeout
//! backs it up for changes this runtime does not see (a flow of the same core driven by other
//! code through [`RelyingParty::core`]). The coordination is per process: instances sharing a
//! session store each coordinate their own requests (the store's atomic
//! [`mark_spent`](SessionStore::mark_spent) keeps a login's `state` single-use across them).
//!
//! ### Why a flow may outlive its request
//! A flow can send a request whose effect only it can save: a token refresh rotates the
//! refresh token at the provider, and only the flow that receives the answer can store the
//! new one. If the app's request is dropped at that point (the client disconnected, a timeout
//! layer gave up), abandoning the flow would leave the spent refresh token in the session: the
//! next refresh would get `invalid_grant` (providers with reuse detection revoke the whole
//! grant) and the user would be logged out. So a flow is driven inside a guard; dropped with
//! the flow unfinished and [`must_finish`](oidc_core::Flow::must_finish), the guard spawns a
//! task on the current tokio runtime that takes the flow, with the answer still on its way
//! (that answer holds the new refresh token), and drives it to the end. Outside a tokio
//! runtime there is nowhere to run it, which is logged as a warning.
//!
//! The driver needs a tokio runtime with the time driver (the `Wait` backstop), as every
//! adapter's framework provides; [`ReqwestTransport`] needs tokio anyway.
//!
//! ## Features
//! - `reqwest` (default): [`ReqwestTransport`] and [`default_transport`]. Without it the
//!   crate pulls in no HTTP client: give the builder a [`Transport`] of your own.
//! - `rustls` (default): the transport's TLS through rustls on the ring crypto provider (TLS
//!   1.2 and 1.3, the server's certificate verified against the system's roots). reqwest's own
//!   default provider, aws-lc-rs, is left out: it would link a second C crypto library beside
//!   the OpenSSL that josekit uses. Nothing is installed as rustls's process-wide provider.
//! - `native-tls`: the transport's TLS through native-tls (OpenSSL on Linux) instead. It wins
//!   when both are on; `default-features = false, features = ["native-tls"]` leaves rustls out.
//!
//! The adapters forward the same three features.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "reqwest")]
use std::sync::Arc;

mod clock;
pub mod config;
mod driver;
pub mod observability;
mod random;
mod rp;
mod store;
#[cfg(feature = "reqwest")]
mod tls;
mod transport;

pub use clock::{Clock, SystemClock};
pub use config::Config;
pub use random::{OsRandom, Random};
pub use rp::{Login, RelyingParty, RelyingPartyBuilder};
pub use store::{MemoryStore, SessionStore};
pub use transport::{BoxFuture, Transport};
#[cfg(feature = "reqwest")]
pub use transport::{ReqwestTransport, ReqwestTransportBuilder};

// The core's types this crate's API speaks, so that depending on this crate is enough.
pub use oidc_core::{
    self, http, log_safe, AssertionAudience, BearerRequirements, BearerValidation, Bytes,
    ClaimsError, ClientAuthMethod, ClientMetadata, ClientPrivateKey, ClientRegistrationInfo,
    Endpoint, Error, ErrorInfo, ErrorView, HtmlErrorView, IssuerPolicy, JsonErrorView, LoginParams,
    Principal, ProviderConfig, ProviderConfigBuilder, ProviderMetadata, Response, Route, Secret,
    SessionRecord, StandardClaims, StoreError, TokenIdentity, TransportError, UserSession,
    UserinfoMethod,
};

/// The largest request body the relying party's routes read (a `form_post` response, a
/// logout confirmation). The adapters refuse a larger one with `413` before the core sees it:
/// an anonymous request must not make the app buffer an unbounded body.
pub const MAX_CALLBACK_BODY: usize = 64 * 1024;

/// The default transport: [`ReqwestTransport`] with its defaults (10 s timeout, 1 MiB body
/// cap).
#[cfg(feature = "reqwest")]
pub fn default_transport() -> Result<Arc<dyn Transport>, TransportError> {
    Ok(Arc::new(ReqwestTransport::new()?))
}

/// The names an app using an adapter needs: each adapter re-exports all of them
/// (`pub use oidc_runtime::prelude::*`), so the list is kept here once.
pub mod prelude {
    #[cfg(feature = "reqwest")]
    pub use crate::default_transport;
    pub use crate::{
        oidc_core, AssertionAudience, BearerRequirements, BearerValidation, ClientAuthMethod,
        ClientMetadata, ClientPrivateKey, Error, ErrorInfo, ErrorView, HtmlErrorView, IssuerPolicy,
        JsonErrorView, LoginParams, MemoryStore, Principal, ProviderConfig, ProviderMetadata,
        RelyingParty, RelyingPartyBuilder, Secret, SessionStore, StandardClaims, TokenIdentity,
        UserSession, UserinfoMethod,
    };
}
