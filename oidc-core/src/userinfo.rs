//! The userinfo endpoint (OpenID Connect Core 5.3): the request, made the way the provider
//! wants it ([`UserinfoMethod`]), and the response, plain JSON or signed (`application/jwt`,
//! verified like an ID token before its claims count).

use bytes::Bytes;
use serde_json::Value;

use crate::claims::ClaimsSet;
use crate::config::ProviderConfig;
use crate::error::{Endpoint, Error, IdTokenError, ProtocolError, Result};
use crate::signing::TokenKeys;
use crate::wire;

/// How the userinfo endpoint is called after login, as Flask-pyoidc's `userinfo_http_method`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserinfoMethod {
    /// `GET` with `Authorization: Bearer <access token>` (RFC 6750 2.1; the default).
    #[default]
    Header,
    /// `POST` with `access_token=<access token>` in a form body (RFC 6750 2.2), for providers
    /// that want it so.
    Body,
    /// No userinfo call: the session holds the ID token's claims only.
    None,
}

impl UserinfoMethod {
    /// The demo contract's name (`header`, `body`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            UserinfoMethod::Header => "header",
            UserinfoMethod::Body => "body",
            UserinfoMethod::None => "none",
        }
    }

    /// Parses `header`, `body` or `none`; anything else is a configuration error.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "header" => Ok(UserinfoMethod::Header),
            "body" => Ok(UserinfoMethod::Body),
            "none" => Ok(UserinfoMethod::None),
            other => Err(Error::config(
                "userinfo_method",
                format!("`{other}` is not one of header, body, none"),
            )),
        }
    }
}

impl ProviderConfig {
    /// How the userinfo endpoint is called: [`UserinfoMethod::None`] when
    /// [`fetch_userinfo(false)`](crate::ProviderConfigBuilder::fetch_userinfo) turned it off,
    /// else the configured [`userinfo_method`](crate::ProviderConfigBuilder::userinfo_method).
    pub fn userinfo_method(&self) -> UserinfoMethod {
        if self.fetch_userinfo {
            self.userinfo_method
        } else {
            UserinfoMethod::None
        }
    }
}

/// What userinfo responses may be: JSON, or a JWT when the client registered
/// `userinfo_signed_response_alg`.
const ACCEPT: &str = "application/json, application/jwt";

/// The userinfo request, authorised with the access token in the `Authorization` header.
pub fn userinfo_request(
    userinfo_endpoint: &str,
    access_token: &str,
) -> Result<http::Request<Bytes>> {
    wire::get(userinfo_endpoint, Some(access_token))
}

/// The userinfo request made with `method`, or `None` for [`UserinfoMethod::None`]. With
/// [`UserinfoMethod::Body`] the token travels in the form body and nowhere else (RFC 6750 2.2
/// forbids sending it two ways).
pub fn userinfo_request_with(
    userinfo_endpoint: &str,
    access_token: &str,
    method: UserinfoMethod,
) -> Result<Option<http::Request<Bytes>>> {
    let builder = match method {
        UserinfoMethod::None => return Ok(None),
        UserinfoMethod::Header => http::Request::get(userinfo_endpoint).header(
            http::header::AUTHORIZATION,
            wire::sensitive(format!("Bearer {access_token}")),
        ),
        UserinfoMethod::Body => http::Request::post(userinfo_endpoint).header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        ),
    };
    let body = match method {
        UserinfoMethod::Body => form_urlencoded::Serializer::new(String::new())
            .append_pair("access_token", access_token)
            .finish(),
        _ => String::new(),
    };
    builder
        .header(http::header::ACCEPT, ACCEPT)
        .body(Bytes::from(body))
        .map(Some)
        .map_err(|e| {
            Error::config(
                "provider_metadata.userinfo_endpoint",
                format!("invalid URL: {e}"),
            )
        })
}

/// A userinfo response body, before any check.
///
/// Not `#[non_exhaustive]`: each kind needs its own verification, so a kind added later must
/// break a caller's `match` rather than fall into a wildcard arm unverified.
pub enum UserinfoBody {
    /// Plain JSON claims, kept as the response's text.
    Claims(ClaimsSet),
    /// A signed JWT (`application/jwt`), to verify with
    /// [`verify_signed_userinfo`].
    Signed(String),
}

impl std::fmt::Debug for UserinfoBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserinfoBody::Claims(c) => f.debug_tuple("Claims").field(c).finish(),
            UserinfoBody::Signed(_) => f.write_str("Signed(..)"),
        }
    }
}

/// Reads a userinfo response: JSON claims, or a signed JWT (`application/jwt`). An encrypted
/// one (a JWE) is refused with [`ProtocolError::EncryptedUserinfo`]: without a configured
/// encryption there is no key to decrypt it (a configured one is read by [`crate::jwe`]).
pub fn read_userinfo_response(response: http::Response<Bytes>) -> Result<UserinfoBody> {
    let jwt = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/jwt"))
        });
    let body = wire::expect_success(Endpoint::Userinfo, response)?;
    if !jwt {
        return Ok(UserinfoBody::Claims(wire::json(Endpoint::Userinfo, &body)?));
    }
    let malformed = |reason: &str| {
        Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Userinfo,
            reason: reason.to_owned(),
        })
    };
    let raw = std::str::from_utf8(&body).map_err(|_| malformed("the JWT is not UTF-8"))?;
    let raw = raw.trim();
    let header = josekit::jwt::decode_header(raw).map_err(|_| malformed("not a JWT"))?;
    if header.claim("enc").is_some() {
        return Err(ProtocolError::EncryptedUserinfo.into());
    }
    Ok(UserinfoBody::Signed(raw.to_owned()))
}

/// The refusal of a plain JSON userinfo response when the app configured
/// `userinfo_signed_response_alg`: accepting it would let whoever answers the userinfo call
/// skip the signature the app asked for.
pub(crate) fn unsigned_userinfo() -> Error {
    ProtocolError::SignedUserinfo(IdTokenError::Malformed(
        "a plain JSON response, though userinfo_signed_response_alg asks for application/jwt"
            .into(),
    ))
    .into()
}

/// Checks plain userinfo claims: their `sub` must be the ID token's (5.3.2).
pub fn check_subject(claims: ClaimsSet, expected_sub: &str) -> Result<ClaimsSet> {
    match claims.get_str("sub") {
        Some(sub) if sub == expected_sub => {}
        _ => return Err(ProtocolError::UserinfoSubjectMismatch.into()),
    }
    Ok(claims)
}

/// Verifies a signed userinfo response (5.3.2) with the key and allow-list
/// [`TokenSigning`](crate::signing::TokenSigning) chose: its signature, then `iss` (which must
/// be `issuer`, the ID token's), `aud` when present (which must contain `client_id`), then
/// `sub`. `Ok(None)`: it names a key the set lacks (fetch the set again, once).
pub fn verify_signed_userinfo(
    raw: &str,
    keys: TokenKeys<'_>,
    algorithms: &[String],
    issuer: &str,
    client_id: &str,
    expected_sub: &str,
) -> Result<Option<ClaimsSet>> {
    let refused = |e: IdTokenError| Error::Protocol(ProtocolError::SignedUserinfo(e));
    let Some(verified) = crate::id_token::verify_token(raw, keys, algorithms).map_err(refused)?
    else {
        return Ok(None);
    };
    let claims = verified.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(refused(IdTokenError::Issuer));
    }
    let audience_ok = match claims.get("aud") {
        None => true,
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        Some(_) => false,
    };
    if !audience_ok {
        return Err(refused(IdTokenError::Audience));
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == expected_sub => Ok(Some(ClaimsSet::from_map(&claims))),
        _ => Err(ProtocolError::UserinfoSubjectMismatch.into()),
    }
}

/// Parses a plain JSON userinfo response and checks its `sub` against the ID token's (5.3.2).
/// A signed response needs the provider's keys: it is refused here, and verified by the login
/// ([`read_userinfo_response`], [`verify_signed_userinfo`]).
pub fn parse_userinfo_response(
    response: http::Response<Bytes>,
    expected_sub: &str,
) -> Result<ClaimsSet> {
    match read_userinfo_response(response)? {
        UserinfoBody::Claims(claims) => check_subject(claims, expected_sub),
        UserinfoBody::Signed(_) => Err(Error::Protocol(ProtocolError::MalformedResponse {
            endpoint: Endpoint::Userinfo,
            reason: "a signed userinfo response needs the provider's keys to verify".into(),
        })),
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

    /// The demo contract's names parse and print back; anything else is a configuration
    /// error naming the setting (the demo's start-up error for `OIDC_USERINFO_METHOD`).
    #[test]
    fn method_names() {
        for m in [
            UserinfoMethod::Header,
            UserinfoMethod::Body,
            UserinfoMethod::None,
        ] {
            assert_eq!(UserinfoMethod::parse(m.as_str()).unwrap(), m);
        }
        assert_eq!(UserinfoMethod::default(), UserinfoMethod::Header);
        for bad in ["", "HEADER", "post", "query"] {
            assert!(matches!(
                UserinfoMethod::parse(bad),
                Err(Error::Config {
                    field: "userinfo_method",
                    ..
                })
            ));
        }
    }

    /// Each method makes its request: the bearer header alone, the form body alone (with its
    /// content type), or none; both accept signed responses.
    #[test]
    fn requests_per_method() {
        let r = userinfo_request_with("https://op/ui", "tok", UserinfoMethod::Header)
            .unwrap()
            .unwrap();
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(r.headers()["authorization"], "Bearer tok");
        assert!(r.body().is_empty());
        assert!(r.headers()["accept"]
            .to_str()
            .unwrap()
            .contains("application/jwt"));
        let r = userinfo_request_with("https://op/ui", "t&k", UserinfoMethod::Body)
            .unwrap()
            .unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert!(r.headers().get("authorization").is_none());
        assert_eq!(
            r.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(&r.body()[..], b"access_token=t%26k");
        assert!(
            userinfo_request_with("https://op/ui", "tok", UserinfoMethod::None)
                .unwrap()
                .is_none()
        );
        assert!(userinfo_request_with("not a url", "tok", UserinfoMethod::Body).is_err());
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
        assert_eq!(ok.get_str("email").as_deref(), Some("e"));
        assert_eq!(ok.as_json(), r#"{"sub":"a","email":"e"}"#, "kept as sent");
        // Beside non-objects: a second `sub` hidden behind a name no reader can decode, or
        // given plainly, is refused, not stored for a lenient reader to find.
        for not_an_object in [
            "[1]",
            "\"a\"",
            "{",
            r#"{"sub":"a","\udc00":0,"sub":"mallory","email":"admin@op"}"#,
            r#"{"sub":"a","sub":"mallory"}"#,
        ] {
            assert!(matches!(
                parse_userinfo_response(resp(200, "application/json", not_an_object), "a"),
                Err(Error::Protocol(ProtocolError::MalformedResponse { .. }))
            ));
        }
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
