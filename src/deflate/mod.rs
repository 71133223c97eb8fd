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
//! # Memory (measured with zlib-rs 0.6.8)
//!
//! A compressor (zlib-rs used directly, since flate2 cannot set the memory
//! level) is one allocation: a window of twice `2^w` bytes, `2^w` two-byte
//! chain links, a 128 KiB hash table (fixed in zlib-rs) and 7 bytes for
//! each of the `2^(memory_level + 6)` symbols a block collects. That is
//! 137–495 KB over window bits 9–15 and memory levels 1–9: 294 KB at the
//! defaults (15 bits, level 6), 380 KB at zlib's usual level 8. The table
//! per level, and why the default is 6, is at
//! `DeflateConfig::memory_level`. A decompressor (flate2 on zlib-rs) takes
//! 47.5 KB whatever the window bits (zlib-rs always allocates a 32 KiB
//! window). Both are created on the first compressed message in their
//! direction; a direction without context takeover frees its state at the
//! end of every message when `DeflateConfig::release_idle` is set (the
//! default), so an idle connection holds none, and a compressor exists
//! only while a message is being compressed.

mod codec;
mod negotiate;
#[cfg(test)]
mod testutil;

pub(crate) use crate::handshake::DeflateNegotiationError;
pub(crate) use codec::{Deflate, Deflater, Inflater};
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

/// zlib's memory levels (`memLevel` of `deflateInit2`).
const MIN_MEMORY_LEVEL: u8 = 1;
const MAX_MEMORY_LEVEL: u8 = 9;
/// See [`DeflateConfig::memory_level`].
const DEFAULT_MEMORY_LEVEL: u8 = 6;

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
/// (de)compressed, compression level 6, memory level 6 (86 KB less than
/// zlib's usual 8 for the same ratio, see
/// [`memory_level`](Self::memory_level)) and a 128-byte threshold. A client that wants the
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
    /// zlib's memory level (`memLevel` of `deflateInit2`), 1..=9: the
    /// compressor collects up to `2^(memory_level + 6)` symbols (literals
    /// and matches) per DEFLATE block, at 7 bytes each, so each level up
    /// doubles those buffers. zlib-rs keeps its hash table at 128 KiB
    /// whatever the level (zlib proper shrinks it too), so the level sets
    /// only the symbol buffers; fewer symbols per block mean more blocks,
    /// each with its own Huffman codes, and a worse ratio on long messages.
    /// Only the compressor uses it: any level inflates with any other.
    ///
    /// Measured with zlib-rs 0.6.8 at compression level 6 (the test
    /// `memory_level_sizes_the_compressor` prints it): the bytes one
    /// compressor holds, and the payload of a 16,384-byte JSON message
    /// (an array of records with ids, names, statuses and timestamps)
    /// without context takeover, by the window bits the sender uses:
    ///
    /// | memory level | compressor, 9 bits | compressor, 15 bits | payload, 9 bits | payload, 15 bits |
    /// |---:|---:|---:|---:|---:|
    /// | 1 | 137,216 | 266,240 | 5,811 | 3,519 |
    /// | 2 | 138,112 | 267,136 | 5,179 | 3,287 |
    /// | 3 | 139,904 | 268,928 | 4,854 | 3,171 |
    /// | 4 | 143,488 | 272,512 | 4,667 | 3,157 |
    /// | 5 | 150,656 | 279,680 | 4,558 | 3,178 |
    /// | **6** | **164,992** | **294,016** | **4,519** | **3,170** |
    /// | 7 | 193,664 | 322,688 | 4,478 | 3,170 |
    /// | 8 | 251,008 | 380,032 | 4,478 | 3,170 |
    /// | 9 | 365,696 | 494,720 | 4,478 | 3,170 |
    ///
    /// Default: 6, for a server with many connections. Without context
    /// takeover and with [`release_idle`](Self::release_idle) (the
    /// defaults) a connection holds a compressor only while it compresses
    /// a message (during a `send`, or from `begin_message` to
    /// `finish_message`), so this is memory per connection compressing at
    /// that moment; with context takeover it is per connection, for as long
    /// as the connection lives. Level 6 holds 86 KB less than zlib's usual
    /// 8 (23% of a 15-bit compressor, 34% of a 9-bit one). The ratio does
    /// not suffer: with 15-bit windows the same JSON at 1, 4, 16, 64 and
    /// 256 KiB compressed no larger than at level 8, with 9-bit windows
    /// under 1% larger; the speed was the same within 3%. Below 6 the
    /// saving is at most 28 KB more (the hash table and the window
    /// dominate) while messages grow (at level 1, 11% with 15 bits, 30% with
    /// 9 in the table) and compression slows (levels 1–3, up to twice as
    /// slow). Set 8 for the output of zlib's usual setting.
    pub memory_level: u8,
    /// Messages shorter than this many bytes are sent uncompressed, RSV1
    /// unset (RFC 7692 §6.1 lets an endpoint send any message
    /// uncompressed). Without context takeover, messages under about 64
    /// bytes grow when compressed. Default: 128.
    pub threshold: usize,
    /// For a direction without context takeover (RFC 7692 §7.2.1, §7.2.2),
    /// free its zlib state after each message and allocate it again for the
    /// next compressed message, instead of resetting it. Saves the
    /// compressor (137–495 KB by window bits and
    /// [`memory_level`](Self::memory_level), 294 KB at the defaults) and
    /// the decompressor (47.5 KB) per idle connection, for a few
    /// microseconds per compressed message (2–8 µs measured) and less per
    /// inflated one. Default: true.
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
            memory_level: DEFAULT_MEMORY_LEVEL,
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

    /// Sets [`memory_level`](Self::memory_level), clamped to 1..=9.
    pub fn with_memory_level(mut self, level: u8) -> Self {
        self.memory_level = clamp_memory_level(level);
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

    /// `memory_level`, clamped to 1..=9.
    pub(crate) fn mem_level(&self) -> u8 {
        clamp_memory_level(self.memory_level)
    }
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

fn clamp_memory_level(level: u8) -> u8 {
    level.clamp(MIN_MEMORY_LEVEL, MAX_MEMORY_LEVEL)
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
