//! `memory`: the memory bounds of `tests/memory_properties.rs` under fuzzed
//! inputs. A receiver of either role, with or without permessage-deflate,
//! gets the wire of fuzzed messages (sizes, contents, text or binary), each
//! framed by a real sender `Connection` (fuzzed `fragment_size`) or
//! re-framed by hand (fuzzed fragment sizes, empty continuation frames,
//! Pings in between), followed by hostile frames (any bits, opcodes,
//! masking, raw or compressed payloads, repeated, a header declaring more
//! than follows), in fuzzed reads through `handle_bytes`,
//! `handle_bytes_owned`, buffers lent by `read_buffer` (filled as asked,
//! to capacity, short, or past capacity) and `read_from` (drained with
//! `poll_event_ref`, so reads may stay in the connection's own buffer and
//! messages be lent from it), draining after each read.
//!
//! Checked, with the counting allocator of `tests/common/alloc.rs`
//! ([`crate::alloc`]; the `memory` target and the lib's tests register it as
//! the global allocator, elsewhere nothing is counted and the bounds hold
//! trivially):
//!
//! - the messages arrive intact and in order, before anything the hostile
//!   frames cause, and the connection does not close before they all came;
//! - dropping each message: the peak heap while receiving is within
//!   [`receive_bound`];
//! - keeping every message (the input's `keep`): the heap held at the end
//!   is within [`retention_bound`] on every input ([`STRICT_RETENTION`]);
//!   with it off, only the weaker bound plus twice the bytes received, for
//!   plain messages and lent buffers filled to the room asked.
//!
//! The bounds are those of `tests/memory_properties.rs` (keep the two in
//! step), with the hostile frames counted as held whole and assembled in
//! full (or, compressed, up to the message limit), and buffers handed over
//! that the connection did not lend counted once more (see
//! [`receive_bound`]).

use arbitrary::Arbitrary;
use wsmachine::{BytesMut, Config, Connection, DeflateConfig, Event, EventRef, Message, Output, Role};

use crate::api::encode_frame;
use crate::bounds::{KIB, receive_bound, retention_bound};
use crate::data::{noise, other, prose, random_text};
use crate::deflate::open_deflate;
use crate::read_loop::{Turn, read_all};
use crate::{CountingEntropy, alloc, check_lent, read_header};

/// Assert the design's retention bound (N × (2s + 256) plus a read buffer
/// per probe) on every input. It holds since the two failures this target
/// and `tests/memory_properties.rs` found were fixed: retained compressed
/// messages kept their inflate buffer's spare room, and the retention check
/// ran only when the input buffer was empty.
pub const STRICT_RETENTION: bool = false;

/// The receiver's limits: every generated message fits.
const MAX_MESSAGE: usize = 256 * KIB;
const MAX_FRAME: usize = 256 * KIB;

/// Budgets that keep one execution fast.
const MAX_MESSAGES: usize = 2000;
const MAX_PAYLOAD: usize = 128 * KIB;
const MAX_FRAMES_PER_MESSAGE: usize = 4096;
const MAX_HOSTILE: usize = 256 * KIB;
const MAX_READS: usize = 8192;

// ----------------------------------------------------------------------
// Input
// ----------------------------------------------------------------------

#[derive(Arbitrary, Debug, Clone)]
pub struct MemoryInput {
    /// The receiver is a client (else a server).
    pub client: bool,
    pub deflate: DeflateMode,
    /// Messages shorter than this go uncompressed (with deflate).
    pub threshold: u16,
    /// The sender's `fragment_size` (0 reads as 1), raised so that no
    /// message has more than 4096 frames.
    pub fragment_size: Option<u16>,
    /// Keep every message (bound (c)) instead of dropping each (bound (b)).
    pub keep: bool,
    pub messages: Vec<MessageSpec>,
    /// Reads, used in turn.
    pub reads: Vec<ReadSpec>,
    /// Frames after the messages.
    pub hostile: Vec<RawFrame>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeflateMode {
    Off,
    NoTakeover,
    Takeover,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Content {
    /// Compresses about 2:1.
    Prose,
    /// A 16-byte pattern repeated: compresses a thousandfold.
    Repeats,
    /// Random bytes, or random UTF-8 for text.
    Random,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct MessageSpec {
    /// The size: `len` mod 4096, or all of it when `large`.
    pub len: u16,
    pub large: bool,
    pub text: bool,
    pub content: Content,
    pub seed: u8,
    /// Sent 1 + `repeat` times (the seed going up by one each time).
    pub repeat: u8,
    /// Re-framed by hand instead of as the sender frames it.
    pub hand: Option<Hand>,
}

/// Hand framing of a message's payload: fragment sizes in turn (0: an
/// empty frame), each maybe after a Ping of that many bytes (mod 126).
#[derive(Arbitrary, Debug, Clone)]
pub struct Hand {
    pub pieces: Vec<(u16, Option<u8>)>,
    /// An empty final continuation frame.
    pub empty_last: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct ReadSpec {
    /// The read's size (0 reads as 1), times 4 when `big`.
    pub size: u16,
    pub big: bool,
    pub how: How,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum How {
    /// `handle_bytes`.
    Slice,
    /// `handle_bytes_owned` of a buffer of the caller's.
    Owned,
    /// `read_buffer(size)` filled with `size` bytes (at most its capacity).
    Lent,
    /// `read_buffer(size)` filled to its capacity.
    LentFull,
    /// `read_buffer(size)` filled with fewer bytes (1 + n mod size).
    LentShort(u16),
    /// `read_buffer(size)` filled with `size + n` bytes, growing it past
    /// its capacity.
    LentGrow(u16),
    /// `read_from` a reader of `size` bytes (as many calls as it takes),
    /// drained with `poll_event_ref`: reads may stay in the connection's
    /// own 64 KiB buffer and messages be lent from there.
    ReadFrom,
}

/// A message as `feed` hands it over: owned (`poll_output`) or lent
/// (`poll_event_ref`), text or binary.
pub enum Got<'a> {
    Owned(Message),
    Lent(EventRef<'a>),
}

impl Got<'_> {
    /// Whether it is text, and its payload.
    fn parts(&self) -> (bool, &[u8]) {
        match self {
            Got::Owned(m) => (m.is_text(), m.as_bytes()),
            Got::Lent(EventRef::Text(t)) => (true, t.as_bytes()),
            Got::Lent(EventRef::Binary(b)) => (false, b),
            Got::Lent(EventRef::Other(other)) => panic!("not a message: {other:?}"),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct RawFrame {
    pub fin: bool,
    /// RSV bits (mod 8).
    pub rsv: u8,
    /// Opcode (mod 16).
    pub opcode: u8,
    /// Masked as the peer must not (unmasked to a server, masked to a
    /// client).
    pub wrong_mask: bool,
    pub payload: RawPayload,
    /// Written 1 + `repeat` times.
    pub repeat: u8,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum RawPayload {
    Bytes(Vec<u8>),
    /// `len` bytes of `byte`.
    Filler(u16, u8),
    /// A message of `len` bytes compressed on its own (raw DEFLATE ending
    /// in a sync flush, the tail removed).
    Compressed(u16, Content),
    /// A header declaring `len` (mod 1 MiB) bytes, then whatever follows
    /// (the next frames, or the end of the wire).
    Declared(u32),
}

// ----------------------------------------------------------------------
// Building the wire
// ----------------------------------------------------------------------

impl MessageSpec {
    fn size(&self) -> usize {
        if self.large { usize::from(self.len) } else { usize::from(self.len) % 4096 }
    }
}

fn open(role: Role, deflate: DeflateMode, threshold: usize, base: Config) -> Connection {
    let takeover = match deflate {
        DeflateMode::Off => return Connection::new_open(role, base, CountingEntropy::default()),
        DeflateMode::NoTakeover => false,
        DeflateMode::Takeover => true,
    };
    // Compression level 1: compressing is most of an execution's time, and
    // only the receiver is measured.
    let cfg = DeflateConfig::default().with_compression_level(1).with_threshold(threshold);
    open_deflate(role, takeover, cfg, base, CountingEntropy::default())
}

fn payload(content: Content, text: bool, seed: u64, len: usize) -> Vec<u8> {
    match (content, text) {
        (Content::Prose, _) => prose(seed, len),
        (Content::Repeats, _) => b"0123456789abcdef".iter().copied().cycle().take(len).collect(),
        (Content::Random, false) => noise(seed, len),
        (Content::Random, true) => random_text(seed, len),
    }
}

/// A sender's frames: (fin, rsv, opcode, unmasked payload).
fn frames_of(mut wire: &[u8]) -> Vec<(bool, u8, u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while let Some(h) = read_header(wire) {
        let end = h.header_len + h.len as usize;
        let mut data = wire[h.header_len..end].to_vec();
        if let Some(k) = h.mask {
            for (i, b) in data.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push((h.fin, h.rsv, h.opcode, data));
        wire = &wire[end..];
    }
    assert!(wire.is_empty(), "a sender wrote a partial frame");
    frames
}

/// The mask a peer of `receiver` uses (a client peer masks).
fn mask_for(receiver: Role, wrong: bool) -> Option<[u8; 4]> {
    (matches!(receiver, Role::Server) != wrong).then_some([0x37, 0xfa, 0x21, 0x3d])
}

fn reframe(receiver: Role, frames: &[(bool, u8, u8, Vec<u8>)], hand: &Hand, out: &mut Vec<u8>) {
    let data: Vec<u8> = frames.iter().flat_map(|f| f.3.iter().copied()).collect();
    let (rsv, opcode) = (frames[0].1, frames[0].2);
    let mask = mask_for(receiver, false);
    let pieces: &[(u16, Option<u8>)] = if hand.pieces.is_empty() { &[(0, None)] } else { &hand.pieces };
    let (mut at, mut count, mut empties) = (0, 0, 0);
    for &(len, ping) in pieces.iter().cycle() {
        if let Some(p) = ping {
            out.extend(encode_frame(true, 0, 0x9, mask, &vec![0x70; usize::from(p) % 126]));
        }
        empties = if len == 0 { empties + 1 } else { 0 };
        count += 1;
        // A whole turn of empty pieces, or the frame budget spent: the rest.
        let take = if empties >= pieces.len() || count >= MAX_FRAMES_PER_MESSAGE {
            data.len() - at
        } else {
            usize::from(len).min(data.len() - at)
        };
        let end = at + take;
        let fin = end == data.len() && !hand.empty_last;
        let (o, r) = if at == 0 && count == 1 { (opcode, rsv) } else { (0, 0) };
        out.extend(encode_frame(fin, r, o, mask, &data[at..end]));
        at = end;
        if end == data.len() {
            break;
        }
    }
    if hand.empty_last {
        out.extend(encode_frame(true, 0, 0, mask, b""));
    }
}

/// One message compressed on its own (by `c`, a server without context
/// takeover): the payload of its single frame.
fn compressed(c: &mut Connection, content: Content, len: usize) -> Vec<u8> {
    c.send_binary(payload(content, false, len as u64, len)).unwrap();
    let mut wire = Vec::new();
    while let Some(o) = c.poll_output() {
        if let Output::Transmit(b) = o {
            wire.extend_from_slice(&b);
        }
    }
    frames_of(&wire).swap_remove(0).3
}

fn hostile(receiver: Role, frames: &[RawFrame], out: &mut Vec<u8>) {
    let start = out.len();
    let mut compressor = None;
    for f in frames {
        let mask = mask_for(receiver, f.wrong_mask);
        let b0 = (u8::from(f.fin) << 7) | ((f.rsv & 7) << 4) | (f.opcode & 0xF);
        let one = match &f.payload {
            RawPayload::Bytes(b) => encode_frame(f.fin, f.rsv, f.opcode, mask, b),
            RawPayload::Filler(n, byte) => encode_frame(f.fin, f.rsv, f.opcode, mask, &vec![*byte; usize::from(*n)]),
            RawPayload::Compressed(n, content) => {
                let c =
                    compressor.get_or_insert_with(|| open(Role::Server, DeflateMode::NoTakeover, 0, Config::default()));
                encode_frame(f.fin, f.rsv, f.opcode, mask, &compressed(c, *content, usize::from(*n)))
            }
            RawPayload::Declared(len) => {
                let mut h = vec![b0, 127 | if mask.is_some() { 0x80 } else { 0 }];
                h.extend_from_slice(&u64::from(len % (1 << 20)).to_be_bytes());
                h.extend(mask.into_iter().flatten());
                h
            }
        };
        for _ in 0..=f.repeat {
            if out.len() - start + one.len() > MAX_HOSTILE {
                return;
            }
            out.extend_from_slice(&one);
        }
    }
}

/// The wire, the messages it carries, and what the receiver must hold of
/// it: the largest frame held whole, the largest message assembled.
struct Built {
    wire: Vec<u8>,
    expect: Vec<(bool, Vec<u8>)>,
    whole_frame: usize,
    assembled: usize,
    /// Bytes of hostile frames at the end of `wire`.
    hostile: usize,
    /// A hostile frame may start a compressed message.
    hostile_compressed: bool,
}

fn build(input: &MemoryInput, receiver: Role) -> Built {
    // The messages, within the budgets.
    let mut specs = Vec::new();
    let mut total = 0;
    'specs: for m in &input.messages {
        for i in 0..=usize::from(m.repeat) {
            let len = m.size();
            if specs.len() == MAX_MESSAGES || total + len > MAX_PAYLOAD {
                break 'specs;
            }
            total += len;
            specs.push((m, u64::from(m.seed) + i as u64));
        }
    }
    let largest = specs.iter().map(|(m, _)| m.size()).max().unwrap_or(0);
    let fragment = input.fragment_size.map(|f| usize::from(f).max(1).max(largest.div_ceil(MAX_FRAMES_PER_MESSAGE)));
    let threshold = usize::from(input.threshold);
    let mut sender = open(other(receiver), input.deflate, threshold, Config::default().with_fragment_size(fragment));
    let mut wire = Vec::new();
    let mut expect = Vec::with_capacity(specs.len());
    let (mut whole_frame, mut assembled) = (0, 0);
    for (m, seed) in specs {
        let data = payload(m.content, m.text, seed, m.size());
        if m.text {
            sender.send_text(String::from_utf8(data.clone()).expect("UTF-8")).unwrap();
        } else {
            sender.send_binary(data.clone()).unwrap();
        }
        let mut bytes = Vec::new();
        while let Some(o) = sender.poll_output() {
            if let Output::Transmit(b) = o {
                bytes.extend_from_slice(&b);
            }
        }
        let start = wire.len();
        let frames = frames_of(&bytes);
        match &m.hand {
            None => wire.extend_from_slice(&bytes),
            Some(hand) => reframe(receiver, &frames, hand, &mut wire),
        }
        // Its shape, from the frames as they went on the wire.
        let sent = frames_of(&wire[start..]);
        let data_frames = || sent.iter().filter(|f| f.2 & 0x8 == 0);
        let first = data_frames().next().expect("a data frame");
        if first.1 & 0b100 != 0 {
            assembled = assembled.max(data.len());
            whole_frame = whole_frame.max(data_frames().map(|f| f.3.len()).max().unwrap_or(0));
        } else if !first.0 {
            assembled = assembled.max(data.len());
        } else {
            whole_frame = whole_frame.max(first.3.len());
        }
        expect.push((m.text, data));
    }
    let start = wire.len();
    hostile(receiver, &input.hostile, &mut wire);
    let hostile_compressed =
        input.deflate != DeflateMode::Off && input.hostile.iter().any(|f| f.rsv & 0b100 != 0 && f.opcode & 0x8 == 0);
    let hostile = wire.len() - start;
    Built { wire, expect, whole_frame, assembled, hostile, hostile_compressed }
}

// ----------------------------------------------------------------------
// Feeding
// ----------------------------------------------------------------------

/// What happened while feeding.
struct Fed {
    reads: usize,
    largest_read: usize,
    /// The largest buffer handed over that the connection did not lend.
    handed: usize,
    /// Every lent buffer got at least what was asked of it (or its whole
    /// room, or the rest of the wire).
    full_reads: bool,
}

/// Feeds the wire in the reads given (used in turn, none smaller than
/// 1/8,192 of the wire), draining after each; every message goes to
/// `on_message`, and nothing else but Pings and transmits may come before
/// `quiet` messages did. Allocates nothing itself outside the
/// connection's calls.
fn feed(
    conn: &mut Connection,
    wire: &[u8],
    reads: &[ReadSpec],
    quiet: usize,
    mut on_message: impl FnMut(Got<'_>),
) -> Fed {
    let default = [ReadSpec { size: 4096, big: false, how: How::Slice }];
    let reads = if reads.is_empty() { &default[..] } else { reads };
    let floor = wire.len().div_ceil(MAX_READS);
    let mut fed = Fed { reads: 0, largest_read: 0, handed: 0, full_reads: true };
    let (mut at, mut messages) = (0, 0);
    for r in reads.iter().cycle() {
        if at == wire.len() {
            break;
        }
        let size = (usize::from(r.size).max(1) * if r.big { 4 } else { 1 }).max(floor);
        let rest = wire.len() - at;
        fed.reads += 1;
        let n = match r.how {
            How::Slice => {
                let n = size.min(rest);
                conn.handle_bytes(&wire[at..at + n]);
                n
            }
            How::Owned => {
                let n = size.min(rest);
                conn.handle_bytes_owned(BytesMut::from(&wire[at..at + n]));
                n
            }
            How::ReadFrom => {
                // As the README's loop: each read, then every event, then
                // the answers written (below, after each call).
                let n = size.min(rest);
                read_all(conn, &wire[at..at + n], |fed| match fed {
                    Turn::Event(EventRef::Other(Event::Ping(_))) => {}
                    Turn::Event(EventRef::Other(other)) => {
                        assert!(messages >= quiet, "{other:?} after {messages} of {quiet} messages")
                    }
                    Turn::Event(lent) => {
                        messages += 1;
                        on_message(Got::Lent(lent));
                    }
                    // The answers, and any event behind `CloseTransport`.
                    Turn::Read(conn) => drain(conn, &mut messages, quiet, &mut on_message),
                });
                n
            }
            How::Lent | How::LentFull | How::LentShort(_) | How::LentGrow(_) => {
                let mut buf = conn.read_buffer(size);
                // Less room than asked only while more than that is held
                // (all the wire fed so far is an upper bound).
                check_lent(&buf, size, at);
                let cap = buf.capacity();
                let want = match r.how {
                    How::LentFull => cap,
                    How::LentShort(k) => 1 + usize::from(k) % size,
                    How::LentGrow(k) => size + usize::from(k),
                    _ => size,
                };
                let n = match r.how {
                    How::LentGrow(_) => want,
                    _ => want.min(cap),
                }
                .min(rest);
                if n < size.min(cap).min(rest) || n > cap {
                    fed.full_reads = false;
                }
                buf.extend_from_slice(&wire[at..at + n]);
                conn.handle_bytes_owned(buf);
                n
            }
        };
        // A read is what was asked, or what the caller wrote past the
        // room it was lent (not the room the connection chose to lend).
        let handed = match r.how {
            How::Owned | How::LentGrow(_) => n,
            _ => 0,
        };
        fed.largest_read = fed.largest_read.max(size).max(handed);
        fed.handed = fed.handed.max(handed);
        if let How::ReadFrom = r.how {
            // `read_from`'s own 64 KiB buffer, alive beside the input
            // buffer.
            fed.handed = fed.handed.max(64 * KIB);
        }
        at += n;
        drain(conn, &mut messages, quiet, &mut on_message);
    }
    fed
}

/// Everything `poll_output` has, messages to `on_message`; nothing but
/// Pings and transmits before `quiet` messages came.
fn drain(conn: &mut Connection, messages: &mut usize, quiet: usize, on_message: &mut impl FnMut(Got<'_>)) {
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Event(Event::Message(m)) => {
                *messages += 1;
                on_message(Got::Owned(m));
            }
            Output::Event(Event::Ping(_)) | Output::Transmit(_) => {}
            other => assert!(*messages >= quiet, "{other:?} after {messages} of {quiet} messages"),
        }
    }
}

// ----------------------------------------------------------------------
// The target
// ----------------------------------------------------------------------

pub fn run(input: MemoryInput) {
    let receiver = if input.client { Role::Client } else { Role::Server };
    let b = build(&input, receiver);
    let config = Config::default().with_max_message_size(MAX_MESSAGE).with_max_frame_size(MAX_FRAME);
    let mut conn = open(receiver, input.deflate, usize::from(input.threshold), config);
    let quiet = b.expect.len();
    // Room for every message (hostile ones past 10,000 are dropped), so
    // that keeping them allocates nothing while measuring.
    let mut kept: Vec<Message> =
        Vec::with_capacity(if input.keep { quiet + (b.hostile / 2).min(10_000) + 1 } else { 0 });
    let mut seen = 0;
    let base = alloc::live();
    alloc::reset_peak();
    let fed = feed(&mut conn, &b.wire, &input.reads, quiet, |got| {
        if seen < quiet {
            let (text, data) = &b.expect[seen];
            let (is_text, bytes) = got.parts();
            assert!(is_text == *text && bytes == &data[..], "message {seen} differs");
        }
        seen += 1;
        if input.keep && kept.len() < kept.capacity() {
            // A lent message is kept as a copy of its payload.
            match got {
                Got::Owned(m) => kept.push(m),
                Got::Lent(lent) => match lent.into_owned() {
                    Event::Message(m) => kept.push(m),
                    other => panic!("not a message: {other:?}"),
                },
            }
        }
    });
    let (peak, held) = (alloc::peak() - base, alloc::live() - base);
    assert!(seen >= quiet, "{seen} of {quiet} messages arrived");

    // What the hostile frames may make the receiver hold: as much as they
    // are, whole or assembled; a compressed message up to the limit.
    let whole_frame = b.whole_frame.max(b.hostile);
    let assembled = b.assembled.max(if b.hostile_compressed { MAX_MESSAGE + 1 } else { b.hostile });
    if !input.keep {
        // A quarter on top: `tests/memory_properties.rs` finds random
        // scenarios over the design's bound by up to 17 %, not understood
        // yet (issue 13's closing note); past this it is a regression.
        let bound = receive_bound(whole_frame, assembled, fed.largest_read, fed.handed) * 5 / 4;
        assert!(
            peak <= bound as i64,
            "peak {peak} B > bound {bound} B (frame held whole {whole_frame}, assembled {assembled}, read {}, \
             handed over {})",
            fed.largest_read,
            fed.handed
        );
        return;
    }
    let n = kept.len();
    let total: usize = kept.iter().map(Message::len).sum();
    let plain = input.deflate == DeflateMode::Off;
    let strict = retention_bound(n, total, fed.reads, fed.largest_read, whole_frame, !plain);
    let bound = if STRICT_RETENTION {
        strict
    } else if plain && fed.full_reads {
        strict + 2 * b.wire.len()
    } else {
        return;
    };
    assert!(
        held <= bound as i64,
        "{n} kept messages of {total} B ({} B received, {} reads, largest {}) hold {held} B > bound {bound} B",
        b.wire.len(),
        fed.reads,
        fed.largest_read
    );
}
