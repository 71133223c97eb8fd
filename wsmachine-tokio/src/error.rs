//! The adapter's error type.

use std::fmt;
use std::io;

use wsmachine::{CloseError, Closed, ConnectionError, HandshakeError, SendError, UsageError};

/// What went wrong: connecting, handshaking, sending, or the connection
/// itself.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed: resolving, connecting, TLS, reading or
    /// writing.
    Io(io::Error),
    /// The peer's opening handshake failed: a non-101 answer
    /// ([`HandshakeError::Rejected`] carries it), a malformed request or
    /// response, a time-out ([`HandshakeError::Timeout`]).
    Handshake(HandshakeError),
    /// The application's own handshake input was invalid, and nothing was
    /// sent: a URL that is not `ws://` or `wss://`
    /// ([`UsageError::InvalidUrl`]), a header the handshake writes itself,
    /// a subprotocol the client did not offer chosen in `accept_with`, an
    /// extension `from_upgraded` cannot run.
    Usage(UsageError),
    /// (Server) The request was answered with this HTTP status instead of
    /// being upgraded: the `accept_with` callback rejected it, or it was a
    /// plain HTTP request (no `Upgrade: websocket`).
    NotUpgraded(u16),
    /// The connection is closing or closed: our Close was sent or the
    /// peer's received, so nothing more can be sent (RFC 6455 §5.5.1).
    /// [`WebSocket::closed`](crate::WebSocket::closed) tells how it ended.
    Closed,
    /// The connection ended without a clean closing handshake (RFC 6455
    /// §7.1.7): a protocol error, a close or keepalive time-out, or the
    /// peer vanishing (code 1006, no error). The last item of the stream of
    /// messages then, unless the transport failed ([`Error::Io`]).
    Failed(Box<Closed>),
    /// A Ping or Pong payload the protocol does not allow (over 125 bytes).
    Send(SendError),
    /// `close()` with a code or reason no Close frame may carry.
    Close(CloseError),
    /// `wss://` was asked for without a TLS feature (`rustls`) enabled.
    TlsUnavailable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "transport error: {e}"),
            Self::Handshake(e) => write!(f, "opening handshake failed: {e}"),
            Self::Usage(e) => write!(f, "invalid handshake input: {e}"),
            Self::NotUpgraded(status) => write!(f, "the request was answered with {status} instead of an upgrade"),
            Self::Closed => f.write_str("the WebSocket connection is closing or closed"),
            Self::Failed(c) => match &c.error {
                Some(e) => write!(f, "the WebSocket connection failed: {e}"),
                None => write!(f, "the WebSocket connection ended abnormally (code {})", c.code),
            },
            Self::Send(e) => e.fmt(f),
            Self::Close(e) => e.fmt(f),
            Self::TlsUnavailable => f.write_str("wss:// needs the `rustls` feature of wsmachine-tokio"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Handshake(e) => Some(e),
            Self::Usage(e) => Some(e),
            Self::Failed(c) => c.error.as_ref().map(|e| e as _),
            Self::Send(e) => Some(e),
            Self::Close(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Self::Handshake(e)
    }
}

impl From<CloseError> for Error {
    fn from(e: CloseError) -> Self {
        Self::Close(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::NotOpen(_) => Self::Closed,
            e => Self::Send(e),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            e => Self::other(e),
        }
    }
}

/// The error a failed handshake's `Closed` report stands for.
pub(crate) fn handshake_failure(closed: Closed) -> Error {
    match closed.error {
        Some(ConnectionError::Handshake(e)) => Error::Handshake(e),
        _ => Error::Handshake(HandshakeError::Truncated),
    }
}
