//! [`Program::validate`]: every structural invariant of a [`Program`] and every limit of the chip
//! it was compiled for. The compiler runs it before writing `program.bin`, the decoder runs it
//! after reading one, the emulator may rely on everything checked here.
//!
//! A [`ValidationError`] says where ([`Where`]: core, item and index) and what ([`ValidationErrorKind`]:
//! the field, its value and the limit or range it breaks).

use crate::chip::{ChipSpec, SpecError};
use crate::fixed_point::{smax, smin, trace_max};
use crate::learn::{LearnRule, TraceSpec};
use crate::neuron::NeuronKind;
use crate::program::{
    Core, Encoding, Endpoint, InputKind, PhaseLen, Probe, ProbeKind, Program, Schedule, Signal, SynKind,
};
use std::collections::HashSet;

/// Longest name (program, LUT, rule, input, signal, probe, population, projection), in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Most entries of one lookup table.
pub const MAX_LUT_ENTRIES: usize = 4096;
/// Largest LUT index shift.
pub const MAX_LUT_SHIFT: u8 = 31;
/// Most handlers of one learning rule.
pub const MAX_HANDLERS: usize = 16;
/// Most broadcast signals (`ld` reads them as `sig0..sig7`).
pub const MAX_SIGNALS: usize = 8;
/// Widest broadcast signal, in bits.
pub const MAX_SIGNAL_BITS: u8 = 16;
/// Most channels of one input source.
pub const MAX_INPUT_CHANNELS: u32 = 1 << 24;
/// Most synapse groups of one core (a synapse names its group with 16 bits).
pub const MAX_GROUPS: usize = 1 << 16;
/// Most learning rules of a program (rule ids are 16 bits).
pub const MAX_RULES: usize = 1 << 16;
/// Most LUTs of a program (profiles name a LUT with 16 bits).
pub const MAX_LUTS: usize = 1 << 16;

/// Where in a program a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Where {
    /// The chip spec.
    Chip,
    /// Program-wide settings.
    Meta,
    /// LUT `i` of [`Program::luts`].
    Lut(usize),
    /// Rule `i` of [`Program::rules`].
    Rule(usize),
    /// The core list itself (order, count).
    Cores,
    /// Core with this id, as a whole.
    Core(u32),
    /// Item `index` of a list (`"profile"`, `"neuron"`, `"group"`, `"axon map entry"`, `"axon"`,
    /// `"synapse"`) of the core with id `core`.
    CoreItem { core: u32, item: &'static str, index: usize },
    /// The routing table list itself (order, count).
    Routes,
    /// Entry `index` of the routing table of core `core` (`index` is `None` for the table as a whole).
    Route { core: u32, index: Option<usize> },
    /// Input source `i`.
    Input(usize),
    /// Signal `i` of [`Program::signals`] (by position, not by id).
    Signal(usize),
    /// Probe `i`.
    Probe(usize),
    /// Population `i` of the symbol table.
    Population(usize),
    /// Projection `i` of the symbol table.
    Projection(usize),
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::Chip => write!(f, "chip spec"),
            Where::Meta => write!(f, "meta"),
            Where::Lut(i) => write!(f, "lut {i}"),
            Where::Rule(i) => write!(f, "rule {i}"),
            Where::Cores => write!(f, "core list"),
            Where::Core(c) => write!(f, "core {c}"),
            Where::CoreItem { core, item, index } => write!(f, "core {core}, {item} {index}"),
            Where::Routes => write!(f, "routing tables"),
            Where::Route { core, index: None } => write!(f, "routing table of core {core}"),
            Where::Route { core, index: Some(i) } => write!(f, "routing table of core {core}, entry {i}"),
            Where::Input(i) => write!(f, "input {i}"),
            Where::Signal(i) => write!(f, "signal {i}"),
            Where::Probe(i) => write!(f, "probe {i}"),
            Where::Population(i) => write!(f, "population {i}"),
            Where::Projection(i) => write!(f, "projection {i}"),
        }
    }
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValidationErrorKind {
    /// A count exceeds a chip or format limit.
    #[error("{what}: {count} exceeds the limit {limit} ({limit_name})")]
    Limit { what: &'static str, count: u64, limit: u64, limit_name: &'static str },
    /// A value is outside its allowed range.
    #[error("`{field}` = {value} is out of range [{lo}, {hi}]")]
    Range { field: &'static str, value: i64, lo: i64, hi: i64 },
    /// An index does not name an existing item.
    #[error("`{field}` = {value} does not name one of the {len} {what}")]
    Index { field: &'static str, value: u64, len: u64, what: &'static str },
    /// Any other broken invariant (order, overlap, consistency), described in words.
    #[error("{0}")]
    Structure(String),
    /// The chip spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// A broken invariant or chip limit: where, and what.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct ValidationError {
    pub at: Where,
    pub kind: ValidationErrorKind,
}

type Res = Result<(), ValidationError>;

fn err(at: Where, kind: ValidationErrorKind) -> Res {
    Err(ValidationError { at, kind })
}

fn limit(at: &Where, what: &'static str, count: usize, lim: u64, limit_name: &'static str) -> Res {
    let count = count as u64;
    if count > lim {
        return err(at.clone(), ValidationErrorKind::Limit { what, count, limit: lim, limit_name });
    }
    Ok(())
}

fn range(at: &Where, field: &'static str, value: i64, lo: i64, hi: i64) -> Res {
    if value < lo || value > hi {
        return err(at.clone(), ValidationErrorKind::Range { field, value, lo, hi });
    }
    Ok(())
}

fn index(at: &Where, field: &'static str, value: u64, len: usize, what: &'static str) -> Res {
    if value >= len as u64 {
        return err(at.clone(), ValidationErrorKind::Index { field, value, len: len as u64, what });
    }
    Ok(())
}

fn structure(at: &Where, msg: String) -> Res {
    err(at.clone(), ValidationErrorKind::Structure(msg))
}

fn name(at: &Where, field: &'static str, s: &str) -> Res {
    limit(at, field, s.len(), MAX_NAME_BYTES as u64, "MAX_NAME_BYTES")
}

fn u64_as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The range of a signal value of `bits` bits: sign + `bits` magnitude, `-(2^bits - 1) ..= 2^bits - 1`.
pub fn signal_value_range(bits: u8) -> (i64, i64) {
    let m = (1i64 << bits.min(31)) - 1;
    (-m, m)
}

impl Program {
    /// Check every structural invariant and every chip limit; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate(self)
    }
}

/// See [`Program::validate`].
pub fn validate(p: &Program) -> Result<(), ValidationError> {
    p.chip.validate().map_err(|e| ValidationError { at: Where::Chip, kind: e.into() })?;
    let chip = &p.chip;
    let meta = Where::Meta;
    name(&meta, "name", &p.meta.name)?;
    range(&meta, "dt_ns", u64_as_i64(p.meta.dt_ns), 1, i64::MAX)?;

    limit(&Where::Meta, "luts", p.luts.len(), MAX_LUTS as u64, "MAX_LUTS")?;
    for (i, lut) in p.luts.iter().enumerate() {
        let at = Where::Lut(i);
        name(&at, "name", &lut.name)?;
        range(&at, "entries.len()", lut.entries.len() as i64, 1, MAX_LUT_ENTRIES as i64)?;
        range(&at, "shift", i64::from(lut.shift), 0, i64::from(MAX_LUT_SHIFT))?;
    }

    limit(&Where::Meta, "rules", p.rules.len(), MAX_RULES as u64, "MAX_RULES")?;
    for (i, rule) in p.rules.iter().enumerate() {
        validate_rule(chip, &Where::Rule(i), rule)?;
    }

    validate_signals(p)?;

    let cores = Where::Cores;
    limit(&cores, "cores", p.cores.len(), u64::from(chip.total_cores()), "total_cores")?;
    for (i, core) in p.cores.iter().enumerate() {
        index(&Where::Core(core.id.0), "id", u64::from(core.id.0), chip.total_cores() as usize, "cores of the system")?;
        if i > 0 && p.cores[i - 1].id >= core.id {
            return structure(
                &cores,
                format!("core ids not strictly increasing: {} then {}", p.cores[i - 1].id.0, core.id.0),
            );
        }
        validate_core(p, core)?;
    }

    validate_routes(p)?;
    validate_inputs(p)?;
    for (i, probe) in p.probes.iter().enumerate() {
        validate_probe(p, &Where::Probe(i), probe)?;
    }
    validate_symbols(p)?;
    Ok(())
}

fn validate_trace(chip: &ChipSpec, at: &Where, t: &Option<TraceSpec>) -> Res {
    if let Some(t) = t {
        let f = &chip.formats;
        range(at, "trace.decay", i64::from(t.decay), 0, 1i64 << f.decay_bits)?;
        let m = i64::from(trace_max(f.trace_int_bits, f.trace_frac_bits));
        range(at, "trace.impulse", i64::from(t.impulse), -m, m)?;
    }
    Ok(())
}

fn validate_rule(chip: &ChipSpec, at: &Where, rule: &LearnRule) -> Res {
    name(at, "name", &rule.name)?;
    for t in rule.x.iter().chain(rule.y.iter()) {
        validate_trace(chip, at, t)?;
    }
    limit(at, "handlers", rule.handlers.len(), MAX_HANDLERS as u64, "MAX_HANDLERS")?;
    limit(at, "instructions", rule.instr_count(), u64::from(chip.core.max_learning_instrs), "max_learning_instrs")?;
    let acc = chip.formats.accumulator_bits;
    range(at, "w_min", i64::from(rule.w_min), smin(acc), smax(acc))?;
    range(at, "w_max", i64::from(rule.w_max), smin(acc), smax(acc))?;
    rule.validate().or_else(|msg| structure(at, msg))
}

fn validate_signals(p: &Program) -> Res {
    limit(&Where::Meta, "signals", p.signals.len(), MAX_SIGNALS as u64, "MAX_SIGNALS")?;
    let mut seen = HashSet::new();
    for (i, s) in p.signals.iter().enumerate() {
        let at = Where::Signal(i);
        validate_signal(&at, s)?;
        if !seen.insert(s.id) {
            return structure(&at, format!("duplicate signal id {}", s.id.0));
        }
    }
    Ok(())
}

fn validate_signal(at: &Where, s: &Signal) -> Res {
    name(at, "name", &s.name)?;
    range(at, "id", i64::from(s.id.0), 0, MAX_SIGNALS as i64 - 1)?;
    range(at, "bits", i64::from(s.bits), 1, i64::from(MAX_SIGNAL_BITS))?;
    let (lo, hi) = signal_value_range(s.bits);
    let value = |v: i32| range(at, "value", i64::from(v), lo, hi);
    match &s.schedule {
        Schedule::Constant(v) => value(*v)?,
        Schedule::Cycle { period, values } => {
            range(at, "period", i64::from(*period), 1, i64::from(u32::MAX))?;
            range(at, "values.len()", values.len() as i64, 1, i64::from(u32::MAX))?;
            values.iter().try_for_each(|v| value(*v))?;
        }
        Schedule::Random { len, p_one_q32: _, value_one, value_zero } => {
            match len {
                PhaseLen::Fixed(n) => range(at, "len", i64::from(*n), 1, i64::from(u32::MAX))?,
                PhaseLen::Geometric { p_end_q32 } => {
                    range(at, "p_end_q32", i64::from(*p_end_q32), 1, i64::from(u32::MAX))?
                }
            }
            value(*value_one)?;
            value(*value_zero)?;
        }
        Schedule::List(changes) => {
            for (k, (step, v)) in changes.iter().enumerate() {
                value(*v)?;
                if k > 0 && changes[k - 1].0 >= *step {
                    return structure(
                        at,
                        format!("schedule steps not strictly increasing at change {k} (step {step})"),
                    );
                }
            }
        }
    }
    Ok(())
}

fn validate_core(p: &Program, core: &Core) -> Res {
    let chip = &p.chip;
    let lim = &chip.core;
    let f = &chip.formats;
    let cid = core.id.0;
    let whole = Where::Core(cid);
    let item = |item: &'static str, index: usize| Where::CoreItem { core: cid, item, index };

    limit(&whole, "neurons", core.neurons.len(), u64::from(lim.max_neurons), "max_neurons")?;
    limit(&whole, "neurons (output axons)", core.neurons.len(), u64::from(lim.max_output_axons), "max_output_axons")?;
    limit(&whole, "profiles", core.profiles.len(), u64::from(lim.max_profiles), "max_profiles")?;
    limit(&whole, "groups", core.groups.len(), MAX_GROUPS as u64, "MAX_GROUPS")?;
    limit(&whole, "input axons", core.axons.len(), u64::from(lim.max_input_axons), "max_input_axons")?;
    limit(&whole, "axon map entries", core.axon_map.len(), u64::from(lim.max_input_axons), "max_input_axons")?;
    let syn_limit = chip.max_synapses_per_core();
    if core.synapses.len() as u64 > syn_limit {
        let bits = (core.synapses.len() as u64).saturating_mul(chip.synapse_bits());
        return err(
            whole,
            ValidationErrorKind::Limit {
                what: "synapse memory bits",
                count: bits,
                limit: lim.synapse_memory_bits,
                limit_name: "synapse_memory_bits",
            },
        );
    }
    let key_end = u64::from(core.key_base) + core.neurons.len() as u64;
    if key_end > 1 << 32 {
        return structure(
            &whole,
            format!("neuron keys key_base {} + {} neurons overflow 32 bits", core.key_base, core.neurons.len()),
        );
    }

    let (vlo, vhi) = (smin(f.voltage_bits), smax(f.voltage_bits));
    let dmax = 1i64 << f.decay_bits;
    for (i, pr) in core.profiles.iter().enumerate() {
        let at = item("profile", i);
        range(&at, "decay_u", i64::from(pr.decay_u), 0, dmax)?;
        range(&at, "decay_v", i64::from(pr.decay_v), 0, dmax)?;
        if let Some(d) = pr.decay_u2 {
            range(&at, "decay_u2", i64::from(d), 0, dmax)?;
            if pr.kind != NeuronKind::Lif {
                return structure(&at, "only a LIF profile can have a second synaptic current (decay_u2)".into());
            }
        }
        range(&at, "v_reset", i64::from(pr.v_reset), vlo, vhi)?;
        match pr.lut {
            Some(l) => index(&at, "lut", u64::from(l), p.luts.len(), "luts")?,
            None if pr.kind == NeuronKind::Stochastic => {
                return structure(&at, "a stochastic profile needs a firing-probability LUT".into())
            }
            None => {}
        }
    }
    for (i, n) in core.neurons.iter().enumerate() {
        let at = item("neuron", i);
        index(&at, "profile", u64::from(n.profile), core.profiles.len(), "profiles of the core")?;
        range(&at, "bias", i64::from(n.bias), vlo, vhi)?;
        range(&at, "v_th", i64::from(n.v_th), vlo, vhi)?;
        range(&at, "v_init", i64::from(n.v_init), vlo, vhi)?;
    }

    let mut rules_used = Vec::new();
    for (i, g) in core.groups.iter().enumerate() {
        let at = item("group", i);
        range(&at, "weight_exp", i64::from(g.weight_exp), i64::from(f.weight_exp_min), i64::from(f.weight_exp_max))?;
        range(&at, "current", i64::from(g.current), 0, 1)?;
        if g.current != 0 && g.kind != SynKind::Current {
            return structure(&at, "a clamp group cannot feed the second current".into());
        }
        if let Some(r) = g.rule {
            index(&at, "rule", u64::from(r.0), p.rules.len(), "rules")?;
            if !rules_used.contains(&r) {
                rules_used.push(r);
            }
        }
        index(&at, "proj", u64::from(g.proj.0), p.symbols.projections.len(), "projections")?;
    }
    let instrs: usize = rules_used.iter().map(|r| p.rules[r.index()].instr_count()).sum();
    limit(
        &whole,
        "learning instructions of the rules used",
        instrs,
        u64::from(lim.max_learning_instrs),
        "max_learning_instrs",
    )?;

    // Axon map: entries within the axons, key ranges non-overlapping.
    let mut ranges = Vec::with_capacity(core.axon_map.len());
    for (i, e) in core.axon_map.iter().enumerate() {
        let at = item("axon map entry", i);
        range(&at, "count", i64::from(e.count), 1, i64::from(u32::MAX))?;
        let axon_end = u64::from(e.axon_base) + u64::from(e.count);
        if axon_end > core.axons.len() as u64 {
            return structure(
                &at,
                format!("axons {}..{} beyond the core's {} axons", e.axon_base, axon_end, core.axons.len()),
            );
        }
        let key_end = u64::from(e.key_base) + u64::from(e.count);
        if key_end > 1 << 32 {
            return structure(&at, format!("keys {}+{} overflow 32 bits", e.key_base, e.count));
        }
        ranges.push((u64::from(e.key_base), key_end, i));
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        if w[1].0 < w[0].1 {
            return structure(
                &item("axon map entry", w[1].2),
                format!("keys {}..{} overlap those of entry {} ({}..{})", w[1].0, w[1].1, w[0].2, w[0].0, w[0].1),
            );
        }
    }

    // Axons tile the synapses contiguously, in order.
    let mut next = 0u64;
    for (i, a) in core.axons.iter().enumerate() {
        if u64::from(a.first) != next {
            return structure(
                &item("axon", i),
                format!("first synapse {} should be {next} (axons tile the synapses in order)", a.first),
            );
        }
        next += u64::from(a.count);
    }
    if next != core.synapses.len() as u64 {
        return structure(&whole, format!("axons cover {next} synapses but the core has {}", core.synapses.len()));
    }

    if !core.lr_trim.is_empty() {
        if core.lr_trim.len() != core.synapses.len() {
            return structure(
                &whole,
                format!(
                    "{} learning-rate trim codes for {} synapses (0 or one per synapse)",
                    core.lr_trim.len(),
                    core.synapses.len()
                ),
            );
        }
        let (tlo, thi) = crate::fixed_point::lr_trim_range(f.learning_rate_trim_bits);
        for (i, &t) in core.lr_trim.iter().enumerate() {
            range(&item("synapse", i), "lr_trim", i64::from(t), i64::from(tlo), i64::from(thi))?;
        }
    }
    let (alo, ahi) = (smin(f.accumulator_bits), smax(f.accumulator_bits));
    for (i, s) in core.synapses.iter().enumerate() {
        let at = item("synapse", i);
        index(&at, "target", u64::from(s.target), core.neurons.len(), "neurons of the core")?;
        range(&at, "delay", i64::from(s.delay), 1, i64::from(lim.max_delay))?;
        range(&at, "acc", i64::from(s.acc), alo, ahi)?;
        index(&at, "group", u64::from(s.group), core.groups.len(), "groups of the core")?;
        let g = &core.groups[usize::from(s.group)];
        if g.kind == SynKind::Clamp {
            let n = &core.neurons[s.target as usize];
            if core.profiles[usize::from(n.profile)].kind != NeuronKind::Stochastic {
                return structure(&at, format!("clamp synapse targets neuron {} which is not stochastic", s.target));
            }
        }
        if g.current != 0 {
            let n = &core.neurons[s.target as usize];
            if core.profiles[usize::from(n.profile)].decay_u2.is_none() {
                return structure(
                    &at,
                    format!(
                        "synapse of group {} feeds the second current of neuron {}, whose profile {} has none \
                         (no decay_u2)",
                        s.group, s.target, n.profile
                    ),
                );
            }
        }
    }
    Ok(())
}

fn validate_routes(p: &Program) -> Res {
    let chip = &p.chip;
    limit(&Where::Routes, "routing tables", p.routes.len(), u64::from(chip.total_cores()), "total_cores")?;
    for (i, t) in p.routes.iter().enumerate() {
        let at = Where::Route { core: t.core.0, index: None };
        index(&at, "core", u64::from(t.core.0), chip.total_cores() as usize, "cores of the system")?;
        if i > 0 && p.routes[i - 1].core >= t.core {
            return structure(
                &Where::Routes,
                format!("route tables not sorted by core: {} then {}", p.routes[i - 1].core.0, t.core.0),
            );
        }
        limit(&at, "entries", t.entries.len(), u64::from(chip.core.max_route_entries), "max_route_entries")?;
        for (k, e) in t.entries.iter().enumerate() {
            let at = Where::Route { core: t.core.0, index: Some(k) };
            range(&at, "dirs", i64::from(e.dirs.0), 0, i64::from(crate::program::Dirs::ALL_BITS))?;
            if e.key & !e.mask != 0 {
                return structure(
                    &at,
                    format!("key {:#x} has bits outside mask {:#x} (it can never match)", e.key, e.mask),
                );
            }
        }
    }
    Ok(())
}

fn signal_bits(p: &Program, id: crate::ids::SignalId) -> Option<u8> {
    p.signals.iter().find(|s| s.id == id).map(|s| s.bits)
}

fn validate_inputs(p: &Program) -> Res {
    for (i, inp) in p.inputs.iter().enumerate() {
        let at = Where::Input(i);
        name(&at, "name", &inp.name)?;
        range(&at, "channels", i64::from(inp.channels), 1, i64::from(MAX_INPUT_CHANNELS))?;
        if u64::from(inp.key_base) + u64::from(inp.channels) > 1 << 32 {
            return structure(&at, format!("keys {}+{} overflow 32 bits", inp.key_base, inp.channels));
        }
        index(&at, "inject_core", u64::from(inp.inject_core.0), p.chip.total_cores() as usize, "cores of the system")?;
        if let Some(g) = inp.gate {
            let Some(bits) = signal_bits(p, g.signal) else {
                return structure(&at, format!("gate signal {} does not exist", g.signal.0));
            };
            let (lo, hi) = signal_value_range(bits);
            range(&at, "gate.value", i64::from(g.value), lo, hi)?;
        }
        let ch = inp.channels as usize;
        match &inp.kind {
            InputKind::Poisson { p_q32 } => {
                if p_q32.len() != ch {
                    return structure(&at, format!("{} Poisson rates for {ch} channels", p_q32.len()));
                }
            }
            InputKind::SpikeTimes { events } => {
                for (k, &(step, c)) in events.iter().enumerate() {
                    index(&at, "event channel", u64::from(c), ch, "channels")?;
                    if k > 0 && events[k - 1].0 > step {
                        return structure(&at, format!("spike events not sorted by step at event {k}"));
                    }
                }
            }
            InputKind::Patterns { rows, present_steps, order: _, encoding } => {
                range(&at, "present_steps", i64::from(*present_steps), 1, i64::from(u32::MAX))?;
                range(&at, "rows.len()", rows.len() as i64, 1, i64::from(u32::MAX))?;
                for (k, row) in rows.iter().enumerate() {
                    if row.len() != ch {
                        return structure(&at, format!("pattern row {k} has {} values for {ch} channels", row.len()));
                    }
                    if *encoding == Encoding::Clamp {
                        for v in row {
                            range(&at, "clamp value", i64::from(*v), 0, 1)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn validate_probe(p: &Program, at: &Where, probe: &Probe) -> Res {
    name(at, "name", &probe.name)?;
    range(at, "every", i64::from(probe.every), 1, i64::from(u32::MAX))?;
    let pops = p.symbols.populations.len();
    let projs = p.symbols.projections.len();
    match probe.kind {
        ProbeKind::Spikes { pop } | ProbeKind::State { pop, .. } => {
            index(at, "pop", u64::from(pop.0), pops, "populations")
        }
        ProbeKind::Weights { proj } => index(at, "proj", u64::from(proj.0), projs, "projections"),
        ProbeKind::Signal { signal } => match signal_bits(p, signal) {
            Some(_) => Ok(()),
            None => structure(at, format!("signal {} does not exist", signal.0)),
        },
    }
}

fn validate_symbols(p: &Program) -> Res {
    let pops = p.symbols.populations.len();
    for (i, pop) in p.symbols.populations.iter().enumerate() {
        let at = Where::Population(i);
        name(&at, "name", &pop.name)?;
        for s in &pop.slices {
            let Ok(ci) = p.cores.binary_search_by_key(&s.core, |c| c.id) else {
                return structure(&at, format!("slice on core {} which the program does not use", s.core.0));
            };
            let n = p.cores[ci].neurons.len() as u64;
            if u64::from(s.first) + u64::from(s.len) > n {
                return structure(
                    &at,
                    format!("slice {}+{} beyond the {n} neurons of core {}", s.first, s.len, s.core.0),
                );
            }
            if u64::from(s.offset) + u64::from(s.len) > u64::from(pop.size) {
                return structure(
                    &at,
                    format!("slice offset {}+{} beyond the population size {}", s.offset, s.len, pop.size),
                );
            }
        }
    }
    for (i, proj) in p.symbols.projections.iter().enumerate() {
        let at = Where::Projection(i);
        name(&at, "name", &proj.name)?;
        match proj.pre {
            Endpoint::Pop(pop) => index(&at, "pre", u64::from(pop.0), pops, "populations")?,
            Endpoint::Input(k) => index(&at, "pre", u64::from(k), p.inputs.len(), "inputs")?,
        }
        index(&at, "post", u64::from(proj.post.0), pops, "populations")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_program_is_valid() {
        for name in crate::chip::PROFILE_NAMES {
            let p = Program::new(ChipSpec::profile(name).expect("profile"), "empty");
            p.validate().expect("valid");
        }
    }

    #[test]
    fn zero_dt_is_refused_with_field_name() {
        let mut p = Program::new(ChipSpec::small_profile(), "x");
        p.meta.dt_ns = 0;
        let e = p.validate().unwrap_err();
        assert_eq!(e.at, Where::Meta);
        assert!(e.to_string().contains("dt_ns"), "{e}");
    }
}
