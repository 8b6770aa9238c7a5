//! Small helpers shared by every request builder and response parser: the one place that knows
//! how outbound requests look and how error bodies are read.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{Endpoint, Error, ProtocolError, ProviderError, Result};

pub(crate) fn get(url: &str, bearer: Option<&str>) -> Result<http::Request<Bytes>> {
    let mut b = http::Request::get(url).header(http::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        b = b.header(
            http::header::AUTHORIZATION,
            sensitive(format!("Bearer {token}")),
        );
    }
    b.body(Bytes::new())
        .map_err(|e| Error::config("endpoint", format!("invalid URL `{url}`: {e}")))
}

/// A `application/x-www-form-urlencoded` POST.
pub(crate) fn post_form(
    url: &str,
    form: &[(&str, &str)],
    basic_auth: Option<(&str, &str)>,
) -> Result<http::Request<Bytes>> {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        ser.append_pair(k, v);
    }
    let body = ser.finish();
    let mut b = http::Request::post(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(http::header::ACCEPT, "application/json");
    if let Some((id, secret)) = basic_auth {
        b = b.header(
            http::header::AUTHORIZATION,
            sensitive(basic_auth_header(id, secret)),
        );
    }
    b.body(Bytes::from(body))
        .map_err(|e| Error::config("endpoint", format!("invalid URL `{url}`: {e}")))
}

/// A header value marked sensitive, so that HTTP stacks that honour the flag (HPACK, `Debug`
/// of the value) keep it out of their output. Invalid characters cannot occur in what is built
/// here (base64 and token characters); an empty value is the fallback.
pub(crate) fn sensitive(value: String) -> http::HeaderValue {
    let mut v =
        http::HeaderValue::from_str(&value).unwrap_or_else(|_| http::HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// RFC 6749 2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded.
pub(crate) fn basic_auth_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// The body of a 2xx response; an OAuth error body becomes [`Error::Provider`], anything else
/// [`ProtocolError::UnexpectedStatus`].
pub(crate) fn expect_success(endpoint: Endpoint, response: http::Response<Bytes>) -> Result<Bytes> {
    let status = response.status();
    let body = response.into_body();
    if status.is_success() {
        return Ok(body);
    }
    if let Ok(err) = serde_json::from_slice::<ProviderError>(&body) {
        if !err.error.is_empty() && err.error.len() < 256 {
            return Err(Error::Provider(err));
        }
    }
    Err(ProtocolError::UnexpectedStatus {
        endpoint,
        status: status.as_u16(),
    }
    .into())
}

pub(crate) fn json<T: DeserializeOwned>(endpoint: Endpoint, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        ProtocolError::MalformedResponse {
            endpoint,
            reason: e.to_string(),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_encodes_per_rfc6749() {
        // "a:b" must become "a%3Ab" before base64.
        let h = basic_auth_header("a:b", "p w");
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.trim_start_matches("Basic "))
            .unwrap();
        assert_eq!(raw, b"a%3Ab:p+w");
    }

    #[test]
    fn provider_error_body_is_typed() {
        let resp = http::Response::builder()
            .status(400)
            .body(Bytes::from_static(
                br#"{"error":"invalid_grant","error_description":"used"}"#,
            ))
            .unwrap();
        match expect_success(Endpoint::Token, resp).unwrap_err() {
            Error::Provider(e) => {
                assert_eq!(e.error, "invalid_grant");
                assert_eq!(e.error_description.as_deref(), Some("used"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_url_is_config_error() {
        assert!(get("not a url with spaces", None).is_err());
    }
}
