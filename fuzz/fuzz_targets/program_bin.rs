//! cargo-fuzz target `program_bin`: the `program.bin` decoder (CRCs resealed when the first byte says so; round trip, brief emulation). The body is `nm_tests::fuzz::program_bin`, which the stable test `tests/tests/fuzz.rs` runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nm_tests::fuzz::program_bin(data));
