//! The closing handshake (RFC 6455 §5.5.1, §7; WHATWG `close()`), Ping and
//! Pong (§5.5.2, §5.5.3), with exact wire bytes and exact event sequences.
//!
//! Every scenario records the whole output history of each connection in a
//! `History` and checks the lifetime rule on it: `Closed` comes exactly once
//! and is the last output, after at most one `CloseTransport`.
mod common;
use common::*;
use wsmachine::{
    BrowserCloseError, CloseCode, CloseError, CloseFrame, Config, Connection, Event, Message, Output, ReadyState, Role,
    SendError,
};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

fn message(text: &'static str) -> Out {
    Out::Event(Event::Message(Message::text(text)))
}

/// Every way a command could queue something while not OPEN.
#[track_caller]
fn assert_commands_refused(c: &mut Connection, state: ReadyState) {
    assert_eq!(c.send_text("x"), Err(SendError::NotOpen(state)));
    assert_eq!(c.send_binary(vec![1u8]), Err(SendError::NotOpen(state)));
    assert_eq!(c.send(Message::text("x")), Err(SendError::NotOpen(state)));
    assert_eq!(c.ping(&b"p"[..]), Err(SendError::NotOpen(state)));
    assert_eq!(c.pong(&b"p"[..]), Err(SendError::NotOpen(state)));
    assert_eq!(c.buffered_amount(), 0);
}

fn utf8_reason(unit: &str, count: usize, tail: &str) -> String {
    let mut s = unit.repeat(count);
    s.push_str(tail);
    s
}

// ---------------------------------------------------------------------------
// close(): argument checks
// ---------------------------------------------------------------------------

#[test]
fn close_rejects_unsendable_codes_and_queues_nothing() {
    for role in ROLES {
        for code in [0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1999, 2000, 2999, 5000, 65535] {
            let mut c = conn(role);
            assert_eq!(c.close(Some(CloseCode::new(code)), ""), Err(CloseError::InvalidCode(code)));
            assert_eq!(c.close(Some(CloseCode::new(code)), "reason"), Err(CloseError::InvalidCode(code)));
            assert_eq!(drain(&mut c), vec![]);
            assert_eq!(c.ready_state(), ReadyState::Open);
            // Nothing was half done: a valid close still works.
            c.close(Some(CloseCode::NORMAL), "").unwrap();
            assert_eq!(drain(&mut c), vec![Out::Wire(our_close(role, Some(1000), ""))]);
        }
    }
}

#[test]
fn close_accepts_every_code_a_server_needs() {
    for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
        let mut s = server();
        s.close(Some(CloseCode::new(code)), "").unwrap();
        let [hi, lo] = code.to_be_bytes();
        assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x88, 0x02, hi, lo])]);
        assert_eq!(s.ready_state(), ReadyState::Closing);
    }
}

#[test]
fn close_rejects_a_reason_of_124_bytes_and_accepts_123() {
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(c.close(Some(CloseCode::NORMAL), &"r".repeat(124)), Err(CloseError::ReasonTooLong(124)));
        assert_eq!(c.close(None, &"r".repeat(124)), Err(CloseError::ReasonTooLong(124)));
        assert_eq!(c.close(Some(CloseCode::NORMAL), &"r".repeat(1000)), Err(CloseError::ReasonTooLong(1000)));
        assert_eq!(drain(&mut c), vec![]);
        assert_eq!(c.ready_state(), ReadyState::Open);
        let reason = "r".repeat(123);
        c.close(Some(CloseCode::NORMAL), &reason).unwrap();
        assert_eq!(drain(&mut c), vec![Out::Wire(our_close(role, Some(1000), &reason))]);
    }
    // Byte-exact from a server: 125-byte payload, the 7-bit length 0x7d.
    let mut s = server();
    s.close(Some(CloseCode::NORMAL), &"r".repeat(123)).unwrap();
    let w = wire(&drain(&mut s));
    assert_eq!(&w[..4], &[0x88, 0x7d, 0x03, 0xe8]);
    assert_eq!(&w[4..], "r".repeat(123).as_bytes());
}

#[test]
fn close_counts_the_reason_in_utf8_bytes() {
    // (reason, accepted?) — characters of 2, 3 and 4 bytes across the 123-byte line.
    let cases = [
        (utf8_reason("é", 61, "a"), true),   // 61 chars + 1 = 123 bytes
        (utf8_reason("é", 62, ""), false),   // 62 chars, 124 bytes
        (utf8_reason("€", 41, ""), true),    // 123 bytes
        (utf8_reason("€", 41, "a"), false),  // 124 bytes
        (utf8_reason("𝄞", 30, "abc"), true), // 123 bytes
        (utf8_reason("𝄞", 31, ""), false),   // 124 bytes
        (utf8_reason("a", 122, "é"), false), // 124 bytes, the last char crossing the line
        (utf8_reason("a", 121, "é"), true),  // 123 bytes
    ];
    for role in ROLES {
        for (reason, ok) in &cases {
            let mut c = conn(role);
            let got = c.close(Some(CloseCode::NORMAL), reason);
            if *ok {
                assert_eq!(reason.len(), 123);
                assert_eq!(got, Ok(()));
                assert_eq!(drain(&mut c), vec![Out::Wire(our_close(role, Some(1000), reason))]);
            } else {
                assert_eq!(reason.len(), 124);
                assert!(reason.chars().count() < 124);
                assert_eq!(got, Err(CloseError::ReasonTooLong(124)));
                assert_eq!(drain(&mut c), vec![]);
            }
        }
    }
}

#[test]
fn close_checks_its_arguments_even_when_closing_or_closed_code_first() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        for state in [ReadyState::Closing, ReadyState::Closed] {
            assert_eq!(c.ready_state(), state);
            let long = "x".repeat(124);
            assert_eq!(c.close(Some(CloseCode::NO_STATUS_RCVD), ""), Err(CloseError::InvalidCode(1005)));
            assert_eq!(c.close(Some(CloseCode::NORMAL), &long), Err(CloseError::ReasonTooLong(124)));
            assert_eq!(c.close(None, &long), Err(CloseError::ReasonTooLong(124)));
            // WHATWG order: the code is checked before the reason.
            assert_eq!(c.close(Some(CloseCode::RESERVED), &long), Err(CloseError::InvalidCode(1004)));
            assert_eq!(c.close(Some(CloseCode::NORMAL), "fine"), Ok(()));
            assert_eq!(h.drain(&mut c), vec![]);
            // Move on to CLOSED.
            c.handle_bytes(&peer_close(role, Some(1000), ""));
            c.handle_eof();
            h.drain(&mut c);
        }
        h.assert_closed_once_last();
    }
}

#[test]
fn close_code_is_checked_before_the_reason_when_open() {
    let mut s = server();
    assert_eq!(s.close(Some(CloseCode::new(999)), &"x".repeat(200)), Err(CloseError::InvalidCode(999)));
}

// ---------------------------------------------------------------------------
// browser_close(): WHATWG close() exactly
// ---------------------------------------------------------------------------

#[test]
fn browser_close_throws_invalid_access_error_for_codes_other_than_1000_and_3000_to_4999() {
    for role in ROLES {
        for code in [0u16, 999, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 2999, 5000, 65535] {
            let mut c = conn(role);
            assert_eq!(c.browser_close(Some(code), None), Err(BrowserCloseError::InvalidAccessError(code)));
            assert_eq!(c.browser_close(Some(code), Some("r")), Err(BrowserCloseError::InvalidAccessError(code)));
            // The code is checked first.
            assert_eq!(
                c.browser_close(Some(code), Some(&"r".repeat(124))),
                Err(BrowserCloseError::InvalidAccessError(code))
            );
            assert_eq!(drain(&mut c), vec![]);
            assert_eq!(c.ready_state(), ReadyState::Open);
        }
    }
}

#[test]
fn browser_close_throws_syntax_error_for_a_reason_over_123_bytes() {
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(c.browser_close(Some(1000), Some(&"r".repeat(124))), Err(BrowserCloseError::SyntaxError(124)));
        assert_eq!(c.browser_close(None, Some(&"r".repeat(124))), Err(BrowserCloseError::SyntaxError(124)));
        assert_eq!(
            c.browser_close(Some(3000), Some(&utf8_reason("é", 62, ""))),
            Err(BrowserCloseError::SyntaxError(124))
        );
        assert_eq!(drain(&mut c), vec![]);
        assert_eq!(c.ready_state(), ReadyState::Open);
    }
}

#[test]
fn browser_close_accepts_1000_3000_and_4999() {
    for (code, hi, lo) in [(1000u16, 0x03, 0xe8), (3000, 0x0b, 0xb8), (4999, 0x13, 0x87)] {
        let mut s = server();
        s.browser_close(Some(code), None).unwrap();
        assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x88, 0x02, hi, lo])]);
        assert_eq!(s.ready_state(), ReadyState::Closing);
        let mut c = client();
        c.browser_close(Some(code), Some("x")).unwrap();
        assert_eq!(drain(&mut c), vec![Out::Wire(cframe(true, op::CLOSE, &[hi, lo, b'x']))]);
    }
}

#[test]
fn browser_close_without_a_code_sends_a_close_without_a_body() {
    for reason in [None, Some(""), Some("a reason without a code")] {
        let mut s = server();
        s.browser_close(None, reason).unwrap();
        assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x88, 0x00])]);
        let mut c = client();
        c.browser_close(None, reason).unwrap();
        assert_eq!(drain(&mut c), vec![Out::Wire(vec![0x88, 0x80, 0x37, 0xfa, 0x21, 0x3d])]);
    }
}

#[test]
fn browser_close_checks_its_arguments_even_when_closing_or_closed() {
    let mut s = server();
    s.browser_close(None, None).unwrap();
    let mut h = History::new();
    h.drain(&mut s);
    assert_eq!(s.browser_close(Some(1001), None), Err(BrowserCloseError::InvalidAccessError(1001)));
    assert_eq!(s.browser_close(None, Some(&"x".repeat(124))), Err(BrowserCloseError::SyntaxError(124)));
    assert_eq!(s.browser_close(Some(1000), None), Ok(()));
    assert_eq!(h.drain(&mut s), vec![]);
    s.handle_eof();
    h.drain(&mut s);
    assert_eq!(s.ready_state(), ReadyState::Closed);
    assert_eq!(s.browser_close(Some(2999), Some("x")), Err(BrowserCloseError::InvalidAccessError(2999)));
    assert_eq!(s.browser_close(Some(4000), Some(&"x".repeat(124))), Err(BrowserCloseError::SyntaxError(124)));
    assert_eq!(s.browser_close(Some(4000), Some("x")), Ok(()));
    assert_eq!(h.drain(&mut s), vec![]);
    h.assert_closed_once_last();
}

// ---------------------------------------------------------------------------
// close(): what goes on the wire
// ---------------------------------------------------------------------------

#[test]
fn close_without_a_code_sends_an_empty_close_frame() {
    let mut s = server();
    s.close(None, "").unwrap();
    assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x88, 0x00])]);
    assert_eq!(s.ready_state(), ReadyState::Closing);
    let mut c = client();
    c.close(None, "").unwrap();
    assert_eq!(drain(&mut c), vec![Out::Wire(vec![0x88, 0x80, 0x37, 0xfa, 0x21, 0x3d])]);
    assert_eq!(c.ready_state(), ReadyState::Closing);
}

#[test]
fn close_with_a_reason_but_no_code_sends_no_body() {
    // WHATWG: the reason goes in the Close frame only after a code.
    let mut s = server();
    s.close(None, "reason").unwrap();
    assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x88, 0x00])]);
    let mut c = client();
    c.close(None, "reason").unwrap();
    assert_eq!(drain(&mut c), vec![Out::Wire(vec![0x88, 0x80, 0x37, 0xfa, 0x21, 0x3d])]);
}

#[test]
fn close_with_code_and_reason_sends_both() {
    let mut s = server();
    s.close(Some(CloseCode::NORMAL), "bye").unwrap();
    assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x88, 0x05, 0x03, 0xe8, 0x62, 0x79, 0x65])]);
    let mut c = client();
    c.close(Some(CloseCode::NORMAL), "bye").unwrap();
    // 03 e8 62 79 65 masked with 37 fa 21 3d.
    assert_eq!(drain(&mut c), vec![Out::Wire(vec![0x88, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x12, 0x43, 0x44, 0x52])]);
}

#[test]
fn close_keeps_every_message_queued_before_it_in_order_and_nothing_after() {
    for role in ROLES {
        let mut c = conn(role);
        c.send_text("one").unwrap();
        c.send_binary(vec![1u8, 2, 3]).unwrap();
        c.ping(&b"p"[..]).unwrap();
        c.pong(&b"q"[..]).unwrap();
        c.send(Message::text("two")).unwrap();
        c.close(Some(CloseCode::NORMAL), "bye").unwrap();
        assert_eq!(c.ready_state(), ReadyState::Closing);
        assert_commands_refused_keeping_queue(&mut c);
        // Nothing else is queued by the refused commands.
        assert_eq!(c.close(Some(CloseCode::GOING_AWAY), "again"), Ok(()));
        let expected = [
            own_frame(role, true, op::TEXT, b"one"),
            own_frame(role, true, op::BINARY, &[1, 2, 3]),
            own_frame(role, true, op::PING, b"p"),
            own_frame(role, true, op::PONG, b"q"),
            own_frame(role, true, op::TEXT, b"two"),
            our_close(role, Some(1000), "bye"),
        ]
        .concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected)]);
        assert_eq!(drain(&mut c), vec![]);
        assert_commands_refused_keeping_queue(&mut c);
        assert_eq!(drain(&mut c), vec![]);
    }
}

/// The refusals of [`assert_commands_refused`] while messages are still
/// queued (so `buffered_amount` is not 0).
#[track_caller]
/// After our Close no data may follow it (§5.5.1); control frames may
/// until the peer's Close comes (see
/// `ping_and_pong_are_allowed_after_our_close_until_the_peers`).
fn assert_commands_refused_keeping_queue(c: &mut Connection) {
    let (before, queued) = (c.buffered_amount(), c.queued_bytes());
    assert_eq!(c.send_text("late"), Err(SendError::NotOpen(ReadyState::Closing)));
    assert_eq!(c.send_binary(vec![9u8]), Err(SendError::NotOpen(ReadyState::Closing)));
    assert_eq!(c.begin_message(wsmachine::MessageKind::Text), Err(SendError::NotOpen(ReadyState::Closing)));
    assert_eq!((c.buffered_amount(), c.queued_bytes()), (before, queued));
}

#[test]
fn close_keeps_a_large_queued_message_and_every_fragment() {
    // A server's large payload goes out without a copy; it still precedes the Close.
    let payload = vec![0x5a; 2000];
    let mut s = server();
    s.send_binary(payload.clone()).unwrap();
    s.close(None, "").unwrap();
    let mut expected = vec![0x82, 0x7e, 0x07, 0xd0];
    expected.extend_from_slice(&payload);
    expected.extend_from_slice(&[0x88, 0x00]);
    assert_eq!(wire(&drain(&mut s)), expected);

    for role in ROLES {
        let mut c = with_config(role, Config::default().with_fragment_size(Some(2)));
        c.send_text("hello").unwrap();
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        let expected = [
            own_frame(role, false, op::TEXT, b"he"),
            own_frame(role, false, op::CONT, b"ll"),
            own_frame(role, true, op::CONT, b"o"),
            our_close(role, Some(1000), ""),
        ]
        .concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected)]);
    }
}

#[test]
fn buffered_amount_counts_queued_payload_until_polled() {
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(c.buffered_amount(), 0);
        c.send_text("hello").unwrap();
        assert_eq!(c.buffered_amount(), 5);
        c.send_binary(vec![0u8; 3]).unwrap();
        assert_eq!(c.buffered_amount(), 8);
        // Control frames and framing are not counted.
        c.ping(&b"12345"[..]).unwrap();
        c.pong(&b"12345"[..]).unwrap();
        assert_eq!(c.buffered_amount(), 8);
        c.close(Some(CloseCode::NORMAL), "bye").unwrap();
        assert_eq!(c.buffered_amount(), 8);
        let expected = [
            own_frame(role, true, op::TEXT, b"hello"),
            own_frame(role, true, op::BINARY, &[0; 3]),
            own_frame(role, true, op::PING, b"12345"),
            own_frame(role, true, op::PONG, b"12345"),
            our_close(role, Some(1000), "bye"),
        ]
        .concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected)]);
        assert_eq!(c.buffered_amount(), 0);
    }
}

#[test]
fn buffered_amount_drops_as_each_payload_is_polled() {
    let mut s = server();
    s.send_binary(vec![1u8; 2000]).unwrap();
    s.send_text("abc").unwrap();
    assert_eq!(s.buffered_amount(), 2003);
    let mut seen = vec![s.buffered_amount()];
    while s.poll_output().is_some() {
        seen.push(s.buffered_amount());
    }
    // The 2000-byte payload is sent apart from its header: header (2000 left),
    // payload (3 left), the small frame (0 left).
    assert_eq!(seen, vec![2003, 2003, 3, 0]);
}

#[test]
fn close_in_closing_or_closed_does_nothing() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        assert_eq!(h.drain(&mut c), vec![Out::Wire(our_close(role, Some(1000), ""))]);
        for code in [None, Some(CloseCode::NORMAL), Some(CloseCode::GOING_AWAY)] {
            assert_eq!(c.close(code, "again"), Ok(()));
            assert_eq!(c.browser_close(Some(1000), Some("again")), Ok(()));
            assert_eq!(h.drain(&mut c), vec![]);
            assert_eq!(c.ready_state(), ReadyState::Closing);
        }
        c.handle_eof();
        h.drain(&mut c);
        assert_eq!(c.ready_state(), ReadyState::Closed);
        for code in [None, Some(CloseCode::NORMAL)] {
            assert_eq!(c.close(code, "again"), Ok(()));
            assert_eq!(c.browser_close(None, None), Ok(()));
            assert_eq!(h.drain(&mut c), vec![]);
        }
        assert_eq!(h.assert_closed_once_last().code, 1006);
    }
}

#[test]
fn close_after_the_peer_started_closing_does_nothing() {
    let mut c = client();
    let mut h = History::new();
    c.handle_bytes(&sframe(true, op::CLOSE, &close_body(1001, "")));
    assert_eq!(h.drain(&mut c), vec![Out::Wire(our_close(Role::Client, Some(1001), "")), closing(1001, "")]);
    assert_eq!(c.close(Some(CloseCode::NORMAL), "mine"), Ok(()));
    assert_eq!(h.drain(&mut c), vec![]);
    c.handle_eof();
    assert_eq!(h.drain(&mut c), clean_end(1001, ""));
    h.assert_closed_once_last();
}

// ---------------------------------------------------------------------------
// Who closes first
// ---------------------------------------------------------------------------

#[test]
fn server_closes_first_and_closes_transport_when_client_close_arrives() {
    let mut s = server();
    let mut h = History::new();
    s.close(Some(CloseCode::NORMAL), "bye").unwrap();
    assert_eq!(s.ready_state(), ReadyState::Closing);
    assert_eq!(h.drain(&mut s), vec![Out::Wire(vec![0x88, 0x05, 0x03, 0xe8, 0x62, 0x79, 0x65])]);
    s.handle_bytes(&cframe(true, op::CLOSE, &close_body(1001, "bye too")));
    // No Closing event (we started), no second Close; the code is the client's.
    assert_eq!(h.drain(&mut s), clean_end(1001, "bye too"));
    assert_eq!(s.ready_state(), ReadyState::Closed);
    h.assert_closed_once_last();
    s.handle_eof();
    assert_eq!(h.drain(&mut s), vec![]);
}

#[test]
fn server_closes_first_and_client_replies_without_a_code() {
    let mut s = server();
    let mut h = History::new();
    s.close(Some(CloseCode::GOING_AWAY), "").unwrap();
    h.drain(&mut s);
    s.handle_bytes(&cframe(true, op::CLOSE, b""));
    assert_eq!(h.drain(&mut s), clean_end(1005, ""));
    h.assert_closed_once_last();
}

#[test]
fn client_closes_first_and_waits_for_the_server_to_close_the_transport() {
    let mut c = client();
    let mut h = History::new();
    c.close(Some(CloseCode::NORMAL), "bye").unwrap();
    assert_eq!(h.drain(&mut c), vec![Out::Wire(cframe(true, op::CLOSE, &close_body(1000, "bye")))]);
    assert_eq!(c.ready_state(), ReadyState::Closing);
    // The server's echo: §7.1.1, the client waits for the server to close TCP.
    c.handle_bytes(&sframe(true, op::CLOSE, &close_body(1000, "bye")));
    assert_eq!(h.drain(&mut c), vec![]);
    assert_eq!(c.ready_state(), ReadyState::Closing);
    assert_commands_refused(&mut c, ReadyState::Closing);
    c.handle_eof();
    assert_eq!(h.drain(&mut c), clean_end(1000, "bye"));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    h.assert_closed_once_last();
}

#[test]
fn server_echoes_close_then_closes_transport() {
    let mut s = server();
    let mut h = History::new();
    s.handle_bytes(&cframe(true, op::CLOSE, &close_body(1001, "going")));
    assert_eq!(
        h.drain(&mut s),
        vec![
            Out::Wire(vec![0x88, 0x07, 0x03, 0xe9, b'g', b'o', b'i', b'n', b'g']),
            closing(1001, "going"),
            Out::CloseTransport,
            closed_out(1001, "going", true, None),
        ]
    );
    assert_eq!(s.ready_state(), ReadyState::Closed);
    h.assert_closed_once_last();
}

#[test]
fn client_echoes_close_and_waits_for_eof() {
    let mut c = client();
    let mut h = History::new();
    c.handle_bytes(&sframe(true, op::CLOSE, &close_body(4000, "app")));
    assert_eq!(
        h.drain(&mut c),
        vec![Out::Wire(cframe(true, op::CLOSE, &close_body(4000, "app"))), closing(4000, "app")]
    );
    assert_eq!(c.ready_state(), ReadyState::Closing);
    assert_commands_refused(&mut c, ReadyState::Closing);
    c.handle_eof();
    assert_eq!(h.drain(&mut c), clean_end(4000, "app"));
    h.assert_closed_once_last();
}

#[test]
fn close_without_a_code_is_echoed_without_a_body_and_reported_as_1005() {
    let mut s = server();
    let mut h = History::new();
    s.handle_bytes(&cframe(true, op::CLOSE, b""));
    assert_eq!(
        h.drain(&mut s),
        vec![Out::Wire(vec![0x88, 0x00]), closing(1005, ""), Out::CloseTransport, closed_out(1005, "", true, None)]
    );
    h.assert_closed_once_last();

    let mut c = client();
    let mut h = History::new();
    c.handle_bytes(&[0x88, 0x00]);
    assert_eq!(h.drain(&mut c), vec![Out::Wire(vec![0x88, 0x80, 0x37, 0xfa, 0x21, 0x3d]), closing(1005, "")]);
    c.handle_eof();
    assert_eq!(h.drain(&mut c), clean_end(1005, ""));
    h.assert_closed_once_last();
}

#[test]
fn echo_carries_the_code_and_a_123_byte_reason_unchanged() {
    let reason = utf8_reason("€", 41, "");
    for role in ROLES {
        for code in [1000u16, 1002, 1011, 1014, 3000, 4999] {
            let mut c = conn(role);
            let mut h = History::new();
            c.handle_bytes(&peer_close(role, Some(code), &reason));
            let mut expected = vec![Out::Wire(our_close(role, Some(code), &reason)), closing(code, &reason)];
            if role == Role::Client {
                assert_eq!(h.drain(&mut c), expected);
                c.handle_eof();
                expected = vec![];
            }
            expected.extend([Out::CloseTransport, closed_out(code, &reason, true, None)]);
            assert_eq!(h.drain(&mut c), expected);
            h.assert_closed_once_last();
        }
    }
}

#[test]
fn close_split_across_reads_is_handled_once_complete() {
    for role in ROLES {
        let f = peer_close(role, Some(1000), "split");
        let mut c = conn(role);
        let mut h = History::new();
        for (i, b) in f.iter().enumerate() {
            c.handle_bytes(&[*b]);
            if i + 1 < f.len() {
                assert_eq!(h.drain(&mut c), vec![], "output before the Close is complete");
                assert_eq!(c.ready_state(), ReadyState::Open);
            }
        }
        h.drain(&mut c);
        c.handle_eof();
        h.drain(&mut c);
        h.assert_whole(&echoed_close(role, Some(1000), "split"));
    }
}

// ---------------------------------------------------------------------------
// Transport lost (§7.1.5, §7.2)
// ---------------------------------------------------------------------------

#[test]
fn eof_while_open_is_an_abnormal_1006_closure() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.handle_eof();
        assert_eq!(h.drain(&mut c), abnormal_end());
        assert_eq!(c.ready_state(), ReadyState::Closed);
        assert_commands_refused(&mut c, ReadyState::Closed);
        c.handle_eof();
        c.handle_bytes(&peer_frame(role, true, op::TEXT, b"x"));
        assert_eq!(h.drain(&mut c), vec![]);
        h.assert_closed_once_last();
    }
}

#[test]
fn eof_after_our_close_but_before_theirs_is_abnormal() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.close(Some(CloseCode::NORMAL), "bye").unwrap();
        h.drain(&mut c);
        c.handle_eof();
        assert_eq!(h.drain(&mut c), abnormal_end());
        h.assert_closed_once_last();
    }
}

#[test]
fn eof_mid_frame_is_abnormal_and_delivers_nothing() {
    for role in ROLES {
        let f = peer_frame(role, true, op::TEXT, b"incomplete");
        for cut in [1, 2, f.len() - 1] {
            let mut c = conn(role);
            let mut h = History::new();
            c.handle_bytes(&f[..cut]);
            c.handle_eof();
            assert_eq!(h.drain(&mut c), abnormal_end());
            h.assert_closed_once_last();
        }
    }
}

#[test]
fn eof_mid_fragmented_message_is_abnormal_and_delivers_nothing() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.handle_bytes(&peer_frame(role, false, op::BINARY, b"first half"));
        c.handle_eof();
        assert_eq!(h.drain(&mut c), abnormal_end());
        h.assert_closed_once_last();
    }
}

#[test]
fn eof_with_our_close_still_queued_keeps_it_before_close_transport() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.send_text("last").unwrap();
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        c.handle_eof();
        assert_eq!(
            h.drain(&mut c),
            vec![
                Out::Wire([own_frame(role, true, op::TEXT, b"last"), our_close(role, Some(1000), "")].concat()),
                Out::CloseTransport,
                closed_out(1006, "", false, None),
            ]
        );
        h.assert_closed_once_last();
    }
}

// ---------------------------------------------------------------------------
// Close inside a fragmented message
// ---------------------------------------------------------------------------

#[test]
fn close_inside_a_fragmented_message_drops_the_partial_message() {
    for role in ROLES {
        for same_read in [true, false] {
            let mut c = conn(role);
            let mut h = History::new();
            let reads = [
                peer_frame(role, false, op::TEXT, b"Hel"),
                peer_close(role, Some(1000), ""),
                peer_frame(role, true, op::CONT, b"lo"),
            ];
            if same_read {
                c.handle_bytes(&reads.concat());
            } else {
                for r in &reads {
                    c.handle_bytes(r);
                }
            }
            c.handle_eof();
            h.drain(&mut c);
            h.assert_whole(&echoed_close(role, Some(1000), ""));
        }
    }
}

// ---------------------------------------------------------------------------
// Both sides close at once (§5.5.1 last paragraph)
// ---------------------------------------------------------------------------

#[test]
fn simultaneous_close_in_a_pair_ends_clean_on_both_sides_with_the_peer_code() {
    let mut p = Pair::new(Config::default());
    p.client.close(Some(CloseCode::NORMAL), "client").unwrap();
    p.server.close(Some(CloseCode::GOING_AWAY), "server").unwrap();
    p.drive();
    assert_eq!(p.client_events, vec![clean_closed(1001, "server")]);
    assert_eq!(p.server_events, vec![clean_closed(1000, "client")]);
    assert!(p.server_transport_closed);
    assert!(p.client_transport_closed);
    assert_eq!(p.client.ready_state(), ReadyState::Closed);
    assert_eq!(p.server.ready_state(), ReadyState::Closed);
}

#[test]
fn simultaneous_close_sends_no_second_close_on_either_side() {
    let mut s = server();
    let mut c = client();
    let (mut hs, mut hc) = (History::new(), History::new());
    s.close(Some(CloseCode::GOING_AWAY), "s").unwrap();
    c.close(Some(CloseCode::NORMAL), "c").unwrap();
    let s_wire = wire(&hs.drain(&mut s));
    let c_wire = wire(&hc.drain(&mut c));
    assert_eq!(s_wire, sframe(true, op::CLOSE, &close_body(1001, "s")));
    assert_eq!(c_wire, cframe(true, op::CLOSE, &close_body(1000, "c")));
    // The Close frames cross.
    s.handle_bytes(&c_wire);
    c.handle_bytes(&s_wire);
    assert_eq!(hs.drain(&mut s), clean_end(1000, "c"));
    // The client has sent and received a Close; it waits for the server's TCP close.
    assert_eq!(hc.drain(&mut c), vec![]);
    assert_eq!(c.ready_state(), ReadyState::Closing);
    c.handle_eof();
    assert_eq!(hc.drain(&mut c), clean_end(1001, "s"));
    hs.assert_closed_once_last();
    hc.assert_closed_once_last();
}

// ---------------------------------------------------------------------------
// Data around the peer's Close
// ---------------------------------------------------------------------------

#[test]
fn data_after_the_peer_close_in_the_same_read_is_never_delivered() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        let input = [
            peer_frame(role, true, op::TEXT, b"before"),
            peer_close(role, Some(1000), "done"),
            peer_frame(role, true, op::TEXT, b"after"),
            peer_frame(role, true, op::PING, b"ping after"),
            peer_frame(role, true, op::BINARY, b"after"),
            vec![0xff, 0xff], // not even a valid frame
        ]
        .concat();
        c.handle_bytes(&input);
        let mut expected =
            vec![message("before"), Out::Wire(our_close(role, Some(1000), "done")), closing(1000, "done")];
        if role == Role::Server {
            expected.extend([Out::CloseTransport, closed_out(1000, "done", true, None)]);
        }
        assert_eq!(h.drain(&mut c), expected);
        c.handle_eof();
        h.drain(&mut c);
        let closed = h.assert_closed_once_last();
        assert_eq!((closed.code.as_u16(), closed.was_clean), (1000, true));
    }
}

#[test]
fn data_after_the_peer_close_in_later_reads_is_never_delivered() {
    // The client is the one that stays in CLOSING, waiting for EOF.
    let mut c = client();
    let mut h = History::new();
    c.handle_bytes(&sframe(true, op::CLOSE, &close_body(1000, "")));
    h.drain(&mut c);
    for later in [
        sframe(true, op::TEXT, b"later"),
        sframe(true, op::PING, b"later"),
        sframe(true, op::CLOSE, &close_body(1001, "again")),
        cframe(true, op::TEXT, b"masked: would fail if read"),
    ] {
        c.handle_bytes(&later);
        c.handle_bytes_owned(wsmachine::BytesMut::from(&later[..]));
        assert_eq!(h.drain(&mut c), vec![]);
    }
    c.handle_eof();
    assert_eq!(h.drain(&mut c), clean_end(1000, ""));
    h.assert_closed_once_last();
}

#[test]
fn data_after_our_close_before_theirs_is_still_delivered() {
    // The peer may finish what it was sending (§5.5.1); the engine delivers
    // it, in both roles, and still answers its Pings (§5.5.2: a Pong is a
    // control frame, allowed after our Close until the peer's).
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        h.drain(&mut c);
        let input = [
            peer_frame(role, true, op::TEXT, b"late"),
            peer_frame(role, true, op::BINARY, &[1, 2]),
            peer_frame(role, true, op::PING, b"p"),
            peer_frame(role, true, op::PONG, b"q"),
        ]
        .concat();
        c.handle_bytes(&input);
        let expected = vec![
            message("late"),
            Out::Event(Event::Message(Message::binary(vec![1u8, 2]))),
            Out::Wire(own_frame(role, true, op::PONG, b"p")),
            Out::Event(Event::Ping(bytes(b"p"))),
            Out::Event(Event::Pong(bytes(b"q"))),
        ];
        assert_eq!(h.drain(&mut c), expected);
        // Byte by byte: the same.
        let mut d = conn(role);
        d.close(Some(CloseCode::NORMAL), "").unwrap();
        drain(&mut d);
        let mut split = Vec::new();
        for b in &input {
            d.handle_bytes(&[*b]);
            merge_into(&mut split, drain(&mut d));
        }
        assert_eq!(split, expected);

        c.handle_bytes(&peer_close(role, Some(1000), ""));
        c.handle_eof();
        let mut tail = vec![];
        merge_into(&mut tail, h.drain(&mut c));
        assert_eq!(tail, clean_end(1000, ""));
        h.assert_closed_once_last();
    }
}

#[test]
fn fragmented_message_started_before_our_close_is_completed_after_it() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.handle_bytes(&peer_frame(role, false, op::TEXT, b"Hel"));
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        c.handle_bytes(&peer_frame(role, true, op::CONT, b"lo"));
        assert_eq!(h.drain(&mut c), vec![Out::Wire(our_close(role, Some(1000), "")), message("Hello")]);
        c.handle_bytes(&peer_close(role, Some(1000), ""));
        c.handle_eof();
        h.drain(&mut c);
        assert!(h.assert_closed_once_last().was_clean);
    }
}

#[test]
fn messages_before_the_peer_close_in_the_same_read_are_delivered_first() {
    let mut s = server();
    let mut h = History::new();
    let input = [
        cframe(true, op::TEXT, b"a"),
        cframe(false, op::BINARY, b"b"),
        cframe(true, op::CONT, b"c"),
        cframe(true, op::CLOSE, &close_body(1000, "")),
    ]
    .concat();
    s.handle_bytes(&input);
    assert_eq!(
        h.drain(&mut s),
        vec![
            message("a"),
            Out::Event(Event::Message(Message::binary(vec![b'b', b'c']))),
            Out::Wire(vec![0x88, 0x02, 0x03, 0xe8]),
            closing(1000, ""),
            Out::CloseTransport,
            closed_out(1000, "", true, None),
        ]
    );
    h.assert_closed_once_last();
}

// ---------------------------------------------------------------------------
// Ping and Pong (§5.5.2, §5.5.3)
// ---------------------------------------------------------------------------

#[test]
fn server_answers_ping_with_pong_automatically() {
    let mut s = server();
    s.handle_bytes(&cframe(true, op::PING, b"hi"));
    assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x8a, 0x02, 0x68, 0x69]), Out::Event(Event::Ping(bytes(b"hi")))]);
}

#[test]
fn client_answers_ping_with_masked_pong() {
    let mut c = client();
    c.handle_bytes(&[0x89, 0x00]);
    assert_eq!(
        drain(&mut c),
        vec![Out::Wire(vec![0x8a, 0x80, 0x37, 0xfa, 0x21, 0x3d]), Out::Event(Event::Ping(bytes(b"")))]
    );
    let payload: Vec<u8> = (0..125).collect();
    c.handle_bytes(&sframe(true, op::PING, &payload));
    assert_eq!(
        drain(&mut c),
        vec![Out::Wire(cframe(true, op::PONG, &payload)), Out::Event(Event::Ping(bytes(&payload)))]
    );
}

#[test]
fn every_ping_gets_its_own_pong_in_order() {
    for role in ROLES {
        let mut c = conn(role);
        let input = [peer_frame(role, true, op::PING, b"1"), peer_frame(role, true, op::PING, b"2")].concat();
        c.handle_bytes(&input);
        assert_eq!(
            drain(&mut c),
            vec![
                Out::Wire(own_frame(role, true, op::PONG, b"1")),
                Out::Event(Event::Ping(bytes(b"1"))),
                Out::Wire(own_frame(role, true, op::PONG, b"2")),
                Out::Event(Event::Ping(bytes(b"2"))),
            ]
        );
    }
}

#[test]
fn no_automatic_pong_when_auto_pong_is_off_and_pong_works_manually() {
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_auto_pong(false));
        c.handle_bytes(&peer_frame(role, true, op::PING, b"hi"));
        assert_eq!(drain(&mut c), vec![Out::Event(Event::Ping(bytes(b"hi")))]);
        c.pong(&b"hi"[..]).unwrap();
        assert_eq!(drain(&mut c), vec![Out::Wire(own_frame(role, true, op::PONG, b"hi"))]);
    }
    let mut s = with_config(Role::Server, Config::default().with_auto_pong(false));
    s.pong(&b"hi"[..]).unwrap();
    assert_eq!(drain(&mut s), vec![Out::Wire(vec![0x8a, 0x02, 0x68, 0x69])]);
}

/// Before this changed, a Ping that came after our Close went unanswered.
/// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
/// frame in response, unless it already received a Close frame"; a Pong is
/// a control frame, which §5.5.1 allows after our Close.
#[test]
fn pings_after_our_close_are_still_answered() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        c.handle_bytes(&peer_frame(role, true, op::PING, b"hi"));
        // Our Close, the Pong, then the Ping reported.
        assert_eq!(
            drain(&mut c),
            vec![
                Out::Wire([our_close(role, Some(1000), ""), own_frame(role, true, op::PONG, b"hi")].concat()),
                Out::Event(Event::Ping(bytes(b"hi")))
            ]
        );
        assert_eq!(c.ready_state(), ReadyState::Closing);
    }
    // With auto_pong off, the application answers it.
    for role in ROLES {
        let mut c = with_config(role, Config::default().with_auto_pong(false));
        c.close(Some(CloseCode::NORMAL), "").unwrap();
        c.handle_bytes(&peer_frame(role, true, op::PING, b"hi"));
        assert_eq!(
            drain(&mut c),
            vec![Out::Wire(our_close(role, Some(1000), "")), Out::Event(Event::Ping(bytes(b"hi")))]
        );
        c.pong(&b"hi"[..]).unwrap();
        assert_eq!(drain(&mut c), vec![Out::Wire(own_frame(role, true, op::PONG, b"hi"))]);
    }
}

#[test]
fn no_pong_after_the_peer_close_was_received() {
    for role in ROLES {
        let mut c = conn(role);
        let mut h = History::new();
        c.handle_bytes(&[peer_close(role, Some(1000), ""), peer_frame(role, true, op::PING, b"hi")].concat());
        c.handle_bytes(&peer_frame(role, true, op::PING, b"again"));
        c.handle_eof();
        h.drain(&mut c);
        h.assert_whole(&echoed_close(role, Some(1000), ""));
    }
}

#[test]
fn pongs_reach_the_application() {
    for role in ROLES {
        let mut c = conn(role);
        c.handle_bytes(
            &[peer_frame(role, true, op::PONG, b""), peer_frame(role, true, op::PONG, b"unsolicited")].concat(),
        );
        assert_eq!(
            drain(&mut c),
            vec![Out::Event(Event::Pong(bytes(b""))), Out::Event(Event::Pong(bytes(b"unsolicited")))]
        );
    }
}

#[test]
fn ping_and_pong_payload_of_125_is_sent_and_126_is_refused() {
    for role in ROLES {
        let mut c = conn(role);
        let ok = vec![0x42u8; 125];
        c.ping(ok.clone()).unwrap();
        c.pong(ok.clone()).unwrap();
        let expected = [own_frame(role, true, op::PING, &ok), own_frame(role, true, op::PONG, &ok)].concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected)]);
        assert_eq!(c.ping(vec![0u8; 126]), Err(SendError::ControlPayloadTooLong(126)));
        assert_eq!(c.pong(vec![0u8; 126]), Err(SendError::ControlPayloadTooLong(126)));
        assert_eq!(c.ping(vec![0u8; 1000]), Err(SendError::ControlPayloadTooLong(1000)));
        assert_eq!(drain(&mut c), vec![]);
        assert_eq!(c.ready_state(), ReadyState::Open);
    }
    let mut s = server();
    s.ping(vec![0x42u8; 125]).unwrap();
    let w = wire(&drain(&mut s));
    assert_eq!(&w[..2], &[0x89, 0x7d]);
    assert_eq!(w.len(), 127);
}

/// Before this changed, `ping` and `pong` were refused as soon as our Close
/// was queued. A Ping is a control frame (§5.5.1 forbids only data after a
/// Close), and the peer is still reading until its Close comes, so they are
/// allowed until then; afterwards, and once the connection ended, they are
/// refused.
#[test]
fn ping_and_pong_are_allowed_after_our_close_until_the_peers() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(None, "").unwrap();
        c.ping(&b"still there?"[..]).unwrap();
        c.pong(&b""[..]).unwrap();
        assert_eq!(
            drain(&mut c),
            vec![Out::Wire(
                [
                    our_close(role, None, ""),
                    own_frame(role, true, op::PING, b"still there?"),
                    own_frame(role, true, op::PONG, b"")
                ]
                .concat()
            )]
        );
        c.handle_eof();
        assert_eq!(c.ping(&b""[..]), Err(SendError::NotOpen(ReadyState::Closing)));
        assert_eq!(c.pong(&b""[..]), Err(SendError::NotOpen(ReadyState::Closing)));
        let got = drain(&mut c);
        assert_closed_once_last(&got);
        assert_eq!(got, abnormal_end());
        assert_eq!(c.ping(&b""[..]), Err(SendError::NotOpen(ReadyState::Closed)));
    }
    // The peer's Close ends it: nothing more may be sent.
    for role in ROLES {
        let mut c = conn(role);
        c.close(None, "").unwrap();
        c.handle_bytes(&peer_close(role, None, ""));
        drain(&mut c);
        assert!(matches!(c.ping(&b""[..]), Err(SendError::NotOpen(_))), "{role:?}");
        assert!(matches!(c.pong(&b""[..]), Err(SendError::NotOpen(_))), "{role:?}");
    }
}

#[test]
fn a_pair_exchanges_ping_and_pong_then_closes_cleanly() {
    let mut p = Pair::new(Config::default());
    p.client.ping(&b"are you there"[..]).unwrap();
    p.drive();
    assert_eq!(p.server_events, vec![Event::Ping(bytes(b"are you there"))]);
    assert_eq!(p.client_events, vec![Event::Pong(bytes(b"are you there"))]);
    p.client.close(Some(CloseCode::NORMAL), "done").unwrap();
    p.drive();
    assert_eq!(
        p.server_events[1..],
        [Event::Closing(CloseFrame { code: 1000.into(), reason: "done".into() }), clean_closed(1000, "done")]
    );
    assert_eq!(p.client_events[1..], [clean_closed(1000, "done")]);
}

// ---------------------------------------------------------------------------
// close() before the connection is established (WHATWG: fail it)
// ---------------------------------------------------------------------------

#[test]
fn close_while_connecting_fails_the_connection_without_a_close_frame() {
    let failed = closed_out(1006, "", false, Some(wsmachine::ConnectionError::ClosedWhileConnecting));

    // A server waiting for the upgrade request.
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    assert_eq!(s.ready_state(), ReadyState::Connecting);
    // The arguments are still checked first, and a refused call changes nothing.
    assert_eq!(s.close(Some(CloseCode::NO_STATUS_RCVD), ""), Err(CloseError::InvalidCode(1005)));
    assert_eq!(s.close(None, &"x".repeat(124)), Err(CloseError::ReasonTooLong(124)));
    assert_eq!(s.browser_close(Some(1001), None), Err(BrowserCloseError::InvalidAccessError(1001)));
    assert_eq!(h.drain(&mut s), vec![]);
    assert_eq!(s.ready_state(), ReadyState::Connecting);
    s.close(Some(CloseCode::NORMAL), "bye").unwrap();
    // Failing: CLOSING until `Closed` is polled (WHATWG "fail the WebSocket
    // connection"; before this changed it was CLOSED at once).
    assert_eq!(s.ready_state(), ReadyState::Closing);
    assert_eq!(h.drain(&mut s), vec![Out::CloseTransport, failed.clone()]);
    assert_eq!(s.ready_state(), ReadyState::Closed);
    s.close(None, "").unwrap();
    s.handle_eof();
    assert_eq!(h.drain(&mut s), vec![]);
    h.assert_closed_once_last();

    // A client whose upgrade request went out.
    let request = wsmachine::handshake::ClientRequest::new("ws://example.com/chat").unwrap();
    let mut c = Connection::client(request, Config::default(), FixedMask(RFC_KEY)).unwrap();
    let mut h = History::new();
    let sent = wire(&h.drain(&mut c));
    assert!(sent.starts_with(b"GET /chat HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&sent));
    assert_eq!(c.ready_state(), ReadyState::Connecting);
    c.browser_close(Some(1000), Some("never mind")).unwrap();
    assert_eq!(c.ready_state(), ReadyState::Closing);
    assert_eq!(h.drain(&mut c), vec![Out::CloseTransport, failed]);
    assert_eq!(c.ready_state(), ReadyState::Closed);
    h.assert_closed_once_last();
}

/// The RFC 6455 §1.3 sample upgrade request.
const UPGRADE_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A server that reported the upgrade request and awaits the application's answer.
fn server_awaiting_decision() -> (Connection, History) {
    let mut s = Connection::server(Config::default());
    let mut h = History::new();
    s.handle_bytes(UPGRADE_REQUEST);
    let got = h.drain(&mut s);
    assert!(matches!(got.as_slice(), [Out::Event(Event::UpgradeRequest(_))]), "{got:?}");
    (s, h)
}

#[test]
fn close_while_the_upgrade_request_awaits_an_answer_fails_the_connection() {
    // The request is answered (503) rather than left without a response:
    // before this changed the transport was closed silently.
    let (mut s, mut h) = server_awaiting_decision();
    s.close(Some(CloseCode::NORMAL), "").unwrap();
    assert_eq!(s.ready_state(), ReadyState::Closing);
    let outs = h.drain(&mut s);
    let response = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(
        outs,
        vec![
            Out::Wire(response.to_vec()),
            Out::CloseTransport,
            closed_out(1006, "", false, Some(wsmachine::ConnectionError::ClosedWhileConnecting))
        ],
        "{}",
        String::from_utf8_lossy(&wire(&outs))
    );
    assert_eq!(s.ready_state(), ReadyState::Closed);
    h.assert_closed_once_last();
}

#[test]
fn nothing_follows_closed_when_the_upgrade_is_answered_after_closing() {
    use wsmachine::handshake::Accept;
    // Closed by close() in CONNECTING, or by the handshake timeout after an
    // EOF (a half-close alone leaves the request answerable), while the
    // request awaits an answer.
    for how in ["close", "eof"] {
        for answer in ["accept", "reject"] {
            let (mut s, mut h) = server_awaiting_decision();
            match how {
                "close" => s.close(None, "").unwrap(),
                _ => {
                    s.handle_eof();
                    s.handle_timeout(wsmachine::Timestamp::from_millis(0));
                    s.handle_timeout(wsmachine::Timestamp::from_millis(10_000));
                }
            }
            h.drain(&mut s);
            h.assert_closed_once_last();
            let result = match answer {
                "accept" => s.accept(Accept::new()),
                _ => s.reject(403, &[], b"no"),
            };
            // No request is waiting any more: the answer must fail and queue nothing.
            assert!(result.is_err(), "{how} then {answer}: {result:?}");
            assert_eq!(h.drain(&mut s), vec![], "{how} then {answer}: output after Closed");
            assert_eq!(s.ready_state(), ReadyState::Closed);
            h.assert_closed_once_last();
        }
    }
}

// ---------------------------------------------------------------------------
// readyState is CLOSED only once `Closed` has been polled
// ---------------------------------------------------------------------------

/// WHATWG's "fail the WebSocket connection" makes readyState CLOSING, and
/// RFC 6455 §7.1.4 calls the connection closed when the transport is: the
/// state is CLOSING until `Event::Closed` comes out of `poll_output`, and
/// CLOSED from then on. Before this changed, a connection that ended was
/// CLOSED before its `Closed` had been delivered.
#[test]
fn ready_state_is_closing_until_closed_is_polled() {
    /// Polls until `Closed`, checking the state before and after it.
    fn poll_to_closed(c: &mut Connection) {
        loop {
            assert_eq!(c.ready_state(), ReadyState::Closing);
            match c.poll_output() {
                Some(Output::Event(Event::Closed(_))) => break,
                Some(_) => {}
                None => panic!("no Closed"),
            }
        }
        assert_eq!(c.ready_state(), ReadyState::Closed);
        assert!(c.poll_output().is_none());
    }
    // A server that received a Close: it echoes, closes the transport and
    // reports Closed, in that order.
    let mut s = server();
    s.handle_bytes(&peer_close(Role::Server, Some(1000), "bye"));
    assert_eq!(s.ready_state(), ReadyState::Open, "input is processed as outputs are polled");
    assert!(matches!(s.poll_output(), Some(Output::Transmit(_))));
    poll_to_closed(&mut s);
    // A connection failed on a protocol error, in both roles.
    for role in ROLES {
        let mut c = conn(role);
        c.handle_bytes(&peer_frame(role, true, 0x3, b""));
        assert!(matches!(c.poll_output(), Some(Output::Transmit(_))));
        poll_to_closed(&mut c);
    }
    // close() while CONNECTING.
    let mut s = Connection::server(Config::default());
    s.close(None, "").unwrap();
    poll_to_closed(&mut s);
    // EOF without a closing handshake.
    for role in ROLES {
        let mut c = conn(role);
        c.handle_eof();
        poll_to_closed(&mut c);
    }
}

/// close() during a message sent in pieces discards nothing that was
/// accepted: every piece goes out, then the Close (between two fragments,
/// §5.4); the message stays unfinished. (With permessage-deflate, what the
/// compressor held is flushed first: `tests/deflate.rs`.)
#[test]
fn close_during_a_streamed_message_sends_every_accepted_piece_first() {
    for role in ROLES {
        let mut c = conn(role);
        c.begin_message(wsmachine::MessageKind::Binary).unwrap();
        c.send_chunk(vec![1u8, 2]).unwrap();
        c.send_chunk(vec![3u8]).unwrap();
        c.close(Some(CloseCode::GOING_AWAY), "").unwrap();
        assert_eq!(c.send_chunk(vec![4u8]), Err(SendError::NotOpen(ReadyState::Closing)));
        assert_eq!(c.finish_message(vec![4u8]), Err(SendError::NotOpen(ReadyState::Closing)));
        let expected = [
            own_frame(role, false, op::BINARY, &[1, 2]),
            own_frame(role, false, op::CONT, &[3]),
            our_close(role, Some(1001), ""),
        ]
        .concat();
        assert_eq!(drain(&mut c), vec![Out::Wire(expected)]);
    }
}
