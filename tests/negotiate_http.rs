//! A server whose HTTP layer answers the upgrade (hyper, axum) negotiates
//! the subprotocol and permessage-deflate with `Accept::negotiate`, the
//! same negotiation `Connection::accept` runs, and the connection it starts
//! with the agreed elements talks to a client that negotiated on the wire.
#![cfg(all(feature = "http", feature = "deflate"))]

mod common;

use common::*;
use wsmachine::handshake::{Accept, ClientRequest, Request, parse_extensions};
use wsmachine::{Config, Connection, DeflateConfig, Event, Message, Output};

/// Parses the client's request head into an `http::Request`, as an HTTP
/// server would.
fn http_request(head: &str) -> http::Request<()> {
    let mut lines = head.split("\r\n");
    let path = lines.next().unwrap().split(' ').nth(1).unwrap();
    let mut req = http::Request::builder().method("GET").uri(path);
    for line in lines.take_while(|l| !l.is_empty()) {
        let (n, v) = line.split_once(": ").unwrap();
        req = req.header(n, v);
    }
    req.body(()).unwrap()
}

#[test]
fn accept_negotiate_agrees_on_deflate_and_the_subprotocol_like_accept() {
    let deflate = DeflateConfig::default().with_threshold(0);
    let client_config = Config::default().with_deflate(Some(deflate.clone()));
    let request = ClientRequest::new("ws://example.com/chat").unwrap().protocol("v2").protocol("v1");
    let mut client = Connection::client(request, client_config, FixedMask(RFC_KEY)).unwrap();
    let head = String::from_utf8(wire(&drain(&mut client))).unwrap();

    let server_config = Config::default().with_deflate(Some(deflate)).with_protocol("v1");
    let req = Request::from_http(&http_request(&head)).unwrap();
    let accept = Accept::new().negotiate(&req, &server_config);
    assert_eq!(accept.selected_protocol(), Some("v1"));
    let agreed: Vec<String> = accept.extensions().iter().map(|e| e.name.clone()).collect();
    assert_eq!(agreed, ["permessage-deflate"]);
    let response = wsmachine::handshake::accept_response(&req, &accept).unwrap();
    assert_eq!(response.status(), 101);
    let ext = response.headers()["sec-websocket-extensions"].to_str().unwrap();
    assert_eq!(parse_extensions(ext).unwrap(), accept.extensions());

    // The same answer as `Connection::accept` writes on the wire.
    let mut wire_server = Connection::server(server_config.clone());
    wire_server.handle_bytes(head.as_bytes());
    assert!(matches!(wire_server.poll_output(), Some(Output::Event(Event::UpgradeRequest(_)))));
    wire_server.accept(Accept::new()).unwrap();
    let wire_head = String::from_utf8(wire(&drain(&mut wire_server))).unwrap();
    assert!(wire_head.contains(&format!("Sec-WebSocket-Extensions: {ext}\r\n")), "{wire_head}");
    assert!(wire_head.contains("Sec-WebSocket-Protocol: v1\r\n"), "{wire_head}");

    // The client reads that 101; the server built from the agreement
    // exchanges compressed messages with it.
    client.handle_bytes(wire_head.as_bytes());
    let opened = drain(&mut client);
    assert!(
        matches!(opened.as_slice(), [Out::Event(Event::Open(n))] if n.protocol.as_deref() == Some("v1")),
        "{opened:?}"
    );
    let mut server = Connection::open_server(server_config).with_extensions(accept.extensions()).unwrap();
    let text = "compressible ".repeat(100);
    client.send_text(text.clone()).unwrap();
    let sent = wire(&drain(&mut client));
    assert!(sent.len() < text.len() / 4, "compressed: {} bytes for {}", sent.len(), text.len());
    assert_eq!(sent[0] & 0x40, 0x40, "RSV1 set");
    server.handle_bytes(&sent);
    assert_eq!(events(&drain(&mut server)), vec![Event::Message(Message::text(text.clone()))]);
    server.send_text(text.clone()).unwrap();
    client.handle_bytes(&wire(&drain(&mut server)));
    assert_eq!(events(&drain(&mut client)), vec![Event::Message(Message::text(text))]);
}

#[test]
fn accept_negotiate_declines_what_is_not_configured() {
    let request = ClientRequest::new("ws://example.com/")
        .unwrap()
        .extension(parse_extensions("permessage-deflate; client_max_window_bits").unwrap().remove(0));
    let mut client = Connection::client(request, Config::default(), FixedMask(RFC_KEY)).unwrap();
    let head = String::from_utf8(wire(&drain(&mut client))).unwrap();
    let req = Request::from_http(&http_request(&head)).unwrap();
    // No deflate configured, no protocols: nothing agreed.
    let accept = Accept::new().negotiate(&req, &Config::default());
    assert!(accept.extensions().is_empty());
    assert_eq!(accept.selected_protocol(), None);
    let response = wsmachine::handshake::accept_response(&req, &accept).unwrap();
    assert!(response.headers().get("sec-websocket-extensions").is_none());
}
