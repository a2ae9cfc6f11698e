//! Checks of the network items: signals, populations, inputs, projections and recordings.

use super::eval::{Args, Dim, Val};
use super::{check_tau, gen, rules, Cx, NameKind};
use crate::front::ast::{self, Call, Expr, ExprKind};
use crate::front::diag::Diagnostic;
use crate::front::model::*;
use crate::front::span::Span;

fn int_fits(cx: &mut Cx<'_>, v: f64, bits: u8, span: Span, what: &str) -> Option<i32> {
    let max = (1i64 << (bits - 1)) - 1;
    let min = -(1i64 << (bits - 1));
    if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
        cx.err(
            Diagnostic::error("E0501", format!("{what} {v} does not fit a {bits}-bit signed signal"))
                .at(span, format!("must be a whole number in [{min}, {max}]"))
                .help("signals carry small integers; scale them in the rule (e.g. `eta * phase`)"),
        );
        return None;
    }
    Some(v as i32)
}

/// `signal name = constant(...) | cycle(...) | random(...) | list(...)`
pub fn check_signal(cx: &mut Cx<'_>, d: &ast::Decl) {
    let c = &d.value;
    let bits_of = |cx: &mut Cx<'_>, a: &Args<'_>| a.int(cx, "bits", 2, 16).map_or(8, |b| b as u8);
    let schedule = match c.func.name.as_str() {
        "constant" => {
            let a = Args::new(cx, c, "`constant`", &["value", "bits"], &["value"]);
            let bits = bits_of(cx, &a);
            let v = a.plain(cx, "value");
            if !a.has("value") {
                a.missing(cx, "value", "1");
            }
            let v = v.and_then(|v| int_fits(cx, v, bits, a.expr("value").map_or(c.span, |e| e.span), "value"));
            v.map(|v| (Schedule::Constant(v), bits))
        }
        "cycle" => {
            let a = Args::new(cx, c, "`cycle`", &["period", "values", "bits"], &[]);
            let bits = bits_of(cx, &a);
            let period = a.steps(cx, "period", 1);
            if !a.has("period") {
                a.missing(cx, "period", "50 steps");
            }
            let values = a.list(cx, "values", Dim::PLAIN, "[1, 0]");
            if !a.has("values") {
                a.missing(cx, "values", "[1, 0]");
            }
            let span = a.expr("values").map_or(c.span, |e| e.span);
            let values: Option<Vec<i32>> = values
                .and_then(|vs| vs.into_iter().map(|v| int_fits(cx, v, bits, span, "value")).collect::<Option<_>>());
            match (period, values) {
                (Some(p), Some(vs)) if !vs.is_empty() => {
                    Some((Schedule::Cycle { period_steps: p.min(u64::from(u32::MAX)) as u32, values: vs }, bits))
                }
                (Some(_), Some(_)) => {
                    cx.err(Diagnostic::error("E0206", "`values` is empty").at(span, "needs at least one value"));
                    None
                }
                _ => None,
            }
        }
        "random" => {
            let a = Args::new(cx, c, "`random`", &["p", "len", "mean_len", "one", "zero", "seed", "bits"], &[]);
            let bits = bits_of(cx, &a);
            let p = a.prob(cx, "p");
            if !a.has("p") {
                a.missing(cx, "p", "0.5");
            }
            let len = match (a.has("len"), a.has("mean_len")) {
                (true, false) => a.steps(cx, "len", 1).map(|n| PhaseLen::Fixed(n.min(u64::from(u32::MAX)) as u32)),
                (false, true) => a.steps(cx, "mean_len", 1).map(|n| PhaseLen::Geometric { p_end: 1.0 / n as f64 }),
                (true, true) => {
                    cx.err(
                        Diagnostic::error(
                            "E0206",
                            "give either `len` (fixed phases) or `mean_len` (geometric), not both",
                        )
                        .at(c.span, "both given"),
                    );
                    None
                }
                (false, false) => {
                    a.missing(cx, "len", "50 steps");
                    None
                }
            };
            let one = a.plain(cx, "one").unwrap_or(1.0);
            let zero = a.plain(cx, "zero").unwrap_or(0.0);
            let one = int_fits(cx, one, bits, a.expr("one").map_or(c.span, |e| e.span), "value");
            let zero = int_fits(cx, zero, bits, a.expr("zero").map_or(c.span, |e| e.span), "value");
            let seed = a.seed(cx, "seed").unwrap_or(0);
            match (p, len, one, zero) {
                (Some(p_one), Some(len), Some(one), Some(zero)) => {
                    Some((Schedule::Random { len, p_one, one, zero, seed }, bits))
                }
                _ => None,
            }
        }
        "list" => {
            let a = Args::new(cx, c, "`list`", &["changes", "bits"], &["changes"]);
            let bits = bits_of(cx, &a);
            match a.expr("changes") {
                None => {
                    a.missing(cx, "changes", "[[0 ms, 1], [500 ms, 0]]");
                    None
                }
                Some(e) => pairs(cx, e, "changes").and_then(|ps| {
                    let mut out = Vec::new();
                    for (t, v, span) in ps {
                        let step = time_to_steps(cx, &t, span)?;
                        let v = int_fits(cx, v, bits, span, "value")?;
                        out.push((step, v));
                    }
                    out.sort_by_key(|&(s, _)| s);
                    Some((Schedule::List(out), bits))
                }),
            }
        }
        other => {
            let mut diag = Diagnostic::error("E0102", format!("unknown signal schedule `{other}`"))
                .at(c.func.span, "not a schedule")
                .note("schedules: constant, cycle, random, list");
            if let Some(s) = super::eval::suggest(other, ["constant", "cycle", "random", "list"].into_iter()) {
                diag = diag.help(format!("did you mean `{s}`?"));
            }
            cx.err(diag);
            None
        }
    };
    if let Some((schedule, bits)) = schedule {
        if cx.model.signals.len() >= 8 {
            cx.err(
                Diagnostic::error("E0505", "too many signals: the chip broadcasts at most 8")
                    .at(d.name.span, "the 9th signal"),
            );
            return;
        }
        cx.signal_ix.insert(d.name.name.clone(), cx.model.signals.len());
        cx.model.signals.push(Signal { name: d.name.name.clone(), span: d.name.span, bits, schedule });
    }
}

/// A value written as time (with unit) or steps, to steps.
fn time_to_steps(cx: &mut Cx<'_>, v: &Val, span: Span) -> Option<u64> {
    match v {
        Val::Num { v, dim, .. } if *dim == Dim::TIME && *v >= 0.0 && v.is_finite() => Some((v / cx.dt).round() as u64),
        _ => {
            cx.err(
                Diagnostic::error("E0301", "expected a time (e.g. `20 ms` or `5 steps`)")
                    .at(span, "not a non-negative time"),
            );
            None
        }
    }
}

/// `[[a, b], [c, d]]` as (first value, second plain number, span of the pair).
fn pairs(cx: &mut Cx<'_>, e: &Expr, name: &str) -> Option<Vec<(Val, f64, Span)>> {
    let ExprKind::List { items, .. } = &e.kind else {
        cx.err(
            Diagnostic::error("E0205", format!("`{name}` must be a list of pairs `[[a, b], ...]`"))
                .at(e.span, "not a list"),
        );
        return None;
    };
    let mut out = Vec::new();
    for it in items {
        match cx.eval(it)? {
            Val::List(v) if v.len() == 2 => match &v[1] {
                Val::Num { v: x, dim, .. } if *dim == Dim::PLAIN => out.push((v[0].clone(), *x, it.span)),
                _ => {
                    cx.err(
                        Diagnostic::error("E0205", "the second entry of each pair must be a plain number")
                            .at(it.span, "here"),
                    );
                    return None;
                }
            },
            _ => {
                cx.err(
                    Diagnostic::error("E0205", format!("each entry of `{name}` must be a pair `[a, b]`"))
                        .at(it.span, "not a pair"),
                );
                return None;
            }
        }
    }
    Some(out)
}

const LIF_ARGS: &[&str] = &[
    "n",
    "tau_m",
    "tau_syn",
    "tau_syn2",
    "decay_v",
    "decay_u",
    "v_th",
    "v_reset",
    "v_rest",
    "bias",
    "refractory",
    "v_init",
    "seed",
];
const STOCH_ARGS: &[&str] = &["n", "tau_ref", "tau_syn", "offset", "bias"];
const RATE_ARGS: &[&str] = &["n", "tau", "tau_syn", "decay_u", "activation", "bias", "range", "v_init", "seed"];

/// `v_init` of a `rate` population: a number, `uniform(lo, hi)` (drawn per neuron with the
/// population's `seed`) or a list of one value per neuron. Plain numbers (a rate neuron's state).
fn rate_v_init(cx: &mut Cx<'_>, a: &Args<'_>, n: Option<i64>) -> InitValues {
    let seed = a.seed(cx, "seed").unwrap_or(0);
    let Some(e) = a.expr("v_init") else {
        if let Some(s) = a.expr("seed") {
            cx.err(
                Diagnostic::warning("W0206", "`seed` has no effect without `v_init = uniform(lo, hi)`")
                    .at(s.span, "unused"),
            );
        }
        return InitValues::Const(0.0);
    };
    match &e.kind {
        ExprKind::Call(init) if init.func.name == "uniform" => {
            let ia = Args::new(cx, init, "`uniform`", &["lo", "hi"], &["lo", "hi"]);
            if !ia.has("lo") || !ia.has("hi") {
                ia.missing(cx, if ia.has("lo") { "hi" } else { "lo" }, "1.0");
            }
            let (lo, hi) = (ia.plain(cx, "lo").unwrap_or(0.0), ia.plain(cx, "hi").unwrap_or(0.0));
            if lo > hi {
                cx.err(Diagnostic::error("E0206", "`uniform(lo, hi)` needs lo <= hi").at(init.span, "empty range"));
            }
            InitValues::Uniform { lo, hi, seed }
        }
        ExprKind::List { .. } => {
            let Some(vals) = cx.num_list(e, "v_init", Dim::PLAIN, "[0.5, -0.5]") else {
                return InitValues::Const(0.0);
            };
            if let Some(n) = n {
                if vals.len() as i64 != n {
                    cx.err(
                        Diagnostic::error("E0602", "`v_init` needs one value per neuron")
                            .at(e.span, format!("{} values for {n} neurons", vals.len())),
                    );
                    return InitValues::Const(0.0);
                }
            }
            InitValues::Each(vals)
        }
        _ => InitValues::Const(a.plain(cx, "v_init").unwrap_or(0.0)),
    }
}

/// An explicit decay code (`decay_v = 205`) instead of a time constant: checked against
/// `decay_bits`; returns the code and the time constant it stands for (`None`: no decay).
fn explicit_code(cx: &mut Cx<'_>, a: &Args<'_>, code_arg: &str, tau_arg: &str) -> Option<(u32, Option<f64>)> {
    let e = a.expr(code_arg)?;
    if a.has(tau_arg) {
        cx.err(
            Diagnostic::error("E0206", format!("give `{tau_arg}` or `{code_arg}`, not both"))
                .at(e.span, "the code")
                .also(a.expr(tau_arg).map_or(e.span, |t| t.span), "the time constant"),
        );
        return None;
    }
    let bits = cx.spec.formats.decay_bits;
    let full = 1i64 << bits;
    let code = cx.int(e, code_arg, 0, full)? as u32;
    let keep = 1.0 - f64::from(code) / full as f64;
    let tau = if code == 0 {
        None
    } else if keep <= 0.0 {
        Some(0.0)
    } else {
        Some(-cx.dt / keep.ln())
    };
    Some((code, tau))
}

/// `pop name = lif(...) | sampling(...) | binary(...) | rate(...)`
pub fn check_pop(cx: &mut Cx<'_>, d: &ast::Decl) {
    let c = &d.value;
    let kind = c.func.name.as_str();
    let (allowed, what): (&'static [&'static str], &str) = match kind {
        "lif" => (LIF_ARGS, "`lif`"),
        "sampling" => (STOCH_ARGS, "`sampling`"),
        "binary" => (STOCH_ARGS, "`binary`"),
        "rate" => (RATE_ARGS, "`rate`"),
        other => {
            let mut diag = Diagnostic::error("E0102", format!("unknown neuron type `{other}`"))
                .at(c.func.span, "not a neuron type")
                .note("neuron types: lif, sampling, binary, rate");
            if let Some(s) = super::eval::suggest(other, ["lif", "sampling", "binary", "rate"].into_iter()) {
                diag = diag.help(format!("did you mean `{s}`?"));
            }
            cx.err(diag);
            return;
        }
    };
    let a = Args::new(cx, c, what, allowed, &["n"]);
    let n = a.int(cx, "n", 1, 1 << 24);
    if !a.has("n") {
        a.missing(cx, "n", "10");
    }
    let bits = cx.spec.formats.decay_bits;
    let full = 1u32 << bits;
    let tau_opt = |cx: &mut Cx<'_>, a: &Args<'_>, k: &str| -> Option<f64> {
        a.time(cx, k).and_then(|t| if t.is_infinite() { None } else { Some(t) })
    };
    let mut units: Vec<(crate::front::model::VoltUnit, Span)> = Vec::new();
    let mut volt = |cx: &mut Cx<'_>, a: &Args<'_>, k: &str, default: f64| -> f64 {
        match a.volt(cx, k) {
            Some((v, u)) => {
                units.push((u, a.expr(k).map_or(c.span, |e| e.span)));
                v
            }
            None => default,
        }
    };
    let (neuron, codes) = match kind {
        "lif" => {
            let mut tau_m = tau_opt(cx, &a, "tau_m");
            let mut tau_syn = tau_opt(cx, &a, "tau_syn");
            let span_m = a.expr("tau_m").map_or(c.span, |e| e.span);
            let span_s = a.expr("tau_syn").map_or(c.span, |e| e.span);
            let mut decay_v = if a.has("tau_m") { check_tau(cx, tau_m, span_m, "`tau_m`") } else { 0 };
            let mut decay_u = if a.has("tau_syn") { check_tau(cx, tau_syn, span_s, "`tau_syn`") } else { full };
            if let Some((code, tau)) = explicit_code(cx, &a, "decay_v", "tau_m") {
                (decay_v, tau_m) = (code, tau);
            }
            if let Some((code, tau)) = explicit_code(cx, &a, "decay_u", "tau_syn") {
                decay_u = code;
                tau_syn = if code == full { None } else { Some(tau.unwrap_or(f64::INFINITY)) };
            }
            // A second synaptic current with its own time constant (`connect ... current = 2`).
            let (tau_syn2, decay_u2) = match a.expr("tau_syn2") {
                Some(e) => {
                    let span2 = e.span;
                    match a.time(cx, "tau_syn2") {
                        Some(t) if t.is_finite() => (Some(t), Some(check_tau(cx, Some(t), span2, "`tau_syn2`"))),
                        Some(_) => {
                            cx.err(
                                Diagnostic::error("E0206", "`tau_syn2` must be a finite time constant")
                                    .at(span2, "the second current would never decay")
                                    .help("e.g. `tau_syn2 = 10 ms`"),
                            );
                            (None, None)
                        }
                        None => (None, None),
                    }
                }
                None => (None, None),
            };
            if !a.has("v_th") {
                a.missing(cx, "v_th", "1.0");
            }
            let v_th = volt(cx, &a, "v_th", 1.0);
            let v_reset = volt(cx, &a, "v_reset", 0.0);
            let v_rest = volt(cx, &a, "v_rest", 0.0);
            let bias = volt(cx, &a, "bias", 0.0);
            let refractory = a.steps(cx, "refractory", 0).unwrap_or(0);
            if refractory > u64::from(u16::MAX) {
                cx.err(
                    Diagnostic::error("E0501", "refractory period too long for the chip's 16-bit counter")
                        .at(a.expr("refractory").map_or(c.span, |e| e.span), format!("{refractory} steps")),
                );
            }
            let v_init = match a.expr("v_init") {
                Some(e) => match &e.kind {
                    ExprKind::Call(init) if init.func.name == "uniform" => {
                        let ia = Args::new(cx, init, "`uniform`", &["lo", "hi"], &["lo", "hi"]);
                        let lo = ia.volt(cx, "lo").map(|(v, u)| {
                            units.push((u, init.span));
                            v
                        });
                        let hi = ia.volt(cx, "hi").map(|(v, u)| {
                            units.push((u, init.span));
                            v
                        });
                        (lo.unwrap_or(0.0), hi.unwrap_or(0.0))
                    }
                    _ => {
                        let v = volt(cx, &a, "v_init", 0.0);
                        (v, v)
                    }
                },
                None => (v_reset, v_reset),
            };
            let v_init_seed = a.seed(cx, "seed").unwrap_or(0);
            (
                Neuron::Lif {
                    tau_m,
                    tau_syn,
                    tau_syn2,
                    v_th,
                    v_reset,
                    v_rest,
                    bias,
                    refractory_steps: refractory.min(u64::from(u16::MAX)) as u32,
                    v_init,
                    v_init_seed,
                },
                NeuronCodes { decay_u, decay_u2, decay_v, refractory: refractory.min(u64::from(u16::MAX)) as u32 },
            )
        }
        "sampling" | "binary" => {
            let tau_ref = a.steps(cx, "tau_ref", 1);
            if !a.has("tau_ref") {
                a.missing(cx, "tau_ref", "10 steps");
            }
            let tau_ref = tau_ref.unwrap_or(1).min(u64::from(u16::MAX)) as u32;
            if let Some(ts) = a.steps(cx, "tau_syn", 1) {
                if ts != u64::from(tau_ref) {
                    cx.err(
                        Diagnostic::error("E0206", "`tau_syn` of a sampling neuron must equal `tau_ref`")
                            .at(a.expr("tau_syn").map_or(c.span, |e| e.span), format!("{ts} steps, but tau_ref is {tau_ref}"))
                            .note("the chip's sampling neurons have a rectangular PSP exactly as long as the refractory window"),
                    );
                }
            }
            let offset = a.plain(cx, "offset").unwrap_or((f64::from(tau_ref)).ln());
            let bias = a.plain(cx, "bias").unwrap_or(0.0);
            (
                Neuron::Stochastic {
                    tau_ref_steps: tau_ref,
                    tau_syn_steps: tau_ref,
                    offset,
                    bias,
                    clampable: kind == "binary",
                },
                NeuronCodes { decay_u: 0, decay_u2: None, decay_v: 0, refractory: tau_ref },
            )
        }
        _ => {
            let tau = a.time(cx, "tau");
            if !a.has("tau") {
                a.missing(cx, "tau", "10 ms");
            }
            let tau = tau.unwrap_or(cx.dt);
            let span_t = a.expr("tau").map_or(c.span, |e| e.span);
            // Graded neurons take an Euler step: dv/D = dt/τ (see nm_isa::neuron).
            let decay_v = if !(tau.is_finite() && tau >= cx.dt * 0.999_999) {
                cx.err(
                    Diagnostic::error("E0206", "a rate neuron needs a finite `tau` of at least one step")
                        .at(span_t, format!("dt = {} ms", cx.dt * 1e3))
                        .note("its Euler step `v += (dt/tau)(-v + u + bias)` is unstable for tau < dt"),
                );
                full
            } else {
                let code = (f64::from(full) * cx.dt / tau).round().max(1.0) as u32;
                let eff = cx.dt * f64::from(full) / f64::from(code);
                if (eff - tau).abs() > 0.1 * tau {
                    cx.err(
                        Diagnostic::warning("W0502", format!("`tau` is quantized to {:.4} ms on the chip", eff * 1e3))
                            .at(span_t, format!("Euler code {code} of {full}")),
                    );
                }
                code
            };
            let mut tau_syn = tau_opt(cx, &a, "tau_syn");
            let mut decay_u = if a.has("tau_syn") {
                check_tau(cx, tau_syn, a.expr("tau_syn").map_or(c.span, |e| e.span), "`tau_syn`")
            } else {
                full
            };
            if let Some((code, tau)) = explicit_code(cx, &a, "decay_u", "tau_syn") {
                decay_u = code;
                tau_syn = if code == full { None } else { Some(tau.unwrap_or(f64::INFINITY)) };
            }
            let activation = match a.word(cx, "activation", &["linear", "tanh", "sigmoid", "relu"]).as_deref() {
                Some("tanh") => Activation::Tanh,
                Some("sigmoid") => Activation::Sigmoid,
                Some("relu") => Activation::Relu,
                _ => Activation::Linear,
            };
            let bias = a.plain(cx, "bias").unwrap_or(0.0);
            let range = match a.list(cx, "range", Dim::PLAIN, "[-4, 4]") {
                Some(r) if r.len() == 2 && r[0] < r[1] => (r[0], r[1]),
                Some(_) => {
                    cx.err(
                        Diagnostic::error("E0206", "`range` must be `[lo, hi]` with lo < hi")
                            .at(a.expr("range").map_or(c.span, |e| e.span), "here"),
                    );
                    (-1.0, 1.0)
                }
                None => match activation {
                    Activation::Tanh => (-1.0, 1.0),
                    Activation::Sigmoid => (0.0, 1.0),
                    Activation::Relu => (0.0, 16.0),
                    Activation::Linear => (-16.0, 16.0),
                },
            };
            let v_init = rate_v_init(cx, &a, n);
            (
                Neuron::Rate { tau, tau_syn, activation, bias, out_range: range, v_init },
                NeuronCodes { decay_u, decay_u2: None, decay_v, refractory: 0 },
            )
        }
    };
    let volt_unit = match units.first() {
        Some(&(u, _)) => {
            if let Some(&(_, s)) = units.iter().find(|(v, _)| *v != u) {
                cx.err(
                    Diagnostic::error(
                        "E0301",
                        "unit mismatch: the voltages of one population mix mV and plain numbers",
                    )
                    .at(s, "different from the first voltage")
                    .also(units[0].1, "first voltage")
                    .help("write every voltage of the population with a unit, or none"),
                );
            }
            u
        }
        None => VoltUnit::Plain,
    };
    if let Some(n) = n {
        cx.pop_ix.insert(d.name.name.clone(), cx.model.populations.len());
        cx.model.populations.push(Population {
            name: d.name.name.clone(),
            span: d.name.span,
            size: n as u32,
            neuron,
            volt_unit,
            codes,
        });
    }
}

/// Most channels of one input (each costs memory in the model).
const MAX_CHANNELS: i64 = 1 << 22;

const PATTERN_ARGS: &[&str] = &["data", "present", "encoding", "max_rate", "scale", "order", "seed"];

/// `input name = poisson(...) | spikes(...) | patterns(...) | current(...)` (`when sig == v`)
pub fn check_input(cx: &mut Cx<'_>, i: &ast::Input) {
    let c = &i.value;
    let r: Option<(u32, InputKind)> = match c.func.name.as_str() {
        "poisson" => {
            let a = Args::new(cx, c, "`poisson`", &["rates", "rate", "n"], &[]);
            let rates = if a.has("rates") {
                a.list(cx, "rates", Dim::RATE, "[5, 10] Hz")
            } else if a.has("rate") {
                let r = a.quantity(cx, "rate", Dim::RATE, "15 Hz");
                let n = a.int(cx, "n", 1, MAX_CHANNELS);
                if !a.has("n") {
                    a.missing(cx, "n", "100");
                }
                r.zip(n).map(|(r, n)| vec![r; n as usize])
            } else {
                a.missing(cx, "rates", "[5, 10] Hz");
                None
            };
            rates.and_then(|rs| {
                let span = a.expr("rates").or(a.expr("rate")).map_or(c.span, |e| e.span);
                if let Some(&bad) = rs.iter().find(|&&r| !(r >= 0.0 && r * cx.dt <= 1.0)) {
                    cx.err(
                        Diagnostic::error(
                            "E0206",
                            format!("rate {bad} Hz is not a valid spike probability at dt = {} ms", cx.dt * 1e3),
                        )
                        .at(span, "rates must be in [0, 1/dt]"),
                    );
                    return None;
                }
                Some((rs.len() as u32, InputKind::Poisson { rates: rs }))
            })
        }
        "spikes" => {
            let a = Args::new(cx, c, "`spikes`", &["n", "times"], &[]);
            let n = a.int(cx, "n", 1, MAX_CHANNELS);
            if !a.has("n") {
                a.missing(cx, "n", "2");
            }
            let events = match a.expr("times") {
                None => {
                    a.missing(cx, "times", "[[0, 10 ms], [1, 20 ms]]");
                    None
                }
                Some(e) => spike_times(cx, e, n.unwrap_or(0) as u32),
            };
            n.zip(events).map(|(n, ev)| (n as u32, InputKind::SpikeTimes { events: ev }))
        }
        "patterns" => check_patterns(cx, c),
        "current" => {
            let a = Args::new(cx, c, "`current`", &["values", "value", "n"], &[]);
            let vals = if let Some(e) = a.expr("values") {
                match &e.kind {
                    ExprKind::List { items, .. } => {
                        let vs: Option<Vec<f64>> = items.iter().map(|x| cx.volt(x, "values").map(|(v, _)| v)).collect();
                        vs
                    }
                    _ => cx.volt(e, "values").map(|(v, _)| vec![v]),
                }
            } else if a.has("value") {
                let v = a.volt(cx, "value").map(|(v, _)| v);
                let n = a.int(cx, "n", 1, MAX_CHANNELS);
                if !a.has("n") {
                    a.missing(cx, "n", "1");
                }
                v.zip(n).map(|(v, n)| vec![v; n as usize])
            } else {
                a.missing(cx, "values", "[0.5, 0.5]");
                None
            };
            vals.map(|v| (v.len() as u32, InputKind::Current { values: v }))
        }
        other => {
            let opts = ["poisson", "spikes", "patterns", "current"];
            let mut diag = Diagnostic::error("E0102", format!("unknown input kind `{other}`"))
                .at(c.func.span, "not an input kind")
                .note("input kinds: poisson, spikes, patterns, current");
            if let Some(s) = super::eval::suggest(other, opts.into_iter()) {
                diag = diag.help(format!("did you mean `{s}`?"));
            }
            cx.err(diag);
            None
        }
    };
    let gate = i.gate.as_ref().and_then(|g| {
        let Some(&k) = cx.signal_ix.get(&g.signal.name) else {
            if cx.names.get(&g.signal.name).is_some_and(|(k, _)| *k == NameKind::Signal) {
                return None; // the signal itself had errors
            }
            cx.unknown(&g.signal, "signal", &[NameKind::Signal]);
            return None;
        };
        let v = cx.quantity(&g.value, Dim::PLAIN, "when", "1")?;
        let bits = cx.model.signals[k].bits;
        int_fits(cx, v, bits, g.value.span, "gate value").map(|v| (k, v))
    });
    if let Some((channels, kind)) = r {
        if channels == 0 {
            cx.err(Diagnostic::error("E0206", "an input needs at least one channel").at(c.span, "no channels"));
            return;
        }
        cx.input_ix.insert(i.name.name.clone(), cx.model.inputs.len());
        cx.model.inputs.push(Input { name: i.name.name.clone(), span: i.name.span, channels, kind, gate });
    }
}

fn spike_times(cx: &mut Cx<'_>, e: &Expr, n: u32) -> Option<Vec<(u64, u32)>> {
    let ps = pairs_channel_time(cx, e)?;
    let mut out = Vec::new();
    for (ch, t, span) in ps {
        if ch.fract() != 0.0 || ch < 0.0 || ch >= f64::from(n) {
            cx.err(
                Diagnostic::error("E0602", format!("channel {ch} out of range: the input has {n} channels"))
                    .at(span, "this spike"),
            );
            return None;
        }
        let step = time_to_steps(cx, &t, span)?;
        out.push((step, ch as u32));
    }
    out.sort_unstable();
    Some(out)
}

/// `[[channel, time], ...]`
fn pairs_channel_time(cx: &mut Cx<'_>, e: &Expr) -> Option<Vec<(f64, Val, Span)>> {
    let ExprKind::List { items, .. } = &e.kind else {
        cx.err(
            Diagnostic::error("E0205", "`times` must be a list of `[channel, time]` pairs").at(e.span, "not a list"),
        );
        return None;
    };
    let mut out = Vec::new();
    for it in items {
        match cx.eval(it)? {
            Val::List(v) if v.len() == 2 => match &v[0] {
                Val::Num { v: ch, dim, .. } if *dim == Dim::PLAIN => out.push((*ch, v[1].clone(), it.span)),
                _ => {
                    cx.err(Diagnostic::error("E0205", "the channel must be a plain whole number").at(it.span, "here"));
                    return None;
                }
            },
            _ => {
                cx.err(
                    Diagnostic::error("E0205", "each spike must be a pair `[channel, time]`").at(it.span, "not a pair"),
                );
                return None;
            }
        }
    }
    Some(out)
}

fn check_patterns(cx: &mut Cx<'_>, c: &Call) -> Option<(u32, InputKind)> {
    let a = Args::new(cx, c, "`patterns`", PATTERN_ARGS, &["data"]);
    let present = a.steps(cx, "present", 1);
    if !a.has("present") {
        a.missing(cx, "present", "50 ms");
    }
    let enc = a.word(cx, "encoding", &["rate", "graded", "clamp"]).unwrap_or_else(|| "rate".into());
    let encoding = match enc.as_str() {
        "graded" => Encoding::Graded { scale: a.plain(cx, "scale").unwrap_or(1.0) },
        "clamp" => Encoding::Clamp,
        _ => {
            let max_rate = a.quantity(cx, "max_rate", Dim::RATE, "100 Hz");
            if !a.has("max_rate") && enc == "rate" {
                a.missing(cx, "max_rate", "100 Hz");
            }
            if let Some(r) = max_rate.filter(|r| !(*r >= 0.0 && r * cx.dt <= 1.0)) {
                cx.err(
                    Diagnostic::error(
                        "E0206",
                        format!("max_rate {r} Hz is not a valid spike probability at dt = {} ms", cx.dt * 1e3),
                    )
                    .at(a.expr("max_rate").map_or(c.span, |e| e.span), "must be in [0, 1/dt]"),
                );
            }
            Encoding::Rate { max_rate: max_rate.unwrap_or(0.0) }
        }
    };
    let order = match a.word(cx, "order", &["sequential", "random"]).as_deref() {
        Some("random") => Order::Random,
        _ => Order::Sequential,
    };
    let seed = a.seed(cx, "seed").unwrap_or(0);
    let Some(data) = a.expr("data") else {
        a.missing(cx, "data", "file(\"patterns.csv\")");
        return None;
    };
    let (source, rows) = gen::pattern_data(cx, data)?;
    let channels = rows.first().map_or(0, |r| r.len());
    if rows.is_empty() || channels == 0 {
        cx.err(Diagnostic::error("E0206", "the pattern set is empty").at(data.span, "no rows"));
        return None;
    }
    if matches!(encoding, Encoding::Clamp) {
        if let Some(v) = rows.iter().flatten().find(|&&v| v != 0.0 && v != 1.0) {
            cx.err(
                Diagnostic::error("E0206", format!("clamp encoding needs binary patterns, found {v}"))
                    .at(data.span, "values must be 0 or 1"),
            );
        }
    }
    Some((
        channels as u32,
        InputKind::Patterns {
            source,
            rows,
            present_steps: present?.min(u64::from(u32::MAX)) as u32,
            order,
            encoding,
            seed,
        },
    ))
}

const CLAUSE_KEYS: &[&str] = &["weight", "delay", "sign", "mode", "current", "zeroed"];

/// `connect [name:] pre -> post [pattern] clauses [plastic rule(args)]`
pub fn check_connect(cx: &mut Cx<'_>, c: &ast::Connect, span: Span) {
    let pre = match (cx.pop_ix.get(&c.pre.name), cx.input_ix.get(&c.pre.name)) {
        (Some(&p), _) => Some(Endpoint::Pop(p)),
        (_, Some(&i)) => Some(Endpoint::Input(i)),
        _ => {
            endpoint_error(cx, &c.pre, true);
            None
        }
    };
    let post = match cx.pop_ix.get(&c.post.name) {
        Some(&p) => Some(p),
        None => {
            endpoint_error(cx, &c.post, false);
            None
        }
    };
    let name = c.name.as_ref().map_or_else(|| format!("{}->{}", c.pre.name, c.post.name), |n| n.name.clone());
    // Clauses.
    let mut clauses: Vec<&ast::Setting> = Vec::new();
    for s in &c.clauses {
        if !CLAUSE_KEYS.contains(&s.key.name.as_str()) {
            let mut d = Diagnostic::error("E0201", format!("`connect` has no clause `{}`", s.key.name))
                .at(s.key.span, "unknown clause")
                .note("clauses: weight, delay, sign, mode, current, zeroed, then `plastic rule(...)`");
            if let Some(k) = super::eval::suggest(&s.key.name, CLAUSE_KEYS.iter().copied()) {
                d = d.help(format!("did you mean `{k}`?"));
            }
            cx.err(d);
        } else if let Some(first) = clauses.iter().find(|x| x.key.name == s.key.name) {
            let fs = first.span;
            cx.err(
                Diagnostic::error("E0203", format!("clause `{}` given twice", s.key.name))
                    .at(s.span, "second value")
                    .also(fs, "first value"),
            );
        } else {
            clauses.push(s);
        }
    }
    let clause = |k: &str| clauses.iter().find(|s| s.key.name == k).map(|s| &s.value);
    let (pre_n, post_n) = (
        pre.map(|e| match e {
            Endpoint::Pop(i) => cx.model.populations[i].size,
            Endpoint::Input(i) => cx.model.inputs[i].channels,
        }),
        post.map(|p| cx.model.populations[p].size),
    );
    let post_unit = post.map(|p| cx.model.populations[p].volt_unit);
    let connectivity =
        connectivity(cx, c.pattern.as_ref(), pre_n, post_n, pre.zip(post).is_some_and(|(e, p)| e == Endpoint::Pop(p)));
    let is_clamp = clause("mode").and_then(|e| e.as_name()).is_some_and(|n| n.name == "clamp");
    let weights = match clause("weight") {
        Some(e) => weight_init(cx, e, post_unit, pre_n, post_n),
        // Clamp synapses force a state; their weight is only a placeholder.
        None if is_clamp => Some(WeightInit::Constant(1.0)),
        None => {
            cx.err(
                Diagnostic::error("E0202", "`connect` needs `weight = ...`")
                    .at(span, "no weight given")
                    .help("e.g. `weight = 0.5`, `weight = uniform(0, 0.2)` or `weight = [[...]]`"),
            );
            None
        }
    };
    let delay = match clause("delay") {
        Some(e) => cx.steps(e, "delay", 1).and_then(|d| {
            let max = u64::from(cx.spec.core.max_delay);
            if d > max {
                cx.err(
                    Diagnostic::error("E0505", format!("delay of {d} steps exceeds the chip's maximum of {max}"))
                        .at(e.span, format!("{d} steps at dt = {} ms", cx.dt * 1e3)),
                );
                None
            } else {
                Some(d as u32)
            }
        }),
        None => Some(1),
    };
    if connectivity == Some(Connectivity::NonZero) && !matches!(weights, Some(WeightInit::Matrix(_)) | None) {
        cx.err(
            Diagnostic::error("E0206", "`nonzero` connectivity needs a weight matrix")
                .at(c.pattern.as_ref().map_or(span, |p| p.span), "synapses where the matrix is non-zero")
                .help("give `weight = file(\"w.npy\")` or `weight = [[...], ...]`"),
        );
    }
    let (wlo, whi) = weights.as_ref().map_or((0.0, 0.0), |w| w.range());
    let sign = match clause("sign") {
        Some(e) => match cx.word(e, "sign", &["excitatory", "inhibitory", "mixed"]).as_deref() {
            Some("excitatory") => {
                if wlo < 0.0 {
                    cx.err(
                        Diagnostic::error("E0206", "an excitatory projection has negative initial weights")
                            .at(e.span, "declared excitatory")
                            .note(format!("initial weights reach {wlo}")),
                    );
                }
                Sign::Excitatory
            }
            Some("inhibitory") => {
                if whi > 0.0 {
                    cx.err(
                        Diagnostic::error("E0206", "an inhibitory projection has positive initial weights")
                            .at(e.span, "declared inhibitory")
                            .note(format!("initial weights reach {whi}")),
                    );
                }
                Sign::Inhibitory
            }
            _ => Sign::Mixed,
        },
        None if wlo >= 0.0 && whi > 0.0 => Sign::Excitatory,
        None if whi <= 0.0 && wlo < 0.0 => Sign::Inhibitory,
        None => Sign::Mixed,
    };
    let mode = match clause("mode") {
        Some(e) => match cx.word(e, "mode", &["current", "clamp"]).as_deref() {
            Some("clamp") => {
                if let Some(p) = post {
                    if !matches!(cx.model.populations[p].neuron, Neuron::Stochastic { clampable: true, .. }) {
                        cx.err(
                            Diagnostic::error("E0601", format!("`{}` cannot be clamped", c.post.name))
                                .at(c.post.span, "not a `binary` population")
                                .note("only binary stochastic units (`binary(...)`) accept clamp synapses"),
                        );
                    }
                }
                SynMode::Clamp
            }
            _ => SynMode::Current,
        },
        None => SynMode::Current,
    };
    // `current = 1 | 2`: which synaptic current of the post LIF neurons the synapses feed; the
    // second needs `tau_syn2` on the post population.
    let current = match clause("current") {
        Some(e) => match cx.int(e, "current", 1, 2) {
            Some(2) => {
                let has2 = post
                    .is_some_and(|p| matches!(cx.model.populations[p].neuron, Neuron::Lif { tau_syn2: Some(_), .. }));
                if post.is_some() && !has2 {
                    cx.err(
                        Diagnostic::error("E0206", format!("`{}` has no second synaptic current", c.post.name))
                            .at(e.span, "`current = 2`")
                            .note("only a `lif` population with `tau_syn2 = ...` has a second current")
                            .help(format!("add e.g. `tau_syn2 = 10 ms` to `pop {} = lif(...)`", c.post.name)),
                    );
                }
                if mode == SynMode::Clamp {
                    cx.err(
                        Diagnostic::error("E0601", "a clamp projection cannot feed a second current")
                            .at(e.span, "`current = 2` with `mode = clamp`"),
                    );
                }
                1
            }
            _ => 0,
        },
        None => 0,
    };
    // `zeroed = allow`: non-zero initial weights may round to zero on the chip (else a
    // quantization error).
    let allow_zero = match clause("zeroed") {
        Some(e) => cx.word(e, "zeroed", &["allow", "error"]).as_deref() == Some("allow"),
        None => false,
    };
    let (Some(pre), Some(post), Some(connectivity), Some(weights), Some(delay_steps)) =
        (pre, post, connectivity, weights, delay)
    else {
        // Still check the rule so its own mistakes are reported.
        if let Some(pl) = &c.plastic {
            rules::instantiate(cx, pl, None);
        }
        return;
    };
    let proj_ix = cx.model.projections.len();
    if clause("sign").is_some() {
        cx.explicit_sign.insert(proj_ix);
    }
    cx.model.projections.push(Projection {
        name,
        span,
        pre,
        post,
        connectivity,
        weights,
        sign,
        delay_steps,
        mode,
        current,
        allow_zero,
        rule: None,
    });
    if let Some(pl) = &c.plastic {
        if mode == SynMode::Clamp {
            cx.err(
                Diagnostic::error("E0601", "a clamp projection cannot be plastic")
                    .at(pl.span, "plasticity on clamp synapses")
                    .note("clamp synapses force the post state; they have no weight to learn"),
            );
        }
        let r = rules::instantiate(cx, pl, Some(proj_ix));
        cx.model.projections[proj_ix].rule = r;
    }
}

fn endpoint_error(cx: &mut Cx<'_>, id: &ast::Ident, is_pre: bool) {
    match cx.names.get(&id.name).map(|(k, s)| (*k, *s)) {
        Some((NameKind::Input, _)) if !is_pre => cx.err(
            Diagnostic::error("E0601", format!("`{}` is an input and cannot receive synapses", id.name))
                .at(id.span, "input on the post side")
                .help("inputs go on the left of `->`; the right side must be a population"),
        ),
        Some((NameKind::Pop | NameKind::Input, _)) => {} // it had its own errors
        Some((k, def)) => cx.err(
            Diagnostic::error(
                "E0601",
                format!(
                    "`{}` is {}, not a {}",
                    id.name,
                    k.article(),
                    if is_pre { "population or input" } else { "population" }
                ),
            )
            .at(id.span, "bad projection endpoint")
            .also(def, format!("defined here as {}", k.article())),
        ),
        None => {
            cx.unknown(id, if is_pre { "population or input" } else { "population" }, &[NameKind::Pop, NameKind::Input])
        }
    }
}

fn connectivity(
    cx: &mut Cx<'_>,
    pat: Option<&Call>,
    pre_n: Option<u32>,
    post_n: Option<u32>,
    same: bool,
) -> Option<Connectivity> {
    let Some(c) = pat else { return Some(Connectivity::AllToAll { self_connections: true }) };
    let self_conn =
        |cx: &mut Cx<'_>, a: &Args<'_>| !matches!(a.word(cx, "self", &["true", "false"]).as_deref(), Some("false"));
    match c.func.name.as_str() {
        "all_to_all" => {
            let a = Args::new(cx, c, "`all_to_all`", &["self"], &[]);
            let s = self_conn(cx, &a);
            if !s && !same {
                cx.err(
                    Diagnostic::warning("W0206", "`self = false` has no effect between different populations")
                        .at(c.span, "here"),
                );
            }
            Some(Connectivity::AllToAll { self_connections: s })
        }
        "one_to_one" => {
            Args::new(cx, c, "`one_to_one`", &[], &[]);
            if let (Some(a), Some(b)) = (pre_n, post_n) {
                if a != b {
                    cx.err(
                        Diagnostic::error("E0602", format!("`one_to_one` needs equal sizes, found {a} -> {b}"))
                            .at(c.span, "sizes differ"),
                    );
                    return None;
                }
            }
            Some(Connectivity::OneToOne)
        }
        "fixed_prob" => {
            let a = Args::new(cx, c, "`fixed_prob`", &["p", "seed", "self"], &["p"]);
            let p = a.prob(cx, "p");
            if !a.has("p") {
                a.missing(cx, "p", "0.1");
            }
            let seed = a.seed(cx, "seed").unwrap_or(0);
            let s = self_conn(cx, &a);
            p.map(|p| Connectivity::FixedProb { p, seed, self_connections: s })
        }
        "fixed_in" => {
            let a = Args::new(cx, c, "`fixed_in`", &["n", "seed", "self"], &["n"]);
            let n = a.int(cx, "n", 0, 1 << 24);
            if !a.has("n") {
                a.missing(cx, "n", "80");
            }
            let seed = a.seed(cx, "seed").unwrap_or(0);
            let s = self_conn(cx, &a);
            if let (Some(n), Some(pre)) = (n, pre_n) {
                if n > i64::from(pre) {
                    cx.err(
                        Diagnostic::error(
                            "E0602",
                            format!("`fixed_in(n = {n})` but the source has only {pre} neurons"),
                        )
                        .at(c.span, "too many inputs per neuron"),
                    );
                    return None;
                }
            }
            n.map(|n| Connectivity::FixedInDegree { n: n as u32, seed, self_connections: s })
        }
        "nonzero" => {
            Args::new(cx, c, "`nonzero`", &[], &[]);
            Some(Connectivity::NonZero)
        }
        "list" => {
            let a = Args::new(cx, c, "`list`", &["pairs"], &["pairs"]);
            let Some(e) = a.expr("pairs") else {
                a.missing(cx, "pairs", "[[0, 1], [1, 0]]");
                return None;
            };
            let m = cx.matrix(e, "pairs", Dim::PLAIN)?;
            let mut out = Vec::new();
            for (k, row) in m.iter().enumerate() {
                let span = match &e.kind {
                    ExprKind::List { items, .. } => items[k].span,
                    _ => e.span,
                };
                let ok = row.len() == 2
                    && row.iter().all(|v| v.fract() == 0.0 && *v >= 0.0)
                    && pre_n.is_none_or(|n| row[0] < f64::from(n))
                    && post_n.is_none_or(|n| row.get(1).is_some_and(|&v| v < f64::from(n)));
                if !ok {
                    cx.err(
                        Diagnostic::error(
                            "E0602",
                            "each pair must be `[pre, post]` with indices inside the populations",
                        )
                        .at(span, format!("sizes are {} -> {}", pre_n.unwrap_or(0), post_n.unwrap_or(0))),
                    );
                    return None;
                }
                out.push((row[0] as u32, row[1] as u32));
            }
            Some(Connectivity::List(out))
        }
        other => {
            let opts = ["all_to_all", "one_to_one", "fixed_prob", "fixed_in", "list", "nonzero"];
            let mut d = Diagnostic::error("E0102", format!("unknown connectivity `{other}`"))
                .at(c.func.span, "not a connectivity pattern")
                .note("patterns: all_to_all, one_to_one, fixed_prob, fixed_in, list, nonzero");
            if let Some(s) = super::eval::suggest(other, opts.into_iter()) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            cx.err(d);
            None
        }
    }
}

fn weight_value(cx: &mut Cx<'_>, e: &Expr, unit: Option<VoltUnit>) -> Option<f64> {
    let (v, u) = cx.volt(e, "weight")?;
    if let Some(pu) = unit {
        if pu != u {
            let (want, got) = match pu {
                VoltUnit::Volt => ("a voltage (mV)", "a plain number"),
                VoltUnit::Plain => ("a plain number", "a voltage"),
            };
            cx.err(
                Diagnostic::error(
                    "E0301",
                    format!("unit mismatch: weights onto this population are {want}, found {got}"),
                )
                .at(e.span, format!("this is {got}"))
                .note("a weight has the unit of the post population's voltages"),
            );
            return None;
        }
    }
    Some(v)
}

fn weight_init(
    cx: &mut Cx<'_>,
    e: &Expr,
    unit: Option<VoltUnit>,
    pre_n: Option<u32>,
    post_n: Option<u32>,
) -> Option<WeightInit> {
    match &e.kind {
        ExprKind::Call(c) if c.func.name == "uniform" => {
            let a = Args::new(cx, c, "`uniform`", &["lo", "hi", "seed"], &["lo", "hi"]);
            let lo = a.expr("lo").and_then(|x| weight_value(cx, x, unit));
            let hi = a.expr("hi").and_then(|x| weight_value(cx, x, unit));
            if !a.has("lo") || !a.has("hi") {
                a.missing(cx, if a.has("lo") { "hi" } else { "lo" }, "0.5");
            }
            let seed = a.seed(cx, "seed").unwrap_or(0);
            let (lo, hi) = (lo?, hi?);
            if lo > hi {
                cx.err(Diagnostic::error("E0206", "`uniform(lo, hi)` needs lo <= hi").at(c.span, "empty range"));
                return None;
            }
            Some(WeightInit::Uniform { lo, hi, seed })
        }
        ExprKind::Call(c) if c.func.name == "normal" => {
            let a = Args::new(cx, c, "`normal`", &["mean", "sd", "seed"], &["mean", "sd"]);
            let mean = a.expr("mean").and_then(|x| weight_value(cx, x, unit));
            let sd = a.expr("sd").and_then(|x| weight_value(cx, x, unit));
            if !a.has("mean") || !a.has("sd") {
                a.missing(cx, if a.has("mean") { "sd" } else { "mean" }, "0.1");
            }
            let seed = a.seed(cx, "seed").unwrap_or(0);
            Some(WeightInit::Normal { mean: mean?, sd: sd?.abs(), seed })
        }
        ExprKind::Call(c) if c.func.name == "file" => {
            let (_, rows) = gen::load_file_call(cx, c)?;
            check_matrix_shape(cx, &rows, e.span, pre_n, post_n)?;
            Some(WeightInit::Matrix(rows))
        }
        ExprKind::Call(c) => {
            cx.err(
                Diagnostic::error("E0102", format!("unknown weight initialisation `{}`", c.func.name))
                    .at(c.func.span, "not a weight initialisation")
                    .note("use a number, uniform(lo, hi), normal(mean, sd), file(\"w.npy\") or a matrix [[...]]"),
            );
            None
        }
        ExprKind::List { items, .. } if items.first().is_some_and(|i| matches!(i.kind, ExprKind::List { .. })) => {
            let dim = if unit == Some(VoltUnit::Volt) { Dim::VOLT } else { Dim::PLAIN };
            let rows = cx.matrix(e, "weight", dim)?;
            check_matrix_shape(cx, &rows, e.span, pre_n, post_n)?;
            Some(WeightInit::Matrix(rows))
        }
        _ => weight_value(cx, e, unit).map(WeightInit::Constant),
    }
}

fn check_matrix_shape(
    cx: &mut Cx<'_>,
    rows: &[Vec<f64>],
    span: Span,
    pre_n: Option<u32>,
    post_n: Option<u32>,
) -> Option<()> {
    let (r, c) = (rows.len(), rows.first().map_or(0, |x| x.len()));
    if let (Some(a), Some(b)) = (pre_n, post_n) {
        if r != a as usize || c != b as usize {
            cx.err(
                Diagnostic::error(
                    "E0602",
                    format!("weight matrix is {r} x {c}, the projection is {a} x {b} (pre x post)"),
                )
                .at(span, "wrong shape"),
            );
            return None;
        }
    }
    let max = rows.iter().flatten().fold(0.0f64, |m, &v| m.max(v.abs()));
    let lsb = max / f64::from(cx.spec.weight_max().max(1) as u32);
    if let Some(v) = rows.iter().flatten().find(|&&v| v != 0.0 && v.abs() < lsb / 2.0) {
        cx.err(
            Diagnostic::warning("W0501", format!("weight {v} rounds to 0 at {} bits", cx.spec.formats.weight_bits))
                .at(span, format!("the largest weight is {max}; one weight LSB is {lsb:.3e}")),
        );
    }
    Some(())
}

/// `record kind(x) [, ...] [every T]`
pub fn check_record(cx: &mut Cx<'_>, r: &ast::Record) {
    for p in &r.probes {
        let every = match &p.every {
            Some(e) => cx.steps(e, "every", 1).map_or(1, |s| s.min(u64::from(u32::MAX)) as u32),
            None => 1,
        };
        let kinds = ["spikes", "v", "u", "output", "trace0", "trace1", "weights", "signal"];
        let what = match p.kind.name.as_str() {
            k @ ("spikes" | "v" | "u" | "output" | "trace0" | "trace1") => {
                if p.post.is_some() {
                    cx.err(
                        Diagnostic::error("E0205", format!("`{k}(...)` records a population, not a projection"))
                            .at(p.span, "here"),
                    );
                    continue;
                }
                let Some(&pop) = cx.pop_ix.get(&p.subject.name) else {
                    if !cx.names.contains_key(&p.subject.name) {
                        cx.unknown(&p.subject, "population", &[NameKind::Pop]);
                    } else if cx.names.get(&p.subject.name).is_some_and(|(k, _)| *k != NameKind::Pop) {
                        let k = cx.global_article(&p.subject.name).unwrap_or("a name");
                        cx.err(
                            Diagnostic::error("E0103", format!("`{}` is {k}, not a population", p.subject.name))
                                .at(p.subject.span, "a population is expected"),
                        );
                    }
                    continue;
                };
                use nm_isa::program::StateVar;
                match k {
                    "spikes" => RecordKind::Spikes { pop },
                    "v" => RecordKind::State { pop, var: StateVar::V },
                    "u" => RecordKind::State { pop, var: StateVar::U },
                    "output" => RecordKind::State { pop, var: StateVar::Y },
                    "trace0" => RecordKind::State { pop, var: StateVar::Trace0 },
                    _ => RecordKind::State { pop, var: StateVar::Trace1 },
                }
            }
            "weights" => {
                let found: Vec<usize> = match &p.post {
                    Some(b) => cx
                        .model
                        .projections
                        .iter()
                        .enumerate()
                        .filter(|(_, pr)| {
                            let pre_name = match pr.pre {
                                Endpoint::Pop(i) => &cx.model.populations[i].name,
                                Endpoint::Input(i) => &cx.model.inputs[i].name,
                            };
                            *pre_name == p.subject.name && cx.model.populations[pr.post].name == b.name
                        })
                        .map(|(i, _)| i)
                        .collect(),
                    None => cx.model.projection(&p.subject.name).into_iter().collect(),
                };
                match found.as_slice() {
                    [one] => RecordKind::Weights { proj: *one },
                    [] => {
                        let text = match &p.post {
                            Some(b) => format!("{} -> {}", p.subject.name, b.name),
                            None => p.subject.name.clone(),
                        };
                        cx.err(
                            Diagnostic::error("E0102", format!("no projection `{text}`"))
                                .at(p.span, "no such projection")
                                .help("write `weights(pre -> post)` or name the projection: `connect name: pre -> post ...`"),
                        );
                        continue;
                    }
                    _ => {
                        cx.err(
                            Diagnostic::error("E0103", "more than one projection matches")
                                .at(p.span, "ambiguous")
                                .help("name the projections (`connect name: a -> b`) and record `weights(name)`"),
                        );
                        continue;
                    }
                }
            }
            "signal" => match cx.signal_ix.get(&p.subject.name) {
                Some(&s) => RecordKind::Signal { signal: s },
                None => {
                    if !cx.names.contains_key(&p.subject.name) {
                        cx.unknown(&p.subject, "signal", &[NameKind::Signal]);
                    }
                    continue;
                }
            },
            other => {
                let mut d = Diagnostic::error("E0102", format!("unknown recording `{other}`"))
                    .at(p.kind.span, "not a recording kind")
                    .note(format!("recordings: {}", kinds.join(", ")));
                if let Some(s) = super::eval::suggest(other, kinds.into_iter()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.err(d);
                continue;
            }
        };
        cx.model.recordings.push(Recording { what, every_steps: every, span: p.span });
    }
}
