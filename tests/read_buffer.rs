//! `Connection::read_buffer`: reads land in place, and any use of the lent
//! buffer (dropped, grown, swapped, lent after the end) is safe and loses
//! nothing.
mod common;
use common::*;
use wsmachine::{BytesMut, Config, Connection, Event, Message, Output, ReadyState, Role};

const MIB: usize = 1 << 20;
const READ: usize = 64 * 1024;

fn big_config() -> Config {
    Config::default().with_max_message_size(2 * MIB).with_max_frame_size(2 * MIB)
}

/// The messages (as payload bytes) a drain delivers; any other output fails.
fn messages(conn: &mut Connection) -> Vec<wsmachine::Bytes> {
    let mut out = Vec::new();
    while let Some(o) = conn.poll_output() {
        match o {
            Output::Event(Event::Message(m)) => out.push(m.into_bytes()),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[test]
fn a_large_frame_is_read_in_place() {
    // Two 1 MiB frames back to back, read 64 KiB at a time. The first grows
    // the input buffer as its bytes come; from the second frame's second
    // read on, every read lands exactly where its bytes sit in the delivered
    // payload: the read is the only copy (and unmasking is done in place).
    // (The application drops the first message on delivery; a buffer still
    // referenced cannot be reused, and the second frame would start anew.)
    let payloads: Vec<Vec<u8>> = (0..2).map(|k| (0..MIB).map(|i| ((i * 7 + k * 3) % 251) as u8).collect()).collect();
    let first = cframe(true, op::BINARY, &payloads[0]);
    let second = cframe(true, op::BINARY, &payloads[1]);
    let header = second.len() - MIB;
    let second_payload_at = first.len() + header;
    let wire = [first, second].concat();
    let mut server = with_config(Role::Server, big_config());
    // (position on the wire, address) of every read.
    let mut reads = Vec::new();
    let mut pos = 0;
    let mut delivered = None;
    let mut count = 0;
    while pos < wire.len() {
        let mut buf = server.read_buffer(READ);
        let n = (wire.len() - pos).min(READ).min(buf.capacity());
        assert!(n > 0);
        reads.push((pos, buf.as_ptr() as usize));
        buf.extend_from_slice(&wire[pos..pos + n]);
        server.handle_bytes_owned(buf);
        pos += n;
        for m in messages(&mut server) {
            assert_eq!(&m[..], &payloads[count][..], "message {count}");
            count += 1;
            if count == 2 {
                delivered = Some(m);
            }
        }
    }
    assert_eq!(count, 2);
    let base = delivered.map(|m| m.as_ptr() as usize).unwrap_or_default();
    let in_place: Vec<_> = reads.iter().filter(|(at, _)| *at >= second_payload_at + READ).collect();
    assert!(in_place.len() >= 14, "{} reads checked", in_place.len());
    for (at, addr) in in_place {
        let offset = at - second_payload_at;
        assert_eq!(*addr, base + offset, "the read at payload offset {offset} was not in place");
    }
}

#[test]
fn near_the_end_of_a_large_frame_only_its_rest_is_lent() {
    // A 60,000-byte frame; the first read (into a fresh 64 KiB buffer)
    // brings all but 1,008 bytes of it, leaving 6,536 bytes of spare room.
    // Asked for 8 KiB more, the connection lends the spare room it has
    // (enough for the frame's rest) rather than growing the buffer, which
    // would move the frame: the message is where the first read put it.
    let frame = cframe(true, op::BINARY, &vec![5; 60_000]);
    let header = frame.len() - 60_000;
    let mut server = with_config(Role::Server, big_config());
    let mut buf = server.read_buffer(READ);
    assert_eq!(buf.capacity(), READ);
    let first = buf.as_ptr() as usize;
    buf.extend_from_slice(&frame[..59_000]);
    server.handle_bytes_owned(buf);
    assert!(messages(&mut server).is_empty());
    let rest = frame.len() - 59_000;
    let min = 8 * 1024;
    let mut buf = server.read_buffer(min);
    assert!(buf.capacity() >= rest, "the rest of the frame must fit");
    assert!(buf.capacity() < min, "lent {} bytes: the buffer grew for room the frame does not need", buf.capacity());
    buf.extend_from_slice(&frame[59_000..]);
    server.handle_bytes_owned(buf);
    let got = messages(&mut server);
    assert_eq!(got.iter().map(|m| m.len()).collect::<Vec<_>>(), [60_000]);
    assert_eq!(got[0].as_ptr() as usize, first + header, "the frame was moved");
    // Nothing in progress: the minimum asked for.
    drop(got);
    assert!(server.read_buffer(READ).capacity() >= READ);
}

#[test]
fn any_use_of_the_lent_buffer_loses_nothing() {
    let a = cframe(true, op::TEXT, b"first");
    let b = cframe(true, op::TEXT, b"second");
    let c = cframe(true, op::BINARY, &[9; 3000]);
    let mut server = server();

    // Lent and dropped unused: nothing changes.
    drop(server.read_buffer(16));
    // Lent, returned empty.
    let buf = server.read_buffer(16);
    server.handle_bytes_owned(buf);
    assert!(messages(&mut server).is_empty());

    // Half a frame through a lent buffer, the other half by copy.
    let mut buf = server.read_buffer(0);
    assert!(buf.capacity() >= 1, "never a zero-capacity buffer (a read of 0 means EOF)");
    buf.extend_from_slice(&a[..3]);
    server.handle_bytes_owned(buf);
    server.handle_bytes(&a[3..]);
    assert_eq!(messages(&mut server), [&b"first"[..]]);

    // Grown far past its capacity.
    let mut buf = server.read_buffer(4);
    buf.extend_from_slice(&[&b[..], &c[..]].concat());
    server.handle_bytes_owned(buf);
    let got = messages(&mut server);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], &b"second"[..]);
    assert_eq!(got[1].len(), 3000);

    // Two lent buffers at once, handed back out of order: the order of
    // `handle_bytes_owned` calls is the order of the bytes.
    let mut first = server.read_buffer(8);
    let mut second = server.read_buffer(8);
    first.extend_from_slice(&b[..4]);
    second.extend_from_slice(&b[4..]);
    server.handle_bytes_owned(first);
    server.handle_bytes_owned(second);
    assert_eq!(messages(&mut server), [&b"second"[..]]);

    // Another buffer handed back instead of the lent one.
    let _lent = server.read_buffer(8);
    server.handle_bytes_owned(BytesMut::from(&a[..]));
    assert_eq!(messages(&mut server), [&b"first"[..]]);
}

#[test]
fn after_the_end_a_buffer_is_still_lent_and_its_bytes_ignored() {
    let mut server = server();
    server.handle_bytes(&cframe(true, op::CLOSE, &close_body(1000, "")));
    let outs = drain(&mut server);
    assert_closed_once_last(&outs);
    assert_eq!(server.ready_state(), ReadyState::Closed);
    let mut buf = server.read_buffer(100);
    assert!(buf.capacity() >= 100);
    buf.extend_from_slice(&cframe(true, op::TEXT, b"late"));
    server.handle_bytes_owned(buf);
    assert!(server.poll_output().is_none());

    let mut server = server_after_eof();
    let mut buf = server.read_buffer(1);
    buf.extend_from_slice(&cframe(true, op::TEXT, b"late"));
    server.handle_bytes_owned(buf);
    assert!(server.poll_output().is_none());
}

fn server_after_eof() -> Connection {
    let mut s = server();
    s.handle_eof();
    let outs = drain(&mut s);
    assert_eq!(assert_closed_once_last(&outs).code.as_u16(), 1006);
    s
}

#[test]
fn text_split_across_lent_buffers_is_validated_as_it_arrives() {
    // An invalid byte fails the connection at the read that brings it.
    let mut server = server();
    let frame = cframe(true, op::TEXT, "κόσμε\u{ff}".as_bytes());
    let mut bad = frame.clone();
    let last = bad.len() - 1;
    // Corrupt the masked payload's last byte so that it unmasks to 0xFF.
    bad[last] = 0xFF ^ RFC_KEY[(last - 6) % 4];
    let mut buf = server.read_buffer(4);
    buf.extend_from_slice(&bad[..8]);
    server.handle_bytes_owned(buf);
    assert!(server.poll_output().is_none());
    let mut buf = server.read_buffer(4);
    buf.extend_from_slice(&bad[8..]);
    server.handle_bytes_owned(buf);
    let outs = drain(&mut server);
    let closed = assert_closed_once_last(&outs);
    assert_eq!((closed.code.as_u16(), closed.was_clean), (1006, false));
    let frames = parse_frames(&wire(&outs));
    assert_eq!(frames.last().map(|f| (f.opcode, f.payload[..2].to_vec())), Some((op::CLOSE, vec![0x03, 0xEF])));
    // The same text, valid, arrives whole.
    let mut server = common::server();
    let mut buf = server.read_buffer(4);
    buf.extend_from_slice(&frame);
    server.handle_bytes_owned(buf);
    assert_eq!(drain(&mut server), vec![Out::Event(Event::Message(Message::Text("κόσμεÿ".into())))]);
}
