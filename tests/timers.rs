//! Time as an input: the opening handshake timeout, the closing handshake
//! timeout (RFC 6455 §7.1.1), keepalive, `poll_timeout` and the
//! `std::time::Instant` conveniences, all on a simulated clock.
//!
//! Every deadline is checked at its exact millisecond: one millisecond before
//! it nothing at all comes out and the deadline is unchanged; at it, the exact
//! outputs. Every scenario records each connection's whole output history and
//! checks the lifetime rule on it (`Closed` once and last), and that no timer
//! outlives the connection.
mod common;

use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use wsmachine::handshake::{Accept, ClientRequest, UsageError};
use wsmachine::{
    CloseCode, CloseFrame, Config, Connection, ConnectionError, Event, HandshakeError, Message, Negotiated,
    ProtocolError, ReadyState, Role, Timestamp,
};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// The defaults, spelled out: handshake 10 s, close 5 s, keepalive 30 s + 30 s.
const HANDSHAKE: u64 = 10_000;
const CLOSE: u64 = 5_000;
const INTERVAL: u64 = 30_000;
const KEEPALIVE: u64 = 30_000;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The request a `ws://example.com/` client built with `FixedMask(RFC_KEY)`
/// writes: its nonce is the RFC key four times, base64 `N/ohPTf6IT03+iE9N/ohPQ==`.
const CLIENT_REQUEST: &str = "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: N/ohPTf6IT03+iE9N/ohPQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The server's 101 for [`CLIENT_REQUEST`].
const CLIENT_101: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: 7Ubo2JRe6fIuZAdGHq7kDA4XEQ0=\r\n\r\n";

/// An upgrade request with the §1.3 sample key.
const SERVER_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The 101 a server writes for [`SERVER_REQUEST`].
const SERVER_101: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Tells `c` the time is `ms` and drains it.
fn at(c: &mut Connection, h: &mut History, ms: u64) -> Vec<Out> {
    c.handle_timeout(ts(ms));
    h.drain(c)
}

/// Feeds `data` and drains.
fn feed(c: &mut Connection, h: &mut History, data: &[u8]) -> Vec<Out> {
    c.handle_bytes(data);
    h.drain(c)
}

/// At `ms` (just before `deadline`) nothing at all comes out and the
/// deadline stays where it was.
#[track_caller]
fn quiet_at(c: &mut Connection, h: &mut History, ms: u64, deadline: u64) {
    assert_eq!(c.poll_timeout(), Some(ts(deadline)), "deadline before {ms}");
    assert_eq!(at(c, h, ms), vec![], "something fired at {ms}, before the deadline {deadline}");
    assert_eq!(c.poll_timeout(), Some(ts(deadline)), "deadline moved at {ms}");
}

fn ping_frame(sender: Role) -> Vec<u8> {
    own_frame(sender, true, op::PING, b"")
}

fn our_close(sender: Role, code: u16, reason: &str) -> Vec<u8> {
    own_frame(sender, true, op::CLOSE, &close_body(code, reason))
}

fn peer_close(receiver: Role, code: u16, reason: &str) -> Vec<u8> {
    peer_frame(receiver, true, op::CLOSE, &close_body(code, reason))
}

fn peer_text(receiver: Role, text: &str) -> Vec<u8> {
    peer_frame(receiver, true, op::TEXT, text.as_bytes())
}

fn message(text: &'static str) -> Out {
    Out::Event(Event::Message(Message::text(text)))
}

fn closing(code: u16, reason: &str) -> Out {
    Out::Event(Event::Closing(CloseFrame { code: code.into(), reason: reason.into() }))
}

fn open_event() -> Out {
    Out::Event(Event::Open(Negotiated::default()))
}

/// `CloseTransport`, then `Closed { 1006, was_clean: false, error }`.
fn failed_with(error: ConnectionError) -> Vec<Out> {
    vec![Out::CloseTransport, closed_out(1006, "", false, Some(error))]
}

fn handshake_timeout() -> Vec<Out> {
    failed_with(ConnectionError::Handshake(HandshakeError::Timeout))
}

fn close_timeout() -> Vec<Out> {
    failed_with(ConnectionError::CloseTimeout)
}

fn keepalive_timeout() -> Vec<Out> {
    failed_with(ConnectionError::KeepaliveTimeout)
}

/// A `Connection::client` for `ws://example.com/`.
fn handshake_client(config: Config) -> Connection {
    let req = ClientRequest::new("ws://example.com/").expect("valid URL");
    Connection::client(req, config, FixedMask(RFC_KEY)).expect("valid request")
}

/// A config with every timer off.
fn no_timers() -> Config {
    Config::default().with_handshake_timeout(None).with_close_timeout(None).with_keepalive(None, Duration::ZERO)
}

/// The connection is CLOSED, its history ends in one `Closed`, no timer is
/// left and no time, however far, brings anything out.
#[track_caller]
fn assert_no_timer_after_close(c: &mut Connection, h: &mut History) {
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert_eq!(c.poll_timeout(), None);
    assert!(!c.wants_read());
    for ms in [0, 1, 5_000, 10_000, 30_000, 60_000, 3_600_000, 86_400_000 * 365, u64::MAX / 2, u64::MAX] {
        c.handle_timeout(ts(ms));
        assert_eq!(c.poll_timeout(), None, "a timer after Closed at {ms}");
        assert_eq!(h.drain(c), vec![], "output after Closed at {ms}");
    }
    c.handle_timeout(Timestamp::from_duration(Duration::MAX));
    assert_eq!(h.drain(c), vec![]);
    assert_eq!(c.poll_timeout(), None);
    h.assert_closed_once_last();
}

/// The request of a lone `UpgradeRequest`.
#[track_caller]
fn assert_upgrade_request(outs: &[Out]) {
    match outs {
        [Out::Event(Event::UpgradeRequest(r))] => assert_eq!(r.path(), "/chat"),
        other => panic!("expected one UpgradeRequest, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// The opening handshake timeout: server
// ---------------------------------------------------------------------------

#[test]
fn server_handshake_timeout_without_a_request() {
    for start in [0, 1, 7_777, 1_000_000_000] {
        let mut s = Connection::server(Config::default());
        let mut h = History::new();
        assert_eq!(s.poll_timeout(), None, "no timer before the first time");
        assert_eq!(at(&mut s, &mut h, start), vec![]);
        quiet_at(&mut s, &mut h, start + 1, start + HANDSHAKE);
        quiet_at(&mut s, &mut h, start + HANDSHAKE - 1, start + HANDSHAKE);
        assert_eq!(s.ready_state(), ReadyState::Connecting);
        assert!(s.wants_read());
        // At the deadline: the transport is closed without any response.
        assert_eq!(at(&mut s, &mut h, start + HANDSHAKE), handshake_timeout());
        assert_no_timer_after_close(&mut s, &mut h);
    }
}

#[test]
fn server_handshake_timeout_with_a_partial_request() {
    let req = SERVER_REQUEST.as_bytes();
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    // A slowloris client: bytes keep coming, the head never completes. Bytes
    // do not push the deadline back.
    let mut fed = 0;
    for (i, ms) in [1_000, 4_000, 9_000, 9_998].into_iter().enumerate() {
        let upto = (i + 1) * 20;
        s.handle_timeout(ts(ms));
        assert_eq!(feed(&mut s, &mut h, &req[fed..upto]), vec![]);
        fed = upto;
        assert_eq!(s.poll_timeout(), Some(ts(HANDSHAKE)));
    }
    quiet_at(&mut s, &mut h, HANDSHAKE - 1, HANDSHAKE);
    assert_eq!(at(&mut s, &mut h, HANDSHAKE), handshake_timeout());
    assert_no_timer_after_close(&mut s, &mut h);
}

#[test]
fn server_handshake_timeout_when_the_app_never_answers() {
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    s.handle_timeout(ts(3_000));
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    // The request being reported does not stop the clock.
    quiet_at(&mut s, &mut h, 9_999, HANDSHAKE);
    assert_eq!(at(&mut s, &mut h, HANDSHAKE), handshake_timeout());
    // Too late to answer now.
    assert_eq!(s.accept(Accept::new()), Err(UsageError::NoPendingRequest));
    assert_eq!(s.reject(403, &[], b""), Err(UsageError::NoPendingRequest));
    assert_no_timer_after_close(&mut s, &mut h);
}

#[test]
fn server_handshake_timeout_when_a_plain_http_request_is_never_answered() {
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 500), vec![]);
    let outs = feed(&mut s, &mut h, b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(matches!(outs.as_slice(), [Out::Event(Event::HttpRequest(_))]), "{outs:?}");
    quiet_at(&mut s, &mut h, 500 + HANDSHAKE - 1, 500 + HANDSHAKE);
    assert_eq!(at(&mut s, &mut h, 500 + HANDSHAKE), handshake_timeout());
    assert_no_timer_after_close(&mut s, &mut h);
}

#[test]
fn server_accepting_one_millisecond_before_the_deadline_stops_it() {
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    s.handle_timeout(ts(3_000));
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    assert_eq!(at(&mut s, &mut h, 9_999), vec![]);
    s.accept(Accept::new()).unwrap();
    assert_eq!(h.drain(&mut s), vec![Out::Wire(SERVER_101.into()), open_event()]);
    // Now only keepalive runs, from the moment the connection opened (9.999 s).
    assert_eq!(s.poll_timeout(), Some(ts(9_999 + INTERVAL)));
    assert_eq!(at(&mut s, &mut h, HANDSHAKE), vec![]);
    assert_eq!(s.ready_state(), ReadyState::Open);
    h.assert_not_closed();
}

#[test]
fn server_request_fed_before_the_deadline_time_is_answered_first() {
    // The request and then the time of the deadline arrive before any poll:
    // the request is processed first, and an application that answers the
    // event at once opens the connection before the timer is looked at.
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    s.handle_bytes(SERVER_REQUEST.as_bytes());
    s.handle_timeout(ts(HANDSHAKE));
    let first = s.poll_output();
    assert!(matches!(first, Some(wsmachine::Output::Event(Event::UpgradeRequest(_)))), "{first:?}");
    s.accept(Accept::new()).unwrap();
    assert_eq!(h.drain(&mut s), vec![Out::Wire(SERVER_101.into()), open_event()]);
    assert_eq!(s.ready_state(), ReadyState::Open);
    // Keepalive counts from the opening, at the latest time given (10 s).
    assert_eq!(s.poll_timeout(), Some(ts(HANDSHAKE + INTERVAL)));
}

#[test]
fn server_handshake_timeout_after_the_client_half_closed() {
    // The client sent its request and half-closed: the answer can still go
    // out, and the handshake timeout bounds the wait.
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    s.handle_timeout(ts(1_000));
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    s.handle_timeout(ts(3_000));
    s.handle_eof();
    assert_eq!(h.drain(&mut s), vec![]);
    assert_eq!(s.ready_state(), ReadyState::Connecting);
    assert!(!s.wants_read(), "nothing more can be read after EOF");
    quiet_at(&mut s, &mut h, 3_001, HANDSHAKE);
    quiet_at(&mut s, &mut h, HANDSHAKE - 1, HANDSHAKE);
    assert_eq!(at(&mut s, &mut h, HANDSHAKE), handshake_timeout());
    assert_no_timer_after_close(&mut s, &mut h);
}

#[test]
fn server_answering_after_the_client_half_closed_ends_with_1006_and_no_timer() {
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    s.handle_eof();
    assert_eq!(h.drain(&mut s), vec![]);
    s.handle_timeout(ts(HANDSHAKE - 1));
    s.accept(Accept::new()).unwrap();
    assert_eq!(
        h.drain(&mut s),
        vec![Out::Wire(SERVER_101.into()), open_event(), Out::CloseTransport, closed_out(1006, "", false, None)]
    );
    assert_no_timer_after_close(&mut s, &mut h);
}

#[test]
fn server_handshake_deadline_counts_from_the_first_time_given() {
    // Bytes before any time do not start the clock; the first
    // `handle_timeout` does.
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(feed(&mut s, &mut h, &SERVER_REQUEST.as_bytes()[..10]), vec![]);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(at(&mut s, &mut h, 50_000), vec![]);
    quiet_at(&mut s, &mut h, 59_999, 60_000);
    assert_eq!(at(&mut s, &mut h, 60_000), handshake_timeout());
    assert_no_timer_after_close(&mut s, &mut h);
}

// ---------------------------------------------------------------------------
// The opening handshake timeout: client
// ---------------------------------------------------------------------------

#[test]
fn client_handshake_timeout_without_a_response() {
    for start in [0, 42, 1_000_000] {
        let mut c = handshake_client(Config::default());
        let mut h = History::new();
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(at(&mut c, &mut h, start), vec![Out::Wire(CLIENT_REQUEST.into())]);
        quiet_at(&mut c, &mut h, start + 1, start + HANDSHAKE);
        quiet_at(&mut c, &mut h, start + HANDSHAKE - 1, start + HANDSHAKE);
        assert_eq!(c.ready_state(), ReadyState::Connecting);
        assert_eq!(at(&mut c, &mut h, start + HANDSHAKE), handshake_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn client_handshake_timeout_with_a_partial_response() {
    let mut c = handshake_client(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![Out::Wire(CLIENT_REQUEST.into())]);
    c.handle_timeout(ts(5_000));
    assert_eq!(feed(&mut c, &mut h, &CLIENT_101.as_bytes()[..CLIENT_101.len() - 1]), vec![]);
    quiet_at(&mut c, &mut h, HANDSHAKE - 1, HANDSHAKE);
    assert_eq!(at(&mut c, &mut h, HANDSHAKE), handshake_timeout());
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn client_response_one_millisecond_before_the_deadline_opens() {
    let mut c = handshake_client(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![Out::Wire(CLIENT_REQUEST.into())]);
    c.handle_timeout(ts(9_999));
    assert_eq!(feed(&mut c, &mut h, CLIENT_101.as_bytes()), vec![open_event()]);
    assert_eq!(c.poll_timeout(), Some(ts(9_999 + INTERVAL)));
    assert_eq!(at(&mut c, &mut h, HANDSHAKE), vec![]);
    assert_eq!(c.ready_state(), ReadyState::Open);
    h.assert_not_closed();
}

#[test]
fn client_response_fed_before_the_deadline_time_is_processed_first() {
    let mut c = handshake_client(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![Out::Wire(CLIENT_REQUEST.into())]);
    c.handle_timeout(ts(4_000));
    c.handle_bytes(CLIENT_101.as_bytes());
    c.handle_timeout(ts(HANDSHAKE));
    assert_eq!(h.drain(&mut c), vec![open_event()]);
    // The response was processed once 10 s was known: keepalive counts
    // from the opening, then.
    assert_eq!(c.poll_timeout(), Some(ts(HANDSHAKE + INTERVAL)));
}

#[test]
fn handshake_timeout_custom_value() {
    let config = Config::default().with_handshake_timeout(Some(Duration::from_millis(2_500)));
    let mut s = Connection::server(config.clone());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 100), vec![]);
    quiet_at(&mut s, &mut h, 2_599, 2_600);
    assert_eq!(at(&mut s, &mut h, 2_600), handshake_timeout());
    assert_no_timer_after_close(&mut s, &mut h);

    let mut c = handshake_client(config);
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 100), vec![Out::Wire(CLIENT_REQUEST.into())]);
    quiet_at(&mut c, &mut h, 2_599, 2_600);
    assert_eq!(at(&mut c, &mut h, 2_600), handshake_timeout());
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn handshake_timeout_off_waits_forever() {
    // Keepalive and the close timeout stay on: neither runs while CONNECTING.
    let config = Config::default().with_handshake_timeout(None);
    let mut s = Connection::server(config.clone());
    let mut c = handshake_client(config);
    let (mut hs, mut hc) = (History::new(), History::new());
    assert_eq!(at(&mut s, &mut hs, 0), vec![]);
    assert_eq!(at(&mut c, &mut hc, 0), vec![Out::Wire(CLIENT_REQUEST.into())]);
    for ms in [HANDSHAKE, INTERVAL, INTERVAL + KEEPALIVE, 86_400_000, u64::MAX] {
        assert_eq!(at(&mut s, &mut hs, ms), vec![]);
        assert_eq!(at(&mut c, &mut hc, ms), vec![]);
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(c.poll_timeout(), None);
    }
    assert_eq!(s.ready_state(), ReadyState::Connecting);
    assert_eq!(c.ready_state(), ReadyState::Connecting);
    // And the handshake can still complete.
    assert_eq!(feed(&mut c, &mut hc, CLIENT_101.as_bytes()), vec![open_event()]);
}

// ---------------------------------------------------------------------------
// The closing handshake timeout
// ---------------------------------------------------------------------------

#[test]
fn close_timeout_after_our_close_when_the_peer_never_answers() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        assert_eq!(at(&mut c, &mut h, 1_000), vec![]);
        c.close(Some(CloseCode::NORMAL), "bye").unwrap();
        assert_eq!(h.drain(&mut c), vec![Out::Wire(our_close(role, 1000, "bye"))]);
        assert_eq!(c.ready_state(), ReadyState::Closing);
        quiet_at(&mut c, &mut h, 1_001, 1_000 + CLOSE);
        quiet_at(&mut c, &mut h, 1_000 + CLOSE - 1, 1_000 + CLOSE);
        assert!(c.wants_read(), "{role:?} still reads, for the peer's Close");
        assert_eq!(at(&mut c, &mut h, 1_000 + CLOSE), close_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
        // The only frame on the wire is our Close.
        let frames = parse_frames(&wire(&h.outs));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].opcode, op::CLOSE);
    }
}

#[test]
fn close_timeout_after_a_handshaken_connection_closes() {
    // The same through the opening handshake of both constructors.
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    s.accept(Accept::new()).unwrap();
    assert_eq!(h.drain(&mut s), vec![Out::Wire(SERVER_101.into()), open_event()]);
    s.handle_timeout(ts(2_000));
    s.close(Some(CloseCode::GOING_AWAY), "").unwrap();
    assert_eq!(h.drain(&mut s), vec![Out::Wire(our_close(Role::Server, 1001, ""))]);
    quiet_at(&mut s, &mut h, 2_000 + CLOSE - 1, 2_000 + CLOSE);
    assert_eq!(at(&mut s, &mut h, 2_000 + CLOSE), close_timeout());
    assert_no_timer_after_close(&mut s, &mut h);

    let mut c = handshake_client(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![Out::Wire(CLIENT_REQUEST.into())]);
    assert_eq!(feed(&mut c, &mut h, CLIENT_101.as_bytes()), vec![open_event()]);
    c.handle_timeout(ts(2_000));
    c.close(None, "").unwrap();
    assert_eq!(h.drain(&mut c), vec![Out::Wire(own_frame(Role::Client, true, op::CLOSE, b""))]);
    quiet_at(&mut c, &mut h, 2_000 + CLOSE - 1, 2_000 + CLOSE);
    assert_eq!(at(&mut c, &mut h, 2_000 + CLOSE), close_timeout());
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn messages_after_our_close_do_not_extend_the_close_timeout() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        assert_eq!(h.drain(&mut c), vec![Out::Wire(our_close(role, 1000, ""))]);
        c.handle_timeout(ts(4_000));
        assert_eq!(feed(&mut c, &mut h, &peer_text(role, "late")), vec![message("late")]);
        c.handle_timeout(ts(4_999));
        assert_eq!(
            feed(&mut c, &mut h, &peer_frame(role, true, op::PONG, b"")),
            vec![Out::Event(Event::Pong(bytes(b"")))]
        );
        quiet_at(&mut c, &mut h, 4_999, CLOSE);
        assert_eq!(at(&mut c, &mut h, CLOSE), close_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn peer_close_fed_before_the_deadline_time_wins() {
    // The answer and the deadline's time arrive before any poll: the input
    // fed before the time is processed first and the close is clean.
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        c.close(Some(CloseCode::NORMAL), "x").unwrap();
        assert_eq!(h.drain(&mut c), vec![Out::Wire(our_close(role, 1000, "x"))]);
        c.handle_bytes(&peer_close(role, 1000, "x"));
        c.handle_timeout(ts(CLOSE));
        // A server closes at once; a client's wait for the server's TCP
        // close ran out at the same moment, so it closes the transport
        // itself. Clean either way.
        assert_eq!(h.drain(&mut c), vec![Out::CloseTransport, closed_out(1000, "x", true, None)], "{role:?}");
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn client_waiting_for_the_servers_tcp_close_after_the_server_started_closing() {
    // §7.1.1: after the closing handshake the client waits for the server to
    // close TCP; at the close timeout it closes the transport itself and the
    // close is still clean, with the server's code and reason.
    let mut c = client();
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![]);
    c.handle_timeout(ts(2_000));
    assert_eq!(
        feed(&mut c, &mut h, &sframe(true, op::CLOSE, &close_body(1001, "away"))),
        vec![Out::Wire(cframe(true, op::CLOSE, &close_body(1001, "away"))), closing(1001, "away")]
    );
    assert_eq!(c.ready_state(), ReadyState::Closing);
    quiet_at(&mut c, &mut h, 2_001, 2_000 + CLOSE);
    quiet_at(&mut c, &mut h, 2_000 + CLOSE - 1, 2_000 + CLOSE);
    assert_eq!(at(&mut c, &mut h, 2_000 + CLOSE), vec![Out::CloseTransport, closed_out(1001, "away", true, None)]);
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn client_waiting_for_the_servers_tcp_close_after_it_started_closing() {
    // The deadline runs from the start of the closing handshake (our Close),
    // not from the server's answer.
    let mut c = client();
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 1_000), vec![]);
    c.close(Some(CloseCode::NORMAL), "done").unwrap();
    assert_eq!(h.drain(&mut c), vec![Out::Wire(cframe(true, op::CLOSE, &close_body(1000, "done")))]);
    c.handle_timeout(ts(4_000));
    assert_eq!(feed(&mut c, &mut h, &sframe(true, op::CLOSE, &close_body(4000, "ok"))), vec![]);
    assert_eq!(c.ready_state(), ReadyState::Closing);
    quiet_at(&mut c, &mut h, 1_000 + CLOSE - 1, 1_000 + CLOSE);
    assert_eq!(at(&mut c, &mut h, 1_000 + CLOSE), vec![Out::CloseTransport, closed_out(4000, "ok", true, None)]);
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn client_servers_tcp_close_before_the_deadline_ends_it_without_the_timer() {
    let mut c = client();
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![]);
    c.close(Some(CloseCode::NORMAL), "").unwrap();
    h.drain(&mut c);
    assert_eq!(feed(&mut c, &mut h, &sframe(true, op::CLOSE, &close_body(1000, ""))), vec![]);
    c.handle_timeout(ts(CLOSE - 1));
    c.handle_eof();
    assert_eq!(h.drain(&mut c), vec![Out::CloseTransport, closed_out(1000, "", true, None)]);
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn server_closes_at_once_on_the_peers_close_and_keeps_no_timer() {
    for peer_first in [false, true] {
        let mut s = server();
        let mut h = History::new();
        assert_eq!(at(&mut s, &mut h, 0), vec![]);
        s.handle_timeout(ts(4_999));
        if peer_first {
            assert_eq!(
                feed(&mut s, &mut h, &cframe(true, op::CLOSE, &close_body(1000, ""))),
                vec![
                    Out::Wire(sframe(true, op::CLOSE, &close_body(1000, ""))),
                    closing(1000, ""),
                    Out::CloseTransport,
                    closed_out(1000, "", true, None)
                ]
            );
        } else {
            s.close(Some(CloseCode::NORMAL), "").unwrap();
            h.drain(&mut s);
            assert_eq!(s.poll_timeout(), Some(ts(4_999 + CLOSE)));
            assert_eq!(
                feed(&mut s, &mut h, &cframe(true, op::CLOSE, &close_body(1000, ""))),
                vec![Out::CloseTransport, closed_out(1000, "", true, None)]
            );
        }
        assert_no_timer_after_close(&mut s, &mut h);
    }
}

#[test]
fn close_timeout_custom_value() {
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_close_timeout(Some(Duration::from_millis(250))));
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 10_000), vec![]);
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        quiet_at(&mut c, &mut h, 10_249, 10_250);
        assert_eq!(at(&mut c, &mut h, 10_250), close_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
    // And the client's wait for TCP close uses it too.
    let mut c = with_config(Role::Client, Config::default().with_close_timeout(Some(Duration::from_millis(250))));
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![]);
    feed(&mut c, &mut h, &sframe(true, op::CLOSE, &close_body(1000, "")));
    quiet_at(&mut c, &mut h, 249, 250);
    assert_eq!(at(&mut c, &mut h, 250), vec![Out::CloseTransport, closed_out(1000, "", true, None)]);
}

#[test]
fn close_timeout_off_waits_for_the_peer_forever() {
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_close_timeout(None));
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        // Keepalive does not run while CLOSING either.
        assert_eq!(c.poll_timeout(), None);
        for ms in [CLOSE, INTERVAL, INTERVAL + KEEPALIVE, 86_400_000, u64::MAX] {
            assert_eq!(at(&mut c, &mut h, ms), vec![]);
            assert_eq!(c.poll_timeout(), None);
        }
        assert_eq!(c.ready_state(), ReadyState::Closing);
        // The peer's Close still ends it.
        feed(&mut c, &mut h, &peer_close(role, 1000, ""));
        if role == Role::Client {
            assert_eq!(c.poll_timeout(), None);
            assert_eq!(at(&mut c, &mut h, u64::MAX), vec![]);
            c.handle_eof();
            h.drain(&mut c);
        }
        assert!(h.assert_closed_once_last().was_clean);
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn close_before_the_first_time_starts_the_close_timer_at_the_first_time() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(at(&mut c, &mut h, 7_000), vec![]);
        quiet_at(&mut c, &mut h, 7_000 + CLOSE - 1, 7_000 + CLOSE);
        assert_eq!(at(&mut c, &mut h, 7_000 + CLOSE), close_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

// ---------------------------------------------------------------------------
// Keepalive
// ---------------------------------------------------------------------------

#[test]
fn keepalive_pings_after_the_interval_then_fails_after_the_timeout() {
    for role in ROLES {
        for start in [0, 123_456] {
            let mut c = conn(role);
            let mut h = History::new();
            assert_eq!(at(&mut c, &mut h, start), vec![]);
            quiet_at(&mut c, &mut h, start + 1, start + INTERVAL);
            quiet_at(&mut c, &mut h, start + INTERVAL - 1, start + INTERVAL);
            // An empty Ping: [0x89, 0x00] from a server; masked from a client.
            let ping = ping_frame(role);
            match role {
                Role::Server => assert_eq!(ping, [0x89, 0x00]),
                Role::Client => assert_eq!(ping, [0x89, 0x80, 0x37, 0xfa, 0x21, 0x3d]),
            }
            assert_eq!(at(&mut c, &mut h, start + INTERVAL), vec![Out::Wire(ping.clone())]);
            assert_eq!(c.ready_state(), ReadyState::Open);
            let fail_at = start + INTERVAL + KEEPALIVE;
            quiet_at(&mut c, &mut h, start + INTERVAL, fail_at);
            quiet_at(&mut c, &mut h, fail_at - 1, fail_at);
            // No Close frame: the connection is failed without one.
            assert_eq!(at(&mut c, &mut h, fail_at), keepalive_timeout());
            assert_eq!(wire(&h.outs), ping);
            assert_no_timer_after_close(&mut c, &mut h);
        }
    }
}

#[test]
fn keepalive_any_input_cancels_the_failure() {
    for role in ROLES {
        let inputs: Vec<(&str, Vec<u8>, Vec<Out>)> = vec![
            ("pong", peer_frame(role, true, op::PONG, b""), vec![Out::Event(Event::Pong(bytes(b"")))]),
            ("pong with data", peer_frame(role, true, op::PONG, b"x"), vec![Out::Event(Event::Pong(bytes(b"x")))]),
            ("text", peer_text(role, "hi"), vec![message("hi")]),
            (
                "binary",
                peer_frame(role, true, op::BINARY, &[1, 2, 3]),
                vec![Out::Event(Event::Message(Message::binary(vec![1u8, 2, 3])))],
            ),
            (
                "ping",
                peer_frame(role, true, op::PING, b"p"),
                vec![Out::Wire(own_frame(role, true, op::PONG, b"p")), Out::Event(Event::Ping(bytes(b"p")))],
            ),
            ("one byte of a header", peer_text(role, "hi")[..1].to_vec(), vec![]),
            ("a first fragment", peer_frame(role, false, op::TEXT, b"frag"), vec![]),
        ];
        for (name, input, want) in inputs {
            let mut c = conn(role);
            let mut h = History::new();
            assert_eq!(at(&mut c, &mut h, 0), vec![]);
            assert_eq!(at(&mut c, &mut h, INTERVAL), vec![Out::Wire(ping_frame(role))]);
            c.handle_timeout(ts(45_000));
            assert_eq!(feed(&mut c, &mut h, &input), want, "{role:?} {name}");
            // The next Ping is due an interval after this input.
            assert_eq!(c.poll_timeout(), Some(ts(45_000 + INTERVAL)), "{role:?} {name}");
            assert_eq!(at(&mut c, &mut h, INTERVAL + KEEPALIVE), vec![], "{role:?} {name}: failed anyway");
            quiet_at(&mut c, &mut h, 45_000 + INTERVAL - 1, 45_000 + INTERVAL);
            assert_eq!(at(&mut c, &mut h, 45_000 + INTERVAL), vec![Out::Wire(ping_frame(role))], "{role:?} {name}");
            quiet_at(&mut c, &mut h, 45_000 + INTERVAL + KEEPALIVE - 1, 45_000 + INTERVAL + KEEPALIVE);
            assert_eq!(at(&mut c, &mut h, 45_000 + INTERVAL + KEEPALIVE), keepalive_timeout(), "{role:?} {name}");
            assert_no_timer_after_close(&mut c, &mut h);
        }
    }
}

#[test]
fn keepalive_answer_one_millisecond_before_the_failure() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        assert_eq!(at(&mut c, &mut h, INTERVAL), vec![Out::Wire(ping_frame(role))]);
        c.handle_timeout(ts(INTERVAL + KEEPALIVE - 1));
        assert_eq!(
            feed(&mut c, &mut h, &peer_frame(role, true, op::PONG, b"")),
            vec![Out::Event(Event::Pong(bytes(b"")))]
        );
        assert_eq!(at(&mut c, &mut h, INTERVAL + KEEPALIVE), vec![]);
        assert_eq!(c.poll_timeout(), Some(ts(2 * INTERVAL + KEEPALIVE - 1)));
        h.assert_not_closed();
    }
}

#[test]
fn keepalive_idle_timer_restarts_at_each_input() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        c.handle_timeout(ts(10_000));
        assert_eq!(feed(&mut c, &mut h, &peer_text(role, "a")), vec![message("a")]);
        assert_eq!(c.poll_timeout(), Some(ts(40_000)));
        // The Ping is not due 30 s after the start, only 30 s after the input.
        assert_eq!(at(&mut c, &mut h, INTERVAL), vec![]);
        c.handle_timeout(ts(39_000));
        assert_eq!(feed(&mut c, &mut h, &peer_text(role, "b")), vec![message("b")]);
        quiet_at(&mut c, &mut h, 40_000, 69_000);
        quiet_at(&mut c, &mut h, 68_999, 69_000);
        assert_eq!(at(&mut c, &mut h, 69_000), vec![Out::Wire(ping_frame(role))]);
        assert_eq!(c.poll_timeout(), Some(ts(69_000 + KEEPALIVE)));
    }
}

#[test]
fn keepalive_stamps_bytes_with_the_latest_time_given() {
    // The driver did not tell the time before feeding: the bytes count as
    // arriving at the latest time it gave.
    let mut s = server();
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    assert_eq!(at(&mut s, &mut h, 10_000), vec![]);
    assert_eq!(feed(&mut s, &mut h, &cframe(true, op::TEXT, b"x")), vec![message("x")]);
    assert_eq!(s.poll_timeout(), Some(ts(10_000 + INTERVAL)));
}

#[test]
fn keepalive_fires_after_the_input_fed_before_the_time() {
    // Bytes fed (at 0), then the time of the Ping: the message comes out
    // first, then the Ping, which is due 30 s after those bytes.
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        c.handle_bytes(&[peer_text(role, "a"), peer_text(role, "b")].concat());
        c.handle_timeout(ts(INTERVAL));
        assert_eq!(h.drain(&mut c), vec![message("a"), message("b"), Out::Wire(ping_frame(role))]);
    }
}

#[test]
fn keepalive_our_own_sending_is_not_input() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        c.handle_timeout(ts(10_000));
        c.send_text("out").unwrap();
        c.ping(&b"mine"[..]).unwrap();
        c.pong(&b"mine"[..]).unwrap();
        h.drain(&mut c);
        assert_eq!(c.poll_timeout(), Some(ts(INTERVAL)));
        assert_eq!(at(&mut c, &mut h, INTERVAL), vec![Out::Wire(ping_frame(role))]);
        // Nor while the keepalive Ping is out.
        c.handle_timeout(ts(50_000));
        c.send_text("still out").unwrap();
        h.drain(&mut c);
        assert_eq!(at(&mut c, &mut h, INTERVAL + KEEPALIVE), keepalive_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn keepalive_custom_values() {
    for role in ROLES {
        let config = Config::default().with_keepalive(Some(Duration::from_millis(1_500)), Duration::from_millis(700));
        let mut c = with_config(role, config);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        quiet_at(&mut c, &mut h, 1_499, 1_500);
        assert_eq!(at(&mut c, &mut h, 1_500), vec![Out::Wire(ping_frame(role))]);
        quiet_at(&mut c, &mut h, 2_199, 2_200);
        assert_eq!(at(&mut c, &mut h, 2_200), keepalive_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn keepalive_off_never_pings() {
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_keepalive(None, Duration::from_secs(1)));
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        assert_eq!(c.poll_timeout(), None);
        for ms in [INTERVAL, INTERVAL + KEEPALIVE, 86_400_000, u64::MAX] {
            assert_eq!(at(&mut c, &mut h, ms), vec![]);
            assert_eq!(c.poll_timeout(), None);
        }
        assert_eq!(c.ready_state(), ReadyState::Open);
    }
}

#[test]
fn keepalive_stops_while_closing() {
    // Our Close with a keepalive Ping out: the close timeout (60 s here)
    // governs; the keepalive failure due at 60 s does not come.
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_close_timeout(Some(Duration::from_secs(60))));
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        assert_eq!(at(&mut c, &mut h, INTERVAL), vec![Out::Wire(ping_frame(role))]);
        c.handle_timeout(ts(40_000));
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        assert_eq!(h.drain(&mut c), vec![Out::Wire(our_close(role, 1000, ""))]);
        assert_eq!(c.poll_timeout(), Some(ts(100_000)));
        assert_eq!(at(&mut c, &mut h, INTERVAL + KEEPALIVE), vec![]);
        quiet_at(&mut c, &mut h, 99_999, 100_000);
        assert_eq!(at(&mut c, &mut h, 100_000), close_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
    // The peer's Close to a client: no Ping while it waits for TCP close.
    let mut c = with_config(Role::Client, Config::default().with_close_timeout(Some(Duration::from_secs(90))));
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![]);
    feed(&mut c, &mut h, &sframe(true, op::CLOSE, &close_body(1000, "")));
    assert_eq!(c.poll_timeout(), Some(ts(90_000)));
    assert_eq!(at(&mut c, &mut h, INTERVAL), vec![]);
    assert_eq!(at(&mut c, &mut h, 89_999), vec![]);
    assert_eq!(at(&mut c, &mut h, 90_000), vec![Out::CloseTransport, closed_out(1000, "", true, None)]);
}

#[test]
fn keepalive_starts_after_the_opening_handshake() {
    // Server: the idle timer runs from the opening (the application's
    // accept), not the request; no Ping while CONNECTING even past the
    // interval (the handshake timeout is off).
    let config = Config::default().with_handshake_timeout(None);
    let mut s = Connection::server(config.clone());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    s.handle_timeout(ts(1_000));
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(at(&mut s, &mut h, 20_000), vec![]);
    s.accept(Accept::new()).unwrap();
    assert_eq!(h.drain(&mut s), vec![Out::Wire(SERVER_101.into()), open_event()]);
    quiet_at(&mut s, &mut h, 49_999, 50_000);
    assert_eq!(at(&mut s, &mut h, 50_000), vec![Out::Wire(ping_frame(Role::Server))]);

    // Client: from the response's arrival, which opens the connection.
    let mut c = handshake_client(config);
    let mut h = History::new();
    assert_eq!(at(&mut c, &mut h, 0), vec![Out::Wire(CLIENT_REQUEST.into())]);
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(at(&mut c, &mut h, 45_000), vec![]);
    assert_eq!(feed(&mut c, &mut h, CLIENT_101.as_bytes()), vec![open_event()]);
    quiet_at(&mut c, &mut h, 74_999, 75_000);
    assert_eq!(at(&mut c, &mut h, 75_000), vec![Out::Wire(ping_frame(Role::Client))]);
}

#[test]
fn what_a_deadline_does_comes_after_what_is_already_queued() {
    for role in ROLES {
        // Keepalive Ping behind a queued message.
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        c.send_text("queued").unwrap();
        c.handle_timeout(ts(INTERVAL));
        assert_eq!(
            h.drain(&mut c),
            vec![Out::Wire([own_frame(role, true, op::TEXT, b"queued"), ping_frame(role)].concat())]
        );
        // The failure behind another: the data still goes out first.
        c.send_text("last").unwrap();
        c.handle_timeout(ts(INTERVAL + KEEPALIVE));
        let mut want = vec![Out::Wire(own_frame(role, true, op::TEXT, b"last"))];
        want.extend(keepalive_timeout());
        assert_eq!(h.drain(&mut c), want);
        assert_no_timer_after_close(&mut c, &mut h);
    }
    // A client's request not yet taken when its handshake times out.
    let mut c = handshake_client(Config::default());
    let mut h = History::new();
    c.handle_timeout(ts(0));
    c.handle_timeout(ts(HANDSHAKE));
    let mut want = vec![Out::Wire(CLIENT_REQUEST.into())];
    want.extend(handshake_timeout());
    assert_eq!(h.drain(&mut c), want);
    assert_no_timer_after_close(&mut c, &mut h);
}

// ---------------------------------------------------------------------------
// Every timer off
// ---------------------------------------------------------------------------

#[test]
fn every_timer_off_nothing_ever_fires() {
    let far = [1, HANDSHAKE, INTERVAL, INTERVAL + KEEPALIVE, 86_400_000, u64::MAX / 2, u64::MAX];

    // CONNECTING, both roles.
    let mut s = Connection::server(no_timers());
    let mut hs = History::new();
    assert_eq!(at(&mut s, &mut hs, 0), vec![]);
    feed(&mut s, &mut hs, &SERVER_REQUEST.as_bytes()[..5]);
    let mut c = handshake_client(no_timers());
    let mut hc = History::new();
    assert_eq!(at(&mut c, &mut hc, 0), vec![Out::Wire(CLIENT_REQUEST.into())]);
    for ms in far {
        assert_eq!(at(&mut s, &mut hs, ms), vec![]);
        assert_eq!(at(&mut c, &mut hc, ms), vec![]);
        assert_eq!((s.poll_timeout(), c.poll_timeout()), (None, None));
    }

    // OPEN, then CLOSING (ours), then the client waiting for TCP close.
    for role in ROLES {
        let mut c = with_config(role, no_timers());
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        for ms in far {
            assert_eq!(at(&mut c, &mut h, ms), vec![]);
            assert_eq!(c.poll_timeout(), None);
        }
        assert_eq!(c.ready_state(), ReadyState::Open);
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(at(&mut c, &mut h, u64::MAX), vec![]);
        feed(&mut c, &mut h, &peer_close(role, 1000, ""));
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(at(&mut c, &mut h, u64::MAX), vec![]);
        match role {
            Role::Server => assert_eq!(c.ready_state(), ReadyState::Closed),
            Role::Client => assert_eq!(c.ready_state(), ReadyState::Closing),
        }
    }
}

// ---------------------------------------------------------------------------
// poll_timeout: exactly the next deadline
// ---------------------------------------------------------------------------

#[test]
fn poll_timeout_is_none_before_the_first_time() {
    let mut conns =
        vec![Connection::server(Config::default()), handshake_client(Config::default()), server(), client()];
    for c in &mut conns {
        assert_eq!(c.poll_timeout(), None);
        let _ = drain(c);
        assert_eq!(c.poll_timeout(), None);
    }
    // Input and commands do not start the clock either.
    let mut s = server();
    s.handle_bytes(&cframe(true, op::TEXT, b"x"));
    s.send_text("y").unwrap();
    s.close(Some(CloseCode::NORMAL), "").unwrap();
    let _ = drain(&mut s);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(ts(3));
    assert_eq!(s.poll_timeout(), Some(ts(3 + CLOSE)));
}

#[test]
fn poll_timeout_through_a_server_life() {
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    assert_eq!(s.poll_timeout(), Some(ts(HANDSHAKE)), "handshake");
    s.handle_timeout(ts(1_000));
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    assert_eq!(s.poll_timeout(), Some(ts(HANDSHAKE)), "request reported");
    s.handle_timeout(ts(2_000));
    s.accept(Accept::new()).unwrap();
    h.drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(ts(2_000 + INTERVAL)), "keepalive from the opening");
    s.handle_timeout(ts(5_000));
    feed(&mut s, &mut h, &cframe(true, op::TEXT, b"hi"));
    assert_eq!(s.poll_timeout(), Some(ts(5_000 + INTERVAL)), "keepalive from the message");
    assert_eq!(at(&mut s, &mut h, 35_000), vec![Out::Wire(ping_frame(Role::Server))]);
    assert_eq!(s.poll_timeout(), Some(ts(35_000 + KEEPALIVE)), "keepalive ping out");
    s.handle_timeout(ts(36_000));
    feed(&mut s, &mut h, &cframe(true, op::PONG, b""));
    assert_eq!(s.poll_timeout(), Some(ts(36_000 + INTERVAL)), "pong back");
    s.handle_timeout(ts(40_000));
    s.close(Some(CloseCode::NORMAL), "").unwrap();
    h.drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(ts(40_000 + CLOSE)), "closing");
    s.handle_timeout(ts(41_000));
    feed(&mut s, &mut h, &cframe(true, op::TEXT, b"late"));
    assert_eq!(s.poll_timeout(), Some(ts(40_000 + CLOSE)), "input while closing");
    feed(&mut s, &mut h, &cframe(true, op::CLOSE, &close_body(1000, "")));
    assert_eq!(s.poll_timeout(), None, "closed");
    assert_no_timer_after_close(&mut s, &mut h);
}

#[test]
fn poll_timeout_through_a_client_life() {
    let mut c = handshake_client(Config::default());
    let mut h = History::new();
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(at(&mut c, &mut h, 100), vec![Out::Wire(CLIENT_REQUEST.into())]);
    assert_eq!(c.poll_timeout(), Some(ts(100 + HANDSHAKE)));
    c.handle_timeout(ts(600));
    assert_eq!(feed(&mut c, &mut h, CLIENT_101.as_bytes()), vec![open_event()]);
    assert_eq!(c.poll_timeout(), Some(ts(600 + INTERVAL)));
    assert_eq!(at(&mut c, &mut h, 600 + INTERVAL), vec![Out::Wire(ping_frame(Role::Client))]);
    assert_eq!(c.poll_timeout(), Some(ts(600 + INTERVAL + KEEPALIVE)));
    // Closing with the Ping out: the close deadline replaces keepalive.
    c.handle_timeout(ts(40_000));
    c.close(Some(CloseCode::NORMAL), "").unwrap();
    h.drain(&mut c);
    assert_eq!(c.poll_timeout(), Some(ts(40_000 + CLOSE)));
    c.handle_timeout(ts(41_000));
    assert_eq!(feed(&mut c, &mut h, &sframe(true, op::CLOSE, &close_body(1000, ""))), vec![]);
    assert_eq!(c.poll_timeout(), Some(ts(40_000 + CLOSE)), "waiting for TCP close");
    assert_eq!(at(&mut c, &mut h, 40_000 + CLOSE), vec![Out::CloseTransport, closed_out(1000, "", true, None)]);
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn poll_timeout_picks_the_earliest_deadline() {
    // A short close timeout ahead of a pending keepalive failure, and a long
    // one behind it: the earlier of what applies.
    for (close_ms, want) in [(1_000, 41_000), (50_000, 90_000)] {
        let mut s =
            with_config(Role::Server, Config::default().with_close_timeout(Some(Duration::from_millis(close_ms))));
        let mut h = History::new();
        assert_eq!(at(&mut s, &mut h, 0), vec![]);
        assert_eq!(at(&mut s, &mut h, INTERVAL), vec![Out::Wire(ping_frame(Role::Server))]);
        assert_eq!(s.poll_timeout(), Some(ts(INTERVAL + KEEPALIVE)));
        s.handle_timeout(ts(40_000));
        s.close(None, "").unwrap();
        h.drain(&mut s);
        // Keepalive no longer applies once CLOSING: only the close deadline.
        assert_eq!(s.poll_timeout(), Some(ts(want)));
    }
}

#[test]
fn time_going_backwards_counts_as_the_latest_time() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 20_000), vec![]);
        assert_eq!(c.poll_timeout(), Some(ts(20_000 + INTERVAL)));
        // Earlier times change nothing…
        for ms in [19_999, 5_000, 0] {
            assert_eq!(at(&mut c, &mut h, ms), vec![]);
            assert_eq!(c.poll_timeout(), Some(ts(20_000 + INTERVAL)));
        }
        // …and bytes fed after an earlier time are stamped with the latest.
        c.handle_timeout(ts(25_000));
        c.handle_timeout(ts(1_000));
        assert_eq!(feed(&mut c, &mut h, &peer_text(role, "x")), vec![message("x")]);
        assert_eq!(c.poll_timeout(), Some(ts(25_000 + INTERVAL)));
        // A close after an earlier time starts its timer at the latest.
        c.handle_timeout(ts(2_000));
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        assert_eq!(c.poll_timeout(), Some(ts(25_000 + CLOSE)));
        // An earlier time never fires a deadline; the deadline itself does.
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        quiet_at(&mut c, &mut h, 25_000 + CLOSE - 1, 25_000 + CLOSE);
        assert_eq!(at(&mut c, &mut h, 25_000 + CLOSE), close_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
    // Past a deadline, a step back does not undo what fired.
    let mut s = server();
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    assert_eq!(at(&mut s, &mut h, INTERVAL), vec![Out::Wire(ping_frame(Role::Server))]);
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    assert_eq!(s.poll_timeout(), Some(ts(INTERVAL + KEEPALIVE)));
    assert_eq!(at(&mut s, &mut h, INTERVAL + KEEPALIVE), keepalive_timeout());
    // And a handshake started late counts from the first time given.
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 9_000), vec![]);
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    quiet_at(&mut s, &mut h, 18_999, 19_000);
    assert_eq!(at(&mut s, &mut h, 19_000), handshake_timeout());
}

// ---------------------------------------------------------------------------
// std::time::Instant
// ---------------------------------------------------------------------------

/// One step of a scripted session: the time, then an action.
#[derive(Clone, Copy, Debug)]
enum Act {
    Nothing,
    Bytes(&'static [u8]),
    Close,
    Eof,
}

/// Runs `script` on two connections built by `make`, one driven by
/// `Timestamp`s and one by `Instant`s from `base`, and checks that they agree
/// step by step.
fn compare_clocks(make: impl Fn() -> Connection, script: &[(u64, Act)], role: Role) {
    let base = Instant::now();
    let (mut a, mut b) = (make(), make());
    let (mut ha, mut hb) = (History::new(), History::new());
    assert_eq!(b.poll_timeout_at(), None, "None before the first handle_timeout_at");
    for &(ms, act) in script {
        a.handle_timeout(ts(ms));
        b.handle_timeout_at(base + Duration::from_millis(ms));
        match act {
            Act::Nothing => {}
            Act::Bytes(data) => {
                let data = peer_frame(role, true, op::TEXT, data);
                a.handle_bytes(&data);
                b.handle_bytes(&data);
            }
            Act::Close => {
                a.close(Some(CloseCode::NORMAL), "").unwrap();
                b.close(Some(CloseCode::NORMAL), "").unwrap();
            }
            Act::Eof => {
                a.handle_eof();
                b.handle_eof();
            }
        }
        assert_eq!(ha.drain(&mut a), hb.drain(&mut b), "outputs at {ms} ms ({act:?})");
        assert_eq!(
            b.poll_timeout_at(),
            a.poll_timeout().map(|t| base + t.as_duration()),
            "deadline at {ms} ms ({act:?})"
        );
        // A connection driven by Timestamps has no Instant origin.
        assert_eq!(a.poll_timeout_at(), None);
    }
    assert_eq!(ha.outs, hb.outs);
}

#[test]
fn instant_api_gives_the_same_results_as_timestamps() {
    for role in ROLES {
        // Keepalive: Ping, answer, Ping, failure. The first Instant is not
        // the base: the origin is whatever Instant comes first.
        let script = [
            (2_000, Act::Nothing),
            (31_999, Act::Nothing),
            (32_000, Act::Nothing),
            (40_000, Act::Bytes(b"pong-ish")),
            (69_999, Act::Nothing),
            (70_000, Act::Nothing),
            (99_999, Act::Nothing),
            (100_000, Act::Nothing),
            (200_000, Act::Nothing),
        ];
        compare_clocks(|| conn(role), &script, role);
        // Close timeout, and time going backwards.
        let script =
            [(0, Act::Nothing), (1_000, Act::Close), (500, Act::Nothing), (5_999, Act::Nothing), (6_000, Act::Nothing)];
        compare_clocks(|| conn(role), &script, role);
        // EOF.
        compare_clocks(|| conn(role), &[(10, Act::Nothing), (20, Act::Eof), (99_999, Act::Nothing)], role);
    }
    // The opening handshake timeout, both roles.
    let script = [(7, Act::Nothing), (10_006, Act::Nothing), (10_007, Act::Nothing), (20_000, Act::Nothing)];
    compare_clocks(|| Connection::server(Config::default()), &script, Role::Server);
    compare_clocks(|| handshake_client(Config::default()), &script, Role::Client);
}

#[test]
fn instant_api_before_the_origin_counts_as_the_latest_time() {
    let base = Instant::now() + Duration::from_secs(3_600);
    let mut s = server();
    let mut h = History::new();
    s.handle_timeout_at(base);
    assert_eq!(s.poll_timeout_at(), Some(base + Duration::from_millis(INTERVAL)));
    // Earlier than the origin: saturates to it, nothing fires.
    s.handle_timeout_at(base - Duration::from_secs(600));
    assert_eq!(h.drain(&mut s), vec![]);
    assert_eq!(s.poll_timeout_at(), Some(base + Duration::from_millis(INTERVAL)));
    s.handle_timeout_at(base + Duration::from_millis(INTERVAL - 1));
    assert_eq!(h.drain(&mut s), vec![]);
    s.handle_timeout_at(base + Duration::from_millis(INTERVAL));
    assert_eq!(h.drain(&mut s), vec![Out::Wire(ping_frame(Role::Server))]);
    s.handle_timeout_at(base);
    assert_eq!(h.drain(&mut s), vec![]);
    assert_eq!(s.poll_timeout_at(), Some(base + Duration::from_millis(INTERVAL + KEEPALIVE)));
    s.handle_timeout_at(base + Duration::from_millis(INTERVAL + KEEPALIVE));
    assert_eq!(h.drain(&mut s), keepalive_timeout());
    assert_eq!(s.poll_timeout_at(), None);
    s.handle_timeout_at(base + Duration::from_secs(86_400));
    assert_eq!(h.drain(&mut s), vec![]);
    assert_eq!(s.poll_timeout_at(), None);
}

// ---------------------------------------------------------------------------
// No timer outlives the connection
// ---------------------------------------------------------------------------

/// A connection with its timers running (time given at 0 and `ms`).
fn running(mut c: Connection, h: &mut History, ms: u64) -> Connection {
    c.handle_timeout(ts(0));
    c.handle_timeout(ts(ms));
    h.drain(&mut c);
    c
}

#[test]
fn no_timer_after_a_clean_close() {
    for role in ROLES {
        // We start the closing handshake.
        let mut h = History::new();
        let mut c = running(conn(role), &mut h, 1_000);
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        feed(&mut c, &mut h, &peer_close(role, 1000, ""));
        if role == Role::Client {
            c.handle_eof();
            h.drain(&mut c);
        }
        assert!(h.assert_closed_once_last().was_clean);
        assert_no_timer_after_close(&mut c, &mut h);

        // The peer starts it, with our keepalive Ping out.
        let mut h = History::new();
        let mut c = running(conn(role), &mut h, INTERVAL);
        assert_eq!(c.poll_timeout(), Some(ts(INTERVAL + KEEPALIVE)));
        feed(&mut c, &mut h, &peer_close(role, 1001, "bye"));
        if role == Role::Client {
            c.handle_eof();
            h.drain(&mut c);
        }
        assert!(h.assert_closed_once_last().was_clean);
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn no_timer_after_eof() {
    for role in ROLES {
        for closing in [false, true] {
            let mut h = History::new();
            let mut c = running(conn(role), &mut h, INTERVAL);
            if closing {
                c.close(Some(CloseCode::NORMAL), "").unwrap();
                h.drain(&mut c);
            }
            c.handle_eof();
            // Ended at once: no timer runs. CLOSING until `Closed` is polled
            // (before this changed: CLOSED at once), then CLOSED.
            assert_eq!(c.poll_timeout(), None);
            assert_eq!(c.ready_state(), ReadyState::Closing);
            h.drain(&mut c);
            assert_eq!(c.ready_state(), ReadyState::Closed);
            let closed = h.assert_closed_once_last();
            assert_eq!((closed.code.as_u16(), closed.was_clean, closed.error), (1006, false, None));
            assert_no_timer_after_close(&mut c, &mut h);
        }
    }
    // During the opening handshake.
    let mut h = History::new();
    let mut s = running(Connection::server(Config::default()), &mut h, 1_000);
    feed(&mut s, &mut h, &SERVER_REQUEST.as_bytes()[..30]);
    s.handle_eof();
    assert_eq!(h.drain(&mut s), failed_with(ConnectionError::Handshake(HandshakeError::Truncated)));
    assert_no_timer_after_close(&mut s, &mut h);
    let mut h = History::new();
    let mut c = running(handshake_client(Config::default()), &mut h, 1_000);
    c.handle_eof();
    assert_eq!(h.drain(&mut c), failed_with(ConnectionError::Handshake(HandshakeError::Truncated)));
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn no_timer_after_a_protocol_error() {
    for role in ROLES {
        let mut h = History::new();
        let mut c = running(conn(role), &mut h, 1_000);
        // Reserved opcode 0x3.
        let outs = feed(&mut c, &mut h, &peer_frame(role, true, 0x3, b""));
        assert_eq!(
            outs,
            vec![
                Out::Wire(our_close(role, 1002, "")),
                Out::CloseTransport,
                closed_out(1006, "", false, Some(ConnectionError::Protocol(ProtocolError::ReservedOpcode(3))))
            ]
        );
        assert_no_timer_after_close(&mut c, &mut h);
    }
}

#[test]
fn no_timer_after_a_failed_or_refused_handshake() {
    // The server refuses a malformed request.
    let mut h = History::new();
    let mut s = running(Connection::server(Config::default()), &mut h, 1_000);
    let outs = feed(&mut s, &mut h, b"GARBAGE\r\n\r\n");
    assert!(matches!(outs.as_slice(), [Out::Wire(_), Out::CloseTransport, Out::Event(Event::Closed(_))]), "{outs:?}");
    assert_no_timer_after_close(&mut s, &mut h);
    // The server application rejects.
    let mut h = History::new();
    let mut s = running(Connection::server(Config::default()), &mut h, 1_000);
    assert_upgrade_request(&feed(&mut s, &mut h, SERVER_REQUEST.as_bytes()));
    s.reject(403, &[], b"no").unwrap();
    assert_eq!(s.poll_timeout(), None);
    h.drain(&mut s);
    assert_no_timer_after_close(&mut s, &mut h);
    // The client gets a refusal.
    let mut h = History::new();
    let mut c = running(handshake_client(Config::default()), &mut h, 1_000);
    feed(&mut c, &mut h, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    assert!(matches!(h.assert_closed_once_last().error, Some(ConnectionError::Handshake(HandshakeError::Rejected(_)))));
    assert_no_timer_after_close(&mut c, &mut h);
    // close() while CONNECTING.
    let mut h = History::new();
    let mut c = running(handshake_client(Config::default()), &mut h, 1_000);
    c.close(None, "").unwrap();
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(h.drain(&mut c), failed_with(ConnectionError::ClosedWhileConnecting));
    assert_no_timer_after_close(&mut c, &mut h);
}

#[test]
fn no_timer_after_any_timeout() {
    for role in ROLES {
        // Keepalive.
        let mut h = History::new();
        let mut c = running(conn(role), &mut h, INTERVAL);
        assert_eq!(at(&mut c, &mut h, INTERVAL + KEEPALIVE), keepalive_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
        // Close.
        let mut h = History::new();
        let mut c = running(conn(role), &mut h, 1);
        c.close(None, "").unwrap();
        h.drain(&mut c);
        assert_eq!(at(&mut c, &mut h, 1 + CLOSE), close_timeout());
        assert_no_timer_after_close(&mut c, &mut h);
    }
    // Handshake.
    let mut h = History::new();
    let mut s = running(Connection::server(Config::default()), &mut h, 1);
    assert_eq!(at(&mut s, &mut h, HANDSHAKE), handshake_timeout());
    assert_no_timer_after_close(&mut s, &mut h);
}

#[test]
fn a_deadline_far_past_fires_once_and_in_order() {
    // One `handle_timeout` far past every deadline: the handshake timeout
    // fires, and nothing after it.
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(at(&mut s, &mut h, 0), vec![]);
    assert_eq!(at(&mut s, &mut h, u64::MAX), handshake_timeout());
    assert_no_timer_after_close(&mut s, &mut h);
    // OPEN and silent for a day: one Ping (the failure is then 30 s away),
    // not an immediate failure.
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        assert_eq!(at(&mut c, &mut h, 0), vec![]);
        assert_eq!(at(&mut c, &mut h, 86_400_000), vec![Out::Wire(ping_frame(role))]);
        assert_eq!(c.poll_timeout(), Some(ts(86_400_000 + KEEPALIVE)));
    }
}

// ---------------------------------------------------------------------------
// Property: deadlines are honoured under any interleaving
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Start {
    Open(Role),
    Server,
    Client,
}

#[derive(Clone, Debug)]
enum Op {
    /// A valid data frame from the peer (text or binary).
    Message(bool, u8),
    PeerPing,
    PeerPong,
    /// A non-final data frame.
    Fragment,
    PeerClose(u16),
    /// Invalid bytes (each variant fails the connection when processed).
    Garbage(u8),
    /// The first byte of a frame.
    Partial,
    Send(u8),
    Ping,
    Close,
    Eof,
    /// Advance the clock by this many ms.
    Advance(u32),
    /// `handle_timeout` at the reported deadline plus this offset (ms).
    AtDeadline(i8),
    /// Move the clock back by this many ms.
    Back(u32),
    /// The next step of the opening handshake (request halves and
    /// `accept()` for a server, the 101 for a client).
    Handshake,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 0u8..40).prop_map(|(t, n)| Op::Message(t, n)),
        1 => Just(Op::PeerPing),
        1 => Just(Op::PeerPong),
        1 => Just(Op::Fragment),
        1 => prop_oneof![Just(1000u16), Just(1001), Just(4000)].prop_map(Op::PeerClose),
        1 => (0u8..4).prop_map(Op::Garbage),
        1 => Just(Op::Partial),
        2 => any::<u8>().prop_map(Op::Send),
        1 => Just(Op::Ping),
        2 => Just(Op::Close),
        1 => Just(Op::Eof),
        6 => prop_oneof![0u32..5, 0u32..45_000].prop_map(Op::Advance),
        4 => (-2i8..=2).prop_map(Op::AtDeadline),
        1 => (0u32..20_000).prop_map(Op::Back),
        4 => Just(Op::Handshake),
    ]
}

fn ms_option(max: u64) -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![1 => Just(None), 3 => (1..max).prop_map(|m| Some(Duration::from_millis(m)))]
}

fn config_strategy() -> impl Strategy<Value = Config> {
    (ms_option(15_000), ms_option(10_000), ms_option(40_000), 1u64..40_000).prop_map(|(hs, close, ka, kt)| {
        Config::default()
            .with_handshake_timeout(hs)
            .with_close_timeout(close)
            .with_keepalive(ka, Duration::from_millis(kt))
    })
}

fn start_strategy() -> impl Strategy<Value = Start> {
    prop_oneof![
        Just(Start::Open(Role::Server)),
        Just(Start::Open(Role::Client)),
        Just(Start::Server),
        Just(Start::Client),
    ]
}

fn millis(t: Timestamp) -> u64 {
    u64::try_from(t.as_duration().as_millis()).expect("test times fit in u64 ms")
}

/// Is `o` something only a timer makes: a timeout's `Closed`?
fn is_timeout(o: &Out) -> bool {
    matches!(
        o,
        Out::Event(Event::Closed(wsmachine::Closed {
            error: Some(
                ConnectionError::CloseTimeout
                    | ConnectionError::KeepaliveTimeout
                    | ConnectionError::Handshake(HandshakeError::Timeout)
            ),
            ..
        }))
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn deadlines_are_honoured_under_any_interleaving(
        start in start_strategy(),
        config in config_strategy(),
        first_time in 0u64..100_000,
        handshake_first in any::<bool>(),
        ops in proptest::collection::vec(op_strategy(), 0..48),
    ) {
        let mut c = match start {
            Start::Open(role) => with_config(role, config),
            Start::Server => Connection::server(config),
            Start::Client => handshake_client(config),
        };
        let role = c.role();
        let mut h = History::new();
        let mut now: Option<u64> = None;
        let mut request_fed = 0usize;
        let mut response_fed = false;
        // A client's request comes out before any time is given.
        h.drain(&mut c);
        // The clock starts with the first op or here, so that most runs have
        // timers; a run may also start without one (first_time odd: later).
        if first_time % 2 == 0 {
            c.handle_timeout(ts(first_time));
            now = Some(first_time);
            h.drain(&mut c);
        }
        // Half the runs of the handshaking constructors open at once, so that
        // the ops run against a handshaken connection.
        let first_ops = match start {
            Start::Server if handshake_first => vec![Op::Handshake, Op::Handshake, Op::Handshake],
            Start::Client if handshake_first => vec![Op::Handshake],
            _ => vec![],
        };
        for op in first_ops.iter().chain(&ops) {
            let before = c.poll_timeout();
            let was_closed = c.ready_state() == ReadyState::Closed;
            let time_target = match *op {
                Op::Advance(d) => Some(now.unwrap_or(first_time) + u64::from(d)),
                Op::Back(d) => Some(now.unwrap_or(first_time).saturating_sub(u64::from(d))),
                Op::AtDeadline(off) => {
                    let base = before.map_or(now.unwrap_or(first_time), millis);
                    Some(base.saturating_add_signed(i64::from(off)))
                }
                _ => None,
            };
            let outs = if let Some(target) = time_target {
                let first = now.is_none();
                c.handle_timeout(ts(target));
                let effective = now.map_or(target, |n| n.max(target));
                now = Some(effective);
                let outs = h.drain(&mut c);
                let after = c.poll_timeout();
                match before {
                    Some(d) if effective >= millis(d) => {
                        // Due: something happens, or the deadline moves later.
                        prop_assert!(
                            !outs.is_empty() || after.is_some_and(|a| a > d),
                            "deadline {d:?} passed at {effective} ms: nothing happened, next {after:?}"
                        );
                    }
                    Some(d) => {
                        prop_assert_eq!(&outs, &vec![], "fired before its deadline {:?} at {}", d, effective);
                        prop_assert_eq!(after, Some(d), "deadline moved without cause");
                    }
                    None => {
                        prop_assert_eq!(&outs, &vec![], "fired with no deadline at {}", effective);
                        if !first {
                            prop_assert_eq!(after, None, "a timer started from time alone");
                        }
                    }
                }
                outs
            } else {
                match *op {
                    Op::Message(text, n) => {
                        let payload = vec![b'a' + n % 26; usize::from(n)];
                        let opcode = if text { op::TEXT } else { op::BINARY };
                        c.handle_bytes(&peer_frame(role, true, opcode, &payload));
                    }
                    Op::PeerPing => c.handle_bytes(&peer_frame(role, true, op::PING, b"hb")),
                    Op::PeerPong => c.handle_bytes(&peer_frame(role, true, op::PONG, b"")),
                    Op::Fragment => c.handle_bytes(&peer_frame(role, false, op::BINARY, b"frag")),
                    Op::PeerClose(code) => c.handle_bytes(&peer_close(role, code, "")),
                    Op::Garbage(k) => {
                        let g = match k {
                            0 => peer_frame(role, true, 0x3, b""),
                            1 => peer_frame_rsv(role, true, 0b100, op::TEXT, b"x"),
                            2 => peer_frame(role, true, op::TEXT, &[0xff, 0xfe]),
                            _ => peer_frame(role, true, op::CLOSE, &[0x03]),
                        };
                        c.handle_bytes(&g);
                    }
                    Op::Partial => c.handle_bytes(&peer_text(role, "partial")[..1]),
                    Op::Send(n) => {
                        let _ = c.send_binary(vec![n; usize::from(n % 50)]);
                    }
                    Op::Ping => {
                        let _ = c.ping(&b"me"[..]);
                    }
                    Op::Close => {
                        let _ = c.close(Some(CloseCode::NORMAL), "");
                    }
                    Op::Eof => c.handle_eof(),
                    Op::Handshake => match start {
                        Start::Server => {
                            let req = SERVER_REQUEST.as_bytes();
                            let half = req.len() / 2;
                            match request_fed {
                                0 => c.handle_bytes(&req[..half]),
                                1 => c.handle_bytes(&req[half..]),
                                _ => {
                                    let _ = c.accept(Accept::new());
                                }
                            }
                            request_fed += 1;
                        }
                        Start::Client if !response_fed => {
                            c.handle_bytes(CLIENT_101.as_bytes());
                            response_fed = true;
                        }
                        _ => {}
                    },
                    Op::Advance(_) | Op::AtDeadline(_) | Op::Back(_) => unreachable!(),
                }
                let outs = h.drain(&mut c);
                // Nothing but time makes a timeout.
                prop_assert!(!outs.iter().any(is_timeout), "a timeout without time passing: {outs:?}");
                outs
            };
            if was_closed {
                prop_assert_eq!(&outs, &vec![], "output after Closed");
            }
            // No deadline is left overdue after a drain.
            if let (Some(n), Some(d)) = (now, c.poll_timeout()) {
                prop_assert!(millis(d) > n, "deadline {d:?} overdue at {n} ms after {op:?}");
            }
            if c.ready_state() == ReadyState::Closed {
                prop_assert_eq!(c.poll_timeout(), None);
            }
        }
        // End it if it is still running: by time when timers run, else EOF.
        if c.ready_state() != ReadyState::Closed {
            c.handle_timeout(ts(u64::MAX / 4));
            h.drain(&mut c);
            c.handle_timeout(ts(u64::MAX / 2));
            h.drain(&mut c);
            if c.ready_state() != ReadyState::Closed {
                c.handle_eof();
                h.drain(&mut c);
            }
            // A server whose client half-closed after its request waits for
            // the application's answer (with no handshake timeout, forever).
            if c.ready_state() != ReadyState::Closed {
                prop_assert!(matches!(start, Start::Server), "still {:?}", c.ready_state());
                c.accept(Accept::new()).expect("a request awaits its answer");
                h.drain(&mut c);
            }
        }
        let closed = h.assert_closed_once_last();
        prop_assert!(closed.was_clean || closed.code == 1006, "{closed:?}");
        prop_assert_eq!(c.poll_timeout(), None);
        for ms in [0, u64::MAX / 2, u64::MAX] {
            c.handle_timeout(ts(ms));
            prop_assert_eq!(h.drain(&mut c), vec![]);
            prop_assert_eq!(c.poll_timeout(), None);
        }
        h.assert_closed_once_last();
    }
}

/// A read's last message leaves nothing to process: the connection wants
/// the next read at once. A deadline that came due before that read is
/// still acted on once the message is taken, and only then.
#[test]
fn the_last_message_of_a_read_leaves_the_deadlines_checked() {
    let mut c = server();
    c.handle_timeout(ts(0));
    assert!(c.poll_output().is_none());
    c.handle_bytes(&peer_frame(Role::Server, true, op::TEXT, b"hi"));
    assert!(!c.wants_read());
    assert!(matches!(c.poll_output(), Some(wsmachine::Output::Event(Event::Message(_)))));
    assert!(c.wants_read(), "nothing is left to process");
    assert!(c.poll_output().is_none());

    // Our Close is out and the close timeout (5 s) passed; a message comes
    // in the same wake-up: the message first, then the time is acted on.
    c.close(Some(CloseCode::NORMAL), "").unwrap();
    assert!(matches!(c.poll_output(), Some(wsmachine::Output::Transmit(_))));
    c.handle_timeout(ts(6_000));
    c.handle_bytes(&peer_frame(Role::Server, true, op::TEXT, b"late"));
    assert!(matches!(c.poll_output(), Some(wsmachine::Output::Event(Event::Message(_)))));
    assert!(!c.wants_read(), "the time is still to be acted on");
    assert!(matches!(c.poll_output(), Some(wsmachine::Output::CloseTransport)));
    let Some(wsmachine::Output::Event(Event::Closed(closed))) = c.poll_output() else { panic!("no Closed") };
    assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false));
}
