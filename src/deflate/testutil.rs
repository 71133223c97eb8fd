//! Test helpers: compressible test data and an independent DEFLATE
//! decoder (RFC 1951, written after zlib's `puff.c` design) that reports
//! how far back each match reaches, to check the window limits of RFC 7692
//! §7.2.1 from outside zlib.

use alloc::vec;
use alloc::vec::Vec;

use super::{Params, TAIL};

pub(super) use crate::testing::Rng;

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

/// An independent inflater for `permessage-deflate` payloads: it keeps the
/// decoded history (the LZ77 window) across messages and records the
/// largest match distance seen.
#[derive(Default)]
pub(super) struct RefInflater {
    history: Vec<u8>,
    /// The largest distance of any match decoded so far.
    pub(super) max_distance: usize,
}

impl RefInflater {
    /// Decodes one message's payload (the tail is appended here, §7.2.2).
    /// `window` false: the message must not refer to earlier messages
    /// (the sender had no context takeover).
    pub(super) fn message(&mut self, payload: &[u8], window: bool) -> Result<Vec<u8>, &'static str> {
        if !window {
            self.history.clear();
        } else if self.history.len() > 1 << 20 {
            self.history.drain(..self.history.len() - (1 << 15));
        }
        let start = self.history.len();
        let mut data = payload.to_vec();
        data.extend_from_slice(&TAIL);
        let mut r = Bits { data: &data, pos: 0, bit: 0 };
        while r.pos < data.len() {
            let last = r.bits(1)? == 1;
            match r.bits(2)? {
                0 => self.stored(&mut r)?,
                1 => {
                    let (lit, dist) = fixed_tables();
                    self.codes(&mut r, &lit, &dist)?;
                }
                2 => {
                    let (lit, dist) = dynamic_tables(&mut r)?;
                    self.codes(&mut r, &lit, &dist)?;
                }
                _ => return Err("reserved block type"),
            }
            if last {
                // §7.2.1: a BFINAL block is padded to a byte boundary and
                // the next block follows.
                r.align();
            }
        }
        if r.bit != 0 {
            return Err("message does not end at a byte boundary");
        }
        Ok(self.history[start..].to_vec())
    }

    fn stored(&mut self, r: &mut Bits<'_>) -> Result<(), &'static str> {
        r.align();
        let len = r.bits(16)? as usize;
        let nlen = r.bits(16)? as usize;
        if len != !nlen & 0xffff {
            return Err("stored block length mismatch");
        }
        for _ in 0..len {
            let b = r.bits(8)? as u8;
            self.history.push(b);
        }
        Ok(())
    }

    fn codes(&mut self, r: &mut Bits<'_>, lit: &Huffman, dist: &Huffman) -> Result<(), &'static str> {
        const LBASE: [usize; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
            227, 258,
        ];
        const LEXT: [u32; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
        const DBASE: [usize; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
            4097, 6145, 8193, 12289, 16385, 24577,
        ];
        const DEXT: [u32; 30] =
            [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
        loop {
            let sym = lit.decode(r)?;
            match sym {
                0..=255 => self.history.push(sym as u8),
                256 => return Ok(()),
                _ => {
                    let i = sym - 257;
                    if i >= 29 {
                        return Err("invalid length symbol");
                    }
                    let len = LBASE[i] + r.bits(LEXT[i])? as usize;
                    let d = dist.decode(r)?;
                    if d >= 30 {
                        return Err("invalid distance symbol");
                    }
                    let distance = DBASE[d] + r.bits(DEXT[d])? as usize;
                    if distance > self.history.len() {
                        return Err("distance too far back");
                    }
                    self.max_distance = self.max_distance.max(distance);
                    for _ in 0..len {
                        let b = self.history[self.history.len() - distance];
                        self.history.push(b);
                    }
                }
            }
        }
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u32,
}

impl Bits<'_> {
    /// `n` bits, least significant first (RFC 1951 §3.1.1).
    fn bits(&mut self, n: u32) -> Result<u32, &'static str> {
        let mut v = 0;
        for i in 0..n {
            let byte = *self.data.get(self.pos).ok_or("out of input")?;
            v |= u32::from((byte >> self.bit) & 1) << i;
            self.bit += 1;
            if self.bit == 8 {
                self.bit = 0;
                self.pos += 1;
            }
        }
        Ok(v)
    }

    fn align(&mut self) {
        if self.bit != 0 {
            self.bit = 0;
            self.pos += 1;
        }
    }
}

/// A canonical Huffman code as counts per length and symbols in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Self {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[offs[l as usize] as usize] = sym as u16;
                offs[l as usize] += 1;
            }
        }
        Self { count, symbol }
    }

    fn decode(&self, r: &mut Bits<'_>) -> Result<usize, &'static str> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= r.bits(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(usize::from(self.symbol[(index + (code - first)) as usize]));
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err("invalid Huffman code")
    }
}

fn fixed_tables() -> (Huffman, Huffman) {
    let mut lengths = [0u8; 288];
    for (i, l) in lengths.iter_mut().enumerate() {
        *l = match i {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    (Huffman::new(&lengths), Huffman::new(&[5u8; 30]))
}

fn dynamic_tables(r: &mut Bits<'_>) -> Result<(Huffman, Huffman), &'static str> {
    const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
    let nlen = r.bits(5)? as usize + 257;
    let ndist = r.bits(5)? as usize + 1;
    let ncode = r.bits(4)? as usize + 4;
    let mut cl = [0u8; 19];
    for &o in ORDER.iter().take(ncode) {
        cl[o] = r.bits(3)? as u8;
    }
    let clh = Huffman::new(&cl);
    let mut lengths = Vec::with_capacity(nlen + ndist);
    while lengths.len() < nlen + ndist {
        let sym = clh.decode(r)?;
        let (value, repeat) = match sym {
            0..=15 => (sym as u8, 1),
            16 => (*lengths.last().ok_or("repeat with no previous length")?, 3 + r.bits(2)? as usize),
            17 => (0, 3 + r.bits(3)? as usize),
            _ => (0, 11 + r.bits(7)? as usize),
        };
        if lengths.len() + repeat > nlen + ndist {
            return Err("too many code lengths");
        }
        lengths.extend(core::iter::repeat_n(value, repeat));
    }
    Ok((Huffman::new(&lengths[..nlen]), Huffman::new(&lengths[nlen..])))
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
