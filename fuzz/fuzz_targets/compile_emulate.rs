//! cargo-fuzz target `compile_emulate`: compile-then-emulate of small programs generated from the input (determinism, checkpoint resume). The body is `nm_tests::fuzz::compile_emulate`, which the stable test `tests/tests/fuzz.rs` runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nm_tests::fuzz::compile_emulate(data));
