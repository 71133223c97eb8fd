//! Interop with an implementation nobody here wrote: `tungstenite` 0.30 on
//! the other end of a loopback TCP connection, in its raw-socket mode (no
//! opening handshake), with wsmachine in either role.
//!
//! wsmachine runs in the test thread under a small blocking driver
//! ([`TcpDriver`]); tungstenite runs a script in a second thread. Both sockets
//! have read and write timeouts, so a bug fails the test instead of hanging
//! the suite.
mod common;

use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::thread;
use std::time::Duration;

use common::net::{Step, TcpDriver, describe_event, with_timeouts};
use tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tungstenite::protocol::frame::{CloseFrame as TCloseFrame, Frame as TFrame};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use tungstenite::{Error as TError, Message as TMessage};
use wsmachine::{
    CloseCode, CloseFrame, Closed, Config, Connection, Event, Message, OsEntropy, ProtocolError, ReadyState, Role,
};

/// How long either side waits for the other before failing the test.
const TIMEOUT: Duration = Duration::from_secs(20);
const MIB: usize = 1 << 20;

/// A `#[test]` for each side wsmachine plays: `$server` calls
/// `$scenario(Role::Server, $args…)`, `$client` the same with `Role::Client`.
macro_rules! for_both_roles {
    ($server:ident, $client:ident: $scenario:ident $(($($arg:expr),*))?) => {
        #[test]
        fn $server() {
            $scenario(Role::Server $($(, $arg)*)?);
        }

        #[test]
        fn $client() {
            $scenario(Role::Client $($(, $arg)*)?);
        }
    };
}

// ----------------------------------------------------------------------
// Payloads
// ----------------------------------------------------------------------

/// 1 + 2 + 3 + 4 bytes: every UTF-8 sequence length.
const UTF8_UNIT: &str = "aé€🦀";

/// Text of exactly `n` bytes, mostly multi-byte UTF-8.
fn text_of_len(n: usize) -> String {
    let mut s = UTF8_UNIT.repeat(n / UTF8_UNIT.len());
    while s.len() < n {
        s.push('x');
    }
    assert_eq!(s.len(), n);
    s
}

fn binary_of_len(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect()
}

/// A message as both libraries see it.
#[derive(Clone)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Self::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

impl Msg {
    fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Binary(b) => b,
        }
    }
    fn tung(&self) -> TMessage {
        match self {
            Self::Text(t) => TMessage::text(t.clone()),
            Self::Binary(b) => TMessage::binary(b.clone()),
        }
    }
}

/// 0 B, 125 B, 126 B, 64 KiB and 1 MiB, text (multi-byte UTF-8) and binary.
fn standard_messages() -> Vec<Msg> {
    let mut v = Vec::new();
    for n in [0, 125, 126, 64 * 1024, MIB] {
        v.push(Msg::Text(text_of_len(n)));
        v.push(Msg::Binary(binary_of_len(n)));
    }
    v
}

/// Panics unless `got` is exactly `want`, without printing megabytes.
fn assert_same(label: &str, got_text: bool, got: &[u8], want: &Msg) {
    assert_eq!(got_text, want.is_text(), "{label}: type differs for {want:?}");
    if got != want.bytes() {
        let first = got.iter().zip(want.bytes()).position(|(a, b)| a != b);
        panic!("{label}: payload differs for {want:?}: got {} bytes, first difference at {first:?}", got.len());
    }
}

fn assert_tung_msg(got: &TMessage, want: &Msg) {
    match got {
        TMessage::Text(t) => assert_same("tungstenite received", true, t.as_bytes(), want),
        TMessage::Binary(b) => assert_same("tungstenite received", false, b, want),
        other => panic!("tungstenite expected {want:?}, got {}", describe_tung(other)),
    }
}

fn assert_our_msg(got: &Event, want: &Msg) {
    match got {
        Event::Message(Message::Text(t)) => assert_same("wsmachine received", true, t.as_bytes(), want),
        Event::Message(Message::Binary(b)) => assert_same("wsmachine received", false, b, want),
        other => panic!("wsmachine expected {want:?}, got {}", describe_event(other)),
    }
}

fn describe_tung(m: &TMessage) -> String {
    match m {
        TMessage::Text(t) if t.len() > 64 => format!("Text({} bytes)", t.len()),
        TMessage::Binary(b) if b.len() > 64 => format!("Binary({} bytes)", b.len()),
        other => format!("{other:?}"),
    }
}

// ----------------------------------------------------------------------
// The wire as wsmachine wrote it
// ----------------------------------------------------------------------

/// One frame wsmachine put on the wire.
#[derive(Debug, Clone, PartialEq)]
struct WireFrame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    /// Header length in bytes, mask key included.
    header_len: usize,
    len: u64,
    /// The unmasked payload of control frames (data payloads are not kept).
    control: Vec<u8>,
}

/// An independent, incremental parser of what wsmachine writes.
#[derive(Default)]
struct WireLog {
    buf: Vec<u8>,
    frames: Vec<WireFrame>,
}

impl WireLog {
    fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        while let Some((frame, n)) = Self::parse(&self.buf[pos..]) {
            self.frames.push(frame);
            pos += n;
        }
        self.buf.drain(..pos);
    }

    fn parse(b: &[u8]) -> Option<(WireFrame, usize)> {
        if b.len() < 2 {
            return None;
        }
        let masked = b[1] & 0x80 != 0;
        let (len, mut pos) = match b[1] & 0x7F {
            126 => (u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)), 4),
            127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
            n => (u64::from(n), 2),
        };
        let key = if masked {
            let k: [u8; 4] = b.get(pos..pos + 4)?.try_into().ok()?;
            pos += 4;
            Some(k)
        } else {
            None
        };
        let end = pos + usize::try_from(len).ok()?;
        let payload = b.get(pos..end)?;
        let opcode = b[0] & 0xF;
        let control = if opcode & 0x8 != 0 {
            payload.iter().enumerate().map(|(i, x)| x ^ key.map_or(0, |k| k[i % 4])).collect()
        } else {
            Vec::new()
        };
        Some((
            WireFrame { fin: b[0] & 0x80 != 0, rsv: (b[0] >> 4) & 7, opcode, masked, header_len: pos, len, control },
            end,
        ))
    }
}

/// The header length RFC 6455 §5.2 prescribes (minimal length encoding).
fn expected_header_len(len: usize, masked: bool) -> usize {
    let base = if len < 126 {
        2
    } else if len <= 0xFFFF {
        4
    } else {
        10
    };
    base + if masked { 4 } else { 0 }
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason.as_bytes());
    v
}

// ----------------------------------------------------------------------
// The blocking driver for wsmachine
// ----------------------------------------------------------------------

/// wsmachine's side: the shared driver (its byte log `wire_out` parsed by
/// [`WireLog`]) and the checks below.
type Driver = TcpDriver;

impl Driver {
    /// Checks the order of the closing steps: `CloseTransport` once, then
    /// `Closed` last; as a client, only after the server's EOF (§7.1.1); as
    /// a server on a clean close, before any EOF.
    fn check_close_order(&self, role: Role, clean_close: bool) {
        let ct = self.position(|s| *s == Step::CloseTransport).expect("CloseTransport");
        let cl = self.position(|s| matches!(s, Step::Event(Event::Closed(_)))).expect("Closed");
        assert_eq!(cl, self.timeline.len() - 1, "Closed is not last; {}", self.summary());
        assert!(ct < cl, "CloseTransport after Closed; {}", self.summary());
        assert_eq!(self.timeline.iter().filter(|s| **s == Step::CloseTransport).count(), 1);
        let eof = self.position(|s| *s == Step::Eof);
        match (role, clean_close) {
            (Role::Client, true) => {
                let eof = eof.unwrap_or_else(|| panic!("client closed TCP without EOF; {}", self.summary()));
                assert!(eof < ct, "client closed TCP before the server did; {}", self.summary());
            }
            (Role::Server, true) => {
                assert!(eof.is_none_or(|e| e > ct), "server waited for the client's EOF; {}", self.summary());
            }
            _ => {}
        }
    }

    /// Checks every frame on the wire: masked iff client, RSV clear, minimal
    /// lengths, Close last.
    fn check_wire(&self) {
        let wire = self.wire();
        assert!(wire.buf.is_empty(), "partial frame left on the wire: {} bytes", wire.buf.len());
        let client = self.conn.role() == Role::Client;
        for (i, f) in wire.frames.iter().enumerate() {
            assert_eq!(f.masked, client, "frame {i}: mask bit");
            assert_eq!(f.rsv, 0, "frame {i}: RSV");
            assert_eq!(f.header_len, expected_header_len(f.len as usize, client), "frame {i}: {f:?}");
            if f.opcode == 0x8 {
                assert_eq!(i, wire.frames.len() - 1, "frames after our Close");
            }
        }
    }

    /// What wsmachine wrote, parsed.
    fn wire(&self) -> WireLog {
        let mut wire = WireLog::default();
        wire.feed(&self.wire_out);
        wire
    }

    /// The data frames on the wire, grouped into messages: (opcode, frame lengths).
    fn wire_messages(&self) -> Vec<(u8, Vec<u64>)> {
        let mut out: Vec<(u8, Vec<u64>)> = Vec::new();
        let mut open = false;
        for f in self.wire().frames.into_iter().filter(|f| f.opcode & 0x8 == 0) {
            if open {
                assert_eq!(f.opcode, 0, "expected a continuation frame: {f:?}");
                out.last_mut().unwrap().1.push(f.len);
            } else {
                assert_ne!(f.opcode, 0, "continuation frame outside a message: {f:?}");
                out.push((f.opcode, vec![f.len]));
            }
            open = !f.fin;
        }
        assert!(!open, "unfinished message on the wire");
        out
    }

    fn last_wire_frame(&self) -> WireFrame {
        self.wire().frames.pop().expect("no frame written")
    }
}

// ----------------------------------------------------------------------
// Two ends of a loopback connection
// ----------------------------------------------------------------------

type Peer = WebSocket<TcpStream>;

fn peer_role(ours: Role) -> TRole {
    match ours {
        Role::Client => TRole::Server,
        Role::Server => TRole::Client,
    }
}

/// Raises tungstenite's limits well past 1 MiB.
fn peer_config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(8 * MIB)).max_frame_size(Some(8 * MIB))
}

/// wsmachine limits raised to allow the 1 MiB messages with room to spare.
fn big_config() -> Config {
    Config::default().with_max_frame_size(4 * MIB).with_max_message_size(4 * MIB)
}

/// Connects wsmachine in `ours` role to tungstenite in the other, runs
/// `peer` in a thread (its socket is dropped, closing TCP, when it returns)
/// and `drive` here. Returns the driver and what `peer` returned.
fn interop<R: Send + 'static>(
    ours: Role,
    config: Config,
    peer: impl FnOnce(&mut Peer) -> R + Send + 'static,
    drive: impl FnOnce(&mut Driver),
) -> (Driver, R) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let (mine, theirs) = match ours {
        Role::Client => (client, server),
        Role::Server => (server, client),
    };
    let theirs = with_timeouts(theirs, TIMEOUT);
    let role = peer_role(ours);
    let handle = thread::Builder::new()
        .name(format!("tungstenite-{role:?}"))
        .spawn(move || {
            let mut ws = WebSocket::from_raw_socket(theirs, role, Some(peer_config()));
            peer(&mut ws)
        })
        .unwrap();
    let mut driver = Driver::new(Connection::new_open(ours, config, OsEntropy), mine, TIMEOUT);
    let ours_result = catch_unwind(AssertUnwindSafe(|| drive(&mut driver)));
    if ours_result.is_err() {
        // Unblock the peer.
        let _ = driver.stream.shutdown(Shutdown::Both);
    }
    let peer_result = handle.join();
    match (ours_result, peer_result) {
        (Ok(()), Ok(r)) => (driver, r),
        // The peer's failure usually explains ours (its socket closed).
        (_, Err(p)) => resume_unwind(p),
        (Err(p), Ok(_)) => resume_unwind(p),
    }
}

fn tread(ws: &mut Peer) -> TMessage {
    match ws.read() {
        Ok(m) => m,
        Err(e) => panic!("tungstenite read failed: {e:?}"),
    }
}

/// Reads the next message that is not a Pong (pongs are returned).
fn tread_skipping_pongs(ws: &mut Peer, pongs: &mut Vec<Vec<u8>>) -> TMessage {
    loop {
        match tread(ws) {
            TMessage::Pong(p) => pongs.push(p.to_vec()),
            m => return m,
        }
    }
}

fn tclose_frame(code: u16, reason: &str) -> TCloseFrame {
    TCloseFrame { code: code.into(), reason: reason.to_owned().into() }
}

/// After the closing handshake: tungstenite reports `ConnectionClosed` once,
/// then `AlreadyClosed`.
fn expect_connection_closed(ws: &mut Peer) {
    match ws.read() {
        Err(TError::ConnectionClosed) => {}
        Ok(m) => panic!("tungstenite expected ConnectionClosed, got {}", describe_tung(&m)),
        Err(e) => panic!("tungstenite expected ConnectionClosed, got {e:?}"),
    }
    match ws.read() {
        Err(TError::AlreadyClosed) => {}
        other => panic!("tungstenite expected AlreadyClosed, got {other:?}"),
    }
}

/// tungstenite closes with 1000 and expects the echo, then the end.
fn peer_close_normal(ws: &mut Peer) {
    ws.close(Some(tclose_frame(1000, ""))).unwrap();
    match tread(ws) {
        TMessage::Close(Some(f)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (1000, "")),
        other => panic!("expected the Close echo, got {}", describe_tung(&other)),
    }
    expect_connection_closed(ws);
}

fn assert_closed_normal_by_peer(d: &Driver) {
    let events = d.events();
    let n = events.len();
    assert!(n >= 2, "{}", d.summary());
    assert_eq!(events[n - 2], Event::Closing(CloseFrame { code: CloseCode::NORMAL, reason: String::new() }));
    assert_eq!(
        events[n - 1],
        Event::Closed(Closed { code: CloseCode::NORMAL, reason: String::new(), was_clean: true, error: None })
    );
    d.check_close_order(d.conn.role(), true);
    d.check_wire();
    let last = d.last_wire_frame();
    assert_eq!((last.opcode, last.control.as_slice()), (0x8, &close_payload(1000, "")[..]));
}

// ----------------------------------------------------------------------
// Messages
// ----------------------------------------------------------------------

/// tungstenite sends each message, wsmachine echoes it, tungstenite checks
/// the echo; then tungstenite closes with 1000.
fn echo_test(ours: Role, config: Config, messages: Vec<Msg>) -> Driver {
    let sent = messages.clone();
    let (d, ()) = interop(
        ours,
        config,
        move |ws| {
            let mut pongs = Vec::new();
            for m in &sent {
                ws.send(m.tung()).unwrap();
                let got = tread_skipping_pongs(ws, &mut pongs);
                assert_tung_msg(&got, m);
            }
            assert!(pongs.is_empty());
            peer_close_normal(ws);
        },
        |d| {
            d.echo = true;
            d.run_until_closed();
        },
    );
    let events = d.events();
    assert_eq!(events.len(), messages.len() + 2, "{}", d.summary());
    for (e, m) in events.iter().zip(&messages) {
        assert_our_msg(e, m);
    }
    assert_closed_normal_by_peer(&d);
    d
}

fn check_unfragmented_wire(d: &Driver, messages: &[Msg]) {
    let wm = d.wire_messages();
    assert_eq!(wm.len(), messages.len());
    for ((op, lens), m) in wm.iter().zip(messages) {
        assert_eq!(*op, if m.is_text() { 1 } else { 2 }, "{m:?}");
        assert_eq!(lens, &[m.bytes().len() as u64], "{m:?} went out as one frame");
    }
}

/// Every standard message both ways, each sent as one frame.
fn messages_both_ways(ours: Role) {
    let msgs = standard_messages();
    let d = echo_test(ours, big_config(), msgs.clone());
    check_unfragmented_wire(&d, &msgs);
}

for_both_roles!(messages_both_ways_wsmachine_server, messages_both_ways_wsmachine_client: messages_both_ways);

/// wsmachine fragments what it sends (`fragment_size` 999: text fragments
/// split UTF-8 sequences); tungstenite reassembles.
fn fragmented_by_wsmachine(ours: Role) {
    let msgs = standard_messages();
    let d = echo_test(ours, big_config().with_fragment_size(Some(999)), msgs.clone());
    let wm = d.wire_messages();
    assert_eq!(wm.len(), msgs.len());
    for ((op, lens), m) in wm.iter().zip(&msgs) {
        let n = m.bytes().len();
        assert_eq!(*op, if m.is_text() { 1 } else { 2 }, "{m:?}");
        assert_eq!(lens.iter().sum::<u64>(), n as u64, "{m:?}");
        assert_eq!(lens.len(), n.div_ceil(999).max(1), "{m:?} frame count");
        assert!(lens.iter().all(|&l| l <= 999), "{m:?}");
    }
}

for_both_roles!(fragmented_by_wsmachine_server, fragmented_by_wsmachine_client: fragmented_by_wsmachine);

/// One byte per frame: every UTF-8 sequence is cut.
fn one_byte_fragments(ours: Role) {
    let msgs = vec![Msg::Text(UTF8_UNIT.repeat(3)), Msg::Binary(vec![1, 2, 3])];
    let d = echo_test(ours, Config::default().with_fragment_size(Some(1)), msgs);
    let wm = d.wire_messages();
    assert_eq!(wm, vec![(1, vec![1; 30]), (2, vec![1; 3])]);
}

for_both_roles!(one_byte_fragments_wsmachine_server, one_byte_fragments_wsmachine_client: one_byte_fragments);

/// tungstenite writes raw data frames: `parts` as one message, with a Ping
/// before part `ping_before`.
fn tsend_fragments(ws: &mut Peer, text: bool, parts: &[&[u8]], ping_before: Option<usize>) {
    let first = if text { OpData::Text } else { OpData::Binary };
    for (i, part) in parts.iter().enumerate() {
        if ping_before == Some(i) {
            ws.write(TMessage::Ping(b"between fragments".to_vec().into())).unwrap();
        }
        let op = if i == 0 { first } else { OpData::Continue };
        let frame = TFrame::message(part.to_vec(), OpCode::Data(op), i + 1 == parts.len());
        ws.write(TMessage::Frame(frame)).unwrap();
    }
    ws.flush().unwrap();
}

/// tungstenite sends fragmented messages (cut inside UTF-8 sequences, with
/// empty continuation frames and a Ping between fragments); wsmachine
/// reassembles, answers the Ping at once, and echoes.
fn fragmented_by_tungstenite(ours: Role) {
    let text = text_of_len(MIB);
    let bin = binary_of_len(64 * 1024);
    let small = UTF8_UNIT.repeat(2);
    let want = vec![Msg::Text(small.clone()), Msg::Binary(bin.clone()), Msg::Text(text.clone())];
    let expected = want.clone();
    let (d, ()) = interop(
        ours,
        Config::default(), // 1 MiB in 64 KiB fragments is within the default limits
        move |ws| {
            let s = small.as_bytes();
            // Cuts after 2 and 5 bytes split 'é' and '€'; an empty middle frame.
            tsend_fragments(ws, true, &[&s[..2], &s[2..5], &[], &s[5..]], Some(2));
            match tread(ws) {
                TMessage::Pong(p) => assert_eq!(&p[..], b"between fragments"),
                other => panic!("expected the Pong, got {}", describe_tung(&other)),
            }
            assert_tung_msg(&tread(ws), &expected[0]);

            tsend_fragments(ws, false, &[&bin[..1000], &[], &bin[1000..]], Some(1));
            match tread(ws) {
                TMessage::Pong(p) => assert_eq!(&p[..], b"between fragments"),
                other => panic!("expected the Pong, got {}", describe_tung(&other)),
            }
            assert_tung_msg(&tread(ws), &expected[1]);

            // 65535-byte fragments: 65535 % 10 == 5 cuts inside UTF-8 sequences.
            let parts: Vec<&[u8]> = text.as_bytes().chunks(65535).collect();
            tsend_fragments(ws, true, &parts, None);
            assert_tung_msg(&tread(ws), &expected[2]);
            peer_close_normal(ws);
        },
        |d| {
            d.echo = true;
            d.run_until_closed();
        },
    );
    let events = d.events();
    let ping = Event::Ping(wsmachine::Bytes::from_static(b"between fragments"));
    assert_eq!(events.len(), 5 + 2, "{}", d.summary());
    assert_eq!(events[0], ping);
    assert_our_msg(&events[1], &want[0]);
    assert_eq!(events[2], ping);
    assert_our_msg(&events[3], &want[1]);
    assert_our_msg(&events[4], &want[2]);
    assert_closed_normal_by_peer(&d);
    // Pongs are written the moment the Ping is processed, before the message
    // it interrupted is echoed.
    let ops: Vec<u8> = d.wire().frames.iter().map(|f| f.opcode).collect();
    assert_eq!(ops, vec![0xA, 1, 0xA, 2, 1, 8]);
}

for_both_roles!(
    fragmented_by_tungstenite_wsmachine_server, fragmented_by_tungstenite_wsmachine_client:
    fragmented_by_tungstenite
);

// ----------------------------------------------------------------------
// The default 1 MiB limits
// ----------------------------------------------------------------------

/// At the default limits a message of exactly 1 MiB passes (the limits are
/// inclusive); one byte more fails the connection with 1009, in one frame
/// (`FrameTooLarge`, at its header) or fragmented (`MessageTooLarge`, at the
/// header of the frame that crosses the limit).
fn default_limit(ours: Role, fragmented: bool) {
    let exact = binary_of_len(MIB);
    let over = binary_of_len(MIB + 1);
    let (mut d, peer_saw) = interop(
        ours,
        Config::default(),
        move |ws| {
            ws.send(TMessage::binary(exact.clone())).unwrap();
            assert_tung_msg(&tread(ws), &Msg::Binary(exact));
            // Our side shuts down only its write side and reads and discards
            // whatever follows its failure (a lingering close), so this
            // write completes.
            if fragmented {
                let parts: Vec<&[u8]> = over.chunks(64 * 1024).collect();
                assert_eq!(parts.len(), 17);
                tsend_fragments(ws, false, &parts, None);
            } else {
                ws.send(TMessage::binary(over)).unwrap();
            }
            let close = tread(ws);
            // What follows depends on the role: a tungstenite client flushes
            // its Close reply and waits for the EOF, a server ends at once.
            let after = ws.read();
            (close, after.map_err(|e| format!("{e:?}")))
        },
        |d| {
            d.echo = true;
            d.shutdown = Shutdown::Write;
            d.run_until_closed();
            d.linger();
        },
    );
    let (close, after) = peer_saw;
    match close {
        TMessage::Close(Some(f)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (1009, "")),
        other => panic!("tungstenite expected Close 1009, got {}", describe_tung(&other)),
    }
    assert_eq!(after, Err("ConnectionClosed".to_owned()));
    let events = d.events();
    assert_eq!(events.len(), 2, "{}", d.summary());
    assert_our_msg(&events[0], &Msg::Binary(binary_of_len(MIB)));
    let error = if fragmented {
        // 16 fragments of 64 KiB make 1 MiB; the 17th frame (1 byte) crosses.
        ProtocolError::MessageTooLarge { size: MIB as u64 + 1, max: MIB }
    } else {
        ProtocolError::FrameTooLarge { size: MIB as u64 + 1, max: MIB }
    };
    assert_eq!(d.closed_event(), failed_by(error));
    // Failing (§7.1.7) closes the transport at once, in either role.
    d.check_close_order(ours, false);
    assert!(d.position(|s| *s == Step::Eof).is_none(), "{}", d.summary());
    d.check_wire();
    let last = d.last_wire_frame();
    assert_eq!((last.opcode, last.control.as_slice()), (0x8, &close_payload(1009, "")[..]));
    assert_eq!(d.wire_messages().len(), 1);
    d.conn.handle_bytes(b"\x82\x00");
    d.conn.handle_eof();
    assert_eq!(d.conn.poll_output(), None, "nothing after Closed");
}

for_both_roles!(
    default_limit_one_mib_passes_one_more_byte_fails_wsmachine_server,
    default_limit_one_mib_passes_one_more_byte_fails_wsmachine_client: default_limit(false)
);
for_both_roles!(
    default_limit_fragmented_wsmachine_server, default_limit_fragmented_wsmachine_client: default_limit(true)
);

// ----------------------------------------------------------------------
// Closing
// ----------------------------------------------------------------------

/// The close codes tried: 1000, 1001, 4000 with a reason, and no code.
fn close_cases() -> Vec<(Option<u16>, &'static str)> {
    vec![(Some(1000), ""), (Some(1001), ""), (Some(4000), "done here: ✓ 🦀 "), (None, "")]
}

/// wsmachine starts the closing handshake.
fn close_by_wsmachine(ours: Role, code: Option<u16>, reason: &'static str) {
    let (d, ()) = interop(
        ours,
        Config::default(),
        move |ws| {
            expect_close(ws, code, reason);
            // A server flushes its echo and ends; a client flushes its echo
            // and waits for our EOF. Both report ConnectionClosed.
            expect_connection_closed(ws);
        },
        |d| {
            d.conn.close(code.map(CloseCode::new), reason).unwrap();
            assert_eq!(d.conn.ready_state(), ReadyState::Closing);
            d.pump();
            d.run_until_closed();
        },
    );
    // tungstenite echoes the code and reason; no Closing event, since we
    // started it.
    let (want_code, want_reason) = match code {
        Some(c) => (CloseCode::new(c), reason.to_owned()),
        None => (CloseCode::NO_STATUS_RCVD, String::new()),
    };
    assert_eq!(
        d.events(),
        vec![Event::Closed(Closed { code: want_code, reason: want_reason, was_clean: true, error: None })]
    );
    check_only_our_close(&d, ours, code, reason);
    assert_eq!(d.states, vec![ReadyState::Open, ReadyState::Closing, ReadyState::Closed]);
}

/// tungstenite starts the closing handshake.
fn close_by_tungstenite(ours: Role, code: Option<u16>, reason: &'static str) {
    let (d, ()) = interop(
        ours,
        Config::default(),
        move |ws| {
            ws.close(code.map(|c| tclose_frame(c, reason))).unwrap();
            expect_close(ws, code, reason);
            // A tungstenite client waits for our server's EOF; a tungstenite
            // server ends here, and dropping it closes TCP.
            expect_connection_closed(ws);
        },
        |d| {
            d.run_until_closed();
        },
    );
    let frame = match code {
        Some(c) => CloseFrame { code: CloseCode::new(c), reason: reason.to_owned() },
        None => CloseFrame { code: CloseCode::NO_STATUS_RCVD, reason: String::new() },
    };
    assert_eq!(
        d.events(),
        vec![
            Event::Closing(frame.clone()),
            Event::Closed(Closed { code: frame.code, reason: frame.reason, was_clean: true, error: None }),
        ]
    );
    // Only the echo.
    check_only_our_close(&d, ours, code, reason);
    // The echo went out before the transport was closed; as a client, the
    // echo was written, then EOF came, then CloseTransport.
    let wrote = d.position(|s| matches!(s, Step::Wrote(_))).unwrap();
    let ct = d.position(|s| *s == Step::CloseTransport).unwrap();
    assert!(wrote < ct);
    match ours {
        // Open → Closing on the Close, Closed on EOF.
        Role::Client => assert_eq!(d.states, vec![ReadyState::Open, ReadyState::Closing, ReadyState::Closed]),
        // The server's handshake completes within the one input.
        Role::Server => assert_eq!(d.states, vec![ReadyState::Open, ReadyState::Closed]),
    }
}

/// The `Closed` of a connection wsmachine failed on the peer's `error`:
/// 1006, not clean.
fn failed_by(error: ProtocolError) -> Closed {
    Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error: Some(error.into()) }
}

/// tungstenite reads the Close `code` (none: no body) with `reason`.
#[track_caller]
fn expect_close(ws: &mut Peer, code: Option<u16>, reason: &str) {
    let msg = tread(ws);
    match (&msg, code) {
        (TMessage::Close(Some(f)), Some(c)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (c, reason)),
        (TMessage::Close(None), None) => {}
        _ => panic!("tungstenite expected Close({code:?}, {reason:?}), got {msg:?}"),
    }
}

/// After a clean close: wsmachine wrote exactly one frame, a final Close
/// with `code` and `reason` (no body without a code), and kept the order
/// of [`Driver::check_close_order`].
#[track_caller]
fn check_only_our_close(d: &Driver, ours: Role, code: Option<u16>, reason: &str) {
    d.check_close_order(ours, true);
    d.check_wire();
    let frames = d.wire().frames;
    assert_eq!(frames.len(), 1, "only the Close");
    let body = code.map(|c| close_payload(c, reason)).unwrap_or_default();
    assert_eq!((frames[0].opcode, frames[0].fin, &frames[0].control), (0x8, true, &body));
}

/// `close(ours, code, reason)` for every case of [`close_cases`].
fn every_close_case(ours: Role, close: fn(Role, Option<u16>, &'static str)) {
    for (code, reason) in close_cases() {
        close(ours, code, reason);
    }
}

for_both_roles!(
    close_started_by_wsmachine_server, close_started_by_wsmachine_client: every_close_case(close_by_wsmachine)
);
// Named after tungstenite's side: wsmachine is the server when the
// tungstenite client closes.
for_both_roles!(
    close_started_by_tungstenite_client, close_started_by_tungstenite_server: every_close_case(close_by_tungstenite)
);

/// Both send Close at the same time: each sees the other's Close as the
/// answer to its own.
fn simultaneous_close(ours: Role) {
    let (d, peer_msg) = interop(
        ours,
        Config::default(),
        |ws| {
            ws.close(Some(tclose_frame(1001, "peer"))).unwrap();
            let msg = tread(ws);
            expect_connection_closed(ws);
            msg
        },
        |d| {
            d.conn.close(Some(CloseCode::new(4000)), "ours").unwrap();
            d.pump();
            d.run_until_closed();
        },
    );
    match peer_msg {
        TMessage::Close(Some(f)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (4000, "ours")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        d.events(),
        vec![Event::Closed(Closed {
            code: CloseCode::GOING_AWAY,
            reason: "peer".into(),
            was_clean: true,
            error: None
        })]
    );
    d.check_close_order(ours, true);
    d.check_wire();
    assert_eq!(d.wire().frames.len(), 1);
}

for_both_roles!(simultaneous_close_wsmachine_server, simultaneous_close_wsmachine_client: simultaneous_close);

// ----------------------------------------------------------------------
// Ping and Pong
// ----------------------------------------------------------------------

/// A Ping from tungstenite gets a Pong from wsmachine (auto_pong), and a
/// Ping from wsmachine gets a Pong from tungstenite; an unsolicited Pong from
/// wsmachine reaches tungstenite.
fn ping_pong(ours: Role) {
    let (d, ()) = interop(
        ours,
        Config::default(),
        |ws| {
            ws.send(TMessage::Ping(b"from tungstenite".to_vec().into())).unwrap();
            match tread(ws) {
                TMessage::Pong(p) => assert_eq!(&p[..], b"from tungstenite"),
                other => panic!("expected our Pong, got {}", describe_tung(&other)),
            }
            // wsmachine pings once it has seen tungstenite's Ping.
            match tread(ws) {
                TMessage::Ping(p) => assert_eq!(&p[..], b"from wsmachine"),
                other => panic!("expected wsmachine's Ping, got {}", describe_tung(&other)),
            }
            // The reply is queued; the next read flushes it.
            match tread(ws) {
                TMessage::Pong(p) => assert_eq!(&p[..], b"heartbeat"),
                other => panic!("expected wsmachine's unsolicited Pong, got {}", describe_tung(&other)),
            }
            // An empty Ping too.
            ws.send(TMessage::Ping(Vec::new().into())).unwrap();
            match tread(ws) {
                TMessage::Pong(p) => assert!(p.is_empty()),
                other => panic!("expected the empty Pong, got {}", describe_tung(&other)),
            }
            match tread(ws) {
                TMessage::Close(Some(f)) => assert_eq!(u16::from(f.code), 1000),
                other => panic!("expected Close, got {}", describe_tung(&other)),
            }
            expect_connection_closed(ws);
        },
        |d| {
            d.run_until("the Ping", |d| !d.events().is_empty());
            assert_eq!(d.events(), vec![Event::Ping(wsmachine::Bytes::from_static(b"from tungstenite"))]);
            d.conn.ping(&b"from wsmachine"[..]).unwrap();
            d.pump();
            d.run_until("the Pong", |d| d.events().len() == 2);
            assert_eq!(d.events()[1], Event::Pong(wsmachine::Bytes::from_static(b"from wsmachine")));
            d.conn.pong(&b"heartbeat"[..]).unwrap();
            d.pump();
            d.run_until("the empty Ping", |d| d.events().len() == 3);
            assert_eq!(d.events()[2], Event::Ping(wsmachine::Bytes::new()));
            d.conn.close(Some(CloseCode::NORMAL), "").unwrap();
            d.pump();
            d.run_until_closed();
        },
    );
    d.check_close_order(ours, true);
    d.check_wire();
    let frames: Vec<(u8, Vec<u8>)> = d.wire().frames.iter().map(|f| (f.opcode, f.control.clone())).collect();
    assert_eq!(
        frames,
        vec![
            (0xA, b"from tungstenite".to_vec()),
            (0x9, b"from wsmachine".to_vec()),
            (0xA, b"heartbeat".to_vec()),
            (0xA, Vec::new()),
            (0x8, close_payload(1000, "")),
        ]
    );
    assert_eq!(
        d.closed_event(),
        Closed { code: CloseCode::NORMAL, reason: String::new(), was_clean: true, error: None }
    );
}

for_both_roles!(ping_pong_wsmachine_server, ping_pong_wsmachine_client: ping_pong);

/// Control frames keep their payload up to the 125-byte limit both ways.
fn max_control_payload(ours: Role) {
    let payload: Vec<u8> = (0..125u8).collect();
    let p2 = payload.clone();
    let (d, ()) = interop(
        ours,
        Config::default(),
        move |ws| {
            ws.send(TMessage::Ping(p2.clone().into())).unwrap();
            match tread(ws) {
                TMessage::Pong(p) => assert_eq!(p.to_vec(), p2),
                other => panic!("{other:?}"),
            }
            let reason = "r".repeat(123);
            ws.close(Some(tclose_frame(4999, &reason))).unwrap();
            match tread(ws) {
                TMessage::Close(Some(f)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (4999, &reason[..])),
                other => panic!("{other:?}"),
            }
            expect_connection_closed(ws);
        },
        |d| {
            d.run_until_closed();
        },
    );
    d.check_wire();
    assert_eq!(d.wire().frames[0].control, payload);
    assert_eq!(d.wire().frames[1].control.len(), 125);
    assert_eq!(
        d.closed_event(),
        Closed { code: CloseCode::new(4999), reason: "r".repeat(123), was_clean: true, error: None }
    );
}

for_both_roles!(max_control_payload_wsmachine_server, max_control_payload_wsmachine_client: max_control_payload);

// ----------------------------------------------------------------------
// Abrupt ends
// ----------------------------------------------------------------------

/// tungstenite drops the TCP connection without a Close: wsmachine reports
/// 1006, not clean, and closes its transport.
fn peer_vanishes(ours: Role) {
    let (d, ()) = interop(
        ours,
        Config::default(),
        |ws| ws.send(TMessage::text("last words")).unwrap(),
        |d| {
            d.run_until_closed();
        },
    );
    assert_eq!(
        d.events(),
        vec![
            Event::Message(Message::text("last words")),
            Event::Closed(Closed { code: CloseCode::ABNORMAL, reason: String::new(), was_clean: false, error: None }),
        ]
    );
    d.check_close_order(ours, false);
    assert!(d.wire_out.is_empty(), "nothing to send on EOF");
}

for_both_roles!(peer_vanishes_wsmachine_server, peer_vanishes_wsmachine_client: peer_vanishes);

/// A protocol error by the peer (here: a Close frame with the reserved code
/// 1005 on the wire) fails the connection: wsmachine sends Close 1002 and
/// closes the transport; tungstenite sees the 1002.
fn peer_protocol_error(ours: Role) {
    let (d, peer_saw) = interop(
        ours,
        Config::default(),
        |ws| {
            // tungstenite lets any code through `Frame::close`.
            ws.write(TMessage::Frame(TFrame::close(Some(tclose_frame(1005, ""))))).unwrap();
            ws.flush().unwrap();
            tread(ws)
        },
        |d| {
            d.run_until_closed();
            d.linger();
        },
    );
    match peer_saw {
        TMessage::Close(Some(f)) => assert_eq!(u16::from(f.code), 1002),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.closed_event(), failed_by(ProtocolError::InvalidCloseCode(1005)));
    d.check_close_order(ours, false);
    d.check_wire();
    assert_eq!(d.last_wire_frame().control, close_payload(1002, ""));
}

for_both_roles!(peer_protocol_error_wsmachine_server, peer_protocol_error_wsmachine_client: peer_protocol_error);
