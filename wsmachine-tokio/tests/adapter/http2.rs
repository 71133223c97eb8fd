//! WebSockets over HTTP/2 (RFC 8441): `http2::accept` behind hyper's HTTP/2
//! server with extended CONNECT enabled, and `Http2Connection` as the
//! client, over h2c and over TLS with ALPN `h2`; many WebSockets on one
//! connection, close codes and reasons both ways, refusals as typed
//! errors. A raw peer on the `h2` crate checks what goes on the stream
//! itself: `END_STREAM` both ways on a clean close and no reset, and a
//! `RST_STREAM(CANCEL)` from the peer seen as an abnormal end (1006).
#![cfg(feature = "http2")]

use std::convert::Infallible;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsmachine_tokio::handshake::{Accept, ClientRequest, HandshakeError};
use wsmachine_tokio::http2::{self, Http2Connection};
use wsmachine_tokio::{CloseCode, Closed, Config, Error, Message, Negotiated, WebSocket};

use crate::common::within;

/// What accepts TLS for the test server.
#[cfg(feature = "rustls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "rustls"))]
#[derive(Clone)]
enum Acceptor {}

/// What the server saw of one WebSocket.
#[derive(Debug)]
struct Report {
    path: String,
    /// Which TCP connection (1, 2, …) it came on.
    connection: usize,
    negotiated: Negotiated,
    messages: Vec<Message>,
    closed: Closed,
}

/// A hyper HTTP/2 server (extended CONNECT enabled) on loopback, over TLS
/// when `tls` is given: any extended CONNECT is accepted (subprotocol
/// `chat` if offered) and echoed, except `/forbidden` (403 with `x-why`)
/// and `/old-version` (its `sec-websocket-version` made 8 before
/// `http2::accept` sees it); a text message `/close CODE REASON` makes the
/// server close. Returns its address, the number of TCP connections it took
/// so far, and the reports of the WebSockets as they end.
async fn h2_server(tls: Option<Acceptor>) -> (SocketAddr, Arc<AtomicUsize>, mpsc::UnboundedReceiver<Report>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let connection = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = handle(request, connection, tx.clone());
                    async move { Ok::<_, Infallible>(response) }
                });
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder.enable_connect_protocol();
                match tls {
                    #[cfg(feature = "rustls")]
                    Some(acceptor) => {
                        let stream = acceptor.accept(tcp).await.unwrap();
                        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
                        let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                    }
                    #[cfg(not(feature = "rustls"))]
                    Some(never) => match never {},
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    (addr, connections, rx)
}

fn handle(
    mut request: hyper::Request<Incoming>,
    connection: usize,
    reports: mpsc::UnboundedSender<Report>,
) -> hyper::Response<Empty<Bytes>> {
    assert!(http2::is_connect_request(&request), "{request:?}");
    let path = request.uri().path().to_owned();
    match path.as_str() {
        "/forbidden" => {
            return hyper::Response::builder().status(403).header("x-why", "not here").body(Empty::new()).unwrap();
        }
        "/old-version" => {
            request.headers_mut().insert("sec-websocket-version", http::HeaderValue::from_static("8"));
        }
        _ => {}
    }
    let config = Config::default().with_protocol("chat");
    // `/deflate`: permessage-deflate, every message compressed.
    #[cfg(feature = "deflate")]
    let config = if path == "/deflate" {
        config.with_deflate(Some(wsmachine::DeflateConfig::default().with_threshold(0)))
    } else {
        config
    };
    match http2::accept_with(&mut request, config, |r| {
        assert_eq!(r.path(), path);
        Accept::new()
    }) {
        Ok((response, websocket)) => {
            tokio::spawn(async move {
                let ws = websocket.await.expect("the stream");
                let (negotiated, messages, closed) = echo(ws).await;
                let _ = reports.send(Report { path, connection, negotiated, messages, closed });
            });
            response
        }
        Err(refusal) => refusal.response(),
    }
}

/// Echoes every message until the connection ends; `/close CODE REASON`
/// closes it instead.
async fn echo<S>(mut ws: WebSocket<S>) -> (Negotiated, Vec<Message>, Closed) {
    let negotiated = ws.negotiated().clone();
    let mut messages = Vec::new();
    while let Some(message) = ws.recv().await {
        let Ok(message) = message else { break };
        messages.push(message.clone());
        let text = String::from_utf8_lossy(message.as_bytes()).into_owned();
        if let Some(rest) = text.strip_prefix("/close ") {
            let (code, reason) = rest.split_once(' ').unwrap();
            let closed = ws.close(code.parse::<u16>().unwrap(), reason).await.expect("close");
            assert!(closed.was_clean, "{closed:?}");
        } else {
            ws.send(message).await.expect("the echo");
        }
    }
    (negotiated, messages, ws.closed().await)
}

/// Several WebSockets at once on one h2c connection: each negotiates the
/// subprotocol, echoes interleaved messages, and closes, half from the
/// client and half from the server, with codes and reasons seen exactly on
/// both sides; the server took one TCP connection for all of them.
#[tokio::test]
async fn many_websockets_share_one_h2c_connection() {
    const SOCKETS: usize = 8;
    within(20, async {
        let (addr, connections, mut reports) = h2_server(None).await;
        let h2 = Http2Connection::connect(&format!("ws://{addr}/")).await.unwrap();
        let mut opening = Vec::new();
        for i in 0..SOCKETS {
            let h2 = h2.clone();
            opening.push(tokio::spawn(async move {
                let request = ClientRequest::new(&format!("ws://{addr}/socket/{i}")).unwrap().protocol("chat");
                h2.websocket(request, Config::default()).await.unwrap()
            }));
        }
        let mut sockets = Vec::new();
        for task in opening {
            let (ws, negotiated) = task.await.unwrap();
            assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
            sockets.push(ws);
        }
        // All open at once: now the traffic, every socket in its own task.
        let mut running = Vec::new();
        for (i, mut ws) in sockets.into_iter().enumerate() {
            running.push(tokio::spawn(async move {
                for k in 0..20 {
                    ws.send(format!("socket {i} message {k}")).await.unwrap();
                }
                for k in 0..20 {
                    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(format!("socket {i} message {k}")));
                }
                if i % 2 == 0 {
                    ws.close(4000 + i as u16, &format!("client {i} done")).await.unwrap()
                } else {
                    ws.send(format!("/close {} server {i} done", 4100 + i)).await.unwrap();
                    assert!(ws.recv().await.is_none());
                    ws.closed().await
                }
            }));
        }
        for (i, task) in running.into_iter().enumerate() {
            let closed = task.await.unwrap();
            let (code, reason) = if i % 2 == 0 {
                (4000 + i as u16, format!("client {i} done"))
            } else {
                (4100 + i as u16, format!("server {i} done"))
            };
            assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(code), &*reason, true));
        }
        let mut seen = Vec::new();
        for _ in 0..SOCKETS {
            seen.push(reports.recv().await.unwrap());
        }
        seen.sort_by_key(|r| r.path.clone());
        for (i, report) in seen.iter().enumerate() {
            assert_eq!(report.path, format!("/socket/{i}"));
            assert_eq!(report.connection, 1);
            assert_eq!(report.negotiated.protocol.as_deref(), Some("chat"));
            assert_eq!(report.messages.len(), 20 + usize::from(i % 2 == 1));
            let (code, reason) = if i % 2 == 0 {
                (4000 + i as u16, format!("client {i} done"))
            } else {
                (4100 + i as u16, format!("server {i} done"))
            };
            let closed = &report.closed;
            assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(code), &*reason, true));
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "every WebSocket on one TCP connection");
        // The connection outlives its WebSockets: one more opens on it.
        assert!(!h2.is_closed());
        let (mut ws, _) =
            h2.websocket(ClientRequest::new(&format!("ws://{addr}/late")).unwrap(), Config::default()).await.unwrap();
        ws.send("late").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("late"));
        let closed = ws.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(closed.was_clean);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    })
    .await;
}

/// `wss://` over TLS with ALPN `h2`, certificate made by the test: two
/// WebSockets on one connection, a large message and close codes.
#[cfg(feature = "rustls")]
#[tokio::test]
async fn wss_over_tls_with_alpn_h2() {
    use wsmachine_tokio::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use wsmachine_tokio::rustls::{ClientConfig, RootCertStore};

    within(20, async {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
        let cert = made.cert.der().clone();
        let mut server_tls = (*wsmachine_tokio::server_config(vec![cert.clone()], key).unwrap()).clone();
        server_tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = Acceptor::from(Arc::new(server_tls));
        let (addr, connections, mut reports) = h2_server(Some(acceptor)).await;

        let mut roots = RootCertStore::empty();
        roots.add(cert).unwrap();
        // No ALPN here: the connection sets `h2` itself.
        let client_tls = ClientConfig::builder_with_provider(wsmachine_tokio::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let url = format!("wss://localhost:{}/", addr.port());
        let h2 = Http2Connection::connect_with_tls(&url, Arc::new(client_tls)).await.unwrap();
        let (mut a, _) =
            h2.websocket(ClientRequest::new(&format!("{url}a")).unwrap(), Config::default()).await.unwrap();
        let (mut b, _) =
            h2.websocket(ClientRequest::new(&format!("{url}b")).unwrap(), Config::default()).await.unwrap();
        // Larger than HTTP/2's initial 64 KiB window: flow control both ways.
        let big = Message::binary((0..1_000_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        a.send(big.clone()).await.unwrap();
        b.send("small, beside it").await.unwrap();
        assert_eq!(b.recv().await.unwrap().unwrap(), Message::text("small, beside it"));
        assert_eq!(a.recv().await.unwrap().unwrap(), big);
        let closed = a.close(4242, "secure bye").await.unwrap();
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4242), "secure bye", true));
        b.send("/close 4243 secure server bye").await.unwrap();
        assert!(b.recv().await.is_none());
        let closed = b.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str(), closed.was_clean),
            (CloseCode::new(4243), "secure server bye", true)
        );
        let mut seen = [reports.recv().await.unwrap(), reports.recv().await.unwrap()];
        seen.sort_by_key(|r| r.path.clone());
        assert_eq!(
            (seen[0].path.as_str(), seen[0].closed.code, seen[0].closed.was_clean),
            ("/a", CloseCode::new(4242), true)
        );
        assert_eq!(
            (seen[1].path.as_str(), seen[1].closed.code, seen[1].closed.was_clean),
            ("/b", CloseCode::new(4243), true)
        );
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    })
    .await;
}

/// Refusals reach our client as typed errors, and the connection stays
/// usable: the application's 403, and the core's 400 for a
/// `sec-websocket-version` other than 13, which names the version it
/// supports.
#[tokio::test]
async fn refusals_are_typed_errors() {
    within(20, async {
        let (addr, connections, _reports) = h2_server(None).await;
        let h2 = Http2Connection::connect(&format!("ws://{addr}/")).await.unwrap();
        let refused = |path: &str| {
            let (h2, url) = (h2.clone(), format!("ws://{addr}{path}"));
            async move {
                match h2.websocket(ClientRequest::new(&url).unwrap(), Config::default()).await {
                    Err(Error::Handshake(HandshakeError::Rejected(rejection))) => rejection,
                    other => panic!("expected a rejection, got {:?}", other.map(|(_, n)| n)),
                }
            }
        };
        let forbidden = refused("/forbidden").await;
        assert_eq!(forbidden.status, 403);
        assert!(forbidden.headers.contains(&("x-why".to_owned(), "not here".to_owned())), "{:?}", forbidden.headers);
        let old = refused("/old-version").await;
        assert_eq!(old.status, 400);
        assert!(old.headers.contains(&("sec-websocket-version".to_owned(), "13".to_owned())), "{:?}", old.headers);
        let (mut ws, _) =
            h2.websocket(ClientRequest::new(&format!("ws://{addr}/fine")).unwrap(), Config::default()).await.unwrap();
        ws.send("after the refusals").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("after the refusals"));
        assert!(ws.close(CloseCode::NORMAL, "").await.unwrap().was_clean);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    })
    .await;
}

/// permessage-deflate over HTTP/2, negotiated as on HTTP/1.1: our client
/// and server agree on it, and on the wire (a raw h2 client that offers
/// it) the server's 200 accepts it and its frames are compressed.
#[cfg(feature = "deflate")]
#[tokio::test]
async fn deflate_is_negotiated_over_h2() {
    use wsmachine_tokio::wsmachine::DeflateConfig;
    within(20, async {
        let (addr, _, mut reports) = h2_server(None).await;
        let h2 = Http2Connection::connect(&format!("ws://{addr}/")).await.unwrap();
        let config = Config::default().with_deflate(Some(DeflateConfig::default().with_threshold(0)));
        let request = ClientRequest::new(&format!("ws://{addr}/deflate")).unwrap();
        let (mut ws, negotiated) = h2.websocket(request, config).await.unwrap();
        let names: Vec<&str> = negotiated.extensions.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["permessage-deflate"]);
        let text = "compressible ".repeat(1000);
        ws.send(text.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(text.clone()));
        assert!(ws.close(CloseCode::NORMAL, "deflated").await.unwrap().was_clean);
        let report = reports.recv().await.unwrap();
        assert_eq!(report.negotiated, negotiated);
        assert_eq!(report.messages, [Message::text(text)]);

        // A raw client's view: the answer, and a compressed echo (RSV1).
        let (response, mut send) = raw_connect_with(addr, "/deflate", "13", Some("permessage-deflate")).await;
        assert_eq!(response.status(), 200);
        let agreed = response.headers()["sec-websocket-extensions"].to_str().unwrap().to_owned();
        assert!(agreed.starts_with("permessage-deflate"), "{agreed}");
        let plain =
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        send.send_data(Bytes::from(client_frame(0x1, plain.as_bytes())), false).unwrap();
        let mut body = response.into_body();
        let head = read_stream(&mut body, 2).await;
        assert_eq!(head[0], 0x80 | 0x40 | 0x1, "FIN, RSV1 (compressed), text: {head:?}");
        assert!(usize::from(head[1]) < plain.len() / 4, "{} bytes for {}", head[1], plain.len());
        send.send_reset(h2::Reason::CANCEL);
    })
    .await;
}

/// The connection lives as long as a WebSocket on it does, without the
/// `Http2Connection` that opened it.
#[tokio::test]
async fn a_websocket_outlives_its_http2_connection_handle() {
    within(20, async {
        let (addr, _, mut reports) = h2_server(None).await;
        let request = ClientRequest::new(&format!("ws://{addr}/alone")).unwrap();
        let (mut ws, _) = Http2Connection::connect(&format!("ws://{addr}/"))
            .await
            .unwrap()
            .websocket(request, Config::default())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        ws.send("still here").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("still here"));
        let closed = ws.close(4002, "alone").await.unwrap();
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::new(4002), "alone", true));
        let report = reports.recv().await.unwrap();
        assert_eq!((report.closed.code, report.closed.was_clean), (CloseCode::new(4002), true));
    })
    .await;
}

/// A hyper HTTP/2 server that did not enable extended CONNECT never gets
/// one: `Http2Connection` refuses to start.
#[tokio::test(start_paused = true)]
async fn a_server_without_extended_connect_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let service = service_fn(|_request: hyper::Request<Incoming>| async {
            Ok::<_, Infallible>(hyper::Response::new(Empty::<Bytes>::new()))
        });
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tcp), service)
            .await;
    });
    match Http2Connection::connect(&format!("ws://{addr}/")).await {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
            assert!(e.to_string().contains("SETTINGS_ENABLE_CONNECT_PROTOCOL"), "{e}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

// ---------------------------------------------------------------- a raw h2 peer

/// A masked client frame (FIN set).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// An unmasked server frame (FIN set).
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x80 | opcode, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

/// A Close payload.
fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Reads from an h2 stream until `want` bytes came, or its end.
async fn read_stream(body: &mut h2::RecvStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let Some(chunk) = body.data().await else { break };
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        got.extend_from_slice(&chunk);
    }
    got
}

/// The stream's end as the raw peer sees it: `Ok(())` for `END_STREAM`, the
/// reason for a reset.
async fn stream_end(body: &mut h2::RecvStream) -> Result<(), h2::Reason> {
    loop {
        match body.data().await {
            None => return Ok(()),
            Some(Ok(chunk)) if chunk.is_empty() => {}
            Some(Ok(chunk)) => panic!("unexpected data {chunk:?}"),
            Some(Err(e)) => return Err(e.reason().expect("a reset")),
        }
    }
}

/// Whether the peer has reset the stream, within `wait`.
async fn reset_within(send: &mut h2::SendStream<Bytes>, wait: Duration) -> Option<h2::Reason> {
    tokio::time::timeout(wait, poll_fn(|cx| send.poll_reset(cx))).await.ok().map(|r| r.unwrap())
}

/// A raw h2 client connected to `addr` whose server has enabled extended
/// CONNECT; opens one WebSocket stream at `path`.
async fn raw_connect(
    addr: SocketAddr,
    path: &str,
    version: &str,
) -> (http::Response<h2::RecvStream>, h2::SendStream<Bytes>) {
    raw_connect_with(addr, path, version, None).await
}

/// [`raw_connect`] offering `extensions`.
async fn raw_connect_with(
    addr: SocketAddr,
    path: &str,
    version: &str,
    extensions: Option<&str>,
) -> (http::Response<h2::RecvStream>, h2::SendStream<Bytes>) {
    let (response, send, _) = raw_connect_recorded(addr, path, version, extensions).await;
    (response, send)
}

/// [`raw_connect_with`], keeping a copy of every byte the client reads.
async fn raw_connect_recorded(
    addr: SocketAddr,
    path: &str,
    version: &str,
    extensions: Option<&str>,
) -> (http::Response<h2::RecvStream>, h2::SendStream<Bytes>, Arc<Mutex<Vec<u8>>>) {
    let read = Arc::default();
    let tcp = Recorded { io: TcpStream::connect(addr).await.unwrap(), read: Arc::clone(&read) };
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    while !client.is_extended_connect_protocol_enabled() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}{path}"))
        .version(http::Version::HTTP_2)
        .header("sec-websocket-version", version)
        .body(())
        .unwrap();
    if let Some(offer) = extensions {
        request.headers_mut().insert("sec-websocket-extensions", offer.parse().unwrap());
    }
    request.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"));
    let (response, send) = client.send_request(request, false).unwrap();
    (response.await.unwrap(), send, read)
}

/// A transport that keeps a copy of every byte read: the HTTP/2 frames as
/// they came, which h2's stream API does not show one by one.
struct Recorded<S> {
    io: S,
    read: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        self.read.lock().unwrap().extend_from_slice(&buf.filled()[before..]);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The frames of stream `id` in `bytes` (HTTP/2 frames, after the client
/// preface if `preface`), named: `HEADERS`, `DATA (n bytes)`,
/// `DATA+END_STREAM (n bytes)`, `RST_STREAM(code)`, `WINDOW_UPDATE`.
fn stream_frames(bytes: &[u8], preface: bool, id: u32) -> Vec<String> {
    let mut rest = if preface { &bytes[24..] } else { bytes };
    let mut out = Vec::new();
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let (kind, flags) = (rest[3], rest[4]);
        let stream = u32::from_be_bytes([rest[5] & 0x7f, rest[6], rest[7], rest[8]]);
        let payload = &rest[9..9 + len];
        if stream == id {
            out.push(match kind {
                0x0 if flags & 0x1 != 0 => format!("DATA+END_STREAM ({len} bytes)"),
                0x0 => format!("DATA ({len} bytes)"),
                0x1 => "HEADERS".to_owned(),
                0x3 => format!("RST_STREAM({})", u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])),
                0x8 => "WINDOW_UPDATE".to_owned(),
                other => format!("frame type {other}"),
            });
        }
        rest = &rest[9 + len..];
    }
    out
}

/// The server's side of a clean close on the stream, seen by a raw h2
/// client: our server closes, the client answers, and the server's Close
/// is followed by `END_STREAM`, with no reset while the client has not
/// ended its side; the client's `END_STREAM` then ends the stream cleanly.
#[tokio::test]
async fn raw_client_sees_end_stream_and_no_reset_on_a_clean_close() {
    within(20, async {
        let (addr, _, mut reports) = h2_server(None).await;
        let (response, mut send, read) = raw_connect_recorded(addr, "/raw", "13", None).await;
        let id = send.stream_id().as_u32();
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("sec-websocket-accept").is_none());
        let mut body = response.into_body();
        let ask = b"/close 4000 raw bye";
        send.send_data(Bytes::from(client_frame(0x1, ask)), false).unwrap();
        let close = server_frame(0x8, &close_payload(4000, "raw bye"));
        assert_eq!(read_stream(&mut body, close.len()).await, close);
        send.send_data(Bytes::from(client_frame(0x8, &close_payload(4000, "raw bye"))), false).unwrap();
        // The server's END_STREAM, then nothing: no RST_STREAM while our
        // side is open.
        assert_eq!(stream_end(&mut body).await, Ok(()));
        assert_eq!(reset_within(&mut send, Duration::from_millis(300)).await, None);
        send.send_data(Bytes::new(), true).unwrap();
        let report = reports.recv().await.unwrap();
        assert_eq!(
            (report.closed.code, report.closed.reason.as_str(), report.closed.was_clean),
            (CloseCode::new(4000), "raw bye", true)
        );
        assert_eq!(reset_within(&mut send, Duration::from_millis(300)).await, None);
        // Frame by frame: the 200, the Close (2 + 2 + 7 bytes), END_STREAM.
        assert_eq!(
            stream_frames(&read.lock().unwrap(), false, id),
            ["HEADERS", "DATA (11 bytes)", "DATA+END_STREAM (0 bytes)"]
        );
    })
    .await;
}

/// A raw h2 client that resets its stream (`RST_STREAM(CANCEL)`, an abort
/// in RFC 8441 §5's terms) ends the server's WebSocket abnormally: 1006,
/// `was_clean` false. A wrong version is refused 400 with
/// `sec-websocket-version: 13`.
#[tokio::test]
async fn raw_client_reset_is_1006_and_a_wrong_version_is_400() {
    within(20, async {
        let (addr, _, mut reports) = h2_server(None).await;
        let (response, mut send) = raw_connect(addr, "/aborted", "13").await;
        assert_eq!(response.status(), 200);
        send.send_data(Bytes::from(client_frame(0x1, b"before the reset")), false).unwrap();
        let echo = server_frame(0x1, b"before the reset");
        assert_eq!(read_stream(&mut response.into_body(), echo.len()).await, echo);
        send.send_reset(h2::Reason::CANCEL);
        let report = reports.recv().await.unwrap();
        assert_eq!(report.messages, [Message::text("before the reset")]);
        assert_eq!((report.closed.code, report.closed.was_clean), (CloseCode::ABNORMAL, false));

        let (response, _send) = raw_connect(addr, "/old", "8").await;
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
    })
    .await;
}

/// A raw h2 server (the `h2` crate, extended CONNECT enabled) for our
/// client: hands each accepted stream to the test.
async fn raw_server() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<(http::Request<h2::RecvStream>, h2::server::SendResponse<Bytes>)>,
    Arc<Mutex<Vec<u8>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let read = Arc::default();
    let recorded = Arc::clone(&read);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tcp = Recorded { io: tcp, read: recorded };
        let mut connection = h2::server::Builder::new().enable_connect_protocol().handshake(tcp).await.unwrap();
        while let Some(Ok(stream)) = connection.accept().await {
            let _ = tx.send(stream);
        }
    });
    (addr, rx, read)
}

/// Our client's side on the stream, against a raw h2 server: the extended
/// CONNECT as RFC 8441 §5 has it; a clean close from the server (Close,
/// then `END_STREAM`) is answered with our Close and our `END_STREAM`, no
/// reset; and a server's `RST_STREAM(CANCEL)` ends a WebSocket with 1006,
/// `was_clean` false.
#[tokio::test]
async fn raw_server_sees_our_end_stream_and_its_reset_is_1006() {
    within(20, async {
        let (addr, mut streams, read) = raw_server().await;
        let h2 = Http2Connection::connect(&format!("ws://{addr}/")).await.unwrap();
        let url = format!("ws://{addr}/clean?x=1");
        let request = ClientRequest::new(&url).unwrap().protocol("chat").origin("http://example.test");
        let opening = tokio::spawn({
            let h2 = h2.clone();
            async move { h2.websocket(request, Config::default()).await.unwrap() }
        });
        let (request, mut respond) = streams.recv().await.unwrap();
        let id = respond.stream_id().as_u32();
        assert_eq!(request.method(), http::Method::CONNECT);
        assert_eq!(request.extensions().get::<h2::ext::Protocol>().map(|p| p.as_str()), Some("websocket"));
        assert_eq!(request.uri().to_string(), format!("http://{addr}/clean?x=1"));
        let headers = request.headers();
        assert_eq!(headers["sec-websocket-version"], "13");
        assert_eq!(headers["sec-websocket-protocol"], "chat");
        assert_eq!(headers["origin"], "http://example.test");
        for absent in ["sec-websocket-key", "upgrade", "connection", "host"] {
            assert!(headers.get(absent).is_none(), "{absent} in {headers:?}");
        }
        let response = http::Response::builder().status(200).header("sec-websocket-protocol", "chat").body(()).unwrap();
        let mut send = respond.send_response(response, false).unwrap();
        let mut body = request.into_body();
        let (ws, negotiated) = opening.await.unwrap();
        assert_eq!(negotiated.protocol.as_deref(), Some("chat"));

        // The server closes: Close, then, once our echo of it is in,
        // END_STREAM (RFC 6455 §7.1.1: the server ends the transport first).
        send.send_data(Bytes::from(server_frame(0x8, &close_payload(4001, "raw server bye"))), false).unwrap();
        let echo = client_frame(0x8, &close_payload(4001, "raw server bye"));
        let got = read_stream(&mut body, echo.len()).await;
        assert_eq!((got.len(), &got[..2]), (echo.len(), &echo[..2]));
        // Nothing more from our side until the server's END_STREAM: no
        // END_STREAM, no reset.
        assert!(tokio::time::timeout(Duration::from_millis(200), body.data()).await.is_err());
        assert_eq!(reset_within(&mut send, Duration::from_millis(10)).await, None);
        send.send_data(Bytes::new(), true).unwrap();
        // Then ours, and no reset.
        assert_eq!(stream_end(&mut body).await, Ok(()));
        assert_eq!(reset_within(&mut send, Duration::from_millis(300)).await, None);
        let closed = within(1, ws.closed()).await;
        assert_eq!(
            (closed.code, closed.reason.as_str(), closed.was_clean),
            (CloseCode::new(4001), "raw server bye", true)
        );
        // Frame by frame: the CONNECT, the masked Close (2 + 4 + 2 + 14
        // bytes), END_STREAM; then nothing more (WINDOW_UPDATEs aside).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let frames = stream_frames(&read.lock().unwrap(), true, id);
        let frames: Vec<&str> = frames.iter().map(String::as_str).filter(|f| *f != "WINDOW_UPDATE").collect();
        assert_eq!(frames, ["HEADERS", "DATA (22 bytes)", "DATA+END_STREAM (0 bytes)"]);

        // A second WebSocket on the connection, reset by the server.
        let opening = tokio::spawn({
            let h2 = h2.clone();
            async move {
                h2.websocket(ClientRequest::new(&format!("ws://{addr}/reset")).unwrap(), Config::default())
                    .await
                    .unwrap()
            }
        });
        let (_request, mut respond) = streams.recv().await.unwrap();
        let mut send = respond.send_response(http::Response::new(()), false).unwrap();
        let (mut ws, _) = opening.await.unwrap();
        send.send_data(Bytes::from(server_frame(0x1, b"then a reset")), false).unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("then a reset"));
        send.send_reset(h2::Reason::CANCEL);
        match ws.recv().await {
            Some(Err(Error::Failed(closed))) => {
                assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false));
            }
            other => panic!("expected the abnormal end, got {other:?}"),
        }
        assert!(ws.recv().await.is_none());
        let closed = ws.closed().await;
        assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::ABNORMAL, "", false));
    })
    .await;
}

/// What hyper itself sends when an upgraded HTTP/2 stream is dropped
/// without a shutdown (an abort: `H2Stream` drops hyper's stream as it is
/// when its send side was not ended), as `http2`'s module docs say, frame
/// by frame, the peer's side being open: `RST_STREAM(CANCEL)` (8) alone
/// from a client; `DATA+END_STREAM`, then `RST_STREAM(NO_ERROR)` (0) from a
/// server.
#[tokio::test]
async fn hyper_ends_then_resets_a_dropped_upgraded_stream() {
    within(20, async {
        // hyper as the client, a raw h2 server.
        let (addr, mut streams, read) = raw_server().await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut send_request, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(connection);
        let mut connect = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://{addr}/dropped"))
            .version(http::Version::HTTP_2)
            .header("sec-websocket-version", "13")
            .body(Empty::<Bytes>::new())
            .unwrap();
        connect.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
        // Time for the server's SETTINGS (extended CONNECT) to arrive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let dropping = tokio::spawn(async move {
            let mut response = send_request.send_request(connect).await.unwrap();
            drop(hyper::upgrade::on(&mut response).await.unwrap());
            send_request
        });
        let (request, mut respond) = streams.recv().await.unwrap();
        let id = respond.stream_id().as_u32();
        let mut send = respond.send_response(http::Response::new(()), false).unwrap();
        let _send_request = dropping.await.unwrap();
        assert_eq!(reset_within(&mut send, Duration::from_secs(2)).await, Some(h2::Reason::CANCEL));
        drop(request);
        assert_eq!(stream_frames(&read.lock().unwrap(), true, id), ["HEADERS", "RST_STREAM(8)"]);

        // hyper as the server, a raw h2 client.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = service_fn(|mut request: hyper::Request<Incoming>| async move {
                let on_upgrade = hyper::upgrade::on(&mut request);
                tokio::spawn(async move { drop(on_upgrade.await.unwrap()) });
                Ok::<_, Infallible>(hyper::Response::new(Empty::<Bytes>::new()))
            });
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder.enable_connect_protocol();
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
        let (response, mut send, read) = raw_connect_recorded(addr, "/dropped", "13", None).await;
        assert_eq!(response.status(), 200);
        let id = send.stream_id().as_u32();
        assert_eq!(reset_within(&mut send, Duration::from_secs(2)).await, Some(h2::Reason::NO_ERROR));
        assert_eq!(
            stream_frames(&read.lock().unwrap(), false, id),
            ["HEADERS", "DATA+END_STREAM (0 bytes)", "RST_STREAM(0)"]
        );
    })
    .await;
}
