//! # Observability
//!
//! Every operation of [`RelyingParty`](crate::RelyingParty) that the protocol cares about runs
//! inside a [`tracing`] span, so every adapter (`oidc-axum`, `oidc-rocket`, `oidc-warp`) and an
//! app on the bare runtime get the same spans. The driver's own events (a call to the provider
//! that failed, with its endpoint) and the core's happen inside them.
//!
//! | Span (level `INFO`, target `oidc_runtime::rp`) | Operation |
//! |---|---|
//! | `oidc.login` | [`login`](crate::RelyingParty::login), [`login_with`](crate::RelyingParty::login_with), the login route |
//! | `oidc.callback` | the redirect endpoint ([`handle_redirect`](crate::RelyingParty::handle_redirect), [`handle`](crate::RelyingParty::handle)) |
//! | `oidc.refresh` | [`valid_access_token`](crate::RelyingParty::valid_access_token), [`require_access_token`](crate::RelyingParty::require_access_token) (a valid access token, refreshed when due) |
//! | `oidc.logout` | [`logout`](crate::RelyingParty::logout), [`confirm_logout`](crate::RelyingParty::confirm_logout), the logout route |
//! | `oidc.bearer` | [`authorize_bearer`](crate::RelyingParty::authorize_bearer), and [`session_or_bearer`](crate::RelyingParty::session_or_bearer) for a request with an `Authorization` header |
//! | `oidc.backchannel_logout`, `oidc.frontchannel_logout` | the logouts the provider sends |
//!
//! Fields:
//! - `provider`: the configured name of the provider, when the operation names one (a login)
//!   or its path does (a redirect endpoint no other provider shares); absent otherwise. Never
//!   a name taken from the request that is not configured.
//! - `outcome`, recorded at the end: `ok`; `login_required` when a protected request is
//!   answered with a login redirect; the error code, from a closed set
//!   ([`bounded_error_code`](oidc_core::Error::bounded_error_code): a provider's unregistered
//!   `error` is `provider_error`), for the methods returning an
//!   [`Error`](oidc_core::Error); for an error page, the same code (carried as
//!   [`ErrorCode`](oidc_core::ErrorCode) in the response's extensions: `invalid_state`,
//!   `access_denied`...); for another response, a code from its status class (`bad_request`,
//!   `unauthorized`, `forbidden`, `method_not_allowed`, `payload_too_large`, `server_error`,
//!   `bad_gateway`...);
//!   `cancelled` when the request went away before the end (a flow that
//!   [must finish](oidc_core::Flow::must_finish) then goes on in a task of its own, outside
//!   the span).
//! - `duration_ms`: the time from the start of the operation to its end.
//!
//! No span field holds a token, an authorization code, a secret, a cookie or a session id:
//! the outcome is a code, never the value.
//!
//! Turning them on, with `tracing-subscriber`'s `env-filter` feature
//! (`RUST_LOG=oidc_runtime=info` shows these spans; `oidc_core=debug` adds the core's detail):
//!
//! ```
//! use tracing_subscriber::{fmt, fmt::format::FmtSpan, EnvFilter};
//!
//! let _ = fmt()
//!     .with_env_filter(EnvFilter::new("oidc_runtime=info"))
//!     // One line per operation when it closes, with its fields and timing.
//!     .with_span_events(FmtSpan::CLOSE)
//!     .try_init();
//! ```
