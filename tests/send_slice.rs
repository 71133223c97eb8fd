//! `send_binary_slice` / `send_text_str`: a message copied from a borrowed
//! slice must behave exactly as the same message handed over as `Bytes`:
//! the same bytes on the wire (frames, fragments, masks, compression), the
//! same `buffered_amount`, the same errors, for both roles.

mod common;

use common::{FixedMask, drain, frame, wire, with_config};
use proptest::prelude::*;
use wsmachine::{Bytes, Config, Connection, MessageKind, ReadyState, Role, SendError};

/// One send, through either surface.
fn send(conn: &mut Connection, borrowed: bool, text: bool, payload: &str) -> Result<(), SendError> {
    match (borrowed, text) {
        (true, true) => conn.send_text_str(payload),
        (true, false) => conn.send_binary_slice(payload.as_bytes()),
        (false, true) => conn.send_text(payload.to_owned()),
        (false, false) => conn.send_binary(Bytes::copy_from_slice(payload.as_bytes())),
    }
}

/// With `deflate`, permessage-deflate compressing messages of at least that
/// many bytes.
fn config(fragment: Option<usize>, high_water: Option<usize>, deflate: Option<usize>) -> Config {
    let c = Config::default().with_fragment_size(fragment).with_send_water_marks(high_water, 0);
    #[cfg(feature = "deflate")]
    if let Some(threshold) = deflate {
        return c.with_deflate(Some(wsmachine::DeflateConfig::default().with_threshold(threshold)));
    }
    let _ = deflate;
    c
}

/// A pair of connections with the same configuration and keys; with
/// `deflate`, both run the permessage-deflate agreed by default, with that
/// threshold.
fn twins(
    role: Role,
    fragment: Option<usize>,
    high_water: Option<usize>,
    deflate: Option<usize>,
) -> (Connection, Connection) {
    let make = || {
        let conn =
            Connection::new_open(role, config(fragment, high_water, deflate), FixedMask([0x37, 0xfa, 0x21, 0x3d]));
        #[cfg(feature = "deflate")]
        if deflate.is_some() {
            let agreed = [wsmachine::handshake::ExtensionOffer::new("permessage-deflate")];
            return conn.with_extensions(&agreed).expect("permessage-deflate agreed");
        }
        conn
    };
    (make(), make())
}

#[test]
fn a_client_text_is_the_masked_frame_of_rfc_6455_5_7() {
    // §5.7: a single-frame masked text message containing "Hello".
    let mut conn = with_config(Role::Client, Config::default());
    conn.send_text_str("Hello").unwrap();
    assert_eq!(conn.buffered_amount(), 5);
    assert_eq!(wire(&drain(&mut conn)), [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
}

#[test]
fn a_server_copies_a_large_slice_once_and_sends_it_whole() {
    let mut conn = with_config(Role::Server, Config::default());
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    conn.send_binary_slice(&payload).unwrap();
    assert_eq!(conn.buffered_amount(), payload.len());
    assert_eq!(wire(&drain(&mut conn)), frame(true, 0, 0x2, None, &payload));
}

#[test]
fn the_same_errors_as_send() {
    // Not open yet.
    let mut conn = Connection::server(Config::default());
    assert!(matches!(conn.send_binary_slice(b"x"), Err(SendError::NotOpen(ReadyState::Connecting))));
    assert!(matches!(conn.send_text_str("x"), Err(SendError::NotOpen(ReadyState::Connecting))));
    // A message sent in pieces is unfinished.
    let mut conn = with_config(Role::Server, Config::default());
    conn.begin_message(MessageKind::Binary).unwrap();
    assert!(matches!(conn.send_binary_slice(b"x"), Err(SendError::StreamInProgress)));
    assert!(matches!(conn.send_text_str("x"), Err(SendError::StreamInProgress)));
    // Over the high-water mark (something is queued): nothing is queued.
    let mut conn = with_config(Role::Server, Config::default().with_send_water_marks(Some(10), 0));
    conn.send_binary_slice(b"12345678").unwrap();
    let before = conn.queued_bytes();
    assert!(matches!(conn.send_binary_slice(b"12345678"), Err(SendError::Full { .. })));
    assert_eq!(conn.queued_bytes(), before);
    // Closed.
    conn.close(Some(1000u16.into()), "").unwrap();
    assert!(matches!(conn.send_text_str("x"), Err(SendError::NotOpen(ReadyState::Closing))));
}

/// Sends each message (text or not, the payload, whether to drain the
/// wire after it) through both surfaces of twin connections: the same
/// result, `buffered_amount` and `queued_bytes` after each, the same bytes at
/// each drain and at the end.
fn same_sends(
    client: bool,
    fragment: Option<usize>,
    high_water: Option<usize>,
    deflate: Option<usize>,
    messages: impl IntoIterator<Item = (bool, String, bool)>,
) -> Result<(), TestCaseError> {
    let role = if client { Role::Client } else { Role::Server };
    let (mut owned, mut borrowed) = twins(role, fragment, high_water, deflate);
    for (text, payload, drain_after) in messages {
        let a = send(&mut owned, false, text, &payload);
        let b = send(&mut borrowed, true, text, &payload);
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        prop_assert_eq!(owned.buffered_amount(), borrowed.buffered_amount());
        prop_assert_eq!(owned.queued_bytes(), borrowed.queued_bytes());
        if drain_after {
            prop_assert_eq!(wire(&drain(&mut owned)), wire(&drain(&mut borrowed)));
        }
    }
    prop_assert_eq!(wire(&drain(&mut owned)), wire(&drain(&mut borrowed)));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn borrowed_and_owned_sends_are_indistinguishable(
        client in any::<bool>(),
        deflate in any::<bool>(),
        fragment in prop::option::of(1usize..3000),
        high_water in prop::option::of(1usize..20_000),
        messages in prop::collection::vec((any::<bool>(), "\\PC{0,40}", 0usize..5000), 1..12),
    ) {
        // Lengths around 125, 126, 1024 and 65535 come from the repeat.
        let messages = messages.into_iter().map(|(text, seed, repeat)| {
            let payload: String = seed.chars().cycle().take(if seed.is_empty() { 0 } else { repeat }).collect();
            (text, payload, repeat % 3 == 0)
        });
        same_sends(client, fragment, high_water, deflate.then_some(128), messages)?;
    }

    /// Short messages (the slice's fast path, up to 125 bytes) against
    /// fragment sizes, marks and compression thresholds at their scale: each
    /// condition that sends them down the general path instead is met often.
    #[test]
    fn short_borrowed_and_owned_sends_are_indistinguishable(
        client in any::<bool>(),
        deflate in prop::option::of(0usize..140),
        fragment in prop::option::of(1usize..140),
        high_water in prop::option::of(1usize..400),
        messages in prop::collection::vec((any::<bool>(), "[a-z\\u{e9}\\u{1f600}]{0,130}"), 1..24),
    ) {
        let messages = messages.into_iter().enumerate().map(|(i, (text, payload))| (text, payload, i % 4 == 3));
        same_sends(client, fragment, high_water, deflate, messages)?;
    }
}
