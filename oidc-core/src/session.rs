//! What a browser session holds: the logged-in user, and the logins it has started.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::claims::ClaimsSet;

use crate::config::{ResponseMode, ResponseType};
use crate::id_token::IdToken;
use crate::secret::{constant_time_eq, Secret};

/// The session record's schema version. A store refuses records of another major layout
/// instead of logging everyone out on a rolling upgrade: see [`SessionRecord::is_compatible`].
pub const SCHEMA_VERSION: u32 = 1;

/// At most this many logins may be pending in one browser (one per tab); beyond it the oldest
/// are dropped.
pub const MAX_PENDING_LOGINS: usize = 8;

/// A pending login older than this (seconds) is dropped.
pub const PENDING_LOGIN_TTL: u64 = 600;

/// The logged-in user of one provider.
///
/// A browser session holds one such user, so one provider: a login with another provider
/// replaces it (the old session is deleted and the session id rotated, as at every login), and
/// the routes of the first provider then ask for a login again.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSession {
    /// The name of the provider the user logged in with: the only one this session is for.
    pub provider: String,
    /// The access token, if one was issued.
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// When the access token expires (unix seconds), if the provider said.
    #[serde(default)]
    pub access_token_expires_at: Option<u64>,
    /// The validated ID token: raw JWT and claims.
    pub id_token: IdToken,
    /// Userinfo claims, when the provider has a userinfo endpoint: the response's JSON text.
    #[serde(default)]
    pub userinfo: Option<ClaimsSet>,
    /// The refresh token, if issued.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// When the user last authenticated at the provider (`auth_time`, else the login time).
    pub last_authenticated: u64,
    /// When the session was last refreshed (login or silent re-authentication).
    pub last_session_refresh: u64,
    /// When the session ends (unix seconds).
    pub expires_at: u64,
    /// The provider session (`sid`) this login belongs to, from the login's ID token: kept
    /// across refreshes, whose ID tokens may leave it out, so that a logout the provider sends
    /// for that session still finds this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issue 18 (D): the DPoP key the session's tokens are bound to (RFC 9449), when the
    /// provider is configured with [`dpop`](crate::ProviderConfigBuilder::dpop). Private key
    /// included: it lives in the session record, encrypted with it by an encrypting store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop: Option<crate::dpop::DpopKey>,
}

impl std::fmt::Debug for UserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSession")
            .field("provider", &self.provider)
            .field("sub", &self.subject())
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("last_authenticated", &self.last_authenticated)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl UserSession {
    /// Whether a silent refresh is due at `now`, for a refresh `interval` in seconds.
    pub fn needs_refresh(&self, now: u64, interval: u64) -> bool {
        now >= self.last_session_refresh.saturating_add(interval)
    }

    /// Whether the session is still valid at `now`.
    pub fn is_authenticated(&self, now: u64) -> bool {
        now < self.expires_at
    }

    /// The user's subject identifier.
    pub fn subject(&self) -> &str {
        self.id_token.subject()
    }

    /// The ID token's claims.
    pub fn id_token_claims(&self) -> &ClaimsSet {
        self.id_token.claims()
    }

    /// The raw ID token (a JWT).
    pub fn id_token_jwt(&self) -> &str {
        self.id_token.raw.expose()
    }

    /// The scheme the session's access token is sent with: `DPoP` when it is bound to the
    /// session's DPoP key (then with a proof from [`dpop_proof`](Self::dpop_proof)), else
    /// `Bearer`.
    pub fn access_token_type(&self) -> &'static str {
        if self.dpop.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }

    /// The DPoP proof (RFC 9449) for calling a resource server with the session's access
    /// token: a request with `method` to `url` at `now` (unix seconds) sends
    /// `Authorization: DPoP <access token>` and `DPoP: <this proof>`. `Ok(None)` when the
    /// token is a plain bearer token (no DPoP key) or there is none. A token obtained since
    /// (a refreshed one) needs [`DpopKey::resource_proof`](crate::dpop::DpopKey::resource_proof)
    /// with that token.
    pub fn dpop_proof(
        &self,
        method: &http::Method,
        url: &str,
        now: u64,
    ) -> crate::Result<Option<String>> {
        match (&self.dpop, &self.access_token) {
            (Some(key), Some(token)) => key
                .resource_proof(method, url, token.expose(), now)
                .map(Some),
            _ => Ok(None),
        }
    }
}

/// A login that was started and not yet completed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingLogin {
    /// The provider it was started with.
    pub provider: String,
    /// The `state` sent.
    pub state: Secret,
    /// The `nonce` sent.
    pub nonce: Secret,
    /// The PKCE verifier, when PKCE is used.
    pub code_verifier: Option<Secret>,
    /// Where to send the user after login: a path on the app's origin.
    pub return_to: String,
    /// When it was started (unix seconds).
    pub created_at: u64,
    /// The response type requested.
    #[serde(default = "default_response_type")]
    pub response_type: ResponseType,
    /// The response mode requested.
    #[serde(default = "default_response_mode")]
    pub response_mode: ResponseMode,
    /// A silent (`prompt=none`) re-authentication of a logged-in session.
    #[serde(default)]
    pub silent: bool,
    /// The `max_age` sent (seconds), if any: the ID token must carry an `auth_time` no older.
    #[serde(default)]
    pub max_age: Option<u64>,
    /// The `acr_values` sent, if any: the ID token's `acr` must be one of them.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// The client the login was started with (a dynamically registered client may be
    /// replaced meanwhile): the code is redeemed by that client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The login's own parameters ([`LoginParams`](crate::LoginParams), `prompt=none` aside):
    /// a silent login that needs interaction starts the interactive one with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
}

fn default_response_type() -> ResponseType {
    ResponseType::Code
}

fn default_response_mode() -> ResponseMode {
    ResponseMode::Query
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Everything stored server-side under one session id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The schema version this record was written with.
    pub version: u32,
    /// The logged-in user, if any.
    #[serde(default)]
    pub user: Option<Arc<UserSession>>,
    /// Logins in progress, oldest first. No longer written by the relying party, which keeps
    /// logins in progress in the browser's login cookies (so that anonymous requests cost no
    /// storage); kept so that records written by earlier versions still deserialize.
    #[serde(default)]
    pub pending: Vec<PendingLogin>,
    /// The `state` of an RP-initiated logout in progress.
    #[serde(default)]
    pub logout_state: Option<Secret>,
    /// In the one record that holds no session but a provider's dynamic registration (see
    /// [`SharedRegistration`]): the client every instance uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Box<SharedRegistration>>,
    /// When the record stops being valid (unix seconds).
    pub expires_at: u64,
}

/// A provider's dynamically registered client, kept in the session store so that every
/// instance sharing the store uses the one client: a login started on one instance completes
/// on another, and the provider sees one registration per app, not one per process. Kept in
/// a [`SessionRecord`] of its own (an id no session cookie can name), so a store needs nothing
/// new for it, and an encrypting store encrypts the client secret with the rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SharedRegistration {
    /// The registered client; `None` while a failed registration is being backed off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<crate::metadata::ClientMetadata>,
    /// When the client's secret expires (`client_secret_expires_at`), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Option<u64>,
    /// The client this one replaced (its secret expired): a login started with it completes
    /// with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<crate::metadata::ClientMetadata>,
    /// Why the last registration failed, while the record lasts (the retry interval): every
    /// instance then fails at once instead of registering again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl SessionRecord {
    /// An empty record valid until `expires_at`.
    pub fn new(expires_at: u64) -> Self {
        SessionRecord {
            version: SCHEMA_VERSION,
            expires_at,
            ..Default::default()
        }
    }

    /// This record with `user` logged in: for a custom store's tests (the type is
    /// `#[non_exhaustive]`, so it has no struct literal outside this crate).
    pub fn with_user(mut self, user: Arc<UserSession>) -> Self {
        self.user = Some(user);
        self
    }

    /// Whether this code can read the record (same schema version).
    pub fn is_compatible(&self) -> bool {
        self.version == SCHEMA_VERSION
    }

    /// The user, if logged in and not expired.
    pub fn authenticated_user(&self, now: u64) -> Option<&Arc<UserSession>> {
        self.user.as_ref().filter(|u| u.is_authenticated(now))
    }

    /// Adds a pending login, dropping expired ones and the oldest beyond the cap.
    pub fn push_pending(&mut self, login: PendingLogin, now: u64) {
        self.prune_pending(now);
        while self.pending.len() >= MAX_PENDING_LOGINS {
            self.pending.remove(0);
        }
        self.pending.push(login);
    }

    /// Drops pending logins older than [`PENDING_LOGIN_TTL`].
    pub fn prune_pending(&mut self, now: u64) {
        self.pending
            .retain(|p| p.created_at.saturating_add(PENDING_LOGIN_TTL) > now);
    }

    /// Removes and returns the pending login whose `state` equals `state` (constant-time
    /// comparison against every entry, so timing does not reveal which one matched).
    pub fn take_pending(&mut self, state: &str) -> Option<PendingLogin> {
        let mut found = None;
        for (i, p) in self.pending.iter().enumerate() {
            if constant_time_eq(p.state.expose(), state) && found.is_none() {
                found = Some(i);
            }
        }
        found.map(|i| self.pending.remove(i))
    }
}

/// The index key of the sessions a provider knows as `sid` (a provider session, OpenID
/// Connect Front-Channel and Back-Channel Logout), for the provider `issuer`.
pub fn sid_index_key(issuer: &str, sid: &str) -> String {
    index_key("sid", issuer, sid)
}

/// The index key of every session of the user `sub` at `issuer`.
pub fn subject_index_key(issuer: &str, sub: &str) -> String {
    index_key("sub", issuer, sub)
}

/// The index key of the sessions of the user `sub` at `issuer` whose ID token carried no `sid`:
/// a logout naming both a `sid` and a `sub` must end them too, since nothing says which
/// provider session they belong to.
pub fn sidless_index_key(issuer: &str, sub: &str) -> String {
    index_key("nosid", issuer, sub)
}

/// The kind of mark that spends a back-channel logout token's `jti`.
pub(crate) const LOGOUT_JTI: &str = "logout-jti";
/// The kind of mark that spends a DPoP proof's `jti` at a protected API.
pub(crate) const DPOP_JTI: &str = "dpop-jti";
/// The kind of mark that is a session's refresh lease.
pub(crate) const REFRESH_LEASE: &str = "refresh-lease";
/// The kind of mark that is a provider's dynamic registration lease.
pub(crate) const REGISTRATION_LEASE: &str = "registration-lease";

/// The kinds of the single-use marks and leases the core asks a store to set
/// ([`Action::MarkSpent`](crate::Action::MarkSpent) keys are `<kind>:<hash>`); the logins'
/// `state` marks are the only ones without a kind (a bare hash, no `:`). For a store that bounds
/// its marks by kind, so that a flood of one kind never evicts another's.
pub const MARK_KINDS: &[&str] = &[LOGOUT_JTI, DPOP_JTI, REFRESH_LEASE, REGISTRATION_LEASE];

/// `<kind>:<base64url(SHA-256(issuer NUL value))>`: short, one shape whatever the provider
/// sends (a store may use it in a Redis key as it is), and not the raw `sub` or `sid`, which
/// then never appear in a store's key space.
pub(crate) fn index_key(kind: &str, issuer: &str, value: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(issuer.as_bytes());
    hash.update([0u8]);
    hash.update(value.as_bytes());
    format!(
        "{kind}:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize())
    )
}

impl SessionRecord {
    /// The keys a session store indexes this record under, so that a logout sent by the
    /// provider (which names a `sid` or a `sub`, never a session id) finds it in every process
    /// sharing the store: the user's [`subject_index_key`], and the [`sid_index_key`] of the
    /// ID token's `sid`, or the [`sidless_index_key`] when it has none. Empty without a user.
    pub fn index_keys(&self) -> Vec<String> {
        let Some(user) = &self.user else {
            return Vec::new();
        };
        let claims = user.id_token.claims();
        let issuer = claims.get_str("iss").unwrap_or_default();
        let sub = user.subject();
        let mut keys = vec![subject_index_key(&issuer, sub)];
        match user
            .sid
            .as_deref()
            .map(Into::into)
            .or_else(|| claims.get_str("sid"))
        {
            Some(sid) => keys.push(sid_index_key(&issuer, &sid)),
            None => keys.push(sidless_index_key(&issuer, sub)),
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(state: &str, at: u64) -> PendingLogin {
        PendingLogin {
            provider: "p".into(),
            state: Secret::new(state),
            nonce: Secret::new("n"),
            code_verifier: None,
            return_to: "/".into(),
            created_at: at,
            response_type: ResponseType::Code,
            response_mode: ResponseMode::Query,
            silent: false,
            max_age: None,
            acr_values: Vec::new(),
            params: Vec::new(),
            client_id: None,
        }
    }

    #[test]
    fn pending_is_bounded_and_aged() {
        let mut r = SessionRecord::new(10_000);
        for i in 0..20 {
            r.push_pending(pending(&format!("s{i}"), 100), 100);
        }
        assert_eq!(r.pending.len(), MAX_PENDING_LOGINS);
        assert!(r.take_pending("s0").is_none());
        assert!(r.take_pending("s19").is_some());
        assert!(r.take_pending("s19").is_none(), "single use");
        r.push_pending(
            pending("late", 100 + PENDING_LOGIN_TTL + 1),
            100 + PENDING_LOGIN_TTL + 1,
        );
        assert_eq!(r.pending.len(), 1);
    }

    #[test]
    fn debug_hides_secrets() {
        let p = pending("secret-state", 1);
        assert!(!format!("{p:?}").contains("secret-state"));
    }

    #[test]
    fn record_roundtrips_json() {
        let mut r = SessionRecord::new(5);
        r.push_pending(pending("s", 1), 1);
        let json = serde_json::to_string(&r).unwrap();
        let back: SessionRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(back.is_compatible());
    }

    /// A pending login stored before `max_age` and `acr_values` existed still reads, with
    /// neither checked.
    #[test]
    fn older_pending_logins_still_read() {
        let old = r#"{"version":1,"pending":[{"provider":"p","state":"s","nonce":"n",
            "code_verifier":null,"return_to":"/","created_at":1}],"expires_at":5}"#;
        let r: SessionRecord = serde_json::from_str(old).unwrap();
        assert_eq!(r.pending[0].max_age, None);
        assert!(r.pending[0].acr_values.is_empty());
    }

    fn user(expires_at: u64, last_refresh: u64) -> UserSession {
        user_with(
            serde_json::json!({"sub": "alice", "email": "a@op"}),
            expires_at,
            last_refresh,
        )
    }

    fn user_with(claims: serde_json::Value, expires_at: u64, last_refresh: u64) -> UserSession {
        UserSession {
            provider: "p".into(),
            access_token: Some(Secret::new("the-access-token")),
            access_token_expires_at: Some(50),
            id_token: IdToken::new(
                Secret::new("the.raw.jwt"),
                ClaimsSet::try_from(claims).unwrap(),
            ),
            userinfo: None,
            refresh_token: Some(Secret::new("the-refresh-token")),
            last_authenticated: 10,
            last_session_refresh: last_refresh,
            expires_at,
            sid: None,
            dpop: None,
        }
    }

    /// The index keys follow the login's `sid`, kept in the session when a refreshed ID token
    /// leaves it out; without one, the user's sessions without a `sid`; the user's always.
    #[test]
    fn index_keys_follow_the_logins_sid() {
        let mut u = user_with(
            serde_json::json!({"iss": "https://op", "sub": "alice", "email": "a@op"}),
            100,
            40,
        );
        let mut record = SessionRecord::new(100);
        assert!(record.index_keys().is_empty(), "no user, no keys");
        record.user = Some(Arc::new(u.clone()));
        assert_eq!(
            record.index_keys(),
            [
                subject_index_key("https://op", "alice"),
                sidless_index_key("https://op", "alice")
            ]
        );
        u.sid = Some("s1".into());
        record.user = Some(Arc::new(u.clone()));
        assert_eq!(
            record.index_keys(),
            [
                subject_index_key("https://op", "alice"),
                sid_index_key("https://op", "s1")
            ]
        );
        assert_ne!(
            sid_index_key("https://op", "x"),
            subject_index_key("https://op", "x")
        );
        assert_ne!(
            sid_index_key("https://op", "x"),
            sid_index_key("https://op2", "x")
        );
    }

    /// A session is valid up to, not including, its end; a refresh is due from the second the
    /// interval has passed.
    #[test]
    fn session_validity_and_refresh_boundaries() {
        let u = user(100, 40);
        assert!(u.is_authenticated(99));
        assert!(!u.is_authenticated(100));
        assert!(!u.needs_refresh(69, 30));
        assert!(u.needs_refresh(70, 30));
        let mut r = SessionRecord::new(1000);
        assert!(r.authenticated_user(0).is_none(), "nobody logged in");
        r.user = Some(Arc::new(u));
        assert!(r.authenticated_user(99).is_some());
        assert!(
            r.authenticated_user(100).is_none(),
            "an expired user is no user"
        );
    }

    /// The user's accessors read the ID token; `Debug` shows the subject, never a token.
    #[test]
    fn user_accessors_and_debug() {
        let u = user(100, 40);
        assert_eq!(u.subject(), "alice");
        assert_eq!(u.id_token_jwt(), "the.raw.jwt");
        assert_eq!(
            u.id_token_claims().get_str("email").as_deref(),
            Some("a@op")
        );
        let shown = format!("{u:?}");
        assert!(
            shown.contains("alice") && shown.contains("expires_at"),
            "{shown}"
        );
        for secret in ["the-access-token", "the-refresh-token", "the.raw.jwt"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let p = pending("s", 1);
        assert!(format!("{p:?}").contains("created_at"));
    }

    /// A record written when the claims were kept as maps reads the same, its claims as they
    /// were stored; it is written back verbatim. Claims that are not an object are refused.
    #[test]
    fn records_with_claims_maps_still_read() {
        let old = r#"{"version":1,"user":{"provider":"p","access_token":null,
            "id_token":{"raw":"h.p.s","claims":{"iss":"https://op","sub":"alice","aud":"c",
            "email":"a@op","groups":["x"]}},"userinfo":{"sub":"alice","name":"Alice"},
            "refresh_token":null,"last_authenticated":1,"last_session_refresh":1,
            "expires_at":9},"pending":[],"logout_state":null,"expires_at":9}"#;
        let record: SessionRecord = serde_json::from_str(old).unwrap();
        let user = record.user.as_ref().unwrap();
        assert_eq!(user.subject(), "alice");
        assert_eq!(user.email().as_deref(), Some("a@op"));
        assert_eq!(user.name().as_deref(), Some("Alice"));
        assert_eq!(
            user.id_token_claims().get("groups"),
            Some(serde_json::json!(["x"]))
        );
        let written = serde_json::to_string(&record).unwrap();
        assert!(
            written.contains(r#""userinfo":{"sub":"alice","name":"Alice"}"#),
            "{written}"
        );
        let back: SessionRecord = serde_json::from_str(&written).unwrap();
        assert_eq!(back, record);
        let userinfo = r#"{"sub":"alice","name":"Alice"}"#;
        let claims = r#"{"iss":"https://op","sub":"alice","aud":"c",
            "email":"a@op","groups":["x"]}"#;
        assert!(old.contains(userinfo) && old.contains(claims));
        for bad in [r#"["sub"]"#, r#""alice""#, "1"] {
            for json in [old.replace(userinfo, bad), old.replace(claims, bad)] {
                assert!(
                    serde_json::from_str::<SessionRecord>(&json).is_err(),
                    "{json}"
                );
            }
        }
        let no_claims = old.replace(claims, "null");
        assert!(serde_json::from_str::<SessionRecord>(&no_claims).is_err());
    }

    /// A record of another schema version is not read as ours.
    #[test]
    fn other_schema_versions_are_incompatible() {
        let mut r = SessionRecord::new(5);
        assert!(r.is_compatible());
        r.version = SCHEMA_VERSION + 1;
        assert!(!r.is_compatible());
    }

    /// A pending login lives [`PENDING_LOGIN_TTL`] seconds: kept the second before, dropped at
    /// that second.
    #[test]
    fn pending_logins_expire_at_their_ttl() {
        let mut r = SessionRecord::new(10_000);
        r.push_pending(pending("a", 100), 100);
        r.prune_pending(100 + PENDING_LOGIN_TTL - 1);
        assert_eq!(r.pending.len(), 1);
        r.prune_pending(100 + PENDING_LOGIN_TTL);
        assert!(r.pending.is_empty());
        // Of two logins with the same state, the first is taken, then the second.
        r.push_pending(pending("dup", 100), 100);
        let mut second = pending("dup", 101);
        second.return_to = "/second".into();
        r.push_pending(second, 101);
        assert_eq!(r.take_pending("dup").unwrap().return_to, "/");
        assert_eq!(r.take_pending("dup").unwrap().return_to, "/second");
    }
}
