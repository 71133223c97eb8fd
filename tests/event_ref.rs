//! `poll_event_ref`: received messages lent instead of handed out.
//!
//! It must hand out exactly the events `poll_event` would, in the same
//! order, and leave exactly the same bytes queued for the peer, whatever
//! the input (valid or not), its splits across reads, and however the two
//! are mixed; a lent message must hold exactly the payload.

mod common;

use common::{Reads, close_body, closed, drain, op, other, peer_frame, peer_frame_rsv, with_config};
use proptest::prelude::*;
use wsmachine::{CloseCode, Config, Connection, Event, EventRef, Message, Output, Role, TextRef};

/// What one poll handed out, owned, for comparing.
fn take(conn: &mut Connection, by_ref: bool) -> Option<Event> {
    if by_ref { conn.poll_event_ref().map(EventRef::into_owned) } else { conn.poll_event() }
}

/// The bytes queued for the peer, drained through `poll_output` (events
/// left behind are taken too, in order, into `events`).
fn wire(conn: &mut Connection, events: &mut Vec<Event>) -> Vec<u8> {
    let mut wire = Vec::new();
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Transmit(b) => wire.extend_from_slice(&b),
            Output::Event(e) => events.push(e),
            Output::CloseTransport => wire.extend_from_slice(b"<close transport>"),
            other => panic!("unexpected {other:?}"),
        }
    }
    wire
}

/// Feeds `input` cut at `cuts` into two connections, one polled with
/// `poll_event` only, the other with `poll_event_ref` where `by_ref` says
/// (cycled), and checks that they hand out the same events and bytes.
fn same_as_owned(role: Role, config: Config, input: &[u8], cuts: &[usize], by_ref: &[bool]) {
    let mut owned = with_config(role, config.clone());
    let mut lent = with_config(role, config);
    let (mut owned_events, mut lent_events) = (Vec::new(), Vec::new());
    let (mut owned_wire, mut lent_wire) = (Vec::new(), Vec::new());
    let mut choice = by_ref.iter().copied().cycle();
    let mut at = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    ends.push(input.len());
    ends.sort_unstable();
    for end in ends {
        owned.handle_bytes(&input[at..end]);
        lent.handle_bytes(&input[at..end]);
        at = end;
        loop {
            let r = choice.next().unwrap_or(true);
            match (take(&mut owned, false), take(&mut lent, r)) {
                (None, None) => break,
                (a, b) => {
                    assert_eq!(a, b, "by_ref {r}");
                    owned_events.extend(a);
                    lent_events.extend(b);
                }
            }
        }
        owned_wire.extend(wire(&mut owned, &mut owned_events));
        lent_wire.extend(wire(&mut lent, &mut lent_events));
        assert_eq!(owned_events, lent_events);
        assert_eq!(owned_wire, lent_wire);
    }
    owned.handle_eof();
    lent.handle_eof();
    while let Some(e) = take(&mut owned, false) {
        owned_events.push(e);
    }
    while let Some(e) = take(&mut lent, true) {
        lent_events.push(e);
    }
    owned_wire.extend(wire(&mut owned, &mut owned_events));
    lent_wire.extend(wire(&mut lent, &mut lent_events));
    assert_eq!(owned_events, lent_events);
    assert_eq!(owned_wire, lent_wire);
    assert_eq!(owned.ready_state(), lent.ready_state());
}

/// One frame as the peer might send it, right or wrong.
#[derive(Debug, Clone)]
struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: Vec<u8>,
    /// Masked the wrong way for the receiver (a protocol error).
    wrong_mask: bool,
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    let len = prop_oneof![
        0usize..=8,
        Just(125usize),
        Just(126),
        Just(127),
        100usize..1500,
        Just(4095),
        Just(4096),
        Just(4097),
        4000usize..9000,
        Just(70_000),
    ];
    (len, any::<u64>(), 0u8..4).prop_map(|(len, seed, kind)| match kind {
        // ASCII, UTF-8 with multi-byte code points, arbitrary bytes.
        0 | 1 => common::prose(seed, len),
        2 => common::random_text(seed, len),
        _ => common::noise(seed, len),
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    let opcode = prop_oneof![
        6 => Just(op::TEXT),
        6 => Just(op::BINARY),
        2 => Just(op::CONT),
        1 => Just(op::PING),
        1 => Just(op::PONG),
        1 => Just(op::CLOSE),
        1 => Just(0x3u8),
    ];
    (prop::bool::weighted(0.8), prop::bool::weighted(0.03), opcode, payload(), prop::bool::weighted(0.02)).prop_map(
        |(fin, rsv, opcode, mut payload, wrong_mask)| {
            if matches!(opcode, op::PING | op::PONG | op::CLOSE) {
                payload.truncate(125);
                if opcode == op::CLOSE {
                    payload = close_body(1000, "bye");
                }
            }
            Frame { fin, rsv: if rsv { 0b100 } else { 0 }, opcode, payload, wrong_mask }
        },
    )
}

fn encode(receiver: Role, frames: &[Frame]) -> Vec<u8> {
    let mut input = Vec::new();
    for f in frames {
        let as_for = if f.wrong_mask { other(receiver) } else { receiver };
        input.extend(peer_frame_rsv(as_for, f.fin, f.rsv, f.opcode, &f.payload));
    }
    input
}

fn config() -> impl Strategy<Value = Config> {
    (prop::bool::weighted(0.2), prop_oneof![Just(usize::MAX), Just(3000usize), Just(100)]).prop_map(
        |(streaming, max)| {
            let config = Config::default().with_streaming_receive(streaming);
            if max == usize::MAX { config } else { config.with_max_message_size(max).with_max_frame_size(max) }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// The events and the bytes are the same as `poll_event`'s, for any
    /// input cut anywhere, polled by reference or not in any mix.
    #[test]
    fn lent_events_are_the_owned_events(
        server in any::<bool>(),
        config in config(),
        frames in prop::collection::vec(frame(), 1..12),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        by_ref in prop::collection::vec(prop::bool::weighted(0.7), 1..8),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let input = encode(role, &frames);
        same_as_owned(role, config, &input, &cuts, &by_ref);
    }
}

/// `input` read with `read_from` in reads of `sizes` (every third one fed
/// with `handle_bytes` instead when `mix`), taking up to `polls` events
/// (cycled) after each read, by reference where `by_ref` says, and
/// everything after the end of the stream, must give the events and bytes
/// of one fed the whole input at once and polled with `poll_event`:
/// whether the reads stay in the connection's own buffer (messages lent
/// from there) or not, and whatever is left there when it reads again.
fn read_from_same_as_owned(
    role: Role,
    config: Config,
    input: &[u8],
    sizes: &[usize],
    polls: &[usize],
    by_ref: &[bool],
    mix: bool,
) {
    let mut owned = with_config(role, config.clone());
    let mut lent = with_config(role, config);
    let (mut owned_events, mut lent_events) = (Vec::new(), Vec::new());
    owned.handle_bytes(input);
    owned.handle_eof();
    while let Some(e) = owned.poll_event() {
        owned_events.push(e);
    }
    let owned_wire = wire(&mut owned, &mut owned_events);
    let mut reader = Reads { data: input, sizes, next: 0 };
    let mut choice = by_ref.iter().copied().cycle();
    let mut limits = polls.iter().copied().cycle();
    for round in 0.. {
        let n = if mix && round % 3 == 2 && !reader.data.is_empty() {
            let n = sizes[round % sizes.len()].clamp(1, reader.data.len());
            lent.handle_bytes(&reader.data[..n]);
            reader.data = &reader.data[n..];
            n
        } else {
            lent.read_from(&mut reader).expect("reads from memory")
        };
        for _ in 0..limits.next().unwrap_or(usize::MAX) {
            match take(&mut lent, choice.next().unwrap_or(true)) {
                Some(e) => lent_events.push(e),
                None => break,
            }
        }
        if n == 0 {
            break;
        }
    }
    while let Some(e) = take(&mut lent, choice.next().unwrap_or(true)) {
        lent_events.push(e);
    }
    let lent_wire = wire(&mut lent, &mut lent_events);
    assert_eq!(owned_events, lent_events);
    assert_eq!(owned_wire, lent_wire);
    assert_eq!(owned.ready_state(), lent.ready_state());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Read with `read_from` (its own buffer lends messages in place once
    /// `poll_event_ref` is used), cut anywhere, drained or not between
    /// reads: the same events and bytes as `poll_event` on the whole input.
    #[test]
    fn read_from_lent_events_are_the_owned_events(
        server in any::<bool>(),
        config in config(),
        frames in prop::collection::vec(frame(), 1..16),
        sizes in prop::collection::vec(prop_oneof![1usize..16, 1usize..3000, Just(65_536)], 1..6),
        polls in prop::collection::vec(prop_oneof![Just(usize::MAX), 0usize..3], 1..6),
        by_ref in prop::collection::vec(prop::bool::weighted(0.8), 1..8),
        mix in any::<bool>(),
    ) {
        // Streamed messages come in pieces as the reads cut them: not
        // comparable with one read of everything (and never lent).
        let config = config.with_streaming_receive(false);
        let role = if server { Role::Server } else { Role::Client };
        let input = encode(role, &frames);
        read_from_same_as_owned(role, config, &input, &sizes, &polls, &by_ref, mix);
    }
}

/// Many whole messages of every size class in one read, each lent in place
/// from `read_from`'s buffer: exact payloads, in order, and then a read
/// that ends inside a frame, a header cut by a read, and a Ping between
/// messages (moved to the general path) change nothing.
#[test]
fn read_from_lends_whole_messages_of_every_size_in_place() {
    for role in [Role::Server, Role::Client] {
        let payloads: Vec<Vec<u8>> = [1usize, 7, 125, 126, 1000, 4096, 4097, 20_000, 65_535, 65_536, 3]
            .iter()
            .map(|&n| (0..n).map(|i| b'a' + (i % 26) as u8).collect())
            .collect();
        let mut input = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let opcode = if i % 2 == 0 { op::TEXT } else { op::BINARY };
            input.extend(peer_frame(role, true, opcode, p));
            if i == 4 {
                input.extend(peer_frame(role, true, op::PING, b"mid"));
            }
        }
        for sizes in [vec![65_536], vec![1000], vec![3, 65_536, 5], vec![7]] {
            let mut conn = with_config(role, Config::default());
            let mut reader = Reads { data: &input, sizes: &sizes, next: 0 };
            let mut got: Vec<(bool, Vec<u8>)> = Vec::new();
            let mut pings = 0;
            while conn.read_from(&mut reader).expect("memory") > 0 {
                while let Some(event) = conn.poll_event_ref() {
                    match event {
                        EventRef::Text(t) => got.push((true, t.as_bytes().to_vec())),
                        EventRef::Binary(b) => got.push((false, b.to_vec())),
                        EventRef::Other(Event::Ping(p)) => {
                            assert_eq!(&p[..], b"mid");
                            pings += 1;
                        }
                        EventRef::Other(other) => panic!("unexpected {other:?}"),
                    }
                }
            }
            assert_eq!(pings, 1, "{role:?} {sizes:?}");
            let want: Vec<(bool, Vec<u8>)> =
                payloads.iter().enumerate().map(|(i, p)| (i % 2 == 0, p.clone())).collect();
            assert_eq!(got.len(), want.len(), "{role:?} {sizes:?}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(g == w, "{role:?} {sizes:?}: message {i} ({} bytes) differs", w.1.len());
            }
        }
    }
}

/// A fragmented text message whose first header a read cuts: the next read
/// completes that frame and goes on, in the connection's own buffer, into
/// a continuation that is not UTF-8. The connection fails with 1007 at
/// once, as when the same bytes are handed over with `handle_bytes` (found
/// by the `server_stream` fuzz target).
#[test]
fn invalid_utf8_behind_a_cut_fragment_fails_at_once() {
    let mut input = peer_frame(Role::Server, false, op::TEXT, b"d!=\x08\x00\x00\x00\x09\x00");
    let cont = peer_frame(Role::Server, false, op::CONT, &[0x5a, 0x65, 0x93, b'x', b'y', b'z']);
    input.extend_from_slice(&cont[..cont.len() - 2]);
    for by_read in [false, true] {
        let mut conn = with_config(Role::Server, Config::default());
        let mut first = &input[..3];
        assert_eq!(conn.read_from(&mut first).unwrap(), 3);
        assert!(conn.poll_event_ref().is_none());
        let mut rest = &input[3..];
        if by_read {
            assert_eq!(conn.read_from(&mut rest).unwrap(), input.len() - 3);
        } else {
            conn.handle_bytes(rest);
        }
        let mut events = Vec::new();
        while let Some(e) = conn.poll_event_ref() {
            events.push(e.into_owned());
        }
        let wire = wire(&mut conn, &mut events);
        assert_eq!(wire[..4], [0x88, 0x02, 0x03, 0xef], "by read {by_read}: {wire:?}");
    }
}

/// Each of the sizes where the path changes (the short frame, the 16-bit
/// length, the borrow limit), both roles and both types: the lent message
/// is exactly the payload, and `into_owned` gives `poll_event`'s message.
#[test]
fn lent_payloads_are_exact_at_every_size_boundary() {
    for role in [Role::Server, Role::Client] {
        for len in [1, 2, 124, 125, 126, 127, 1024, 4095, 4096, 4097, 65_535, 65_536, 100_000] {
            let binary: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut conn = with_config(role, Config::default());
            let mut input = peer_frame(role, true, op::BINARY, &binary);
            input.extend(peer_frame(role, true, op::TEXT, &text));
            conn.handle_bytes(&input);
            match conn.poll_event_ref() {
                Some(EventRef::Binary(b)) => assert_eq!(b, &binary[..], "{role:?} {len}"),
                other => panic!("{role:?} {len}: {other:?}"),
            }
            match conn.poll_event_ref() {
                Some(EventRef::Text(t)) => {
                    assert_eq!(t.as_bytes(), &text[..]);
                    assert_eq!(t.as_str().as_bytes(), &text[..]);
                    assert_eq!(t.len(), len);
                    let owned = EventRef::Text(t).into_owned();
                    assert_eq!(owned, Event::Message(Message::Text(String::from_utf8(text.clone()).unwrap().into())));
                }
                other => panic!("{role:?} {len}: {other:?}"),
            }
            assert!(conn.poll_event_ref().is_none());
            assert!(drain(&mut conn).is_empty(), "nothing queued, nothing left");
        }
    }
}

/// Invalid UTF-8 in a short text frame (the path a server reads most) is
/// reported as it is through `poll_event`: 1007 on the wire, the
/// connection failed, the bytes of the bad frame never lent.
#[test]
fn invalid_utf8_is_not_lent_and_fails_the_connection() {
    for payload in [&b"ok \xff"[..], &[0xE2, 0x82][..], &vec![0xC3; 300][..]] {
        let mut conn = with_config(Role::Server, Config::default());
        let mut input = peer_frame(Role::Server, true, op::TEXT, b"fine");
        input.extend(peer_frame(Role::Server, true, op::TEXT, payload));
        conn.handle_bytes(&input);
        assert_eq!(conn.poll_event_ref(), Some(EventRef::Text(TextRef::from("fine"))));
        match conn.poll_event_ref() {
            None => {}
            Some(EventRef::Other(Event::Closed(c))) => panic!("Closed before CloseTransport: {c:?}"),
            Some(other) => panic!("{other:?}"),
        }
        let outs = drain(&mut conn);
        let closed = closed(&outs).expect("closed");
        assert_eq!(closed.code, CloseCode::ABNORMAL);
        assert!(!closed.was_clean);
        assert_eq!(common::wire(&outs), common::sframe(true, op::CLOSE, &close_body(1007, "")));
    }
}

/// A lent message is not kept: the next poll lends the next one, and
/// nothing the application holds pins the input buffer (the input buffer
/// is reused, which `tests/allocations.rs` counts).
#[test]
fn each_poll_lends_the_next_message() {
    let mut conn = with_config(Role::Server, Config::default());
    let mut input = Vec::new();
    for i in 0..100u8 {
        input.extend(peer_frame(Role::Server, true, op::BINARY, &[i; 10]));
    }
    conn.handle_bytes(&input);
    for i in 0..100u8 {
        match conn.poll_event_ref() {
            Some(EventRef::Binary(b)) => assert_eq!(b, [i; 10]),
            other => panic!("{i}: {other:?}"),
        }
    }
    assert!(conn.poll_event_ref().is_none());
}

/// The README's shape of a loop over lent events compiles and works: the
/// connection is used again in the same `match`, once what was lent is no
/// longer needed (an echo, a Pong by hand, a close).
#[test]
fn a_lent_message_can_be_answered_in_the_same_match() {
    let config = Config::default().with_auto_pong(false);
    let mut conn = with_config(Role::Server, config);
    let mut input = peer_frame(Role::Server, true, op::TEXT, b"hello");
    input.extend(peer_frame(Role::Server, true, op::BINARY, &[1, 2, 3]));
    input.extend(peer_frame(Role::Server, true, op::PING, b"p"));
    input.extend(peer_frame(Role::Server, true, op::TEXT, b"bye"));
    conn.handle_bytes(&input);
    while let Some(event) = conn.poll_event_ref() {
        match event {
            EventRef::Text(text) if text == "bye" => {
                conn.close(Some(CloseCode::NORMAL), "").expect("open");
            }
            EventRef::Text(text) => {
                let upper = text.as_str().to_uppercase();
                conn.send_text(upper).expect("open");
            }
            EventRef::Binary(bytes) => {
                let sum: u8 = bytes.iter().sum();
                conn.send_binary(vec![sum]).expect("open");
            }
            EventRef::Other(Event::Ping(payload)) => conn.pong(payload).expect("open"),
            EventRef::Other(event) => panic!("unexpected {event:?}"),
        }
    }
    let mut want = common::sframe(true, op::TEXT, b"HELLO");
    want.extend(common::sframe(true, op::BINARY, &[6]));
    want.extend(common::sframe(true, op::PONG, b"p"));
    want.extend(common::sframe(true, op::CLOSE, &close_body(1000, "")));
    assert_eq!(common::wire(&drain(&mut conn)), want);
}
