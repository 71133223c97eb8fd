//! Test helpers: compressible test data, a hand-made decompression bomb,
//! and the independent DEFLATE decoder the integration tests use too
//! (`tests/common/puff.rs`), which reports how far back each match reaches,
//! to check the window limits of RFC 7692 §7.2.1 from outside zlib.

use alloc::vec::Vec;

use super::Params;

pub(super) use crate::testing::Rng;

#[allow(dead_code)]
#[path = "../../tests/common/puff.rs"]
pub(super) mod puff;

/// Negotiated parameters: the two no_context_takeover flags, then the
/// server's and the client's window bits.
pub(super) fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> Params {
    Params {
        server_no_context_takeover: snct,
        client_no_context_takeover: cnct,
        server_max_window_bits: sbits,
        client_max_window_bits: cbits,
    }
}

/// Compressible test data from the unit tests' one generator.
pub(super) trait TextData {
    /// Text-like data: words from a small vocabulary, numbers, and now and
    /// then a copy of an earlier stretch from far back, so matches at every
    /// distance up to 32 KiB are on offer.
    fn text(&mut self, len: usize) -> Vec<u8>;
}

impl TextData for Rng {
    fn text(&mut self, len: usize) -> Vec<u8> {
        const WORDS: [&str; 12] =
            ["deflate", "window", "the", "message", "{\"id\":", "frame", "context", ", ", "takeover", "\n", "λ", "ok"];
        let mut v = Vec::with_capacity(len + 64);
        while v.len() < len {
            match self.below(10) {
                0 if v.len() > 64 => {
                    let back = 1 + self.below(v.len().min(40_000));
                    let n = 8 + self.below(200);
                    let from = v.len() - back;
                    for i in 0..n {
                        v.push(v[from + i % back]);
                    }
                }
                1 => v.extend_from_slice(alloc::format!("{}", self.next() % 100_000).as_bytes()),
                _ => v.extend_from_slice(WORDS[self.below(WORDS.len())].as_bytes()),
            }
        }
        v.truncate(len);
        v
    }
}

/// Bits written least significant first (RFC 1951 §3.1.1).
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, bits: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code, which is packed most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A `permessage-deflate` payload of `1 + 258 * matches` zero bytes at the
/// best ratio DEFLATE allows (about 1:1032): one dynamic block whose
/// literal/length code gives length 258 a 1-bit code and whose distance
/// code gives distance 1 a 1-bit code, so each match costs 2 bits. It ends
/// with a sync flush whose `00 00 ff ff` is removed (RFC 7692 §7.2.1).
/// 100 MiB of zeros take about 100 KB. Built directly because compressing
/// 100 MiB with an unoptimised zlib takes seconds.
pub(super) fn zero_bomb(matches: usize) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.put(0, 1); // BFINAL 0
    w.put(2, 2); // BTYPE 10: dynamic Huffman codes
    w.put(286 - 257, 5); // HLIT: literal/length codes 0..=285
    w.put(0, 5); // HDIST: one distance code
    w.put(18 - 4, 4); // HCLEN: 18 code length codes, up to symbol 1
    // Code length code lengths in the order 16 17 18 0 8 7 9 6 10 5 11 4
    // 12 3 13 2 14 1: symbol 18 gets 1 bit (code 0), 1 and 2 get 2 bits
    // (codes 10 and 11).
    for len in [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2] {
        w.put(len, 3);
    }
    let (cl1, cl2, cl18) = ((0b10, 2), (0b11, 2), (0b0, 1));
    let zeros = |w: &mut BitWriter, n: u32| {
        w.code(cl18.0, cl18.1);
        w.put(n - 11, 7);
    };
    // Literal/length code lengths: 0 → 2, 1..=255 → 0, 256 → 2,
    // 257..=284 → 0, 285 → 1; then the distance code: 0 → 1.
    w.code(cl2.0, cl2.1);
    zeros(&mut w, 138);
    zeros(&mut w, 117);
    w.code(cl2.0, cl2.1);
    zeros(&mut w, 28);
    w.code(cl1.0, cl1.1);
    w.code(cl1.0, cl1.1);
    // Canonical codes: 285 → 0, literal 0 → 10, end of block 256 → 11;
    // distance code 0 → 0.
    w.code(0b10, 2);
    for _ in 0..matches {
        w.code(0, 1); // length 258
        w.code(0, 1); // distance 1
    }
    w.code(0b11, 2);
    // The sync flush: an empty stored block, byte-aligned, without its
    // LEN/NLEN.
    w.put(0, 3);
    w.finish()
}
