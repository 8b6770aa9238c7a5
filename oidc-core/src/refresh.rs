//! Refreshing a user's access token with the refresh token (RFC 6749 6, OpenID Connect Core
//! 12): the request, and a small state machine that processes the response, validates a new ID
//! token (fetching the JWKS when needed) and produces the updated session.
//!
//! The rules for a refreshed session:
//! - the access token and its expiry are replaced; a response without `expires_in` leaves the
//!   expiry unknown (never the old, stale one);
//! - the refresh token is replaced when a new one is returned, else kept;
//! - a new ID token is validated like the first one, except that `nonce` may be absent (if
//!   present it must equal the original's), its `iss`, `sub` and `aud` must not change, and a
//!   present `auth_time` must still be the original login's (OpenID Connect Core 12.2);
//!   `max_age` and `acr_values` are not checked again: they were settled at login;
//! - the time of authentication (`last_authenticated`) and the session's lifetime do not change:
//!   a refresh is not a login.
//!
//! ```text
//! let mut step = refresh.start();
//! loop {
//!     match step {
//!         RefreshStep::Send(out) => step = refresh.resume(send(out.request)),
//!         RefreshStep::Done(result) => break result,
//!     }
//! }
//! ```

use std::sync::Arc;

use bytes::Bytes;

use crate::bearer::audiences_of;
use crate::callback::Outbound;
use crate::client_auth::ClientAuth;
use crate::config::ProviderConfig;
use crate::error::{Endpoint, Error, IdTokenError, Misuse, ProtocolError, Result, TransportError};
use crate::id_token::{self, Expectations, IdToken, Validation};
use crate::jwks::{self, KeyCache, KeyDecision, KeyFetch};
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::session::UserSession;
use crate::signing::{SignedResponse, TokenSigning};
use crate::token::TokenResponse;

/// The refresh request: `grant_type=refresh_token` and the token, with this client's
/// authentication by secret (and no `redirect_uri` or `state`, which do not belong in it);
/// JWT assertions need [`refresh_request_with`].
pub fn refresh_request(
    token_endpoint: &str,
    client: &ClientMetadata,
    refresh_token: &str,
) -> Result<http::Request<Bytes>> {
    refresh_request_with(token_endpoint, &ClientAuth::new(client), refresh_token)
}

/// The refresh request, authenticated by `auth` (any method, JWT assertions included).
pub fn refresh_request_with(
    token_endpoint: &str,
    auth: &ClientAuth<'_>,
    refresh_token: &str,
) -> Result<http::Request<Bytes>> {
    auth.post_form(
        token_endpoint,
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

/// Whether the user's access token must be refreshed at `now`: there is none, or it expires
/// within `margin` seconds. An access token without a known expiry counts as valid.
pub fn needs_refresh(user: &UserSession, now: u64, margin: u64) -> bool {
    user.access_token.is_none()
        || user
            .access_token_expires_at
            .is_some_and(|exp| now.saturating_add(margin) >= exp)
}

/// The checks on an ID token from a refresh, once it has been validated on its own: `nonce`
/// absent or equal to the original's; `iss`, `sub`, `aud` and (when both have it)
/// `auth_time` unchanged.
pub fn check_refreshed_id_token(
    previous: &IdToken,
    new: &IdToken,
) -> std::result::Result<(), IdTokenError> {
    let (previous, new) = (previous.claims(), new.claims());
    for claim in ["iss", "sub"] {
        if previous.get(claim) != new.get(claim) {
            return Err(IdTokenError::SubjectChanged(claim));
        }
    }
    // A refresh stays in the provider session it was logged in with: another `sid` would be
    // another login (and a logout of the first would no longer find this session). One left
    // out is fine: the session keeps the login's.
    if let (Some(before), Some(after)) = (previous.get("sid"), new.get("sid")) {
        if before != after {
            return Err(IdTokenError::SubjectChanged("sid"));
        }
    }
    let mut before = audiences(previous);
    let mut after = audiences(new);
    before.sort_unstable();
    after.sort_unstable();
    if before != after {
        return Err(IdTokenError::SubjectChanged("aud"));
    }
    // OpenID Connect Core 12.2: a refreshed ID token's `auth_time`, when present, is the time
    // of the original authentication, not of the refresh.
    if let Some(auth_time) = new.get("auth_time") {
        match previous.get("auth_time") {
            Some(original) if original == auth_time => {}
            Some(_) => return Err(IdTokenError::SubjectChanged("auth_time")),
            None => {}
        }
    }
    if let Some(nonce) = new.get("nonce") {
        let original = previous.get_str("nonce");
        match (original.as_deref(), nonce.as_str()) {
            (Some(a), Some(b)) if crate::secret::constant_time_eq(a, b) => {}
            _ => return Err(IdTokenError::Nonce),
        }
    }
    Ok(())
}

/// A token's audiences (the strings of its `aud`), as [`audiences_of`] reads a map's.
fn audiences(claims: &crate::claims::ClaimsSet) -> Vec<String> {
    let mut one = serde_json::Map::new();
    if let Some(aud) = claims.get("aud") {
        one.insert("aud".into(), aud);
    }
    audiences_of(&one).into_iter().map(str::to_owned).collect()
}

/// The session after a successful refresh at `now` (see the module docs for the rules).
pub fn apply_refresh(
    user: &UserSession,
    tokens: TokenResponse,
    id_token: Option<IdToken>,
    now: u64,
) -> UserSession {
    UserSession {
        access_token_expires_at: tokens.expires_in.map(|e| now.saturating_add(e)),
        access_token: Some(tokens.access_token),
        refresh_token: tokens.refresh_token.or_else(|| user.refresh_token.clone()),
        id_token: id_token.unwrap_or_else(|| user.id_token.clone()),
        ..user.clone()
    }
}

/// Everything a [`TokenRefresh`] starts from.
///
/// Not `#[non_exhaustive]`: every field is a required input, so a field added later would
/// be one every caller must supply, a breaking change either way; a struct literal at least
/// makes the compiler name it.
#[derive(Debug)]
pub struct RefreshInput {
    /// The provider's configuration (skew, algorithms).
    pub config: ProviderConfig,
    /// This client's registration.
    pub client: Arc<ClientMetadata>,
    /// The provider's metadata.
    pub metadata: Arc<ProviderMetadata>,
    /// A copy of the provider's key cache.
    pub keys: KeyCache,
    /// The session being refreshed.
    pub user: Arc<UserSession>,
    /// Now, unix seconds.
    pub now: u64,
}

/// A finished refresh.
#[derive(Debug)]
#[non_exhaustive]
pub struct RefreshOutcome {
    /// The updated session.
    pub user: UserSession,
}

impl RefreshOutcome {
    /// A completed refresh that left `user`: for a custom runtime's tests (the type is
    /// `#[non_exhaustive]`, so that a later field is not a breaking change).
    pub fn new(user: UserSession) -> Self {
        RefreshOutcome { user }
    }
}

/// What a refresh wants next: send a request (and feed the answer to
/// [`TokenRefresh::resume`]), or nothing more.
pub type RefreshStep = crate::callback::Step<Result<RefreshOutcome>>;

impl crate::callback::Exchange for TokenRefresh {
    type Output = Result<RefreshOutcome>;

    fn start(&mut self) -> RefreshStep {
        TokenRefresh::start(self)
    }

    fn resume(
        &mut self,
        response: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> RefreshStep {
        TokenRefresh::resume(self, response)
    }

    fn resume_with_keys(&mut self, keys: KeyCache) -> RefreshStep {
        TokenRefresh::resume_with_keys(self, keys)
    }

    fn take_key_fetches(&mut self) -> Vec<KeyFetch> {
        std::mem::take(&mut self.key_fetches)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ready,
    Token,
    Jwks,
    Finished,
}

/// One refresh of a user's tokens, as a state machine that asks for the HTTP calls it needs
/// (token endpoint, then the JWKS if the new ID token needs keys the cache lacks and the
/// [`KeyCache`] allows a fetch).
pub struct TokenRefresh {
    input: RefreshInput,
    tokens: Option<TokenResponse>,
    key_fetches: Vec<KeyFetch>,
    /// Whether this refresh asked for the JWKS already: once is enough.
    jwks_requested: bool,
    stage: Stage,
    /// The `jti` of a client assertion, when the caller gave one.
    assertion_id: Option<String>,
    /// Issue 18 (D): the session's DPoP key and proofs, when its tokens are DPoP-bound.
    dpop: Option<crate::dpop::DpopProver>,
    /// Issue 18 (D): the caller's randomness for the proofs (and a key, for a session that
    /// has none yet).
    dpop_entropy: Option<[u8; 32]>,
}

impl std::fmt::Debug for TokenRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRefresh")
            .field("provider", &self.input.user.provider)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl TokenRefresh {
    /// Prepares the refresh.
    pub fn new(input: RefreshInput) -> Self {
        TokenRefresh {
            input,
            tokens: None,
            key_fetches: Vec::new(),
            jwks_requested: false,
            stage: Stage::Ready,
            assertion_id: None,
            dpop: None,
            dpop_entropy: None,
        }
    }

    /// Issue 18 (D): 32 bytes from the caller's randomness for the refresh's DPoP proofs;
    /// required when the session has a DPoP key or the provider is configured with
    /// [`dpop`](crate::ProviderConfigBuilder::dpop).
    pub fn dpop_entropy(mut self, entropy: [u8; 32]) -> Self {
        self.dpop_entropy = Some(entropy);
        self
    }

    /// A fresh `jti` for the client assertion (`client_secret_jwt`, `private_key_jwt`), from
    /// the caller's randomness. Required with those methods: nothing in a refresh is unique to
    /// it (the same refresh token may be used twice in one second), so without one the refresh
    /// fails with a configuration error rather than repeat a `jti` the provider must refuse.
    pub fn client_assertion_id(mut self, jti: impl Into<String>) -> Self {
        self.assertion_id = Some(jti.into());
        self
    }

    /// The first step: the token request. A session without a refresh token is
    /// [`Error::LoginRequired`].
    pub fn start(&mut self) -> RefreshStep {
        if self.stage != Stage::Ready {
            return self.fail(Misuse::StartedTwice("refresh").into());
        }
        self.token_request()
    }

    /// The refresh request (again, after a DPoP nonce challenge).
    fn token_request(&mut self) -> RefreshStep {
        // Issue 18 (D): the session's DPoP key signs the refresh.
        let (on, key) = (self.input.config.dpop, self.input.user.dpop.as_ref());
        if let Err(e) = crate::dpop::ensure_prover(
            &mut self.dpop,
            on,
            key,
            &mut self.dpop_entropy,
            &self.input.metadata,
        ) {
            return self.fail(e);
        }
        let Some(refresh_token) = self.input.user.refresh_token.clone() else {
            return self.fail(Error::LoginRequired(
                "the access token has expired and the session has no refresh token",
            ));
        };
        let Some(endpoint) = &self.input.metadata.token_endpoint else {
            return self.fail(Error::config(
                "provider_metadata.token_endpoint",
                "refreshing tokens needs a token endpoint",
            ));
        };
        let input = &self.input;
        let auth = input.config.client_auth.auth_with(
            &input.client,
            &input.metadata.issuer,
            input.now,
            self.assertion_id.take(),
        );
        if auth.needs_assertion() && !auth.has_assertion() {
            return self.fail(Error::config(
                "client_assertion_id",
                "a client assertion needs a fresh jti for each refresh \
                 (TokenRefresh::client_assertion_id)",
            ));
        }
        match refresh_request_with(endpoint.as_str(), &auth, refresh_token.expose()) {
            Ok(mut request) => {
                if let Some(prover) = &mut self.dpop {
                    if let Err(e) = prover.sign(&mut request, None, self.input.now) {
                        return self.fail(e);
                    }
                }
                self.stage = Stage::Token;
                RefreshStep::Send(Outbound {
                    endpoint: Endpoint::Token,
                    request,
                })
            }
            Err(e) => self.fail(e),
        }
    }

    /// Feeds the answer to the last [`RefreshStep::Send`] and returns the next step.
    pub fn resume(
        &mut self,
        response: std::result::Result<http::Response<Bytes>, TransportError>,
    ) -> RefreshStep {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        if stage == Stage::Jwks {
            let now = self.input.now;
            let failure = self
                .input
                .keys
                .record_answer(now, response, &mut self.key_fetches);
            return match failure {
                Some(e) => self.fail(e),
                None => self.validate(),
            };
        }
        let endpoint = match stage {
            Stage::Token => Endpoint::Token,
            Stage::Jwks => Endpoint::Jwks,
            Stage::Ready | Stage::Finished => {
                return self.fail(Misuse::ResumedWithoutRequest("refresh").into())
            }
        };
        let response = match response {
            Ok(r) => r,
            Err(source) => return self.fail(Error::Transport { endpoint, source }),
        };
        // Issue 18 (D): a DPoP nonce challenge is answered by one retry with the nonce.
        if self
            .dpop
            .as_mut()
            .is_some_and(|p| p.wants_retry(&response, false))
        {
            self.assertion_id = self.dpop.as_mut().map(|p| p.fresh_id());
            return self.token_request();
        }
        match crate::dpop::parse_token_response(self.dpop.as_ref(), response) {
            Ok(tokens) => {
                self.tokens = Some(tokens);
                self.validate()
            }
            Err(e) => self.fail(e),
        }
    }

    /// Answers the last [`RefreshStep::Send`], a JWKS request, with the provider's key cache as
    /// it is now (see [`Exchange::resume_with_keys`](crate::callback::Exchange::resume_with_keys)).
    pub fn resume_with_keys(&mut self, keys: KeyCache) -> RefreshStep {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Jwks => {
                self.input.keys = keys;
                self.validate()
            }
            _ => self.fail(Misuse::KeysWithoutRequest("refresh").into()),
        }
    }

    /// Every JWKS fetch made so far (see
    /// [`Exchange::take_key_fetches`](crate::callback::Exchange::take_key_fetches)).
    pub fn take_key_fetches(&mut self) -> Vec<KeyFetch> {
        std::mem::take(&mut self.key_fetches)
    }

    fn validate(&mut self) -> RefreshStep {
        let Some(tokens) = &self.tokens else {
            return self.fail(Misuse::ResumedWithoutRequest("refresh").into());
        };
        let Some(raw) = tokens.id_token.clone() else {
            return self.finish(None);
        };
        // Issue 18 (J): a refreshed ID token is encrypted as the first was.
        let raw = match crate::jwe::id_token_to_verify(&self.input.config, raw) {
            Ok(raw) => raw,
            Err(e) => return self.fail(e),
        };
        let signing = match TokenSigning::decide(
            &self.input.config,
            &self.input.client,
            &self.input.metadata,
            SignedResponse::IdToken,
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
                KeyDecision::Fetch if !self.jwks_requested => return self.fetch_jwks(),
                KeyDecision::RecentlyFailed(e) => return self.fail(e),
                KeyDecision::Fetch | KeyDecision::Throttled => {
                    return self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into())
                }
            });
        }
        let config = &self.input.config;
        let expect = Expectations {
            issuer: &self.input.metadata.issuer,
            client_id: &self.input.client.client_id,
            nonce: None,
            now: self.input.now,
            skew: config.clock_skew.as_secs(),
            algorithms: signing.algorithms(),
            access_token: Some(tokens.access_token.expose()),
            require_at_hash: false,
            code: None,
            // A refresh is not an authentication: `max_age` and `acr` were settled at login,
            // and `auth_time` must still name that login (checked below).
            max_age: None,
            acr_values: &[],
        };
        loop {
            let Some(token_keys) = signing.keys(keys.as_deref()) else {
                return self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into());
            };
            let checked =
                id_token::validate_with(raw.expose(), token_keys, &config.issuer_policy, &expect)
                    .and_then(|v| match v {
                        Validation::Valid(new) => {
                            check_refreshed_id_token(&self.input.user.id_token, &new)
                                .map(|()| Some(new))
                        }
                        Validation::UnknownKey => Ok(None),
                    });
            match checked {
                Ok(Some(new)) => return self.finish(Some(new)),
                Ok(None) => match keys
                    .as_ref()
                    .map(|k| self.input.keys.after_unknown_kid(now, k))
                {
                    // Ends: the newer set is the cache's, which is never newer than itself.
                    Some(KeyDecision::Use(newer)) => keys = Some(newer),
                    Some(KeyDecision::Fetch) if !self.jwks_requested => return self.fetch_jwks(),
                    Some(KeyDecision::RecentlyFailed(e)) => return self.fail(e),
                    _ => return self.fail(ProtocolError::IdToken(IdTokenError::UnknownKey).into()),
                },
                Err(e) => return self.fail(ProtocolError::IdToken(e).into()),
            }
        }
    }

    fn fetch_jwks(&mut self) -> RefreshStep {
        let Some(uri) = &self.input.metadata.jwks_uri else {
            return self.fail(Error::config(
                "provider_metadata.jwks_uri",
                "required to verify ID tokens",
            ));
        };
        match jwks::jwks_request(uri.as_str()) {
            Ok(request) => {
                self.jwks_requested = true;
                self.stage = Stage::Jwks;
                RefreshStep::Send(Outbound {
                    endpoint: Endpoint::Jwks,
                    request,
                })
            }
            Err(e) => self.fail(e),
        }
    }

    fn finish(&mut self, id_token: Option<IdToken>) -> RefreshStep {
        self.stage = Stage::Finished;
        let Some(tokens) = self.tokens.take() else {
            return self.fail(Misuse::ResumedWithoutRequest("refresh").into());
        };
        let mut user = apply_refresh(&self.input.user, tokens, id_token, self.input.now);
        // Issue 18 (D): the new tokens are bound to the key that signed the refresh.
        user.dpop = self.dpop.as_ref().map(|p| p.key().clone());
        RefreshStep::Done(Ok(RefreshOutcome { user }))
    }

    fn fail(&mut self, error: Error) -> RefreshStep {
        self.stage = Stage::Finished;
        RefreshStep::Done(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};
    use serde_json::{json, Value};

    struct Keys {
        signer: josekit::jws::alg::rsassa::RsassaJwsSigner,
        jwks: String,
    }

    /// One key pair per `kid`, generated once for every test: RSA key generation would
    /// otherwise be most of the time these tests take, and `cargo xtask mutants` runs them once
    /// per mutant.
    fn keys(kid: &str) -> Keys {
        type Made = std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, String)>>;
        static MADE: std::sync::OnceLock<Made> = std::sync::OnceLock::new();
        let mut made = MADE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (der, jwks) = made.entry(kid.to_owned()).or_insert_with(|| {
            let pair = RS256.generate_key_pair(2048).unwrap();
            let mut jwk = pair.to_jwk_public_key();
            jwk.set_key_id(kid);
            (
                pair.to_der_private_key(),
                json!({ "keys": [jwk.as_ref()] }).to_string(),
            )
        });
        Keys {
            signer: RS256.signer_from_der(der).unwrap(),
            jwks: jwks.clone(),
        }
    }

    fn sign(k: &Keys, kid: &str, claims: Value) -> String {
        let mut h = JwsHeader::new();
        h.set_key_id(kid);
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&p, &h, &k.signer).unwrap()
    }

    fn id_claims() -> Value {
        json!({"iss": "https://op", "sub": "alice", "aud": "client", "exp": 2000, "iat": 1000,
            "nonce": "n1"})
    }

    fn user(refresh: Option<&str>) -> UserSession {
        UserSession {
            provider: "default".into(),
            access_token: Some(Secret::new("old-at")),
            access_token_expires_at: Some(1100),
            id_token: IdToken::new(
                Secret::new("old.id.token"),
                crate::ClaimsSet::try_from(id_claims()).unwrap(),
            ),
            userinfo: None,
            refresh_token: refresh.map(Secret::new),
            last_authenticated: 900,
            last_session_refresh: 900,
            expires_at: 5000,
            sid: None,
            dpop: None,
        }
    }

    /// A key cache holding `jwks` as fetched 10 s before `now` (beyond the refetch interval).
    fn cache(jwks: Option<&Keys>, now: u64) -> KeyCache {
        let mut cache = KeyCache::new(crate::jwks::KeyFetchPolicy::default());
        if let Some(k) = jwks {
            let at = now - 10;
            let set = crate::jwks::JwkSet::from_json(k.jwks.as_bytes(), at).unwrap();
            cache.record(&KeyFetch {
                at,
                outcome: Ok(Arc::new(set)),
            });
        }
        cache
    }

    fn input(user: UserSession, jwks: Option<&Keys>, now: u64) -> RefreshInput {
        let metadata = ProviderMetadata {
            token_endpoint: Some("https://op/token".parse().unwrap()),
            jwks_uri: Some("https://op/jwks".parse().unwrap()),
            ..ProviderMetadata::new("https://op", "https://op/authorize".parse().unwrap())
        };
        RefreshInput {
            config: ProviderConfig::from_metadata(metadata.clone())
                .client(ClientMetadata::new("client", "secret"))
                .build()
                .unwrap(),
            client: Arc::new(ClientMetadata::new("client", "secret")),
            metadata: Arc::new(metadata),
            keys: cache(jwks, now),
            user: Arc::new(user),
            now,
        }
    }

    fn ok(body: Value) -> std::result::Result<http::Response<Bytes>, TransportError> {
        Ok(http::Response::builder()
            .status(200)
            .body(Bytes::from(body.to_string()))
            .unwrap())
    }

    fn send(step: RefreshStep) -> Outbound {
        match step {
            RefreshStep::Send(out) => out,
            RefreshStep::Done(r) => panic!("expected a request, got {r:?}"),
        }
    }

    fn done(step: RefreshStep) -> Result<RefreshOutcome> {
        match step {
            RefreshStep::Done(r) => r,
            RefreshStep::Send(out) => panic!("expected the end, got a request to {}", out.endpoint),
        }
    }

    #[test]
    fn request_form() {
        let r = refresh_request(
            "https://op/token",
            &ClientMetadata::new("client", "secret"),
            "rt",
        )
        .unwrap();
        let form: Vec<(String, String)> = form_urlencoded::parse(r.body()).into_owned().collect();
        assert!(form.contains(&("grant_type".into(), "refresh_token".into())));
        assert!(form.contains(&("refresh_token".into(), "rt".into())));
        assert!(!form
            .iter()
            .any(|(k, _)| k == "redirect_uri" || k == "state"));
    }

    /// With `client_secret_jwt`, a refresh needs the caller's `jti`: without one it fails
    /// with a configuration error before any request (a derived one would repeat for two
    /// refreshes of one token in one second); given, each refresh in the same second sends
    /// its own.
    #[test]
    fn an_assertion_refresh_needs_a_fresh_jti() {
        const SECRET: &str = "a-client-secret-long-enough-for-hs256-0123456789";
        let jwt_input = || {
            let mut client = ClientMetadata::new("client", SECRET);
            client.token_endpoint_auth_method = Some(crate::ClientAuthMethod::ClientSecretJwt);
            let mut i = input(user(Some("rt")), None, 1500);
            i.client = Arc::new(client);
            i
        };
        let mut r = TokenRefresh::new(jwt_input());
        match done(r.start()) {
            Err(Error::Config { field, .. }) => assert_eq!(field, "client_assertion_id"),
            other => panic!("{other:?}"),
        }
        let jti = |id: &str| {
            let out = send(
                TokenRefresh::new(jwt_input())
                    .client_assertion_id(id)
                    .start(),
            );
            let form: Vec<(String, String)> = form_urlencoded::parse(out.request.body())
                .into_owned()
                .collect();
            let assertion = &form
                .iter()
                .find(|(k, _)| k == "client_assertion")
                .expect("an assertion")
                .1;
            let verifier = josekit::jws::HS256
                .verifier_from_bytes(SECRET.as_bytes())
                .unwrap();
            let (claims, _) = jwt::decode_with_verifier(assertion, &verifier).unwrap();
            claims.jwt_id().map(str::to_owned)
        };
        assert_eq!(jti("one").as_deref(), Some("one"));
        assert_ne!(jti("one"), jti("two"));
        // Secret methods need no jti.
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        assert_eq!(send(r.start()).endpoint, Endpoint::Token);
    }

    #[test]
    fn when_to_refresh() {
        let u = user(Some("rt"));
        assert!(!needs_refresh(&u, 1000, 30));
        assert!(needs_refresh(&u, 1070, 30), "within the margin");
        assert!(needs_refresh(&u, 1100, 0));
        let mut no_expiry = u.clone();
        no_expiry.access_token_expires_at = None;
        assert!(!needs_refresh(&no_expiry, 999_999, 30));
        let mut no_token = u;
        no_token.access_token = None;
        assert!(needs_refresh(&no_token, 0, 0));
    }

    #[test]
    fn refresh_with_new_id_token() {
        let k = keys("k1");
        let mut r = TokenRefresh::new(input(user(Some("rt")), Some(&k), 1500));
        let out = send(r.start());
        assert_eq!(out.endpoint, Endpoint::Token);
        let id = sign(
            &k,
            "k1",
            json!({"iss": "https://op", "sub": "alice", "aud": "client",
            "exp": 2000, "iat": 1500}),
        );
        let outcome = done(r.resume(ok(json!({"access_token": "new-at",
            "token_type": "Bearer", "expires_in": 600, "id_token": id}))))
        .unwrap();
        let u = outcome.user;
        assert_eq!(u.access_token.unwrap().expose(), "new-at");
        assert_eq!(u.access_token_expires_at, Some(2100));
        assert_eq!(
            u.refresh_token.unwrap().expose(),
            "rt",
            "kept when none is returned"
        );
        assert_eq!(u.id_token.raw.expose(), id);
        assert_eq!(u.last_authenticated, 900, "a refresh is not a login");
        assert_eq!(u.expires_at, 5000);
        assert!(r.take_key_fetches().is_empty(), "cached keys: no fetch");
        // A second resume is refused.
        assert!(done(r.resume(ok(json!({})))).is_err());
        assert!(done(r.start()).is_err());
    }

    /// A client configured for HS256 validates its refreshed ID token with the client secret,
    /// through the same decision as at login: no key set is fetched (none is cached); a client
    /// that did not agree to HMAC refuses the same token.
    #[test]
    fn refreshed_hmac_id_token_uses_the_secret() {
        const SECRET: &str = "a-client-secret-long-enough-for-hs256-0123456789";
        let signer = josekit::jws::HS256
            .signer_from_bytes(SECRET.as_bytes())
            .unwrap();
        let claims = json!({"iss": "https://op", "sub": "alice", "aud": "client",
            "exp": 2000, "iat": 1500});
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let id = jwt::encode_with_signer(&p, &JwsHeader::new(), &signer).unwrap();
        let answer =
            || ok(json!({"access_token": "new-at", "token_type": "Bearer", "id_token": id}));

        let mut i = input(user(Some("rt")), None, 1500);
        i.config.id_token_signed_response_alg = Some("HS256".into());
        i.client = Arc::new(ClientMetadata::new("client", SECRET));
        let mut r = TokenRefresh::new(i);
        let _ = send(r.start());
        let u = done(r.resume(answer())).unwrap().user;
        assert_eq!(u.id_token.raw.expose(), id);
        assert!(r.take_key_fetches().is_empty());

        let mut i = input(user(Some("rt")), Some(&keys("k1")), 1500);
        i.client = Arc::new(ClientMetadata::new("client", SECRET));
        let mut r = TokenRefresh::new(i);
        let _ = send(r.start());
        assert!(matches!(
            done(r.resume(answer())),
            Err(Error::Protocol(ProtocolError::IdToken(
                IdTokenError::AlgorithmNotAllowed(_)
            )))
        ));
    }

    #[test]
    fn refresh_without_id_token_replaces_tokens() {
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        let _ = send(r.start());
        let u = done(
            r.resume(ok(json!({"access_token": "new-at", "token_type": "bearer",
            "refresh_token": "rt2"}))),
        )
        .unwrap()
        .user;
        assert_eq!(u.refresh_token.unwrap().expose(), "rt2");
        assert_eq!(
            u.access_token_expires_at, None,
            "no expires_in: the stale expiry does not survive"
        );
        assert_eq!(u.id_token.raw.expose(), "old.id.token");
    }

    #[test]
    fn fetches_keys_when_needed_and_once_more_on_unknown_kid() {
        let k = keys("k2");
        let id = sign(
            &k,
            "k2",
            json!({"iss": "https://op", "sub": "alice", "aud": "client",
            "exp": 2000, "iat": 1500, "nonce": "n1"}),
        );
        let body = json!({"access_token": "a", "token_type": "Bearer", "id_token": id});
        // No cached keys: fetched.
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        let _ = send(r.start());
        let out = send(r.resume(ok(body.clone())));
        assert_eq!(out.endpoint, Endpoint::Jwks);
        done(r.resume(ok(serde_json::from_str(&k.jwks).unwrap()))).unwrap();
        let fetches = r.take_key_fetches();
        assert!(
            fetches.len() == 1 && fetches[0].outcome.is_ok(),
            "{fetches:?}"
        );
        // Cached keys without the kid: fetched again, once.
        let old = keys("k1");
        let mut r = TokenRefresh::new(input(user(Some("rt")), Some(&old), 1500));
        let _ = send(r.start());
        let out = send(r.resume(ok(body.clone())));
        assert_eq!(out.endpoint, Endpoint::Jwks);
        let err = done(r.resume(ok(serde_json::from_str(&old.jwks).unwrap()))).unwrap_err();
        assert!(matches!(
            err,
            Error::Protocol(ProtocolError::IdToken(IdTokenError::UnknownKey))
        ));
        // The refresh failed, and the set it fetched is still reported for the cache.
        let fetches = r.take_key_fetches();
        assert!(
            fetches.len() == 1 && fetches[0].outcome.is_ok(),
            "{fetches:?}"
        );
        // A JWKS endpoint that fails.
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        let _ = send(r.start());
        let _ = send(r.resume(ok(body)));
        assert!(matches!(
            done(r.resume(Err(TransportError::Timeout))),
            Err(Error::Transport {
                endpoint: Endpoint::Jwks,
                ..
            })
        ));
        // The failure is reported too, so that the cache does not retry it at once.
        let fetches = r.take_key_fetches();
        assert!(
            fetches.len() == 1 && fetches[0].outcome.is_err(),
            "{fetches:?}"
        );
    }

    fn refused(claims: Value) -> Error {
        let k = keys("k1");
        let mut r = TokenRefresh::new(input(user(Some("rt")), Some(&k), 1500));
        let _ = send(r.start());
        let id = sign(&k, "k1", claims);
        done(r.resume(ok(
            json!({"access_token": "a", "token_type": "Bearer", "id_token": id}),
        )))
        .unwrap_err()
    }

    #[test]
    fn id_token_rules() {
        let base = json!({"iss": "https://op", "sub": "alice", "aud": "client", "exp": 2000,
            "iat": 1500});
        let with = |k: &str, v: Value| {
            let mut c = base.clone();
            c[k] = v;
            c
        };
        let cases = [
            (
                with("sub", json!("mallory")),
                IdTokenError::SubjectChanged("sub"),
            ),
            (with("nonce", json!("other")), IdTokenError::Nonce),
            (
                with("aud", json!(["client", "x"]))
                    .as_object()
                    .cloned()
                    .map(|mut m| {
                        m.insert("azp".into(), json!("client"));
                        Value::Object(m)
                    })
                    .unwrap(),
                IdTokenError::SubjectChanged("aud"),
            ),
            (with("iss", json!("https://evil")), IdTokenError::Issuer),
            (with("exp", json!(1000)), IdTokenError::Expired),
        ];
        for (claims, want) in cases {
            match refused(claims.clone()) {
                Error::Protocol(ProtocolError::IdToken(e)) => assert_eq!(e, want, "{claims}"),
                other => panic!("{claims}: {other:?}"),
            }
        }
        // Same nonce is fine; a nonce where the original had none is not.
        let prev = IdToken::new(Secret::new("x"), crate::ClaimsSet::try_from(base).unwrap());
        let new = prev.with_claim("nonce", Some(json!("n")));
        assert_eq!(
            check_refreshed_id_token(&prev, &new),
            Err(IdTokenError::Nonce)
        );
        assert!(check_refreshed_id_token(&new, &new).is_ok());
        let other_iss = prev.with_claim("iss", Some(json!("https://b")));
        assert_eq!(
            check_refreshed_id_token(&prev, &other_iss),
            Err(IdTokenError::SubjectChanged("iss"))
        );
        // The provider session stays: another `sid` is refused, a missing one is fine (the
        // session keeps the login's, `UserSession::sid`).
        let with_sid = prev.with_claim("sid", Some(json!("s1")));
        let other_sid = prev.with_claim("sid", Some(json!("s2")));
        assert_eq!(
            check_refreshed_id_token(&with_sid, &other_sid),
            Err(IdTokenError::SubjectChanged("sid"))
        );
        assert!(check_refreshed_id_token(&with_sid, &prev).is_ok());
        assert!(check_refreshed_id_token(&with_sid, &with_sid).is_ok());
    }

    #[test]
    fn failures() {
        // No refresh token.
        let mut r = TokenRefresh::new(input(user(None), None, 1500));
        assert!(matches!(done(r.start()), Err(Error::LoginRequired(_))));
        // invalid_grant, transport, garbage.
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        let _ = send(r.start());
        let resp = http::Response::builder()
            .status(400)
            .body(Bytes::from_static(br#"{"error":"invalid_grant"}"#))
            .unwrap();
        assert!(matches!(
            done(r.resume(Ok(resp))),
            Err(Error::Provider(e)) if e.error == "invalid_grant"
        ));
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        let _ = send(r.start());
        assert!(matches!(
            done(r.resume(Err(TransportError::Connect("refused".into())))),
            Err(Error::Transport {
                endpoint: Endpoint::Token,
                ..
            })
        ));
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        let _ = send(r.start());
        assert!(matches!(
            done(r.resume(ok(json!({"nope": 1})))),
            Err(Error::Protocol(ProtocolError::MalformedResponse { .. }))
        ));
        // No token endpoint; no JWKS URI.
        let mut i = input(user(Some("rt")), None, 1500);
        let mut m = (*i.metadata).clone();
        m.token_endpoint = None;
        m.jwks_uri = None;
        i.metadata = Arc::new(m);
        let mut r = TokenRefresh::new(i);
        assert!(matches!(done(r.start()), Err(Error::Config { .. })));
        let mut i = input(user(Some("rt")), None, 1500);
        let mut m = (*i.metadata).clone();
        m.jwks_uri = None;
        i.metadata = Arc::new(m);
        let mut r = TokenRefresh::new(i);
        let _ = send(r.start());
        assert!(matches!(
            done(
                r.resume(ok(json!({"access_token": "a", "token_type": "Bearer",
                "id_token": "x.y.z"})))
            ),
            Err(Error::Config { .. })
        ));
        // Driven out of order: a misuse by the embedding code, told apart from a bad
        // configuration or a bad response.
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        assert!(matches!(
            done(r.resume(ok(json!({})))),
            Err(Error::Misuse(Misuse::ResumedWithoutRequest("refresh")))
        ));
        let mut r = TokenRefresh::new(input(user(Some("rt")), None, 1500));
        let _ = send(r.start());
        assert!(matches!(
            done(r.start()),
            Err(Error::Misuse(Misuse::StartedTwice("refresh")))
        ));
        assert!(!format!("{r:?}").contains("old-at"));
    }

    /// A refreshed ID token's `auth_time` is the original login's: the same value passes,
    /// another is refused; `max_age` is not applied again (the login was long ago).
    #[test]
    fn refreshed_auth_time_must_not_change() {
        let previous = user(Some("rt"))
            .id_token
            .with_claim("auth_time", Some(json!(900)));
        let new = |auth_time: Value| previous.with_claim("auth_time", Some(auth_time));
        assert!(check_refreshed_id_token(&previous, &new(json!(900))).is_ok());
        assert_eq!(
            check_refreshed_id_token(&previous, &new(json!(1400))).unwrap_err(),
            IdTokenError::SubjectChanged("auth_time")
        );
        let without = previous.with_claim("auth_time", None);
        assert!(check_refreshed_id_token(&previous, &without).is_ok());
    }

    fn new_id_token(k: &Keys, kid: &str) -> String {
        sign(
            k,
            kid,
            json!({"iss": "https://op", "sub": "alice", "aud": "client",
            "exp": 2000, "iat": 1500}),
        )
    }

    /// A refresh runs through the [`Exchange`](crate::callback::Exchange) trait (what
    /// [`drive`](crate::callback::drive) and the relying party use): the token call, then the
    /// JWKS answered from a cache another request filled, and no fetch of its own to report.
    #[test]
    fn refresh_runs_through_the_exchange_trait() {
        use crate::callback::Exchange;
        let k = keys("k1");
        let rotated = keys("k2");
        let mut r = TokenRefresh::new(input(user(Some("rt")), Some(&k), 1500));
        assert_eq!(send(Exchange::start(&mut r)).endpoint, Endpoint::Token);
        let body = json!({"access_token": "new-at", "token_type": "Bearer",
            "id_token": new_id_token(&rotated, "k2")});
        let jwks = send(Exchange::resume(&mut r, ok(body)));
        assert_eq!(jwks.endpoint, Endpoint::Jwks);
        let shared = cache(Some(&rotated), 1510);
        let refreshed = done(Exchange::resume_with_keys(&mut r, shared))
            .unwrap()
            .user;
        assert_eq!(refreshed.access_token.unwrap().expose(), "new-at");
        assert!(Exchange::take_key_fetches(&mut r).is_empty());

        // A fetch it made itself is reported through the trait.
        let mut r = TokenRefresh::new(input(user(Some("rt")), Some(&k), 1500));
        let _ = send(Exchange::start(&mut r));
        let body = json!({"access_token": "a", "token_type": "Bearer",
            "id_token": new_id_token(&rotated, "k2")});
        let _ = send(Exchange::resume(&mut r, ok(body)));
        done(Exchange::resume(
            &mut r,
            ok(serde_json::from_str(&rotated.jwks).unwrap()),
        ))
        .unwrap();
        assert_eq!(Exchange::take_key_fetches(&mut r).len(), 1);
    }

    /// One refresh fetches the key set at most once: not again when a shared cache answers
    /// with nothing usable, nor when the policy has no refetch interval at all. Keys given
    /// without a JWKS request are refused.
    #[test]
    fn a_refresh_fetches_the_key_set_at_most_once() {
        let k = keys("k1");
        let rotated = keys("k2");
        let body = json!({"access_token": "a", "token_type": "Bearer",
            "id_token": new_id_token(&rotated, "k2")});
        let unknown = |e: Error| {
            matches!(
                e,
                Error::Protocol(ProtocolError::IdToken(IdTokenError::UnknownKey))
            )
        };
        let mut r = TokenRefresh::new(input(user(Some("rt")), Some(&k), 1500));
        let _ = send(r.start());
        let _ = send(r.resume(ok(body.clone())));
        let empty = KeyCache::new(crate::jwks::KeyFetchPolicy::default());
        assert!(unknown(done(r.resume_with_keys(empty)).unwrap_err()));

        let mut i = input(user(Some("rt")), None, 1500);
        i.keys = KeyCache::new(crate::jwks::KeyFetchPolicy {
            refetch_interval: 0,
            ..Default::default()
        });
        i.keys.record(&KeyFetch {
            at: 1490,
            outcome: Ok(Arc::new(
                crate::jwks::JwkSet::from_json(k.jwks.as_bytes(), 1490).unwrap(),
            )),
        });
        let mut r = TokenRefresh::new(i);
        let _ = send(r.start());
        assert_eq!(send(r.resume(ok(body))).endpoint, Endpoint::Jwks);
        let still_old = ok(serde_json::from_str(&k.jwks).unwrap());
        assert!(unknown(done(r.resume(still_old)).unwrap_err()));

        let mut r = TokenRefresh::new(input(user(Some("rt")), Some(&k), 1500));
        let _ = send(r.start());
        assert!(matches!(
            done(r.resume_with_keys(cache(Some(&k), 1500))),
            Err(Error::Misuse(Misuse::KeysWithoutRequest("refresh")))
        ));
        let shown = format!("{r:?}");
        assert!(
            shown.contains("default") && shown.contains("Finished"),
            "{shown}"
        );
    }
}
