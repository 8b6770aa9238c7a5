//! The scenario suite through the Rocket adapter, in-process with Rocket's local client.
//!
//! The module `rocket` that `scenarios!` declares shadows the crate here: the crate is
//! `::rocket` throughout.

mod common;

use common::rocket_app::RocketApp;

oidc_testkit::scenarios!(rocket, RocketApp);
oidc_testkit::token_scenarios!(rocket_tokens, RocketApp);
