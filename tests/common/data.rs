//! Deterministic test data, shared by the test files (through
//! `tests/common`) and the fuzz crate (through `#[path]`).

use wsmachine::Role;

/// Deterministic pseudo-random bytes (xorshift): incompressible.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len).map(|_| (xorshift(&mut x) >> 24) as u8).collect()
}

/// One step of the xorshift64 generator behind [`noise`], for tests that
/// draw numbers rather than bytes. `x` must not be 0.
pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Text that compresses about 2:1, like prose.
pub fn prose(seed: u64, len: usize) -> Vec<u8> {
    noise(seed, len).into_iter().map(|b| b"etaoin shrdlu cmfw"[usize::from(b) % 18]).collect()
}

/// Random UTF-8 of exactly `len` bytes: characters of every width.
pub fn random_text(seed: u64, len: usize) -> Vec<u8> {
    let raw = noise(seed, len + 4);
    let mut out = Vec::with_capacity(len);
    let mut k = 0;
    while out.len() < len {
        let r = u32::from_le_bytes([raw[k], raw[k + 1], raw[k + 2], 0]);
        k = (k + 1) % (raw.len() - 3);
        let c = match r % 4 {
            0 => char::from_u32(0x20 + (r >> 2) % 0x5f),
            1 => char::from_u32(0x80 + (r >> 2) % 0x780),
            2 => char::from_u32(0x800 + (r >> 2) % 0xf800),
            _ => char::from_u32(0x10000 + (r >> 2) % 0x10_0000),
        }
        .unwrap_or('?');
        let mut buf = [0; 4];
        let s = c.encode_utf8(&mut buf).as_bytes();
        if out.len() + s.len() <= len {
            out.extend_from_slice(s);
        } else {
            out.push(b'x');
        }
    }
    out
}

/// The other end.
pub fn other(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}
