//! The only way a rejection scenario can say "nothing changed": [`Before::take`] records a
//! browser's state before the attack, and [`Before::unchanged`] asserts it afterwards and hands
//! out the [`Unchanged`] proof that every rejection scenario must return (the `rejections`
//! list of the scenario macros requires that type, so a rejection scenario that skips the
//! check does not compile).

use http::StatusCode;

use crate::harness::{App, Browser};

/// Proof that a rejection scenario checked the browser's state after the attack. Its field is
/// private, so [`Before::unchanged`] is its only constructor.
#[derive(Debug)]
#[must_use = "a rejection scenario returns its proof"]
pub struct Unchanged(());

/// What a browser looked like before the attack: who `GET /` says it is, its session cookie,
/// and optionally a login in progress (another tab) that must still complete afterwards.
#[derive(Debug)]
pub struct Before {
    who: Option<String>,
    cookie: Option<String>,
    pending: Option<String>,
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

impl Before {
    /// Records the browser's state now, before the attack.
    pub async fn take<A: App>(b: &mut Browser<'_, A>) -> Self {
        Before {
            who: whoami(b).await,
            cookie: b.session_cookie().map(str::to_owned),
            pending: None,
        }
    }

    /// Adds a login in progress (the provider's genuine return `back`, not yet delivered)
    /// that must still complete after the attack: the attack must not consume or spoil it.
    pub fn with_pending(mut self, back: String) -> Self {
        self.pending = Some(back);
        self
    }

    /// Asserts that the attack changed nothing: the same user (or still nobody, with a
    /// pending login), the same session cookie, and the pending login still completes.
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
        if let Some(back) = self.pending {
            let page = b.get(&back).await;
            assert_eq!(
                page.status,
                StatusCode::FOUND,
                "the login in progress still completes: {}",
                page.text()
            );
            assert!(whoami(b).await.is_some(), "and logs the browser in");
        }
        Unchanged(())
    }
}

/// A browser of `bench` logged in as `user`, and its state before any attack.
pub async fn logged_in<'a, A: App>(
    bench: &'a crate::harness::Bench<A>,
    user: &str,
) -> (Browser<'a, A>, Before) {
    let mut b = bench.browser();
    let page = b.login("/", user).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let before = Before::take(&mut b).await;
    assert_eq!(before.who.as_deref(), Some(user));
    (b, before)
}
