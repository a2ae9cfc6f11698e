//! `nm-emulator`: the cycle-level chip emulator library behind the `nmemu` binary.
//!
//! Module map: [`core`] (runtime arrays of a core, delivery, neuron update), [`route`]
//! (fan-out resolution of the multicast routers), [`mismatch`] (chip instance), [`learning`]
//! (learning engine over `nm_isa::learn`), [`inputs`] and [`signals`], [`timing`] (the one cycle
//! and energy interface), [`engine`] (the step loop: [`Emulator`]), [`record`] (probes),
//! [`stats`], [`output`] (npy/csv/json files), [`budget`] (steps, recording memory and disk).

pub mod bench;
pub mod budget;
pub mod calibrate;
pub mod checkpoint;
pub mod cluster;
pub mod core;
pub mod engine;
pub mod error;
pub mod fastlearn;
pub mod faults;
pub mod inputs;
pub mod learning;
pub mod mismatch;
pub mod netbuild;
pub mod output;
pub mod plot;
pub mod record;
pub mod route;
pub mod signals;
pub mod stats;
pub mod timing;
pub mod vcd;

pub use engine::{Emulator, RunConfig};
pub use error::EmuError;
pub use stats::Stats;
