//! A command-line WebSocket client: sends each line of stdin as a text
//! message, prints every event, and at the end of stdin closes with the code
//! and reason given on the command line.
//!
//! ```sh
//! cargo run --example client -- ws://127.0.0.1:9001/ [CODE [REASON]]
//! echo hello | cargo run --example client -- ws://127.0.0.1:9001/ 4000 "done here"
//! ```
//!
//! One thread reads the socket, one reads stdin; the main thread owns the
//! `Connection` and is the only one to write, so the state machine needs no
//! lock. The main thread waits for them no longer than `poll_timeout_at()`,
//! so the handshake and close timeouts and keepalive fire on time.
//!
//! Writes are bounded: what the connection gives us to send waits in
//! `Unsent` and goes out as the server takes it (the deadlines keep running
//! meanwhile). A server that takes none of it for `keepalive_timeout` is not
//! reading: the connection ends (`handle_eof`, `Closed` with code 1006)
//! instead of blocking forever.

use std::collections::VecDeque;
use std::io::{self, BufRead, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use wsmachine::handshake::ClientRequest;
use wsmachine::{Bytes, CloseCode, Config, Connection, Event, OsEntropy, Output};

enum Input {
    Bytes(Vec<u8>),
    Eof,
    Line(String),
    StdinDone,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001/".to_owned());
    let code = args.next().map(|c| c.parse::<u16>()).transpose()?.map(CloseCode::new);
    let reason = args.next().unwrap_or_default();

    let request = ClientRequest::new(&url)?;
    if request.is_secure() {
        return Err("wss:// needs TLS, which this example does not set up".into());
    }
    let mut stream = TcpStream::connect((request.host(), request.port()))?;
    stream.set_nodelay(true)?;
    let config = Config::default();
    // How long the server may take none of our bytes: as long as keepalive
    // gives a silent peer to answer its Ping.
    let stall = config.keepalive_timeout;
    // How long the last write may take once the connection has closed.
    let last_write = config.close_timeout.unwrap_or(stall);
    let mut conn = Connection::client(request, config, OsEntropy)?;
    conn.handle_timeout_at(Instant::now());
    let mut unsent = Unsent::new(stall);
    // `CloseTransport` came: shut the socket once `unsent` is sent.
    let mut shutdown = false;

    // Unbounded, so the socket is read even while a write waits: a server
    // that reads only once we have read what it sent (as `echo_server` does)
    // would otherwise deadlock with us. What piles up meanwhile is what the
    // server sends in the time a write may wait: until `stall` without
    // progress, or until keepalive fails (the input waiting here does not
    // count as input yet).
    let (tx, rx) = mpsc::channel();
    let mut reader = stream.try_clone()?;
    let socket_tx = tx.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = socket_tx.send(Input::Eof);
                    return;
                }
                Ok(n) => {
                    if socket_tx.send(Input::Bytes(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });

    let mut stdin_started = false;
    loop {
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => unsent.push(bytes),
                Output::CloseTransport => shutdown = true,
                Output::Event(Event::Open(negotiated)) => {
                    println!("open (protocol {:?})", negotiated.protocol);
                    if !stdin_started {
                        stdin_started = true;
                        let stdin_tx = tx.clone();
                        thread::spawn(move || {
                            for line in io::stdin().lock().lines().map_while(Result::ok) {
                                if stdin_tx.send(Input::Line(line)).is_err() {
                                    return;
                                }
                            }
                            let _ = stdin_tx.send(Input::StdinDone);
                        });
                    }
                }
                Output::Event(Event::Message(m)) => println!("message: {m:?}"),
                Output::Event(Event::Closed(c)) => {
                    println!(
                        "closed: code {} reason {:?} was_clean {} error {:?}",
                        c.code, c.reason, c.was_clean, c.error
                    );
                    // The last bytes (a Close frame) go out if the server
                    // takes them in time.
                    unsent.write_until(&mut stream, Some(Instant::now() + last_write))?;
                    if !unsent.is_empty() {
                        println!("the server is not reading: {} bytes left unsent", unsent.len());
                    } else if shutdown {
                        let _ = stream.shutdown(Shutdown::Write);
                    }
                    return Ok(());
                }
                Output::Event(other) => println!("event: {other:?}"),
                _ => {}
            }
        }
        // Then write what the server takes, or wait for input; either way no
        // longer than the next deadline.
        let deadline = conn.poll_timeout_at();
        let mut input = None;
        if unsent.stalled() {
            println!("the server is not reading: it took none of {} bytes in {stall:?}", unsent.len());
            unsent.queue.clear();
            conn.handle_eof();
            continue;
        } else if !unsent.is_empty() {
            if let Err(e) = unsent.write_until(&mut stream, deadline) {
                println!("write failed: {e}");
                unsent.queue.clear();
                conn.handle_eof();
            }
        } else if shutdown {
            shutdown = false;
            let _ = stream.shutdown(Shutdown::Write);
        } else {
            input = match deadline {
                None => Some(rx.recv()?),
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(input) => Some(input),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(e @ RecvTimeoutError::Disconnected) => return Err(e.into()),
                },
            };
        }
        conn.handle_timeout_at(Instant::now());
        match input {
            Some(Input::Bytes(b)) => conn.handle_bytes(&b),
            Some(Input::Eof) => conn.handle_eof(),
            Some(Input::Line(line)) => {
                if let Err(e) = conn.send_text(line) {
                    println!("not sent: {e}");
                }
            }
            Some(Input::StdinDone) => {
                if let Err(e) = conn.close(code, &reason) {
                    println!("close refused: {e}; closing with 1000");
                    let _ = conn.close(Some(CloseCode::NORMAL), "");
                }
            }
            None => {}
        }
    }
}

/// The bytes the connection gave us to send, in order, written as fast as
/// the peer takes them.
struct Unsent {
    queue: VecDeque<Bytes>,
    /// When the peer last took some of them, or they started to wait.
    since: Instant,
    /// How long the peer may take none of them.
    stall: Duration,
}

impl Unsent {
    fn new(stall: Duration) -> Self {
        Self { queue: VecDeque::new(), since: Instant::now(), stall }
    }

    fn push(&mut self, bytes: Bytes) {
        if self.queue.is_empty() {
            self.since = Instant::now();
        }
        if !bytes.is_empty() {
            self.queue.push_back(bytes);
        }
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn len(&self) -> usize {
        self.queue.iter().map(Bytes::len).sum()
    }

    /// The peer has taken none of the bytes for `stall`: it is not reading.
    fn stalled(&self) -> bool {
        !self.queue.is_empty() && Instant::now() >= self.since + self.stall
    }

    /// Writes until everything is sent, `until` passes or the peer stalls,
    /// whichever comes first.
    fn write_until(&mut self, stream: &mut TcpStream, until: Option<Instant>) -> io::Result<()> {
        while !self.queue.is_empty() {
            let give_up = self.since + self.stall;
            let end = until.map_or(give_up, |until| until.min(give_up));
            // A write that waits for room returns what it wrote only when
            // its timeout passes: a quarter of `stall` at most keeps `since`
            // that close to the truth.
            let wait = end.saturating_duration_since(Instant::now()).min(self.stall / 4);
            stream.set_write_timeout(Some(wait.max(Duration::from_millis(1))))?;
            let mut slices = [IoSlice::new(&[]); 64];
            for (slice, bytes) in slices.iter_mut().zip(&self.queue) {
                *slice = IoSlice::new(bytes);
            }
            match stream.write_vectored(&slices[..self.queue.len().min(64)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut n) => {
                    self.since = Instant::now();
                    while let Some(front) = self.queue.front_mut() {
                        if n < front.len() {
                            *front = front.slice(n..);
                            break;
                        }
                        n -= front.len();
                        self.queue.pop_front();
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= end {
                break;
            }
        }
        Ok(())
    }
}
