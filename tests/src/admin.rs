//! Discovery, JWKS, RP-initiated logout and dynamic client registration.

use bytes::Bytes;
use http::{Method, Request, Response};
use serde_json::{json, Map, Value};

use crate::authorize::SESSION_COOKIE;
use crate::util::{self, Params};
use crate::{keys, Config, Misbehavior, SimClient, State};

/// `GET /.well-known/openid-configuration`.
pub(crate) fn discovery(cfg: &Config, st: &State) -> Response<Bytes> {
    let issuer = if st.misbehavior == Misbehavior::DiscoveryIssuerMismatch {
        format!("{}-mismatch", cfg.issuer)
    } else {
        cfg.issuer.clone()
    };
    let mut doc = discovery_document(cfg, st, issuer);
    crate::compat::adjust_discovery(st, &mut doc);
    crate::client_auth::adjust_discovery(st, &mut doc);
    crate::revocation::adjust_discovery(cfg, st, &mut doc);
    crate::logout_token::adjust_discovery(st, &mut doc);
    // Issue 18 (P): PAR and request objects.
    crate::par::adjust_discovery(cfg, st, &mut doc);
    // Issue 18 (J): JARM and encryption.
    crate::jarm::adjust_discovery(st, &mut doc);
    crate::encryption::adjust_discovery(&mut doc);
    util::json(200, &doc)
}

/// The discovery document, before any adjustment for the provider's compatibility knobs.
fn discovery_document(cfg: &Config, st: &State, issuer: String) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": cfg.endpoint("/authorize"),
        "token_endpoint": cfg.endpoint("/token"),
        "userinfo_endpoint": cfg.endpoint("/userinfo"),
        "jwks_uri": cfg.endpoint("/jwks"),
        "end_session_endpoint": cfg.endpoint("/logout"),
        "registration_endpoint": cfg.endpoint("/register"),
        "introspection_endpoint": cfg.endpoint("/introspect"),
        "response_types_supported": [
            "code", "id_token", "id_token token", "code id_token", "code token",
            "code id_token token"
        ],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs(st),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash",
            "c_hash", "name", "preferred_username", "email", "email_verified"
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": st.iss_parameter,
    })
}

/// The algorithms of the published keys, oldest first, each once.
fn signing_algs(st: &State) -> Vec<&'static str> {
    let mut algs = Vec::new();
    for key in &st.keys {
        if !algs.contains(&key.alg.name()) {
            algs.push(key.alg.name());
        }
    }
    algs
}

/// The JWKS document: every published public key.
pub(crate) fn jwks_value(st: &State) -> Value {
    let keys: Vec<Value> = st.keys.iter().map(|k| k.public_jwk(st.jwks_alg)).collect();
    json!({ "keys": keys })
}

/// `GET /jwks`.
pub(crate) fn jwks(st: &State) -> Response<Bytes> {
    if let Misbehavior::JwksStatus(status) = st.misbehavior {
        return util::response(status, util::HTML, "<html>oops</html>");
    }
    util::json(200, &jwks_value(st))
}

/// `GET` / `POST /logout` (OpenID Connect RP-Initiated Logout 1.0). Unless it refuses the
/// request, it ends the provider session and queues the back- and front-channel logouts of
/// the clients that took part in it.
pub(crate) fn logout(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
) -> Response<Bytes> {
    let params = match *request.method() {
        Method::GET => Params::parse(request.uri().query().unwrap_or_default().as_bytes()),
        Method::POST => Params::parse(request.body()),
        _ => return crate::method_not_allowed(&[Method::GET, Method::POST]),
    };
    let mut response = logout_response(st, &params);
    util::set_cookie(
        &mut response,
        &format!(
            "{SESSION_COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax",
            cfg.cookie_path()
        ),
    );
    if !response.status().is_client_error() {
        end_provider_session(cfg, st, request, &params, now);
        util::set_cookie(&mut response, &crate::logout_token::clear_sid_cookie(cfg));
    }
    response
}

fn logout_response(st: &State, params: &Params) -> Response<Bytes> {
    let hint_client = match params.get("id_token_hint") {
        None => None,
        Some(hint) => {
            let keys = st.keys.iter().chain(st.rogue_key.iter()).map(|k| &**k);
            let Some(claims) = keys::verify(hint, keys) else {
                return util::error_page(400, "invalid id_token_hint");
            };
            hint_audience(&claims)
        }
    };
    let client_id = match (params.get("client_id"), hint_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return util::error_page(400, "client_id does not match the id_token_hint audience");
        }
        (Some(id), _) | (None, Some(id)) => Some(id.to_owned()),
        (None, None) => None,
    };
    let client = client_id.as_deref().and_then(|id| st.client(id));
    if let (Some(client), Some(uri)) = (client, params.get("post_logout_redirect_uri")) {
        if client.post_logout_redirect_uris.iter().any(|u| u == uri) {
            let extra: Vec<(String, String)> = params
                .get("state")
                .map(|s| ("state".to_owned(), s.to_owned()))
                .into_iter()
                .collect();
            let target = if extra.is_empty() {
                uri.to_owned()
            } else {
                util::append_params(uri, &extra, false)
            };
            return util::redirect(&target);
        }
    }
    util::html(
        200,
        util::page(
            "Logged out",
            "<h1>You have been logged out</h1>\n<p class=\"note\">You can close this window.</p>",
        ),
    )
}

/// Ends the provider session of an accepted logout request: the browser's, or the one its
/// `id_token_hint` (already checked by [`logout_response`]) names.
fn end_provider_session(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    params: &Params,
    now: u64,
) {
    let cookie_sid = util::cookie(request.headers(), crate::logout_token::SID_COOKIE);
    let hint = params.get("id_token_hint").and_then(|hint| {
        let keys = st.keys.iter().chain(st.rogue_key.iter()).map(|k| &**k);
        keys::verify(hint, keys)
    });
    let hint_client = hint.as_ref().and_then(hint_audience);
    let sids = crate::logout_token::sessions_ended_by(
        st,
        cookie_sid.as_deref(),
        hint.as_ref(),
        hint_client.as_deref(),
    );
    crate::logout_token::end_sessions(cfg, st, &sids, now);
}

/// The client an ID token was issued to: `azp`, else the single (or first) `aud`.
fn hint_audience(claims: &Map<String, Value>) -> Option<String> {
    if let Some(azp) = claims.get("azp").and_then(Value::as_str) {
        return Some(azp.to_owned());
    }
    match claims.get("aud")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn registration_error(error: &str, description: &str) -> Response<Bytes> {
    util::json_no_store(
        400,
        &json!({ "error": error, "error_description": description }),
    )
}

/// Parses an optional array-of-strings metadata field.
fn string_list(meta: &Map<String, Value>, key: &str) -> Result<Vec<String>, ()> {
    match meta.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(()))
            .collect(),
        Some(_) => Err(()),
    }
}

fn is_valid_redirect_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| u.fragment().is_none())
}

/// `POST /register` (OpenID Connect Dynamic Client Registration 1.0).
pub(crate) fn register(st: &mut State, request: &Request<Bytes>, now: u64) -> Response<Bytes> {
    if request.method() != Method::POST {
        return crate::method_not_allowed(&[Method::POST]);
    }
    let Ok(Value::Object(mut meta)) = serde_json::from_slice::<Value>(request.body()) else {
        return registration_error(
            "invalid_client_metadata",
            "the request body must be a JSON object",
        );
    };
    let redirect_uris = match string_list(&meta, "redirect_uris") {
        Ok(list) if !list.is_empty() => list,
        _ => {
            return registration_error(
                "invalid_redirect_uri",
                "redirect_uris must be a non-empty array of strings",
            )
        }
    };
    if let Some(bad) = redirect_uris.iter().find(|u| !is_valid_redirect_uri(u)) {
        return registration_error(
            "invalid_redirect_uri",
            &format!("not an absolute URI without fragment: {bad}"),
        );
    }
    let Ok(post_logout_redirect_uris) = string_list(&meta, "post_logout_redirect_uris") else {
        return registration_error(
            "invalid_client_metadata",
            "post_logout_redirect_uris must be an array of strings",
        );
    };
    if let Some(bad) = post_logout_redirect_uris
        .iter()
        .find(|u| !is_valid_redirect_uri(u))
    {
        return registration_error(
            "invalid_client_metadata",
            &format!("not an absolute URI without fragment: {bad}"),
        );
    }
    let auth_method = match meta.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "client_secret_basic".to_owned(),
        Some(Value::String(m))
            if matches!(
                m.as_str(),
                "client_secret_basic" | "client_secret_post" | "client_secret_jwt" | "none"
            ) =>
        {
            m.clone()
        }
        // RFC 7591 2: a private key client registers its public keys, by value or by URL.
        Some(Value::String(m))
            if m == "private_key_jwt"
                && (meta.get("jwks_uri").is_some_and(Value::is_string)
                    || meta.get("jwks").is_some_and(Value::is_object)) =>
        {
            m.clone()
        }
        Some(_) => {
            return registration_error(
                "invalid_client_metadata",
                "token_endpoint_auth_method must be client_secret_basic, client_secret_post, \
             client_secret_jwt, private_key_jwt (with jwks_uri or jwks) or none",
            )
        }
    };
    let client_id = format!("dyn-{}", &util::random_token()[..16]);
    let client_secret =
        (auth_method != "none" && auth_method != "private_key_jwt").then(util::random_token);
    if auth_method.ends_with("_jwt") {
        let keys = &mut st.client_auth;
        keys.registered_methods
            .insert(client_id.clone(), auth_method.clone());
        if let Some(uri) = meta.get("jwks_uri").and_then(Value::as_str) {
            keys.jwks_uris.insert(client_id.clone(), uri.to_owned());
        }
        if let Some(jwks) = meta.get("jwks").filter(|j| j.is_object()) {
            keys.jwks.insert(client_id.clone(), jwks.clone());
        }
    }

    meta.insert("client_id".into(), json!(client_id));
    meta.insert("client_id_issued_at".into(), json!(now));
    meta.insert("token_endpoint_auth_method".into(), json!(auth_method));
    match &client_secret {
        Some(secret) => {
            meta.insert("client_secret".into(), json!(secret));
            meta.insert("client_secret_expires_at".into(), json!(0));
        }
        None => {
            meta.remove("client_secret");
            meta.remove("client_secret_expires_at");
        }
    }
    let logout = match crate::logout_token::registration_from(&meta) {
        Ok(logout) => logout,
        Err(e) => return registration_error("invalid_client_metadata", &e),
    };
    crate::compat::record_registration(st, &client_id, &meta);
    // Issue 18 (J): the encryption a client registers, and where its keys are.
    crate::encryption::record_registration(st, &client_id, &meta);
    crate::logout_token::record_registration(st, &client_id, logout);
    st.clients.insert(
        client_id.clone(),
        SimClient {
            client_id,
            client_secret,
            redirect_uris,
            post_logout_redirect_uris,
        },
    );
    util::json_no_store(201, &Value::Object(meta))
}
