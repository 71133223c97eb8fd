//! The opening handshake over HTTP/2: RFC 8441's extended CONNECT, sans IO.
//!
//! An HTTP/2 stream carries a WebSocket when the client sends a `CONNECT`
//! request with the `:protocol` pseudo-header field `websocket` (RFC 8441
//! §4–5) and the server answers `200`. There is no `Upgrade`, no
//! `Connection`, no `Host`, no `Sec-WebSocket-Key` and no
//! `Sec-WebSocket-Accept` (RFC 8441 §5); `Origin`, `Sec-WebSocket-Version`,
//! `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` mean what they
//! mean in RFC 6455, with lower-case names. This module holds those rules as
//! functions over HTTP/2 header lists (`(name, value)` pairs, pseudo-header
//! fields first), and over the `http` crate's types with the `http`
//! feature. The HTTP/2 framing (SETTINGS_ENABLE_CONNECT_PROTOCOL, HEADERS,
//! DATA) is the HTTP/2 library's.
//!
//! * Client: [`request_fields`] (or [`client_request`] with `http`) builds
//!   the request from a [`ClientRequest`]; [`validate_response`] (or
//!   [`validate_http_response`]) checks the answer into the same
//!   [`Accepted`] an HTTP/1.1 101 gives.
//! * Server: [`ConnectRequest::from_fields`] (or
//!   [`ConnectRequest::from_http`]) checks the request; every refusal is a
//!   [`ConnectRejection`] that knows its status and the fields to send with
//!   it ([`ConnectRejection::response_fields`], or
//!   [`ConnectRejection::to_http`]). [`Accept::negotiate`] chooses the subprotocol and answers
//!   permessage-deflate exactly as for HTTP/1.1 (one code path for both),
//!   and [`response_fields`] (or [`accept_response`]) builds the `200`.
//!
//! After the handshake the stream is the WebSocket's transport and the
//! connection is OPEN (RFC 8441 §5): start it as on any path where the
//! handshake was done elsewhere, the server with
//! `Connection::open_server(config).with_extensions(accept.extensions())`,
//! the client with
//! `Connection::open_client(config, entropy).with_extensions(&accepted.extensions)`.
//! An orderly end of the stream (END_STREAM) is the TCP close of RFC 6455:
//! call [`Connection::handle_eof`](crate::Connection::handle_eof); a
//! `CloseTransport` output means END_STREAM on our side.
//!
//! Both ends, one message, permessage-deflate when the `deflate` feature is
//! on:
//!
//! ```
//! use wsmachine::handshake::h2::{self, ConnectRequest};
//! use wsmachine::handshake::{Accept, ClientRequest};
//! use wsmachine::{Config, Connection, Entropy, Event, Message, Output};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::default().with_protocol("chat");
//! #[cfg(feature = "deflate")]
//! let config = config.with_deflate(Some(wsmachine::DeflateConfig::default().with_threshold(0)));
//!
//! // Client: the extended CONNECT, with the extensions it runs offered.
//! let request = ClientRequest::new("wss://server.example.com/chat")?
//!     .protocol("chat")
//!     .origin("http://www.example.com")
//!     .negotiate(&config);
//! h2::check_request(&request)?;
//! let fields = h2::request_fields(&request);
//! assert_eq!(fields[0], (":method".to_string(), "CONNECT".to_string()));
//! assert_eq!(fields[1], (":protocol".to_string(), "websocket".to_string()));
//!
//! // Server: the same list, as the HTTP/2 library hands it over.
//! let connect = ConnectRequest::from_fields(fields.iter().map(|(n, v)| (n.as_str(), v.as_bytes())))?;
//! assert_eq!((connect.scheme(), connect.authority(), connect.path()), ("https", "server.example.com", "/chat"));
//! let accept = Accept::new().negotiate(&connect, &config);
//! let answer = h2::response_fields(&connect, &accept)?;
//! assert_eq!(answer[0], (":status".to_string(), "200".to_string()));
//! let mut server = Connection::open_server(config.clone()).with_extensions(accept.extensions())?;
//!
//! // Client: the 200, checked as a 101 would be.
//! let regular = answer.iter().skip(1).map(|(n, v)| (n.as_str(), v.as_bytes()));
//! let accepted = h2::validate_response(&request, 200, regular)?;
//! accepted.check_extensions(&config)?;
//! assert_eq!(accepted.protocol.as_deref(), Some("chat"));
//! # #[cfg(feature = "deflate")]
//! # assert_eq!(accepted.extensions[0].name, "permessage-deflate");
//! struct Counter(u8);
//! impl Entropy for Counter {
//!     fn fill(&mut self, dest: &mut [u8]) {
//!         for b in dest {
//!             self.0 = self.0.wrapping_add(1);
//!             *b = self.0;
//!         }
//!     }
//! }
//! let mut client = Connection::open_client(config, Counter(0)).with_extensions(&accepted.extensions)?;
//!
//! // The stream's DATA frames carry the WebSocket frames.
//! client.send_text("hello over HTTP/2")?;
//! while let Some(out) = client.poll_output() {
//!     if let Output::Transmit(bytes) = out {
//!         server.handle_bytes(&bytes);
//!     }
//! }
//! let received = std::iter::from_fn(|| server.poll_output()).find_map(|out| match out {
//!     Output::Event(Event::Message(m)) => Some(m),
//!     _ => None,
//! });
//! assert_eq!(received, Some(Message::text("hello over HTTP/2")));
//! # Ok(()) }
//! ```
//!
//! Header field names are compared as HTTP/2 sends them, lower case: a
//! received name with an upper-case letter makes the message malformed
//! (RFC 9113 §8.2). Values must be UTF-8 here, as on the HTTP/1.1 path.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::client::{CLIENT_RESERVED, check_agreement};
use super::extensions::join_extensions;
use super::server::{accept_extensions, check_offers};
use super::{
    Accept, Accepted, ClientRequest, ExtensionOffer, HandshakeError, Headers, RESERVED, Rejection, UsageError, VERSION,
    check_extra_headers, is_field_value, is_token, list_elements, name_in, parse_extensions, reason_phrase, trim_ows,
    writable_header,
};

#[cfg(feature = "http")]
mod http_types;
#[cfg(feature = "http")]
pub use http_types::{accept_response, client_request, validate_http_response};

/// The connection-specific header fields HTTP/2 forbids (RFC 9113 §8.2.2):
/// a message with any of them is malformed. (`te` is allowed with the
/// value `trailers` only, and checked apart.)
const CONNECTION_SPECIFIC: [&str; 5] = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

/// Extra header names an RFC 8441 `200` may not carry beyond those of a
/// 101 (`RESERVED[2..]`): the connection-specific ones a 101 does not
/// already own (RFC 9113 §8.2.2).
const H2_RESERVED: [&str; 3] = ["keep-alive", "proxy-connection", "te"];

/// The server's view of an RFC 8441 extended CONNECT request: the target
/// (`:scheme`, `:authority`, `:path`), the offers and every regular header
/// field, checked by [`from_fields`](Self::from_fields) or
/// [`from_http`](Self::from_http).
///
/// Answer it with [`Accept::negotiate`] and [`response_fields`] (or
/// [`accept_response`]), or refuse it with any status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    scheme: String,
    authority: String,
    path: String,
    origin: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    /// The regular fields in order, as received (names lower case).
    fields: Headers,
}

/// Why a server refuses an extended CONNECT request: each check of
/// [`ConnectRequest::from_fields`] fails with its own variant, which knows
/// the [`status`](Self::status) to answer with and the fields to send
/// along ([`headers`](Self::headers)).
///
/// RFC 9113 §8.1.1 makes a malformed request a stream error, before which
/// "a server MAY send an HTTP response"; §8.2.1 says it SHOULD be 400 (Bad
/// Request) "unless a more suitable status code is defined". So:
///
/// | rejection | status | why |
/// |---|---|---|
/// | `UppercaseFieldName`, `InvalidFieldName`, `InvalidFieldValue` | 400 | RFC 9113 §8.2, §8.2.1 |
/// | `ConnectionSpecificField` (`connection`, `upgrade`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `te` other than `trailers`) | 400 | RFC 9113 §8.2.2; RFC 8441 §5 (no `Connection`, no `Upgrade`) |
/// | `PseudoHeaderAfterRegular`, `RepeatedPseudoHeader`, `InvalidPseudoHeader` | 400 | RFC 9113 §8.3 |
/// | `MissingPseudoHeader` (`:method`, `:scheme`, `:path`, `:authority`) | 400 | RFC 9113 §8.3.1; RFC 8441 §4 (`:scheme` and `:path` MUST be included) |
/// | `MethodNotConnect` | 405, with `allow: CONNECT` | RFC 8441 §4–5 (the request is a CONNECT); RFC 9110 §15.5.6 |
/// | `MissingProtocol` | 400 | RFC 8441 §5 (`:protocol` MUST be included); without it a CONNECT with `:scheme` and `:path` is malformed (RFC 9113 §8.5) |
/// | `InvalidProtocol` (not a token) | 400 | RFC 8441 §4 (a value of the HTTP Upgrade Token Registry) |
/// | `UnsupportedProtocol` (a token other than `websocket`) | 501 | RFC 8441 §4: a valid request for a tunnel to another protocol, which this endpoint does not provide: RFC 9110 §15.6.2 ("does not support the functionality required to fulfill the request") |
/// | `InvalidScheme` | 400 | RFC 8441 §5 (`https` for wss, `http` for ws) |
/// | `InvalidPath`, `InvalidAuthority`, `HostMismatch` | 400 | RFC 9113 §8.3.1 |
/// | `UnexpectedContent` | 400 | RFC 9110 §9.3.6 (a CONNECT request has no content) |
/// | `UnsupportedVersion` | 400, with `sec-websocket-version: 13` | RFC 6455 §4.2.2 and §4.4 (name the versions supported); not 426, which MUST carry an `Upgrade` field (RFC 9110 §15.5.22) that HTTP/2 forbids (RFC 9113 §8.2.2) |
/// | `InvalidProtocolHeader`, `InvalidExtensionHeader` | 400 | RFC 6455 §4.1 item 10, §9.1 |
/// | `NotHttp2` (the `http` conversion only) | 400 | RFC 8441 §4 extends the HTTP/2 CONNECT |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectRejection {
    /// A field name with an upper-case letter (RFC 9113 §8.2: names are
    /// lower case; a message with upper-case names is malformed).
    #[error("field name {0:?} has upper-case characters (RFC 9113 §8.2)")]
    UppercaseFieldName(String),
    /// A field name that is empty or not a token (RFC 9113 §8.2.1, RFC 9110
    /// §5.1).
    #[error("field name {0:?} is not a token (RFC 9113 §8.2.1)")]
    InvalidFieldName(String),
    /// The field named has a value with NUL, CR, LF or another control
    /// character, leading or trailing whitespace, or bytes that are not
    /// UTF-8 (RFC 9113 §8.2.1, RFC 9110 §5.5).
    #[error("field {0:?} has an invalid value (RFC 9113 §8.2.1)")]
    InvalidFieldValue(String),
    /// A connection-specific field: `connection`, `upgrade`, `keep-alive`,
    /// `proxy-connection`, `transfer-encoding`, or `te` with a value other
    /// than `trailers` (RFC 9113 §8.2.2; RFC 8441 §5: `Connection` and
    /// `Upgrade` MUST NOT be included).
    #[error("connection-specific field {0:?} (RFC 9113 §8.2.2, RFC 8441 §5)")]
    ConnectionSpecificField(String),
    /// A pseudo-header field after a regular field (RFC 9113 §8.3).
    #[error("pseudo-header field {0:?} after a regular field (RFC 9113 §8.3)")]
    PseudoHeaderAfterRegular(String),
    /// A pseudo-header field given twice (RFC 9113 §8.3).
    #[error("pseudo-header field {0:?} appears twice (RFC 9113 §8.3)")]
    RepeatedPseudoHeader(String),
    /// A pseudo-header field not defined for this request: an unknown one,
    /// a response's `:status`, or `:protocol` on a method other than
    /// CONNECT (RFC 9113 §8.3, RFC 8441 §4).
    #[error("pseudo-header field {0:?} is not defined for this request (RFC 9113 §8.3, RFC 8441 §4)")]
    InvalidPseudoHeader(String),
    /// `:method`, `:scheme`, `:path` or `:authority` is missing (RFC 9113
    /// §8.3.1; RFC 8441 §4: with `:protocol`, `:scheme` and `:path` MUST be
    /// included).
    #[error("missing pseudo-header field {0} (RFC 9113 §8.3.1, RFC 8441 §4)")]
    MissingPseudoHeader(&'static str),
    /// The method is not CONNECT (RFC 8441 §4–5): answered 405 with
    /// `allow: CONNECT`.
    #[error("method {0:?} is not CONNECT (RFC 8441 §5)")]
    MethodNotConnect(String),
    /// A CONNECT without `:protocol`: a plain tunnel request, not a
    /// WebSocket (RFC 8441 §5: `:protocol` MUST be included).
    #[error("CONNECT without the :protocol pseudo-header field (RFC 8441 §5)")]
    MissingProtocol,
    /// `:protocol` is not a token, so not a protocol name at all (RFC 8441
    /// §4: a value from the HTTP Upgrade Token Registry).
    #[error(":protocol {0:?} is not an upgrade token (RFC 8441 §4)")]
    InvalidProtocol(String),
    /// `:protocol` names another protocol than `websocket` (RFC 8441 §5):
    /// valid, but not served here (501 Not Implemented, RFC 9110 §15.6.2).
    #[error(":protocol {0:?} is not websocket (RFC 8441 §5)")]
    UnsupportedProtocol(String),
    /// `:scheme` is neither `https` (wss) nor `http` (ws) (RFC 8441 §5).
    #[error(":scheme {0:?} is neither https nor http (RFC 8441 §5)")]
    InvalidScheme(String),
    /// `:path` is empty, does not start with `/`, or holds a fragment,
    /// whitespace or a non-ASCII byte (RFC 9113 §8.3.1; RFC 6455 §3).
    #[error("invalid :path (RFC 9113 §8.3.1)")]
    InvalidPath,
    /// `:authority` is empty, has userinfo or a character an authority
    /// cannot have (RFC 9113 §8.3.1, RFC 3986 §3.2).
    #[error("invalid :authority (RFC 9113 §8.3.1)")]
    InvalidAuthority,
    /// A `host` field that differs from `:authority` (RFC 9113 §8.3.1: a
    /// server SHOULD treat the request as malformed).
    #[error("host differs from :authority (RFC 9113 §8.3.1)")]
    HostMismatch,
    /// A `content-length` other than 0: a CONNECT request has no content
    /// (RFC 9110 §9.3.6); the stream's data is the WebSocket.
    #[error("a CONNECT request has no content (RFC 9110 §9.3.6)")]
    UnexpectedContent,
    /// `sec-websocket-version` is missing (`None`), repeated or not `13`
    /// (the value(s) received) (RFC 8441 §5, RFC 6455 §4.2.1 item 6):
    /// answered 400 with `sec-websocket-version: 13` (RFC 6455 §4.4).
    #[error("unsupported sec-websocket-version {0:?}, only 13 is supported (RFC 6455 §4.4, RFC 8441 §5)")]
    UnsupportedVersion(Option<String>),
    /// A `sec-websocket-protocol` field is not a list of tokens (RFC 6455
    /// §4.1 item 10, §4.3).
    #[error("sec-websocket-protocol is not a list of tokens (RFC 6455 §4.3)")]
    InvalidProtocolHeader,
    /// A `sec-websocket-extensions` field does not follow RFC 6455 §9.1.
    #[error("sec-websocket-extensions does not follow the RFC 6455 §9.1 grammar")]
    InvalidExtensionHeader,
    /// ([`ConnectRequest::from_http`]) The request is not HTTP/2: the
    /// extended CONNECT is an HTTP/2 method (RFC 8441 §4).
    #[error("an extended CONNECT must be HTTP/2 (RFC 8441 §4)")]
    NotHttp2,
}

impl ConnectRejection {
    /// The status a server answers with (see the table on
    /// [`ConnectRejection`]): 400, except 405 for `MethodNotConnect` and
    /// 501 for `UnsupportedProtocol`.
    pub fn status(&self) -> u16 {
        match self {
            Self::MethodNotConnect(_) => 405,
            Self::UnsupportedProtocol(_) => 501,
            Self::UppercaseFieldName(_)
            | Self::InvalidFieldName(_)
            | Self::InvalidFieldValue(_)
            | Self::ConnectionSpecificField(_)
            | Self::PseudoHeaderAfterRegular(_)
            | Self::RepeatedPseudoHeader(_)
            | Self::InvalidPseudoHeader(_)
            | Self::MissingPseudoHeader(_)
            | Self::MissingProtocol
            | Self::InvalidProtocol(_)
            | Self::InvalidScheme(_)
            | Self::InvalidPath
            | Self::InvalidAuthority
            | Self::HostMismatch
            | Self::UnexpectedContent
            | Self::UnsupportedVersion(_)
            | Self::InvalidProtocolHeader
            | Self::InvalidExtensionHeader
            | Self::NotHttp2 => 400,
        }
    }

    /// The header fields the refusing response carries (lower-case names):
    /// `sec-websocket-version: 13` for `UnsupportedVersion` (RFC 6455
    /// §4.4), `allow: CONNECT` for a 405 (RFC 9110 §15.5.6); none
    /// otherwise.
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::UnsupportedVersion(_) => &[("sec-websocket-version", VERSION)],
            Self::MethodNotConnect(_) => &[("allow", "CONNECT")],
            _ => &[],
        }
    }

    /// The refusing response's fields, `:status` first, then
    /// [`headers`](Self::headers), ready for an HTTP/2 library.
    pub fn response_fields(&self) -> Vec<(String, String)> {
        let mut out = alloc::vec![(String::from(":status"), self.status().to_string())];
        out.extend(self.headers().iter().map(|(n, v)| (String::from(*n), String::from(*v))));
        out
    }
}

/// The pseudo-header fields of a request (RFC 9113 §8.3.1, RFC 8441 §4).
#[derive(Default)]
struct Pseudo<'a> {
    method: Option<&'a str>,
    protocol: Option<&'a str>,
    scheme: Option<&'a str>,
    path: Option<&'a str>,
    authority: Option<&'a str>,
}

/// A received value as text, if it is a valid field value: UTF-8, no
/// control character but HTAB, no DEL, no leading or trailing whitespace
/// (RFC 9113 §8.2.1, RFC 9110 §5.5).
fn field_value(value: &[u8]) -> Option<&str> {
    let text = core::str::from_utf8(value).ok()?;
    let trimmed = !matches!(value.first(), Some(b' ' | b'\t')) && !matches!(value.last(), Some(b' ' | b'\t'));
    (trimmed && is_field_value(text)).then_some(text)
}

/// What is wrong with a received regular field name, if anything: HTTP/2
/// names are lower-case tokens (RFC 9113 §8.2, §8.2.1).
fn check_name(name: &str) -> Result<(), ConnectRejection> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Err(ConnectRejection::UppercaseFieldName(name.into()))
    } else if !is_token(name) {
        Err(ConnectRejection::InvalidFieldName(name.into()))
    } else {
        Ok(())
    }
}

/// Whether a regular field (name lower case) is connection-specific (RFC
/// 9113 §8.2.2).
fn connection_specific(name: &str, value: &str) -> bool {
    CONNECTION_SPECIFIC.contains(&name) || (name == "te" && !trim_ows(value).eq_ignore_ascii_case("trailers"))
}

/// `:path`: origin-form, `/` then visible ASCII, no fragment (RFC 9113
/// §8.3.1, RFC 6455 §3).
fn valid_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

/// `:authority`: a non-empty host with an optional port, no userinfo (RFC
/// 9113 §8.3.1), from RFC 3986 §3.2 characters.
fn valid_authority(authority: &str) -> bool {
    !authority.is_empty()
        && authority.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')')
                || matches!(b, b'*' | b'+' | b',' | b';' | b'=' | b':' | b'[' | b']')
        })
}

impl ConnectRequest {
    /// Checks an extended CONNECT request (RFC 8441 §4–5) given as its whole
    /// HTTP/2 header list, pseudo-header fields (`:method`, `:protocol`,
    /// `:scheme`, `:path`, `:authority`) included, in the order received.
    ///
    /// Checks, in order (the status answered is on [`ConnectRejection`]):
    /// 1. each field as it comes (RFC 9113 §8.2–8.3): regular names are
    ///    lower-case tokens (`UppercaseFieldName`, `InvalidFieldName`);
    ///    values are UTF-8 without controls or surrounding whitespace
    ///    (`InvalidFieldValue`); no connection-specific field
    ///    (`ConnectionSpecificField`); pseudo-header fields come first
    ///    (`PseudoHeaderAfterRegular`), once each (`RepeatedPseudoHeader`),
    ///    and are the five above (`InvalidPseudoHeader`);
    /// 2. `:method` is present and `CONNECT` (`MissingPseudoHeader`,
    ///    `MethodNotConnect`; `InvalidPseudoHeader` for a `:protocol` on
    ///    another method);
    /// 3. `:protocol` is present and `websocket`, ASCII case-insensitively
    ///    (`MissingProtocol`, `InvalidProtocol` for a non-token,
    ///    `UnsupportedProtocol`);
    /// 4. `:scheme` is `https` or `http` (`MissingPseudoHeader`,
    ///    `InvalidScheme`); `:path` is origin-form (`MissingPseudoHeader`,
    ///    `InvalidPath`); `:authority` is a host and port without userinfo
    ///    (`MissingPseudoHeader`, `InvalidAuthority`); any `host` field
    ///    equals it (`HostMismatch`);
    /// 5. no content (`content-length` other than 0: `UnexpectedContent`);
    /// 6. exactly one `sec-websocket-version`, `13` (`UnsupportedVersion`);
    /// 7. `sec-websocket-protocol` fields are lists of tokens
    ///    (`InvalidProtocolHeader`); `sec-websocket-extensions` fields follow
    ///    RFC 6455 §9.1 (`InvalidExtensionHeader`).
    ///
    /// `sec-websocket-key` and `sec-websocket-accept` have no meaning here
    /// (RFC 8441 §5) and are left alone, as any other field.
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Self, ConnectRejection> {
        let mut pseudo = Pseudo::default();
        let mut regular: Headers = Vec::new();
        for (name, value) in fields {
            if let Some(bare) = name.strip_prefix(':') {
                if !regular.is_empty() {
                    return Err(ConnectRejection::PseudoHeaderAfterRegular(name.into()));
                }
                let slot = match bare {
                    "method" => &mut pseudo.method,
                    "protocol" => &mut pseudo.protocol,
                    "scheme" => &mut pseudo.scheme,
                    "path" => &mut pseudo.path,
                    "authority" => &mut pseudo.authority,
                    _ => return Err(ConnectRejection::InvalidPseudoHeader(name.into())),
                };
                if slot.is_some() {
                    return Err(ConnectRejection::RepeatedPseudoHeader(name.into()));
                }
                *slot = Some(field_value(value).ok_or_else(|| ConnectRejection::InvalidFieldValue(name.into()))?);
                continue;
            }
            check_name(name)?;
            let value = field_value(value).ok_or_else(|| ConnectRejection::InvalidFieldValue(name.into()))?;
            if connection_specific(name, value) {
                return Err(ConnectRejection::ConnectionSpecificField(name.into()));
            }
            regular.push((name.into(), value.into()));
        }
        let method = pseudo.method.ok_or(ConnectRejection::MissingPseudoHeader(":method"))?;
        if method != "CONNECT" {
            return Err(match pseudo.protocol {
                Some(_) => ConnectRejection::InvalidPseudoHeader(":protocol".into()),
                None => ConnectRejection::MethodNotConnect(method.into()),
            });
        }
        match pseudo.protocol {
            None => return Err(ConnectRejection::MissingProtocol),
            Some(p) if !is_token(p) => return Err(ConnectRejection::InvalidProtocol(p.into())),
            Some(p) if !p.eq_ignore_ascii_case("websocket") => {
                return Err(ConnectRejection::UnsupportedProtocol(p.into()));
            }
            Some(_) => {}
        }
        let scheme = pseudo.scheme.ok_or(ConnectRejection::MissingPseudoHeader(":scheme"))?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else {
            return Err(ConnectRejection::InvalidScheme(scheme.into()));
        };
        let path = pseudo.path.ok_or(ConnectRejection::MissingPseudoHeader(":path"))?;
        if !valid_path(path) {
            return Err(ConnectRejection::InvalidPath);
        }
        let authority = pseudo.authority.ok_or(ConnectRejection::MissingPseudoHeader(":authority"))?;
        if !valid_authority(authority) {
            return Err(ConnectRejection::InvalidAuthority);
        }
        let values = |name: &'static str| regular.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str());
        if values("host").any(|h| !h.eq_ignore_ascii_case(authority)) {
            return Err(ConnectRejection::HostMismatch);
        }
        if values("content-length").any(|l| l != "0") {
            return Err(ConnectRejection::UnexpectedContent);
        }
        let mut versions = values("sec-websocket-version");
        match (versions.next(), versions.next()) {
            (Some(VERSION), None) => {}
            (None, _) => return Err(ConnectRejection::UnsupportedVersion(None)),
            _ => {
                let all: Vec<&str> = values("sec-websocket-version").collect();
                return Err(ConnectRejection::UnsupportedVersion(Some(all.join(", "))));
            }
        }
        let mut protocols = Vec::new();
        for value in values("sec-websocket-protocol") {
            let before = protocols.len();
            for p in list_elements(value) {
                if !is_token(p) {
                    return Err(ConnectRejection::InvalidProtocolHeader);
                }
                protocols.push(String::from(p));
            }
            if protocols.len() == before {
                // `1#token`: at least one element per field.
                return Err(ConnectRejection::InvalidProtocolHeader);
            }
        }
        let mut extensions = Vec::new();
        for value in values("sec-websocket-extensions") {
            extensions.extend(parse_extensions(value).map_err(|_| ConnectRejection::InvalidExtensionHeader)?);
        }
        let origin = values("origin").next().map(String::from);
        Ok(Self {
            scheme: scheme.into(),
            authority: authority.into(),
            path: path.into(),
            origin,
            protocols,
            extensions,
            fields: regular,
        })
    }

    /// `:scheme`, lower case: `https` for a `wss` WebSocket, `http` for
    /// `ws` (RFC 8441 §5).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// `:authority`, the host and optional port, as received: what `Host`
    /// is in HTTP/1.1 (RFC 8441 §5, RFC 6455 §4.2.1 item 2).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `:path`, the path and query of the WebSocket URI: the /resource
    /// name/ (RFC 8441 §5, RFC 6455 §3).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the WebSocket URI is `wss` (`:scheme` `https`, RFC 8441 §5).
    pub fn is_secure(&self) -> bool {
        self.scheme == "https"
    }

    /// The subprotocols offered, in order of preference: every
    /// `sec-websocket-protocol` field, comma-split and trimmed (RFC 8441 §5,
    /// RFC 6455 §4.2.1 item 8).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions offered, in order of preference, from every
    /// `sec-websocket-extensions` field (RFC 8441 §5, RFC 6455 §9.1).
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The first `origin` field, if any (RFC 8441 §5, RFC 6454).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Every regular header field (not the pseudo-header fields), in order,
    /// `(name, value)`, names lower case as HTTP/2 sends them.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + DoubleEndedIterator + Clone + '_ {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The first value of the regular field `name` (compared ASCII
    /// case-insensitively), e.g. `cookie` or `authorization`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
}

/// Checks a [`ClientRequest`] for sending as an extended CONNECT: what
/// [`ClientRequest::validate`] checks, and no extra header HTTP/2 forbids
/// (`keep-alive`, `proxy-connection`, `te` other than `trailers`: RFC 9113
/// §8.2.2), which [`request_fields`] would leave out; those are
/// [`UsageError::ReservedHeader`].
pub fn check_request(req: &ClientRequest) -> Result<(), UsageError> {
    req.validate()?;
    match req.headers().iter().find(|(n, v)| connection_specific(&n.to_ascii_lowercase(), v)) {
        Some((n, _)) => Err(UsageError::ReservedHeader(n.clone())),
        None => Ok(()),
    }
}

/// The client's extended CONNECT request (RFC 8441 §4–5, the §5.1 example's
/// order) as an HTTP/2 header list:
///
/// ```text
/// :method = CONNECT
/// :protocol = websocket
/// :scheme = https                         (http for ws://)
/// :path = {resource name}
/// :authority = {host[:port]}              (the port only if not the default)
/// sec-websocket-version = 13
/// sec-websocket-protocol = {a, b}         (if any)
/// sec-websocket-extensions = {offers}     (if any)
/// origin = {origin}                       (if set)
/// {extra headers, names lower case}
/// ```
///
/// No `host`, `upgrade`, `connection` or `sec-websocket-key` (RFC 8441 §5).
/// Call [`check_request`] (or [`ClientRequest::validate`]) first: invalid
/// items are left out, as are extra headers the handshake owns or HTTP/2
/// forbids. Values are trimmed of surrounding whitespace, which HTTP/2
/// does not allow (RFC 9113 §8.2.1). For the extensions this endpoint
/// runs, build `req` with [`ClientRequest::negotiate`].
pub fn request_fields(req: &ClientRequest) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(9 + req.headers().len());
    let mut put = |name: &str, value: &str| out.push((String::from(name), String::from(value)));
    put(":method", "CONNECT");
    put(":protocol", "websocket");
    put(":scheme", if req.is_secure() { "https" } else { "http" });
    put(":path", req.resource());
    put(":authority", &req.host_header());
    put("sec-websocket-version", VERSION);
    let protocols: Vec<&str> = req.protocols().iter().map(String::as_str).filter(|p| is_token(p)).collect();
    if !protocols.is_empty() {
        put("sec-websocket-protocol", &protocols.join(", "));
    }
    let mut exts = req.extensions().iter().filter(|e| e.is_valid()).peekable();
    if exts.peek().is_some() {
        put("sec-websocket-extensions", &join_extensions(exts));
    }
    if let Some(o) = req.origin_value().filter(|o| is_field_value(o)) {
        put("origin", trim_ows(o));
    }
    for (name, value) in req.headers() {
        let name = name.to_ascii_lowercase();
        if writable_header(&name, value, CLIENT_RESERVED) && !connection_specific(&name, value) {
            out.push((name, String::from(trim_ows(value))));
        }
    }
    out
}

/// The server's `200` accepting an extended CONNECT (RFC 8441 §5, the §5.1
/// example) as an HTTP/2 header list:
///
/// ```text
/// :status = 200
/// sec-websocket-protocol = {protocol}         (if chosen)
/// sec-websocket-extensions = {extensions}     (if any)
/// {extra headers, names lower case}
/// ```
///
/// No `sec-websocket-accept` (RFC 8441 §5). The acceptance is checked as
/// for a 101: the subprotocol and extensions must be ones `req` offered
/// (`UnofferedProtocol`, `UnofferedExtension`, `InvalidExtension`); extra
/// headers must be valid (`InvalidHeader`) and not ones the handshake
/// writes, nor connection-specific, nor `content-length` (RFC 9110 §9.3.6:
/// none in a 2xx to CONNECT) (`ReservedHeader`). Pass an `Accept` that went
/// through [`Accept::negotiate`] for the subprotocol and permessage-deflate
/// answer the connection gives on HTTP/1.1.
pub fn response_fields(req: &ConnectRequest, accept: &Accept) -> Result<Vec<(String, String)>, UsageError> {
    check_offers(req, accept)?;
    check_extra_headers(&accept.headers, &RESERVED[2..])?;
    if let Some((name, _)) = accept.headers.iter().find(|(n, _)| name_in(n, &H2_RESERVED)) {
        return Err(UsageError::ReservedHeader(name.clone()));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(3 + accept.headers.len());
    out.push((":status".into(), "200".into()));
    if let Some(p) = &accept.protocol {
        out.push(("sec-websocket-protocol".into(), p.clone()));
    }
    if let Some(e) = accept_extensions(accept) {
        out.push(("sec-websocket-extensions".into(), e));
    }
    for (name, value) in &accept.headers {
        out.push((name.to_ascii_lowercase(), String::from(trim_ows(value))));
    }
    Ok(out)
}

/// Checks the server's answer to an extended CONNECT (RFC 8441 §5): its
/// `status` and its header `fields` (pseudo-header fields, if given, are
/// only `:status`, first, equal to `status`).
///
/// * A status other than 2xx refuses the handshake (RFC 8441 §5, RFC 9110
///   §9.3.6: any 2xx "indicates that the sender ... will switch to
///   tunnel mode"): [`HandshakeError::Rejected`] with the status, its
///   standard reason phrase, the regular fields and no body (the body is
///   the HTTP/2 library's to read). Values must be UTF-8 (`Malformed`).
/// * A 2xx is checked as a 101 is, minus what RFC 8441 drops (`Upgrade`,
///   `Connection`, `Sec-WebSocket-Accept`), with the same code: the fields
///   are well formed for HTTP/2 (lower-case token names, valid values, no
///   connection-specific field, RFC 9113 §8.2, §8.3: `Malformed`),
///   `sec-websocket-extensions` follows RFC 6455 §9.1
///   (`InvalidExtensionHeader`) and names only offered extensions
///   (`UnofferedExtension`), and `sec-websocket-protocol` is absent or one
///   offered subprotocol (`UnofferedProtocol`).
///
/// The result is the [`Accepted`] an HTTP/1.1 101 gives; its `headers` are
/// the regular fields. Check its extensions against the configuration with
/// [`Accepted::check_extensions`], then start the connection with
/// `Connection::open_client(config, entropy).with_extensions(&accepted.extensions)`.
pub fn validate_response<'a>(
    req: &ClientRequest,
    status: u16,
    fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Accepted, HandshakeError> {
    let mut headers: Headers = Vec::new();
    // The first way the fields are malformed, for a 2xx.
    let mut malformed: Option<&'static str> = None;
    let mut status_seen = false;
    for (name, value) in fields {
        let text = core::str::from_utf8(value).map_err(|_| HandshakeError::Malformed("header value is not UTF-8"))?;
        let problem = if let Some(bare) = name.strip_prefix(':') {
            if bare != "status" {
                Some("a response pseudo-header field other than :status (RFC 9113 §8.3.2)")
            } else if status_seen || !headers.is_empty() {
                Some(":status repeated or after a regular field (RFC 9113 §8.3)")
            } else if text != status.to_string() {
                Some(":status differs from the status given")
            } else {
                status_seen = true;
                None
            }
        } else {
            let problem = if check_name(name).is_err() {
                Some("upper-case or invalid field name (RFC 9113 §8.2)")
            } else if field_value(value).is_none() {
                Some("invalid field value (RFC 9113 §8.2.1)")
            } else if connection_specific(name, text) {
                Some("connection-specific field (RFC 9113 §8.2.2)")
            } else {
                None
            };
            headers.push((name.into(), text.into()));
            problem
        };
        malformed = malformed.or(problem);
    }
    if !(200..300).contains(&status) {
        return Err(HandshakeError::Rejected(Box::new(Rejection {
            status,
            reason: String::from(reason_phrase(status)),
            headers,
            body: Vec::new(),
        })));
    }
    if let Some(problem) = malformed {
        return Err(HandshakeError::Malformed(problem));
    }
    check_agreement(headers, req)
}

#[cfg(test)]
mod tests;
