//! Scenarios for encrypted ID tokens and userinfo (issue 18 item 5, OpenID Connect Core
//! 10.2): logins with `RSA-OAEP-256` and `ECDH-ES` (and `ECDH-ES+A128KW`) ID tokens, encrypted
//! userinfo (plain JSON and nested signed), a rotation of the decryption key, dynamic
//! registration, and the refusal of a JWE for another key, with another algorithm, without a
//! signature inside, and of a plain ID token when encryption is configured. Re-exported by
//! [`crate::scenarios`](mod@crate::scenarios), so that every adapter runs them through
//! `scenarios!`.

use std::sync::OnceLock;

use http::StatusCode;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use oidc_core::jwe::ClientDecryptionKey;
use serde_json::Value;

use crate::harness::{App, Bench, BenchOptions, Browser, CLIENT_ID};
use crate::unchanged::{logged_in_with_pending, Unchanged};
use crate::EncryptionMisbehavior;

/// Two RSA decryption keys (`enc-rsa-1`, `enc-rsa-2`) and a P-256 one, made once per process:
/// RSA key generation is slow.
fn keys() -> &'static [ClientDecryptionKey; 3] {
    static KEYS: OnceLock<[ClientDecryptionKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = |kid: &str| {
            let mut jwk = RsaKeyPair::generate(2048)
                .expect("RSA key generation")
                .to_jwk_key_pair();
            jwk.set_key_id(kid);
            ClientDecryptionKey::parse(&jwk.to_string()).expect("an RSA decryption key")
        };
        let ec = EcKeyPair::generate(EcCurve::P256).expect("EC key generation");
        let pem = String::from_utf8(ec.to_pem_private_key()).expect("PEM is text");
        let ec = ClientDecryptionKey::parse(&pem)
            .expect("an EC decryption key")
            .with_key_id("enc-ec");
        [rsa("enc-rsa-1"), rsa("enc-rsa-2"), ec]
    })
}

/// A bench whose app decrypts with `app_keys` and configures itself further with
/// `configure`; the provider encrypts ID tokens with `alg`/`enc` to the keys the app's JWKS
/// route serves (all of them, or `provider_keys` by `kid` when given).
async fn encryption_bench<A: App>(
    app_keys: Vec<ClientDecryptionKey>,
    configure: impl FnOnce(oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder
        + 'static,
    id_token: Option<(&str, &str)>,
) -> Bench<A> {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(move |mut c| {
            for key in app_keys {
                c = c.decryption_key(key);
            }
            configure(c)
        }),
        ..Default::default()
    });
    let jwks = served_jwks(&mut bench.browser()).await;
    bench.provider.set_client_jwks(CLIENT_ID, jwks);
    bench.provider.set_id_token_encryption(CLIENT_ID, id_token);
    bench
}

/// The app's JWKS document.
async fn served_jwks<A: App>(b: &mut Browser<'_, A>) -> Value {
    let page = b.get("/jwks.json").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    page.json()
}

/// The provider publishes only the app's keys with these `kid`s as the client's JWKS (the
/// client registered a new key set).
async fn provider_knows_only<A: App>(bench: &Bench<A>, kids: &[&str]) {
    let mut jwks = served_jwks(&mut bench.browser()).await;
    if let Some(list) = jwks.get_mut("keys").and_then(Value::as_array_mut) {
        list.retain(|k| kids.iter().any(|kid| k["kid"] == *kid));
    }
    bench.provider.set_client_jwks(CLIENT_ID, jwks);
}

/// A fresh browser's login as alice: the contract JSON of the page it lands on.
async fn alice_logs_in<A: App>(bench: &Bench<A>, label: &str) -> Value {
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{label}: {}", page.text());
    let v = page.json();
    assert_eq!(v["sub"], "alice", "{label}");
    v
}

/// Encrypted ID tokens log in with `RSA-OAEP-256`/`A256GCM`, `ECDH-ES`/`A128GCM` and
/// `ECDH-ES+A128KW`/`A128CBC-HS256`; the app's JWKS route serves the public halves of its
/// decryption keys with `use: enc` and no private member; a token refresh, whose ID token is
/// encrypted too, keeps the session; in the hybrid flow both ID tokens are encrypted.
pub async fn encrypted_id_tokens_log_in<A: App>() {
    let [rsa, _, ec] = keys().clone();
    for (alg, enc, key) in [
        ("RSA-OAEP-256", "A256GCM", rsa),
        ("ECDH-ES", "A128GCM", ec.clone()),
        ("ECDH-ES+A128KW", "A128CBC-HS256", ec),
    ] {
        let kid = key.key_id().to_owned();
        let bench = encryption_bench::<A>(
            vec![key],
            move |c| c.id_token_encrypted_response(alg, enc),
            Some((alg, enc)),
        )
        .await;
        let jwks = served_jwks(&mut bench.browser()).await;
        let keys = jwks["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1, "{alg}: {jwks}");
        assert_eq!(keys[0]["use"], "enc", "{alg}");
        assert_eq!(keys[0]["kid"], kid.as_str(), "{alg}");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(keys[0].get(private).is_none(), "{alg}: {private} published");
        }
        let mut b = bench.browser();
        let page = b.login("/", "alice").await;
        assert_eq!(page.status, StatusCode::OK, "{alg}: {}", page.text());
        assert_eq!(
            page.json()["id_token_claims"]["iss"],
            bench.provider.issuer(),
            "{alg}"
        );
        // A refresh's ID token is encrypted too, and decrypted alike.
        let calls = bench.provider.counters().token;
        let page = b.get_json("/access_token?force=true").await;
        assert_eq!(page.status, StatusCode::OK, "{alg}: {}", page.text());
        assert_eq!(
            bench.provider.counters().token,
            calls + 1,
            "{alg}: refreshed"
        );
        assert_eq!(b.get_json("/").await.json()["sub"], "alice", "{alg}");
    }
    // The hybrid flow: the front channel's ID token is encrypted as the token endpoint's.
    let [rsa, ..] = keys().clone();
    let bench = encryption_bench::<A>(
        vec![rsa],
        |c| {
            c.response_type("code id_token")
                .id_token_encrypted_response("RSA-OAEP-256", "A256GCM")
        },
        Some(("RSA-OAEP-256", "A256GCM")),
    )
    .await;
    alice_logs_in(&bench, "code id_token").await;
}

/// Encrypted userinfo is accepted: encrypted JSON claims, and a signed userinfo JWT inside
/// the JWE when the app asks for signed userinfo.
pub async fn encrypted_userinfo_is_accepted<A: App>() {
    let [rsa, ..] = keys().clone();
    for signed in [false, true] {
        let bench = encryption_bench::<A>(
            vec![rsa.clone()],
            move |c| {
                let c = c.userinfo_encrypted_response("RSA-OAEP-256", "A256GCM");
                if signed {
                    c.userinfo_signed_response_alg("RS256")
                } else {
                    c
                }
            },
            None,
        )
        .await;
        bench
            .provider
            .set_userinfo_encryption(CLIENT_ID, Some(("RSA-OAEP-256", "A256GCM")));
        if signed {
            bench
                .provider
                .set_client_signing(CLIENT_ID, None, Some("RS256"));
        }
        let v = alice_logs_in(&bench, &format!("signed: {signed}")).await;
        assert_eq!(v["userinfo"]["sub"], "alice", "signed: {signed}: {v}");
        assert_eq!(
            v["userinfo"]["email"], "alice@example.com",
            "signed: {signed}: {v}"
        );
    }
}

/// A rotation of the decryption key: the app holds the old key and the new one and serves
/// both; ID tokens encrypted to the old key log in, then (the provider having learnt the new
/// key set) those encrypted to the new one.
pub async fn decryption_key_rotation_logs_in<A: App>() {
    let [old, new, _] = keys().clone();
    let bench = encryption_bench::<A>(
        vec![old, new],
        |c| c.id_token_encrypted_response("RSA-OAEP-256", "A256GCM"),
        Some(("RSA-OAEP-256", "A256GCM")),
    )
    .await;
    let jwks = served_jwks(&mut bench.browser()).await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2), "{jwks}");
    provider_knows_only(&bench, &["enc-rsa-1"]).await;
    alice_logs_in(&bench, "the old key").await;
    provider_knows_only(&bench, &["enc-rsa-2"]).await;
    alice_logs_in(&bench, "the new key").await;
}

/// A dynamic registration with a decryption key sends the app's JWKS route as `jwks_uri` and
/// asks for encrypted ID tokens; the provider, having fetched that key set, encrypts them, and
/// the login succeeds.
pub async fn dynamic_registration_asks_for_encryption<A: App>() {
    let [rsa, ..] = keys().clone();
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        configure: Box::new(move |c| {
            c.decryption_key(rsa)
                .id_token_encrypted_response("RSA-OAEP-256", "A256GCM")
        }),
        ..Default::default()
    });
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let client_id = url::Url::parse(&auth)
        .expect("an absolute URL")
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
        .expect("a client_id");
    assert_eq!(
        bench.provider.client_jwks_uri(&client_id).as_deref(),
        Some(format!("{}/jwks.json", bench.app_url).as_str())
    );
    let jwks = served_jwks(&mut b).await;
    bench.provider.set_client_jwks(&client_id, jwks);
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
}

/// A second login of a logged-in browser with a login in progress, answered with an ID token
/// the provider encrypted wrongly as `m` says, meets the error view naming `expected`; the
/// login in progress still completes afterwards.
async fn misbehaving_encryption<A: App>(m: EncryptionMisbehavior, expected: &str) -> Unchanged {
    let [rsa, ..] = keys().clone();
    let bench = encryption_bench::<A>(
        vec![rsa],
        |c| c.id_token_encrypted_response("RSA-OAEP-256", "A256GCM"),
        Some(("RSA-OAEP-256", "A256GCM")),
    )
    .await;
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    bench.provider.set_encryption_misbehavior(Some(m));
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), "invalid_response", "{m:?}: {}", page.text());
    let description = page.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.contains("encrypted ID token") && description.contains(expected),
        "{m:?}: refused for another reason: {description}"
    );
    bench.provider.set_encryption_misbehavior(None);
    before.unchanged(&mut b).await
}

/// An ID token encrypted to a key the app does not hold (under its key's `kid`) is refused.
pub async fn jwe_for_another_key_is_rejected<A: App>() -> Unchanged {
    misbehaving_encryption::<A>(
        EncryptionMisbehavior::OtherKey,
        "no configured decryption key",
    )
    .await
}

/// An ID token encrypted with another `enc` than the configured one is refused, although the
/// app's key could decrypt it.
pub async fn jwe_with_another_algorithm_is_rejected<A: App>() -> Unchanged {
    misbehaving_encryption::<A>(EncryptionMisbehavior::OtherAlgorithm, "not the configured").await
}

/// An encrypted ID token with claims inside, not a signed JWT, is refused: anyone can encrypt
/// to the app's public key.
pub async fn unsigned_encrypted_id_token_is_rejected<A: App>() -> Unchanged {
    misbehaving_encryption::<A>(EncryptionMisbehavior::Unsigned, "not signed").await
}

/// A plain signed ID token, when the app configured encryption, is refused (no downgrade).
pub async fn plain_id_token_is_rejected_when_encryption_is_configured<A: App>() -> Unchanged {
    misbehaving_encryption::<A>(EncryptionMisbehavior::Plain, "not encrypted").await
}
