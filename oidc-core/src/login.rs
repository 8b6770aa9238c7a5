//! The authentication request (OpenID Connect Core 3.1.2.1), with `state`, `nonce` and PKCE S256.

use url::Url;

use crate::config::ProviderConfig;
use crate::error::{Error, ProtocolError, Result};
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::random::Rng;
use crate::secret::Secret;
use crate::session::PendingLogin;

/// Parameters of the authentication request that the core sets itself: neither configured
/// nor per-login parameters may override them (they carry the request's security). `request`
/// and `request_uri` are among them because a request object's values take precedence over the
/// query's (OpenID Connect Core 6.1, RFC 9101): one of the app's choosing could replace every
/// other parameter here. The token request's parameters are too, so that none is ever echoed.
pub(crate) const RESERVED_PARAMS: &[&str] = &[
    "state",
    "nonce",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "client_id",
    "response_type",
    "scope",
    "response_mode",
    "request",
    "request_uri",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "grant_type",
    "code",
];

/// The reserved parameter `name` is, compared without regard to ASCII case: a lenient server
/// that merges names case-insensitively must not see a second `State`.
pub(crate) fn reserved(name: &str) -> Option<&'static str> {
    RESERVED_PARAMS
        .iter()
        .copied()
        .find(|r| r.eq_ignore_ascii_case(name))
}

/// The redirect that starts a login, and what must be remembered to finish it. Its `Debug`
/// shows the authorization endpoint without the query, which carries `state` and `nonce`.
#[must_use]
#[non_exhaustive]
pub struct AuthenticationRequest {
    /// Where to send the browser.
    pub url: Url,
    /// What to keep in the session until the callback.
    pub pending: PendingLogin,
}

impl std::fmt::Debug for AuthenticationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut endpoint = self.url.clone();
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        f.debug_struct("AuthenticationRequest")
            .field("endpoint", &endpoint.as_str())
            .field("pending", &self.pending)
            .finish()
    }
}

/// Extra, per-login parameters (`prompt=none` for a silent refresh, a `login_hint`...).
/// Protocol parameters in it are ignored, as in the configuration.
pub type ExtraParams<'a> = &'a [(&'a str, &'a str)];

/// Parameters for one login, on top of the provider's configured ones: a `login_hint`, the
/// `acr_values` a step-up route needs, a `max_age`, `prompt`, `ui_locales` or any other
/// authentication request parameter (OpenID Connect Core 3.1.2.1). A value given here replaces
/// the configured one for this login.
///
/// The protocol's own parameters (`state`, `nonce`, `redirect_uri`, PKCE, `client_id`,
/// `response_type`, `scope`, `response_mode`) cannot be set: a login given one is refused with
/// [`Misuse::ReservedParameter`](crate::error::Misuse::ReservedParameter), since they carry
/// the request's security.
///
/// As a route's requirement ([`RelyingParty::authenticate_with`](crate::RelyingParty::authenticate_with)),
/// `acr_values` and `max_age` also apply to a session that already exists: a user whose ID
/// token has no `acr` among them, or whose ID token shows no authentication (`auth_time`)
/// within `max_age`, logs in again with these parameters (step-up authentication). A route's
/// parameters cannot ask for `prompt=none`, which would leave a user who must log in again no
/// way to.
///
/// `acr_values` and `max_age` configured on the provider
/// ([`ProviderConfigBuilder::param`](crate::ProviderConfigBuilder::param)) are the app's floor:
/// a login's own can only be stricter (the `acr_values` both name, the smaller `max_age`), and
/// a login whose `acr_values` share none with the configured ones is refused.
///
/// Its `Debug` names the parameters without their values (a `login_hint` is often an email
/// address).
///
/// ```
/// use oidc_core::login::LoginParams;
/// let step_up = LoginParams::new()
///     .acr_values(["urn:example:mfa"])
///     .max_age(300)
///     .login_hint("alice@example.com")
///     .param("claims_locales", "fr");
/// assert_eq!(step_up.get("acr_values"), Some("urn:example:mfa"));
/// assert_eq!(step_up.get("max_age"), Some("300"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoginParams {
    params: Vec<(String, String)>,
}

impl std::fmt::Debug for LoginParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.params.iter().map(|(k, _)| k))
            .finish()
    }
}

impl LoginParams {
    /// No parameters.
    pub fn new() -> Self {
        LoginParams::default()
    }

    /// Sets a parameter, replacing an earlier value of the same name.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.params.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.params.push((name, value)),
        }
        self
    }

    /// `login_hint`: the user the provider should log in (an email address, a username).
    pub fn login_hint(self, hint: impl Into<String>) -> Self {
        self.param("login_hint", hint)
    }

    /// `acr_values`: the authentication context classes asked for, in order of preference. The
    /// ID token must then carry one of them as `acr`.
    pub fn acr_values<I, S>(self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = values
            .into_iter()
            .map(|v| v.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        self.param("acr_values", joined)
    }

    /// `max_age`: the user must have authenticated at most this many seconds ago. The ID token
    /// must then carry an `auth_time` that proves it.
    pub fn max_age(self, seconds: u64) -> Self {
        self.param("max_age", seconds.to_string())
    }

    /// `prompt`: `login`, `consent`, `select_account`, or `none` (a silent login).
    pub fn prompt(self, prompt: impl Into<String>) -> Self {
        self.param("prompt", prompt)
    }

    /// `ui_locales`: the user's preferred languages, space-separated BCP 47 tags.
    pub fn ui_locales(self, locales: impl Into<String>) -> Self {
        self.param("ui_locales", locales)
    }

    /// The value of a parameter, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The parameters as they are sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Refuses the protocol's own parameters (whatever their case), a `max_age` that is not
    /// whole seconds, and `acr_values` that name no class: the callback would then check no
    /// `acr`, while a route would never find one and log in again forever.
    pub(crate) fn check(&self) -> Result<()> {
        if let Some(name) = self.params.iter().find_map(|(k, _)| reserved(k)) {
            return Err(crate::error::Misuse::ReservedParameter(name).into());
        }
        if let Some(v) = self.get("max_age") {
            parse_max_age(v)?;
        }
        if self
            .get("acr_values")
            .is_some_and(|v| v.split_ascii_whitespace().next().is_none())
        {
            return Err(Error::config("acr_values", "must name at least one class"));
        }
        Ok(())
    }

    /// [`check`](Self::check), and no `prompt=none`, for a route's parameters: a route that
    /// needs a login must be able to show the login page.
    pub(crate) fn check_for_route(&self) -> Result<()> {
        self.check()?;
        if self.get("prompt").is_some_and(|p| {
            p.split_ascii_whitespace()
                .any(|v| v.eq_ignore_ascii_case("none"))
        }) {
            return Err(Error::config(
                "prompt",
                "a route's login parameters cannot ask for prompt=none",
            ));
        }
        Ok(())
    }

    /// Whether an existing session meets this login's requirements: an `acr` among the
    /// `acr_values`, an authentication no older than `max_age` (with `skew` seconds of
    /// tolerance) as the ID token's own `auth_time` shows it: a login without one (a silent
    /// refresh, single sign-on at the provider) proves no authentication. Other parameters ask
    /// nothing of a session that exists.
    pub fn satisfied_by(&self, user: &crate::session::UserSession, now: u64, skew: u64) -> bool {
        if let Some(values) = self.get("acr_values") {
            let acr = user.id_token_claims().get_str("acr");
            let acr = acr.as_deref();
            if !acr.is_some_and(|acr| values.split_ascii_whitespace().any(|v| v == acr)) {
                return false;
            }
        }
        if let Some(max_age) = self.get("max_age").and_then(|v| v.parse::<u64>().ok()) {
            let Some(authenticated) = user.id_token.auth_time() else {
                return false;
            };
            if authenticated.saturating_add(max_age).saturating_add(skew) < now {
                return false;
            }
        }
        true
    }
}

/// Builds the authentication request for a provider.
///
/// `return_to` must be a path on the app's origin (see [`safe_return_path`]).
#[allow(clippy::too_many_arguments)]
pub fn authentication_request(
    provider_name: &str,
    config: &ProviderConfig,
    client: &ClientMetadata,
    metadata: &ProviderMetadata,
    redirect_uri: &Url,
    return_to: &str,
    extra: ExtraParams<'_>,
    now: u64,
    entropy: [u8; 32],
) -> Result<AuthenticationRequest> {
    let (params, pending) = authorization_params(
        provider_name,
        config,
        client,
        metadata,
        redirect_uri,
        return_to,
        extra,
        now,
        entropy,
    )?;
    let mut url = metadata.authorization_endpoint.clone();
    url.query_pairs_mut().extend_pairs(&params);
    Ok(AuthenticationRequest { url, pending })
}

/// The authorization request's parameters, in the order they are sent, and the login to
/// remember: what [`authentication_request`] puts in the URL, and what a pushed or signed
/// request ([`crate::par`], [`crate::request_object`]) carries instead.
#[allow(clippy::too_many_arguments)]
pub(crate) fn authorization_params(
    provider_name: &str,
    config: &ProviderConfig,
    client: &ClientMetadata,
    metadata: &ProviderMetadata,
    redirect_uri: &Url,
    return_to: &str,
    extra: ExtraParams<'_>,
    now: u64,
    entropy: [u8; 32],
) -> Result<(Vec<(String, String)>, PendingLogin)> {
    let return_to = safe_return_path(return_to)?;
    let mut rng = Rng::new(entropy);
    let state = rng.token(32);
    let nonce = rng.token(32);
    let verifier = config.pkce.then(|| rng.token(32));
    let response_type = config.response_type.as_str();
    let mode = config.response_mode;
    if let Some(modes) = &metadata.response_modes_supported {
        if !modes.iter().any(|m| m == mode.as_str()) {
            return Err(Error::config(
                "response_mode",
                format!("the provider does not support `{}`", mode.as_str()),
            ));
        }
    }
    if !metadata.response_types_supported.is_empty()
        && !metadata
            .response_types_supported
            .iter()
            .any(|r| same_response_type(r, response_type))
    {
        return Err(Error::config(
            "response_type",
            format!("the provider does not support `{response_type}`"),
        ));
    }

    let sent = sent_params(config, extra)?;
    let mut q: Vec<(String, String)> = [
        ("response_type", response_type),
        ("client_id", &client.client_id),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", &config.scopes.join(" ")),
        ("state", &state),
        ("nonce", &nonce),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if mode != config.response_type.default_mode() {
        q.push(("response_mode".into(), mode.as_str().into()));
    }
    if let Some(v) = &verifier {
        q.push(("code_challenge".into(), pkce_challenge(v)));
        q.push(("code_challenge_method".into(), "S256".into()));
    }
    q.extend(sent.iter().cloned());
    // What the ID token must then satisfy is decided by what was actually sent.
    let value = |name: &str| {
        sent.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let max_age = value("max_age").map(parse_max_age).transpose()?;
    let acr_values = value("acr_values")
        .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    // The login's own parameters, kept so that a silent login that needs interaction starts
    // the interactive one with them (`prompt=none` aside).
    let params = extra
        .iter()
        .filter(|(k, v)| !(*k == "prompt" && *v == "none") && reserved(k).is_none())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok((
        q,
        PendingLogin {
            provider: provider_name.to_owned(),
            state: Secret::new(state),
            nonce: Secret::new(nonce),
            code_verifier: verifier.map(Secret::new),
            return_to,
            created_at: now,
            response_type: config.response_type,
            response_mode: mode,
            silent: extra.iter().any(|(k, v)| *k == "prompt" && *v == "none"),
            max_age,
            acr_values,
            params,
            client_id: Some(client.client_id.clone()),
        },
    ))
}

/// The parameters sent beside the protocol's own: the configured ones, each replaced by the
/// login's value of the same name, and the login's others; reserved names never. Configured
/// `acr_values` and `max_age` are a floor: the login's may only narrow them (the classes both
/// name, in the login's order; the smaller age).
fn sent_params(config: &ProviderConfig, extra: ExtraParams<'_>) -> Result<Vec<(String, String)>> {
    let mut sent: Vec<(String, String)> = config
        .extra_params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in extra {
        if reserved(k).is_some() {
            continue;
        }
        let configured = config.extra_params.get(*k);
        let value = match (*k, configured) {
            ("acr_values", Some(floor)) => {
                let allowed: Vec<&str> = floor.split_ascii_whitespace().collect();
                let narrowed: Vec<&str> = v
                    .split_ascii_whitespace()
                    .filter(|c| allowed.contains(c))
                    .collect();
                if narrowed.is_empty() {
                    return Err(Error::config(
                        "acr_values",
                        "the login's acr_values share none with the configured ones",
                    ));
                }
                narrowed.join(" ")
            }
            ("max_age", Some(floor)) => parse_max_age(v)?.min(parse_max_age(floor)?).to_string(),
            _ => v.to_string(),
        };
        match sent.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = value,
            None => sent.push((k.to_string(), value)),
        }
    }
    Ok(sent)
}

/// A `max_age` parameter's value: whole seconds (OpenID Connect Core 3.1.2.1).
pub(crate) fn parse_max_age(value: &str) -> Result<u64> {
    value
        .parse()
        .map_err(|_| Error::config("max_age", "must be a non-negative whole number of seconds"))
}

fn same_response_type(a: &str, b: &str) -> bool {
    let mut x: Vec<&str> = a.split_ascii_whitespace().collect();
    let mut y: Vec<&str> = b.split_ascii_whitespace().collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

/// The PKCE S256 challenge for a verifier (RFC 7636 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()))
}

/// Accepts only a path on the app's own origin: it must start with a single `/`, and contain no
/// backslash or control character that a browser could read as another origin
/// (`//evil`, `/\evil`, `/%5Cevil` after decoding...). Returns the path to store.
pub fn safe_return_path(return_to: &str) -> Result<String> {
    let ok = return_to.starts_with('/')
        && !return_to.starts_with("//")
        && !return_to.contains('\\')
        && !return_to
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        && {
            // Decode the path once and check again: browsers normalise %5C and %2F where an
            // authority could start. The query and fragment cannot move the origin, so an
            // encoded backslash there (a search for one) is fine.
            let path = return_to.split(['?', '#']).next().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
            !decoded.starts_with("//") && !decoded.contains('\\')
        }
        && Url::parse("http://app.invalid")
            .and_then(|base| base.join(return_to))
            .is_ok_and(|u| u.host_str() == Some("app.invalid") && u.port().is_none());
    if ok {
        Ok(return_to.to_owned())
    } else {
        Err(ProtocolError::OffOriginReturn.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (ProviderConfig, ProviderMetadata) {
        let mut m = ProviderMetadata::new("https://op", "https://op/auth?x=1".parse().unwrap());
        m.jwks_uri = Some("https://op/jwks".parse().unwrap());
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .scopes(["openid", "email"])
            .param("prompt", "consent")
            .build()
            .unwrap();
        (c, m)
    }

    /// The protocol's own parameters cannot come from a login's parameters, whatever else is
    /// set; a `max_age` must be whole seconds; `Debug` shows names, never values.
    #[test]
    fn login_params_refuse_protocol_parameters() {
        for reserved in RESERVED_PARAMS {
            let p = LoginParams::new().login_hint("a").param(*reserved, "x");
            assert!(
                matches!(
                    p.check(),
                    Err(Error::Misuse(crate::error::Misuse::ReservedParameter(n))) if n == *reserved
                ),
                "{reserved}"
            );
        }
        for (name, canonical) in [
            ("request_uri", "request_uri"),
            ("request", "request"),
            ("State", "state"),
            ("REDIRECT_URI", "redirect_uri"),
        ] {
            assert!(
                matches!(
                    LoginParams::new().param(name, "x").check(),
                    Err(Error::Misuse(crate::error::Misuse::ReservedParameter(n))) if n == canonical
                ),
                "{name}"
            );
        }
        assert!(LoginParams::new().param("max_age", "soon").check().is_err());
        for empty in ["", "  "] {
            assert!(
                LoginParams::new()
                    .param("acr_values", empty)
                    .check()
                    .is_err(),
                "no class: the callback would check none, a route would loop"
            );
        }
        assert!(LoginParams::new()
            .acr_values(Vec::<String>::new())
            .check()
            .is_err());
        let silent = LoginParams::new().prompt("none");
        assert!(
            silent.check().is_ok(),
            "an explicit silent login may ask it"
        );
        assert!(
            silent.check_for_route().is_err(),
            "a route that needs a login must be able to show one"
        );
        assert!(LoginParams::new().prompt("login").check_for_route().is_ok());
        let ok = LoginParams::new()
            .login_hint("alice@example.com")
            .acr_values(["gold", "silver"])
            .ui_locales("fr")
            .prompt("login")
            .max_age(60)
            .param("login_hint", "bob@example.com");
        assert!(ok.check().is_ok());
        assert_eq!(ok.get("login_hint"), Some("bob@example.com"), "replaced");
        assert_eq!(ok.get("acr_values"), Some("gold silver"));
        let debug = format!("{ok:?}");
        assert!(
            debug.contains("login_hint") && !debug.contains("bob"),
            "{debug}"
        );
    }

    /// A session meets a route's parameters only with an `acr` among its `acr_values` and an
    /// authentication no older than its `max_age` (plus skew); other parameters ask nothing.
    #[test]
    fn login_params_satisfied_by_acr_and_max_age() {
        let user = |acr: Option<&str>, auth_time: Option<u64>| {
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), "alice".into());
            if let Some(a) = acr {
                claims.insert("acr".into(), a.into());
            }
            if let Some(t) = auth_time {
                claims.insert("auth_time".into(), t.into());
            }
            crate::session::UserSession {
                provider: "p".into(),
                access_token: None,
                access_token_expires_at: None,
                id_token: crate::IdToken::new(
                    Secret::new("h.p.s"),
                    crate::ClaimsSet::from_map(&claims),
                ),
                userinfo: None,
                refresh_token: None,
                last_authenticated: 500,
                last_session_refresh: 500,
                expires_at: 10_000,
                sid: None,
                dpop: None,
            }
        };
        let gold = LoginParams::new().acr_values(["gold", "platinum"]);
        assert!(gold.satisfied_by(&user(Some("platinum"), None), 1000, 0));
        assert!(!gold.satisfied_by(&user(Some("silver"), None), 1000, 0));
        assert!(!gold.satisfied_by(&user(None, None), 1000, 0));
        let fresh = LoginParams::new().max_age(100);
        assert!(fresh.satisfied_by(&user(None, Some(950)), 1000, 0));
        assert!(!fresh.satisfied_by(&user(None, Some(850)), 1000, 0));
        assert!(fresh.satisfied_by(&user(None, Some(850)), 1000, 60), "skew");
        assert!(
            !fresh.satisfied_by(&user(None, None), 1000, 0),
            "without auth_time nothing proves an authentication (a silent refresh, SSO)"
        );
        let mut just_now = user(None, None);
        just_now.last_authenticated = 999;
        assert!(
            !fresh.satisfied_by(&just_now, 1000, 0),
            "a recent login without auth_time proves no authentication"
        );
        let hint = LoginParams::new().login_hint("x").prompt("login");
        assert!(hint.satisfied_by(&user(None, None), 1000, 0));
    }

    /// A login's parameters are sent and replace the configured ones of the same name; what
    /// the ID token must satisfy follows what was sent.
    #[test]
    fn login_params_are_sent() {
        let (c, m) = setup();
        let p = LoginParams::new()
            .login_hint("alice")
            .prompt("login")
            .acr_values(["gold"])
            .max_age(30);
        let extra: Vec<(&str, &str)> = p.iter().collect();
        let r = authentication_request(
            "p",
            &c,
            c.client().unwrap(),
            &m,
            &"https://rp/cb".parse().unwrap(),
            "/",
            &extra,
            7,
            [1; 32],
        )
        .unwrap();
        let pairs: Vec<(String, String)> = r.url.query_pairs().into_owned().collect();
        let all = |k: &str| pairs.iter().filter(|(n, _)| n == k).count();
        assert_eq!(all("prompt"), 1, "the configured prompt is replaced");
        let q: std::collections::HashMap<_, _> = pairs.into_iter().collect();
        assert_eq!(q["prompt"], "login");
        assert_eq!(q["login_hint"], "alice");
        assert_eq!(q["acr_values"], "gold");
        assert_eq!(r.pending.acr_values, ["gold"]);
        assert_eq!(r.pending.max_age, Some(30));
        assert!(r
            .pending
            .params
            .contains(&("login_hint".to_owned(), "alice".to_owned())));
        let silent = [("prompt", "none"), ("acr_values", "gold")];
        let r = authentication_request(
            "p",
            &c,
            c.client().unwrap(),
            &m,
            &"https://rp/cb".parse().unwrap(),
            "/",
            &silent,
            7,
            [1; 32],
        )
        .unwrap();
        assert!(r.pending.silent);
        assert_eq!(
            r.pending.params,
            [("acr_values".to_owned(), "gold".to_owned())],
            "kept for the interactive login, prompt=none aside"
        );
    }

    #[test]
    fn request_has_everything() {
        let (c, m) = setup();
        let r = authentication_request(
            "p",
            &c,
            c.client().unwrap(),
            &m,
            &"https://rp/cb".parse().unwrap(),
            "/private?x=1",
            &[],
            7,
            [1; 32],
        )
        .unwrap();
        let q: std::collections::HashMap<_, _> = r.url.query_pairs().into_owned().collect();
        assert_eq!(q["x"], "1", "existing query kept");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "openid email");
        assert_eq!(q["prompt"], "consent");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], r.pending.state.expose());
        assert_eq!(q["nonce"], r.pending.nonce.expose());
        assert_eq!(
            q["code_challenge"],
            pkce_challenge(r.pending.code_verifier.as_ref().unwrap().expose())
        );
        assert_eq!(r.pending.return_to, "/private?x=1");
        assert_eq!(r.pending.created_at, 7);
        assert!(q["state"].len() >= 43);
    }

    #[test]
    fn per_login_params_override_config_but_not_protocol() {
        let (c, m) = setup();
        let r = authentication_request(
            "p",
            &c,
            c.client().unwrap(),
            &m,
            &"https://rp/cb".parse().unwrap(),
            "/",
            &[("prompt", "none"), ("state", "fixed")],
            7,
            [1; 32],
        )
        .unwrap();
        let states: Vec<_> = r.url.query_pairs().filter(|(k, _)| k == "state").collect();
        assert_eq!(states.len(), 1);
        assert_ne!(states[0].1, "fixed");
        let prompts: Vec<_> = r.url.query_pairs().filter(|(k, _)| k == "prompt").collect();
        assert_eq!(prompts.len(), 1);
        assert_eq!(prompts[0].1, "none");
    }

    #[test]
    fn pkce_vector_from_rfc7636() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn return_paths() {
        for good in [
            "/",
            "/a/b?c=d#e",
            "/a//b",
            "/%20",
            "/x?q=%5C",
            "/x?a=1&q=%5C",
        ] {
            assert!(safe_return_path(good).is_ok(), "{good}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "https:evil.example",
            "evil",
            "/%5Cevil.example",
            "/%2F/evil.example",
            "/V&..0/=%5Cevil",
            "/\t/evil.example",
            // Whitespace that is no control character, and a control character that is no
            // whitespace: each is refused on its own account.
            "/a b",
            "/a\u{1}b",
            "",
        ] {
            assert!(safe_return_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn response_mode_is_sent_when_not_default() {
        let (_, mut m) = setup();
        m.response_types_supported = vec![];
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .response_mode("form_post")
            .build()
            .unwrap();
        let cb: Url = "https://rp/cb".parse().unwrap();
        let rnd = [1u8; 32];
        let r = authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &[], 7, rnd)
            .unwrap();
        assert!(r
            .url
            .query_pairs()
            .any(|(k, v)| k == "response_mode" && v == "form_post"));
        m.response_modes_supported = Some(vec!["query".into()]);
        let err = authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &[], 7, rnd)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Config {
                field: "response_mode",
                ..
            }
        ));
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .response_type("code id_token")
            .build()
            .unwrap();
        m.response_modes_supported = None;
        let r = authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &[], 7, rnd)
            .unwrap();
        assert!(!r.url.query_pairs().any(|(k, _)| k == "response_mode"));
        assert_eq!(
            r.pending.response_mode,
            crate::config::ResponseMode::Fragment
        );
    }

    #[test]
    fn unsupported_response_type_is_config_error() {
        let (c, mut m) = setup();
        m.response_types_supported = vec!["id_token".into()];
        let err = authentication_request(
            "p",
            &c,
            c.client().unwrap(),
            &m,
            &"https://rp/cb".parse().unwrap(),
            "/",
            &[],
            7,
            [1; 32],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Config {
                field: "response_type",
                ..
            }
        ));
    }

    /// The pending login remembers the `max_age` and `acr_values` actually sent; a login's own
    /// may only narrow the configured ones (the classes both name, the smaller age), and one
    /// sharing no class with them is refused; a `max_age` that is not whole seconds is refused,
    /// in the configuration and per login.
    #[test]
    fn pending_login_remembers_max_age_and_acr_values() {
        let (_, m) = setup();
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .max_age(std::time::Duration::from_secs(300))
            .acr_values(["urn:gold", "urn:silver"])
            .build()
            .unwrap();
        let cb: Url = "https://rp/cb".parse().unwrap();
        let rnd = [1u8; 32];
        let r = authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &[], 7, rnd)
            .unwrap();
        let q: std::collections::HashMap<_, _> = r.url.query_pairs().into_owned().collect();
        assert_eq!(q["max_age"], "300");
        assert_eq!(q["acr_values"], "urn:gold urn:silver");
        assert_eq!(r.pending.max_age, Some(300));
        assert_eq!(r.pending.acr_values, ["urn:gold", "urn:silver"]);
        let extra = [("max_age", "0"), ("acr_values", "urn:platinum urn:silver")];
        let r = authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &extra, 7, rnd)
            .unwrap();
        let q: std::collections::HashMap<_, _> = r.url.query_pairs().into_owned().collect();
        assert_eq!(q["acr_values"], "urn:silver", "narrowed to what both name");
        assert_eq!(r.pending.max_age, Some(0));
        assert_eq!(r.pending.acr_values, ["urn:silver"]);
        let weaker = [("max_age", "900"), ("acr_values", "urn:silver")];
        let r = authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &weaker, 7, rnd)
            .unwrap();
        assert_eq!(
            r.pending.max_age,
            Some(300),
            "the configured age stays the floor"
        );
        let outside = [("acr_values", "urn:platinum")];
        assert!(matches!(
            authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &outside, 7, rnd),
            Err(Error::Config {
                field: "acr_values",
                ..
            })
        ));
        let err = authentication_request(
            "p",
            &c,
            c.client().unwrap(),
            &m,
            &cb,
            "/",
            &[("max_age", "-1")],
            7,
            rnd,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Config {
                field: "max_age",
                ..
            }
        ));
        let err = ProviderConfig::from_metadata(m)
            .client(ClientMetadata::new("id", "s"))
            .param("max_age", "soon")
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Config {
                field: "max_age",
                ..
            }
        ));
    }

    fn request(
        c: &ProviderConfig,
        m: &ProviderMetadata,
        extra: ExtraParams<'_>,
    ) -> AuthenticationRequest {
        authentication_request(
            "p",
            c,
            c.client().unwrap(),
            m,
            &"https://rp/cb".parse().unwrap(),
            "/",
            extra,
            7,
            [1; 32],
        )
        .unwrap()
    }

    fn values(r: &AuthenticationRequest, name: &str) -> Vec<String> {
        r.url
            .query_pairs()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    /// No per-login parameter can replace a protocol parameter: each is sent once, with the
    /// value the core chose.
    #[test]
    fn per_login_params_cannot_replace_protocol_params() {
        let (c, m) = setup();
        let reserved = [
            "state",
            "nonce",
            "redirect_uri",
            "code_challenge",
            "code_challenge_method",
            "client_id",
            "response_type",
            "scope",
            "response_mode",
        ];
        let extra: Vec<(&str, &str)> = reserved.iter().map(|k| (*k, "attacker")).collect();
        let r = request(&c, &m, &extra);
        for k in reserved {
            let v = values(&r, k);
            assert!(v.iter().all(|v| v != "attacker"), "{k}: {v:?}");
        }
        assert_eq!(values(&r, "client_id"), ["id"]);
        assert_eq!(values(&r, "redirect_uri"), ["https://rp/cb"]);
        assert_eq!(values(&r, "code_challenge_method"), ["S256"]);
        assert!(
            values(&r, "response_mode").is_empty(),
            "the default is not sent"
        );
        // Other parameters pass, once each.
        let r = request(&c, &m, &[("login_hint", "bob"), ("prompt", "login")]);
        assert_eq!(values(&r, "login_hint"), ["bob"]);
        assert_eq!(values(&r, "prompt"), ["login"]);
    }

    /// A login is silent (a session refresh) exactly when it sends `prompt=none`.
    #[test]
    fn only_prompt_none_makes_a_silent_login() {
        let (c, m) = setup();
        assert!(request(&c, &m, &[("prompt", "none")]).pending.silent);
        assert!(!request(&c, &m, &[("prompt", "login")]).pending.silent);
        assert!(!request(&c, &m, &[("login_hint", "none")]).pending.silent);
        assert!(
            !request(&c, &m, &[]).pending.silent,
            "configured prompt=consent"
        );
    }

    /// Without PKCE no challenge is sent and no verifier kept; with it, each login has its own.
    #[test]
    fn pkce_can_be_disabled_and_is_fresh_per_login() {
        let (_, m) = setup();
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .disable_pkce()
            .build()
            .unwrap();
        let r = request(&c, &m, &[]);
        assert!(r.pending.code_verifier.is_none());
        assert!(values(&r, "code_challenge").is_empty());
        assert!(values(&r, "code_challenge_method").is_empty());

        let (c, m) = setup();
        let (ea, eb) = ([5u8; 32], [6u8; 32]);
        let cb: Url = "https://rp/cb".parse().unwrap();
        let a =
            authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &[], 7, ea).unwrap();
        let b =
            authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &[], 7, eb).unwrap();
        let secrets = |r: &AuthenticationRequest| {
            [
                r.pending.state.expose().to_owned(),
                r.pending.nonce.expose().to_owned(),
                r.pending
                    .code_verifier
                    .as_ref()
                    .unwrap()
                    .expose()
                    .to_owned(),
            ]
        };
        let all: std::collections::HashSet<String> =
            secrets(&a).into_iter().chain(secrets(&b)).collect();
        assert_eq!(all.len(), 6, "state, nonce and verifier all differ");
        assert_eq!(a.pending.provider, "p");
        assert_eq!(a.pending.response_type, c.response_type);
    }

    /// A provider's supported response types match regardless of word order; a type it does
    /// not list is refused.
    #[test]
    fn response_types_match_in_any_order() {
        assert!(same_response_type("code id_token", "id_token code"));
        assert!(same_response_type("code", "code"));
        assert!(!same_response_type("code", "code id_token"));
        assert!(!same_response_type("code token", "code id_token"));
        let (_, mut m) = setup();
        m.response_types_supported = vec!["token id_token code".into()];
        let c = ProviderConfig::from_metadata(m.clone())
            .client(ClientMetadata::new("id", "s"))
            .response_type("code id_token token")
            .build()
            .unwrap();
        assert_eq!(
            values(&request(&c, &m, &[]), "response_type"),
            ["code id_token token"]
        );
    }

    /// `Debug` shows where the browser goes, never the `state` or `nonce` in the query.
    #[test]
    fn debug_hides_state_and_nonce() {
        let (c, m) = setup();
        let r = request(&c, &m, &[]);
        let shown = format!("{r:?}");
        assert!(shown.contains("https://op/auth"), "{shown}");
        assert!(!shown.contains(r.pending.state.expose()), "{shown}");
        assert!(!shown.contains(r.pending.nonce.expose()), "{shown}");
    }

    /// A configured parameter is sent beside per-login parameters that do not name it (here
    /// `prompt=consent` beside a `login_hint`), and replaced only by one that does.
    #[test]
    fn configured_params_are_sent_unless_a_login_overrides_them() {
        let (c, m) = setup();
        let r = request(&c, &m, &[("login_hint", "bob")]);
        assert_eq!(values(&r, "prompt"), ["consent"]);
        assert_eq!(values(&r, "login_hint"), ["bob"]);
        let r = request(&c, &m, &[("login_hint", "bob"), ("prompt", "login")]);
        assert_eq!(values(&r, "prompt"), ["login"]);
    }
}
