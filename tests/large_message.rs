//! 1 GiB messages through streaming send and streaming receive in bounded
//! memory.
//!
//! This binary installs the counting global allocator (`common::alloc`),
//! which tracks the live heap of the test's thread (all the work happens on
//! it) and its peak. Each test resets the peak to the live heap once its
//! connections and reference data exist (the baseline), moves one message of
//! 1 GiB from sender to a server in `streaming_receive` mode, moving every
//! `Transmit` to the server as soon as it comes out (the harness never holds
//! more than one chunk), and checks every byte that arrives against the
//! reference without storing it. The peak live heap above the baseline must
//! stay under 4 MiB. The tests take a lock so that one 1 GiB transfer runs
//! at a time.
//!
//! Run with `--nocapture` to see the measured peaks and times.
mod common;

use std::sync::Mutex;
use std::time::Instant;

use common::{FixedMask, noise, xorshift};
use wsmachine::{Bytes, Config, Connection, Event, Message, MessageKind, Output, Role};

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

#[global_allocator]
static GLOBAL: common::alloc::Counting = common::alloc::Counting;

/// Serialises the tests: each moves 1 GiB, and the machine may have few cores.
static LOCK: Mutex<()> = Mutex::new(());

/// Starts a measurement: the live heap now is the baseline.
fn baseline() -> i64 {
    common::alloc::reset_peak();
    common::alloc::live()
}

/// The peak since [`baseline`] above it, a realloc counted as holding its
/// old and new block at once.
fn peak_above(base: i64) -> usize {
    (common::alloc::peak_moving() - base).max(0) as usize
}

// ---------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------

const GIB: usize = 1 << 30;
/// The sender's piece size.
const CHUNK: usize = 64 * 1024;
/// The period of the reference content: a prime, so every 64 KiB piece starts
/// at a different phase and a lost, repeated or reordered piece is caught.
const PERIOD: usize = 65521;
/// The live-heap budget of a transfer.
const BUDGET: usize = 4 << 20;

/// `PERIOD` pseudo-random bytes.
fn binary_unit() -> Vec<u8> {
    noise(1, PERIOD)
}

/// `PERIOD` bytes of UTF-8 made of whole code points of every width, so any
/// repetition of it is UTF-8 and 64 KiB pieces split code points everywhere.
fn text_unit() -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1D;
    let mut s = String::with_capacity(PERIOD);
    while s.len() + 4 <= PERIOD {
        let r = xorshift(&mut x);
        let c = match r % 4 {
            0 => char::from_u32(0x20 + (r >> 8) as u32 % 0x5f),
            1 => char::from_u32(0x80 + (r >> 8) as u32 % 0x780),
            2 => char::from_u32(0x800 + (r >> 8) as u32 % 0xD000),
            _ => char::from_u32(0x10000 + (r >> 8) as u32 % 0xF_0000),
        };
        s.push(c.unwrap_or('x'));
    }
    while s.len() < PERIOD {
        s.push('.');
    }
    assert_eq!(s.len(), PERIOD);
    s.into_bytes()
}

/// `unit` repeated to `len` bytes, XORed with `key` as a payload starting at
/// offset 0 would be masked (no key: unmasked).
fn repeated(unit: &[u8], len: usize, key: Option<[u8; 4]>) -> Vec<u8> {
    let mut v: Vec<u8> = unit.iter().copied().cycle().take(len).collect();
    if let Some(k) = key {
        for (i, b) in v.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    v
}

/// Checks the server's events against the reference as they come, keeping
/// only a position.
struct Receiver<'a> {
    kind: MessageKind,
    /// The unit repeated to `PERIOD + 2 * CHUNK` bytes.
    reference: &'a [u8],
    pos: usize,
    chunks: u64,
    max_chunk: usize,
    started: bool,
    ended: bool,
}

impl<'a> Receiver<'a> {
    fn new(kind: MessageKind, reference: &'a [u8]) -> Self {
        Self { kind, reference, pos: 0, chunks: 0, max_chunk: 0, started: false, ended: false }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::MessageStart(kind) => {
                assert!(!self.started, "a second MessageStart");
                assert_eq!(kind, self.kind);
                self.started = true;
            }
            Event::MessageChunk(message) => {
                assert!(self.started && !self.ended, "a chunk outside the message");
                assert_eq!(message.kind(), self.kind);
                if let Message::Text(t) = &message {
                    assert!(std::str::from_utf8(t.as_bytes()).is_ok(), "a text chunk is not UTF-8 on its own");
                }
                self.check(message.as_bytes());
            }
            Event::MessageEnd => {
                assert!(self.started && !self.ended, "MessageEnd outside the message");
                self.ended = true;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn check(&mut self, mut data: &[u8]) {
        assert!(!data.is_empty(), "an empty chunk at {}", self.pos);
        assert!(self.pos + data.len() <= GIB, "more than 1 GiB arrived");
        self.chunks += 1;
        self.max_chunk = self.max_chunk.max(data.len());
        while !data.is_empty() {
            let phase = self.pos % PERIOD;
            let n = data.len().min(2 * CHUNK);
            assert!(data[..n] == self.reference[phase..phase + n], "content differs in the {n} bytes at {}", self.pos);
            self.pos += n;
            data = &data[n..];
        }
    }

    #[track_caller]
    fn assert_done(&self) {
        assert!(self.started && self.ended, "started {} ended {}", self.started, self.ended);
        assert_eq!(self.pos, GIB);
    }
}

fn drain_server(server: &mut Connection, rx: &mut Receiver<'_>) {
    while let Some(o) = server.poll_output() {
        match o {
            Output::Event(e) => rx.event(e),
            other => panic!("the server should only report events, got {other:?}"),
        }
    }
}

fn server_config() -> Config {
    Config::default().with_streaming_receive(true).with_max_message_size(GIB).with_max_frame_size(GIB)
}

fn report(what: &str, peak: usize, started: Instant, rx: &Receiver<'_>) {
    eprintln!(
        "{what}: peak live heap above baseline {peak} bytes ({:.1} KiB), {:.2} s, {} chunks (largest {} bytes)",
        peak as f64 / 1024.0,
        started.elapsed().as_secs_f64(),
        rx.chunks,
        rx.max_chunk,
    );
}

/// A client streams 1 GiB with `begin_message`/`send_chunk` (64 KiB pieces,
/// slices of one buffer)/`finish_message` to a streaming server.
fn client_streams_one_gib(kind: MessageKind, unit: &[u8], fragment_size: Option<usize>) -> usize {
    let reference = repeated(unit, PERIOD + 2 * CHUNK, None);
    let source = Bytes::from(reference.clone());
    let mut client = Connection::new_open(
        Role::Client,
        Config::default().with_fragment_size(fragment_size),
        FixedMask([0x5a, 0x17, 0xc3, 0x88]),
    );
    let mut server = Connection::new_open(Role::Server, server_config(), FixedMask([0; 4]));
    let mut rx = Receiver::new(kind, &reference);

    let base = baseline();
    let started = Instant::now();
    client.begin_message(kind).unwrap();
    let pieces = GIB / CHUNK;
    for k in 0..=pieces {
        if k < pieces {
            let phase = (k * CHUNK) % PERIOD;
            client.send_chunk(source.slice(phase..phase + CHUNK)).unwrap();
        } else {
            client.finish_message(Bytes::new()).unwrap();
        }
        while let Some(o) = client.poll_output() {
            match o {
                Output::Transmit(bytes) => {
                    server.handle_bytes(&bytes);
                    drop(bytes);
                    drain_server(&mut server, &mut rx);
                }
                other => panic!("unexpected client output {other:?}"),
            }
        }
    }
    let peak = peak_above(base);
    rx.assert_done();
    let what = format!("client → server, 1 GiB {kind:?}, 64 KiB pieces, fragment_size {fragment_size:?}");
    report(&what, peak, started, &rx);
    assert!(peak < BUDGET, "{what}: peak live heap {peak} bytes above baseline, budget {BUDGET}");
    peak
}

/// The peer sends 1 GiB as ONE masked frame, fed to a streaming server in
/// reads of 64 KiB minus 0–6 bytes (so the mask phase moves).
fn one_frame_of_one_gib(kind: MessageKind, unit: &[u8]) -> usize {
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let reference = repeated(unit, PERIOD + 2 * CHUNK, None);
    // The payload as masked on the wire has period 4 * PERIOD.
    let wire_period = 4 * PERIOD;
    let masked = repeated(unit, wire_period + 2 * CHUNK, Some(KEY));
    let mut header = vec![if kind == MessageKind::Text { 0x81 } else { 0x82 }, 0x80 | 127];
    header.extend_from_slice(&(GIB as u64).to_be_bytes());
    header.extend_from_slice(&KEY);
    let mut server = Connection::new_open(Role::Server, server_config(), FixedMask([0; 4]));
    let mut rx = Receiver::new(kind, &reference);

    let base = baseline();
    let started = Instant::now();
    server.handle_bytes(&header);
    drain_server(&mut server, &mut rx);
    assert!(rx.started && rx.chunks == 0, "MessageStart comes with the header");
    let mut sent = 0;
    let mut reads = 0usize;
    while sent < GIB {
        let n = (CHUNK - reads % 7).min(GIB - sent);
        let phase = sent % wire_period;
        server.handle_bytes(&masked[phase..phase + n]);
        drain_server(&mut server, &mut rx);
        assert!(rx.pos + 3 >= sent + n, "the server holds back more than a split code point");
        sent += n;
        reads += 1;
    }
    let peak = peak_above(base);
    rx.assert_done();
    let what = format!("one masked frame, 1 GiB {kind:?}, {reads} reads");
    report(&what, peak, started, &rx);
    assert!(peak < BUDGET, "{what}: peak live heap {peak} bytes above baseline, budget {BUDGET}");
    peak
}

#[test]
fn one_gib_binary_streamed_in_64k_pieces() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    client_streams_one_gib(MessageKind::Binary, &binary_unit(), None);
}

#[test]
fn one_gib_binary_as_a_single_frame() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    one_frame_of_one_gib(MessageKind::Binary, &binary_unit());
}

#[test]
fn one_gib_text_streamed_in_64k_pieces_fragmented_at_16k() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    client_streams_one_gib(MessageKind::Text, &text_unit(), Some(16 * 1024));
}

#[test]
fn one_gib_text_as_a_single_frame() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    one_frame_of_one_gib(MessageKind::Text, &text_unit());
}
