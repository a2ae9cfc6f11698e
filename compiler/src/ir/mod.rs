//! The back end's graph IR: populations and input sources as nodes of a petgraph `StableGraph`,
//! projections as edges carrying compact CSR connectivity, behind our own typed ids. Passes
//! fill in the mapping results (slices, placement, keys, routes, quantization) as plain data.
//!
//! Units are ideal and chip-independent: time in steps, decays as the fraction lost per step,
//! voltages, thresholds, biases and weights in one arbitrary unit per post population (the
//! quantizer picks the chip scale), rates as expected spikes per step.
//!
//! ```
//! use nm_compiler::ir::{Connectivity, Endpoint, InputKind, InputSource, Ir, NeuronParams};
//! use nm_compiler::passes::{compile_ir, CompileOptions};
//! use nm_isa::program::SynKind;
//!
//! let mut ir = Ir::new("example");
//! let stim = ir.add_input(InputSource {
//!     name: "stim".into(),
//!     channels: 100,
//!     kind: InputKind::Poisson { p: vec![0.02; 100] },
//!     gate: None,
//!     rate: None,
//!     key_base: None,
//!     inject_core: None,
//! })?;
//! // tau_u = 5 steps, tau_v = 20 steps, threshold 1, reset 0, 2 refractory steps.
//! let exc = ir.add_lif("exc", 800, NeuronParams::lif(5.0, 20.0, 1.0, 0.0, 2))?;
//! let conn = Connectivity::fixed_fan_in(100, 800, 20, false, 7, 0.1, 1)?;
//! ir.add_projection("in_exc", Endpoint::Input(stim), exc, conn, SynKind::Current, None, false)?;
//! let rec = Connectivity::fixed_probability(800, 800, 0.05, 8, -0.05, 2)?;
//! ir.add_projection("exc_exc", Endpoint::Pop(exc), exc, rec, SynKind::Current, None, false)?;
//!
//! let (program, report) = compile_ir(ir, &CompileOptions::new(nm_isa::ChipSpec::default_profile()))?;
//! assert_eq!(program.neuron_count(), 800);
//! assert!(report.to_text().contains("quantization"));
//! # Ok::<(), nm_compiler::ir::CompileError>(())
//! ```

mod conn;
mod error;
pub mod nets;
mod print;
mod verify;

pub use conn::{below, Connectivity, Syn, Values};
pub use error::CompileError;
pub use print::print_ir;
pub use verify::verify;

use nm_isa::ids::{CoreId, SignalId};
use nm_isa::learn::LearnRule;
use nm_isa::neuron::{Lut, NeuronKind};
use nm_isa::program::{Encoding, Gate, Meta, PatternOrder, RouteTable, Signal, StateVar, SynKind};
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

macro_rules! ir_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);
        impl $name {
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

ir_id!(
    /// A population (position in declaration order; also its program symbol index).
    PopId, "p"
);
ir_id!(
    /// An input source (position in declaration order; also its index in `Program::inputs`).
    InputId, "i"
);
ir_id!(
    /// A projection (position in declaration order; also its program symbol index).
    ProjId, "j"
);
ir_id!(
    /// A slice: a contiguous piece of a population mapped to one core.
    SliceId, "s"
);

/// A per-neuron parameter: one value for all, or one per neuron.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Const(f64),
    Each(Vec<f64>),
}

impl Param {
    #[inline]
    pub fn get(&self, i: u32) -> f64 {
        match self {
            Param::Const(v) => *v,
            Param::Each(v) => v[i as usize],
        }
    }
    /// Largest absolute value.
    pub fn max_abs(&self) -> f64 {
        match self {
            Param::Const(v) => v.abs(),
            Param::Each(v) => v.iter().fold(0.0, |m, x| m.max(x.abs())),
        }
    }
    fn all_finite(&self) -> bool {
        match self {
            Param::Const(v) => v.is_finite(),
            Param::Each(v) => v.iter().all(|x| x.is_finite()),
        }
    }
}

/// Neuron parameters in ideal units (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronParams {
    /// Fraction of the synaptic current lost per step, in `[0, 1]` (`1 - exp(-1/tau)`).
    pub decay_u: f64,
    /// Same for the second synaptic current (LIF only); `None`: the neuron has one current.
    pub decay_u2: Option<f64>,
    /// Fraction of the membrane voltage lost per step, in `[0, 1]`.
    pub decay_v: f64,
    pub threshold: Param,
    pub reset: f64,
    pub bias: Param,
    pub v_init: Param,
    /// Refractory steps (LIF) or τ_ref (stochastic).
    pub refractory: u16,
    /// Index into [`Ir::luts`]: activation (graded) or firing probability (stochastic).
    pub lut: Option<u16>,
    pub noisy: bool,
    /// Chip voltage units per ideal unit, if the program fixes it; otherwise the quantizer picks it.
    pub scale: Option<f64>,
}

impl NeuronParams {
    /// LIF parameters from time constants in steps (`tau = 0` clears every step).
    pub fn lif(tau_u: f64, tau_v: f64, threshold: f64, reset: f64, refractory: u16) -> NeuronParams {
        NeuronParams {
            decay_u: decay_fraction(tau_u),
            decay_u2: None,
            decay_v: decay_fraction(tau_v),
            threshold: Param::Const(threshold),
            reset,
            bias: Param::Const(0.0),
            v_init: Param::Const(reset),
            refractory,
            lut: None,
            noisy: false,
            scale: None,
        }
    }
}

/// The fraction lost per step by an exponential with time constant `tau` steps (`tau <= 0`: 1).
pub fn decay_fraction(tau: f64) -> f64 {
    if tau <= 0.0 {
        1.0
    } else {
        1.0 - (-1.0 / tau).exp()
    }
}

/// A population node.
#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    pub name: String,
    pub size: u32,
    pub kind: NeuronKind,
    pub params: NeuronParams,
    /// Expected spikes per neuron per step, if known (used to weight traffic).
    pub rate: Option<f64>,
    /// Slices, filled by the `partition` pass.
    pub slices: Vec<SliceId>,
}

/// How an input source produces spikes, unquantized.
#[derive(Clone, Debug, PartialEq)]
pub enum InputKind {
    /// Spike probability per step of each channel.
    Poisson {
        p: Vec<f64>,
    },
    SpikeTimes {
        events: Vec<(u64, u32)>,
    },
    /// Rate encoding: probabilities per step; graded: payload values; clamp: 0 or 1.
    Patterns {
        rows: Vec<Vec<f64>>,
        present_steps: u32,
        order: PatternOrder,
        encoding: Encoding,
    },
}

/// An input source node.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSource {
    pub name: String,
    pub channels: u32,
    pub kind: InputKind,
    pub gate: Option<Gate>,
    /// Expected spikes per channel per step (derived from the kind by [`Ir::add_input`] if `None`).
    pub rate: Option<f64>,
    /// Filled by the `keys` pass.
    pub key_base: Option<u32>,
    /// Filled by the `keys` pass.
    pub inject_core: Option<CoreId>,
}

/// Pre-synaptic side of a projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Pop(PopId),
    Input(InputId),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Pop(p) => p.fmt(f),
            Endpoint::Input(i) => i.fmt(f),
        }
    }
}

/// Learning on a projection: the rule (already lowered to the ISA) and the weight bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct Plasticity {
    /// Identity of the rule: projections with the same identity and bounds share one program rule.
    pub rule_name: String,
    /// `w_min`/`w_max` of this rule are overwritten by the quantized bounds.
    pub rule: LearnRule,
    /// Weight bounds in ideal units.
    pub w_min: f64,
    pub w_max: f64,
}

/// Sign of a projection's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    Excitatory,
    Inhibitory,
    Mixed,
}

/// A projection edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub name: String,
    pub pre: Endpoint,
    pub post: PopId,
    pub conn: Connectivity,
    pub kind: SynKind,
    /// Synaptic current of the post neurons the synapses feed (0 the first, 1 the second; set
    /// after [`Ir::add_projection`], which makes 0).
    pub current: u8,
    pub plasticity: Option<Plasticity>,
    /// Allow non-zero weights that round to zero (otherwise a quantization error).
    pub allow_zero: bool,
    /// Filled by [`Ir::add_projection`].
    pub sign: Sign,
    /// Expected synaptic events per step: pre rate × synapses (filled by `add_projection`).
    pub traffic: f64,
    /// Filled by the `quantize` pass.
    pub quant: Option<ProjQuant>,
    /// Units of the program's (`.nm`) weights per IR weight unit: IR weights are the program's
    /// divided by the pre payload scale (and the post population's current factor). 1 unless the
    /// lowering sets it.
    pub w_factor: f64,
}

/// Quantization of one projection (one synapse group per core).
#[derive(Clone, Debug, PartialEq)]
pub struct ProjQuant {
    pub weight_exp: i8,
    /// Chip weight units per ideal unit (`voltage scale / 2^exp`).
    pub scale: f64,
    pub max_rel_error: f64,
    pub mean_rel_error: f64,
    pub zeroed: u64,
    pub saturated: u64,
    /// Quantized bounds (raw accumulator units) for plastic projections.
    pub acc_bounds: Option<(i32, i32)>,
}

/// Quantization of one population.
#[derive(Clone, Debug, PartialEq)]
pub struct PopQuant {
    /// Chip voltage units per ideal unit.
    pub scale: f64,
    pub decay_u: u32,
    pub decay_u2: Option<u32>,
    pub decay_v: u32,
}

/// A slice of a population.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub pop: PopId,
    /// First neuron of the population in this slice.
    pub offset: u32,
    pub len: u32,
    /// Filled by the `place` pass.
    pub core: Option<CoreId>,
    /// First local neuron index on the core (filled by `place`).
    pub first: u32,
}

/// A recording request.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub name: String,
    pub kind: ProbeKind,
    pub every: u32,
}

/// What a probe records.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProbeKind {
    Spikes(PopId),
    State(PopId, StateVar),
    Weights(ProjId),
    Signal(SignalId),
}

/// Placement figures kept for the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlacementStats {
    /// Σ traffic × weighted hops of the placement.
    pub cost: f64,
    /// The same for the naive sequential placement (`None` if it did not fit).
    pub naive_cost: Option<f64>,
    pub greedy_cost: f64,
    pub inter_chip_traffic: f64,
    pub naive_inter_chip_traffic: Option<f64>,
    pub cores_used: u32,
    pub naive_cores_used: Option<u32>,
    pub refine_moves: u64,
    /// Expected packets per step between different cores.
    pub inter_core_traffic: f64,
    /// Mean mesh hops of those packets (unweighted).
    pub mean_hops: f64,
}

/// Routing figures kept for the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteStats {
    pub entries_uncompressed: u64,
    pub entries: u64,
    pub max_entries: u32,
}

/// A node of the graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Pop(Population),
    Input(InputSource),
}

/// The IR.
#[derive(Clone, Debug)]
pub struct Ir {
    pub meta: Meta,
    graph: StableGraph<Node, Projection>,
    pops: Vec<NodeIndex>,
    inputs: Vec<NodeIndex>,
    projs: Vec<EdgeIndex>,
    /// Projection of each edge index (edges are never removed, so indices are dense).
    edge_proj: Vec<ProjId>,
    pub luts: Vec<Lut>,
    pub signals: Vec<Signal>,
    pub probes: Vec<Probe>,
    /// Filled by `partition`.
    pub slices: Vec<Slice>,
    /// Filled by `place`.
    pub placement: Option<PlacementStats>,
    /// Key bits per core (local neuron index width), filled by `keys`: core `c` sends keys `c << key_shift | i`.
    pub key_shift: Option<u32>,
    /// Filled by `route` (compressed tables, sorted by core).
    pub routes: Option<Vec<RouteTable>>,
    pub route_stats: Option<RouteStats>,
    /// Filled by `quantize`, indexed by population.
    pub pop_quant: Vec<PopQuant>,
    /// Messages for the report.
    pub warnings: Vec<String>,
}

impl Ir {
    /// An empty IR for a program called `name`.
    pub fn new(name: &str) -> Ir {
        Ir {
            meta: Meta { name: name.into(), dt_ns: 1_000_000, steps: 1000, epoch_steps: 0, seed: 0 },
            graph: StableGraph::new(),
            pops: Vec::new(),
            inputs: Vec::new(),
            projs: Vec::new(),
            edge_proj: Vec::new(),
            luts: Vec::new(),
            signals: Vec::new(),
            probes: Vec::new(),
            slices: Vec::new(),
            placement: None,
            key_shift: None,
            routes: None,
            route_stats: None,
            pop_quant: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Add a population. Names must be unique among populations and inputs.
    pub fn add_population(&mut self, mut pop: Population) -> Result<PopId, CompileError> {
        self.check_name(&pop.name)?;
        if pop.size == 0 {
            return Err(CompileError::Invalid(format!("population `{}` has no neurons", pop.name)));
        }
        let pr = &pop.params;
        for (what, v) in [("threshold", &pr.threshold), ("bias", &pr.bias), ("v_init", &pr.v_init)] {
            if let Param::Each(vals) = v {
                if vals.len() != pop.size as usize {
                    return Err(CompileError::Invalid(format!(
                        "population `{}`: {what} has {} values for {} neurons",
                        pop.name,
                        vals.len(),
                        pop.size
                    )));
                }
            }
        }
        pop.slices.clear();
        let id = PopId(self.pops.len() as u32);
        self.pops.push(self.graph.add_node(Node::Pop(pop)));
        Ok(id)
    }

    /// Convenience: a LIF population.
    pub fn add_lif(&mut self, name: &str, size: u32, params: NeuronParams) -> Result<PopId, CompileError> {
        self.add_population(Population {
            name: name.into(),
            size,
            kind: NeuronKind::Lif,
            params,
            rate: None,
            slices: Vec::new(),
        })
    }

    /// Add an input source; its expected rate is derived from its kind when not given.
    pub fn add_input(&mut self, mut input: InputSource) -> Result<InputId, CompileError> {
        self.check_name(&input.name)?;
        if input.channels == 0 || input.channels > nm_isa::validate::MAX_INPUT_CHANNELS {
            return Err(CompileError::Invalid(format!(
                "input `{}` has {} channels; 1..={} are allowed",
                input.name,
                input.channels,
                nm_isa::validate::MAX_INPUT_CHANNELS
            )));
        }
        if input.rate.is_none() {
            input.rate = Some(match &input.kind {
                InputKind::Poisson { p } => p.iter().sum::<f64>() / p.len().max(1) as f64,
                InputKind::SpikeTimes { events } => {
                    let last = events.last().map_or(1, |e| e.0 + 1);
                    events.len() as f64 / (last as f64 * f64::from(input.channels))
                }
                InputKind::Patterns { encoding: Encoding::Rate, rows, .. } => {
                    let n: usize = rows.iter().map(Vec::len).sum();
                    rows.iter().flatten().sum::<f64>() / n.max(1) as f64
                }
                InputKind::Patterns { .. } => 1.0,
            });
        }
        input.key_base = None;
        input.inject_core = None;
        let id = InputId(self.inputs.len() as u32);
        self.inputs.push(self.graph.add_node(Node::Input(input)));
        Ok(id)
    }

    /// Add a projection; checks that the connectivity matches the endpoint sizes and fills in
    /// its sign and expected traffic.
    #[allow(clippy::too_many_arguments)]
    pub fn add_projection(
        &mut self,
        name: &str,
        pre: Endpoint,
        post: PopId,
        conn: Connectivity,
        kind: SynKind,
        plasticity: Option<Plasticity>,
        allow_zero: bool,
    ) -> Result<ProjId, CompileError> {
        let (pre_node, pre_size, rate) = match pre {
            Endpoint::Pop(p) => {
                let n = *self.pops.get(p.index()).ok_or_else(|| bad_id("population", p))?;
                let pp = self.pop(p);
                (n, pp.size, pp.rate.unwrap_or(DEFAULT_RATE))
            }
            Endpoint::Input(i) => {
                let n = *self.inputs.get(i.index()).ok_or_else(|| bad_id("input", i))?;
                let ii = self.input(i);
                (n, ii.channels, ii.rate.unwrap_or(DEFAULT_RATE))
            }
        };
        let post_node = *self.pops.get(post.index()).ok_or_else(|| bad_id("population", post))?;
        let post_size = self.pop(post).size;
        if conn.pre_size != pre_size || conn.post_size != post_size {
            return Err(CompileError::Invalid(format!(
                "projection `{name}`: connectivity is {} -> {} neurons but the endpoints have {pre_size} -> {post_size}",
                conn.pre_size, conn.post_size
            )));
        }
        for (what, n) in [("weights", conn.weight.stored()), ("delays", conn.delay.stored())] {
            if n != 1 && n as u64 != conn.len() {
                return Err(CompileError::Invalid(format!(
                    "projection `{name}`: {n} {what} for {} synapses",
                    conn.len()
                )));
            }
        }
        check_name_len(name)?;
        if self.projs.iter().any(|&e| self.graph[e].name == name) {
            return Err(CompileError::Invalid(format!("projection `{name}` declared twice")));
        }
        let (mut pos, mut neg) = (false, false);
        for w in conn.weight.stored_iter() {
            pos |= w > 0.0;
            neg |= w < 0.0;
        }
        if let Some(pl) = &plasticity {
            pos |= pl.w_max > 0.0;
            neg |= pl.w_min < 0.0;
        }
        let sign = match (pos, neg) {
            (true, true) => Sign::Mixed,
            (false, true) => Sign::Inhibitory,
            _ => Sign::Excitatory,
        };
        let traffic = rate * conn.len() as f64;
        let proj = Projection {
            name: name.into(),
            pre,
            post,
            conn,
            kind,
            current: 0,
            plasticity,
            allow_zero,
            sign,
            traffic,
            quant: None,
            w_factor: 1.0,
        };
        let id = ProjId(self.projs.len() as u32);
        let e = self.graph.add_edge(pre_node, post_node, proj);
        if self.edge_proj.len() <= e.index() {
            self.edge_proj.resize(e.index() + 1, ProjId(0));
        }
        self.edge_proj[e.index()] = id;
        self.projs.push(e);
        Ok(id)
    }

    fn check_name(&self, name: &str) -> Result<(), CompileError> {
        check_name_len(name)?;
        let clash =
            self.pop_ids().any(|p| self.pop(p).name == name) || self.input_ids().any(|i| self.input(i).name == name);
        if clash {
            return Err(CompileError::Invalid(format!("`{name}` declared twice")));
        }
        Ok(())
    }

    pub fn pop_ids(&self) -> impl Iterator<Item = PopId> + Clone {
        (0..self.pops.len() as u32).map(PopId)
    }
    pub fn input_ids(&self) -> impl Iterator<Item = InputId> + Clone {
        (0..self.inputs.len() as u32).map(InputId)
    }
    pub fn proj_ids(&self) -> impl Iterator<Item = ProjId> + Clone {
        (0..self.projs.len() as u32).map(ProjId)
    }
    pub fn pop_count(&self) -> usize {
        self.pops.len()
    }
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }
    pub fn proj_count(&self) -> usize {
        self.projs.len()
    }

    pub fn pop(&self, id: PopId) -> &Population {
        match &self.graph[self.pops[id.index()]] {
            Node::Pop(p) => p,
            Node::Input(_) => unreachable!("population ids index population nodes"),
        }
    }
    pub fn pop_mut(&mut self, id: PopId) -> &mut Population {
        match &mut self.graph[self.pops[id.index()]] {
            Node::Pop(p) => p,
            Node::Input(_) => unreachable!("population ids index population nodes"),
        }
    }
    pub fn input(&self, id: InputId) -> &InputSource {
        match &self.graph[self.inputs[id.index()]] {
            Node::Input(i) => i,
            Node::Pop(_) => unreachable!("input ids index input nodes"),
        }
    }
    pub fn input_mut(&mut self, id: InputId) -> &mut InputSource {
        match &mut self.graph[self.inputs[id.index()]] {
            Node::Input(i) => i,
            Node::Pop(_) => unreachable!("input ids index input nodes"),
        }
    }
    pub fn proj(&self, id: ProjId) -> &Projection {
        &self.graph[self.projs[id.index()]]
    }
    pub fn proj_mut(&mut self, id: ProjId) -> &mut Projection {
        &mut self.graph[self.projs[id.index()]]
    }

    /// Size of a projection's pre-synaptic side.
    pub fn endpoint_size(&self, e: Endpoint) -> u32 {
        match e {
            Endpoint::Pop(p) => self.pop(p).size,
            Endpoint::Input(i) => self.input(i).channels,
        }
    }

    /// Name of a projection's pre-synaptic side.
    pub fn endpoint_name(&self, e: Endpoint) -> &str {
        match e {
            Endpoint::Pop(p) => &self.pop(p).name,
            Endpoint::Input(i) => &self.input(i).name,
        }
    }

    /// Expected spikes per step of one neuron / channel of `e`.
    pub fn endpoint_rate(&self, e: Endpoint) -> f64 {
        match e {
            Endpoint::Pop(p) => self.pop(p).rate.unwrap_or(DEFAULT_RATE),
            Endpoint::Input(i) => self.input(i).rate.unwrap_or(DEFAULT_RATE),
        }
    }

    /// Projections into `pop`, in declaration order.
    pub fn projs_into(&self, pop: PopId) -> Vec<ProjId> {
        self.projs_dir(self.pops[pop.index()], Direction::Incoming)
    }

    /// Projections out of `e`, in declaration order.
    pub fn projs_from(&self, e: Endpoint) -> Vec<ProjId> {
        let n = match e {
            Endpoint::Pop(p) => self.pops[p.index()],
            Endpoint::Input(i) => self.inputs[i.index()],
        };
        self.projs_dir(n, Direction::Outgoing)
    }

    fn projs_dir(&self, n: NodeIndex, dir: Direction) -> Vec<ProjId> {
        let mut v: Vec<ProjId> = self.graph.edges_directed(n, dir).map(|e| self.edge_proj[e.id().index()]).collect();
        v.sort();
        v
    }

    /// Total synapses.
    pub fn synapse_count(&self) -> u64 {
        self.proj_ids().map(|j| self.proj(j).conn.len()).sum()
    }

    /// Total neurons.
    pub fn neuron_count(&self) -> u64 {
        self.pop_ids().map(|p| u64::from(self.pop(p).size)).sum()
    }
}

fn check_name_len(name: &str) -> Result<(), CompileError> {
    if name.len() > nm_isa::validate::MAX_NAME_BYTES {
        return Err(CompileError::Invalid(format!(
            "name `{}…` is {} bytes long; program.bin allows {}",
            name.chars().take(32).collect::<String>(),
            name.len(),
            nm_isa::validate::MAX_NAME_BYTES
        )));
    }
    Ok(())
}

/// Rate assumed for traffic weighting when a population or input gives none.
pub const DEFAULT_RATE: f64 = 0.01;

fn bad_id(what: &str, id: impl std::fmt::Display) -> CompileError {
    CompileError::Invalid(format!("no {what} {id}"))
}

impl Param {
    /// Whether every value is finite (used by the verifier).
    pub fn is_finite(&self) -> bool {
        self.all_finite()
    }
}
