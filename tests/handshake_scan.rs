//! The opening handshake's heads (a server reads the client's request, a
//! client the server's response and a rejection's body) fed whole, a byte at
//! a time and in random splits: the outputs (bytes on the wire, events,
//! errors) are exactly the same whatever the split, valid input or not
//! (bad start lines, garbage, heads over `max_head_size`, too many header
//! fields, bad chunked bodies, input cut short by EOF). An error inside a
//! head that is not complete yet is refused once the head's length reaches
//! a power of two past it, its end, the limit or EOF, however it was split.
//! Also a timing report (ignored by default) for heads fed a byte at a time.
mod common;

use common::{Out, RFC_REQUEST, cframe, drain, merge_into, op, sframe, xorshift};
use proptest::prelude::*;
use wsmachine::handshake::{Accept, ClientRequest, accept_key};
use wsmachine::{CloseCode, Closed, Config, Connection, ConnectionError, Entropy, Event, HandshakeError};

/// Entropy of zeroes: the client's key is `AAAAAAAAAAAAAAAAAAAAAA==`.
struct Zeroes;

impl Entropy for Zeroes {
    fn fill(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
}

/// The key of a client built with [`Zeroes`].
const ZERO_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// One input for one side, with the limits it runs under.
#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    side: Side,
    max_head_size: usize,
    max_headers: usize,
    input: Vec<u8>,
    /// The input ends with EOF.
    eof: bool,
}

fn case(name: &'static str, side: Side, input: impl AsRef<[u8]>, eof: bool) -> Case {
    Case { name, side, max_head_size: 8192, max_headers: 64, input: input.as_ref().to_vec(), eof }
}

impl Case {
    fn limits(mut self, max_head_size: usize, max_headers: usize) -> Self {
        self.max_head_size = max_head_size;
        self.max_headers = max_headers;
        self
    }

    fn connection(&self) -> Connection {
        let config = Config::default().with_max_head_size(self.max_head_size).with_max_headers(self.max_headers);
        match self.side {
            Side::Server => Connection::server(config),
            Side::Client => {
                let request = ClientRequest::new("ws://example.com/chat").unwrap().protocol("chat");
                let mut c = Connection::client(request, config, Zeroes).expect("valid request");
                // The request is not part of what is compared.
                drain(&mut c);
                c
            }
        }
    }

    /// Feeds the input in pieces ending at `cuts` (increasing), draining
    /// after each; then a server answers what it was asked (accepts an
    /// upgrade, answers a plain request with 200); then EOF if
    /// the case has it. Returns every output, transmits joined.
    fn run(&self, cuts: &[usize]) -> Vec<Out> {
        let mut conn = self.connection();
        let mut all = Vec::new();
        let mut start = 0;
        for (i, &end) in cuts.iter().chain(std::iter::once(&self.input.len())).enumerate() {
            let end = end.clamp(start, self.input.len());
            let piece = &self.input[start..end];
            // Both input paths, alternately.
            if i % 2 == 0 {
                conn.handle_bytes(piece);
            } else {
                conn.handle_bytes_owned(wsmachine::BytesMut::from(piece));
            }
            merge_into(&mut all, drain(&mut conn));
            start = end;
        }
        if self.side == Side::Server && conn.accept(Accept::new()).is_err() {
            let _ = conn.reject(200, &[], b"page");
        }
        merge_into(&mut all, drain(&mut conn));
        if self.eof {
            conn.handle_eof();
            merge_into(&mut all, drain(&mut conn));
        }
        all
    }

    fn whole(&self) -> Vec<Out> {
        self.run(&[])
    }

    fn bytewise(&self) -> Vec<Out> {
        self.run(&(1..self.input.len()).collect::<Vec<_>>())
    }
}

/// A 101 for a [`Zeroes`] client with extra header lines.
fn ok_101(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(ZERO_KEY.as_bytes())
    )
}

/// A valid upgrade request with extra header lines.
fn upgrade_request(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// The first bytes of a TLS 1.2 ClientHello: what a plain port gets from a
/// `wss://` client.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x1f\xb2\x07\x11\x5d\xe0\x42\x9c\
    \x33\x10\xa4\x77\x21\x0e\x9b\x02\x44\x5c\x61\x00\x00\x20\xc0\x2b\xc0\x2f";

fn cases() -> Vec<Case> {
    use Side::{Client, Server};
    let mut pipelined = RFC_REQUEST.as_bytes().to_vec();
    pipelined.extend(cframe(true, op::TEXT, b"hello"));
    pipelined.extend(cframe(true, op::PING, b"p"));
    let mut opened = ok_101("Sec-WebSocket-Protocol: chat\r\n").into_bytes();
    opened.extend(sframe(true, op::TEXT, b"hello"));
    opened.extend(sframe(false, op::BINARY, b"ab"));
    opened.extend(sframe(true, op::CONT, b"cd"));
    let mut interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n".to_vec();
    interim.extend(ok_101("").as_bytes());
    interim.extend(sframe(true, op::TEXT, b"after 1xx"));
    let long = |name: &str| format!("{name}: {}\r\n", "v".repeat(150));
    let many: String = (0..8).map(|i| format!("X-{i}: {i}\r\n")).collect();
    vec![
        // ---- the server reads requests ----
        case("rfc request + frames", Server, pipelined, false),
        case("rfc request + eof", Server, RFC_REQUEST, true),
        case("plain GET", Server, "GET /page HTTP/1.1\r\nHost: h\r\n\r\n", false),
        case(
            "empty lines first, LF endings",
            Server,
            upgrade_request("").replace("\r\n", "\n").replacen("GET", "\r\n\nGET", 1),
            false,
        ),
        case("POST upgrade", Server, upgrade_request("").replacen("GET", "POST", 1), false),
        case("version 8", Server, upgrade_request("").replace("Version: 13", "Version: 8"), false),
        case("bad request line: garbage version", Server, b"GET / HTTP\x01 HTTP/1.1\r\nHost: a\r\n\r\n", false),
        case("bad request line: no version", Server, "GET /\r\nHost: a\r\n\r\n", false),
        case("bad request line: HTTP/2.0", Server, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", false),
        case("HTTP/2 preface", Server, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false),
        case("TLS ClientHello", Server, CLIENT_HELLO, false),
        case("garbage text", Server, "hello there, is anyone listening", false),
        case("bad header name, complete", Server, "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", false),
        case("bad header name, incomplete", Server, "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\nMore: y", false),
        case("bad header name, incomplete, eof", Server, "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x", true),
        case("bad header value", Server, upgrade_request("X: \x7f\r\n"), false),
        case("head too large, complete", Server, upgrade_request(&long("X-Big")), false).limits(128, 64),
        case("head too large, never ending", Server, long("GET / HTTP/1.1\r\nX-Big").repeat(3), false).limits(128, 64),
        case("head exactly at the limit", Server, upgrade_request(""), false).limits(upgrade_request("").len(), 64),
        case("too many headers", Server, upgrade_request(&many), false).limits(8192, 4),
        case("too many headers, incomplete", Server, upgrade_request(&many).trim_end(), false).limits(8192, 4),
        case("too many headers, incomplete, eof", Server, upgrade_request(&many).trim_end(), true).limits(8192, 4),
        case("truncated request", Server, &RFC_REQUEST[..RFC_REQUEST.len() - 3], true),
        case("nothing but eof", Server, "", true),
        // ---- the client reads responses ----
        case("101 + frames", Client, opened, false),
        case(
            "101, LF endings, empty lines first",
            Client,
            format!("\r\n\n{}", ok_101("").replace("\r\n", "\n")),
            false,
        ),
        case("interim 1xx, then 101", Client, interim, false),
        case("403 with Content-Length", Client, "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nabcIGNORED", false),
        case(
            "401 chunked, extensions and trailers",
            Client,
            "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n2 \t;x\r\nde\r\n\
             0\r\nT: 1\r\n\r\nIGNORED",
            false,
        ),
        case("302 until eof", Client, "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\nbody", true),
        case("wrong accept", Client, ok_101("").replace(&accept_key(ZERO_KEY.as_bytes()), "AAAA"), false),
        case("bad status line", Client, "HTTP/1.1 1x1 Switching\r\n\r\n", false),
        case("SSH banner", Client, "SSH-2.0-OpenSSH_9.6\r\n", false),
        case("SSH banner, eof", Client, "SSH-2.0-OpenSSH_9.6\r\n", true),
        case("HTTP/1.0 101", Client, ok_101("").replacen("HTTP/1.1", "HTTP/1.0", 1), false),
        case(
            "bad header in a 101, incomplete, eof",
            Client,
            "HTTP/1.1 101 Switching\r\nUpgrade: x\r\nBad Name: 1",
            true,
        ),
        case("response head too large", Client, ok_101(&long("X-Big")), false).limits(128, 64),
        case("response never ending", Client, long("HTTP/1.1 101 Switching\r\nX-Big").repeat(3), false).limits(128, 64),
        case("response: too many headers", Client, ok_101(&many), false).limits(8192, 4),
        case("bad chunk size", Client, "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n", false),
        case(
            "chunk without its CRLF",
            Client,
            "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            false,
        ),
        case(
            "chunked body over the limit",
            Client,
            format!("HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n{}", "1\r\nx\r\n".repeat(40)),
            false,
        )
        .limits(128, 64),
        case("truncated body", Client, "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc", true),
        case("truncated response", Client, &ok_101("")[..30], true),
    ]
}

/// Any split, the same outputs: whole, a byte at a time, cut once
/// anywhere, and cut in many random places.
#[test]
fn every_case_gives_the_same_outputs_however_it_is_split() {
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut rand = move |n: usize| (xorshift(&mut seed) % n.max(1) as u64) as usize;
    for c in cases() {
        let whole = c.whole();
        assert!(!whole.is_empty() || c.name.contains("incomplete"), "{}: no output at all", c.name);
        assert_eq!(c.bytewise(), whole, "{}: a byte at a time", c.name);
        for cut in 0..=c.input.len() {
            assert_eq!(c.run(&[cut]), whole, "{}: cut at {cut}", c.name);
        }
        for _ in 0..50 {
            let mut cuts: Vec<usize> = (0..rand(12)).map(|_| rand(c.input.len() + 1)).collect();
            cuts.sort_unstable();
            assert_eq!(c.run(&cuts), whole, "{}: cut at {cuts:?}", c.name);
        }
    }
}

fn closed_with(error: HandshakeError) -> [Out; 2] {
    [
        Out::CloseTransport,
        Out::Event(Event::Closed(Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            was_clean: false,
            error: Some(ConnectionError::Handshake(error)),
        })),
    ]
}

/// An error response as the server writes it.
fn error_response(status_line: &str, body: &str) -> Out {
    Out::Wire(
        format!(
            "HTTP/1.1 {status_line}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn refused(status_line: &str, body: &str, error: HandshakeError) -> Vec<Out> {
    let mut v = vec![error_response(status_line, body)];
    v.extend(closed_with(error));
    v
}

/// Feeds `input` a byte at a time; returns the outputs after each byte.
fn outputs_per_byte(conn: &mut Connection, input: &[u8]) -> Vec<Vec<Out>> {
    input
        .iter()
        .map(|b| {
            conn.handle_bytes(std::slice::from_ref(b));
            drain(conn)
        })
        .collect()
}

/// A TLS ClientHello on a plain port is refused at its first byte, not
/// after `max_head_size` bytes.
#[test]
fn garbage_is_refused_at_its_first_byte() {
    let mut s = Connection::server(Config::default());
    let per_byte = outputs_per_byte(&mut s, CLIENT_HELLO);
    let want = refused(
        "400 Bad Request",
        "Malformed HTTP request.\n",
        HandshakeError::Malformed("invalid token in start line"),
    );
    assert_eq!(per_byte[0], want);
    assert!(per_byte[1..].iter().all(Vec::is_empty));
}

/// An error in a head whose end has not come is refused once the head's
/// length reaches the next power of two (a checkpoint), whatever the reads
/// were; at EOF before that, it is refused then.
#[test]
fn an_error_in_an_incomplete_head_is_refused_at_the_next_power_of_two() {
    // The space in "Bad Name" is byte 28: the checkpoint that sees it is 32.
    let input = b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: xxxxxxxxxxxxxxxxxxxxxxxx";
    assert_eq!(input.iter().position(|b| *b == b'N'), Some(29));
    let want =
        refused("400 Bad Request", "Malformed HTTP request.\n", HandshakeError::Malformed("invalid header name"));
    let mut s = Connection::server(Config::default());
    let per_byte = outputs_per_byte(&mut s, input);
    for (i, outs) in per_byte.iter().enumerate() {
        let n = i + 1;
        assert_eq!(outs, &if n == 32 { want.clone() } else { vec![] }, "after {n} bytes");
    }
    // In one read of 40 bytes, or of 31 then 9: the same.
    assert_eq!(case("", Side::Server, &input[..40], false).whole(), want);
    assert_eq!(case("", Side::Server, &input[..40], false).run(&[31]), want);
    // 31 bytes, then EOF: the error is found at EOF and still answered.
    assert_eq!(case("", Side::Server, &input[..31], false).whole(), vec![]);
    assert_eq!(case("", Side::Server, &input[..31], true).whole(), want);
    // The same on a client (nothing is answered).
    let response = b"HTTP/1.1 101 Switching\r\nBad Name: xxxxxxxxxxxxxxxxxxx";
    let mut c = case("", Side::Client, b"", false).connection();
    let per_byte = outputs_per_byte(&mut c, response);
    let want = closed_with(HandshakeError::Malformed("invalid header name")).to_vec();
    for (i, outs) in per_byte.iter().enumerate() {
        let n = i + 1;
        assert_eq!(outs, &if n == 32 { want.clone() } else { vec![] }, "after {n} bytes");
    }
}

/// `max_head_size` holds exactly as before: a head that has not ended is
/// refused (431) with the byte that reaches the limit, one that ends within
/// it is accepted; `max_headers` too.
#[test]
fn limits_hold_exactly() {
    let too_large =
        refused("431 Request Header Fields Too Large", "Request head too large.\n", HandshakeError::HeadTooLarge);
    let endless = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(200));
    let mut s = case("", Side::Server, b"", false).limits(100, 64).connection();
    let per_byte = outputs_per_byte(&mut s, endless.as_bytes());
    for (i, outs) in per_byte.iter().enumerate() {
        let n = i + 1;
        assert_eq!(outs, &if n == 100 { too_large.clone() } else { vec![] }, "after {n} bytes");
    }
    let head = upgrade_request("");
    let at_limit = case("", Side::Server, &head, false).limits(head.len(), 64);
    let opened = |outs: &[Out]| {
        matches!(outs, [Out::Event(Event::UpgradeRequest(_)), Out::Wire(w), Out::Event(Event::Open(_))]
            if w.starts_with(b"HTTP/1.1 101 "))
    };
    assert!(opened(&at_limit.bytewise()), "{:?}", at_limit.bytewise());
    let over = case("", Side::Server, &head, false).limits(head.len() - 1, 64);
    assert_eq!(over.bytewise(), too_large);
    assert_eq!(over.whole(), too_large);
    // Five header fields; four allowed.
    let too_many =
        refused("431 Request Header Fields Too Large", "Too many header fields.\n", HandshakeError::TooManyHeaders);
    let four = case("", Side::Server, &head, false).limits(8192, 4);
    assert_eq!(four.bytewise(), too_many);
    assert_eq!(four.whole(), too_many);
    let five = case("", Side::Server, &head, false).limits(8192, 5);
    assert!(opened(&five.bytewise()), "{:?}", five.bytewise());
    // A client: the same limits on the response.
    let response = ok_101("");
    let c = case("", Side::Client, &response, false).limits(response.len() - 1, 64);
    assert_eq!(c.bytewise(), closed_with(HandshakeError::HeadTooLarge));
    let c = case("", Side::Client, &response, false).limits(8192, 2);
    assert_eq!(c.bytewise(), closed_with(HandshakeError::TooManyHeaders));
}

/// Bytes that matter to heads and bodies, for mutations.
const ALPHABET: &[u8] = b"\r\n\r\n :;\t0aF/\x00\x7f\xffHTP1.";

fn mutated(c: &Case, edits: &[(usize, usize, u8)]) -> Case {
    let mut c = c.clone();
    for &(kind, at, b) in edits {
        let at = at % (c.input.len() + 1);
        let b = ALPHABET[usize::from(b) % ALPHABET.len()];
        match kind % 3 {
            0 if at < c.input.len() => c.input[at] = b,
            1 if at < c.input.len() => {
                c.input.remove(at);
            }
            _ => c.input.insert(at, b),
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every case, cut in random places: the outputs of the whole input.
    #[test]
    fn random_splits_give_the_outputs_of_the_whole(
        which in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let all = cases();
        let c = &all[which.index(all.len())];
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(c.input.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(c.run(&cuts), c.whole(), "{}: cut at {:?}", c.name, cuts);
    }

    /// Mutated cases (bytes replaced, removed or inserted: broken start
    /// lines, header names, line endings, chunk sizes), under random limits
    /// and with or without EOF: whole, a byte at a time and in random
    /// pieces, the same outputs.
    #[test]
    fn mutated_heads_give_the_same_outputs_however_split(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((0..3usize, any::<usize>(), any::<u8>()), 1..5),
        limits in (prop::sample::select(vec![32usize, 64, 100, 200, 8192]), prop::sample::select(vec![1usize, 3, 6, 64])),
        eof in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let all = cases();
        let mut c = mutated(&all[which.index(all.len())], &edits).limits(limits.0, limits.1);
        c.eof = eof;
        let whole = c.whole();
        prop_assert_eq!(c.bytewise(), whole.clone(), "{} {:?}: a byte at a time", c.name, String::from_utf8_lossy(&c.input));
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(c.input.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(c.run(&cuts), whole, "{} {:?}: cut at {:?}", c.name, String::from_utf8_lossy(&c.input), cuts);
    }
}

// ---------------------------------------------------------------------------
// Timing (a report, not a check)
// ---------------------------------------------------------------------------

/// Filler header lines (`X-Pad-<i>: ppp…`, about 64 bytes each) taking
/// `head` to exactly `len` bytes once its final empty line is added.
fn padded(mut head: String, len: usize) -> String {
    let mut i = 0;
    while head.len() + 2 < len {
        let room = len - 2 - head.len();
        let name = format!("X-Pad-{i}: ");
        let fill = if room >= 128 { 64 - name.len() } else { room.saturating_sub(name.len() + 2) };
        if fill == 0 {
            // Too little room for a line: lengthen the previous one.
            let at = head.len() - 2;
            head.insert_str(at, &"q".repeat(room));
            break;
        }
        head.push_str(&format!("{name}{}\r\n", "p".repeat(fill)));
        i += 1;
    }
    head.push_str("\r\n");
    assert_eq!(head.len(), len);
    head
}

/// A valid upgrade request of exactly `len` bytes.
fn request_head(len: usize) -> Vec<u8> {
    let start = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    padded(start.into(), len).into_bytes()
}

/// A valid 101 for a [`Zeroes`] client, of exactly `len` bytes.
fn response_head(len: usize) -> Vec<u8> {
    let start = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(ZERO_KEY.as_bytes())
    );
    padded(start, len).into_bytes()
}

/// Limits big enough for a head of `len` bytes of ~64-byte lines.
fn roomy(len: usize) -> Config {
    Config::default().with_max_head_size(len).with_max_headers(len / 32 + 16)
}

fn client(config: Config) -> Connection {
    let mut c = Connection::client(ClientRequest::new("ws://example.com/chat").unwrap(), config, Zeroes)
        .expect("valid request");
    drain(&mut c);
    c
}

/// A 403 whose chunked body (64-byte chunks) takes the response to about
/// `len` bytes, all within a `max_head_size` of `len`.
fn chunked_rejection(len: usize) -> Vec<u8> {
    let mut r = b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let body_start = r.len();
    while r.len() + 70 + 5 < len && r.len() - body_start + 70 + 5 <= len {
        r.extend_from_slice(b"40\r\n");
        r.extend_from_slice(&[b'b'; 64]);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// Time to feed a head a byte at a time, draining after each byte. Run
/// with `cargo test --release --test handshake_scan -- --ignored --nocapture`.
#[test]
#[ignore = "a timing report, not a check"]
fn report_bytewise_head_timing() {
    for len in [8 * 1024, 64 * 1024] {
        for case in 0..3 {
            let (mut conn, head) = match case {
                0 => (Connection::server(roomy(len)), request_head(len)),
                1 => (client(roomy(len)), response_head(len)),
                _ => (client(roomy(len)), chunked_rejection(len)),
            };
            let start = std::time::Instant::now();
            let mut outs = Vec::new();
            for b in &head {
                conn.handle_bytes(std::slice::from_ref(b));
                outs.extend(drain(&mut conn));
            }
            let took = start.elapsed();
            let done = outs.iter().any(|o| match o {
                Out::Event(Event::UpgradeRequest(_) | Event::Open(_)) => true,
                Out::Event(Event::Closed(c)) => {
                    matches!(&c.error, Some(ConnectionError::Handshake(HandshakeError::Rejected(r))) if r.body.len() > len / 2)
                }
                _ => false,
            });
            assert!(done, "{outs:?}");
            let what = ["server, 101 request", "client, 101 response", "client, 403 with a chunked body"][case];
            println!("{what}: {} KiB fed a byte at a time: {:.2} ms", len / 1024, took.as_secs_f64() * 1e3);
        }
    }
}
