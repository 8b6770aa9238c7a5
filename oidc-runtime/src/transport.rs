//! Sending the core's HTTP requests: the [`Transport`] trait, and [`ReqwestTransport`], the one
//! every adapter uses.
//!
//! Each call has a timeout (10 s by default) and a cap on the response body (1 MiB by default);
//! redirects are not followed (a provider endpoint that redirects is misconfigured, and following
//! would leak client credentials to another host); no cookies are kept, so nothing crosses from
//! one user's calls to another's.
//!
//! TLS is rustls on the ring provider, verifying against the system's roots (the `rustls`
//! feature, on by default), or native-tls, OpenSSL on Linux (the `native-tls` feature, which
//! wins when both are on). Without the `reqwest` feature there is no [`ReqwestTransport`]: the
//! app gives the relying party a [`Transport`] of its own.
//!
//! ```no_run
//! use std::sync::Arc;
//! let transport = oidc_runtime::ReqwestTransport::builder()
//!     .timeout(std::time::Duration::from_secs(5))
//!     .max_body_bytes(256 * 1024)
//!     .build()
//!     .unwrap();
//! let _: Arc<dyn oidc_runtime::Transport> = Arc::new(transport);
//! ```

use std::future::Future;
use std::pin::Pin;
#[cfg(feature = "reqwest")]
use std::time::Duration;

use bytes::Bytes;
#[cfg(feature = "reqwest")]
use bytes::BytesMut;
use oidc_core::TransportError;

/// A boxed, sendable future (what the trait objects of this crate return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends the HTTP requests the core asks for ([`oidc_core::Action::Send`]). It must apply a
/// timeout and a cap on the response body size, and report both as [`TransportError`].
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and returns the whole response.
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>>;
}

/// A [`Transport`] on a shared `reqwest::Client`.
#[cfg(feature = "reqwest")]
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_body: usize,
}

/// Builds a [`ReqwestTransport`].
#[cfg(feature = "reqwest")]
#[derive(Debug, Clone)]
#[must_use]
pub struct ReqwestTransportBuilder {
    timeout: Duration,
    connect_timeout: Duration,
    max_body: usize,
}

#[cfg(feature = "reqwest")]
impl ReqwestTransport {
    /// A builder with the defaults: 10 s timeout, 5 s connect timeout, 1 MiB body cap.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body: 1024 * 1024,
        }
    }

    /// A transport with the defaults.
    pub fn new() -> Result<Self, TransportError> {
        Self::builder().build()
    }
}

#[cfg(feature = "reqwest")]
impl ReqwestTransportBuilder {
    /// The timeout for a whole call, body included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout for establishing the connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body accepted.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Builds the transport.
    pub fn build(self) -> Result<ReqwestTransport, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("oidc-rs/", env!("CARGO_PKG_VERSION")));
        let client = crate::tls::configure(client)?
            .build()
            .map_err(|e| TransportError::Other(e.to_string()))?;
        Ok(ReqwestTransport {
            client,
            max_body: self.max_body,
        })
    }
}

#[cfg(feature = "reqwest")]
fn classify(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else if e.is_connect() {
        TransportError::Connect(e.without_url().to_string())
    } else {
        TransportError::Other(e.without_url().to_string())
    }
}

#[cfg(feature = "reqwest")]
impl ReqwestTransport {
    async fn send_inner(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
            .map_err(|e| TransportError::Other(e.without_url().to_string()))?;
        let mut response = self.client.execute(request).await.map_err(classify)?;
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body as u64)
        {
            return Err(TransportError::BodyTooLarge(self.max_body));
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(TransportError::BodyTooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::new(body.freeze());
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

#[cfg(feature = "reqwest")]
impl Transport for ReqwestTransport {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        Box::pin(self.send_inner(request))
    }
}

#[cfg(all(test, feature = "reqwest"))]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve_once(response: Vec<u8>, delay: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = s.write_all(&response).await;
            }
        });
        format!("http://{addr}/")
    }

    fn get(url: &str) -> http::Request<Bytes> {
        http::Request::get(url).body(Bytes::new()).unwrap()
    }

    #[tokio::test]
    async fn ok_response() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}"
                .to_vec(),
            Duration::ZERO,
        )
        .await;
        let t = ReqwestTransport::new().unwrap();
        let r = t.send(get(&url)).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(&r.body()[..], b"{}");
        assert_eq!(r.headers()["content-type"], "application/json");
    }

    #[tokio::test]
    async fn body_cap_declared_and_streamed() {
        let t = ReqwestTransport::builder()
            .max_body_bytes(10)
            .build()
            .unwrap();
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789".to_vec(),
            Duration::ZERO,
        )
        .await;
        assert_eq!(
            t.send(get(&url)).await.unwrap_err(),
            TransportError::BodyTooLarge(10)
        );
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n01234567890123456789".to_vec(),
            Duration::ZERO,
        )
        .await;
        assert_eq!(
            t.send(get(&url)).await.unwrap_err(),
            TransportError::BodyTooLarge(10)
        );
    }

    #[tokio::test]
    async fn timeout_and_refused() {
        let t = ReqwestTransport::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let url = serve_once(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), Duration::from_secs(3)).await;
        assert_eq!(
            t.send(get(&url)).await.unwrap_err(),
            TransportError::Timeout
        );
        // A port nobody listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = t.send(get(&format!("http://{addr}/"))).await.unwrap_err();
        assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
    }

    /// A body that drips in a byte at a time: the total timeout cuts it off, however steadily
    /// the bytes come (a per-read timeout would not).
    #[tokio::test]
    async fn slow_drip_hits_the_total_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                    .await;
                for _ in 0..1000 {
                    if s.write_all(b"x").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        let t = ReqwestTransport::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let err = t.send(get(&format!("http://{addr}/"))).await.unwrap_err();
        assert_eq!(err, TransportError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A body cut short of its `content-length` is an error, not a shorter body.
    #[tokio::test]
    async fn truncated_body_is_an_error() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"keys\":[".to_vec(),
            Duration::ZERO,
        )
        .await;
        let err = ReqwestTransport::new()
            .unwrap()
            .send(get(&url))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Other(_)), "{err:?}");
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let url = serve_once(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n"
                .to_vec(),
            Duration::ZERO,
        )
        .await;
        let r = ReqwestTransport::new()
            .unwrap()
            .send(get(&url))
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
    }
}
