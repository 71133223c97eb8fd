//! RFC 8441's extended CONNECT (`handshake::h2`), through the public API:
//! RFC 8441 §5.1's example both ways; the request and response header lists
//! field for field; every rejection with its status and the fields sent with
//! it; the variants a server accepts; the client's checks of the answer; the
//! `http` conversions; the agreement: for the same offers and configurations,
//! the HTTP/2 handshake agrees on what the HTTP/1.1 handshake of two
//! `Connection`s agrees on, and the connections it starts talk (compressed,
//! with the `deflate` feature); and arbitrary field lists never panic.

mod common;

use common::*;
use proptest::prelude::*;
use std::sync::Arc;
use wsmachine::handshake::h2::{
    ConnectRejection, ConnectRequest, check_request, request_fields, response_fields, validate_response,
};
use wsmachine::handshake::{Accept, Accepted, ClientRequest, ExtensionOffer, HandshakeError, UsageError};
use wsmachine::{CloseCode, Config, Connection, Event, Message, Negotiated};

/// RFC 8441 §5.1 ("Example"): the client's HEADERS, field for field.
const EXAMPLE_REQUEST: [(&str, &str); 9] = [
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

/// RFC 8441 §5.1: the server's HEADERS.
const EXAMPLE_RESPONSE: [(&str, &str); 2] = [(":status", "200"), ("sec-websocket-protocol", "chat")];

/// A field list as the HTTP/2 library hands it over.
fn fields<'a>(list: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
    list.iter().map(|(n, v)| (*n, v.as_bytes()))
}

fn owned(list: &[(String, String)]) -> impl Iterator<Item = (&str, &[u8])> {
    list.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
}

fn pairs(list: &[(String, String)]) -> Vec<(&str, &str)> {
    list.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn parse(list: &[(&str, &str)]) -> Result<ConnectRequest, ConnectRejection> {
    ConnectRequest::from_fields(fields(list))
}

/// The §5.1 request with `edit` applied.
fn example_with(edit: impl FnOnce(&mut Vec<(&'static str, &'static str)>)) -> Result<ConnectRequest, ConnectRejection> {
    let mut list = EXAMPLE_REQUEST.to_vec();
    edit(&mut list);
    parse(&list)
}

/// The client of §5.1.
fn example_client() -> ClientRequest {
    ClientRequest::new("wss://server.example.com/chat")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate"))
        .origin("http://www.example.com")
}

/// A client offering permessage-deflate with a parameter, and another extension.
fn offering_client() -> ClientRequest {
    ClientRequest::new("wss://server.example.com/chat")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None))
        .extension(ExtensionOffer::new("x-ext"))
}

#[test]
fn rfc_8441_example_both_ways() {
    // The client writes the example's fields, in this crate's order.
    let sent = request_fields(&example_client());
    assert_eq!(
        pairs(&sent),
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
    let mut sent = pairs(&sent);
    let mut want = EXAMPLE_REQUEST.to_vec();
    sent.sort();
    want.sort();
    assert_eq!(sent, want);

    // The server reads the example's.
    let req = parse(&EXAMPLE_REQUEST).unwrap();
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

    // Choosing `chat`, given or negotiated, it answers the example's.
    let given = response_fields(&req, &Accept::new().protocol("chat")).unwrap();
    assert_eq!(pairs(&given), EXAMPLE_RESPONSE);
    let accept = Accept::new().negotiate(&req, &Config::default().with_protocol("chat"));
    assert_eq!(response_fields(&req, &accept).unwrap(), given);

    // The client takes the example's answer.
    let accepted = validate_response(&example_client(), 200, fields(&EXAMPLE_RESPONSE)).unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("chat"));
    assert!(accepted.extensions.is_empty());
    assert_eq!(accepted.headers, vec![("sec-websocket-protocol".into(), "chat".into())]);
}

#[test]
fn request_fields_exact() {
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
fn every_rejection_with_its_status_and_fields() {
    use ConnectRejection as R;
    type Fields = Vec<(&'static str, &'static str)>;
    let set = |name: &'static str, value: &'static str| {
        move |f: &mut Fields| {
            for field in f.iter_mut().filter(|(n, _)| *n == name) {
                field.1 = value;
            }
        }
    };
    let drop_field = |name: &'static str| move |f: &mut Fields| f.retain(|(n, _)| *n != name);
    let push = |name: &'static str, value: &'static str| move |f: &mut Fields| f.push((name, value));
    let not_connect = |method: &'static str| {
        move |f: &mut Fields| {
            set(":method", method)(f);
            drop_field(":protocol")(f);
        }
    };
    let cases: Vec<(Result<ConnectRequest, ConnectRejection>, ConnectRejection, u16)> = vec![
        (example_with(push("Cookie", "a")), R::UppercaseFieldName("Cookie".into()), 400),
        (example_with(push("X-Upper", "1")), R::UppercaseFieldName("X-Upper".into()), 400),
        (example_with(push("x y", "a")), R::InvalidFieldName("x y".into()), 400),
        (example_with(push("x(y)", "1")), R::InvalidFieldName("x(y)".into()), 400),
        (example_with(push("", "a")), R::InvalidFieldName("".into()), 400),
        (example_with(push("x", "a\0b")), R::InvalidFieldValue("x".into()), 400),
        (example_with(push("x", "a\nb")), R::InvalidFieldValue("x".into()), 400),
        (example_with(push("x", "a\r\nb: c")), R::InvalidFieldValue("x".into()), 400),
        (example_with(push("x", " a")), R::InvalidFieldValue("x".into()), 400),
        (example_with(push("x", "a\t")), R::InvalidFieldValue("x".into()), 400),
        (example_with(set(":path", "/a b")), R::InvalidPath, 400),
        (example_with(set(":path", "/a\x01")), R::InvalidFieldValue(":path".into()), 400),
        (example_with(push("connection", "upgrade")), R::ConnectionSpecificField("connection".into()), 400),
        (example_with(push("connection", "x")), R::ConnectionSpecificField("connection".into()), 400),
        (example_with(push("upgrade", "websocket")), R::ConnectionSpecificField("upgrade".into()), 400),
        (example_with(push("keep-alive", "5")), R::ConnectionSpecificField("keep-alive".into()), 400),
        (example_with(push("proxy-connection", "x")), R::ConnectionSpecificField("proxy-connection".into()), 400),
        (
            example_with(push("transfer-encoding", "chunked")),
            R::ConnectionSpecificField("transfer-encoding".into()),
            400,
        ),
        (example_with(push("te", "gzip")), R::ConnectionSpecificField("te".into()), 400),
        (example_with(push("te", "deflate")), R::ConnectionSpecificField("te".into()), 400),
        (example_with(push(":scheme", "https")), R::PseudoHeaderAfterRegular(":scheme".into()), 400),
        (example_with(push(":path", "/")), R::PseudoHeaderAfterRegular(":path".into()), 400),
        (example_with(|f| f.insert(1, (":method", "CONNECT"))), R::RepeatedPseudoHeader(":method".into()), 400),
        (example_with(|f| f.insert(0, (":path", "/"))), R::RepeatedPseudoHeader(":path".into()), 400),
        (example_with(|f| f.insert(0, (":status", "200"))), R::InvalidPseudoHeader(":status".into()), 400),
        (example_with(|f| f.insert(0, (":x", "y"))), R::InvalidPseudoHeader(":x".into()), 400),
        (example_with(set(":method", "GET")), R::InvalidPseudoHeader(":protocol".into()), 400),
        (example_with(not_connect("GET")), R::MethodNotConnect("GET".into()), 405),
        (example_with(not_connect("POST")), R::MethodNotConnect("POST".into()), 405),
        (example_with(drop_field(":method")), R::MissingPseudoHeader(":method"), 400),
        (example_with(drop_field(":protocol")), R::MissingProtocol, 400),
        (example_with(set(":protocol", "")), R::InvalidProtocol("".into()), 400),
        (example_with(set(":protocol", "a b")), R::InvalidProtocol("a b".into()), 400),
        (example_with(set(":protocol", "web/socket")), R::InvalidProtocol("web/socket".into()), 400),
        (example_with(set(":protocol", "connect-udp")), R::UnsupportedProtocol("connect-udp".into()), 501),
        (example_with(set(":protocol", "h2c")), R::UnsupportedProtocol("h2c".into()), 501),
        (example_with(drop_field(":scheme")), R::MissingPseudoHeader(":scheme"), 400),
        (example_with(set(":scheme", "wss")), R::InvalidScheme("wss".into()), 400),
        (example_with(set(":scheme", "ws")), R::InvalidScheme("ws".into()), 400),
        (example_with(drop_field(":path")), R::MissingPseudoHeader(":path"), 400),
        (example_with(set(":path", "")), R::InvalidPath, 400),
        (example_with(set(":path", "*")), R::InvalidPath, 400),
        (example_with(set(":path", "chat")), R::InvalidPath, 400),
        (example_with(set(":path", "/chat#x")), R::InvalidPath, 400),
        (example_with(set(":path", "/é")), R::InvalidPath, 400),
        (example_with(drop_field(":authority")), R::MissingPseudoHeader(":authority"), 400),
        (example_with(set(":authority", "")), R::InvalidAuthority, 400),
        (example_with(set(":authority", "user@server.example.com")), R::InvalidAuthority, 400),
        (example_with(set(":authority", "u:p@h")), R::InvalidAuthority, 400),
        (example_with(set(":authority", "a/b")), R::InvalidAuthority, 400),
        (example_with(push("host", "other.example.com")), R::HostMismatch, 400),
        (example_with(push("host", "elsewhere")), R::HostMismatch, 400),
        (example_with(push("content-length", "5")), R::UnexpectedContent, 400),
        (example_with(push("content-length", "10")), R::UnexpectedContent, 400),
        (example_with(drop_field("sec-websocket-version")), R::UnsupportedVersion(None), 400),
        (example_with(set("sec-websocket-version", "8")), R::UnsupportedVersion(Some("8".into())), 400),
        (example_with(set("sec-websocket-version", "12")), R::UnsupportedVersion(Some("12".into())), 400),
        (example_with(push("sec-websocket-version", "13")), R::UnsupportedVersion(Some("13, 13".into())), 400),
        (example_with(set("sec-websocket-protocol", "a b")), R::InvalidProtocolHeader, 400),
        (example_with(set("sec-websocket-protocol", ",")), R::InvalidProtocolHeader, 400),
        (example_with(set("sec-websocket-protocol", "chat;x")), R::InvalidProtocolHeader, 400),
        (example_with(set("sec-websocket-extensions", "a;")), R::InvalidExtensionHeader, 400),
        (example_with(set("sec-websocket-extensions", "=")), R::InvalidExtensionHeader, 400),
    ];
    for (got, want, status) in cases {
        assert_eq!(got.as_ref().err(), Some(&want));
        assert_eq!(want.status(), status, "{want:?}");
        let msg = want.to_string();
        assert!(msg.contains("RFC "), "{msg}");
        // The fields sent with it: the status, then what the refusal asks for.
        let headers: &[(&str, &str)] = match want {
            R::UnsupportedVersion(_) => &[("sec-websocket-version", "13")],
            R::MethodNotConnect(_) => &[("allow", "CONNECT")],
            _ => &[],
        };
        assert_eq!(want.headers(), headers, "{want}");
        let mut sent = vec![(":status".to_string(), status.to_string())];
        sent.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        assert_eq!(want.response_fields(), sent);
    }
    assert_eq!(R::NotHttp2.status(), 400);
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
    let mut list = EXAMPLE_REQUEST.to_vec();
    list[..5].reverse();
    assert_eq!(parse(&list), parse(&EXAMPLE_REQUEST));
}

fn respond(status: u16, list: &[(&str, &str)]) -> Result<Accepted, HandshakeError> {
    validate_response(&offering_client(), status, fields(list))
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
    // Each with its standard reason phrase (none for a code without one).
    for (status, reason) in [
        (101, "Switching Protocols"),
        (199, ""),
        (300, ""),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
    ] {
        let r = rejected(status);
        assert_eq!(r.status, status);
        assert_eq!(r.reason, reason);
        assert_eq!(r.headers.len(), 2);
        assert!(r.body.is_empty());
    }

    let malformed = |list: &[(&str, &str)]| match respond(200, list) {
        Err(HandshakeError::Malformed(m)) => m,
        other => panic!("{list:?}: {other:?}"),
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
        validate_response(&offering_client(), 200, [("x", &b"\xff"[..])]),
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
fn negotiate_takes_references_and_pointers() {
    let connect = parse(&EXAMPLE_REQUEST).unwrap();
    let config = Config::default().with_protocol("superchat");
    let direct = Accept::new().negotiate(&connect, &config);
    assert_eq!(direct.selected_protocol(), Some("superchat"));
    assert_eq!(Accept::new().negotiate(&&connect, &config), direct);
    assert_eq!(Accept::new().negotiate(&Arc::new(connect.clone()), &config), direct);
    assert_eq!(Accept::new().negotiate(&Box::new(connect), &config), direct);
}

/// Entropy for the clients (the masks do not matter here).
fn entropy() -> FixedMask {
    FixedMask(RFC_KEY)
}

/// Runs the RFC 8441 handshake for `request` between a client and a server
/// configured as given: the server's `Accept` and what the client's
/// `validate_response` makes of the answer (before `check_extensions`).
fn h2_handshake(
    request: ClientRequest,
    client_config: &Config,
    server_config: &Config,
) -> (Accept, Result<Accepted, HandshakeError>) {
    let request = request.negotiate(client_config);
    check_request(&request).unwrap();
    let sent = request_fields(&request);
    let connect = ConnectRequest::from_fields(owned(&sent)).unwrap();
    let accept = Accept::new().negotiate(&connect, server_config);
    let answer = response_fields(&connect, &accept).unwrap();
    (accept, validate_response(&request, 200, owned(&answer[1..])))
}

/// The same request over HTTP/1.1 between two `Connection`s: what each
/// side's `Event::Open` reports (the client's `None` when it failed the
/// handshake).
fn wire_handshake(
    request: ClientRequest,
    client_config: &Config,
    server_config: &Config,
) -> (Option<Negotiated>, Option<Negotiated>) {
    let mut client = Connection::client(request, client_config.clone(), entropy()).unwrap();
    let mut server = Connection::server(server_config.clone());
    server.handle_bytes(&wire(&drain(&mut client)));
    assert!(matches!(events(&drain(&mut server)).as_slice(), [Event::UpgradeRequest(_)]));
    server.accept(Accept::new()).unwrap();
    let outs = drain(&mut server);
    let opened = |evs: Vec<Event>| {
        evs.into_iter().find_map(|e| match e {
            Event::Open(n) => Some(n),
            _ => None,
        })
    };
    let server_open = opened(events(&outs));
    client.handle_bytes(&wire(&outs));
    (server_open, opened(events(&drain(&mut client))))
}

#[test]
fn connections_started_from_the_agreement_talk() {
    let config = Config::default().with_protocol("superchat");
    #[cfg(feature = "deflate")]
    let config = config.with_deflate(Some(wsmachine::DeflateConfig::default().with_threshold(0)));
    let (accept, accepted) = h2_handshake(example_client(), &config, &config);
    let accepted = accepted.unwrap();
    accepted.check_extensions(&config).unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("superchat"));
    assert_eq!(accepted.extensions, accept.extensions());
    #[cfg(feature = "deflate")]
    assert_eq!(accept.extensions().len(), 1);
    let mut server = Connection::open_server(config.clone()).with_extensions(accept.extensions()).unwrap();
    let mut client = Connection::open_client(config, entropy()).with_extensions(&accepted.extensions).unwrap();

    let text = "over one HTTP/2 stream ".repeat(50);
    client.send_text(text.clone()).unwrap();
    let sent = wire(&drain(&mut client));
    #[cfg(feature = "deflate")]
    {
        assert_eq!(sent[0] & 0x40, 0x40, "RSV1: compressed");
        assert!(sent.len() < text.len() / 4);
    }
    server.handle_bytes(&sent);
    assert_eq!(events(&drain(&mut server)), vec![Event::Message(Message::text(text.clone()))]);
    server.send_binary(text.clone().into_bytes()).unwrap();
    client.handle_bytes(&wire(&drain(&mut server)));
    assert_eq!(events(&drain(&mut client)), vec![Event::Message(Message::binary(text.into_bytes()))]);

    // Closing: the stream's END_STREAM is the transport's close.
    client.close(Some(CloseCode::NORMAL), "done").unwrap();
    server.handle_bytes(&wire(&drain(&mut client)));
    let outs = drain(&mut server);
    assert!(outs.contains(&Out::CloseTransport));
    client.handle_bytes(&wire(&outs));
    client.handle_eof();
    assert!(closed(&drain(&mut client)).is_some_and(|c| c.was_clean));
}

fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["chat", "superchat", "v1", "v2", "mqtt", "x"])
}

/// Extension offers as a client might make them: permessage-deflate with
/// every parameter RFC 7692 §7.1 defines, valid values or not, and other
/// extensions.
fn offer() -> impl Strategy<Value = ExtensionOffer> {
    let param = prop::sample::select(vec![
        ("server_no_context_takeover", None),
        ("client_no_context_takeover", None),
        ("server_max_window_bits", Some("7")),
        ("server_max_window_bits", Some("9")),
        ("server_max_window_bits", Some("10")),
        ("server_max_window_bits", Some("15")),
        ("server_max_window_bits", Some("16")),
        ("client_max_window_bits", None),
        ("client_max_window_bits", Some("9")),
        ("client_max_window_bits", Some("12")),
        ("client_max_window_bits", Some("16")),
        ("unknown", None),
        ("x", Some("1")),
    ]);
    let name = prop::sample::select(vec!["permessage-deflate", "permessage-deflate", "x-webkit", "x-ext"]);
    (name, prop::collection::vec(param, 0..4))
        .prop_map(|(n, ps)| ps.into_iter().fold(ExtensionOffer::new(n), |e, (p, v)| e.param(p, v)))
}

/// A configuration: subprotocols to choose from and, with the `deflate`
/// feature, maybe permessage-deflate with its parameters.
fn config() -> impl Strategy<Value = Config> {
    (prop::collection::vec(token(), 0..3), any::<bool>(), any::<[bool; 2]>(), 8u8..=15, 8u8..=15).prop_map(
        |(protocols, _deflate, _no_takeover, _server_bits, _client_bits)| {
            let config = protocols.into_iter().fold(Config::default(), |c, p| c.with_protocol(p));
            #[cfg(feature = "deflate")]
            let config = if _deflate {
                config.with_deflate(Some(
                    wsmachine::DeflateConfig::default()
                        .with_server_no_context_takeover(_no_takeover[0])
                        .with_client_no_context_takeover(_no_takeover[1])
                        .with_server_max_window_bits(_server_bits)
                        .with_client_max_window_bits(_client_bits),
                ))
            } else {
                config
            };
            config
        },
    )
}

/// Names and values of fields: those the checks look for, and any.
fn field() -> impl Strategy<Value = (String, Vec<u8>)> {
    let name = prop_oneof![
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
        "[:a-zA-Z0-9-]{0,12}",
    ];
    let value = prop_oneof![
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
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    (name, value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Random offers and configurations, the same on both sides or not: the
    /// RFC 8441 handshake agrees on exactly what `Connection::client` and
    /// `Connection::accept` agree on over HTTP/1.1 (subprotocol and
    /// extensions, parameters included), or fails where the wire client
    /// fails; a client takes what a server configured as itself answers.
    #[test]
    fn same_agreement_as_http1(
        protocols in prop::collection::vec(token(), 0..4),
        offers in prop::collection::vec(offer(), 0..4),
        client_config in config(),
        server_config in config(),
        same_config in any::<bool>(),
        secure in any::<bool>(),
    ) {
        let server_config = if same_config { client_config.clone() } else { server_config };
        let mut seen = Vec::new();
        let protocols = protocols.into_iter().filter(|p| if seen.contains(p) { false } else { seen.push(*p); true });
        let uri = if secure { "wss://h.example/x" } else { "ws://h.example:8080/p?q" };
        let request = protocols.fold(ClientRequest::new(uri).unwrap(), |r, p| r.protocol(p));
        let request = offers.into_iter().fold(request, |r, e| r.extension(e));
        let (server_open, client_open) = wire_handshake(request.clone(), &client_config, &server_config);
        let (accept, validated) = h2_handshake(request, &client_config, &server_config);
        let server_open = server_open.expect("the server always opens");
        prop_assert_eq!(accept.selected_protocol(), server_open.protocol.as_deref());
        prop_assert_eq!(accept.extensions(), server_open.extensions.as_slice());
        if same_config {
            prop_assert!(validated.is_ok(), "{:?}", validated);
        }
        let accepted = validated.and_then(|a| a.check_extensions(&client_config).map(|()| a));
        match (client_open, accepted) {
            (Some(n), Ok(a)) => {
                prop_assert_eq!(n.protocol, a.protocol);
                prop_assert_eq!(n.extensions, a.extensions);
            }
            (None, Err(_)) => {}
            (n, a) => prop_assert!(false, "HTTP/1.1 client: {:?}, HTTP/2 client: {:?}", n, a),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Arbitrary field lists never panic either check; a request that passes
    /// is one a server can answer, a refusal has one of its statuses.
    #[test]
    fn arbitrary_fields_never_panic(
        list in prop::collection::vec(field(), 0..16),
        status in prop_oneof![0u16..1000, any::<u16>()],
    ) {
        let it = || list.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        match ConnectRequest::from_fields(it()) {
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
        let _ = validate_response(&example_client(), status, it());
        let _ = validate_response(&offering_client(), status, it());
    }
}

#[cfg(feature = "http")]
mod http_conversions {
    use super::*;
    use ::http::{HeaderValue, Method, StatusCode, Version};
    use wsmachine::handshake::h2;

    #[test]
    fn client_request_is_the_fields() {
        let req = offering_client()
            .origin("http://www.example.com")
            .header("Cookie", "a=b")
            .header("Authorization", "Bearer t");
        let h = h2::client_request(&req);
        assert_eq!(h.method(), Method::CONNECT);
        assert_eq!(h.uri(), "https://server.example.com/chat");
        assert_eq!(h.version(), Version::HTTP_2);
        assert_eq!(h.headers()["authorization"], "Bearer t");
        assert_eq!(h.headers()["sec-websocket-version"], "13");
        assert!(h.headers().get("host").is_none());
        let regular: Vec<(&str, &str)> = h.headers().iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        let sent = request_fields(&req);
        assert_eq!(regular, pairs(&sent)[5..]);
        // Back on the server, with the :protocol hyper hands over apart.
        let connect = ConnectRequest::from_http(&h, Some("websocket")).unwrap();
        assert_eq!(connect, ConnectRequest::from_fields(owned(&sent)).unwrap());
        assert_eq!(connect.header("authorization"), Some("Bearer t"));

        let h = h2::client_request(&ClientRequest::new("ws://[::1]:8080/a?x=1").unwrap());
        assert_eq!(h.uri(), "http://[::1]:8080/a?x=1");
        let connect = ConnectRequest::from_http(&h, Some("websocket")).unwrap();
        assert_eq!((connect.scheme(), connect.authority(), connect.path()), ("http", "[::1]:8080", "/a?x=1"));
    }

    #[test]
    fn from_http_rejections() {
        let good = || h2::client_request(&offering_client());
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
}
