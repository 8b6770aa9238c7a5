//! What the user sees when a login fails: a hook the app can replace, and safe defaults.

use bytes::Bytes;
use http::StatusCode;

/// What the error view is given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// The HTTP status to answer with (4xx or 5xx).
    pub status: StatusCode,
    /// The OAuth-style error code (`access_denied`, `invalid_state`, ...).
    pub error: String,
    /// A description, free of tokens and secrets, but possibly carrying provider text: escape it.
    pub error_description: String,
}

impl ErrorInfo {
    /// The error an [`ErrorView`] is given: for testing a view (the type is
    /// `#[non_exhaustive]`, so that what a view is told may grow without a breaking change).
    pub fn new(
        status: StatusCode,
        error: impl Into<String>,
        error_description: impl Into<String>,
    ) -> Self {
        ErrorInfo {
            status,
            error: error.into(),
            error_description: error_description.into(),
        }
    }
}

/// Renders an error page. Any `Fn(&ErrorInfo) -> http::Response<Bytes>` is one.
pub trait ErrorView: Send + Sync + 'static {
    /// The response for this error.
    fn render(&self, info: &ErrorInfo) -> http::Response<Bytes>;
}

impl<F> ErrorView for F
where
    F: Fn(&ErrorInfo) -> http::Response<Bytes> + Send + Sync + 'static,
{
    fn render(&self, info: &ErrorInfo) -> http::Response<Bytes> {
        self(info)
    }
}

/// The error code of a page the error view rendered, in the response's extensions
/// (`response.extensions().get::<ErrorCode>()`): the view renders the code into a body in its own
/// way, so a middleware (a metrics layer, the runtime's tracing spans) reads it here instead. A
/// code from a closed set ([`Error::bounded_error_code`](crate::Error::bounded_error_code)): a
/// provider's unregistered `error` is `provider_error`, so no request can mint new values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(&'static str);

impl ErrorCode {
    pub(crate) fn new(code: &'static str) -> Self {
        ErrorCode(code)
    }

    /// The code: `access_denied`, `invalid_state`, `provider_error`...
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// The default: a small HTML page with the escaped error and a link to try again.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlErrorView;

impl ErrorView for HtmlErrorView {
    fn render(&self, info: &ErrorInfo) -> http::Response<Bytes> {
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Login failed</title></head>\
             <body><h1>Login failed</h1><p><strong>{}</strong></p><p>{}</p>\
             <p><a href=\"/\">Try again</a></p></body></html>",
            escape_html(&info.error),
            escape_html(&info.error_description)
        );
        response(info.status, "text/html; charset=utf-8", body)
    }
}

/// JSON `{"error": ..., "error_description": ...}`, as APIs and the demo contract want.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonErrorView;

impl ErrorView for JsonErrorView {
    fn render(&self, info: &ErrorInfo) -> http::Response<Bytes> {
        let body = serde_json::json!({
            "error": info.error,
            "error_description": info.error_description,
        });
        response(info.status, "application/json", body.to_string())
    }
}

fn response(status: StatusCode, content_type: &'static str, body: String) -> http::Response<Bytes> {
    let mut r = http::Response::new(Bytes::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        http::HeaderValue::from_static("DENY"),
    );
    r
}

/// An HTML page of the relying party's own (logged out, logout confirmation, fragment page):
/// never cached, never framed (clickjacking), under the given CSP, which must include
/// `frame-ancestors 'none'`; `X-Frame-Options` covers browsers without CSP level 2.
pub(crate) fn html_page(body: String, csp: http::HeaderValue) -> http::Response<Bytes> {
    let mut r = http::Response::new(Bytes::from(body));
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    h.insert(http::header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        http::header::X_FRAME_OPTIONS,
        http::HeaderValue::from_static("DENY"),
    );
    r
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_view_escapes() {
        let info = ErrorInfo {
            status: StatusCode::BAD_REQUEST,
            error: "<script>".into(),
            error_description: "\"x\" & 'y'".into(),
        };
        let r = HtmlErrorView.render(&info);
        let body = std::str::from_utf8(r.body()).unwrap();
        assert!(!body.contains("<script>"));
        assert!(body.contains("&lt;script&gt;"));
        assert!(body.contains("&quot;x&quot; &amp; &#x27;y&#x27;"));
        assert_eq!(r.status(), 400);
    }

    #[test]
    fn views_cannot_be_framed() {
        let info = ErrorInfo {
            status: StatusCode::BAD_REQUEST,
            error: "e".into(),
            error_description: "d".into(),
        };
        for r in [HtmlErrorView.render(&info), JsonErrorView.render(&info)] {
            let csp = r.headers()[http::header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(r.headers()[http::header::X_FRAME_OPTIONS], "DENY");
        }
    }

    #[test]
    fn json_view() {
        let info = ErrorInfo {
            status: StatusCode::UNAUTHORIZED,
            error: "access_denied".into(),
            error_description: "no".into(),
        };
        let r = JsonErrorView.render(&info);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["error"], "access_denied");
        assert_eq!(r.status(), 401);
    }
}
