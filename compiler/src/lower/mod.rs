//! Lowering of the front end's checked model toward the back end: learning rules to the
//! learning-engine ISA (`rule`).

pub mod net;
pub mod rule;
