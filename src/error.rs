//! Error types: the peer's faults ([`ProtocolError`], [`HandshakeError`])
//! and the caller's ([`SendError`], [`CloseError`], [`BrowserCloseError`],
//! [`UsageError`]).
//!
//! The peer's faults never come back from a `Connection` method: they fail
//! the connection (RFC 6455 §7.1.7) and arrive in
//! [`Closed::error`](crate::Closed). (The helpers that check a head an HTTP
//! layer received, such as `Request::from_http`, return the
//! [`HandshakeError`] they find.)
//! The caller's mistakes come back as `Err` from the command that made them,
//! and nothing is queued.

use crate::close::CloseCode;
use crate::state::ReadyState;

pub use crate::handshake::{HandshakeError, UsageError};

/// The peer broke RFC 6455. Each variant knows the close code it is failed
/// with ([`close_code`](Self::close_code)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A client sent an unmasked frame (§5.1). 1002.
    #[error("client frame is not masked (RFC 6455 §5.1)")]
    UnmaskedClientFrame,
    /// A server sent a masked frame (§5.1). 1002.
    #[error("server frame is masked (RFC 6455 §5.1)")]
    MaskedServerFrame,
    /// RSV1, RSV2 or RSV3 set without an extension that defines it (§5.2, §5.8). 1002.
    /// Carries the three bits as `0bRSV1_RSV2_RSV3`.
    #[error("reserved bits {0:#05b} set without a negotiated extension (RFC 6455 §5.2)")]
    ReservedBits(u8),
    /// Opcode 0x3–0x7 or 0xB–0xF (§5.2). 1002.
    #[error("reserved opcode {0:#x} (RFC 6455 §5.2)")]
    ReservedOpcode(u8),
    /// A control frame with a payload over 125 bytes (§5.5). 1002. It fails
    /// at the 7-bit length, which it carries: 126 or 127 (the 16- or 64-bit
    /// forms) both mean "more than 125".
    #[error("control frame declares a payload over 125 bytes (7-bit length {0}) (RFC 6455 §5.5)")]
    ControlFrameTooLong(u64),
    /// A control frame without FIN (§5.5). 1002.
    #[error("fragmented control frame (RFC 6455 §5.5)")]
    FragmentedControlFrame,
    /// A continuation frame with no message in progress (§5.4). 1002.
    #[error("continuation frame without a message in progress (RFC 6455 §5.4)")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (§5.4). 1002.
    #[error("new data frame while a fragmented message is in progress (RFC 6455 §5.4)")]
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set (§5.2). 1002.
    #[error("64-bit payload length has its most significant bit set (RFC 6455 §5.2)")]
    InvalidLength,
    /// A payload length not in its minimal encoding (§5.2: "the minimal number
    /// of bytes MUST be used"). 1002.
    #[error("payload length {0} is not minimally encoded (RFC 6455 §5.2)")]
    NonMinimalLength(u64),
    /// Text that is not UTF-8, detected at the first invalid byte (§8.1). 1007.
    #[error("text message is not valid UTF-8 (RFC 6455 §8.1)")]
    InvalidUtf8,
    /// A Close frame with a 1-byte payload (§5.5.1). 1002.
    #[error("close frame payload of 1 byte (RFC 6455 §5.5.1)")]
    InvalidClosePayload,
    /// A Close frame whose code may not be sent (§7.4). 1002.
    #[error("close frame carries invalid code {0} (RFC 6455 §7.4)")]
    InvalidCloseCode(u16),
    /// A Close frame whose reason is not UTF-8 (§5.5.1, §8.1). 1007.
    #[error("close reason is not valid UTF-8 (RFC 6455 §5.5.1)")]
    InvalidCloseReason,
    /// A compressed message (permessage-deflate, RFC 7692) whose data does
    /// not inflate. 1007, as its payload is inconsistent with its type.
    #[error("compressed message does not inflate (RFC 7692 §7.2.2)")]
    InvalidCompressedData,
    /// A frame declared longer than [`Config::max_frame_size`](crate::Config) (§10.4). 1009.
    #[error("frame of {size} bytes exceeds the limit of {max} (RFC 6455 §10.4)")]
    FrameTooLarge {
        /// The declared payload length.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message longer than [`Config::max_message_size`](crate::Config) (§10.4). 1009.
    #[error("message of at least {size} bytes exceeds the limit of {max} (RFC 6455 §10.4)")]
    MessageTooLarge {
        /// The message size so far, including the frame that broke the limit.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A fragmented message of more frames than
    /// [`Config::max_fragments`](crate::Config::max_fragments). 1008, as
    /// Node's `ws` answers it: the frames are legal one by one, the count
    /// is this endpoint's policy.
    #[error("message of more than {max} frames (limit of fragments per message)")]
    TooManyFragments {
        /// The configured limit.
        max: usize,
    },
}

impl ProtocolError {
    /// The code sent in the Close frame that fails the connection.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCloseReason | Self::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::TooManyFragments { .. } => CloseCode::POLICY_VIOLATION,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// Why a connection ended abnormally: carried by [`Closed::error`](crate::Closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke the protocol and the connection was failed (§7.1.7).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The server application answered the request with
    /// [`reject`](crate::Connection::reject) (or the plain HTTP request it
    /// was): the connection never opened.
    #[error("the application answered the request with status {status} instead of accepting it")]
    Rejected {
        /// The status the application answered with.
        status: u16,
    },
    /// The application called `close()` before the connection was established
    /// (WHATWG: fail the WebSocket connection).
    #[error("closed by the application before the connection was established")]
    ClosedWhileConnecting,
    /// The peer's Close did not arrive within
    /// [`Config::close_timeout`](crate::Config::close_timeout) of the closing
    /// handshake's start.
    #[error("the closing handshake did not complete in time")]
    CloseTimeout,
    /// Nothing arrived within
    /// [`Config::keepalive_timeout`](crate::Config::keepalive_timeout) of a
    /// keepalive Ping.
    #[error("no answer to a keepalive ping in time")]
    KeepaliveTimeout,
}

/// A message or control frame could not be queued; nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Data can only be sent while [`ReadyState::Open`]; after our Close
    /// nothing may follow it (§5.5.1).
    #[error("connection is {0:?}, not open")]
    NotOpen(ReadyState),
    /// A Ping or Pong payload over 125 bytes (§5.5).
    #[error("control frame payload of {0} bytes exceeds 125 (RFC 6455 §5.5)")]
    ControlPayloadTooLong(usize),
    /// A streamed message is in progress: finish it before sending another.
    #[error("a streamed message is in progress")]
    StreamInProgress,
    /// No streamed message is in progress.
    #[error("no streamed message is in progress")]
    NoStreamInProgress,
    /// A streamed text message's data is not UTF-8 (a code point may be
    /// split between chunks, but the message must be valid as a whole).
    #[error("streamed text is not valid UTF-8")]
    InvalidUtf8,
    /// The message (or Ping or Pong) would take the output queue
    /// ([`queued_bytes`](crate::Connection::queued_bytes)) past
    /// [`Config::send_high_water`](crate::Config::send_high_water); wait
    /// for [`Event::Writable`](crate::Event::Writable).
    #[error("send buffer full: {queued} bytes queued, message of {len}, high-water mark {high_water}")]
    Full {
        /// What the queue held when the message was refused
        /// ([`queued_bytes`](crate::Connection::queued_bytes)).
        queued: usize,
        /// The refused payload's length.
        len: usize,
        /// The configured high-water mark.
        high_water: usize,
    },
}

/// `close(code, reason)` was called with arguments no Close frame may carry;
/// nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The code may not be sent (see [`CloseCode::is_sendable`]).
    #[error("close code {0} may not be sent (RFC 6455 §7.4)")]
    InvalidCode(u16),
    /// The reason is longer than 123 UTF-8 bytes (§5.5).
    #[error("close reason of {0} bytes exceeds 123 (RFC 6455 §5.5)")]
    ReasonTooLong(usize),
}

/// The two exceptions of the browser's `WebSocket.close(code, reason)`
/// (WHATWG WebSockets), returned by
/// [`Connection::browser_close`](crate::Connection::browser_close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserCloseError {
    /// `InvalidAccessError`: the code is neither 1000 nor in 3000–4999.
    #[error("InvalidAccessError: close code {0} is neither 1000 nor in 3000-4999")]
    InvalidAccessError(u16),
    /// `SyntaxError`: the reason is longer than 123 UTF-8 bytes.
    #[error("SyntaxError: close reason of {0} bytes exceeds 123")]
    SyntaxError(usize),
}
