//! # oidc-embed-blocking
//!
//! `oidc-core` needs no framework and no async runtime: `examples/blocking.rs` protects a page
//! in a small blocking HTTP server (`tiny_http`), sends the core's requests with `ureq`, and
//! keeps sessions in a `Mutex<HashMap>`, driving each operation's [`oidc_core::Flow`] by hand
//! in one short file. This library holds nothing else: the example is the point, and
//! `tests/blocking.rs` runs it against the embedded development provider.
//!
//! Run it against the embedded development provider (any username logs in):
//!
//! ```sh
//! cargo run -p oidc-testkit --example embedded_provider     # prints OIDC_ISSUER=http://127.0.0.1:PORT
//! OIDC_ISSUER=http://127.0.0.1:PORT cargo run -p oidc-embed-blocking --example blocking
//! ```
//!
//! and open <http://127.0.0.1:8080/>. It follows `docs/demo-contract.md` for `APP_ADDR`,
//! `OIDC_ISSUER`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET` (dynamic registration without an id)
//! and `SESSION_SECRET`, and the routes `/`, `/redirect_uri`, `/logout` and `/health`.
//!
//! No async runtime: `cargo xtask ci` runs `cargo tree -p oidc-embed-blocking -e normal` and
//! fails if `tokio`, `async-std`, `smol` or `futures-executor` is in it. The test's
//! dev-dependencies (the embedded provider is served by axum on tokio) are outside that tree.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
