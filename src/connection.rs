//! The [`Connection`] state machine.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};

use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::config::{Config, Role};
use crate::entropy::Entropy;
use crate::error::{BrowserCloseError, CloseError, ConnectionError, HandshakeError, ProtocolError, SendError};
use crate::event::{CloseFrame, Closed, Event, Message, MessageKind, Negotiated, Output, Text};
use crate::handshake::{
    self, Accept, Accepted, ClientRequest, ExtensionOffer, Limits, Request, RequestParse, ResponseParse,
};
use crate::frame::{self, Header, Rules};
use crate::mask::apply_mask;
use crate::state::ReadyState;
use crate::time::Timestamp;
use crate::utf8::{self, Utf8Validator};

/// Payloads up to this size are copied next to their header so that one
/// `Transmit` carries many small frames; larger ones go out as their own
/// `Transmit` without a copy.
const COALESCE_MAX: usize = 1024;

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
    masks: [u8; 32],
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

    // ---- closing ----
    close_sent: bool,
    close_received: Option<CloseFrame>,
    transport_closed: bool,
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
    /// The origin of `handle_timeout_at`/`poll_timeout_at`.
    #[cfg(feature = "std")]
    std_origin: Option<std::time::Instant>,
}

/// Where the opening handshake stands.
#[derive(Debug)]
enum Phase {
    /// Client: the request is queued; waiting for the server's response.
    ClientHandshake(Box<ClientHandshake>),
    /// Server: waiting for the request head.
    AwaitRequest,
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
    /// Payloads of its completed non-final frames (assembled mode).
    parts: Vec<Bytes>,
    /// Its size so far, counted at each frame header.
    size: usize,
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
        let mut entropy: Box<dyn Entropy + Send> = Box::new(entropy);
        let mut nonce = [0u8; 16];
        entropy.fill(&mut nonce);
        let key = handshake::key_from_nonce(nonce);
        let mut head = Vec::new();
        handshake::write_request(&request, &key, &mut head);
        let phase = Phase::ClientHandshake(Box::new(ClientHandshake { request, key }));
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
        Self::with_phase(Role::Server, Phase::AwaitRequest, config, Box::new(NoEntropy))
    }

    fn with_phase(role: Role, phase: Phase, config: Config, entropy: Box<dyn Entropy + Send>) -> Self {
        Self {
            role,
            phase,
            config,
            entropy,
            masks: [0; 32],
            masks_used: 32,
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
            close_sent: false,
            close_received: None,
            transport_closed: false,
            closed: false,
            out: VecDeque::new(),
            tx: BytesMut::new(),
            buffered: 0,
            send_blocked: false,
            tx_stream: None,
            now: None,
            handshake_started: None,
            closing_started: None,
            last_rx: None,
            ping_sent: None,
            #[cfg(feature = "std")]
            std_origin: None,
        }
    }

    // ------------------------------------------------------------------
    // Getters
    // ------------------------------------------------------------------

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

    // ------------------------------------------------------------------
    // Inputs
    // ------------------------------------------------------------------

    /// Feeds bytes read from the transport. Any split is fine: a frame may
    /// arrive a byte at a time. Bytes that arrive after the peer's Close or
    /// after the connection failed are ignored.
    pub fn handle_bytes(&mut self, data: &[u8]) {
        if !self.reading || self.eof || data.is_empty() {
            return;
        }
        self.rx.extend_from_slice(data);
        self.note_input();
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
        if self.now.is_some() {
            self.last_rx = self.now;
        }
        self.ping_sent = None;
    }

    /// Tells the connection the time and fires every deadline that is due
    /// (RFC 6455 §7.1.1's close timeout, the opening handshake timeout,
    /// keepalive). Call it once when the connection is created and on every
    /// wake-up, before feeding the bytes that woke you: bytes are stamped with
    /// the latest time given. Time never goes back: an earlier `now` counts
    /// as the latest one. What a deadline does comes out of
    /// [`poll_output`](Self::poll_output), after anything already queued.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.now.map_or(now, |prev| prev.max(now));
        self.now = Some(now);
        if self.closed {
            return;
        }
        self.handshake_started.get_or_insert(now);
        self.last_rx.get_or_insert(now);
        if self.close_sent || self.close_received.is_some() {
            self.closing_started.get_or_insert(now);
        }
        // Checked once the input before it is processed (see `pump`).
        self.dirty = true;
    }

    /// The next deadline: call [`handle_timeout`](Self::handle_timeout) at
    /// that time if nothing else happens first. `None` when no timer runs:
    /// before the first `handle_timeout`, with every timeout turned off, and
    /// always once the connection is CLOSED.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.closed {
            return None;
        }
        [self.handshake_deadline(), self.close_deadline(), self.keepalive_deadline()].into_iter().flatten().min()
    }

    /// [`handle_timeout`](Self::handle_timeout) with a `std::time::Instant`.
    /// The first `Instant` given becomes the origin of this connection's
    /// [`Timestamp`]s; do not mix with `handle_timeout`.
    #[cfg(feature = "std")]
    pub fn handle_timeout_at(&mut self, now: std::time::Instant) {
        let origin = *self.std_origin.get_or_insert(now);
        self.handle_timeout(Timestamp::from_duration(now.saturating_duration_since(origin)));
    }

    /// [`poll_timeout`](Self::poll_timeout) as a `std::time::Instant`; `None`
    /// also before the first [`handle_timeout_at`](Self::handle_timeout_at).
    #[cfg(feature = "std")]
    #[must_use]
    pub fn poll_timeout_at(&self) -> Option<std::time::Instant> {
        self.std_origin?.checked_add(self.poll_timeout()?.as_duration())
    }

    fn handshake_deadline(&self) -> Option<Timestamp> {
        if matches!(self.phase, Phase::Open) {
            return None;
        }
        Some(self.handshake_started?.saturating_add(self.config.handshake_timeout?))
    }

    fn close_deadline(&self) -> Option<Timestamp> {
        Some(self.closing_started?.saturating_add(self.config.close_timeout?))
    }

    fn keepalive_deadline(&self) -> Option<Timestamp> {
        if self.ready_state() != ReadyState::Open {
            return None;
        }
        let interval = self.config.keepalive_interval?;
        match self.ping_sent {
            Some(sent) => Some(sent.saturating_add(self.config.keepalive_timeout)),
            None => Some(self.last_rx?.saturating_add(interval)),
        }
    }

    /// Fires the deadlines due at the latest known time.
    fn fire_timers(&mut self) {
        let Some(now) = self.now else { return };
        if self.closed {
            return;
        }
        if self.handshake_deadline().is_some_and(|d| now >= d) {
            return self.fail_handshake(HandshakeError::Timeout);
        }
        if self.close_deadline().is_some_and(|d| now >= d) {
            return match (&self.close_received, self.close_sent) {
                // Both Close frames passed; the server did not close TCP.
                (Some(frame), true) => {
                    let (code, reason) = (frame.code, frame.reason.clone());
                    self.finish(code, reason, true, None)
                }
                _ => self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::CloseTimeout)),
            };
        }
        if self.keepalive_deadline().is_some_and(|d| now >= d) {
            if self.ping_sent.is_some() {
                self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::KeepaliveTimeout));
            } else {
                self.queue_control(frame::PING, &[]);
                self.ping_sent = Some(now);
            }
        }
    }

    /// True when everything fed so far has been processed and every output
    /// taken: the moment to read from the transport again. A driver that
    /// reads only then (the drive loop does) holds at most one read plus one
    /// partial frame in the connection, however slowly its application
    /// consumes events.
    pub fn wants_read(&self) -> bool {
        !self.closed && self.reading && !self.eof && !self.dirty && self.out.is_empty()
    }

    fn on_eof(&mut self) {
        if let Phase::ClientHandshake(hs) = &self.phase {
            // A non-101 response without a length ends at EOF.
            let result = handshake::parse_response(&self.rx, true, &hs.request, &hs.key, self.limits());
            let error = match result {
                Ok(ResponseParse::Rejected(rejection, _)) => HandshakeError::from(rejection),
                Err(e) => e,
                Ok(_) => HandshakeError::Truncated,
            };
            return self.fail_handshake(error);
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

    // ------------------------------------------------------------------
    // Commands
    // ------------------------------------------------------------------

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
        match message {
            Message::Text(t) => self.queue_data(frame::TEXT, t.into_bytes(), true),
            Message::Binary(b) => self.queue_data(frame::BINARY, b, true),
        }
        Ok(())
    }

    /// Starts a message sent in pieces (§5.4): each
    /// [`send_chunk`](Self::send_chunk) queues one more frame at once (split
    /// further at [`Config::fragment_size`]), and
    /// [`finish_message`](Self::finish_message) queues the final one. Pings,
    /// Pongs and a Close may go out between the pieces; other messages may
    /// not (`send` fails with [`SendError::StreamInProgress`] until the
    /// message is finished).
    ///
    /// [`close`](Self::close) during an unfinished message sends the Close
    /// at once, between two fragments as §5.4 allows, and abandons the
    /// message: the peer discards its unfinished part, and further pieces
    /// fail with [`SendError::NotOpen`]. Waiting for the rest instead would
    /// let an application that never finishes keep the connection from
    /// closing; WHATWG's "close() does not discard messages" covers messages
    /// handed over whole, which this one is not.
    pub fn begin_message(&mut self, kind: MessageKind) -> Result<(), SendError> {
        self.check_open()?;
        if self.tx_stream.is_some() {
            return Err(SendError::StreamInProgress);
        }
        let text = kind == MessageKind::Text;
        self.tx_stream = Some(TxStream { text, started: false, utf8: Utf8Validator::default() });
        Ok(())
    }

    /// Queues the next piece of the message started by
    /// [`begin_message`](Self::begin_message). For text, the pieces together
    /// must be UTF-8 (a code point may be split between pieces); a piece that
    /// makes it invalid fails with [`SendError::InvalidUtf8`] and is not
    /// queued. An empty piece queues nothing.
    pub fn send_chunk(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue_piece(data.into(), false)
    }

    /// Queues the last piece (possibly empty) of the message started by
    /// [`begin_message`](Self::begin_message) and ends it. Text must end on a
    /// whole code point, else [`SendError::InvalidUtf8`].
    pub fn finish_message(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue_piece(data.into(), true)
    }

    fn queue_piece(&mut self, data: Bytes, fin: bool) -> Result<(), SendError> {
        self.check_open()?;
        let Some(stream) = &self.tx_stream else {
            return Err(SendError::NoStreamInProgress);
        };
        let (text, started) = (stream.text, stream.started);
        let mut utf8 = stream.utf8.clone();
        if text && (utf8.feed(&data).is_err() || (fin && !utf8.is_complete())) {
            return Err(SendError::InvalidUtf8);
        }
        if data.is_empty() && !fin {
            return Ok(());
        }
        self.check_room(data.len())?;
        let opcode = match (started, text) {
            (true, _) => frame::CONTINUATION,
            (false, true) => frame::TEXT,
            (false, false) => frame::BINARY,
        };
        self.queue_data(opcode, data, fin);
        self.tx_stream = if fin { None } else { Some(TxStream { text, started: true, utf8 }) };
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

    /// (Server) Accepts the pending upgrade request with `101 Switching
    /// Protocols` (RFC 6455 §4.2.2): CONNECTING → OPEN, and
    /// [`Event::Open`] follows. Frames the client sent right behind its
    /// request are processed now.
    ///
    /// Without a subprotocol in `accept`, the first of
    /// [`Config::protocols`] that the client offered is chosen. Fails,
    /// changing nothing, when no upgrade request is waiting
    /// ([`HandshakeError::NoPendingRequest`]), when the subprotocol was not
    /// offered, or when an extra header is invalid or owned by the handshake.
    pub fn accept(&mut self, mut accept: Accept) -> Result<(), HandshakeError> {
        let Phase::AwaitDecision { request, upgrade: true } = &self.phase else {
            return Err(HandshakeError::NoPendingRequest);
        };
        if self.closed {
            return Err(HandshakeError::NoPendingRequest);
        }
        if accept.selected_protocol().is_none() {
            if let Some(p) = self.config.protocols.iter().find(|p| request.protocols().contains(p)) {
                accept = accept.protocol(p.clone());
            }
        }
        let extensions = negotiate_server_extensions(request.extensions());
        accept.set_extensions(extensions.clone());
        handshake::validate_accept(request, &accept)?;
        let mut head = Vec::new();
        handshake::write_accept(request, &accept, &mut head);
        self.append_tx(&head, 0);
        let protocol = accept.selected_protocol().map(String::from);
        self.open(Negotiated { protocol, extensions });
        Ok(())
    }

    /// (Server) Answers the pending request with any other HTTP response:
    /// a rejection of an upgrade request (e.g. 403), or the answer to a plain
    /// HTTP request ([`Event::HttpRequest`], e.g. 200 with a page). The
    /// response carries `Content-Length` and `Connection: close`;
    /// `CloseTransport` and `Closed { code: 1006, was_clean: false }` follow.
    ///
    /// Fails, changing nothing, when no request is waiting, when `status` is
    /// not a final status (200–999), or when a header is invalid or one the
    /// response writes itself (`Connection`, `Content-Length`,
    /// `Transfer-Encoding`).
    pub fn reject(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), HandshakeError> {
        if self.closed || !matches!(self.phase, Phase::AwaitDecision { .. }) {
            return Err(HandshakeError::NoPendingRequest);
        }
        let headers: Vec<(String, String)> =
            headers.iter().map(|(n, v)| (String::from(*n), String::from(*v))).collect();
        handshake::validate_reject(status, &headers)?;
        let mut head = Vec::new();
        handshake::write_response(status, &headers, body, &mut head);
        self.append_tx(&head, 0);
        self.finish(CloseCode::ABNORMAL, String::new(), false, None);
        Ok(())
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// The next thing to do, in order; `None` when there is nothing until the
    /// next input or command.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.out.is_empty() {
            self.pump(true);
        }
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
            self.push(Pending::Event(Event::Writable));
        }
    }

    // ------------------------------------------------------------------
    // Opening handshake
    // ------------------------------------------------------------------

    fn limits(&self) -> Limits {
        Limits { max_head_size: self.config.max_head_size, max_headers: self.config.max_headers }
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
                Phase::AwaitRequest => self.server_handshake(),
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
                if self.rx.is_empty() && self.rx.capacity() > RX_KEEP_CAPACITY {
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

    /// Parses the server's response; true when the connection opened.
    fn client_handshake(&mut self) -> bool {
        let Phase::ClientHandshake(hs) = &self.phase else { return false };
        match handshake::parse_response(&self.rx, false, &hs.request, &hs.key, self.limits()) {
            Ok(ResponseParse::Partial) => return false,
            Ok(ResponseParse::Accepted(accepted, head_len)) => {
                let _ = self.rx.split_to(head_len);
                match self.accept_client_extensions(&accepted) {
                    Ok(()) => {
                        let Accepted { protocol, extensions, .. } = accepted;
                        self.open(Negotiated { protocol, extensions });
                    }
                    Err(e) => self.fail_handshake(e),
                }
            }
            Ok(ResponseParse::Rejected(rejection, _)) => self.fail_handshake(rejection.into()),
            Err(e) => self.fail_handshake(e),
        }
        true
    }

    /// Parses the client's request; true when it was reported or answered.
    fn server_handshake(&mut self) -> bool {
        match handshake::parse_request(&self.rx, self.limits()) {
            Ok(RequestParse::Partial) => return false,
            Ok(RequestParse::Complete(request, head_len)) => {
                let _ = self.rx.split_to(head_len);
                self.phase = Phase::AwaitDecision { request: Box::new(request.clone()), upgrade: true };
                self.push(Pending::Event(Event::UpgradeRequest(request)));
            }
            Err(HandshakeError::NotUpgrade(request)) => {
                // Nothing after a plain request is read: it is answered and
                // the connection closes.
                self.rx = BytesMut::new();
                self.phase = Phase::AwaitDecision { request: request.clone(), upgrade: false };
                self.push(Pending::Event(Event::HttpRequest(*request)));
            }
            Err(e) => {
                let mut response = Vec::new();
                handshake::write_error_response(&e, &mut response);
                self.append_tx(&response, 0);
                self.fail_handshake(e);
            }
        }
        true
    }

    /// CONNECTING → OPEN; input that came with the handshake is processed.
    fn open(&mut self, negotiated: Negotiated) {
        self.phase = Phase::Open;
        self.push(Pending::Event(Event::Open(negotiated)));
        self.dirty = true;
    }

    /// The opening handshake failed: close the transport, report 1006.
    fn fail_handshake(&mut self, error: HandshakeError) {
        self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::Handshake(error)));
    }

    /// The extension hook, client side: every extension the server accepted
    /// must be one this endpoint runs (RFC 6455 §9.1).
    fn accept_client_extensions(&mut self, accepted: &Accepted) -> Result<(), HandshakeError> {
        match accepted.extensions.first() {
            Some(e) => Err(HandshakeError::UnsupportedExtension(e.name.clone())),
            None => Ok(()),
        }
    }

    // ------------------------------------------------------------------
    // Receiving
    // ------------------------------------------------------------------

    fn rules(&self) -> Rules {
        Rules { receiver: self.role, rsv_allowed: self.rsv_allowed, max_frame_size: self.config.max_frame_size }
    }

    /// One unit of progress. `Ok(true)`: a frame completed and was acted on;
    /// `Ok(false)`: more bytes are needed (the partial payload seen so far is
    /// unmasked and, for text, validated, so bad UTF-8 fails at once).
    fn step(&mut self) -> Result<bool, ProtocolError> {
        let mut progress = match self.frame {
            Some(p) => p,
            None => {
                let Some((header, header_len)) = frame::decode_header(&self.rx, &self.rules())? else {
                    return Ok(false);
                };
                let progress = self.accept_header(header)?;
                let _ = self.rx.split_to(header_len);
                progress
            }
        };
        let avail = self.rx.len().min(progress.len);
        if avail > progress.done {
            let fresh = &mut self.rx[progress.done..avail];
            if let Some(key) = progress.header.mask {
                apply_mask(fresh, key, progress.offset + progress.done);
            }
            if progress.text && self.utf8.feed(fresh).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            progress.done = avail;
        }
        let streaming = self.config.streaming_receive && !frame::is_control(progress.header.opcode);
        if streaming && progress.done > 0 {
            // Hand over what arrived; only the undelivered rest stays.
            let chunk = self.rx.split_to(progress.done).freeze();
            progress.offset += progress.done;
            progress.len -= progress.done;
            progress.done = 0;
            self.stream_chunk(progress.text, chunk);
        }
        if progress.done < progress.len {
            self.frame = Some(progress);
            return Ok(streaming && !self.out.is_empty());
        }
        self.frame = None;
        if streaming {
            if progress.header.fin {
                if !self.utf8.is_complete() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                self.assembly = None;
                self.push(Pending::Event(Event::MessageEnd));
            }
            return Ok(true);
        }
        let payload = if progress.len == 0 { Bytes::new() } else { self.rx.split_to(progress.len).freeze() };
        self.on_frame(progress.header, payload)?;
        Ok(true)
    }

    /// Checks a decoded header against the message state (§5.4) and the
    /// message size limit (§10.4).
    fn accept_header(&mut self, header: Header) -> Result<FrameProgress, ProtocolError> {
        // Fits: `decode_header` checked it against `max_frame_size`.
        let len = header.len as usize;
        let text = match header.opcode {
            frame::TEXT | frame::BINARY => {
                if self.assembly.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                self.check_message_size(len)?;
                self.utf8.reset();
                self.stream_tail_len = 0;
                let text = header.opcode == frame::TEXT;
                self.assembly = Some(Assembly { text, parts: Vec::new(), size: len });
                if self.config.streaming_receive {
                    let kind = if text { MessageKind::Text } else { MessageKind::Binary };
                    self.push(Pending::Event(Event::MessageStart(kind)));
                }
                text
            }
            frame::CONTINUATION => {
                let max = self.config.max_message_size;
                let Some(a) = &mut self.assembly else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                let size = a.size.saturating_add(len);
                if size > max {
                    return Err(ProtocolError::MessageTooLarge { size: size as u64, max });
                }
                a.size = size;
                a.text
            }
            _ => false,
        };
        Ok(FrameProgress { header, len, done: 0, offset: 0, text })
    }

    fn check_message_size(&self, size: usize) -> Result<(), ProtocolError> {
        if size > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge { size: size as u64, max: self.config.max_message_size });
        }
        Ok(())
    }

    /// Streaming receive: hands over validated message data. A text chunk
    /// never ends inside a code point: an incomplete tail waits (at most 3
    /// bytes) for the bytes that complete it.
    fn stream_chunk(&mut self, text: bool, mut bytes: Bytes) {
        if !text {
            if !bytes.is_empty() {
                self.push(Pending::Event(Event::MessageChunk(Message::Binary(bytes))));
            }
            return;
        }
        if self.stream_tail_len > 0 {
            let have = usize::from(self.stream_tail_len);
            let width = utf8::width(self.stream_tail[0]);
            let take = (width - have).min(bytes.len());
            self.stream_tail[have..have + take].copy_from_slice(&bytes[..take]);
            bytes.advance(take);
            if have + take < width {
                self.stream_tail_len = (have + take) as u8;
                return;
            }
            self.stream_tail_len = 0;
            let code_point = Bytes::copy_from_slice(&self.stream_tail[..width]);
            self.push(Pending::Event(Event::MessageChunk(Message::Text(Text::from_validated(code_point)))));
        }
        let keep = utf8::incomplete_suffix(&bytes);
        let complete = bytes.len() - keep;
        self.stream_tail[..keep].copy_from_slice(&bytes[complete..]);
        self.stream_tail_len = keep as u8;
        if complete > 0 {
            bytes.truncate(complete);
            self.push(Pending::Event(Event::MessageChunk(Message::Text(Text::from_validated(bytes)))));
        }
    }

    /// Acts on a complete, unmasked frame (assembled mode).
    fn on_frame(&mut self, header: Header, payload: Bytes) -> Result<(), ProtocolError> {
        match header.opcode {
            frame::TEXT | frame::BINARY | frame::CONTINUATION => {
                if !header.fin {
                    if let Some(a) = &mut self.assembly {
                        if !payload.is_empty() {
                            a.parts.push(payload);
                        }
                    }
                    return Ok(());
                }
                // `accept_header` started the message.
                let Some(a) = self.assembly.take() else { return Ok(()) };
                let whole = if a.parts.is_empty() {
                    payload
                } else {
                    let mut parts = a.parts;
                    parts.push(payload);
                    concat(parts)
                };
                self.deliver(a.text, whole)?;
            }
            frame::PING => {
                if self.config.auto_pong && !self.close_sent {
                    self.queue_control(frame::PONG, &payload);
                }
                self.push(Pending::Event(Event::Ping(payload)));
            }
            frame::PONG => self.push(Pending::Event(Event::Pong(payload))),
            frame::CLOSE => self.on_close(&payload)?,
            // `decode_header` rejects every other opcode.
            op => return Err(ProtocolError::ReservedOpcode(op)),
        }
        Ok(())
    }

    fn deliver(&mut self, text: bool, payload: Bytes) -> Result<(), ProtocolError> {
        let message = if text {
            if !self.utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            Message::Text(Text::from_validated(payload))
        } else {
            Message::Binary(payload)
        };
        self.push(Pending::Event(Event::Message(message)));
        Ok(())
    }

    /// The peer's Close frame (§5.5.1, §7.1.5).
    fn on_close(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        let frame = match payload {
            [] => CloseFrame { code: CloseCode::NO_STATUS_RCVD, reason: String::new() },
            [_] => return Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode::new(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_received() {
                    return Err(ProtocolError::InvalidCloseCode(code.as_u16()));
                }
                let Ok(reason) = core::str::from_utf8(reason) else {
                    return Err(ProtocolError::InvalidCloseReason);
                };
                CloseFrame { code, reason: String::from(reason) }
            }
        };
        // Nothing after the peer's Close is processed or delivered.
        self.stop_reading();
        let peer_started = !self.close_sent;
        if peer_started {
            // Echo the code and reason (§5.5.1); none if the peer sent none.
            let code = (frame.code != CloseCode::NO_STATUS_RCVD).then_some(frame.code);
            self.queue_close(code, &frame.reason);
            self.push(Pending::Event(Event::Closing(frame.clone())));
        }
        let (code, reason) = (frame.code, frame.reason.clone());
        self.close_received = Some(frame);
        if self.closing_started.is_none() {
            self.closing_started = self.now;
        }
        // §7.1.1: the server closes the TCP connection first; the client
        // waits for it.
        if self.role == Role::Server {
            self.finish(code, reason, true, None);
        }
        Ok(())
    }

    /// Fails the connection (§7.1.7): a Close with the error's code if ours
    /// was not sent, no more input, close the transport, report 1006.
    fn fail(&mut self, error: ProtocolError) {
        if self.closed {
            return;
        }
        if !self.close_sent {
            self.queue_close(Some(error.close_code()), "");
        }
        self.finish(CloseCode::ABNORMAL, String::new(), false, Some(ConnectionError::Protocol(error)));
    }

    fn stop_reading(&mut self) {
        self.reading = false;
        self.rx = BytesMut::new();
        self.frame = None;
        self.assembly = None;
    }

    /// The connection is closed: `CloseTransport` (once), then `Closed`, last.
    fn finish(&mut self, code: CloseCode, reason: String, was_clean: bool, error: Option<ConnectionError>) {
        if self.closed {
            return;
        }
        self.stop_reading();
        if !self.transport_closed {
            self.transport_closed = true;
            self.out.push_back(Pending::CloseTransport);
        }
        self.out.push_back(Pending::Event(Event::Closed(Closed { code, reason, was_clean, error })));
        self.closed = true;
    }

    // ------------------------------------------------------------------
    // Sending
    // ------------------------------------------------------------------

    fn check_room(&mut self, len: usize) -> Result<(), SendError> {
        if let Some(high_water) = self.config.send_high_water {
            if self.buffered > 0 && self.buffered.saturating_add(len) > high_water {
                self.send_blocked = true;
                return Err(SendError::Full { buffered: self.buffered, len, high_water });
            }
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), SendError> {
        match self.ready_state() {
            ReadyState::Open => Ok(()),
            state => Err(SendError::NotOpen(state)),
        }
    }

    fn push(&mut self, p: Pending) {
        if !self.closed {
            self.out.push_back(p);
        }
    }

    fn start_close(&mut self, code: Option<CloseCode>, reason: &str) {
        if self.ready_state() == ReadyState::Connecting {
            // WHATWG: close() before the connection is established fails it.
            return self.finish(
                CloseCode::ABNORMAL,
                String::new(),
                false,
                Some(ConnectionError::ClosedWhileConnecting),
            );
        }
        if self.ready_state() != ReadyState::Open {
            return;
        }
        let reason = if code.is_some() { reason } else { "" };
        self.queue_close(code, reason);
    }

    /// Queues our Close frame; nothing is queued after it.
    fn queue_close(&mut self, code: Option<CloseCode>, reason: &str) {
        if self.close_sent || self.closed {
            return;
        }
        // An unfinished streamed message is abandoned (see `begin_message`).
        self.tx_stream = None;
        let mut body = [0u8; frame::MAX_CONTROL_PAYLOAD];
        let len = match code {
            Some(c) => {
                // Callers checked `reason.len() <= 123`; a peer's reason came
                // in a control frame of at most 125 bytes.
                let reason = &reason.as_bytes()[..reason.len().min(MAX_REASON_LEN)];
                body[..2].copy_from_slice(&c.as_u16().to_be_bytes());
                body[2..2 + reason.len()].copy_from_slice(reason);
                2 + reason.len()
            }
            None => 0,
        };
        self.queue_control(frame::CLOSE, &body[..len]);
        self.close_sent = true;
        if self.closing_started.is_none() {
            self.closing_started = self.now;
        }
    }

    fn queue_control_checked(&mut self, opcode: u8, payload: Bytes) -> Result<(), SendError> {
        if payload.len() > frame::MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.check_open()?;
        self.queue_control(opcode, &payload);
        Ok(())
    }

    fn queue_control(&mut self, opcode: u8, payload: &[u8]) {
        if self.close_sent || self.closed {
            return;
        }
        self.queue_frame_copied(true, opcode, payload, 0);
    }

    /// Queues message data as frames of at most `Config::fragment_size`;
    /// the last one carries `fin`.
    fn queue_data(&mut self, opcode: u8, payload: Bytes, fin: bool) {
        let total = payload.len();
        let size = self.config.fragment_size.unwrap_or(usize::MAX).max(1);
        if total <= size {
            self.queue_frame(fin, opcode, payload);
        } else {
            let mut start = 0;
            let mut op = opcode;
            while start < total {
                let end = total.min(start.saturating_add(size));
                self.queue_frame(fin && end == total, op, payload.slice(start..end));
                op = frame::CONTINUATION;
                start = end;
            }
        }
        self.buffered += total;
        // The byte counts of the entries above were recorded as `app` there.
    }

    /// Queues one data frame carrying `payload`.
    fn queue_frame(&mut self, fin: bool, opcode: u8, payload: Bytes) {
        let app = payload.len();
        if self.role == Role::Client || payload.len() <= COALESCE_MAX {
            self.queue_frame_copied(fin, opcode, &payload, app);
        } else {
            let mut head = [0u8; frame::MAX_HEADER_LEN];
            let n = frame::encode_header(&mut head, fin, 0, opcode, None, payload.len());
            self.append_tx(&head[..n], 0);
            self.out.push_back(Pending::Payload { bytes: payload, app });
        }
    }

    /// Writes header and (masked, for a client) payload into `tx`.
    fn queue_frame_copied(&mut self, fin: bool, opcode: u8, payload: &[u8], app: usize) {
        let mask = match self.role {
            Role::Client => Some(self.next_mask()),
            Role::Server => None,
        };
        let mut head = [0u8; frame::MAX_HEADER_LEN];
        let n = frame::encode_header(&mut head, fin, 0, opcode, mask, payload.len());
        let start = self.tx.len();
        self.tx.reserve(frame::header_len(payload.len(), mask.is_some()) + payload.len());
        self.tx.extend_from_slice(&head[..n]);
        self.tx.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.tx[start + n..], key, 0);
        }
        self.note_tx(n + payload.len(), app);
    }

    fn append_tx(&mut self, bytes: &[u8], app: usize) {
        if self.closed {
            return;
        }
        self.tx.extend_from_slice(bytes);
        self.note_tx(bytes.len(), app);
    }

    /// Records that `len` more bytes of `tx` are queued.
    fn note_tx(&mut self, len: usize, app: usize) {
        if let Some(Pending::Tx { len: l, app: a }) = self.out.back_mut() {
            *l += len;
            *a += app;
        } else {
            self.out.push_back(Pending::Tx { len, app });
        }
    }

    fn next_mask(&mut self) -> [u8; 4] {
        if self.masks_used + 4 > self.masks.len() {
            self.entropy.fill(&mut self.masks);
            self.masks_used = 0;
        }
        let m = &self.masks[self.masks_used..self.masks_used + 4];
        self.masks_used += 4;
        [m[0], m[1], m[2], m[3]]
    }
}

/// The extension hook, server side: the responses to the client's offers for
/// the extensions this endpoint runs (none yet; permessage-deflate plugs in
/// here and sets `rsv_allowed`). Unknown offers are declined by omission
/// (RFC 6455 §9.1).
fn negotiate_server_extensions(_offers: &[ExtensionOffer]) -> Vec<ExtensionOffer> {
    Vec::new()
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

/// Joins the fragments of a message.
fn concat(parts: Vec<Bytes>) -> Bytes {
    let size = parts.iter().map(Bytes::len).sum();
    let mut whole = BytesMut::with_capacity(size);
    for p in &parts {
        whole.extend_from_slice(p);
    }
    whole.freeze()
}
