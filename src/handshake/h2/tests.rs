//! What needs an `Accept` whose agreed extensions are set by hand (a
//! private field): the answers built with them, and what the client makes
//! of them. Everything else about RFC 8441's extended CONNECT goes through
//! the public API, in tests/h2_handshake.rs.

use super::*;
use alloc::vec;

/// A client offering the subprotocols chat and superchat, permessage-deflate
/// (with a parameter) and x-ext.
fn client() -> ClientRequest {
    let deflate = ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None);
    let req = ClientRequest::new("wss://server.example.com/chat").unwrap().protocol("chat").protocol("superchat");
    req.extension(deflate).extension(ExtensionOffer::new("x-ext"))
}

fn owned(fields: &[(String, String)]) -> impl Iterator<Item = (&str, &[u8])> {
    fields.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// What a server reads from `req`'s request.
fn connect(req: &ClientRequest) -> ConnectRequest {
    ConnectRequest::from_fields(owned(&request_fields(req))).unwrap()
}

#[test]
fn response_fields_exact_and_checked() {
    let req = connect(&client());
    let mut accept = Accept::new().protocol("superchat").header("Set-Cookie", "a=b").header("X-Y", " z ");
    accept.extensions = vec![ExtensionOffer::new("permessage-deflate").param("server_no_context_takeover", None)];
    assert_eq!(
        pairs(&response_fields(&req, &accept).unwrap()),
        [
            (":status", "200"),
            ("sec-websocket-protocol", "superchat"),
            ("sec-websocket-extensions", "permessage-deflate; server_no_context_takeover"),
            ("set-cookie", "a=b"),
            ("x-y", "z"),
        ]
    );
    assert_eq!(pairs(&response_fields(&req, &Accept::new()).unwrap()), [(":status", "200")]);

    let refused = |accept: Accept| response_fields(&req, &accept).unwrap_err();
    assert_eq!(refused(Accept::new().protocol("nope")), UsageError::UnofferedProtocol("nope".into()));
    let mut other = Accept::new();
    other.extensions = vec![ExtensionOffer::new("x-other")];
    assert_eq!(refused(other), UsageError::UnofferedExtension("x-other".into()));
    let mut invalid = Accept::new();
    invalid.extensions = vec![ExtensionOffer::new("permessage-deflate").param("a b", None)];
    assert_eq!(refused(invalid), UsageError::InvalidExtension("permessage-deflate".into()));
    for name in [
        "Sec-WebSocket-Accept",
        "sec-websocket-protocol",
        "Upgrade",
        "connection",
        "Content-Length",
        "transfer-encoding",
        "keep-alive",
        "Proxy-Connection",
        "te",
    ] {
        assert_eq!(refused(Accept::new().header(name, "x")), UsageError::ReservedHeader(name.into()), "{name}");
    }
    assert_eq!(refused(Accept::new().header(":status", "101")), UsageError::InvalidHeader(":status".into()));
    assert_eq!(refused(Accept::new().header("x", "a\nb")), UsageError::InvalidHeader("x".into()));
}

#[test]
fn round_trip_client_server_client() {
    let req = client().origin("https://o.example").header("Cookie", "id=1");
    check_request(&req).unwrap();
    let fields = request_fields(&req);
    let connect = ConnectRequest::from_fields(owned(&fields)).unwrap();
    assert_eq!(connect.path(), req.resource());
    assert_eq!(connect.authority(), req.host_header());
    assert_eq!(connect.protocols(), req.protocols());
    assert_eq!(connect.extensions(), req.extensions());
    assert_eq!(connect.origin(), Some("https://o.example"));
    assert_eq!(connect.header("cookie"), Some("id=1"));
    let mut accept = Accept::new().protocol("superchat").header("Set-Cookie", "s=2");
    accept.extensions = vec![ExtensionOffer::new("x-ext")];
    let answer = response_fields(&connect, &accept).unwrap();
    let accepted = validate_response(&req, 200, owned(&answer)).unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("superchat"));
    assert_eq!(accepted.extensions, [ExtensionOffer::new("x-ext")]);
    assert_eq!(accepted.headers.last(), Some(&("set-cookie".into(), "s=2".into())));
}

#[cfg(feature = "http")]
mod http_conversions {
    use super::*;
    use ::http::{HeaderValue, StatusCode, Version};

    #[test]
    fn accept_response_and_validate_http_response() {
        let req = client();
        let connect = ConnectRequest::from_http(&client_request(&req), Some("websocket")).unwrap();
        let mut accept = Accept::new().protocol("chat").header("Set-Cookie", "a=b");
        accept.extensions = vec![ExtensionOffer::new("x-ext")];
        let resp = accept_response(&connect, &accept).unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_2);
        let regular: Vec<(&str, &str)> =
            resp.headers().iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(regular, pairs(&response_fields(&connect, &accept).unwrap())[1..]);
        let accepted = validate_http_response(&req, &resp).unwrap();
        assert_eq!(accepted.protocol.as_deref(), Some("chat"));
        assert_eq!(accepted.extensions, [ExtensionOffer::new("x-ext")]);
        assert_eq!(
            accepted,
            validate_response(&req, 200, owned(&response_fields(&connect, &accept).unwrap())).unwrap()
        );

        assert_eq!(
            accept_response(&connect, &Accept::new().protocol("nope")).err(),
            Some(UsageError::UnofferedProtocol("nope".into()))
        );
        assert_eq!(
            accept_response(&connect, &Accept::new().header("TE", "trailers")).err(),
            Some(UsageError::ReservedHeader("TE".into()))
        );

        let mut resp = accept_response(&connect, &Accept::new()).unwrap();
        *resp.version_mut() = Version::HTTP_11;
        assert_eq!(validate_http_response(&req, &resp), Err(HandshakeError::HttpVersion));
        *resp.status_mut() = StatusCode::FORBIDDEN;
        resp.headers_mut().insert("x-a", HeaderValue::from_static("1"));
        match validate_http_response(&req, &resp) {
            Err(HandshakeError::Rejected(r)) => {
                assert_eq!((r.status, r.reason.as_str()), (403, "Forbidden"));
                assert_eq!(r.headers, vec![("x-a".into(), "1".into())]);
            }
            other => panic!("{other:?}"),
        }
        let mut refused = http::Response::new(());
        *refused.status_mut() = StatusCode::NOT_FOUND;
        *refused.version_mut() = Version::HTTP_2;
        assert!(matches!(
            validate_http_response(&req, &refused),
            Err(HandshakeError::Rejected(r)) if r.status == 404
        ));
        let mut resp = http::Response::new(());
        *resp.version_mut() = Version::HTTP_2;
        resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("nope"));
        assert_eq!(validate_http_response(&req, &resp), Err(HandshakeError::UnofferedProtocol("nope".into())));
    }
}
