//! An independent raw DEFLATE decoder (RFC 1951), after zlib's `puff.c`,
//! for `permessage-deflate` payloads (RFC 7692). Unlike zlib it reports how
//! far back each match reaches, so the window limits of §7.2.1 and the
//! absence of context takeover can be checked from outside zlib. Shared by
//! the integration tests (`tests/common`) and the codec's unit tests
//! (`src/deflate/testutil.rs`, through `#[path]`).

use std::vec;
use std::vec::Vec;

const LBASE: [usize; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT: [u32; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE: [usize; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DEXT: [u32; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// What one message's payload decoded to, and what it took.
#[derive(Debug, Default, Clone)]
pub(crate) struct Decoded {
    pub(crate) data: Vec<u8>,
    /// The longest match distance used in this message.
    pub(crate) max_distance: usize,
    /// BTYPE of each block, in order (0 stored, 1 fixed, 2 dynamic).
    pub(crate) blocks: Vec<u32>,
    /// Some match reached back before the message's first byte.
    pub(crate) used_history: bool,
}

/// A decoder for one direction of a connection: `history` is the LZ77
/// window carried from message to message (context takeover).
#[derive(Default)]
pub(crate) struct Inflater {
    history: Vec<u8>,
    max_distance: usize,
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The longest match distance of every message decoded so far.
    pub(crate) fn max_distance(&self) -> usize {
        self.max_distance
    }

    /// Decodes the payload of one compressed message: `00 00 ff ff` is
    /// appended first (RFC 7692 §7.2.2), then blocks are read until the
    /// input ends on a block boundary. A block with BFINAL set may be
    /// followed by more (§7.2.3.4). `window` false: no match may reach
    /// into an earlier message (the sender had no context takeover).
    pub(crate) fn message(&mut self, payload: &[u8], window: bool) -> Result<Decoded, &'static str> {
        if !window {
            self.history.clear();
        } else if self.history.len() > 1 << 20 {
            // Keep the 32 KiB any match may reach.
            self.history.drain(..self.history.len() - (1 << 15));
        }
        let mut data = payload.to_vec();
        data.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let start = self.history.len();
        let mut out = Decoded::default();
        let mut br = Bits { data: &data, pos: 0, buf: 0, cnt: 0 };
        while !(br.pos == data.len() && br.cnt == 0) {
            let bfinal = br.bits(1)?;
            let btype = br.bits(2)?;
            out.blocks.push(btype);
            match btype {
                0 => {
                    br.buf = 0;
                    br.cnt = 0;
                    let head = data.get(br.pos..br.pos + 4).ok_or("stored block header cut")?;
                    let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
                    let nlen = usize::from(u16::from_le_bytes([head[2], head[3]]));
                    if len != !nlen & 0xffff {
                        return Err("stored block LEN/NLEN mismatch");
                    }
                    br.pos += 4;
                    let body = data.get(br.pos..br.pos + len).ok_or("stored block cut")?;
                    self.history.extend_from_slice(body);
                    br.pos += len;
                }
                1 => {
                    let mut l = [0u8; 288];
                    l[..144].fill(8);
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    l[280..].fill(8);
                    let lit = Huffman::new(&l)?;
                    let dist = Huffman::new(&[5u8; 30])?;
                    self.codes(&mut br, &lit, &dist, start, &mut out)?;
                }
                2 => {
                    let nlen = br.bits(5)? as usize + 257;
                    let ndist = br.bits(5)? as usize + 1;
                    let ncode = br.bits(4)? as usize + 4;
                    let mut cl = [0u8; 19];
                    for &o in &ORDER[..ncode] {
                        cl[o] = br.bits(3)? as u8;
                    }
                    let clcode = Huffman::new(&cl)?;
                    let mut lens = vec![0u8; nlen + ndist];
                    let mut i = 0;
                    while i < nlen + ndist {
                        let sym = br.decode(&clcode)?;
                        if sym < 16 {
                            lens[i] = sym as u8;
                            i += 1;
                            continue;
                        }
                        let (val, rep) = match sym {
                            16 if i > 0 => (lens[i - 1], 3 + br.bits(2)? as usize),
                            16 => return Err("repeat with no previous length"),
                            17 => (0, 3 + br.bits(3)? as usize),
                            _ => (0, 11 + br.bits(7)? as usize),
                        };
                        if i + rep > nlen + ndist {
                            return Err("too many lengths");
                        }
                        lens[i..i + rep].fill(val);
                        i += rep;
                    }
                    if lens[256] == 0 {
                        return Err("no end-of-block code");
                    }
                    let lit = Huffman::new(&lens[..nlen])?;
                    let dist = Huffman::new(&lens[nlen..])?;
                    self.codes(&mut br, &lit, &dist, start, &mut out)?;
                }
                _ => return Err("invalid block type 3"),
            }
            if bfinal == 1 {
                // The DEFLATE stream ends here; what follows starts a new
                // one at the next byte (§7.2.3.4).
                br.buf = 0;
                br.cnt = 0;
            }
        }
        out.data = self.history[start..].to_vec();
        self.max_distance = self.max_distance.max(out.max_distance);
        Ok(out)
    }

    fn codes(
        &mut self,
        br: &mut Bits<'_>,
        lit: &Huffman,
        dist: &Huffman,
        start: usize,
        out: &mut Decoded,
    ) -> Result<(), &'static str> {
        loop {
            let sym = br.decode(lit)?;
            if sym < 256 {
                self.history.push(sym as u8);
                continue;
            }
            if sym == 256 {
                return Ok(());
            }
            let s = sym - 257;
            if s >= 29 {
                return Err("invalid length symbol");
            }
            let len = LBASE[s] + br.bits(LEXT[s])? as usize;
            let ds = br.decode(dist)?;
            if ds >= 30 {
                return Err("invalid distance symbol");
            }
            let d = DBASE[ds] + br.bits(DEXT[ds])? as usize;
            if d > self.history.len() {
                return Err("distance too far back");
            }
            out.max_distance = out.max_distance.max(d);
            if self.history.len() - d < start {
                out.used_history = true;
            }
            for _ in 0..len {
                let b = self.history[self.history.len() - d];
                self.history.push(b);
            }
        }
    }
}

/// A canonical Huffman code as counts per length and symbols in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Self, &'static str> {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        // Over-subscribed sets are invalid; incomplete ones are allowed.
        let mut left: i32 = 1;
        for c in &count[1..] {
            left = (left << 1) - i32::from(*c);
            if left < 0 {
                return Err("over-subscribed code");
            }
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        Ok(Self { count, symbol })
    }
}

/// The input bits, least significant first (RFC 1951 §3.1.1).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u32,
    cnt: u32,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Result<u32, &'static str> {
        while self.cnt < n {
            let Some(&b) = self.data.get(self.pos) else { return Err("input ends inside a block") };
            self.buf |= u32::from(b) << self.cnt;
            self.pos += 1;
            self.cnt += 8;
        }
        let v = self.buf & ((1u32 << n) - 1);
        self.buf >>= n;
        self.cnt -= n;
        Ok(v)
    }

    /// A Huffman code, which is packed most significant bit first.
    fn decode(&mut self, h: &Huffman) -> Result<usize, &'static str> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= self.bits(1)? as i32;
            let count = i32::from(h.count[len]);
            if code - count < first {
                return Ok(usize::from(h.symbol[(index + (code - first)) as usize]));
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err("no such code")
    }
}
