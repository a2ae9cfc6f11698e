//! The chip spec: a declarative description of a chip family (mesh, per-core limits, register
//! formats, timing, energy, mismatch) that drives both the compiler and the emulator.
//!
//! Built-in profiles are returned by [`ChipSpec::profile`]; a spec can also be loaded from TOML
//! with [`ChipSpec::from_toml_str`]. Every number is validated by [`ChipSpec::validate`]; an
//! invalid spec is a [`SpecError`] naming the field. The sources of the default figures are in
//! `docs/chip-model.md`.

use serde::{Deserialize, Serialize};

/// Names of the built-in chip profiles, in the order `nmc` lists them.
pub const PROFILE_NAMES: &[&str] = &["default", "small", "board"];

/// A whole system: one chip type replicated over a 2-D grid of chips joined by links.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipSpec {
    /// Profile or family name (informational; shown in reports and the disassembly).
    pub name: String,
    /// Cores of one chip, as a 2-D mesh.
    pub mesh: Mesh,
    /// How many chips, and the links between them.
    pub system: System,
    /// Per-core resource limits.
    pub core: CoreLimits,
    /// Register widths and fixed-point formats.
    pub formats: Formats,
    /// Cycle costs and clock.
    pub timing: Timing,
    /// Energy per operation.
    pub energy: Energy,
    /// Device mismatch (fixed pattern per chip instance) and per-run temporal noise.
    pub mismatch: Mismatch,
}

/// The 2-D mesh of cores on one chip. Core `(x, y)` has local index `y * width + x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    pub width: u16,
    pub height: u16,
}

/// A board of `chips_x * chips_y` identical chips joined by inter-chip links between
/// neighbouring chips (also a mesh). A single chip is `1 x 1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    pub chips_x: u16,
    pub chips_y: u16,
    /// Latency of one inter-chip hop, in core clock cycles.
    pub link_latency_cycles: u32,
    /// Cycles the link is busy per spike packet (inverse bandwidth).
    pub link_cycles_per_spike: u32,
    /// Energy per spike packet crossing one inter-chip link, in pJ.
    pub link_energy_pj: f64,
}

/// Per-core limits. The compiler's placement must respect every one of them; the decoder checks
/// every count in `program.bin` against them before allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreLimits {
    pub max_neurons: u32,
    pub max_input_axons: u32,
    pub max_output_axons: u32,
    /// Synapse memory per core, in bits (see [`ChipSpec::synapse_bits`] for the cost of one synapse).
    pub synapse_memory_bits: u64,
    /// Routing-table entries of the core's router.
    pub max_route_entries: u32,
    /// Learning-engine instruction memory, in instructions.
    pub max_learning_instrs: u32,
    /// Neuron profiles (shared parameter sets) per core.
    pub max_profiles: u32,
    /// Largest synaptic delay, in time steps.
    pub max_delay: u32,
}

/// Register widths and fixed-point formats; `docs/chip-model.md` states the rounding and
/// overflow rule of each. The concrete types live in [`crate::fixed_point`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Formats {
    /// Weight magnitude bits; the weight is sign + magnitude, in `-(2^b - 1) ..= 2^b - 1`.
    pub weight_bits: u8,
    /// Smallest and largest per-synapse-group weight exponent.
    pub weight_exp_min: i8,
    pub weight_exp_max: i8,
    /// Synaptic current width (two's complement, wraps on overflow).
    pub current_bits: u8,
    /// Membrane voltage width (two's complement, saturates).
    pub voltage_bits: u8,
    /// Decay constant width; a decay code `d` multiplies by `(2^bits - d) / 2^bits` per step.
    pub decay_bits: u8,
    /// Trace format: unsigned, `trace_int_bits` integer and `trace_frac_bits` fraction bits, saturating.
    pub trace_int_bits: u8,
    pub trace_frac_bits: u8,
    /// Learning accumulator behind each weight (signed, saturating): sign, one guard bit, the
    /// weight bits and `accumulator_bits − weight_bits − 2` fraction bits; at least `weight_bits + 2`.
    pub accumulator_bits: u8,
    /// Bits of each synapse entry besides the weight (target index, delay, group), for memory accounting.
    pub synapse_overhead_bits: u8,
    /// Graded-spike payload width (signed).
    pub payload_bits: u8,
    /// Per-synapse tag width (signed), 0 if the chip has no tags.
    pub tag_bits: u8,
    /// Per-synapse learning-rate trim code width (signed, 0: no trim). A synapse's trim code `c`
    /// multiplies its learning-rate gain by `1 + c / 128` (see
    /// [`crate::fixed_point::trim_lgain_q12`]); 6 bits give codes −32 ..= 31, factors 0.75 ..= 1.242.
    /// The codes live in the synapse circuit's calibration bits, not in synapse memory.
    #[serde(default = "default_trim_bits")]
    pub learning_rate_trim_bits: u8,
}

/// `formats.learning_rate_trim_bits` of the built-in profiles and of `program.bin` files older
/// than format version 3 (which hold no trim codes).
pub const DEFAULT_LR_TRIM_BITS: u8 = 6;

fn default_trim_bits() -> u8 {
    DEFAULT_LR_TRIM_BITS
}

/// Cycle costs. A time step of a core costs the sum of its charged operations; the step of the
/// chip ends when the slowest core and the mesh are done.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    pub clock_hz: f64,
    pub cycles_neuron_update: u32,
    pub cycles_synaptic_event: u32,
    /// Base cost per learning-engine invocation; each op adds its own cost from the op table.
    pub cycles_learning_dispatch: u32,
    pub cycles_router_hop: u32,
    /// Fixed cost of the end-of-step barrier.
    pub cycles_barrier: u32,
}

/// Energy per operation, in picojoules.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    pub neuron_update_pj: f64,
    pub synaptic_event_pj: f64,
    pub learning_op_pj: f64,
    pub router_hop_pj: f64,
    /// Static energy per active core per time step.
    pub core_static_pj_per_step: f64,
}

/// Device mismatch as relative standard deviations (0.1 = 10 %). Fixed-pattern spreads are drawn
/// once per chip instance from the chip seed; `noise_rsd` is drawn every step from the noise seed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mismatch {
    /// Per-neuron threshold (fixed per chip).
    pub threshold_rsd: f64,
    /// Per-neuron leak / decay constants (fixed per chip).
    pub leak_rsd: f64,
    /// Per-neuron bias, relative to the threshold scale (fixed per chip).
    pub bias_rsd: f64,
    /// Per-synapse efficacy gain (fixed per chip).
    pub weight_gain_rsd: f64,
    /// Per-synapse learning-rate / STDP-amplitude gain (fixed per chip).
    pub learning_rate_rsd: f64,
    /// Temporal noise on the membrane input, relative to the threshold (drawn every step).
    pub noise_rsd: f64,
    /// Default chip seed when none is given on the command line.
    pub default_chip_seed: u64,
}

impl ChipSpec {
    /// A built-in profile by name (see [`PROFILE_NAMES`]).
    pub fn profile(name: &str) -> Option<ChipSpec> {
        match name {
            "default" => Some(Self::default_profile()),
            "small" => Some(Self::small_profile()),
            "board" => Some(Self::board_profile()),
            _ => None,
        }
    }

    /// Loihi-like: 128 cores (8 x 16), 1024 neurons, 4096 axons each way, 1 Mbit synapse memory,
    /// 8-bit + sign weights, 24-bit current and voltage, 12-bit decays, 7.8 traces.
    pub fn default_profile() -> ChipSpec {
        ChipSpec {
            name: "default".into(),
            mesh: Mesh { width: 8, height: 16 },
            system: System {
                chips_x: 1,
                chips_y: 1,
                link_latency_cycles: 200,
                link_cycles_per_spike: 8,
                link_energy_pj: 100.0,
            },
            core: CoreLimits {
                max_neurons: 1024,
                max_input_axons: 4096,
                max_output_axons: 4096,
                synapse_memory_bits: 1 << 20,
                max_route_entries: 1024,
                max_learning_instrs: 512,
                max_profiles: 32,
                max_delay: 62,
            },
            formats: Formats {
                weight_bits: 8,
                weight_exp_min: -8,
                weight_exp_max: 7,
                current_bits: 24,
                voltage_bits: 24,
                decay_bits: 12,
                trace_int_bits: 7,
                trace_frac_bits: 8,
                accumulator_bits: 16,
                synapse_overhead_bits: 16,
                payload_bits: 16,
                tag_bits: 8,
                learning_rate_trim_bits: DEFAULT_LR_TRIM_BITS,
            },
            timing: Timing {
                clock_hz: 1.0e8,
                cycles_neuron_update: 2,
                cycles_synaptic_event: 1,
                cycles_learning_dispatch: 4,
                cycles_router_hop: 2,
                cycles_barrier: 16,
            },
            energy: Energy {
                neuron_update_pj: 52.0,
                synaptic_event_pj: 23.6,
                learning_op_pj: 120.0,
                router_hop_pj: 3.5,
                core_static_pj_per_step: 50.0,
            },
            mismatch: Mismatch {
                threshold_rsd: 0.10,
                leak_rsd: 0.10,
                bias_rsd: 0.10,
                weight_gain_rsd: 0.10,
                learning_rate_rsd: 0.10,
                noise_rsd: 0.0,
                default_chip_seed: 1,
            },
        }
    }

    /// A small chip so that every test runs against more than one chip: 4 cores (2 x 2) of 256
    /// neurons, 6-bit + sign weights, 256 Kbit synapse memory.
    pub fn small_profile() -> ChipSpec {
        let mut s = Self::default_profile();
        s.name = "small".into();
        s.mesh = Mesh { width: 2, height: 2 };
        s.core.max_neurons = 256;
        s.core.max_input_axons = 1024;
        s.core.max_output_axons = 1024;
        s.core.synapse_memory_bits = 1 << 18;
        s.core.max_route_entries = 256;
        s.core.max_learning_instrs = 256;
        s.core.max_profiles = 16;
        s.core.max_delay = 15;
        s.formats.weight_bits = 6;
        s
    }

    /// A board of 8 x 4 default chips (4096 cores, 4M neurons, about 130M synapses; the size of
    /// Intel's 32-chip Nahuku board) for networks larger than one chip.
    pub fn board_profile() -> ChipSpec {
        let mut s = Self::default_profile();
        s.name = "board".into();
        s.system.chips_x = 8;
        s.system.chips_y = 4;
        s
    }

    /// Cores on one chip.
    pub fn cores_per_chip(&self) -> u32 {
        u32::from(self.mesh.width) * u32::from(self.mesh.height)
    }

    /// Cores in the whole system.
    pub fn total_cores(&self) -> u32 {
        self.cores_per_chip() * u32::from(self.system.chips_x) * u32::from(self.system.chips_y)
    }

    /// Bits one synapse entry takes in synapse memory (weight with sign, plus overhead, plus tag).
    pub fn synapse_bits(&self) -> u64 {
        u64::from(self.formats.weight_bits)
            + 1
            + u64::from(self.formats.synapse_overhead_bits)
            + u64::from(self.formats.tag_bits)
    }

    /// Synapses that fit in one core's synapse memory.
    pub fn max_synapses_per_core(&self) -> u64 {
        self.core.synapse_memory_bits / self.synapse_bits()
    }

    /// Largest weight magnitude: `2^weight_bits - 1`.
    pub fn weight_max(&self) -> i32 {
        (1 << self.formats.weight_bits) - 1
    }

    /// Parse a spec from TOML text and validate it.
    pub fn from_toml_str(text: &str) -> Result<ChipSpec, SpecError> {
        let spec: ChipSpec = toml::from_str(text).map_err(|e| SpecError::Parse(e.message().to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Render the spec as TOML (the inverse of [`ChipSpec::from_toml_str`]).
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Check every number against its allowed range.
    pub fn validate(&self) -> Result<(), SpecError> {
        fn range<T: PartialOrd + std::fmt::Display + Copy>(
            field: &'static str,
            v: T,
            lo: T,
            hi: T,
        ) -> Result<(), SpecError> {
            if v < lo || v > hi {
                Err(SpecError::OutOfRange { field, value: v.to_string(), lo: lo.to_string(), hi: hi.to_string() })
            } else {
                Ok(())
            }
        }
        fn finite(field: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), SpecError> {
            if !v.is_finite() {
                return Err(SpecError::NotFinite { field });
            }
            range(field, v, lo, hi)
        }
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(SpecError::OutOfRange {
                field: "name",
                value: format!("{} characters", self.name.len()),
                lo: "1".into(),
                hi: "64".into(),
            });
        }
        range("mesh.width", self.mesh.width, 1, 64)?;
        range("mesh.height", self.mesh.height, 1, 64)?;
        range("system.chips_x", self.system.chips_x, 1, 64)?;
        range("system.chips_y", self.system.chips_y, 1, 64)?;
        range("system.link_latency_cycles", self.system.link_latency_cycles, 0, 1_000_000)?;
        range("system.link_cycles_per_spike", self.system.link_cycles_per_spike, 1, 1_000_000)?;
        finite("system.link_energy_pj", self.system.link_energy_pj, 0.0, 1e9)?;
        let c = &self.core;
        range("core.max_neurons", c.max_neurons, 1, 1 << 16)?;
        range("core.max_input_axons", c.max_input_axons, 1, 1 << 20)?;
        range("core.max_output_axons", c.max_output_axons, 1, 1 << 20)?;
        range("core.synapse_memory_bits", c.synapse_memory_bits, 64, 1 << 34)?;
        range("core.max_route_entries", c.max_route_entries, 1, 1 << 20)?;
        range("core.max_learning_instrs", c.max_learning_instrs, 1, 1 << 16)?;
        range("core.max_profiles", c.max_profiles, 1, 256)?;
        range("core.max_delay", c.max_delay, 0, 255)?;
        let f = &self.formats;
        range("formats.weight_bits", f.weight_bits, 1, 15)?;
        range("formats.weight_exp_min", f.weight_exp_min, -16, 0)?;
        range("formats.weight_exp_max", f.weight_exp_max, 0, 16)?;
        range("formats.current_bits", f.current_bits, 8, 32)?;
        range("formats.voltage_bits", f.voltage_bits, 8, 32)?;
        range("formats.decay_bits", f.decay_bits, 4, 16)?;
        range("formats.trace_int_bits", f.trace_int_bits, 1, 15)?;
        range("formats.trace_frac_bits", f.trace_frac_bits, 0, 16)?;
        range("formats.trace_int_bits + trace_frac_bits", f.trace_int_bits + f.trace_frac_bits, 1, 24)?;
        range("formats.accumulator_bits", f.accumulator_bits, f.weight_bits + 2, 24)?;
        range("formats.synapse_overhead_bits", f.synapse_overhead_bits, 0, 64)?;
        range("formats.payload_bits", f.payload_bits, 1, 24)?;
        range("formats.tag_bits", f.tag_bits, 0, 16)?;
        range("formats.learning_rate_trim_bits", f.learning_rate_trim_bits, 0, 8)?;
        let t = &self.timing;
        finite("timing.clock_hz", t.clock_hz, 1.0, 1e12)?;
        range("timing.cycles_neuron_update", t.cycles_neuron_update, 0, 1_000_000)?;
        range("timing.cycles_synaptic_event", t.cycles_synaptic_event, 0, 1_000_000)?;
        range("timing.cycles_learning_dispatch", t.cycles_learning_dispatch, 0, 1_000_000)?;
        range("timing.cycles_router_hop", t.cycles_router_hop, 0, 1_000_000)?;
        range("timing.cycles_barrier", t.cycles_barrier, 0, 1_000_000)?;
        let e = &self.energy;
        finite("energy.neuron_update_pj", e.neuron_update_pj, 0.0, 1e9)?;
        finite("energy.synaptic_event_pj", e.synaptic_event_pj, 0.0, 1e9)?;
        finite("energy.learning_op_pj", e.learning_op_pj, 0.0, 1e9)?;
        finite("energy.router_hop_pj", e.router_hop_pj, 0.0, 1e9)?;
        finite("energy.core_static_pj_per_step", e.core_static_pj_per_step, 0.0, 1e12)?;
        let m = &self.mismatch;
        finite("mismatch.threshold_rsd", m.threshold_rsd, 0.0, 1.0)?;
        finite("mismatch.leak_rsd", m.leak_rsd, 0.0, 1.0)?;
        finite("mismatch.bias_rsd", m.bias_rsd, 0.0, 1.0)?;
        finite("mismatch.weight_gain_rsd", m.weight_gain_rsd, 0.0, 1.0)?;
        finite("mismatch.learning_rate_rsd", m.learning_rate_rsd, 0.0, 1.0)?;
        finite("mismatch.noise_rsd", m.noise_rsd, 0.0, 1.0)?;
        Ok(())
    }
}

/// Why a chip spec was refused. Every variant names the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("chip spec: {0}")]
    Parse(String),
    #[error("chip spec: field `{field}` = {value} is out of range [{lo}, {hi}]")]
    OutOfRange { field: &'static str, value: String, lo: String, hi: String },
    #[error("chip spec: field `{field}` is not a finite number")]
    NotFinite { field: &'static str },
    #[error("unknown chip profile `{0}` (built-in profiles: default, small, board)")]
    UnknownProfile(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_validate() {
        for name in PROFILE_NAMES {
            let spec = ChipSpec::profile(name).expect("profile exists");
            spec.validate().expect("built-in profile is valid");
            let back = ChipSpec::from_toml_str(&spec.to_toml_string()).expect("toml round trip");
            assert_eq!(back, spec);
        }
    }

    #[test]
    fn invalid_field_is_named() {
        let mut spec = ChipSpec::default_profile();
        spec.formats.accumulator_bits = 4;
        let err = spec.validate().unwrap_err();
        assert!(err.to_string().contains("formats.accumulator_bits"), "{err}");
    }
}
