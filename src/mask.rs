//! XOR masking (RFC 6455 §5.3), a machine word at a time, in safe code.

/// XORs `buf` with `key`, as if `buf` started at byte `offset` of the payload
/// (`offset % 4` selects the key byte for `buf[0]`). Applying it twice with
/// the same key and offset restores the input.
#[inline]
pub(crate) fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from(k32) | (u64::from(k32) << 32);
    let mut chunks = buf.chunks_exact_mut(32);
    for chunk in &mut chunks {
        // Four independent words per iteration: LLVM turns this into vector
        // XORs; there is no per-byte work on the hot path.
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
