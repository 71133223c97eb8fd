//! Reading a head that arrives in pieces, in time linear in its length.
//!
//! A head is fed again and again as it grows (everything received so far,
//! from its first byte). Parsing it whole each time would cost the square
//! of its length when it comes a byte at a time; instead [`HeadScan`]
//! remembers how far its search for the head's end got, and the parser
//! runs on the whole head only once that end is there (or the size limit
//! is reached, or the input ended). A first read that ends with an empty
//! line, most often a whole head, goes to the parser at once.
//!
//! Garbage is still refused before the head is complete (a TLS ClientHello
//! on a plain port should not wait for 8 KiB): the head received so far is
//! also parsed at *checkpoints*, whenever its length reaches a power of two,
//! and only the prefix of exactly that length is parsed. An error found
//! there is the error the complete parse would give (the parser reads left
//! to right and fails at the first bad byte). The checkpoints cost less
//! than twice the head's length (the search once, the final parse once:
//! under four times in all), and what is decided after each byte depends on
//! the bytes only, never on how they were split into reads.

/// How far the search for the end of a head (its empty line) has got.
///
/// It follows the parser (httparse): empty lines before the start line are
/// skipped; after it, every LF ends a line (a bare CR, or an LF anywhere
/// else, is an error the parser reports first), and a line that is empty
/// (LF or CRLF right after an LF) ends the head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Search {
    /// Before the start line: skipping empty lines.
    #[default]
    Leading,
    /// Before the start line, after a CR.
    LeadingCr,
    /// Inside a line.
    Line,
    /// At the start of a line that follows a non-empty one.
    LineStart,
    /// After a CR at the start of such a line.
    LineStartCr,
    /// The empty line that ends the head is in.
    Found,
}

/// The resumable state of reading one head.
#[derive(Clone, Debug, Default)]
pub(super) struct HeadScan {
    search: Search,
    /// Bytes of the head the search has looked at.
    searched: usize,
    /// The longest prefix parsed at a checkpoint.
    checked: usize,
}

/// What to do with the head received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Parse it whole: its end is in, it reached the size limit, or it is
    /// a first read ending with an empty line.
    Parse,
    /// Parse its first this many bytes: an error there is final.
    Check(usize),
    /// Nothing to decide yet.
    Wait,
}

impl HeadScan {
    /// What to do with `head` (the bytes from the head's first, everything
    /// received so far). Looks only at bytes it has not looked at before.
    pub(super) fn next(&mut self, head: &[u8], max_head_size: usize) -> Next {
        let window = head.get(..max_head_size).unwrap_or(head);
        let checkpoint = head.len().checked_ilog2().map_or(0, |log| 1usize << log);
        if self.checked == 0 && self.searched == 0 && ends_with_empty_line(window) {
            // The first bytes end with an empty line: most often a whole
            // head came in one read, and the parser, which must read it
            // anyway, finds its end. If the parser is not done, the empty
            // lines were leading ones and so was everything before them
            // (anything else leaves the search at an end the parser reaches
            // too): then the prefix to the checkpoint is clean, and the
            // search starts on the next call.
            self.checked = checkpoint;
            return Next::Parse;
        }
        self.search(window);
        if self.search == Search::Found || head.len() >= max_head_size {
            return Next::Parse;
        }
        if checkpoint > self.checked {
            self.checked = checkpoint;
            Next::Check(checkpoint)
        } else {
            Next::Wait
        }
    }

    /// The parser completed a head the search had not found the end of (it
    /// does not happen: the search follows the parser): parse whole from
    /// now on.
    pub(super) fn found(&mut self) {
        self.search = Search::Found;
    }

    /// Runs the search over the bytes of `window` it has not seen.
    fn search(&mut self, window: &[u8]) {
        let new = window.get(self.searched..).unwrap_or(&[]);
        let mut state = self.search;
        let mut seen = 0;
        while state != Search::Found {
            if state == Search::Line {
                // Most bytes are inside lines: skip to the line's end.
                let rest = new.get(seen..).unwrap_or(&[]);
                seen += find_lf(rest).unwrap_or(rest.len());
            }
            let Some(&b) = new.get(seen) else { break };
            seen += 1;
            state = match (state, b) {
                (Search::Leading | Search::LeadingCr, b'\n') => Search::Leading,
                (Search::Leading, b'\r') => Search::LeadingCr,
                (Search::LineStart | Search::LineStartCr, b'\n') => Search::Found,
                (Search::LineStart, b'\r') => Search::LineStartCr,
                (_, b'\n') => Search::LineStart,
                _ => Search::Line,
            };
        }
        count_work(seen);
        self.search = state;
        self.searched += seen;
    }
}

/// Whether `bytes` ends with an empty line after a line end (LF LF or
/// LF CR LF).
fn ends_with_empty_line(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n\n") || bytes.ends_with(b"\n\r\n")
}

/// The index of the first LF in `bytes`, eight bytes at a time.
fn find_lf(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else { break };
        // Zero bytes of `x` are LFs of the word; the lowest flagged byte is
        // the first zero byte (a borrow only flags bytes above it).
        let x = u64::from_le_bytes(word) ^ LFS;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words.remainder().iter().position(|b| *b == b'\n').map(|i| at + i)
}

/// Counts bytes looked at (searched, parsed, or read as a body) while
/// reading heads, per thread: the tests check that it stays linear in the
/// bytes received. Nothing outside tests.
#[inline(always)]
pub(super) fn count_work(bytes: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get().saturating_add(bytes)));
    #[cfg(not(test))]
    let _ = bytes;
}

#[cfg(test)]
std::thread_local! {
    static WORK: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// The bytes looked at so far on this thread (see [`count_work`]).
#[cfg(test)]
pub(crate) fn work() -> usize {
    WORK.with(core::cell::Cell::get)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::handshake::{
        ClientRequest, Limits, RequestParse, RequestReader, ResponseParse, ResponseReader, parse_request,
        parse_response,
    };
    use alloc::vec::Vec;

    use crate::testing::Rng;

    fn found(input: &[u8]) -> bool {
        let mut s = HeadScan::default();
        s.search(input);
        s.search == Search::Found
    }

    /// Heads made of pieces that matter to the search and the parser.
    fn random_head(rng: &mut Rng) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"\r\n",
            b"\n",
            b"\r",
            b"GET / HTTP/1.1",
            b"HTTP/1.1 101 OK",
            b"HTTP/1.1 200",
            b"X: y",
            b"Host: h",
            b" ",
            b":",
            b"\t",
            b"a",
            b"\x00",
            b"\xff",
        ];
        let n = rng.below(12);
        (0..n).flat_map(|_| PIECES[rng.below(PIECES.len())].iter().copied()).collect()
    }

    /// The search finds the end of every head the parser completes, in
    /// requests and responses, and nowhere the parser would still wait.
    #[test]
    fn the_search_follows_the_parser() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut completes = 0;
        for _ in 0..200_000 {
            let input = random_head(&mut rng);
            let mut slots = [httparse::EMPTY_HEADER; 16];
            let req = httparse::Request::new(&mut slots).parse(&input);
            let mut slots = [httparse::EMPTY_HEADER; 16];
            let resp = httparse::Response::new(&mut slots).parse(&input);
            let is_found = found(&input);
            for r in [req.map(|s| s.is_complete()), resp.map(|s| s.is_complete())] {
                if r == Ok(true) {
                    completes += 1;
                    assert!(is_found, "{:?}", alloc::string::String::from_utf8_lossy(&input));
                }
                if is_found {
                    // The parser decides (completes or fails) on a found head.
                    assert_ne!(r, Ok(false), "{:?}", alloc::string::String::from_utf8_lossy(&input));
                }
                if ends_with_empty_line(&input) && r != Ok(false) {
                    // What `next` relies on to parse a first read whole.
                    assert!(is_found, "{:?}", alloc::string::String::from_utf8_lossy(&input));
                }
            }
            // Searched in two pieces: the same.
            let cut = rng.below(input.len() + 1);
            let mut s = HeadScan::default();
            s.search(&input[..cut]);
            s.search(&input);
            assert_eq!(s.search == Search::Found, is_found);
        }
        assert!(completes > 1000, "{completes}");
    }

    /// A head of exactly `len` bytes: `start` (header lines included), then
    /// `X-Pad-<i>` lines of about 64 bytes, then the empty line.
    pub(crate) fn padded_head(start: &str, len: usize) -> Vec<u8> {
        let mut head = alloc::string::String::from(start);
        let mut i = 0;
        while head.len() + 2 < len {
            let room = len - 2 - head.len();
            let name = alloc::format!("X-Pad-{i}: ");
            let fill = if room >= 128 { 64 - name.len() } else { room.saturating_sub(name.len() + 2) };
            if fill == 0 {
                // Too little room for a line: lengthen the previous one.
                let at = head.len() - 2;
                head.insert_str(at, &"q".repeat(room));
                break;
            }
            head.push_str(&name);
            head.push_str(&"p".repeat(fill));
            head.push_str("\r\n");
            i += 1;
        }
        head.push_str("\r\n");
        assert_eq!(head.len(), len);
        head.into_bytes()
    }

    /// A 64 KiB upgrade request.
    pub(crate) fn big_request(len: usize) -> Vec<u8> {
        padded_head(
            "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            len,
        )
    }

    /// A 101 for the key `dGhlIHNhbXBsZSBub25jZQ==` of exactly `len` bytes.
    pub(crate) fn big_response(len: usize) -> Vec<u8> {
        padded_head(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
            len,
        )
    }

    /// A 403 whose chunked body (64-byte chunks) takes it to about `len`
    /// bytes, interim 100s before it.
    pub(crate) fn big_rejection(len: usize) -> Vec<u8> {
        let mut r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 No\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        while r.len() + 80 < len {
            r.extend_from_slice(b"40;x=y\r\n");
            r.extend_from_slice(&[b'b'; 64]);
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\nT: 1\r\n\r\n");
        r
    }

    const BIG: usize = 64 * 1024;

    fn roomy() -> Limits {
        Limits { max_head_size: BIG, max_headers: BIG / 32 }
    }

    /// The bytes looked at while `f` runs, on this thread.
    fn work_of(f: impl FnOnce()) -> usize {
        let before = work();
        f();
        work() - before
    }

    /// A 64 KiB request fed a byte at a time is looked at about three times
    /// over (the search, checkpoints adding up to its length, the final
    /// parse), not once per byte received (the old re-parse from the start
    /// looked at 2^31 bytes, 32768 times its length).
    #[test]
    fn a_request_fed_a_byte_at_a_time_is_read_in_linear_time() {
        let head = big_request(BIG);
        let mut done = None;
        let work = work_of(|| {
            let mut reader = RequestReader::default();
            for n in 1..=head.len() {
                match reader.poll(&head[..n], false, roomy()) {
                    Ok(RequestParse::Partial) => {}
                    other => {
                        done = Some((n, other));
                        break;
                    }
                }
            }
        });
        assert!(matches!(done, Some((BIG, Ok(RequestParse::Complete(_, BIG))))), "{done:?}");
        assert!(work <= 4 * BIG, "{work} bytes looked at for a head of {BIG}");
        // Whole: the search and one parse.
        let work = work_of(|| assert!(matches!(parse_request(&head, roomy()), Ok(RequestParse::Complete(..)))));
        assert!(work <= 2 * BIG, "{work}");
    }

    /// The same for a response: a 101, and a rejection whose chunked body
    /// (after an interim 100) comes a byte at a time.
    #[test]
    fn a_response_fed_a_byte_at_a_time_is_read_in_linear_time() {
        let req = ClientRequest::new("ws://h/").unwrap();
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        for (head, accepted) in [(big_response(BIG), true), (big_rejection(BIG), false)] {
            let mut done = None;
            let work = work_of(|| {
                let mut reader = ResponseReader::default();
                for n in 1..=head.len() {
                    match reader.poll(&head[..n], false, &req, key, roomy()) {
                        Ok(ResponseParse::Partial) => {}
                        other => {
                            done = Some((n, other));
                            break;
                        }
                    }
                }
            });
            let len = head.len();
            match done {
                Some((n, Ok(ResponseParse::Accepted(_, m)))) if accepted => assert_eq!((n, m), (len, len)),
                Some((n, Ok(ResponseParse::Rejected(r, m)))) if !accepted => {
                    assert_eq!((n, m, r.status), (len, len, 403));
                    // 64 of every 74 bytes between the heads (72) and the
                    // last chunk with its trailer (11).
                    assert_eq!(r.body.len(), (len - 72 - 11) / 74 * 64);
                    assert!(r.body.iter().all(|b| *b == b'b'));
                }
                other => panic!("{other:?}"),
            }
            assert!(work <= 4 * len, "{work} bytes looked at for a response of {len}");
            // Whole: the search, one parse per head, the body once.
            let work = work_of(|| {
                let whole = parse_response(&head, false, &req, key, roomy());
                assert!(matches!(whole, Ok(ResponseParse::Accepted(..) | ResponseParse::Rejected(..))));
            });
            assert!(work <= 2 * len, "{work}");
        }
    }

    #[test]
    fn find_lf_finds_the_first_lf() {
        let mut rng = Rng(7);
        for _ in 0..20_000 {
            let len = rng.below(40);
            let v: Vec<u8> =
                (0..len).map(|_| [b'\n', b'\x0b', b'\x09', b'\x8a', b'a', 0, 0xff][rng.below(7)]).collect();
            assert_eq!(find_lf(&v), v.iter().position(|b| *b == b'\n'), "{v:?}");
        }
    }

    #[test]
    fn checkpoints_are_powers_of_two_of_the_length() {
        let mut s = HeadScan::default();
        let head = [b'a'; 100];
        let mut checks = Vec::new();
        for n in 0..=100 {
            if let Next::Check(c) = s.next(&head[..n], 1000) {
                checks.push((n, c));
            }
        }
        assert_eq!(checks, [(1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]);
        // Several crossed at once: the last one.
        let mut s = HeadScan::default();
        assert_eq!(s.next(&head[..3], 1000), Next::Check(2));
        assert_eq!(s.next(&head[..3], 1000), Next::Wait);
        assert_eq!(s.next(&head[..70], 1000), Next::Check(64));
        // At the limit, or once the end is in: parse.
        assert_eq!(s.next(&head[..100], 100), Next::Parse);
        let mut s = HeadScan::default();
        assert_eq!(s.next(b"GET / HTTP/1.1\r\n\r", 1000), Next::Check(16));
        assert_eq!(s.next(b"GET / HTTP/1.1\r\n\r\n", 1000), Next::Parse);
        // A first read ending with an empty line is parsed whole; leading
        // empty lines are not the end, so the search goes on.
        let mut s = HeadScan::default();
        assert_eq!(s.next(b"\r\n\r\n\n\n", 1000), Next::Parse);
        assert_eq!(s.next(b"\r\n\r\n\n\n\r\n", 1000), Next::Check(8));
        assert_eq!(s.next(b"\r\n\r\n\n\n\r\n\n", 1000), Next::Wait);
        assert_eq!(s.search, Search::Leading);
    }
}
