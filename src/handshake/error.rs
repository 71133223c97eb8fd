//! The errors of the opening handshake (RFC 6455 §4): the peer's
//! ([`HandshakeError`]) and the caller's ([`UsageError`]).

use alloc::boxed::Box;
use alloc::string::String;

use super::client::Rejection;

/// Why the peer's side of an opening handshake (RFC 6455 §4) failed: what
/// was received, or what never came in time.
///
/// Each check of §4.1 (client) and §4.2.1 (server) fails with its own
/// variant. A connection reports these in
/// [`Closed::error`](crate::Closed) as
/// [`ConnectionError::Handshake`](crate::ConnectionError::Handshake); the
/// parsers of [`Request`](super::Request) and
/// [`validate_response`](super::validate_response) return them. Errors
/// detected in a *received* request map to the HTTP status a server answers
/// with ([`status`](Self::status)); errors in a received response have none.
///
/// The application's own mistakes (an invalid URL or header, an answer with
/// no request waiting, …) are [`UsageError`]s instead, returned by the call
/// that made them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    // ----- shared -----
    /// The HTTP head (or a non-101 response's body framing) is not valid
    /// HTTP/1.1, or a header value is not UTF-8 (RFC 6455 §4.1 item 1,
    /// §4.2.1: "any violations of the ABNF grammar").
    #[error("malformed HTTP message: {0} (RFC 6455 §4.2.1)")]
    Malformed(&'static str),
    /// The head did not complete within the configured size limit (or a
    /// non-101 response's body was larger than that limit). RFC 6455 §10.4
    /// lets an implementation protect itself with such limits.
    #[error("HTTP head or body larger than the configured limit (RFC 6455 §10.4)")]
    HeadTooLarge,
    /// The head has more header fields than the configured limit
    /// (RFC 6455 §10.4).
    #[error("too many HTTP header fields (RFC 6455 §10.4)")]
    TooManyHeaders,
    /// The HTTP version is not 1.1 or later (RFC 6455 §4.1 item 2, §4.2.1
    /// item 1).
    #[error("the WebSocket handshake requires HTTP/1.1 or later (RFC 6455 §4.1, §4.2.1)")]
    HttpVersion,
    /// The peer closed the connection before the head (or the body of a
    /// non-101 response) was complete (RFC 6455 §4.1; RFC 7230 §3.3.3 calls
    /// such a message incomplete).
    #[error("connection closed before the HTTP message was complete (RFC 6455 §4.1)")]
    Truncated,
    /// The handshake did not complete within
    /// [`Config::handshake_timeout`](crate::Config::handshake_timeout).
    #[error("the opening handshake did not complete in time")]
    Timeout,
    /// The server accepted an extension this endpoint offered but cannot run
    /// (RFC 6455 §9.1: the client fails the connection).
    #[error("the server accepted extension {0:?}, which this endpoint does not implement (RFC 6455 §9.1)")]
    UnsupportedExtension(String),
    /// The server accepted permessage-deflate with a response the client
    /// must reject (RFC 7692 §7.1: an unknown, duplicated or invalid
    /// parameter, or one the client did not allow).
    #[error("invalid permessage-deflate response: {0} (RFC 7692 §7.1, RFC 6455 §9.1)")]
    InvalidDeflateResponse(DeflateNegotiationError),

    // ----- client side: checks on the server's response (§4.1) -----
    /// The server answered with a status other than 101; the response is
    /// handled per HTTP (RFC 6455 §4.1, response step 1).
    #[error("the server answered {} instead of 101 (RFC 6455 §4.1)", .0.status)]
    Rejected(Box<Rejection>),
    /// The 101 response lacks `Upgrade: websocket` (RFC 6455 §4.1, response
    /// step 2).
    #[error("response lacks `Upgrade: websocket` (RFC 6455 §4.1)")]
    MissingUpgrade,
    /// The message lacks a `Connection` header listing `Upgrade` (RFC 6455
    /// §4.1 response step 3; §4.2.1 item 4 for requests).
    #[error("missing `Connection: Upgrade` (RFC 6455 §4.1, §4.2.1)")]
    MissingConnectionUpgrade,
    /// The 101 response's `Sec-WebSocket-Accept` is missing, repeated or
    /// wrong for the key sent (RFC 6455 §4.1, response step 4).
    #[error("missing or wrong Sec-WebSocket-Accept (RFC 6455 §4.1)")]
    InvalidAccept,
    /// The server selected a subprotocol the client did not offer, or
    /// several (RFC 6455 §4.1, response step 6).
    #[error("the server selected subprotocol {0:?}, which was not offered (RFC 6455 §4.1)")]
    UnofferedProtocol(String),
    /// The server accepted an extension the client did not offer (RFC 6455
    /// §4.1, response step 5).
    #[error("the server accepted extension {0:?}, which was not offered (RFC 6455 §4.1, §9.1)")]
    UnofferedExtension(String),
    /// A `Sec-WebSocket-Extensions` header does not follow the §9.1 grammar
    /// (the recipient MUST fail the connection, RFC 6455 §9.1).
    #[error("Sec-WebSocket-Extensions does not follow the RFC 6455 §9.1 grammar")]
    InvalidExtensionHeader,

    // ----- server side: checks on the client's request (§4.2.1) -----
    /// An API that needs an upgrade request (`Request::from_http`) was
    /// given a plain HTTP request: its `Upgrade` header is absent or does
    /// not list `websocket` (RFC 6455 §4.2.1 item 3). The connection itself
    /// reports such a request as
    /// [`Event::HttpRequest`](crate::Event::HttpRequest), not as an error.
    #[error("not a WebSocket upgrade request (RFC 6455 §4.2.1)")]
    NotUpgrade,
    /// The upgrade request's method is not `GET` (RFC 6455 §4.2.1 item 1).
    #[error("upgrade request method is {0:?}, not GET (RFC 6455 §4.2.1)")]
    MethodNotGet(String),
    /// The upgrade request has no usable `Host` header (RFC 6455 §4.2.1
    /// item 2).
    #[error("missing Host header (RFC 6455 §4.2.1)")]
    MissingHost,
    /// `Sec-WebSocket-Key` is missing, repeated (RFC 6455 §11.3.1) or not
    /// the base64 encoding of 16 bytes (§4.2.1 item 5).
    #[error("missing or invalid Sec-WebSocket-Key (RFC 6455 §4.2.1)")]
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing (`None`) or not `13` (the value(s)
    /// received) (RFC 6455 §4.2.1 item 6, §4.4).
    #[error("unsupported Sec-WebSocket-Version {0:?}, only 13 is supported (RFC 6455 §4.2.2, §4.4)")]
    UnsupportedVersion(Option<String>),
    /// A `Sec-WebSocket-Protocol` request header is not a list of tokens
    /// (`1#token`, RFC 6455 §4.1 item 10, §4.3).
    #[error("Sec-WebSocket-Protocol is not a list of tokens (RFC 6455 §4.3)")]
    InvalidProtocolHeader,
}

/// The application's own mistake in an opening-handshake call: an invalid
/// URL, subprotocol, extension or header to send, an answer with no request
/// waiting for one. It comes back from the call that made it (building a
/// [`ClientRequest`](super::ClientRequest), [`Connection::client`],
/// [`accept`](crate::Connection::accept), [`reject`](crate::Connection::reject),
/// [`with_extensions`](crate::Connection::with_extensions),
/// [`accept_response`](super::accept_response)), and nothing was queued or
/// changed. The peer's faults are [`HandshakeError`]s.
///
/// [`Connection::client`]: crate::Connection::client
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The URL is not a valid `ws://` or `wss://` URI (RFC 6455 §3; a client
    /// MUST fail the connection on an invalid URI, §4.1 step 1).
    #[error("invalid WebSocket URL: {0} (RFC 6455 §3)")]
    InvalidUrl(&'static str),
    /// `accept()` or `reject()` was called when no request was waiting for an
    /// answer (a client, a server before the request arrived, or after the
    /// answer).
    #[error("no upgrade request is waiting for an answer")]
    NoPendingRequest,
    /// A subprotocol to offer is not a token, or offered twice (RFC 6455
    /// §4.1 item 10).
    #[error("subprotocol {0:?} is not a token or is offered twice (RFC 6455 §4.1)")]
    InvalidProtocol(String),
    /// The subprotocol chosen in an [`Accept`](super::Accept) was not offered
    /// by the client (RFC 6455 §4.2.2 /subprotocol/).
    #[error("subprotocol {0:?} was not offered by the client (RFC 6455 §4.2.2)")]
    UnofferedProtocol(String),
    /// An extension to offer or accept does not follow the §9.1 grammar
    /// (name and parameter names and values must be tokens) (RFC 6455 §9.1).
    #[error("extension {0:?} does not follow the RFC 6455 §9.1 grammar")]
    InvalidExtension(String),
    /// An extension in an [`Accept`](super::Accept) was not offered by the
    /// client (RFC 6455 §4.2.2 /extensions/, §9.1).
    #[error("extension {0:?} was not offered by the client (RFC 6455 §4.2.2, §9.1)")]
    UnofferedExtension(String),
    /// An extension to run that this endpoint does not implement (anything
    /// but permessage-deflate, which needs the `deflate` feature), or one
    /// given twice (RFC 6455 §9.1).
    #[error("extension {0:?} is not one this endpoint runs (RFC 6455 §9.1)")]
    UnsupportedExtension(String),
    /// A permessage-deflate element to run whose parameters are invalid
    /// (RFC 7692 §7.1).
    #[error("invalid permessage-deflate parameters: {0} (RFC 7692 §7.1)")]
    InvalidDeflateParameters(DeflateNegotiationError),
    /// An extra header has a name that is not a token or a value with
    /// control characters (RFC 6455 §4.1 item 1: the handshake MUST be valid
    /// HTTP).
    #[error("header {0:?} has an invalid name or value (RFC 6455 §4.1)")]
    InvalidHeader(String),
    /// An extra header would duplicate one the handshake writes itself
    /// (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-*`, …)
    /// (RFC 6455 §4.1, §4.2.2, §11.3).
    #[error("header {0:?} is written by the handshake itself (RFC 6455 §4.1, §4.2.2)")]
    ReservedHeader(String),
    /// A rejection status that is not a final status code in 200..=999
    /// (a 1xx would not end the exchange; RFC 6455 §4.2.2).
    #[error("status {0} cannot answer an upgrade request (RFC 6455 §4.2.2)")]
    InvalidStatus(u16),
}

impl From<Rejection> for HandshakeError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(Box::new(r))
    }
}

impl HandshakeError {
    /// The HTTP status a server answers with when it finds this error in a
    /// client's upgrade request (RFC 6455 §4.2.1: "an appropriate error code
    /// (such as 400 Bad Request)"; §4.2.2 and §4.4 for 426).
    ///
    /// | error | status |
    /// |---|---|
    /// | `Malformed`, `HttpVersion`, `MissingHost`, `MissingConnectionUpgrade`, `InvalidKey`, `InvalidProtocolHeader`, `InvalidExtensionHeader` | 400 Bad Request |
    /// | `MethodNotGet` | 405 Method Not Allowed (sent with `Allow: GET`) |
    /// | `NotUpgrade` | 426 Upgrade Required (sent with `Upgrade: websocket`) |
    /// | `UnsupportedVersion` | 426 Upgrade Required (sent with `Sec-WebSocket-Version: 13`) |
    /// | `HeadTooLarge`, `TooManyHeaders` | 431 Request Header Fields Too Large |
    ///
    /// `None` for errors that only arise on the client side (checks of the
    /// server's response, `Truncated`, `Timeout`).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Malformed(_)
            | Self::HttpVersion
            | Self::MissingHost
            | Self::MissingConnectionUpgrade
            | Self::InvalidKey
            | Self::InvalidProtocolHeader
            | Self::InvalidExtensionHeader => Some(400),
            Self::MethodNotGet(_) => Some(405),
            Self::NotUpgrade | Self::UnsupportedVersion(_) => Some(426),
            Self::HeadTooLarge | Self::TooManyHeaders => Some(431),
            Self::Truncated
            | Self::Rejected(_)
            | Self::MissingUpgrade
            | Self::InvalidAccept
            | Self::UnofferedProtocol(_)
            | Self::UnofferedExtension(_)
            | Self::Timeout
            | Self::UnsupportedExtension(_)
            | Self::InvalidDeflateResponse(_) => None,
        }
    }

    /// A fixed, short text for the body of the error response. It never
    /// echoes request data back.
    pub(super) fn body_text(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "Malformed HTTP request.\n",
            Self::HttpVersion => "The WebSocket handshake requires HTTP/1.1.\n",
            Self::MissingHost => "Missing Host header.\n",
            Self::MissingConnectionUpgrade => "Missing \"Connection: Upgrade\".\n",
            Self::InvalidKey => "Missing or invalid Sec-WebSocket-Key.\n",
            Self::InvalidProtocolHeader => "Invalid Sec-WebSocket-Protocol.\n",
            Self::InvalidExtensionHeader => "Invalid Sec-WebSocket-Extensions.\n",
            Self::MethodNotGet(_) => "A WebSocket handshake must use GET.\n",
            Self::NotUpgrade => "This endpoint only speaks WebSocket.\n",
            Self::UnsupportedVersion(_) => "Only Sec-WebSocket-Version 13 is supported.\n",
            Self::HeadTooLarge => "Request head too large.\n",
            Self::TooManyHeaders => "Too many header fields.\n",
            _ => "Bad request.\n",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{Limits, RequestParse, parse_request};
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn every_variant_status_and_message() {
        let limits = Limits { max_head_size: 1024, max_headers: 8 };
        let Ok(RequestParse::NotUpgrade(..)) = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", limits) else {
            panic!("plain GET must be NotUpgrade");
        };
        let not_upgrade = HandshakeError::NotUpgrade;
        let rejection = Rejection { status: 401, reason: "Unauthorized".into(), headers: vec![], body: vec![] };
        let table: [(HandshakeError, Option<u16>); 18] = [
            (HandshakeError::Malformed("x"), Some(400)),
            (HandshakeError::HeadTooLarge, Some(431)),
            (HandshakeError::TooManyHeaders, Some(431)),
            (HandshakeError::HttpVersion, Some(400)),
            (HandshakeError::Truncated, None),
            (HandshakeError::from(rejection), None),
            (HandshakeError::MissingUpgrade, None),
            (HandshakeError::MissingConnectionUpgrade, Some(400)),
            (HandshakeError::InvalidAccept, None),
            (HandshakeError::UnofferedProtocol("p".into()), None),
            (HandshakeError::UnofferedExtension("e".into()), None),
            (HandshakeError::InvalidExtensionHeader, Some(400)),
            (not_upgrade, Some(426)),
            (HandshakeError::MethodNotGet("POST".into()), Some(405)),
            (HandshakeError::MissingHost, Some(400)),
            (HandshakeError::InvalidKey, Some(400)),
            (HandshakeError::UnsupportedVersion(None), Some(426)),
            (HandshakeError::InvalidProtocolHeader, Some(400)),
        ];
        for (err, status) in table {
            assert_eq!(err.status(), status, "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains("RFC 6455 §"), "{msg}");
            assert!(err.body_text().ends_with('\n'));
            assert_eq!(err.clone(), err);
        }
    }
}

/// Why a client rejects the server's `permessage-deflate` response
/// (RFC 7692 §7.1: the client MUST _Fail the WebSocket Connection_).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeflateNegotiationError {
    /// The server accepted permessage-deflate twice (RFC 6455 §9.1: an
    /// extension the client offered once can be accepted once).
    #[error("permessage-deflate accepted more than once")]
    Repeated,
    /// The element passed is not `permessage-deflate` at all.
    #[error("extension {0:?} is not permessage-deflate")]
    NotDeflate(String),
    /// A parameter RFC 7692 does not define for a response (§7.1).
    #[error("unknown parameter {0:?} (RFC 7692 §7.1)")]
    UnknownParameter(String),
    /// A parameter given more than once (§7.1).
    #[error("parameter {0} appears more than once (RFC 7692 §7.1)")]
    DuplicateParameter(&'static str),
    /// A value where none is allowed, a missing value, or a number that is
    /// not 8..=15 written without leading zeroes (§7.1.1, §7.1.2).
    #[error("parameter {0} has an invalid value (RFC 7692 §7.1)")]
    InvalidValue(&'static str),
    /// `client_max_window_bits` in a response to an offer without it
    /// (§7.1.2.2: the response MUST NOT include it).
    #[error("client_max_window_bits in the response, but the offer did not include it (RFC 7692 §7.1.2.2)")]
    UnofferedClientMaxWindowBits,
    /// `server_max_window_bits` above the value the offer asked for
    /// (§7.1.2.1: "the same or smaller value").
    #[error("server_max_window_bits={got} exceeds the {asked} asked for (RFC 7692 §7.1.2.1)")]
    ServerWindowTooLarge {
        /// The value offered.
        asked: u8,
        /// The value in the response.
        got: u8,
    },
    /// The offer requested `server_no_context_takeover` or
    /// `server_max_window_bits` and the response lacks it, so it accepts an
    /// offer that was not made (§5, §7.1.1.1, §7.1.2.1).
    #[error("the response lacks {0}, which the offer requested (RFC 7692 §7.1.1.1, §7.1.2.1)")]
    MissingRequested(&'static str),
}
