//! The extended CONNECT with the `http` crate's types, for HTTP/2 libraries
//! built on them (hyper, h2).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use http::header::{HeaderName, HeaderValue};

use super::{ConnectRejection, ConnectRequest, request_fields, response_fields, validate_response};
use crate::handshake::{Accept, Accepted, ClientRequest, HandshakeError, UsageError};

impl ConnectRequest {
    /// Checks an extended CONNECT received as an `http::Request` (RFC 8441
    /// §4–5), with the checks of [`from_fields`](Self::from_fields).
    ///
    /// `http` has no place for the `:protocol` pseudo-header field: the
    /// HTTP/2 library hands it over apart (hyper as the request extension
    /// `hyper::ext::Protocol`, whose `as_str()` goes in `protocol`); `None`
    /// is a CONNECT without one ([`ConnectRejection::MissingProtocol`]).
    /// The version must be HTTP/2 ([`ConnectRejection::NotHttp2`]); the
    /// method is `:method`, and `:scheme`, `:authority` and `:path` come
    /// from the URI (absolute, as an HTTP/2 server builds it), each missing
    /// when the URI lacks it.
    pub fn from_http<B>(req: &http::Request<B>, protocol: Option<&str>) -> Result<Self, ConnectRejection> {
        if req.version() != http::Version::HTTP_2 {
            return Err(ConnectRejection::NotHttp2);
        }
        let uri = req.uri();
        let mut pseudo: Vec<(&str, &[u8])> = Vec::with_capacity(5);
        pseudo.push((":method", req.method().as_str().as_bytes()));
        if let Some(p) = protocol {
            pseudo.push((":protocol", p.as_bytes()));
        }
        if let Some(s) = uri.scheme_str() {
            pseudo.push((":scheme", s.as_bytes()));
        }
        if let Some(pq) = uri.path_and_query() {
            pseudo.push((":path", pq.as_str().as_bytes()));
        }
        if let Some(a) = uri.authority() {
            pseudo.push((":authority", a.as_str().as_bytes()));
        }
        let regular = req.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        Self::from_fields(pseudo.into_iter().chain(regular))
    }
}

impl ConnectRejection {
    /// The refusing response as an `http::Response` (version HTTP/2, empty
    /// body): [`status`](Self::status) and [`headers`](Self::headers).
    pub fn to_http(&self) -> http::Response<()> {
        let mut out = http::Response::new(());
        // Every status here is a valid code; on failure 200 would stay.
        if let Ok(status) = http::StatusCode::from_u16(self.status()) {
            *out.status_mut() = status;
        }
        *out.version_mut() = http::Version::HTTP_2;
        for (name, value) in self.headers() {
            out.headers_mut().append(*name, HeaderValue::from_static(value));
        }
        out
    }
}

/// Fills an `http` header map with the regular fields of `fields`; a pair
/// `http` refuses is [`UsageError::InvalidHeader`] (none, for fields that
/// passed this module's checks).
fn fill(map: &mut http::HeaderMap, fields: &[(String, String)]) -> Result<(), UsageError> {
    for (name, value) in fields.iter().filter(|(n, _)| !n.starts_with(':')) {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                map.append(n, v);
            }
            _ => return Err(UsageError::InvalidHeader(name.clone())),
        }
    }
    Ok(())
}

/// The server's `200` accepting an extended CONNECT (RFC 8441 §5) as an
/// `http::Response` (version HTTP/2, empty body), with the fields and the
/// checks of [`response_fields`]. Start the
/// connection with
/// `Connection::open_server(config).with_extensions(accept.extensions())`.
pub fn accept_response(req: &ConnectRequest, accept: &Accept) -> Result<http::Response<()>, UsageError> {
    let fields = response_fields(req, accept)?;
    let mut out = http::Response::new(());
    *out.status_mut() = http::StatusCode::OK;
    *out.version_mut() = http::Version::HTTP_2;
    fill(out.headers_mut(), &fields)?;
    Ok(out)
}

/// The client's extended CONNECT (RFC 8441 §4–5) as an `http::Request`:
/// method CONNECT, the absolute URI `https://{authority}{path}` (`http`
/// for `ws://`), from which an HTTP/2 library takes `:scheme`,
/// `:authority` and `:path`; version HTTP/2; the regular fields of
/// [`request_fields`]. Call
/// [`check_request`](super::check_request) first.
///
/// `http` has no place for `:protocol`: the caller adds it, with hyper
/// `req.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"))`.
pub fn client_request(req: &ClientRequest) -> http::Request<()> {
    let fields = request_fields(req);
    let mut out = http::Request::new(());
    *out.method_mut() = http::Method::CONNECT;
    let scheme = if req.is_secure() { "https" } else { "http" };
    // Host and resource passed `ClientRequest::new`'s RFC 3986 checks, so
    // this is a valid absolute URI; on failure the default `/` stays.
    if let Ok(uri) = http::Uri::try_from(format!("{scheme}://{}{}", req.host_header(), req.resource())) {
        *out.uri_mut() = uri;
    }
    *out.version_mut() = http::Version::HTTP_2;
    // The regular fields passed the writers' filters: `http` takes them.
    let _ = fill(out.headers_mut(), &fields);
    out
}

/// Checks the server's answer to an extended CONNECT received as an
/// `http::Response` (RFC 8441 §5), as [`validate_response`]
/// does: a status other than 2xx is [`HandshakeError::Rejected`] (the body
/// is the caller's to read); a 2xx must be HTTP/2
/// ([`HandshakeError::HttpVersion`]) and is checked into the [`Accepted`]
/// a 101 gives.
pub fn validate_http_response<B>(req: &ClientRequest, resp: &http::Response<B>) -> Result<Accepted, HandshakeError> {
    let status = resp.status().as_u16();
    if resp.status().is_success() && resp.version() != http::Version::HTTP_2 {
        return Err(HandshakeError::HttpVersion);
    }
    validate_response(req, status, resp.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes())))
}
