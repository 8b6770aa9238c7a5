//! What the unit tests of several modules build their inputs with.

use bytes::Bytes;

/// A provider's answer with `status` and `body`.
pub(crate) fn resp(status: u16, body: &str) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

/// The form fields of a request's body, in order.
pub(crate) fn form(r: &http::Request<Bytes>) -> Vec<(String, String)> {
    form_urlencoded::parse(r.body()).into_owned().collect()
}
