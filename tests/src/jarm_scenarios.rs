//! Scenarios for JARM (issue 18 item 4): logins with each JWT response mode, and the refusal
//! of JARM responses with a bad signature, another audience, a past `exp` or another issuer,
//! and of a plain response to a login that asked for a JWT. Every refusal happens before the
//! login its `state` names is looked up: the pending login survives, and completes afterwards.
//! Re-exported by [`crate::scenarios`](mod@crate::scenarios), so that every adapter runs them
//! through `scenarios!`.

use http::StatusCode;

use crate::harness::{App, Bench, BenchOptions, Browser};
use crate::unchanged::{logged_in, logged_in_with_pending, Unchanged};
use crate::JarmMisbehavior;

/// A bench whose provider configuration asks for `response_type` in `mode`, on https (a
/// `form_post.jwt` login cookie must cross sites).
fn jarm_bench<A: App>(response_type: &'static str, mode: &'static str) -> Bench<A> {
    Bench::<A>::with(BenchOptions {
        configure: Box::new(move |c| c.response_type(response_type).response_mode(mode)),
        https: true,
        ..Default::default()
    })
}

/// A login started before a renewed dynamic registration replaced its client is answered
/// with a JARM response for the old client (`aud`): it still completes, with the client it
/// started with, and a login started afterwards uses the new one.
pub async fn jarm_login_survives_a_renewed_registration<A: App>() {
    let bench = Bench::<A>::with(BenchOptions {
        dynamic_registration: true,
        configure: Box::new(|c| c.response_mode("query.jwt")),
        ..Default::default()
    });
    // The first registration answers with the bench's known client, whose secret expires in
    // a minute; the next one is the provider's own, a new client.
    let expires = oidc_runtime::Clock::now(bench.clock.as_ref()) + 60;
    bench.transport.fail(
        "/register",
        crate::harness::Fault::Respond(
            201,
            format!(
                r#"{{"client_id":"{}","client_secret":"{}","client_secret_expires_at":{expires}}}"#,
                crate::harness::CLIENT_ID,
                crate::harness::CLIENT_SECRET
            ),
        ),
    );
    let mut b = bench.browser();
    let auth = b.start_login("/").await;
    let back = b.authorize(&auth, "alice");
    assert!(back.contains("response="), "a JWT response: {back}");
    bench.transport.clear();
    bench.clock.advance(61);
    let mut b2 = bench.browser();
    let auth2 = b2.start_login("/").await;
    assert_eq!(
        bench.provider.counters().registration,
        1,
        "registered again"
    );
    assert!(
        !auth2.contains(&format!("client_id={}&", crate::harness::CLIENT_ID)),
        "the new login uses the new client: {auth2}"
    );
    let page = b.deliver(&auth, &back).await;
    let page = b.follow(page).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.json()["sub"], "alice");
}

/// A login with each JARM mode (`query.jwt`, `form_post.jwt` and `jwt` for `code`;
/// `fragment.jwt` and `jwt` for `code id_token`, through the fragment page) logs in, and the
/// provider answered each with a JWT.
pub async fn jarm_logins_succeed<A: App>() {
    for (rt, mode) in [
        ("code", "query.jwt"),
        ("code", "form_post.jwt"),
        ("code", "jwt"),
        ("code id_token", "fragment.jwt"),
        ("code id_token", "jwt"),
    ] {
        let bench = jarm_bench::<A>(rt, mode);
        let mut b = bench.browser();
        let auth = b.start_login("/").await;
        assert!(
            auth.contains(&format!(
                "response_mode={}",
                url::form_urlencoded::byte_serialize(mode.as_bytes()).collect::<String>()
            )),
            "{rt} {mode}: {auth}"
        );
        let back = b.authorize(&auth, "alice");
        assert!(back.contains("response="), "{rt} {mode}: a JWT response");
        assert!(
            !back.contains("code="),
            "{rt} {mode}: nothing outside the JWT"
        );
        let page = b.deliver(&auth, &back).await;
        let page = b.follow(page).await;
        assert_eq!(page.status, StatusCode::OK, "{rt} {mode}: {}", page.text());
        assert_eq!(page.json()["sub"], "alice", "{rt} {mode}");
        assert_eq!(bench.provider.jarm_responses(), 1, "{rt} {mode}");
    }
}

/// A second login (as bob) of a logged-in browser with a login in progress, answered with a
/// JARM response wrong as `m` says, meets the error view naming `expected`; the login in
/// progress still completes afterwards.
async fn misbehaving_jarm<A: App>(m: JarmMisbehavior, expected: &str) -> Unchanged {
    let bench = jarm_bench::<A>("code", "query.jwt");
    let (mut b, before) = logged_in_with_pending(&bench, "alice").await;
    bench.provider.set_jarm_misbehavior(Some(m));
    bob_is_refused(&mut b, &format!("{m:?}"), expected).await;
    bench.provider.set_jarm_misbehavior(None);
    before.unchanged(&mut b).await
}

/// A login of `b` as bob meets the error view for a refused JARM response.
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
        description.contains("JARM") && description.contains(expected),
        "{label}: refused for another reason: {description}"
    );
}

/// A JARM response whose signature does not verify is refused; so is the genuine response
/// of the login in progress with one character of its signature changed, which carries that
/// login's `state`: the login is not spent by it, and completes with the genuine response.
pub async fn jarm_bad_signature_is_rejected<A: App>() -> Unchanged {
    let bench = jarm_bench::<A>("code", "query.jwt");
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &tamper_signature(&back)).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    assert!(
        page.text().contains("signature verification failed"),
        "{}",
        page.text()
    );
    bench
        .provider
        .set_jarm_misbehavior(Some(JarmMisbehavior::BadSignature));
    bob_is_refused(&mut b, "BadSignature", "signature verification failed").await;
    bench.provider.set_jarm_misbehavior(None);
    // The forged response spent nothing: the genuine one for the same login still logs in.
    before
        .with_pending_login(auth, back)
        .unchanged(&mut b)
        .await
}

/// A JARM response for another client (`aud`) is refused.
pub async fn jarm_wrong_audience_is_rejected<A: App>() -> Unchanged {
    misbehaving_jarm::<A>(JarmMisbehavior::WrongAudience, "audience").await
}

/// A JARM response whose `exp` has passed is refused.
pub async fn jarm_expired_response_is_rejected<A: App>() -> Unchanged {
    misbehaving_jarm::<A>(JarmMisbehavior::Expired, "expired").await
}

/// A JARM response from another issuer (`iss`) is refused.
pub async fn jarm_wrong_issuer_is_rejected<A: App>() -> Unchanged {
    misbehaving_jarm::<A>(JarmMisbehavior::WrongIssuer, "issuer").await
}

/// A plain response (`code` and `state` in the query) to a login that asked for a JWT is a
/// downgrade: refused before its `state` is looked at, although it names the login in
/// progress, which still completes with its genuine JARM response.
pub async fn plain_response_to_a_jarm_login_is_rejected<A: App>() -> Unchanged {
    let bench = jarm_bench::<A>("code", "query.jwt");
    let (mut b, before) = logged_in(&bench, "alice").await;
    let auth = b.start_login("/login").await;
    let genuine = b.authorize(&auth, "alice");
    let plain_auth = auth.replace("response_mode=query.jwt", "response_mode=query");
    assert_ne!(plain_auth, auth);
    let plain = b.authorize(&plain_auth, "alice");
    assert!(
        plain.contains("code=") && !plain.contains("response="),
        "{plain}"
    );
    let page = b.get(&plain).await;
    assert_eq!(page.error(), "invalid_response", "{}", page.text());
    assert!(page.text().contains("JARM"), "{}", page.text());
    before.with_pending(genuine).unchanged(&mut b).await
}

/// `back` with the first character of its `response` JWT's signature changed.
fn tamper_signature(back: &str) -> String {
    let url = url::Url::parse(back).expect("an absolute URL");
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    for (k, v) in &mut pairs {
        if k == "response" {
            let (head, sig) = v.rsplit_once('.').expect("a JWS");
            let first = if sig.starts_with('A') { "B" } else { "A" };
            *v = format!("{head}.{first}{}", &sig[1..]);
        }
    }
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}
