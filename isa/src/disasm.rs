//! The disassembler: a [`Program`] as readable text (what `nmc disasm program.bin` prints): the
//! chip, program settings, LUTs, learning rules with their handlers as mnemonics, every core
//! (summary with memory fill against the chip's limits, profiles, groups, axon map, neurons,
//! synapses), routing tables, inputs, signals, probes and symbols.

use crate::chip::ChipSpec;
use crate::learn::{LearnRule, Opcode, Scope, TraceSpec};
use crate::program::{
    Core, Dirs, Encoding, Endpoint, InputKind, PatternOrder, PhaseLen, ProbeKind, Program, Schedule, SynKind,
};
use std::fmt::{self, Write};

/// At most this many synapses of a core are listed one by one (the rest are counted).
pub const MAX_LISTED_SYNAPSES: usize = 64;
/// At most this many values of a list (LUT entries, rates, events, pattern values) are shown.
pub const MAX_LISTED_VALUES: usize = 16;

/// The whole program as text.
pub fn disassemble(p: &Program) -> String {
    Disasm(p).to_string()
}

/// A [`Program`] that displays as its disassembly.
#[derive(Debug, Clone, Copy)]
pub struct Disasm<'a>(pub &'a Program);

impl fmt::Display for Disasm<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        writeln!(f, "; program `{}` (program.bin format version {})", p.meta.name, p.format_version())?;
        writeln!(
            f,
            "; {} cores, {} neurons, {} synapses, {} rules, {} inputs, {} signals, {} probes",
            p.cores.len(),
            p.neuron_count(),
            p.synapse_count(),
            p.rules.len(),
            p.inputs.len(),
            p.signals.len(),
            p.probes.len()
        )?;
        chip(f, &p.chip)?;
        let m = &p.meta;
        writeln!(f, "\nmeta: dt {} ns, {} steps, epoch {} steps, seed {}", m.dt_ns, m.steps, m.epoch_steps, m.seed)?;
        if !p.luts.is_empty() {
            writeln!(f, "\nluts:")?;
            for (i, l) in p.luts.iter().enumerate() {
                writeln!(
                    f,
                    "  lut {i} `{}`: {} entries, index x >> {}: {}",
                    l.name,
                    l.entries.len(),
                    l.shift,
                    values(&l.entries)
                )?;
            }
        }
        if !p.rules.is_empty() {
            writeln!(f, "\nrules:")?;
            for (i, r) in p.rules.iter().enumerate() {
                rule(f, &p.chip, i, r)?;
            }
        }
        for c in &p.cores {
            core(f, p, c)?;
        }
        if !p.routes.is_empty() {
            writeln!(f, "\nroutes:")?;
            for t in &p.routes {
                writeln!(
                    f,
                    "  router of core {} ({} / {} entries):",
                    t.core.0,
                    t.entries.len(),
                    p.chip.core.max_route_entries
                )?;
                for (k, e) in t.entries.iter().enumerate() {
                    writeln!(f, "    {k:4}  key {:#010x} mask {:#010x} -> {}", e.key, e.mask, dirs(e.dirs))?;
                }
            }
        }
        inputs(f, p)?;
        signals(f, p)?;
        probes(f, p)?;
        symbols(f, p)
    }
}

fn chip(f: &mut fmt::Formatter<'_>, c: &ChipSpec) -> fmt::Result {
    writeln!(f, "\nchip `{}`:", c.name)?;
    writeln!(
        f,
        "  mesh {}x{} cores per chip, {}x{} chips, {} cores; links: latency {} cycles, {} cycles/spike, {} pJ/spike",
        c.mesh.width,
        c.mesh.height,
        c.system.chips_x,
        c.system.chips_y,
        c.total_cores(),
        c.system.link_latency_cycles,
        c.system.link_cycles_per_spike,
        c.system.link_energy_pj
    )?;
    let l = &c.core;
    writeln!(
        f,
        "  per core: {} neurons, {} input axons, {} output axons, {} synapse bits ({} bits/synapse, {} synapses), \
         {} route entries, {} learning instrs, {} profiles, delay <= {}",
        l.max_neurons,
        l.max_input_axons,
        l.max_output_axons,
        l.synapse_memory_bits,
        c.synapse_bits(),
        c.max_synapses_per_core(),
        l.max_route_entries,
        l.max_learning_instrs,
        l.max_profiles,
        l.max_delay
    )?;
    let fm = &c.formats;
    writeln!(
        f,
        "  formats: weight sign+{} (exp {}..={}), current {} (wrap), voltage {} (sat), decay {}, trace {}.{}, \
         accumulator {}, overhead {}, payload {}, tag {}",
        fm.weight_bits,
        fm.weight_exp_min,
        fm.weight_exp_max,
        fm.current_bits,
        fm.voltage_bits,
        fm.decay_bits,
        fm.trace_int_bits,
        fm.trace_frac_bits,
        fm.accumulator_bits,
        fm.synapse_overhead_bits,
        fm.payload_bits,
        fm.tag_bits
    )?;
    let t = &c.timing;
    writeln!(
        f,
        "  timing: clock {} Hz; cycles: neuron {}, synaptic event {}, learning dispatch {}, router hop {}, barrier {}",
        t.clock_hz,
        t.cycles_neuron_update,
        t.cycles_synaptic_event,
        t.cycles_learning_dispatch,
        t.cycles_router_hop,
        t.cycles_barrier
    )?;
    let e = &c.energy;
    writeln!(
        f,
        "  energy (pJ): neuron {}, synaptic event {}, learning op {}, router hop {}, static/core/step {}",
        e.neuron_update_pj, e.synaptic_event_pj, e.learning_op_pj, e.router_hop_pj, e.core_static_pj_per_step
    )?;
    let m = &c.mismatch;
    writeln!(
        f,
        "  mismatch (rsd): threshold {}, leak {}, bias {}, weight gain {}, learning rate {}, noise {}; chip seed {}",
        m.threshold_rsd,
        m.leak_rsd,
        m.bias_rsd,
        m.weight_gain_rsd,
        m.learning_rate_rsd,
        m.noise_rsd,
        m.default_chip_seed
    )
}

fn values<T: fmt::Display>(v: &[T]) -> String {
    let mut s = String::from("[");
    for (i, x) in v.iter().take(MAX_LISTED_VALUES).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{x}");
    }
    if v.len() > MAX_LISTED_VALUES {
        let _ = write!(s, ", ... {} more", v.len() - MAX_LISTED_VALUES);
    }
    s.push(']');
    s
}

fn trace(name: &str, t: &Option<TraceSpec>) -> Option<String> {
    t.map(|t| format!("{name} (decay {}, impulse {})", t.decay, t.impulse))
}

fn rule(f: &mut fmt::Formatter<'_>, chip: &ChipSpec, i: usize, r: &LearnRule) -> fmt::Result {
    let traces: Vec<String> = [("x0", &r.x[0]), ("x1", &r.x[1]), ("y0", &r.y[0]), ("y1", &r.y[1])]
        .iter()
        .filter_map(|(n, t)| trace(n, t))
        .collect();
    writeln!(
        f,
        "  rule {i} `{}`: {} instrs / {}, w in [{}, {}], readout {}, traces: {}",
        r.name,
        r.instr_count(),
        chip.core.max_learning_instrs,
        r.w_min,
        r.w_max,
        format!("{:?}", r.readout).to_lowercase(),
        if traces.is_empty() { "none".to_string() } else { traces.join(", ") }
    )?;
    for h in &r.handlers {
        let fixed: u32 = h.code.iter().map(|i| i.op.cycles()).sum();
        let per_syn = h.code.iter().filter(|i| matches!(i.op, Opcode::Red | Opcode::Wscale | Opcode::Wscaler)).count();
        let scope = match h.scope {
            Scope::Synapse => "per synapse",
            Scope::PostNeuron => "per post neuron",
        };
        let extra = if per_syn > 0 { format!(" + {per_syn} per synapse") } else { String::new() };
        writeln!(
            f,
            "    {} ({scope}): {} instrs, {} + {fixed}{extra} cycles",
            h.trigger.name(),
            h.code.len(),
            chip.timing.cycles_learning_dispatch
        )?;
        for (k, ins) in h.code.iter().enumerate() {
            let text = ins.to_string();
            writeln!(f, "      {k:04}  {text:<28} ; {}", ins.op.cycles())?;
        }
    }
    Ok(())
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        return "-".into();
    }
    format!("{:.1}%", n as f64 * 100.0 / of as f64)
}

fn core(f: &mut fmt::Formatter<'_>, p: &Program, c: &Core) -> fmt::Result {
    let chip = &p.chip;
    let l = &chip.core;
    let coord =
        c.id.coord(chip)
            .map(|k| format!("chip ({},{}) core ({},{})", k.chip_x, k.chip_y, k.x, k.y))
            .unwrap_or_else(|| "outside the system".into());
    writeln!(f, "\ncore {} [{coord}]: key base {:#010x}", c.id.0, c.key_base)?;
    let syn_bits = c.synapses.len() as u64 * chip.synapse_bits();
    let mut rules: Vec<u16> = c.groups.iter().filter_map(|g| g.rule.map(|r| r.0)).collect();
    rules.sort_unstable();
    rules.dedup();
    let instrs: usize = rules.iter().filter_map(|r| p.rules.get(usize::from(*r))).map(|r| r.instr_count()).sum();
    let fill = |name: &str, n: u64, of: u64| format!("{name} {n}/{of} ({})", pct(n, of));
    writeln!(f, "  {}", fill("neurons", c.neurons.len() as u64, u64::from(l.max_neurons)))?;
    writeln!(f, "  {}", fill("input axons", c.axons.len() as u64, u64::from(l.max_input_axons)))?;
    writeln!(f, "  {}", fill("synapse memory bits", syn_bits, l.synapse_memory_bits))?;
    writeln!(f, "  {}", fill("profiles", c.profiles.len() as u64, u64::from(l.max_profiles)))?;
    writeln!(f, "  {}", fill("learning instrs", instrs as u64, u64::from(l.max_learning_instrs)))?;
    writeln!(f, "  synapses {}, groups {}, axon map entries {}", c.synapses.len(), c.groups.len(), c.axon_map.len())?;
    for (i, pr) in c.profiles.iter().enumerate() {
        let n = c.neurons.iter().filter(|n| usize::from(n.profile) == i).count();
        let du2 = pr.decay_u2.map_or(String::new(), |d| format!(", decay_u2 {d}"));
        writeln!(
            f,
            "  profile {i}: {} x{n}, decay_u {}{du2}, decay_v {}, refractory {}, v_reset {}, lut {}, noisy {}",
            pr.kind.mnemonic(),
            pr.decay_u,
            pr.decay_v,
            pr.refractory,
            pr.v_reset,
            pr.lut.map_or("-".to_string(), |l| l.to_string()),
            if pr.noisy { "yes" } else { "no" }
        )?;
    }
    for (i, g) in c.groups.iter().enumerate() {
        let proj = p.symbols.projections.get(g.proj.index()).map_or("?", |pj| pj.name.as_str());
        let rule = g.rule.map_or("-".to_string(), |r| {
            format!("{} `{}`", r.0, p.rules.get(r.index()).map_or("?", |x| x.name.as_str()))
        });
        let kind = match (g.kind, g.current) {
            (SynKind::Current, 0) => "current".to_string(),
            (SynKind::Current, c) => format!("current {}", u32::from(c) + 1),
            (SynKind::Clamp, 0) => "clamp".to_string(),
            (SynKind::Clamp, c) => format!("clamp (current {})", u32::from(c) + 1),
        };
        writeln!(f, "  group {i}: {kind}, weight exp {}, rule {rule}, projection {} `{proj}`", g.weight_exp, g.proj.0)?;
    }
    for e in &c.axon_map {
        writeln!(
            f,
            "  keys {:#010x}..{:#010x} -> axons {}..{}",
            e.key_base,
            u64::from(e.key_base) + u64::from(e.count),
            e.axon_base,
            u64::from(e.axon_base) + u64::from(e.count)
        )?;
    }
    // Neurons, run-length grouped by identical configuration.
    let mut i = 0;
    while i < c.neurons.len() {
        let n = c.neurons[i];
        let mut j = i + 1;
        while j < c.neurons.len() && c.neurons[j] == n {
            j += 1;
        }
        writeln!(
            f,
            "  neurons {i}..{j}: profile {}, bias {}, v_th {}, v_init {}",
            n.profile, n.bias, n.v_th, n.v_init
        )?;
        i = j;
    }
    let mut listed = 0;
    for (a, ax) in c.axons.iter().enumerate() {
        if listed >= MAX_LISTED_SYNAPSES {
            break;
        }
        let first = ax.first as usize;
        let end = first.saturating_add(ax.count as usize).min(c.synapses.len());
        let syns = c.synapses.get(first..end).unwrap_or(&[]);
        let mut line = format!("  axon {a}:");
        for (k, s) in syns.iter().take(MAX_LISTED_SYNAPSES - listed).enumerate() {
            match c.lr_trim_of(first + k) {
                0 => {
                    let _ = write!(line, " n{}(acc {}, d {}, g {})", s.target, s.acc, s.delay, s.group);
                }
                t => {
                    let _ = write!(line, " n{}(acc {}, d {}, g {}, trim {t})", s.target, s.acc, s.delay, s.group);
                }
            }
            listed += 1;
        }
        writeln!(f, "{line}")?;
    }
    if c.synapses.len() > listed {
        writeln!(f, "  ... {} more synapses", c.synapses.len() - listed)?;
    }
    Ok(())
}

fn dirs(d: Dirs) -> String {
    let names = [
        (Dirs::LOCAL, "local"),
        (Dirs::NORTH, "north"),
        (Dirs::EAST, "east"),
        (Dirs::SOUTH, "south"),
        (Dirs::WEST, "west"),
    ];
    let v: Vec<&str> = names.iter().filter(|(b, _)| d.contains(*b)).map(|(_, n)| *n).collect();
    if v.is_empty() {
        "drop".into()
    } else {
        v.join("+")
    }
}

fn inputs(f: &mut fmt::Formatter<'_>, p: &Program) -> fmt::Result {
    if p.inputs.is_empty() {
        return Ok(());
    }
    writeln!(f, "\ninputs:")?;
    for (i, inp) in p.inputs.iter().enumerate() {
        let gate = inp.gate.map_or(String::new(), |g| format!(", while signal {} == {}", g.signal.0, g.value));
        let kind = match &inp.kind {
            InputKind::Poisson { p_q32 } => format!("poisson, p_q32 {}", values(p_q32)),
            InputKind::SpikeTimes { events } => {
                let ev: Vec<String> = events.iter().map(|(s, c)| format!("{s}:{c}")).collect();
                format!("spike times (step:channel) {}", values(&ev))
            }
            InputKind::Patterns { rows, present_steps, order, encoding } => format!(
                "{} patterns, {} order, {} encoding, {present_steps} steps each",
                rows.len(),
                match order {
                    PatternOrder::Sequential => "sequential",
                    PatternOrder::Random => "random",
                },
                match encoding {
                    Encoding::Rate => "rate",
                    Encoding::Graded => "graded",
                    Encoding::Clamp => "clamp",
                }
            ),
        };
        writeln!(
            f,
            "  input {i} `{}`: {} channels, keys {:#010x}.., injected at core {}{gate}: {kind}",
            inp.name, inp.channels, inp.key_base, inp.inject_core.0
        )?;
        if let InputKind::Patterns { rows, .. } = &inp.kind {
            for (k, row) in rows.iter().take(MAX_LISTED_VALUES).enumerate() {
                writeln!(f, "    row {k}: {}", values(row))?;
            }
        }
    }
    Ok(())
}

fn signals(f: &mut fmt::Formatter<'_>, p: &Program) -> fmt::Result {
    if p.signals.is_empty() {
        return Ok(());
    }
    writeln!(f, "\nsignals:")?;
    for s in &p.signals {
        let sched = match &s.schedule {
            Schedule::Constant(v) => format!("constant {v}"),
            Schedule::Cycle { period, values: v } => format!("cycle every {period} steps through {}", values(v)),
            Schedule::Random { len, p_one_q32, value_one, value_zero } => format!(
                "random: {value_one} with p_q32 {p_one_q32}, else {value_zero}, phases {}",
                match len {
                    PhaseLen::Fixed(n) => format!("of {n} steps"),
                    PhaseLen::Geometric { p_end_q32 } => format!("ending with p_q32 {p_end_q32} per step"),
                }
            ),
            Schedule::List(ch) => {
                let v: Vec<String> = ch.iter().map(|(s, v)| format!("{s}:{v}")).collect();
                format!("changes (step:value) {}", values(&v))
            }
        };
        writeln!(f, "  signal {} `{}` ({} bits): {sched}", s.id.0, s.name, s.bits)?;
    }
    Ok(())
}

fn probes(f: &mut fmt::Formatter<'_>, p: &Program) -> fmt::Result {
    if p.probes.is_empty() {
        return Ok(());
    }
    let pop = |i: u32| p.symbols.populations.get(i as usize).map_or("?", |x| x.name.as_str()).to_string();
    let proj = |i: u32| p.symbols.projections.get(i as usize).map_or("?", |x| x.name.as_str()).to_string();
    writeln!(f, "\nprobes:")?;
    for (i, pr) in p.probes.iter().enumerate() {
        let what = match pr.kind {
            ProbeKind::Spikes { pop: id } => format!("spikes of population {} `{}`", id.0, pop(id.0)),
            ProbeKind::State { pop: id, var } => format!("{var:?} of population {} `{}`", id.0, pop(id.0)),
            ProbeKind::Weights { proj: id } => format!("weights of projection {} `{}`", id.0, proj(id.0)),
            ProbeKind::Signal { signal } => format!("signal {}", signal.0),
        };
        writeln!(f, "  probe {i} `{}`: {what}, every {} steps", pr.name, pr.every)?;
    }
    Ok(())
}

fn symbols(f: &mut fmt::Formatter<'_>, p: &Program) -> fmt::Result {
    let s = &p.symbols;
    if s.populations.is_empty() && s.projections.is_empty() {
        return Ok(());
    }
    writeln!(f, "\nsymbols:")?;
    for (i, pop) in s.populations.iter().enumerate() {
        let slices: Vec<String> = pop
            .slices
            .iter()
            .map(|sl| {
                format!(
                    "[{}..{}] on core {} at {}",
                    sl.offset,
                    u64::from(sl.offset) + u64::from(sl.len),
                    sl.core.0,
                    sl.first
                )
            })
            .collect();
        writeln!(f, "  population {i} `{}`: {} x{}: {}", pop.name, pop.kind.mnemonic(), pop.size, slices.join(", "))?;
    }
    for (i, pj) in s.projections.iter().enumerate() {
        let pre = match pj.pre {
            Endpoint::Pop(id) => format!("population {}", id.0),
            Endpoint::Input(k) => format!("input {k}"),
        };
        writeln!(f, "  projection {i} `{}`: {pre} -> population {}, {} synapses", pj.name, pj.post.0, pj.synapses)?;
    }
    Ok(())
}
