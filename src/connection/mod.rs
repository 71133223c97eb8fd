//! The [`Connection`] state machine.
//!
//! `mod.rs` holds the type, its constructors, inputs, commands and the
//! output queue; `opening`, `recv`, `send` and `timers` hold the rest of
//! its methods, one concern each.

mod opening;
mod recv;
mod send;
mod timers;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};

use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::config::{Config, Role};
#[cfg(feature = "deflate")]
use crate::deflate;
use crate::entropy::Entropy;
use crate::error::{BrowserCloseError, CloseError, ConnectionError, HandshakeError, ProtocolError, SendError};
use crate::event::{CloseFrame, Closed, Event, Message, MessageKind, Negotiated, Output, Text};
use crate::frame::{self, Header, Rules};
use crate::handshake::{
    self, Accept, Accepted, ClientRequest, ExtensionOffer, Limits, Request, RequestParse, RequestReader, ResponseParse,
    ResponseReader,
};
use crate::mask::{apply_mask, extend_masked, extend_masked_at};
use crate::state::ReadyState;
use crate::time::Timestamp;
use crate::utf8::{self, Utf8Validator};

/// Payloads up to this size are copied next to their header so that one
/// `Transmit` carries many small frames; larger ones go out as their own
/// `Transmit` without a copy.
const COALESCE_MAX: usize = 1024;

/// The output buffer grows by at least this much (1 KiB: a busy connection
/// holds little more) when small frames are
/// copied into it.
const TX_RESERVE: usize = 1024;

/// Masking keys are drawn from the entropy source this many bytes (256
/// keys) at a time: one OS call per 256 frames instead of one per frame. An
/// idle connection gives the pool back (see `handle_timeout`).
const MASK_BATCH: usize = 1024;

/// The RSV1 bit (`0bRSV1_RSV2_RSV3`): permessage-deflate's "compressed"
/// flag (RFC 7692 §6).
const RSV1: u8 = 0b100;

/// Input buffers grow by at least this much (up to what a frame in
/// progress still needs) beyond what they hold.
const RX_GROWTH: usize = 64 * 1024;

/// Input buffers larger than this are released once empty, so an idle
/// connection does not keep a large message's worth of memory.
const RX_KEEP_CAPACITY: usize = 64 * 1024;

/// A WebSocket connection as a pure state machine: bytes and commands in,
/// bytes, events and deadlines out. It performs no I/O.
///
/// The methods come in four kinds, after quinn-proto:
///
/// 1. **Getters**: [`ready_state`](Self::ready_state), [`role`](Self::role),
///    [`buffered_amount`](Self::buffered_amount).
/// 2. **Inputs** from the transport, named `handle_*`:
///    [`handle_bytes`](Self::handle_bytes), [`handle_bytes_owned`](Self::handle_bytes_owned),
///    [`handle_eof`](Self::handle_eof). They never fail: the peer's mistakes
///    fail the connection (RFC 6455 §7.1.7) and come out as events.
/// 3. **Commands** from the application: [`send`](Self::send),
///    [`ping`](Self::ping), [`pong`](Self::pong), [`close`](Self::close).
///    They only queue work. The caller's mistakes come back as `Err`, and
///    then nothing was queued.
/// 4. **Output**: [`poll_output`](Self::poll_output), one ordered queue of
///    bytes to write, events and the instruction to close the transport.
///
/// After any call of kind 2 or 3, drain `poll_output` until it returns
/// `None`, doing each [`Output`] in order.
pub struct Connection {
    role: Role,
    phase: Phase,
    config: Config,
    entropy: Box<dyn Entropy + Send>,
    /// Masking keys fetched from `entropy` in batches.
    /// Empty until a client first masks; then `MASK_BATCH` bytes.
    masks: Vec<u8>,
    masks_used: usize,

    // ---- receiving ----
    rx: BytesMut,
    /// The frame whose header has been decoded and whose payload is arriving.
    frame: Option<FrameProgress>,
    /// The message in progress (started by its first frame's header).
    assembly: Option<Assembly>,
    /// UTF-8 state of the text message in progress.
    utf8: Utf8Validator,
    /// Streaming receive: the start of a code point split by the network.
    stream_tail: [u8; 4],
    stream_tail_len: u8,
    /// False once input is no longer processed: after the peer's Close, after
    /// failing the connection, after closing.
    reading: bool,
    /// Input arrived (or the phase changed) since processing last stalled.
    dirty: bool,
    /// The transport's read side ended; acted on once `rx` is processed.
    eof: bool,
    /// RSV bits a negotiated extension defines.
    rsv_allowed: u8,
    /// The negotiated permessage-deflate codec.
    #[cfg(feature = "deflate")]
    deflate: Option<deflate::Deflate>,

    // ---- closing ----
    close_sent: bool,
    close_received: Option<CloseFrame>,
    closed: bool,

    // ---- output ----
    out: VecDeque<Pending>,
    /// Bytes of queued small frames; `Pending::Tx` entries own prefixes of it.
    tx: BytesMut,
    buffered: usize,
    /// `send` failed with `Full`; `Event::Writable` is owed.
    send_blocked: bool,
    /// A message being sent in pieces.
    tx_stream: Option<TxStream>,
    /// Bytes of `tx_stream` the compressor holds back: counted in `buffered`
    /// but in no queued frame yet.
    held_back: usize,

    // ---- time ----
    /// The latest time the driver gave.
    now: Option<Timestamp>,
    /// When the opening handshake started (the first known time).
    handshake_started: Option<Timestamp>,
    /// When the closing handshake started.
    closing_started: Option<Timestamp>,
    /// When bytes last arrived.
    last_rx: Option<Timestamp>,
    /// When the unanswered keepalive Ping went out.
    ping_sent: Option<Timestamp>,
    /// Bytes arrived since the previous `handle_timeout`: not idle.
    input_since_tick: bool,
    /// The origin of `handle_timeout_at`/`poll_timeout_at`.
    #[cfg(feature = "std")]
    std_origin: Option<std::time::Instant>,
}

/// Where the opening handshake stands.
#[derive(Debug)]
enum Phase {
    /// Client: the request is queued; waiting for the server's response.
    ClientHandshake(Box<ClientHandshake>),
    /// Server: waiting for the request head (read as it arrives).
    AwaitRequest(RequestReader),
    /// Server: the request was reported; waiting for `accept` or `reject`
    /// (or, for a plain HTTP request, `reject`, which answers it).
    AwaitDecision { request: Box<Request>, upgrade: bool },
    /// The handshake is done (or was done elsewhere).
    Open,
}

#[derive(Debug)]
struct ClientHandshake {
    request: ClientRequest,
    key: String,
    /// The server's response, read as it arrives.
    reader: ResponseReader,
}

/// A frame whose header is decoded.
#[derive(Clone, Copy, Debug)]
struct FrameProgress {
    header: Header,
    /// Payload length (fits: it is at most `max_frame_size`).
    len: usize,
    /// Payload bytes at the front of `rx` already unmasked and validated.
    done: usize,
    /// Payload bytes already handed over (streaming), for the mask's phase.
    offset: usize,
    /// Validate as UTF-8 text while it arrives.
    text: bool,
    /// Part of a compressed message (permessage-deflate): inflate it.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    compressed: bool,
    /// Streaming a compressed message: the final frame's inflation ended.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    inflate_done: bool,
}

/// A message being sent in pieces.
#[derive(Debug)]
struct TxStream {
    text: bool,
    /// Its first frame is queued; the rest are continuations.
    started: bool,
    /// Text must be UTF-8 as a whole; chunks may split code points.
    utf8: Utf8Validator,
}

/// The message being received.
#[derive(Debug)]
struct Assembly {
    text: bool,
    /// The message so far, unmasked (assembled mode, uncompressed): each
    /// fragment's bytes are unmasked into it as they arrive, in one pass.
    data: BytesMut,
    /// Inflated pieces of a compressed message (assembled mode).
    #[cfg(feature = "deflate")]
    parts: Vec<Bytes>,
    /// Its size so far, counted at each frame header.
    size: usize,
    /// Compressed (RSV1 on its first frame, RFC 7692 §6); `parts` then hold
    /// inflated data.
    compressed: bool,
}

#[derive(Debug)]
enum Pending {
    /// The next `len` bytes of `tx`; `app` of them are message payload.
    Tx {
        len: usize,
        app: usize,
    },
    /// A payload sent without copying.
    Payload {
        bytes: Bytes,
        app: usize,
    },
    Event(Event),
    CloseTransport,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("ready_state", &self.ready_state())
            .field("buffered_amount", &self.buffered)
            .field("pending_outputs", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection whose opening handshake was done elsewhere (a hyper
    /// upgrade, HTTP/2 extended CONNECT per RFC 8441): it starts OPEN.
    ///
    /// `entropy` supplies masking keys; only a client uses it (§5.3).
    pub fn new_open(role: Role, config: Config, entropy: impl Entropy + Send + 'static) -> Self {
        Self::with_phase(role, Phase::Open, config, Box::new(entropy))
    }

    /// A client in CONNECTING: the upgrade request for `request` (RFC 6455
    /// §4.1) is queued as the first [`Output::Transmit`], with a
    /// `Sec-WebSocket-Key` of 16 bytes from `entropy`. The server's response
    /// then opens the connection ([`Event::Open`]) or fails it
    /// ([`Event::Closed`] with a [`HandshakeError`]).
    ///
    /// Fails, queueing nothing, when the request carries an extra header the
    /// handshake owns or one that is not valid HTTP.
    pub fn client(
        request: ClientRequest,
        config: Config,
        entropy: impl Entropy + Send + 'static,
    ) -> Result<Self, HandshakeError> {
        request.validate()?;
        // With `Config::deflate` the permessage-deflate offer is the
        // configured one (it replaces any in the request), so the response
        // is checked against what was actually offered.
        #[cfg(feature = "deflate")]
        let request = match &config.deflate {
            Some(cfg) => request.without_extension(deflate::EXTENSION_NAME).extension(deflate::client_offer(cfg)),
            None => request,
        };
        let mut entropy: Box<dyn Entropy + Send> = Box::new(entropy);
        let mut nonce = [0u8; 16];
        entropy.fill(&mut nonce);
        let key = handshake::key_from_nonce(nonce);
        let mut head = Vec::new();
        handshake::write_request(&request, &key, &mut head);
        let phase =
            Phase::ClientHandshake(Box::new(ClientHandshake { request, key, reader: ResponseReader::default() }));
        let mut conn = Self::with_phase(Role::Client, phase, config, entropy);
        conn.append_tx(&head, 0);
        Ok(conn)
    }

    /// A server in CONNECTING, waiting for the client's upgrade request
    /// (RFC 6455 §4.2). A valid request is reported as
    /// [`Event::UpgradeRequest`]; answer it with [`accept`](Self::accept) or
    /// [`reject`](Self::reject). A well-formed HTTP request that is not an
    /// upgrade is reported as [`Event::HttpRequest`]: answer it with
    /// [`reject`](Self::reject) (any status, e.g. 200 with a page). A
    /// malformed request is answered with its error status (400, 405, 426,
    /// 431) and the connection ends.
    pub fn server(config: Config) -> Self {
        Self::with_phase(Role::Server, Phase::AwaitRequest(RequestReader::default()), config, Box::new(NoEntropy))
    }

    fn with_phase(role: Role, phase: Phase, config: Config, entropy: Box<dyn Entropy + Send>) -> Self {
        Self {
            role,
            phase,
            config,
            entropy,
            masks: Vec::new(),
            masks_used: 0,
            rx: BytesMut::new(),
            frame: None,
            assembly: None,
            utf8: Utf8Validator::default(),
            stream_tail: [0; 4],
            stream_tail_len: 0,
            reading: true,
            dirty: false,
            eof: false,
            rsv_allowed: 0,
            #[cfg(feature = "deflate")]
            deflate: None,
            close_sent: false,
            close_received: None,
            input_since_tick: false,
            closed: false,
            out: VecDeque::new(),
            tx: BytesMut::new(),
            buffered: 0,
            send_blocked: false,
            tx_stream: None,
            held_back: 0,
            now: None,
            handshake_started: None,
            closing_started: None,
            last_rx: None,
            ping_sent: None,
            #[cfg(feature = "std")]
            std_origin: None,
        }
    }

    /// The state, as WHATWG's `readyState` would report it, as of the input
    /// processed so far. Input is processed as [`poll_output`](Self::poll_output)
    /// is called (and at once by [`handle_eof`](Self::handle_eof)), so bytes
    /// just fed with `handle_bytes` count only once outputs are polled.
    pub fn ready_state(&self) -> ReadyState {
        if self.closed {
            ReadyState::Closed
        } else if !matches!(self.phase, Phase::Open) {
            ReadyState::Connecting
        } else if self.close_sent || self.close_received.is_some() {
            ReadyState::Closing
        } else {
            ReadyState::Open
        }
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes of message payload queued by [`send`](Self::send) and not yet
    /// taken through [`poll_output`](Self::poll_output), like WHATWG's
    /// `bufferedAmount`: framing and control frames are not counted.
    pub fn buffered_amount(&self) -> usize {
        self.buffered
    }

    /// Feeds bytes read from the transport. Any split is fine: a frame may
    /// arrive a byte at a time. Bytes that arrive after the peer's Close or
    /// after the connection failed are ignored.
    pub fn handle_bytes(&mut self, data: &[u8]) {
        if !self.reading || self.eof || data.is_empty() {
            return;
        }
        // Room for (more of) the rest of a large frame at once, fewer
        // copies from growing a step at a time; see `frame_room`.
        let room = self.frame_room();
        self.rx.reserve(data.len().max(room));
        self.rx.extend_from_slice(data);
        self.note_input();
    }

    /// An empty buffer to read the next bytes into, to hand back (filled)
    /// with [`handle_bytes_owned`](Self::handle_bytes_owned). Its memory
    /// directly follows the input not yet processed, so handing it back
    /// joins the two without a copy, and a large frame's payload lands in
    /// place: the read is the only copy a received byte makes.
    ///
    /// Its capacity is at least `min` bytes (at least 1), and more of the
    /// rest of a frame whose header is in if that is more: up to as much
    /// as has arrived (the buffer doubles as a large frame comes in, so a
    /// header declaring a huge frame costs nothing until its bytes do).
    /// Near the end of a large frame it may be just that frame's rest, so
    /// the frame is never moved to make room. Read into its spare capacity (tokio's `read_buf`, or `resize`
    /// and `truncate` around `Read::read`) without growing it. Growing it,
    /// or handing over another buffer, is allowed and costs a copy. In
    /// steady state, with the previous messages dropped, the same
    /// allocation is reused.
    ///
    /// ```
    /// # use wsmachine::{Config, Connection, Role, OsEntropy, Output};
    /// # let mut conn = Connection::new_open(Role::Server, Config::default(), OsEntropy);
    /// # let wire = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    /// let mut buf = conn.read_buffer(64 * 1024);
    /// buf.extend_from_slice(&wire); // a read: `stream.read_buf(&mut buf).await?`
    /// conn.handle_bytes_owned(buf);
    /// # assert!(matches!(conn.poll_output(), Some(Output::Event(_))));
    /// ```
    pub fn read_buffer(&mut self, min: usize) -> BytesMut {
        let min = min.max(1);
        if !self.reading || self.eof {
            // The bytes will be ignored; the caller still needs room to read.
            return BytesMut::with_capacity(min);
        }
        let want = match self.frame_rest() {
            0 => min,
            // The end of a large frame: room for just its rest, rather than
            // moving the partial frame to make room behind it.
            rest if rest < min && self.rx.len() > min => rest,
            _ => self.frame_room().max(min),
        };
        self.rx.reserve(want);
        self.rx.split_off(self.rx.len())
    }

    /// How much room to make in `rx` for the frame in progress: its rest,
    /// but no more than the input already held (or [`RX_GROWTH`]). Memory
    /// follows what the peer actually sent, at most about twice over: a
    /// header declaring a huge frame costs nothing until its bytes come. A
    /// buffer reused in steady state is already big enough: then the whole
    /// rest.
    fn frame_room(&mut self) -> usize {
        let rest = self.frame_rest();
        // The whole rest if the buffer's allocation already has room for it
        // (moving the partial frame to its front if need be): no
        // allocation, and the frame then lands without moving again.
        if rest > 0 && self.rx.try_reclaim(rest) {
            return rest;
        }
        rest.min(self.rx.len().max(RX_GROWTH))
    }

    /// Bytes still to come of the frame whose payload is arriving, when
    /// they are kept in `rx` until it completes (not when streaming or
    /// assembling a fragmented message, where they are taken as they come).
    fn frame_rest(&self) -> usize {
        match &self.frame {
            Some(p) if !self.streams(p) && !self.assembles(p) => p.len.saturating_sub(self.rx.len()),
            _ => 0,
        }
    }

    /// Feeds bytes read from the transport into a buffer the caller hands
    /// over. When nothing is pending from an earlier read, the buffer becomes
    /// the input buffer and received payloads are slices of it: no copy.
    pub fn handle_bytes_owned(&mut self, data: BytesMut) {
        if !self.reading || self.eof || data.is_empty() {
            return;
        }
        if self.rx.is_empty() {
            self.rx = data;
        } else {
            self.rx.unsplit(data);
        }
        self.note_input();
    }

    /// The transport's read side ended (a read returned 0 bytes).
    ///
    /// Once the input before it is processed: after both Close frames this
    /// ends the connection cleanly; before, it is an abnormal closure,
    /// `Closed { code: 1006, was_clean: false }` (§7.1.5, §7.2). Bytes fed
    /// after it are ignored.
    pub fn handle_eof(&mut self) {
        if !self.closed {
            self.eof = true;
            self.dirty = true;
            // Nothing can be answered any more: process what is buffered
            // and close now, so `ready_state` is CLOSED on return.
            self.pump(false);
        }
    }

    /// Bytes arrived: the peer is alive.
    fn note_input(&mut self) {
        self.dirty = true;
        self.input_since_tick = true;
        if self.now.is_some() {
            self.last_rx = self.now;
        }
        self.ping_sent = None;
    }

    /// True when everything fed so far has been processed and every output
    /// taken: the moment to read from the transport again. A driver that
    /// reads only then (the drive loop does) holds at most one read plus one
    /// partial frame in the connection, however slowly its application
    /// consumes events.
    ///
    /// False while a server's upgrade request waits for `accept` or `reject`
    /// (input behind it cannot be processed yet), after EOF and once closed.
    /// True while a client waits for the server to close TCP (§7.1.1): only
    /// a read can see that EOF.
    pub fn wants_read(&self) -> bool {
        !self.closed
            && !self.eof
            && !self.dirty
            && self.out.is_empty()
            && !matches!(self.phase, Phase::AwaitDecision { .. })
    }

    fn on_eof(&mut self) {
        if matches!(self.phase, Phase::ClientHandshake(_) | Phase::AwaitRequest(_)) {
            // The head (or a rejection's body) ends here: see `handshake_eof`.
            return self.handshake_eof();
        }
        match self.phase {
            // The request is complete: the answer can still go out (a client
            // may half-close after its request); the handshake timeout
            // bounds the wait. An accepted connection then ends with 1006.
            Phase::AwaitDecision { .. } => return,
            Phase::Open => {}
            _ => return self.fail_handshake(HandshakeError::Truncated),
        }
        match (&self.close_received, self.close_sent) {
            (Some(frame), true) => {
                let (code, reason) = (frame.code, frame.reason.clone());
                self.finish(code, reason, true, None);
            }
            _ => self.finish(CloseCode::ABNORMAL, String::new(), false, None),
        }
    }

    /// Queues a message. Allowed only while OPEN; nothing is queued on error.
    ///
    /// With [`Config::send_high_water`] set, a message that would take
    /// [`buffered_amount`](Self::buffered_amount) past the mark fails with
    /// [`SendError::Full`] (unless nothing is buffered); [`Event::Writable`]
    /// follows once the buffer drains to [`Config::send_low_water`].
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), SendError> {
        self.check_open()?;
        if self.tx_stream.is_some() {
            return Err(SendError::StreamInProgress);
        }
        let message = message.into();
        self.check_room(message.len())?;
        let opcode = if message.is_text() { frame::TEXT } else { frame::BINARY };
        let payload = message.into_bytes();
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.deflate.as_mut().filter(|c| c.should_compress(payload.len())) {
            let mut out = BytesMut::new();
            codec.compress(&payload, &mut out);
            self.queue_data(opcode, out.freeze(), true, RSV1, Some(payload.len()));
            return Ok(());
        }
        self.queue_data(opcode, payload, true, 0, None);
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<Text>) -> Result<(), SendError> {
        self.send(Message::Text(text.into()))
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Message::Binary(data.into()))
    }

    /// Queues a Ping with up to 125 bytes of payload (§5.5.2).
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue_control_checked(frame::PING, payload.into())
    }

    /// Queues a Pong with up to 125 bytes of payload (§5.5.3): an answer to a
    /// Ping when [`Config::auto_pong`] is off, or an unsolicited heartbeat.
    pub fn pong(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue_control_checked(frame::PONG, payload.into())
    }

    /// Starts the closing handshake (§7.1.2), with the rules of WHATWG's
    /// `close()` extended to the codes a server needs.
    ///
    /// - `code` must be [sendable](CloseCode::is_sendable) (never 1004, 1005,
    ///   1006, 1015 or an unassigned code), else [`CloseError::InvalidCode`];
    ///   `reason` at most 123 UTF-8 bytes, else [`CloseError::ReasonTooLong`].
    ///   The arguments are checked first, in that order, whatever the state.
    /// - CONNECTING: fails the connection (WHATWG): `CloseTransport`, then
    ///   `Closed { code: 1006, was_clean: false }`.
    /// - OPEN: queues the Close frame after every message queued before it
    ///   (close() discards nothing) and moves to CLOSING; nothing can be
    ///   queued after it.
    /// - CLOSING or CLOSED: does nothing.
    /// - With no code the Close frame has no body. WHATWG sends the reason
    ///   only after a code, so a reason without a code is checked and then
    ///   not sent.
    pub fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), CloseError> {
        if let Some(c) = code {
            if !c.is_sendable() {
                return Err(CloseError::InvalidCode(c.as_u16()));
            }
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(CloseError::ReasonTooLong(reason.len()));
        }
        self.start_close(code, reason);
        Ok(())
    }

    /// `close(code, reason)` exactly as the browser's `WebSocket.close()`
    /// defines it: a code must be 1000 or in 3000–4999, else
    /// `InvalidAccessError`; a reason must be at most 123 UTF-8 bytes, else
    /// `SyntaxError`. Otherwise it behaves as [`close`](Self::close).
    pub fn browser_close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), BrowserCloseError> {
        if let Some(c) = code {
            if !CloseCode::new(c).is_browser_allowed() {
                return Err(BrowserCloseError::InvalidAccessError(c));
            }
        }
        let reason = reason.unwrap_or("");
        if reason.len() > MAX_REASON_LEN {
            return Err(BrowserCloseError::SyntaxError(reason.len()));
        }
        self.start_close(code.map(CloseCode::new), reason);
        Ok(())
    }

    /// The next thing to do, in order; `None` when there is nothing until the
    /// next input or command.
    #[must_use]
    #[inline]
    pub fn poll_output(&mut self) -> Option<Output> {
        if !self.out.is_empty() {
            return self.pop_output();
        }
        if !self.dirty {
            // Nothing fed since processing last stalled.
            return None;
        }
        self.poll_input()
    }

    /// `poll_output` with nothing queued and input to look at: processes it
    /// until something is queued.
    #[inline(never)]
    fn poll_input(&mut self) -> Option<Output> {
        if self.fast_path_ready() {
            if let Some(message) = self.next_whole_message() {
                return Some(Output::Event(Event::Message(message)));
            }
        }
        self.pump(true);
        self.pop_output()
    }

    #[inline(always)]
    fn pop_output(&mut self) -> Option<Output> {
        Some(match self.out.pop_front()? {
            Pending::Tx { len, app } => {
                self.drained(app);
                Output::Transmit(self.tx.split_to(len).freeze())
            }
            Pending::Payload { bytes, app } => {
                self.drained(app);
                Output::Transmit(bytes)
            }
            Pending::Event(e) => Output::Event(e),
            Pending::CloseTransport => Output::CloseTransport,
        })
    }

    /// `app` bytes of message payload left through `poll_output`.
    fn drained(&mut self, app: usize) {
        self.buffered -= app;
        if self.send_blocked && self.buffered <= self.config.send_low_water {
            self.send_blocked = false;
            // Only worth saying while messages can still be sent.
            if self.ready_state() == ReadyState::Open {
                self.push(Pending::Event(Event::Writable));
            }
        }
    }

    /// Processes buffered input until an output is queued (when
    /// `stop_at_output`) or nothing more can be done. Input is taken lazily,
    /// one frame at a time, so the application sees each event before the
    /// input behind it is looked at: it can answer a message before a Close
    /// that came in the same read.
    fn pump(&mut self, stop_at_output: bool) {
        while (!stop_at_output || self.out.is_empty()) && self.dirty && !self.closed {
            let more = match self.phase {
                Phase::Open => self.reading && self.step_or_fail(),
                Phase::ClientHandshake(_) => self.client_handshake(),
                Phase::AwaitRequest(_) => self.server_handshake(),
                Phase::AwaitDecision { .. } => {
                    // Frames pipelined behind the request wait for the
                    // answer; bound them as one message's worth.
                    let bound = self.config.max_head_size.saturating_add(self.config.max_message_size);
                    if self.rx.len() > bound {
                        self.fail_handshake(HandshakeError::HeadTooLarge);
                    }
                    false
                }
            };
            if !more {
                self.dirty = false;
                if self.eof && !self.closed {
                    self.on_eof();
                }
                self.fire_timers();
                // Release a large, empty input buffer unless a frame's
                // payload is about to land in it.
                if self.rx.is_empty() && self.frame.is_none() && self.rx.capacity() > RX_KEEP_CAPACITY {
                    self.rx = BytesMut::new();
                }
            }
        }
    }

    /// One frame step; a protocol error fails the connection.
    fn step_or_fail(&mut self) -> bool {
        match self.step() {
            Ok(more) => more,
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    /// The connection is closed: `CloseTransport` (once), then `Closed`, last.
    fn finish(&mut self, code: CloseCode, reason: String, was_clean: bool, error: Option<ConnectionError>) {
        if self.closed {
            return;
        }
        self.stop_reading();
        // `closed` is set just below, so this runs once: CloseTransport once.
        self.out.push_back(Pending::CloseTransport);
        self.out.push_back(Pending::Event(Event::Closed(Closed { code, reason, was_clean, error })));
        self.closed = true;
    }

    fn push(&mut self, p: Pending) {
        if !self.closed {
            self.out.push_back(p);
        }
    }
}

/// The entropy of a server, which never masks.
#[derive(Debug)]
struct NoEntropy;

impl Entropy for NoEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        // Unreachable in practice: only a client draws masks and nonces, and
        // a server is built with this source. Zeroes keep it panic-free.
        dest.fill(0);
    }
}
