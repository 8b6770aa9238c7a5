//! DPoP (RFC 9449) scenarios, run by every adapter through [`scenarios!`](macro@crate::scenarios):
//! a login whose tokens are bound to the session's key (token request, userinfo, refresh, the
//! provider's nonce challenges), the proof app code makes for a resource server, and the
//! bearer guard accepting DPoP-bound tokens with their proofs and refusing replayed proofs,
//! proofs for another URL, method or token, tokens bound to another key, bound tokens sent as
//! `Bearer`, and a provider that does not bind the tokens it was asked to.

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use oidc_core::dpop::{verify_proof, DpopKey, ProofExpectations};
use oidc_core::UserSession;

use oidc_runtime::Clock;

use crate::harness::{App, Bench, BenchOptions, Browser, Page, APP_URL, CLIENT_ID};
use crate::unchanged::{logged_in, logged_in_with_pending, Before, Unchanged};
use crate::JwtAccessTokenSpec;

/// A bench whose provider is configured with DPoP and whose API accepts DPoP tokens.
fn dpop_bench<A: App>() -> Bench<A> {
    Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.dpop(true)),
        rp: Box::new(|r| r.bearer_accept_dpop(true)),
        ..Default::default()
    })
}

/// The session the app stored for this browser.
async fn session<A: App>(b: &Browser<'_, A>) -> std::sync::Arc<UserSession> {
    b.stored_session().await.expect("a stored session")
}

/// The session's DPoP key and access token.
async fn key_and_token<A: App>(b: &Browser<'_, A>) -> (DpopKey, String) {
    let user = session(b).await;
    let key = user.dpop.clone().expect("the session has a DPoP key");
    let token = user
        .access_token
        .as_ref()
        .expect("an access token")
        .expose()
        .to_owned();
    (key, token)
}

/// `method /api/me` from a client without cookies, with `Authorization: DPoP <token>` and
/// `proof` (when given).
async fn dpop_call<A: App>(
    bench: &Bench<A>,
    method: Method,
    token: &str,
    proof: Option<&str>,
) -> Page {
    let mut client = bench.browser();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{APP_URL}/api/me"))
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("DPoP {token}"));
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    client.send(req.body(Bytes::new()).unwrap()).await
}

/// A good proof for `GET /api/me` with `token`, by `key`.
fn good_proof<A: App>(bench: &Bench<A>, key: &DpopKey, token: &str) -> String {
    let url = format!("{APP_URL}/api/me");
    key.resource_proof(&Method::GET, &url, token, bench.clock.now())
        .expect("a proof")
}

/// Asserts a `401` whose only challenge is `DPoP` with `error`.
fn assert_dpop_refusal(page: &Page, error: &str, what: &str) {
    assert_eq!(
        page.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        page.text()
    );
    let challenges: Vec<_> = page
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .collect();
    assert_eq!(challenges.len(), 1, "{what}: {challenges:?}");
    let c = challenges[0].to_str().unwrap();
    assert!(
        c.starts_with("DPoP ") && c.contains(&format!("error=\"{error}\"")),
        "{what}: {c}"
    );
    assert!(c.contains("algs=\"ES256"), "{what}: {c}");
    assert_eq!(page.error(), error, "{what}");
}

/// After an attack on the API: a fresh, good proof still opens it for the session's token
/// (nothing was spent or cached for the attacker).
async fn api_still_accepts<A: App>(bench: &Bench<A>, key: &DpopKey, token: &str) {
    let page = dpop_call(
        bench,
        Method::GET,
        token,
        Some(&good_proof(bench, key, token)),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
}

/// A DPoP login: the token request carries a proof, the tokens are bound to the session's
/// own key (`token_type: DPoP`, the provider's binding), userinfo is called with
/// `Authorization: DPoP` and its proof; the key sits in the session, and the proof app code
/// makes for a resource server names it and the session's token. The bound token sent as a
/// bearer token is refused by the provider.
pub async fn dpop_login_binds_the_tokens_and_calls_userinfo<A: App>() {
    let bench = dpop_bench::<A>();
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.json()["userinfo"].is_object(), "{}", page.text());
    let token_request = bench
        .provider
        .last_token_request()
        .expect("a token request");
    assert!(token_request.headers().contains_key("dpop"));
    assert_eq!(
        bench.provider.dpop_counts(),
        (1, 1, 0),
        "token and userinfo with proofs"
    );
    let user = session(&b).await;
    let (key, token) = key_and_token(&b).await;
    assert_eq!(user.access_token_type(), "DPoP");
    let jkt = key.thumbprint().unwrap();
    assert_eq!(bench.provider.dpop_binding(&token), Some(jkt.clone()));
    assert!(!format!("{user:?}").contains(&token));
    let now = bench.clock.now();
    let url = "https://api.example/orders?page=2";
    let proof = user
        .dpop_proof(&Method::POST, url, now)
        .unwrap()
        .expect("a proof");
    let expect =
        ProofExpectations::new(&Method::POST, "https://api.example/orders", &token, now, 0);
    assert_eq!(verify_proof(&proof, &expect).unwrap().jkt, jkt);
    let userinfo = bench.provider.handle(
        Request::get(bench.provider.endpoint("/userinfo"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Bytes::new())
            .unwrap(),
        now,
    );
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
}

/// A provider that demands a nonce: its `use_dpop_nonce` challenge is answered by one retry
/// with the nonce, and the login completes.
pub async fn dpop_nonce_challenge_then_success<A: App>() {
    let bench = dpop_bench::<A>();
    bench.provider.set_dpop_nonce_required(true);
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let (proofs_at_token, proofs_at_userinfo, challenges) = bench.provider.dpop_counts();
    assert_eq!((proofs_at_token, proofs_at_userinfo), (1, 1));
    assert_eq!(challenges, 1, "one challenge, answered once");
    let (key, token) = key_and_token(&b).await;
    assert_eq!(bench.provider.dpop_binding(&token), key.thumbprint().ok());
}

/// A refresh signs with the session's key (answering a nonce challenge on the way): the new
/// token is bound to the same key, which the session keeps.
pub async fn dpop_refresh_binds_the_same_key<A: App>() {
    let bench = dpop_bench::<A>();
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let (key, old) = key_and_token(&b).await;
    bench.provider.set_dpop_nonce_required(true);
    let page = b.get_json("/access_token?force=true").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let new = page.json()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(bench.provider.dpop_binding(&new), key.thumbprint().ok());
    let (kept, stored) = key_and_token(&b).await;
    assert_eq!((kept, stored), (key, new));
    assert_eq!(
        bench.provider.dpop_counts().2,
        1,
        "the refresh answered one challenge"
    );
}

/// The API accepts a DPoP-bound token with a good proof: the session's opaque token (its
/// binding from introspection) and a JWT access token bound with `cnf.jkt`.
pub async fn api_accepts_a_dpop_bound_token_with_a_good_proof<A: App>() {
    let bench = dpop_bench::<A>();
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let (key, token) = key_and_token(&b).await;
    api_still_accepts(&bench, &key, &token).await;

    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(|r| {
            r.bearer_accept_dpop(true)
                .bearer_validation(oidc_core::BearerValidation::Jwt)
        }),
        ..Default::default()
    });
    let key = DpopKey::from_entropy([3; 32]).unwrap();
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid");
    let jwt = bench.provider.issue_dpop_bound_jwt_access_token(
        &spec,
        &key.thumbprint().unwrap(),
        bench.clock.now(),
    );
    api_still_accepts(&bench, &key, &jwt).await;
}

/// A logged-in DPoP browser, its state, and the session's key and token (valid at the API).
async fn attacked<A: App>(bench: &Bench<A>) -> (Browser<'_, A>, Before, DpopKey, String) {
    let (b, before) = logged_in(bench, "alice").await;
    let (key, token) = key_and_token(&b).await;
    (b, before, key, token)
}

/// A proof sent twice: the second time it is refused (`invalid_dpop_proof`), its `jti`
/// spent; the session and a fresh proof are unaffected.
pub async fn replayed_dpop_proof_is_rejected<A: App>() -> Unchanged {
    let bench = dpop_bench::<A>();
    let (mut b, before, key, token) = attacked(&bench).await;
    let proof = good_proof(&bench, &key, &token);
    let first = dpop_call(&bench, Method::GET, &token, Some(&proof)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let replay = dpop_call(&bench, Method::GET, &token, Some(&proof)).await;
    assert_dpop_refusal(&replay, "invalid_dpop_proof", "replayed");
    api_still_accepts(&bench, &key, &token).await;
    before
        .still_refusing(&format!("DPoP {token}"), StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await
}

/// A proof for another URL of the app: refused.
pub async fn dpop_proof_for_another_url_is_rejected<A: App>() -> Unchanged {
    let bench = dpop_bench::<A>();
    let (mut b, before, key, token) = attacked(&bench).await;
    let url = format!("{APP_URL}/api/either");
    let proof = key
        .resource_proof(&Method::GET, &url, &token, bench.clock.now())
        .unwrap();
    let page = dpop_call(&bench, Method::GET, &token, Some(&proof)).await;
    assert_dpop_refusal(&page, "invalid_dpop_proof", "another URL");
    api_still_accepts(&bench, &key, &token).await;
    before.unchanged(&mut b).await
}

/// A proof for another method: refused.
pub async fn dpop_proof_for_another_method_is_rejected<A: App>() -> Unchanged {
    let bench = dpop_bench::<A>();
    let (mut b, before, key, token) = attacked(&bench).await;
    let url = format!("{APP_URL}/api/me");
    let proof = key
        .resource_proof(&Method::DELETE, &url, &token, bench.clock.now())
        .unwrap();
    let page = dpop_call(&bench, Method::GET, &token, Some(&proof)).await;
    assert_dpop_refusal(&page, "invalid_dpop_proof", "another method");
    api_still_accepts(&bench, &key, &token).await;
    before.unchanged(&mut b).await
}

/// A proof whose `ath` is another token's (a proof lifted from another call): refused.
pub async fn dpop_proof_with_a_wrong_ath_is_rejected<A: App>() -> Unchanged {
    let bench = dpop_bench::<A>();
    let (mut b, before, key, token) = attacked(&bench).await;
    let proof = good_proof(&bench, &key, "another-access-token");
    let page = dpop_call(&bench, Method::GET, &token, Some(&proof)).await;
    assert_dpop_refusal(&page, "invalid_dpop_proof", "wrong ath");
    let page = dpop_call(&bench, Method::GET, &token, None).await;
    assert_dpop_refusal(&page, "invalid_dpop_proof", "no proof");
    api_still_accepts(&bench, &key, &token).await;
    before.unchanged(&mut b).await
}

/// The session's token (stolen) with a valid proof by the thief's own key: the token is bound
/// to another key, refused (`invalid_token`).
pub async fn dpop_token_bound_to_another_key_is_rejected<A: App>() -> Unchanged {
    let bench = dpop_bench::<A>();
    let (mut b, before, key, token) = attacked(&bench).await;
    let thief = DpopKey::from_entropy([66; 32]).unwrap();
    let page = dpop_call(
        &bench,
        Method::GET,
        &token,
        Some(&good_proof(&bench, &thief, &token)),
    )
    .await;
    assert_dpop_refusal(&page, "invalid_token", "another key");
    api_still_accepts(&bench, &key, &token).await;
    before.unchanged(&mut b).await
}

/// A DPoP-bound token sent as `Authorization: Bearer` (a stolen token without its key): `401
/// invalid_token` with the `Bearer` and `DPoP` challenges, whether the API accepts DPoP or
/// not.
pub async fn dpop_bound_token_sent_as_bearer_is_refused<A: App>() -> Unchanged {
    let bench = dpop_bench::<A>();
    let (mut b, before, key, token) = attacked(&bench).await;
    let mut client = bench.browser();
    let page = client
        .send(
            Request::get(format!("{APP_URL}/api/me"))
                .header(header::ACCEPT, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    assert_eq!(page.error(), "invalid_token");
    let challenges: Vec<_> = page
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("Bearer") && c.contains("invalid_token")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("DPoP ")),
        "{challenges:?}"
    );
    api_still_accepts(&bench, &key, &token).await;
    let _ = before
        .still_refusing(&format!("Bearer {token}"), StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await;

    // Without DPoP accepted at the API, the bound token is no bearer token either.
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.dpop(true)),
        ..Default::default()
    });
    let (mut b, before, _, token) = attacked(&bench).await;
    before
        .still_refusing(&format!("Bearer {token}"), StatusCode::UNAUTHORIZED)
        .unchanged(&mut b)
        .await
}

/// A provider that answers a token request with a proof by a plain bearer token (`token_type`
/// not `DPoP`): the login is refused, no session is made, and the browser's existing session
/// and another login in progress are untouched.
pub async fn token_response_without_dpop_type_is_refused<A: App>() -> Unchanged {
    let bench = dpop_bench::<A>();
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    bench.provider.set_dpop_bearer_token_type(true);
    let mut other = bench.browser();
    let auth = other.start_login("/").await;
    let back = other.authorize(&auth, "bob");
    let page = other.deliver(&auth, &back).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    assert!(
        page.text().contains("not bound to the DPoP key"),
        "{}",
        page.text()
    );
    assert!(other.stored_session().await.is_none(), "no session");
    assert!(!other.is_logged_in().await);
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    bench.provider.set_dpop_bearer_token_type(false);
    before.unchanged(&mut b).await
}
