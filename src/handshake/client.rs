//! The client side of the opening handshake (RFC 6455 §3, §4.1).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::str::FromStr;

use super::extensions::join_extensions;
use super::scan::{HeadScan, Next, count_work};
use super::{
    ExtensionOffer, HandshakeError, Headers, Limits, UsageError, VERSION, accept_key, head_length, head_window,
    header_slots, header_values, is_field_value, is_token, list_contains, list_elements, map_parse_error,
    owned_headers, parse_extensions, put_header, trim_ows, writable_header,
};

mod body;
mod url;

use body::{BodyReader, body_framing};
use url::{is_pchar, parse_authority, pct_ok};

/// Header names a [`ClientRequest`] writes itself; extra headers may not use
/// them (RFC 6455 §4.1 items 4–11, §11.3): all of [`RESERVED`](super::RESERVED).
pub(super) const CLIENT_RESERVED: &[&str] = &super::RESERVED;

/// What a client asks for: the /host/, /port/, /resource name/ and /secure/
/// flag of a WebSocket URI (RFC 6455 §3), with the /protocols/,
/// /extensions/ and /origin/ of §4.1 and any extra header fields
/// (§4.1 item 12).
///
/// Extra headers whose names the handshake owns (`Host`, `Upgrade`,
/// `Connection`, `Origin`, `Content-Length`, `Transfer-Encoding`,
/// `Sec-WebSocket-*`) are kept by [`header`](Self::header) but refused by
/// [`validate`](Self::validate) with [`UsageError::ReservedHeader`], and
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
    /// Errors are [`UsageError::InvalidUrl`] with the reason.
    pub fn new(url: &str) -> Result<Self, UsageError> {
        let bad = UsageError::InvalidUrl;
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
    /// [`UsageError::ReservedHeader`]; invalid names or values (CR, LF,
    /// other controls) with [`UsageError::InvalidHeader`]. Such headers
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
    /// subprotocols are unique tokens ([`UsageError::InvalidProtocol`]),
    /// extension offers follow §9.1 ([`UsageError::InvalidExtension`]),
    /// the origin and extra headers are writable
    /// ([`UsageError::InvalidHeader`]) and extra headers do not use a
    /// name the handshake owns ([`UsageError::ReservedHeader`]).
    ///
    /// The connection calls this before sending; the writers skip anything
    /// that fails it, so unchecked input can never inject header lines.
    pub fn validate(&self) -> Result<(), UsageError> {
        for (i, p) in self.protocols.iter().enumerate() {
            let dup = self.protocols.get(..i).is_some_and(|prev| prev.contains(p));
            if !is_token(p) || dup {
                return Err(UsageError::InvalidProtocol(p.clone()));
            }
        }
        if let Some(o) = &self.origin {
            if !is_field_value(o) {
                return Err(UsageError::InvalidHeader("Origin".into()));
            }
        }
        if let Some(e) = self.extensions.iter().find(|e| !e.is_valid()) {
            return Err(UsageError::InvalidExtension(e.name.clone()));
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

/// The result of feeding the bytes received so far to [`ResponseReader::poll`]
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
                    let rejection = Rejection { status, reason, headers, body: Vec::new() };
                    self.body = Some(Box::new(BodyReader::new(rejection, self.skipped.saturating_add(len), framing)));
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
    let Some(len) = head_length(resp.parse(window), window, buf.len(), limits, eof, starts_like_http)? else {
        return Ok(Head::Partial);
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

/// §4.1 response steps 2–6 on the headers of a 101 response: steps 2–4
/// here, then [`check_agreement`].
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
    check_agreement(headers, req)
}

/// §4.1 response steps 5–6, the part of a 101's checks that also applies to
/// an RFC 8441 200 (RFC 8441 §5: `Sec-WebSocket-Protocol` and
/// `Sec-WebSocket-Extensions` "as defined in RFC 6455"): the extensions
/// follow §9.1 and were offered, the subprotocol is absent or one offered.
pub(super) fn check_agreement(headers: Headers, req: &ClientRequest) -> Result<Accepted, HandshakeError> {
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

#[cfg(test)]
mod tests;
