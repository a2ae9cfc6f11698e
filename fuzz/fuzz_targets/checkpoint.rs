//! cargo-fuzz target `checkpoint`: the checkpoint loader (length and CRC resealed when the first byte says so). The body is `nm_tests::fuzz::checkpoint_bytes`, which the stable test `tests/tests/fuzz.rs` runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nm_tests::fuzz::checkpoint_bytes(data));
