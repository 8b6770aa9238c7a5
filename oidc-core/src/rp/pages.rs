//! The small responses the operations share: redirects, the `401` for API clients, JSON
//! errors, and what tells an API request from a browser's.

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};

use super::Response;
use crate::error::Error;

pub(super) fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// Requests that cannot follow a login redirect: anything but GET/HEAD, and clients that ask
/// for JSON and not HTML.
pub(super) fn is_api_request(parts: &http::request::Parts) -> bool {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return true;
    }
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// The `401` for an API-style request that needs a logged-in session. RFC 9110 11.6.1 asks a
/// `401` for a challenge: `Session`, with the realm, names the only way in (a browser login),
/// so that a client does not retry with credentials this route would never accept.
pub(super) fn api_unauthorized(realm: &str) -> Response {
    let mut r = http::Response::new(Bytes::from_static(
        br#"{"error":"login_required","error_description":"this request needs a logged-in session"}"#,
    ));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        crate::bearer::session_challenge(realm),
    );
    r
}

/// The app's public JWKS: only public keys, so any site may read it; `GET` and `HEAD` only.
pub(super) fn jwks(document: Bytes, method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let mut r = http::Response::new(document);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Providers cache it too; a rotated key shows within minutes.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// `405` naming the methods the route takes.
pub(super) fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

pub(super) fn redirect(location: &str) -> Response {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A JSON error for API clients (bearer routes do not go through the HTML error view). A
/// provider's refusal of our own request is a bad gateway, not the client's fault.
pub(super) fn json_error(e: &Error) -> Response {
    let status = match e {
        // The provider refused our request, or answered with something malformed: either way
        // the fault is upstream, not the API client's.
        Error::Provider(_) | Error::Protocol(_) => StatusCode::BAD_GATEWAY,
        other => other.status(),
    };
    let body = serde_json::json!({
        "error": e.error_code(),
        "error_description": e.error_description(),
    });
    let mut r = http::Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
