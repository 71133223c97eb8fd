//! The server's answers to a request (RFC 6455 §4.2.2): the 101 that
//! accepts an upgrade, and any other response.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::Request;
use crate::handshake::extensions::join_extensions;
use crate::handshake::{
    AcceptKey, ExtensionOffer, HandshakeError, Headers, Offers, UsageError, VERSION, check_extra_headers, is_token,
    put_header, reason_phrase, writable_header,
};

/// Header names a 101 response writes itself (RFC 6455 §4.2.2 step 5);
/// [`Accept::header`] may not use them.
pub(crate) const ACCEPT_RESERVED: &[&str] = crate::handshake::RESERVED.split_at(2).1;

/// Header names any other response writes itself (framing and
/// `Connection: close`).
pub(crate) const RESPONSE_RESERVED: &[&str] = crate::handshake::RESERVED.split_at(3).1.split_at(3).0;

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
pub(crate) fn validate_accept<R: Offers + ?Sized>(req: &R, accept: &Accept) -> Result<(), UsageError> {
    check_offers(req, accept)?;
    check_extra_headers(&accept.headers, ACCEPT_RESERVED)
}

/// The offer checks of [`validate_accept`], shared with the RFC 8441
/// answer: the subprotocol was offered (`UnofferedProtocol`); every
/// extension is valid §9.1 (`InvalidExtension`) and was offered
/// (`UnofferedExtension`).
pub(crate) fn check_offers<R: Offers + ?Sized>(req: &R, accept: &Accept) -> Result<(), UsageError> {
    if let Some(p) = &accept.protocol {
        if !req.offered_protocols().contains(p) {
            return Err(UsageError::UnofferedProtocol(p.clone()));
        }
    }
    if !accept.extensions.is_empty() {
        let offered = req.offered_extensions();
        for e in &accept.extensions {
            if !e.is_valid() {
                return Err(UsageError::InvalidExtension(e.name.clone()));
            }
            if !offered.iter().any(|o| o.name.eq_ignore_ascii_case(&e.name)) {
                return Err(UsageError::UnofferedExtension(e.name.clone()));
            }
        }
    }
    Ok(())
}

/// Hands each header field of the 101 response to `field`, in the order
/// written (RFC 6455 §4.2.2 step 5). Parts that fail [`validate_accept`]'s
/// syntax checks are left out, so unchecked input cannot inject header
/// lines.
#[cfg(feature = "http")]
pub(crate) fn accept_fields(req: &Request, accept: &Accept, field: impl FnMut(&str, &str)) {
    let key = AcceptKey::new(req.key().as_bytes());
    let extensions = accept_extensions(accept);
    fields_of_101(key.as_str(), extensions.as_deref(), accept, field);
}

/// The `Sec-WebSocket-Extensions` value of the 101 (or of an RFC 8441
/// 200): the valid agreed extensions, joined (RFC 6455 §9.1); `None`
/// without any.
pub(crate) fn accept_extensions(accept: &Accept) -> Option<String> {
    let mut exts = accept.extensions.iter().filter(|e| e.is_valid()).peekable();
    exts.peek().is_some().then(|| join_extensions(exts))
}

/// [`accept_fields`] with the `Sec-WebSocket-Accept` and
/// `Sec-WebSocket-Extensions` values worked out.
fn fields_of_101(key: &str, extensions: Option<&str>, accept: &Accept, mut field: impl FnMut(&str, &str)) {
    field("Upgrade", "websocket");
    field("Connection", "Upgrade");
    field("Sec-WebSocket-Accept", key);
    if let Some(p) = accept.protocol.as_deref().filter(|p| is_token(p)) {
        field("Sec-WebSocket-Protocol", p);
    }
    if let Some(e) = extensions {
        field("Sec-WebSocket-Extensions", e);
    }
    for (name, value) in &accept.headers {
        if writable_header(name, value, ACCEPT_RESERVED) {
            field(name, value);
        }
    }
}

/// The 101 Switching Protocols response (RFC 6455 §4.2.2 step 5), in a
/// vector of exactly its length:
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
pub(crate) fn write_accept(req: &Request, accept: &Accept) -> Vec<u8> {
    const STATUS: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n";
    let key = AcceptKey::new(req.key().as_bytes());
    let key = key.as_str();
    let extensions = accept_extensions(accept);
    let mut len = STATUS.len() + 2;
    fields_of_101(key, extensions.as_deref(), accept, |name, value| len += name.len() + value.len() + 4);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(STATUS);
    fields_of_101(key, extensions.as_deref(), accept, |name, value| put_header(&mut out, name, value));
    out.extend_from_slice(b"\r\n");
    debug_assert_eq!(out.len(), len);
    out
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
