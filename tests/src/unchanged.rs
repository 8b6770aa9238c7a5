//! The only way a rejection scenario can say "nothing changed": [`Before::take`] records a
//! browser's state before the attack, and [`Before::unchanged`] asserts it afterwards and hands
//! out the [`Unchanged`] proof that every rejection scenario must return (the `rejections`
//! list of the scenario macros requires that type, so a rejection scenario that skips the
//! check does not compile, and `every_rejection_scenario_proves_nothing_changed` in
//! `tests/src/tests.rs` fails for a rejection scenario outside those lists).
//!
//! "Unchanged" is checked here, once, rather than by hand in each scenario: the same user, the
//! same session cookie, the same stored session (tokens, claims, userinfo, times: a refused
//! refresh replaced nothing), a login in progress that still completes, a bearer token that
//! is still served as before, and refused bearer credentials that are still refused.

use bytes::Bytes;
use http::{header, StatusCode};
use oidc_core::UserSession;

use crate::harness::{App, Bench, Browser, Page};

/// Proof that a rejection scenario checked the browser's state after the attack. Its field is
/// private, so [`Before::unchanged`] is its only constructor.
#[derive(Debug)]
#[must_use = "a rejection scenario returns its proof"]
pub struct Unchanged(());

/// What a browser looked like before the attack: who `GET /` says it is, its session cookie,
/// its stored session, and optionally a login in progress (another tab) that must still
/// complete afterwards and bearer credentials whose answers must not change.
pub struct Before {
    who: Option<String>,
    cookie: Option<String>,
    session: Option<UserSession>,
    pending: Option<Pending>,
    bearer: Option<Bearer>,
    refused: Vec<(String, StatusCode)>,
}

// Session ids, codes and tokens stay out of test output too.
impl std::fmt::Debug for Before {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Before")
            .field("who", &self.who)
            .field("has_session_cookie", &self.cookie.is_some())
            .field("session", &self.session)
            .field("pending", &self.pending.is_some())
            .field("bearer", &self.bearer.is_some())
            .field("refused", &self.refused.len())
            .finish()
    }
}

/// A login in progress: the provider's genuine answer, not yet delivered.
struct Pending {
    /// The authorization URL, to deliver `back` in its response mode (fragment page, form
    /// POST); `None` for a plain query GET.
    authorization_url: Option<String>,
    back: String,
    /// Where completing it must send the browser.
    lands_on: Option<String>,
}

/// A valid bearer token and what `GET /api/me` answered for it.
struct Bearer {
    token: String,
    answer: serde_json::Value,
}

/// Who the app says this browser is (`GET /` as an API client): the `sub`, or `None`.
pub async fn whoami<A: App>(b: &mut Browser<'_, A>) -> Option<String> {
    let page = b.get_json("/").await;
    match page.status {
        StatusCode::OK => page.json()["sub"].as_str().map(str::to_owned),
        StatusCode::UNAUTHORIZED => None,
        other => panic!("unexpected HTTP {other}: {}", page.text()),
    }
}

/// The session the relying party has stored for this browser's session cookie, whatever its
/// provider: every token, claim and time in it.
async fn stored_session<A: App>(b: &Browser<'_, A>) -> Option<UserSession> {
    let cookie = b.session_cookie()?;
    let parts = http::Request::get("/")
        .header(header::COOKIE, format!("oidc_session={cookie}"))
        .body(())
        .expect("a request")
        .into_parts()
        .0;
    b.bench().rp.session(&parts).await.map(|s| (*s).clone())
}

/// `GET /api/me` from a client without cookies, with this `Authorization` header.
async fn api_me<A: App>(bench: &Bench<A>, authorization: &str) -> Page {
    let mut client = bench.browser();
    client
        .send(
            http::Request::get(format!("{}/api/me", bench.app_url))
                .header(header::ACCEPT, "application/json")
                .header(header::AUTHORIZATION, authorization)
                .body(Bytes::new())
                .expect("a request"),
        )
        .await
}

impl Before {
    /// Records the browser's state now, before the attack.
    pub async fn take<A: App>(b: &mut Browser<'_, A>) -> Self {
        Before {
            who: whoami(b).await,
            cookie: b.session_cookie().map(str::to_owned),
            session: stored_session(b).await,
            pending: None,
            bearer: None,
            refused: Vec::new(),
        }
    }

    /// Adds a login in progress (the provider's genuine return `back`, a query, not yet
    /// delivered) that must still complete after the attack: the attack must not consume or
    /// spoil it.
    pub fn with_pending(mut self, back: String) -> Self {
        self.pending = Some(Pending {
            authorization_url: None,
            back,
            lands_on: None,
        });
        self
    }

    /// Like [`with_pending`](Self::with_pending), for a login in any response mode: `back` is
    /// delivered as the browser would for `authorization_url` (the fragment page's POST, a
    /// cross-site `form_post`).
    pub fn with_pending_login(mut self, authorization_url: String, back: String) -> Self {
        self.pending = Some(Pending {
            authorization_url: Some(authorization_url),
            back,
            lands_on: None,
        });
        self
    }

    /// The login in progress must end on `path` (the return path it was started with).
    pub fn landing_on(mut self, path: &str) -> Self {
        let pending = self
            .pending
            .as_mut()
            .expect("landing_on follows with_pending");
        pending.lands_on = Some(path.to_owned());
        self
    }

    /// Adds a valid bearer token: after the attack `GET /api/me` must answer it as now (the
    /// attack evicted or replaced no cached introspection or key, and revoked nothing).
    pub async fn with_bearer<A: App>(mut self, b: &Browser<'_, A>, token: &str) -> Self {
        let page = api_me(b.bench(), &format!("Bearer {token}")).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "the bearer token is valid before the attack: {}",
            page.text()
        );
        self.bearer = Some(Bearer {
            token: token.to_owned(),
            answer: page.json(),
        });
        self
    }

    /// Adds an `Authorization` header the attack sent and that was refused with `status`
    /// (`401`, or `403` for a missing scope): after the attack it must still be refused so (no
    /// cache entry lets it in).
    pub fn still_refusing(mut self, authorization: &str, status: StatusCode) -> Self {
        self.refused.push((authorization.to_owned(), status));
        self
    }

    /// Asserts that the attack changed nothing: the same user (or still nobody, with a
    /// pending login), the same session cookie, the same stored session, the bearer answers
    /// as before, and the pending login still completes.
    pub async fn unchanged<A: App>(self, b: &mut Browser<'_, A>) -> Unchanged {
        assert!(
            self.who.is_some() || self.pending.is_some(),
            "a rejection scenario starts from a state the attack could change \
             (a session or a login in progress)"
        );
        assert_eq!(whoami(b).await, self.who, "still the same user");
        assert_eq!(
            b.session_cookie().map(str::to_owned),
            self.cookie,
            "the session cookie is untouched"
        );
        assert!(
            stored_session(b).await == self.session,
            "the stored session (provider, tokens, claims, userinfo, times) is untouched"
        );
        if let Some(bearer) = &self.bearer {
            let page = api_me(b.bench(), &format!("Bearer {}", bearer.token)).await;
            assert_eq!(
                page.status,
                StatusCode::OK,
                "the valid bearer token still works: {}",
                page.text()
            );
            assert_eq!(page.json(), bearer.answer, "and is answered as before");
        }
        for (refused, status) in &self.refused {
            let page = api_me(b.bench(), refused).await;
            assert_eq!(
                page.status,
                *status,
                "still refused (nothing cached lets it in): {}",
                page.text()
            );
        }
        if let Some(pending) = self.pending {
            let page = match &pending.authorization_url {
                Some(auth) => b.deliver(auth, &pending.back).await,
                None => b.get(&pending.back).await,
            };
            assert_eq!(
                page.status,
                StatusCode::FOUND,
                "the login in progress still completes: {}",
                page.text()
            );
            if let Some(path) = &pending.lands_on {
                assert_eq!(page.location().as_deref(), Some(path.as_str()));
            }
            assert!(whoami(b).await.is_some(), "and logs the browser in");
        }
        Unchanged(())
    }
}

/// A browser of `bench` logged in as `user`, and its state before any attack.
pub async fn logged_in<'a, A: App>(bench: &'a Bench<A>, user: &str) -> (Browser<'a, A>, Before) {
    let mut b = bench.browser();
    let page = b.login("/", user).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let before = Before::take(&mut b).await;
    assert_eq!(before.who.as_deref(), Some(user));
    (b, before)
}

/// [`logged_in`], with a login in progress in another tab of the same browser (started at
/// `/login`, answered by the provider for `user`, not yet delivered) that must still complete
/// after the attack, whatever the bench's response mode.
pub async fn logged_in_with_pending<'a, A: App>(
    bench: &'a Bench<A>,
    user: &str,
) -> (Browser<'a, A>, Before) {
    let (mut b, before) = logged_in(bench, user).await;
    let auth = b.start_login("/login").await;
    let back = b.authorize(&auth, user);
    (b, before.with_pending_login(auth, back))
}
