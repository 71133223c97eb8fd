//! Incremental UTF-8 validation across chunks and fragments (RFC 6455 §8.1).
//!
//! A text message may be split anywhere, even inside a code point, by frame
//! boundaries or by reads. The validator carries an incomplete trailing code
//! point (at most 3 bytes) into the next chunk and reports an error as soon as
//! a byte makes the text invalid, without waiting for the message to end.

/// The SIMD validator: simdutf8 (AVX2 or SSE 4.2, chosen at run time), or
/// with feature `avx512-utf8` its AVX-512 kernel where the CPU has it
/// (the same crate's code, published by a fork until simdutf8 releases it).
#[cfg(not(feature = "avx512-utf8"))]
pub(crate) use simdutf8 as simd;
#[cfg(feature = "avx512-utf8")]
pub(crate) use simdutf8_avx512 as simd;

/// Chunks shorter than this are first checked for pure ASCII.
const SHORT: usize = 64;

/// The validator's state: a carried, incomplete but so far valid code point.
#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
}

/// The width of the code point a valid lead byte starts.
pub(crate) fn width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// How many bytes at the end of `valid` (a valid UTF-8 prefix) belong to a
/// code point that is not complete yet: 0 to 3. On other bytes it finds
/// the bytes after the last lead byte of the last 3 when they are fewer
/// than that lead byte announces (whether or not they are valid).
pub(crate) fn incomplete_suffix(valid: &[u8]) -> usize {
    for back in 1..=valid.len().min(3) {
        let b = valid[valid.len() - back];
        if b & 0xC0 != 0x80 {
            // The last lead byte: incomplete if its code point is longer than
            // what follows it.
            return if b >= 0xC0 && width(b) > back { back } else { 0 };
        }
    }
    0
}

impl Utf8Validator {
    /// Validates the next chunk of a text message. `Err` means the text is
    /// invalid at or before the end of `data`, whatever follows.
    #[inline]
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(), ()> {
        // Short chunks (typical chat and JSON messages) are mostly ASCII: a
        // word-at-a-time check is a few instructions where the general
        // validator's setup costs about a hundred.
        if self.carry_len == 0 && data.len() < SHORT && data.is_ascii() {
            return Ok(());
        }
        self.feed_general(data)
    }

    fn feed_general(&mut self, mut data: &[u8]) -> Result<(), ()> {
        if self.carry_len > 0 {
            let have = usize::from(self.carry_len);
            let need = width(self.carry[0]) - have;
            let take = need.min(data.len());
            self.carry[have..have + take].copy_from_slice(&data[..take]);
            let total = have + take;
            match core::str::from_utf8(&self.carry[..total]) {
                Ok(_) => {
                    self.carry_len = 0;
                    data = &data[take..];
                }
                // Still a valid prefix; only possible when `data` ran out.
                Err(e) if e.error_len().is_none() => {
                    self.carry_len = total as u8;
                    return Ok(());
                }
                Err(_) => return Err(()),
            }
        }
        // A chunk cut inside a code point would fail the fast validator and
        // need a second, slower pass: validate the body and, apart, the at
        // most 3 bytes of the cut code point.
        let cut = incomplete_suffix(data);
        let (body, tail) = data.split_at(data.len() - cut);
        if simd::basic::from_utf8(body).is_ok() {
            return match core::str::from_utf8(tail) {
                Ok(_) => Ok(()),
                // A valid but incomplete prefix: carry it.
                Err(e) if e.error_len().is_none() => {
                    self.carry[..tail.len()].copy_from_slice(tail);
                    self.carry_len = tail.len() as u8;
                    Ok(())
                }
                Err(_) => Err(()),
            };
        }
        match simd::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                // An incomplete but valid prefix at the very end: carry it.
                None => {
                    let tail = &data[e.valid_up_to()..];
                    self.carry[..tail.len()].copy_from_slice(tail);
                    self.carry_len = tail.len() as u8;
                    Ok(())
                }
                Some(_) => Err(()),
            },
        }
    }

    /// True when the text fed so far ends on a code point boundary.
    pub(crate) fn is_complete(&self) -> bool {
        self.carry_len == 0
    }

    /// Forgets any carried bytes (at a message boundary).
    pub(crate) fn reset(&mut self) {
        self.carry_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) {
        let expected = core::str::from_utf8(bytes).is_ok();
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                let mut v = Utf8Validator::default();
                let ok = v.feed(&bytes[..a]).is_ok()
                    && v.feed(&bytes[a..b]).is_ok()
                    && v.feed(&bytes[b..]).is_ok()
                    && v.is_complete();
                assert_eq!(ok, expected, "{bytes:x?} split at {a},{b}");
            }
        }
    }

    #[test]
    fn agrees_with_std_at_every_split() {
        check_all_splits("κόσμε €𝄞 ascii".as_bytes());
        check_all_splits(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited");
        check_all_splits(b"\xf4\x90\x80\x80");
        check_all_splits(b"\xf0\x9f\x98");
        check_all_splits(b"\xc0\xaf");
        check_all_splits(b"ab\xe2\x82");
    }

    #[test]
    fn incomplete_suffix_finds_a_split_code_point() {
        let s = "a€𝄞".as_bytes();
        assert_eq!(incomplete_suffix(s), 0);
        assert_eq!(incomplete_suffix(&s[..s.len() - 1]), 3);
        assert_eq!(incomplete_suffix(&s[..s.len() - 3]), 1);
        assert_eq!(incomplete_suffix(&s[..3]), 2);
        assert_eq!(incomplete_suffix(b""), 0);
    }

    /// After every chunk the verdict is exactly std's on everything fed so
    /// far: an error as soon as no continuation could make it valid, never
    /// earlier; this over every sequence of up to 4 bytes drawn from bytes
    /// that matter to UTF-8, cut into two chunks at every point.
    #[test]
    fn verdict_after_each_chunk_matches_std_on_the_prefix() {
        let alphabet = [0x41, 0x7F, 0x80, 0xBF, 0xC2, 0xC0, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0x90, 0xA0, 0x9F];
        let verdict = |p: &[u8]| match core::str::from_utf8(p) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        };
        let mut seq = alloc::vec::Vec::new();
        for len in 1..=4u32 {
            for n in 0..alphabet.len().pow(len) {
                seq.clear();
                let mut k = n;
                for _ in 0..len {
                    seq.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                for cut in 0..=seq.len() {
                    let mut v = Utf8Validator::default();
                    let first = v.feed(&seq[..cut]).is_ok();
                    assert_eq!(first, verdict(&seq[..cut]), "{seq:x?} first chunk of {cut}");
                    if first {
                        let second = v.feed(&seq[cut..]).is_ok();
                        assert_eq!(second, verdict(&seq), "{seq:x?} cut at {cut}");
                        assert_eq!(second && v.is_complete(), core::str::from_utf8(&seq).is_ok(), "{seq:x?}");
                    }
                }
            }
        }
    }

    #[test]
    fn fails_at_the_first_invalid_byte() {
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5").is_ok());
        // 0xF4 0x90 can never start a valid code point: fail before the rest arrives.
        assert!(v.feed(b"\xf4").is_ok());
        assert!(v.feed(b"\x90").is_err());
    }
}
