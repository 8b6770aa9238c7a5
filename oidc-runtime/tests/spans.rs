//! The operations' spans (see `oidc_runtime::observability`): names, `provider`, `outcome`
//! and `duration_ms`, collected by a test layer while the bare runtime logs in against the
//! simulated provider, and no token, code or session id in any recorded field.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{header, Request, Response, StatusCode};
use oidc_runtime::{BoxFuture, Bytes, RelyingParty};
use oidc_testkit::harness::{App, Bench, APP_URL};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// The bare runtime: its own routes, and every other path protected.
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
            match self.0.authenticate(&parts, None).await {
                Ok(user) => Response::new(Bytes::from(user.subject().to_owned())),
                Err(response) => response,
            }
        })
    }
}

/// A span seen by the layer: its name and every field recorded on it, as text.
#[derive(Clone, Debug)]
struct Seen {
    name: &'static str,
    fields: HashMap<String, String>,
}

/// Collects every span with its fields, in creation order.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<(u64, Seen)>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Collect {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let seen = Seen {
            name: attrs.metadata().name(),
            fields,
        };
        self.0.lock().unwrap().push((id.into_u64(), seen));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        // Ids are reused once a span closes: the latest span with this id is the live one.
        if let Some((_, seen)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }
}

impl Collect {
    fn named(&self, name: &str) -> Vec<Seen> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn all(&self) -> Vec<Seen> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }
}

fn subscriber(collect: &Collect) -> impl tracing::Subscriber {
    tracing_subscriber::registry().with(collect.clone())
}

fn parts_with(cookie: &str) -> http::request::Parts {
    Request::get(format!("{APP_URL}/"))
        .header(header::COOKIE, cookie)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

/// A whole login: the explicit login, the callback and an access token each have their span
/// with the provider (where the operation names it), `ok` and a duration; no field holds the
/// access token, the authorization code or the session cookie.
#[tokio::test]
async fn a_login_records_its_operations_and_no_secret() {
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(subscriber(&collect));
    let bench = Bench::<Direct>::new();
    let mut browser = bench.browser();

    let start = bench
        .rp
        .login(
            &Request::get(format!("{APP_URL}/"))
                .body(())
                .unwrap()
                .into_parts()
                .0,
            None,
            "/",
        )
        .await;
    assert_eq!(start.status(), StatusCode::FOUND);
    let page = browser.login("/", "alice").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let session = browser.session_cookie().expect("a session").to_owned();
    let name = if APP_URL.starts_with("https:") {
        "__Host-oidc_session"
    } else {
        "oidc_session"
    };
    let cookie = format!("{name}={session}");
    let token = bench
        .rp
        .valid_access_token(&parts_with(&cookie), false)
        .await
        .expect("an access token");

    let logins = collect.named("oidc.login");
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0].fields["provider"], "default");
    assert_eq!(logins[0].fields["outcome"], "ok");
    assert!(logins[0].fields["duration_ms"].parse::<u64>().is_ok());
    let callbacks = collect.named("oidc.callback");
    assert_eq!(callbacks.len(), 1, "{callbacks:?}");
    assert_eq!(callbacks[0].fields["provider"], "default");
    assert_eq!(callbacks[0].fields["outcome"], "ok");
    assert!(callbacks[0].fields["duration_ms"].parse::<u64>().is_ok());
    let refreshes = collect.named("oidc.refresh");
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(refreshes[0].fields["outcome"], "ok");

    // The cookie's value is the session id and its signature: neither part may show.
    let secrets: Vec<&str> = std::iter::once(token.expose())
        .chain(std::iter::once(session.as_str()))
        .chain(session.split('.').filter(|part| part.len() >= 16))
        .collect();
    for span in collect.all() {
        for value in span.fields.values() {
            for secret in &secrets {
                assert!(!value.contains(secret), "a secret in {span:?}");
            }
        }
    }
}

/// A callback with a forged state, from a browser with a pending login: the span records the
/// refusal's code, and the browser is no more logged in than before.
#[tokio::test]
async fn a_failed_callback_records_its_code() {
    let collect = Collect::default();
    let _guard = tracing::subscriber::set_default(subscriber(&collect));
    let bench = Bench::<Direct>::new();
    let mut browser = bench.browser();
    let auth = browser.start_login("/").await;
    let back = browser.authorize(&auth, "alice");
    let url = url::Url::parse(&back).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let forged: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("state", "forged")
        .finish();
    let page = browser
        .get(&format!("{}?{forged}", back.split('?').next().unwrap()))
        .await;
    assert!(page.status.is_client_error(), "{}", page.status);
    assert!(!browser.is_logged_in().await);

    let callbacks = collect.named("oidc.callback");
    assert_eq!(callbacks.len(), 1, "{callbacks:?}");
    assert_eq!(callbacks[0].fields["provider"], "default");
    // The error view's own code, which the page shows, not the class of its status.
    let outcome = &callbacks[0].fields["outcome"];
    assert_eq!(outcome, "invalid_state");
    assert!(page.text().contains(outcome.as_str()), "{}", page.text());
    assert!(callbacks[0].fields["duration_ms"].parse::<u64>().is_ok());
    for span in collect.all() {
        for value in span.fields.values() {
            assert!(!value.contains(&code), "code in {span:?}");
        }
    }
}
