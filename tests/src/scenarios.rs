//! The scenario suite, written once and run by every adapter: `oidc_testkit::scenarios!(name,
//! AppType)` in an adapter's test file instantiates each scenario as a test named
//! `name::scenario`.
//!
//! Every rejection scenario asserts two things: the user gets the error view (4xx/5xx JSON with
//! `error` and `error_description`), and the browser is not logged in afterwards.

use http::StatusCode;

use crate::harness::{App, Bench, BenchOptions, Fault, APP_URL, ISSUER};
use crate::Misbehavior;

async fn expect_rejected<A: App>(bench: &Bench<A>, expected_error: &str) {
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(page.error(), expected_error, "{}", page.text());
    assert!(
        !b.is_logged_in().await,
        "a rejected login must leave no session"
    );
}

async fn misbehaving<A: App>(m: Misbehavior, expected_error: &str) {
    let bench = Bench::<A>::new();
    bench.provider.set_misbehavior(m);
    expect_rejected(&bench, expected_error).await;
}

/// The whole code flow: redirect, login, callback, session, and the page first asked for.
pub async fn code_flow_succeeds<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    assert!(!b.is_logged_in().await);
    let auth = b.start_login("/?x=1").await;
    let q: std::collections::HashMap<String, String> = url::Url::parse(&auth)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("{APP_URL}/redirect_uri"));
    let pre_login_cookie = b.session_cookie().map(str::to_owned);
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert_eq!(page.location().as_deref(), Some("/?x=1"));
    let set_cookie = page.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    assert!(!set_cookie.contains("Secure"), "http app: no Secure flag");
    assert_ne!(
        b.session_cookie().map(str::to_owned),
        pre_login_cookie,
        "session id rotates on login"
    );
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let v = page.json();
    assert_eq!(v["sub"], "alice");
    assert_eq!(v["id_token_claims"]["iss"], ISSUER);
    assert_eq!(v["userinfo"]["sub"], "alice");
    assert_eq!(v["access_token_present"], true);
    assert!(b.is_logged_in().await);
    // PKCE verifier and client authentication reached the token endpoint.
    let token_req = bench.provider.last_token_request().unwrap();
    assert!(token_req.headers()["authorization"]
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    assert!(String::from_utf8_lossy(token_req.body()).contains("code_verifier="));
}

/// `client_secret_post` authentication.
pub async fn client_secret_post_works<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| {
            c.client(
                oidc_core::ClientMetadata::new(
                    crate::harness::CLIENT_ID,
                    crate::harness::CLIENT_SECRET,
                )
                .with_auth_method(oidc_core::ClientAuthMethod::ClientSecretPost),
            )
        }),
        ..Default::default()
    });
    let mut b = bench.browser();
    let page = b.login("/", "bob").await;
    assert_eq!(page.json()["sub"], "bob");
    let token_req = bench.provider.last_token_request().unwrap();
    assert!(token_req.headers().get("authorization").is_none());
    assert!(String::from_utf8_lossy(token_req.body()).contains("client_secret="));
}

/// The provider's error response (`access_denied`) goes to the error view.
pub async fn provider_error_goes_to_error_view<A: App>() {
    misbehaving::<A>(
        Misbehavior::AuthorizeError {
            error: "access_denied".into(),
            error_description: Some("the user said no".into()),
        },
        "access_denied",
    )
    .await;
}

/// A callback without `state`.
pub async fn missing_state_is_rejected<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let mut url = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "state")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let page = b.get(url.as_str()).await;
    page.error();
    assert!(!b.is_logged_in().await);
    // The login in progress is still usable: a missing state consumes nothing.
    let page = b.get(&back).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(b.is_logged_in().await);
}

/// A callback whose `state` matches no login in progress.
pub async fn wrong_state_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::WrongState, "invalid_state").await;
}

/// The same callback twice: the second is refused, and a fresh browser replaying it too.
pub async fn replayed_callback_is_rejected<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    assert_eq!(b.get(&back).await.status, StatusCode::FOUND);
    let mut attacker = bench.browser();
    let page = attacker.get(&back).await;
    assert_eq!(page.error(), "unsolicited_response");
    assert!(!attacker.is_logged_in().await);
    // The same browser replaying (back button) gets the friendly error, and stays logged in.
    let page = b.get(&back).await;
    page.error();
    assert!(b.is_logged_in().await);
}

/// A callback the browser never started (login CSRF).
pub async fn unsolicited_callback_is_rejected<A: App>() {
    let bench = Bench::<A>::new();
    let mut victim = bench.browser();
    let mut attacker = bench.browser();
    let auth = attacker.start_login("/").await;
    let back = attacker.authorize(&auth, "mallory");
    let page = victim.get(&back).await;
    assert_eq!(page.error(), "unsolicited_response");
    assert!(!victim.is_logged_in().await);
}

/// Wrong `nonce` in the ID token.
pub async fn wrong_nonce_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::WrongNonce, "invalid_response").await;
}

/// Missing `nonce` in the ID token.
pub async fn missing_nonce_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::OmitNonce, "invalid_response").await;
}

/// A corrupted signature.
pub async fn bad_signature_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::BadSignature, "invalid_response").await;
}

/// `alg: none`.
pub async fn unsigned_token_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::AlgNone, "invalid_response").await;
}

/// Wrong `iss`.
pub async fn wrong_issuer_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::WrongIssuer, "invalid_response").await;
}

/// Wrong `aud`.
pub async fn wrong_audience_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::WrongAudience, "invalid_response").await;
}

/// Several audiences and no `azp`; and an `azp` naming another client.
pub async fn azp_mismatch_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::MultipleAudiencesWithoutAzp, "invalid_response").await;
    misbehaving::<A>(Misbehavior::WrongAzp, "invalid_response").await;
}

/// An expired ID token.
pub async fn expired_token_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::Expired, "invalid_response").await;
}

/// `iat` an hour in the future.
pub async fn future_iat_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::IssuedInFuture, "invalid_response").await;
}

/// A token signed with a key the JWKS never publishes.
pub async fn unknown_kid_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::UnknownKid, "invalid_response").await;
}

/// Key rotation: after the provider rotates, the next login meets an unknown `kid`, fetches
/// the JWKS once more, and succeeds.
pub async fn key_rotation_is_followed<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let jwks_before = bench.provider.counters().jwks;
    bench.provider.rotate_keys();
    bench.provider.retire_previous_keys();
    bench.clock.advance(120);
    let mut b2 = bench.browser();
    let page = b2.login("/", "bob").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(
        bench.provider.counters().jwks,
        jwks_before + 1,
        "exactly one refetch"
    );
}

/// A malformed callback: parameters given twice.
pub async fn malformed_callback_is_rejected<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let page = b.get(&format!("{back}&state=other")).await;
    page.error();
    assert!(!b.is_logged_in().await);
    let page = b.get("/redirect_uri?%%%").await;
    page.error();
    assert!(!b.is_logged_in().await);
}

/// Token endpoint error, 5xx, and non-JSON answers.
pub async fn token_endpoint_failures_are_rejected<A: App>() {
    misbehaving::<A>(
        Misbehavior::TokenEndpointError {
            error: "invalid_grant".into(),
        },
        "invalid_grant",
    )
    .await;
    misbehaving::<A>(Misbehavior::TokenEndpointStatus(503), "invalid_response").await;
    misbehaving::<A>(Misbehavior::TokenEndpointNotJson, "invalid_response").await;
}

/// Network failures and timeouts at the token, JWKS and userinfo calls.
pub async fn network_failures_are_rejected<A: App>() {
    for path in ["/token", "/jwks", "/userinfo"] {
        for fault in [Fault::Refused, Fault::Timeout, Fault::BodyTooLarge] {
            let bench = Bench::<A>::new();
            bench.transport.fail(path, fault.clone());
            expect_rejected(&bench, "provider_unreachable").await;
            // The app keeps serving: with the fault gone the next login works.
            bench.transport.clear();
            let mut b = bench.browser();
            assert_eq!(
                b.login("/", "alice").await.status,
                StatusCode::OK,
                "{path} {fault:?}"
            );
        }
    }
}

/// Userinfo `sub` differs from the ID token's.
pub async fn userinfo_sub_mismatch_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::UserinfoSubMismatch, "invalid_response").await;
}

/// Userinfo answers with an error status.
pub async fn userinfo_error_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::UserinfoStatus(401), "invalid_response").await;
}

/// JWKS endpoint fails.
pub async fn jwks_error_is_rejected<A: App>() {
    misbehaving::<A>(Misbehavior::JwksStatus(500), "invalid_response").await;
}

/// Two tabs log in at once: both succeed.
pub async fn two_tabs_both_succeed<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth1 = b.start_login("/?tab=1").await;
    let auth2 = b.start_login("/?tab=2").await;
    let back1 = b.authorize(&auth1, "alice");
    let back2 = b.authorize(&auth2, "alice");
    let p2 = b.get(&back2).await;
    assert_eq!(p2.location().as_deref(), Some("/?tab=2"), "{}", p2.text());
    let p1 = b.get(&back1).await;
    assert_eq!(p1.location().as_deref(), Some("/?tab=1"), "{}", p1.text());
    assert!(b.is_logged_in().await);
}

/// The discovery document names another issuer: no login starts, the error view says why.
pub async fn discovery_issuer_mismatch_is_rejected<A: App>() {
    let bench = Bench::<A>::new();
    bench
        .provider
        .set_misbehavior(Misbehavior::DiscoveryIssuerMismatch);
    let mut b = bench.browser();
    let page = b.get("/").await;
    assert_eq!(page.error(), "invalid_response");
    assert!(!b.is_logged_in().await);
}

/// The provider is down at start: logins get a clear error; once it is back they work.
pub async fn provider_down_then_up<A: App>() {
    let bench = Bench::<A>::new();
    bench
        .transport
        .fail("/.well-known/openid-configuration", Fault::Refused);
    let mut b = bench.browser();
    assert_eq!(b.get("/").await.error(), "provider_unreachable");
    assert!(!bench.rp.ready().await);
    bench.transport.clear();
    bench.clock.advance(60);
    assert!(bench.rp.ready().await);
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
}

/// The login route refuses return URLs off the app's origin.
pub async fn off_origin_return_is_rejected<A: App>() {
    let bench = Bench::<A>::new();
    for evil in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "/%5Cevil.example",
        "http://app.test:8080/",
    ] {
        let mut b = bench.browser();
        let next: String = form_urlencoded::byte_serialize(evil.as_bytes()).collect();
        let page = b.get(&format!("/login?next={next}")).await;
        assert_eq!(page.error(), "invalid_response", "{evil}");
        assert!(!b.is_logged_in().await);
    }
    let mut b = bench.browser();
    let page = b.get("/login?next=%2Fdeep%2Fpage").await;
    let auth = page.location().unwrap();
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(page.location().as_deref(), Some("/deep/page"));
}

/// API-style requests are answered `401`, not redirected.
pub async fn api_requests_get_401<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let page = b
        .send(
            http::Request::post(format!("{APP_URL}/"))
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_ne!(page.status, StatusCode::FOUND);
}

/// A forged or foreign session cookie is ignored.
pub async fn forged_cookie_is_ignored<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let real = b.session_cookie().unwrap().to_owned();
    let id = real.split('.').next().unwrap();
    let mut forger = bench.browser();
    forger.set_app_cookie("oidc_session", &format!("{id}.forged"));
    assert!(!forger.is_logged_in().await);
    forger.set_app_cookie("oidc_session", id);
    assert!(!forger.is_logged_in().await);
}

/// The session ends at its lifetime.
pub async fn session_expires<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(|r| r.session_lifetime(std::time::Duration::from_secs(3600))),
        ..Default::default()
    });
    let mut b = bench.browser();
    b.login("/", "alice").await;
    assert!(b.is_logged_in().await);
    bench.clock.advance(3601);
    assert!(!b.is_logged_in().await);
}

/// Logout through the provider's end-session endpoint, with `state` checked on the way back.
pub async fn logout_via_end_session<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let page = b.get("/logout").await;
    assert_eq!(page.status, StatusCode::FOUND);
    let loc = page.location().unwrap();
    assert!(loc.starts_with(&format!("{ISSUER}/logout")), "{loc}");
    let q: std::collections::HashMap<String, String> = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert!(q.contains_key("id_token_hint"));
    assert_eq!(q["post_logout_redirect_uri"], format!("{APP_URL}/logout"));
    assert!(!b.is_logged_in().await, "the local session goes first");
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("logged out"));
    assert!(!b.is_logged_in().await);
}

/// A return to the logout page with a wrong `state` gets the error view.
pub async fn logout_return_with_wrong_state_is_rejected<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let page = b.get("/logout").await;
    assert_eq!(page.status, StatusCode::FOUND);
    let page = b.get("/logout?state=forged").await;
    assert_eq!(page.error(), "invalid_state");
    assert!(!b.is_logged_in().await);
}

/// Logout with no session shows the logged-out page.
pub async fn logout_without_session<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let page = b.get("/logout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("logged out"));
}

/// A provider without an `end_session_endpoint`: logout is local, with no trip to it.
pub async fn logout_without_end_session_is_local<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        static_metadata: true,
        metadata: Box::new(|mut m| {
            m.end_session_endpoint = None;
            m
        }),
        ..Default::default()
    });
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let page = b.get("/logout").await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "no redirect: {:?}",
        page.location()
    );
    assert!(page.text().contains("logged out"));
    assert!(!b.is_logged_in().await);
    assert_eq!(bench.provider.counters().logout, 0);
}

fn flow_bench<A: App>(response_type: &'static str, mode: Option<&'static str>) -> Bench<A> {
    Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| {
            let c = c.response_type(response_type);
            match mode {
                Some(m) => c.response_mode(m),
                None => c,
            }
        }),
        // form_post arrives as a cross-site POST: only an https app can keep its login cookie.
        https: mode == Some("form_post"),
        ..Default::default()
    })
}

/// Rewrites the parameters of a provider answer (query or fragment) with `edit`.
fn edit_params(back: &str, edit: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    let (base, sep, params) = match back.find(['#', '?']) {
        Some(i) => (&back[..i], &back[i..=i], &back[i + 1..]),
        None => (back, "?", ""),
    };
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(params.as_bytes())
        .into_owned()
        .collect();
    edit(&mut pairs);
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}{sep}{encoded}")
}

async fn flow_rejected<A: App>(
    bench: &Bench<A>,
    tamper: impl FnOnce(&mut Vec<(String, String)>),
    expected_error: &str,
) {
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = edit_params(&b.authorize(&auth, "alice"), tamper);
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), expected_error, "{}", page.text());
    assert!(
        !b.is_logged_in().await,
        "a rejected login must leave no session"
    );
}

/// Every response type, with its default mode and with `form_post` (and `code` with
/// `fragment` too), logs in; tokens land where they should.
pub async fn every_flow_succeeds<A: App>() {
    let combos: [(&str, Option<&str>); 13] = [
        ("code", None),
        ("code", Some("fragment")),
        ("code", Some("form_post")),
        ("id_token", None),
        ("id_token", Some("form_post")),
        ("id_token token", None),
        ("id_token token", Some("form_post")),
        ("code id_token", None),
        ("code id_token", Some("form_post")),
        ("code token", None),
        ("code token", Some("form_post")),
        ("code id_token token", None),
        ("code id_token token", Some("form_post")),
    ];
    for (rt, mode) in combos {
        let bench = flow_bench::<A>(rt, mode);
        let mut b = bench.browser();
        let page = b.login("/?p=1", "alice").await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{rt} {mode:?}: {}",
            page.text()
        );
        let v = page.json();
        assert_eq!(v["sub"], "alice", "{rt} {mode:?}");
        let has_access = rt != "id_token";
        assert_eq!(v["access_token_present"], has_access, "{rt} {mode:?}");
        assert_eq!(v["userinfo"].is_object(), has_access, "{rt} {mode:?}");
        let token_calls = bench.provider.counters().token;
        assert_eq!(token_calls > 0, rt.contains("code"), "{rt} {mode:?}");
    }
}

/// A cross-site `form_post` carries no `SameSite=Lax` cookie; the `SameSite=None; Secure`
/// login cookie lets the login finish, and is removed afterwards; the session cookie it
/// leads to is `SameSite=Lax; Secure`.
pub async fn form_post_survives_cross_site_post<A: App>() {
    let bench = flow_bench::<A>("code", Some("form_post"));
    let mut b = bench.browser();
    let page = b.get("/").await;
    let cookies: Vec<String> = page
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let login_cookie = cookies
        .iter()
        .find(|c| c.starts_with("oidc_session_login_"))
        .expect("a login cookie for form_post");
    assert!(login_cookie.contains("SameSite=None") && login_cookie.contains("Secure"));
    let login_name = login_cookie.split('=').next().unwrap().to_owned();
    let auth = page.location().unwrap();
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let cookies: Vec<String> = page
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("{login_name}=;"))),
        "the login cookie is removed after login: {cookies:?}"
    );
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with("oidc_session="))
        .unwrap();
    assert!(session_cookie.contains("SameSite=Lax") && session_cookie.contains("Secure"));
    assert!(b.is_logged_in().await);
}

/// Implicit flow without `nonce` in the ID token.
pub async fn implicit_missing_nonce_is_rejected<A: App>() {
    let bench = flow_bench::<A>("id_token", None);
    bench.provider.set_misbehavior(Misbehavior::OmitNonce);
    flow_rejected(&bench, |_| {}, "invalid_response").await;
}

/// Implicit flow with a wrong `nonce`.
pub async fn implicit_wrong_nonce_is_rejected<A: App>() {
    let bench = flow_bench::<A>("id_token token", None);
    bench.provider.set_misbehavior(Misbehavior::WrongNonce);
    flow_rejected(&bench, |_| {}, "invalid_response").await;
}

/// An access token swapped in the fragment no longer matches `at_hash`.
pub async fn bad_at_hash_is_rejected<A: App>() {
    let bench = flow_bench::<A>("id_token token", None);
    flow_rejected(
        &bench,
        |p| {
            for (k, v) in p.iter_mut() {
                if k == "access_token" {
                    *v = "swapped-token".into();
                }
            }
        },
        "invalid_response",
    )
    .await;
}

/// `id_token token` whose ID token has no `at_hash`.
pub async fn missing_at_hash_is_rejected<A: App>() {
    let bench = flow_bench::<A>("id_token token", None);
    bench.provider.set_misbehavior(Misbehavior::OmitAtHash);
    flow_rejected(&bench, |_| {}, "invalid_response").await;
}

/// A code swapped in a hybrid response no longer matches `c_hash`.
pub async fn bad_c_hash_is_rejected<A: App>() {
    let bench = flow_bench::<A>("code id_token", None);
    flow_rejected(
        &bench,
        |p| {
            for (k, v) in p.iter_mut() {
                if k == "code" {
                    v.push('x');
                }
            }
        },
        "invalid_response",
    )
    .await;
    assert_eq!(
        bench.provider.counters().token,
        0,
        "no code exchange for a bad c_hash"
    );
}

/// Hybrid flow whose token-endpoint ID token names another subject.
pub async fn hybrid_subject_substitution_is_rejected<A: App>() {
    let bench = flow_bench::<A>("code id_token", None);
    bench
        .provider
        .set_misbehavior(Misbehavior::TokenEndpointOtherSub);
    flow_rejected(&bench, |_| {}, "invalid_response").await;
}

/// A front-channel access token without its ID token is never trusted.
pub async fn front_channel_token_without_id_token_is_rejected<A: App>() {
    let bench = flow_bench::<A>("id_token token", None);
    flow_rejected(
        &bench,
        |p| p.retain(|(k, _)| k != "id_token"),
        "invalid_response",
    )
    .await;
    let bench = flow_bench::<A>("code id_token token", None);
    flow_rejected(
        &bench,
        |p| p.retain(|(k, _)| k != "id_token"),
        "invalid_response",
    )
    .await;
}

/// Tokens in a query string are refused outright.
pub async fn tokens_in_query_are_rejected<A: App>() {
    let bench = flow_bench::<A>("id_token token", None);
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice").replace('#', "?");
    let page = b.get(&back).await;
    assert_eq!(page.error(), "invalid_response");
    assert!(!b.is_logged_in().await);
}

/// The fragment page works under any redirect path: it posts to its own URL.
pub async fn fragment_page_under_prefix<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.response_type("id_token")),
        ..Default::default()
    });
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    let body = page.text();
    assert!(
        body.contains("<noscript>"),
        "explains itself without JavaScript"
    );
    assert!(
        !body.contains("http://") && !body.contains("https://"),
        "no third-party loads"
    );
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.status, StatusCode::FOUND);
}

/// Discovery or static metadata, each with a static or a dynamically registered client: all
/// four log in, and a dynamic registration happens once, not per login.
pub async fn every_configuration_combination_works<A: App>() {
    for (static_metadata, dynamic_registration) in
        [(false, false), (false, true), (true, false), (true, true)]
    {
        let bench = Bench::<A>::with(BenchOptions {
            static_metadata,
            dynamic_registration,
            ..Default::default()
        });
        let label = format!("static_metadata={static_metadata} dynamic={dynamic_registration}");
        for user in ["alice", "bob"] {
            let mut b = bench.browser();
            let page = b.login("/", user).await;
            assert_eq!(page.status, StatusCode::OK, "{label}: {}", page.text());
            assert_eq!(page.json()["sub"], user, "{label}");
        }
        let c = bench.provider.counters();
        assert_eq!(c.registration, u64::from(dynamic_registration), "{label}");
        // With static metadata, the one discovery request is the bench's own, made to build
        // that metadata; the relying party never asks.
        assert_eq!(c.discovery, 1, "{label}");
        if dynamic_registration {
            let req = bench.provider.last_token_request().unwrap();
            assert!(
                req.headers().contains_key("authorization"),
                "registered secret is used"
            );
        }
    }
}

/// A registration the provider refuses reaches the error view; once it accepts, logins work.
pub async fn registration_error_is_reported<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        ..Default::default()
    });
    bench.transport.fail(
        "/register",
        Fault::Respond(
            400,
            r#"{"error":"invalid_client_metadata","error_description":"no"}"#.into(),
        ),
    );
    let mut b = bench.browser();
    assert_eq!(b.get("/").await.error(), "invalid_client_metadata");
    assert!(!b.is_logged_in().await);
    assert!(!bench.rp.ready().await);
    bench.transport.clear();
    assert!(bench.rp.ready().await);
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
}

/// A registered secret that expires triggers a new registration at the next login.
pub async fn expired_registration_registers_again<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        ..Default::default()
    });
    // The first registration answers with the bench's known client and a secret that expires
    // in a minute.
    let expires = oidc_core::Clock::now(bench.clock.as_ref()) + 60;
    bench.transport.fail(
        "/register",
        Fault::Respond(
            201,
            format!(
                r#"{{"client_id":"{}","client_secret":"{}","client_secret_expires_at":{expires}}}"#,
                crate::harness::CLIENT_ID,
                crate::harness::CLIENT_SECRET
            ),
        ),
    );
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    bench.transport.clear();
    assert_eq!(bench.provider.counters().registration, 0);
    bench.clock.advance(61);
    let mut b2 = bench.browser();
    assert_eq!(b2.login("/", "bob").await.status, StatusCode::OK);
    assert_eq!(
        bench.provider.counters().registration,
        1,
        "registered again"
    );
}

/// A session from one provider does not satisfy a route that requires another.
pub async fn providers_are_chosen_per_route<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        ..Default::default()
    });
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.json()["provider"], "default");
    let page = b.get_json("/second").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let auth = b.start_login("/second").await;
    assert!(auth.starts_with(crate::harness::ISSUER2), "{auth}");
    let back = b.authorize(&auth, "carol");
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["provider"], "second");
    assert_eq!(page.json()["sub"], "carol");
}

/// Mix-up defence: a callback for a login started with one provider that carries the other
/// provider's `iss`, or its code, leaves no session.
pub async fn mix_up_is_rejected<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        ..Default::default()
    });
    // The other provider's iss on this provider's response.
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = edit_params(&b.authorize(&auth, "alice"), |p| {
        for (k, v) in p.iter_mut() {
            if k == "iss" {
                *v = crate::harness::ISSUER2.into();
            }
        }
    });
    let page = b.get(&back).await;
    assert_eq!(page.error(), "invalid_response");
    assert!(!b.is_logged_in().await);
    // A code from the first provider injected into a login with the second.
    let mut attacker = bench.browser();
    let auth_a = attacker.start_login("/").await;
    let code_a: String = url::Url::parse(&attacker.authorize(&auth_a, "mallory"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut victim = bench.browser();
    let auth_b = victim.start_login("/second").await;
    let back_b = edit_params(&victim.authorize(&auth_b, "victim"), |p| {
        for (k, v) in p.iter_mut() {
            if k == "code" {
                *v = code_a.clone();
            }
        }
    });
    let page = victim.get(&back_b).await;
    page.error();
    assert!(!victim.is_logged_in().await);
    assert_eq!(
        victim.get_json("/second").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A code-flow response without `iss` from a provider that promises it is refused, even when
/// an (unvalidated, for this flow) `id_token` parameter is slipped in to claim the exemption.
pub async fn missing_iss_is_rejected_in_the_code_flow<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = edit_params(&b.authorize(&auth, "alice"), |p| {
        p.retain(|(k, _)| k != "iss");
        p.push(("id_token".into(), "a.b.c".into()));
    });
    // A GET with an id_token is refused outright; the form body is the real attempt.
    let (base, params) = back.split_once('?').unwrap();
    let page = b
        .send(
            http::Request::post(base)
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(bytes::Bytes::from(params.to_owned()))
                .unwrap(),
        )
        .await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    assert!(!b.is_logged_in().await);
}

/// Discovered metadata is refreshed after its maximum age; when the provider is down then, the
/// cached copy keeps logins working.
pub async fn metadata_cache_survives_outage<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.metadata_max_age(std::time::Duration::from_secs(3600))),
        ..Default::default()
    });
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    assert_eq!(bench.provider.counters().discovery, 1);
    bench.clock.advance(3601);
    bench
        .transport
        .fail("/.well-known/openid-configuration", Fault::Refused);
    let mut b2 = bench.browser();
    assert_eq!(
        b2.login("/", "bob").await.status,
        StatusCode::OK,
        "cached copy used"
    );
    bench.transport.clear();
    bench.clock.advance(11);
    let mut b3 = bench.browser();
    assert_eq!(b3.login("/", "carol").await.status, StatusCode::OK);
    assert_eq!(
        bench.provider.counters().discovery,
        2,
        "refreshed once it answered"
    );
}

fn refresh_bench<A: App>() -> Bench<A> {
    Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.session_refresh_interval(std::time::Duration::from_secs(60))),
        ..Default::default()
    })
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Silent refresh: after the interval, a page request re-authenticates with `prompt=none`; the
/// session's tokens and claims are renewed and the user lands on the page asked for.
pub async fn silent_refresh_updates_the_session<A: App>() {
    let bench = refresh_bench::<A>();
    let mut b = bench.browser();
    let first = b.login("/", "alice").await.json();
    bench.clock.advance(30);
    assert_eq!(b.get("/").await.status, StatusCode::OK, "not due yet");
    bench.clock.advance(31);
    // API clients are served from the session meanwhile.
    assert!(b.is_logged_in().await);
    let auth = b.start_login("/?after=refresh").await;
    assert_eq!(query_of(&auth)["prompt"], "none");
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.location().as_deref(), Some("/?after=refresh"));
    let page = b.follow(page).await;
    let second = page.json();
    assert_eq!(second["sub"], "alice");
    assert_ne!(
        first["id_token_claims"]["iat"], second["id_token_claims"]["iat"],
        "a new ID token"
    );
    assert_eq!(b.get("/").await.status, StatusCode::OK, "interval restarts");
}

/// Silent refresh answered `login_required`: the user is sent to an interactive login.
pub async fn silent_refresh_login_required_goes_interactive<A: App>() {
    let bench = refresh_bench::<A>();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    bench.clock.advance(61);
    let auth = b.start_login("/").await;
    assert_eq!(query_of(&auth)["prompt"], "none");
    // An empty username: the provider has no session for this user.
    let back = b.authorize(&auth, "");
    assert!(back.contains("error=login_required"), "{back}");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let interactive = page.location().unwrap();
    assert!(interactive.starts_with(ISSUER));
    assert!(
        !query_of(&interactive).contains_key("prompt"),
        "{interactive}"
    );
    let back = b.authorize(&interactive, "alice");
    let page = b.deliver(&interactive, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
}

/// Silent refresh answered with another error: the error view.
pub async fn silent_refresh_other_error_goes_to_error_view<A: App>() {
    let bench = refresh_bench::<A>();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    bench.clock.advance(61);
    bench.provider.set_misbehavior(Misbehavior::AuthorizeError {
        error: "server_error".into(),
        error_description: None,
    });
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    assert_eq!(b.deliver(&auth, &back).await.error(), "server_error");
}

/// The default (HTML) error view escapes what the provider sent.
pub async fn error_view_escapes_provider_text<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(|r| r.error_view(oidc_core::HtmlErrorView)),
        ..Default::default()
    });
    bench.provider.set_misbehavior(Misbehavior::AuthorizeError {
        error: "access_denied".into(),
        error_description: Some("<script>alert(1)</script>".into()),
    });
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let body = page.text();
    assert!(!body.contains("<script>"), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!b.is_logged_in().await);
}

/// Two app instances on one shared session store (Redis, in CI): a login through one is a
/// login on both, a logout on one is a logout on both; and when the store is down (`outage`
/// stops it) a request gets a clear error page, not a panic.
pub async fn shared_sessions_across_instances<A: App>(
    store_a: std::sync::Arc<dyn oidc_core::SessionStore>,
    store_b: std::sync::Arc<dyn oidc_core::SessionStore>,
    outage: impl FnOnce(),
) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(move |r| r.session_store(store_a)),
        start_time: Some(now),
        ..Default::default()
    });
    let instance_b = bench.another_instance(store_b);
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    b.use_app(&instance_b);
    let page = b.get_json("/").await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "logged in on the other instance"
    );
    assert_eq!(page.json()["sub"], "alice");
    // The same session cookie, presented to instance A by another tab.
    let mut on_a = bench.browser();
    on_a.set_app_cookie("oidc_session", b.session_cookie().unwrap());
    assert!(on_a.is_logged_in().await);
    // Log out on instance B (through the provider): instance A has forgotten the session too.
    let page = b.get("/logout").await;
    let page = b.follow(page).await;
    assert!(page.text().contains("logged out"), "{}", page.text());
    assert!(!b.is_logged_in().await);
    assert!(!on_a.is_logged_in().await, "logged out on both instances");
    b = bench.browser();
    // A second login through B is seen by A.
    b.use_app(&instance_b);
    assert_eq!(b.login("/", "bob").await.status, StatusCode::OK);
    let cookie = b.session_cookie().unwrap().to_owned();
    on_a.set_app_cookie("oidc_session", &cookie);
    assert!(on_a.is_logged_in().await);
    // The store goes away: a clear error page.
    outage();
    let page = on_a.get("/").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.text()
    );
    assert_eq!(page.error(), "session_store_unavailable");
}

/// A login cookie changed by the client (one byte flipped, or another login's cookie copied
/// under its name) is refused as an unsolicited response, and nothing changes: the browser is
/// still logged in as the same user, and with its real cookie back the login in progress
/// still completes.
pub async fn tampered_login_cookie_is_refused<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    // A logged-in user starting another login (the app's "switch account" link).
    let auth = b.start_login("/login?next=%2F%3Fpending%3D1").await;
    let back = b.authorize(&auth, "bob");
    let names = b.login_cookie_names();
    assert_eq!(names.len(), 1, "one login cookie per login in progress");
    let name = names[0].clone();
    let real = b.app_cookie(&name).unwrap().to_owned();
    let mut flipped = real.clone().into_bytes();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let mut other = bench.browser();
    other.start_login("/?other=1").await;
    let other_name = other.login_cookie_names().pop().unwrap();
    let copied = other.app_cookie(&other_name).unwrap().to_owned();
    for forged in [flipped, copied] {
        b.set_app_cookie(&name, &forged);
        let page = b.get(&back).await;
        assert_eq!(page.error(), "unsolicited_response", "{}", page.text());
        let me = b.get_json("/").await;
        assert_eq!(me.status, StatusCode::OK, "still logged in: {}", me.text());
        assert_eq!(me.json()["sub"], "alice", "as the same user");
    }
    b.set_app_cookie(&name, &real);
    let page = b.get(&back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/?pending=1"),
        "{}",
        page.text()
    );
    assert_eq!(b.get_json("/").await.json()["sub"], "bob");
}

/// Instantiates every scenario for one adapter: `scenarios!(axum, MyAxumApp);` gives tests
/// named `axum::code_flow_succeeds`, ...
#[macro_export]
macro_rules! scenarios {
    ($adapter:ident, $app:ty) => {
        $crate::scenarios!(@each $adapter, $app,
            code_flow_succeeds,
            client_secret_post_works,
            provider_error_goes_to_error_view,
            missing_state_is_rejected,
            wrong_state_is_rejected,
            replayed_callback_is_rejected,
            unsolicited_callback_is_rejected,
            wrong_nonce_is_rejected,
            missing_nonce_is_rejected,
            bad_signature_is_rejected,
            unsigned_token_is_rejected,
            wrong_issuer_is_rejected,
            wrong_audience_is_rejected,
            azp_mismatch_is_rejected,
            expired_token_is_rejected,
            future_iat_is_rejected,
            unknown_kid_is_rejected,
            key_rotation_is_followed,
            malformed_callback_is_rejected,
            token_endpoint_failures_are_rejected,
            network_failures_are_rejected,
            userinfo_sub_mismatch_is_rejected,
            userinfo_error_is_rejected,
            jwks_error_is_rejected,
            two_tabs_both_succeed,
            discovery_issuer_mismatch_is_rejected,
            provider_down_then_up,
            off_origin_return_is_rejected,
            api_requests_get_401,
            forged_cookie_is_ignored,
            session_expires,
            logout_via_end_session,
            logout_return_with_wrong_state_is_rejected,
            logout_without_session,
            logout_without_end_session_is_local,
            every_flow_succeeds,
            form_post_survives_cross_site_post,
            implicit_missing_nonce_is_rejected,
            implicit_wrong_nonce_is_rejected,
            bad_at_hash_is_rejected,
            missing_at_hash_is_rejected,
            bad_c_hash_is_rejected,
            hybrid_subject_substitution_is_rejected,
            front_channel_token_without_id_token_is_rejected,
            tokens_in_query_are_rejected,
            fragment_page_under_prefix,
            every_configuration_combination_works,
            registration_error_is_reported,
            expired_registration_registers_again,
            providers_are_chosen_per_route,
            mix_up_is_rejected,
            missing_iss_is_rejected_in_the_code_flow,
            metadata_cache_survives_outage,
            silent_refresh_updates_the_session,
            silent_refresh_login_required_goes_interactive,
            silent_refresh_other_error_goes_to_error_view,
            error_view_escapes_provider_text,
            tampered_login_cookie_is_refused
        );
    };
    (@each $adapter:ident, $app:ty, $($name:ident),* $(,)?) => {
        mod $adapter {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::scenarios::$name::<$app>().await
                }
            )*
        }
    };
}
