//! Heap allocations on the hot paths, counted by a global allocator.
//!
//! The counters are per thread, so the tests may run in parallel: each counts
//! only what its own thread allocates. Every count below was measured and is
//! asserted as an upper bound, so a change that allocates more fails here;
//! run with `--nocapture` to see the numbers.
//!
//! Where the allocations come from (bytes 1.x, `BytesMut`): a `BytesMut`
//! starts as a plain vector; the first `split_to` promotes it to a shared
//! buffer, which allocates a small `Shared` header (once per buffer, not per
//! split). Growing a shared buffer that others still reference allocates a
//! new vector; growing one nobody else references reuses it in place (moving
//! the live bytes to the front) when it is big enough, and reallocates it
//! otherwise.
mod common;

use common::alloc::{counted, live, peak, reset_peak};
use common::{FixedMask, RFC_KEY, cframe, op};
use wsmachine::{Bytes, BytesMut, Config, Connection, Event, Message, MessageKind, Output, Role};

#[global_allocator]
static GLOBAL: common::alloc::Counting = common::alloc::Counting;

// ---------------------------------------------------------------------------
// Steady state
// ---------------------------------------------------------------------------

const MSG: &str = "sixteen bytes!!!";
const READ: usize = 64 * 1024;

/// Polls `conn` until it is idle; every output must be a 16-byte text
/// message (or, streaming, its start, chunks and end), dropped at once.
/// Returns how many messages came.
fn take_messages(conn: &mut Connection) -> u64 {
    let mut n = 0;
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Event(Event::Message(Message::Text(t))) => {
                assert_eq!(t.len(), MSG.len());
                n += 1;
            }
            Output::Event(Event::MessageStart(MessageKind::Text)) => {}
            Output::Event(Event::MessageChunk(Message::Text(t))) => assert!(t.len() <= MSG.len()),
            Output::Event(Event::MessageEnd) => n += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    n
}

/// Polls `conn` until it is idle, dropping each `Transmit`; returns the bytes.
fn take_transmits(conn: &mut Connection) -> usize {
    let mut n = 0;
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Transmit(b) => n += b.len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    n
}

/// A server receiving masked 16-byte text messages in reads of `read` bytes,
/// the application dropping each message. Returns the allocation calls of the
/// warm-up (one pass over the stream) and of the measured passes (at least
/// 100k messages), and the number of messages measured.
fn receive_small_messages(read: usize, config: Config) -> (u64, u64, u64) {
    receive_small_messages_fed(read, config, false)
}

/// As [`receive_small_messages`], reading into the connection's
/// `read_buffer` when `lent`.
fn receive_small_messages_fed(read: usize, config: Config, lent: bool) -> (u64, u64, u64) {
    // 22-byte frames; `read / 2` of them are exactly 11 reads, so the stream
    // repeats with the same read boundaries (frames cut across reads at 10 of
    // the 11).
    let frame = cframe(true, op::TEXT, MSG.as_bytes());
    assert_eq!(frame.len(), 22);
    let per_pass = read as u64 / 2;
    let stream = frame.repeat(read / 2);
    assert_eq!(stream.len(), 11 * read);
    let streaming = config.streaming_receive;
    let mut server = Connection::new_open(Role::Server, config, FixedMask(RFC_KEY));
    let pass = |server: &mut Connection| {
        let mut n = 0;
        for r in stream.chunks(read) {
            if lent {
                let mut buf = server.read_buffer(read);
                assert!(buf.capacity() >= r.len());
                buf.extend_from_slice(r);
                server.handle_bytes_owned(buf);
            } else {
                server.handle_bytes(r);
            }
            n += take_messages(server);
        }
        assert_eq!(n, per_pass);
        n
    };
    let (_, warm_up, _) = counted(|| pass(&mut server));
    let passes = 100_000u64.div_ceil(per_pass);
    let (messages, calls, bytes) = counted(|| (0..passes).map(|_| pass(&mut server)).sum::<u64>());
    let reads = passes * 11;
    eprintln!(
        "receive (streaming {streaming}, lent {lent}), 16-byte text messages in {read}-byte reads: warm-up {warm_up} allocations; then {calls} \
         allocations ({bytes} bytes) for {messages} messages in {reads} reads = {:.6} per message",
        calls as f64 / messages as f64,
    );
    (warm_up, calls, messages)
}

#[test]
fn receiving_small_messages_in_64k_reads() {
    // Measured: 0 once warm. The warm-up pass makes 4: the 64 KiB input
    // buffer, its `Shared` header at the first `split_to`, the output queue's
    // buffer (4 entries of 208 bytes), and one realloc of the input buffer to
    // 128 KiB at the first read that lands behind a partial frame. From then
    // on the input buffer is unique whenever a read arrives (the messages
    // were dropped) and `reserve` reclaims it in place, moving the partial
    // frame (at most 21 bytes) to its front.
    let (_, calls, messages) = receive_small_messages(READ, Config::default());
    assert_eq!(calls, 0, "{calls} allocations for {messages} messages (measured 0)");
}

#[test]
fn receiving_small_messages_read_into_the_lent_buffer() {
    // Measured: 0 once warm. The lent buffer's memory follows the partial
    // frame in the one input buffer, which is reclaimed in place whenever
    // a read is due (the messages were dropped).
    let (_, calls, messages) = receive_small_messages_fed(READ, Config::default(), true);
    assert_eq!(calls, 0, "{calls} allocations for {messages} messages (measured 0)");
    let (_, calls, messages) = receive_small_messages_fed(READ, Config::default().with_streaming_receive(true), true);
    assert_eq!(calls, 0, "streaming: {calls} allocations for {messages} messages (measured 0)");
}

#[test]
fn receiving_small_messages_in_64k_reads_streaming() {
    // Measured: 0 once warm. A message cut by a read comes as two chunks.
    let (_, calls, messages) = receive_small_messages(READ, Config::default().with_streaming_receive(true));
    assert_eq!(calls, 0, "{calls} allocations for {messages} messages (measured 0)");
}

#[test]
fn receiving_small_and_1_kib_messages_lent_with_read_from() {
    // `read_from` and `poll_event_ref`, the README's loop for reading many
    // messages. Measured: 0 once warm, for 16-byte and 1 KiB messages (the
    // warm-up makes the input buffer and the borrowed message's buffer).
    for (payload, kind) in [(MSG.as_bytes().to_vec(), op::TEXT), (vec![7u8; 1024], op::BINARY)] {
        let frame = cframe(true, kind, &payload);
        let stream = frame.repeat(20_000);
        let mut server = Connection::new_open(Role::Server, Config::default(), FixedMask(RFC_KEY));
        let pass = |server: &mut Connection| {
            let mut reader = std::io::Cursor::new(&stream[..]);
            let mut n = 0u64;
            // Never past the end: a read of 0 bytes is the end of the stream.
            while (reader.position() as usize) < stream.len() {
                server.read_from(&mut reader).expect("memory");
                while let Some(event) = server.poll_event_ref() {
                    match event {
                        wsmachine::EventRef::Text(t) => assert_eq!(t.as_bytes(), &payload[..]),
                        wsmachine::EventRef::Binary(b) => assert_eq!(b, &payload[..]),
                        wsmachine::EventRef::Other(e) => panic!("unexpected {e:?}"),
                    }
                    n += 1;
                }
            }
            assert_eq!(n, 20_000);
            n
        };
        let (_, warm_up, _) = counted(|| pass(&mut server));
        let (messages, calls, _) = counted(|| (0..5).map(|_| pass(&mut server)).sum::<u64>());
        eprintln!("lent, {}-byte messages: warm-up {warm_up}, then {calls} allocations for {messages}", payload.len());
        assert_eq!(calls, 0, "{calls} allocations for {messages} messages of {} bytes (measured 0)", payload.len());
    }
}

/// 10,000 empty Pings in one read, each taken as an event (one poll at a
/// time, each Pong queued behind its Ping) and then all answered with one
/// `write_to`: the Pongs queue as one run of bytes, not an entry each.
/// Measured: a 1,272,416-byte peak before (10,000 queue entries of 72
/// bytes, the queue doubling); 93,056 bytes now, the read and the Pongs.
/// With the end of the stream before the polls, every Ping is processed at
/// once and waits as an event; the bytes written are the same.
#[test]
fn answers_to_many_pings_taken_one_by_one_queue_as_one_run() {
    let stream = cframe(true, op::PING, b"").repeat(10_000);
    for (by_ref, eof) in [(false, false), (true, false), (false, true)] {
        let mut server = Connection::new_open(Role::Server, Config::default(), FixedMask(RFC_KEY));
        let before = live();
        reset_peak();
        server.handle_bytes(&stream);
        if eof {
            server.handle_eof();
        }
        let mut pings = 0;
        loop {
            let event =
                if by_ref { server.poll_event_ref().map(wsmachine::EventRef::into_owned) } else { server.poll_event() };
            match event {
                Some(Event::Ping(p)) => {
                    assert!(p.is_empty());
                    pings += 1;
                }
                None => break,
                Some(Event::Closed(_)) if eof => {}
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
        let held = peak() - before;
        assert_eq!(pings, 10_000);
        let mut out = Vec::new();
        server.write_to(&mut out).expect("a Vec takes everything");
        // Each Pong is unmasked and empty; at the end a Close (1006 is
        // never sent: the stream just ended, so nothing more is written).
        assert_eq!(out[..20_000], [0x8a, 0x00].repeat(10_000)[..], "by_ref {by_ref} eof {eof}");
        eprintln!("by_ref {by_ref} eof {eof}: peak {held} bytes");
        if !eof {
            assert_eq!(out.len(), 20_000);
            assert!(held < 200_000, "by_ref {by_ref}: {held} bytes at the peak (measured 93,056)");
        }
    }
}

#[test]
fn receiving_small_messages_in_4k_reads() {
    // Measured: 0 once warm, as with 64 KiB reads.
    let (_, calls, messages) = receive_small_messages(4 * 1024, Config::default());
    assert_eq!(calls, 0, "{calls} allocations for {messages} messages (measured 0)");
}

#[test]
fn receiving_small_messages_in_1m_reads() {
    // Measured: 3 per pass of 11 reads (524288 messages), about 1 per 175k
    // messages. Twice per pass a read ends right after a frame header: the
    // header is consumed, the input buffer is empty, and being larger than
    // 64 KiB it is released (the idle-connection rule), though the frame's
    // payload is due next. The next read then allocates a new buffer (sized
    // for the read and the frame's rest) and, once, its `Shared` header.
    let (_, calls, messages) = receive_small_messages(1 << 20, Config::default());
    assert!(calls <= 3, "{calls} allocations for {messages} messages (measured 3)");
}

#[test]
fn sending_small_messages_server() {
    let mut server = Connection::new_open(Role::Server, Config::default(), FixedMask(RFC_KEY));
    let round = |server: &mut Connection| {
        server.send_text(MSG).unwrap();
        assert_eq!(take_transmits(server), 18);
    };
    for _ in 0..1000 {
        round(&mut server);
    }
    const N: u64 = 100_000;
    let ((), calls, bytes) = counted(|| (0..N).for_each(|_| round(&mut server)));
    eprintln!(
        "server send_text of 16 bytes + poll: {calls} allocations ({bytes} bytes) for {N} messages = {:.6} per message",
        calls as f64 / N as f64
    );
    assert_eq!(calls, 0, "{calls} allocations for {N} messages (measured 0)");
}

#[test]
fn sending_small_messages_client() {
    let mut client = Connection::new_open(Role::Client, Config::default(), FixedMask(RFC_KEY));
    let round = |client: &mut Connection| {
        client.send_text(MSG).unwrap();
        assert_eq!(take_transmits(client), 22);
    };
    for _ in 0..1000 {
        round(&mut client);
    }
    const N: u64 = 100_000;
    let ((), calls, bytes) = counted(|| (0..N).for_each(|_| round(&mut client)));
    eprintln!(
        "client send_text of 16 bytes + poll: {calls} allocations ({bytes} bytes) for {N} messages = {:.6} per message",
        calls as f64 / N as f64
    );
    assert_eq!(calls, 0, "{calls} allocations for {N} messages (measured 0)");
}

// ---------------------------------------------------------------------------
// Copies of large payloads, counted in bytes allocated
// ---------------------------------------------------------------------------

const MIB: usize = 1 << 20;

fn big() -> Bytes {
    Bytes::from((0..MIB).map(|i| (i * 31 + i / 977) as u8).collect::<Vec<u8>>())
}

#[test]
fn a_client_payload_is_copied_exactly_once() {
    let payload = big();
    let mut client = Connection::new_open(Role::Client, Config::default(), FixedMask(RFC_KEY));
    let (sent, calls, bytes) = counted(|| {
        client.send_binary(payload.clone()).unwrap();
        take_transmits(&mut client)
    });
    eprintln!("client send of 1 MiB + poll: {calls} allocations, {bytes} bytes");
    assert_eq!(sent, MIB + 14);
    // One buffer for header and masked payload, the 1 KiB pool of masking
    // keys and a small shared header: one copy, not two.
    assert!(bytes >= MIB as u64, "the masked copy must be allocated somewhere");
    assert!(bytes < (MIB + 2048) as u64, "{bytes} bytes allocated for a 1 MiB payload");
}

#[test]
fn a_server_payload_is_not_copied() {
    let payload = big();
    let mut server = Connection::new_open(Role::Server, Config::default(), FixedMask(RFC_KEY));
    let (sent, calls, bytes) = counted(|| {
        server.send_binary(payload.clone()).unwrap();
        take_transmits(&mut server)
    });
    eprintln!("server send of 1 MiB + poll: {calls} allocations, {bytes} bytes");
    assert_eq!(sent, MIB + 10);
    assert!(bytes < 1024, "{bytes} bytes allocated for a 1 MiB payload");
}

#[test]
fn a_received_payload_is_copied_only_by_handle_bytes() {
    let frame = {
        let payload = big();
        common::frame(true, 0, op::BINARY, Some(RFC_KEY), &payload)
    };
    let config = Config::default().with_max_message_size(2 * MIB).with_max_frame_size(2 * MIB);
    let take = |server: &mut Connection| {
        let mut len = 0;
        while let Some(o) = server.poll_output() {
            match o {
                Output::Event(Event::Message(m)) => len += m.len(),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(len, MIB);
    };

    // Owned: the input buffer becomes the message.
    let mut server = Connection::new_open(Role::Server, config.clone(), FixedMask(RFC_KEY));
    let buf = BytesMut::from(&frame[..]);
    let ((), calls, bytes) = counted(|| {
        server.handle_bytes_owned(buf);
        take(&mut server);
    });
    eprintln!("receive 1 MiB with handle_bytes_owned: {calls} allocations, {bytes} bytes");
    assert!(bytes < 1024, "{bytes} bytes allocated");

    // Borrowed: one copy into the input buffer.
    let mut server = Connection::new_open(Role::Server, config, FixedMask(RFC_KEY));
    let ((), calls, bytes) = counted(|| {
        server.handle_bytes(&frame);
        take(&mut server);
    });
    eprintln!("receive 1 MiB with handle_bytes: {calls} allocations, {bytes} bytes");
    assert!(bytes >= frame.len() as u64 && bytes < (frame.len() + 1024) as u64, "{bytes} bytes allocated");
}

#[test]
fn a_large_frame_grows_the_buffer_as_its_bytes_come() {
    // 1 MiB frames in 64 KiB reads. On a fresh connection the input buffer
    // doubles as the frame's bytes arrive, never ahead of them (see
    // `a_declared_but_unsent_frame_costs_nothing_until_its_bytes_come`):
    // 64 KiB, 128 KiB, ..., 1 MiB (each new buffer is what the frame needs
    // so far, plus a little), about 2 MiB allocated one after the other and
    // at most 1.5 MiB held. The message is the whole buffer; once the
    // application drops it, the next frame reuses it (a connection left
    // idle gives it back at its next `handle_timeout`).
    let frame = {
        let payload = big();
        common::frame(true, 0, op::BINARY, Some(RFC_KEY), &payload)
    };
    let config = Config::default().with_max_message_size(2 * MIB).with_max_frame_size(2 * MIB);
    for lent in [false, true] {
        let mut server = Connection::new_open(Role::Server, config.clone(), FixedMask(RFC_KEY));
        let receive = |server: &mut Connection| {
            let mut len = 0;
            let mut reads = 0;
            let mut rest = &frame[..];
            while !rest.is_empty() {
                let n = rest.len().min(READ);
                if lent {
                    let mut buf = server.read_buffer(READ);
                    // Only the frame's rest near its end; never less.
                    let n = n.min(buf.capacity());
                    buf.extend_from_slice(&rest[..n]);
                    server.handle_bytes_owned(buf);
                    rest = &rest[n..];
                } else {
                    server.handle_bytes(&rest[..n]);
                    rest = &rest[n..];
                }
                reads += 1;
                while let Some(o) = server.poll_output() {
                    match o {
                        Output::Event(Event::Message(m)) => len += m.len(),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            assert_eq!(len, MIB);
            reads
        };
        let (reads, calls, bytes) = counted(|| receive(&mut server));
        eprintln!("receive 1 MiB in 64 KiB reads (lent {lent}): {reads} reads, {calls} allocations, {bytes} bytes");
        assert_eq!(reads, 17, "lent {lent}");
        assert!(bytes < (2 * MIB + 2 * READ) as u64, "lent {lent}: {bytes} bytes allocated");
        let (_, calls2, bytes2) = counted(|| receive(&mut server));
        eprintln!("  the next frame: {calls2} allocations, {bytes2} bytes");
        assert!(bytes2 < 1024, "lent {lent}: the next frame allocated {bytes2} bytes");
    }
}

#[test]
fn a_driver_telling_the_time_at_every_wake_up_still_allocates_nothing() {
    // The documented drive loop calls `handle_timeout` on every wake-up,
    // before feeding the bytes that woke it. Buffers are released only after
    // a wake-up with no input since the previous one, so a busy connection
    // keeps reusing them. Measured: 0 once warm.
    let frame = cframe(true, op::TEXT, MSG.as_bytes());
    let stream = frame.repeat(READ / 2);
    let mut server = Connection::new_open(Role::Server, Config::default(), FixedMask(RFC_KEY));
    let mut now = 0;
    let mut pass = |server: &mut Connection| {
        let mut n = 0;
        for r in stream.chunks(READ) {
            now += 1;
            server.handle_timeout(wsmachine::Timestamp::from_millis(now));
            server.handle_bytes(r);
            n += take_messages(server);
        }
        n
    };
    let _ = counted(|| pass(&mut server));
    let (messages, calls, _) = counted(|| (0..4).map(|_| pass(&mut server)).sum::<u64>());
    eprintln!("receive with a clock tick per read: {calls} allocations for {messages} messages");
    assert_eq!(calls, 0, "{calls} allocations for {messages} messages (measured 0)");
    // Idle across a whole wake-up: the input buffer is given back.
    server.handle_timeout(wsmachine::Timestamp::from_millis(now + 1));
    server.handle_timeout(wsmachine::Timestamp::from_millis(now + 2));
    let (_, calls, _) = counted(|| {
        server.handle_bytes(&frame);
        take_messages(&mut server)
    });
    assert!(calls >= 1, "the idle connection kept its input buffer");
}

// ---------------------------------------------------------------------------
// An idle connection
// ---------------------------------------------------------------------------

/// A connection of `role` that exchanged messages (small and 100 KiB), pings
/// and pongs, then went idle: two wake-ups with no input in between. Returns
/// the heap it holds then, counted from before it was created.
fn idle_heap(role: Role) -> i64 {
    let before = live();
    let mut me = Connection::new_open(role, Config::default(), FixedMask(RFC_KEY));
    let peer_role = if role == Role::Server { Role::Client } else { Role::Server };
    let mut peer = Connection::new_open(peer_role, Config::default(), FixedMask(RFC_KEY));
    let t0 = wsmachine::Timestamp::from_millis(0);
    me.handle_timeout(t0);
    let big = vec![b'x'; 100 * 1024];
    for i in 0..3u64 {
        me.handle_timeout(wsmachine::Timestamp::from_millis(i * 10));
        me.send_text(MSG).unwrap();
        me.send_binary(big.clone()).unwrap();
        me.ping(&b"are you there"[..]).unwrap();
        peer.send_binary(big.clone()).unwrap();
        peer.send_text(MSG).unwrap();
        peer.ping(&b"hello"[..]).unwrap();
        // Both ways until quiet; every message is dropped at once.
        for _ in 0..4 {
            while let Some(o) = me.poll_output() {
                if let Output::Transmit(b) = o {
                    peer.handle_bytes(&b);
                }
            }
            while let Some(o) = peer.poll_output() {
                if let Output::Transmit(b) = o {
                    me.handle_bytes(&b);
                }
            }
        }
    }
    assert_eq!(me.ready_state(), wsmachine::ReadyState::Open);
    drop(peer);
    drop(big);
    // Idle: a wake-up after one with no input since.
    me.handle_timeout(wsmachine::Timestamp::from_millis(20_000));
    me.handle_timeout(wsmachine::Timestamp::from_millis(25_000));
    assert!(me.poll_output().is_none());
    let held = live() - before;
    // Keep it alive to here.
    assert_eq!(me.buffered_amount(), 0);
    drop(me);
    held
}

#[test]
fn an_idle_connection_holds_at_most_1_kib() {
    let size = size_of::<Connection>() as i64;
    for role in [Role::Server, Role::Client] {
        let heap = idle_heap(role);
        eprintln!("idle OPEN {role:?}: struct {size} bytes + heap {heap} bytes = {} bytes", size + heap);
        assert!(size + heap <= 1024, "{role:?}: struct {size} + heap {heap} bytes");
    }
}

// ---------------------------------------------------------------------------
// Memory follows the bytes received, not the lengths declared
// ---------------------------------------------------------------------------

/// A masked header (a server receives it) declaring `len` payload bytes in
/// the 8-byte length form.
fn long_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![(u8::from(fin) << 7) | opcode, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&RFC_KEY);
    h
}

fn limits(max: usize) -> Config {
    Config::default().with_max_message_size(max).with_max_frame_size(max)
}

#[test]
fn a_declared_but_unsent_frame_costs_nothing_until_its_bytes_come() {
    // A peer announces 16 MiB, sends one byte and stalls: the buffer must
    // not be sized for the announcement (a few such headers per connection
    // would otherwise reserve gigabytes). Found in review: the input buffer
    // was reserved for the whole declared frame.
    for lent in [false, true] {
        let mut s = Connection::new_open(Role::Server, limits(16 * MIB), FixedMask(RFC_KEY));
        s.handle_bytes(&long_header(true, op::BINARY, 16 * MIB as u64));
        assert!(s.poll_output().is_none());
        let ((), _, bytes) = counted(|| {
            if lent {
                let mut buf = s.read_buffer(READ);
                assert!(buf.capacity() <= 2 * READ, "lent {} bytes for a 1-byte read", buf.capacity());
                buf.extend_from_slice(&[0]);
                s.handle_bytes_owned(buf);
            } else {
                s.handle_bytes(&[0]);
            }
            assert!(s.poll_output().is_none());
        });
        eprintln!("a 16 MiB header and 1 byte (lent {lent}): {bytes} bytes allocated");
        assert!(bytes <= 2 * READ as u64, "lent {lent}: {bytes} bytes allocated for 1 received payload byte");
    }
}

#[test]
fn a_declared_but_unsent_fragment_costs_nothing_until_its_bytes_come() {
    let mut s = Connection::new_open(Role::Server, limits(16 * MIB), FixedMask(RFC_KEY));
    let mut wire = cframe(false, op::BINARY, b"x");
    wire.extend(long_header(true, op::CONT, 16 * MIB as u64 - 1));
    wire.push(0);
    let ((), _, bytes) = counted(|| {
        s.handle_bytes(&wire);
        assert!(s.poll_output().is_none());
    });
    eprintln!("{} bytes of a fragmented 16 MiB message: {bytes} bytes allocated", wire.len());
    assert!(bytes <= 2 * READ as u64, "{bytes} bytes allocated for {} received bytes", wire.len());
}

#[test]
fn a_huge_declared_length_without_limits_does_not_panic() {
    // No limits (a trusted peer) and a header declaring 2^63 - 1 bytes: the
    // connection waits for them; reserving them would panic ("capacity
    // overflow") or abort.
    for lent in [false, true] {
        let mut s = Connection::new_open(Role::Server, limits(usize::MAX), FixedMask(RFC_KEY));
        s.handle_bytes(&long_header(true, op::BINARY, (1u64 << 63) - 1));
        assert!(s.poll_output().is_none());
        if lent {
            let mut buf = s.read_buffer(READ);
            buf.extend_from_slice(&[0; 100]);
            s.handle_bytes_owned(buf);
        } else {
            s.handle_bytes(&[0; 100]);
        }
        assert!(s.poll_output().is_none());
        assert_eq!(s.ready_state(), wsmachine::ReadyState::Open);
    }
}
