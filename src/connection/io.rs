//! The `std::io` fast path: [`Connection::read_from`] and
//! [`Connection::write_to`].

use std::io::{self, ErrorKind, Read, Write};

use super::{Connection, Flushed};

/// How much one [`Connection::read_from`] reads at most.
const READ_SIZE: usize = 64 * 1024;

/// The first buffer [`Connection::read_from`] reads into: an opening
/// handshake (Chromium's request is 503 bytes) fits, and a connection that
/// only ever sees a handshake and a few small messages never zeroes more.
/// A read that fills the buffer doubles it, up to [`READ_SIZE`].
const FIRST_READ_SIZE: usize = 2 * 1024;

impl Connection {
    /// Reads once from `reader` (up to 64 KiB) and feeds what came, as
    /// [`handle_bytes`](Self::handle_bytes) does; at the end of the stream
    /// (a read of 0 bytes) it calls [`handle_eof`](Self::handle_eof).
    /// Returns the bytes read (0: the end). The buffer read into is the
    /// connection's own, zeroed once and reused (an idle connection gives
    /// it back, see [`handle_timeout`](Self::handle_timeout)), so a
    /// blocking driver needs none of its own. It starts at 2 KiB and
    /// doubles whenever a read fills it, up to 64 KiB: a busy stream reaches
    /// full-size reads within a few reads, and a server accepting many
    /// short connections does not zero 64 KiB for each. Errors are the reader's (a
    /// read time-out is `WouldBlock` or `TimedOut`); `Interrupted` is
    /// retried.
    pub fn read_from<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        if self.scratch.is_empty() {
            self.scratch = alloc::vec![0; FIRST_READ_SIZE];
        }
        let n = loop {
            match reader.read(&mut self.scratch) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        let full = n == self.scratch.len();
        if n == 0 {
            self.handle_eof();
        } else {
            // Not `handle_bytes(&self.scratch[..n])`: the borrow of the
            // scratch would overlap `self`.
            let mut scratch = core::mem::take(&mut self.scratch);
            self.handle_bytes(&scratch[..n]);
            if full && scratch.len() < READ_SIZE {
                scratch.resize(scratch.len() * 2, 0);
            }
            self.scratch = scratch;
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
    /// Bytes it takes do not come out of [`poll_output`](Self::poll_output)
    /// as `Transmit`s; a driver uses either.
    pub fn write_to<W: Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<Flushed> {
        self.tx.write_to(writer)
    }
}
