//! The contract apps every test file runs the scenarios through, one per adapter: each serves
//! the routes [`oidc_testkit::harness::App`] lists (`GET`/`POST /`, `GET /second`, the relying
//! party's own routes, and for the token scenarios `GET /api/me`, `GET`/`POST /api/either` and
//! `GET /access_token`). A test file declares `mod common;` and uses the app it needs.

// Each test binary uses only some of the apps.
#![allow(dead_code)]

pub(crate) mod axum_app;
pub(crate) mod rocket_app;
pub(crate) mod warp_app;
