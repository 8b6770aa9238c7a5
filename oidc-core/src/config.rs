//! Configuration of one provider: where its metadata comes from, this client's registration,
//! and the parameters of the authentication request.

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};
use crate::metadata::{ClientAuthMethod, ClientMetadata, ProviderMetadata};
use crate::registration::ClientRegistrationInfo;

/// Signature algorithms allowed by default. `none` and HMAC are never in it.
pub const DEFAULT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

/// Where the provider's metadata comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MetadataSource {
    /// Fetched from `{issuer}/.well-known/openid-configuration`; the document's `issuer` must equal
    /// this one exactly.
    Discovery {
        /// The configured issuer.
        issuer: String,
    },
    /// Given by the app.
    Static(Box<ProviderMetadata>),
}

/// How this client is registered at the provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientRegistration {
    /// Registered beforehand: the app knows its id and secret.
    Static(ClientMetadata),
    /// Registered dynamically at the provider's `registration_endpoint`, once, at start-up
    /// ([`RelyingParty::ready`](crate::RelyingParty::ready)) or at the first login, and again
    /// when the registered secret expires.
    Dynamic(Box<ClientRegistrationInfo>),
}

/// The supported `response_type` values (OpenID Connect Core 3; OAuth 2.0 Multiple Response
/// Type Encoding Practices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ResponseType {
    /// `code`: the authorization code flow (the default).
    #[serde(rename = "code")]
    Code,
    /// `id_token`: implicit, ID token only.
    #[serde(rename = "id_token")]
    IdToken,
    /// `id_token token`: implicit, ID token and access token.
    #[serde(rename = "id_token token")]
    IdTokenToken,
    /// `code id_token`: hybrid.
    #[serde(rename = "code id_token")]
    CodeIdToken,
    /// `code token`: hybrid.
    #[serde(rename = "code token")]
    CodeToken,
    /// `code id_token token`: hybrid.
    #[serde(rename = "code id_token token")]
    CodeIdTokenToken,
}

impl ResponseType {
    /// The `response_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::IdToken => "id_token",
            ResponseType::IdTokenToken => "id_token token",
            ResponseType::CodeIdToken => "code id_token",
            ResponseType::CodeToken => "code token",
            ResponseType::CodeIdTokenToken => "code id_token token",
        }
    }

    /// Parses a `response_type` value (space-separated, any order).
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts: Vec<&str> = s.split_ascii_whitespace().collect();
        parts.sort_unstable();
        parts.dedup();
        Ok(match parts.as_slice() {
            ["code"] => ResponseType::Code,
            ["id_token"] => ResponseType::IdToken,
            ["id_token", "token"] => ResponseType::IdTokenToken,
            ["code", "id_token"] => ResponseType::CodeIdToken,
            ["code", "token"] => ResponseType::CodeToken,
            ["code", "id_token", "token"] => ResponseType::CodeIdTokenToken,
            _ => {
                return Err(Error::config(
                    "response_type",
                    format!("unsupported response type `{s}`"),
                ))
            }
        })
    }

    /// Whether the authorization endpoint returns a code.
    pub fn has_code(self) -> bool {
        matches!(
            self,
            ResponseType::Code
                | ResponseType::CodeIdToken
                | ResponseType::CodeToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// Whether the authorization endpoint returns an ID token.
    pub fn has_front_id_token(self) -> bool {
        matches!(
            self,
            ResponseType::IdToken
                | ResponseType::IdTokenToken
                | ResponseType::CodeIdToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// Whether the authorization endpoint returns an access token.
    pub fn has_front_access_token(self) -> bool {
        matches!(
            self,
            ResponseType::IdTokenToken | ResponseType::CodeToken | ResponseType::CodeIdTokenToken
        )
    }

    /// The default response mode: `query` for `code`, `fragment` for everything that returns a
    /// token from the authorization endpoint.
    pub fn default_mode(self) -> ResponseMode {
        if self == ResponseType::Code {
            ResponseMode::Query
        } else {
            ResponseMode::Fragment
        }
    }
}

/// How the authorization response reaches the redirect endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseMode {
    /// In the query string of a GET.
    Query,
    /// In the URL fragment, which never reaches the server: the redirect endpoint answers with
    /// a page that posts it back.
    Fragment,
    /// In a form POST (OAuth 2.0 Form Post Response Mode).
    FormPost,
    // Issue 18 (J): JARM response modes.
    /// `jwt` (JARM): a signed JWT in the response type's default mode (`query.jwt` for `code`,
    /// else `fragment.jwt`).
    Jwt,
    /// `query.jwt` (JARM): a signed JWT in the query string.
    #[serde(rename = "query.jwt")]
    QueryJwt,
    /// `fragment.jwt` (JARM): a signed JWT in the URL fragment, posted back by the redirect
    /// endpoint's page.
    #[serde(rename = "fragment.jwt")]
    FragmentJwt,
    /// `form_post.jwt` (JARM): a signed JWT in a form POST.
    #[serde(rename = "form_post.jwt")]
    FormPostJwt,
}

impl ResponseMode {
    /// The `response_mode` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
            ResponseMode::Jwt => "jwt",
            ResponseMode::QueryJwt => "query.jwt",
            ResponseMode::FragmentJwt => "fragment.jwt",
            ResponseMode::FormPostJwt => "form_post.jwt",
        }
    }

    /// Whether the response is a JWT signed by the provider (JARM, see [`crate::jarm`]).
    pub fn is_jwt(self) -> bool {
        matches!(
            self,
            ResponseMode::Jwt
                | ResponseMode::QueryJwt
                | ResponseMode::FragmentJwt
                | ResponseMode::FormPostJwt
        )
    }

    /// Whether a response of `response_type` in this mode arrives in the URL fragment.
    pub fn in_fragment(self, response_type: ResponseType) -> bool {
        match self {
            ResponseMode::Fragment | ResponseMode::FragmentJwt => true,
            ResponseMode::Jwt => response_type.default_mode() == ResponseMode::Fragment,
            _ => false,
        }
    }

    /// Whether the response arrives in a cross-site form POST.
    pub fn is_form_post(self) -> bool {
        matches!(self, ResponseMode::FormPost | ResponseMode::FormPostJwt)
    }

    /// Parses a `response_mode` value.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "query" => Ok(ResponseMode::Query),
            "fragment" => Ok(ResponseMode::Fragment),
            "form_post" => Ok(ResponseMode::FormPost),
            "jwt" => Ok(ResponseMode::Jwt),
            "query.jwt" => Ok(ResponseMode::QueryJwt),
            "fragment.jwt" => Ok(ResponseMode::FragmentJwt),
            "form_post.jwt" => Ok(ResponseMode::FormPostJwt),
            other => Err(Error::config(
                "response_mode",
                format!("unsupported response mode `{other}`"),
            )),
        }
    }
}

/// The configuration of one provider.
///
/// ```
/// use oidc_core::{ClientMetadata, ProviderConfig};
/// let config = ProviderConfig::discover("https://accounts.example.com")
///     .client(ClientMetadata::new("my-app", "s3cret"))
///     .scopes(["openid", "email"])
///     .param("prompt", "consent")
///     .build()
///     .unwrap();
/// assert_eq!(config.scopes(), ["openid", "email"]);
/// ```
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub(crate) source: MetadataSource,
    pub(crate) client: ClientRegistration,
    pub(crate) scopes: Vec<String>,
    pub(crate) response_type: ResponseType,
    pub(crate) response_mode: ResponseMode,
    pub(crate) extra_params: BTreeMap<String, String>,
    pub(crate) clock_skew: Duration,
    pub(crate) algorithms: Vec<String>,
    /// Whether the app set [`ProviderConfigBuilder::algorithms`]: an app that chose its
    /// algorithms never has HMAC negotiated for it (see [`crate::signing`]).
    pub(crate) algorithms_explicit: bool,
    pub(crate) pkce: bool,
    pub(crate) fetch_userinfo: bool,
    pub(crate) jwks_min_refetch: Duration,
    pub(crate) discovery_retry: Duration,
    pub(crate) metadata_max_age: Duration,
    pub(crate) session_refresh_interval: Option<Duration>,
    pub(crate) redirect_uri: Option<String>,
    /// Client authentication: the private key, the assertion audience, the app's JWKS URL.
    pub(crate) client_auth: crate::client_auth::ClientAuthConfig,
    // Provider compatibility: signed responses, userinfo method, issuer policy.
    pub(crate) id_token_signed_response_alg: Option<String>,
    pub(crate) userinfo_signed_response_alg: Option<String>,
    pub(crate) userinfo_method: crate::userinfo::UserinfoMethod,
    pub(crate) issuer_policy: crate::issuer::IssuerPolicy,
    // Issue 18 (P): pushed authorization requests (RFC 9126), signed request objects (RFC 9101).
    pub(crate) requests: crate::par::RequestSettings,
    // Issue 18 (J): JARM and encrypted ID tokens / userinfo.
    pub(crate) secured: crate::jwe::SecuredResponses,
    // Issue 18 (D): DPoP (RFC 9449), a key per login binding the tokens.
    pub(crate) dpop: bool,
    /// The FAPI 2.0 preset ([`crate::fapi`]): also requires the `iss` response parameter.
    pub(crate) fapi2: bool,
}

impl ProviderConfig {
    /// How this provider's key set is fetched (see [`crate::jwks::KeyCache`]).
    pub fn key_fetch_policy(&self) -> crate::jwks::KeyFetchPolicy {
        crate::jwks::KeyFetchPolicy {
            refetch_interval: self.jwks_min_refetch.as_secs(),
            ..crate::jwks::KeyFetchPolicy::default()
        }
    }

    /// A provider configured by discovery from its issuer URL.
    pub fn discover(issuer: impl Into<String>) -> ProviderConfigBuilder {
        ProviderConfigBuilder::new(MetadataSource::Discovery {
            issuer: issuer.into(),
        })
    }

    /// A provider configured with static metadata.
    pub fn from_metadata(metadata: ProviderMetadata) -> ProviderConfigBuilder {
        ProviderConfigBuilder::new(MetadataSource::Static(Box::new(metadata)))
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        match &self.source {
            MetadataSource::Discovery { issuer } => issuer,
            MetadataSource::Static(m) => &m.issuer,
        }
    }

    /// The scopes requested at login.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// This client's metadata, when registered statically.
    pub fn client(&self) -> Option<&ClientMetadata> {
        match &self.client {
            ClientRegistration::Static(c) => Some(c),
            ClientRegistration::Dynamic(_) => None,
        }
    }

    /// How this client is registered.
    pub fn registration(&self) -> &ClientRegistration {
        &self.client
    }

    /// The response type used at login.
    pub fn response_type(&self) -> ResponseType {
        self.response_type
    }

    /// The response mode used at login.
    pub fn response_mode(&self) -> ResponseMode {
        self.response_mode
    }

    /// The allowed clock skew.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    /// Where metadata comes from.
    pub fn source(&self) -> &MetadataSource {
        &self.source
    }

    /// Whether the FAPI 2.0 preset is on ([`ProviderConfigBuilder::fapi2`]).
    pub fn is_fapi2(&self) -> bool {
        self.fapi2
    }
}

/// Builds a [`ProviderConfig`]; [`build`](Self::build) validates it.
#[derive(Debug, Clone)]
#[must_use]
pub struct ProviderConfigBuilder {
    source: MetadataSource,
    client: Option<ClientRegistration>,
    scopes: Vec<String>,
    response_type: String,
    response_mode: Option<String>,
    extra_params: BTreeMap<String, String>,
    clock_skew: Duration,
    algorithms: Vec<String>,
    algorithms_explicit: bool,
    pkce: bool,
    fetch_userinfo: bool,
    jwks_min_refetch: Duration,
    discovery_retry: Duration,
    metadata_max_age: Duration,
    session_refresh_interval: Option<Duration>,
    redirect_uri: Option<String>,
    client_auth: crate::client_auth::ClientAuthConfig,
    // Provider compatibility: signed responses, userinfo method, issuer policy.
    id_token_signed_response_alg: Option<String>,
    userinfo_signed_response_alg: Option<String>,
    userinfo_method: crate::userinfo::UserinfoMethod,
    issuer_policy: crate::issuer::IssuerPolicy,
    // Issue 18 (P): pushed authorization requests (RFC 9126), signed request objects (RFC 9101).
    requests: crate::par::RequestSettings,
    // Issue 18 (J): JARM and encrypted ID tokens / userinfo.
    secured: crate::jwe::SecuredResponses,
    // Issue 18 (D): DPoP (RFC 9449).
    dpop: bool,
    fapi2: bool,
}

impl ProviderConfigBuilder {
    fn new(source: MetadataSource) -> Self {
        ProviderConfigBuilder {
            source,
            client: None,
            scopes: vec!["openid".into()],
            response_type: "code".into(),
            response_mode: None,
            extra_params: BTreeMap::new(),
            clock_skew: Duration::from_secs(30),
            algorithms: DEFAULT_ALGORITHMS.iter().map(|s| s.to_string()).collect(),
            algorithms_explicit: false,
            pkce: true,
            fetch_userinfo: true,
            jwks_min_refetch: Duration::from_secs(crate::jwks::DEFAULT_REFETCH_INTERVAL),
            discovery_retry: Duration::from_secs(10),
            metadata_max_age: Duration::from_secs(24 * 3600),
            session_refresh_interval: None,
            redirect_uri: None,
            client_auth: crate::client_auth::ClientAuthConfig::default(),
            id_token_signed_response_alg: None,
            userinfo_signed_response_alg: None,
            userinfo_method: crate::userinfo::UserinfoMethod::default(),
            issuer_policy: crate::issuer::IssuerPolicy::default(),
            requests: crate::par::RequestSettings::default(),
            secured: crate::jwe::SecuredResponses::default(),
            dpop: false,
            fapi2: false,
        }
    }

    /// The static client registration.
    pub fn client(mut self, client: ClientMetadata) -> Self {
        self.client = Some(ClientRegistration::Static(client));
        self
    }

    /// Dynamic client registration with this information.
    pub fn register(mut self, info: ClientRegistrationInfo) -> Self {
        self.client = Some(ClientRegistration::Dynamic(Box::new(info)));
        self
    }

    /// Silent session refresh: a protected page request more than `interval` after the last
    /// login or refresh re-authenticates with `prompt=none` (off by default). Success updates
    /// the session's tokens, claims and userinfo; `login_required` and its kin lead to an
    /// interactive login; other errors go to the error view. API-style requests are served
    /// from the session meanwhile (a redirect would lose them).
    pub fn session_refresh_interval(mut self, interval: Duration) -> Self {
        self.session_refresh_interval = Some(interval);
        self
    }

    /// How long discovered metadata is used before it is fetched again (default 24 h). A
    /// failed refresh keeps the cached copy and is retried after the discovery retry wait.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = age;
        self
    }

    /// The scopes to request; `openid` is added if missing.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The `response_type` (default `code`).
    pub fn response_type(mut self, response_type: impl Into<String>) -> Self {
        self.response_type = response_type.into();
        self
    }

    /// The `response_mode` (default: the response type's, `query` for `code`, else
    /// `fragment`).
    pub fn response_mode(mut self, response_mode: impl Into<String>) -> Self {
        self.response_mode = Some(response_mode.into());
        self
    }

    /// A custom authentication request parameter (`prompt`, `acr_values`, `login_hint`...).
    /// The protocol's own parameters (`state`, `nonce`, `redirect_uri`, PKCE, `client_id`,
    /// `response_type`, `scope`) cannot be set this way: `build` rejects them.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.insert(name.into(), value.into());
        self
    }

    /// Sends `max_age` (OpenID Connect Core 3.1.2.1): the provider must re-authenticate a user
    /// whose last authentication is older. The returned ID token must then carry `auth_time`,
    /// no older than `max_age` plus the clock skew, or the login is refused. The same as
    /// `.param("max_age", seconds)`, which is checked the same way.
    pub fn max_age(self, max_age: Duration) -> Self {
        self.param("max_age", max_age.as_secs().to_string())
    }

    /// Sends `acr_values` (OpenID Connect Core 3.1.2.1), in order of preference. The check is
    /// strict, as if `acr` were requested as an essential claim: an ID token whose `acr` is not
    /// one of these values, or that has no `acr`, is refused (providers that treat the request
    /// as voluntary and answer with another class fail the login instead of silently granting
    /// a weaker one). The same as `.param("acr_values", "a b")`, which is checked the same way.
    pub fn acr_values<I, S>(self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        self.param("acr_values", values.join(" "))
    }

    /// The clock skew tolerated when checking `exp`, `nbf`, `iat` and `auth_time` (default
    /// 30 s).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// The allow-list of ID token signature algorithms (default: RSA, RSA-PSS, ECDSA, EdDSA).
    /// `none` and HMAC algorithms are refused here: HMAC is turned on with
    /// [`id_token_signed_response_alg`](Self::id_token_signed_response_alg) alone. An app that
    /// sets this list never has HMAC negotiated from an HMAC-only discovery document.
    pub fn algorithms<I, S>(mut self, algs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.algorithms = algs.into_iter().map(Into::into).collect();
        self.algorithms_explicit = true;
        self
    }

    /// This provider's own redirect URI, as a full URL. With several providers each needs a
    /// distinct one (RFC 9700 4.4.2, against mix-up attacks); the default is
    /// `<redirect uri>/<provider name>` (see
    /// [`RelyingPartyBuilder::redirect_uri`](crate::RelyingPartyBuilder::redirect_uri)). With a
    /// single provider, it replaces the relying party's redirect URI.
    pub fn redirect_uri(mut self, url: impl Into<String>) -> Self {
        self.redirect_uri = Some(url.into());
        self
    }

    /// Turns PKCE off (it is on by default, S256). Only for providers that reject it, and only
    /// for confidential clients: `build` refuses it for a public client (RFC 9700 2.1.1), and
    /// so does a dynamic registration that turns out public.
    pub fn disable_pkce(mut self) -> Self {
        self.pkce = false;
        self
    }

    /// Whether to call the userinfo endpoint after login (default yes, when the provider has one).
    /// `false` is the same as [`userinfo_method`](Self::userinfo_method)`(UserinfoMethod::None)`;
    /// `true` calls it the configured way.
    pub fn fetch_userinfo(mut self, fetch: bool) -> Self {
        self.fetch_userinfo = fetch;
        self
    }

    /// How the userinfo endpoint is called after login, as Flask-pyoidc's
    /// `userinfo_http_method`: `GET` with the access token in the `Authorization: Bearer`
    /// header (the default), `POST` with it in the form body (RFC 6750 2.2), or not at all.
    pub fn userinfo_method(mut self, method: crate::userinfo::UserinfoMethod) -> Self {
        self.userinfo_method = method;
        self
    }

    /// The algorithm this client's ID tokens are signed with (its registered
    /// `id_token_signed_response_alg`, also requested in dynamic registration). An HMAC
    /// algorithm (`HS256`, `HS384`, `HS512`) makes the client secret the key (OpenID Connect
    /// Core 10.1): only for confidential clients, with a secret at least as long as the hash;
    /// `build` refuses it otherwise. An asymmetric algorithm must be on the allow-list, and
    /// becomes the only one accepted. Unset, HMAC is used only when the provider advertises
    /// nothing else (see [`crate::signing`]).
    pub fn id_token_signed_response_alg(mut self, alg: impl Into<String>) -> Self {
        self.id_token_signed_response_alg = Some(alg.into());
        self
    }

    /// Asks for signed userinfo responses (`userinfo_signed_response_alg`, sent in dynamic
    /// registration; statically registered clients register it at the provider). Signed
    /// responses (`application/jwt`) are verified whether asked for or not, with this
    /// algorithm when set, else as ID tokens are; the same rules as
    /// [`id_token_signed_response_alg`](Self::id_token_signed_response_alg) apply.
    pub fn userinfo_signed_response_alg(mut self, alg: impl Into<String>) -> Self {
        self.userinfo_signed_response_alg = Some(alg.into());
        self
    }

    /// Which `iss` an ID token may carry: the issuer exactly (the default), or a
    /// multi-tenant template such as Microsoft Entra's (see [`crate::issuer`]).
    pub fn issuer_policy(mut self, policy: crate::issuer::IssuerPolicy) -> Self {
        self.issuer_policy = policy;
        self
    }

    /// The least time between two fetches of the provider's JWKS made because a token named
    /// an unknown `kid`, counted from the last attempt (successful or not), and how long a
    /// failed fetch is remembered instead of retried (default 5 s). A key rotation at the
    /// provider is picked up by the first login this long after the last fetch; a flood of
    /// tokens with made-up `kid`s costs at most one fetch per interval.
    pub fn jwks_min_refetch(mut self, age: Duration) -> Self {
        self.jwks_min_refetch = age;
        self
    }

    /// How long to wait before retrying a failed discovery (default 10 s).
    pub fn discovery_retry(mut self, wait: Duration) -> Self {
        self.discovery_retry = wait;
        self
    }

    /// This client's private key, for `private_key_jwt` (OpenID Connect Core 9): assertions
    /// are signed with it, the relying party serves its public half at its JWKS route
    /// ([`RelyingPartyBuilder::jwks_path`](crate::RelyingPartyBuilder::jwks_path)), and a
    /// dynamic registration sends that route as `jwks_uri`. With a key and no pinned method,
    /// `private_key_jwt` is preferred when the provider advertises it. Parse the key with
    /// [`ClientPrivateKey::parse`](crate::client_auth::ClientPrivateKey::parse) (PEM or JWK).
    pub fn private_key(mut self, key: crate::client_auth::ClientPrivateKey) -> Self {
        self.client_auth.key = Some(key);
        self
    }

    /// What the `aud` of this client's assertions names (default: the endpoint called; see
    /// [`AssertionAudience`](crate::client_auth::AssertionAudience)).
    pub fn client_assertion_audience(
        mut self,
        audience: crate::client_auth::AssertionAudience,
    ) -> Self {
        self.client_auth.audience = audience;
        self
    }

    // Issue 18 (P): pushed authorization requests (RFC 9126), signed request objects (RFC 9101).

    /// Pushes every authorization request to the provider's
    /// `pushed_authorization_request_endpoint` (RFC 9126), authenticated as at the token
    /// endpoint, and sends the browser with only `client_id` and the `request_uri` the provider
    /// returned: the request's parameters never travel through the browser. Off, PAR is still
    /// used when the provider's metadata says `require_pushed_authorization_requests`. On, a
    /// provider without the endpoint is a configuration error at login (and at
    /// [`RelyingParty::ready`](crate::RelyingParty::ready)); a dynamic registration asks for
    /// `require_pushed_authorization_requests`.
    pub fn pushed_authorization_requests(mut self, on: bool) -> Self {
        self.requests.push = on;
        self
    }

    /// Sends the authorization request as a request object (RFC 9101): a JWT signed with this
    /// client's key ([`private_key`](Self::private_key), which `build` then requires), header
    /// `typ: oauth-authz-req+jwt`, with `iss` = the client id, `aud` = the provider's issuer,
    /// a short `exp`, `iat`, `nbf`, `jti`, `client_id` and every authorization parameter. By
    /// value (`request=`) beside `client_id`, or pushed as `request=` with
    /// [`pushed_authorization_requests`](Self::pushed_authorization_requests). A dynamic
    /// registration sends the key's algorithm as `request_object_signing_alg`.
    pub fn signed_request_object(mut self, on: bool) -> Self {
        self.requests.signed = on;
        self
    }

    // Issue 18 (D): DPoP (RFC 9449).

    /// Binds this provider's access (and refresh) tokens to a key pair (DPoP, RFC 9449): each
    /// login gets its own ES256 key, kept in the session record (encrypted at rest when the
    /// store encrypts records), and the token request, every refresh and the userinfo call
    /// carry a proof signed with it; the provider's `DPoP-Nonce` challenges are answered (one
    /// retry). A token response that is not `token_type: DPoP`, or a JWT access token whose
    /// `cnf.jkt` names another key, ends the login. Dynamic registration asks for
    /// `dpop_bound_access_tokens`. Needs a response type with a code, and the userinfo
    /// method `Header` (the default): a DPoP-bound token travels in `Authorization: DPoP`.
    /// App code calls resource servers with
    /// [`UserSession::dpop_proof`](crate::UserSession::dpop_proof).
    pub fn dpop(mut self, on: bool) -> Self {
        self.dpop = on;
        self
    }

    // Issue 18 (J): JARM and encrypted ID tokens / userinfo.

    /// The algorithm JARM responses (`response_mode` `jwt`, `query.jwt`, `fragment.jwt`,
    /// `form_post.jwt`) are signed with (`authorization_signed_response_alg`, also sent in
    /// dynamic registration). Unset, they are verified as ID tokens are (a configured
    /// `id_token_signed_response_alg`, else the allow-list). The same rules as
    /// [`id_token_signed_response_alg`](Self::id_token_signed_response_alg) apply; HMAC only
    /// when named here or there, never negotiated.
    pub fn authorization_signed_response_alg(mut self, alg: impl Into<String>) -> Self {
        self.secured.authorization_signed_response_alg = Some(alg.into());
        self
    }

    /// A private key ID tokens and userinfo responses are encrypted to (OpenID Connect Core
    /// 10.2). Its public half is served at the relying party's JWKS route with `use: enc`
    /// (and that route is registered as `jwks_uri` in dynamic registration). Call it again
    /// to add a key: during a rotation both decrypt, the JWE's `kid` picks one. Parse the key
    /// with [`ClientDecryptionKey::parse`](crate::jwe::ClientDecryptionKey::parse).
    pub fn decryption_key(mut self, key: crate::jwe::ClientDecryptionKey) -> Self {
        self.secured.decryption_keys.push(key);
        self
    }

    /// Requires encrypted ID tokens (`id_token_encrypted_response_alg` and `_enc`, also sent
    /// in dynamic registration): `alg` `RSA-OAEP-256` or `ECDH-ES`(`+A128KW`, `+A192KW`,
    /// `+A256KW`), `enc` `A128GCM`, `A192GCM`, `A256GCM` or `A*CBC-HS*`. A plain ID token, one
    /// with another `alg`/`enc`, or an encrypted but unsigned one is then refused. `build`
    /// needs a [`decryption_key`](Self::decryption_key) that fits `alg`.
    pub fn id_token_encrypted_response(
        mut self,
        alg: impl Into<String>,
        enc: impl Into<String>,
    ) -> Self {
        self.secured.id_token = Some(crate::jwe::Encryption {
            alg: alg.into(),
            enc: enc.into(),
        });
        self
    }

    /// Requires encrypted userinfo responses (`userinfo_encrypted_response_alg` and `_enc`),
    /// as [`id_token_encrypted_response`](Self::id_token_encrypted_response); the decrypted
    /// content is verified as signed userinfo when it is a JWT, and may be plain JSON claims
    /// unless [`userinfo_signed_response_alg`](Self::userinfo_signed_response_alg) is set.
    pub fn userinfo_encrypted_response(
        mut self,
        alg: impl Into<String>,
        enc: impl Into<String>,
    ) -> Self {
        self.secured.userinfo = Some(crate::jwe::Encryption {
            alg: alg.into(),
            enc: enc.into(),
        });
        self
    }

    /// The FAPI 2.0 Security Profile for this provider (see [`crate::fapi`]): pushed
    /// authorization requests, PKCE S256, `private_key_jwt` (a
    /// [`private_key`](Self::private_key) is required; the issuer is the assertion's
    /// audience), DPoP-bound tokens, the `iss` response parameter required, PS256, ES256 or
    /// EdDSA signatures only, the code flow only. [`build`](Self::build) refuses any setting
    /// that contradicts the profile, whether made before or after this call.
    ///
    /// ```
    /// # use oidc_core::{ClientMetadata, ClientPrivateKey, ProviderConfig};
    /// # let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
    /// #     .unwrap().to_pem_private_key();
    /// # let key = ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
    /// let config = ProviderConfig::discover("https://bank.example")
    ///     .client(ClientMetadata::without_secret("my-app"))
    ///     .private_key(key)
    ///     .fapi2()
    ///     .build()
    ///     .unwrap();
    /// assert!(config.is_fapi2());
    ///
    /// // The implicit flow contradicts the profile.
    /// # let key = ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
    /// let refused = ProviderConfig::discover("https://bank.example")
    ///     .client(ClientMetadata::without_secret("my-app"))
    ///     .private_key(key)
    ///     .fapi2()
    ///     .response_type("id_token")
    ///     .build();
    /// assert!(refused.is_err());
    /// ```
    pub fn fapi2(mut self) -> Self {
        self.fapi2 = true;
        self.requests.push = true;
        self.dpop = true;
        // The preset chooses the allow-list (unless the app already did), so HMAC is never
        // negotiated from discovery for it.
        if !self.algorithms_explicit {
            self.algorithms = crate::fapi::ALGORITHMS
                .iter()
                .map(|a| a.to_string())
                .collect();
            self.algorithms_explicit = true;
        }
        self.client_auth.audience = crate::client_auth::AssertionAudience::Issuer;
        self
    }

    /// Validates and builds the configuration.
    pub fn build(self) -> Result<ProviderConfig> {
        match &self.source {
            MetadataSource::Discovery { issuer } => validate_issuer(issuer)?,
            MetadataSource::Static(m) => {
                validate_issuer(&m.issuer)?;
                if m.jwks_uri.is_none() {
                    return Err(Error::config(
                        "provider_metadata.jwks_uri",
                        "required to verify ID token signatures",
                    ));
                }
                if let Some((field, url)) = m.insecure_endpoint() {
                    return Err(Error::config(
                        "provider_metadata",
                        format!("`{field}` must use https (http only on loopback hosts): {url}"),
                    ));
                }
            }
        }
        let client = match self.client {
            Some(c) => c,
            None => return Err(Error::config(
                "client",
                "a client registration is required (ProviderConfigBuilder::client or ::register)",
            )),
        };
        match (&client, &self.source) {
            (ClientRegistration::Static(c), _) => c.validate(self.client_auth.key.is_some())?,
            (ClientRegistration::Dynamic(_), MetadataSource::Static(m))
                if m.registration_endpoint.is_none() =>
            {
                return Err(Error::config(
                    "provider_metadata.registration_endpoint",
                    "required for dynamic client registration",
                ))
            }
            (ClientRegistration::Dynamic(_), _) => {}
        }
        if !self.pkce {
            let public = match &client {
                ClientRegistration::Static(c) => c.is_public(),
                ClientRegistration::Dynamic(info) => {
                    info.token_endpoint_auth_method == Some(ClientAuthMethod::None)
                }
            };
            if public {
                return Err(public_client_without_pkce());
            }
        }
        if let Some(uri) = &self.redirect_uri {
            let url = Url::parse(uri).map_err(|e| Error::config("redirect_uri", e.to_string()))?;
            if url.fragment().is_some() {
                return Err(Error::config("redirect_uri", "must not have a fragment"));
            }
        }
        let response_type = ResponseType::parse(&self.response_type)?;
        let response_mode = match &self.response_mode {
            Some(m) => ResponseMode::parse(m)?,
            None => response_type.default_mode(),
        };
        if response_type.has_front_access_token()
            && matches!(response_mode, ResponseMode::Query | ResponseMode::QueryJwt)
        {
            return Err(Error::config(
                "response_mode",
                "tokens must not be returned in the query string (use fragment or form_post)",
            ));
        }
        let mut scopes = self.scopes;
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        for name in self.extra_params.keys() {
            if crate::login::reserved(name).is_some() {
                return Err(Error::config(
                    "auth_request_params",
                    format!("`{name}` is set by the library and cannot be overridden"),
                ));
            }
        }
        if let Some(max_age) = self.extra_params.get("max_age") {
            crate::login::parse_max_age(max_age)?;
        }
        if self.algorithms.is_empty() {
            return Err(Error::config("algorithms", "the allow-list is empty"));
        }
        for alg in &self.algorithms {
            if alg.eq_ignore_ascii_case("none") || alg.starts_with("HS") {
                return Err(Error::config(
                    "algorithms",
                    format!(
                        "`{alg}` is not allowed for ID tokens (HMAC is enabled only with \
                         id_token_signed_response_alg, keyed with the client secret)"
                    ),
                ));
            }
            if !DEFAULT_ALGORITHMS.contains(&alg.as_str()) {
                return Err(Error::config(
                    "algorithms",
                    format!("unsupported algorithm `{alg}`"),
                ));
            }
        }
        let (client, id_token_signed_response_alg, userinfo_signed_response_alg) =
            signed_response_algs(
                client,
                self.id_token_signed_response_alg,
                self.userinfo_signed_response_alg,
                &self.algorithms,
            )?;
        self.issuer_policy.validate(match &self.source {
            MetadataSource::Discovery { issuer } => issuer,
            MetadataSource::Static(m) => &m.issuer,
        })?;
        let client = if self.fapi2 {
            let settings = crate::fapi::Settings {
                response_type,
                pkce: self.pkce,
                push: self.requests.push,
                dpop: self.dpop,
                algorithms: &self.algorithms,
                pinned_algorithms: [
                    id_token_signed_response_alg.as_deref(),
                    userinfo_signed_response_alg.as_deref(),
                    self.secured.authorization_signed_response_alg.as_deref(),
                ],
                key: self.client_auth.key.as_ref(),
            };
            crate::fapi::check(&settings, client)?
        } else {
            client
        };
        // Issue 18 (P).
        let client = self
            .requests
            .settle(client, self.client_auth.key.as_ref())?;
        // Issue 18 (J).
        let client = self.secured.settle(client, &self.algorithms)?;
        // Issue 18 (D).
        let client = crate::dpop::settle(self.dpop, client, response_type, self.userinfo_method)?;
        Ok(ProviderConfig {
            source: self.source,
            client,
            scopes,
            response_type,
            response_mode,
            extra_params: self.extra_params,
            clock_skew: self.clock_skew,
            algorithms: self.algorithms,
            algorithms_explicit: self.algorithms_explicit,
            pkce: self.pkce,
            fetch_userinfo: self.fetch_userinfo,
            jwks_min_refetch: self.jwks_min_refetch,
            discovery_retry: self.discovery_retry,
            metadata_max_age: self.metadata_max_age,
            session_refresh_interval: self.session_refresh_interval,
            redirect_uri: self.redirect_uri,
            client_auth: self.client_auth,
            id_token_signed_response_alg,
            userinfo_signed_response_alg,
            userinfo_method: self.userinfo_method,
            issuer_policy: self.issuer_policy,
            requests: self.requests,
            secured: self.secured,
            dpop: self.dpop,
            fapi2: self.fapi2,
        })
    }
}

/// The configured `id_token_signed_response_alg` and `userinfo_signed_response_alg`, checked
/// (see [`crate::signing`]) and made one with a dynamic registration's: a value set on the
/// builder is requested at registration, and one set only in the registration info counts as
/// configured; two different values are an error.
#[allow(clippy::type_complexity)] // the three parts of the configuration it settles
fn signed_response_algs(
    mut client: ClientRegistration,
    id_token: Option<String>,
    userinfo: Option<String>,
    algorithms: &[String],
) -> Result<(ClientRegistration, Option<String>, Option<String>)> {
    let mut settled = [id_token, userinfo];
    for (slot, field) in settled.iter_mut().zip([
        "id_token_signed_response_alg",
        "userinfo_signed_response_alg",
    ]) {
        if let ClientRegistration::Dynamic(info) = &mut client {
            let requested = if field == "id_token_signed_response_alg" {
                &mut info.id_token_signed_response_alg
            } else {
                &mut info.userinfo_signed_response_alg
            };
            match (&*slot, &*requested) {
                (Some(a), Some(b)) if a != b => {
                    return Err(Error::config(
                        field,
                        format!(
                            "`{a}` on the provider configuration, `{b}` in the registration info"
                        ),
                    ))
                }
                (Some(a), None) => *requested = Some(a.clone()),
                (None, Some(b)) => *slot = Some(b.clone()),
                _ => {}
            }
        }
        if let Some(alg) = slot.as_deref() {
            crate::signing::check_configured_alg(field, alg, algorithms, &client)?;
        }
    }
    let [id_token, userinfo] = settled;
    Ok((client, id_token, userinfo))
}

/// RFC 9700 2.1.1: a public client has no secret to bind the code to it, so PKCE is what
/// keeps an intercepted code useless; it cannot be turned off.
pub(crate) fn public_client_without_pkce() -> Error {
    Error::config(
        "pkce",
        "public clients must use PKCE (RFC 9700 2.1.1): disable_pkce() is only for confidential clients",
    )
}

fn validate_issuer(issuer: &str) -> Result<()> {
    let url = Url::parse(issuer).map_err(|e| Error::config("issuer", e.to_string()))?;
    if url.scheme() != "https" && !is_loopback(&url) {
        return Err(Error::config(
            "issuer",
            "must use https (http is allowed only on loopback hosts)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config("issuer", "must not have a query or fragment"));
    }
    Ok(())
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ProviderConfigBuilder {
        ProviderConfig::discover("https://op.example").client(ClientMetadata::new("id", "secret"))
    }

    #[test]
    fn defaults() {
        let c = base().build().unwrap();
        assert_eq!(c.scopes(), ["openid"]);
        assert_eq!(c.clock_skew(), Duration::from_secs(30));
        assert!(c.pkce);
        assert_eq!(c.response_type(), ResponseType::Code);
    }

    #[test]
    fn openid_scope_is_added() {
        let c = base().scopes(["email"]).build().unwrap();
        assert_eq!(c.scopes(), ["openid", "email"]);
    }

    #[test]
    fn reserved_params_are_refused() {
        for p in ["state", "nonce", "redirect_uri", "code_challenge"] {
            let err = base().param(p, "x").build().unwrap_err();
            assert!(err.to_string().contains(p), "{err}");
        }
        assert!(base().param("prompt", "login").build().is_ok());
    }

    #[test]
    fn bad_issuers_are_refused() {
        for issuer in ["not a url", "http://op.example", "https://op.example/?a=b"] {
            let err = ProviderConfig::discover(issuer)
                .client(ClientMetadata::new("id", "s"))
                .build()
                .unwrap_err();
            assert!(err.to_string().contains("issuer"), "{err}");
        }
        assert!(ProviderConfig::discover("http://127.0.0.1:9000")
            .client(ClientMetadata::new("id", "s"))
            .build()
            .is_ok());
    }

    #[test]
    fn missing_client_is_refused() {
        let err = ProviderConfig::discover("https://op.example")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("client"));
    }

    #[test]
    fn algorithms_exclude_none_and_hmac() {
        assert!(base().algorithms(["none"]).build().is_err());
        assert!(base().algorithms(["HS256"]).build().is_err());
        assert!(base().algorithms(Vec::<String>::new()).build().is_err());
        assert!(base().algorithms(["XX1"]).build().is_err());
        assert!(base().algorithms(["ES256"]).build().is_ok());
    }

    /// The signed-response algorithms set on the builder are requested in dynamic
    /// registration, those set in the registration info count as configured, and two
    /// different values are refused; the userinfo method and issuer policy are kept, and
    /// `fetch_userinfo(false)` still turns userinfo off.
    #[test]
    fn provider_compatibility_settings() {
        let c = ProviderConfig::discover("https://op.example")
            .register(ClientRegistrationInfo::new("app"))
            .id_token_signed_response_alg("HS256")
            .userinfo_signed_response_alg("ES256")
            .build()
            .unwrap();
        let ClientRegistration::Dynamic(info) = c.registration() else {
            panic!("dynamic")
        };
        assert_eq!(info.id_token_signed_response_alg.as_deref(), Some("HS256"));
        assert_eq!(info.userinfo_signed_response_alg.as_deref(), Some("ES256"));
        let mut info = ClientRegistrationInfo::new("app");
        info.id_token_signed_response_alg = Some("HS512".into());
        let c = ProviderConfig::discover("https://op.example")
            .register(info.clone())
            .build()
            .unwrap();
        assert_eq!(c.id_token_signed_response_alg.as_deref(), Some("HS512"));
        let err = ProviderConfig::discover("https://op.example")
            .register(info)
            .id_token_signed_response_alg("HS256")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    field: "id_token_signed_response_alg",
                    ..
                }
            ),
            "{err}"
        );

        use crate::userinfo::UserinfoMethod;
        assert_eq!(
            base().build().unwrap().userinfo_method(),
            UserinfoMethod::Header
        );
        let c = base()
            .userinfo_method(UserinfoMethod::Body)
            .build()
            .unwrap();
        assert_eq!(c.userinfo_method(), UserinfoMethod::Body);
        let c = base()
            .userinfo_method(UserinfoMethod::Body)
            .fetch_userinfo(false)
            .build()
            .unwrap();
        assert_eq!(c.userinfo_method(), UserinfoMethod::None);
        let policy = crate::issuer::IssuerPolicy::tenant_template("https://op.example/{tenantid}");
        let c = base().issuer_policy(policy.clone()).build().unwrap();
        assert_eq!(c.issuer_policy(), &policy);
        assert!(base()
            .issuer_policy(crate::issuer::IssuerPolicy::tenant_template(
                "https://op.example"
            ))
            .build()
            .is_err());
    }

    #[test]
    fn dynamic_registration_needs_an_endpoint() {
        let mut m = ProviderMetadata::new(
            "https://op.example",
            "https://op.example/auth".parse().unwrap(),
        );
        m.jwks_uri = Some("https://op.example/jwks".parse().unwrap());
        let err = ProviderConfig::from_metadata(m.clone())
            .register(ClientRegistrationInfo::new("app"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("registration_endpoint"));
        m.registration_endpoint = Some("https://op.example/register".parse().unwrap());
        let c = ProviderConfig::from_metadata(m)
            .register(ClientRegistrationInfo::new("app"))
            .build()
            .unwrap();
        assert!(c.client().is_none());
        assert!(ProviderConfig::discover("https://op.example")
            .register(ClientRegistrationInfo::new("app"))
            .build()
            .is_ok());
    }

    #[test]
    fn public_clients_keep_pkce() {
        let public =
            || ProviderConfig::discover("https://op.example").client(ClientMetadata::public("spa"));
        let err = public().disable_pkce().build().unwrap_err();
        assert!(matches!(&err, Error::Config { field: "pkce", .. }), "{err}");
        assert!(public().build().is_ok());
        assert!(
            base().disable_pkce().build().is_ok(),
            "confidential clients may"
        );
        let mut info = ClientRegistrationInfo::new("app");
        info.token_endpoint_auth_method = Some(ClientAuthMethod::None);
        let err = ProviderConfig::discover("https://op.example")
            .register(info)
            .disable_pkce()
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("PKCE"), "{err}");
    }

    #[test]
    fn static_metadata_endpoints_must_be_https() {
        let mut m = ProviderMetadata::new(
            "https://op.example",
            "https://op.example/auth".parse().unwrap(),
        );
        m.jwks_uri = Some("https://op.example/jwks".parse().unwrap());
        m.token_endpoint = Some("http://op.example/token".parse().unwrap());
        let err = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("token_endpoint"), "{err}");
        m.token_endpoint = Some("https://op.example/token".parse().unwrap());
        m.extra.insert(
            "revocation_endpoint".into(),
            "http://op.example/revoke".into(),
        );
        let err = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("revocation_endpoint"), "{err}");
        m.extra.remove("revocation_endpoint");
        assert!(ProviderConfig::from_metadata(m)
            .client(ClientMetadata::new("id", "s"))
            .build()
            .is_ok());
    }

    #[test]
    fn static_metadata_needs_jwks() {
        let m = ProviderMetadata::new(
            "https://op.example",
            "https://op.example/auth".parse().unwrap(),
        );
        let err = ProviderConfig::from_metadata(m)
            .client(ClientMetadata::new("id", "s"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("jwks_uri"));
    }

    #[test]
    fn response_types_and_modes() {
        let err = base().response_type("token").build().unwrap_err();
        assert!(err.to_string().contains("response_type"));
        let c = base().response_type("token id_token").build().unwrap();
        assert_eq!(c.response_type(), ResponseType::IdTokenToken);
        assert_eq!(c.response_mode(), ResponseMode::Fragment);
        let c = base()
            .response_type("code")
            .response_mode("form_post")
            .build()
            .unwrap();
        assert_eq!(c.response_mode(), ResponseMode::FormPost);
        let err = base()
            .response_type("code token")
            .response_mode("query")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("response_mode"));
        assert!(base().response_mode("web_message").build().is_err());
        for rt in [
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token",
        ] {
            assert_eq!(ResponseType::parse(rt).unwrap().as_str(), rt);
        }
    }
}
