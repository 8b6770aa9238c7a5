//! Logout CSRF: where a request to the logout route comes from, and the confirmation page a
//! cross-site one gets instead of a logout.
//!
//! A `SameSite=Lax` cookie rides along on a cross-site top-level `GET`, so without this any page
//! on the web could log a user out (and, through RP-initiated logout with a valid
//! `id_token_hint`, often end their session at the provider too). A request that says it comes
//! from another site gets a page whose button posts a token only this session's own pages know;
//! requests from the app itself, direct navigations and clients that send no fetch metadata log
//! out at once, as they always did.

use http::{header, HeaderMap, HeaderValue};
use url::{Origin, Url};

use crate::error::{ProtocolError, Result};
use crate::error_view::{escape_html, html_page};

use super::Response;

/// The name of the confirmation form's token field.
pub(super) const CSRF_FIELD: &str = "csrf_token";

/// Where a request comes from, as the browser tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestSite {
    /// A page of the app itself (`Sec-Fetch-Site: same-origin`, or an `Origin`/`Referer` on
    /// the app's origin).
    SameOrigin,
    /// Typed in, a bookmark, or another application (`Sec-Fetch-Site: none`).
    Direct,
    /// Nothing said either way: an older browser, a script, `curl`.
    Unknown,
    /// Another origin (`Sec-Fetch-Site: cross-site` or `same-site`, a foreign or opaque
    /// `Origin`, a foreign or unreadable `Referer`, or an unknown `Sec-Fetch-Site` value).
    CrossSite,
}

impl RequestSite {
    pub(super) fn is_cross_site(self) -> bool {
        self == RequestSite::CrossSite
    }
}

/// Classifies a request by its `Sec-Fetch-Site`, `Origin` and `Referer` headers against the
/// app's own origins. Any signal of another origin wins: a browser never sends a foreign
/// `Origin` with `Sec-Fetch-Site: same-origin`, so a request that does is not to be believed.
/// `same-site` counts as cross-site: a sibling subdomain is not the app.
pub(super) fn request_site(headers: &HeaderMap, own: &[Origin]) -> RequestSite {
    let is_own = |value: &HeaderValue| {
        value
            .to_str()
            .ok()
            .and_then(|v| Url::parse(v).ok())
            .is_some_and(|u| {
                let origin = u.origin();
                origin.is_tuple() && own.contains(&origin)
            })
    };
    let mut site = RequestSite::Unknown;
    for value in headers.get_all("sec-fetch-site") {
        match value.to_str().map(str::trim) {
            Ok(v) if v.eq_ignore_ascii_case("same-origin") => site = RequestSite::SameOrigin,
            Ok(v) if v.eq_ignore_ascii_case("none") => {
                if site == RequestSite::Unknown {
                    site = RequestSite::Direct;
                }
            }
            _ => return RequestSite::CrossSite,
        }
    }
    for name in [header::ORIGIN, header::REFERER] {
        for value in headers.get_all(&name) {
            if !is_own(value) {
                return RequestSite::CrossSite;
            }
            if site == RequestSite::Unknown {
                site = RequestSite::SameOrigin;
            }
        }
    }
    site
}

/// The single `csrf_token` of a confirmation form's body; a missing or repeated one is refused.
pub(super) fn csrf_token_from_form(body: &[u8]) -> Result<String> {
    let mut found = None;
    for (k, v) in form_urlencoded::parse(body) {
        if k == CSRF_FIELD && found.replace(v.into_owned()).is_some() {
            return Err(ProtocolError::InvalidCsrfToken.into());
        }
    }
    found.ok_or_else(|| ProtocolError::InvalidCsrfToken.into())
}

/// The page a cross-site logout request gets: a button that posts the session's token back to
/// the logout route, and a link home. No script; the CSP lets the form go only to the app and
/// to the provider's end-session endpoint (`form_action_extra`), where the logout then
/// redirects: browsers apply `form-action` to the redirects of a form submission too.
pub(super) fn confirmation_page(
    logout_path: &str,
    home: &str,
    token: &str,
    form_action_extra: Option<&Origin>,
) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Log out?</title></head>\
         <body><h1>Log out?</h1>\
         <p>Another site sent you here to log you out. Do you want to log out?</p>\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <button type=\"submit\">Log out</button></form>\
         <p><a href=\"{}\">No, stay logged in</a></p></body></html>",
        escape_html(logout_path),
        escape_html(token),
        escape_html(home),
    );
    let extra = form_action_extra
        .filter(|o| o.is_tuple())
        .map(|o| format!(" {}", o.ascii_serialization()))
        .unwrap_or_default();
    let csp = HeaderValue::from_str(&format!(
        "default-src 'none'; form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'"
    ))
    .unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
    });
    let mut resp = html_page(body, csp);
    // The confirming POST must carry the app's `Origin` (a `no-referrer` page would send
    // `Origin: null`, which counts as cross-site); nothing leaves the app's origin with it.
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<Origin> {
        vec![Url::parse("http://app.test/").unwrap().origin()]
    }

    fn site(headers: &[(&str, &str)]) -> RequestSite {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        request_site(&h, &own())
    }

    #[test]
    fn fetch_metadata() {
        use RequestSite::*;
        assert_eq!(site(&[("sec-fetch-site", "same-origin")]), SameOrigin);
        assert_eq!(site(&[("sec-fetch-site", "none")]), Direct);
        assert_eq!(site(&[("sec-fetch-site", "cross-site")]), CrossSite);
        assert_eq!(site(&[("sec-fetch-site", "same-site")]), CrossSite);
        assert_eq!(site(&[("sec-fetch-site", "Cross-Site")]), CrossSite);
        assert_eq!(site(&[("sec-fetch-site", "something-new")]), CrossSite);
        assert_eq!(
            site(&[("sec-fetch-site", "none"), ("sec-fetch-site", "cross-site")]),
            CrossSite
        );
    }

    #[test]
    fn origin_header() {
        use RequestSite::*;
        assert_eq!(site(&[("origin", "http://app.test")]), SameOrigin);
        assert_eq!(site(&[("origin", "http://evil.test")]), CrossSite);
        assert_eq!(site(&[("origin", "https://app.test")]), CrossSite, "scheme");
        assert_eq!(
            site(&[("origin", "http://app.test:8080")]),
            CrossSite,
            "port"
        );
        assert_eq!(site(&[("origin", "http://sub.app.test")]), CrossSite);
        assert_eq!(site(&[("origin", "null")]), CrossSite, "opaque origin");
        assert_eq!(site(&[("origin", "")]), CrossSite);
        assert_eq!(
            site(&[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://evil.test")
            ]),
            CrossSite,
            "a foreign signal wins"
        );
        assert_eq!(
            site(&[("sec-fetch-site", "none"), ("origin", "http://app.test")]),
            Direct
        );
    }

    #[test]
    fn referer_header() {
        use RequestSite::*;
        assert_eq!(site(&[("referer", "http://app.test/page?x=1")]), SameOrigin);
        assert_eq!(site(&[("referer", "http://evil.test/app.test")]), CrossSite);
        assert_eq!(site(&[("referer", "/relative")]), CrossSite, "unreadable");
        assert_eq!(
            site(&[
                ("origin", "http://app.test"),
                ("referer", "http://evil.test/")
            ]),
            CrossSite
        );
    }

    #[test]
    fn absent_headers() {
        assert_eq!(site(&[]), RequestSite::Unknown);
        assert_eq!(site(&[("user-agent", "curl/8")]), RequestSite::Unknown);
    }

    #[test]
    fn csrf_field() {
        assert_eq!(csrf_token_from_form(b"csrf_token=abc").unwrap(), "abc");
        assert_eq!(
            csrf_token_from_form(b"x=1&csrf_token=a%2Bb").unwrap(),
            "a+b"
        );
        assert!(csrf_token_from_form(b"").is_err());
        assert!(csrf_token_from_form(b"csrf_token=a&csrf_token=b").is_err());
    }

    #[test]
    fn confirmation_page_is_locked_down() {
        let op = Url::parse("https://op.test/logout").unwrap().origin();
        let r = confirmation_page("/logout\"<", "/", "t<k>", Some(&op));
        let body = std::str::from_utf8(r.body()).unwrap();
        assert!(body.contains("action=\"/logout&quot;&lt;\""), "{body}");
        assert!(body.contains("value=\"t&lt;k&gt;\""), "{body}");
        assert!(!body.contains("<script"), "{body}");
        let h = r.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(
            h[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; form-action 'self' https://op.test; frame-ancestors 'none'; base-uri 'none'"
        );
    }
}
