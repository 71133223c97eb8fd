//! Close status codes (RFC 6455 §7.4), checked exhaustively against the
//! close-code table of MDN's `CloseEvent` page (Japanese edition), kept in
//! `tests/data/close_codes.tsv` (its header names the source), and the rule
//! that 1005, 1006 and 1015 never go on the wire (§7.4.1).
mod common;
use common::*;
use wsmachine::{BrowserCloseError, CloseCode, CloseError, ConnectionError, Event, ProtocolError, Role};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// The table, compiled in: the tests read nothing outside the repository.
const TABLE: &str = include_str!("data/close_codes.tsv");
const COLUMNS: [&str; 5] = ["code", "name", "reserved", "firefox_close", "meaning"];

/// One row of the table: a code or a range of codes.
#[derive(Debug, Clone)]
struct Row {
    lo: u16,
    hi: u16,
    /// The page's name, if it gives one.
    name: Option<&'static str>,
    /// The page marks the codes 予約 ("reserved"): 予約済 for 0–999, 1004,
    /// 1005, 1006 and 1015, 予約されています for 1016–1999 and 2000–2999.
    reserved: bool,
    /// The page's note lists the codes as ones Firefox lets a script pass to
    /// `close()`.
    firefox_close: bool,
}

/// Parses "1000" or "1016-1999".
fn parse_range(line: usize, cell: &str) -> (u16, u16) {
    let parse = |s: &str| s.parse::<u16>().unwrap_or_else(|e| panic!("close_codes.tsv:{line}: bad code {s:?}: {e}"));
    match cell.split_once('-') {
        Some((lo, hi)) => (parse(lo), parse(hi)),
        None => {
            let c = parse(cell);
            (c, c)
        }
    }
}

fn yes_no(line: usize, column: &str, cell: &str) -> bool {
    match cell {
        "yes" => true,
        "no" => false,
        _ => panic!("close_codes.tsv:{line}: {column} is {cell:?}, not yes or no"),
    }
}

/// The rows of the table, in order.
fn table() -> Vec<Row> {
    let mut lines =
        TABLE.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (_, header) = lines.next().expect("close_codes.tsv has no header line");
    assert_eq!(header.split('\t').collect::<Vec<_>>(), COLUMNS, "close_codes.tsv's header");
    lines
        .map(|(n, line)| {
            let cells: Vec<&'static str> = line.split('\t').collect();
            let [code, name, reserved, firefox_close, _meaning] = cells[..] else {
                panic!("close_codes.tsv:{n}: {} cells, not 5 tab-separated ones: {line:?}", cells.len())
            };
            let (lo, hi) = parse_range(n, code);
            assert!(lo <= hi, "close_codes.tsv:{n}: empty range {code}");
            Row {
                lo,
                hi,
                name: (name != "-").then_some(name),
                reserved: yes_no(n, "reserved", reserved),
                firefox_close: yes_no(n, "firefox_close", firefox_close),
            }
        })
        .collect()
}

/// The row holding `code`, if the table lists it.
fn row_of(rows: &[Row], code: u16) -> Option<&Row> {
    rows.iter().find(|r| (r.lo..=r.hi).contains(&code))
}

/// The codes the page says Firefox lets a script pass to `close()`, from
/// "Firefox で指定できるコードは 1000 と 3000〜4999 [...] のみです".
fn firefox_allowed(rows: &[Row]) -> Vec<(u16, u16)> {
    rows.iter().filter(|r| r.firefox_close).map(|r| (r.lo, r.hi)).collect()
}

/// Valid on the wire, per the table: listed and not reserved. Codes the
/// table does not list (5000 and above) are not valid either.
fn table_says_valid(rows: &[Row], code: u16) -> bool {
    row_of(rows, code).is_some_and(|r| !r.reserved)
}

#[test]
fn the_table_covers_0_to_4999_in_contiguous_rows() {
    let rows = table();
    assert_eq!(rows.len(), 21, "{rows:#?}");
    assert_eq!(rows[0].lo, 0);
    assert_eq!(rows.last().unwrap().hi, 4999);
    for w in rows.windows(2) {
        assert_eq!(w[0].hi + 1, w[1].lo, "gap or overlap between {:?} and {:?}", w[0], w[1]);
    }
    // Each of 1000–1015 has its own row.
    for code in 1000..=1015 {
        let r = row_of(&rows, code).unwrap();
        assert_eq!((r.lo, r.hi), (code, code));
    }
    let reserved: Vec<(u16, u16)> = rows.iter().filter(|r| r.reserved).map(|r| (r.lo, r.hi)).collect();
    assert_eq!(
        reserved,
        [(0, 999), (1004, 1004), (1005, 1005), (1006, 1006), (1015, 1015), (1016, 1999), (2000, 2999)]
    );
    // The page names 1000–1015 except 1004, and nothing else.
    let named: Vec<u16> = rows.iter().filter(|r| r.name.is_some()).map(|r| r.lo).collect();
    assert_eq!(named, (1000..=1015).filter(|&c| c != 1004).collect::<Vec<_>>());
}

#[test]
fn every_code_is_valid_to_receive_iff_the_table_lists_it_unreserved() {
    let rows = table();
    for code in 0..=u16::MAX {
        assert_eq!(
            CloseCode::new(code).is_valid_received(),
            table_says_valid(&rows, code),
            "code {code}: {:?}",
            row_of(&rows, code)
        );
    }
}

#[test]
fn every_code_is_sendable_iff_the_table_lists_it_unreserved() {
    let rows = table();
    for code in 0..=u16::MAX {
        let c = CloseCode::new(code);
        assert_eq!(c.is_sendable(), table_says_valid(&rows, code), "code {code}: {:?}", row_of(&rows, code));
        assert_eq!(c.is_sendable(), c.is_valid_received(), "code {code}");
    }
}

#[test]
fn every_code_is_browser_allowed_iff_the_firefox_note_allows_it() {
    let rows = table();
    let allowed = firefox_allowed(&rows);
    assert_eq!(allowed, [(1000, 1000), (3000, 3999), (4000, 4999)]);
    for code in 0..=u16::MAX {
        let c = CloseCode::new(code);
        let expected = allowed.iter().any(|&(lo, hi)| (lo..=hi).contains(&code));
        assert_eq!(c.is_browser_allowed(), expected, "code {code}");
        // A code a browser may send is one a server must accept.
        if c.is_browser_allowed() {
            assert!(c.is_sendable() && c.is_valid_received() && table_says_valid(&rows, code), "code {code}");
        }
    }
}

#[test]
fn named_codes_match_the_table() {
    let rows = table();
    for code in 1000..=1015u16 {
        let r = row_of(&rows, code).unwrap();
        let name = CloseCode::new(code).name().unwrap_or_else(|| panic!("{code} has no name"));
        match code {
            // The table leaves 1004 unnamed; the crate calls it "Reserved".
            1004 => assert!(r.name.is_none() && name == "Reserved", "{code}: table {:?}, crate {name:?}", r.name),
            // MDN says "Missing Extension"; RFC 6455 §11.7 registers "Mandatory Ext.".
            1010 => assert_eq!((r.name, name), (Some("Missing Extension"), "Mandatory Extension")),
            _ => assert!(
                r.name.is_some_and(|n| n.eq_ignore_ascii_case(name)),
                "{code}: table {:?}, crate {name:?}",
                r.name
            ),
        }
    }
    for code in (0..1000u16).chain(1016..=u16::MAX) {
        assert_eq!(CloseCode::new(code).name(), None, "{code}");
    }
}

#[test]
fn named_constants_have_their_values() {
    let constants = [
        (CloseCode::NORMAL, 1000),
        (CloseCode::GOING_AWAY, 1001),
        (CloseCode::PROTOCOL_ERROR, 1002),
        (CloseCode::UNSUPPORTED_DATA, 1003),
        (CloseCode::RESERVED, 1004),
        (CloseCode::NO_STATUS_RCVD, 1005),
        (CloseCode::ABNORMAL, 1006),
        (CloseCode::INVALID_PAYLOAD, 1007),
        (CloseCode::POLICY_VIOLATION, 1008),
        (CloseCode::MESSAGE_TOO_BIG, 1009),
        (CloseCode::MANDATORY_EXTENSION, 1010),
        (CloseCode::INTERNAL_ERROR, 1011),
        (CloseCode::SERVICE_RESTART, 1012),
        (CloseCode::TRY_AGAIN_LATER, 1013),
        (CloseCode::BAD_GATEWAY, 1014),
        (CloseCode::TLS_HANDSHAKE, 1015),
    ];
    for (c, v) in constants {
        assert_eq!(c.as_u16(), v);
        assert_eq!(u16::from(c), v);
        assert_eq!(CloseCode::from(v), c);
    }
}

// ---------------------------------------------------------------------------
// The commands agree with the predicates, for every code
// ---------------------------------------------------------------------------

#[test]
fn close_agrees_with_is_sendable_for_every_code() {
    for role in ROLES {
        for code in 0..=u16::MAX {
            let c = CloseCode::new(code);
            let mut conn = conn(role);
            let got = conn.close(Some(c), "");
            let outs = drain(&mut conn);
            if c.is_sendable() {
                assert_eq!(got, Ok(()), "{code}");
                assert_eq!(outs, vec![Out::Wire(own_frame(role, true, op::CLOSE, &code.to_be_bytes()))], "{code}");
            } else {
                assert_eq!(got, Err(CloseError::InvalidCode(code)));
                assert_eq!(outs, vec![], "{code}");
            }
        }
    }
}

#[test]
fn browser_close_agrees_with_is_browser_allowed_for_every_code() {
    for code in 0..=u16::MAX {
        let mut s = server();
        let got = s.browser_close(Some(code), Some("r"));
        let outs = drain(&mut s);
        if CloseCode::new(code).is_browser_allowed() {
            assert_eq!(got, Ok(()), "{code}");
            let [hi, lo] = code.to_be_bytes();
            assert_eq!(outs, vec![Out::Wire(vec![0x88, 0x03, hi, lo, b'r'])], "{code}");
        } else {
            assert_eq!(got, Err(BrowserCloseError::InvalidAccessError(code)));
            assert_eq!(outs, vec![], "{code}");
        }
    }
}

#[test]
fn a_received_close_is_echoed_iff_its_code_is_valid_for_every_code() {
    for code in 0..=u16::MAX {
        let mut s = server();
        s.handle_bytes(&cframe(true, op::CLOSE, &close_body(code, "r")));
        let got = drain(&mut s);
        let expected = if CloseCode::new(code).is_valid_received() {
            let [hi, lo] = code.to_be_bytes();
            vec![
                Out::Wire(vec![0x88, 0x03, hi, lo, b'r']),
                Out::Event(Event::Closing(wsmachine::CloseFrame { code: code.into(), reason: "r".into() })),
                Out::CloseTransport,
                closed_out(code, "r", true, None),
            ]
        } else {
            vec![
                Out::Wire(vec![0x88, 0x02, 0x03, 0xea]),
                Out::CloseTransport,
                closed_out(1006, "", false, Some(ConnectionError::Protocol(ProtocolError::InvalidCloseCode(code)))),
            ]
        };
        assert_eq!(got, expected, "{code}");
    }
}

// ---------------------------------------------------------------------------
// 1005, 1006 and 1015 are never on the wire (§7.4.1)
// ---------------------------------------------------------------------------

const NEVER_SENT: [u16; 3] = [1005, 1006, 1015];

/// Every Close frame in `wire` carries no code or a sendable one, and none
/// of 1005, 1006, 1015.
#[track_caller]
fn assert_no_forbidden_close_codes(wire: &[u8]) {
    for f in parse_frames(wire) {
        if f.opcode == op::CLOSE && f.payload.len() >= 2 {
            let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
            assert!(!NEVER_SENT.contains(&code), "{code} on the wire: {wire:02x?}");
            assert!(CloseCode::new(code).is_sendable(), "{code} on the wire: {wire:02x?}");
        }
    }
}

#[test]
fn close_and_browser_close_refuse_1005_1006_1015() {
    for role in ROLES {
        for code in NEVER_SENT {
            let mut c = conn(role);
            assert_eq!(c.close(Some(CloseCode::new(code)), ""), Err(CloseError::InvalidCode(code)));
            assert_eq!(c.browser_close(Some(code), None), Err(BrowserCloseError::InvalidAccessError(code)));
            assert_eq!(drain(&mut c), vec![]);
        }
    }
}

#[test]
fn echo_of_a_codeless_close_carries_no_1005() {
    for role in ROLES {
        let mut c = conn(role);
        c.handle_bytes(&peer_frame(role, true, op::CLOSE, b""));
        c.handle_eof();
        let outs = drain(&mut c);
        let w = wire(&outs);
        assert_eq!(w, own_frame(role, true, op::CLOSE, b""));
        assert_no_forbidden_close_codes(&w);
        // It is reported, not sent.
        assert_eq!(closed(&outs).unwrap().code, 1005);
    }
}

#[test]
fn a_peer_close_carrying_1005_1006_or_1015_is_not_echoed() {
    for role in ROLES {
        for code in NEVER_SENT {
            let mut c = conn(role);
            c.handle_bytes(&peer_frame(role, true, op::CLOSE, &close_body(code, "")));
            let outs = drain(&mut c);
            assert_eq!(wire(&outs), own_frame(role, true, op::CLOSE, &1002u16.to_be_bytes()), "{code}");
            assert_no_forbidden_close_codes(&wire(&outs));
        }
    }
}

#[test]
fn failures_and_abnormal_closures_never_send_1005_1006_or_1015() {
    for role in ROLES {
        let inputs: Vec<Vec<u8>> = vec![
            peer_frame(role, true, 0x3, b""),
            peer_frame_rsv(role, true, 0b010, op::TEXT, b""),
            peer_frame(role, true, op::TEXT, b"\xff"),
            peer_frame(role, true, op::CLOSE, b"\x03"),
            peer_frame(role, true, op::CLOSE, b"\x03\xe8\xff"),
            peer_frame(role, true, op::PING, &[0; 126]),
            peer_frame(role, true, op::CONT, b""),
            peer_frame(role, false, op::PING, b""),
            own_frame(role, true, op::TEXT, b"wrong masking"),
            peer_frame(role, true, op::TEXT, &[b'a'; 1 << 16]),
        ];
        for input in inputs {
            let mut c = with_config(role, wsmachine::Config::default().with_max_message_size(1000));
            c.handle_bytes(&input);
            c.handle_eof();
            let outs = drain(&mut c);
            let w = wire(&outs);
            assert_eq!(parse_frames(&w).len(), 1, "{input:02x?}");
            assert_no_forbidden_close_codes(&w);
            let closed = assert_closed_once_last(&outs);
            // 1006 is what the application hears, never what the peer reads.
            assert_eq!((closed.code.as_u16(), closed.was_clean), (1006, false));
        }
        // EOF in OPEN: no Close frame at all.
        let mut c = conn(role);
        c.handle_eof();
        let outs = drain(&mut c);
        assert_eq!(wire(&outs), Vec::<u8>::new());
        assert_eq!(assert_closed_once_last(&outs).code, 1006);
    }
}
