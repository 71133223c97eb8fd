//! A WebSocket echo server on blocking `std::net`, one thread per connection.
//!
//! ```sh
//! cargo run --release --example echo_server            # 127.0.0.1:9001
//! cargo run --release --example echo_server 0.0.0.0:8080
//! # Shorter deadlines (seconds, fractions allowed; 0 turns keepalive or the
//! # close timeout off), e.g. to watch a peer that stops reading be dropped:
//! cargo run --release --example echo_server -- 127.0.0.1:9001 \
//!     --keepalive 1 --keepalive-timeout 1 --close-timeout 1
//! ```
//!
//! Open `http://127.0.0.1:9001/` in a browser: the page opens a WebSocket to
//! this server, sends messages, calls `close(code, reason)` with the
//! browser's own rules, and shows the resulting `CloseEvent`. Every message
//! is echoed; a Close is answered with the peer's code and reason; each
//! connection's `Closed` event is logged.
//!
//! Time is an input: each loop iteration tells the connection the time, and
//! the socket's read and write timeouts are set from `poll_timeout_at()`, so
//! the opening and closing handshake timeouts and keepalive pings fire on
//! time without a timer thread, even while a write waits for the peer.
//!
//! A peer that stops reading: what the connection gives us to send waits in
//! `Unsent` and goes out as fast as the peer takes it. While it waits the
//! server does not read (so it holds at most what one read produced, at most
//! a 16 MiB message here). If the peer takes none of it for
//! `keepalive_timeout`, the server reports it, ends the connection
//! (`handle_eof`, so the application still sees `Closed`, code 1006) and
//! drops the socket: the thread and the bytes are freed. Not reading also
//! means no input, so keepalive fails a peer that takes a write by dribs for
//! longer than `keepalive_interval + keepalive_timeout`; the close timeout
//! bounds the last write after `Closed`.
//! `.ci/stuck_reader.sh` checks all this with a client that never reads.

use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use wsmachine::handshake::Accept;
use wsmachine::{Config, Connection, Event, Output};

#[path = "support/unsent.rs"]
mod unsent;
use unsent::{Drive, Unsent};

const PAGE: &str = include_str!("echo_page.html");
const USAGE: &str = "usage: echo_server [ADDR] [--keepalive SECS] [--keepalive-timeout SECS] [--close-timeout SECS]";

fn main() -> io::Result<()> {
    let (addr, config) = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}\n{USAGE}");
        std::process::exit(2)
    });
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
        let config = config.clone();
        thread::spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
            if let Err(e) = serve(stream, &peer, config) {
                println!("[{peer}] transport error: {e}");
            }
        });
    }
    Ok(())
}

/// The address and the `Config`: messages up to 16 MiB, and the deadlines
/// given on the command line.
fn parse_args() -> Result<(String, Config), String> {
    let mut addr = "127.0.0.1:9001".to_owned();
    let mut config = Config::default().with_max_message_size(16 << 20).with_max_frame_size(16 << 20);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let flag = arg.as_str();
        let mut secs = || {
            let value = args.next().ok_or_else(|| format!("{flag} needs a number of seconds"))?;
            value
                .parse()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| format!("{flag}: {value:?} is not a number of seconds"))
        };
        let on = |d: Duration| Some(d).filter(|d| !d.is_zero());
        match flag {
            "--keepalive" => config.keepalive_interval = on(secs()?),
            "--keepalive-timeout" => config.keepalive_timeout = on(secs()?).ok_or("--keepalive-timeout must be > 0")?,
            "--close-timeout" => config.close_timeout = on(secs()?),
            _ if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ => addr = arg.clone(),
        }
    }
    Ok((addr, config))
}

/// Drives one connection until its `Closed` event.
fn serve(mut stream: TcpStream, peer: &str, config: Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // How long the peer may take none of our bytes: as long as keepalive
    // gives a silent peer to answer its Ping.
    let stall = config.keepalive_timeout;
    // How long the last write may take once the connection has closed.
    let last_write = config.close_timeout.unwrap_or(stall);
    let mut conn = Connection::server(config);
    conn.handle_timeout_at(Instant::now());
    // A plain HTTP request (the page) ends with `Closed` too; only
    // WebSocket connections are worth logging then.
    let mut websocket = false;
    let mut unsent = Unsent::new(stall);
    // `CloseTransport` came: shut the socket once `unsent` is sent.
    let mut shutdown = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Do everything the connection asks for, in order; bytes to send
        // join `unsent`, written below.
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => unsent.push(bytes),
                Output::CloseTransport => shutdown = true,
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
                    Event::Closed(closed) => {
                        if websocket {
                            println!(
                                "[{peer}] closed: code {} reason {:?} was_clean {}{}",
                                closed.code,
                                closed.reason,
                                closed.was_clean,
                                closed.error.map(|e| format!(" error: {e}")).unwrap_or_default()
                            );
                        } else if let Some(e) = closed.error {
                            println!("[{peer}] ended before a WebSocket opened: {e}");
                        }
                        // The last bytes (the page, a Close frame) go out if
                        // the peer takes them in time; then the socket closes.
                        unsent.write_until(&mut stream, Some(Instant::now() + last_write))?;
                        if !unsent.is_empty() {
                            println!("[{peer}] not reading: {} bytes left unsent", unsent.len());
                        } else if shutdown {
                            let _ = stream.shutdown(Shutdown::Write);
                        }
                        return Ok(());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        // Then write what the peer takes, or wait for the peer; either way
        // no longer than the next deadline.
        let deadline = conn.poll_timeout_at();
        let mut read = None;
        match unsent.drive(&mut conn, &mut stream, deadline, &mut shutdown, &format!("[{peer}]")) {
            Drive::Stalled => continue,
            Drive::Wrote => {}
            Drive::Idle => {
                let wait =
                    deadline.map(|at| at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
                stream.set_read_timeout(wait)?;
                read = Some(stream.read(&mut buf));
            }
        }
        conn.handle_timeout_at(Instant::now());
        match read {
            Some(Ok(0)) => conn.handle_eof(),
            Some(Ok(n)) => conn.handle_bytes(&buf[..n]),
            Some(Err(e)) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Some(Err(_)) => conn.handle_eof(),
            None => {}
        }
    }
}
