//! The demo app of `docs/demo-contract.md`: `cargo run -p oidc-warp --example warp-demo`.
//! Without `OIDC_ISSUER` it logs in against the embedded development provider.

use std::sync::Arc;

use oidc_warp::{RelyingParty, TokenIdentity, UserSession};
use warp::http::StatusCode;
use warp::Filter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    oidc_testkit::demo::init_logging();
    let demo = oidc_testkit::demo::from_env().await?;
    let rp = demo.rp;
    let home = warp::path::end()
        .and(warp::get())
        .and(oidc_warp::user(rp.clone()))
        .map(|user: Arc<UserSession>| {
            warp::reply::json(&oidc_testkit::harness::contract_json(&user))
        });
    // `GET /api/me`: the bearer token's claims (validation, audience and scopes per
    // `OIDC_API_VALIDATION`, `OIDC_API_AUDIENCE` and `OIDC_API_SCOPES`).
    let api_me = warp::path!("api" / "me")
        .and(warp::get())
        .and(oidc_warp::bearer(rp.clone()))
        .map(|token: TokenIdentity| warp::reply::json(&token.claims));
    let health = warp::path!("health").and(warp::get()).then({
        let rp: RelyingParty = rp.clone();
        move || {
            let rp = rp.clone();
            async move {
                if rp.ready().await {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }
    });
    let app = oidc_warp::routes(rp)
        .or(home)
        .or(api_me)
        .or(health)
        .recover(oidc_warp::recover);
    let listener = tokio::net::TcpListener::bind(demo.app_addr).await?;
    println!("demo (warp) ready: open {}/", demo.app_url);
    warp::serve(app).incoming(listener).run().await;
    Ok(())
}
