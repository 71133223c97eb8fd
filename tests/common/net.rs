//! Blocking loopback TCP for the interop tests: [`TcpDriver`] runs a
//! wsmachine `Connection` over a `TcpStream` in the test thread, against a
//! real peer on the other end.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use wsmachine::handshake::Accept;
use wsmachine::{BytesMut, Closed, Connection, Event, Message, Output, ReadyState};

/// `stream` with read and write timeouts of `timeout` and no Nagle delay:
/// a stuck peer fails the test instead of hanging the suite.
pub fn with_timeouts(stream: TcpStream, timeout: Duration) -> TcpStream {
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// What happened on the wsmachine side, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `n` bytes read and fed to the connection.
    Read(usize),
    /// The read side ended (0 bytes, or a reset): `handle_eof`.
    Eof,
    /// A `Transmit` of `n` bytes written.
    Wrote(usize),
    Event(Event),
    /// `CloseTransport`: flushed and shut down.
    CloseTransport,
}

/// Runs a wsmachine `Connection` over a blocking `TcpStream`: every output
/// is done in order (each `Transmit` written, each event recorded), every
/// read fed in, and both directions kept as byte logs.
pub struct TcpDriver {
    pub conn: Connection,
    pub stream: TcpStream,
    /// Every step, events included, in order.
    pub timeline: Vec<Step>,
    /// Every byte read, as read (an HTTP head first, for a connection that
    /// does the opening handshake).
    pub wire_in: Vec<u8>,
    /// Every byte written, as written.
    pub wire_out: Vec<u8>,
    /// Ready states seen after each input or command: they only move forward.
    pub states: Vec<ReadyState>,
    /// Send every received message back while the connection is OPEN.
    pub echo: bool,
    /// Answer an `UpgradeRequest` at once with `Accept::new()`.
    pub accept_upgrades: bool,
    /// How `CloseTransport` shuts the socket down: `Both` by default. A
    /// socket shut down for reading answers data that still arrives with a
    /// TCP reset (Linux), so a peer that is still writing when we fail the
    /// connection gets EPIPE/ECONNRESET instead of our Close frame; the tests
    /// of that case use `Write` and [`linger`](Self::linger).
    pub shutdown: Shutdown,
    pub eof: bool,
    pub transport_closed: bool,
    reads: usize,
}

impl TcpDriver {
    /// Drives `conn` over `stream` (read and write timeouts of `timeout`).
    /// Nothing is done until [`pump`](Self::pump) or a `run_until…`, so the
    /// options can be set first.
    pub fn new(conn: Connection, stream: TcpStream, timeout: Duration) -> Self {
        let states = vec![conn.ready_state()];
        Self {
            conn,
            stream: with_timeouts(stream, timeout),
            timeline: Vec::new(),
            wire_in: Vec::new(),
            wire_out: Vec::new(),
            states,
            echo: false,
            accept_upgrades: false,
            shutdown: Shutdown::Both,
            eof: false,
            transport_closed: false,
            reads: 0,
        }
    }

    /// Appends the ready state to `states` when it changed; panics if it
    /// went back.
    #[track_caller]
    fn note_state(&mut self) {
        let (last, now) = (*self.states.last().unwrap(), self.conn.ready_state());
        assert!(now >= last, "ready_state went back from {last:?} to {now:?}");
        if now != last {
            self.states.push(now);
        }
    }

    /// Does every output, in order.
    pub fn pump(&mut self) {
        self.note_state();
        while let Some(o) = self.conn.poll_output() {
            match o {
                Output::Transmit(b) => {
                    assert!(!self.transport_closed, "Transmit after CloseTransport; {}", self.summary());
                    let timeline = &self.timeline;
                    self.stream.write_all(&b).unwrap_or_else(|e| panic!("write failed: {e}; {}", summary(timeline)));
                    self.wire_out.extend_from_slice(&b);
                    self.timeline.push(Step::Wrote(b.len()));
                }
                Output::Event(e) => {
                    assert!(!self.is_closed(), "an event after Closed: {}; {}", describe_event(&e), self.summary());
                    match &e {
                        Event::UpgradeRequest(_) if self.accept_upgrades => self.conn.accept(Accept::new()).unwrap(),
                        // A message followed in the same read by the peer's
                        // Close cannot be echoed: the state is CLOSING.
                        Event::Message(m) if self.echo && self.conn.ready_state() == ReadyState::Open => {
                            self.conn.send(m.clone()).unwrap();
                        }
                        _ => {}
                    }
                    self.timeline.push(Step::Event(e));
                }
                Output::CloseTransport => {
                    assert!(!self.transport_closed, "second CloseTransport; {}", self.summary());
                    self.transport_closed = true;
                    self.stream.flush().unwrap();
                    // NotConnected if the peer is gone already.
                    let _ = self.stream.shutdown(self.shutdown);
                    self.timeline.push(Step::CloseTransport);
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
        self.note_state();
    }

    /// One read from the socket into the connection, then its outputs.
    /// The reads take turns at the three input paths: `read_from` (the
    /// connection reads the socket itself: the first read, so a server's
    /// upgrade request is parsed where it lands), `handle_bytes_owned` and
    /// `handle_bytes`.
    pub fn read_once(&mut self) {
        assert!(!self.eof, "read after EOF; {}", self.summary());
        let turn = self.reads % 3;
        self.reads += 1;
        if turn == 0 {
            let mut tap = Tap { stream: &mut self.stream, log: &mut self.wire_in };
            match self.conn.read_from(&mut tap) {
                // `read_from` told the connection.
                Ok(0) => {
                    self.eof = true;
                    self.timeline.push(Step::Eof);
                    self.pump();
                }
                Ok(n) => {
                    self.timeline.push(Step::Read(n));
                    self.pump();
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => self.on_eof(),
                Err(e) => panic!("wsmachine side: read failed ({e}), the peer is stuck or gone; {}", self.summary()),
            }
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => self.on_eof(),
            Ok(n) => {
                self.timeline.push(Step::Read(n));
                self.wire_in.extend_from_slice(&buf[..n]);
                if turn == 1 {
                    self.conn.handle_bytes_owned(BytesMut::from(&buf[..n]));
                } else {
                    self.conn.handle_bytes(&buf[..n]);
                }
                self.pump();
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => self.on_eof(),
            Err(e) => panic!("wsmachine side: read failed ({e}), the peer is stuck or gone; {}", self.summary()),
        }
    }

    fn on_eof(&mut self) {
        self.eof = true;
        self.timeline.push(Step::Eof);
        self.conn.handle_eof();
        self.pump();
    }

    /// Reads until `done` holds; fails if the connection ends first.
    pub fn run_until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        self.pump();
        while !done(self) {
            assert!(!self.is_closed() && !self.eof, "wsmachine side ended before {what}; {}", self.summary());
            self.read_once();
        }
    }

    /// Reads until `Closed`, checks nothing follows it, and returns it.
    pub fn run_until_closed(&mut self) -> Closed {
        self.pump();
        while !self.is_closed() {
            assert!(!self.eof, "EOF without Closed; {}", self.summary());
            self.read_once();
        }
        assert_eq!(self.conn.poll_output(), None, "output after Closed");
        assert_eq!(self.conn.ready_state(), ReadyState::Closed);
        self.closed_event()
    }

    /// After the transport was closed, reads and discards what the peer still
    /// sends until it ends (a lingering close), so the peer's writes do not
    /// fail and our close() does not reset unread data.
    pub fn linger(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = self.stream.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// Every event, in order.
    pub fn events(&self) -> Vec<Event> {
        self.timeline
            .iter()
            .filter_map(|s| match s {
                Step::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every message received, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.timeline
            .iter()
            .filter_map(|s| match s {
                Step::Event(Event::Message(m)) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn is_closed(&self) -> bool {
        self.position(|s| matches!(s, Step::Event(Event::Closed(_)))).is_some()
    }

    /// The `Closed` event; panics if there is none.
    pub fn closed_event(&self) -> Closed {
        self.timeline
            .iter()
            .find_map(|s| match s {
                Step::Event(Event::Closed(c)) => Some(c.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Closed; {}", self.summary()))
    }

    /// Where the first step for which `f` holds is in the timeline.
    pub fn position(&self, f: impl Fn(&Step) -> bool) -> Option<usize> {
        self.timeline.iter().position(f)
    }

    /// A short account of the timeline for failure messages.
    pub fn summary(&self) -> String {
        summary(&self.timeline)
    }
}

/// A short account of a timeline for failure messages.
pub fn summary(timeline: &[Step]) -> String {
    let steps: Vec<String> = timeline
        .iter()
        .map(|s| match s {
            Step::Event(e) => describe_event(e),
            other => format!("{other:?}"),
        })
        .collect();
    format!("timeline: [{}]", steps.join(", "))
}

/// An event for a failure message: a large message by its size only.
pub fn describe_event(e: &Event) -> String {
    match e {
        Event::Message(m) if m.len() > 64 => format!("Message({} bytes, text: {})", m.len(), m.is_text()),
        other => format!("{other:?}"),
    }
}

/// The socket as `read_from` reads it, each read's bytes logged.
struct Tap<'a> {
    stream: &'a mut TcpStream,
    log: &'a mut Vec<u8>,
}

impl Read for Tap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.log.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}
