//! `upgrade` behind a hyper 1.x HTTP/1.1 server on loopback: our client and
//! tokio-tungstenite's against it, with the subprotocol and
//! permessage-deflate negotiated on this path, messages both ways, close
//! codes seen on both sides, and refused requests answered with their
//! status.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::SinkExt;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Bytes as TtBytes, Message as TtMessage};
use wsmachine_tokio::handshake::{Accept, ClientRequest};
use wsmachine_tokio::{CloseCode, Closed, Config, Message, Negotiated, WebSocket};

use crate::common::{listener, tt_close_and_expect_the_echo, tt_expect_close, tt_recv_around_pong, within};

/// What the server saw of one WebSocket.
#[derive(Debug)]
struct Report {
    negotiated: Negotiated,
    messages: Vec<Message>,
    closed: Closed,
}

/// A hyper server on loopback, each connection served with upgrades: `/pick`
/// upgrades with `upgrade_with` (choosing the last subprotocol offered and
/// adding a header), `/bad-protocol` chooses one not offered, any other
/// path upgrades with `upgrade` (the first of `config`'s protocols). Every
/// refusal is answered with `error_response`. Returns the `ws://` base URL
/// (no path) and the reports of the WebSockets as they end.
async fn hyper_server(config: Config) -> (String, mpsc::UnboundedReceiver<Report>) {
    let (listener, url) = listener().await;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (config, tx) = (config.clone(), tx.clone());
            let service = service_fn(move |request| {
                let response = handle(request, config.clone(), tx.clone());
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tcp), service).with_upgrades());
        }
    });
    (url.trim_end_matches('/').to_owned(), rx)
}

fn handle(
    mut request: hyper::Request<Incoming>,
    config: Config,
    reports: mpsc::UnboundedSender<Report>,
) -> hyper::Response<Empty<Bytes>> {
    let result = match request.uri().path() {
        "/pick" => wsmachine_tokio::upgrade_with(&mut request, config, |r| {
            Accept::new().protocol(r.protocols().last().cloned().unwrap_or_default()).header("X-Picked", "last")
        }),
        "/bad-protocol" => wsmachine_tokio::upgrade_with(&mut request, config, |_| Accept::new().protocol("nope")),
        _ => wsmachine_tokio::upgrade(&mut request, config),
    };
    match result {
        Ok((response, websocket)) => {
            tokio::spawn(async move {
                let ws = websocket.await.expect("the upgrade");
                let _ = reports.send(echo(ws).await);
            });
            response
        }
        Err(e) => wsmachine_tokio::error_response(&e),
    }
}

/// Echoes every message until the connection ends; "close please" makes it
/// close with 4001 "server bye" instead.
async fn echo<S>(mut ws: WebSocket<S>) -> Report {
    let negotiated = ws.negotiated().clone();
    let mut messages = Vec::new();
    while let Some(message) = ws.recv().await {
        let message = message.expect("a message");
        if message == Message::text("close please") {
            let closed = ws.close(4001, "server bye").await.expect("close");
            assert!(closed.was_clean);
        } else {
            ws.send(message.clone()).await.expect("the echo");
        }
        messages.push(message);
    }
    Report { negotiated, messages, closed: ws.closed().await }
}

/// The wire as the client sees it.
#[cfg(feature = "deflate")]
mod wire {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;

    /// A transport that keeps a copy of every byte read and written.
    pub(crate) struct Recording {
        pub(crate) tcp: TcpStream,
        pub(crate) read: Arc<Mutex<Vec<u8>>>,
        pub(crate) written: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncRead for Recording {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
            self.read.lock().unwrap().extend_from_slice(&buf.filled()[before..]);
            polled
        }
    }

    impl AsyncWrite for Recording {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
            let polled = Pin::new(&mut self.tcp).poll_write(cx, data);
            if let Poll::Ready(Ok(n)) = polled {
                self.written.lock().unwrap().extend_from_slice(&data[..n]);
            }
            polled
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.tcp).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.tcp).poll_shutdown(cx)
        }
    }

    /// Splits recorded bytes into the HTTP head and the first frame's header
    /// byte and payload length (7-bit or 16-bit lengths only).
    pub(crate) fn head_and_first_frame(bytes: &[u8]) -> (String, u8, usize) {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
        let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
        let frame = &bytes[end..];
        let len = match frame[1] & 0x7f {
            126 => usize::from(u16::from_be_bytes([frame[2], frame[3]])),
            127 => panic!("a first frame of 64 KiB or more"),
            n => usize::from(n),
        };
        (head.to_ascii_lowercase(), frame[0], len)
    }
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn our_client_through_hyper_negotiates_deflate_and_the_subprotocol() {
    use std::sync::Arc;
    use wire::{Recording, head_and_first_frame};
    use wsmachine_tokio::wsmachine::DeflateConfig;
    within(10, async {
        let deflate = DeflateConfig::default().with_threshold(0);
        let server_config = Config::default().with_deflate(Some(deflate.clone())).with_protocol("chat");
        let (base, mut reports) = hyper_server(server_config).await;

        let (read, written) = (Arc::default(), Arc::default());
        let tcp = TcpStream::connect(base.trim_start_matches("ws://")).await.unwrap();
        let io = Recording { tcp, read: Arc::clone(&read), written: Arc::clone(&written) };
        let request = ClientRequest::new(&format!("{base}/echo")).unwrap().protocol("v2").protocol("chat");
        let client_config = Config::default().with_deflate(Some(deflate));
        let (mut ws, negotiated) = wsmachine_tokio::client(io, request, client_config).await.unwrap();
        assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
        let names: Vec<&str> = negotiated.extensions.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["permessage-deflate"]);

        let text = "compressible ".repeat(100);
        ws.send(text.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(text.clone()));
        ws.send(vec![7u8; 50_000]).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(vec![7u8; 50_000]));

        // On the wire: the response agreed to the offer, and the first
        // frame each way is compressed (RSV1, and far shorter than the text).
        let (response, first, len) = head_and_first_frame(&read.lock().unwrap());
        assert!(response.starts_with("http/1.1 101"), "{response}");
        assert!(response.contains("\r\nsec-websocket-extensions: permessage-deflate"), "{response}");
        assert!(response.contains("\r\nsec-websocket-protocol: chat\r\n"), "{response}");
        assert_eq!(first & 0x40, 0x40, "the server's first frame has RSV1 set");
        assert!(len < text.len() / 4, "the server's first frame: {len} bytes for {}", text.len());
        let (request, first, len) = head_and_first_frame(&written.lock().unwrap());
        assert!(request.contains("\r\nsec-websocket-extensions: permessage-deflate"), "{request}");
        assert_eq!(first & 0x40, 0x40, "the client's first frame has RSV1 set");
        assert!(len < text.len() / 4, "the client's first frame: {len} bytes for {}", text.len());

        // The server closes; each side sees the other's Close.
        ws.send("close please").await.unwrap();
        assert!(ws.recv().await.is_none());
        let closed = ws.closed().await;
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4001), "server bye", true));
        let report = reports.recv().await.unwrap();
        assert_eq!(report.negotiated, negotiated);
        assert_eq!(report.messages.len(), 3);
        assert_eq!(report.messages[0], Message::text(text));
        assert_eq!(report.closed.code, CloseCode::new(4001), "{:?}", report.closed);
        assert!(report.closed.was_clean);

        // `connect_with` with the same offer, defaults elsewhere.
        let request = ClientRequest::new(&format!("{base}/")).unwrap();
        let config = Config::default().with_deflate(Some(DeflateConfig::default()));
        let (mut ws, negotiated) = wsmachine_tokio::connect_with(request, config).await.unwrap();
        assert_eq!(negotiated.extensions.first().map(|e| e.name.as_str()), Some("permessage-deflate"));
        let big = "again and again ".repeat(10_000);
        ws.send(big.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(big));
        assert!(ws.close(CloseCode::NORMAL, "").await.unwrap().was_clean);
        let report = reports.recv().await.unwrap();
        assert_eq!(report.negotiated, negotiated);
        assert_eq!(report.closed.code, CloseCode::NORMAL);
    })
    .await;
}

#[tokio::test]
async fn connect_with_through_hyper_and_a_client_close() {
    within(10, async {
        let (base, mut reports) = hyper_server(Config::default().with_protocol("chat")).await;
        // A server without `Config::deflate` declines the client's offer.
        let request = ClientRequest::new(&format!("{base}/pick")).unwrap().protocol("chat").protocol("v2");
        #[cfg(feature = "deflate")]
        let config = Config::default().with_deflate(Some(Default::default()));
        #[cfg(not(feature = "deflate"))]
        let config = Config::default();
        let (mut ws, negotiated) = wsmachine_tokio::connect_with(request, config).await.unwrap();
        // `upgrade_with`'s choice wins over the config's.
        assert_eq!(negotiated.protocol.as_deref(), Some("v2"));
        assert!(negotiated.extensions.is_empty());
        ws.send("héllo").await.unwrap();
        ws.send(vec![0u8, 1, 2, 255]).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("héllo"));
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(vec![0u8, 1, 2, 255]));
        let closed = ws.close(4002, "client bye").await.unwrap();
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4002), "client bye", true));
        let report = reports.recv().await.unwrap();
        assert_eq!(report.negotiated.protocol.as_deref(), Some("v2"));
        assert_eq!(report.messages, [Message::text("héllo"), Message::binary(vec![0u8, 1, 2, 255])]);
        assert_eq!(
            (report.closed.code, report.closed.reason.as_str(), report.closed.was_clean),
            (CloseCode::new(4002), "client bye", true)
        );
    })
    .await;
}

#[tokio::test]
async fn tungstenite_client_through_hyper() {
    within(10, async {
        let (base, mut reports) = hyper_server(Config::default().with_protocol("chat")).await;
        let mut request = format!("{base}/pick").into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", "superchat, chat".parse().unwrap());
        let tcp = TcpStream::connect(base.trim_start_matches("ws://")).await.unwrap();
        let (mut tt, response) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        assert_eq!(response.headers()["x-picked"], "last");

        tt.send(TtMessage::text("héllo")).await.unwrap();
        tt.send(TtMessage::binary(vec![9u8; 300_000])).await.unwrap();
        tt.send(TtMessage::Ping(TtBytes::from_static(b"p1"))).await.unwrap();
        let got = tt_recv_around_pong(&mut tt, 3).await;
        assert_eq!(got[0], TtMessage::text("héllo"));
        assert_eq!(got[1], TtMessage::binary(vec![9u8; 300_000]));

        tt_close_and_expect_the_echo(&mut tt, 4000, "tt done").await;
        let report = reports.recv().await.unwrap();
        assert_eq!(report.negotiated.protocol.as_deref(), Some("chat"));
        assert_eq!(report.messages.len(), 2);
        assert_eq!(
            (report.closed.code, report.closed.reason.as_str(), report.closed.was_clean),
            (CloseCode::new(4000), "tt done", true)
        );

        // The server closes a second tungstenite connection.
        let tcp = TcpStream::connect(base.trim_start_matches("ws://")).await.unwrap();
        let (mut tt, _) = tokio_tungstenite::client_async(format!("{base}/"), tcp).await.unwrap();
        tt.send(TtMessage::text("close please")).await.unwrap();
        tt_expect_close(&mut tt, 4001, "server bye").await;
        let report = reports.recv().await.unwrap();
        assert_eq!(report.closed.code, CloseCode::new(4001));
        assert!(report.closed.was_clean);
    })
    .await;
}

/// Sends a raw HTTP/1.1 request and returns the response head, lower-cased.
async fn raw_request(base: &str, request: &str) -> String {
    let mut tcp = TcpStream::connect(base.trim_start_matches("ws://")).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

#[tokio::test]
async fn refused_requests_are_answered_with_their_status() {
    within(10, async {
        let (base, _reports) = hyper_server(Config::default()).await;
        const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
        const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        let cases = [
            // A plain request: 426, naming the protocol to upgrade to.
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), "426", &["upgrade: websocket"][..]),
            // Not a GET: 405 with Allow.
            (
                format!(
                    "POST / HTTP/1.1\r\nHost: x\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
                ),
                "405",
                &["allow: get"][..],
            ),
            // An unsupported version: 426 with the version we speak.
            (
                format!("GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 8\r\n\r\n"),
                "426",
                &["sec-websocket-version: 13"][..],
            ),
            // No key: 400.
            (format!("GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}Sec-WebSocket-Version: 13\r\n\r\n"), "400", &[][..]),
            // The application chose a subprotocol the client did not offer: 500.
            (
                format!("GET /bad-protocol HTTP/1.1\r\nHost: x\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 13\r\n\r\n"),
                "500",
                &[][..],
            ),
        ];
        for (request, status, headers) in cases {
            let response = raw_request(&base, &request).await;
            assert!(response.starts_with(&format!("http/1.1 {status} ")), "{request:?} -> {response}");
            for header in headers {
                assert!(response.contains(&format!("\r\n{header}\r\n")), "{request:?} -> {response}");
            }
            assert!(!response.contains("sec-websocket-accept"), "{response}");
        }
    })
    .await;
}

#[test]
fn is_upgrade_request_reads_the_token_lists() {
    let request = |headers: &[(&str, &str)]| {
        let mut builder = hyper::Request::builder().uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    };
    assert!(wsmachine_tokio::is_upgrade_request(&request(&[("Connection", "Upgrade"), ("Upgrade", "websocket")])));
    assert!(wsmachine_tokio::is_upgrade_request(&request(&[
        ("Connection", "keep-alive"),
        ("Connection", "keep-alive, UPGRADE"),
        ("Upgrade", "h2c, WebSocket")
    ])));
    assert!(!wsmachine_tokio::is_upgrade_request(&request(&[("Upgrade", "websocket")])));
    assert!(!wsmachine_tokio::is_upgrade_request(&request(&[("Connection", "upgrade"), ("Upgrade", "h2c")])));
    assert!(!wsmachine_tokio::is_upgrade_request(&request(&[])));
}
