use super::*;
use crate::handshake::{UsageError, name_in};
use alloc::{format, vec};

const LIMITS: Limits = Limits { max_head_size: 4096, max_headers: 32 };

use crate::testing::RFC_REQUEST;

fn parse(s: &str) -> Result<RequestParse, HandshakeError> {
    parse_request(s.as_bytes(), LIMITS)
}

fn complete(s: &str) -> Request {
    match parse(s) {
        Ok(RequestParse::Complete(r, n)) => {
            assert_eq!(n, s.len());
            r
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc_1_2_request_parsed() {
    let r = complete(RFC_REQUEST);
    assert_eq!(r.method(), "GET");
    assert_eq!(r.path(), "/chat");
    assert_eq!(r.version(), 1);
    assert_eq!(r.host(), "server.example.com");
    assert_eq!(r.origin(), Some("http://example.com"));
    assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(r.protocols(), ["chat", "superchat"]);
    assert!(r.extensions().is_empty());
    assert_eq!(r.headers().len(), 7);
    assert_eq!(r.header("sec-websocket-version"), Some("13"));
    assert_eq!(r.header("SEC-WEBSOCKET-KEY"), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(r.header("nope"), None);
}

/// The head of the 101 answering [`RFC_REQUEST`], before any optional
/// header and the blank line.
const RFC_101_HEAD: &str = "HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

/// What `write_accept` writes for `r` and `a`, as text.
fn accept_text(r: &Request, a: &Accept) -> String {
    String::from_utf8(write_accept(r, a)).unwrap()
}

#[test]
fn rfc_1_2_response_bytes() {
    let r = complete(RFC_REQUEST);
    let a = Accept::new().protocol("chat");
    assert_eq!(validate_accept(&r, &a), Ok(()));
    assert_eq!(accept_text(&r, &a), format!("{RFC_101_HEAD}Sec-WebSocket-Protocol: chat\r\n\r\n"));
}

#[test]
fn request_split_at_every_offset() {
    let full = parse(RFC_REQUEST);
    assert!(matches!(full, Ok(RequestParse::Complete(..))));
    let b = RFC_REQUEST.as_bytes();
    for i in 0..b.len() {
        assert_eq!(parse_request(&b[..i], LIMITS), Ok(RequestParse::Partial), "prefix {i}");
    }
    // Trailing bytes (frames sent early) are not part of the head.
    let mut more = b.to_vec();
    more.extend_from_slice(b"\x81\x80abcd");
    assert_eq!(parse_request(&more, LIMITS), full);
    // An erroneous request also reports only once complete.
    let bad = RFC_REQUEST.replace("Version: 13", "Version: 8");
    for i in 0..bad.len() {
        assert_eq!(parse(&bad[..i]), Ok(RequestParse::Partial), "prefix {i}");
    }
    assert_eq!(parse(&bad), Err(HandshakeError::UnsupportedVersion(Some("8".into()))));
}

/// A valid request head with `replace` applied, as (from, to) pairs.
fn variant(edits: &[(&str, &str)]) -> String {
    edits.iter().fold(String::from(RFC_REQUEST), |s, (a, b)| s.replacen(a, b, 1))
}

#[test]
fn every_server_error_with_status() {
    let mut table: Vec<(String, HandshakeError, u16)> = vec![
        (
            "GET /chat HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".into(),
            HandshakeError::Malformed("invalid header name"),
            400,
        ),
        (
            "GET /chat HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n".into(),
            HandshakeError::Malformed("invalid header value"),
            400,
        ),
        ("GET /chat HTTP/1.1\rHost: x\r\n\r\n".into(), HandshakeError::Malformed("invalid line ending"), 400),
        ("GE(T /chat HTTP/1.1\r\n\r\n".into(), HandshakeError::Malformed("invalid token in start line"), 400),
        ("GET /chat XTTP/1.1\r\n\r\n".into(), HandshakeError::Malformed("invalid HTTP version"), 400),
        ("GET /chat HTTP/2.0\r\n\r\n".into(), HandshakeError::HttpVersion, 400),
        (variant(&[("HTTP/1.1", "HTTP/1.0")]), HandshakeError::HttpVersion, 400),
        (variant(&[("Host: server.example.com\r\n", "")]), HandshakeError::MissingHost, 400),
        (variant(&[("Host: server.example.com", "Host: ")]), HandshakeError::MissingHost, 400),
        (
            variant(&[("Host: server.example.com", "Host: a\r\nHost: b")]),
            HandshakeError::Malformed("repeated Host header"),
            400,
        ),
        (variant(&[("Connection: Upgrade", "Connection: keep-alive")]), HandshakeError::MissingConnectionUpgrade, 400),
        (variant(&[("Connection: Upgrade\r\n", "")]), HandshakeError::MissingConnectionUpgrade, 400),
        (variant(&[("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")]), HandshakeError::InvalidKey, 400),
        (
            variant(&[(
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            )]),
            HandshakeError::InvalidKey,
            400,
        ),
        (variant(&[("Sec-WebSocket-Version: 13\r\n", "")]), HandshakeError::UnsupportedVersion(None), 426),
        (
            variant(&[("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 25")]),
            HandshakeError::UnsupportedVersion(Some("25".into())),
            426,
        ),
        (
            variant(&[("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8")]),
            HandshakeError::UnsupportedVersion(Some("13, 8".into())),
            426,
        ),
        (variant(&[("chat, superchat", "chat, super chat")]), HandshakeError::InvalidProtocolHeader, 400),
        (variant(&[("chat, superchat", " , ")]), HandshakeError::InvalidProtocolHeader, 400),
        (
            variant(&[("Origin", "Sec-WebSocket-Extensions: a; b=\"c d\"\r\nOrigin")]),
            HandshakeError::InvalidExtensionHeader,
            400,
        ),
        (variant(&[("GET", "POST")]), HandshakeError::MethodNotGet("POST".into()), 405),
        (variant(&[("GET", "get")]), HandshakeError::MethodNotGet("get".into()), 405),
    ];
    // A body: the request is refused whichever header announces it.
    let body = HandshakeError::Malformed("an upgrade request must not have a body");
    for header in ["Content-Length: 5", "Transfer-Encoding: chunked"] {
        table.push((variant(&[("Origin", &format!("{header}\r\nOrigin"))]), body.clone(), 400));
    }
    // A key of 15 bytes, of 17 bytes, not base64, without its padding.
    for key in
        ["dGhlIHNhbXBsZSBub25j", "dGhlIHNhbXBsZSBub25jZWVl", "dGhlIHNhbXBsZSBub25jZ!==", "dGhlIHNhbXBsZSBub25jZQ"]
    {
        table.push((variant(&[("dGhlIHNhbXBsZSBub25jZQ==", key)]), HandshakeError::InvalidKey, 400));
    }
    for (input, want, status) in table {
        let got = parse_request(input.as_bytes(), LIMITS);
        assert_eq!(got, Err(want.clone()), "input {input:?}");
        assert_eq!(want.status(), Some(status), "{want:?}");
        // Every one has an error response.
        let mut out = Vec::new();
        write_error_response(&want, &mut out);
        assert!(out.starts_with(format!("HTTP/1.1 {status} ").as_bytes()));
    }
}

#[test]
fn non_utf8_bytes_via_raw_buffer() {
    let mut buf = b"GET /x HTTP/1.1\r\nX: ".to_vec();
    buf.extend_from_slice(&[0xff, 0xfe]);
    buf.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_request(&buf, LIMITS), Err(HandshakeError::Malformed("header value is not UTF-8")));
}

#[test]
fn plain_http_is_not_upgrade() {
    let plain = "POST /form HTTP/1.0\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    match parse(plain) {
        Ok(RequestParse::NotUpgrade(r, _)) => {
            assert_eq!(r.method(), "POST");
            assert_eq!(r.path(), "/form");
            assert_eq!(r.version(), 0);
            assert_eq!(r.host(), "h");
            assert_eq!(r.key(), "");
            assert!(r.protocols().is_empty());
            assert_eq!(r.header("content-length"), Some("3"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(HandshakeError::NotUpgrade.status(), Some(426));
    // Upgrade to something else: also plain HTTP (RFC 7230 §6.7: a
    // server MAY ignore Upgrade).
    assert!(matches!(parse(&variant(&[("Upgrade: websocket", "Upgrade: h2c")])), Ok(RequestParse::NotUpgrade(..))));
    assert!(matches!(parse(&variant(&[("Upgrade: websocket\r\n", "")])), Ok(RequestParse::NotUpgrade(..))));
    // No Host at all on a plain request: the host is empty.
    match parse("GET / HTTP/1.1\r\n\r\n") {
        Ok(RequestParse::NotUpgrade(r, _)) => assert_eq!(r.host(), ""),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lenient_forms_accepted() {
    let r = complete(&variant(&[
        ("Upgrade: websocket", "upgrade: WebSocket"),
        ("Connection: Upgrade", "Connection: keep-alive, Upgrade"),
        ("Sec-WebSocket-Key: ", "sec-websocket-key:   "),
        (
            "Sec-WebSocket-Protocol: chat, superchat",
            "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: ,superchat ,",
        ),
        (
            "Origin",
            "Content-Length: 0\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Extensions: x-y; a=\"1\"\r\nOrigin",
        ),
    ]));
    assert_eq!(r.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(r.protocols(), ["chat", "superchat"]);
    assert_eq!(
        r.extensions(),
        [
            ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None),
            ExtensionOffer::new("x-y").param("a", Some("1")),
        ]
    );
    // The RFC's own §4.1 example key has non-zero trailing bits.
    let r = complete(&variant(&[("dGhlIHNhbXBsZSBub25jZQ==", "AQIDBAUGBwgJCgsMDQ4PEC==")]));
    assert_eq!(r.key(), "AQIDBAUGBwgJCgsMDQ4PEC==");
    // Absolute-form request-target (§4.1 item 3).
    let r = complete(&variant(&[("GET /chat", "GET http://server.example.com/chat?x")]));
    assert_eq!(r.path(), "http://server.example.com/chat?x");
}

#[test]
fn request_limits() {
    let b = RFC_REQUEST.as_bytes();
    let lim = |max_head_size, max_headers| Limits { max_head_size, max_headers };
    assert!(matches!(parse_request(b, lim(b.len(), 7)), Ok(RequestParse::Complete(..))));
    assert_eq!(parse_request(b, lim(b.len() - 1, 7)), Err(HandshakeError::HeadTooLarge));
    assert_eq!(parse_request(&b[..10], lim(10, 7)), Err(HandshakeError::HeadTooLarge));
    assert_eq!(parse_request(&b[..9], lim(10, 7)), Ok(RequestParse::Partial));
    assert_eq!(parse_request(b, lim(4096, 6)), Err(HandshakeError::TooManyHeaders));
    assert_eq!(HandshakeError::HeadTooLarge.status(), Some(431));
    assert_eq!(HandshakeError::TooManyHeaders.status(), Some(431));
    let mut out = Vec::new();
    write_error_response(&HandshakeError::TooManyHeaders, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
}

#[test]
fn accept_validation() {
    let r = complete(&variant(&[("Origin", "Sec-WebSocket-Extensions: permessage-deflate\r\nOrigin")]));
    assert_eq!(
        validate_accept(&r, &Accept::new().protocol("other")),
        Err(UsageError::UnofferedProtocol("other".into()))
    );
    assert_eq!(
        validate_accept(&r, &Accept::new().header("Sec-WebSocket-Accept", "x")),
        Err(UsageError::ReservedHeader("Sec-WebSocket-Accept".into()))
    );
    assert_eq!(validate_accept(&r, &Accept::new().header("X", "a\nb")), Err(UsageError::InvalidHeader("X".into())));
    let mut a = Accept::new();
    a.extensions = vec![ExtensionOffer::new("x-other")];
    assert_eq!(validate_accept(&r, &a), Err(UsageError::UnofferedExtension("x-other".into())));
    a.extensions = vec![ExtensionOffer::new("permessage-deflate").param("a b", None)];
    assert_eq!(validate_accept(&r, &a), Err(UsageError::InvalidExtension("permessage-deflate".into())));
    for e in [
        HandshakeError::UnofferedProtocol("x".into()),
        HandshakeError::UnofferedExtension("x".into()),
        HandshakeError::MissingUpgrade,
        HandshakeError::InvalidAccept,
        HandshakeError::Truncated,
        HandshakeError::Timeout,
    ] {
        assert_eq!(e.status(), None);
        let mut out = Vec::new();
        write_error_response(&e, &mut out);
        assert!(out.is_empty());
    }
    assert!(name_in("CONNECTION", ACCEPT_RESERVED));
    assert!(!name_in("Set-Cookie", ACCEPT_RESERVED));

    let mut a = Accept::new().protocol("superchat").header("Set-Cookie", "a=b");
    a.extensions = vec![ExtensionOffer::new("permessage-deflate").param("server_no_context_takeover", None)];
    assert_eq!(validate_accept(&r, &a), Ok(()));
    assert_eq!(a.selected_protocol(), Some("superchat"));
    assert_eq!(a.headers().len(), 1);
    assert_eq!(
        accept_text(&r, &a),
        format!(
            "{RFC_101_HEAD}\
         Sec-WebSocket-Protocol: superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\
         Set-Cookie: a=b\r\n\
         \r\n"
        )
    );
    // Defensive writing: invalid parts never reach the wire.
    let mut bad = Accept::new().protocol("a\r\nb").header("Connection", "close").header("X", "1\r\nEvil: 1");
    bad.extensions = vec![ExtensionOffer::new("bad ext")];
    assert_eq!(accept_text(&r, &bad), format!("{RFC_101_HEAD}\r\n"));
}

#[test]
fn responses() {
    let mut out = Vec::new();
    write_response(403, &[("X-Why".into(), "origin".into())], b"no", &mut out);
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        "HTTP/1.1 403 Forbidden\r\nX-Why: origin\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
    );
    out.clear();
    write_response(
        204,
        &[("Content-Length".into(), "9".into()), ("Connection".into(), "keep-alive".into())],
        b"ignored",
        &mut out,
    );
    assert_eq!(core::str::from_utf8(&out).unwrap(), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    out.clear();
    write_response(599, &[], b"", &mut out);
    assert_eq!(core::str::from_utf8(&out).unwrap(), "HTTP/1.1 599 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    out.clear();
    write_response(426, &[("Sec-WebSocket-Version".into(), "13, 8".into())], b"", &mut out);
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13, 8\r\nContent-Length: 0\r\nConnection: Upgrade, close\r\n\r\n"
    );
    out.clear();
    write_error_response(&HandshakeError::UnsupportedVersion(Some("8".into())), &mut out);
    let body = "Only Sec-WebSocket-Version 13 is supported.\n";
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        format!(
            "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Connection: Upgrade, close\r\n\r\n{body}",
            body.len()
        )
    );
    out.clear();
    write_error_response(&HandshakeError::MethodNotGet("POST".into()), &mut out);
    let text = core::str::from_utf8(&out).unwrap();
    assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"));
    assert!(!text.contains("POST"));

    assert_eq!(validate_reject(403, &[]), Ok(()));
    assert_eq!(validate_reject(101, &[]), Err(UsageError::InvalidStatus(101)));
    assert_eq!(validate_reject(1000, &[]), Err(UsageError::InvalidStatus(1000)));
    assert_eq!(
        validate_reject(400, &[("Content-Length".into(), "1".into())]),
        Err(UsageError::ReservedHeader("Content-Length".into()))
    );
    assert_eq!(validate_reject(400, &[("X".into(), "\r".into())]), Err(UsageError::InvalidHeader("X".into())));
    assert_eq!(validate_reject(401, &[("WWW-Authenticate".into(), "Basic".into())]), Ok(()));
}

#[test]
fn error_responses_parse_back() {
    // Every built-in error response is valid HTTP with its body framed.
    let errs = [
        HandshakeError::Malformed("x"),
        HandshakeError::HttpVersion,
        HandshakeError::MissingHost,
        HandshakeError::MissingConnectionUpgrade,
        HandshakeError::InvalidKey,
        HandshakeError::InvalidProtocolHeader,
        HandshakeError::InvalidExtensionHeader,
        HandshakeError::MethodNotGet("PUT".into()),
        HandshakeError::UnsupportedVersion(None),
        HandshakeError::HeadTooLarge,
        HandshakeError::TooManyHeaders,
    ];
    for e in errs {
        let mut out = Vec::new();
        write_error_response(&e, &mut out);
        let mut h = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut h);
        let n = match resp.parse(&out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(resp.code, e.status());
        let cl: usize = resp
            .headers
            .iter()
            .find(|h| h.name == "Content-Length")
            .map(|h| core::str::from_utf8(h.value).unwrap().parse().unwrap())
            .unwrap();
        assert_eq!(out.len() - n, cl);
        assert!(!e.body_text().is_empty());
    }
}

/// The key check is the base64 decoder's verdict (standard alphabet,
/// padding required, trailing bits allowed) that the key is 16 bytes: on
/// keys with every character and length changed.
#[test]
fn key_check_matches_a_base64_decoder() {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let decoder = |k: &str| ENGINE.decode(k).is_ok_and(|b| b.len() == 16);
    let base = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut keys = vec![String::from(base), String::from("AQIDBAUGBwgJCgsMDQ4PEC=="), String::new()];
    for i in 0..base.len() {
        for c in ['A', 'z', '0', '+', '/', '=', '-', '_', ' ', '\u{e9}', '\0'] {
            let mut k = String::from(&base[..i]);
            k.push(c);
            k.push_str(&base[i + 1..]);
            keys.push(k);
        }
        keys.push(format!("{}{}", &base[..i], &base[i + 1..]));
        keys.push(format!("{}A{}", &base[..i], &base[i..]));
    }
    keys.push(String::from("dGhlIHNhbXBsZSBub25jZQ=A"));
    keys.push(String::from("dGhlIHNhbXBsZSBub25jZQAA"));
    for k in &keys {
        assert_eq!(is_valid_key(k), decoder(k), "{k:?}");
    }
    assert!(is_valid_key(base) && is_valid_key("AQIDBAUGBwgJCgsMDQ4PEC=="));
}
