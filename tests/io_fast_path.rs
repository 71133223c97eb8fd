//! The `std::io` fast path: `read_from`, `write_to` and `poll_event`.
//!
//! `write_to` must put exactly the bytes `poll_output` would hand out on the
//! wire, in as few (vectored) writes as the writer allows; `poll_event` must
//! hand out exactly the events, in order, leaving the bytes queued; nothing
//! passes `CloseTransport`.

mod common;

use std::io::{self, IoSlice, Read, Write};

use common::{Out, client, close_body, closed_out, drain, op, own_frame, peer_frame, server};
use proptest::prelude::*;
use wsmachine::handshake::Accept;
use wsmachine::{Bytes, CloseCode, CloseFrame, Config, Connection, Event, Flushed, Message, Output, ReadyState, Role};

/// A writer that records every call and takes at most `max` bytes per call,
/// failing with `WouldBlock` once `budget` bytes are taken.
struct Recorder {
    wire: Vec<u8>,
    calls: Vec<Vec<usize>>,
    max: usize,
    budget: usize,
}

impl Recorder {
    fn new() -> Self {
        Self { wire: Vec::new(), calls: Vec::new(), max: usize::MAX, budget: usize::MAX }
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.calls.push(bufs.iter().map(|b| b.len()).collect());
        let mut room = self.max.min(self.budget);
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(room);
            self.wire.extend_from_slice(&b[..k]);
            (n, room) = (n + k, room - k);
        }
        self.budget -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes and events `poll_output` hands out, transmits joined.
fn reference(conn: &mut Connection) -> (Vec<u8>, Vec<Event>) {
    let (mut wire, mut events) = (Vec::new(), Vec::new());
    for out in drain(conn) {
        match out {
            Out::Wire(w) => wire.extend_from_slice(&w),
            Out::Event(e) => events.push(e),
            Out::CloseTransport => {}
        }
    }
    (wire, events)
}

#[test]
fn a_burst_of_sends_is_one_vectored_write_with_the_exact_bytes() {
    let big = Bytes::from(vec![7u8; 100_000]);
    let burst = |c: &mut Connection| {
        c.send_text("one").unwrap();
        c.send_binary(big.clone()).unwrap();
        c.send_text("two").unwrap();
        c.ping("p").unwrap();
        c.send_binary(big.clone()).unwrap();
    };
    for role in [Role::Client, Role::Server] {
        let mut a = common::conn(role);
        let mut b = common::conn(role);
        burst(&mut a);
        burst(&mut b);
        let (expected, events) = reference(&mut b);
        assert!(events.is_empty());
        let mut w = Recorder::new();
        assert_eq!(a.write_to(&mut w).unwrap(), Flushed::Written);
        assert_eq!(w.wire, expected, "{role:?}");
        assert_eq!(w.calls.len(), 1, "{role:?}: {:?}", w.calls);
        assert_eq!(a.buffered_amount(), 0);
        assert_eq!(a.poll_output(), None);
        // Nothing left: another call writes nothing.
        assert_eq!(a.write_to(&mut w).unwrap(), Flushed::Written);
        assert_eq!(w.calls.len(), 1);
    }
}

#[test]
fn partial_writes_and_would_block_keep_the_rest_queued_in_order() {
    let big = Bytes::from((0..50_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    let fill = |c: &mut Connection| {
        for i in 0..20 {
            c.send_text(format!("message {i}")).unwrap();
        }
        c.send_binary(big.clone()).unwrap();
        c.send_text("after").unwrap();
    };
    let mut reference_conn = client();
    fill(&mut reference_conn);
    let (expected, _) = reference(&mut reference_conn);
    for (max, budget) in [(1, usize::MAX), (7, usize::MAX), (4096, 10_000), (100, 333)] {
        let mut c = client();
        fill(&mut c);
        let before = c.buffered_amount();
        let mut w = Recorder::new();
        w.max = max;
        w.budget = budget;
        let first = c.write_to(&mut w);
        if budget == usize::MAX {
            assert_eq!(first.unwrap(), Flushed::Written);
        } else {
            assert_eq!(first.unwrap_err().kind(), io::ErrorKind::WouldBlock);
            assert_eq!(w.wire, expected[..budget]);
            assert!(c.buffered_amount() > 0 && c.buffered_amount() <= before);
            // The transport drains again: the rest follows, in order.
            w.budget = usize::MAX;
            assert_eq!(c.write_to(&mut w).unwrap(), Flushed::Written);
        }
        assert_eq!(w.wire, expected, "max {max} budget {budget}");
        assert_eq!(c.buffered_amount(), 0);
    }
}

/// Once a client's driver writes with `write_to`, a payload over 16 KiB
/// handed over as `Bytes` is masked as it is written, 16 KiB at a time (no
/// write carries more than that of it), resuming at the right key phase
/// after a short write or `WouldBlock`; the wire is what `poll_output`
/// gives.
#[test]
fn a_large_payload_is_masked_piece_by_piece_as_it_is_written() {
    let big = Bytes::from((0..100_003u32).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    let fill = |c: &mut Connection| {
        c.send_text("before").unwrap();
        c.send_binary(big.clone()).unwrap();
        c.ping("p").unwrap();
        c.send_binary(big.slice(..20_000)).unwrap();
    };
    let mut reference_conn = client();
    fill(&mut reference_conn);
    let (expected, _) = reference(&mut reference_conn);
    assert_eq!(expected.len(), 12 + 14 + 100_003 + 7 + 8 + 20_000);
    for (max, budget) in [(usize::MAX, usize::MAX), (4093, usize::MAX), (usize::MAX, 10_001), (999, 3_333)] {
        let mut c = client();
        // The driver shows that it writes with `write_to`.
        assert_eq!(c.write_to(&mut Recorder::new()).unwrap(), Flushed::Written);
        fill(&mut c);
        let mut w = Recorder::new();
        w.max = max;
        loop {
            w.budget = budget;
            match c.write_to(&mut w) {
                Ok(flushed) => {
                    assert_eq!(flushed, Flushed::Written);
                    break;
                }
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
            }
            assert!(c.buffered_amount() > 0);
        }
        assert_eq!(w.wire, expected, "max {max} budget {budget}");
        assert_eq!(c.buffered_amount(), 0);
        assert_eq!(c.queued_bytes(), 0);
        // Frames queued before it (12 bytes) and its header (14) share the
        // first piece's write; no write carries more than 16 KiB of it.
        let largest = w.calls.iter().map(|c| c.iter().sum::<usize>()).max().unwrap();
        assert!(largest <= 12 + 14 + 16 * 1024, "a write of {largest} bytes");
        if max == usize::MAX && budget == usize::MAX {
            assert_eq!(largest, 12 + 14 + 16 * 1024);
        }
    }
}

#[test]
fn a_partly_written_queue_finishes_through_poll_output() {
    let mut reference_conn = server();
    let mut c = server();
    for conn in [&mut reference_conn, &mut c] {
        conn.send_text("hello").unwrap();
        conn.send_binary(Bytes::from(vec![1u8; 70_000])).unwrap();
    }
    let (expected, _) = reference(&mut reference_conn);
    let mut w = Recorder::new();
    w.budget = 10;
    assert!(c.write_to(&mut w).is_err());
    let mut wire = w.wire.clone();
    while let Some(out) = c.poll_output() {
        match out {
            Output::Transmit(b) => wire.extend_from_slice(&b),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(wire, expected);
}

/// A server that echoes: the events of one read are handled first, then
/// every answer (the automatic Pong included) goes out in one write.
#[test]
fn events_first_then_all_answers_in_one_write() {
    let input = [
        peer_frame(Role::Server, true, op::TEXT, b"a"),
        peer_frame(Role::Server, true, op::PING, b"p"),
        peer_frame(Role::Server, true, op::TEXT, b"b"),
        peer_frame(Role::Server, true, op::BINARY, b"c"),
    ]
    .concat();
    let mut c = server();
    c.handle_bytes(&input);
    let mut events = Vec::new();
    while let Some(event) = c.poll_event() {
        if let Event::Message(m) = &event {
            c.send(m.clone()).unwrap();
        }
        events.push(event);
    }
    assert_eq!(
        events,
        vec![
            Event::Message(Message::text("a")),
            Event::Ping(Bytes::from_static(b"p")),
            Event::Message(Message::text("b")),
            Event::Message(Message::binary(&b"c"[..])),
        ]
    );
    let mut w = Recorder::new();
    assert_eq!(c.write_to(&mut w).unwrap(), Flushed::Written);
    let expected = [
        own_frame(Role::Server, true, op::TEXT, b"a"),
        own_frame(Role::Server, true, op::PONG, b"p"),
        own_frame(Role::Server, true, op::TEXT, b"b"),
        own_frame(Role::Server, true, op::BINARY, b"c"),
    ]
    .concat();
    assert_eq!(w.wire, expected);
    assert_eq!(w.calls.len(), 1);
}

#[test]
fn nothing_passes_close_transport() {
    for role in [Role::Server, Role::Client] {
        let mut c = common::conn(role);
        c.send_text("last words").unwrap();
        c.handle_bytes(&peer_frame(role, true, op::CLOSE, &close_body(1000, "bye")));
        // The peer's Close is an event; the end waits for the bytes.
        assert_eq!(c.poll_event(), Some(Event::Closing(CloseFrame { code: CloseCode::NORMAL, reason: "bye".into() })));
        if role == Role::Server {
            // A server closes the transport once its Close is out.
            assert_eq!(c.poll_event(), None);
            assert_eq!(c.ready_state(), ReadyState::Closing);
            let mut w = Recorder::new();
            assert_eq!(c.write_to(&mut w).unwrap(), Flushed::CloseTransport);
            let expected = [
                own_frame(role, true, op::TEXT, b"last words"),
                own_frame(role, true, op::CLOSE, &close_body(1000, "bye")),
            ]
            .concat();
            assert_eq!(w.wire, expected);
            assert_eq!(c.ready_state(), ReadyState::Closing);
            let Out::Event(closed) = closed_out(1000, "bye", true, None) else { unreachable!() };
            assert_eq!(c.poll_event(), Some(closed));
            assert_eq!(c.ready_state(), ReadyState::Closed);
        } else {
            // A client waits for the server to close the transport.
            assert_eq!(c.poll_event(), None);
            let mut w = Recorder::new();
            assert_eq!(c.write_to(&mut w).unwrap(), Flushed::Written);
            c.handle_eof();
            assert_eq!(c.write_to(&mut w).unwrap(), Flushed::CloseTransport);
            let Out::Event(closed) = closed_out(1000, "bye", true, None) else { unreachable!() };
            assert_eq!(c.poll_event(), Some(closed));
        }
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.poll_output(), None);
    }
}

/// A reader that hands out its data in pieces and is interrupted now and
/// then.
struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
    interrupt: bool,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.data.len().min(self.piece).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn read_from_feeds_every_byte_and_the_end() {
    let input: Vec<u8> =
        (0..300).flat_map(|i| peer_frame(Role::Server, true, op::BINARY, &vec![i as u8; i * 37])).collect();
    for piece in [1, 100, 65_536, 1 << 20] {
        let mut c = server();
        let mut r = Pieces { data: &input, piece, interrupt: false };
        let mut got = Vec::new();
        loop {
            let n = c.read_from(&mut r).unwrap();
            while let Some(event) = c.poll_event() {
                got.push(event);
            }
            if n == 0 {
                // The end: the transport closes (nothing to write), then
                // `Closed`.
                assert_eq!(c.write_to(&mut io::sink()).unwrap(), Flushed::CloseTransport);
                got.extend(c.poll_event());
                break;
            }
            assert!(n <= piece.min(64 * 1024));
        }
        assert_eq!(got.len(), 301, "piece {piece}");
        for (i, event) in got[..300].iter().enumerate() {
            assert_eq!(event, &Event::Message(Message::binary(vec![i as u8; i * 37])));
        }
        // The end without a Close: 1006.
        let Out::Event(abnormal) = closed_out(1006, "", false, None) else { unreachable!() };
        assert_eq!(got[300], abnormal);
    }
}

/// A reader that always has more than asked for, and records the size of
/// every buffer it is handed.
struct Endless {
    sizes: Vec<usize>,
    frame: Vec<u8>,
    at: usize,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sizes.push(buf.len());
        for b in buf.iter_mut() {
            *b = self.frame[self.at];
            self.at = (self.at + 1) % self.frame.len();
        }
        Ok(buf.len())
    }
}

#[test]
fn read_from_starts_small_and_doubles_to_64_kib_while_reads_fill_it() {
    let mut c = server();
    let mut r = Endless { sizes: Vec::new(), frame: peer_frame(Role::Server, true, op::BINARY, b"0123456789"), at: 0 };
    for _ in 0..9 {
        assert_eq!(c.read_from(&mut r).unwrap(), *r.sizes.last().unwrap());
        while c.poll_event().is_some() {}
    }
    let k = 1024;
    assert_eq!(r.sizes, [2 * k, 4 * k, 8 * k, 16 * k, 32 * k, 64 * k, 64 * k, 64 * k, 64 * k]);

    // Reads that do not fill it leave it as it is: a connection that only
    // sees a handshake and small messages never zeroes more than 2 KiB.
    let input: Vec<u8> = (0..50).flat_map(|_| peer_frame(Role::Server, true, op::TEXT, b"hi")).collect();
    let mut c = server();
    let mut r = Pieces { data: &input, piece: 40, interrupt: false };
    let mut sizes = Vec::new();
    struct Spy<'a, 'b>(&'a mut Pieces<'b>, &'a mut Vec<usize>);
    impl Read for Spy<'_, '_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1.push(buf.len());
            self.0.read(buf)
        }
    }
    while c.read_from(&mut Spy(&mut r, &mut sizes)).unwrap() > 0 {}
    assert!(sizes.iter().all(|&n| n == 2 * k), "{sizes:?}");
}

/// [`Pieces`] that notes, for each read, whether the buffer it was given
/// was all zeros.
struct Zeroes<'a> {
    pieces: Pieces<'a>,
    zeroed: Vec<bool>,
}

impl Read for Zeroes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.zeroed.push(buf.iter().all(|&b| b == 0));
        self.pieces.read(buf)
    }
}

#[test]
fn read_from_takes_fragments_through_a_buffer_initialised_once() {
    // A 0.9 MiB text in 16 KiB fragments with a Ping between two of them, a
    // binary message in fragments, then the stream ends inside a third.
    let text = "κόσμε 𝄞 ascii ".repeat(40_000).into_bytes();
    let binary: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let mut wire = Vec::new();
    let pieces: Vec<&[u8]> = text.chunks(16 * 1024).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { op::TEXT } else { op::CONT };
        wire.extend(peer_frame(Role::Server, i + 1 == pieces.len(), opcode, piece));
        if i == 3 {
            wire.extend(peer_frame(Role::Server, true, op::PING, b"in between"));
        }
    }
    let pieces: Vec<&[u8]> = binary.chunks(50_000).collect();
    for (i, piece) in pieces.iter().enumerate() {
        wire.extend(peer_frame(Role::Server, i + 1 == pieces.len(), if i == 0 { op::BINARY } else { op::CONT }, piece));
    }
    wire.extend(peer_frame(Role::Server, false, op::TEXT, b"cut off"));
    for piece in [1000, 40_000, 1 << 20] {
        let mut c = server();
        let mut r = Zeroes { pieces: Pieces { data: &wire, piece, interrupt: true }, zeroed: Vec::new() };
        let mut got = Vec::new();
        while c.read_from(&mut r).unwrap() > 0 {
            got.extend(std::iter::from_fn(|| c.poll_event()));
        }
        assert_eq!(c.write_to(&mut Recorder::new()).unwrap(), Flushed::CloseTransport);
        got.extend(std::iter::from_fn(|| c.poll_event()));
        assert_eq!(got.len(), 4, "piece {piece}");
        assert_eq!(got[0], Event::Ping(Bytes::from_static(b"in between")));
        assert_eq!(got[1], Event::Message(Message::text(String::from_utf8(text.clone()).unwrap())));
        assert_eq!(got[2], Event::Message(Message::binary(binary.clone())));
        // The stream ended inside a message: 1006.
        let Event::Closed(closed) = &got[3] else { panic!("{:?}", got[3]) };
        assert_eq!((closed.code, closed.was_clean), (CloseCode::ABNORMAL, false));
        // While the messages were assembled, the reads went to a buffer
        // that still held the previous read's bytes: not zeroed again.
        let kept = r.zeroed.iter().filter(|&&z| !z).count();
        let reads = r.zeroed.len();
        assert!(kept * 4 >= reads * 3, "piece {piece}: {kept} of {reads} reads into a buffer not zeroed again");
    }
}

/// An upgrade request of `len` bytes or a little more (a long `Cookie`).
fn long_request(len: usize) -> Vec<u8> {
    let mut req = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nCookie: c="
        .to_vec();
    let pad = len.saturating_sub(req.len() + 4);
    req.resize(req.len() + pad, b'x');
    req.extend_from_slice(b"\r\n\r\n");
    req
}

/// The head is read on the stack 2 KiB at most; a longer one continues
/// in the input buffer with reads that double, and the 101 comes out
/// exactly, also through a writer that takes a few bytes per call.
#[test]
fn read_from_takes_a_head_longer_than_its_first_read() {
    const ACCEPTED: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    for (len, reads) in [(300, 1), (2048, 1), (2049, 2), (6144, 2), (6145, 3), (7000, 3)] {
        let request = long_request(len);
        assert_eq!(request.len(), len);
        let mut s = Connection::server(Config::default());
        let mut reader = io::Cursor::new(&request[..]);
        let mut sizes = Vec::new();
        let mut accepted = false;
        while !accepted {
            sizes.push(s.read_from(&mut reader).unwrap());
            while let Some(event) = s.poll_event() {
                match event {
                    Event::UpgradeRequest(r) => {
                        assert_eq!(r.header("cookie").map(str::len), Some(len - 164));
                        s.accept(Accept::new()).unwrap();
                    }
                    Event::Open(_) => accepted = true,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(sizes.len(), reads, "{len} bytes read as {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), len);
        let mut w = Recorder::new();
        w.max = 7;
        assert_eq!(s.write_to(&mut w).unwrap(), Flushed::Written);
        assert_eq!(w.wire, ACCEPTED);
        assert_eq!(w.calls.len(), ACCEPTED.len().div_ceil(7), "{:?}", w.calls);
        assert_eq!(s.write_to(&mut w).unwrap(), Flushed::Written);
        assert_eq!(w.wire, ACCEPTED, "written once");
    }
}

/// A server fed `input` in one `read_from`, then the end of the stream if
/// `eof`: each `UpgradeRequest` accepted, every event taken with
/// `poll_event` and the bytes with `write_to`; against the same input fed
/// with `handle_bytes`, events and bytes through `poll_output`. The first
/// read of a request is parsed where it lands (nothing buffered yet):
/// what it does not take must go the general way, unchanged.
fn first_read_as_handle_bytes(input: &[u8], eof: bool) -> (Vec<u8>, Vec<String>) {
    let answer = |s: &mut Connection, e: &Event| {
        if matches!(e, Event::UpgradeRequest(_)) {
            s.accept(Accept::new()).unwrap();
        }
    };
    let mut a = Connection::server(Config::default());
    a.handle_bytes(input);
    if eof {
        a.handle_eof();
    }
    let (mut wire_a, mut events_a) = (Vec::new(), Vec::new());
    while let Some(o) = a.poll_output() {
        match o {
            Output::Transmit(b) => wire_a.extend_from_slice(&b),
            Output::Event(e) => {
                answer(&mut a, &e);
                events_a.push(format!("{e:?}"));
            }
            Output::CloseTransport => events_a.push("CloseTransport".into()),
            other => panic!("{other:?}"),
        }
    }
    let mut b = Connection::server(Config::default());
    let mut reader = io::Cursor::new(input);
    assert_eq!(b.read_from(&mut reader).unwrap(), input.len());
    if eof {
        assert_eq!(b.read_from(&mut reader).unwrap(), 0);
    }
    let (mut wire_b, mut events_b) = (Vec::new(), Vec::new());
    loop {
        let mut more = false;
        while let Some(e) = b.poll_event() {
            answer(&mut b, &e);
            events_b.push(format!("{e:?}"));
            more = true;
        }
        let mut w = Recorder::new();
        if b.write_to(&mut w).unwrap() == Flushed::CloseTransport {
            events_b.push("CloseTransport".into());
            more = true;
        }
        more |= !w.wire.is_empty();
        wire_b.extend_from_slice(&w.wire);
        if !more {
            break;
        }
    }
    assert_eq!(wire_b, wire_a, "the bytes written for {:?}", String::from_utf8_lossy(input));
    assert_eq!(events_b, events_a, "the events of {:?}", String::from_utf8_lossy(input));
    (wire_a, events_a)
}

#[test]
fn a_first_read_parsed_in_place_gives_what_handle_bytes_gives() {
    let request = long_request(300);
    let message = peer_frame(Role::Server, true, op::TEXT, b"right behind");
    let close = peer_frame(Role::Server, true, op::CLOSE, &close_body(1000, ""));
    // The request alone; with a message and a Close pipelined behind it.
    let (wire, events) = first_read_as_handle_bytes(&request, false);
    assert!(wire.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&wire));
    assert_eq!(events.len(), 2, "{events:?}");
    let pipelined = [&request[..], &message, &close].concat();
    let (wire, events) = first_read_as_handle_bytes(&pipelined, false);
    assert!(events.iter().any(|e| e.contains("right behind")), "{events:?}");
    assert!(wire.ends_with(&[0x88, 0x02, 0x03, 0xe8]), "the Close echoed: {wire:?}");
    // Half a request, then the end: refused as cut short.
    let (_, events) = first_read_as_handle_bytes(&request[..150], true);
    assert!(events.last().is_some_and(|e| e.starts_with("Closed")), "{events:?}");
    // A plain HTTP request; an upgrade request without a key.
    let (_, events) = first_read_as_handle_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false);
    assert!(events[0].starts_with("HttpRequest"), "{events:?}");
    let keyless = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let (wire, _) = first_read_as_handle_bytes(keyless, false);
    assert!(wire.starts_with(b"HTTP/1.1 400 "), "{}", String::from_utf8_lossy(&wire));
}

#[test]
fn read_from_passes_errors_through() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::TimedOut.into())
        }
    }
    let mut c = server();
    assert_eq!(c.read_from(&mut Failing).unwrap_err().kind(), io::ErrorKind::TimedOut);
    assert_eq!(c.ready_state(), ReadyState::Open);
    assert!(c.poll_event().is_none());

    // Half a frame, a time-out, the rest: the input read so far stays, and
    // what comes after the failed read lands behind it.
    let frame = peer_frame(Role::Server, true, op::BINARY, &[7u8; 3000]);
    let (head, tail) = frame.split_at(1000);
    assert_eq!(c.read_from(&mut Pieces { data: head, piece: 1000, interrupt: true }).unwrap(), 1000);
    assert!(c.poll_event().is_none());
    assert_eq!(c.read_from(&mut Failing).unwrap_err().kind(), io::ErrorKind::TimedOut);
    let mut rest = Pieces { data: tail, piece: 4096, interrupt: true };
    while !rest.data.is_empty() {
        c.read_from(&mut rest).unwrap();
    }
    assert_eq!(c.poll_event(), Some(Event::Message(Message::binary(vec![7u8; 3000]))));
    assert_eq!(c.ready_state(), ReadyState::Open);
}

/// One step of a random session.
#[derive(Clone, Debug)]
enum Step {
    Send(usize),
    Ping,
    Input(Vec<u8>),
    Close,
    Eof,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        // Past 16 KiB a client that writes with `write_to` masks a payload
        // as it writes it, 16 KiB at a time: sizes around and past that.
        4 => prop_oneof![Just(0usize), 1..200usize, 16_000..17_000usize, 60_000..70_000usize].prop_map(Step::Send),
        1 => Just(Step::Ping),
        2 => prop::collection::vec(any::<u8>(), 0..8).prop_map(|p| {
            Step::Input(peer_frame(Role::Client, true, if p.len() % 2 == 0 { op::TEXT } else { op::PING }, &[]))
        }),
        1 => Just(Step::Close),
        1 => Just(Step::Input(peer_frame(Role::Client, true, op::CLOSE, &close_body(1000, "")))),
        1 => Just(Step::Eof),
    ]
}

proptest! {
    /// Whatever the commands, input and write sizes, `poll_event` plus
    /// `write_to` give the events and bytes `poll_output` gives, in order.
    #[test]
    fn the_fast_path_gives_what_poll_output_gives(steps in prop::collection::vec(step(), 1..30), max in 1usize..5000) {
        let run = |c: &mut Connection, s: &Step| match s {
            Step::Send(n) => {
                // Not constant: a key applied at the wrong phase shows.
                let _ = c.send_binary((0..*n).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
            }
            Step::Ping => {
                let _ = c.ping("x");
            }
            Step::Input(bytes) => c.handle_bytes(bytes),
            Step::Close => {
                let _ = c.close(Some(CloseCode::NORMAL), "");
            }
            Step::Eof => c.handle_eof(),
        };
        let (mut a, mut b) = (client(), client());
        let (mut wire, mut events, mut ends) = (Vec::new(), Vec::new(), 0);
        let (mut ref_wire, mut ref_events, mut ref_ends) = (Vec::new(), Vec::new(), 0);
        let mut w = Recorder::new();
        w.max = max;
        for s in &steps {
            run(&mut a, s);
            run(&mut b, s);
            while let Some(e) = a.poll_event() {
                events.push(e);
            }
            if a.write_to(&mut w).unwrap() == Flushed::CloseTransport {
                ends += 1;
                while let Some(e) = a.poll_event() {
                    events.push(e);
                }
            }
            for out in drain(&mut b) {
                match out {
                    Out::Wire(x) => ref_wire.extend_from_slice(&x),
                    Out::Event(e) => ref_events.push(e),
                    Out::CloseTransport => ref_ends += 1,
                }
            }
        }
        wire.extend_from_slice(&w.wire);
        prop_assert_eq!(wire, ref_wire);
        prop_assert_eq!(events, ref_events);
        prop_assert_eq!(ends, ref_ends);
        prop_assert_eq!(a.ready_state(), b.ready_state());
        prop_assert_eq!(a.buffered_amount(), b.buffered_amount());
    }
}
