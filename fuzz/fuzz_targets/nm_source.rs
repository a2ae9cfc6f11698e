//! cargo-fuzz target `nm_source`: the `.nm` front end (parse, check, diagnostics; compile and round-trip what checks). The body is `nm_tests::fuzz::nm_source`, which the stable test `tests/tests/fuzz.rs` runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nm_tests::fuzz::nm_source(data));
