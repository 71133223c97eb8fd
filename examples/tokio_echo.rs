//! The echo server on tokio: the same `Connection`, driven by an async loop.
//!
//! ```sh
//! cargo run --release --example tokio_echo            # 127.0.0.1:9002
//! ```
//!
//! The state machine never blocks and never awaits: the task reads, feeds
//! bytes in, and writes what comes out. Nothing here is tokio-specific beyond
//! the socket calls, which is the point of a sans-IO core. Deadlines
//! (handshake and close timeouts, keepalive) are a `sleep_until` raced
//! against the read.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use wsmachine::handshake::Accept;
use wsmachine::{Config, Connection, Event, Output};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("tokio echo server: ws://{}/", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(stream, peer.to_string()).await {
                println!("[{peer}] transport error: {e}");
            }
        });
    }
}

async fn serve(mut stream: TcpStream, peer: String) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::server(Config::default());
    conn.handle_timeout_at(Instant::now().into_std());
    loop {
        let mut out = Vec::new();
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => out.extend_from_slice(&bytes),
                Output::CloseTransport => {
                    stream.write_all(&out).await?;
                    out.clear();
                    stream.shutdown().await?;
                }
                Output::Event(Event::UpgradeRequest(_)) => {
                    let _ = conn.accept(Accept::new());
                }
                Output::Event(Event::HttpRequest(_)) => {
                    let _ = conn.reject(426, &[("Upgrade", "websocket")], b"WebSocket only\n");
                }
                Output::Event(Event::Message(message)) => {
                    let _ = conn.send(message);
                }
                Output::Event(Event::Closed(closed)) => {
                    println!(
                        "[{peer}] closed: code {} reason {:?} was_clean {}",
                        closed.code, closed.reason, closed.was_clean
                    );
                    return Ok(());
                }
                _ => {}
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        let deadline = conn.poll_timeout_at().map(Instant::from_std);
        // Read straight into the connection's input buffer: the read is the
        // only copy a received byte makes. Dropping it unused (the timer
        // fired first) is fine.
        let mut lent = conn.read_buffer(64 * 1024);
        tokio::select! {
            result = stream.read_buf(&mut lent) => {
                conn.handle_timeout_at(std::time::Instant::now());
                match result {
                    Ok(0) | Err(_) => conn.handle_eof(),
                    Ok(_) => conn.handle_bytes_owned(lent),
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                conn.handle_timeout_at(std::time::Instant::now());
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}
