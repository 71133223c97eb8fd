//! Shared test helpers: deterministic entropy, output collection, an in-memory pair.
#![allow(dead_code, unreachable_pub)]

use wsmachine::handshake::Accept;
use wsmachine::{Bytes, Closed, Config, Connection, Entropy, Event, Output, Role};

/// Entropy that repeats a fixed 4-byte pattern: every mask key is `key`.
#[derive(Clone, Copy, Debug)]
pub struct FixedMask(pub [u8; 4]);

impl Entropy for FixedMask {
    fn fill(&mut self, dest: &mut [u8]) {
        for (i, b) in dest.iter_mut().enumerate() {
            *b = self.0[i % 4];
        }
    }
}

/// The client handshake of RFC 6455 §1.2 (L245–L253), in its order.
pub const RFC_REQUEST: &str = include!("rfc_request.in");

/// The §5.7 masking key.
pub const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub fn server() -> Connection {
    Connection::new_open(Role::Server, Config::default(), FixedMask(RFC_KEY))
}

pub fn client() -> Connection {
    Connection::new_open(Role::Client, Config::default(), FixedMask(RFC_KEY))
}

pub fn with_config(role: Role, config: Config) -> Connection {
    Connection::new_open(role, config, FixedMask(RFC_KEY))
}

/// What a drain of `poll_output` produced, in order, with transmits joined
/// into one byte string per run.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Wire(Vec<u8>),
    Event(Event),
    CloseTransport,
}

/// Drains every output, merging consecutive transmits.
pub fn drain(conn: &mut Connection) -> Vec<Out> {
    let mut outs = Vec::new();
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Transmit(b) => match outs.last_mut() {
                Some(Out::Wire(w)) => w.extend_from_slice(&b),
                _ => outs.push(Out::Wire(b.to_vec())),
            },
            Output::Event(e) => outs.push(Out::Event(e)),
            Output::CloseTransport => outs.push(Out::CloseTransport),
            other => panic!("unexpected output {other:?}"),
        }
    }
    outs
}

/// All bytes written by a drain.
pub fn wire(outs: &[Out]) -> Vec<u8> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Wire(w) => Some(w.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// All events of a drain.
pub fn events(outs: &[Out]) -> Vec<Event> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The message an event carries, if it is one.
pub fn message_of(event: &Event) -> Option<wsmachine::Message> {
    match event {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    }
}

/// The `Closed` event of a drain, if any.
pub fn closed(outs: &[Out]) -> Option<Closed> {
    outs.iter().find_map(|o| match o {
        Out::Event(Event::Closed(c)) => Some(c.clone()),
        _ => None,
    })
}

/// Builds one frame. `mask`: Some(key) to mask the payload.
pub fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        v.push(m | len as u8);
    } else if len <= 0xFFFF {
        v.push(m | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(m | 127);
        v.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            v.extend_from_slice(&k);
            v.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => v.extend_from_slice(payload),
    }
    v
}

/// A frame as a client sends it (masked with the RFC key).
pub fn cframe(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, Some(RFC_KEY), payload)
}

/// A frame as a server sends it (unmasked).
pub fn sframe(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, None, payload)
}

/// A Close frame payload.
pub fn close_body(code: u16, reason: &str) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason.as_bytes());
    v
}

/// Two connected endpoints in memory.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub client_transport_closed: bool,
    pub server_transport_closed: bool,
    /// With [`Pair::record_wire`]: what the client wrote once it reported
    /// `Open` (from the start for a pair built open).
    pub client_wire: Vec<u8>,
    /// As `client_wire`, for the server (whose 101 goes out before `Open`).
    pub server_wire: Vec<u8>,
    record_wire: bool,
    client_open: bool,
    server_open: bool,
}

impl Pair {
    /// Two open connections with `config`.
    pub fn new(config: Config) -> Self {
        let mut pair = Self::handshake(
            Connection::new_open(Role::Client, config.clone(), FixedMask([1, 2, 3, 4])),
            Connection::new_open(Role::Server, config, FixedMask([1, 2, 3, 4])),
        );
        pair.client_open = true;
        pair.server_open = true;
        pair
    }

    /// `client` and `server` as built, e.g. by `Connection::client` and
    /// `Connection::server`, to do the opening handshake when driven.
    pub fn handshake(client: Connection, server: Connection) -> Self {
        Self {
            client,
            server,
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_transport_closed: false,
            server_transport_closed: false,
            client_wire: Vec::new(),
            server_wire: Vec::new(),
            record_wire: false,
            client_open: false,
            server_open: false,
        }
    }

    /// Records what each side writes once open in `client_wire` and
    /// `server_wire`.
    pub fn record_wire(mut self) -> Self {
        self.record_wire = true;
        self
    }

    /// Moves bytes both ways until nothing more happens. A closed transport
    /// delivers EOF to the other side. An upgrade request is accepted with
    /// `Accept::new()`.
    pub fn drive(&mut self) {
        self.drive_accepting(&Accept::new);
    }

    /// [`Pair::drive`], answering an upgrade request with `accept`. Panics
    /// if a side writes after its `CloseTransport`.
    pub fn drive_accepting(&mut self, accept: &dyn Fn() -> Accept) {
        loop {
            let mut moved = false;
            while let Some(o) = self.client.poll_output() {
                moved = true;
                match o {
                    Output::Transmit(b) => {
                        assert!(!self.client_transport_closed, "client wrote after CloseTransport");
                        if self.record_wire && self.client_open {
                            self.client_wire.extend_from_slice(&b);
                        }
                        self.server.handle_bytes(&b);
                    }
                    Output::Event(e) => {
                        self.client_open |= matches!(e, Event::Open(_));
                        self.client_events.push(e);
                    }
                    Output::CloseTransport => {
                        self.client_transport_closed = true;
                        self.server.handle_eof();
                    }
                    other => panic!("unexpected client output {other:?}"),
                }
            }
            while let Some(o) = self.server.poll_output() {
                moved = true;
                match o {
                    Output::Transmit(b) => {
                        assert!(!self.server_transport_closed, "server wrote after CloseTransport");
                        if self.record_wire && self.server_open {
                            self.server_wire.extend_from_slice(&b);
                        }
                        self.client.handle_bytes(&b);
                    }
                    Output::Event(Event::UpgradeRequest(r)) => {
                        self.server_events.push(Event::UpgradeRequest(r));
                        self.server.accept(accept()).unwrap();
                    }
                    Output::Event(e) => {
                        self.server_open |= matches!(e, Event::Open(_));
                        self.server_events.push(e);
                    }
                    Output::CloseTransport => {
                        self.server_transport_closed = true;
                        self.client.handle_eof();
                    }
                    other => panic!("unexpected server output {other:?}"),
                }
            }
            if !moved {
                break;
            }
        }
    }
}

pub fn bytes(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}

// ---------------------------------------------------------------------------
// Helpers for the closing, protocol-error, close-code and property tests.
// ---------------------------------------------------------------------------

/// Opcodes (RFC 6455 §5.2).
pub mod alloc;
pub mod bounds;
pub mod data;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod net;
#[cfg(feature = "deflate")]
pub mod puff;
pub mod read_loop;

#[allow(unused_imports)]
pub use data::*;
#[cfg(feature = "deflate")]
#[allow(unused_imports)]
pub use deflate::open_deflate;

pub mod op {
    pub const CONT: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A connection in `role` with the default config and the fixed RFC key.
pub fn conn(role: Role) -> Connection {
    with_config(role, Config::default())
}

/// A frame as the peer of `receiver` sends it: masked with [`RFC_KEY`] when
/// the receiver is a server, unmasked when it is a client.
pub fn peer_frame(receiver: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    peer_frame_rsv(receiver, fin, 0, opcode, payload)
}

/// [`peer_frame`] with RSV bits (`0bRSV1_RSV2_RSV3`).
pub fn peer_frame_rsv(receiver: Role, fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match receiver {
        Role::Server => frame(fin, rsv, opcode, Some(RFC_KEY), payload),
        Role::Client => frame(fin, rsv, opcode, None, payload),
    }
}

/// The bytes a connection in `sender` role built by [`conn`]/[`client`]/
/// [`server`] writes for one frame: a client masks with [`RFC_KEY`].
pub fn own_frame(sender: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match sender {
        Role::Client => cframe(fin, opcode, payload),
        Role::Server => sframe(fin, opcode, payload),
    }
}

/// A Close frame body: empty without a code.
pub fn close_payload(code: Option<u16>, reason: &str) -> Vec<u8> {
    match code {
        Some(c) => close_body(c, reason),
        None => Vec::new(),
    }
}

/// The `Closed` event as an [`Out`].
pub fn closed_out(code: u16, reason: &str, was_clean: bool, error: Option<wsmachine::ConnectionError>) -> Out {
    Out::Event(Event::Closed(Closed { code: code.into(), reason: reason.into(), was_clean, error }))
}

/// The Close frame a connection in `sender` role built by [`conn`] writes:
/// empty without a code.
pub fn our_close(sender: Role, code: Option<u16>, reason: &str) -> Vec<u8> {
    own_frame(sender, true, op::CLOSE, &close_payload(code, reason))
}

/// A Close frame from the peer of `receiver`: empty without a code.
pub fn peer_close(receiver: Role, code: Option<u16>, reason: &str) -> Vec<u8> {
    peer_frame(receiver, true, op::CLOSE, &close_payload(code, reason))
}

/// The `Closing` event for the peer's Close.
pub fn closing(code: u16, reason: &str) -> Out {
    Out::Event(Event::Closing(wsmachine::CloseFrame { code: code.into(), reason: reason.into() }))
}

/// The `Closed` event of a clean close.
pub fn clean_closed(code: u16, reason: &str) -> Event {
    Event::Closed(Closed { code: code.into(), reason: reason.into(), was_clean: true, error: None })
}

/// The two last outputs of a clean close: `CloseTransport`, then `Closed`.
pub fn clean_end(code: u16, reason: &str) -> [Out; 2] {
    [Out::CloseTransport, closed_out(code, reason, true, None)]
}

/// The two last outputs of a lost transport: `CloseTransport`, then an
/// unclean `Closed` 1006.
pub fn abnormal_end() -> [Out; 2] {
    [Out::CloseTransport, closed_out(1006, "", false, None)]
}

/// Every output, in order, of a connection in `role` (built by [`conn`])
/// that receives the peer's Close (`code`, `reason`) and then, for a client,
/// the end of the stream: its echo (the same code and reason; no body
/// without a code), `Closing`, `CloseTransport`, a clean `Closed` (1005
/// without a code).
pub fn echoed_close(role: Role, code: Option<u16>, reason: &str) -> Vec<Out> {
    let reported = code.unwrap_or(1005);
    let [end, closed] = clean_end(reported, reason);
    vec![Out::Wire(our_close(role, code, reason)), closing(reported, reason), end, closed]
}

/// Appends `src` to `dst`, merging a leading `Wire` into a trailing one as
/// [`drain`] does, so outputs gathered over several drains compare equal to
/// one drain of the same outputs.
pub fn merge_into(dst: &mut Vec<Out>, src: impl IntoIterator<Item = Out>) {
    for o in src {
        match (dst.last_mut(), o) {
            (Some(Out::Wire(w)), Out::Wire(more)) => w.extend_from_slice(&more),
            (_, o) => dst.push(o),
        }
    }
}

/// Builds an expected output list, merging adjacent wires.
pub fn outs(parts: impl IntoIterator<Item = Out>) -> Vec<Out> {
    let mut v = Vec::new();
    merge_into(&mut v, parts);
    v
}

/// Asserts the lifetime rule for an output history: `Closed` comes exactly
/// once and is the last output, and `CloseTransport` comes at most once,
/// before it. Returns the `Closed`.
#[track_caller]
pub fn assert_closed_once_last(outs: &[Out]) -> Closed {
    let closed_at: Vec<usize> =
        outs.iter().enumerate().filter(|(_, o)| matches!(o, Out::Event(Event::Closed(_)))).map(|(i, _)| i).collect();
    assert_eq!(closed_at.len(), 1, "expected exactly one Closed in {outs:?}");
    assert_eq!(closed_at[0], outs.len() - 1, "Closed is not the last output in {outs:?}");
    let transports: Vec<usize> =
        outs.iter().enumerate().filter(|(_, o)| matches!(o, Out::CloseTransport)).map(|(i, _)| i).collect();
    assert!(transports.len() <= 1, "CloseTransport more than once in {outs:?}");
    match outs.last() {
        Some(Out::Event(Event::Closed(c))) => c.clone(),
        _ => unreachable!(),
    }
}

/// Every output of one connection over a test, merged across drains.
#[derive(Debug, Default)]
pub struct History {
    pub outs: Vec<Out>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drains `conn`, records the outputs and returns this drain's outputs.
    pub fn drain(&mut self, conn: &mut Connection) -> Vec<Out> {
        let new = drain(conn);
        merge_into(&mut self.outs, new.clone());
        new
    }

    /// Asserts the history ends with exactly one `Closed`; returns it.
    #[track_caller]
    pub fn assert_closed_once_last(&self) -> Closed {
        assert_closed_once_last(&self.outs)
    }

    /// Asserts the whole history is `expected` and ends with exactly one
    /// `Closed`; returns it.
    #[track_caller]
    pub fn assert_whole(&self, expected: &[Out]) -> Closed {
        assert_eq!(self.outs, expected);
        self.assert_closed_once_last()
    }

    /// Asserts no `Closed` (and no `CloseTransport`) has come yet.
    #[track_caller]
    pub fn assert_not_closed(&self) {
        assert!(
            !self.outs.iter().any(|o| matches!(o, Out::Event(Event::Closed(_)) | Out::CloseTransport)),
            "closed early: {:?}",
            self.outs
        );
    }
}

/// One frame parsed back from the wire, payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
}

/// Parses a byte stream written by a connection into frames. Panics on a
/// truncated stream: a connection writes whole frames.
pub fn parse_frames(mut data: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    while !data.is_empty() {
        assert!(data.len() >= 2, "truncated header {data:x?}");
        let (b0, b1) = (data[0], data[1]);
        let mut pos = 2;
        let len = match b1 & 0x7F {
            126 => {
                let l = u16::from_be_bytes([data[2], data[3]]) as usize;
                pos = 4;
                l
            }
            127 => {
                let l = u64::from_be_bytes(data[2..10].try_into().unwrap()) as usize;
                pos = 10;
                l
            }
            n => n as usize,
        };
        let mask = if b1 & 0x80 != 0 {
            let k = [data[pos], data[pos + 1], data[pos + 2], data[pos + 3]];
            pos += 4;
            Some(k)
        } else {
            None
        };
        assert!(data.len() >= pos + len, "truncated payload");
        let mut payload = data[pos..pos + len].to_vec();
        if let Some(k) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push(WireFrame { fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xF, mask, payload });
        data = &data[pos + len..];
    }
    frames
}

/// Characters of every UTF-8 width (a proptest strategy).
pub fn any_width_char() -> impl proptest::strategy::Strategy<Value = char> {
    proptest::prop_oneof![
        proptest::char::range('\0', '\u{7f}'),
        proptest::char::range('\u{80}', '\u{7ff}'),
        proptest::char::range('\u{800}', '\u{ffff}'),
        proptest::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

/// A reader that hands out `data` in reads of the sizes `sizes` says
/// (cycled; never more than the buffer, never 0 before the end).
pub struct Reads<'a> {
    pub data: &'a [u8],
    pub sizes: &'a [usize],
    pub next: usize,
}

impl std::io::Read for Reads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
