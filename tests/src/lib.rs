//! End-to-end test support: helpers shared by the integration tests in `tests/tests/`.

pub mod chip;
pub mod fuzz;
pub mod pitchfork_chip;
pub mod reference;
pub mod robustness;
pub mod sal_long;
pub mod sweep;
