//! The opening handshake (RFC 6455 §4) through the public `Connection` API:
//! the client's request bytes, the client's checks of the server's response,
//! the server's checks of the client's request and its answers, inputs split
//! at every byte, frames pipelined behind a head, `close()`/`send()` while
//! CONNECTING, and a whole in-memory session between `Connection::client`
//! and `Connection::server`.
mod common;

use common::{
    FixedMask, Out, Pair, RFC_KEY, RFC_REQUEST, cframe, close_body, closed_out, drain, echoed_close, merge_into, op,
    sframe,
};
use wsmachine::handshake::{Accept, ClientRequest, ExtensionOffer, Rejection, UsageError, accept_key};
use wsmachine::{
    CloseCode, CloseFrame, Closed, Config, Connection, ConnectionError, Entropy, Event, HandshakeError, Message,
    Negotiated, Output, ReadyState, Role, SendError,
};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The 16 nonce bytes a client built with `FixedMask(RFC_KEY)` draws: the
/// 4-byte pattern four times.
const NONCE: [u8; 16] =
    [0x37, 0xfa, 0x21, 0x3d, 0x37, 0xfa, 0x21, 0x3d, 0x37, 0xfa, 0x21, 0x3d, 0x37, 0xfa, 0x21, 0x3d];
/// base64(NONCE), computed independently (Python's `base64`).
const KEY: &str = "N/ohPTf6IT03+iE9N/ohPQ==";
/// base64(SHA-1(KEY ++ GUID)), computed independently (Python's `hashlib`).
const ACCEPT: &str = "7Ubo2JRe6fIuZAdGHq7kDA4XEQ0=";

/// The §1.2 / §1.3 sample key and its accept value.
const RFC_KEY_B64: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The plain 101 a server built here writes for [`RFC_REQUEST`].
const RFC_101: &str = "HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n";

/// Standard base64 with padding (RFC 4648 §4), written here so the expected
/// keys do not come from the code under test.
fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Entropy that hands out `nonce` for the 16-byte handshake nonce, then the
/// fixed RFC masking key for every frame.
struct NonceThenMask {
    nonce: Option<[u8; 16]>,
}

impl Entropy for NonceThenMask {
    fn fill(&mut self, dest: &mut [u8]) {
        match self.nonce.take() {
            Some(n) if dest.len() == 16 => dest.copy_from_slice(&n),
            other => {
                self.nonce = other;
                FixedMask(RFC_KEY).fill(dest);
            }
        }
    }
}

fn url(u: &str) -> ClientRequest {
    ClientRequest::new(u).unwrap_or_else(|e| panic!("{u}: {e:?}"))
}

fn handshake_err(e: HandshakeError) -> Option<ConnectionError> {
    Some(ConnectionError::Handshake(e))
}

/// The two last outputs of a failed handshake: `CloseTransport`, then
/// `Closed { 1006, was_clean: false, error: Handshake(e) }`.
fn failed(e: HandshakeError) -> Vec<Out> {
    vec![Out::CloseTransport, closed_out(1006, "", false, handshake_err(e))]
}

fn wire_out(s: impl AsRef<[u8]>) -> Out {
    Out::Wire(s.as_ref().to_vec())
}

fn show(outs: &[Out]) -> String {
    outs.iter()
        .map(|o| match o {
            Out::Wire(w) => format!("Wire({:?})", String::from_utf8_lossy(w)),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

#[track_caller]
fn assert_outs(got: &[Out], want: &[Out]) {
    assert!(got == want, "outputs differ\n got:\n  {}\n want:\n  {}", show(got), show(want));
}

// ----- client -----

/// A client for `req` whose request has been taken (one `Transmit`).
fn client_with(req: ClientRequest, config: Config) -> (Connection, Vec<u8>) {
    let mut c = Connection::client(req, config, FixedMask(RFC_KEY)).expect("valid request");
    assert_eq!(c.ready_state(), ReadyState::Connecting);
    assert_eq!(c.role(), Role::Client);
    let outs = drain(&mut c);
    let [Out::Wire(request)] = outs.as_slice() else {
        panic!("expected the request alone, got {outs:?}");
    };
    (c, request.clone())
}

fn new_client() -> Connection {
    client_with(url("ws://example.com/chat"), Config::default()).0
}

/// The outputs of a client for `req` fed `response` whole.
fn client_fed(req: ClientRequest, config: Config, response: &[u8]) -> (Connection, Vec<Out>) {
    let (mut c, _) = client_with(req, config);
    c.handle_bytes(response);
    let outs = drain(&mut c);
    (c, outs)
}

/// A 101 for the [`KEY`] with extra header lines (each ending in CRLF).
fn ok_101(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
    )
}

fn open_event(protocol: Option<&str>) -> Out {
    Out::Event(Event::Open(Negotiated { protocol: protocol.map(String::from), extensions: vec![] }))
}

fn rejected(status: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> HandshakeError {
    HandshakeError::Rejected(Box::new(Rejection {
        status,
        reason: reason.into(),
        headers: headers.iter().map(|(n, v)| (String::from(*n), String::from(*v))).collect(),
        body: body.to_vec(),
    }))
}

/// Feeds a response to a fresh `ws://example.com/chat` client and checks
/// that it fails with `e`, closing the transport.
#[track_caller]
fn assert_client_fails(req: ClientRequest, config: Config, response: &str, e: HandshakeError) {
    let (c, outs) = client_fed(req, config, response.as_bytes());
    assert_outs(&outs, &failed(e));
    assert_eq!(c.ready_state(), ReadyState::Closed);
}

/// [`assert_client_fails`] with the default config, for the valid 101
/// ([`ok_101`]) with one more header line, `header` (without its CRLF).
#[track_caller]
fn assert_101_fails(req: ClientRequest, header: &str, e: HandshakeError) {
    assert_client_fails(req, Config::default(), &ok_101(&format!("{header}\r\n")), e);
}

// ----- server -----

/// A valid upgrade request for `/` with [`RFC_KEY_B64`], plus `extra`
/// header lines.
fn upgrade_request(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {RFC_KEY_B64}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn server_fed(config: Config, request: &[u8]) -> (Connection, Vec<Out>) {
    let mut s = Connection::server(config);
    assert_eq!(s.ready_state(), ReadyState::Connecting);
    assert_eq!(s.role(), Role::Server);
    assert_outs(&drain(&mut s), &[]);
    s.handle_bytes(request);
    let outs = drain(&mut s);
    (s, outs)
}

/// The request of a lone `UpgradeRequest` output.
#[track_caller]
fn upgrade_of(outs: &[Out]) -> wsmachine::handshake::Request {
    match outs {
        [Out::Event(Event::UpgradeRequest(r))] => (**r).clone(),
        _ => panic!("expected one UpgradeRequest, got\n  {}", show(outs)),
    }
}

/// A server error response as `write_error_response` documents it:
/// status line, `pre` headers, `Content-Type: text/plain`, `Content-Length`,
/// `Connection`, then the fixed body.
fn error_response(status_line: &str, pre: &[(&str, &str)], body: &str, connection: &str) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status_line}\r\n");
    for (n, v) in pre {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    s.push_str(&format!("Content-Length: {}\r\nConnection: {connection}\r\n\r\n{body}", body.len()));
    s.into_bytes()
}

fn bad_request(body: &str) -> Vec<u8> {
    error_response("400 Bad Request", &[], body, "close")
}

// ---------------------------------------------------------------------------
// §1.3: the accept key
// ---------------------------------------------------------------------------

#[test]
fn accept_key_rfc_1_3_vector() {
    // RFC 6455 §1.3 (L410–L420).
    assert_eq!(accept_key(RFC_KEY_B64.as_bytes()), RFC_ACCEPT);
    assert_eq!(wsmachine::handshake::GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    // The fixture key of this file, cross-checked with an independent SHA-1.
    assert_eq!(b64(&NONCE), KEY);
    assert_eq!(accept_key(KEY.as_bytes()), ACCEPT);
    assert_eq!(b64(b"the sample nonce"), RFC_KEY_B64);
    // §4.1 item 7's example nonce bytes 0x01..0x10.
    let nonce: Vec<u8> = (1..=16).collect();
    assert_eq!(b64(&nonce), "AQIDBAUGBwgJCgsMDQ4PEA==");
    assert_eq!(wsmachine::handshake::key_from_nonce(nonce.try_into().unwrap()), "AQIDBAUGBwgJCgsMDQ4PEA==");
}

// ---------------------------------------------------------------------------
// §4.1: the client's request, byte for byte
// ---------------------------------------------------------------------------

fn request_bytes(req: ClientRequest) -> String {
    String::from_utf8(client_with(req, Config::default()).1).unwrap()
}

#[test]
fn client_request_ws_path() {
    assert_eq!(
        request_bytes(url("ws://example.com/chat")),
        format!(
            "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    );
}

#[test]
fn client_request_explicit_port_and_query() {
    assert_eq!(
        request_bytes(url("ws://example.com:8080/a?b=c")),
        format!(
            "GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    );
}

#[test]
fn client_request_wss_default_port_omitted_from_host() {
    let want = format!(
        "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let req = url("wss://example.com/");
    assert!(req.is_secure());
    assert_eq!(req.port(), 443);
    assert_eq!(request_bytes(req), want);
    // The default port written out is still the default: omitted.
    assert_eq!(request_bytes(url("wss://example.com:443/")), want);
    // No path at all: `/`.
    assert_eq!(request_bytes(url("wss://example.com")), want);
    // Port 80 is not the default of wss: kept.
    assert!(request_bytes(url("wss://example.com:80/")).contains("\r\nHost: example.com:80\r\n"));
    // And 443 is not the default of ws, whose own default is omitted.
    assert!(request_bytes(url("ws://example.com:443/")).contains("\r\nHost: example.com:443\r\n"));
    assert!(request_bytes(url("ws://example.com:80/")).contains("\r\nHost: example.com\r\n"));
}

#[test]
fn client_request_ipv6_host() {
    let req = url("ws://[::1]:9001/");
    assert_eq!(req.host(), "::1");
    assert_eq!(req.port(), 9001);
    assert_eq!(
        request_bytes(req),
        format!(
            "GET / HTTP/1.1\r\nHost: [::1]:9001\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    );
    assert!(request_bytes(url("ws://[::1]/")).contains("\r\nHost: [::1]\r\n"));
}

#[test]
fn client_request_origin_protocols_extensions_and_extra_headers() {
    let req = url("ws://Example.COM/chat")
        .origin("http://example.com")
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None))
        .extension(ExtensionOffer::new("x-foo").param("a", Some("1")))
        .header("Cookie", "session=abc")
        .header("Authorization", "Bearer t0k3n");
    assert_eq!(
        request_bytes(req),
        format!(
            "GET /chat HTTP/1.1\r\n\
             Host: example.com\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo; a=1\r\n\
             Cookie: session=abc\r\n\
             Authorization: Bearer t0k3n\r\n\
             \r\n"
        )
    );
}

#[test]
fn client_request_with_the_rfc_nonce_is_the_rfc_1_2_request() {
    // With the nonce "the sample nonce" the request is §1.2's, header for
    // header and in the same order.
    let req = url("ws://server.example.com/chat").origin("http://example.com").protocol("chat").protocol("superchat");
    let mut c =
        Connection::client(req, Config::default(), NonceThenMask { nonce: Some(*b"the sample nonce") }).unwrap();
    assert_outs(&drain(&mut c), &[wire_out(RFC_REQUEST)]);
    // §1.2's response (L270–L274) opens it with the subprotocol.
    c.handle_bytes(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
    );
    assert_outs(&drain(&mut c), &[open_event(Some("chat"))]);
    assert_eq!(c.ready_state(), ReadyState::Open);
}

#[test]
fn client_refuses_invalid_requests_without_queueing() {
    let cases: Vec<(ClientRequest, UsageError)> = vec![
        (url("ws://h/").header("Sec-WebSocket-Key", "x"), UsageError::ReservedHeader("Sec-WebSocket-Key".into())),
        (url("ws://h/").header("host", "evil"), UsageError::ReservedHeader("host".into())),
        (url("ws://h/").header("X-Inject", "a\r\nHost: evil"), UsageError::InvalidHeader("X-Inject".into())),
        (url("ws://h/").header("Bad Name", "v"), UsageError::InvalidHeader("Bad Name".into())),
        (url("ws://h/").protocol("a b"), UsageError::InvalidProtocol("a b".into())),
        (url("ws://h/").protocol("chat").protocol("chat"), UsageError::InvalidProtocol("chat".into())),
        (url("ws://h/").origin("http://x\r\n"), UsageError::InvalidHeader("Origin".into())),
        (url("ws://h/").extension(ExtensionOffer::new("a b")), UsageError::InvalidExtension("a b".into())),
    ];
    for (req, e) in cases {
        assert_eq!(Connection::client(req, Config::default(), FixedMask(RFC_KEY)).err(), Some(e));
    }
    for bad in ["http://h/", "ws://h/#f", "ws://u@h/", "ws://h:0/", "ws://[::1/", "ws:/h", "ws://h/a b"] {
        assert!(matches!(ClientRequest::new(bad), Err(UsageError::InvalidUrl(_))), "{bad}");
    }
}

// ---------------------------------------------------------------------------
// §4.1: the client reads the server's response
// ---------------------------------------------------------------------------

#[test]
fn client_opens_on_101() {
    let (c, outs) = client_fed(url("ws://example.com/chat"), Config::default(), ok_101("").as_bytes());
    assert_outs(&outs, &[open_event(None)]);
    assert_eq!(c.ready_state(), ReadyState::Open);
}

#[test]
fn client_opens_with_the_selected_subprotocol() {
    let req = url("ws://example.com/chat").protocol("chat").protocol("superchat");
    let (c, outs) = client_fed(req, Config::default(), ok_101("Sec-WebSocket-Protocol: superchat\r\n").as_bytes());
    assert_outs(&outs, &[open_event(Some("superchat"))]);
    assert_eq!(c.ready_state(), ReadyState::Open);
}

#[test]
fn client_accepts_a_101_with_liberal_but_valid_headers() {
    // Header names and the Upgrade/Connection tokens are case-insensitive,
    // Connection is a list, Sec-WebSocket-Accept may have surrounding OWS,
    // the reason phrase is free, other headers are allowed.
    let resp = format!(
        "HTTP/1.1 101 Web Socket Protocol Handshake\r\nSet-Cookie: a=b\r\nupgrade: WebSocket\r\n\
         CONNECTION: keep-alive, UPGRADE\r\nsec-websocket-accept:   {ACCEPT}  \r\n\r\n"
    );
    let (c, outs) = client_fed(url("ws://example.com/chat"), Config::default(), resp.as_bytes());
    assert_outs(&outs, &[open_event(None)]);
    assert_eq!(c.ready_state(), ReadyState::Open);
}

#[test]
fn client_rejected_with_content_length_body() {
    let (mut c, _) = client_with(url("ws://example.com/chat"), Config::default());
    // Head and part of the body: nothing yet.
    c.handle_bytes(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot ");
    assert_outs(&drain(&mut c), &[]);
    assert_eq!(c.ready_state(), ReadyState::Connecting);
    c.handle_bytes(b"here");
    assert_outs(&drain(&mut c), &[]);
    c.handle_bytes(b"!");
    let e = rejected(403, "Forbidden", &[("Content-Type", "text/plain"), ("Content-Length", "9")], b"not here!");
    assert_outs(&drain(&mut c), &failed(e.clone()));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert_eq!(e.status(), None);
}

#[test]
fn client_rejected_with_chunked_body() {
    let resp = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"ws\"\r\n\
                Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let e = rejected(
        401,
        "Unauthorized",
        &[("WWW-Authenticate", "Basic realm=\"ws\""), ("Transfer-Encoding", "chunked")],
        b"hello, world",
    );
    assert_client_fails(url("ws://example.com/chat"), Config::default(), resp, e);
}

#[test]
fn client_rejected_with_body_until_eof() {
    let (mut c, _) = client_with(url("ws://example.com/chat"), Config::default());
    c.handle_bytes(b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\r\nmoved ");
    assert_outs(&drain(&mut c), &[]);
    c.handle_bytes(b"away");
    assert_outs(&drain(&mut c), &[]);
    assert_eq!(c.ready_state(), ReadyState::Connecting);
    c.handle_eof();
    let e = rejected(302, "Found", &[("Location", "ws://elsewhere/")], b"moved away");
    assert_outs(&drain(&mut c), &failed(e));
    // EOF again: nothing more.
    c.handle_eof();
    assert_outs(&drain(&mut c), &[]);
}

#[test]
fn client_rejected_without_body() {
    // 204 and 304 have no body; nor does a Content-Length: 0. An empty
    // reason phrase is kept empty.
    let cases = [
        ("HTTP/1.1 204 No Content\r\n\r\n", rejected(204, "No Content", &[], b"")),
        ("HTTP/1.1 304 \r\nETag: x\r\n\r\n", rejected(304, "", &[("ETag", "x")], b"")),
        (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            rejected(503, "Service Unavailable", &[("Content-Length", "0")], b""),
        ),
        // Any status other than 101, whatever the version (handled per HTTP).
        ("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", rejected(200, "OK", &[("Content-Length", "2")], b"hi")),
    ];
    for (resp, e) in cases {
        assert_client_fails(url("ws://example.com/chat"), Config::default(), resp, e);
    }
}

#[test]
fn client_fails_on_http_1_0_101() {
    let resp = format!(
        "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
    );
    assert_client_fails(url("ws://example.com/chat"), Config::default(), &resp, HandshakeError::HttpVersion);
}

#[test]
fn client_fails_on_missing_or_wrong_upgrade() {
    for upgrade in ["", "Upgrade: h2c\r\n", "Upgrade: websocket2\r\n", "Upgrade: \r\n"] {
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\n{upgrade}Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_client_fails(url("ws://example.com/chat"), Config::default(), &resp, HandshakeError::MissingUpgrade);
    }
}

#[test]
fn client_fails_on_missing_or_wrong_connection() {
    for connection in ["", "Connection: keep-alive\r\n", "Connection: Upgraded\r\n"] {
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n{connection}Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_client_fails(
            url("ws://example.com/chat"),
            Config::default(),
            &resp,
            HandshakeError::MissingConnectionUpgrade,
        );
    }
}

#[test]
fn client_fails_on_wrong_missing_or_duplicated_accept() {
    let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    let cases = [
        // Wrong: the §1.3 value is for another key.
        format!("{head}Sec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"),
        // Wrong: the key itself echoed back.
        format!("{head}Sec-WebSocket-Accept: {KEY}\r\n\r\n"),
        // Wrong case (base64 is case-sensitive).
        format!("{head}Sec-WebSocket-Accept: {}\r\n\r\n", ACCEPT.to_ascii_lowercase()),
        // Missing.
        format!("{head}\r\n"),
        // Empty.
        format!("{head}Sec-WebSocket-Accept: \r\n\r\n"),
        // Duplicated, even with the right value twice.
        format!("{head}Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"),
        // Right and wrong.
        format!("{head}Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"),
    ];
    for resp in cases {
        assert_client_fails(url("ws://example.com/chat"), Config::default(), &resp, HandshakeError::InvalidAccept);
    }
}

#[test]
fn client_fails_on_unoffered_subprotocol() {
    let chat = || url("ws://example.com/chat");
    // None offered, one selected.
    assert_101_fails(chat(), "Sec-WebSocket-Protocol: chat", HandshakeError::UnofferedProtocol("chat".into()));
    // Another than those offered; compared exactly (case-sensitive).
    for (selected, named) in [("superchat", "superchat"), ("Chat", "Chat")] {
        let header = format!("Sec-WebSocket-Protocol: {selected}");
        assert_101_fails(chat().protocol("chat"), &header, HandshakeError::UnofferedProtocol(named.into()));
    }
    // Two selected: a server selects one (§4.2.2).
    let both = "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat";
    let e = HandshakeError::UnofferedProtocol("chat, superchat".into());
    assert_101_fails(chat().protocol("chat").protocol("superchat"), both, e);
}

#[test]
fn client_fails_on_unoffered_extension() {
    let chat = || url("ws://example.com/chat");
    let header = "Sec-WebSocket-Extensions: permessage-deflate";
    assert_101_fails(chat(), header, HandshakeError::UnofferedExtension("permessage-deflate".into()));
    let foo = chat().extension(ExtensionOffer::new("x-foo"));
    assert_101_fails(foo, "Sec-WebSocket-Extensions: x-bar", HandshakeError::UnofferedExtension("x-bar".into()));
}

#[test]
fn client_fails_on_an_offered_extension_it_cannot_run() {
    // The crate implements no extension yet: a server that accepts the
    // offer leaves the client unable to run it (§9.1).
    let offer = url("ws://example.com/chat").extension(ExtensionOffer::new("permessage-deflate"));
    let header = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover";
    assert_101_fails(offer, header, HandshakeError::UnsupportedExtension("permessage-deflate".into()));
}

#[test]
fn client_fails_on_an_invalid_extensions_header() {
    for value in [";", "permessage-deflate; =1", "a, b c", "x; p=\"a b\""] {
        let offer = url("ws://example.com/chat").extension(ExtensionOffer::new("a"));
        let header = format!("Sec-WebSocket-Extensions: {value}");
        assert_101_fails(offer, &header, HandshakeError::InvalidExtensionHeader);
    }
}

#[test]
fn client_fails_on_malformed_responses() {
    let cases: [(&str, HandshakeError); 5] = [
        ("HTTP/1.1 abc Switching\r\n\r\n", HandshakeError::Malformed("invalid status line")),
        ("SSH-2.0-OpenSSH_9.6\r\n\r\n", HandshakeError::Malformed("invalid HTTP version")),
        ("HTTP/1.1 101 Switching Protocols\r\nBad Name: x\r\n\r\n", HandshakeError::Malformed("invalid header name")),
        ("HTTP/1.1 101 Switching Protocols\r\nX: \x01\r\n\r\n", HandshakeError::Malformed("invalid header value")),
        ("HTTP/2.0 101 Switching Protocols\r\n\r\n", HandshakeError::HttpVersion),
    ];
    for (resp, e) in cases {
        assert_client_fails(url("ws://example.com/chat"), Config::default(), resp, e);
    }
    // A value that is not UTF-8.
    let (_, outs) = client_fed(
        url("ws://example.com/chat"),
        Config::default(),
        b"HTTP/1.1 101 Switching Protocols\r\nX: \xff\xfe\r\n\r\n",
    );
    assert_outs(&outs, &failed(HandshakeError::Malformed("header value is not UTF-8")));
    // Conflicting Content-Length in a rejection.
    assert_client_fails(
        url("ws://example.com/chat"),
        Config::default(),
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        HandshakeError::Malformed("conflicting Content-Length"),
    );
    // A bad chunk.
    assert_client_fails(
        url("ws://example.com/chat"),
        Config::default(),
        "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        HandshakeError::Malformed("invalid chunk size"),
    );
}

#[test]
fn client_fails_on_head_too_large() {
    let config = Config::default().with_max_head_size(200);
    // A 101 that grows past 128 bytes without ending.
    let resp = ok_101(&format!("X-Padding: {}\r\n", "p".repeat(150)));
    assert!(resp.len() > 200);
    assert_client_fails(url("ws://example.com/chat"), config.clone(), &resp, HandshakeError::HeadTooLarge);
    // Exactly at the limit: accepted.
    let base = ok_101("X-P: \r\n").len();
    let resp = ok_101(&format!("X-P: {}\r\n", "p".repeat(200 - base)));
    assert_eq!(resp.len(), 200);
    let (_, outs) = client_fed(url("ws://example.com/chat"), config.clone(), resp.as_bytes());
    assert_outs(&outs, &[open_event(None)]);
    // A rejection body above the limit.
    assert_client_fails(
        url("ws://example.com/chat"),
        config,
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 201\r\n\r\n",
        HandshakeError::HeadTooLarge,
    );
}

#[test]
fn client_fails_on_too_many_headers() {
    let config = Config::default().with_max_headers(3);
    // Exactly three: fine.
    let (_, outs) = client_fed(url("ws://example.com/chat"), config.clone(), ok_101("").as_bytes());
    assert_outs(&outs, &[open_event(None)]);
    assert_client_fails(url("ws://example.com/chat"), config, &ok_101("X-4: 4\r\n"), HandshakeError::TooManyHeaders);
}

#[test]
fn client_fails_on_truncated_responses() {
    let full = ok_101("");
    for cut in [0, 1, 12, full.len() / 2, full.len() - 1] {
        let (mut c, _) = client_with(url("ws://example.com/chat"), Config::default());
        c.handle_bytes(&full.as_bytes()[..cut]);
        assert_outs(&drain(&mut c), &[]);
        c.handle_eof();
        assert_outs(&drain(&mut c), &failed(HandshakeError::Truncated));
        assert_eq!(c.ready_state(), ReadyState::Closed);
    }
    // A rejection whose body is cut short: also incomplete (RFC 7230 §3.3.3).
    for resp in [
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc",
        "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ] {
        let (mut c, _) = client_with(url("ws://example.com/chat"), Config::default());
        c.handle_bytes(resp.as_bytes());
        assert_outs(&drain(&mut c), &[]);
        c.handle_eof();
        assert_outs(&drain(&mut c), &failed(HandshakeError::Truncated));
    }
}

#[test]
fn client_skips_interim_1xx_responses() {
    // RFC 6455 §4.1: a status other than 101 is handled per HTTP; per HTTP
    // a 1xx other than 101 is interim, not the answer.
    let mut input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n".to_vec();
    input.extend(ok_101("").as_bytes());
    let (c, outs) = client_fed(url("ws://example.com/chat"), Config::default(), &input);
    assert_outs(&outs, &[open_event(None)]);
    assert_eq!(c.ready_state(), ReadyState::Open);
}

#[test]
fn client_ignores_input_after_a_failed_handshake() {
    let (mut c, outs) = client_fed(url("ws://example.com/chat"), Config::default(), b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(outs.len(), 2);
    c.handle_bytes(ok_101("").as_bytes());
    c.handle_bytes(&sframe(true, op::TEXT, b"late"));
    c.handle_eof();
    assert_outs(&drain(&mut c), &[]);
    assert_eq!(c.ready_state(), ReadyState::Closed);
}

// ---------------------------------------------------------------------------
// §4.2: the server reads requests
// ---------------------------------------------------------------------------

#[test]
fn server_reports_the_rfc_1_2_request() {
    let (s, outs) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    let r = upgrade_of(&outs);
    assert_eq!(r.method(), "GET");
    assert_eq!(r.path(), "/chat");
    assert_eq!(r.version(), 1);
    assert_eq!(r.host(), "server.example.com");
    assert_eq!(r.origin(), Some("http://example.com"));
    assert_eq!(r.key(), RFC_KEY_B64);
    assert_eq!(r.protocols(), ["chat", "superchat"]);
    assert!(r.extensions().is_empty());
    assert_eq!(r.header("sec-websocket-version"), Some("13"));
    assert_eq!(r.header("UPGRADE"), Some("websocket"));
    assert_eq!(r.header("X-Missing"), None);
    let names: Vec<&str> = r.headers().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Origin",
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Version"
        ]
    );
    assert_eq!(s.ready_state(), ReadyState::Connecting);
}

#[test]
fn server_request_lists_and_extensions() {
    // Repeated list headers are one list; OWS and empty elements are
    // dropped; extensions keep their parameters unquoted.
    let req = upgrade_request(
        "Origin: https://a.example\r\nSec-WebSocket-Protocol: chat ,\t superchat\r\n\
         Sec-WebSocket-Protocol: v2.mqtt\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, \
         x-foo; a=1; b=\"two\"\r\nSec-WebSocket-Extensions: x-bar\r\nCookie: c=1\r\n",
    );
    let (_, outs) = server_fed(Config::default(), req.as_bytes());
    let r = upgrade_of(&outs);
    assert_eq!(r.origin(), Some("https://a.example"));
    assert_eq!(r.protocols(), ["chat", "superchat", "v2.mqtt"]);
    assert_eq!(
        r.extensions(),
        [
            ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None),
            ExtensionOffer::new("x-foo").param("a", Some("1")).param("b", Some("two")),
            ExtensionOffer::new("x-bar"),
        ]
    );
    assert_eq!(r.header("cookie"), Some("c=1"));
    assert_eq!(r.path(), "/");
    assert_eq!(r.host(), "example.com");
}

#[test]
fn server_accepts_with_exact_101() {
    let (mut s, outs) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    upgrade_of(&outs);
    s.accept(Accept::new()).unwrap();
    assert_eq!(s.ready_state(), ReadyState::Open);
    assert_outs(&drain(&mut s), &[wire_out(RFC_101), open_event(None)]);
}

#[test]
fn server_accepts_with_a_subprotocol_and_extra_headers() {
    let (mut s, _) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    s.accept(Accept::new().protocol("chat").header("Set-Cookie", "id=1")).unwrap();
    assert_outs(
        &drain(&mut s),
        &[
            wire_out(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\
                 Set-Cookie: id=1\r\n\r\n",
            ),
            open_event(Some("chat")),
        ],
    );
}

#[test]
fn server_chooses_the_subprotocol_from_its_config() {
    // The server's order of preference wins over the client's.
    let config = Config::default().with_protocol("mqtt").with_protocol("superchat").with_protocol("chat");
    let (mut s, _) = server_fed(config.clone(), RFC_REQUEST.as_bytes());
    s.accept(Accept::new()).unwrap();
    let outs = drain(&mut s);
    assert!(String::from_utf8_lossy(&common::wire(&outs)).contains("\r\nSec-WebSocket-Protocol: superchat\r\n"));
    assert_eq!(outs.last(), Some(&open_event(Some("superchat"))));

    // An explicit choice overrides the config.
    let (mut s, _) = server_fed(config, RFC_REQUEST.as_bytes());
    s.accept(Accept::new().protocol("chat")).unwrap();
    assert_eq!(drain(&mut s).last(), Some(&open_event(Some("chat"))));

    // None of the configured ones offered: no subprotocol.
    let (mut s, _) = server_fed(Config::default().with_protocol("mqtt"), RFC_REQUEST.as_bytes());
    s.accept(Accept::new()).unwrap();
    assert_outs(&drain(&mut s), &[wire_out(RFC_101), open_event(None)]);

    // Nothing offered: none either.
    let (mut s, _) = server_fed(Config::default().with_protocol("chat"), upgrade_request("").as_bytes());
    s.accept(Accept::new()).unwrap();
    assert_eq!(drain(&mut s).last(), Some(&open_event(None)));
}

#[test]
fn server_declines_every_extension_offer() {
    // No extension is implemented: the offer is declined by omission.
    let req = upgrade_request("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    let (mut s, _) = server_fed(Config::default(), req.as_bytes());
    s.accept(Accept::new()).unwrap();
    let outs = drain(&mut s);
    assert_outs(&outs, &[wire_out(RFC_101), open_event(None)]);
}

#[test]
fn server_accept_errors_change_nothing() {
    let (mut s, _) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    let bad: Vec<(Accept, UsageError)> = vec![
        (Accept::new().protocol("mqtt"), UsageError::UnofferedProtocol("mqtt".into())),
        (Accept::new().protocol("Chat"), UsageError::UnofferedProtocol("Chat".into())),
        (Accept::new().header("Sec-WebSocket-Accept", "x"), UsageError::ReservedHeader("Sec-WebSocket-Accept".into())),
        (Accept::new().header("connection", "close"), UsageError::ReservedHeader("connection".into())),
        (Accept::new().header("X-A", "1\r\nX-B: 2"), UsageError::InvalidHeader("X-A".into())),
    ];
    for (a, e) in bad {
        assert_eq!(s.accept(a), Err(e));
        assert_outs(&drain(&mut s), &[]);
        assert_eq!(s.ready_state(), ReadyState::Connecting);
    }
    // The request is still pending: a valid answer works.
    s.accept(Accept::new()).unwrap();
    assert_outs(&drain(&mut s), &[wire_out(RFC_101), open_event(None)]);
}

#[test]
fn server_rejects_with_exact_response() {
    let (mut s, _) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    s.reject(403, &[("X-Why", "no")], b"go away").unwrap();
    // CLOSING until `Closed` is polled (before this changed: CLOSED at once);
    // the report says the application rejected (before: no error, as if the
    // peer had vanished).
    assert_eq!(s.ready_state(), ReadyState::Closing);
    assert_outs(
        &drain(&mut s),
        &[
            wire_out("HTTP/1.1 403 Forbidden\r\nX-Why: no\r\nContent-Length: 7\r\nConnection: close\r\n\r\ngo away"),
            Out::CloseTransport,
            rejected_out(403),
        ],
    );
}

#[test]
fn server_reject_errors_change_nothing() {
    let (mut s, _) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    type Case<'a> = (u16, &'a [(&'a str, &'a str)], UsageError);
    let bad: [Case<'_>; 6] = [
        (101, &[], UsageError::InvalidStatus(101)),
        (100, &[], UsageError::InvalidStatus(100)),
        (199, &[], UsageError::InvalidStatus(199)),
        (1000, &[], UsageError::InvalidStatus(1000)),
        (403, &[("Content-Length", "1")], UsageError::ReservedHeader("Content-Length".into())),
        (403, &[("X", "a\nb")], UsageError::InvalidHeader("X".into())),
    ];
    for (status, headers, e) in bad {
        assert_eq!(s.reject(status, headers, b""), Err(e));
        assert_outs(&drain(&mut s), &[]);
        assert_eq!(s.ready_state(), ReadyState::Connecting);
    }
    // Statuses without a body get no Content-Length.
    s.reject(204, &[], b"ignored").unwrap();
    assert_outs(
        &drain(&mut s),
        &[wire_out("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"), Out::CloseTransport, rejected_out(204)],
    );
}

#[test]
fn server_reports_plain_http_requests() {
    let req = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n";
    let (mut s, outs) = server_fed(Config::default(), req.as_bytes());
    let [Out::Event(Event::HttpRequest(r))] = outs.as_slice() else {
        panic!("expected HttpRequest, got {}", show(&outs));
    };
    assert_eq!(r.method(), "GET");
    assert_eq!(r.path(), "/index.html?x=1");
    assert_eq!(r.host(), "example.com");
    assert_eq!(r.key(), "");
    assert_eq!(r.header("accept"), Some("text/html"));
    assert_eq!(s.ready_state(), ReadyState::Connecting);
    // It is not an upgrade: accept is refused, reject answers it.
    assert_eq!(s.accept(Accept::new()), Err(UsageError::NoPendingRequest));
    assert_outs(&drain(&mut s), &[]);
    let page = b"<!doctype html><p>hello</p>";
    s.reject(200, &[("Content-Type", "text/html")], page).unwrap();
    assert_outs(
        &drain(&mut s),
        &[
            wire_out(format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                page.len(),
                std::str::from_utf8(page).unwrap()
            )),
            Out::CloseTransport,
            rejected_out(200),
        ],
    );
}

#[test]
fn server_reports_other_non_upgrade_requests_as_http() {
    // Upgrade to something else, a POST without Upgrade, HTTP/1.0, no Host:
    // all plain HTTP for the application to answer.
    for req in [
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    ] {
        let (mut s, outs) = server_fed(Config::default(), req.as_bytes());
        assert!(matches!(outs.as_slice(), [Out::Event(Event::HttpRequest(_))]), "{req:?}: {}", show(&outs));
        // The app may answer 426 itself: the response names the upgrade.
        s.reject(426, &[], b"").unwrap();
        assert_outs(
            &drain(&mut s),
            &[
                wire_out(
                    "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                     Content-Length: 0\r\nConnection: Upgrade, close\r\n\r\n",
                ),
                Out::CloseTransport,
                rejected_out(426),
            ],
        );
    }
}

/// Every request the server refuses on its own, with its answer.
fn server_error_cases() -> Vec<(String, Config, Vec<u8>, HandshakeError)> {
    let ok = upgrade_request("");
    let without =
        |name: &str| -> String { ok.split("\r\n").filter(|l| !l.starts_with(name)).collect::<Vec<_>>().join("\r\n") };
    let replace = |name: &str, line: &str| -> String {
        ok.split("\r\n").map(|l| if l.starts_with(name) { line } else { l }).collect::<Vec<_>>().join("\r\n")
    };
    let malformed = bad_request("Malformed HTTP request.\n");
    let bad_key = bad_request("Missing or invalid Sec-WebSocket-Key.\n");
    let bad_version = error_response(
        "426 Upgrade Required",
        &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")],
        "Only Sec-WebSocket-Version 13 is supported.\n",
        "Upgrade, close",
    );
    let too_large = error_response("431 Request Header Fields Too Large", &[], "Request head too large.\n", "close");
    let too_many = error_response("431 Request Header Fields Too Large", &[], "Too many header fields.\n", "close");
    let d = Config::default;
    let mut huge = upgrade_request(&format!("X-Big: {}\r\n", "b".repeat(9000)));
    huge.truncate(8300);
    let many: String = (0..65).map(|i| format!("X-{i}: {i}\r\n")).collect();
    vec![
        // 400: malformed HTTP.
        (
            "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n".into(),
            d(),
            malformed.clone(),
            HandshakeError::Malformed("invalid header name"),
        ),
        (
            "\x16\x03\x01\x02\x00\x01\x00\x01".into(),
            d(),
            malformed.clone(),
            HandshakeError::Malformed("invalid token in start line"),
        ),
        (upgrade_request("X: \u{7f}\r\n"), d(), malformed.clone(), HandshakeError::Malformed("invalid header value")),
        (
            upgrade_request("Content-Length: 5\r\n"),
            d(),
            malformed.clone(),
            HandshakeError::Malformed("an upgrade request must not have a body"),
        ),
        (
            upgrade_request("Transfer-Encoding: chunked\r\n"),
            d(),
            malformed.clone(),
            HandshakeError::Malformed("an upgrade request must not have a body"),
        ),
        (upgrade_request("Host: other\r\n"), d(), malformed, HandshakeError::Malformed("repeated Host header")),
        // 400: HTTP/1.0 upgrade.
        (
            ok.replace("HTTP/1.1", "HTTP/1.0"),
            d(),
            bad_request("The WebSocket handshake requires HTTP/1.1.\n"),
            HandshakeError::HttpVersion,
        ),
        // 400: missing or empty Host.
        (without("Host:"), d(), bad_request("Missing Host header.\n"), HandshakeError::MissingHost),
        (replace("Host:", "Host: "), d(), bad_request("Missing Host header.\n"), HandshakeError::MissingHost),
        // 400: no Connection: Upgrade.
        (
            without("Connection:"),
            d(),
            bad_request("Missing \"Connection: Upgrade\".\n"),
            HandshakeError::MissingConnectionUpgrade,
        ),
        (
            replace("Connection:", "Connection: keep-alive"),
            d(),
            bad_request("Missing \"Connection: Upgrade\".\n"),
            HandshakeError::MissingConnectionUpgrade,
        ),
        // 400: bad keys.
        (without("Sec-WebSocket-Key:"), d(), bad_key.clone(), HandshakeError::InvalidKey),
        // base64 of 8 bytes.
        (
            replace("Sec-WebSocket-Key:", "Sec-WebSocket-Key: AAECAwQFBgc="),
            d(),
            bad_key.clone(),
            HandshakeError::InvalidKey,
        ),
        // 24 characters, but 17 bytes.
        (
            replace("Sec-WebSocket-Key:", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="),
            d(),
            bad_key.clone(),
            HandshakeError::InvalidKey,
        ),
        // Not base64.
        (
            replace("Sec-WebSocket-Key:", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="),
            d(),
            bad_key.clone(),
            HandshakeError::InvalidKey,
        ),
        // Duplicated, even with the same value.
        (upgrade_request(&format!("Sec-WebSocket-Key: {RFC_KEY_B64}\r\n")), d(), bad_key, HandshakeError::InvalidKey),
        // 400: bad subprotocol and extension lists.
        (
            upgrade_request("Sec-WebSocket-Protocol: chat, a b\r\n"),
            d(),
            bad_request("Invalid Sec-WebSocket-Protocol.\n"),
            HandshakeError::InvalidProtocolHeader,
        ),
        (
            upgrade_request("Sec-WebSocket-Extensions: ;\r\n"),
            d(),
            bad_request("Invalid Sec-WebSocket-Extensions.\n"),
            HandshakeError::InvalidExtensionHeader,
        ),
        // 405: an upgrade by POST.
        (
            ok.replacen("GET", "POST", 1),
            d(),
            error_response(
                "405 Method Not Allowed",
                &[("Allow", "GET")],
                "A WebSocket handshake must use GET.\n",
                "close",
            ),
            HandshakeError::MethodNotGet("POST".into()),
        ),
        // 426: other versions, or none (§4.4).
        (
            replace("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8"),
            d(),
            bad_version.clone(),
            HandshakeError::UnsupportedVersion(Some("8".into())),
        ),
        (without("Sec-WebSocket-Version:"), d(), bad_version.clone(), HandshakeError::UnsupportedVersion(None)),
        (
            upgrade_request("Sec-WebSocket-Version: 8\r\n"),
            d(),
            bad_version,
            HandshakeError::UnsupportedVersion(Some("13, 8".into())),
        ),
        // 431: limits.
        (huge, d(), too_large.clone(), HandshakeError::HeadTooLarge),
        (ok.clone(), d().with_max_head_size(64), too_large, HandshakeError::HeadTooLarge),
        (upgrade_request(&many), d(), too_many.clone(), HandshakeError::TooManyHeaders),
        (ok.clone(), d().with_max_headers(4), too_many, HandshakeError::TooManyHeaders),
    ]
}

#[test]
fn server_answers_bad_requests_on_its_own() {
    for (req, config, response, e) in server_error_cases() {
        let label = format!("{:?}", &req[..req.len().min(80)]);
        let status = e.status().expect("a request error has a status");
        assert!(response.starts_with(format!("HTTP/1.1 {status} ").as_bytes()), "{label}");
        let (mut s, outs) = server_fed(config, req.as_bytes());
        let mut want = vec![Out::Wire(response)];
        want.extend(failed(e));
        assert!(outs == want, "{label}\n got:\n  {}\n want:\n  {}", show(&outs), show(&want));
        assert_eq!(s.ready_state(), ReadyState::Closed);
        // Nothing is pending; later input is ignored.
        assert_eq!(s.accept(Accept::new()), Err(UsageError::NoPendingRequest));
        assert_eq!(s.reject(400, &[], b""), Err(UsageError::NoPendingRequest));
        s.handle_bytes(RFC_REQUEST.as_bytes());
        s.handle_eof();
        assert_outs(&drain(&mut s), &[]);
    }
}

#[test]
fn server_waits_for_the_whole_head_then_eof_truncates() {
    let mut s = Connection::server(Config::default());
    s.handle_bytes(&RFC_REQUEST.as_bytes()[..RFC_REQUEST.len() - 2]);
    assert_outs(&drain(&mut s), &[]);
    s.handle_eof();
    // No answer is written to a peer that has gone.
    assert_outs(&drain(&mut s), &failed(HandshakeError::Truncated));
    assert_eq!(s.ready_state(), ReadyState::Closed);

    // EOF before anything.
    let mut s = Connection::server(Config::default());
    s.handle_eof();
    assert_outs(&drain(&mut s), &failed(HandshakeError::Truncated));
}

#[test]
fn server_head_exactly_at_the_limit_is_accepted() {
    let req = upgrade_request("");
    let (_, outs) = server_fed(Config::default().with_max_head_size(req.len()), req.as_bytes());
    upgrade_of(&outs);
    let (_, outs) = server_fed(Config::default().with_max_head_size(req.len() - 1), req.as_bytes());
    assert_eq!(outs.last(), failed(HandshakeError::HeadTooLarge).last());
    // Headers: the valid request has 5; a limit of 5 is enough.
    let (_, outs) = server_fed(Config::default().with_max_headers(5), req.as_bytes());
    upgrade_of(&outs);
}

// ---------------------------------------------------------------------------
// Any split of the input gives the same outputs
// ---------------------------------------------------------------------------

/// Builds a fresh connection for one run.
type Maker = dyn Fn() -> Connection;

/// Feeds `input` in pieces ending at `cuts`, draining after each, then EOF
/// if asked, then `answer`; returns all outputs merged.
fn feed_in_pieces(
    mut conn: Connection,
    input: &[u8],
    cuts: &[usize],
    eof: bool,
    answer: &dyn Fn(&mut Connection),
) -> Vec<Out> {
    let mut all = Vec::new();
    let mut start = 0;
    for (i, &end) in cuts.iter().chain(std::iter::once(&input.len())).enumerate() {
        // Both input paths, alternately.
        if i % 2 == 0 {
            conn.handle_bytes(&input[start..end]);
        } else {
            conn.handle_bytes_owned(wsmachine::BytesMut::from(&input[start..end]));
        }
        merge_into(&mut all, drain(&mut conn));
        start = end;
    }
    if eof {
        conn.handle_eof();
        merge_into(&mut all, drain(&mut conn));
    }
    answer(&mut conn);
    merge_into(&mut all, drain(&mut conn));
    all
}

#[track_caller]
fn assert_split_invariant(label: &str, make: &Maker, input: &[u8], eof: bool, answer: &dyn Fn(&mut Connection)) {
    let whole = feed_in_pieces(make(), input, &[], eof, answer);
    assert!(!whole.is_empty(), "{label}: no output at all");
    let bytewise: Vec<usize> = (1..input.len()).collect();
    let got = feed_in_pieces(make(), input, &bytewise, eof, answer);
    assert!(got == whole, "{label}: byte at a time\n got:\n  {}\n whole:\n  {}", show(&got), show(&whole));
    for cut in 0..=input.len() {
        let got = feed_in_pieces(make(), input, &[cut], eof, answer);
        assert!(got == whole, "{label}: split at {cut}\n got:\n  {}\n whole:\n  {}", show(&got), show(&whole));
    }
}

#[test]
fn client_response_split_anywhere() {
    let make_default = || new_client();
    let make_small = || client_with(url("ws://example.com/chat"), Config::default().with_max_head_size(100)).0;
    let make_proto = || client_with(url("ws://example.com/chat").protocol("chat"), Config::default()).0;
    let nothing = |_: &mut Connection| {};
    let mut accepted = ok_101("").into_bytes();
    accepted.extend(sframe(true, op::TEXT, b"hello"));
    accepted.extend(sframe(true, op::PING, b"p"));
    let mut with_proto = ok_101("Sec-WebSocket-Protocol: chat\r\n").into_bytes();
    with_proto.extend(sframe(false, op::BINARY, b"ab"));
    with_proto.extend(sframe(true, op::CONT, b"cd"));
    let cases: Vec<(&str, &Maker, Vec<u8>, bool)> = vec![
        ("101 + frames", &make_default, accepted, false),
        ("101 + protocol + fragments", &make_proto, with_proto, false),
        ("403 length", &make_default, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nabcIGNORED".to_vec(), false),
        (
            "401 chunked",
            &make_default,
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".to_vec(),
            false,
        ),
        ("302 until eof", &make_default, b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\nbody".to_vec(), true),
        ("wrong accept", &make_default, format!("HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n").into_bytes(), false),
        ("head too large", &make_small, ok_101(&format!("X: {}\r\n", "x".repeat(60))).into_bytes(), false),
        ("truncated", &make_default, ok_101("").as_bytes()[..30].to_vec(), true),
    ];
    for (label, make, input, eof) in cases {
        assert_split_invariant(label, make, &input, eof, &nothing);
    }
}

#[test]
fn server_request_split_anywhere() {
    let make_default = || Connection::server(Config::default());
    let make_small = || Connection::server(Config::default().with_max_head_size(150));
    // Accept an upgrade, answer a plain request; errors leave nothing to do.
    let answer = |s: &mut Connection| {
        if s.accept(Accept::new().protocol("chat")).is_err() {
            let _ = s.reject(200, &[], b"page");
        }
    };
    let mut pipelined = RFC_REQUEST.as_bytes().to_vec();
    pipelined.extend(cframe(true, op::TEXT, b"hello"));
    pipelined.extend(cframe(true, op::PING, b"p"));
    let cases: Vec<(&str, &Maker, Vec<u8>)> = vec![
        ("rfc request + frames", &make_default, pipelined),
        ("plain GET", &make_default, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec()),
        ("POST upgrade", &make_default, upgrade_request("").replacen("GET", "POST", 1).into_bytes()),
        ("version 8", &make_default, upgrade_request("").replace("Version: 13", "Version: 8").into_bytes()),
        ("bad header", &make_default, b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n".to_vec()),
        ("head too large", &make_small, upgrade_request(&format!("X: {}\r\n", "x".repeat(60))).into_bytes()),
    ];
    for (label, make, input) in cases {
        assert_split_invariant(label, make, &input, false, &answer);
    }
}

// ---------------------------------------------------------------------------
// Frames pipelined behind the head
// ---------------------------------------------------------------------------

/// Accepts the request `s` reported with `Accept::new()` and asserts that
/// the outputs are exactly [`RFC_101`], `Open`, then `after_open`.
#[track_caller]
fn assert_accepted_then(s: &mut Connection, after_open: &[Out]) {
    s.accept(Accept::new()).unwrap();
    assert_outs(&drain(s), &[&[wire_out(RFC_101), open_event(None)], after_open].concat());
}

#[test]
fn server_keeps_frames_pipelined_behind_the_request() {
    let mut input = RFC_REQUEST.as_bytes().to_vec();
    input.extend(cframe(true, op::TEXT, b"hello"));
    input.extend(cframe(true, op::PING, b"are you there"));
    let (mut s, outs) = server_fed(Config::default(), &input);
    upgrade_of(&outs);
    // The frames wait for the answer: nothing before it.
    assert_outs(&drain(&mut s), &[]);
    assert_accepted_then(
        &mut s,
        &[
            Out::Event(Event::Message(Message::text("hello"))),
            wire_out(sframe(true, op::PONG, b"are you there")),
            Out::Event(Event::Ping(common::bytes(b"are you there"))),
        ],
    );
    assert_eq!(s.ready_state(), ReadyState::Open);
}

#[test]
fn server_keeps_frames_that_arrive_while_the_app_decides() {
    let (mut s, outs) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    upgrade_of(&outs);
    let mut frames = cframe(false, op::TEXT, b"hel");
    frames.extend(cframe(true, op::CONT, b"lo"));
    s.handle_bytes(&frames[..4]);
    s.handle_bytes(&frames[4..]);
    assert_outs(&drain(&mut s), &[]);
    assert_accepted_then(&mut s, &[Out::Event(Event::Message(Message::text("hello")))]);
}

#[test]
fn server_rejecting_drops_pipelined_frames() {
    let mut input = RFC_REQUEST.as_bytes().to_vec();
    input.extend(cframe(true, op::TEXT, b"hello"));
    let (mut s, _) = server_fed(Config::default(), &input);
    s.reject(403, &[], b"").unwrap();
    assert_outs(
        &drain(&mut s),
        &[
            wire_out("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            Out::CloseTransport,
            rejected_out(403),
        ],
    );
}

#[test]
fn server_fails_bad_frames_pipelined_behind_the_request_once_open() {
    // An unmasked frame from a client: detected when processed, after accept.
    let mut input = RFC_REQUEST.as_bytes().to_vec();
    input.extend(sframe(true, op::TEXT, b"x"));
    let (mut s, _) = server_fed(Config::default(), &input);
    assert_outs(&drain(&mut s), &[]);
    assert_accepted_then(
        &mut s,
        &[
            wire_out(sframe(true, op::CLOSE, &close_body(1002, ""))),
            Out::CloseTransport,
            closed_out(1006, "", false, Some(wsmachine::ProtocolError::UnmaskedClientFrame.into())),
        ],
    );
}

#[test]
fn server_processes_a_close_pipelined_behind_the_request() {
    let mut input = RFC_REQUEST.as_bytes().to_vec();
    input.extend(cframe(true, op::CLOSE, &close_body(1000, "")));
    let (mut s, outs) = server_fed(Config::default(), &input);
    upgrade_of(&outs);
    assert_accepted_then(&mut s, &echoed_close(Role::Server, Some(1000), ""));
}

#[test]
fn client_response_and_eof_fed_before_any_poll() {
    // A 101, a Close and the end of the stream, all before the first poll:
    // everything is processed in order.
    let mut c = client_fed_101_and_close();
    c.handle_eof();
    assert_outs(&drain(&mut c), &[vec![open_event(None)], echoed_close(Role::Client, Some(4000), "bye")].concat());
    // A rejection whose body runs to the end, likewise.
    let (mut c, _) = client_with(url("ws://example.com/chat"), Config::default());
    c.handle_bytes(b"HTTP/1.1 503 Service Unavailable\r\n\r\nlater");
    c.handle_eof();
    assert_outs(&drain(&mut c), &failed(rejected(503, "Service Unavailable", &[], b"later")));
    // A 101 alone then EOF: opened, then cut.
    let (mut c, _) = client_with(url("ws://example.com/chat"), Config::default());
    c.handle_bytes(ok_101("").as_bytes());
    c.handle_eof();
    assert_outs(&drain(&mut c), &[open_event(None), Out::CloseTransport, closed_out(1006, "", false, None)]);
}

#[test]
fn server_request_and_eof_fed_before_any_poll() {
    // The client half-closed after its request: the request can still be
    // answered; once accepted, the EOF ends the connection (1006).
    let mut s = Connection::server(Config::default());
    s.handle_bytes(RFC_REQUEST.as_bytes());
    s.handle_eof();
    assert_eq!(s.ready_state(), ReadyState::Connecting);
    let outs = drain(&mut s);
    assert_eq!(outs.len(), 1, "{}", show(&outs));
    assert!(matches!(outs.first(), Some(Out::Event(Event::UpgradeRequest(_)))), "{}", show(&outs));
    s.accept(Accept::new()).unwrap();
    let outs = drain(&mut s);
    assert!(matches!(&outs[0], Out::Wire(w) if w.starts_with(b"HTTP/1.1 101 ")), "{}", show(&outs));
    assert!(matches!(&outs[1], Out::Event(Event::Open(_))), "{}", show(&outs));
    assert_outs(&outs[2..], &[Out::CloseTransport, closed_out(1006, "", false, None)]);
    assert_eq!(s.accept(Accept::new()), Err(UsageError::NoPendingRequest));
    assert_outs(&drain(&mut s), &[]);
}

#[test]
fn client_keeps_frames_pipelined_behind_the_101() {
    let (mut c, _) = client_with(url("ws://example.com/chat").protocol("chat"), Config::default());
    let mut input = ok_101("Sec-WebSocket-Protocol: chat\r\n").into_bytes();
    input.extend(sframe(true, op::TEXT, b"welcome"));
    input.extend(sframe(true, op::PING, b"hb"));
    input.extend(sframe(true, op::BINARY, &[1, 2, 3]));
    c.handle_bytes(&input);
    assert_outs(
        &drain(&mut c),
        &[
            open_event(Some("chat")),
            Out::Event(Event::Message(Message::text("welcome"))),
            wire_out(cframe(true, op::PONG, b"hb")),
            Out::Event(Event::Ping(common::bytes(b"hb"))),
            Out::Event(Event::Message(Message::binary(vec![1u8, 2, 3]))),
        ],
    );
    assert_eq!(c.ready_state(), ReadyState::Open);
}

#[test]
fn client_processes_a_close_pipelined_behind_the_101() {
    let mut c = client_fed_101_and_close();
    // The echo and `Closing`; the rest once the server closes the transport.
    let expected = echoed_close(Role::Client, Some(4000), "bye");
    assert_outs(&drain(&mut c), &[vec![open_event(None)], expected[..2].to_vec()].concat());
    c.handle_eof();
    assert_outs(&drain(&mut c), &expected[2..]);
}

/// A `ws://example.com/chat` client fed, in one read, a 101 and the
/// server's Close (4000, "bye") behind it; nothing polled yet.
fn client_fed_101_and_close() -> Connection {
    let (mut c, _) = client_with(url("ws://example.com/chat"), Config::default());
    let mut input = ok_101("").into_bytes();
    input.extend(sframe(true, op::CLOSE, &close_body(4000, "bye")));
    c.handle_bytes(&input);
    c
}

// ---------------------------------------------------------------------------
// Commands while CONNECTING
// ---------------------------------------------------------------------------

fn closed_while_connecting() -> Vec<Out> {
    vec![Out::CloseTransport, closed_out(1006, "", false, Some(ConnectionError::ClosedWhileConnecting))]
}

/// What `reject(status, …)` ends with: the application's rejection, not
/// the silence of a vanished peer.
fn rejected_out(status: u16) -> Out {
    closed_out(1006, "", false, Some(ConnectionError::Rejected { status }))
}

/// The answer to a request the application closed instead of answering.
const CLOSED_PENDING_503: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[test]
fn client_close_while_connecting_fails_the_connection() {
    // The request already taken.
    let mut c = new_client();
    c.close(Some(CloseCode::NORMAL), "bye").unwrap();
    // Failing: CLOSING until `Closed` is polled (before this changed: CLOSED).
    assert_eq!(c.ready_state(), ReadyState::Closing);
    assert_outs(&drain(&mut c), &closed_while_connecting());
    assert_eq!(c.ready_state(), ReadyState::Closed);
    // A late response changes nothing.
    c.handle_bytes(ok_101("").as_bytes());
    assert_outs(&drain(&mut c), &[]);
    assert_eq!(c.close(None, ""), Ok(()));
    assert_outs(&drain(&mut c), &[]);

    // The request still queued: it is written first (CloseTransport writes
    // every earlier Transmit), and no Close frame is sent.
    let mut c = Connection::client(url("ws://example.com/chat"), Config::default(), FixedMask(RFC_KEY)).unwrap();
    c.close(None, "").unwrap();
    let outs = drain(&mut c);
    assert!(
        matches!(outs.first(), Some(Out::Wire(w)) if w.starts_with(b"GET /chat HTTP/1.1\r\n") && w.ends_with(b"\r\n\r\n"))
    );
    assert_outs(&outs[1..], &closed_while_connecting());

    // Browser close() too.
    let mut c = new_client();
    c.browser_close(Some(1000), None).unwrap();
    assert_outs(&drain(&mut c), &closed_while_connecting());
    // Invalid arguments are still refused first, queueing nothing.
    let mut c = new_client();
    assert_eq!(c.close(Some(CloseCode::ABNORMAL), ""), Err(wsmachine::CloseError::InvalidCode(1006)));
    assert_eq!(c.browser_close(Some(1001), None), Err(wsmachine::BrowserCloseError::InvalidAccessError(1001)));
    assert_outs(&drain(&mut c), &[]);
    assert_eq!(c.ready_state(), ReadyState::Connecting);
}

#[test]
fn server_close_before_the_request_fails_the_connection() {
    let mut s = Connection::server(Config::default());
    s.close(Some(CloseCode::GOING_AWAY), "").unwrap();
    assert_eq!(s.ready_state(), ReadyState::Closing);
    assert_outs(&drain(&mut s), &closed_while_connecting());
    assert_eq!(s.ready_state(), ReadyState::Closed);
    s.handle_bytes(RFC_REQUEST.as_bytes());
    assert_outs(&drain(&mut s), &[]);
    assert_eq!(s.accept(Accept::new()), Err(UsageError::NoPendingRequest));
}

#[test]
fn server_close_after_the_request_fails_the_connection() {
    let (mut s, outs) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    upgrade_of(&outs);
    s.close(None, "").unwrap();
    // The pending request is answered (503) before the transport closes;
    // before this changed, it was closed without a response.
    assert_eq!(s.ready_state(), ReadyState::Closing);
    let mut want = vec![wire_out(CLOSED_PENDING_503)];
    want.extend(closed_while_connecting());
    assert_outs(&drain(&mut s), &want);
    assert_eq!(s.ready_state(), ReadyState::Closed);
}

/// The ways a server can end while a request waits for the application's
/// answer, each with the outputs it gives.
fn end_while_deciding() -> Vec<(&'static str, Connection, Vec<Out>)> {
    let ended = |how: &dyn Fn(&mut Connection), request: &str| {
        let (mut s, outs) = server_fed(Config::default(), request.as_bytes());
        assert_eq!(outs.len(), 1, "{}", show(&outs));
        how(&mut s);
        let outs = drain(&mut s);
        (s, outs)
    };
    let reject = |s: &mut Connection| s.reject(403, &[], b"").unwrap();
    let close = |s: &mut Connection| s.close(None, "").unwrap();
    // EOF does not end a connection whose request awaits its answer (the
    // client may have half-closed); the handshake timeout does.
    let eof = |s: &mut Connection| {
        s.handle_eof();
        s.handle_timeout(wsmachine::Timestamp::from_millis(0));
        s.handle_timeout(wsmachine::Timestamp::from_millis(10_000));
    };
    // Frames pipelined behind the request beyond max_head_size +
    // max_message_size.
    let flood = |s: &mut Connection| s.handle_bytes(&vec![0u8; 8 * 1024 + (1 << 20) + 1]);
    let plain = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut cases = Vec::new();
    for (name, how) in
        [("reject", &reject as &dyn Fn(&mut Connection)), ("close", &close), ("eof", &eof), ("flood", &flood)]
    {
        let (s, outs) = ended(how, RFC_REQUEST);
        cases.push((name, s, outs));
    }
    for (name, how) in
        [("plain+reject", &reject as &dyn Fn(&mut Connection)), ("plain+close", &close), ("plain+eof", &eof)]
    {
        let (s, outs) = ended(how, plain);
        cases.push((name, s, outs));
    }
    cases
}

#[test]
fn server_ending_while_deciding_closes_once() {
    for (name, s, outs) in end_while_deciding() {
        let closed = common::assert_closed_once_last(&outs);
        assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false), "{name}");
        let want_error = match name {
            "reject" | "plain+reject" => Some(ConnectionError::Rejected { status: 403 }),
            "close" | "plain+close" => Some(ConnectionError::ClosedWhileConnecting),
            "eof" | "plain+eof" => handshake_err(HandshakeError::Timeout),
            _ => handshake_err(HandshakeError::HeadTooLarge),
        };
        assert_eq!(closed.error, want_error, "{name}");
        assert_eq!(s.ready_state(), ReadyState::Closed, "{name}");
    }
}

#[test]
fn server_answers_nothing_once_closed_while_deciding() {
    // Once closed, nothing is pending: accept and reject must fail with
    // NoPendingRequest and queue nothing (Closed is the last output, and
    // nothing may be written after CloseTransport).
    for answer_with_accept in [true, false] {
        for (name, mut s, _) in end_while_deciding() {
            let result = if answer_with_accept { s.accept(Accept::new()) } else { s.reject(403, &[], b"x") };
            let late = drain(&mut s);
            assert!(
                result == Err(UsageError::NoPendingRequest) && late.is_empty(),
                "{name}, then {}: {result:?} and late outputs\n  {}",
                if answer_with_accept { "accept" } else { "reject" },
                show(&late)
            );
            assert_eq!(s.ready_state(), ReadyState::Closed, "{name}");
        }
    }
}

#[test]
fn send_while_connecting_is_refused() {
    let not_open = Err(SendError::NotOpen(ReadyState::Connecting));
    let mut c = new_client();
    let (mut s, _) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    let mut fresh = Connection::server(Config::default());
    for conn in [&mut c, &mut s, &mut fresh] {
        assert_eq!(conn.send(Message::text("x")), not_open);
        assert_eq!(conn.send_text("x"), not_open);
        assert_eq!(conn.send_binary(vec![1u8]), not_open);
        assert_eq!(conn.ping(vec![]), not_open);
        assert_eq!(conn.pong(vec![]), not_open);
        assert_eq!(conn.buffered_amount(), 0);
        assert_outs(&drain(conn), &[]);
        assert_eq!(conn.ready_state(), ReadyState::Connecting);
    }
}

#[test]
fn accept_or_reject_with_nothing_pending() {
    let nothing = Err(UsageError::NoPendingRequest);
    // A client.
    let mut c = new_client();
    assert_eq!(c.accept(Accept::new()), nothing);
    assert_eq!(c.reject(403, &[], b""), nothing);
    assert_outs(&drain(&mut c), &[]);
    // A server before the request, and with part of it.
    let mut s = Connection::server(Config::default());
    assert_eq!(s.accept(Accept::new()), nothing);
    assert_eq!(s.reject(403, &[], b""), nothing);
    s.handle_bytes(&RFC_REQUEST.as_bytes()[..20]);
    assert_eq!(s.accept(Accept::new()), nothing);
    assert_eq!(s.reject(403, &[], b""), nothing);
    assert_outs(&drain(&mut s), &[]);
    // After accepting.
    let (mut s, _) = server_fed(Config::default(), RFC_REQUEST.as_bytes());
    s.accept(Accept::new()).unwrap();
    let _ = drain(&mut s);
    assert_eq!(s.accept(Accept::new()), nothing);
    assert_eq!(s.reject(403, &[], b""), nothing);
    assert_outs(&drain(&mut s), &[]);
    // An already-open connection.
    let mut o = common::server();
    assert_eq!(o.accept(Accept::new()), nothing);
    assert_eq!(o.reject(403, &[], b""), nothing);
}

// ---------------------------------------------------------------------------
// A whole session in memory
// ---------------------------------------------------------------------------

/// `Connection::client` and `Connection::server` wired back to back.
type Session = Pair;

impl Session {
    fn session(req: ClientRequest, server_config: Config) -> Self {
        Self::handshake(
            Connection::client(req, Config::default(), FixedMask([9, 8, 7, 6])).unwrap(),
            Connection::server(server_config),
        )
    }
}

fn open_session() -> Session {
    let req = url("ws://localhost:9001/chat?room=1").origin("http://localhost").protocol("v1").protocol("v2");
    let mut p = Session::session(req, Config::default().with_protocol("v2"));
    p.drive_accepting(&Accept::new);
    let [Event::UpgradeRequest(r), Event::Open(n)] = p.server_events.as_slice() else {
        panic!("server events {:?}", p.server_events);
    };
    assert_eq!(r.path(), "/chat?room=1");
    assert_eq!(r.host(), "localhost:9001");
    assert_eq!(r.origin(), Some("http://localhost"));
    assert_eq!(r.protocols(), ["v1", "v2"]);
    assert_eq!(n.protocol.as_deref(), Some("v2"));
    assert_eq!(p.client_events, [Event::Open(Negotiated { protocol: Some("v2".into()), extensions: vec![] })]);
    assert_eq!(p.client.ready_state(), ReadyState::Open);
    assert_eq!(p.server.ready_state(), ReadyState::Open);
    p.client_events.clear();
    p.server_events.clear();
    // Messages both ways.
    p.client.send_text("from client").unwrap();
    p.client.send_binary(vec![0u8, 1, 2, 255]).unwrap();
    p.server.send_text("from server").unwrap();
    p.server.send_binary(vec![7u8; 300]).unwrap();
    p.client.ping(&b"c"[..]).unwrap();
    p.drive_accepting(&Accept::new);
    assert_eq!(
        p.server_events,
        [
            Event::Message(Message::text("from client")),
            Event::Message(Message::binary(vec![0u8, 1, 2, 255])),
            Event::Ping(common::bytes(b"c")),
        ]
    );
    assert_eq!(
        p.client_events,
        [
            Event::Message(Message::text("from server")),
            Event::Message(Message::binary(vec![7u8; 300])),
            Event::Pong(common::bytes(b"c")),
        ]
    );
    p.client_events.clear();
    p.server_events.clear();
    p
}

#[test]
fn session_client_closes() {
    let mut p = open_session();
    p.client.close(Some(CloseCode::NORMAL), "done").unwrap();
    assert_eq!(p.client.ready_state(), ReadyState::Closing);
    p.drive_accepting(&Accept::new);
    let frame = CloseFrame { code: CloseCode::NORMAL, reason: "done".into() };
    let clean = Closed { code: CloseCode::NORMAL, reason: "done".into(), was_clean: true, error: None };
    assert_eq!(p.server_events, [Event::Closing(frame), Event::Closed(clean.clone())]);
    assert_eq!(p.client_events, [Event::Closed(clean)]);
    assert!(p.server_transport_closed && p.client_transport_closed);
    assert_eq!(p.client.ready_state(), ReadyState::Closed);
    assert_eq!(p.server.ready_state(), ReadyState::Closed);
}

#[test]
fn session_server_closes() {
    let mut p = open_session();
    p.server.close(Some(CloseCode::new(4000)), "bye").unwrap();
    p.drive_accepting(&Accept::new);
    let frame = CloseFrame { code: CloseCode::new(4000), reason: "bye".into() };
    let clean = Closed { code: CloseCode::new(4000), reason: "bye".into(), was_clean: true, error: None };
    assert_eq!(p.client_events, [Event::Closing(frame), Event::Closed(clean.clone())]);
    assert_eq!(p.server_events, [Event::Closed(clean)]);
    assert!(p.server_transport_closed && p.client_transport_closed);
}

#[test]
fn session_rejected_by_the_server_app() {
    let mut p = Session::session(url("ws://h/private"), Config::default());
    while let Some(o) = p.client.poll_output() {
        if let Output::Transmit(b) = o {
            p.server.handle_bytes(&b);
        }
    }
    let outs = drain(&mut p.server);
    assert!(matches!(outs.as_slice(), [Out::Event(Event::UpgradeRequest(r))] if r.path() == "/private"));
    p.server.reject(401, &[("WWW-Authenticate", "Bearer")], b"who are you").unwrap();
    p.drive_accepting(&|| panic!("no second request"));
    let e = rejected(
        401,
        "Unauthorized",
        &[("WWW-Authenticate", "Bearer"), ("Content-Length", "11"), ("Connection", "close")],
        b"who are you",
    );
    let closed = Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error: handshake_err(e) };
    assert_eq!(p.client_events, [Event::Closed(closed)]);
    assert_eq!(
        p.server_events,
        [Event::Closed(Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            was_clean: false,
            error: Some(ConnectionError::Rejected { status: 401 })
        })]
    );
    assert!(p.server_transport_closed && p.client_transport_closed);
}
