//! Scenarios for providers that do things their own way (issue 16, items 1, 2 and 6): ID
//! tokens MACed with the client secret, userinfo by POST or not at all, signed userinfo
//! responses, and multi-tenant issuers. Re-exported by [`mod@crate::scenarios`], so that every
//! adapter runs them through `scenarios!`.

use http::StatusCode;
use oidc_core::{ClientMetadata, IssuerPolicy, UserinfoMethod};

use crate::harness::{App, Bench, BenchOptions, Browser, CLIENT_ID};
use crate::unchanged::{logged_in_with_pending, Unchanged};
use crate::{Misbehavior, TenantIssuer};

/// A client secret long enough for HS256 (RFC 7518 3.2: at least 32 bytes).
const HMAC_SECRET: &str = "a-client-secret-long-enough-for-hs256-0123456789";

/// The tenant template of the multi-tenant scenarios, on the simulated provider's host.
const TEMPLATE: &str = "https://op.test/{tenantid}/v2.0";

/// A bench whose client has [`HMAC_SECRET`] at the provider and in the app, configured further
/// by `configure`.
fn hmac_bench<A: App>(
    configure: impl FnOnce(oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder
        + 'static,
) -> Bench<A> {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| {
            configure(c.client(ClientMetadata::new(CLIENT_ID, HMAC_SECRET)))
        }),
        ..Default::default()
    });
    let mut client = bench
        .provider
        .client(CLIENT_ID)
        .expect("the bench's client");
    client.client_secret = Some(HMAC_SECRET.to_owned());
    bench.provider.register_client(client);
    bench
}

/// A login of a fresh browser as `alice`: the page it lands on, `200` with the contract JSON.
async fn alice_logs_in<A: App>(bench: &Bench<A>, label: &str) -> serde_json::Value {
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{label}: {}", page.text());
    let v = page.json();
    assert_eq!(v["sub"], "alice", "{label}");
    v
}

/// A second login of the logged-in browser `b`, as `bob`, meets the error view for a
/// validation failure whose description contains `expected`.
async fn bob_is_refused<A: App>(b: &mut Browser<'_, A>, label: &str, expected: &str) {
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "bob");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(page.error(), "invalid_response", "{label}: {}", page.text());
    let description = page.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.contains(expected),
        "{label}: refused for another reason: {description}"
    );
}

/// HS256 ID tokens, MACed with the client secret, log in where client and provider agreed on
/// them: configured on the app (code flow, and `code id_token`, whose front-channel token's
/// `c_hash` uses SHA-256), negotiated from a discovery that advertises HMAC only, and
/// requested in dynamic registration. None of these logins fetches the provider's JWKS: the
/// secret is the key.
pub async fn hmac_id_tokens_log_in<A: App>() {
    for rt in ["code", "code id_token"] {
        let bench =
            hmac_bench::<A>(move |c| c.response_type(rt).id_token_signed_response_alg("HS256"));
        bench
            .provider
            .set_client_signing(CLIENT_ID, Some("HS256"), None);
        alice_logs_in(&bench, rt).await;
        assert_eq!(bench.provider.counters().jwks, 0, "{rt}: no key set needed");
    }

    let bench = hmac_bench::<A>(|c| c);
    bench.provider.advertise_signing_algs(Some(&["HS256"]));
    bench
        .provider
        .set_client_signing(CLIENT_ID, Some("HS256"), None);
    alice_logs_in(&bench, "negotiated").await;
    assert_eq!(bench.provider.counters().jwks, 0, "negotiated");

    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        configure: Box::new(|c| c.id_token_signed_response_alg("HS256")),
        ..Default::default()
    });
    alice_logs_in(&bench, "registered").await;
    assert_eq!(bench.provider.counters().registration, 1);
    assert_eq!(bench.provider.counters().jwks, 0, "registered");
}

/// An app that verifies RS256 with the provider's keys, logged in with a genuine token, with a
/// login in progress in another tab, meets HS256 ID tokens: MACed with the provider's public
/// key (the octets of its RSA modulus, the algorithm-confusion attack), with the client secret
/// (which the client never agreed to), and with the secret from a provider whose discovery
/// advertises `HS256` next to `RS256` (which does not make HMAC acceptable). Each is refused
/// for its algorithm without a JWKS fetch, and the browser's session and pending login are as
/// they were.
pub async fn hs256_token_for_an_rs256_client_is_rejected<A: App>() -> Unchanged {
    let bench = hmac_bench::<A>(|c| c.algorithms(["RS256"]));
    // Before the app's discovery, which it then caches.
    bench
        .provider
        .advertise_signing_algs(Some(&["HS256", "RS256"]));
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    let fetches = bench.provider.counters().jwks;
    for m in [
        Misbehavior::HmacWithPublicKey,
        Misbehavior::HmacWithClientSecret,
    ] {
        bench.provider.set_misbehavior(m.clone());
        bob_is_refused(
            &mut b,
            &format!("{m:?}"),
            "algorithm `HS256` is not allowed",
        )
        .await;
        bench.provider.set_misbehavior(Misbehavior::None);
    }
    bench
        .provider
        .set_client_signing(CLIENT_ID, Some("HS256"), None);
    bob_is_refused(
        &mut b,
        "HS256 next to RS256",
        "algorithm `HS256` is not allowed",
    )
    .await;
    bench.provider.set_client_signing(CLIENT_ID, None, None);
    assert_eq!(
        bench.provider.counters().jwks,
        fetches,
        "no key was looked for"
    );
    before.unchanged(&mut b).await
}

/// HMAC negotiated from a discovery that advertises `HS256` only, where it must not be: for an
/// app that set its own allow-list (`algorithms(["RS256"])`), for a front-channel ID token
/// (implicit `id_token token`, which anyone holding the client secret could mint), and for
/// signed userinfo (whose algorithms the ID token's list says nothing about). Each app is
/// logged in (with RS256 tokens, or a negotiated HS256 code-flow token for the userinfo case)
/// with a login in progress; each HS256 token is refused for its algorithm, and the browser
/// keeps its session and pending login.
pub async fn negotiated_hmac_is_refused_where_not_agreed<A: App>() -> Unchanged {
    for (label, rt) in [
        ("own allow-list", "code"),
        ("front channel", "id_token token"),
    ] {
        let bench = hmac_bench::<A>(move |c| {
            let c = c.response_type(rt);
            if rt == "code" {
                c.algorithms(["RS256"])
            } else {
                c
            }
        });
        // Before the app's discovery, which it then caches.
        bench.provider.advertise_signing_algs(Some(&["HS256"]));
        let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
        bench
            .provider
            .set_client_signing(CLIENT_ID, Some("HS256"), None);
        bob_is_refused(&mut b, label, "algorithm `HS256` is not allowed").await;
        bench.provider.set_client_signing(CLIENT_ID, None, None);
        let _each = before.unchanged(&mut b).await;
    }

    let bench = hmac_bench::<A>(|c| c);
    bench.provider.advertise_signing_algs(Some(&["HS256"]));
    bench
        .provider
        .set_client_signing(CLIENT_ID, Some("HS256"), None);
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    bench
        .provider
        .set_client_signing(CLIENT_ID, Some("HS256"), Some("HS256"));
    bob_is_refused(
        &mut b,
        "HS256 userinfo",
        "invalid signed userinfo response: algorithm `HS256` is not allowed",
    )
    .await;
    bench
        .provider
        .set_client_signing(CLIENT_ID, Some("HS256"), None);
    before.unchanged(&mut b).await
}

/// An app configured with `userinfo_signed_response_alg`, logged in with signed userinfo and
/// with a login in progress, meets a provider (or anyone answering the userinfo call) that
/// answers with plain JSON: the downgrade is refused, and the browser keeps its session and
/// pending login.
pub async fn plain_userinfo_is_refused_when_signed_is_configured<A: App>() -> Unchanged {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.userinfo_signed_response_alg("RS256")),
        ..Default::default()
    });
    bench
        .provider
        .set_client_signing(CLIENT_ID, None, Some("RS256"));
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    bench.provider.set_client_signing(CLIENT_ID, None, None);
    bob_is_refused(&mut b, "plain JSON userinfo", "application/jwt").await;
    bench
        .provider
        .set_client_signing(CLIENT_ID, None, Some("RS256"));
    before.unchanged(&mut b).await
}

/// `userinfo_method(Body)`: the provider sees a POST with the access token in the form body and
/// no `Authorization` header, and the session holds its claims; `UserinfoMethod::None`: no
/// userinfo call, and no userinfo in the session.
pub async fn userinfo_method_is_followed<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.userinfo_method(UserinfoMethod::Body)),
        ..Default::default()
    });
    let v = alice_logs_in(&bench, "body").await;
    assert_eq!(v["userinfo"]["sub"], "alice");
    let request = bench
        .provider
        .last_userinfo_request()
        .expect("a userinfo call");
    assert_eq!(request.method(), http::Method::POST);
    assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
    let form: Vec<(String, String)> = form_urlencoded::parse(request.body())
        .into_owned()
        .collect();
    assert!(
        form.len() == 1 && form[0].0 == "access_token" && !form[0].1.is_empty(),
        "{form:?}"
    );

    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(|c| c.userinfo_method(UserinfoMethod::None)),
        ..Default::default()
    });
    let v = alice_logs_in(&bench, "none").await;
    assert!(v["userinfo"].is_null(), "{v}");
    assert_eq!(bench.provider.counters().userinfo, 0);
}

/// A provider that answers userinfo with a signed JWT (`application/jwt`), for a client
/// registered so statically or through dynamic registration
/// (`userinfo_signed_response_alg`): the app verifies it with the provider's keys and keeps
/// its claims (`aud` among them, which plain JSON userinfo has not).
pub async fn signed_userinfo_is_accepted<A: App>() {
    let bench = Bench::<A>::new();
    bench
        .provider
        .set_client_signing(CLIENT_ID, None, Some("RS256"));
    let v = alice_logs_in(&bench, "static").await;
    assert_eq!(v["userinfo"]["aud"], CLIENT_ID, "{v}");
    assert_eq!(v["userinfo"]["email"], "alice@example.com", "{v}");

    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        configure: Box::new(|c| c.userinfo_signed_response_alg("RS256")),
        ..Default::default()
    });
    let v = alice_logs_in(&bench, "registered").await;
    assert_eq!(v["userinfo"]["sub"], "alice", "{v}");
    assert!(v["userinfo"]["aud"].is_string(), "signed: {v}");
}

/// Signed userinfo with another `aud`, another `iss`, or a changed signature: each second
/// login is refused, and the browser, logged in with signed userinfo and with a login in
/// progress, keeps its session (no new one is made).
pub async fn bad_signed_userinfo_is_rejected<A: App>() -> Unchanged {
    let bench = Bench::<A>::new();
    bench
        .provider
        .set_client_signing(CLIENT_ID, None, Some("RS256"));
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    for (m, expected) in [
        (Misbehavior::SignedUserinfoWrongAudience, "audience"),
        (Misbehavior::SignedUserinfoWrongIssuer, "issuer mismatch"),
        (
            Misbehavior::SignedUserinfoBadSignature,
            "signature verification failed",
        ),
    ] {
        bench.provider.set_misbehavior(m.clone());
        bob_is_refused(&mut b, &format!("{m:?}"), expected).await;
        bench.provider.set_misbehavior(Misbehavior::None);
    }
    before.unchanged(&mut b).await
}

/// A bench for a multi-tenant provider: the app's issuer policy is the template (with
/// `allowed` tenants, when given), the provider publishes the template as its issuer and
/// issues tokens as `tenant`, and sends no RFC 9207 `iss` (as Entra does not).
fn tenant_bench<A: App>(allowed: Option<Vec<&'static str>>, tenant: &str) -> Bench<A> {
    let policy = match allowed {
        Some(tenants) => IssuerPolicy::tenant_template_for(TEMPLATE, tenants),
        None => IssuerPolicy::tenant_template(TEMPLATE),
    };
    let bench = Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| c.issuer_policy(policy)),
        ..Default::default()
    });
    bench.provider.set_iss_parameter(false);
    bench
        .provider
        .set_tenant_issuer(Some(TenantIssuer::new(TEMPLATE, tenant)));
    bench
}

/// With a tenant template, the provider's discovery publishes the template itself as issuer
/// and a tenant's ID token (`iss` = the template with its `tid`) logs in, with or without an
/// allow-list that names the tenant.
pub async fn tenant_issuer_logs_in<A: App>() {
    for allowed in [None, Some(vec!["tenant-a", "tenant-b"])] {
        let bench = tenant_bench::<A>(allowed.clone(), "tenant-a");
        let v = alice_logs_in(&bench, &format!("{allowed:?}")).await;
        assert_eq!(v["id_token_claims"]["iss"], "https://op.test/tenant-a/v2.0");
        assert_eq!(v["id_token_claims"]["tid"], "tenant-a");
    }
}

/// Tenant tokens that do not fit the policy: `iss` naming another tenant than `tid`, no
/// `tid`, a `tid` with a `/` (which would move the issuer path), a tenant not on the
/// allow-list; and, with the default exact policy, any tenant token at all. Each second login
/// is refused and the browser keeps its session and pending login.
pub async fn tenant_token_mismatches_are_rejected<A: App>() -> Unchanged {
    let exact = Bench::<A>::new();
    let (mut b, before) = logged_in_with_pending(&exact, "alice").await;
    exact.provider.set_tenant_issuer(Some(TenantIssuer::new(
        "https://op.test/{tenantid}",
        "op.test",
    )));
    bob_is_refused(&mut b, "exact policy", "issuer mismatch").await;
    exact.provider.set_tenant_issuer(None);
    let _exact = before.unchanged(&mut b).await;

    let bench = tenant_bench::<A>(Some(vec!["tenant-a", "tenant-b"]), "tenant-a");
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    let tenant = |iss: &str, tid: Option<&str>| TenantIssuer {
        template: TEMPLATE.to_owned(),
        iss_tenant: iss.to_owned(),
        tid: tid.map(str::to_owned),
    };
    for (bad, expected) in [
        (tenant("tenant-a", Some("tenant-b")), "issuer mismatch"),
        (tenant("tenant-a", None), "missing claim `tid`"),
        (
            tenant("tenant-a/x", Some("tenant-a/x")),
            "not a plain tenant id",
        ),
        (
            tenant("tenant-c", Some("tenant-c")),
            "tenant is not allowed",
        ),
    ] {
        let label = format!("{bad:?}");
        bench.provider.set_tenant_issuer(Some(bad));
        bob_is_refused(&mut b, &label, expected).await;
    }
    bench
        .provider
        .set_tenant_issuer(Some(TenantIssuer::new(TEMPLATE, "tenant-a")));
    before.unchanged(&mut b).await
}
