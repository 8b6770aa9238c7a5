//! The authentication request (OpenID Connect Core 3.1.2.1), with `state`, `nonce` and PKCE S256.

use url::Url;

use crate::config::ProviderConfig;
use crate::error::{Error, ProtocolError, Result};
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::random::Rng;
use crate::secret::Secret;
use crate::session::PendingLogin;

/// Parameters of the authentication request that the core sets itself: neither configured
/// nor per-login parameters may override them (they carry the request's security).
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
];

/// The redirect that starts a login, and what must be remembered to finish it. Its `Debug`
/// shows the authorization endpoint without the query, which carries `state` and `nonce`.
#[must_use]
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

    let mut url = metadata.authorization_endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", response_type)
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", &config.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce);
        if mode != config.response_type.default_mode() {
            q.append_pair("response_mode", mode.as_str());
        }
        if let Some(v) = &verifier {
            q.append_pair("code_challenge", &pkce_challenge(v))
                .append_pair("code_challenge_method", "S256");
        }
        for (k, v) in &config.extra_params {
            if !extra.iter().any(|(ek, _)| ek == k) {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            if !RESERVED_PARAMS.contains(k) {
                q.append_pair(k, v);
            }
        }
    }
    // What the ID token must then satisfy is decided by what was actually sent: a per-login
    // value overrides the configured one, as in the URL above.
    let sent = |name: &str| {
        extra
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .or_else(|| config.extra_params.get(name).map(String::as_str))
    };
    let max_age = sent("max_age").map(parse_max_age).transpose()?;
    let acr_values = sent("acr_values")
        .map(|v| v.split_ascii_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(AuthenticationRequest {
        url,
        pending: PendingLogin {
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
        },
    })
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

    /// The pending login remembers the `max_age` and `acr_values` actually sent (a per-login
    /// value overriding the configured one); a `max_age` that is not whole seconds is refused,
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
        let extra = [("max_age", "0"), ("acr_values", "urn:platinum")];
        let r = authentication_request("p", &c, c.client().unwrap(), &m, &cb, "/", &extra, 7, rnd)
            .unwrap();
        assert_eq!(r.pending.max_age, Some(0));
        assert_eq!(r.pending.acr_values, ["urn:platinum"]);
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
