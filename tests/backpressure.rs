//! Backpressure both ways.
//!
//! Sending: `buffered_amount()` counts exactly the message payload bytes
//! queued and not yet polled; `queued_bytes()` adds everything else the queue
//! costs (frame headers, control frames, `QUEUE_SLOT` per queued piece).
//! `send`, `ping` and `pong` refuse what would take `queued_bytes()` past
//! `send_high_water` (`SendError::Full`, nothing queued); `Event::Writable`
//! follows a refusal once the queue falls to `send_low_water`.
//!
//! Receiving: `wants_read()` says when to read again, and a driver that reads
//! only then holds at most one read in the connection however slowly its
//! application consumes events.
mod common;

use common::*;
use wsmachine::handshake::{Accept, ClientRequest};
use wsmachine::{
    Bytes, CloseCode, Config, Connection, Event, Message, MessageKind, Negotiated, Output, QUEUE_SLOT, ReadyState,
    Role, SendError,
};

/// One queue slot, as `queued_bytes()` counts it.
const S: usize = QUEUE_SLOT;

/// The header length of a data frame of `len` payload bytes sent by `role`
/// (a client adds the 4-byte masking key).
fn hdr(role: Role, len: usize) -> usize {
    let base = match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    base + if role == Role::Client { 4 } else { 0 }
}

const ROLES: [Role; 2] = [Role::Server, Role::Client];
const MIB: usize = 1 << 20;

fn marks(high: Option<usize>, low: usize) -> Config {
    Config::default().with_send_water_marks(high, low)
}

fn writable() -> Out {
    Out::Event(Event::Writable)
}

fn binary(sender: Role, payload: &[u8]) -> Vec<u8> {
    own_frame(sender, true, op::BINARY, payload)
}

fn full(queued: usize, len: usize, high_water: usize) -> Result<(), SendError> {
    Err(SendError::Full { queued, len, high_water })
}

fn to_out(o: Output) -> Out {
    match o {
        Output::Transmit(b) => Out::Wire(b.to_vec()),
        Output::Event(e) => Out::Event(e),
        Output::CloseTransport => Out::CloseTransport,
        other => panic!("unexpected output {other:?}"),
    }
}

/// Polls one output at a time until `None`, recording `buffered_amount()`
/// after each.
fn buffered_per_poll(c: &mut Connection) -> Vec<usize> {
    let mut seen = vec![c.buffered_amount()];
    while c.poll_output().is_some() {
        seen.push(c.buffered_amount());
    }
    seen
}

fn count_writable(outs: &[Out]) -> usize {
    outs.iter().filter(|o| **o == writable()).count()
}

// ---------------------------------------------------------------------------
// buffered_amount
// ---------------------------------------------------------------------------

#[test]
fn buffered_amount_counts_message_payload_bytes_only() {
    let text = "héllo €𝄞"; // 1 + 2 + 3 + 1 + 3 + 4 = 14 UTF-8 bytes, 8 chars
    assert_eq!(text.len(), 14);
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(c.buffered_amount(), 0);
        c.send_text(text).unwrap();
        assert_eq!(c.buffered_amount(), 14, "{role:?}: UTF-8 bytes, not chars");
        // 300 bytes take the 16-bit length form; the framing is not counted.
        c.send_binary(vec![7u8; 300]).unwrap();
        assert_eq!(c.buffered_amount(), 314);
        c.send(Message::text("")).unwrap();
        c.send_binary(Vec::new()).unwrap();
        assert_eq!(c.buffered_amount(), 314);
        // Control frames are not counted.
        c.ping(&b"12345"[..]).unwrap();
        c.pong(&b"123"[..]).unwrap();
        c.close(Some(CloseCode::NORMAL), "bye").unwrap();
        assert_eq!(c.buffered_amount(), 314);
        let expected = [
            own_frame(role, true, op::TEXT, text.as_bytes()),
            binary(role, &[7; 300]),
            own_frame(role, true, op::TEXT, b""),
            binary(role, b""),
            own_frame(role, true, op::PING, b"12345"),
            own_frame(role, true, op::PONG, b"123"),
            own_frame(role, true, op::CLOSE, &close_body(1000, "bye")),
        ]
        .concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected.clone())]);
        assert!(expected.len() > 314 + 5 + 3 + 5);
        assert_eq!(c.buffered_amount(), 0);
    }
}

#[test]
fn buffered_amount_with_fragment_size() {
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_fragment_size(Some(3)));
        c.send_text("abcdefgh").unwrap();
        assert_eq!(c.buffered_amount(), 8, "{role:?}: the payload, not the three frames");
        c.send_text("é€").unwrap(); // 5 bytes, split inside characters
        assert_eq!(c.buffered_amount(), 13);
        let expected = [
            own_frame(role, false, op::TEXT, b"abc"),
            own_frame(role, false, op::CONT, b"def"),
            own_frame(role, true, op::CONT, b"gh"),
            own_frame(role, false, op::TEXT, &"é€".as_bytes()[..3]),
            own_frame(role, true, op::CONT, &"é€".as_bytes()[3..]),
        ]
        .concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected)]);
        assert_eq!(c.buffered_amount(), 0);
    }
    // A server sends large fragments apart from their headers: the count
    // drops by each fragment's payload as it is polled (the last, small one
    // goes with its header).
    let mut s = with_config(Role::Server, Config::default().with_fragment_size(Some(2000)));
    s.send_binary(vec![9u8; 5000]).unwrap();
    assert_eq!(buffered_per_poll(&mut s), vec![5000, 5000, 3000, 3000, 1000, 0]);
    // A client copies (masks) everything into one write.
    let mut c = with_config(Role::Client, Config::default().with_fragment_size(Some(2000)));
    c.send_binary(vec![9u8; 5000]).unwrap();
    assert_eq!(buffered_per_poll(&mut c), vec![5000, 0]);
}

#[test]
fn buffered_amount_excludes_handshake_bytes() {
    // Server: the 101 and a message queued behind it.
    let request = "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut s = Connection::server(Config::default());
    s.handle_bytes(request.as_bytes());
    let outs = drain(&mut s);
    assert!(matches!(outs.as_slice(), [Out::Event(Event::UpgradeRequest(_))]), "{outs:?}");
    s.accept(Accept::new()).unwrap();
    assert_eq!(s.buffered_amount(), 0);
    s.send_text("hi").unwrap();
    assert_eq!(s.buffered_amount(), 2);
    let outs = drain(&mut s);
    assert_eq!(outs.len(), 3, "{outs:?}");
    assert!(matches!(&outs[0], Out::Wire(w) if w.starts_with(b"HTTP/1.1 101 ")));
    assert_eq!(outs[1], Out::Event(Event::Open(Negotiated::default())));
    assert_eq!(outs[2], Out::Wire(sframe(true, op::TEXT, b"hi")));
    assert_eq!(s.buffered_amount(), 0);

    // Client: the request is queued from the start and never counted.
    let req = ClientRequest::new("ws://example.com/").unwrap();
    let mut c = Connection::client(req, Config::default(), FixedMask(RFC_KEY)).unwrap();
    assert_eq!(c.buffered_amount(), 0);
    assert_eq!(c.send_text("x"), Err(SendError::NotOpen(ReadyState::Connecting)));
    let outs = drain(&mut c);
    assert!(matches!(outs.as_slice(), [Out::Wire(w)] if w.starts_with(b"GET / HTTP/1.1\r\n")), "{outs:?}");
    assert_eq!(c.buffered_amount(), 0);
}

// ---------------------------------------------------------------------------
// The high-water mark
// ---------------------------------------------------------------------------

#[test]
fn high_water_mark_at_its_exact_byte_count() {
    for role in ROLES {
        // 1000 payload bytes in two frames sharing one queue slot.
        let mark = 1000 + 2 * hdr(role, 600) + S;
        let mut c = with_config(role, marks(Some(mark), 100));
        c.send_binary(vec![1u8; 600]).unwrap();
        assert_eq!(c.buffered_amount(), 600);
        assert_eq!(c.queued_bytes(), 600 + hdr(role, 600) + S);
        // Exactly the mark is allowed: the check is on the payload (the
        // new frame's header is counted once it is queued).
        c.send_binary(vec![2u8; 400 + hdr(role, 600)]).unwrap();
        let (buffered, queued) = (1000 + hdr(role, 600), mark + hdr(role, 600));
        assert_eq!((c.buffered_amount(), c.queued_bytes()), (buffered, queued));
        // One byte more is not, whatever the type.
        assert_eq!(c.send_binary(vec![3u8]), full(queued, 1, mark));
        assert_eq!(c.send_text("z"), full(queued, 1, mark));
        assert_eq!(c.send(Message::binary(vec![3u8; 500])), full(queued, 500, mark));
        // A text message's length is its UTF-8 byte count.
        assert_eq!(c.send_text("é"), full(queued, 2, mark));
        // An empty message and control frames are subject to the mark too:
        // each costs its frame.
        assert_eq!(c.send_binary(Vec::new()), full(queued, 0, mark));
        assert_eq!(c.ping(&b"p"[..]), full(queued, 1, mark));
        assert_eq!(c.pong(Vec::new()), full(queued, 0, mark));
        assert_eq!((c.buffered_amount(), c.queued_bytes()), (buffered, queued));
        // The refused messages left no trace on the wire; the refusal is
        // answered by Writable once the queue drained.
        let expected = [binary(role, &[1; 600]), binary(role, &vec![2; 400 + hdr(role, 600)])].concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected), writable()], "{role:?}");
        assert_eq!((c.buffered_amount(), c.queued_bytes()), (0, 0));
        assert_eq!(drain(&mut c), vec![]);
    }
}

#[test]
fn queued_bytes_counts_headers_control_frames_and_slots() {
    for role in ROLES {
        let mut c = with_config(role, marks(None, 0));
        assert_eq!(c.queued_bytes(), 0);
        c.send_binary(Vec::new()).unwrap();
        assert_eq!((c.buffered_amount(), c.queued_bytes()), (0, hdr(role, 0) + S));
        c.send_text("abc").unwrap();
        c.ping(&b"12345"[..]).unwrap();
        c.close(Some(CloseCode::NORMAL), "bye").unwrap();
        // Small frames share one slot; control payloads count like headers.
        let want = hdr(role, 0) + (hdr(role, 3) + 3) + (hdr(role, 5) + 5) + (hdr(role, 5) + 5) + S;
        assert_eq!((c.buffered_amount(), c.queued_bytes()), (3, want));
        assert_eq!(wire(&drain(&mut c)).len() + S, want);
        assert_eq!(c.queued_bytes(), 0);
    }
    // A server's large payload goes out uncopied: its header's slot and its
    // own.
    let mut s = with_config(Role::Server, marks(None, 0));
    s.send_binary(vec![1u8; 5000]).unwrap();
    assert_eq!(s.queued_bytes(), 5000 + 4 + 2 * S);
    assert_eq!(s.poll_output().map(|o| matches!(o, Output::Transmit(b) if b.len() == 4)), Some(true));
    assert_eq!(s.queued_bytes(), 5000 + S);
    assert!(s.poll_output().is_some());
    assert_eq!(s.queued_bytes(), 0);
}

/// 5 M empty messages or 100 k Pings in a loop used to queue without limit
/// (the mark counted payload bytes only); the queue's cost now bounds them.
#[test]
fn floods_of_empty_messages_and_pings_are_refused_at_the_mark() {
    for role in ROLES {
        let mark = 64 * 1024;
        let mut c = with_config(role, marks(Some(mark), 0));
        let mut sent = 0;
        while c.send_binary(Vec::new()).is_ok() {
            sent += 1;
            assert!(sent < 1_000_000, "{role:?}: empty messages never refused");
        }
        // Each costs its header; one slot for the run. A command is refused
        // once the queue is past the mark less its payload (here none).
        assert_eq!(sent, (mark - S) / hdr(role, 0) + 1, "{role:?}");
        assert!(c.queued_bytes() <= mark + hdr(role, 0));
        assert_eq!(wire(&drain(&mut c)).len(), sent * hdr(role, 0));

        let mut pings = 0;
        while c.ping(vec![0u8; 125]).is_ok() {
            pings += 1;
            assert!(pings < 1_000_000, "{role:?}: pings never refused");
        }
        assert_eq!(pings, (mark - S - 125) / (hdr(role, 125) + 125) + 1, "{role:?}");
        assert!(c.queued_bytes() <= mark + hdr(role, 125));
        assert!(matches!(c.pong(vec![0u8; 125]), Err(SendError::Full { len: 125, .. })));
        let outs = drain(&mut c);
        assert_eq!(wire(&outs).len(), pings * (hdr(role, 125) + 125));
        assert_eq!(outs.last(), Some(&writable()));
        // Room again.
        c.ping(Vec::new()).unwrap();
    }
}

#[test]
fn a_message_larger_than_the_mark_is_accepted_when_nothing_is_buffered() {
    for role in ROLES {
        let mut c = with_config(role, marks(Some(1000), 100));
        c.send_binary(vec![5u8; 5000]).unwrap();
        assert_eq!(c.buffered_amount(), 5000);
        let queued = c.queued_bytes();
        let slots = if role == Role::Server { 2 } else { 1 };
        assert_eq!(queued, 5000 + hdr(role, 5000) + slots * S, "{role:?}");
        assert_eq!(c.send_binary(vec![6u8]), full(queued, 1, 1000));
        assert_eq!(c.buffered_amount(), 5000);
        assert_eq!(drain(&mut c), vec![Out::Wire(binary(role, &[5; 5000])), writable()]);
        // Empty again: one byte over the mark goes.
        c.send_binary(vec![7u8; 1001]).unwrap();
        assert_eq!(c.buffered_amount(), 1001);
        assert_eq!(drain(&mut c), vec![Out::Wire(binary(role, &[7; 1001]))]);
    }
}

#[test]
fn default_marks_are_16_and_4_mib() {
    let config = Config::default();
    assert_eq!((config.send_high_water, config.send_low_water), (Some(16 * MIB), 4 * MIB));
    // A server sends large payloads without copying: 4 MiB chunks of one
    // shared buffer.
    // Each costs its payload, a 10-byte header and two queue slots (the
    // header's and the payload's), so the fourth does not fit.
    let chunk = Bytes::from(vec![0xabu8; 4 * MIB]);
    let mut s = server();
    for _ in 0..3 {
        s.send_binary(chunk.clone()).unwrap();
    }
    assert_eq!(s.buffered_amount(), 12 * MIB);
    assert_eq!(s.queued_bytes(), 12 * MIB + 3 * (10 + 2 * S));
    assert_eq!(s.send_binary(chunk.clone()), full(12 * MIB + 3 * (10 + 2 * S), 4 * MIB, 16 * MIB));
    // Header, payload (8 MiB left), header, payload (4 MiB, but the third
    // header and slots keep the queue just above the low mark), header,
    // payload (0: Writable queued), Writable.
    let mut seen = vec![];
    let mut events = vec![];
    while let Some(o) = s.poll_output() {
        seen.push(s.buffered_amount());
        if let Output::Event(e) = o {
            events.push(e);
        }
    }
    assert_eq!(seen, vec![12 * MIB, 8 * MIB, 8 * MIB, 4 * MIB, 4 * MIB, 0, 0]);
    assert_eq!(events, vec![Event::Writable]);
    assert_eq!(s.queued_bytes(), 0);
}

#[test]
fn no_high_water_mark_never_refuses() {
    // Server: 64 MiB of shared 1 MiB payloads.
    let chunk = Bytes::from(vec![1u8; MIB]);
    let mut s = with_config(Role::Server, marks(None, 0));
    for i in 1..=64 {
        s.send_binary(chunk.clone()).unwrap();
        assert_eq!(s.buffered_amount(), i * MIB);
    }
    s.send_text("and more").unwrap();
    let outs = drain(&mut s);
    assert_eq!(count_writable(&outs), 0);
    assert_eq!(wire(&outs).len(), 64 * (MIB + 10) + 2 + 8);
    assert_eq!(s.buffered_amount(), 0);
    // Client: 20 MiB, past the default 16 MiB mark.
    let mut c = with_config(Role::Client, marks(None, 0));
    for i in 1..=20 {
        c.send_binary(chunk.clone()).unwrap();
        assert_eq!(c.buffered_amount(), i * MIB);
    }
    let outs = drain(&mut c);
    assert_eq!(count_writable(&outs), 0);
    assert_eq!(wire(&outs).len(), 20 * (MIB + 14));
    // The default does refuse there.
    // (a client copies every frame into one queued piece: 14-byte headers,
    // one slot), so the sixteenth MiB no longer fits.
    let mut c = client();
    for _ in 0..15 {
        c.send_binary(chunk.clone()).unwrap();
    }
    assert_eq!(c.send_binary(chunk.clone()), full(15 * MIB + 15 * 14 + S, MIB, 16 * MIB));
}

// ---------------------------------------------------------------------------
// Event::Writable
// ---------------------------------------------------------------------------

/// Each payload of [`writable_probe`] costs a 4-byte header and two slots.
const PROBE_PIECE: usize = 4 + 2 * S;

/// The low-water mark of [`writable_probe`]: what the queue holds after the
/// fourth poll when the first two payloads were 6 000 bytes: 4 000 bytes of
/// payload, two pieces, and the three marker Pongs queued so far (3 bytes
/// each, one slot).
const PROBE_LOW: usize = 4_000 + 2 * PROBE_PIECE + 3 * 3 + S;

/// Fills a server (high-water mark exactly at the four payloads) with
/// payloads of `sizes` (each over 1 KiB, so each is its own `Transmit` after
/// its header's), has one send refused, then polls the eight outputs one at a
/// time, queueing a marker Pong `[k]` after the k-th poll: where `Writable`
/// lands among the markers shows at which poll it was queued. Returns
/// `buffered_amount()` after each of the eight polls and every output.
fn writable_probe(sizes: [usize; 4]) -> (Vec<usize>, Vec<Out>) {
    let high = 10_000 + 4 * PROBE_PIECE;
    let mut s = with_config(Role::Server, marks(Some(high), PROBE_LOW));
    for (i, &n) in sizes.iter().enumerate() {
        s.send_binary(vec![i as u8; n]).unwrap();
    }
    assert_eq!(s.buffered_amount(), 10_000);
    assert_eq!(s.send_binary(vec![0u8]), full(high, 1, high));
    let mut after = vec![];
    let mut outs = vec![];
    for k in 0..8u8 {
        let o = s.poll_output().expect("a queued output");
        merge_into(&mut outs, [to_out(o)]);
        after.push(s.buffered_amount());
        s.pong(vec![k]).unwrap();
    }
    merge_into(&mut outs, drain(&mut s));
    (after, outs)
}

/// The data frames of [`writable_probe`], then marker Pongs `[0..split)`,
/// `Writable`, markers `[split..8)`.
fn probe_expected(sizes: [usize; 4], split: u8) -> Vec<Out> {
    let data: Vec<u8> =
        sizes.iter().enumerate().flat_map(|(i, &n)| sframe(true, op::BINARY, &vec![i as u8; n])).collect();
    let pongs = |r: std::ops::Range<u8>| -> Vec<u8> { r.flat_map(|k| sframe(true, op::PONG, &[k])).collect() };
    outs([Out::Wire([data, pongs(0..split)].concat()), writable(), Out::Wire(pongs(split..8))])
}

#[test]
fn writable_is_queued_when_the_buffer_falls_exactly_to_the_low_water_mark() {
    // 10 000 → 7 000 → 4 000 (and the rest at `PROBE_LOW`): Writable at the
    // fourth poll, the payload that reached it.
    let sizes = [3000, 3000, 2000, 2000];
    let (after, outs) = writable_probe(sizes);
    assert_eq!(after, vec![10_000, 7_000, 7_000, 4_000, 4_000, 2_000, 2_000, 0]);
    assert_eq!(outs, probe_expected(sizes, 3));
}

#[test]
fn writable_is_not_queued_one_byte_above_the_low_water_mark() {
    // 10 000 → 7 000 → 4 001 (one byte above `PROBE_LOW`: nothing) → the
    // third header (its 4 bytes and slot, less the fourth marker Pong's
    // 3 bytes): Writable at the fifth poll.
    let sizes = [3000, 2999, 2000, 2001];
    let (after, outs) = writable_probe(sizes);
    assert_eq!(after, vec![10_000, 7_000, 7_000, 4_001, 4_001, 2_001, 2_001, 0]);
    assert_eq!(outs, probe_expected(sizes, 4));
}

#[test]
fn writable_only_after_a_refusal() {
    for role in ROLES {
        let mut c = with_config(role, marks(Some(1000 + hdr(role, 600) + S), 100));
        c.send_binary(vec![1u8; 600]).unwrap();
        c.send_binary(vec![2u8; 400]).unwrap();
        // Full, but nobody was refused: no Writable.
        assert_eq!(drain(&mut c), vec![Out::Wire([binary(role, &[1; 600]), binary(role, &[2; 400])].concat())]);
        assert_eq!(c.buffered_amount(), 0);
    }
    // Through the low-water mark payload by payload, never refused.
    let mut s = with_config(Role::Server, marks(Some(10_000 + 3 * PROBE_PIECE), 4_000));
    for n in [3000, 3000, 2000, 2000] {
        s.send_binary(vec![1u8; n]).unwrap();
    }
    assert_eq!(count_writable(&drain(&mut s)), 0);
}

#[test]
fn writable_once_per_refusal_episode() {
    // Three payloads of 8 000 bytes (three pieces) leave room for exactly
    // 2 000 more.
    let high = 10_000 + 3 * PROBE_PIECE;
    let mut s = with_config(Role::Server, marks(Some(high), 4_000));
    let mut h = History::new();
    // Round 1: refused twice, a message that fits in between; one Writable.
    for n in [3000, 3000, 2000] {
        s.send_binary(vec![1u8; n]).unwrap();
    }
    let q = 8000 + 3 * PROBE_PIECE;
    assert_eq!(s.send_binary(vec![2u8; 3000]), full(q, 3000, high));
    assert_eq!(s.send_binary(vec![2u8; 2001]), full(q, 2001, high));
    s.send_binary(vec![3u8; 2000]).unwrap();
    assert_eq!(s.send_binary(vec![2u8; 1]), full(high + PROBE_PIECE, 1, high));
    let outs = h.drain(&mut s);
    assert_eq!(count_writable(&outs), 1, "{outs:?}");
    assert_eq!(outs.last(), Some(&writable()));
    // Round 2: refused again; another Writable.
    s.send_binary(vec![4u8; 6000]).unwrap();
    assert_eq!(s.send_binary(vec![5u8; 5000]), full(6000 + PROBE_PIECE, 5000, high));
    let outs = h.drain(&mut s);
    assert_eq!(count_writable(&outs), 1, "{outs:?}");
    // Round 3: no refusal, no Writable.
    s.send_binary(vec![6u8; 9000]).unwrap();
    assert_eq!(count_writable(&h.drain(&mut s)), 0);
    assert_eq!(count_writable(&h.outs), 2);
    // Exactly the accepted payloads went out.
    let sent: Vec<usize> = parse_frames(&wire(&h.outs)).iter().map(|f| f.payload.len()).collect();
    assert_eq!(sent, vec![3000, 3000, 2000, 2000, 6000, 9000]);
}

#[test]
fn writable_after_a_refusal_below_the_low_water_mark() {
    // high 1000, low 900: refused at 800 buffered, already under the low
    // mark: Writable comes with the next poll of queued bytes.
    for role in ROLES {
        let mut c = with_config(role, marks(Some(1000), 900));
        c.send_binary(vec![1u8; 800]).unwrap();
        assert_eq!(c.send_binary(vec![2u8; 300]), full(800 + hdr(role, 800) + S, 300, 1000));
        assert_eq!(drain(&mut c), vec![Out::Wire(binary(role, &[1; 800])), writable()]);
    }
}

#[test]
fn streamed_pieces_count_and_are_subject_to_the_mark() {
    for role in ROLES {
        let high = 1000 + 2 * hdr(role, 600) + S;
        let mut c = with_config(role, marks(Some(high), 100));
        c.begin_message(MessageKind::Text).unwrap();
        assert_eq!(c.buffered_amount(), 0);
        let first = "é".repeat(300);
        c.send_chunk(first.clone()).unwrap();
        assert_eq!(c.buffered_amount(), 600, "{role:?}: UTF-8 bytes");
        c.send_chunk(vec![b'a'; 400]).unwrap();
        assert_eq!(c.buffered_amount(), 1000);
        assert_eq!(c.queued_bytes(), high);
        // The next piece, final or not, is refused and the stream is intact.
        assert_eq!(c.send_chunk("b"), full(high, 1, high));
        assert_eq!(c.finish_message("b"), full(high, 1, high));
        assert_eq!(c.buffered_amount(), 1000);
        let expected =
            [own_frame(role, false, op::TEXT, first.as_bytes()), own_frame(role, false, op::CONT, &[b'a'; 400])]
                .concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected), writable()]);
        c.finish_message("b").unwrap();
        assert_eq!(c.buffered_amount(), 1);
        assert_eq!(drain(&mut c), vec![Out::Wire(own_frame(role, true, op::CONT, b"b"))]);
    }
}

#[test]
fn no_writable_after_closed() {
    // Refused, then the connection ends while the data is still queued: the
    // data, CloseTransport and Closed come out; Writable, which would follow
    // Closed, does not.
    for role in ROLES {
        let mut c = with_config(role, marks(Some(1000), 100));
        c.send_binary(vec![1u8; 1000]).unwrap();
        assert_eq!(c.send_binary(vec![2u8]), full(1000 + hdr(role, 1000) + S, 1, 1000));
        c.handle_eof();
        let outs = drain(&mut c);
        assert_eq!(
            outs,
            vec![Out::Wire(binary(role, &[1; 1000])), Out::CloseTransport, closed_out(1006, "", false, None)]
        );
        assert_closed_once_last(&outs);
        assert_eq!(c.buffered_amount(), 0);
    }
}

#[test]
fn not_open_is_reported_before_full() {
    for role in ROLES {
        let mut c = with_config(role, marks(Some(10), 0));
        c.send_binary(vec![1u8; 10]).unwrap();
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        assert_eq!(c.send_binary(vec![1u8; 10]), Err(SendError::NotOpen(ReadyState::Closing)));
        assert_eq!(c.buffered_amount(), 10);
        // No refusal for being full: no Writable.
        assert_eq!(count_writable(&drain(&mut c)), 0);
    }
}

// ---------------------------------------------------------------------------
// wants_read
// ---------------------------------------------------------------------------

#[test]
fn wants_read_is_false_until_every_output_is_polled() {
    for role in ROLES {
        let mut c = conn(role);
        assert!(c.wants_read(), "{role:?}: open and idle");
        c.handle_bytes(&[]);
        assert!(c.wants_read(), "an empty read is no input");
        c.handle_bytes(&[peer_frame(role, true, op::TEXT, b"a"), peer_frame(role, true, op::PING, b"b")].concat());
        assert!(!c.wants_read());
        assert_eq!(c.poll_output(), Some(Output::Event(Event::Message(Message::text("a")))));
        assert!(!c.wants_read(), "the Ping is not processed yet");
        assert_eq!(c.poll_output(), Some(Output::Transmit(Bytes::from(own_frame(role, true, op::PONG, b"b")))));
        assert!(!c.wants_read());
        assert_eq!(c.poll_output(), Some(Output::Event(Event::Ping(bytes(b"b")))));
        assert!(!c.wants_read());
        assert_eq!(c.poll_output(), None);
        assert!(c.wants_read(), "fully drained");
        // A partial frame: processed as far as it goes, then more is wanted.
        c.handle_bytes(&peer_frame(role, true, op::TEXT, b"split")[..4]);
        assert!(!c.wants_read());
        assert_eq!(c.poll_output(), None);
        assert!(c.wants_read());
        // Commands queue output: not yet.
        c.send_text("x").unwrap();
        assert!(!c.wants_read());
        let _ = drain(&mut c);
        assert!(c.wants_read());
        // CLOSING after our Close: the peer's Close is still to be read.
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        assert!(!c.wants_read());
        let _ = drain(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Closing);
        assert!(c.wants_read());
        // EOF: never again.
        c.handle_eof();
        assert!(!c.wants_read());
        let outs = drain(&mut c);
        assert_closed_once_last(&outs);
        assert!(!c.wants_read());
        c.handle_bytes(b"ignored");
        assert!(!c.wants_read());
        assert_eq!(drain(&mut c), vec![]);
    }
}

#[test]
fn wants_read_is_false_after_eof_even_with_output_pending_and_when_closed() {
    for role in ROLES {
        // EOF with a message still queued.
        let mut c = conn(role);
        c.handle_bytes(&peer_frame(role, true, op::TEXT, b"last"));
        c.handle_eof();
        assert!(!c.wants_read());
        let outs = drain(&mut c);
        assert_eq!(outs[0], Out::Event(Event::Message(Message::text("last"))));
        assert!(!c.wants_read());
        // Closed by a protocol error.
        let mut c = conn(role);
        c.handle_bytes(&peer_frame(role, true, 0x3, b""));
        let _ = drain(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Closed);
        assert!(!c.wants_read());
    }
    // A server closed by the peer's Close.
    let mut s = server();
    s.handle_bytes(&cframe(true, op::CLOSE, &close_body(1000, "")));
    let _ = drain(&mut s);
    assert_eq!(s.ready_state(), ReadyState::Closed);
    assert!(!s.wants_read());
}

#[test]
fn wants_read_while_connecting() {
    let s = Connection::server(Config::default());
    assert!(s.wants_read(), "a server waits for the request");
    let req = ClientRequest::new("ws://example.com/").unwrap();
    let mut c = Connection::client(req, Config::default(), FixedMask(RFC_KEY)).unwrap();
    assert!(!c.wants_read(), "the request is still to be written");
    let _ = drain(&mut c);
    assert!(c.wants_read(), "now the response is awaited");
}

#[test]
fn wants_read_is_false_while_pipelined_frames_wait_for_the_answer() {
    // `wants_read` is documented as "true when everything fed so far has been
    // processed". A frame pipelined behind the upgrade request cannot be
    // processed before `accept()`, yet `wants_read()` says to read more, so a
    // driver that reads only when told keeps reading while its application
    // decides, and the connection holds every read (until it fails the
    // handshake with HeadTooLarge past max_head_size + max_message_size).
    let request = "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut s = Connection::server(Config::default());
    s.handle_bytes(&[request.as_bytes(), &cframe(true, op::TEXT, b"early")].concat());
    let outs = drain(&mut s);
    assert!(matches!(outs.as_slice(), [Out::Event(Event::UpgradeRequest(_))]), "{outs:?}");
    assert!(!s.wants_read(), "the pipelined frame has not been processed");
    s.accept(Accept::new()).unwrap();
    let outs = drain(&mut s);
    assert_eq!(
        outs[1..],
        [Out::Event(Event::Open(Negotiated::default())), Out::Event(Event::Message(Message::text("early")))]
    );
    assert!(s.wants_read());
}

#[test]
fn wants_read_while_a_client_waits_for_the_servers_tcp_close() {
    // After both Close frames a client waits for the server to close TCP;
    // only a read can see that EOF. With wants_read() false a driver that
    // reads only when told never sees it: the close takes the whole close
    // timeout, or never completes with `close_timeout: None`.
    let mut c = with_config(Role::Client, Config::default().with_close_timeout(None));
    c.close(Some(CloseCode::NORMAL), "").unwrap();
    let _ = drain(&mut c);
    c.handle_bytes(&sframe(true, op::CLOSE, &close_body(1000, "")));
    assert_eq!(drain(&mut c), vec![]);
    assert_eq!(c.ready_state(), ReadyState::Closing);
    assert!(c.wants_read(), "the server's EOF is still to be read");
    c.handle_eof();
    assert_eq!(drain(&mut c), vec![Out::CloseTransport, closed_out(1000, "", true, None)]);
}

/// Draws from [`xorshift`] (deterministic).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> usize {
        (xorshift(&mut self.0) % n) as usize
    }
}

/// A long stream from the peer of `receiver`: messages of 0 B to 100 KB,
/// some fragmented, and Pings. Returns the bytes and, for each event the
/// receiver must report, the event and the stream offset where the frame
/// producing it ends.
fn long_stream(receiver: Role, frames: usize, seed: u64) -> (Vec<u8>, Vec<(Event, usize)>) {
    let mut rng = Rng(seed);
    let mut data = Vec::new();
    let mut expected = Vec::new();
    for i in 0..frames {
        let kind = rng.below(20);
        let len = match rng.below(20) {
            0 => 8_000 + rng.below(92_000),
            1..=5 => 200 + rng.below(8_000),
            _ => rng.below(200),
        };
        let payload: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        match kind {
            0 | 1 => {
                let p = &payload[..len.min(125)];
                data.extend(peer_frame(receiver, true, op::PING, p));
                expected.push((Event::Ping(Bytes::copy_from_slice(p)), data.len()));
            }
            2 | 3 => {
                // Three fragments; one event, at the end of the last.
                let (a, b) = (len / 3, 2 * len / 3);
                data.extend(peer_frame(receiver, false, op::BINARY, &payload[..a]));
                data.extend(peer_frame(receiver, false, op::CONT, &payload[a..b]));
                data.extend(peer_frame(receiver, true, op::CONT, &payload[b..]));
                expected.push((Event::Message(Message::binary(payload)), data.len()));
            }
            4..=11 => {
                data.extend(peer_frame(receiver, true, op::BINARY, &payload));
                expected.push((Event::Message(Message::binary(payload)), data.len()));
            }
            _ => {
                data.extend(peer_frame(receiver, true, op::TEXT, &payload));
                let text = String::from_utf8(payload).unwrap();
                expected.push((Event::Message(Message::text(text)), data.len()));
            }
        }
    }
    (data, expected)
}

#[test]
fn slow_consumer_reading_only_when_wanted_holds_one_read_at_most() {
    const READ: usize = 64 * 1024;
    for (role, seed) in [(Role::Server, 0x9e37_79b9_7f4a_7c15), (Role::Client, 0x2545_f491_4f6c_dd1d)] {
        let (stream, expected) = long_stream(role, 1500, seed);
        let largest_event_span =
            expected.windows(2).map(|w| w[1].1 - w[0].1).chain([expected[0].1]).max().expect("events");
        let mut c = conn(role);
        let mut fed = 0;
        let mut reads = 0;
        let mut events: Vec<Event> = Vec::new();
        let mut pongs = Vec::new();
        let mut polls = 0usize;
        loop {
            if c.wants_read() {
                // Everything fed so far that makes an event has made it: no
                // complete frame waits in the connection.
                let complete = expected.iter().take_while(|(_, end)| *end <= fed).count();
                assert_eq!(events.len(), complete, "{role:?}: a complete frame still pending at {fed}");
                if fed == stream.len() {
                    break;
                }
                let next = &stream[fed..stream.len().min(fed + READ)];
                c.handle_bytes(next);
                fed += next.len();
                reads += 1;
                assert!(!c.wants_read());
                // Held: this read, plus at most the rest of one message
                // begun in earlier reads.
                let consumed = expected.get(events.len().wrapping_sub(1)).map_or(0, |(_, end)| *end);
                assert!(fed - consumed <= READ + largest_event_span, "{role:?}: {} bytes held", fed - consumed);
            }
            // The application takes one output at a time.
            polls += 1;
            match c.poll_output() {
                Some(Output::Event(e)) => events.push(e),
                Some(Output::Transmit(b)) => pongs.extend_from_slice(&b),
                Some(other) => panic!("{role:?}: unexpected {other:?}"),
                None => assert!(c.wants_read(), "{role:?}: nothing to poll and no read wanted: stalled"),
            }
            assert!(polls < 100_000, "no progress");
        }
        assert_eq!(reads, stream.len().div_ceil(READ));
        assert_eq!(events.len(), expected.len());
        for (i, (got, (want, _))) in events.iter().zip(&expected).enumerate() {
            assert!(got == want, "{role:?}: event {i} differs");
        }
        // Every Ping was answered, in order.
        let answered: Vec<Vec<u8>> = parse_frames(&pongs).into_iter().map(|f| f.payload).collect();
        let pinged: Vec<Vec<u8>> = expected
            .iter()
            .filter_map(|(e, _)| match e {
                Event::Ping(p) => Some(p.to_vec()),
                _ => None,
            })
            .collect();
        assert_eq!(answered, pinged);
        assert_eq!(c.ready_state(), ReadyState::Open);
    }
}

#[test]
fn a_driver_ignoring_wants_read_would_hold_everything() {
    // The contrast: feeding every read at once leaves all of it in the
    // connection until polled; wants_read stays false throughout.
    let (stream, expected) = long_stream(Role::Server, 200, 7);
    let mut s = server();
    for chunk in stream.chunks(64 * 1024) {
        s.handle_bytes(chunk);
        assert!(!s.wants_read());
    }
    let outs = drain(&mut s);
    assert_eq!(events(&outs).len(), expected.len());
    assert!(s.wants_read());
}
