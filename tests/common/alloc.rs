//! The counting global allocator of the tests that measure heap: each test
//! binary that needs it declares
//! `#[global_allocator] static A: common::alloc::Counting = common::alloc::Counting;`.
//!
//! Counters are per thread (each test runs on its own), so tests running
//! side by side do not see each other's allocations.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
    /// As `PEAK`, with a realloc holding its old and new block at once (as a
    /// moving realloc does for a moment).
    static PEAK_MOVING: Cell<i64> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = CALLS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|b| b.set(b.get() + size as u64));
}

/// `delta` bytes became live (negative: were freed); `moving` more were
/// held for a moment on the way (a realloc's old block).
fn note_live(delta: i64, moving: i64) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        let _ = PEAK_MOVING.try_with(|p| p.set(p.get().max(now + moving)));
    });
}

/// Forwards to `System`, counting calls, bytes requested and the bytes
/// live (with their peak) on the calling thread.
pub struct Counting;

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// const-initialised thread locals without destructors and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        note_live(layout.size() as i64, 0);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        note_live(layout.size() as i64, 0);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_live(-(layout.size() as i64), 0);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        note_live(new_size as i64 - layout.size() as i64, layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes allocated and not yet freed by this thread.
pub fn live() -> i64 {
    LIVE.with(Cell::get)
}

/// Starts a new peak measurement at the current live count.
pub fn reset_peak() {
    PEAK.with(|p| p.set(live()));
    PEAK_MOVING.with(|p| p.set(live()));
}

/// The most bytes live on this thread since [`reset_peak`].
pub fn peak() -> i64 {
    PEAK.with(Cell::get)
}

/// As [`peak`], counting each realloc since [`reset_peak`] as holding its
/// old and new block at once.
pub fn peak_moving() -> i64 {
    PEAK_MOVING.with(Cell::get)
}

/// Allocation calls (alloc, alloc_zeroed, realloc) and bytes requested by
/// this thread while `f` runs.
pub fn counted<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (c0, b0) = (CALLS.with(Cell::get), BYTES.with(Cell::get));
    let out = f();
    (out, CALLS.with(Cell::get) - c0, BYTES.with(Cell::get) - b0)
}
