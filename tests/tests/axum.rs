//! The scenario suite through the axum adapter.

mod common;

use common::axum_app::AxumApp;

oidc_testkit::scenarios!(axum, AxumApp);
oidc_testkit::token_scenarios!(axum_tokens, AxumApp);
