//! The client side of the opening handshake (RFC 6455 §3, §4.1).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::str::FromStr;

use super::extensions::join_extensions;
use super::scan::{HeadScan, Next, count_work};
use super::{
    ExtensionOffer, HandshakeError, Headers, Limits, VERSION, accept_key, head_window, header_slots, header_values,
    is_field_value, is_token, list_contains, list_elements, map_parse_error, owned_headers, parse_extensions,
    put_header, trim_ows, writable_header,
};

/// Header names a [`ClientRequest`] writes itself; extra headers may not use
/// them (RFC 6455 §4.1 items 4–11, §11.3).
pub(super) const CLIENT_RESERVED: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "origin",
    "content-length",
    "transfer-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// What a client asks for: the /host/, /port/, /resource name/ and /secure/
/// flag of a WebSocket URI (RFC 6455 §3), with the /protocols/,
/// /extensions/ and /origin/ of §4.1 and any extra header fields
/// (§4.1 item 12).
///
/// Extra headers whose names the handshake owns (`Host`, `Upgrade`,
/// `Connection`, `Origin`, `Content-Length`, `Transfer-Encoding`,
/// `Sec-WebSocket-*`) are kept by [`header`](Self::header) but refused by
/// [`validate`](Self::validate) with [`HandshakeError::ReservedHeader`], and
/// never written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    host: String,
    ipv6: bool,
    port: u16,
    secure: bool,
    resource: String,
    protocols: Vec<String>,
    origin: Option<String>,
    extensions: Vec<ExtensionOffer>,
    headers: Headers,
}

impl ClientRequest {
    /// Parses a WebSocket URI (RFC 6455 §3):
    /// `ws[s]://host[:port][path][?query]`.
    ///
    /// * the scheme is `ws` or `wss`, case-insensitive; `wss` sets the
    ///   secure flag;
    /// * the host is a registered name (lower-cased), an IPv4 address, or an
    ///   IPv6 address in brackets (RFC 3986 §3.2.2); userinfo (`user@`) is
    ///   rejected;
    /// * the port defaults to 80 for `ws` and 443 for `wss`; an explicit
    ///   port must be 1–65535 (an empty port, `host:`, means the default);
    /// * the path (default `/`) and query must use RFC 3986 characters
    ///   (others percent-encoded); the query is kept, a `?` with an empty
    ///   query is dropped (§3 resource-name);
    /// * a fragment (`#`) is rejected: fragment identifiers MUST NOT be used
    ///   (§3).
    ///
    /// Errors are [`HandshakeError::InvalidUrl`] with the reason.
    pub fn new(url: &str) -> Result<Self, HandshakeError> {
        let bad = HandshakeError::InvalidUrl;
        if url.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(bad("contains a space, control or non-ASCII character"));
        }
        if url.contains('#') {
            return Err(bad("fragment identifiers must not be used"));
        }
        let (scheme, rest) = url.split_once(':').ok_or(bad("missing scheme"))?;
        let (secure, default_port) = if scheme.eq_ignore_ascii_case("ws") {
            (false, 80)
        } else if scheme.eq_ignore_ascii_case("wss") {
            (true, 443)
        } else {
            return Err(bad("scheme must be ws or wss"));
        };
        let rest = rest.strip_prefix("//").ok_or(bad("expected \"//\" after the scheme"))?;
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_query) = rest.split_at_checked(auth_end).ok_or(bad("bad authority"))?;
        if authority.contains('@') {
            return Err(bad("userinfo is not allowed"));
        }
        let (host, ipv6, port) = parse_authority(authority)?;
        let port = port.unwrap_or(default_port);
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path_query, ""),
        };
        if !path.bytes().all(|b| is_pchar(b) || b == b'/') || !pct_ok(path) {
            return Err(bad("invalid character in path"));
        }
        if !query.bytes().all(|b| is_pchar(b) || b == b'/' || b == b'?') || !pct_ok(query) {
            return Err(bad("invalid character in query"));
        }
        let mut resource = String::from(if path.is_empty() { "/" } else { path });
        if !query.is_empty() {
            resource.push('?');
            resource.push_str(query);
        }
        Ok(Self {
            host,
            ipv6,
            port,
            secure,
            resource,
            protocols: Vec::new(),
            origin: None,
            extensions: Vec::new(),
            headers: Vec::new(),
        })
    }

    /// Offers a subprotocol in `Sec-WebSocket-Protocol` (RFC 6455 §4.1
    /// item 10). Call repeatedly; the order (of preference) is kept. Each
    /// must be a token and unique (checked by [`validate`](Self::validate)).
    #[must_use]
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocols.push(p.into());
        self
    }

    /// Sets the `Origin` header (RFC 6455 §4.1 item 8, RFC 6454).
    #[must_use]
    pub fn origin(mut self, o: impl Into<String>) -> Self {
        self.origin = Some(o.into());
        self
    }

    /// Removes every offer of the extension `name` (case-insensitive).
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn without_extension(mut self, name: &str) -> Self {
        self.extensions.retain(|e| !e.name.eq_ignore_ascii_case(name));
        self
    }

    /// Offers an extension in `Sec-WebSocket-Extensions` (RFC 6455 §4.1
    /// item 11, §9.1). Call repeatedly; the order (of preference) is kept.
    /// With [`Config::deflate`](crate::Config) set, the connection's own
    /// `permessage-deflate` offer replaces any given here.
    #[must_use]
    pub fn extension(mut self, e: ExtensionOffer) -> Self {
        self.extensions.push(e);
        self
    }

    /// Adds an extra header field, e.g. a cookie or `Authorization`
    /// (RFC 6455 §4.1 item 12). Names the handshake writes itself are
    /// refused by [`validate`](Self::validate) with
    /// [`HandshakeError::ReservedHeader`]; invalid names or values (CR, LF,
    /// other controls) with [`HandshakeError::InvalidHeader`]. Such headers
    /// are never written.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The /host/ of the URI (RFC 6455 §3): a lower-cased name, or an IP
    /// address; an IPv6 address is given without its brackets (`::1`), as
    /// name resolution and TLS server names expect.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The /port/ (RFC 6455 §3): the explicit one, else 80 for `ws` and 443
    /// for `wss`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The /resource name/ (RFC 6455 §3): path (at least `/`), then `?` and
    /// the query if the query is non-empty.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The /secure/ flag (RFC 6455 §3): the scheme is `wss`, so the
    /// connection runs over TLS (§4.1 step 5).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The subprotocols offered, in order of preference (RFC 6455 §4.1
    /// item 10).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions offered, in order of preference (RFC 6455 §9.1).
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The `Origin` to send, if any (RFC 6455 §4.1 item 8).
    pub fn origin_value(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The extra header fields, in order (RFC 6455 §4.1 item 12).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The `Host` header value (RFC 6455 §4.1 item 4): the host (IPv6 in
    /// brackets), plus `:port` only when the port is not the scheme's
    /// default.
    pub fn host_header(&self) -> String {
        let mut h = String::new();
        if self.ipv6 {
            h.push('[');
            h.push_str(&self.host);
            h.push(']');
        } else {
            h.push_str(&self.host);
        }
        let default = if self.secure { 443 } else { 80 };
        if self.port != default {
            h.push(':');
            h.push_str(&self.port.to_string());
        }
        h
    }

    /// Checks what the application added (RFC 6455 §4.1 items 8–12):
    /// subprotocols are unique tokens ([`HandshakeError::InvalidProtocol`]),
    /// extension offers follow §9.1 ([`HandshakeError::InvalidExtension`]),
    /// the origin and extra headers are writable
    /// ([`HandshakeError::InvalidHeader`]) and extra headers do not use a
    /// name the handshake owns ([`HandshakeError::ReservedHeader`]).
    ///
    /// The connection calls this before sending; the writers skip anything
    /// that fails it, so unchecked input can never inject header lines.
    pub fn validate(&self) -> Result<(), HandshakeError> {
        for (i, p) in self.protocols.iter().enumerate() {
            let dup = self.protocols.get(..i).is_some_and(|prev| prev.contains(p));
            if !is_token(p) || dup {
                return Err(HandshakeError::InvalidProtocol(p.clone()));
            }
        }
        if let Some(o) = &self.origin {
            if !is_field_value(o) {
                return Err(HandshakeError::InvalidHeader("Origin".into()));
            }
        }
        if let Some(e) = self.extensions.iter().find(|e| !e.is_valid()) {
            return Err(HandshakeError::InvalidExtension(e.name.clone()));
        }
        super::check_extra_headers(&self.headers, CLIENT_RESERVED)
    }

    /// The header fields of the upgrade request, in the order written
    /// (RFC 6455 §4.1), without the request line. Invalid items (see
    /// [`validate`](Self::validate)) are left out.
    pub(super) fn handshake_headers(&self, key_b64: &str) -> Vec<(&'static str, String)> {
        let mut h: Vec<(&'static str, String)> = Vec::new();
        h.push(("Host", self.host_header()));
        h.push(("Upgrade", "websocket".into()));
        h.push(("Connection", "Upgrade".into()));
        if is_field_value(key_b64) {
            h.push(("Sec-WebSocket-Key", key_b64.into()));
        }
        if let Some(o) = self.origin.as_deref().filter(|o| is_field_value(o)) {
            h.push(("Origin", o.into()));
        }
        let protocols: Vec<&str> = self.protocols.iter().map(String::as_str).filter(|p| is_token(p)).collect();
        if !protocols.is_empty() {
            h.push(("Sec-WebSocket-Protocol", protocols.join(", ")));
        }
        h.push(("Sec-WebSocket-Version", VERSION.into()));
        let mut exts = self.extensions.iter().filter(|e| e.is_valid()).peekable();
        if exts.peek().is_some() {
            h.push(("Sec-WebSocket-Extensions", join_extensions(exts)));
        }
        h
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn parse_authority(authority: &str) -> Result<(String, bool, Option<u16>), HandshakeError> {
    let bad = HandshakeError::InvalidUrl;
    let (host, ipv6, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(bad("unclosed '[' in host"))?;
        if core::net::Ipv6Addr::from_str(inside).is_err() {
            return Err(bad("invalid IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(bad("junk after IPv6 address"))?),
        };
        (inside, true, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, false, Some(p)),
            None => (authority, false, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let reg_name_ok = || host.bytes().all(|b| is_unreserved(b) || is_sub_delim(b) || b == b'%') && pct_ok(host);
    if !ipv6 && !reg_name_ok() {
        return Err(bad("invalid character in host"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p).ok_or(bad("invalid port"))?),
    };
    Ok((host.to_ascii_lowercase(), ipv6, port))
}

/// `1*DIGIT` in 1..=65535 (leading zeros allowed, RFC 3986 §3.2.3).
fn parse_port(p: &str) -> Option<u16> {
    let mut n: u32 = 0;
    for b in p.bytes() {
        let d = u32::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        n = n.checked_mul(10)?.checked_add(d)?;
        if n > 65535 {
            return None;
        }
    }
    u16::try_from(n).ok().filter(|n| *n != 0)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// `pchar` of RFC 3986 §3.3 (with `%` checked separately by [`pct_ok`]).
fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'%')
}

/// Every `%` starts a `pct-encoded` triplet (RFC 3986 §2.1).
fn pct_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, c)| {
        let hex_at = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
        *c != b'%' || (hex_at(i.saturating_add(1)) && hex_at(i.saturating_add(2)))
    })
}

/// Writes the upgrade request head (RFC 6455 §4.1 items 1–12):
///
/// ```text
/// GET {resource} HTTP/1.1
/// Host: {host[:port]}
/// Upgrade: websocket
/// Connection: Upgrade
/// Sec-WebSocket-Key: {key_b64}
/// Origin: {origin}                       (if set)
/// Sec-WebSocket-Protocol: {a, b}         (if any)
/// Sec-WebSocket-Version: 13
/// Sec-WebSocket-Extensions: {offers}     (if any)
/// {extra headers}
/// ```
///
/// then the empty line. The order follows the §1.2 example. Items that fail
/// [`ClientRequest::validate`] are skipped, so call that first.
pub(crate) fn write_request(req: &ClientRequest, key_b64: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(req.resource.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.handshake_headers(key_b64) {
        put_header(out, name, &value);
    }
    for (name, value) in &req.headers {
        if writable_header(name, value, CLIENT_RESERVED) {
            put_header(out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The server's 101 response, accepted by the client (RFC 6455 §4.1): the
/// connection is OPEN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The _Subprotocol In Use_: the server's `Sec-WebSocket-Protocol`, one
    /// of those offered, or `None` (RFC 6455 §4.1).
    pub protocol: Option<String>,
    /// The _Extensions In Use_, in the server's order, every name one the
    /// client offered (RFC 6455 §4.1, §9.1). Their parameters are not yet
    /// checked: that is each extension's job.
    pub extensions: Vec<ExtensionOffer>,
    /// Every header of the response, in order, names as sent (for cookies,
    /// RFC 6455 §4.1 "Cookies Set During the Server's Opening Handshake").
    pub headers: Vec<(String, String)>,
}

/// A response other than 101, reported whole: the handshake did not
/// complete and HTTP semantics apply (RFC 6455 §4.1 response step 1), e.g.
/// a 401 to authenticate or a 3xx redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The status code (RFC 6455 §4.1).
    pub status: u16,
    /// The reason phrase as sent, possibly empty (RFC 6455 §4.1 via
    /// RFC 2616 Status-Line).
    pub reason: String,
    /// The header fields in order, names as sent, e.g. `WWW-Authenticate`
    /// or `Location` (RFC 6455 §4.1 response step 1).
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was sent chunked (RFC 6455 §4.1: HTTP
    /// semantics apply). Empty when there is none, or when it was not read
    /// here (the `http` conversions).
    pub body: Vec<u8>,
}

/// The result of feeding the bytes received so far to [`parse_response`]
/// (RFC 6455 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ResponseParse {
    /// More bytes are needed.
    Partial,
    /// A valid 101 (RFC 6455 §4.1); the `usize` is the length of the head.
    /// Bytes after it are already WebSocket frames.
    Accepted(Accepted, usize),
    /// A complete non-101 response; the `usize` is the length of head plus
    /// body. The connection is then done with the handshake.
    Rejected(Rejection, usize),
}

/// Parses and checks the server's response (RFC 6455 §4.1) from `buf`,
/// everything received so far (from the start of the response): what a
/// [`ResponseReader`] fed the same bytes, in any pieces, decides. `eof`
/// says the peer has closed its side: a head still incomplete then is
/// [`HandshakeError::Truncated`], and a non-101 body without
/// `Content-Length` (which runs to the close, RFC 7230 §3.3.3) is complete.
///
/// Checks, in order, each failure its own error:
/// 1. the head parses (`Malformed`, `HeadTooLarge`, `TooManyHeaders`; a
///    non-HTTP/1.x version is `HttpVersion`) and its values are UTF-8;
/// 2. a status other than 101 is returned as `Rejected` once its body is
///    read (`Content-Length`, chunked, or up to `eof`; 1xx, 204 and 304
///    have none), whatever the HTTP version — it is handled per HTTP;
/// 3. a 101 must be HTTP/1.1 (`HttpVersion`);
/// 4. `Upgrade` lists `websocket` (`MissingUpgrade`);
/// 5. `Connection` lists `upgrade` (`MissingConnectionUpgrade`);
/// 6. exactly one `Sec-WebSocket-Accept`, equal to [`accept_key`] of the
///    key (`InvalidAccept`);
/// 7. `Sec-WebSocket-Extensions` follows §9.1 (`InvalidExtensionHeader`)
///    and names only offered extensions (`UnofferedExtension`); repeated
///    headers are one list (§4.2.2 step 5.6);
/// 8. `Sec-WebSocket-Protocol` is absent, or one header whose value is one
///    of the offered subprotocols, compared exactly (`UnofferedProtocol`).
///
/// A syntax error in a head not yet complete (step 1) is reported once the
/// head's length reaches a power of two past it (see `scan`), its end, the
/// limit or EOF, so garbage is refused early.
///
/// The connection keeps a [`ResponseReader`]; this one-shot form is for the
/// tests.
#[cfg(test)]
pub(crate) fn parse_response(
    buf: &[u8],
    eof: bool,
    req: &ClientRequest,
    key_b64: &str,
    limits: Limits,
) -> Result<ResponseParse, HandshakeError> {
    ResponseReader::default().poll(buf, eof, req, key_b64, limits)
}

/// Reads the server's response as it arrives (RFC 6455 §4.1): fed
/// everything received so far after each read, it looks at each byte a
/// bounded number of times — heads through a [`HeadScan`], a rejection's
/// body from where it stopped — and decides after each byte what
/// `parse_response` decides on the bytes up to it.
#[derive(Debug, Default)]
pub(crate) struct ResponseReader {
    /// Bytes of the interim (1xx) heads before the head being read.
    skipped: usize,
    /// The head being read.
    scan: HeadScan,
    /// A complete head other than 101 whose body is being read.
    body: Option<Box<BodyReader>>,
}

impl ResponseReader {
    /// What `buf` (everything received, from the response's first byte)
    /// says, as `parse_response` checks it. `buf` must extend the bytes
    /// of the previous call.
    pub(crate) fn poll(
        &mut self,
        buf: &[u8],
        eof: bool,
        req: &ClientRequest,
        key_b64: &str,
        limits: Limits,
    ) -> Result<ResponseParse, HandshakeError> {
        // Interim 1xx responses other than 101 come before the final one and
        // are skipped (RFC 7231 §6.2: a client MUST be able to parse them).
        loop {
            if let Some(reader) = self.body.as_mut() {
                let start = reader.start;
                let read = reader.read(buf.get(start..).unwrap_or(&[]), eof, limits.max_head_size)?;
                return Ok(match (read, self.body.take()) {
                    (Some(used), Some(done)) => ResponseParse::Rejected(done.rejection, start.saturating_add(used)),
                    (_, body) => {
                        self.body = body;
                        ResponseParse::Partial
                    }
                });
            }
            let rest = buf.get(self.skipped..).unwrap_or(&[]);
            let next = if eof { Next::Parse } else { self.scan.next(rest, limits.max_head_size) };
            let head = match next {
                Next::Wait => return Ok(ResponseParse::Partial),
                Next::Check(n) => {
                    let prefix = rest.get(..n).unwrap_or(rest);
                    count_work(prefix.len());
                    let mut slots = header_slots(limits);
                    match httparse::Response::new(&mut slots).parse(prefix) {
                        Ok(httparse::Status::Partial) => return Ok(ResponseParse::Partial),
                        Err(e) => return Err(map_parse_error(e, starts_like_http(prefix))),
                        Ok(httparse::Status::Complete(_)) => {
                            self.scan.found();
                            parse_head(rest, eof, limits)?
                        }
                    }
                }
                Next::Parse => parse_head(rest, eof, limits)?,
            };
            match head {
                Head::Partial => return Ok(ResponseParse::Partial),
                Head::Interim(n) => {
                    self.skipped = self.skipped.saturating_add(n);
                    if self.skipped >= limits.max_head_size {
                        return Err(HandshakeError::HeadTooLarge);
                    }
                    self.scan = HeadScan::default();
                }
                Head::Final { minor, status: 101, headers, len, .. } => {
                    if minor < 1 {
                        return Err(HandshakeError::HttpVersion);
                    }
                    let accepted = check_switching(headers, req, key_b64)?;
                    return Ok(ResponseParse::Accepted(accepted, self.skipped.saturating_add(len)));
                }
                Head::Final { status, reason, headers, len, .. } => {
                    let framing = body_framing(status, &headers)?;
                    self.body = Some(Box::new(BodyReader {
                        rejection: Rejection { status, reason, headers, body: Vec::new() },
                        start: self.skipped.saturating_add(len),
                        framing,
                        chunked: Chunked::default(),
                    }));
                }
            }
        }
    }
}

/// A response head parsed whole.
enum Head {
    /// More bytes are needed.
    Partial,
    /// An interim (1xx, not 101) head of this many bytes.
    Interim(usize),
    /// A final head of `len` bytes.
    Final { minor: u8, status: u16, reason: String, headers: Headers, len: usize },
}

/// Parses one response head at the start of `buf` whole.
fn parse_head(buf: &[u8], eof: bool, limits: Limits) -> Result<Head, HandshakeError> {
    let window = head_window(buf, limits);
    let mut slots = header_slots(limits);
    let mut resp = httparse::Response::new(&mut slots);
    let parsed = resp.parse(window);
    // The parser looks at the head only, or at everything when incomplete.
    count_work(match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        _ => window.len(),
    });
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= limits.max_head_size {
                Err(HandshakeError::HeadTooLarge)
            } else if eof {
                Err(HandshakeError::Truncated)
            } else {
                Ok(Head::Partial)
            };
        }
        Err(e) => return Err(map_parse_error(e, starts_like_http(window))),
    };
    let headers = owned_headers(resp.headers)?;
    // Both are set by httparse once the head is complete.
    let minor = resp.version.unwrap_or(0);
    let status = resp.code.unwrap_or(0);
    let reason = String::from(resp.reason.unwrap_or(""));
    if (100..200).contains(&status) && status != 101 {
        return Ok(Head::Interim(len));
    }
    Ok(Head::Final { minor, status, reason, headers, len })
}

/// Whether a response starts (after empty lines) with `HTTP/`, so a version
/// error means an unsupported version, not garbage. The bytes looked at
/// precede the one that failed.
fn starts_like_http(head: &[u8]) -> bool {
    head.iter().copied().skip_while(|b| *b == b'\r' || *b == b'\n').take(5).eq(b"HTTP/".iter().copied())
}

/// §4.1 response steps 2–6 on the headers of a 101 response.
pub(super) fn check_switching(
    headers: Headers,
    req: &ClientRequest,
    key_b64: &str,
) -> Result<Accepted, HandshakeError> {
    if !list_contains(&headers, "upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !list_contains(&headers, "connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let accepts: Vec<&str> = header_values(&headers, "sec-websocket-accept").collect();
    match accepts.as_slice() {
        [a] if trim_ows(a) == accept_key(key_b64.as_bytes()) => {}
        _ => return Err(HandshakeError::InvalidAccept),
    }
    let mut extensions = Vec::new();
    for value in header_values(&headers, "sec-websocket-extensions") {
        for ext in parse_extensions(value)? {
            if !req.extensions.iter().any(|o| o.name.eq_ignore_ascii_case(&ext.name)) {
                return Err(HandshakeError::UnofferedExtension(ext.name));
            }
            extensions.push(ext);
        }
    }
    let values: Vec<&str> = header_values(&headers, "sec-websocket-protocol").collect();
    let protocol = match values.as_slice() {
        [] => None,
        [one] => {
            let p = trim_ows(one);
            if req.protocols.iter().any(|o| o == p) {
                Some(String::from(p))
            } else {
                return Err(HandshakeError::UnofferedProtocol(p.into()));
            }
        }
        several => return Err(HandshakeError::UnofferedProtocol(several.join(", "))),
    };
    Ok(Accepted { protocol, extensions, headers })
}

/// How a non-101 response's body is delimited (RFC 7230 §3.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

fn body_framing(status: u16, headers: &[(String, String)]) -> Result<Framing, HandshakeError> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    if header_values(headers, "transfer-encoding").next().is_some() {
        let last = header_values(headers, "transfer-encoding").flat_map(list_elements).last();
        return Ok(match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    let mut length: Option<usize> = None;
    for v in header_values(headers, "content-length").flat_map(|v| v.split(',')) {
        let v = trim_ows(v);
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HandshakeError::Malformed("invalid Content-Length"));
        }
        // All digits: a parse failure can only be an overflow.
        let n = v.parse::<usize>().unwrap_or(usize::MAX);
        if length.is_some_and(|l| l != n) {
            return Err(HandshakeError::Malformed("conflicting Content-Length"));
        }
        length = Some(n);
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// The body of a response other than 101, read as it arrives.
#[derive(Debug)]
struct BodyReader {
    /// The response; its body is filled in as it is read.
    rejection: Rejection,
    /// Where the body starts in the bytes received.
    start: usize,
    framing: Framing,
    chunked: Chunked,
}

impl BodyReader {
    /// Reads the body from `rest` (every byte received after the head,
    /// extending those of the previous call). `Ok(None)`: more bytes needed.
    /// `Ok(Some(used))`: done, the body is the first `used` bytes of
    /// `rest`. A body, like a head, is at most `max` bytes, and bytes past
    /// them are not looked at.
    fn read(&mut self, rest: &[u8], eof: bool, max: usize) -> Result<Option<usize>, HandshakeError> {
        let incomplete = || {
            if rest.len() > max {
                Err(HandshakeError::HeadTooLarge)
            } else if eof {
                Err(HandshakeError::Truncated)
            } else {
                Ok(None)
            }
        };
        let body = &mut self.rejection.body;
        match self.framing {
            Framing::None => Ok(Some(0)),
            Framing::Length(n) if n > max => Err(HandshakeError::HeadTooLarge),
            Framing::Length(n) => match rest.get(..n) {
                Some(whole) => {
                    count_work(n);
                    body.extend_from_slice(whole);
                    Ok(Some(n))
                }
                None => incomplete(),
            },
            Framing::UntilClose if rest.len() > max => Err(HandshakeError::HeadTooLarge),
            Framing::UntilClose if eof => {
                count_work(rest.len());
                body.extend_from_slice(rest);
                Ok(Some(rest.len()))
            }
            Framing::UntilClose => Ok(None),
            // Only the first `max` bytes are looked at: a body longer than
            // that is `HeadTooLarge` whatever follows, so an error after
            // them cannot depend on how the bytes were split into reads.
            Framing::Chunked => match self.chunked.read(rest.get(..max).unwrap_or(rest), max, body)? {
                Some(used) => Ok(Some(used)),
                None => incomplete(),
            },
        }
    }
}

/// A chunked body (RFC 7230 §4.1) being de-chunked as it arrives; trailers
/// are skipped. Each byte is looked at once, however the body is split.
///
/// `pos` only ever advances over bytes found in `rest`, so it stays
/// `<= rest.len()`; the one sum with a peer-chosen size is checked.
#[derive(Debug, Default)]
struct Chunked {
    /// Bytes consumed: whole chunks (size line, data, CRLF) and trailer
    /// lines.
    pos: usize,
    part: ChunkPart,
}

#[derive(Debug)]
enum ChunkPart {
    /// A chunk-size line, from `pos`.
    Size(SizeLine),
    /// Chunk data from `pos` up to `end`, then CRLF.
    Data { end: usize },
    /// Trailer lines after the last chunk; the first `seen` bytes from
    /// `pos` hold no LF.
    Trailers { seen: usize },
}

impl Default for ChunkPart {
    fn default() -> Self {
        Self::Size(SizeLine::default())
    }
}

impl Chunked {
    /// Reads on from where the previous call stopped. `rest` is every byte
    /// of the body received, extending those of the previous call.
    /// `Ok(Some(used))`: the body ended after `used` bytes of `rest`.
    fn read(&mut self, rest: &[u8], max: usize, body: &mut Vec<u8>) -> Result<Option<usize>, HandshakeError> {
        loop {
            let here = rest.get(self.pos..).unwrap_or(&[]);
            match &mut self.part {
                ChunkPart::Size(line) => {
                    let Some((n, size)) = line.read(here)? else {
                        return Ok(None);
                    };
                    self.pos = self.pos.saturating_add(n);
                    if size == 0 {
                        // Trailer fields, then the empty line.
                        self.part = ChunkPart::Trailers { seen: 0 };
                        continue;
                    }
                    let end = usize::try_from(size)
                        .ok()
                        .and_then(|s| self.pos.checked_add(s))
                        .filter(|end| *end <= max)
                        .ok_or(HandshakeError::HeadTooLarge)?;
                    self.part = ChunkPart::Data { end };
                }
                ChunkPart::Data { end } => {
                    let (end, after) = (*end, end.saturating_add(2));
                    let (Some(data), Some(crlf)) = (rest.get(self.pos..end), rest.get(end..after)) else {
                        return Ok(None);
                    };
                    if crlf != b"\r\n" {
                        return Err(HandshakeError::Malformed("chunk not followed by CRLF"));
                    }
                    count_work(data.len() + 2);
                    body.extend_from_slice(data);
                    self.pos = after;
                    self.part = ChunkPart::default();
                }
                ChunkPart::Trailers { seen } => {
                    let new = here.get(*seen..).unwrap_or(&[]);
                    let Some(at) = new.iter().position(|b| *b == b'\n') else {
                        count_work(new.len());
                        *seen = here.len();
                        return Ok(None);
                    };
                    count_work(at + 1);
                    let nl = *seen + at;
                    let line = here.get(..nl).unwrap_or(&[]);
                    let empty = line.is_empty() || line == b"\r";
                    *seen = 0;
                    self.pos = self.pos.saturating_add(nl).saturating_add(1);
                    if empty {
                        if self.pos > max {
                            return Err(HandshakeError::HeadTooLarge);
                        }
                        return Ok(Some(self.pos));
                    }
                }
            }
        }
    }
}

/// A chunk-size line (`chunk-size [ chunk-ext ] CRLF`, RFC 7230 §4.1.1)
/// read as it arrives, with httparse's `parse_chunk_size` grammar: up to 16
/// hex digits, optional spaces or tabs, then an extension after `;` whose
/// bytes are ignored (but for CR), then CRLF.
#[derive(Debug, Default)]
struct SizeLine {
    /// Bytes of the line looked at.
    seen: usize,
    size: u64,
    digits: u8,
    /// The digits are over (a space, a tab or the extension came).
    after_digits: bool,
    in_ext: bool,
    /// The last byte looked at was a CR.
    cr: bool,
}

impl SizeLine {
    /// Reads the bytes of `line` (from the line's first byte) not seen yet.
    /// `Ok(Some((length, size)))` once the line is complete, its CRLF
    /// included.
    fn read(&mut self, line: &[u8]) -> Result<Option<(usize, u64)>, HandshakeError> {
        let start = self.seen;
        let new = line.get(start..).unwrap_or(&[]);
        let result = self.read_bytes(new);
        count_work(self.seen - start);
        result
    }

    /// [`read`](Self::read) on the bytes not seen yet.
    fn read_bytes(&mut self, new: &[u8]) -> Result<Option<(usize, u64)>, HandshakeError> {
        let bad = || HandshakeError::Malformed("invalid chunk size");
        for &b in new {
            self.seen += 1;
            if self.cr {
                return if b == b'\n' { Ok(Some((self.seen, self.size))) } else { Err(bad()) };
            }
            let digit = match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                b'A'..=b'F' => Some(b - b'A' + 10),
                _ => None,
            };
            match (digit, b) {
                (Some(d), _) if !self.after_digits => {
                    if self.digits >= 16 {
                        return Err(bad());
                    }
                    self.digits += 1;
                    // At most 16 hex digits: no bit is shifted out.
                    self.size = (self.size << 4) | u64::from(d);
                }
                (_, b'\r') => self.cr = true,
                (_, b';') if !self.in_ext => {
                    self.in_ext = true;
                    self.after_digits = true;
                }
                (_, b' ' | b'\t') if !self.in_ext => self.after_digits = true,
                _ if self.in_ext => {}
                _ => return Err(bad()),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::name_in;
    use alloc::boxed::Box;
    use alloc::vec;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const LIMITS: Limits = Limits { max_head_size: 4096, max_headers: 32 };

    fn url(u: &str) -> Result<(String, u16, String, bool), HandshakeError> {
        ClientRequest::new(u).map(|r| (r.host().into(), r.port(), r.resource().into(), r.is_secure()))
    }

    #[test]
    fn url_table_ok() {
        let ok = |h: &str, p: u16, r: &str, s: bool| Ok((h.into(), p, r.into(), s));
        assert_eq!(url("ws://example.com/chat"), ok("example.com", 80, "/chat", false));
        assert_eq!(url("wss://example.com/chat"), ok("example.com", 443, "/chat", true));
        assert_eq!(url("WS://Example.COM"), ok("example.com", 80, "/", false));
        assert_eq!(url("WsS://h"), ok("h", 443, "/", true));
        assert_eq!(url("ws://h:9001"), ok("h", 9001, "/", false));
        assert_eq!(url("wss://h:80/"), ok("h", 80, "/", true));
        assert_eq!(url("ws://h:/x"), ok("h", 80, "/x", false));
        assert_eq!(url("ws://[::1]:/"), ok("::1", 80, "/", false));
        assert_eq!(url("ws://h:00080/x"), ok("h", 80, "/x", false));
        assert_eq!(url("ws://h:65535"), ok("h", 65535, "/", false));
        assert_eq!(url("ws://[::1]:9001/chat?x=1"), ok("::1", 9001, "/chat?x=1", false));
        assert_eq!(url("wss://[2001:DB8::1]"), ok("2001:db8::1", 443, "/", true));
        assert_eq!(url("ws://127.0.0.1:8080/a/b"), ok("127.0.0.1", 8080, "/a/b", false));
        assert_eq!(url("ws://h?q=1"), ok("h", 80, "/?q=1", false));
        assert_eq!(url("ws://h/p?"), ok("h", 80, "/p", false));
        assert_eq!(url("ws://h/p?a?b/c"), ok("h", 80, "/p?a?b/c", false));
        assert_eq!(url("ws://h/%41%2f;x=1@:"), ok("h", 80, "/%41%2f;x=1@:", false));
        assert_eq!(url("ws://a-b.c_d~e%41"), ok("a-b.c_d~e%41", 80, "/", false));
    }

    #[test]
    fn url_table_err() {
        let table: &[(&str, &str)] = &[
            ("ws://h/chat#frag", "fragment identifiers must not be used"),
            ("ws://h#", "fragment identifiers must not be used"),
            ("http://h/", "scheme must be ws or wss"),
            ("wss2://h/", "scheme must be ws or wss"),
            ("h/", "missing scheme"),
            ("ws:h/", "expected \"//\" after the scheme"),
            ("ws:///chat", "empty host"),
            ("ws://", "empty host"),
            ("ws://:80/", "empty host"),
            ("ws://h:0/", "invalid port"),
            ("ws://h:65536/", "invalid port"),
            ("ws://h:99999999999999999999/", "invalid port"),
            ("ws://h:8a/", "invalid port"),
            ("ws://h:-1/", "invalid port"),
            ("ws://h:1:2/", "invalid port"),
            ("ws://user@h/", "userinfo is not allowed"),
            ("ws://u:p@h/", "userinfo is not allowed"),
            ("ws://[::1/", "unclosed '[' in host"),
            ("ws://[::g]/", "invalid IPv6 address"),
            ("ws://[v1.x]/", "invalid IPv6 address"),
            ("ws://[::1]x/", "junk after IPv6 address"),
            ("ws://[]/", "invalid IPv6 address"),
            ("ws://h h/", "contains a space, control or non-ASCII character"),
            ("ws://h/\u{e9}", "contains a space, control or non-ASCII character"),
            ("ws://h/a\r\nX: y", "contains a space, control or non-ASCII character"),
            ("ws://h/<x>", "invalid character in path"),
            ("ws://h/%zz", "invalid character in path"),
            ("ws://h/%4", "invalid character in path"),
            ("ws://h/?a|b", "invalid character in query"),
            ("ws://h/?%", "invalid character in query"),
            ("ws://h[/", "invalid character in host"),
            ("ws://h%zz/", "invalid character in host"),
        ];
        for (u, reason) in table {
            assert_eq!(url(u), Err(HandshakeError::InvalidUrl(reason)), "url {u:?}");
        }
    }

    #[test]
    fn host_header() {
        let h = |u: &str| ClientRequest::new(u).map(|r| r.host_header());
        assert_eq!(h("ws://h/"), Ok("h".into()));
        assert_eq!(h("ws://h:80/"), Ok("h".into()));
        assert_eq!(h("ws://h:443/"), Ok("h:443".into()));
        assert_eq!(h("wss://h:443/"), Ok("h".into()));
        assert_eq!(h("wss://h:80/"), Ok("h:80".into()));
        assert_eq!(h("ws://[::1]:9001/chat?x=1"), Ok("[::1]:9001".into()));
        assert_eq!(h("ws://[::1]/"), Ok("[::1]".into()));
    }

    fn rfc_request() -> ClientRequest {
        ClientRequest::new("ws://server.example.com/chat")
            .unwrap()
            .origin("http://example.com")
            .protocol("chat")
            .protocol("superchat")
    }

    #[test]
    fn rfc_1_2_request_bytes() {
        let mut out = Vec::new();
        write_request(&rfc_request(), KEY, &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "GET /chat HTTP/1.1\r\n\
             Host: server.example.com\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\
             Sec-WebSocket-Version: 13\r\n\
             \r\n"
        );
        assert_eq!(rfc_request().validate(), Ok(()));
    }

    #[test]
    fn request_with_extensions_and_headers() {
        let req = ClientRequest::new("wss://h:8443/a?b")
            .unwrap()
            .extension(ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None))
            .extension(ExtensionOffer::new("x-foo").param("a", Some("1")))
            .header("Cookie", "a=b")
            .header("Authorization", "Basic eA==");
        assert_eq!(req.validate(), Ok(()));
        let mut out = Vec::new();
        write_request(&req, KEY, &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "GET /a?b HTTP/1.1\r\n\
             Host: h:8443\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo; a=1\r\n\
             Cookie: a=b\r\n\
             Authorization: Basic eA==\r\n\
             \r\n"
        );
        assert_eq!(req.headers().len(), 2);
        assert_eq!(req.extensions().len(), 2);
        assert!(req.protocols().is_empty());
        assert_eq!(req.origin_value(), None);
    }

    #[test]
    fn request_validation_and_defensive_writing() {
        let base = || ClientRequest::new("ws://h/").unwrap();
        assert_eq!(base().protocol("a b").validate(), Err(HandshakeError::InvalidProtocol("a b".into())));
        assert_eq!(
            base().protocol("chat").protocol("chat").validate(),
            Err(HandshakeError::InvalidProtocol("chat".into()))
        );
        assert_eq!(
            base().origin("http://x\r\nEvil: 1").validate(),
            Err(HandshakeError::InvalidHeader("Origin".into()))
        );
        assert_eq!(
            base().extension(ExtensionOffer::new("x").param("y", Some("a b"))).validate(),
            Err(HandshakeError::InvalidExtension("x".into()))
        );
        assert_eq!(base().header("X-A", "1\r\nEvil: 1").validate(), Err(HandshakeError::InvalidHeader("X-A".into())));
        assert_eq!(base().header("X A", "1").validate(), Err(HandshakeError::InvalidHeader("X A".into())));
        for name in ["Host", "sec-websocket-key", "Connection", "ORIGIN", "Content-Length"] {
            assert_eq!(base().header(name, "x").validate(), Err(HandshakeError::ReservedHeader(name.into())));
            assert!(name_in(name, CLIENT_RESERVED));
        }
        // The writer never emits any of those.
        let req = base()
            .protocol("a b")
            .protocol("ok")
            .origin("x\ny")
            .extension(ExtensionOffer::new("bad ext"))
            .header("Host", "evil")
            .header("X-A", "1\r\nEvil: 1")
            .header("X-B", "2");
        let mut out = Vec::new();
        write_request(&req, "k\r\nEvil: 1", &mut out);
        assert_eq!(
            core::str::from_utf8(&out).unwrap(),
            "GET / HTTP/1.1\r\n\
             Host: h\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Protocol: ok\r\n\
             Sec-WebSocket-Version: 13\r\n\
             X-B: 2\r\n\
             \r\n"
        );
    }

    const RFC_RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\
        \r\n";

    fn parse(resp: &str, req: &ClientRequest) -> Result<ResponseParse, HandshakeError> {
        parse_response(resp.as_bytes(), false, req, KEY, LIMITS)
    }

    fn accepted(resp: &str, req: &ClientRequest) -> Result<Accepted, HandshakeError> {
        match parse(resp, req)? {
            ResponseParse::Accepted(a, n) => {
                assert_eq!(n, resp.len());
                Ok(a)
            }
            other => panic!("not accepted: {other:?}"),
        }
    }

    #[test]
    fn rfc_1_2_response_accepted() {
        let a = accepted(RFC_RESPONSE, &rfc_request()).unwrap();
        assert_eq!(a.protocol.as_deref(), Some("chat"));
        assert!(a.extensions.is_empty());
        assert_eq!(a.headers.len(), 4);
        assert_eq!(a.headers[2].0, "Sec-WebSocket-Accept");
    }

    #[test]
    fn response_bytes_after_head_are_not_consumed() {
        let mut buf = RFC_RESPONSE.as_bytes().to_vec();
        buf.extend_from_slice(&[0x81, 0x00]);
        match parse_response(&buf, false, &rfc_request(), KEY, LIMITS) {
            Ok(ResponseParse::Accepted(_, n)) => assert_eq!(n, RFC_RESPONSE.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn response_split_at_every_offset() {
        let req = rfc_request();
        let full = parse(RFC_RESPONSE, &req);
        assert!(matches!(full, Ok(ResponseParse::Accepted(..))));
        let bytes = RFC_RESPONSE.as_bytes();
        for i in 0..bytes.len() {
            assert_eq!(parse_response(&bytes[..i], false, &req, KEY, LIMITS), Ok(ResponseParse::Partial), "prefix {i}");
        }
        // A rejection with a body, fed the same way.
        let resp = "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!";
        let full = parse(resp, &req);
        assert!(matches!(full, Ok(ResponseParse::Rejected(_, 50))));
        for i in 0..resp.len() {
            assert_eq!(
                parse_response(&resp.as_bytes()[..i], false, &req, KEY, LIMITS),
                Ok(ResponseParse::Partial),
                "prefix {i}"
            );
        }
        // A chunked one.
        let resp = "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        let full = parse(resp, &req);
        match &full {
            Ok(ResponseParse::Rejected(r, n)) => {
                assert_eq!(r.body, b"abcde");
                assert_eq!(*n, resp.len());
            }
            other => panic!("{other:?}"),
        }
        for i in 0..resp.len() {
            assert_eq!(
                parse_response(&resp.as_bytes()[..i], false, &req, KEY, LIMITS),
                Ok(ResponseParse::Partial),
                "prefix {i}"
            );
        }
    }

    #[test]
    fn rejection_bodies() {
        let req = rfc_request();
        let rej = |r: &str, eof: bool| parse_response(r.as_bytes(), eof, &req, KEY, LIMITS);
        // Content-Length, with extra bytes after it.
        let r401 = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nhi+junk";
        match rej(r401, false) {
            Ok(ResponseParse::Rejected(r, n)) => {
                assert_eq!(r.status, 401);
                assert_eq!(r.reason, "Unauthorized");
                assert_eq!(r.body, b"hi");
                assert_eq!(r.headers[0], ("WWW-Authenticate".into(), "Basic".into()));
                assert_eq!(n, r401.len() - "+junk".len());
            }
            other => panic!("{other:?}"),
        }
        // No length: runs to the close.
        let r = "HTTP/1.1 404 Not Found\r\n\r\nabc";
        assert_eq!(rej(r, false), Ok(ResponseParse::Partial));
        match rej(r, true) {
            Ok(ResponseParse::Rejected(r2, n)) => {
                assert_eq!(r2.body, b"abc");
                assert_eq!(n, r.len());
            }
            other => panic!("{other:?}"),
        }
        // HTTP/1.0 non-101 is still a rejection (handled per HTTP).
        assert!(matches!(
            rej("HTTP/1.0 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", false),
            Ok(ResponseParse::Rejected(ref r, _)) if r.status == 302
        ));
        // An interim 1xx is skipped: what follows it is the answer.
        let both = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 No\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            rej(both, false)
                .map(|p| matches!(p, ResponseParse::Rejected(ref r, n) if r.status == 403 && n == both.len())),
            Ok(true)
        );
        // No body for 204/304.
        for s in ["204 No Content", "304 Not Modified"] {
            let r = alloc::format!("HTTP/1.1 {s}\r\n\r\nXX");
            match rej(&r, false) {
                Ok(ResponseParse::Rejected(x, n)) => {
                    assert!(x.body.is_empty());
                    assert_eq!(n, r.len() - 2);
                }
                other => panic!("{other:?}"),
            }
        }
        // A non-chunked Transfer-Encoding runs to the close.
        assert_eq!(rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: gzip\r\n\r\nzz", false), Ok(ResponseParse::Partial));
        // Repeated identical Content-Length is fine.
        assert!(matches!(
            rej("HTTP/1.1 400 Bad\r\nContent-Length: 1, 1\r\nContent-Length: 1\r\n\r\nz", false),
            Ok(ResponseParse::Rejected(..))
        ));
        // Errors in the body framing.
        assert_eq!(
            rej("HTTP/1.1 400 Bad\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nz", false),
            Err(HandshakeError::Malformed("conflicting Content-Length"))
        );
        assert_eq!(
            rej("HTTP/1.1 400 Bad\r\nContent-Length: x\r\n\r\n", false),
            Err(HandshakeError::Malformed("invalid Content-Length"))
        );
        assert_eq!(
            rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false),
            Err(HandshakeError::Malformed("invalid chunk size"))
        );
        assert_eq!(
            rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", false),
            Err(HandshakeError::Malformed("chunk not followed by CRLF"))
        );
        // Truncated at the close.
        assert_eq!(rej("HTTP/1.1 400 Bad\r\nContent-Length: 5\r\n\r\nab", true), Err(HandshakeError::Truncated));
        assert_eq!(
            rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true),
            Err(HandshakeError::Truncated)
        );
        assert_eq!(rej("HTTP/1.1 101 Swi", true), Err(HandshakeError::Truncated));
        assert_eq!(rej("", true), Err(HandshakeError::Truncated));
        // Too large.
        let small = Limits { max_head_size: 64, max_headers: 8 };
        let big = |r: &str, eof: bool| parse_response(r.as_bytes(), eof, &req, KEY, small);
        assert_eq!(big("HTTP/1.1 400 Bad\r\nContent-Length: 65\r\n\r\n", false), Err(HandshakeError::HeadTooLarge));
        assert_eq!(
            big("HTTP/1.1 400 Bad\r\nContent-Length: 99999999999999999999999\r\n\r\n", false),
            Err(HandshakeError::HeadTooLarge)
        );
        let long_body = alloc::format!("HTTP/1.1 400 Bad\r\n\r\n{}", "x".repeat(65));
        assert_eq!(big(&long_body, false), Err(HandshakeError::HeadTooLarge));
        let ok_body = alloc::format!("HTTP/1.1 400 Bad\r\n\r\n{}", "x".repeat(64));
        assert!(matches!(big(&ok_body, true), Ok(ResponseParse::Rejected(..))));
        let chunked = alloc::format!("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n{}", "x".repeat(3));
        assert_eq!(big(&chunked, false), Err(HandshakeError::HeadTooLarge));
        let chunked = "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n";
        assert_eq!(big(chunked, false), Err(HandshakeError::HeadTooLarge));
    }

    #[test]
    fn rejected_error_variant() {
        let r = Rejection { status: 403, reason: "Forbidden".into(), headers: vec![], body: vec![] };
        let e = HandshakeError::from(r.clone());
        assert_eq!(e, HandshakeError::Rejected(Box::new(r.clone())));
        assert_eq!(e.status(), None);
        assert_eq!(alloc::format!("{e}"), "the server answered 403 instead of 101 (RFC 6455 §4.1)");
    }

    #[test]
    fn response_checks_each_variant() {
        let req =
            rfc_request().extension(ExtensionOffer::new("permessage-deflate")).extension(ExtensionOffer::new("x-two"));
        let acc = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
        let r = |head: &str| alloc::format!("HTTP/1.1 101 Switching Protocols\r\n{head}\r\n");
        let err = |head: &str| parse(&r(head), &req).err();

        assert_eq!(parse("HTTP/1.0 101 Switching Protocols\r\n\r\n", &req), Err(HandshakeError::HttpVersion));
        assert_eq!(parse("HTTP/2.0 101 Switching Protocols\r\n\r\n", &req), Err(HandshakeError::HttpVersion));
        assert_eq!(parse("ICY 200 OK\r\n\r\n", &req), Err(HandshakeError::Malformed("invalid HTTP version")));
        assert_eq!(parse("HTTP/1.1 1x1 Hm\r\n\r\n", &req), Err(HandshakeError::Malformed("invalid status line")));
        assert_eq!(
            parse_response(b"HTTP/1.1 101 OK\r\nX: \xff\r\n\r\n", false, &req, KEY, LIMITS),
            Err(HandshakeError::Malformed("header value is not UTF-8"))
        );
        assert_eq!(err(&alloc::format!("Connection: Upgrade\r\n{acc}")), Some(HandshakeError::MissingUpgrade));
        assert_eq!(
            err(&alloc::format!("Upgrade: h2c\r\nConnection: Upgrade\r\n{acc}")),
            Some(HandshakeError::MissingUpgrade)
        );
        assert_eq!(err(&alloc::format!("Upgrade: websocket\r\n{acc}")), Some(HandshakeError::MissingConnectionUpgrade));
        assert_eq!(
            err(&alloc::format!("Upgrade: websocket\r\nConnection: close\r\n{acc}")),
            Some(HandshakeError::MissingConnectionUpgrade)
        );
        assert_eq!(err(up), Some(HandshakeError::InvalidAccept));
        assert_eq!(err(&alloc::format!("{up}Sec-WebSocket-Accept: AAAA\r\n")), Some(HandshakeError::InvalidAccept));
        assert_eq!(err(&alloc::format!("{up}{acc}{acc}")), Some(HandshakeError::InvalidAccept));
        assert_eq!(
            err(&alloc::format!("{up}{acc}Sec-WebSocket-Extensions: x-three\r\n")),
            Some(HandshakeError::UnofferedExtension("x-three".into()))
        );
        assert_eq!(
            err(&alloc::format!("{up}{acc}Sec-WebSocket-Extensions: a;\r\n")),
            Some(HandshakeError::InvalidExtensionHeader)
        );
        assert_eq!(
            err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: other\r\n")),
            Some(HandshakeError::UnofferedProtocol("other".into()))
        );
        assert_eq!(
            err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: CHAT\r\n")),
            Some(HandshakeError::UnofferedProtocol("CHAT".into()))
        );
        assert_eq!(
            err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: chat, superchat\r\n")),
            Some(HandshakeError::UnofferedProtocol("chat, superchat".into()))
        );
        assert_eq!(
            err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n")),
            Some(HandshakeError::UnofferedProtocol("chat, chat".into()))
        );
        assert_eq!(
            err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol:\r\n")),
            Some(HandshakeError::UnofferedProtocol("".into()))
        );
        let no_protocols = ClientRequest::new("ws://h/").unwrap();
        assert_eq!(
            parse(&r(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: chat\r\n")), &no_protocols),
            Err(HandshakeError::UnofferedProtocol("chat".into()))
        );

        // Good: case-insensitive names and tokens, token lists, extensions
        // split over two headers, whitespace around the accept value.
        let good = r("upgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\n\
             sec-websocket-accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  \r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\
             Sec-WebSocket-Extensions: x-two\r\n\
             Set-Cookie: a=b\r\n");
        let a = accepted(&good, &req).unwrap();
        assert_eq!(a.protocol, None);
        assert_eq!(
            a.extensions,
            vec![
                ExtensionOffer::new("permessage-deflate").param("server_no_context_takeover", None),
                ExtensionOffer::new("x-two"),
            ]
        );
        assert_eq!(a.headers.len(), 6);
    }

    #[test]
    fn response_limits() {
        let req = rfc_request();
        let bytes = RFC_RESPONSE.as_bytes();
        let lim = |max_head_size, max_headers| Limits { max_head_size, max_headers };
        let run = |b: &[u8], l: Limits| parse_response(b, false, &req, KEY, l);
        assert_eq!(run(&bytes[..39], lim(40, 8)), Ok(ResponseParse::Partial));
        assert_eq!(run(&bytes[..40], lim(40, 8)), Err(HandshakeError::HeadTooLarge));
        assert_eq!(run(bytes, lim(40, 8)), Err(HandshakeError::HeadTooLarge));
        // Exactly at the limit is fine, one byte less is not.
        assert!(matches!(run(bytes, lim(bytes.len(), 4)), Ok(ResponseParse::Accepted(..))));
        assert_eq!(run(bytes, lim(bytes.len() - 1, 4)), Err(HandshakeError::HeadTooLarge));
        // Four header fields: a limit of three is exceeded.
        assert_eq!(run(bytes, lim(4096, 3)), Err(HandshakeError::TooManyHeaders));
        assert_eq!(run(bytes, lim(4096, 0)), Err(HandshakeError::TooManyHeaders));
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % (n as u64).max(1)) as usize
        }
    }

    /// Chunk-size lines and chunked bodies made of pieces that matter to
    /// the grammar.
    fn random_chunked(rng: &mut Rng) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"0",
            b"1",
            b"2",
            b"a",
            b"F",
            b"g",
            b"fffffffffffffffff",
            b"ffffffffffffffff",
            b" ",
            b"\t",
            b";",
            b";x=y",
            b"\r\n",
            b"\r",
            b"\n",
            b"ab",
            b"abc",
            b"T: 1",
            b"\x00",
        ];
        let n = rng.below(14);
        (0..n).flat_map(|_| PIECES[rng.below(PIECES.len())].iter().copied()).collect()
    }

    /// The size line follows httparse's `parse_chunk_size` at every prefix,
    /// read whole or a byte at a time.
    #[test]
    fn size_line_follows_httparse() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..100_000 {
            let line = random_chunked(&mut rng);
            let mut bytewise = SizeLine::default();
            let mut decided: Option<Result<Option<(usize, u64)>, HandshakeError>> = None;
            for n in 0..=line.len() {
                let want = match httparse::parse_chunk_size(&line[..n]) {
                    Ok(httparse::Status::Complete(v)) => Ok(Some(v)),
                    Ok(httparse::Status::Partial) => Ok(None),
                    Err(_) => Err(HandshakeError::Malformed("invalid chunk size")),
                };
                assert_eq!(SizeLine::default().read(&line[..n]), want, "{:?}", &line[..n]);
                let got = decided.clone().unwrap_or_else(|| bytewise.read(&line[..n]));
                assert_eq!(got, want, "a byte at a time: {:?}", &line[..n]);
                if got != Ok(None) {
                    decided = Some(got);
                }
            }
        }
    }

    /// What a de-chunker decides: more bytes needed, or the body and the
    /// bytes it took, or an error.
    type Dechunked = Result<Option<(Vec<u8>, usize)>, HandshakeError>;

    /// The de-chunker before it was made resumable (it read the body from
    /// its start on every call): the reference for [`Chunked`].
    fn dechunk_from_the_start(rest: &[u8], max: usize) -> Dechunked {
        let mut body = Vec::new();
        let mut pos = 0usize;
        loop {
            let here = rest.get(pos..).unwrap_or(&[]);
            let (n, size) = match httparse::parse_chunk_size(here) {
                Ok(httparse::Status::Complete(v)) => v,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(_) => return Err(HandshakeError::Malformed("invalid chunk size")),
            };
            pos = pos.saturating_add(n);
            if size == 0 {
                loop {
                    let here = rest.get(pos..).unwrap_or(&[]);
                    let Some(nl) = here.iter().position(|b| *b == b'\n') else {
                        return Ok(None);
                    };
                    let line = here.get(..nl).unwrap_or(&[]);
                    pos = pos.saturating_add(nl).saturating_add(1);
                    if line.is_empty() || line == b"\r" {
                        if pos > max {
                            return Err(HandshakeError::HeadTooLarge);
                        }
                        return Ok(Some((body, pos)));
                    }
                }
            }
            let end = usize::try_from(size)
                .ok()
                .and_then(|s| pos.checked_add(s))
                .filter(|end| *end <= max)
                .ok_or(HandshakeError::HeadTooLarge)?;
            let after = end.saturating_add(2);
            let (Some(data), Some(crlf)) = (rest.get(pos..end), rest.get(end..after)) else {
                return Ok(None);
            };
            if crlf != b"\r\n" {
                return Err(HandshakeError::Malformed("chunk not followed by CRLF"));
            }
            body.extend_from_slice(data);
            pos = after;
        }
    }

    /// The resumable de-chunker decides at every prefix what reading the
    /// body from its start decides, fed whole or in random pieces.
    #[test]
    fn chunked_reader_resumes_where_it_stopped() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let chunk = |rng: &mut Rng| -> Vec<u8> {
            let mut v = Vec::new();
            for _ in 0..rng.below(4) {
                let n = rng.below(20);
                v.extend_from_slice(alloc::format!("{n:x}").as_bytes());
                if rng.below(3) == 0 {
                    v.extend_from_slice(b" ;ext=1");
                }
                v.extend_from_slice(b"\r\n");
                v.extend((0..n).map(|i| b'a' + (i % 26) as u8));
                v.extend_from_slice(b"\r\n");
            }
            v.extend_from_slice(if rng.below(2) == 0 { b"0\r\n\r\n" } else { b"0\r\nT: 1\r\nU: 2\n\r\n" });
            v
        };
        for round in 0..20_000 {
            let mut input = if round % 2 == 0 { chunk(&mut rng) } else { random_chunked(&mut rng) };
            // A byte changed, sometimes.
            if rng.below(3) == 0 && !input.is_empty() {
                let at = rng.below(input.len());
                input[at] = b"\r\n0a; "[rng.below(6)];
            }
            input.extend_from_slice(b"after");
            let max = [16, 64, 1024][rng.below(3)];
            let mut reader = Chunked::default();
            let mut body = Vec::new();
            let mut decided: Option<Dechunked> = None;
            let mut n = 0;
            loop {
                let want = dechunk_from_the_start(&input[..n], max);
                let got = match &decided {
                    Some(d) => d.clone(),
                    None => reader.read(&input[..n], max, &mut body).map(|d| d.map(|used| (body.clone(), used))),
                };
                assert_eq!(got, want, "{:?} at {n}", String::from_utf8_lossy(&input));
                if got != Ok(None) {
                    decided = Some(got);
                }
                if n == input.len() {
                    break;
                }
                n = (n + 1 + rng.below(4)).min(input.len());
            }
        }
    }
}
