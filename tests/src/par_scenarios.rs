//! Pushed authorization requests (RFC 9126) and signed request objects (RFC 9101), run by every
//! adapter through [`scenarios!`](macro@crate::scenarios): a login with PAR configured, and
//! with PAR required by the provider's discovery; the browser's URL carrying only `client_id`
//! and `request_uri`; a request object by value and through PAR, verified by the provider;
//! PAR at a provider without the endpoint; and the rejections: a failing PAR endpoint, a
//! `request_uri` used twice or after it expired, a request object the provider cannot verify.

use http::StatusCode;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use oidc_core::client_auth::jwks_document;
use oidc_core::ClientPrivateKey;

use crate::harness::{App, Bench, BenchOptions, Fault, CLIENT_ID, ISSUER};
use crate::unchanged::{logged_in, Unchanged};
use crate::ParFailure;

/// A fresh ES256 client key (fast to make).
fn client_key() -> ClientPrivateKey {
    let pem = EcKeyPair::generate(EcCurve::P256)
        .expect("EC key")
        .to_pem_private_key();
    ClientPrivateKey::parse(std::str::from_utf8(&pem).expect("PEM is text")).expect("a usable key")
}

/// A bench whose provider configuration pushes (`par`) and signs (`signed`, with a key the
/// provider knows as the client's) its authorization requests.
fn bench<A: App>(par: bool, signed: bool) -> Bench<A> {
    let key = client_key();
    let jwks = jwks_document([&key]);
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| {
            let c = c.pushed_authorization_requests(par);
            if signed {
                c.private_key(key).signed_request_object(true)
            } else {
                c
            }
        }),
        ..Default::default()
    });
    bench.provider.set_client_jwks(CLIENT_ID, jwks);
    bench
}

/// The names of an URL's query parameters, in order.
fn query_names(url: &str) -> Vec<String> {
    url::Url::parse(url)
        .expect("an absolute URL")
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect()
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A login from `b`'s first page, checking the browser's URL carries only `client_id` and
/// `request_uri`: the app's answer is the user.
async fn pushed_login<A: App>(b: &mut crate::harness::Browser<'_, A>, user: &str) {
    let auth = b.start_login("/").await;
    assert_eq!(query_names(&auth), ["client_id", "request_uri"], "{auth}");
    let back = b.authorize(&auth, user);
    assert!(back.contains("code="), "{back}");
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], user);
}

/// PAR configured: the request is pushed with the client's authentication (Basic here, so no
/// secret in the form) and every protocol parameter, the browser carries only `client_id` and
/// `request_uri`, and the login completes.
pub async fn par_login_succeeds<A: App>() {
    let bench = bench::<A>(true, false);
    let mut b = bench.browser();
    pushed_login(&mut b, "alice").await;
    let calls = bench.provider.par_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.status, 201);
    assert_eq!(call.client_id.as_deref(), Some(CLIENT_ID));
    assert!(
        value(&call.form, "client_secret").is_none(),
        "Basic authentication"
    );
    for name in ["state", "nonce", "redirect_uri", "code_challenge", "scope"] {
        assert!(value(&call.params, name).is_some(), "{name} pushed");
    }
    assert_eq!(value(&call.params, "code_challenge_method"), Some("S256"));
    assert!(b.is_logged_in().await);
}

/// A provider whose discovery says `require_pushed_authorization_requests` gets pushed
/// requests from an app that did not configure PAR (and refuses any other).
pub async fn par_required_by_discovery_is_used<A: App>() {
    let bench = bench::<A>(false, false);
    bench.provider.set_par_required(true);
    let mut b = bench.browser();
    pushed_login(&mut b, "bob").await;
    assert_eq!(bench.provider.par_calls().len(), 1);
}

/// A signed request object by value: the URL carries `client_id`, `response_type`, `scope`
/// and `request` (no `state`, `nonce` or `redirect_uri`), the provider verified the JWT
/// (`typ: oauth-authz-req+jwt`, the client's key, `iss`, `aud`) and used its parameters.
pub async fn signed_request_object_login_succeeds<A: App>() {
    let bench = bench::<A>(false, true);
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let mut names = query_names(&auth);
    names.sort_unstable();
    assert_eq!(
        names,
        ["client_id", "request", "response_type", "scope"],
        "{auth}"
    );
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    let object = bench
        .provider
        .last_request_object()
        .expect("a verified request object");
    assert_eq!(object["header"]["typ"], "oauth-authz-req+jwt");
    assert_eq!(object["header"]["alg"], "ES256");
    let claims = &object["claims"];
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(claims["aud"], ISSUER);
    assert!(claims["state"].is_string() && claims["nonce"].is_string());
    assert!(claims["exp"].as_u64() > claims["iat"].as_u64());
    assert!(bench.provider.par_calls().is_empty(), "nothing pushed");
}

/// A signed request object through PAR: the push carries `request` (and no parameter
/// beside it), the browser only `client_id` and `request_uri`.
pub async fn signed_request_object_through_par_succeeds<A: App>() {
    let bench = bench::<A>(true, true);
    let mut b = bench.browser();
    pushed_login(&mut b, "carol").await;
    let calls = bench.provider.par_calls();
    assert_eq!(calls.len(), 1);
    let mut sent: Vec<&str> = calls[0].form.iter().map(|(k, _)| k.as_str()).collect();
    sent.sort_unstable();
    assert_eq!(sent, ["client_id", "request"]);
    let object = bench.provider.last_request_object().expect("verified");
    assert_eq!(
        object["claims"]["redirect_uri"],
        value(&calls[0].params, "redirect_uri").unwrap()
    );
    assert!(object["claims"]["code_challenge"].is_string());
}

/// Every way a login starts pushes its request: a silent session refresh (`prompt=none`
/// pushed, not in the URL), the interactive login after its `login_required`, and a route
/// that needs an access token.
pub async fn every_login_start_is_pushed<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| {
            c.pushed_authorization_requests(true)
                .session_refresh_interval(std::time::Duration::from_secs(60))
        }),
        ..Default::default()
    });
    let mut b = bench.browser();
    pushed_login(&mut b, "alice").await;
    bench.clock.advance(61);
    let silent = b.start_login("/").await;
    assert_eq!(
        query_names(&silent),
        ["client_id", "request_uri"],
        "{silent}"
    );
    let calls = bench.provider.par_calls();
    assert_eq!(
        value(&calls[calls.len() - 1].params, "prompt"),
        Some("none")
    );
    // An empty username: the provider has no session for this user.
    let back = b.authorize(&silent, "");
    assert!(back.contains("error=login_required"), "{back}");
    let page = b.deliver(&silent, &back).await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let interactive = page.location().expect("the interactive login");
    assert_eq!(
        query_names(&interactive),
        ["client_id", "request_uri"],
        "{interactive}"
    );
    let back = b.authorize(&interactive, "alice");
    let page = b.deliver(&interactive, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let calls = bench.provider.par_calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(value(&calls[2].params, "prompt"), None);
    let mut fresh = bench.browser();
    let page = fresh.get("/access_token").await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    let location = page.location().expect("a login");
    assert_eq!(
        query_names(&location),
        ["client_id", "request_uri"],
        "{location}"
    );
    assert_eq!(bench.provider.par_calls().len(), 4);
}

/// PAR configured at a provider that publishes no PAR endpoint: the app is not ready, and a
/// login is a configuration error naming the field, before anything is sent to the provider,
/// with no login cookie.
pub async fn par_without_endpoint_is_a_configuration_error<A: App>() {
    let bench = bench::<A>(true, false);
    bench.provider.set_par_endpoint(false);
    assert!(!bench.rp.ready().await);
    let mut b = bench.browser();
    let page = b.get("/").await;
    assert_eq!(page.error(), "configuration_error", "{}", page.text());
    assert!(page.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .contains("pushed_authorization_request_endpoint"));
    assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    assert_eq!(bench.provider.counters().authorize, 0);
    assert!(bench.provider.par_calls().is_empty());
}

/// The PAR endpoint fails (an OAuth error, another status, a body that is not JSON, `200`
/// for `201`, no `request_uri`, no `expires_in`, a timeout): each time the error view, and
/// the login is not started (no login cookie, nothing at the authorization endpoint), for a
/// logged-in browser, whose session is unchanged, and a new one.
pub async fn par_endpoint_failures_show_the_error_view<A: App>() -> Unchanged {
    let bench = bench::<A>(true, false);
    let (mut b, before) = logged_in(&bench, "alice").await;
    let authorized = bench.provider.counters().authorize;
    let failures = [
        (
            ParFailure::Error("invalid_request".into()),
            "invalid_request",
        ),
        (ParFailure::Status(500), "invalid_response"),
        (ParFailure::NotJson, "invalid_response"),
        (ParFailure::OkInsteadOfCreated, "invalid_response"),
        (ParFailure::MissingRequestUri, "invalid_response"),
        (ParFailure::MissingExpiresIn, "invalid_response"),
    ];
    for (failure, expected) in failures {
        bench.provider.set_par_failure(Some(failure.clone()));
        let page = b.get("/login").await;
        assert_eq!(page.error(), expected, "{failure:?}: {}", page.text());
        assert!(
            page.headers.get(http::header::SET_COOKIE).is_none(),
            "{failure:?}"
        );
        assert!(b.login_cookie_names().is_empty(), "{failure:?}");
        let mut fresh = bench.browser();
        let page = fresh.get("/").await;
        assert_eq!(page.error(), expected, "{failure:?}");
        assert!(page.headers.get(http::header::SET_COOKIE).is_none());
    }
    bench.provider.set_par_failure(None);
    bench.transport.fail("/par", Fault::Timeout);
    let page = b.get("/login").await;
    assert_eq!(page.error(), "provider_unreachable", "{}", page.text());
    assert!(b.login_cookie_names().is_empty());
    bench.transport.clear();
    assert_eq!(bench.provider.counters().authorize, authorized);
    before.unchanged(&mut b).await
}

/// A pushed request used a second time (the authorization URL replayed, by the browser or by
/// someone who copied it): the provider refuses it (`invalid_request_uri`, to the pushed
/// redirect URI), the app shows that error, and the logged-in browser stays as it was; the
/// replay logs no one in.
pub async fn reused_request_uri_is_refused<A: App>() -> Unchanged {
    let bench = bench::<A>(true, false);
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    assert_eq!(query_names(&auth), ["client_id", "request_uri"]);
    let first = b.authorize(&auth, "alice");
    assert!(first.contains("code="), "{first}");
    let replay = b.authorize(&auth, "mallory");
    assert!(
        replay.contains("error=invalid_request_uri") && !replay.contains("code="),
        "{replay}"
    );
    let mut attacker = bench.browser();
    attacker.get(&replay).await.error();
    assert!(!attacker.is_logged_in().await);
    let page = b.get(&replay).await;
    assert_eq!(page.error(), "invalid_request_uri", "{}", page.text());
    before.unchanged(&mut b).await
}

/// A pushed request used after its 60 seconds: the provider refuses it
/// (`invalid_request_uri`), the app shows that error, and the logged-in browser stays as it
/// was.
pub async fn expired_request_uri_is_refused<A: App>() -> Unchanged {
    let bench = bench::<A>(true, false);
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    bench.clock.advance(61);
    let back = b.authorize(&auth, "alice");
    assert!(
        back.contains("error=invalid_request_uri") && !back.contains("code="),
        "{back}"
    );
    let page = b.get(&back).await;
    assert_eq!(page.error(), "invalid_request_uri", "{}", page.text());
    before.unchanged(&mut b).await
}

/// The provider holds another key for the client than the one its request objects are
/// signed with (under the same `kid`): by value, the provider refuses the request
/// (`invalid_request_object`) and the app shows that error; the logged-in browser stays as it
/// was, with a login it started before still completing.
pub async fn request_object_with_a_bad_signature_is_refused<A: App>() -> Unchanged {
    let bench = bench::<A>(false, true);
    let (mut b, before) = logged_in(&bench, "alice").await;
    let pending = b.start_login("/login").await;
    let pending_back = b.authorize(&pending, "alice");
    let before = before.with_pending_login(pending, pending_back);
    let kid = bench
        .provider
        .last_request_object()
        .and_then(|o| o["header"]["kid"].as_str().map(str::to_owned))
        .expect("a verified request object");
    let other = client_key().with_key_id(kid);
    bench
        .provider
        .set_client_jwks(CLIENT_ID, jwks_document([&other]));
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    assert!(
        back.contains("error=invalid_request_object") && !back.contains("code="),
        "{back}"
    );
    let page = b.get(&back).await;
    assert_eq!(page.error(), "invalid_request_object", "{}", page.text());
    before.unchanged(&mut b).await
}

/// The same through PAR: the provider refuses the push (`400 invalid_request_object`), so the
/// login does not start (the error view, no login cookie) and the logged-in browser stays as
/// it was.
pub async fn pushed_request_object_with_a_bad_signature_is_refused<A: App>() -> Unchanged {
    let bench = bench::<A>(true, true);
    let (mut b, before) = logged_in(&bench, "alice").await;
    let kid = bench
        .provider
        .last_request_object()
        .and_then(|o| o["header"]["kid"].as_str().map(str::to_owned))
        .expect("a verified request object");
    bench
        .provider
        .set_client_jwks(CLIENT_ID, jwks_document([&client_key().with_key_id(kid)]));
    let page = b.get("/login").await;
    assert_eq!(page.error(), "invalid_request_object", "{}", page.text());
    assert!(b.login_cookie_names().is_empty());
    let refused = bench.provider.par_calls();
    assert_eq!(refused.last().map(|c| c.status), Some(400));
    assert_eq!(
        refused.last().map(|c| c.params.clone()),
        Some(Vec::<(String, String)>::new())
    );
    before.unchanged(&mut b).await
}
