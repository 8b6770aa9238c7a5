//! The embedded development provider alone, for a relying party that is not one of the
//! adapters' demos (they start it themselves): `cargo run -p oidc-testkit --example
//! embedded_provider` serves it on a free loopback port, with a login form that takes any
//! username, and prints its issuer and the command that runs `oidc-embed-blocking`'s example
//! against it. `APP_ADDR` (default `127.0.0.1:8080`) is where that relying party listens: the
//! provider's `demo-client` / `demo-secret` client is registered for its redirect URI, and a
//! client without `OIDC_CLIENT_ID` registers itself dynamically.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    oidc_testkit::demo::init_logging();
    let app_addr = std::env::var("APP_ADDR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let issuer = oidc_testkit::demo::serve_embedded_provider(&format!("http://{app_addr}")).await?;
    println!("OIDC_ISSUER={issuer}");
    println!(
        "run: OIDC_ISSUER={issuer} APP_ADDR={app_addr} cargo run -p oidc-embed-blocking --example blocking"
    );
    // The provider runs on a spawned task until the process is stopped.
    std::future::pending::<()>().await;
    Ok(())
}
