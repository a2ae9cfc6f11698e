//! The `program.bin` writer. Pure: a [`Program`] in, bytes out. The field order of every section
//! mirrors `decode.rs` and `docs/program-format.md`.

use super::instr::encode_instr;
use super::{section, HEADER_BYTES, MAGIC, SECTIONS};
use crate::chip::ChipSpec;
use crate::learn::{LearnRule, Scope, TraceSpec};
use crate::neuron::Lut;
use crate::program::{
    Core, Encoding, Endpoint, InputKind, PatternOrder, PhaseLen, ProbeKind, Program, Schedule, StateVar, SynKind,
    FORMAT_VERSION_TRIM, FORMAT_VERSION_U2,
};

/// A growing little-endian byte buffer.
#[derive(Debug, Default)]
struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn i8(&mut self, v: i8) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    /// A count; a count beyond u32 (never valid) is written as u32::MAX so that decoding fails.
    fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    /// A string: u16 length and bytes (a valid program's names are at most 255 bytes; longer ones
    /// keep their true length if it fits 16 bits, so decoding refuses them).
    fn string(&mut self, s: &str) {
        let b = s.as_bytes();
        let n = b.len().min(usize::from(u16::MAX));
        self.u16(n as u16);
        self.0.extend_from_slice(&b[..n]);
    }
}

/// Encode `p` as `program.bin`. A program that passes [`Program::validate`] round-trips exactly
/// through [`super::decode`]; an invalid one still encodes, and decoding it reports why.
pub fn encode(p: &Program) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + 1024);
    out.extend_from_slice(&MAGIC);
    let version = p.format_version();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(SECTIONS.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for (id, _) in SECTIONS {
        let mut w = W::default();
        match id {
            section::CHIP => chip(&mut w, &p.chip, version),
            section::META => {
                w.string(&p.meta.name);
                w.u64(p.meta.dt_ns);
                w.u64(p.meta.steps);
                w.u32(p.meta.epoch_steps);
                w.u64(p.meta.seed);
            }
            section::LUTS => {
                w.count(p.luts.len());
                p.luts.iter().for_each(|l| lut(&mut w, l));
            }
            section::RULES => {
                w.count(p.rules.len());
                p.rules.iter().for_each(|r| rule(&mut w, r));
            }
            section::CORES => {
                w.count(p.cores.len());
                p.cores.iter().for_each(|c| core(&mut w, c, version));
            }
            section::ROUTES => routes(&mut w, p),
            section::INPUTS => inputs(&mut w, p),
            section::SIGNALS => signals(&mut w, p),
            section::PROBES => probes(&mut w, p),
            _ => symbols(&mut w, p),
        }
        let payload = w.0;
        out.push(id);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

fn chip(w: &mut W, c: &ChipSpec, version: u16) {
    w.string(&c.name);
    w.u16(c.mesh.width);
    w.u16(c.mesh.height);
    let s = &c.system;
    w.u16(s.chips_x);
    w.u16(s.chips_y);
    w.u32(s.link_latency_cycles);
    w.u32(s.link_cycles_per_spike);
    w.f64(s.link_energy_pj);
    let l = &c.core;
    w.u32(l.max_neurons);
    w.u32(l.max_input_axons);
    w.u32(l.max_output_axons);
    w.u64(l.synapse_memory_bits);
    w.u32(l.max_route_entries);
    w.u32(l.max_learning_instrs);
    w.u32(l.max_profiles);
    w.u32(l.max_delay);
    let f = &c.formats;
    w.u8(f.weight_bits);
    w.i8(f.weight_exp_min);
    w.i8(f.weight_exp_max);
    w.u8(f.current_bits);
    w.u8(f.voltage_bits);
    w.u8(f.decay_bits);
    w.u8(f.trace_int_bits);
    w.u8(f.trace_frac_bits);
    w.u8(f.accumulator_bits);
    w.u8(f.synapse_overhead_bits);
    w.u8(f.payload_bits);
    w.u8(f.tag_bits);
    if version >= FORMAT_VERSION_TRIM {
        w.u8(f.learning_rate_trim_bits);
    }
    let t = &c.timing;
    w.f64(t.clock_hz);
    w.u32(t.cycles_neuron_update);
    w.u32(t.cycles_synaptic_event);
    w.u32(t.cycles_learning_dispatch);
    w.u32(t.cycles_router_hop);
    w.u32(t.cycles_barrier);
    let e = &c.energy;
    w.f64(e.neuron_update_pj);
    w.f64(e.synaptic_event_pj);
    w.f64(e.learning_op_pj);
    w.f64(e.router_hop_pj);
    w.f64(e.core_static_pj_per_step);
    let m = &c.mismatch;
    w.f64(m.threshold_rsd);
    w.f64(m.leak_rsd);
    w.f64(m.bias_rsd);
    w.f64(m.weight_gain_rsd);
    w.f64(m.learning_rate_rsd);
    w.f64(m.noise_rsd);
    w.u64(m.default_chip_seed);
}

fn lut(w: &mut W, l: &Lut) {
    w.string(&l.name);
    w.u8(l.shift);
    w.count(l.entries.len());
    l.entries.iter().for_each(|&v| w.i32(v));
}

fn trace(w: &mut W, t: &Option<TraceSpec>) {
    w.bool(t.is_some());
    if let Some(t) = t {
        w.u32(t.decay);
        w.i32(t.impulse);
    }
}

fn rule(w: &mut W, r: &LearnRule) {
    w.string(&r.name);
    r.x.iter().chain(r.y.iter()).for_each(|t| trace(w, t));
    w.i32(r.w_min);
    w.i32(r.w_max);
    w.u8(r.readout.code());
    w.count(r.handlers.len());
    for h in &r.handlers {
        w.u8(h.trigger.code());
        w.u8(match h.scope {
            Scope::Synapse => 0,
            Scope::PostNeuron => 1,
        });
        w.count(h.code.len());
        h.code.iter().for_each(|i| w.u64(encode_instr(i)));
    }
}

fn core(w: &mut W, c: &Core, version: u16) {
    w.u32(c.id.0);
    w.u32(c.key_base);
    w.count(c.profiles.len());
    for p in &c.profiles {
        w.u8(p.kind.code());
        w.u32(p.decay_u);
        w.u32(p.decay_v);
        w.u16(p.refractory);
        w.i32(p.v_reset);
        w.bool(p.lut.is_some());
        if let Some(l) = p.lut {
            w.u16(l);
        }
        w.bool(p.noisy);
        if version >= FORMAT_VERSION_U2 {
            w.bool(p.decay_u2.is_some());
            if let Some(d) = p.decay_u2 {
                w.u32(d);
            }
        }
    }
    w.count(c.neurons.len());
    for n in &c.neurons {
        w.u8(n.profile);
        w.i32(n.bias);
        w.i32(n.v_th);
        w.i32(n.v_init);
    }
    w.count(c.groups.len());
    for g in &c.groups {
        w.i8(g.weight_exp);
        w.u8(match g.kind {
            SynKind::Current => 0,
            SynKind::Clamp => 1,
        });
        if version >= FORMAT_VERSION_U2 {
            w.u8(g.current);
        }
        w.bool(g.rule.is_some());
        if let Some(r) = g.rule {
            w.u16(r.0);
        }
        w.u32(g.proj.0);
    }
    w.count(c.axon_map.len());
    for e in &c.axon_map {
        w.u32(e.key_base);
        w.u32(e.count);
        w.u32(e.axon_base);
    }
    w.count(c.axons.len());
    for a in &c.axons {
        w.u32(a.first);
        w.u32(a.count);
    }
    w.count(c.synapses.len());
    for s in &c.synapses {
        w.u32(s.target);
        w.i32(s.acc);
        w.u8(s.delay);
        w.u16(s.group);
    }
    if version >= FORMAT_VERSION_TRIM {
        w.count(c.lr_trim.len());
        c.lr_trim.iter().for_each(|&t| w.i8(t));
    }
}

fn routes(w: &mut W, p: &Program) {
    w.count(p.routes.len());
    for t in &p.routes {
        w.u32(t.core.0);
        w.count(t.entries.len());
        for e in &t.entries {
            w.u32(e.key);
            w.u32(e.mask);
            w.u8(e.dirs.0);
        }
    }
}

fn inputs(w: &mut W, p: &Program) {
    w.count(p.inputs.len());
    for i in &p.inputs {
        w.string(&i.name);
        w.u32(i.channels);
        w.u32(i.key_base);
        w.u32(i.inject_core.0);
        w.bool(i.gate.is_some());
        if let Some(g) = i.gate {
            w.u8(g.signal.0);
            w.i32(g.value);
        }
        match &i.kind {
            InputKind::Poisson { p_q32 } => {
                w.u8(0);
                w.count(p_q32.len());
                p_q32.iter().for_each(|&v| w.u32(v));
            }
            InputKind::SpikeTimes { events } => {
                w.u8(1);
                w.count(events.len());
                for &(step, ch) in events {
                    w.u64(step);
                    w.u32(ch);
                }
            }
            InputKind::Patterns { rows, present_steps, order, encoding } => {
                w.u8(2);
                w.u32(*present_steps);
                w.u8(match order {
                    PatternOrder::Sequential => 0,
                    PatternOrder::Random => 1,
                });
                w.u8(match encoding {
                    Encoding::Rate => 0,
                    Encoding::Graded => 1,
                    Encoding::Clamp => 2,
                });
                w.count(rows.len());
                for row in rows {
                    w.count(row.len());
                    row.iter().for_each(|&v| w.i32(v));
                }
            }
        }
    }
}

fn signals(w: &mut W, p: &Program) {
    w.count(p.signals.len());
    for s in &p.signals {
        w.u8(s.id.0);
        w.string(&s.name);
        w.u8(s.bits);
        match &s.schedule {
            Schedule::Constant(v) => {
                w.u8(0);
                w.i32(*v);
            }
            Schedule::Cycle { period, values } => {
                w.u8(1);
                w.u32(*period);
                w.count(values.len());
                values.iter().for_each(|&v| w.i32(v));
            }
            Schedule::Random { len, p_one_q32, value_one, value_zero } => {
                w.u8(2);
                match len {
                    PhaseLen::Fixed(n) => {
                        w.u8(0);
                        w.u32(*n);
                    }
                    PhaseLen::Geometric { p_end_q32 } => {
                        w.u8(1);
                        w.u32(*p_end_q32);
                    }
                }
                w.u32(*p_one_q32);
                w.i32(*value_one);
                w.i32(*value_zero);
            }
            Schedule::List(changes) => {
                w.u8(3);
                w.count(changes.len());
                for &(step, v) in changes {
                    w.u64(step);
                    w.i32(v);
                }
            }
        }
    }
}

/// The code of a state variable in the probes section.
pub(crate) fn state_var_code(v: StateVar) -> u8 {
    match v {
        StateVar::V => 0,
        StateVar::U => 1,
        StateVar::Y => 2,
        StateVar::Trace0 => 3,
        StateVar::Trace1 => 4,
    }
}

fn probes(w: &mut W, p: &Program) {
    w.count(p.probes.len());
    for pr in &p.probes {
        w.string(&pr.name);
        w.u32(pr.every);
        match pr.kind {
            ProbeKind::Spikes { pop } => {
                w.u8(0);
                w.u32(pop.0);
            }
            ProbeKind::State { pop, var } => {
                w.u8(1);
                w.u32(pop.0);
                w.u8(state_var_code(var));
            }
            ProbeKind::Weights { proj } => {
                w.u8(2);
                w.u32(proj.0);
            }
            ProbeKind::Signal { signal } => {
                w.u8(3);
                w.u8(signal.0);
            }
        }
    }
}

fn symbols(w: &mut W, p: &Program) {
    w.count(p.symbols.populations.len());
    for pop in &p.symbols.populations {
        w.string(&pop.name);
        w.u8(pop.kind.code());
        w.u32(pop.size);
        w.count(pop.slices.len());
        for s in &pop.slices {
            w.u32(s.core.0);
            w.u32(s.first);
            w.u32(s.len);
            w.u32(s.offset);
        }
    }
    w.count(p.symbols.projections.len());
    for pj in &p.symbols.projections {
        w.string(&pj.name);
        match pj.pre {
            Endpoint::Pop(pop) => {
                w.u8(0);
                w.u32(pop.0);
            }
            Endpoint::Input(i) => {
                w.u8(1);
                w.u32(i);
            }
        }
        w.u32(pj.post.0);
        w.u64(pj.synapses);
    }
}
