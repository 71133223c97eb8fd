//! The receiving part: bytes in, frames decoded, messages out (RFC 6455
//! §5, §7).
//!
//! [`Receiver`] owns everything about input: the input buffer, the frame
//! whose payload is arriving, the message being assembled, the one UTF-8
//! state, the split code point of streaming receive, and the receiving
//! side of the extensions (the inflater). Its one entry,
//! [`next`](Receiver::next), turns buffered input into the next
//! [`Incoming`] item or asks for more bytes; it never decides what the
//! connection does with them (answering a Ping, echoing a Close, failing):
//! that is [`Connection`](super::Connection)'s.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};

use super::retain::Retention;
use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::event::{CloseFrame, Message, MessageKind, Text};
use crate::extension::{RSV1, RxExtensions};
use crate::frame::{self, Header, Rules};
use crate::mask::{apply_mask, extend_unmasked, extend_unmasked_is_ascii, unmask_into_is_ascii, unmask_is_ascii};
use crate::utf8::{self, Utf8Validator};

/// Input buffers grow by at least this much (up to what a frame in
/// progress still needs) beyond what they hold.
pub(super) const RX_GROWTH: usize = 64 * 1024;

/// A new input buffer has room for what it holds to grow by this much
/// (or by what it holds, if less) beyond what was asked.
const RX_SLACK: usize = 4 * 1024;

/// Input buffers larger than this are released once empty, so an idle
/// connection does not keep a large message's worth of memory.
const RX_KEEP_CAPACITY: usize = 64 * 1024;

/// The most inflated bytes handed over at once in streaming mode.
const INFLATE_CHUNK: usize = 64 * 1024;

/// What the input held next, in order.
#[derive(Debug)]
pub(super) enum Incoming {
    /// A whole message (assembled receive).
    Message(Message),
    /// Streaming receive: a message starts.
    Start(MessageKind),
    /// Streaming receive: more of it (text never split inside a code point).
    Chunk(Message),
    /// Streaming receive: the message ended.
    End,
    /// A Ping and its payload.
    Ping(Bytes),
    /// A Pong and its payload.
    Pong(Bytes),
    /// The peer's Close, valid (§5.5.1, §7.4). Nothing after it is read.
    Close(CloseFrame),
}

/// The receive limits and modes, from [`Config`].
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_frame_size: usize,
    max_message_size: usize,
    max_fragments: usize,
    streaming: bool,
}

/// The receiving part of a connection.
#[derive(Debug)]
pub(super) struct Receiver {
    /// Which end receives (a server expects masked frames, §5.1).
    role: Role,
    limits: Limits,
    /// Bytes fed and not yet taken.
    buf: BytesMut,
    /// The size of the allocation `buf` was last given (0: none or
    /// unknown), to tell at reuse whether something still holds it.
    alloc: usize,
    /// Whether payloads handed out are slices of `buf` or copies.
    retention: Retention,
    /// Where the buffer last lent starts (its address; 0: none), to tell a
    /// lent buffer handed back, which shares `alloc`, from the caller's own.
    lent_at: usize,
    /// The frame whose header is decoded and whose payload is arriving.
    frame: Option<FrameProgress>,
    /// The message in progress (started by its first frame's header).
    assembly: Option<Assembly>,
    /// UTF-8 state of the text message in progress.
    utf8: Utf8Validator,
    /// Streaming receive: the start of a code point split by the network.
    tail: [u8; 4],
    tail_len: u8,
    /// Items found but not yet returned (streaming produces up to two at
    /// once).
    pending: VecDeque<Incoming>,
    /// An error found behind `pending` items: reported once they are taken.
    failed: Option<ProtocolError>,
    /// The receiving side of the agreed extensions.
    ext: RxExtensions,
    /// The payload of the message `Connection::poll_event_ref` lends last,
    /// when it was a whole frame of at most [`BORROW_MAX`] bytes in `buf`:
    /// copied out of `buf` (and unmasked here), so that `buf` can move on
    /// and no reference count is taken.
    /// A short frame's payload is unmasked into room kept initialised (at
    /// least 125 bytes once used).
    borrowed: Vec<u8>,
    /// `Connection::read_from`'s own buffer, initialised once (given back
    /// when idle). While a fragmented message is assembled its reads land
    /// here and go straight into the message; between messages, for a
    /// connection read with `poll_event_ref`, the input itself stays here,
    /// `side[side_at..side_end]`, *behind* `buf`, and whole messages are
    /// lent from it in place ([`borrow_side`](Self::borrow_side)). Whatever
    /// else needs the input moves it into `buf` first
    /// ([`settle`](Self::settle)): every entry point that reads or
    /// appends input does, so its order never changes.
    side: Vec<u8>,
    side_at: u32,
    side_end: u32,
}

/// Where the message [`Receiver::next_borrowed`] took is: its payload is
/// [`Receiver::borrowed`].
#[derive(Clone, Copy)]
pub(super) struct Borrowed {
    /// A text message (valid UTF-8).
    pub(super) text: bool,
    /// Lent from `side` (it ends at `side_at`), not copied into `borrowed`
    /// (where it starts at 0).
    in_side: bool,
    /// Its length (at most `side`'s 64 KiB).
    len: u32,
}

/// The largest payload [`Receiver::next_borrowed`] takes: a copy this size
/// (then unmasked in place, still in the cache) costs less than the two
/// atomic reference-count updates of a slice of `buf` (rivals bench, W2:
/// 1 KiB messages read about 20 % faster copied than lent as slices).
pub(super) const BORROW_MAX: usize = 4 * 1024;

/// A frame whose header is decoded.
#[derive(Clone, Copy, Debug)]
struct FrameProgress {
    header: Header,
    /// Payload length (fits: it is at most `max_frame_size`).
    len: usize,
    /// Payload bytes at the front of `buf` already unmasked and validated.
    done: usize,
    /// Payload bytes already handed over (streaming), for the mask's phase.
    offset: usize,
    /// Validate as UTF-8 text while it arrives.
    text: bool,
    /// Part of a compressed message (permessage-deflate): inflate it.
    compressed: bool,
    /// Streaming a compressed message: the final frame's inflation ended.
    inflate_done: bool,
}

/// The message being received.
#[derive(Debug)]
struct Assembly {
    text: bool,
    /// The message so far (assembled mode) when it is compressed: its
    /// frames are inflated into it.
    data: BytesMut,
    /// The message so far (assembled mode) when it is not compressed: a
    /// fragment's bytes are unmasked into it as they arrive, in one pass
    /// (`extend_unmasked`, which a vector's trusted-length `extend` makes
    /// possible in safe code).
    plain: Vec<u8>,
    /// A text message all ASCII so far (as far as `append` knows).
    ascii: bool,
    /// Its size on the wire so far, counted at each frame header.
    size: usize,
    /// Its frames so far (bounded by `Config::max_fragments`).
    frames: usize,
    /// Compressed (RSV1 on its first frame, RFC 7692 §6).
    compressed: bool,
}

/// A short masked data frame at the front of the input, its payload
/// unmasked (see `Receiver::short_frame_unmasked`).
#[derive(Clone, Copy)]
struct Short {
    text: bool,
    /// The payload is all ASCII.
    ascii: bool,
    len: usize,
    key: [u8; 4],
}

impl Short {
    /// Text whose UTF-8 is still to be checked (not all ASCII).
    #[inline(always)]
    fn unchecked_text(self) -> bool {
        self.text && !self.ascii
    }
}

impl Assembly {
    /// Appends `bytes` of the fragment `p` (from its byte `p.offset`),
    /// unmasked, in one pass. Room is made for more of the fragment at
    /// once, but no more than the message so far: memory follows the bytes
    /// that came.
    ///
    /// True when the bytes appended are text known to be all ASCII,
    /// learnt in the same pass while the message has been ASCII so far
    /// (see [`extend_unmasked_is_ascii`]); false when not known.
    #[inline]
    fn append(&mut self, p: &FrameProgress, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return self.text && self.ascii;
        }
        let start = self.plain.len();
        self.plain.reserve(bytes.len().max(p.len.min(start.max(RX_GROWTH))));
        match p.header.mask {
            Some(key) if self.text && self.ascii => {
                self.ascii = extend_unmasked_is_ascii(&mut self.plain, bytes, key, p.offset);
                self.ascii
            }
            Some(key) => {
                extend_unmasked(&mut self.plain, bytes, key, p.offset);
                false
            }
            None => {
                self.plain.extend_from_slice(bytes);
                false
            }
        }
    }
}

/// What one step of [`Receiver::step`] did.
enum Step {
    /// An item to return.
    Item(Incoming),
    /// Progress without an item (a fragment taken, a header decoded).
    Progress,
    /// More bytes are needed.
    NeedMore,
}

impl Receiver {
    pub(super) fn new(role: Role, config: &Config) -> Self {
        Self {
            role,
            limits: Limits {
                max_frame_size: config.max_frame_size,
                max_message_size: config.max_message_size,
                max_fragments: config.max_fragments,
                streaming: config.streaming_receive,
            },
            buf: BytesMut::new(),
            alloc: 0,
            retention: Retention::default(),
            lent_at: 0,
            frame: None,
            assembly: None,
            utf8: Utf8Validator::default(),
            tail: [0; 4],
            tail_len: 0,
            pending: VecDeque::new(),
            failed: None,
            ext: RxExtensions::default(),
            borrowed: Vec::new(),
            side: Vec::new(),
            side_at: 0,
            side_end: 0,
        }
    }

    /// Runs the receiving side of the agreed extensions.
    pub(super) fn set_extensions(&mut self, ext: RxExtensions) {
        self.ext = ext;
    }

    /// The bytes fed and not yet taken (the handshake parsers read them;
    /// input only stays in `side` once open).
    pub(super) fn buffered(&self) -> &[u8] {
        debug_assert!(!self.side_pending());
        &self.buf
    }

    /// Drops the first `n` buffered bytes (a parsed HTTP head).
    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(!self.side_pending());
        self.buf.advance(n);
    }

    /// Whether every byte fed has been taken.
    #[inline(always)]
    pub(super) fn is_drained(&self) -> bool {
        self.buf.is_empty() && !self.side_pending()
    }

    /// Whether input read into `side` is still there.
    #[inline(always)]
    fn side_pending(&self) -> bool {
        self.side_at < self.side_end
    }

    /// Moves the input still in `side` behind `buf`, where the general
    /// path takes it.
    fn settle(&mut self) {
        if self.side_pending() {
            let side = core::mem::take(&mut self.side);
            let (at, end) = (self.side_at as usize, self.side_end as usize);
            (self.side_at, self.side_end) = (0, 0);
            self.push_now(&side[at..end]);
            self.side = side;
        }
    }

    #[cfg(feature = "std")]
    /// `read_from`'s buffer, at least `size` bytes, initialised (zeroed the
    /// first time), to read into and hand back with
    /// [`side_read`](Self::side_read) or [`restore_side`](Self::restore_side).
    pub(super) fn take_side(&mut self, size: usize) -> Vec<u8> {
        debug_assert!(!self.side_pending());
        let mut side = core::mem::take(&mut self.side);
        if side.len() < size {
            side = alloc::vec![0; size];
        }
        side
    }

    #[cfg(feature = "std")]
    /// Gives back the buffer [`take_side`](Self::take_side) lent, its
    /// contents not input.
    pub(super) fn restore_side(&mut self, side: Vec<u8>) {
        self.side = side;
    }

    #[cfg(feature = "std")]
    /// Whether `read_from` may read into `side` and leave the input there
    /// (for an application that takes messages with `poll_event_ref`):
    /// nothing is left there from the last read, no message is being assembled or
    /// streamed, and what is buffered (if anything) is the start of a frame
    /// (a header cut by the last read, or a payload still arriving) that
    /// the read continues ([`side_read`](Self::side_read)). A large frame's
    /// payload is then copied from `side` into the input buffer (a binary
    /// one unmasked on the way, see [`push_now`](Self::push_now)), which
    /// costs less than zeroing the room to read into there.
    #[inline]
    pub(super) fn takes_side(&self) -> bool {
        !self.side_pending()
            && self.assembly.is_none()
            && !self.limits.streaming
            && match self.frame {
                None => self.buf.len() < frame::MAX_HEADER_LEN,
                Some(_) => self.frame_rest() > 0,
            }
    }

    #[cfg(feature = "std")]
    /// `n` bytes were read into `side` (see [`takes_side`](Self::takes_side)):
    /// they are the input now, behind `buf`. The rest of a frame whose
    /// start is buffered moves behind it at once, if the read holds it, so
    /// that the frame is whole there and the next one starts in `side`;
    /// else (or if that start is not a valid header) all of it does.
    pub(super) fn side_read(&mut self, side: Vec<u8>, n: usize) {
        debug_assert!(n <= side.len() && side.len() <= u32::MAX as usize);
        self.side = side;
        (self.side_at, self.side_end) = (0, n as u32);
        if self.buf.is_empty() && self.frame.is_none() {
            return;
        }
        let rest = match self.frame {
            Some(_) => Some(self.frame_rest()),
            None => self.cut_frame_rest(),
        };
        match rest {
            Some(rest) if rest <= n => {
                let side = core::mem::take(&mut self.side);
                self.push_now(&side[..rest]);
                self.side = side;
                self.side_at = rest as u32;
            }
            _ => self.settle(),
        }
    }

    #[cfg(feature = "std")]
    /// With the start of a header buffered (fewer bytes than the longest
    /// header) and the input going on in `side`: how many bytes of `side`
    /// the frame still takes, if its header is valid.
    fn cut_frame_rest(&self) -> Option<usize> {
        let mut head = [0u8; frame::MAX_HEADER_LEN];
        let have = self.buf.len();
        let more = (frame::MAX_HEADER_LEN - have).min(self.side_end as usize);
        head[..have].copy_from_slice(&self.buf);
        head[have..have + more].copy_from_slice(&self.side[..more]);
        let Ok(Some((header, header_len))) = frame::decode_header(&head[..have + more], &self.rules()) else {
            return None;
        };
        let len = usize::try_from(header.len).ok()?;
        header_len.checked_add(len)?.checked_sub(have)
    }

    fn rules(&self) -> Rules {
        Rules { receiver: self.role, rsv_allowed: self.ext.rsv_allowed(), max_frame_size: self.limits.max_frame_size }
    }

    // ------------------------------------------------------------------
    // Input
    // ------------------------------------------------------------------

    /// Appends bytes read from the transport. With nothing buffered and a
    /// fragmented message being assembled, the bytes of its fragments go
    /// straight from `data` into the message (unmasked on the way, one
    /// pass), not through the input buffer: see
    /// [`assemble_from`](Self::assemble_from).
    pub(super) fn push(&mut self, data: &[u8]) {
        self.settle();
        self.push_now(data);
    }

    /// [`push`](Self::push) with nothing in `side`. The bytes of a binary
    /// frame held whole until it completes are unmasked as they are
    /// appended, in the copy's pass, when all of it buffered so far is
    /// unmasked (bytes handed over in a buffer, `push_owned`, are unmasked
    /// in place by `step` instead): `read_from` reading 1 MiB binary
    /// messages (`benches/rivals` W3, interleaved runs of 9) 2.89–2.98 ms →
    /// 2.64–2.72 ms, and 3.78–3.82 ms → 3.51–3.52 ms where the heap puts
    /// the buffers less favourably. Text is left to `step`, which
    /// validates what it unmasks and fails at once on invalid UTF-8.
    fn push_now(&mut self, mut data: &[u8]) {
        if self.takes_slices() {
            data = &data[self.assemble_from(data)..];
            if data.is_empty() {
                return;
            }
        }
        // Room for (more of) the rest of a large frame at once, fewer
        // copies from growing a step at a time; see `frame_room`.
        let room = self.frame_room();
        self.reserve(data.len(), data.len().max(room));
        if let Some((key, take)) = self.unmasks_on_arrival(data.len()) {
            // The rest (or more) of a binary frame whose buffered payload
            // is all unmasked: unmasked as it is appended, one pass.
            let (rest, after) = data.split_at(take);
            let at = self.buf.len();
            extend_unmasked(&mut self.buf, rest, key, at);
            if let Some(p) = self.frame.as_mut() {
                p.done = self.buf.len();
            }
            data = after;
        }
        self.buf.extend_from_slice(data);
    }

    /// With the payload of an uncompressed binary frame arriving, kept in
    /// `buf` until it completes (not streamed, not a fragment assembled)
    /// and all of it there so far unmasked: its key and how many of `n`
    /// bytes appended belong to it.
    #[inline]
    fn unmasks_on_arrival(&self, n: usize) -> Option<([u8; 4], usize)> {
        let p = self.frame.as_ref()?;
        let key = p.header.mask?;
        let have = self.buf.len();
        (!p.text && !p.compressed && p.done == have && have < p.len && !self.streams(p) && !self.assembles(p))
            .then(|| (key, n.min(p.len - have)))
    }

    /// Whether input handed over as a slice ([`push`](Self::push)) would go
    /// straight into the message being assembled: nothing is buffered and
    /// an uncompressed fragmented message is in progress (assembled
    /// delivery). `Connection::read_from` then reads into a buffer of its
    /// own, initialised once, rather than zeroing room in the input buffer
    /// for every read.
    #[inline]
    pub(super) fn takes_slices(&self) -> bool {
        self.buf.is_empty()
            && !self.side_pending()
            && !self.limits.streaming
            && self.assembly.as_ref().is_some_and(|a| !a.compressed)
    }

    /// With nothing buffered, takes from the front of `data` what belongs
    /// to the fragmented message being assembled: the rest of the fragment
    /// in progress, unmasked into the message, then each continuation
    /// frame whose header is whole in `data` and accepted (§5.4, the
    /// message size and fragment limits), as `step` would, one after the
    /// other, up to the end of the message, of `data`, or anything else (a
    /// control frame, a header cut by the read, an error): that is left,
    /// with the rest, to the input buffer and `step`, which reports errors
    /// in order. Text is validated as it is taken; invalid UTF-8 stops it
    /// and is reported by the next [`next`](Self::next). Returns how many
    /// bytes it took.
    fn assemble_from(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        loop {
            match self.frame {
                Some(mut p) => {
                    if !self.assembles(&p) || p.len == 0 {
                        // A control frame in progress, or a fragment whose
                        // end `step` has to act on.
                        return used;
                    }
                    let Some(a) = self.assembly.as_mut() else { return used };
                    let take = (data.len() - used).min(p.len);
                    let start = a.plain.len();
                    let ascii = a.append(&p, &data[used..used + take]);
                    used += take;
                    if a.text && !(ascii && self.utf8.is_complete()) && self.utf8.feed(&a.plain[start..]).is_err() {
                        // Reported by the next step, after anything before
                        // it (as `next` does with an error behind items).
                        self.failed = Some(ProtocolError::InvalidUtf8);
                        return used;
                    }
                    p.offset += take;
                    p.len -= take;
                    if p.len > 0 || p.header.fin {
                        // `data` is used up, or the message ends: `step`
                        // delivers it.
                        self.frame = Some(p);
                        return used;
                    }
                    // A fragment complete, more to come (as `step_assemble`).
                    self.frame = None;
                }
                None => {
                    let rules = self.rules();
                    let Ok(Some((header, header_len))) = frame::decode_header(&data[used..], &rules) else {
                        return used;
                    };
                    if header.opcode != frame::CONTINUATION {
                        return used;
                    }
                    // On an error it changes nothing: `step` decodes the
                    // header again and reports it.
                    let Ok(progress) = self.accept_header(header) else { return used };
                    used += header_len;
                    self.frame = Some(progress);
                }
            }
        }
    }

    /// Appends a buffer the caller read into (zero-copy when it follows
    /// the buffered input, as [`lend`](Self::lend)'s buffers do).
    pub(super) fn push_owned(&mut self, data: BytesMut) {
        self.settle();
        let lent = data.as_ptr() as usize == core::mem::take(&mut self.lent_at);
        if self.buf.is_empty() {
            if !lent {
                // The caller's own allocation, not the one `alloc` describes.
                self.alloc = data.capacity();
            }
            self.buf = data;
        } else {
            self.buf.unsplit(data);
        }
    }

    /// The spare capacity right behind the buffered input, at least `min`
    /// bytes (see `Connection::read_buffer`).
    pub(super) fn lend(&mut self, min: usize) -> BytesMut {
        self.settle();
        let (need, want, end_of_frame) = match self.frame_rest() {
            0 => (min, min, false),
            // The end of a large frame: room for just its rest, rather than
            // moving the partial frame to make room behind it.
            rest if rest < min && self.buf.len() > min => (rest, rest, true),
            _ => (min, self.frame_room().max(min), false),
        };
        self.reserve(need, want);
        // With nothing buffered (between reads of whole frames, the common
        // case) the whole buffer is lent, not split: no reference count to
        // raise here and drop in `push_owned`. What is left, empty, has no
        // capacity either way.
        let mut lent =
            if self.buf.is_empty() { core::mem::take(&mut self.buf) } else { self.buf.split_off(self.buf.len()) };
        if end_of_frame {
            // And no more: the next frame's start would land behind this
            // one's end, where the allocation ends, and be moved to its
            // front when the next large frame needs the room.
            drop(lent.split_off(want));
        }
        self.lent_at = lent.as_ptr() as usize;
        lent
    }

    /// Makes room for at least `need` more bytes, and for `want` (at least
    /// `need`) if it has to allocate. When a new allocation would be
    /// needed although the previous one is large enough for what the buffer
    /// holds (a partial frame, or nothing) and `need` more, that one is
    /// reused (moving the partial frame to its front) if nothing holds it
    /// any more; if something does (the application kept a payload sliced
    /// out of it), [`Retention`] learns of it and small payloads are copied
    /// out from then on. A new allocation is what is wanted plus
    /// [`RX_SLACK`] at most.
    #[inline]
    fn reserve(&mut self, need: usize, want: usize) {
        if self.buf.capacity() - self.buf.len() >= need {
            return;
        }
        // Whether nothing but the buffer holds its allocation: nothing was
        // sliced off its front, or the check below found it free.
        let mut unique = self.alloc > 0 && self.buf.capacity() == self.alloc;
        if self.alloc >= self.buf.len().saturating_add(need) {
            // All of it if it can be had, so that reads land at its front
            // again (in cache, and a large frame that starts there has its
            // room behind it), else just what is wanted.
            let reused = self.buf.try_reclaim(self.alloc - self.buf.len()) || self.buf.try_reclaim(need);
            self.retention.checked(!reused);
            if reused {
                return;
            }
            // Held: a new buffer beside it.
            unique = false;
        } else if self.alloc > 0 && self.buf.capacity() < self.alloc {
            // Too small for what is wanted: a new allocation follows either
            // way. Payloads were sliced off its front (the buffer no longer
            // starts where it does); whether they still hold it is learnt
            // all the same, else a driver whose every read asks for about
            // a whole buffer's room (a read that ends inside a frame leaves
            // it non-empty) would never be found keeping them, and every
            // buffer would stay pinned.
            let reusable = self.buf.try_reclaim(self.alloc - self.buf.len());
            self.retention.checked(!reusable);
            unique = reusable;
        }
        // A new allocation of what is wanted, and up to 4 KiB more for
        // what the buffer holds to grow (else a driver asking for the same
        // room each time, a partial frame left behind each read a few
        // bytes longer than the last, would need a new allocation for
        // every read). `want` already grows geometrically with what the
        // buffer holds (`frame_room`); `BytesMut::reserve` would double the
        // old allocation's capacity on top of that, which compounds (a
        // buffer twice what a read and a frame need, then twice that).
        let len = self.buf.len();
        let size = len.saturating_add(want).saturating_add(len.min(RX_SLACK));
        if unique {
            // Grown where it is when the allocator can (a large block is
            // remapped, not copied), as `BytesMut::reserve` would, but to
            // this size.
            let mut grown = Vec::from(core::mem::take(&mut self.buf));
            grown.reserve_exact(size - grown.len());
            // Neither conversion copies: the vector becomes the `Bytes`'s
            // storage, which the only owner takes back as a `BytesMut`.
            self.buf = BytesMut::from(Bytes::from(grown));
        } else {
            let mut grown = BytesMut::with_capacity(size);
            grown.extend_from_slice(&self.buf);
            self.buf = grown;
        }
        self.alloc = self.buf.capacity();
    }

    /// How much room to make for the frame in progress: its rest, but no
    /// more than the input already held (or [`RX_GROWTH`]). Memory follows
    /// what the peer actually sent, at most about twice over: a header
    /// declaring a huge frame costs nothing until its bytes come. A buffer
    /// reused in steady state is already big enough: then the whole rest.
    fn frame_room(&mut self) -> usize {
        let rest = self.frame_rest();
        // The whole rest if the buffer's allocation already has room for it
        // (moving the partial frame to its front if need be): no
        // allocation, and the frame then lands without moving again.
        if rest > 0 && self.buf.try_reclaim(rest) {
            return rest;
        }
        rest.min(self.buf.len().max(RX_GROWTH))
    }

    /// Bytes still to come of the frame whose payload is arriving, when
    /// they are kept in the buffer until it completes (not when streaming
    /// or assembling a fragmented message, where they are taken as they
    /// come).
    fn frame_rest(&self) -> usize {
        match &self.frame {
            Some(p) if !self.streams(p) && !self.assembles(p) => p.len.saturating_sub(self.buf.len()),
            _ => 0,
        }
    }

    /// Between frames with nothing buffered: a large buffer is given back.
    pub(super) fn release_large(&mut self) {
        if self.buf.is_empty() && self.frame.is_none() && self.buf.capacity() > RX_KEEP_CAPACITY {
            // The next buffer is a new allocation, never checked for reuse:
            // whether payloads sliced out of this one still hold it is
            // learnt here, else with reads of over 64 KiB that end with a
            // message, every message kept would pin a whole read buffer.
            if self.alloc > 0 && self.buf.capacity() < self.alloc {
                let free = self.buf.try_reclaim(self.alloc);
                self.retention.checked(!free);
            }
            self.release();
        }
    }

    /// Between frames with nothing buffered: the buffer is given back
    /// (an idle connection).
    pub(super) fn release_idle(&mut self) {
        if self.is_drained() && self.frame.is_none() {
            self.release();
            self.borrowed = Vec::new();
            self.side = Vec::new();
        }
    }

    fn release(&mut self) {
        self.buf = BytesMut::new();
        self.alloc = 0;
    }

    /// Nothing more is read (the peer's Close, a failure, a plain HTTP
    /// request): everything held is dropped.
    pub(super) fn stop(&mut self) {
        self.release();
        self.borrowed = Vec::new();
        self.side = Vec::new();
        (self.side_at, self.side_end) = (0, 0);
        self.frame = None;
        self.assembly = None;
        self.pending = VecDeque::new();
        self.failed = None;
    }

    /// A payload taken off the buffer, as handed to the application: the
    /// slice itself, or, when [`Retention`] found slices kept, a copy of a
    /// small one, so that it does not keep the whole buffer alive.
    #[inline(always)]
    fn detach(&mut self, payload: Bytes, control: bool) -> Bytes {
        if !self.retention.shares() && self.retention.copies(payload.len(), self.alloc, control) {
            Bytes::copy_from_slice(&payload)
        } else {
            payload
        }
    }

    // ------------------------------------------------------------------
    // Frames
    // ------------------------------------------------------------------

    /// The next item the buffered input holds, `None` when more bytes are
    /// needed. The partial payload seen so far is unmasked and, for text,
    /// validated, so invalid UTF-8 fails at once, mid-frame.
    pub(super) fn next(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        if let Some(item) = self.pending.pop_front() {
            return Ok(Some(item));
        }
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        loop {
            let step = match self.step() {
                Ok(step) => step,
                // What came before the error is delivered first.
                Err(e) if !self.pending.is_empty() => {
                    self.failed = Some(e);
                    return Ok(self.pending.pop_front());
                }
                Err(e) => return Err(e),
            };
            match step {
                Step::Item(item) => return Ok(Some(item)),
                Step::Progress => {
                    if let Some(item) = self.pending.pop_front() {
                        return Ok(Some(item));
                    }
                }
                // The input goes on in `side`: moved behind `buf` (straight
                // into a message being assembled, which may find it invalid).
                Step::NeedMore if self.side_pending() && self.pending.is_empty() => {
                    self.settle();
                    if let Some(e) = self.failed.take() {
                        return Err(e);
                    }
                }
                Step::NeedMore => return Ok(self.pending.pop_front()),
            }
        }
    }

    /// Whether [`next_whole_message`](Self::next_whole_message) may run:
    /// between messages, assembled delivery.
    #[inline]
    pub(super) fn between_messages(&self) -> bool {
        self.frame.is_none() && self.assembly.is_none() && !self.limits.streaming && self.pending.is_empty()
    }

    /// The common case in one call: when the input starts with a whole,
    /// unfragmented, uncompressed data frame, takes it and returns its
    /// message. `Ok(None)` when that is not the case ([`next`](Self::next)
    /// then runs). The caller checks
    /// [`between_messages`](Self::between_messages).
    ///
    /// A short masked frame (FIN, text or binary, 1 to 125 bytes: what a
    /// server reads most) is recognised from its first two bytes, and its
    /// payload unmasked and, for text, checked for ASCII in one pass.
    #[inline]
    pub(super) fn next_whole_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        if let Some(short) = self.short_frame_unmasked() {
            if short.unchecked_text() && !self.short_text_valid(short.len) {
                return Err(ProtocolError::InvalidUtf8);
            }
            return Ok(Some(self.take_short(short)));
        }
        self.take_one()
    }

    /// The most common case of all, small enough to be inlined where the
    /// driver polls: [`next_whole_message`](Self::next_whole_message)'s
    /// short frame, or `None`. Text that is not UTF-8 is masked back and
    /// left to the general path, which reports the frame as it came.
    #[inline(always)]
    pub(super) fn next_short_message(&mut self) -> Option<Message> {
        let short = self.short_frame_unmasked()?;
        if short.unchecked_text() && !self.short_text_valid(short.len) {
            apply_mask(&mut self.buf[6..6 + short.len], short.key, 0);
            return None;
        }
        Some(self.take_short(short))
    }

    /// [`next_whole_message`](Self::next_whole_message) for a message the
    /// caller borrows: when the input starts with a whole, unfragmented,
    /// uncompressed data frame of 1 to [`BORROW_MAX`] bytes (valid UTF-8 if
    /// text), its payload is copied into [`borrowed`](Self::borrowed)
    /// (unmasked on the way) and the frame taken off the input; returns
    /// whether it is text. `None` otherwise, the input as it was (the
    /// general path then takes the frame, or reports what is wrong with
    /// it). The caller checks
    /// [`between_messages`](Self::between_messages).
    #[inline(always)]
    pub(super) fn next_borrowed(&mut self) -> Option<Borrowed> {
        if self.buf.is_empty() {
            return self.borrow_side();
        }
        let Some((text, len, key)) = self.short_header_of(&self.buf) else {
            return self.borrow_one();
        };
        // Unmasked straight out of the input, checked for ASCII on the way,
        // into room zeroed once.
        if self.borrowed.len() < len {
            self.borrowed.resize(frame::MAX_CONTROL_PAYLOAD, 0);
        }
        let payload = &mut self.borrowed[..len];
        let ascii = unmask_into_is_ascii(payload, &self.buf[6..6 + len], key);
        if text && !ascii {
            self.utf8.reset();
            if self.utf8.feed(payload).is_err() || !self.utf8.is_complete() {
                // Reported by the general path, from the input untouched.
                return None;
            }
        }
        self.buf.advance(6 + len);
        Some(Borrowed { text, in_side: false, len: len as u32 })
    }

    /// [`next_borrowed`](Self::next_borrowed) with the input in `side`: a
    /// whole unfragmented, uncompressed data frame at its front (of any
    /// size; valid UTF-8 if text) is unmasked where it is and lent from
    /// there, no copy. Anything else moves the input behind `buf`, for the
    /// general path to take or report (invalid text masked back first, so
    /// the frame is as it came).
    #[inline]
    fn borrow_side(&mut self) -> Option<Borrowed> {
        if !self.side_pending() {
            return None;
        }
        let (at, end) = (self.side_at as usize, self.side_end as usize);
        let data = &self.side[at..end];
        let found = match self.short_header_of(data) {
            Some((text, len, key)) => Some((text, 6, len, Some(key))),
            None => match self.medium_header_of(data) {
                Some((text, len, key)) => Some((text, 8, len, Some(key))),
                None => self.whole_data_frame(data, usize::MAX),
            },
        };
        let Some((text, header_len, len, key)) = found else {
            self.settle();
            return None;
        };
        let start = at + header_len;
        let payload = &mut self.side[start..start + len];
        let ascii = match key {
            Some(key) if len <= frame::MAX_CONTROL_PAYLOAD => unmask_is_ascii(payload, key),
            Some(key) => {
                apply_mask(payload, key, 0);
                false
            }
            None => false,
        };
        if text && !ascii {
            self.utf8.reset();
            if self.utf8.feed(payload).is_err() || !self.utf8.is_complete() {
                if let Some(key) = key {
                    apply_mask(payload, key, 0);
                }
                self.settle();
                return None;
            }
        }
        self.side_at = (start + len) as u32;
        Some(Borrowed { text, in_side: true, len: len as u32 })
    }

    /// The header of the whole, unfragmented, uncompressed data frame of 1
    /// to `max` bytes (and no more than a message may be) at the front of
    /// `data`: whether it is text, the header's length, the payload's, and
    /// the mask key. `None` for anything else, or an error (which the
    /// general path reports).
    fn whole_data_frame(&self, data: &[u8], max: usize) -> Option<(bool, usize, usize, Option<[u8; 4]>)> {
        let Ok(Some((header, header_len))) = frame::decode_header(data, &self.rules()) else {
            return None;
        };
        let len = usize::try_from(header.len).ok()?;
        let end = header_len.checked_add(len)?;
        if !header.fin
            || header.rsv != 0
            || !matches!(header.opcode, frame::TEXT | frame::BINARY)
            || len == 0
            || len > max
            || len > self.limits.max_message_size
            || data.len() < end
        {
            return None;
        }
        Some((header.opcode == frame::TEXT, header_len, len, header.mask))
    }

    /// [`next_borrowed`](Self::next_borrowed) past the short masked frame:
    /// any header form, either role.
    #[inline(never)]
    fn borrow_one(&mut self) -> Option<Borrowed> {
        let (text, header_len, len, key) = self.whole_data_frame(&self.buf, BORROW_MAX)?;
        let end = header_len + len;
        self.borrowed.clear();
        let payload = &self.buf[header_len..end];
        // Copied, then unmasked in place while in the cache: at these sizes
        // faster than XORing on the way (`extend_unmasked`: W2 read 6.6 ms
        // against 7.3 ms, interleaved runs).
        self.borrowed.extend_from_slice(payload);
        if let Some(key) = key {
            apply_mask(&mut self.borrowed, key, 0);
        }
        if text {
            self.utf8.reset();
            if self.utf8.feed(&self.borrowed).is_err() || !self.utf8.is_complete() {
                // Reported by the general path, from the input untouched.
                return None;
            }
        }
        self.buf.advance(end);
        Some(Borrowed { text, in_side: false, len: len as u32 })
    }

    /// The payload [`next_borrowed`](Self::next_borrowed) took last.
    #[inline(always)]
    pub(super) fn borrowed(&self, at: Borrowed) -> &[u8] {
        if at.in_side {
            let end = self.side_at as usize;
            return self.side.get(end.saturating_sub(at.len as usize)..end).unwrap_or_default();
        }
        self.borrowed.get(..at.len as usize).unwrap_or_default()
    }

    /// A short masked frame (FIN, text or binary, 1 to 125 bytes: what a
    /// server reads most) at the front of the input, recognised from its
    /// first two bytes, its payload unmasked in place and, for text,
    /// checked for ASCII in the same pass.
    #[inline(always)]
    fn short_frame_unmasked(&mut self) -> Option<Short> {
        let (text, len, key) = self.short_header_of(&self.buf)?;
        let ascii = unmask_is_ascii(&mut self.buf[6..6 + len], key);
        Some(Short { text, ascii, len, key })
    }

    /// A short masked frame whole at the front of `data`, the input (see
    /// [`short_frame_unmasked`](Self::short_frame_unmasked)): whether it is
    /// text, its payload's length (1 to 125, at `data[6..]`) and its key.
    #[inline(always)]
    fn short_header_of(&self, data: &[u8]) -> Option<(bool, usize, [u8; 4])> {
        let [b0 @ (0x81 | 0x82), b1 @ 0x81..=0xFD, k0, k1, k2, k3, ref rest @ ..] = data[..] else {
            return None;
        };
        let len = usize::from(b1 & 0x7F);
        let short_max = frame::MAX_CONTROL_PAYLOAD.min(self.limits.max_frame_size).min(self.limits.max_message_size);
        if !matches!(self.role, Role::Server) || len > short_max || rest.len() < len {
            return None;
        }
        Some((b0 == 0x81, len, [k0, k1, k2, k3]))
    }

    /// [`short_header_of`](Self::short_header_of) for the next size up: a
    /// masked frame of 126 to 65,535 bytes (its length in 16 bits), whole
    /// in `data`, within the limits; its payload is at `data[8..]`.
    #[inline(always)]
    fn medium_header_of(&self, data: &[u8]) -> Option<(bool, usize, [u8; 4])> {
        let [b0 @ (0x81 | 0x82), 0xFE, l0, l1, k0, k1, k2, k3, ref rest @ ..] = data[..] else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let max = self.limits.max_frame_size.min(self.limits.max_message_size);
        if !matches!(self.role, Role::Server) || len < 126 || len > max || rest.len() < len {
            return None;
        }
        Some((b0 == 0x81, len, [k0, k1, k2, k3]))
    }

    /// Whether the unmasked payload of the short text frame at the front of
    /// the input is UTF-8.
    fn short_text_valid(&mut self, len: usize) -> bool {
        self.utf8.reset();
        self.utf8.feed(&self.buf[6..6 + len]).is_ok() && self.utf8.is_complete()
    }

    /// Takes the short frame at the front of the input as its message.
    #[inline(always)]
    fn take_short(&mut self, short: Short) -> Message {
        let mut frame = self.buf.split_to(6 + short.len).freeze();
        frame.advance(6);
        let frame = self.detach(frame, false);
        if short.text { Message::Text(Text::from_validated(frame)) } else { Message::Binary(frame) }
    }

    /// When the input starts with a whole, unfragmented, uncompressed data
    /// frame, takes it and returns its message.
    #[inline]
    fn take_one(&mut self) -> Result<Option<Message>, ProtocolError> {
        let Ok(Some((header, header_len))) = frame::decode_header(&self.buf, &self.rules()) else {
            // Incomplete, or an error the general path reports.
            return Ok(None);
        };
        let len = header.len as usize;
        let Some(end) = header_len.checked_add(len) else { return Ok(None) };
        if !header.fin
            || header.rsv != 0
            || !matches!(header.opcode, frame::TEXT | frame::BINARY)
            || len == 0
            || self.buf.len() < end
            || len > self.limits.max_message_size
        {
            return Ok(None);
        }
        let text = header.opcode == frame::TEXT;
        self.utf8.reset();
        let frame = self.take_whole_frame(&header, header_len, end, text)?;
        if !text {
            return Ok(Some(Message::Binary(frame)));
        }
        if !self.utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(Some(Message::Text(Text::from_validated(frame))))
    }

    /// One unit of progress.
    fn step(&mut self) -> Result<Step, ProtocolError> {
        let mut progress = match self.frame {
            Some(p) => p,
            None => {
                let Some((header, header_len)) = frame::decode_header(&self.buf, &self.rules())? else {
                    return Ok(Step::NeedMore);
                };
                let progress = self.accept_header(header)?;
                // Saturates only on 32-bit targets with limits near 4 GiB.
                let end = header_len.saturating_add(progress.len);
                if progress.len > 0
                    && self.buf.len() >= end
                    && !progress.compressed
                    && !self.streams(&progress)
                    && !self.assembles(&progress)
                {
                    // The whole frame is here (the common case for small
                    // messages).
                    let frame = self.take_whole_frame(&progress.header, header_len, end, progress.text)?;
                    return self.on_frame(progress.header, frame);
                }
                self.buf.advance(header_len);
                progress
            }
        };
        if self.assembles(&progress) {
            return self.step_assemble(progress);
        }
        let avail = self.buf.len().min(progress.len);
        if avail > progress.done {
            let fresh = &mut self.buf[progress.done..avail];
            if let Some(key) = progress.header.mask {
                apply_mask(fresh, key, progress.offset + progress.done);
            }
            if progress.text && self.utf8.feed(fresh).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            progress.done = avail;
        }
        let streaming = self.streams(&progress);
        if streaming && progress.compressed {
            return self.step_inflate_stream(progress);
        }
        let mut handed_over = false;
        if streaming && progress.done > 0 {
            // Hand over what arrived; only the undelivered rest stays.
            let chunk = self.buf.split_to(progress.done).freeze();
            let chunk = self.detach(chunk, false);
            progress.offset += progress.done;
            progress.len -= progress.done;
            progress.done = 0;
            self.stream_chunk(progress.text, chunk);
            handed_over = true;
        }
        if progress.done < progress.len {
            self.frame = Some(progress);
            // Progress only if data was handed over in this call.
            return Ok(if handed_over { Step::Progress } else { Step::NeedMore });
        }
        self.frame = None;
        if streaming {
            if progress.header.fin {
                if !self.utf8.is_complete() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                self.assembly = None;
                self.pending.push_back(Incoming::End);
            }
            return Ok(Step::Progress);
        }
        let payload = match progress.len {
            0 => Bytes::new(),
            len => {
                let payload = self.buf.split_to(len).freeze();
                self.detach(payload, frame::is_control(progress.header.opcode))
            }
        };
        self.on_frame(progress.header, payload)
    }

    /// Takes the frame in `buf[..end]` (header of `header_len` bytes) off
    /// the input in one piece: its payload unmasked and, for `text`, fed to
    /// the UTF-8 validator, in place.
    #[inline(always)]
    fn take_whole_frame(
        &mut self,
        header: &Header,
        header_len: usize,
        end: usize,
        text: bool,
    ) -> Result<Bytes, ProtocolError> {
        let payload = &mut self.buf[header_len..end];
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        if text && self.utf8.feed(payload).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        let mut frame = self.buf.split_to(end).freeze();
        frame.advance(header_len);
        Ok(self.detach(frame, frame::is_control(header.opcode)))
    }

    /// Whether the frame is a fragment of an uncompressed message being
    /// assembled (its bytes are moved into the assembly as they arrive).
    #[inline]
    fn assembles(&self, progress: &FrameProgress) -> bool {
        !progress.compressed
            && !frame::is_control(progress.header.opcode)
            && !self.limits.streaming
            && self.assembly.is_some()
    }

    /// Whether the frame's payload is handed over as it arrives.
    #[inline]
    fn streams(&self, progress: &FrameProgress) -> bool {
        self.limits.streaming && !frame::is_control(progress.header.opcode)
    }

    /// Assembled mode, a fragment of an uncompressed message: unmasks what
    /// arrived of it into the assembly (copy and XOR in one pass, instead of
    /// unmasking in place and joining the fragments at the end), validates
    /// text as it comes, and delivers the message after its final fragment.
    fn step_assemble(&mut self, mut p: FrameProgress) -> Result<Step, ProtocolError> {
        let Some(a) = self.assembly.as_mut() else {
            // `assembles` checked it.
            return Ok(Step::NeedMore);
        };
        let take = self.buf.len().min(p.len);
        if take > 0 {
            let start = a.plain.len();
            let ascii = a.append(&p, &self.buf[..take]);
            if a.text && !(ascii && self.utf8.is_complete()) && self.utf8.feed(&a.plain[start..]).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            self.buf.advance(take);
            p.offset += take;
            p.len -= take;
        }
        if p.len > 0 {
            // All the input was taken; the rest of the frame is to come.
            self.frame = Some(p);
            return Ok(Step::NeedMore);
        }
        self.frame = None;
        if p.header.fin {
            if let Some(a) = self.assembly.take() {
                return self.deliver(a.text, fitted(a.plain));
            }
        }
        Ok(Step::Progress)
    }

    /// Checks a decoded header against the message state (§5.4), the
    /// message size limit (§10.4) and the fragment limit.
    fn accept_header(&mut self, header: Header) -> Result<FrameProgress, ProtocolError> {
        // Fits: `decode_header` checked it against `max_frame_size`.
        let len = header.len as usize;
        // RSV1 (permessage-deflate, when negotiated) marks the first frame of
        // a compressed message, never a continuation or control frame
        // (RFC 7692 §6.1).
        let compressed = header.rsv & RSV1 != 0;
        if compressed && !matches!(header.opcode, frame::TEXT | frame::BINARY) {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        let limits = self.limits;
        let text = match header.opcode {
            frame::TEXT | frame::BINARY => {
                if self.assembly.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                check_message_size(len, limits.max_message_size)?;
                self.utf8.reset();
                self.tail_len = 0;
                let text = header.opcode == frame::TEXT;
                // A whole message in one frame, delivered as it completes,
                // needs no assembly (`on_frame` delivers it directly).
                if !header.fin || compressed || limits.streaming {
                    self.assembly = Some(Assembly {
                        text,
                        data: BytesMut::new(),
                        plain: Vec::new(),
                        ascii: true,
                        size: len,
                        frames: 1,
                        compressed,
                    });
                }
                if limits.streaming {
                    let kind = if text { MessageKind::Text } else { MessageKind::Binary };
                    self.pending.push_back(Incoming::Start(kind));
                }
                text
            }
            frame::CONTINUATION => {
                let Some(a) = &mut self.assembly else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                let size = a.size.saturating_add(len);
                check_message_size(size, limits.max_message_size)?;
                if a.frames >= limits.max_fragments {
                    return Err(ProtocolError::TooManyFragments { max: limits.max_fragments });
                }
                a.size = size;
                a.frames += 1;
                a.text
            }
            _ => false,
        };
        // A compressed message is validated after inflating, not on the wire.
        let compressed = self.assembly.as_ref().is_some_and(|a| a.compressed) && !frame::is_control(header.opcode);
        Ok(FrameProgress {
            header,
            len,
            done: 0,
            offset: 0,
            text: text && !compressed,
            compressed,
            inflate_done: false,
        })
    }

    /// Streaming receive: queues validated message data. A text chunk never
    /// ends inside a code point: an incomplete tail waits (at most 3 bytes)
    /// for the bytes that complete it.
    fn stream_chunk(&mut self, text: bool, mut bytes: Bytes) {
        if !text {
            if !bytes.is_empty() {
                self.pending.push_back(Incoming::Chunk(Message::Binary(bytes)));
            }
            return;
        }
        if self.tail_len > 0 {
            let have = usize::from(self.tail_len);
            let width = utf8::width(self.tail[0]);
            let take = (width - have).min(bytes.len());
            self.tail[have..have + take].copy_from_slice(&bytes[..take]);
            bytes.advance(take);
            if have + take < width {
                self.tail_len = (have + take) as u8;
                return;
            }
            self.tail_len = 0;
            let code_point = Bytes::copy_from_slice(&self.tail[..width]);
            self.pending.push_back(Incoming::Chunk(Message::Text(Text::from_validated(code_point))));
        }
        let keep = utf8::incomplete_suffix(&bytes);
        let complete = bytes.len() - keep;
        self.tail[..keep].copy_from_slice(&bytes[complete..]);
        self.tail_len = keep as u8;
        if complete > 0 {
            bytes.truncate(complete);
            self.pending.push_back(Incoming::Chunk(Message::Text(Text::from_validated(bytes))));
        }
    }

    /// Acts on a complete, unmasked frame (assembled mode).
    fn on_frame(&mut self, header: Header, payload: Bytes) -> Result<Step, ProtocolError> {
        Ok(match header.opcode {
            frame::TEXT | frame::BINARY | frame::CONTINUATION
                if self.assembly.as_ref().is_some_and(|a| a.compressed) =>
            {
                return self.inflate_frame(&payload, header.fin);
            }
            // A whole message in one frame (`accept_header` started no
            // assembly; fragments go through `step_assemble`).
            frame::TEXT | frame::BINARY => return self.deliver(header.opcode == frame::TEXT, payload),
            // Not reached: a continuation is part of an assembly.
            frame::CONTINUATION => return Err(ProtocolError::UnexpectedContinuation),
            frame::PING => Step::Item(Incoming::Ping(payload)),
            frame::PONG => Step::Item(Incoming::Pong(payload)),
            frame::CLOSE => Step::Item(Incoming::Close(close_frame(&payload)?)),
            // `decode_header` rejects every other opcode.
            op => return Err(ProtocolError::ReservedOpcode(op)),
        })
    }

    /// Assembled mode: inflates a complete frame of a compressed message
    /// into the message buffer, validating text as it comes out; the
    /// message is delivered at its end.
    ///
    /// Every frame inflates into the one buffer of the message, which grows
    /// geometrically with what came out: however the peer frames the
    /// message (a 1-byte frame costs no more than its output), the message
    /// holds at most about twice its inflated size.
    fn inflate_frame(&mut self, payload: &[u8], fin: bool) -> Result<Step, ProtocolError> {
        let max = self.limits.max_message_size;
        let Some(a) = self.assembly.as_mut() else {
            return Err(ProtocolError::UnexpectedContinuation);
        };
        let start = a.data.len();
        self.ext.inflate(payload, fin, &mut a.data, max)?;
        if a.text && self.utf8.feed(&a.data[start..]).is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        if fin {
            if let Some(a) = self.assembly.take() {
                return self.deliver(a.text, fitted(a.data.into()));
            }
        }
        Ok(Step::Progress)
    }

    /// Streaming mode: inflates what arrived of a compressed message's frame,
    /// at most [`INFLATE_CHUNK`] bytes per call, so memory stays bounded by
    /// the chunk size however far the data inflates.
    fn step_inflate_stream(&mut self, mut p: FrameProgress) -> Result<Step, ProtocolError> {
        let max = self.limits.max_message_size;
        let text = self.assembly.as_ref().is_some_and(|a| a.text);
        let fin_piece = p.header.fin && p.done == p.len;
        let mut progressed = false;
        if p.done > 0 || (fin_piece && !p.inflate_done) {
            let mut chunk = BytesMut::new();
            let step = self.ext.inflate_step(&self.buf[..p.done], fin_piece, &mut chunk, INFLATE_CHUNK, max)?;
            if step.consumed > 0 {
                self.buf.advance(step.consumed);
                p.offset += step.consumed;
                p.len -= step.consumed;
                p.done -= step.consumed;
                progressed = true;
            }
            p.inflate_done = fin_piece && step.finished;
            if !chunk.is_empty() {
                if text && self.utf8.feed(&chunk).is_err() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                self.stream_chunk(text, chunk.freeze());
                progressed = true;
            }
            if !step.finished {
                // Output is waiting: continue once this chunk is taken.
                self.frame = Some(p);
                return Ok(Step::Progress);
            }
        }
        if p.len > 0 || (p.header.fin && !p.inflate_done) {
            self.frame = Some(p);
            return Ok(if progressed { Step::Progress } else { Step::NeedMore });
        }
        self.frame = None;
        if p.header.fin {
            if !self.utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            self.assembly = None;
            self.pending.push_back(Incoming::End);
        }
        Ok(Step::Progress)
    }

    fn deliver(&mut self, text: bool, payload: Bytes) -> Result<Step, ProtocolError> {
        let message = if text {
            if !self.utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            Message::Text(Text::from_validated(payload))
        } else {
            Message::Binary(payload)
        };
        Ok(Step::Item(Incoming::Message(message)))
    }
}

/// An assembled message as handed over: its buffer, shrunk to fit when
/// its spare room (from doubling as the message grew, or an inflate step
/// that came back unused) would make it hold more than twice its size plus
/// 256 bytes for as long as the application keeps it. Shrinking reallocates
/// (in place where the allocator can), so it never holds two copies at
/// once.
fn fitted(mut data: Vec<u8>) -> Bytes {
    if data.capacity() > data.len().saturating_mul(2).saturating_add(256) {
        data.shrink_to_fit();
    }
    Bytes::from(data)
}

fn check_message_size(size: usize, max: usize) -> Result<(), ProtocolError> {
    if size > max {
        return Err(ProtocolError::MessageTooLarge { size: size as u64, max });
    }
    Ok(())
}

/// The peer's Close frame payload (§5.5.1, §7.4).
fn close_frame(payload: &[u8]) -> Result<CloseFrame, ProtocolError> {
    Ok(match payload {
        [] => CloseFrame { code: CloseCode::NO_STATUS_RCVD, reason: String::new() },
        [_] => return Err(ProtocolError::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let code = CloseCode::new(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_received() {
                return Err(ProtocolError::InvalidCloseCode(code.as_u16()));
            }
            let Ok(reason) = core::str::from_utf8(reason) else {
                return Err(ProtocolError::InvalidCloseReason);
            };
            CloseFrame { code, reason: String::from(reason) }
        }
    })
}
