//! Code generation: the fully mapped, routed and quantized IR becomes an `nm_isa::Program`
//! (cores with profiles, neurons, synapse groups, axon maps, axons and synapses ordered by axon;
//! routes, inputs, signals, probes, symbols). Also the check of a program against every per-core
//! limit of its chip, used by the tests.

use crate::ir::{CompileError, Endpoint, InputKind, Ir, ProbeKind};
use crate::quant::{initial_acc, volts};
use nm_isa::ids::{CoreId, PopId as IsaPopId, ProjId as IsaProjId, RuleId};
use nm_isa::learn::LearnRule;
use nm_isa::neuron::{NeuronConfig, NeuronProfile};
use nm_isa::program::{
    self, Axon, AxonMapEntry, Core, Encoding, PopInfo, Program, ProjInfo, Slice as IsaSlice, SynGroup, Synapse,
};
use nm_isa::ChipSpec;
use std::collections::BTreeMap;

fn missing(what: &'static str) -> CompileError {
    CompileError::PassOrder { pass: "codegen", needs: what }
}

/// Quantize a probability per step to Q0.32.
pub fn prob_q32(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * 4_294_967_296.0).round().min(f64::from(u32::MAX)) as u32
}

/// Generate the program of a fully processed IR.
pub fn generate(ir: &Ir, spec: &ChipSpec) -> Result<Program, CompileError> {
    let shift = ir.key_shift.ok_or(missing("keys"))?;
    let routes = ir.routes.clone().ok_or(missing("route"))?;
    if ir.pop_quant.len() != ir.pop_count() {
        return Err(missing("quantize"));
    }
    let mut prog = Program::new(spec.clone(), &ir.meta.name);
    prog.meta = ir.meta.clone();
    prog.luts = ir.luts.clone();
    prog.signals = ir.signals.clone();
    prog.routes = routes;

    // Rules, shared by identity and quantized bounds.
    let mut rule_ids: BTreeMap<(String, i32, i32), RuleId> = BTreeMap::new();
    let mut proj_rule: Vec<Option<RuleId>> = Vec::with_capacity(ir.proj_count());
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        let q = pj.quant.as_ref().ok_or(missing("quantize"))?;
        proj_rule.push(match (&pj.plasticity, q.acc_bounds) {
            (Some(pl), Some((lo, hi))) => {
                let next = RuleId(prog.rules.len() as u16);
                let id = *rule_ids.entry((pl.rule_name.clone(), lo, hi)).or_insert_with(|| {
                    let mut r: LearnRule = pl.rule.clone();
                    r.w_min = lo;
                    r.w_max = hi;
                    prog.rules.push(r);
                    next
                });
                Some(id)
            }
            _ => None,
        });
    }

    // Cores and their slices.
    let mut core_slices: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (k, s) in ir.slices.iter().enumerate() {
        let c = s.core.ok_or(missing("place"))?;
        core_slices.entry(c.0).or_default().push(k);
    }
    let core_pos: BTreeMap<u32, usize> = core_slices.keys().enumerate().map(|(i, &c)| (c, i)).collect();
    let mut cores: Vec<Core> = Vec::with_capacity(core_slices.len());
    for (&c, slices) in &core_slices {
        let mut sl = slices.clone();
        sl.sort_by_key(|&k| ir.slices[k].first);
        let mut profiles: Vec<NeuronProfile> = Vec::new();
        let mut neurons = Vec::new();
        for &k in &sl {
            let s = &ir.slices[k];
            let pop = ir.pop(s.pop);
            let q = &ir.pop_quant[s.pop.index()];
            let pr = &pop.params;
            let prof = NeuronProfile {
                kind: pop.kind,
                decay_u: q.decay_u,
                decay_v: q.decay_v,
                refractory: pr.refractory,
                v_reset: volts(pr.reset, q.scale, spec),
                lut: pr.lut,
                noisy: pr.noisy,
                decay_u2: q.decay_u2,
            };
            let pi = match profiles.iter().position(|p| *p == prof) {
                Some(i) => i,
                None => {
                    profiles.push(prof);
                    profiles.len() - 1
                }
            };
            for i in s.offset..s.offset + s.len {
                neurons.push(NeuronConfig {
                    profile: pi as u8,
                    bias: volts(pr.bias.get(i), q.scale, spec),
                    v_th: volts(pr.threshold.get(i), q.scale, spec),
                    v_init: volts(pr.v_init.get(i), q.scale, spec),
                });
            }
        }
        cores.push(Core {
            id: CoreId(c),
            profiles,
            neurons,
            key_base: c << shift,
            groups: Vec::new(),
            axon_map: Vec::new(),
            axons: Vec::new(),
            synapses: Vec::new(),
            lr_trim: Vec::new(),
        });
    }

    // Synapse groups: one per projection per core that receives it.
    let tables = crate::map::slice_tables(ir);
    let slice_core: Vec<usize> =
        ir.slices.iter().map(|s| s.core.map_or(0, |c| core_pos.get(&c.0).copied().unwrap_or(0))).collect();
    let mut group_of: Vec<BTreeMap<u32, u16>> = vec![BTreeMap::new(); cores.len()];
    let mut counts = vec![0usize; cores.len()];
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        let q = pj.quant.as_ref().ok_or(missing("quantize"))?;
        let t = &tables[pj.post.index()];
        for &post in &pj.conn.post {
            let ci = slice_core[t[post as usize] as usize];
            counts[ci] += 1;
            if let std::collections::btree_map::Entry::Vacant(e) = group_of[ci].entry(j.0) {
                let g = cores[ci].groups.len();
                if g > usize::from(u16::MAX) {
                    return Err(CompileError::Invalid(format!(
                        "{} needs more than 65535 synapse groups",
                        cores[ci].id
                    )));
                }
                e.insert(g as u16);
                cores[ci].groups.push(SynGroup {
                    weight_exp: q.weight_exp,
                    kind: pj.kind,
                    rule: proj_rule[j.index()],
                    proj: IsaProjId(j.0),
                    current: pj.current,
                });
            }
        }
    }

    // Bucket synapses by core with their pre keys, then order by key and build axons.
    let mut buckets: Vec<Vec<(u32, Synapse)>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        let q = pj.quant.as_ref().ok_or(missing("quantize"))?;
        let t = &tables[pj.post.index()];
        for pre in 0..pj.conn.pre_size {
            let key = match pj.pre {
                Endpoint::Pop(p) => {
                    let s = &ir.slices[tables[p.index()][pre as usize] as usize];
                    (s.core.map_or(0, |c| c.0) << shift) + s.first + (pre - s.offset)
                }
                Endpoint::Input(i) => ir.input(i).key_base.ok_or(missing("keys"))? + pre,
            };
            for (_, syn) in pj.conn.row_indexed(pre) {
                let s = &ir.slices[t[syn.post as usize] as usize];
                let ci = slice_core[t[syn.post as usize] as usize];
                buckets[ci].push((
                    key,
                    Synapse {
                        target: s.first + (syn.post - s.offset),
                        acc: initial_acc(syn.weight, q, spec),
                        delay: syn.delay,
                        group: group_of[ci][&j.0],
                    },
                ));
            }
        }
    }
    for (core, bucket) in cores.iter_mut().zip(buckets) {
        let mut b = bucket;
        b.sort_by_key(|x| x.0);
        let mut syns = Vec::with_capacity(b.len());
        let mut last_key: Option<u32> = None;
        for (key, s) in b {
            if last_key != Some(key) {
                let axon = core.axons.len() as u32;
                match core.axon_map.last_mut() {
                    Some(m) if last_key == Some(key - 1) && m.axon_base + m.count == axon => m.count += 1,
                    _ => core.axon_map.push(AxonMapEntry { key_base: key, count: 1, axon_base: axon }),
                }
                core.axons.push(Axon { first: syns.len() as u32, count: 0 });
                last_key = Some(key);
            }
            if let Some(a) = core.axons.last_mut() {
                a.count += 1;
            }
            syns.push(s);
        }
        core.synapses = syns;
    }
    // Rules are final only now (a later lowering may have changed their length): check each
    // core's learning memory with the names of what it holds.
    for core in &cores {
        let mut rules: Vec<RuleId> = core.groups.iter().filter_map(|g| g.rule).collect();
        rules.sort();
        rules.dedup();
        let need: u64 = rules.iter().map(|r| prog.rules[r.index()].instr_count() as u64).sum();
        if need > u64::from(spec.core.max_learning_instrs) {
            let names: Vec<&str> = rules.iter().map(|r| prog.rules[r.index()].name.as_str()).collect();
            return Err(CompileError::DoesNotFit {
                limit: "learning instructions",
                place: format!("{} (rules {})", core.id, names.join(", ")),
                needed: need,
                available: u64::from(spec.core.max_learning_instrs),
                hint: "the plastic projections placed on this core use rules too long together; \
                       simplify the rules or use fewer distinct rules (or weight bounds) per population"
                    .into(),
            });
        }
    }
    prog.cores = cores;

    // Inputs.
    for i in ir.input_ids() {
        let inp = ir.input(i);
        let kind = match &inp.kind {
            InputKind::Poisson { p } => program::InputKind::Poisson { p_q32: p.iter().map(|&x| prob_q32(x)).collect() },
            InputKind::SpikeTimes { events } => program::InputKind::SpikeTimes { events: events.clone() },
            InputKind::Patterns { rows, present_steps, order, encoding } => {
                let pb = spec.formats.payload_bits;
                let conv = |v: f64| -> i32 {
                    match encoding {
                        Encoding::Rate => prob_q32(v) as i32,
                        Encoding::Graded => crate::quant::round_away(v)
                            .clamp(nm_isa::fixed_point::smin(pb) as f64, nm_isa::fixed_point::smax(pb) as f64)
                            as i32,
                        Encoding::Clamp => i32::from(v > 0.5),
                    }
                };
                program::InputKind::Patterns {
                    rows: rows.iter().map(|r| r.iter().map(|&v| conv(v)).collect()).collect(),
                    present_steps: *present_steps,
                    order: *order,
                    encoding: *encoding,
                }
            }
        };
        prog.inputs.push(program::InputSource {
            name: inp.name.clone(),
            channels: inp.channels,
            key_base: inp.key_base.ok_or(missing("keys"))?,
            inject_core: inp.inject_core.ok_or(missing("keys"))?,
            kind,
            gate: inp.gate,
        });
    }

    // Probes and symbols.
    for pr in &ir.probes {
        let kind = match pr.kind {
            ProbeKind::Spikes(p) => program::ProbeKind::Spikes { pop: IsaPopId(p.0) },
            ProbeKind::State(p, v) => program::ProbeKind::State { pop: IsaPopId(p.0), var: v },
            ProbeKind::Weights(j) => program::ProbeKind::Weights { proj: IsaProjId(j.0) },
            ProbeKind::Signal(s) => program::ProbeKind::Signal { signal: s },
        };
        prog.probes.push(program::Probe { name: pr.name.clone(), kind, every: pr.every });
    }
    for p in ir.pop_ids() {
        let pop = ir.pop(p);
        let slices = pop
            .slices
            .iter()
            .map(|&s| {
                let x = &ir.slices[s.index()];
                IsaSlice { core: x.core.unwrap_or(CoreId(0)), first: x.first, len: x.len, offset: x.offset }
            })
            .collect();
        prog.symbols.populations.push(PopInfo { name: pop.name.clone(), kind: pop.kind, size: pop.size, slices });
    }
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        prog.symbols.projections.push(ProjInfo {
            name: pj.name.clone(),
            pre: match pj.pre {
                Endpoint::Pop(p) => program::Endpoint::Pop(IsaPopId(p.0)),
                Endpoint::Input(i) => program::Endpoint::Input(i.0),
            },
            post: IsaPopId(pj.post.0),
            synapses: pj.conn.len(),
        });
    }
    Ok(prog)
}

/// Every per-core limit of its chip that `prog` breaks, counted on the program itself.
pub fn limit_problems(prog: &Program) -> Vec<String> {
    let spec = &prog.chip;
    let c = &spec.core;
    let mut out = Vec::new();
    let mut bad = |core: CoreId, what: &str, n: u64, lim: u64| {
        if n > lim {
            out.push(format!("{core}: {what} {n} over the limit {lim}"));
        }
    };
    for core in &prog.cores {
        let id = core.id;
        bad(id, "core id", u64::from(id.0) + 1, u64::from(spec.total_cores()));
        bad(id, "neurons", core.neurons.len() as u64, u64::from(c.max_neurons));
        bad(id, "synapse memory bits", core.synapses.len() as u64 * spec.synapse_bits(), c.synapse_memory_bits);
        bad(id, "input axons", core.axons.len() as u64, u64::from(c.max_input_axons));
        bad(id, "output axons", core.neurons.len() as u64, u64::from(c.max_output_axons));
        bad(id, "profiles", core.profiles.len() as u64, u64::from(c.max_profiles));
        let mut rules: Vec<RuleId> = core.groups.iter().filter_map(|g| g.rule).collect();
        rules.sort();
        rules.dedup();
        let instrs: u64 = rules.iter().map(|r| prog.rules.get(r.index()).map_or(0, |r| r.instr_count() as u64)).sum();
        bad(id, "learning instructions", instrs, u64::from(c.max_learning_instrs));
        if let Some(s) = core.synapses.iter().find(|s| s.delay == 0 || u32::from(s.delay) > c.max_delay) {
            bad(id, "synapse delay", u64::from(s.delay), u64::from(c.max_delay));
            bad(id, "synapse delay below 1:", 1, u64::from(s.delay));
        }
        let missing = core.neurons.iter().filter(|n| usize::from(n.profile) >= core.profiles.len()).count();
        bad(id, "neurons referring to a missing profile", missing as u64, 0);
    }
    for t in &prog.routes {
        bad(t.core, "route entries", t.entries.len() as u64, u64::from(c.max_route_entries));
    }
    out
}
