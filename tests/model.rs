//! Model-based test of the closing rules: a small reference model of
//! `readyState` and the closing handshake (RFC 6455 §7, WHATWG's `close()`
//! and `CloseEvent`), written from the documentation, driven by random
//! operations and compared with `Connection` after every step.
//!
//! The model knows CONNECTING / OPEN / CLOSING / CLOSED, whether our Close
//! was sent and the peer's received, when the closing handshake started, and
//! who closes the transport (§7.1.1: the server at once, the client at the
//! server's EOF or at the close timeout). Operations: `send`, `ping`
//! (including payloads over 125 bytes), `close` with valid and invalid codes
//! and reasons, the peer's opening head, message, Ping, Pong, Close with and
//! without a code (valid or not), invalid frames of five kinds, EOF, and time
//! steps (some past the close and handshake timeouts).
//!
//! Compared at each step: the command's `Result`, `ready_state`, and every
//! output in order: our frames on the wire (opcode and unmasked payload:
//! data, Pongs and the Close frames), the events (messages, Ping, Pong,
//! `Closing`, `Closed` with code, reason, `was_clean` and error) and
//! `CloseTransport`.
use proptest::prelude::*;
use std::time::Duration;
use wsmachine::handshake::{Accept, ClientRequest, accept_key, key_from_nonce};
use wsmachine::{
    CloseCode, CloseError, Config, Connection, ConnectionError, Entropy, Event, HandshakeError, Message, Output,
    ProtocolError, ReadyState, Role, SendError, Timestamp,
};

const CLOSE_TIMEOUT: u64 = 5_000;
const HANDSHAKE_TIMEOUT: u64 = 10_000;

/// A counter: the 16-byte handshake nonce is 0..16, masks follow.
struct Counter(u8);

impl Entropy for Counter {
    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}

fn config() -> Config {
    Config::default()
        .with_close_timeout(Some(Duration::from_millis(CLOSE_TIMEOUT)))
        .with_handshake_timeout(Some(Duration::from_millis(HANDSHAKE_TIMEOUT)))
        .with_keepalive(None, Duration::from_secs(1))
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn response_101() -> Vec<u8> {
    let nonce: [u8; 16] = core::array::from_fn(|i| i as u8);
    let accept = accept_key(key_from_nonce(nonce).as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------
// Operations

#[derive(Clone, Debug)]
enum Peer {
    Message {
        text: bool,
    },
    Ping,
    Pong,
    Close(Option<u16>),
    /// 0 reserved opcode, 1 RSV1, 2 wrong masking, 3 1-byte Close, 4 invalid UTF-8.
    Invalid(u8),
}

#[derive(Clone, Debug)]
enum Op {
    Send { text: bool, len: usize },
    Ping(usize),
    Close { code: Option<u16>, reason_len: usize },
    Handshake,
    Peer(Peer),
    Eof,
    Time(u64),
}

fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(1000u16),
        Just(1001),
        Just(1011),
        Just(3000),
        Just(4999),
        // Never sendable: reserved, reported-only, unassigned.
        Just(1004),
        Just(1005),
        Just(1006),
        Just(1015),
        Just(999),
        Just(2000),
        Just(5000),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 0usize..40).prop_map(|(text, len)| Op::Send { text, len }),
        1 => prop_oneof![0usize..4, 124usize..128].prop_map(Op::Ping),
        2 => (proptest::option::of(close_code()), prop_oneof![0usize..4, 122usize..126])
            .prop_map(|(code, reason_len)| Op::Close { code, reason_len }),
        2 => Just(Op::Handshake),
        3 => any::<bool>().prop_map(|text| Op::Peer(Peer::Message { text })),
        1 => Just(Op::Peer(Peer::Ping)),
        1 => Just(Op::Peer(Peer::Pong)),
        2 => proptest::option::of(close_code()).prop_map(|c| Op::Peer(Peer::Close(c))),
        1 => (0u8..5).prop_map(|k| Op::Peer(Peer::Invalid(k))),
        1 => Just(Op::Eof),
        2 => prop_oneof![Just(1_000u64), Just(4_000), Just(5_000), Just(6_000), Just(11_000)].prop_map(Op::Time),
    ]
}

// ---------------------------------------------------------------------------
// What is observed

#[derive(Clone, Debug, PartialEq)]
enum Out {
    /// An HTTP head written during the opening handshake.
    Head,
    /// One of our frames: opcode and unmasked payload.
    Frame(u8, Vec<u8>),
    UpgradeRequest,
    Open,
    Message(bool, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Closing(u16, String),
    Closed {
        code: u16,
        reason: String,
        clean: bool,
        error: Option<ConnectionError>,
    },
    CloseTransport,
}

fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

fn close_body(code: Option<u16>, reason: &str) -> Vec<u8> {
    match code {
        Some(c) => {
            let mut b = c.to_be_bytes().to_vec();
            b.extend_from_slice(reason.as_bytes());
            b
        }
        None => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// The reference model

#[derive(Debug)]
struct Model {
    role: Role,
    connecting: bool,
    close_sent: bool,
    /// The peer's Close: code (1005 for none) and reason.
    close_received: Option<(u16, String)>,
    closed: bool,
    now: u64,
    closing_started: Option<u64>,
}

impl Model {
    fn state(&self) -> ReadyState {
        if self.closed {
            ReadyState::Closed
        } else if self.connecting {
            ReadyState::Connecting
        } else if self.close_sent || self.close_received.is_some() {
            ReadyState::Closing
        } else {
            ReadyState::Open
        }
    }

    fn reading(&self) -> bool {
        !self.closed && !self.connecting && self.close_received.is_none()
    }

    /// CloseTransport, then Closed: the end.
    fn finish(&mut self, out: &mut Vec<Out>, code: u16, reason: String, clean: bool, error: Option<ConnectionError>) {
        out.push(Out::CloseTransport);
        out.push(Out::Closed { code, reason, clean, error });
        self.closed = true;
    }

    fn send_close(&mut self, out: &mut Vec<Out>, code: Option<u16>, reason: &str) {
        out.push(Out::Frame(8, close_body(code, reason)));
        self.close_sent = true;
        self.closing_started.get_or_insert(self.now);
    }

    /// §7.1.7: our Close with the error's code unless ours went already.
    fn fail(&mut self, out: &mut Vec<Out>, error: ProtocolError) {
        if !self.close_sent {
            out.push(Out::Frame(8, error.close_code().as_u16().to_be_bytes().to_vec()));
        }
        self.finish(out, 1006, String::new(), false, Some(ConnectionError::Protocol(error)));
    }

    /// The command's result (Ok or the error's Debug) and the outputs.
    fn step(&mut self, op: &Op) -> (Option<String>, Vec<Out>) {
        let mut out = Vec::new();
        let result = match op {
            Op::Send { text, len } => Some(match self.state() {
                ReadyState::Open => {
                    out.push(Out::Frame(if *text { 1 } else { 2 }, payload(*len)));
                    "Ok".to_string()
                }
                s => format!("{:?}", SendError::NotOpen(s)),
            }),
            Op::Ping(len) => Some(if *len > 125 {
                format!("{:?}", SendError::ControlPayloadTooLong(*len))
            } else {
                // A control frame: allowed after our Close until the peer's.
                match self.state() {
                    ReadyState::Open | ReadyState::Closing if self.close_received.is_none() && !self.closed => {
                        out.push(Out::Frame(9, payload(*len)));
                        "Ok".to_string()
                    }
                    s => format!("{:?}", SendError::NotOpen(s)),
                }
            }),
            Op::Close { code, reason_len } => Some(match code {
                Some(c) if !sendable(*c) => format!("{:?}", CloseError::InvalidCode(*c)),
                _ if *reason_len > 123 => format!("{:?}", CloseError::ReasonTooLong(*reason_len)),
                _ => {
                    match self.state() {
                        ReadyState::Connecting => self.finish(
                            &mut out,
                            1006,
                            String::new(),
                            false,
                            Some(ConnectionError::ClosedWhileConnecting),
                        ),
                        ReadyState::Open => {
                            let reason = String::from_utf8(payload(*reason_len)).unwrap();
                            // A reason without a code is not sent (WHATWG).
                            self.send_close(&mut out, *code, if code.is_some() { &reason } else { "" });
                        }
                        _ => {}
                    }
                    "Ok".to_string()
                }
            }),
            Op::Handshake => {
                if self.connecting && !self.closed {
                    if self.role == Role::Server {
                        out.extend([Out::UpgradeRequest, Out::Head]);
                    }
                    out.push(Out::Open);
                    self.connecting = false;
                }
                None
            }
            Op::Peer(p) => {
                if self.reading() {
                    self.peer(p, &mut out);
                }
                None
            }
            Op::Eof => {
                if !self.closed {
                    if self.connecting {
                        let e = ConnectionError::Handshake(HandshakeError::Truncated);
                        self.finish(&mut out, 1006, String::new(), false, Some(e));
                    } else {
                        match (self.close_received.clone(), self.close_sent) {
                            (Some((code, reason)), true) => self.finish(&mut out, code, reason, true, None),
                            _ => self.finish(&mut out, 1006, String::new(), false, None),
                        }
                    }
                }
                None
            }
            Op::Time(dt) => {
                self.now += dt;
                if !self.closed {
                    if self.connecting {
                        if self.now >= HANDSHAKE_TIMEOUT {
                            let e = ConnectionError::Handshake(HandshakeError::Timeout);
                            self.finish(&mut out, 1006, String::new(), false, Some(e));
                        }
                    } else if self.closing_started.is_some_and(|t| self.now >= t + CLOSE_TIMEOUT) {
                        match (self.close_received.clone(), self.close_sent) {
                            // Both Close frames passed; the server did not
                            // close TCP: the client does, still clean.
                            (Some((code, reason)), true) => self.finish(&mut out, code, reason, true, None),
                            _ => self.finish(&mut out, 1006, String::new(), false, Some(ConnectionError::CloseTimeout)),
                        }
                    }
                }
                None
            }
        };
        (result, out)
    }

    fn peer(&mut self, p: &Peer, out: &mut Vec<Out>) {
        match p {
            Peer::Message { text } => out.push(Out::Message(*text, message_payload(*text))),
            Peer::Ping => {
                // Answered until the peer's Close, even after ours (§5.5.2);
                // only read until then.
                out.push(Out::Frame(10, b"p".to_vec()));
                out.push(Out::Ping(b"p".to_vec()));
            }
            Peer::Pong => out.push(Out::Pong(b"q".to_vec())),
            Peer::Close(Some(c)) if !sendable(*c) => self.fail(out, ProtocolError::InvalidCloseCode(*c)),
            Peer::Close(code) => {
                let reason = if code.is_some() { "r".to_string() } else { String::new() };
                let reported = code.unwrap_or(1005);
                if !self.close_sent {
                    // Echo the code and reason (§5.5.1), then Closing.
                    self.send_close(out, *code, &reason);
                    out.push(Out::Closing(reported, reason.clone()));
                }
                self.close_received = Some((reported, reason.clone()));
                self.closing_started.get_or_insert(self.now);
                if self.role == Role::Server {
                    self.finish(out, reported, reason, true, None);
                }
            }
            Peer::Invalid(kind) => {
                let e = match kind {
                    0 => ProtocolError::ReservedOpcode(3),
                    1 => ProtocolError::ReservedBits(0b100),
                    2 if self.role == Role::Server => ProtocolError::UnmaskedClientFrame,
                    2 => ProtocolError::MaskedServerFrame,
                    3 => ProtocolError::InvalidClosePayload,
                    _ => ProtocolError::InvalidUtf8,
                };
                self.fail(out, e);
            }
        }
    }
}

fn message_payload(text: bool) -> Vec<u8> {
    if text { "héllo".as_bytes().to_vec() } else { vec![0, 1, 2, 255] }
}

// ---------------------------------------------------------------------------
// The real connection

/// The peer's frame, masked when the peer is a client (`wrong`: the other way).
fn peer_frame(receiver: Role, b0: u8, payload: &[u8], wrong: bool) -> Vec<u8> {
    let masked = (receiver == Role::Server) != wrong;
    let mut f = vec![b0, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

struct Real {
    conn: Connection,
    role: Role,
    opened: bool,
    rx: Vec<u8>,
}

impl Real {
    fn new(role: Role, connecting: bool) -> Self {
        let conn = match (connecting, role) {
            (false, _) => Connection::new_open(role, config(), Counter(0)),
            (true, Role::Server) => Connection::server(config()),
            (true, Role::Client) => {
                Connection::client(ClientRequest::new("ws://example.com/chat").unwrap(), config(), Counter(0)).unwrap()
            }
        };
        let mut real = Self { conn, role, opened: !connecting, rx: Vec::new() };
        real.conn.handle_timeout(Timestamp::from_millis(0));
        // A client's request goes out first.
        let first = real.drain();
        assert!(first.iter().all(|o| *o == Out::Head), "{first:?}");
        real
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(o) = self.conn.poll_output() {
            match o {
                Output::Transmit(b) if !self.opened => {
                    if out.last() != Some(&Out::Head) {
                        out.push(Out::Head);
                    }
                    let _ = b;
                }
                Output::Transmit(b) => {
                    self.rx.extend_from_slice(&b);
                    self.frames(&mut out);
                }
                Output::CloseTransport => out.push(Out::CloseTransport),
                Output::Event(e) => out.push(match e {
                    Event::UpgradeRequest(_) => {
                        self.conn.accept(Accept::new()).expect("accept");
                        Out::UpgradeRequest
                    }
                    Event::Open(_) => {
                        self.opened = true;
                        Out::Open
                    }
                    Event::Message(Message::Text(t)) => Out::Message(true, t.as_bytes().to_vec()),
                    Event::Message(Message::Binary(b)) => Out::Message(false, b.to_vec()),
                    Event::Ping(p) => Out::Ping(p.to_vec()),
                    Event::Pong(p) => Out::Pong(p.to_vec()),
                    Event::Closing(f) => Out::Closing(f.code.as_u16(), f.reason),
                    Event::Closed(c) => {
                        Out::Closed { code: c.code.as_u16(), reason: c.reason, clean: c.was_clean, error: c.error }
                    }
                    other => panic!("unexpected event {other:?}"),
                }),
                other => panic!("unexpected output {other:?}"),
            }
        }
        assert!(self.rx.is_empty(), "a partial frame after a drain");
        out
    }

    /// Parses our complete frames out of `rx`.
    fn frames(&mut self, out: &mut Vec<Out>) {
        loop {
            let b = &self.rx;
            if b.len() < 2 {
                return;
            }
            let masked = b[1] & 0x80 != 0;
            assert_eq!(masked, self.role == Role::Client, "mask bit");
            let (len, mut pos) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
                126 | 127 => return,
                n => (usize::from(n), 2),
            };
            let key = if masked {
                if b.len() < pos + 4 {
                    return;
                }
                pos += 4;
                Some([b[pos - 4], b[pos - 3], b[pos - 2], b[pos - 1]])
            } else {
                None
            };
            if b.len() < pos + len {
                return;
            }
            assert!(b[0] & 0x80 != 0, "fragment_size is off: every frame is final");
            let mut payload = b[pos..pos + len].to_vec();
            if let Some(k) = key {
                for (i, x) in payload.iter_mut().enumerate() {
                    *x ^= k[i % 4];
                }
            }
            out.push(Out::Frame(b[0] & 0xf, payload));
            self.rx.drain(..pos + len);
        }
    }

    fn step(&mut self, op: &Op, now: u64) -> (Option<String>, Vec<Out>) {
        let show = |r: Result<(), SendError>| r.map_or_else(|e| format!("{e:?}"), |()| "Ok".to_string());
        let result = match op {
            Op::Send { text: true, len } => Some(show(self.conn.send_text(String::from_utf8(payload(*len)).unwrap()))),
            Op::Send { text: false, len } => Some(show(self.conn.send_binary(payload(*len)))),
            Op::Ping(len) => Some(show(self.conn.ping(payload(*len)))),
            Op::Close { code, reason_len } => {
                let reason = String::from_utf8(payload(*reason_len)).unwrap();
                Some(
                    self.conn
                        .close(code.map(CloseCode::new), &reason)
                        .map_or_else(|e| format!("{e:?}"), |()| "Ok".to_string()),
                )
            }
            Op::Handshake => {
                // Only while CONNECTING, like the model: in OPEN these bytes
                // would be a framing error, not a handshake.
                if !self.opened {
                    let head = match self.role {
                        Role::Server => REQUEST.to_vec(),
                        Role::Client => response_101(),
                    };
                    self.conn.handle_bytes(&head);
                }
                None
            }
            Op::Peer(p) => {
                // Frames are only sent once OPEN (the model skips them before).
                if self.opened {
                    let r = self.role;
                    let bytes = match p {
                        Peer::Message { text } => {
                            peer_frame(r, if *text { 0x81 } else { 0x82 }, &message_payload(*text), false)
                        }
                        Peer::Ping => peer_frame(r, 0x89, b"p", false),
                        Peer::Pong => peer_frame(r, 0x8a, b"q", false),
                        Peer::Close(code) => {
                            peer_frame(r, 0x88, &close_body(*code, if code.is_some() { "r" } else { "" }), false)
                        }
                        Peer::Invalid(0) => peer_frame(r, 0x83, b"", false),
                        Peer::Invalid(1) => peer_frame(r, 0xc1, b"x", false),
                        Peer::Invalid(2) => peer_frame(r, 0x81, b"x", true),
                        Peer::Invalid(3) => peer_frame(r, 0x88, b"\x03", false),
                        Peer::Invalid(_) => peer_frame(r, 0x81, b"a\xff", false),
                    };
                    self.conn.handle_bytes(&bytes);
                }
                None
            }
            Op::Eof => {
                self.conn.handle_eof();
                None
            }
            Op::Time(_) => {
                self.conn.handle_timeout(Timestamp::from_millis(now));
                None
            }
        };
        (result, self.drain())
    }
}

fn run(role: Role, connecting: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model {
        role,
        connecting,
        close_sent: false,
        close_received: None,
        closed: false,
        now: 0,
        closing_started: None,
    };
    let mut real = Real::new(role, connecting);
    for (i, op) in ops.iter().enumerate() {
        let (want_result, want_out) = model.step(op);
        let (got_result, got_out) = real.step(op, model.now);
        prop_assert_eq!(&got_result, &want_result, "result of step {} {:?}", i, op);
        prop_assert_eq!(&got_out, &want_out, "outputs of step {} {:?}", i, op);
        prop_assert_eq!(real.conn.ready_state(), model.state(), "ready_state after step {} {:?}", i, op);
    }
    // EOF ends every connection; nothing after Closed.
    let (_, _) = model.step(&Op::Eof);
    let (_, _) = real.step(&Op::Eof, model.now);
    prop_assert_eq!(real.conn.ready_state(), ReadyState::Closed);
    real.conn.handle_bytes(b"\x81\x00");
    prop_assert_eq!(real.conn.poll_output(), None);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn closing_rules_match_the_model(
        server in any::<bool>(),
        connecting in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..30),
    ) {
        run(if server { Role::Server } else { Role::Client }, connecting, &ops)?;
    }
}

/// A few fixed sequences, so the basic paths run whatever proptest draws.
#[test]
fn fixed_sequences() {
    use Op::*;
    let seqs: Vec<Vec<Op>> = vec![
        vec![
            Send { text: true, len: 3 },
            Close { code: Some(1000), reason_len: 2 },
            Peer(self::Peer::Close(Some(1000))),
        ],
        vec![Peer(self::Peer::Close(None)), Send { text: false, len: 1 }, Time(6_000)],
        vec![Close { code: None, reason_len: 3 }, Time(4_000), Peer(self::Peer::Message { text: true }), Time(1_000)],
        vec![Handshake, Peer(self::Peer::Ping), Close { code: Some(1005), reason_len: 0 }, Eof],
        vec![Time(11_000), Handshake],
        vec![Peer(self::Peer::Close(Some(1004)))],
        vec![Peer(self::Peer::Invalid(4)), Eof],
    ];
    for ops in &seqs {
        for role in [Role::Server, Role::Client] {
            for connecting in [false, true] {
                run(role, connecting, ops).unwrap_or_else(|e| panic!("{role:?} {connecting} {ops:?}: {e}"));
            }
        }
    }
}
