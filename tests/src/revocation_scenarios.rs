//! Token revocation at logout (RFC 7009), through every adapter: a real logout of a logged-in
//! session revokes its refresh token and then its access token at the provider's
//! `revocation_endpoint` with the client's authentication; a provider without one is not
//! called; a failing revocation still logs out; and neither a cross-site request that only gets
//! the confirmation page nor the provider's return to the logout route revokes anything.
//! Re-exported by the `scenarios` module and run by the [`scenarios!`](crate::scenarios!) macro.

use bytes::Bytes;
use http::{header, StatusCode};

use crate::harness::{App, Bench, BenchOptions, Browser, Fault, Page, APP_URL, ISSUER};
use crate::harness::{CLIENT_ID, CLIENT_SECRET};
use crate::unchanged::{whoami, Before, Unchanged};
use oidc_runtime::Clock as _;

/// A bench whose provider publishes a `revocation_endpoint`.
fn revoking_bench<A: App>(options: BenchOptions) -> Bench<A> {
    let bench = Bench::<A>::with(options);
    // Before the relying party's first discovery, which happens at its first request.
    bench.provider.set_revocation_endpoint(true);
    bench
}

/// The refresh and access tokens of the session this browser holds.
async fn session_tokens<A: App>(b: &Browser<'_, A>) -> (String, String) {
    let session = b.stored_session().await.expect("a stored session");
    (
        session
            .refresh_token
            .as_ref()
            .expect("a refresh token")
            .expose()
            .to_owned(),
        session
            .access_token
            .as_ref()
            .expect("an access token")
            .expose()
            .to_owned(),
    )
}

/// What the provider's token endpoint answers a refresh with `refresh_token` (the status).
fn refresh_at_provider<A: App>(bench: &Bench<A>, refresh_token: &str) -> u16 {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .append_pair("client_id", CLIENT_ID)
        .append_pair("client_secret", CLIENT_SECRET)
        .finish();
    let request = http::Request::post(format!("{ISSUER}/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Bytes::from(body))
        .expect("a request");
    bench
        .provider
        .handle(request, bench.clock.now())
        .status()
        .as_u16()
}

/// `GET /logout` with extra request headers.
async fn get_logout<A: App>(b: &mut Browser<'_, A>, headers: &[(&str, &str)]) -> Page {
    let mut req = http::Request::get(format!("{APP_URL}/logout"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    b.send(req.body(Bytes::new()).expect("a request")).await
}

/// The CSRF token in a logout confirmation page's form.
fn confirmation_token(page: &Page) -> String {
    let body = page.text();
    let marker = r#"name="csrf_token" value=""#;
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no confirmation form: {body}"))
        + marker.len();
    body[start..]
        .split('"')
        .next()
        .expect("a quoted value")
        .to_owned()
}

/// Asserts the provider saw exactly the two revocations of a logout, refresh token first, both
/// by `CLIENT_ID` authenticated with `method`, both revoking a token it knew.
fn assert_both_revoked<A: App>(bench: &Bench<A>, method: &str) {
    let calls = bench.provider.revocations();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for (call, kind) in calls.iter().zip(["refresh_token", "access_token"]) {
        assert_eq!(call.client_id.as_deref(), Some(CLIENT_ID), "{call:?}");
        assert_eq!(call.auth_method, method, "{call:?}");
        assert_eq!(call.token_type_hint.as_deref(), Some(kind), "{call:?}");
        assert_eq!(call.revoked.as_deref(), Some(kind), "{call:?}");
        assert_eq!(call.status, 200, "{call:?}");
    }
}

/// A logout of a logged-in session (no fetch metadata, as the demo's link sends) deletes the
/// local session, revokes the refresh token and then the access token with the client's
/// authentication (`client_secret_basic`), and goes on to RP-initiated logout: afterwards the
/// refresh token no longer refreshes and the access token is no longer accepted.
pub async fn logout_revokes_the_tokens<A: App>() {
    let bench = revoking_bench::<A>(BenchOptions::default());
    let mut b = bench.browser();
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let (refresh_token, access_token) = session_tokens(&b).await;
    assert!(bench.provider.refresh_token_is_active(&refresh_token));
    let logout = b.get("/logout").await;
    assert_eq!(logout.status, StatusCode::FOUND, "{}", logout.text());
    let end_session = logout.location().unwrap();
    assert!(end_session.starts_with(&format!("{ISSUER}/logout")));
    assert_eq!(whoami(&mut b).await, None);
    assert_both_revoked(&bench, "client_secret_basic");
    assert!(!bench.provider.refresh_token_is_active(&refresh_token));
    assert!(!bench
        .provider
        .access_token_is_active(&access_token, bench.clock.now()));
    assert_eq!(refresh_at_provider(&bench, &refresh_token), 400);
    let mut api = bench.browser();
    let page = api
        .send(
            http::Request::get(format!("{APP_URL}/api/me"))
                .header(header::ACCEPT, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    // The provider's return finishes the logout and revokes nothing more.
    let back = b
        .get(&end_session)
        .await
        .location()
        .expect("back to the app");
    let done = b.get(&back).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.text().contains("logged out"));
    assert_eq!(bench.provider.revocations().len(), 2);
}

/// Starts another login and logout in `b`, and returns where the provider sends it back.
async fn page_location<A: App>(b: &mut Browser<'_, A>) -> String {
    b.login("/", "alice").await;
    let page = b.get("/logout").await;
    b.get(&page.location().expect("to the provider"))
        .await
        .location()
        .expect("back to the app")
}

/// The revocation uses the client's own authentication method: `client_secret_post` here.
pub async fn logout_revokes_with_the_clients_auth_method<A: App>() {
    let bench = revoking_bench::<A>(BenchOptions {
        configure: Box::new(|c| {
            c.client(
                oidc_core::ClientMetadata::new(CLIENT_ID, CLIENT_SECRET)
                    .with_auth_method(oidc_core::ClientAuthMethod::ClientSecretPost),
            )
        }),
        ..Default::default()
    });
    let mut b = bench.browser();
    assert_eq!(b.login("/", "bob").await.status, StatusCode::OK);
    let (refresh_token, _) = session_tokens(&b).await;
    assert_eq!(b.get("/logout").await.status, StatusCode::FOUND);
    assert_both_revoked(&bench, "client_secret_post");
    assert_eq!(refresh_at_provider(&bench, &refresh_token), 400);
}

/// A confirmed logout (the confirmation page's form, posted from the app) is a real logout:
/// it revokes the tokens too.
pub async fn confirmed_logout_revokes_the_tokens<A: App>() {
    let bench = revoking_bench::<A>(BenchOptions::default());
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let (refresh_token, _) = session_tokens(&b).await;
    let page = get_logout(&mut b, &[("sec-fetch-site", "cross-site")]).await;
    assert!(bench.provider.revocations().is_empty());
    let token = confirmation_token(&page);
    let mut req = http::Request::post(format!("{APP_URL}/logout"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in [
        ("sec-fetch-site", "same-origin"),
        ("origin", APP_URL),
        ("referer", "http://app.test/logout"),
    ] {
        req = req.header(k, v);
    }
    let page = b
        .send(
            req.body(Bytes::from(format!("csrf_token={token}")))
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert_eq!(whoami(&mut b).await, None);
    assert_both_revoked(&bench, "client_secret_basic");
    assert!(!bench.provider.refresh_token_is_active(&refresh_token));
}

/// A provider without a `revocation_endpoint` (the default of the simulated provider) is not
/// asked to revoke anything, and logout works as before.
pub async fn logout_without_revocation_endpoint_revokes_nothing<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    b.login("/", "alice").await;
    let (refresh_token, _) = session_tokens(&b).await;
    let page = b.get("/logout").await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
    assert_eq!(whoami(&mut b).await, None);
    assert_eq!(bench.transport.calls("/revoke"), 0);
    assert!(bench.provider.revocations().is_empty());
    assert!(bench.provider.refresh_token_is_active(&refresh_token));
}

/// Whatever goes wrong at the revocation endpoint (a 500, a timeout, a refused connection, the
/// provider refusing the client), the user is logged out all the same: the local session is
/// gone, both revocations were tried, and RP-initiated logout follows.
pub async fn failed_revocation_still_logs_out<A: App>() {
    let faults = [
        Some(Fault::Respond(500, "<html>oops</html>".into())),
        Some(Fault::Timeout),
        Some(Fault::Refused),
        None,
    ];
    for fault in faults {
        let bench = revoking_bench::<A>(BenchOptions::default());
        let mut b = bench.browser();
        b.login("/", "alice").await;
        let (refresh_token, _) = session_tokens(&b).await;
        match &fault {
            Some(f) => bench.transport.fail("/revoke", f.clone()),
            // The provider itself refuses: this client may only use another method there.
            None => bench
                .provider
                .require_client_auth_method(CLIENT_ID, "private_key_jwt"),
        }
        let page = b.get("/logout").await;
        assert_eq!(page.status, StatusCode::FOUND, "{fault:?}: {}", page.text());
        assert!(
            page.location()
                .unwrap()
                .starts_with(&format!("{ISSUER}/logout")),
            "{fault:?}"
        );
        assert_eq!(whoami(&mut b).await, None, "{fault:?}");
        assert_eq!(bench.transport.calls("/revoke"), 2, "{fault:?}");
        let seen = bench.provider.revocations();
        match fault {
            Some(_) => assert!(seen.is_empty(), "{seen:?}"),
            None => assert!(seen.iter().all(|c| c.status == 401), "{seen:?}"),
        }
        assert!(bench.provider.refresh_token_is_active(&refresh_token));
        let done = b.follow(page).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text());
        assert!(done.text().contains("logged out"));
    }
}

/// Logout CSRF must not revoke tokens: a logged-in browser sent to `/logout` from another site
/// gets only the confirmation page; the provider sees no revocation, the refresh token still
/// refreshes at the provider, the access token is still served as a bearer token, and the
/// session, cookie and a login in progress are unchanged.
pub async fn cross_site_logout_cannot_revoke_tokens<A: App>() -> Unchanged {
    let bench = revoking_bench::<A>(BenchOptions::default());
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    let (refresh_token, access_token) = session_tokens(&b).await;
    let before = before.with_bearer(&b, &access_token).await;
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("origin", "http://evil.test")],
        &[("referer", "http://evil.test/page")],
    ] {
        let page = get_logout(&mut b, headers).await;
        assert_eq!(page.status, StatusCode::OK, "{headers:?}: {}", page.text());
        assert!(page.text().contains("Log out?"), "{headers:?}");
    }
    assert_eq!(bench.transport.calls("/revoke"), 0);
    assert!(bench.provider.revocations().is_empty());
    assert!(bench.provider.refresh_token_is_active(&refresh_token));
    assert!(bench
        .provider
        .access_token_is_active(&access_token, bench.clock.now()));
    before.unchanged(&mut b).await
}

/// The provider's return to the logout route revokes nothing: replayed after the user logged
/// in again, it is refused, and the new session's tokens stay valid at the provider.
pub async fn logout_return_cannot_revoke_a_new_sessions_tokens<A: App>() -> Unchanged {
    let bench = revoking_bench::<A>(BenchOptions::default());
    let mut b = bench.browser();
    let back = page_location(&mut b).await;
    assert_eq!(bench.provider.revocations().len(), 2, "the first logout");
    b.login("/", "alice").await;
    let (refresh_token, access_token) = session_tokens(&b).await;
    let before = Before::take(&mut b).await;
    let page = b
        .send(
            http::Request::get(back)
                .header("sec-fetch-site", "cross-site")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.error(), "invalid_state");
    assert_eq!(bench.provider.revocations().len(), 2, "nothing more");
    assert_eq!(bench.transport.calls("/revoke"), 2);
    assert!(bench.provider.refresh_token_is_active(&refresh_token));
    assert!(bench
        .provider
        .access_token_is_active(&access_token, bench.clock.now()));
    before.unchanged(&mut b).await
}
