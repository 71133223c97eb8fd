//! The receive fast paths (issue 16) against the plain one: short frames
//! recognised from two bytes and unmasked with their ASCII check, whole
//! frames of a read taken one after the other, large frames unmasked and
//! validated read by read, fragments unmasked straight into the message. Whatever the reads,
//! the outputs must be exactly those of the same bytes fed one at a time
//! (where no fast path applies: no two frames are ever whole at once),
//! failures included: invalid UTF-8 still fails with 1007 at the read that
//! brings it, before its frame completes.
mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use wsmachine::{Config, Connection, Event, Message, Output, Role};

/// One frame of the generated stream.
#[derive(Clone, Debug)]
enum Piece {
    /// A whole message in one frame.
    Whole {
        text: bool,
        payload: Vec<u8>,
    },
    /// A message in fragments of these sizes (the last takes the rest).
    Fragmented {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<usize>,
    },
    Ping(Vec<u8>),
}

/// Text that is valid, or (rarely) invalid at a random place.
fn text_payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (vec(any_width_char(), 0..=max), any::<u8>(), any::<prop::sample::Index>()).prop_map(|(chars, bad, at)| {
        let mut v = chars.into_iter().collect::<String>().into_bytes();
        // One case in sixteen: an invalid byte somewhere.
        if bad % 16 == 0 {
            let i = if v.is_empty() { 0 } else { at.index(v.len()) };
            v.insert(i, 0xFF);
        }
        v
    })
}

/// A payload of at most about `max` bytes.
fn payload(text: bool, max: usize) -> BoxedStrategy<Vec<u8>> {
    if text { text_payload(max / 4).boxed() } else { vec(any::<u8>(), 0..max).boxed() }
}

fn whole(max: usize) -> impl Strategy<Value = Piece> {
    any::<bool>().prop_flat_map(move |text| payload(text, max).prop_map(move |payload| Piece::Whole { text, payload }))
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        // Short frames (the batched path) most of the time.
        6 => whole(126),
        2 => whole(70_000),
        2 => (any::<bool>(), 1usize..70_000)
            .prop_flat_map(|(text, max)| (Just(text), payload(text, max), vec(0usize..20_000, 0..6)))
            .prop_map(|(text, payload, cuts)| Piece::Fragmented { text, payload, cuts }),
        1 => vec(any::<u8>(), 0..126).prop_map(Piece::Ping),
    ]
}

/// The length of a masked frame's header.
fn header_len(len: usize) -> usize {
    6 + match len {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    }
}

/// A masked frame with its own key.
fn masked(fin: bool, opcode: u8, payload: &[u8], key: u32) -> Vec<u8> {
    frame(fin, 0, opcode, Some(key.to_le_bytes()), payload)
}

fn wire_of(pieces: &[Piece], keys: &mut impl Iterator<Item = u32>) -> Vec<u8> {
    let mut w = Vec::new();
    for p in pieces {
        match p {
            Piece::Whole { text, payload } => {
                w.extend(masked(true, if *text { op::TEXT } else { op::BINARY }, payload, keys.next().unwrap()))
            }
            Piece::Fragmented { text, payload, cuts } => {
                let mut rest = &payload[..];
                let mut first = true;
                for &c in cuts {
                    let (a, b) = rest.split_at(c.min(rest.len()));
                    let opcode = if first { if *text { op::TEXT } else { op::BINARY } } else { op::CONT };
                    w.extend(masked(false, opcode, a, keys.next().unwrap()));
                    first = false;
                    rest = b;
                }
                let opcode = if first { if *text { op::TEXT } else { op::BINARY } } else { op::CONT };
                w.extend(masked(true, opcode, rest, keys.next().unwrap()));
            }
            Piece::Ping(p) => w.extend(masked(true, op::PING, p, keys.next().unwrap())),
        }
    }
    w
}

fn server_conn() -> Connection {
    with_config(Role::Server, Config::default().with_max_message_size(1 << 20).with_max_frame_size(1 << 20))
}

/// How reads reach the connection.
#[derive(Clone, Copy, Debug)]
enum Feed {
    /// `handle_bytes`.
    Slices,
    /// `read_buffer`, filled, then `handle_bytes_owned`.
    Lent,
    /// `read_from` a reader that has the read's bytes, until it has none
    /// (its own buffer while a fragmented message is assembled, else room
    /// zeroed in the input buffer).
    ReadFrom,
}

/// One read of `bytes`, handed to the connection as `how` says.
fn read(c: &mut Connection, bytes: &[u8], how: Feed) {
    match how {
        Feed::Slices => c.handle_bytes(bytes),
        Feed::Lent => {
            let mut buf = c.read_buffer(bytes.len());
            buf.extend_from_slice(bytes);
            c.handle_bytes_owned(buf);
        }
        Feed::ReadFrom => {
            let mut reader = bytes;
            while !reader.is_empty() {
                assert!(c.read_from(&mut reader).unwrap() > 0);
            }
        }
    }
}

/// Any of the three ways in.
fn feeds() -> impl Strategy<Value = Feed> {
    prop_oneof![Just(Feed::Slices), Just(Feed::Lent), Just(Feed::ReadFrom)]
}

/// Feeds `wire` to a server in reads of the given sizes (cycled), calling
/// `after` with the connection after each.
fn feed_with(wire: &[u8], sizes: &[usize], how: Feed, mut after: impl FnMut(&mut Connection)) {
    let mut c = server_conn();
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        if at == wire.len() {
            break;
        }
        let n = size.clamp(1, wire.len() - at);
        read(&mut c, &wire[at..at + n], how);
        at += n;
        after(&mut c);
    }
}

/// Feeds `wire` in reads of the given sizes (cycled), draining after each.
fn feed(wire: &[u8], sizes: &[usize], how: Feed) -> Vec<Out> {
    let mut outs = Vec::new();
    feed_with(wire, sizes, how, |c| merge_into(&mut outs, drain(c)));
    outs
}

/// As [`feed`], but drained as the README's loop does: every event first
/// (`poll_event`, which takes short frames inline), then what is queued
/// (`poll_output`: the bytes, and the end). The events in order, and every
/// byte written.
fn feed_events(wire: &[u8], sizes: &[usize], how: Feed) -> (Vec<Event>, Vec<u8>) {
    let (mut got, mut written) = (Vec::new(), Vec::new());
    feed_with(wire, sizes, how, |c| {
        while let Some(event) = c.poll_event() {
            got.push(event);
        }
        let rest = drain(c);
        written.extend(common::wire(&rest));
        got.extend(events(&rest));
    });
    (got, written)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any reads give the outputs of the same bytes fed one at a time;
    /// drained with `poll_event` instead, the same events and bytes.
    #[test]
    fn any_reads_equal_one_byte_at_a_time(
        pieces in vec(piece(), 1..24),
        seed in any::<u32>(),
        sizes in vec(prop_oneof![1usize..16, 16usize..5000, 5000usize..140_000], 1..8),
        how in feeds(),
    ) {
        let mut keys = (0u32..).map(|i| seed.wrapping_mul(0x9e37_79b9).wrapping_add(i.wrapping_mul(0x85eb_ca6b)));
        let wire = wire_of(&pieces, &mut keys);
        let reference = feed(&wire, &[1], Feed::Slices);
        let got = feed(&wire, &sizes, how);
        prop_assert!(got == reference, "{how:?} reads {sizes:?}: outputs differ");
        let all_at_once = feed(&wire, &[wire.len()], how);
        prop_assert!(all_at_once == reference, "{how:?} in one read: outputs differ");
        let (polled, written) = feed_events(&wire, &sizes, how);
        prop_assert_eq!(polled, events(&reference), "{:?} reads {:?} polled for events", how, sizes);
        prop_assert_eq!(written, common::wire(&reference));
    }

    /// A large masked frame split anywhere is unmasked read by read into
    /// exactly the one-shot result.
    #[test]
    fn a_large_frame_split_anywhere_unmasks_exactly(
        len in 65_536usize..300_000,
        key in any::<u32>(),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
        how in feeds(),
        text in any::<bool>(),
    ) {
        let payload: Vec<u8> = if text {
            "€ab𝄞ü".repeat(len / 10 + 1).into_bytes()
        } else {
            (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
        };
        let wire = masked(true, if text { op::TEXT } else { op::BINARY }, &payload, key);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len())).collect();
        points.sort_unstable();
        points.dedup();
        let mut sizes = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([wire.len()]) {
            if p > last {
                sizes.push(p - last);
                last = p;
            }
        }
        let mut c = server_conn();
        let mut at = 0;
        let mut got = Vec::new();
        for n in sizes {
            read(&mut c, &wire[at..at + n], how);
            at += n;
            got.extend(events(&drain(&mut c)));
        }
        let expected = if text {
            Message::text(String::from_utf8(payload).unwrap())
        } else {
            Message::binary(payload)
        };
        prop_assert_eq!(got, vec![Event::Message(expected)]);
    }

    /// Text invalid at a random place fails with 1007 at the read that
    /// brings the bad byte, before its frame (or message) completes, in one
    /// frame or in fragments, whatever the reads.
    #[test]
    fn invalid_text_fails_at_the_read_that_brings_it(
        len in 1000usize..200_000,
        bad in any::<prop::sample::Index>(),
        fragment in prop_oneof![Just(None), (100usize..30_000).prop_map(Some)],
        sizes in vec(1usize..70_000, 1..6),
        how in feeds(),
    ) {
        let mut payload = "κόσμε ascii 𝄞 ".repeat(len / 20 + 1).into_bytes();
        let bad = bad.index(payload.len() - 1);
        payload[bad] = 0xFF;
        let pieces = match fragment {
            None => vec![Piece::Whole { text: true, payload }],
            Some(f) => {
                let cuts = vec![f; payload.len() / f];
                vec![Piece::Fragmented { text: true, payload, cuts }]
            }
        };
        let stream = wire_of(&pieces, &mut (7u32..));
        let wire = &stream[..];
        // Where the bad byte is on the wire: the payload byte `bad` lies
        // after the headers of the frames before it and its own.
        let mut seen = 0;
        let mut wire_at = None;
        let mut p = 0;
        for f in parse_frames(wire) {
            let header = header_len(f.payload.len());
            if wire_at.is_none() && seen + f.payload.len() > bad {
                wire_at = Some(p + header + (bad - seen));
            }
            seen += f.payload.len();
            p += header + f.payload.len();
        }
        let wire_at = wire_at.unwrap();
        let mut c = server_conn();
        let mut at = 0;
        let mut i = 0;
        loop {
            let n = sizes[i % sizes.len()].min(wire.len() - at);
            i += 1;
            read(&mut c, &wire[at..at + n], how);
            at += n;
            let outs = drain(&mut c);
            prop_assert!(!events(&outs).iter().any(|e| matches!(e, Event::Message(_))));
            if at > wire_at {
                let closed = closed(&outs).expect("failed at the read with the bad byte");
                prop_assert_eq!(closed.code.as_u16(), 1006);
                prop_assert_eq!(&common::wire(&outs)[..], &sframe(true, op::CLOSE, &close_body(1007, ""))[..]);
                break;
            }
            prop_assert!(outs.is_empty(), "{:?} before the bad byte", outs);
        }
    }
}

/// Short text that is not UTF-8, taken where `poll_event` polls: it is
/// masked back before the general path reports it, so that unmasking it
/// twice cannot make it valid. Here it would: 0x7F under key 0x80 is 0xFF,
/// and 0xFF unmasked again is 0x7F.
#[test]
fn invalid_short_text_polled_for_events_fails_with_1007() {
    let wire = [0x81, 0x81, 0x80, 0, 0, 0, 0x7F];
    for how in [Feed::Slices, Feed::Lent] {
        let (got, written) = feed_events(&wire, &[wire.len()], how);
        assert!(!got.iter().any(|e| matches!(e, Event::Message(_))), "{how:?}: {got:?}");
        assert_eq!(written, sframe(true, op::CLOSE, &close_body(1007, "")), "{how:?}");
    }
}

/// Short messages in one read, the fourth invalid UTF-8: the three before
/// it come out, then the connection fails with 1007; a Ping between them
/// is answered in its place.
#[test]
fn messages_before_invalid_text_in_the_same_read_come_first() {
    let mut wire = Vec::new();
    wire.extend(cframe(true, op::TEXT, b"one"));
    wire.extend(cframe(true, op::BINARY, b"two"));
    wire.extend(cframe(true, op::PING, b"p"));
    wire.extend(cframe(true, op::TEXT, b"three"));
    wire.extend(cframe(true, op::TEXT, b"bad \xff"));
    wire.extend(cframe(true, op::TEXT, b"never"));
    for how in [Feed::Slices, Feed::Lent] {
        let outs = feed(&wire, &[wire.len()], how);
        assert_eq!(outs, feed(&wire, &[1], Feed::Slices), "{how:?}");
        let ev = events(&outs);
        assert_eq!(ev[0], Event::Message(Message::text("one")));
        assert_eq!(ev[1], Event::Message(Message::binary(&b"two"[..])));
        assert!(matches!(&ev[2], Event::Ping(p) if &p[..] == b"p"));
        assert_eq!(ev[3], Event::Message(Message::text("three")));
        assert_eq!(
            closed(&outs).unwrap().error,
            Some(wsmachine::ConnectionError::Protocol(wsmachine::ProtocolError::InvalidUtf8))
        );
        assert_eq!(ev.len(), 5);
    }
}

/// A Close behind short messages in the same read: the messages come
/// first, then the closing handshake; nothing after the Close is read.
#[test]
fn a_close_behind_short_messages_is_acted_on_in_its_turn() {
    let mut wire = Vec::new();
    for i in 0..100u8 {
        wire.extend(cframe(true, op::TEXT, format!("message {i}").as_bytes()));
    }
    wire.extend(cframe(true, op::CLOSE, &close_body(1000, "bye")));
    wire.extend(cframe(true, op::TEXT, b"after the close"));
    let mut c = server_conn();
    c.handle_bytes(&wire);
    let mut n = 0;
    while let Some(o) = c.poll_output() {
        if let Output::Event(Event::Message(m)) = o {
            assert_eq!(m, Message::text(format!("message {n}")));
            n += 1;
        } else {
            assert_eq!(n, 100, "{o:?} before the messages");
        }
    }
    assert_eq!(n, 100);
}

/// A message kept from a batch stays intact while later reads reuse the
/// buffer.
#[test]
fn kept_messages_from_a_batch_stay_intact() {
    let mut c = server_conn();
    let mut kept = Vec::new();
    for round in 0..50u32 {
        let mut wire = Vec::new();
        for i in 0..200u32 {
            wire.extend(cframe(true, op::BINARY, &(round * 1000 + i).to_le_bytes()));
        }
        let mut buf = c.read_buffer(64 * 1024);
        buf.extend_from_slice(&wire);
        c.handle_bytes_owned(buf);
        for e in events(&drain(&mut c)) {
            if let Event::Message(m) = e {
                kept.push(m);
            }
        }
    }
    for (i, m) in kept.iter().enumerate() {
        let i = i as u32;
        assert_eq!(m.as_bytes(), &((i / 200) * 1000 + i % 200).to_le_bytes());
    }
}
