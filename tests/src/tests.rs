//! Unit tests for the simulated provider.

use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response};
use josekit::jwk::JwkSet;
use josekit::jws::RS256;
use josekit::jwt;
use serde_json::{json, Map, Value};

use crate::{Counters, Misbehavior, SimClient, SimProvider};

const ISS: &str = "https://op.example";
const CB: &str = "https://rp.example/cb";
const BYE: &str = "https://rp.example/bye";
const SECRET: &str = "s3cr:t+/% é";
const NOW: u64 = 1_700_000_000;

fn provider() -> SimProvider {
    let op = SimProvider::new(ISS);
    op.register_client(SimClient {
        client_id: "rp".into(),
        client_secret: Some(SECRET.into()),
        redirect_uris: vec![CB.into(), "https://rp.example/cb2?x=1".into()],
        post_logout_redirect_uris: vec![BYE.into()],
    });
    op.register_client(SimClient::public("spa", "https://spa.example/cb"));
    op
}

fn req(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body.to_owned())).unwrap()
}

fn get(op: &SimProvider, uri: &str) -> Response<Bytes> {
    op.handle(req("GET", uri, &[], ""), NOW)
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn post(
    op: &SimProvider,
    uri: &str,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> Response<Bytes> {
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    op.handle(req("POST", uri, &h, &form(pairs)), NOW)
}

/// `Authorization: Basic` per RFC 6749 2.3.1 (form-urlencode, then base64).
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn body_json(resp: &Response<Bytes>) -> Value {
    serde_json::from_slice(resp.body()).expect("JSON body")
}

fn body_text(resp: &Response<Bytes>) -> String {
    String::from_utf8(resp.body().to_vec()).unwrap()
}

fn header<'a>(resp: &'a Response<Bytes>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

fn auth_url(pairs: &[(&str, &str)]) -> String {
    format!("{ISS}/authorize?{}", form(pairs))
}

/// A code-flow authorization request with overrides (empty value removes the parameter).
fn code_request(overrides: &[(&str, &str)]) -> String {
    let mut base: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "rp"),
        ("redirect_uri", CB),
        ("scope", "openid profile email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    for (k, v) in overrides {
        base.retain(|(bk, _)| bk != k);
        if !v.is_empty() {
            base.push((k, v));
        }
    }
    auth_url(&base)
}

/// Splits a redirect URL into (base, params from query or fragment).
fn split(url: &str) -> (String, HashMap<String, String>) {
    let (base, params) = match url.split_once('#') {
        Some((b, f)) => (b, f),
        None => url.split_once('?').unwrap_or((url, "")),
    };
    let map = form_urlencoded::parse(params.as_bytes())
        .into_owned()
        .collect();
    (base.to_owned(), map)
}

fn pkce_pair() -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned();
    let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// Verifies an ID token with josekit against the provider's published JWKS.
fn verify(op: &SimProvider, token: &str) -> Result<Map<String, Value>, String> {
    let jwks = JwkSet::from_bytes(op.jwks().to_string()).map_err(|e| e.to_string())?;
    let header = jwt::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or("no kid")?
        .to_owned();
    let jwk = jwks
        .get(&kid)
        .first()
        .copied()
        .ok_or(format!("kid {kid} not in JWKS"))?;
    let verifier = RS256.verifier_from_jwk(jwk).map_err(|e| e.to_string())?;
    let (payload, _) = jwt::decode_with_verifier(token, &verifier).map_err(|e| e.to_string())?;
    Ok(payload.claims_set().clone())
}

/// Decodes an ID token's claims without verifying the signature.
fn peek(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn peek_header(token: &str) -> Map<String, Value> {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

fn hash_half(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(&openssl::sha::sha256(value.as_bytes())[..16])
}

/// Runs authorize + token (client_secret_basic) and returns the token response JSON.
fn code_flow(op: &SimProvider, overrides: &[(&str, &str)]) -> Value {
    let back = op.authorize(&code_request(overrides), "alice", NOW);
    let (_, p) = split(&back);
    let resp = post(
        op,
        "/token",
        &[("authorization", &basic("rp", SECRET))],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
        ],
    );
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    body_json(&resp)
}

fn id_token_with(op: &SimProvider, m: Misbehavior) -> String {
    op.set_misbehavior(m);
    let tokens = code_flow(op, &[]);
    tokens["id_token"].as_str().unwrap().to_owned()
}

#[test]
fn provider_is_send_sync_and_clones_share_state() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<SimProvider>();
    let op = provider();
    let clone = op.clone();
    get(&clone, "/jwks");
    assert_eq!(op.counters().jwks, 1);
    assert_eq!(op.issuer(), ISS);
}

#[test]
fn discovery_document() {
    let op = provider();
    let resp = get(&op, "/.well-known/openid-configuration");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), Some("application/json"));
    let d = body_json(&resp);
    assert_eq!(d["issuer"], ISS);
    assert_eq!(d["authorization_endpoint"], "https://op.example/authorize");
    assert_eq!(d["token_endpoint"], "https://op.example/token");
    assert_eq!(d["userinfo_endpoint"], "https://op.example/userinfo");
    assert_eq!(d["jwks_uri"], "https://op.example/jwks");
    assert_eq!(d["end_session_endpoint"], "https://op.example/logout");
    assert_eq!(d["registration_endpoint"], "https://op.example/register");
    assert_eq!(d["introspection_endpoint"], "https://op.example/introspect");
    assert_eq!(
        d["response_types_supported"],
        json!([
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ])
    );
    // Issue 18 (J): and the JARM modes.
    assert_eq!(
        d["response_modes_supported"],
        json!([
            "query",
            "fragment",
            "form_post",
            "jwt",
            "query.jwt",
            "fragment.jwt",
            "form_post.jwt"
        ])
    );
    assert_eq!(
        d["grant_types_supported"],
        json!([
            "authorization_code",
            "implicit",
            "refresh_token",
            "client_credentials"
        ])
    );
    assert_eq!(d["subject_types_supported"], json!(["public"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert!(d["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("openid")));
    assert!(d["claims_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("sub")));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);

    // Absolute-form request URIs work too.
    let resp = get(&op, "https://op.example/.well-known/openid-configuration");
    assert_eq!(resp.status(), 200);
    assert_eq!(op.counters().discovery, 2);
}

#[test]
fn issuer_with_path_routes_below_it() {
    let op = SimProvider::new("http://127.0.0.1:9000/realms/dev");
    let d = body_json(&get(&op, "/realms/dev/.well-known/openid-configuration"));
    assert_eq!(d["issuer"], "http://127.0.0.1:9000/realms/dev");
    assert_eq!(
        d["token_endpoint"],
        "http://127.0.0.1:9000/realms/dev/token"
    );
    assert_eq!(get(&op, "/.well-known/openid-configuration").status(), 404);
    assert_eq!(get(&op, "/realms/devx/jwks").status(), 404);
    assert_eq!(get(&op, "/realms/dev/jwks").status(), 200);
}

#[test]
fn jwks_publishes_public_key_only() {
    let op = provider();
    let resp = get(&op, "/jwks");
    assert_eq!(resp.status(), 200);
    let jwks = body_json(&resp);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["kid"], "k1");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["alg"], "RS256");
    assert!(k["n"].as_str().unwrap().len() > 300, "2048-bit modulus");
    assert_eq!(k["e"], "AQAB");
    assert!(k.get("d").is_none() && k.get("p").is_none());
    assert_eq!(jwks, op.jwks());
}

#[test]
fn code_flow_with_pkce_and_client_secret_basic() {
    let op = provider();
    op.set_user(
        "alice",
        json!({ "name": "Alice Liddell", "groups": ["admins"] }),
    );
    let (verifier, challenge) = pkce_pair();
    let url = code_request(&[
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let back = op.authorize(&url, "alice", NOW);
    let (base, p) = split(&back);
    assert_eq!(base, CB);
    assert!(back.starts_with("https://rp.example/cb?code="));
    assert_eq!(p["state"], "st-123");
    assert_eq!(p["iss"], ISS);

    let auth = basic("rp", SECRET);
    let resp = post(
        &op,
        "/token",
        &[("authorization", &auth)],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    assert_eq!(header(&resp, "cache-control"), Some("no-store"));
    let t = body_json(&resp);
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "openid profile email");
    assert!(t["refresh_token"].is_string());
    let access = t["access_token"].as_str().unwrap();
    assert!(access.len() >= 32);

    let c = verify(&op, t["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(c["iss"], ISS);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], "rp");
    assert_eq!(c["nonce"], "n-456");
    assert_eq!(c["iat"], NOW);
    assert_eq!(c["exp"], NOW + 300);
    assert_eq!(c["auth_time"], NOW);
    assert_eq!(c["name"], "Alice Liddell");
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["groups"], json!(["admins"]));
    assert!(c.get("azp").is_none());
    assert!(c.get("at_hash").is_none() && c.get("c_hash").is_none());
    let h = peek_header(t["id_token"].as_str().unwrap());
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["kid"], "k1");

    let last = op.last_token_request().unwrap();
    assert_eq!(last.headers()["authorization"], auth.as_str());
    assert!(String::from_utf8_lossy(last.body()).contains("code_verifier="));

    let resp = op.handle(
        req(
            "GET",
            "/userinfo",
            &[("authorization", &format!("Bearer {access}"))],
            "",
        ),
        NOW,
    );
    assert_eq!(resp.status(), 200);
    let u = body_json(&resp);
    assert_eq!(u["sub"], "alice");
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["name"], "Alice Liddell");

    assert_eq!(
        op.counters(),
        Counters {
            authorize: 1,
            token: 1,
            userinfo: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn code_flow_with_client_secret_post_and_public_client() {
    let op = provider();
    let back = op.authorize(&code_request(&[]), "bob", NOW);
    let (_, p) = split(&back);
    let resp = post(
        &op,
        "/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
            ("client_id", "rp"),
            ("client_secret", SECRET),
        ],
    );
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    let c = verify(&op, body_json(&resp)["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(c["sub"], "bob");

    // A public client authenticates with client_id only (and PKCE).
    let (verifier, challenge) = pkce_pair();
    let url = auth_url(&[
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", "https://spa.example/cb"),
        ("scope", "openid"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let (_, p) = split(&op.authorize(&url, "carol", NOW));
    let resp = post(
        &op,
        "/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", "https://spa.example/cb"),
            ("client_id", "spa"),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    let c = verify(&op, body_json(&resp)["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(c["aud"], "spa");
    assert!(c.get("nonce").is_none());
    assert!(
        c.get("email").is_none(),
        "email not released without the email scope"
    );
}

#[test]
fn codes_are_single_use_and_bound_to_redirect_uri_and_client() {
    let op = provider();
    let (_, p) = split(&op.authorize(&code_request(&[]), "alice", NOW));
    let auth = basic("rp", SECRET);
    let redeem = |code: &str, redirect: &str| {
        post(
            &op,
            "/token",
            &[("authorization", &auth)],
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect),
            ],
        )
    };
    let resp = redeem(&p["code"], "https://rp.example/other");
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp)["error"], "invalid_grant");
    assert_eq!(redeem(&p["code"], CB).status(), 200);
    let resp = redeem(&p["code"], CB);
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp)["error"], "invalid_grant");
    let resp = redeem("no-such-code", CB);
    assert_eq!(body_json(&resp)["error"], "invalid_grant");

    // Expired code.
    let (_, p) = split(&op.authorize(&code_request(&[]), "alice", NOW - 601));
    assert_eq!(body_json(&redeem(&p["code"], CB))["error"], "invalid_grant");

    // Code issued to another client.
    op.register_client(SimClient::confidential("rp2", "pw", CB));
    let (_, p) = split(&op.authorize(&code_request(&[]), "alice", NOW));
    let resp = post(
        &op,
        "/token",
        &[("authorization", &basic("rp2", "pw"))],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
        ],
    );
    assert_eq!(body_json(&resp)["error"], "invalid_grant");
}

#[test]
fn pkce_is_enforced() {
    let op = provider();
    let (verifier, challenge) = pkce_pair();
    let with_pkce = code_request(&[
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let auth = basic("rp", SECRET);
    let redeem = |code: &str, verifier: Option<&str>| {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
        ];
        if let Some(v) = verifier {
            pairs.push(("code_verifier", v));
        }
        body_json(&post(&op, "/token", &[("authorization", &auth)], &pairs))
    };

    let (_, p) = split(&op.authorize(&with_pkce, "alice", NOW));
    assert_eq!(redeem(&p["code"], None)["error"], "invalid_grant");
    let wrong = "x".repeat(43);
    assert_eq!(redeem(&p["code"], Some(&wrong))["error"], "invalid_grant");
    assert_eq!(
        redeem(&p["code"], Some("short"))["error"],
        "invalid_request"
    );
    assert!(redeem(&p["code"], Some(&verifier))["access_token"].is_string());

    // A verifier without a challenge is a downgrade attempt.
    let (_, p) = split(&op.authorize(&code_request(&[]), "alice", NOW));
    assert_eq!(
        redeem(&p["code"], Some(&verifier))["error"],
        "invalid_grant"
    );

    // Only S256 is accepted at the authorization endpoint.
    for method in ["plain", ""] {
        let url = code_request(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", method),
        ]);
        let (_, p) = split(&op.authorize(&url, "alice", NOW));
        assert_eq!(p["error"], "invalid_request");
        assert_eq!(p["state"], "st-123");
    }
}

#[test]
fn client_authentication_failures() {
    let op = provider();
    let (_, p) = split(&op.authorize(&code_request(&[]), "alice", NOW));
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", p["code"].as_str()),
        ("redirect_uri", CB),
    ];

    let resp = post(
        &op,
        "/token",
        &[("authorization", &basic("rp", "wrong"))],
        &grant,
    );
    assert_eq!(resp.status(), 401);
    assert_eq!(body_json(&resp)["error"], "invalid_client");
    assert!(header(&resp, "www-authenticate")
        .unwrap()
        .starts_with("Basic"));

    // Not form-urlencoding the credentials before base64 is wrong (RFC 6749 2.3.1).
    let raw = format!("Basic {}", STANDARD.encode(format!("rp:{SECRET}")));
    assert_eq!(
        post(&op, "/token", &[("authorization", &raw)], &grant).status(),
        401
    );

    for bad in [
        "Basic !!!notbase64",
        "Basic ",
        "Basic cnA=",
        "Basic JXp6OiV6eg==",
    ] {
        let resp = post(&op, "/token", &[("authorization", bad)], &grant);
        assert_eq!(resp.status(), 401, "{bad}");
    }

    let resp = post(
        &op,
        "/token",
        &[("authorization", &basic("nobody", "x"))],
        &grant,
    );
    assert_eq!(resp.status(), 401);

    let resp = post(&op, "/token", &[], &grant);
    assert_eq!(resp.status(), 401);

    let mut both = grant.to_vec();
    both.push(("client_secret", SECRET));
    let resp = post(
        &op,
        "/token",
        &[("authorization", &basic("rp", SECRET))],
        &both,
    );
    assert_eq!(body_json(&resp)["error"], "invalid_request");

    // A public client must not present a secret.
    let resp = post(
        &op,
        "/token",
        &[("authorization", &basic("spa", "x"))],
        &grant,
    );
    assert_eq!(resp.status(), 401);

    // The code survived all of that.
    let resp = post(
        &op,
        "/token",
        &[("authorization", &basic("rp", SECRET))],
        &grant,
    );
    assert_eq!(resp.status(), 200);
}

#[test]
fn token_endpoint_request_errors() {
    let op = provider();
    let auth = basic("rp", SECRET);
    let h = [("authorization", auth.as_str())];
    assert_eq!(
        body_json(&post(&op, "/token", &h, &[]))["error"],
        "invalid_request"
    );
    assert_eq!(
        body_json(&post(&op, "/token", &h, &[("grant_type", "password")]))["error"],
        "unsupported_grant_type"
    );
    assert_eq!(
        body_json(&post(
            &op,
            "/token",
            &h,
            &[("grant_type", "authorization_code")]
        ))["error"],
        "invalid_request"
    );
    let dup = op.handle(
        req(
            "POST",
            "/token",
            &[("authorization", &auth)],
            "grant_type=a&grant_type=b",
        ),
        NOW,
    );
    assert_eq!(body_json(&dup)["error"], "invalid_request");
    assert_eq!(get(&op, "/token").status(), 405);
    let bin = Request::builder()
        .method("POST")
        .uri("/token")
        .header("authorization", auth.as_str())
        .body(Bytes::from_static(&[0xff, 0xfe, b'%', b'z', 0, b'=', b'&']))
        .unwrap();
    assert_eq!(op.handle(bin, NOW).status(), 400);
    assert_eq!(op.counters().token, 6);
}

#[test]
fn refresh_token_grant() {
    let op = provider();
    let t = code_flow(&op, &[]);
    let rt = t["refresh_token"].as_str().unwrap();
    let auth = basic("rp", SECRET);
    let later = NOW + 1000;
    let resp = op.handle(
        req(
            "POST",
            "/token",
            &[("authorization", &auth)],
            &form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid email"),
            ]),
        ),
        later,
    );
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    let t2 = body_json(&resp);
    assert_ne!(t2["refresh_token"], t["refresh_token"]);
    assert_ne!(t2["access_token"], t["access_token"]);
    assert_eq!(t2["scope"], "openid email");
    let c = verify(&op, t2["id_token"].as_str().unwrap()).unwrap();
    assert!(c.get("nonce").is_none());
    assert_eq!(c["iat"], later);
    assert_eq!(c["auth_time"], NOW);
    assert_eq!(c["sub"], "alice");
    assert!(c.get("name").is_none(), "profile scope was dropped");

    // Scope cannot widen beyond the original grant, but the new refresh token keeps it.
    let rt2 = t2["refresh_token"].as_str().unwrap();
    let resp = post(
        &op,
        "/token",
        &[("authorization", &auth)],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2),
            ("scope", "openid phone"),
        ],
    );
    assert_eq!(body_json(&resp)["error"], "invalid_scope");
    let resp = post(
        &op,
        "/token",
        &[("authorization", &auth)],
        &[("grant_type", "refresh_token"), ("refresh_token", rt2)],
    );
    let t3 = body_json(&resp);
    assert_eq!(t3["scope"], "openid profile email");

    // The old refresh token is spent, and presenting it again revokes the grant (reuse
    // detection): the live successor stops working too.
    let resp = post(
        &op,
        "/token",
        &[("authorization", &auth)],
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    );
    assert_eq!(body_json(&resp)["error"], "invalid_grant");
    let resp = post(
        &op,
        "/token",
        &[("authorization", &auth)],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t3["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(
        body_json(&resp)["error"],
        "invalid_grant",
        "the grant is revoked"
    );
}

#[test]
fn implicit_responses_carry_correct_at_hash() {
    let op = provider();
    let url = code_request(&[("response_type", "id_token token")]);
    let back = op.authorize(&url, "alice", NOW);
    assert!(back.starts_with("https://rp.example/cb#"), "{back}");
    let (_, p) = split(&back);
    assert_eq!(p["token_type"], "Bearer");
    assert_eq!(p["expires_in"], "3600");
    assert_eq!(p["state"], "st-123");
    assert_eq!(p["iss"], ISS);
    assert!(!p.contains_key("code"));
    let c = verify(&op, &p["id_token"]).unwrap();
    assert_eq!(c["at_hash"], hash_half(&p["access_token"]));
    assert!(c.get("c_hash").is_none());
    assert_eq!(c["nonce"], "n-456");
    // The implicit access token works at the UserInfo endpoint.
    let resp = op.handle(
        req(
            "GET",
            "/userinfo",
            &[("authorization", &format!("bearer {}", p["access_token"]))],
            "",
        ),
        NOW,
    );
    assert_eq!(body_json(&resp)["sub"], "alice");

    // id_token only: no access token, no at_hash, profile claims in the ID token.
    let (_, p) = split(&op.authorize(
        &code_request(&[("response_type", "id_token")]),
        "alice",
        NOW,
    ));
    assert!(!p.contains_key("access_token"));
    let c = verify(&op, &p["id_token"]).unwrap();
    assert!(c.get("at_hash").is_none());
    assert_eq!(c["email"], "alice@example.com");

    // nonce is required whenever an ID token comes from the authorization endpoint.
    let (_, p) = split(&op.authorize(
        &code_request(&[("response_type", "id_token"), ("nonce", "")]),
        "alice",
        NOW,
    ));
    assert_eq!(p["error"], "invalid_request");
    // Plain OAuth "token" is not an OpenID Connect response type.
    let (_, p) = split(&op.authorize(&code_request(&[("response_type", "token")]), "alice", NOW));
    assert_eq!(p["error"], "unsupported_response_type");
}

#[test]
fn hybrid_responses_carry_correct_c_hash_and_at_hash() {
    let op = provider();
    let auth = basic("rp", SECRET);

    let (_, p) = split(&op.authorize(
        &code_request(&[("response_type", "code id_token")]),
        "alice",
        NOW,
    ));
    let c = verify(&op, &p["id_token"]).unwrap();
    assert_eq!(c["c_hash"], hash_half(&p["code"]));
    assert!(c.get("at_hash").is_none());
    // The code redeems into tokens whose ID token has the same sub and the nonce.
    let resp = post(
        &op,
        "/token",
        &[("authorization", &auth)],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
        ],
    );
    let c2 = verify(&op, body_json(&resp)["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(c2["sub"], c["sub"]);
    assert_eq!(c2["nonce"], "n-456");

    let (_, p) = split(&op.authorize(
        &code_request(&[("response_type", "code id_token token")]),
        "alice",
        NOW,
    ));
    let c = verify(&op, &p["id_token"]).unwrap();
    assert_eq!(c["c_hash"], hash_half(&p["code"]));
    assert_eq!(c["at_hash"], hash_half(&p["access_token"]));

    let back = op.authorize(
        &code_request(&[("response_type", "token code")]),
        "alice",
        NOW,
    );
    assert!(back.contains('#'));
    let (_, p) = split(&back);
    assert!(p.contains_key("code") && p.contains_key("access_token"));
    assert!(!p.contains_key("id_token"));
}

#[test]
fn response_modes() {
    let op = provider();
    // Code in the fragment on request.
    let back = op.authorize(
        &code_request(&[("response_mode", "fragment")]),
        "alice",
        NOW,
    );
    assert!(back.starts_with("https://rp.example/cb#code="), "{back}");
    // A redirect URI with a query keeps it.
    let back = op.authorize(
        &code_request(&[("redirect_uri", "https://rp.example/cb2?x=1")]),
        "alice",
        NOW,
    );
    assert!(
        back.starts_with("https://rp.example/cb2?x=1&code="),
        "{back}"
    );
    // Tokens must not travel in the query.
    let (_, p) = split(&op.authorize(
        &code_request(&[
            ("response_type", "code id_token"),
            ("response_mode", "query"),
        ]),
        "alice",
        NOW,
    ));
    assert_eq!(p["error"], "invalid_request");
    // Unknown response mode (issue 18 J: `jwt` is JARM now).
    let back = op.authorize(
        &code_request(&[("response_mode", "web_message")]),
        "alice",
        NOW,
    );
    assert!(back.contains("error=invalid_request"));

    // form_post: an auto-submitting HTML form with every parameter, escaped.
    let url = code_request(&[
        ("response_type", "code id_token"),
        ("response_mode", "form_post"),
        ("state", "a\"><script>alert(1)</script>"),
    ]);
    let query = url.split_once('?').unwrap().1;
    let resp = post(
        &op,
        "/authorize",
        &[],
        &[("request_params", query), ("username", "alice")],
    );
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(header(&resp, "set-cookie")
        .unwrap()
        .starts_with("sim_session=alice;"));
    let html = body_text(&resp);
    assert!(html.contains("<form method=\"post\" action=\"https://rp.example/cb\">"));
    assert!(html.contains("name=\"code\""));
    assert!(html.contains("name=\"id_token\""));
    assert!(html.contains("name=\"iss\" value=\"https://op.example\""));
    assert!(html.contains("document.forms[0].submit()"));
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("a&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));

    // The shortcut renders form_post parameters as a query string.
    let back = op.authorize(
        &code_request(&[("response_mode", "form_post")]),
        "alice",
        NOW,
    );
    assert!(back.starts_with("https://rp.example/cb?code="));
}

#[test]
fn authorization_request_errors() {
    let op = provider();
    // Never redirect to an unverified client / redirect URI.
    for url in [
        code_request(&[("client_id", "nobody")]),
        code_request(&[("client_id", "")]),
        code_request(&[("redirect_uri", "https://evil.example/cb")]),
        code_request(&[("redirect_uri", "")]),
        format!("{}&client_id=rp", code_request(&[])),
    ] {
        let resp = get(&op, &url);
        assert_eq!(resp.status(), 400, "{url}");
        assert!(header(&resp, "location").is_none());
        let err = op.try_authorize(&url, "alice", NOW).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(op
            .authorize(&url, "alice", NOW)
            .starts_with("about:blank#error=not_redirected"));
    }
    let evil = code_request(&[("client_id", "<b>x</b>")]);
    let html = body_text(&get(&op, &evil));
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && !html.contains("<b>x</b>"));
    assert!(op.try_authorize("not a url", "alice", NOW).is_err());

    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("scope", "profile")], "invalid_scope"),
        (&[("response_type", "")], "invalid_request"),
        (
            &[("response_type", "code code")],
            "unsupported_response_type",
        ),
        (&[("response_type", "banana")], "unsupported_response_type"),
        // Issue 18 (P): request objects and pushed requests are supported; these are neither.
        (&[("request", "eyJ.x.y")], "invalid_request_object"),
        (
            &[("request_uri", "https://rp.example/r")],
            "invalid_request_uri",
        ),
        (&[("max_age", "-1")], "invalid_request"),
        (&[("claims", "not json")], "invalid_request"),
        (&[("prompt", "none login")], "invalid_request"),
        (
            &[
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
        (&[("code_challenge_method", "S256")], "invalid_request"),
    ];
    for (overrides, error) in cases {
        let resp = get(&op, &code_request(overrides));
        assert_eq!(resp.status(), 302, "{overrides:?}");
        let (base, p) = split(header(&resp, "location").unwrap());
        assert_eq!(base, CB);
        assert_eq!(p["error"], *error, "{overrides:?}");
        assert_eq!(p["state"], "st-123");
        assert_eq!(p["iss"], ISS);
    }
    // Repeated parameters.
    let resp = get(&op, &format!("{}&scope=openid", code_request(&[])));
    assert!(header(&resp, "location")
        .unwrap()
        .contains("error=invalid_request"));

    // Malformed input never panics.
    for uri in [
        "/authorize",
        "/authorize?",
        "/authorize?%zz=%zz&&==&client_id",
        "/authorize?client_id=rp&redirect_uri=%E0%A4%A",
        "/authorize?client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=%00",
    ] {
        let resp = get(&op, uri);
        assert!(
            resp.status().is_client_error() || resp.status() == 302,
            "{uri}"
        );
    }
    assert_eq!(
        op.handle(req("PUT", "/authorize", &[], ""), NOW).status(),
        405
    );
}

#[test]
fn login_form_sso_cookie_and_prompt() {
    let op = provider();
    let url = code_request(&[("login_hint", "al\"ice")]);
    let resp = get(&op, &url);
    assert_eq!(resp.status(), 200);
    let html = body_text(&resp);
    assert!(html.contains("<form method=\"post\" action=\"https://op.example/authorize\">"));
    assert!(html.contains("name=\"username\""));
    assert!(html.contains(">Sign in</button>"));
    assert!(html.contains("name=\"request_params\""));
    assert!(html.contains("value=\"al&quot;ice\""));

    // Extract the hidden field the way a browser would and submit the form.
    let hidden = html
        .split("name=\"request_params\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let resp = post(
        &op,
        "/authorize",
        &[],
        &[("request_params", &hidden), ("username", "")],
    );
    assert_eq!(resp.status(), 200);
    assert!(body_text(&resp).contains("Please enter a username."));

    let resp = post(
        &op,
        "/authorize",
        &[],
        &[
            ("request_params", &hidden),
            ("username", "alice"),
            ("action", "login"),
        ],
    );
    assert_eq!(resp.status(), 302);
    let cookie = header(&resp, "set-cookie").unwrap().to_owned();
    assert!(cookie.starts_with("sim_session=alice;") && cookie.contains("HttpOnly"));
    let (_, p) = split(header(&resp, "location").unwrap());
    assert!(p.contains_key("code"));

    let session = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = |url: &str, at: u64| {
        op.handle(
            req(
                "GET",
                url,
                &[("cookie", &format!("other=1; {session}"))],
                "",
            ),
            at,
        )
    };
    // SSO: no form.
    let resp = with_cookie(&code_request(&[]), NOW + 10);
    assert_eq!(resp.status(), 302);
    let (_, p) = split(header(&resp, "location").unwrap());
    assert!(p.contains_key("code"));
    // The ID token's auth_time is the original login.
    let (_, p) = split(
        header(
            &with_cookie(&code_request(&[("response_type", "id_token")]), NOW + 20),
            "location",
        )
        .unwrap(),
    );
    assert_eq!(verify(&op, &p["id_token"]).unwrap()["auth_time"], NOW);
    // prompt=none with a session.
    let resp = with_cookie(&code_request(&[("prompt", "none")]), NOW + 30);
    assert!(split(header(&resp, "location").unwrap())
        .1
        .contains_key("code"));
    // prompt=none without a session.
    let resp = get(&op, &code_request(&[("prompt", "none")]));
    let (_, p) = split(header(&resp, "location").unwrap());
    assert_eq!(p["error"], "login_required");
    assert_eq!(p["state"], "st-123");
    // prompt=login and a stale max_age force the form.
    assert_eq!(
        with_cookie(&code_request(&[("prompt", "login")]), NOW + 40).status(),
        200
    );
    assert_eq!(
        with_cookie(&code_request(&[("max_age", "30")]), NOW + 40).status(),
        200
    );
    assert_eq!(
        with_cookie(&code_request(&[("max_age", "60")]), NOW + 40).status(),
        302
    );
    let (_, p) = split(
        header(
            &with_cookie(
                &code_request(&[("prompt", "none"), ("max_age", "5")]),
                NOW + 40,
            ),
            "location",
        )
        .unwrap(),
    );
    assert_eq!(p["error"], "login_required");

    // Cancel.
    let resp = post(
        &op,
        "/authorize",
        &[],
        &[
            ("request_params", &hidden),
            ("username", "alice"),
            ("action", "deny"),
        ],
    );
    let (_, p) = split(header(&resp, "location").unwrap());
    assert_eq!(p["error"], "access_denied");
    // Shortcut equivalents.
    assert!(op
        .authorize(&code_request(&[]), "", NOW)
        .contains("error=access_denied"));
    assert!(op
        .authorize(&code_request(&[("prompt", "none")]), "", NOW)
        .contains("error=login_required"));
    assert!(op
        .authorize(&code_request(&[("prompt", "none")]), "alice", NOW)
        .contains("code="));

    // An authorization request may also be POSTed.
    let query = code_request(&[]).split_once('?').unwrap().1.to_owned();
    let resp = op.handle(
        req(
            "POST",
            "/authorize",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &session),
            ],
            &query,
        ),
        NOW,
    );
    assert_eq!(resp.status(), 302);
}

#[test]
fn claims_parameter_and_user_claims() {
    let op = provider();
    op.set_user("dave", json!({ "email": "d@corp.example", "phone_number": "+1 555", "sub": "evil", "iss": "evil" }));
    let claims =
        json!({ "id_token": { "email": null }, "userinfo": { "phone_number": null } }).to_string();
    let back = op.authorize(
        &code_request(&[("scope", "openid"), ("claims", &claims)]),
        "dave",
        NOW,
    );
    let (_, p) = split(&back);
    let resp = post(
        &op,
        "/token",
        &[("authorization", &basic("rp", SECRET))],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", CB),
        ],
    );
    let t = body_json(&resp);
    let c = verify(&op, t["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(c["email"], "d@corp.example");
    assert_eq!(c["sub"], "dave");
    assert_eq!(c["iss"], ISS);
    assert!(c.get("phone_number").is_none() && c.get("name").is_none());
    let resp = op.handle(
        req(
            "POST",
            "/userinfo",
            &[("content-type", "application/x-www-form-urlencoded")],
            &form(&[("access_token", t["access_token"].as_str().unwrap())]),
        ),
        NOW,
    );
    let u = body_json(&resp);
    assert_eq!(u["sub"], "dave");
    assert_eq!(u["phone_number"], "+1 555");
    assert!(u.get("email").is_none());
}

#[test]
fn userinfo_errors() {
    let op = provider();
    let resp = get(&op, "/userinfo");
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let resp = op.handle(
        req("GET", "/userinfo", &[("authorization", "Bearer nope")], ""),
        NOW,
    );
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    let t = code_flow(&op, &[]);
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    let resp = op.handle(
        req("GET", "/userinfo", &[("authorization", &bearer)], ""),
        NOW + 3600,
    );
    assert_eq!(resp.status(), 401);
    assert_eq!(
        op.handle(
            req("DELETE", "/userinfo", &[("authorization", &bearer)], ""),
            NOW
        )
        .status(),
        405
    );
}

#[test]
fn misbehavior_authorization_endpoint() {
    let op = provider();
    op.set_misbehavior(Misbehavior::AuthorizeError {
        error: "access_denied".into(),
        error_description: Some("nope".into()),
    });
    let (base, p) = split(&op.authorize(&code_request(&[]), "alice", NOW));
    assert_eq!(base, CB);
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["error_description"], "nope");
    assert_eq!(p["state"], "st-123");
    assert!(!p.contains_key("code"));
    let resp = get(&op, &code_request(&[]));
    assert!(header(&resp, "location")
        .unwrap()
        .contains("error=access_denied"));
    // Unknown clients still get the error page, not a redirect.
    assert_eq!(get(&op, &code_request(&[("client_id", "x")])).status(), 400);

    op.set_misbehavior(Misbehavior::WrongState);
    let (_, p) = split(&op.authorize(&code_request(&[]), "alice", NOW));
    assert!(p.contains_key("code"));
    assert_ne!(p["state"], "st-123");

    op.set_misbehavior(Misbehavior::None);
    let (_, p) = split(&op.authorize(&code_request(&[]), "alice", NOW));
    assert_eq!(p["state"], "st-123");
}

#[test]
fn misbehavior_id_token_claims() {
    let op = provider();
    let c = verify(&op, &id_token_with(&op, Misbehavior::WrongNonce)).unwrap();
    assert_ne!(c["nonce"], "n-456");
    assert!(c["nonce"].is_string());
    let c = verify(&op, &id_token_with(&op, Misbehavior::OmitNonce)).unwrap();
    assert!(c.get("nonce").is_none());
    let c = verify(&op, &id_token_with(&op, Misbehavior::WrongIssuer)).unwrap();
    assert_ne!(c["iss"], ISS);
    let c = verify(&op, &id_token_with(&op, Misbehavior::WrongAudience)).unwrap();
    assert!(c["aud"].is_string() && c["aud"] != "rp");
    let c = verify(
        &op,
        &id_token_with(&op, Misbehavior::MultipleAudiencesWithoutAzp),
    )
    .unwrap();
    assert_eq!(c["aud"], json!(["rp", "other"]));
    assert!(c.get("azp").is_none());
    let c = verify(&op, &id_token_with(&op, Misbehavior::WrongAzp)).unwrap();
    assert_eq!(c["azp"], "other");
    assert!(c["aud"].as_array().unwrap().contains(&json!("rp")));
    let c = verify(&op, &id_token_with(&op, Misbehavior::Expired)).unwrap();
    assert_eq!(c["exp"], NOW - 600);
    assert_eq!(c["iat"], NOW);
    let c = verify(&op, &id_token_with(&op, Misbehavior::IssuedInFuture)).unwrap();
    assert_eq!(c["iat"], NOW + 3600);
    // Each gets only its one thing wrong.
    assert_eq!(c["iss"], ISS);
    assert_eq!(c["aud"], "rp");
    assert_eq!(c["nonce"], "n-456");

    // Also applied at the authorization endpoint and on refresh.
    op.set_misbehavior(Misbehavior::WrongIssuer);
    let (_, p) = split(&op.authorize(
        &code_request(&[("response_type", "id_token")]),
        "alice",
        NOW,
    ));
    assert_ne!(verify(&op, &p["id_token"]).unwrap()["iss"], ISS);
    assert_eq!(p["iss"], ISS, "the authorization response iss stays right");
}

#[test]
fn misbehavior_signatures() {
    let op = provider();
    let token = id_token_with(&op, Misbehavior::BadSignature);
    let err = verify(&op, &token).unwrap_err();
    assert!(!err.contains("not in JWKS"), "{err}");
    assert_eq!(peek(&token)["sub"], "alice");
    assert_eq!(peek_header(&token)["alg"], "RS256");

    let token = id_token_with(&op, Misbehavior::AlgNone);
    assert_eq!(peek_header(&token)["alg"], "none");
    assert!(token.ends_with('.'));
    let (payload, _) = jwt::decode_unsecured(&token).unwrap();
    assert_eq!(payload.subject(), Some("alice"));
    assert!(verify(&op, &token).is_err());

    op.set_misbehavior(Misbehavior::None);
    let token = code_flow(&op, &[])["id_token"].as_str().unwrap().to_owned();
    assert!(verify(&op, &token).is_ok());
}

#[test]
fn unknown_kid_then_rotate_keys_publishes_it() {
    let op = provider();
    let token = id_token_with(&op, Misbehavior::UnknownKid);
    let kid = peek_header(&token)["kid"].as_str().unwrap().to_owned();
    assert_ne!(kid, "k1");
    assert_eq!(op.current_kid(), kid);
    assert!(verify(&op, &token).unwrap_err().contains("not in JWKS"));
    // Every later token uses the same unpublished key.
    let token2 = code_flow(&op, &[])["id_token"].as_str().unwrap().to_owned();
    assert_eq!(peek_header(&token2)["kid"], kid.as_str());

    op.rotate_keys();
    assert_eq!(op.misbehavior(), Misbehavior::None);
    let kids: Vec<Value> = op.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert!(kids.contains(&json!(kid)));
    assert!(
        verify(&op, &token).is_ok(),
        "the earlier token now verifies"
    );
    let token3 = code_flow(&op, &[])["id_token"].as_str().unwrap().to_owned();
    assert_eq!(peek_header(&token3)["kid"], kid.as_str());
    assert!(verify(&op, &token3).is_ok());
}

#[test]
fn rotate_keys() {
    let op = provider();
    let old = code_flow(&op, &[])["id_token"].as_str().unwrap().to_owned();
    op.rotate_keys();
    assert_eq!(op.current_kid(), "k2");
    let new = code_flow(&op, &[])["id_token"].as_str().unwrap().to_owned();
    assert_eq!(peek_header(&new)["kid"], "k2");
    assert!(verify(&op, &old).is_ok() && verify(&op, &new).is_ok());
    op.rotate_keys();
    let kids: Vec<Value> = body_json(&get(&op, "/jwks"))["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids, vec![json!("k2"), json!("k3")]);
    assert!(verify(&op, &old).is_err());
    op.retire_previous_keys();
    assert_eq!(op.jwks()["keys"].as_array().unwrap().len(), 1);
    assert_eq!(op.jwks()["keys"][0]["kid"], "k3");
}

#[test]
fn misbehavior_token_endpoint() {
    let op = provider();
    let url = code_request(&[]);
    let auth = basic("rp", SECRET);
    let redeem = |code: &str| {
        post(
            &op,
            "/token",
            &[("authorization", &auth)],
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CB),
            ],
        )
    };
    let (_, p) = split(&op.authorize(&url, "alice", NOW));

    op.set_misbehavior(Misbehavior::TokenEndpointError {
        error: "invalid_grant".into(),
    });
    let resp = redeem(&p["code"]);
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp), json!({ "error": "invalid_grant" }));

    op.set_misbehavior(Misbehavior::TokenEndpointStatus(502));
    let resp = redeem(&p["code"]);
    assert_eq!(resp.status(), 502);
    assert_eq!(body_text(&resp), "<html>oops</html>");
    op.set_misbehavior(Misbehavior::TokenEndpointStatus(42));
    assert_eq!(
        redeem(&p["code"]).status(),
        500,
        "invalid status codes degrade to 500"
    );

    op.set_misbehavior(Misbehavior::TokenEndpointNotJson);
    let resp = redeem(&p["code"]);
    assert_eq!(resp.status(), 200);
    assert_eq!(body_text(&resp), "not json");

    // The misbehaving endpoint did not consume the code.
    op.set_misbehavior(Misbehavior::None);
    assert_eq!(redeem(&p["code"]).status(), 200);
    assert_eq!(op.counters().token, 5);
}

#[test]
fn misbehavior_userinfo_discovery_jwks() {
    let op = provider();
    let t = code_flow(&op, &[]);
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    let userinfo = || {
        op.handle(
            req("GET", "/userinfo", &[("authorization", &bearer)], ""),
            NOW,
        )
    };

    op.set_misbehavior(Misbehavior::UserinfoSubMismatch);
    let u = body_json(&userinfo());
    assert!(u["sub"].is_string() && u["sub"] != "alice");
    op.set_misbehavior(Misbehavior::UserinfoStatus(503));
    assert_eq!(userinfo().status(), 503);

    op.set_misbehavior(Misbehavior::DiscoveryIssuerMismatch);
    let d = body_json(&get(&op, "/.well-known/openid-configuration"));
    assert_ne!(d["issuer"], ISS);
    assert_eq!(d["token_endpoint"], "https://op.example/token");

    op.set_misbehavior(Misbehavior::JwksStatus(500));
    let resp = get(&op, "/jwks");
    assert_eq!(resp.status(), 500);
    assert!(serde_json::from_slice::<Value>(resp.body()).is_err());

    op.set_misbehavior(Misbehavior::None);
    assert_eq!(body_json(&userinfo())["sub"], "alice");
    assert_eq!(get(&op, "/jwks").status(), 200);
    let c = op.counters();
    assert_eq!((c.discovery, c.jwks, c.userinfo), (1, 2, 3));
}

#[test]
fn dynamic_client_registration() {
    let op = provider();
    let body = json!({
        "redirect_uris": ["https://new.example/cb"],
        "client_name": "New <RP>",
        "post_logout_redirect_uris": ["https://new.example/bye"],
        "token_endpoint_auth_method": "client_secret_post",
    });
    let resp = op.handle(
        req(
            "POST",
            "/register",
            &[("content-type", "application/json")],
            &body.to_string(),
        ),
        NOW,
    );
    assert_eq!(resp.status(), 201);
    let r = body_json(&resp);
    let id = r["client_id"].as_str().unwrap().to_owned();
    let secret = r["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(r["client_secret_expires_at"], 0);
    assert_eq!(r["client_id_issued_at"], NOW);
    assert_eq!(r["client_name"], "New <RP>");
    assert_eq!(r["redirect_uris"], json!(["https://new.example/cb"]));
    assert_eq!(r["token_endpoint_auth_method"], "client_secret_post");
    let client = op.client(&id).unwrap();
    assert_eq!(
        client.post_logout_redirect_uris,
        vec!["https://new.example/bye".to_owned()]
    );

    // The new client can sign users in.
    let url = auth_url(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("redirect_uri", "https://new.example/cb"),
        ("scope", "openid"),
    ]);
    let (_, p) = split(&op.authorize(&url, "erin", NOW));
    let resp = post(
        &op,
        "/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", "https://new.example/cb"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    );
    assert_eq!(resp.status(), 200);

    // Public client registration.
    let resp = op.handle(
        req("POST", "/register", &[], &json!({ "redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "none" }).to_string()),
        NOW,
    );
    assert_eq!(resp.status(), 201);
    assert!(body_json(&resp).get("client_secret").is_none());

    for bad in [
        json!({}),
        json!({ "redirect_uris": [] }),
        json!({ "redirect_uris": "https://x.example/cb" }),
        json!({ "redirect_uris": ["not a uri"] }),
        json!({ "redirect_uris": ["https://x.example/cb#frag"] }),
    ] {
        let resp = op.handle(req("POST", "/register", &[], &bad.to_string()), NOW);
        assert_eq!(resp.status(), 400, "{bad}");
        assert_eq!(body_json(&resp)["error"], "invalid_redirect_uri", "{bad}");
    }
    for bad in [
        "not json".to_owned(),
        "[1]".to_owned(),
        json!({ "redirect_uris": ["https://x.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }).to_string(),
    ] {
        let resp = op.handle(req("POST", "/register", &[], &bad), NOW);
        assert_eq!(body_json(&resp)["error"], "invalid_client_metadata", "{bad}");
    }
    assert_eq!(get(&op, "/register").status(), 405);
    assert_eq!(op.counters().registration, 11);
}

#[test]
fn token_introspection() {
    let op = provider();
    let t = code_flow(&op, &[]);
    let access = t["access_token"].as_str().unwrap();
    let auth = basic("rp", SECRET);
    let introspect = |token: &str, at: u64| {
        op.handle(
            req(
                "POST",
                "/introspect",
                &[("authorization", &auth)],
                &form(&[("token", token)]),
            ),
            at,
        )
    };
    let r = body_json(&introspect(access, NOW + 5));
    assert_eq!(r["active"], true);
    assert_eq!(r["scope"], "openid profile email");
    assert_eq!(r["client_id"], "rp");
    assert_eq!(r["sub"], "alice");
    assert_eq!(r["aud"], "rp");
    assert_eq!(r["iss"], ISS);
    assert_eq!(r["iat"], NOW);
    assert_eq!(r["exp"], NOW + 3600);
    assert_eq!(r["token_type"], "Bearer");
    assert_eq!(
        body_json(&introspect(access, NOW + 3600)),
        json!({ "active": false })
    );
    assert_eq!(
        body_json(&introspect("garbage", NOW)),
        json!({ "active": false })
    );
    assert_eq!(
        body_json(&introspect(t["refresh_token"].as_str().unwrap(), NOW))["active"],
        true
    );

    let resp = op.handle(
        req("POST", "/introspect", &[], &form(&[("token", access)])),
        NOW,
    );
    assert_eq!(resp.status(), 401);
    let resp = op.handle(
        req("POST", "/introspect", &[("authorization", &auth)], ""),
        NOW,
    );
    assert_eq!(body_json(&resp)["error"], "invalid_request");
    assert_eq!(op.counters().introspection, 6);
}

#[test]
fn client_credentials_grant() {
    let op = provider();
    let auth = basic("rp", SECRET);
    let resp = post(
        &op,
        "/token",
        &[("authorization", &auth)],
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api.read  api.write"),
            ("audience", "https://api.example"),
        ],
    );
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    let t = body_json(&resp);
    assert_eq!(t["scope"], "api.read api.write");
    assert_eq!(t["expires_in"], 3600);
    assert!(t.get("refresh_token").is_none() && t.get("id_token").is_none());
    let resp = post(
        &op,
        "/introspect",
        &[("authorization", &auth)],
        &[("token", t["access_token"].as_str().unwrap())],
    );
    let r = body_json(&resp);
    assert_eq!(r["sub"], "rp");
    assert_eq!(r["aud"], json!(["https://api.example"]));
    // Public clients cannot use it.
    let resp = post(
        &op,
        "/token",
        &[],
        &[("grant_type", "client_credentials"), ("client_id", "spa")],
    );
    assert_eq!(body_json(&resp)["error"], "unauthorized_client");
}

#[test]
fn refresh_misbehaviors() {
    let op = provider();
    let t = code_flow(&op, &[]);
    let rt = t["refresh_token"].as_str().unwrap();
    let auth = basic("rp", SECRET);
    let refresh = |token: &str| {
        body_json(&post(
            &op,
            "/token",
            &[("authorization", &auth)],
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        ))
    };
    op.set_misbehavior(Misbehavior::OmitRefreshToken);
    let t2 = refresh(rt);
    assert!(t2.get("refresh_token").is_none());
    let t3 = refresh(rt);
    assert!(
        t3["access_token"].is_string(),
        "the old refresh token still works"
    );
    op.set_misbehavior(Misbehavior::RefreshOtherSub);
    let t4 = refresh(rt);
    let c = verify(&op, t4["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(c["sub"], "someone-else");
    op.set_misbehavior(Misbehavior::None);
    let fresh = code_flow(&op, &[]);
    let c = verify(&op, fresh["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(c["sub"], "alice", "only refreshes misbehave");
}

#[test]
fn jwt_access_tokens() {
    let op = provider();
    let spec = crate::JwtAccessTokenSpec::new("alice", "rp", "https://api.example", "a b");
    let token = op.issue_jwt_access_token(&spec, NOW);
    assert_eq!(peek_header(&token)["typ"], "at+jwt");
    let c = verify(&op, &token).unwrap();
    assert_eq!(c["aud"], "https://api.example");
    assert_eq!(c["scope"], "a b");
    assert_eq!(c["exp"], NOW + 3600);
    assert_eq!(c["iss"], ISS);
    let mut wrong = spec.clone();
    wrong.wrong_key = true;
    assert!(verify(&op, &op.issue_jwt_access_token(&wrong, NOW)).is_err());
    // From the token endpoint, when switched on.
    op.set_jwt_access_tokens(Some("https://api.example"));
    let t = code_flow(&op, &[]);
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(peek_header(at)["typ"], "at+jwt");
    assert_eq!(verify(&op, at).unwrap()["sub"], "alice");
    let resp = op.handle(
        req(
            "GET",
            "/userinfo",
            &[("authorization", &format!("Bearer {at}"))],
            "",
        ),
        NOW,
    );
    assert_eq!(resp.status(), 200);
    op.set_jwt_access_tokens(None);
    let t = code_flow(&op, &[]);
    assert_eq!(t["access_token"].as_str().unwrap().split('.').count(), 1);
}

#[test]
fn rp_initiated_logout() {
    let op = provider();
    let resp = get(
        &op,
        &format!(
            "/logout?{}",
            form(&[
                ("client_id", "rp"),
                ("post_logout_redirect_uri", BYE),
                ("state", "s1")
            ])
        ),
    );
    assert_eq!(resp.status(), 302);
    assert_eq!(
        header(&resp, "location"),
        Some("https://rp.example/bye?state=s1")
    );
    let cookie = header(&resp, "set-cookie").unwrap();
    assert!(cookie.starts_with("sim_session=;") && cookie.contains("Max-Age=0"));

    // Client identified by the ID token hint's audience (even an expired one).
    let id_token = code_flow(&op, &[])["id_token"].as_str().unwrap().to_owned();
    let resp = op.handle(
        req(
            "GET",
            &format!(
                "/logout?{}",
                form(&[
                    ("id_token_hint", &id_token),
                    ("post_logout_redirect_uri", BYE)
                ])
            ),
            &[],
            "",
        ),
        NOW + 100_000,
    );
    assert_eq!(header(&resp, "location"), Some(BYE));

    // Unregistered or unidentified: a page, no redirect.
    for q in [
        form(&[
            ("client_id", "rp"),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ]),
        form(&[("post_logout_redirect_uri", BYE)]),
        String::new(),
    ] {
        let resp = get(&op, &format!("/logout?{q}"));
        assert_eq!(resp.status(), 200, "{q}");
        assert!(body_text(&resp).contains("You have been logged out"));
        assert!(header(&resp, "set-cookie").is_some());
    }
    // Bad or mismatched hints.
    let resp = get(
        &op,
        &format!("/logout?{}", form(&[("id_token_hint", "a.b.c")])),
    );
    assert_eq!(resp.status(), 400);
    let resp = get(
        &op,
        &format!(
            "/logout?{}",
            form(&[("id_token_hint", &id_token), ("client_id", "spa")])
        ),
    );
    assert_eq!(resp.status(), 400);
    // POST form works too.
    let resp = post(
        &op,
        "/logout",
        &[],
        &[("client_id", "rp"), ("post_logout_redirect_uri", BYE)],
    );
    assert_eq!(resp.status(), 302);
    assert_eq!(op.counters().logout, 8);
}

#[test]
fn unknown_paths_and_methods() {
    let op = provider();
    assert_eq!(get(&op, "/nope").status(), 404);
    assert_eq!(get(&op, "/").status(), 404);
    assert_eq!(get(&op, "/jwks/").status(), 404);
    assert_eq!(op.handle(req("POST", "/jwks", &[], ""), NOW).status(), 405);
    let resp = op.handle(
        req("DELETE", "/.well-known/openid-configuration", &[], ""),
        NOW,
    );
    assert_eq!(resp.status(), 405);
    assert_eq!(header(&resp, "allow"), Some("GET"));
    assert_eq!(
        op.counters(),
        Counters {
            discovery: 1,
            jwks: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn junk_input_never_panics() {
    let op = provider();
    let id_token = code_flow(&op, &[])["id_token"].as_str().unwrap().to_owned();
    let paths = [
        "/.well-known/openid-configuration",
        "/jwks",
        "/authorize",
        "/token",
        "/userinfo",
        "/introspect",
        "/logout",
        "/register",
        "/x",
    ];
    let queries = [
        "",
        "?",
        "?&&&==%",
        "?client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code&scope=openid&claims=%7B",
        "?id_token_hint=a.b.c&post_logout_redirect_uri=%zz",
        "?id_token_hint=eyJhbGciOiJub25lIn0.e30.",
        "?id_token_hint=....",
    ];
    let bodies: [&[u8]; 6] = [
        b"",
        b"\xff\xfe\x00",
        b"grant_type=refresh_token&refresh_token=%",
        b"{\"redirect_uris\":[1,2]}",
        b"request_params=%zz&username=%00",
        b"token=&token_type_hint=x",
    ];
    let headers: [&[(&str, &str)]; 5] = [
        &[],
        &[("authorization", "Basic")],
        &[("authorization", "Bearer")],
        &[("authorization", "Basic \u{7f}")],
        &[("cookie", "sim_session=%ff%fe; sim_session=; =;;")],
    ];
    let mut count = 0;
    for path in paths {
        for query in queries {
            for body in bodies {
                for hs in headers {
                    for method in ["GET", "POST", "PUT"] {
                        let mut b = Request::builder()
                            .method(method)
                            .uri(format!("{path}{query}"));
                        for (k, v) in hs {
                            b = b.header(*k, *v);
                        }
                        if let Ok(r) = b.body(Bytes::copy_from_slice(body)) {
                            let resp = op.handle(r, NOW);
                            assert!(resp.status().as_u16() >= 200, "{method} {path}{query}");
                            count += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(count > 1000);
    let hint = format!("/logout?id_token_hint={id_token}x");
    assert_eq!(get(&op, &hint).status(), 400);
}

/// Whether a scenario's name says it refuses or absorbs something, and so must prove, by
/// returning `Unchanged`, that the state the attack or fault would change is unchanged:
/// - it rejects, refuses, ignores or denies something, answers `401`/`403`, or says what
///   something is not or cannot do;
/// - it meets faults (a failing provider or store), a flood, oversized input or a slow answer
///   that must be cut off;
/// - it sends the provider's errors or text to the error view, or reports an error;
/// - it enforces a login or session rule: refuses framing, asks to confirm a cross-site
///   logout, keeps or leaves a session (or keeps it ended), reports a configuration error.
fn names_a_rejection(name: &str) -> bool {
    [
        "_rejected",
        "_refused",
        "_ignored",
        "_denied",
        "_inactive",
        "_is_not_",
        "_are_not_",
        "cannot",
        "_401",
        "_403",
        "_faults",
        "flood",
        "_harmless",
        "cut_off",
        "_error_view",
        "escape",
        "_is_reported",
        "_enforced",
        "_leaves_the_session",
        "stays_ended",
        "_keeps_",
        "configuration_errors",
        "refuse",
        "_confirmation_page",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// The `pub async fn` names of a scenario source, and the names in all of its macros'
/// `rejections: [...]` lists.
fn scenario_names(source: &str) -> (Vec<String>, Vec<String>) {
    let functions = source
        .lines()
        .filter_map(|l| l.strip_prefix("pub async fn "))
        .map(|rest| rest.split(['<', '(']).next().unwrap_or("").to_owned())
        .collect();
    let rejections = source
        .split("rejections: [")
        .skip(1)
        // The macro's own pattern (`$($rejection:ident),*`) is no list.
        .filter(|list| !list.trim_start().starts_with('$'))
        .flat_map(|list| {
            list.split_once(']')
                .map_or("", |(l, _)| l)
                .split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    (functions, rejections)
}

/// Every scenario whose name says it rejects something is instantiated through a
/// `rejections` list, which only accepts scenarios returning the `Unchanged` proof: a
/// rejection scenario written without `Before::unchanged` fails here (or does not compile).
/// Every scenario macro has such a list, and every list names scenarios of its file.
#[test]
fn every_rejection_scenario_proves_nothing_changed() {
    let mut missing = Vec::new();
    let mut proven = Vec::new();
    // Scenario functions may live in files of their own (re-exported by a macro's module), so
    // the lists and the functions are matched across every file.
    let mut all_functions = Vec::new();
    let mut all_rejections = Vec::new();
    for (file, source, macros) in [
        ("scenarios.rs", include_str!("scenarios.rs"), 1),
        (
            "hardening_scenarios.rs",
            include_str!("hardening_scenarios.rs"),
            2,
        ),
        ("token_scenarios.rs", include_str!("token_scenarios.rs"), 1),
        (
            "app_api_scenarios.rs",
            include_str!("app_api_scenarios.rs"),
            0,
        ),
        (
            "provider_compat_scenarios.rs",
            include_str!("provider_compat_scenarios.rs"),
            0,
        ),
        (
            "client_auth_scenarios.rs",
            include_str!("client_auth_scenarios.rs"),
            0,
        ),
        (
            "revocation_scenarios.rs",
            include_str!("revocation_scenarios.rs"),
            0,
        ),
        (
            "instance_scenarios.rs",
            include_str!("instance_scenarios.rs"),
            0,
        ),
        ("redis_scenarios.rs", include_str!("redis_scenarios.rs"), 0),
        (
            "channel_logout_scenarios.rs",
            include_str!("channel_logout_scenarios.rs"),
            0,
        ),
        // Issue 18 (P).
        ("par_scenarios.rs", include_str!("par_scenarios.rs"), 0),
        // Issue 18 (D).
        ("dpop_scenarios.rs", include_str!("dpop_scenarios.rs"), 0),
        ("fapi_scenarios.rs", include_str!("fapi_scenarios.rs"), 0),
        // Issue 18 (J).
        ("jarm_scenarios.rs", include_str!("jarm_scenarios.rs"), 0),
        (
            "encryption_scenarios.rs",
            include_str!("encryption_scenarios.rs"),
            0,
        ),
    ] {
        assert_eq!(
            source.matches("macro_rules!").count(),
            macros,
            "{file}: a scenario macro was added or removed; count it here"
        );
        if macros > 0 {
            assert_eq!(
                source.matches("rejections: [").count(),
                macros + 1,
                "{file}: every scenario macro has a `rejections` list (plus its own pattern)"
            );
        }
        let (functions, rejections) = scenario_names(source);
        all_functions.extend(functions.into_iter().map(|f| (file, f)));
        all_rejections.extend(rejections);
    }
    for (file, name) in all_functions.iter().filter(|(_, n)| names_a_rejection(n)) {
        if all_rejections.contains(name) {
            proven.push(name.clone());
        } else {
            missing.push(format!("{file}: {name}"));
        }
    }
    for name in &all_rejections {
        assert!(
            all_functions.iter().any(|(_, f)| f == name),
            "{name} is no scenario"
        );
    }
    assert!(
        missing.is_empty(),
        "rejection scenarios outside a `rejections` list: {missing:?}"
    );
    assert!(proven.len() >= 85, "the scan found the lists: {proven:?}");
}

#[test]
fn the_rejection_scan_sees_a_scenario_that_bypasses_the_proof() {
    let source = "pub async fn evil_is_rejected<A: App>() {\n}\n\
                  pub async fn fine<A: App>() {\n}\n\
                  rejections: [\n    other_is_refused,\n]";
    let (functions, rejections) = scenario_names(source);
    assert_eq!(functions, ["evil_is_rejected", "fine"]);
    assert_eq!(rejections, ["other_is_refused"]);
    assert!(names_a_rejection("evil_is_rejected") && !rejections.contains(&functions[0]));
    assert!(!names_a_rejection("fine"));
    for rejection in [
        "login_is_refused_by_redirect_uri",
        "cookie_is_ignored",
        "access_denied",
        "bearer_inactive_by_introspection",
        "token_is_not_accepted",
        "logout_return_cannot_end_a_new_login",
        "bearer_absent_is_401",
        "session_api_401_has_a_challenge",
        "bearer_missing_scope_is_403",
        "jwks_faults",
        "pending_login_flood_is_bounded",
        "oversized_input_is_harmless",
        "slow_drip_is_cut_off_by_the_total_timeout",
        "provider_error_goes_to_error_view",
        "error_view_escapes_provider_text",
        "provider_text_is_escaped_in_logs_and_view",
        "registration_error_is_reported",
        "max_age_is_enforced",
        "refresh_failure_leaves_the_session",
        "session_ended_during_refresh_stays_ended",
        "refreshed_id_token_keeps_the_login_auth_time",
        "token_configuration_errors",
        "own_pages_refuse_framing",
        "cross_site_logout_gets_a_confirmation_page",
    ] {
        assert!(names_a_rejection(rejection), "{rejection}");
    }
    for other in [
        "code_flow_succeeds",
        "two_tabs_both_succeed",
        "refresh_token_is_kept_when_not_rotated",
    ] {
        assert!(!names_a_rejection(other), "{other}");
    }
}

#[test]
fn the_rejection_scan_reads_every_macro_list() {
    let source = "pub async fn a_is_rejected<A: App>() {\n}\n\
                  pub async fn b_is_401<A: App>() {\n}\n\
                  ], rejections: [\n    a_is_rejected,\n]);\n\
                  ], rejections: [\n    b_is_401,\n]);\n\
                  rejections: [$($rejection:ident),* $(,)?]) => {";
    let (functions, rejections) = scenario_names(source);
    assert_eq!(functions, ["a_is_rejected", "b_is_401"]);
    assert_eq!(rejections, ["a_is_rejected", "b_is_401"]);
}

/// A josekit verifier for the JWS algorithm `alg` over the public key `jwk`.
fn verifier_for(alg: &str, jwk: &josekit::jwk::Jwk) -> Box<dyn josekit::jws::JwsVerifier> {
    use josekit::jws::{EdDSA, ES256, ES384, ES512, PS256, PS384, PS512, RS384, RS512};
    match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).unwrap()),
        "RS384" => Box::new(RS384.verifier_from_jwk(jwk).unwrap()),
        "RS512" => Box::new(RS512.verifier_from_jwk(jwk).unwrap()),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).unwrap()),
        "PS384" => Box::new(PS384.verifier_from_jwk(jwk).unwrap()),
        "PS512" => Box::new(PS512.verifier_from_jwk(jwk).unwrap()),
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).unwrap()),
        "ES384" => Box::new(ES384.verifier_from_jwk(jwk).unwrap()),
        "ES512" => Box::new(ES512.verifier_from_jwk(jwk).unwrap()),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(jwk).unwrap()),
        other => panic!("no verifier for {other}"),
    }
}

/// The published JWK whose `kid` is `kid`.
fn published(op: &SimProvider, kid: &str) -> Map<String, Value> {
    op.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{kid} is not published"))
        .clone()
}

/// After `set_signing_algorithm`, for each algorithm: the JWKS publishes the new key as that
/// algorithm's (`kty`, `crv`, `alg`, `kid`, `use`) next to the previous RS256 key, discovery
/// lists both algorithms, and a hybrid response's ID token says `alg` in its header, verifies
/// with that algorithm against the published key alone, and carries the `c_hash` and
/// `at_hash` of that algorithm (for EdDSA, of the curve), as `oidc-core` computes them.
#[test]
fn every_signing_algorithm_is_published_and_signs() {
    for alg in crate::SigningAlg::ALL {
        let op = provider();
        assert_eq!(
            op.signing_algorithm(),
            crate::SigningAlg::Rs256,
            "the default"
        );
        op.set_signing_algorithm(alg);
        assert_eq!(op.signing_algorithm(), alg);
        let kid = op.current_kid();
        assert_eq!(kid, "k2", "{alg:?}: a new key");
        let jwk = published(&op, &kid);
        assert_eq!(jwk["kty"], alg.key_type(), "{alg:?}");
        assert_eq!(
            jwk.get("crv").and_then(Value::as_str),
            alg.curve(),
            "{alg:?}"
        );
        assert_eq!(jwk["alg"], alg.name(), "{alg:?}");
        assert_eq!(jwk["use"], "sig", "{alg:?}");
        assert!(jwk.get("d").is_none(), "{alg:?}: no private part");
        assert_eq!(
            published(&op, "k1")["alg"],
            "RS256",
            "the previous key stays"
        );
        let discovery = body_json(&get(&op, "/.well-known/openid-configuration"));
        let mut expected = vec!["RS256"];
        if alg.name() != "RS256" {
            expected.push(alg.name());
        }
        assert_eq!(
            discovery["id_token_signing_alg_values_supported"],
            json!(expected),
            "{alg:?}"
        );

        let (_, p) = split(&op.authorize(
            &code_request(&[("response_type", "code id_token token")]),
            "alice",
            NOW,
        ));
        let token = &p["id_token"];
        let header = peek_header(token);
        assert_eq!(header["alg"], alg.name(), "{alg:?}");
        assert_eq!(header["kid"], kid.as_str(), "{alg:?}");
        let key = josekit::jwk::Jwk::from_map(jwk.clone()).unwrap();
        let (payload, _) =
            jwt::decode_with_verifier(token, verifier_for(alg.name(), &key).as_ref())
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        let c = payload.claims_set();
        let half =
            |v: &str| oidc_core::id_token::half_hash_for_curve(alg.name(), alg.curve(), v).unwrap();
        assert_eq!(c["c_hash"], half(&p["code"]), "{alg:?}");
        assert_eq!(c["at_hash"], half(&p["access_token"]), "{alg:?}");
    }
}

/// Keys for an algorithm are made once per process: two providers switching to it publish
/// the same public key under their own kids (rotation, though, makes a fresh one); and
/// `set_jwks_alg(false)` publishes keys without `alg`, all else unchanged.
#[test]
fn signing_keys_are_cached_per_algorithm_and_alg_can_be_left_out() {
    let material = |jwk: &Map<String, Value>| {
        let mut jwk = jwk.clone();
        jwk.remove("kid");
        jwk
    };
    let a = provider();
    let b = SimProvider::new("https://other.example");
    b.rotate_keys();
    a.set_signing_algorithm(crate::SigningAlg::Es384);
    b.set_signing_algorithm(crate::SigningAlg::Es384);
    let (ka, kb) = (
        published(&a, &a.current_kid()),
        published(&b, &b.current_kid()),
    );
    assert_eq!(
        (ka["kid"].as_str(), kb["kid"].as_str()),
        (Some("k2"), Some("k3"))
    );
    assert_eq!(material(&ka), material(&kb), "the same cached key pair");
    a.rotate_keys();
    let rotated = published(&a, &a.current_kid());
    assert_eq!(rotated["crv"], "P-384", "rotation keeps the algorithm");
    assert_ne!(material(&rotated), material(&ka), "and makes a fresh key");

    a.set_jwks_alg(false);
    let bare = published(&a, &a.current_kid());
    assert!(bare.get("alg").is_none(), "{bare:?}");
    let mut labelled = rotated.clone();
    labelled.remove("alg");
    assert_eq!(bare, labelled);
}

/// `MislabelledAlg`: an RSA key's token labelled PS256 carries a real RSASSA-PSS signature by
/// that key; a P-256 key's token labelled ES384 (or RS256) carries the key's own ES256
/// signature under the false name. Both name the signing key's kid.
#[test]
fn mislabelled_tokens_name_another_algorithm() {
    let op = provider();
    let kid = op.current_kid();
    let token = id_token_with(&op, Misbehavior::MislabelledAlg(crate::SigningAlg::Ps256));
    let header = peek_header(&token);
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("PS256"), Some(kid.as_str()))
    );
    let mut jwk = published(&op, &kid);
    assert_eq!(jwk["alg"], "RS256");
    jwk.remove("alg");
    let key = josekit::jwk::Jwk::from_map(jwk).unwrap();
    assert!(jwt::decode_with_verifier(&token, verifier_for("PS256", &key).as_ref()).is_ok());
    assert!(jwt::decode_with_verifier(&token, verifier_for("RS256", &key).as_ref()).is_err());

    op.set_misbehavior(Misbehavior::None);
    op.set_signing_algorithm(crate::SigningAlg::Es256);
    let kid = op.current_kid();
    let mut jwk = published(&op, &kid);
    jwk.remove("alg");
    let key = josekit::jwk::Jwk::from_map(jwk).unwrap();
    for (label, name) in [
        (crate::SigningAlg::Es384, "ES384"),
        (crate::SigningAlg::Rs256, "RS256"),
    ] {
        let token = id_token_with(&op, Misbehavior::MislabelledAlg(label));
        let header = peek_header(&token);
        assert_eq!(
            (header["alg"].as_str(), header["kid"].as_str()),
            (Some(name), Some(kid.as_str()))
        );
        // The signature is the key's own ES256 one over the mislabelled header.
        let (input, signature) = token.rsplit_once('.').unwrap();
        let verifier = verifier_for("ES256", &key);
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(
            verifier.verify(input.as_bytes(), &signature).is_ok(),
            "{name}"
        );
    }
}
