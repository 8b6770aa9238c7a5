//! The blocking example, served on a loopback port and driven over real HTTP, as a browser
//! would, against the embedded development provider: a whole login through the provider's
//! login form, the protected page, logout and shutdown; a client registered dynamically; a
//! forged callback for a pending login; one login's response delivered by several tabs at once.

// The example's `main` is not called here, nor what only it uses.
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/blocking.rs"]
mod blocking;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use oidc_core::http::{header, Request, StatusCode};
use oidc_core::{ClientMetadata, Secret};

/// The example serving on a loopback port, and the embedded provider it logs in with.
struct Running {
    app: String,
    issuer: String,
    server: Arc<tiny_http::Server>,
    /// What `serve` returned, once it has.
    served: std::sync::mpsc::Receiver<oidc_core::Result<()>>,
    /// The provider's runtime: it serves as long as this lives.
    _provider: tokio::runtime::Runtime,
}

/// Starts the embedded provider and the example with `client` (`None`: dynamic registration).
fn start(client: Option<ClientMetadata>) -> Running {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("a loopback port");
    let app_addr = server.server_addr().to_ip().expect("a TCP listener");
    let app = format!("http://{app_addr}");
    let provider = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let issuer = provider
        .block_on(oidc_testkit::demo::serve_embedded_provider(&app))
        .expect("the embedded provider");
    let config = blocking::Config {
        app_addr,
        issuer: issuer.clone(),
        client,
        session_secret: Some(Secret::new("a session secret of at least 32 bytes")),
    };
    let server = Arc::new(server);
    let serving = server.clone();
    let (done, served) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(blocking::serve(config, &serving)));
    Running {
        app,
        issuer,
        server,
        served,
        _provider: provider,
    }
}

impl Running {
    /// Unblocks the server: every worker stops, and `serve` returns.
    fn stop(&self) -> oidc_core::Result<()> {
        self.server.unblock();
        let served = self.served.recv_timeout(Duration::from_secs(10));
        served.expect("serve returns once its server is unblocked")
    }
}

impl Drop for Running {
    /// Stops the example's workers (the provider stops with its runtime).
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// A response, read whole.
struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
    /// The names of the cookies it set or cleared.
    set_cookies: Vec<String>,
}

impl Page {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("JSON ({e}): {}", self.body))
    }
}

/// A browser without redirects followed (each hop is checked), with a cookie jar per origin.
/// A clone is another tab with the same cookies, at that moment.
#[derive(Clone)]
struct Browser {
    agent: ureq::Agent,
    jars: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .new_agent();
        Browser {
            agent,
            jars: HashMap::new(),
        }
    }

    fn origin(url: &str) -> String {
        url::Url::parse(url)
            .expect("an absolute URL")
            .origin()
            .ascii_serialization()
    }

    fn send(&mut self, mut request: Request<Vec<u8>>) -> Page {
        let url = request.uri().to_string();
        let jar = self.jars.entry(Self::origin(&url)).or_default();
        if !jar.is_empty() {
            let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let value = cookies.join("; ").parse().expect("a cookie header");
            request.headers_mut().insert(header::COOKIE, value);
        }
        let response = self.agent.run(request).expect("the server answers");
        let (parts, mut body) = response.into_parts();
        let mut set_cookies = Vec::new();
        for value in parts.headers.get_all(header::SET_COOKIE) {
            let c = cookie::Cookie::parse(value.to_str().expect("ASCII").to_owned())
                .expect("a Set-Cookie header");
            set_cookies.push(c.name().to_owned());
            if c.max_age()
                .is_some_and(|age| age <= cookie::time::Duration::ZERO)
            {
                jar.remove(c.name());
            } else {
                jar.insert(c.name().to_owned(), c.value().to_owned());
            }
        }
        // A relative `Location` is on the origin that answered.
        let location = parts.headers.get(header::LOCATION).map(|l| {
            let base = url::Url::parse(&url).expect("an absolute URL");
            let l = l.to_str().expect("ASCII");
            base.join(l).expect("a location").to_string()
        });
        Page {
            status: parts.status,
            location,
            body: body.read_to_string().expect("a text body"),
            set_cookies,
        }
    }

    fn get(&mut self, url: &str, accept: &str) -> Page {
        let request = Request::get(url).header(header::ACCEPT, accept);
        self.send(request.body(Vec::new()).expect("a request"))
    }

    /// Who the app says this browser is (`GET /` as an API client): the `sub`, or `None`.
    fn whoami(&mut self, app: &str) -> Option<String> {
        let page = self.get(&format!("{app}/"), "application/json");
        match page.status {
            StatusCode::OK => page.json()["sub"].as_str().map(str::to_owned),
            StatusCode::UNAUTHORIZED => None,
            other => panic!("unexpected {other}: {}", page.body),
        }
    }

    /// The app's cookies, by name.
    fn app_cookies(&self, app: &str) -> HashMap<String, String> {
        self.jars.get(app).cloned().unwrap_or_default()
    }

    /// From the protected page to the provider's login form, submitted as `username`: returns
    /// the provider's redirect back to the app (a login in progress, not yet delivered).
    fn login_at_provider(&mut self, run: &Running, username: &str) -> String {
        let page = self.get(&format!("{}/", run.app), "text/html");
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
        let authorize = page.location.expect("a redirect to the provider");
        assert!(
            authorize.starts_with(&format!("{}/authorize?", run.issuer)),
            "{authorize}"
        );
        let form = self.get(&authorize, "text/html");
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        assert!(
            form.body.contains("name=\"username\""),
            "the login form: {}",
            form.body
        );
        // The form's fields: the authorization request it carries, the username, the button.
        let query = url::Url::parse(&authorize)
            .expect("a URL")
            .query()
            .unwrap_or("")
            .to_owned();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request_params", &query)
            .append_pair("username", username)
            .append_pair("action", "login")
            .finish();
        let request = Request::post(format!("{}/authorize", run.issuer))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.into_bytes())
            .expect("a request");
        let page = self.send(request);
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
        let back = page.location.expect("the provider's redirect back");
        assert!(
            back.starts_with(&format!("{}/redirect_uri?", run.app)),
            "{back}"
        );
        back
    }

    /// A whole login as `username`, ending on the protected page.
    fn login(&mut self, run: &Running, username: &str) {
        let back = self.login_at_provider(run, username);
        let page = self.get(&back, "text/html");
        assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
        assert_eq!(
            page.location,
            Some(format!("{}/", run.app)),
            "back where it started"
        );
        assert!(
            page.set_cookies.iter().any(|c| c == "oidc_session"),
            "a session cookie"
        );
    }
}

#[test]
fn login_shows_the_user_and_logout_ends_the_session() {
    let run = start(Some(ClientMetadata::new("demo-client", "demo-secret")));
    let mut b = Browser::new();
    assert_eq!(
        b.get(&format!("{}/health", run.app), "text/plain").status,
        StatusCode::OK
    );
    assert_eq!(b.whoami(&run.app), None, "not logged in yet");
    b.login(&run, "alice");
    let page = b.get(&format!("{}/", run.app), "application/json");
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let user = page.json();
    assert_eq!(user["sub"], "alice");
    assert_eq!(user["id_token_claims"]["sub"], "alice");
    assert_eq!(user["id_token_claims"]["iss"], run.issuer.as_str());
    assert_eq!(user["userinfo"]["email"], "alice@example.com");
    assert_eq!(user["access_token_present"], true);

    // Logout: the session ends here, then at the provider, which sends the browser back.
    let page = b.get(&format!("{}/logout", run.app), "text/html");
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    assert_eq!(b.whoami(&run.app), None, "the local session ended first");
    let end_session = page.location.expect("RP-initiated logout");
    assert!(end_session.starts_with(&run.issuer), "{end_session}");
    let page = b.get(&end_session, "text/html");
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    let back = page.location.expect("the provider's redirect back");
    let page = b.get(&back, "text/html");
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("logged out"), "{}", page.body);
    assert_eq!(b.whoami(&run.app), None, "logged out");
    let cookies = b.app_cookies(&run.app);
    assert!(
        !cookies.contains_key("oidc_session"),
        "and the session cookie cleared"
    );
    run.stop().expect("serving ended without an error");
}

#[test]
fn a_client_registered_dynamically_logs_in() {
    let run = start(None);
    let mut b = Browser::new();
    b.login(&run, "bob");
    assert_eq!(b.whoami(&run.app).as_deref(), Some("bob"));
}

/// A callback for a pending login with a forged `state`: refused, no session, and the login
/// in progress is neither consumed nor spoiled (it still completes).
#[test]
fn wrong_state_is_rejected_and_the_pending_login_still_completes() {
    let run = start(Some(ClientMetadata::new("demo-client", "demo-secret")));
    let mut b = Browser::new();
    let back = b.login_at_provider(&run, "alice");
    let cookies_before = b.app_cookies(&run.app);
    assert!(
        !cookies_before.is_empty(),
        "a login cookie for the pending login"
    );

    let mut forged = url::Url::parse(&back).expect("a URL");
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| match k.as_ref() {
            "state" => (k.into_owned(), "forged-state-of-an-attacker".to_owned()),
            _ => (k.into_owned(), v.into_owned()),
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let page = b.get(forged.as_str(), "text/html");
    assert!(
        page.status.is_client_error(),
        "{}: {}",
        page.status,
        page.body
    );
    assert!(
        page.json()["error"].is_string(),
        "the error view: {}",
        page.body
    );
    assert!(
        page.set_cookies.is_empty(),
        "no cookie set or cleared: {:?}",
        page.set_cookies
    );

    assert_eq!(
        b.app_cookies(&run.app),
        cookies_before,
        "the browser's cookies are untouched"
    );
    assert_eq!(b.whoami(&run.app), None, "no session");
    let page = b.get(&back, "text/html");
    assert_eq!(
        page.status,
        StatusCode::FOUND,
        "the login still completes: {}",
        page.body
    );
    assert_eq!(
        b.whoami(&run.app).as_deref(),
        Some("alice"),
        "and logs the browser in"
    );
}

/// The provider's answer to one login delivered by several tabs at once (a replayed
/// response): the `state` is spent once, in the example's store, so exactly one tab logs in.
#[test]
fn concurrent_callbacks_with_one_state_log_in_once() {
    let run = start(Some(ClientMetadata::new("demo-client", "demo-secret")));
    let mut b = Browser::new();
    let back = b.login_at_provider(&run, "alice");
    let tabs: Vec<(Page, Browser)> = std::thread::scope(|s| {
        let running: Vec<_> = (0..8)
            .map(|_| {
                let mut tab = b.clone();
                let back = &back;
                s.spawn(move || (tab.get(back, "text/html"), tab))
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().expect("a tab"))
            .collect()
    });
    let (mut winners, losers): (Vec<_>, Vec<_>) = tabs
        .into_iter()
        .partition(|(page, _)| page.set_cookies.iter().any(|c| c == "oidc_session"));
    for (page, _) in &losers {
        // Refused by the spent mark, before any token request: not by the provider, which
        // would refuse the reused code too, and so hide a store that is not atomic.
        assert_eq!(
            page.json()["error"],
            "unsolicited_response",
            "{}",
            page.body
        );
    }
    assert_eq!(winners.len(), 1, "one login, one session");
    let (page, winner) = &mut winners[0];
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    assert_eq!(winner.whoami(&run.app).as_deref(), Some("alice"));
    assert_eq!(
        b.whoami(&run.app),
        None,
        "the tabs that lost got no session"
    );
}
