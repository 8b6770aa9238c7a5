//! Bearer tokens at a protected API (RFC 6750): reading the `Authorization` header, what a
//! validated token says ([`TokenIdentity`]), scope checks, and the `WWW-Authenticate`
//! challenges of refusals.
//!
//! Validation itself lives in [`crate::introspection`] (RFC 7662, asking the provider) and
//! [`crate::access_token`] (RFC 9068, JWT access tokens checked locally);
//! [`RelyingParty::authorize_bearer`](crate::RelyingParty::authorize_bearer) wires them up.
//!
//! ```
//! use http::HeaderMap;
//! use oidc_core::bearer::bearer_token;
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", "bEaReR abc.def-ghi".parse().unwrap());
//! assert_eq!(bearer_token(&headers).unwrap(), "abc.def-ghi");
//! ```

use bytes::Bytes;
use http::header::{self, HeaderValue};
use serde_json::{Map, Value};

use crate::error::BearerError;
use crate::secret::Secret;

/// How bearer tokens are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BearerValidation {
    /// Token introspection at the provider (RFC 7662), with a short-lived cache of results.
    /// Works with opaque tokens; revocation is seen within the cache's lifetime.
    #[default]
    Introspection,
    /// Local validation of JWT access tokens (RFC 9068) against the provider's JWKS: no call
    /// to the provider per request.
    Jwt,
}

impl BearerValidation {
    /// Parses `introspection` or `jwt`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.trim() {
            "introspection" => Ok(BearerValidation::Introspection),
            "jwt" => Ok(BearerValidation::Jwt),
            other => Err(crate::Error::config(
                "bearer_validation",
                format!("`{other}` is neither `introspection` nor `jwt`"),
            )),
        }
    }

    /// The name, as [`parse`](Self::parse) takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            BearerValidation::Introspection => "introspection",
            BearerValidation::Jwt => "jwt",
        }
    }
}

/// What a protected API route demands of a bearer token, on top of what the relying party is
/// configured with ([`RelyingPartyBuilder::bearer_scopes`](crate::RelyingPartyBuilder::bearer_scopes)
/// and friends): extra scopes are added to the configured ones; the audience, validation and
/// provider, when set, replace the configured ones.
///
/// ```
/// use oidc_core::bearer::{BearerRequirements, BearerValidation};
/// let r = BearerRequirements::new().scopes(["orders.read"]).validation(BearerValidation::Jwt);
/// assert_eq!(r.required_scopes(), ["orders.read"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct BearerRequirements {
    scopes: Vec<String>,
    audience: Option<String>,
    validation: Option<BearerValidation>,
    provider: Option<String>,
    /// Issue 18 (D): whether this route accepts DPoP-bound tokens (beyond the builder's).
    dpop: bool,
}

impl BearerRequirements {
    /// No requirements beyond the relying party's configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scopes the token must carry (all of them).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The audience the token must carry.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How to validate the token.
    pub fn validation(mut self, validation: BearerValidation) -> Self {
        self.validation = Some(validation);
        self
    }

    /// The provider that issued the token (default: the default provider).
    pub fn provider(mut self, name: impl Into<String>) -> Self {
        self.provider = Some(name.into());
        self
    }

    /// Issue 18 (D): accepts `Authorization: DPoP` tokens with their proof on this route (RFC
    /// 9449), as [`RelyingPartyBuilder::bearer_accept_dpop`](crate::RelyingPartyBuilder::bearer_accept_dpop)
    /// does for every route.
    pub fn accept_dpop(mut self, on: bool) -> Self {
        self.dpop = on;
        self
    }

    /// Whether these requirements accept DPoP-bound tokens.
    pub fn accepts_dpop(&self) -> bool {
        self.dpop
    }

    /// The scopes these requirements add.
    pub fn required_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The audience, if set.
    pub fn required_audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The validation, if set.
    pub fn required_validation(&self) -> Option<BearerValidation> {
        self.validation
    }

    /// The provider, if set.
    pub fn required_provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }
}

/// A validated bearer token: its claims (from introspection or from the JWT) and scopes.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct TokenIdentity {
    /// The token itself (to pass on to another API, say).
    pub token: Secret,
    /// The claims: the introspection response's members, or the JWT's payload.
    pub claims: Map<String, Value>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// How the token was validated.
    pub validation: BearerValidation,
}

impl std::fmt::Debug for TokenIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIdentity")
            .field("sub", &self.subject())
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes)
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

impl TokenIdentity {
    /// A validated token's identity.
    pub fn new(token: &str, claims: Map<String, Value>, validation: BearerValidation) -> Self {
        TokenIdentity {
            token: Secret::new(token),
            scopes: scopes_of(&claims),
            claims,
            validation,
        }
    }

    /// The `sub` claim: the user, or the client for a client credentials token.
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The `client_id` claim: the client the token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.claims.get("client_id").and_then(Value::as_str)
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Who a request protected by
/// [`RelyingParty::session_or_bearer`](crate::RelyingParty::session_or_bearer) comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Principal {
    /// A browser with a logged-in session.
    Session(std::sync::Arc<crate::session::UserSession>),
    /// An API client with a valid bearer token.
    Bearer(TokenIdentity),
}

impl Principal {
    /// The subject: the session's user, or the token's `sub`.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Principal::Session(u) => Some(u.subject()),
            Principal::Bearer(t) => t.subject(),
        }
    }
}

/// The bearer token of a request (RFC 6750 2.1): the scheme is case-insensitive, the token
/// must have the `b64token` syntax.
///
/// No `Authorization` header, or one with another scheme, is [`BearerError::Missing`]; several
/// `Authorization` headers are [`BearerError::InvalidRequest`]; a malformed token is
/// [`BearerError::InvalidToken`].
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str, BearerError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::InvalidRequest(
            "the request has several Authorization headers",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| BearerError::InvalidRequest("the Authorization header is not ASCII"))?
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Missing);
    }
    let token = rest.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(BearerError::InvalidToken("malformed bearer token".into()));
    }
    Ok(token)
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The scopes of a token's claims: the space-separated `scope` string (RFC 7662, RFC 9068),
/// else an `scp` array or string (a common variant).
pub fn scopes_of(claims: &Map<String, Value>) -> Vec<String> {
    let split = |s: &str| s.split_ascii_whitespace().map(str::to_owned).collect();
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => split(s),
        (_, Some(Value::Array(a))) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        (_, Some(Value::String(s))) => split(s),
        _ => Vec::new(),
    }
}

/// The audiences of a token's claims (`aud`, a string or an array).
pub fn audiences_of(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Checks that every required scope was granted; the missing ones make an
/// [`BearerError::InsufficientScope`].
pub fn check_scopes(granted: &[String], required: &[String]) -> Result<(), BearerError> {
    let missing: Vec<String> = required
        .iter()
        .filter(|r| !granted.contains(r))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BearerError::InsufficientScope(missing))
    }
}

/// Keeps what may appear in a quoted auth-param (RFC 6750 3: `%x20-21 / %x23-5B / %x5D-7E`).
fn quotable(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .take(200)
        .collect()
}

/// The `WWW-Authenticate` challenge for a refusal (RFC 6750 3). A request without a token
/// gets no error code; an insufficient scope names the scopes `required`.
pub fn challenge(error: &BearerError, realm: Option<&str>, required: &[String]) -> HeaderValue {
    let mut params = Vec::new();
    if let Some(realm) = realm {
        params.push(format!("realm=\"{}\"", quotable(realm)));
    }
    if *error != BearerError::Missing {
        params.push(format!("error=\"{}\"", error.error_code()));
        params.push(format!(
            "error_description=\"{}\"",
            quotable(&error.to_string())
        ));
    }
    if matches!(error, BearerError::InsufficientScope(_)) && !required.is_empty() {
        params.push(format!("scope=\"{}\"", quotable(&required.join(" "))));
    }
    let value = if params.is_empty() {
        "Bearer".to_owned()
    } else {
        format!("Bearer {}", params.join(", "))
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// The challenge of a `401` for a route that only a logged-in browser session opens:
/// `Session realm="..."`. No bearer token would be accepted there, so none is invited.
pub fn session_challenge(realm: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Session realm=\"{}\"", quotable(realm)))
        .unwrap_or_else(|_| HeaderValue::from_static("Session"))
}

/// The response refusing a bearer token: `400`, `401` or `403` with the challenge in
/// `WWW-Authenticate` and a JSON body `{"error", "error_description"}`.
pub fn rejection_response(
    error: &BearerError,
    realm: Option<&str>,
    required: &[String],
) -> http::Response<Bytes> {
    let body = serde_json::json!({
        "error": error.error_code(),
        "error_description": error.to_string(),
    });
    let mut r = http::Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = error.status();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::WWW_AUTHENTICATE, challenge(error, realm, required));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn reads_the_bearer_token() {
        assert_eq!(bearer_token(&headers(&["Bearer abc"])).unwrap(), "abc");
        assert_eq!(
            bearer_token(&headers(&["BEARER a/b+c=="])).unwrap(),
            "a/b+c=="
        );
        assert_eq!(bearer_token(&headers(&["bearer  x.y.z"])).unwrap(), "x.y.z");
    }

    #[test]
    fn refuses_what_is_not_a_bearer_token() {
        assert_eq!(bearer_token(&headers(&[])), Err(BearerError::Missing));
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"])),
            Err(BearerError::Missing)
        );
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer ==",
        ] {
            assert!(
                matches!(
                    bearer_token(&headers(&[bad])),
                    Err(BearerError::InvalidToken(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(BearerError::InvalidRequest(_))
        ));
        let mut h = http::HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(matches!(
            bearer_token(&h),
            Err(BearerError::InvalidRequest(_))
        ));
    }

    #[test]
    fn scopes_and_audiences() {
        let c = json!({"scope": "a b  c", "aud": ["x", "y"]});
        let c = c.as_object().unwrap();
        assert_eq!(scopes_of(c), ["a", "b", "c"]);
        assert_eq!(audiences_of(c), ["x", "y"]);
        let c = json!({"scp": ["a", "b"], "aud": "x"});
        assert_eq!(scopes_of(c.as_object().unwrap()), ["a", "b"]);
        assert_eq!(audiences_of(c.as_object().unwrap()), ["x"]);
        let c = json!({"scp": "a b"});
        assert_eq!(scopes_of(c.as_object().unwrap()), ["a", "b"]);
        assert!(scopes_of(&Map::new()).is_empty());
        assert!(audiences_of(&Map::new()).is_empty());
        let granted = vec!["a".to_owned(), "b".to_owned()];
        assert!(check_scopes(&granted, &["a".into()]).is_ok());
        assert_eq!(
            check_scopes(&granted, &["a".into(), "c".into(), "d".into()]),
            Err(BearerError::InsufficientScope(vec!["c".into(), "d".into()]))
        );
    }

    #[test]
    fn session_challenge_names_the_realm() {
        assert_eq!(
            session_challenge("https://app.example"),
            "Session realm=\"https://app.example\""
        );
        assert_eq!(session_challenge("a\"b\n"), "Session realm=\"ab\"");
    }

    #[test]
    fn challenges_follow_rfc6750() {
        assert_eq!(
            challenge(&BearerError::Missing, Some("app"), &[]),
            "Bearer realm=\"app\""
        );
        assert_eq!(challenge(&BearerError::Missing, None, &[]), "Bearer");
        let c = challenge(
            &BearerError::InvalidToken("bad \"quote\"\n".into()),
            None,
            &[],
        );
        // The error's Display escapes the newline as `\n` (log injection); the challenge then
        // drops the backslash and the quotes, which a quoted-string cannot carry as they are.
        assert_eq!(
            c,
            "Bearer error=\"invalid_token\", error_description=\"invalid token: bad quoten\""
        );
        let r = rejection_response(
            &BearerError::InsufficientScope(vec!["b".into()]),
            Some("app"),
            &["a".into(), "b".into()],
        );
        assert_eq!(r.status(), http::StatusCode::FORBIDDEN);
        let c = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(c.contains("error=\"insufficient_scope\""), "{c}");
        assert!(c.contains("scope=\"a b\""), "{c}");
        let body: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
        let r = rejection_response(&BearerError::InvalidRequest("two"), None, &[]);
        assert_eq!(r.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn identity_and_settings() {
        let claims = json!({"sub": "alice", "client_id": "c", "scope": "a b"});
        let id = TokenIdentity::new(
            "secret-token",
            claims.as_object().unwrap().clone(),
            BearerValidation::Jwt,
        );
        assert_eq!(id.subject(), Some("alice"));
        assert_eq!(id.client_id(), Some("c"));
        assert!(id.has_scope("b") && !id.has_scope("c"));
        assert!(!format!("{id:?}").contains("secret-token"));
        assert_eq!(
            BearerValidation::parse("jwt").unwrap(),
            BearerValidation::Jwt
        );
        assert_eq!(
            BearerValidation::parse(BearerValidation::Introspection.as_str()).unwrap(),
            BearerValidation::Introspection
        );
        assert!(BearerValidation::parse("magic").is_err());
        let r = BearerRequirements::new()
            .scopes(["a"])
            .audience("https://api")
            .provider("p")
            .validation(BearerValidation::Jwt);
        assert_eq!(r.required_scopes(), ["a"]);
        assert_eq!(r.required_audience(), Some("https://api"));
        assert_eq!(r.required_provider(), Some("p"));
        assert_eq!(r.required_validation(), Some(BearerValidation::Jwt));
    }

    /// A principal's subject is its session's user or its token's `sub`; a token identity's
    /// `Debug` shows who, never the token; a scope challenge names the scopes only when some
    /// are required.
    #[test]
    fn principals_debug_and_scope_challenges() {
        let claims = json!({"sub": "bob", "client_id": "c"});
        let id = TokenIdentity::new(
            "secret-token",
            claims.as_object().unwrap().clone(),
            BearerValidation::Introspection,
        );
        let shown = format!("{id:?}");
        assert!(
            shown.contains("bob") && shown.contains("Introspection"),
            "{shown}"
        );
        assert_eq!(Principal::Bearer(id).subject(), Some("bob"));
        let anonymous = TokenIdentity::new("t", Map::new(), BearerValidation::Jwt);
        assert_eq!(Principal::Bearer(anonymous).subject(), None);
        assert_eq!(BearerValidation::Jwt.as_str(), "jwt");
        assert_eq!(BearerValidation::Introspection.as_str(), "introspection");
        assert_eq!(
            challenge(&BearerError::InsufficientScope(vec!["a".into()]), None, &[]),
            "Bearer error=\"insufficient_scope\", error_description=\"the token lacks the scope `a`\""
        );
        // Only an insufficient scope names the scopes a route requires.
        assert_eq!(
            challenge(&BearerError::InvalidToken("x".into()), None, &["a".into()]),
            "Bearer error=\"invalid_token\", error_description=\"invalid token: x\""
        );
        assert!(!is_b64token("") && !is_b64token("==") && !is_b64token("a b"));
        assert!(is_b64token("aZ09-._~+/=="));
    }
}
