//! Token revocation (RFC 7009) at the simulated provider: `POST /revoke`, published as
//! `revocation_endpoint` once [`SimProvider::set_revocation_endpoint`] turns it on (off by
//! default, as some providers have none). It authenticates the client as the token endpoint
//! does, forgets the token (a revoked refresh token no longer refreshes, a revoked access token
//! no longer works at userinfo or introspection), and records every call.

use bytes::Bytes;
use http::{Method, Request, Response};
use serde_json::{json, Value};

use crate::util::{self, oauth_error, Params};
use crate::{Config, SimProvider, State};

/// The revocation endpoint's state: whether it is published, and the calls it has served.
#[derive(Debug, Default)]
pub(crate) struct RevocationState {
    enabled: bool,
    calls: Vec<RevocationCall>,
}

/// One request the revocation endpoint answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationCall {
    /// The client that authenticated; `None` when authentication failed.
    pub client_id: Option<String>,
    /// How the client authenticated: `client_secret_basic`, `client_secret_post`,
    /// `client_secret_jwt`, `private_key_jwt` or `none`.
    pub auth_method: String,
    /// The `token_type_hint` sent, if any.
    pub token_type_hint: Option<String>,
    /// What the token was: `refresh_token`, `access_token`, or `None` for a token the provider
    /// did not know (or did not revoke).
    pub revoked: Option<String>,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// Publishes `revocation_endpoint` in the discovery document when the endpoint is on.
pub(crate) fn adjust_discovery(cfg: &Config, st: &State, doc: &mut Value) {
    if st.revocation.enabled {
        doc["revocation_endpoint"] = json!(cfg.endpoint("/revoke"));
        doc["revocation_endpoint_auth_methods_supported"] =
            doc["token_endpoint_auth_methods_supported"].clone();
    }
}

/// The authentication method a request uses, as the provider sees it.
fn auth_method(st: &State, request: &Request<Bytes>, form: &Params) -> String {
    let basic = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "));
    if crate::client_auth::uses_assertion(form) {
        let hmac = st
            .client_auth
            .last_assertion()
            .and_then(|a| a["header"]["alg"].as_str().map(|alg| alg.starts_with("HS")))
            .unwrap_or(false);
        return if hmac {
            "client_secret_jwt"
        } else {
            "private_key_jwt"
        }
        .to_owned();
    }
    match (basic, form.has("client_secret")) {
        (true, _) => "client_secret_basic",
        (false, true) => "client_secret_post",
        (false, false) => "none",
    }
    .to_owned()
}

/// `POST /revoke` (RFC 7009 2.1). A 404 while the endpoint is off.
pub(crate) fn endpoint(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
) -> Response<Bytes> {
    if !st.revocation.enabled {
        return util::error_page(404, "not found");
    }
    if request.method() != Method::POST {
        return crate::method_not_allowed(&[Method::POST]);
    }
    let form = Params::parse(request.body());
    let mut call = RevocationCall {
        client_id: None,
        auth_method: String::new(),
        token_type_hint: form.get("token_type_hint").map(str::to_owned),
        revoked: None,
        status: 200,
    };
    let response = revoke(cfg, st, request, &form, now, &mut call);
    call.auth_method = auth_method(st, request, &form);
    call.status = response.status().as_u16();
    st.revocation.calls.push(call);
    response
}

fn revoke(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    form: &Params,
    now: u64,
    call: &mut RevocationCall,
) -> Response<Bytes> {
    if let Some(dup) = form.first_duplicate() {
        return oauth_error(
            400,
            "invalid_request",
            &format!("the {dup} parameter is repeated"),
        );
    }
    let client = match crate::token::authenticate(cfg, st, request.headers(), form, "/revoke", now)
    {
        Ok(client) => client,
        Err(response) => return *response,
    };
    call.client_id = Some(client.client_id.clone());
    let Some(token) = form.get("token") else {
        return oauth_error(400, "invalid_request", "the token parameter is missing");
    };
    // The hint only says where to look first (RFC 7009 2.1): both kinds are searched.
    let owner = st
        .refresh_tokens
        .get(token)
        .map(|r| ("refresh_token", r.grant.client_id.clone()))
        .or_else(|| {
            st.access_tokens
                .get(token)
                .map(|r| ("access_token", r.grant.client_id.clone()))
        });
    match owner {
        Some((_, owner)) if owner != client.client_id => oauth_error(
            400,
            "invalid_request",
            "the token was not issued to this client",
        ),
        Some((kind, _)) => {
            if kind == "refresh_token" {
                st.refresh_tokens.remove(token);
            } else {
                st.access_tokens.remove(token);
            }
            call.revoked = Some(kind.to_owned());
            revoked()
        }
        // An unknown, expired or already revoked token: done all the same (RFC 7009 2.2).
        None => revoked(),
    }
}

/// The answer to a successful revocation: `200` and no body.
fn revoked() -> Response<Bytes> {
    let mut resp = util::response(200, util::JSON, "");
    util::set_header(&mut resp, http::header::CACHE_CONTROL, "no-store");
    resp
}

impl SimProvider {
    /// Publishes (or withdraws) the token revocation endpoint, `POST /revoke` (RFC 7009), with
    /// the same client authentication methods as the token endpoint. Off by default.
    pub fn set_revocation_endpoint(&self, on: bool) {
        self.lock().revocation.enabled = on;
    }

    /// Every request the revocation endpoint has answered, oldest first.
    pub fn revocations(&self) -> Vec<RevocationCall> {
        self.lock().revocation.calls.clone()
    }

    /// Whether `token` is a refresh token the provider would still honour.
    pub fn refresh_token_is_active(&self, token: &str) -> bool {
        self.lock().refresh_tokens.contains_key(token)
    }

    /// Whether `token` is an access token the provider would still honour at `now`.
    pub fn access_token_is_active(&self, token: &str, now: u64) -> bool {
        self.lock()
            .access_tokens
            .get(token)
            .is_some_and(|r| now < r.expires_at)
    }
}
