//! End-to-end test support: helpers shared by the integration tests in `tests/tests/`.

pub mod chip;
pub mod fuzz;
pub mod reference;
