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
//! against the read or the write.
//!
//! Writes are bounded too: a task stuck in `write_all` to a peer that never
//! reads would hold its bytes forever. What the connection gives us to send
//! waits in `Unsent` and goes out as the peer takes it; meanwhile the task
//! does not read (so it holds at most what one read produced). A peer that
//! takes none of it for `keepalive_timeout` is dropped: the connection ends
//! with `handle_eof` (`Closed`, code 1006) and the socket and bytes are
//! freed. The last write after `Closed` gets the close timeout at most.
//! A write wakes when the kernel has room again, which on Linux is once a
//! third of the socket's send buffer (up to 4 MiB) is free: a peer that
//! reads less than that per `keepalive_timeout` counts as not reading.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use wsmachine::handshake::Accept;
use wsmachine::{Bytes, Config, Connection, Event, Output};

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
    let config = Config::default();
    // How long the peer may take none of our bytes: as long as keepalive
    // gives a silent peer to answer its Ping.
    let stall = config.keepalive_timeout;
    // How long the last write may take once the connection has closed.
    let last_write = config.close_timeout.unwrap_or(stall);
    let mut conn = Connection::server(config);
    conn.handle_timeout_at(Instant::now().into_std());
    let mut unsent = Unsent::new(stall);
    // `CloseTransport` came: shut the socket once `unsent` is sent.
    let mut shutdown = false;
    loop {
        while let Some(output) = conn.poll_output() {
            match output {
                Output::Transmit(bytes) => unsent.push(bytes),
                Output::CloseTransport => shutdown = true,
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
                    // The last bytes (a Close frame) go out if the peer takes
                    // them in time; then the socket closes.
                    unsent.write_until(&mut stream, Some(Instant::now() + last_write)).await?;
                    if !unsent.is_empty() {
                        println!("[{peer}] not reading: {} bytes left unsent", unsent.len());
                    } else if shutdown {
                        let _ = stream.shutdown().await;
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
        let deadline = conn.poll_timeout_at().map(Instant::from_std);
        if unsent.stalled() {
            // Not a byte taken for `stall`: the peer is not reading. The
            // connection ends as if the peer had gone (`Closed`, code 1006,
            // comes next) and the socket is dropped.
            println!("[{peer}] not reading: took none of {} bytes in {stall:?}; dropping it", unsent.len());
            unsent.queue.clear();
            conn.handle_eof();
        } else if !unsent.is_empty() {
            // Write what the peer takes, until the next deadline at most.
            if let Err(e) = unsent.write_until(&mut stream, deadline).await {
                println!("[{peer}] write failed: {e}");
                unsent.queue.clear();
                conn.handle_eof();
            }
            conn.handle_timeout_at(std::time::Instant::now());
        } else if shutdown {
            shutdown = false;
            let _ = stream.shutdown().await;
        } else {
            // Read straight into the connection's input buffer: the read is
            // the only copy a received byte makes. Dropping it unused (the
            // timer fired first) is fine.
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
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
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
    async fn write_until(&mut self, stream: &mut TcpStream, until: Option<Instant>) -> std::io::Result<()> {
        while !self.queue.is_empty() {
            let give_up = self.since + self.stall;
            let end = until.map_or(give_up, |until| until.min(give_up));
            let mut slices = [IoSlice::new(&[]); 64];
            for (slice, bytes) in slices.iter_mut().zip(&self.queue) {
                *slice = IoSlice::new(bytes);
            }
            let write = stream.write_vectored(&slices[..self.queue.len().min(64)]);
            // A write not done by `end` is dropped unfinished, which is fine:
            // it wrote nothing.
            let Ok(written) = tokio::time::timeout_at(end, write).await else { break };
            let mut n = written?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
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
        Ok(())
    }
}
