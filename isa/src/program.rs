//! The in-memory form of a compiled program: what `nmc` produces, what `program.bin` encodes and
//! what `nmemu` runs. Plain data; `docs/program-format.md` gives the byte layout.
//!
//! Spike transport follows SpiNNaker's multicast model. Each neuron of a core that has targets
//! sends a packet with key `core.key_base + local index`; each input channel sends
//! `input.key_base + channel`, injected at `input.inject_core`. Routers of the global mesh (all
//! chips' cores side by side; a hop across a chip edge uses an inter-chip link) look a packet's
//! key up in their table: the first entry with `key & mask == entry.key` gives the output set
//! (local core and/or the four neighbours). A router with no matching entry passes the packet
//! straight on in the direction it was travelling (default routing); at the source core no match
//! means the neuron has no targets. At a destination core the key is mapped to an input axon by
//! the core's axon map, and the axon's synapses receive the packet after their delays; a key the
//! axon map does not list is dropped there (routing is per key block, so a core may receive keys of
//! neurons that have no synapses on it).

use crate::chip::ChipSpec;
use crate::ids::{CoreId, PopId, ProjId, RuleId, SignalId};
use crate::learn::LearnRule;
use crate::neuron::{Lut, NeuronConfig, NeuronKind, NeuronProfile};
use serde::{Deserialize, Serialize};

/// The newest `program.bin` format version this crate reads and writes (2 adds the second
/// synaptic current: [`crate::neuron::NeuronProfile::decay_u2`] and [`SynGroup::current`]; 3 adds
/// the per-synapse learning-rate trims [`Core::lr_trim`] and
/// [`crate::chip::Formats::learning_rate_trim_bits`]).
pub const FORMAT_VERSION: u16 = 3;
/// The version that adds the second synaptic current.
pub const FORMAT_VERSION_U2: u16 = 2;
/// The version that adds the learning-rate trims.
pub const FORMAT_VERSION_TRIM: u16 = 3;
/// The oldest version this crate reads; a program that uses no second current is written as
/// this version, byte-identical to what earlier builds wrote.
pub const FORMAT_VERSION_MIN: u16 = 1;

/// A complete compiled program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The chip (system) it was compiled for.
    pub chip: ChipSpec,
    pub meta: Meta,
    /// Lookup tables referenced by neuron profiles.
    pub luts: Vec<Lut>,
    /// Learning rules referenced by synapse groups.
    pub rules: Vec<LearnRule>,
    /// Used cores, sorted by id, each id at most once.
    pub cores: Vec<Core>,
    /// Routing tables of the routers that have entries, sorted by core id.
    pub routes: Vec<RouteTable>,
    pub inputs: Vec<InputSource>,
    pub signals: Vec<Signal>,
    pub probes: Vec<Probe>,
    /// Names of populations and projections, for reports and recordings.
    pub symbols: Symbols,
}

/// Program-wide settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Program name (from the source file).
    pub name: String,
    /// Length of one time step in nanoseconds.
    pub dt_ns: u64,
    /// Default run length in steps (`nmemu run` without `--steps`).
    pub steps: u64,
    /// Epoch length in steps for `Epoch` handlers (0: no epochs).
    pub epoch_steps: u32,
    /// Seed of input generators and of the chip's runtime PRNG streams (overridable at run time).
    pub seed: u64,
}

/// One core's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Core {
    pub id: CoreId,
    /// Neuron profiles (shared parameter sets).
    pub profiles: Vec<NeuronProfile>,
    /// Per-neuron configuration; the local neuron index is the position.
    pub neurons: Vec<NeuronConfig>,
    /// Key of local neuron 0; neuron `i` sends `key_base + i`.
    pub key_base: u32,
    /// Synapse groups: shared weight exponent and learning rule.
    pub groups: Vec<SynGroup>,
    /// Maps incoming keys to input axons.
    pub axon_map: Vec<AxonMapEntry>,
    /// Input axons: each a contiguous range of `synapses`.
    pub axons: Vec<Axon>,
    /// All synapses, ordered by axon.
    pub synapses: Vec<Synapse>,
    /// Per-synapse learning-rate trim codes (signed, `learning_rate_trim_bits` wide), parallel to
    /// `synapses`, or empty: every code 0. Code `c` scales the synapse's learning-rate gain by
    /// `1 + c / 128` ([`crate::fixed_point::trim_lgain_q12`]); `nmc compile --calibration` sets them.
    #[serde(default)]
    pub lr_trim: Vec<i8>,
}

impl Core {
    /// The trim code of synapse `si` (0 if the core has no trims).
    pub fn lr_trim_of(&self, si: usize) -> i8 {
        self.lr_trim.get(si).copied().unwrap_or(0)
    }
}

/// Keys `key_base .. key_base + count` arrive on axons `axon_base .. axon_base + count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxonMapEntry {
    pub key_base: u32,
    pub count: u32,
    pub axon_base: u32,
}

/// An input axon: synapses `first .. first + count` of the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axon {
    pub first: u32,
    pub count: u32,
}

/// One synapse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synapse {
    /// Local index of the post-synaptic neuron.
    pub target: u32,
    /// Learning accumulator (raw, `accumulator_bits` signed); the weight is its readout
    /// (see [`crate::fixed_point::weight_readout`]). A static synapse holds its weight shifted
    /// into accumulator position too, so one rule serves both.
    pub acc: i32,
    /// Delay in steps (1 = delivered in the next step; 0 is not allowed).
    pub delay: u8,
    /// Index into the core's groups.
    pub group: u16,
}

/// Synapses sharing an exponent, a kind and a learning rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynGroup {
    /// Contribution to the post current is `w · payload · 2^weight_exp`.
    pub weight_exp: i8,
    pub kind: SynKind,
    pub rule: Option<RuleId>,
    /// The projection these synapses belong to (for recordings and reports).
    pub proj: ProjId,
    /// Which synaptic current of the post neuron a `Current` synapse feeds: 0 the first (`u`),
    /// 1 the second (`u2`, needs a LIF profile with `decay_u2`). Clamp groups use 0.
    pub current: u8,
}

/// What a synapse does to its post neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SynKind {
    /// Adds `w · payload · 2^exp` to the post neuron's current.
    Current,
    /// Forces a stochastic post neuron's state this step to the packet's payload (0 or 1).
    Clamp,
}

/// A router's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    pub core: CoreId,
    pub entries: Vec<RouteEntry>,
}

/// `key & mask == key` selects `dirs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteEntry {
    pub key: u32,
    pub mask: u32,
    pub dirs: Dirs,
}

/// A set of router outputs: bit 0 local core, 1 north (+y), 2 east (+x), 3 south (−y), 4 west (−x).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dirs(pub u8);

impl Dirs {
    pub const LOCAL: Dirs = Dirs(1);
    pub const NORTH: Dirs = Dirs(2);
    pub const EAST: Dirs = Dirs(4);
    pub const SOUTH: Dirs = Dirs(8);
    pub const WEST: Dirs = Dirs(16);
    pub const ALL_BITS: u8 = 31;

    pub fn contains(self, other: Dirs) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: Dirs) -> Dirs {
        Dirs(self.0 | other.0)
    }
}

/// A source of input spikes or values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSource {
    pub name: String,
    pub channels: u32,
    /// Channel `c` sends key `key_base + c`.
    pub key_base: u32,
    /// Router where the host injects the packets.
    pub inject_core: CoreId,
    pub kind: InputKind,
    /// If set, the source is active only while the signal has this value.
    pub gate: Option<Gate>,
}

/// The input is active only while `signal == value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub signal: SignalId,
    pub value: i32,
}

/// How an input source produces packets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InputKind {
    /// Independent Bernoulli draws per step and channel: probability `p_q32[c] / 2^32`.
    Poisson { p_q32: Vec<u32> },
    /// Explicit `(step, channel)` spikes, sorted by step.
    SpikeTimes { events: Vec<(u64, u32)> },
    /// Rows of `channels` values, each presented for `present_steps` steps.
    Patterns { rows: Vec<Vec<i32>>, present_steps: u32, order: PatternOrder, encoding: Encoding },
}

/// Order in which pattern rows are presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatternOrder {
    Sequential,
    /// A fresh uniformly random row at every presentation, from the program seed.
    Random,
}

/// How a pattern value becomes packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// Spike with probability `value / 2^32` per step (value as unsigned Q0.32 in an i32 bit pattern).
    Rate,
    /// A packet every step carrying `value` as payload.
    Graded,
    /// A packet every step carrying the state `value` (0 or 1) to clamp synapses.
    Clamp,
}

/// A broadcast signal: a few bits latched at phase boundaries and readable by every rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub id: SignalId,
    pub name: String,
    pub bits: u8,
    pub schedule: Schedule,
}

/// How a signal's value changes over time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    Constant(i32),
    /// Cycles through `values`, each held for `period` steps.
    Cycle {
        period: u32,
        values: Vec<i32>,
    },
    /// At each phase boundary draws `value_one` with probability `p_one_q32 / 2^32`, else
    /// `value_zero`. Phases last `len` steps.
    Random {
        len: PhaseLen,
        p_one_q32: u32,
        value_one: i32,
        value_zero: i32,
    },
    /// Explicit `(step, value)` changes, sorted by step; the value before the first is 0.
    List(Vec<(u64, i32)>),
}

/// Length of a phase of a random schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PhaseLen {
    Fixed(u32),
    /// Each step ends the phase with probability `p_end_q32 / 2^32`.
    Geometric {
        p_end_q32: u32,
    },
}

/// A recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub name: String,
    pub kind: ProbeKind,
    /// Sample every `every` steps (spike probes record every spike and ignore it).
    pub every: u32,
}

/// What a probe records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeKind {
    Spikes { pop: PopId },
    State { pop: PopId, var: StateVar },
    Weights { proj: ProjId },
    Signal { signal: SignalId },
}

/// A neuron state variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateVar {
    /// Membrane voltage.
    V,
    /// Synaptic current.
    U,
    /// Output: graded value, stochastic state, or spike.
    Y,
    /// Post traces.
    Trace0,
    Trace1,
}

/// Names for reports and recordings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbols {
    pub populations: Vec<PopInfo>,
    pub projections: Vec<ProjInfo>,
}

/// A population and where its neurons live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopInfo {
    pub name: String,
    pub kind: NeuronKind,
    pub size: u32,
    /// Neurons `offset .. offset + len` of the population are local neurons `first ..` of `core`.
    pub slices: Vec<Slice>,
}

/// A contiguous piece of a population on one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    pub core: CoreId,
    pub first: u32,
    pub len: u32,
    pub offset: u32,
}

/// A projection's endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjInfo {
    pub name: String,
    pub pre: Endpoint,
    pub post: PopId,
    /// Synapses in the source network (each appears exactly once in the program).
    pub synapses: u64,
}

/// The pre-synaptic side of a projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Endpoint {
    Pop(PopId),
    /// Index into [`Program::inputs`].
    Input(u32),
}

impl Program {
    /// An empty program for `chip`.
    pub fn new(chip: ChipSpec, name: &str) -> Program {
        Program {
            chip,
            meta: Meta { name: name.into(), dt_ns: 1_000_000, steps: 1000, epoch_steps: 0, seed: 0 },
            luts: Vec::new(),
            rules: Vec::new(),
            cores: Vec::new(),
            routes: Vec::new(),
            inputs: Vec::new(),
            signals: Vec::new(),
            probes: Vec::new(),
            symbols: Symbols::default(),
        }
    }

    /// Total synapses over all cores.
    pub fn synapse_count(&self) -> u64 {
        self.cores.iter().map(|c| c.synapses.len() as u64).sum()
    }

    /// Total neurons over all cores.
    pub fn neuron_count(&self) -> u64 {
        self.cores.iter().map(|c| c.neurons.len() as u64).sum()
    }

    /// Whether any profile has a second synaptic current or any group feeds one.
    pub fn uses_second_current(&self) -> bool {
        self.cores
            .iter()
            .any(|c| c.profiles.iter().any(|p| p.decay_u2.is_some()) || c.groups.iter().any(|g| g.current != 0))
    }

    /// Whether any core lists trim codes or the chip's trim width is not the default (both need
    /// format version 3).
    pub fn uses_lr_trim(&self) -> bool {
        self.chip.formats.learning_rate_trim_bits != crate::chip::DEFAULT_LR_TRIM_BITS
            || self.cores.iter().any(|c| !c.lr_trim.is_empty())
    }

    /// The format version [`crate::binary::encode`] writes: the oldest that holds what the
    /// program uses — [`FORMAT_VERSION_TRIM`] with trims, else [`FORMAT_VERSION_U2`] with the
    /// second current, else [`FORMAT_VERSION_MIN`] (byte-identical to what earlier builds wrote).
    pub fn format_version(&self) -> u16 {
        if self.uses_lr_trim() {
            FORMAT_VERSION_TRIM
        } else if self.uses_second_current() {
            FORMAT_VERSION_U2
        } else {
            FORMAT_VERSION_MIN
        }
    }
}
