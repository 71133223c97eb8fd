//! Memory bounded by what was received, whatever a hostile peer or the
//! application does. Each bound is measured with a counting allocator
//! (`common::alloc`, live bytes per thread):
//!
//! - a compressed message, however finely framed, holds at most about twice
//!   its inflated size plus the inflater's fixed cost while it arrives;
//! - N retained messages of s bytes hold at most N × (2s + 256) bytes,
//!   whichever read path delivered them;
//! - floods of empty messages and control frames are refused at the
//!   high-water mark, so the output queue stays within it;
//! - a message may not be fragmented without end (`Config::max_fragments`).
mod common;

use common::alloc::{self, Counting};
use common::*;
#[cfg(feature = "deflate")]
use wsmachine::DeflateConfig;
use wsmachine::{Config, Connection, ConnectionError, Event, Message, Output, ProtocolError, Role, SendError};

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROLES: [Role; 2] = [Role::Server, Role::Client];
const KIB: usize = 1024;

#[cfg(feature = "deflate")]
/// A deflate-enabled open connection; `takeover` keeps the LZ77 window
/// between messages in both directions.
fn deflate_conn(role: Role, takeover: bool, base: Config) -> Connection {
    open_deflate(role, takeover, DeflateConfig::default().with_threshold(0), base, FixedMask(RFC_KEY))
}

#[cfg(feature = "deflate")]
/// Feeds `wire` to `conn` in reads of `read` bytes, draining after each;
/// every message must equal `expect` and is dropped at once. Returns the
/// messages seen and the peak heap above the level at entry.
fn feed_measuring(conn: &mut Connection, wire: &[u8], read: usize, expect: &[u8]) -> (usize, i64) {
    let base = alloc::live();
    alloc::reset_peak();
    let mut seen = 0;
    for chunk in wire.chunks(read) {
        conn.handle_bytes(chunk);
        while let Some(o) = conn.poll_output() {
            match o {
                Output::Event(Event::Message(m)) => {
                    assert!(m.as_bytes() == expect, "message {seen} differs");
                    seen += 1;
                }
                Output::Event(Event::Ping(_) | Event::Pong(_)) | Output::Transmit(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    (seen, alloc::peak() - base)
}

#[cfg(feature = "deflate")]
/// The fixed cost of receiving a compressed message, beyond twice its
/// inflated size: the inflater (zlib-rs allocates its 32 KiB window and
/// state, about 47.5 KB), one output step (16 KiB) and the input held.
const INFLATE_FIXED: i64 = 96 * KIB as i64;

#[cfg(feature = "deflate")]
/// A compressed message sent as 1-, 7- or 100-byte frames used to inflate
/// each frame into a buffer of its own that grew to 16 KiB or more: 8 KiB in
/// 7-byte frames cost hundreds of MiB. Now every frame inflates into the one
/// message buffer.
#[test]
fn a_compressed_message_in_tiny_frames_holds_about_twice_its_size() {
    let msg = prose(7, 64 * KIB);
    for receiver in ROLES {
        for takeover in [true, false] {
            for frame in [1usize, 7, 100] {
                let mut sender =
                    deflate_conn(other(receiver), takeover, Config::default().with_fragment_size(Some(frame)));
                // Two messages: the second starts from the first's window
                // with context takeover.
                sender.send_binary(msg.clone()).unwrap();
                sender.send_binary(msg.clone()).unwrap();
                let wire = wire(&drain(&mut sender));
                drop(sender);
                let frames = parse_frames(&wire).len();
                assert!(frames > 2 * 20 * KIB / frame.max(4), "{frames} frames");
                let mut rx = deflate_conn(receiver, takeover, Config::default());
                let (seen, peak) = feed_measuring(&mut rx, &wire, 4 * KIB, &msg);
                assert_eq!(seen, 2);
                let bound = 2 * msg.len() as i64 + INFLATE_FIXED;
                println!(
                    "{receiver:?} receiving, takeover {takeover}, {frame}-byte frames ({frames}): peak {peak} B, bound {bound} B"
                );
                assert!(peak <= bound, "{receiver:?} takeover {takeover} {frame}-byte frames: peak {peak} > {bound}");
            }
        }
    }
}

/// Reads one `s`-byte message at a time (owned reads: with
/// `read_buffer(read_size)`) and keeps every message, `n` of them; returns
/// the heap they hold, above what the connection itself and the
/// (preallocated) list of messages take.
fn retained_heap(owned_reads: bool, read_size: usize, n: usize, s: usize) -> i64 {
    let mut conn = with_config(Role::Server, Config::default().with_max_message_size(usize::MAX));
    let frame = cframe(true, op::BINARY, &vec![0x5a; s]);
    let mut kept: Vec<Message> = Vec::with_capacity(n);
    // Warm up (buffers sized), then measure from a steady level.
    let read = |conn: &mut Connection, kept: &mut Vec<Message>| {
        if owned_reads {
            let mut buf = conn.read_buffer(read_size);
            buf.extend_from_slice(&frame);
            conn.handle_bytes_owned(buf);
        } else {
            conn.handle_bytes(&frame);
        }
        match conn.poll_output() {
            Some(Output::Event(Event::Message(m))) => {
                assert_eq!(m.len(), s);
                kept.push(m);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(conn.poll_output().is_none());
    };
    let mut warm = Vec::with_capacity(4);
    for _ in 0..4 {
        read(&mut conn, &mut warm);
    }
    drop(warm);
    let base = alloc::live();
    for _ in 0..n {
        read(&mut conn, &mut kept);
    }
    let held = alloc::live() - base;
    drop(kept);
    held
}

/// A message read through `read_buffer` used to be a slice of the 64 KiB
/// read buffer and keep all of it alive (65,584 bytes per retained 1-byte
/// message). Once the connection sees its buffer still held, small
/// messages are copied out.
///
/// With reads of more than 64 KiB, each ending with a message, the emptied
/// buffer used to be given back (it is larger than an idle connection
/// keeps) and the next one allocated without that check: every message
/// kept pinned a whole read buffer (2,000 16-byte messages read with
/// `read_buffer(256 KiB)` held 524,368,000 B, 262,184 B each).
#[test]
fn retained_small_messages_do_not_pin_read_buffers() {
    let n = 20_000;
    for (owned_reads, read) in [(true, 64 * KIB), (true, 256 * KIB), (false, 64 * KIB)] {
        for s in [1usize, 16, 100, 1000] {
            let held = retained_heap(owned_reads, read, n, s);
            let bound = (n * (2 * s + 256)) as i64;
            println!(
                "{}: {n} retained {s}-byte messages hold {held} B ({} B each), bound {bound}",
                if owned_reads { format!("read_buffer({read})") } else { "handle_bytes".into() },
                held / n as i64
            );
            assert!(held <= bound, "owned {owned_reads}, read {read}, {s} B: {held} > {bound}");
        }
    }
}

/// An application that kept messages for a while and then stops gets back
/// to zero allocations per message: a probe finds the buffer free again.
#[test]
fn dropping_messages_again_returns_to_zero_copies() {
    let mut conn = with_config(Role::Server, Config::default());
    let frame = cframe(true, op::TEXT, b"sixteen bytes!!!");
    let mut kept = Vec::new();
    let read = |conn: &mut Connection| -> Message {
        let mut buf = conn.read_buffer(64 * KIB);
        buf.extend_from_slice(&frame);
        conn.handle_bytes_owned(buf);
        match conn.poll_output() {
            Some(Output::Event(Event::Message(m))) => m,
            other => panic!("unexpected {other:?}"),
        }
    };
    for _ in 0..1000 {
        let m = read(&mut conn);
        kept.push(m);
    }
    drop(kept);
    // Probes come after 64, 128, 256, 512, 1024 reads in copy mode: within
    // 2048 reads of dropping, one has found the buffer free.
    for _ in 0..2048 {
        drop(read(&mut conn));
    }
    let (_, calls, _) = alloc::counted(|| {
        for _ in 0..10_000 {
            drop(read(&mut conn));
        }
    });
    assert_eq!(calls, 0, "allocations per 10,000 dropped messages");
}

/// `send(b"")` and `ping` in a loop used to queue without limit (5 M empty
/// messages: +18 MiB). The queue's cost now counts headers, control frames
/// and queue slots, so the high-water mark bounds its memory.
#[test]
fn floods_of_empty_messages_and_pings_stay_within_the_mark() {
    let mark = MIB;
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_send_water_marks(Some(mark), 0));
        let base = alloc::live();
        alloc::reset_peak();
        let mut refused = 0;
        for _ in 0..5_000_000 {
            if let Err(SendError::Full { .. }) = c.send_binary(Vec::new()) {
                refused += 1;
            }
        }
        let empties = alloc::peak() - base;
        assert!(refused > 4_000_000, "{role:?}: only {refused} refused");
        drop(drain(&mut c));
        alloc::reset_peak();
        for _ in 0..100_000 {
            let _ = c.ping(vec![0u8; 125]);
        }
        let pings = alloc::peak() - base;
        println!("{role:?}: 5 M empty messages peak +{empties} B, 100 k pings peak +{pings} B (mark {mark})");
        assert!(empties <= 2 * mark as i64 + 4 * KIB as i64, "{role:?}: {empties}");
        assert!(pings <= 2 * mark as i64 + 4 * KIB as i64, "{role:?}: {pings}");
    }
}

const MIB: usize = 1024 * 1024;

/// A message of endless empty continuation frames used to be accepted; the
/// frame count is now capped (`Config::max_fragments`, default 131,072, as
/// Node's `ws`), failing with 1008.
#[test]
fn a_message_may_not_have_more_frames_than_max_fragments() {
    assert_eq!(Config::default().max_fragments, 131_072);
    for (receiver, max) in [(Role::Server, 131_072), (Role::Client, 3)] {
        let mut c = with_config(receiver, Config::default().with_max_fragments(max));
        let mut wire = peer_frame(receiver, false, op::TEXT, b"a");
        for _ in 1..max {
            wire.extend(peer_frame(receiver, false, op::CONT, b""));
        }
        c.handle_bytes(&wire);
        assert_eq!(drain(&mut c), vec![], "{receiver:?}: {max} frames are allowed");
        // One more, empty: refused at its header.
        c.handle_bytes(&peer_frame(receiver, false, op::CONT, b""));
        let error = ProtocolError::TooManyFragments { max };
        assert_eq!(error.close_code().as_u16(), 1008);
        let outs = drain(&mut c);
        assert_eq!(
            outs,
            vec![
                Out::Wire(own_frame(receiver, true, op::CLOSE, &close_body(1008, ""))),
                Out::CloseTransport,
                closed_out(1006, "", false, Some(ConnectionError::Protocol(error))),
            ],
            "{receiver:?}"
        );
    }
    // The final frame counts too: exactly `max` frames complete a message.
    let mut s = with_config(Role::Server, Config::default().with_max_fragments(2));
    s.handle_bytes(&[cframe(false, op::TEXT, b"a"), cframe(true, op::CONT, b"b")].concat());
    assert_eq!(events(&drain(&mut s)), vec![Event::Message(Message::text("ab"))]);
}
