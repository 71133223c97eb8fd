//! permessage-deflate (RFC 7692) against a real peer: Python's `websockets`
//! package, in both roles, over loopback TCP, through the real opening
//! handshake. The peer is `tests/peers/ws_deflate_peer.py`.
//!
//! The tests need the path of a Python that has `websockets` in the
//! environment variable `WSMACHINE_PY_PEER`; `.ci/deflate_interop.sh` makes
//! such a Python (a throwaway venv) and runs them. Without the variable each
//! test prints a note and passes.
//!
//! What each test checks: the extension was negotiated (our `Event::Open`
//! and the peer's response header agree), messages of every size up to
//! 1 MiB, text and binary, come back intact, the frames each side sent were
//! compressed (RSV1 on the first frame only, never on control frames), and
//! both sides see the close code and reason.
#![cfg(feature = "deflate")]

mod common;
use common::net::TcpDriver;
use common::noise;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wsmachine::handshake::{ClientRequest, ExtensionOffer};
use wsmachine::{CloseCode, Config, Connection, DeflateConfig, Event, Message, OsEntropy};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The Python to run the peer with, or `None` (and a note) to skip.
fn python() -> Option<String> {
    match std::env::var("WSMACHINE_PY_PEER") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            // Straight to stderr, past the test harness's capture, so the
            // note shows in a normal run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: WSMACHINE_PY_PEER is not set (the path of a Python with `websockets`; \
                 .ci/deflate_interop.sh sets it up)"
            );
            None
        }
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ws_deflate_peer.py")
}

// ---------------------------------------------------------------------------
// The Python peer process
// ---------------------------------------------------------------------------

/// The peer process, its stdout as lines, killed if still running when
/// dropped.
struct PyPeer {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl PyPeer {
    fn spawn(python: &str, args: &[&str]) -> Self {
        let mut child = Command::new(python)
            .arg(script())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// The next line starting with `prefix` (earlier lines are kept).
    fn line(&mut self, prefix: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return l.clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    println!("peer: {l}");
                    self.seen.push(l.clone());
                    if l.starts_with(prefix) {
                        return l;
                    }
                }
                Err(e) => panic!("no `{prefix}` line from the peer ({e:?}); it said {:?}", self.seen),
            }
        }
    }

    /// Waits for the peer to exit and asserts it succeeded.
    fn assert_exits_ok(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Collect the rest of its output.
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    println!("peer: {l}");
                    self.seen.push(l);
                }
                assert!(status.success(), "peer exited with {status}; it said {:?}", self.seen);
                return;
            }
            assert!(Instant::now() < deadline, "peer still running; it said {:?}", self.seen);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Frames on the wire, either way
// ---------------------------------------------------------------------------

/// One frame header seen on the wire.
#[derive(Debug, Clone, Copy)]
struct Seen {
    fin: bool,
    rsv: u8,
    opcode: u8,
    len: u64,
}

/// The frame headers of one direction of a connection (payloads are
/// skipped), after its HTTP head; a partial frame at the end is left out.
fn frames(data: &[u8]) -> Vec<Seen> {
    let mut frames = Vec::new();
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { return frames };
    let mut b = &data[end + 4..];
    loop {
        if b.len() < 2 {
            return frames;
        }
        let masked = b[1] & 0x80 != 0;
        let (len, mut pos) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().unwrap()), 10),
            126 | 127 => return frames,
            n => (u64::from(n), 2),
        };
        if masked {
            pos += 4;
        }
        let total = pos + len as usize;
        if b.len() < total {
            return frames;
        }
        frames.push(Seen { fin: b[0] & 0x80 != 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0xf, len });
        b = &b[total..];
    }
}

/// Per data message of one direction (its bytes, as [`frames`] takes
/// them): was it compressed (RSV1 on its first frame), and its wire payload
/// size. Asserts RSV1 nowhere else (RFC 7692 §6.1).
fn wire_messages(data: &[u8]) -> Vec<(bool, u64)> {
    let mut out = Vec::new();
    let mut cur: Option<(bool, u64)> = None;
    for f in frames(data) {
        assert_eq!(f.rsv & 0b011, 0, "RSV2/RSV3 on {f:?}");
        match f.opcode {
            1 | 2 => cur = Some((f.rsv == 0b100, f.len)),
            0 => {
                assert_eq!(f.rsv, 0, "RSV1 on a continuation frame");
                cur.as_mut().expect("continuation outside a message").1 += f.len;
            }
            _ => {
                assert_eq!(f.rsv, 0, "RSV1 on a control frame {f:?}");
                continue;
            }
        }
        if f.fin {
            out.push(cur.take().unwrap());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Our endpoint over a blocking socket
// ---------------------------------------------------------------------------

/// Our side: the shared driver, both directions kept as byte logs for
/// [`wire_messages`].
type Endpoint = TcpDriver;

/// Our endpoint over `stream`: answers an upgrade request at once with
/// `Accept::new()`, and shuts down only its write side on `CloseTransport`.
fn endpoint(conn: Connection, stream: TcpStream) -> Endpoint {
    let mut ep = TcpDriver::new(conn, stream, TIMEOUT);
    ep.accept_upgrades = true;
    ep.shutdown = Shutdown::Write;
    ep
}

impl Endpoint {
    fn extensions(&self) -> Vec<ExtensionOffer> {
        self.events()
            .into_iter()
            .find_map(|e| match e {
                Event::Open(n) => Some(n.extensions),
                _ => None,
            })
            .expect("no Open")
    }
}

fn config(deflate: DeflateConfig) -> Config {
    Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20).with_deflate(Some(deflate))
}

/// The `permessage-deflate` header value our `Open` reported, or `-`.
fn header_of(extensions: &[ExtensionOffer]) -> String {
    match extensions {
        [] => "-".into(),
        [e] => e.to_header_value(),
        more => panic!("several extensions: {more:?}"),
    }
}

/// The same element, whatever the spelling: parameters compared as a set.
fn same_element(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let mut v: Vec<String> = s.split(';').map(|p| p.trim().replace('"', "").to_ascii_lowercase()).collect();
        v.sort();
        v
    };
    norm(a) == norm(b)
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

fn text(seed: u64, len: usize) -> String {
    let words = ["permessage", "deflate", "κόσμε", "window", "日本語", "takeover", "🎉", "frame", "naïve", "sync"];
    let picks = noise(seed, len / 3 + 1);
    let mut s = String::with_capacity(len + 16);
    let mut i = 0;
    while s.len() < len {
        s.push_str(words[usize::from(picks[i % picks.len()]) % words.len()]);
        s.push(if picks[(i + 1) % picks.len()] % 7 == 0 { '\n' } else { ' ' });
        i += 1;
    }
    while s.len() > len {
        s.pop();
    }
    s
}

/// Empty to 1 MiB, text and binary, compressible and not, and one message
/// twice in a row.
fn messages() -> Vec<Message> {
    let mut v = Vec::new();
    for (i, n) in
        [0usize, 1, 5, 100, 127, 128, 1000, 16 << 10, (64 << 10) + 3, 300 << 10, 1 << 20].into_iter().enumerate()
    {
        v.push(Message::text(text(i as u64, n)));
        v.push(Message::binary(noise(i as u64, 4096).repeat(n / 4096 + 1)[..n].to_vec()));
    }
    v.push(Message::binary(noise(99, 1 << 20)));
    v.push(Message::binary(vec![0u8; 1 << 20]));
    v.push(Message::text("x".repeat(1 << 20)));
    let again = Message::text(text(7, 5000));
    v.push(again.clone());
    v.push(again);
    v
}

/// Sends each message and waits for its echo.
fn echo_all(ep: &mut Endpoint, msgs: &[Message]) {
    for (i, m) in msgs.iter().enumerate() {
        ep.conn.send(m.clone()).unwrap();
        ep.pump();
        ep.run_until("the echo", |e| e.messages().len() > i);
        let got = &ep.messages()[i];
        assert!(
            got == m,
            "message {i} ({:?}, {} bytes) came back as {:?}, {} bytes",
            m.kind(),
            m.len(),
            got.kind(),
            got.len()
        );
    }
}

/// Both directions compressed messages as the configuration says: ours from
/// the threshold (128 bytes) on, and the peer's at least the large ones.
fn assert_compressed_both_ways(ep: &Endpoint, msgs: &[Message], threshold: usize) {
    let ours = wire_messages(&ep.wire_out);
    assert_eq!(ours.len(), msgs.len());
    for (m, (compressed, wire)) in msgs.iter().zip(&ours) {
        assert_eq!(*compressed, m.len() >= threshold, "{} bytes", m.len());
        if m.len() >= 1 << 20 && m.as_bytes().iter().all(|b| *b == m.as_bytes()[0]) {
            assert!(*wire < (m.len() as u64) / 4, "{} compressed to {wire}", m.len());
        }
    }
    let theirs = wire_messages(&ep.wire_in);
    assert_eq!(theirs.len(), msgs.len());
    let compressed = theirs.iter().filter(|m| m.0).count();
    let large = msgs.iter().filter(|m| m.len() >= 1000).count();
    assert!(compressed >= large, "the peer compressed {compressed} of {} messages", theirs.len());
    let wire: u64 = theirs.iter().map(|m| m.1).sum();
    let plain: usize = msgs.iter().map(Message::len).sum();
    println!(
        "peer → us: {compressed}/{} messages compressed, {wire} bytes on the wire for {plain}; us → peer: {} bytes",
        theirs.len(),
        ours.iter().map(|m| m.1).sum::<u64>()
    );
}

// ---------------------------------------------------------------------------
// Our client, the peer's server
// ---------------------------------------------------------------------------

/// Starts the peer's server with `params` and connects our client to it.
fn connect_to_python(python: &str, params: Option<&str>, deflate: DeflateConfig) -> (PyPeer, Endpoint) {
    let mut args = vec!["server"];
    args.extend(params);
    let mut peer = PyPeer::spawn(python, &args);
    let port: u16 = peer.line("LISTENING ")["LISTENING ".len()..].trim().parse().unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = ClientRequest::new(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let conn = Connection::client(request, config(deflate), OsEntropy).unwrap();
    let mut ep = endpoint(conn, stream);
    ep.run_until("the opening", |e| e.events().iter().any(|e| matches!(e, Event::Open(_))));
    (peer, ep)
}

#[test]
fn our_client_against_python_server() {
    let Some(python) = python() else { return };
    let (mut peer, mut ep) = connect_to_python(&python, None, DeflateConfig::default());
    let ours = header_of(&ep.extensions());
    let theirs = peer.line("OPEN ")["OPEN ".len()..].to_owned();
    println!("negotiated: {ours}");
    assert!(ours.starts_with("permessage-deflate"), "{ours}");
    assert!(same_element(&ours, &theirs), "{ours} / {theirs}");
    // What our default offer asked for was granted.
    assert!(ours.contains("server_no_context_takeover") && ours.contains("client_no_context_takeover"), "{ours}");
    let msgs = messages();
    echo_all(&mut ep, &msgs);
    ep.conn.close(Some(CloseCode::new(4000)), "bye").unwrap();
    ep.pump();
    let closed = ep.run_until_closed();
    assert_eq!(
        (closed.code.as_u16(), closed.reason.as_str(), closed.was_clean, &closed.error),
        (4000, "bye", true, &None)
    );
    assert_eq!(peer.line("CLOSED "), "CLOSED 4000 bye");
    peer.assert_exits_ok();
    assert_compressed_both_ways(&ep, &msgs, 128);
}

/// Context takeover both ways with smaller windows; then the server closes
/// (4001 "server bye") and our client sees it.
#[test]
fn our_client_with_context_takeover_against_python_server() {
    let Some(python) = python() else { return };
    let cfg = DeflateConfig::default()
        .with_server_no_context_takeover(false)
        .with_client_no_context_takeover(false)
        .with_server_max_window_bits(10)
        .with_client_max_window_bits(9);
    let (mut peer, mut ep) = connect_to_python(&python, None, cfg);
    let ours = header_of(&ep.extensions());
    let theirs = peer.line("OPEN ")["OPEN ".len()..].to_owned();
    println!("negotiated: {ours}");
    assert!(same_element(&ours, &theirs), "{ours} / {theirs}");
    assert!(!ours.contains("no_context_takeover"), "{ours}");
    assert!(ours.contains("server_max_window_bits=10") && ours.contains("client_max_window_bits=9"), "{ours}");
    let mut msgs = messages();
    // A message that fits the windows (zlib reaches back 250 bytes with
    // window 9), twice in a row: with takeover the second is tiny, both ways.
    let again = Message::text(text(11, 200));
    msgs.extend([again.clone(), again]);
    echo_all(&mut ep, &msgs);
    assert_compressed_both_ways(&ep, &msgs, 128);
    let (ours_w, theirs_w) = (wire_messages(&ep.wire_out), wire_messages(&ep.wire_in));
    let n = msgs.len();
    assert!(ours_w[n - 1].1 < ours_w[n - 2].1 / 4, "{:?}", &ours_w[n - 2..]);
    assert!(theirs_w[n - 1].1 < theirs_w[n - 2].1 / 4, "{:?}", &theirs_w[n - 2..]);
    ep.conn.send_text("close-me").unwrap();
    ep.pump();
    let closed = ep.run_until_closed();
    assert_eq!((closed.code.as_u16(), closed.reason.as_str(), closed.was_clean), (4001, "server bye", true));
    assert!(
        ep.events()
            .iter()
            .any(|e| matches!(e, Event::Closing(f) if f.code.as_u16() == 4001 && f.reason == "server bye"))
    );
    assert_eq!(peer.line("CLOSED "), "CLOSED 4001 server bye");
    peer.assert_exits_ok();
}

/// websockets cannot compress with a 256-byte window and declines an offer
/// asking for one: the connection runs uncompressed, RSV1 nowhere.
#[test]
fn our_client_declined_by_python_server() {
    let Some(python) = python() else { return };
    let cfg = DeflateConfig::default().with_server_max_window_bits(8);
    let (mut peer, mut ep) = connect_to_python(&python, None, cfg);
    assert_eq!(header_of(&ep.extensions()), "-");
    assert_eq!(peer.line("OPEN "), "OPEN -");
    let msgs: Vec<Message> = messages().into_iter().filter(|m| m.len() < 100_000).collect();
    echo_all(&mut ep, &msgs);
    assert!(wire_messages(&ep.wire_out).iter().chain(&wire_messages(&ep.wire_in)).all(|m| !m.0));
    ep.conn.close(Some(CloseCode::new(4000)), "bye").unwrap();
    ep.pump();
    let closed = ep.run_until_closed();
    assert_eq!((closed.code.as_u16(), closed.reason.as_str(), closed.was_clean), (4000, "bye", true));
    assert_eq!(peer.line("CLOSED "), "CLOSED 4000 bye");
    peer.assert_exits_ok();
}

// ---------------------------------------------------------------------------
// Our server, the peer's client
// ---------------------------------------------------------------------------

/// Runs our echo server for one connection from the peer's client with
/// `params`; returns our endpoint after `Closed` and the peer's output.
fn serve_python(python: &str, params: Option<&str>, deflate: DeflateConfig) -> (Endpoint, PyPeer) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let mut args = vec!["client", url.as_str()];
    args.extend(params);
    let mut peer = PyPeer::spawn(python, &args);
    let (stream, _) = listener.accept().unwrap();
    let mut ep = endpoint(Connection::server(config(deflate)), stream);
    ep.echo = true;
    let closed = ep.run_until_closed();
    assert_eq!(
        (closed.code.as_u16(), closed.reason.as_str(), closed.was_clean, &closed.error),
        (4000, "bye", true, &None),
        "{}",
        ep.summary()
    );
    assert_eq!(peer.line("CLOSED "), "CLOSED 4000 bye");
    assert!(peer.line("OK ").starts_with("OK "));
    peer.assert_exits_ok();
    let theirs = peer.line("OPEN ")["OPEN ".len()..].to_owned();
    let ours = header_of(&ep.extensions());
    println!("negotiated: {ours}");
    assert!(same_element(&ours, &theirs), "{ours} / {theirs}");
    // Every message came back as it was sent.
    let n = ep.messages().len();
    assert!(n >= 20, "{n} messages");
    assert!(ep.events().iter().any(|e| matches!(e, Event::Closing(f) if f.code.as_u16() == 4000 && f.reason == "bye")));
    (ep, peer)
}

fn assert_server_compressed(ep: &Endpoint) {
    let msgs = ep.messages();
    assert_compressed_both_ways(ep, &msgs, 128);
}

#[test]
fn our_server_against_python_client() {
    let Some(python) = python() else { return };
    let (ep, _) = serve_python(&python, None, DeflateConfig::default());
    assert_eq!(
        header_of(&ep.extensions()),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert_server_compressed(&ep);
}

#[test]
fn our_server_with_context_takeover_against_python_client() {
    let Some(python) = python() else { return };
    let cfg = DeflateConfig::default().with_server_no_context_takeover(false).with_client_no_context_takeover(false);
    let (ep, _) = serve_python(&python, None, cfg);
    assert_eq!(header_of(&ep.extensions()), "permessage-deflate");
    assert_server_compressed(&ep);
    // The message sent twice in a row costs little the second time.
    let w = wire_messages(&ep.wire_out);
    let n = w.len();
    assert!(w[n - 1].1 < w[n - 2].1 / 4, "{:?}", &w[n - 2..]);
}

/// The peer asks for server_max_window_bits=8 (which it can inflate, not
/// compress) and its own window of 9; it also asks for no context takeover
/// from us.
#[test]
fn our_server_with_window_8_against_python_client() {
    let Some(python) = python() else { return };
    let cfg = DeflateConfig::default().with_server_no_context_takeover(false).with_client_no_context_takeover(false);
    let (ep, _) = serve_python(
        &python,
        Some("server_no_context_takeover,server_max_window_bits=8,client_max_window_bits=9"),
        cfg,
    );
    assert_eq!(
        header_of(&ep.extensions()),
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9"
    );
    assert_server_compressed(&ep);
}
