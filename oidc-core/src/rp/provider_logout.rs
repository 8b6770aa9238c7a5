//! Logouts the provider sends: OpenID Connect Back-Channel Logout 1.0 (a logout token posted
//! server to server) and Front-Channel Logout 1.0 (the provider's logout page loads the route
//! in an iframe). Neither carries the browser's session cookie, so both end sessions through
//! the store's index ([`Ask::DeleteIndexed`]), which every instance sharing the store sees at
//! once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};

use super::pages::{is_form, method_not_allowed};
use super::{RelyingParty, Response};
use crate::error::{Error, LogoutError, ProtocolError, Result};
use crate::error_view::{escape_html, html_page};
use crate::flow::{ready, tri, Ask, Context, Cx, Flow, Machine, Progress};
use crate::jwks::JwkSet;
use crate::logout_token::{
    provider_logout_keys, unverified_issuer, validate_logout_token, LogoutToken,
    LogoutTokenExpectations, LogoutValidation, LOGOUT_TOKEN_MAX_AGE,
};
use crate::metadata::{ClientMetadata, ProviderMetadata};
use crate::signing::{SignedResponse, TokenSigning};

/// The `logout_token` form parameter (Back-Channel Logout 2.5).
const LOGOUT_TOKEN: &str = "logout_token";

impl RelyingParty {
    /// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): a `POST` whose form body
    /// carries one `logout_token`. A valid one ends every session it names, by `sid` or `sub`,
    /// in the store every instance shares; its `jti` is spent first, so a replay ends nothing.
    /// Answers `200` (success) or `400` with a JSON error, both `Cache-Control: no-store`
    /// (2.8); `405` for another method.
    pub fn backchannel_logout(&self, request: http::Request<Bytes>, cx: Context) -> Flow<Response> {
        let (parts, body) = request.into_parts();
        let fail = |_: &RelyingParty, e: Error| backchannel_refusal(&e);
        if parts.method != Method::POST {
            let response = method_not_allowed("POST");
            return Flow::new(self, cx, crate::flow::Immediate(Some(response)), fail);
        }
        let token = if is_form(&parts.headers) {
            single_parameter(&body, LOGOUT_TOKEN)
        } else {
            Err(ProtocolError::MissingParameter(LOGOUT_TOKEN).into())
        };
        let machine = Backchannel {
            token,
            state: BackchannelState::Start,
        };
        Flow::new(self, cx, machine, fail)
    }

    /// Front-channel logout (OpenID Connect Front-Channel Logout 1.0): `GET ?iss=...&sid=...`
    /// from the provider's logout page. Ends the sessions of that provider session (`sid` is
    /// required: this relying party registers `frontchannel_logout_session_required`) and
    /// answers a small page the provider may frame; `400` when `iss` names no configured
    /// provider or `sid` is missing, and nothing ends.
    pub fn frontchannel_logout(&self, parts: &http::request::Parts, cx: Context) -> Flow<Response> {
        let fail = |rp: &RelyingParty, e: Error| rp.error_response(&e);
        // `HEAD` (a prefetch, a link checker) ends nothing.
        if parts.method != Method::GET {
            let response = method_not_allowed("GET");
            return Flow::new(self, cx, crate::flow::Immediate(Some(response)), fail);
        }
        let query = parts.uri.query().unwrap_or("").as_bytes();
        let target = single_parameter(query, "iss")
            .and_then(|iss| Ok((iss, single_parameter(query, "sid")?)))
            .and_then(|(iss, sid)| {
                self.slot_for_issuer(&iss)?;
                Ok((iss, sid))
            });
        let issuer_origin = target
            .as_ref()
            .ok()
            .and_then(|(iss, _)| url::Url::parse(iss).ok())
            .map(|u| u.origin())
            .filter(url::Origin::is_tuple)
            .map(|o| o.ascii_serialization());
        let machine = Frontchannel {
            keys: target.map(|(iss, sid)| provider_logout_keys(&iss, Some(&sid), None)),
            issuer_origin,
            asked: false,
        };
        Flow::new(self, cx, machine, fail)
    }

    /// The provider whose configured issuer is `iss`.
    fn slot_for_issuer(&self, iss: &str) -> Result<usize> {
        self.inner
            .providers
            .iter()
            .position(|p| p.config.issuer() == iss)
            .ok_or_else(|| ProtocolError::ProviderLogout(LogoutError::UnknownIssuer).into())
    }
}

/// The one value of `name` in a form-encoded `body`; missing, empty or repeated is refused.
fn single_parameter(body: &[u8], name: &'static str) -> Result<String> {
    let mut found = None;
    for (k, v) in form_urlencoded::parse(body) {
        if k == name && found.replace(v.into_owned()).is_some() {
            return Err(ProtocolError::DuplicateParameter(name.to_owned()).into());
        }
    }
    found
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProtocolError::MissingParameter(name).into())
}

/// The back-channel answers: `200` with no body, or `400` with the error (2.8), never cached.
fn backchannel_response(status: StatusCode, body: Bytes) -> Response {
    let mut r = http::Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status != StatusCode::OK {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    r
}

/// Every failure is the provider's `400` (2.8): a bad token, and also a store or key fetch
/// that failed, after which the provider may send the logout again.
fn backchannel_refusal(e: &Error) -> Response {
    // Anyone may post here: a refusal is no event worth a warning (a flood would fill the
    // logs), a failure of this app's own is.
    let description = match e {
        Error::Protocol(_) => {
            tracing::debug!(error = %e, "back-channel logout refused");
            e.error_description()
        }
        _ => {
            tracing::error!(error = %e, "back-channel logout failed");
            "the logout could not be completed; send it again".to_owned()
        }
    };
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": description,
    });
    backchannel_response(StatusCode::BAD_REQUEST, Bytes::from(body.to_string()))
}

/// [`RelyingParty::backchannel_logout`].
struct Backchannel {
    token: Result<String>,
    state: BackchannelState,
}

enum BackchannelState {
    Start,
    /// The token names a key not in `tried`: a newer set, if the key cache has or allows one.
    Retry(usize, Arc<ProviderMetadata>, Arc<JwkSet>),
    /// Its `jti` is being spent (asked yet or not), at the provider in this slot.
    Spending(usize, LogoutToken, bool),
    /// Deleting the sessions under these keys, the last one first; whether a deletion was
    /// asked for, and how many times the current one failed.
    Deleting(Vec<String>, bool, u32),
}

/// How many times a deletion is tried: once the `jti` is spent, the provider's own retry would
/// be refused as a replay, so a store that fails for a moment is given another chance here.
const DELETE_ATTEMPTS: u32 = 3;

/// How long to wait between two tries of a failed deletion.
const DELETE_RETRY: Duration = Duration::from_millis(200);

impl Backchannel {
    fn run(&mut self, cx: &mut Cx<'_>) -> Progress<Result<()>> {
        loop {
            match &mut self.state {
                BackchannelState::Start => {
                    let token = tri!(self.token.clone());
                    let iss = tri!(unverified_issuer(&token).map_err(ProtocolError::from));
                    let slot = tri!(cx.rp.slot_for_issuer(&iss));
                    let metadata = tri!(ready!(cx.ensure_metadata(slot)));
                    let (signing, client) = tri!(ready!(signing(cx, slot, &metadata)));
                    let keys = if signing.needs_provider_keys() {
                        let keys = tri!(ready!(cx.ensure_keys(slot, &metadata, None)));
                        Some(tri!(keys.ok_or_else(unknown_key)))
                    } else {
                        None
                    };
                    let checked =
                        self.validate(cx, slot, &metadata, &signing, &client, keys.as_deref());
                    match tri!(checked) {
                        LogoutValidation::Valid(t) => {
                            self.state = BackchannelState::Spending(slot, t, false)
                        }
                        LogoutValidation::UnknownKey => match keys {
                            // Perhaps the provider rotated its keys.
                            Some(tried) => {
                                self.state = BackchannelState::Retry(slot, metadata, tried)
                            }
                            None => return Progress::Ready(Err(unknown_key())),
                        },
                    }
                }
                BackchannelState::Retry(slot, metadata, tried) => {
                    let (slot, metadata, tried) = (*slot, metadata.clone(), tried.clone());
                    // A forged `kid` gets no fetch beyond what the key cache's policy allows.
                    let keys = tri!(ready!(cx.ensure_keys(slot, &metadata, Some(&tried))));
                    let keys = tri!(keys.ok_or_else(unknown_key));
                    let (signing, client) = tri!(ready!(signing(cx, slot, &metadata)));
                    match tri!(self.validate(cx, slot, &metadata, &signing, &client, Some(&keys))) {
                        LogoutValidation::Valid(t) => {
                            self.state = BackchannelState::Spending(slot, t, false)
                        }
                        LogoutValidation::UnknownKey => return Progress::Ready(Err(unknown_key())),
                    }
                }
                BackchannelState::Spending(slot, token, asked) => {
                    if !*asked {
                        *asked = true;
                        // Once the `jti` is spent the logout must happen even if the provider
                        // hangs up: sent again, it would be refused as a replay.
                        cx.set_must_finish();
                        let skew = cx
                            .rp
                            .slot_at(*slot)
                            .map_or(0, |p| p.config.clock_skew.as_secs());
                        // As long as a token is accepted, plus a second for clocks that count
                        // in whole seconds.
                        let ttl = Duration::from_secs(
                            LOGOUT_TOKEN_MAX_AGE
                                .saturating_add(skew.saturating_mul(2))
                                .saturating_add(1),
                        );
                        return Progress::Pending(Ask::MarkSpent(token.replay_key(), ttl));
                    }
                    if !tri!(cx.marked()) {
                        return Progress::Ready(Err(ProtocolError::ProviderLogout(
                            LogoutError::Replayed,
                        )
                        .into()));
                    }
                    tracing::info!(
                        sid = token.sid.is_some(),
                        sub = token.sub.is_some(),
                        "back-channel logout: ending the sessions it names"
                    );
                    let mut keys = token.index_keys();
                    keys.reverse();
                    self.state = BackchannelState::Deleting(keys, false, 0);
                }
                BackchannelState::Deleting(keys, asked, failures) => {
                    if *asked {
                        *asked = false;
                        match cx.stored() {
                            Ok(()) => {
                                keys.pop();
                                *failures = 0;
                            }
                            Err(e) if *failures + 1 < DELETE_ATTEMPTS => {
                                tracing::warn!(error = %e, "back-channel logout: deleting the sessions failed; trying again");
                                *failures += 1;
                                return Progress::Pending(Ask::Sleep(DELETE_RETRY));
                            }
                            Err(e) => return Progress::Ready(Err(e)),
                        }
                    }
                    *asked = true;
                    return match keys.last() {
                        Some(key) => Progress::Pending(Ask::DeleteIndexed(key.clone())),
                        None => Progress::Ready(Ok(())),
                    };
                }
            }
        }
    }

    fn validate(
        &self,
        cx: &Cx<'_>,
        slot: usize,
        metadata: &ProviderMetadata,
        signing: &TokenSigning,
        client: &ClientMetadata,
        keys: Option<&JwkSet>,
    ) -> Result<LogoutValidation> {
        let (Some(provider), Some(token_keys)) = (cx.rp.slot_at(slot), signing.keys(keys)) else {
            return Err(unknown_key());
        };
        let expect = LogoutTokenExpectations {
            issuer: &metadata.issuer,
            client_id: &client.client_id,
            now: cx.now,
            skew: provider.config.clock_skew.as_secs(),
            algorithms: signing.algorithms(),
        };
        let token = self.token.as_deref().map_err(Clone::clone)?;
        validate_logout_token(token, token_keys, &expect)
            .map_err(|e| ProtocolError::ProviderLogout(e).into())
    }
}

/// How this provider's logout tokens are verified: the ID token's algorithm and key, with
/// HMAC only when configured (see [`SignedResponse::LogoutToken`]).
fn signing(
    cx: &mut Cx<'_>,
    slot: usize,
    metadata: &ProviderMetadata,
) -> Progress<Result<(TokenSigning, Arc<ClientMetadata>)>> {
    let client = tri!(ready!(cx.ensure_client(slot, metadata)));
    let Some(provider) = cx.rp.slot_at(slot) else {
        return Progress::Ready(Err(Error::config("provider", "unknown provider")));
    };
    let signing = tri!(TokenSigning::decide(
        &provider.config,
        &client,
        metadata,
        SignedResponse::LogoutToken,
    ));
    Progress::Ready(Ok((signing, client)))
}

fn unknown_key() -> Error {
    ProtocolError::ProviderLogout(LogoutError::Token(crate::error::IdTokenError::UnknownKey)).into()
}

impl Machine for Backchannel {
    type Output = Response;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Response> {
        match ready!(self.run(cx)) {
            Ok(()) => Progress::Ready(backchannel_response(StatusCode::OK, Bytes::new())),
            Err(e) => Progress::Ready(backchannel_refusal(&e)),
        }
    }
}

/// [`RelyingParty::frontchannel_logout`].
struct Frontchannel {
    /// The index keys to delete, the last one first, or why there are none.
    keys: Result<Vec<String>>,
    /// The provider's origin, which alone may frame the answer.
    issuer_origin: Option<String>,
    /// Whether a deletion was asked for (and its answer is due).
    asked: bool,
}

impl Machine for Frontchannel {
    type Output = Response;
    fn step(&mut self, cx: &mut Cx<'_>) -> Progress<Response> {
        let keys = match &mut self.keys {
            Ok(keys) => keys,
            Err(e) => {
                tracing::debug!(error = %e, "front-channel logout refused");
                return Progress::Ready(cx.rp.error_response(e));
            }
        };
        if self.asked {
            if let Err(e) = cx.stored() {
                tracing::error!(error = %e, "front-channel logout failed");
                return Progress::Ready(cx.rp.error_response(&e));
            }
        }
        // The provider's page may move on before its iframes have loaded: the deletion is
        // finished all the same.
        cx.set_must_finish();
        self.asked = true;
        match keys.pop() {
            Some(key) => Progress::Pending(Ask::DeleteIndexed(key)),
            None => Progress::Ready(frontchannel_page(self.issuer_origin.as_deref())),
        }
    }
}

/// The page the provider's iframe shows: nothing to run, framable by the provider only.
fn frontchannel_page(provider_origin: Option<&str>) -> Response {
    let ancestors = provider_origin.unwrap_or("'none'");
    let csp = HeaderValue::from_str(&format!(
        "default-src 'none'; frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    let mut r = html_page(
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body><p>logged out</p></body></html>",
            escape_html("Logged out")
        ),
        csp,
    );
    // The provider's page frames it; the CSP above names who may.
    r.headers_mut().remove(header::X_FRAME_OPTIONS);
    r
}
