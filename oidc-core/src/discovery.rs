//! OpenID Connect Discovery 1.0: the request for the provider's metadata and the checks on the
//! answer.

use bytes::Bytes;

use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::issuer::IssuerPolicy;
use crate::metadata::ProviderMetadata;
use crate::wire;

/// The discovery document's URL for an issuer (Discovery 1.0, 4.1).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The request that fetches the discovery document.
pub fn discovery_request(issuer: &str) -> Result<http::Request<Bytes>> {
    wire::get(&discovery_url(issuer), None)
}

/// Parses the discovery response and checks that its `issuer` equals the configured one
/// exactly (Discovery 1.0, 4.3).
pub fn parse_discovery_response(
    expected_issuer: &str,
    response: http::Response<Bytes>,
) -> Result<ProviderMetadata> {
    parse_discovery_response_with(expected_issuer, &IssuerPolicy::Exact, response)
}

/// Parses the discovery response and checks its `issuer` against the configured one under
/// `policy`: exactly, or, with a tenant template, also the template itself (which is what
/// Microsoft Entra's common metadata publishes; see [`IssuerPolicy::accepts_discovery_issuer`]).
pub fn parse_discovery_response_with(
    expected_issuer: &str,
    policy: &IssuerPolicy,
    response: http::Response<Bytes>,
) -> Result<ProviderMetadata> {
    let body = wire::expect_success(Endpoint::Discovery, response)?;
    let metadata = ProviderMetadata::from_json(&body).map_err(|reason| {
        Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Discovery,
            reason,
        })
    })?;
    if !policy.accepts_discovery_issuer(expected_issuer, &metadata.issuer) {
        return Err(ProtocolError::DiscoveryIssuerMismatch {
            expected: expected_issuer.to_owned(),
            found: metadata.issuer,
        }
        .into());
    }
    // Codes, tokens and client secrets must not travel in clear to any endpoint it lists.
    if let Some((field, url)) = metadata.insecure_endpoint() {
        return Err(ProtocolError::InsecureEndpoint { field, url }.into());
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> http::Response<Bytes> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    #[test]
    fn request_url() {
        let r = discovery_request("https://op.example/tenant/").unwrap();
        assert_eq!(
            r.uri(),
            "https://op.example/tenant/.well-known/openid-configuration"
        );
        assert_eq!(r.method(), http::Method::GET);
    }

    #[test]
    fn issuer_must_match() {
        let doc = r#"{"issuer":"https://evil.example","authorization_endpoint":"https://op/a"}"#;
        let err = parse_discovery_response("https://op.example", response(200, doc)).unwrap_err();
        assert!(matches!(
            err,
            Error::Protocol(ProtocolError::DiscoveryIssuerMismatch { .. })
        ));
    }

    #[test]
    fn parses_good_document() {
        let doc = r#"{"issuer":"https://op.example","authorization_endpoint":"https://op/a",
            "jwks_uri":"https://op/jwks","token_endpoint":"https://op/t"}"#;
        let m = parse_discovery_response("https://op.example", response(200, doc)).unwrap();
        assert_eq!(m.jwks_uri.unwrap().as_str(), "https://op/jwks");
    }

    #[test]
    fn plain_http_endpoints_are_refused() {
        let doc = r#"{"issuer":"https://op.example","authorization_endpoint":"https://op/a",
            "jwks_uri":"https://op/jwks","token_endpoint":"http://op/t"}"#;
        let err = parse_discovery_response("https://op.example", response(200, doc)).unwrap_err();
        assert!(
            matches!(&err, Error::Protocol(ProtocolError::InsecureEndpoint { field, .. }) if field == "token_endpoint"),
            "{err}"
        );
        assert!(err.to_string().contains("token_endpoint"), "{err}");
        let doc = r#"{"issuer":"http://127.0.0.1:9000","authorization_endpoint":"http://127.0.0.1:9000/a",
            "token_endpoint":"http://localhost:9000/t"}"#;
        assert!(parse_discovery_response("http://127.0.0.1:9000", response(200, doc)).is_ok());
    }

    #[test]
    fn error_status_and_garbage() {
        let err =
            parse_discovery_response("https://op.example", response(503, "down")).unwrap_err();
        assert!(matches!(
            err,
            Error::Protocol(ProtocolError::UnexpectedStatus { status: 503, .. })
        ));
        let err =
            parse_discovery_response("https://op.example", response(200, "<html>")).unwrap_err();
        assert!(matches!(
            err,
            Error::Protocol(ProtocolError::MalformedResponse { .. })
        ));
    }
}
