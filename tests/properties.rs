//! Property tests: close reasons around the 123-byte limit, chunking
//! invariance of the receive path, send → receive round trips, a client/
//! server pair delivering arbitrary messages, and arbitrary input never
//! panicking and always ending in exactly one `Closed`.
mod common;
use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use wsmachine::{BytesMut, CloseCode, CloseError, Config, Connection, Event, Message, ReadyState, Role};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// Characters of every UTF-8 width.
fn any_width_char() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::char::range('\0', '\u{7f}'),
        proptest::char::range('\u{80}', '\u{7ff}'),
        proptest::char::range('\u{800}', '\u{ffff}'),
        proptest::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

/// Strings whose UTF-8 length lands near 123 bytes, on either side.
fn reason_near_limit() -> impl Strategy<Value = String> {
    (vec(any_width_char(), 0..150), 110usize..=136).prop_map(|(chars, target)| {
        let mut s = String::new();
        for c in chars {
            if s.len() >= target {
                break;
            }
            s.push(c);
        }
        s
    })
}

/// Deterministic filler bytes.
fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Deterministic text of about `len` bytes mixing 1- to 4-byte characters.
fn filler_text(len: usize, seed: u64) -> String {
    const PALETTE: [&str; 8] = ["a", "é", "€", "𝄞", "z", " ", "κ", "\u{7f}"];
    let mut s = String::with_capacity(len + 4);
    for b in filler(len, seed) {
        if s.len() >= len {
            break;
        }
        s.push_str(PALETTE[usize::from(b) % PALETTE.len()]);
    }
    s
}

/// How bytes are fed.
#[derive(Clone, Copy, Debug)]
enum Feed {
    /// `handle_bytes`.
    Slice,
    /// `handle_bytes_owned` of a fresh buffer.
    Owned,
    /// Into `read_buffer(min)`, handed back with `handle_bytes_owned`; a
    /// chunk larger than the lent capacity grows the buffer.
    Lent(usize),
}

/// Output of a connection over its whole life, merged across drains.
fn run(conn: &mut Connection, chunks: &[Vec<u8>], feed: Feed) -> Vec<Out> {
    let mut h = History::new();
    for chunk in chunks {
        match feed {
            Feed::Slice => conn.handle_bytes(chunk),
            Feed::Owned => conn.handle_bytes_owned(BytesMut::from(&chunk[..])),
            Feed::Lent(min) => {
                let mut buf = conn.read_buffer(min);
                // At least `min`, or the rest of a large frame near its end.
                assert!(buf.is_empty() && buf.capacity() >= 1);
                buf.extend_from_slice(chunk);
                conn.handle_bytes_owned(buf);
            }
        }
        h.drain(conn);
    }
    conn.handle_eof();
    h.drain(conn);
    h.outs
}

/// Splits `data` at the given points.
fn split_at_points(data: &[u8], points: &[Index]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = points.iter().map(|i| i.index(data.len() + 1)).collect();
    cuts.push(0);
    cuts.push(data.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| data[w[0]..w[1]].to_vec()).collect()
}

/// The sane end of any connection's life.
#[track_caller]
fn assert_sane_end(role: Role, outs: &[Out]) {
    let closed = assert_closed_once_last(outs);
    let code = closed.code;
    assert!(
        code == CloseCode::ABNORMAL || code == CloseCode::NO_STATUS_RCVD || code.is_valid_received(),
        "insane code {code:?}"
    );
    if closed.error.is_some() {
        assert_eq!((code, closed.was_clean), (CloseCode::ABNORMAL, false));
    }
    if closed.was_clean {
        assert_ne!(code, CloseCode::ABNORMAL);
    }
    // What we wrote parses as whole frames, masked iff we are a client, with
    // at most one Close, carrying a sendable code or none, and after it only
    // control frames (§5.5.1: no data after a Close; Pings and Pongs may
    // still go until the peer's Close).
    let frames = parse_frames(&wire(outs));
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.mask.is_some(), role == Role::Client);
        if f.opcode == op::CLOSE {
            assert!(
                frames[i + 1..].iter().all(|g| g.opcode == op::PING || g.opcode == op::PONG),
                "data or a second Close after our Close: {frames:?}"
            );
            assert!(f.payload.len() != 1 && f.payload.len() <= 125);
            if f.payload.len() >= 2 {
                assert!(CloseCode::new(u16::from_be_bytes([f.payload[0], f.payload[1]])).is_sendable());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Close reasons around 123 bytes
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn close_reason_is_accepted_iff_its_utf8_fits_in_123_bytes(reason in reason_near_limit()) {
        for role in ROLES {
            let mut c = conn(role);
            let got = c.close(Some(CloseCode::NORMAL), &reason);
            let outs = drain(&mut c);
            if reason.len() <= 123 {
                prop_assert_eq!(got, Ok(()));
                let frames = parse_frames(&wire(&outs));
                prop_assert_eq!(frames.len(), 1);
                prop_assert_eq!(frames[0].opcode, op::CLOSE);
                prop_assert_eq!(&frames[0].payload, &close_body(1000, &reason));
                prop_assert_eq!(wire(&outs), own_frame(role, true, op::CLOSE, &close_body(1000, &reason)));
                prop_assert_eq!(c.ready_state(), ReadyState::Closing);
            } else {
                prop_assert_eq!(got, Err(CloseError::ReasonTooLong(reason.len())));
                prop_assert_eq!(outs, vec![]);
                prop_assert_eq!(c.ready_state(), ReadyState::Open);
            }
            let mut b = conn(role);
            let browser = b.browser_close(Some(3000), Some(&reason));
            prop_assert_eq!(browser.is_ok(), reason.len() <= 123);
        }
    }

    #[test]
    fn a_reason_that_fits_reaches_the_peer_unchanged(reason in reason_near_limit()) {
        prop_assume!(reason.len() <= 123);
        let mut p = Pair::new(Config::default());
        p.client.close(Some(CloseCode::new(4321)), &reason).unwrap();
        p.drive();
        let frame = wsmachine::CloseFrame { code: CloseCode::new(4321), reason: reason.clone() };
        prop_assert_eq!(&p.server_events[0], &Event::Closing(frame));
        // The echo carries the same reason back.
        match p.client_events.last() {
            Some(Event::Closed(c)) => prop_assert_eq!((&c.reason, c.was_clean), (&reason, true)),
            other => prop_assert!(false, "client ended with {:?}", other),
        }
    }
}

// ---------------------------------------------------------------------------
// Chunking invariance
// ---------------------------------------------------------------------------

/// One thing a peer sends.
#[derive(Debug, Clone)]
enum Item {
    /// A text message cut into fragments at the given points (possibly inside
    /// a code point), with an optional Ping between its first two fragments.
    Text(String, Vec<Index>, Option<Vec<u8>>),
    Binary(Vec<u8>, Vec<Index>, Option<Vec<u8>>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

/// How the stream ends, before EOF.
#[derive(Debug, Clone)]
enum Tail {
    Nothing,
    /// An invalid frame from this list, then more bytes.
    Invalid(Index),
    /// A Close frame (valid), then more frames.
    Close(Option<u16>, String),
    /// The first bytes of a frame.
    Truncated(Index),
}

fn item() -> impl Strategy<Value = Item> {
    let ctrl = vec(any::<u8>(), 0..=125);
    prop_oneof![
        3 => (vec(any_width_char(), 0..60).prop_map(String::from_iter), vec(any::<Index>(), 0..4), proptest::option::of(ctrl.clone()))
            .prop_map(|(s, cuts, ping)| Item::Text(s, cuts, ping)),
        2 => (prop_oneof![vec(any::<u8>(), 0..200), vec(any::<u8>(), 120..70_000)], vec(any::<Index>(), 0..4), proptest::option::of(ctrl.clone()))
            .prop_map(|(b, cuts, ping)| Item::Binary(b, cuts, ping)),
        1 => ctrl.clone().prop_map(Item::Ping),
        1 => ctrl.prop_map(Item::Pong),
    ]
}

fn tail() -> impl Strategy<Value = Tail> {
    prop_oneof![
        Just(Tail::Nothing),
        any::<Index>().prop_map(Tail::Invalid),
        (proptest::option::of(prop_oneof![Just(1000u16), Just(1001), Just(3000), Just(4999)]), "[a-zé€]{0,20}")
            .prop_map(|(code, reason)| Tail::Close(code, reason)),
        any::<Index>().prop_map(Tail::Truncated),
    ]
}

/// Frames as the peer of `receiver` sends them, each masked with its own key.
struct Encoder {
    receiver: Role,
    keys: u64,
}

impl Encoder {
    fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        match self.receiver {
            Role::Client => frame(fin, 0, opcode, None, payload),
            Role::Server => {
                self.keys = self.keys.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let k = (self.keys >> 32) as u32;
                frame(fin, 0, opcode, Some(k.to_be_bytes()), payload)
            }
        }
    }

    fn message(&mut self, opcode: u8, data: &[u8], cuts: &[Index], ping: &Option<Vec<u8>>, out: &mut Vec<u8>) {
        let parts = split_at_points(data, cuts);
        let parts = if parts.is_empty() { vec![vec![]] } else { parts };
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 { opcode } else { op::CONT };
            out.extend(self.frame(i + 1 == parts.len(), opcode, part));
            if i == 0 && parts.len() > 1 {
                if let Some(p) = ping {
                    out.extend(self.frame(true, op::PING, p));
                }
            }
        }
    }

    fn stream(&mut self, items: &[Item], tail: &Tail) -> Vec<u8> {
        let mut out = Vec::new();
        for it in items {
            match it {
                Item::Text(s, cuts, ping) => self.message(op::TEXT, s.as_bytes(), cuts, ping, &mut out),
                Item::Binary(b, cuts, ping) => self.message(op::BINARY, b, cuts, ping, &mut out),
                Item::Ping(p) => out.extend(self.frame(true, op::PING, p)),
                Item::Pong(p) => out.extend(self.frame(true, op::PONG, p)),
            }
        }
        match tail {
            Tail::Nothing => {}
            Tail::Invalid(i) => {
                let invalid = [
                    self.frame(true, 0x3, b"reserved opcode"),
                    frame(
                        true,
                        0b100,
                        op::BINARY,
                        if self.receiver == Role::Server { Some(RFC_KEY) } else { None },
                        b"rsv1",
                    ),
                    self.frame(true, op::TEXT, b"bad \xed\xa0\x80 utf8"),
                    self.frame(true, op::CLOSE, b"\x03"),
                    self.frame(true, op::CLOSE, &close_body(1005, "")),
                    self.frame(true, op::CONT, b"no message"),
                    self.frame(true, op::PING, &[0; 126]),
                    // The wrong masking for this receiver.
                    frame(true, 0, op::TEXT, if self.receiver == Role::Server { None } else { Some(RFC_KEY) }, b"x"),
                    match self.receiver {
                        Role::Server => vec![0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0, 0, 0],
                        Role::Client => vec![0x82, 0x7E, 0x00, 0x05, 0, 0, 0, 0, 0],
                    },
                ];
                let chosen: &Vec<u8> = i.get(&invalid);
                out.extend_from_slice(chosen);
                out.extend(self.frame(true, op::TEXT, b"after the invalid frame"));
            }
            Tail::Close(code, reason) => {
                let body = match code {
                    Some(c) => close_body(*c, reason),
                    None => vec![],
                };
                out.extend(self.frame(true, op::CLOSE, &body));
                out.extend(self.frame(true, op::TEXT, b"after the close"));
                out.extend(self.frame(true, op::PING, b"after the close"));
            }
            Tail::Truncated(i) => {
                let f = self.frame(true, op::BINARY, &[7; 300]);
                let cut = 1 + i.index(f.len() - 1);
                out.extend_from_slice(&f[..cut]);
            }
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_chunking_of_the_same_bytes_gives_the_same_outputs(
        items in vec(item(), 0..6),
        tail in tail(),
        seed in any::<u64>(),
        points in vec(any::<Index>(), 0..12),
        lend in 0usize..300,
    ) {
        for role in ROLES {
            let data = Encoder { receiver: role, keys: seed }.stream(&items, &tail);
            let whole = run(&mut conn(role), std::slice::from_ref(&data), Feed::Slice);
            assert_sane_end(role, &whole);
            let random = split_at_points(&data, &points);
            prop_assert_eq!(&run(&mut conn(role), &random, Feed::Slice), &whole, "random split");
            prop_assert_eq!(&run(&mut conn(role), &random, Feed::Owned), &whole, "random split, owned buffers");
            prop_assert_eq!(&run(&mut conn(role), &random, Feed::Lent(lend)), &whole, "random split, lent buffers");
            // Byte by byte is slow for the large binary messages; keep it to the small streams.
            if data.len() <= 4096 {
                let bytes: Vec<Vec<u8>> = data.iter().map(|b| vec![*b]).collect();
                prop_assert_eq!(&run(&mut conn(role), &bytes, Feed::Slice), &whole, "byte by byte");
                prop_assert_eq!(&run(&mut conn(role), &bytes, Feed::Lent(1)), &whole, "byte by byte, lent buffers");
            }
            // Independent of the splitting, the delivered messages are the ones sent.
            let delivered: Vec<Message> = events(&whole)
                .into_iter()
                .filter_map(|e| match e { Event::Message(m) => Some(m), _ => None })
                .collect();
            let sent: Vec<Message> = items
                .iter()
                .filter_map(|it| match it {
                    Item::Text(s, ..) => Some(Message::text(s.clone())),
                    Item::Binary(b, ..) => Some(Message::binary(b.clone())),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(delivered, sent);
        }
    }
}

// ---------------------------------------------------------------------------
// send → handle_bytes round trips at the length boundaries
// ---------------------------------------------------------------------------

const BOUNDARIES: [usize; 8] = [0, 1, 125, 126, 127, 65535, 65536, 65537];

/// Sends `message` from `sender` and feeds the bytes to the other role;
/// checks the exact frame and the delivered message.
fn round_trip(sender: Role, message: Message) -> Result<(), TestCaseError> {
    let receiver = if sender == Role::Server { Role::Client } else { Role::Server };
    let mut tx = conn(sender);
    tx.send(message.clone()).unwrap();
    prop_assert_eq!(tx.buffered_amount(), message.len());
    let w = wire(&drain(&mut tx));
    prop_assert_eq!(tx.buffered_amount(), 0);
    let opcode = if message.is_text() { op::TEXT } else { op::BINARY };
    prop_assert_eq!(&w, &own_frame(sender, true, opcode, message.as_bytes()));
    let len7 = w[1] & 0x7F;
    let expected_len7 = match message.len() {
        n if n < 126 => n as u8,
        n if n <= 0xFFFF => 126,
        _ => 127,
    };
    prop_assert_eq!(len7, expected_len7);
    let mut rx = conn(receiver);
    rx.handle_bytes(&w);
    prop_assert_eq!(drain(&mut rx), vec![Out::Event(Event::Message(message))]);
    Ok(())
}

#[test]
fn round_trip_at_every_length_boundary_both_directions() {
    for len in BOUNDARIES {
        for sender in ROLES {
            round_trip(sender, Message::binary(filler(len, len as u64))).unwrap();
            round_trip(sender, Message::text("x".repeat(len))).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trip_of_random_payloads_near_the_boundaries(
        len in proptest::sample::select(BOUNDARIES.to_vec()),
        delta in 0usize..3,
        seed in any::<u64>(),
        text in any::<bool>(),
    ) {
        let len = len + delta;
        let message = if text {
            Message::text(filler_text(len, seed))
        } else {
            Message::binary(filler(len, seed))
        };
        for sender in ROLES {
            round_trip(sender, message.clone())?;
        }
    }
}

// ---------------------------------------------------------------------------
// A client/server pair delivers every message intact and in order
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Spec {
    text: bool,
    len: usize,
    seed: u64,
}

impl Spec {
    fn message(&self) -> Message {
        if self.text {
            Message::text(filler_text(self.len, self.seed))
        } else {
            Message::binary(filler(self.len, self.seed))
        }
    }
}

fn specs(max_len: usize) -> impl Strategy<Value = Vec<Spec>> {
    let len = prop_oneof![4 => 0..200usize, 2 => 0..5000usize, 1 => 60_000..=max_len.max(60_000)];
    vec((any::<bool>(), len, any::<u64>()), 0..6)
        .prop_map(move |v| v.into_iter().map(|(text, len, seed)| Spec { text, len: len.min(max_len), seed }).collect())
}

fn pair_case() -> impl Strategy<Value = (Option<usize>, Vec<Spec>, Vec<Spec>)> {
    prop_oneof![Just(None), (1usize..64).prop_map(Some), (64usize..100_000).prop_map(Some)].prop_flat_map(|fs| {
        // Tiny fragments make tens of thousands of frames: keep those messages short.
        let max = match fs {
            Some(n) if n < 64 => 3000,
            _ => 70_000,
        };
        (Just(fs), specs(max), specs(max))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_pair_delivers_arbitrary_messages_intact_and_in_order((fragment_size, up, down) in pair_case()) {
        let config = Config::default().with_fragment_size(fragment_size);
        let mut p = Pair::new(config);
        let up: Vec<Message> = up.iter().map(Spec::message).collect();
        let down: Vec<Message> = down.iter().map(Spec::message).collect();
        // Interleave the two directions.
        for i in 0..up.len().max(down.len()) {
            if let Some(m) = up.get(i) {
                p.client.send(m.clone()).unwrap();
            }
            if let Some(m) = down.get(i) {
                p.server.send(m.clone()).unwrap();
            }
            if i % 2 == 1 {
                p.drive();
            }
        }
        p.drive();
        let received = |evs: &[Event]| -> Vec<Message> {
            evs.iter().map(|e| match e {
                Event::Message(m) => m.clone(),
                other => panic!("unexpected event {other:?}"),
            }).collect()
        };
        prop_assert_eq!(received(&p.server_events), up);
        prop_assert_eq!(received(&p.client_events), down);
        prop_assert_eq!(p.client.buffered_amount(), 0);
        prop_assert_eq!(p.server.buffered_amount(), 0);
        // Then a clean close.
        p.client.close(Some(CloseCode::NORMAL), "done").unwrap();
        p.drive();
        for evs in [&p.client_events, &p.server_events] {
            match evs.last() {
                Some(Event::Closed(c)) => prop_assert!(c.was_clean && c.code == CloseCode::NORMAL && c.error.is_none()),
                other => prop_assert!(false, "ended with {:?}", other),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Arbitrary input
// ---------------------------------------------------------------------------

/// Bytes that are sometimes frames: plausible headers with random payloads,
/// mixed with raw noise, so the fuzzing reaches past the first header.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        vec(any::<u8>(), 0..40),
        (any::<u8>(), 0u8..=127, any::<bool>(), vec(any::<u8>(), 0..130)).prop_map(|(b0, len7, masked, rest)| {
            let mut v = vec![b0, len7 | if masked { 0x80 } else { 0 }];
            v.extend(rest);
            v
        }),
        (0u8..=0xF, any::<bool>(), vec(any::<u8>(), 0..130), any::<[u8; 4]>())
            .prop_map(|(opcode, fin, payload, key)| frame(fin, 0, opcode, Some(key), &payload)),
        (0u8..=0xF, any::<bool>(), vec(any::<u8>(), 0..130))
            .prop_map(|(opcode, fin, payload)| frame(fin, 0, opcode, None, &payload)),
    ];
    vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_end_in_exactly_one_closed(
        data in prop_oneof![vec(any::<u8>(), 0..600), hostile_bytes()],
        points in vec(any::<Index>(), 0..6),
    ) {
        for role in ROLES {
            let chunks = split_at_points(&data, &points);
            let mut c = conn(role);
            let outs = run(&mut c, &chunks, Feed::Slice);
            assert_sane_end(role, &outs);
            prop_assert_eq!(c.ready_state(), ReadyState::Closed);
            // The same bytes in one read end the same way.
            prop_assert_eq!(&run(&mut conn(role), std::slice::from_ref(&data), Feed::Owned), &outs);
            prop_assert_eq!(&run(&mut conn(role), &chunks, Feed::Lent(16)), &outs);
        }
    }
}

// ---------------------------------------------------------------------------
// Arbitrary interleavings of commands, input and partial polling
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Send {
        text: bool,
        len: usize,
    },
    Ping(usize),
    Pong(usize),
    Close(Option<u16>, usize),
    BrowserClose(Option<u16>, usize),
    /// One of the peer frames of `peer_input`.
    Feed(Index),
    Eof,
    /// Poll up to this many outputs.
    Poll(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let code = proptest::option::of(prop_oneof![
        Just(1000u16),
        Just(1001),
        Just(1005),
        Just(3000),
        Just(4999),
        Just(999),
        any::<u16>()
    ]);
    prop_oneof![
        3 => (any::<bool>(), 0usize..2000).prop_map(|(text, len)| Step::Send { text, len }),
        1 => (0usize..130).prop_map(Step::Ping),
        1 => (0usize..130).prop_map(Step::Pong),
        1 => (code.clone(), 118usize..128).prop_map(|(c, r)| Step::Close(c, r)),
        1 => (code, 118usize..128).prop_map(|(c, r)| Step::BrowserClose(c, r)),
        4 => any::<Index>().prop_map(Step::Feed),
        1 => Just(Step::Eof),
        3 => (0usize..4).prop_map(Step::Poll),
    ]
}

/// Frames a peer might send to `receiver`, good and bad.
fn peer_input(receiver: Role) -> Vec<Vec<u8>> {
    vec![
        peer_frame(receiver, true, op::TEXT, "héllo".as_bytes()),
        peer_frame(receiver, false, op::TEXT, b"frag"),
        peer_frame(receiver, true, op::CONT, b"ment"),
        peer_frame(receiver, true, op::BINARY, &[0; 300]),
        peer_frame(receiver, true, op::PING, b"ping"),
        peer_frame(receiver, true, op::PONG, b"pong"),
        peer_frame(receiver, true, op::CLOSE, &close_body(1000, "bye")),
        peer_frame(receiver, true, op::CLOSE, b""),
        peer_frame(receiver, true, op::CLOSE, &close_body(1005, "")),
        peer_frame(receiver, true, op::TEXT, b"\xff"),
        peer_frame(receiver, true, 0xB, b""),
        // Half a frame.
        peer_frame(receiver, true, op::TEXT, b"half a frame")[..5].to_vec(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_interleaving_keeps_the_closing_rules(role in prop::sample::select(ROLES.to_vec()), steps in vec(step(), 0..40)) {
        let inputs = peer_input(role);
        let mut c = conn(role);
        let mut outs: Vec<wsmachine::Output> = Vec::new();
        for s in &steps {
            let state = c.ready_state();
            let open = state == ReadyState::Open;
            match s {
                Step::Send { text, len } => {
                    let m = if *text { Message::text(filler_text(*len, 7)) } else { Message::binary(filler(*len, 7)) };
                    let r = c.send(m);
                    prop_assert_eq!(r.is_ok(), open, "send in {:?}: {:?}", state, r);
                    if !open {
                        prop_assert_eq!(r, Err(wsmachine::SendError::NotOpen(state)));
                    }
                }
                Step::Ping(n) | Step::Pong(n) => {
                    let r = if matches!(s, Step::Ping(_)) { c.ping(vec![0u8; *n]) } else { c.pong(vec![0u8; *n]) };
                    if *n > 125 {
                        prop_assert_eq!(r, Err(wsmachine::SendError::ControlPayloadTooLong(*n)));
                    } else if open {
                        prop_assert!(r.is_ok(), "{:?} in {:?}: {:?}", s, state, r);
                    } else if state == ReadyState::Closing {
                        // Allowed after our Close until the peer's.
                        prop_assert!(r.is_ok() || r == Err(wsmachine::SendError::NotOpen(state)), "{:?}: {:?}", s, r);
                    } else {
                        prop_assert_eq!(r, Err(wsmachine::SendError::NotOpen(state)), "{:?}", s);
                    }
                }
                Step::Close(code, n) => {
                    let reason = "r".repeat(*n);
                    let r = c.close(code.map(CloseCode::new), &reason);
                    let valid = code.is_none_or(|k| CloseCode::new(k).is_sendable()) && *n <= 123;
                    prop_assert_eq!(r.is_ok(), valid, "{:?}: {:?}", s, r);
                }
                Step::BrowserClose(code, n) => {
                    let reason = "r".repeat(*n);
                    let r = c.browser_close(*code, Some(&reason));
                    let valid = code.is_none_or(|k| CloseCode::new(k).is_browser_allowed()) && *n <= 123;
                    prop_assert_eq!(r.is_ok(), valid, "{:?}: {:?}", s, r);
                }
                Step::Feed(i) => {
                    let input: &Vec<u8> = i.get(&inputs);
                    c.handle_bytes(input);
                }
                Step::Eof => c.handle_eof(),
                Step::Poll(n) => {
                    for _ in 0..*n {
                        match c.poll_output() {
                            Some(o) => outs.push(o),
                            None => break,
                        }
                    }
                }
            }
        }
        c.handle_eof();
        while let Some(o) = c.poll_output() {
            outs.push(o);
        }
        prop_assert_eq!(c.ready_state(), ReadyState::Closed);
        prop_assert_eq!(c.buffered_amount(), 0);
        // Closed exactly once and last; CloseTransport exactly once, before it.
        let closed_at: Vec<usize> = outs.iter().enumerate()
            .filter(|(_, o)| matches!(o, wsmachine::Output::Event(Event::Closed(_)))).map(|(i, _)| i).collect();
        prop_assert_eq!(closed_at, vec![outs.len() - 1]);
        let transport_at: Vec<usize> = outs.iter().enumerate()
            .filter(|(_, o)| matches!(o, wsmachine::Output::CloseTransport)).map(|(i, _)| i).collect();
        prop_assert_eq!(transport_at.len(), 1);
        // Every Transmit comes before CloseTransport.
        let last_tx = outs.iter().rposition(|o| matches!(o, wsmachine::Output::Transmit(_)));
        prop_assert!(last_tx.is_none_or(|t| t < transport_at[0]));
        // On the wire: at most one Close, nothing after it, never 1005/1006/1015.
        let merged: Vec<Out> = {
            let mut v = Vec::new();
            for o in &outs {
                if let wsmachine::Output::Transmit(b) = o {
                    merge_into(&mut v, [Out::Wire(b.to_vec())]);
                }
            }
            v
        };
        assert_sane_end(role, &{
            let mut all = merged;
            all.push(Out::CloseTransport);
            match outs.last() {
                Some(wsmachine::Output::Event(e)) => all.push(Out::Event(e.clone())),
                _ => unreachable!(),
            }
            all
        });
    }
}
