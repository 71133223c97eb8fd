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
//! lock.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;

use wsmachine::handshake::ClientRequest;
use wsmachine::{CloseCode, Config, Connection, Event, OsEntropy, Output};

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
    let mut conn = Connection::client(request, Config::default(), OsEntropy)?;

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
                Output::Transmit(bytes) => stream.write_all(&bytes)?,
                Output::CloseTransport => {
                    let _ = stream.shutdown(Shutdown::Write);
                }
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
                    return Ok(());
                }
                Output::Event(other) => println!("event: {other:?}"),
                _ => {}
            }
        }
        match rx.recv()? {
            Input::Bytes(b) => conn.handle_bytes(&b),
            Input::Eof => conn.handle_eof(),
            Input::Line(line) => {
                if let Err(e) = conn.send_text(line) {
                    println!("not sent: {e}");
                }
            }
            Input::StdinDone => {
                if let Err(e) = conn.close(code, &reason) {
                    println!("close refused: {e}; closing with 1000");
                    let _ = conn.close(Some(CloseCode::NORMAL), "");
                }
            }
        }
    }
}
