//! The per-message DEFLATE transformation (RFC 7692 §7.2): one [`Deflate`]
//! per connection, compressing what this endpoint sends and inflating what
//! it receives.

use core::fmt;

use bytes::BytesMut;
use flate2::{Decompress, FlushDecompress, Status};
use zlib_rs::{DeflateFlush, Method, Strategy};

use super::{DeflateConfig, InflateError, MAX_WINDOW_BITS, Params, TAIL};

/// Output is produced in steps of at most this many bytes (the most a
/// single step can overshoot a limit before it is noticed is one byte).
const STEP: usize = 16 * 1024;

/// The first output step of a call: this much room, or four times the
/// input if that is more (up to [`STEP`]). The room is zero-filled before
/// zlib writes into it, so a tiny frame must not cost a [`STEP`] of
/// zeroing and capacity; steps double while output keeps filling them.
const FIRST_STEP: usize = 256;

/// zlib cannot compress raw DEFLATE with a 256-byte window (it refuses
/// window bits 8, "until 256-byte window bug fixed"). Its 9-bit compressor
/// is used instead: zlib never matches further back than the window minus
/// `MIN_LOOKAHEAD` (262) bytes, so with 9 bits no match reaches back more
/// than 250 bytes, within the 256 bytes an 8-bit peer keeps (RFC 7692
/// §7.2.1: "MUST NOT use an LZ77 sliding window longer than" 2^w bytes).
const MIN_ZLIB_WINDOW_BITS: u8 = 9;

/// One step of [`Inflater::decompress_into`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InflateStep {
    /// Bytes of `input` consumed; call again with the rest.
    pub(crate) consumed: usize,
    /// True when all of `input` was consumed and no inflated output is held
    /// back: the next frame's payload may follow, or, with `fin`, the
    /// message is complete (and the codec is ready for the next one). False
    /// when `out_limit` was reached: take the output and call again.
    pub(crate) finished: bool,
}

/// The `permessage-deflate` codec of one connection (RFC 7692 §7.2), for
/// one role: it compresses what this endpoint sends with this endpoint's
/// parameters ([`Deflater`]) and inflates what it receives with the peer's
/// ([`Inflater`]). The connection's sender owns the one half, its receiver
/// the other ([`split`](Self::split)).
///
/// The zlib states are allocated on the first compressed message in each
/// direction. A direction without context takeover resets its state after
/// every message (§7.2.1, §7.2.2), or frees it when
/// [`DeflateConfig::release_idle`] is set.
#[derive(Debug)]
pub(crate) struct Deflate {
    tx: Deflater,
    rx: Inflater,
}

/// The sending half of [`Deflate`] (RFC 7692 §7.2.1).
#[derive(Debug)]
pub(crate) struct Deflater {
    level: u32,
    /// zlib's memLevel (1..=9).
    memory_level: u8,
    /// The window bits zlib compresses with (9..=15, see
    /// [`MIN_ZLIB_WINDOW_BITS`]).
    tx_window_bits: u8,
    /// Our side starts each message with an empty window.
    tx_no_context_takeover: bool,
    compressor: Option<Compressor>,
    threshold: usize,
    release_idle: bool,
}

/// The receiving half of [`Deflate`] (RFC 7692 §7.2.2).
#[derive(Debug)]
pub(crate) struct Inflater {
    /// The peer starts each message with an empty window.
    rx_no_context_takeover: bool,
    decompressor: Option<Decompress>,
    /// Bytes inflated so far for the message in progress.
    rx_total: usize,
    /// Bytes of [`TAIL`] fed so far for the message in progress (0..=4).
    rx_tail: usize,
    /// The message in progress has had compressed bytes.
    rx_input: bool,

    release_idle: bool,
}

impl Deflate {
    /// The codec for a client (`role_is_client`) or a server, given the
    /// agreed parameters and this endpoint's settings (RFC 7692 §7.2).
    ///
    /// This endpoint compresses with the smaller of the agreed and the
    /// configured window, and without context takeover when either says so
    /// (it may always do less than agreed, §7.2.1). It inflates with a
    /// 32 KiB window, which decodes what any window size produces (§7.2.2:
    /// it MAY use a smaller one; zlib-rs allocates 32 KiB either way).
    pub(crate) fn new(role_is_client: bool, params: &Params, cfg: &DeflateConfig) -> Self {
        let (tx_bits, tx_nct, rx_nct) = if role_is_client {
            (
                params.client_max_window_bits.min(cfg.client_bits()),
                params.client_no_context_takeover || cfg.client_no_context_takeover,
                params.server_no_context_takeover,
            )
        } else {
            (
                params.server_max_window_bits.min(cfg.server_bits()),
                params.server_no_context_takeover || cfg.server_no_context_takeover,
                params.client_no_context_takeover,
            )
        };
        let tx = Deflater {
            level: cfg.level(),
            memory_level: cfg.mem_level(),
            tx_window_bits: tx_bits.clamp(MIN_ZLIB_WINDOW_BITS, MAX_WINDOW_BITS),
            tx_no_context_takeover: tx_nct,
            compressor: None,
            threshold: cfg.threshold,
            release_idle: cfg.release_idle,
        };
        let rx = Inflater {
            rx_no_context_takeover: rx_nct,
            decompressor: None,
            rx_total: 0,
            rx_tail: 0,
            rx_input: false,
            release_idle: cfg.release_idle,
        };
        Self { tx, rx }
    }

    /// The two halves: the sender's and the receiver's.
    pub(crate) fn split(self) -> (Deflater, Inflater) {
        (self.tx, self.rx)
    }

    /// See [`Deflater::compress`].
    #[cfg(test)]
    pub(crate) fn compress(&mut self, payload: &[u8], out: &mut BytesMut) {
        self.tx.compress(payload, out);
    }

    /// See [`Deflater::compress_chunk`].
    #[cfg(test)]
    pub(crate) fn compress_chunk(&mut self, chunk: &[u8], fin: bool, out: &mut BytesMut) {
        self.tx.compress_chunk(chunk, fin, out);
    }

    /// Which zlib states are held, `(compressor, decompressor)` (test hook
    /// for `release_idle`).
    #[cfg(test)]
    fn holds_state(&self) -> (bool, bool) {
        (self.tx.compressor.is_some(), self.rx.decompressor.is_some())
    }

    /// See [`Deflater::should_compress`].
    #[cfg(test)]
    pub(crate) fn should_compress(&self, len: usize) -> bool {
        self.tx.should_compress(len)
    }
}

impl Deflater {
    /// Whether a message of `len` bytes should be sent compressed: not when
    /// it is shorter than [`DeflateConfig::threshold`] (RFC 7692 §6.1 lets
    /// any message go uncompressed, RSV1 unset).
    pub(crate) fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Compresses one whole message and appends the payload to send to
    /// `out` (RFC 7692 §7.2.1): raw DEFLATE ending in a sync flush, with
    /// the final `00 00 ff ff` removed. Send it with RSV1 set on the first
    /// frame; it may be split into frames anywhere.
    ///
    /// An empty message compresses to the single byte `00` (§7.2.3.6). If
    /// a message started with [`compress_chunk`](Self::compress_chunk) is in
    /// progress, this ends it.
    pub(crate) fn compress(&mut self, payload: &[u8], out: &mut BytesMut) {
        self.compress_chunk(payload, true, out);
    }

    /// Compresses the next piece of a message sent in pieces and appends
    /// whatever compressed bytes are ready to `out` (possibly none before
    /// `fin`: send an empty frame or wait for more). With `fin` the message
    /// ends: the rest is flushed and `00 00 ff ff` removed (RFC 7692
    /// §7.2.1: not before, "for non-final fragments, the removal … MUST NOT
    /// be done"). The output of all pieces, concatenated, is what
    /// [`compress`](Self::compress) makes of the whole message.
    pub(crate) fn compress_chunk(&mut self, chunk: &[u8], fin: bool, out: &mut BytesMut) {
        let (level, mem, bits) = (self.level, self.memory_level, self.tx_window_bits);
        let c = self.compressor.get_or_insert_with(|| Compressor::new(level, mem, bits));
        let start = out.len();
        let flush = if fin { DeflateFlush::SyncFlush } else { DeflateFlush::NoFlush };
        let ok = run_deflate(&mut c.0, chunk, flush, out);
        debug_assert!(ok, "zlib failed to compress");
        if !fin {
            if !ok {
                self.compressor = None;
            }
            return;
        }
        let produced = &out[start..];
        if produced.ends_with(&TAIL) {
            // §7.2.1 step 3.
            out.truncate(out.len() - TAIL.len());
        } else if produced.is_empty() {
            // zlib emits nothing for a sync flush that follows another with
            // no input in between: an empty message right after a message.
            // The stream is byte-aligned there, so an empty stored block
            // without its LEN/NLEN is the byte 00 (§7.2.3.6).
            out.extend_from_slice(&[0]);
        } else {
            // A sync flush always ends with an empty stored block.
            debug_assert!(false, "sync flush without 00 00 ff ff");
        }
        if self.tx_no_context_takeover || !ok {
            if self.release_idle || !ok {
                self.compressor = None;
            } else if let Some(c) = &mut self.compressor {
                c.0.reset();
            }
        }
    }
}

impl Deflater {
    /// Flushes what the compressor holds of the message in progress (a
    /// sync flush, its `00 00 ff ff` kept: the message is not finished,
    /// RFC 7692 §7.2.1), when it will not be continued.
    pub(crate) fn flush(&mut self, out: &mut BytesMut) {
        if let Some(c) = &mut self.compressor {
            if !run_deflate(&mut c.0, &[], DeflateFlush::SyncFlush, out) {
                self.compressor = None;
            }
        }
    }
}

impl Inflater {
    /// Inflates the payload of one frame of a compressed message and
    /// appends the result to `out` (RFC 7692 §6.2, §7.2.2). Call it for
    /// every frame of the message in order, `fin` on the last one (which
    /// feeds the `00 00 ff ff` tail).
    ///
    /// The message inflated so far, across all its frames, never exceeds
    /// `max_total` bytes: inflating stops at the first byte past it with
    /// [`InflateError::TooLarge`] (RFC 6455 §10.4), so a "zip bomb" costs at
    /// most `max_total` bytes of output. Invalid DEFLATE data is
    /// [`InflateError::Corrupt`]. After an error the connection must fail;
    /// the codec's receive side is reset.
    ///
    /// A compressed message whose payload is empty in all its frames (§7.2.3.6
    /// says it should be the octet `00`) is taken as an empty message: the
    /// tail alone is not a complete DEFLATE block and would leave the
    /// inflater mid-block for the next message.
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut BytesMut,
        max_total: usize,
    ) -> Result<(), InflateError> {
        let step = self.decompress_into(input, fin, out, usize::MAX, max_total)?;
        debug_assert!(step.finished && step.consumed == input.len());
        Ok(())
    }

    /// The streaming form of [`decompress`](Self::decompress): appends at
    /// most `out_limit` bytes (at least 1 is used) to `out` per call, so
    /// memory stays bounded by the chunk size rather than the message size.
    ///
    /// Call with a frame's payload; take the output; while the step is not
    /// [`finished`](InflateStep::finished), call again with
    /// `input[consumed..]` and the same `fin`. `max_total` bounds the whole
    /// message as in `decompress` (`usize::MAX` for no bound).
    pub(crate) fn decompress_into(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut BytesMut,
        out_limit: usize,
        max_total: usize,
    ) -> Result<InflateStep, InflateError> {
        let result = self.inflate(input, fin, out, out_limit.max(1), max_total);
        match result {
            Ok(step) if step.finished && fin => self.end_rx_message(),
            Ok(_) => {}
            Err(_) => {
                // The stream is unusable; start afresh should anything follow.
                self.decompressor = None;
                self.rx_total = 0;
                self.rx_tail = 0;
                self.rx_input = false;
            }
        }
        result
    }

    fn inflate(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut BytesMut,
        out_limit: usize,
        max_total: usize,
    ) -> Result<InflateStep, InflateError> {
        self.rx_input |= !input.is_empty();
        let d = self.decompressor.get_or_insert_with(new_decompressor);
        let mut consumed = 0;
        let mut appended = 0;
        // Output room per step: small for a small input, doubling while the
        // output fills it (see `FIRST_STEP`).
        let mut step = input.len().saturating_mul(4).clamp(FIRST_STEP, STEP);
        loop {
            // The frame's bytes first, then (at fin) the tail of §7.2.2.
            let (src, is_tail) = if consumed < input.len() {
                (&input[consumed..], false)
            } else if fin && self.rx_input && self.rx_tail < TAIL.len() {
                (&TAIL[self.rx_tail..], true)
            } else {
                (&[][..], false)
            };
            let budget = out_limit - appended;
            if budget == 0 {
                return Ok(InflateStep { consumed, finished: false });
            }
            // Room for one byte past the limit, to notice it is passed.
            let allowed = max_total.saturating_sub(self.rx_total);
            let room = step.min(budget).min(allowed.saturating_add(1));
            let start = out.len();
            out.resize(start + room, 0);
            let (in_before, out_before) = (d.total_in(), d.total_out());
            let status = d.decompress(src, &mut out[start..], FlushDecompress::None);
            let used = (d.total_in() - in_before) as usize;
            let produced = (d.total_out() - out_before) as usize;
            if produced > allowed {
                out.truncate(start + allowed);
                return Err(InflateError::TooLarge);
            }
            out.truncate(start + produced);
            self.rx_total += produced;
            appended += produced;
            if is_tail {
                self.rx_tail += used;
            } else {
                consumed += used;
            }
            match status {
                Err(_) => return Err(InflateError::Corrupt),
                Ok(Status::StreamEnd) => {
                    // A block with BFINAL set ended the DEFLATE stream; more
                    // blocks may follow in the message (§7.2.1, §7.2.3.4).
                    // zlib cannot go on past it, so a fresh inflater takes
                    // the rest, with an empty window: data after it that
                    // refers back across it fails as Corrupt ("distance too
                    // far back"), never as wrong output.
                    *d = new_decompressor();
                    continue;
                }
                Ok(_) => {}
            }
            if produced == room {
                // Output may be held back; drain it, in larger steps.
                step = (step * 2).min(STEP);
                continue;
            }
            if used < src.len() {
                // Room was left and input too: zlib made all the progress it
                // could, which only a stream error explains.
                if used == 0 && produced == 0 {
                    return Err(InflateError::Corrupt);
                }
                continue;
            }
            if src.is_empty() {
                return Ok(InflateStep { consumed, finished: true });
            }
        }
    }

    /// The message's last frame was inflated.
    fn end_rx_message(&mut self) {
        self.rx_total = 0;
        self.rx_tail = 0;
        self.rx_input = false;
        if self.rx_no_context_takeover {
            // §7.2.2: the peer's next message starts with an empty window.
            if self.release_idle {
                self.decompressor = None;
            } else if let Some(d) = &mut self.decompressor {
                d.reset(false);
            }
        }
    }
}

/// zlib-rs's compressor, used directly rather than through flate2 because
/// flate2 always asks for memory level 8.
struct Compressor(zlib_rs::Deflate);

impl Compressor {
    /// Raw DEFLATE (negative window bits: no zlib header, RFC 7692 §7.2.1)
    /// at `level` 0..=9, `memory_level` 1..=9 and `window_bits` 9..=15, all
    /// of which zlib accepts: like flate2's constructor, it panics only if
    /// the allocation fails.
    fn new(level: u32, memory_level: u8, window_bits: u8) -> Self {
        Self(zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
            level: level as i32,
            method: Method::Deflated,
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(memory_level),
            strategy: Strategy::Default,
        }))
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("total_in", &self.0.total_in())
            .field("total_out", &self.0.total_out())
            .finish_non_exhaustive()
    }
}

fn new_decompressor() -> Decompress {
    Decompress::new_with_window_bits(false, MAX_WINDOW_BITS)
}

/// Feeds all of `input` to the compressor with `flush`, appending the output
/// to `out`. False if zlib reported an error (a bug, not an input problem).
fn run_deflate(c: &mut zlib_rs::Deflate, mut input: &[u8], flush: DeflateFlush, out: &mut BytesMut) -> bool {
    loop {
        // Compressed data is rarely larger than its input; a flush adds a
        // few bytes. Too little room only costs another round.
        let room = (input.len() / 2 + 64).min(STEP);
        let start = out.len();
        out.resize(start + room, 0);
        let (in_before, out_before) = (c.total_in(), c.total_out());
        let status = c.compress(input, &mut out[start..], flush);
        let used = (c.total_in() - in_before) as usize;
        let produced = (c.total_out() - out_before) as usize;
        out.truncate(start + produced);
        input = &input[used..];
        match status {
            Err(_) => return false,
            // No progress possible: a flush with nothing new to flush.
            Ok(zlib_rs::Status::BufError) => return input.is_empty(),
            Ok(_) => {}
        }
        if input.is_empty() && produced < room {
            return true;
        }
        if used == 0 && produced == 0 {
            return false;
        }
    }
}

#[cfg(test)]
mod tests;
