//! The userinfo endpoint (OpenID Connect Core 5.3).

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::wire;

/// The userinfo request, authorised with the access token.
pub fn userinfo_request(
    userinfo_endpoint: &str,
    access_token: &str,
) -> Result<http::Request<Bytes>> {
    wire::get(userinfo_endpoint, Some(access_token))
}

/// Parses the userinfo response and checks its `sub` against the ID token's (5.3.2).
pub fn parse_userinfo_response(
    response: http::Response<Bytes>,
    expected_sub: &str,
) -> Result<Map<String, Value>> {
    let signed = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/jwt"));
    let body = wire::expect_success(Endpoint::Userinfo, response)?;
    if signed {
        return Err(Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Userinfo,
            reason: "signed userinfo responses are not supported; configure JSON userinfo".into(),
        }));
    }
    let claims: Map<String, Value> = wire::json(Endpoint::Userinfo, &body)?;
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == expected_sub => Ok(claims),
        _ => Err(ProtocolError::UserinfoSubjectMismatch.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, ct: &str, body: &str) -> http::Response<Bytes> {
        http::Response::builder()
            .status(status)
            .header("content-type", ct)
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    #[test]
    fn request_has_bearer() {
        let r = userinfo_request("https://op/ui", "tok").unwrap();
        assert_eq!(r.headers()["authorization"], "Bearer tok");
    }

    #[test]
    fn sub_must_match() {
        let ok = parse_userinfo_response(
            resp(200, "application/json", r#"{"sub":"a","email":"e"}"#),
            "a",
        )
        .unwrap();
        assert_eq!(ok["email"], "e");
        assert!(matches!(
            parse_userinfo_response(resp(200, "application/json", r#"{"sub":"b"}"#), "a"),
            Err(Error::Protocol(ProtocolError::UserinfoSubjectMismatch))
        ));
        assert!(matches!(
            parse_userinfo_response(resp(200, "application/json", r#"{}"#), "a"),
            Err(Error::Protocol(ProtocolError::UserinfoSubjectMismatch))
        ));
        assert!(parse_userinfo_response(resp(200, "application/jwt", "a.b.c"), "a").is_err());
        assert!(matches!(
            parse_userinfo_response(resp(401, "text/plain", ""), "a"),
            Err(Error::Protocol(ProtocolError::UnexpectedStatus {
                status: 401,
                ..
            }))
        ));
    }
}
