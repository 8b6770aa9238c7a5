//! Client authentication at the token endpoint, run by every adapter through
//! [`scenarios!`](macro@crate::scenarios): the method chosen from discovery, a pinned method the
//! provider does not offer, `client_secret_jwt` and `private_key_jwt` logins (the provider
//! verifies each assertion), the app's public JWKS route, dynamic registration with a private
//! key, and a provider refusing the assertion.

use http::StatusCode;
use josekit::jwk::alg::{ec::EcCurve, ec::EcKeyPair, ed::EdCurve, ed::EdKeyPair, rsa::RsaKeyPair};
use josekit::jwk::KeyPair;
use oidc_core::{ClientAuthMethod, ClientMetadata, ClientPrivateKey};
use serde_json::Value;

use crate::harness::{App, Bench, BenchOptions, CLIENT_ID, ISSUER};
use crate::unchanged::Unchanged;
use crate::SimClient;

/// A secret long enough for HS256 (RFC 7518 3.2).
const LONG_SECRET: &str = "a-client-secret-of-more-than-thirty-two-bytes";

/// A fresh private key of the kind `alg` signs with, as a PEM, parsed.
fn key_for(alg: &str) -> ClientPrivateKey {
    let pem = match alg {
        "ES256" => EcKeyPair::generate(EcCurve::P256)
            .expect("EC key")
            .to_pem_private_key(),
        "EdDSA" => EdKeyPair::generate(EdCurve::Ed25519)
            .expect("Ed25519 key")
            .to_pem_private_key(),
        _ => RsaKeyPair::generate(2048)
            .expect("RSA key")
            .to_pem_private_key(),
    };
    let key = ClientPrivateKey::parse(std::str::from_utf8(&pem).expect("PEM is text"))
        .expect("a usable key");
    match alg {
        "PS256" => key.with_algorithm("PS256").expect("an RSA key signs PS256"),
        _ => key,
    }
}

/// The provider's form of the last token request.
fn last_token_form<A: App>(bench: &Bench<A>) -> Vec<(String, String)> {
    let request = bench
        .provider
        .last_token_request()
        .expect("a token request");
    assert!(
        request.headers().get("authorization").is_none(),
        "no Basic header beside a form method"
    );
    form_urlencoded::parse(request.body())
        .into_owned()
        .collect()
}

fn has(form: &[(String, String)], name: &str) -> bool {
    form.iter().any(|(k, _)| k == name)
}

/// A client whose method is not pinned uses what the provider advertises: with only
/// `client_secret_post` listed (and the provider holding the client to it), the login works
/// and the secret went in the form, not in a Basic header (which the provider would refuse:
/// the app used to send it whatever discovery said).
pub async fn negotiated_method_follows_discovery<A: App>() {
    let bench = Bench::<A>::new();
    bench
        .provider
        .set_token_endpoint_auth_methods(Some(&["client_secret_post"]));
    bench
        .provider
        .require_client_auth_method(CLIENT_ID, "client_secret_post");
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    let form = last_token_form(&bench);
    assert!(has(&form, "client_secret") && has(&form, "client_id"));
    assert!(!has(&form, "client_assertion"));
}

/// A pinned method the provider does not advertise is a configuration error, named as such,
/// before anything is sent to the provider: no silent fallback to another method.
pub async fn pinned_unadvertised_method_is_a_configuration_error<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| {
            c.client(
                ClientMetadata::new(CLIENT_ID, crate::harness::CLIENT_SECRET)
                    .with_auth_method(ClientAuthMethod::ClientSecretBasic),
            )
        }),
        ..Default::default()
    });
    bench
        .provider
        .set_token_endpoint_auth_methods(Some(&["client_secret_post"]));
    let mut b = bench.browser();
    let page = b.get("/").await;
    assert_eq!(page.error(), "configuration_error", "{}", page.text());
    let description = page.json()["error_description"].to_string();
    assert!(
        description.contains("token_endpoint_auth_method")
            && description.contains("client_secret_basic"),
        "{description}"
    );
    assert_eq!(bench.provider.counters().authorize, 0);
    assert_eq!(bench.provider.counters().token, 0);
    assert!(!b.is_logged_in().await);
}

/// `client_secret_jwt`, chosen because the provider advertises only it: the login works, and
/// the provider verified an HS256 assertion with `iss` = `sub` = the client, `aud` = its
/// token endpoint, a `jti`, and a one-minute lifetime.
pub async fn client_secret_jwt_login_works<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.client(ClientMetadata::new(CLIENT_ID, LONG_SECRET))),
        ..Default::default()
    });
    let mut client = SimClient::confidential(
        CLIENT_ID,
        LONG_SECRET,
        &format!("{}/redirect_uri", bench.app_url),
    );
    client.post_logout_redirect_uris = vec![format!("{}/logout", bench.app_url)];
    bench.provider.register_client(client);
    bench
        .provider
        .set_token_endpoint_auth_methods(Some(&["client_secret_jwt"]));
    bench
        .provider
        .require_client_auth_method(CLIENT_ID, "client_secret_jwt");
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    let form = last_token_form(&bench);
    assert!(!has(&form, "client_secret"), "the secret never travels");
    let seen = bench
        .provider
        .last_client_assertion()
        .expect("an accepted assertion");
    assert_eq!(seen["header"]["alg"], "HS256");
    let claims = &seen["claims"];
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["aud"], format!("{ISSUER}/token"));
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 60);
}

/// The app's JWKS as its route serves it.
async fn served_jwks<A: App>(b: &mut crate::harness::Browser<'_, A>) -> Value {
    let page = b.get("/jwks.json").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.headers["content-type"], "application/json");
    page.json()
}

/// `private_key_jwt` with each supported algorithm (RS256, PS256, ES256, EdDSA): the app
/// serves its public key at `/jwks.json` (with `kid`, `use`, `alg`, and no private member),
/// the provider verifies each login's assertion with that key, and the route answers `GET`
/// only.
pub async fn private_key_jwt_login_works<A: App>() {
    for alg in ["ES256", "EdDSA", "RS256", "PS256"] {
        let key = key_for(alg);
        let kid = key.key_id().to_owned();
        let bench = Bench::<A>::with(BenchOptions {
            configure: Box::new(move |c| c.private_key(key)),
            ..Default::default()
        });
        bench
            .provider
            .set_token_endpoint_auth_methods(Some(&["client_secret_basic", "private_key_jwt"]));
        bench
            .provider
            .require_client_auth_method(CLIENT_ID, "private_key_jwt");
        let mut b = bench.browser();
        let jwks = served_jwks(&mut b).await;
        let keys = jwks["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1, "{alg}: {jwks}");
        assert_eq!(keys[0]["kid"], kid.as_str(), "{alg}");
        assert_eq!(keys[0]["use"], "sig");
        assert_eq!(keys[0]["alg"], alg);
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(keys[0].get(private).is_none(), "{alg}: {private} published");
        }
        let post = b
            .send(
                http::Request::post(format!("{}/jwks.json", bench.app_url))
                    .body(bytes::Bytes::new())
                    .unwrap(),
            )
            .await;
        // The core answers 405; Rocket, which mounts the route for GET only, its own 404.
        assert!(
            post.status == StatusCode::METHOD_NOT_ALLOWED || post.status == StatusCode::NOT_FOUND,
            "{alg}: {}",
            post.status
        );
        bench.provider.set_client_jwks(CLIENT_ID, jwks.clone());
        let page = b.login("/", "alice").await;
        assert_eq!(page.status, StatusCode::OK, "{alg}: {}", page.text());
        let form = last_token_form(&bench);
        assert!(!has(&form, "client_secret"), "{alg}");
        let seen = bench
            .provider
            .last_client_assertion()
            .expect("an assertion");
        assert_eq!(seen["header"]["alg"], alg);
        assert_eq!(seen["header"]["kid"], kid.as_str());
        assert_eq!(seen["claims"]["aud"], format!("{ISSUER}/token"));
    }
}

/// Without a private key, `/jwks.json` is no route of the relying party's: the app's own
/// routing answers it (here, as a protected page would).
pub async fn no_jwks_route_without_a_key<A: App>() {
    let bench = Bench::<A>::new();
    let mut b = bench.browser();
    let page = b.get_json("/jwks.json").await;
    assert_ne!(page.status, StatusCode::OK, "{}", page.text());
}

/// Dynamic registration with a private key asks for `private_key_jwt` and sends the app's
/// JWKS route as `jwks_uri`; the provider, given the keys found there, lets the new client
/// log in with its assertions.
pub async fn dynamic_registration_sends_the_jwks_uri<A: App>() {
    let key = key_for("ES256");
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        configure: Box::new(move |c| c.private_key(key)),
        ..Default::default()
    });
    bench
        .provider
        .set_token_endpoint_auth_methods(Some(&["client_secret_basic", "private_key_jwt"]));
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let client_id = url::Url::parse(&auth)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
        .expect("a client_id");
    assert_eq!(
        bench.provider.client_jwks_uri(&client_id).as_deref(),
        Some(format!("{}/jwks.json", bench.app_url).as_str())
    );
    let registered = bench.provider.client(&client_id).expect("registered");
    assert!(
        registered.client_secret.is_none(),
        "a key client has no secret"
    );
    let jwks = served_jwks(&mut b).await;
    bench.provider.set_client_jwks(&client_id, jwks);
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    let seen = bench
        .provider
        .last_client_assertion()
        .expect("an assertion");
    assert_eq!(seen["claims"]["sub"], client_id.as_str());
}

/// A provider that refuses the app's assertion (it holds another key for the client) answers
/// `invalid_client`: the login shows that error, and the browser's session and its other
/// login in progress are unchanged (the latter completes once the provider has the right key
/// again).
pub async fn refused_assertion_changes_nothing<A: App>() -> Unchanged {
    let key = key_for("ES256");
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| c.private_key(key)),
        ..Default::default()
    });
    bench
        .provider
        .set_token_endpoint_auth_methods(Some(&["private_key_jwt"]));
    bench
        .provider
        .require_client_auth_method(CLIENT_ID, "private_key_jwt");
    let mut probe = bench.browser();
    let jwks = served_jwks(&mut probe).await;
    bench.provider.set_client_jwks(CLIENT_ID, jwks.clone());
    let (mut b, before) = crate::unchanged::logged_in_with_pending(&bench, "alice").await;
    let other = ClientPrivateKey::parse(
        std::str::from_utf8(
            &EcKeyPair::generate(EcCurve::P256)
                .expect("EC key")
                .to_pem_private_key(),
        )
        .expect("PEM"),
    )
    .expect("a key")
    .with_key_id(jwks["keys"][0]["kid"].as_str().expect("a kid").to_owned());
    bench
        .provider
        .set_client_jwks(CLIENT_ID, oidc_core::client_auth::jwks_document([&other]));
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), "invalid_client", "{}", page.text());
    bench.provider.set_client_jwks(CLIENT_ID, jwks);
    before.unchanged(&mut b).await
}

/// The other calls authenticate the same way: with `private_key_jwt`, a forced token refresh
/// sends a new assertion (a fresh `jti`) to the token endpoint, and a bearer token at
/// `/api/me` is introspected with one whose `aud` is the introspection endpoint.
pub async fn private_key_jwt_refresh_and_introspection_work<A: App>() {
    let key = key_for("ES256");
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| c.private_key(key)),
        ..Default::default()
    });
    bench
        .provider
        .set_token_endpoint_auth_methods(Some(&["private_key_jwt"]));
    bench
        .provider
        .require_client_auth_method(CLIENT_ID, "private_key_jwt");
    let mut b = bench.browser();
    let jwks = served_jwks(&mut b).await;
    bench.provider.set_client_jwks(CLIENT_ID, jwks);
    assert_eq!(b.login("/", "alice").await.status, StatusCode::OK);
    let at_login = bench
        .provider
        .last_client_assertion()
        .expect("an assertion");
    let page = b.get_json("/access_token?force=true").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let token = page.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let form = last_token_form(&bench);
    assert!(form
        .iter()
        .any(|(k, v)| k == "grant_type" && v == "refresh_token"));
    let at_refresh = bench
        .provider
        .last_client_assertion()
        .expect("an assertion");
    assert_ne!(at_refresh["claims"]["jti"], at_login["claims"]["jti"]);
    assert_eq!(at_refresh["claims"]["aud"], format!("{ISSUER}/token"));
    let mut api = bench.browser();
    let page = api
        .send(
            http::Request::get(format!("{}/api/me", bench.app_url))
                .header(http::header::ACCEPT, "application/json")
                .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
                .body(bytes::Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
    let at_introspection = bench
        .provider
        .last_client_assertion()
        .expect("an assertion");
    assert_eq!(
        at_introspection["claims"]["aud"],
        format!("{ISSUER}/introspect")
    );
    assert_eq!(at_introspection["header"]["alg"], "ES256");
}
