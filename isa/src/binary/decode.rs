//! The `program.bin` reader. Every count is checked by [`Reader::read_size`] against a chip or
//! format limit and against the remaining bytes before a vector is allocated; the result is
//! checked by [`Program::validate`]. Field order mirrors `encode.rs`.

use super::instr::decode_instr;
use super::reader::{Reader, Result};
use super::{section, section_of, DecodeError, DecodeErrorKind, MAGIC, SECTIONS};
use crate::chip::{ChipSpec, CoreLimits, Energy, Formats, Mesh, Mismatch, System, Timing, DEFAULT_LR_TRIM_BITS};
use crate::fixed_point::Rounding;
use crate::ids::{CoreId, PopId, ProjId, RuleId, SignalId};
use crate::learn::{Handler, LearnRule, Scope, TraceSpec, Trigger};
use crate::neuron::{Lut, NeuronConfig, NeuronKind, NeuronProfile};
use crate::program::{
    Axon, AxonMapEntry, Core, Dirs, Encoding, Endpoint, Gate, InputKind, InputSource, Meta, PatternOrder, PhaseLen,
    PopInfo, Probe, ProbeKind, Program, ProjInfo, RouteEntry, RouteTable, Schedule, Signal, Slice, StateVar, Symbols,
    SynGroup, SynKind, Synapse, FORMAT_VERSION, FORMAT_VERSION_MIN, FORMAT_VERSION_TRIM, FORMAT_VERSION_U2,
};
use crate::validate::{
    MAX_GROUPS, MAX_HANDLERS, MAX_INPUT_CHANNELS, MAX_LUTS, MAX_LUT_ENTRIES, MAX_RULES, MAX_SIGNALS,
};

/// No limit but the remaining bytes.
const ANY: u64 = u32::MAX as u64;

/// Decode a `program.bin`. Never panics; every failure is a [`DecodeError`] with the byte offset.
pub fn decode(bytes: &[u8]) -> std::result::Result<Program, DecodeError> {
    let mut r = Reader::new(bytes);
    let magic = r.bytes(MAGIC.len(), "magic")?;
    if magic != MAGIC {
        return r.error_at(0, DecodeErrorKind::BadMagic);
    }
    let at = r.offset();
    let version = r.u16("format version")?;
    if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
        return r.error_at(at, DecodeErrorKind::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    let at = r.offset();
    let count = r.u16("section count")?;
    if usize::from(count) != SECTIONS.len() {
        return r.error_at(at, DecodeErrorKind::BadSectionCount { found: count, expected: SECTIONS.len() as u16 });
    }
    let at = r.offset();
    if r.u32("file header reserved bytes")? != 0 {
        return r.error_at(at, DecodeErrorKind::Reserved { what: "file header" });
    }

    let mut starts = [0usize; SECTIONS.len()];
    let mut chip: Option<ChipSpec> = None;
    let mut p: Option<Program> = None;
    for (k, (id, name)) in SECTIONS.into_iter().enumerate() {
        starts[k] = r.offset();
        let mut s = open_section(&mut r, id, name)?;
        match (id, chip.as_ref(), p.as_mut()) {
            (section::CHIP, _, _) => {
                let c = read_chip(&mut s, version)?;
                if let Err(e) = c.validate() {
                    return s.error_at(starts[k], DecodeErrorKind::Spec(Box::new(e)));
                }
                p = Some(Program::new(c.clone(), ""));
                chip = Some(c);
            }
            (_, Some(c), Some(p)) => match id {
                section::META => p.meta = read_meta(&mut s)?,
                section::LUTS => p.luts = read_luts(&mut s)?,
                section::RULES => p.rules = read_rules(&mut s, c)?,
                section::CORES => p.cores = read_cores(&mut s, c, version)?,
                section::ROUTES => p.routes = read_routes(&mut s, c)?,
                section::INPUTS => p.inputs = read_inputs(&mut s)?,
                section::SIGNALS => p.signals = read_signals(&mut s)?,
                section::PROBES => p.probes = read_probes(&mut s)?,
                _ => p.symbols = read_symbols(&mut s)?,
            },
            // Unreachable: the chip section is first and sets both.
            _ => return s.error(DecodeErrorKind::BadSectionId { found: id, expected: section::CHIP, name: "chip" }),
        }
        s.finish(name)?;
    }
    r.finish("the file")?;
    let Some(p) = p else {
        return r.error_at(0, DecodeErrorKind::UnexpectedEof { what: "chip section" });
    };
    if let Err(e) = p.validate() {
        let sec = usize::from(section_of(&e.at));
        return r.error_at(starts.get(sec).copied().unwrap_or(0), DecodeErrorKind::Invalid(Box::new(e)));
    }
    Ok(p)
}

/// Read a section header, check id, length and CRC, and return a reader over the payload.
fn open_section<'a>(r: &mut Reader<'a>, id: u8, name: &'static str) -> Result<Reader<'a>> {
    let at = r.offset();
    let found = r.u8("section id")?;
    if found != id {
        return r.error_at(at, DecodeErrorKind::BadSectionId { found, expected: id, name });
    }
    let at = r.offset();
    if r.bytes(3, "section header")? != [0, 0, 0] {
        return r.error_at(at, DecodeErrorKind::Reserved { what: "section header" });
    }
    let at = r.offset();
    let len = r.u32("section length")?;
    let stored = r.u32("section CRC32")?;
    let remaining = r.remaining();
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > remaining {
        return r.error_at(
            at,
            DecodeErrorKind::BadSectionLength { name, len: u64::from(len), remaining: remaining as u64 },
        );
    }
    let s = r.sub(len_usize, name)?;
    let computed = crc32fast::hash(s.data());
    if computed != stored {
        return r.error_at(at + 4, DecodeErrorKind::BadCrc { name, stored, computed });
    }
    Ok(s)
}

fn read_chip(r: &mut Reader, version: u16) -> Result<ChipSpec> {
    Ok(ChipSpec {
        name: r.string("chip.name")?,
        mesh: Mesh { width: r.u16("mesh.width")?, height: r.u16("mesh.height")? },
        system: System {
            chips_x: r.u16("system.chips_x")?,
            chips_y: r.u16("system.chips_y")?,
            link_latency_cycles: r.u32("system.link_latency_cycles")?,
            link_cycles_per_spike: r.u32("system.link_cycles_per_spike")?,
            link_energy_pj: r.f64("system.link_energy_pj")?,
        },
        core: CoreLimits {
            max_neurons: r.u32("core.max_neurons")?,
            max_input_axons: r.u32("core.max_input_axons")?,
            max_output_axons: r.u32("core.max_output_axons")?,
            synapse_memory_bits: r.u64("core.synapse_memory_bits")?,
            max_route_entries: r.u32("core.max_route_entries")?,
            max_learning_instrs: r.u32("core.max_learning_instrs")?,
            max_profiles: r.u32("core.max_profiles")?,
            max_delay: r.u32("core.max_delay")?,
        },
        formats: Formats {
            weight_bits: r.u8("formats.weight_bits")?,
            weight_exp_min: r.i8("formats.weight_exp_min")?,
            weight_exp_max: r.i8("formats.weight_exp_max")?,
            current_bits: r.u8("formats.current_bits")?,
            voltage_bits: r.u8("formats.voltage_bits")?,
            decay_bits: r.u8("formats.decay_bits")?,
            trace_int_bits: r.u8("formats.trace_int_bits")?,
            trace_frac_bits: r.u8("formats.trace_frac_bits")?,
            accumulator_bits: r.u8("formats.accumulator_bits")?,
            synapse_overhead_bits: r.u8("formats.synapse_overhead_bits")?,
            payload_bits: r.u8("formats.payload_bits")?,
            tag_bits: r.u8("formats.tag_bits")?,
            learning_rate_trim_bits: if version >= FORMAT_VERSION_TRIM {
                r.u8("formats.learning_rate_trim_bits")?
            } else {
                DEFAULT_LR_TRIM_BITS
            },
        },
        timing: Timing {
            clock_hz: r.f64("timing.clock_hz")?,
            cycles_neuron_update: r.u32("timing.cycles_neuron_update")?,
            cycles_synaptic_event: r.u32("timing.cycles_synaptic_event")?,
            cycles_learning_dispatch: r.u32("timing.cycles_learning_dispatch")?,
            cycles_router_hop: r.u32("timing.cycles_router_hop")?,
            cycles_barrier: r.u32("timing.cycles_barrier")?,
        },
        energy: Energy {
            neuron_update_pj: r.f64("energy.neuron_update_pj")?,
            synaptic_event_pj: r.f64("energy.synaptic_event_pj")?,
            learning_op_pj: r.f64("energy.learning_op_pj")?,
            router_hop_pj: r.f64("energy.router_hop_pj")?,
            core_static_pj_per_step: r.f64("energy.core_static_pj_per_step")?,
        },
        mismatch: Mismatch {
            threshold_rsd: r.f64("mismatch.threshold_rsd")?,
            leak_rsd: r.f64("mismatch.leak_rsd")?,
            bias_rsd: r.f64("mismatch.bias_rsd")?,
            weight_gain_rsd: r.f64("mismatch.weight_gain_rsd")?,
            learning_rate_rsd: r.f64("mismatch.learning_rate_rsd")?,
            noise_rsd: r.f64("mismatch.noise_rsd")?,
            default_chip_seed: r.u64("mismatch.default_chip_seed")?,
        },
    })
}

fn read_meta(r: &mut Reader) -> Result<Meta> {
    Ok(Meta {
        name: r.string("meta.name")?,
        dt_ns: r.u64("meta.dt_ns")?,
        steps: r.u64("meta.steps")?,
        epoch_steps: r.u32("meta.epoch_steps")?,
        seed: r.u64("meta.seed")?,
    })
}

/// Read `n` items with `f`.
fn items<T>(r: &mut Reader, n: usize, mut f: impl FnMut(&mut Reader) -> Result<T>) -> Result<Vec<T>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(f(r)?);
    }
    Ok(v)
}

/// A count (checked by `read_size`) followed by that many items.
fn list<T>(
    r: &mut Reader,
    limit: u64,
    min_item_bytes: usize,
    what: &'static str,
    f: impl FnMut(&mut Reader) -> Result<T>,
) -> Result<Vec<T>> {
    let n = r.read_size(limit, min_item_bytes, what)?;
    items(r, n, f)
}

fn read_luts(r: &mut Reader) -> Result<Vec<Lut>> {
    list(r, MAX_LUTS as u64, 7, "luts", |r| {
        Ok(Lut {
            name: r.string("lut.name")?,
            shift: r.u8("lut.shift")?,
            entries: list(r, MAX_LUT_ENTRIES as u64, 4, "lut.entries", |r| r.i32("lut entry"))?,
        })
    })
}

fn read_trace(r: &mut Reader) -> Result<Option<TraceSpec>> {
    if !r.bool("trace present")? {
        return Ok(None);
    }
    Ok(Some(TraceSpec { decay: r.u32("trace.decay")?, impulse: r.i32("trace.impulse")? }))
}

fn read_rules(r: &mut Reader, chip: &ChipSpec) -> Result<Vec<LearnRule>> {
    let max_instrs = u64::from(chip.core.max_learning_instrs);
    list(r, MAX_RULES as u64, 19, "rules", |r| {
        Ok(LearnRule {
            name: r.string("rule.name")?,
            x: [read_trace(r)?, read_trace(r)?],
            y: [read_trace(r)?, read_trace(r)?],
            w_min: r.i32("rule.w_min")?,
            w_max: r.i32("rule.w_max")?,
            readout: r.tag("rule.readout", Rounding::from_code)?,
            handlers: list(r, MAX_HANDLERS as u64, 6, "rule.handlers", |r| {
                Ok(Handler {
                    trigger: r.tag("handler.trigger", Trigger::from_code)?,
                    scope: r.tag("handler.scope", |c| match c {
                        0 => Some(Scope::Synapse),
                        1 => Some(Scope::PostNeuron),
                        _ => None,
                    })?,
                    code: list(r, max_instrs, 8, "handler instructions", |r| {
                        let at = r.offset();
                        let word = r.u64("instruction")?;
                        decode_instr(word).or_else(|reason| r.error_at(at, DecodeErrorKind::BadInstr { word, reason }))
                    })?,
                })
            })?,
        })
    })
}

fn read_cores(r: &mut Reader, chip: &ChipSpec, version: u16) -> Result<Vec<Core>> {
    let lim = &chip.core;
    list(r, u64::from(chip.total_cores()), 32, "cores", |r| {
        let id = CoreId(r.u32("core.id")?);
        let key_base = r.u32("core.key_base")?;
        let profiles = list(r, u64::from(lim.max_profiles), 17, "core.profiles", |r| {
            Ok(NeuronProfile {
                kind: r.tag("profile.kind", NeuronKind::from_code)?,
                decay_u: r.u32("profile.decay_u")?,
                decay_v: r.u32("profile.decay_v")?,
                refractory: r.u16("profile.refractory")?,
                v_reset: r.i32("profile.v_reset")?,
                lut: if r.bool("profile.lut present")? { Some(r.u16("profile.lut")?) } else { None },
                noisy: r.bool("profile.noisy")?,
                decay_u2: if version >= FORMAT_VERSION_U2 && r.bool("profile.decay_u2 present")? {
                    Some(r.u32("profile.decay_u2")?)
                } else {
                    None
                },
            })
        })?;
        let neurons = list(r, u64::from(lim.max_neurons), 13, "core.neurons", |r| {
            Ok(NeuronConfig {
                profile: r.u8("neuron.profile")?,
                bias: r.i32("neuron.bias")?,
                v_th: r.i32("neuron.v_th")?,
                v_init: r.i32("neuron.v_init")?,
            })
        })?;
        let groups = list(r, MAX_GROUPS as u64, 7, "core.groups", |r| {
            Ok(SynGroup {
                weight_exp: r.i8("group.weight_exp")?,
                kind: r.tag("group.kind", |c| match c {
                    0 => Some(SynKind::Current),
                    1 => Some(SynKind::Clamp),
                    _ => None,
                })?,
                current: if version >= FORMAT_VERSION_U2 { r.u8("group.current")? } else { 0 },
                rule: if r.bool("group.rule present")? { Some(RuleId(r.u16("group.rule")?)) } else { None },
                proj: ProjId(r.u32("group.proj")?),
            })
        })?;
        let axon_map = list(r, u64::from(lim.max_input_axons), 12, "core.axon_map", |r| {
            Ok(AxonMapEntry {
                key_base: r.u32("axon_map.key_base")?,
                count: r.u32("axon_map.count")?,
                axon_base: r.u32("axon_map.axon_base")?,
            })
        })?;
        let axons = list(r, u64::from(lim.max_input_axons), 8, "core.axons", |r| {
            Ok(Axon { first: r.u32("axon.first")?, count: r.u32("axon.count")? })
        })?;
        let synapses = list(r, chip.max_synapses_per_core(), 11, "core.synapses", |r| {
            Ok(Synapse {
                target: r.u32("synapse.target")?,
                acc: r.i32("synapse.acc")?,
                delay: r.u8("synapse.delay")?,
                group: r.u16("synapse.group")?,
            })
        })?;
        let lr_trim = if version >= FORMAT_VERSION_TRIM {
            list(r, chip.max_synapses_per_core(), 1, "core.lr_trim", |r| r.i8("synapse lr_trim"))?
        } else {
            Vec::new()
        };
        Ok(Core { id, profiles, neurons, key_base, groups, axon_map, axons, synapses, lr_trim })
    })
}

fn read_routes(r: &mut Reader, chip: &ChipSpec) -> Result<Vec<RouteTable>> {
    list(r, u64::from(chip.total_cores()), 8, "routes", |r| {
        Ok(RouteTable {
            core: CoreId(r.u32("route.core")?),
            entries: list(r, u64::from(chip.core.max_route_entries), 9, "route.entries", |r| {
                Ok(RouteEntry { key: r.u32("route.key")?, mask: r.u32("route.mask")?, dirs: Dirs(r.u8("route.dirs")?) })
            })?,
        })
    })
}

fn read_inputs(r: &mut Reader) -> Result<Vec<InputSource>> {
    list(r, ANY, 20, "inputs", |r| {
        let name = r.string("input.name")?;
        let channels = r.u32("input.channels")?;
        let key_base = r.u32("input.key_base")?;
        let inject_core = CoreId(r.u32("input.inject_core")?);
        let gate = if r.bool("input.gate present")? {
            Some(Gate { signal: SignalId(r.u8("gate.signal")?), value: r.i32("gate.value")? })
        } else {
            None
        };
        let chans = u64::from(MAX_INPUT_CHANNELS);
        let kind = match r.tag("input.kind", |c| (c <= 2).then_some(c))? {
            0 => InputKind::Poisson { p_q32: list(r, chans, 4, "poisson rates", |r| r.u32("poisson rate"))? },
            1 => InputKind::SpikeTimes {
                events: list(r, ANY, 12, "spike events", |r| Ok((r.u64("event step")?, r.u32("event channel")?)))?,
            },
            _ => {
                let present_steps = r.u32("patterns.present_steps")?;
                let order = r.tag("patterns.order", |c| match c {
                    0 => Some(PatternOrder::Sequential),
                    1 => Some(PatternOrder::Random),
                    _ => None,
                })?;
                let encoding = r.tag("patterns.encoding", |c| match c {
                    0 => Some(Encoding::Rate),
                    1 => Some(Encoding::Graded),
                    2 => Some(Encoding::Clamp),
                    _ => None,
                })?;
                let rows =
                    list(r, ANY, 4, "pattern rows", |r| list(r, chans, 4, "pattern row", |r| r.i32("pattern value")))?;
                InputKind::Patterns { rows, present_steps, order, encoding }
            }
        };
        Ok(InputSource { name, channels, key_base, inject_core, kind, gate })
    })
}

fn read_signals(r: &mut Reader) -> Result<Vec<Signal>> {
    list(r, MAX_SIGNALS as u64, 9, "signals", |r| {
        let id = SignalId(r.u8("signal.id")?);
        let name = r.string("signal.name")?;
        let bits = r.u8("signal.bits")?;
        let schedule = match r.tag("signal.schedule", |c| (c <= 3).then_some(c))? {
            0 => Schedule::Constant(r.i32("schedule value")?),
            1 => Schedule::Cycle {
                period: r.u32("schedule.period")?,
                values: list(r, ANY, 4, "schedule values", |r| r.i32("schedule value"))?,
            },
            2 => {
                let len = match r.tag("schedule.len", |c| (c <= 1).then_some(c))? {
                    0 => PhaseLen::Fixed(r.u32("schedule.len")?),
                    _ => PhaseLen::Geometric { p_end_q32: r.u32("schedule.p_end_q32")? },
                };
                Schedule::Random {
                    len,
                    p_one_q32: r.u32("schedule.p_one_q32")?,
                    value_one: r.i32("schedule.value_one")?,
                    value_zero: r.i32("schedule.value_zero")?,
                }
            }
            _ => Schedule::List(list(r, ANY, 12, "schedule changes", |r| {
                Ok((r.u64("change step")?, r.i32("change value")?))
            })?),
        };
        Ok(Signal { id, name, bits, schedule })
    })
}

fn state_var(c: u8) -> Option<StateVar> {
    Some(match c {
        0 => StateVar::V,
        1 => StateVar::U,
        2 => StateVar::Y,
        3 => StateVar::Trace0,
        4 => StateVar::Trace1,
        _ => return None,
    })
}

fn read_probes(r: &mut Reader) -> Result<Vec<Probe>> {
    list(r, ANY, 8, "probes", |r| {
        let name = r.string("probe.name")?;
        let every = r.u32("probe.every")?;
        let kind = match r.tag("probe.kind", |c| (c <= 3).then_some(c))? {
            0 => ProbeKind::Spikes { pop: PopId(r.u32("probe.pop")?) },
            1 => ProbeKind::State { pop: PopId(r.u32("probe.pop")?), var: r.tag("probe.var", state_var)? },
            2 => ProbeKind::Weights { proj: ProjId(r.u32("probe.proj")?) },
            _ => ProbeKind::Signal { signal: SignalId(r.u8("probe.signal")?) },
        };
        Ok(Probe { name, kind, every })
    })
}

fn read_symbols(r: &mut Reader) -> Result<Symbols> {
    let populations = list(r, ANY, 11, "populations", |r| {
        Ok(PopInfo {
            name: r.string("population.name")?,
            kind: r.tag("population.kind", NeuronKind::from_code)?,
            size: r.u32("population.size")?,
            slices: list(r, ANY, 16, "population.slices", |r| {
                Ok(Slice {
                    core: CoreId(r.u32("slice.core")?),
                    first: r.u32("slice.first")?,
                    len: r.u32("slice.len")?,
                    offset: r.u32("slice.offset")?,
                })
            })?,
        })
    })?;
    let projections = list(r, ANY, 19, "projections", |r| {
        Ok(ProjInfo {
            name: r.string("projection.name")?,
            pre: match r.tag("projection.pre", |c| (c <= 1).then_some(c))? {
                0 => Endpoint::Pop(PopId(r.u32("projection.pre")?)),
                _ => Endpoint::Input(r.u32("projection.pre")?),
            },
            post: PopId(r.u32("projection.post")?),
            synapses: r.u64("projection.synapses")?,
        })
    })?;
    Ok(Symbols { populations, projections })
}
