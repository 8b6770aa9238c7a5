//! The demo app of `docs/demo-contract.md`: `cargo run -p oidc-axum --example axum-demo`.
//! Without `OIDC_ISSUER` it logs in against the embedded development provider.

use axum::{http::StatusCode, routing::get, Extension, Json, Router};
use oidc_axum::{BearerIdentity, OidcLayer, OidcUser, RelyingParty};

async fn home(OidcUser(user): OidcUser) -> Json<serde_json::Value> {
    Json(oidc_testkit::harness::contract_json(&user))
}

/// `GET /api/me`: the bearer token's claims (validation, audience and scopes per
/// `OIDC_API_VALIDATION`, `OIDC_API_AUDIENCE` and `OIDC_API_SCOPES`).
async fn api_me(BearerIdentity(token): BearerIdentity) -> Json<serde_json::Value> {
    Json(serde_json::Value::Object(token.claims))
}

async fn health(Extension(rp): Extension<RelyingParty>) -> StatusCode {
    if rp.ready().await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    oidc_testkit::demo::init_logging();
    let demo = oidc_testkit::demo::from_env().await?;
    let app = Router::new()
        .route("/", get(home))
        .route("/api/me", get(api_me))
        .route("/health", get(health))
        .layer(OidcLayer::new(demo.rp));
    let listener = tokio::net::TcpListener::bind(demo.app_addr).await?;
    println!("demo (axum) ready: open {}/", demo.app_url);
    axum::serve(listener, app).await?;
    Ok(())
}
