use super::body::{Chunked, SizeLine};
use super::*;
use crate::handshake::name_in;
use alloc::boxed::Box;
use alloc::vec;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const LIMITS: Limits = Limits { max_head_size: 4096, max_headers: 32 };

fn url(u: &str) -> Result<(String, u16, String, bool), UsageError> {
    ClientRequest::new(u).map(|r| (r.host().into(), r.port(), r.resource().into(), r.is_secure()))
}

#[test]
fn url_table_ok() {
    let ok = |h: &str, p: u16, r: &str, s: bool| Ok((h.into(), p, r.into(), s));
    assert_eq!(url("ws://example.com/chat"), ok("example.com", 80, "/chat", false));
    assert_eq!(url("wss://example.com/chat"), ok("example.com", 443, "/chat", true));
    assert_eq!(url("WS://Example.COM"), ok("example.com", 80, "/", false));
    assert_eq!(url("WsS://h"), ok("h", 443, "/", true));
    assert_eq!(url("ws://h:9001"), ok("h", 9001, "/", false));
    assert_eq!(url("wss://h:80/"), ok("h", 80, "/", true));
    assert_eq!(url("ws://h:/x"), ok("h", 80, "/x", false));
    assert_eq!(url("ws://[::1]:/"), ok("::1", 80, "/", false));
    assert_eq!(url("ws://h:00080/x"), ok("h", 80, "/x", false));
    assert_eq!(url("ws://h:65535"), ok("h", 65535, "/", false));
    assert_eq!(url("ws://[::1]:9001/chat?x=1"), ok("::1", 9001, "/chat?x=1", false));
    assert_eq!(url("wss://[2001:DB8::1]"), ok("2001:db8::1", 443, "/", true));
    assert_eq!(url("ws://127.0.0.1:8080/a/b"), ok("127.0.0.1", 8080, "/a/b", false));
    assert_eq!(url("ws://h?q=1"), ok("h", 80, "/?q=1", false));
    assert_eq!(url("ws://h/p?"), ok("h", 80, "/p", false));
    assert_eq!(url("ws://h/p?a?b/c"), ok("h", 80, "/p?a?b/c", false));
    assert_eq!(url("ws://h/%41%2f;x=1@:"), ok("h", 80, "/%41%2f;x=1@:", false));
    assert_eq!(url("ws://a-b.c_d~e%41"), ok("a-b.c_d~e%41", 80, "/", false));
}

#[test]
fn url_table_err() {
    let table: &[(&str, &str)] = &[
        ("ws://h/chat#frag", "fragment identifiers must not be used"),
        ("ws://h#", "fragment identifiers must not be used"),
        ("http://h/", "scheme must be ws or wss"),
        ("wss2://h/", "scheme must be ws or wss"),
        ("h/", "missing scheme"),
        ("ws:h/", "expected \"//\" after the scheme"),
        ("ws:///chat", "empty host"),
        ("ws://", "empty host"),
        ("ws://:80/", "empty host"),
        ("ws://h:0/", "invalid port"),
        ("ws://h:65536/", "invalid port"),
        ("ws://h:99999999999999999999/", "invalid port"),
        ("ws://h:8a/", "invalid port"),
        ("ws://h:-1/", "invalid port"),
        ("ws://h:1:2/", "invalid port"),
        ("ws://user@h/", "userinfo is not allowed"),
        ("ws://u:p@h/", "userinfo is not allowed"),
        ("ws://[::1/", "unclosed '[' in host"),
        ("ws://[::g]/", "invalid IPv6 address"),
        ("ws://[v1.x]/", "invalid IPv6 address"),
        ("ws://[::1]x/", "junk after IPv6 address"),
        ("ws://[]/", "invalid IPv6 address"),
        ("ws://h h/", "contains a space, control or non-ASCII character"),
        ("ws://h/\u{e9}", "contains a space, control or non-ASCII character"),
        ("ws://h/a\r\nX: y", "contains a space, control or non-ASCII character"),
        ("ws://h/<x>", "invalid character in path"),
        ("ws://h/%zz", "invalid character in path"),
        ("ws://h/%4", "invalid character in path"),
        ("ws://h/?a|b", "invalid character in query"),
        ("ws://h/?%", "invalid character in query"),
        ("ws://h[/", "invalid character in host"),
        ("ws://h%zz/", "invalid character in host"),
    ];
    for (u, reason) in table {
        assert_eq!(url(u), Err(UsageError::InvalidUrl(reason)), "url {u:?}");
    }
}

#[test]
fn host_header() {
    let h = |u: &str| ClientRequest::new(u).map(|r| r.host_header());
    assert_eq!(h("ws://h/"), Ok("h".into()));
    assert_eq!(h("ws://h:80/"), Ok("h".into()));
    assert_eq!(h("ws://h:443/"), Ok("h:443".into()));
    assert_eq!(h("wss://h:443/"), Ok("h".into()));
    assert_eq!(h("wss://h:80/"), Ok("h:80".into()));
    assert_eq!(h("ws://[::1]:9001/chat?x=1"), Ok("[::1]:9001".into()));
    assert_eq!(h("ws://[::1]/"), Ok("[::1]".into()));
}

fn rfc_request() -> ClientRequest {
    ClientRequest::new("ws://server.example.com/chat")
        .unwrap()
        .origin("http://example.com")
        .protocol("chat")
        .protocol("superchat")
}

#[test]
fn rfc_1_2_request_bytes() {
    let mut out = Vec::new();
    write_request(&rfc_request(), KEY, &mut out);
    assert_eq!(core::str::from_utf8(&out).unwrap(), crate::testing::RFC_REQUEST);
    assert_eq!(rfc_request().validate(), Ok(()));
}

#[test]
fn request_with_extensions_and_headers() {
    let req = ClientRequest::new("wss://h:8443/a?b")
        .unwrap()
        .extension(ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None))
        .extension(ExtensionOffer::new("x-foo").param("a", Some("1")))
        .header("Cookie", "a=b")
        .header("Authorization", "Basic eA==");
    assert_eq!(req.validate(), Ok(()));
    let mut out = Vec::new();
    write_request(&req, KEY, &mut out);
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        "GET /a?b HTTP/1.1\r\n\
         Host: h:8443\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo; a=1\r\n\
         Cookie: a=b\r\n\
         Authorization: Basic eA==\r\n\
         \r\n"
    );
    assert_eq!(req.headers().len(), 2);
    assert_eq!(req.extensions().len(), 2);
    assert!(req.protocols().is_empty());
    assert_eq!(req.origin_value(), None);
}

#[test]
fn request_validation_and_defensive_writing() {
    let base = || ClientRequest::new("ws://h/").unwrap();
    assert_eq!(base().protocol("a b").validate(), Err(UsageError::InvalidProtocol("a b".into())));
    assert_eq!(base().protocol("chat").protocol("chat").validate(), Err(UsageError::InvalidProtocol("chat".into())));
    assert_eq!(base().origin("http://x\r\nEvil: 1").validate(), Err(UsageError::InvalidHeader("Origin".into())));
    assert_eq!(
        base().extension(ExtensionOffer::new("x").param("y", Some("a b"))).validate(),
        Err(UsageError::InvalidExtension("x".into()))
    );
    assert_eq!(base().header("X-A", "1\r\nEvil: 1").validate(), Err(UsageError::InvalidHeader("X-A".into())));
    assert_eq!(base().header("X A", "1").validate(), Err(UsageError::InvalidHeader("X A".into())));
    for name in ["Host", "sec-websocket-key", "Connection", "ORIGIN", "Content-Length"] {
        assert_eq!(base().header(name, "x").validate(), Err(UsageError::ReservedHeader(name.into())));
        assert!(name_in(name, CLIENT_RESERVED));
    }
    // The writer never emits any of those.
    let req = base()
        .protocol("a b")
        .protocol("ok")
        .origin("x\ny")
        .extension(ExtensionOffer::new("bad ext"))
        .header("Host", "evil")
        .header("X-A", "1\r\nEvil: 1")
        .header("X-B", "2");
    let mut out = Vec::new();
    write_request(&req, "k\r\nEvil: 1", &mut out);
    assert_eq!(
        core::str::from_utf8(&out).unwrap(),
        "GET / HTTP/1.1\r\n\
         Host: h\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Protocol: ok\r\n\
         Sec-WebSocket-Version: 13\r\n\
         X-B: 2\r\n\
         \r\n"
    );
}

const RFC_RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
    Sec-WebSocket-Protocol: chat\r\n\
    \r\n";

fn parse(resp: &str, req: &ClientRequest) -> Result<ResponseParse, HandshakeError> {
    parse_response(resp.as_bytes(), false, req, KEY, LIMITS)
}

fn accepted(resp: &str, req: &ClientRequest) -> Result<Accepted, HandshakeError> {
    match parse(resp, req)? {
        ResponseParse::Accepted(a, n) => {
            assert_eq!(n, resp.len());
            Ok(a)
        }
        other => panic!("not accepted: {other:?}"),
    }
}

#[test]
fn rfc_1_2_response_accepted() {
    let a = accepted(RFC_RESPONSE, &rfc_request()).unwrap();
    assert_eq!(a.protocol.as_deref(), Some("chat"));
    assert!(a.extensions.is_empty());
    assert_eq!(a.headers.len(), 4);
    assert_eq!(a.headers[2].0, "Sec-WebSocket-Accept");
}

#[test]
fn response_bytes_after_head_are_not_consumed() {
    let mut buf = RFC_RESPONSE.as_bytes().to_vec();
    buf.extend_from_slice(&[0x81, 0x00]);
    match parse_response(&buf, false, &rfc_request(), KEY, LIMITS) {
        Ok(ResponseParse::Accepted(_, n)) => assert_eq!(n, RFC_RESPONSE.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn response_split_at_every_offset() {
    let req = rfc_request();
    let full = parse(RFC_RESPONSE, &req);
    assert!(matches!(full, Ok(ResponseParse::Accepted(..))));
    let bytes = RFC_RESPONSE.as_bytes();
    for i in 0..bytes.len() {
        assert_eq!(parse_response(&bytes[..i], false, &req, KEY, LIMITS), Ok(ResponseParse::Partial), "prefix {i}");
    }
    // A rejection with a body, fed the same way.
    let resp = "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!";
    let full = parse(resp, &req);
    assert!(matches!(full, Ok(ResponseParse::Rejected(_, 50))));
    for i in 0..resp.len() {
        assert_eq!(
            parse_response(&resp.as_bytes()[..i], false, &req, KEY, LIMITS),
            Ok(ResponseParse::Partial),
            "prefix {i}"
        );
    }
    // A chunked one.
    let resp = "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n\
                3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
    let full = parse(resp, &req);
    match &full {
        Ok(ResponseParse::Rejected(r, n)) => {
            assert_eq!(r.body, b"abcde");
            assert_eq!(*n, resp.len());
        }
        other => panic!("{other:?}"),
    }
    for i in 0..resp.len() {
        assert_eq!(
            parse_response(&resp.as_bytes()[..i], false, &req, KEY, LIMITS),
            Ok(ResponseParse::Partial),
            "prefix {i}"
        );
    }
}

#[test]
fn rejection_bodies() {
    let req = rfc_request();
    let rej = |r: &str, eof: bool| parse_response(r.as_bytes(), eof, &req, KEY, LIMITS);
    // Content-Length, with extra bytes after it.
    let r401 = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nhi+junk";
    match rej(r401, false) {
        Ok(ResponseParse::Rejected(r, n)) => {
            assert_eq!(r.status, 401);
            assert_eq!(r.reason, "Unauthorized");
            assert_eq!(r.body, b"hi");
            assert_eq!(r.headers[0], ("WWW-Authenticate".into(), "Basic".into()));
            assert_eq!(n, r401.len() - "+junk".len());
        }
        other => panic!("{other:?}"),
    }
    // No length: runs to the close.
    let r = "HTTP/1.1 404 Not Found\r\n\r\nabc";
    assert_eq!(rej(r, false), Ok(ResponseParse::Partial));
    match rej(r, true) {
        Ok(ResponseParse::Rejected(r2, n)) => {
            assert_eq!(r2.body, b"abc");
            assert_eq!(n, r.len());
        }
        other => panic!("{other:?}"),
    }
    // HTTP/1.0 non-101 is still a rejection (handled per HTTP).
    assert!(matches!(
        rej("HTTP/1.0 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", false),
        Ok(ResponseParse::Rejected(ref r, _)) if r.status == 302
    ));
    // An interim 1xx is skipped: what follows it is the answer.
    let both = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 No\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        rej(both, false).map(|p| matches!(p, ResponseParse::Rejected(ref r, n) if r.status == 403 && n == both.len())),
        Ok(true)
    );
    // No body for 204/304.
    for s in ["204 No Content", "304 Not Modified"] {
        let r = alloc::format!("HTTP/1.1 {s}\r\n\r\nXX");
        match rej(&r, false) {
            Ok(ResponseParse::Rejected(x, n)) => {
                assert!(x.body.is_empty());
                assert_eq!(n, r.len() - 2);
            }
            other => panic!("{other:?}"),
        }
    }
    // A non-chunked Transfer-Encoding runs to the close.
    assert_eq!(rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: gzip\r\n\r\nzz", false), Ok(ResponseParse::Partial));
    // Repeated identical Content-Length is fine.
    assert!(matches!(
        rej("HTTP/1.1 400 Bad\r\nContent-Length: 1, 1\r\nContent-Length: 1\r\n\r\nz", false),
        Ok(ResponseParse::Rejected(..))
    ));
    // Errors in the body framing.
    assert_eq!(
        rej("HTTP/1.1 400 Bad\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nz", false),
        Err(HandshakeError::Malformed("conflicting Content-Length"))
    );
    assert_eq!(
        rej("HTTP/1.1 400 Bad\r\nContent-Length: x\r\n\r\n", false),
        Err(HandshakeError::Malformed("invalid Content-Length"))
    );
    assert_eq!(
        rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false),
        Err(HandshakeError::Malformed("invalid chunk size"))
    );
    assert_eq!(
        rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", false),
        Err(HandshakeError::Malformed("chunk not followed by CRLF"))
    );
    // Truncated at the close.
    assert_eq!(rej("HTTP/1.1 400 Bad\r\nContent-Length: 5\r\n\r\nab", true), Err(HandshakeError::Truncated));
    assert_eq!(
        rej("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true),
        Err(HandshakeError::Truncated)
    );
    assert_eq!(rej("HTTP/1.1 101 Swi", true), Err(HandshakeError::Truncated));
    assert_eq!(rej("", true), Err(HandshakeError::Truncated));
    // Too large.
    let small = Limits { max_head_size: 64, max_headers: 8 };
    let big = |r: &str, eof: bool| parse_response(r.as_bytes(), eof, &req, KEY, small);
    assert_eq!(big("HTTP/1.1 400 Bad\r\nContent-Length: 65\r\n\r\n", false), Err(HandshakeError::HeadTooLarge));
    assert_eq!(
        big("HTTP/1.1 400 Bad\r\nContent-Length: 99999999999999999999999\r\n\r\n", false),
        Err(HandshakeError::HeadTooLarge)
    );
    let long_body = alloc::format!("HTTP/1.1 400 Bad\r\n\r\n{}", "x".repeat(65));
    assert_eq!(big(&long_body, false), Err(HandshakeError::HeadTooLarge));
    let ok_body = alloc::format!("HTTP/1.1 400 Bad\r\n\r\n{}", "x".repeat(64));
    assert!(matches!(big(&ok_body, true), Ok(ResponseParse::Rejected(..))));
    let chunked = alloc::format!("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n{}", "x".repeat(3));
    assert_eq!(big(&chunked, false), Err(HandshakeError::HeadTooLarge));
    let chunked = "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n";
    assert_eq!(big(chunked, false), Err(HandshakeError::HeadTooLarge));
}

#[test]
fn rejected_error_variant() {
    let r = Rejection { status: 403, reason: "Forbidden".into(), headers: vec![], body: vec![] };
    let e = HandshakeError::from(r.clone());
    assert_eq!(e, HandshakeError::Rejected(Box::new(r.clone())));
    assert_eq!(e.status(), None);
    assert_eq!(alloc::format!("{e}"), "the server answered 403 instead of 101 (RFC 6455 §4.1)");
}

#[test]
fn response_checks_each_variant() {
    let req =
        rfc_request().extension(ExtensionOffer::new("permessage-deflate")).extension(ExtensionOffer::new("x-two"));
    let acc = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    let up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let r = |head: &str| alloc::format!("HTTP/1.1 101 Switching Protocols\r\n{head}\r\n");
    let err = |head: &str| parse(&r(head), &req).err();

    assert_eq!(parse("HTTP/1.0 101 Switching Protocols\r\n\r\n", &req), Err(HandshakeError::HttpVersion));
    assert_eq!(parse("HTTP/2.0 101 Switching Protocols\r\n\r\n", &req), Err(HandshakeError::HttpVersion));
    assert_eq!(parse("ICY 200 OK\r\n\r\n", &req), Err(HandshakeError::Malformed("invalid HTTP version")));
    assert_eq!(parse("HTTP/1.1 1x1 Hm\r\n\r\n", &req), Err(HandshakeError::Malformed("invalid status line")));
    assert_eq!(
        parse_response(b"HTTP/1.1 101 OK\r\nX: \xff\r\n\r\n", false, &req, KEY, LIMITS),
        Err(HandshakeError::Malformed("header value is not UTF-8"))
    );
    assert_eq!(err(&alloc::format!("Connection: Upgrade\r\n{acc}")), Some(HandshakeError::MissingUpgrade));
    assert_eq!(
        err(&alloc::format!("Upgrade: h2c\r\nConnection: Upgrade\r\n{acc}")),
        Some(HandshakeError::MissingUpgrade)
    );
    assert_eq!(err(&alloc::format!("Upgrade: websocket\r\n{acc}")), Some(HandshakeError::MissingConnectionUpgrade));
    assert_eq!(
        err(&alloc::format!("Upgrade: websocket\r\nConnection: close\r\n{acc}")),
        Some(HandshakeError::MissingConnectionUpgrade)
    );
    assert_eq!(err(up), Some(HandshakeError::InvalidAccept));
    assert_eq!(err(&alloc::format!("{up}Sec-WebSocket-Accept: AAAA\r\n")), Some(HandshakeError::InvalidAccept));
    assert_eq!(err(&alloc::format!("{up}{acc}{acc}")), Some(HandshakeError::InvalidAccept));
    assert_eq!(
        err(&alloc::format!("{up}{acc}Sec-WebSocket-Extensions: x-three\r\n")),
        Some(HandshakeError::UnofferedExtension("x-three".into()))
    );
    assert_eq!(
        err(&alloc::format!("{up}{acc}Sec-WebSocket-Extensions: a;\r\n")),
        Some(HandshakeError::InvalidExtensionHeader)
    );
    assert_eq!(
        err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: other\r\n")),
        Some(HandshakeError::UnofferedProtocol("other".into()))
    );
    assert_eq!(
        err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: CHAT\r\n")),
        Some(HandshakeError::UnofferedProtocol("CHAT".into()))
    );
    assert_eq!(
        err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: chat, superchat\r\n")),
        Some(HandshakeError::UnofferedProtocol("chat, superchat".into()))
    );
    assert_eq!(
        err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n")),
        Some(HandshakeError::UnofferedProtocol("chat, chat".into()))
    );
    assert_eq!(
        err(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol:\r\n")),
        Some(HandshakeError::UnofferedProtocol("".into()))
    );
    let no_protocols = ClientRequest::new("ws://h/").unwrap();
    assert_eq!(
        parse(&r(&alloc::format!("{up}{acc}Sec-WebSocket-Protocol: chat\r\n")), &no_protocols),
        Err(HandshakeError::UnofferedProtocol("chat".into()))
    );

    // Good: case-insensitive names and tokens, token lists, extensions
    // split over two headers, whitespace around the accept value.
    let good = r("upgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\n\
         sec-websocket-accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  \r\n\
         Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\
         Sec-WebSocket-Extensions: x-two\r\n\
         Set-Cookie: a=b\r\n");
    let a = accepted(&good, &req).unwrap();
    assert_eq!(a.protocol, None);
    assert_eq!(
        a.extensions,
        vec![
            ExtensionOffer::new("permessage-deflate").param("server_no_context_takeover", None),
            ExtensionOffer::new("x-two"),
        ]
    );
    assert_eq!(a.headers.len(), 6);
}

#[test]
fn response_limits() {
    let req = rfc_request();
    let bytes = RFC_RESPONSE.as_bytes();
    let lim = |max_head_size, max_headers| Limits { max_head_size, max_headers };
    let run = |b: &[u8], l: Limits| parse_response(b, false, &req, KEY, l);
    assert_eq!(run(&bytes[..39], lim(40, 8)), Ok(ResponseParse::Partial));
    assert_eq!(run(&bytes[..40], lim(40, 8)), Err(HandshakeError::HeadTooLarge));
    assert_eq!(run(bytes, lim(40, 8)), Err(HandshakeError::HeadTooLarge));
    // Exactly at the limit is fine, one byte less is not.
    assert!(matches!(run(bytes, lim(bytes.len(), 4)), Ok(ResponseParse::Accepted(..))));
    assert_eq!(run(bytes, lim(bytes.len() - 1, 4)), Err(HandshakeError::HeadTooLarge));
    // Four header fields: a limit of three is exceeded.
    assert_eq!(run(bytes, lim(4096, 3)), Err(HandshakeError::TooManyHeaders));
    assert_eq!(run(bytes, lim(4096, 0)), Err(HandshakeError::TooManyHeaders));
}

use crate::testing::Rng;

/// Chunk-size lines and chunked bodies made of pieces that matter to
/// the grammar.
fn random_chunked(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"0",
        b"1",
        b"2",
        b"a",
        b"F",
        b"g",
        b"fffffffffffffffff",
        b"ffffffffffffffff",
        b" ",
        b"\t",
        b";",
        b";x=y",
        b"\r\n",
        b"\r",
        b"\n",
        b"ab",
        b"abc",
        b"T: 1",
        b"\x00",
    ];
    let n = rng.below(14);
    (0..n).flat_map(|_| PIECES[rng.below(PIECES.len())].iter().copied()).collect()
}

/// The size line follows httparse's `parse_chunk_size` at every prefix,
/// read whole or a byte at a time.
#[test]
fn size_line_follows_httparse() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..100_000 {
        let line = random_chunked(&mut rng);
        let mut bytewise = SizeLine::default();
        let mut decided: Option<Result<Option<(usize, u64)>, HandshakeError>> = None;
        for n in 0..=line.len() {
            let want = match httparse::parse_chunk_size(&line[..n]) {
                Ok(httparse::Status::Complete(v)) => Ok(Some(v)),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(_) => Err(HandshakeError::Malformed("invalid chunk size")),
            };
            assert_eq!(SizeLine::default().read(&line[..n]), want, "{:?}", &line[..n]);
            let got = decided.clone().unwrap_or_else(|| bytewise.read(&line[..n]));
            assert_eq!(got, want, "a byte at a time: {:?}", &line[..n]);
            if got != Ok(None) {
                decided = Some(got);
            }
        }
    }
}

/// What a de-chunker decides: more bytes needed, or the body and the
/// bytes it took, or an error.
type Dechunked = Result<Option<(Vec<u8>, usize)>, HandshakeError>;

/// The de-chunker before it was made resumable (it read the body from
/// its start on every call): the reference for [`Chunked`].
fn dechunk_from_the_start(rest: &[u8], max: usize) -> Dechunked {
    let mut body = Vec::new();
    let mut pos = 0usize;
    loop {
        let here = rest.get(pos..).unwrap_or(&[]);
        let (n, size) = match httparse::parse_chunk_size(here) {
            Ok(httparse::Status::Complete(v)) => v,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HandshakeError::Malformed("invalid chunk size")),
        };
        pos = pos.saturating_add(n);
        if size == 0 {
            loop {
                let here = rest.get(pos..).unwrap_or(&[]);
                let Some(nl) = here.iter().position(|b| *b == b'\n') else {
                    return Ok(None);
                };
                let line = here.get(..nl).unwrap_or(&[]);
                pos = pos.saturating_add(nl).saturating_add(1);
                if line.is_empty() || line == b"\r" {
                    if pos > max {
                        return Err(HandshakeError::HeadTooLarge);
                    }
                    return Ok(Some((body, pos)));
                }
            }
        }
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| pos.checked_add(s))
            .filter(|end| *end <= max)
            .ok_or(HandshakeError::HeadTooLarge)?;
        let after = end.saturating_add(2);
        let (Some(data), Some(crlf)) = (rest.get(pos..end), rest.get(end..after)) else {
            return Ok(None);
        };
        if crlf != b"\r\n" {
            return Err(HandshakeError::Malformed("chunk not followed by CRLF"));
        }
        body.extend_from_slice(data);
        pos = after;
    }
}

/// The resumable de-chunker decides at every prefix what reading the
/// body from its start decides, fed whole or in random pieces.
#[test]
fn chunked_reader_resumes_where_it_stopped() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let chunk = |rng: &mut Rng| -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..rng.below(4) {
            let n = rng.below(20);
            v.extend_from_slice(alloc::format!("{n:x}").as_bytes());
            if rng.below(3) == 0 {
                v.extend_from_slice(b" ;ext=1");
            }
            v.extend_from_slice(b"\r\n");
            v.extend((0..n).map(|i| b'a' + (i % 26) as u8));
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(if rng.below(2) == 0 { b"0\r\n\r\n" } else { b"0\r\nT: 1\r\nU: 2\n\r\n" });
        v
    };
    for round in 0..20_000 {
        let mut input = if round % 2 == 0 { chunk(&mut rng) } else { random_chunked(&mut rng) };
        // A byte changed, sometimes.
        if rng.below(3) == 0 && !input.is_empty() {
            let at = rng.below(input.len());
            input[at] = b"\r\n0a; "[rng.below(6)];
        }
        input.extend_from_slice(b"after");
        let max = [16, 64, 1024][rng.below(3)];
        let mut reader = Chunked::default();
        let mut body = Vec::new();
        let mut decided: Option<Dechunked> = None;
        let mut n = 0;
        loop {
            let want = dechunk_from_the_start(&input[..n], max);
            let got = match &decided {
                Some(d) => d.clone(),
                None => reader.read(&input[..n], max, &mut body).map(|d| d.map(|used| (body.clone(), used))),
            };
            assert_eq!(got, want, "{:?} at {n}", String::from_utf8_lossy(&input));
            if got != Ok(None) {
                decided = Some(got);
            }
            if n == input.len() {
                break;
            }
            n = (n + 1 + rng.below(4)).min(input.len());
        }
    }
}
