//! The scenario suite through the Rocket adapter, in-process with Rocket's local client.
//!
//! The module `rocket` that `scenarios!` declares shadows the crate here: the crate is
//! `::rocket` throughout.

use std::str::FromStr;
use std::sync::Mutex;

use ::rocket::http::{ContentType, Header, Method};
use ::rocket::local::asynchronous::Client;
use ::rocket::{Build, Rocket};
use bytes::Bytes;
use oidc_core::{BoxFuture, RelyingParty};
use oidc_rocket::{OidcFairing, OidcUser, ProviderName, ProviderUser};
use oidc_testkit::harness::{contract_json, App};

fn contract(user: &oidc_core::UserSession) -> (ContentType, String) {
    (ContentType::JSON, contract_json(user).to_string())
}

#[::rocket::get("/")]
fn home(user: OidcUser) -> (ContentType, String) {
    contract(&user)
}

#[::rocket::post("/")]
fn home_post(user: OidcUser) -> (ContentType, String) {
    contract(&user)
}

struct Second;

impl ProviderName for Second {
    const NAME: &'static str = "second";
}

#[::rocket::get("/second")]
fn second(user: ProviderUser<Second>) -> (ContentType, String) {
    contract(&user)
}

struct RocketApp {
    /// The app, until the first request ignites it (`App::new` is not async).
    rocket: Mutex<Option<Rocket<Build>>>,
    /// The client, untracked: the harness's browser keeps the cookies.
    client: tokio::sync::OnceCell<Client>,
}

impl App for RocketApp {
    const ADAPTER: &'static str = "rocket";

    fn new(rp: RelyingParty) -> Self {
        let config = ::rocket::Config::figment()
            .merge(("log_level", ::rocket::config::LogLevel::Off))
            .merge(("cli_colors", false));
        let rocket = ::rocket::custom(config)
            .attach(OidcFairing::new(rp))
            .mount("/", ::rocket::routes![home, home_post, second]);
        RocketApp {
            rocket: Mutex::new(Some(rocket)),
            client: tokio::sync::OnceCell::new(),
        }
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        Box::pin(async move {
            let client = self
                .client
                .get_or_init(|| async {
                    let rocket = self.rocket.lock().unwrap().take().expect("one app");
                    Client::untracked(rocket).await.expect("the app ignites")
                })
                .await;
            let (parts, body) = request.into_parts();
            let method = Method::from_str(parts.method.as_str()).expect("a Rocket method");
            let mut local = client.req(method, parts.uri.to_string());
            for (name, value) in &parts.headers {
                let value = value.to_str().expect("UTF-8 header").to_owned();
                local.add_header(Header::new(name.as_str().to_owned(), value));
            }
            local.set_body(body);
            let response = local.dispatch().await;
            let mut out = http::Response::builder().status(response.status().code);
            for header in response.headers().iter() {
                out = out.header(header.name().as_str(), header.value());
            }
            let body = response.into_bytes().await.unwrap_or_default();
            out.body(Bytes::from(body)).expect("a valid response")
        })
    }
}

oidc_testkit::scenarios!(rocket, RocketApp);
