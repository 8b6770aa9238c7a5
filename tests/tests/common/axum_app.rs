//! The contract app through the axum adapter.

use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::get;
use ::axum::{Json, Router};
use bytes::Bytes;
use oidc_axum::{
    AccessToken, BearerIdentity, Claims, Login, OidcLayer, OidcUser, RequireLogin, SessionOrBearer,
};
use oidc_runtime::{BoxFuture, RelyingParty};
use oidc_testkit::app_api_scenarios::{
    login_params_from_query, step_up_params, NeedsPhone, Profile,
};
use oidc_testkit::harness::{contract_json, App};
use oidc_testkit::token_scenarios::{access_token_json, either_json};

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
        AccessToken::force_refresh(&mut parts).await
    } else {
        AccessToken::from_request_parts(&mut parts, &()).await
    };
    match token {
        Ok(AccessToken(token)) => Json(access_token_json(&token)).into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

/// `GET /login-with?<parameters>`: a login with the query's pairs as parameters.
async fn login_with(login: Login, uri: http::Uri) -> Response {
    login
        .redirect("/", &login_params_from_query(uri.query()))
        .await
}

/// `GET /claims`: the claims read into [`Profile`]; the accessor fills `preferred_username`.
async fn claims(user: OidcUser, Claims(mut profile): Claims<Profile>) -> Json<Profile> {
    profile.preferred_username = user
        .0
        .preferred_username()
        .map(std::borrow::Cow::into_owned);
    Json(profile)
}

async fn claims_phone(Claims(phone): Claims<NeedsPhone>) -> Json<NeedsPhone> {
    Json(phone)
}

/// The contract's routes, each path under `prefix` (`""` at the root).
fn routes(prefix: &str) -> Router {
    let second = Router::new()
        .route(&format!("{prefix}/second"), get(home))
        .route_layer(RequireLogin::provider("second"));
    let step_up = Router::new()
        .route(&format!("{prefix}/step-up"), get(home))
        .route_layer(RequireLogin::new().params(step_up_params()));
    Router::new()
        .route(&format!("{prefix}/"), get(home).post(home))
        .route(&format!("{prefix}/api/me"), get(api_me))
        .route(&format!("{prefix}/api/either"), get(either).post(either))
        .route(&format!("{prefix}/access_token"), get(access_token))
        .route(&format!("{prefix}/login-with"), get(login_with))
        .route(&format!("{prefix}/claims"), get(claims))
        .route(&format!("{prefix}/claims/phone"), get(claims_phone))
        .merge(second)
        .merge(step_up)
}

/// The contract app nested under a prefix with `Router::nest` (its handlers see paths without
/// the prefix), the layer outside the nest.
pub(crate) struct NestedAxumApp(Router);

impl App for NestedAxumApp {
    const ADAPTER: &'static str = "axum-nested";

    fn new(rp: RelyingParty) -> Self {
        NestedAxumApp(routes("").layer(OidcLayer::new(rp)))
    }

    fn new_under(rp: RelyingParty, prefix: &'static str) -> Self {
        // axum 0.8 routes `/app` to the nested `/`, not `/app/` (the app's base path, where
        // the relying party sends users after a logout): routed outside the nest too.
        NestedAxumApp(
            Router::new()
                .nest(prefix, routes(""))
                .route(&format!("{prefix}/"), get(home).post(home))
                .layer(OidcLayer::new(rp)),
        )
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        dispatch(self.0.clone(), request)
    }
}

fn dispatch(
    router: Router,
    request: http::Request<Bytes>,
) -> BoxFuture<'static, http::Response<Bytes>> {
    Box::pin(oidc_testkit::apps::call_axum(router, request))
}

impl App for AxumApp {
    const ADAPTER: &'static str = "axum";

    fn new(rp: RelyingParty) -> Self {
        AxumApp(routes("").layer(OidcLayer::new(rp)))
    }

    /// Every route declared with its full path.
    fn new_under(rp: RelyingParty, prefix: &'static str) -> Self {
        AxumApp(routes(prefix).layer(OidcLayer::new(rp)))
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        dispatch(self.0.clone(), request)
    }
}
