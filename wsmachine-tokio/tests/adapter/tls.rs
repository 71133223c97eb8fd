//! `wss://` over loopback: a TLS server (`accept` on a tokio-rustls
//! stream) and a client, with a certificate made by the test.
#![cfg(feature = "rustls")]

use std::sync::Arc;

use crate::common::within;
use wsmachine_tokio::handshake::ClientRequest;
use wsmachine_tokio::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsmachine_tokio::rustls::{ClientConfig, RootCertStore};
use wsmachine_tokio::tokio_rustls::TlsAcceptor;
use wsmachine_tokio::tokio_rustls::server::TlsStream;
use wsmachine_tokio::{CloseCode, Config, Error, MaybeTlsStream, Message, WebSocket};

/// A self-signed certificate for `localhost` and its key.
fn certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    (made.cert.der().clone(), key)
}

/// A TLS echo server on loopback; returns its port.
async fn tls_echo_server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(wsmachine_tokio::server_config(vec![cert], key).unwrap());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let mut ws = wsmachine_tokio::accept(tls).await.unwrap();
                while let Some(Ok(message)) = ws.recv().await {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A `wss://` client of `url` that trusts `cert` alone.
async fn connect_trusting(cert: CertificateDer<'static>, url: &str) -> WebSocket<MaybeTlsStream> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let tls = ClientConfig::builder_with_provider(wsmachine_tokio::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let request = ClientRequest::new(url).unwrap();
    wsmachine_tokio::connect_with_tls(request, Config::default(), Arc::new(tls)).await.unwrap().0
}

#[tokio::test]
async fn wss_client_and_tls_server() {
    within(20, async {
        let (cert, key) = certificate();
        let port = tls_echo_server(cert.clone(), key).await;
        let mut ws = connect_trusting(cert, &format!("wss://localhost:{port}/secure")).await;
        ws.send("over TLS").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("over TLS"));
        // Large enough to span many TLS records, in both directions.
        let big = Message::binary((0..1_000_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        ws.send(big.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), big);
        for i in 0..1000u32 {
            ws.send(Message::text(format!("small {i}"))).await.unwrap();
        }
        for i in 0..1000u32 {
            assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(format!("small {i}")));
        }
        let closed = ws.close(4242, "secure bye").await.unwrap();
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4242), "secure bye", true));
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_connection() {
    within(20, async {
        let (cert, key) = certificate();
        let port = tls_echo_server(cert, key).await;
        // The default roots (Mozilla's, with --all-features) do not trust a
        // self-signed certificate.
        match wsmachine_tokio::connect(&format!("wss://localhost:{port}/")).await {
            Err(Error::Io(e)) => assert!(e.to_string().contains("certificate"), "{e}"),
            other => panic!("expected a certificate error, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_silent_tls_server_times_out_the_connect() {
    within(10, async {
        // Accepts TCP, then says nothing: the TLS handshake never ends.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _held = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            drop(tcp);
        });
        let config = Config::default().with_handshake_timeout(Some(std::time::Duration::from_millis(200)));
        let request = ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
        let result = wsmachine_tokio::connect_with(request, config).await;
        assert!(matches!(result, Err(Error::Handshake(wsmachine::HandshakeError::Timeout))), "{result:?}");
    })
    .await;
}

/// A server-side TLS stream whose shutdown closes TCP without TLS's
/// close_notify, as many servers do.
struct NoCloseNotify(TlsStream<tokio::net::TcpStream>);

impl tokio::io::AsyncRead for NoCloseNotify {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for NoCloseNotify {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(std::pin::Pin::new(&mut self.0).poll_flush(cx))?;
        std::pin::Pin::new(self.0.get_mut().0).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_tls_server_without_close_notify_still_closes_cleanly() {
    within(20, async {
        let (cert, key) = certificate();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = TlsAcceptor::from(wsmachine_tokio::server_config(vec![cert.clone()], key).unwrap());
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let ws = wsmachine_tokio::accept(NoCloseNotify(tls)).await.unwrap();
            ws.close(1000, "plain TCP close").await.unwrap()
        });
        let mut ws = connect_trusting(cert, &format!("wss://localhost:{port}/")).await;
        assert!(ws.recv().await.is_none(), "a clean close ends the stream without an error");
        let closed = ws.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str(), closed.was_clean),
            (CloseCode::NORMAL, "plain TCP close", true)
        );
        assert!(server.await.unwrap().was_clean);
    })
    .await;
}
