//! The [`Connection`] state machine.
//!
//! A connection is one [`State`] and three parts that own their fields:
//!
//! - [`receiver::Receiver`]: input buffer, frame in progress, message
//!   assembly, UTF-8 state, inflater. [`Receiver::next`](receiver::Receiver::next)
//!   turns bytes into [`Incoming`] items.
//! - [`sender::Sender`]: the ordered output queue, the output buffer,
//!   backpressure, a message sent in pieces, masking keys, compressor.
//! - [`timers::Timers`]: every timestamp and timeout.
//!
//! `Connection` holds the state, the parts, the role and the config, and is
//! the only place that matches on the state: every transition is decided
//! here (this file for input, closing and the end; `commands.rs` for the
//! application's commands; `opening.rs` for the opening handshake), and the
//! connection ends in one place, [`end`](Connection::end).
//!
//! ```text
//!                  handshake done
//! Connecting ─────────────────────────▶ Open
//!     │                                  │ close() / the peer's Close
//!     │                                  ▼
//!     │                        Closing { received }
//!     │ failure / close() / EOF          │ both Closes / EOF / timeout / failure
//!     ▼                                  │
//!   Ended ◀──────────────────────────────┘ (and from Open: EOF / failure)
//!
//! Ended: CloseTransport and Closed are queued; ready_state() is CLOSING
//! until Closed has been polled, CLOSED from then on.
//! ```

mod commands;
#[cfg(feature = "std")]
mod io;
mod opening;
mod receiver;
mod retain;
mod sender;
mod timers;

#[cfg(feature = "std")]
pub use sender::Flushed;
pub use sender::QUEUE_SLOT;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use bytes::{Bytes, BytesMut};

use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::entropy::Entropy;
use crate::error::{ConnectionError, ProtocolError};
use crate::event::{CloseFrame, Closed, Event, EventRef, Message, Output, TextRef};
use crate::frame;
use crate::handshake::{ClientRequest, Request, RequestReader, ResponseReader};
use crate::state::ReadyState;
use crate::time::Timestamp;
use receiver::{Incoming, Receiver};
use sender::Sender;
use timers::{Due, Phase, Timers};

/// A WebSocket connection as a pure state machine: bytes and commands in,
/// bytes, events and deadlines out. It performs no I/O.
///
/// The methods come in four kinds, after quinn-proto:
///
/// 1. **Getters**: [`ready_state`](Self::ready_state), [`role`](Self::role),
///    [`buffered_amount`](Self::buffered_amount).
/// 2. **Inputs** from the transport and the clock, named `handle_*`:
///    [`handle_bytes`](Self::handle_bytes), [`handle_bytes_owned`](Self::handle_bytes_owned),
///    [`handle_eof`](Self::handle_eof), [`handle_timeout`](Self::handle_timeout).
///    They never fail: the peer's mistakes fail the connection (RFC 6455
///    §7.1.7) and come out as events.
/// 3. **Commands** from the application: [`send`](Self::send),
///    [`ping`](Self::ping), [`pong`](Self::pong), [`close`](Self::close).
///    They only queue work. The caller's mistakes come back as `Err`, and
///    then nothing was queued.
/// 4. **Output**: [`poll_output`](Self::poll_output), one ordered queue of
///    bytes to write, events and the instruction to close the transport.
///
/// After any call of kind 2 or 3, drain `poll_output` until it returns
/// `None`, doing each [`Output`] in order.
///
/// The states, as [`ready_state`](Self::ready_state) reports them:
///
/// ```text
///  CONNECTING ──handshake done──▶ OPEN ──close() / peer's Close──▶ CLOSING ──Closed polled──▶ CLOSED
///       │                                                            ▲
///       └──── handshake failed / close() / EOF / protocol error ─────┘
/// ```
///
/// A connection that ends is CLOSING until [`Event::Closed`] has come out
/// of `poll_output`, and CLOSED from then on (WHATWG: the state is CLOSED
/// when the close event fires).
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    rx: Receiver,
    tx: Sender,
    timers: Timers,
    /// Input arrived (or the state changed) since processing last stalled.
    dirty: bool,
    /// The transport's read side ended; acted on once the input is processed.
    eof: bool,
    /// Messages are taken with [`poll_event_ref`](Self::poll_event_ref):
    /// [`read_from`](Self::read_from) may leave a read in the receiver's own
    /// buffer and lend them from there.
    lends: bool,
    /// The time moved (`handle_timeout`) since the deadlines were last
    /// checked; they are checked once the input before it is processed.
    ticked: bool,
    /// How much the next [`read_from`](Self::read_from) reads (0: the
    /// first size); it grows while reads fill it.
    #[cfg(feature = "std")]
    read_size: usize,
    /// The payload of the message [`poll_event_ref`](Self::poll_event_ref)
    /// lends last, when it is not one the receiver copied for it; dropped at
    /// the next call.
    lent: Option<Bytes>,
}

/// Where [`Connection::pump`] stops processing input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Once anything is queued (`poll_output`).
    AtOutput,
    /// Once an event (or `CloseTransport`) is queued (`poll_event`).
    AtEvent,
    /// Not before the input is used up.
    Never,
}

/// Where the connection is, with what each phase needs.
#[derive(Debug)]
enum State {
    /// The opening handshake runs.
    Connecting(Handshake),
    /// Messages flow both ways.
    Open,
    /// The closing handshake runs: our Close is queued (we started it, or
    /// echoed the peer's), and the peer's Close was `received` or is awaited.
    Closing { received: Option<CloseFrame> },
    /// The end is queued (`CloseTransport`, then `Closed`): CLOSING until
    /// the sender has handed out `Closed`, CLOSED from then on.
    Ended,
}

/// Where the opening handshake stands.
#[derive(Debug)]
enum Handshake {
    /// Client: the request is queued; waiting for the server's response.
    Client(Box<ClientHandshake>),
    /// Server: waiting for the request head (read as it arrives).
    AwaitRequest(RequestReader),
    /// Server: the request was reported; waiting for `accept` or `reject`
    /// (or, for a plain HTTP request, `reject`, which answers it). The
    /// upgrade request is the one the event holds; `None` for a plain HTTP
    /// request, which only `reject` answers.
    AwaitDecision { request: Option<Arc<Request>> },
}

#[derive(Debug)]
struct ClientHandshake {
    request: ClientRequest,
    key: String,
    /// The server's response, read as it arrives.
    reader: ResponseReader,
}

/// Why the connection ends (see [`Connection::end`]).
enum End {
    /// The transport closes (EOF; the server's close after the closing
    /// handshake; the close timeout): clean with the peer's code when both
    /// Close frames passed, else 1006 with `error`.
    Transport(Option<ConnectionError>),
    /// The connection failed (or was rejected): 1006 with the error.
    Failed(ConnectionError),
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("ready_state", &self.ready_state())
            .field("buffered_amount", &self.tx.buffered())
            .field("pending_outputs", &self.tx.pending_outputs())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection whose opening handshake was done elsewhere (a hyper
    /// upgrade, HTTP/2 extended CONNECT per RFC 8441): it starts OPEN.
    ///
    /// `entropy` supplies masking keys; only a client uses it (§5.3), so a
    /// server can use [`open_server`](Self::open_server) instead.
    pub fn new_open(role: Role, config: Config, entropy: impl Entropy + Send + 'static) -> Self {
        let entropy: Option<Box<dyn Entropy + Send>> = match role {
            Role::Client => Some(Box::new(entropy)),
            Role::Server => None,
        };
        Self::with_state(role, State::Open, config, entropy)
    }

    /// A server connection whose opening handshake was done elsewhere: it
    /// starts OPEN. A server never masks, so it needs no entropy.
    pub fn open_server(config: Config) -> Self {
        Self::with_state(Role::Server, State::Open, config, None)
    }

    /// A client connection whose opening handshake was done elsewhere: it
    /// starts OPEN and masks every frame with keys from `entropy` (§5.3).
    pub fn open_client(config: Config, entropy: impl Entropy + Send + 'static) -> Self {
        Self::with_state(Role::Client, State::Open, config, Some(Box::new(entropy)))
    }

    fn with_state(role: Role, state: State, config: Config, entropy: Option<Box<dyn Entropy + Send>>) -> Self {
        let mut tx = Sender::new(role, &config, entropy);
        if matches!(state, State::Open) {
            tx.open();
        }
        Self {
            role,
            rx: Receiver::new(role, &config),
            tx,
            timers: Timers::new(),
            state,
            config,
            dirty: false,
            ticked: false,
            lends: false,
            eof: false,
            #[cfg(feature = "std")]
            read_size: 0,
            lent: None,
        }
    }

    // ------------------------------------------------------------------
    // Getters
    // ------------------------------------------------------------------

    /// The state, as WHATWG's `readyState` would report it, as of the input
    /// processed so far. Input is processed as [`poll_output`](Self::poll_output)
    /// is called (and at once by [`handle_eof`](Self::handle_eof)), so bytes
    /// just fed with `handle_bytes` count only once outputs are polled. A
    /// connection that has ended is CLOSING until [`Event::Closed`] has been
    /// polled.
    pub fn ready_state(&self) -> ReadyState {
        match self.state {
            State::Connecting(_) => ReadyState::Connecting,
            State::Open => ReadyState::Open,
            State::Closing { .. } => ReadyState::Closing,
            State::Ended if self.tx.end_taken() => ReadyState::Closed,
            State::Ended => ReadyState::Closing,
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
        self.tx.buffered()
    }

    /// What the output queue costs, as [`Config::send_high_water`] and
    /// [`Config::send_low_water`] count it:
    /// [`buffered_amount`](Self::buffered_amount) plus every byte queued
    /// that it leaves out (frame headers, Ping, Pong and Close frames, the
    /// handshake's HTTP head) plus [`QUEUE_SLOT`] bytes for each queued
    /// piece. So empty messages and control frames count too: `send(b"")`
    /// or `ping(b"")` in a loop is refused with `Full` like any other
    /// flood, and the queue's memory stays within about twice the mark.
    pub fn queued_bytes(&self) -> usize {
        self.tx.queued_bytes()
    }

    /// Over: the end is queued or delivered.
    fn ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// Whether frames are read: the peer's Close has not come and the
    /// connection has not ended.
    fn reading(&self) -> bool {
        matches!(self.state, State::Connecting(_) | State::Open | State::Closing { received: None })
    }

    /// Whether our Close was queued.
    fn close_sent(&self) -> bool {
        matches!(self.state, State::Closing { .. })
    }

    /// Whether control frames may still be sent: open, or closing with the
    /// peer's Close still to come (§5.5.2: a Ping is answered until then).
    fn control_allowed(&self) -> bool {
        matches!(self.state, State::Open | State::Closing { received: None })
    }

    fn timer_phase(&self) -> Phase {
        match self.state {
            State::Connecting(_) => Phase::Connecting,
            State::Open => Phase::Open,
            State::Closing { .. } => Phase::Closing,
            State::Ended => Phase::Ended,
        }
    }

    // ------------------------------------------------------------------
    // Inputs
    // ------------------------------------------------------------------

    /// Feeds bytes read from the transport. Any split is fine: a frame may
    /// arrive a byte at a time. Bytes that arrive after the peer's Close or
    /// after the connection failed are ignored.
    pub fn handle_bytes(&mut self, data: &[u8]) {
        if !self.reading() || self.eof || data.is_empty() {
            return;
        }
        self.rx.push(data);
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
    /// the frame is never moved to make room. Read into its spare capacity
    /// (tokio's `read_buf`, or `resize` and `truncate` around `Read::read`)
    /// without growing it. Growing it, or handing over another buffer, is
    /// allowed and costs a copy. In steady state, with the previous
    /// messages dropped, the same allocation is reused; an application
    /// that keeps small messages gets copies of them instead, so they do
    /// not keep the whole buffer alive.
    ///
    /// ```
    /// # use wsmachine::{Config, Connection, Output};
    /// # let mut conn = Connection::open_server(Config::default());
    /// # let wire = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    /// let mut buf = conn.read_buffer(64 * 1024);
    /// buf.extend_from_slice(&wire); // a read: `stream.read_buf(&mut buf).await?`
    /// conn.handle_bytes_owned(buf);
    /// # assert!(matches!(conn.poll_output(), Some(Output::Event(_))));
    /// ```
    pub fn read_buffer(&mut self, min: usize) -> BytesMut {
        let min = min.max(1);
        if !self.reading() || self.eof {
            // The bytes will be ignored; the caller still needs room to read.
            return BytesMut::with_capacity(min);
        }
        self.rx.lend(min)
    }

    /// Feeds bytes read from the transport into a buffer the caller hands
    /// over. When nothing is pending from an earlier read, the buffer becomes
    /// the input buffer and received payloads are slices of it: no copy.
    pub fn handle_bytes_owned(&mut self, data: BytesMut) {
        if !self.reading() || self.eof || data.is_empty() {
            return;
        }
        self.rx.push_owned(data);
        self.note_input();
    }

    /// The transport's read side ended (a read returned 0 bytes).
    ///
    /// Once the input before it is processed: after both Close frames this
    /// ends the connection cleanly; before, it is an abnormal closure,
    /// `Closed { code: 1006, was_clean: false }` (§7.1.5, §7.2). Bytes fed
    /// after it are ignored.
    pub fn handle_eof(&mut self) {
        if !self.ended() {
            self.eof = true;
            self.dirty = true;
            // Nothing can be answered any more: process what is buffered
            // and end now.
            self.pump(Stop::Never);
        }
    }

    /// Bytes arrived: the peer is alive.
    fn note_input(&mut self) {
        self.dirty = true;
        self.timers.input();
    }

    /// True when everything fed so far has been processed and every output
    /// taken: the moment to read from the transport again. A driver that
    /// reads only then (the drive loop does) holds at most one read plus one
    /// partial frame in the connection, however slowly its application
    /// consumes events.
    ///
    /// False while a server's upgrade request waits for `accept` or `reject`
    /// (input behind it cannot be processed yet), after EOF and once ended.
    /// True while a client waits for the server to close TCP (§7.1.1): only
    /// a read can see that EOF.
    pub fn wants_read(&self) -> bool {
        !self.ended()
            && !self.eof
            && !self.dirty
            && self.tx.is_empty()
            && !matches!(self.state, State::Connecting(Handshake::AwaitDecision { .. }))
    }

    /// Tells the connection the time and fires every deadline that is due
    /// (RFC 6455 §7.1.1's close timeout, the opening handshake timeout,
    /// keepalive). Call it once when the connection is created and on every
    /// wake-up, before feeding the bytes that woke you: bytes are stamped with
    /// the latest time given. Time never goes back: an earlier `now` counts
    /// as the latest one. What a deadline does comes out of
    /// [`poll_output`](Self::poll_output), after anything already queued.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let idle = self.timers.tick(now, self.timer_phase());
        if self.ended() {
            return;
        }
        // Checked once the input before it is processed (see `pump`).
        self.dirty = true;
        self.ticked = true;
        // Idle since the previous wake-up (no input in between) and nothing
        // buffered: give the buffers back, so an idle connection holds
        // little more than itself. A busy connection, whose driver calls
        // this on every wake-up, keeps reusing them.
        if idle {
            self.rx.release_idle();
            self.tx.release_idle();
            #[cfg(feature = "std")]
            {
                self.read_size = 0;
            }
        }
    }

    /// The next deadline: call [`handle_timeout`](Self::handle_timeout) at
    /// that time if nothing else happens first. `None` when no timer runs:
    /// before the first `handle_timeout`, with every timeout turned off, and
    /// always once the connection has ended.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.next_deadline(self.timer_phase(), &self.config)
    }

    /// [`handle_timeout`](Self::handle_timeout) with a `std::time::Instant`.
    /// The first `Instant` given becomes the origin of this connection's
    /// [`Timestamp`]s; do not mix with `handle_timeout`.
    #[cfg(feature = "std")]
    pub fn handle_timeout_at(&mut self, now: std::time::Instant) {
        let now = self.timers.timestamp(now);
        self.handle_timeout(now);
    }

    /// [`poll_timeout`](Self::poll_timeout) as a `std::time::Instant`; `None`
    /// also before the first [`handle_timeout_at`](Self::handle_timeout_at).
    #[cfg(feature = "std")]
    #[must_use]
    pub fn poll_timeout_at(&self) -> Option<std::time::Instant> {
        self.timers.instant(self.poll_timeout()?)
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// The next thing to do, in order; `None` when there is nothing until the
    /// next input or command.
    #[must_use]
    #[inline]
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(output) = self.tx.pop() {
            return Some(output);
        }
        if !self.dirty {
            // Nothing fed since processing last stalled.
            return None;
        }
        self.poll_input(Stop::AtOutput)
    }

    /// Whether a whole message may be taken off the front of the input in
    /// one step (the fast paths): frames are read (OPEN, or CLOSING before
    /// the peer's Close) and the receiver is between messages.
    #[inline(always)]
    fn takes_whole_messages(&self) -> bool {
        self.takes_whole_states() && self.rx.between_messages()
    }

    /// Whether the state is one where the input is frames the application
    /// reads (open, or closing with the peer's Close still to come).
    #[inline(always)]
    fn takes_whole_states(&self) -> bool {
        matches!(self.state, State::Open | State::Closing { received: None })
    }

    /// The most common input, taken where the driver polls (see
    /// `Receiver::next_short_message`): the message is built in the caller's
    /// frame, not returned through memory from a call and moved again.
    #[inline(always)]
    fn short_message(&mut self) -> Option<Message> {
        if !self.takes_whole_messages() {
            return None;
        }
        let message = self.rx.next_short_message()?;
        self.took_message();
        Some(message)
    }

    /// A message was taken whole from the input. When that was the last of
    /// the input, what `pump` would do on finding it exhausted is done,
    /// unless the end of the stream or the time is still to be acted on:
    /// the next poll returns at once, and `wants_read` says so.
    #[inline(always)]
    fn took_message(&mut self) {
        if self.rx.is_drained() && !self.eof && !self.ticked {
            self.dirty = false;
            self.rx.release_large();
        }
    }

    /// `poll_output` with nothing queued and input to look at: processes it
    /// until something is queued.
    #[inline(never)]
    fn poll_input(&mut self, stop: Stop) -> Option<Output> {
        // The common case without the output queue: a whole, unfragmented,
        // uncompressed data frame at the front of the input.
        if self.takes_whole_messages() {
            match self.rx.next_whole_message() {
                Ok(Some(message)) => {
                    self.took_message();
                    return Some(Output::Event(Event::Message(message)));
                }
                Ok(None) => {}
                Err(e) => self.fail(e),
            }
        }
        self.pump(stop);
        match stop {
            Stop::AtEvent => self.tx.pop_event().map(Output::Event),
            _ => self.tx.pop(),
        }
    }

    /// The next event, in order, passing over the bytes queued for the peer:
    /// they stay queued, in order, for [`write_to`](Self::write_to) (or
    /// [`poll_output`](Self::poll_output)), so a driver can handle every
    /// event a read brought, answers included, and then write all their
    /// bytes at once. `None` when no event is due until the next input or
    /// command, or when the bytes before [`Output::CloseTransport`] are
    /// still to be written: `write_to` writes them and reports it
    /// ([`Flushed::CloseTransport`]); [`Event::Closed`] comes after.
    ///
    /// `poll_event` and `poll_output` may be mixed; each takes the next of
    /// what it hands out.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(due) = self.queued_event() {
            return due;
        }
        if let Some(message) = self.short_message() {
            return Some(Event::Message(message));
        }
        self.event_from_input()
    }

    /// [`poll_event`](Self::poll_event) with the next message *lent*
    /// ([`EventRef::Text`], [`EventRef::Binary`]) rather than handed out:
    /// for an application that handles each message where it reads it
    /// (parses it, acts on it, drops it), the fastest way to read. A whole
    /// message of up to 4 KiB in one frame (most of them) is copied into
    /// a buffer the connection reuses and unmasked there, so it costs no
    /// allocation and no reference count, and the input buffer moves on
    /// at once; a larger one is lent from the [`Message`] `poll_event`
    /// would have made. Every other event comes as [`EventRef::Other`],
    /// exactly as `poll_event` hands it out, in the same order.
    ///
    /// A lent message is valid until the connection is used again: take
    /// what you need first (the borrow checker sees to it), or keep it with
    /// [`EventRef::into_owned`] (a copy). `poll_event_ref` and `poll_event`
    /// (or `poll_output`) may be mixed.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, Entropy, EventRef, Role};
    /// # struct Zero;
    /// # impl Entropy for Zero { fn fill(&mut self, d: &mut [u8]) { d.fill(0) } }
    /// let mut server = Connection::new_open(Role::Server, Config::default(), Zero);
    /// // Two masked text frames, "hi" and "ho" (mask key 0).
    /// server.handle_bytes(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i', 0x81, 0x82, 0, 0, 0, 0, b'h', b'o']);
    /// let mut total = 0;
    /// while let Some(event) = server.poll_event_ref() {
    ///     match event {
    ///         // Lent: count it, then answer with the connection free again.
    ///         EventRef::Text(text) => {
    ///             total += text.len();
    ///             let echo = text.to_text();
    ///             server.send_text(echo).expect("open");
    ///         }
    ///         EventRef::Binary(bytes) => total += bytes.len(),
    ///         EventRef::Other(event) => println!("{event:?}"),
    ///     }
    /// }
    /// assert_eq!(total, 4);
    /// ```
    #[must_use]
    pub fn poll_event_ref(&mut self) -> Option<EventRef<'_>> {
        // What was lent last time is no longer borrowed.
        if self.lent.is_some() {
            self.lent = None;
        }
        self.lends = true;
        let event = match self.queued_event() {
            Some(due) => due?,
            None => {
                if let Some(at) = self.borrowed_message() {
                    let payload = self.rx.borrowed(at);
                    return Some(if at.text {
                        EventRef::Text(TextRef::from_validated(payload))
                    } else {
                        EventRef::Binary(payload)
                    });
                }
                self.event_from_input()?
            }
        };
        Some(match event {
            Event::Message(message) => {
                let text = message.is_text();
                let payload = self.lent.insert(message.into_bytes());
                if text { EventRef::Text(TextRef::from_validated(payload)) } else { EventRef::Binary(payload) }
            }
            other => EventRef::Other(other),
        })
    }

    /// What [`poll_event`](Self::poll_event) does before it looks at the
    /// input: `Some` with its answer when that is an event already queued,
    /// or `None` to return (nothing fed since processing stalled, or the
    /// events wait behind `CloseTransport`).
    #[inline(always)]
    fn queued_event(&mut self) -> Option<Option<Event>> {
        // Events are only ever in the queue proper: the common case (bytes
        // at most, in the run of small frames) skips both searches.
        if self.tx.may_hold_event() {
            if let Some(event) = self.tx.pop_event() {
                return Some(Some(event));
            }
            if self.tx.has_event() {
                // Held by CloseTransport.
                return Some(None);
            }
        }
        if !self.dirty {
            // Nothing fed since processing last stalled.
            return Some(None);
        }
        None
    }

    /// [`poll_event`](Self::poll_event) past the queue and the short
    /// message: the input processed up to the next event.
    #[inline]
    fn event_from_input(&mut self) -> Option<Event> {
        match self.poll_input(Stop::AtEvent)? {
            Output::Event(event) => Some(event),
            _ => None,
        }
    }

    /// [`short_message`](Self::short_message) for
    /// [`poll_event_ref`](Self::poll_event_ref): a whole message taken to
    /// be lent (where it is, and whether it is text), or `None`.
    #[inline(always)]
    fn borrowed_message(&mut self) -> Option<receiver::Borrowed> {
        if !self.takes_whole_messages() {
            return None;
        }
        let at = self.rx.next_borrowed()?;
        self.took_message();
        Some(at)
    }

    /// Processes buffered input until an output is queued (when
    /// `stop_at_output`) or nothing more can be done. Input is taken lazily,
    /// one frame at a time, so the application sees each event before the
    /// input behind it is looked at: it can answer a message before a Close
    /// that came in the same read.
    fn pump(&mut self, stop: Stop) {
        if self.ended() {
            self.dirty = false;
            return;
        }
        while self.dirty && !self.ended() {
            match stop {
                Stop::AtOutput if !self.tx.is_empty() => break,
                Stop::AtEvent if self.tx.has_event() => break,
                _ => {}
            }
            let more = match &self.state {
                State::Open | State::Closing { received: None } => self.read_frame(),
                State::Connecting(Handshake::Client(_)) => self.client_handshake(),
                State::Connecting(Handshake::AwaitRequest(_)) => self.server_handshake(),
                State::Connecting(Handshake::AwaitDecision { .. }) => {
                    self.bound_pipelined();
                    false
                }
                State::Closing { received: Some(_) } | State::Ended => false,
            };
            if !more {
                self.dirty = false;
                if self.eof && !self.ended() {
                    self.on_eof();
                }
                self.fire_timers();
                // Release a large, empty input buffer unless a frame's
                // payload is about to land in it.
                self.rx.release_large();
            }
        }
    }

    /// The next frame's worth of input; false when more bytes are needed
    /// (or the connection failed).
    fn read_frame(&mut self) -> bool {
        match self.rx.next() {
            Ok(Some(item)) => {
                self.on_incoming(item);
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.fail(e);
                false
            }
        }
    }

    /// Acts on what the receiver found.
    fn on_incoming(&mut self, item: Incoming) {
        let event = match item {
            Incoming::Message(m) => Event::Message(m),
            Incoming::Start(kind) => Event::MessageStart(kind),
            Incoming::Chunk(m) => Event::MessageChunk(m),
            Incoming::End => Event::MessageEnd,
            Incoming::Ping(payload) => {
                // Answered until the peer's Close, even after ours (§5.5.2).
                if self.config.auto_pong && self.control_allowed() {
                    self.tx.queue_control(frame::PONG, &payload);
                }
                Event::Ping(payload)
            }
            Incoming::Pong(payload) => Event::Pong(payload),
            Incoming::Close(frame) => return self.on_close(frame),
        };
        self.tx.push_event(event);
    }

    /// The peer's Close frame (§5.5.1, §7.1.5).
    fn on_close(&mut self, frame: CloseFrame) {
        // Nothing after the peer's Close is processed or delivered.
        self.rx.stop();
        let sent = self.close_sent();
        if !sent {
            // Echo the code and reason (§5.5.1); none if the peer sent none.
            let code = (frame.code != CloseCode::NO_STATUS_RCVD).then_some(frame.code);
            self.tx.queue_close(code, &frame.reason);
            self.tx.push_event(Event::Closing(frame.clone()));
        }
        self.state = State::Closing { received: Some(frame) };
        self.timers.closing();
        // §7.1.1: the server closes the TCP connection first; the client
        // waits for it.
        if self.role == Role::Server {
            self.end(End::Transport(None));
        }
    }

    /// The transport's read side ended and the input before it is processed.
    fn on_eof(&mut self) {
        match &self.state {
            // The head (or a rejection's body) ends here.
            State::Connecting(Handshake::Client(_) | Handshake::AwaitRequest(_)) => self.handshake_eof(),
            // The request is complete: the answer can still go out (a client
            // may half-close after its request); the handshake timeout
            // bounds the wait. An accepted connection then ends with 1006.
            State::Connecting(Handshake::AwaitDecision { .. }) => {}
            State::Open | State::Closing { .. } => self.end(End::Transport(None)),
            State::Ended => {}
        }
    }

    /// Fires the deadline due at the latest known time.
    fn fire_timers(&mut self) {
        self.ticked = false;
        match self.timers.due(self.timer_phase(), &self.config) {
            None => {}
            Some(Due::Handshake) => self.fail_handshake(crate::HandshakeError::Timeout),
            Some(Due::Close) => self.end(End::Transport(Some(ConnectionError::CloseTimeout))),
            Some(Due::KeepalivePing) => {
                self.tx.queue_control(frame::PING, &[]);
                self.timers.pinged();
            }
            // The peer is gone: no Close is sent.
            Some(Due::KeepaliveFailed) => self.end(End::Failed(ConnectionError::KeepaliveTimeout)),
        }
    }

    /// Fails the connection (§7.1.7): a Close with the error's code if ours
    /// was not sent, no more input, close the transport, report 1006.
    fn fail(&mut self, error: ProtocolError) {
        if self.ended() {
            return;
        }
        if !self.close_sent() {
            self.tx.queue_close(Some(error.close_code()), "");
        }
        self.end(End::Failed(ConnectionError::Protocol(error)));
    }

    /// The one place the connection ends: no more input, `CloseTransport`
    /// (once), then `Closed`, last; CLOSING until `Closed` is polled.
    fn end(&mut self, why: End) {
        if self.ended() {
            return;
        }
        let clean = match &self.state {
            State::Closing { received: Some(frame) } => Some((frame.code, frame.reason.clone())),
            _ => None,
        };
        let closed = match (why, clean) {
            (End::Transport(_), Some((code, reason))) => Closed { code, reason, was_clean: true, error: None },
            (End::Transport(error), None) => {
                Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error }
            }
            (End::Failed(error), _) => {
                Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error: Some(error) }
            }
        };
        self.rx.stop();
        self.tx.push_end(closed);
        self.state = State::Ended;
    }
}
