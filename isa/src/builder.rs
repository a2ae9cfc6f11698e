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
//! let g = b.group(core, SynGroup { weight_exp: 0, kind: SynKind::Current, rule: None, proj });
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
    NeuronProfile { kind: NeuronKind::Lif, decay_u, decay_v, refractory, v_reset: 0, lut: None, noisy: false }
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
        first..first + count
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
        let mut p = self.p;
        p.cores = self.cores.into_values().collect();
        p.routes = self.routes.into_iter().map(|(core, entries)| RouteTable { core: CoreId(core), entries }).collect();
        p.validate()?;
        Ok(p)
    }
}
