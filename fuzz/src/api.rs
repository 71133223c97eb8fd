//! `api_sequence`: arbitrary interleavings of commands (`send`, `ping`,
//! `pong`, `close`, `browser_close`, streamed sends) and inputs
//! (`handle_bytes`, `handle_bytes_owned`, `handle_eof`, `handle_timeout`),
//! with outputs polled in full or only partly, for either role, from OPEN
//! (`new_open`) or from CONNECTING (`Connection::server` / `client`); and
//! buffers lent by `read_buffer` used as a hostile caller would ([`LendOp`]):
//! filled within or past their capacity, handed back empty, dropped, cut in
//! two, two held at once across other operations and handed back in either
//! order, replaced by a buffer of the caller's.
//!
//! Checked after every step and every output:
//!
//! - no panic;
//! - `Closed` at most once and last (nothing is output after it, whatever
//!   comes), `CloseTransport` at most once, before it, and no `Transmit`
//!   after `CloseTransport`; EOF always ends the connection;
//! - `ready_state` only moves forward; CLOSED once `Closed` was output;
//! - every command's `Result` is the one its documentation gives for the
//!   state, arguments and buffer (tracked independently);
//! - `read_buffer(min)` lends an empty buffer with room for at least
//!   `min` bytes (at least 1), or less only when the connection holds more
//!   than `min` unprocessed bytes (the rest of a large frame near its end);
//! - `buffered_amount` equals the message payload bytes of the accepted
//!   commands minus the data-frame payload bytes parsed out of the
//!   `Transmit`s polled so far;
//! - every `Transmit` after the handshake parses as valid frames for the peer
//!   ([`WireChecker`]): masking, minimal lengths, control frames, fragment
//!   sequences, UTF-8, Close codes, nothing after our Close frame; after a
//!   full drain no partial frame is left;
//! - `Event::Writable` only after `SendError::Full`, and it is owed (it comes
//!   by the end of the drain that empties the buffer) while the connection is
//!   OPEN;
//! - time: `poll_timeout` is `None` before the first `handle_timeout` and
//!   once CLOSED; after `handle_timeout(now)` and a drain, no deadline is
//!   left at or before `now` (every due one fired), and a deadline that
//!   `poll_timeout` gave and `now` reached was acted on (the connection
//!   closed or sent its keepalive Ping): none is lost.

use std::str;
use std::time::Duration;

use arbitrary::Arbitrary;
use wsmachine::handshake::{Accept, ClientRequest, accept_key};
use wsmachine::{
    BrowserCloseError, Bytes, BytesMut, CloseCode, CloseError, Config, Connection, Event, EventRef, Flushed,
    MessageKind, Output, ReadyState, Role, SendError, Timestamp,
};

use crate::{CountingEntropy, WireChecker, code_on_wire_ok, counting_key};

#[derive(Arbitrary, Debug)]
pub struct ApiInput {
    pub client: bool,
    pub connecting: bool,
    pub config: ConfigInput,
    pub ops: Vec<Op>,
    /// Operations on lent buffers, interleaved with `ops`. The last field,
    /// so that inputs written before it existed decode as they did, with
    /// none.
    pub lends: Vec<Lend>,
}

/// A [`LendOp`], run after `skip` more of the [`Op`]s (the `Op`s left after
/// the last one run at the end).
#[derive(Arbitrary, Debug)]
pub struct Lend {
    pub skip: u8,
    pub op: LendOp,
}

/// What a caller does with buffers lent by `read_buffer`. It holds at most
/// two (slot `false` and `true`) across other operations; bytes it reads
/// come from a pipe of queued peer frames, or are written raw.
#[derive(Arbitrary, Debug)]
pub enum LendOp {
    /// `read_buffer(min)` into the slot; a buffer the slot held is dropped.
    Lend { slot: bool, min: u16 },
    /// Queues a peer frame on the pipe, its payload followed by `pad` bytes
    /// of `a` (so large frames are cheap to write).
    Queue { frame: PeerFrame, pad: u16 },
    /// Reads up to `max` bytes (0: no limit) of the pipe into the slot's
    /// buffer: within its spare capacity, or all of them with
    /// `past_capacity` (growing it). An empty slot first gets
    /// `read_buffer(max)` (64 KiB without a limit).
    Read { slot: bool, max: u16, past_capacity: bool },
    /// Appends raw bytes to the slot's buffer (growing it if need be); an
    /// empty slot gets a buffer of the caller's, not a lent one.
    Write { slot: bool, data: Vec<u8> },
    /// `handle_bytes_owned` of the slot's buffer, however filled (an empty
    /// slot: an empty buffer).
    Return { slot: bool },
    /// Drops the slot's buffer, used or not.
    Drop { slot: bool },
    /// Cuts the slot's buffer at `at` (`split_off`): the tail goes to the
    /// other slot, dropping what that held.
    Split { slot: bool, at: u16 },
    /// The whole pipe through `handle_bytes`.
    Flush,
}

#[derive(Arbitrary, Debug)]
pub struct ConfigInput {
    fragment: Option<u8>,
    high_water: Option<u16>,
    low_water: u16,
    max_frame: u16,
    max_message: u16,
    manual_pong: bool,
    streaming: bool,
    close_timeout_ms: Option<u16>,
    handshake_timeout_ms: Option<u16>,
    keepalive_ms: Option<u16>,
    keepalive_timeout_ms: u16,
}

impl ConfigInput {
    pub fn config(&self) -> Config {
        let size = |n: u16| if n == 0 { 1 << 20 } else { usize::from(n) };
        let ms = |n: u16| Duration::from_millis(u64::from(n));
        Config::default()
            .with_fragment_size(self.fragment.map(usize::from))
            .with_send_water_marks(self.high_water.map(usize::from), usize::from(self.low_water))
            .with_max_frame_size(size(self.max_frame))
            .with_max_message_size(size(self.max_message))
            .with_auto_pong(!self.manual_pong)
            .with_streaming_receive(self.streaming)
            .with_close_timeout(self.close_timeout_ms.map(ms))
            .with_handshake_timeout(self.handshake_timeout_ms.map(ms))
            // A keepalive timeout of zero would make the Ping's own deadline
            // due the moment it is sent; 1 ms is the shortest real one.
            .with_keepalive(self.keepalive_ms.map(ms), ms(self.keepalive_timeout_ms.max(1)))
            .with_protocol("chat")
    }
}

/// The operations. Text is given as bytes (made UTF-8 lossily) so that every
/// variable-length field is encoded the same way, front to back: that keeps
/// the seeds written by `make_seeds.py` simple (no lengths taken from the
/// end of the input, as `arbitrary` does for strings).
#[derive(Arbitrary, Debug)]
pub enum Op {
    SendText(Vec<u8>),
    SendBinary(Vec<u8>),
    /// A message over the 1 KiB copy threshold (a server sends it without
    /// copying, header and payload in separate `Transmit`s).
    SendLarge {
        len: u16,
        text: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close {
        code: Option<u16>,
        reason: Vec<u8>,
    },
    BrowserClose {
        code: Option<u16>,
        reason: Option<Vec<u8>>,
    },
    Begin {
        text: bool,
    },
    Chunk(Vec<u8>),
    Finish(Vec<u8>),
    /// A frame from the peer, mostly well-formed.
    Peer(PeerFrame),
    /// Raw bytes from the peer.
    PeerBytes(Vec<u8>),
    PeerOwned(Vec<u8>),
    /// The peer's valid opening head (request or 101 response).
    PeerHandshake,
    Eof,
    /// `handle_timeout` after `advance_ms` (or that much *before* the last
    /// time given, with `back`).
    Timeout {
        advance_ms: u16,
        back: bool,
    },
    /// Poll at most this many outputs; from 0x80, once the connection is
    /// open, at most `n & 0x3F` events with `poll_event`, or with
    /// `poll_event_ref` (each lent message copied) when `n & 0x40`.
    Poll(u8),
    Drain,
    /// `write_to` a writer that takes at most `max` bytes a call (0: no
    /// limit) and fails with `WouldBlock` once `budget` bytes are taken (0:
    /// no limit), once the connection is open (the bytes are checked as
    /// frames). A client masks large payloads as it writes them.
    WriteTo {
        max: u16,
        budget: u16,
    },
}

/// The writer of [`Op::WriteTo`].
struct Writer {
    wire: Vec<u8>,
    max: usize,
    budget: usize,
}

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.budget == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.max).min(self.budget);
        self.wire.extend_from_slice(&buf[..n]);
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
pub struct PeerFrame {
    kind: PeerKind,
    fin: bool,
    rsv: bool,
    wrong_mask: bool,
    code: Option<u16>,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum PeerKind {
    Text,
    Binary,
    Continuation,
    Close,
    Ping,
    Pong,
    Reserved(u8),
}

/// A frame as the peer would write it (`mask` for a client peer).
pub fn encode_frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0xF)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// The §1.2 client handshake.
pub const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The 101 a client built with `CountingEntropy::default()` accepts.
pub fn counting_101() -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(counting_key().as_bytes())
    )
    .into_bytes()
}

fn valid_utf8_prefix(b: &[u8]) -> bool {
    match str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

struct Api {
    conn: Connection,
    role: Role,
    config: Config,
    connecting: bool,
    wire: WireChecker,
    /// Data-frame payload bytes in the frames parsed so far.
    wire_data: usize,
    frames_counted: usize,
    /// Message payload bytes of accepted commands.
    issued: usize,
    state: ReadyState,
    opened: bool,
    transport_closed: bool,
    closed: bool,
    closing: bool,
    /// `SendError::Full`s and `Writable`s so far.
    fulls: usize,
    writables: usize,
    /// A `Full` since the last `Writable` polled: one is owed.
    full: bool,
    /// The streamed message we are sending: (text, bytes so far).
    tx_stream: Option<(bool, Vec<u8>)>,
    now: u64,
    timed: bool,
    peer_mask: CountingEntropy,
    /// Bytes handed to the connection so far, by any input method.
    fed: usize,
    /// Buffers the caller holds ([`LendOp`]).
    slots: [Option<BytesMut>; 2],
    /// Queued peer bytes not read yet.
    pipe: Vec<u8>,
    /// The last `write_to` stopped at the writer's limit, maybe inside a
    /// run of small frames: `buffered_amount` may still count frames of it
    /// that were written.
    cut_write: bool,
}

impl Api {
    fn new(input: &ApiInput) -> Self {
        let role = if input.client { Role::Client } else { Role::Server };
        let config = input.config.config();
        let conn = match (input.connecting, role) {
            (false, _) => Connection::new_open(role, config.clone(), CountingEntropy::default()),
            (true, Role::Server) => Connection::server(config.clone()),
            (true, Role::Client) => Connection::client(
                ClientRequest::new("ws://example.com/chat").expect("valid URL"),
                config.clone(),
                CountingEntropy::default(),
            )
            .expect("valid request"),
        };
        let state = conn.ready_state();
        assert_eq!(state, if input.connecting { ReadyState::Connecting } else { ReadyState::Open });
        Self {
            conn,
            role,
            config,
            connecting: input.connecting,
            wire: WireChecker::new(role),
            wire_data: 0,
            frames_counted: 0,
            issued: 0,
            state,
            opened: !input.connecting,
            transport_closed: false,
            closed: false,
            closing: false,
            fulls: 0,
            writables: 0,
            full: false,
            tx_stream: None,
            now: 0,
            timed: false,
            peer_mask: CountingEntropy(13),
            fed: 0,
            slots: [None, None],
            pipe: Vec::new(),
            cut_write: false,
        }
    }

    /// Polls one output and checks it; false when there was none.
    fn poll_one(&mut self) -> bool {
        let Some(o) = self.conn.poll_output() else {
            return false;
        };
        assert!(!self.closed, "output after Closed: {o:?}");
        match o {
            Output::Transmit(b) => {
                assert!(!self.transport_closed, "Transmit after CloseTransport");
                assert!(!b.is_empty(), "empty Transmit");
                if self.opened {
                    self.transmitted(&b);
                }
            }
            Output::CloseTransport => {
                assert!(!self.transport_closed, "second CloseTransport");
                self.transport_closed = true;
            }
            Output::Event(e) => self.event(e),
            other => panic!("unknown output {other:?}"),
        }
        self.check_state();
        true
    }

    /// [`Op::Poll`] of events: they pass the bytes queued, which stay for
    /// the next `poll_output` or `write_to`. Not before `Open` has come
    /// through `poll_output` (the handshake's bytes go before it there).
    fn poll_events(&mut self, n: u8, by_ref: bool) {
        if !self.opened {
            return;
        }
        for _ in 0..n {
            let event =
                if by_ref { self.conn.poll_event_ref().map(EventRef::into_owned) } else { self.conn.poll_event() };
            let Some(event) = event else { break };
            assert!(!self.closed, "event after Closed: {event:?}");
            self.event(event);
            self.check_state();
        }
    }

    /// Bytes sent after the opening handshake: checked as frames, their
    /// data payload counted.
    fn transmitted(&mut self, bytes: &[u8]) {
        self.wire.feed(bytes);
        for f in &self.wire.frames[self.frames_counted..] {
            if f.opcode & 8 == 0 {
                self.wire_data += f.payload.len();
            }
        }
        self.frames_counted = self.wire.frames.len();
    }

    /// [`Op::WriteTo`].
    fn write_to(&mut self, max: u16, budget: u16) {
        if !self.opened {
            // Handshake bytes may be queued: `poll_output` tells them apart.
            return;
        }
        let limit = |n: u16| if n == 0 { usize::MAX } else { usize::from(n) };
        let mut w = Writer { wire: Vec::new(), max: limit(max), budget: limit(budget) };
        let got = self.conn.write_to(&mut w);
        if !w.wire.is_empty() {
            assert!(!self.transport_closed, "bytes written after CloseTransport");
            self.transmitted(&w.wire);
        }
        match &got {
            Ok(Flushed::CloseTransport) => {
                assert!(!self.transport_closed, "second CloseTransport");
                self.transport_closed = true;
            }
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
        }
        self.cut_write = got.is_err();
        if budget == 0 || w.wire.len() < usize::from(budget) {
            // Not stopped by the writer: everything before CloseTransport
            // (or an event) is out, and no frame is left cut.
            assert!(got.is_ok());
            self.wire.assert_whole();
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::UpgradeRequest(_) | Event::HttpRequest(_) => {
                assert!(self.connecting && !self.opened && self.role == Role::Server, "{e:?}");
                let pending = self.conn.ready_state() == ReadyState::Connecting;
                let r = match e {
                    Event::UpgradeRequest(_) => self.conn.accept(Accept::new()),
                    _ => self.conn.reject(404, &[], b"not here"),
                };
                // The request can still be answered unless the connection
                // closed (a timer) after reporting it.
                assert_eq!(r.is_ok(), pending, "answering a reported request: {r:?}");
            }
            Event::Open(_) => {
                assert!(self.connecting && !self.opened, "second Open");
                self.opened = true;
            }
            Event::Message(_)
            | Event::MessageStart(_)
            | Event::MessageChunk(_)
            | Event::MessageEnd
            | Event::Ping(_)
            | Event::Pong(_) => {
                assert!(self.opened, "{e:?} before Open");
                assert!(!self.closing, "{e:?} after Closing");
                if let Event::MessageChunk(m) = &e {
                    assert!(!m.is_empty(), "empty MessageChunk");
                    assert!(!m.is_text() || str::from_utf8(m.as_bytes()).is_ok());
                }
            }
            Event::Closing(f) => {
                assert!(!self.closing, "second Closing");
                assert!(f.code.as_u16() == 1005 || code_on_wire_ok(f.code.as_u16()));
                self.closing = true;
            }
            Event::Writable => {
                // (The buffer was at most the low-water mark when it was
                // queued; sends since may have filled it again.)
                self.writables += 1;
                assert!(self.writables <= self.fulls, "Writable without a Full");
                self.full = false;
            }
            Event::Closed(c) => {
                assert!(self.transport_closed, "Closed before CloseTransport");
                if c.was_clean {
                    assert!(self.wire.close_sent, "clean without our Close");
                    assert!(c.error.is_none());
                } else {
                    assert_eq!(c.code, CloseCode::ABNORMAL, "{c:?}");
                }
                self.closed = true;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn check_state(&mut self) {
        let s = self.conn.ready_state();
        assert!(s >= self.state, "ready_state went back from {:?} to {s:?}", self.state);
        self.state = s;
        if self.closed {
            assert_eq!(s, ReadyState::Closed);
        }
        if s == ReadyState::Closed {
            assert_eq!(self.conn.poll_timeout(), None, "a deadline once CLOSED");
            assert!(!self.conn.wants_read(), "wants_read once CLOSED");
        }
        if s != ReadyState::Open {
            // Any Close (ours, an echo, a failure) abandons a streamed send.
            self.tx_stream = None;
        }
        if !self.timed {
            assert_eq!(self.conn.poll_timeout(), None, "a deadline before the first handle_timeout");
        }
        if self.cut_write {
            // A run of small frames counts as written once all of it is:
            // frames written whole before the cut still count.
            assert!(
                self.conn.buffered_amount() >= self.issued - self.wire_data,
                "buffered_amount {} below payload queued ({}) minus payload written ({})",
                self.conn.buffered_amount(),
                self.issued,
                self.wire_data
            );
        } else {
            assert_eq!(
                self.conn.buffered_amount(),
                self.issued - self.wire_data,
                "buffered_amount vs payload queued ({}) minus payload polled ({})",
                self.issued,
                self.wire_data
            );
        }
    }

    fn drain(&mut self) {
        while self.poll_one() {}
        self.cut_write = false;
        if self.opened {
            self.wire.assert_whole();
        }
        // Owed while messages can be sent: not once closing (or closed).
        if self.full {
            assert!(self.conn.ready_state() != ReadyState::Open, "Writable owed after the buffer drained");
        }
    }

    /// What `send` must return for a message of `len` bytes.
    fn expect_send(&self, len: usize) -> Result<(), SendError> {
        let state = self.conn.ready_state();
        if state != ReadyState::Open {
            return Err(SendError::NotOpen(state));
        }
        if self.tx_stream.is_some() {
            return Err(SendError::StreamInProgress);
        }
        self.expect_room(len)
    }

    fn expect_room(&self, len: usize) -> Result<(), SendError> {
        let queued = self.conn.queued_bytes();
        assert!(queued >= self.conn.buffered_amount(), "queued_bytes below buffered_amount");
        match self.config.send_high_water {
            Some(high_water) if queued > 0 && queued.saturating_add(len) > high_water => {
                Err(SendError::Full { queued, len, high_water })
            }
            _ => Ok(()),
        }
    }

    fn after_send(&mut self, got: &Result<(), SendError>, want: Result<(), SendError>, len: usize) {
        assert_eq!(*got, want, "send of {len} bytes");
        match got {
            Ok(()) => self.issued += len,
            Err(SendError::Full { .. }) => {
                self.fulls += 1;
                self.full = true;
            }
            Err(_) => {}
        }
    }

    fn control(&mut self, pong: bool, payload: Vec<u8>) {
        let state = self.conn.ready_state();
        let want = if payload.len() > 125 {
            Err(SendError::ControlPayloadTooLong(payload.len()))
        } else if state != ReadyState::Open {
            Err(SendError::NotOpen(state))
        } else {
            self.expect_room(payload.len())
        };
        let len = payload.len();
        let got = if pong { self.conn.pong(payload) } else { self.conn.ping(payload) };
        if state == ReadyState::Closing && len <= 125 {
            // Allowed after our Close until the peer's (§5.5.2), which this
            // harness does not track: refused, or queued within the mark.
            let ok = got.is_ok() || got == Err(SendError::NotOpen(state)) || matches!(got, Err(SendError::Full { .. }));
            assert!(ok, "{got:?} in CLOSING");
        } else {
            assert_eq!(got, want);
        }
        if matches!(got, Err(SendError::Full { .. })) {
            self.fulls += 1;
            self.full = true;
        }
    }

    fn close(&mut self, code: Option<u16>, reason: &str, browser: bool) {
        let before = self.conn.ready_state();
        let ok = if browser {
            let want = match code {
                Some(c) if !(c == 1000 || (3000..=4999).contains(&c)) => Err(BrowserCloseError::InvalidAccessError(c)),
                _ if reason.len() > 123 => Err(BrowserCloseError::SyntaxError(reason.len())),
                _ => Ok(()),
            };
            assert_eq!(self.conn.browser_close(code, Some(reason)), want);
            want.is_ok()
        } else {
            let want = match code {
                Some(c) if !code_on_wire_ok(c) => Err(CloseError::InvalidCode(c)),
                _ if reason.len() > 123 => Err(CloseError::ReasonTooLong(reason.len())),
                _ => Ok(()),
            };
            assert_eq!(self.conn.close(code.map(CloseCode::new), reason), want);
            want.is_ok()
        };
        let after = self.conn.ready_state();
        let expected = match before {
            _ if !ok => before,
            // WHATWG: close() while CONNECTING fails the connection: CLOSING
            // until `Closed` is polled.
            ReadyState::Connecting => ReadyState::Closing,
            ReadyState::Open => ReadyState::Closing,
            _ => before,
        };
        assert_eq!(after, expected, "close() in {before:?} (accepted: {ok})");
    }

    fn stream_piece(&mut self, data: Vec<u8>, fin: bool) {
        let state = self.conn.ready_state();
        let want = if state != ReadyState::Open {
            Err(SendError::NotOpen(state))
        } else if let Some((text, acc)) = &self.tx_stream {
            let mut all = acc.clone();
            all.extend_from_slice(&data);
            if *text && (!valid_utf8_prefix(&all) || (fin && str::from_utf8(&all).is_err())) {
                Err(SendError::InvalidUtf8)
            } else if data.is_empty() && !fin {
                Ok(())
            } else {
                self.expect_room(data.len())
            }
        } else {
            Err(SendError::NoStreamInProgress)
        };
        let len = data.len();
        let got = if fin { self.conn.finish_message(data.clone()) } else { self.conn.send_chunk(data.clone()) };
        self.after_send(&got, want, len);
        if got.is_ok() {
            if fin {
                self.tx_stream = None;
            } else if let Some((_, acc)) = &mut self.tx_stream {
                acc.extend_from_slice(&data);
            }
        }
    }

    /// `f` as the peer writes it, its payload followed by `pad` bytes.
    fn encode_peer(&mut self, f: &PeerFrame, pad: usize) -> Vec<u8> {
        let opcode = match f.kind {
            PeerKind::Text => 1,
            PeerKind::Binary => 2,
            PeerKind::Continuation => 0,
            PeerKind::Close => 8,
            PeerKind::Ping => 9,
            PeerKind::Pong => 10,
            PeerKind::Reserved(x) => [3, 4, 5, 6, 7, 11, 12, 13, 14, 15][usize::from(x % 10)],
        };
        let mut payload = Vec::new();
        if opcode == 8
            && let Some(c) = f.code
        {
            payload.extend_from_slice(&c.to_be_bytes());
        }
        payload.extend_from_slice(&f.payload);
        payload.resize(payload.len() + pad, b'a');
        if opcode & 8 != 0 {
            payload.truncate(125);
        }
        let masked = (self.role == Role::Server) != f.wrong_mask;
        let mask = masked.then(|| {
            let mut k = [0u8; 4];
            wsmachine::Entropy::fill(&mut self.peer_mask, &mut k);
            k
        });
        let fin = f.fin || opcode & 8 != 0;
        encode_frame(fin, if f.rsv { 4 } else { 0 }, opcode, mask, &payload)
    }

    fn handle_bytes(&mut self, b: &[u8]) {
        self.fed += b.len();
        self.conn.handle_bytes(b);
    }

    fn handle_owned(&mut self, b: BytesMut) {
        self.fed += b.len();
        self.conn.handle_bytes_owned(b);
    }

    /// `read_buffer(min)`, checked.
    fn lend(&mut self, min: usize) -> BytesMut {
        let buf = self.conn.read_buffer(min);
        crate::check_lent(&buf, min, self.fed);
        if self.conn.ready_state() == ReadyState::Closed {
            assert!(buf.capacity() >= min, "read_buffer({min}) once closed lent {}", buf.capacity());
        }
        buf
    }

    fn lend_op(&mut self, op: LendOp) {
        let slot = |s: bool| usize::from(s);
        match op {
            LendOp::Lend { slot: s, min } => {
                let buf = self.lend(usize::from(min));
                self.slots[slot(s)] = Some(buf);
            }
            LendOp::Queue { frame, pad } => {
                let bytes = self.encode_peer(&frame, usize::from(pad));
                self.pipe.extend_from_slice(&bytes);
            }
            LendOp::Read { slot: s, max, past_capacity } => {
                let max = if max == 0 { usize::MAX } else { usize::from(max) };
                let mut buf = match self.slots[slot(s)].take() {
                    Some(b) => b,
                    None => self.lend(max.min(1 << 16)),
                };
                let room = if past_capacity { usize::MAX } else { buf.capacity() - buf.len() };
                let n = self.pipe.len().min(max).min(room);
                buf.extend_from_slice(&self.pipe[..n]);
                self.pipe.drain(..n);
                self.slots[slot(s)] = Some(buf);
            }
            LendOp::Write { slot: s, data } => {
                self.slots[slot(s)].get_or_insert_with(BytesMut::new).extend_from_slice(&data);
            }
            LendOp::Return { slot: s } => {
                let buf = self.slots[slot(s)].take().unwrap_or_default();
                self.handle_owned(buf);
            }
            LendOp::Drop { slot: s } => self.slots[slot(s)] = None,
            LendOp::Split { slot: s, at } => {
                if let Some(buf) = &mut self.slots[slot(s)] {
                    let tail = buf.split_off(usize::from(at).min(buf.len()));
                    self.slots[slot(!s)] = Some(tail);
                }
            }
            LendOp::Flush => {
                let pipe = std::mem::take(&mut self.pipe);
                self.handle_bytes(&pipe);
            }
        }
        self.check_state();
    }

    fn timeout(&mut self, advance_ms: u16, back: bool) {
        self.drain();
        let before = self.conn.poll_timeout();
        let t = if back {
            self.now.saturating_sub(u64::from(advance_ms))
        } else {
            self.now += u64::from(advance_ms);
            self.now
        };
        // Time never goes back: an earlier time counts as the latest one.
        let now = Timestamp::from_millis(self.now);
        let pings = self.wire.frames.iter().filter(|f| f.opcode == 9).count();
        self.conn.handle_timeout(Timestamp::from_millis(t));
        self.timed = true;
        self.drain();
        if let Some(d) = before
            && now >= d
        {
            let pinged = self.wire.frames.iter().filter(|f| f.opcode == 9).count() > pings;
            assert!(self.closed || pinged, "deadline {d:?} reached at {now:?} and nothing happened");
        }
        if let Some(next) = self.conn.poll_timeout() {
            assert!(next > now, "deadline {next:?} left due at {now:?}");
        }
    }

    fn op(&mut self, op: Op) {
        match op {
            Op::SendText(s) => {
                let s = String::from_utf8_lossy(&s).into_owned();
                let want = self.expect_send(s.len());
                let len = s.len();
                let got = self.conn.send_text(s);
                self.after_send(&got, want, len);
            }
            Op::SendBinary(b) => {
                let want = self.expect_send(b.len());
                let len = b.len();
                let got = self.conn.send_binary(b);
                self.after_send(&got, want, len);
            }
            Op::SendLarge { len, text } => {
                // Past 16 KiB too: a client that writes with `write_to`
                // masks those as it writes them.
                let len = 1026 + usize::from(len % 40_000) / 2 * 2;
                let want = self.expect_send(len);
                let got =
                    if text { self.conn.send_text("é".repeat(len / 2)) } else { self.conn.send_binary(vec![7; len]) };
                self.after_send(&got, want, len);
            }
            Op::Ping(p) => self.control(false, p),
            Op::Pong(p) => self.control(true, p),
            Op::Close { code, reason } => self.close(code, &String::from_utf8_lossy(&reason), false),
            Op::BrowserClose { code, reason } => {
                self.close(code, &String::from_utf8_lossy(reason.as_deref().unwrap_or(b"")), true);
            }
            Op::Begin { text } => {
                let state = self.conn.ready_state();
                let want = if state != ReadyState::Open {
                    Err(SendError::NotOpen(state))
                } else if self.tx_stream.is_some() {
                    Err(SendError::StreamInProgress)
                } else {
                    Ok(())
                };
                let kind = if text { MessageKind::Text } else { MessageKind::Binary };
                let got = self.conn.begin_message(kind);
                assert_eq!(got, want);
                if got.is_ok() {
                    self.tx_stream = Some((text, Vec::new()));
                }
            }
            Op::Chunk(d) => self.stream_piece(d, false),
            Op::Finish(d) => self.stream_piece(d, true),
            Op::Peer(f) => {
                let bytes = self.encode_peer(&f, 0);
                self.handle_bytes(&bytes);
            }
            Op::PeerBytes(b) => self.handle_bytes(&b),
            Op::PeerOwned(b) => self.handle_owned(BytesMut::from(&b[..])),
            Op::PeerHandshake => match self.role {
                Role::Server => self.handle_bytes(RFC_REQUEST),
                Role::Client => self.handle_bytes(&counting_101()),
            },
            Op::Eof => {
                self.conn.handle_eof();
                if self.conn.ready_state() == ReadyState::Connecting {
                    // Only a server whose request is reported but not yet
                    // answered waits: the answer can still go out.
                    assert_eq!(self.role, Role::Server);
                    self.drain();
                }
                // Ended: CLOSING until `Closed` is polled, CLOSED after.
                let s = self.conn.ready_state();
                assert!(matches!(s, ReadyState::Closing | ReadyState::Closed), "EOF must end the connection: {s:?}");
                assert_eq!(self.conn.poll_timeout(), None, "a deadline after EOF");
            }
            Op::Timeout { advance_ms, back } => self.timeout(advance_ms, back),
            Op::Poll(n) if n >= 0x80 => self.poll_events(n & 0x3F, n & 0x40 != 0),
            Op::Poll(n) => {
                for _ in 0..n {
                    if !self.poll_one() {
                        break;
                    }
                }
            }
            Op::Drain => self.drain(),
            Op::WriteTo { max, budget } => self.write_to(max, budget),
        }
        self.check_state();
    }
}

pub fn run(input: ApiInput) {
    let mut api = Api::new(&input);
    let mut ops = input.ops.into_iter();
    for lend in input.lends {
        for op in ops.by_ref().take(usize::from(lend.skip)) {
            api.op(op);
        }
        api.lend_op(lend.op);
    }
    for op in ops {
        api.op(op);
    }
    api.drain();
    api.op(Op::Eof);
    api.drain();
    assert!(api.closed, "no Closed after EOF and a drain");
    // Nothing after Closed, whatever comes.
    api.conn.handle_bytes(b"\x81\x00");
    api.conn.handle_bytes_owned(BytesMut::from(&b"\x88\x00"[..]));
    let mut buf = api.lend(10);
    buf.extend_from_slice(b"\x81\x00");
    api.conn.handle_bytes_owned(buf);
    // A buffer still held, lent before the close, handed back now.
    if let Some(held) = api.slots[0].take() {
        api.conn.handle_bytes_owned(held);
    }
    api.conn.handle_timeout(Timestamp::from_millis(u64::MAX / 2));
    api.conn.handle_eof();
    assert_eq!(api.conn.send_text("x"), Err(SendError::NotOpen(ReadyState::Closed)));
    assert_eq!(api.conn.ping(Bytes::new()), Err(SendError::NotOpen(ReadyState::Closed)));
    assert_eq!(api.conn.close(Some(CloseCode::NORMAL), ""), Ok(()));
    assert_eq!(api.conn.poll_output(), None, "output after Closed");
    assert_eq!(api.conn.poll_timeout(), None);
    assert_eq!(api.conn.ready_state(), ReadyState::Closed);
}
