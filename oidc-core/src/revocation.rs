//! Token revocation (RFC 7009): the request that asks the provider to forget a token, and its
//! response.
//!
//! Logout uses it ([`RelyingParty::logout`](crate::RelyingParty::logout)): when the provider
//! publishes a `revocation_endpoint`, the session's refresh token and then its access token are
//! revoked after the local session is gone, so that a token copied before the logout stops
//! working at the provider too. A failed revocation is logged and never keeps anyone logged in.

use bytes::Bytes;

use crate::client_auth::ClientAuth;
use crate::error::{Endpoint, Result};
use crate::metadata::ClientMetadata;
use crate::wire;

/// Which kind of token a revocation request is for: RFC 7009's `token_type_hint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenTypeHint {
    /// `refresh_token`.
    RefreshToken,
    /// `access_token`.
    AccessToken,
}

impl TokenTypeHint {
    /// The `token_type_hint` value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::RefreshToken => "refresh_token",
            TokenTypeHint::AccessToken => "access_token",
        }
    }
}

impl std::fmt::Display for TokenTypeHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The revocation request (RFC 7009 2.1) for `token`, authenticated the way the client
/// authenticates at the token endpoint (`client_secret_basic`, `client_secret_post`, or
/// `client_id` alone for a public client); JWT assertions need [`revocation_request_with`].
pub fn revocation_request(
    revocation_endpoint: &str,
    client: &ClientMetadata,
    token: &str,
    hint: TokenTypeHint,
) -> Result<http::Request<Bytes>> {
    revocation_request_with(revocation_endpoint, &ClientAuth::new(client), token, hint)
}

/// The revocation request, authenticated by `auth` (any method, JWT assertions included).
pub fn revocation_request_with(
    revocation_endpoint: &str,
    auth: &ClientAuth<'_>,
    token: &str,
    hint: TokenTypeHint,
) -> Result<http::Request<Bytes>> {
    auth.post_form(
        revocation_endpoint,
        vec![("token", token), ("token_type_hint", hint.as_str())],
    )
}

/// Reads the revocation endpoint's response (RFC 7009 2.2): a success status means the token
/// is revoked, or was never valid (the body, if any, carries nothing); an OAuth error body
/// (`invalid_client`, `unsupported_token_type`, ...) is the provider's error, and any other
/// status a protocol error. A `503` means the token may still be valid.
pub fn parse_revocation_response(response: http::Response<Bytes>) -> Result<()> {
    wire::expect_success(Endpoint::Revocation, response).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_auth::ClientPrivateKey;
    use crate::error::{Error, ProtocolError};
    use crate::metadata::ClientAuthMethod;
    use crate::test_support::{form, resp};

    fn has(r: &http::Request<Bytes>, k: &str, v: &str) -> bool {
        form(r).contains(&(k.to_owned(), v.to_owned()))
    }

    const URL: &str = "https://op.test/revoke";

    #[test]
    fn hints_are_rfc_7009_values() {
        assert_eq!(TokenTypeHint::RefreshToken.as_str(), "refresh_token");
        assert_eq!(TokenTypeHint::AccessToken.to_string(), "access_token");
    }

    #[test]
    fn client_secret_basic_request() {
        let c = ClientMetadata::new("id", "secret");
        let r = revocation_request(URL, &c, "rt", TokenTypeHint::RefreshToken).unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), URL);
        assert_eq!(
            r.headers()[http::header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert!(r.headers()[http::header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .starts_with("Basic "));
        assert!(has(&r, "token", "rt"));
        assert!(has(&r, "token_type_hint", "refresh_token"));
        assert!(!form(&r).iter().any(|(k, _)| k == "client_secret"));
    }

    #[test]
    fn client_secret_post_request() {
        let c = ClientMetadata::new("id", "secret")
            .with_auth_method(ClientAuthMethod::ClientSecretPost);
        let r = revocation_request(URL, &c, "at", TokenTypeHint::AccessToken).unwrap();
        assert!(r.headers().get(http::header::AUTHORIZATION).is_none());
        assert!(has(&r, "client_id", "id"));
        assert!(has(&r, "client_secret", "secret"));
        assert!(has(&r, "token", "at"));
        assert!(has(&r, "token_type_hint", "access_token"));
    }

    #[test]
    fn public_client_request() {
        let c = ClientMetadata::public("id");
        let r = revocation_request(URL, &c, "rt", TokenTypeHint::RefreshToken).unwrap();
        assert!(r.headers().get(http::header::AUTHORIZATION).is_none());
        assert!(has(&r, "client_id", "id"));
        assert!(!form(&r).iter().any(|(k, _)| k == "client_secret"));
    }

    #[test]
    fn jwt_assertion_requests() {
        let c = ClientMetadata::new("id", "a-client-secret-long-enough-for-hs256-keys!")
            .with_auth_method(ClientAuthMethod::ClientSecretJwt);
        let auth = ClientAuth::new(&c).assertion(1000, "jti-1");
        let r = revocation_request_with(URL, &auth, "rt", TokenTypeHint::RefreshToken).unwrap();
        assert!(has(
            &r,
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ));
        assert!(form(&r).iter().any(|(k, _)| k == "client_assertion"));
        assert!(!form(&r).iter().any(|(k, _)| k == "client_secret"));
        assert!(has(&r, "token_type_hint", "refresh_token"));

        let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        let key = ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
        let c =
            ClientMetadata::without_secret("id").with_auth_method(ClientAuthMethod::PrivateKeyJwt);
        let auth = ClientAuth::new(&c)
            .private_key(Some(&key))
            .assertion(1000, "jti-2");
        let r = revocation_request_with(URL, &auth, "at", TokenTypeHint::AccessToken).unwrap();
        assert!(form(&r).iter().any(|(k, _)| k == "client_assertion"));
        assert!(has(&r, "token", "at"));
        // Without the key, the request cannot be made: a configuration error, not a panic.
        let auth = ClientAuth::new(&c).assertion(1000, "jti-3");
        assert!(revocation_request_with(URL, &auth, "at", TokenTypeHint::AccessToken).is_err());
    }

    #[test]
    fn bad_endpoint_is_an_error() {
        let c = ClientMetadata::new("id", "secret");
        assert!(revocation_request("not a url", &c, "t", TokenTypeHint::AccessToken).is_err());
    }

    #[test]
    fn responses() {
        // RFC 7009 2.2: 200 for a revoked token and for one the provider does not know.
        assert!(parse_revocation_response(resp(200, "")).is_ok());
        assert!(parse_revocation_response(resp(200, "{}")).is_ok());
        match parse_revocation_response(resp(400, r#"{"error":"unsupported_token_type"}"#)) {
            Err(Error::Provider(e)) => assert_eq!(e.error, "unsupported_token_type"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_revocation_response(resp(401, r#"{"error":"invalid_client"}"#)),
            Err(Error::Provider(_))
        ));
        for status in [500, 503, 302, 404] {
            assert!(
                matches!(
                    parse_revocation_response(resp(status, "<html>oops</html>")),
                    Err(Error::Protocol(ProtocolError::UnexpectedStatus {
                        endpoint: Endpoint::Revocation,
                        status: s,
                    })) if s == status
                ),
                "{status}"
            );
        }
    }

    /// A failed revocation's error is logged: it names the endpoint and never the token.
    #[test]
    fn errors_do_not_carry_the_token() {
        let e = parse_revocation_response(resp(500, "secret-token-value")).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("revocation"), "{text}");
        assert!(!text.contains("secret-token-value"), "{text}");
    }
}
