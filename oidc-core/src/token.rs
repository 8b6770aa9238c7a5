//! The token endpoint: the code exchange request and its response (RFC 6749 4.1.3-4.1.4,
//! OpenID Connect Core 3.1.3).

use bytes::Bytes;
use serde::Deserialize;

use crate::client_auth::ClientAuth;
use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::metadata::ClientMetadata;
use crate::secret::Secret;
use crate::wire;

/// A successful token response.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// Normally `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The refresh token, if issued.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// The ID token (compact JWS).
    #[serde(default)]
    pub id_token: Option<Secret>,
    /// The granted scopes, if they differ from the requested ones.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Builds the authorization code exchange request, for a client authenticating with a secret
/// (or none): JWT assertions need [`code_exchange_request_with`].
pub fn code_exchange_request(
    token_endpoint: &str,
    client: &ClientMetadata,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<http::Request<Bytes>> {
    code_exchange_request_with(
        token_endpoint,
        &ClientAuth::new(client),
        code,
        redirect_uri,
        code_verifier,
    )
}

/// Builds the authorization code exchange request, authenticated by `auth` (any method,
/// JWT assertions included).
pub fn code_exchange_request_with(
    token_endpoint: &str,
    auth: &ClientAuth<'_>,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<http::Request<Bytes>> {
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = code_verifier {
        form.push(("code_verifier", v));
    }
    auth.post_form(token_endpoint, form)
}

/// Parses the token endpoint's response.
pub fn parse_token_response(response: http::Response<Bytes>) -> Result<TokenResponse> {
    let tokens = parse_token_body(response)?;
    if !tokens.token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Token,
            reason: "token_type is not Bearer".into(),
        }));
    }
    Ok(tokens)
}

/// The token endpoint's response, whatever its `token_type`: the caller checks that
/// (`Bearer`, or `DPoP` after a request with a proof, see [`crate::dpop`]).
pub(crate) fn parse_token_body(response: http::Response<Bytes>) -> Result<TokenResponse> {
    let body = wire::expect_success(Endpoint::Token, response)?;
    wire::json(Endpoint::Token, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::ClientAuthMethod;
    use crate::test_support::{form, resp};

    #[test]
    fn basic_auth_request() {
        let c = ClientMetadata::new("id", "secret");
        let r = code_exchange_request("https://op/token", &c, "c1", "https://rp/cb", Some("v"))
            .unwrap();
        assert!(r.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Basic "));
        let f = form(&r);
        assert!(f.contains(&("code_verifier".into(), "v".into())));
        assert!(!f.iter().any(|(k, _)| k == "client_secret" || k == "state"));
    }

    #[test]
    fn post_auth_request() {
        let c = ClientMetadata::new("id", "secret")
            .with_auth_method(ClientAuthMethod::ClientSecretPost);
        let r = code_exchange_request("https://op/token", &c, "c1", "https://rp/cb", None).unwrap();
        assert!(r.headers().get("authorization").is_none());
        let f = form(&r);
        assert!(f.contains(&("client_secret".into(), "secret".into())));
        assert!(f.contains(&("client_id".into(), "id".into())));
    }

    #[test]
    fn jwt_auth_request_carries_the_assertion_and_no_secret() {
        let c = ClientMetadata::new("id", "0123456789abcdef0123456789abcdef")
            .with_auth_method(ClientAuthMethod::ClientSecretJwt);
        assert!(
            code_exchange_request("https://op/token", &c, "c1", "https://rp/cb", None).is_err(),
            "no jti, no assertion"
        );
        let auth = ClientAuth::new(&c).assertion(1000, "j1");
        let r = code_exchange_request_with("https://op/token", &auth, "c1", "https://rp/cb", None)
            .unwrap();
        assert!(r.headers().get("authorization").is_none());
        let f = form(&r);
        assert!(f.contains(&("grant_type".into(), "authorization_code".into())));
        assert!(f.iter().any(|(k, _)| k == "client_assertion"));
        assert!(!f.iter().any(|(k, _)| k == "client_secret"));
    }

    #[test]
    fn public_client_request() {
        let c = ClientMetadata::public("id");
        let r = code_exchange_request("https://op/token", &c, "c1", "https://rp/cb", Some("v"))
            .unwrap();
        let f = form(&r);
        assert!(f.contains(&("client_id".into(), "id".into())));
        assert!(r.headers().get("authorization").is_none());
    }

    #[test]
    fn parse_responses() {
        let ok = parse_token_response(resp(
            200,
            r#"{"access_token":"at","token_type":"bearer","expires_in":60,"id_token":"x"}"#,
        ))
        .unwrap();
        assert_eq!(ok.access_token.expose(), "at");
        assert!(!format!("{ok:?}").contains("\"at\""));
        assert!(matches!(
            parse_token_response(resp(400, r#"{"error":"invalid_grant"}"#)),
            Err(Error::Provider(_))
        ));
        assert!(matches!(
            parse_token_response(resp(502, "<html>")),
            Err(Error::Protocol(ProtocolError::UnexpectedStatus {
                status: 502,
                ..
            }))
        ));
        assert!(matches!(
            parse_token_response(resp(200, "not json")),
            Err(Error::Protocol(ProtocolError::MalformedResponse { .. }))
        ));
        assert!(matches!(
            parse_token_response(resp(200, r#"{"access_token":"a","token_type":"mac"}"#)),
            Err(Error::Protocol(ProtocolError::MalformedResponse { .. }))
        ));
    }
}
