//! `nm-isa`: everything the compiler and the emulator must agree on — the chip model, its
//! fixed-point register formats, the learning-engine instruction set and the `program.bin` format.
//!
//! This crate is pure data plus the reference semantics of each learning-engine op; it depends on
//! nothing else in the workspace. The compiler produces a [`program::Program`], the emulator runs one.
//!
//! Around the data model: [`validate`] checks a program against every invariant and chip limit,
//! [`binary`] encodes and decodes `program.bin`, [`builder`] assembles programs by hand (tests,
//! examples), [`disasm`] prints a program as text, and [`routemin`] minimises routing tables
//! (ordered covering) exactly under the first-match semantics.

pub mod binary;
pub mod builder;
pub mod calibration;
pub mod chip;
pub mod disasm;
pub mod faults;
pub mod fixed_point;
pub mod ids;
pub mod learn;
pub mod neuron;
pub mod program;
pub mod rng;
pub mod routemin;
pub mod validate;

pub use chip::ChipSpec;
pub use faults::FaultMap;
pub use ids::{AxonId, CoreId, NeuronId};
pub use program::Program;
pub use validate::{ValidationError, ValidationErrorKind, Where};
