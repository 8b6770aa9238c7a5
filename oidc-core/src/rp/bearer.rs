//! Bearer-protected APIs (RFC 6750): a token validated by introspection or as a JWT access
//! token, scopes checked; routes for browsers and API clients alike; and the client
//! credentials grant for the app's own calls.

use std::sync::Arc;

use http::{header, StatusCode};

use super::login::Authenticate;
use super::pages::json_error;
use super::{RelyingParty, Response};
use crate::access_token::{validate_jwt_access_token, JwtAccessTokenExpectations, JwtValidation};
use crate::bearer::{
    bearer_token, check_scopes, rejection_response, BearerRequirements, BearerValidation,
    Principal, TokenIdentity,
};
use crate::callback::Outbound;
use crate::client_credentials::{
    client_credentials_request_with, parse_client_credentials_response,
};
use crate::error::{BearerError, Endpoint, Error, Result};
use crate::flow::{ready, tri, Ask, Context, Cx, Flow, Immediate, Machine, Map, Progress};
use crate::introspection::{
    check_introspection, introspection_request_with, parse_introspection_response,
    IntrospectionExpectations,
};
use crate::jwks::JwkSet;
use crate::metadata::ProviderMetadata;
use crate::secret::Secret;

impl RelyingParty {
    /// Protects an API route with a bearer token (RFC 6750): reads `Authorization: Bearer`,
    /// validates the token by introspection or as a JWT access token (per `requirements`, else
    /// the builder's settings), and checks the required scopes (the builder's and
    /// `requirements`'). The refusal is the response to send: `401` with a `WWW-Authenticate`
    /// challenge for a missing or invalid token, `403` `insufficient_scope`, `400` for a
    /// malformed request, `502`/`500` (JSON) when the provider or the configuration fails.
    pub fn authorize_bearer(
        &self,
        parts: &http::request::Parts,
        requirements: &BearerRequirements,
        cx: Context,
    ) -> Flow<std::result::Result<TokenIdentity, Response>> {
        let bearer = Bearer::new(self, parts, requirements);
        Flow::new(self, cx, bearer, |rp, e| Err(refusal(rp, e, &[])))
    }

    /// Protects a route for browsers and API clients alike (Flask-pyoidc's `access_control`):
    /// a request with an `Authorization` header is judged by its bearer token alone, as
    /// [`authorize_bearer`](Self::authorize_bearer) does (a bad token is `401`/`403`, never a
    /// login redirect); a request without one needs a logged-in session, as
    /// [`authenticate`](Self::authenticate) does (a login redirect, or `401` for API-style
    /// requests, which then also carries the bearer challenge). `requirements` name the
    /// provider for both, and the scopes for tokens.
    pub fn session_or_bearer(
        &self,
        parts: &http::request::Parts,
        requirements: &BearerRequirements,
        cx: Context,
    ) -> Flow<std::result::Result<Principal, Response>> {
        let fail = |rp: &RelyingParty, e| Err(rp.error_response(&e));
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let machine = Map {
                machine: Bearer::new(self, parts, requirements),
                f: Some(
                    |_: &RelyingParty, r: std::result::Result<TokenIdentity, Response>| {
                        r.map(Principal::Bearer)
                    },
                ),
            };
            return Flow::new(self, cx, machine, fail);
        }
        let machine = Map {
            machine: Authenticate::new(self, parts, requirements.required_provider(), None),
            f: Some(
                |rp: &RelyingParty, r: std::result::Result<_, Response>| match r {
                    Ok(user) => Ok(Principal::Session(user)),
                    Err(mut resp) => {
                        if resp.status() == StatusCode::UNAUTHORIZED {
                            let realm = rp.realm();
                            resp.headers_mut().insert(
                                header::WWW_AUTHENTICATE,
                                crate::bearer::challenge(&BearerError::Missing, Some(&realm), &[]),
                            );
                        }
                        Err(resp)
                    }
                },
            ),
        };
        Flow::new(self, cx, machine, fail)
    }

    /// An access token for the app itself (the client credentials grant) from `provider` (the
    /// default one when `None`), for `scopes` and with `extra` token request parameters (such
    /// as `audience`). Tokens are cached per provider, scopes and parameters until the refresh
    /// margin before they expire.
    pub fn client_credentials_token(
        &self,
        provider: Option<&str>,
        scopes: &[&str],
        extra: &[(&str, &str)],
        cx: Context,
    ) -> Flow<Result<Secret>> {
        let fail = |_: &RelyingParty, e| Err(e);
        let slot = match self.slot(provider) {
            Ok((i, slot)) => (i, slot),
            Err(e) => return Flow::new(self, cx, Immediate(Some(Err(e))), fail),
        };
        let cache = &self.inner.tokens.client_credentials;
        if let Some(token) = cache.get(&slot.1.name, scopes, extra, cx.now()) {
            return Flow::new(self, cx, Immediate(Some(Ok(token))), fail);
        }
        let machine = ClientCredentials {
            slot: slot.0,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            sent: false,
        };
        Flow::new(self, cx, machine, fail)
    }

    /// The app's base URL without the trailing slash: the default JWT audience.
    fn default_audience(&self) -> String {
        self.inner.app_url.as_str().trim_end_matches('/').to_owned()
    }

    pub(super) fn realm(&self) -> String {
        self.default_audience()
    }
}

/// The response refusing a bearer request for `e`.
fn refusal(rp: &RelyingParty, e: Error, required: &[String]) -> Response {
    match e {
        Error::Bearer(e) => {
            tracing::debug!(error = %e, "bearer token refused");
            rejection_response(&e, Some(&rp.realm()), required)
        }
        // The introspection endpoint refusing the token itself (a JWT it will not
        // introspect, say) is the client's bad token, not a provider outage: a 401, so that
        // no client can turn its tokens into 502s.
        Error::Provider(p)
            if matches!(
                p.error.as_str(),
                "unsupported_token_type" | "invalid_token" | "invalid_request"
            ) =>
        {
            tracing::debug!(error = %p, "the provider refused to introspect the token");
            let e = BearerError::InvalidToken("the provider cannot introspect it".into());
            rejection_response(&e, Some(&rp.realm()), required)
        }
        e => {
            tracing::warn!(error = %e, "bearer token validation failed");
            json_error(&e)
        }
    }
}

/// [`RelyingParty::authorize_bearer`].
struct Bearer {
    /// The token, or why the request has none worth checking.
    token: std::result::Result<String, Error>,
    slot: std::result::Result<usize, Error>,
    required: Vec<String>,
    audience: Option<String>,
    validation: BearerValidation,
    state: BearerState,
    /// Issue 18 (D): the request's DPoP proof, when DPoP tokens are accepted.
    dpop: DpopCheck,
    /// The token, validated and its binding checked, while the proof's `jti` is spent.
    validated: Option<TokenIdentity>,
}

/// Issue 18 (D): where a request stands with DPoP (RFC 9449).
enum DpopCheck {
    /// DPoP is not accepted here: only `Bearer` (a DPoP-bound token is still refused).
    Off,
    /// DPoP is accepted, and the request uses `Bearer` (or nothing).
    Accepted,
    /// The request uses `Authorization: DPoP` without a usable token or proof.
    Malformed,
    /// The request uses `Authorization: DPoP`, with this proof for `method` at `url` (the
    /// app's external URL of the request).
    Proof {
        proof: String,
        method: http::Method,
        url: String,
        /// Once verified: its key's thumbprint, and whether its `jti` is being spent.
        verified: Option<(crate::dpop::VerifiedProof, Spend)>,
    },
}

/// The request's URL as the client named it (the `htu` its proof must carry): the app's
/// external URL with the app-relative `path` appended, never resolved as a reference
/// (`Url::join` would read `/https://evil.example/x` as another origin, and a proof made for
/// that origin would pass here).
fn external_url(app_url: &url::Url, path: &str) -> String {
    let mut external = app_url.clone();
    let base = external.path().trim_end_matches('/').to_owned();
    external.set_path(&format!("{base}/{}", path.trim_start_matches('/')));
    external.set_query(None);
    external.set_fragment(None);
    String::from(external)
}

/// Where the spending of a verified proof's `jti` stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spend {
    /// Not yet: only a valid token bound to the proof's key gets a store write.
    NotYet,
    /// Asked for ([`Ask::MarkSpent`]), awaiting the answer.
    Asked,
}

enum BearerState {
    Start,
    Introspecting(Arc<ProviderMetadata>),
    /// The token's key was not in `tried`: a newer set, if the cache has or allows one.
    Retry(Arc<ProviderMetadata>, Arc<JwkSet>),
}

impl Bearer {
    fn new(
        rp: &RelyingParty,
        parts: &http::request::Parts,
        requirements: &BearerRequirements,
    ) -> Self {
        let settings = &rp.inner.tokens.settings;
        let mut required = settings.bearer_scopes.clone();
        for s in requirements.required_scopes() {
            if !required.contains(s) {
                required.push(s.clone());
            }
        }
        // Issue 18 (D): `Authorization: DPoP` with a proof, where accepted.
        let accept_dpop = settings.bearer_dpop || requirements.accepts_dpop();
        let (dpop, token) = match accept_dpop.then(|| crate::dpop::dpop_credentials(&parts.headers))
        {
            None => (DpopCheck::Off, None),
            Some(Ok(None)) => (DpopCheck::Accepted, None),
            Some(Err(e)) => (DpopCheck::Malformed, Some(Err(Error::from(e)))),
            Some(Ok(Some((token, proof)))) => {
                let url = external_url(&rp.inner.app_url, rp.app_relative(parts.uri.path()));
                let method = parts.method.clone();
                let check = DpopCheck::Proof {
                    proof,
                    method,
                    url,
                    verified: None,
                };
                (check, Some(Ok(token)))
            }
        };
        Bearer {
            dpop,
            validated: None,
            token: token.unwrap_or_else(|| {
                bearer_token(&parts.headers)
                    .map(str::to_owned)
                    .map_err(Error::from)
            }),
            slot: rp.slot(requirements.required_provider()).map(|(i, _)| i),
            required,
            audience: requirements
                .required_audience()
                .or(settings.bearer_audience.as_deref())
                .map(str::to_owned),
            validation: requirements
                .required_validation()
                .unwrap_or(settings.bearer_validation),
            state: BearerState::Start,
        }
    }

    fn validate(&mut self, cx: &mut Cx<'_>) -> Progress<Result<TokenIdentity>> {
        let token = tri!(self.token.clone());
        let slot = tri!(self.slot.clone());
        let rp = cx.rp;
        let no_key = || Error::from(BearerError::InvalidToken("no matching key".into()));
        loop {
            match &self.state {
                BearerState::Start => {
                    let metadata = tri!(ready!(cx.ensure_metadata(slot)));
                    match self.validation {
                        BearerValidation::Introspection => {
                            let Some(provider) = rp.slot_at(slot) else {
                                return Progress::Ready(Err(no_key()));
                            };
                            let cache = &rp.inner.tokens.introspection;
                            if let Some(result) = cache.get(&provider.name, &token, cx.now) {
                                let identity =
                                    tri!(self.check_introspected(cx, &metadata, &token, &result));
                                return Progress::Ready(self.scoped(identity));
                            }
                            let endpoint = tri!(metadata.introspection_endpoint.as_ref().ok_or_else(|| {
                                Error::config(
                                    "provider_metadata.introspection_endpoint",
                                    "bearer tokens are validated by introspection, and the provider has no introspection endpoint",
                                )
                            }));
                            let client = tri!(ready!(cx.ensure_client(slot, &metadata)));
                            let auth = provider.config.client_auth.auth(
                                &client,
                                &metadata.issuer,
                                cx.now,
                                cx.rng.token(18),
                            );
                            let request =
                                tri!(introspection_request_with(endpoint.as_str(), &auth, &token));
                            self.state = BearerState::Introspecting(metadata);
                            return Progress::Pending(Ask::send(Outbound {
                                endpoint: Endpoint::Introspection,
                                request,
                            }));
                        }
                        BearerValidation::Jwt => {
                            let keys = tri!(tri!(ready!(cx.ensure_keys(slot, &metadata, None)))
                                .ok_or_else(no_key));
                            match tri!(self.check_jwt(cx, &metadata, &token, &keys)) {
                                JwtValidation::Valid(identity) => {
                                    return Progress::Ready(self.scoped(identity))
                                }
                                // Perhaps the provider rotated its keys.
                                JwtValidation::UnknownKey => {
                                    self.state = BearerState::Retry(metadata, keys)
                                }
                            }
                        }
                    }
                }
                BearerState::Introspecting(metadata) => {
                    let metadata = metadata.clone();
                    let response = tri!(tri!(cx.http()).map_err(|source| Error::Transport {
                        endpoint: Endpoint::Introspection,
                        source,
                    }));
                    let result = Arc::new(tri!(parse_introspection_response(response)));
                    if let Some(provider) = rp.slot_at(slot) {
                        rp.inner.tokens.introspection.insert(
                            &provider.name,
                            &token,
                            result.clone(),
                            cx.now,
                        );
                    }
                    let identity = tri!(self.check_introspected(cx, &metadata, &token, &result));
                    return Progress::Ready(self.scoped(identity));
                }
                BearerState::Retry(metadata, tried) => {
                    let (metadata, tried) = (metadata.clone(), tried.clone());
                    let keys = tri!(tri!(ready!(cx.ensure_keys(slot, &metadata, Some(&tried))))
                        .ok_or_else(no_key));
                    return match tri!(self.check_jwt(cx, &metadata, &token, &keys)) {
                        JwtValidation::Valid(identity) => Progress::Ready(self.scoped(identity)),
                        JwtValidation::UnknownKey => Progress::Ready(Err(no_key())),
                    };
                }
            }
        }
    }

    fn scoped(&self, identity: TokenIdentity) -> Result<TokenIdentity> {
        check_scopes(&identity.scopes, &self.required)?;
        Ok(identity)
    }

    fn check_introspected(
        &self,
        cx: &Cx<'_>,
        metadata: &ProviderMetadata,
        token: &str,
        result: &crate::introspection::Introspection,
    ) -> Result<TokenIdentity> {
        let settings = &cx.rp.inner.tokens.settings;
        let default_audience = cx.rp.default_audience();
        let audience = self.audience.as_deref().or(settings
            .introspection_audience_check
            .then_some(default_audience.as_str()));
        let skew = self.skew(cx);
        let expect = IntrospectionExpectations {
            issuer: &metadata.issuer,
            audience,
            now: cx.now,
            skew,
        };
        Ok(check_introspection(token, result, &expect)?)
    }

    fn check_jwt(
        &self,
        cx: &Cx<'_>,
        metadata: &ProviderMetadata,
        token: &str,
        keys: &JwkSet,
    ) -> Result<JwtValidation> {
        let default_audience = cx.rp.default_audience();
        let Some(provider) = self.slot.as_ref().ok().and_then(|i| cx.rp.slot_at(*i)) else {
            return Err(Error::config("provider", "unknown provider"));
        };
        let expect = JwtAccessTokenExpectations {
            issuer: &metadata.issuer,
            audience: self.audience.as_deref().unwrap_or(&default_audience),
            now: cx.now,
            skew: self.skew(cx),
            algorithms: &provider.config.algorithms,
        };
        Ok(validate_jwt_access_token(token, keys, &expect)?)
    }

    fn skew(&self, cx: &Cx<'_>) -> u64 {
        self.slot
            .as_ref()
            .ok()
            .and_then(|i| cx.rp.slot_at(*i))
            .map_or(0, |p| p.config.clock_skew.as_secs())
    }
}

impl Machine for Bearer {
    type Output = std::result::Result<TokenIdentity, Response>;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Self::Output> {
        // Issue 18 (D): the proof is verified first (no I/O), then the token and its
        // binding to the proof's key; only then is the proof's `jti` spent, so that a
        // self-made proof beside a worthless token costs no write to the session store.
        if self.validated.is_none() {
            if let Err(e) = self.check_proof(cx) {
                return Progress::Ready(Err(self.refuse(cx.rp, e)));
            }
            let identity = match ready!(self.validate(cx)) {
                Ok(identity) => identity,
                Err(e) => return Progress::Ready(Err(self.refuse(cx.rp, e))),
            };
            if let Err(e) = self.check_binding(&identity) {
                return Progress::Ready(Err(self.refuse(cx.rp, e.into())));
            }
            self.validated = Some(identity);
        }
        match ready!(self.spend_proof(cx)) {
            Ok(()) => match self.validated.take() {
                Some(identity) => Progress::Ready(Ok(identity)),
                None => Progress::Ready(Err(self.refuse(
                    cx.rp,
                    Error::config("bearer", "the validated token was lost"),
                ))),
            },
            Err(e) => Progress::Ready(Err(self.refuse(cx.rp, e))),
        }
    }
}

/// Issue 18 (D): DPoP at bearer-protected routes (RFC 9449 7).
impl Bearer {
    /// Verifies the request's proof (once; no I/O).
    fn check_proof(&mut self, cx: &Cx<'_>) -> Result<()> {
        let skew = self.skew(cx);
        let DpopCheck::Proof {
            proof,
            method,
            url,
            verified: verified @ None,
        } = &mut self.dpop
        else {
            return Ok(());
        };
        let token = self.token.clone()?;
        let expect = crate::dpop::ProofExpectations {
            method,
            url,
            access_token: &token,
            now: cx.now,
            skew,
        };
        let proof = crate::dpop::verify_proof(proof, &expect)?;
        *verified = Some((proof, Spend::NotYet));
        Ok(())
    }

    /// Spends the verified proof's `jti` in the session store for as long as a proof is
    /// accepted: a proof seen before is refused.
    fn spend_proof(&mut self, cx: &mut Cx<'_>) -> Progress<Result<()>> {
        let skew = self.skew(cx);
        let DpopCheck::Proof {
            verified: Some((proof, spend)),
            ..
        } = &mut self.dpop
        else {
            return Progress::Ready(Ok(()));
        };
        match spend {
            Spend::NotYet => {
                *spend = Spend::Asked;
                let ttl = std::time::Duration::from_secs(crate::dpop::PROOF_MAX_AGE + 2 * skew + 1);
                Progress::Pending(Ask::MarkSpent(proof.replay_key(), ttl))
            }
            Spend::Asked => match tri!(cx.marked()) {
                true => Progress::Ready(Ok(())),
                false => Progress::Ready(Err(BearerError::InvalidDpopProof(
                    "the proof was used before".into(),
                )
                .into())),
            },
        }
    }

    /// A token bound to a key (`cnf.jkt`) needs a proof by that key; a proof needs a bound
    /// token.
    fn check_binding(&self, identity: &TokenIdentity) -> std::result::Result<(), BearerError> {
        let bound = crate::dpop::bound_thumbprint(&identity.claims);
        match (&self.dpop, bound) {
            (
                DpopCheck::Proof {
                    verified: Some((proof, _)),
                    ..
                },
                Some(jkt),
            ) if crate::secret::constant_time_eq(jkt, &proof.jkt) => Ok(()),
            (DpopCheck::Proof { .. }, Some(_)) => Err(BearerError::InvalidToken(
                "the token is bound to another key than the proof's".into(),
            )),
            (DpopCheck::Proof { .. }, None) => Err(BearerError::InvalidToken(
                "the token is not bound to a DPoP key".into(),
            )),
            (_, Some(_)) => Err(BearerError::InvalidToken(
                "the token is bound to a DPoP key: send it with Authorization: DPoP and a proof"
                    .into(),
            )),
            (_, None) => Ok(()),
        }
    }

    /// The refusal, with the `DPoP` challenge where DPoP is accepted: alone for a request
    /// that used it, beside the `Bearer` one otherwise.
    fn refuse(&self, rp: &RelyingParty, e: Error) -> Response {
        let error = match &e {
            Error::Bearer(b) => Some(b.clone()),
            _ => None,
        };
        let mut response = refusal(rp, e, &self.required);
        if response.status() != StatusCode::UNAUTHORIZED {
            return response;
        }
        let realm = rp.realm();
        let headers = response.headers_mut();
        match &self.dpop {
            DpopCheck::Off => {}
            DpopCheck::Accepted => {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    crate::dpop::challenge(None, &realm),
                );
            }
            DpopCheck::Proof { .. } | DpopCheck::Malformed => {
                let error = error.unwrap_or(BearerError::InvalidToken(
                    "the provider cannot introspect it".into(),
                ));
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    crate::dpop::challenge(Some(&error), &realm),
                );
            }
        }
        response
    }
}

/// [`RelyingParty::client_credentials_token`] when the cache has no token.
struct ClientCredentials {
    slot: usize,
    scopes: Vec<String>,
    extra: Vec<(String, String)>,
    sent: bool,
}

impl Machine for ClientCredentials {
    type Output = Result<Secret>;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Result<Secret>> {
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !self.sent {
            let metadata = tri!(ready!(cx.ensure_metadata(self.slot)));
            let client = tri!(ready!(cx.ensure_client(self.slot, &metadata)));
            let endpoint = tri!(metadata.token_endpoint.as_ref().ok_or_else(|| {
                Error::config(
                    "provider_metadata.token_endpoint",
                    "the client credentials grant needs a token endpoint",
                )
            }));
            let Some(provider) = cx.rp.slot_at(self.slot) else {
                return Progress::Ready(Err(Error::config("provider", "unknown provider")));
            };
            let auth = provider.config.client_auth.auth(
                &client,
                &metadata.issuer,
                cx.now,
                cx.rng.token(18),
            );
            let request = tri!(client_credentials_request_with(
                endpoint.as_str(),
                &auth,
                &scopes,
                &extra
            ));
            self.sent = true;
            return Progress::Pending(Ask::send(Outbound {
                endpoint: Endpoint::Token,
                request,
            }));
        }
        let response = tri!(tri!(cx.http()).map_err(|source| Error::Transport {
            endpoint: Endpoint::Token,
            source,
        }));
        let tokens = tri!(parse_client_credentials_response(response));
        if let Some(provider) = cx.rp.slot_at(self.slot) {
            cx.rp.inner.tokens.client_credentials.insert(
                &provider.name,
                &scopes,
                &extra,
                &tokens,
                cx.now,
            );
        }
        Progress::Ready(Ok(tokens.access_token))
    }
}

#[cfg(test)]
mod tests {
    use super::external_url;

    #[test]
    fn the_external_url_appends_the_path_and_never_changes_origin() {
        let app = url::Url::parse("https://app.example/base/").unwrap();
        assert_eq!(
            external_url(&app, "/api/me"),
            "https://app.example/base/api/me"
        );
        let root = url::Url::parse("https://app.example").unwrap();
        assert_eq!(external_url(&root, "/api/me"), "https://app.example/api/me");
        for path in [
            "/https://evil.example/x",
            "/http:evil/x",
            "/foo:bar",
            "//evil.example/x",
        ] {
            let url = external_url(&root, path);
            assert!(url.starts_with("https://app.example/"), "{path} -> {url}");
        }
    }
}
