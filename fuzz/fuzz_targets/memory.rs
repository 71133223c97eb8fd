//! Memory bounded by what was received, under fuzzed messages, framings,
//! compression, read splits and hostile frames (structured input via
//! `arbitrary`); see `wsmachine_fuzz::memory` for the input and the bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine_fuzz::alloc::Counting;
use wsmachine_fuzz::memory::{MemoryInput, run};

/// Counts the live heap of this thread for the bounds `run` asserts. Its
/// `unsafe impl GlobalAlloc` (in `tests/common/alloc.rs`, shared with the
/// crate's memory tests) forwards every call to `System` unchanged and only
/// updates const-initialised thread-local counters, which never allocate.
#[global_allocator]
static GLOBAL: Counting = Counting;

fuzz_target!(|input: MemoryInput| {
    run(input);
});
