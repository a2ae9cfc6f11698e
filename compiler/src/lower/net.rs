//! Lowering of the front end's checked [`Model`] into the back end's graph IR: neuron parameters
//! to ideal per-step quantities, connectivity and initial weights expanded into CSR, inputs,
//! signals and recordings; learning rules are lowered with provisional scales here and again
//! with the final quantization scales by the `lower_rules` pass.
//!
//! Payload convention: a spike carries payload 1; a stochastic unit's state change ±1; a graded
//! neuron or graded input carries its value times its *payload scale* `P` (an integer chip
//! quantity per unit). Weights from a source with payload scale `P` are divided by `P` in the IR,
//! so that the chip's `w · payload · 2^exp` equals the intended `w · value` in voltage units.

use crate::front::model::{
    self, Activation, Connectivity as MConn, Endpoint as MEndpoint, Model, Neuron, RecordKind, WeightInit,
};
use crate::ir::{
    self, CompileError, Connectivity, Endpoint, InputId, InputKind, InputSource, Ir, NeuronParams, Param, Plasticity,
    PopId, Population, Probe, ProbeKind, Syn,
};
use crate::lower::rule::{lower_rule, RuleScales};
use nm_isa::ids::SignalId;
use nm_isa::neuron::{Lut, NeuronKind};
use nm_isa::program::{self as isa_prog, Encoding, Gate, PatternOrder};
use nm_isa::rng::splitmix64;

/// Chip voltage units per unit of a stochastic or graded population's voltage (fixed, so that
/// activation and firing-probability tables can be built before quantization).
pub const TABLE_VSCALE: f64 = 4096.0;
/// Entries of an activation or firing-probability table.
pub const TABLE_LEN: usize = 4096;
/// Index shift of those tables: 16 voltage units per entry, covering `[-8, 8)` units.
pub const TABLE_SHIFT: u8 = 4;

/// What the `lower_rules` pass needs to lower a plastic projection's rule with its final scales.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSource {
    pub rule: model::Rule,
    /// Payload scale of the pre-synaptic side.
    pub pre_payload: f64,
    /// User weight units per IR weight unit (the pre payload scale over the post population's
    /// current factor).
    pub w_factor: f64,
    /// Payload scale of the post-synaptic population's output.
    pub post_payload: f64,
    /// Real range of the pre-synaptic payload (`pre.value`).
    pub pre_range: (f64, f64),
    /// Real range of the post population's output (`post.value`).
    pub post_range: (f64, f64),
    /// Widths of the program's signals, by index.
    pub signal_bits: Vec<u8>,
}

/// Payload scale of a population's output: the largest power of two that keeps the output range
/// within a quarter of the payload register (graded), else 1.
fn payload_scale(neuron: &Neuron, payload_bits: u8) -> f64 {
    match neuron {
        Neuron::Rate { out_range, .. } => {
            let m = out_range.0.abs().max(out_range.1.abs()).max(1e-9);
            2f64.powi((2f64.powi(i32::from(payload_bits) - 2) / m).log2().floor() as i32)
        }
        _ => 1.0,
    }
}

/// Real range of a population's output (its payload and `post.value`): a rate population's
/// output range; spikes and stochastic states are 0 or 1.
fn output_range(neuron: &Neuron) -> (f64, f64) {
    match neuron {
        Neuron::Rate { out_range, .. } => (out_range.0.min(0.0), out_range.1.max(0.0)),
        _ => (0.0, 1.0),
    }
}

/// Real range of `values` together with 0 (a silent step).
fn value_range<'a>(values: impl Iterator<Item = &'a f64>, scale: f64) -> (f64, f64) {
    values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v * scale), hi.max(v * scale)))
}

/// Index shift of a graded population's activation table: the table must cover inputs up to
/// `R = max(8, largest output)` units.
fn rate_table_shift(out_range: (f64, f64)) -> u8 {
    let r = out_range.0.abs().max(out_range.1.abs()).max(8.0);
    let per_entry = 2.0 * r * TABLE_VSCALE / TABLE_LEN as f64;
    per_entry.log2().ceil().clamp(0.0, 16.0) as u8
}

/// Payload scale of a graded or current input whose values are bounded by `vmax`.
fn input_payload_scale(vmax: f64, payload_bits: u8) -> f64 {
    let top = 2f64.powi(i32::from(payload_bits) - 2);
    if vmax <= 0.0 {
        return top;
    }
    2f64.powi((top / vmax).log2().floor() as i32)
}

fn table(name: &str, shift: u8, f: impl Fn(f64) -> f64) -> Lut {
    let half = (TABLE_LEN / 2) as f64;
    let step = f64::from(1u32 << shift) / TABLE_VSCALE;
    Lut {
        name: name.into(),
        shift,
        entries: (0..TABLE_LEN).map(|i| f((i as f64 - half + 0.5) * step).round() as i32).collect(),
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Uniform in `[0, 1)` from a hash of `(seed, a, b)`: counter-based, so a synapse's initial
/// weight depends only on the seed and its endpoints.
fn hash_unit(seed: u64, a: u64, b: u64) -> f64 {
    let h = splitmix64(seed ^ splitmix64(a.wrapping_mul(0x9E37_79B9).wrapping_add(splitmix64(b))));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn decay_fraction(dt: f64, tau: Option<f64>, none: f64) -> f64 {
    match tau {
        Some(t) if t > 0.0 => 1.0 - (-dt / t).exp(),
        Some(_) => 1.0,
        None => none,
    }
}

/// Lower a checked model into the IR. Returns the IR and, per projection, the source of its
/// learning rule (for the `lower_rules` pass).
pub fn lower_model(m: &Model) -> Result<(Ir, Vec<Option<RuleSource>>), CompileError> {
    let spec = &m.target.spec;
    let pb = spec.formats.payload_bits;
    let dt = m.sim.dt;
    let mut ir = Ir::new(&m.name);
    ir.meta = isa_prog::Meta {
        name: m.name.clone(),
        dt_ns: (dt * 1e9).round().max(1.0) as u64,
        steps: m.sim.steps,
        epoch_steps: m.sim.epoch_steps,
        seed: m.sim.seed,
    };
    let signal_bits: Vec<u8> = m.signals.iter().map(|s| s.bits).collect();

    // Shared tables.
    let mut lut_ids: Vec<(String, u16)> = Vec::new();
    let mut lut_for = |ir: &mut Ir, name: &str, shift: u8, f: &dyn Fn(f64) -> f64| -> u16 {
        if let Some((_, id)) = lut_ids.iter().find(|(n, _)| n == name) {
            return *id;
        }
        let id = ir.luts.len() as u16;
        ir.luts.push(table(name, shift, f));
        lut_ids.push((name.to_string(), id));
        id
    };

    let mut pop_ids: Vec<PopId> = Vec::with_capacity(m.populations.len());
    for p in &m.populations {
        let (kind, params) = match &p.neuron {
            Neuron::Lif {
                tau_m,
                tau_syn,
                tau_syn2,
                v_th,
                v_reset,
                v_rest,
                bias,
                refractory_steps,
                v_init,
                v_init_seed,
            } => {
                // The voltage leak as the chip will run it: the decay code the front end checked
                // (`round(2^bits (1 − e^(−dt/τ)))`), so that the bias and the weights below
                // compensate the code's own rounding (steady state exactly `v_rest + I`).
                let dv = if tau_m.is_some() {
                    f64::from(p.codes.decay_v) / f64::from(1u32 << spec.formats.decay_bits)
                } else {
                    decay_fraction(dt, *tau_m, 0.0)
                };
                let du = decay_fraction(dt, *tau_syn, 1.0);
                let du2 = tau_syn2.map(|t| decay_fraction(dt, Some(t), 1.0));
                // The chip's voltage origin is the reset potential (as on Loihi: reset to 0, a
                // positive threshold), so that relative threshold mismatch spreads the distance
                // from reset to threshold, not the absolute voltage: `v_chip = v − v_reset`.
                let o = *v_reset;
                let v_init = if v_init.0 == v_init.1 {
                    Param::Const(v_init.0 - o)
                } else {
                    Param::Each(
                        (0..p.size)
                            .map(|i| v_init.0 + (v_init.1 - v_init.0) * hash_unit(*v_init_seed, u64::from(i), 0) - o)
                            .collect(),
                    )
                };
                let params = NeuronParams {
                    decay_u: du,
                    decay_u2: du2,
                    decay_v: dv,
                    threshold: Param::Const(v_th - o),
                    reset: 0.0,
                    // `bias` is a constant input current `I`: scaled like a weight (the chip adds
                    // `decay_v · I` per step, so that `v` relaxes to `v_rest + I`; with
                    // `tau_m = inf` it adds `I` itself).
                    bias: Param::Const(if tau_m.is_some() { dv } else { 1.0 } * bias + dv * (v_rest - o)),
                    v_init,
                    refractory: (*refractory_steps).min(u32::from(u16::MAX)) as u16,
                    lut: None,
                    noisy: true,
                    scale: None,
                };
                (NeuronKind::Lif, params)
            }
            Neuron::Stochastic { tau_ref_steps, tau_syn_steps, offset, bias, .. } => {
                if tau_syn_steps != tau_ref_steps {
                    return Err(CompileError::Invalid(format!(
                        "population `{}`: the chip's sampling neurons have a rectangular PSP as long as the \
                         refractory window (tau_syn = tau_ref); got {tau_syn_steps} and {tau_ref_steps} steps",
                        p.name
                    )));
                }
                let lut = lut_for(&mut ir, "sigmoid_q16", TABLE_SHIFT, &|x| (sigmoid(x) * 65536.0).min(65536.0));
                // The current is cleared every step: active units resend their state every step.
                let params = NeuronParams {
                    decay_u: 1.0,
                    decay_u2: None,
                    decay_v: 0.0,
                    threshold: Param::Const(*offset),
                    reset: 0.0,
                    bias: Param::Const(*bias),
                    v_init: Param::Const(0.0),
                    refractory: (*tau_ref_steps).min(u32::from(u16::MAX)) as u16,
                    lut: Some(lut),
                    noisy: false,
                    scale: Some(TABLE_VSCALE),
                };
                (NeuronKind::Stochastic, params)
            }
            Neuron::Rate { tau: _, tau_syn, activation, bias, out_range, v_init } => {
                let ps = payload_scale(&p.neuron, pb);
                let (lo, hi) = *out_range;
                let shift = rate_table_shift(*out_range);
                let act: fn(f64) -> f64 = match activation {
                    Activation::Tanh => f64::tanh,
                    Activation::Sigmoid => sigmoid,
                    Activation::Relu => |x| x.max(0.0),
                    Activation::Linear => |x| x,
                };
                let name = format!("{activation:?}[{lo},{hi}]").to_lowercase();
                let lut = Some(lut_for(&mut ir, &name, shift, &|x| act(x).clamp(lo, hi) * ps));
                let params = NeuronParams {
                    decay_u: decay_fraction(dt, *tau_syn, 1.0),
                    decay_u2: None,
                    // The Euler code the front end checked (`dv/D = dt/tau`, see `nm_isa::neuron`),
                    // not the exponential-integration fraction of LIF leaks.
                    decay_v: f64::from(p.codes.decay_v) / f64::from(1u32 << spec.formats.decay_bits),
                    threshold: Param::Const(0.0),
                    reset: 0.0,
                    bias: Param::Const(*bias),
                    v_init: match v_init {
                        model::InitValues::Const(v) => Param::Const(*v),
                        model::InitValues::Uniform { lo, hi, seed } => Param::Each(
                            (0..p.size).map(|i| lo + (hi - lo) * hash_unit(*seed, u64::from(i), 0)).collect(),
                        ),
                        model::InitValues::Each(v) => Param::Each(v.clone()),
                    },
                    refractory: 0,
                    lut,
                    noisy: false,
                    scale: Some(TABLE_VSCALE),
                };
                (NeuronKind::Graded, params)
            }
        };
        pop_ids.push(ir.add_population(Population {
            name: p.name.clone(),
            size: p.size,
            kind,
            params,
            rate: None,
            slices: Vec::new(),
        })?);
    }

    // Signals (before inputs: gates name them).
    for (k, s) in m.signals.iter().enumerate() {
        ir.signals.push(isa_prog::Signal {
            id: SignalId(k as u8),
            name: s.name.clone(),
            bits: s.bits,
            schedule: match &s.schedule {
                model::Schedule::Constant(v) => isa_prog::Schedule::Constant(*v),
                model::Schedule::Cycle { period_steps, values } => {
                    isa_prog::Schedule::Cycle { period: *period_steps, values: values.clone() }
                }
                model::Schedule::Random { len, p_one, one, zero, .. } => isa_prog::Schedule::Random {
                    len: match len {
                        model::PhaseLen::Fixed(n) => isa_prog::PhaseLen::Fixed(*n),
                        model::PhaseLen::Geometric { p_end } => {
                            isa_prog::PhaseLen::Geometric { p_end_q32: crate::codegen::prob_q32(*p_end) }
                        }
                    },
                    p_one_q32: crate::codegen::prob_q32(*p_one),
                    value_one: *one,
                    value_zero: *zero,
                },
                model::Schedule::List(l) => isa_prog::Schedule::List(l.clone()),
            },
        });
    }

    let mut input_ids: Vec<InputId> = Vec::with_capacity(m.inputs.len());
    let mut input_payload: Vec<f64> = Vec::with_capacity(m.inputs.len());
    let mut input_range: Vec<(f64, f64)> = Vec::with_capacity(m.inputs.len());
    for inp in &m.inputs {
        input_range.push(match &inp.kind {
            model::InputKind::Patterns { rows, encoding: model::Encoding::Graded { scale }, .. } => {
                value_range(rows.iter().flatten(), *scale)
            }
            model::InputKind::Current { values } => value_range(values.iter(), 1.0),
            _ => (0.0, 1.0),
        });
        let gate = inp.gate.map(|(s, v)| Gate { signal: SignalId(s as u8), value: v });
        let (kind, payload) = match &inp.kind {
            model::InputKind::Poisson { rates } => {
                (InputKind::Poisson { p: rates.iter().map(|r| r * dt).collect() }, 1.0)
            }
            model::InputKind::SpikeTimes { events } => (InputKind::SpikeTimes { events: events.clone() }, 1.0),
            model::InputKind::Patterns { rows, present_steps, order, encoding, .. } => {
                let order = match order {
                    model::Order::Sequential => PatternOrder::Sequential,
                    model::Order::Random => PatternOrder::Random,
                };
                match encoding {
                    model::Encoding::Rate { max_rate } => (
                        InputKind::Patterns {
                            rows: rows
                                .iter()
                                .map(|r| r.iter().map(|v| v.clamp(0.0, 1.0) * max_rate * dt).collect())
                                .collect(),
                            present_steps: *present_steps,
                            order,
                            encoding: Encoding::Rate,
                        },
                        1.0,
                    ),
                    model::Encoding::Graded { scale } => {
                        let vmax = rows.iter().flatten().fold(0.0f64, |a, v| a.max((v * scale).abs()));
                        let ps = input_payload_scale(vmax, pb);
                        (
                            InputKind::Patterns {
                                rows: rows.iter().map(|r| r.iter().map(|v| v * scale * ps).collect()).collect(),
                                present_steps: *present_steps,
                                order,
                                encoding: Encoding::Graded,
                            },
                            ps,
                        )
                    }
                    model::Encoding::Clamp => (
                        InputKind::Patterns {
                            rows: rows
                                .iter()
                                .map(|r| r.iter().map(|&v| if v != 0.0 { 1.0 } else { 0.0 }).collect())
                                .collect(),
                            present_steps: *present_steps,
                            order,
                            encoding: Encoding::Clamp,
                        },
                        1.0,
                    ),
                }
            }
            model::InputKind::Current { values } => {
                let vmax = values.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                let ps = input_payload_scale(vmax, pb);
                (
                    InputKind::Patterns {
                        rows: vec![values.iter().map(|v| v * ps).collect()],
                        present_steps: u32::MAX,
                        order: PatternOrder::Sequential,
                        encoding: Encoding::Graded,
                    },
                    ps,
                )
            }
        };
        input_payload.push(payload);
        input_ids.push(ir.add_input(InputSource {
            name: inp.name.clone(),
            channels: inp.channels,
            kind,
            gate,
            rate: None,
            key_base: None,
            inject_core: None,
        })?);
    }

    let mut sources = Vec::with_capacity(m.projections.len());
    for (j, pj) in m.projections.iter().enumerate() {
        let (pre, pre_size, pre_payload, pre_range) = match pj.pre {
            MEndpoint::Pop(i) => (
                Endpoint::Pop(pop_ids[i]),
                m.populations[i].size,
                payload_scale(&m.populations[i].neuron, pb),
                output_range(&m.populations[i].neuron),
            ),
            MEndpoint::Input(i) => {
                (Endpoint::Input(input_ids[i]), m.inputs[i].channels, input_payload[i], input_range[i])
            }
        };
        let post_pop = &m.populations[pj.post];
        let post = pop_ids[pj.post];
        let recurrent = matches!(pj.pre, MEndpoint::Pop(i) if i == pj.post);
        let delay = pj.delay_steps.clamp(1, 255) as u8;
        let mut conn = match &pj.connectivity {
            MConn::AllToAll { self_connections } => {
                if recurrent && !self_connections {
                    let syns = (0..pre_size)
                        .flat_map(|a| (0..post_pop.size).filter(move |&b| b != a).map(move |b| (a, b)))
                        .map(|(a, b)| Syn { pre: a, post: b, weight: 1.0, delay })
                        .collect();
                    Connectivity::from_synapses(pre_size, post_pop.size, syns)?
                } else {
                    Connectivity::all_to_all(pre_size, post_pop.size, 1.0, delay)
                }
            }
            MConn::OneToOne => Connectivity::one_to_one(pre_size.min(post_pop.size), 1.0, delay),
            MConn::FixedProb { p, seed, self_connections } => {
                if recurrent && !self_connections {
                    let full = Connectivity::fixed_probability(pre_size, post_pop.size, *p, *seed, 1.0, delay)?;
                    let syns = full.iter().filter(|s| s.pre != s.post).collect();
                    Connectivity::from_synapses(pre_size, post_pop.size, syns)?
                } else {
                    Connectivity::fixed_probability(pre_size, post_pop.size, *p, *seed, 1.0, delay)?
                }
            }
            MConn::FixedInDegree { n, seed, self_connections } => Connectivity::fixed_fan_in_distinct(
                pre_size,
                post_pop.size,
                *n,
                recurrent && !self_connections,
                *seed,
                1.0,
                delay,
            )?,
            MConn::NonZero => {
                let WeightInit::Matrix(mat) = &pj.weights else {
                    return Err(CompileError::Invalid(format!(
                        "projection `{}`: `nonzero` connectivity needs a weight matrix",
                        pj.name
                    )));
                };
                let syns = mat
                    .iter()
                    .enumerate()
                    .flat_map(|(a, row)| {
                        row.iter().enumerate().filter(|(_, &w)| w != 0.0).map(move |(b, _)| Syn {
                            pre: a as u32,
                            post: b as u32,
                            weight: 1.0,
                            delay,
                        })
                    })
                    .collect();
                Connectivity::from_synapses(pre_size, post_pop.size, syns)?
            }
            MConn::List(pairs) => Connectivity::from_synapses(
                pre_size,
                post_pop.size,
                pairs.iter().map(|&(a, b)| Syn { pre: a, post: b, weight: 1.0, delay }).collect(),
            )?,
        };
        // A LIF weight is the jump of the current I, and `v` moves toward `v_rest + I` with
        // `tau_m`; the chip adds its current to `v` unscaled, so the chip's current is
        // `decay_v · I` (with `tau_m = inf`, `v` adds `I` itself).
        let post_factor = match &post_pop.neuron {
            // The post neuron's decay code as the chip runs it (see the LIF lowering above).
            Neuron::Lif { tau_m: Some(_), .. } => {
                f64::from(post_pop.codes.decay_v) / f64::from(1u32 << spec.formats.decay_bits)
            }
            _ => 1.0,
        };
        let inv_p = post_factor / pre_payload;
        match &pj.weights {
            WeightInit::Constant(c) => conn.map_weights(|_| c * inv_p),
            WeightInit::Uniform { lo, hi, seed } => {
                conn.map_weights(|s| (lo + (hi - lo) * hash_unit(*seed, u64::from(s.pre), u64::from(s.post))) * inv_p)
            }
            WeightInit::Normal { mean, sd, seed } => conn.map_weights(|s| {
                let u1 = hash_unit(*seed, u64::from(s.pre), u64::from(s.post)).max(1e-300);
                let u2 = hash_unit(seed.wrapping_add(1), u64::from(s.pre), u64::from(s.post));
                (mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) * inv_p
            }),
            WeightInit::Matrix(mat) => conn.map_weights(|s| {
                mat.get(s.pre as usize).and_then(|r| r.get(s.post as usize)).copied().unwrap_or(0.0) * inv_p
            }),
        }
        let kind = match pj.mode {
            model::SynMode::Current => isa_prog::SynKind::Current,
            model::SynMode::Clamp => isa_prog::SynKind::Clamp,
        };
        let (plasticity, source) = match pj.rule {
            Some(r) => {
                let rule = &m.rules[r];
                let src = RuleSource {
                    rule: rule.clone(),
                    pre_payload,
                    w_factor: pre_payload / post_factor,
                    post_payload: payload_scale(&post_pop.neuron, pb),
                    pre_range,
                    post_range: output_range(&post_pop.neuron),
                    signal_bits: signal_bits.clone(),
                };
                // Provisional scales: weights at full range of an 8-bit-like mantissa.
                let wmax = rule.bounds.0.abs().max(rule.bounds.1.abs()).max(1e-12);
                let provisional = rule_scales(&src, wmax / f64::from(spec.weight_max()) * inv_p, 1.0, spec);
                let (lr, _) = lower_rule(rule, &provisional, spec, &signal_bits)
                    .map_err(|e| CompileError::Invalid(e.to_string()))?;
                (
                    Some(Plasticity {
                        rule_name: rule.name.clone(),
                        rule: lr,
                        w_min: rule.bounds.0 * inv_p,
                        w_max: rule.bounds.1 * inv_p,
                    }),
                    Some(src),
                )
            }
            None => (None, None),
        };
        let _ = j;
        let id = ir.add_projection(&pj.name, pre, post, conn, kind, plasticity, pj.allow_zero)?;
        ir.proj_mut(id).w_factor = 1.0 / inv_p;
        ir.proj_mut(id).current = pj.current;
        sources.push(source);
    }

    for (k, r) in m.recordings.iter().enumerate() {
        let (name, kind) = match r.what {
            RecordKind::Spikes { pop } => {
                (format!("spikes_{}", m.populations[pop].name), ProbeKind::Spikes(pop_ids[pop]))
            }
            RecordKind::State { pop, var } => {
                (format!("{:?}_{}", var, m.populations[pop].name).to_lowercase(), ProbeKind::State(pop_ids[pop], var))
            }
            RecordKind::Weights { proj } => {
                (format!("weights_{}", m.projections[proj].name), ProbeKind::Weights(ir::ProjId(proj as u32)))
            }
            RecordKind::Signal { signal } => {
                (format!("signal_{}", m.signals[signal].name), ProbeKind::Signal(SignalId(signal as u8)))
            }
        };
        let name = sanitize(&name, k);
        ir.probes.push(Probe { name, kind, every: r.every_steps.max(1) });
    }
    Ok((ir, sources))
}

/// A file-name-safe probe name, unique by position.
fn sanitize(name: &str, k: usize) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("{k}_{s}")
}

/// The scales of a rule for a projection whose weight mantissa is `w_ir_per_mant` IR weight
/// units per chip weight LSB and whose post population has `vscale` chip voltage units per unit.
pub fn rule_scales(src: &RuleSource, w_ir_per_mant: f64, vscale: f64, spec: &nm_isa::ChipSpec) -> RuleScales {
    let frac = nm_isa::fixed_point::accumulator_frac_bits(spec.formats.accumulator_bits, spec.formats.weight_bits);
    RuleScales {
        // Real weight units per accumulator LSB.
        w: w_ir_per_mant * src.w_factor / 2f64.powi(frac as i32),
        xg: 1.0 / src.pre_payload,
        yg: 1.0 / src.post_payload,
        yv: 1.0 / vscale,
        yu: 1.0 / vscale,
        w_range: src.rule.bounds,
        xg_range: Some(src.pre_range),
        yg_range: Some(src.post_range),
    }
}

/// The `lower_rules` pass body: lower every plastic projection's rule again with the scales the
/// quantizer chose, so that `w` in a rule means the weight the user wrote.
pub fn relower_rules(mut ir: Ir, sources: &[Option<RuleSource>], spec: &nm_isa::ChipSpec) -> Result<Ir, CompileError> {
    for j in ir.proj_ids().collect::<Vec<_>>() {
        let Some(Some(src)) = sources.get(j.index()) else { continue };
        let pj = ir.proj(j);
        let Some(q) = pj.quant.as_ref() else {
            return Err(CompileError::PassOrder { pass: "lower_rules", needs: "quantize" });
        };
        let vscale = ir.pop_quant.get(pj.post.index()).map_or(1.0, |p| p.scale);
        let scales = rule_scales(src, 1.0 / q.scale, vscale, spec);
        let (mut lr, _) =
            lower_rule(&src.rule, &scales, spec, &src.signal_bits).map_err(|e| CompileError::Invalid(e.to_string()))?;
        if let Some((lo, hi)) = q.acc_bounds {
            lr.w_min = lo;
            lr.w_max = hi;
        }
        if let Some(pl) = ir.proj_mut(j).plasticity.as_mut() {
            pl.rule = lr;
        }
    }
    Ok(ir)
}
