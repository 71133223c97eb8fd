//! Shared code of the stream fuzz targets (`server_stream`, `client_stream`).
//!
//! Everything here is written against RFC 6455 and wsmachine's public API
//! only; it shares no code with the crate's internals, so it can check them:
//!
//! - [`Input`]: how a fuzz input becomes a configuration, a few commands,
//!   chunk sizes and a byte stream;
//! - [`WireChecker`]: an independent parser of the frames wsmachine writes,
//!   checking them as the peer would;
//! - [`model`]: an independent reading of the peer's byte stream, giving the
//!   events wsmachine must report;
//! - [`run_stream`]: feeds the stream in chunks to one connection and whole to
//!   another, checks the invariants after every step, and compares; with the
//!   handshake bit, the connection starts in CONNECTING and the stream starts
//!   with the peer's HTTP head;
//! - [`run_streaming`]: streaming receive against assembled delivery;
//! - [`heads`]: the handshake head parsers on their own;
//! - [`h2`]: RFC 8441's extended CONNECT checks on arbitrary header lists;
//! - [`api`]: arbitrary sequences of commands and inputs;
//! - [`differential`]: wsmachine against tungstenite.

// The counting allocator of the crate's memory tests, shared: the `memory`
// target registers it as its global allocator (and the tests below do).
#[path = "../../tests/common/alloc.rs"]
pub mod alloc;
pub mod api;
#[path = "../../tests/common/bounds.rs"]
pub mod bounds;
pub mod codec;
#[path = "../../tests/common/data.rs"]
pub mod data;
#[path = "../../tests/common/deflate.rs"]
pub mod deflate;
pub mod differential;
pub mod h2;
pub mod heads;
pub mod memory;
#[path = "../../tests/common/read_loop.rs"]
pub mod read_loop;

use std::str;
use std::sync::Arc;

use wsmachine::fuzzing::{RequestHead, ResponseHead};
use wsmachine::handshake::{Accept, ClientRequest, ExtensionOffer, Request, accept_key, key_from_nonce};
use wsmachine::{
    Bytes, BytesMut, CloseCode, Closed, Config, Connection, ConnectionError, Entropy, Event, EventRef, HandshakeError,
    Message, MessageKind, Negotiated, Output, ReadyState, Role,
};

// ----------------------------------------------------------------------
// Input format
// ----------------------------------------------------------------------

/// A fuzz input, decoded:
///
/// ```text
/// byte 0   flags   bits 0-1  max_frame_size   [1 MiB, 16, 125, 1000]
///                  bits 2-3  max_message_size [1 MiB, 16, 200, 3000]
///                  bit  4    auto_pong off
///                  bit  5    close(1000, "bye") before the stream
///                  bit  6    mixed feeding: the last max(n, 1) bytes of the input are
///                            feed selectors (see [`Feed`]), one per chunk-length byte,
///                            picking how each chunk goes in: `handle_bytes`,
///                            `handle_bytes_owned` or a buffer lent by `read_buffer`
///                  bit  7    send_text("héllo") in 2-byte fragments before the stream
/// byte 1   bits 0-2  n: how many chunk-length bytes follow (0: one chunk)
///          bits 3-4  a command after the first chunk:
///                    0 none, 1 close(4000, "mid"), 2 ping("p"), 3 send_binary([1, 2, 3])
///          bit  5    streaming_receive (MessageStart/Chunk/End events)
///          bit  6    handshake mode: the connection starts in CONNECTING
///                    (`Connection::server` / `Connection::client`) and the
///                    stream starts with the peer's request / response head;
///                    bits 5 and 7 of byte 0 then run when `Open` arrives
///          bit  7    handshake mode, server: reject the upgrade request
///                    (403) instead of accepting it; client: offer the
///                    subprotocols `chat, superchat` and an extension `x-ext`
/// n bytes  chunk lengths, used in turn until the stream is consumed;
///          0 means an empty handle_bytes call followed by a 1-byte chunk
/// rest     the byte stream from the peer (with bit 6 of byte 0: then the
///          feed selectors, as many as there are chunk-length bytes, at
///          least one, and fewer only if the input runs out)
/// ```
///
/// Missing header bytes read as zero, so every input is valid. Without bit
/// 6 every chunk goes through `handle_bytes`, as before the selectors
/// existed: inputs without it parse exactly as they always did. How the
/// bytes go in must not change the outputs: the chunked run is compared
/// with a run fed the whole stream through `handle_bytes`.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub flags: u8,
    pub mid_command: u8,
    pub streaming: bool,
    pub handshake: bool,
    pub alt: bool,
    pub chunk_lens: Vec<u8>,
    pub stream: &'a [u8],
    /// Feed selectors (bit 6 of byte 0), one per chunk-length byte.
    pub feeds: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn parse(data: &'a [u8]) -> Self {
        let flags = data.first().copied().unwrap_or(0);
        let b1 = data.get(1).copied().unwrap_or(0);
        let n = usize::from(b1 & 0x7);
        let rest = data.get(2..).unwrap_or(&[]);
        let n = n.min(rest.len());
        let mut stream = &rest[n..];
        let mut feeds: &[u8] = &[];
        if flags & 0x40 != 0 {
            let k = n.max(1).min(stream.len());
            (stream, feeds) = stream.split_at(stream.len() - k);
        }
        Self {
            flags,
            mid_command: (b1 >> 3) & 0x3,
            streaming: b1 & 0x20 != 0,
            handshake: b1 & 0x40 != 0,
            alt: b1 & 0x80 != 0,
            chunk_lens: rest[..n].to_vec(),
            stream,
            feeds,
        }
    }

    pub fn config(&self) -> Config {
        let frame = [1 << 20, 16, 125, 1000][usize::from(self.flags & 0x3)];
        let message = [1 << 20, 16, 200, 3000][usize::from((self.flags >> 2) & 0x3)];
        let config = Config::default()
            .with_max_frame_size(frame)
            .with_max_message_size(message)
            .with_auto_pong(self.flags & 0x10 == 0)
            .with_streaming_receive(self.streaming)
            .with_fragment_size(Some(2));
        if self.handshake {
            // Small enough for the fuzzer to reach the head limits.
            config.with_max_head_size(HEAD_LIMIT).with_max_headers(HEADERS_LIMIT).with_protocol("chat")
        } else {
            config
        }
    }

    fn close_first(&self) -> bool {
        self.flags & 0x20 != 0
    }

    fn mixed_feeding(&self) -> bool {
        self.flags & 0x40 != 0
    }

    /// How chunk `i` (of `len` bytes) goes in: selector `i` modulo the
    /// number of selectors (chunk `i` has chunk-length byte `i` modulo the
    /// same number), decoded by [`Feed::from_selector`]. `Slice` without
    /// bit 6 or without a selector.
    pub fn feed(&self, i: usize, len: usize) -> Feed {
        match self.feeds {
            s if !s.is_empty() && self.mixed_feeding() => Feed::from_selector(s[i % s.len()], len),
            _ => Feed::Slice,
        }
    }

    fn send_first(&self) -> bool {
        self.flags & 0x80 != 0
    }

    /// The chunks, as (offset, length, empty call first) over `stream`.
    pub fn chunks(&self) -> Vec<(usize, usize, bool)> {
        let mut out = Vec::new();
        let mut pos = 0;
        if self.chunk_lens.is_empty() {
            if !self.stream.is_empty() {
                out.push((0, self.stream.len(), false));
            }
            return out;
        }
        let mut i = 0;
        while pos < self.stream.len() {
            let l = self.chunk_lens[i % self.chunk_lens.len()];
            let (len, empty_first) = if l == 0 { (1, true) } else { (usize::from(l), false) };
            let len = len.min(self.stream.len() - pos);
            out.push((pos, len, empty_first));
            pos += len;
            i += 1;
        }
        out
    }

    /// Where the mid-stream command runs: after the first chunk.
    pub fn mid_offset(&self) -> Option<usize> {
        if self.mid_command == 0 {
            return None;
        }
        self.chunks().first().map(|&(o, l, _)| o + l)
    }
}

/// How one chunk of the peer's stream is handed to the connection. The
/// outputs must not depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `handle_bytes(chunk)`.
    Slice,
    /// `handle_bytes_owned(BytesMut::from(chunk))`: a buffer not lent by
    /// the connection.
    Owned,
    /// `read_buffer(min)`, the whole chunk written into it (growing it past
    /// its capacity when the chunk is larger), handed back.
    Lent { min: usize },
    /// A careful reader: `read_buffer(min)` filled up to its capacity and
    /// handed back, outputs drained, again until the chunk is in.
    Reads { min: usize },
    /// Two buffers lent at once (`read_buffer(min)`, then
    /// `read_buffer(min2)`), the chunk's first `split` bytes written into
    /// the first and the rest into the second (either may stay empty), both
    /// handed back in order, with the outputs drained in between when
    /// `drain_between`.
    Two { min: usize, min2: usize, split: usize, drain_between: bool },
    /// `read_buffer(min)` dropped unused, then `handle_bytes(chunk)`.
    LendDrop { min: usize },
    /// `read_buffer(min)` filled with the chunk, then cut with `split_to`
    /// and the two halves handed back in order, drained in between.
    Halves { min: usize, split: usize },
}

impl Feed {
    /// A selector byte for a chunk of `len` bytes: bits 0-2 the kind (in
    /// the order of the variants, 4 and 5 both `Two`: 4 drains in between),
    /// bits 3-5 `min` from `[0, 1, len / 2, len, len + 1, 1000, 64 Ki,
    /// 256 Ki]` (`min2`: the entry three further on, cyclically), bits 6-7
    /// `split` from `[0, len / 3, len / 2, len]`.
    pub fn from_selector(s: u8, len: usize) -> Self {
        let size = |x: u8| [0, 1, len / 2, len, len + 1, 1000, 1 << 16, 1 << 18][usize::from(x & 7)];
        let min = size(s >> 3);
        let split = [0, len / 3, len / 2, len][usize::from(s >> 6)];
        match s & 7 {
            0 => Feed::Slice,
            1 => Feed::Owned,
            2 => Feed::Lent { min },
            3 => Feed::Reads { min },
            4 | 5 => Feed::Two { min, min2: size((s >> 3) + 3), split, drain_between: s & 7 == 4 },
            6 => Feed::LendDrop { min },
            _ => Feed::Halves { min, split },
        }
    }

    fn min(self) -> usize {
        match self {
            Feed::Slice | Feed::Owned => 0,
            Feed::Lent { min }
            | Feed::Reads { min }
            | Feed::Two { min, .. }
            | Feed::LendDrop { min }
            | Feed::Halves { min, .. } => min,
        }
    }
}

/// `max_head_size` and `max_headers` in handshake mode.
pub const HEAD_LIMIT: usize = 1024;
pub const HEADERS_LIMIT: usize = 16;

/// The client's request in handshake mode (`offer`: input bit 7).
pub fn client_request(offer: bool) -> ClientRequest {
    let r = ClientRequest::new("ws://example.com/chat").expect("valid URL");
    if offer { r.protocol("chat").protocol("superchat").extension(ExtensionOffer::new("x-ext")) } else { r }
}

/// The `Sec-WebSocket-Key` a client built with `CountingEntropy::default()`
/// sends: base64 of its first 16 bytes.
pub fn counting_key() -> String {
    let mut nonce = [0u8; 16];
    CountingEntropy::default().fill(&mut nonce);
    key_from_nonce(nonce)
}

/// Deterministic masking keys: a counter, so keys differ (and include
/// zero bytes) and two connections given the same calls mask alike.
#[derive(Debug, Clone, Default)]
pub struct CountingEntropy(u8);

impl Entropy for CountingEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0;
            self.0 = self.0.wrapping_add(97);
        }
    }
}

// ----------------------------------------------------------------------
// RFC 6455 rules, written out independently
// ----------------------------------------------------------------------

/// Codes an endpoint may put in a Close frame (§7.4.1, §7.4.2, IANA).
pub fn code_on_wire_ok(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn definitely_invalid_utf8(bytes: &[u8]) -> bool {
    matches!(str::from_utf8(bytes), Err(e) if e.error_len().is_some())
}

/// A frame header read from the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
    /// The 7-bit length field (126 and 127 select the extended forms).
    pub len7: u8,
    pub header_len: usize,
}

/// Reads a header, or `None` if `b` holds less than a whole one.
pub fn read_header(b: &[u8]) -> Option<RawHeader> {
    let b0 = *b.first()?;
    let b1 = *b.get(1)?;
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7F;
    let (len, mut pos) = match len7 {
        126 => (u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
        127 => {
            let x: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(x), 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let k: [u8; 4] = b.get(pos..pos + 4)?.try_into().ok()?;
        pos += 4;
        Some(k)
    } else {
        None
    };
    Some(RawHeader { fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xF, mask, len, len7, header_len: pos })
}

fn unmask(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    match mask {
        Some(k) => payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]).collect(),
        None => payload.to_vec(),
    }
}

fn is_control(opcode: u8) -> bool {
    opcode & 0x8 != 0
}

// ----------------------------------------------------------------------
// What wsmachine writes
// ----------------------------------------------------------------------

/// A frame wsmachine wrote, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Parses and checks what one endpoint writes, as its peer would (§5).
#[derive(Debug)]
pub struct WireChecker {
    /// The writer is a client: every frame must be masked (§5.1, §5.3).
    masked: bool,
    buf: Vec<u8>,
    pub frames: Vec<WireFrame>,
    /// A data message in progress: (text, payload so far).
    message: Option<(bool, Vec<u8>)>,
    pub close_sent: bool,
}

impl WireChecker {
    pub fn new(writer: Role) -> Self {
        Self { masked: writer == Role::Client, buf: Vec::new(), frames: Vec::new(), message: None, close_sent: false }
    }

    /// Takes the bytes of one `Transmit`.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        while pos < self.buf.len() {
            let Some(h) = read_header(&self.buf[pos..]) else { break };
            let end = pos + h.header_len + usize::try_from(h.len).expect("length fits");
            if self.buf.len() < end {
                break;
            }
            let payload = unmask(&self.buf[pos + h.header_len..end], h.mask);
            self.check(&h, &payload);
            self.frames.push(WireFrame { fin: h.fin, opcode: h.opcode, payload });
            pos = end;
        }
        self.buf.drain(..pos);
    }

    fn check(&mut self, h: &RawHeader, payload: &[u8]) {
        // §5.5.1: no data after our Close; Pings and Pongs may still go
        // until the peer's Close.
        assert!(!self.close_sent || matches!(h.opcode, 9 | 10), "data or a second Close after our Close frame: {h:?}");
        assert_eq!(h.rsv, 0, "RSV bits without an extension: {h:?}");
        assert!(matches!(h.opcode, 0 | 1 | 2 | 8 | 9 | 10), "reserved opcode: {h:?}");
        assert_eq!(h.mask.is_some(), self.masked, "mask bit wrong for the writer's role: {h:?}");
        match h.len7 {
            126 => assert!(h.len >= 126, "non-minimal 16-bit length: {h:?}"),
            127 => assert!(h.len > 0xFFFF && h.len >> 63 == 0, "non-minimal or huge 64-bit length: {h:?}"),
            _ => {}
        }
        if is_control(h.opcode) {
            assert!(h.fin, "fragmented control frame: {h:?}");
            assert!(h.len <= 125, "control frame too long: {h:?}");
        }
        match h.opcode {
            0 => {
                let (text, acc) = self.message.as_mut().expect("continuation outside a message");
                acc.extend_from_slice(payload);
                let text = *text;
                if h.fin {
                    let (_, acc) = self.message.take().unwrap();
                    assert!(!text || str::from_utf8(&acc).is_ok(), "sent text is not UTF-8");
                }
            }
            1 | 2 => {
                assert!(self.message.is_none(), "new message inside a fragmented one");
                if h.fin {
                    assert!(h.opcode == 2 || str::from_utf8(payload).is_ok(), "sent text is not UTF-8");
                } else {
                    self.message = Some((h.opcode == 1, payload.to_vec()));
                }
            }
            8 => {
                match payload {
                    [] => {}
                    [_] => panic!("Close payload of 1 byte"),
                    [hi, lo, reason @ ..] => {
                        let code = u16::from_be_bytes([*hi, *lo]);
                        assert!(code_on_wire_ok(code), "Close with code {code} that may not be sent");
                        assert!(str::from_utf8(reason).is_ok(), "Close reason is not UTF-8");
                    }
                }
                self.close_sent = true;
            }
            _ => {}
        }
    }

    /// After a full drain every frame must be whole.
    pub fn assert_whole(&self) {
        assert!(self.buf.is_empty(), "a partial frame is left after poll_output returned None: {:x?}", self.buf);
    }

    pub fn last_close(&self) -> Option<&WireFrame> {
        self.frames.iter().rev().find(|f| f.opcode == 8)
    }
}

// ----------------------------------------------------------------------
// What the peer sent: an independent model of the receiving side
// ----------------------------------------------------------------------

/// How the peer's stream ends, by the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A valid Close frame (code, or 1005 for none; reason).
    PeerClose(u16, String),
    /// A complete frame (or the valid-so-far part of a text payload) breaks a
    /// rule: the connection must fail.
    Error,
    /// The stream ends on a frame boundary without a Close.
    Eof,
    /// The stream ends inside a frame. wsmachine may already have failed on
    /// what it saw of it (it checks headers as early as it can).
    Truncated,
}

/// The events wsmachine must report for `stream` (except `Closed`), and how
/// the stream ends; `closed_by_us_at`: the stream offset from which our own
/// Close was sent (frames completing after it get no `Closing`).
#[derive(Debug)]
pub struct Model {
    pub events: Vec<Event>,
    pub end: End,
}

pub fn model(stream: &[u8], receiver: Role, config: &Config, closed_by_us_at: Option<usize>) -> Model {
    let mut events = Vec::new();
    let mut pos = 0;
    let mut message: Option<(bool, Vec<u8>)> = None;
    let expect_mask = receiver == Role::Server;
    let end = loop {
        if pos == stream.len() {
            break End::Eof;
        }
        let Some(h) = read_header(&stream[pos..]) else { break End::Truncated };
        // §5.2 header rules.
        let bad_header = h.rsv != 0
            || !matches!(h.opcode, 0 | 1 | 2 | 8 | 9 | 10)
            || h.mask.is_some() != expect_mask
            || (is_control(h.opcode) && (!h.fin || h.len > 125))
            || (h.len7 == 126 && h.len < 126)
            || (h.len7 == 127 && (h.len <= 0xFFFF || h.len >> 63 != 0));
        // §5.4 fragmentation and §10.4 limits.
        let bad_sequence = match h.opcode {
            0 => message.is_none(),
            1 | 2 => message.is_some(),
            _ => false,
        };
        let so_far = message.as_ref().map_or(0, |m| m.1.len()) as u64;
        // Control frames are bounded by 125 bytes whatever the limits.
        let too_big = !is_control(h.opcode)
            && (h.len > config.max_frame_size as u64 || so_far + h.len > config.max_message_size as u64);
        if bad_header || bad_sequence || too_big {
            break End::Error;
        }
        let start = pos + h.header_len;
        let avail = (stream.len() - start).min(h.len as usize);
        let payload = unmask(&stream[start..start + avail], h.mask);
        // Text is checked as it arrives (§8.1): an invalid prefix fails even
        // if the frame is cut short.
        let text = match h.opcode {
            1 => true,
            0 => message.as_ref().is_some_and(|m| m.0),
            _ => false,
        };
        if text {
            let mut prefix = if h.opcode == 0 { message.as_ref().unwrap().1.clone() } else { Vec::new() };
            prefix.extend_from_slice(&payload);
            if definitely_invalid_utf8(&prefix) {
                break End::Error;
            }
        }
        if (avail as u64) < h.len {
            break End::Truncated;
        }
        let frame_end = start + avail;
        match h.opcode {
            0..=2 => {
                if h.opcode != 0 {
                    message = Some((h.opcode == 1, Vec::new()));
                }
                let m = message.as_mut().unwrap();
                m.1.extend_from_slice(&payload);
                if h.fin {
                    let (text, data) = message.take().unwrap();
                    if text {
                        match String::from_utf8(data) {
                            Ok(s) => events.push(Event::Message(Message::text(s))),
                            Err(_) => break End::Error,
                        }
                    } else {
                        events.push(Event::Message(Message::binary(data)));
                    }
                }
            }
            9 => events.push(Event::Ping(Bytes::from(payload))),
            10 => events.push(Event::Pong(Bytes::from(payload))),
            8 => {
                let (code, reason) = match payload.as_slice() {
                    [] => (1005, String::new()),
                    [_] => break End::Error,
                    [hi, lo, reason @ ..] => {
                        let code = u16::from_be_bytes([*hi, *lo]);
                        let Ok(reason) = str::from_utf8(reason) else { break End::Error };
                        if !code_on_wire_ok(code) {
                            break End::Error;
                        }
                        (code, reason.to_owned())
                    }
                };
                let ours_first = closed_by_us_at.is_some_and(|at| at < frame_end);
                if !ours_first {
                    events.push(Event::Closing(wsmachine::CloseFrame {
                        code: CloseCode::new(code),
                        reason: reason.clone(),
                    }));
                }
                break End::PeerClose(code, reason);
            }
            _ => unreachable!(),
        }
        pos = frame_end;
    };
    Model { events, end }
}

// ----------------------------------------------------------------------
// Driving a connection and checking every step
// ----------------------------------------------------------------------

/// One output as compared across chunkings: consecutive transmits joined.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Wire(Vec<u8>),
    Event(Event),
    CloseTransport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Command,
    Bytes,
    Eof,
}

/// A connection under test and everything seen from it.
pub struct Harness {
    pub conn: Connection,
    role: Role,
    auto_pong: bool,
    pub wire: WireChecker,
    pub merged: Vec<Out>,
    state: ReadyState,
    transport_closed: bool,
    closed: Option<Closed>,
    closing: Option<wsmachine::CloseFrame>,
    /// We started the closing handshake (before any Closing).
    initiated_close: bool,
    /// Pong frames on the wire matched to Ping events so far.
    pongs_matched: usize,
    step: StepKind,
    /// Events, with each streamed message (MessageStart, MessageChunk...,
    /// MessageEnd) folded into one `Message` at its end, and streamed
    /// messages cut short dropped: comparable across chunkings and with the
    /// model.
    pub events: Vec<Event>,
    streaming: bool,
    /// The streamed message in progress: (text, bytes so far).
    streamed: Option<(bool, Vec<u8>)>,
    /// Handshake mode: the connection started in CONNECTING.
    pub hs: Option<HandshakeSide>,
    /// Bytes handed to the connection so far (bounds its unprocessed input).
    fed: usize,
}

/// What a connection started in CONNECTING did during the handshake.
#[derive(Debug, Default)]
pub struct HandshakeSide {
    /// Server: accept upgrade requests (else reject them with 403).
    accept: bool,
    /// Client: the key of the request.
    key: String,
    /// Client: the subprotocols offered.
    offered: Vec<String>,
    /// Run when `Open` arrives: `send_text("héllo")`, `close(1000, "bye")`.
    on_open: (bool, bool),
    /// Bytes written before `Open`: the HTTP head(s).
    pub http_out: Vec<u8>,
    pub opened: bool,
    /// Server: the request reported, and whether it was an upgrade.
    pub request: Option<(Request, bool)>,
}

impl Harness {
    pub fn new(role: Role, config: Config) -> Self {
        let auto_pong = config.auto_pong;
        let streaming = config.streaming_receive;
        Self {
            conn: Connection::new_open(role, config, CountingEntropy::default()),
            role,
            auto_pong,
            wire: WireChecker::new(role),
            merged: Vec::new(),
            state: ReadyState::Open,
            transport_closed: false,
            closed: None,
            closing: None,
            initiated_close: false,
            pongs_matched: 0,
            step: StepKind::Command,
            events: Vec::new(),
            streaming,
            streamed: None,
            hs: None,
            fed: 0,
        }
    }

    /// A connection in CONNECTING: `Connection::server`, or
    /// `Connection::client` for [`client_request`]`(alt)`. A server accepts
    /// (or, with `alt`, rejects) an upgrade request as soon as it is reported;
    /// `on_open` runs when `Open` arrives.
    pub fn connecting(role: Role, config: Config, alt: bool, on_open: (bool, bool)) -> Self {
        let mut h = Self::new(role, config.clone());
        let mut side = HandshakeSide { accept: !alt, on_open, ..HandshakeSide::default() };
        h.conn = match role {
            Role::Server => Connection::server(config),
            Role::Client => {
                let req = client_request(alt);
                side.key = counting_key();
                side.offered = req.protocols().to_vec();
                Connection::client(req, config, CountingEntropy::default()).expect("valid request")
            }
        };
        h.state = ReadyState::Connecting;
        h.hs = Some(side);
        h
    }

    fn in_http(&self) -> bool {
        self.hs.as_ref().is_some_and(|s| !s.opened)
    }

    /// The handshake's events: the server answers a request at once, `Open`
    /// checks the head written and runs the commands waiting for it.
    fn handshake_event(&mut self, e: &Event) {
        let role = self.role;
        let Some(side) = self.hs.as_mut() else {
            panic!("handshake event {e:?} from a connection created open");
        };
        assert!(!side.opened, "handshake event after Open: {e:?}");
        match e {
            Event::UpgradeRequest(r) | Event::HttpRequest(r) => {
                assert_eq!(role, Role::Server, "a client got a request");
                assert!(side.request.is_none(), "second request");
                assert!(self.events.is_empty(), "request after other events");
                let upgrade = matches!(e, Event::UpgradeRequest(_));
                side.request = Some(((**r).clone(), upgrade));
                let result = if !upgrade {
                    self.conn.reject(200, &[("Content-Type", "text/plain")], b"page")
                } else if side.accept {
                    self.conn.accept(Accept::new())
                } else {
                    self.conn.reject(403, &[("X-Fuzz", "1")], b"no")
                };
                result.expect("answering the pending request");
                if !upgrade || !side.accept {
                    // Ending: CLOSING until `Closed` is polled.
                    assert_eq!(self.conn.ready_state(), ReadyState::Closing, "a rejection ends the connection");
                }
            }
            Event::Open(n) => {
                side.opened = true;
                let head = str::from_utf8(&side.http_out).expect("heads are ASCII");
                match role {
                    Role::Server => {
                        let (req, upgrade) = side.request.as_ref().expect("Open before the request");
                        assert!(*upgrade && side.accept);
                        assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head:?}");
                        assert!(head.ends_with("\r\n\r\n") && head.matches("\r\n\r\n").count() == 1, "{head:?}");
                        let want = accept_key(req.key().as_bytes());
                        assert_eq!(header(head, "sec-websocket-accept"), Some(want.as_str()), "{head:?}");
                        // The first subprotocol of the config that was offered.
                        let chat = req.protocols().iter().any(|p| p == "chat");
                        assert_eq!(n.protocol.as_deref(), chat.then_some("chat"));
                        assert_eq!(header(head, "sec-websocket-protocol"), n.protocol.as_deref());
                        assert!(n.extensions.is_empty(), "no extension runs here");
                    }
                    Role::Client => {
                        // The request is complete and valid for a server.
                        match codec::parse_request(&side.http_out, false, 1 << 16, 100) {
                            Ok(RequestHead::Complete(req, len)) => {
                                assert_eq!(len, side.http_out.len(), "{head:?}");
                                assert_eq!(req.key(), side.key);
                                assert_eq!(req.protocols(), &side.offered[..]);
                            }
                            other => panic!("our request does not parse: {other:?}\n{head}"),
                        }
                        if let Some(p) = &n.protocol {
                            assert!(side.offered.contains(p), "unoffered protocol {p}");
                        }
                    }
                }
                let (send, close) = side.on_open;
                if send {
                    self.conn.send_text("héllo").expect("open");
                }
                if close {
                    self.conn.close(Some(CloseCode::NORMAL), "bye").expect("valid close arguments");
                    self.initiated_close = true;
                }
            }
            _ => unreachable!(),
        }
    }

    fn begin(&mut self, step: StepKind) {
        self.step = step;
    }

    /// Drains every output, checking each, then the state.
    fn end(&mut self) {
        while let Some(o) = self.conn.poll_output() {
            assert!(self.closed.is_none(), "output after Closed: {o:?}");
            match o {
                Output::Transmit(b) => {
                    assert!(!self.transport_closed, "Transmit after CloseTransport");
                    let was_closed = self.wire.close_sent;
                    if self.in_http() {
                        self.hs.as_mut().unwrap().http_out.extend_from_slice(&b);
                    } else {
                        self.wire.feed(&b);
                    }
                    if !was_closed && self.wire.close_sent && self.step == StepKind::Command {
                        self.initiated_close = true;
                    }
                    match self.merged.last_mut() {
                        Some(Out::Wire(w)) => w.extend_from_slice(&b),
                        _ => self.merged.push(Out::Wire(b.to_vec())),
                    }
                }
                Output::CloseTransport => {
                    assert!(!self.transport_closed, "second CloseTransport");
                    self.transport_closed = true;
                    self.merged.push(Out::CloseTransport);
                }
                Output::Event(e) => {
                    if matches!(e, Event::UpgradeRequest(_) | Event::HttpRequest(_) | Event::Open(_)) {
                        self.handshake_event(&e);
                    }
                    self.check_event(&e);
                    if let Some(e) = self.fold_streamed(e) {
                        self.events.push(e.clone());
                        self.merged.push(Out::Event(e));
                    }
                }
                other => panic!("unknown output {other:?}"),
            }
        }
        self.wire.assert_whole();
        let s = self.conn.ready_state();
        assert!(s >= self.state, "ready_state went back from {:?} to {s:?}", self.state);
        assert!(s != ReadyState::Connecting || self.in_http(), "CONNECTING after Open or for new_open");
        self.state = s;
        assert_eq!(self.closed.is_some(), s == ReadyState::Closed, "Closed event vs ready_state {s:?}");
        if self.wire.close_sent || self.closing.is_some() {
            assert!(s >= ReadyState::Closing, "a Close passed but ready_state is {s:?}");
        }
        assert_eq!(self.conn.buffered_amount(), 0, "buffered_amount after a full drain");
        assert_eq!(self.conn.queued_bytes(), 0, "queued_bytes after a full drain");
    }

    /// Streaming receive: checks the MessageStart/Chunk/End sequence and
    /// folds it into one `Message`, returned at `MessageEnd`.
    fn fold_streamed(&mut self, e: Event) -> Option<Event> {
        let max = self.conn.config().max_message_size;
        match e {
            Event::MessageStart(kind) => {
                assert!(self.streaming, "MessageStart without streaming_receive");
                assert!(self.streamed.is_none(), "MessageStart inside a message");
                assert!(self.closing.is_none(), "MessageStart after Closing");
                self.streamed = Some((kind == MessageKind::Text, Vec::new()));
                None
            }
            Event::MessageChunk(m) => {
                let (text, acc) = self.streamed.as_mut().expect("MessageChunk outside a message");
                assert_eq!(m.is_text(), *text, "chunk of the other type");
                assert!(!m.is_empty(), "empty MessageChunk");
                if *text {
                    assert!(str::from_utf8(m.as_bytes()).is_ok(), "text chunk is not UTF-8 on its own");
                }
                acc.extend_from_slice(m.as_bytes());
                assert!(acc.len() <= max, "streamed message over the limit");
                None
            }
            Event::MessageEnd => {
                let (text, acc) = self.streamed.take().expect("MessageEnd outside a message");
                Some(Event::Message(if text {
                    Message::text(String::from_utf8(acc).expect("streamed text is UTF-8"))
                } else {
                    Message::binary(acc)
                }))
            }
            Event::Message(_) => {
                assert!(!self.streaming, "whole Message with streaming_receive");
                Some(e)
            }
            Event::Closing(_) | Event::Closed(_) => {
                // A message cut short by a Close or a failure: discarded.
                self.streamed = None;
                Some(e)
            }
            e => Some(e),
        }
    }

    fn check_event(&mut self, e: &Event) {
        match e {
            Event::MessageStart(_) | Event::MessageChunk(_) | Event::MessageEnd => {
                assert!(self.closed.is_none());
            }
            Event::Message(m) => {
                assert!(self.closing.is_none(), "message after Closing");
                if let Message::Text(t) = m {
                    assert!(str::from_utf8(t.as_bytes()).is_ok());
                }
                assert!(m.len() <= self.conn.config().max_message_size, "message over the limit");
            }
            Event::Ping(p) => {
                assert!(self.closing.is_none(), "Ping after Closing");
                assert!(p.len() <= 125);
                if self.auto_pong {
                    // The Pong was queued just before the event (§5.5.2),
                    // after our Close too: Pings are answered until the
                    // peer's Close.
                    let pongs: Vec<&WireFrame> = self.wire.frames.iter().filter(|f| f.opcode == 0xA).collect();
                    assert_eq!(pongs.len(), self.pongs_matched + 1, "no Pong for Ping {p:?}");
                    assert_eq!(&pongs[self.pongs_matched].payload[..], &p[..], "Pong payload differs");
                    assert_eq!(self.wire.frames.last().map(|f| f.opcode), Some(0xA));
                    self.pongs_matched += 1;
                }
            }
            Event::Pong(p) => {
                assert!(self.closing.is_none(), "Pong after Closing");
                assert!(p.len() <= 125);
            }
            Event::Closing(f) => {
                assert!(self.closing.is_none(), "second Closing");
                assert!(!self.initiated_close, "Closing after we started the closing handshake");
                let code = f.code.as_u16();
                assert!(code == 1005 || code_on_wire_ok(code), "Closing with code {code}");
                // Our echo is on the wire already, with the same code and reason.
                let echo = self.wire.frames.last().expect("echo Close");
                assert_eq!(echo.opcode, 8, "the echo Close precedes Closing");
                let mut body = Vec::new();
                if code != 1005 {
                    body.extend_from_slice(&code.to_be_bytes());
                    body.extend_from_slice(f.reason.as_bytes());
                } else {
                    assert!(f.reason.is_empty());
                }
                assert_eq!(echo.payload, body, "echo differs from the peer's Close");
                self.closing = Some(f.clone());
            }
            Event::UpgradeRequest(_) | Event::HttpRequest(_) | Event::Open(_) => {}
            Event::Closed(c) => {
                assert!(self.transport_closed, "Closed before CloseTransport");
                self.check_closed(c);
                self.closed = Some(c.clone());
            }
            other => panic!("unexpected event for an open connection: {other:?}"),
        }
    }

    fn check_closed(&self, c: &Closed) {
        if c.was_clean {
            assert!(c.error.is_none());
            assert!(self.wire.close_sent, "clean close without our Close frame");
            let code = c.code.as_u16();
            assert!(code == 1005 || code_on_wire_ok(code), "clean close with code {code}");
            if let Some(f) = &self.closing {
                assert_eq!((&f.code, &f.reason), (&c.code, &c.reason));
            }
            // §7.1.1: the server closes the TCP connection as soon as both
            // Close frames passed; the client waits for the server's EOF.
            match self.role {
                Role::Server => assert_eq!(self.step, StepKind::Bytes, "server closed cleanly outside a read"),
                Role::Client => assert_eq!(self.step, StepKind::Eof, "client closed cleanly before EOF"),
            }
        } else {
            assert_eq!(c.code, CloseCode::ABNORMAL);
            assert!(c.reason.is_empty());
        }
        match &c.error {
            Some(ConnectionError::Protocol(e)) => {
                assert!(!c.was_clean);
                assert_eq!(self.step, StepKind::Bytes, "a protocol error outside a read");
                assert!(self.closing.is_none(), "failure after the peer's Close");
                if !self.initiated_close {
                    // §7.1.7: the Close we sent is the failure's.
                    let close = self.wire.last_close().expect("failing sends a Close");
                    let want = e.close_code().as_u16().to_be_bytes();
                    assert_eq!(close.payload, want, "failure Close for {e:?}");
                }
            }
            Some(ConnectionError::Handshake(_)) => {
                assert!(self.in_http(), "handshake error after Open or without a handshake");
            }
            Some(ConnectionError::ClosedWhileConnecting) => {
                assert!(self.in_http(), "ClosedWhileConnecting after Open");
                assert_eq!(self.step, StepKind::Command);
            }
            Some(ConnectionError::Rejected { .. }) => {
                assert!(self.in_http(), "Rejected after Open");
                assert_eq!(self.conn.role(), Role::Server, "a client rejected");
            }
            Some(other) => panic!("unexpected error {other:?}"),
            None => {}
        }
    }

    pub fn command(&mut self, f: impl FnOnce(&mut Connection)) {
        self.begin(StepKind::Command);
        f(&mut self.conn);
        self.end();
    }

    /// `read_buffer(min)`, checked by [`check_lent`].
    pub fn lend(&mut self, min: usize) -> BytesMut {
        let buf = self.conn.read_buffer(min);
        check_lent(&buf, min, self.fed);
        buf
    }

    /// `handle_bytes_owned(buf)` as one step, outputs drained.
    fn give(&mut self, buf: BytesMut) {
        self.begin(StepKind::Bytes);
        self.fed += buf.len();
        self.conn.handle_bytes_owned(buf);
        self.end();
    }

    /// Feeds one chunk as `feed` says (after an empty call when
    /// `empty_first`: `handle_bytes(&[])`, an empty `BytesMut`, or a lent
    /// buffer handed back empty).
    pub fn bytes(&mut self, data: &[u8], feed: Feed, empty_first: bool) {
        if empty_first {
            match feed {
                Feed::Slice => {
                    self.begin(StepKind::Bytes);
                    self.conn.handle_bytes(&[]);
                    self.end();
                }
                Feed::Owned => self.give(BytesMut::new()),
                lent => {
                    let buf = self.lend(lent.min());
                    self.give(buf);
                }
            }
        }
        match feed {
            Feed::Slice => {
                self.begin(StepKind::Bytes);
                self.fed += data.len();
                self.conn.handle_bytes(data);
                self.end();
            }
            Feed::Owned => self.give(BytesMut::from(data)),
            Feed::Lent { min } => {
                let mut buf = self.lend(min);
                buf.extend_from_slice(data);
                self.give(buf);
            }
            Feed::Reads { min } => {
                let mut rest = data;
                while !rest.is_empty() {
                    let mut buf = self.lend(min);
                    let n = buf.capacity().min(rest.len());
                    buf.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    self.give(buf);
                }
            }
            Feed::Two { min, min2, split, drain_between } => {
                let mut first = self.lend(min);
                let mut second = self.lend(min2);
                first.extend_from_slice(&data[..split]);
                second.extend_from_slice(&data[split..]);
                if drain_between {
                    self.give(first);
                    self.give(second);
                } else {
                    self.begin(StepKind::Bytes);
                    self.fed += data.len();
                    self.conn.handle_bytes_owned(first);
                    self.conn.handle_bytes_owned(second);
                    self.end();
                }
            }
            Feed::LendDrop { min } => {
                drop(self.lend(min));
                self.begin(StepKind::Bytes);
                self.fed += data.len();
                self.conn.handle_bytes(data);
                self.end();
            }
            Feed::Halves { min, split } => {
                let mut buf = self.lend(min);
                buf.extend_from_slice(data);
                let head = buf.split_to(split);
                self.give(head);
                self.give(buf);
            }
        }
    }

    pub fn eof(&mut self) {
        self.begin(StepKind::Eof);
        self.conn.handle_eof();
        self.end();
        assert!(self.closed.is_some(), "EOF must close the connection");
        let pongs = self.wire.frames.iter().filter(|f| f.opcode == 0xA).count();
        assert_eq!(pongs, self.pongs_matched, "a Pong no Ping asked for");
    }

    pub fn closed(&self) -> Option<&Closed> {
        self.closed.as_ref()
    }
}

/// The value of the first header `name` (case-insensitive) of an HTTP head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim_matches([' ', '\t']))
    })
}

fn mid_command(h: &mut Harness, which: u8) {
    h.command(|c| {
        let open = c.ready_state() == ReadyState::Open;
        match which {
            1 => c.close(Some(CloseCode::new(4000)), "mid").expect("valid close arguments"),
            2 => {
                let state = c.ready_state();
                let r = c.ping(Bytes::from_static(b"p"));
                // Allowed after our Close until the peer's (§5.5.2).
                assert!(
                    open && r.is_ok() || !open && (state == ReadyState::Closing || r.is_err()),
                    "{r:?} in {state:?}"
                );
            }
            3 => assert_eq!(c.send_binary(Bytes::from_static(&[1, 2, 3])).is_ok(), open),
            _ => {}
        }
    });
}

fn prelude(h: &mut Harness, input: &Input<'_>) {
    if input.handshake {
        // These run when `Open` arrives (see `Harness::connecting`).
        return;
    }
    if input.send_first() {
        h.command(|c| c.send_text("héllo").expect("open"));
        // 6 bytes in 2-byte fragments: 'é' is cut in two.
        let data: Vec<&WireFrame> = h.wire.frames.iter().filter(|f| f.opcode & 8 == 0).collect();
        assert_eq!(data.len(), 3, "fragment_size 2");
    }
    if input.close_first() {
        h.command(|c| c.close(Some(CloseCode::NORMAL), "bye").expect("valid close arguments"));
        assert!(h.wire.close_sent);
    }
}

fn harness(role: Role, input: &Input<'_>, config: Config) -> Harness {
    if input.handshake {
        Harness::connecting(role, config, input.alt, (input.send_first(), input.close_first()))
    } else {
        Harness::new(role, config)
    }
}

/// Feeds `input`'s stream in its chunks with the mid-stream command, then
/// EOF; returns the harness and the ready state just before the command.
fn run_chunked(role: Role, input: &Input<'_>, config: Config) -> (Harness, Option<ReadyState>) {
    let stream = input.stream;
    let mid = input.mid_offset();
    let mut a = harness(role, input, config);
    let mut mid_state = None;
    prelude(&mut a, input);
    for (i, (off, len, empty_first)) in input.chunks().into_iter().enumerate() {
        a.bytes(&stream[off..off + len], input.feed(i, len), empty_first);
        if i == 0 && mid.is_some() {
            mid_state = Some(a.conn.ready_state());
            mid_command(&mut a, input.mid_command);
        }
    }
    a.eof();
    (a, mid_state)
}

/// The whole check for one input and role (first, for a connection created
/// open: [`lent_matches_owned`]).
pub fn run_stream(role: Role, data: &[u8]) {
    let input = Input::parse(data);
    lent_matches_owned(role, &input);
    let config = input.config();
    let stream = input.stream;
    let mid = input.mid_offset();

    // 1. In the input's chunks, with a command after the first.
    let (mut a, mid_state) = run_chunked(role, &input, config.clone());
    // Nothing more after Closed, whatever comes.
    a.begin(StepKind::Bytes);
    a.conn.handle_bytes(b"\x81\x00");
    let mut buf = a.conn.read_buffer(10);
    assert!(buf.is_empty() && buf.capacity() >= 10, "read_buffer(10) once closed: {buf:?}");
    buf.extend_from_slice(b"\x88\x00");
    a.conn.handle_bytes_owned(buf);
    a.conn.handle_eof();
    assert_eq!(a.conn.poll_output(), None, "output after Closed");

    // 2. Whole (split only where the command runs).
    let mut b = harness(role, &input, config.clone());
    prelude(&mut b, &input);
    match mid {
        Some(at) => {
            b.bytes(&stream[..at], Feed::Slice, false);
            mid_command(&mut b, input.mid_command);
            b.bytes(&stream[at..], Feed::Slice, false);
        }
        None => b.bytes(stream, Feed::Slice, false),
    }
    b.eof();
    assert!(a.merged == b.merged, "chunking changed the outputs:\nchunked: {:?}\nwhole:   {:?}", a.merged, b.merged);

    // 3. Against the independent model of the peer's stream (after the
    //    opening handshake, which the head parsers' own results decide).
    let closed = a.closed().expect("closed").clone();
    let events: Vec<Event> = a.events.iter().filter(|e| !matches!(e, Event::Closed(_))).cloned().collect();
    let mut want_events = Vec::new();
    let mut frames_from = 0;
    if input.handshake {
        let closed_while_connecting = input.mid_command == 1 && mid_state == Some(ReadyState::Connecting);
        if closed_while_connecting {
            // The head was incomplete when close() failed the connection.
            let at = mid.expect("a mid command");
            assert_eq!(head_outcome(role, &input, &stream[..at], false), Opening::Partial);
            assert_eq!(events, [], "events before the handshake completed");
            assert_eq!(closed.error, Some(ConnectionError::ClosedWhileConnecting), "{closed:?}");
            check_refusal(role, &a, &input, closed.error.as_ref());
            return;
        }
        match head_outcome(role, &input, stream, false) {
            Opening::Open(prefix, n) => {
                want_events = prefix;
                frames_from = n;
            }
            Opening::Closed(prefix, error) => {
                assert!(events == prefix, "handshake events:\nwsmachine: {events:?}\nexpected:  {prefix:?}");
                assert_eq!(closed.error, error, "{closed:?}");
                assert!(!closed.was_clean && closed.code == CloseCode::ABNORMAL);
                check_refusal(role, &a, &input, closed.error.as_ref());
                return;
            }
            Opening::Partial => {
                // The EOF decides: a response body that runs to the close,
                // or an error in the bytes received that no checkpoint had
                // reached yet (see `handshake::scan` in wsmachine).
                let error = match head_outcome(role, &input, stream, true) {
                    Opening::Closed(_, Some(e)) => e,
                    _ => ConnectionError::Handshake(HandshakeError::Truncated),
                };
                assert_eq!(events, [], "events before the handshake completed");
                assert_eq!(closed.error, Some(error), "{closed:?}");
                check_refusal(role, &a, &input, closed.error.as_ref());
                return;
            }
        }
    }
    let frames = &stream[frames_from..];
    let closed_by_us_at = if input.close_first() {
        Some(0)
    } else if input.mid_command == 1 {
        mid.map(|m| m.saturating_sub(frames_from))
    } else {
        None
    };
    let m = model(frames, role, &config, closed_by_us_at);
    want_events.extend(m.events.iter().cloned());
    assert!(
        events == want_events,
        "events differ from the model ({:?}):\nwsmachine: {events:?}\nmodel:     {want_events:?}",
        m.end,
    );
    match &m.end {
        End::PeerClose(code, reason) => {
            assert!(closed.was_clean, "{closed:?}, model: peer Close");
            assert_eq!((closed.code.as_u16(), &closed.reason), (*code, reason));
        }
        End::Error => assert!(closed.error.is_some(), "{closed:?}, model: protocol error"),
        End::Eof => assert_eq!(
            closed,
            Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error: None }
        ),
        End::Truncated => assert!(!closed.was_clean, "{closed:?}, model: truncated"),
    }
}

/// How the opening handshake ends for the peer's `stream`, by the head
/// parsers run on it whole.
#[derive(Debug, PartialEq)]
enum Opening {
    /// OPEN: the events up to `Open`, and where the frames start.
    Open(Vec<Event>, usize),
    /// Closed during the handshake: the events before, and the error.
    Closed(Vec<Event>, Option<ConnectionError>),
    /// The head is incomplete.
    Partial,
}

fn head_outcome(role: Role, input: &Input<'_>, stream: &[u8], eof: bool) -> Opening {
    let hs = |e: HandshakeError| Opening::Closed(Vec::new(), Some(ConnectionError::Handshake(e)));
    match role {
        Role::Server => match codec::parse_request(stream, eof, HEAD_LIMIT, HEADERS_LIMIT) {
            Ok(RequestHead::Partial) => Opening::Partial,
            Ok(RequestHead::Complete(req, n)) => {
                let chat = req.protocols().iter().any(|p| p == "chat");
                let request = Event::UpgradeRequest(Arc::new(req));
                if input.alt {
                    Opening::Closed(vec![request], Some(ConnectionError::Rejected { status: 403 }))
                } else {
                    let open = Event::Open(Negotiated { protocol: chat.then(|| "chat".into()), extensions: vec![] });
                    Opening::Open(vec![request, open], n)
                }
            }
            Ok(RequestHead::NotUpgrade(req, _)) => Opening::Closed(
                vec![Event::HttpRequest(Arc::from(req))],
                Some(ConnectionError::Rejected { status: 200 }),
            ),
            Err(e) => hs(e),
        },
        Role::Client => {
            let req = client_request(input.alt);
            match codec::parse_response(stream, eof, &req, &counting_key(), HEAD_LIMIT, HEADERS_LIMIT) {
                Ok(ResponseHead::Partial) => Opening::Partial,
                Ok(ResponseHead::Accepted(a, n)) => match a.extensions.first() {
                    // §9.1: the client runs no extension, so any accepted
                    // one (all offered) fails the connection.
                    Some(e) => hs(HandshakeError::UnsupportedExtension(e.name.clone())),
                    None => {
                        Opening::Open(vec![Event::Open(Negotiated { protocol: a.protocol, extensions: vec![] })], n)
                    }
                },
                Ok(ResponseHead::Rejected(r, _)) => hs(HandshakeError::from(r)),
                Err(e) => hs(e),
            }
        }
    }
}

/// A handshake that did not open: what went on the wire.
fn check_refusal(role: Role, h: &Harness, input: &Input<'_>, error: Option<&ConnectionError>) {
    let side = h.hs.as_ref().unwrap();
    assert!(!side.opened);
    assert!(h.wire.frames.is_empty());
    let out = String::from_utf8(side.http_out.clone()).expect("heads are ASCII");
    match role {
        Role::Client => {
            // Only the request.
            let n = match codec::parse_request(&side.http_out, false, 1 << 16, 100) {
                Ok(RequestHead::Complete(_, n)) => n,
                other => panic!("our request does not parse: {other:?}"),
            };
            assert_eq!(n, out.len(), "bytes after the request: {out:?}");
        }
        Role::Server => {
            let want = match (&side.request, error) {
                (Some((_, false)), Some(ConnectionError::Rejected { status: 200 })) => Some((200, "page")),
                (Some((_, true)), Some(ConnectionError::Rejected { status: 403 })) => {
                    assert!(input.alt);
                    Some((403, "no"))
                }
                (None, Some(ConnectionError::Handshake(e))) => e.status().map(|s| (s, "")),
                // close() while a request awaits its answer answers it 503.
                (Some(_), Some(ConnectionError::ClosedWhileConnecting)) => Some((503, "")),
                (None, Some(ConnectionError::ClosedWhileConnecting)) => None,
                other => panic!("unexpected refusal {other:?}"),
            };
            match want {
                Some((status, body)) => {
                    assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out:?}");
                    let (head, rest) = out.split_once("\r\n\r\n").expect("a whole head");
                    let len: usize = header(head, "content-length").expect("Content-Length").parse().unwrap();
                    assert_eq!(rest.len(), len, "{out:?}");
                    assert!(rest.ends_with(body));
                    assert_eq!(header(head, "connection").map(|c| c.contains("close")), Some(true));
                }
                None => assert_eq!(out, "", "a response for an error that has no status"),
            }
        }
    }
}

/// Streaming receive against assembled delivery: the same chunks to two
/// connections that differ only in `streaming_receive` give the same
/// outputs once each streamed message is folded into one `Message` (and a
/// streamed message cut short is dropped, as the assembled connection never
/// delivers it). Both runs get every check of [`run_stream`]'s first run.
pub fn run_streaming(role: Role, data: &[u8]) {
    let input = Input::parse(data);
    let (s, _) = run_chunked(role, &input, input.config().with_streaming_receive(true));
    let (w, _) = run_chunked(role, &input, input.config().with_streaming_receive(false));
    assert!(
        s.merged == w.merged,
        "streaming changed the outputs:\nstreaming: {:?}\nassembled: {:?}",
        s.merged,
        w.merged
    );
}

/// What `read_buffer(min)` must lend after `fed` bytes were handed to the
/// connection: an empty buffer with room for at least `min` bytes (at least
/// 1), unless it is the rest of a frame whose start is buffered, which needs
/// more than `min` bytes fed.
pub fn check_lent(buf: &BytesMut, min: usize, fed: usize) {
    assert!(buf.is_empty(), "read_buffer({min}) lent a buffer holding {} bytes", buf.len());
    assert!(buf.capacity() >= 1, "read_buffer({min}) lent no room");
    assert!(
        buf.capacity() >= min || fed > min,
        "read_buffer({min}) lent {} bytes of room with only {fed} bytes fed",
        buf.capacity()
    );
}

/// The lib's tests count heap as the `memory` target does, so that its
/// seeds are checked against the bounds when replayed.
#[cfg(test)]
#[global_allocator]
static COUNTING: alloc::Counting = alloc::Counting;

/// `poll_event_ref` against `poll_event`: an open connection fed the
/// input's stream in its chunks (most with `read_from`, the rest with
/// `handle_bytes`, as the feed selectors say), polled by reference where
/// they say (every other poll without them), and sometimes read again
/// before it is drained, must hand out the same events, in the same order,
/// and leave the same bytes queued as one fed with `handle_bytes` and
/// polled with `poll_event` only.
pub fn lent_matches_owned(role: Role, input: &Input<'_>) {
    if input.handshake {
        return;
    }
    let config = input.config();
    let mut owned = Connection::new_open(role, config.clone(), CountingEntropy::default());
    let mut lent = Connection::new_open(role, config, CountingEntropy::default());
    let selectors: &[u8] = if input.feeds.is_empty() { &[0b1010_1010] } else { input.feeds };
    let mut polls = 0usize;
    // Up to `limit` events from each (compared), then every output if all
    // events were taken: a connection read again before it is drained
    // keeps input in `read_from`'s own buffer.
    let mut drain = |owned: &mut Connection, lent: &mut Connection, limit: usize| {
        let mut all = false;
        for _ in 0..limit {
            let bits = selectors[(polls / 8) % selectors.len()];
            let by_ref = bits >> (polls % 8) & 1 == 1;
            polls += 1;
            let a = owned.poll_event();
            let b = if by_ref { lent.poll_event_ref().map(EventRef::into_owned) } else { lent.poll_event() };
            assert!(a == b, "poll_event_ref ({by_ref}) differs:\nowned: {a:?}\nlent:  {b:?}");
            if a.is_none() {
                all = true;
                break;
            }
        }
        while all {
            let (a, b) = (owned.poll_output(), lent.poll_output());
            assert!(a == b, "outputs differ after poll_event_ref:\nowned: {a:?}\nlent:  {b:?}");
            all = a.is_some();
        }
    };
    for (i, (at, len, _)) in input.chunks().into_iter().enumerate() {
        let chunk = &input.stream[at..at + len];
        owned.handle_bytes(chunk);
        // The lent connection reads most chunks with `read_from` (whose
        // reads stay in its own buffer once messages are lent).
        let pick = selectors[i % selectors.len()];
        if pick & 0b11 != 0 {
            let mut reader = chunk;
            while !reader.is_empty() {
                lent.read_from(&mut reader).expect("a slice reads");
            }
        } else {
            lent.handle_bytes(chunk);
        }
        // Sometimes only a few events before the next read.
        let limit = if pick & 0b1100 == 0b1100 { usize::from(pick >> 4) } else { usize::MAX };
        drain(&mut owned, &mut lent, limit);
    }
    owned.handle_eof();
    lent.handle_eof();
    drain(&mut owned, &mut lent, usize::MAX);
    assert_eq!(owned.ready_state(), lent.ready_state());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(flags: u8, b1: u8, lens: &[u8], stream: &[u8]) -> Vec<u8> {
        let mut v = vec![flags, b1 | lens.len() as u8];
        v.extend_from_slice(lens);
        v.extend_from_slice(stream);
        v
    }

    #[test]
    fn rfc_masked_hello_to_server() {
        let hello = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let m = model(&hello, Role::Server, &Config::default(), None);
        assert_eq!(m.events, vec![Event::Message(Message::text("Hello"))]);
        assert_eq!(m.end, End::Eof);
        for lens in [&[][..], &[1], &[3, 0, 2], &[7]] {
            for flags in [0, 0x20, 0x40, 0x80, 0x10] {
                run_stream(Role::Server, &with_header(flags, 0, lens, &hello));
                run_stream(Role::Server, &with_header(flags, 1 << 3, lens, &hello));
            }
        }
    }

    #[test]
    fn close_and_ping_to_client() {
        let mut s = vec![0x89, 0x02, b'h', b'i', 0x01, 0x01, 0xC3, 0x80, 0x01, 0xA9];
        s.extend_from_slice(&[0x88, 0x05, 0x0F, 0xA0, b'b', b'y', b'e']);
        let m = model(&s, Role::Client, &Config::default(), None);
        assert_eq!(m.end, End::PeerClose(4000, "bye".into()));
        assert_eq!(m.events.len(), 3);
        for lens in [&[][..], &[1], &[5, 0], &[2, 3, 4]] {
            for flags in [0, 0x10, 0x20, 0x40, 0x80, 0xF0] {
                for mid in 0..4 {
                    run_stream(Role::Client, &with_header(flags, mid << 3, lens, &s));
                    run_stream(Role::Client, &with_header(flags, (mid << 3) | 0x20, lens, &s));
                }
            }
        }
    }

    #[test]
    fn failures() {
        // Unmasked to a server; invalid UTF-8 split; too big; bad close code.
        for s in [&b"\x81\x01a"[..], b"\x81\x83\0\0\0\0\xce\xba\xff", b"\x82\x7e\x01\x00", b"\x88\x82\0\0\0\0\x03\xed"]
        {
            for lens in [&[][..], &[1], &[2, 1]] {
                run_stream(Role::Server, &with_header(0, 0, lens, s));
                run_stream(Role::Server, &with_header(0x05, 0, lens, s));
            }
        }
    }

    const HELLO_MASKED: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    const HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];

    #[test]
    fn handshake_mode_server_accepts_rejects_and_fails() {
        let mut s = api::RFC_REQUEST.to_vec();
        s.extend_from_slice(&HELLO_MASKED);
        s.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        let plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let bad = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
        for stream in [&s[..], &s[..40], plain, bad, b"\x81\x80"] {
            for lens in [&[][..], &[1], &[7, 0, 50]] {
                for flags in [0, 0x20, 0x80, 0xA0] {
                    for mid in 0..4 {
                        run_stream(Role::Server, &with_header(flags, 0x40 | (mid << 3), lens, stream));
                        run_stream(Role::Server, &with_header(flags, 0xC0 | (mid << 3), lens, stream));
                    }
                }
            }
        }
    }

    #[test]
    fn handshake_mode_client() {
        let mut s = api::counting_101();
        s.extend_from_slice(&HELLO);
        s.extend_from_slice(&[0x88, 0x02, 0x03, 0xe8]);
        let rejected = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno";
        let until_close = b"HTTP/1.1 500 Oops\r\n\r\nbody";
        for stream in [&s[..], &s[..30], rejected, until_close, b"HTTP/1.1 101 OK\r\n\r\n"] {
            for lens in [&[][..], &[1], &[9, 0, 3]] {
                for flags in [0, 0x20, 0x80] {
                    for mid in 0..4 {
                        run_stream(Role::Client, &with_header(flags, 0x40 | (mid << 3), lens, stream));
                        run_stream(Role::Client, &with_header(flags, 0xC0 | (mid << 3), lens, stream));
                    }
                }
            }
        }
    }

    /// Every feed selector, over a large frame (the lent buffer then sized
    /// for its rest), a fragmented text message and the handshake, both
    /// roles, assembled and streaming.
    #[test]
    fn every_feed_selector() {
        let big: Vec<u8> = (0..3000).map(|i| (i % 251) as u8).collect();
        let mut masked = api::encode_frame(true, 0, 2, Some([1, 2, 3, 4]), &big);
        masked.extend_from_slice(&HELLO_MASKED);
        masked.extend_from_slice(&api::encode_frame(false, 0, 1, Some([5, 6, 7, 8]), "κό".as_bytes()));
        masked.extend_from_slice(&api::encode_frame(true, 0, 0, Some([0; 4]), b"!"));
        masked.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
        let mut plain = api::encode_frame(true, 0, 2, None, &big);
        plain.extend_from_slice(&HELLO);
        plain.extend_from_slice(&[0x88, 0x02, 0x03, 0xe8]);
        let mut hs = api::RFC_REQUEST.to_vec();
        hs.extend_from_slice(&masked);
        for sel in 0..=255u8 {
            let feeds = [sel, sel.rotate_left(3) ^ 0x5a, sel.wrapping_mul(37)];
            for (lens, b1) in [(&[200u8, 255, 1][..], 0), (&[7, 100, 0], 0x20), (&[][..], 0)] {
                let with_feeds = |stream: &[u8], b1: u8| {
                    let mut v = with_header(0x40, b1, lens, stream);
                    v.extend_from_slice(&feeds[..lens.len().max(1)]);
                    v
                };
                run_stream(Role::Server, &with_feeds(&masked, b1));
                run_stream(Role::Client, &with_feeds(&plain, b1));
                run_stream(Role::Server, &with_feeds(&hs, b1 | 0x40));
                run_streaming(Role::Server, &with_feeds(&masked, 0));
            }
        }
        // The selectors are taken off the end of the stream.
        let input = Input::parse(&[0x40, 2, 9, 9, 1, 2, 3, 0x12, 0x34]);
        assert_eq!((input.stream, input.feeds), (&[1, 2, 3][..], &[0x12, 0x34][..]));
        assert_eq!(input.feed(3, 9), Feed::from_selector(0x34, 9));
        assert_eq!(Input::parse(&[0, 2, 9, 9, 1, 2, 3]).feed(1, 9), Feed::Slice);
    }

    #[test]
    fn streaming_agrees_with_assembled() {
        let mut s = vec![0x01, 0x83, 0, 0, 0, 0, 0xce, 0xba, 0xe1];
        s.extend_from_slice(&[0x89, 0x81, 1, 2, 3, 4, b'p' ^ 1]);
        s.extend_from_slice(&[0x80, 0x82, 0, 0, 0, 0, 0xbd, 0xb9]);
        s.extend_from_slice(&HELLO_MASKED);
        for lens in [&[][..], &[1], &[2, 5]] {
            run_streaming(Role::Server, &with_header(0, 0, lens, &s));
            run_streaming(Role::Client, &with_header(0, 0x20, lens, &HELLO));
        }
    }

    #[test]
    fn heads_on_rfc_examples() {
        for b0 in 0..64 {
            let mut r = vec![b0];
            r.extend_from_slice(api::RFC_REQUEST);
            heads::request(&r);
            let mut r = vec![b0];
            r.extend_from_slice(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
            );
            heads::response(&r);
            heads::response(&[b0, b'H']);
        }
    }

    #[test]
    fn differential_on_rfc_vectors() {
        for b0 in [0u8, 2, 4, 8, 0x18] {
            let mut s = vec![b0];
            s.extend_from_slice(&HELLO_MASKED);
            s.extend_from_slice(&[0x89, 0x80, 0, 0, 0, 0]);
            s.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xf6]);
            differential::run(&s);
            differential::run(&s[..9]);
            let mut c = vec![b0 | 1];
            c.extend_from_slice(&HELLO);
            c.extend_from_slice(&[0x88, 0x02, 0x03, 0xf6]);
            differential::run(&c);
            // A non-minimal length, a 1014 Close, an invalid code.
            differential::run(&[b0 | 1, 0x81, 0x7e, 0x00, 0x01, b'a']);
            differential::run(&[b0 | 1, 0x88, 0x02, 0x03, 0xf6]);
            differential::run(&[b0 | 1, 0x88, 0x02, 0x03, 0xec]);
        }
    }

    #[test]
    fn api_sequences() {
        use arbitrary::{Arbitrary, Unstructured};
        let mut seed = 0x1234_5678_u64;
        for _ in 0..300 {
            let bytes: Vec<u8> = (0..400)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            if let Ok(input) = api::ApiInput::arbitrary(&mut Unstructured::new(&bytes)) {
                api::run(input);
            }
        }
    }

    /// Every committed seed passes its target's checks (as `run.sh 0`
    /// replays them), and the api_sequence seeds decode as `make_seeds.py`
    /// meant them to.
    #[test]
    fn seeds_replay() {
        use arbitrary::{Arbitrary, Unstructured};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 10] = [
            ("server_stream", |d| run_stream(Role::Server, d)),
            ("client_stream", |d| run_stream(Role::Client, d)),
            ("streaming", |d| {
                let role = if d.len() > 1 && d[1] & 0x20 != 0 { Role::Client } else { Role::Server };
                run_streaming(role, d)
            }),
            ("handshake_request", heads::request),
            ("handshake_response", heads::response),
            ("h2_connect", h2::connect),
            ("differential", differential::run),
            ("frame_decode", |_| {}),
            ("memory", |d| {
                let input = memory::MemoryInput::arbitrary_take_rest(Unstructured::new(d)).expect("decodes");
                assert!(!input.messages.is_empty() && !input.reads.is_empty(), "{input:?}");
                memory::run(input);
            }),
            ("api_sequence", |d| {
                let input = api::ApiInput::arbitrary_take_rest(Unstructured::new(d)).expect("decodes");
                assert!(input.ops.len() >= 3, "{input:?}");
                assert!(!matches!(input.ops.last(), Some(api::Op::PeerBytes(b)) if b.is_empty()), "{input:?}");
                api::run(input);
            }),
        ];
        for (target, run) in targets {
            let mut n = 0;
            for entry in std::fs::read_dir(dir.join(target)).expect("seeds") {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let r = std::panic::catch_unwind(|| run(&data));
                assert!(r.is_ok(), "seed {}", path.display());
                n += 1;
            }
            assert!(n > 0, "no seeds for {target}");
        }
    }

    #[test]
    fn wire_checker_accepts_rfc_vectors() {
        let mut w = WireChecker::new(Role::Client);
        w.feed(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d]);
        w.feed(&[0x51, 0x58]);
        w.assert_whole();
        assert_eq!(w.frames[0].payload, b"Hello");
    }

    #[test]
    #[should_panic(expected = "after our Close frame")]
    fn wire_checker_rejects_data_after_close() {
        let mut w = WireChecker::new(Role::Server);
        // A Pong after our Close is allowed, a text frame is not.
        w.feed(&[0x88, 0x00, 0x8a, 0x00]);
        w.feed(&[0x81, 0x00]);
    }
}
