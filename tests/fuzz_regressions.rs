//! Inputs found by the fuzz targets (fuzz/), kept as tests through the public
//! API only. A test marked `#[ignore = "BUG: ..."]` reproduces a bug that is
//! not fixed yet: run it with `cargo test --test fuzz_regressions -- --ignored`.
use wsmachine::{Config, Connection, ConnectionError, Event, HandshakeError, Output};

/// Feeds `chunks` to a fresh server in turn, draining after each; returns
/// the bytes written and the error it closed with.
fn server_fed(chunks: &[&[u8]]) -> (Vec<u8>, Option<ConnectionError>) {
    let mut c = Connection::server(Config::default());
    let mut wire = Vec::new();
    let mut error = None;
    for chunk in chunks {
        c.handle_bytes(chunk);
        while let Some(o) = c.poll_output() {
            match o {
                Output::Transmit(b) => wire.extend_from_slice(&b),
                Output::Event(Event::Closed(closed)) => error = closed.error,
                _ => {}
            }
        }
    }
    (wire, error)
}

/// server_stream (handshake mode), chunking invariance: a request line whose
/// version field is garbage (`HTTP\x01`) but which contains ` HTTP/` further
/// on is classified from the bytes received so far. Fed whole, the error is
/// `HttpVersion` (the line "has an HTTP version"); fed up to the bad byte
/// first, httparse fails at once and the line seen so far has no ` HTTP/`,
/// so it is `Malformed("invalid HTTP version")`. The two answers differed in
/// their body, because `request_line_has_http` looked at bytes past the
/// point where httparse failed. It now looks only at the version field's
/// start, which precedes the failing byte.
#[test]
fn request_version_error_does_not_depend_on_the_split() {
    let request: &[u8] = b"GET / HTTP\x01 HTTP/1.1\r\nHost: a\r\n\r\n";
    let whole = server_fed(&[request]);
    let split = server_fed(&[&request[..11], &request[11..]]);
    // The version field is `HTTP\x01`: garbage, not an HTTP version.
    assert_eq!(whole.1, Some(ConnectionError::Handshake(HandshakeError::Malformed("invalid HTTP version"))));
    assert_eq!(split.1, whole.1, "error differs with the split");
    assert_eq!(split.0, whole.0, "response differs with the split");
}

/// handshake_response: extension names are tokens and compare
/// case-insensitively, so a server answering `x-eXt` to an offer of `x-ext`
/// names an offered extension (not `UnofferedExtension`); this endpoint does
/// not run `x-ext`, so the handshake fails with `UnsupportedExtension`.
#[test]
fn an_extension_answered_in_another_case_is_the_offered_one() {
    use wsmachine::handshake::{ClientRequest, ExtensionOffer, accept_key};
    struct Zero;
    impl wsmachine::Entropy for Zero {
        fn fill(&mut self, dest: &mut [u8]) {
            dest.fill(0);
        }
    }
    let request = ClientRequest::new("ws://h/").unwrap().extension(ExtensionOffer::new("x-ext"));
    let mut c = Connection::client(request, Config::default(), Zero).unwrap();
    while c.poll_output().is_some() {}
    let key = "AAAAAAAAAAAAAAAAAAAAAA==";
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: x-eXt\r\n\r\n",
        accept_key(key.as_bytes())
    );
    c.handle_bytes(response.as_bytes());
    let mut error = None;
    while let Some(o) = c.poll_output() {
        if let Output::Event(Event::Closed(closed)) = o {
            error = closed.error;
        }
    }
    assert_eq!(error, Some(ConnectionError::Handshake(HandshakeError::UnsupportedExtension("x-eXt".into()))));
}

/// handshake_response (stepwise check): a rejection's chunked body whose
/// size line (its extension) runs past `max_head_size` and then turns bad
/// (`\r` not followed by `\n`). Fed a byte at a time, the body outgrew the
/// limit first: `HeadTooLarge`; fed whole, the de-chunker read on past the
/// limit to the bad byte: `Malformed("invalid chunk size")`. Bytes past the
/// limit are no longer looked at: `HeadTooLarge` however it is split.
#[test]
fn a_chunked_body_over_the_limit_does_not_depend_on_the_split() {
    struct Zero;
    impl wsmachine::Entropy for Zero {
        fn fill(&mut self, dest: &mut [u8]) {
            dest.fill(0);
        }
    }
    let mut response = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
    response.extend_from_slice(&[b'x'; 70]);
    response.extend_from_slice(b"\rU");
    let run = |pieces: &[&[u8]]| {
        let request = wsmachine::handshake::ClientRequest::new("ws://h/").unwrap();
        let config = Config::default().with_max_head_size(64);
        let mut c = Connection::client(request, config, Zero).unwrap();
        while c.poll_output().is_some() {}
        let mut error = None;
        for piece in pieces {
            c.handle_bytes(piece);
            while let Some(o) = c.poll_output() {
                if let Output::Event(Event::Closed(closed)) = o {
                    error = closed.error;
                }
            }
        }
        error
    };
    let whole = run(&[&response]);
    let bytewise = run(&response.chunks(1).collect::<Vec<_>>());
    assert_eq!(whole, Some(ConnectionError::Handshake(HandshakeError::HeadTooLarge)));
    assert_eq!(bytewise, whole);
}
