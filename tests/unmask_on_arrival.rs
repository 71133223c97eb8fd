//! A masked binary frame held until it completes is unmasked as its bytes
//! are appended from a slice (`handle_bytes`, `read_from`), in the same
//! pass as the copy, and in place for bytes handed over in a buffer
//! (`handle_bytes_owned`). Whatever the mix of the two, the split of the
//! reads and whether the driver polls between them, every byte is unmasked
//! exactly once, at its phase of the key: the messages arrive intact, and
//! so does whatever follows the frame in the same read.

mod common;

use common::*;
use proptest::prelude::*;
use wsmachine::{Connection, Event, Message, Role};

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
        let mut got = Vec::new();
        let mut rest = &wire[..];
        for &(size, how) in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, after) = rest.split_at(size.min(rest.len()));
            hand_over(&mut c, piece, how, &mut got);
            rest = after;
        }
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
