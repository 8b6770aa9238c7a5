//! `oidc-testkit`: a sans-IO simulated OpenID Provider.
//!
//! [`SimProvider`] takes an [`http::Request<Bytes>`] plus the current time (unix seconds) and
//! returns an [`http::Response<Bytes>`]. It opens no sockets, spawns no tasks and never reads a
//! clock, so tests drive it deterministically in-process; a demo application can also serve it
//! on a TCP port as an embedded development provider with a real HTML login form.
//!
//! It implements discovery, JWKS, the authorization endpoint (all six OpenID Connect response
//! types, `query` / `fragment` / `form_post` response modes, PKCE S256, `prompt=none`, SSO via a
//! `sim_session` cookie), the token endpoint (authorization code and refresh token grants,
//! `client_secret_basic` / `client_secret_post`), UserInfo, RP-initiated logout, dynamic client
//! registration, token introspection and (opt-in) token revocation. ID tokens are signed with
//! josekit: RS256 by default, or any algorithm the relying party accepts ([`SigningAlg`],
//! [`SimProvider::set_signing_algorithm`]).
//!
//! [`Misbehavior`] makes the provider get exactly one thing wrong so a relying party's
//! validation can be tested.
//!
//! **Not for production**: the session cookie is simply the username and any username logs in.
//!
//! **Testing your own app** against it (login, logout and failure paths through axum, Rocket or
//! warp, in-process): see the [`guide`].
//!
//! ```
//! use oidc_testkit::{SimClient, SimProvider};
//!
//! let op = SimProvider::new("https://op.example");
//! op.register_client(SimClient::confidential(
//!     "rp",
//!     "secret",
//!     "https://rp.example/callback",
//! ));
//! let now = 1_700_000_000;
//! let back = op.authorize(
//!     "https://op.example/authorize?response_type=code&client_id=rp\
//!      &redirect_uri=https%3A%2F%2Frp.example%2Fcallback&scope=openid&state=xyz",
//!     "alice",
//!     now,
//! );
//! assert!(back.starts_with("https://rp.example/callback?code="));
//! assert!(back.contains("state=xyz"));
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admin;
pub mod app_api_scenarios;
pub mod apps;
mod authorize;
pub mod basic_example_scenarios;
pub mod channel_logout_scenarios;
mod claims;
mod client_auth;
pub mod client_auth_scenarios;
mod compat;
pub mod demo;
mod dpop;
pub mod dpop_scenarios;
mod encryption;
pub mod encryption_scenarios;
pub mod fapi_scenarios;
pub mod guide;
pub mod hardening_scenarios;
pub mod harness;
pub mod instance_scenarios;
mod jarm;
pub mod jarm_scenarios;
mod keys;
pub mod logout_token;
mod par;
pub mod par_scenarios;
pub mod provider_compat_scenarios;
pub mod redis_scenarios;
pub mod redis_server;
mod revocation;
pub mod revocation_scenarios;
pub mod scenarios;
pub mod secret_rotation_scenarios;
mod token;
pub mod token_scenarios;
pub mod unchanged;
mod util;

#[cfg(test)]
mod debug_redaction;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{Method, Request, Response};
use serde_json::{Map, Value};

pub use crate::compat::TenantIssuer;
pub use crate::encryption::EncryptionMisbehavior;
pub use crate::harness::SeededRandom;
pub use crate::jarm::JarmMisbehavior;
pub use crate::keys::SigningAlg;
use crate::keys::SigningKey;
pub use crate::logout_token::{
    BackchannelLogout, LogoutEvents, LogoutRegistration, LogoutSigning, LogoutTokenSpec,
};
pub use crate::par::{ParCall, ParFailure};
pub use crate::revocation::RevocationCall;

/// A statically registered client (relying party).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimClient {
    /// The client identifier.
    pub client_id: String,
    /// The client secret; `None` for a public client (token endpoint auth method `none`).
    pub client_secret: Option<String>,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs accepted by the end-session endpoint, matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
}

impl SimClient {
    /// A confidential client with one redirect URI and no post-logout redirect URIs.
    pub fn confidential(client_id: &str, client_secret: &str, redirect_uri: &str) -> Self {
        SimClient {
            client_id: client_id.to_owned(),
            client_secret: Some(client_secret.to_owned()),
            redirect_uris: vec![redirect_uri.to_owned()],
            post_logout_redirect_uris: Vec::new(),
        }
    }

    /// A public client (no secret) with one redirect URI and no post-logout redirect URIs.
    pub fn public(client_id: &str, redirect_uri: &str) -> Self {
        SimClient {
            client_id: client_id.to_owned(),
            client_secret: None,
            redirect_uris: vec![redirect_uri.to_owned()],
            post_logout_redirect_uris: Vec::new(),
        }
    }
}

/// One deliberate mistake the provider makes in every later response until cleared with
/// [`Misbehavior::None`].
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Misbehavior {
    /// Behave correctly.
    #[default]
    None,
    /// The authorization endpoint redirects back with `error=...&state=...` (after validating
    /// the client and redirect URI).
    AuthorizeError {
        /// The `error` code.
        error: String,
        /// The optional `error_description`.
        error_description: Option<String>,
    },
    /// Authorization responses echo a different `state`.
    WrongState,
    /// ID tokens carry a different `nonce` (when a nonce was sent).
    WrongNonce,
    /// ID tokens omit the `nonce`.
    OmitNonce,
    /// ID token signature bytes are corrupted.
    BadSignature,
    /// ID tokens are unsigned, with header `alg: none`.
    AlgNone,
    /// ID tokens carry a different `iss`.
    WrongIssuer,
    /// ID tokens carry a different `aud`.
    WrongAudience,
    /// ID tokens carry `aud = [client_id, "other"]` and no `azp`.
    MultipleAudiencesWithoutAzp,
    /// ID tokens carry `aud = [client_id, "other"]` and `azp = "other"`.
    WrongAzp,
    /// ID tokens have `exp` in the past (`now - 600`).
    Expired,
    /// ID tokens have `iat = now + 3600`.
    IssuedInFuture,
    /// ID tokens are signed with a fresh key whose `kid` is not in the JWKS; call
    /// [`SimProvider::rotate_keys`] to publish it.
    UnknownKid,
    /// The token endpoint answers 400 with the JSON body `{"error": error}`.
    TokenEndpointError {
        /// The `error` code.
        error: String,
    },
    /// The token endpoint answers with this status and a non-JSON body (`<html>oops</html>`).
    TokenEndpointStatus(u16),
    /// The token endpoint answers 200 with the body `not json`.
    TokenEndpointNotJson,
    /// UserInfo returns a different `sub`.
    UserinfoSubMismatch,
    /// UserInfo answers with this status and a non-JSON body.
    UserinfoStatus(u16),
    /// UserInfo's JSON names the right `sub`, then a name with a lone surrogate escape, then a
    /// second `sub` (`<user>-other`): a reader stopping at the bad name and one going on to
    /// the last `sub` would disagree on who this is.
    UserinfoSecondSub,
    /// ID tokens name `sub` twice, the right one and then `someone-else`, in a correctly
    /// signed payload.
    IdTokenRepeatedSub,
    /// ID tokens carry an `acr` nested 127 arrays deep in a correctly signed payload: one level
    /// past serde_json's limit counting the claims object, so a stored copy could not be read
    /// back.
    IdTokenNestedPastLimit,
    /// The discovery document's `issuer` differs from the real issuer.
    DiscoveryIssuerMismatch,
    /// The JWKS endpoint answers with this status and a non-JSON body.
    JwksStatus(u16),
    /// ID tokens from the authorization endpoint omit `at_hash` even when an access token is
    /// issued with them.
    OmitAtHash,
    /// ID tokens from the token endpoint name another subject (`someone-else`) than the one
    /// the authorization endpoint's ID token named (a hybrid-flow substitution).
    TokenEndpointOtherSub,
    /// The token endpoint issues no refresh token (authorization code and refresh grants); on
    /// a refresh, the refresh token used stays valid.
    OmitRefreshToken,
    /// ID tokens from the refresh token grant name another subject (`someone-else`).
    RefreshOtherSub,
    /// ID tokens carry `nbf = now + 3600`: not valid yet.
    NotYetValid,
    /// ID tokens carry `auth_time = now - 3600`, whatever `max_age` asked: a provider that
    /// ignores `max_age` and reuses an old login.
    StaleAuthTime,
    /// ID tokens omit `auth_time`, even when `max_age` was requested.
    OmitAuthTime,
    /// ID tokens carry `acr = "urn:sim:other"`, whatever `acr_values` asked.
    WrongAcr,
    /// ID tokens omit `acr`, even when `acr_values` were requested.
    OmitAcr,
    /// ID tokens from the refresh token grant carry another `auth_time` (the refresh time)
    /// than the original login's.
    RefreshOtherAuthTime,
    /// ID tokens are signed with the current key, but their header names this algorithm:
    /// signed with it when the key can make its signature (an RS256 key's token labelled PS256
    /// carries a real RSASSA-PSS signature by that key), else with the key's own algorithm
    /// under the false name (a P-256 key's ES256 signature labelled ES384).
    MislabelledAlg(SigningAlg),
    /// ID tokens are MACed with HS256 keyed with the current signing key's public key (the
    /// octets of its RSA modulus `n`): the algorithm-confusion attack on a relying party that
    /// would pick the key by the token's `alg`.
    HmacWithPublicKey,
    /// ID tokens are MACed with HS256 keyed with the client secret, although the client never
    /// asked for HMAC.
    HmacWithClientSecret,
    /// Signed userinfo responses carry `aud = "another-client"`.
    SignedUserinfoWrongAudience,
    /// Signed userinfo responses carry another `iss`.
    SignedUserinfoWrongIssuer,
    /// Signed userinfo responses have a changed signature.
    SignedUserinfoBadSignature,
}

/// An RFC 9068 JWT access token to mint with [`SimProvider::issue_jwt_access_token`]; the
/// defaults are a valid token, and each field makes it wrong in one way.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtAccessTokenSpec {
    /// `sub`.
    pub subject: String,
    /// `client_id`.
    pub client_id: String,
    /// `aud`.
    pub audience: Vec<String>,
    /// `scope` (space-separated).
    pub scope: String,
    /// Seconds from `now` to `exp`.
    pub lifetime: u64,
    /// The header's `typ` (default `at+jwt`).
    pub typ: String,
    /// `iss` (default: the provider's issuer).
    pub issuer: Option<String>,
    /// Sign with a fresh key that the JWKS does not publish, under the current signing key's
    /// `kid` (a wrongly signed token).
    pub wrong_key: bool,
}

impl JwtAccessTokenSpec {
    /// A valid token for `subject`, issued to `client_id` for `audience` with `scope`, valid
    /// for an hour.
    pub fn new(subject: &str, client_id: &str, audience: &str, scope: &str) -> Self {
        JwtAccessTokenSpec {
            subject: subject.to_owned(),
            client_id: client_id.to_owned(),
            audience: vec![audience.to_owned()],
            scope: scope.to_owned(),
            lifetime: 3600,
            typ: "at+jwt".to_owned(),
            issuer: None,
            wrong_key: false,
        }
    }
}

/// How many requests each endpoint has served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// `GET /.well-known/openid-configuration`.
    pub discovery: u64,
    /// `GET /jwks`.
    pub jwks: u64,
    /// `/authorize` (GET, form POST and [`SimProvider::authorize`]).
    pub authorize: u64,
    /// `POST /token`.
    pub token: u64,
    /// `/userinfo`.
    pub userinfo: u64,
    /// `POST /introspect`.
    pub introspection: u64,
    /// `POST /register`.
    pub registration: u64,
    /// `/logout`.
    pub logout: u64,
}

/// Why [`SimProvider::try_authorize`] could not send the browser back to the client: the
/// provider showed a page instead (unknown client or redirect URI, malformed URL, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotRedirected {
    /// The HTTP status of the page the provider would show.
    pub status: u16,
    /// What the page says.
    pub message: String,
}

impl fmt::Display for NotRedirected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not redirected (HTTP {}): {}", self.status, self.message)
    }
}

impl std::error::Error for NotRedirected {}

/// Immutable configuration derived from the issuer.
pub(crate) struct Config {
    /// The issuer exactly as given.
    pub(crate) issuer: String,
    /// The issuer URL's path without a trailing slash ("" for a root issuer).
    pub(crate) base_path: String,
}

impl Config {
    /// The absolute URL of an endpoint (`path` starts with '/').
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }

    /// The `Path` attribute of the session cookie.
    pub(crate) fn cookie_path(&self) -> &str {
        if self.base_path.is_empty() {
            "/"
        } else {
            &self.base_path
        }
    }
}

/// What an authorization (code, tokens) was granted for.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) scope: String,
    pub(crate) auth_time: u64,
    /// The authentication context class satisfied: the first of the request's `acr_values`.
    pub(crate) acr: Option<String>,
    /// The `claims` request parameter, if any.
    pub(crate) claims: Option<Value>,
    /// The provider session (`sid`) it was granted in; `None` outside a browser login.
    pub(crate) sid: Option<String>,
}

/// An issued authorization code.
#[derive(Debug)]
pub(crate) struct CodeRecord {
    pub(crate) grant: Grant,
    pub(crate) redirect_uri: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) expires_at: u64,
    pub(crate) used: bool,
}

/// An issued access token.
#[derive(Debug)]
pub(crate) struct AccessRecord {
    pub(crate) grant: Grant,
    pub(crate) issued_at: u64,
    pub(crate) expires_at: u64,
    /// The audience, when not the client (client credentials with `audience`, JWT tokens).
    pub(crate) audience: Option<Vec<String>>,
}

/// An issued refresh token.
#[derive(Debug)]
pub(crate) struct RefreshRecord {
    pub(crate) grant: Grant,
    pub(crate) issued_at: u64,
}

/// Mutable provider state, behind one mutex.
pub(crate) struct State {
    pub(crate) clients: HashMap<String, SimClient>,
    pub(crate) users: HashMap<String, Map<String, Value>>,
    /// Last interactive login time per user (for `auth_time` and `max_age`).
    pub(crate) login_times: HashMap<String, u64>,
    pub(crate) misbehavior: Misbehavior,
    /// Published keys, oldest first; the last one signs.
    pub(crate) keys: Vec<Arc<SigningKey>>,
    /// The unpublished key used while [`Misbehavior::UnknownKid`] is set.
    pub(crate) rogue_key: Option<Arc<SigningKey>>,
    /// The key [`SimProvider::forge_token`] signs with, made on first use.
    pub(crate) forging_key: Option<Arc<keys::ForgingKey>>,
    pub(crate) next_kid: u32,
    pub(crate) codes: HashMap<String, CodeRecord>,
    pub(crate) access_tokens: HashMap<String, AccessRecord>,
    pub(crate) refresh_tokens: HashMap<String, RefreshRecord>,
    /// Rotated (spent) refresh tokens and the token that replaced each: presenting one again
    /// revokes its successors.
    pub(crate) rotated_refresh_tokens: HashMap<String, String>,
    pub(crate) counters: Counters,
    pub(crate) last_token_request: Option<Request<Bytes>>,
    /// With an audience, the token endpoint issues RFC 9068 JWT access tokens for it.
    pub(crate) jwt_access_audience: Option<String>,
    /// The `aud` of the opaque access tokens the token endpoint issues (by introspection);
    /// `None`: the client id.
    pub(crate) access_token_audience: Option<Vec<String>>,
    /// RFC 9207: whether the metadata promises, and authorization responses carry, `iss`.
    pub(crate) iss_parameter: bool,
    /// The algorithm new signing keys are for.
    pub(crate) alg: SigningAlg,
    /// Whether the published JWKs carry `alg`.
    pub(crate) jwks_alg: bool,
    /// HMAC and signed userinfo per client, advertised algorithms, tenant issuer.
    pub(crate) compat: compat::CompatState,
    /// JWT client authentication: client keys, seen `jti`s, advertised methods.
    pub(crate) client_auth: client_auth::ClientAuthState,
    /// Token revocation (RFC 7009): whether it is published, the calls served.
    pub(crate) revocation: revocation::RevocationState,
    /// Provider sessions and provider-driven (back- and front-channel) logout.
    pub(crate) logout: logout_token::LogoutState,
    /// Issue 18 (D): DPoP proofs, nonces and bound tokens.
    pub(crate) dpop: dpop::DpopState,
    /// Issue 18 (P): pushed authorization requests and request objects.
    pub(crate) par: par::ParState,
    /// Issue 18 (J): JARM responses.
    pub(crate) jarm: jarm::JarmState,
    /// Issue 18 (J): encrypted ID tokens and userinfo.
    pub(crate) encryption: encryption::EncryptionState,
}

impl State {
    fn new_key(&mut self) -> Arc<SigningKey> {
        let kid = format!("k{}", self.next_kid);
        self.next_kid += 1;
        // Generating a key only fails if the crypto library is broken.
        Arc::new(SigningKey::generate_for(self.alg, &kid).expect("key generation failed"))
    }

    /// The key ID tokens are signed with right now.
    pub(crate) fn signing_key(&self) -> Option<&Arc<SigningKey>> {
        match (&self.misbehavior, &self.rogue_key) {
            (Misbehavior::UnknownKid, Some(rogue)) => Some(rogue),
            _ => self.keys.last(),
        }
    }

    /// The registered client, if any.
    pub(crate) fn client(&self, client_id: &str) -> Option<&SimClient> {
        self.clients.get(client_id)
    }
}

struct Inner {
    cfg: Config,
    state: Mutex<State>,
}

/// A sans-IO simulated OpenID Provider. Cheap to clone (all clones share one provider) and
/// `Send + Sync`.
#[derive(Clone)]
pub struct SimProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for SimProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimProvider")
            .field("issuer", &self.inner.cfg.issuer)
            .finish_non_exhaustive()
    }
}

impl SimProvider {
    /// Creates a provider for `issuer` (e.g. `https://op.example` or `http://127.0.0.1:9000`;
    /// endpoints live below the issuer's path) and generates an RSA-2048 signing key with kid
    /// `k1`.
    ///
    /// # Panics
    /// If the crypto library cannot generate an RSA key.
    pub fn new(issuer: &str) -> Self {
        let base_path = url::Url::parse(issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let mut state = State {
            clients: HashMap::new(),
            users: HashMap::new(),
            login_times: HashMap::new(),
            misbehavior: Misbehavior::None,
            keys: Vec::new(),
            rogue_key: None,
            forging_key: None,
            next_kid: 1,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            rotated_refresh_tokens: HashMap::new(),
            counters: Counters::default(),
            last_token_request: None,
            jwt_access_audience: None,
            access_token_audience: None,
            iss_parameter: true,
            alg: SigningAlg::Rs256,
            jwks_alg: true,
            compat: compat::CompatState::default(),
            client_auth: client_auth::ClientAuthState::default(),
            revocation: revocation::RevocationState::default(),
            logout: logout_token::LogoutState::default(),
            dpop: dpop::DpopState::default(),
            par: par::ParState::default(),
            jarm: jarm::JarmState::default(),
            encryption: encryption::EncryptionState::default(),
        };
        let key = state.new_key();
        state.keys.push(key);
        SimProvider {
            inner: Arc::new(Inner {
                cfg: Config {
                    issuer: issuer.to_owned(),
                    base_path,
                },
                state: Mutex::new(state),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The issuer identifier, exactly as passed to [`SimProvider::new`].
    pub fn issuer(&self) -> &str {
        &self.inner.cfg.issuer
    }

    /// The absolute URL of an endpoint below the issuer, e.g. `endpoint("/token")`.
    pub fn endpoint(&self, path: &str) -> String {
        self.inner.cfg.endpoint(path)
    }

    /// Registers (or replaces) a client.
    pub fn register_client(&self, client: SimClient) {
        self.lock().clients.insert(client.client_id.clone(), client);
    }

    /// A registered client (static or dynamically registered), if any.
    pub fn client(&self, client_id: &str) -> Option<SimClient> {
        self.lock().client(client_id).cloned()
    }

    /// Sets the misbehavior for every later response ([`Misbehavior::None`] clears it).
    ///
    /// Setting [`Misbehavior::UnknownKid`] generates the unpublished key (once, until cleared).
    ///
    /// # Panics
    /// If the crypto library cannot generate an RSA key.
    pub fn set_misbehavior(&self, m: Misbehavior) {
        let mut st = self.lock();
        if m == Misbehavior::UnknownKid {
            if st.rogue_key.is_none() {
                let key = st.new_key();
                st.rogue_key = Some(key);
            }
        } else {
            st.rogue_key = None;
        }
        st.misbehavior = m;
    }

    /// The current misbehavior.
    pub fn misbehavior(&self) -> Misbehavior {
        self.lock().misbehavior.clone()
    }

    /// Rotates the signing key: a new key with a new kid signs from now on and the JWKS
    /// publishes it next to the previous key (older keys are dropped). If
    /// [`Misbehavior::UnknownKid`] is set, the key it has been signing with becomes the new
    /// (now published) signing key and the misbehavior is cleared.
    ///
    /// # Panics
    /// If the crypto library cannot generate an RSA key.
    pub fn rotate_keys(&self) {
        let mut st = self.lock();
        let key = match (
            st.misbehavior == Misbehavior::UnknownKid,
            st.rogue_key.take(),
        ) {
            (true, Some(rogue)) => rogue,
            _ => st.new_key(),
        };
        if st.misbehavior == Misbehavior::UnknownKid {
            st.misbehavior = Misbehavior::None;
        }
        st.keys.push(key);
        let excess = st.keys.len().saturating_sub(2);
        st.keys.drain(..excess);
    }

    /// From now on signs with a key for `alg` (RS256 until then): a new key with a new kid,
    /// published in the JWKS next to the previous key (older keys are dropped), as
    /// [`rotate_keys`](Self::rotate_keys) does; later rotations, the
    /// [`Misbehavior::UnknownKid`] key and [`JwtAccessTokenSpec::wrong_key`] use `alg` too.
    /// Discovery lists the algorithms of the published keys.
    ///
    /// The key pair is made once per process and algorithm (RSA key generation is slow) and
    /// shared by every provider that switches to `alg`, under each provider's own kid; keys
    /// from [`rotate_keys`](Self::rotate_keys) are always fresh.
    ///
    /// # Panics
    /// If the crypto library cannot generate a key for `alg`.
    pub fn set_signing_algorithm(&self, alg: SigningAlg) {
        let mut st = self.lock();
        st.alg = alg;
        let kid = format!("k{}", st.next_kid);
        st.next_kid += 1;
        let key = Arc::new(SigningKey::cached(alg, &kid).expect("key generation failed"));
        st.keys.push(key);
        let excess = st.keys.len().saturating_sub(2);
        st.keys.drain(..excess);
        if st.rogue_key.is_some() {
            let rogue = st.new_key();
            st.rogue_key = Some(rogue);
        }
    }

    /// The algorithm of the key ID tokens are currently signed with.
    pub fn signing_algorithm(&self) -> SigningAlg {
        let st = self.lock();
        st.signing_key().map(|k| k.alg).unwrap_or_default()
    }

    /// Whether the published JWKs carry `alg` (the default). Off, each key is known by its
    /// `kty` and `crv` alone, as many providers publish theirs: the relying party must then
    /// tell from those which algorithms a key may verify.
    pub fn set_jwks_alg(&self, on: bool) {
        self.lock().jwks_alg = on;
    }

    /// Stops publishing every key except the current signing key.
    pub fn retire_previous_keys(&self) {
        let mut st = self.lock();
        let excess = st.keys.len().saturating_sub(1);
        st.keys.drain(..excess);
    }

    /// The kid of the key ID tokens are currently signed with.
    pub fn current_kid(&self) -> String {
        let st = self.lock();
        st.signing_key().map(|k| k.kid.clone()).unwrap_or_default()
    }

    /// Sets extra claims for a user (`email`, `name`, custom claims...). Any username is
    /// accepted at login regardless; `sub` is always the username. Defaults: `name` and
    /// `preferred_username` = username, `email` = `<username>@example.com`,
    /// `email_verified` = true. Standard claims are released per scope (`profile`, `email`,
    /// `address`, `phone`) or the `claims` parameter; non-standard claims always.
    /// A non-object `claims` value clears the user's extra claims.
    pub fn set_user(&self, username: &str, claims: Value) {
        let map = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.lock().users.insert(username.to_owned(), map);
    }

    /// Handles one HTTP request at time `now` (unix seconds). Never panics; unknown paths get
    /// 404. The request URI may be in origin form (`/token`) or absolute form.
    pub fn handle(&self, request: Request<Bytes>, now: u64) -> Response<Bytes> {
        let cfg = &self.inner.cfg;
        let path = request.uri().path();
        let Some(rest) = path.strip_prefix(cfg.base_path.as_str()) else {
            return not_found();
        };
        let rest = rest.to_owned();
        let mut st = self.lock();
        let method = request.method().clone();
        match rest.as_str() {
            "/.well-known/openid-configuration" => {
                st.counters.discovery += 1;
                only(&method, &[Method::GET], || admin::discovery(cfg, &st))
            }
            "/jwks" => {
                st.counters.jwks += 1;
                only(&method, &[Method::GET], || admin::jwks(&st))
            }
            "/authorize" => {
                st.counters.authorize += 1;
                authorize::endpoint(cfg, &mut st, &request, now)
            }
            "/token" => {
                st.counters.token += 1;
                st.last_token_request = Some(clone_request(&request));
                // Issue 18 (D): a DPoP proof, verified; the tokens are bound to its key.
                if let Err(refused) = dpop::token_gate(cfg, &mut st, &request, now) {
                    return *refused;
                }
                token::token(cfg, &mut st, &request, now)
            }
            "/userinfo" => {
                st.counters.userinfo += 1;
                // Issue 18 (D): `Authorization: DPoP` with its proof, passed on as a bearer.
                let request = match dpop::resource_gate(cfg, &mut st, &request, "/userinfo", now) {
                    Ok(request) => request,
                    Err(refused) => return *refused,
                };
                let plain = compat::userinfo(cfg, &mut st, &request, now);
                // Issue 18 (J): encrypted for a client that registered userinfo encryption.
                encryption::userinfo(&st, &request, plain)
            }
            "/introspect" => {
                st.counters.introspection += 1;
                token::introspect(cfg, &st, &request, now)
            }
            "/logout" => {
                st.counters.logout += 1;
                admin::logout(cfg, &mut st, &request, now)
            }
            "/register" => {
                st.counters.registration += 1;
                admin::register(&mut st, &request, now)
            }
            "/revoke" => revocation::endpoint(cfg, &mut st, &request, now),
            "/par" => par::endpoint(cfg, &mut st, &request, now),
            _ => not_found(),
        }
    }

    /// Test shortcut: given the full authorization request URL the RP produced, acts as if the
    /// user `username` logged in and consented (through the same code path as the login form
    /// POST) and returns the URL the browser is sent back to: `redirect_uri?code=..&state=..&iss=..`,
    /// or the same with `error=..`. For `response_mode=fragment` the parameters follow `#`; for
    /// `form_post` they are rendered as a query string (the browser would POST them instead).
    ///
    /// An empty `username` means the user cancels (`access_denied`), or, with `prompt=none`,
    /// has no session (`login_required`). When the provider would show an error page instead
    /// of redirecting (unknown client or redirect URI), returns `about:blank#error=...`; use
    /// [`SimProvider::try_authorize`] to inspect that case.
    pub fn authorize(&self, authorization_url: &str, username: &str, now: u64) -> String {
        match self.try_authorize(authorization_url, username, now) {
            Ok(url) => url,
            Err(e) => util::append_params(
                "about:blank",
                &[
                    ("error".to_owned(), "not_redirected".to_owned()),
                    ("error_description".to_owned(), e.message),
                ],
                true,
            ),
        }
    }

    /// Like [`SimProvider::authorize`], but reports the "error page instead of redirect" case
    /// as an error.
    pub fn try_authorize(
        &self,
        authorization_url: &str,
        username: &str,
        now: u64,
    ) -> Result<String, NotRedirected> {
        let query = url::Url::parse(authorization_url)
            .map_err(|e| NotRedirected {
                status: 400,
                message: format!("not an absolute URL: {e}"),
            })?
            .query()
            .unwrap_or_default()
            .to_owned();
        let mut st = self.lock();
        st.counters.authorize += 1;
        match authorize::shortcut(&self.inner.cfg, &mut st, &query, username, now) {
            authorize::Outcome::Redirect {
                redirect_uri,
                mode,
                params,
                ..
            } => Ok(util::append_params(
                &redirect_uri,
                &params,
                mode == authorize::Mode::Fragment,
            )),
            authorize::Outcome::Page {
                status, message, ..
            } => Err(NotRedirected { status, message }),
        }
    }

    /// How many requests each endpoint has served.
    pub fn counters(&self) -> Counters {
        self.lock().counters
    }

    /// A copy of the last request the token endpoint received (body included, extensions not).
    pub fn last_token_request(&self) -> Option<Request<Bytes>> {
        self.lock().last_token_request.as_ref().map(clone_request)
    }

    /// From now on the token endpoint issues RFC 9068 JWT access tokens (`typ: at+jwt`,
    /// signed like ID tokens) for `audience`; `None` goes back to opaque tokens. Either kind
    /// works at userinfo and introspection.
    pub fn set_jwt_access_tokens(&self, audience: Option<&str>) {
        self.lock().jwt_access_audience = audience.map(str::to_owned);
    }

    /// From now on the opaque access tokens of the token endpoint (code and refresh grants)
    /// are for `audience`, as introspection reports it: a provider configured to issue this
    /// client's tokens for an API (an audience mapper). `None`: for the client id only.
    pub fn set_access_token_audience(&self, audience: Option<Vec<String>>) {
        self.lock().access_token_audience = audience;
    }

    /// Whether the provider supports RFC 9207: its metadata promises `iss` and authorization
    /// responses carry it (the default). Off: like most providers today, neither.
    pub fn set_iss_parameter(&self, on: bool) {
        self.lock().iss_parameter = on;
    }

    /// Mints an RFC 9068 JWT access token per `spec` at `now`. Unless it is wrongly signed, it
    /// is also known to introspection and userinfo.
    ///
    /// # Panics
    /// If the crypto library cannot generate or use an RSA key.
    pub fn issue_jwt_access_token(&self, spec: &JwtAccessTokenSpec, now: u64) -> String {
        let mut st = self.lock();
        let issuer = spec
            .issuer
            .clone()
            .unwrap_or_else(|| self.inner.cfg.issuer.clone());
        let key = st.signing_key().cloned().expect("a signing key");
        let key = if spec.wrong_key {
            Arc::new(SigningKey::generate_for(key.alg, &key.kid).expect("key generation failed"))
        } else {
            key
        };
        let grant = Grant {
            client_id: spec.client_id.clone(),
            username: spec.subject.clone(),
            scope: spec.scope.clone(),
            auth_time: now,
            acr: None,
            claims: None,
            sid: None,
        };
        let token = token::jwt_access_token(
            &key,
            &issuer,
            &grant,
            &spec.audience,
            &spec.typ,
            now,
            spec.lifetime,
            // Issue 18 (D): `cnf.jkt` for a DPoP-bound token.
            dpop::cnf(&st),
        )
        .expect("signing works");
        if !spec.wrong_key {
            st.access_tokens.insert(
                token.clone(),
                AccessRecord {
                    grant,
                    issued_at: now,
                    expires_at: now.saturating_add(spec.lifetime),
                    audience: Some(spec.audience.clone()),
                },
            );
        }
        token
    }

    /// A token as an attacker forges it: `claims` (a JSON object) signed with a key this
    /// provider never publishes, under the header `kid` and `typ` given. Nothing about it is
    /// recorded; the provider's JWKS is unchanged.
    ///
    /// # Panics
    /// If `claims` is not an object, or the crypto library cannot generate or use an RSA key.
    pub fn forge_token(&self, claims: Value, kid: &str, typ: &str) -> String {
        let Value::Object(claims) = claims else {
            panic!("claims must be a JSON object");
        };
        let key = {
            let mut st = self.lock();
            st.forging_key
                .get_or_insert_with(|| {
                    Arc::new(keys::ForgingKey::generate().expect("RSA-2048 key generation failed"))
                })
                .clone()
        };
        key.sign(claims, kid, typ).expect("signing works")
    }

    /// The token endpoint authentication methods discovery advertises (for the token and
    /// introspection endpoints); `None` goes back to `client_secret_basic` and
    /// `client_secret_post`. The endpoints themselves accept every method a client may use.
    pub fn set_token_endpoint_auth_methods(&self, methods: Option<&[&str]>) {
        self.lock().client_auth.methods_supported =
            methods.map(|m| m.iter().map(|s| s.to_string()).collect());
    }

    /// Holds a client to one token endpoint authentication method (as registered at a
    /// provider): any other is refused with `invalid_client`. `private_key_jwt` assertions
    /// verify against the keys given with [`set_client_jwks`](Self::set_client_jwks).
    pub fn require_client_auth_method(&self, client_id: &str, method: &str) {
        self.lock()
            .client_auth
            .registered_methods
            .insert(client_id.to_owned(), method.to_owned());
    }

    /// The public keys (a JWKS document) a client's `private_key_jwt` assertions verify
    /// against, as a provider would fetch them from the client's `jwks_uri`.
    pub fn set_client_jwks(&self, client_id: &str, jwks: Value) {
        self.lock()
            .client_auth
            .jwks
            .insert(client_id.to_owned(), jwks);
    }

    /// The `jwks_uri` a client sent at dynamic registration, if any.
    pub fn client_jwks_uri(&self, client_id: &str) -> Option<String> {
        self.lock().client_auth.jwks_uris.get(client_id).cloned()
    }

    /// The last client assertion the provider accepted, as `{"header": .., "claims": ..}`.
    pub fn last_client_assertion(&self) -> Option<Value> {
        self.lock().client_auth.last_assertion()
    }

    // Issue 18 (J): JARM and encrypted ID tokens / userinfo.

    /// Makes every later JARM response wrong in one way (`None`: correct again).
    pub fn set_jarm_misbehavior(&self, m: Option<JarmMisbehavior>) {
        self.lock().jarm.misbehavior = m;
    }

    /// How many JARM responses the authorization endpoint has issued.
    pub fn jarm_responses(&self) -> u64 {
        self.lock().jarm.issued
    }

    /// Encrypts the ID tokens of `client_id` with `alg`/`enc` (its registered
    /// `id_token_encrypted_response_alg`/`_enc`; `None`: plain again), to the newest key of
    /// its JWKS ([`set_client_jwks`](Self::set_client_jwks)) with `use: enc` of the key type
    /// `alg` needs.
    pub fn set_id_token_encryption(&self, client_id: &str, pair: Option<(&str, &str)>) {
        let mut st = self.lock();
        match pair {
            Some((alg, enc)) => st.encryption.id_token.insert(
                client_id.to_owned(),
                encryption::Pair {
                    alg: alg.to_owned(),
                    enc: enc.to_owned(),
                },
            ),
            None => st.encryption.id_token.remove(client_id),
        };
    }

    /// Encrypts the userinfo responses to `client_id` (as
    /// [`set_id_token_encryption`](Self::set_id_token_encryption)): the signed userinfo JWT
    /// when the client registered signed userinfo, else the JSON claims.
    pub fn set_userinfo_encryption(&self, client_id: &str, pair: Option<(&str, &str)>) {
        let mut st = self.lock();
        match pair {
            Some((alg, enc)) => st.encryption.userinfo.insert(
                client_id.to_owned(),
                encryption::Pair {
                    alg: alg.to_owned(),
                    enc: enc.to_owned(),
                },
            ),
            None => st.encryption.userinfo.remove(client_id),
        };
    }

    /// Makes every later encrypted token wrong in one way (`None`: correct again).
    pub fn set_encryption_misbehavior(&self, m: Option<EncryptionMisbehavior>) {
        self.lock().encryption.misbehavior = m;
    }

    /// The public JWKS document as JSON, exactly as `GET /jwks` serves it (when not
    /// misbehaving).
    pub fn jwks(&self) -> Value {
        admin::jwks_value(&self.lock())
    }
}

/// Copies a request (method, URI, version, headers, body; not extensions).
fn clone_request(req: &Request<Bytes>) -> Request<Bytes> {
    let mut out = Request::new(req.body().clone());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.version_mut() = req.version();
    *out.headers_mut() = req.headers().clone();
    out
}

fn not_found() -> Response<Bytes> {
    util::error_page(404, "not found")
}

/// Runs `f` if the method is allowed, else answers 405 with `Allow`.
fn only(
    method: &Method,
    allowed: &[Method],
    f: impl FnOnce() -> Response<Bytes>,
) -> Response<Bytes> {
    if allowed.contains(method) {
        f()
    } else {
        method_not_allowed(allowed)
    }
}

/// A 405 response listing the allowed methods.
pub(crate) fn method_not_allowed(allowed: &[Method]) -> Response<Bytes> {
    let mut resp = util::error_page(405, "method not allowed");
    let list = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    util::set_header(&mut resp, http::header::ALLOW, &list);
    resp
}

/// The README's examples, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
