//! Token endpoint (with client authentication), UserInfo and introspection.

use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, Response};
use serde_json::{json, Value};

use crate::claims::{self, has_scope, IdTokenSpec};
use crate::keys::SigningKey;
use crate::util::{self, oauth_error, random_token, Params};
use crate::{AccessRecord, Config, Grant, Misbehavior, RefreshRecord, SimClient, State};

/// `POST /token`.
pub(crate) fn token(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
) -> Response<Bytes> {
    match &st.misbehavior {
        Misbehavior::TokenEndpointError { error } => {
            return util::json_no_store(400, &json!({ "error": error }));
        }
        Misbehavior::TokenEndpointStatus(status) => {
            return util::response(*status, util::HTML, "<html>oops</html>");
        }
        Misbehavior::TokenEndpointNotJson => {
            return util::response(200, "text/plain", "not json");
        }
        _ => {}
    }
    if request.method() != Method::POST {
        return crate::method_not_allowed(&[Method::POST]);
    }
    let form = Params::parse(request.body());
    if let Some(dup) = form.first_duplicate() {
        return oauth_error(
            400,
            "invalid_request",
            &format!("the {dup} parameter is repeated"),
        );
    }
    let client = match authenticate(cfg, st, request.headers(), &form, "/token", now) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    match form.get("grant_type") {
        None => oauth_error(
            400,
            "invalid_request",
            "the grant_type parameter is missing",
        ),
        Some("authorization_code") => code_grant(cfg, st, &client, &form, now),
        Some("refresh_token") => refresh_grant(cfg, st, &client, &form, now),
        Some("client_credentials") => client_credentials_grant(cfg, st, &client, &form, now),
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("unsupported grant_type: {other}"),
        ),
    }
}

fn code_grant(
    cfg: &Config,
    st: &mut State,
    client: &SimClient,
    form: &Params,
    now: u64,
) -> Response<Bytes> {
    let Some(code) = form.get("code") else {
        return oauth_error(400, "invalid_request", "the code parameter is missing");
    };
    let Some(rec) = st.codes.get_mut(code) else {
        return oauth_error(400, "invalid_grant", "unknown authorization code");
    };
    if rec.used {
        return oauth_error(400, "invalid_grant", "authorization code already used");
    }
    if rec.grant.client_id != client.client_id {
        return oauth_error(
            400,
            "invalid_grant",
            "authorization code was issued to another client",
        );
    }
    if now > rec.expires_at {
        return oauth_error(400, "invalid_grant", "authorization code expired");
    }
    if form.get("redirect_uri") != Some(rec.redirect_uri.as_str()) {
        return oauth_error(
            400,
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    match (&rec.code_challenge, form.get("code_verifier")) {
        (None, None) => {}
        (None, Some(_)) => {
            return oauth_error(
                400,
                "invalid_grant",
                "code_verifier sent but the authorization request had no code_challenge",
            );
        }
        (Some(_), None) => {
            return oauth_error(400, "invalid_grant", "code_verifier is required");
        }
        (Some(challenge), Some(verifier)) => {
            if !util::is_pkce_value(verifier) {
                return oauth_error(400, "invalid_request", "malformed code_verifier");
            }
            if util::sha256_b64url(verifier) != *challenge {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "code_verifier does not match the code_challenge",
                );
            }
        }
    }
    rec.used = true;
    let grant = rec.grant.clone();
    let nonce = rec.nonce.clone();
    issue_tokens(cfg, st, grant.clone(), grant, nonce.as_deref(), false, now)
}

fn refresh_grant(
    cfg: &Config,
    st: &mut State,
    client: &SimClient,
    form: &Params,
    now: u64,
) -> Response<Bytes> {
    let Some(refresh_token) = form.get("refresh_token") else {
        return oauth_error(
            400,
            "invalid_request",
            "the refresh_token parameter is missing",
        );
    };
    if let Some(successor) = st.rotated_refresh_tokens.get(refresh_token).cloned() {
        // Reuse of a rotated refresh token (OAuth 2.0 Security BCP 4.14.2): the token may have
        // been stolen, so the whole grant goes, the live successor included.
        let mut next = Some(successor);
        while let Some(token) = next {
            st.refresh_tokens.remove(&token);
            next = st.rotated_refresh_tokens.get(&token).cloned();
        }
        return oauth_error(
            400,
            "invalid_grant",
            "refresh token reused: the grant is revoked",
        );
    }
    let Some(rec) = st.refresh_tokens.get(refresh_token) else {
        return oauth_error(400, "invalid_grant", "unknown refresh token");
    };
    if rec.grant.client_id != client.client_id {
        return oauth_error(
            400,
            "invalid_grant",
            "refresh token was issued to another client",
        );
    }
    let original = rec.grant.clone();
    let mut access_grant = original.clone();
    if let Some(scope) = form.get("scope") {
        if let Some(extra) = scope
            .split_whitespace()
            .find(|s| !has_scope(&original.scope, s))
        {
            return oauth_error(
                400,
                "invalid_scope",
                &format!("scope {extra} was not granted originally"),
            );
        }
        access_grant.scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let rotates = st.misbehavior != Misbehavior::OmitRefreshToken;
    if rotates {
        st.refresh_tokens.remove(refresh_token);
    }
    let response = issue_tokens(cfg, st, access_grant, original, None, true, now);
    if rotates {
        let successor = serde_json::from_slice::<Value>(response.body())
            .ok()
            .and_then(|v| v["refresh_token"].as_str().map(str::to_owned));
        if let Some(successor) = successor {
            st.rotated_refresh_tokens
                .insert(refresh_token.to_owned(), successor);
        }
    }
    response
}

/// `grant_type=client_credentials` (RFC 6749 4.4): confidential clients only; any `scope`;
/// an `audience` parameter becomes the token's audience.
fn client_credentials_grant(
    cfg: &Config,
    st: &mut State,
    client: &SimClient,
    form: &Params,
    now: u64,
) -> Response<Bytes> {
    let keyed = st
        .client_auth
        .registered_methods
        .contains_key(&client.client_id);
    if client.client_secret.is_none() && !keyed {
        return oauth_error(
            400,
            "unauthorized_client",
            "public clients cannot use the client credentials grant",
        );
    }
    let scope = form
        .get("scope")
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let grant = Grant {
        client_id: client.client_id.clone(),
        username: client.client_id.clone(),
        scope: scope.clone(),
        auth_time: now,
        acr: None,
        claims: None,
        sid: None,
    };
    let audience = form.get("audience").map(|a| vec![a.to_owned()]);
    let access_token = match access_token_for(cfg, st, &grant, audience.clone(), now) {
        Ok(t) => t,
        Err(e) => return oauth_error(500, "server_error", &e),
    };
    st.access_tokens.insert(
        access_token.clone(),
        AccessRecord {
            grant,
            issued_at: now,
            expires_at: now.saturating_add(ACCESS_TOKEN_LIFETIME),
            audience,
        },
    );
    util::json_no_store(
        200,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": scope,
        }),
    )
}

/// How long access tokens live, seconds.
const ACCESS_TOKEN_LIFETIME: u64 = 3600;

/// A new access token for a grant: opaque, or an RFC 9068 JWT when the provider is set to
/// issue those (then for `audience`, else for the configured one).
fn access_token_for(
    cfg: &Config,
    st: &State,
    grant: &Grant,
    audience: Option<Vec<String>>,
    now: u64,
) -> Result<String, String> {
    let Some(default_audience) = &st.jwt_access_audience else {
        return Ok(random_token());
    };
    let audience = audience.unwrap_or_else(|| vec![default_audience.clone()]);
    let key = st.signing_key().ok_or("no signing key")?;
    jwt_access_token(
        key,
        &cfg.issuer,
        grant,
        &audience,
        "at+jwt",
        now,
        ACCESS_TOKEN_LIFETIME,
        crate::dpop::cnf(st),
    )
    .map_err(|e| e.to_string())
}

/// Signs an RFC 9068 JWT access token; `cnf` binds it to a DPoP key (issue 18).
#[allow(clippy::too_many_arguments)] // one per claim the callers choose
pub(crate) fn jwt_access_token(
    key: &SigningKey,
    issuer: &str,
    grant: &Grant,
    audience: &[String],
    typ: &str,
    now: u64,
    lifetime: u64,
    cnf: Option<Value>,
) -> Result<String, josekit::JoseError> {
    let aud = match audience {
        [one] => json!(one),
        many => json!(many),
    };
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(grant.username));
    claims.insert("aud".into(), aud);
    claims.insert("client_id".into(), json!(grant.client_id));
    claims.insert("scope".into(), json!(grant.scope));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(lifetime)));
    claims.insert("jti".into(), json!(random_token()));
    if let Some(cnf) = cnf {
        claims.insert("cnf".into(), cnf);
    }
    key.sign_typed(claims, typ)
}

/// Issues access token, refresh token and ID token; the refresh token carries `refresh_grant`.
/// `refreshing` is set for the refresh token grant.
fn issue_tokens(
    cfg: &Config,
    st: &mut State,
    access_grant: Grant,
    refresh_grant: Grant,
    nonce: Option<&str>,
    refreshing: bool,
    now: u64,
) -> Response<Bytes> {
    let mut id_grant = access_grant.clone();
    if refreshing && st.misbehavior == Misbehavior::RefreshOtherSub {
        id_grant.username = "someone-else".to_owned();
    }
    if refreshing && st.misbehavior == Misbehavior::RefreshOtherAuthTime {
        id_grant.auth_time = now;
    }
    let spec = IdTokenSpec {
        grant: &id_grant,
        nonce,
        at_hash: None,
        c_hash: None,
        token_endpoint: true,
    };
    let id_token = match claims::id_token(cfg, st, &spec, now) {
        // Issue 18 (J): encrypted for a client that registered ID token encryption.
        Ok(t) => match crate::encryption::id_token(st, &id_grant.client_id, t) {
            Ok(t) => t,
            Err(e) => return oauth_error(500, "server_error", &e),
        },
        Err(e) => return oauth_error(500, "server_error", &e),
    };
    let access_token = match access_token_for(cfg, st, &access_grant, None, now) {
        Ok(t) => t,
        Err(e) => return oauth_error(500, "server_error", &e),
    };
    let scope = access_grant.scope.clone();
    let audience = st
        .jwt_access_audience
        .clone()
        .map(|a| vec![a])
        .or_else(|| st.access_token_audience.clone());
    st.access_tokens.insert(
        access_token.clone(),
        AccessRecord {
            grant: access_grant,
            issued_at: now,
            expires_at: now.saturating_add(ACCESS_TOKEN_LIFETIME),
            audience,
        },
    );
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "id_token": id_token,
        "scope": scope,
    });
    if st.misbehavior != Misbehavior::OmitRefreshToken {
        let refresh_token = random_token();
        st.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshRecord {
                grant: refresh_grant,
                issued_at: now,
            },
        );
        body["refresh_token"] = json!(refresh_token);
    }
    // Issue 18 (D): tokens issued to a request with a DPoP proof are bound to its key.
    let refresh = body["refresh_token"].as_str().map(str::to_owned);
    body["token_type"] = json!(crate::dpop::bind_issued(
        st,
        &access_token,
        refresh.as_deref()
    ));
    util::json_no_store(200, &body)
}

/// A 401 `invalid_client` response (RFC 6749 5.2).
fn invalid_client(description: &str) -> Response<Bytes> {
    let mut resp = oauth_error(401, "invalid_client", description);
    util::set_header(&mut resp, WWW_AUTHENTICATE, "Basic realm=\"SimProvider\"");
    resp
}

/// The credentials of an `Authorization: Basic` header, each form-url-decoded
/// (RFC 6749 2.3.1). `Ok(None)` when there is no Basic header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, &'static str> {
    for value in headers.get_all(AUTHORIZATION) {
        let Ok(value) = value.to_str() else {
            return Err("malformed Authorization header");
        };
        let Some((scheme, rest)) = value.trim().split_once(' ') else {
            continue;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            continue;
        }
        let decoded = util::b64_std_decode(rest.trim())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("malformed Basic credentials")?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or("malformed Basic credentials")?;
        let id = util::form_decode(id).ok_or("malformed Basic client_id encoding")?;
        let secret = util::form_decode(secret).ok_or("malformed Basic client_secret encoding")?;
        return Ok(Some((id, secret)));
    }
    Ok(None)
}

fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// Authenticates the client by `client_secret_basic`, `client_secret_post`, a JWT assertion
/// (`client_secret_jwt`, `private_key_jwt`: see [`crate::client_auth`]), or (public
/// clients) `client_id` alone, for a request to `endpoint` at `now`.
pub(crate) fn authenticate(
    cfg: &Config,
    st: &State,
    headers: &HeaderMap,
    form: &Params,
    endpoint: &str,
    now: u64,
) -> Result<SimClient, Box<Response<Bytes>>> {
    let basic = basic_credentials(headers).map_err(|e| Box::new(invalid_client(e)))?;
    if crate::client_auth::uses_assertion(form) {
        if basic.is_some() {
            return Err(Box::new(oauth_error(
                400,
                "invalid_request",
                "more than one client authentication method used",
            )));
        }
        return crate::client_auth::authenticate(cfg, st, form, endpoint, now);
    }
    let method = match (&basic, form.has("client_secret")) {
        (Some(_), _) => "client_secret_basic",
        (None, true) => "client_secret_post",
        (None, false) => "none",
    };
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    let (id, secret) = match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(Box::new(oauth_error(
                    400,
                    "invalid_request",
                    "more than one client authentication method used",
                )));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(Box::new(oauth_error(
                    400,
                    "invalid_request",
                    "client_id does not match the authenticated client",
                )));
            }
            (id, Some(secret))
        }
        None => match body_id {
            Some(id) => (id.to_owned(), body_secret.map(str::to_owned)),
            None => return Err(Box::new(invalid_client("client authentication required"))),
        },
    };
    let Some(client) = st.client(&id) else {
        return Err(Box::new(invalid_client("unknown client")));
    };
    crate::client_auth::check_registered_method(st, &id, method)?;
    match (&client.client_secret, secret.as_deref()) {
        (Some(expected), Some(got)) if secrets_equal(expected, got) => Ok(client.clone()),
        (Some(_), Some(_)) => Err(Box::new(invalid_client("invalid client secret"))),
        (Some(_), None) => Err(Box::new(invalid_client("client authentication required"))),
        (None, None) | (None, Some("")) => Ok(client.clone()),
        (None, Some(_)) => Err(Box::new(invalid_client(
            "this public client has no secret; do not send one",
        ))),
    }
}

/// The bearer token of an `Authorization: Bearer` header, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.trim().split_once(' '))
        .find(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn invalid_token(description: &str) -> Response<Bytes> {
    let mut resp = util::json(
        401,
        &json!({ "error": "invalid_token", "error_description": description }),
    );
    let challenge = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        description.replace(['"', '\\'], "")
    );
    util::set_header(&mut resp, WWW_AUTHENTICATE, &challenge);
    resp
}

/// `GET` / `POST /userinfo`.
pub(crate) fn userinfo(st: &State, request: &Request<Bytes>, now: u64) -> Response<Bytes> {
    if let Misbehavior::UserinfoStatus(status) = st.misbehavior {
        return util::response(status, util::HTML, "<html>oops</html>");
    }
    let method = request.method();
    if method != Method::GET && method != Method::POST {
        return crate::method_not_allowed(&[Method::GET, Method::POST]);
    }
    let header_token = bearer(request.headers());
    let body_token = if method == Method::POST {
        Params::parse(request.body())
            .get("access_token")
            .map(str::to_owned)
    } else {
        None
    };
    let token = match (header_token, body_token) {
        (Some(_), Some(_)) => {
            let mut resp = util::json(
                400,
                &json!({ "error": "invalid_request", "error_description": "more than one access token" }),
            );
            util::set_header(
                &mut resp,
                WWW_AUTHENTICATE,
                "Bearer error=\"invalid_request\"",
            );
            return resp;
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            let mut resp = util::response(401, util::JSON, "{}");
            util::set_header(&mut resp, WWW_AUTHENTICATE, "Bearer realm=\"SimProvider\"");
            return resp;
        }
    };
    let Some(rec) = st.access_tokens.get(&token) else {
        return invalid_token("unknown access token");
    };
    if now >= rec.expires_at {
        return invalid_token("the access token expired");
    }
    let mut body = claims::released(st, &rec.grant, "userinfo");
    let sub = if st.misbehavior == Misbehavior::UserinfoSubMismatch {
        format!("{}-other", rec.grant.username)
    } else {
        rec.grant.username.clone()
    };
    body.insert("sub".to_owned(), json!(sub));
    if st.misbehavior == Misbehavior::UserinfoSecondSub {
        let text = claims::with_second_sub(&body, &format!("{sub}-other"), true);
        return util::response(200, util::JSON, text);
    }
    util::json(200, &Value::Object(body))
}

/// `POST /introspect` (RFC 7662).
pub(crate) fn introspect(
    cfg: &Config,
    st: &State,
    request: &Request<Bytes>,
    now: u64,
) -> Response<Bytes> {
    if request.method() != Method::POST {
        return crate::method_not_allowed(&[Method::POST]);
    }
    let form = Params::parse(request.body());
    if let Some(dup) = form.first_duplicate() {
        return oauth_error(
            400,
            "invalid_request",
            &format!("the {dup} parameter is repeated"),
        );
    }
    if let Err(response) = authenticate(cfg, st, request.headers(), &form, "/introspect", now) {
        return *response;
    }
    let Some(token) = form.get("token") else {
        return oauth_error(400, "invalid_request", "the token parameter is missing");
    };
    let body = if let Some(rec) = st.access_tokens.get(token).filter(|r| now < r.expires_at) {
        json!({
            "active": true,
            "scope": rec.grant.scope,
            "client_id": rec.grant.client_id,
            "sub": rec.grant.username,
            "aud": rec.audience.clone().map_or_else(|| json!(rec.grant.client_id), |a| json!(a)),
            "exp": rec.expires_at,
            "iat": rec.issued_at,
            "iss": cfg.issuer,
            "token_type": "Bearer",
        })
    } else if let Some(rec) = st.refresh_tokens.get(token) {
        json!({
            "active": true,
            "scope": rec.grant.scope,
            "client_id": rec.grant.client_id,
            "sub": rec.grant.username,
            "aud": rec.grant.client_id,
            "iat": rec.issued_at,
            "iss": cfg.issuer,
            "token_type": "refresh_token",
        })
    } else {
        json!({ "active": false })
    };
    // Issue 18 (D): a DPoP-bound token's key.
    let mut body = body;
    crate::dpop::introspected(st, token, &mut body);
    util::json_no_store(200, &body)
}
