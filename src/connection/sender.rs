//! The sending part: messages and control frames in, one ordered output
//! queue out.
//!
//! [`Sender`] owns the output: the queue of [`Output`]s in order, the buffer
//! small frames are written into, what is buffered toward the high-water
//! mark, a message being sent in pieces, the masking keys and the sending
//! side of the extensions (the compressor). It frames and queues; whether a
//! command is allowed in the connection's state is
//! [`Connection`](super::Connection)'s decision, made before it calls here.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
#[cfg(feature = "std")]
use bytes::Buf;
use bytes::{Bytes, BytesMut};

use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::config::{Config, Role};
use crate::entropy::Entropy;
use crate::error::SendError;
use crate::event::{Event, Message, MessageKind, Output};
use crate::extension::{RSV1, TxExtensions};
use crate::frame;
#[cfg(feature = "std")]
use crate::mask::mask_into;
use crate::mask::{extend_masked, extend_masked_at};
use crate::utf8::Utf8Validator;

/// Payloads up to this size are copied next to their header so that one
/// `Transmit` carries many small frames; larger ones go out as their own
/// `Transmit` without a copy.
const COALESCE_MAX: usize = 1024;

/// A client's payloads larger than this, handed over as `Bytes`, are masked
/// when written rather than when queued, once the driver has shown that it
/// writes with [`Sender::write_to`]: that masks them a
/// piece at a time into a small buffer that stays in cache and writes each
/// piece, so the masked frame never exists whole. Smaller ones are masked
/// into the output buffer with their header, as borrowed payloads are.
const MASK_LATER_MIN: usize = 16 * 1024;

/// The piece [`Sender::write_to`] masks a large payload into and writes.
#[cfg(feature = "std")]
const MASK_PIECE: usize = 16 * 1024;

/// The output buffer grows by at least this much (1 KiB: a busy connection
/// holds little more) when small frames are copied into it.
const TX_RESERVE: usize = 1024;

/// Masking keys are drawn from the entropy source this many bytes (256
/// keys) at a time: one OS call per 256 frames instead of one per frame. An
/// idle connection gives the pool back (see [`Sender::release_idle`]).
const MASK_BATCH: usize = 1024;

/// What one entry of the output queue is counted as, in bytes, beyond the
/// bytes it carries (see [`Connection::queued_bytes`](crate::Connection::queued_bytes)):
/// its slot in the queue. Runs of small frames share one entry.
pub const QUEUE_SLOT: usize = size_of::<Pending>();

/// A queued output. `app` is what it counts in `buffered` (message
/// payload), `extra` what it counts in `overhead`.
#[derive(Debug)]
enum Pending {
    /// The next `len` bytes of `buf`.
    Tx {
        len: usize,
        app: usize,
        extra: usize,
    },
    /// A payload sent without copying.
    Payload {
        bytes: Bytes,
        app: usize,
        extra: usize,
    },
    /// A client's large payload, still to be masked with `key` (from its
    /// byte `offset`, which `bytes` starts at): masked as it is written,
    /// a piece at a time, or into its own `Transmit` when polled.
    Masked {
        bytes: Bytes,
        key: [u8; 4],
        offset: usize,
        app: usize,
        extra: usize,
    },
    Event(Event),
    CloseTransport,
    /// The last output: `Event::Closed`.
    End(crate::event::Closed),
}

impl Pending {
    /// Bytes for the transport (not an event, `CloseTransport` or the end).
    fn is_bytes(&self) -> bool {
        matches!(self, Self::Tx { .. } | Self::Payload { .. } | Self::Masked { .. })
    }
}

/// The bytes of the last run of small frames in `buf`: the queue's last
/// entry, kept out of the deque so that a send that follows a drained
/// queue (the usual case) costs no deque push and pop.
#[derive(Debug, Clone, Copy)]
struct Run {
    len: usize,
    app: usize,
    extra: usize,
}

/// At most this many slices per vectored write.
#[cfg(feature = "std")]
const GATHER: usize = 32;

/// What [`Connection::write_to`](crate::Connection::write_to) left behind.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flushed {
    /// Every byte queued is written.
    Written,
    /// Every byte queued is written, and the transport is done: shut down
    /// its write side now (or close it), as for
    /// [`Output::CloseTransport`]. [`Event::Closed`] follows.
    CloseTransport,
}

/// A message being sent in pieces.
#[derive(Debug)]
struct TxStream {
    text: bool,
    /// Its first frame is queued; the rest are continuations.
    started: bool,
    /// Text must be UTF-8 as a whole; chunks may split code points.
    utf8: Utf8Validator,
}

/// A message's payload as the application handed it over: owned (sent
/// without a copy where the frame is not copied anyway) or borrowed (copied
/// once, into the output or, for a large frame of a server, into a buffer of
/// its own).
enum Data<'a> {
    Owned(Bytes),
    Borrowed(&'a [u8]),
}

impl Data<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    #[inline(always)]
    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Owned(b) => b,
            Self::Borrowed(s) => s,
        }
    }

    #[inline]
    fn slice(&self, range: core::ops::Range<usize>) -> Self {
        match self {
            Self::Owned(b) => Self::Owned(b.slice(range)),
            Self::Borrowed(s) => Self::Borrowed(&s[range]),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Owned(b) => b,
            Self::Borrowed(s) => Bytes::copy_from_slice(s),
        }
    }
}

/// The sending part of a connection.
pub(super) struct Sender {
    role: Role,
    out: VecDeque<Pending>,
    /// The queue's last entry when it is a run of small frames (it comes
    /// after everything in `out`).
    tail: Option<Run>,
    /// Bytes of queued small frames; `Pending::Tx` entries own prefixes of it.
    buf: BytesMut,
    /// Where `pop` masks a `Pending::Masked` payload into its `Transmit`
    /// (reused once the application drops the previous one).
    masked: BytesMut,
    /// Where `write_to` masks the pieces of a `Pending::Masked` payload
    /// (empty until first needed).
    #[cfg(feature = "std")]
    piece: Vec<u8>,
    /// The driver writes with `write_to`: a client's large payloads are
    /// then masked as they are written (see [`MASK_LATER_MIN`]). A driver
    /// that polls `Transmit`s has them masked into its output when queued,
    /// with their header, in one `Transmit`.
    mask_later: bool,
    /// Message payload queued and not yet polled (`bufferedAmount`).
    buffered: usize,
    /// What queued output costs beyond `buffered`: frame headers, control
    /// frames, handshake heads and [`QUEUE_SLOT`] per queue entry.
    overhead: usize,
    /// A command failed with `Full`; `Event::Writable` is owed.
    blocked: bool,
    /// Messages may still be sent (no Close queued, not ended): only then
    /// is `Writable` worth saying.
    open: bool,
    /// `Event::Closed` was taken: the connection is CLOSED.
    end_taken: bool,
    /// A message being sent in pieces.
    stream: Option<TxStream>,
    /// Bytes of `stream` the compressor holds back: counted in `buffered`
    /// but in no queued frame yet.
    held_back: usize,
    /// Where a client's masking keys come from; a server has none.
    entropy: Option<Box<dyn Entropy + Send>>,
    /// Masking keys fetched from `entropy` in batches: empty until a client
    /// first masks, then `MASK_BATCH` bytes.
    masks: Vec<u8>,
    masks_used: usize,
    fragment_size: usize,
    high_water: Option<usize>,
    low_water: usize,
    /// The sending side of the agreed extensions.
    ext: TxExtensions,
}

impl core::fmt::Debug for Sender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("buffered", &self.buffered)
            .field("overhead", &self.overhead)
            .field("pending", &self.pending_outputs())
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub(super) fn new(role: Role, config: &Config, entropy: Option<Box<dyn Entropy + Send>>) -> Self {
        Self {
            role,
            out: VecDeque::new(),
            tail: None,
            buf: BytesMut::new(),
            masked: BytesMut::new(),
            #[cfg(feature = "std")]
            piece: Vec::new(),
            mask_later: false,
            buffered: 0,
            overhead: 0,
            blocked: false,
            open: false,
            end_taken: false,
            stream: None,
            held_back: 0,
            entropy,
            masks: Vec::new(),
            masks_used: 0,
            fragment_size: config.fragment_size.unwrap_or(usize::MAX).max(1),
            high_water: config.send_high_water,
            low_water: config.send_low_water,
            ext: TxExtensions::default(),
        }
    }

    /// Runs the sending side of the agreed extensions.
    pub(super) fn set_extensions(&mut self, ext: TxExtensions) {
        self.ext = ext;
    }

    /// Draws bytes from the entropy source (a client's handshake nonce).
    pub(super) fn fill_random(&mut self, dest: &mut [u8]) {
        if let Some(e) = &mut self.entropy {
            e.fill(dest);
        }
    }

    /// Messages may be sent from now on (the connection opened).
    pub(super) fn open(&mut self) {
        self.open = true;
    }

    pub(super) fn buffered(&self) -> usize {
        self.buffered
    }

    pub(super) fn queued_bytes(&self) -> usize {
        self.buffered + self.overhead
    }

    pub(super) fn is_empty(&self) -> bool {
        self.out.is_empty() && self.tail.is_none()
    }

    pub(super) fn pending_outputs(&self) -> usize {
        self.out.len() + usize::from(self.tail.is_some())
    }

    /// Queues `pending` after everything queued, the run of small frames
    /// included.
    fn push(&mut self, pending: Pending) {
        self.flush_tail();
        self.out.push_back(pending);
    }

    /// Moves the run of small frames into the queue proper: onto the
    /// bytes queued last if they are bytes of `buf` too (the next ones
    /// there), so that answers queued between events taken one at a time
    /// (a Pong for each of many Pings) make one entry, not one each.
    fn flush_tail(&mut self) {
        if let Some(Run { len, app, extra }) = self.tail.take() {
            if let Some(Pending::Tx { len: l, app: a, extra: e }) = self.out.back_mut() {
                (*l, *a, *e) = (*l + len, *a + app, *e + extra);
            } else {
                self.out.push_back(Pending::Tx { len, app, extra });
            }
        }
    }

    /// False when no event can be queued: the queue proper is empty (the
    /// run of small frames holds bytes only). Cheap, for the hot path.
    #[inline(always)]
    pub(super) fn may_hold_event(&self) -> bool {
        !self.out.is_empty()
    }

    /// Whether an event (or `CloseTransport`, or the end) is queued.
    pub(super) fn has_event(&self) -> bool {
        self.out.iter().any(|p| !p.is_bytes())
    }

    // ------------------------------------------------------------------
    // The queue
    // ------------------------------------------------------------------

    pub(super) fn push_event(&mut self, event: Event) {
        self.push(Pending::Event(event));
    }

    /// The end: `CloseTransport`, then `Closed`, after everything queued.
    /// Nothing is queued after it; a message still being sent is dropped.
    pub(super) fn push_end(&mut self, closed: crate::event::Closed) {
        self.open = false;
        self.stream = None;
        self.buffered -= core::mem::take(&mut self.held_back);
        self.push(Pending::CloseTransport);
        self.push(Pending::End(closed));
    }

    /// Whether `Event::Closed` was taken.
    pub(super) fn end_taken(&self) -> bool {
        self.end_taken
    }

    /// The next output, in order.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<Output> {
        let Some(next) = self.out.pop_front() else {
            let Run { len, app, extra } = self.tail.take()?;
            return Some(self.transmit(len, app, extra));
        };
        Some(match next {
            Pending::Tx { len, app, extra } => self.transmit(len, app, extra),
            Pending::Payload { bytes, app, extra } => {
                self.drained(app, extra);
                Output::Transmit(bytes)
            }
            Pending::Masked { bytes, key, offset, app, extra } => {
                self.drained(app, extra);
                self.masked.reserve(bytes.len());
                extend_masked_at(&mut self.masked, &bytes, key, offset);
                Output::Transmit(self.masked.split().freeze())
            }
            Pending::Event(e) => Output::Event(e),
            Pending::CloseTransport => Output::CloseTransport,
            Pending::End(closed) => {
                self.end_taken = true;
                Output::Event(Event::Closed(closed))
            }
        })
    }

    /// The next event, passing over the bytes queued before it: they stay
    /// queued, in order, for [`write_to`](Self::write_to). `None` when no
    /// event is queued, or when `CloseTransport` comes first (the bytes
    /// before it are written first; `write_to` hands it out).
    pub(super) fn pop_event(&mut self) -> Option<Event> {
        let at = self.out.iter().position(|p| !p.is_bytes())?;
        if matches!(self.out[at], Pending::CloseTransport) {
            return None;
        }
        let event = match self.out.remove(at)? {
            Pending::Event(e) => {
                self.join_runs(at);
                e
            }
            Pending::End(closed) => {
                self.end_taken = true;
                Event::Closed(closed)
            }
            other => {
                // Not reached: `at` is the first entry that is not bytes.
                self.out.insert(at, other);
                return None;
            }
        };
        Some(event)
    }

    /// Where an event was taken out of the queue, at `at`: the bytes of
    /// `buf` queued before and after it are one run now.
    fn join_runs(&mut self, at: usize) {
        let before = at.wrapping_sub(1);
        if let (Some(Pending::Tx { .. }), Some(Pending::Tx { len, app, extra })) =
            (self.out.get(before), self.out.get(at))
        {
            let (len, app, extra) = (*len, *app, *extra);
            if let Some(Pending::Tx { len: l, app: a, extra: e }) = self.out.get_mut(before) {
                (*l, *a, *e) = (*l + len, *a + app, *e + extra);
            }
            self.out.remove(at);
        }
        // Bytes alone left in the queue proper (an answer queued before
        // the event, such as a server's 101 before `Open`) go back to
        // being the run of small frames, which `write_to` and `pop` take
        // without walking the deque.
        if self.tail.is_none() && self.out.len() == 1 {
            if let Some(&Pending::Tx { len, app, extra }) = self.out.front() {
                self.out.clear();
                self.tail = Some(Run { len, app, extra });
            }
        }
    }

    /// The next `len` bytes of `buf`, leaving through `pop`.
    #[inline(always)]
    fn transmit(&mut self, len: usize, app: usize, extra: usize) -> Output {
        self.drained(app, extra);
        Output::Transmit(self.buf.split_to(len).freeze())
    }

    /// `app` bytes of message payload (and `extra` of overhead) left
    /// through `pop`.
    #[inline(always)]
    fn drained(&mut self, app: usize, extra: usize) {
        self.buffered -= app;
        self.overhead -= extra;
        if self.blocked && self.queued_bytes() <= self.low_water {
            self.blocked = false;
            // Only worth saying while messages can still be sent.
            if self.open {
                self.push(Pending::Event(Event::Writable));
            }
        }
    }

    /// Writes every byte queued ahead of `CloseTransport` (events in
    /// between do not hold them back) to `writer`, gathered into as few
    /// (vectored) writes as it takes. On an error, what was not written
    /// stays queued. Then hands out `CloseTransport` if it is next.
    #[cfg(feature = "std")]
    pub(super) fn write_to<W: std::io::Write + ?Sized>(&mut self, writer: &mut W) -> std::io::Result<Flushed> {
        use std::io::{ErrorKind, IoSlice};
        self.mask_later = true;
        // A lone payload (a server's 101): one plain write, no gathering.
        if self.tail.is_none() && self.out.len() == 1 {
            if let Some(Pending::Payload { bytes, .. }) = self.out.front() {
                match writer.write(bytes) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => self.written(n),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // The usual case: one run of small frames and nothing else.
        while self.out.is_empty() {
            let Some(run) = self.tail.as_mut() else { return Ok(Flushed::Written) };
            match writer.write(&self.buf[..run.len]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) if n < run.len => {
                    self.buf.advance(n);
                    run.len -= n;
                }
                Ok(_) => {
                    let Run { len, app, extra } = *run;
                    self.tail = None;
                    self.buf.advance(len);
                    self.drained(app, extra);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.flush_tail();
        loop {
            let n = {
                // The queued byte runs live in order at the front of `buf`:
                // consecutive runs are one slice, payloads one each. A
                // payload still to be masked ends the gathering with its
                // next piece, masked into `piece`.
                let mut slices = [IoSlice::new(&[]); GATHER];
                // `run` bytes of `buf` from `start` not yet in a slice.
                let (mut count, mut start, mut run) = (0, 0, 0);
                for pending in &self.out {
                    match pending {
                        Pending::Tx { len, .. } => run += len,
                        Pending::Payload { bytes, .. } | Pending::Masked { bytes, .. } => {
                            if count + 2 > GATHER {
                                break;
                            }
                            if run > 0 {
                                slices[count] = IoSlice::new(&self.buf[start..start + run]);
                                count += 1;
                                (start, run) = (start + run, 0);
                            }
                            if let Pending::Masked { key, offset, .. } = pending {
                                let len = bytes.len().min(MASK_PIECE);
                                if self.piece.len() < MASK_PIECE {
                                    self.piece = alloc::vec![0; MASK_PIECE];
                                }
                                mask_into(&mut self.piece[..len], &bytes[..len], *key, *offset);
                                slices[count] = IoSlice::new(&self.piece[..len]);
                                count += 1;
                                break;
                            }
                            slices[count] = IoSlice::new(bytes);
                            count += 1;
                        }
                        Pending::CloseTransport => break,
                        Pending::Event(_) | Pending::End(_) => {}
                    }
                }
                if run > 0 && count < GATHER {
                    slices[count] = IoSlice::new(&self.buf[start..start + run]);
                    count += 1;
                }
                if count == 0 {
                    break;
                }
                match writer.write_vectored(&slices[..count]) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.written(n);
        }
        if matches!(self.out.front(), Some(Pending::CloseTransport)) {
            self.out.pop_front();
            return Ok(Flushed::CloseTransport);
        }
        Ok(Flushed::Written)
    }

    /// `n` bytes of the queued bytes, in order, were written.
    #[cfg(feature = "std")]
    fn written(&mut self, mut n: usize) {
        let mut at = 0;
        while n > 0 && at < self.out.len() {
            let (done, app, extra) = match &mut self.out[at] {
                Pending::Tx { len, app, extra } => {
                    let k = n.min(*len);
                    self.buf.advance(k);
                    *len -= k;
                    n -= k;
                    (*len == 0, *app, *extra)
                }
                Pending::Payload { bytes, app, extra } => {
                    let k = n.min(bytes.len());
                    bytes.advance(k);
                    n -= k;
                    (bytes.is_empty(), *app, *extra)
                }
                Pending::Masked { bytes, offset, app, extra, .. } => {
                    let k = n.min(bytes.len());
                    bytes.advance(k);
                    *offset += k;
                    n -= k;
                    (bytes.is_empty(), *app, *extra)
                }
                _ => {
                    at += 1;
                    continue;
                }
            };
            if done {
                self.out.remove(at);
                self.drained(app, extra);
            }
        }
    }

    /// An idle connection with nothing queued gives its buffers back.
    pub(super) fn release_idle(&mut self) {
        if self.is_empty() {
            self.buf = BytesMut::new();
            self.masked = BytesMut::new();
            #[cfg(feature = "std")]
            {
                self.piece = Vec::new();
            }
            self.out = VecDeque::new();
            // Unused masking keys are just random bytes: drop them.
            self.masks = Vec::new();
            self.masks_used = 0;
        }
    }

    // ------------------------------------------------------------------
    // Messages
    // ------------------------------------------------------------------

    /// Queues a whole message.
    #[inline]
    pub(super) fn send(&mut self, message: Message) -> Result<(), SendError> {
        let opcode = if message.is_text() { frame::TEXT } else { frame::BINARY };
        self.send_data(opcode, Data::Owned(message.into_bytes()))
    }

    /// Queues a whole message copied from `payload` (UTF-8 already, for
    /// text).
    #[inline]
    pub(super) fn send_slice(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), SendError> {
        let opcode = if kind == MessageKind::Text { frame::TEXT } else { frame::BINARY };
        let len = payload.len();
        // The common small message, in a few instructions: one frame (not
        // fragmented, not compressed) with a one-byte length, copied (and
        // for a client masked) behind whatever is queued. The same as
        // `send_data` then `queue_data` would do (`tests/send_slice.rs`
        // compares the two surfaces on the wire).
        if len <= SHORT && len <= self.fragment_size && self.stream.is_none() && !self.ext.compresses(len) {
            self.check_room(len)?;
            self.buffered += len;
            self.queue_frame_copied(true, 0, opcode, payload, len);
            return Ok(());
        }
        self.send_data_cold(opcode, payload)
    }

    /// [`send_slice`](Self::send_slice)'s general path, kept out of line.
    #[inline(never)]
    fn send_data_cold(&mut self, opcode: u8, payload: &[u8]) -> Result<(), SendError> {
        self.send_data(opcode, Data::Borrowed(payload))
    }

    #[inline]
    fn send_data(&mut self, opcode: u8, payload: Data<'_>) -> Result<(), SendError> {
        if self.stream.is_some() {
            return Err(SendError::StreamInProgress);
        }
        self.check_room(payload.len())?;
        if self.ext.compresses(payload.len()) {
            let mut out = BytesMut::new();
            self.ext.compress(payload.as_slice(), &mut out);
            self.queue_data(opcode, Data::Owned(out.freeze()), true, RSV1, Some(payload.len()));
            return Ok(());
        }
        self.queue_data(opcode, payload, true, 0, None);
        Ok(())
    }

    /// Starts a message sent in pieces.
    pub(super) fn begin(&mut self, kind: MessageKind) -> Result<(), SendError> {
        if self.stream.is_some() {
            return Err(SendError::StreamInProgress);
        }
        let text = kind == MessageKind::Text;
        self.stream = Some(TxStream { text, started: false, utf8: Utf8Validator::default() });
        Ok(())
    }

    /// Queues the next piece of the message sent in pieces; `fin` ends it.
    pub(super) fn piece(&mut self, data: Bytes, fin: bool) -> Result<(), SendError> {
        let Some(stream) = &self.stream else {
            return Err(SendError::NoStreamInProgress);
        };
        let (text, started) = (stream.text, stream.started);
        let mut utf8 = stream.utf8.clone();
        if text && (utf8.feed(&data).is_err() || (fin && !utf8.is_complete())) {
            return Err(SendError::InvalidUtf8);
        }
        if data.is_empty() && !fin {
            return Ok(());
        }
        self.check_room(data.len())?;
        let opcode = match (started, text) {
            (true, _) => frame::CONTINUATION,
            (false, true) => frame::TEXT,
            (false, false) => frame::BINARY,
        };
        // With permessage-deflate, a streamed message is compressed (its
        // size is unknown, so the threshold cannot apply); the compressor may
        // hold a piece back, and the first frame that goes out carries RSV1.
        if self.ext.compresses_streams() {
            let app = data.len();
            let mut out = BytesMut::new();
            self.ext.compress_chunk(&data, fin, &mut out);
            let mut started = started;
            if !out.is_empty() || fin {
                let rsv = if started { 0 } else { RSV1 };
                // Pieces the compressor held back go out with this frame.
                let app = app + core::mem::take(&mut self.held_back);
                self.buffered -= app - data.len();
                self.queue_data(opcode, Data::Owned(out.freeze()), fin, rsv, Some(app));
                started = true;
            } else {
                // Nothing went out, but the bytes are queued all the same.
                self.buffered += app;
                self.held_back += app;
            }
            self.stream = if fin { None } else { Some(TxStream { text, started, utf8 }) };
            return Ok(());
        }
        self.queue_data(opcode, Data::Owned(data), fin, 0, None);
        self.stream = if fin { None } else { Some(TxStream { text, started: true, utf8 }) };
        Ok(())
    }

    /// A message being sent in pieces is cut short by our Close: what was
    /// accepted of it goes out first (what the compressor holds, flushed
    /// as one more unfinished fragment); the peer discards the unfinished
    /// message when the Close comes (§5.4 lets a Close come between
    /// fragments).
    fn cut_stream(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        if !self.ext.compresses_streams() {
            // Every accepted piece is queued already.
            return;
        }
        let mut out = BytesMut::new();
        self.ext.flush(&mut out);
        let app = core::mem::take(&mut self.held_back);
        if out.is_empty() {
            self.buffered -= app;
            return;
        }
        let (opcode, rsv) = match (stream.started, stream.text) {
            (true, _) => (frame::CONTINUATION, 0),
            (false, true) => (frame::TEXT, RSV1),
            (false, false) => (frame::BINARY, RSV1),
        };
        // `app` is in `buffered` already.
        self.buffered -= app;
        self.queue_data(opcode, Data::Owned(out.freeze()), false, rsv, Some(app));
    }

    /// Whether `len` more bytes may be queued under the high-water mark:
    /// the queue's whole cost (`queued_bytes`) counts, and anything fits an
    /// empty queue.
    #[inline]
    pub(super) fn check_room(&mut self, len: usize) -> Result<(), SendError> {
        if let Some(high_water) = self.high_water {
            let queued = self.queued_bytes();
            if queued > 0 && queued.saturating_add(len) > high_water {
                self.blocked = true;
                return Err(SendError::Full { queued, len, high_water });
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Control frames
    // ------------------------------------------------------------------

    /// Queues a Ping or Pong the application asked for, subject to the mark.
    pub(super) fn control(&mut self, opcode: u8, payload: &[u8]) -> Result<(), SendError> {
        self.check_room(payload.len())?;
        self.queue_control(opcode, payload);
        Ok(())
    }

    /// Queues a control frame (never refused: an automatic Pong, a
    /// keepalive Ping).
    pub(super) fn queue_control(&mut self, opcode: u8, payload: &[u8]) {
        self.queue_frame_copied(true, 0, opcode, payload, 0);
    }

    /// Queues our Close frame, after everything queued before it (close()
    /// discards nothing, including what a streamed message's compressor
    /// holds); nothing but control frames may follow it.
    pub(super) fn queue_close(&mut self, code: Option<CloseCode>, reason: &str) {
        self.cut_stream();
        self.open = false;
        let mut body = [0u8; frame::MAX_CONTROL_PAYLOAD];
        let len = match code {
            Some(c) => {
                // Callers checked `reason.len() <= 123`; a peer's reason came
                // in a control frame of at most 125 bytes.
                let reason = &reason.as_bytes()[..reason.len().min(MAX_REASON_LEN)];
                body[..2].copy_from_slice(&c.as_u16().to_be_bytes());
                body[2..2 + reason.len()].copy_from_slice(reason);
                2 + reason.len()
            }
            None => 0,
        };
        self.queue_control(frame::CLOSE, &body[..len]);
    }

    // ------------------------------------------------------------------
    // Framing
    // ------------------------------------------------------------------

    /// Queues message data as frames of at most `Config::fragment_size`;
    /// the first carries `rsv`, the last `fin`. `app` is the application
    /// bytes the data stands for (`buffered_amount`): `None` when it is the
    /// data itself (each frame counts its payload), `Some(n)` for compressed
    /// data (all `n` count until the last frame is polled).
    #[inline]
    fn queue_data(&mut self, opcode: u8, payload: Data<'_>, fin: bool, rsv: u8, app: Option<usize>) {
        let total = payload.len();
        let size = self.fragment_size;
        if total <= size {
            // One frame: no slicing (a reference count up and down).
            self.buffered += app.unwrap_or(total);
            self.queue_frame(fin, rsv, opcode, payload, app.unwrap_or(total));
            return;
        }
        let mut start: usize = 0;
        let (mut op, mut rsv) = (opcode, rsv);
        loop {
            let end = total.min(start.saturating_add(size));
            let last = end == total;
            let frame_app = match app {
                None => end - start,
                Some(n) if last => n,
                Some(_) => 0,
            };
            self.queue_frame(fin && last, rsv, op, payload.slice(start..end), frame_app);
            if last {
                break;
            }
            (op, rsv, start) = (frame::CONTINUATION, 0, end);
        }
        self.buffered += app.unwrap_or(total);
    }

    /// Queues one data frame carrying `payload`, of which `app` bytes count
    /// in `buffered_amount`.
    #[inline(always)]
    fn queue_frame(&mut self, fin: bool, rsv: u8, opcode: u8, payload: Data<'_>, app: usize) {
        if self.role == Role::Client {
            match payload {
                Data::Owned(bytes) if self.mask_later && bytes.len() > MASK_LATER_MIN => {
                    self.queue_masked(fin, rsv, opcode, bytes, app);
                }
                _ => self.queue_frame_copied(fin, rsv, opcode, payload.as_slice(), app),
            }
        } else if payload.len() <= COALESCE_MAX {
            self.queue_frame_copied(fin, rsv, opcode, payload.as_slice(), app);
        } else {
            let payload = payload.into_bytes();
            let mut head = [0u8; frame::MAX_HEADER_LEN];
            let n = frame::encode_header(&mut head, fin, rsv, opcode, None, payload.len());
            self.append(&head[..n]);
            self.overhead += QUEUE_SLOT;
            self.push(Pending::Payload { bytes: payload, app, extra: QUEUE_SLOT });
        }
    }

    /// A client's large payload held as `Bytes`: its header goes into `buf`,
    /// the payload is queued as it is and masked when it leaves.
    #[inline(never)]
    fn queue_masked(&mut self, fin: bool, rsv: u8, opcode: u8, payload: Bytes, app: usize) {
        let key = self.next_mask();
        let mut head = [0u8; frame::MAX_HEADER_LEN];
        let n = frame::encode_header(&mut head, fin, rsv, opcode, Some(key), payload.len());
        self.append(&head[..n]);
        self.overhead += QUEUE_SLOT;
        self.push(Pending::Masked { bytes: payload, key, offset: 0, app, extra: QUEUE_SLOT });
    }

    /// Writes header and (masked, for a client) payload into `buf`.
    #[inline(always)]
    fn queue_frame_copied(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8], app: usize) {
        let mask = match self.role {
            Role::Client => Some(self.next_mask()),
            Role::Server => None,
        };
        let start = self.buf.len();
        // Room for a run of small frames at once: the buffer is reclaimed
        // (or grown) once per run, not per frame.
        let need = frame::header_len(payload.len(), mask.is_some()) + payload.len();
        if self.buf.capacity() - start < need {
            self.buf.reserve(need.max(TX_RESERVE));
        }
        let b0 = (u8::from(fin) << 7) | ((rsv & 0x7) << 4) | (opcode & 0xF);
        let n = if payload.len() <= SHORT {
            put_short_frame(&mut self.buf, b0, payload, mask)
        } else {
            let mut head = [0u8; frame::MAX_HEADER_LEN];
            let n = frame::encode_header(&mut head, fin, rsv, opcode, mask, payload.len());
            self.buf.extend_from_slice(&head[..n]);
            match mask {
                Some(key) => extend_masked(&mut self.buf, payload, key),
                None => self.buf.extend_from_slice(payload),
            }
            n
        };
        // Control payloads are not message payload: they count as overhead,
        // like every header. (Compressed data counts its uncompressed size
        // in `buffered` instead, see `queue_data`.)
        let extra = if frame::is_control(opcode) { n + payload.len() } else { n };
        self.note(n + payload.len(), app, extra);
    }

    /// Queues raw bytes (an HTTP head); all of them count as overhead.
    pub(super) fn append(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.note(bytes.len(), 0, bytes.len());
    }

    /// Queues raw bytes written elsewhere (an HTTP head) as their own
    /// `Transmit`, without a copy; all of them count as overhead.
    pub(super) fn append_owned(&mut self, bytes: Bytes) {
        let extra = bytes.len() + QUEUE_SLOT;
        self.overhead += extra;
        self.push(Pending::Payload { bytes, app: 0, extra });
    }

    /// Records that `len` more bytes of `buf` are queued, `app` of them
    /// counted in `buffered` and `extra` in `overhead`.
    #[inline(always)]
    fn note(&mut self, len: usize, app: usize, extra: usize) {
        if let Some(run) = &mut self.tail {
            run.len += len;
            run.app += app;
            run.extra += extra;
            self.overhead += extra;
        } else {
            let extra = extra + QUEUE_SLOT;
            self.overhead += extra;
            self.tail = Some(Run { len, app, extra });
        }
    }

    #[inline]
    fn next_mask(&mut self) -> [u8; 4] {
        if self.masks_used + 4 > self.masks.len() {
            self.masks.resize(MASK_BATCH, 0);
            if let Some(e) = &mut self.entropy {
                e.fill(&mut self.masks);
            }
            self.masks_used = 0;
        }
        let m = &self.masks[self.masks_used..self.masks_used + 4];
        self.masks_used += 4;
        [m[0], m[1], m[2], m[3]]
    }
}

/// The longest payload with a one-byte length (RFC 6455 §5.2).
const SHORT: usize = 125;

/// Appends a frame whose payload fits the one-byte length (at most
/// [`SHORT`] bytes), a machine word at a time: the general path's header
/// encoder and masking loop cost more than the whole frame at these sizes
/// (a 16-byte message: three appends and a loop set-up for 22 bytes), and a
/// frame assembled on the stack first would be read back before its
/// byte-wise stores retire. Room for the frame is reserved. Returns the
/// header's length.
#[inline(always)]
fn put_short_frame(out: &mut BytesMut, b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> usize {
    debug_assert!(payload.len() <= SHORT);
    let len = payload.len() as u8;
    let Some(key) = mask else {
        out.extend_from_slice(&[b0, len]);
        out.extend_from_slice(payload);
        return 2;
    };
    out.extend_from_slice(&[b0, 0x80 | len, key[0], key[1], key[2], key[3]]);
    // Every word starts at a payload offset that is a multiple of 8, so of
    // 4: the key's phase is 0 in each.
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    let k128 = u128::from(k64) | (u128::from(k64) << 64);
    // Sixteen bytes per append (one capacity check each), then eight, then
    // single bytes.
    let mut pairs = payload.chunks_exact(16);
    for s in &mut pairs {
        let Ok(s) = <[u8; 16]>::try_from(s) else { break };
        out.extend_from_slice(&(u128::from_ne_bytes(s) ^ k128).to_ne_bytes());
    }
    let mut rest = pairs.remainder();
    if let Some((s, tail)) = rest.split_first_chunk::<8>() {
        out.extend_from_slice(&(u64::from_ne_bytes(*s) ^ k64).to_ne_bytes());
        rest = tail;
    }
    for (b, k) in rest.iter().zip(key.iter().cycle()) {
        out.extend_from_slice(&[b ^ k]);
    }
    6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::apply_mask;
    use alloc::vec::Vec;

    /// The general path: the header encoder, then the payload, masked.
    fn general(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut head = [0u8; frame::MAX_HEADER_LEN];
        let n = frame::encode_header(&mut head, b0 & 0x80 != 0, (b0 >> 4) & 7, b0 & 0xF, mask, payload.len());
        let mut out = head[..n].to_vec();
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut out[start..], key, 0);
        }
        out
    }

    #[test]
    fn short_frames_match_the_general_path_at_every_length() {
        let payload: Vec<u8> = (0..=SHORT as u8).map(|i| i.wrapping_mul(37) ^ 0x5c).collect();
        for len in 0..=SHORT {
            for b0 in [0x81, 0x82, 0x01, 0x80, 0xC1, 0x89, 0x8A] {
                for mask in [None, Some([0x37, 0xfa, 0x21, 0x3d]), Some([0, 0, 0, 0]), Some([0xff; 4])] {
                    let mut out = BytesMut::from(&b"prefix"[..]);
                    let n = put_short_frame(&mut out, b0, &payload[..len], mask);
                    let want = general(b0, &payload[..len], mask);
                    assert_eq!(n, if mask.is_some() { 6 } else { 2 });
                    assert_eq!(&out[..6], b"prefix");
                    assert_eq!(&out[6..], &want[..], "len {len} b0 {b0:#x} mask {mask:?}");
                }
            }
        }
    }
}
