//! The contract app through the Rocket adapter, in-process with Rocket's local client.

use ::rocket::http::ContentType;
use bytes::Bytes;
use oidc_rocket::{
    AccessToken, BearerIdentity, Claims, Login, LoginParams, LoginPolicy, LoginRedirect,
    OidcFairing, OidcUser, ProviderName, ProviderUser, RefreshedAccessToken, SessionOrBearer,
    UserWith,
};
use oidc_runtime::{BoxFuture, RelyingParty};
use oidc_testkit::app_api_scenarios::{
    login_params_from_query, step_up_params, NeedsPhone, Profile,
};
use oidc_testkit::apps::RocketClient;
use oidc_testkit::harness::{contract_json, App};
use oidc_testkit::token_scenarios::{access_token_json, either_json};

fn json(value: serde_json::Value) -> (ContentType, String) {
    (ContentType::JSON, value.to_string())
}

#[::rocket::get("/")]
fn home(user: OidcUser) -> (ContentType, String) {
    json(contract_json(&user))
}

#[::rocket::post("/")]
fn home_post(user: OidcUser) -> (ContentType, String) {
    json(contract_json(&user))
}

struct Second;

impl ProviderName for Second {
    const NAME: &'static str = "second";
}

#[::rocket::get("/second")]
fn second(user: ProviderUser<Second>) -> (ContentType, String) {
    json(contract_json(&user))
}

struct StepUp;

impl LoginPolicy for StepUp {
    fn params() -> LoginParams {
        step_up_params()
    }
}

#[::rocket::get("/step-up")]
fn step_up(user: UserWith<StepUp>) -> (ContentType, String) {
    json(contract_json(&user))
}

/// `GET /login-with?<parameters>`: a login with the query's pairs as parameters.
#[::rocket::get("/login-with")]
async fn login_with(login: Login, uri: &::rocket::http::uri::Origin<'_>) -> LoginRedirect {
    let query = uri.query().map(|q| q.as_str());
    login.redirect("/", &login_params_from_query(query)).await
}

/// `GET /claims`: the claims read into [`Profile`]; the accessor fills `preferred_username`.
#[::rocket::get("/claims")]
fn claims(user: OidcUser, profile: Claims<Profile>) -> (ContentType, String) {
    let mut profile = profile.0;
    profile.preferred_username = user.preferred_username().map(std::borrow::Cow::into_owned);
    json(serde_json::to_value(profile).expect("a profile"))
}

#[::rocket::get("/claims/phone")]
fn claims_phone(phone: Claims<NeedsPhone>) -> (ContentType, String) {
    json(serde_json::to_value(phone.0).expect("a phone"))
}

#[::rocket::get("/api/me")]
fn api_me(token: BearerIdentity) -> (ContentType, String) {
    json(serde_json::Value::Object(token.0.claims))
}

#[::rocket::get("/api/either")]
fn either(principal: SessionOrBearer) -> (ContentType, String) {
    json(either_json(&principal))
}

#[::rocket::post("/api/either")]
fn either_post(principal: SessionOrBearer) -> (ContentType, String) {
    json(either_json(&principal))
}

#[::rocket::get("/access_token?force=true")]
fn access_token_forced(token: RefreshedAccessToken) -> (ContentType, String) {
    json(access_token_json(&token))
}

#[::rocket::get("/access_token", rank = 2)]
fn access_token(token: AccessToken) -> (ContentType, String) {
    json(access_token_json(&token))
}

pub(crate) struct RocketApp(RocketClient);

impl App for RocketApp {
    const ADAPTER: &'static str = "rocket";

    fn new(rp: RelyingParty) -> Self {
        Self::new_under(rp, "/")
    }

    /// The routes mounted at `prefix`.
    fn new_under(rp: RelyingParty, prefix: &'static str) -> Self {
        let config = RocketClient::quiet_config();
        let rocket = ::rocket::custom(config).attach(OidcFairing::new(rp)).mount(
            prefix,
            ::rocket::routes![
                home,
                home_post,
                second,
                api_me,
                either,
                either_post,
                access_token_forced,
                access_token,
                step_up,
                login_with,
                claims,
                claims_phone
            ],
        );
        RocketApp(RocketClient::new(rocket))
    }

    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        Box::pin(self.0.call(request))
    }
}
