//! Small, panic-free helpers: HTTP responses, form parsing, encodings, hashing.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA};
use http::{Response, StatusCode};
use serde_json::Value;

/// Content type of JSON responses.
pub(crate) const JSON: &str = "application/json";
/// Content type of HTML responses.
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// Builds a response with a status, content type and body. Never panics.
pub(crate) fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set_header(&mut resp, CONTENT_TYPE, content_type);
    resp
}

/// Sets (replaces) a header; silently skips values that are not valid header values.
pub(crate) fn set_header(resp: &mut Response<Bytes>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// Appends a header; silently skips values that are not valid header values.
pub(crate) fn append_header(resp: &mut Response<Bytes>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(name, v);
    }
}

/// A JSON response.
pub(crate) fn json(status: u16, value: &Value) -> Response<Bytes> {
    response(status, JSON, value.to_string())
}

/// A JSON response that must not be cached (token endpoint, RFC 6749 5.1).
pub(crate) fn json_no_store(status: u16, value: &Value) -> Response<Bytes> {
    let mut resp = json(status, value);
    set_header(&mut resp, CACHE_CONTROL, "no-store");
    set_header(&mut resp, PRAGMA, "no-cache");
    resp
}

/// An OAuth error JSON body (RFC 6749 5.2), not cacheable.
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response<Bytes> {
    json_no_store(
        status,
        &serde_json::json!({ "error": error, "error_description": description }),
    )
}

/// An HTML response.
pub(crate) fn html(status: u16, body: String) -> Response<Bytes> {
    response(status, HTML, body)
}

/// A complete, small HTML page. `title` and `body_html` must already be escaped.
pub(crate) fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}\n\
         h1{{font-size:1.4rem}} .note{{color:#666;font-size:.9rem}} .error{{color:#b00020}}\n\
         label{{display:block;margin:.8rem 0 .3rem}} input[type=text]{{width:100%;padding:.4rem;box-sizing:border-box}}\n\
         button{{margin-top:1rem;padding:.4rem 1.2rem}}\n\
         </style>\n</head>\n<body>\n{body_html}\n</body>\n</html>\n"
    )
}

/// An HTML error page (used when the user agent must not be redirected).
pub(crate) fn error_page(status: u16, message: &str) -> Response<Bytes> {
    let body = format!(
        "<h1>Sign-in error</h1>\n<p class=\"error\">{}</p>",
        escape_html(message)
    );
    html(status, page("Error", &body))
}

/// A 302 redirect.
pub(crate) fn redirect(location: &str) -> Response<Bytes> {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut resp = response(302, HTML, Bytes::new());
            resp.headers_mut().insert(LOCATION, v);
            resp
        }
        Err(_) => error_page(400, "the redirect target is not a valid URL"),
    }
}

/// Escapes text for safe inclusion in HTML element content and quoted attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Form parameters with duplicate detection (OAuth parameters must not repeat).
#[derive(Debug, Default)]
pub(crate) struct Params {
    map: HashMap<String, String>,
    duplicates: Vec<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a body). Lossy, never fails.
    pub(crate) fn parse(input: &[u8]) -> Self {
        let mut out = Params::default();
        for (k, v) in form_urlencoded::parse(input) {
            match out.map.entry(k.into_owned()) {
                Entry::Occupied(e) => {
                    if !out.duplicates.contains(e.key()) {
                        out.duplicates.push(e.key().clone());
                    }
                }
                Entry::Vacant(e) => {
                    e.insert(v.into_owned());
                }
            }
        }
        out
    }

    /// The value of a parameter, treating an empty value as absent (RFC 6749 3.1).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether `key` is present at all (even with an empty value).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Whether `key` appeared more than once.
    pub(crate) fn is_duplicated(&self, key: &str) -> bool {
        self.duplicates.iter().any(|d| d == key)
    }

    /// The first parameter that appeared more than once, if any.
    pub(crate) fn first_duplicate(&self) -> Option<&str> {
        self.duplicates.first().map(String::as_str)
    }
}

/// Decodes one `application/x-www-form-urlencoded` component ('+' is a space, `%XX` escapes).
/// Returns `None` on a malformed escape or non-UTF-8 result.
pub(crate) fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16))?;
                let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16))?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes one component with `application/x-www-form-urlencoded` rules.
pub(crate) fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Serializes key/value pairs as `application/x-www-form-urlencoded`.
pub(crate) fn encode_pairs(pairs: &[(String, String)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// base64url without padding.
pub(crate) fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes standard base64, with or without padding.
pub(crate) fn b64_std_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

/// A fresh random token: 32 random bytes, base64url.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    b64url(&bytes)
}

/// base64url(SHA-256(input)).
pub(crate) fn sha256_b64url(input: &str) -> String {
    b64url(&openssl::sha::sha256(input.as_bytes()))
}

/// Appends parameters to a URL either as a query (`?`/`&`) or as a fragment (`#`).
pub(crate) fn append_params(base: &str, pairs: &[(String, String)], fragment: bool) -> String {
    let encoded = encode_pairs(pairs);
    if fragment {
        format!("{base}#{encoded}")
    } else if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            format!("{base}{encoded}")
        } else {
            format!("{base}&{encoded}")
        }
    } else {
        format!("{base}?{encoded}")
    }
}

/// Extracts a cookie value (form-decoded) from all `Cookie` headers of a request.
pub(crate) fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| form_decode(v.trim_matches('"')))
        .filter(|v| !v.is_empty())
}

/// A PKCE code verifier / challenge is 43..=128 unreserved characters (RFC 7636 4.1, 4.2).
pub(crate) fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Appends one `Set-Cookie` header.
pub(crate) fn set_cookie(resp: &mut Response<Bytes>, value: &str) {
    append_header(resp, http::header::SET_COOKIE, value);
}
