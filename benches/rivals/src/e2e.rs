//! End to end: a client and an echo server over loopback TCP, in one
//! process, with the async crates as their users drive them.
//!
//! | workload | what |
//! | --- | --- |
//! | `rt64`  | 64 B binary messages, one at a time: send, wait for the echo, send the next |
//! | `pipe64` | 64 B binary messages, 100 in flight: 100 sent, then one more each time an echo arrives |
//! | `rt1m`  | 1 MiB binary messages, one at a time |
//!
//! Each implementation is driven as its own documentation shows:
//!
//! - **wsmachine-tokio**: the client is `connect(url)`, the server
//!   `accept(tcp)`; both use `send`/`recv` (the crate docs' examples and
//!   `examples/echo_server.rs`: `while let Some(message) = ws.recv().await {
//!   ws.send(message?).await }`).
//! - **tokio-tungstenite**: the client is `connect_async_with_config(url,
//!   None, true)` (`connect_async` with its documented switch for
//!   `TCP_NODELAY`), the server `accept_async(tcp)` running its
//!   `examples/echo-server.rs`: `split()`, then `read.try_filter(text or
//!   binary).forward(write)`. The client uses `SinkExt::send` and
//!   `StreamExt::next`.
//! - **tokio-websockets**: the client is `ClientBuilder::uri(url).connect_on(tcp)`
//!   (its `connect()` does not set `TCP_NODELAY`; `connect_on` is its
//!   documented way to bring a stream of one's own), the server
//!   `ServerBuilder::new().accept(tcp)` running its README's echo loop
//!   (`while let Some(Ok(msg)) = ws.next().await { if text or binary {
//!   ws.send(msg).await } }`). The client uses `SinkExt::send` and
//!   `StreamExt::next`.
//!
//! Every TCP stream has `TCP_NODELAY`, every configuration is the default
//! (no compression; the 1 MiB messages are within every default limit). The
//! client's loop is the same for all: send `window` messages, then for
//! each echo received send the next until `count` are sent, and receive the
//! rest. Before timing, each implementation echoes numbered messages that
//! are checked byte for byte and in order; every timed run asserts the
//! message count and byte total.
//!
//! The runtime ([`runtime`]) is the same for all: a current-thread tokio
//! runtime, unless `E2E_RUNTIME=multi` asks for a multi-thread one with two
//! workers (see the bench's doc comment for why current-thread is the
//! default).

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, TryStreamExt, future};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One end-to-end workload.
#[derive(Clone, Copy, Debug)]
pub struct E2eWorkload {
    /// `rt64`, `pipe64`, `rt1m`.
    pub name: &'static str,
    /// What it is, for tables.
    pub desc: &'static str,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages echoed per timed run.
    pub count: usize,
    /// Messages in flight at most.
    pub window: usize,
}

impl E2eWorkload {
    /// The three workloads, in table order.
    pub const ALL: [Self; 3] = [
        Self { name: "rt64", desc: "64 B messages, one at a time", size: 64, count: 2_000, window: 1 },
        Self { name: "pipe64", desc: "64 B messages, 100 in flight", size: 64, count: 20_000, window: 100 },
        Self { name: "rt1m", desc: "1 MiB messages, one at a time", size: 1 << 20, count: 32, window: 1 },
    ];

    /// The workload called `name`.
    pub fn by_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name == name)
    }

    /// Payload bytes echoed per run.
    pub fn payload_bytes(&self) -> u64 {
        (self.size * self.count) as u64
    }

    /// The message every timed run sends (`count` times, as clones).
    pub fn payload(&self) -> Bytes {
        Bytes::from((0..self.size).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>())
    }

    /// Distinct messages for the check before timing: each starts with its
    /// number.
    pub fn numbered(&self, n: usize) -> Vec<Bytes> {
        (0..n)
            .map(|k| {
                let mut b = Vec::with_capacity(self.size);
                b.extend_from_slice(&(k as u64).to_be_bytes());
                b.extend((8..self.size).map(|i| (i * 13 + k) as u8));
                Bytes::from(b)
            })
            .collect()
    }
}

/// The implementations, in table order (wsmachine-tokio first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// wsmachine-tokio: `connect`/`accept`, `send`/`recv`.
    Wsmachine,
    /// tokio-tungstenite: `connect_async`/`accept_async`, Stream + Sink.
    TokioTungstenite,
    /// tokio-websockets: `ClientBuilder`/`ServerBuilder`, Stream + Sink.
    TokioWebsockets,
}

impl Peer {
    /// All of them.
    pub const ALL: [Self; 3] = [Self::Wsmachine, Self::TokioTungstenite, Self::TokioWebsockets];

    /// The crate's name, used as the benchmark id.
    pub fn id(self) -> &'static str {
        match self {
            Self::Wsmachine => "wsmachine-tokio",
            Self::TokioTungstenite => "tokio-tungstenite",
            Self::TokioWebsockets => "tokio-websockets",
        }
    }

    /// Not ours.
    pub fn is_rival(self) -> bool {
        self != Self::Wsmachine
    }
}

/// The runtime every implementation runs on: current-thread, or with
/// `E2E_RUNTIME=multi` a multi-thread runtime with two workers.
pub fn runtime() -> tokio::runtime::Runtime {
    let mut builder = if multi_thread() {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().expect("tokio runtime")
}

/// The CPU time the process has used (every thread, user and system):
/// on a shared machine, where other work takes turns on the cores, a
/// steadier measure than the wall clock. With the current-thread runtime
/// it is the one thread both ends run on.
pub fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// `E2E_RUNTIME=multi`.
pub fn multi_thread() -> bool {
    std::env::var("E2E_RUNTIME").is_ok_and(|v| v == "multi")
}

/// The client end of an open connection, and the task of its server end.
pub struct Pair {
    client: Client,
    server: JoinHandle<()>,
}

enum Client {
    Wsmachine(wsmachine_tokio::WebSocket<wsmachine_tokio::MaybeTlsStream>),
    TokioTungstenite(tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>),
    TokioWebsockets(tokio_websockets::WebSocketStream<TcpStream>),
}

impl Pair {
    /// Listens on a loopback port, spawns the echo server for `peer` and
    /// connects its client. Run inside the runtime.
    pub async fn open(peer: Peer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("ws://{}/", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            tcp.set_nodelay(true).expect("TCP_NODELAY");
            serve(peer, tcp).await;
        });
        let client = match peer {
            Peer::Wsmachine => Client::Wsmachine(wsmachine_tokio::connect(&url).await.expect("connect").0),
            Peer::TokioTungstenite => Client::TokioTungstenite(
                tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await.expect("connect").0,
            ),
            Peer::TokioWebsockets => {
                let tcp =
                    TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/')).await.expect("connect");
                tcp.set_nodelay(true).expect("TCP_NODELAY");
                let builder = tokio_websockets::ClientBuilder::new().uri(&url).expect("uri");
                Client::TokioWebsockets(builder.connect_on(tcp).await.expect("connect").0)
            }
        };
        Self { client, server }
    }

    /// One timed run of `w`: echoes `w.count` clones of `payload`, and
    /// returns the payload bytes received (asserted against the workload).
    pub async fn run(&mut self, w: &E2eWorkload, payload: &Bytes) -> u64 {
        let got = self.exchange(w, std::slice::from_ref(payload), false).await;
        assert_eq!(got, w.payload_bytes(), "{}: payload bytes echoed", w.name);
        got
    }

    /// Echoes `w.window + 50` numbered messages (at least 2) and checks
    /// every echo: bytes, order, count.
    pub async fn verify(&mut self, w: &E2eWorkload) {
        let count = (w.window + 50).max(2);
        let messages = w.numbered(count);
        let check = E2eWorkload { count, ..*w };
        let got = self.exchange(&check, &messages, true).await;
        assert_eq!(got, check.payload_bytes(), "{}: payload bytes echoed", w.name);
    }

    async fn exchange(&mut self, w: &E2eWorkload, payloads: &[Bytes], check: bool) -> u64 {
        match &mut self.client {
            Client::Wsmachine(ws) => exchange(ws, w, payloads, check).await,
            Client::TokioTungstenite(ws) => exchange(ws, w, payloads, check).await,
            Client::TokioWebsockets(ws) => exchange(ws, w, payloads, check).await,
        }
    }

    /// Closes the connection and waits (up to 5 s) for the server's task.
    pub async fn close(self) {
        match self.client {
            Client::Wsmachine(ws) => {
                let closed = ws.close(1000, "").await.expect("close");
                assert!(closed.was_clean, "{closed:?}");
            }
            Client::TokioTungstenite(mut ws) => {
                ws.close(None).await.expect("close");
                while let Some(Ok(_)) = ws.next().await {}
            }
            Client::TokioWebsockets(mut ws) => {
                ws.close().await.expect("close");
                while let Some(Ok(_)) = ws.next().await {}
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

/// The server end: each crate's documented echo server.
async fn serve(peer: Peer, tcp: TcpStream) {
    match peer {
        Peer::Wsmachine => {
            let mut ws = wsmachine_tokio::accept(tcp).await.expect("accept");
            while let Some(message) = ws.recv().await {
                let Ok(message) = message else { break };
                if ws.send(message).await.is_err() {
                    break;
                }
            }
        }
        Peer::TokioTungstenite => {
            let ws = tokio_tungstenite::accept_async(tcp).await.expect("accept");
            let (write, read) = ws.split();
            let _ = read.try_filter(|msg| future::ready(msg.is_text() || msg.is_binary())).forward(write).await;
        }
        Peer::TokioWebsockets => {
            let (_request, mut ws) = tokio_websockets::ServerBuilder::new().accept(tcp).await.expect("accept");
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// A client as the bench's loop uses it: send one message, receive one.
trait EchoClient {
    async fn send_one(&mut self, payload: Bytes);
    async fn recv_one(&mut self) -> Bytes;
}

impl EchoClient for wsmachine_tokio::WebSocket<wsmachine_tokio::MaybeTlsStream> {
    async fn send_one(&mut self, payload: Bytes) {
        // The inherent `send` (queue, don't wait for the write), which the
        // crate docs use; on a `&mut WebSocket`, `self.send` would pick
        // `SinkExt::send` (imported here for the rivals), which flushes.
        wsmachine_tokio::WebSocket::send(self, wsmachine_tokio::Message::binary(payload)).await.expect("send");
    }

    async fn recv_one(&mut self) -> Bytes {
        self.recv().await.expect("a message").expect("receive").into_bytes()
    }
}

impl EchoClient for tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
    async fn send_one(&mut self, payload: Bytes) {
        self.send(tokio_tungstenite::tungstenite::Message::Binary(payload)).await.expect("send");
    }

    async fn recv_one(&mut self) -> Bytes {
        match self.next().await.expect("a message").expect("receive") {
            tokio_tungstenite::tungstenite::Message::Binary(b) => b,
            other => panic!("unexpected {other:?}"),
        }
    }
}

impl EchoClient for tokio_websockets::WebSocketStream<TcpStream> {
    async fn send_one(&mut self, payload: Bytes) {
        self.send(tokio_websockets::Message::binary(payload)).await.expect("send");
    }

    async fn recv_one(&mut self) -> Bytes {
        let msg = self.next().await.expect("a message").expect("receive");
        assert!(msg.is_binary(), "unexpected {msg:?}");
        msg.into_payload().into()
    }
}

/// The client's loop: `window` messages out, then one more per echo until
/// `count` are out, then the last echoes. Message `i` is
/// `payloads[i % payloads.len()]`; with `check`, each echo must equal it.
async fn exchange<C: EchoClient>(c: &mut C, w: &E2eWorkload, payloads: &[Bytes], check: bool) -> u64 {
    let mut sent = 0;
    while sent < w.window.min(w.count) {
        c.send_one(payloads[sent % payloads.len()].clone()).await;
        sent += 1;
    }
    let mut bytes = 0u64;
    for received in 0..w.count {
        let echo = c.recv_one().await;
        if check {
            assert!(echo == payloads[received % payloads.len()], "{}: echo {received} differs", w.name);
        } else {
            assert_eq!(echo.len(), w.size, "{}: echo {received}", w.name);
        }
        bytes += echo.len() as u64;
        drop(echo);
        if sent < w.count {
            c.send_one(payloads[sent % payloads.len()].clone()).await;
            sent += 1;
        }
    }
    bytes
}
