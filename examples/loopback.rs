//! A client and a server over loopback TCP, each driven by the same dozen-line
//! blocking loop: the crate docs' first example (`cargo run --example loopback`).

use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use wsmachine::handshake::{Accept, ClientRequest};
use wsmachine::{ChaChaEntropy, CloseCode, Config, Connection, Event, Flushed};

/// Runs `conn` over `stream` until it closes, handing every event to `on_event`.
fn drive(
    mut conn: Connection,
    mut stream: TcpStream,
    mut on_event: impl FnMut(&mut Connection, Event),
) -> std::io::Result<()> {
    // A peer that stops reading fails a write.
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    // The time starts the deadlines (handshake, keepalive, close).
    conn.handle_timeout_at(Instant::now());
    loop {
        // 1. Every event, in order; a handler may send or close.
        while let Some(event) = conn.poll_event() {
            let closed = matches!(event, Event::Closed(_));
            on_event(&mut conn, event);
            if closed {
                return Ok(());
            }
        }
        // 2. Everything queued for the peer, in as few writes as it takes.
        if conn.write_to(&mut stream)? == Flushed::CloseTransport {
            let _ = stream.shutdown(Shutdown::Write);
            continue; // `Event::Closed` is next.
        }
        // 3. Wait for the peer, until the next deadline at most.
        let wait = conn.poll_timeout_at().map(|at| at.saturating_duration_since(Instant::now()));
        stream.set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))))?;
        let read = conn.read_from(&mut stream);
        conn.handle_timeout_at(Instant::now());
        if let Err(e) = read {
            // A time-out means the deadline came first: acted on just above.
            if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                return Err(e);
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("ws://{}/chat", listener.local_addr()?);

    // The server accepts the upgrade and echoes every message.
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (stream, _) = listener.accept()?;
        drive(Connection::server(Config::default()), stream, |conn, event| match event {
            Event::UpgradeRequest(_) => conn.accept(Accept::new()).expect("a request is pending"),
            Event::Message(message) => {
                let _ = conn.send(message);
            }
            _ => {}
        })
    });

    // The client says hello and closes once the echo is back.
    let request = ClientRequest::new(&url)?;
    let stream = TcpStream::connect((request.host(), request.port()))?;
    let client = Connection::client(request, Config::default(), ChaChaEntropy::new())?;
    let mut seen = Vec::new();
    drive(client, stream, |conn, event| {
        match &event {
            Event::Open(_) => conn.send_text("hello").expect("open"),
            Event::Message(_) => conn.close(Some(CloseCode::NORMAL), "done").expect("valid code"),
            _ => {}
        }
        seen.push(event);
    })?;
    server.join().expect("server thread")?;

    match seen.as_slice() {
        [Event::Open(_), Event::Message(echo), Event::Closed(closed)] => {
            assert_eq!(echo.as_bytes(), b"hello");
            assert_eq!((closed.code, closed.reason.as_str(), closed.was_clean), (CloseCode::NORMAL, "done", true));
        }
        other => panic!("unexpected events: {other:?}"),
    }
    Ok(())
}
