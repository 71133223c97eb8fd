//! Feature `simd-mask` (x86-64 only): the bulk of every masking pass done
//! with AVX-512 or AVX2 where the CPU has them, chosen at run time; the
//! safe loops of [`mask`](crate::mask) do the rest and everything on a CPU
//! without AVX2.
//!
//! This module holds all of the feature's `unsafe`, for three reasons:
//! calling a `#[target_feature]` function (sound once the feature was
//! detected), vector loads and stores through raw pointers (in bounds by
//! construction: every loop stops at a whole vector before the end of
//! both slices), and growing a buffer's length over bytes just written into
//! its spare capacity ([`extend_xor`]). Each is next to its reason. The
//! `mask` fuzz target compares every masking pass with a byte-by-byte XOR
//! at any offset and split, and the unit tests below compare every kernel
//! with it at every length and alignment (the AVX2 kernels on an AVX-512
//! CPU too); CI runs the tests under Miri built with AVX-512 and with AVX2
//! alone (Miri reports the features a build enables).
//!
//! Why (`benches/rivals`, 2026-12-06): unmasking 64 KiB in place runs at
//! 0.35 ms per 64 MiB with AVX-512 against 0.66 ms for the safe loop, which
//! LLVM can vectorise only for the baseline x86-64 (16-byte SSE2); and a
//! copy that unmasks into a buffer's spare capacity at 0.74–0.78 ms
//! against 1.0–1.6 ms for the safe loop, which appends a 128-byte block at
//! a time.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m256i, __m512i, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi32,
    _mm256_setzero_si256, _mm256_storeu_si256, _mm256_xor_si256, _mm512_set1_epi32, _mm512_xor_si512,
};
use core::mem::MaybeUninit;

use alloc::vec::Vec;
use bytes::BytesMut;

use crate::mask::Grow;

/// Below this many bytes a pass stays in the safe loop: detecting the CPU
/// and aligning cost more than the vectors save.
pub(crate) const MIN: usize = 128;

/// XORs `buf` with `key` (`key[0]` for `buf[0]`) from its front, as far as
/// the widest vectors the CPU has reach. Returns how many bytes it did (0
/// without AVX2); the caller does the rest, whose first byte takes key byte
/// `n % 4`. Meant for a `buf` that starts on a 64-byte boundary (the
/// vectors are aligned; any head before the first boundary goes byte by
/// byte).
#[inline]
pub(crate) fn xor_in_place(buf: &mut [u8], key: [u8; 4]) -> usize {
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F.
        unsafe { in_place_avx512(buf, key) }
    } else if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { in_place_avx2(buf, key) }
    } else {
        0
    }
}

/// Writes `src` XORed with `key` (`key[0]` for `src[0]`) into the front of
/// `dst`, 32 bytes at a time, as far as both reach. Returns how many bytes
/// it wrote (a multiple of 32, so the rest starts at key byte 0 again; 0
/// without AVX2).
#[inline]
pub(crate) fn xor_into(dst: &mut [u8], src: &[u8], key: [u8; 4]) -> usize {
    if !std::is_x86_feature_detected!("avx2") {
        return 0;
    }
    let n = dst.len().min(src.len()) / 32 * 32;
    // SAFETY: the CPU has AVX2; `dst` and `src` have at least `n` bytes.
    unsafe { into_avx2(dst.as_mut_ptr(), &src[..n], key) };
    n
}

/// A buffer whose spare capacity [`extend_xor`] writes into (room is made
/// with [`Grow::reserve`]).
pub(crate) trait Spare: Grow {
    /// The bytes past the length, up to the capacity.
    fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<u8>];
    /// Grows the length by `n`.
    ///
    /// # Safety
    /// The first `n` bytes of the spare capacity are initialised.
    unsafe fn grow(&mut self, n: usize);
}

macro_rules! spare_inherent {
    ($($buf:ty),*) => {$(
        impl Spare for $buf {
            #[inline(always)]
            fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<u8>] {
                <$buf>::spare_capacity_mut(self)
            }
            #[inline(always)]
            unsafe fn grow(&mut self, n: usize) {
                let len = self.len() + n;
                // SAFETY: the caller initialised the `n` bytes past the
                // length, which lie within the capacity.
                unsafe { self.set_len(len) };
            }
        }
    )*};
}

spare_inherent!(Vec<u8>, BytesMut);

/// Appends `src` XORed with `key` (`key[0]` for `src[0]`) to `dst`, 32
/// bytes at a time, straight into its spare capacity. Returns how many
/// bytes it appended (a multiple of 32; 0 without AVX2): the caller
/// appends the rest.
#[inline]
pub(crate) fn extend_xor<B: Spare>(dst: &mut B, src: &[u8], key: [u8; 4]) -> usize {
    if !std::is_x86_feature_detected!("avx2") {
        return 0;
    }
    let n = src.len() / 32 * 32;
    dst.reserve(n);
    let spare = dst.spare_capacity_mut();
    assert!(spare.len() >= n);
    // SAFETY: the CPU has AVX2; `spare` has room for `n` bytes, which
    // `into_avx2` writes, all of them (`src[..n]` is whole vectors).
    unsafe {
        into_avx2(spare.as_mut_ptr().cast::<u8>(), &src[..n], key);
        dst.grow(n);
    }
    n
}

/// [`extend_xor`], also telling whether the bytes it appended are all
/// ASCII (learnt in the same pass: their high bits ORed together).
#[inline]
pub(crate) fn extend_xor_is_ascii<B: Spare>(dst: &mut B, src: &[u8], key: [u8; 4]) -> (usize, bool) {
    if !std::is_x86_feature_detected!("avx2") {
        return (0, true);
    }
    let n = src.len() / 32 * 32;
    dst.reserve(n);
    let spare = dst.spare_capacity_mut();
    assert!(spare.len() >= n);
    // SAFETY: as in `extend_xor`.
    unsafe {
        let ascii = into_avx2_is_ascii(spare.as_mut_ptr().cast::<u8>(), &src[..n], key);
        dst.grow(n);
        (n, ascii)
    }
}

/// The key pattern as the 32-bit lane every vector repeats.
#[inline(always)]
fn lane(key: [u8; 4]) -> i32 {
    i32::from_ne_bytes(key)
}

/// `key` as seen `n` bytes further on.
#[inline(always)]
fn rotated(key: [u8; 4], n: usize) -> [u8; 4] {
    u32::from_le_bytes(key).rotate_right(8 * (n % 4) as u32).to_le_bytes()
}

/// Byte by byte, for the unaligned head.
#[inline(always)]
fn xor_bytes(buf: &mut [u8], key: [u8; 4]) {
    for (b, k) in buf.iter_mut().zip(key.iter().cycle()) {
        *b ^= k;
    }
}

/// [`xor_in_place`] with 64-byte vectors.
#[target_feature(enable = "avx512f")]
unsafe fn in_place_avx512(buf: &mut [u8], key: [u8; 4]) -> usize {
    // SAFETY: every bit pattern is a valid `__m512i`.
    let (head, body, _) = unsafe { buf.align_to_mut::<__m512i>() };
    let h = head.len();
    xor_bytes(head, key);
    let m = _mm512_set1_epi32(lane(rotated(key, h)));
    for v in body.iter_mut() {
        *v = _mm512_xor_si512(*v, m);
    }
    h + body.len() * 64
}

/// [`xor_in_place`] with 32-byte vectors.
#[target_feature(enable = "avx2")]
unsafe fn in_place_avx2(buf: &mut [u8], key: [u8; 4]) -> usize {
    // SAFETY: every bit pattern is a valid `__m256i`.
    let (head, body, _) = unsafe { buf.align_to_mut::<__m256i>() };
    let h = head.len();
    xor_bytes(head, key);
    let m = _mm256_set1_epi32(lane(rotated(key, h)));
    for v in body.iter_mut() {
        *v = _mm256_xor_si256(*v, m);
    }
    h + body.len() * 32
}

/// Writes `src` (a whole number of 32-byte vectors) XORed with `key` to
/// `dst`.
///
/// # Safety
/// The CPU has AVX2, `src.len()` is a multiple of 32 and `dst` is valid
/// for writes of `src.len()` bytes that do not overlap `src`.
#[target_feature(enable = "avx2")]
unsafe fn into_avx2(dst: *mut u8, src: &[u8], key: [u8; 4]) {
    debug_assert_eq!(src.len() % 32, 0);
    let m = _mm256_set1_epi32(lane(key));
    for (i, s) in src.chunks_exact(32).enumerate() {
        // SAFETY: `s` is 32 readable bytes; `dst + 32 i` starts 32
        // writable bytes (the caller's promise, `32 i + 32 <= src.len()`).
        unsafe {
            let v = _mm256_loadu_si256(s.as_ptr().cast::<__m256i>());
            _mm256_storeu_si256(dst.add(32 * i).cast::<__m256i>(), _mm256_xor_si256(v, m));
        }
    }
}

/// [`into_avx2`], also telling whether what it wrote is all ASCII.
///
/// # Safety
/// As for [`into_avx2`].
#[target_feature(enable = "avx2")]
unsafe fn into_avx2_is_ascii(dst: *mut u8, src: &[u8], key: [u8; 4]) -> bool {
    debug_assert_eq!(src.len() % 32, 0);
    let m = _mm256_set1_epi32(lane(key));
    let mut high = _mm256_setzero_si256();
    for (i, s) in src.chunks_exact(32).enumerate() {
        // SAFETY: as in `into_avx2`.
        unsafe {
            let v = _mm256_xor_si256(_mm256_loadu_si256(s.as_ptr().cast::<__m256i>()), m);
            high = _mm256_or_si256(high, v);
            _mm256_storeu_si256(dst.add(32 * i).cast::<__m256i>(), v);
        }
    }
    _mm256_movemask_epi8(high) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// In place at every start alignment and length up to 200 (and some
    /// large): the bytes it says it did are masked exactly, the rest
    /// untouched, and it did as much as the vectors reach.
    #[test]
    fn in_place_masks_exactly_what_it_says() {
        // Under Miri (CI runs these there) a sample of the same.
        let step = if cfg!(miri) { 13 } else { 1 };
        let lens = (0..200).step_by(step).chain([255, 256, 1000, 4099]);
        for len in lens {
            for at in (0..64).step_by(step) {
                let mut backing = data(len + at);
                let original = backing.clone();
                let n = xor_in_place(&mut backing[at..], KEY);
                assert!(n <= len);
                let mut expected = original.clone();
                naive(&mut expected[at..at + n], KEY, 0);
                assert_eq!(backing, expected, "len {len} at {at}");
                if std::is_x86_feature_detected!("avx2") {
                    // Less than one vector is left.
                    assert!(len - n < 64, "len {len} at {at}: did {n}");
                    // The AVX2 kernel too, which a CPU with AVX-512 never
                    // picks.
                    let mut backing = original.clone();
                    // SAFETY: the CPU has AVX2.
                    let n = unsafe { in_place_avx2(&mut backing[at..], KEY) };
                    assert!(len - n < 32, "len {len} at {at}: did {n}");
                    let mut expected = original.clone();
                    naive(&mut expected[at..at + n], KEY, 0);
                    assert_eq!(backing, expected, "AVX2, len {len} at {at}");
                } else {
                    assert_eq!(n, 0);
                }
            }
        }
    }

    /// Into a slice and appended to both buffers, at every length up to 200
    /// and source alignment: whole vectors, masked exactly, nothing past
    /// them written.
    #[test]
    fn into_and_extend_mask_whole_vectors() {
        let step = if cfg!(miri) { 13 } else { 1 };
        for len in (0..200).step_by(step).chain([1000, 4099]) {
            for at in [0, 1, 3, 17, 32, 63] {
                let backing = data(len + at);
                let src = &backing[at..];
                let mut expected = src.to_vec();
                naive(&mut expected, KEY, 0);
                let whole = if std::is_x86_feature_detected!("avx2") { len / 32 * 32 } else { 0 };

                let mut dst = vec![0xeeu8; len + 5];
                let n = xor_into(&mut dst, src, KEY);
                assert_eq!(n, whole);
                assert_eq!(&dst[..n], &expected[..n]);
                assert!(dst[n..].iter().all(|&b| b == 0xee), "len {len} at {at}");

                let mut v = b"head".to_vec();
                assert_eq!(extend_xor(&mut v, src, KEY), whole);
                assert_eq!(&v[..4], b"head");
                assert_eq!(&v[4..], &expected[..whole]);

                let mut b = BytesMut::from(&b"xy"[..]);
                assert_eq!(extend_xor(&mut b, src, KEY), whole);
                assert_eq!(&b[..2], b"xy");
                assert_eq!(&b[2..], &expected[..whole]);

                let mut v = b"head".to_vec();
                let (n, ascii) = extend_xor_is_ascii(&mut v, src, KEY);
                assert_eq!(n, whole);
                assert_eq!(&v[4..], &expected[..whole]);
                assert_eq!(ascii, expected[..whole].is_ascii(), "len {len} at {at}");
            }
        }
    }

    /// Whether an appended run is ASCII: one byte with its high bit set
    /// anywhere in it (or none) decides.
    #[test]
    fn extend_is_ascii_sees_every_high_byte() {
        let len = 96;
        for high in (0..len).map(Some).chain([None]) {
            let mut plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            if let Some(at) = high {
                plain[at] = 0xc3;
            }
            let mut masked = plain.clone();
            naive(&mut masked, KEY, 0);
            let mut v = Vec::new();
            let (n, ascii) = extend_xor_is_ascii(&mut v, &masked, KEY);
            if n == 0 {
                continue; // no AVX2
            }
            assert_eq!(v, plain);
            assert_eq!(ascii, high.is_none(), "high byte at {high:?}");
        }
    }

    /// The head's length moves the key for the vectors: every rotation.
    #[test]
    fn rotated_matches_the_offset() {
        for n in 0..8 {
            let mut a = data(4);
            let mut b = a.clone();
            xor_bytes(&mut a, rotated(KEY, n));
            naive(&mut b, KEY, n);
            assert_eq!(a, b, "n {n}");
        }
    }
}
