//! Why an extractor refused a request, as a value the app can `match` on.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;

/// Why an extractor of this crate refused a request. Every variant but
/// [`MissingLayer`](Self::MissingLayer) carries the response the relying party built for it,
/// which [`IntoResponse`] sends unchanged: a handler that takes `Result<OidcUser,
/// OidcRejection>` can answer differently (a JSON body for its own API, a page of its own)
/// and fall back to the rejection for the rest.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use oidc_axum::{OidcRejection, OidcUser};
///
/// async fn home(user: Result<OidcUser, OidcRejection>) -> Response {
///     match user {
///         Ok(OidcUser(user)) => format!("hello {}", user.subject()).into_response(),
///         // Keep the login redirect: it carries the login's cookie.
///         Err(rejection @ OidcRejection::LoginRequired(_)) => rejection.into_response(),
///         Err(other) => (other.status(), "not for you").into_response(),
///     }
/// }
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum OidcRejection {
    /// No session (with the route's provider), or one that must log in again (step-up, an
    /// expired silent refresh, a refused refresh token): the response starts the login, a
    /// redirect to the provider (or to the login page) that sets the pending login's cookie.
    #[error("login required")]
    LoginRequired(Response),
    /// `401`: an API-style request without a session, or a missing or invalid bearer token
    /// (the response carries the `WWW-Authenticate` challenge).
    #[error("unauthorized")]
    Unauthorized(Response),
    /// `403`: a bearer token without a required scope (`insufficient_scope`), or another
    /// refusal of an authenticated caller.
    #[error("forbidden")]
    Forbidden(Response),
    /// `403` `insufficient_claims`: the user's claims do not fit the type [`Claims`](crate::Claims)
    /// reads (the error view's response).
    #[error("insufficient claims")]
    InsufficientClaims(Response),
    /// Any other failure, rendered by the error view (a provider that cannot be reached,
    /// login parameters that cannot be sent) or, for bearer checks, their JSON error (`400`
    /// for a malformed request, `5xx`).
    #[error("authentication failed")]
    ErrorPage(Response),
    /// The extractor ran on a route without [`OidcLayer`](crate::OidcLayer) and without the
    /// relying party in the router's state: a mistake in the app, answered `500`, never as
    /// an anonymous request.
    #[error("authentication is not configured for this route")]
    MissingLayer,
}

// The carried responses hold the login's state in their `Location` and cookies: only the
// variant and the status are shown.
impl std::fmt::Debug for OidcRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            OidcRejection::LoginRequired(_) => "LoginRequired",
            OidcRejection::Unauthorized(_) => "Unauthorized",
            OidcRejection::Forbidden(_) => "Forbidden",
            OidcRejection::InsufficientClaims(_) => "InsufficientClaims",
            OidcRejection::ErrorPage(_) => "ErrorPage",
            OidcRejection::MissingLayer => "MissingLayer",
        };
        f.debug_struct(name)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl OidcRejection {
    /// The status of the response this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self.response() {
            Some(response) => response.status(),
            None => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response the relying party built, `None` for [`MissingLayer`](Self::MissingLayer).
    pub fn response(&self) -> Option<&Response> {
        match self {
            OidcRejection::LoginRequired(r)
            | OidcRejection::Unauthorized(r)
            | OidcRejection::Forbidden(r)
            | OidcRejection::InsufficientClaims(r)
            | OidcRejection::ErrorPage(r) => Some(r),
            OidcRejection::MissingLayer => None,
        }
    }

    /// Sorts a refusal of the runtime by what it answers: the runtime returns one response
    /// per refusal, and its status tells a login (a redirect) from an API answer.
    pub(crate) fn from_refusal(response: http::Response<Bytes>) -> Self {
        let status = response.status();
        let response = crate::into_axum(response);
        if status.is_redirection() {
            OidcRejection::LoginRequired(response)
        } else if status == StatusCode::UNAUTHORIZED {
            OidcRejection::Unauthorized(response)
        } else if status == StatusCode::FORBIDDEN {
            OidcRejection::Forbidden(response)
        } else {
            OidcRejection::ErrorPage(response)
        }
    }
}

impl IntoResponse for OidcRejection {
    fn into_response(self) -> Response {
        match self {
            OidcRejection::LoginRequired(r)
            | OidcRejection::Unauthorized(r)
            | OidcRejection::Forbidden(r)
            | OidcRejection::InsufficientClaims(r)
            | OidcRejection::ErrorPage(r) => r,
            OidcRejection::MissingLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "authentication is not configured for this route",
            )
                .into_response(),
        }
    }
}
