//! `poll_event_ref`: received messages lent instead of handed out.
//!
//! It must hand out exactly the events `poll_event` would, in the same
//! order, and leave exactly the same bytes queued for the peer, whatever
//! the input (valid or not), its splits across reads, and however the two
//! are mixed; a lent message must hold exactly the payload.

mod common;

use common::{close_body, closed, drain, op, other, peer_frame, peer_frame_rsv, with_config};
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
