//! The contract app through the warp adapter.

use std::sync::Arc;

use ::warp::{Filter, Rejection, Reply};
use bytes::Bytes;
use oidc_core::UserSession;
use oidc_runtime::{BoxFuture, RelyingParty};
use oidc_testkit::app_api_scenarios::{
    login_params_from_query, step_up_params, NeedsPhone, Profile,
};
use oidc_testkit::harness::{contract_json, App};
use oidc_testkit::token_scenarios::{access_token_json, either_json};
use oidc_warp::{BearerRequirements, Login, Principal, Secret, TokenIdentity};

pub(crate) struct WarpApp(RelyingParty, Option<&'static str>);

fn home(user: Arc<UserSession>) -> ::warp::reply::Json {
    ::warp::reply::json(&contract_json(&user))
}

/// Passes when the query is `force=true` exactly as `wanted` says.
fn forced(wanted: bool) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    ::warp::query::raw()
        .or(::warp::any().map(String::new))
        .unify()
        .and_then(move |query: String| async move {
            if (query == "force=true") == wanted {
                Ok(())
            } else {
                Err(::warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// The contract app: `GET`/`POST /` and `GET /second` protected, `GET /api/me` by a bearer
/// token, `GET`/`POST /api/either` by either, `GET /access_token`, the relying party's routes.
pub(crate) fn app(
    rp: RelyingParty,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let root = ::warp::path::end()
        .and(::warp::get().or(::warp::post()).unify())
        .and(oidc_warp::user(rp.clone()))
        .map(home);
    let second = ::warp::path!("second")
        .and(::warp::get())
        .and(oidc_warp::user_for(rp.clone(), "second"))
        .map(home);
    let api_me = ::warp::path!("api" / "me")
        .and(::warp::get())
        .and(oidc_warp::bearer(rp.clone()))
        .map(|token: TokenIdentity| ::warp::reply::json(&token.claims));
    let either = ::warp::path!("api" / "either")
        .and(::warp::get().or(::warp::post()).unify())
        .and(oidc_warp::session_or_bearer(
            rp.clone(),
            BearerRequirements::new(),
        ))
        .map(|principal: Principal| ::warp::reply::json(&either_json(&principal)));
    // `?force=true` forces a refresh; neither route may serve the other's requests (warp tries
    // the next alternative after a rejection).
    let token = ::warp::path!("access_token").and(::warp::get());
    let forced_token = token
        .and(forced(true))
        .and(oidc_warp::refreshed_access_token(rp.clone()));
    let plain_token = token
        .and(forced(false))
        .and(oidc_warp::access_token(rp.clone()));
    let access_token = forced_token
        .or(plain_token)
        .unify()
        .map(|token: Secret| ::warp::reply::json(&access_token_json(&token)));
    let step_up = ::warp::path!("step-up")
        .and(::warp::get())
        .and(oidc_warp::user_with(rp.clone(), None, step_up_params()))
        .map(home);
    let login_with = ::warp::path!("login-with")
        .and(::warp::get())
        .and(oidc_warp::login(rp.clone()))
        .and(
            ::warp::query::raw()
                .or(::warp::any().map(String::new))
                .unify(),
        )
        .then(|login: Login, query: String| async move {
            login
                .redirect("/", &login_params_from_query(Some(&query)))
                .await
        });
    let claims = ::warp::path!("claims")
        .and(::warp::get())
        .and(oidc_warp::user(rp.clone()))
        .and(oidc_warp::claims::<Profile>(rp.clone()))
        .map(|user: Arc<UserSession>, mut profile: Profile| {
            profile.preferred_username =
                user.preferred_username().map(std::borrow::Cow::into_owned);
            ::warp::reply::json(&profile)
        });
    let claims_phone = ::warp::path!("claims" / "phone")
        .and(::warp::get())
        .and(oidc_warp::claims::<NeedsPhone>(rp.clone()))
        .map(|phone: NeedsPhone| ::warp::reply::json(&phone));
    oidc_warp::routes(rp)
        .or(root)
        .or(claims)
        .or(claims_phone)
        .or(step_up)
        .or(login_with)
        .or(second)
        .or(api_me)
        .or(either)
        .or(access_token)
        .recover(oidc_warp::recover)
}

impl App for WarpApp {
    const ADAPTER: &'static str = "warp";

    fn new(rp: RelyingParty) -> Self {
        WarpApp(rp, None)
    }

    /// The app's routes behind a `warp::path` of the prefix's segment.
    fn new_under(rp: RelyingParty, prefix: &'static str) -> Self {
        WarpApp(rp, Some(prefix.trim_matches('/')))
    }

    /// Through `warp::service`, which takes the request as it is (repeated headers included,
    /// which `warp::test` cannot send).
    fn call(&self, request: http::Request<Bytes>) -> BoxFuture<'_, http::Response<Bytes>> {
        let rp = self.0.clone();
        let filter: ::warp::filters::BoxedFilter<(Box<dyn Reply>,)> = match self.1 {
            Some(segment) => ::warp::path(segment)
                .and(app(rp))
                .map(|r| Box::new(r) as Box<dyn Reply>)
                .boxed(),
            None => app(rp).map(|r| Box::new(r) as Box<dyn Reply>).boxed(),
        };
        Box::pin(oidc_testkit::apps::call_warp(filter, request))
    }
}
