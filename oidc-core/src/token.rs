//! The token endpoint: the code exchange request and its response (RFC 6749 4.1.3-4.1.4,
//! OpenID Connect Core 3.1.3).

use bytes::Bytes;
use serde::Deserialize;

use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::metadata::{ClientAuthMethod, ClientMetadata};
use crate::secret::Secret;
use crate::wire;

/// A successful token response.
#[derive(Debug, Clone, Deserialize)]
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

/// Builds the authorization code exchange request.
pub fn code_exchange_request(
    token_endpoint: &str,
    client: &ClientMetadata,
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
    authenticated_post(token_endpoint, client, form)
}

/// A form POST with this client's authentication applied.
pub(crate) fn authenticated_post<'a>(
    url: &str,
    client: &'a ClientMetadata,
    mut form: Vec<(&'a str, &'a str)>,
) -> Result<http::Request<Bytes>> {
    let secret = client.client_secret.as_ref().map(Secret::expose);
    match (client.token_endpoint_auth_method, secret) {
        (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
            wire::post_form(url, &form, Some((&client.client_id, secret)))
        }
        (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", &client.client_id));
            form.push(("client_secret", secret));
            wire::post_form(url, &form, None)
        }
        _ => {
            form.push(("client_id", &client.client_id));
            wire::post_form(url, &form, None)
        }
    }
}

/// Parses the token endpoint's response.
pub fn parse_token_response(response: http::Response<Bytes>) -> Result<TokenResponse> {
    let body = wire::expect_success(Endpoint::Token, response)?;
    let tokens: TokenResponse = wire::json(Endpoint::Token, &body)?;
    if !tokens.token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Token,
            reason: "token_type is not Bearer".into(),
        }));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(r: &http::Request<Bytes>) -> Vec<(String, String)> {
        form_urlencoded::parse(r.body()).into_owned().collect()
    }

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
    fn public_client_request() {
        let c = ClientMetadata::public("id");
        let r = code_exchange_request("https://op/token", &c, "c1", "https://rp/cb", Some("v"))
            .unwrap();
        let f = form(&r);
        assert!(f.contains(&("client_id".into(), "id".into())));
        assert!(r.headers().get("authorization").is_none());
    }

    fn resp(status: u16, body: &str) -> http::Response<Bytes> {
        http::Response::builder()
            .status(status)
            .body(Bytes::from(body.to_owned()))
            .unwrap()
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
