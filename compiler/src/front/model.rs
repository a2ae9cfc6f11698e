//! The checked network: what a `.nm` file means, as plain data for the back end.
//!
//! Every named entity keeps the [`Span`] of its declaration, so later stages can report problems
//! (a population too large for a core, ...) at the source with [`crate::front::diag`].
//!
//! Conventions, fixed here for every consumer:
//! * Every name is resolved to an index into the vectors of [`Model`] (`pop`, `input`, `signal`,
//!   `rule` indices are positions in `populations`, `inputs`, `signals`, `rules`).
//! * Times are in **seconds** (`f64`) and, where the chip needs steps, also in **steps** (`u32`/`u64`,
//!   rounded to nearest with `dt`). Rates are in **Hz**. Probabilities are plain numbers in `[0, 1]`.
//! * Voltages, currents, weights, biases and thresholds are in the population's *voltage unit*
//!   ([`VoltUnit`]): volts if the file wrote `mV`/`V`, otherwise plain numbers. A weight is the jump
//!   it causes in the post neuron's synaptic current (LIF) or input (stochastic, graded).
//! * Everything random carries its own seed; generated pattern rows are already drawn.
//! * The chip spec is final: profile or file, with the file's overrides applied and validated.
//! * Decay codes are computed with the chip's `decay_bits`: `code = round(2^bits · (1 − e^(−dt/τ)))`,
//!   `0` for no leak (`τ = inf`).
//! * Rule expressions are trees over the learning engine's local quantities ([`nm_isa::learn::Src`]),
//!   with parameters, constants and `let`s substituted and constant sub-trees folded. Values are
//!   in natural units: `w` in the projection's weight unit, traces in impulse units, spikes 0/1.

use crate::front::span::Span;
use nm_isa::learn::Src;
use nm_isa::ChipSpec;
use serde::Serialize;

/// A checked `.nm` program.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Model {
    /// Program name (the file stem).
    pub name: String,
    pub target: Target,
    pub sim: Sim,
    pub populations: Vec<Population>,
    pub inputs: Vec<Input>,
    pub signals: Vec<Signal>,
    pub projections: Vec<Projection>,
    /// One entry per distinct use of a `rule` block (rule + arguments), in order of first use.
    pub rules: Vec<Rule>,
    pub recordings: Vec<Recording>,
}

/// The chip to compile for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    /// Profile name (`default`, `small`, `board`) or the chip-spec path as written.
    pub source: String,
    /// The spec with overrides applied (`weight_bits`, `accumulator_bits`, mismatch, ...).
    pub spec: ChipSpec,
    /// Seed of the chip instance's fixed-pattern mismatch.
    pub chip_seed: u64,
}

/// Time base of the run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sim {
    /// Time step in seconds (default 1 ms).
    pub dt: f64,
    /// Run length in steps (default 1000).
    pub steps: u64,
    /// Epoch length in steps for `every epoch` handlers (0: no epochs).
    pub epoch_steps: u32,
    /// Seed of the inputs and the chip's run-time PRNG streams (default 0).
    pub seed: u64,
}

/// A population of identical neurons.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Population {
    pub name: String,
    /// Where the name was declared (for back-end diagnostics).
    pub span: Span,
    pub size: u32,
    pub neuron: Neuron,
    pub volt_unit: VoltUnit,
    /// Chip codes derived from the time constants.
    pub codes: NeuronCodes,
}

/// The unit of a population's voltages and of the weights onto it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum VoltUnit {
    /// Volts (the file used mV or V).
    Volt,
    /// Plain numbers.
    Plain,
}

/// Neuron type and parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Neuron {
    /// Current-based LIF. `tau_m = None` is a non-leaky integrator; `tau_syn = None` means the
    /// current lasts one step (input goes straight to the membrane).
    Lif {
        tau_m: Option<f64>,
        tau_syn: Option<f64>,
        /// Time constant of the second synaptic current (`tau_syn2`), `None`: one current only.
        /// Projections with `current = 2` feed it.
        tau_syn2: Option<f64>,
        v_th: f64,
        v_reset: f64,
        /// Resting potential the membrane relaxes to (a bias of `v_rest · dt/τ_m` per step).
        v_rest: f64,
        /// Constant input per step, besides `v_rest`.
        bias: f64,
        refractory_steps: u32,
        /// Initial voltage: uniform in `[lo, hi]` (equal for a constant), drawn with `seed`.
        v_init: (f64, f64),
        v_init_seed: u64,
    },
    /// Neural-sampling unit (papers 2 and 3): fires with probability `σ(u + bias − offset)` when not
    /// refractory; state `z = 1` for `tau_ref_steps`; PSP rectangular of `tau_syn_steps`.
    /// `clampable` is true for the binary stochastic unit (`binary(...)`), which clamp inputs drive.
    Stochastic { tau_ref_steps: u32, tau_syn_steps: u32, offset: f64, bias: f64, clampable: bool },
    /// Graded rate unit: `τ v̇ = −v + u + bias`, output `act(v)` clipped to `out_range`
    /// (default: the activation's range; `[-16, 16]` for linear, `[0, 16]` for relu); the state
    /// starts at `v_init`.
    Rate {
        tau: f64,
        tau_syn: Option<f64>,
        activation: Activation,
        bias: f64,
        out_range: (f64, f64),
        v_init: InitValues,
    },
}

/// Per-neuron initial values of a population (`v_init` of a `rate` population).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum InitValues {
    /// The same value for every neuron.
    Const(f64),
    /// Uniform in `[lo, hi]`, drawn per neuron with `seed`.
    Uniform { lo: f64, hi: f64, seed: u64 },
    /// One value per neuron (`v_init = [a, b, ...]`, as long as the population).
    Each(Vec<f64>),
}

/// Activation table of a rate neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Activation {
    Linear,
    Tanh,
    Sigmoid,
    Relu,
}

impl Activation {
    /// Output range of the activation (relu and linear are bounded by the chip's payload, not here).
    pub fn range(self) -> (f64, f64) {
        match self {
            Activation::Linear => (-f64::INFINITY, f64::INFINITY),
            Activation::Tanh => (-1.0, 1.0),
            Activation::Sigmoid => (0.0, 1.0),
            Activation::Relu => (0.0, f64::INFINITY),
        }
    }
}

/// Decay codes and counters for the neuron profile (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NeuronCodes {
    pub decay_u: u32,
    /// Decay code of the second synaptic current (LIF with `tau_syn2`).
    pub decay_u2: Option<u32>,
    pub decay_v: u32,
    pub refractory: u32,
}

/// An input source.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Input {
    pub name: String,
    pub span: Span,
    pub channels: u32,
    pub kind: InputKind,
    /// Active only while `signal == value` (`when` clause).
    pub gate: Option<(usize, i32)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum InputKind {
    /// Independent Poisson spike trains, one rate (Hz) per channel.
    Poisson { rates: Vec<f64> },
    /// Explicit spikes `(step, channel)`, sorted by step then channel.
    SpikeTimes { events: Vec<(u64, u32)> },
    /// Rows of `channels` values presented one after another for `present_steps` each.
    Patterns {
        source: PatternSource,
        rows: Vec<Vec<f64>>,
        present_steps: u32,
        order: Order,
        encoding: Encoding,
        /// Seed of the presentation order.
        seed: u64,
    },
    /// A constant current per channel (as a graded packet every step), in voltage units of the target.
    Current { values: Vec<f64> },
}

/// Where pattern rows came from (they are already in [`InputKind::Patterns::rows`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum PatternSource {
    File {
        path: String,
    },
    Literal,
    /// Zero-mean Gaussian with covariance eigenvalues `eigenvalues` along random orthogonal axes
    /// (`axes`, rows are eigenvectors) or the coordinate axes if `rotate` is false.
    Gaussian {
        eigenvalues: Vec<f64>,
        rotate: bool,
        axes: Vec<Vec<f64>>,
        seed: u64,
    },
    /// `k` cluster centres uniform on the unit sphere, points = centre + N(0, noise²), normalised.
    Clusters {
        k: u32,
        noise: f64,
        centres: Vec<Vec<f64>>,
        seed: u64,
    },
    /// `size x size` images with each row and column bar on with probability `p`.
    Bars {
        size: u32,
        p: f64,
        seed: u64,
    },
    /// Exact samples of the Boltzmann machine `p(z) ∝ exp(½ zᵀWz + bᵀz)`, z ∈ {0,1}ⁿ.
    Boltzmann {
        w: Vec<Vec<f64>>,
        b: Vec<f64>,
        seed: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Order {
    Sequential,
    Random,
}

/// How pattern values become packets.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Encoding {
    /// Poisson spikes with rate `value · max_rate` (Hz); values are clipped to `[0, 1]`.
    Rate { max_rate: f64 },
    /// A graded packet every step carrying `value · scale`.
    Graded { scale: f64 },
    /// A clamp packet every step with the state `value != 0`.
    Clamp,
}

/// A broadcast signal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signal {
    pub name: String,
    pub span: Span,
    /// Signed width of its values.
    pub bits: u8,
    pub schedule: Schedule,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Schedule {
    Constant(i32),
    /// Each value held for `period_steps`, in turn.
    Cycle {
        period_steps: u32,
        values: Vec<i32>,
    },
    /// At each phase boundary: `one` with probability `p_one`, else `zero`.
    Random {
        len: PhaseLen,
        p_one: f64,
        one: i32,
        zero: i32,
        seed: u64,
    },
    /// `(step, value)` changes, sorted; the value before the first is 0.
    List(Vec<(u64, i32)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum PhaseLen {
    Fixed(u32),
    /// Each step ends the phase with probability `p_end` (mean length `1/p_end`).
    Geometric {
        p_end: f64,
    },
}

/// The pre-synaptic side of a projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Endpoint {
    Pop(usize),
    Input(usize),
}

/// A bundle of synapses from one source to one population.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Projection {
    /// `name` from `connect name: a -> b`, else `a->b`.
    pub name: String,
    /// The whole `connect` item.
    pub span: Span,
    pub pre: Endpoint,
    pub post: usize,
    pub connectivity: Connectivity,
    pub weights: WeightInit,
    pub sign: Sign,
    pub delay_steps: u32,
    pub mode: SynMode,
    /// Synaptic current of the post neuron the projection feeds, 0-based (`current = 2` is 1).
    pub current: u8,
    /// `zeroed = allow`: non-zero weights that round to zero on the chip are accepted.
    pub allow_zero: bool,
    /// Index into [`Model::rules`].
    pub rule: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Connectivity {
    /// Every pre to every post (`self_connections` false drops `i -> i` when pre == post).
    AllToAll {
        self_connections: bool,
    },
    OneToOne,
    /// Each pair independently with probability `p`, drawn with `seed`.
    FixedProb {
        p: f64,
        seed: u64,
        self_connections: bool,
    },
    /// Each post neuron gets exactly `n` distinct random pre neurons.
    FixedInDegree {
        n: u32,
        seed: u64,
        self_connections: bool,
    },
    /// Explicit `(pre, post)` pairs.
    List(Vec<(u32, u32)>),
    /// The pairs where the weight matrix ([`WeightInit::Matrix`]) is non-zero.
    NonZero,
}

/// Initial weights, in the post population's voltage unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum WeightInit {
    Constant(f64),
    Uniform {
        lo: f64,
        hi: f64,
        seed: u64,
    },
    Normal {
        mean: f64,
        sd: f64,
        seed: u64,
    },
    /// `m[pre][post]`; used for the pairs the connectivity makes (a zero entry is still a synapse
    /// if the connectivity has it).
    Matrix(Vec<Vec<f64>>),
}

impl WeightInit {
    /// Smallest and largest initial value (for a normal: mean ± 4 sd).
    pub fn range(&self) -> (f64, f64) {
        match self {
            WeightInit::Constant(c) => (*c, *c),
            WeightInit::Uniform { lo, hi, .. } => (*lo, *hi),
            WeightInit::Normal { mean, sd, .. } => (mean - 4.0 * sd, mean + 4.0 * sd),
            WeightInit::Matrix(m) => {
                m.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Sign {
    /// Weights stay `>= 0`.
    Excitatory,
    /// Weights stay `<= 0`.
    Inhibitory,
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SynMode {
    /// Adds `w · payload` to the post neuron's input.
    Current,
    /// Forces the post (binary stochastic) unit's state.
    Clamp,
}

/// A trace kept by the learning engine for a rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    pub name: String,
    /// Seconds; `None` for no decay.
    pub tau: Option<f64>,
    pub decay_code: u32,
    /// Added at each spike of the owner.
    pub impulse: f64,
}

/// When a handler runs (the chip's [`nm_isa::learn::Trigger`]).
pub use nm_isa::learn::Trigger;

/// A learning rule instance (a `rule` block with its arguments bound).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    /// `stdp` or `stdp#2` for a second instance with different arguments.
    pub name: String,
    /// The rule block's name.
    pub span: Span,
    /// The `rule` block's name.
    pub source: String,
    /// Parameter values after defaults and arguments.
    pub params: Vec<(String, f64)>,
    /// Pre traces become `x0`, `x1`; post traces `y0`, `y1`.
    pub pre_traces: Vec<Trace>,
    pub post_traces: Vec<Trace>,
    pub handlers: Vec<Handler>,
    /// Weight bounds in the weight unit (from `bounds`, else from the sign and initial weights).
    pub bounds: (f64, f64),
    /// `bounds tag in [lo, hi]`: the tag is clamped to this range after every write.
    pub tag_bounds: Option<(f64, f64)>,
    pub normalize: Option<Normalize>,
    /// Rounding of updates and of the weight readout (`round stochastic`; default nearest).
    pub rounding: nm_isa::fixed_point::Rounding,
}

/// A handler: its updates in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Handler {
    pub trigger: Trigger,
    pub updates: Vec<Update>,
}

/// `dst op= value`; `*=` means `dst ← dst · value`, `=` sets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Update {
    pub dst: nm_isa::learn::Dst,
    pub op: UpdateOp,
    pub value: RExpr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UpdateOp {
    Set,
    Add,
    Sub,
    Mul,
}

/// Per-post normalisation: after `trigger`, scale the post neuron's incoming weights so that
/// `kind` of them equals `value`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Normalize {
    pub kind: NormKind,
    pub value: f64,
    pub trigger: Trigger,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NormKind {
    Max,
    Sum,
    L2,
}

/// A rule expression over local quantities.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RExpr {
    Const(f64),
    /// A local quantity. `Src::Sig(k)` is signal `k` of [`Model::signals`]; `Src::Rand` is a fresh
    /// uniform draw in `[-1, 1)`, `Src::RandU` in `[0, 1)`.
    Load(Src),
    Neg(Box<RExpr>),
    Bin(RBinOp, Box<RExpr>, Box<RExpr>),
    Min(Box<RExpr>, Box<RExpr>),
    Max(Box<RExpr>, Box<RExpr>),
    Abs(Box<RExpr>),
}

impl RExpr {
    /// The expression's value in real (float) arithmetic, with `v` giving each local quantity:
    /// the ideal the learning engine's integer code approximates (tests compare the two).
    pub fn eval_f64(&self, v: &dyn Fn(Src) -> f64) -> f64 {
        match self {
            RExpr::Const(c) => *c,
            RExpr::Load(s) => v(*s),
            RExpr::Neg(a) => -a.eval_f64(v),
            RExpr::Abs(a) => a.eval_f64(v).abs(),
            RExpr::Min(a, b) => a.eval_f64(v).min(b.eval_f64(v)),
            RExpr::Max(a, b) => a.eval_f64(v).max(b.eval_f64(v)),
            RExpr::Bin(op, a, b) => {
                let (x, y) = (a.eval_f64(v), b.eval_f64(v));
                match op {
                    RBinOp::Add => x + y,
                    RBinOp::Sub => x - y,
                    RBinOp::Mul => x * y,
                    RBinOp::Div => x / y,
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RBinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// A recording.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recording {
    pub what: RecordKind,
    /// Sampling period in steps (spike recordings record every spike).
    pub every_steps: u32,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RecordKind {
    Spikes {
        pop: usize,
    },
    /// `var` is the chip's state variable (`V`, `U`, `Y`, `Trace0`, `Trace1`).
    State {
        pop: usize,
        var: nm_isa::program::StateVar,
    },
    Weights {
        proj: usize,
    },
    Signal {
        signal: usize,
    },
}

impl Model {
    pub fn population(&self, name: &str) -> Option<usize> {
        self.populations.iter().position(|p| p.name == name)
    }
    pub fn input(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|p| p.name == name)
    }
    pub fn projection(&self, name: &str) -> Option<usize> {
        self.projections.iter().position(|p| p.name == name)
    }
    /// Number of neurons (or channels) on the pre side of a projection.
    pub fn endpoint_size(&self, e: Endpoint) -> u32 {
        match e {
            Endpoint::Pop(i) => self.populations.get(i).map_or(0, |p| p.size),
            Endpoint::Input(i) => self.inputs.get(i).map_or(0, |p| p.channels),
        }
    }
}
