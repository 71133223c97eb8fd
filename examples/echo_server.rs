//! A WebSocket echo server on blocking `std::net`, one thread per connection.
//!
//! ```sh
//! cargo run --release --example echo_server            # 127.0.0.1:9001
//! cargo run --release --example echo_server 0.0.0.0:8080
//! ```
//!
//! Open `http://127.0.0.1:9001/` in a browser: the page opens a WebSocket to
//! this server, sends messages, calls `close(code, reason)` with the
//! browser's own rules, and shows the resulting `CloseEvent`. Every message
//! is echoed; a Close is answered with the peer's code and reason; each
//! connection's `Closed` event is logged.
//!
//! Time is an input: each loop iteration tells the connection the time, and
//! the socket's read timeout is set from `poll_timeout_at()`, so the opening
//! and closing handshake timeouts and keepalive pings fire on time without a
//! timer thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use wsmachine::handshake::Accept;
use wsmachine::{Config, Connection, Event, Output};

const PAGE: &str = include_str!("echo_page.html");

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = TcpListener::bind(&addr)?;
    let local = listener.local_addr()?;
    println!("wsmachine echo server: ws://{local}/  (open http://{local}/ in a browser)");
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
            if let Err(e) = serve(stream, &peer) {
                println!("[{peer}] transport error: {e}");
            }
        });
    }
    Ok(())
}

/// Drives one connection until its `Closed` event.
fn serve(mut stream: TcpStream, peer: &str) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    let mut conn = Connection::server(config);
    conn.handle_timeout_at(Instant::now());
    // A plain HTTP request (the page) ends with `Closed` too; only
    // WebSocket connections are worth logging then.
    let mut websocket = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Do everything the connection asks for, in order.
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => stream.write_all(&bytes)?,
                Output::CloseTransport => {
                    stream.flush()?;
                    let _ = stream.shutdown(Shutdown::Write);
                }
                Output::Event(event) => match event {
                    Event::UpgradeRequest(request) => {
                        println!("[{peer}] upgrade {} (protocols {:?})", request.path(), request.protocols());
                        if let Err(e) = conn.accept(Accept::new()) {
                            println!("[{peer}] cannot accept: {e}");
                        }
                    }
                    Event::HttpRequest(request) => {
                        let (status, kind, body) = match (request.method(), request.path()) {
                            ("GET", "/") | ("GET", "/index.html") => (200, "text/html; charset=utf-8", PAGE),
                            _ => (404, "text/plain; charset=utf-8", "not found\n"),
                        };
                        println!("[{peer}] http {} {} -> {status}", request.method(), request.path());
                        let _ = conn.reject(status, &[("Content-Type", kind)], body.as_bytes());
                    }
                    Event::Open(_) => {
                        websocket = true;
                        println!("[{peer}] open");
                    }
                    Event::Message(message) => {
                        // Echo; once we are closing there is nothing to echo to.
                        let _ = conn.send(message);
                    }
                    Event::Closing(frame) => {
                        println!("[{peer}] peer closing: code {} reason {:?}", frame.code, frame.reason)
                    }
                    Event::Closed(closed) if !websocket => {
                        if let Some(e) = closed.error {
                            println!("[{peer}] ended before a WebSocket opened: {e}");
                        }
                        return Ok(());
                    }
                    Event::Closed(closed) => {
                        println!(
                            "[{peer}] closed: code {} reason {:?} was_clean {}{}",
                            closed.code,
                            closed.reason,
                            closed.was_clean,
                            closed.error.map(|e| format!(" error: {e}")).unwrap_or_default()
                        );
                        return Ok(());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        // Wait for the peer, but no longer than the next deadline.
        let wait =
            conn.poll_timeout_at().map(|at| at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
        stream.set_read_timeout(wait)?;
        let result = stream.read(&mut buf);
        conn.handle_timeout_at(Instant::now());
        match result {
            Ok(0) => conn.handle_eof(),
            Ok(n) => conn.handle_bytes(&buf[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => conn.handle_eof(),
        }
    }
}
