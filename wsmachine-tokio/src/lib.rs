//! WebSockets on tokio, with the [`wsmachine`] sans-IO engine underneath.
//!
//! A client is [`connect`] and a [`WebSocket`] that is a
//! [`Stream`](futures_core::Stream) of messages and a
//! [`Sink`](futures_sink::Sink) of messages, with plain `send`, `recv`,
//! `ping` and `close` methods too:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wsmachine_tokio::Error> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("ws://{}/", listener.local_addr()?);
//! # tokio::spawn(async move {
//! #     let (tcp, _) = listener.accept().await.unwrap();
//! #     let mut ws = wsmachine_tokio::accept(tcp).await.unwrap();
//! #     while let Some(Ok(message)) = ws.recv().await {
//! #         let _ = ws.send(message).await;
//! #     }
//! # });
//! use wsmachine_tokio::{CloseCode, Message};
//!
//! let (mut ws, _negotiated) = wsmachine_tokio::connect(&url).await?;
//! ws.send("hello").await?;
//! let echo = ws.recv().await.expect("a message")?;
//! assert_eq!(echo, Message::text("hello"));
//! let closed = ws.close(CloseCode::NORMAL, "done").await?;
//! assert!(closed.was_clean);
//! # Ok(())
//! # }
//! ```
//!
//! A server is [`accept`] (or [`accept_with`], whose callback sees the
//! request and picks a subprotocol, adds headers or rejects it) on each
//! accepted stream. Here one task pushes updates while another answers what
//! the client says, on the same connection:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wsmachine_tokio::Error> {
//! use wsmachine_tokio::handshake::Accept;
//! use wsmachine_tokio::{Config, Reject};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("ws://{}/chat", listener.local_addr()?);
//! # let client = tokio::spawn(async move {
//! #     let request = wsmachine_tokio::handshake::ClientRequest::new(&url).unwrap().protocol("chat");
//! #     let (mut ws, negotiated) = wsmachine_tokio::connect_with(request, Default::default()).await.unwrap();
//! #     assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
//! #     ws.send("hi").await.unwrap();
//! #     ws.send("bye").await.unwrap();
//! #     let mut got = Vec::new();
//! #     while let Some(message) = ws.recv().await {
//! #         got.push(String::from_utf8(message.unwrap().as_bytes().to_vec()).unwrap());
//! #     }
//! #     let updates: Vec<&String> = got.iter().filter(|m| m.starts_with("update")).collect();
//! #     assert_eq!(updates, ["update 0", "update 1", "update 2"]);
//! #     let replies: Vec<&String> = got.iter().filter(|m| m.starts_with("you said")).collect();
//! #     assert_eq!(replies, ["you said: hi", "you said: bye"]);
//! #     assert_eq!(ws.closed().await.reason, "see you");
//! # });
//! let (tcp, _) = listener.accept().await?;
//! tcp.set_nodelay(true)?;
//! let ws = wsmachine_tokio::accept_with(tcp, Config::default(), |request| {
//!     if request.path() != "/chat" {
//!         return Err(Reject::new(404));
//!     }
//!     Ok(Accept::new().protocol("chat"))
//! })
//! .await?;
//! let (mut reader, writer) = ws.split();
//!
//! let pusher = writer.clone();
//! let updates = tokio::spawn(async move {
//!     for i in 0..3 {
//!         pusher.send(format!("update {i}")).await?;
//!     }
//!     Ok::<_, wsmachine_tokio::Error>(())
//! });
//!
//! while let Some(message) = reader.recv().await {
//!     let text = String::from_utf8_lossy(message?.as_bytes()).into_owned();
//!     writer.send(format!("you said: {text}")).await?;
//!     if text == "bye" {
//!         break;
//!     }
//! }
//! updates.await.expect("the updates task")?;
//! let closed = writer.close(1000, "see you").await?;
//! assert!(closed.was_clean);
//! # client.await.unwrap();
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//!
//! Each connection has a task of its own, spawned when it opens (the shape
//! of quinn's connection driver), and the [`wsmachine::Connection`] and the
//! transport live in a small state that this task and the handles the
//! application holds — [`WebSocket`], or its [`Reader`] and [`Writer`]
//! halves — share behind one mutex, never held across an `.await`. The
//! task that reads or writes takes the transport out of the state and puts
//! it back before its poll returns. The connection's task does its I/O
//! without the lock; an application task keeps it across its own
//! non-blocking read or write (as a `BiLock`ed split stream does), which
//! halves the lock round trips of a request and its reply.
//!
//! **The application's tasks do their own I/O when they can**, so that a
//! request and its reply cost no hop through another task:
//!
//! - `recv` with no message waiting writes what is queued, reads, and looks
//!   at the input up to the next message itself. When the transport has
//!   nothing, the reader stays *engaged*: its own waker is registered with
//!   the transport, whose readiness wakes the reader's task directly, not
//!   the connection's.
//! - `send` of a reply (the first message sent after `recv` handed out one
//!   that ended what it read) writes it at once from the sending task.
//!   Other sends only queue, so that a burst goes out in one write.
//! - `flush` (and a `Sink`'s `poll_flush`) writes from the caller.
//!
//! The connection's task does the rest, which is why there is one:
//!
//! - **Time runs on its own.** The handshake, close and keepalive deadlines
//!   of [`Config`] fire, and Pings are answered, while the application is
//!   busy elsewhere and awaits nothing on the socket: the task reads
//!   whenever the reader is not engaged. A `recv` future dropped while it
//!   waits (a `select!` branch that lost) hands the reading back at once;
//!   one that is kept but not polled does not keep Pings waiting long
//!   either: the task watches an engaged reader, and reads instead of it
//!   (until it reads for itself again) once it has not been polled for
//!   a tick of a second, that is after one to two seconds (a `Stream`'s
//!   `next()` is only watched).
//! - **Writes that do not go at once**: what does not fit in the transport,
//!   sends that are no reply, a `close()` from any task (written behind
//!   what was queued before it).
//! - **Order.** Every command goes straight into the one
//!   [`Connection`](wsmachine::Connection), whose output queue is the order
//!   of the wire, whichever task writes it: an automatic Pong goes out
//!   behind the messages already sent, never ahead of them, and nothing
//!   follows the Close.
//! - **No channel between the application and the protocol**, so no second
//!   queue to bound: `send` queues into the connection under the lock, and
//!   it is done. That is also what makes it cancel-safe (below).
//!
//! The price is one task and one `Arc` per connection, a lock taken a few
//! times per message, and a read buffer of at least 16 KiB kept lent for
//! the next read, even while the connection is idle.
//!
//! **Backpressure.** The connection's output is taken as soon as someone
//! can write it, so the backlog that matters is what has not yet been
//! written to the transport: [`WebSocket::backlog`]. [`Config::send_high_water`] bounds
//! it: `send`, `ping` and [`Sink::poll_ready`](futures_sink::Sink::poll_ready)
//! wait while the backlog is over the mark, until it is back at
//! [`Config::send_low_water`]; `None` turns it off. (A message larger than
//! the mark still goes when nothing is queued; a `Sink` may overshoot by one
//! message.) On the read side, the task reads only while less than
//! [`MAX_UNREAD`] bytes of messages wait for the application (the reader
//! reads only when none does). It goes on
//! reading while its own writes are stuck (two congested ends must not wait
//! on each other), but a peer that sends Pings while reading nothing gets
//! at most 64 KiB of Pongs queued past the mark before reading stops. A
//! peer that stops reading thus makes `send` wait, costs at most the mark,
//! and is dropped by the keepalive deadline (no input after a Ping) or, once
//! someone closes, by the close deadline. An application that stops reading
//! for longer than the keepalive allows (interval plus time-out) likewise
//! loses the connection: its peer's Pongs wait unread behind the messages.
//!
//! **A reply goes out before what follows.** Once a message is handed to
//! the application, the input behind it waits until the application asks
//! for the next one (`recv` again), so that a reply sent in between goes
//! out ahead of whatever that input makes the connection send: the Close
//! of a protocol error behind the message, or the answer to the peer's
//! Close — as with the core's own drive loop, which takes input one frame
//! at a time. `recv` then looks at that input itself, with no round trip
//! through the task. The wait ends at once when the connection is closing,
//! the [`Reader`] is dropped or someone awaits [`WebSocket::closed`], and
//! after a second in any case: an application busy elsewhere still gets
//! Pings answered, and the task reads ahead as above until it is back.
//!
//! **Writes are coalesced**: everything queued goes out in one vectored
//! write where the transport supports it (TCP and rustls do), else gathered
//! into one buffer of up to 64 KiB; small frames are already joined by the
//! connection. **Reads are zero-copy**: whoever reads, reads into
//! [`Connection::read_buffer`](wsmachine::Connection::read_buffer) and hands
//! it back with `handle_bytes_owned`, so a received message is a slice of
//! the read.
//!
//! **Cancellation.** `recv` takes a message only when it returns it, and
//! `send` queues its message only when it returns `Ok`: dropping either
//! future (a `select!` branch, `tokio::time::timeout`) loses nothing that
//! was accepted, and an unaccepted message is dropped with its future.
//! Dropping every handle closes the connection with 1001 (Going Away); the
//! task completes the closing handshake by itself.
//!
//! # TLS
//!
//! With feature `rustls`, `wss://` URLs connect through tokio-rustls
//! ([`connect_with_tls`] takes your own `ClientConfig`), and a server runs
//! TLS by accepting on a `tokio_rustls::server::TlsStream` (see
//! [`server_config`]). Roots: feature `webpki-roots` (Mozilla's, compiled
//! in) or `native-roots` (the system's).
//!
//! The crypto provider is *ring*: it builds with a C compiler alone and
//! about two and a half times faster than aws-lc-rs, rustls' default.
//! Clean builds of tokio-rustls and its tree on this project's 2-core
//! machine (shared with other builds at the time, so the CPU seconds are the
//! steadier figure):
//!
//! | provider | debug: CPU / wall | release: CPU / wall |
//! |---|---:|---:|
//! | ring | 12 s / 35 s | 29 s / 111 s |
//! | aws-lc-rs | 31 s / 138 s | 66 s / 275 s |
//!
//! (aws-lc-sys built here without cmake, through its C-compiler path; on
//! other targets it may want cmake, NASM or clang.) What ring lacks is
//! post-quantum key exchange (X25519MLKEM768), which is why rustls 0.23.48
//! deprecates `rustls::crypto::ring::default_provider`. A program that wants
//! it enables tokio-rustls' `aws_lc_rs` feature itself and hands its own
//! `ClientConfig` to [`connect_with_tls`] (and builds its own
//! `ServerConfig`).
//!
//! # hyper and axum
//!
//! With feature `hyper`, a server on hyper 1.x (or axum 0.8, which runs on
//! it) upgrades the requests its router hands it: [`upgrade()`] checks the
//! request, chooses the subprotocol and answers permessage-deflate as
//! [`accept`] does ([`Accept::negotiate`](wsmachine::handshake::Accept::negotiate)
//! in the core), and returns the 101 response for the service to return
//! with an [`UpgradeFut`] to spawn, which becomes the [`WebSocket`] once
//! hyper has switched the connection over. [`upgrade_with`] lets a callback
//! choose the subprotocol or add headers; [`error_response`] answers a
//! refused request with the status its error deserves. In an axum handler,
//! take the whole `axum::extract::Request` and pass it the same way
//! (`examples/axum_server.rs`).
//!
//! ```no_run
//! # #[cfg(feature = "hyper")]
//! # mod hyper_example {
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http_body_util::Empty;
//! use hyper::server::conn::http1;
//! use hyper::service::service_fn;
//! use hyper_util::rt::TokioIo;
//! use wsmachine_tokio::Config;
//!
//! async fn serve(mut request: hyper::Request<hyper::body::Incoming>) -> Result<hyper::Response<Empty<Bytes>>, Infallible> {
//!     if !wsmachine_tokio::is_upgrade_request(&request) {
//!         let mut response = hyper::Response::new(Empty::new());
//!         *response.status_mut() = hyper::StatusCode::NOT_FOUND;
//!         return Ok(response);
//!     }
//!     let config = Config::default().with_protocol("chat");
//!     match wsmachine_tokio::upgrade(&mut request, config) {
//!         Ok((response, websocket)) => {
//!             tokio::spawn(async move {
//!                 let Ok(mut ws) = websocket.await else { return };
//!                 while let Some(Ok(message)) = ws.recv().await {
//!                     if ws.send(message).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             });
//!             Ok(response)
//!         }
//!         Err(error) => Ok(wsmachine_tokio::error_response(&error)),
//!     }
//! }
//!
//! pub async fn run() -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     loop {
//!         let (tcp, _) = listener.accept().await?;
//!         tcp.set_nodelay(true)?;
//!         tokio::spawn(async move {
//!             let connection = http1::Builder::new().serve_connection(TokioIo::new(tcp), service_fn(serve));
//!             let _ = connection.with_upgrades().await;
//!         });
//!     }
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! # HTTP/2 (RFC 8441)
//!
//! With feature `http2`, WebSockets run over HTTP/2 too, each on one stream
//! of a connection that carries other WebSockets and ordinary requests
//! alongside (RFC 8441, "Bootstrapping WebSockets with HTTP/2"): the client
//! opens a stream with an *extended CONNECT* (`:method CONNECT`,
//! `:protocol websocket`, the path, `sec-websocket-version: 13`, the
//! subprotocols and extensions as in HTTP/1.1) and the server answers 200
//! instead of 101; the stream then carries the frames. A client may send
//! one only to a server whose `SETTINGS` announced
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`. Chromium uses it, with no flag,
//! for a `wss://` WebSocket when it already has an HTTP/2 connection to
//! that origin whose server enabled it (Chromium 156, checked by the
//! repository's `.ci/browser_h2.sh`); otherwise it opens an HTTP/1.1
//! connection and upgrades, so a server should take both.
//!
//! To turn it on in a hyper server, enable the `http2` feature, serve
//! HTTP/2 with `enable_connect_protocol()` on hyper's HTTP/2 builder (with
//! hyper-util's `auto::Builder`: `.http2().enable_connect_protocol()`;
//! over TLS, offer ALPN `h2`), and hand extended CONNECTs
//! ([`http2::is_connect_request`]) to [`http2::accept`], as upgrades go to
//! [`upgrade()`] (`examples/h2_server.rs` does both on one port). A client
//! opens an [`http2::Http2Connection`] and as many WebSockets on it as it
//! likes:
//!
//! ```no_run
//! # #[cfg(feature = "http2")]
//! # async fn run() -> Result<(), wsmachine_tokio::Error> {
//! use wsmachine_tokio::http2::Http2Connection;
//! use wsmachine_tokio::handshake::ClientRequest;
//! use wsmachine_tokio::Config;
//!
//! let h2 = Http2Connection::connect("ws://127.0.0.1:8080/").await?;
//! let (chat, _) = h2.websocket(ClientRequest::new("ws://127.0.0.1:8080/chat")?, Config::default()).await?;
//! let (feed, _) = h2.websocket(ClientRequest::new("ws://127.0.0.1:8080/feed")?, Config::default()).await?;
//! chat.send("hello").await?;
//! # drop(feed);
//! # Ok(())
//! # }
//! # fn main() {}
//! ```
//!
//! # Features
//!
//! - `rustls`: TLS through tokio-rustls on ring.
//! - `webpki-roots`, `native-roots`: the roots `connect` trusts.
//! - `deflate`: permessage-deflate (the core's `deflate` feature).
//! - `hyper`: [`upgrade()`] for servers on hyper 1.x and axum (the core's
//!   `http` feature).
//! - `http2`: WebSockets over HTTP/2 (RFC 8441), server and client, on
//!   hyper's HTTP/2 ([`http2`]; implies `hyper`).
//! - `unchecked-utf8`: `Text::as_str` without a UTF-8 check per call (the
//!   core's feature of that name; this crate has no `unsafe`).
//! - `simd-mask`: masking and unmasking with AVX-512 or AVX2 where the CPU
//!   has them (the core's feature of that name; x86-64, Rust 1.89): 1 MiB
//!   messages read about 12 % faster.
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

mod driver;
mod error;
#[cfg(feature = "http2")]
pub mod http2;
mod opening;
mod shared;
mod tls;
#[cfg(feature = "hyper")]
mod upgrade;
mod websocket;

pub use error::Error;
pub use opening::{Reject, accept, accept_with, client, connect, connect_with, from_upgraded, is_upgrade};
pub use shared::MAX_UNREAD;
pub use tls::MaybeTlsStream;
#[cfg(feature = "rustls")]
pub use tls::{client_config, connect_with_tls, crypto_provider, server_config};
#[cfg(feature = "hyper")]
pub use upgrade::{UpgradeFut, error_response, is_upgrade_request, upgrade, upgrade_with};
pub use websocket::{Reader, WebSocket, Writer};
#[cfg(feature = "rustls")]
pub use {rustls_pki_types as pki_types, tokio_rustls, tokio_rustls::rustls};

pub use wsmachine::{self, CloseCode, Closed, Config, Message, Negotiated, Role, Text};

/// The opening handshake's types, from [`wsmachine::handshake`]:
/// [`Accept`](handshake::Accept), [`Request`](handshake::Request),
/// [`ClientRequest`](handshake::ClientRequest), and its errors: the peer's
/// ([`HandshakeError`](handshake::HandshakeError)) and the application's
/// ([`UsageError`](handshake::UsageError)).
pub mod handshake {
    pub use wsmachine::handshake::{Accept, ClientRequest, ExtensionOffer, HandshakeError, Request, UsageError};
}

/// The time as the connection counts it: tokio's clock (so that tests with
/// a paused clock see deadlines move with it).
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
