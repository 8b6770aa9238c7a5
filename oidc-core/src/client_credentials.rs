//! The client credentials grant (RFC 6749 4.4): a token for the app itself, to call other
//! APIs, and a cache that keeps each token until shortly before it expires.

use std::time::Duration;

use bytes::Bytes;

use crate::client_auth::ClientAuth;
use crate::error::{Error, Result};
use crate::introspection::TtlCache;
use crate::metadata::{ClientAuthMethod, ClientMetadata};
use crate::secret::Secret;
use crate::token::{self, TokenResponse};

/// Parameters the grant sets itself, which `extra` parameters may not override.
const RESERVED: &[&str] = &[
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "code",
    "refresh_token",
    "redirect_uri",
];

/// The token request: `grant_type=client_credentials`, the space-joined `scope` when given,
/// and `extra` parameters (such as `audience` or `resource`), with this client's
/// authentication by secret; JWT assertions need [`client_credentials_request_with`].
/// Public clients cannot use the grant.
pub fn client_credentials_request(
    token_endpoint: &str,
    client: &ClientMetadata,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> Result<http::Request<Bytes>> {
    client_credentials_request_with(token_endpoint, &ClientAuth::new(client), scopes, extra)
}

/// The client credentials token request, authenticated by `auth` (any confidential method,
/// JWT assertions included).
pub fn client_credentials_request_with(
    token_endpoint: &str,
    auth: &ClientAuth<'_>,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> Result<http::Request<Bytes>> {
    if auth.method() == ClientAuthMethod::None {
        return Err(Error::config(
            "client",
            "the client credentials grant needs a confidential client (a client secret or key)",
        ));
    }
    if let Some((name, _)) = extra.iter().find(|(k, _)| RESERVED.contains(k)) {
        return Err(Error::config(
            "client_credentials.extra",
            format!("`{name}` is set by the grant itself"),
        ));
    }
    let scope = scopes.join(" ");
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    if !scope.is_empty() {
        form.push(("scope", &scope));
    }
    form.extend_from_slice(extra);
    auth.post_form(token_endpoint, form)
}

/// Parses the token endpoint's answer (a token response; no ID token is expected).
pub fn parse_client_credentials_response(response: http::Response<Bytes>) -> Result<TokenResponse> {
    token::parse_token_response(response)
}

/// Client credentials tokens by provider, scopes and extra parameters, each kept until
/// `margin` before it expires (tokens without `expires_in` are not cached), for at most
/// `capacity` combinations.
pub struct ClientCredentialsCache {
    cache: TtlCache<String, Secret>,
    margin: u64,
}

impl std::fmt::Debug for ClientCredentialsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentialsCache")
            .field("len", &self.cache.len())
            .field("margin", &self.margin)
            .finish()
    }
}

impl ClientCredentialsCache {
    /// A cache that renews tokens `margin` before they expire.
    pub fn new(margin: Duration, capacity: usize) -> Self {
        ClientCredentialsCache {
            cache: TtlCache::new(capacity),
            margin: margin.as_secs(),
        }
    }

    /// The cache key: the same scopes and parameters in any order share a token.
    fn key(provider: &str, scopes: &[&str], extra: &[(&str, &str)]) -> String {
        let mut scopes: Vec<&str> = scopes.to_vec();
        scopes.sort_unstable();
        scopes.dedup();
        let mut extra: Vec<(&str, &str)> = extra.to_vec();
        extra.sort_unstable();
        serde_json::json!([provider, scopes, extra]).to_string()
    }

    /// A cached token still valid beyond the margin at `now`.
    pub fn get(
        &self,
        provider: &str,
        scopes: &[&str],
        extra: &[(&str, &str)],
        now: u64,
    ) -> Option<Secret> {
        self.cache.get(&Self::key(provider, scopes, extra), now)
    }

    /// Caches a token response obtained at `now`.
    pub fn insert(
        &self,
        provider: &str,
        scopes: &[&str],
        extra: &[(&str, &str)],
        tokens: &TokenResponse,
        now: u64,
    ) {
        let Some(lifetime) = tokens.expires_in else {
            return;
        };
        let until = now.saturating_add(lifetime).saturating_sub(self.margin);
        self.cache.insert(
            Self::key(provider, scopes, extra),
            tokens.access_token.clone(),
            until,
            now,
        );
    }

    /// How many tokens are held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtocolError;

    fn form(r: &http::Request<Bytes>) -> Vec<(String, String)> {
        form_urlencoded::parse(r.body()).into_owned().collect()
    }

    #[test]
    fn request() {
        let c = ClientMetadata::new("id", "secret");
        let r = client_credentials_request(
            "https://op/token",
            &c,
            &["a", "b"],
            &[("audience", "https://api")],
        )
        .unwrap();
        let f = form(&r);
        assert!(f.contains(&("grant_type".into(), "client_credentials".into())));
        assert!(f.contains(&("scope".into(), "a b".into())));
        assert!(f.contains(&("audience".into(), "https://api".into())));
        assert!(r.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Basic "));
        let r = client_credentials_request("https://op/token", &c, &[], &[]).unwrap();
        assert!(!form(&r).iter().any(|(k, _)| k == "scope"));
    }

    /// A client with a private key and no secret may use the grant, by `private_key_jwt`.
    #[test]
    fn private_key_client_request() {
        let pem =
            josekit::jwk::alg::ed::EdKeyPair::generate(josekit::jwk::alg::ed::EdCurve::Ed25519)
                .unwrap()
                .to_pem_private_key();
        let key = crate::ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
        let c = ClientMetadata::without_secret("id");
        assert!(
            client_credentials_request("https://op/token", &c, &[], &[]).is_err(),
            "no secret, no key: nothing to authenticate with"
        );
        let auth = ClientAuth::new(&c)
            .private_key(Some(&key))
            .assertion(5, "j");
        let r = client_credentials_request_with("https://op/token", &auth, &["a"], &[]).unwrap();
        let f = form(&r);
        assert!(f.contains(&("grant_type".into(), "client_credentials".into())));
        assert!(f.iter().any(|(k, _)| k == "client_assertion"));
        assert!(r.headers().get("authorization").is_none());
    }

    #[test]
    fn refusals() {
        let public = ClientMetadata::public("id");
        assert!(matches!(
            client_credentials_request("https://op/token", &public, &[], &[]),
            Err(Error::Config {
                field: "client",
                ..
            })
        ));
        let c = ClientMetadata::new("id", "secret");
        for reserved in ["grant_type", "client_secret", "scope"] {
            assert!(matches!(
                client_credentials_request("https://op/token", &c, &[], &[(reserved, "x")]),
                Err(Error::Config { .. })
            ));
        }
        let bad = http::Response::builder()
            .status(400)
            .body(Bytes::from_static(br#"{"error":"unauthorized_client"}"#))
            .unwrap();
        assert!(matches!(
            parse_client_credentials_response(bad),
            Err(Error::Provider(e)) if e.error == "unauthorized_client"
        ));
        let bad = http::Response::builder()
            .status(200)
            .body(Bytes::from_static(b"{}"))
            .unwrap();
        assert!(matches!(
            parse_client_credentials_response(bad),
            Err(Error::Protocol(ProtocolError::MalformedResponse { .. }))
        ));
    }

    fn tokens(token: &str, expires_in: Option<u64>) -> TokenResponse {
        let body = serde_json::json!({"access_token": token, "token_type": "Bearer",
            "expires_in": expires_in});
        let r = http::Response::builder()
            .status(200)
            .body(Bytes::from(body.to_string()))
            .unwrap();
        parse_client_credentials_response(r).unwrap()
    }

    #[test]
    fn cache() {
        let cache = ClientCredentialsCache::new(Duration::from_secs(30), 4);
        cache.insert(
            "p",
            &["b", "a"],
            &[("audience", "x")],
            &tokens("t1", Some(300)),
            1000,
        );
        // Same scopes in another order share the token; other parameters do not.
        let hit = cache
            .get("p", &["a", "b"], &[("audience", "x")], 1269)
            .unwrap();
        assert_eq!(hit.expose(), "t1");
        assert!(cache
            .get("p", &["a", "b"], &[("audience", "y")], 1000)
            .is_none());
        assert!(cache
            .get("q", &["a", "b"], &[("audience", "x")], 1000)
            .is_none());
        assert!(cache.get("p", &["a"], &[("audience", "x")], 1000).is_none());
        // Renewed `margin` before expiry.
        assert!(cache
            .get("p", &["a", "b"], &[("audience", "x")], 1270)
            .is_none());
        // Without a lifetime, or shorter than the margin: not cached.
        cache.insert("p", &[], &[], &tokens("t2", None), 1000);
        cache.insert("p", &["s"], &[], &tokens("t3", Some(10)), 1000);
        assert!(cache.is_empty());
        assert!(format!("{cache:?}").contains("margin"));
        for i in 0..10 {
            cache.insert("p", &[&i.to_string()], &[], &tokens("t", Some(300)), 1000);
        }
        assert_eq!(cache.len(), 4, "bounded");
    }
}
