//! XOR masking (RFC 6455 §5.3), a machine word at a time, in safe code.

/// XORs `buf` with `key`, as if `buf` started at byte `offset` of the payload
/// (`offset % 4` selects the key byte for `buf[0]`). Applying it twice with
/// the same key and offset restores the input.
#[inline]
pub(crate) fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    // Feature `simd-mask`: up to the first 64-byte boundary here, from
    // there AVX-512 or AVX2 (aligned vectors), the rest here again.
    #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
    if buf.len() >= crate::mask_simd::MIN {
        let (head, body) = buf.split_at_mut(buf.as_ptr().align_offset(64).min(buf.len()));
        xor_words(head, key);
        let key = rotate(key, head.len());
        let n = crate::mask_simd::xor_in_place(body, key);
        xor_words(&mut body[n..], rotate(key, n));
        return;
    }
    xor_words(buf, key);
}

/// [`apply_mask`]'s safe loop, from `key[0]`.
#[inline(always)]
fn xor_words(buf: &mut [u8], key: [u8; 4]) {
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    let mut chunks = buf.chunks_exact_mut(128);
    for chunk in &mut chunks {
        // Sixteen independent words per iteration: LLVM turns this into
        // vector XORs; there is no per-byte work on the hot path. (Against
        // four: 1 KiB messages lent in place, `benches/rivals` W2, 5.81–5.85
        // → 5.69–5.75 ms in interleaved runs.)
        for word in chunk.chunks_exact_mut(8) {
            let w = u64::from_ne_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]) ^ k64;
            word.copy_from_slice(&w.to_ne_bytes());
        }
    }
    let rest = chunks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        let w = u64::from_ne_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]) ^ k64;
        word.copy_from_slice(&w.to_ne_bytes());
    }
    // Fewer than 8 bytes remain; the key pattern repeats every 4 bytes and
    // every chunk above was a multiple of 4 long.
    for (b, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *b ^= k;
    }
}

/// Unmasks a short payload in place (from payload byte 0), as
/// [`apply_mask`] does, and tells whether the result is all ASCII: for
/// short text, the UTF-8 check of the common case in the same pass.
#[inline(always)]
pub(crate) fn unmask_is_ascii(buf: &mut [u8], key: [u8; 4]) -> bool {
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    // A word at a time, without the setup of a vectorised loop: these
    // payloads are a few words long.
    let mut high = 0u64;
    let mut rest = buf;
    while rest.len() >= 8 {
        let Some((word, tail)) = core::mem::take(&mut rest).split_first_chunk_mut::<8>() else { break };
        let w = u64::from_ne_bytes(*word) ^ k64;
        high |= w;
        *word = w.to_ne_bytes();
        rest = tail;
    }
    // Under 8 bytes left, at key phase 0 (8 is a multiple of 4).
    if rest.len() >= 4 {
        if let Some((word, tail)) = core::mem::take(&mut rest).split_first_chunk_mut::<4>() {
            let w = u32::from_ne_bytes(*word) ^ k32;
            high |= u64::from(w);
            *word = w.to_ne_bytes();
            rest = tail;
        }
    }
    for (b, k) in rest.iter_mut().zip(key) {
        *b ^= k;
        high |= u64::from(*b);
    }
    high & 0x8080_8080_8080_8080 == 0
}

/// Writes `src` unmasked (from payload byte 0) into `dst` (as long as
/// `src`), as [`unmask_is_ascii`] does in place, and tells whether the
/// result is all ASCII: a short payload copied out of the input and checked
/// in the pass that unmasks it.
#[inline(always)]
pub(crate) fn unmask_into_is_ascii(dst: &mut [u8], src: &[u8], key: [u8; 4]) -> bool {
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    // A word at a time, without the setup of a vectorised loop (as
    // `unmask_is_ascii`): these payloads are a few words long.
    let mut high = 0u64;
    let (mut d, mut s) = (dst, src);
    while s.len() >= 8 && d.len() >= 8 {
        let (Some((dw, dt)), Some((sw, st))) =
            (core::mem::take(&mut d).split_first_chunk_mut::<8>(), s.split_first_chunk::<8>())
        else {
            break;
        };
        let w = u64::from_ne_bytes(*sw) ^ k64;
        high |= w;
        *dw = w.to_ne_bytes();
        (d, s) = (dt, st);
    }
    // Under 8 bytes left, at key phase 0 (8 is a multiple of 4).
    for ((d, s), k) in d.iter_mut().zip(s).zip(key.iter().cycle()) {
        *d = s ^ k;
        high |= u64::from(*d);
    }
    high & 0x8080_8080_8080_8080 == 0
}

/// Appends `src` masked with `key`, as if it started at payload byte
/// `offset`, to `dst` (a vector or a `BytesMut`) in one pass over memory: 128 bytes at a time, XORed a
/// word at a time into a block small enough for the compiler to keep in
/// vector registers, then appended (no 4 KiB stack piece, no second pass
/// over the message). Measured against XORing byte by byte through a
/// trusted-length `extend` (the loop LLVM vectorised before): 1 MiB text
/// messages in 16 KiB fragments (`benches/rivals` W4) read in 3.31–3.39 ms
/// instead of 3.67–3.72 ms; 64-byte blocks 3.42–3.68 ms, 256-byte blocks
/// 3.47–3.50 ms; copying and then unmasking in place, 2 or 8 KiB at a time,
/// 3.85–4.06 ms.
#[inline]
pub(crate) fn extend_unmasked<B: Grow>(dst: &mut B, src: &[u8], key: [u8; 4], offset: usize) {
    unmask_append::<B, false>(dst, src, key, offset);
}

/// [`extend_unmasked`], telling whether what it appended is all ASCII, in
/// the same pass: text that is needs no other UTF-8 check. The high bits
/// of the unmasked words are ORed into four accumulators beside the XORs
/// (more would spill registers). Reading 1 MiB ASCII texts in 16 KiB
/// frames (`benches/rivals` W4, 3 interleaved runs of 9): 3.32–3.37 ms →
/// 3.22–3.26 ms. It costs non-ASCII text about 6 % (W4m), so the receiver
/// asks only while a message has been ASCII so far.
#[inline]
pub(crate) fn extend_unmasked_is_ascii<B: Grow>(dst: &mut B, src: &[u8], key: [u8; 4], offset: usize) -> bool {
    unmask_append::<B, true>(dst, src, key, offset)
}

/// [`extend_unmasked`]'s loop; with `ASCII`, also whether the bytes
/// appended are all ASCII (else false).
#[inline(always)]
fn unmask_append<B: Grow, const ASCII: bool>(dst: &mut B, src: &[u8], key: [u8; 4], offset: usize) -> bool {
    let key = rotate(key, offset);
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    dst.reserve(src.len());
    // Feature `simd-mask`: whole 32-byte vectors straight into `dst`'s
    // spare capacity (a multiple of 4: the key's phase is unchanged).
    #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
    let (src, vectors_ascii) = if src.len() < crate::mask_simd::MIN {
        (src, true)
    } else if ASCII {
        let (n, ascii) = dst.extend_xor_is_ascii(src, key);
        (&src[n..], ascii)
    } else {
        (&src[dst.extend_xor(src, key)..], true)
    };
    #[cfg(not(all(feature = "simd-mask", target_arch = "x86_64")))]
    let vectors_ascii = true;
    let mut high = [0u64; BLOCK / 8];
    let mut blocks = src.chunks_exact(BLOCK);
    for block in &mut blocks {
        let mut plain = [0u8; BLOCK];
        for ((p, m), h) in plain.chunks_exact_mut(8).zip(block.chunks_exact(8)).zip(high.iter_mut()) {
            let w = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]) ^ k64;
            if ASCII {
                *h |= w;
            }
            p.copy_from_slice(&w.to_ne_bytes());
        }
        dst.extend_from_slice(&plain);
    }
    // Under a block left, at key phase 0 again (a block is a multiple of 4).
    let rest = blocks.remainder();
    let mut plain = [0u8; BLOCK];
    let plain = &mut plain[..rest.len()];
    plain.copy_from_slice(rest);
    apply_mask(plain, key, 0);
    dst.extend_from_slice(plain);
    ASCII && vectors_ascii && high.iter().fold(0, |a, h| a | h) & 0x8080_8080_8080_8080 == 0 && plain.is_ascii()
}

/// A buffer [`extend_unmasked`] appends to. Its own two methods, inlined
/// into the loop, not `BufMut::put_slice` (without a reserve first):
/// through that, reading 1 MiB
/// binary messages (`benches/rivals` W3) took 4.3 ms instead of 3.0 ms.
pub(crate) trait Grow {
    /// Room for `additional` more bytes.
    fn reserve(&mut self, additional: usize);
    /// Appends `bytes`.
    fn extend_from_slice(&mut self, bytes: &[u8]);
    /// Feature `simd-mask`: appends the whole 32-byte vectors of `src`
    /// XORed with `key` (from `key[0]`); returns how many bytes.
    #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
    fn extend_xor(&mut self, src: &[u8], key: [u8; 4]) -> usize;
    /// [`extend_xor`](Self::extend_xor), also telling whether what it
    /// appended is all ASCII.
    #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
    fn extend_xor_is_ascii(&mut self, src: &[u8], key: [u8; 4]) -> (usize, bool);
}

/// [`Grow`] for buffers whose inherent methods of those names do it.
macro_rules! grow_inherent {
    ($($buf:ty),*) => {$(
        impl Grow for $buf {
            #[inline(always)]
            fn reserve(&mut self, additional: usize) {
                <$buf>::reserve(self, additional);
            }
            #[inline(always)]
            fn extend_from_slice(&mut self, bytes: &[u8]) {
                <$buf>::extend_from_slice(self, bytes);
            }
            #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
            #[inline(always)]
            fn extend_xor(&mut self, src: &[u8], key: [u8; 4]) -> usize {
                crate::mask_simd::extend_xor(self, src, key)
            }
            #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
            #[inline(always)]
            fn extend_xor_is_ascii(&mut self, src: &[u8], key: [u8; 4]) -> (usize, bool) {
                crate::mask_simd::extend_xor_is_ascii(self, src, key)
            }
        }
    )*};
}

grow_inherent!(alloc::vec::Vec<u8>, bytes::BytesMut);

/// The block [`extend_unmasked`] XORs at a time.
const BLOCK: usize = 128;

/// Writes `src` masked with `key`, as if it started at payload byte
/// `offset`, into `dst` (as long as `src`), in one pass.
#[cfg(feature = "std")]
#[inline]
pub(crate) fn mask_into(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    // Feature `simd-mask`: whole 32-byte vectors first (a multiple of 4:
    // the key's phase is unchanged).
    #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
    let (dst, src) = if src.len() >= crate::mask_simd::MIN {
        let n = crate::mask_simd::xor_into(dst, src, rotate(key, offset));
        (&mut dst[n..], &src[n..])
    } else {
        (dst, src)
    };
    let k32 = u32::from_ne_bytes(rotate(key, offset));
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let w = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) ^ k64;
        d.copy_from_slice(&w.to_ne_bytes());
    }
    // Under 8 bytes left, at key phase 0 again (8 is a multiple of 4).
    let key = k32.to_ne_bytes();
    for ((d, s), k) in d.into_remainder().iter_mut().zip(s.remainder()).zip(key.iter().cycle()) {
        *d = s ^ k;
    }
}

/// Appends `src` masked with `key` (from payload byte 0) to `dst`. A large
/// payload is copied and XORed in one pass over memory: each piece is masked
/// into a small stack buffer that stays in L1 and then appended, rather than
/// copied and masked again in place (a second pass over the payload).
#[inline]
pub(crate) fn extend_masked(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4]) {
    extend_masked_at(dst, src, key, 0);
}

/// Payloads up to this size are copied, then masked in place while in L1:
/// cheaper than setting up the stack piece.
const PIECE: usize = 4096;

/// [`extend_masked`] for `src` starting at byte `offset` of the payload
/// (`offset % 4` selects the key byte for `src[0]`).
#[inline]
pub(crate) fn extend_masked_at(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4], offset: usize) {
    if src.len() <= PIECE {
        let start = dst.len();
        dst.extend_from_slice(src);
        apply_mask(&mut dst[start..], key, offset);
    } else {
        extend_masked_in_pieces(dst, src, key, offset);
    }
}

/// [`extend_masked_at`] for large payloads, a stack piece at a time.
fn extend_masked_in_pieces(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    // Feature `simd-mask`: whole 32-byte vectors straight into `dst`'s
    // spare capacity (a multiple of 4: the key's phase is unchanged).
    #[cfg(all(feature = "simd-mask", target_arch = "x86_64"))]
    let src = &src[crate::mask_simd::extend_xor(dst, src, key)..];
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    let mut tmp = [0u8; PIECE];
    // Every piece but the last is a multiple of 8 long: the key's phase is
    // the same at the start of each.
    for piece in src.chunks(PIECE) {
        let out = &mut tmp[..piece.len()];
        let mut d32 = out.chunks_exact_mut(32);
        let mut s32 = piece.chunks_exact(32);
        for (d, s) in (&mut d32).zip(&mut s32) {
            // Four independent words: vector XORs, as in `apply_mask`.
            for (d, s) in d.chunks_exact_mut(8).zip(s.chunks_exact(8)) {
                let w = u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) ^ k64;
                d.copy_from_slice(&w.to_ne_bytes());
            }
        }
        // Under 32 bytes left, only in the last piece; 32 is a multiple of
        // 4, so the key's phase is 0 here too.
        for ((d, s), k) in d32.into_remainder().iter_mut().zip(s32.remainder()).zip(key.iter().cycle()) {
            *d = s ^ k;
        }
        dst.extend_from_slice(out);
    }
}

/// The key as seen from payload byte `offset`.
#[inline]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    // Little-endian, byte r of the key is bits 8r..8r+8: rotating right by
    // 8r bytes brings it to the front.
    u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_naive_at_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..80 {
            for offset in 0..8 {
                let mut a: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(31)).collect();
                let mut b = a.clone();
                apply_mask(&mut a, key, offset);
                naive(&mut b, key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn mask_into_matches_naive_at_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..40 {
            for offset in 0..8 {
                let src: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(31)).collect();
                let mut expected = src.clone();
                naive(&mut expected, key, offset);
                let mut dst = alloc::vec![0xAAu8; len];
                mask_into(&mut dst, &src, key, offset);
                assert_eq!(dst, expected, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn extend_masked_matches_copy_then_mask() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in [0usize, 1, 7, 8, 9, 4095, 4096, 4097, 8191, 10_000] {
            let src: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
            let mut expected = src.clone();
            naive(&mut expected, key, 0);
            let mut dst = bytes::BytesMut::from(&b"head"[..]);
            extend_masked(&mut dst, &src, key);
            assert_eq!(&dst[..4], b"head");
            assert_eq!(&dst[4..], &expected[..], "len {len}");
            // In two parts split anywhere, each at its offset.
            for cut in [0, 1, 2, 3, 5, len / 2, len.saturating_sub(1), len] {
                let cut = cut.min(len);
                let mut dst = bytes::BytesMut::new();
                extend_masked_at(&mut dst, &src[..cut], key, 0);
                extend_masked_at(&mut dst, &src[cut..], key, cut);
                assert_eq!(&dst[..], &expected[..], "len {len} cut {cut}");
            }
        }
    }

    #[test]
    fn extend_unmasked_matches_naive_at_every_offset_and_split() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in [0usize, 1, 3, 4, 5, 31, 511, 512, 513, 1025, 4099] {
            let src: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
            for offset in 0..5 {
                let mut expected = src.clone();
                naive(&mut expected, key, offset);
                let mut dst = b"head".to_vec();
                extend_unmasked(&mut dst, &src, key, offset);
                assert_eq!(&dst[..4], b"head");
                assert_eq!(&dst[4..], &expected[..], "len {len} offset {offset}");
                for cut in [0, 1, 2, 3, 5, len / 2, len.saturating_sub(1), len] {
                    let cut = cut.min(len);
                    let mut dst = Vec::new();
                    extend_unmasked(&mut dst, &src[..cut], key, offset);
                    extend_unmasked(&mut dst, &src[cut..], key, offset + cut);
                    assert_eq!(dst, expected, "len {len} offset {offset} cut {cut}");
                }
            }
        }
    }

    /// Unmasks short payloads of every length up to 130 (all ASCII, or with
    /// one high byte at the front, middle or end) both ways, in place
    /// (`unmask_is_ascii`) and into another buffer (`unmask_into_is_ascii`):
    /// each must give the payload `apply_mask` gives and say whether it is
    /// ASCII.
    #[test]
    fn unmask_is_ascii_both_ways_matches_apply_mask() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..=130_usize {
            for high_at in [None, Some(0), Some(len / 2), Some(len.saturating_sub(1))] {
                let mut plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                if let (Some(i), true) = (high_at, len > 0) {
                    plain[i] = 0xc3;
                }
                let mut masked = plain.clone();
                apply_mask(&mut masked, key, 0);
                let mut in_place = masked.clone();
                let ascii = unmask_is_ascii(&mut in_place, key);
                assert_eq!((&in_place, ascii), (&plain, plain.is_ascii()), "in place: len {len} high at {high_at:?}");
                let mut out = alloc::vec![0u8; len];
                let ascii = unmask_into_is_ascii(&mut out, &masked, key);
                assert_eq!((&out, ascii), (&plain, plain.is_ascii()), "into: len {len} high at {high_at:?}");
            }
        }
    }

    #[test]
    fn split_masking_equals_whole() {
        let key = [1, 2, 3, 4];
        let orig: Vec<u8> = (0..=255).collect();
        let mut whole = orig.clone();
        apply_mask(&mut whole, key, 0);
        for split in 0..orig.len() {
            let mut parts = orig.clone();
            let (a, b) = parts.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(parts, whole, "split {split}");
        }
    }
}
