//! The scenario suite, written once and run by every adapter: `oidc_testkit::scenarios!(name,
//! AppType)` in an adapter's test file instantiates each scenario as a test named
//! `name::scenario`.
//!
//! Every rejection scenario asserts two things: the user gets the error view (4xx/5xx JSON with
//! `error` and `error_description`), and the state the attack would change (a logged-in
//! browser, a login in progress) is unchanged afterwards. It proves the latter by returning
//! [`Unchanged`], which only [`Before::unchanged`] makes; the `rejections` list of
//! [`scenarios!`](macro@crate::scenarios) requires it.

use http::StatusCode;

use crate::harness::{App, Bench, BenchOptions, Fault, APP_URL, ISSUER};
use crate::unchanged::{logged_in, whoami, Before, Unchanged};
use crate::Misbehavior;
use oidc_runtime::Clock as _;

pub use crate::app_api_scenarios::{
    claims_not_fitting_the_type_are_refused, login_parameters_are_sent_per_request,
    login_parameters_cannot_override_protocol_ones,
    step_up_route_asks_for_its_parameters_through_a_silent_refresh,
    step_up_route_logs_in_again_for_its_acr, step_up_with_another_acr_is_rejected,
    typed_claims_are_read_through_the_adapter,
};

pub use crate::provider_compat_scenarios::{
    bad_signed_userinfo_is_rejected, hmac_id_tokens_log_in,
    hs256_token_for_an_rs256_client_is_rejected, signed_userinfo_is_accepted,
    tenant_issuer_logs_in, tenant_token_mismatches_are_rejected, userinfo_method_is_followed,
};
pub use crate::provider_compat_scenarios::{
    negotiated_hmac_is_refused_where_not_agreed,
    plain_userinfo_is_refused_when_signed_is_configured,
};

pub use crate::client_auth_scenarios::{
    client_secret_jwt_login_works, dynamic_registration_sends_the_jwks_uri,
    negotiated_method_follows_discovery, no_jwks_route_without_a_key,
    pinned_unadvertised_method_is_a_configuration_error, private_key_jwt_login_works,
    private_key_jwt_refresh_and_introspection_work, refused_assertion_changes_nothing,
};

pub use crate::instance_scenarios::instances_share_one_registration;
pub use crate::secret_rotation_scenarios::session_secret_rotation_keeps_sessions;
// Issue 18 (P): pushed authorization requests and signed request objects.
pub use crate::par_scenarios::{
    every_login_start_is_pushed, expired_request_uri_is_refused,
    par_endpoint_failures_show_the_error_view, par_login_succeeds,
    par_required_by_discovery_is_used, par_without_endpoint_is_a_configuration_error,
    pushed_request_object_with_a_bad_signature_is_refused,
    request_object_with_a_bad_signature_is_refused, reused_request_uri_is_refused,
    signed_request_object_login_succeeds, signed_request_object_through_par_succeeds,
};
// Issue 18 (J): JARM and encrypted ID tokens / userinfo.
pub use crate::encryption_scenarios::{
    decryption_key_rotation_logs_in, dynamic_registration_asks_for_encryption,
    encrypted_id_tokens_log_in, encrypted_userinfo_is_accepted, jwe_for_another_key_is_rejected,
    jwe_with_another_algorithm_is_rejected,
    plain_id_token_is_rejected_when_encryption_is_configured,
    unsigned_encrypted_id_token_is_rejected,
};
pub use crate::jarm_scenarios::{
    jarm_bad_signature_is_rejected, jarm_expired_response_is_rejected,
    jarm_login_survives_a_renewed_registration, jarm_logins_succeed,
    jarm_wrong_audience_is_rejected, jarm_wrong_issuer_is_rejected,
    plain_response_to_a_jarm_login_is_rejected,
};
pub use crate::revocation_scenarios::{
    confirmed_logout_revokes_the_tokens, cross_site_logout_cannot_revoke_tokens,
    failed_revocation_still_logs_out, logout_return_cannot_revoke_a_new_sessions_tokens,
    logout_revokes_the_tokens, logout_revokes_with_the_clients_auth_method,
    logout_without_revocation_endpoint_revokes_nothing,
};

pub use crate::channel_logout_scenarios::{
    backchannel_logout_by_subject_ends_every_session_of_the_user,
    backchannel_logout_ends_the_named_session_everywhere,
    backchannel_logout_with_a_rotated_key_is_accepted, dynamic_registration_sends_the_logout_uris,
    forged_kid_flood_is_refused_with_one_jwks_fetch, forged_logout_token_is_rejected,
    frontchannel_logout_ends_the_named_session, frontchannel_logout_mismatches_are_refused,
    id_token_as_logout_token_is_rejected, logout_at_the_provider_reaches_the_app,
    logout_requests_without_one_token_are_refused, logout_token_for_another_audience_is_rejected,
    logout_token_with_a_nonce_is_rejected, logout_token_without_events_is_rejected,
    malformed_logout_tokens_are_rejected, one_provider_session_has_one_sid,
    replayed_logout_token_is_rejected, sessions_without_sid_end_by_subject,
};

// Issue 18 (D): DPoP.
pub use crate::dpop_scenarios::{
    api_accepts_a_dpop_bound_token_with_a_good_proof, dpop_bound_token_sent_as_bearer_is_refused,
    dpop_login_binds_the_tokens_and_calls_userinfo, dpop_nonce_challenge_then_success,
    dpop_proof_for_another_method_is_rejected, dpop_proof_for_another_url_is_rejected,
    dpop_proof_with_a_wrong_ath_is_rejected, dpop_refresh_binds_the_same_key,
    dpop_token_bound_to_another_key_is_rejected, replayed_dpop_proof_is_rejected,
    token_response_without_dpop_type_is_refused,
};

// Issue 18 item 6: the FAPI 2.0 preset.
pub use crate::fapi_scenarios::{
    fapi2_login_uses_every_protection, fapi2_response_without_iss_is_rejected,
    fapi2_rs256_id_token_is_rejected,
};

/// Seconds after which cached keys are fetched again.
const JWKS_CACHE_SECS: u64 = oidc_core::jwks::JWKS_MAX_AGE + 1;

/// A fresh bench whose provider answers a second login (after `alice` logged in) with `m`.
async fn misbehaving<A: App>(m: Misbehavior, expected_error: &str) -> Unchanged {
    let bench = Bench::<A>::new();
    second_login_is_refused(&bench, m, expected_error).await
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

/// The provider's error response (`access_denied`) goes to the error view, and the browser's
/// session from an earlier login is unchanged.
pub async fn provider_error_goes_to_error_view<A: App>() -> Unchanged {
    misbehaving::<A>(
        Misbehavior::AuthorizeError {
            error: "access_denied".into(),
            error_description: Some("the user said no".into()),
        },
        "access_denied",
    )
    .await
}

/// A callback without `state`: refused, and the login in progress is neither consumed nor
/// spoiled (it still completes).
pub async fn missing_state_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let before = Before::take(&mut b).await.with_pending(back.clone());
    let mut url = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "state")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let page = b.get(url.as_str()).await;
    page.error();
    before.unchanged(&mut b).await
}

/// A callback whose `state` matches no login in progress.
pub async fn wrong_state_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::WrongState, "invalid_state").await
}

/// The same callback twice: the second is refused, and a fresh browser replaying it too; the
/// browser that logged in with it stays logged in as the same user, with the same cookie.
pub async fn replayed_callback_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    assert_eq!(b.get(&back).await.status, StatusCode::FOUND);
    let before = Before::take(&mut b).await;
    let mut attacker = bench.browser();
    let page = attacker.get(&back).await;
    assert_eq!(page.error(), "unsolicited_response");
    assert!(!attacker.is_logged_in().await);
    // The same browser replaying (back button) gets the friendly error, and stays logged in.
    let page = b.get(&back).await;
    page.error();
    before.unchanged(&mut b).await
}

/// A callback the browser never started (login CSRF): a victim logged in as `alice`, with a
/// login of her own in progress, is not switched to the attacker's account, and her login
/// still completes.
pub async fn unsolicited_callback_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut victim, before) = logged_in(&bench, "alice").await;
    let mut attacker = bench.browser();
    let auth = attacker.start_login("/").await;
    let back = attacker.authorize(&auth, "mallory");
    let page = victim.get(&back).await;
    assert_eq!(page.error(), "unsolicited_response");
    let _no_login_in_progress = before.unchanged(&mut victim).await;
    // With a login of her own in progress, the forged return matches none of its state.
    let before = Before::take(&mut victim).await;
    let own = victim.start_login("/login").await;
    let before = before.with_pending(victim.authorize(&own, "alice"));
    let page = victim.get(&back).await;
    assert_eq!(page.error(), "invalid_state");
    before.unchanged(&mut victim).await
}

/// Wrong `nonce` in the ID token.
pub async fn wrong_nonce_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::WrongNonce, "invalid_response").await
}

/// Missing `nonce` in the ID token.
pub async fn missing_nonce_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::OmitNonce, "invalid_response").await
}

/// A corrupted signature.
pub async fn bad_signature_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::BadSignature, "invalid_response").await
}

/// `alg: none`.
pub async fn unsigned_token_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::AlgNone, "invalid_response").await
}

/// Wrong `iss`.
pub async fn wrong_issuer_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::WrongIssuer, "invalid_response").await
}

/// Wrong `aud`.
pub async fn wrong_audience_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::WrongAudience, "invalid_response").await
}

/// Several audiences and no `azp`; and an `azp` naming another client.
pub async fn azp_mismatch_is_rejected<A: App>() -> Unchanged {
    let _first =
        misbehaving::<A>(Misbehavior::MultipleAudiencesWithoutAzp, "invalid_response").await;
    misbehaving::<A>(Misbehavior::WrongAzp, "invalid_response").await
}

/// An expired ID token.
pub async fn expired_token_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::Expired, "invalid_response").await
}

/// `iat` an hour in the future.
pub async fn future_iat_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::IssuedInFuture, "invalid_response").await
}

/// A token signed with a key the JWKS never publishes.
pub async fn unknown_kid_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::UnknownKid, "invalid_response").await
}

/// A malformed callback (parameters given twice, a query that does not decode) is refused:
/// a browser logged in as `alice` keeps its session, and its login in progress, whose
/// `state` the first attempt repeats, still completes.
pub async fn malformed_callback_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    let before = before.with_pending(back.clone());
    let page = b.get(&format!("{back}&state=other")).await;
    page.error();
    let page = b.get("/redirect_uri?%%%").await;
    page.error();
    before.unchanged(&mut b).await
}

/// Token endpoint error, 5xx, and non-JSON answers.
pub async fn token_endpoint_failures_are_rejected<A: App>() -> Unchanged {
    let _error = misbehaving::<A>(
        Misbehavior::TokenEndpointError {
            error: "invalid_grant".into(),
        },
        "invalid_grant",
    )
    .await;
    let _status = misbehaving::<A>(Misbehavior::TokenEndpointStatus(503), "invalid_response").await;
    misbehaving::<A>(Misbehavior::TokenEndpointNotJson, "invalid_response").await
}

/// Network failures and timeouts at the token, JWKS and userinfo calls: a second login that
/// meets one leaves the first user logged in.
pub async fn network_failures_are_rejected<A: App>() -> Unchanged {
    let mut proof = None;
    for path in ["/token", "/jwks", "/userinfo"] {
        for fault in [Fault::Refused, Fault::Timeout, Fault::BodyTooLarge] {
            let bench = Bench::<A>::new();
            let (mut b, before) = logged_in(&bench, "alice").await;
            // The login cached the keys; only a fetch after their cache age meets the fault.
            bench.clock.advance(JWKS_CACHE_SECS);
            bench.transport.fail(path, fault.clone());
            let auth = b.start_login("/login").await;
            let back = b.authorize(&auth, "bob");
            let page = b.deliver(&auth, &back).await;
            assert_eq!(page.error(), "provider_unreachable", "{path} {fault:?}");
            proof = Some(before.unchanged(&mut b).await);
            // The app keeps serving: with the fault gone the next login works (once a failed
            // JWKS fetch is no longer remembered, which takes the refetch interval).
            bench.transport.clear();
            if path == "/jwks" {
                bench.clock.advance(5);
            }
            let mut b = bench.browser();
            assert_eq!(
                b.login("/", "alice").await.status,
                StatusCode::OK,
                "{path} {fault:?}"
            );
        }
    }
    proof.expect("at least one fault")
}

/// Userinfo `sub` differs from the ID token's.
pub async fn userinfo_sub_mismatch_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::UserinfoSubMismatch, "invalid_response").await
}

/// Userinfo names the ID token's `sub` and then, behind a name no reader can decode, another:
/// refused, not stored for a lenient reader to find.
pub async fn userinfo_second_sub_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::UserinfoSecondSub, "invalid_response").await
}

/// A correctly signed ID token naming `sub` twice.
pub async fn id_token_repeated_sub_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::IdTokenRepeatedSub, "invalid_response").await
}

/// A correctly signed ID token with a claim nested past the parser's limit, in a claim the
/// validation reads leniently (`acr`): refused, not stored unreadable.
pub async fn id_token_nested_past_the_limit_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::IdTokenNestedPastLimit, "invalid_response").await
}

/// Userinfo answers with an error status.
pub async fn userinfo_error_is_rejected<A: App>() -> Unchanged {
    misbehaving::<A>(Misbehavior::UserinfoStatus(401), "invalid_response").await
}

/// JWKS endpoint fails when the keys are due for a fetch: the second login is refused and the
/// first user stays logged in.
pub async fn jwks_error_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    bench.clock.advance(JWKS_CACHE_SECS);
    bench.provider.set_misbehavior(Misbehavior::JwksStatus(500));
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    before.unchanged(&mut b).await
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

/// A provider's discovery document names another issuer: no login with it starts (the error
/// view says why), and a browser logged in with the other provider keeps its session. (A
/// mismatching document fetched again later never replaces validated cached metadata.)
pub async fn discovery_issuer_mismatch_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        ..Default::default()
    });
    let (mut b, before) = logged_in(&bench, "alice").await;
    bench
        .provider2
        .as_ref()
        .expect("a second provider")
        .set_misbehavior(Misbehavior::DiscoveryIssuerMismatch);
    let page = b.get("/second").await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    before.unchanged(&mut b).await
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

/// The login route refuses return URLs off the app's origin: a logged-in browser sent there
/// keeps its session, and a login it has in progress (another tab) still completes.
pub async fn off_origin_return_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut proof = None;
    for evil in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "/%5Cevil.example",
        "http://app.test:8080/",
    ] {
        let (mut b, before) = logged_in(&bench, "alice").await;
        let auth = b.start_login("/login").await;
        let before = before.with_pending(b.authorize(&auth, "alice"));
        let next: String = form_urlencoded::byte_serialize(evil.as_bytes()).collect();
        let page = b.get(&format!("/login?next={next}")).await;
        assert_eq!(page.error(), "invalid_response", "{evil}");
        proof = Some(before.unchanged(&mut b).await);
    }
    let mut b = bench.browser();
    let page = b.get("/login?next=%2Fdeep%2Fpage").await;
    let auth = page.location().unwrap();
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(page.location().as_deref(), Some("/deep/page"));
    proof.expect("at least one return URL")
}

/// API-style requests are answered `401` with the error JSON, not redirected (and not a
/// server error): they start no login, and a login the browser has in progress (another tab)
/// still completes.
pub async fn api_requests_get_401<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let before = Before::take(&mut b)
        .await
        .with_pending(b.authorize(&auth, "alice"));
    let login_cookies = b.login_cookie_names();
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let page = b
        .send(
            http::Request::post(format!("{APP_URL}/"))
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    assert_eq!(page.error(), "login_required");
    assert_eq!(b.login_cookie_names(), login_cookies, "no login started");
    before.unchanged(&mut b).await
}

/// A forged or foreign session cookie is ignored, and the real session it imitates is left as
/// it was.
pub async fn forged_cookie_is_ignored<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let real = b.session_cookie().unwrap().to_owned();
    let id = real.split('.').next().unwrap();
    let mut forger = bench.browser();
    forger.set_app_cookie("oidc_session", &format!("{id}.forged"));
    assert!(!forger.is_logged_in().await);
    forger.set_app_cookie("oidc_session", id);
    assert!(!forger.is_logged_in().await);
    before.unchanged(&mut b).await
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

/// A return to the logout page with a wrong `state` gets the error view and changes nothing:
/// the logout in progress still finishes with the genuine return, and a browser that logged in
/// again (another tab) after starting the logout keeps its new session.
pub async fn logout_return_with_wrong_state_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let page = b.get("/logout").await;
    assert_eq!(page.status, StatusCode::FOUND);
    let back = b
        .get(&page.location().unwrap())
        .await
        .location()
        .expect("back to the app");
    let page = b.get("/logout?state=forged").await;
    assert_eq!(page.error(), "invalid_state");
    let page = b.get(&back).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(
        page.text().contains("logged out"),
        "the logout still finishes"
    );

    b.login("/", "alice").await;
    let page = b.get("/logout").await;
    b.get(&page.location().unwrap()).await;
    b.login("/", "alice").await;
    let before = Before::take(&mut b).await;
    let page = b.get("/logout?state=forged").await;
    assert_eq!(page.error(), "invalid_state");
    before.unchanged(&mut b).await
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

/// A browser logged in as `alice` on `bench`, with a login in progress in another tab, starts
/// one more login that the provider answers with misbehavior `m`, delivered after `tamper`:
/// it must end in the error view with `expected_error`, and change nothing. Also returns how
/// many token requests the refused answer caused.
async fn flow_rejected<A: App>(
    bench: &Bench<A>,
    m: Misbehavior,
    tamper: impl FnOnce(&mut Vec<(String, String)>),
    expected_error: &str,
) -> (Unchanged, u64) {
    let (mut b, before) = crate::unchanged::logged_in_with_pending(bench, "alice").await;
    bench.provider.set_misbehavior(m);
    let auth = b.start_login("/login").await;
    let back = edit_params(&b.authorize(&auth, "bob"), tamper);
    let tokens = bench.provider.counters().token;
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), expected_error, "{}", page.text());
    let tokens = bench.provider.counters().token - tokens;
    bench.provider.set_misbehavior(Misbehavior::None);
    (before.unchanged(&mut b).await, tokens)
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
        .find(|c| c.starts_with("__Host-oidc_session_login_"))
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
        .find(|c| c.starts_with("__Host-oidc_session="))
        .unwrap();
    assert!(session_cookie.contains("SameSite=Lax") && session_cookie.contains("Secure"));
    assert!(b.is_logged_in().await);
}

/// Implicit flow without `nonce` in the ID token: refused, nothing changed.
pub async fn implicit_missing_nonce_is_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("id_token", None);
    flow_rejected(&bench, Misbehavior::OmitNonce, |_| {}, "invalid_response")
        .await
        .0
}

/// Implicit flow with a wrong `nonce`: refused, nothing changed.
pub async fn implicit_wrong_nonce_is_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("id_token token", None);
    flow_rejected(&bench, Misbehavior::WrongNonce, |_| {}, "invalid_response")
        .await
        .0
}

/// An access token swapped in the fragment no longer matches `at_hash`: refused, nothing
/// changed.
pub async fn bad_at_hash_is_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("id_token token", None);
    flow_rejected(
        &bench,
        Misbehavior::None,
        |p| {
            for (k, v) in p.iter_mut() {
                if k == "access_token" {
                    *v = "swapped-token".into();
                }
            }
        },
        "invalid_response",
    )
    .await
    .0
}

/// `id_token token` whose ID token has no `at_hash`: refused, nothing changed.
pub async fn missing_at_hash_is_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("id_token token", None);
    flow_rejected(&bench, Misbehavior::OmitAtHash, |_| {}, "invalid_response")
        .await
        .0
}

/// A code swapped in a hybrid response no longer matches `c_hash`: refused before the code
/// is exchanged, nothing changed.
pub async fn bad_c_hash_is_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("code id_token", None);
    let (proof, tokens) = flow_rejected(
        &bench,
        Misbehavior::None,
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
    assert_eq!(tokens, 0, "no code exchange for a bad c_hash");
    proof
}

/// Hybrid flow whose token-endpoint ID token names another subject: refused, nothing changed.
pub async fn hybrid_subject_substitution_is_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("code id_token", None);
    flow_rejected(
        &bench,
        Misbehavior::TokenEndpointOtherSub,
        |_| {},
        "invalid_response",
    )
    .await
    .0
}

/// A front-channel access token without its ID token is never trusted: refused, nothing
/// changed, in the implicit and the hybrid flow.
pub async fn front_channel_token_without_id_token_is_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("id_token token", None);
    let _implicit = flow_rejected(
        &bench,
        Misbehavior::None,
        |p| p.retain(|(k, _)| k != "id_token"),
        "invalid_response",
    )
    .await;
    let bench = flow_bench::<A>("code id_token token", None);
    flow_rejected(
        &bench,
        Misbehavior::None,
        |p| p.retain(|(k, _)| k != "id_token"),
        "invalid_response",
    )
    .await
    .0
}

/// Tokens in a query string are refused outright: a browser logged in as `alice` keeps its
/// session, and its login in progress (another tab) still completes.
pub async fn tokens_in_query_are_rejected<A: App>() -> Unchanged {
    let bench = flow_bench::<A>("id_token token", None);
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob").replace('#', "?");
    let page = b.get(&back).await;
    assert_eq!(page.error(), "invalid_response");
    before.unchanged(&mut b).await
}

/// The fragment page works under any redirect path: with two providers the redirect URIs sit
/// under a prefix (`/redirect_uri/<name>`), and the page there posts to its own URL.
pub async fn fragment_page_under_prefix<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.response_type("id_token")),
        second_provider: true,
        ..Default::default()
    });
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    assert!(
        back.starts_with(&format!("{APP_URL}/redirect_uri/default#")),
        "{back}"
    );
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
/// The refusal meets a re-registration (the first registration's secret has expired), so a
/// browser logged in through the first one tries to log in again, gets the error view too,
/// and its session is unchanged.
pub async fn registration_error_is_reported<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        ..Default::default()
    });
    let (mut carol, before) =
        crate::hardening_scenarios::logged_in_on_expiring_registration(&bench, "carol").await;
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
    assert_eq!(carol.get("/login").await.error(), "invalid_client_metadata");
    assert!(!bench.rp.ready().await);
    bench.transport.clear();
    // A failed registration is backed off for the retry interval (10 s), not retried per
    // request.
    let calls = bench.transport.calls("/register");
    assert!(!bench.rp.ready().await, "backed off");
    assert_eq!(bench.transport.calls("/register"), calls);
    bench.clock.advance(11);
    assert!(bench.rp.ready().await);
    let proof = before.unchanged(&mut carol).await;
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    proof
}

/// A registered secret that expires triggers a new registration at the next login.
pub async fn expired_registration_registers_again<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        ..Default::default()
    });
    // The first registration answers with the bench's known client and a secret that expires
    // in a minute.
    let expires = oidc_runtime::Clock::now(bench.clock.as_ref()) + 60;
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
/// provider's `iss`, or its code, is refused and changes nothing: the browser stays logged in
/// as before (with the first provider only), and its login in progress still completes.
pub async fn mix_up_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        ..Default::default()
    });
    // The other provider's iss on this provider's response.
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = edit_params(&b.authorize(&auth, "bob"), |p| {
        for (k, v) in p.iter_mut() {
            if k == "iss" {
                *v = crate::harness::ISSUER2.into();
            }
        }
    });
    let page = b.get(&back).await;
    assert_eq!(page.error(), "invalid_response");
    let _iss = before.unchanged(&mut b).await;
    // A code from the first provider injected into a login with the second.
    let (mut victim, before) = crate::unchanged::logged_in_with_pending(&bench, "victim").await;
    let mut attacker = bench.browser();
    let auth_a = attacker.start_login("/").await;
    let code_a: String = url::Url::parse(&attacker.authorize(&auth_a, "mallory"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
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
    assert_eq!(
        victim.get_json("/second").await.status,
        StatusCode::UNAUTHORIZED
    );
    before.unchanged(&mut victim).await
}

/// A code-flow response without `iss` from a provider that promises it is refused, even when
/// an (unvalidated, for this flow) `id_token` parameter is slipped in to claim the exemption;
/// the browser stays logged in as before and its login in progress still completes.
pub async fn missing_iss_is_rejected_in_the_code_flow<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = edit_params(&b.authorize(&auth, "bob"), |p| {
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
    before.unchanged(&mut b).await
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

/// Silent refresh answered with another error: the error view, and the session is left as it
/// was (the same user, the same cookie, the same stored session).
pub async fn silent_refresh_other_error_goes_to_error_view<A: App>() -> Unchanged {
    let bench = refresh_bench::<A>();
    let (mut b, before) = logged_in(&bench, "alice").await;
    bench.clock.advance(61);
    bench.provider.set_misbehavior(Misbehavior::AuthorizeError {
        error: "server_error".into(),
        error_description: None,
    });
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    assert_eq!(b.deliver(&auth, &back).await.error(), "server_error");
    before.unchanged(&mut b).await
}

/// The default (HTML) error view escapes what the provider sent; the browser's earlier
/// session and its login in progress (another tab, answered before the provider turned
/// hostile) are unchanged.
pub async fn error_view_escapes_provider_text<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(|r| r.error_view(oidc_core::HtmlErrorView)),
        ..Default::default()
    });
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "carol").await;
    bench.provider.set_misbehavior(Misbehavior::AuthorizeError {
        error: "access_denied".into(),
        error_description: Some("<script>alert(1)</script>".into()),
    });
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let body = page.text();
    assert!(!body.contains("<script>"), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert_eq!(whoami(&mut b).await.as_deref(), Some("carol"));
    before.unchanged(&mut b).await
}

/// Two app instances on one shared session store (Redis, in CI): a login through one is a
/// login on both, a logout on one is a logout on both; and when the store is down (`outage`
/// stops it) a request gets a clear error page, not a panic.
pub async fn shared_sessions_across_instances<A: App>(
    store_a: std::sync::Arc<dyn oidc_runtime::SessionStore>,
    store_b: std::sync::Arc<dyn oidc_runtime::SessionStore>,
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

/// Logs a browser in as `alice` (with a login in progress in another tab), then runs a second
/// login (through `/login`, as `bob`) that the provider answers with misbehavior `m`: it must
/// end in the error view with `expected_error`, and `alice` must still be logged in,
/// untouched, and the other tab's login must still complete.
async fn second_login_is_refused<A: App>(
    bench: &Bench<A>,
    m: Misbehavior,
    expected_error: &str,
) -> Unchanged {
    let (mut b, before) = crate::unchanged::logged_in_with_pending(bench, "alice").await;
    bench.provider.set_misbehavior(m.clone());
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), expected_error, "{m:?}: {}", page.text());
    bench.provider.set_misbehavior(Misbehavior::None);
    before.unchanged(&mut b).await
}

/// An ID token whose `nbf` lies an hour ahead (beyond the skew) is refused; the browser's
/// existing session is left as it was.
pub async fn future_nbf_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    second_login_is_refused(&bench, Misbehavior::NotYetValid, "invalid_response").await
}

/// With `max_age` configured, the request carries it and the ID token must carry an
/// `auth_time` no older: a provider that answers with an hour-old `auth_time`, or none, does
/// not log anyone in (OpenID Connect Core 3.1.3.7 item 13), and the existing session stays
/// (the `Unchanged` proof of each refusal).
pub async fn max_age_is_enforced<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.max_age(std::time::Duration::from_secs(60))),
        ..Default::default()
    });
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let q: std::collections::HashMap<String, String> = url::Url::parse(&auth)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["max_age"], "60");
    let _unchanged =
        second_login_is_refused(&bench, Misbehavior::StaleAuthTime, "invalid_response").await;
    second_login_is_refused(&bench, Misbehavior::OmitAuthTime, "invalid_response").await
}

/// With `acr_values` configured, the ID token's `acr` must be one of them: the provider
/// granting the class requested logs in; another class, or none, is refused (strictly) and the
/// existing session stays (the `Unchanged` proof of each refusal).
pub async fn acr_values_are_enforced<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.acr_values(["urn:sim:gold", "urn:sim:silver"])),
        ..Default::default()
    });
    let mut b = bench.browser();
    let page = b.login("/", "carol").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["id_token_claims"]["acr"], "urn:sim:gold");
    let _unchanged =
        second_login_is_refused(&bench, Misbehavior::WrongAcr, "invalid_response").await;
    second_login_is_refused(&bench, Misbehavior::OmitAcr, "invalid_response").await
}

/// Log output captured in memory, for the scenarios that check what is logged.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Log injection: a provider (or anyone who starts a login and forges the callback) sends an
/// `error_description` with CR/LF, a forged log line and an ANSI escape. The log line for the
/// failed login and the error page carry it escaped (`\r\n`, `\u{1b}`), so no line can be
/// forged and no terminal repainted; the browser's existing session, and its login in
/// progress in another tab (answered before the provider turned hostile), are untouched.
pub async fn provider_text_is_escaped_in_logs_and_view<A: App>() -> Unchanged {
    let logs = CapturedLogs::default();
    let capture = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish(),
    );
    // With a single registered dispatcher, tracing computes a callsite's interest from the
    // default of whichever thread reaches it first: another test's thread, with no subscriber,
    // would cache "never" for the callsites this test listens to. A second live dispatcher
    // makes it ask every registered one instead.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::dispatcher::set_default(&capture);
    let bench = Bench::<A>::with(BenchOptions {
        rp: Box::new(|r| r.error_view(oidc_core::HtmlErrorView)),
        ..Default::default()
    });
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    bench.provider.set_misbehavior(Misbehavior::AuthorizeError {
        error: "access_denied".into(),
        error_description: Some(
            "no\r\n2026-01-01T00:00:00Z  INFO forged: login completed \u{1b}[2Jcleared".into(),
        ),
    });
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.get(&back).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let body = page.text();
    for raw in ['\r', '\u{1b}'] {
        assert!(
            !body.contains(raw),
            "raw {raw:?} in the error view: {body:?}"
        );
    }
    assert!(
        !body.contains("\nINFO") && !body.contains("\n2026"),
        "{body:?}"
    );
    assert!(
        body.contains(r"no\r\n2026-01-01T00:00:00Z  INFO forged") && body.contains(r"\u{1b}[2J"),
        "{body:?}"
    );

    let logged = logs.text();
    let failure = logged
        .lines()
        .find(|l| l.contains("login failed"))
        .unwrap_or_else(|| panic!("no log line for the failed login: {logged}"));
    assert!(
        failure.contains(r"no\r\n2026-01-01T00:00:00Z  INFO forged"),
        "{failure}"
    );
    assert!(
        !logged.contains('\r') && !logged.contains('\u{1b}'),
        "{logged:?}"
    );
    assert!(
        !logged
            .lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00Z")),
        "a forged line: {logged}"
    );
    let me = b.get_json("/").await;
    assert_eq!(me.status, StatusCode::OK, "the session survives");
    assert_eq!(me.json()["sub"], "alice");
    before.unchanged(&mut b).await
}

/// RFC 9700 4.4 mix-up with providers that do not send the RFC 9207 `iss` (most today): the
/// attacker's provider (`second`) bounces the victim's login to the honest one (`default`)
/// with the victim's `state`, nonce and code challenge, for the redirect URI the honest
/// provider has registered for this app. The honest provider's code comes back, without
/// `iss`, on the honest provider's own redirect URI; the app refuses it there because the
/// login was started with `second` (RFC 9700 4.4.2), so neither the code nor the PKCE verifier
/// reaches the attacker's token endpoint. The victim stays logged in as before (a login in
/// progress in another tab still completes), and the spent login cannot be completed by
/// replaying the response on the attacker's redirect URI.
pub async fn mix_up_without_iss_is_refused_by_redirect_uri<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        ..Default::default()
    });
    let honest = &bench.provider;
    let attacker = bench.provider2.as_ref().expect("a second provider");
    honest.set_iss_parameter(false);
    attacker.set_iss_parameter(false);
    let (mut victim, before) = crate::unchanged::logged_in_with_pending(&bench, "victim").await;
    let auth = victim.start_login("/second").await;
    assert!(auth.starts_with(crate::harness::ISSUER2), "{auth}");
    let honest_redirect = bench.rp.redirect_uri(Some("default")).unwrap().to_owned();
    let attacker_redirect = bench.rp.redirect_uri(Some("second")).unwrap().to_owned();
    assert_ne!(honest_redirect, attacker_redirect);
    let mut bounced = url::Url::parse(&format!("{ISSUER}/authorize")).unwrap();
    for (k, v) in url::Url::parse(&auth).unwrap().query_pairs() {
        let v = if k == "redirect_uri" {
            honest_redirect.clone()
        } else {
            v.into_owned()
        };
        bounced.query_pairs_mut().append_pair(&k, &v);
    }
    let back = victim.authorize(bounced.as_str(), "victim");
    assert!(back.starts_with(&format!("{honest_redirect}?")), "{back}");
    assert!(
        !back.contains("iss="),
        "the honest provider sends no iss: {back}"
    );
    let (honest_tokens, attacker_tokens) = (honest.counters().token, attacker.counters().token);
    let page = victim.get(&back).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    assert_eq!(
        attacker.counters().token,
        attacker_tokens,
        "the honest provider's code never reaches the attacker's token endpoint"
    );
    assert_eq!(honest.counters().token, honest_tokens);
    assert_eq!(
        victim.get_json("/second").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The refused login is spent: the same response on the attacker's redirect URI finds no
    // login to complete (only the other tab's, whose `state` it does not carry).
    let replay = back.replacen(&honest_redirect, &attacker_redirect, 1);
    let page = victim.get(&replay).await;
    assert_eq!(page.error(), "invalid_state", "{}", page.text());
    assert_eq!(attacker.counters().token, attacker_tokens);
    before.unchanged(&mut victim).await
}

/// With several providers each has its own redirect URI, `<redirect uri>/<name>`, sent in its
/// authentication and token requests and routed by the adapter; the shared `/redirect_uri` is
/// no route then. With a single provider, `/redirect_uri` is kept. A dynamically registered
/// client registers its provider's own (the login works, and the provider checks it).
pub async fn each_provider_has_its_own_redirect_uri<A: App>() {
    let single = Bench::<A>::new();
    assert_eq!(
        single.rp.redirect_paths().collect::<Vec<_>>(),
        ["/redirect_uri"]
    );
    assert_eq!(single.rp.redirect_path(), "/redirect_uri");

    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        dynamic_registration: true,
        ..Default::default()
    });
    assert_eq!(
        bench.rp.redirect_paths().collect::<Vec<_>>(),
        ["/redirect_uri/default", "/redirect_uri/second"]
    );
    assert_eq!(bench.rp.redirect_path(), "/redirect_uri/default");
    assert_eq!(bench.rp.route("/redirect_uri"), None);
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(bench.provider.counters().registration, 1);
    let auth = b.start_login("/second").await;
    let q = query_of(&auth);
    assert_eq!(q["redirect_uri"], format!("{APP_URL}/redirect_uri/second"));
    let back = b.authorize(&auth, "carol");
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["provider"], "second");
    let token_req = bench
        .provider2
        .as_ref()
        .unwrap()
        .last_token_request()
        .unwrap();
    let form: std::collections::HashMap<String, String> = form_urlencoded::parse(token_req.body())
        .into_owned()
        .collect();
    assert_eq!(
        form["redirect_uri"],
        format!("{APP_URL}/redirect_uri/second")
    );
}

/// A provider whose metadata sends an endpoint over plain http (here the token endpoint, which
/// would receive the client secret and the code in clear) is refused. Discovered while a user
/// is logged in: the refresh is refused, the cached metadata stays in use (the next login's
/// token request goes to the https endpoint), the user stays logged in as before and a login
/// in progress started meanwhile still completes. Discovered first: the error view names the
/// endpoint, and nothing is sent to it.
pub async fn plain_http_provider_endpoints_are_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.metadata_max_age(std::time::Duration::from_secs(3600))),
        ..Default::default()
    });
    let discovery = bench.provider.handle(
        http::Request::get(format!("{ISSUER}/.well-known/openid-configuration"))
            .body(bytes::Bytes::new())
            .unwrap(),
        oidc_runtime::Clock::now(bench.clock.as_ref()),
    );
    let mut doc: serde_json::Value = serde_json::from_slice(discovery.body()).unwrap();
    doc["token_endpoint"] = "http://op.test/token".into();
    let insecure = Fault::Respond(200, doc.to_string());
    let (mut b, before) = logged_in(&bench, "alice").await;
    bench
        .transport
        .fail("/.well-known/openid-configuration", insecure.clone());
    bench.clock.advance(3601);
    let auth = b.start_login("/login").await;
    let before = before.with_pending(b.authorize(&auth, "alice"));
    let mut b2 = bench.browser();
    let page = b2.login("/", "bob").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let token_req = bench.provider.last_token_request().unwrap();
    assert_eq!(token_req.uri().scheme_str(), Some("https"));
    let proof = before.unchanged(&mut b).await;
    let token_req = bench.provider.last_token_request().unwrap();
    assert_eq!(token_req.uri().scheme_str(), Some("https"));

    let bench = Bench::<A>::new();
    bench
        .transport
        .fail("/.well-known/openid-configuration", insecure);
    let mut b = bench.browser();
    let page = b.get("/").await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    assert!(
        page.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("token_endpoint"),
        "{}",
        page.text()
    );
    assert_eq!(bench.provider.counters().token, 0);
    assert!(!b.is_logged_in().await);
    proof
}

/// An API-style request that needs a logged-in session gets a `401` with a challenge
/// (`WWW-Authenticate: Session realm="<app url>"`, RFC 9110 11.6.1): anonymous, and logged in
/// with another provider than the route's, which leaves that session as it was.
pub async fn session_api_401_has_a_challenge<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        ..Default::default()
    });
    let expected = format!("Session realm=\"{APP_URL}\"");
    let mut b = bench.browser();
    let page = b.get_json("/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        page.headers[http::header::WWW_AUTHENTICATE],
        expected.as_str()
    );
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let before = Before::take(&mut b).await;
    let page = b.get_json("/second").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        page.headers[http::header::WWW_AUTHENTICATE],
        expected.as_str()
    );
    before.unchanged(&mut b).await
}

/// PKCE cannot be off for a public client (RFC 9700 2.1.1): when a dynamic registration made
/// with PKCE disabled comes back public (here the registration made again once the first
/// one's secret expired, while `alice` is logged in), the login stops at a configuration
/// error before the browser is sent to the provider, `alice` stays logged in as before, and
/// the public registration is not kept: once the provider registers a confidential client, a
/// login works.
pub async fn public_registration_without_pkce_is_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        configure: Box::new(|c| c.disable_pkce()),
        ..Default::default()
    });
    // A confidential registration first, whose secret expires in a minute.
    let expires = oidc_runtime::Clock::now(bench.clock.as_ref()) + 60;
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
    let (mut b, before) = logged_in(&bench, "alice").await;
    bench.clock.advance(61);
    let authorizations = bench.provider.counters().authorize;
    let public = serde_json::json!({
        "client_id": "dyn-public",
        "token_endpoint_auth_method": "none",
        "redirect_uris": [format!("{APP_URL}/redirect_uri")],
    });
    bench
        .transport
        .fail("/register", Fault::Respond(201, public.to_string()));
    let page = b.get("/login").await;
    assert_eq!(page.error(), "configuration_error", "{}", page.text());
    assert!(page.text().contains("PKCE"), "{}", page.text());
    assert_eq!(bench.provider.counters().authorize, authorizations);
    let proof = before.unchanged(&mut b).await;
    bench.transport.clear();
    // The refused registration is backed off for the retry interval (10 s).
    bench.clock.advance(11);
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(bench.provider.counters().registration, 1);
    proof
}

/// `GET /logout` with extra request headers (fetch metadata, `Origin`, `Referer`).
async fn get_logout<A: App>(
    b: &mut crate::harness::Browser<'_, A>,
    headers: &[(&str, &str)],
) -> crate::harness::Page {
    let mut req = http::Request::get(format!("{APP_URL}/logout"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    b.send(req.body(bytes::Bytes::new()).unwrap()).await
}

/// `POST /logout` with a form body and extra request headers; the browser's cookies go along.
async fn post_logout<A: App>(
    b: &mut crate::harness::Browser<'_, A>,
    headers: &[(&str, &str)],
    body: &str,
) -> crate::harness::Page {
    let mut req = http::Request::post(format!("{APP_URL}/logout")).header(
        http::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded",
    );
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    b.send(req.body(bytes::Bytes::from(body.to_owned())).unwrap())
        .await
}

/// The CSRF token in a logout confirmation page's form.
fn confirmation_token(page: &crate::harness::Page) -> String {
    let body = page.text();
    let start = body
        .find(r#"name="csrf_token" value=""#)
        .unwrap_or_else(|| panic!("no confirmation form: {body}"))
        + r#"name="csrf_token" value=""#.len();
    body[start..]
        .split('"')
        .next()
        .expect("a quoted value")
        .to_owned()
}

/// The headers of a request from a page of the app itself, a form POST.
const SAME_ORIGIN_POST: &[(&str, &str)] = &[
    ("sec-fetch-site", "same-origin"),
    ("origin", APP_URL),
    ("referer", "http://app.test/logout"),
];

/// Logout CSRF: a logged-in browser sent to `/logout` from another site (each way a browser
/// says so: `Sec-Fetch-Site: cross-site` or `same-site`, a foreign or opaque `Origin`, a
/// foreign `Referer`) stays logged in as the same user, the provider is not asked to end its
/// session, and the browser gets a confirmation page: a no-script, unframeable, uncached form
/// posting a token to the logout route, with no cookie touched; the stored session and a
/// login in progress in another tab are unchanged too.
pub async fn cross_site_logout_gets_a_confirmation_page<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    let cookie = b.session_cookie().map(str::to_owned);
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")],
        &[
            ("sec-fetch-site", "cross-site"),
            ("referer", "http://evil.test/"),
        ],
        &[("origin", "http://evil.test")],
        &[("origin", "null")],
        &[("referer", "http://evil.test/page")],
        &[("referer", "http://app.test.evil.test/")],
    ] {
        let page = get_logout(&mut b, headers).await;
        assert_eq!(page.status, StatusCode::OK, "{headers:?}: {}", page.text());
        assert!(
            page.headers.get(http::header::SET_COOKIE).is_none(),
            "{headers:?}"
        );
        let body = page.text();
        assert!(
            body.contains(r#"<form method="post" action="/logout">"#),
            "{body}"
        );
        assert!(!body.contains("<script"), "{body}");
        assert!(!confirmation_token(&page).is_empty());
        assert_eq!(page.headers["cache-control"], "no-store");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        // The confirmation ends at the provider's end-session endpoint: the form may go there.
        assert!(
            csp.contains(&format!("form-action 'self' {ISSUER};")),
            "{csp}"
        );
        assert_eq!(
            whoami(&mut b).await.as_deref(),
            Some("alice"),
            "{headers:?}"
        );
        assert_eq!(b.session_cookie().map(str::to_owned), cookie);
    }
    assert_eq!(bench.provider.counters().logout, 0);
    before.unchanged(&mut b).await
}

/// Confirming on the page (its form POSTs the token, from the app's own origin) logs out as a
/// same-origin logout does: the local session goes, then RP-initiated logout at the provider,
/// whose return (a cross-site navigation carrying `state`) shows the logged-out page.
pub async fn confirmed_logout_logs_out<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let page = get_logout(&mut b, &[("sec-fetch-site", "cross-site")]).await;
    let token = confirmation_token(&page);
    let page = post_logout(&mut b, SAME_ORIGIN_POST, &format!("csrf_token={token}")).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let loc = page.location().unwrap();
    assert!(loc.starts_with(&format!("{ISSUER}/logout")), "{loc}");
    assert!(query_of(&loc).contains_key("id_token_hint"));
    assert_eq!(whoami(&mut b).await, None, "the local session goes first");
    let back = b.get(&loc).await.location().expect("back to the app");
    let page = get_logout(
        &mut b,
        &[
            ("sec-fetch-site", "cross-site"),
            ("referer", "https://op.test/"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Log out?"), "no state: a confirmation");
    let page = b
        .send(
            http::Request::get(back)
                .header("sec-fetch-site", "cross-site")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("logged out"));
    assert_eq!(whoami(&mut b).await, None);
    assert_eq!(bench.provider.counters().logout, 1);
}

/// Forged logout confirmations are refused with the error view, and the browser stays logged
/// in as the same user: no token, an empty, wrong or repeated token, another session's token,
/// a body that is not a form, a token without the session cookie, the right token from another
/// site (a sibling subdomain's page carries the `SameSite=Lax` cookie), and methods other than
/// `GET` and `POST`; the other session is untouched too. The genuine confirmation still works
/// afterwards.
pub async fn forged_logout_confirmations_are_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, _) = logged_in(&bench, "alice").await;
    let token = confirmation_token(&get_logout(&mut b, &[("sec-fetch-site", "cross-site")]).await);
    let (mut other, _) = logged_in(&bench, "mallory").await;
    let others_token =
        confirmation_token(&get_logout(&mut other, &[("sec-fetch-site", "cross-site")]).await);
    assert_ne!(token, others_token);
    let others_before = Before::take(&mut other).await;
    for (body, headers, expected) in [
        ("", SAME_ORIGIN_POST, "invalid_csrf_token"),
        ("csrf_token=", SAME_ORIGIN_POST, "invalid_csrf_token"),
        ("csrf_token=AAAA", SAME_ORIGIN_POST, "invalid_csrf_token"),
        ("csrf_token=%00%FF", SAME_ORIGIN_POST, "invalid_csrf_token"),
        (
            &format!("csrf_token={token}&csrf_token={token}"),
            SAME_ORIGIN_POST,
            "invalid_csrf_token",
        ),
        (
            &format!("csrf_token={others_token}"),
            SAME_ORIGIN_POST,
            "invalid_csrf_token",
        ),
        (
            &format!("csrf_token={token}"),
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://sub.app.test"),
            ][..],
            "cross_site_request",
        ),
        (
            &format!("csrf_token={token}"),
            &[("sec-fetch-site", "cross-site")][..],
            "cross_site_request",
        ),
        (
            &format!("csrf_token={token}"),
            &[("origin", "null")][..],
            "cross_site_request",
        ),
        (
            &format!("csrf_token={token}"),
            &[("referer", "http://evil.test/")][..],
            "cross_site_request",
        ),
    ] {
        let before = Before::take(&mut b).await;
        let page = post_logout(&mut b, headers, body).await;
        assert_eq!(page.error(), expected, "{body} {headers:?}");
        assert!(page.headers.get(http::header::SET_COOKIE).is_none());
        let _each = before.unchanged(&mut b).await;
    }
    let before = Before::take(&mut b).await;
    // Not a form.
    let page = b
        .send(
            http::Request::post(format!("{APP_URL}/logout"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(bytes::Bytes::from(format!(r#"{{"csrf_token":"{token}"}}"#)))
                .unwrap(),
        )
        .await;
    assert_eq!(page.error(), "invalid_csrf_token");
    // The right token without the session cookie (a cross-site POST withholds it).
    let page = b
        .send_cross_site(
            http::Request::post(format!("{APP_URL}/logout"))
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(bytes::Bytes::from(format!("csrf_token={token}")))
                .unwrap(),
        )
        .await;
    assert_eq!(page.error(), "invalid_csrf_token");
    assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    for method in [http::Method::PUT, http::Method::DELETE] {
        let page = b
            .send(
                http::Request::builder()
                    .method(method.clone())
                    .uri(format!("{APP_URL}/logout"))
                    .body(bytes::Bytes::new())
                    .unwrap(),
            )
            .await;
        assert!(page.status.is_client_error(), "{method}: {}", page.status);
    }
    let proof = before.unchanged(&mut b).await;
    let _other = others_before.unchanged(&mut other).await;
    assert_eq!(bench.provider.counters().logout, 0);
    let page = post_logout(&mut b, SAME_ORIGIN_POST, &format!("csrf_token={token}")).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert_eq!(whoami(&mut b).await, None);
    assert_eq!(whoami(&mut other).await.as_deref(), Some("mallory"));
    proof
}

/// A logout from the app's own pages (`Sec-Fetch-Site: same-origin`, or only an `Origin` or
/// `Referer` of the app), a direct navigation (`Sec-Fetch-Site: none`: typed in, a bookmark)
/// and a client that sends no fetch metadata at all (the demo's `GET /logout`) log out at once,
/// as before: RP-initiated logout at the provider.
pub async fn same_origin_and_direct_logout_still_log_out<A: App>() {
    let bench = Bench::<A>::new();
    for headers in [
        &[
            ("sec-fetch-site", "same-origin"),
            ("referer", "http://app.test/"),
        ][..],
        &[("origin", APP_URL)],
        &[("referer", "http://app.test/page?x=1")],
        &[("sec-fetch-site", "none")],
        &[],
    ] {
        let mut b = bench.browser();
        b.login("/", "alice").await;
        let page = get_logout(&mut b, headers).await;
        assert_eq!(
            page.status,
            StatusCode::FOUND,
            "{headers:?}: {}",
            page.text()
        );
        assert!(
            page.location()
                .unwrap()
                .starts_with(&format!("{ISSUER}/logout")),
            "{headers:?}"
        );
        assert_eq!(whoami(&mut b).await, None, "{headers:?}");
        let page = b.follow(page).await;
        assert!(page.text().contains("logged out"), "{headers:?}");
    }
}

/// The provider's return to the logout route only finishes the logout this browser started:
/// after the user logged in again in the meantime, replaying that return (its `state` is
/// genuine) is refused and leaves the new session as it was.
pub async fn logout_return_cannot_end_a_new_login<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let page = b.get("/logout").await;
    let back = b
        .get(&page.location().unwrap())
        .await
        .location()
        .expect("back to the app");
    assert!(query_of(&back).contains_key("state"), "{back}");
    b.login("/", "alice").await;
    let before = Before::take(&mut b).await;
    let page = b
        .send(
            http::Request::get(back)
                .header("sec-fetch-site", "cross-site")
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.error(), "invalid_state");
    before.unchanged(&mut b).await
}

/// Clickjacking: every HTML page the relying party serves (the default error view, the
/// logged-out page, the logout confirmation, the fragment page) forbids framing, by CSP
/// `frame-ancestors 'none'` and by `X-Frame-Options: DENY` for older browsers. The error view
/// and the logout confirmation are served to a logged-in browser with a login in progress in
/// another tab, which they leave unchanged.
pub async fn own_pages_refuse_framing<A: App>() -> Unchanged {
    fn unframeable(what: &str, page: &crate::harness::Page) {
        let csp = page
            .headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{what}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert_eq!(page.headers["x-frame-options"], "DENY", "{what}");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{what}"
        );
    }
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.response_type("id_token")),
        rp: Box::new(|r| r.error_view(oidc_core::HtmlErrorView)),
        ..Default::default()
    });
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let fragment = b.get(&back).await;
    assert!(fragment.text().contains("<noscript>"));
    unframeable("fragment page", &fragment);
    let page = b.deliver(&auth, &back).await;
    b.follow(page).await;
    assert_eq!(whoami(&mut b).await.as_deref(), Some("alice"));
    let tab = b.start_login("/login").await;
    let tab_back = b.authorize(&tab, "alice");
    let before = Before::take(&mut b).await.with_pending_login(tab, tab_back);
    let page = b.get("/redirect_uri?state=x&code=y").await;
    assert!(page.status.is_client_error(), "{}", page.status);
    unframeable("error view", &page);
    unframeable(
        "logout confirmation",
        &get_logout(&mut b, &[("sec-fetch-site", "cross-site")]).await,
    );
    let proof = before.unchanged(&mut b).await;
    let page = b.get("/logout").await;
    let page = b.follow(page).await;
    assert!(page.text().contains("logged out"));
    unframeable("logged-out page", &page);
    let page = b.get("/logout").await;
    assert!(page.text().contains("logged out"), "without a session");
    unframeable("logged-out page without a session", &page);
    proof
}

/// Silent refresh in an implicit flow answered `login_required`: the fragment page's POST is
/// answered with a redirect to the provider's authorization endpoint, and browsers apply the
/// page's CSP `form-action` to that redirect; so the page allows that endpoint's origin (only
/// when a silent refresh is pending: an interactive login's page allows only the app), and the
/// browser ends at the provider's interactive login.
pub async fn silent_refresh_fragment_page_allows_the_provider<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| {
            c.response_type("id_token token")
                .session_refresh_interval(std::time::Duration::from_secs(60))
        }),
        ..Default::default()
    });
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    let page = b.get(&back).await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self';"),
        "interactive: the app only: {csp}"
    );
    let page = b.deliver(&auth, &back).await;
    b.follow(page).await;
    assert_eq!(whoami(&mut b).await.as_deref(), Some("alice"));
    bench.clock.advance(61);
    let auth = b.start_login("/").await;
    assert_eq!(query_of(&auth)["prompt"], "none");
    let back = b.authorize(&auth, "");
    assert!(back.contains("error=login_required"), "{back}");
    let page = b.get(&back).await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {ISSUER};")),
        "{csp}"
    );
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let interactive = page.location().unwrap();
    assert!(
        interactive.starts_with(&format!("{ISSUER}/")),
        "{interactive}"
    );
    assert!(!query_of(&interactive).contains_key("prompt"));
}

/// Signing-key rotation right after a login (OpenID RP certification
/// `rp-key-rotation-op-sign-key`): the provider's JWKS then holds only a new key, and the very
/// next login, a few seconds later (the 5 s refetch interval), fetches the key set once and
/// succeeds, while the first user stays logged in as themselves.
pub async fn key_rotation_is_picked_up_by_the_next_login<A: App>() {
    let bench = Bench::<A>::new();
    let mut alice = bench.browser();
    assert_eq!(alice.login("/", "alice").await.status, StatusCode::OK);
    let jwks_before = bench.provider.counters().jwks;
    bench.provider.rotate_keys();
    bench.provider.retire_previous_keys();
    bench.clock.advance(5);
    let mut bob = bench.browser();
    let page = bob.login("/", "bob").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "bob");
    assert_eq!(
        bench.provider.counters().jwks,
        jwks_before + 1,
        "exactly one refetch"
    );
    let page = alice.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
}

/// An attacker's pending login answered with a forged front-channel ID token naming a made-up
/// `kid`; the app's answer.
async fn forged_callback<A: App>(
    bench: &Bench<A>,
    attacker: &mut crate::harness::Browser<'_, A>,
    kid: &str,
) -> crate::harness::Page {
    let auth = attacker.start_login("/").await;
    let query: std::collections::HashMap<String, String> = url::Url::parse(&auth)
        .expect("absolute authorization URL")
        .query_pairs()
        .into_owned()
        .collect();
    let now = bench.clock.now();
    let forged = bench.provider.forge_token(
        serde_json::json!({
            "iss": ISSUER, "sub": "victim", "aud": crate::harness::CLIENT_ID,
            "exp": now + 600, "iat": now, "nonce": query["nonce"],
        }),
        kid,
        "JWT",
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &query["state"])
        .append_pair("id_token", &forged)
        .finish();
    attacker
        .send(
            http::Request::post(format!("{APP_URL}/redirect_uri"))
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(bytes::Bytes::from(body))
                .unwrap(),
        )
        .await
}

/// A flood of forged front-channel ID tokens with random `kid`s (implicit flow; each answers a
/// pending login the attacker started) costs at most one JWKS fetch per refetch interval, not
/// one per token, even long after the last fetch; each is refused. A logged-in victim stays
/// logged in as themselves, with the same stored session, and its own login in progress
/// (another tab) still completes; a login another browser started before the flood still
/// completes, and a real key rotation after the flood is still picked up.
pub async fn forged_id_token_flood_costs_one_jwks_fetch_per_interval<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.response_type("id_token")),
        ..Default::default()
    });
    let (mut victim, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    let mut other_tab = bench.browser();
    let pending = other_tab.start_login("/").await;
    // Beyond any "refetch when the cached set is old enough" threshold, within the max age.
    bench.clock.advance(120);
    let mut attacker = bench.browser();
    for round in 0..3 {
        let fetched = bench.provider.counters().jwks;
        for i in 0..10 {
            let page = forged_callback(&bench, &mut attacker, &format!("forged-{round}-{i}")).await;
            assert_eq!(page.error(), "invalid_response", "{}", page.text());
        }
        let fetches = bench.provider.counters().jwks - fetched;
        assert!(
            fetches <= 1,
            "round {round}: {fetches} JWKS fetches for 10 forged tokens"
        );
        bench.clock.advance(5);
    }
    assert!(!attacker.is_logged_in().await);
    let page = victim.get_json("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    let proof = before.unchanged(&mut victim).await;
    let back = other_tab.authorize(&pending, "bob");
    let page = other_tab.deliver(&pending, &back).await;
    let page = other_tab.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "bob");
    // A real rotation right after the flood: the next login picks it up.
    bench.provider.rotate_keys();
    bench.provider.retire_previous_keys();
    bench.clock.advance(5);
    let mut carol = bench.browser();
    let page = carol.login("/", "carol").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    proof
}

/// A login cookie changed by the client (one byte flipped, or another login's cookie copied
/// under its name) is refused as an unsolicited response, and nothing changes: the browser is
/// still logged in as the same user, and with its real cookie back the login in progress
/// still completes, where it was meant to.
pub async fn tampered_login_cookie_is_refused<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    // A logged-in user starting another login (the app's "switch account" link).
    let auth = b.start_login("/login?next=%2F%3Fpending%3D1").await;
    let back = b.authorize(&auth, "bob");
    let before = before.with_pending(back.clone()).landing_on("/?pending=1");
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
        let each = Before::take(&mut b).await;
        b.set_app_cookie(&name, &forged);
        let page = b.get(&back).await;
        assert_eq!(page.error(), "unsolicited_response", "{}", page.text());
        let _each = each.unchanged(&mut b).await;
    }
    b.set_app_cookie(&name, &real);
    let proof = before.unchanged(&mut b).await;
    assert_eq!(b.get_json("/").await.json()["sub"], "bob");
    proof
}

/// The provider signs with each algorithm the relying party supports (RSASSA-PKCS1-v1_5 and
/// RSASSA-PSS with SHA-256/384/512, ECDSA on P-256/384/521, EdDSA on Ed25519 and Ed448), its
/// JWKS publishing the key as that algorithm's (`kty`, `crv`, `alg`, `kid`, `use`), and the
/// relying party allows that algorithm alone: a login completes as the expected user, in the
/// code flow (the token endpoint's ID token) and in the hybrid flow `code id_token token`
/// (whose front-channel ID token carries `at_hash` and `c_hash` made with the algorithm's
/// hash, the curve's for EdDSA). With nothing else allowed, each login proves that the relying
/// party verified a token signed with that algorithm.
pub async fn login_succeeds_with_every_signing_algorithm<A: App>() {
    for alg in crate::SigningAlg::ALL {
        for rt in ["code", "code id_token token"] {
            let bench = Bench::<A>::with(BenchOptions {
                configure: Box::new(move |c| c.response_type(rt).algorithms([alg.name()])),
                ..Default::default()
            });
            bench.provider.set_signing_algorithm(alg);
            let kid = bench.provider.current_kid();
            let jwks = bench.provider.jwks();
            let jwk = jwks["keys"]
                .as_array()
                .expect("a key list")
                .iter()
                .find(|k| k["kid"] == kid.as_str())
                .expect("the signing key is published");
            assert_eq!(jwk["kty"], alg.key_type(), "{alg:?}: {jwk}");
            assert_eq!(jwk["crv"].as_str(), alg.curve(), "{alg:?}: {jwk}");
            assert_eq!(jwk["alg"], alg.name(), "{alg:?}: {jwk}");
            assert_eq!(jwk["use"], "sig", "{alg:?}: {jwk}");
            let mut b = bench.browser();
            let page = b.login("/", "alice").await;
            assert_eq!(page.status, StatusCode::OK, "{alg:?} {rt}: {}", page.text());
            let v = page.json();
            assert_eq!(v["sub"], "alice", "{alg:?} {rt}");
            assert_eq!(v["id_token_claims"]["iss"], ISSUER, "{alg:?} {rt}");
            assert_eq!(v["access_token_present"], true, "{alg:?} {rt}");
        }
    }
}

/// A second login of the logged-in browser `b` (as `bob`) meets the error view for an ID
/// token refused with `expected_description`; any misbehavior is cleared afterwards.
async fn login_as_bob_is_refused<A: App>(
    bench: &Bench<A>,
    b: &mut crate::harness::Browser<'_, A>,
    label: &str,
    expected_description: &str,
) {
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), "invalid_response", "{label}: {}", page.text());
    let description = page.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.contains(expected_description),
        "{label}: refused for another reason: {description}"
    );
    bench.provider.set_misbehavior(Misbehavior::None);
}

/// The relying party allows RS256 alone; the provider, with which the browser logged in,
/// switches to each other algorithm in turn (a new key, correctly published, which the
/// relying party could fetch: each attempt comes a refetch interval after the last): every ID
/// token is refused for its algorithm (`algorithm ... is not allowed`) before any key is
/// looked at (no JWKS fetch), and the browser's session stays as it was.
pub async fn disallowed_signing_algorithm_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.algorithms(["RS256"])),
        ..Default::default()
    });
    let (mut b, before) = logged_in(&bench, "alice").await;
    for alg in crate::SigningAlg::ALL {
        if alg == crate::SigningAlg::Rs256 {
            continue;
        }
        bench.provider.set_signing_algorithm(alg);
        bench
            .clock
            .advance(oidc_core::jwks::DEFAULT_REFETCH_INTERVAL);
        let fetches = bench.provider.counters().jwks;
        let expected = format!("algorithm `{}` is not allowed", alg.name());
        login_as_bob_is_refused(&bench, &mut b, &format!("{alg:?}"), &expected).await;
        assert_eq!(
            bench.provider.counters().jwks,
            fetches,
            "{alg:?}: no key was looked for"
        );
    }
    before.unchanged(&mut b).await
}

/// An ID token whose header names another algorithm than its key's JWK: the provider's RSA
/// key is published for RS256 (`"alg": "RS256"`), and the token says PS256 (or PS384, PS512,
/// RS384, RS512) over a real signature of that algorithm by that very key. The relying party
/// allows every algorithm and RSA keys fit them all, so only the JWK's `alg` (RFC 7517 4.4: the
/// algorithm intended for the key) can refuse it, and does: no published key verifies it. The
/// browser's session stays as it was.
pub async fn alg_other_than_the_jwk_names_is_rejected<A: App>() -> Unchanged {
    use crate::SigningAlg::{Ps256, Ps384, Ps512, Rs384, Rs512};
    let bench = Bench::<A>::new();
    let (mut b, before) = logged_in(&bench, "alice").await;
    let kid = bench.provider.current_kid();
    let jwks = bench.provider.jwks();
    assert!(
        jwks["keys"]
            .as_array()
            .expect("a key list")
            .iter()
            .any(|k| k["kid"] == kid.as_str() && k["kty"] == "RSA" && k["alg"] == "RS256"),
        "{jwks}"
    );
    for label in [Ps256, Ps384, Ps512, Rs384, Rs512] {
        bench
            .provider
            .set_misbehavior(Misbehavior::MislabelledAlg(label));
        let name = format!("{label:?}");
        login_as_bob_is_refused(&bench, &mut b, &name, "no matching key").await;
    }
    before.unchanged(&mut b).await
}

/// An ID token whose header names an algorithm its key's type or curve cannot make: the
/// provider signs with a P-256 key published without `alg` (as many providers publish
/// theirs, so that only the key's `kty` and `crv` say what it verifies), and labels the
/// token ES384 or ES512 (another curve), RS256 or PS256 (RSA), or EdDSA (OKP), over the
/// key's own ES256 signature. The relying party allows every algorithm; it refuses each
/// token, as no published key fits it, and the browser, logged in with a genuine ES256 token
/// from that key, keeps its session.
pub async fn alg_not_fitting_the_key_is_rejected<A: App>() -> Unchanged {
    use crate::SigningAlg::{EdDsa, Es256, Es384, Es512, Ps256, Rs256};
    let bench = Bench::<A>::new();
    bench.provider.set_signing_algorithm(Es256);
    bench.provider.set_jwks_alg(false);
    let (mut b, before) = logged_in(&bench, "alice").await;
    let kid = bench.provider.current_kid();
    let jwks = bench.provider.jwks();
    assert!(
        jwks["keys"]
            .as_array()
            .expect("a key list")
            .iter()
            .any(|k| {
                k["kid"] == kid.as_str()
                    && k["kty"] == "EC"
                    && k["crv"] == "P-256"
                    && k.get("alg").is_none()
            }),
        "{jwks}"
    );
    for label in [Es384, Es512, Rs256, Ps256, EdDsa] {
        bench
            .provider
            .set_misbehavior(Misbehavior::MislabelledAlg(label));
        let name = format!("{label:?}");
        login_as_bob_is_refused(&bench, &mut b, &name, "no matching key").await;
    }
    before.unchanged(&mut b).await
}

/// Instantiates every scenario for one adapter: `scenarios!(axum, MyAxumApp);` gives tests
/// named `axum::code_flow_succeeds`, ...
#[macro_export]
macro_rules! scenarios {
    ($adapter:ident, $app:ty) => {
        $crate::scenarios!(@each $adapter, $app, [
            code_flow_succeeds,
            client_secret_post_works,
            two_tabs_both_succeed,
            provider_down_then_up,
            session_expires,
            logout_via_end_session,
            logout_without_session,
            logout_without_end_session_is_local,
            every_flow_succeeds,
            form_post_survives_cross_site_post,
            fragment_page_under_prefix,
            every_configuration_combination_works,
            expired_registration_registers_again,
            instances_share_one_registration,
            session_secret_rotation_keeps_sessions,
            providers_are_chosen_per_route,
            metadata_cache_survives_outage,
            silent_refresh_updates_the_session,
            silent_refresh_login_required_goes_interactive,
            each_provider_has_its_own_redirect_uri,
            confirmed_logout_logs_out,
            same_origin_and_direct_logout_still_log_out,
            silent_refresh_fragment_page_allows_the_provider,
            key_rotation_is_picked_up_by_the_next_login,
            login_succeeds_with_every_signing_algorithm,
            concurrent_callbacks_with_one_state_log_in_once,
            return_path_is_right_under_a_prefix,
            return_path_is_right_behind_a_prefix_stripping_proxy,
            another_providers_login_replaces_the_session,
            hmac_id_tokens_log_in,
            userinfo_method_is_followed,
            signed_userinfo_is_accepted,
            tenant_issuer_logs_in,
            login_parameters_are_sent_per_request,
            step_up_route_logs_in_again_for_its_acr,
            typed_claims_are_read_through_the_adapter,
            step_up_route_asks_for_its_parameters_through_a_silent_refresh,
            negotiated_method_follows_discovery,
            pinned_unadvertised_method_is_a_configuration_error,
            client_secret_jwt_login_works,
            private_key_jwt_login_works,
            no_jwks_route_without_a_key,
            dynamic_registration_sends_the_jwks_uri,
            private_key_jwt_refresh_and_introspection_work,
            logout_revokes_the_tokens,
            logout_revokes_with_the_clients_auth_method,
            confirmed_logout_revokes_the_tokens,
            logout_without_revocation_endpoint_revokes_nothing,
            failed_revocation_still_logs_out,
            backchannel_logout_ends_the_named_session_everywhere,
            backchannel_logout_by_subject_ends_every_session_of_the_user,
            sessions_without_sid_end_by_subject,
            backchannel_logout_with_a_rotated_key_is_accepted,
            frontchannel_logout_ends_the_named_session,
            dynamic_registration_sends_the_logout_uris,
            logout_at_the_provider_reaches_the_app,
            one_provider_session_has_one_sid,
            par_login_succeeds,
            par_required_by_discovery_is_used,
            every_login_start_is_pushed,
            signed_request_object_login_succeeds,
            signed_request_object_through_par_succeeds,
            par_without_endpoint_is_a_configuration_error,
            jarm_logins_succeed,
            jarm_login_survives_a_renewed_registration,
            encrypted_id_tokens_log_in,
            encrypted_userinfo_is_accepted,
            decryption_key_rotation_logs_in,
            dynamic_registration_asks_for_encryption,
            dpop_login_binds_the_tokens_and_calls_userinfo,
            dpop_nonce_challenge_then_success,
            dpop_refresh_binds_the_same_key,
            api_accepts_a_dpop_bound_token_with_a_good_proof,
            fapi2_login_uses_every_protection,
        ], rejections: [
            fapi2_response_without_iss_is_rejected,
            fapi2_rs256_id_token_is_rejected,
            replayed_dpop_proof_is_rejected,
            dpop_proof_for_another_url_is_rejected,
            dpop_proof_for_another_method_is_rejected,
            dpop_proof_with_a_wrong_ath_is_rejected,
            dpop_token_bound_to_another_key_is_rejected,
            dpop_bound_token_sent_as_bearer_is_refused,
            token_response_without_dpop_type_is_refused,
            forged_logout_token_is_rejected,
            logout_token_for_another_audience_is_rejected,
            logout_token_without_events_is_rejected,
            logout_token_with_a_nonce_is_rejected,
            replayed_logout_token_is_rejected,
            malformed_logout_tokens_are_rejected,
            id_token_as_logout_token_is_rejected,
            logout_requests_without_one_token_are_refused,
            forged_kid_flood_is_refused_with_one_jwks_fetch,
            frontchannel_logout_mismatches_are_refused,
            cross_site_logout_cannot_revoke_tokens,
            logout_return_cannot_revoke_a_new_sessions_tokens,
            refused_assertion_changes_nothing,
            hs256_token_for_an_rs256_client_is_rejected,
            bad_signed_userinfo_is_rejected,
            tenant_token_mismatches_are_rejected,
            negotiated_hmac_is_refused_where_not_agreed,
            plain_userinfo_is_refused_when_signed_is_configured,
            claims_not_fitting_the_type_are_refused,
            login_parameters_cannot_override_protocol_ones,
            step_up_with_another_acr_is_rejected,
            wrong_state_is_rejected,
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
            token_endpoint_failures_are_rejected,
            network_failures_are_rejected,
            userinfo_sub_mismatch_is_rejected,
            userinfo_second_sub_is_rejected,
            id_token_repeated_sub_is_rejected,
            id_token_nested_past_the_limit_is_rejected,
            userinfo_error_is_rejected,
            jwks_error_is_rejected,
            discovery_issuer_mismatch_is_rejected,
            off_origin_return_is_rejected,
            logout_return_with_wrong_state_is_rejected,
            future_nbf_is_rejected,
            missing_state_is_rejected,
            replayed_callback_is_rejected,
            unsolicited_callback_is_rejected,
            forged_cookie_is_ignored,
            disallowed_signing_algorithm_is_rejected,
            alg_other_than_the_jwk_names_is_rejected,
            alg_not_fitting_the_key_is_rejected,
            shadowing_cookie_is_ignored,
            malformed_callback_is_rejected,
            implicit_missing_nonce_is_rejected,
            implicit_wrong_nonce_is_rejected,
            bad_at_hash_is_rejected,
            missing_at_hash_is_rejected,
            bad_c_hash_is_rejected,
            hybrid_subject_substitution_is_rejected,
            front_channel_token_without_id_token_is_rejected,
            tokens_in_query_are_rejected,
            mix_up_is_rejected,
            missing_iss_is_rejected_in_the_code_flow,
            mix_up_without_iss_is_refused_by_redirect_uri,
            plain_http_provider_endpoints_are_refused,
            public_registration_without_pkce_is_refused,
            forged_logout_confirmations_are_refused,
            tampered_login_cookie_is_refused,
            api_requests_get_401,
            session_api_401_has_a_challenge,
            logout_return_cannot_end_a_new_login,
            forged_id_token_flood_costs_one_jwks_fetch_per_interval,
            provider_error_goes_to_error_view,
            silent_refresh_other_error_goes_to_error_view,
            error_view_escapes_provider_text,
            provider_text_is_escaped_in_logs_and_view,
            registration_error_is_reported,
            max_age_is_enforced,
            acr_values_are_enforced,
            own_pages_refuse_framing,
            cross_site_logout_gets_a_confirmation_page,
            par_endpoint_failures_show_the_error_view,
            reused_request_uri_is_refused,
            expired_request_uri_is_refused,
            request_object_with_a_bad_signature_is_refused,
            pushed_request_object_with_a_bad_signature_is_refused,
            jarm_bad_signature_is_rejected,
            jarm_wrong_audience_is_rejected,
            jarm_expired_response_is_rejected,
            jarm_wrong_issuer_is_rejected,
            plain_response_to_a_jarm_login_is_rejected,
            jwe_for_another_key_is_rejected,
            jwe_with_another_algorithm_is_rejected,
            unsigned_encrypted_id_token_is_rejected,
            plain_id_token_is_rejected_when_encryption_is_configured,
        ]);
    };
    (@each $adapter:ident, $app:ty, [$($name:ident),* $(,)?],
        rejections: [$($rejection:ident),* $(,)?]) => {
        mod $adapter {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::scenarios::$name::<$app>().await
                }
            )*
            // A rejection scenario must hand back the proof that it checked nothing changed.
            $(
                #[tokio::test]
                async fn $rejection() {
                    let _: $crate::unchanged::Unchanged =
                        $crate::scenarios::$rejection::<$app>().await;
                }
            )*
        }
    };
}

/// One provider response (`back`, for the login the browser `b` started with
/// `authorization_url`) delivered `n` times at once with the browser's login cookie, as a
/// double submit or a replayed front-channel response would be: a GET for `query`, a form POST
/// for `fragment`. The app's answers, in order.
async fn race_one_callback<A: App>(
    bench: &Bench<A>,
    b: &crate::harness::Browser<'_, A>,
    back: &str,
    n: usize,
) -> Vec<crate::harness::Page> {
    let names = b.login_cookie_names();
    assert_eq!(names.len(), 1, "one login in progress");
    let cookie = format!("{}={}", names[0], b.app_cookie(&names[0]).unwrap());
    let url = url::Url::parse(back).unwrap();
    let request = || {
        let builder = match url.fragment() {
            Some(fragment) => http::Request::post(url.path())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(bytes::Bytes::from(fragment.to_owned())),
            None => http::Request::get(format!("{}?{}", url.path(), url.query().unwrap_or("")))
                .body(bytes::Bytes::new()),
        };
        let mut request = builder.unwrap();
        let headers = request.headers_mut();
        headers.insert(http::header::HOST, "app.test".parse().unwrap());
        headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        headers.insert(http::header::ACCEPT, "text/html".parse().unwrap());
        request
    };
    let answers = futures_util::future::join_all((0..n).map(|_| bench.app.call(request()))).await;
    answers
        .into_iter()
        .map(|r| {
            let (parts, body) = r.into_parts();
            crate::harness::Page {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        })
        .collect()
}

/// The session cookie a page sets, if any.
fn session_cookie_set(page: &crate::harness::Page) -> Option<String> {
    page.headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookie::Cookie::parse(v.to_owned()).ok())
        .find(|c| c.name() == "oidc_session" && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// Races eight deliveries of one login's response (`code` with its token call held in flight,
/// and `id_token`, which needs no token call) on `store`, started at `start_time`. Exactly one
/// logs in and reaches the token endpoint; the others get the replay's refusal
/// (`unsolicited_response`) and set no session cookie.
pub async fn race_one_state_on<A: App>(
    store: std::sync::Arc<dyn oidc_runtime::SessionStore>,
    start_time: Option<u64>,
) {
    const N: usize = 8;
    for (seed, rt) in [(7001, "code"), (7002, "id_token")] {
        let store = store.clone();
        let bench = Bench::<A>::with(BenchOptions {
            configure: Box::new(move |c| c.response_type(rt)),
            // A seed of its own: each flow's `state` differs from the other's on the shared
            // store (and from earlier runs' on a shared Redis).
            rp: Box::new(move |r| {
                r.session_store(store)
                    .random(std::sync::Arc::new(crate::SeededRandom::new(seed)))
            }),
            start_time,
            ..Default::default()
        });
        // The winner's token call stays in flight while the others arrive.
        bench.transport.fail("/token", Fault::Delay(200));
        let mut b = bench.browser();
        let auth = b.start_login("/?raced=1").await;
        let back = b.authorize(&auth, "alice");
        let pages = race_one_callback(&bench, &b, &back, N).await;
        let winners: Vec<&crate::harness::Page> = pages
            .iter()
            .filter(|p| session_cookie_set(p).is_some())
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "{rt}: exactly one login: {:?}",
            pages
                .iter()
                .map(|p| (p.status, p.text()))
                .collect::<Vec<_>>()
        );
        assert_eq!(winners[0].status, StatusCode::FOUND, "{rt}");
        assert_eq!(winners[0].location().as_deref(), Some("/?raced=1"), "{rt}");
        for page in pages.iter().filter(|p| session_cookie_set(p).is_none()) {
            assert_eq!(
                page.error(),
                "unsolicited_response",
                "{rt}: {}",
                page.text()
            );
        }
        let token_calls = bench.provider.counters().token;
        assert_eq!(
            token_calls,
            u64::from(rt == "code"),
            "{rt}: one token request at most"
        );
        let mut winner = bench.browser();
        winner.set_app_cookie("oidc_session", &session_cookie_set(winners[0]).unwrap());
        assert_eq!(whoami(&mut winner).await.as_deref(), Some("alice"), "{rt}");
    }
}

/// Single use of `state` is atomic: eight concurrent callbacks carrying one `state` and the
/// victim's login cookie (which each of them can decrypt) make exactly one session in the
/// store and exactly one token request; the other seven are refused as replays before any
/// token call. The same runs on Redis in `tests/tests/redis.rs`.
pub async fn concurrent_callbacks_with_one_state_log_in_once<A: App>() {
    let store = std::sync::Arc::new(oidc_runtime::MemoryStore::with_clock(
        1000,
        std::sync::Arc::new(crate::harness::TestClock::new(1_700_000_000)),
    ));
    race_one_state_on::<A>(store.clone(), None).await;
    assert_eq!(store.len(), 2, "one session per flow raced, no more");
}

/// A login from a protected page of an app under `/app` (the bench's `prefix`, stripped by a
/// proxy in front or not): the provider's answer sends the browser back to that page, with
/// the prefix once (`/app/?page=1`, never `/app/app/...`); the explicit login route (at
/// `/app/login`) returns to its `next`, under the prefix too; and the app's own routes
/// (redirect endpoint, logout) answer on the prefixed paths the browser uses.
async fn return_paths_under_prefix<A: App>(proxy_strips_prefix: bool) {
    let bench = Bench::<A>::with(BenchOptions {
        prefix: Some("/app"),
        proxy_strips_prefix,
        rp: Box::new(|r| r.login_path("/app/login")),
        ..Default::default()
    });
    let mut b = bench.browser();
    let auth = b.start_login("/app/?page=1").await;
    let back = b.authorize(&auth, "alice");
    assert!(
        back.starts_with(&format!("{APP_URL}/app/redirect_uri?")),
        "{back}"
    );
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert_eq!(page.location().as_deref(), Some("/app/?page=1"));
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    // The explicit login route: `next` is a path of the app.
    let auth = b.start_login("/app/login?next=%2F%3Ffrom%3Dlogin").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/app/?from=login"),
        "{}",
        page.text()
    );
    let page = b.follow(page).await;
    assert_eq!(page.json()["sub"], "bob");
    // Logout on the prefixed path ends the session.
    let page = b.get("/app/logout").await;
    let page = b.follow(page).await;
    assert!(page.text().contains("logged out"), "{}", page.text());
    assert_eq!(b.get_json("/app/").await.status, StatusCode::UNAUTHORIZED);
}

/// An app mounted under a path prefix (`/app`, its routes declared there, the relying party's
/// URL `http://app.test/app`) returns a user to the page first asked for with the prefix once,
/// as the login route does; see `return_paths_under_prefix`.
pub async fn return_path_is_right_under_a_prefix<A: App>() {
    return_paths_under_prefix::<A>(false).await;
}

/// The same app behind a proxy that strips the prefix (the app serves `/`, the browser sees
/// `/app/...`): the relying party's routes still answer, and return paths get the prefix once.
pub async fn return_path_is_right_behind_a_prefix_stripping_proxy<A: App>() {
    return_paths_under_prefix::<A>(true).await;
}

/// On https, a sibling host that shares the cookie key (and here the store) cannot shadow the
/// session or login cookies: it can only set cookies of the bare names (`oidc_session`,
/// `oidc_session_login_...`, with `Domain=` the parent), while the app's are `__Host-` ones,
/// which browsers take from this host alone. A victim logged in as `alice`, with a login of
/// her own in progress, is given the attacker's validly signed session cookie and the
/// attacker's login cookie under those names, and then follows the attacker's callback: she
/// stays `alice` with the same cookie, the callback is refused, and her login still completes.
pub async fn shadowing_cookie_is_ignored<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        https: true,
        ..Default::default()
    });
    let mut attacker = bench.browser();
    assert_eq!(attacker.login("/", "mallory").await.status, StatusCode::OK);
    let mallory = attacker.session_cookie().unwrap().to_owned();
    let auth = attacker.start_login("/login?next=%2F").await;
    let attacker_back = attacker.authorize(&auth, "mallory");
    let login_name = attacker.login_cookie_names().pop().unwrap();
    let login_value = attacker.app_cookie(&login_name).unwrap().to_owned();

    let (mut victim, _) = logged_in(&bench, "alice").await;
    let own = victim.start_login("/login?next=%2F").await;
    let before = Before::take(&mut victim)
        .await
        .with_pending(victim.authorize(&own, "alice"));
    victim.set_app_cookie("oidc_session", &mallory);
    victim.set_app_cookie(login_name.trim_start_matches("__Host-"), &login_value);
    assert_eq!(whoami(&mut victim).await.as_deref(), Some("alice"));
    let page = victim.get(&attacker_back).await;
    assert_eq!(page.error(), "invalid_state", "{}", page.text());
    before.unchanged(&mut victim).await
}

/// A session belongs to one provider, and logging in with another replaces it explicitly:
/// `alice` at the default provider opens `/second`, logs in there as `carol`, and then the
/// session id has rotated, the old session is deleted (its cookie, replayed, is nobody), the
/// app sees the provider (`"provider": "second"`), and the default provider's route asks for a
/// login again instead of still serving `alice`.
pub async fn another_providers_login_replaces_the_session<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        second_provider: true,
        ..Default::default()
    });
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.json()["provider"], "default");
    let first_cookie = b.session_cookie().unwrap().to_owned();
    let page = b.login("/second", "carol").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["provider"], "second");
    assert_eq!(page.json()["sub"], "carol");
    let second_cookie = b.session_cookie().unwrap().to_owned();
    assert_ne!(second_cookie, first_cookie, "the session id rotated");
    assert_eq!(
        b.get_json("/").await.status,
        StatusCode::UNAUTHORIZED,
        "the default provider's session is gone, not kept beside the new one"
    );
    let mut old = bench.browser();
    old.set_app_cookie("oidc_session", &first_cookie);
    assert_eq!(old.get_json("/").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        old.get_json("/second").await.status,
        StatusCode::UNAUTHORIZED,
        "the old session was deleted, not turned into the new one"
    );
    let page = b.get_json("/second").await;
    assert_eq!(page.json()["sub"], "carol", "the new session stands");
}
