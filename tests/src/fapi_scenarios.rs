//! The FAPI 2.0 preset ([`ProviderConfigBuilder::fapi2`](oidc_core::ProviderConfigBuilder::fapi2)),
//! run by every adapter through [`scenarios!`](macro@crate::scenarios): one switch gives a login
//! that is pushed, `private_key_jwt`-authenticated with the issuer as audience, PKCE-protected,
//! DPoP-bound and signed with ES256; and the rejections the profile adds: a response without
//! the RFC 9207 `iss` (though the provider never promised it), and an ID token signed with an
//! algorithm outside the profile's.

use http::StatusCode;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use oidc_core::client_auth::{jwks_document, JWT_BEARER_ASSERTION_TYPE};
use oidc_core::ClientPrivateKey;

use crate::harness::{App, Bench, BenchOptions, Browser, CLIENT_ID, ISSUER};
use crate::unchanged::{logged_in_with_pending, Unchanged};
use crate::SigningAlg;

/// A fresh ES256 client key (fast to make).
fn client_key() -> ClientPrivateKey {
    let pem = EcKeyPair::generate(EcCurve::P256)
        .expect("EC key")
        .to_pem_private_key();
    ClientPrivateKey::parse(std::str::from_utf8(&pem).expect("PEM is text")).expect("a usable key")
}

/// A bench whose provider is configured with the FAPI 2.0 preset and nothing else, at a
/// provider that knows the client's key, accepts only `private_key_jwt` from it, and signs
/// with ES256.
fn fapi_bench<A: App>() -> Bench<A> {
    let key = client_key();
    let jwks = jwks_document([&key]);
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| c.private_key(key).fapi2()),
        ..Default::default()
    });
    bench.provider.set_client_jwks(CLIENT_ID, jwks);
    bench
        .provider
        .set_token_endpoint_auth_methods(Some(&["private_key_jwt"]));
    bench
        .provider
        .require_client_auth_method(CLIENT_ID, "private_key_jwt");
    bench.provider.set_signing_algorithm(SigningAlg::Es256);
    bench
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The claims of a compact JWT, unverified (the provider verified it).
fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a compact JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// One switch, every protection: the browser carries only `client_id` and `request_uri`, the
/// push and the token request authenticate with `private_key_jwt` whose audience is the
/// issuer, the push carries PKCE S256, the tokens are DPoP-bound, and the session holds the key.
pub async fn fapi2_login_uses_every_protection<A: App>() {
    let bench = fapi_bench::<A>();
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let names: Vec<String> = url::Url::parse(&auth)
        .expect("an absolute URL")
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    assert_eq!(names, ["client_id", "request_uri"], "{auth}");
    let back = b.authorize(&auth, "alice");
    assert!(back.contains("iss="), "the provider sends iss: {back}");
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");

    let calls = bench.provider.par_calls();
    assert_eq!(calls.len(), 1);
    let push = &calls[0];
    assert_eq!(push.status, 201);
    assert_eq!(
        value(&push.form, "client_assertion_type"),
        Some(JWT_BEARER_ASSERTION_TYPE)
    );
    assert!(value(&push.form, "client_secret").is_none());
    let assertion = value(&push.form, "client_assertion").expect("an assertion");
    assert_eq!(
        claims(assertion)["aud"],
        ISSUER,
        "the issuer is the audience"
    );
    assert_eq!(value(&push.params, "code_challenge_method"), Some("S256"));
    assert_eq!(value(&push.params, "response_type"), Some("code"));

    let token = bench
        .provider
        .last_token_request()
        .expect("a token request");
    assert!(token.headers().get("dpop").is_some(), "a DPoP proof");
    assert!(token.headers().get("authorization").is_none());
    let form: Vec<(String, String)> = form_urlencoded::parse(token.body()).into_owned().collect();
    let assertion = value(&form, "client_assertion").expect("an assertion");
    assert_eq!(claims(assertion)["aud"], ISSUER);
    assert!(value(&form, "code_verifier").is_some());

    let user = b.stored_session().await.expect("a stored session");
    assert_eq!(user.access_token_type(), "DPoP");
    assert!(user.dpop.is_some());
}

/// Starts a login in `b`, has the provider answer it without `iss`, and delivers that.
async fn deliver_without_iss<A: App>(
    bench: &Bench<A>,
    b: &mut Browser<'_, A>,
) -> crate::harness::Page {
    bench.provider.set_iss_parameter(false);
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "mallory");
    bench.provider.set_iss_parameter(true);
    assert!(!back.contains("iss="), "{back}");
    b.deliver(&auth, &back).await
}

/// FAPI 2.0 requires the RFC 9207 `iss` parameter even from a provider whose metadata does
/// not promise it: a response without it is refused, and the logged-in session and the
/// pending login are untouched.
pub async fn fapi2_response_without_iss_is_rejected<A: App>() -> Unchanged {
    let bench = fapi_bench::<A>();
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    let page = deliver_without_iss(&bench, &mut b).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    assert!(page.status.is_client_error(), "{}", page.status);
    before.unchanged(&mut b).await
}

/// The profile allows PS256, ES256 and EdDSA: an ID token signed RS256 (a provider that
/// ignored the client's registration) ends the login, and nothing changes.
pub async fn fapi2_rs256_id_token_is_rejected<A: App>() -> Unchanged {
    let bench = fapi_bench::<A>();
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    bench.provider.set_signing_algorithm(SigningAlg::Rs256);
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "mallory");
    let page = b.deliver(&auth, &back).await;
    assert!(
        page.status.is_client_error() || page.status.is_server_error(),
        "{}: {}",
        page.status,
        page.text()
    );
    assert!(!page.error().is_empty(), "{}", page.text());
    // The provider signs with ES256 again (a new key, which the app fetches once the JWKS
    // refetch interval has passed): the pending login then completes.
    bench.provider.set_signing_algorithm(SigningAlg::Es256);
    bench
        .clock
        .advance(oidc_core::jwks::DEFAULT_REFETCH_INTERVAL + 1);
    before.unchanged(&mut b).await
}
