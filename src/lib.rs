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
//! After any input or command, drain `poll_output()` until it returns `None`,
//! doing each [`Output`] in order: write each [`Output::Transmit`], hand each
//! [`Output::Event`] to the application, close the socket at
//! [`Output::CloseTransport`] (after writing everything before it). Then wait
//! for the socket. The application may call commands while handling an event;
//! their output joins the queue behind what is already there.
//!
//! Input is processed lazily, a frame at a time, as `poll_output` is called:
//! each event comes out before the input behind it is looked at, so an
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
//!  CONNECTING ──Event::Open──▶ OPEN ──close() / peer's Close──▶ CLOSING ──Event::Closed──▶ CLOSED
//!      │                                                                                ▲
//!      └──── handshake failed / close() / EOF / protocol error ─────────────────────────┘
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
//! - `getrandom` (default): [`OsEntropy`], the OS random generator.
//! - `http`: conversions between [`handshake`] types and the `http` crate's
//!   `Request`/`Response`, for hyper and axum users.
//! - `deflate`: permessage-deflate (RFC 7692), set with `Config::deflate`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

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
mod state;
#[cfg(test)]
mod testing;
mod time;
mod utf8;

pub use bytes::{Bytes, BytesMut};
pub use close::{CloseCode, MAX_REASON_LEN};
pub use config::{Config, Role};
pub use connection::{Connection, QUEUE_SLOT};
#[cfg(feature = "deflate")]
pub use deflate::DeflateConfig;
pub use entropy::Entropy;
#[cfg(feature = "getrandom")]
pub use entropy::OsEntropy;
pub use error::{BrowserCloseError, CloseError, ConnectionError, HandshakeError, ProtocolError, SendError, UsageError};
pub use event::{CloseFrame, Closed, Event, Message, MessageKind, Negotiated, Output, Text};
pub use state::ReadyState;
pub use time::Timestamp;

/// Internals exposed for the fuzz targets only (`--cfg fuzzing`); not a
/// stable API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use crate::config::Role;
    use crate::frame::{MAX_HEADER_LEN, Rules, decode_header, encode_header, header_len};

    /// Decodes a frame header from `data` in both roles and checks the
    /// codec's invariants: a decoded header re-encodes to the same bytes
    /// (lengths are minimal), and every prefix of a valid header asks for
    /// more bytes rather than failing differently.
    pub fn frame_decode(data: &[u8]) {
        for receiver in [Role::Server, Role::Client] {
            let rules = Rules { receiver, rsv_allowed: 0b100, max_frame_size: 1 << 20 };
            if let Ok(Some((h, n))) = decode_header(data, &rules) {
                let len = usize::try_from(h.len).expect("checked against max_frame_size");
                assert_eq!(n, header_len(len, h.mask.is_some()));
                let mut buf = [0u8; MAX_HEADER_LEN];
                let m = encode_header(&mut buf, h.fin, h.rsv, h.opcode, h.mask, len);
                assert_eq!(&buf[..m], &data[..n], "re-encoding differs");
                for cut in 0..n {
                    assert_eq!(decode_header(&data[..cut], &rules), Ok(None), "prefix {cut}");
                }
            }
        }
    }

    /// Inflates fuzzed permessage-deflate messages two ways — whole frames
    /// (`decompress`) and in bounded chunks (`decompress_into`) — and checks
    /// they agree, never exceed the message limit, and never panic.
    ///
    /// Byte 0: flags (bit 0 role, bit 1 the peer's no_context_takeover,
    /// bit 2 release_idle); byte 1 picks the limit, byte 2 the chunk size;
    /// then messages of frames, each a length byte (top bit: the final
    /// frame) and that many payload bytes.
    #[cfg(feature = "deflate")]
    pub fn deflate_inflate(data: &[u8]) {
        use crate::deflate::{Deflate, Params};
        use bytes::BytesMut;
        let [flags, limit, chunk, rest @ ..] = data else { return };
        let max = [0usize, 1, 255, 4096, 65536, 1 << 20][usize::from(*limit) % 6];
        let out_limit = [1usize, 2, 7, 64, 4096][usize::from(*chunk) % 5];
        let takeover_off = flags & 2 != 0;
        let params = Params {
            server_no_context_takeover: takeover_off,
            client_no_context_takeover: takeover_off,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let cfg = crate::DeflateConfig::default().with_release_idle(flags & 4 != 0);
        let client = flags & 1 != 0;
        let (mut whole, mut chunked) = (Deflate::new(client, &params, &cfg), Deflate::new(client, &params, &cfg));
        let mut rest = rest;
        while let [len, tail @ ..] = rest {
            let fin = len & 0x80 != 0;
            let n = usize::from(len & 0x7f).min(tail.len());
            let (payload, after) = tail.split_at(n);
            rest = after;
            let mut a = BytesMut::new();
            let ra = whole.decompress(payload, fin, &mut a, max);
            let mut b = BytesMut::new();
            let mut input = payload;
            let rb = loop {
                let before = b.len();
                match chunked.decompress_into(input, fin, &mut b, out_limit, max) {
                    Ok(step) => {
                        assert!(b.len() - before <= out_limit, "chunk over its limit");
                        input = &input[step.consumed..];
                        if step.finished {
                            break Ok(());
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            assert!(a.len() <= max && b.len() <= max, "inflated past the limit");
            assert_eq!(ra.is_ok(), rb.is_ok(), "the two forms disagree: {ra:?} {rb:?}");
            if ra.is_err() {
                return;
            }
            assert_eq!(a, b, "the two forms inflate differently");
        }
    }

    /// Applies the mask at `offset` in one go and split at `split`, and
    /// checks both agree, that masking while copying (whole and split)
    /// agrees, and that masking twice restores the input.
    pub fn mask_split(data: &[u8], key: [u8; 4], offset: usize, split: usize) {
        let mut whole = data.to_vec();
        crate::mask::apply_mask(&mut whole, key, offset);
        let mut parts = data.to_vec();
        let split = split.min(parts.len());
        let (a, b) = parts.split_at_mut(split);
        crate::mask::apply_mask(a, key, offset);
        crate::mask::apply_mask(b, key, offset + split);
        assert_eq!(whole, parts);
        // Masking while copying (the client's send path and fragment
        // assembly), whole and in two pieces at their offsets.
        let mut copied = bytes::BytesMut::new();
        crate::mask::extend_masked_at(&mut copied, data, key, offset);
        assert_eq!(&copied[..], &whole[..]);
        let mut copied = bytes::BytesMut::new();
        crate::mask::extend_masked_at(&mut copied, &data[..split], key, offset);
        crate::mask::extend_masked_at(&mut copied, &data[split..], key, offset + split);
        assert_eq!(&copied[..], &whole[..]);
        crate::mask::apply_mask(&mut whole, key, offset);
        assert_eq!(whole, data);
    }

    /// What [`parse_request`] found in the bytes received so far.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum RequestHead {
        /// More bytes are needed.
        Partial,
        /// A valid upgrade request and the length of its head.
        Complete(crate::handshake::Request, usize),
        /// A plain HTTP request (not an upgrade) and the length of its head.
        NotUpgrade(alloc::boxed::Box<crate::handshake::Request>, usize),
    }

    /// The server's incremental head parser (RFC 6455 §4.2.1), with these
    /// limits: what the connection decides having received `buf` (in any
    /// pieces), and, with `eof`, at the end of the input.
    pub fn parse_request(
        buf: &[u8],
        eof: bool,
        max_head_size: usize,
        max_headers: usize,
    ) -> Result<RequestHead, crate::HandshakeError> {
        parse_request_stepwise(buf, eof, usize::MAX, max_head_size, max_headers)
    }

    /// [`parse_request`] fed as a connection is, in reads of `step` bytes
    /// (at least 1) until it decides, then EOF if `eof`: it must decide
    /// the same.
    pub fn parse_request_stepwise(
        buf: &[u8],
        eof: bool,
        step: usize,
        max_head_size: usize,
        max_headers: usize,
    ) -> Result<RequestHead, crate::HandshakeError> {
        use crate::handshake::RequestParse;
        let limits = crate::handshake::Limits { max_head_size, max_headers };
        let mut reader = crate::handshake::RequestReader::default();
        let mut result = Ok(RequestParse::Partial);
        let mut end = 0;
        while end < buf.len() && result == Ok(RequestParse::Partial) {
            end = end.saturating_add(step.max(1)).min(buf.len());
            result = reader.poll(&buf[..end], false, limits);
        }
        if eof && result == Ok(RequestParse::Partial) {
            result = reader.poll(buf, true, limits);
        }
        Ok(match result? {
            RequestParse::Partial => RequestHead::Partial,
            RequestParse::Complete(r, n) => RequestHead::Complete(r, n),
            RequestParse::NotUpgrade(r, n) => RequestHead::NotUpgrade(r, n),
        })
    }

    /// What [`parse_response`] found in the bytes received so far.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum ResponseHead {
        /// More bytes are needed.
        Partial,
        /// A valid 101 and the length of its head (and of any interim 1xx
        /// heads before it).
        Accepted(crate::handshake::Accepted, usize),
        /// A complete non-101 response and the length of head and body.
        Rejected(crate::handshake::Rejection, usize),
    }

    /// The client's incremental response parser (RFC 6455 §4.1) for the
    /// request `req` sent with `key`: what the connection decides having
    /// received `buf` (in any pieces), and, with `eof`, at the end of the
    /// input.
    pub fn parse_response(
        buf: &[u8],
        eof: bool,
        req: &crate::handshake::ClientRequest,
        key: &str,
        max_head_size: usize,
        max_headers: usize,
    ) -> Result<ResponseHead, crate::HandshakeError> {
        parse_response_stepwise(buf, eof, usize::MAX, req, key, max_head_size, max_headers)
    }

    /// [`parse_response`] fed as a connection is, in reads of `step` bytes
    /// (at least 1) until it decides, then EOF if `eof`: it must decide
    /// the same.
    pub fn parse_response_stepwise(
        buf: &[u8],
        eof: bool,
        step: usize,
        req: &crate::handshake::ClientRequest,
        key: &str,
        max_head_size: usize,
        max_headers: usize,
    ) -> Result<ResponseHead, crate::HandshakeError> {
        use crate::handshake::ResponseParse;
        let limits = crate::handshake::Limits { max_head_size, max_headers };
        let mut reader = crate::handshake::ResponseReader::default();
        let mut result = Ok(ResponseParse::Partial);
        let mut end = 0;
        while end < buf.len() && result == Ok(ResponseParse::Partial) {
            end = end.saturating_add(step.max(1)).min(buf.len());
            result = reader.poll(&buf[..end], false, req, key, limits);
        }
        if eof && result == Ok(ResponseParse::Partial) {
            result = reader.poll(buf, true, req, key, limits);
        }
        Ok(match result? {
            ResponseParse::Partial => ResponseHead::Partial,
            ResponseParse::Accepted(a, n) => ResponseHead::Accepted(a, n),
            ResponseParse::Rejected(r, n) => ResponseHead::Rejected(r, n),
        })
    }
}
