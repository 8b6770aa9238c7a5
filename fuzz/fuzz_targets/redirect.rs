//! The whole redirect endpoint of a relying party: a login is started for real, then the
//! fuzzer shapes the request that comes back (method, content type, query, form body, cookies)
//! and what the provider's token, JWKS and userinfo endpoints answer.
//!
//! Placeholders keep the fuzzer on the paths that matter: `STATE` becomes the login's real
//! `state`; `IDTOKEN` an ID token really signed by the provider's key, over valid claims
//! (with the login's `nonce`, and `c_hash`/`at_hash` of the code and access token in the
//! request) merged with the fuzzer's claims; `JWKS` the provider's real key set.
//!
//! Input: two control bytes, then `0xFF`-separated segments: query, body, extra cookie header,
//! token response, JWKS response, userinfo response, ID token claims (JSON).
//!
//! Oracles: a login succeeds only with the session's validated claims obeying OpenID Connect
//! Core 3.1.3.7 and holding the token that was really signed; a failed callback leaves no
//! logged-in session under any cookie the browser has; a successful callback replayed by the
//! browser (with the cookies it holds after the answer) fails.
#![no_main]

use bytes::Bytes;
use http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;
use oidc_core::id_token::half_hash;
use oidc_core::TransportError;
use oidc_fuzz::{cookies_of, parts_with_cookie, replace, Canned, CannedTransport, Signer};
use serde_json::Value;

fn canned(status: u16, ct: &str, body: Vec<u8>) -> Canned {
    Canned::Respond(status, Some(ct.to_owned()), Bytes::from(body))
}

fuzz_target!(|data: &[u8]| {
    let [c0, c1, rest @ ..] = data else {
        return;
    };
    let (c0, c1) = (*c0, *c1);
    let seg = oidc_fuzz::segments(rest, 7);
    let (flow, _, _) = oidc_fuzz::FLOWS[usize::from(c0) % oidc_fuzz::FLOWS.len()];
    let transport = CannedTransport::default();
    let rp = oidc_fuzz::relying_party(transport.clone(), c0 & 0x04 != 0);

    // A real login: its state, nonce and cookies.
    let start = rp.run(
        rp.core
            .login(&parts_with_cookie(""), Some(flow), "/r", rp.cx()),
    );
    let location = start.headers()[header::LOCATION]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let auth = url::Url::parse(&location).expect("an absolute authorization URL");
    let param = |name: &str| {
        auth.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (state, nonce) = (param("state"), param("nonce"));
    let real_cookies = cookies_of(&start);

    // The ID token the provider would sign for this login.
    let with_state = |b: &[u8]| replace(b, b"STATE", state.as_bytes());
    let query = with_state(seg[0]);
    let body = with_state(seg[1]);
    let front: Vec<(String, String)> = form_urlencoded::parse(&query)
        .chain(form_urlencoded::parse(&body))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let front_param = |name: &str| {
        front
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut claims = oidc_fuzz::base_claims(&nonce);
    if let Some(code) = front_param("code") {
        claims.insert(
            "c_hash".into(),
            half_hash("RS256", &code).unwrap_or_default().into(),
        );
    }
    if let Some(at) = front_param("access_token") {
        claims.insert(
            "at_hash".into(),
            half_hash("RS256", &at).unwrap_or_default().into(),
        );
    }
    if let Ok(Value::Object(extra)) = serde_json::from_slice::<Value>(seg[6]) {
        for (k, v) in extra {
            if v.is_null() {
                claims.remove(&k);
            } else {
                claims.insert(k, v);
            }
        }
    }
    let keys = oidc_fuzz::keys();
    let id_token = keys
        .sign(Signer::Rsa, Some("rsa1"), &serde_json::Map::new(), claims)
        .unwrap_or_default();
    let with_token = |b: &[u8]| replace(b, b"IDTOKEN", id_token.as_bytes());
    let query = with_token(&query);
    let body = with_token(&body);

    // The provider's back channel.
    let fail = |bit: u8| (c1 & bit != 0).then_some(Canned::Fail(TransportError::Timeout));
    transport.answer(
        "token",
        fail(0x01).unwrap_or_else(|| {
            canned(
                oidc_fuzz::status_from(c1 >> 3),
                "application/json",
                with_token(seg[3]),
            )
        }),
    );
    transport.answer(
        "jwks",
        fail(0x02).unwrap_or_else(|| {
            canned(
                200,
                "application/json",
                replace(seg[4], b"JWKS", keys.jwks_json.as_bytes()),
            )
        }),
    );
    let userinfo_ct = if c1 & 0x80 != 0 {
        "application/jwt"
    } else {
        "application/json"
    };
    transport.answer(
        "userinfo",
        fail(0x04).unwrap_or_else(|| canned(200, userinfo_ct, seg[5].to_vec())),
    );

    // The browser comes back.
    let (method, form) = match (c0 >> 3) & 3 {
        0 => (Method::GET, false),
        1 => (Method::POST, true),
        2 => (Method::POST, false),
        _ => (Method::PUT, true),
    };
    // With several providers each has its own redirect URI: the browser comes back to the one
    // of the provider it logged in with.
    let redirect_path =
        url::Url::parse(rp.core.redirect_uri(Some(flow)).expect("a configured flow"))
            .expect("an absolute redirect URI")
            .path()
            .to_owned();
    let uri = if query.is_empty() {
        redirect_path
    } else {
        format!("{redirect_path}?{}", oidc_fuzz::uri_safe(&query))
    };
    let mut cookie_header: Vec<String> = match (c0 >> 5) & 3 {
        0 => real_cookies.clone(),
        1 => real_cookies.clone(),
        2 => vec![],
        _ => real_cookies.iter().skip(1).cloned().collect(),
    };
    if (c0 >> 5) & 3 != 0 && !seg[2].is_empty() {
        cookie_header.push(String::from_utf8_lossy(seg[2]).into_owned());
    }
    let mut builder = Request::builder().method(method).uri(uri.as_str());
    if form {
        builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    if !cookie_header.is_empty() {
        match http::HeaderValue::from_bytes(cookie_header.join("; ").as_bytes()) {
            Ok(v) => builder = builder.header(header::COOKIE, v),
            Err(_) => return,
        }
    }
    let Ok(request) = builder.body(Bytes::from(body.clone())) else {
        return;
    };
    let resp = rp.run(
        rp.core
            .handle(request, rp.cx())
            .expect("the redirect path is the relying party's"),
    );

    // Judge the answer.
    let status = resp.status();
    if debug() {
        eprintln!(
            "flow {flow}: HTTP {status} {:?} {}",
            resp.headers().get(header::LOCATION),
            String::from_utf8_lossy(resp.body())
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    let to_app = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.starts_with('/'));
    let new_cookies = cookies_of(&resp);
    let mut all_cookies = real_cookies.clone();
    all_cookies.extend(new_cookies.iter().cloned());
    let logged_in: Vec<_> = all_cookies
        .iter()
        .filter_map(|c| rp.run(rp.core.session(&parts_with_cookie(c), rp.cx())))
        .collect();
    if status == http::StatusCode::FOUND && to_app {
        assert_eq!(
            resp.headers()[header::LOCATION],
            "/r",
            "the page first asked for"
        );
        assert_eq!(logged_in.len(), 1, "exactly the new session is logged in");
        let user = &logged_in[0];
        assert_eq!(
            user.id_token_jwt(),
            id_token,
            "only the signed token logs in"
        );
        oidc_fuzz::assert_claims_valid(user.id_token_claims(), &nonce);
        // The callback replayed: the login was single-use.
        let mut again = Request::builder().method(resp_method(c0)).uri(uri.as_str());
        if form {
            again = again.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        // What the browser holds now: its cookies, less those the answer removed, plus the new.
        let removed: Vec<String> = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|c| c.strip_suffix('='))
            .map(str::to_owned)
            .collect();
        let held: Vec<String> = all_cookies
            .iter()
            .filter(|c| {
                !removed
                    .iter()
                    .any(|r| c.split('=').next() == Some(r.as_str()))
            })
            .cloned()
            .collect();
        if let Ok(v) = http::HeaderValue::from_bytes(held.join("; ").as_bytes()) {
            again = again.header(header::COOKIE, v);
        }
        let again = again.body(Bytes::from(body)).expect("a request");
        let replay = rp.run(rp.core.handle(again, rp.cx()).expect("the redirect path"));
        let replay_to_app = replay
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with('/'));
        assert!(!replay_to_app, "a replayed callback logged in again");
    } else {
        assert!(
            logged_in.is_empty(),
            "a failed callback left a logged-in session"
        );
    }
});

/// `OIDC_FUZZ_DEBUG=1` prints what the relying party answered (to check that seeds reach the
/// paths they are meant for).
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("OIDC_FUZZ_DEBUG").is_some())
}

fn resp_method(c0: u8) -> Method {
    match (c0 >> 3) & 3 {
        0 => Method::GET,
        3 => Method::PUT,
        _ => Method::POST,
    }
}
