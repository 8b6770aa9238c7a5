//! Pushed authorization requests (PAR, RFC 9126) and signed request objects (JAR, RFC 9101) at
//! the simulated provider.
//!
//! `POST /par` authenticates the client as the token endpoint does, takes the authorization
//! request's parameters (or a `request` object, verified), checks the client's `redirect_uri`
//! and answers `201` with a `request_uri` valid for 60 seconds. The authorization endpoint then
//! takes `client_id` and that `request_uri` in place of the parameters: once (a second use is
//! refused), within its lifetime (an expired one is refused), by the client it was pushed by.
//! Both refusals go back to the redirect URI checked at the push, with the pushed `state`, as
//! `invalid_request_uri`. A `request` object by value is verified the same way and its
//! parameters replace the query's (RFC 9101 6.3).
//!
//! A request object is accepted when its header says `typ: oauth-authz-req+jwt`, its signature
//! verifies with a key of the client's registered JWKS
//! ([`SimProvider::set_client_jwks`](crate::SimProvider::set_client_jwks)) named by `kid`, its
//! `iss` and `client_id` are the client, its `aud` the issuer, it has not expired, is valid
//! already (`nbf`), and its `jti` was never seen.
//!
//! The discovery document publishes `pushed_authorization_request_endpoint` and
//! `request_object_signing_alg_values_supported`; [`SimProvider::set_par_required`] adds
//! `require_pushed_authorization_requests` and refuses requests that were not pushed;
//! [`ParFailure`] makes the endpoint answer wrongly.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use bytes::Bytes;
use http::{Method, Request, Response};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{json, Map, Value};

use crate::util::{self, oauth_error, Params};
use crate::{Config, SimProvider, State};

/// How long a pushed request may be used, seconds (RFC 9126 2.2: short-lived).
pub(crate) const PUSHED_REQUEST_LIFETIME: u64 = 60;

/// The `typ` a request object must carry (RFC 9101 10.8).
const REQUEST_OBJECT_TYPE: &str = "oauth-authz-req+jwt";

/// How far in the future a request object's `nbf` may be.
const SKEW: u64 = 30;

/// The claims of a request object that are the JWT's own, not authorization parameters.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "iat", "nbf", "jti"];

/// One way the PAR endpoint answers wrongly, set with [`SimProvider::set_par_failure`], after
/// it authenticated the client.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParFailure {
    /// `400` with the OAuth error `{"error": ..}`.
    Error(String),
    /// This status with an HTML body.
    Status(u16),
    /// `201` with a body that is not JSON.
    NotJson,
    /// `200` (not `201 Created`) with an otherwise valid body.
    OkInsteadOfCreated,
    /// `201` without `request_uri`.
    MissingRequestUri,
    /// `201` without `expires_in`.
    MissingExpiresIn,
}

/// One request the PAR endpoint answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParCall {
    /// The client that authenticated; `None` when authentication failed.
    pub client_id: Option<String>,
    /// The form as sent (client credentials and a `request` object included).
    pub form: Vec<(String, String)>,
    /// The authorization parameters taken from it (from the verified request object, if
    /// any); empty when refused.
    pub params: Vec<(String, String)>,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// A pushed request, by its `request_uri`.
#[derive(Debug)]
struct Pushed {
    client_id: String,
    /// The authorization parameters, form-encoded.
    params: String,
    expires_at: u64,
    used: bool,
}

/// The provider's PAR and request object state.
#[derive(Debug)]
pub(crate) struct ParState {
    published: bool,
    required: bool,
    failure: Option<ParFailure>,
    /// Behind a lock of its own: a request is spent when the authorization endpoint answers,
    /// where only a shared borrow of the state is at hand.
    pushed: Mutex<HashMap<String, Pushed>>,
    seen_jtis: HashSet<String>,
    calls: Vec<ParCall>,
    last_request_object: Option<Value>,
}

impl Default for ParState {
    fn default() -> Self {
        ParState {
            published: true,
            required: false,
            failure: None,
            pushed: Mutex::default(),
            seen_jtis: HashSet::new(),
            calls: Vec::new(),
            last_request_object: None,
        }
    }
}

impl ParState {
    fn pushed(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pushed>> {
        self.pushed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Publishes the PAR endpoint, whether it is required, and request object support.
pub(crate) fn adjust_discovery(cfg: &Config, st: &State, doc: &mut Value) {
    if st.par.published {
        doc["pushed_authorization_request_endpoint"] = json!(cfg.endpoint("/par"));
        doc["require_pushed_authorization_requests"] = json!(st.par.required);
    }
    doc["request_parameter_supported"] = json!(true);
    doc["request_object_signing_alg_values_supported"] =
        json!(["RS256", "PS256", "ES256", "EdDSA"]);
}

/// `POST /par` (RFC 9126 2). A 404 while the endpoint is withdrawn.
pub(crate) fn endpoint(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
) -> Response<Bytes> {
    if !st.par.published {
        return util::error_page(404, "not found");
    }
    if request.method() != Method::POST {
        return crate::method_not_allowed(&[Method::POST]);
    }
    let mut call = ParCall {
        client_id: None,
        form: form_urlencoded::parse(request.body())
            .into_owned()
            .collect(),
        params: Vec::new(),
        status: 0,
    };
    let response = push(cfg, st, request, now, &mut call);
    call.status = response.status().as_u16();
    st.par.calls.push(call);
    response
}

fn push(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
    call: &mut ParCall,
) -> Response<Bytes> {
    let form = Params::parse(request.body());
    if let Some(dup) = form.first_duplicate() {
        return oauth_error(
            400,
            "invalid_request",
            &format!("the {dup} parameter is repeated"),
        );
    }
    let client = match crate::token::authenticate(cfg, st, request.headers(), &form, "/par", now) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    call.client_id = Some(client.client_id.clone());
    if let Some(failure) = &st.par.failure {
        return failed(failure);
    }
    if form.has("request_uri") {
        return oauth_error(400, "invalid_request", "request_uri must not be pushed");
    }
    let params: Vec<(String, String)> = match form.get("request") {
        Some(jwt) => match verify_request_object(cfg, st, jwt, Some(&client.client_id), now) {
            Ok(params) => params,
            Err((_, why)) => return oauth_error(400, "invalid_request_object", &why),
        },
        None => call
            .form
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "client_secret" | "client_assertion" | "client_assertion_type"
                )
            })
            .cloned()
            .collect(),
    };
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if value("client_id").is_some_and(|id| id != client.client_id) {
        return oauth_error(
            400,
            "invalid_request",
            "client_id is not the authenticated client",
        );
    }
    // RFC 9126 2.1: the redirect URI is checked now, so that a refusal later can use it.
    match value("redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => {}
        _ => {
            return oauth_error(
                400,
                "invalid_request",
                "redirect_uri is missing or not registered",
            )
        }
    }
    let has_client_id = value("client_id").is_some();
    let mut params = params;
    if !has_client_id {
        params.push(("client_id".to_owned(), client.client_id.clone()));
    }
    call.params = params.clone();
    let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", util::random_token());
    st.par.pushed().insert(
        request_uri.clone(),
        Pushed {
            client_id: client.client_id,
            params: util::encode_pairs(&params),
            expires_at: now.saturating_add(PUSHED_REQUEST_LIFETIME),
            used: false,
        },
    );
    util::json_no_store(
        201,
        &json!({ "request_uri": request_uri, "expires_in": PUSHED_REQUEST_LIFETIME }),
    )
}

/// The answer of a failing PAR endpoint.
fn failed(failure: &ParFailure) -> Response<Bytes> {
    let uri = "urn:ietf:params:oauth:request_uri:never-pushed";
    match failure {
        ParFailure::Error(error) => oauth_error(400, error, "the pushed request was refused"),
        ParFailure::Status(status) => util::response(*status, util::HTML, "<html>oops</html>"),
        ParFailure::NotJson => util::response(201, util::JSON, "not json"),
        ParFailure::OkInsteadOfCreated => util::json_no_store(
            200,
            &json!({ "request_uri": uri, "expires_in": PUSHED_REQUEST_LIFETIME }),
        ),
        ParFailure::MissingRequestUri => {
            util::json_no_store(201, &json!({ "expires_in": PUSHED_REQUEST_LIFETIME }))
        }
        ParFailure::MissingExpiresIn => util::json_no_store(201, &json!({ "request_uri": uri })),
    }
}

/// What the authorization endpoint works with, given the request's raw parameters.
pub(crate) enum Resolution {
    /// These parameters (the request's own, a pushed request's, or a request object's).
    Use {
        params: String,
        /// The `request_uri` to spend once the endpoint answers the client.
        pushed: Option<String>,
    },
    /// An error page: there is nothing trustworthy to redirect to.
    Page(String),
    /// This error, sent back as a request with `params` would be answered.
    Refuse {
        params: String,
        error: &'static str,
        description: String,
    },
}

/// Resolves `request_uri` and `request` (RFC 9126 4, RFC 9101 5) in an authorization request,
/// and refuses a request that was not pushed when PAR is required.
pub(crate) fn resolve(cfg: &Config, st: &mut State, raw: &str, now: u64) -> Resolution {
    let p = Params::parse(raw.as_bytes());
    if let Some(request_uri) = p.get("request_uri") {
        let pushed = st.par.pushed();
        let Some(entry) = pushed.get(request_uri) else {
            // Only the request's own parameters can say where to answer (a browser with just
            // `client_id` and the `request_uri` gets an error page).
            return Resolution::Refuse {
                params: without(raw, "request_uri"),
                error: "invalid_request_uri",
                description: "unknown request_uri".to_owned(),
            };
        };
        if p.get("client_id") != Some(entry.client_id.as_str()) {
            return Resolution::Page("the request_uri was pushed by another client".to_owned());
        }
        let refuse = |description: &str| Resolution::Refuse {
            params: entry.params.clone(),
            error: "invalid_request_uri",
            description: description.to_owned(),
        };
        if entry.used {
            return refuse("the request_uri was used before");
        }
        if now >= entry.expires_at {
            return refuse("the request_uri has expired");
        }
        return Resolution::Use {
            params: entry.params.clone(),
            pushed: Some(request_uri.to_owned()),
        };
    }
    if st.par.required {
        return Resolution::Refuse {
            params: raw.to_owned(),
            error: "invalid_request",
            description: "this provider accepts pushed authorization requests only".to_owned(),
        };
    }
    let Some(jwt) = p.get("request") else {
        return Resolution::Use {
            params: raw.to_owned(),
            pushed: None,
        };
    };
    match verify_request_object(cfg, st, jwt, p.get("client_id"), now) {
        Ok(params) => Resolution::Use {
            params: util::encode_pairs(&params),
            pushed: None,
        },
        Err((Some(params), why)) => Resolution::Refuse {
            params: util::encode_pairs(&params),
            error: "invalid_request_object",
            description: why,
        },
        Err((None, why)) => Resolution::Refuse {
            params: without(raw, "request"),
            error: "invalid_request_object",
            description: why,
        },
    }
}

/// The authorization parameters `raw` stands for, unverified and unspent: a pushed request's
/// (by `request_uri`), a request object's, or `raw` itself. For what reads a request after it
/// was answered (the response mode of a JARM response).
pub(crate) fn request_params(st: &State, raw: &str) -> String {
    let p = Params::parse(raw.as_bytes());
    if let Some(uri) = p.get("request_uri") {
        if let Some(entry) = st.par.pushed().get(uri) {
            return entry.params.clone();
        }
    }
    let claims = p
        .get("request")
        .and_then(|jwt| jwt.split('.').nth(1))
        .and_then(b64_json);
    match claims {
        Some(Value::Object(claims)) => util::encode_pairs(&parameters(&claims)),
        _ => raw.to_owned(),
    }
}

/// `raw` without the parameter `name`.
fn without(raw: &str, name: &str) -> String {
    let kept: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    util::encode_pairs(&kept)
}

/// Spends a pushed request: the authorization endpoint answered the client with it.
pub(crate) fn spend(st: &State, request_uri: Option<&str>) {
    if let Some(uri) = request_uri {
        if let Some(entry) = st.par.pushed().get_mut(uri) {
            entry.used = true;
        }
    }
}

/// The authorization parameters of a request object for the client `outer_client_id` (the
/// authenticated client at the PAR endpoint, the query's `client_id` by value), verified.
/// Refused: why, with the object's unverified parameters when it could be read (to send the
/// refusal back to a registered redirect URI, as the request would be answered).
#[allow(clippy::type_complexity)] // the refusal and what it can be sent back with
fn verify_request_object(
    cfg: &Config,
    st: &mut State,
    jwt: &str,
    outer_client_id: Option<&str>,
    now: u64,
) -> Result<Vec<(String, String)>, (Option<Vec<(String, String)>>, String)> {
    let mut parts = jwt.split('.');
    let (Some(head), Some(body), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err((None, "the request object is not a compact JWS".to_owned()));
    };
    let (Some(header), Some(Value::Object(claims))) = (b64_json(head), b64_json(body)) else {
        return Err((None, "the request object is malformed".to_owned()));
    };
    let params = parameters(&claims);
    let refuse = |why: &str| Err((Some(params.clone()), why.to_owned()));
    let Some(client_id) = claims.get("client_id").and_then(Value::as_str) else {
        return refuse("the request object has no client_id");
    };
    if outer_client_id.is_some_and(|outer| outer != client_id) {
        return refuse("the request object's client_id is not the request's");
    }
    if header["typ"].as_str() != Some(REQUEST_OBJECT_TYPE) {
        return refuse("the request object's typ is not oauth-authz-req+jwt");
    }
    let alg = header["alg"].as_str().unwrap_or_default();
    let kid = header["kid"].as_str();
    let jwk = st
        .client_auth
        .jwks
        .get(client_id)
        .and_then(|set| set["keys"].as_array())
        .into_iter()
        .flatten()
        .find(|k| kid.is_none() || k["kid"].as_str() == kid)
        .and_then(|k| Jwk::from_map(k.as_object()?.clone()).ok());
    let Some(jwk) = jwk else {
        return refuse("no registered key for the request object");
    };
    let verified = verifier_for(alg, &jwk)
        .is_some_and(|v| josekit::jwt::decode_with_verifier(jwt, v.as_ref()).is_ok());
    if !verified {
        return refuse("the request object's signature is invalid");
    }
    if claims.get("iss").and_then(Value::as_str) != Some(client_id) {
        return refuse("the request object's iss is not the client");
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == cfg.issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&cfg.issuer)),
        _ => false,
    };
    if !audience_ok {
        return refuse("the request object is not for this provider");
    }
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) if exp > now => {}
        _ => return refuse("the request object has expired"),
    }
    if claims
        .get("nbf")
        .and_then(Value::as_u64)
        .is_some_and(|nbf| nbf > now.saturating_add(SKEW))
    {
        return refuse("the request object is not valid yet");
    }
    let Some(jti) = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
    else {
        return refuse("the request object has no jti");
    };
    if !st.par.seen_jtis.insert(jti.to_owned()) {
        return refuse("the request object was used before");
    }
    st.par.last_request_object = Some(json!({ "header": header, "claims": claims }));
    Ok(params)
}

/// A request object's claims as authorization parameters: strings as they are, other values
/// (`max_age`, `claims`) as their JSON text.
fn parameters(claims: &Map<String, Value>) -> Vec<(String, String)> {
    claims
        .iter()
        .filter(|(k, _)| !JWT_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), value)
        })
        .collect()
}

fn b64_json(part: &str) -> Option<Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn verifier_for(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    let verifier: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(josekit::jws::PS256.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(josekit::jws::EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(verifier)
}

impl SimProvider {
    /// Whether the provider accepts authorization requests only through PAR: discovery says
    /// `require_pushed_authorization_requests`, and a request that was not pushed is refused
    /// (`invalid_request`). Off by default.
    pub fn set_par_required(&self, on: bool) {
        self.lock().par.required = on;
    }

    /// Publishes (the default) or withdraws the PAR endpoint, `POST /par`.
    pub fn set_par_endpoint(&self, on: bool) {
        self.lock().par.published = on;
    }

    /// Makes the PAR endpoint answer wrongly (`None`: correctly), after authenticating the
    /// client.
    pub fn set_par_failure(&self, failure: Option<ParFailure>) {
        self.lock().par.failure = failure;
    }

    /// Every request the PAR endpoint has answered, oldest first.
    pub fn par_calls(&self) -> Vec<ParCall> {
        self.lock().par.calls.clone()
    }

    /// The header and claims of the last request object the provider accepted, as
    /// `{"header": .., "claims": ..}`.
    pub fn last_request_object(&self) -> Option<Value> {
        self.lock().par.last_request_object.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimClient, SimProvider};
    use oidc_core::client_auth::ClientPrivateKey;

    const ISS: &str = "https://op.example";
    const CB: &str = "https://rp.example/cb";
    const NOW: u64 = 1_700_000_000;

    fn provider() -> SimProvider {
        let op = SimProvider::new(ISS);
        op.register_client(SimClient::confidential("c", "s", CB));
        op
    }

    fn push(op: &SimProvider, form: &[(&str, &str)], now: u64) -> (u16, Value) {
        let body: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let request = Request::post("/par")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(util::encode_pairs(&body)))
            .unwrap();
        let resp = op.handle(request, now);
        (
            resp.status().as_u16(),
            serde_json::from_slice(resp.body()).unwrap_or(Value::Null),
        )
    }

    fn auth_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("client_id", "c"),
            ("client_secret", "s"),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("state", "st1"),
        ]
    }

    /// A pushed request logs in once, within its lifetime: a second use, or a use after 60
    /// seconds, goes back to the client as `invalid_request_uri` with the pushed `state`.
    #[test]
    fn a_pushed_request_is_used_once_within_its_lifetime() {
        let op = provider();
        let (status, body) = push(&op, &auth_params(), NOW);
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["expires_in"], PUSHED_REQUEST_LIFETIME);
        let uri = body["request_uri"].as_str().unwrap();
        let url = format!(
            "{ISS}/authorize?client_id=c&request_uri={}",
            util::form_encode(uri)
        );
        let back = op.authorize(&url, "alice", NOW);
        assert!(back.starts_with(&format!("{CB}?code=")), "{back}");
        assert!(back.contains("state=st1"));
        let again = op.authorize(&url, "alice", NOW);
        assert!(
            again.contains("error=invalid_request_uri") && !again.contains("code="),
            "{again}"
        );
        assert!(again.contains("state=st1"), "{again}");
        let (_, body) = push(&op, &auth_params(), NOW);
        let url = format!(
            "{ISS}/authorize?client_id=c&request_uri={}",
            util::form_encode(body["request_uri"].as_str().unwrap())
        );
        let late = op.authorize(&url, "alice", NOW + PUSHED_REQUEST_LIFETIME);
        assert!(late.contains("error=invalid_request_uri"), "{late}");
        let unknown = op.authorize(
            &format!("{ISS}/authorize?client_id=c&request_uri=urn%3Ax"),
            "alice",
            NOW,
        );
        assert!(
            unknown.starts_with("about:blank#error=not_redirected"),
            "{unknown}"
        );
    }

    /// The push needs the client's authentication and a registered redirect URI; a provider
    /// requiring PAR refuses a request that was not pushed.
    #[test]
    fn pushes_are_authenticated_and_required_when_configured() {
        let op = provider();
        let mut wrong = auth_params();
        wrong[1] = ("client_secret", "wrong");
        assert_eq!(push(&op, &wrong, NOW).0, 401);
        let mut elsewhere = auth_params();
        elsewhere[3] = ("redirect_uri", "https://evil.example/cb");
        assert_eq!(push(&op, &elsewhere, NOW).0, 400);
        op.set_par_required(true);
        let plain = format!(
            "{ISS}/authorize?client_id=c&response_type=code&scope=openid&state=x&redirect_uri={}",
            util::form_encode(CB)
        );
        let back = op.authorize(&plain, "alice", NOW);
        assert!(
            back.contains("error=invalid_request") && !back.contains("code="),
            "{back}"
        );
        assert_eq!(op.par_calls().len(), 2);
        assert_eq!(op.par_calls()[0].status, 401);
    }

    /// A request object by value is verified against the client's registered key: signed by
    /// it, the login works with its parameters; signed by another key, or replayed, it goes
    /// back as `invalid_request_object`.
    #[test]
    fn request_objects_are_verified() {
        let op = provider();
        let pem = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_pem_private_key();
        let key = ClientPrivateKey::parse(std::str::from_utf8(&pem).unwrap()).unwrap();
        op.set_client_jwks("c", oidc_core::client_auth::jwks_document([&key]));
        let params: Vec<(String, String)> = auth_params()
            .into_iter()
            .filter(|(k, _)| *k != "client_secret")
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let object = |jti: &str| {
            oidc_core::request_object::request_object(&key, "c", ISS, &params, NOW, jti)
                .unwrap()
                .expose()
                .to_owned()
        };
        let by_value = |jwt: &str| {
            format!(
                "{ISS}/authorize?client_id=c&request={}",
                util::form_encode(jwt)
            )
        };
        let back = op.authorize(&by_value(&object("j1")), "alice", NOW);
        assert!(back.starts_with(&format!("{CB}?code=")), "{back}");
        assert_eq!(
            op.last_request_object().unwrap()["header"]["typ"],
            REQUEST_OBJECT_TYPE
        );
        let replay = op.authorize(&by_value(&object("j1")), "alice", NOW);
        assert!(replay.contains("error=invalid_request_object"), "{replay}");
        let other = ClientPrivateKey::parse(
            std::str::from_utf8(
                &josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
                    .unwrap()
                    .to_pem_private_key(),
            )
            .unwrap(),
        )
        .unwrap()
        .with_key_id(key.key_id());
        let forged =
            oidc_core::request_object::request_object(&other, "c", ISS, &params, NOW, "j2")
                .unwrap();
        let back = op.authorize(&by_value(forged.expose()), "alice", NOW);
        assert!(
            back.contains("error=invalid_request_object") && !back.contains("code="),
            "{back}"
        );
        // Pushed, it is refused at the push.
        let (status, body) = push(
            &op,
            &[
                ("client_id", "c"),
                ("client_secret", "s"),
                ("request", forged.expose()),
            ],
            NOW,
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request_object"))
        );
        let (status, body) = push(
            &op,
            &[
                ("client_id", "c"),
                ("client_secret", "s"),
                ("request", &object("j3")),
            ],
            NOW,
        );
        assert_eq!(status, 201, "{body}");
    }
}
