//! The server side of the opening handshake (RFC 6455 §4.2).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::extensions::join_extensions;
use super::scan::{HeadScan, Next, count_work};
use super::{
    ExtensionOffer, HandshakeError, Headers, Limits, VERSION, accept_key, check_extra_headers, first_header,
    head_window, header_slots, header_values, is_token, list_contains, list_elements, map_parse_error, owned_headers,
    parse_extensions, put_header, reason_phrase, trim_ows, writable_header,
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
    /// item 2). Empty only in the request carried by
    /// [`HandshakeError::NotUpgrade`].
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
    /// the request carried by [`HandshakeError::NotUpgrade`].
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
/// 2. `Upgrade` lists `websocket`, else the request is plain HTTP:
///    `NotUpgrade` (426), carrying the request;
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
    let parsed = req.parse(window);
    // The parser looks at the head only, or at everything when incomplete.
    count_work(match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        _ => window.len(),
    });
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= limits.max_head_size {
                Err(HandshakeError::HeadTooLarge)
            } else {
                Ok(RequestParse::Partial)
            };
        }
        Err(e) => return Err(map_parse_error(e, request_line_has_http(window))),
    };
    let headers = owned_headers(req.headers)?;
    // httparse sets all three once the head is complete.
    let method = String::from(req.method.unwrap_or(""));
    let path = String::from(req.path.unwrap_or(""));
    let version = req.version.unwrap_or(0);
    let request = validate_request(method, path, version, headers)?;
    Ok(RequestParse::Complete(request, head_len))
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
) -> Result<Request, HandshakeError> {
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
        return Err(HandshakeError::NotUpgrade(Box::new(req)));
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
    Ok(req)
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
    /// [`HandshakeError::UnofferedProtocol`].
    #[must_use]
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocol = Some(p.into());
        self
    }

    /// Adds an extra header to the 101 response, e.g. `Set-Cookie`
    /// (RFC 6455 §4.2.2, §4.1 "Cookies Set During the Server's Opening
    /// Handshake"). Names the 101 writes itself (`Upgrade`, `Connection`,
    /// `Sec-WebSocket-*`, `Content-Length`, `Transfer-Encoding`) fail with
    /// [`HandshakeError::ReservedHeader`]; invalid names or values with
    /// [`HandshakeError::InvalidHeader`].
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
pub(crate) fn validate_accept(req: &Request, accept: &Accept) -> Result<(), HandshakeError> {
    if let Some(p) = &accept.protocol {
        if !req.protocols.contains(p) {
            return Err(HandshakeError::UnofferedProtocol(p.clone()));
        }
    }
    for e in &accept.extensions {
        if !e.is_valid() {
            return Err(HandshakeError::InvalidExtension(e.name.clone()));
        }
        if !req.extensions.iter().any(|o| o.name.eq_ignore_ascii_case(&e.name)) {
            return Err(HandshakeError::UnofferedExtension(e.name.clone()));
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
pub(crate) fn validate_reject(status: u16, headers: &[(String, String)]) -> Result<(), HandshakeError> {
    if !(200..=999).contains(&status) {
        return Err(HandshakeError::InvalidStatus(status));
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
mod tests {
    use super::*;
    use crate::handshake::name_in;
    use alloc::{format, vec};

    const LIMITS: Limits = Limits { max_head_size: 4096, max_headers: 32 };

    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\
        \r\n";

    fn parse(s: &str) -> Result<RequestParse, HandshakeError> {
        parse_request(s.as_bytes(), LIMITS)
    }

    fn complete(s: &str) -> Request {
        match parse(s) {
            Ok(RequestParse::Complete(r, n)) => {
                assert_eq!(n, s.len());
                r
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc_1_2_request_parsed() {
        let r = complete(RFC_REQUEST);
        assert_eq!(r.method(), "GET");
        assert_eq!(r.path(), "/chat");
        assert_eq!(r.version(), 1);
        assert_eq!(r.host(), "server.example.com");
        assert_eq!(r.origin(), Some("http://example.com"));
        assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(r.protocols(), ["chat", "superchat"]);
        assert!(r.extensions().is_empty());
        assert_eq!(r.headers().len(), 7);
        assert_eq!(r.header("sec-websocket-version"), Some("13"));
        assert_eq!(r.header("SEC-WEBSOCKET-KEY"), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(r.header("nope"), None);
    }

    #[test]
    fn rfc_1_2_response_bytes() {
        let r = complete(RFC_REQUEST);
        let a = Accept::new().protocol("chat");
        assert_eq!(validate_accept(&r, &a), Ok(()));
        let mut out = Vec::new();
        write_accept(&r, &a, &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: chat\r\n\
             \r\n"
        );
    }

    #[test]
    fn request_split_at_every_offset() {
        let full = parse(RFC_REQUEST);
        assert!(matches!(full, Ok(RequestParse::Complete(..))));
        let b = RFC_REQUEST.as_bytes();
        for i in 0..b.len() {
            assert_eq!(parse_request(&b[..i], LIMITS), Ok(RequestParse::Partial), "prefix {i}");
        }
        // Trailing bytes (frames sent early) are not part of the head.
        let mut more = b.to_vec();
        more.extend_from_slice(b"\x81\x80abcd");
        assert_eq!(parse_request(&more, LIMITS), full);
        // An erroneous request also reports only once complete.
        let bad = RFC_REQUEST.replace("Version: 13", "Version: 8");
        for i in 0..bad.len() {
            assert_eq!(parse(&bad[..i]), Ok(RequestParse::Partial), "prefix {i}");
        }
        assert_eq!(parse(&bad), Err(HandshakeError::UnsupportedVersion(Some("8".into()))));
    }

    /// A valid request head with `replace` applied, as (from, to) pairs.
    fn variant(edits: &[(&str, &str)]) -> String {
        edits.iter().fold(String::from(RFC_REQUEST), |s, (a, b)| s.replacen(a, b, 1))
    }

    #[test]
    fn every_server_error_with_status() {
        let table: Vec<(String, HandshakeError, u16)> = vec![
            (
                "GET /chat HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".into(),
                HandshakeError::Malformed("invalid header name"),
                400,
            ),
            (
                "GET /chat HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n".into(),
                HandshakeError::Malformed("invalid header value"),
                400,
            ),
            ("GET /chat HTTP/1.1\rHost: x\r\n\r\n".into(), HandshakeError::Malformed("invalid line ending"), 400),
            ("GE(T /chat HTTP/1.1\r\n\r\n".into(), HandshakeError::Malformed("invalid token in start line"), 400),
            ("GET /chat XTTP/1.1\r\n\r\n".into(), HandshakeError::Malformed("invalid HTTP version"), 400),
            ("GET /chat HTTP/2.0\r\n\r\n".into(), HandshakeError::HttpVersion, 400),
            (variant(&[("HTTP/1.1", "HTTP/1.0")]), HandshakeError::HttpVersion, 400),
            (variant(&[("Host: server.example.com\r\n", "")]), HandshakeError::MissingHost, 400),
            (variant(&[("Host: server.example.com", "Host: ")]), HandshakeError::MissingHost, 400),
            (
                variant(&[("Host: server.example.com", "Host: a\r\nHost: b")]),
                HandshakeError::Malformed("repeated Host header"),
                400,
            ),
            (
                variant(&[("Connection: Upgrade", "Connection: keep-alive")]),
                HandshakeError::MissingConnectionUpgrade,
                400,
            ),
            (variant(&[("Connection: Upgrade\r\n", "")]), HandshakeError::MissingConnectionUpgrade, 400),
            (
                variant(&[("Origin", "Content-Length: 5\r\nOrigin")]),
                HandshakeError::Malformed("an upgrade request must not have a body"),
                400,
            ),
            (
                variant(&[("Origin", "Transfer-Encoding: chunked\r\nOrigin")]),
                HandshakeError::Malformed("an upgrade request must not have a body"),
                400,
            ),
            (variant(&[("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")]), HandshakeError::InvalidKey, 400),
            (
                variant(&[(
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                )]),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                // 15 bytes.
                variant(&[("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25j")]),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                // 17 bytes.
                variant(&[("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZWVl")]),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                // Not base64.
                variant(&[("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZ!==")]),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                // Padding missing.
                variant(&[("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ")]),
                HandshakeError::InvalidKey,
                400,
            ),
            (variant(&[("Sec-WebSocket-Version: 13\r\n", "")]), HandshakeError::UnsupportedVersion(None), 426),
            (
                variant(&[("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 25")]),
                HandshakeError::UnsupportedVersion(Some("25".into())),
                426,
            ),
            (
                variant(&[("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8")]),
                HandshakeError::UnsupportedVersion(Some("13, 8".into())),
                426,
            ),
            (variant(&[("chat, superchat", "chat, super chat")]), HandshakeError::InvalidProtocolHeader, 400),
            (variant(&[("chat, superchat", " , ")]), HandshakeError::InvalidProtocolHeader, 400),
            (
                variant(&[("Origin", "Sec-WebSocket-Extensions: a; b=\"c d\"\r\nOrigin")]),
                HandshakeError::InvalidExtensionHeader,
                400,
            ),
            (variant(&[("GET", "POST")]), HandshakeError::MethodNotGet("POST".into()), 405),
            (variant(&[("GET", "get")]), HandshakeError::MethodNotGet("get".into()), 405),
        ];
        for (input, want, status) in table {
            let got = parse_request(input.as_bytes(), LIMITS);
            assert_eq!(got, Err(want.clone()), "input {input:?}");
            assert_eq!(want.status(), Some(status), "{want:?}");
            // Every one has an error response.
            let mut out = Vec::new();
            write_error_response(&want, &mut out);
            assert!(out.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
        }
    }

    #[test]
    fn non_utf8_bytes_via_raw_buffer() {
        let mut buf = b"GET /x HTTP/1.1\r\nX: ".to_vec();
        buf.extend_from_slice(&[0xff, 0xfe]);
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_request(&buf, LIMITS), Err(HandshakeError::Malformed("header value is not UTF-8")));
    }

    #[test]
    fn plain_http_is_not_upgrade() {
        let plain = "POST /form HTTP/1.0\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        match parse(plain) {
            Err(HandshakeError::NotUpgrade(r)) => {
                assert_eq!(r.method(), "POST");
                assert_eq!(r.path(), "/form");
                assert_eq!(r.version(), 0);
                assert_eq!(r.host(), "h");
                assert_eq!(r.key(), "");
                assert!(r.protocols().is_empty());
                assert_eq!(r.header("content-length"), Some("3"));
            }
            other => panic!("{other:?}"),
        }
        let e = HandshakeError::NotUpgrade(Box::new(complete(RFC_REQUEST)));
        assert_eq!(e.status(), Some(426));
        // Upgrade to something else: also plain HTTP (RFC 7230 §6.7: a
        // server MAY ignore Upgrade).
        assert!(matches!(
            parse(&variant(&[("Upgrade: websocket", "Upgrade: h2c")])),
            Err(HandshakeError::NotUpgrade(_))
        ));
        assert!(matches!(parse(&variant(&[("Upgrade: websocket\r\n", "")])), Err(HandshakeError::NotUpgrade(_))));
        // No Host at all on a plain request: the host is empty.
        match parse("GET / HTTP/1.1\r\n\r\n") {
            Err(HandshakeError::NotUpgrade(r)) => assert_eq!(r.host(), ""),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lenient_forms_accepted() {
        let r = complete(&variant(&[
            ("Upgrade: websocket", "upgrade: WebSocket"),
            ("Connection: Upgrade", "Connection: keep-alive, Upgrade"),
            ("Sec-WebSocket-Key: ", "sec-websocket-key:   "),
            (
                "Sec-WebSocket-Protocol: chat, superchat",
                "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: ,superchat ,",
            ),
            (
                "Origin",
                "Content-Length: 0\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Extensions: x-y; a=\"1\"\r\nOrigin",
            ),
        ]));
        assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(r.protocols(), ["chat", "superchat"]);
        assert_eq!(
            r.extensions(),
            [
                ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None),
                ExtensionOffer::new("x-y").param("a", Some("1")),
            ]
        );
        // The RFC's own §4.1 example key has non-zero trailing bits.
        let r = complete(&variant(&[("dGhlIHNhbXBsZSBub25jZQ==", "AQIDBAUGBwgJCgsMDQ4PEC==")]));
        assert_eq!(r.key(), "AQIDBAUGBwgJCgsMDQ4PEC==");
        // Absolute-form request-target (§4.1 item 3).
        let r = complete(&variant(&[("GET /chat", "GET http://server.example.com/chat?x")]));
        assert_eq!(r.path(), "http://server.example.com/chat?x");
    }

    #[test]
    fn request_limits() {
        let b = RFC_REQUEST.as_bytes();
        let lim = |max_head_size, max_headers| Limits { max_head_size, max_headers };
        assert!(matches!(parse_request(b, lim(b.len(), 7)), Ok(RequestParse::Complete(..))));
        assert_eq!(parse_request(b, lim(b.len() - 1, 7)), Err(HandshakeError::HeadTooLarge));
        assert_eq!(parse_request(&b[..10], lim(10, 7)), Err(HandshakeError::HeadTooLarge));
        assert_eq!(parse_request(&b[..9], lim(10, 7)), Ok(RequestParse::Partial));
        assert_eq!(parse_request(b, lim(4096, 6)), Err(HandshakeError::TooManyHeaders));
        assert_eq!(HandshakeError::HeadTooLarge.status(), Some(431));
        assert_eq!(HandshakeError::TooManyHeaders.status(), Some(431));
        let mut out = Vec::new();
        write_error_response(&HandshakeError::TooManyHeaders, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    }

    #[test]
    fn accept_validation() {
        let r = complete(&variant(&[("Origin", "Sec-WebSocket-Extensions: permessage-deflate\r\nOrigin")]));
        assert_eq!(
            validate_accept(&r, &Accept::new().protocol("other")),
            Err(HandshakeError::UnofferedProtocol("other".into()))
        );
        assert_eq!(
            validate_accept(&r, &Accept::new().header("Sec-WebSocket-Accept", "x")),
            Err(HandshakeError::ReservedHeader("Sec-WebSocket-Accept".into()))
        );
        assert_eq!(
            validate_accept(&r, &Accept::new().header("X", "a\nb")),
            Err(HandshakeError::InvalidHeader("X".into()))
        );
        let mut a = Accept::new();
        a.extensions = vec![ExtensionOffer::new("x-other")];
        assert_eq!(validate_accept(&r, &a), Err(HandshakeError::UnofferedExtension("x-other".into())));
        a.extensions = vec![ExtensionOffer::new("permessage-deflate").param("a b", None)];
        assert_eq!(validate_accept(&r, &a), Err(HandshakeError::InvalidExtension("permessage-deflate".into())));
        for e in [
            HandshakeError::UnofferedProtocol("x".into()),
            HandshakeError::UnofferedExtension("x".into()),
            HandshakeError::InvalidExtension("x".into()),
            HandshakeError::InvalidHeader("x".into()),
            HandshakeError::ReservedHeader("x".into()),
            HandshakeError::InvalidStatus(101),
        ] {
            assert_eq!(e.status(), None);
            let mut out = Vec::new();
            write_error_response(&e, &mut out);
            assert!(out.is_empty());
        }
        assert!(name_in("CONNECTION", ACCEPT_RESERVED));
        assert!(!name_in("Set-Cookie", ACCEPT_RESERVED));

        let mut a = Accept::new().protocol("superchat").header("Set-Cookie", "a=b");
        a.extensions = vec![ExtensionOffer::new("permessage-deflate").param("server_no_context_takeover", None)];
        assert_eq!(validate_accept(&r, &a), Ok(()));
        assert_eq!(a.selected_protocol(), Some("superchat"));
        assert_eq!(a.headers().len(), 1);
        let mut out = Vec::new();
        write_accept(&r, &a, &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: superchat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\
             Set-Cookie: a=b\r\n\
             \r\n"
        );
        // Defensive writing: invalid parts never reach the wire.
        let mut bad = Accept::new().protocol("a\r\nb").header("Connection", "close").header("X", "1\r\nEvil: 1");
        bad.extensions = vec![ExtensionOffer::new("bad ext")];
        let mut out = Vec::new();
        write_accept(&r, &bad, &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             \r\n"
        );
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        write_response(403, &[("X-Why".into(), "origin".into())], b"no", &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 403 Forbidden\r\nX-Why: origin\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
        );
        out.clear();
        write_response(
            204,
            &[("Content-Length".into(), "9".into()), ("Connection".into(), "keep-alive".into())],
            b"ignored",
            &mut out,
        );
        assert_eq!(core::str::from_utf8(&out).unwrap(), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        out.clear();
        write_response(599, &[], b"", &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 599 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        out.clear();
        write_response(426, &[("Sec-WebSocket-Version".into(), "13, 8".into())], b"", &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13, 8\r\nContent-Length: 0\r\nConnection: Upgrade, close\r\n\r\n"
        );
        out.clear();
        write_error_response(&HandshakeError::UnsupportedVersion(Some("8".into())), &mut out);
        let body = "Only Sec-WebSocket-Version 13 is supported.\n";
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            format!(
                "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
                 Connection: Upgrade, close\r\n\r\n{body}",
                body.len()
            )
        );
        out.clear();
        write_error_response(&HandshakeError::MethodNotGet("POST".into()), &mut out);
        let text = core::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"));
        assert!(!text.contains("POST"));

        assert_eq!(validate_reject(403, &[]), Ok(()));
        assert_eq!(validate_reject(101, &[]), Err(HandshakeError::InvalidStatus(101)));
        assert_eq!(validate_reject(1000, &[]), Err(HandshakeError::InvalidStatus(1000)));
        assert_eq!(
            validate_reject(400, &[("Content-Length".into(), "1".into())]),
            Err(HandshakeError::ReservedHeader("Content-Length".into()))
        );
        assert_eq!(validate_reject(400, &[("X".into(), "\r".into())]), Err(HandshakeError::InvalidHeader("X".into())));
        assert_eq!(validate_reject(401, &[("WWW-Authenticate".into(), "Basic".into())]), Ok(()));
    }

    #[test]
    fn error_responses_parse_back() {
        // Every built-in error response is valid HTTP with its body framed.
        let errs = [
            HandshakeError::Malformed("x"),
            HandshakeError::HttpVersion,
            HandshakeError::MissingHost,
            HandshakeError::MissingConnectionUpgrade,
            HandshakeError::InvalidKey,
            HandshakeError::InvalidProtocolHeader,
            HandshakeError::InvalidExtensionHeader,
            HandshakeError::MethodNotGet("PUT".into()),
            HandshakeError::UnsupportedVersion(None),
            HandshakeError::HeadTooLarge,
            HandshakeError::TooManyHeaders,
        ];
        for e in errs {
            let mut out = Vec::new();
            write_error_response(&e, &mut out);
            let mut h = [httparse::EMPTY_HEADER; 16];
            let mut resp = httparse::Response::new(&mut h);
            let n = match resp.parse(&out) {
                Ok(httparse::Status::Complete(n)) => n,
                other => panic!("{other:?}"),
            };
            assert_eq!(resp.code, e.status());
            let cl: usize = resp
                .headers
                .iter()
                .find(|h| h.name == "Content-Length")
                .map(|h| core::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap();
            assert_eq!(out.len() - n, cl);
            assert!(!e.body_text().is_empty());
        }
    }
}
