//! The scenario suite through the axum adapter.

mod common;

use common::axum_app::AxumApp;

oidc_testkit::scenarios!(axum, AxumApp);
oidc_testkit::token_scenarios!(axum_tokens, AxumApp);

/// The prefix scenarios with the app nested by `Router::nest("/app", ..)` (its handlers see
/// paths without the prefix) and the layer outside the nest.
mod axum_nested {
    use super::common::axum_app::NestedAxumApp;

    #[tokio::test]
    async fn return_path_is_right_under_a_prefix() {
        oidc_testkit::scenarios::return_path_is_right_under_a_prefix::<NestedAxumApp>().await;
    }

    #[tokio::test]
    async fn return_path_is_right_behind_a_prefix_stripping_proxy() {
        oidc_testkit::scenarios::return_path_is_right_behind_a_prefix_stripping_proxy::<
            NestedAxumApp,
        >()
        .await;
    }
}

/// A protected handler inside `Router::nest("/app", ..)` sees its path without the prefix:
/// the login it starts still returns to the page under the prefix, once.
#[tokio::test]
async fn nested_handler_returns_to_its_page_under_the_prefix() {
    use common::axum_app::NestedAxumApp;
    use oidc_testkit::harness::{Bench, BenchOptions};
    let bench = Bench::<NestedAxumApp>::with(BenchOptions::default().prefix("/app"));
    let mut b = bench.browser();
    let auth = b.start_login("/app/api/either?nested=1").await;
    let back = b.authorize(&auth, "alice");
    let page = b.deliver(&auth, &back).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/app/api/either?nested=1"),
        "{}",
        page.text()
    );
    let page = b.follow(page).await;
    assert_eq!(page.json()["sub"], "alice", "{}", page.text());
}
