//! The scenario suite through the warp adapter.

mod common;

use bytes::Bytes;
use common::warp_app::WarpApp;

oidc_testkit::scenarios!(warp, WarpApp);
oidc_testkit::token_scenarios!(warp_tokens, WarpApp);

/// What the scenarios do not reach: the body path of the redirect endpoint, fall-through, the
/// named-provider filter, `maybe_user`, `maybe_claims`, and route-specific bearer
/// requirements.
mod adapter {
    use super::*;
    use ::warp::Filter;
    use http::{header, StatusCode};
    use oidc_core::{BearerRequirements, Principal, TokenIdentity};
    use oidc_runtime::Clock;
    use oidc_testkit::harness::{Bench, BenchOptions, APP_URL, CLIENT_ID, CLIENT_SECRET, ISSUER};
    use oidc_testkit::JwtAccessTokenSpec;

    fn post_form(path: &str, body: impl Into<Bytes>) -> http::Request<Bytes> {
        http::Request::post(format!("{APP_URL}{path}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.into())
            .unwrap()
    }

    #[tokio::test]
    async fn posted_authorization_response_logs_in() {
        let bench = Bench::<WarpApp>::new();
        let mut b = bench.browser();
        let auth = b.start_login("/?posted=1").await;
        let back = b.authorize(&auth, "alice");
        let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
        let page = b.send(post_form("/redirect_uri", query)).await;
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
        assert_eq!(page.location().as_deref(), Some("/?posted=1"));
        assert!(page.headers.contains_key(header::SET_COOKIE));
        assert!(b.is_logged_in().await);
    }

    #[tokio::test]
    async fn oversized_body_is_refused() {
        let bench = Bench::<WarpApp>::new();
        let mut b = bench.browser();
        let auth = b.start_login("/").await;
        let back = b.authorize(&auth, "alice");
        let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
        let body = format!("{query}&pad={}", "x".repeat(64 * 1024));
        let page = b.send(post_form("/redirect_uri", body)).await;
        assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!b.is_logged_in().await);
    }

    #[tokio::test]
    async fn other_paths_fall_through() {
        let bench = Bench::<WarpApp>::new();
        let mut b = bench.browser();
        let page = b.get("/nowhere").await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(b.session_cookie().is_none(), "no login started");
    }

    #[tokio::test]
    async fn named_provider_needs_its_own_session() {
        let bench = Bench::<WarpApp>::with(BenchOptions::default().rp(|r| {
            r.provider(
                "second",
                oidc_core::ProviderConfig::discover(ISSUER)
                    .client(oidc_core::ClientMetadata::new(CLIENT_ID, CLIENT_SECRET))
                    .build()
                    .unwrap(),
            )
        }));
        // With two providers, each has its own redirect URI, registered at the provider.
        let mut client = oidc_testkit::SimClient::confidential(
            CLIENT_ID,
            CLIENT_SECRET,
            &format!("{APP_URL}/redirect_uri/default"),
        );
        client
            .redirect_uris
            .push(format!("{APP_URL}/redirect_uri/second"));
        bench.provider.register_client(client);
        let mut b = bench.browser();
        assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
        assert_eq!(b.get_json("/second").await.status, StatusCode::UNAUTHORIZED);
        let page = b.login("/second", "alice").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        assert_eq!(page.json()["provider"], "second");
    }

    #[tokio::test]
    async fn maybe_user_reads_the_session() {
        let bench = Bench::<WarpApp>::new();
        let filter = oidc_warp::maybe_user(bench.rp.clone());
        let anonymous = ::warp::test::request().filter(&filter).await.unwrap();
        assert!(anonymous.is_none());
        let mut b = bench.browser();
        b.login("/", "alice").await;
        let cookie = format!("oidc_session={}", b.session_cookie().unwrap());
        let user = ::warp::test::request()
            .header(header::COOKIE, cookie)
            .filter(&filter)
            .await
            .unwrap()
            .expect("a session");
        assert_eq!(user.subject(), "alice");
    }

    /// `maybe_claims` is `None` for an anonymous request and the claims once logged in; a
    /// logged-in user whose claims do not fit the type is rejected with the `403`
    /// `insufficient_claims` error view, never `None`.
    #[tokio::test]
    async fn maybe_claims_are_none_only_when_anonymous() {
        #[derive(serde::Deserialize)]
        struct Named {
            preferred_username: String,
        }
        #[derive(serde::Deserialize)]
        struct Employee {
            // Read only to make the claim required.
            #[allow(dead_code)]
            employee_id: String,
        }
        let bench = Bench::<WarpApp>::new();
        let named = oidc_warp::maybe_claims::<Named>(bench.rp.clone());
        let employee = oidc_warp::maybe_claims::<Employee>(bench.rp.clone());
        let anonymous = ::warp::test::request().filter(&named).await.unwrap();
        assert!(anonymous.is_none());
        let anonymous = ::warp::test::request().filter(&employee).await.unwrap();
        assert!(anonymous.is_none());
        let mut b = bench.browser();
        b.login("/", "alice").await;
        let cookie = format!("oidc_session={}", b.session_cookie().unwrap());
        let claims = ::warp::test::request()
            .header(header::COOKIE, &cookie)
            .filter(&named)
            .await
            .unwrap()
            .expect("a session");
        assert_eq!(claims.preferred_username, "alice");
        let rejection = match ::warp::test::request()
            .header(header::COOKIE, &cookie)
            .filter(&employee)
            .await
        {
            Ok(_) => panic!("claims that do not fit are not a value"),
            Err(rejection) => rejection,
        };
        let refused = rejection
            .find::<oidc_warp::OidcRejection>()
            .expect("the relying party's rejection");
        assert_eq!(refused.kind(), oidc_warp::RejectionKind::Forbidden);
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let body: serde_json::Value =
            serde_json::from_slice(refused.response().body()).expect("the JSON error view");
        assert_eq!(body["error"], "insufficient_claims");
    }

    fn jwt(bench: &Bench<WarpApp>, scope: &str) -> String {
        let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, scope);
        bench
            .provider
            .issue_jwt_access_token(&spec, bench.clock.now())
    }

    fn api(token: Option<&str>) -> ::warp::test::RequestBuilder {
        let request = ::warp::test::request().header(header::ACCEPT, "application/json");
        match token {
            Some(t) => request.header(header::AUTHORIZATION, format!("Bearer {t}")),
            None => request,
        }
    }

    #[tokio::test]
    async fn bearer_with_adds_the_route_requirements() {
        let bench = Bench::<WarpApp>::new();
        let read = BearerRequirements::new().scopes(["orders.read"]);
        let filter = oidc_warp::bearer_with(bench.rp.clone(), read.clone())
            .map(|token: TokenIdentity| token.subject().unwrap_or("-").to_owned())
            .recover(oidc_warp::recover);
        let unscoped = jwt(&bench, "openid");
        for (token, status) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some(unscoped.as_str()), StatusCode::FORBIDDEN),
        ] {
            let parts = http::Request::get("/").header(header::ACCEPT, "application/json");
            let parts = match token {
                Some(t) => parts.header(header::AUTHORIZATION, format!("Bearer {t}")),
                None => parts,
            };
            let parts = parts.body(()).unwrap().into_parts().0;
            let expected = bench.rp.authorize_bearer(&parts, &read).await.unwrap_err();
            let got = api(token).reply(&filter).await;
            assert_eq!(got.status(), status, "{token:?}");
            assert_eq!(got.status(), expected.status());
            assert_eq!(
                got.headers(),
                expected.headers(),
                "exactly the core's headers"
            );
            assert_eq!(got.body(), expected.body());
        }
        let challenge = api(Some(&unscoped)).reply(&filter).await;
        let challenge = challenge.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.contains("scope=\"orders.read\""), "{challenge}");
        let scoped = jwt(&bench, "openid orders.read");
        let page = api(Some(&scoped)).reply(&filter).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.body().as_ref(), b"alice");
    }

    #[tokio::test]
    async fn session_or_bearer_takes_requirements() {
        let bench = Bench::<WarpApp>::new();
        let read = BearerRequirements::new().scopes(["orders.read"]);
        let filter = oidc_warp::session_or_bearer(bench.rp.clone(), read)
            .map(|who: Principal| {
                let via = match &who {
                    Principal::Bearer(_) => "bearer",
                    _ => "session",
                };
                format!("{via} {}", who.subject().unwrap_or("-"))
            })
            .recover(oidc_warp::recover);
        let page = api(None).reply(&filter).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        assert!(page.headers().contains_key(header::WWW_AUTHENTICATE));
        let page = ::warp::test::request().reply(&filter).await;
        assert_eq!(page.status(), StatusCode::FOUND, "a browser logs in");
        let page = api(Some(&jwt(&bench, "openid"))).reply(&filter).await;
        assert_eq!(page.status(), StatusCode::FORBIDDEN, "the route's scope");
        let page = api(Some(&jwt(&bench, "orders.read"))).reply(&filter).await;
        assert_eq!(page.body().as_ref(), b"bearer alice");
        let mut b = bench.browser();
        b.login("/", "alice").await;
        let cookie = format!("oidc_session={}", b.session_cookie().unwrap());
        let page = ::warp::test::request()
            .header(header::COOKIE, cookie)
            .reply(&filter)
            .await;
        assert_eq!(page.body().as_ref(), b"session alice");
    }
}
