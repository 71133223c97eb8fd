//! The HTTP/1.1 opening handshake (RFC 6455 §4), sans IO.
//!
//! * Client side (§4.1): [`ClientRequest`] is built from a `ws://` or
//!   `wss://` URL (§3); the connection writes the upgrade request and checks
//!   the server's answer, which ends as [`Accepted`] or a [`Rejection`].
//! * Server side (§4.2): the client's request is parsed and checked into a
//!   [`Request`]; the application answers it with an [`Accept`] (101
//!   Switching Protocols, §4.2.2) or a rejection status.
//! * Both sides negotiate extensions with the §9.1 grammar
//!   ([`ExtensionOffer`], [`parse_extensions`]).
//! * Over HTTP/2, RFC 8441's extended CONNECT replaces the upgrade: the
//!   [`h2`] module checks and builds its header lists, and
//!   [`Accept::negotiate`] negotiates for it with the same code
//!   ([`Offers`]).
//!
//! Every failed check is its own [`HandshakeError`] variant.
//!
//! Conventions (RFC 7230 as referenced by RFC 6455 §4): header names compare
//! ASCII case-insensitively; list-valued headers (`Upgrade`, `Connection`,
//! `Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions`) are split on commas,
//! trimmed of optional whitespace, and repeated header lines are one list.
//! Header values must be UTF-8: a received head with a non-UTF-8 value is
//! [`HandshakeError::Malformed`] rather than silently altered.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

mod client;
mod error;
mod extensions;
pub mod h2;
#[cfg(feature = "http")]
mod http_compat;
mod negotiate;
mod scan;
use scan::count_work;
mod server;

#[cfg(test)]
pub(crate) use client::parse_response;
pub use client::{Accepted, ClientRequest, Rejection};
pub(crate) use client::{ResponseParse, ResponseReader, write_request};
pub use error::{DeflateNegotiationError, HandshakeError, UsageError};
pub use extensions::{ExtensionOffer, parse_extensions};
#[cfg(feature = "http")]
pub use http_compat::{accept_response, validate_response};
pub use negotiate::Offers;
#[cfg(test)]
pub(crate) use scan::{tests as scan_tests, work as scan_work};
#[cfg(test)]
pub(crate) use server::parse_request;
pub use server::{Accept, Request};
pub(crate) use server::{
    RequestParse, RequestReader, validate_accept, validate_reject, write_accept, write_error_response, write_response,
};

/// The GUID a server appends to the client's key before hashing
/// (RFC 6455 §1.3, §4.2.2 step 5.4).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version this crate speaks (RFC 6455 §4.1 item 9,
/// §11.3.5).
pub(crate) const VERSION: &str = "13";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`
/// (RFC 6455 §1.3, §4.2.2 step 5.4): `base64(SHA-1(key ++ GUID))`.
///
/// `key` is the key as sent, in its base64 text form (it is *not* decoded);
/// leading and trailing spaces and tabs are ignored, as §4.1 (response
/// step 4) requires.
///
/// For the §1.3 example key `dGhlIHNhbXBsZSBub25jZQ==` this is
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
pub fn accept_key(key: &[u8]) -> String {
    String::from(AcceptKey::new(key).as_str())
}

/// An [`accept_key`] without an allocation: base64 of the 20-byte SHA-1 is
/// 28 characters.
pub(crate) struct AcceptKey([u8; 28]);

impl AcceptKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut sha = Sha1::new();
        sha.update(trim_ows_bytes(key));
        sha.update(GUID.as_bytes());
        let mut out = [0u8; 28];
        // 20 bytes always encode to 28 characters, padding included.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(sha.finalize(), &mut out);
        Self(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // base64 is ASCII.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The `Sec-WebSocket-Key` for a 16-byte nonce: its base64 encoding
/// (RFC 6455 §4.1 item 7). The nonce MUST be selected randomly for each
/// connection; this function only encodes it.
/// For sixteen zero bytes this is `AAAAAAAAAAAAAAAAAAAAAA==`.
pub fn key_from_nonce(nonce: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// Limits applied while parsing a head (RFC 6455 §10.4: implementations
/// protect themselves with limits).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Largest head, request line or status line included, with its final
    /// empty line. A non-101 response's body is capped at the same size.
    pub(crate) max_head_size: usize,
    /// Most header fields in one head.
    pub(crate) max_headers: usize,
}

/// A list of header fields in order, names as sent (RFC 6455 §4.2.1
/// item 10).
pub(crate) type Headers = Vec<(String, String)>;

// ---------------------------------------------------------------------------
// Grammar helpers (RFC 7230 §3.2.6 token, §3.2.3 OWS, §7 lists).

/// `tchar` of RFC 7230 §3.2.6.
#[inline]
pub(super) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] for every byte, looked up rather than worked out: header
/// parsing asks it for every byte of a token.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        b += 1;
    }
    table
};

/// `token = 1*tchar` (RFC 7230 §3.2.6).
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A field value that can be written on one header line: no control
/// characters other than horizontal tab (so no CR or LF), no DEL.
pub(super) fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(super) fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

fn trim_ows_bytes(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// The values of every header named `name` (case-insensitive), in order.
pub(super) fn header_values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The non-empty elements of a comma-separated list value, trimmed
/// (RFC 7230 §7: empty elements are ignored).
pub(super) fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(trim_ows).filter(|e| !e.is_empty())
}

/// Whether any `name` header's list contains `token` (ASCII
/// case-insensitive).
pub(super) fn list_contains(headers: &[(String, String)], name: &str, token: &str) -> bool {
    list_has(header_values(headers, name), token)
}

/// Whether the lists in `values` contain `token` (ASCII case-insensitive).
pub(super) fn list_has<'a>(mut values: impl Iterator<Item = &'a str>, token: &str) -> bool {
    // Most often the list is the token alone.
    values.any(|v| trim_ows(v).eq_ignore_ascii_case(token) || list_elements(v).any(|e| e.eq_ignore_ascii_case(token)))
}

/// Header names the handshake writes itself (RFC 6455 §4.1, §4.2.2, §11.3),
/// in an order that makes each side's set a part of it: a request writes all
/// of them, a 101 all but `host` and `origin` (`[2..]`), any other response
/// `connection`, `content-length` and `transfer-encoding` (`[3..6]`).
pub(super) const RESERVED: [&str; 11] = [
    "host",
    "origin",
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

/// Whether `name` (case-insensitive) is in `set` (lower case).
pub(super) fn name_in(name: &str, set: &[&str]) -> bool {
    set.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Checks extra headers an application wants sent: names must be tokens,
/// values writable on one line, and no name may be one in `reserved`.
pub(super) fn check_extra_headers(headers: &[(String, String)], reserved: &[&str]) -> Result<(), UsageError> {
    for (name, value) in headers {
        if !is_token(name) || !is_field_value(value) {
            return Err(UsageError::InvalidHeader(name.clone()));
        }
        if name_in(name, reserved) {
            return Err(UsageError::ReservedHeader(name.clone()));
        }
    }
    Ok(())
}

/// Whether an extra header may be written: the defensive filter applied by
/// the writers, so that unchecked input can never inject header lines.
pub(super) fn writable_header(name: &str, value: &str, reserved: &[&str]) -> bool {
    is_token(name) && is_field_value(value) && !name_in(name, reserved)
}

/// Appends `name: value\r\n`.
pub(super) fn put_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

// ---------------------------------------------------------------------------
// Head parsing helpers shared by both sides.

/// The part of `buf` the head must complete within (RFC 6455 §10.4).
pub(super) fn head_window(buf: &[u8], limits: Limits) -> &[u8] {
    buf.get(..limits.max_head_size).unwrap_or(buf)
}

/// Copies httparse headers into owned pairs; a non-UTF-8 value is
/// `Malformed` (values are never altered).
pub(super) fn owned_headers(headers: &[httparse::Header<'_>]) -> Result<Headers, HandshakeError> {
    headers
        .iter()
        .map(|h| {
            let value =
                core::str::from_utf8(h.value).map_err(|_| HandshakeError::Malformed("header value is not UTF-8"))?;
            Ok((String::from(h.name), String::from(value)))
        })
        .collect()
}

/// What httparse's parse of a whole head in `window` (the first bytes of
/// the `buf_len` received) means: the head's length; `None` while it is
/// incomplete and below the limit; `HeadTooLarge` at the limit, `Truncated`
/// at `eof`, or the syntax error (`looks_like_http` tells a version error
/// from garbage).
pub(super) fn head_length(
    parsed: httparse::Result<usize>,
    window: &[u8],
    buf_len: usize,
    limits: Limits,
    eof: bool,
    looks_like_http: fn(&[u8]) -> bool,
) -> Result<Option<usize>, HandshakeError> {
    // The parser looks at the head only, or at everything when incomplete.
    count_work(match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        _ => window.len(),
    });
    match parsed {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) if buf_len >= limits.max_head_size => Err(HandshakeError::HeadTooLarge),
        Ok(httparse::Status::Partial) if eof => Err(HandshakeError::Truncated),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(map_parse_error(e, looks_like_http(window))),
    }
}

/// Maps an httparse error. `Version` errors become `HttpVersion` when the
/// version field at least starts like an HTTP version (`HTTP/2.0`), else
/// `Malformed`.
pub(super) fn map_parse_error(err: httparse::Error, looks_like_http: bool) -> HandshakeError {
    match err {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        httparse::Error::Version if looks_like_http => HandshakeError::HttpVersion,
        httparse::Error::Version => HandshakeError::Malformed("invalid HTTP version"),
        httparse::Error::HeaderName => HandshakeError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::Malformed("invalid header value"),
        httparse::Error::NewLine => HandshakeError::Malformed("invalid line ending"),
        httparse::Error::Status => HandshakeError::Malformed("invalid status line"),
        httparse::Error::Token => HandshakeError::Malformed("invalid token in start line"),
    }
}

/// A header array sized by the limit. `max_headers` comes from local
/// configuration, not from the peer.
pub(super) fn header_slots(limits: Limits) -> Vec<httparse::Header<'static>> {
    alloc::vec![httparse::EMPTY_HEADER; limits.max_headers]
}

/// Header slots a head is first parsed into on the stack (1 KiB): a head
/// with more fields is parsed again into [`header_slots`].
pub(super) const STACK_SLOTS: usize = 32;

/// The standard reason phrase of a status code (RFC 7231 §6.1, RFC 6585).
pub(super) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1_3_vector() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // Surrounding whitespace is ignored (§4.1 response step 4).
        assert_eq!(accept_key(b" dGhlIHNhbXBsZSBub25jZQ==\t"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(GUID.len(), 36);
    }

    #[test]
    fn nonce_encoding() {
        // §4.1 item 7 example bytes (the RFC prints a non-canonical encoding
        // of them; this is the canonical one).
        let nonce = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        assert_eq!(key_from_nonce(nonce), "AQIDBAUGBwgJCgsMDQ4PEA==");
    }

    #[test]
    fn token_lists() {
        let h: Headers = alloc::vec![
            ("Connection".into(), "keep-alive, Upgrade".into()),
            ("upgrade".into(), "WebSocket".into()),
            ("X".into(), " , a ,,\tb , ".into()),
        ];
        assert!(list_contains(&h, "connection", "upgrade"));
        assert!(list_contains(&h, "CONNECTION", "keep-alive"));
        assert!(list_contains(&h, "Upgrade", "websocket"));
        assert!(!list_contains(&h, "Upgrade", "web"));
        let x: Vec<&str> = header_values(&h, "x").flat_map(list_elements).collect();
        assert_eq!(x, ["a", "b"]);
        assert!(is_token("permessage-deflate"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("a\"b"));
        assert!(is_field_value("a\tb é"));
        assert!(!is_field_value("a\r\nb"));
        assert_eq!(trim_ows(" \ta \t"), "a");
        assert_eq!(trim_ows_bytes(b" \t "), b"");
    }

    #[test]
    fn tchar_table_is_rfc_7230s() {
        let spec = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
        for b in 0..=255u8 {
            assert_eq!(is_tchar(b), spec(b), "{b:#x}");
        }
    }

    #[test]
    fn each_side_reserves_exactly_its_own_fields() {
        assert_eq!(client::CLIENT_RESERVED, RESERVED);
        // A 101: everything but the request's own Host and Origin.
        assert_eq!(server::ACCEPT_RESERVED, &RESERVED[2..]);
        assert!(!["host", "origin"].iter().any(|n| name_in(n, server::ACCEPT_RESERVED)));
        assert!(name_in("Sec-WebSocket-Accept", server::ACCEPT_RESERVED));
        assert_eq!(server::RESPONSE_RESERVED, ["connection", "content-length", "transfer-encoding"]);
    }

    #[test]
    fn every_status_has_a_phrase_where_known() {
        assert_eq!(reason_phrase(426), "Upgrade Required");
        assert_eq!(reason_phrase(599), "");
    }
}

/// Mutated heads (proptest): no input panics, a head that parses is
/// `Partial` at every shorter prefix, and the answer to it is well formed.
/// (The `handshake_request` / `handshake_response` fuzz targets go further.)
#[cfg(test)]
mod mutated {
    use super::*;

    use proptest::prelude::*;

    const SEEDS_REQ: &[&[u8]] = &[b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
          Sec-WebSocket-Extensions: permessage-deflate; a=\"1\", x\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n"];
    const SEEDS_RESP: &[&[u8]] = &[
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\
          Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nabc",
    ];
    const ALPHABET: &[u8] = b"\r\n :;,=\"\\/?#[]@%0123456789abcdefxyzGETHTPws\t\x00\x7f\xff";

    /// One of `seeds` with one to four bytes replaced, removed or inserted.
    fn mutated(seeds: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
        let edit = (0u8..3, any::<prop::sample::Index>(), prop::sample::select(ALPHABET));
        (prop::sample::select(seeds), prop::collection::vec(edit, 1..=4)).prop_map(|(seed, edits)| {
            let mut v = seed.to_vec();
            for (op, at, byte) in edits {
                let at = at.index(v.len() + 1);
                match op {
                    0 if at < v.len() => v[at] = byte,
                    1 if at < v.len() => {
                        v.remove(at);
                    }
                    _ => v.insert(at, byte),
                }
            }
            v
        })
    }

    const LIMITS: Limits = Limits { max_head_size: 1024, max_headers: 16 };

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn mutated_requests(input in mutated(SEEDS_REQ)) {
            match parse_request(&input, LIMITS) {
                Ok(RequestParse::Complete(r, n)) => {
                    for i in (0..n).step_by(7) {
                        prop_assert_eq!(parse_request(&input[..i], LIMITS), Ok(RequestParse::Partial));
                    }
                    let out = write_accept(&r, &Accept::new());
                    prop_assert!(out.starts_with(b"HTTP/1.1 101 ") && out.ends_with(b"\r\n\r\n"));
                }
                Err(e) => {
                    let mut out = Vec::new();
                    write_error_response(&e, &mut out);
                    prop_assert_eq!(out.is_empty(), e.status().is_none());
                }
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&input);
            let _ = parse_extensions(&text);
        }

        #[test]
        fn mutated_responses(input in mutated(SEEDS_RESP)) {
            let req = ClientRequest::new("ws://h/")
                .unwrap()
                .protocol("chat")
                .extension(ExtensionOffer::new("permessage-deflate"));
            let key = "dGhlIHNhbXBsZSBub25jZQ==";
            for eof in [false, true] {
                if let Ok(ResponseParse::Accepted(_, n) | ResponseParse::Rejected(_, n)) =
                    parse_response(&input, eof, &req, key, LIMITS)
                {
                    for i in (0..n).step_by(5).filter(|_| !eof) {
                        prop_assert_eq!(parse_response(&input[..i], false, &req, key, LIMITS), Ok(ResponseParse::Partial));
                    }
                }
            }
            let _ = ClientRequest::new(&String::from_utf8_lossy(&input));
        }
    }
}
