//! The server side of the opening handshake (RFC 6455 §4.2).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::extensions::check_extensions;
use super::scan::{HeadScan, Next, count_work};
use super::{
    ExtensionOffer, HandshakeError, Limits, STACK_SLOTS, VERSION, head_length, head_window, header_slots, is_token,
    list_elements, list_has, map_parse_error, parse_extensions, trim_ows,
};

mod answer;

pub use answer::Accept;
#[cfg(feature = "http")]
pub(super) use answer::accept_fields;
#[cfg(test)]
pub(super) use answer::{ACCEPT_RESERVED, RESPONSE_RESERVED};
pub(crate) use answer::{
    accept_extensions, check_offers, validate_accept, validate_reject, write_accept, write_error_response,
    write_response,
};

/// The client's upgrade request as the application sees it (RFC 6455
/// §4.2.1): everything the server needs to decide (§4.2.2 step 4).
///
/// It holds the head as received, once: the accessors lend parts of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The head as received, request line to the empty line (for one
    /// converted from `http`, written out as HTTP/1.1 would send it).
    head: Box<str>,
    method: Span,
    path: Span,
    version: u8,
    /// Every header field, in order.
    fields: Vec<Field>,
    host: Span,
    origin: Option<Span>,
    /// Empty in a plain HTTP request.
    key: Span,
    protocols: Vec<String>,
    /// A valid upgrade request (not a plain HTTP one).
    upgrade: bool,
}

/// A byte range of a [`Request`]'s head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Where `part`, a slice of `head`, lies in it; `head` is at most
    /// `u32::MAX` bytes long ([`Span::fits`]).
    fn of(head: &[u8], part: &[u8]) -> Self {
        let start = (part.as_ptr() as usize).wrapping_sub(head.as_ptr() as usize);
        let end = start.wrapping_add(part.len());
        if start <= end && end <= head.len() {
            Self { start: start as u32, end: end as u32 }
        } else {
            // Not a part of `head` (it always is): an empty span.
            Self::default()
        }
    }

    /// Whether every span of a head of `len` bytes fits in a `Span`.
    fn fits(len: usize) -> Result<(), HandshakeError> {
        u32::try_from(len).map(drop).map_err(|_| HandshakeError::HeadTooLarge)
    }
}

/// One header field of a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    name: Span,
    value: Span,
}

impl Request {
    /// The part of the head at `span`.
    fn at(&self, span: Span) -> &str {
        self.head.get(span.start as usize..span.end as usize).unwrap_or_default()
    }

    /// The request method; `GET` for an upgrade (RFC 6455 §4.2.1 item 1).
    pub fn method(&self) -> &str {
        self.at(self.method)
    }

    /// The request-target as sent: the /resource name/, path and query
    /// (RFC 6455 §4.2.1 item 1, §4.2.2 /resource name/). It may also be an
    /// absolute `http(s)://` URI, which §4.1 item 3 allows.
    pub fn path(&self) -> &str {
        self.at(self.path)
    }

    /// The HTTP minor version: 1 for HTTP/1.1 (RFC 6455 §4.2.1 item 1).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Every header field in order, `(name, value)`, names as sent
    /// (RFC 6455 §4.2.1 item 10).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + DoubleEndedIterator + Clone + '_ {
        self.fields.iter().map(|f| (self.at(f.name), self.at(f.value)))
    }

    /// The first value of the header `name`, compared ASCII
    /// case-insensitively (RFC 6455 §4.1: header names are
    /// case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// The values of every header named `name` (case-insensitive), in
    /// order.
    fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The `Host` header's value, the server's authority (RFC 6455 §4.2.1
    /// item 2). Empty only in a plain HTTP request
    /// ([`Event::HttpRequest`](crate::Event::HttpRequest)) without one.
    pub fn host(&self) -> &str {
        self.at(self.host)
    }

    /// The `Origin` header (RFC 6455 §4.2.1 item 7, §4.2.2 /origin/), as
    /// sent. Absent for most non-browser clients.
    pub fn origin(&self) -> Option<&str> {
        self.origin.map(|o| self.at(o))
    }

    /// The `Sec-WebSocket-Key` as sent, trimmed: the base64 text of a
    /// 16-byte nonce (RFC 6455 §4.2.1 item 5, §4.2.2 /key/). Empty only in
    /// a plain HTTP request ([`Event::HttpRequest`](crate::Event::HttpRequest)).
    pub fn key(&self) -> &str {
        self.at(self.key)
    }

    /// The subprotocols offered, in order of preference: every
    /// `Sec-WebSocket-Protocol` header, comma-split and trimmed (RFC 6455
    /// §4.2.1 item 8, §11.3.4).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions offered, in order of preference, from every
    /// `Sec-WebSocket-Extensions` header (RFC 6455 §4.2.1 item 9, §9.1).
    /// Read from the headers on each call (the headers were checked when
    /// the request was): a server that runs no extension never builds
    /// them. Empty for a plain HTTP request.
    pub fn extensions(&self) -> Vec<ExtensionOffer> {
        if !self.upgrade {
            return Vec::new();
        }
        self.values("sec-websocket-extensions").filter_map(|v| parse_extensions(v).ok()).flatten().collect()
    }

    /// A request from its parts, unchecked: `head` holds the head, and the
    /// other parts are slices of it.
    fn from_parts<'a>(
        head: &'a [u8],
        method: &'a str,
        path: &'a str,
        version: u8,
        fields: impl ExactSizeIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, HandshakeError> {
        // Method, path and names are valid UTF-8, and the rest of a head is
        // ASCII: only a value can fail.
        let text = crate::utf8::simd::basic::from_utf8(head)
            .map_err(|_| HandshakeError::Malformed("header value is not UTF-8"))?;
        Span::fits(head.len())?;
        let spans =
            fields.map(|(name, value)| Field { name: Span::of(head, name.as_bytes()), value: Span::of(head, value) });
        Ok(Self {
            fields: spans.collect(),
            method: Span::of(head, method.as_bytes()),
            path: Span::of(head, path.as_bytes()),
            head: Box::from(text),
            version,
            host: Span::default(),
            origin: None,
            key: Span::default(),
            protocols: Vec::new(),
            upgrade: false,
        })
    }

    /// A request from parts received elsewhere (the `http` conversions),
    /// unchecked: the head is written as HTTP/1.1 sends it.
    #[cfg(feature = "http")]
    pub(super) fn from_fields(
        method: &str,
        path: &str,
        version: u8,
        headers: &http::HeaderMap,
    ) -> Result<Self, HandshakeError> {
        let fields = || headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
        let line_len = method.len() + path.len() + " HTTP/1.x\r\n".len() + 1;
        let len = line_len + fields().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>() + 2;
        let mut head = Vec::with_capacity(len);
        let mut spans = Vec::with_capacity(headers.len());
        head.extend_from_slice(method.as_bytes());
        head.push(b' ');
        head.extend_from_slice(path.as_bytes());
        head.extend_from_slice(if version == 0 { b" HTTP/1.0\r\n" } else { b" HTTP/1.1\r\n" });
        Span::fits(len)?;
        let span = |from: usize, to: usize| Span { start: from as u32, end: to as u32 };
        for (name, value) in fields() {
            let at = head.len();
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
            let value_at = at + name.len() + 2;
            spans.push(Field { name: span(at, at + name.len()), value: span(value_at, value_at + value.len()) });
        }
        head.extend_from_slice(b"\r\n");
        debug_assert_eq!(head.len(), len);
        let text = String::from_utf8(head).map_err(|_| HandshakeError::Malformed("header value is not UTF-8"))?;
        Ok(Self {
            head: text.into_boxed_str(),
            method: span(0, method.len()),
            path: span(method.len() + 1, method.len() + 1 + path.len()),
            version,
            fields: spans,
            host: Span::default(),
            origin: None,
            key: Span::default(),
            protocols: Vec::new(),
            upgrade: false,
        })
    }

    /// The span of `part`, a part of the head.
    fn span_of(&self, part: &str) -> Span {
        Span::of(self.head.as_bytes(), part.as_bytes())
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a Request);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.headers()).finish()
            }
        }
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("path", &self.path())
            .field("version", &self.version)
            .field("headers", &Headers(self))
            .field("host", &self.host())
            .field("origin", &self.origin())
            .field("key", &self.key())
            .field("protocols", &self.protocols)
            .finish()
    }
}

/// The result of feeding the bytes received so far to [`RequestReader::poll`]
/// (RFC 6455 §4.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // returned once per connection, moved once
pub(crate) enum RequestParse {
    /// More bytes are needed.
    Partial,
    /// A valid upgrade request; the `usize` is the length of its head.
    Complete(Request, usize),
    /// A well-formed HTTP request that is not an upgrade (its `Upgrade`
    /// header does not list `websocket`, RFC 6455 §4.2.1 item 3): a plain
    /// HTTP request for the application to answer, not an error. Its
    /// [`key`](Request::key) is empty, and so are its protocol and
    /// extension lists.
    NotUpgrade(Box<Request>, usize),
}

/// What the §4.2.1 checks made of a parsed request head.
pub(super) enum Checked {
    /// A valid upgrade request.
    Upgrade(Request),
    /// A plain HTTP request (no `Upgrade: websocket`).
    Plain(Request),
}

/// Parses and checks a client's opening handshake (RFC 6455 §4.2.1) from
/// `buf`, everything received so far: what a [`RequestReader`] fed the same
/// bytes, in any pieces, decides. `Partial` until the head is complete.
///
/// Checks, in order (status answered in brackets, see
/// [`HandshakeError::status`]):
/// 1. the head parses: `Malformed` (400), `HeadTooLarge` (431) when it has
///    not completed within `limits.max_head_size` bytes, `TooManyHeaders`
///    (431), `HttpVersion` (400) for an unknown version, and every value is
///    UTF-8 (`Malformed`);
/// 2. `Upgrade` lists `websocket`, else the request is plain HTTP: the
///    outcome `NotUpgrade`, carrying the request, for the application to
///    answer;
/// 3. the method is `GET`: `MethodNotGet` (405);
/// 4. HTTP/1.1: `HttpVersion` (400);
/// 5. exactly one non-empty `Host`: `MissingHost` (400), a repeated one is
///    `Malformed`;
/// 6. `Connection` lists `upgrade`: `MissingConnectionUpgrade` (400);
/// 7. no body (`Content-Length` other than 0, or `Transfer-Encoding`):
///    `Malformed` — bytes after the head must be WebSocket frames;
/// 8. exactly one `Sec-WebSocket-Version`, equal to `13`:
///    `UnsupportedVersion` (426), checked before the key so that clients of
///    other versions learn the one supported (§4.4);
/// 9. exactly one `Sec-WebSocket-Key` (§11.3.1) that decodes to 16 bytes:
///    `InvalidKey` (400);
/// 10. `Sec-WebSocket-Protocol` headers are lists of tokens:
///     `InvalidProtocolHeader` (400);
/// 11. `Sec-WebSocket-Extensions` headers follow §9.1:
///     `InvalidExtensionHeader` (400).
///
/// A syntax error in a head not yet complete (step 1) is reported once the
/// head's length reaches a power of two past it (see `scan`), its end, the
/// limit or EOF ([`RequestReader::poll`]), so garbage is refused early.
///
/// The connection keeps a [`RequestReader`]; this one-shot form is for the
/// tests.
#[cfg(test)]
pub(crate) fn parse_request(buf: &[u8], limits: Limits) -> Result<RequestParse, HandshakeError> {
    RequestReader::default().poll(buf, false, limits)
}

/// Reads a client's opening handshake as it arrives (RFC 6455 §4.2.1): fed
/// everything received so far after each read, it looks at each byte a
/// bounded number of times, and decides after each byte what
/// `parse_request` decides on the bytes up to it.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestReader {
    scan: HeadScan,
}

impl RequestReader {
    /// What `buf` (everything received, from the request's first byte)
    /// says, as `parse_request` checks it. `buf` must extend the bytes of
    /// the previous call. With `eof` (no more bytes will come) the head is
    /// parsed whole and a head still incomplete is `Truncated`.
    pub(crate) fn poll(&mut self, buf: &[u8], eof: bool, limits: Limits) -> Result<RequestParse, HandshakeError> {
        let next = if eof { Next::Parse } else { self.scan.next(buf, limits.max_head_size) };
        let result = match next {
            Next::Wait => return Ok(RequestParse::Partial),
            Next::Check(n) => {
                let prefix = buf.get(..n).unwrap_or(buf);
                count_work(prefix.len());
                match with_parsed(prefix, limits, |parsed, _| parsed) {
                    Ok(httparse::Status::Partial) => return Ok(RequestParse::Partial),
                    Err(e) => return Err(map_parse_error(e, request_line_has_http(prefix))),
                    Ok(httparse::Status::Complete(_)) => {
                        self.scan.found();
                        parse_whole(buf, limits)
                    }
                }
            }
            Next::Parse => parse_whole(buf, limits),
        };
        match result {
            Ok(RequestParse::Partial) if eof => Err(HandshakeError::Truncated),
            other => other,
        }
    }
}

/// Parses the head in `buf` whole: `Partial` while it is incomplete and
/// below the limit.
fn parse_whole(buf: &[u8], limits: Limits) -> Result<RequestParse, HandshakeError> {
    let window = head_window(buf, limits);
    with_parsed(window, limits, |parsed, req| {
        let Some(head_len) = head_length(parsed, window, buf.len(), limits, false, request_line_has_http)? else {
            return Ok(RequestParse::Partial);
        };
        let head = window.get(..head_len).unwrap_or(window);
        // httparse sets all three once the head is complete.
        let (method, path, version) = (req.method.unwrap_or(""), req.path.unwrap_or(""), req.version.unwrap_or(0));
        let fields = req.headers.iter().map(|h| (h.name, h.value));
        Ok(match validate_request(Request::from_parts(head, method, path, version, fields)?)? {
            Checked::Upgrade(request) => RequestParse::Complete(request, head_len),
            Checked::Plain(request) => RequestParse::NotUpgrade(Box::new(request), head_len),
        })
    })
}

/// Runs httparse's request parser on `prefix` and hands its result and
/// the parsed request to `then`. The header slots are on the stack
/// ([`STACK_SLOTS`]); a head with more fields, if the limit allows them, is
/// parsed again into slots sized by the limit.
fn with_parsed<'b, R>(
    prefix: &'b [u8],
    limits: Limits,
    then: impl FnOnce(httparse::Result<usize>, &httparse::Request<'_, 'b>) -> R,
) -> R {
    let mut stack = [httparse::EMPTY_HEADER; STACK_SLOTS];
    if limits.max_headers <= STACK_SLOTS {
        let mut req = httparse::Request::new(stack.get_mut(..limits.max_headers).unwrap_or_default());
        let parsed = req.parse(prefix);
        return then(parsed, &req);
    }
    let mut req = httparse::Request::new(&mut stack);
    let parsed = req.parse(prefix);
    if !matches!(parsed, Err(httparse::Error::TooManyHeaders)) {
        return then(parsed, &req);
    }
    let mut slots = header_slots(limits);
    let mut req = httparse::Request::new(&mut slots);
    let parsed = req.parse(prefix);
    then(parsed, &req)
}

/// Whether the request line's version field (its third element) starts with
/// `HTTP/`, so a version error means an unsupported version, not garbage.
/// Only the field's start is looked at: those bytes precede the byte that
/// failed, so the answer does not depend on how the input was split.
fn request_line_has_http(window: &[u8]) -> bool {
    let start = window.iter().position(|b| *b != b'\r' && *b != b'\n').unwrap_or(window.len());
    let line = window.get(start..).unwrap_or(&[]);
    let line = line.split(|b| *b == b'\n').next().unwrap_or(&[]);
    line.splitn(3, |b| *b == b' ').nth(2).is_some_and(|version| version.starts_with(b"HTTP/"))
}

/// The header fields the §4.2.1 checks look at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    Host,
    Origin,
    Upgrade,
    Connection,
    ContentLength,
    TransferEncoding,
    Version,
    Key,
    Protocol,
    Extensions,
}

impl Known {
    /// Which known field `name` names (ASCII case-insensitive), if any.
    fn of(name: &str) -> Option<Self> {
        let (known, candidate) = match name.len() {
            4 => (Self::Host, "host"),
            6 => (Self::Origin, "origin"),
            7 => (Self::Upgrade, "upgrade"),
            10 => (Self::Connection, "connection"),
            14 => (Self::ContentLength, "content-length"),
            17 if name.as_bytes()[0].eq_ignore_ascii_case(&b't') => (Self::TransferEncoding, "transfer-encoding"),
            17 => (Self::Key, "sec-websocket-key"),
            21 => (Self::Version, "sec-websocket-version"),
            22 => (Self::Protocol, "sec-websocket-protocol"),
            24 => (Self::Extensions, "sec-websocket-extensions"),
            _ => return None,
        };
        name.eq_ignore_ascii_case(candidate).then_some(known)
    }
}

/// How many fields of one known name a request has, and the first one's
/// value.
#[derive(Clone, Copy, Default)]
struct Seen {
    count: usize,
    first: Span,
}

impl Seen {
    fn add(&mut self, value: Span) {
        if self.count == 0 {
            self.first = value;
        }
        self.count += 1;
    }
}

/// The §4.2.1 checks on a parsed request head (shared with the `http`
/// conversions); fills in what they find. The fields are looked at in one
/// pass; the checks then run in the documented order.
pub(super) fn validate_request(mut req: Request) -> Result<Checked, HandshakeError> {
    let (mut host, mut origin, mut versions, mut keys, mut protocols, mut extensions) =
        (Seen::default(), Seen::default(), Seen::default(), Seen::default(), Seen::default(), Seen::default());
    let (mut websocket, mut upgrade, mut body) = (false, false, false);
    for f in &req.fields {
        let Some(known) = Known::of(req.at(f.name)) else { continue };
        let value = req.at(f.value);
        match known {
            Known::Host => host.add(f.value),
            Known::Origin => origin.add(f.value),
            Known::Upgrade => websocket = websocket || list_has(core::iter::once(value), "websocket"),
            Known::Connection => upgrade = upgrade || list_has(core::iter::once(value), "upgrade"),
            Known::TransferEncoding => body = true,
            Known::ContentLength => body = body || trim_ows(value) != "0",
            Known::Version => versions.add(f.value),
            Known::Key => keys.add(f.value),
            Known::Protocol => protocols.add(f.value),
            Known::Extensions => extensions.add(f.value),
        }
    }
    let trimmed = |req: &Request, span: Span| req.span_of(trim_ows(req.at(span)));
    if host.count > 0 {
        req.host = trimmed(&req, host.first);
    }
    if origin.count > 0 {
        req.origin = Some(trimmed(&req, origin.first));
    }
    if !websocket {
        return Ok(Checked::Plain(req));
    }
    if req.method() != "GET" {
        return Err(HandshakeError::MethodNotGet(req.method().into()));
    }
    if req.version < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    match host.count {
        0 => return Err(HandshakeError::MissingHost),
        1 => {}
        _ => return Err(HandshakeError::Malformed("repeated Host header")),
    }
    if req.host().is_empty() {
        return Err(HandshakeError::MissingHost);
    }
    if !upgrade {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if body {
        return Err(HandshakeError::Malformed("an upgrade request must not have a body"));
    }
    match versions.count {
        1 if trim_ows(req.at(versions.first)) == VERSION => {}
        0 => return Err(HandshakeError::UnsupportedVersion(None)),
        _ => {
            let several: Vec<&str> = req.values("sec-websocket-version").collect();
            return Err(HandshakeError::UnsupportedVersion(Some(several.join(", "))));
        }
    }
    let key = trimmed(&req, keys.first);
    if keys.count != 1 || !is_valid_key(req.at(key)) {
        return Err(HandshakeError::InvalidKey);
    }
    let mut offered = Vec::new();
    if protocols.count > 0 {
        for value in req.values("sec-websocket-protocol") {
            let before = offered.len();
            for p in list_elements(value) {
                if !is_token(p) {
                    return Err(HandshakeError::InvalidProtocolHeader);
                }
                offered.push(String::from(p));
            }
            if offered.len() == before {
                // `1#token`: at least one element per header.
                return Err(HandshakeError::InvalidProtocolHeader);
            }
        }
    }
    match extensions.count {
        0 => {}
        1 => check_extensions(req.at(extensions.first))?,
        _ => {
            for value in req.values("sec-websocket-extensions") {
                check_extensions(value)?;
            }
        }
    }
    req.key = key;
    req.protocols = offered;
    req.upgrade = true;
    Ok(Checked::Upgrade(req))
}

/// base64 of exactly 16 bytes (RFC 6455 §4.2.1 item 5): 24 characters, the
/// last two `=` (the padding of 16 bytes), the 22 before them from the
/// standard alphabet. Non-zero trailing bits are accepted: the RFC's own
/// example key (§4.1 item 7, `AQIDBAUGBwgJCgsMDQ4PEC==`) has them.
fn is_valid_key(key: &str) -> bool {
    match key.as_bytes().split_last_chunk::<2>() {
        Some((digits, b"==")) if digits.len() == 22 => {
            digits.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
