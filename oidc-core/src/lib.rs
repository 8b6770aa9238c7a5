//! # oidc-core
//!
//! An OpenID Connect relying party as a sans-IO state machine. It never opens a socket, reads
//! the clock, draws random numbers or awaits anything: HTTP calls and session-store operations
//! come out as [`Action`]s, their results go back in as [`Answer`]s, and the time and entropy
//! are parameters ([`Context`]). That makes every protocol path testable without a network,
//! and lets one runtime (`oidc-runtime`, on tokio and reqwest) drive it for three framework
//! adapters (`oidc-axum`, `oidc-rocket`, `oidc-warp`), or your own code drive it in any server.
//!
//! Two levels:
//! - the protocol pieces, each a pure function or a small state machine:
//!   [`discovery`], [`login`] (the authentication request), [`callback`] (the code exchange and
//!   validation), [`id_token`], [`jwks`], [`token`], [`userinfo`]; for access tokens,
//!   [`refresh`], [`bearer`] (RFC 6750), [`introspection`] (RFC 7662), [`access_token`]
//!   (RFC 9068 JWT access tokens), [`client_credentials`] and [`revocation`] (RFC 7009);
//! - [`RelyingParty`], the operations on the app's `http` requests (the redirect endpoint, a
//!   protected route, logout, a bearer-protected API, a token for the app itself), each a
//!   [`Flow`].
//!
//! ## Run loop
//! Start an operation with the request, the time and 32 bytes of entropy; then poll the flow,
//! do what it asks, answer, and poll again until it is [`Action::Done`]. This is the whole
//! contract between the core and its runtime. Here a complete login with the authorization
//! code flow runs by hand, with a map for the session store and canned provider answers (an
//! HTTP client, in a server):
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Instant;
//!
//! use bytes::Bytes;
//! use http::{header, Request, Response};
//! use oidc_core::{
//!     Action, Answer, ClientMetadata, Context, Flow, ProviderConfig, RelyingParty,
//!     SessionRecord,
//! };
//!
//! /// The runtime: one loop for every flow.
//! fn run<T>(
//!     mut flow: Flow<T>,
//!     store: &mut HashMap<String, SessionRecord>,
//!     spent: &mut HashMap<String, Instant>,
//!     send: &mut dyn FnMut(&Request<Bytes>) -> Response<Bytes>,
//! ) -> T {
//!     loop {
//!         match flow.poll() {
//!             Action::Send(out) => flow.answer(Answer::Http(Ok(send(&out.request)))),
//!             Action::Load(id) => flow.answer(Answer::Loaded(Ok(store.get(&id).cloned()))),
//!             Action::Save(id, record) => {
//!                 store.insert(id, record);
//!                 flow.answer(Answer::Stored(Ok(())));
//!             }
//!             // A write-back of a session read before: never brings an ended one back.
//!             Action::Update(id, record) => {
//!                 let present = store.contains_key(&id);
//!                 if present {
//!                     store.insert(id, record);
//!                 }
//!                 flow.answer(Answer::Updated(Ok(present)));
//!             }
//!             Action::Delete(id) => {
//!                 store.remove(&id);
//!                 flow.answer(Answer::Stored(Ok(())));
//!             }
//!             // A logout sent by the provider names a user, not a session id.
//!             Action::DeleteIndexed(key) => {
//!                 store.retain(|_, record| !record.index_keys().contains(&key));
//!                 flow.answer(Answer::Stored(Ok(())));
//!             }
//!             // An insert-if-absent that lasts `ttl` (a lease never released would lock a
//!             // session's refresh out).
//!             Action::MarkSpent(key, ttl) => {
//!                 let now = Instant::now();
//!                 spent.retain(|_, until| *until > now);
//!                 let fresh = !spent.contains_key(&key);
//!                 if fresh {
//!                     spent.insert(key, now + ttl);
//!                 }
//!                 flow.answer(Answer::Marked(Ok(fresh)));
//!             }
//!             Action::Unmark(key) => {
//!                 spent.remove(&key);
//!                 flow.answer(Answer::Stored(Ok(())));
//!             }
//!             // Another flow is fetching what this one needs: poll again once it has.
//!             Action::Wait => std::thread::yield_now(),
//!             // Another process holds this session's refresh: give it time.
//!             Action::Sleep(duration) => std::thread::sleep(duration),
//!             Action::Done(outcome) => return outcome,
//!         }
//!     }
//! }
//!
//! let rp = RelyingParty::builder("https://app.example")
//!     .provider(
//!         "op",
//!         ProviderConfig::discover("https://op.example")
//!             .client(ClientMetadata::new("my-app", "s3cret"))
//!             .build()?,
//!     )
//!     .session_secret([7u8; 32])
//!     .build()?;
//! let (mut store, mut spent) = (HashMap::new(), HashMap::new());
//! let now = 1_700_000_000;
//! # let provider = op::Provider::new(now)?;
//!
//! // 1. A protected page, without a session: the provider is discovered, and the answer is a
//! //    redirect to it, with the login remembered in a cookie of its own.
//! let page = Request::get("/account").body(Bytes::new())?;
//! let (parts, _) = page.into_parts();
//! let flow = rp.authenticate(&parts, None, Context::new(now, [1; 32]));
//! let redirect = run(flow, &mut store, &mut spent, &mut |r| provider.answer(r)).unwrap_err();
//! let location = url::Url::parse(redirect.headers()[header::LOCATION].to_str()?)?;
//! let login_cookie = redirect.headers()[header::SET_COOKIE].to_str()?.split(';').next().unwrap();
//! # let provider = provider.with_nonce(&location);
//!
//! // 2. The provider sends the browser back with a code: the redirect endpoint exchanges it,
//! //    validates the ID token (fetching the provider's keys) and saves the session.
//! let state = location.query_pairs().find(|(k, _)| k == "state").unwrap().1;
//! let callback = Request::get(format!("/redirect_uri?code=c1&state={state}"))
//!     .header(header::COOKIE, login_cookie)
//!     .body(Bytes::new())?;
//! let flow = rp.handle(callback, Context::new(now, [2; 32])).expect("one of its routes");
//! let done = run(flow, &mut store, &mut spent, &mut |r| provider.answer(r));
//! assert_eq!(done.headers()[header::LOCATION], "/account");
//! let session_cookie = done.headers()[header::SET_COOKIE].to_str()?.split(';').next().unwrap();
//!
//! // 3. The page again, with the new session cookie: one load, and the user.
//! let page = Request::get("/account").header(header::COOKIE, session_cookie).body(())?;
//! let (parts, _) = page.into_parts();
//! let flow = rp.authenticate(&parts, None, Context::new(now, [3; 32]));
//! let user = run(flow, &mut store, &mut spent, &mut |r| provider.answer(r)).unwrap();
//! assert_eq!(user.subject(), "alice");
//! # mod op {
//! #     use bytes::Bytes;
//! #     use josekit::{jwk::alg::ed::EdCurve, jws::{EdDSA, JwsHeader}, jwt::{self, JwtPayload}};
//! #     use serde_json::json;
//! #     pub struct Provider { now: u64, nonce: String, jwks: String, signer: josekit::jws::alg::eddsa::EddsaJwsSigner }
//! #     impl Provider {
//! #         pub fn new(now: u64) -> Result<Self, Box<dyn std::error::Error>> {
//! #             let pair = EdDSA.generate_key_pair(EdCurve::Ed25519)?;
//! #             let mut jwk = pair.to_jwk_public_key();
//! #             jwk.set_key_id("k1");
//! #             let jwks = json!({"keys": [serde_json::to_value(jwk.as_ref())?]}).to_string();
//! #             let signer = EdDSA.signer_from_der(pair.to_der_private_key())?;
//! #             Ok(Provider { now, nonce: String::new(), jwks, signer })
//! #         }
//! #         pub fn with_nonce(mut self, url: &url::Url) -> Self {
//! #             self.nonce = url.query_pairs().find(|(k, _)| k == "nonce").unwrap().1.into_owned();
//! #             self
//! #         }
//! #         pub fn answer(&self, request: &http::Request<Bytes>) -> http::Response<Bytes> {
//! #             let op = "https://op.example";
//! #             let body = match request.uri().path() {
//! #                 "/.well-known/openid-configuration" => json!({"issuer": op,
//! #                     "authorization_endpoint": format!("{op}/authorize"),
//! #                     "token_endpoint": format!("{op}/token"), "jwks_uri": format!("{op}/jwks"),
//! #                     "response_types_supported": ["code"], "subject_types_supported": ["public"],
//! #                     "id_token_signing_alg_values_supported": ["EdDSA"]}).to_string(),
//! #                 "/jwks" => self.jwks.clone(),
//! #                 "/token" => {
//! #                     let mut h = JwsHeader::new();
//! #                     h.set_key_id("k1");
//! #                     let claims = json!({"iss": op, "sub": "alice", "aud": "my-app",
//! #                         "exp": self.now + 300, "iat": self.now, "nonce": self.nonce});
//! #                     let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
//! #                     let id_token = jwt::encode_with_signer(&p, &h, &self.signer).unwrap();
//! #                     json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600,
//! #                         "id_token": id_token}).to_string()
//! #                 }
//! #                 _ => "{}".to_owned(),
//! #             };
//! #             http::Response::builder().header("content-type", "application/json")
//! #                 .body(Bytes::from(body)).unwrap()
//! #         }
//! #     }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Several requests at once
//! Flows of one [`RelyingParty`] share what they learn about the providers: the metadata, the
//! registered client, the key set, the introspection and client-credentials caches, held as
//! plain data behind a lock that is taken only inside a poll, never across an answer. One flow
//! fetches what many need; the others get [`Action::Wait`] and find it on their next poll
//! (see [`manual::concurrency`]). A flow can be dropped at any point: what it was fetching for
//! others is handed back, and the session store holds nothing half-written, except after a
//! token refresh was sent, which [`Flow::must_finish`] reports so that a runtime completes it.
//!
//! ## Security
//! ID tokens are checked per OpenID Connect Core 3.1.3.7: signature against the provider's JWKS
//! with an explicit algorithm allow-list (never `none`; HMAC with the client secret only where
//! client and provider agreed on it, see [`signing`]), `iss`, `aud`, `azp`, `exp`
//! and `iat` with a bounded skew (30 s by default), and `nonce`. `state` is compared in constant
//! time and is single-use; PKCE S256 is on by default; the discovery document's `issuer` must
//! equal the configured issuer; the RFC 9207 `iss` response parameter is checked; the session id
//! rotates on login; return URLs are same-origin paths only. Secrets and tokens are wrapped in
//! [`Secret`], whose `Debug` prints nothing. [`manual::security`] maps each threat to its test.
//!
//! ## Guides
//! [`manual::deployment`] (behind a proxy, under a path prefix), [`manual::secrets`] (which
//! secret does what, and rotating them), [`manual::claims`] (custom claims),
//! [`manual::error_pages`] (the error view and its codes), [`manual::concurrency`] (one fetch
//! for many requests), [`manual::instances`] (several instances behind a load balancer: what
//! they share, a checklist) and [`manual::security`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod access_token;
pub mod bearer;
pub mod callback;
pub mod claims;
pub mod client_auth;
pub mod client_credentials;
pub mod config;
mod cookies;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod error_view;
pub mod fapi;
pub mod flow;
pub mod id_token;
pub mod introspection;
pub mod issuer;
pub mod jarm;
pub mod jwe;
pub mod jwks;
pub mod log_safe;
pub mod login;
mod login_cookie;
pub mod logout_token;
pub mod manual;
pub mod metadata;
pub mod par;
mod provider;
mod random;
pub mod refresh;
pub mod registration;
pub mod request_object;
pub mod revocation;
pub mod rp;
pub mod secret;
pub mod session;
pub mod signing;
#[cfg(test)]
mod test_support;
pub mod token;
pub mod userinfo;
mod wire;

pub use bearer::{BearerRequirements, BearerValidation, Principal, TokenIdentity};
pub use callback::{
    drive, AuthorizationResponse, CodeExchange, Exchange, LoginOutcome, Outbound, Step,
};
pub use claims::{ClaimsError, ClaimsSet, StandardClaims};
pub use client_auth::{AssertionAudience, ClientKeyError, ClientPrivateKey};
pub use config::{ProviderConfig, ProviderConfigBuilder, ResponseMode, ResponseType};
pub use error::{
    BearerError, Endpoint, Error, IdTokenError, LoginCookieError, LogoutError, Misuse,
    ProtocolError, ProviderError, Result, StoreError, TransportError,
};
pub use error_view::{ErrorCode, ErrorInfo, ErrorView, HtmlErrorView, JsonErrorView};
pub use flow::{Action, Answer, Context, Flow};
pub use id_token::IdToken;
pub use issuer::IssuerPolicy;
pub use jwe::ClientDecryptionKey;
pub use log_safe::{log_safe, LogSafe};
pub use login::LoginParams;
pub use metadata::{ClientAuthMethod, ClientMetadata, ProviderMetadata};
pub use registration::ClientRegistrationInfo;
pub use rp::{RelyingParty, RelyingPartyBuilder, Response, Route, SessionLookup};
pub use secret::Secret;
pub use session::{PendingLogin, SessionRecord, SharedRegistration, UserSession};
pub use signing::TokenSigning;
pub use userinfo::UserinfoMethod;

pub use bytes::Bytes;
pub use http;
