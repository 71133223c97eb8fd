//! The application's commands: messages, control frames and the Close.
//! Each checks the state here, then hands the work to the sender.

use bytes::Bytes;

use super::{Connection, End, Handshake, State};
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::error::{BrowserCloseError, CloseError, ConnectionError, SendError};
use crate::event::{Message, MessageKind, Text};
use crate::frame;
use crate::handshake;

/// The status a server answers a pending request with when the
/// application closes the connection instead of answering it.
const CLOSED_WHILE_PENDING: u16 = 503;

impl Connection {
    /// Data may be sent: OPEN.
    #[inline(always)]
    fn check_open(&self) -> Result<(), SendError> {
        if matches!(self.state, State::Open) { Ok(()) } else { Err(self.not_open()) }
    }

    /// The error of a command that needs OPEN, out of the hot path (the
    /// state's `ReadyState` is a second look at it).
    #[cold]
    #[inline(never)]
    fn not_open(&self) -> SendError {
        SendError::NotOpen(self.ready_state())
    }

    /// Queues a message. Allowed only while OPEN; nothing is queued on error.
    ///
    /// With [`Config::send_high_water`](crate::Config::send_high_water) set,
    /// a message that would take [`queued_bytes`](Self::queued_bytes) past
    /// the mark fails with [`SendError::Full`] (unless nothing is queued);
    /// [`Event::Writable`](crate::Event::Writable) follows once the queue
    /// drains to [`Config::send_low_water`](crate::Config::send_low_water).
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), SendError> {
        self.check_open()?;
        self.tx.send(message.into())
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<Text>) -> Result<(), SendError> {
        self.send(Message::Text(text.into()))
    }

    /// Queues a binary message. A server sends a payload over 1 KiB without
    /// copying it. A client, once its driver writes with
    /// [`write_to`](Self::write_to), masks a payload over 16 KiB as it is
    /// written, a 16 KiB piece at a time (it keeps the `Bytes` until then);
    /// before that, or for a driver that polls
    /// [`Output::Transmit`](crate::Output::Transmit)s, it masks the payload
    /// into its output when queued.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Message::Binary(data.into()))
    }

    /// Queues a binary message copied from `data`, masked on the way for a
    /// client: the cheapest way to send a small message from a borrowed
    /// buffer (one copy, no reference count to move, no allocation). A
    /// server copies a payload of up to 1 KiB into its output the same way,
    /// and a larger one once into a buffer of its own. For a large payload
    /// already held as `Bytes`, [`send_binary`](Self::send_binary) avoids
    /// the copy (a client writing with [`write_to`](Self::write_to) masks
    /// it as it writes it). Otherwise exactly as `send_binary`.
    ///
    /// ```
    /// # use wsmachine::{ChaChaEntropy, Config, Connection, Role};
    /// let mut client = Connection::new_open(Role::Client, Config::default(), ChaChaEntropy::new());
    /// let mut reading = [0u8; 16];
    /// for i in 0..3u8 {
    ///     reading.fill(i);
    ///     client.send_binary_slice(&reading).unwrap();
    /// }
    /// assert_eq!(client.buffered_amount(), 48);
    /// ```
    pub fn send_binary_slice(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        self.tx.send_slice(MessageKind::Binary, data)
    }

    /// Queues a text message copied from `text`; see
    /// [`send_binary_slice`](Self::send_binary_slice) for when that is the
    /// cheapest way to send. Otherwise exactly as
    /// [`send_text`](Self::send_text).
    pub fn send_text_str(&mut self, text: &str) -> Result<(), SendError> {
        self.check_open()?;
        self.tx.send_slice(MessageKind::Text, text.as_bytes())
    }

    /// Starts a message sent in pieces (§5.4): each
    /// [`send_chunk`](Self::send_chunk) queues one more frame at once (split
    /// further at [`Config::fragment_size`](crate::Config::fragment_size)),
    /// and [`finish_message`](Self::finish_message) queues the final one.
    /// Pings, Pongs and a Close may go out between the pieces; other
    /// messages may not (`send` fails with [`SendError::StreamInProgress`]
    /// until the message is finished).
    ///
    /// [`close`](Self::close) during an unfinished message discards nothing
    /// that was accepted: every piece `send_chunk` took (with permessage-
    /// deflate, including what the compressor still held, flushed as one
    /// more fragment) goes out, then the Close, between two fragments as
    /// §5.4 allows. The message stays unfinished, and the peer discards it;
    /// further pieces fail with [`SendError::NotOpen`]. Waiting for the rest
    /// instead would let an application that never finishes keep the
    /// connection from closing.
    pub fn begin_message(&mut self, kind: MessageKind) -> Result<(), SendError> {
        self.check_open()?;
        self.tx.begin(kind)
    }

    /// Queues the next piece of the message started by
    /// [`begin_message`](Self::begin_message). For text, the pieces together
    /// must be UTF-8 (a code point may be split between pieces); a piece that
    /// makes it invalid fails with [`SendError::InvalidUtf8`] and is not
    /// queued. An empty piece queues nothing.
    pub fn send_chunk(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.check_open()?;
        self.tx.piece(data.into(), false)
    }

    /// Queues the last piece (possibly empty) of the message started by
    /// [`begin_message`](Self::begin_message) and ends it. Text must end on a
    /// whole code point, else [`SendError::InvalidUtf8`].
    pub fn finish_message(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.check_open()?;
        self.tx.piece(data.into(), true)
    }

    /// Queues a Ping with up to 125 bytes of payload (§5.5.2). Allowed while
    /// OPEN, and while CLOSING until the peer's Close has come (a Ping is no
    /// data frame, §5.5.1).
    ///
    /// Like [`send`](Self::send), fails with [`SendError::Full`] when the
    /// queue is at [`Config::send_high_water`](crate::Config::send_high_water):
    /// a Ping costs its header and payload.
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.control(frame::PING, payload.into())
    }

    /// Queues a Pong with up to 125 bytes of payload (§5.5.3): an answer to a
    /// Ping when [`Config::auto_pong`](crate::Config::auto_pong) is off, or
    /// an unsolicited heartbeat. Allowed when [`ping`](Self::ping) is, so a
    /// Ping that arrives after our Close can still be answered. Fails with
    /// [`SendError::Full`] as `ping` does (the automatic Pongs are never
    /// refused).
    pub fn pong(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.control(frame::PONG, payload.into())
    }

    fn control(&mut self, opcode: u8, payload: Bytes) -> Result<(), SendError> {
        if payload.len() > frame::MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        if !self.control_allowed() {
            return Err(SendError::NotOpen(self.ready_state()));
        }
        self.tx.control(opcode, &payload)
    }

    /// Starts the closing handshake (§7.1.2), with the rules of WHATWG's
    /// `close()` extended to the codes a server needs.
    ///
    /// - `code` must be [sendable](CloseCode::is_sendable) (never 1004, 1005,
    ///   1006, 1015 or an unassigned code), else [`CloseError::InvalidCode`];
    ///   `reason` at most 123 UTF-8 bytes, else [`CloseError::ReasonTooLong`].
    ///   The arguments are checked first, in that order, whatever the state.
    /// - CONNECTING: fails the connection (WHATWG): `CloseTransport`, then
    ///   `Closed { code: 1006, was_clean: false, error: ClosedWhileConnecting }`;
    ///   CLOSING until that is polled. A server whose request awaits
    ///   `accept` or `reject` first answers it with `503 Service
    ///   Unavailable`, rather than closing silently.
    /// - OPEN: queues the Close frame after every message queued before it
    ///   (close() discards nothing, see
    ///   [`begin_message`](Self::begin_message) for a message being sent in
    ///   pieces) and moves to CLOSING; no data can be queued after it.
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

    fn start_close(&mut self, code: Option<CloseCode>, reason: &str) {
        match self.state {
            State::Connecting(ref hs) => {
                if matches!(hs, Handshake::AwaitDecision { .. }) {
                    let mut response = alloc::vec::Vec::new();
                    handshake::write_response(CLOSED_WHILE_PENDING, &[], b"", &mut response);
                    self.tx.append(&response);
                }
                // WHATWG: close() before the connection is established fails it.
                self.end(End::Failed(ConnectionError::ClosedWhileConnecting));
            }
            State::Open => {
                let reason = if code.is_some() { reason } else { "" };
                self.tx.queue_close(code, reason);
                self.state = State::Closing { received: None };
                self.timers.closing();
            }
            State::Closing { .. } | State::Ended => {}
        }
    }
}
