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

use std::io::{self, BufRead, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Instant;

use wsmachine::handshake::ClientRequest;
use wsmachine::{ChaChaEntropy, CloseCode, Config, Connection, Event, Output};

#[path = "support/unsent.rs"]
mod unsent;
use unsent::{Drive, Unsent};

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
    let mut conn = Connection::client(request, config, ChaChaEntropy::new())?;
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
        match unsent.drive(&mut conn, &mut stream, deadline, &mut shutdown, "the server") {
            Drive::Stalled => continue,
            Drive::Wrote => {}
            Drive::Idle => {
                input = match deadline {
                    None => Some(rx.recv()?),
                    Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(input) => Some(input),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(e @ RecvTimeoutError::Disconnected) => return Err(e.into()),
                    },
                };
            }
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
