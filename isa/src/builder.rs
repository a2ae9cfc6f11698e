//! [`ProgramBuilder`]: assemble a [`Program`] by hand (tests, examples, the emulator's tests)
//! without the compiler. It keeps the bookkeeping invariants for you (cores and routing tables
//! sorted by id, axons tiling the synapses, population slices, projection synapse counts) and
//! [`ProgramBuilder::build`] runs [`Program::validate`].
//!
//! ```
//! use nm_isa::builder::{lif_profile, ProgramBuilder};
//! use nm_isa::neuron::{NeuronConfig, NeuronKind};
//! use nm_isa::program::{Dirs, Endpoint, InputKind, InputSource, RouteEntry, SynGroup, SynKind, Synapse};
//! use nm_isa::{ChipSpec, CoreId};
//!
//! let mut b = ProgramBuilder::new(ChipSpec::small_profile(), "demo");
//! let core = CoreId(0);
//! // Two LIF neurons on core 0, driven by a 2-channel Poisson input injected at core 0.
//! let out = b.population("out", NeuronKind::Lif, 2);
//! let inp = b.input(InputSource {
//!     name: "in".into(),
//!     channels: 2,
//!     key_base: 0x1000,
//!     inject_core: core,
//!     kind: InputKind::Poisson { p_q32: vec![1 << 30; 2] },
//!     gate: None,
//! });
//! let proj = b.projection("in->out", Endpoint::Input(inp), out);
//! let prof = b.profile(core, lif_profile(410, 410, 2));
//! let cfg = NeuronConfig { profile: prof, bias: 0, v_th: 1000, v_init: 0 };
//! b.neurons(core, out, 2, cfg);
//! let g = b.group(core, SynGroup { weight_exp: 0, kind: SynKind::Current, rule: None, proj, current: 0 });
//! let w = b.acc_of_weight(20);
//! let syn = |target| Synapse { target, acc: w, delay: 1, group: g };
//! // Keys 0x1000 and 0x1001 arrive on two new axons, each with one synapse.
//! b.connect(core, 0x1000, vec![vec![syn(0)], vec![syn(1)]]);
//! b.route(core, RouteEntry { key: 0x1000, mask: !1, dirs: Dirs::LOCAL });
//! let program = b.build().expect("valid");
//! assert_eq!(program.synapse_count(), 2);
//! assert_eq!(program.symbols.projections[0].synapses, 2);
//! ```

use crate::chip::ChipSpec;
use crate::fixed_point::accumulator_frac_bits;
use crate::ids::{CoreId, PopId, ProjId, RuleId, SignalId};
use crate::learn::LearnRule;
use crate::neuron::{Lut, NeuronConfig, NeuronKind, NeuronProfile};
use crate::program::{
    Axon, AxonMapEntry, Core, Endpoint, InputSource, PopInfo, Probe, Program, ProjInfo, RouteEntry, RouteTable,
    Schedule, Signal, Slice, SynGroup, Synapse,
};
use crate::validate::ValidationError;
use std::collections::BTreeMap;
use std::ops::Range;

/// A LIF profile with the given decay codes and refractory period, no LUT, no noise.
pub fn lif_profile(decay_u: u32, decay_v: u32, refractory: u16) -> NeuronProfile {
    NeuronProfile {
        kind: NeuronKind::Lif,
        decay_u,
        decay_v,
        refractory,
        v_reset: 0,
        lut: None,
        noisy: false,
        decay_u2: None,
    }
}

/// Builds a [`Program`] step by step; see the module example.
#[derive(Debug, Clone)]
pub struct ProgramBuilder {
    p: Program,
    cores: BTreeMap<u32, Core>,
    routes: BTreeMap<u32, Vec<RouteEntry>>,
}

impl ProgramBuilder {
    /// An empty program for `chip`, named `name`, with [`Program::new`]'s meta defaults.
    pub fn new(chip: ChipSpec, name: &str) -> ProgramBuilder {
        ProgramBuilder { p: Program::new(chip, name), cores: BTreeMap::new(), routes: BTreeMap::new() }
    }

    /// The chip the program is built for.
    pub fn chip(&self) -> &ChipSpec {
        &self.p.chip
    }

    /// Program-wide settings (step length, run length, epoch length, seed).
    pub fn meta_mut(&mut self) -> &mut crate::program::Meta {
        &mut self.p.meta
    }

    /// The raw accumulator value whose readout is the weight `w` on this chip
    /// (`w << (accumulator_bits - weight_bits - 1)`).
    pub fn acc_of_weight(&self, w: i32) -> i32 {
        let f = &self.p.chip.formats;
        w.saturating_mul(1 << accumulator_frac_bits(f.accumulator_bits, f.weight_bits))
    }

    /// Add a LUT; returns its index.
    pub fn lut(&mut self, lut: Lut) -> u16 {
        self.p.luts.push(lut);
        (self.p.luts.len() - 1) as u16
    }

    /// Add a learning rule; returns its id.
    pub fn rule(&mut self, rule: LearnRule) -> RuleId {
        self.p.rules.push(rule);
        RuleId((self.p.rules.len() - 1) as u16)
    }

    /// Add a broadcast signal with the next free id (0, 1, ...); returns the id.
    pub fn signal(&mut self, name: &str, bits: u8, schedule: Schedule) -> SignalId {
        let id = SignalId(self.p.signals.len() as u8);
        self.p.signals.push(Signal { id, name: name.into(), bits, schedule });
        id
    }

    /// Add a population to the symbol table (its neurons are placed with [`ProgramBuilder::neurons`]).
    pub fn population(&mut self, name: &str, kind: NeuronKind, size: u32) -> PopId {
        self.p.symbols.populations.push(PopInfo { name: name.into(), kind, size, slices: Vec::new() });
        PopId((self.p.symbols.populations.len() - 1) as u32)
    }

    /// Add a projection to the symbol table; its synapse count grows with [`ProgramBuilder::connect`].
    pub fn projection(&mut self, name: &str, pre: Endpoint, post: PopId) -> ProjId {
        self.p.symbols.projections.push(ProjInfo { name: name.into(), pre, post, synapses: 0 });
        ProjId((self.p.symbols.projections.len() - 1) as u32)
    }

    /// Add an input source; returns its index (for [`Endpoint::Input`]).
    pub fn input(&mut self, input: InputSource) -> u32 {
        self.p.inputs.push(input);
        (self.p.inputs.len() - 1) as u32
    }

    /// Add a probe.
    pub fn probe(&mut self, probe: Probe) {
        self.p.probes.push(probe);
    }

    /// The core `id`, created empty (key base 0) on first use.
    pub fn core_mut(&mut self, id: CoreId) -> &mut Core {
        self.cores.entry(id.0).or_insert_with(|| Core {
            id,
            profiles: Vec::new(),
            neurons: Vec::new(),
            key_base: 0,
            groups: Vec::new(),
            axon_map: Vec::new(),
            axons: Vec::new(),
            synapses: Vec::new(),
            lr_trim: Vec::new(),
        })
    }

    /// Set the key of local neuron 0 of `core` (neuron `i` sends `key_base + i`).
    pub fn key_base(&mut self, core: CoreId, key_base: u32) {
        self.core_mut(core).key_base = key_base;
    }

    /// Add a neuron profile to `core`; returns its index.
    pub fn profile(&mut self, core: CoreId, profile: NeuronProfile) -> u8 {
        let c = self.core_mut(core);
        c.profiles.push(profile);
        (c.profiles.len() - 1) as u8
    }

    /// Append `count` neurons configured as `cfg` to `core`, as the next `count` neurons of
    /// population `pop` (a slice is recorded); returns their local indices.
    pub fn neurons(&mut self, core: CoreId, pop: PopId, count: u32, cfg: NeuronConfig) -> Range<u32> {
        let c = self.core_mut(core);
        let first = c.neurons.len() as u32;
        c.neurons.extend(std::iter::repeat_n(cfg, count as usize));
        if let Some(p) = self.p.symbols.populations.get_mut(pop.index()) {
            let offset = p.slices.iter().map(|s| s.len).sum();
            p.slices.push(Slice { core, first, len: count, offset });
        }
        first..first.saturating_add(count)
    }

    /// Add a synapse group to `core`; returns its index.
    pub fn group(&mut self, core: CoreId, group: SynGroup) -> u16 {
        let c = self.core_mut(core);
        c.groups.push(group);
        (c.groups.len() - 1) as u16
    }

    /// Add one new input axon per element of `axons` to `core`, holding that element's synapses,
    /// and map keys `key_base, key_base + 1, ...` to them; returns the new axons' indices. The
    /// synapse count of each synapse's projection grows accordingly.
    pub fn connect(&mut self, core: CoreId, key_base: u32, axons: Vec<Vec<Synapse>>) -> Range<u32> {
        let c = self.core_mut(core);
        let axon_base = c.axons.len() as u32;
        let mut per_proj: Vec<(usize, u64)> = Vec::new();
        for syns in axons {
            c.axons.push(Axon { first: c.synapses.len() as u32, count: syns.len() as u32 });
            for s in &syns {
                if let Some(g) = c.groups.get(usize::from(s.group)) {
                    per_proj.push((g.proj.index(), 1));
                }
            }
            c.synapses.extend(syns);
        }
        let count = c.axons.len() as u32 - axon_base;
        c.axon_map.push(AxonMapEntry { key_base, count, axon_base });
        for (proj, n) in per_proj {
            if let Some(pj) = self.p.symbols.projections.get_mut(proj) {
                pj.synapses += n;
            }
        }
        axon_base..axon_base + count
    }

    /// Append an entry to the routing table of `core`'s router (entries match in insertion order).
    pub fn route(&mut self, core: CoreId, entry: RouteEntry) {
        self.routes.entry(core.0).or_default().push(entry);
    }

    /// Finish: cores and routing tables in id order, then [`Program::validate`].
    pub fn build(self) -> Result<Program, ValidationError> {
        let p = self.assemble();
        p.validate()?;
        Ok(p)
    }

    /// The program as built so far, not validated.
    fn assemble(self) -> Program {
        let mut p = self.p;
        p.cores = self.cores.into_values().collect();
        p.routes = self.routes.into_iter().map(|(core, entries)| RouteTable { core: CoreId(core), entries }).collect();
        p
    }
}

/// A learning rule that uses every opcode of the learning engine: a pair-based STDP update with
/// a signal-gated depression, a tag bookkeeping handler and an epoch-end L2 normalisation of each
/// post neuron's incoming weights. Used by the golden disassembly and the format tests.
pub fn example_rule(chip: &ChipSpec) -> LearnRule {
    use crate::fixed_point::{smax, Rounding};
    use crate::learn::{Dst, Handler, Instr, Opcode as O, Reduce, Scope, Src, TraceSpec, Trigger};
    let acc_max = smax(chip.formats.accumulator_bits) as i32;
    let pre = vec![
        Instr::ld(0, Src::Y0),
        Instr::ld(1, Src::W),
        Instr::ld(4, Src::Sig(0)),
        Instr::rris(O::Muli, 2, 0, 3, 4),
        Instr::rris(O::Mulir, 3, 0, 5, 6),
        Instr::rrrs(O::Mul, 2, 2, 4, 0),
        Instr::rrr(O::Sub, 1, 1, 2),
        Instr::rri(O::Maxi, 1, 1, 0),
        Instr::st(Dst::W, 1),
    ];
    let post = vec![
        Instr::ld(0, Src::X0),
        Instr::ld(1, Src::W),
        Instr::ldi(5, 100),
        Instr::rrrs(O::Mulr, 2, 0, 5, 8),
        Instr::rrr(O::Add, 1, 1, 2),
        Instr::rri(O::Mini, 1, 1, acc_max),
        Instr::rrs(O::Shrr, 3, 1, 2),
        Instr::rrs(O::Shr, 3, 3, 1),
        Instr::rrs(O::Shl, 3, 3, 3),
        Instr::st(Dst::W, 1),
        Instr::st(Dst::Tag, 3),
    ];
    let step = vec![
        Instr::ld(0, Src::Tag),
        Instr::rr(O::Abs, 1, 0),
        Instr::rr(O::Neg, 2, 1),
        Instr::rr(O::Mov, 3, 2),
        Instr::rrr(O::Min, 4, 3, 0),
        Instr::rrr(O::Max, 5, 4, 1),
        Instr::rri(O::Addi, 5, 5, -1),
        Instr::ld(6, Src::RandU),
        Instr::rrr(O::Sel, 6, 5, 0),
        Instr::rrrs(O::Div, 6, 6, 1, 4),
        Instr::new(O::Nop),
        Instr::st(Dst::Tag, 6),
    ];
    let epoch = vec![
        Instr::red(0, Reduce::SumSq),
        Instr::rrs(O::Sqrt, 1, 0, 0),
        Instr::ldi(2, 4096),
        Instr::rrrs(O::Div, 3, 2, 1, 12),
        Instr::wscale(3, 12),
        Instr::wscaler(3, 12),
    ];
    let h = |trigger, scope, code| Handler { trigger, scope, code };
    LearnRule {
        name: "stdp_norm".into(),
        x: [Some(TraceSpec { decay: 410, impulse: 256 }), None],
        y: [Some(TraceSpec { decay: 410, impulse: 256 }), None],
        handlers: vec![
            h(Trigger::Pre, Scope::Synapse, pre),
            h(Trigger::Post, Scope::Synapse, post),
            h(Trigger::Step, Scope::Synapse, step),
            h(Trigger::Epoch, Scope::PostNeuron, epoch),
        ],
        w_min: 0,
        w_max: acc_max,
        readout: Rounding::Stochastic,
    }
}

/// A small program that exercises every section: two cores, three neuron kinds, two LUTs, a
/// learning rule using every opcode ([`example_rule`]), Poisson and gated clamp-pattern inputs,
/// a signal, routes, probes and symbols. Valid on every built-in profile; the golden disassembly
/// test and `nmc disasm --example` show it.
pub fn example_program(chip: ChipSpec) -> Program {
    use crate::ids::SignalId;
    use crate::program::{Dirs, Encoding, Gate, InputKind, PatternOrder, ProbeKind, StateVar, SynKind};
    let rule = example_rule(&chip);
    let mut b = ProgramBuilder::new(chip, "example");
    b.meta_mut().steps = 500;
    b.meta_mut().epoch_steps = 100;
    b.meta_mut().seed = 7;
    let (c0, c1) = (CoreId(0), CoreId(1));
    let phase = b.signal("phase", 1, Schedule::Cycle { period: 50, values: vec![0, 1] });
    let sigmoid = b.lut(Lut { name: "sigmoid".into(), shift: 6, entries: (0..16).map(|i| i * 65535 / 15).collect() });
    let relu =
        b.lut(Lut { name: "relu".into(), shift: 4, entries: (0..16).map(|i: i32| (i - 8).max(0) * 256).collect() });
    let stdp = b.rule(rule);

    let exc = b.population("exc", NeuronKind::Lif, 4);
    let hid = b.population("hid", NeuronKind::Stochastic, 2);
    let rate = b.population("rate", NeuronKind::Graded, 2);
    let spikes = b.input(InputSource {
        name: "spikes".into(),
        channels: 4,
        key_base: 0x1_0000,
        inject_core: c0,
        kind: InputKind::Poisson { p_q32: vec![1 << 28, 1 << 29, 1 << 30, 1 << 31] },
        gate: None,
    });
    let cues = b.input(InputSource {
        name: "cues".into(),
        channels: 2,
        key_base: 0x2_0000,
        inject_core: c1,
        kind: InputKind::Patterns {
            rows: vec![vec![1, 0], vec![0, 1]],
            present_steps: 25,
            order: PatternOrder::Sequential,
            encoding: Encoding::Clamp,
        },
        gate: Some(Gate { signal: phase, value: 1 }),
    });
    let p_in = b.projection("spikes->exc", Endpoint::Input(spikes), exc);
    let p_eh = b.projection("exc->hid", Endpoint::Pop(exc), hid);
    let p_cue = b.projection("cues->hid", Endpoint::Input(cues), hid);
    let p_hr = b.projection("hid->rate", Endpoint::Pop(hid), rate);

    // Core 0: the LIF population with plastic input synapses.
    b.key_base(c0, 0);
    let lif = b.profile(c0, lif_profile(410, 205, 2));
    b.neurons(c0, exc, 4, NeuronConfig { profile: lif, bias: 0, v_th: 6000, v_init: 0 });
    let g_in =
        b.group(c0, SynGroup { weight_exp: 2, kind: SynKind::Current, rule: Some(stdp), proj: p_in, current: 0 });
    let w = b.acc_of_weight(20);
    let syn = |target, group| Synapse { target, acc: w, delay: 1, group };
    b.connect(c0, 0x1_0000, (0..4).map(|ch| (0..4).map(|n| syn(n, g_in)).take(ch + 1).collect()).collect());

    // Core 1: stochastic units driven by core 0 and clamped by the cues; graded readout.
    b.key_base(c1, 0x100);
    let stoch = b.profile(
        c1,
        NeuronProfile {
            kind: NeuronKind::Stochastic,
            decay_u: 0,
            decay_v: 0,
            refractory: 3,
            v_reset: 0,
            lut: Some(sigmoid),
            noisy: true,
            decay_u2: None,
        },
    );
    let graded = b.profile(
        c1,
        NeuronProfile {
            kind: NeuronKind::Graded,
            decay_u: 4096,
            decay_v: 1024,
            refractory: 0,
            v_reset: 0,
            lut: Some(relu),
            noisy: false,
            decay_u2: None,
        },
    );
    b.neurons(c1, hid, 2, NeuronConfig { profile: stoch, bias: -100, v_th: 250, v_init: 0 });
    b.neurons(c1, rate, 2, NeuronConfig { profile: graded, bias: 0, v_th: 0, v_init: 0 });
    let g_eh = b.group(c1, SynGroup { weight_exp: 0, kind: SynKind::Current, rule: None, proj: p_eh, current: 0 });
    let g_cue = b.group(c1, SynGroup { weight_exp: 0, kind: SynKind::Clamp, rule: None, proj: p_cue, current: 0 });
    let g_hr = b.group(c1, SynGroup { weight_exp: -1, kind: SynKind::Current, rule: None, proj: p_hr, current: 0 });
    let w_neg = b.acc_of_weight(-7);
    b.connect(
        c1,
        0,
        (0..4)
            .map(|n| vec![syn(n % 2, g_eh), Synapse { target: 1 - n % 2, acc: w_neg, delay: 2, group: g_eh }])
            .collect(),
    );
    b.connect(c1, 0x2_0000, vec![vec![syn(0, g_cue)], vec![syn(1, g_cue)]]);
    b.connect(c1, 0x100, vec![vec![syn(2, g_hr), syn(3, g_hr)], vec![syn(3, g_hr)]]);

    b.route(c0, RouteEntry { key: 0x1_0000, mask: !3, dirs: Dirs::LOCAL });
    b.route(c0, RouteEntry { key: 0, mask: !3, dirs: Dirs::EAST });
    b.route(c1, RouteEntry { key: 0, mask: !3, dirs: Dirs::LOCAL });
    b.route(c1, RouteEntry { key: 0x2_0000, mask: !1, dirs: Dirs::LOCAL });
    b.route(c1, RouteEntry { key: 0x100, mask: !1, dirs: Dirs::LOCAL });

    b.probe(Probe { name: "exc_spikes".into(), kind: ProbeKind::Spikes { pop: exc }, every: 1 });
    b.probe(Probe { name: "rate_v".into(), kind: ProbeKind::State { pop: rate, var: StateVar::V }, every: 10 });
    b.probe(Probe { name: "w_in".into(), kind: ProbeKind::Weights { proj: p_in }, every: 100 });
    b.probe(Probe { name: "phase".into(), kind: ProbeKind::Signal { signal: SignalId(phase.0) }, every: 1 });
    b.assemble()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_valid_on_every_profile() {
        for name in crate::chip::PROFILE_NAMES {
            let p = example_program(ChipSpec::profile(name).expect("profile"));
            p.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn example_rule_uses_every_opcode() {
        let r = example_rule(&ChipSpec::default_profile());
        for op in crate::learn::Opcode::ALL {
            assert!(r.handlers.iter().flat_map(|h| &h.code).any(|i| i.op == *op), "{op:?} unused");
        }
    }
}
