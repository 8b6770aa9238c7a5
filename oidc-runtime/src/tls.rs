//! The TLS stack under [`ReqwestTransport`](crate::ReqwestTransport), chosen by this crate's
//! features:
//!
//! - `rustls` (default): rustls on the ring crypto provider, TLS 1.2 and 1.3, the server's
//!   certificate checked by `rustls-platform-verifier` against the system's roots, as reqwest's
//!   own rustls default does. reqwest's default provider is aws-lc-rs, which would link a second
//!   C crypto library next to OpenSSL (josekit's): reqwest is built without a provider and
//!   given this configuration instead. Nothing is installed process-wide, so an app's own
//!   choice of provider is left alone.
//! - `native-tls`: OpenSSL on Linux, the system's TLS elsewhere. It wins when both are on:
//!   `rustls` is a default, so `native-tls` being on is the app's explicit choice.
//! - neither: plain http only, which the core allows for loopback providers alone.

use oidc_core::TransportError;

/// The TLS backend of the `reqwest::Client` every [`ReqwestTransport`](crate::ReqwestTransport)
/// uses.
#[cfg(feature = "native-tls")]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, TransportError> {
    Ok(builder.tls_backend_native())
}

/// The TLS backend of the `reqwest::Client` every [`ReqwestTransport`](crate::ReqwestTransport)
/// uses.
#[cfg(all(feature = "rustls", not(feature = "native-tls")))]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, TransportError> {
    Ok(builder.tls_backend_preconfigured(rustls_config()?))
}

/// No TLS backend is compiled in: https requests fail as transport errors.
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::ClientBuilder, TransportError> {
    Ok(builder)
}

/// The rustls client configuration: ring, the safe default protocol versions (TLS 1.2 and
/// 1.3: many providers still offer 1.2 only), the platform verifier, HTTP/1.1 by ALPN (the
/// only HTTP version this transport is built with).
#[cfg(all(feature = "rustls", not(feature = "native-tls")))]
fn rustls_config() -> Result<rustls::ClientConfig, TransportError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    use std::sync::Arc;

    let tls_error = |e: rustls::Error| TransportError::Other(format!("TLS configuration: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_platform_verifier()
        .map_err(tls_error)?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// What the client really sends: the ClientHello of an https call, read by a rustls server
/// on a loopback socket.
#[cfg(all(test, feature = "rustls", not(feature = "native-tls")))]
mod client_hello {
    use std::time::Duration;

    use bytes::Bytes;
    use rustls::CipherSuite;
    use tokio::io::AsyncReadExt;

    use crate::{ReqwestTransport, Transport};

    /// ring's suites, all of them and in its order, nothing else (but the renegotiation
    /// signal TLS 1.2 sends), so TLS 1.3 and 1.2 (many providers still offer 1.2 only); and
    /// HTTP/1.1 by ALPN.
    #[tokio::test]
    async fn offers_ring_suites_for_tls_1_3_and_1_2_over_http_1_1() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("the client connects")
                .unwrap();
            let mut acceptor = rustls::server::Acceptor::default();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before its ClientHello");
                acceptor.read_tls(&mut &buf[..n]).unwrap();
                if let Some(accepted) = acceptor.accept().map_err(|(e, _)| e).unwrap() {
                    let hello = accepted.client_hello();
                    let alpn: Vec<Vec<u8>> = hello
                        .alpn()
                        .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
                        .unwrap_or_default();
                    return (hello.cipher_suites().to_vec(), alpn);
                }
            }
        });
        let request = http::Request::get(format!("https://{addr}/"))
            .body(Bytes::new())
            .unwrap();
        let transport = ReqwestTransport::new().unwrap();
        // The server hangs up after the ClientHello: the call fails, as it must.
        assert!(transport.send(request).await.is_err());

        let (suites, alpn) = server.await.unwrap();
        let ring: Vec<CipherSuite> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let (offered, other): (Vec<CipherSuite>, Vec<CipherSuite>) =
            suites.into_iter().partition(|s| ring.contains(s));
        assert_eq!(offered, ring);
        assert_eq!(other, [CipherSuite::TLS_EMPTY_RENEGOTIATION_INFO_SCSV]);
        assert!(ring.contains(&CipherSuite::TLS13_AES_128_GCM_SHA256));
        assert!(ring.contains(&CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        assert_eq!(alpn, [b"http/1.1".to_vec()]);
    }
}

#[cfg(all(test, any(feature = "rustls", feature = "native-tls")))]
mod handshake {
    use std::time::Duration;

    use bytes::Bytes;
    use oidc_core::TransportError;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::{ReqwestTransport, Transport};

    /// An https call opens with a TLS handshake, whichever backend is compiled in, and a server
    /// that answers it in plain HTTP is a transport error, never a response.
    #[tokio::test]
    async fn https_opens_with_a_tls_handshake() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("the client connects")
                .unwrap();
            let mut record = [0u8; 3];
            s.read_exact(&mut record).await.unwrap();
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await;
            record
        });
        let request = http::Request::get(format!("https://{addr}/"))
            .body(Bytes::new())
            .unwrap();
        let err = ReqwestTransport::new()
            .unwrap()
            .send(request)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::Connect(_) | TransportError::Other(_)),
            "{err:?}"
        );
        // A TLS record of type handshake (22), protocol major version 3.
        assert_eq!(server.await.unwrap()[..2], [0x16, 0x03]);
    }
}
