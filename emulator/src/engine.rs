//! The emulator: loads a program into per-core runtime arrays and runs time steps.
//!
//! One step `t` is, in this order:
//! 1. latch the broadcast signals for `t`;
//! 2. per core (in parallel over cores when `threads > 1`, each core touching only its own
//!    state): deliver the packets that reached its axons at `t` into the delay rings; integrate
//!    the ring slot of `t`, update every neuron, fire and reset; run the learning engine for the
//!    step's arrivals and spikes;
//! 3. generate the input packets of step `t`;
//! 4. route (serially, in core order then input order, so the result does not depend on the
//!    thread count) every packet sent at `t` to the inboxes of its destination cores for `t + 1`,
//!    charging the mesh;
//! 5. barrier: the step costs the slowest core's cycles plus the mesh's plus `cycles_barrier`;
//! 6. probes sample the state after step `t`.

use crate::cluster::Cluster;
use crate::core::{deliver, load_core, update_neurons, CoreParams, CoreState, Formats, LifKernel, NO_ARENA};
use crate::error::EmuError;
use crate::faults::{FaultConfig, FaultRuntime, FaultStats};
use crate::inputs::InputState;
use crate::learning::{learn_core, LearnEnv};
use crate::mismatch::{CoreDeviations, Spreads};
use crate::record::{Recorder, Recordings};
use crate::route::{FanoutTable, Router};
use crate::signals::SignalState;
use crate::stats::Stats;
use crate::timing::{CostTable, Counts, MeshMeter};
use nm_isa::program::Program;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How to run a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Which fabricated chip instance (fixed-pattern mismatch).
    pub chip_seed: u64,
    /// Per-run temporal noise.
    pub noise_seed: u64,
    /// No mismatch and no noise.
    pub ideal: bool,
    /// Worker threads (1: run on the calling thread). Results never depend on it.
    pub threads: usize,
    /// Overrides the program's seed (`Meta::seed`) of inputs and runtime PRNG streams.
    pub seed: Option<u64>,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig { chip_seed: 1, noise_seed: 0, ideal: false, threads: 1, seed: None }
    }
}

/// Run-level state outside the cores (checkpointed with them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GlobalState {
    pub t: u64,
    pub inputs: Vec<InputState>,
    pub signals: SignalState,
    pub mesh_counts: Counts,
    /// Cycles of every step (the first steps' own counts and the histogram of all).
    pub cycles: crate::timing::CycleLog,
    pub spikes: u64,
    pub recordings: Recordings,
    pub wall_seconds: f64,
}

/// `(u, v, refractory counter)` of a core's neurons ([`Emulator::neuron_state`]).
pub type NeuronState<'a> = (&'a [i32], &'a [i32], std::borrow::Cow<'a, [i32]>);

/// A loaded program on one chip instance.
#[derive(Debug)]
pub struct Emulator {
    pub(crate) program: Program,
    pub(crate) cfg: RunConfig,
    pub(crate) seed: u64,
    pub(crate) params: Vec<CoreParams>,
    pub(crate) states: Vec<CoreState>,
    pub(crate) g: GlobalState,
    fanout: FanoutTable,
    input_base: Vec<usize>,
    costs: CostTable,
    fm: Formats,
    mesh: MeshMeter,
    recorder: Recorder,
    pool: Option<rayon::ThreadPool>,
    packets: Vec<(u32, i32)>,
    /// `program.rules` pre-decoded once at load.
    fast_rules: Vec<crate::fastlearn::FastRule>,
    /// Packets dropped while resolving routes (off the system edge, no axon mapping).
    pub routing_dropped: u64,
    /// Fault injection (`None`: a fault-free chip, and the step loop never looks at faults).
    pub(crate) faults: Option<Box<FaultRuntime>>,
    keep: Vec<bool>,
    /// Read-only copy of the synapse words of static cores in source order (see
    /// [`crate::core::deliver`]); rebuilt on restore.
    arena: Vec<(u32, i32)>,
    /// The static LIF cores side by side (see [`crate::cluster`]); built with the arena.
    cluster: Option<Box<Cluster>>,
    /// Per runtime core: its index among the cluster's members, or `u32::MAX`.
    member: Vec<u32>,
    /// Members with packets in `inbox_next` (registered by the router at the first packet).
    member_queued: Vec<u32>,
    /// Runtime cores outside the cluster, ascending (all of them without a cluster).
    others: Vec<u32>,
}

/// Copy, in source order, the synapse words of every plain destination axon on a core whose
/// words never change (no learning rule; no faults in the run), and point `fan.dest_at` at them.
fn build_arena(params: &[CoreParams], states: &[CoreState], fan: &mut FanoutTable, faults: bool) -> Vec<(u32, i32)> {
    let nd = fan.dest_core.len();
    fan.dest_at = vec![NO_ARENA; nd];
    let mut arena = Vec::new();
    if faults {
        return arena;
    }
    for d in 0..nd {
        let dc = fan.dest_core[d] as usize;
        let (first, count) = (fan.dest_first[d] as usize, fan.dest_count[d]);
        if !params[dc].rules.is_empty() || count & crate::core::PLAIN == 0 {
            continue;
        }
        let count = (count & crate::core::COUNT_MASK) as usize;
        if arena.len() + count >= NO_ARENA as usize {
            break;
        }
        fan.dest_at[d] = arena.len() as u32;
        arena.extend_from_slice(&states[dc].pe[first..first + count]);
    }
    arena
}

impl Emulator {
    /// Load `program` onto the chip instance of `cfg`.
    pub fn new(program: &Program, cfg: RunConfig) -> Result<Emulator, EmuError> {
        Self::with_faults(program, cfg, None)
    }

    /// Load `program` onto the chip instance of `cfg` with the faults of `faults` (see
    /// [`crate::faults`]); `None` is [`Emulator::new`]. The fault map is validated against the
    /// program's chip.
    pub fn with_faults(program: &Program, cfg: RunConfig, faults: Option<FaultConfig>) -> Result<Emulator, EmuError> {
        if let Some(f) = &faults {
            f.map.validate(&program.chip).map_err(|e| EmuError::Faults(e.to_string()))?;
        }
        program.chip.validate().map_err(|e| EmuError::Program(e.to_string()))?;
        program.validate().map_err(|e| EmuError::Program(e.to_string()))?;
        let spec = &program.chip;
        let seed = cfg.seed.unwrap_or(program.meta.seed);
        let costs = CostTable::new(spec);
        let fm = Formats::new(spec);
        let mut prev: Option<u32> = None;
        for c in &program.cores {
            if c.id.0 >= spec.total_cores() {
                return Err(EmuError::Program(format!(
                    "core {} is outside the {}-core system",
                    c.id,
                    spec.total_cores()
                )));
            }
            if prev.is_some_and(|p| p >= c.id.0) {
                return Err(EmuError::Program("cores are not sorted by id, or an id repeats".into()));
            }
            prev = Some(c.id.0);
        }
        for (k, l) in program.luts.iter().enumerate() {
            if l.shift > 31 {
                return Err(EmuError::Program(format!("LUT {k}: shift {} above 31", l.shift)));
            }
        }
        let mut params = Vec::with_capacity(program.cores.len());
        let mut states = Vec::with_capacity(program.cores.len());
        for c in &program.cores {
            let devs = if cfg.ideal {
                CoreDeviations::ideal(c.neurons.len(), c.synapses.len())
            } else {
                CoreDeviations::draw(cfg.chip_seed, c.id.0, c.neurons.len(), c.synapses.len())
            };
            let (p, s) = load_core(program, c, devs, cfg.ideal, seed, cfg.noise_seed)?;
            params.push(p);
            states.push(s);
        }
        // Fan-out of every neuron, then every input channel.
        let mut router = Router::new(program, costs);
        if let Some(f) = &faults {
            router.faults = Some(f.map.index(spec));
            for (ci, c) in program.cores.iter().enumerate() {
                params[ci].dead = f.map.dead_cores.contains(&c.id.0);
            }
        }
        let mut fanout = FanoutTable::default();
        let mut base = 0usize;
        for (ci, c) in program.cores.iter().enumerate() {
            params[ci].fanout_base = base;
            for i in 0..c.neurons.len() as u32 {
                router.resolve(c.id, c.key_base.wrapping_add(i), &mut fanout)?;
                // A neuron whose every delivery is lost to faults still sends (and loses) packets.
                params[ci].has_targets[i as usize] =
                    fanout.has_targets(base + i as usize) || router.last_static_lost() > 0;
            }
            base += c.neurons.len();
        }
        let mut input_base = Vec::with_capacity(program.inputs.len());
        for src in &program.inputs {
            input_base.push(base);
            for ch in 0..src.channels {
                router.resolve(src.inject_core, src.key_base.wrapping_add(ch), &mut fanout)?;
            }
            base += src.channels as usize;
        }
        let routing_dropped = router.dropped;
        let tree = std::mem::take(&mut router.tree);
        fanout.pack_router_bits();
        for d in 0..fanout.dest_core.len() {
            let p = &params[fanout.dest_core[d] as usize];
            let a = fanout.dest_axon[d] as usize;
            fanout.dest_first.push(p.axon_first[a]);
            fanout.dest_count.push(p.axon_count[a] | if p.axon_plain[a] { crate::core::PLAIN } else { 0 });
        }
        for (k, src) in program.inputs.iter().enumerate() {
            if let Some(g) = src.gate {
                if !program.signals.iter().any(|s| s.id == g.signal) {
                    return Err(EmuError::Program(format!(
                        "input `{}` is gated by signal {} that does not exist",
                        src.name, g.signal.0
                    )));
                }
            }
            if let nm_isa::program::InputKind::Poisson { p_q32 } = &src.kind {
                if p_q32.len() != src.channels as usize {
                    return Err(EmuError::Program(format!(
                        "input {k} `{}`: {} rates for {} channels",
                        src.name,
                        p_q32.len(),
                        src.channels
                    )));
                }
            }
        }
        let mut faults = faults.map(|f| Box::new(FaultRuntime::new(f, program, tree)));
        if let Some(f) = faults.as_deref_mut() {
            f.prepare(&params, &mut states, &fm);
        }
        let arena = build_arena(&params, &states, &mut fanout, faults.is_some());
        let (recorder, recordings) = Recorder::new(program)?;
        let g = GlobalState {
            inputs: program.inputs.iter().enumerate().map(|(k, s)| InputState::new(s, k as u32, seed)).collect(),
            signals: SignalState::new(&program.signals, seed),
            recordings,
            ..GlobalState::default()
        };
        let pool = if cfg.threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(cfg.threads)
                    .build()
                    .map_err(|e| EmuError::Program(format!("cannot start {} threads: {e}", cfg.threads)))?,
            )
        } else {
            None
        };
        let mut emu = Emulator {
            program: program.clone(),
            cfg,
            seed,
            params,
            states,
            g,
            fanout,
            input_base,
            costs,
            fm,
            mesh: MeshMeter::new(spec.total_cores() as usize),
            recorder,
            pool,
            packets: Vec::new(),
            fast_rules: program.rules.iter().map(crate::fastlearn::FastRule::decode).collect(),
            routing_dropped,
            faults,
            keep: Vec::new(),
            arena,
            cluster: None,
            member: Vec::new(),
            member_queued: Vec::new(),
            others: Vec::new(),
        };
        emu.build_cluster();
        Ok(emu)
    }

    /// The fault configuration of this run (`None`: a fault-free chip).
    pub fn fault_config(&self) -> Option<&FaultConfig> {
        self.faults.as_ref().map(|f| &f.cfg)
    }

    /// Stuck synapses of core index `ci` as `(synapse, accumulator)` (empty without faults).
    pub fn stuck_synapses(&self, ci: usize) -> &[(u32, i32)] {
        self.faults.as_ref().and_then(|f| f.stuck.get(ci)).map_or(&[], |v| v.as_slice())
    }

    /// Injected faults and lost spikes so far (`None` without a fault map).
    pub fn fault_stats(&self) -> Option<FaultStats> {
        self.faults.as_ref().map(|f| f.state.stats)
    }

    /// The program being run.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The run configuration.
    pub fn config(&self) -> RunConfig {
        self.cfg
    }

    /// The seed of inputs and runtime PRNG streams in effect.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Choose the implementation of the LIF update (a kernel the CPU lacks falls back to
    /// [`LifKernel::Scalar`]); results are identical with every kernel. The default is
    /// [`LifKernel::detect`].
    pub fn set_lif_kernel(&mut self, k: LifKernel) {
        self.fm.lif_kernel = k;
    }

    /// Turn the synapse arena of static cores, and with it the router's direct delivery of
    /// their packets and the static LIF cluster ([`crate::cluster`]), on (the default) or off
    /// (every core updated on its own, every packet queued and delivered by its core from the
    /// core's own synapse words). Results are identical either way; for differential tests and
    /// measurements.
    pub fn set_synapse_arena(&mut self, on: bool) {
        self.dissolve_cluster();
        if on {
            self.arena = build_arena(&self.params, &self.states, &mut self.fanout, self.faults.is_some());
            self.build_cluster();
        } else {
            self.arena = Vec::new();
            self.fanout.dest_at.fill(NO_ARENA);
            for s in &mut self.states {
                for pk in &mut s.inbox_next {
                    pk.at = NO_ARENA;
                }
            }
        }
    }

    /// Put the cluster's state back into the cores and drop it.
    fn dissolve_cluster(&mut self) {
        if let Some(c) = self.cluster.take() {
            c.dissolve(&mut self.params, &mut self.states);
        }
        self.cluster_changed();
    }

    /// Recompute `member`, `others` and `member_queued` from `cluster`.
    fn cluster_changed(&mut self) {
        let n = self.params.len();
        self.member = vec![u32::MAX; n];
        self.member_queued.clear();
        if let Some(c) = &self.cluster {
            for (k, &ci) in c.members.iter().enumerate() {
                self.member[ci as usize] = k as u32;
            }
            self.member_queued = c.queued_members(&self.states);
        }
        self.others = (0..n as u32).filter(|&ci| self.member[ci as usize] == u32::MAX).collect();
    }

    /// Build the cluster from the cores and the arena (none with faults or without an arena).
    fn build_cluster(&mut self) {
        debug_assert!(self.cluster.is_none());
        let probed = self.recorder.state_probed(self.params.len());
        self.cluster = Cluster::build(
            &mut self.params,
            &mut self.states,
            &self.fanout,
            &self.arena,
            &probed,
            self.faults.is_some(),
        )
        .map(Box::new);
        self.cluster_changed();
    }

    /// Runtime core indices of the cores in the static LIF cluster (empty without one).
    pub fn cluster_members(&self) -> &[u32] {
        self.cluster.as_ref().map_or(&[], |c| &c.members)
    }

    /// Whether the cluster (if any) stores its members' keep factors and refractory periods
    /// as `u16` (every value fits) rather than `i32`; the results are the same.
    pub fn cluster_narrow_constants(&self) -> Option<bool> {
        self.cluster.as_ref().map(|c| c.narrow_constants())
    }

    /// Whether the static LIF cluster's flat synapse words hold their member (`None` without
    /// a cluster; see [`Emulator::cluster_words_without_members`]).
    pub fn cluster_words_hold_members(&self) -> Option<bool> {
        self.cluster.as_ref().map(|c| c.words_hold_members())
    }

    /// Switch the static LIF cluster (if any) to flat synapse words without their members,
    /// the layout of clusters too large for them (each synaptic event then looks its member
    /// up): for tests, which compare both layouts. Results do not change.
    pub fn cluster_words_without_members(&mut self) {
        if let Some(c) = &mut self.cluster {
            c.drop_members_from_words();
        }
    }

    /// Whether the static LIF cluster stores bias and reset as `u16` offsets (`None`
    /// without a cluster).
    pub fn cluster_narrow_offsets(&self) -> Option<bool> {
        self.cluster.as_ref().map(|c| c.narrow_offsets())
    }

    /// The LIF kernel in effect (before the per-core fallback).
    pub fn lif_kernel(&self) -> LifKernel {
        self.fm.lif_kernel
    }

    /// Run the learning handlers of the [`crate::fastlearn::FusedW`] shape with the fused
    /// kernels (`true`, the default) or all on the interpreter; results are identical either way
    /// (for differential tests and benchmarks).
    pub fn set_fused_learning(&mut self, on: bool) {
        let decode = crate::fastlearn::FastRule::decode;
        self.fast_rules =
            self.program.rules.iter().map(|r| if on { decode(r) } else { decode(r).without_fused() }).collect();
    }

    /// Steps run so far (the next step to run).
    pub fn time(&self) -> u64 {
        self.g.t
    }

    /// Run `steps` steps.
    pub fn run(&mut self, steps: u64) {
        let start = std::time::Instant::now();
        for _ in 0..steps {
            self.step_inner();
        }
        self.settle();
        self.g.wall_seconds += start.elapsed().as_secs_f64();
    }

    /// Run one step.
    pub fn step(&mut self) {
        let start = std::time::Instant::now();
        self.step_inner();
        self.settle();
        self.g.wall_seconds += start.elapsed().as_secs_f64();
    }

    /// Refresh every stale synapse (`core::Stale`): outside a step, none is.
    fn settle(&mut self) {
        for (p, s) in self.params.iter().zip(&mut self.states) {
            crate::core::settle_all(p, s);
        }
    }

    fn step_inner(&mut self) {
        let t = self.g.t;
        let program = &self.program;
        self.g.signals.latch(&program.signals, t);
        // (A member's packets stay in `inbox_next`: see `Cluster::step`.)
        for &ci in &self.others {
            let s = &mut self.states[ci as usize];
            std::mem::swap(&mut s.inbox, &mut s.inbox_next);
        }
        let env = LearnEnv {
            rules: &program.rules,
            fast: &self.fast_rules,
            signals: &self.g.signals.by_id,
            epoch_steps: program.meta.epoch_steps,
            fm: &self.fm,
            costs: &self.costs,
        };
        let fm = &self.fm;
        let costs = &self.costs;
        let luts = &program.luts;
        let arena = &self.arena[..];
        let work = |p: &CoreParams, s: &mut CoreState| {
            if p.in_cluster {
                return; // updated below, with the other members
            }
            if p.dead {
                s.inbox.clear();
                return;
            }
            deliver(p, s, t, costs, arena);
            update_neurons(p, s, t, fm, luts, costs);
            let arrivals = std::mem::take(&mut s.inbox);
            learn_core(p, s, t, &arrivals, &env);
            s.inbox = arrivals;
            s.inbox.clear();
        };
        match &self.pool {
            Some(pool) => pool.install(|| {
                self.params.par_iter().zip(self.states.par_iter_mut()).for_each(|(p, s)| work(p, s));
            }),
            None => {
                for &ci in &self.others {
                    work(&self.params[ci as usize], &mut self.states[ci as usize]);
                }
            }
        }
        if let Some(c) = self.cluster.as_deref_mut() {
            c.step(&self.params, &mut self.states, &mut self.member_queued, t, fm, costs, arena);
        }
        if let Some(f) = self.faults.as_deref_mut() {
            f.end_of_step(t, &self.params, &mut self.states, &self.fm);
        }
        // Route the packets of step t (neurons in core order, then inputs).
        let fan = &self.fanout;
        let mesh = &mut self.mesh;
        let states = &mut self.states;
        let mut faults = self.faults.as_deref_mut();
        let keep = &mut self.keep;
        let params = &self.params[..];
        // The step at which this step's packets are delivered.
        let t1 = t + 1;
        let mut cluster = self.cluster.as_deref_mut();
        // The members' spikes, out of the cluster while `send` adds into its rings.
        let member_spikes = cluster.as_deref_mut().map(|c| std::mem::take(&mut c.out));
        let (member, member_queued) = (&self.member[..], &mut self.member_queued);
        // `ahead`: a source sent soon after this one, whose tables to prefetch (or usize::MAX);
        // `far`: one sent later still, whose table records to prefetch (so that reading them
        // for `ahead`'s prefetches hits the cache).
        let mut send = |src: usize, payload: i32, spike: bool, states: &mut [CoreState], ahead: usize, far: usize| {
            if far != usize::MAX {
                if let Some(c) = cluster.as_deref() {
                    c.prefetch_starts(far);
                }
                crate::learning::prefetch(&fan.mesh, far..far + 1);
                crate::learning::prefetch(&fan.start, far..far + 2);
            }
            if ahead != usize::MAX {
                if let Some(c) = cluster.as_deref() {
                    c.prefetch_source(ahead);
                }
                match fan.routers_of(ahead) {
                    crate::timing::Routers::Bits { bits, .. } => crate::learning::prefetch(bits, 0..bits.len()),
                    crate::timing::Routers::List(rs) => crate::learning::prefetch(rs, 0..rs.len()),
                }
            }
            let (a, b) = (fan.start[src] as usize, fan.start[src + 1] as usize);
            // With faults, `keep` says which destinations the packet still reaches (loop-invariant
            // test: runs without faults take the plain loop).
            let filtered = match faults.as_deref_mut() {
                Some(f) => {
                    f.filter(src, b - a, a, keep);
                    true
                }
                None => false,
            };
            if a == b {
                return;
            }
            let mut one = |d: usize, states: &mut [CoreState]| {
                let dc = fan.dest_core[d] as usize;
                let dst = &mut states[dc];
                let (first, count, at) = (fan.dest_first[d], fan.dest_count[d], fan.dest_at[d]);
                if at != NO_ARENA && payload == 1 && count & crate::core::PLAIN != 0 {
                    // A plain payload-1 packet to a core whose synapse words never change
                    // (no learning, no faults): what `deliver` would add into the delay
                    // rings at step t + 1, added now. Between here and that step's delivery
                    // nothing reads the rings, the rows it adds to are not the one consumed
                    // this step, and ring additions commute, so the result is the same; the
                    // synaptic events are charged to the core at its delivery (t + 1).
                    // (Never a cluster member: those destinations went into its flat list.)
                    debug_assert_eq!(member[dc], u32::MAX, "member {dc} outside the cluster's flat list");
                    let n = count & crate::core::COUNT_MASK;
                    crate::core::deliver_plain(&params[dc], dst, t1, &arena[at as usize..(at + n) as usize]);
                    dst.pending_events += u64::from(n);
                    return;
                }
                // Prefetch the synapse words the packet will use at delivery (next step): the
                // cache misses of many packets overlap here instead of stalling `deliver` one
                // packet at a time. A hint (a load would stall this loop on the miss); no
                // effect on the results.
                let (words, w0) = if at == NO_ARENA { (&dst.pe[..], first) } else { (arena, at) };
                let w0 = w0 as usize;
                crate::learning::prefetch(words, w0..w0 + (count & crate::core::COUNT_MASK) as usize);
                if member[dc] != u32::MAX && dst.inbox_next.is_empty() {
                    member_queued.push(dc as u32);
                }
                dst.inbox_next.push(crate::core::Packet {
                    axon: fan.dest_axon[d],
                    first,
                    count: count | if spike { crate::core::SPIKE } else { 0 },
                    payload,
                    at,
                });
            };
            match cluster.as_deref_mut() {
                // The same additions for the destinations on cluster members, as one flat
                // list (see `crate::cluster`); the others one by one as below.
                Some(c) if payload == 1 && !filtered => {
                    for &d in c.send_flat(src, t1) {
                        one(d as usize, states);
                    }
                }
                _ => {
                    for d in a..b {
                        if !filtered || keep[d - a] {
                            one(d, states);
                        }
                    }
                }
            }
            let mc = &fan.mesh[src];
            let routers = fan.routers_of(src);
            let links = &fan.links[mc.links_first as usize..(mc.links_first + mc.links_len) as usize];
            mesh.charge_packet(costs, mc, routers, links);
        };
        let mut spikes_total = 0u64;
        // Cores in index order (the order of the recorded spikes): the members that spiked and
        // the others merged, so that a step visits neither the silent members nor their cores.
        let no_members: &[u32] = &[];
        let hits = member_spikes.as_ref().map_or(no_members, |ms| &ms.hits[..]);
        let (mut mi, mut oi) = (0usize, 0usize);
        loop {
            let m = hits.get(mi).zip(member_spikes.as_ref()).map(|(&k, ms)| ms.core[k as usize]);
            let o = self.others.get(oi).copied();
            let ci = match (m, o) {
                (Some(m), Some(o)) if m < o => m as usize,
                (Some(m), None) => m as usize,
                (_, Some(o)) => o as usize,
                (None, None) => break,
            };
            if let (true, Some(ms)) = (m == Some(ci as u32), &member_spikes) {
                let (h, k) = (mi, ms.hits[mi] as usize);
                mi += 1;
                debug_assert_eq!(member[ci] as usize, k, "member order");
                let spikes = ms.of_hit(h);
                spikes_total += spikes.len() as u64;
                for (j, &i) in spikes.iter().enumerate() {
                    // Prefetch the tables of the member spike two places later.
                    let at = |d: usize| ms.src.get(ms.seg[h] as usize + j + d).map_or(usize::MAX, |&s| s as usize);
                    send(ms.fanout_base[k] + i as usize, 1, true, states, at(2), at(5));
                }
                if self.recorder.core_recorded[ci] {
                    self.recorder.spikes(&mut self.g.recordings, ci, t, spikes);
                }
                continue;
            }
            oi += 1;
            let p = &self.params[ci];
            let spikes = std::mem::take(&mut states[ci].spikes);
            spikes_total += spikes.len() as u64;
            if p.all_lif {
                for &i in &spikes {
                    send(p.fanout_base + i as usize, 1, true, states, usize::MAX, usize::MAX);
                }
            } else {
                let emit = std::mem::take(&mut states[ci].emit);
                for &(i, pl, spike) in &emit {
                    send(p.fanout_base + i as usize, pl, spike, states, usize::MAX, usize::MAX);
                }
                states[ci].emit = emit;
            }
            if self.recorder.core_recorded[ci] && !spikes.is_empty() {
                self.recorder.spikes(&mut self.g.recordings, ci, t, &spikes);
            }
            states[ci].spikes = spikes;
        }
        for (k, src) in program.inputs.iter().enumerate() {
            let open = src.gate.is_none_or(|g| self.g.signals.value_of(&program.signals, g.signal.0) == g.value);
            self.packets.clear();
            self.g.inputs[k].generate(src, t, open, &mut self.packets);
            // Input packets are spikes, except clamp-encoded zeros (a state, not an event).
            let clamp = matches!(
                src.kind,
                nm_isa::program::InputKind::Patterns { encoding: nm_isa::program::Encoding::Clamp, .. }
            );
            for &(c, pl) in &self.packets {
                send(self.input_base[k] + c as usize, pl, !clamp || pl != 0, states, usize::MAX, usize::MAX);
            }
        }
        if let (Some(c), Some(ms)) = (self.cluster.as_deref_mut(), member_spikes) {
            c.out = ms;
        }
        // Barrier.
        let mut slowest = self.cluster.as_ref().map_or(0, |c| c.slowest);
        for &ci in &self.others {
            let s = &mut self.states[ci as usize];
            slowest = slowest.max(s.meter.step_cycles);
            s.meter.step_cycles = 0;
        }
        let mesh_cycles = self.mesh.finish_step(costs);
        self.g.cycles.push(slowest + mesh_cycles + costs.barrier);
        self.g.spikes += spikes_total;
        let sigs = &self.g.signals;
        let psig = &program.signals;
        if self.recorder.samples_synapses_at(t) {
            for (p, s) in self.params.iter().zip(self.states.iter_mut()) {
                crate::core::settle_all(p, s);
            }
        }
        self.recorder.sample(&mut self.g.recordings, t, &self.params, &self.states, &|id| sigs.value_of(psig, id));
        self.g.t = t + 1;
    }

    /// What has been recorded.
    pub fn recordings(&self) -> &Recordings {
        &self.g.recordings
    }

    /// Drop the recorded spikes of the steps before `t` (the series stay): a long run that needs
    /// only its last spikes keeps its memory bounded by calling this between `run`s.
    pub fn forget_spikes_before(&mut self, t: u64) {
        for r in &mut self.g.recordings.spikes {
            let mut k = 0;
            for i in 0..r.times.len() {
                if u64::try_from(r.times[i]).is_ok_and(|s| s >= t) {
                    r.times[k] = r.times[i];
                    r.ids[k] = r.ids[i];
                    k += 1;
                }
            }
            r.times.truncate(k);
            r.ids.truncate(k);
        }
    }

    /// Cycles of each step run so far, for the first [`crate::timing::CycleLog::KEPT`] steps
    /// (every step is in [`Emulator::cycle_log`]'s histogram).
    pub fn step_cycles(&self) -> &[u64] {
        self.g.cycles.first()
    }

    /// Cycles per step of the whole run (exact minimum, median, maximum and total).
    pub fn cycle_log(&self) -> &crate::timing::CycleLog {
        &self.g.cycles
    }

    /// The drawn mismatch deviations (standard normals) of every used core, in program core order.
    pub fn deviations(&self) -> Vec<&CoreDeviations> {
        self.params.iter().map(|p| &p.devs).collect()
    }

    /// The relative spreads of the drawn deviations (zero on the ideal chip).
    pub fn spreads(&self) -> Spreads {
        if self.cfg.ideal {
            return Spreads::default();
        }
        let d: Vec<CoreDeviations> = self.params.iter().map(|p| p.devs.clone()).collect();
        Spreads::of(&self.program.chip, &d)
    }

    /// Effective (after mismatch) threshold, bias and decay codes of neuron `i` of core index `ci`.
    pub fn effective_neuron(&self, ci: usize, i: usize) -> Option<EffectiveNeuron> {
        let p = self.params.get(ci)?;
        if i >= p.n {
            return None;
        }
        let dmax = 1i32 << self.fm.decay_bits;
        Some(EffectiveNeuron {
            v_th: p.vth[i],
            bias: p.bias[i],
            decay_u: (dmax - p.keep_u[i]) as u32,
            decay_v: (dmax - p.keep_v[i]) as u32,
        })
    }

    /// Neuron state vectors of core index `ci`: `(u, v, refractory counter)` (the counters of a
    /// core in the static LIF cluster are a copy: the cluster may store them as `u16`).
    pub fn neuron_state(&self, ci: usize) -> Option<NeuronState<'_>> {
        if let Some(x) = self.cluster.as_ref().and_then(|c| c.neuron_state(ci)) {
            return Some(x);
        }
        let s = self.states.get(ci)?;
        Some((&s.u, &s.v, std::borrow::Cow::Borrowed(&s.cnt[..])))
    }

    /// `(u, v)` of core index `ci`: [`Emulator::neuron_state`] without the counters (no copy).
    pub fn membrane(&self, ci: usize) -> Option<(&[i32], &[i32])> {
        if let Some(x) = self.cluster.as_ref().and_then(|c| c.membrane(ci)) {
            return Some(x);
        }
        let s = self.states.get(ci)?;
        Some((&s.u, &s.v))
    }

    /// The second synaptic current of core index `ci` (empty if the core has none).
    pub fn second_current(&self, ci: usize) -> Option<&[i32]> {
        if let Some(x) = self.cluster.as_ref().and_then(|c| c.second_current(ci)) {
            return Some(x);
        }
        Some(&self.states.get(ci)?.u2)
    }

    /// Mutable membrane state of core index `ci` (for test benches and calibration stimuli).
    pub fn neuron_state_mut(&mut self, ci: usize) -> Option<(&mut [i32], &mut [i32])> {
        if self.params.get(ci).is_some_and(|p| p.in_cluster) {
            return self.cluster.as_mut().and_then(|c| c.neuron_state_mut(ci));
        }
        let s = self.states.get_mut(ci)?;
        Some((&mut s.u, &mut s.v))
    }

    /// Learning accumulators and weight readouts of core index `ci`.
    pub fn synapse_state(&self, ci: usize) -> Option<(&[i32], &[i32])> {
        let s = self.states.get(ci)?;
        Some((&s.acc, &s.wr))
    }

    /// Post traces `y0` of the first rule on core index `ci`, and its pre traces `x0` per axon.
    pub fn traces(&self, ci: usize, rule_slot: usize) -> Option<(&[i32], &[i32])> {
        let r = self.states.get(ci)?.rules.get(rule_slot)?;
        Some((&r.x[0], &r.y[0]))
    }

    /// The value of `var` of neuron `i` of core index `ci` after the last step.
    pub fn neuron_value(&self, ci: usize, i: usize, var: nm_isa::program::StateVar) -> Option<i32> {
        let (p, s) = (self.params.get(ci)?, self.states.get(ci)?);
        if i >= p.n {
            return None;
        }
        if let Some((u, v)) = self.cluster.as_ref().and_then(|c| c.membrane(ci)) {
            use nm_isa::program::StateVar;
            match var {
                StateVar::V => return Some(v[i]),
                StateVar::U => return Some(u[i]),
                StateVar::Y => {
                    return self.cluster.as_ref().and_then(|c| c.spiked_last(ci, i, self.g.t)).map(i32::from)
                }
                _ => {}
            }
        }
        Some(crate::record::neuron_value(p, s, i, var, self.g.t.saturating_sub(1)))
    }

    /// The latched value of the signal with id `id` in the last step (0 if none).
    pub fn signal_value(&self, id: u8) -> i32 {
        self.g.signals.value_of(&self.program.signals, id)
    }

    /// `(core index, local neuron)` of every neuron of the population named `name`, in order.
    pub fn population_neurons(&self, name: &str) -> Option<Vec<(usize, u32)>> {
        let pop = self.program.symbols.populations.iter().find(|p| p.name == name)?;
        let mut out = vec![(usize::MAX, 0); pop.size as usize];
        for sl in &pop.slices {
            let ci = self.program.cores.iter().position(|c| c.id == sl.core)?;
            for k in 0..sl.len {
                *out.get_mut((sl.offset + k) as usize)? = (ci, sl.first + k);
            }
        }
        Some(out)
    }

    /// Neurons of core index `ci` that spiked in the last step.
    pub fn last_spikes(&self, ci: usize) -> &[u32] {
        if let Some((c, k)) = self.cluster.as_ref().and_then(|c| Some((c, c.member_index(ci)?))) {
            return c.out.of(k);
        }
        self.states.get(ci).map_or(&[], |s| &s.spikes)
    }

    /// Statistics of the run so far.
    pub fn stats(&self) -> Stats {
        let mut counts = self.g.mesh_counts;
        counts.add(&self.mesh.counts);
        for s in &self.states {
            counts.add(&s.meter.counts);
        }
        if let Some(c) = &self.cluster {
            c.add_counts(&mut counts);
        }
        Stats::new(self, counts)
    }

    pub(crate) fn restore(
        &mut self,
        states: Vec<CoreState>,
        g: GlobalState,
        mesh_counts: Counts,
    ) -> Result<(), String> {
        // The checks compare against whole core states: the cluster's part goes back first, and
        // the cluster is built again from the restored (or, on error, unchanged) states.
        self.dissolve_cluster();
        let r = self.restore_states(states, g, mesh_counts);
        self.build_cluster();
        r
    }

    fn restore_states(&mut self, states: Vec<CoreState>, g: GlobalState, mesh_counts: Counts) -> Result<(), String> {
        if states.len() != self.states.len() {
            return Err("core count differs from the program".into());
        }
        // At most every fan-out entry into a core delivers once per step.
        let mut max_pending = vec![0u64; self.states.len()];
        for (d, &dc) in self.fanout.dest_core.iter().enumerate() {
            max_pending[dc as usize] += u64::from(self.fanout.dest_count[d] & crate::core::COUNT_MASK);
        }
        for (k, (new, old)) in states.iter().zip(&self.states).enumerate() {
            if new.pending_events > max_pending[k] {
                return Err(format!(
                    "core {k}: {} pending synaptic events, more than its {} synapse words can receive in a step",
                    new.pending_events, max_pending[k]
                ));
            }
            let traces_ok = new.rules.len() == old.rules.len()
                && new
                    .rules
                    .iter()
                    .zip(&old.rules)
                    .all(|(a, b)| (0..2).all(|k| a.x[k].len() == b.x[k].len() && a.y[k].len() == b.y[k].len()));
            let lens = |s: &CoreState| {
                [
                    s.u.len(),
                    s.u2.len(),
                    s.v.len(),
                    s.cnt.len(),
                    s.y.len(),
                    s.nrng.len(),
                    s.ring.len(),
                    s.clamp_ring.len(),
                    s.acc.len(),
                    s.wr.len(),
                    s.weff.len(),
                    s.pe.len(),
                    s.tag.len(),
                    s.lastpre.len(),
                    s.lastpre_at_spike.len(),
                    s.spike_step.len(),
                    s.arr_step.len(),
                    s.arr_payload.len(),
                    s.pay_step.len(),
                ]
            };
            let same = traces_ok && lens(new) == lens(old) && new.pe.iter().zip(&old.pe).all(|(a, b)| a.0 == b.0);
            if !same {
                return Err(format!("state of core {k} does not match the program"));
            }
            // Traces are unsigned and saturate at the format's largest value (the trace decay
            // relies on it: `core::decay_traces`).
            let tmax = self.fm.trace_max;
            if let Some(x) =
                new.rules.iter().flat_map(|r| r.x.iter().chain(&r.y)).flatten().find(|&&x| !(0..=tmax).contains(&x))
            {
                return Err(format!("core {k}: trace value {x} outside the trace format's 0..={tmax}"));
            }
            let p = &self.params[k];
            if new.inbox_next.iter().any(|pk| {
                let a = pk.axon as usize;
                a >= old.arr_step.len()
                    || pk.first != p.axon_first[a]
                    || pk.count & !crate::core::SPIKE
                        != p.axon_count[a] | if p.axon_plain[a] { crate::core::PLAIN } else { 0 }
            }) {
                return Err(format!("pending packets of core {k} name missing axons"));
            }
        }
        if g.inputs.len() != self.g.inputs.len()
            || g.signals.values.len() != self.g.signals.values.len()
            || g.signals.rngs.len() != g.signals.values.len()
            || g.signals.list_pos.len() != g.signals.values.len()
            || g.recordings.spikes.len() != self.g.recordings.spikes.len()
            || g.recordings.series.len() != self.g.recordings.series.len()
        {
            return Err("input or signal count differs from the program".into());
        }
        // Every step leaves one cycle count; a step counter that disagrees (found by the
        // checkpoint fuzz target: t = 2^32 - 1 made the Poisson inputs catch up for minutes) is
        // a damaged checkpoint.
        if g.cycles.steps() != g.t {
            return Err(format!("step counter {} does not match the {} steps recorded", g.t, g.cycles.steps()));
        }
        for (k, st) in g.inputs.iter().enumerate() {
            if let Some(&n) = st.next.iter().find(|&&n| n < g.t) {
                return Err(format!("input {k}: next spike at step {n}, before the checkpoint's step {}", g.t));
            }
        }
        for (k, mut st) in states.into_iter().enumerate() {
            let old = &self.states[k];
            st.touched_flag = vec![false; old.acc.len()];
            // The last step's spikes (not saved: every spike of step `g.t − 1` set its
            // neuron's `spike_step` to `g.t`), for `last_spikes`.
            let mut spikes = Vec::with_capacity(old.u.len());
            if g.t > 0 {
                spikes.extend((0..st.spike_step.len() as u32).filter(|&i| st.spike_step[i as usize] == g.t));
            }
            st.spikes = spikes;
            self.states[k] = st;
        }
        self.g = g;
        for (k, src) in self.program.inputs.iter().enumerate() {
            let st = &self.g.inputs[k];
            if st.rngs.len() != src.channels as usize || (!st.next.is_empty() && st.next.len() != src.channels as usize)
            {
                return Err(format!("state of input {k} does not match the program"));
            }
            self.g.inputs[k].prepare(src);
        }
        self.mesh.counts = Counts::default();
        self.g.mesh_counts = mesh_counts;
        self.arena = build_arena(&self.params, &self.states, &mut self.fanout, self.faults.is_some());
        Ok(())
    }

    pub(crate) fn snapshot(&self) -> (Vec<CoreState>, GlobalState, Counts) {
        let mut counts = self.g.mesh_counts;
        counts.add(&self.mesh.counts);
        let mut g = self.g.clone();
        g.mesh_counts = Counts::default();
        // Every public step call ends settled (`core::Stale`): the copy holds current readouts.
        debug_assert!(self.states.iter().all(|s| !s.stale.any), "a snapshot inside a step");
        let mut states = self.states.clone();
        if let Some(c) = &self.cluster {
            c.write_back(&self.params, &mut states);
        }
        (states, g, counts)
    }
}

/// A neuron's parameters after mismatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveNeuron {
    pub v_th: i32,
    pub bias: i32,
    pub decay_u: u32,
    pub decay_v: u32,
}
