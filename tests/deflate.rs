//! permessage-deflate (RFC 7692) through the public `Connection` API:
//! negotiation in both roles (§5, §7.1), compression per message (§6, §7.2)
//! with exact wire bytes, context takeover and its absence, fragmentation,
//! control frames, RSV1 rules (§6.1), the threshold, window sizes 8..=15,
//! limits on the inflated size (decompression bombs, with the heap measured),
//! corrupt data, streaming receive and streaming send, `buffered_amount`, and
//! `with_extensions` for a handshake done elsewhere.
//!
//! What the connection writes is inflated with flate2, and where the window
//! matters with an independent DEFLATE decoder (`tests/common/puff.rs`),
//! which also reports how far back the matches reach, so the negotiated
//! window sizes can be checked on the wire.
#![cfg(feature = "deflate")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use wsmachine::handshake::{Accept, ClientRequest, ExtensionOffer, UsageError, accept_key, parse_extensions};
use wsmachine::{
    Bytes, Config, Connection, ConnectionError, DeflateConfig, Event, HandshakeError, Message, MessageKind, Negotiated,
    Output, ProtocolError, ReadyState, Role, SendError,
};

// ---------------------------------------------------------------------------
// Peak-heap measurement (per thread, so tests may run in parallel)
// ---------------------------------------------------------------------------

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Runs `f` and returns its result with the most heap this thread held at
/// once while it ran, above what it held before.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = alloc::live();
    alloc::reset_peak();
    let out = f();
    (out, (alloc::peak() - start).max(0) as usize)
}

// ---------------------------------------------------------------------------
// The independent DEFLATE decoder (tests/common/puff.rs)
// ---------------------------------------------------------------------------

use common::puff::Inflater;

/// Known-answer checks of the decoder itself against RFC 7692 §7.2.3.
#[test]
fn puff_decodes_the_rfc_examples() {
    let one = |p: &[u8]| Inflater::new().message(p, false).unwrap();
    let hello = one(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(hello.data, b"Hello");
    assert_eq!(hello.blocks, [1, 0]);
    assert_eq!(one(&[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]).data, b"Hello");
    assert_eq!(one(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]).data, b"Hello");
    assert_eq!(one(&[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]).data, b"Hello");
    assert_eq!(one(&[0x00]).data, b"");
    // §7.2.3.2: the second message refers to the first.
    let mut inf = Inflater::new();
    inf.message(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true).unwrap();
    let second = inf.message(&[0xf2, 0x00, 0x11, 0x00, 0x00], true).unwrap();
    assert_eq!(second.data, b"Hello");
    assert!(second.used_history);
    assert_eq!(second.max_distance, 5);
    assert_eq!(inf.max_distance(), 5);
    // Without the window (no context takeover) it refers to nothing.
    assert!(inf.message(&[0xf2, 0x00, 0x11, 0x00, 0x00], false).is_err());
    assert!(Inflater::new().message(&[0xf2, 0x00, 0x11, 0x00, 0x00], true).is_err());
    assert!(Inflater::new().message(&[0xff], true).is_err());
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];
const RSV1: u8 = 0b100;

/// A stored (uncompressed) block with BFINAL unset, written by hand.
fn stored(data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= 0xffff);
    let len = data.len() as u16;
    let mut v = vec![0x00];
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&(!len).to_le_bytes());
    v.extend_from_slice(data);
    v
}

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// Both `*_no_context_takeover` off and the threshold at 0: every message is
/// compressed, and nothing is done beyond what is agreed.
fn takeover() -> DeflateConfig {
    DeflateConfig::default()
        .with_server_no_context_takeover(false)
        .with_client_no_context_takeover(false)
        .with_threshold(0)
}

fn exts(header: &str) -> Vec<ExtensionOffer> {
    parse_extensions(header).unwrap_or_else(|e| panic!("{header}: {e:?}"))
}

/// An open connection whose handshake agreed on `agreed` (the server's
/// response element), with the RFC masking key for a client.
fn open(role: Role, cfg: DeflateConfig, agreed: &str, base: Config) -> Connection {
    Connection::new_open(role, base.with_deflate(Some(cfg)), FixedMask(RFC_KEY))
        .with_extensions(&exts(agreed))
        .expect("with_extensions")
}

fn open_default(role: Role, cfg: DeflateConfig, agreed: &str) -> Connection {
    open(role, cfg, agreed, Config::default())
}

/// A compressed data frame as the peer of `receiver` sends it.
fn peer_compressed(receiver: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    peer_frame_rsv(receiver, fin, RSV1, opcode, payload)
}

fn failed(error: ProtocolError) -> Out {
    closed_out(1006, "", false, Some(ConnectionError::Protocol(error)))
}

/// What `role` writes and reports when it fails the connection with `code`.
fn fails(role: Role, code: u16, error: ProtocolError) -> Vec<Out> {
    outs([Out::Wire(own_frame(role, true, op::CLOSE, &close_body(code, ""))), Out::CloseTransport, failed(error)])
}

fn text_event(s: &str) -> Out {
    Out::Event(Event::Message(Message::text(s.to_owned())))
}

/// Raw DEFLATE of `data` with a sync flush and the tail removed, made with
/// flate2 (the zlib the crate uses) at `level`: for inputs too large to
/// write by hand.
fn zlib_compress(data: &[u8], level: u32) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.len().max(64 * 1024));
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync).unwrap();
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.ends_with(&[0, 0, 0xff, 0xff]) && out.len() < out.capacity() {
            break;
        }
    }
    out.truncate(out.len() - 4);
    out
}

/// Compressible text: words drawn from a vocabulary of 400 random words, so
/// matches occur at every distance up to several KiB.
fn wordy(seed: u64, len: usize) -> String {
    let raw = noise(seed ^ 0x5eed, 4 * 400);
    let vocab: Vec<String> =
        raw.chunks(4).map(|c| c.iter().map(|b| char::from(b'a' + b % 26)).collect::<String>() + " ").collect();
    let picks = noise(seed, len / 2 + 1);
    let mut s = String::with_capacity(len + 8);
    let mut i = 0;
    while s.len() < len {
        s.push_str(&vocab[(usize::from(picks[i % picks.len()]) + 256 * (i % 2)) % vocab.len()]);
        if i % 37 == 0 {
            s.push_str("κόσμε ");
        }
        i += 1;
    }
    while s.len() > len {
        s.pop();
    }
    s
}

/// The data messages in a stream of frames written by one side, checking
/// the RSV rules on the way (RFC 7692 §6.1): RSV1 at most on a message's
/// first frame, never on a continuation or control frame, RSV2/RSV3 never.
#[derive(Debug, Clone)]
struct WireMsg {
    opcode: u8,
    compressed: bool,
    frames: usize,
    payload: Vec<u8>,
}

fn wire_messages(frames: &[WireFrame]) -> Vec<WireMsg> {
    let mut msgs = Vec::new();
    let mut cur: Option<WireMsg> = None;
    for f in frames {
        assert_eq!(f.rsv & 0b011, 0, "RSV2/RSV3 set: {f:?}");
        match f.opcode {
            op::TEXT | op::BINARY => {
                assert!(cur.is_none(), "new message inside a message");
                cur = Some(WireMsg { opcode: f.opcode, compressed: f.rsv == RSV1, frames: 0, payload: Vec::new() });
            }
            op::CONT => {
                assert_eq!(f.rsv, 0, "RSV1 on a continuation frame");
                assert!(cur.is_some(), "continuation outside a message");
            }
            _ => {
                assert_eq!(f.rsv, 0, "RSV bits on a control frame {f:?}");
                continue;
            }
        }
        let m = cur.as_mut().unwrap();
        m.frames += 1;
        m.payload.extend_from_slice(&f.payload);
        if f.fin {
            msgs.push(cur.take().unwrap());
        }
    }
    assert!(cur.is_none(), "unfinished message on the wire");
    msgs
}

/// Decodes the compressed messages of one direction with the independent
/// decoder: one window with context takeover, none carried over without.
/// Returns the decoded messages in order (uncompressed ones as they are)
/// and the longest match distance seen.
fn decode_direction(msgs: &[WireMsg], takeover: bool) -> (Vec<Vec<u8>>, usize) {
    let mut puff = Inflater::new();
    let out = msgs
        .iter()
        .map(|m| {
            if !m.compressed {
                return m.payload.clone();
            }
            let d = puff.message(&m.payload, takeover).unwrap_or_else(|e| {
                panic!("undecodable compressed message ({e}): {:x?}", &m.payload[..m.payload.len().min(64)])
            });
            d.data
        })
        .collect();
    (out, puff.max_distance())
}

/// Inflates the compressed messages of one direction with flate2, where
/// how far back the matches reach does not matter: one window with context
/// takeover, a fresh one per message without. Returns the messages in order
/// (uncompressed ones as they are).
fn inflate_direction(msgs: &[WireMsg], takeover: bool) -> Vec<Vec<u8>> {
    use flate2::{Decompress, FlushDecompress};
    let mut z = Decompress::new(false);
    msgs.iter()
        .map(|m| {
            if !m.compressed {
                return m.payload.clone();
            }
            if !takeover {
                z.reset(false);
            }
            let input = [&m.payload[..], &[0, 0, 0xff, 0xff]].concat();
            let start = z.total_in();
            let mut out = Vec::new();
            loop {
                out.reserve(out.len().max(1024));
                let (read, written) = (z.total_in(), z.total_out());
                z.decompress_vec(&input[(read - start) as usize..], &mut out, FlushDecompress::Sync)
                    .unwrap_or_else(|e| panic!("{e}: {:x?}", &m.payload[..m.payload.len().min(64)]));
                if z.total_in() - start == input.len() as u64 && out.len() < out.capacity() {
                    break out;
                }
                assert!(z.total_in() > read || z.total_out() > written, "inflate stuck");
            }
        })
        .collect()
}

fn message_bytes(e: &Event) -> Option<(MessageKind, Vec<u8>)> {
    match e {
        Event::Message(m) => Some((m.kind(), m.as_bytes().to_vec())),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// A client/server pair that does the real opening handshake
// ---------------------------------------------------------------------------

/// `Connection::client` and `Connection::server` joined in memory: the
/// server accepts the upgrade request as it comes. Everything each side
/// writes after the handshake is recorded.
type Link = Pair;

impl Link {
    fn deflate(base: Config, client: Option<DeflateConfig>, server: Option<DeflateConfig>) -> Self {
        let request = ClientRequest::new("ws://example.com/chat").unwrap();
        let client =
            Connection::client(request, base.clone().with_deflate(client), FixedMask([0x11, 0x22, 0x33, 0x44]))
                .unwrap();
        let server = Connection::server(base.with_deflate(server));
        let mut link = Self::handshake(client, server).record_wire();
        link.drive();
        link
    }

    fn negotiated(events: &[Event]) -> Negotiated {
        events
            .iter()
            .find_map(|e| match e {
                Event::Open(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Open in {events:?}"))
    }

    /// The `permessage-deflate` element both sides agreed on, as the server
    /// wrote it; asserts both sides report the same.
    fn agreed(&self) -> Option<String> {
        let c = Self::negotiated(&self.client_events);
        let s = Self::negotiated(&self.server_events);
        assert_eq!(c, s, "client and server disagree");
        assert!(c.extensions.len() <= 1);
        c.extensions.first().map(ExtensionOffer::to_header_value)
    }

    fn messages(events: &[Event]) -> Vec<(MessageKind, Vec<u8>)> {
        events.iter().filter_map(message_bytes).collect()
    }
}

// ===========================================================================
// Negotiation, client side (RFC 7692 §5, §7.1)
// ===========================================================================

/// A client built with `cfg` and the RFC key; returns it and the value of the
/// `Sec-WebSocket-Extensions` header it sent (if any).
fn client_offering(cfg: Option<DeflateConfig>, extra: &[ExtensionOffer]) -> (Connection, Option<String>, String) {
    let mut request = ClientRequest::new("ws://server.example.com/chat").unwrap();
    for e in extra {
        request = request.extension(e.clone());
    }
    let mut c = Connection::client(request, Config::default().with_deflate(cfg), FixedMask(RFC_KEY)).unwrap();
    let head = String::from_utf8(wire(&drain(&mut c))).unwrap();
    let header = |name: &str| {
        head.split("\r\n").find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then(|| v.to_owned())
        })
    };
    let key = header("Sec-WebSocket-Key").expect("a key");
    (c, header("Sec-WebSocket-Extensions"), key)
}

fn response_101(key: &str, extensions: Option<&str>) -> String {
    let mut r = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key.as_bytes())
    );
    if let Some(e) = extensions {
        r.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    r.push_str("\r\n");
    r
}

#[test]
fn client_offers_what_its_config_says() {
    let table: Vec<(DeflateConfig, &str)> = vec![
        (
            DeflateConfig::default(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits",
        ),
        (takeover(), "permessage-deflate; client_max_window_bits"),
        (
            takeover().with_server_no_context_takeover(true),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
        ),
        (
            takeover().with_server_max_window_bits(10),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
        ),
        (takeover().with_client_max_window_bits(9), "permessage-deflate; client_max_window_bits=9"),
        (
            DeflateConfig::default().with_server_max_window_bits(8).with_client_max_window_bits(8),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8",
        ),
        // Out-of-range settings are clamped.
        (
            takeover().with_server_max_window_bits(3).with_client_max_window_bits(99),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits",
        ),
    ];
    for (cfg, want) in table {
        let (_, got, _) = client_offering(Some(cfg.clone()), &[]);
        assert_eq!(got.as_deref(), Some(want), "{cfg:?}");
    }
    // Without the extension configured, nothing is offered.
    assert_eq!(client_offering(None, &[]).1, None);
    // An offer the application wrote itself is replaced by the configured one.
    let own = ExtensionOffer::new("permessage-deflate").param("server_max_window_bits", Some("11"));
    assert_eq!(
        client_offering(Some(DeflateConfig::default()), &[own]).1.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits")
    );
}

/// The server's response with all four parameters is taken, reported in
/// `Open`, and governs both directions.
#[test]
fn client_accepts_all_four_parameters() {
    let cfg = DeflateConfig::default().with_server_max_window_bits(10).with_client_max_window_bits(9).with_threshold(0);
    let (mut c, offer, key) = client_offering(Some(cfg), &[]);
    assert_eq!(
        offer.as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"
        )
    );
    let answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9";
    c.handle_bytes(response_101(&key, Some(answer)).as_bytes());
    // The server's first message follows the 101 in the same read.
    c.handle_bytes(&frame(true, RSV1, op::TEXT, None, &HELLO));
    let got = drain(&mut c);
    assert_eq!(
        got,
        vec![Out::Event(Event::Open(Negotiated { protocol: None, extensions: exts(answer) })), text_event("Hello")]
    );
    c.send_text("Hello").unwrap();
    c.send_text("Hello").unwrap();
    let frames = parse_frames(&wire(&drain(&mut c)));
    // No context takeover: both identical (§7.2.3.2).
    assert_eq!(frames.len(), 2);
    for f in &frames {
        assert_eq!((f.fin, f.rsv, f.opcode, f.payload.as_slice()), (true, RSV1, op::TEXT, &HELLO[..]));
    }
}

/// Responses a client must reject (RFC 7692 §7.1): invalid values, repeated
/// parameters, unknown (never requested) parameters, the extension twice,
/// and responses that do not grant what the offer requested. The handshake
/// fails: `CloseTransport`, then `Closed { 1006, InvalidDeflateResponse }`.
#[test]
fn client_fails_the_handshake_on_a_bad_response() {
    // Offers `permessage-deflate; client_max_window_bits`.
    let plain = takeover();
    // Offers `...; server_no_context_takeover; ...; server_max_window_bits=10; client_max_window_bits`.
    let strict = DeflateConfig::default().with_server_max_window_bits(10);
    let table: Vec<(&DeflateConfig, &str, &str)> = vec![
        // Invalid values (§7.1.1, §7.1.2).
        (&plain, "permessage-deflate; server_max_window_bits=16", "InvalidValue"),
        (&plain, "permessage-deflate; server_max_window_bits=7", "InvalidValue"),
        (&plain, "permessage-deflate; server_max_window_bits=010", "InvalidValue"),
        (&plain, "permessage-deflate; server_max_window_bits", "InvalidValue"),
        (&plain, "permessage-deflate; client_max_window_bits", "InvalidValue"),
        (&plain, "permessage-deflate; client_max_window_bits=16", "InvalidValue"),
        (&plain, "permessage-deflate; server_no_context_takeover=1", "InvalidValue"),
        (&plain, "permessage-deflate; client_no_context_takeover=true", "InvalidValue"),
        // Repeated parameters (§7.1).
        (&plain, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", "DuplicateParameter"),
        (&plain, "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10", "DuplicateParameter"),
        (&plain, "permessage-deflate; server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=10", "DuplicateParameter"),
        // Parameters RFC 7692 does not define, so no offer requested them.
        (&plain, "permessage-deflate; x=1", "UnknownParameter"),
        (&plain, "permessage-deflate; mux", "UnknownParameter"),
        // The extension accepted twice.
        (&plain, "permessage-deflate, permessage-deflate", "Repeated"),
        // What the offer requested is missing or exceeded (§7.1.1.1, §7.1.2.1).
        (&strict, "permessage-deflate; server_max_window_bits=10", "MissingRequested"),
        (&strict, "permessage-deflate; server_no_context_takeover", "MissingRequested"),
        (&strict, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11", "ServerWindowTooLarge"),
    ];
    for (cfg, answer, why) in table {
        let (mut c, _, key) = client_offering(Some(cfg.clone()), &[]);
        c.handle_bytes(response_101(&key, Some(answer)).as_bytes());
        let got = drain(&mut c);
        match got.as_slice() {
            [
                Out::CloseTransport,
                Out::Event(Event::Closed(wsmachine::Closed {
                    code,
                    was_clean: false,
                    error: Some(ConnectionError::Handshake(HandshakeError::InvalidDeflateResponse(msg))),
                    ..
                })),
            ] if code.as_u16() == 1006 => {
                assert!(format!("{msg:?}").contains(why), "{answer:?}: {msg:?} is not {why}");
            }
            other => panic!("{answer:?}: {other:?}"),
        }
        assert_eq!(c.ready_state(), ReadyState::Closed);
    }
}

/// What the server may add unasked is accepted (§7.1.1, §7.1.2.1).
#[test]
fn client_accepts_what_the_server_may_add() {
    for answer in [
        "permessage-deflate",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; CLIENT_MAX_WINDOW_BITS=\"12\"",
    ] {
        let (mut c, _, key) = client_offering(Some(takeover()), &[]);
        c.handle_bytes(response_101(&key, Some(answer)).as_bytes());
        let got = drain(&mut c);
        assert!(
            matches!(got.as_slice(), [Out::Event(Event::Open(n))] if n.extensions == exts(answer)),
            "{answer}: {got:?}"
        );
    }
}

/// An extension the client offered but does not run, accepted by the
/// server, fails the handshake with `UnsupportedExtension` (RFC 6455 §9.1);
/// one it never offered with `UnofferedExtension`.
#[test]
fn client_rejects_extensions_it_does_not_run() {
    let expect_fail = |cfg: Option<DeflateConfig>, extra: &[ExtensionOffer], answer: &str, want: HandshakeError| {
        let (mut c, _, key) = client_offering(cfg, extra);
        c.handle_bytes(response_101(&key, Some(answer)).as_bytes());
        assert_eq!(
            drain(&mut c),
            vec![Out::CloseTransport, closed_out(1006, "", false, Some(ConnectionError::Handshake(want)))],
            "{answer}"
        );
    };
    let foo = [ExtensionOffer::new("x-foo")];
    expect_fail(Some(takeover()), &foo, "x-foo", HandshakeError::UnsupportedExtension("x-foo".into()));
    expect_fail(
        Some(takeover()),
        &foo,
        "permessage-deflate, x-foo",
        HandshakeError::UnsupportedExtension("x-foo".into()),
    );
    expect_fail(None, &foo, "x-foo", HandshakeError::UnsupportedExtension("x-foo".into()));
    // permessage-deflate offered by hand but not configured: not run.
    expect_fail(
        None,
        &[ExtensionOffer::new("permessage-deflate")],
        "permessage-deflate",
        HandshakeError::UnsupportedExtension("permessage-deflate".into()),
    );
    // Never offered.
    expect_fail(None, &[], "permessage-deflate", HandshakeError::UnofferedExtension("permessage-deflate".into()));
    expect_fail(Some(takeover()), &[], "x-bar", HandshakeError::UnofferedExtension("x-bar".into()));
}

/// A response without the extension: the connection opens uncompressed,
/// nothing it sends has RSV1, and RSV1 from the server fails it with 1002.
#[test]
fn client_declined_by_the_server_runs_uncompressed() {
    let (mut c, _, key) = client_offering(Some(takeover()), &[]);
    c.handle_bytes(response_101(&key, None).as_bytes());
    assert_eq!(drain(&mut c), vec![Out::Event(Event::Open(Negotiated::default()))]);
    c.send_text("Hello").unwrap();
    assert_eq!(wire(&drain(&mut c)), cframe(true, op::TEXT, b"Hello"));
    c.handle_bytes(&frame(true, RSV1, op::TEXT, None, &HELLO));
    assert_eq!(drain(&mut c), fails(Role::Client, 1002, ProtocolError::ReservedBits(RSV1)));
}

/// The response must be checked against the offer actually sent (RFC 7692
/// §7.1). With `Config::deflate` set, the configured offer is the one sent:
/// it replaces a `permessage-deflate` offer the application put in the
/// request, so the answer is always judged against what went out.
#[test]
fn the_configured_offer_replaces_the_applications_and_judges_the_answer() {
    let cfg = takeover().with_server_max_window_bits(10);
    let own = ExtensionOffer::new("permessage-deflate").param("server_max_window_bits", Some("12"));
    let (mut c, offer, key) = client_offering(Some(cfg.clone()), std::slice::from_ref(&own));
    assert_eq!(offer.as_deref(), Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits"));
    // A window larger than the one asked for fails the handshake (§7.1.2.1),
    // although the application's own offer would have allowed it.
    c.handle_bytes(response_101(&key, Some("permessage-deflate; server_max_window_bits=12")).as_bytes());
    let got = drain(&mut c);
    assert!(
        matches!(got.last(), Some(Out::Event(Event::Closed(closed)))
            if matches!(closed.error, Some(ConnectionError::Handshake(HandshakeError::InvalidDeflateResponse(_))))),
        "{got:?}"
    );
    // The answer the configured offer allows opens the connection.
    let (mut c, _, key) = client_offering(Some(cfg), std::slice::from_ref(&own));
    c.handle_bytes(response_101(&key, Some("permessage-deflate; server_max_window_bits=10")).as_bytes());
    assert!(matches!(drain(&mut c).as_slice(), [Out::Event(Event::Open(_))]));
}

// ===========================================================================
// Negotiation, server side
// ===========================================================================

fn upgrade_request(extension_lines: &[&str]) -> String {
    let mut r = String::from(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    for l in extension_lines {
        r.push_str(&format!("Sec-WebSocket-Extensions: {l}\r\n"));
    }
    r.push_str("\r\n");
    r
}

/// A server with `cfg` that received `lines` and accepted: it, its 101 and
/// the extensions `Open` reported.
fn server_accepting(cfg: Option<DeflateConfig>, lines: &[&str]) -> (Connection, String, Vec<ExtensionOffer>) {
    let mut s = Connection::server(Config::default().with_deflate(cfg));
    s.handle_bytes(upgrade_request(lines).as_bytes());
    let got = drain(&mut s);
    assert!(matches!(got.as_slice(), [Out::Event(Event::UpgradeRequest(_))]), "{got:?}");
    s.accept(Accept::new()).unwrap();
    let got = drain(&mut s);
    let [Out::Wire(head), Out::Event(Event::Open(n))] = got.as_slice() else { panic!("{got:?}") };
    (s, String::from_utf8(head.clone()).unwrap(), n.extensions.clone())
}

fn response_extensions(head: &str) -> Vec<String> {
    head.split("\r\n").filter_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: ").map(str::to_owned)).collect()
}

#[test]
fn server_answers_offers() {
    let table: Vec<(DeflateConfig, Vec<&str>, Option<&str>)> = vec![
        // A browser's offer, the default configuration.
        (
            DeflateConfig::default(),
            vec!["permessage-deflate; client_max_window_bits"],
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        (takeover(), vec!["permessage-deflate; client_max_window_bits"], Some("permessage-deflate")),
        (takeover(), vec!["permessage-deflate"], Some("permessage-deflate")),
        // All four parameters, granted as asked.
        (
            takeover(),
            vec![
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
            ],
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
            ),
        ),
        // The valueless client_max_window_bits lets the server pick.
        (
            takeover().with_client_max_window_bits(12),
            vec!["permessage-deflate; client_max_window_bits"],
            Some("permessage-deflate; client_max_window_bits=12"),
        ),
        // Without it in the offer, the server cannot limit the client.
        (takeover().with_client_max_window_bits(12), vec!["permessage-deflate"], Some("permessage-deflate")),
        // The smaller of the offered and configured server windows.
        (
            takeover().with_server_max_window_bits(9),
            vec!["permessage-deflate; server_max_window_bits=12"],
            Some("permessage-deflate; server_max_window_bits=9"),
        ),
        (
            takeover().with_server_max_window_bits(12),
            vec!["permessage-deflate; server_max_window_bits=8"],
            Some("permessage-deflate; server_max_window_bits=8"),
        ),
        (
            takeover().with_server_max_window_bits(11),
            vec!["permessage-deflate"],
            Some("permessage-deflate; server_max_window_bits=11"),
        ),
        // Several offers in one header: the first acceptable one, in order.
        (
            takeover(),
            vec![
                "permessage-deflate; server_max_window_bits=16, permessage-deflate; x=1, permessage-deflate; server_max_window_bits=12, permessage-deflate",
            ],
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
        (
            takeover(),
            vec![
                "permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits",
            ],
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        // ... and across header lines; unknown extensions are ignored.
        (
            takeover(),
            vec![
                "x-foo; a=1, permessage-deflate; mux",
                "x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover",
            ],
            Some("permessage-deflate; client_no_context_takeover"),
        ),
        // Offers the server cannot honour are declined: no header at all.
        (takeover(), vec!["permessage-deflate; server_max_window_bits=16"], None),
        (takeover(), vec!["permessage-deflate; client_max_window_bits=7"], None),
        (takeover(), vec!["permessage-deflate; server_max_window_bits"], None),
        (takeover(), vec!["permessage-deflate; server_no_context_takeover=yes"], None),
        (takeover(), vec!["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], None),
        (takeover(), vec!["permessage-deflate; foo", "permessage-deflate; client_max_window_bits=1"], None),
        (takeover(), vec!["x-foo, deflate-frame"], None),
        (takeover(), vec![], None),
    ];
    for (cfg, lines, want) in table {
        let (_, head, negotiated) = server_accepting(Some(cfg.clone()), &lines);
        let got = response_extensions(&head);
        match want {
            Some(w) => {
                assert_eq!(got, [w], "{lines:?} / {cfg:?}");
                assert_eq!(negotiated, exts(w));
            }
            None => {
                assert!(got.is_empty(), "{lines:?}: answered {got:?}");
                assert!(negotiated.is_empty());
            }
        }
    }
    // Without the extension configured, every offer is declined.
    let (_, head, negotiated) = server_accepting(None, &["permessage-deflate; client_max_window_bits"]);
    assert!(response_extensions(&head).is_empty() && negotiated.is_empty());
}

/// After declining (or without the extension), a compressed frame fails
/// the connection with 1002: RSV1 is not allowed (RFC 6455 §5.2).
#[test]
fn server_that_declined_refuses_rsv1() {
    for (cfg, lines) in [
        (Some(takeover()), vec!["permessage-deflate; server_max_window_bits=16"]),
        (Some(takeover()), vec!["permessage-deflate; foo=bar"]),
        (None, vec!["permessage-deflate"]),
        (Some(takeover()), vec![]),
    ] {
        let (mut s, _, _) = server_accepting(cfg, &lines);
        s.handle_bytes(&cframe(true, op::TEXT, b"plain"));
        s.handle_bytes(&frame(true, RSV1, op::TEXT, Some(RFC_KEY), &HELLO));
        let mut want = vec![text_event("plain")];
        want.extend(fails(Role::Server, 1002, ProtocolError::ReservedBits(RSV1)));
        assert_eq!(drain(&mut s), want, "{lines:?}");
    }
}

/// The server side of an accepted offer compresses and inflates.
#[test]
fn server_accepting_compresses_and_inflates() {
    let (mut s, head, _) = server_accepting(Some(takeover()), &["permessage-deflate; client_max_window_bits"]);
    assert_eq!(response_extensions(&head), ["permessage-deflate"]);
    // The client compresses with takeover: §7.2.3.2's two messages.
    s.handle_bytes(&frame(true, RSV1, op::TEXT, Some(RFC_KEY), &HELLO));
    s.handle_bytes(&frame(true, RSV1, op::TEXT, Some(RFC_KEY), &HELLO_AGAIN));
    assert_eq!(drain(&mut s), vec![text_event("Hello"), text_event("Hello")]);
    s.send_text("Hello").unwrap();
    s.send_text("Hello").unwrap();
    let mut want = frame(true, RSV1, op::TEXT, None, &HELLO);
    want.extend(frame(true, RSV1, op::TEXT, None, &HELLO_AGAIN));
    assert_eq!(wire(&drain(&mut s)), want);
}

/// Both roles negotiate through a real handshake with all four parameters,
/// and each direction honours what was agreed on the wire.
#[test]
fn pair_negotiates_all_four_parameters() {
    let client =
        DeflateConfig::default().with_server_max_window_bits(10).with_client_max_window_bits(9).with_threshold(0);
    let mut link = Link::deflate(Config::default(), Some(client), Some(takeover()));
    assert_eq!(
        link.agreed().as_deref(),
        Some(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"
        )
    );
    let sent: Vec<String> = (0..12).map(|i| wordy(i, 3000 + 500 * i as usize)).collect();
    for m in &sent {
        link.client.send_text(m.clone()).unwrap();
        link.server.send_text(m.clone()).unwrap();
    }
    link.drive();
    let want: Vec<(MessageKind, Vec<u8>)> = sent.iter().map(|m| (MessageKind::Text, m.as_bytes().to_vec())).collect();
    assert_eq!(Link::messages(&link.client_events), want);
    assert_eq!(Link::messages(&link.server_events), want);
    for (wire_bytes, bits) in [(&link.client_wire, 9), (&link.server_wire, 10)] {
        let msgs = wire_messages(&parse_frames(wire_bytes));
        assert!(msgs.iter().all(|m| m.compressed));
        // Each message decodes on its own (no context takeover) ...
        let (decoded, max) = decode_direction(&msgs, false);
        assert_eq!(decoded, want.iter().map(|w| w.1.clone()).collect::<Vec<_>>());
        // ... with matches no further back than the agreed window.
        assert!(max <= 1 << bits, "distance {max} > 2^{bits}");
        assert!(max > 200, "the messages should use most of the window ({max})");
    }
}

// ===========================================================================
// Compression per message (RFC 7692 §6, §7.2)
// ===========================================================================

/// RFC 7692 §7.2.3.1 and §7.2.3.2 exactly: with context takeover the second
/// "Hello" refers to the first; without, both are the same bytes.
#[test]
fn hello_twice_with_and_without_context_takeover() {
    // Takeover agreed and used.
    let mut s = open_default(Role::Server, takeover(), "permessage-deflate");
    s.send_text("Hello").unwrap();
    s.send_text("Hello").unwrap();
    assert_eq!(
        wire(&drain(&mut s)),
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]
    );
    let twice =
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    // Agreed without takeover.
    let mut s = open_default(Role::Server, takeover(), "permessage-deflate; server_no_context_takeover");
    s.send_text("Hello").unwrap();
    s.send_text("Hello").unwrap();
    assert_eq!(wire(&drain(&mut s)), twice);
    // Takeover agreed, but this endpoint's configuration does less (§7.2.1).
    let mut s = open_default(Role::Server, takeover().with_server_no_context_takeover(true), "permessage-deflate");
    s.send_text("Hello").unwrap();
    s.send_text("Hello").unwrap();
    assert_eq!(wire(&drain(&mut s)), twice);
    // The same with release_idle off (the compressor is reset, not freed).
    let mut s = open_default(
        Role::Server,
        takeover().with_release_idle(false),
        "permessage-deflate; server_no_context_takeover",
    );
    for _ in 0..3 {
        s.send_text("Hello").unwrap();
    }
    assert_eq!(wire(&drain(&mut s)), [&twice[..], &twice[..9]].concat());
    // A client: the same payloads, masked.
    let mut c = open_default(Role::Client, takeover(), "permessage-deflate");
    c.send_text("Hello").unwrap();
    c.send_text("Hello").unwrap();
    assert_eq!(
        wire(&drain(&mut c)),
        [frame(true, RSV1, op::TEXT, Some(RFC_KEY), &HELLO), frame(true, RSV1, op::TEXT, Some(RFC_KEY), &HELLO_AGAIN)]
            .concat()
    );
    let mut c = open_default(Role::Client, takeover(), "permessage-deflate; client_no_context_takeover");
    c.send_text("Hello").unwrap();
    c.send_text("Hello").unwrap();
    assert_eq!(wire(&drain(&mut c)), frame(true, RSV1, op::TEXT, Some(RFC_KEY), &HELLO).repeat(2));
}

/// §7.2.3.2: uncompressed messages between the two "Hello"s (here under the
/// threshold) do not enter the window, sending or receiving.
#[test]
fn uncompressed_messages_do_not_touch_the_window() {
    let mut s = open_default(Role::Server, takeover().with_threshold(5), "permessage-deflate");
    s.send_text("Hello").unwrap();
    s.send_text("Hi").unwrap();
    s.send_binary(&b"bye"[..]).unwrap();
    s.send_text("Hello").unwrap();
    assert_eq!(
        wire(&drain(&mut s)),
        [
            frame(true, RSV1, op::TEXT, None, &HELLO),
            sframe(true, op::TEXT, b"Hi"),
            sframe(true, op::BINARY, b"bye"),
            frame(true, RSV1, op::TEXT, None, &HELLO_AGAIN),
        ]
        .concat()
    );
    for role in ROLES {
        let mut r = open_default(role, takeover(), "permessage-deflate");
        r.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO));
        r.handle_bytes(&peer_frame(role, true, op::TEXT, b"Hi"));
        r.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO_AGAIN));
        assert_eq!(drain(&mut r), vec![text_event("Hello"), text_event("Hi"), text_event("Hello")], "{role:?}");
    }
}

/// The receive side honours the peer's takeover setting: without it, the
/// window is empty at every message, so a message that refers back is
/// corrupt (1007); with it, the reference resolves.
#[test]
fn receive_window_reset_as_negotiated() {
    for role in ROLES {
        let peer_nct = match role {
            Role::Server => "permessage-deflate; client_no_context_takeover",
            Role::Client => "permessage-deflate; server_no_context_takeover",
        };
        for release_idle in [true, false] {
            let mut r = open_default(role, takeover().with_release_idle(release_idle), peer_nct);
            r.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO));
            r.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO));
            r.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO_AGAIN));
            let mut want = vec![text_event("Hello"), text_event("Hello")];
            want.extend(fails(role, 1007, ProtocolError::InvalidCompressedData));
            assert_eq!(drain(&mut r), want, "{role:?} release_idle={release_idle}");
        }
    }
}

/// Every RFC 7692 §7.2.3 example, received in both roles and both modes.
#[test]
fn rfc_examples_received() {
    let examples: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("7.2.3.1", vec![HELLO.to_vec()]),
        // Fragmented 3 + 4, RSV1 on the first frame only.
        ("7.2.3.1 fragmented", vec![vec![0xf2, 0x48, 0xcd], vec![0xc9, 0xc9, 0x07, 0x00]]),
        ("7.2.3.3", vec![vec![0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]]),
        ("7.2.3.4", vec![vec![0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]]),
        ("7.2.3.5", vec![vec![0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]]),
        // The same split at every byte, with an empty frame in the middle.
        (
            "7.2.3.5 bytewise",
            [0xf2u8, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07]
                .iter()
                .map(|b| vec![*b])
                .chain([vec![], vec![0x00]])
                .collect(),
        ),
    ];
    for role in ROLES {
        for streaming in [false, true] {
            for (name, frames) in &examples {
                let mut r =
                    open(role, takeover(), "permessage-deflate", Config::default().with_streaming_receive(streaming));
                let n = frames.len();
                for (i, p) in frames.iter().enumerate() {
                    let (rsv, opcode) = if i == 0 { (RSV1, op::TEXT) } else { (0, op::CONT) };
                    r.handle_bytes(&peer_frame_rsv(role, i + 1 == n, rsv, opcode, p));
                }
                let got = drain(&mut r);
                assert_eq!(
                    fold(&got),
                    vec![(MessageKind::Text, b"Hello".to_vec())],
                    "{name} {role:?} streaming={streaming}: {got:?}"
                );
                if !streaming {
                    assert_eq!(got, vec![text_event("Hello")]);
                }
            }
            // §7.2.3.6: an empty message, as the single octet 00, as an empty
            // payload, and as an empty last fragment.
            let mut r =
                open(role, takeover(), "permessage-deflate", Config::default().with_streaming_receive(streaming));
            r.handle_bytes(&peer_compressed(role, true, op::BINARY, &[0x00]));
            r.handle_bytes(&peer_compressed(role, true, op::TEXT, &[]));
            r.handle_bytes(&peer_compressed(role, false, op::TEXT, &HELLO));
            r.handle_bytes(&peer_frame(role, true, op::CONT, &[]));
            r.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO));
            assert_eq!(
                fold(&drain(&mut r)),
                vec![
                    (MessageKind::Binary, vec![]),
                    (MessageKind::Text, vec![]),
                    (MessageKind::Text, b"Hello".to_vec()),
                    (MessageKind::Text, b"Hello".to_vec())
                ],
                "{role:?} streaming={streaming}"
            );
        }
    }
}

/// Folds assembled or streamed message events into `(kind, bytes)`,
/// checking that streamed runs are well formed.
fn fold(outs: &[Out]) -> Vec<(MessageKind, Vec<u8>)> {
    let mut msgs = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>)> = None;
    for o in outs {
        let Out::Event(e) = o else { continue };
        match e {
            Event::Message(m) => {
                assert!(cur.is_none());
                msgs.push((m.kind(), m.as_bytes().to_vec()));
            }
            Event::MessageStart(k) => {
                assert!(cur.is_none());
                cur = Some((*k, Vec::new()));
            }
            Event::MessageChunk(m) => {
                let c = cur.as_mut().expect("chunk outside a message");
                assert_eq!(m.kind(), c.0);
                assert!(!m.is_empty(), "empty chunk");
                c.1.extend_from_slice(m.as_bytes());
            }
            Event::MessageEnd => msgs.push(cur.take().expect("end outside a message")),
            _ => {}
        }
    }
    msgs
}

/// RSV1 is set on the first frame only of a compressed message that
/// `fragment_size` splits; the frames together are the compressed message.
#[test]
fn fragmented_compressed_message_sent() {
    let text = wordy(7, 20_000);
    for role in ROLES {
        let mut s = open(role, takeover(), "permessage-deflate", Config::default().with_fragment_size(Some(300)));
        s.send_text(text.clone()).unwrap();
        s.send_text("Hello").unwrap();
        let frames = parse_frames(&wire(&drain(&mut s)));
        assert!(frames.len() > 3, "{} frames", frames.len());
        assert_eq!((frames[0].rsv, frames[0].opcode, frames[0].fin), (RSV1, op::TEXT, false));
        for f in &frames[1..frames.len() - 2] {
            assert_eq!((f.rsv, f.opcode, f.fin), (0, op::CONT, false));
            assert_eq!(f.payload.len(), 300);
        }
        assert_eq!((frames[frames.len() - 2].rsv, frames[frames.len() - 2].fin), (0, true));
        // "Hello" after it, taking over the window: one frame.
        let last = frames.last().unwrap();
        assert_eq!((last.rsv, last.opcode, last.fin), (RSV1, op::TEXT, true));
        let msgs = wire_messages(&frames);
        let decoded = inflate_direction(&msgs, true);
        let want: [&[u8]; 2] = [text.as_bytes(), b"Hello"];
        assert_eq!(decoded, want);
        // A compressed message is far smaller than the text.
        assert!(msgs[0].payload.len() < text.len() / 2);
    }
}

/// Control frames are never compressed and may come between the frames of
/// a compressed message, either way.
#[test]
fn control_frames_between_compressed_fragments() {
    for role in ROLES {
        for streaming in [false, true] {
            let mut r =
                open(role, takeover(), "permessage-deflate", Config::default().with_streaming_receive(streaming));
            r.handle_bytes(&peer_compressed(role, false, op::TEXT, &HELLO[..3]));
            r.handle_bytes(&peer_frame(role, true, op::PING, b"ping!"));
            r.handle_bytes(&peer_frame(role, true, op::PONG, b""));
            r.handle_bytes(&peer_frame(role, true, op::CONT, &HELLO[3..]));
            let got = drain(&mut r);
            assert_eq!(fold(&got), vec![(MessageKind::Text, b"Hello".to_vec())]);
            let evs = events(&got);
            assert!(evs.contains(&Event::Ping(bytes(b"ping!"))) && evs.contains(&Event::Pong(bytes(b""))));
            // The automatic Pong has no RSV bit.
            assert_eq!(wire(&got), own_frame(role, true, op::PONG, b"ping!"), "{role:?}");
        }
        // Sending: a Ping between the frames of a streamed compressed message.
        let mut s = open_default(role, takeover(), "permessage-deflate");
        let big = noise(1, 40_000);
        s.begin_message(MessageKind::Binary).unwrap();
        s.send_chunk(big.clone()).unwrap();
        s.ping(&b"p"[..]).unwrap();
        s.pong(&b"q"[..]).unwrap();
        s.finish_message(&b"tail"[..]).unwrap();
        s.close(Some(wsmachine::CloseCode::new(1000)), "done").unwrap();
        let frames = parse_frames(&wire(&drain(&mut s)));
        let ops: Vec<(u8, u8, bool)> = frames.iter().map(|f| (f.opcode, f.rsv, f.fin)).collect();
        let ping_at = ops.iter().position(|o| o.0 == op::PING).unwrap();
        assert!(ping_at > 0 && ops[..ping_at].iter().all(|o| !o.2), "{ops:?}");
        assert_eq!(ops[0], (op::BINARY, RSV1, false), "{ops:?}");
        assert_eq!(ops[ping_at + 1], (op::PONG, 0, true));
        assert_eq!(ops.last().unwrap(), &(op::CLOSE, 0, true));
        let msgs = wire_messages(&frames);
        assert_eq!(inflate_direction(&msgs, true), [[big.as_slice(), &b"tail"[..]].concat()]);
    }
}

/// RSV1 where RFC 7692 §6.1 forbids it, RSV2/RSV3 always, and RSV1 without
/// the extension: 1002.
#[test]
fn rsv1_in_the_wrong_places_fails_with_1002() {
    for role in ROLES {
        for streaming in [false, true] {
            let base = Config::default().with_streaming_receive(streaming);
            let cases: Vec<(&str, Vec<Vec<u8>>, u8)> = vec![
                (
                    "RSV1 on the continuation of a compressed message",
                    vec![
                        peer_compressed(role, false, op::TEXT, &HELLO[..3]),
                        peer_frame_rsv(role, true, RSV1, op::CONT, &HELLO[3..]),
                    ],
                    RSV1,
                ),
                (
                    "RSV1 on the continuation of an uncompressed message",
                    vec![peer_frame(role, false, op::TEXT, b"He"), peer_frame_rsv(role, true, RSV1, op::CONT, b"llo")],
                    RSV1,
                ),
                ("RSV1 on a Ping", vec![peer_frame_rsv(role, true, RSV1, op::PING, b"")], RSV1),
                ("RSV1 on a Pong", vec![peer_frame_rsv(role, true, RSV1, op::PONG, b"x")], RSV1),
                ("RSV1 on a Close", vec![peer_frame_rsv(role, true, RSV1, op::CLOSE, &close_body(1000, ""))], RSV1),
                (
                    "RSV1 on a Ping inside a compressed message",
                    vec![
                        peer_compressed(role, false, op::TEXT, &HELLO[..3]),
                        peer_frame_rsv(role, true, RSV1, op::PING, b""),
                    ],
                    RSV1,
                ),
                ("RSV2", vec![peer_frame_rsv(role, true, 0b010, op::TEXT, b"x")], 0b010),
                ("RSV3 with RSV1", vec![peer_frame_rsv(role, true, 0b101, op::TEXT, &HELLO)], 0b101),
            ];
            for (name, input, bits) in cases {
                let mut r = open(role, takeover(), "permessage-deflate", base.clone());
                for f in &input {
                    r.handle_bytes(f);
                }
                let got = drain(&mut r);
                let n = got.len();
                assert!(n >= 3, "{name}: {got:?}");
                assert_eq!(got[n - 3..], fails(role, 1002, ProtocolError::ReservedBits(bits))[..], "{name} {role:?}");
            }
            // Without the extension.
            let mut r = Connection::new_open(role, base.clone().with_deflate(Some(takeover())), FixedMask(RFC_KEY));
            r.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO));
            assert_eq!(drain(&mut r), fails(role, 1002, ProtocolError::ReservedBits(RSV1)));
            let mut r = with_config(role, base.clone());
            r.handle_bytes(&peer_compressed(role, true, op::BINARY, &HELLO));
            assert_eq!(drain(&mut r), fails(role, 1002, ProtocolError::ReservedBits(RSV1)));
        }
    }
}

/// Messages under the threshold go out as they are, RSV1 unset; from the
/// threshold on, compressed (RFC 7692 §6.1).
#[test]
fn threshold() {
    let mut s = open_default(Role::Server, DeflateConfig::default(), "permessage-deflate");
    let under = "a".repeat(127);
    let at = "a".repeat(128);
    s.send_text(under.clone()).unwrap();
    s.send_text(at.clone()).unwrap();
    s.send_binary(vec![7u8; 127]).unwrap();
    s.send_binary(vec![7u8; 5000]).unwrap();
    s.send_text("").unwrap();
    let msgs = wire_messages(&parse_frames(&wire(&drain(&mut s))));
    assert_eq!(
        msgs.iter().map(|m| (m.opcode, m.compressed)).collect::<Vec<_>>(),
        [(op::TEXT, false), (op::TEXT, true), (op::BINARY, false), (op::BINARY, true), (op::TEXT, false)]
    );
    assert_eq!(msgs[0].payload, under.as_bytes());
    assert!(msgs[1].payload.len() < 20 && msgs[3].payload.len() < 40);
    let want: [&[u8]; 5] = [under.as_bytes(), at.as_bytes(), &[7; 127], &[7; 5000], b""];
    assert_eq!(inflate_direction(&msgs, false), want);
    // Threshold 0: even the empty message is compressed, as the octet 00
    // (§7.2.3.6), after a message and on a fresh compressor.
    let mut s = open_default(Role::Server, takeover(), "permessage-deflate");
    s.send_text("").unwrap();
    s.send_text("Hello").unwrap();
    s.send_binary(Bytes::new()).unwrap();
    assert_eq!(
        wire(&drain(&mut s)),
        [
            frame(true, RSV1, op::TEXT, None, &[0]),
            frame(true, RSV1, op::TEXT, None, &HELLO),
            frame(true, RSV1, op::BINARY, None, &[0])
        ]
        .concat()
    );
}

// ===========================================================================
// Window sizes and round trips through a client/server pair
// ===========================================================================

/// A varied set of messages: sizes around the threshold and up to 50 KB,
/// text and binary, repetitive, wordy and random.
fn message_set(seed: u64, count: usize) -> Vec<Message> {
    (0..count)
        .map(|i| {
            let s = seed * 1000 + i as u64;
            let len = match i % 7 {
                0 => 0,
                1 => 100 + i % 50,
                2 => 1_000 + i * 37,
                3 => 20_000 + i * 101,
                4 => 50_000,
                5 => 5_000,
                _ => 300,
            };
            match i % 4 {
                0 => Message::text(wordy(s, len)),
                1 => Message::binary(noise(s, len)),
                2 => Message::binary(wordy(s, len).into_bytes().iter().map(|b| b ^ 0x5a).collect::<Vec<u8>>()),
                _ => Message::text("abcab".repeat(len / 5)),
            }
        })
        .collect()
}

/// Sends `msgs` both ways and checks what arrives, what the wire carries
/// (RSV rules, decodable with the agreed window and takeover) and the
/// longest match distance per direction, which it returns
/// `(client→server, server→client)`.
fn round_trip(link: &mut Link, msgs: &[Message], client_takeover: bool, server_takeover: bool) -> (usize, usize) {
    round_trip_history(link, msgs, client_takeover, server_takeover).0
}

/// [`round_trip`], also telling whether some compressed message referred
/// back into an earlier one, per direction.
fn round_trip_history(
    link: &mut Link,
    msgs: &[Message],
    client_takeover: bool,
    server_takeover: bool,
) -> ((usize, usize), (bool, bool)) {
    // The wires are kept across calls: with context takeover a round
    // refers back into the one before.
    link.client_events.clear();
    link.server_events.clear();
    for m in msgs {
        link.client.send(m.clone()).unwrap();
        link.server.send(m.clone()).unwrap();
        // Drive now and then so the buffers stay small.
        link.drive();
    }
    let want: Vec<(MessageKind, Vec<u8>)> = msgs.iter().map(|m| (m.kind(), m.as_bytes().to_vec())).collect();
    assert_eq!(Link::messages(&link.server_events), want, "client → server");
    assert_eq!(Link::messages(&link.client_events), want, "server → client");
    let mut maxes = [0; 2];
    let mut history = [false; 2];
    for (i, (w, tk)) in
        [(&link.client_wire, client_takeover), (&link.server_wire, server_takeover)].into_iter().enumerate()
    {
        let wm = wire_messages(&parse_frames(w));
        assert!(wm.len() >= msgs.len());
        let (decoded, max) = decode_direction(&wm, tk);
        assert_eq!(decoded[wm.len() - msgs.len()..], want.iter().map(|w| w.1.clone()).collect::<Vec<_>>());
        maxes[i] = max;
        let mut shared = Inflater::new();
        history[i] = wm.iter().filter(|m| m.compressed).any(|m| shared.message(&m.payload, true).unwrap().used_history);
    }
    ((maxes[0], maxes[1]), (history[0], history[1]))
}

/// server_max_window_bits=8 and client_max_window_bits=8, each side asking:
/// no match on the wire reaches back more than 256 bytes, either way.
#[test]
fn window_bits_8_both_directions() {
    let eight =
        DeflateConfig::default().with_server_max_window_bits(8).with_client_max_window_bits(8).with_threshold(0);
    let cases = [
        // The client asks for both.
        (
            eight.clone(),
            takeover(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8",
        ),
        // The server imposes both (the client offered client_max_window_bits).
        (
            takeover(),
            takeover().with_server_max_window_bits(8).with_client_max_window_bits(8),
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
        ),
    ];
    for (client, server, agreed) in cases {
        let mut link =
            Link::deflate(Config::default().with_max_message_size(1 << 22), Some(client.clone()), Some(server));
        assert_eq!(link.agreed().as_deref(), Some(agreed));
        let takeover = !agreed.contains("no_context_takeover");
        let (up, down) = round_trip(&mut link, &message_set(8, 40), takeover, takeover);
        assert!(up <= 256 && down <= 256, "distances {up} / {down}");
        assert!(up > 100 && down > 100, "the window is used ({up} / {down})");
    }
}

/// Every window size 8..=15, with and without context takeover, text and
/// binary, many messages, through a real handshake.
#[test]
fn round_trips_at_every_window_size() {
    for bits in 8..=15u8 {
        for tk in [true, false] {
            let cfg = DeflateConfig::default()
                .with_server_no_context_takeover(!tk)
                .with_client_no_context_takeover(!tk)
                .with_server_max_window_bits(bits)
                .with_client_max_window_bits(bits)
                .with_threshold(64);
            let mut link = Link::deflate(Config::default(), Some(cfg.clone()), Some(takeover()));
            let agreed = link.agreed().unwrap();
            assert_eq!(agreed.contains("no_context_takeover"), !tk, "{agreed}");
            let limit = 1usize << bits;
            // zlib never matches further back than its window less 262
            // bytes, and compresses window 8 with window 9 (see codec.rs).
            let reach = (1usize << bits.max(9)) - 262;
            let mut msgs = message_set(u64::from(bits), 35);
            // Repeats at three quarters of the reach, so the window is used.
            let period = reach * 3 / 4;
            let repeated = Message::binary(noise(u64::from(bits), period).repeat(4));
            msgs.push(repeated.clone());
            let ((up, down), history) = round_trip_history(&mut link, &msgs, tk, tk);
            if !tk {
                assert_eq!(history, (false, false), "bits {bits}");
            }
            assert!(up <= limit && down <= limit, "bits {bits} takeover {tk}: distances {up} / {down}");
            // Another round, which with takeover refers back into the first.
            let first = link.client_wire.len();
            // It starts with the message the first round ended with, which
            // with takeover is all references to that one.
            msgs = message_set(u64::from(bits) + 100, 35);
            msgs.insert(0, repeated);
            msgs.push(Message::text(wordy(u64::from(bits), period).repeat(3)));
            let ((up2, down2), history) = round_trip_history(&mut link, &msgs, tk, tk);
            assert_eq!(history, (tk, tk), "bits {bits} takeover {tk}");
            println!(
                "bits {bits} takeover {tk}: max distance {up} / {down}, then {up2} / {down2}; {first} then {} bytes",
                link.client_wire.len() - first
            );
            assert!(up2 <= limit && down2 <= limit);
            // The window is used: matches reach past half of it.
            assert!(up.min(down).min(up2).min(down2) >= period, "bits {bits} takeover {tk}");
        }
    }
    // Different sizes each way.
    let client =
        DeflateConfig::default().with_server_max_window_bits(9).with_client_max_window_bits(14).with_threshold(0);
    let mut link = Link::deflate(Config::default(), Some(client), Some(takeover()));
    let mut msgs = message_set(99, 30);
    msgs.push(Message::binary(noise(99, 10_000).repeat(3)));
    let (up, down) = round_trip(&mut link, &msgs, false, false);
    assert!(down <= 512 && up > 512 && up <= 1 << 14, "{up} / {down}");
}

/// With context takeover a message repeated later refers back to the
/// earlier one (§7.2.3.2) and costs a few bytes; without, it costs as much
/// as the first time.
#[test]
fn context_takeover_saves_across_messages() {
    let msg = noise(3, 2_000);
    for (tk, agreed) in [
        (true, "permessage-deflate"),
        (false, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ] {
        for role in ROLES {
            let mut s = open_default(role, takeover(), agreed);
            s.send_binary(msg.clone()).unwrap();
            s.send_binary(msg.clone()).unwrap();
            let msgs = wire_messages(&parse_frames(&wire(&drain(&mut s))));
            let decoded = inflate_direction(&msgs, tk);
            assert_eq!(decoded, [msg.clone(), msg.clone()]);
            if tk {
                assert!(msgs[1].payload.len() < 40, "{}", msgs[1].payload.len());
            } else {
                assert_eq!(msgs[0].payload, msgs[1].payload);
                assert!(msgs[1].payload.len() > 1_900);
            }
        }
    }
}

// ===========================================================================
// Memory level (zlib's memLevel)
// ===========================================================================

/// About `len` bytes of JSON: an array of small records (ids, names,
/// statuses, timestamps), the kind of text a server pushes. Deterministic.
fn json_like(len: usize) -> String {
    const NAMES: [&str; 12] =
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"];
    const STATUSES: [&str; 4] = ["active", "idle", "away", "offline"];
    let mut s = String::from("[");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    while s.len() < len {
        let x = xorshift(&mut x);
        if s.len() > 1 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"id\":{},\"user\":\"{}\",\"status\":\"{}\",\"score\":{}.{},\"ts\":\"2024-05-{:02}T{:02}:{:02}:{:02}Z\",\"tags\":[\"{}\",\"{}\"],\"unread\":{}}}",
            100_000 + x % 900_000,
            NAMES[(x >> 8) as usize % NAMES.len()],
            STATUSES[(x >> 16) as usize % STATUSES.len()],
            (x >> 20) % 1000,
            (x >> 30) % 100,
            1 + (x >> 33) % 28,
            (x >> 38) % 24,
            (x >> 43) % 60,
            (x >> 49) % 60,
            NAMES[(x >> 52) as usize % NAMES.len()],
            STATUSES[(x >> 56) as usize % STATUSES.len()],
            (x >> 58) % 50
        ));
    }
    s.truncate(len - 1);
    s.push(']');
    s
}

/// `DeflateConfig::memory_level` reaches zlib. A server sends 16 KiB of
/// JSON at every memory level, with 9- and 15-bit windows; the peak heap of
/// the send (the compressor lives only while it runs: no context takeover,
/// `release_idle`) grows with the level, by the symbol buffers zlib sizes
/// from it, and every message inflates at the client. Prints the table the
/// `DeflateConfig` docs cite (`--nocapture`), with the heap of the zlib
/// state alone (made here directly with zlib-rs) for comparison.
#[test]
fn memory_level_sizes_the_compressor() {
    let msg = json_like(16 << 10);
    assert_eq!(msg.len(), 16 << 10);
    for bits in [9u8, 15] {
        let agreed = format!(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits={bits}"
        );
        let (mut peaks, mut sizes) = (Vec::new(), Vec::new());
        for mem in 1..=9u8 {
            let cfg = DeflateConfig::default().with_memory_level(mem).with_server_max_window_bits(bits);
            let mut s = open_default(Role::Server, cfg, &agreed);
            let text = msg.clone();
            let mut transmits = Vec::with_capacity(4);
            let ((), peak) = peak_heap(|| {
                s.send_text(text).unwrap();
                while let Some(o) = s.poll_output() {
                    transmits.push(o);
                }
            });
            let wire: Vec<u8> = transmits
                .iter()
                .flat_map(|o| match o {
                    Output::Transmit(b) => b.to_vec(),
                    other => panic!("{other:?}"),
                })
                .collect();
            let msgs = wire_messages(&parse_frames(&wire));
            assert!(msgs.len() == 1 && msgs[0].compressed, "{msgs:?}");
            let payload = msgs[0].payload.len();
            // The client inflates it (its own memory level does not matter).
            let mut c = open_default(Role::Client, DeflateConfig::default().with_memory_level(1), &agreed);
            c.handle_bytes(&wire);
            assert_eq!(
                events(&drain(&mut c)),
                [Event::Message(Message::text(msg.clone()))],
                "bits {bits} memory level {mem}"
            );
            let ((), state) = peak_heap(|| {
                drop(zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
                    level: 6,
                    method: zlib_rs::Method::Deflated,
                    window_bits: -i32::from(bits),
                    mem_level: i32::from(mem),
                    strategy: zlib_rs::Strategy::Default,
                }));
            });
            println!(
                "window bits {bits:2}, memory level {mem}: send peak {peak:6} bytes (zlib state {state:6}), payload {payload} bytes ({:.2}% of {})",
                payload as f64 * 100.0 / msg.len() as f64,
                msg.len()
            );
            assert!(peak >= state, "bits {bits} memory level {mem}: {peak} < {state}");
            peaks.push(peak);
            sizes.push(payload);
        }
        // Ignoring the setting would make these equal: each level up
        // doubles zlib's symbol buffers (7 bytes per symbol, 2^(level + 6)
        // symbols), 228,480 bytes more from level 1 to 9.
        assert!(peaks.windows(2).all(|w| w[0] < w[1]), "bits {bits}: {peaks:?}");
        assert!(peaks[0] < peaks[8], "bits {bits}: {peaks:?}");
        assert!(peaks[8] - peaks[0] >= 7 * ((1 << 15) - (1 << 7)), "bits {bits}: {peaks:?}");
        // Fewer symbols per block cost ratio at the low levels...
        assert!(sizes[0] > sizes[8], "bits {bits}: {sizes:?}");
        // ... and hardly any at the default (measured: 4,519 bytes against
        // 4,478 at level 8 with 9 bits, the same 3,170 with 15).
        assert!(sizes[5] * 100 <= sizes[7] * 101, "bits {bits}: {sizes:?}");
        // The default with 32 KiB windows: 302,272 bytes measured.
        if bits == 15 {
            assert!(peaks[5] < 320_000, "bits {bits}: {peaks:?}");
        }
    }
}

// ===========================================================================
// Limits (RFC 6455 §10.4 on the inflated size) and corrupt data
// ===========================================================================

const BOMB_SIZE: usize = 100 << 20;

/// 100 MiB of zeros, compressed: about 100 KB.
fn bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| {
        use flate2::{Compress, Compression, FlushCompress};
        let zeros = vec![0u8; 1 << 20];
        let mut c = Compress::new(Compression::new(9), false);
        let mut out = Vec::with_capacity(256 << 10);
        for i in 0..BOMB_SIZE >> 20 {
            let mut input = &zeros[..];
            let flush = if i + 1 == BOMB_SIZE >> 20 { FlushCompress::Sync } else { FlushCompress::None };
            loop {
                out.reserve(64 << 10);
                let before = c.total_in();
                c.compress_vec(input, &mut out, flush).unwrap();
                input = &input[(c.total_in() - before) as usize..];
                if input.is_empty() && out.len() < out.capacity() {
                    break;
                }
            }
        }
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    })
}

/// A 100 MiB decompression bomb in one ~100 KB frame (well under
/// `max_frame_size`) fails with 1009 and `MessageTooLarge` once the inflated
/// size passes `max_message_size` (1 MiB), without inflating further: the
/// receiving thread's peak heap stays within a few MiB, and it is fast.
#[test]
fn decompression_bomb_fails_with_1009_without_inflating_it() {
    let payload = bomb();
    assert!(payload.len() < 200 << 10, "{} bytes", payload.len());
    let max = 1 << 20;
    for role in ROLES {
        for streaming in [false, true] {
            let base = Config::default().with_streaming_receive(streaming);
            assert!(payload.len() < base.max_frame_size);
            let input = peer_compressed(role, true, op::BINARY, payload);
            let mut r = open(role, takeover(), "permessage-deflate", base);
            let t = Instant::now();
            // Take the outputs as they come, keeping none of the data.
            let ((got, chunk_bytes, largest), peak) = peak_heap(|| {
                r.handle_bytes(&input);
                let (mut got, mut chunk_bytes, mut largest) = (Vec::new(), 0usize, 0usize);
                while let Some(o) = r.poll_output() {
                    match o {
                        Output::Event(Event::MessageChunk(m)) => {
                            chunk_bytes += m.len();
                            largest = largest.max(m.len());
                        }
                        Output::Transmit(b) => got.push(Out::Wire(b.to_vec())),
                        Output::Event(e) => got.push(Out::Event(e)),
                        Output::CloseTransport => got.push(Out::CloseTransport),
                        other => panic!("{other:?}"),
                    }
                }
                (got, chunk_bytes, largest)
            });
            let elapsed = t.elapsed();
            let too_large = ProtocolError::MessageTooLarge { size: max as u64 + 1, max };
            let mut want = if streaming { vec![Out::Event(Event::MessageStart(MessageKind::Binary))] } else { vec![] };
            want.extend(fails(role, 1009, too_large));
            assert_eq!(outs(got), want, "{role:?} streaming={streaming}");
            println!(
                "bomb {role:?} streaming={streaming}: peak heap {} KiB (input frame {} KiB), {:?}, {chunk_bytes} bytes handed over",
                peak >> 10,
                input.len() >> 10,
                elapsed
            );
            // Nothing past the limit was handed over...
            assert!(chunk_bytes <= max);
            assert!(largest <= 64 << 10);
            // ... and no more than about the limit was ever held: the input,
            // the inflated megabyte (assembled mode, with growth slack) and
            // zlib's state; far from 100 MiB.
            let bound = if streaming { 1 << 20 } else { 4 << 20 };
            assert!(peak < input.len() + bound, "peak heap {peak} bytes");
            assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        }
    }
}

/// The same bomb cut into many small frames: it fails at the frame where the
/// inflated total passes the limit, before the rest arrives.
#[test]
fn fragmented_bomb_fails_early() {
    let payload = bomb();
    let max = 256 << 10;
    for streaming in [false, true] {
        let base = Config::default().with_max_message_size(max).with_streaming_receive(streaming);
        let mut r = open(Role::Server, takeover(), "permessage-deflate", base);
        let pieces: Vec<&[u8]> = payload.chunks(1000).collect();
        let mut fed = 0;
        let mut got = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let (rsv, opcode) = if i == 0 { (RSV1, op::BINARY) } else { (0, op::CONT) };
            r.handle_bytes(&frame(i + 1 == pieces.len(), rsv, opcode, Some(RFC_KEY), p));
            fed += 1;
            got.extend(drain(&mut r).into_iter().filter(|o| !matches!(o, Out::Event(Event::MessageChunk(_)))));
            if r.ready_state() == ReadyState::Closed {
                break;
            }
        }
        // 100 MiB / 100 KB ≈ 1000 bytes of input per MiB: the limit of
        // 256 KiB is passed within the first few frames.
        assert!(fed < 10, "failed only after {fed} frames");
        let too_large = ProtocolError::MessageTooLarge { size: max as u64 + 1, max };
        let mut want = if streaming { vec![Out::Event(Event::MessageStart(MessageKind::Binary))] } else { vec![] };
        want.extend(fails(Role::Server, 1009, too_large));
        assert_eq!(outs(got), want);
    }
}

/// The limit applies to the inflated size exactly: `max_message_size`
/// bytes pass, one more fails.
#[test]
fn limit_on_the_inflated_size_is_exact() {
    let max = 64 << 10;
    for streaming in [false, true] {
        for (len, ok) in [(max - 1, true), (max, true), (max + 1, false)] {
            let data = noise(len as u64, 1000).repeat(len / 1000 + 1)[..len].to_vec();
            let payload = zlib_compress(&data, 6);
            assert!(payload.len() < 4000, "{}", payload.len());
            let base = Config::default().with_max_message_size(max).with_streaming_receive(streaming);
            let mut r = open(Role::Client, takeover(), "permessage-deflate", base);
            // Split into three frames.
            let third = payload.len() / 3;
            r.handle_bytes(&frame(false, RSV1, op::BINARY, None, &payload[..third]));
            r.handle_bytes(&frame(false, 0, op::CONT, None, &payload[third..2 * third]));
            r.handle_bytes(&frame(true, 0, op::CONT, None, &payload[2 * third..]));
            let got = drain(&mut r);
            if ok {
                assert_eq!(fold(&got), vec![(MessageKind::Binary, data)], "{len}");
            } else {
                let n = got.len();
                assert_eq!(
                    got[n - 3..],
                    fails(Role::Client, 1009, ProtocolError::MessageTooLarge { size: max as u64 + 1, max })[..],
                    "{len} streaming={streaming}"
                );
            }
        }
    }
}

/// Data that is not DEFLATE fails with 1007 `InvalidCompressedData`, in both
/// modes and roles; inflated text that is not UTF-8 with 1007 `InvalidUtf8`.
#[test]
fn corrupt_compressed_data_fails_with_1007() {
    let mut bad_len = stored(b"Hello");
    bad_len[3] ^= 1; // NLEN no longer the complement of LEN
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("reserved block type", vec![0xff]),
        ("stored LEN/NLEN mismatch", bad_len),
        ("distance too far back", HELLO_AGAIN.to_vec()),
        ("bad dynamic header", vec![0x05, 0xff, 0xff, 0xff]),
    ];
    for role in ROLES {
        for streaming in [false, true] {
            for (name, payload) in &cases {
                let base = Config::default().with_streaming_receive(streaming);
                let mut r = open(role, takeover(), "permessage-deflate", base);
                r.handle_bytes(&peer_compressed(role, true, op::BINARY, payload));
                let got = drain(&mut r);
                let n = got.len();
                assert!(n >= 3, "{name}: {got:?}");
                assert_eq!(
                    got[n - 3..],
                    fails(role, 1007, ProtocolError::InvalidCompressedData)[..],
                    "{name} {role:?} streaming={streaming}"
                );
            }
            // Text whose inflated bytes are not UTF-8.
            let base = Config::default().with_streaming_receive(streaming);
            for bad in [&[0xffu8][..], &[b'a', 0xc3][..], &[0xed, 0xa0, 0x80][..]] {
                let mut r = open(role, takeover(), "permessage-deflate", base.clone());
                r.handle_bytes(&peer_compressed(role, true, op::TEXT, &stored(bad)));
                let got = drain(&mut r);
                let n = got.len();
                assert_eq!(got[n - 3..], fails(role, 1007, ProtocolError::InvalidUtf8)[..], "{bad:x?} {role:?}");
            }
            // A code point split across frames (and inflate outputs) is fine.
            let mut r = open(role, takeover(), "permessage-deflate", base.clone());
            let s = "κόσμε".as_bytes();
            r.handle_bytes(&peer_compressed(role, false, op::TEXT, &stored(&s[..3])));
            r.handle_bytes(&peer_frame(role, true, op::CONT, &stored(&s[3..])));
            assert_eq!(fold(&drain(&mut r)), vec![(MessageKind::Text, s.to_vec())]);
        }
    }
}

// ===========================================================================
// Streaming receive with compression
// ===========================================================================

/// A message that inflates to 900 KB from a small frame is handed over in
/// chunks of at most 64 KiB, text chunks never splitting a code point.
#[test]
fn streaming_receive_chunks_are_bounded() {
    let text = wordy(11, 900_000);
    let payload = zlib_compress(text.as_bytes(), 6);
    assert!(payload.len() < 450_000, "{}", payload.len());
    let bin = vec![0xabu8; 900_000];
    let bin_payload = zlib_compress(&bin, 6);
    for role in ROLES {
        let mut r = open(role, takeover(), "permessage-deflate", Config::default().with_streaming_receive(true));
        r.handle_bytes(&peer_compressed(role, true, op::TEXT, &payload));
        r.handle_bytes(&peer_compressed(role, true, op::BINARY, &bin_payload));
        let got = drain(&mut r);
        let mut chunks = 0;
        for o in &got {
            if let Out::Event(Event::MessageChunk(m)) = o {
                chunks += 1;
                assert!(m.len() <= 64 << 10 && !m.is_empty(), "chunk of {}", m.len());
            }
        }
        assert!(chunks >= 2 * (900_000 >> 16), "{chunks} chunks");
        assert_eq!(fold(&got), vec![(MessageKind::Text, text.as_bytes().to_vec()), (MessageKind::Binary, bin.clone())]);
        // The first chunk comes before the frame is inflated to its end: the
        // events interleave with inflating (checked by the bomb test's heap).
        assert!(matches!(got[0], Out::Event(Event::MessageStart(MessageKind::Text))));
    }
}

/// How a proptest case sends its messages.
#[derive(Debug, Clone)]
struct Case {
    msgs: Vec<(bool, u8, usize, u64)>,
    fragment: Option<usize>,
    threshold: usize,
    takeover: bool,
    reads: Vec<usize>,
    role: Role,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((any::<bool>(), 0u8..4, 0usize..150_000, any::<u64>()), 1..6),
        prop::option::of(1usize..5_000),
        prop_oneof![Just(0usize), Just(128), 0usize..2000],
        any::<bool>(),
        prop::collection::vec(1usize..70_000, 1..20),
        prop_oneof![Just(Role::Server), Just(Role::Client)],
    )
        .prop_map(|(msgs, fragment, threshold, takeover, reads, role)| Case {
            msgs,
            fragment,
            threshold,
            takeover,
            reads,
            role,
        })
}

fn case_message(text: bool, pattern: u8, len: usize, seed: u64) -> Message {
    let data: Vec<u8> = match pattern {
        0 => noise(seed, len),
        1 => vec![(seed & 0xff) as u8; len],
        2 => wordy(seed, len).into_bytes(),
        _ => noise(seed, 97).repeat(len / 97 + 1)[..len].to_vec(),
    };
    if text {
        // Make it UTF-8: wordy already is; map the others into ASCII and
        // a two-byte character now and then.
        if pattern == 2 {
            return Message::text(String::from_utf8(data).unwrap());
        }
        let mut s = String::with_capacity(len);
        for b in data {
            if s.len() >= len {
                break;
            }
            if b % 16 == 0 { s.push('é') } else { s.push(char::from(b'!' + b % 90)) }
        }
        return Message::text(s);
    }
    Message::binary(data)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Streaming receive delivers exactly what assembled receive delivers,
    /// in chunks of at most 64 KiB, whatever the messages, their
    /// fragmentation and the read boundaries.
    #[test]
    fn streaming_and_assembled_receive_agree(c in case()) {
        let sender_role = match c.role { Role::Server => Role::Client, Role::Client => Role::Server };
        let cfg = if c.takeover { takeover() } else { DeflateConfig::default() }.with_threshold(c.threshold);
        let agreed = if c.takeover { "permessage-deflate" } else { "permessage-deflate; server_no_context_takeover; client_no_context_takeover" };
        let mut sender = open(sender_role, cfg.clone(), agreed, Config::default().with_fragment_size(c.fragment));
        let msgs: Vec<Message> = c.msgs.iter().map(|&(t, p, l, s)| case_message(t, p, l, s)).collect();
        for m in &msgs {
            sender.send(m.clone()).unwrap();
        }
        let bytes = wire(&drain(&mut sender));
        let mut assembled = open(c.role, cfg.clone(), agreed, Config::default());
        let mut streaming = open(c.role, cfg, agreed, Config::default().with_streaming_receive(true));
        let (mut a_out, mut s_out) = (Vec::new(), Vec::new());
        let mut pos = 0;
        let mut i = 0;
        while pos < bytes.len() {
            let n = c.reads[i % c.reads.len()].min(bytes.len() - pos);
            assembled.handle_bytes(&bytes[pos..pos + n]);
            streaming.handle_bytes(&bytes[pos..pos + n]);
            a_out.extend(drain(&mut assembled));
            s_out.extend(drain(&mut streaming));
            pos += n;
            i += 1;
        }
        for o in &s_out {
            if let Out::Event(Event::MessageChunk(m)) = o {
                prop_assert!(m.len() <= 64 << 10, "chunk of {}", m.len());
            }
            prop_assert!(!matches!(o, Out::Event(Event::Message(_) | Event::Closed(_))), "{:?}", o);
        }
        let want: Vec<(MessageKind, Vec<u8>)> = msgs.iter().map(|m| (m.kind(), m.as_bytes().to_vec())).collect();
        prop_assert_eq!(fold(&a_out), want.clone());
        prop_assert_eq!(fold(&s_out), want);
        prop_assert!(a_out.iter().all(|o| matches!(o, Out::Event(Event::Message(_)))));
    }
}

// ===========================================================================
// Streaming send with compression
// ===========================================================================

/// A message sent in pieces is compressed as one: the compressor may hold
/// small pieces back, the first frame that goes out has RSV1 and the
/// original opcode, every later one is a continuation without it, and the
/// receiver gets the message intact.
#[test]
fn streaming_send_compresses_the_message() {
    let pieces: Vec<String> = (0..40).map(|i| wordy(i, 100 + i as usize * 997)).collect();
    let whole: String = pieces.concat();
    for role in ROLES {
        for fragment in [None, Some(1000)] {
            let base = Config::default().with_fragment_size(fragment);
            let mut s = open(role, takeover(), "permessage-deflate", base.clone());
            s.begin_message(MessageKind::Text).unwrap();
            let mut frames = Vec::new();
            let mut held_back_once = false;
            for p in &pieces {
                s.send_chunk(p.clone()).unwrap();
                let got = parse_frames(&wire(&drain(&mut s)));
                held_back_once |= got.is_empty();
                frames.extend(got);
            }
            s.finish_message(Bytes::new()).unwrap();
            frames.extend(parse_frames(&wire(&drain(&mut s))));
            // The first small pieces produced nothing yet.
            assert!(held_back_once);
            assert_eq!((frames[0].opcode, frames[0].rsv), (op::TEXT, RSV1));
            assert!(frames[1..].iter().all(|f| f.opcode == op::CONT && f.rsv == 0));
            assert!(frames.iter().rev().skip(1).all(|f| !f.fin) && frames.last().unwrap().fin);
            if let Some(n) = fragment {
                assert!(frames.iter().all(|f| f.payload.len() <= n));
            }
            let msgs = wire_messages(&frames);
            assert_eq!(msgs.len(), 1);
            assert!(msgs[0].payload.len() < whole.len() / 2);
            assert_eq!(inflate_direction(&msgs, true), [whole.as_bytes().to_vec()]);
            // The receiving end, in both modes.
            let bytes: Vec<u8> =
                frames.iter().map(|f| frame(f.fin, f.rsv, f.opcode, f.mask, &f.payload)).collect::<Vec<_>>().concat();
            let other = if role == Role::Server { Role::Client } else { Role::Server };
            for streaming in [false, true] {
                let mut r =
                    open(other, takeover(), "permessage-deflate", Config::default().with_streaming_receive(streaming));
                r.handle_bytes(&bytes);
                assert_eq!(fold(&drain(&mut r)), vec![(MessageKind::Text, whole.as_bytes().to_vec())]);
            }
        }
    }
}

/// A streamed message is compressed whatever its size (the threshold does
/// not apply), and an empty one is the single compressed octet 00.
#[test]
fn streaming_send_small_and_empty() {
    let mut s = open_default(Role::Server, DeflateConfig::default(), "permessage-deflate");
    s.begin_message(MessageKind::Text).unwrap();
    s.finish_message(Bytes::new()).unwrap();
    s.begin_message(MessageKind::Text).unwrap();
    s.send_chunk("He").unwrap();
    s.send_chunk(Bytes::new()).unwrap();
    s.finish_message("llo").unwrap();
    s.begin_message(MessageKind::Binary).unwrap();
    s.send_chunk(&b"Hello"[..]).unwrap();
    s.finish_message(Bytes::new()).unwrap();
    // The default configuration has no context takeover: each "Hello"
    // compresses alike (§7.2.3.1); zlib buffers the small pieces.
    assert_eq!(
        wire(&drain(&mut s)),
        [
            frame(true, RSV1, op::TEXT, None, &[0x00]),
            frame(true, RSV1, op::TEXT, None, &HELLO),
            frame(true, RSV1, op::BINARY, None, &HELLO),
        ]
        .concat()
    );
}

/// `buffered_amount` counts application bytes, not compressed bytes, for
/// whole and streamed messages, pieces held back by the compressor
/// included, and drops to 0 once polled.
#[test]
fn buffered_amount_counts_uncompressed_bytes() {
    for role in ROLES {
        let mut s = open_default(role, takeover(), "permessage-deflate");
        s.send_text("a".repeat(100_000)).unwrap();
        assert_eq!(s.buffered_amount(), 100_000);
        s.send_text("Hello").unwrap();
        assert_eq!(s.buffered_amount(), 100_005);
        let w = wire(&drain(&mut s));
        assert!(w.len() < 1_000, "{}", w.len());
        assert_eq!(s.buffered_amount(), 0);

        // Streamed: a piece the compressor holds back still counts.
        s.begin_message(MessageKind::Binary).unwrap();
        s.send_chunk(vec![1u8; 10]).unwrap();
        assert_eq!(s.buffered_amount(), 10);
        assert!(drain(&mut s).is_empty(), "the compressor held the piece back");
        assert_eq!(s.buffered_amount(), 10);
        let big = noise(9, 200_000);
        s.send_chunk(big).unwrap();
        assert_eq!(s.buffered_amount(), 200_010);
        let out = drain(&mut s);
        assert!(!out.is_empty());
        assert_eq!(s.buffered_amount(), 0);
        s.send_chunk(vec![2u8; 7]).unwrap();
        s.finish_message(vec![3u8; 3]).unwrap();
        assert_eq!(s.buffered_amount(), 10);
        drain(&mut s);
        assert_eq!(s.buffered_amount(), 0);

        // Polling one output at a time: it never goes up, and ends at 0.
        s.send_binary(noise(10, 300_000)).unwrap();
        s.send_binary(vec![0u8; 300_000]).unwrap();
        let mut last = s.buffered_amount();
        assert_eq!(last, 600_000);
        while let Some(o) = s.poll_output() {
            let _ = o;
            assert!(s.buffered_amount() <= last);
            last = s.buffered_amount();
        }
        assert_eq!(last, 0);

        // A Close during a streamed message discards nothing that was
        // accepted (before this changed, what the compressor held back was
        // dropped): it is flushed as one more, unfinished, fragment, then
        // the Close follows.
        s.begin_message(MessageKind::Text).unwrap();
        s.send_chunk("held back").unwrap();
        assert_eq!(s.buffered_amount(), 9);
        s.close(Some(wsmachine::CloseCode::new(1000)), "").unwrap();
        assert_eq!(s.buffered_amount(), 9);
        assert_eq!(s.send_chunk("more"), Err(SendError::NotOpen(ReadyState::Closing)));
        let frames = parse_frames(&wire(&drain(&mut s)));
        assert_eq!(s.buffered_amount(), 0);
        assert_eq!(
            frames.iter().map(|f| (f.opcode, f.fin)).collect::<Vec<_>>(),
            [(op::TEXT, false), (op::CLOSE, true)]
        );
        // The fragment inflates to exactly what was sent (a sync flush,
        // its tail kept as for any non-final fragment).
        let mut d = flate2::Decompress::new(false);
        let mut text = Vec::with_capacity(64);
        d.decompress_vec(&frames[0].payload, &mut text, flate2::FlushDecompress::Sync).unwrap();
        assert_eq!(text, b"held back");
    }
}

/// Backpressure counts the uncompressed size too.
#[test]
fn high_water_mark_counts_uncompressed_bytes() {
    let base = Config::default().with_send_water_marks(Some(100_000), 10_000);
    let mut s = open(Role::Server, takeover(), "permessage-deflate", base);
    s.send_binary(vec![0u8; 90_000]).unwrap();
    // 90 000 uncompressed bytes, plus the compressed frame's 2-byte header and its
    // queue slot (the compressed bytes themselves are not counted twice).
    let queued = 90_000 + 2 + wsmachine::QUEUE_SLOT;
    assert_eq!(s.queued_bytes(), queued);
    assert!(
        matches!(s.send_binary(vec![0u8; 20_000]), Err(SendError::Full { queued: q, len: 20_000, .. }) if q == queued)
    );
    let got = drain(&mut s);
    assert!(events(&got).contains(&Event::Writable));
    s.send_binary(vec![0u8; 20_000]).unwrap();
}

// ===========================================================================
// with_extensions: a handshake done elsewhere
// ===========================================================================

#[test]
fn with_extensions_runs_an_agreed_permessage_deflate() {
    // With compression settings from the config.
    let mut s = open_default(Role::Server, takeover(), "permessage-deflate; client_max_window_bits=10");
    s.send_text("Hello").unwrap();
    s.handle_bytes(&frame(true, RSV1, op::TEXT, Some(RFC_KEY), &HELLO));
    let got = drain(&mut s);
    assert_eq!(got, vec![Out::Wire(frame(true, RSV1, op::TEXT, None, &HELLO)), text_event("Hello")]);
    // Without Config::deflate: the defaults (threshold 128, no takeover).
    for role in ROLES {
        let mut c = Connection::new_open(role, Config::default(), FixedMask(RFC_KEY))
            .with_extensions(&exts("permessage-deflate"))
            .unwrap();
        c.send_text("Hello").unwrap();
        c.send_text("Hello".repeat(30)).unwrap();
        c.handle_bytes(&peer_compressed(role, true, op::TEXT, &HELLO));
        let got = drain(&mut c);
        let msgs = wire_messages(&parse_frames(&wire(&got)));
        assert_eq!(msgs.iter().map(|m| m.compressed).collect::<Vec<_>>(), [false, true]);
        assert_eq!(inflate_direction(&msgs, false)[1], "Hello".repeat(30).as_bytes());
        assert_eq!(events(&got), vec![Event::Message(Message::text("Hello"))]);
    }
    // No extension at all: RSV1 refused.
    let mut c =
        Connection::new_open(Role::Client, Config::default().with_deflate(Some(takeover())), FixedMask(RFC_KEY))
            .with_extensions(&[])
            .unwrap();
    c.handle_bytes(&frame(true, RSV1, op::TEXT, None, &HELLO));
    assert_eq!(drain(&mut c), fails(Role::Client, 1002, ProtocolError::ReservedBits(RSV1)));
}

#[test]
fn with_extensions_rejects_what_it_cannot_run() {
    let try_with = |agreed: &str| {
        Connection::new_open(Role::Server, Config::default().with_deflate(Some(takeover())), FixedMask(RFC_KEY))
            .with_extensions(&exts(agreed))
            .err()
    };
    assert_eq!(try_with("x-foo"), Some(UsageError::UnsupportedExtension("x-foo".into())));
    assert_eq!(try_with("permessage-deflate, x-foo"), Some(UsageError::UnsupportedExtension("x-foo".into())));
    assert_eq!(
        try_with("x-webkit-deflate-frame"),
        Some(UsageError::UnsupportedExtension("x-webkit-deflate-frame".into()))
    );
    for bad in [
        "permessage-deflate; x=1",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    ] {
        assert!(matches!(try_with(bad), Some(UsageError::InvalidDeflateParameters(_))), "{bad}: {:?}", try_with(bad));
    }
    // The extension twice is not something it can run either.
    assert!(try_with("permessage-deflate, permessage-deflate").is_some());
    assert_eq!(try_with("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"), None);
    assert_eq!(try_with("PERMESSAGE-DEFLATE"), None);
}
