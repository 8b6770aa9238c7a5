//! Logout CSRF: where a request to the logout route comes from, and the confirmation page a
//! cross-site one gets instead of a logout.
//!
//! A `SameSite=Lax` cookie rides along on a cross-site top-level `GET`, so without this any page
//! on the web could log a user out (and, through RP-initiated logout with a valid
//! `id_token_hint`, often end their session at the provider too). A request that says it comes
//! from another site gets a page whose button posts a token only this session's own pages know;
//! requests from the app itself, direct navigations and clients that send no fetch metadata log
//! out at once, as they always did.

use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, Method};
use url::{Origin, Url};

use super::pages::{is_form, redirect};
use super::{RelyingParty, Response};
use crate::callback::Outbound;
use crate::error::{Endpoint, Error, ProtocolError, Result};
use crate::error_view::{escape_html, html_page};
use crate::flow::{ready, tri, Ask, Context, Cx, Flow, Machine, Progress};
use crate::metadata::ClientMetadata;
use crate::revocation::{parse_revocation_response, revocation_request_with, TokenTypeHint};
use crate::secret::{constant_time_eq, Secret};
use crate::session::{SessionRecord, UserSession, PENDING_LOGIN_TTL};

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

impl RelyingParty {
    /// Logout, and the page the provider returns to afterwards (the same route), for `GET` and
    /// `HEAD`.
    ///
    /// With `state`: the return from the provider, accepted only when `state` matches the logout
    /// this browser started; it is a cross-site navigation, and only finishes that logout (it
    /// never ends a logged-in session). Without `state`: a request from another site
    /// (`Sec-Fetch-Site`, `Origin`, `Referer`) gets a confirmation page whose button posts to
    /// [`confirm_logout`](Self::confirm_logout), and nothing changes; any other request removes
    /// the local session first; then, when the provider has a `revocation_endpoint`, revokes
    /// the session's refresh token and then its access token (RFC 7009, with the client's
    /// authentication; a failure is logged and the logout goes on); then, when the provider
    /// has an `end_session_endpoint`, redirects there (RP-Initiated Logout 1.0) with
    /// `id_token_hint`, `post_logout_redirect_uri`, `state` and `client_id`.
    pub fn logout(&self, parts: &http::request::Parts, cx: Context) -> Flow<Response> {
        let state = if parts.method != Method::GET && parts.method != Method::HEAD {
            State::Failed(Some(
                ProtocolError::MethodNotAllowed("GET, or POST to confirm a logout").into(),
            ))
        } else {
            State::Load {
                id: self.inner.cookies.read(&parts.headers),
                returned_state: form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == "state")
                    .map(|(_, v)| v.into_owned()),
                cross_site: request_site(&parts.headers, &self.own_origins()).is_cross_site(),
            }
        };
        let machine = Logout {
            confirm: false,
            state,
        };
        Flow::new(self, cx, machine, |rp, e| rp.error_response(&e))
    }

    /// The logout confirmation (`POST` to the logout route, a form body with `csrf_token`):
    /// logs out as [`logout`](Self::logout) does when the token is this session's and the
    /// request is not from another site; otherwise the error view, and the session stays.
    pub fn confirm_logout(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        cx: Context,
    ) -> Flow<Response> {
        let state = match self.confirmed_session(parts, body) {
            Ok(id) => State::Load {
                id: Some(id),
                returned_state: None,
                cross_site: false,
            },
            Err(e) => State::Failed(Some(e)),
        };
        let machine = Logout {
            confirm: true,
            state,
        };
        Flow::new(self, cx, machine, |rp, e| rp.error_response(&e))
    }

    /// The session a logout confirmation is for: a same-site form post whose token is the
    /// session's.
    fn confirmed_session(&self, parts: &http::request::Parts, body: &[u8]) -> Result<String> {
        if request_site(&parts.headers, &self.own_origins()).is_cross_site() {
            return Err(ProtocolError::CrossSiteRequest.into());
        }
        if !is_form(&parts.headers) {
            return Err(ProtocolError::InvalidCsrfToken.into());
        }
        let token = csrf_token_from_form(body)?;
        let id = self
            .inner
            .cookies
            .read(&parts.headers)
            .filter(|id| self.inner.cookies.verify_csrf_token(id, &token))
            .ok_or(ProtocolError::InvalidCsrfToken)?;
        Ok(id)
    }

    /// The app's own origins: where its pages (and its logout route) are served.
    fn own_origins(&self) -> [url::Origin; 2] {
        [
            self.inner.app_url.origin(),
            self.inner.post_logout_redirect_uri.origin(),
        ]
    }

    /// The logged-out page; `clear` also removes the session cookie (never for a request from
    /// another site, which must not be able to log anyone out).
    pub(super) fn logged_out_page(&self, clear: bool) -> Response {
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Logged out</title></head>\
             <body><h1>You have been logged out.</h1><p><a href=\"{}\">Log in again</a></p></body></html>",
            crate::error_view::escape_html(self.inner.app_url.path())
        );
        let mut resp = crate::error_view::html_page(
            body,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
        if clear {
            resp.headers_mut()
                .append(header::SET_COOKIE, self.inner.cookies.clear());
        }
        resp
    }
}

/// [`RelyingParty::logout`] and [`RelyingParty::confirm_logout`].
struct Logout {
    confirm: bool,
    state: State,
}

enum State {
    Failed(Option<Error>),
    Load {
        id: Option<String>,
        returned_state: Option<String>,
        cross_site: bool,
    },
    Loaded {
        id: String,
        returned_state: Option<String>,
        cross_site: bool,
    },
    /// The return from the provider finished: the session that logged in since kept.
    ReturnSaved,
    /// The return from the provider finished: the logout's record deleted.
    ReturnDeleted,
    /// A cross-site request: the confirmation page, with the provider's end-session endpoint.
    Confirmation {
        id: String,
        provider: Option<String>,
    },
    /// The local session deleted; the user, for revocation and RP-initiated logout.
    Deleted(Option<Arc<UserSession>>),
    /// The user's tokens still to revoke at the provider, in order (RFC 7009).
    Revoke {
        user: Arc<UserSession>,
        pending: Vec<TokenTypeHint>,
    },
    /// A revocation request sent; the tokens after it.
    Revoking {
        user: Arc<UserSession>,
        hint: TokenTypeHint,
        rest: Vec<TokenTypeHint>,
    },
    EndSession(Option<Arc<UserSession>>),
    Saved(Option<Response>),
    Done,
}

impl Logout {
    fn run(&mut self, cx: &mut Cx<'_>) -> Progress<Result<Response>> {
        let rp = cx.rp;
        loop {
            match &mut self.state {
                State::Failed(e) => {
                    let e = e
                        .take()
                        .unwrap_or(Error::Misuse(crate::Misuse::Finished("a logout")));
                    return Progress::Ready(Err(e));
                }
                State::Load {
                    id,
                    returned_state,
                    cross_site,
                } => {
                    let (returned_state, cross_site) = (returned_state.take(), *cross_site);
                    match id.take() {
                        Some(id) => {
                            self.state = State::Loaded {
                                id: id.clone(),
                                returned_state,
                                cross_site,
                            };
                            return Progress::Pending(Ask::Load(id));
                        }
                        None => {
                            if returned_state.is_some() {
                                return Progress::Ready(Err(ProtocolError::StateMismatch.into()));
                            }
                            if cross_site {
                                // Nothing to log out, and no cookie to touch for another site.
                                return Progress::Ready(Ok(rp.logged_out_page(false)));
                            }
                            self.state = State::EndSession(None);
                        }
                    }
                }
                State::Loaded {
                    id,
                    returned_state,
                    cross_site,
                } => {
                    let (id, returned_state, cross_site) =
                        (std::mem::take(id), returned_state.take(), *cross_site);
                    let mut record = tri!(cx.loaded());
                    if let Some(state) = returned_state {
                        // The return from the provider: accepted only when `state` matches the
                        // logout this browser started. It is a cross-site navigation, and only
                        // finishes that logout (it never ends a logged-in session).
                        let expected = record.as_ref().and_then(|r| r.logout_state.as_ref());
                        if !expected.is_some_and(|e| constant_time_eq(e.expose(), &state)) {
                            return Progress::Ready(Err(ProtocolError::StateMismatch.into()));
                        }
                        let Some(mut record) = record.take() else {
                            return Progress::Ready(Err(ProtocolError::StateMismatch.into()));
                        };
                        if record.user.is_some() {
                            // Only the record of a logout in progress is finished here; a
                            // session that logged in since is not this return's to end.
                            record.logout_state = None;
                            self.state = State::ReturnSaved;
                            // Only if still there: a session ended meanwhile stays ended.
                            return Progress::Pending(Ask::Update(id, record));
                        }
                        self.state = State::ReturnDeleted;
                        return Progress::Pending(Ask::Delete(id));
                    }
                    if cross_site {
                        let provider = record.and_then(|r| r.user).map(|u| u.provider.clone());
                        self.state = State::Confirmation { id, provider };
                        continue;
                    }
                    // Whatever happens at the provider, this app forgets the user first.
                    self.state = State::Deleted(record.and_then(|r| r.user));
                    return Progress::Pending(Ask::Delete(id));
                }
                State::ReturnSaved => {
                    // Gone meanwhile or not, the app's start page is where the browser goes.
                    tri!(cx.updated());
                    return Progress::Ready(Ok(redirect(rp.inner.app_url.path())));
                }
                State::ReturnDeleted => {
                    tri!(cx.stored());
                    return Progress::Ready(Ok(rp.logged_out_page(true)));
                }
                State::Confirmation { id, provider } => {
                    let end_session = match provider.clone() {
                        Some(p) => ready!(end_session_endpoint(cx, &p)),
                        None => None,
                    };
                    return Progress::Ready(Ok(confirmation_page(
                        rp.logout_path(),
                        rp.inner.app_url.path(),
                        &rp.inner.cookies.csrf_token(id),
                        end_session.map(|(url, _)| url.origin()).as_ref(),
                    )));
                }
                State::Deleted(user) => {
                    let user = user.take();
                    tri!(cx.stored());
                    // Only now, with the local session gone, are the tokens revoked: nothing
                    // that happens at the provider can leave this browser logged in.
                    self.state = match user {
                        Some(user) => State::Revoke {
                            pending: tokens_to_revoke(&user),
                            user,
                        },
                        None => State::EndSession(None),
                    };
                }
                State::Revoke { user, pending } => {
                    let (user, mut pending) = (user.clone(), pending.clone());
                    if pending.is_empty() {
                        self.state = State::EndSession(Some(user));
                        continue;
                    }
                    let hint = pending.remove(0);
                    match ready!(revocation_call(cx, &user, hint)) {
                        Some(out) => {
                            self.state = State::Revoking {
                                user,
                                hint,
                                rest: pending,
                            };
                            return Progress::Pending(Ask::send(out));
                        }
                        // No endpoint, or no way to call it: nothing more to revoke.
                        None => self.state = State::EndSession(Some(user)),
                    }
                }
                State::Revoking { user, hint, rest } => {
                    let (user, hint, rest) = (user.clone(), *hint, std::mem::take(rest));
                    let outcome = tri!(cx.http())
                        .map_err(|source| Error::Transport {
                            endpoint: Endpoint::Revocation,
                            source,
                        })
                        .and_then(parse_revocation_response);
                    match outcome {
                        Ok(()) => tracing::debug!(
                            provider = %user.provider,
                            token_type_hint = %hint,
                            "token revoked at logout"
                        ),
                        // RFC 7009 lets the token outlive a failed call; the user asked to
                        // be logged out, and locally is.
                        Err(e) => tracing::warn!(
                            provider = %user.provider,
                            token_type_hint = %hint,
                            error = %e,
                            "token revocation at logout failed; logging out anyway"
                        ),
                    }
                    self.state = State::Revoke {
                        user,
                        pending: rest,
                    };
                }
                State::EndSession(user) => {
                    let Some(user) = user.clone() else {
                        return Progress::Ready(Ok(rp.logged_out_page(true)));
                    };
                    tri!(rp.slot(Some(&user.provider)));
                    let Some((mut url, client)) = ready!(end_session_endpoint(cx, &user.provider))
                    else {
                        return Progress::Ready(Ok(rp.logged_out_page(true)));
                    };
                    // RP-Initiated Logout 1.0, with a `state` this browser's next visit to the
                    // logout route must return.
                    let state = cx.rng.token(32);
                    url.query_pairs_mut()
                        .append_pair("id_token_hint", user.id_token_jwt())
                        .append_pair(
                            "post_logout_redirect_uri",
                            rp.inner.post_logout_redirect_uri.as_str(),
                        )
                        .append_pair("state", &state)
                        .append_pair("client_id", &client.client_id);
                    let record = SessionRecord {
                        logout_state: Some(Secret::new(state)),
                        ..SessionRecord::new(cx.now + PENDING_LOGIN_TTL)
                    };
                    let new_id = rp.inner.cookies.new_id(cx.rng);
                    let mut resp = redirect(url.as_str());
                    resp.headers_mut()
                        .append(header::SET_COOKIE, rp.inner.cookies.set(&new_id));
                    self.state = State::Saved(Some(resp));
                    return Progress::Pending(Ask::Save(new_id, record));
                }
                State::Saved(resp) => {
                    let resp = resp.take();
                    tri!(cx.stored());
                    self.state = State::Done;
                    if let Some(resp) = resp {
                        return Progress::Ready(Ok(resp));
                    }
                }
                State::Done => {
                    return Progress::Ready(Err(crate::Misuse::Finished("a logout").into()));
                }
            }
        }
    }
}

impl Machine for Logout {
    type Output = Response;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Response> {
        match ready!(self.run(cx)) {
            Ok(resp) => Progress::Ready(resp),
            Err(e) => {
                if self.confirm {
                    tracing::warn!(error = %e, "logout confirmation refused");
                }
                Progress::Ready(cx.rp.error_response(&e))
            }
        }
    }
}

/// The session's tokens to revoke at logout: the refresh token first (revoking it usually ends
/// the whole grant, access tokens included), then the access token.
fn tokens_to_revoke(user: &UserSession) -> Vec<TokenTypeHint> {
    let mut hints = Vec::new();
    if user.refresh_token.is_some() {
        hints.push(TokenTypeHint::RefreshToken);
    }
    if user.access_token.is_some() {
        hints.push(TokenTypeHint::AccessToken);
    }
    hints
}

/// The revocation request for the user's token of kind `hint`, when the provider has a
/// `revocation_endpoint` and the client is known; a failure to get there is logged (the
/// logout goes on without revocation).
fn revocation_call(
    cx: &mut Cx<'_>,
    user: &UserSession,
    hint: TokenTypeHint,
) -> Progress<Option<Outbound>> {
    let rp = cx.rp;
    let Ok((slot, provider)) = rp.slot(Some(&user.provider)) else {
        return Progress::Ready(None);
    };
    let skipped = |e: &Error| {
        tracing::warn!(
            provider = %provider.name,
            error = %e,
            "cannot revoke the tokens at logout; logging out anyway"
        );
    };
    let metadata = match ready!(cx.ensure_metadata(slot)) {
        Ok(m) => m,
        Err(e) => {
            skipped(&e);
            return Progress::Ready(None);
        }
    };
    let Some(endpoint) = metadata.revocation_endpoint() else {
        return Progress::Ready(None);
    };
    let client = match ready!(cx.ensure_client(slot, &metadata)) {
        Ok(c) => c,
        Err(e) => {
            skipped(&e);
            return Progress::Ready(None);
        }
    };
    let token = match hint {
        TokenTypeHint::RefreshToken => user.refresh_token.as_ref(),
        TokenTypeHint::AccessToken => user.access_token.as_ref(),
    };
    let Some(token) = token else {
        return Progress::Ready(None);
    };
    let auth =
        provider
            .config
            .client_auth
            .auth(&client, &metadata.issuer, cx.now, cx.rng.token(18));
    match revocation_request_with(endpoint.as_str(), &auth, token.expose(), hint) {
        Ok(request) => Progress::Ready(Some(Outbound {
            endpoint: Endpoint::Revocation,
            request,
        })),
        Err(e) => {
            skipped(&e);
            Progress::Ready(None)
        }
    }
}

/// The provider's end-session endpoint and this client, when it has one and both are known.
fn end_session_endpoint(
    cx: &mut Cx<'_>,
    provider: &str,
) -> Progress<Option<(Url, Arc<ClientMetadata>)>> {
    let Ok((slot, _)) = cx.rp.slot(Some(provider)) else {
        return Progress::Ready(None);
    };
    let Ok(metadata) = ready!(cx.ensure_metadata(slot)) else {
        return Progress::Ready(None);
    };
    let Some(endpoint) = metadata.end_session_endpoint.clone() else {
        return Progress::Ready(None);
    };
    match ready!(cx.ensure_client(slot, &metadata)) {
        Ok(client) => Progress::Ready(Some((endpoint, client))),
        Err(_) => Progress::Ready(None),
    }
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
