//! Error pages written with axum's response types.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::response::IntoResponse;
use bytes::Bytes;
use http_body_util::BodyExt;
use oidc_runtime::{ErrorInfo, ErrorView, HtmlErrorView};

/// An error view written as an axum handler's answer: any `Fn(&ErrorInfo) -> impl
/// IntoResponse` (`Html`, `Json`, `(StatusCode, ...)`, a `Response` built from a `String`
/// or `Bytes`), for [`RelyingPartyBuilder::error_view`](crate::RelyingPartyBuilder::error_view).
///
/// ```
/// use axum::response::Html;
/// use oidc_axum::{error_view, ErrorInfo, RelyingParty};
///
/// let builder = RelyingParty::builder("http://127.0.0.1:8080").error_view(error_view(
///     |info: &ErrorInfo| (info.status, Html(format!("<h1>{}</h1>", info.error))),
/// ));
/// # let _ = builder;
/// ```
///
/// The relying party renders errors synchronously, into an `http::Response<Bytes>`, from code
/// shared by every framework; an axum body is a stream. The view's body is therefore read
/// without waiting: a body built from memory (every response type of axum's, and
/// `Body::from` a `String`, `Vec<u8>` or `Bytes`) has all its bytes at once. A body that
/// would have to wait (a stream) is not read: the default HTML error page answers instead,
/// with the same status, and the mistake is logged.
pub fn error_view<F, R>(view: F) -> AxumErrorView<F>
where
    F: Fn(&ErrorInfo) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    AxumErrorView(view)
}

/// The error view [`error_view`] makes.
#[derive(Clone, Copy)]
pub struct AxumErrorView<F>(F);

impl<F> std::fmt::Debug for AxumErrorView<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AxumErrorView").finish_non_exhaustive()
    }
}

impl<F, R> ErrorView for AxumErrorView<F>
where
    F: Fn(&ErrorInfo) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn render(&self, info: &ErrorInfo) -> http::Response<Bytes> {
        let (parts, body) = (self.0)(info).into_response().into_parts();
        let mut collect = pin!(body.collect());
        match collect
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(Ok(collected)) => http::Response::from_parts(parts, collected.to_bytes()),
            Poll::Ready(Err(e)) => {
                tracing::error!(error = %e, "the error view's body failed");
                HtmlErrorView.render(info)
            }
            Poll::Pending => {
                tracing::error!("the error view's body is not in memory (a stream?)");
                HtmlErrorView.render(info)
            }
        }
    }
}
