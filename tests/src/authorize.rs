//! The authorization endpoint: request validation, login form, SSO, and the authorization
//! response in every response type and response mode.

use bytes::Bytes;
use http::header::CACHE_CONTROL;
use http::{Method, Request, Response};
use serde_json::Value;

use crate::claims::{self, has_scope, IdTokenSpec};
use crate::logout_token::{self, SID_COOKIE};
use crate::util::{self, escape_html, random_token, Params};
use crate::{AccessRecord, CodeRecord, Config, Grant, Misbehavior, State};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "sim_session";

/// How authorization response parameters travel back to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// In the redirect URI's query.
    Query,
    /// In the redirect URI's fragment.
    Fragment,
    /// As an auto-submitted HTML form POSTed to the redirect URI.
    FormPost,
}

/// Which of `code`, `id_token`, `token` the response type asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ResponseType {
    code: bool,
    id_token: bool,
    token: bool,
}

impl ResponseType {
    /// Parses one of the six OpenID Connect response types (any word order).
    fn parse(s: &str) -> Option<Self> {
        let mut rt = ResponseType {
            code: false,
            id_token: false,
            token: false,
        };
        for word in s.split(' ') {
            let flag = match word {
                "code" => &mut rt.code,
                "id_token" => &mut rt.id_token,
                "token" => &mut rt.token,
                _ => return None,
            };
            if *flag {
                return None;
            }
            *flag = true;
        }
        // Plain OAuth "token" is not an OpenID Connect response type.
        (rt.code || rt.id_token).then_some(rt)
    }
}

/// Where (and how) the authorization response goes.
#[derive(Clone, Debug)]
struct Target {
    redirect_uri: String,
    mode: Mode,
    state: Option<String>,
    /// Issue 18 (P): the pushed request (`request_uri`) answered, spent by [`finish`]
    /// (boxed: the rejections carrying a target stay small).
    pushed: Option<Box<str>>,
}

/// A validated authorization request.
#[derive(Debug)]
struct AuthRequest {
    target: Target,
    client_id: String,
    rt: ResponseType,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    prompt_none: bool,
    prompt_login: bool,
    max_age: Option<u64>,
    /// The first of the requested `acr_values`: what this provider always satisfies.
    acr: Option<String>,
    claims: Option<Value>,
    login_hint: Option<String>,
    /// The raw parameters, carried through the login form.
    raw: String,
}

/// Why a request is refused.
enum Rejection {
    /// Show an error page; never redirect (unknown client / redirect URI).
    Page(u16, String),
    /// Redirect back with `error` and `error_description`.
    Redirect(Target, String, String),
}

/// The result of the authorization endpoint, before it becomes HTTP.
pub(crate) enum Outcome {
    /// Send the browser back to the client.
    Redirect {
        redirect_uri: String,
        mode: Mode,
        params: Vec<(String, String)>,
        /// `Set-Cookie` values: the provider session's cookies after a login.
        set_cookie: Vec<String>,
    },
    /// Show a page (login form or error).
    Page {
        status: u16,
        message: String,
        response: Response<Bytes>,
    },
}

/// `GET` / `POST /authorize`.
pub(crate) fn endpoint(
    cfg: &Config,
    st: &mut State,
    request: &Request<Bytes>,
    now: u64,
) -> Response<Bytes> {
    let session = util::cookie(request.headers(), SESSION_COOKIE);
    let sid = util::cookie(request.headers(), SID_COOKIE);
    let outcome = match *request.method() {
        Method::GET => {
            let raw = request.uri().query().unwrap_or_default();
            request_flow(cfg, st, raw, session, sid.as_deref(), now)
        }
        Method::POST => {
            let form = Params::parse(request.body());
            if form.has("request_params") {
                form_submit(cfg, st, &form, sid.as_deref(), now)
            } else {
                // OIDC Core 3.1.2.1: the authorization request may also be POSTed.
                let raw = String::from_utf8_lossy(request.body()).into_owned();
                request_flow(cfg, st, &raw, session, sid.as_deref(), now)
            }
        }
        _ => return crate::method_not_allowed(&[Method::GET, Method::POST]),
    };
    // Issue 18 (J): a JARM response when the request asked for one.
    let raw = match *request.method() {
        Method::GET => request.uri().query().unwrap_or_default().to_owned(),
        _ => {
            let form = Params::parse(request.body());
            match form.get("request_params") {
                Some(raw) => raw.to_owned(),
                None => String::from_utf8_lossy(request.body()).into_owned(),
            }
        }
    };
    let outcome = crate::jarm::wrap(cfg, st, &raw, outcome, now);
    render(outcome)
}

/// The [`crate::SimProvider::authorize`] shortcut: the login form POST, built in-process.
pub(crate) fn shortcut(
    cfg: &Config,
    st: &mut State,
    query: &str,
    username: &str,
    now: u64,
) -> Outcome {
    let action = if username.trim().is_empty() {
        "deny"
    } else {
        "login"
    };
    let body = util::encode_pairs(&[
        ("request_params".to_owned(), query.to_owned()),
        ("username".to_owned(), username.to_owned()),
        ("action".to_owned(), action.to_owned()),
    ]);
    // No browser: every shortcut login is a provider session of its own.
    let outcome = form_submit(cfg, st, &Params::parse(body.as_bytes()), None, now);
    // Issue 18 (J): a JARM response when the request asked for one.
    crate::jarm::wrap(cfg, st, query, outcome, now)
}

/// An authorization request (GET, or POST without the login form fields).
fn request_flow(
    cfg: &Config,
    st: &mut State,
    raw: &str,
    session: Option<String>,
    sid: Option<&str>,
    now: u64,
) -> Outcome {
    let req = match validate_resolved(cfg, st, raw, now) {
        Ok(req) => req,
        Err(outcome) => return *outcome,
    };
    if let Some(user) = session {
        let auth_time = *st.login_times.entry(user.clone()).or_insert(now);
        let fresh = req
            .max_age
            .is_none_or(|max| now.saturating_sub(auth_time) <= max);
        if fresh && !req.prompt_login {
            return issue(cfg, st, &req, &user, auth_time, (Vec::new(), sid), now);
        }
    }
    if req.prompt_none {
        return error_redirect(
            cfg,
            st,
            &req.target,
            "login_required",
            Some("prompt=none but the user is not logged in"),
        );
    }
    login_form(cfg, &req, None)
}

/// The login form was submitted (or the test shortcut simulated that).
fn form_submit(
    cfg: &Config,
    st: &mut State,
    form: &Params,
    sid: Option<&str>,
    now: u64,
) -> Outcome {
    let raw = form.get("request_params").unwrap_or_default();
    let req = match validate_resolved(cfg, st, raw, now) {
        Ok(req) => req,
        Err(outcome) => return *outcome,
    };
    let deny = form.get("action") == Some("deny");
    let username = form
        .get("username")
        .map(str::trim)
        .filter(|u| !u.is_empty());
    match username {
        None if req.prompt_none => error_redirect(
            cfg,
            st,
            &req.target,
            "login_required",
            Some("prompt=none but the user is not logged in"),
        ),
        _ if deny => error_redirect(
            cfg,
            st,
            &req.target,
            "access_denied",
            Some("the user cancelled the sign-in"),
        ),
        None => login_form(cfg, &req, Some("Please enter a username.")),
        Some(user) => {
            st.login_times.insert(user.to_owned(), now);
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path={}; HttpOnly; SameSite=Lax",
                util::form_encode(user),
                cfg.cookie_path()
            );
            issue(cfg, st, &req, user, now, (vec![cookie], sid), now)
        }
    }
}

/// Issue 18 (P): [`validate`], after the `request_uri` or `request` object the request may
/// carry is resolved into parameters ([`crate::par::resolve`]). The request keeps its raw
/// parameters, so that the login form carries the `request_uri` on, unspent.
fn validate_resolved(
    cfg: &Config,
    st: &mut State,
    raw: &str,
    now: u64,
) -> Result<AuthRequest, Box<Outcome>> {
    use crate::par::Resolution;
    match crate::par::resolve(cfg, st, raw, now) {
        Resolution::Use { params, pushed } => match validate(st, &params) {
            Ok(mut req) => {
                req.raw = raw.to_owned();
                req.target.pushed = pushed.map(String::into_boxed_str);
                Ok(req)
            }
            Err(rejection) => Err(Box::new(reject(cfg, st, rejection))),
        },
        Resolution::Page(message) => Err(Box::new(reject(cfg, st, Rejection::Page(400, message)))),
        Resolution::Refuse {
            params,
            error,
            description,
        } => Err(Box::new(match validate(st, &params) {
            Ok(req) => error_redirect(cfg, st, &req.target, error, Some(&description)),
            Err(rejection) => reject(cfg, st, rejection),
        })),
    }
}

/// Validates an authorization request given as raw form-encoded parameters.
fn validate(st: &State, raw: &str) -> Result<AuthRequest, Rejection> {
    let p = Params::parse(raw.as_bytes());
    for key in ["client_id", "redirect_uri"] {
        if p.is_duplicated(key) {
            return Err(Rejection::Page(
                400,
                format!("the {key} parameter is repeated"),
            ));
        }
    }
    let client_id = p
        .get("client_id")
        .ok_or_else(|| Rejection::Page(400, "the client_id parameter is missing".into()))?;
    let client = st
        .client(client_id)
        .ok_or_else(|| Rejection::Page(400, format!("unknown client_id: {client_id}")))?;
    let redirect_uri = p
        .get("redirect_uri")
        .ok_or_else(|| Rejection::Page(400, "the redirect_uri parameter is missing".into()))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(Rejection::Page(
            400,
            format!("redirect_uri is not registered for client {client_id}: {redirect_uri}"),
        ));
    }

    let rt_raw = p.get("response_type");
    let returns_tokens =
        rt_raw.is_some_and(|r| r.split(' ').any(|w| w == "id_token" || w == "token"));
    let default_mode = if returns_tokens {
        Mode::Fragment
    } else {
        Mode::Query
    };
    let (mode, bad_mode) = match p.get("response_mode") {
        None => (default_mode, false),
        Some("query") => (Mode::Query, false),
        Some("fragment") => (Mode::Fragment, false),
        Some("form_post") => (Mode::FormPost, false),
        // Issue 18 (J): the JARM modes travel in their base mode, as a JWT.
        Some(m) => match crate::jarm::base_mode(m, default_mode) {
            Some(base) => (base, false),
            None => (default_mode, true),
        },
    };
    let target = Target {
        redirect_uri: redirect_uri.to_owned(),
        mode,
        state: p.get("state").map(str::to_owned),
        pushed: None,
    };
    let fail = |error: &str, description: &str| {
        Err(Rejection::Redirect(
            target.clone(),
            error.to_owned(),
            description.to_owned(),
        ))
    };

    if bad_mode {
        return fail("invalid_request", "unsupported response_mode");
    }
    if let Some(dup) = p.first_duplicate() {
        return fail(
            "invalid_request",
            &format!("the {dup} parameter is repeated"),
        );
    }
    if let Misbehavior::AuthorizeError {
        error,
        error_description,
    } = &st.misbehavior
    {
        return Err(Rejection::Redirect(
            target.clone(),
            error.clone(),
            error_description.clone().unwrap_or_default(),
        ));
    }
    if p.get("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if p.get("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    let Some(rt_raw) = rt_raw else {
        return fail("invalid_request", "the response_type parameter is missing");
    };
    let Some(rt) = ResponseType::parse(rt_raw) else {
        return fail("unsupported_response_type", "unsupported response_type");
    };
    if mode == Mode::Query && returns_tokens {
        return fail(
            "invalid_request",
            "response_mode=query must not be used with a response type that returns tokens",
        );
    }
    let scope = p
        .get("scope")
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if !has_scope(&scope, "openid") {
        return fail("invalid_scope", "the scope must include openid");
    }
    let nonce = p.get("nonce").map(str::to_owned);
    if rt.id_token && nonce.is_none() {
        return fail(
            "invalid_request",
            "nonce is required when the response type includes id_token",
        );
    }
    let code_challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (None, None) => None,
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            )
        }
        (Some(ch), Some("S256")) if util::is_pkce_value(ch) => Some(ch.to_owned()),
        (Some(_), Some("S256")) => return fail("invalid_request", "malformed code_challenge"),
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            )
        }
    };
    let prompts: Vec<&str> = p.get("prompt").unwrap_or_default().split(' ').collect();
    let prompt_none = prompts.contains(&"none");
    let prompt_login = prompts.contains(&"login");
    if prompt_none && prompts.iter().any(|v| !v.is_empty() && *v != "none") {
        return fail(
            "invalid_request",
            "prompt=none must not be combined with other values",
        );
    }
    let max_age = match p.get("max_age") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return fail("invalid_request", "max_age must be a non-negative integer"),
        },
    };
    let claims = match p.get("claims") {
        None => None,
        Some(v) => match serde_json::from_str::<Value>(v) {
            Ok(obj @ Value::Object(_)) => Some(obj),
            _ => return fail("invalid_request", "claims must be a JSON object"),
        },
    };

    Ok(AuthRequest {
        target,
        client_id: client_id.to_owned(),
        rt,
        scope,
        nonce,
        code_challenge,
        prompt_none,
        prompt_login,
        max_age,
        acr: p
            .get("acr_values")
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_owned),
        claims,
        login_hint: p.get("login_hint").map(str::to_owned),
        raw: raw.to_owned(),
    })
}

/// Issues the authorization response for a logged-in user, in the browser's provider session
/// (`session.1`, its `sim_sid` cookie) if it is one of this user's, else in a new one; with
/// the cookies `session.0` to set.
fn issue(
    cfg: &Config,
    st: &mut State,
    req: &AuthRequest,
    username: &str,
    auth_time: u64,
    session: (Vec<String>, Option<&str>),
    now: u64,
) -> Outcome {
    let (mut set_cookie, sid_cookie) = session;
    let (sid, new_sid_cookie) = logout_token::session_for(cfg, st, username, sid_cookie);
    set_cookie.extend(new_sid_cookie);
    logout_token::join(st, &sid, &req.client_id);
    let grant = Grant {
        client_id: req.client_id.clone(),
        username: username.to_owned(),
        scope: req.scope.clone(),
        auth_time,
        acr: req.acr.clone(),
        claims: req.claims.clone(),
        sid: Some(sid),
    };
    let code = req.rt.code.then(random_token);
    let access = req.rt.token.then(random_token);
    let mut params = Vec::new();
    if let Some(code) = &code {
        st.codes.insert(
            code.clone(),
            CodeRecord {
                grant: grant.clone(),
                redirect_uri: req.target.redirect_uri.clone(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                expires_at: now.saturating_add(600),
                used: false,
            },
        );
        params.push(("code".to_owned(), code.clone()));
    }
    if let Some(access) = &access {
        st.access_tokens.insert(
            access.clone(),
            AccessRecord {
                grant: grant.clone(),
                issued_at: now,
                expires_at: now.saturating_add(3600),
                audience: None,
            },
        );
        params.push(("access_token".to_owned(), access.clone()));
        params.push(("token_type".to_owned(), "Bearer".to_owned()));
        params.push(("expires_in".to_owned(), "3600".to_owned()));
    }
    if req.rt.id_token {
        // The hashes follow the signing key's algorithm (and, for EdDSA, its curve), or the
        // HMAC algorithm the client registered.
        let hash = |v: &str| crate::compat::half_hash_for(st, &grant.client_id, v);
        let spec = IdTokenSpec {
            grant: &grant,
            nonce: req.nonce.as_deref(),
            at_hash: access.as_deref().map(hash),
            c_hash: code.as_deref().map(hash),
            token_endpoint: false,
        };
        // Issue 18 (J): encrypted for a client that registered ID token encryption.
        match claims::id_token(cfg, st, &spec, now)
            .and_then(|t| crate::encryption::id_token(st, &grant.client_id, t))
        {
            Ok(token) => params.push(("id_token".to_owned(), token)),
            Err(e) => {
                return error_redirect(cfg, st, &req.target, "server_error", Some(&e));
            }
        }
    }
    finish(cfg, st, &req.target, params, set_cookie)
}

/// Adds `state` (possibly wrong, per misbehavior) and RFC 9207 `iss`.
fn finish(
    cfg: &Config,
    st: &State,
    target: &Target,
    mut params: Vec<(String, String)>,
    set_cookie: Vec<String>,
) -> Outcome {
    // Issue 18 (P): a pushed request answers once.
    crate::par::spend(st, target.pushed.as_deref());
    let state = if st.misbehavior == Misbehavior::WrongState {
        Some(match &target.state {
            Some(s) => format!("{s}-wrong"),
            None => "unexpected-state".to_owned(),
        })
    } else {
        target.state.clone()
    };
    if let Some(state) = state {
        params.push(("state".to_owned(), state));
    }
    if st.iss_parameter {
        params.push(("iss".to_owned(), cfg.issuer.clone()));
    }
    Outcome::Redirect {
        redirect_uri: target.redirect_uri.clone(),
        mode: target.mode,
        params,
        set_cookie,
    }
}

fn error_redirect(
    cfg: &Config,
    st: &State,
    target: &Target,
    error: &str,
    description: Option<&str>,
) -> Outcome {
    let mut params = vec![("error".to_owned(), error.to_owned())];
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        params.push(("error_description".to_owned(), d.to_owned()));
    }
    finish(cfg, st, target, params, Vec::new())
}

fn reject(cfg: &Config, st: &State, rejection: Rejection) -> Outcome {
    match rejection {
        Rejection::Page(status, message) => Outcome::Page {
            status,
            response: util::error_page(status, &message),
            message,
        },
        Rejection::Redirect(target, error, description) => {
            error_redirect(cfg, st, &target, &error, Some(&description))
        }
    }
}

/// The HTML login form.
fn login_form(cfg: &Config, req: &AuthRequest, error: Option<&str>) -> Outcome {
    let error_html = error
        .map(|e| format!("<p class=\"error\">{}</p>\n", escape_html(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>\n\
         <p>The application <strong>{client}</strong> asks you to sign in (scope: <code>{scope}</code>).</p>\n\
         <p class=\"note\">Simulated provider <code>{issuer}</code>: any username is accepted, no password needed.</p>\n\
         {error_html}\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"request_params\" value=\"{raw}\">\n\
         <label for=\"username\">Username</label>\n\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{hint}\" autocomplete=\"username\" autofocus required>\n\
         <button type=\"submit\" name=\"action\" value=\"login\">Sign in</button>\n\
         <button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Cancel</button>\n\
         </form>",
        client = escape_html(&req.client_id),
        scope = escape_html(&req.scope),
        issuer = escape_html(&cfg.issuer),
        action = escape_html(&cfg.endpoint("/authorize")),
        raw = escape_html(&req.raw),
        hint = escape_html(req.login_hint.as_deref().unwrap_or_default()),
    );
    let mut response = util::html(200, util::page("Sign in", &body));
    util::set_header(&mut response, CACHE_CONTROL, "no-store");
    Outcome::Page {
        status: 200,
        message: "the login form".to_owned(),
        response,
    }
}

/// The auto-submitting `form_post` page (OAuth 2.0 Form Post Response Mode).
fn form_post_page(redirect_uri: &str, params: &[(String, String)]) -> String {
    let inputs: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
    let body = format!(
        "<form method=\"post\" action=\"{}\">\n{inputs}\
         <noscript><p>JavaScript is disabled; press the button to continue.</p>\
         <button type=\"submit\">Continue</button></noscript>\n</form>\n\
         <script>document.forms[0].submit();</script>",
        escape_html(redirect_uri)
    );
    util::page("Submit this form", &body)
}

/// Turns an outcome into an HTTP response.
fn render(outcome: Outcome) -> Response<Bytes> {
    match outcome {
        Outcome::Page { response, .. } => response,
        Outcome::Redirect {
            redirect_uri,
            mode,
            params,
            set_cookie,
        } => {
            let mut response = match mode {
                Mode::Query | Mode::Fragment => util::redirect(&util::append_params(
                    &redirect_uri,
                    &params,
                    mode == Mode::Fragment,
                )),
                Mode::FormPost => util::html(200, form_post_page(&redirect_uri, &params)),
            };
            util::set_header(&mut response, CACHE_CONTROL, "no-store");
            for cookie in set_cookie {
                util::set_cookie(&mut response, &cookie);
            }
            response
        }
    }
}
