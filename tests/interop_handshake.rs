//! The opening handshake against `tungstenite` 0.30 over loopback TCP:
//!
//! * our client (`Connection::client`) ↔ `tungstenite::accept_hdr`, whose
//!   callback picks a subprotocol from the offer;
//! * `tungstenite::client` ↔ our server (`Connection::server`), which picks
//!   the subprotocol from `Config::protocols`;
//!
//! then text and binary messages both ways and a closing handshake started by
//! either side with 1000 or 4000 "bye", whose code and reason both sides must
//! see. Rejections (a non-101 answer) are checked in both directions too.
//!
//! wsmachine runs in the test thread under the shared blocking [`TcpDriver`];
//! tungstenite runs a script in a second thread. Every socket has read and
//! write timeouts, so a bug fails the test instead of hanging the suite.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::net::TcpDriver;
use tungstenite::handshake::server::{ErrorResponse, Request as TRequest, Response as TResponse};
use tungstenite::http::{HeaderValue, StatusCode, Uri};
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::{ClientRequestBuilder, Error as TError, HandshakeError as THandshakeError, Message as TMessage};
use wsmachine::handshake::{Accept, ClientRequest, Rejection};
use wsmachine::{
    CloseCode, CloseFrame, Closed, Config, Connection, ConnectionError, Event, HandshakeError, Message, Negotiated,
    OsEntropy, ReadyState,
};

/// How long either side waits for the other before failing the test.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Our side over `stream`, with this file's timeouts.
fn driver(conn: Connection, stream: TcpStream) -> TcpDriver {
    TcpDriver::new(conn, stream, TIMEOUT)
}

/// A listener on a free loopback port.
fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Accepts one connection, giving up after [`TIMEOUT`].
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = std::time::Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && start.elapsed() < TIMEOUT => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("no connection to accept: {e}"),
        }
    }
}

fn with_timeouts(stream: TcpStream) -> TcpStream {
    common::net::with_timeouts(stream, TIMEOUT)
}

/// Runs our side, then joins the tungstenite thread. If either panicked,
/// the tungstenite panic is raised first: when it fails, our side usually
/// only sees the connection drop, which says less.
fn both<T, R>(theirs: JoinHandle<T>, ours: impl FnOnce() -> R) -> (R, T) {
    let ours = catch_unwind(AssertUnwindSafe(ours));
    let theirs = theirs.join();
    match (ours, theirs) {
        (Ok(r), Ok(t)) => (r, t),
        (_, Err(p)) => {
            eprintln!("the tungstenite thread panicked");
            resume_unwind(p)
        }
        (Err(p), Ok(_)) => resume_unwind(p),
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closer {
    Wsmachine,
    Tungstenite,
}

const OUR_TEXT: &str = "hello from wsmachine, ünïcödé 🦀";
const OUR_BINARY: &[u8] = &[0, 1, 2, 0xfe, 0xff];
const THEIR_TEXT: &str = "hello from tungstenite, ωμέγα";
const THEIR_BINARY: &[u8] = &[9, 8, 7, 0, 0x80];

fn echo_text(s: &str) -> String {
    format!("echo: {s}")
}

fn echo_binary(b: &[u8]) -> Vec<u8> {
    b.iter().rev().copied().collect()
}

fn tung_close(code: u16, reason: &str) -> TCloseFrame {
    TCloseFrame { code: TCloseCode::from(code), reason: reason.to_owned().into() }
}

/// What the tungstenite side saw.
#[derive(Debug, Default)]
struct Seen {
    path: String,
    host: String,
    origin: Option<String>,
    x_test: Option<String>,
    offered: Vec<String>,
    selected: Option<String>,
    messages: Vec<TMessage>,
    close: Option<Option<TCloseFrame>>,
}

/// Reads data messages into `seen`, answering each with its echo (when
/// `echo`), until `n` have arrived.
fn tung_read_data<S: Read + Write>(ws: &mut tungstenite::WebSocket<S>, seen: &mut Seen, n: usize, echo: bool) {
    while seen.messages.len() < n {
        let m = ws.read().unwrap_or_else(|e| panic!("tungstenite read: {e}; seen {seen:?}"));
        match &m {
            TMessage::Text(t) if echo => ws.send(TMessage::text(echo_text(t.as_str()))).unwrap(),
            TMessage::Binary(b) if echo => ws.send(TMessage::binary(echo_binary(b))).unwrap(),
            TMessage::Text(_) | TMessage::Binary(_) => {}
            TMessage::Ping(_) | TMessage::Pong(_) => continue,
            other => panic!("tungstenite expected data, got {other:?}; seen {seen:?}"),
        }
        seen.messages.push(m);
    }
}

/// The closing handshake on the tungstenite side: start it or answer it,
/// then read until the connection is closed. Records the Close received.
fn tung_close_handshake<S: Read + Write>(
    ws: &mut tungstenite::WebSocket<S>,
    seen: &mut Seen,
    closer: Closer,
    code: u16,
    reason: &str,
) {
    if closer == Closer::Tungstenite {
        ws.close(Some(tung_close(code, reason))).unwrap();
    }
    loop {
        match ws.read() {
            Ok(TMessage::Close(f)) => {
                assert!(seen.close.is_none(), "two Close messages");
                seen.close = Some(f);
            }
            Ok(TMessage::Ping(_) | TMessage::Pong(_)) => {}
            Ok(other) => panic!("tungstenite: unexpected {other:?} while closing"),
            Err(TError::ConnectionClosed) => break,
            Err(e) => panic!("tungstenite: closing failed: {e}; seen {seen:?}"),
        }
    }
}

/// Our side of the closing handshake, then the checks of what both saw.
fn our_close_handshake(d: &mut TcpDriver, closer: Closer, code: u16, reason: &str) {
    if closer == Closer::Wsmachine {
        d.conn.close(Some(CloseCode::new(code)), reason).unwrap();
        d.pump();
        assert!(matches!(d.conn.ready_state(), ReadyState::Closing | ReadyState::Closed));
    }
    let closed = d.run_until_closed();
    assert_eq!(
        closed,
        Closed { code: CloseCode::new(code), reason: reason.into(), was_clean: true, error: None },
        "{}",
        d.summary()
    );
    let closing: Vec<CloseFrame> = d
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Closing(f) => Some(f),
            _ => None,
        })
        .collect();
    if closer == Closer::Tungstenite {
        assert_eq!(closing, [CloseFrame { code: CloseCode::new(code), reason: reason.into() }]);
    } else {
        assert!(closing.is_empty(), "we started closing, yet got {closing:?}");
    }
    assert!(d.transport_closed);
    assert_eq!(d.conn.ready_state(), ReadyState::Closed);
    assert_eq!(*d.states.last().unwrap(), ReadyState::Closed);
}

fn check_tung_saw(seen: &Seen, code: u16, reason: &str) {
    assert_eq!(seen.close, Some(Some(tung_close(code, reason))), "tungstenite's view of the close");
}

// ---------------------------------------------------------------------------
// Our client ↔ tungstenite::accept_hdr
// ---------------------------------------------------------------------------

/// The tungstenite server: its callback records the request and picks the
/// first of its preferences the client offered.
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn tung_server(listener: TcpListener, closer: Closer, code: u16, reason: &'static str) -> JoinHandle<Seen> {
    thread::spawn(move || {
        let stream = with_timeouts(accept(&listener));
        let mut seen = Seen::default();
        let callback = |req: &TRequest, mut resp: TResponse| -> Result<TResponse, ErrorResponse> {
            seen.path = req.uri().to_string();
            let header = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            seen.host = header("host").unwrap_or_default();
            seen.origin = header("origin");
            seen.x_test = header("x-test");
            seen.offered = req
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .flat_map(|v| v.to_str().unwrap().split(','))
                .map(|p| p.trim().to_owned())
                .collect();
            let preference = ["v2.proto", "v1.proto"];
            if let Some(p) = preference.iter().find(|p| seen.offered.iter().any(|o| o == *p)) {
                resp.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
                seen.selected = Some((*p).to_owned());
            }
            Ok(resp)
        };
        let mut ws = tungstenite::accept_hdr(stream, callback).unwrap_or_else(|e| panic!("accept_hdr: {e}"));
        // Two messages of its own, then echo our two.
        ws.send(TMessage::text(THEIR_TEXT)).unwrap();
        ws.send(TMessage::binary(THEIR_BINARY.to_vec())).unwrap();
        tung_read_data(&mut ws, &mut seen, 2, true);
        tung_close_handshake(&mut ws, &mut seen, closer, code, reason);
        seen
    })
}

fn our_client_request(addr: SocketAddr) -> ClientRequest {
    ClientRequest::new(&format!("ws://{addr}/chat?room=7"))
        .unwrap()
        .origin("http://localhost")
        .protocol("v1.proto")
        .protocol("v2.proto")
        .header("X-Test", "yes")
}

fn our_client_vs_tungstenite_server(closer: Closer, code: u16, reason: &'static str) {
    let (listener, addr) = listen();
    let server = tung_server(listener, closer, code, reason);
    let ((), seen) = both(server, || {
        let conn = Connection::client(our_client_request(addr), Config::default(), OsEntropy).unwrap();
        assert_eq!(conn.ready_state(), ReadyState::Connecting);
        let mut d = driver(conn, TcpStream::connect(addr).unwrap());

        d.run_until("Open", |d| !d.events().is_empty());
        assert_eq!(d.events()[0], Event::Open(Negotiated { protocol: Some("v2.proto".into()), extensions: vec![] }));
        assert_eq!(d.conn.ready_state(), ReadyState::Open);

        d.conn.send_text(OUR_TEXT).unwrap();
        d.conn.send_binary(OUR_BINARY.to_vec()).unwrap();
        d.pump();
        d.run_until("four messages", |d| d.messages().len() == 4);
        assert_eq!(
            d.messages(),
            [
                Message::text(THEIR_TEXT),
                Message::binary(THEIR_BINARY.to_vec()),
                Message::text(echo_text(OUR_TEXT)),
                Message::binary(echo_binary(OUR_BINARY)),
            ]
        );

        our_close_handshake(&mut d, closer, code, reason);
    });
    assert_eq!(seen.path, "/chat?room=7");
    assert_eq!(seen.host, addr.to_string());
    assert_eq!(seen.origin.as_deref(), Some("http://localhost"));
    assert_eq!(seen.x_test.as_deref(), Some("yes"));
    assert_eq!(seen.offered, ["v1.proto", "v2.proto"]);
    assert_eq!(seen.selected.as_deref(), Some("v2.proto"));
    assert_eq!(seen.messages, [TMessage::text(OUR_TEXT), TMessage::binary(OUR_BINARY.to_vec())]);
    check_tung_saw(&seen, code, reason);
}

#[test]
fn our_client_closes_1000() {
    our_client_vs_tungstenite_server(Closer::Wsmachine, 1000, "");
}

#[test]
fn our_client_closes_4000_bye() {
    our_client_vs_tungstenite_server(Closer::Wsmachine, 4000, "bye");
}

#[test]
fn tungstenite_server_closes_1000() {
    our_client_vs_tungstenite_server(Closer::Tungstenite, 1000, "");
}

#[test]
fn tungstenite_server_closes_4000_bye() {
    our_client_vs_tungstenite_server(Closer::Tungstenite, 4000, "bye");
}

#[test]
fn our_client_without_subprotocols() {
    // Nothing offered: tungstenite selects nothing and we open without one.
    let (listener, addr) = listen();
    let server = tung_server(listener, Closer::Wsmachine, 1000, "");
    let ((), seen) = both(server, || {
        let req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
        let mut d =
            driver(Connection::client(req, Config::default(), OsEntropy).unwrap(), TcpStream::connect(addr).unwrap());
        d.run_until("Open", |d| !d.events().is_empty());
        assert_eq!(d.events()[0], Event::Open(Negotiated::default()));
        d.conn.send_text(OUR_TEXT).unwrap();
        d.conn.send_binary(OUR_BINARY.to_vec()).unwrap();
        d.pump();
        d.run_until("four messages", |d| d.messages().len() == 4);
        our_close_handshake(&mut d, Closer::Wsmachine, 1000, "");
    });
    assert!(seen.offered.is_empty());
    assert_eq!(seen.selected, None);
}

#[test]
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn our_client_rejected_by_tungstenite() {
    // The callback refuses with 403 and a body; tungstenite writes no
    // Content-Length, so the body runs to the end of the connection.
    let (listener, addr) = listen();
    let server = thread::spawn(move || {
        let stream = with_timeouts(accept(&listener));
        let callback = |_: &TRequest, _: TResponse| -> Result<TResponse, ErrorResponse> {
            let mut resp = ErrorResponse::new(Some("not you".to_owned()));
            *resp.status_mut() = StatusCode::FORBIDDEN;
            resp.headers_mut().insert("x-why", HeaderValue::from_static("test"));
            Err(resp)
        };
        match tungstenite::accept_hdr(stream, callback) {
            Err(THandshakeError::Failure(TError::Http(r))) => assert_eq!(r.status(), StatusCode::FORBIDDEN),
            other => panic!("tungstenite: expected its own rejection, got {:?}", other.map(|_| ())),
        }
    });
    let ((closed, events), ()) = both(server, || {
        let conn = Connection::client(our_client_request(addr), Config::default(), OsEntropy).unwrap();
        let mut d = driver(conn, TcpStream::connect(addr).unwrap());
        (d.run_until_closed(), d.events())
    });
    let Some(ConnectionError::Handshake(HandshakeError::Rejected(r))) = &closed.error else {
        panic!("expected a rejection, got {closed:?}");
    };
    assert_eq!(
        **r,
        Rejection {
            status: 403,
            reason: "Forbidden".into(),
            headers: vec![("x-why".into(), "test".into())],
            body: b"not you".to_vec(),
        }
    );
    assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false));
    assert_eq!(events.len(), 1, "only Closed: {events:?}");
}

// ---------------------------------------------------------------------------
// tungstenite::client ↔ our server
// ---------------------------------------------------------------------------

fn tung_client(addr: SocketAddr, closer: Closer, code: u16, reason: &'static str) -> JoinHandle<Seen> {
    thread::spawn(move || {
        let stream = with_timeouts(TcpStream::connect(addr).unwrap());
        let uri: Uri = format!("ws://{addr}/chat?room=7").parse().unwrap();
        let request = ClientRequestBuilder::new(uri)
            .with_sub_protocol("v1.proto")
            .with_sub_protocol("v2.proto")
            .with_header("Origin", "http://localhost")
            .with_header("X-Test", "yes");
        let (mut ws, response) = tungstenite::client(request, stream).unwrap_or_else(|e| panic!("client: {e}"));
        let mut seen = Seen {
            selected: response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned()),
            ..Seen::default()
        };
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        ws.send(TMessage::text(THEIR_TEXT)).unwrap();
        ws.send(TMessage::binary(THEIR_BINARY.to_vec())).unwrap();
        // Our server's two messages and the echoes of the two above.
        tung_read_data(&mut ws, &mut seen, 4, false);
        tung_close_handshake(&mut ws, &mut seen, closer, code, reason);
        seen
    })
}

/// Our server: waits for the request, checks it, accepts with the
/// subprotocol chosen from its config, sends two messages and echoes two.
fn our_server_open(listener: &TcpListener) -> TcpDriver {
    let stream = accept(listener);
    let config = Config::default().with_protocol("v2.proto").with_protocol("v1.proto");
    let mut d = driver(Connection::server(config), stream);
    d.run_until("the request", |d| !d.events().is_empty());
    let Event::UpgradeRequest(r) = &d.events()[0] else {
        panic!("expected UpgradeRequest; {}", d.summary());
    };
    assert_eq!(r.path(), "/chat?room=7");
    assert_eq!(r.host(), listener.local_addr().unwrap().to_string());
    assert_eq!(r.origin(), Some("http://localhost"));
    assert_eq!(r.header("x-test"), Some("yes"));
    assert_eq!(r.protocols(), ["v1.proto", "v2.proto"]);
    assert_eq!(r.key().len(), 24);
    d.conn.accept(Accept::new()).unwrap();
    d.pump();
    assert_eq!(d.events()[1], Event::Open(Negotiated { protocol: Some("v2.proto".into()), extensions: vec![] }));
    assert_eq!(d.conn.ready_state(), ReadyState::Open);
    d
}

fn tungstenite_client_vs_our_server(closer: Closer, code: u16, reason: &'static str) {
    let (listener, addr) = listen();
    let client = tung_client(addr, closer, code, reason);
    let ((), seen) = both(client, || {
        let mut d = our_server_open(&listener);
        d.conn.send_text(OUR_TEXT).unwrap();
        d.conn.send_binary(OUR_BINARY.to_vec()).unwrap();
        d.pump();
        d.run_until("two messages", |d| d.messages().len() == 2);
        let received = d.messages();
        assert_eq!(received, [Message::text(THEIR_TEXT), Message::binary(THEIR_BINARY.to_vec())]);
        d.conn.send_text(echo_text(THEIR_TEXT)).unwrap();
        d.conn.send_binary(echo_binary(THEIR_BINARY)).unwrap();
        d.pump();

        our_close_handshake(&mut d, closer, code, reason);
    });
    assert_eq!(seen.selected.as_deref(), Some("v2.proto"));
    assert_eq!(
        seen.messages,
        [
            TMessage::text(OUR_TEXT),
            TMessage::binary(OUR_BINARY.to_vec()),
            TMessage::text(echo_text(THEIR_TEXT)),
            TMessage::binary(echo_binary(THEIR_BINARY)),
        ]
    );
    check_tung_saw(&seen, code, reason);
}

#[test]
fn our_server_closes_1000() {
    tungstenite_client_vs_our_server(Closer::Wsmachine, 1000, "");
}

#[test]
fn our_server_closes_4000_bye() {
    tungstenite_client_vs_our_server(Closer::Wsmachine, 4000, "bye");
}

#[test]
fn tungstenite_client_closes_1000() {
    tungstenite_client_vs_our_server(Closer::Tungstenite, 1000, "");
}

#[test]
fn tungstenite_client_closes_4000_bye() {
    tungstenite_client_vs_our_server(Closer::Tungstenite, 4000, "bye");
}

#[test]
fn tungstenite_client_rejected_by_our_server() {
    let (listener, addr) = listen();
    let client = thread::spawn(move || {
        let stream = with_timeouts(TcpStream::connect(addr).unwrap());
        let request = ClientRequestBuilder::new(format!("ws://{addr}/private").parse().unwrap());
        match tungstenite::client(request, stream) {
            Err(THandshakeError::Failure(TError::Http(r))) => {
                let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
                (r.status(), header("x-why"), header("content-length"), r.body().clone())
            }
            other => panic!("tungstenite: expected a rejection, got {:?}", other.map(|_| ())),
        }
    });
    let ((), (status, why, length, body)) = both(client, || {
        let mut d = driver(Connection::server(Config::default()), accept(&listener));
        d.run_until("the request", |d| !d.events().is_empty());
        assert!(matches!(&d.events()[0], Event::UpgradeRequest(r) if r.path() == "/private"));
        d.conn.reject(403, &[("X-Why", "test")], b"go away").unwrap();
        d.pump();
        assert!(d.transport_closed);
        assert_eq!(
            d.events().last(),
            Some(&Event::Closed(Closed {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
                was_clean: false,
                error: Some(ConnectionError::Rejected { status: 403 })
            }))
        );
    });
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(why.as_deref(), Some("test"));
    assert_eq!(length.as_deref(), Some("7"));
    // tungstenite reads the head only; the body may or may not be kept.
    if let Some(body) = body {
        assert!(b"go away".starts_with(&body), "{body:?}");
    }
}
