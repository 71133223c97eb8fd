//! Every way the receive path makes a text message (`Text::from_validated`,
//! which `Text::as_str` trusts with feature `unchecked-utf8`) hands out
//! exactly the text that was sent: a short frame taken where `poll_event`
//! polls and where `poll_output` does, a whole frame too long to be short,
//! an assembled fragmented message, and streamed chunks with code points
//! split across fragments and reads. Small enough for Miri, which checks the
//! feature's `unsafe`:
//!
//! ```sh
//! cargo +nightly miri test --features unchecked-utf8 --test text_paths
//! ```

mod common;

use common::{Reads, drain, events, op, peer_frame, server, with_config};
use wsmachine::{Bytes, Config, Connection, Event, Message, Role, Text};

/// Texts of every shape: empty, ASCII, 2- to 4-byte code points (22, 24
/// and 25 bytes), long.
fn samples() -> Vec<String> {
    vec![
        String::new(),
        "hi".to_owned(),
        "κόσμε 𝄞 ü €".to_owned(),
        "κόσμε 𝄞 ü €!!".to_owned(),
        "κόσμε 𝄞 ü €!!!".to_owned(),
        "ascii, then κόσμε 𝄞 and more ".repeat(9),
    ]
}

/// The text of every text message (or streamed chunk) in `events`, through
/// `as_str`, checked
/// against `Display` and the bytes.
fn texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(Message::Text(t)) | Event::MessageChunk(Message::Text(t)) => {
                let s = t.as_str();
                assert_eq!(s.as_bytes(), t.as_bytes());
                assert_eq!(t.to_string(), s);
                Some(s.to_owned())
            }
            _ => None,
        })
        .collect()
}

/// One text frame per sample, in one read.
fn wire_of(samples: &[String]) -> Vec<u8> {
    samples.iter().flat_map(|s| peer_frame(Role::Server, true, op::TEXT, s.as_bytes())).collect()
}

#[test]
fn whole_frames_polled_for_events() {
    // Short frames are taken inline by `poll_event`; the long one and the
    // empty one by the general path.
    let samples = samples();
    let mut c = server();
    c.handle_bytes(&wire_of(&samples));
    let got: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(texts(&got), samples);
}

#[test]
fn each_frame_alone_in_its_read() {
    // A short text at the very end of the input, nothing behind it.
    for sample in samples() {
        let mut c = server();
        c.handle_bytes(&wire_of(std::slice::from_ref(&sample)));
        let got: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        assert_eq!(texts(&got), [sample]);
    }
}

#[test]
fn received_texts_equal_texts_made_by_hand() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    let hash = |t: &Text| {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    };
    let samples = samples();
    assert_eq!(samples[3].len(), 24);
    let mut c = server();
    c.handle_bytes(&wire_of(&samples));
    let received: Vec<Text> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::Message(Message::Text(t)) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), samples.len());
    for (got, sample) in received.iter().zip(&samples) {
        let made = Text::from(sample.clone());
        assert_eq!(*got, made);
        assert_eq!(got, sample.as_str());
        assert_eq!(hash(got), hash(&made));
        assert_eq!(got.cmp(&made), std::cmp::Ordering::Equal);
        assert_eq!(got.len(), sample.len());
        assert_eq!(got.clone().into_bytes(), Bytes::from(sample.clone()));
        assert_eq!(Message::Text(got.clone()).into_bytes(), sample.as_bytes());
    }
    // Ordered by bytes.
    assert!(received[1] > received[0] && received[4] > received[3] && received[3] > received[2]);
}

#[test]
fn whole_frames_polled_for_outputs() {
    // `poll_output` takes short frames and whole frames on its own path.
    let samples = samples();
    let mut c = server();
    c.handle_bytes(&wire_of(&samples));
    assert_eq!(texts(&events(&drain(&mut c))), samples);
}

/// The fragments of `text`, cut every `every` bytes (inside code points).
fn fragments(text: &str, every: usize) -> Vec<u8> {
    let pieces: Vec<&[u8]> = text.as_bytes().chunks(every).collect();
    let mut wire = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { op::TEXT } else { op::CONT };
        wire.extend(peer_frame(Role::Server, i + 1 == pieces.len(), opcode, piece));
    }
    wire
}

/// `wire` fed to `c` in reads of `read` bytes, drained after each: the
/// events.
fn feed(mut c: Connection, wire: &[u8], read: usize) -> Vec<Event> {
    let mut got = Vec::new();
    for piece in wire.chunks(read) {
        c.handle_bytes(piece);
        got.extend(events(&drain(&mut c)));
    }
    got
}

#[test]
fn assembled_fragments_cut_inside_code_points() {
    let text = samples().concat();
    for every in [1, 3, 7, 100] {
        let wire = fragments(&text, every);
        // In one read (the fragments straight from the slice) and a byte
        // at a time (through the input buffer).
        for read in [wire.len(), 1] {
            let got = feed(server(), &wire, read);
            assert_eq!(texts(&got), std::slice::from_ref(&text), "fragments of {every}, reads of {read}");
        }
    }
}

#[test]
fn streamed_chunks_never_split_a_code_point() {
    let text = samples().concat();
    let streaming = || -> Connection { with_config(Role::Server, Config::default().with_streaming_receive(true)) };
    for every in [1, 5, 64] {
        let wire = fragments(&text, every);
        for read in [wire.len(), 2] {
            let chunks = texts(&feed(streaming(), &wire, read));
            assert!(chunks.len() > 1, "fragments of {every}, reads of {read}: {} chunk(s)", chunks.len());
            assert_eq!(chunks.concat(), text, "fragments of {every}, reads of {read}");
        }
    }
}

#[test]
fn lent_texts_through_read_from() {
    // `poll_event_ref` lends texts (`TextRef::as_str`, which trusts the same
    // check) from every place it takes them: copied out of a short frame,
    // copied out of a longer one, in place in `read_from`'s own buffer, and
    // a message assembled from fragments whose frames the reads cut.
    let samples = samples();
    let mut wire = wire_of(&samples);
    for s in &samples {
        let bytes = s.as_bytes();
        let (a, b) = bytes.split_at(bytes.len() / 2);
        wire.extend(peer_frame(Role::Server, false, op::TEXT, a));
        wire.extend(peer_frame(Role::Server, true, op::CONT, b));
    }
    let want: Vec<String> = samples.iter().chain(&samples).cloned().collect();
    for sizes in [vec![64 * 1024], vec![7], vec![3, 100, 1]] {
        let mut c = server();
        let mut reader = Reads { data: &wire, sizes: &sizes, next: 0 };
        let mut got = Vec::new();
        while c.read_from(&mut reader).unwrap() > 0 {
            while let Some(event) = c.poll_event_ref() {
                match event {
                    wsmachine::EventRef::Text(t) => {
                        let s = t.as_str();
                        assert_eq!(s.as_bytes(), t.as_bytes());
                        got.push(s.to_owned());
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(got, want, "reads of {sizes:?}");
    }
}
