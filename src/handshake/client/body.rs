//! The body of a response other than 101 (RFC 7230 §3.3.3), read as it
//! arrives: by `Content-Length`, chunked, or up to the close.

use super::*;

/// How a non-101 response's body is delimited (RFC 7230 §3.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

pub(super) fn body_framing(status: u16, headers: &[(String, String)]) -> Result<Framing, HandshakeError> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    if header_values(headers, "transfer-encoding").next().is_some() {
        let last = header_values(headers, "transfer-encoding").flat_map(list_elements).last();
        return Ok(match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    let mut length: Option<usize> = None;
    for v in header_values(headers, "content-length").flat_map(|v| v.split(',')) {
        let v = trim_ows(v);
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HandshakeError::Malformed("invalid Content-Length"));
        }
        // All digits: a parse failure can only be an overflow.
        let n = v.parse::<usize>().unwrap_or(usize::MAX);
        if length.is_some_and(|l| l != n) {
            return Err(HandshakeError::Malformed("conflicting Content-Length"));
        }
        length = Some(n);
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// The body of a response other than 101, read as it arrives.
#[derive(Debug)]
pub(super) struct BodyReader {
    /// The response; its body is filled in as it is read.
    pub(super) rejection: Rejection,
    /// Where the body starts in the bytes received.
    pub(super) start: usize,
    framing: Framing,
    chunked: Chunked,
}

impl BodyReader {
    /// The body of `rejection`, starting at `start` in the bytes received
    /// and delimited by `framing`.
    pub(super) fn new(rejection: Rejection, start: usize, framing: Framing) -> Self {
        Self { rejection, start, framing, chunked: Chunked::default() }
    }

    /// Reads the body from `rest` (every byte received after the head,
    /// extending those of the previous call). `Ok(None)`: more bytes needed.
    /// `Ok(Some(used))`: done, the body is the first `used` bytes of
    /// `rest`. A body, like a head, is at most `max` bytes, and bytes past
    /// them are not looked at.
    pub(super) fn read(&mut self, rest: &[u8], eof: bool, max: usize) -> Result<Option<usize>, HandshakeError> {
        let incomplete = || {
            if rest.len() > max {
                Err(HandshakeError::HeadTooLarge)
            } else if eof {
                Err(HandshakeError::Truncated)
            } else {
                Ok(None)
            }
        };
        let body = &mut self.rejection.body;
        match self.framing {
            Framing::None => Ok(Some(0)),
            Framing::Length(n) if n > max => Err(HandshakeError::HeadTooLarge),
            Framing::Length(n) => match rest.get(..n) {
                Some(whole) => {
                    count_work(n);
                    body.extend_from_slice(whole);
                    Ok(Some(n))
                }
                None => incomplete(),
            },
            Framing::UntilClose if rest.len() > max => Err(HandshakeError::HeadTooLarge),
            Framing::UntilClose if eof => {
                count_work(rest.len());
                body.extend_from_slice(rest);
                Ok(Some(rest.len()))
            }
            Framing::UntilClose => Ok(None),
            // Only the first `max` bytes are looked at: a body longer than
            // that is `HeadTooLarge` whatever follows, so an error after
            // them cannot depend on how the bytes were split into reads.
            Framing::Chunked => match self.chunked.read(rest.get(..max).unwrap_or(rest), max, body)? {
                Some(used) => Ok(Some(used)),
                None => incomplete(),
            },
        }
    }
}

/// A chunked body (RFC 7230 §4.1) being de-chunked as it arrives; trailers
/// are skipped. Each byte is looked at once, however the body is split.
///
/// `pos` only ever advances over bytes found in `rest`, so it stays
/// `<= rest.len()`; the one sum with a peer-chosen size is checked.
#[derive(Debug, Default)]
pub(super) struct Chunked {
    /// Bytes consumed: whole chunks (size line, data, CRLF) and trailer
    /// lines.
    pos: usize,
    part: ChunkPart,
}

#[derive(Debug)]
pub(super) enum ChunkPart {
    /// A chunk-size line, from `pos`.
    Size(SizeLine),
    /// Chunk data from `pos` up to `end`, then CRLF.
    Data { end: usize },
    /// Trailer lines after the last chunk; the first `seen` bytes from
    /// `pos` hold no LF.
    Trailers { seen: usize },
}

impl Default for ChunkPart {
    fn default() -> Self {
        Self::Size(SizeLine::default())
    }
}

impl Chunked {
    /// Reads on from where the previous call stopped. `rest` is every byte
    /// of the body received, extending those of the previous call.
    /// `Ok(Some(used))`: the body ended after `used` bytes of `rest`.
    pub(super) fn read(
        &mut self,
        rest: &[u8],
        max: usize,
        body: &mut Vec<u8>,
    ) -> Result<Option<usize>, HandshakeError> {
        loop {
            let here = rest.get(self.pos..).unwrap_or(&[]);
            match &mut self.part {
                ChunkPart::Size(line) => {
                    let Some((n, size)) = line.read(here)? else {
                        return Ok(None);
                    };
                    self.pos = self.pos.saturating_add(n);
                    if size == 0 {
                        // Trailer fields, then the empty line.
                        self.part = ChunkPart::Trailers { seen: 0 };
                        continue;
                    }
                    let end = usize::try_from(size)
                        .ok()
                        .and_then(|s| self.pos.checked_add(s))
                        .filter(|end| *end <= max)
                        .ok_or(HandshakeError::HeadTooLarge)?;
                    self.part = ChunkPart::Data { end };
                }
                ChunkPart::Data { end } => {
                    let (end, after) = (*end, end.saturating_add(2));
                    let (Some(data), Some(crlf)) = (rest.get(self.pos..end), rest.get(end..after)) else {
                        return Ok(None);
                    };
                    if crlf != b"\r\n" {
                        return Err(HandshakeError::Malformed("chunk not followed by CRLF"));
                    }
                    count_work(data.len() + 2);
                    body.extend_from_slice(data);
                    self.pos = after;
                    self.part = ChunkPart::default();
                }
                ChunkPart::Trailers { seen } => {
                    let new = here.get(*seen..).unwrap_or(&[]);
                    let Some(at) = new.iter().position(|b| *b == b'\n') else {
                        count_work(new.len());
                        *seen = here.len();
                        return Ok(None);
                    };
                    count_work(at + 1);
                    let nl = *seen + at;
                    let line = here.get(..nl).unwrap_or(&[]);
                    let empty = line.is_empty() || line == b"\r";
                    *seen = 0;
                    self.pos = self.pos.saturating_add(nl).saturating_add(1);
                    if empty {
                        if self.pos > max {
                            return Err(HandshakeError::HeadTooLarge);
                        }
                        return Ok(Some(self.pos));
                    }
                }
            }
        }
    }
}

/// A chunk-size line (`chunk-size [ chunk-ext ] CRLF`, RFC 7230 §4.1.1)
/// read as it arrives, with httparse's `parse_chunk_size` grammar: up to 16
/// hex digits, optional spaces or tabs, then an extension after `;` whose
/// bytes are ignored (but for CR), then CRLF.
#[derive(Debug, Default)]
pub(super) struct SizeLine {
    /// Bytes of the line looked at.
    seen: usize,
    size: u64,
    digits: u8,
    /// The digits are over (a space, a tab or the extension came).
    after_digits: bool,
    in_ext: bool,
    /// The last byte looked at was a CR.
    cr: bool,
}

impl SizeLine {
    /// Reads the bytes of `line` (from the line's first byte) not seen yet.
    /// `Ok(Some((length, size)))` once the line is complete, its CRLF
    /// included.
    pub(super) fn read(&mut self, line: &[u8]) -> Result<Option<(usize, u64)>, HandshakeError> {
        let start = self.seen;
        let new = line.get(start..).unwrap_or(&[]);
        let result = self.read_bytes(new);
        count_work(self.seen - start);
        result
    }

    /// [`read`](Self::read) on the bytes not seen yet.
    fn read_bytes(&mut self, new: &[u8]) -> Result<Option<(usize, u64)>, HandshakeError> {
        let bad = || HandshakeError::Malformed("invalid chunk size");
        for &b in new {
            self.seen += 1;
            if self.cr {
                return if b == b'\n' { Ok(Some((self.seen, self.size))) } else { Err(bad()) };
            }
            let digit = match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                b'A'..=b'F' => Some(b - b'A' + 10),
                _ => None,
            };
            match (digit, b) {
                (Some(d), _) if !self.after_digits => {
                    if self.digits >= 16 {
                        return Err(bad());
                    }
                    self.digits += 1;
                    // At most 16 hex digits: no bit is shifted out.
                    self.size = (self.size << 4) | u64::from(d);
                }
                (_, b'\r') => self.cr = true,
                (_, b';') if !self.in_ext => {
                    self.in_ext = true;
                    self.after_digits = true;
                }
                (_, b' ' | b'\t') if !self.in_ext => self.after_digits = true,
                _ if self.in_ext => {}
                _ => return Err(bad()),
            }
        }
        Ok(None)
    }
}
