//! In-process calls into an app of each framework, for [`App::call`](crate::harness::App::call):
//! what the test kit's browser needs to drive *your* app, with no socket.
//!
//! - axum: [`call_axum`] with your `Router`;
//! - Rocket (feature `rocket`, on by default): [`RocketClient`] around your `Rocket<Build>`;
//! - warp (feature `warp`, on by default): [`call_warp`] with your filter.
//!
//! The [testing guide](crate::guide) shows a whole test of an app's login, logout and failure
//! paths with each.

use bytes::Bytes;
use http::{Request, Response};

/// Sends `request` through an axum `router`, in-process, and collects the whole response.
pub async fn call_axum(router: axum::Router, request: Request<Bytes>) -> Response<Bytes> {
    use tower::ServiceExt;
    // An axum router is always ready and never fails: its error type is `Infallible`.
    let response = match router.oneshot(request.map(axum::body::Body::from)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        // A body that fails to stream is an app bug the test should see as such.
        Err(e) => Bytes::from(format!("the app's response body failed: {e}")),
    };
    Response::from_parts(parts, body)
}

/// A Rocket app driven in-process by Rocket's local client.
///
/// Built from the app's `Rocket<Build>` (synchronously, as [`App::new`](crate::harness::App::new)
/// must be), it ignites the app on the first request. The client is untracked: the test kit's
/// browser keeps the cookies.
#[cfg(feature = "rocket")]
pub struct RocketClient {
    rocket: std::sync::Mutex<Option<rocket::Rocket<rocket::Build>>>,
    client: tokio::sync::OnceCell<rocket::local::asynchronous::Client>,
}

#[cfg(feature = "rocket")]
impl RocketClient {
    /// Wraps the app (with its fairings and routes attached).
    pub fn new(rocket: rocket::Rocket<rocket::Build>) -> Self {
        RocketClient {
            rocket: std::sync::Mutex::new(Some(rocket)),
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// Rocket's configuration for tests: no log output, no colours. Start the app from it with
    /// `rocket::custom(RocketClient::quiet_config())`.
    pub fn quiet_config() -> rocket::figment::Figment {
        rocket::Config::figment()
            .merge(("log_level", rocket::config::LogLevel::Off))
            .merge(("cli_colors", false))
    }

    /// Sends `request` through the app and collects the whole response.
    ///
    /// # Panics
    /// When the app fails to ignite (a fairing refused it): the test cannot go on.
    pub async fn call(&self, request: Request<Bytes>) -> Response<Bytes> {
        use std::str::FromStr;
        let client = self
            .client
            .get_or_init(|| async {
                let rocket = self
                    .rocket
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .expect("ignited once, under the cell's lock");
                rocket::local::asynchronous::Client::untracked(rocket)
                    .await
                    .expect("the app ignites")
            })
            .await;
        let (parts, body) = request.into_parts();
        let method = match rocket::http::Method::from_str(parts.method.as_str()) {
            Ok(method) => method,
            Err(()) => {
                let mut response = Response::new(Bytes::new());
                *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
                return response;
            }
        };
        let mut local = client.req(method, parts.uri.to_string());
        for (name, value) in &parts.headers {
            // Rocket's headers are `str`, and Rocket's server drops a header whose value is not
            // UTF-8: doing the same keeps the app seeing what it would see in production.
            let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
                continue;
            };
            local.add_header(rocket::http::Header::new(
                name.as_str().to_owned(),
                value.to_owned(),
            ));
        }
        local.set_body(body);
        let response = local.dispatch().await;
        let mut out = Response::builder().status(response.status().code);
        for header in response.headers().iter() {
            out = out.header(header.name().as_str(), header.value());
        }
        let body = response.into_bytes().await.unwrap_or_default();
        out.body(Bytes::from(body))
            .unwrap_or_else(|e| Response::new(Bytes::from(format!("an invalid response: {e}"))))
    }
}

#[cfg(feature = "rocket")]
impl std::fmt::Debug for RocketClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocketClient")
            .field("ignited", &self.client.initialized())
            .finish()
    }
}

/// Sends `request` through a warp `filter` as warp's server would (`warp::service`), in-process,
/// and collects the whole response. Unlike `warp::test`, it passes any request, such as one
/// with several `Cookie` headers.
#[cfg(feature = "warp")]
pub async fn call_warp<F, R>(filter: F, request: Request<Bytes>) -> Response<Bytes>
where
    F: warp::Filter<Extract = (R,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
    R: warp::Reply,
{
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let service = warp::service(filter);
    let response = match service
        .oneshot(request.map(http_body_util::Full::new))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => Bytes::from(format!("the app's response body failed: {e}")),
    };
    Response::from_parts(parts, body)
}
