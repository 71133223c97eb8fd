//! The `std::io` fast path: [`Connection::read_from`] and
//! [`Connection::write_to`].

use std::io::{self, ErrorKind, Read, Write};

use super::{Connection, Flushed, State};

/// How much one [`Connection::read_from`] reads at most.
const READ_SIZE: usize = 64 * 1024;

/// The first read of [`Connection::read_from`]: an opening handshake
/// (Chromium's request is 503 bytes) fits, and a connection that only ever
/// sees a handshake and a few small messages never zeroes more. A read
/// that fills it doubles the next, up to [`READ_SIZE`]. While the head is
/// awaited the read lands on the stack (see `read_head`).
const FIRST_READ_SIZE: usize = 2 * 1024;

impl Connection {
    /// Reads once from `reader` (up to 64 KiB) and feeds what came, as
    /// [`handle_bytes`](Self::handle_bytes) does; at the end of the stream
    /// (a read of 0 bytes) it calls [`handle_eof`](Self::handle_eof).
    /// Returns the bytes read (0: the end). It reads straight into the
    /// connection's input buffer, behind what is buffered (the room
    /// [`read_buffer`](Self::read_buffer) lends), so a blocking driver needs
    /// no buffer of its own and the bytes are not copied again: received
    /// payloads are slices of it. `Read` needs initialised memory, so the
    /// room is zeroed first (the opening handshake's head is read on the
    /// stack, a server's request parsed there, and the input buffer made
    /// for what is left: accepting Chromium's request, `benches/rivals` W6,
    /// 84.5 ms → 74 ms for 100,000); a read of 2 KiB to start with, doubled whenever
    /// a read fills it, up to 64 KiB, so that a busy stream reaches
    /// full-size reads within a few reads and a connection that sees a
    /// handshake and a few small messages never zeroes more than it reads.
    ///
    /// Once messages are taken with [`poll_event_ref`](Self::poll_event_ref),
    /// reads between messages land in a 64 KiB buffer of the connection's
    /// own instead, zeroed once, and stay there: whole messages are lent
    /// from it in place (unmasked where they are), with no zeroing per read
    /// and no copy; whatever else the read holds (a control frame, a frame
    /// it cuts) moves into the input buffer when it is reached, and a
    /// frame larger than a read is copied there a read at a time, a binary
    /// one unmasked on the way (one pass, not a copy and then an unmasking
    /// in place). Reading 1 KiB messages (`benches/rivals` W2): 6.8 ms →
    /// 5.8 ms; 1 MiB ones (W3): 3.85 ms → 3.24 ms, and unmasked on the way
    /// 2.89–2.98 ms → 2.64–2.72 ms.
    ///
    /// Errors are the reader's (a read time-out is `WouldBlock` or
    /// `TimedOut`); `Interrupted` is retried.
    pub fn read_from<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        let feeding = self.reading() && !self.eof;
        if feeding && self.rx.takes_slices() {
            return self.read_beside(reader, false);
        }
        if feeding && self.lends && self.takes_whole_states() && self.rx.takes_side() {
            return self.read_beside(reader, true);
        }
        if feeding && matches!(self.state, State::Connecting(_)) && self.rx.buffered().is_empty() {
            return self.read_head(reader);
        }
        let size = self.read_size.clamp(FIRST_READ_SIZE, READ_SIZE);
        let mut buf = self.read_buffer(size);
        // At the end of a large frame the room lent is just its rest.
        let room = size.min(buf.capacity());
        buf.resize(room, 0);
        let read = read_once(reader, &mut buf);
        let n = *read.as_ref().unwrap_or(&0);
        buf.truncate(n);
        if n == room && room == size && size < READ_SIZE {
            self.read_size = size * 2;
        }
        if n > 0 {
            self.handle_bytes_owned(buf);
        } else if feeding {
            // Nothing came: the room goes back behind the input.
            self.rx.push_owned(buf);
        }
        if read? == 0 {
            self.handle_eof();
        }
        Ok(n)
    }

    /// [`read_from`](Self::read_from) while the opening handshake's head
    /// is awaited and nothing is buffered: the read lands on the stack
    /// (zeroing memory that is in cache anyway). A server takes a whole
    /// upgrade request from there (`request_in_place`); what is left goes
    /// into an input buffer allocated for just that, not for the read.
    fn read_head<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        let mut head = [0u8; FIRST_READ_SIZE];
        let read = read_once(reader, &mut head);
        let n = *read.as_ref().unwrap_or(&0);
        if n == FIRST_READ_SIZE {
            self.read_size = FIRST_READ_SIZE * 2;
        }
        let input = &head[..n];
        let rest = self.request_in_place(input);
        if rest.len() < input.len() {
            self.note_input();
        }
        self.handle_bytes(rest);
        if read? == 0 {
            self.handle_eof();
        }
        Ok(n)
    }

    /// [`read_from`](Self::read_from) into the receiver's own buffer (64 KiB,
    /// zeroed once when first needed), in one of two ways:
    ///
    /// - `keep` false, while a fragmented message is being assembled and
    ///   nothing is buffered: the fragments' bytes go from there straight
    ///   into the message, unmasked on the way (what
    ///   [`handle_bytes`](Self::handle_bytes) does with a slice); only what
    ///   follows the message, or is not a fragment of it, is copied into the
    ///   input buffer. One pass fewer than zeroing room for each read.
    /// - `keep` true, for an application that takes its messages with
    ///   [`poll_event_ref`](Self::poll_event_ref), between messages (or with
    ///   the start of a frame the read continues buffered): the input stays
    ///   there. Whole messages are lent from it in place, unmasked where
    ///   they are: no zeroing per read, no copy. The first thing that needs
    ///   the input otherwise (another kind of frame, a frame cut by the
    ///   read, `poll_event`, the next read while some of it is left) moves
    ///   what is left into the input buffer; the rest of a frame whose start
    ///   is buffered moves there at once (a large frame's payload a read at
    ///   a time: a copy out of the cache, cheaper than zeroing the room a
    ///   read lands in).
    fn read_beside<R: Read + ?Sized>(&mut self, reader: &mut R, keep: bool) -> io::Result<usize> {
        let mut side = self.rx.take_side(READ_SIZE);
        let read = read_once(reader, &mut side);
        let n = *read.as_ref().unwrap_or(&0);
        if keep {
            self.rx.side_read(side, n);
            if n > 0 {
                self.note_input();
            }
        } else {
            if n > 0 {
                self.handle_bytes(&side[..n]);
            }
            self.rx.restore_side(side);
        }
        if read? == 0 {
            self.handle_eof();
        }
        Ok(n)
    }

    /// Writes every byte queued for the peer to `writer`, gathered into as
    /// few writes as it takes (vectored where the writer supports it:
    /// `TcpStream` does). Bytes queued behind an event are written too
    /// (handle the events with [`poll_event`](Self::poll_event)); nothing
    /// passes [`Output::CloseTransport`](crate::Output::CloseTransport):
    /// when everything before it is written this returns
    /// [`Flushed::CloseTransport`], and the driver shuts the transport's
    /// write side. On an error (a write time-out: the peer takes nothing),
    /// what was not written stays queued. `Interrupted` is retried.
    ///
    /// A client's payload over 16 KiB handed over as `Bytes` and queued
    /// after the first call is masked here, as it is written: a 16 KiB piece
    /// at a time, into a buffer of the connection's own, so the masked frame
    /// is never whole in memory (see [`send_binary`](Self::send_binary)).
    ///
    /// Bytes it takes do not come out of [`poll_output`](Self::poll_output)
    /// as `Transmit`s; a driver uses either.
    pub fn write_to<W: Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<Flushed> {
        self.tx.write_to(writer)
    }
}

/// One read into `buf`, `Interrupted` retried.
fn read_once<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
