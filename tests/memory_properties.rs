//! Property tests of the memory bounds that `memory_bounds.rs` checks by
//! example (issue 13, item 6): random framings of random messages, plain
//! and compressed, fed in random reads through both input paths, must
//! arrive intact while the receiver's heap stays within the bounds the
//! design gives, so that a change that breaks a bound fails here.
//!
//! The scenario: a receiver of either role; permessage-deflate off or on
//! (with or without context takeover, with a threshold that may leave small
//! messages plain); messages (text or binary, compressible or random), each
//! framed by a real sender `Connection` (random `fragment_size`) or
//! re-framed by hand from the payload the sender wrote (random fragment
//! sizes, empty continuation frames, Pings between the frames). The wire is
//! fed in random reads, each through `handle_bytes` or a buffer lent by
//! `read_buffer` and handed back with `handle_bytes_owned`, and the output
//! is drained after each read.
//!
//! - (a) every message arrives intact, in order;
//! - (b) with each message dropped once checked, the receiver's peak heap
//!   stays within [`receive_bound`];
//! - (c) with every message kept, the heap they hold stays within
//!   [`retention_bound`]. The examples at the end are the two ways it
//!   failed before the receiver was fixed (each with where the memory
//!   went); a weaker bound (plus twice the bytes received) is checked too.
//!
//! Heap is measured with the counting allocator (`common::alloc`, live
//! bytes of this thread) from just before the first read, so it includes
//! everything the receiving connection allocates (the sender's wire is
//! built before). `PROPTEST_CASES` overrides the case counts.
// Compressed messages are half the cases: the file needs permessage-deflate.
#![cfg(feature = "deflate")]

mod common;

use common::alloc::{self, Counting};
use common::bounds::{KIB, receive_bound, retention_bound};
use common::read_loop::{Turn, read_all};
use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use wsmachine::{Config, Connection, DeflateConfig, Event, EventRef, Message, Output, Role};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The largest message generated for bound (b).
const MAX_MSG: usize = 128 * KIB;

// ---------------------------------------------------------------------------
// The bounds
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Generated inputs
// ---------------------------------------------------------------------------

/// permessage-deflate for both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deflate {
    Off,
    /// Each message starts from an empty window.
    NoTakeover,
    /// The window carries over between messages.
    Takeover,
}

/// What a message is made of.
#[derive(Clone, Copy, Debug)]
enum Content {
    /// Text-like, compresses about 2:1.
    Prose,
    /// A short pattern repeated: compresses a thousandfold, so a few
    /// compressed bytes inflate to a whole message.
    Repeats,
    /// Random bytes (random UTF-8 characters for text): incompressible.
    Random,
}

/// One message to send and how to frame it.
#[derive(Clone, Debug)]
struct Msg {
    len: usize,
    text: bool,
    content: Content,
    seed: u64,
    /// `None`: as the sender frames it. `Some`: re-framed by hand.
    hand: Option<Hand>,
}

/// Hand framing of one message's payload (compressed or not, as the sender
/// made it): fragment sizes used in turn, 0 for an empty frame, each maybe
/// preceded by a Ping of that many bytes.
#[derive(Clone, Debug)]
struct Hand {
    pieces: Vec<(usize, Option<usize>)>,
    /// An empty final continuation frame after the payload.
    empty_last: bool,
}

/// How one read goes in.
#[derive(Clone, Copy, Debug)]
enum How {
    /// `handle_bytes` with `size` bytes.
    Slice,
    /// `read_buffer(size)` with `size` bytes written into it.
    Lent,
    /// `read_buffer(size)` filled to its capacity, as tokio's `read_buf`
    /// does when that much has arrived.
    LentFull,
    /// `read_buffer(size)` with only this many bytes (fewer than `size`)
    /// written into it: the transport had less than the room.
    LentShort(usize),
    /// `read_from` a reader of `size` bytes (as many calls as it takes, up
    /// to 64 KiB each), drained with `poll_event_ref`: the input may stay
    /// in the connection's own 64 KiB buffer and messages be lent from it.
    ReadFrom,
}

/// One read: its size and input path. Reads are used in turn.
#[derive(Clone, Copy, Debug)]
struct Read {
    size: usize,
    how: How,
}

/// One generated scenario.
#[derive(Clone, Debug)]
struct Scenario {
    receiver: Role,
    deflate: Deflate,
    /// Messages shorter than this go uncompressed (with deflate on).
    threshold: usize,
    /// The sender's `fragment_size`.
    fragment_size: Option<usize>,
    messages: Vec<Msg>,
    reads: Vec<Read>,
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

fn deflate_any() -> impl Strategy<Value = Deflate> {
    prop_oneof![Just(Deflate::Off), Just(Deflate::NoTakeover), Just(Deflate::Takeover)]
}

fn deflate_on() -> impl Strategy<Value = Deflate> {
    prop_oneof![Just(Deflate::NoTakeover), Just(Deflate::Takeover)]
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![Just(Content::Prose), Just(Content::Repeats), Just(Content::Random)]
}

fn hand() -> impl Strategy<Value = Hand> {
    let piece = prop_oneof![
        1 => Just(0usize),
        2 => 1..=8usize,
        2 => 1..=2048usize,
        1 => 1..=MAX_MSG,
    ];
    let ping = proptest::option::weighted(0.3, 0..=125usize);
    (vec((piece, ping), 1..6), any::<bool>()).prop_map(|(pieces, empty_last)| Hand { pieces, empty_last })
}

fn message(len: impl Strategy<Value = usize>) -> impl Strategy<Value = Msg> {
    (len, any::<bool>(), content(), any::<u64>(), proptest::option::of(hand()))
        .prop_map(|(len, text, content, seed, hand)| Msg { len, text, content, seed, hand })
}

fn fragment_size() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![Just(None), (1..=16usize).prop_map(Some), (1..=2048usize).prop_map(Some), (1..=MAX_MSG).prop_map(Some),]
}

/// Reads used in turn; with `short`, lent buffers may also be filled with
/// less than was asked.
fn reads(short: bool) -> impl Strategy<Value = Vec<Read>> {
    let size = prop_oneof![
        1 => 1..=16usize,
        2 => 1..=4096usize,
        1 => 1..=70_000usize,
        1 => 1..=256 * KIB,
    ];
    let kinds = if short { 5 } else { 4 };
    let read = (size, 0..kinds, any::<proptest::sample::Index>()).prop_map(|(size, kind, fill)| Read {
        size,
        how: match kind {
            0 => How::Slice,
            1 => How::Lent,
            2 => How::LentFull,
            3 => How::ReadFrom,
            // 1..size bytes: fewer than asked, but some (or 1 of 1).
            _ => How::LentShort(fill.index(size).max(1)),
        },
    });
    vec(read, 1..6)
}

fn threshold() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => Just(64), 1 => Just(4096)]
}

fn scenario(
    deflate: impl Strategy<Value = Deflate>,
    messages: impl Strategy<Value = Vec<Msg>>,
    reads: impl Strategy<Value = Vec<Read>>,
) -> impl Strategy<Value = Scenario> {
    (role(), deflate, threshold(), fragment_size(), messages, reads).prop_map(
        |(receiver, deflate, threshold, fragment_size, messages, reads)| Scenario {
            receiver,
            deflate,
            threshold,
            fragment_size,
            messages,
            reads,
        },
    )
}

/// Sizes for bound (b): from empty to the largest, small ones often.
fn message_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => 0..=300usize,
        2 => 0..=16 * KIB,
        3 => 0..=MAX_MSG,
        1 => Just(MAX_MSG),
    ]
}

/// Sizes for bound (c): mostly small messages, the ones that would pin a
/// whole read buffer each if sliced out of it.
fn retained_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0..=16usize,
        3 => 0..=300usize,
        2 => 0..=4096usize,
        1 => 0..=40_000usize,
    ]
}

/// 1..=1500 messages for bound (c), made from a few generated kinds in
/// turn, 1 MiB at most.
fn retained_messages() -> impl Strategy<Value = Vec<Msg>> {
    (1..=1500usize, vec(message(retained_len()), 1..6)).prop_map(|(n, kinds)| {
        let mut total = 0;
        (0..n)
            .map(|i| {
                let mut m = kinds[i % kinds.len()].clone();
                m.seed = m.seed.wrapping_add(i as u64);
                m
            })
            .take_while(|m| {
                total += m.len;
                total <= 1 << 20
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------
// Building the wire
// ---------------------------------------------------------------------------

/// An open connection with permessage-deflate as `deflate` says.
fn open(role: Role, deflate: Deflate, threshold: usize, base: Config) -> Connection {
    let takeover = match deflate {
        Deflate::Off => return with_config(role, base),
        Deflate::NoTakeover => false,
        Deflate::Takeover => true,
    };
    open_deflate(role, takeover, DeflateConfig::default().with_threshold(threshold), base, FixedMask(RFC_KEY))
}

fn payload(m: &Msg) -> Vec<u8> {
    match (m.content, m.text) {
        (Content::Prose, _) => prose(m.seed, m.len),
        (Content::Repeats, _) => b"0123456789abcdef".iter().copied().cycle().take(m.len).collect(),
        (Content::Random, false) => noise(m.seed, m.len),
        (Content::Random, true) => random_text(m.seed, m.len),
    }
}

/// Hand-framed messages have at most this many frames (the rest of the
/// message goes in the last), to keep a case's wire within a few MB.
const MAX_HAND_FRAMES: usize = 16 * 1024;

/// Re-frames a message the sender wrote as `frames` (their payloads joined,
/// compressed or not) as `hand` says.
fn reframe(receiver: Role, frames: &[WireFrame], hand: &Hand, out: &mut Vec<u8>) {
    let data: Vec<u8> = frames.iter().flat_map(|f| f.payload.iter().copied()).collect();
    let (opcode, rsv) = (frames[0].opcode, frames[0].rsv);
    let mut at = 0;
    let mut first = true;
    let (mut empties, mut count) = (0, 0);
    for &(len, ping) in hand.pieces.iter().cycle() {
        if let Some(n) = ping {
            out.extend(peer_frame(receiver, true, op::PING, &vec![0x70; n]));
        }
        // After a whole turn of empty pieces, the rest in one frame.
        empties = if len == 0 { empties + 1 } else { 0 };
        count += 1;
        let take = if empties >= hand.pieces.len() || count == MAX_HAND_FRAMES {
            data.len() - at
        } else {
            len.min(data.len() - at)
        };
        let end = at + take;
        let fin = end == data.len() && !hand.empty_last;
        let (o, r) = if first { (opcode, rsv) } else { (op::CONT, 0) };
        out.extend(peer_frame_rsv(receiver, fin, r, o, &data[at..end]));
        first = false;
        at = end;
        if end == data.len() {
            break;
        }
    }
    if hand.empty_last {
        out.extend(peer_frame(receiver, true, op::CONT, b""));
    }
}

/// What the receiver must hold of `wire` at some point: its largest frame
/// held whole in the input buffer (a single-frame plain message, or any
/// frame of a compressed message: assembled delivery inflates whole
/// frames), and its largest message assembled in a buffer of its own (a
/// fragmented or compressed one). `sizes`: each message's size.
fn shape(wire: &[u8], sizes: &[usize]) -> (usize, usize) {
    let (mut whole, mut assembled) = (0, 0);
    let (mut msg, mut compressed) = (0, false);
    for f in parse_frames(wire) {
        match f.opcode {
            op::TEXT | op::BINARY => {
                compressed = f.rsv & 0b100 != 0;
                if compressed || !f.fin {
                    assembled = assembled.max(sizes[msg]);
                } else {
                    whole = whole.max(f.payload.len());
                }
            }
            op::CONT => {}
            _ => continue,
        }
        if compressed {
            whole = whole.max(f.payload.len());
        }
        if f.fin {
            msg += 1;
        }
    }
    (whole, assembled)
}

/// The scenario built: the peer's wire, the messages it carries and its
/// shape.
struct Built {
    wire: Vec<u8>,
    expect: Vec<(bool, Vec<u8>)>,
    whole_frame: usize,
    assembled: usize,
}

fn build(s: &Scenario) -> Built {
    let mut sender =
        open(other(s.receiver), s.deflate, s.threshold, Config::default().with_fragment_size(s.fragment_size));
    let mut out = Vec::new();
    let mut expect = Vec::with_capacity(s.messages.len());
    for m in &s.messages {
        let data = payload(m);
        if m.text {
            sender.send_text(String::from_utf8(data.clone()).expect("UTF-8")).unwrap();
        } else {
            sender.send_binary(data.clone()).unwrap();
        }
        let bytes = wire(&drain(&mut sender));
        match &m.hand {
            None => out.extend_from_slice(&bytes),
            Some(hand) => reframe(s.receiver, &parse_frames(&bytes), hand, &mut out),
        }
        expect.push((m.text, data));
    }
    let sizes: Vec<usize> = expect.iter().map(|(_, d)| d.len()).collect();
    let (whole_frame, assembled) = shape(&out, &sizes);
    Built { wire: out, expect, whole_frame, assembled }
}

/// The receiving connection: no limit on fragments (1-byte frames of a
/// 128 KiB message are more than the default allows), 1 MiB messages.
fn receiver(s: &Scenario) -> Connection {
    open(s.receiver, s.deflate, s.threshold, Config::default().with_max_fragments(usize::MAX))
}

// ---------------------------------------------------------------------------
// Feeding
// ---------------------------------------------------------------------------

/// Feeds `wire` to `conn` in `reads` (used in turn), draining after each,
/// and hands every message to `on_message`. Allocates nothing itself, so
/// that the heap measured around it is the connection's and the messages'.
/// Returns the number of reads and the largest: the most bytes passed to
/// `handle_bytes` or asked of `read_buffer`.
fn feed(conn: &mut Connection, wire: &[u8], reads: &[Read], mut on_message: impl FnMut(Got<'_>)) -> (usize, usize) {
    let (mut at, mut count, mut largest) = (0, 0, 0);
    for r in reads.iter().cycle() {
        if at == wire.len() {
            break;
        }
        count += 1;
        largest = largest.max(r.size);
        let rest = wire.len() - at;
        if let How::Slice = r.how {
            let n = r.size.min(rest);
            conn.handle_bytes(&wire[at..at + n]);
            at += n;
        } else if let How::ReadFrom = r.how {
            // As the README's loop: each read, then every event, then the
            // answers written (the drain below).
            let n = r.size.min(rest);
            read_all(conn, &wire[at..at + n], |fed| match fed {
                Turn::Event(EventRef::Other(Event::Ping(_))) => {}
                Turn::Event(EventRef::Other(other)) => panic!("unexpected {other:?}"),
                Turn::Event(lent) => on_message(Got::Lent(lent)),
                Turn::Read(conn) => {
                    while let Some(o) = conn.poll_output() {
                        assert!(matches!(o, Output::Transmit(_)), "{o:?} left behind by poll_event_ref");
                    }
                }
            });
            // Its own buffer is a read of 64 KiB.
            largest = largest.max(64 * KIB);
            at += n;
        } else {
            let mut buf = conn.read_buffer(r.size);
            assert!(buf.is_empty() && buf.capacity() >= 1, "lent {} bytes, capacity {}", buf.len(), buf.capacity());
            let n = match r.how {
                How::LentFull => buf.capacity(),
                How::LentShort(n) => n,
                _ => r.size,
            };
            // A read never writes past the room it was given.
            let n = n.min(buf.capacity()).min(rest);
            // A read is the room asked for or, with `LentFull`, all the
            // room the connection lent, which may be more.
            largest = largest.max(n);
            buf.extend_from_slice(&wire[at..at + n]);
            conn.handle_bytes_owned(buf);
            at += n;
        }
        while let Some(o) = conn.poll_output() {
            match o {
                Output::Event(Event::Message(m)) => on_message(Got::Owned(m)),
                Output::Event(Event::Ping(_)) | Output::Transmit(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    (count, largest)
}

/// A message as `feed` hands it over: owned (`poll_output`) or lent
/// (`poll_event_ref`).
enum Got<'a> {
    Owned(Message),
    Lent(EventRef<'a>),
}

/// What receiving a scenario measured.
#[derive(Debug)]
struct Measured {
    /// Peak heap above the level before the first read.
    peak: i64,
    /// Heap held at the end above that level (the messages kept, if kept,
    /// and the connection's buffers).
    held: i64,
    reads: usize,
    largest_read: usize,
}

/// Receives the scenario's wire, checking (a): every message intact and
/// in order. With `keep`, every message is kept until the end (and checked
/// there); otherwise each is dropped once checked.
fn receive(s: &Scenario, b: &Built, keep: bool) -> Measured {
    let mut rx = receiver(s);
    let mut kept: Vec<Message> = Vec::with_capacity(if keep { b.expect.len() } else { 0 });
    let mut seen = 0;
    let base = alloc::live();
    alloc::reset_peak();
    let (reads, largest_read) = feed(&mut rx, &b.wire, &s.reads, |got| {
        if keep {
            // A lent message is kept as a copy of its payload.
            match got {
                Got::Owned(m) => kept.push(m),
                Got::Lent(lent) => match lent.into_owned() {
                    Event::Message(m) => kept.push(m),
                    other => panic!("unexpected {other:?}"),
                },
            }
        } else {
            let (is_text, bytes) = match &got {
                Got::Owned(m) => (m.is_text(), m.as_bytes()),
                Got::Lent(EventRef::Text(t)) => (true, t.as_bytes()),
                Got::Lent(EventRef::Binary(b)) => (false, *b),
                Got::Lent(EventRef::Other(other)) => panic!("unexpected {other:?}"),
            };
            let (text, data) = &b.expect[seen];
            assert!(is_text == *text && bytes == &data[..], "message {seen} differs");
            seen += 1;
        }
    });
    let (peak, held) = (alloc::peak() - base, alloc::live() - base);
    if keep {
        seen = kept.len();
        for (i, (m, (text, data))) in kept.iter().zip(&b.expect).enumerate() {
            assert!(m.is_text() == *text && m.as_bytes() == &data[..], "message {i} differs");
        }
    }
    assert_eq!(seen, b.expect.len(), "messages delivered");
    Measured { peak, held, reads, largest_read }
}

/// The case count: `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn config(default_cases: u32) -> ProptestConfig {
    // No regression files: a failure prints the minimal case; keep it as
    // an example test.
    //
    // A fixed seed unless `PROPTEST_RNG_SEED` is set: CI runs the same
    // cases every time; run with random seeds to look for more. Random
    // seeds found the scenarios past the bounds that the examples at the
    // end keep (one case in 7 to 15 seeds of these counts failed before
    // the fixes, 0 in 100 after; see the 2026-12-06 closing note). One
    // other cause was the harness's: it counted a `LentFull` read as the
    // room it asked for, while such a read fills all the room the
    // connection lent, which can be much more; `feed` counts what was
    // read.
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        ProptestConfig::default().rng_seed
    } else {
        proptest::test_runner::RngSeed::Fixed(0x5eed_0013)
    };
    ProptestConfig { cases: cases(default_cases), failure_persistence: None, rng_seed, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------
// (a) + (b): intact, in order, within the receive bound
// ---------------------------------------------------------------------------

fn check_receive(s: &Scenario) -> Result<(), TestCaseError> {
    let b = build(s);
    let m = receive(s, &b, false);
    let bound = receive_bound(b.whole_frame, b.assembled, m.largest_read, 0) as i64;
    prop_assert!(
        m.peak <= bound,
        "peak {} B > bound {} B (largest frame held whole {}, largest assembled message {}, largest read {})",
        m.peak,
        bound,
        b.whole_frame,
        b.assembled,
        m.largest_read
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// 1–4 messages of up to 128 KiB arrive intact and in order, and the
    /// receiver's heap stays within [`receive_bound`].
    #[test]
    fn messages_arrive_intact_within_the_receive_bound(
        s in scenario(deflate_any(), vec(message(message_len()), 1..=4), reads(true))
    ) {
        check_receive(&s)?;
    }
}

// ---------------------------------------------------------------------------
// (c): retained messages
// ---------------------------------------------------------------------------

/// Checks (c) against [`retention_bound`], plus `2 × received` when
/// `received` (the wire's length) is given.
fn check_retention(s: &Scenario, received: bool) -> Result<(), TestCaseError> {
    let b = build(s);
    let m = receive(s, &b, true);
    let n = b.expect.len();
    let total: usize = b.expect.iter().map(|(_, d)| d.len()).sum();
    let mut bound = retention_bound(n, total, m.reads, m.largest_read, b.whole_frame, s.deflate != Deflate::Off) as i64;
    if received {
        bound += 2 * b.wire.len() as i64;
    }
    prop_assert!(
        m.held <= bound,
        "{} messages of {} bytes ({} on the wire) in {} reads (largest {}, largest frame held whole {}) hold {} B \
         ({} B each) > bound {} B",
        n,
        total,
        b.wire.len(),
        m.reads,
        m.largest_read,
        b.whole_frame,
        m.held,
        m.held / n as i64,
        bound
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    /// The weaker bound: plain messages kept by the application hold at
    /// most [`retention_bound`] plus twice the bytes received, whichever
    /// input path delivered them, as long as each read fills the room it
    /// was lent. (The two tests below assert the design's bound itself.)
    #[test]
    fn retained_messages_hold_at_most_twice_what_was_received(
        s in scenario(Just(Deflate::Off), retained_messages(), reads(false))
    ) {
        check_retention(&s, true)?;
    }

    /// The design's bound, N × (2s + 256) plus one read buffer per probe.
    /// It failed (3 cases in 2,000 without short reads, more with them; the
    /// examples at the end always) while the connection learned that the
    /// application keeps payloads only when it found its input buffer held
    /// at the moment it would reuse it *empty*: a read that ends inside a
    /// frame leaves the buffer non-empty, `BytesMut::reserve` then allocated
    /// a new one (the old one shared with the slices) and no check ran, so
    /// every buffer a kept payload was sliced out of stayed pinned. The
    /// receiver now checks whenever the previous allocation would hold what
    /// the buffer keeps plus the room asked.
    /// Found with 80 messages (157-byte single frames and 652-byte ones in
    /// 1- and 6-byte fragments with a 121-byte Ping before each, a server,
    /// `read_buffer(60,790)` filled to capacity, 10 reads): 651,996 B held,
    /// bound 647,490 B. See `retained_messages_between_pings` and
    /// `retained_messages_after_short_reads` for the large cases.
    #[test]
    fn retained_messages_hold_about_twice_their_size(
        s in scenario(Just(Deflate::Off), retained_messages(), reads(true))
    ) {
        check_retention(&s, false)?;
    }

    /// An inflated message used to be delivered in the buffer it was
    /// inflated into, with the room of the inflater's last output steps
    /// still allocated; it is now shrunk to fit when that room is more than
    /// its size plus 256 bytes. See `retained_compressed_message_sizes`.
    #[test]
    fn retained_compressed_messages_hold_about_twice_their_size(
        s in scenario(deflate_on(), retained_messages(), reads(false))
    ) {
        check_retention(&s, false)?;
    }
}

// ---------------------------------------------------------------------------
// The failures of (c), as examples
// ---------------------------------------------------------------------------

/// Keeps `n` messages of `len` bytes of `content`, each compressed in one
/// frame and read through `handle_bytes` in 64 KiB reads; returns the heap
/// held.
fn retained_compressed(content: Content, len: usize, n: usize) -> i64 {
    let s = Scenario {
        receiver: Role::Server,
        deflate: Deflate::NoTakeover,
        threshold: 0,
        fragment_size: None,
        messages: (0..n as u64).map(|seed| Msg { len, text: false, content, seed, hand: None }).collect(),
        reads: vec![Read { size: 64 * KIB, how: How::Slice }],
    };
    receive(&s, &build(&s), true).held
}

/// Before the fix, retained compressed messages held up to 8 times their size: 1 byte
/// holds 545 bytes, 100 bytes 891, 1,000 bytes 8,072, 5,000 bytes 32,792
/// (random content; 5,000 bytes of prose: 21,355).
///
/// Where the memory goes: `Deflate::inflate` (`deflate/codec.rs`) resizes
/// the message buffer by a step of room (256 bytes, or 4 × the frame's
/// input, up to 16 KiB) before each call into zlib, again for the
/// `00 00 ff ff` tail at the final frame, and truncates to what came out;
/// the buffer's capacity doubles for that room, and `inflate_frame`
/// (`connection/recv.rs`) delivers `a.data.freeze()` with all of it (plus
/// the 24-byte shared header `Bytes` adds when length and capacity differ).
#[test]
fn retained_compressed_message_sizes() {
    let mut failed = Vec::new();
    for (content, len) in [
        (Content::Random, 1),
        (Content::Random, 100),
        (Content::Random, 1000),
        (Content::Random, 5000),
        (Content::Prose, 5000),
    ] {
        // What 500 more messages hold: the connection's own buffers cancel.
        let each = (retained_compressed(content, len, 1000) - retained_compressed(content, len, 500)) / 500;
        println!("{content:?} {len} B compressed, retained: {each} B each (bound {})", 2 * len + 256);
        if each > 2 * len as i64 + 256 {
            failed.push((len, each));
        }
    }
    assert!(failed.is_empty(), "(size, held each) over 2s + 256: {failed:?}");
}

/// Reads `wire` through `read_buffer(64 KiB)`, `fill` bytes into each
/// buffer (the whole buffer when `None`; the first read 3 bytes with
/// `Some`), keeping every message; returns the heap held and the reads.
fn retained_after(wire: &[u8], fill: Option<usize>, n: usize) -> (i64, usize) {
    let mut conn = with_config(Role::Server, Config::default());
    let mut kept: Vec<Message> = Vec::with_capacity(n);
    let base = alloc::live();
    let (mut at, mut reads) = (0, 0);
    while at < wire.len() {
        let mut buf = conn.read_buffer(64 * KIB);
        let len = match fill {
            None => buf.capacity(),
            Some(_) if at == 0 => 3,
            Some(fill) => fill,
        };
        let len = len.min(buf.capacity()).min(wire.len() - at);
        buf.extend_from_slice(&wire[at..at + len]);
        at += len;
        reads += 1;
        conn.handle_bytes_owned(buf);
        while let Some(o) = conn.poll_output() {
            if let Output::Event(Event::Message(m)) = o {
                kept.push(m);
            }
        }
    }
    assert_eq!(kept.len(), n);
    (alloc::live() - base, reads)
}

/// Before the fix: 2,000 1-byte messages, each followed by 512 Pings of 125 bytes, read
/// through `read_buffer(64 KiB)` filled to capacity (1,096 reads): 9.7 MB
/// held, 4,858 B per message, where the bound is 1.9 MB. Reads rarely end
/// between frames, so the retention is rarely checked: most read buffers
/// stay pinned by the one message sliced out of them.
#[test]
fn retained_messages_between_pings() {
    let mut unit = cframe(true, op::BINARY, b"x");
    for _ in 0..512 {
        unit.extend(cframe(true, op::PING, &[0x70; 125]));
    }
    let n = 2000;
    let wire: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * n).collect();
    let (held, reads) = retained_after(&wire, None, n);
    let bound = retention_bound(n, n, reads, 64 * KIB, 1, false) as i64;
    println!("{n} retained 1-byte messages between Pings, {reads} reads: {held} B held, bound {bound} B");
    assert!(held <= bound, "{held} > {bound}");
}

/// Before the fix: 12,000 1-byte messages (7-byte masked frames) read through
/// `read_buffer(64 KiB)` with reads of 7 bytes that start 3 bytes into the
/// stream, so that every read ends inside a frame header (with reads ending
/// right after a header the retention works: the header is taken off and
/// the buffer is empty when it is replaced): once the first buffer's
/// room falls below 64 KiB (after 9,362 reads), every `read_buffer`
/// allocates a new 64 KiB buffer and the message read into it pins all of
/// it: 173 MB held, where the bound is 5.1 MB.
#[test]
fn retained_messages_after_short_reads() {
    let frame = cframe(true, op::BINARY, b"x");
    let n = 12_000;
    let wire: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * n).collect();
    let (held, reads) = retained_after(&wire, Some(frame.len()), n);
    let bound = retention_bound(n, n, reads, 64 * KIB, 1, false) as i64;
    println!("{n} retained 1-byte messages in {reads} short reads: {held} B held, bound {bound} B");
    assert!(held <= bound, "{held} > {bound}");
}

// ---------------------------------------------------------------------------
// Found with random seeds, as examples
// ---------------------------------------------------------------------------

/// Receives the scenario of `messages` read as `reads` by a server without
/// deflate, checking (a) and (b).
fn receive_example(messages: Vec<Msg>, reads: Vec<Read>) {
    let s =
        Scenario { receiver: Role::Server, deflate: Deflate::Off, threshold: 0, fragment_size: None, messages, reads };
    check_receive(&s).unwrap();
}

/// Seed 282271546: a 131 KiB message read into `read_buffer(189,585)`
/// filled 34,182 bytes at a time, 1-byte slices in between. Growing the
/// input buffer used `BytesMut::reserve`, which doubles the old
/// allocation's capacity on top of the room the receiver asks for (that
/// room already grows with what is held): 189,585 B, then 379,170 B, then
/// a 510 KB buffer beside it, a peak of 889,740 B against a bound of
/// 801,352 B. A new buffer is now what is asked plus at most 4 KiB:
/// 556,841 B.
#[test]
fn a_buffer_grown_for_a_large_frame_does_not_double_twice() {
    let plain = |len, seed, hand| Msg { len, text: false, content: Content::Prose, seed, hand };
    receive_example(
        vec![
            plain(4243, 0, Some(Hand { pieces: vec![(2, None)], empty_last: false })),
            plain(82332, 0, None),
            plain(131_072, 0, None),
        ],
        vec![Read { size: 189_585, how: How::LentShort(34_182) }, Read { size: 1, how: How::Slice }],
    );
}

/// Keeps `n` messages of the `unit` pattern read as `reads` by a server
/// (`fragment_size` for the sender) and checks (c).
fn retain_example(unit: &[Msg], n: usize, fragment_size: Option<usize>, reads: Vec<Read>) {
    let messages = (0..n)
        .map(|i| {
            let mut m = unit[i % unit.len()].clone();
            m.seed = i as u64;
            m
        })
        .collect();
    let s = Scenario { receiver: Role::Server, deflate: Deflate::Off, threshold: 0, fragment_size, messages, reads };
    check_retention(&s, false).unwrap();
}

/// Seed 282533078 (shrunk): 261-byte messages kept between 21 KB ones,
/// read with `read_buffer(179,267)` filled 108,149 bytes at a time. Each
/// read left a partial frame, so the buffer was never large enough to be
/// reused for the next read's room, and a new one was allocated without
/// checking whether the kept messages held the old one: every buffer
/// stayed pinned (2,827,884 B held, bound 2,809,234 B). The check now runs
/// for every new buffer.
#[test]
fn a_buffer_too_small_to_reuse_is_still_checked() {
    let plain = |len, hand| Msg { len, text: false, content: Content::Prose, seed: 0, hand };
    let ping = Some(Hand { pieces: vec![(45, Some(54))], empty_last: false });
    retain_example(
        &[plain(261, None), plain(21_104, None), plain(2, None), plain(45, ping)],
        141,
        Some(1242),
        vec![Read { size: 179_267, how: How::LentShort(108_149) }],
    );
}

/// Seed 599152620 (shrunk): 1-byte messages kept between 2 KB ones sent a
/// byte per frame with a Ping before every other frame, read with
/// `read_buffer(5,062)` filled 117 bytes at a time. A probe (slices again,
/// to learn whether the application still keeps them) sliced only Pings,
/// which the application drops, found the buffer free and went back to
/// slices from the start: every kept 1-byte message then pinned a buffer
/// (99 probes instead of 7; 2.4 % over the bound with 283 messages). A
/// probe now copies control payloads and concludes only once a message was
/// sliced.
#[test]
fn a_probe_is_not_fooled_by_pings_the_application_drops() {
    let plain = |len, hand| Msg { len, text: false, content: Content::Prose, seed: 0, hand };
    retain_example(
        &[plain(2049, Some(Hand { pieces: vec![(0, Some(86)), (1, None)], empty_last: false })), plain(1, None)],
        600,
        None,
        vec![Read { size: 5062, how: How::LentShort(117) }],
    );
}
