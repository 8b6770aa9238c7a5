//! The contract app through the axum adapter.

use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;
use ::axum::{Json, Router};
use bytes::Bytes;
use http_body_util::BodyExt;
use oidc_axum::{AccessToken, BearerIdentity, OidcLayer, OidcUser, RequireLogin, SessionOrBearer};
use oidc_core::{BoxFuture, RelyingParty};
use oidc_testkit::harness::{contract_json, App};
use oidc_testkit::token_scenarios::{access_token_json, either_json};
use tower::ServiceExt;

pub(crate) struct AxumApp(Router);

async fn home(OidcUser(user): OidcUser) -> Json<serde_json::Value> {
    Json(contract_json(&user))
}

async fn api_me(BearerIdentity(token): BearerIdentity) -> Json<serde_json::Value> {
    Json(serde_json::Value::Object(token.claims))
}

async fn either(SessionOrBearer(principal): SessionOrBearer) -> Json<serde_json::Value> {
    Json(either_json(&principal))
}

/// `GET /access_token`, `?force=true` forcing a refresh.
async fn access_token(mut parts: http::request::Parts) -> Response {
    let token = if parts.uri.query() == Some("force=true") {
        AccessToken::force_refresh(&parts).await
    } else {
        AccessToken::from_request_parts(&mut parts, &()).await
    };
    match token {
        Ok(AccessToken(token)) => Json(access_token_json(&token)).into_response(),
        Err(rejection) => rejection,
    }
}

impl App for AxumApp {
    const ADAPTER: &'static str = "axum";

    fn new(rp: RelyingParty) -> Self {
        let second = Router::new()
            .route("/second", get(home))
            .route_layer(RequireLogin::provider("second"));
        AxumApp(
            Router::new()
                .route("/", get(home).post(home))
                .route("/api/me", get(api_me))
                .route("/api/either", get(either).post(either))
                .route("/access_token", get(access_token))
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
