//! `differential`: wsmachine's receive path against tungstenite 0.30's on
//! the same bytes, with the same limits: a `Connection::new_open` and a
//! `tungstenite::WebSocket::from_raw_socket` of the same role must deliver
//! the same messages, Pings, Pongs and Close, and then both reject the
//! stream or both not.
//!
//! Input: byte 0 picks the setting, the rest is the peer's byte stream:
//!
//! ```text
//! byte 0   bit  0    role: 0 server (the peer masks), 1 client
//!          bits 1-2  max_frame_size   [1 MiB, 125, 1000, 300]
//!          bits 3-4  max_message_size [1 MiB, 125, 3000, 300]
//! ```
//!
//! The limits are at least 125 bytes: wsmachine exempts control frames from
//! `max_frame_size` (they are bounded by 125 bytes anyway, §5.5), tungstenite
//! does not, and that choice is not what this target is about.
//!
//! Known, justified differences, each handled where it is compared:
//!
//! 1. **Non-minimal payload lengths.** RFC 6455 §5.2: "in all cases, the
//!    minimal number of bytes MUST be used to encode the length". wsmachine
//!    fails such a frame (1002); tungstenite accepts it. The comparison stops
//!    at the first frame whose length is not minimally encoded.
//! 2. **Failing before the frame is complete.** wsmachine checks a header as
//!    soon as it is complete (reserved bits and opcodes, masking, control
//!    frame rules, sizes: §5.2, §5.5, §10.4) and text as it arrives (§8.1:
//!    "When an endpoint is to interpret a byte stream as UTF-8 but finds that
//!    the byte stream is not, in fact, a valid UTF-8 stream, that endpoint
//!    MUST _Fail the WebSocket Connection_"); tungstenite reads a whole frame
//!    before looking at it. So when the stream ends inside a frame,
//!    wsmachine may have failed where tungstenite only saw the end of the
//!    stream. Accepted when wsmachine fed only the complete frames does not
//!    fail and agrees with tungstenite.
//! 3. **A received Close with a code that may not be sent.** §7.4.1 / §7.4.2
//!    list the codes an endpoint may send; wsmachine fails the connection on
//!    any other (1002, as Autobahn case 7.9.* expects); tungstenite answers
//!    it with a Close 1002 and reports `Close(1002, "Protocol violation")`
//!    instead of an error. Both refuse it; counted as a rejection on both
//!    sides.
//! 4. **Close code 1014.** §7.4.2 reserves 1000–2999 for this protocol and
//!    its IANA registry; the registry assigned 1014 (Bad Gateway), which
//!    wsmachine accepts and tungstenite 0.30 does not know (it treats it as
//!    case 3).

use std::io::{self, Read, Write};

use tungstenite::error::ProtocolError as TProtocolError;
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use tungstenite::{Error as TError, Message as TMessage};
use wsmachine::{Config, Connection, Event, Message, Output, Role};

use crate::{CountingEntropy, read_header};

/// What an implementation delivered, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The peer's Close: code and reason, or none.
    Close(Option<(u16, String)>),
}

/// How the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// After the peer's Close.
    Closed,
    /// The stream broke the protocol or a limit.
    Rejected,
    /// The stream ended without a Close.
    Eof,
}

#[derive(Debug)]
pub struct Run {
    pub items: Vec<Item>,
    pub end: Ending,
    pub detail: String,
}

pub fn run_wsmachine(role: Role, stream: &[u8], frame: usize, message: usize) -> Run {
    let config = Config::default().with_max_frame_size(frame).with_max_message_size(message);
    let mut c = Connection::new_open(role, config, CountingEntropy::default());
    let mut items = Vec::new();
    let mut closed = None;
    let mut drain = |c: &mut Connection| {
        while let Some(o) = c.poll_output() {
            let Output::Event(e) = o else { continue };
            items.push(match e {
                Event::Message(Message::Text(t)) => Item::Text(t.as_str().into()),
                Event::Message(Message::Binary(b)) => Item::Binary(b.to_vec()),
                Event::Ping(p) => Item::Ping(p.to_vec()),
                Event::Pong(p) => Item::Pong(p.to_vec()),
                Event::Closing(f) => {
                    let code = f.code.as_u16();
                    Item::Close((code != 1005).then_some((code, f.reason)))
                }
                Event::Closed(c) => {
                    closed = Some(c);
                    continue;
                }
                other => panic!("unexpected event {other:?}"),
            });
        }
    };
    c.handle_bytes(stream);
    drain(&mut c);
    c.handle_eof();
    drain(&mut c);
    let closed = closed.expect("EOF closes");
    let end = if closed.error.is_some() {
        Ending::Rejected
    } else if closed.was_clean {
        Ending::Closed
    } else {
        Ending::Eof
    };
    Run { items, end, detail: format!("{closed:?}") }
}

/// The bytes to read, and a sink for what tungstenite writes (Pongs, the
/// Close reply).
struct Duplex<'a> {
    input: &'a [u8],
    output: Vec<u8>,
}

impl Read for Duplex<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Duplex<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn run_tungstenite(role: Role, stream: &[u8], frame: usize, message: usize) -> Run {
    let config = WebSocketConfig::default().max_frame_size(Some(frame)).max_message_size(Some(message));
    let role = match role {
        Role::Server => TRole::Server,
        Role::Client => TRole::Client,
    };
    let mut ws = WebSocket::from_raw_socket(Duplex { input: stream, output: Vec::new() }, role, Some(config));
    let mut items = Vec::new();
    // Every read consumes input or ends: bounded by the stream's length.
    for _ in 0..=stream.len() + 1 {
        let item = match ws.read() {
            Ok(TMessage::Text(t)) => Item::Text(t.as_str().into()),
            Ok(TMessage::Binary(b)) => Item::Binary(b.to_vec()),
            Ok(TMessage::Ping(p)) => Item::Ping(p.to_vec()),
            Ok(TMessage::Pong(p)) => Item::Pong(p.to_vec()),
            Ok(TMessage::Close(f)) => {
                items.push(Item::Close(f.map(|f| (u16::from(f.code), f.reason.as_str().into()))));
                return Run { items, end: Ending::Closed, detail: "Close".into() };
            }
            Ok(TMessage::Frame(f)) => panic!("raw frame read: {f:?}"),
            Err(TError::ConnectionClosed | TError::AlreadyClosed) => {
                return Run { items, end: Ending::Eof, detail: "closed".into() };
            }
            Err(TError::Protocol(TProtocolError::ResetWithoutClosingHandshake)) => {
                return Run { items, end: Ending::Eof, detail: "reset".into() };
            }
            Err(TError::Io(e)) => panic!("I/O error from an in-memory stream: {e}"),
            Err(e) => return Run { items, end: Ending::Rejected, detail: format!("{e:?}") },
        };
        items.push(item);
    }
    panic!("tungstenite did not finish reading {} bytes", stream.len());
}

/// The start of the first frame whose length is not minimally encoded
/// (difference 1), and the end of the last complete frame before the
/// stream ends (difference 2).
fn walk(stream: &[u8]) -> (Option<usize>, usize) {
    let mut pos = 0;
    while let Some(h) = read_header(&stream[pos..]) {
        let non_minimal = (h.len7 == 126 && h.len < 126) || (h.len7 == 127 && h.len <= 0xFFFF);
        if non_minimal {
            return (Some(pos), pos);
        }
        let end = ((pos + h.header_len) as u64).saturating_add(h.len);
        if end > stream.len() as u64 {
            break;
        }
        pos = end as usize;
    }
    (None, pos)
}

/// A Close that tungstenite turned into its own 1002 (difference 3).
fn is_tungstenite_refusal(item: Option<&Item>) -> bool {
    matches!(item, Some(Item::Close(Some((1002, r)))) if r == "Protocol violation")
}

pub fn run(data: &[u8]) {
    let Some((&b0, stream)) = data.split_first() else { return };
    let role = if b0 & 1 == 0 { Role::Server } else { Role::Client };
    let frame = [1 << 20, 125, 1000, 300][usize::from((b0 >> 1) & 3)];
    let message = [1 << 20, 125, 3000, 300][usize::from((b0 >> 3) & 3)];

    // Difference 1: compare up to the first non-minimal length.
    let (non_minimal, _) = walk(stream);
    let stream = &stream[..non_minimal.unwrap_or(stream.len())];

    let mut ours = run_wsmachine(role, stream, frame, message);
    if ours.end == Ending::Rejected {
        assert!(ours.detail.contains("Protocol("), "a rejection without a protocol error: {ours:?}");
    }
    let mut theirs = run_tungstenite(role, stream, frame, message);

    // Differences 3 and 4: tungstenite's own 1002 for a Close code it does
    // not allow.
    if is_tungstenite_refusal(theirs.items.last()) {
        match ours.items.last() {
            Some(Item::Close(Some((1014, _)))) => {
                ours.items.pop();
                ours.end = Ending::Rejected;
            }
            _ => assert!(
                ours.end == Ending::Rejected && ours.detail.contains("InvalidCloseCode"),
                "tungstenite refused a Close that wsmachine accepted: {ours:?}"
            ),
        }
        theirs.items.pop();
        theirs.end = Ending::Rejected;
    }

    // Difference 2: wsmachine failed inside the last, incomplete frame.
    if ours.end == Ending::Rejected && theirs.end == Ending::Eof {
        let (_, complete) = walk(stream);
        assert!(
            complete < stream.len(),
            "wsmachine rejected a stream of whole frames that tungstenite accepted\nwsmachine:  {ours:?}\ntungstenite: {theirs:?}"
        );
        let whole = run_wsmachine(role, &stream[..complete], frame, message);
        assert_eq!(
            whole.end,
            Ending::Eof,
            "wsmachine rejected the complete frames ({complete} of {} bytes): {whole:?}\ntungstenite: {theirs:?}",
            stream.len()
        );
        ours = whole;
    }

    assert!(
        ours.items == theirs.items && ours.end == theirs.end,
        "wsmachine and tungstenite differ\nwsmachine:   {ours:?}\ntungstenite: {theirs:?}"
    );
}
