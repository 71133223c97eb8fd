//! A masked binary frame held until it completes is unmasked as its bytes
//! are appended from a slice (`handle_bytes`, `read_from`), in the same
//! pass as the copy, and in place for bytes handed over in a buffer
//! (`handle_bytes_owned`). Whatever the mix of the two, the split of the
//! reads and whether the driver polls between them, every byte is unmasked
//! exactly once, at its phase of the key: the messages arrive intact, and
//! so does whatever follows the frame in the same read.
//!
//! A fragmented text is unmasked into the message as it arrives, and while
//! it has been ASCII so far the same pass tells whether the new bytes are
//! ASCII, which then need no other UTF-8 check: texts mostly ASCII with a
//! character or an invalid byte anywhere (in a 128-byte block or the tail
//! behind the last one, in any fragment) are accepted exactly when
//! `str::from_utf8` accepts them, and fail with 1007 otherwise.

mod common;

use common::*;
use proptest::prelude::*;
use wsmachine::{Connection, ConnectionError, Event, Message, ProtocolError, Role};

/// How one piece of the wire is handed over.
#[derive(Clone, Copy, Debug)]
enum Feed {
    /// `handle_bytes`, then poll or not.
    Slice { poll: bool },
    /// `read_buffer` + `handle_bytes_owned`, then poll or not.
    Owned { poll: bool },
}

fn feed() -> impl Strategy<Value = Feed> {
    prop_oneof![
        any::<bool>().prop_map(|poll| Feed::Slice { poll }),
        any::<bool>().prop_map(|poll| Feed::Owned { poll }),
    ]
}

/// Not constant and not a multiple of the key's period: a byte unmasked at
/// the wrong phase, twice or not at all shows.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

fn hand_over(c: &mut Connection, piece: &[u8], how: Feed, got: &mut Vec<Event>) {
    let poll = match how {
        Feed::Slice { poll } => {
            c.handle_bytes(piece);
            poll
        }
        Feed::Owned { poll } => {
            let mut buf = c.read_buffer(piece.len());
            buf.extend_from_slice(piece);
            c.handle_bytes_owned(buf);
            poll
        }
    };
    if poll {
        while let Some(e) = c.poll_event() {
            got.push(e);
        }
    }
}

/// Hands `wire` over in pieces of the sizes and ways of `cuts`, taken in
/// turn; the events polled on the way.
fn feed_in_cuts(c: &mut Connection, wire: &[u8], cuts: &[(usize, Feed)]) -> Vec<Event> {
    let mut got = Vec::new();
    let mut rest = wire;
    for &(size, how) in cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, after) = rest.split_at(size.min(rest.len()));
        hand_over(c, piece, how, &mut got);
        rest = after;
    }
    got
}

proptest! {
    #[test]
    fn a_binary_frame_fed_any_way_is_unmasked_exactly_once(
        len in prop_oneof![1usize..300, 60_000usize..140_000],
        seed in any::<u8>(),
        cuts in prop::collection::vec((1usize..40_000, feed()), 1..24),
    ) {
        let first = payload(len, seed);
        let second = payload(len / 3 + 1, seed.wrapping_add(1));
        let mut wire = peer_frame(Role::Server, true, op::BINARY, &first);
        wire.extend_from_slice(&peer_frame(Role::Server, true, op::BINARY, &second));
        wire.extend_from_slice(&peer_frame(Role::Server, true, op::TEXT, b"after"));

        let mut c = server();
        let mut got = feed_in_cuts(&mut c, &wire, &cuts);
        while let Some(e) = c.poll_event() {
            got.push(e);
        }
        prop_assert_eq!(
            got,
            vec![
                Event::Message(Message::binary(first)),
                Event::Message(Message::binary(second)),
                Event::Message(Message::text("after")),
            ]
        );
    }
}

/// The case the property found first when the check that everything
/// buffered is already unmasked was left out: a frame's start taken by a
/// poll, more of it handed over in a buffer (not unmasked yet), then the
/// rest as a slice with no poll in between.
#[test]
fn bytes_handed_over_in_a_buffer_then_a_slice_without_a_poll() {
    let data = payload(100_000, 7);
    let wire = peer_frame(Role::Server, true, op::BINARY, &data);
    let mut c = server();
    let mut got = Vec::new();
    hand_over(&mut c, &wire[..1_000], Feed::Slice { poll: true }, &mut got);
    assert!(got.is_empty());
    hand_over(&mut c, &wire[1_000..50_000], Feed::Owned { poll: false }, &mut got);
    hand_over(&mut c, &wire[50_000..], Feed::Slice { poll: true }, &mut got);
    assert_eq!(got, vec![Event::Message(Message::binary(data))]);
}

/// What goes into the middle of a mostly ASCII text.
fn insert() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just("é".as_bytes().to_vec()),
        Just("中".as_bytes().to_vec()),
        Just("🎉".as_bytes().to_vec()),
        Just(vec![0x80]),
        Just(vec![0xff]),
        Just(vec![0xc3]),
        Just(vec![0xed, 0xa0, 0x80]),
    ]
}

proptest! {
    #[test]
    fn fragmented_text_is_valid_exactly_when_std_says_so(
        ascii in prop::collection::vec(0x20u8..0x7f, 0..3000),
        at in any::<prop::sample::Index>(),
        extra in insert(),
        sizes in prop::collection::vec(1usize..700, 1..12),
        cuts in prop::collection::vec((1usize..5_000, feed()), 1..8),
    ) {
        let mut text = ascii;
        let at = at.index(text.len() + 1);
        text.splice(at..at, extra);
        // The text's fragments, sizes taken in turn; the last one is FIN.
        let mut bytes = Vec::new();
        let mut rest = &text[..];
        let mut first = true;
        for &size in sizes.iter().cycle() {
            let (piece, after) = rest.split_at(size.min(rest.len()));
            let fin = after.is_empty();
            bytes.extend_from_slice(&peer_frame(Role::Server, fin, if first { op::TEXT } else { op::CONT }, piece));
            first = false;
            rest = after;
            if fin {
                break;
            }
        }
        let mut c = server();
        let mut got = feed_in_cuts(&mut c, &bytes, &cuts);
        let outs = drain(&mut c);
        got.extend(events(&outs));
        match std::str::from_utf8(&text) {
            Ok(valid) => prop_assert_eq!(got, vec![Event::Message(Message::text(valid.to_owned()))]),
            Err(_) => {
                prop_assert_eq!(wire(&outs), own_frame(Role::Server, true, op::CLOSE, &close_body(1007, "")));
                let end = closed(&outs).map(|c| c.error);
                prop_assert_eq!(end, Some(Some(ConnectionError::Protocol(ProtocolError::InvalidUtf8))));
            }
        }
    }
}
