//! The driver against the simulated provider, with no adapter in between: a flow that waits on
//! another is woken by that flow's answer (not by the backstop timer), a refresh whose request
//! went away is driven to its end and saved, and the builder's defaults. The scenario suite
//! (`oidc-testkit`) covers the rest through each adapter.
//!
//! Time is paused (tokio's test clock): it moves only when every task waits on a timer, so
//! how long a flow waited is exact, not a guess about a loaded machine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{header, Request, Response, StatusCode};
use oidc_runtime::{
    BearerRequirements, BearerValidation, BoxFuture, Bytes, ClientMetadata, Clock, Error,
    ProviderConfig, Random, RelyingParty,
};
use oidc_testkit::harness::{App, Bench, BenchOptions, Fault, APP_URL, CLIENT_ID, ISSUER};
use oidc_testkit::JwtAccessTokenSpec;

/// An app on the bare runtime: the relying party's routes; `GET /access_token` answers
/// `{"access_token": ...}` (`?force=true` forces a refresh); every other path is protected and
/// answers `{"sub": ...}`.
struct Direct(RelyingParty);

impl App for Direct {
    const ADAPTER: &'static str = "runtime";

    fn new(rp: RelyingParty) -> Self {
        Direct(rp)
    }

    fn new_under(rp: RelyingParty, _prefix: &'static str) -> Self {
        Direct(rp)
    }

    fn call(&self, request: Request<Bytes>) -> BoxFuture<'_, Response<Bytes>> {
        Box::pin(async move {
            if self.0.route(request.uri().path()).is_some() {
                return self.0.handle(request).await.expect("one of its routes");
            }
            let (parts, _) = request.into_parts();
            let json = if parts.uri.path() == "/access_token" {
                let force = parts.uri.query() == Some("force=true");
                match self.0.require_access_token(&parts, force).await {
                    Ok(token) => serde_json::json!({ "access_token": token.expose() }),
                    Err(response) => return response,
                }
            } else {
                match self.0.authenticate(&parts, None).await {
                    Ok(user) => serde_json::json!({ "sub": user.subject() }),
                    Err(response) => return response,
                }
            };
            let mut response = Response::new(Bytes::from(json.to_string()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        })
    }
}

/// The request parts of an API call carrying `cookie` (`name=value`) or a bearer token.
fn parts(cookie: Option<String>, bearer: Option<&str>) -> http::request::Parts {
    let mut request =
        Request::get(format!("{APP_URL}/api")).header(header::ACCEPT, "application/json");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(()).unwrap().into_parts().0
}

/// Two logins completing at once both need the provider's keys; the first fetches them (50
/// ms), the second waits. It is woken by the JWKS answer, while the first goes on to its
/// userinfo call (500 ms): both are done at 550 ms, not the second at the backstop's next tick
/// after the fetch (100 ms) plus its own userinfo call (600 ms).
#[tokio::test(start_paused = true)]
async fn a_waiting_flow_wakes_on_an_answer_to_another_flow() {
    let bench = Bench::<Direct>::new();
    let (mut b1, mut b2) = (bench.browser(), bench.browser());
    let auth1 = b1.start_login("/").await;
    let auth2 = b2.start_login("/").await;
    let back1 = b1.authorize(&auth1, "alice");
    let back2 = b2.authorize(&auth2, "bob");
    bench.transport.fail("/jwks", Fault::Delay(50));
    bench.transport.fail("/userinfo", Fault::Delay(500));
    let fetches = bench.provider.counters().jwks;
    let started = tokio::time::Instant::now();
    let (t1, t2) = tokio::join!(
        async {
            let page = b1.deliver(&auth1, &back1).await;
            (page, started.elapsed())
        },
        async {
            let page = b2.deliver(&auth2, &back2).await;
            (page, started.elapsed())
        }
    );
    assert_eq!(
        bench.provider.counters().jwks - fetches,
        1,
        "one JWKS fetch"
    );
    for (page, elapsed) in [t1, t2] {
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.text());
        assert_eq!(elapsed, Duration::from_millis(550));
    }
    bench.transport.clear();
    assert_eq!(b1.get("/").await.json()["sub"], "alice");
    assert_eq!(b2.get("/").await.json()["sub"], "bob");
}

/// Two bearer requests need the provider's keys, whose fetch takes 250 ms; the first fetches,
/// the second waits, and the first is dropped after 50 ms (its client went away). The second
/// is woken by that drop and fetches the keys itself: done at 300 ms, not at the backstop's
/// next tick (100 ms) plus its fetch (350 ms).
#[tokio::test(start_paused = true)]
async fn a_waiting_flow_wakes_when_the_fetching_flow_is_dropped() {
    let bench = Bench::<Direct>::with(
        BenchOptions::default().rp(|r| r.bearer_validation(BearerValidation::Jwt)),
    );
    let spec = JwtAccessTokenSpec::new("alice", CLIENT_ID, APP_URL, "openid");
    let token = bench
        .provider
        .issue_jwt_access_token(&spec, bench.clock.now());
    bench.transport.fail("/jwks", Fault::Delay(250));
    let fetches = bench.provider.counters().jwks;
    let requirements = BearerRequirements::new();
    let (p1, p2) = (parts(None, Some(&token)), parts(None, Some(&token)));
    let started = tokio::time::Instant::now();
    let dropped = async {
        tokio::select! {
            outcome = bench.rp.authorize_bearer(&p1, &requirements) => {
                panic!("the first request should still be fetching: {outcome:?}")
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let waiting = async {
        let outcome = bench.rp.authorize_bearer(&p2, &requirements).await;
        (outcome, started.elapsed())
    };
    let ((), (outcome, elapsed)) = tokio::join!(dropped, waiting);
    assert_eq!(outcome.unwrap().subject(), Some("alice"));
    assert_eq!(elapsed, Duration::from_millis(300));
    assert_eq!(
        bench.provider.counters().jwks - fetches,
        2,
        "the dropped fetch, then the waiting request's own"
    );
}

/// A refresh whose request is dropped after the token request went out is still driven to its
/// end and saved: the next request gets the refreshed token from the session, with no second
/// call to the provider (which has rotated the refresh token), and the rotated refresh token
/// works.
#[tokio::test(start_paused = true)]
async fn a_refresh_whose_request_went_away_is_saved() {
    let bench = Bench::<Direct>::new();
    let mut b = bench.browser();
    let page = b.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let cookie = format!("oidc_session={}", b.session_cookie().unwrap());
    let first = bench
        .rp
        .valid_access_token(&parts(Some(cookie.clone()), None), false)
        .await
        .unwrap();
    // Past the access token's lifetime (an hour at the simulated provider).
    bench.clock.advance(3600);
    bench.transport.fail("/token", Fault::Delay(300));
    let calls = bench.provider.counters().token;
    {
        let request_parts = parts(Some(cookie.clone()), None);
        let request = bench.rp.valid_access_token(&request_parts, false);
        tokio::pin!(request);
        while bench.provider.counters().token == calls {
            tokio::select! {
                outcome = &mut request => panic!("the refresh should be in flight: {outcome:?}"),
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
            }
        }
        // Dropped here, with the provider's answer still on its way.
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    bench.transport.clear();
    let saved = bench
        .rp
        .valid_access_token(&parts(Some(cookie.clone()), None), false)
        .await
        .expect("the refreshed token was saved");
    assert_ne!(saved.expose(), first.expose());
    assert_eq!(
        bench.provider.counters().token,
        calls + 1,
        "no second refresh"
    );
    let next = bench
        .rp
        .valid_access_token(&parts(Some(cookie), None), true)
        .await
        .expect("the rotated refresh token works");
    assert_ne!(next.expose(), saved.expose());
}

/// Counts the random bytes drawn (zeros: the values do not matter here).
#[derive(Default)]
struct CountingRandom(AtomicUsize);

impl Random for CountingRandom {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0);
        self.0.fetch_add(buf.len(), Ordering::SeqCst);
    }
}

fn builder(random: Arc<CountingRandom>) -> oidc_runtime::RelyingPartyBuilder {
    let config = ProviderConfig::discover(ISSUER)
        .client(ClientMetadata::new(CLIENT_ID, "secret"))
        .build()
        .unwrap();
    RelyingParty::builder(APP_URL)
        .provider("default", config)
        .random(random)
}

/// A transport is required; without a session secret the builder draws one (32 bytes) from
/// its source of randomness, and every flow starts with 32 fresh bytes of it.
#[tokio::test]
async fn builder_requires_a_transport_and_draws_the_secret_and_each_flows_entropy() {
    let random = Arc::new(CountingRandom::default());
    let err = builder(random.clone()).build().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config {
                field: "transport",
                ..
            }
        ),
        "{err}"
    );
    let random = Arc::new(CountingRandom::default());
    let rp = builder(random.clone())
        .transport(oidc_runtime::default_transport().unwrap())
        .build()
        .unwrap();
    assert_eq!(random.0.load(Ordering::SeqCst), 32, "the session secret");
    assert!(rp.session(&parts(None, None)).await.is_none());
    assert_eq!(random.0.load(Ordering::SeqCst), 64, "the flow's entropy");
    let random = Arc::new(CountingRandom::default());
    builder(random.clone())
        .session_secret([7u8; 32])
        .transport(oidc_runtime::default_transport().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        random.0.load(Ordering::SeqCst),
        0,
        "the given secret is used"
    );
}
