//! The scenario suite through the axum adapter.

use ::axum::routing::get;
use ::axum::{Json, Router};
use bytes::Bytes;
use http_body_util::BodyExt;
use oidc_axum::{OidcLayer, OidcUser, RequireLogin};
use oidc_core::{BoxFuture, RelyingParty};
use oidc_testkit::harness::{contract_json, App};
use tower::ServiceExt;

struct AxumApp(Router);

impl App for AxumApp {
    const ADAPTER: &'static str = "axum";

    fn new(rp: RelyingParty) -> Self {
        async fn home(OidcUser(user): OidcUser) -> Json<serde_json::Value> {
            Json(contract_json(&user))
        }
        let second = Router::new()
            .route("/second", get(home))
            .route_layer(RequireLogin::provider("second"));
        AxumApp(
            Router::new()
                .route("/", get(home).post(home))
                .merge(second)
                .layer(OidcLayer::new(rp)),
        )
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        let router = self.0.clone();
        Box::pin(async move {
            let response = router
                .oneshot(request.map(::axum::body::Body::from))
                .await
                .unwrap();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            http::Response::from_parts(parts, body)
        })
    }
}

oidc_testkit::scenarios!(axum, AxumApp);
