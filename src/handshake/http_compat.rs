//! Conversions to and from the `http` crate's types, for servers and clients
//! built on hyper, axum and the like (RFC 6455 §4 over someone else's HTTP
//! parser).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use http::header::{HeaderName, HeaderValue};

use super::client::{ClientRequest, Rejection, check_switching};
use super::server::{Accept, Checked, Request, accept_fields, validate_accept, validate_request};
use super::{HandshakeError, Headers, UsageError};

/// Copies an `http` header map into owned pairs; a non-UTF-8 value is
/// [`HandshakeError::Malformed`], as for heads parsed here.
fn owned(map: &http::HeaderMap) -> Result<Headers, HandshakeError> {
    map.iter()
        .map(|(name, value)| {
            let v = core::str::from_utf8(value.as_bytes())
                .map_err(|_| HandshakeError::Malformed("header value is not UTF-8"))?;
            Ok((String::from(name.as_str()), String::from(v)))
        })
        .collect()
}

/// Fills an `http` header map, skipping pairs `http` refuses (none, for
/// values that passed this module's checks).
fn fill<'a>(map: &mut http::HeaderMap, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            map.append(n, v);
        }
    }
}

impl<B> TryFrom<&http::Request<B>> for Request {
    type Error = HandshakeError;

    /// Checks an `http` request as an opening handshake, with the same
    /// checks and errors as the wire parser (RFC 6455 §4.2.1). Only
    /// HTTP/1.0 and HTTP/1.1 requests can be upgrades; HTTP/2 and later are
    /// [`HandshakeError::HttpVersion`] (an RFC 8441 extended CONNECT goes
    /// through [`ConnectRequest::from_http`](super::h2::ConnectRequest::from_http)).
    /// Header names are those of the `http` map (lower case).
    fn try_from(req: &http::Request<B>) -> Result<Self, HandshakeError> {
        let version = match req.version() {
            http::Version::HTTP_10 => 0,
            http::Version::HTTP_11 => 1,
            _ => return Err(HandshakeError::HttpVersion),
        };
        let mut target = req.uri().to_string();
        if target.is_empty() {
            target.push('/');
        }
        let request = Self::from_fields(req.method().as_str(), &target, version, req.headers())?;
        match validate_request(request)? {
            Checked::Upgrade(request) => Ok(request),
            Checked::Plain(_) => Err(HandshakeError::NotUpgrade),
        }
    }
}

impl Request {
    /// Parses an `http` request like `TryFrom` does (RFC 6455 §4.2.1).
    pub fn from_http<B>(req: &http::Request<B>) -> Result<Self, HandshakeError> {
        Self::try_from(req)
    }

    /// The request as an `http::Request` with an empty body, e.g. to pass
    /// it on to an HTTP router (RFC 6455 §4.2.1). Method, target, version
    /// and headers are those received.
    pub fn to_http(&self) -> http::Request<()> {
        let mut out = http::Request::new(());
        // Received requests carry httparse- or http-validated method and
        // target, so these conversions succeed; on failure the defaults
        // (GET, `/`) stay.
        if let Ok(m) = http::Method::from_bytes(self.method().as_bytes()) {
            *out.method_mut() = m;
        }
        if let Ok(u) = http::Uri::try_from(self.path()) {
            *out.uri_mut() = u;
        }
        *out.version_mut() = if self.version() == 0 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
        fill(out.headers_mut(), self.headers());
        out
    }
}

/// Builds the 101 Switching Protocols response accepting `req` (RFC 6455
/// §4.2.2 step 5), for a server whose HTTP layer (e.g. hyper's upgrade)
/// writes it. The acceptance is checked first, as for a 101 written by the
/// connection: an unoffered
/// subprotocol is [`UsageError::UnofferedProtocol`], and so on.
///
/// Pass an `Accept` that went through [`Accept::negotiate`] to choose the
/// subprotocol and answer permessage-deflate as the connection would, and
/// start the connection with
/// `Connection::open_server(config).with_extensions(accept.extensions())`.
pub fn accept_response(req: &Request, accept: &Accept) -> Result<http::Response<()>, UsageError> {
    validate_accept(req, accept)?;
    let mut out = http::Response::new(());
    *out.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    *out.version_mut() = http::Version::HTTP_11;
    let mut failed = None;
    accept_fields(req, accept, |name, value| {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                out.headers_mut().append(n, v);
            }
            _ => {
                failed.get_or_insert_with(|| UsageError::InvalidHeader(name.into()));
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

impl ClientRequest {
    /// The upgrade request as an `http::Request` with an empty body
    /// (RFC 6455 §4.1): `GET`, the /resource name/ as an origin-form target,
    /// HTTP/1.1, and the same headers as the request the connection
    /// writes. Call [`validate`](Self::validate) first; invalid items are
    /// left out. `key_b64` is the `Sec-WebSocket-Key`, e.g. from
    /// [`key_from_nonce`](super::key_from_nonce).
    pub fn to_http(&self, key_b64: &str) -> http::Request<()> {
        let mut out = http::Request::new(());
        // The resource passed the RFC 3986 path and query checks of
        // `ClientRequest::new`, so it is a valid origin-form target; on
        // failure the default `/` stays.
        if let Ok(u) = http::Uri::try_from(self.resource()) {
            *out.uri_mut() = u;
        }
        *out.version_mut() = http::Version::HTTP_11;
        let handshake = self.handshake_headers(key_b64);
        let extra = self.headers().iter().filter(|(n, v)| super::writable_header(n, v, super::client::CLIENT_RESERVED));
        fill(
            out.headers_mut(),
            handshake.iter().map(|(n, v)| (*n, v.as_str())).chain(extra.map(|(n, v)| (n.as_str(), v.as_str()))),
        );
        out
    }
}

/// Checks a server's response received through an `http` client (RFC 6455
/// §4.1), with the same checks as the wire parser. A status other than 101
/// is [`HandshakeError::Rejected`], with an empty body (the body is the
/// caller's to read). A 101 must be HTTP/1.1 ([`HandshakeError::HttpVersion`]).
pub fn validate_response<B>(
    req: &ClientRequest,
    key_b64: &str,
    resp: &http::Response<B>,
) -> Result<super::Accepted, HandshakeError> {
    let headers = owned(resp.headers())?;
    let status = resp.status();
    if status != http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(HandshakeError::Rejected(Box::new(Rejection {
            status: status.as_u16(),
            reason: String::from(status.canonical_reason().unwrap_or("")),
            headers,
            body: Vec::new(),
        })));
    }
    if resp.version() != http::Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    check_switching(headers, req, key_b64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{ExtensionOffer, Limits, RequestParse, parse_request, write_request};
    use alloc::vec;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn client() -> ClientRequest {
        ClientRequest::new("ws://server.example.com:8080/chat?room=1")
            .unwrap()
            .origin("http://example.com")
            .protocol("chat")
            .protocol("superchat")
            .extension(ExtensionOffer::new("permessage-deflate"))
            .header("Cookie", "a=b")
    }

    #[test]
    fn client_to_http_round_trips_through_server_checks() {
        let creq = client();
        let hreq = creq.to_http(KEY);
        assert_eq!(hreq.method(), http::Method::GET);
        assert_eq!(hreq.uri(), "/chat?room=1");
        assert_eq!(hreq.version(), http::Version::HTTP_11);
        assert_eq!(hreq.headers()["host"], "server.example.com:8080");
        assert_eq!(hreq.headers()["cookie"], "a=b");
        let sreq = Request::try_from(&hreq).unwrap();
        assert_eq!(sreq.key(), KEY);
        assert_eq!(sreq.path(), "/chat?room=1");
        assert_eq!(sreq.protocols(), ["chat", "superchat"]);
        assert_eq!(sreq.extensions(), [ExtensionOffer::new("permessage-deflate")]);

        // The same request on the wire parses to the same values.
        let mut wire = Vec::new();
        write_request(&creq, KEY, &mut wire);
        let limits = Limits { max_head_size: 4096, max_headers: 32 };
        let Ok(RequestParse::Complete(w, _)) = parse_request(&wire, limits) else { panic!() };
        assert_eq!(w.protocols(), sreq.protocols());
        assert_eq!(w.extensions(), sreq.extensions());
        assert_eq!(w.host(), sreq.host());
        // Back to http.
        let again = w.to_http();
        assert_eq!(again.uri(), "/chat?room=1");
        assert_eq!(again.headers().len(), hreq.headers().len());
        // (`http` lower-cases header names; everything else is the same.)
        assert_eq!(Request::from_http(&again), Ok(sreq.clone()));
        assert_eq!(w.headers().next(), Some(("Host", "server.example.com:8080")));

        // Accept, and let the client check the answer.
        let mut accept = Accept::new().protocol("chat");
        accept.extensions = vec![ExtensionOffer::new("permessage-deflate")];
        let resp = accept_response(&sreq, &accept).unwrap();
        assert_eq!(resp.status(), 101);
        assert_eq!(resp.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let ok = validate_response(&creq, KEY, &resp).unwrap();
        assert_eq!(ok.protocol.as_deref(), Some("chat"));
        assert_eq!(ok.extensions, [ExtensionOffer::new("permessage-deflate")]);

        assert_eq!(
            accept_response(&sreq, &Accept::new().protocol("nope")).err(),
            Some(UsageError::UnofferedProtocol("nope".into()))
        );
    }

    #[test]
    fn http_errors() {
        let mut h = client().to_http(KEY);
        *h.version_mut() = http::Version::HTTP_2;
        assert_eq!(Request::try_from(&h), Err(HandshakeError::HttpVersion));
        let mut h = client().to_http(KEY);
        h.headers_mut().remove("sec-websocket-version");
        assert_eq!(Request::try_from(&h), Err(HandshakeError::UnsupportedVersion(None)));
        let mut h = client().to_http(KEY);
        h.headers_mut().insert("x-bin", HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(Request::try_from(&h), Err(HandshakeError::Malformed("header value is not UTF-8")));
        let mut h = client().to_http(KEY);
        h.headers_mut().remove("upgrade");
        assert_eq!(Request::try_from(&h), Err(HandshakeError::NotUpgrade));

        let mut resp = http::Response::new(());
        *resp.status_mut() = http::StatusCode::FORBIDDEN;
        resp.headers_mut().insert("x-a", HeaderValue::from_static("1"));
        match validate_response(&client(), KEY, &resp) {
            Err(HandshakeError::Rejected(r)) => {
                assert_eq!(r.status, 403);
                assert_eq!(r.reason, "Forbidden");
                assert_eq!(r.headers, vec![("x-a".into(), "1".into())]);
                assert!(r.body.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let mut resp = http::Response::new(());
        *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        *resp.version_mut() = http::Version::HTTP_10;
        assert_eq!(validate_response(&client(), KEY, &resp), Err(HandshakeError::HttpVersion));
        *resp.version_mut() = http::Version::HTTP_11;
        assert_eq!(validate_response(&client(), KEY, &resp), Err(HandshakeError::MissingUpgrade));
    }
}
