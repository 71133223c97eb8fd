//! The heap bounds of issue 13 that `tests/memory_properties.rs` and the
//! `memory` fuzz target (through `#[path]`) assert: one copy, so the two
//! cannot drift apart.

/// A kibibyte.
pub const KIB: usize = 1024;

/// The inflater: zlib-rs allocates its 32 KiB window and its state on the
/// first compressed message and keeps them (47,856 bytes measured with
/// zlib-rs 0.6, "about 47.5 KB" in the deflate docs); 48 KiB.
pub const INFLATER: usize = 48 * KIB;

/// What receiving holds beyond the buffers that grow with what arrived
/// (bound (b)), each part from the design:
///
/// - [`INFLATER`], 48 KiB;
/// - the output step, 2 × 16 KiB: inflating resizes the message buffer by
///   up to one step (`STEP` in `deflate/codec.rs`) before zlib writes into
///   it, so the buffer can double for room that comes back unused;
/// - input buffer growth, 64 KiB: a new input buffer gets at least 64 KiB
///   (`RX_GROWTH` for a frame in progress; `bytes` gives a replaced shared
///   buffer at least its original capacity, up to 64 KiB);
/// - small change, 4 KiB: Pongs queued for the Pings (the output buffer
///   grows by 1 KiB, `TX_RESERVE`), a client's pool of masking keys (1 KiB,
///   `MASK_BATCH`), the shared headers of `Bytes`.
///
/// The largest excess over the growing part seen in about 10,000 cases was
/// 129,016 bytes (126 KiB, 85 % of this): two 128 KiB compressed messages
/// in frames of up to 72 KB, read with `read_buffer` filled to capacity.
pub const RECEIVE_FIXED: usize = INFLATER + 2 * 16 * KIB + 64 * KIB + 4 * KIB;

/// Bound (b): the receiver's peak heap while receiving, dropping each
/// message once checked. What grows with the input, each buffer growing
/// geometrically (so at most twice what it must hold):
///
/// - the input buffer holds one read (`largest_read`, the most bytes passed
///   to `handle_bytes` or asked of `read_buffer`) plus the frame in
///   progress when that frame is held whole until it completes
///   (`whole_frame`: a single-frame plain message, which is then delivered
///   as a slice of that buffer, or a frame of a compressed message, which
///   is inflated once complete). It keeps its allocation while it holds
///   the start of the next frame, so one frame's buffer can still be there
///   while a later message is assembled;
/// - the message buffer (`assembled`: the largest fragmented or compressed
///   message, built in a buffer of its own).
///
/// This is the "2 × largest message + 2 × largest read" of issue 13 with
/// the two buffers counted apart: a compressed message in one large frame
/// holds both its frame and its inflated bytes (a 128 KiB message of prose
/// in one frame, read a byte at a time, peaks at 440,836 bytes, where
/// 2 × 128 KiB + 2 × 1 + 160 KiB is 425,986),
/// and a plain 96 KiB message's buffer can outlive it while the next
/// message assembles.
///
/// `handed`: the largest buffer handed over that the connection did not
/// lend (`handle_bytes_owned` of the caller's own, or a lent one grown past
/// its room); it is copied in while input is pending, so it is alive while
/// the input buffer grows for it (0 for drivers that only use lent
/// buffers as lent).
pub fn receive_bound(whole_frame: usize, assembled: usize, largest_read: usize, handed: usize) -> usize {
    2 * (largest_read + whole_frame) + handed + 2 * assembled + RECEIVE_FIXED
}

/// Reads in copy mode before the retention's first probe (`FIRST_PROBE` in
/// `connection/retain.rs`).
pub const FIRST_PROBE: usize = 64;

/// Bound (c): what `n` retained messages of `total` bytes hold, read in
/// `reads` reads of at most `largest_read` bytes with frames held whole of
/// at most `whole_frame` bytes: the per-message bound of `memory_bounds.rs`
/// (N × (2s + 256), s the average size) plus whole input buffers pinned by
/// payloads sliced out of them:
///
/// - the first buffer, sliced until the connection finds it held when it
///   would reuse it;
/// - one buffer per probe (a probe slices again for one buffer's worth to
///   learn whether the application still keeps them): the intervals double
///   from [`FIRST_PROBE`] reads, so `reads` reads make at most
///   log2(reads / 64 + 1) + 1 probes;
/// - the buffer the connection reads into now.
///
/// One buffer is at most twice a read plus a frame held whole, or 64 KiB
/// (see [`RECEIVE_FIXED`]); the inflater comes on top with deflate.
pub fn retention_bound(
    n: usize,
    total: usize,
    reads: usize,
    largest_read: usize,
    whole_frame: usize,
    deflate: bool,
) -> usize {
    let probes = (reads / FIRST_PROBE + 1).ilog2() as usize + 1;
    let buffer = 2 * (largest_read + whole_frame) + 64 * KIB;
    let inflater = if deflate { INFLATER } else { 0 };
    2 * total + 256 * n + (probes + 2) * buffer + inflater
}
