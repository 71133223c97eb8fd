//! Failing the WebSocket connection (RFC 6455 §7.1.7): one test per
//! `ProtocolError` variant, in each role where it applies.
//!
//! Every failure must put exactly this on the output queue, after whatever
//! the valid input before the fault produced: our Close frame with the
//! error's code (unless we had already sent a Close), `CloseTransport`, and
//! `Closed { code: 1006, reason: "", was_clean: false, error }` last. The
//! connection is then CLOSED and deaf: later bytes, EOF and commands
//! produce nothing.
mod common;
use common::*;
use wsmachine::{
    CloseCode, Config, Connection, ConnectionError, Event, Message, ProtocolError, ReadyState, Role, SendError,
};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// The Close frame `role` writes when it fails the connection with `code`.
fn failing_close(role: Role, code: u16) -> Vec<u8> {
    own_frame(role, true, op::CLOSE, &code.to_be_bytes())
}

/// What a failure produces after `before`: the Close with the error's code,
/// `CloseTransport`, then `Closed(1006)` carrying the error.
fn failure_outputs(role: Role, before: Vec<Out>, error: &ProtocolError) -> Vec<Out> {
    let mut expected = outs(before);
    merge_into(
        &mut expected,
        [
            Out::Wire(failing_close(role, error.close_code().as_u16())),
            Out::CloseTransport,
            closed_out(1006, "", false, Some(ConnectionError::Protocol(error.clone()))),
        ],
    );
    expected
}

/// A failed connection is CLOSED and ignores everything that follows.
#[track_caller]
fn assert_dead(conn: &mut Connection) {
    let role = conn.role();
    assert_eq!(conn.ready_state(), ReadyState::Closed);
    let mut later = peer_frame(role, true, op::TEXT, b"later");
    later.extend(peer_frame(role, true, op::PING, b"p"));
    later.extend(peer_frame(role, true, op::CLOSE, &close_body(1000, "")));
    conn.handle_bytes(&later);
    conn.handle_bytes_owned(wsmachine::BytesMut::from(&later[..]));
    conn.handle_eof();
    assert_eq!(conn.close(Some(CloseCode::NORMAL), "again"), Ok(()));
    assert_eq!(conn.send_text("late"), Err(SendError::NotOpen(ReadyState::Closed)));
    assert_eq!(conn.ping(&b"p"[..]), Err(SendError::NotOpen(ReadyState::Closed)));
    assert_eq!(conn.pong(&b"p"[..]), Err(SendError::NotOpen(ReadyState::Closed)));
    assert_eq!(drain(conn), vec![], "a failed connection produced output");
    assert_eq!(conn.ready_state(), ReadyState::Closed);
}

/// Feeds `input` (one read) to a fresh connection and asserts it was failed
/// with `error` and nothing before it.
#[track_caller]
fn assert_fails(role: Role, config: Config, input: &[u8], error: ProtocolError) {
    let mut c = with_config(role, config);
    c.handle_bytes(input);
    let got = drain(&mut c);
    assert_eq!(got, failure_outputs(role, vec![], &error), "{role:?} fed {input:02x?}");
    assert_closed_once_last(&got);
    assert_dead(&mut c);
}

fn protocol(e: ProtocolError) -> Option<ConnectionError> {
    Some(ConnectionError::Protocol(e))
}

// ---------------------------------------------------------------------------
// Masking (§5.1)
// ---------------------------------------------------------------------------

#[test]
fn server_fails_unmasked_client_frame_with_1002() {
    let mut s = server();
    s.handle_bytes(&sframe(true, op::TEXT, b"Hi"));
    assert_eq!(
        drain(&mut s),
        vec![
            Out::Wire(vec![0x88, 0x02, 0x03, 0xea]),
            Out::CloseTransport,
            closed_out(1006, "", false, protocol(ProtocolError::UnmaskedClientFrame)),
        ]
    );
    assert_eq!(ProtocolError::UnmaskedClientFrame.close_code(), CloseCode::PROTOCOL_ERROR);
    assert_dead(&mut s);
}

#[test]
fn server_fails_unmasked_client_frame_from_its_second_byte() {
    // The MASK bit is in the second byte: no length or payload is needed.
    assert_fails(Role::Server, Config::default(), &[0x81, 0x05], ProtocolError::UnmaskedClientFrame);
    // Control frames must be masked too.
    assert_fails(Role::Server, Config::default(), &sframe(true, op::PING, b""), ProtocolError::UnmaskedClientFrame);
    assert_fails(
        Role::Server,
        Config::default(),
        &sframe(true, op::CLOSE, &close_body(1000, "")),
        ProtocolError::UnmaskedClientFrame,
    );
}

#[test]
fn client_fails_masked_server_frame_with_masked_1002() {
    let mut c = client();
    c.handle_bytes(&cframe(true, op::TEXT, b"Hi"));
    assert_eq!(
        drain(&mut c),
        vec![
            // 03 ea masked with 37 fa: 34 10.
            Out::Wire(vec![0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x10]),
            Out::CloseTransport,
            closed_out(1006, "", false, protocol(ProtocolError::MaskedServerFrame)),
        ]
    );
    assert_eq!(ProtocolError::MaskedServerFrame.close_code(), CloseCode::PROTOCOL_ERROR);
    assert_dead(&mut c);
    assert_fails(Role::Client, Config::default(), &[0x82, 0x80], ProtocolError::MaskedServerFrame);
    assert_fails(Role::Client, Config::default(), &cframe(true, op::PONG, b""), ProtocolError::MaskedServerFrame);
}

// ---------------------------------------------------------------------------
// Reserved bits and opcodes (§5.2, §5.8)
// ---------------------------------------------------------------------------

#[test]
fn reserved_bits_without_extension_fail_with_1002() {
    for role in ROLES {
        for rsv in 1..=7u8 {
            for opcode in [op::TEXT, op::BINARY, op::CONT, op::PING, op::CLOSE] {
                let f = peer_frame_rsv(role, true, rsv, opcode, b"x");
                assert_fails(role, Config::default(), &f, ProtocolError::ReservedBits(rsv));
                // The bits are in the first byte: it alone fails.
                assert_fails(role, Config::default(), &f[..1], ProtocolError::ReservedBits(rsv));
            }
        }
    }
    assert_eq!(ProtocolError::ReservedBits(0b100).close_code(), CloseCode::PROTOCOL_ERROR);
    // RSV1 on a server-bound text frame, byte-exact.
    let mut s = server();
    s.handle_bytes(&[0xC1, 0x80, 1, 2, 3, 4]);
    assert_eq!(
        drain(&mut s),
        vec![
            Out::Wire(vec![0x88, 0x02, 0x03, 0xea]),
            Out::CloseTransport,
            closed_out(1006, "", false, protocol(ProtocolError::ReservedBits(0b100))),
        ]
    );
}

#[test]
fn reserved_opcodes_fail_at_the_first_byte() {
    for role in ROLES {
        for opcode in (0x3..=0x7).chain(0xB..=0xF) {
            let f = peer_frame(role, true, opcode, b"payload");
            assert_fails(role, Config::default(), &f, ProtocolError::ReservedOpcode(opcode));
            assert_fails(role, Config::default(), &f[..1], ProtocolError::ReservedOpcode(opcode));
            // FIN clear as well.
            assert_fails(role, Config::default(), &[opcode], ProtocolError::ReservedOpcode(opcode));
        }
    }
    assert_eq!(ProtocolError::ReservedOpcode(0xB).close_code(), CloseCode::PROTOCOL_ERROR);
}

// ---------------------------------------------------------------------------
// Control frames (§5.5)
// ---------------------------------------------------------------------------

#[test]
fn control_frame_over_125_bytes_fails_at_its_length_byte() {
    for role in ROLES {
        for opcode in [op::CLOSE, op::PING, op::PONG] {
            // 126 bytes in the 16-bit form: the 7-bit length 126 already says too long.
            let f = peer_frame(role, true, opcode, &[b'a'; 126]);
            assert_eq!(f[1] & 0x7F, 126);
            assert_fails(role, Config::default(), &f, ProtocolError::ControlFrameTooLong(126));
            assert_fails(role, Config::default(), &f[..2], ProtocolError::ControlFrameTooLong(126));
            // The 64-bit form (reported by its 7-bit marker, 127).
            let f = peer_frame(role, true, opcode, &[b'a'; 70_000]);
            assert_eq!(f[1] & 0x7F, 127);
            assert_fails(role, Config::default(), &f[..2], ProtocolError::ControlFrameTooLong(127));
        }
    }
    assert_eq!(ProtocolError::ControlFrameTooLong(126).close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn control_frame_of_exactly_125_bytes_is_accepted() {
    for role in ROLES {
        let mut c = conn(role);
        let payload = [b'z'; 125];
        c.handle_bytes(&peer_frame(role, true, op::PING, &payload));
        assert_eq!(
            drain(&mut c),
            vec![Out::Wire(own_frame(role, true, op::PONG, &payload)), Out::Event(Event::Ping(bytes(&payload)))]
        );
        assert_eq!(c.ready_state(), ReadyState::Open);
    }
}

#[test]
fn fragmented_control_frame_fails_with_1002() {
    for role in ROLES {
        for opcode in [op::CLOSE, op::PING, op::PONG] {
            let f = peer_frame(role, false, opcode, &close_body(1000, ""));
            assert_fails(role, Config::default(), &f, ProtocolError::FragmentedControlFrame);
            // FIN is in the first byte.
            assert_fails(role, Config::default(), &f[..1], ProtocolError::FragmentedControlFrame);
        }
    }
    assert_eq!(ProtocolError::FragmentedControlFrame.close_code(), CloseCode::PROTOCOL_ERROR);
}

// ---------------------------------------------------------------------------
// Fragmentation (§5.4)
// ---------------------------------------------------------------------------

#[test]
fn continuation_without_a_message_in_progress_fails() {
    for role in ROLES {
        for fin in [true, false] {
            let f = peer_frame(role, fin, op::CONT, b"lo");
            assert_fails(role, Config::default(), &f, ProtocolError::UnexpectedContinuation);
        }
        // Right after a complete message: the message is delivered, then the failure.
        let mut c = conn(role);
        let mut input = peer_frame(role, true, op::TEXT, b"Hel");
        input.extend(peer_frame(role, true, op::CONT, b"lo"));
        c.handle_bytes(&input);
        let e = ProtocolError::UnexpectedContinuation;
        assert_eq!(drain(&mut c), failure_outputs(role, vec![Out::Event(Event::Message(Message::text("Hel")))], &e));
        assert_dead(&mut c);
    }
    assert_eq!(ProtocolError::UnexpectedContinuation.close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn continuation_fails_at_its_header_before_its_payload() {
    for role in ROLES {
        let f = peer_frame(role, true, op::CONT, &[b'x'; 50]);
        let header = if role == Role::Server { 6 } else { 2 };
        assert_fails(role, Config::default(), &f[..header], ProtocolError::UnexpectedContinuation);
    }
}

#[test]
fn new_data_frame_inside_a_fragmented_message_fails() {
    for role in ROLES {
        for (first, second) in
            [(op::TEXT, op::TEXT), (op::TEXT, op::BINARY), (op::BINARY, op::TEXT), (op::BINARY, op::BINARY)]
        {
            for fin in [true, false] {
                let mut c = conn(role);
                c.handle_bytes(&peer_frame(role, false, first, b"part"));
                assert_eq!(drain(&mut c), vec![]);
                c.handle_bytes(&peer_frame(role, fin, second, b"new"));
                let e = ProtocolError::ExpectedContinuation;
                // The partial message is never delivered.
                assert_eq!(drain(&mut c), failure_outputs(role, vec![], &e));
                assert_dead(&mut c);
            }
        }
    }
    assert_eq!(ProtocolError::ExpectedContinuation.close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn control_frames_between_fragments_do_not_break_the_message() {
    // The positive counterpart of the two tests above (§5.4).
    for role in ROLES {
        let mut c = conn(role);
        let mut input = peer_frame(role, false, op::TEXT, b"Hel");
        input.extend(peer_frame(role, true, op::PING, b"p"));
        input.extend(peer_frame(role, true, op::PONG, b"q"));
        input.extend(peer_frame(role, true, op::CONT, b"lo"));
        c.handle_bytes(&input);
        assert_eq!(
            drain(&mut c),
            vec![
                Out::Wire(own_frame(role, true, op::PONG, b"p")),
                Out::Event(Event::Ping(bytes(b"p"))),
                Out::Event(Event::Pong(bytes(b"q"))),
                Out::Event(Event::Message(Message::text("Hello"))),
            ]
        );
    }
}

// ---------------------------------------------------------------------------
// Payload length (§5.2)
// ---------------------------------------------------------------------------

/// A header with an explicit length field, as the peer of `receiver` sends
/// it (with a mask key, no payload).
fn raw_header(receiver: Role, b0: u8, len7: u8, ext: &[u8]) -> Vec<u8> {
    let mask_bit = if receiver == Role::Server { 0x80 } else { 0 };
    let mut h = vec![b0, mask_bit | len7];
    h.extend_from_slice(ext);
    if receiver == Role::Server {
        h.extend_from_slice(&RFC_KEY);
    }
    h
}

#[test]
fn length_with_most_significant_bit_set_fails() {
    for role in ROLES {
        for ext in [[0x80, 0, 0, 0, 0, 0, 0, 0], [0xFF; 8], [0x80, 0, 0, 0, 0, 0, 0, 0x7D]] {
            let h = raw_header(role, 0x82, 127, &ext);
            assert_fails(role, Config::default(), &h, ProtocolError::InvalidLength);
            // Known from the length bytes alone, before any mask key.
            assert_fails(role, Config::default(), &h[..10], ProtocolError::InvalidLength);
        }
    }
    assert_eq!(ProtocolError::InvalidLength.close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn non_minimal_16_bit_length_fails() {
    for role in ROLES {
        for len in [0u16, 1, 125] {
            let h = raw_header(role, 0x82, 126, &len.to_be_bytes());
            assert_fails(role, Config::default(), &h[..4], ProtocolError::NonMinimalLength(u64::from(len)));
            assert_fails(role, Config::default(), &h, ProtocolError::NonMinimalLength(u64::from(len)));
        }
    }
    assert_eq!(ProtocolError::NonMinimalLength(125).close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn non_minimal_64_bit_length_fails() {
    for role in ROLES {
        for len in [0u64, 125, 126, 0xFFFF] {
            let h = raw_header(role, 0x82, 127, &len.to_be_bytes());
            assert_fails(role, Config::default(), &h[..10], ProtocolError::NonMinimalLength(len));
            assert_fails(role, Config::default(), &h, ProtocolError::NonMinimalLength(len));
        }
    }
    assert_eq!(ProtocolError::NonMinimalLength(0xFFFF).close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn minimal_lengths_at_the_boundaries_are_accepted() {
    for role in ROLES {
        for len in [125usize, 126, 0xFFFF, 0x10000] {
            let payload = vec![7u8; len];
            let mut c = conn(role);
            c.handle_bytes(&peer_frame(role, true, op::BINARY, &payload));
            assert_eq!(drain(&mut c), vec![Out::Event(Event::Message(Message::binary(payload)))]);
        }
    }
}

// ---------------------------------------------------------------------------
// UTF-8 (§8.1): 1007, as soon as the text is known to be invalid
// ---------------------------------------------------------------------------

#[test]
fn invalid_utf8_in_a_single_text_frame_fails_with_1007() {
    let mut s = server();
    s.handle_bytes(&cframe(true, op::TEXT, &[0xff]));
    assert_eq!(
        drain(&mut s),
        vec![
            Out::Wire(vec![0x88, 0x02, 0x03, 0xef]),
            Out::CloseTransport,
            closed_out(1006, "", false, protocol(ProtocolError::InvalidUtf8)),
        ]
    );
    assert_dead(&mut s);
    let mut c = client();
    c.handle_bytes(&sframe(true, op::TEXT, &[0xff]));
    // 03 ef masked with 37 fa: 34 15.
    assert_eq!(
        drain(&mut c),
        vec![
            Out::Wire(vec![0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x15]),
            Out::CloseTransport,
            closed_out(1006, "", false, protocol(ProtocolError::InvalidUtf8)),
        ]
    );
    assert_dead(&mut c);
    assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
    for role in ROLES {
        for bad in
            [&b"\xc0\xaf"[..], b"a\x80", b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xed\xbf\xbf", b"\xe0\x80\xaf"]
        {
            assert_fails(role, Config::default(), &peer_frame(role, true, op::TEXT, bad), ProtocolError::InvalidUtf8);
        }
    }
}

#[test]
fn invalid_utf8_across_fragments_fails() {
    for role in ROLES {
        let mut c = conn(role);
        // "ab" then the lead byte of a 2-byte sequence: a valid prefix so far.
        c.handle_bytes(&peer_frame(role, false, op::TEXT, b"ab\xce"));
        assert_eq!(drain(&mut c), vec![]);
        assert_eq!(c.ready_state(), ReadyState::Open);
        // A control frame between the fragments keeps the validator's state.
        c.handle_bytes(&peer_frame(role, true, op::PONG, b""));
        assert_eq!(drain(&mut c), vec![Out::Event(Event::Pong(bytes(b"")))]);
        // 'A' cannot continue 0xce.
        c.handle_bytes(&peer_frame(role, false, op::CONT, b"A"));
        assert_eq!(drain(&mut c), failure_outputs(role, vec![], &ProtocolError::InvalidUtf8));
        assert_dead(&mut c);
    }
}

#[test]
fn code_point_split_across_fragments_is_valid() {
    for role in ROLES {
        let mut c = conn(role);
        let mut input = peer_frame(role, false, op::TEXT, b"ab\xe2");
        input.extend(peer_frame(role, false, op::CONT, b"\x82"));
        input.extend(peer_frame(role, true, op::CONT, b"\xac!"));
        c.handle_bytes(&input);
        assert_eq!(drain(&mut c), vec![Out::Event(Event::Message(Message::text("ab€!")))]);
    }
}

#[test]
fn invalid_utf8_fails_before_the_frame_is_complete() {
    for role in ROLES {
        let whole = peer_frame(role, true, op::TEXT, &[b"ok\xc0".as_slice(), &[b'x'; 97]].concat());
        let header = if role == Role::Server { 6 } else { 2 };
        let mut c = conn(role);
        // The header and "ok": nothing yet.
        c.handle_bytes(&whole[..header + 2]);
        assert_eq!(drain(&mut c), vec![]);
        // 0xc0 can start no code point: failed without the other 97 bytes.
        c.handle_bytes(&whole[header + 2..header + 3]);
        assert_eq!(drain(&mut c), failure_outputs(role, vec![], &ProtocolError::InvalidUtf8));
        c.handle_bytes(&whole[header + 3..]);
        assert_dead(&mut c);
    }
}

/// κόσμε followed by the UTF-16 surrogate U+D800 (ed a0 80), then "edited"
/// (RFC 6455 §5.7-style bytes; Autobahn case 6.4.x).
const KOSME_SURROGATE: &[u8] = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";

#[test]
fn surrogate_in_text_fails_with_1007() {
    for role in ROLES {
        assert_fails(
            role,
            Config::default(),
            &peer_frame(role, true, op::TEXT, KOSME_SURROGATE),
            ProtocolError::InvalidUtf8,
        );
    }
}

#[test]
fn surrogate_fails_at_its_second_byte_fed_byte_by_byte() {
    for role in ROLES {
        let whole = peer_frame(role, true, op::TEXT, KOSME_SURROGATE);
        let header = whole.len() - KOSME_SURROGATE.len();
        // 0xed alone may start U+D000..U+D7FF; 0xed 0xa0 can only be a surrogate.
        let a0 = header + KOSME_SURROGATE.iter().position(|&b| b == 0xa0).unwrap();
        let mut c = conn(role);
        for (i, b) in whole.iter().enumerate() {
            c.handle_bytes(&[*b]);
            let got = drain(&mut c);
            if i < a0 {
                assert_eq!(got, vec![], "{role:?}: output at byte {i}");
            } else if i == a0 {
                assert_eq!(got, failure_outputs(role, vec![], &ProtocolError::InvalidUtf8), "{role:?} at byte {i}");
            } else {
                assert_eq!(got, vec![], "{role:?}: output after the failure at byte {i}");
            }
        }
        assert_dead(&mut c);
    }
}

#[test]
fn surrogate_split_across_fragments_fails_at_once() {
    for role in ROLES {
        let (head, tail) = KOSME_SURROGATE.split_at(12); // ... 0xed | 0xa0 0x80 ...
        assert_eq!(head.last(), Some(&0xed));
        let mut c = conn(role);
        c.handle_bytes(&peer_frame(role, false, op::TEXT, head));
        assert_eq!(drain(&mut c), vec![]);
        c.handle_bytes(&peer_frame(role, true, op::CONT, tail));
        assert_eq!(drain(&mut c), failure_outputs(role, vec![], &ProtocolError::InvalidUtf8));
        assert_dead(&mut c);
    }
}

#[test]
fn text_message_ending_mid_code_point_fails() {
    for role in ROLES {
        // One frame.
        for bad in [&b"a\xce"[..], b"\xe2\x82", b"\xf0\x9f\x98"] {
            assert_fails(role, Config::default(), &peer_frame(role, true, op::TEXT, bad), ProtocolError::InvalidUtf8);
        }
        // Fragments whose final one is empty.
        let mut c = conn(role);
        let mut input = peer_frame(role, false, op::TEXT, b"a\xe2\x82");
        input.extend(peer_frame(role, true, op::CONT, b""));
        c.handle_bytes(&input);
        assert_eq!(drain(&mut c), failure_outputs(role, vec![], &ProtocolError::InvalidUtf8));
        assert_dead(&mut c);
    }
}

#[test]
fn binary_messages_are_not_checked_for_utf8() {
    for role in ROLES {
        let mut c = conn(role);
        c.handle_bytes(&peer_frame(role, true, op::BINARY, KOSME_SURROGATE));
        assert_eq!(drain(&mut c), vec![Out::Event(Event::Message(Message::binary(KOSME_SURROGATE.to_vec())))]);
    }
}

// ---------------------------------------------------------------------------
// Close frames (§5.5.1, §7.4)
// ---------------------------------------------------------------------------

#[test]
fn close_with_a_one_byte_payload_fails_with_1002() {
    for role in ROLES {
        for body in [[0x03], [0xe8], [0x00]] {
            assert_fails(
                role,
                Config::default(),
                &peer_frame(role, true, op::CLOSE, &body),
                ProtocolError::InvalidClosePayload,
            );
        }
    }
    assert_eq!(ProtocolError::InvalidClosePayload.close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn close_with_an_invalid_code_fails_with_1002_and_is_not_echoed() {
    for role in ROLES {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            for reason in ["", "why"] {
                assert_fails(
                    role,
                    Config::default(),
                    &peer_frame(role, true, op::CLOSE, &close_body(code, reason)),
                    ProtocolError::InvalidCloseCode(code),
                );
            }
        }
    }
    assert_eq!(ProtocolError::InvalidCloseCode(1005).close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn close_with_invalid_utf8_reason_fails_with_1007() {
    for role in ROLES {
        for reason in [&b"\xff"[..], b"ok\xc0", b"\xed\xa0\x80", b"cut\xe2\x82"] {
            let mut body = close_body(1000, "");
            body.extend_from_slice(reason);
            assert_fails(
                role,
                Config::default(),
                &peer_frame(role, true, op::CLOSE, &body),
                ProtocolError::InvalidCloseReason,
            );
        }
    }
    assert_eq!(ProtocolError::InvalidCloseReason.close_code(), CloseCode::INVALID_PAYLOAD);
    // Byte-exact: a server fails with 1007.
    let mut s = server();
    s.handle_bytes(&cframe(true, op::CLOSE, b"\x03\xe8\xff"));
    assert_eq!(
        drain(&mut s),
        vec![
            Out::Wire(vec![0x88, 0x02, 0x03, 0xef]),
            Out::CloseTransport,
            closed_out(1006, "", false, protocol(ProtocolError::InvalidCloseReason)),
        ]
    );
}

// ---------------------------------------------------------------------------
// Limits (§10.4): 1009
// ---------------------------------------------------------------------------

#[test]
fn frame_over_max_frame_size_fails_at_its_header() {
    for role in ROLES {
        // 7-bit length: two bytes are enough (the server does not wait for the mask key).
        let config = Config::default().with_max_frame_size(100);
        let e = ProtocolError::FrameTooLarge { size: 101, max: 100 };
        assert_fails(role, config.clone(), &raw_header(role, 0x82, 101, &[])[..2], e.clone());
        // 16-bit length: four bytes.
        let config = Config::default().with_max_frame_size(1000);
        let e = ProtocolError::FrameTooLarge { size: 1001, max: 1000 };
        assert_fails(role, config, &raw_header(role, 0x81, 126, &1001u16.to_be_bytes())[..4], e);
        // 64-bit length over the default 1 MiB: ten bytes.
        let size = (1u64 << 20) + 1;
        let e = ProtocolError::FrameTooLarge { size, max: 1 << 20 };
        assert_fails(role, Config::default(), &raw_header(role, 0x82, 127, &size.to_be_bytes())[..10], e);
        // A continuation frame too.
        let config = Config::default().with_max_frame_size(10);
        let mut c = with_config(role, config);
        c.handle_bytes(&peer_frame(role, false, op::BINARY, b"0123456789"));
        c.handle_bytes(&raw_header(role, 0x80, 11, &[])[..2]);
        let e = ProtocolError::FrameTooLarge { size: 11, max: 10 };
        assert_eq!(drain(&mut c), failure_outputs(role, vec![], &e));
        assert_dead(&mut c);
    }
    // Byte-exact 1009 from a server.
    let mut s = with_config(Role::Server, Config::default().with_max_frame_size(100));
    s.handle_bytes(&[0x82, 0x80 | 101]);
    assert_eq!(
        drain(&mut s),
        vec![
            Out::Wire(vec![0x88, 0x02, 0x03, 0xf1]),
            Out::CloseTransport,
            closed_out(1006, "", false, protocol(ProtocolError::FrameTooLarge { size: 101, max: 100 })),
        ]
    );
    assert_eq!(ProtocolError::FrameTooLarge { size: 101, max: 100 }.close_code(), CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn frame_of_exactly_max_frame_size_is_accepted() {
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_max_frame_size(100));
        c.handle_bytes(&peer_frame(role, true, op::BINARY, &[1; 100]));
        assert_eq!(drain(&mut c), vec![Out::Event(Event::Message(Message::binary(vec![1; 100])))]);
    }
}

#[test]
fn message_over_max_message_size_fails_at_the_crossing_fragment() {
    for role in ROLES {
        let config = Config::default().with_max_message_size(10);
        let mut c = with_config(role, config);
        c.handle_bytes(&peer_frame(role, false, op::TEXT, b"012345"));
        assert_eq!(drain(&mut c), vec![]);
        let second = peer_frame(role, true, op::CONT, b"6789A");
        // Only the header of the fragment that brings the total to 11.
        let header = second.len() - 5;
        c.handle_bytes(&second[..header]);
        let e = ProtocolError::MessageTooLarge { size: 11, max: 10 };
        assert_eq!(drain(&mut c), failure_outputs(role, vec![], &e));
        assert_dead(&mut c);

        // A single frame over the message limit but under the frame limit.
        let e = ProtocolError::MessageTooLarge { size: 11, max: 10 };
        assert_fails(
            role,
            Config::default().with_max_message_size(10),
            &peer_frame(role, true, op::BINARY, &[0; 11]),
            e,
        );
    }
    assert_eq!(ProtocolError::MessageTooLarge { size: 11, max: 10 }.close_code(), CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn message_of_exactly_max_message_size_is_accepted() {
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_max_message_size(10));
        let mut input = peer_frame(role, false, op::TEXT, b"012345");
        input.extend(peer_frame(role, true, op::PING, b""));
        input.extend(peer_frame(role, true, op::CONT, b"6789"));
        c.handle_bytes(&input);
        assert_eq!(
            drain(&mut c),
            vec![
                Out::Wire(own_frame(role, true, op::PONG, b"")),
                Out::Event(Event::Ping(bytes(b""))),
                Out::Event(Event::Message(Message::text("0123456789"))),
            ]
        );
    }
}

// ---------------------------------------------------------------------------
// What surrounds a failure
// ---------------------------------------------------------------------------

#[test]
fn outputs_before_the_fault_in_the_same_read_come_first() {
    for role in ROLES {
        let mut c = conn(role);
        let mut input = peer_frame(role, true, op::TEXT, b"a");
        input.extend(peer_frame(role, true, op::PING, b"p"));
        input.extend(peer_frame(role, true, op::PONG, b"q"));
        input.extend(peer_frame(role, true, 0x3, b"bad"));
        input.extend(peer_frame(role, true, op::TEXT, b"after the fault"));
        c.handle_bytes(&input);
        let e = ProtocolError::ReservedOpcode(0x3);
        let got = drain(&mut c);
        assert_eq!(
            got,
            failure_outputs(
                role,
                vec![
                    Out::Event(Event::Message(Message::text("a"))),
                    Out::Wire(own_frame(role, true, op::PONG, b"p")),
                    Out::Event(Event::Ping(bytes(b"p"))),
                    Out::Event(Event::Pong(bytes(b"q"))),
                ],
                &e
            )
        );
        assert_closed_once_last(&got);
        assert_dead(&mut c);
    }
}

#[test]
fn failing_after_our_close_was_sent_sends_no_second_close() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(Some(CloseCode::NORMAL), "bye").unwrap();
        assert_eq!(drain(&mut c), vec![Out::Wire(own_frame(role, true, op::CLOSE, &close_body(1000, "bye")))]);
        c.handle_bytes(&peer_frame(role, true, op::TEXT, b"\xff"));
        assert_eq!(
            drain(&mut c),
            vec![Out::CloseTransport, closed_out(1006, "", false, protocol(ProtocolError::InvalidUtf8))]
        );
        assert_dead(&mut c);
    }
}

#[test]
fn failing_with_our_close_queued_but_not_polled_sends_only_that_close() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(Some(CloseCode::GOING_AWAY), "").unwrap();
        c.handle_bytes(&peer_frame(role, true, op::PING, &[0; 126]));
        let got = drain(&mut c);
        assert_eq!(
            got,
            vec![
                Out::Wire(own_frame(role, true, op::CLOSE, &close_body(1001, ""))),
                Out::CloseTransport,
                closed_out(1006, "", false, protocol(ProtocolError::ControlFrameTooLong(126))),
            ]
        );
        assert_eq!(parse_frames(&wire(&got)).len(), 1);
        assert_dead(&mut c);
    }
}

#[test]
fn failure_after_the_peer_close_cannot_happen_because_input_stopped() {
    // A client that received the server's Close waits for EOF; garbage that
    // follows is not read, so the close stays clean.
    let mut c = client();
    let mut input = sframe(true, op::CLOSE, &close_body(1000, ""));
    input.extend_from_slice(&[0xff, 0xff, 0xff]);
    c.handle_bytes(&input);
    assert_eq!(
        drain(&mut c),
        vec![
            Out::Wire(cframe(true, op::CLOSE, &close_body(1000, ""))),
            Out::Event(Event::Closing(wsmachine::CloseFrame { code: CloseCode::NORMAL, reason: String::new() })),
        ]
    );
    c.handle_bytes(&[0x83, 0x00]);
    assert_eq!(drain(&mut c), vec![]);
    c.handle_eof();
    let end = drain(&mut c);
    assert_eq!(end, vec![Out::CloseTransport, closed_out(1000, "", true, None)]);
    assert_closed_once_last(&end);
}

#[test]
fn failure_is_the_same_when_fed_through_handle_bytes_owned() {
    for role in ROLES {
        let mut c = conn(role);
        c.handle_bytes_owned(wsmachine::BytesMut::from(&peer_frame(role, true, op::TEXT, b"\xce\xba\xff")[..]));
        assert_eq!(drain(&mut c), failure_outputs(role, vec![], &ProtocolError::InvalidUtf8));
        assert_dead(&mut c);
    }
}

#[test]
fn every_variant_maps_to_its_close_code() {
    use ProtocolError as P;
    let cases = [
        (P::UnmaskedClientFrame, 1002),
        (P::MaskedServerFrame, 1002),
        (P::ReservedBits(1), 1002),
        (P::ReservedOpcode(3), 1002),
        (P::ControlFrameTooLong(126), 1002),
        (P::FragmentedControlFrame, 1002),
        (P::UnexpectedContinuation, 1002),
        (P::ExpectedContinuation, 1002),
        (P::InvalidLength, 1002),
        (P::NonMinimalLength(1), 1002),
        (P::InvalidUtf8, 1007),
        (P::InvalidClosePayload, 1002),
        (P::InvalidCloseCode(0), 1002),
        (P::InvalidCloseReason, 1007),
        (P::FrameTooLarge { size: 2, max: 1 }, 1009),
        (P::MessageTooLarge { size: 2, max: 1 }, 1009),
    ];
    for (e, code) in cases {
        assert_eq!(e.close_code(), code, "{e:?}");
        assert!(e.close_code().is_sendable(), "{e:?}");
    }
}
