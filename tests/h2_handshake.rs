//! RFC 8441's extended CONNECT through the public API (`handshake::h2`):
//! the request and response header lists both ways, every rejection with
//! its status, the `http` conversions, and the agreement: for the same
//! offers and configurations, the HTTP/2 handshake agrees on what the
//! HTTP/1.1 handshake of two `Connection`s agrees on, and the connections
//! it starts talk (compressed, with the `deflate` feature).

mod common;

use common::*;
use proptest::prelude::*;
use wsmachine::handshake::h2::{self, ConnectRejection, ConnectRequest};
use wsmachine::handshake::{Accept, Accepted, ClientRequest, ExtensionOffer, HandshakeError};
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

fn fields<'a>(list: &'a [(&'static str, &'static str)]) -> impl Iterator<Item = (&'static str, &'static [u8])> + 'a {
    list.iter().map(|(n, v)| (*n, v.as_bytes()))
}

fn owned(list: &[(String, String)]) -> impl Iterator<Item = (&str, &[u8])> {
    list.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
}

fn example_client() -> ClientRequest {
    ClientRequest::new("wss://server.example.com/chat")
        .unwrap()
        .protocol("chat")
        .protocol("superchat")
        .extension(ExtensionOffer::new("permessage-deflate"))
        .origin("http://www.example.com")
}

#[test]
fn rfc_8441_example_both_ways() {
    // The client writes the example's fields (in this crate's order).
    let mut sent = h2::request_fields(&example_client());
    let mut want: Vec<(String, String)> = EXAMPLE_REQUEST.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    sent.sort();
    want.sort();
    assert_eq!(sent, want);

    // The server reads them and, choosing `chat`, answers the example's.
    let req = ConnectRequest::from_fields(fields(&EXAMPLE_REQUEST)).unwrap();
    let accept = Accept::new().negotiate(&req, &Config::default().with_protocol("chat"));
    let answer = h2::response_fields(&req, &accept).unwrap();
    let answer: Vec<(&str, &str)> = answer.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(answer, EXAMPLE_RESPONSE);

    // The client takes the example's answer.
    let accepted = h2::validate_response(&example_client(), 200, fields(&EXAMPLE_RESPONSE)).unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("chat"));
    assert!(accepted.extensions.is_empty());
}

#[test]
fn every_rejection_and_its_status() {
    type Edit = fn(&mut Vec<(&'static str, &'static str)>);
    /// An edit of the example, what it is refused with, the status and the
    /// fields to send.
    type Case = (Edit, ConnectRejection, u16, &'static [(&'static str, &'static str)]);
    let table: &[Case] = &[
        (|f| f.push(("X-Upper", "1")), ConnectRejection::UppercaseFieldName("X-Upper".into()), 400, &[]),
        (|f| f.push(("x(y)", "1")), ConnectRejection::InvalidFieldName("x(y)".into()), 400, &[]),
        (|f| f.push(("x", "a\nb")), ConnectRejection::InvalidFieldValue("x".into()), 400, &[]),
        (|f| f.push(("connection", "x")), ConnectRejection::ConnectionSpecificField("connection".into()), 400, &[]),
        (|f| f.push(("upgrade", "websocket")), ConnectRejection::ConnectionSpecificField("upgrade".into()), 400, &[]),
        (|f| f.push(("te", "deflate")), ConnectRejection::ConnectionSpecificField("te".into()), 400, &[]),
        (|f| f.push((":path", "/")), ConnectRejection::PseudoHeaderAfterRegular(":path".into()), 400, &[]),
        (|f| f.insert(0, (":path", "/")), ConnectRejection::RepeatedPseudoHeader(":path".into()), 400, &[]),
        (|f| f.insert(0, (":status", "200")), ConnectRejection::InvalidPseudoHeader(":status".into()), 400, &[]),
        (|f| f[0].1 = "GET", ConnectRejection::InvalidPseudoHeader(":protocol".into()), 400, &[]),
        (
            |f| {
                f[0].1 = "POST";
                f.remove(1);
            },
            ConnectRejection::MethodNotConnect("POST".into()),
            405,
            &[("allow", "CONNECT")],
        ),
        (
            |f| {
                f.remove(0);
            },
            ConnectRejection::MissingPseudoHeader(":method"),
            400,
            &[],
        ),
        (
            |f| {
                f.remove(1);
            },
            ConnectRejection::MissingProtocol,
            400,
            &[],
        ),
        (|f| f[1].1 = "a b", ConnectRejection::InvalidProtocol("a b".into()), 400, &[]),
        (|f| f[1].1 = "h2c", ConnectRejection::UnsupportedProtocol("h2c".into()), 501, &[]),
        (
            |f| {
                f.remove(2);
            },
            ConnectRejection::MissingPseudoHeader(":scheme"),
            400,
            &[],
        ),
        (|f| f[2].1 = "ws", ConnectRejection::InvalidScheme("ws".into()), 400, &[]),
        (
            |f| {
                f.remove(3);
            },
            ConnectRejection::MissingPseudoHeader(":path"),
            400,
            &[],
        ),
        (|f| f[3].1 = "", ConnectRejection::InvalidPath, 400, &[]),
        (
            |f| {
                f.remove(4);
            },
            ConnectRejection::MissingPseudoHeader(":authority"),
            400,
            &[],
        ),
        (|f| f[4].1 = "u:p@h", ConnectRejection::InvalidAuthority, 400, &[]),
        (|f| f.push(("host", "elsewhere")), ConnectRejection::HostMismatch, 400, &[]),
        (|f| f.push(("content-length", "10")), ConnectRejection::UnexpectedContent, 400, &[]),
        (
            |f| {
                f.remove(7);
            },
            ConnectRejection::UnsupportedVersion(None),
            400,
            &[("sec-websocket-version", "13")],
        ),
        (
            |f| f[7].1 = "12",
            ConnectRejection::UnsupportedVersion(Some("12".into())),
            400,
            &[("sec-websocket-version", "13")],
        ),
        (|f| f[5].1 = "chat;x", ConnectRejection::InvalidProtocolHeader, 400, &[]),
        (|f| f[6].1 = "=", ConnectRejection::InvalidExtensionHeader, 400, &[]),
    ];
    for (edit, want, status, headers) in table {
        let mut list = EXAMPLE_REQUEST.to_vec();
        edit(&mut list);
        let got = ConnectRequest::from_fields(fields(&list)).unwrap_err();
        assert_eq!(&got, want, "{list:?}");
        assert_eq!(got.status(), *status, "{got}");
        assert_eq!(got.headers(), *headers, "{got}");
        assert_eq!(got.response_fields()[0], (":status".to_string(), status.to_string()));
    }
    assert_eq!(ConnectRejection::NotHttp2.status(), 400);
}

/// Entropy for the clients (the masks do not matter here).
fn entropy() -> FixedMask {
    FixedMask(RFC_KEY)
}

/// Runs the RFC 8441 handshake for `request` between a client and a server
/// configured as given: the server's `Accept`, the client's `Accepted`
/// (checked against its configuration), and the connections started from
/// the agreement.
fn h2_handshake(
    request: ClientRequest,
    client_config: &Config,
    server_config: &Config,
) -> (ClientRequest, Accept, Result<Accepted, HandshakeError>) {
    let request = request.negotiate(client_config);
    h2::check_request(&request).unwrap();
    let sent = h2::request_fields(&request);
    let connect = ConnectRequest::from_fields(owned(&sent)).unwrap();
    let accept = Accept::new().negotiate(&connect, server_config);
    let answer = h2::response_fields(&connect, &accept).unwrap();
    let accepted = h2::validate_response(&request, 200, owned(&answer[1..]))
        .and_then(|a| a.check_extensions(client_config).map(|()| a));
    (request, accept, accepted)
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
    let request = example_client();
    let (_, accept, accepted) = h2_handshake(request, &config, &config);
    let accepted = accepted.unwrap();
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
    prop::sample::select(vec!["chat", "superchat", "v1", "v2", "x"])
}

/// Extension offers as a client might make them: permessage-deflate with
/// RFC 7692 §7.1 parameters, valid or not, and unknown extensions.
fn offer() -> impl Strategy<Value = ExtensionOffer> {
    let param = prop::sample::select(vec![
        ("server_no_context_takeover", None),
        ("client_no_context_takeover", None),
        ("server_max_window_bits", Some("9")),
        ("server_max_window_bits", Some("15")),
        ("server_max_window_bits", Some("16")),
        ("client_max_window_bits", None),
        ("client_max_window_bits", Some("12")),
        ("x", Some("1")),
    ]);
    let name = prop::sample::select(vec!["permessage-deflate", "permessage-deflate", "x-ext"]);
    (name, prop::collection::vec(param, 0..3))
        .prop_map(|(n, ps)| ps.into_iter().fold(ExtensionOffer::new(n), |e, (p, v)| e.param(p, v)))
}

/// A configuration: subprotocols to choose from and, with the `deflate`
/// feature, maybe permessage-deflate.
fn config() -> impl Strategy<Value = Config> {
    (prop::collection::vec(token(), 0..3), any::<bool>(), any::<bool>(), 9u8..=15).prop_map(
        |(protocols, _deflate, _no_takeover, _bits)| {
            let config = protocols.into_iter().fold(Config::default(), |c, p| c.with_protocol(p));
            #[cfg(feature = "deflate")]
            let config = if _deflate {
                config.with_deflate(Some(
                    wsmachine::DeflateConfig::default()
                        .with_client_no_context_takeover(_no_takeover)
                        .with_client_max_window_bits(_bits)
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
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random offers and configurations: the RFC 8441 handshake agrees on
    /// exactly what `Connection::client` and `Connection::accept` agree on
    /// over HTTP/1.1 (subprotocol and extensions, parameters included), or
    /// fails where the wire client fails.
    #[test]
    fn same_agreement_as_http1(
        protocols in prop::collection::btree_set(token(), 0..4),
        offers in prop::collection::vec(offer(), 0..3),
        client_config in config(),
        server_config in config(),
    ) {
        let request = protocols.iter().fold(ClientRequest::new("ws://h.example:8080/p?q").unwrap(), |r, p| r.protocol(*p));
        let request = offers.into_iter().fold(request, |r, e| r.extension(e));
        let (server_open, client_open) = wire_handshake(request.clone(), &client_config, &server_config);
        let (_, accept, accepted) = h2_handshake(request, &client_config, &server_config);
        let server_open = server_open.expect("the server always opens");
        prop_assert_eq!(accept.selected_protocol(), server_open.protocol.as_deref());
        prop_assert_eq!(accept.extensions(), server_open.extensions.as_slice());
        match (client_open, accepted) {
            (Some(n), Ok(a)) => {
                prop_assert_eq!(n.protocol, a.protocol);
                prop_assert_eq!(n.extensions, a.extensions);
            }
            (None, Err(_)) => {}
            (n, a) => prop_assert!(false, "HTTP/1.1 client: {:?}, HTTP/2 client: {:?}", n, a),
        }
    }

    /// Arbitrary field lists never panic either check.
    #[test]
    fn arbitrary_fields_never_panic(
        list in prop::collection::vec(("[:a-zA-Z0-9-]{0,12}", prop::collection::vec(any::<u8>(), 0..16)), 0..16),
        status in any::<u16>(),
    ) {
        let it = || list.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        if let Err(e) = ConnectRequest::from_fields(it()) {
            prop_assert!(matches!(e.status(), 400 | 405 | 501));
        }
        let _ = h2::validate_response(&example_client(), status, it());
    }
}

#[cfg(feature = "http")]
#[test]
fn http_types_round_trip() {
    let request = example_client().header("Authorization", "Bearer t");
    let mut hreq = h2::client_request(&request);
    assert_eq!(hreq.method(), http::Method::CONNECT);
    assert_eq!(hreq.uri(), "https://server.example.com/chat");
    assert_eq!(hreq.version(), http::Version::HTTP_2);
    assert_eq!(hreq.headers()["authorization"], "Bearer t");
    assert_eq!(hreq.headers()["sec-websocket-version"], "13");
    assert!(hreq.headers().get("host").is_none());
    let req = ConnectRequest::from_http(&hreq, Some("websocket")).unwrap();
    assert_eq!(req.header("authorization"), Some("Bearer t"));
    let resp = h2::accept_response(&req, &Accept::new().protocol("chat")).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let accepted = h2::validate_http_response(&request, &resp).unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("chat"));

    *hreq.version_mut() = http::Version::HTTP_11;
    assert_eq!(ConnectRequest::from_http(&hreq, Some("websocket")), Err(ConnectRejection::NotHttp2));
    let mut refused = http::Response::new(());
    *refused.status_mut() = http::StatusCode::NOT_FOUND;
    *refused.version_mut() = http::Version::HTTP_2;
    assert!(matches!(
        h2::validate_http_response(&request, &refused),
        Err(HandshakeError::Rejected(r)) if r.status == 404
    ));
}
