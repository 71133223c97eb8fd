//! Throughput of wsmachine's receive and send paths.
//!
//! Receive: a server reads masked client frames, handed over in reads of at
//! most 64 KiB (one `recv()`), validating text as UTF-8. Send: a client masks
//! and frames messages. Side-by-side runs against other crates live in the
//! performance work; this bench tracks wsmachine alone.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wsmachine::{Bytes, Config, Connection, Entropy, Output, Role, Text};

struct Key;
impl Entropy for Key {
    fn fill(&mut self, dest: &mut [u8]) {
        for (i, b) in dest.iter_mut().enumerate() {
            *b = [0x37, 0xfa, 0x21, 0x3d][i % 4];
        }
    }
}

const READ: usize = 64 * 1024;

/// The wire bytes a client produces for `count` messages of `payload`.
fn client_stream(count: usize, payload: &[u8], text: bool, fragment: Option<usize>) -> Vec<u8> {
    let config = Config::default().with_fragment_size(fragment);
    let mut c = Connection::new_open(Role::Client, config, Key);
    let mut wire = Vec::new();
    let payload = Bytes::copy_from_slice(payload);
    for _ in 0..count {
        if text {
            c.send_text(Text::from_utf8(payload.clone()).expect("utf-8")).expect("open");
        } else {
            c.send_binary(payload.clone()).expect("open");
        }
        while let Some(o) = c.poll_output() {
            if let Output::Transmit(b) = o {
                wire.extend_from_slice(&b);
            }
        }
    }
    wire
}

fn server_read(wire: &[u8], max: usize) -> usize {
    let config = Config::default().with_max_message_size(max).with_max_frame_size(max);
    let mut s = Connection::new_open(Role::Server, config, Key);
    let mut messages = 0;
    for chunk in wire.chunks(READ) {
        s.handle_bytes(chunk);
        while let Some(o) = s.poll_output() {
            if let Output::Event(e) = o {
                black_box(&e);
                messages += 1;
            }
        }
    }
    messages
}

/// Name, message count, payload, text?, sender's fragment size.
type Case = (&'static str, usize, Vec<u8>, bool, Option<usize>);

fn receive(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive");
    let cases: [Case; 4] = [
        ("text_16B_x100k", 100_000, b"0123456789abcdef".to_vec(), true, None),
        ("binary_1KiB_x10k", 10_000, vec![7u8; 1024], false, None),
        ("binary_1MiB_x16", 16, vec![7u8; 1 << 20], false, None),
        ("text_1MiB_16KiB_frames_x16", 16, vec![b'a'; 1 << 20], true, Some(16 * 1024)),
    ];
    for (name, count, payload, text, fragment) in cases {
        let wire = client_stream(count, &payload, text, fragment);
        g.throughput(Throughput::Bytes((count * payload.len()) as u64));
        g.bench_function(name, |b| b.iter(|| assert_eq!(server_read(&wire, 2 << 20), count)));
    }
    g.finish();
}

fn send(c: &mut Criterion) {
    let mut g = c.benchmark_group("send");
    for (name, count, size) in [("client_16B_x100k", 100_000usize, 16usize), ("client_1MiB_x16", 16, 1 << 20)] {
        let payload = Bytes::from(vec![b'x'; size]);
        g.throughput(Throughput::Bytes((count * size) as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || Connection::new_open(Role::Client, Config::default(), Key),
                |mut conn| {
                    let mut written = 0;
                    for _ in 0..count {
                        conn.send_binary(payload.clone()).expect("open");
                        while let Some(o) = conn.poll_output() {
                            if let Output::Transmit(b) = o {
                                written += b.len();
                            }
                        }
                    }
                    written
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// `Text::as_str` on a received-size text: a UTF-8 check each call by
/// default, free with feature `unchecked-utf8` (run this group both ways:
/// `cargo bench --bench codec -- as_str` and the same with
/// `--features unchecked-utf8`).
fn as_str(c: &mut Criterion) {
    let mut g = c.benchmark_group("as_str");
    let mixed = "κόσμε ascii 𝄞 ü ".repeat(1 << 16);
    for (name, text) in [
        ("16B_ascii", "0123456789abcdef".to_owned()),
        ("1KiB_ascii", "a".repeat(1024)),
        (
            "1MiB_mixed",
            mixed
                .chars()
                .scan(0, |n, ch| {
                    *n += ch.len_utf8();
                    (*n <= 1 << 20).then_some(ch)
                })
                .collect(),
        ),
    ] {
        let text = Text::from(text);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(black_box(&text).as_str()).len()));
    }
    g.finish();
}

criterion_group!(benches, receive, send, as_str);
criterion_main!(benches);
