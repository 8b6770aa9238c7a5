//! The demo app of `docs/demo-contract.md`: `cargo run -p oidc-rocket --example rocket-demo`.
//! Without `OIDC_ISSUER` it logs in against the embedded development provider.

use oidc_rocket::{BearerIdentity, OidcFairing, OidcUser, RelyingParty};
use rocket::fairing::AdHoc;
use rocket::http::{ContentType, Status};
use rocket::State;

#[rocket::get("/")]
fn home(user: OidcUser) -> (ContentType, String) {
    let json = oidc_testkit::harness::contract_json(&user);
    (ContentType::JSON, json.to_string())
}

/// `GET /api/me`: the bearer token's claims (validation, audience and scopes per
/// `OIDC_API_VALIDATION`, `OIDC_API_AUDIENCE` and `OIDC_API_SCOPES`).
#[rocket::get("/api/me")]
fn api_me(token: BearerIdentity) -> (ContentType, String) {
    let claims = serde_json::Value::Object(token.0.claims);
    (ContentType::JSON, claims.to_string())
}

#[rocket::get("/health")]
async fn health(rp: &State<RelyingParty>) -> Status {
    if rp.ready().await {
        Status::Ok
    } else {
        Status::ServiceUnavailable
    }
}

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    oidc_testkit::demo::init_logging();
    let demo = oidc_testkit::demo::from_env().await?;
    let config = rocket::Config::figment()
        .merge(("address", demo.app_addr.ip()))
        .merge(("port", demo.app_addr.port()));
    let app_url = demo.app_url;
    rocket::custom(config)
        .attach(OidcFairing::new(demo.rp))
        .attach(AdHoc::on_liftoff("ready", move |_| {
            Box::pin(async move { println!("demo (rocket) ready: open {app_url}/") })
        }))
        .mount("/", rocket::routes![home, api_me, health])
        .launch()
        .await?;
    Ok(())
}
