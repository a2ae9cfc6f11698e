//! A small network builder that lays a network out as a [`Program`] directly: neurons placed
//! by hand on cores, one axon per (source, destination core), one axon-map entry per source core
//! or input, and dimension-ordered (x then y) multicast routes on one chip. Used by the tests
//! and the benchmark binary until programs come from the compiler; it is not a compiler.
//!
//! Routes are one entry per source core (or input) at every router where its tree does more than
//! pass straight on. A router whose table would exceed the chip's `max_route_entries` (CUBA at
//! 64k neurons) gets its table minimised by ordered covering ([`nm_isa::routemin`]), which keeps
//! the first match of every key that reaches the router (checked before it is used); smaller
//! tables are left exactly as they were.

use nm_isa::ids::{CoreCoord, PopId, ProjId};
use nm_isa::learn::LearnRule;
use nm_isa::neuron::{NeuronConfig, NeuronKind, NeuronProfile};
use nm_isa::program::{
    Axon, AxonMapEntry, Core, Dirs, InputKind, InputSource, PopInfo, Probe, ProbeKind, Program, ProjInfo, RouteEntry,
    RouteTable, Slice, SynGroup, SynKind, Synapse,
};
use nm_isa::routemin::{ordered_covering, Need, Want};
use nm_isa::{ChipSpec, CoreId};
use std::collections::{BTreeMap, BTreeSet};

/// A neuron: core id and local index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NeuronRef {
    pub core: u32,
    pub idx: u32,
}

/// The pre-synaptic side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pre {
    Neuron(NeuronRef),
    /// Input source index and channel.
    Input(u32, u32),
}

#[derive(Clone, Debug, Default)]
struct Draft {
    profiles: Vec<NeuronProfile>,
    neurons: Vec<NeuronConfig>,
    groups: Vec<SynGroup>,
    /// (pre, target, acc, delay, group)
    syns: Vec<(Pre, u32, i32, u8, u16)>,
}

/// Builds a [`Program`] from neurons, groups and connections.
#[derive(Clone, Debug)]
pub struct NetBuilder {
    pub program: Program,
    drafts: BTreeMap<u32, Draft>,
}

const INPUT_KEY: u32 = 0x8000;

/// The accumulator value whose readout is the weight `w` on `chip` (`w · 2^accumulator_frac_bits`).
pub fn acc_of_weight(chip: &ChipSpec, w: i32) -> i32 {
    let f = &chip.formats;
    w.saturating_mul(1 << nm_isa::fixed_point::accumulator_frac_bits(f.accumulator_bits, f.weight_bits))
}

impl NetBuilder {
    pub fn new(chip: ChipSpec, name: &str, dt_ns: u64) -> NetBuilder {
        let mut program = Program::new(chip, name);
        program.meta.dt_ns = dt_ns;
        NetBuilder { program, drafts: BTreeMap::new() }
    }

    pub fn add_profile(&mut self, core: u32, p: NeuronProfile) -> u8 {
        let d = self.drafts.entry(core).or_default();
        d.profiles.push(p);
        (d.profiles.len() - 1) as u8
    }

    pub fn add_neuron(&mut self, core: u32, n: NeuronConfig) -> NeuronRef {
        let d = self.drafts.entry(core).or_default();
        d.neurons.push(n);
        NeuronRef { core, idx: d.neurons.len() as u32 - 1 }
    }

    pub fn add_group(&mut self, core: u32, weight_exp: i8, kind: SynKind, rule: Option<u16>, proj: u32) -> u16 {
        self.add_group_on(core, weight_exp, kind, rule, proj, 0)
    }

    /// A group feeding synaptic current `current` (0 the first, 1 the second) of its targets.
    pub fn add_group_on(
        &mut self,
        core: u32,
        weight_exp: i8,
        kind: SynKind,
        rule: Option<u16>,
        proj: u32,
        current: u8,
    ) -> u16 {
        let d = self.drafts.entry(core).or_default();
        d.groups.push(SynGroup { weight_exp, kind, rule: rule.map(nm_isa::ids::RuleId), proj: ProjId(proj), current });
        (d.groups.len() - 1) as u16
    }

    pub fn add_rule(&mut self, rule: LearnRule) -> u16 {
        self.program.rules.push(rule);
        (self.program.rules.len() - 1) as u16
    }

    /// The accumulator value whose readout is the weight `w` on this builder's chip
    /// (`w · 2^accumulator_frac_bits`).
    pub fn acc_of_weight(&self, w: i32) -> i32 {
        acc_of_weight(&self.program.chip, w)
    }

    /// A synapse `pre → post` with accumulator value `acc`, `delay` steps, in `group` of post's core.
    pub fn connect(&mut self, pre: Pre, post: NeuronRef, acc: i32, delay: u8, group: u16) {
        self.drafts.entry(post.core).or_default().syns.push((pre, post.idx, acc, delay, group));
    }

    /// An input source (its key base and injection core are assigned here).
    pub fn add_input(&mut self, name: &str, channels: u32, kind: InputKind, inject_core: u32) -> u32 {
        let k = self.program.inputs.len() as u32;
        self.program.inputs.push(InputSource {
            name: name.into(),
            channels,
            key_base: (INPUT_KEY + k) << 16,
            inject_core: CoreId(inject_core),
            kind,
            gate: None,
        });
        k
    }

    pub fn add_population(&mut self, name: &str, kind: NeuronKind, neurons: &[NeuronRef]) -> PopId {
        let mut slices: Vec<Slice> = Vec::new();
        for (k, n) in neurons.iter().enumerate() {
            if let Some(last) = slices.last_mut() {
                if last.core.0 == n.core && last.first + last.len == n.idx && last.offset + last.len == k as u32 {
                    last.len += 1;
                    continue;
                }
            }
            slices.push(Slice { core: CoreId(n.core), first: n.idx, len: 1, offset: k as u32 });
        }
        self.program.symbols.populations.push(PopInfo { name: name.into(), kind, size: neurons.len() as u32, slices });
        PopId(self.program.symbols.populations.len() as u32 - 1)
    }

    pub fn add_projection(&mut self, name: &str, post: PopId) -> u32 {
        self.program.symbols.projections.push(ProjInfo {
            name: name.into(),
            pre: nm_isa::program::Endpoint::Pop(post),
            post,
            synapses: 0,
        });
        self.program.symbols.projections.len() as u32 - 1
    }

    pub fn probe(&mut self, name: &str, kind: ProbeKind, every: u32) {
        self.program.probes.push(Probe { name: name.into(), kind, every });
    }

    /// Lay everything out.
    pub fn build(mut self) -> Program {
        let spec = self.program.chip.clone();
        let key_of = |pre: Pre| -> u32 {
            match pre {
                Pre::Neuron(n) => (n.core << 16) | n.idx,
                Pre::Input(k, c) => ((INPUT_KEY + k) << 16) | c,
            }
        };
        let src_core = |pre: Pre, inputs: &[InputSource]| -> u32 {
            match pre {
                Pre::Neuron(n) => n.core,
                Pre::Input(k, _) => inputs[k as usize].inject_core.0,
            }
        };
        // Destination cores of every source block (source core or input).
        let mut dests: BTreeMap<(u8, u32), (u32, BTreeSet<u32>)> = BTreeMap::new();
        for (&core, d) in &self.drafts {
            for &(pre, ..) in &d.syns {
                let block = match pre {
                    Pre::Neuron(n) => (0u8, n.core),
                    Pre::Input(k, _) => (1u8, k),
                };
                dests
                    .entry(block)
                    .or_insert_with(|| (src_core(pre, &self.program.inputs), BTreeSet::new()))
                    .1
                    .insert(core);
            }
        }
        // Cores.
        let all: BTreeSet<u32> = self.drafts.keys().copied().collect();
        for &cid in &all {
            let d = self.drafts.remove(&cid).unwrap_or_default();
            let mut core = Core {
                id: CoreId(cid),
                profiles: d.profiles,
                neurons: d.neurons,
                key_base: cid << 16,
                groups: d.groups,
                axon_map: Vec::new(),
                axons: Vec::new(),
                synapses: Vec::new(),
                lr_trim: Vec::new(),
            };
            // One axon per used source key; one axon-map entry per run of consecutive keys.
            let mut by_key: BTreeMap<u32, Vec<(u32, i32, u8, u16)>> = BTreeMap::new();
            for &(pre, t, acc, delay, g) in &d.syns {
                by_key.entry(key_of(pre)).or_default().push((t, acc, delay, g));
            }
            for (&key, list) in &by_key {
                let axon = core.axons.len() as u32;
                match core.axon_map.last_mut() {
                    Some(m) if m.key_base + m.count == key && m.key_base >> 16 == key >> 16 => m.count += 1,
                    _ => core.axon_map.push(AxonMapEntry { key_base: key, count: 1, axon_base: axon }),
                }
                let first = core.synapses.len() as u32;
                for &(t, acc, delay, g) in list {
                    core.synapses.push(Synapse { target: t, acc, delay, group: g });
                }
                core.axons.push(Axon { first, count: list.len() as u32 });
            }
            self.program.cores.push(core);
        }
        // Routes: x along the source row, then y along each destination column.
        let mut tables: BTreeMap<u32, Vec<RouteEntry>> = BTreeMap::new();
        // What every key block needs at every router it reaches (for minimisation).
        let mut needs: BTreeMap<u32, Vec<Need>> = BTreeMap::new();
        let (w, h) = (u32::from(spec.mesh.width), u32::from(spec.mesh.height));
        let gcoord = |id: u32| -> (u32, u32) {
            let c = CoreId(id).coord(&spec).unwrap_or(CoreCoord { chip_x: 0, chip_y: 0, x: 0, y: 0 });
            (u32::from(c.chip_x) * w + u32::from(c.x), u32::from(c.chip_y) * h + u32::from(c.y))
        };
        let gid = |gx: u32, gy: u32| -> u32 {
            let c =
                CoreCoord { chip_x: (gx / w) as u16, chip_y: (gy / h) as u16, x: (gx % w) as u16, y: (gy % h) as u16 };
            CoreId::from_coord(c, &spec).0
        };
        for (&(kind, b), (src, dset)) in &dests {
            let key = if kind == 0 { b << 16 } else { (INPUT_KEY + b) << 16 };
            let (sx, sy) = gcoord(*src);
            let dc: Vec<(u32, u32)> = dset.iter().map(|&d| gcoord(d)).collect();
            let mut add = |x: u32, y: u32, dirs: u8, straight: u8| {
                let want = if dirs == straight { Want::Default(Dirs(dirs)) } else { Want::Route(Dirs(dirs)) };
                if dirs != 0 {
                    needs.entry(gid(x, y)).or_default().push(Need { key, mask: 0xFFFF_0000, want });
                }
                if dirs != straight && dirs != 0 {
                    tables.entry(gid(x, y)).or_default().push(RouteEntry { key, mask: 0xFFFF_0000, dirs: Dirs(dirs) });
                }
            };
            let xmin = dc.iter().map(|c| c.0).min().unwrap_or(sx).min(sx);
            let xmax = dc.iter().map(|c| c.0).max().unwrap_or(sx).max(sx);
            for x in xmin..=xmax {
                let mut dirs = 0u8;
                if x >= sx && dc.iter().any(|c| c.0 > x) {
                    dirs |= Dirs::EAST.0;
                }
                if x <= sx && dc.iter().any(|c| c.0 < x) {
                    dirs |= Dirs::WEST.0;
                }
                if dc.iter().any(|c| c.0 == x && c.1 > sy) {
                    dirs |= Dirs::NORTH.0;
                }
                if dc.iter().any(|c| c.0 == x && c.1 < sy) {
                    dirs |= Dirs::SOUTH.0;
                }
                if dc.iter().any(|c| c.0 == x && c.1 == sy) {
                    dirs |= Dirs::LOCAL.0;
                }
                // A router that only passes the packet straight on needs no entry (default routing).
                let straight = if x > sx {
                    Dirs::EAST.0
                } else if x < sx {
                    Dirs::WEST.0
                } else {
                    0
                };
                add(x, sy, dirs, straight);
                let col: Vec<u32> = dc.iter().filter(|c| c.0 == x && c.1 != sy).map(|c| c.1).collect();
                // From the source row, so that the routers the packet passes straight through
                // (no entry) are listed as default-routed for minimisation.
                let (ymin, ymax) =
                    (col.iter().copied().min().unwrap_or(sy).min(sy), col.iter().copied().max().unwrap_or(sy).max(sy));
                for y in ymin..=ymax {
                    if y == sy {
                        continue;
                    }
                    let mut dirs = 0u8;
                    if y > sy && ymax > y {
                        dirs |= Dirs::NORTH.0;
                    }
                    if y < sy && ymin < y {
                        dirs |= Dirs::SOUTH.0;
                    }
                    if col.contains(&y) {
                        dirs |= Dirs::LOCAL.0;
                    }
                    let straight = if y > sy { Dirs::NORTH.0 } else { Dirs::SOUTH.0 };
                    add(x, y, dirs, straight);
                }
            }
        }
        // Silent blocks (a core or input without targets) must match nothing at their source.
        for core in &self.program.cores {
            if !dests.contains_key(&(0, core.id.0)) {
                needs.entry(core.id.0).or_default().push(Need {
                    key: core.id.0 << 16,
                    mask: 0xFFFF_0000,
                    want: Want::Nothing,
                });
            }
        }
        for (k, inp) in self.program.inputs.iter().enumerate() {
            if !dests.contains_key(&(1, k as u32)) {
                let key = (INPUT_KEY + k as u32) << 16;
                needs.entry(inp.inject_core.0).or_default().push(Need { key, mask: 0xFFFF_0000, want: Want::Nothing });
            }
        }
        let limit = spec.core.max_route_entries as usize;
        for (c, entries) in &mut tables {
            if entries.len() > limit {
                // Refused input or no gain: the table stays, and validation names the overflow.
                if let Ok(t) = ordered_covering(needs.get(c).map_or(&[][..], Vec::as_slice), limit) {
                    if t.len() < entries.len() {
                        *entries = t;
                    }
                }
            }
        }
        self.program.routes = tables.into_iter().map(|(c, entries)| RouteTable { core: CoreId(c), entries }).collect();
        // Every projection a group names must exist in the symbols: add placeholders.
        let max_proj =
            self.program.cores.iter().flat_map(|c| c.groups.iter().map(|g| g.proj.0 as usize + 1)).max().unwrap_or(0);
        if max_proj > self.program.symbols.projections.len() {
            if self.program.symbols.populations.is_empty() {
                let all: Vec<NeuronRef> = self
                    .program
                    .cores
                    .iter()
                    .flat_map(|c| (0..c.neurons.len() as u32).map(move |idx| NeuronRef { core: c.id.0, idx }))
                    .collect();
                let kind =
                    self.program.cores.first().and_then(|c| c.profiles.first()).map_or(NeuronKind::Lif, |p| p.kind);
                self.add_population("all", kind, &all);
            }
            while self.program.symbols.projections.len() < max_proj {
                let k = self.program.symbols.projections.len();
                self.add_projection(&format!("proj{k}"), PopId(0));
            }
        }
        self.program
    }
}

/// Convenience: a LIF profile.
pub fn lif_profile(decay_u: u32, decay_v: u32, refractory: u16, v_reset: i32) -> NeuronProfile {
    NeuronProfile {
        kind: NeuronKind::Lif,
        decay_u,
        decay_v,
        refractory,
        v_reset,
        lut: None,
        noisy: false,
        decay_u2: None,
    }
}
