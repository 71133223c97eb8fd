//! Heap allocations of a server's opening handshake, counted by a global
//! allocator: a fresh `Connection::server`, Chromium's upgrade request fed
//! in one read, the `UpgradeRequest` accepted, the 101 drained (the W6
//! workload of `benches/rivals`). A server facing a reconnect storm accepts
//! connections at this rate, so each stage's count is pinned here; run with
//! `--nocapture` to see them.
mod common;

use common::alloc::counted;
use wsmachine::handshake::Accept;
use wsmachine::{Bytes, Config, Connection, Event, Output};

#[global_allocator]
static GLOBAL: common::alloc::Counting = common::alloc::Counting;

/// The 503-byte request Chromium sends (the rivals bench's W6 request).
const CHROMIUM_REQUEST: &[u8] = include!("common/chromium_request.in");

const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n";

/// Allocation calls of each stage of one handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stages {
    /// `Connection::server(Config::default())`.
    create: u64,
    /// `read_buffer`, the read, `handle_bytes_owned` (or `handle_bytes`).
    feed: u64,
    /// `poll_output` until the `UpgradeRequest` comes out.
    parse: u64,
    /// `accept(Accept::new())`.
    accept: u64,
    /// `poll_output` until idle: the 101 `Transmit` and `Open`.
    drain: u64,
    /// Dropping the event, the response and the connection.
    drop: u64,
}

impl Stages {
    fn total(&self) -> u64 {
        self.create + self.feed + self.parse + self.accept + self.drain + self.drop
    }
}

/// How the request is fed.
#[derive(Clone, Copy, Debug)]
enum Feed {
    /// Read into `read_buffer`, handed back with `handle_bytes_owned`.
    Owned,
    /// Copied in from the caller's buffer with `handle_bytes`.
    Slice,
}

/// One handshake as the README drives a server, counting each stage.
fn handshake(how: Feed) -> Stages {
    let (mut conn, create, _) = counted(|| Connection::server(Config::default()));
    let ((), feed, _) = counted(|| match how {
        Feed::Owned => {
            let mut buf = conn.read_buffer(16 * 1024);
            buf.extend_from_slice(CHROMIUM_REQUEST);
            conn.handle_bytes_owned(buf);
        }
        Feed::Slice => conn.handle_bytes(CHROMIUM_REQUEST),
    });
    let (request, parse, _) = counted(|| match conn.poll_output() {
        Some(Output::Event(Event::UpgradeRequest(request))) => request,
        other => panic!("{other:?}"),
    });
    assert_eq!(request.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(request.header("user-agent").map(str::len), Some(101));
    let (result, accept, _) = counted(|| conn.accept(Accept::new()));
    result.unwrap();
    let (outputs, drain, _) = counted(|| {
        let mut wire: Option<Bytes> = None;
        let mut open = None;
        while let Some(o) = conn.poll_output() {
            match o {
                Output::Transmit(b) => {
                    assert!(wire.is_none(), "one Transmit");
                    wire = Some(b);
                }
                Output::Event(Event::Open(n)) => open = Some(n),
                other => panic!("{other:?}"),
            }
        }
        (wire, open)
    });
    let (wire, open) = outputs;
    assert_eq!(wire.as_deref(), Some(RESPONSE));
    let open = open.expect("Open");
    assert_eq!((open.protocol, open.extensions.len()), (None, 0));
    let ((), drop, _) = counted(move || {
        drop(request);
        drop(wire);
        drop(conn);
    });
    Stages { create, feed, parse, accept, drain, drop }
}

/// Where the allocations are: the read buffer (lent whole while nothing
/// is buffered: no split, so no shared header for `bytes` to add); the
/// request's head, its field table, the `Arc` the connection and the event
/// share, and the output queue's first slots; the 101, written at its exact
/// length. It was 92 (every header two `String`s, the request copied into the event,
/// a 2 KiB header array per parse, the 101 built from a `Vec` of pairs).
#[test]
fn a_server_handshake_allocates_at_most_eight_times() {
    // The first run may set up lazily initialised state (none is known).
    handshake(Feed::Owned);
    for (how, feed) in [(Feed::Owned, 1), (Feed::Slice, 1)] {
        let stages = handshake(how);
        println!("{how:?}: {stages:?}: {} allocations", stages.total());
        assert_eq!(stages, Stages { create: 0, feed, parse: 4, accept: 1, drain: 0, drop: 0 }, "{how:?}");
        assert!(stages.total() <= 8);
    }
}

/// A server accepting the request as the README's drive loop does:
/// `read_from`, `poll_event` (the request accepted with `Accept::new()`,
/// then `Open`), `write_to`.
fn handshake_read_from(out: &mut Vec<u8>) {
    let mut conn = Connection::server(Config::default());
    let mut reader = std::io::Cursor::new(CHROMIUM_REQUEST);
    assert_eq!(conn.read_from(&mut reader).unwrap(), CHROMIUM_REQUEST.len());
    let mut open = false;
    while let Some(event) = conn.poll_event() {
        match event {
            Event::UpgradeRequest(_) => conn.accept(Accept::new()).unwrap(),
            Event::Open(_) => open = true,
            other => panic!("{other:?}"),
        }
    }
    assert!(open);
    assert_eq!(conn.write_to(out).unwrap(), wsmachine::Flushed::Written);
}

/// Through the README's loop the request is read on the stack and parsed
/// there: its head is copied once, into the request, and no input buffer
/// is made. Measured: 5 allocations, 1,240 bytes (6 and 3,288 bytes when
/// the read's room was the input buffer, 6 and 1,743 bytes when the
/// stack's bytes were copied into one).
#[test]
fn a_server_handshake_through_read_from_allocates_at_most_eight_times_and_under_2_kib() {
    let mut out = Vec::with_capacity(4096);
    handshake_read_from(&mut out);
    out.clear();
    let ((), calls, bytes) = counted(|| handshake_read_from(&mut out));
    println!("read_from: {calls} allocations, {bytes} bytes");
    assert_eq!(out, RESPONSE);
    assert!(calls <= 5, "{calls} allocations (measured 5)");
    assert!(bytes <= 1240, "{bytes} bytes allocated (measured 1,240)");
}
