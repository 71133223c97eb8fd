//! The server side of the opening handshake (RFC 6455 §4.2).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::extensions::join_extensions;
use super::scan::{HeadScan, Next, count_work};
use super::{
    ExtensionOffer, HandshakeError, Headers, Limits, UsageError, VERSION, accept_key, check_extra_headers,
    first_header, head_length, head_window, header_slots, header_values, is_token, list_contains, list_elements,
    map_parse_error, owned_headers, parse_extensions, put_header, reason_phrase, trim_ows, writable_header,
};

/// Header names a 101 response writes itself (RFC 6455 §4.2.2 step 5);
/// [`Accept::header`] may not use them.
pub(super) const ACCEPT_RESERVED: &[&str] = &[
    "upgrade",
    "connection",
    "content-length",
    "transfer-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// Header names any other response writes itself (framing and
/// `Connection: close`).
pub(super) const RESPONSE_RESERVED: &[&str] = &["connection", "content-length", "transfer-encoding"];

/// Decodes a `Sec-WebSocket-Key`: standard alphabet, padding required
/// (§4.3 `base64-value-non-empty`). Non-zero trailing bits are accepted: the
/// RFC's own example key (§4.1 item 7, `AQIDBAUGBwgJCgsMDQ4PEC==`) has them.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The client's upgrade request as the application sees it (RFC 6455
/// §4.2.1): everything the server needs to decide (§4.2.2 step 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: String,
    path: String,
    version: u8,
    headers: Headers,
    host: String,
    origin: Option<String>,
    key: String,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
}

impl Request {
    /// The request method; `GET` for an upgrade (RFC 6455 §4.2.1 item 1).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request-target as sent: the /resource name/, path and query
    /// (RFC 6455 §4.2.1 item 1, §4.2.2 /resource name/). It may also be an
    /// absolute `http(s)://` URI, which §4.1 item 3 allows.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The HTTP minor version: 1 for HTTP/1.1 (RFC 6455 §4.2.1 item 1).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Every header field in order, names as sent (RFC 6455 §4.2.1
    /// item 10).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of the header `name`, compared ASCII
    /// case-insensitively (RFC 6455 §4.1: header names are
    /// case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }

    /// The `Host` header's value, the server's authority (RFC 6455 §4.2.1
    /// item 2). Empty only in a plain HTTP request
    /// ([`Event::HttpRequest`](crate::Event::HttpRequest)) without one.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Origin` header (RFC 6455 §4.2.1 item 7, §4.2.2 /origin/), as
    /// sent. Absent for most non-browser clients.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The `Sec-WebSocket-Key` as sent, trimmed: the base64 text of a
    /// 16-byte nonce (RFC 6455 §4.2.1 item 5, §4.2.2 /key/). Empty only in
    /// a plain HTTP request ([`Event::HttpRequest`](crate::Event::HttpRequest)).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The subprotocols offered, in order of preference: every
    /// `Sec-WebSocket-Protocol` header, comma-split and trimmed (RFC 6455
    /// §4.2.1 item 8, §11.3.4).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions offered, in order of preference, from every
    /// `Sec-WebSocket-Extensions` header (RFC 6455 §4.2.1 item 9, §9.1).
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }
}

/// The result of feeding the bytes received so far to [`parse_request`]
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
                let mut slots = header_slots(limits);
                match httparse::Request::new(&mut slots).parse(prefix) {
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
    let mut slots = header_slots(limits);
    let mut req = httparse::Request::new(&mut slots);
    let Some(head_len) = head_length(req.parse(window), window, buf.len(), limits, false, request_line_has_http)?
    else {
        return Ok(RequestParse::Partial);
    };
    let headers = owned_headers(req.headers)?;
    // httparse sets all three once the head is complete.
    let method = String::from(req.method.unwrap_or(""));
    let path = String::from(req.path.unwrap_or(""));
    let version = req.version.unwrap_or(0);
    Ok(match validate_request(method, path, version, headers)? {
        Checked::Upgrade(request) => RequestParse::Complete(request, head_len),
        Checked::Plain(request) => RequestParse::NotUpgrade(Box::new(request), head_len),
    })
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

/// The §4.2.1 checks on a parsed request head (shared with the `http`
/// conversions).
pub(super) fn validate_request(
    method: String,
    path: String,
    version: u8,
    headers: Headers,
) -> Result<Checked, HandshakeError> {
    let mut req = Request {
        host: first_header(&headers, "host").map(trim_ows).unwrap_or("").into(),
        origin: first_header(&headers, "origin").map(|o| trim_ows(o).into()),
        method,
        path,
        version,
        headers,
        key: String::new(),
        protocols: Vec::new(),
        extensions: Vec::new(),
    };
    let h = &req.headers;
    if !list_contains(h, "upgrade", "websocket") {
        return Ok(Checked::Plain(req));
    }
    if req.method != "GET" {
        return Err(HandshakeError::MethodNotGet(req.method));
    }
    if req.version < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    match header_values(h, "host").count() {
        0 => return Err(HandshakeError::MissingHost),
        1 => {}
        _ => return Err(HandshakeError::Malformed("repeated Host header")),
    }
    if req.host.is_empty() {
        return Err(HandshakeError::MissingHost);
    }
    if !list_contains(h, "connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let has_body = header_values(h, "transfer-encoding").next().is_some()
        || header_values(h, "content-length").any(|v| trim_ows(v) != "0");
    if has_body {
        return Err(HandshakeError::Malformed("an upgrade request must not have a body"));
    }
    let versions: Vec<&str> = header_values(h, "sec-websocket-version").collect();
    match versions.as_slice() {
        [v] if trim_ows(v) == VERSION => {}
        [] => return Err(HandshakeError::UnsupportedVersion(None)),
        several => return Err(HandshakeError::UnsupportedVersion(Some(several.join(", ")))),
    }
    let keys: Vec<&str> = header_values(h, "sec-websocket-key").collect();
    let key = match keys.as_slice() {
        [k] if is_valid_key(trim_ows(k)) => trim_ows(k).to_string(),
        _ => return Err(HandshakeError::InvalidKey),
    };
    let mut protocols = Vec::new();
    for value in header_values(h, "sec-websocket-protocol") {
        let before = protocols.len();
        for p in list_elements(value) {
            if !is_token(p) {
                return Err(HandshakeError::InvalidProtocolHeader);
            }
            protocols.push(String::from(p));
        }
        if protocols.len() == before {
            // `1#token`: at least one element per header.
            return Err(HandshakeError::InvalidProtocolHeader);
        }
    }
    let mut extensions = Vec::new();
    for value in header_values(h, "sec-websocket-extensions") {
        extensions.extend(parse_extensions(value)?);
    }
    req.key = key;
    req.protocols = protocols;
    req.extensions = extensions;
    Ok(Checked::Upgrade(req))
}

/// base64 of exactly 16 bytes (RFC 6455 §4.2.1 item 5): 24 characters.
fn is_valid_key(key: &str) -> bool {
    key.len() == 24 && KEY_ENGINE.decode(key).is_ok_and(|k| k.len() == 16)
}

/// The application's answer to an upgrade request: accept it with a 101
/// Switching Protocols (RFC 6455 §4.2.2 step 5).
///
/// ```text
/// Accept::new().protocol("chat").header("Set-Cookie", "a=b")
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accept {
    pub(crate) protocol: Option<String>,
    pub(crate) headers: Headers,
    /// The extensions agreed (RFC 6455 §9.1), set by the connection from
    /// its extension negotiation.
    pub(crate) extensions: Vec<ExtensionOffer>,
}

impl Accept {
    /// An acceptance with no subprotocol, no extension and no extra header
    /// (RFC 6455 §4.2.2 step 5).
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects the subprotocol, which MUST be one the client offered
    /// (RFC 6455 §4.2.2 /subprotocol/); otherwise the acceptance fails with
    /// [`UsageError::UnofferedProtocol`].
    #[must_use]
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocol = Some(p.into());
        self
    }

    /// Adds an extra header to the 101 response, e.g. `Set-Cookie`
    /// (RFC 6455 §4.2.2, §4.1 "Cookies Set During the Server's Opening
    /// Handshake"). Names the 101 writes itself (`Upgrade`, `Connection`,
    /// `Sec-WebSocket-*`, `Content-Length`, `Transfer-Encoding`) fail with
    /// [`UsageError::ReservedHeader`]; invalid names or values with
    /// [`UsageError::InvalidHeader`].
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The selected subprotocol, if any (RFC 6455 §4.2.2 /subprotocol/).
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extra headers, in order (RFC 6455 §4.2.2).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}

/// Checks an acceptance against the request (RFC 6455 §4.2.2 step 4): the
/// subprotocol was offered (`UnofferedProtocol`); every extension is valid
/// §9.1 (`InvalidExtension`) and was offered (`UnofferedExtension`); extra
/// headers are valid (`InvalidHeader`) and not reserved (`ReservedHeader`).
pub(crate) fn validate_accept(req: &Request, accept: &Accept) -> Result<(), UsageError> {
    if let Some(p) = &accept.protocol {
        if !req.protocols.contains(p) {
            return Err(UsageError::UnofferedProtocol(p.clone()));
        }
    }
    for e in &accept.extensions {
        if !e.is_valid() {
            return Err(UsageError::InvalidExtension(e.name.clone()));
        }
        if !req.extensions.iter().any(|o| o.name.eq_ignore_ascii_case(&e.name)) {
            return Err(UsageError::UnofferedExtension(e.name.clone()));
        }
    }
    check_extra_headers(&accept.headers, ACCEPT_RESERVED)
}

/// The header fields of the 101 response in the order written (RFC 6455
/// §4.2.2 step 5). Parts that fail [`validate_accept`]'s syntax checks are
/// left out, so unchecked input cannot inject header lines.
pub(super) fn accept_headers(req: &Request, accept: &Accept) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = Vec::new();
    h.push(("Upgrade".into(), "websocket".into()));
    h.push(("Connection".into(), "Upgrade".into()));
    h.push(("Sec-WebSocket-Accept".into(), accept_key(req.key.as_bytes())));
    if let Some(p) = accept.protocol.as_deref().filter(|p| is_token(p)) {
        h.push(("Sec-WebSocket-Protocol".into(), p.into()));
    }
    let mut exts = accept.extensions.iter().filter(|e| e.is_valid()).peekable();
    if exts.peek().is_some() {
        h.push(("Sec-WebSocket-Extensions".into(), join_extensions(exts)));
    }
    for (name, value) in &accept.headers {
        if writable_header(name, value, ACCEPT_RESERVED) {
            h.push((name.clone(), value.clone()));
        }
    }
    h
}

/// Writes the 101 Switching Protocols response (RFC 6455 §4.2.2 step 5):
///
/// ```text
/// HTTP/1.1 101 Switching Protocols
/// Upgrade: websocket
/// Connection: Upgrade
/// Sec-WebSocket-Accept: {accept_key(key)}
/// Sec-WebSocket-Protocol: {protocol}          (if chosen)
/// Sec-WebSocket-Extensions: {extensions}      (if any)
/// {extra headers}
/// ```
///
/// then the empty line. Call [`validate_accept`] first: this writer only
/// skips syntactically invalid parts, it does not check the offers.
pub(crate) fn write_accept(req: &Request, accept: &Accept, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    for (name, value) in accept_headers(req, accept) {
        put_header(out, &name, &value);
    }
    out.extend_from_slice(b"\r\n");
}

/// Checks a rejection the application wants sent (RFC 6455 §4.2.2: any
/// status other than 101 refuses the handshake): the status is a final one,
/// 200..=999 (`InvalidStatus`); headers are valid (`InvalidHeader`) and do
/// not set the framing or `Connection` (`ReservedHeader`).
pub(crate) fn validate_reject(status: u16, headers: &[(String, String)]) -> Result<(), UsageError> {
    if !(200..=999).contains(&status) {
        return Err(UsageError::InvalidStatus(status));
    }
    check_extra_headers(headers, RESPONSE_RESERVED)
}

/// Writes a response refusing the handshake (RFC 6455 §4.2.1, §4.2.2):
///
/// ```text
/// HTTP/1.1 {status} {standard reason phrase}
/// Upgrade: websocket                 (426 only, unless given)
/// Sec-WebSocket-Version: 13          (426 only, unless given; §4.4)
/// {extra headers}
/// Content-Length: {body.len()}       (not for 204 and 304)
/// Connection: close                  (426: `Upgrade, close`)
/// ```
///
/// then the empty line and the body (none for 204 and 304). The connection
/// is closed afterwards. Extra headers that fail [`validate_reject`] are
/// skipped. A 426 names the upgrade it requires, as RFC 7231 §6.5.15 and
/// RFC 7230 §6.7 require.
pub(crate) fn write_response(status: u16, headers: &[(String, String)], body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if status == 426 {
        if !given("upgrade") {
            put_header(out, "Upgrade", "websocket");
        }
        if !given("sec-websocket-version") {
            put_header(out, "Sec-WebSocket-Version", VERSION);
        }
    }
    for (name, value) in headers {
        if writable_header(name, value, RESPONSE_RESERVED) {
            put_header(out, name, value);
        }
    }
    let has_body = status != 204 && status != 304 && !(100..200).contains(&status);
    if has_body {
        put_header(out, "Content-Length", &body.len().to_string());
    }
    put_header(out, "Connection", if status == 426 { "Upgrade, close" } else { "close" });
    out.extend_from_slice(b"\r\n");
    if has_body {
        out.extend_from_slice(body);
    }
}

/// Writes the error response for a failed check of the client's request
/// (RFC 6455 §4.2.1: "an appropriate error code (such as 400 Bad
/// Request)"), with the status from [`HandshakeError::status`], a
/// `text/plain` body naming the problem (never echoing request data), and
/// `Allow: GET` for a 405. Writes nothing for an error without a status
/// (client-side and local-input errors are not answered).
pub(crate) fn write_error_response(err: &HandshakeError, out: &mut Vec<u8>) {
    let Some(status) = err.status() else {
        return;
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if status == 405 {
        headers.push(("Allow".into(), "GET".into()));
    }
    headers.push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
    write_response(status, &headers, err.body_text().as_bytes(), out);
}

#[cfg(test)]
mod tests;
