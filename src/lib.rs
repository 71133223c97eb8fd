//! A sans-IO WebSocket (RFC 6455) protocol engine: bytes and API calls in,
//! bytes and events out. A client and a server over loopback, each driven by
//! the same blocking loop:
//!
//! ```rust
#![doc = include_str!("../examples/loopback.rs")]
//! ```
//!
//! # What it is
//!
//! A [`Connection`] is a pure state machine, client or server. It performs no
//! I/O, reads no clock and draws no randomness of its own: bytes come in
//! through [`handle_bytes`](Connection::handle_bytes), the end of the stream
//! through [`handle_eof`](Connection::handle_eof), the application's wishes
//! through commands ([`send`](Connection::send), [`close`](Connection::close),
//! …), masking keys through an injected [`Entropy`]. Everything it wants done
//! comes out of one ordered queue, [`poll_output`](Connection::poll_output):
//!
//! ```text
//!  socket bytes ──handle_bytes()──▶ ┌────────────┐ ──poll_output()──▶ Transmit(bytes) ─▶ socket
//!  EOF          ──handle_eof()────▶ │ Connection │                  ▶ Event(...)      ─▶ application
//!  application  ──send()/close()──▶ │  (no I/O)  │                  ▶ CloseTransport  ─▶ close socket
//!                                   └────────────┘
//! ```
//!
//! # The drive loop
//!
//! With `std::io` (the example above): take every event with
//! [`poll_event`](Connection::poll_event) until it returns `None`, handing
//! each to the application, which may call commands; then write everything
//! queued with [`write_to`](Connection::write_to), which gathers it into as
//! few (vectored) writes as it takes and reports when the transport is to be
//! closed ([`Flushed::CloseTransport`]); then read with
//! [`read_from`](Connection::read_from) and start again. The answers to
//! every event of one read leave in one write. An application that handles
//! each message where it reads it takes its events with
//! [`poll_event_ref`](Connection::poll_event_ref) instead: the same events,
//! with each message lent ([`EventRef`]) rather than handed out, which
//! reads small messages fastest (no allocation, no reference count).
//!
//! Without `std::io` (async runtimes, `no_std`): after any input or
//! command, drain `poll_output()` until it returns `None`, doing each
//! [`Output`] in order: write each [`Output::Transmit`], hand each
//! [`Output::Event`] to the application, close the socket at
//! [`Output::CloseTransport`] (after writing everything before it). Then
//! wait for the socket. The application may call commands while handling
//! an event; their output joins the queue behind what is already there.
//!
//! Input is processed lazily, a frame at a time, as events are taken: each
//! event comes out before the input behind it is looked at, so an
//! application can answer a message before a Close that arrived in the same
//! read is acted on, as it could with a blocking `read()` API.
//!
//! Reading into [`Connection::read_buffer`] and handing it back with
//! [`Connection::handle_bytes_owned`] makes the read the only copy a received
//! byte makes: the lent buffer follows the unprocessed input, a large frame
//! lands in place, and a message is a slice of it. `handle_bytes(&buf[..n])`
//! is simpler and copies once more.
//!
//! Writes need a bound too. Bytes taken from `poll_output` count as sent,
//! so a driver blocked writing to a peer that stops reading holds them and
//! its thread or task, and fires no deadline, until the peer goes. Write
//! with a timeout no later than [`poll_timeout`](Connection::poll_timeout),
//! read only once everything is written, and when the peer has taken no
//! byte for [`Config::keepalive_timeout`], call
//! [`handle_eof`](Connection::handle_eof) and drop the socket, as
//! `examples/echo_server.rs` does.
//!
//! # States
//!
//! [`ReadyState`] follows the browser's `readyState`:
//!
//! ```text
//!                  Event::Open
//!  CONNECTING ─────────────────────────▶ OPEN
//!      │                                   │ close(), the peer's Close,
//!      │ handshake failed, reject(),       │ a protocol error, EOF,
//!      │ close(), EOF, time-out            │ a time-out
//!      │                                   ▼
//!      └─────────────────────────────▶ CLOSING ──Event::Closed polled──▶ CLOSED
//! ```
//!
//! Inside, one state decides every transition (`ready_state()` is a plain
//! mapping from it):
//!
//! ```text
//!  Connecting(Client | AwaitRequest | AwaitDecision)     CONNECTING
//!        │ 101 sent or received
//!        ▼
//!  Open                                                  OPEN
//!        │ our Close queued (close(), or the echo of the peer's)
//!        ▼
//!  Closing { received: peer's Close or None }            CLOSING
//!        │ both Closes, EOF, failure, time-out (from any state above)
//!        ▼
//!  Ended: CloseTransport and Closed queued               CLOSING, then CLOSED
//!                                                        once Closed is polled
//! ```
//!
//! [`Connection::client`] and [`Connection::server`] start in CONNECTING and
//! run the HTTP/1.1 opening handshake ([`handshake`]);
//! [`Connection::new_open`] starts OPEN, for a handshake done elsewhere (a
//! hyper upgrade, HTTP/2 extended CONNECT per RFC 8441).
//!
//! # Closing
//!
//! The closing handshake is where implementations go wrong; here it follows
//! RFC 6455 §7 and WHATWG's `close()` and `CloseEvent`:
//!
//! - [`Connection::close`] accepts the codes a peer may receive
//!   ([`CloseCode::is_sendable`]: 1000–1003, 1007–1014, 3000–4999) and a
//!   reason of at most 123 UTF-8 bytes; [`Connection::browser_close`] applies
//!   the browser's narrower rule (1000 or 3000–4999, `InvalidAccessError`,
//!   `SyntaxError`). 1005, 1006 and 1015 never go on the wire.
//! - `close()` keeps every message queued before it, queues the Close frame
//!   and nothing after it; in CLOSING or CLOSED it does nothing.
//! - [`Event::Closed`] comes exactly once, last, with the code and reason of
//!   the Close frame received (1005 if it had no code, 1006 if none came) and
//!   `was_clean`.
//!
//! # Errors and panics
//!
//! The peer's mistakes never come back from a method: they fail the
//! connection (§7.1.7) and arrive in [`Closed::error`] (a
//! [`ProtocolError`], a [`HandshakeError`], a time-out). The caller's
//! mistakes come back as `Err` from the command ([`SendError`],
//! [`CloseError`], [`UsageError`]) and nothing is queued. No input, byte split or call
//! sequence panics; a panic would be a bug.
//!
//! # Features
//!
//! - `std` (default): `std::error::Error` for the error types.
//! - `getrandom` (default): [`ChaChaEntropy`], masking keys from a ChaCha12
//!   keystream seeded from the OS, and [`OsEntropy`], the OS generator itself.
//! - `http`: conversions between [`handshake`] types and the `http` crate's
//!   `Request`/`Response`, for hyper and axum users.
//! - `deflate`: permessage-deflate (RFC 7692), set with `Config::deflate`.
//! - `unchecked-utf8`: [`Text::as_str`] trusts the UTF-8 check that every
//!   [`Text`] passed when it was made, instead of checking again on every
//!   call (linear in the text's length). One call of
//!   `str::from_utf8_unchecked`: with `simd-mask`, the crate's only
//!   `unsafe` code; without either feature the crate forbids `unsafe`.
//! - `avx512-utf8`: received text is validated with AVX-512 where the CPU
//!   has it (chosen at run time; AVX2 or SSE 4.2 otherwise, as without the
//!   feature): simdutf8's AVX-512 kernel, merged into simdutf8 but not yet
//!   released, through `ps-simdutf8`, a fork that publishes it. Mixed 1- to
//!   4-byte UTF-8 validates about 1.5 times as fast. Opt-in because it is a
//!   fork rather than simdutf8's own release; its `unsafe` is in that
//!   dependency, none in this crate.
//! - `simd-mask` (x86-64): masking and unmasking with AVX-512 or AVX2 where
//!   the CPU has them (chosen at run time): the bulk of every payload over
//!   128 bytes, unmasked in place or on its way into a message, masked on
//!   its way out. Writing 1 MiB messages as a client about 18 % faster,
//!   reading them 4–12 % (`benches/rivals` W5l, W3). Its `unsafe` is one
//!   module's (target-feature calls, vector loads and stores, a buffer's
//!   length grown over bytes just written), fuzzed against the safe loops
//!   and run under Miri in CI. Needs Rust 1.89.
#![no_std]
#![cfg_attr(not(any(feature = "unchecked-utf8", feature = "simd-mask")), forbid(unsafe_code))]
#![cfg_attr(any(feature = "unchecked-utf8", feature = "simd-mask"), deny(unsafe_code))]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
// Some docs link to what feature `http` adds (`accept_response`,
// `ConnectRequest::from_http`, …): without it those links have nothing to
// point to. Every link is checked by the all-features build of the docs.
#![cfg_attr(not(feature = "http"), allow(rustdoc::broken_intra_doc_links))]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
mod deflate;
mod entropy;
mod error;
mod event;
mod extension;
mod frame;
pub mod handshake;
mod mask;
#[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
// Its AVX-512 intrinsics: the feature needs Rust 1.89 (the crate, 1.85).
#[clippy::msrv = "1.89"]
mod mask_simd;
mod state;
#[cfg(test)]
mod testing;
mod time;
mod utf8;

pub use bytes::{Bytes, BytesMut};
pub use close::{CloseCode, MAX_REASON_LEN};
pub use config::{Config, Role};
#[cfg(feature = "std")]
pub use connection::Flushed;
pub use connection::{Connection, QUEUE_SLOT};
#[cfg(feature = "deflate")]
pub use deflate::DeflateConfig;
pub use entropy::Entropy;
#[cfg(feature = "getrandom")]
pub use entropy::{ChaChaEntropy, OsEntropy};
pub use error::{BrowserCloseError, CloseError, ConnectionError, HandshakeError, ProtocolError, SendError, UsageError};
pub use event::{CloseFrame, Closed, Event, EventRef, Message, MessageKind, Negotiated, Output, Text, TextRef};
pub use state::ReadyState;
pub use time::Timestamp;

/// Internals the fuzz targets drive (`--cfg fuzzing` only; not a stable
/// API): thin entry points, no checks (those live in `fuzz/src`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
