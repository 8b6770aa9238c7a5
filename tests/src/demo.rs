//! What every adapter's demo shares: the configuration of `docs/demo-contract.md` read from the
//! environment, and the embedded development provider (the simulated provider served on a
//! loopback port, with its login form) used when no `OIDC_ISSUER` is given.
//!
//! A demo is then a handful of lines in its framework's idiom: build the routes of the contract
//! around [`Demo::rp`], serve them on [`Demo::app_addr`], print [`Demo::app_url`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use oidc_core::JsonErrorView;
use oidc_runtime::{RelyingParty, Transport};

use crate::{SimClient, SimProvider};

/// A demo's relying party and where to serve it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Demo {
    /// The relying party, configured from the environment.
    pub rp: RelyingParty,
    /// Where the app listens (`APP_ADDR`).
    pub app_addr: SocketAddr,
    /// The app's base URL, `http://APP_ADDR`.
    pub app_url: String,
    /// The embedded provider's issuer, when it is used.
    pub embedded_issuer: Option<String>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The session store for `REDIS_URL` (`redis://` or, over TLS, `rediss://`), its records
/// encrypted at rest under a key derived from `SESSION_SECRET` (the contract: the secret signs
/// and, where used, encrypts), so that instances sharing the secret read each other's records.
/// Without `SESSION_SECRET` the relying party's cookie key is random per process, so its
/// sessions end with it anyway: a random secret of this process encrypts them.
async fn redis_store(url: &str) -> Result<oidc_redis::RedisStore, String> {
    let secret = match var("SESSION_SECRET") {
        Some(secret) => secret.into_bytes(),
        None => rand::random::<[u8; 32]>().to_vec(),
    };
    // The secret `SESSION_SECRET` replaced: records under it are still read.
    let previous = var("SESSION_SECRET_PREVIOUS");
    let previous: Vec<&[u8]> = previous.iter().map(|s| s.as_bytes()).collect();
    oidc_redis::RedisStore::connect(url)
        .await
        .map_err(|e| format!("REDIS_URL: {e}"))?
        .encrypt_records(&secret, &previous)
        .map_err(|e| format!("SESSION_SECRET: {e}"))
}

/// Reads the environment per the contract and builds the relying party; starts the embedded
/// development provider on a free loopback port when `OIDC_ISSUER` is unset. Must run inside a
/// Tokio runtime.
pub async fn from_env() -> Result<Demo, String> {
    let app_addr: SocketAddr = var("APP_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .map_err(|e| format!("APP_ADDR: {e}"))?;
    let app_url = format!("http://{app_addr}");
    // The contract's variables are the library's own (`oidc_runtime::Config::from_env`); the
    // demo adds its address, and without `OIDC_ISSUER` the embedded provider and its client.
    let embedded = match var("OIDC_ISSUER") {
        Some(_) => None,
        None => {
            let key = private_key_from_env()?;
            Some(serve_embedded_provider_with(&app_url, key.as_ref()).await?)
        }
    };
    let overrides: Vec<(&str, String)> = match &embedded {
        Some(issuer) => vec![
            ("OIDC_ISSUER", issuer.clone()),
            ("OIDC_CLIENT_ID", "demo-client".into()),
            ("OIDC_CLIENT_SECRET", "demo-secret".into()),
        ],
        None => Vec::new(),
    };
    let mut config = oidc_runtime::Config::from_vars(|name| {
        overrides
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| var(name))
    })
    .map_err(|e| e.to_string())?;
    config.app_url = app_url.clone();
    if let Some(provider) = config.providers.get_mut("default") {
        provider.client_name = Some("oidc-rs demo".into());
    }
    // `/api/me`: introspection unless `OIDC_API_VALIDATION` says otherwise.
    config
        .api
        .validation
        .get_or_insert_with(|| "introspection".into());
    let transport: Arc<dyn Transport> =
        Arc::new(oidc_runtime::ReqwestTransport::new().map_err(|e| format!("HTTP client: {e}"))?);
    let mut builder = config
        .builder()
        .map_err(|e| e.to_string())?
        .transport(transport)
        .error_view(JsonErrorView);
    if let Some(url) = var("REDIS_URL") {
        builder = builder.session_store(Arc::new(redis_store(&url).await?));
        tracing::info!("sessions are kept in redis, encrypted");
    }
    if config.session.secret.is_none() {
        tracing::warn!(
            "SESSION_SECRET is unset: using a random key; sessions end when the process does"
        );
    }
    let rp = builder.build().map_err(|e| e.to_string())?;
    // Discovery (and registration) at start-up, but the app starts even when the provider is down: `/health`
    // says when it is ready, and logins meanwhile get a clear error page.
    if !rp.ready().await {
        tracing::warn!("the provider is not reachable yet; logins will fail until it is");
    }
    Ok(Demo {
        rp,
        app_addr,
        app_url,
        embedded_issuer: embedded,
    })
}

/// `OIDC_CLIENT_PRIVATE_KEY`: the client's private key for `private_key_jwt`, a PEM or JWK
/// given inline or as the path of a file holding one.
fn private_key_from_env() -> Result<Option<oidc_core::ClientPrivateKey>, String> {
    let Some(text) = key_text_from_env("OIDC_CLIENT_PRIVATE_KEY")? else {
        return Ok(None);
    };
    oidc_core::ClientPrivateKey::parse(&text)
        .map(Some)
        .map_err(|e| format!("OIDC_CLIENT_PRIVATE_KEY: {e}"))
}

/// A key variable's PEM or JWK: given inline, or the path of a file holding one.
fn key_text_from_env(name: &str) -> Result<Option<String>, String> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    let inline = value.trim_start();
    if inline.starts_with("-----BEGIN") || inline.starts_with('{') {
        return Ok(Some(value));
    }
    std::fs::read_to_string(&value)
        .map(Some)
        .map_err(|e| format!("{name}: cannot read the file: {e}"))
}

/// Serves a [`SimProvider`] on a free loopback port, with a client `demo-client` /
/// `demo-secret` registered for `app_url`. Returns the issuer.
pub async fn serve_embedded_provider(app_url: &str) -> Result<String, String> {
    serve_embedded_provider_with(app_url, None).await
}

/// [`serve_embedded_provider`], whose `demo-client` also has `key`'s public half registered
/// for `private_key_jwt`.
pub async fn serve_embedded_provider_with(
    app_url: &str,
    key: Option<&oidc_core::ClientPrivateKey>,
) -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("embedded provider: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let issuer = format!("http://{addr}");
    let provider = SimProvider::new(&issuer);
    let mut client = SimClient::confidential(
        "demo-client",
        "demo-secret",
        &format!("{app_url}/redirect_uri"),
    );
    client.post_logout_redirect_uris = vec![format!("{app_url}/logout")];
    provider.register_client(client);
    // Like most providers, the embedded one revokes tokens (RFC 7009): the demo's logout does.
    provider.set_revocation_endpoint(true);
    if let Some(key) = key {
        provider.set_client_jwks("demo-client", oidc_core::client_auth::jwks_document([key]));
        // Advertised, so that a demo with a key negotiates it (or may pin it).
        provider.set_token_endpoint_auth_methods(Some(&[
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
        ]));
    }
    // `/api/me` checks the audience of bearer tokens (default: the app's URL); the demo's own
    // tokens carry it, as JWTs (RFC 9068) or, for introspection, as opaque tokens.
    let audience = var("OIDC_API_AUDIENCE").unwrap_or_else(|| app_url.to_owned());
    if var("OIDC_API_VALIDATION").as_deref() == Some("jwt") {
        provider.set_jwt_access_tokens(Some(&audience));
    } else {
        provider.set_access_token_audience(Some(vec!["demo-client".to_owned(), audience]));
    }
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let provider = provider.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = match axum::body::to_bytes(body, 64 * 1024).await {
                Ok(b) => b,
                Err(_) => Bytes::new(),
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            provider
                .handle(http::Request::from_parts(parts, body), now)
                .map(axum::body::Body::from)
        }
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "embedded provider stopped");
        }
    });
    tracing::info!(%issuer, "embedded development provider (any username logs in)");
    // Give the listener a moment before discovery; it is already bound, so this is only
    // scheduling.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(issuer)
}

/// Installs a log subscriber that honours `RUST_LOG` (default `info`).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}
