use super::*;
use crate::config::Config;
use crate::handshake::client::check_switching;
use crate::handshake::{Limits, Request, RequestParse, accept_key, parse_request, write_accept, write_request};
use alloc::vec;

/// The request of RFC 8441 §5.1 ("Example"), field for field.
const RFC_8441_5_1_REQUEST: [(&str, &str); 9] = [
    (":method", "CONNECT"),
    (":protocol", "websocket"),
    (":scheme", "https"),
    (":path", "/chat"),
    (":authority", "server.example.com"),
    ("sec-websocket-protocol", "chat, superchat"),
    ("sec-websocket-extensions", "permessage-deflate"),
    ("sec-websocket-version", "13"),
    ("origin", "http://www.example.com"),
];

/// The response of RFC 8441 §5.1: `:status = 200`,
/// `sec-websocket-protocol = chat`.
const RFC_8441_5_1_RESPONSE: [(&str, &str); 2] = [(":status", "200"), ("sec-websocket-protocol", "chat")];

fn parse(fields: &[(&str, &str)]) -> Result<ConnectRequest, ConnectRejection> {
    ConnectRequest::from_fields(fields.iter().map(|(n, v)| (*n, v.as_bytes())))
}

fn owned(fields: &[(String, String)]) -> impl Iterator<Item = (&str, &[u8])> {
    fields.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// The §5.1 request with `edit` applied.
fn example_with(edit: impl FnOnce(&mut Vec<(&'static str, &'static str)>)) -> Result<ConnectRequest, ConnectRejection> {
    let mut fields = RFC_8441_5_1_REQUEST.to_vec();
    edit(&mut fields);
    parse(&fields)
}

#[test]
fn rfc_8441_example_request_parses() {
    let req = parse(&RFC_8441_5_1_REQUEST).unwrap();
    assert_eq!(req.scheme(), "https");
    assert!(req.is_secure());
    assert_eq!(req.authority(), "server.example.com");
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.protocols(), ["chat", "superchat"]);
    assert_eq!(req.extensions(), [ExtensionOffer::new("permessage-deflate")]);
    assert_eq!(req.origin(), Some("http://www.example.com"));
    assert_eq!(req.headers().len(), 4);
    assert_eq!(req.headers().next(), Some(("sec-websocket-protocol", "chat, superchat")));
    assert_eq!(req.header("Sec-WebSocket-Version"), Some("13"));
    assert_eq!(req.header("host"), None);
}

#[test]
fn rfc_8441_example_answer_and_response() {
    let req = parse(&RFC_8441_5_1_REQUEST).unwrap();
    let accept = Accept::new().protocol("chat");
    let fields = response_fields(&req, &accept).unwrap();
    assert_eq!(pairs(&fields), RFC_8441_5_1_RESPONSE);

    let client = ClientRequest::new("wss://server.example.com/chat")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate"))
        .origin("http://www.example.com");
    let got = validate_response(&client, 200, RFC_8441_5_1_RESPONSE.iter().map(|(n, v)| (*n, v.as_bytes()))).unwrap();
    assert_eq!(got.protocol.as_deref(), Some("chat"));
    assert!(got.extensions.is_empty());
    assert_eq!(got.headers, vec![("sec-websocket-protocol".into(), "chat".into())]);
}

#[test]
fn request_fields_exact() {
    let req = ClientRequest::new("wss://server.example.com/chat")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate"))
        .origin("http://www.example.com");
    // RFC 8441 §5.1's request, in this module's order.
    assert_eq!(
        pairs(&request_fields(&req)),
        [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":path", "/chat"),
            (":authority", "server.example.com"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "chat, superchat"),
            ("sec-websocket-extensions", "permessage-deflate"),
            ("origin", "http://www.example.com"),
        ]
    );

    // ws://, a port, a query, extra headers lower-cased, reserved and
    // HTTP/2-forbidden ones left out, values trimmed.
    let req = ClientRequest::new("ws://[::1]:8080/a/b?x=1")
        .unwrap()
        .header("Cookie", " a=b ")
        .header("Authorization", "Bearer t")
        .header("Host", "evil")
        .header("Sec-WebSocket-Key", "k")
        .header("Keep-Alive", "5")
        .header("TE", "gzip")
        .header("te", "trailers")
        .header("X-Bad", "a\r\nb");
    assert_eq!(
        pairs(&request_fields(&req)),
        [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", "/a/b?x=1"),
            (":authority", "[::1]:8080"),
            ("sec-websocket-version", "13"),
            ("cookie", "a=b"),
            ("authorization", "Bearer t"),
            ("te", "trailers"),
        ]
    );
    assert_eq!(check_request(&req), Err(UsageError::ReservedHeader("Host".into())));
    let h2_only = ClientRequest::new("ws://h/").unwrap().header("Keep-Alive", "5");
    assert_eq!(h2_only.validate(), Ok(()));
    assert_eq!(check_request(&h2_only), Err(UsageError::ReservedHeader("Keep-Alive".into())));
    assert_eq!(check_request(&ClientRequest::new("ws://h/").unwrap().header("TE", "trailers")), Ok(()));
    // Default ports are left out of :authority (RFC 6455 §4.1 item 4 for Host).
    let req = ClientRequest::new("wss://h:443/").unwrap();
    assert_eq!(request_fields(&req)[4], (":authority".into(), "h".into()));
}

#[test]
fn response_fields_exact_and_checked() {
    let req = parse(&RFC_8441_5_1_REQUEST).unwrap();
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
fn every_rejection_with_its_status() {
    use ConnectRejection as R;
    let no_version = |f: &mut Vec<(&str, &str)>| f.retain(|(n, _)| *n != "sec-websocket-version");
    let set = |name: &'static str, value: &'static str| {
        move |f: &mut Vec<(&'static str, &'static str)>| {
            for field in f.iter_mut().filter(|(n, _)| *n == name) {
                field.1 = value;
            }
        }
    };
    let drop_field =
        |name: &'static str| move |f: &mut Vec<(&'static str, &'static str)>| f.retain(|(n, _)| *n != name);
    let push = |name: &'static str, value: &'static str| {
        move |f: &mut Vec<(&'static str, &'static str)>| f.push((name, value))
    };
    let cases: Vec<(Result<ConnectRequest, ConnectRejection>, ConnectRejection, u16)> = vec![
        (example_with(push("Cookie", "a")), R::UppercaseFieldName("Cookie".into()), 400),
        (example_with(push("x y", "a")), R::InvalidFieldName("x y".into()), 400),
        (example_with(push("", "a")), R::InvalidFieldName("".into()), 400),
        (example_with(push("x", "a\0b")), R::InvalidFieldValue("x".into()), 400),
        (example_with(push("x", "a\r\nb: c")), R::InvalidFieldValue("x".into()), 400),
        (example_with(push("x", " a")), R::InvalidFieldValue("x".into()), 400),
        (example_with(push("x", "a\t")), R::InvalidFieldValue("x".into()), 400),
        (example_with(set(":path", "/a b")), R::InvalidPath, 400),
        (example_with(set(":path", "/a\x01")), R::InvalidFieldValue(":path".into()), 400),
        (example_with(push("connection", "upgrade")), R::ConnectionSpecificField("connection".into()), 400),
        (example_with(push("upgrade", "websocket")), R::ConnectionSpecificField("upgrade".into()), 400),
        (example_with(push("keep-alive", "5")), R::ConnectionSpecificField("keep-alive".into()), 400),
        (example_with(push("proxy-connection", "x")), R::ConnectionSpecificField("proxy-connection".into()), 400),
        (
            example_with(push("transfer-encoding", "chunked")),
            R::ConnectionSpecificField("transfer-encoding".into()),
            400,
        ),
        (example_with(push("te", "gzip")), R::ConnectionSpecificField("te".into()), 400),
        (example_with(push(":scheme", "https")), R::PseudoHeaderAfterRegular(":scheme".into()), 400),
        (example_with(|f| f.insert(1, (":method", "CONNECT"))), R::RepeatedPseudoHeader(":method".into()), 400),
        (example_with(|f| f.insert(0, (":status", "200"))), R::InvalidPseudoHeader(":status".into()), 400),
        (example_with(|f| f.insert(0, (":x", "y"))), R::InvalidPseudoHeader(":x".into()), 400),
        (example_with(set(":method", "GET")), R::InvalidPseudoHeader(":protocol".into()), 400),
        (
            example_with(|f| {
                set(":method", "GET")(f);
                drop_field(":protocol")(f);
            }),
            R::MethodNotConnect("GET".into()),
            405,
        ),
        (example_with(drop_field(":method")), R::MissingPseudoHeader(":method"), 400),
        (example_with(drop_field(":protocol")), R::MissingProtocol, 400),
        (example_with(set(":protocol", "")), R::InvalidProtocol("".into()), 400),
        (example_with(set(":protocol", "web/socket")), R::InvalidProtocol("web/socket".into()), 400),
        (example_with(set(":protocol", "connect-udp")), R::UnsupportedProtocol("connect-udp".into()), 501),
        (example_with(drop_field(":scheme")), R::MissingPseudoHeader(":scheme"), 400),
        (example_with(set(":scheme", "wss")), R::InvalidScheme("wss".into()), 400),
        (example_with(drop_field(":path")), R::MissingPseudoHeader(":path"), 400),
        (example_with(set(":path", "")), R::InvalidPath, 400),
        (example_with(set(":path", "*")), R::InvalidPath, 400),
        (example_with(set(":path", "chat")), R::InvalidPath, 400),
        (example_with(set(":path", "/chat#x")), R::InvalidPath, 400),
        (example_with(set(":path", "/é")), R::InvalidPath, 400),
        (example_with(drop_field(":authority")), R::MissingPseudoHeader(":authority"), 400),
        (example_with(set(":authority", "")), R::InvalidAuthority, 400),
        (example_with(set(":authority", "user@server.example.com")), R::InvalidAuthority, 400),
        (example_with(set(":authority", "a/b")), R::InvalidAuthority, 400),
        (example_with(push("host", "other.example.com")), R::HostMismatch, 400),
        (example_with(push("content-length", "5")), R::UnexpectedContent, 400),
        (example_with(no_version), R::UnsupportedVersion(None), 400),
        (example_with(set("sec-websocket-version", "8")), R::UnsupportedVersion(Some("8".into())), 400),
        (example_with(push("sec-websocket-version", "13")), R::UnsupportedVersion(Some("13, 13".into())), 400),
        (example_with(set("sec-websocket-protocol", "a b")), R::InvalidProtocolHeader, 400),
        (example_with(set("sec-websocket-protocol", ",")), R::InvalidProtocolHeader, 400),
        (example_with(set("sec-websocket-extensions", "a;")), R::InvalidExtensionHeader, 400),
    ];
    for (got, want, status) in cases {
        assert_eq!(got.as_ref().err(), Some(&want));
        assert_eq!(want.status(), status, "{want:?}");
        let msg = want.to_string();
        assert!(msg.contains("RFC "), "{msg}");
        let fields = want.response_fields();
        assert_eq!(fields[0], (":status".into(), status.to_string()));
    }
    assert_eq!(R::NotHttp2.status(), 400);
    assert_eq!(R::UnsupportedVersion(None).headers(), [("sec-websocket-version", "13")]);
    assert_eq!(
        pairs(&R::UnsupportedVersion(None).response_fields()),
        [(":status", "400"), ("sec-websocket-version", "13")]
    );
    assert_eq!(R::MethodNotConnect("GET".into()).headers(), [("allow", "CONNECT")]);
    assert!(R::MissingProtocol.headers().is_empty());
    // Non-UTF-8 values.
    let bad = [(":method", &b"CONNECT"[..]), ("x", b"\xff")];
    assert_eq!(ConnectRequest::from_fields(bad), Err(R::InvalidFieldValue("x".into())));
}

#[test]
fn accepted_variants() {
    // Accepted as they come: host equal to :authority, te: trailers,
    // content-length 0, a key (ignored, RFC 8441 §5), upper-case scheme and
    // protocol, repeated list fields.
    let req = example_with(|f| {
        f.push(("host", "SERVER.example.com"));
        f.push(("te", "trailers"));
        f.push(("content-length", "0"));
        f.push(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="));
        f.push(("sec-websocket-protocol", "v3"));
        f.push(("sec-websocket-extensions", "x-a; p=1, x-b"));
        f.push(("origin", "http://second.example"));
        f.push(("cookie", ""));
    })
    .unwrap();
    assert_eq!(req.protocols(), ["chat", "superchat", "v3"]);
    let names: Vec<&str> = req.extensions().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["permessage-deflate", "x-a", "x-b"]);
    assert_eq!(req.origin(), Some("http://www.example.com"));
    assert_eq!(req.header("cookie"), Some(""));
    let req = example_with(|f| {
        f[1].1 = "WebSocket";
        f[2].1 = "HTTP";
        f[3].1 = "/";
        f[4].1 = "[::1]:8443";
    })
    .unwrap();
    assert_eq!((req.scheme(), req.path(), req.authority()), ("http", "/", "[::1]:8443"));
    assert!(!req.is_secure());
    // Pseudo-header fields in any order among themselves.
    let mut fields = RFC_8441_5_1_REQUEST.to_vec();
    fields[..5].reverse();
    assert_eq!(parse(&fields), parse(&RFC_8441_5_1_REQUEST));
}

fn client() -> ClientRequest {
    ClientRequest::new("wss://server.example.com/chat")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None))
        .extension(ExtensionOffer::new("x-ext"))
}

fn respond(status: u16, fields: &[(&str, &str)]) -> Result<Accepted, HandshakeError> {
    validate_response(&client(), status, fields.iter().map(|(n, v)| (*n, v.as_bytes())))
}

#[test]
fn validate_response_cases() {
    let ok = respond(200, &[("sec-websocket-extensions", "permessage-deflate, x-ext"), ("set-cookie", "a")]).unwrap();
    assert_eq!(ok.protocol, None);
    assert_eq!(ok.extensions, [ExtensionOffer::new("permessage-deflate"), ExtensionOffer::new("x-ext")]);
    assert_eq!(ok.headers.len(), 2);
    // Any 2xx (RFC 8441 §5, RFC 9110 §9.3.6); :status may lead the list.
    assert!(respond(204, &[(":status", "204")]).is_ok());
    // A content-length in a 2xx to CONNECT is ignored (RFC 9110 §9.3.6).
    assert!(respond(200, &[("content-length", "7")]).is_ok());

    let rejected = |status: u16| match respond(status, &[("www-authenticate", "Basic"), ("X-Upper", "1")]) {
        Err(HandshakeError::Rejected(r)) => *r,
        other => panic!("{other:?}"),
    };
    for status in [101, 199, 300, 401, 403, 404, 500, 501] {
        let r = rejected(status);
        assert_eq!(r.status, status);
        assert_eq!(r.reason, reason_phrase(status));
        assert_eq!(r.headers.len(), 2);
        assert!(r.body.is_empty());
    }
    assert_eq!(rejected(401).reason, "Unauthorized");

    let malformed = |fields: &[(&str, &str)]| match respond(200, fields) {
        Err(HandshakeError::Malformed(m)) => m,
        other => panic!("{fields:?}: {other:?}"),
    };
    malformed(&[("Sec-WebSocket-Protocol", "chat")]);
    malformed(&[("x", " padded")]);
    malformed(&[("upgrade", "websocket")]);
    malformed(&[("connection", "Upgrade")]);
    malformed(&[("transfer-encoding", "chunked")]);
    malformed(&[(":path", "/")]);
    malformed(&[("x", "1"), (":status", "200")]);
    malformed(&[(":status", "200"), (":status", "200")]);
    malformed(&[(":status", "201")]);
    assert_eq!(
        validate_response(&client(), 200, [("x", &b"\xff"[..])]),
        Err(HandshakeError::Malformed("header value is not UTF-8"))
    );

    assert_eq!(respond(200, &[("sec-websocket-protocol", "chat")]).unwrap().protocol.as_deref(), Some("chat"));
    assert_eq!(
        respond(200, &[("sec-websocket-protocol", "other")]),
        Err(HandshakeError::UnofferedProtocol("other".into()))
    );
    assert_eq!(
        respond(200, &[("sec-websocket-protocol", "chat"), ("sec-websocket-protocol", "superchat")]),
        Err(HandshakeError::UnofferedProtocol("chat, superchat".into()))
    );
    assert_eq!(
        respond(200, &[("sec-websocket-extensions", "x-other")]),
        Err(HandshakeError::UnofferedExtension("x-other".into()))
    );
    assert_eq!(respond(200, &[("sec-websocket-extensions", "a;")]), Err(HandshakeError::InvalidExtensionHeader));
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

/// The HTTP/1.1 path for the same client request and server answer: the
/// server's `Request` parsed from the written head, and the client's
/// `Accepted` from the 101.
fn http1(req: &ClientRequest, answer: impl Fn(&Request) -> Accept) -> (Accept, Result<Accepted, HandshakeError>) {
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut head = Vec::new();
    write_request(req, KEY, &mut head);
    let limits = Limits { max_head_size: 1 << 16, max_headers: 64 };
    let Ok(RequestParse::Complete(server_req, _)) = parse_request(&head, limits) else { panic!("{head:?}") };
    let accept = answer(&server_req);
    let response = write_accept(&server_req, &accept);
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut slots);
    assert!(parsed.parse(&response).unwrap().is_complete());
    let headers =
        parsed.headers.iter().map(|h| (h.name.into(), String::from_utf8(h.value.to_vec()).unwrap())).collect();
    assert_eq!(accept_key(KEY.as_bytes()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    (accept, check_switching(headers, req, KEY))
}

/// The RFC 8441 path for the same.
fn h2(req: &ClientRequest, answer: impl Fn(&ConnectRequest) -> Accept) -> (Accept, Result<Accepted, HandshakeError>) {
    let fields = request_fields(req);
    let connect = ConnectRequest::from_fields(owned(&fields)).unwrap();
    let accept = answer(&connect);
    let response = response_fields(&connect, &accept).unwrap();
    (accept, validate_response(req, 200, owned(&response)))
}

/// The agreement of an `Accepted`, without the headers (which differ
/// between the versions by design).
fn agreement(a: &Result<Accepted, HandshakeError>) -> Result<(Option<String>, Vec<ExtensionOffer>), HandshakeError> {
    a.clone().map(|a| (a.protocol, a.extensions))
}

mod same_negotiation {
    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["chat", "superchat", "v1", "v2", "mqtt", "x"]).prop_map(String::from)
    }

    /// permessage-deflate offers with every parameter RFC 7692 §7.1
    /// defines, valid values or not, and other extensions.
    fn offer() -> impl Strategy<Value = ExtensionOffer> {
        let param = prop::sample::select(vec![
            ("server_no_context_takeover", None),
            ("client_no_context_takeover", None),
            ("server_max_window_bits", Some("10")),
            ("server_max_window_bits", Some("15")),
            ("server_max_window_bits", Some("7")),
            ("client_max_window_bits", None),
            ("client_max_window_bits", Some("9")),
            ("client_max_window_bits", Some("16")),
            ("unknown", None),
        ]);
        let name = prop::sample::select(vec!["permessage-deflate", "permessage-deflate", "x-webkit", "x-ext"]);
        (name, prop::collection::vec(param, 0..4))
            .prop_map(|(n, ps)| ps.into_iter().fold(ExtensionOffer::new(n), |e, (p, v)| e.param(p, v)))
    }

    fn config() -> impl Strategy<Value = Config> {
        (prop::collection::vec(token(), 0..3), any::<bool>(), any::<bool>(), 8u8..=15).prop_map(
            |(protocols, _deflate, _no_takeover, _bits)| {
                let config = protocols.into_iter().fold(Config::default(), |c, p| c.with_protocol(p));
                #[cfg(feature = "deflate")]
                let config = if _deflate {
                    config.with_deflate(Some(
                        crate::DeflateConfig::default()
                            .with_server_no_context_takeover(_no_takeover)
                            .with_server_max_window_bits(_bits),
                    ))
                } else {
                    config
                };
                config
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// For the same offers and configuration, `Accept::negotiate` on a
        /// `ConnectRequest` answers what it answers on an HTTP/1.1
        /// `Request`, and the client accepts the same agreement.
        #[test]
        fn http1_and_h2_agree(
            protocols in prop::collection::vec(token(), 0..4),
            offers in prop::collection::vec(offer(), 0..4),
            config in config(),
        ) {
            let mut protocols = protocols;
            protocols.dedup();
            let mut seen = Vec::new();
            protocols.retain(|p| if seen.contains(p) { false } else { seen.push(p.clone()); true });
            let req = protocols.iter().fold(ClientRequest::new("wss://h.example/x").unwrap(), |r, p| r.protocol(p.clone()));
            let req = offers.into_iter().fold(req, |r, e| r.extension(e));
            let req = req.negotiate(&config);
            let (a1, r1) = http1(&req, |r| Accept::new().negotiate(r, &config));
            let (a2, r2) = h2(&req, |r| Accept::new().negotiate(r, &config));
            prop_assert_eq!(&a1, &a2);
            prop_assert_eq!(agreement(&r1), agreement(&r2));
            let accepted = r2.unwrap();
            prop_assert_eq!(accepted.check_extensions(&config), r1.unwrap().check_extensions(&config));
        }
    }
}

#[test]
fn negotiate_takes_references_and_pointers() {
    let connect = parse(&RFC_8441_5_1_REQUEST).unwrap();
    let config = Config::default().with_protocol("superchat");
    let direct = Accept::new().negotiate(&connect, &config);
    assert_eq!(direct.selected_protocol(), Some("superchat"));
    assert_eq!(Accept::new().negotiate(&&connect, &config), direct);
    assert_eq!(Accept::new().negotiate(&alloc::sync::Arc::new(connect.clone()), &config), direct);
    assert_eq!(Accept::new().negotiate(&Box::new(connect), &config), direct);
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                ":method",
                ":protocol",
                ":scheme",
                ":path",
                ":authority",
                ":status",
                "host",
                "te",
                "content-length",
                "sec-websocket-version",
                "sec-websocket-protocol",
                "sec-websocket-extensions",
                "origin",
                "Origin",
                "connection",
            ])
            .prop_map(String::from),
            "[:a-zA-Z -]{0,6}",
        ]
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec![
                "CONNECT",
                "websocket",
                "https",
                "http",
                "/chat",
                "server.example.com",
                "13",
                "chat, superchat",
                "permessage-deflate; client_max_window_bits",
                "trailers",
                "0",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn from_fields_and_validate_response(fields in prop::collection::vec((name(), value()), 0..12), status in 0u16..1000) {
            let list = || fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
            match ConnectRequest::from_fields(list()) {
                Ok(req) => {
                    prop_assert!(req.scheme() == "https" || req.scheme() == "http");
                    prop_assert!(req.path().starts_with('/'));
                    prop_assert!(!req.authority().is_empty());
                    prop_assert_eq!(req.header("sec-websocket-version"), Some("13"));
                    prop_assert!(response_fields(&req, &Accept::new()).is_ok());
                }
                Err(e) => {
                    prop_assert!(matches!(e.status(), 400 | 405 | 501));
                    let _ = e.to_string();
                }
            }
            let _ = validate_response(&client(), status, list());
        }
    }
}

#[cfg(feature = "http")]
mod http_conversions {
    use super::*;
    use ::http::{HeaderValue, Method, StatusCode, Version};

    #[test]
    fn client_request_is_the_fields() {
        let req = client().origin("http://www.example.com").header("Cookie", "a=b");
        let h = client_request(&req);
        assert_eq!(h.method(), Method::CONNECT);
        assert_eq!(h.uri(), "https://server.example.com/chat");
        assert_eq!(h.version(), Version::HTTP_2);
        let regular: Vec<(&str, &str)> = h.headers().iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        let fields = request_fields(&req);
        assert_eq!(regular, pairs(&fields)[5..]);
        // Back on the server, with the :protocol hyper hands over apart.
        let connect = ConnectRequest::from_http(&h, Some("websocket")).unwrap();
        assert_eq!(connect, ConnectRequest::from_fields(owned(&fields)).unwrap());

        let h = client_request(&ClientRequest::new("ws://[::1]:8080/a?x=1").unwrap());
        assert_eq!(h.uri(), "http://[::1]:8080/a?x=1");
        let connect = ConnectRequest::from_http(&h, Some("websocket")).unwrap();
        assert_eq!((connect.scheme(), connect.authority(), connect.path()), ("http", "[::1]:8080", "/a?x=1"));
    }

    #[test]
    fn from_http_rejections() {
        let good = || client_request(&client());
        let ws = Some("websocket");
        let mut h = good();
        *h.version_mut() = Version::HTTP_11;
        assert_eq!(ConnectRequest::from_http(&h, ws), Err(ConnectRejection::NotHttp2));
        assert_eq!(ConnectRequest::from_http(&good(), None), Err(ConnectRejection::MissingProtocol));
        assert_eq!(
            ConnectRequest::from_http(&good(), Some("connect-udp")),
            Err(ConnectRejection::UnsupportedProtocol("connect-udp".into()))
        );
        let mut h = good();
        *h.method_mut() = Method::GET;
        assert_eq!(ConnectRequest::from_http(&h, None), Err(ConnectRejection::MethodNotConnect("GET".into())));
        assert_eq!(ConnectRequest::from_http(&h, ws), Err(ConnectRejection::InvalidPseudoHeader(":protocol".into())));
        let mut h = good();
        *h.uri_mut() = "/chat".parse().unwrap();
        assert_eq!(ConnectRequest::from_http(&h, ws), Err(ConnectRejection::MissingPseudoHeader(":scheme")));
        // A plain CONNECT's authority-form target has no :scheme or :path.
        *h.uri_mut() = "server.example.com:443".parse().unwrap();
        assert_eq!(ConnectRequest::from_http(&h, ws), Err(ConnectRejection::MissingPseudoHeader(":scheme")));
        *h.uri_mut() = "https://user@server.example.com/chat".parse().unwrap();
        assert_eq!(ConnectRequest::from_http(&h, ws), Err(ConnectRejection::InvalidAuthority));
        let mut h = good();
        h.headers_mut().insert("x-bin", HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(ConnectRequest::from_http(&h, ws), Err(ConnectRejection::InvalidFieldValue("x-bin".into())));
        let mut h = good();
        h.headers_mut().insert("upgrade", HeaderValue::from_static("websocket"));
        assert_eq!(ConnectRequest::from_http(&h, ws), Err(ConnectRejection::ConnectionSpecificField("upgrade".into())));
        let mut h = good();
        h.headers_mut().remove("sec-websocket-version");
        let e = ConnectRequest::from_http(&h, ws).unwrap_err();
        assert_eq!((e.status(), e.headers()), (400, &[("sec-websocket-version", "13")][..]));
        let resp = e.to_http();
        assert_eq!((resp.status(), resp.version()), (StatusCode::BAD_REQUEST, Version::HTTP_2));
        assert_eq!(resp.headers()["sec-websocket-version"], "13");
        let resp = ConnectRejection::MethodNotConnect("GET".into()).to_http();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()["allow"], "CONNECT");
        assert_eq!(ConnectRejection::UnsupportedProtocol("x".into()).to_http().status(), StatusCode::NOT_IMPLEMENTED);
    }

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
        let mut resp = http::Response::new(());
        *resp.version_mut() = Version::HTTP_2;
        resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("nope"));
        assert_eq!(validate_http_response(&req, &resp), Err(HandshakeError::UnofferedProtocol("nope".into())));
    }
}
