//! The `permessage-deflate` extension (RFC 7692): negotiation (§5, §7.1)
//! and the per-message DEFLATE transformation (§6, §7.2).
//!
//! Three parts, none of which performs I/O or touches frames:
//!
//! * `DeflateConfig`: what this endpoint offers or accepts, and how it
//!   compresses.
//! * Negotiation (`negotiate.rs`): `client_offer` / `client_accept` for a
//!   client, `server_negotiate` for a server, `agreed_params` for a
//!   handshake done elsewhere. All produce the agreed `Params`.
//! * The codec (`codec.rs`): one `Deflate` per connection, built from the
//!   agreed parameters and this endpoint's role. It compresses whole
//!   messages or messages sent in pieces, and inflates received messages
//!   frame by frame with a hard limit on the inflated size.
//!
//! # Framing rules the connection applies (RFC 7692 §6, §6.1)
//!
//! * `RSV1` (the "Per-Message Compressed" bit) is set on the **first**
//!   frame of a compressed message only; continuation frames and control
//!   frames never carry it. A received control frame or continuation frame
//!   with RSV1 set fails the connection (§6.1). A data frame with RSV1
//!   unset starts an uncompressed message, which is delivered as is and does
//!   not touch the codec (its bytes do not enter the LZ77 window,
//!   §7.2.3.2).
//! * Control frames (Ping, Pong, Close) are never compressed (§6: "PMCEs
//!   operate only on data messages") and may arrive between the frames of a
//!   compressed message without disturbing it.
//! * The opcode of a compressed message is the original one (§6.1); UTF-8
//!   validity of a text message is checked on the **inflated** bytes
//!   (§6.1: the compressed payload need not be UTF-8).
//!
//! # Memory (measured with zlib-rs 0.6.8 through flate2 1.1.10)
//!
//! A compressor holds 251–380 KB (window bits 9–15; the 128 KiB hash table
//! and the 112 KiB symbol buffers of zlib's fixed memory level 8 dominate),
//! a decompressor 47.5 KB whatever the window bits (zlib-rs always allocates
//! a 32 KiB window). Both are created on the first compressed message in
//! their direction; a direction without context takeover frees its state at
//! the end of every message when `DeflateConfig::release_idle` is set (the
//! default), so an idle connection holds none.

mod codec;
mod negotiate;
#[cfg(test)]
mod testutil;

use alloc::string::String;

pub(crate) use codec::Deflate;
pub(crate) use negotiate::{Params, agreed_params, client_accept, client_offer, server_negotiate};

/// The registered extension name (RFC 7692 §7, §9.1).
pub(crate) const EXTENSION_NAME: &str = "permessage-deflate";

/// The four octets `00 00 ff ff` (LEN and NLEN of an empty stored block)
/// that are removed from the end of every compressed message (RFC 7692
/// §7.2.1 step 3) and appended again before inflating it (§7.2.2 step 1).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest LZ77 window, `2^15` = 32,768 bytes (RFC 7692 §7.1.2,
/// §7.2.1).
pub(crate) const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window the parameters can name, `2^8` = 256 bytes
/// (RFC 7692 §7.1.2.1).
pub(crate) const MIN_WINDOW_BITS: u8 = 8;

/// Settings for the `permessage-deflate` extension (RFC 7692 §7).
///
/// The same settings serve both roles. As a **client** they shape the single
/// offer sent (§5, §7.1) and what this endpoint requires of the server's
/// answer; as a **server** they shape the answer to the first acceptable
/// offer. Build one from [`DeflateConfig::default`] and the `with_*` setters
/// (which clamp out-of-range values), or assign the public fields.
///
/// The defaults suit a server holding many connections: no context takeover
/// in either direction (§7.1.1) with [`release_idle`](Self::release_idle),
/// so an idle connection holds no compression state, full 32 KiB windows
/// (§7.1.2) since they cost memory only while a message is being
/// (de)compressed, level 6 and a 128-byte threshold. A client that wants the
/// best ratio for streams of small similar messages turns context takeover
/// back on in both directions (it then offers what browsers offer:
/// `permessage-deflate; client_max_window_bits`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// The server starts every message it sends with an empty LZ77 window
    /// (RFC 7692 §7.1.1.1). A client asks for it in its offer and fails the
    /// connection if the server does not agree; a server always answers with
    /// it (and agrees to it whenever a client asks). Default: true.
    pub server_no_context_takeover: bool,
    /// The client starts every message it sends with an empty LZ77 window
    /// (RFC 7692 §7.1.1.2). A client sends it as a hint in its offer and
    /// never takes over its window; a server answers with it, which binds
    /// the client. Default: true.
    pub client_no_context_takeover: bool,
    /// The largest LZ77 window, as a base-2 logarithm in 8..=15, that the
    /// server uses to compress (RFC 7692 §7.1.2.1). A client below 15 asks
    /// for it (`server_max_window_bits=N`) and rejects a larger answer; a
    /// server compresses with at most this and says so when below 15. 8 is
    /// honoured with zlib's 9-bit compressor, whose matches never reach back
    /// more than 250 bytes. Default: 15.
    pub server_max_window_bits: u8,
    /// The largest LZ77 window, as a base-2 logarithm in 8..=15, that the
    /// client uses to compress (RFC 7692 §7.1.2.2). A client always offers
    /// `client_max_window_bits` (valueless at 15, as a hint below) and
    /// compresses with at most this and the server's limit; a server
    /// answers with it when below 15 and the offer allows it. An offer
    /// without the parameter is still accepted (this endpoint inflates with
    /// a 32 KiB window). Default: 15.
    pub client_max_window_bits: u8,
    /// The zlib compression level, 0 (stored blocks only) ..= 9 (RFC 7692
    /// §7.2.1 allows blocks of any type). Default: 6, zlib's default.
    pub compression_level: u32,
    /// Messages shorter than this many bytes are sent uncompressed, RSV1
    /// unset (RFC 7692 §6.1 lets an endpoint send any message
    /// uncompressed). Without context takeover, messages under about 64
    /// bytes grow when compressed. Default: 128.
    pub threshold: usize,
    /// For a direction without context takeover (RFC 7692 §7.2.1, §7.2.2),
    /// free its zlib state after each message and allocate it again for the
    /// next compressed message, instead of resetting it. Saves 251–380 KB
    /// (compressor) and 47.5 KB (decompressor) per idle connection, for a
    /// few microseconds per compressed message (2–8 µs measured) and less
    /// per inflated one. Default: true.
    ///
    /// zlib's memory level (its hash and symbol buffers) cannot be set
    /// through `flate2`; it stays at 8.
    pub release_idle: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            compression_level: 6,
            threshold: 128,
            release_idle: true,
        }
    }
}

impl DeflateConfig {
    /// The default settings (see [`DeflateConfig`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`server_no_context_takeover`](Self::server_no_context_takeover)
    /// (RFC 7692 §7.1.1.1).
    pub fn with_server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Sets [`client_no_context_takeover`](Self::client_no_context_takeover)
    /// (RFC 7692 §7.1.1.2).
    pub fn with_client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Sets [`server_max_window_bits`](Self::server_max_window_bits)
    /// (RFC 7692 §7.1.2.1), clamped to 8..=15.
    pub fn with_server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = clamp_bits(bits);
        self
    }

    /// Sets [`client_max_window_bits`](Self::client_max_window_bits)
    /// (RFC 7692 §7.1.2.2), clamped to 8..=15.
    pub fn with_client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = clamp_bits(bits);
        self
    }

    /// Sets [`compression_level`](Self::compression_level), clamped to 0..=9
    /// (RFC 7692 §7.2.1).
    pub fn with_compression_level(mut self, level: u32) -> Self {
        self.compression_level = level.min(9);
        self
    }

    /// Sets [`threshold`](Self::threshold) (RFC 7692 §6.1).
    pub fn with_threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets [`release_idle`](Self::release_idle) (RFC 7692 §7.2.1, §7.2.2).
    pub fn with_release_idle(mut self, on: bool) -> Self {
        self.release_idle = on;
        self
    }

    /// `server_max_window_bits`, clamped to 8..=15 (the field is public).
    pub(crate) fn server_bits(&self) -> u8 {
        clamp_bits(self.server_max_window_bits)
    }

    /// `client_max_window_bits`, clamped to 8..=15.
    pub(crate) fn client_bits(&self) -> u8 {
        clamp_bits(self.client_max_window_bits)
    }

    /// `compression_level`, clamped to 0..=9.
    pub(crate) fn level(&self) -> u32 {
        self.compression_level.min(9)
    }
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// Why a client rejects the server's `permessage-deflate` response
/// (RFC 7692 §7.1: the client MUST _Fail the WebSocket Connection_).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DeflateNegotiationError {
    /// The element passed is not `permessage-deflate` at all.
    #[error("extension {0:?} is not permessage-deflate")]
    NotDeflate(String),
    /// A parameter RFC 7692 does not define for a response (§7.1).
    #[error("unknown parameter {0:?} (RFC 7692 §7.1)")]
    UnknownParameter(String),
    /// A parameter given more than once (§7.1).
    #[error("parameter {0} appears more than once (RFC 7692 §7.1)")]
    DuplicateParameter(&'static str),
    /// A value where none is allowed, a missing value, or a number that is
    /// not 8..=15 written without leading zeroes (§7.1.1, §7.1.2).
    #[error("parameter {0} has an invalid value (RFC 7692 §7.1)")]
    InvalidValue(&'static str),
    /// `client_max_window_bits` in a response to an offer without it
    /// (§7.1.2.2: the response MUST NOT include it).
    #[error("client_max_window_bits in the response, but the offer did not include it (RFC 7692 §7.1.2.2)")]
    UnofferedClientMaxWindowBits,
    /// `server_max_window_bits` above the value the offer asked for
    /// (§7.1.2.1: "the same or smaller value").
    #[error("server_max_window_bits={got} exceeds the {asked} asked for (RFC 7692 §7.1.2.1)")]
    ServerWindowTooLarge {
        /// The value offered.
        asked: u8,
        /// The value in the response.
        got: u8,
    },
    /// The offer requested `server_no_context_takeover` or
    /// `server_max_window_bits` and the response lacks it, so it accepts an
    /// offer that was not made (§5, §7.1.1.1, §7.1.2.1).
    #[error("the response lacks {0}, which the offer requested (RFC 7692 §7.1.1.1, §7.1.2.1)")]
    MissingRequested(&'static str),
}

/// Why a received compressed message could not be inflated (RFC 7692
/// §7.2.2). Either fails the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InflateError {
    /// The inflated message would exceed the limit given (RFC 6455 §10.4;
    /// RFC 7692 §8 leaves the limit to the implementation). Inflating
    /// stopped at the limit. Close code 1009.
    #[error("inflated message exceeds the size limit (RFC 6455 §10.4)")]
    TooLarge,
    /// The payload is not a valid DEFLATE stream (RFC 1951), or refers back
    /// past the start of the LZ77 window. Close code 1007.
    #[error("compressed payload is not valid DEFLATE data (RFC 7692 §7.2.2)")]
    Corrupt,
}
