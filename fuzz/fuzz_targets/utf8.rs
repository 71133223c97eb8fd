//! UTF-8 validation of text split anywhere (RFC 6455 §8.1), against the
//! standard library: the incremental validator, fed the input in chunks,
//! fails on the first chunk after which the text so far has an invalid
//! sequence (not merely one cut short), and not before; at the end it is
//! complete exactly when the whole text is valid. Built with feature
//! `avx512-utf8` (`FUZZ_FEATURES=avx512-utf8 fuzz/run.sh SECONDS utf8`) it
//! checks the AVX-512 kernel, on a CPU that has one.
//!
//! Input: 1 byte, the number of cuts (mod 8); 2 bytes per cut (big-endian,
//! a position modulo the text's length + 1); then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsmachine_fuzz::codec::utf8_cut_anywhere(data);
});
