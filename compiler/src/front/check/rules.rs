//! Learning rules: binding a `rule` block's parameters at a `plastic` use, resolving its names to
//! the learning engine's local quantities (the **locality** check), units, and a **range
//! analysis** of every term against the learning register and the weight's precision.
//!
//! The numeric model of the analysis (documented in `docs/language.md`): rule arithmetic runs in
//! the learning engine's Q15.16 registers, values in natural units (`w` in the weight unit,
//! traces in impulse units, spikes 0/1, signals as integers). A term whose range reaches
//! ±32768 saturates (error E0503); a constant that is non-zero but below 2^-16 rounds to zero
//! (E0501). A weight update whose largest magnitude is below half an accumulator LSB (the weight
//! LSB divided by 2^(accumulator_bits − weight_bits − 1)) never changes the weight with
//! round-to-nearest (E0504; a warning with `round stochastic`).

use super::eval::{suggest, Dim, Val};
use super::{check_tau, Cx, NameKind};
use crate::front::ast::{self, AssignOp, BinOp, Call, Expr, ExprKind, RuleStmtKind, Side, TriggerKind};
use crate::front::diag::Diagnostic;
use crate::front::model::*;
use crate::front::span::Span;
use nm_isa::fixed_point::Rounding;
use nm_isa::learn::{Dst, Src};
use std::collections::HashMap;

/// Largest magnitude a learning register holds (Q15.16).
pub const REG_MAX: f64 = 32768.0;
/// Resolution of a learning register.
pub const REG_LSB: f64 = 1.0 / 65536.0;
/// Deepest chain of `let`s referring to `let`s.
const MAX_LET_DEPTH: u32 = 32;

/// A lowered term: expression, unit, value range, and where it came from.
#[derive(Clone, Debug)]
struct L {
    e: RExpr,
    dim: Dim,
    lo: f64,
    hi: f64,
    span: Span,
    /// Already reported as out of range (report only the innermost term).
    flagged: bool,
}

impl L {
    fn konst(&self) -> Option<f64> {
        match self.e {
            RExpr::Const(c) => Some(c),
            _ => None,
        }
    }
}

/// What a rule body sees while it is lowered.
struct Env<'r> {
    rule: &'r str,
    params: HashMap<String, (f64, Dim)>,
    lets: HashMap<String, &'r Expr>,
    /// Trace name → (side, index).
    traces: HashMap<String, (Side, usize)>,
    ranges: HashMap<Src, (f64, f64)>,
    let_stack: Vec<String>,
    /// Unit of `w` (the post population's voltage unit); `None` when checked without a projection.
    w_dim: Option<Dim>,
    /// Unit of `post.v` and `post.u`.
    v_dim: Dim,
    /// Expression nodes this rule may still lower (`let`s can nest, and hostile ones could
    /// otherwise expand exponentially).
    budget: usize,
}

/// Most expression nodes one rule instance may expand to.
const MAX_RULE_NODES: usize = 20_000;

/// Scale from SI to the analysis unit: voltages count in mV (so `0.6 mV` is 0.6), the rest as is.
fn ascale(d: Dim) -> f64 {
    1000f64.powi(i32::from(d.volt))
}

/// Instantiate the rule named by a `plastic` clause for projection `proj` (or with no projection
/// context). Returns the index in `model.rules`.
pub fn instantiate(cx: &mut Cx<'_>, pl: &Call, proj: Option<usize>) -> Option<usize> {
    let name = &pl.func.name;
    let Some(def) = cx.rule_defs.get(name).copied() else {
        match cx.names.get(name).map(|(k, s)| (*k, *s)) {
            Some((k, def)) if k != NameKind::Rule => cx.err(
                Diagnostic::error("E0103", format!("`{name}` is {}, not a rule", k.article()))
                    .at(pl.func.span, "a rule is expected after `plastic`")
                    .also(def, format!("defined here as {}", k.article())),
            ),
            _ => cx.unknown(&pl.func, "rule", &[NameKind::Rule]),
        }
        return None;
    };
    cx.used_rules.insert(name.clone());
    let params = bind_params(cx, def, Some(pl))?;
    build(cx, def, params, proj)
}

/// A rule no projection uses: warn, and check its body with the default parameters.
pub fn check_unused(cx: &mut Cx<'_>, def: &ast::Rule) {
    cx.err(
        Diagnostic::warning("W0201", format!("rule `{}` is never used", def.name.name))
            .at(def.name.span, "no `plastic` clause refers to it"),
    );
    if def.params.iter().all(|p| p.default.is_some()) {
        if let Some(params) = bind_params(cx, def, None) {
            let n = cx.model.rules.len();
            build(cx, def, params, None);
            cx.model.rules.truncate(n);
            cx.rule_instances.retain(|_, &mut v| v < n);
        }
    }
}

fn bind_params(cx: &mut Cx<'_>, def: &ast::Rule, call: Option<&Call>) -> Option<Vec<(String, f64, Dim)>> {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for p in &def.params {
        if let Some(first) = seen.insert(&p.name.name, p.name.span) {
            cx.err(
                Diagnostic::error("E0101", format!("parameter `{}` declared twice", p.name.name))
                    .at(p.name.span, "second declaration")
                    .also(first, "first declaration"),
            );
        }
    }
    let mut given: Vec<Option<&Expr>> = vec![None; def.params.len()];
    let mut ok = true;
    if let Some(call) = call {
        let mut pos = 0;
        for a in &call.args {
            let k = match &a.name {
                Some(n) => match def.params.iter().position(|p| p.name.name == n.name) {
                    Some(k) => k,
                    None => {
                        let mut d = Diagnostic::error(
                            "E0201",
                            format!("rule `{}` has no parameter `{}`", def.name.name, n.name),
                        )
                        .at(n.span, "unknown parameter")
                        .also(def.name.span, "rule defined here");
                        if let Some(s) = suggest(&n.name, def.params.iter().map(|p| p.name.name.as_str())) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        cx.err(d);
                        ok = false;
                        continue;
                    }
                },
                None => {
                    if pos >= def.params.len() {
                        cx.err(
                            Diagnostic::error(
                                "E0204",
                                format!(
                                    "rule `{}` takes {} parameter{}, found more",
                                    def.name.name,
                                    def.params.len(),
                                    if def.params.len() == 1 { "" } else { "s" }
                                ),
                            )
                            .at(a.span, "extra argument")
                            .also(def.name.span, "rule defined here"),
                        );
                        ok = false;
                        continue;
                    }
                    pos += 1;
                    pos - 1
                }
            };
            if given[k].is_some() {
                cx.err(
                    Diagnostic::error("E0203", format!("parameter `{}` given twice", def.params[k].name.name))
                        .at(a.span, "second value"),
                );
                ok = false;
                continue;
            }
            given[k] = Some(&a.value);
        }
    }
    let mut out = Vec::new();
    for (p, g) in def.params.iter().zip(given) {
        let Some(e) = g.or(p.default.as_ref()) else {
            let at = call.map_or(def.name.span, |c| c.span);
            cx.err(
                Diagnostic::error("E0202", format!("rule `{}` needs a value for `{}`", def.name.name, p.name.name))
                    .at(at, format!("`{}` missing", p.name.name))
                    .also(p.span, "declared without a default here"),
            );
            ok = false;
            continue;
        };
        match cx.eval(e) {
            Some(Val::Num { v, dim, .. }) => out.push((p.name.name.clone(), v, dim)),
            Some(other) => {
                cx.err(
                    Diagnostic::error("E0205", format!("parameter `{}` must be a number", p.name.name))
                        .at(e.span, format!("found {}", super::eval::val_kind(&other))),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn payload_range(cx: &Cx<'_>, e: Endpoint) -> (f64, f64) {
    match e {
        Endpoint::Pop(p) => match &cx.model.populations[p].neuron {
            Neuron::Lif { .. } => (0.0, 1.0),
            Neuron::Stochastic { .. } => (-1.0, 1.0),
            Neuron::Rate { out_range, .. } => *out_range,
        },
        Endpoint::Input(i) => match &cx.model.inputs[i].kind {
            InputKind::Patterns { rows, encoding: Encoding::Graded { scale }, .. } => {
                let (lo, hi) = rows.iter().flatten().fold((0.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
                let (x, y) = (lo * scale, hi * scale);
                (x.min(y), x.max(y))
            }
            InputKind::Current { values } => values.iter().fold((0.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v))),
            _ => (0.0, 1.0),
        },
    }
}

fn post_ranges(cx: &Cx<'_>, p: usize) -> ((f64, f64), (f64, f64)) {
    match &cx.model.populations[p].neuron {
        Neuron::Lif { v_th, v_reset, v_rest, .. } => {
            let s = if cx.model.populations[p].volt_unit == VoltUnit::Volt { 1000.0 } else { 1.0 };
            let m = 2.0 * s * (v_th.abs() + v_reset.abs() + v_rest.abs()).max(1e-9);
            ((0.0, 1.0), (-m, m))
        }
        Neuron::Stochastic { .. } => ((0.0, 1.0), (-16.0, 16.0)),
        Neuron::Rate { out_range, .. } => (*out_range, (-16.0, 16.0)),
    }
}

fn build(cx: &mut Cx<'_>, def: &ast::Rule, params: Vec<(String, f64, Dim)>, proj: Option<usize>) -> Option<usize> {
    let rule_name = def.name.name.clone();
    let mut env = Env {
        rule: &def.name.name,
        params: params.iter().map(|(n, v, d)| (n.clone(), (*v, *d))).collect(),
        lets: HashMap::new(),
        traces: HashMap::new(),
        ranges: HashMap::new(),
        let_stack: Vec::new(),
        w_dim: None,
        v_dim: Dim::PLAIN,
        budget: MAX_RULE_NODES,
    };
    if let Some(p) = proj {
        let post = cx.model.projections[p].post;
        let d = if cx.model.populations[post].volt_unit == VoltUnit::Volt { Dim::VOLT } else { Dim::PLAIN };
        env.w_dim = Some(d);
        env.v_dim = d;
    }
    let errors_before = cx.diags.iter().filter(|d| d.is_error()).count();
    let f = cx.spec.formats;
    // Local names: params, traces, lets must not clash.
    let mut local: HashMap<String, Span> = def.params.iter().map(|p| (p.name.name.clone(), p.name.span)).collect();
    let mut clash = |cx: &mut Cx<'_>, id: &ast::Ident| {
        if let Some(first) = local.get(&id.name) {
            cx.err(
                Diagnostic::error("E0101", format!("`{}` is defined twice in rule `{}`", id.name, def.name.name))
                    .at(id.span, "second definition")
                    .also(*first, "first definition"),
            );
            false
        } else {
            local.insert(id.name.clone(), id.span);
            true
        }
    };
    // Fixed ranges.
    let (xg, yg, yv) = match proj {
        Some(p) => {
            let pr = &cx.model.projections[p];
            let (yg, yv) = post_ranges(cx, pr.post);
            (payload_range(cx, pr.pre), yg, yv)
        }
        None => ((-1.0, 1.0), (-1.0, 1.0), (-16.0, 16.0)),
    };
    let tag_max = if f.tag_bits > 0 { ((1i64 << (f.tag_bits - 1)) - 1) as f64 } else { 0.0 };
    for (s, r) in [
        (Src::Xs, (0.0, 1.0)),
        (Src::Ys, (0.0, 1.0)),
        (Src::LastPre, (0.0, 1.0)),
        (Src::Rand, (-1.0, 1.0)),
        (Src::RandU, (0.0, 1.0)),
        (Src::Xg, xg),
        (Src::Yg, yg),
        (Src::Yv, yv),
        (Src::Yu, yv),
        (Src::Tag, (-tag_max - 1.0, tag_max)),
    ] {
        env.ranges.insert(s, r);
    }
    for (k, sig) in cx.model.signals.iter().enumerate() {
        let vals: Vec<i32> = match &sig.schedule {
            Schedule::Constant(v) => vec![*v],
            Schedule::Cycle { values, .. } => values.clone(),
            Schedule::Random { one, zero, .. } => vec![*one, *zero],
            Schedule::List(l) => l.iter().map(|&(_, v)| v).chain(std::iter::once(0)).collect(),
        };
        let lo = vals.iter().copied().min().unwrap_or(0);
        let hi = vals.iter().copied().max().unwrap_or(0);
        env.ranges.insert(Src::Sig(k as u8), (f64::from(lo), f64::from(hi)));
    }
    // Pass 1: traces, lets, bounds, rounding, normalisation.
    let mut pre_traces: Vec<Trace> = Vec::new();
    let mut post_traces: Vec<Trace> = Vec::new();
    let mut bounds: Option<(f64, f64, Span)> = None;
    let mut tag_bounds: Option<(f64, f64)> = None;
    let mut rounding = Rounding::Nearest;
    let mut norm: Option<(NormKind, f64, Option<ast::Trigger>, Span)> = None;
    for st in &def.body {
        match &st.kind {
            RuleStmtKind::Trace { name, args, side, impulse } => {
                if !clash(cx, name) {
                    continue;
                }
                let call = Call { func: name.clone(), args: args.clone(), span: st.span };
                let a = super::eval::Args::new(cx, &call, "`trace`", &["tau", "decay"], &["tau"]);
                let tau = a.expr("tau").and_then(|e| lower_const(cx, &mut env, e, Dim::TIME, "tau"));
                if !a.has("tau") && !a.has("decay") {
                    a.missing(cx, "tau", "20 ms");
                }
                let tau_span = a.expr("tau").map_or(st.span, |e| e.span);
                let mut tau = tau.map(|t| if t.is_infinite() { None } else { Some(t) });
                let mut code = tau.map_or(0, |t| check_tau(cx, t, tau_span, "the trace's `tau`"));
                // An explicit decay code instead of a time constant.
                if let Some(e) = a.expr("decay") {
                    if a.has("tau") {
                        cx.err(Diagnostic::error("E0206", "give `tau` or `decay`, not both").at(e.span, "the code"));
                    } else if let Some(c) = cx.int(e, "decay", 0, 1i64 << f.decay_bits) {
                        code = c as u32;
                        let keep = 1.0 - f64::from(code) / f64::from(1u32 << f.decay_bits);
                        tau = Some(if code == 0 {
                            None
                        } else if keep <= 0.0 {
                            Some(0.0)
                        } else {
                            Some(-cx.dt / keep.ln())
                        });
                    }
                }
                let imp = lower_const(cx, &mut env, impulse, Dim::PLAIN, "impulse");
                let tmax = nm_isa::fixed_point::trace_max(f.trace_int_bits, f.trace_frac_bits) as f64
                    / f64::from(1u32 << f.trace_frac_bits);
                let tlsb = 1.0 / f64::from(1u32 << f.trace_frac_bits);
                if let Some(i) = imp {
                    if i < 0.0 || i > tmax || (i > 0.0 && i < tlsb / 2.0) {
                        cx.err(
                            Diagnostic::error("E0501", format!("trace impulse {i} is not representable in the chip's trace format"))
                                .at(impulse.span, format!("traces are unsigned {}.{} fixed point: 0 or [{tlsb}, {tmax}]", f.trace_int_bits, f.trace_frac_bits))
                                .help("scale the trace and its uses, e.g. impulse 1 and multiply by the factor in the handler"),
                        );
                    }
                }
                let list = if *side == Side::Pre { &mut pre_traces } else { &mut post_traces };
                if list.len() >= 2 {
                    cx.err(
                        Diagnostic::error(
                            "E0505",
                            format!(
                                "too many {} traces: the chip keeps two per neuron",
                                if *side == Side::Pre { "pre" } else { "post" }
                            ),
                        )
                        .at(name.span, "a third trace"),
                    );
                    // Known to later statements, so its uses are not reported again.
                    env.traces.insert(name.name.clone(), (*side, 1));
                    continue;
                }
                let idx = list.len();
                let impulse = imp.unwrap_or(0.0);
                let keep = 1.0 - f64::from(code) / f64::from(1u32 << f.decay_bits);
                let top = if keep < 1.0 { (impulse / (1.0 - keep)).min(tmax) } else { tmax };
                let src = match (side, idx) {
                    (Side::Pre, 0) => Src::X0,
                    (Side::Pre, _) => Src::X1,
                    (Side::Post, 0) => Src::Y0,
                    (Side::Post, _) => Src::Y1,
                };
                env.ranges.insert(src, (0.0, top.max(impulse.min(tmax))));
                env.traces.insert(name.name.clone(), (*side, idx));
                list.push(Trace { name: name.name.clone(), tau: tau.flatten(), decay_code: code, impulse });
            }
            RuleStmtKind::Let { name, value } => {
                if clash(cx, name) {
                    env.lets.insert(name.name.clone(), value);
                }
            }
            RuleStmtKind::Bounds { var, lo, hi } if var.name == "tag" => {
                let l = lower_const(cx, &mut env, lo, Dim::PLAIN, "bounds");
                let h = lower_const(cx, &mut env, hi, Dim::PLAIN, "bounds");
                if let (Some(l), Some(h)) = (l, h) {
                    let tmax = if f.tag_bits > 0 { ((1i64 << (f.tag_bits - 1)) - 1) as f64 } else { 0.0 };
                    if l >= h {
                        cx.err(
                            Diagnostic::error("E0206", format!("empty bounds [{l}, {h}]"))
                                .at(st.span, "lower bound must be below the upper"),
                        );
                    } else if l < -tmax - 1.0 || h > tmax || l.fract() != 0.0 || h.fract() != 0.0 {
                        cx.err(
                            Diagnostic::error(
                                "E0501",
                                format!("tag bounds [{l}, {h}] do not fit the chip's {}-bit tags", f.tag_bits),
                            )
                            .at(st.span, format!("tags hold whole numbers in [{}, {tmax}]", -tmax - 1.0)),
                        );
                    } else {
                        tag_bounds = Some((l, h));
                        env.ranges.insert(Src::Tag, (l, h));
                    }
                }
            }
            RuleStmtKind::Bounds { var, .. } if var.name != "w" => cx.err(
                Diagnostic::error("E0403", format!("`bounds` applies to `w` or `tag`, not `{}`", var.name))
                    .at(var.span, "not a synapse variable"),
            ),
            RuleStmtKind::Bounds { lo, hi, .. } => {
                if let Some((_, _, first)) = bounds {
                    cx.err(
                        Diagnostic::error("E0104", "more than one `bounds` statement")
                            .at(st.span, "second")
                            .also(first, "first"),
                    );
                    continue;
                }
                let bd = env.w_dim.unwrap_or(Dim::PLAIN);
                let l = lower_const(cx, &mut env, lo, bd, "bounds");
                let h = lower_const(cx, &mut env, hi, bd, "bounds");
                if let (Some(l), Some(h)) = (l, h) {
                    if l >= h {
                        cx.err(
                            Diagnostic::error("E0206", format!("empty bounds [{l}, {h}]"))
                                .at(st.span, "lower bound must be below the upper"),
                        );
                    } else {
                        bounds = Some((l, h, st.span));
                    }
                }
            }
            RuleStmtKind::Round { mode } => match mode.name.as_str() {
                "stochastic" => rounding = Rounding::Stochastic,
                "nearest" => rounding = Rounding::Nearest,
                other => cx.err(
                    Diagnostic::error("E0206", format!("unknown rounding `{other}`"))
                        .at(mode.span, "expected `stochastic` or `nearest`"),
                ),
            },
            RuleStmtKind::Normalize { norm: k, value, trigger } => {
                let kind = match k.name.as_str() {
                    "max" => Some(NormKind::Max),
                    "sum" => Some(NormKind::Sum),
                    "l2" => Some(NormKind::L2),
                    other => {
                        cx.err(
                            Diagnostic::error("E0206", format!("unknown normalisation `{other}`"))
                                .at(k.span, "expected `max`, `sum` or `l2`"),
                        );
                        None
                    }
                };
                let nd = env.w_dim.unwrap_or(Dim::PLAIN);
                let v = lower_const(cx, &mut env, value, nd, "normalize");
                if let Some(v) = v {
                    if v <= 0.0 {
                        cx.err(
                            Diagnostic::error("E0206", "the normalised value must be positive")
                                .at(value.span, format!("{v}")),
                        );
                    }
                }
                if let (Some(kind), Some(v)) = (kind, v) {
                    if norm.is_some() {
                        cx.err(Diagnostic::error("E0104", "more than one `normalize` statement").at(st.span, "second"));
                    }
                    norm = Some((kind, v, *trigger, st.span));
                }
            }
            RuleStmtKind::Handler { .. } => {}
        }
    }
    // Bounds: declared, or from the initial weights.
    let (wlo, whi) = match (bounds, proj) {
        (Some((l, h, span)), Some(p)) => {
            if !cx.explicit_sign.contains(&p) {
                let (il, ih) = cx.model.projections[p].weights.range();
                let (l2, h2) = (l.min(il), h.max(ih));
                cx.model.projections[p].sign = if l2 >= 0.0 {
                    Sign::Excitatory
                } else if h2 <= 0.0 {
                    Sign::Inhibitory
                } else {
                    Sign::Mixed
                };
            }
            let pr = &cx.model.projections[p];
            let bad = match pr.sign {
                Sign::Excitatory => l < 0.0,
                Sign::Inhibitory => h > 0.0,
                Sign::Mixed => false,
            };
            if bad {
                cx.err(
                    Diagnostic::error("E0206", format!("bounds [{l}, {h}] cross the sign of projection `{}`", pr.name))
                        .at(span, "these bounds")
                        .note(format!("the projection is declared {}", format!("{:?}", pr.sign).to_lowercase())),
                );
            }
            (l, h)
        }
        (Some((l, h, _)), None) => (l, h),
        (None, Some(p)) => {
            let (l, h) = cx.model.projections[p].weights.range();
            let (l, h) = (l.min(0.0), h.max(0.0));
            if l == h {
                cx.err(
                    Diagnostic::error("E0202", format!("rule `{}` needs `bounds w in [lo, hi]`", def.name.name))
                        .at(def.name.span, "no bounds, and the initial weights are all 0")
                        .note("the chip scales weights so that the bounds fill the weight register"),
                );
                (0.0, 1.0)
            } else {
                (l, h)
            }
        }
        (None, None) => (0.0, 1.0),
    };
    let ws = ascale(env.w_dim.unwrap_or(Dim::PLAIN));
    env.ranges.insert(Src::W, (wlo * ws, whi * ws));
    env.ranges.insert(Src::Wr, (wlo * ws, whi * ws));
    // Pass 2: handlers.
    let wmax = f.weight_bits;
    let weight_lsb = ws * wlo.abs().max(whi.abs()) / f64::from((1u32 << wmax) - 1);
    let frac = nm_isa::fixed_point::accumulator_frac_bits(f.accumulator_bits, f.weight_bits);
    let acc_lsb = weight_lsb / f64::from(1u32 << frac.min(30));
    let mut handlers: Vec<Handler> = Vec::new();
    let mut seen_trig: HashMap<TriggerKind, Span> = HashMap::new();
    for st in &def.body {
        let RuleStmtKind::Handler { trigger, body } = &st.kind else { continue };
        if let Some(first) = seen_trig.insert(trigger.kind, trigger.span) {
            cx.err(
                Diagnostic::error("E0104", "two handlers for the same event")
                    .at(trigger.span, "second handler")
                    .also(first, "first handler")
                    .help("put all updates of one event in one handler: `on post { w += a; tag = b }`"),
            );
            continue;
        }
        if trigger.kind == TriggerKind::Epoch && cx.model.sim.epoch_steps == 0 {
            cx.err(
                Diagnostic::error("E0202", "an `every epoch` handler needs an epoch length")
                    .at(trigger.span, "no epochs defined")
                    .help("add `epoch = 1000 steps` to the `sim` block"),
            );
        }
        let mut updates = Vec::new();
        for u in body {
            let dst = match u.target.name.as_str() {
                "w" => Dst::W,
                "tag" => {
                    if f.tag_bits == 0 {
                        cx.err(
                            Diagnostic::error("E0505", "this chip has no synapse tags (`tag_bits = 0`)")
                                .at(u.target.span, "tag written here"),
                        );
                    }
                    Dst::Tag
                }
                other => {
                    let why = if env.traces.contains_key(other) {
                        format!("`{other}` is a trace: it changes only by its `trace` statement")
                    } else if env.params.contains_key(other) || env.lets.contains_key(other) {
                        format!("`{other}` is a constant of the rule")
                    } else {
                        format!("`{other}` is not a synapse variable")
                    };
                    cx.err(
                        Diagnostic::error("E0402", format!("a rule cannot write `{other}`"))
                            .at(u.target.span, why)
                            .note("a handler may write only the synapse's own weight `w` and tag `tag`"),
                    );
                    continue;
                }
            };
            let Some(l) = lower(cx, &mut env, &u.value) else { continue };
            let want = if dst == Dst::W && u.op != AssignOp::Mul { env.w_dim } else { Some(Dim::PLAIN) };
            if let Some(want) = want {
                if l.dim != want {
                    let mut d = Diagnostic::error(
                        "E0301",
                        format!(
                            "unit mismatch: `{} {}` needs {}, found {}",
                            u.target.name,
                            u.op.symbol(),
                            want.describe(),
                            l.dim.describe()
                        ),
                    )
                    .at(u.value.span, format!("this is {}", l.dim.describe()));
                    d = if want == Dim::VOLT {
                        d.note("the weights of this projection are voltages: write the rule's amplitudes in mV")
                    } else {
                        d.note("rule arithmetic is on plain numbers here; a time or rate must be divided out (e.g. `dt / tau`)")
                    };
                    cx.err(d);
                    continue;
                }
            }
            if let Some(c) = l.konst() {
                check_leaf(cx, c * ascale(l.dim), l.span);
            }
            if dst == Dst::W {
                let (dlo, dhi) = match u.op {
                    AssignOp::Add => (l.lo, l.hi),
                    AssignOp::Sub => (-l.hi, -l.lo),
                    AssignOp::Mul => mul_iv((wlo * ws, whi * ws), (l.lo - 1.0, l.hi - 1.0)),
                    AssignOp::Set => (0.0, 0.0),
                };
                let dmax = dlo.abs().max(dhi.abs());
                if dmax > 0.0 && dmax.is_finite() && weight_lsb > 0.0 && dmax < acc_lsb / 2.0 {
                    let ratio = dmax / weight_lsb;
                    let where_ = if frac == 0 {
                        format!(
                            "the {}-bit weight is written directly (accumulator_bits = {} leaves no bits below the weight LSB)",
                            f.weight_bits, f.accumulator_bits
                        )
                    } else {
                        format!(
                            "the {}-bit accumulator keeps {frac} bits below the weight LSB (resolution {:.3e} LSB)",
                            f.accumulator_bits,
                            1.0 / f64::from(1u32 << frac.min(30))
                        )
                    };
                    let d = if rounding == Rounding::Stochastic {
                        Diagnostic::warning(
                            "W0504",
                            format!("precision: updates of at most {ratio:.2e} weight LSB rely on stochastic rounding"),
                        )
                        .at(u.value.span, "far below one LSB")
                        .note(where_)
                        .note("learning will be slow and noisy; a wider accumulator is better")
                    } else {
                        Diagnostic::error("E0504", format!("precision: this update is at most {ratio:.2e} of one weight LSB and always rounds to 0"))
                            .at(u.value.span, format!("changes w by at most {ratio:.2e} LSB"))
                            .note(where_)
                            .note(format!("with round-to-nearest the weights of rule `{}` never change", env.rule))
                            .help("widen the accumulator (`accumulator_bits = 16` in `target`), add `round stochastic` to the rule, or raise the learning rate")
                    };
                    cx.err(d);
                } else if frac == 0 && dmax > 0.0 && dmax < weight_lsb && rounding == Rounding::Nearest {
                    cx.err(
                        Diagnostic::warning("W0504", "precision: updates below one LSB of a directly written weight")
                            .at(u.value.span, format!("at most {:.2} LSB", dmax / weight_lsb))
                            .note(
                                "every update is rounded to a whole LSB; learning follows the rounding, not the rule",
                            ),
                    );
                }
            }
            let op = match u.op {
                AssignOp::Set => UpdateOp::Set,
                AssignOp::Add => UpdateOp::Add,
                AssignOp::Sub => UpdateOp::Sub,
                AssignOp::Mul => UpdateOp::Mul,
            };
            updates.push(Update { dst, op, value: l.e });
        }
        let trig = match trigger.kind {
            TriggerKind::Pre => Trigger::Pre,
            TriggerKind::Post => Trigger::Post,
            TriggerKind::Step => Trigger::Step,
            TriggerKind::Epoch => Trigger::Epoch,
        };
        handlers.push(Handler { trigger: trig, updates });
    }
    let normalize = norm.map(|(kind, value, trig, span)| {
        let trigger = match trig.map(|t| t.kind) {
            Some(TriggerKind::Pre) => {
                cx.err(
                    Diagnostic::error(
                        "E0206",
                        "normalisation runs per post neuron: use `on post`, `every step` or `every epoch`",
                    )
                    .at(span, "`on pre` is per synapse"),
                );
                Trigger::Pre
            }
            Some(TriggerKind::Step) => Trigger::Step,
            Some(TriggerKind::Epoch) => Trigger::Epoch,
            _ => Trigger::Post,
        };
        if kind == NormKind::Max && (value > whi.abs().max(wlo.abs()) * 1.000001) {
            cx.err(
                Diagnostic::error(
                    "E0206",
                    format!("`normalize max(w) = {value}` lies outside the bounds [{wlo}, {whi}]"),
                )
                .at(span, "the weights could never reach it"),
            );
        }
        Normalize { kind, value, trigger }
    });
    // Size of the learning program: a load or op per expression node, a store per update,
    // about six instructions per normalisation (reduce, divide, rescale).
    fn nodes(e: &RExpr) -> usize {
        match e {
            RExpr::Const(_) | RExpr::Load(_) => 1,
            RExpr::Neg(a) | RExpr::Abs(a) => 1 + nodes(a),
            RExpr::Bin(_, a, b) | RExpr::Min(a, b) | RExpr::Max(a, b) => 1 + nodes(a) + nodes(b),
        }
    }
    let instrs: usize = handlers.iter().flat_map(|h| &h.updates).map(|u| nodes(&u.value) + 2).sum::<usize>()
        + if normalize.is_some() { 6 } else { 0 };
    let limit = cx.spec.core.max_learning_instrs as usize;
    if instrs > limit {
        cx.err(
            Diagnostic::error(
                "E0505",
                format!("rule `{}` needs about {instrs} learning instructions; a core holds {limit}", def.name.name),
            )
            .at(def.name.span, "this rule is too large for the learning engine")
            .help("split it, or simplify its expressions"),
        );
    }
    let errors_now = cx.diags.iter().filter(|d| d.is_error()).count();
    if errors_now > errors_before {
        return None;
    }
    let key = (rule_name.clone(), params.iter().map(|(_, v, _)| v.to_bits()).collect::<Vec<_>>());
    if let Some(&ix) = cx.rule_instances.get(&key) {
        return Some(ix);
    }
    let count = cx.model.rules.iter().filter(|r| r.source == rule_name).count();
    let name = if count == 0 { rule_name.clone() } else { format!("{rule_name}#{}", count + 1) };
    cx.model.rules.push(Rule {
        name,
        span: def.name.span,
        source: rule_name,
        params: params.into_iter().map(|(n, v, _)| (n, v)).collect(),
        pre_traces,
        post_traces,
        handlers,
        bounds: (wlo, whi),
        tag_bounds,
        normalize,
        rounding,
    });
    let ix = cx.model.rules.len() - 1;
    cx.rule_instances.insert(key, ix);
    Some(ix)
}

/// Lower an expression that must fold to a constant of dimension `dim` (trace `tau`, bounds, ...).
fn lower_const(cx: &mut Cx<'_>, env: &mut Env<'_>, e: &Expr, dim: Dim, what: &str) -> Option<f64> {
    // `inf` is allowed for a time constant.
    if dim == Dim::TIME && e.as_name().is_some_and(|n| n.name == "inf") {
        return Some(f64::INFINITY);
    }
    let l = lower(cx, env, e)?;
    let Some(c) = l.konst() else {
        cx.err(
            Diagnostic::error("E0205", format!("`{what}` must be a constant"))
                .at(e.span, "depends on a local quantity")
                .note("only parameters, constants and numbers may appear here"),
        );
        return None;
    };
    if l.dim != dim {
        let mut d = Diagnostic::error(
            "E0301",
            format!("unit mismatch: `{what}` is {}, found {}", dim.describe(), l.dim.describe()),
        )
        .at(e.span, format!("this is {}", l.dim.describe()));
        if dim == Dim::TIME && l.dim == Dim::PLAIN {
            d = Diagnostic::error("E0302", format!("`{what}` needs a unit: it is a time"))
                .at(e.span, "plain number")
                .help("write it with a unit, e.g. `20 ms` or `10 steps`");
        } else if dim == Dim::TIME && l.dim == Dim::RATE {
            d = d.note("a time constant is a duration (ms, s, steps), not a frequency");
        }
        cx.err(d);
        return None;
    }
    Some(c)
}

fn mul_iv(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let ps = [a.0 * b.0, a.0 * b.1, a.1 * b.0, a.1 * b.1].map(|x| if x.is_nan() { 0.0 } else { x });
    (ps.iter().cloned().fold(f64::INFINITY, f64::min), ps.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
}

/// A constant that ends up in the learning program must fit a Q15.16 register.
fn check_leaf(cx: &mut Cx<'_>, c: f64, span: Span) {
    if c.abs() >= REG_MAX || !c.is_finite() {
        cx.err(
            Diagnostic::error("E0501", format!("constant {c} does not fit the learning register"))
                .at(span, "beyond ±32768")
                .note("the learning engine computes in signed Q15.16 (range ±32768, resolution 2^-16)"),
        );
    } else if c != 0.0 && c.abs() < REG_LSB / 2.0 {
        cx.err(
            Diagnostic::error("E0501", format!("constant {c} rounds to 0 in the learning register"))
                .at(span, format!("below the resolution 2^-16 = {REG_LSB:.3e}"))
                .note("the learning engine computes in signed Q15.16 (range ±32768, resolution 2^-16)")
                .help("fold small factors together, e.g. write `eta * x * y` with a larger `eta` and smaller weights"),
        );
    } else if c != 0.0 {
        let q = (c / REG_LSB).round() * REG_LSB;
        if ((q - c) / c).abs() > 0.1 {
            cx.err(
                Diagnostic::warning("W0501", format!("constant {c} becomes {q:.6e} in the learning register"))
                    .at(span, format!("{:.0} % off", ((q - c) / c).abs() * 100.0)),
            );
        }
    }
}

fn range_check(cx: &mut Cx<'_>, l: &mut L, children_flagged: bool) {
    if children_flagged {
        l.flagged = true;
        return;
    }
    let m = l.lo.abs().max(l.hi.abs());
    if m >= REG_MAX {
        cx.err(
            Diagnostic::error(
                "E0503",
                format!("overflow: this term can reach {m:.4e} and saturates the learning register"),
            )
            .at(l.span, format!("range [{:.4e}, {:.4e}]", l.lo, l.hi))
            .note("the learning engine computes in signed Q15.16: values saturate at ±32768")
            .help("reorder the product so small factors come first, or scale the quantities down"),
        );
        l.flagged = true;
    } else if m >= REG_MAX / 2.0 {
        cx.err(
            Diagnostic::warning("W0503", format!("this term can reach {m:.4e}, within a factor 2 of saturation"))
                .at(l.span, format!("range [{:.4e}, {:.4e}]", l.lo, l.hi)),
        );
    }
}

const FUNCS: &str = "rand(), randu(), min(a, b), max(a, b), clip(x, lo, hi), abs(x)";

fn locality(cx: &mut Cx<'_>, span: Span, what: String, why: &str) {
    cx.err(
        Diagnostic::error("E0401", format!("non-local read: {what}"))
            .at(span, why.to_string())
            .note("a rule runs at one synapse and sees only: its weight `w` and `tag`, its pre-synaptic neuron's traces, `pre.spike` and `pre.value`, its post-synaptic neuron's traces, `post.spike`, `post.value`, `post.v` and `post.u`, `last_pre`, `rand()`/`randu()`, broadcast signals, and constants")
            .help("for per-neuron weight sums or maxima use `normalize`; for global state use a `signal`"),
    );
}

fn lower(cx: &mut Cx<'_>, env: &mut Env<'_>, e: &Expr) -> Option<L> {
    match env.budget {
        0 => return None,
        1 => {
            env.budget = 0;
            cx.err(
                Diagnostic::error("E0505", format!("rule `{}` expands to more than {MAX_RULE_NODES} terms", env.rule))
                    .at(e.span, "expansion stopped here")
                    .note("every use of a `let` repeats its expression; the learning engine has no loops or calls"),
            );
            return None;
        }
        _ => env.budget -= 1,
    }
    let mk = |e: RExpr, dim: Dim, lo: f64, hi: f64, span: Span| L { e, dim, lo, hi, span, flagged: false };
    match &e.kind {
        ExprKind::Num { value, unit } => {
            let (v, dim) = match unit {
                None => (*value, Dim::PLAIN),
                Some(ast::Unit::Step) => (*value * cx.dt, Dim::TIME),
                Some(u) => {
                    let (f, d) = super::eval::unit_si(*u);
                    (*value * f, d)
                }
            };
            Some(mk(RExpr::Const(v), dim, v * ascale(dim), v * ascale(dim), e.span))
        }
        ExprKind::Str(_) | ExprKind::List { .. } => {
            cx.err(Diagnostic::error("E0205", "a rule expression must be a number").at(e.span, "not a number"));
            None
        }
        ExprKind::Path(p) if p.len() == 1 => lower_name(cx, env, &p[0], e.span),
        ExprKind::Path(p) => {
            let (owner, field) = (&p[0].name, &p[1].name);
            let src = match (owner.as_str(), field.as_str(), p.len()) {
                ("pre", "spike", 2) => Some(Src::Xs),
                ("pre", "value", 2) => Some(Src::Xg),
                ("post", "spike", 2) => Some(Src::Ys),
                ("post", "value", 2) => Some(Src::Yg),
                ("post", "v", 2) => Some(Src::Yv),
                ("post", "u", 2) => Some(Src::Yu),
                _ => None,
            };
            if let Some(s) = src {
                let (lo, hi) = env.ranges.get(&s).copied().unwrap_or((0.0, 1.0));
                let dim = if matches!(s, Src::Yv | Src::Yu) { env.v_dim } else { Dim::PLAIN };
                return Some(mk(RExpr::Load(s), dim, lo, hi, e.span));
            }
            if owner == "pre" && p.len() == 2 {
                locality(
                    cx,
                    e.span,
                    format!("`pre.{field}` is not visible at the synapse"),
                    "only the pre-synaptic spike (`pre.spike`), its payload (`pre.value`) and the rule's pre traces reach a synapse",
                );
                return None;
            }
            if owner == "post" && p.len() == 2 {
                cx.err(
                    Diagnostic::error("E0102", format!("unknown post-synaptic quantity `post.{field}`"))
                        .at(e.span, "not a post-synaptic quantity")
                        .note("post-synaptic quantities: post.spike, post.value, post.v, post.u (and the rule's post traces by name)"),
                );
                return None;
            }
            if let Some(kind) = cx.global_kind(owner) {
                locality(
                    cx,
                    e.span,
                    format!("`{}` reads the {kind} `{owner}`", print(e)),
                    "a population, input or projection as a whole is global, not local to one synapse",
                );
                return None;
            }
            cx.err(Diagnostic::error("E0102", format!("unknown name `{owner}`")).at(p[0].span, "not defined"));
            None
        }
        ExprKind::Index { base, .. } => {
            if base.as_name().is_some_and(|n| n.name == "w") {
                locality(cx, e.span, "another synapse's weight".into(), "a synapse can read only its own weight `w`");
            } else {
                locality(
                    cx,
                    e.span,
                    format!("`{}` indexes other synapses or neurons", print(e)),
                    "indexing reaches beyond this synapse",
                );
            }
            None
        }
        ExprKind::Call(c) => lower_call(cx, env, c),
        ExprKind::Neg(x) => {
            let a = lower(cx, env, x)?;
            let flagged = a.flagged;
            let mut l = match a.e {
                RExpr::Const(c) => mk(RExpr::Const(-c), a.dim, -a.hi, -a.lo, e.span),
                other => mk(RExpr::Neg(Box::new(other)), a.dim, -a.hi, -a.lo, e.span),
            };
            range_check(cx, &mut l, flagged);
            Some(l)
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let a = lower(cx, env, lhs);
            let b = lower(cx, env, rhs);
            let (a, b) = (a?, b?);
            let dim = match op {
                BinOp::Add | BinOp::Sub => {
                    if a.dim != b.dim {
                        cx.err(super::eval::unit_mismatch(e.span, lhs.span, a.dim, rhs.span, b.dim, op.symbol()));
                        return None;
                    }
                    a.dim
                }
                BinOp::Mul => a.dim.times(b.dim),
                BinOp::Div => a.dim.per(b.dim),
            };
            let (lo, hi) = match op {
                BinOp::Add => (a.lo + b.lo, a.hi + b.hi),
                BinOp::Sub => (a.lo - b.hi, a.hi - b.lo),
                BinOp::Mul => mul_iv((a.lo, a.hi), (b.lo, b.hi)),
                BinOp::Div => {
                    if b.lo <= 0.0 && b.hi >= 0.0 {
                        if b.konst() == Some(0.0) {
                            cx.err(Diagnostic::error("E0206", "division by zero").at(rhs.span, "this is zero"));
                            return None;
                        }
                        cx.err(
                            Diagnostic::warning("W0503", "division by a term that can be zero")
                                .at(rhs.span, format!("range [{:.3e}, {:.3e}]", b.lo, b.hi))
                                .note("the learning engine's `div` saturates when dividing by zero"),
                        );
                        (-REG_MAX, REG_MAX)
                    } else {
                        mul_iv((a.lo, a.hi), (1.0 / b.hi, 1.0 / b.lo))
                    }
                }
            };
            if let (Some(x), Some(y)) = (a.konst(), b.konst()) {
                let v = match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => x / y,
                };
                return Some(mk(RExpr::Const(v), dim, v * ascale(dim), v * ascale(dim), e.span));
            }
            for side in [&a, &b] {
                if let Some(c) = side.konst() {
                    if side.dim.time == 0 {
                        check_leaf(cx, c * ascale(side.dim), side.span);
                    }
                }
            }
            let flagged = a.flagged || b.flagged;
            let rop = match op {
                BinOp::Add => RBinOp::Add,
                BinOp::Sub => RBinOp::Sub,
                BinOp::Mul => RBinOp::Mul,
                BinOp::Div => RBinOp::Div,
            };
            let mut l = mk(RExpr::Bin(rop, Box::new(a.e), Box::new(b.e)), dim, lo, hi, e.span);
            range_check(cx, &mut l, flagged);
            Some(l)
        }
    }
}

fn print(e: &Expr) -> String {
    crate::front::printer::print_expr(e)
}

fn lower_name(cx: &mut Cx<'_>, env: &mut Env<'_>, id: &ast::Ident, span: Span) -> Option<L> {
    let mk = |e: RExpr, dim: Dim, lo: f64, hi: f64| L { e, dim, lo, hi, span, flagged: false };
    let n = id.name.as_str();
    if let Some(&value) = env.lets.get(n) {
        if env.let_stack.len() as u32 >= MAX_LET_DEPTH {
            cx.err(
                Diagnostic::error("E0505", format!("`let`s nested more than {MAX_LET_DEPTH} deep"))
                    .at(id.span, "nesting limit reached here"),
            );
            return None;
        }
        if env.let_stack.iter().any(|s| s == n) {
            cx.err(
                Diagnostic::error("E0101", format!("`let {n}` refers to itself"))
                    .at(id.span, "used inside its own definition")
                    .note(format!("the chain is: {}", env.let_stack.join(" -> "))),
            );
            return None;
        }
        env.let_stack.push(n.to_string());
        let r = lower(cx, env, value);
        env.let_stack.pop();
        return r.map(|mut l| {
            l.span = span;
            l
        });
    }
    if let Some(&(v, dim)) = env.params.get(n) {
        return Some(mk(RExpr::Const(v), dim, v * ascale(dim), v * ascale(dim)));
    }
    if let Some(&(side, k)) = env.traces.get(n) {
        let s = match (side, k) {
            (Side::Pre, 0) => Src::X0,
            (Side::Pre, _) => Src::X1,
            (Side::Post, 0) => Src::Y0,
            (Side::Post, _) => Src::Y1,
        };
        let (lo, hi) = env.ranges.get(&s).copied().unwrap_or((0.0, 1.0));
        return Some(mk(RExpr::Load(s), Dim::PLAIN, lo, hi));
    }
    let builtin = match n {
        "w" => Some(Src::W),
        "tag" => Some(Src::Tag),
        "last_pre" => Some(Src::LastPre),
        _ => None,
    };
    if let Some(s) = builtin {
        let (lo, hi) = env.ranges.get(&s).copied().unwrap_or((0.0, 1.0));
        let dim = if s == Src::W { env.w_dim.unwrap_or(Dim::PLAIN) } else { Dim::PLAIN };
        return Some(mk(RExpr::Load(s), dim, lo, hi));
    }
    if let Some(&k) = cx.signal_ix.get(n) {
        let s = Src::Sig(k as u8);
        let (lo, hi) = env.ranges.get(&s).copied().unwrap_or((0.0, 1.0));
        return Some(mk(RExpr::Load(s), Dim::PLAIN, lo, hi));
    }
    if let Some(Val::Num { v, dim, .. }) = cx.consts.get(n).cloned() {
        return Some(mk(RExpr::Const(v), dim, v * ascale(dim), v * ascale(dim)));
    }
    if n == "dt" {
        return Some(mk(RExpr::Const(cx.dt), Dim::TIME, cx.dt, cx.dt));
    }
    if matches!(n, "t" | "time" | "now" | "step") {
        locality(cx, span, format!("`{n}` is the global time"), "the learning engine has no clock");
        return None;
    }
    if matches!(n, "pre" | "post") {
        cx.err(
            Diagnostic::error("E0102", format!("`{n}` needs a field"))
                .at(span, format!("write `{n}.spike` or `{n}.value`")),
        );
        return None;
    }
    if let Some(kind) = cx.global_article(n) {
        if kind == "a signal" {
            return None; // the signal had its own errors
        }
        locality(cx, span, format!("`{n}` is {kind}, a global quantity"), "not visible to a single synapse");
        return None;
    }
    let mut cands: Vec<&str> =
        env.params.keys().chain(env.lets.keys()).chain(env.traces.keys()).map(String::as_str).collect();
    cands.extend(["w", "tag", "last_pre"]);
    let sigs: Vec<String> = cx.signal_ix.keys().cloned().collect();
    cands.extend(sigs.iter().map(String::as_str));
    let mut d =
        Diagnostic::error("E0102", format!("unknown name `{n}` in rule `{}`", env.rule)).at(span, "not defined");
    if let Some(s) = suggest(n, cands.into_iter()) {
        d = d.help(format!("did you mean `{s}`?"));
    }
    d = d.note("a rule can read its parameters, `let`s, traces, `w`, `tag`, `last_pre`, `pre.`/`post.` quantities, signals and constants");
    cx.err(d);
    None
}

fn lower_call(cx: &mut Cx<'_>, env: &mut Env<'_>, c: &Call) -> Option<L> {
    let f = c.func.name.as_str();
    let arity = match f {
        "rand" | "randu" => 0,
        "abs" => 1,
        "min" | "max" => 2,
        "clip" => 3,
        "sum" | "mean" | "norm" | "count" => {
            locality(cx, c.span, format!("`{f}(...)` reduces over many synapses"), "a synapse sees only itself");
            return None;
        }
        _ => {
            let mut d = Diagnostic::error("E0102", format!("unknown function `{f}`"))
                .at(c.func.span, "not a learning-engine function")
                .note(format!("functions: {FUNCS}"));
            if let Some(s) = suggest(f, ["rand", "randu", "abs", "min", "max", "clip"].into_iter()) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            cx.err(d);
            return None;
        }
    };
    if c.args.len() != arity {
        cx.err(
            Diagnostic::error(
                "E0204",
                format!("`{f}` takes {arity} argument{}, found {}", if arity == 1 { "" } else { "s" }, c.args.len()),
            )
            .at(c.span, "wrong number of arguments")
            .note(format!("functions: {FUNCS}")),
        );
        return None;
    }
    if let Some(a) = c.args.iter().find(|a| a.name.is_some()) {
        cx.err(Diagnostic::error("E0205", format!("`{f}` takes positional arguments")).at(a.span, "named argument"));
        return None;
    }
    let mk = |e: RExpr, dim: Dim, lo: f64, hi: f64| L { e, dim, lo, hi, span: c.span, flagged: false };
    match f {
        "rand" => return Some(mk(RExpr::Load(Src::Rand), Dim::PLAIN, -1.0, 1.0)),
        "randu" => return Some(mk(RExpr::Load(Src::RandU), Dim::PLAIN, 0.0, 1.0)),
        _ => {}
    }
    let args: Vec<Option<L>> = c.args.iter().map(|a| lower(cx, env, &a.value)).collect();
    let args: Vec<L> = args.into_iter().collect::<Option<_>>()?;
    let dim = args[0].dim;
    if let Some(b) = args.iter().find(|a| a.dim != dim) {
        cx.err(
            Diagnostic::error("E0301", format!("unit mismatch in `{f}`: {} and {}", dim.describe(), b.dim.describe()))
                .at(b.span, b.dim.describe())
                .also(args[0].span, dim.describe()),
        );
        return None;
    }
    let flagged = args.iter().any(|a| a.flagged);
    let mut l = match f {
        "abs" => {
            let a = &args[0];
            let (lo, hi) = if a.lo >= 0.0 {
                (a.lo, a.hi)
            } else if a.hi <= 0.0 {
                (-a.hi, -a.lo)
            } else {
                (0.0, a.hi.max(-a.lo))
            };
            match a.konst() {
                Some(k) => mk(RExpr::Const(k.abs()), dim, lo, hi),
                None => mk(RExpr::Abs(Box::new(a.e.clone())), dim, lo, hi),
            }
        }
        "min" | "max" => {
            let (a, b) = (&args[0], &args[1]);
            let is_min = f == "min";
            let (lo, hi) = if is_min { (a.lo.min(b.lo), a.hi.min(b.hi)) } else { (a.lo.max(b.lo), a.hi.max(b.hi)) };
            if let (Some(x), Some(y)) = (a.konst(), b.konst()) {
                let v = if is_min { x.min(y) } else { x.max(y) };
                mk(RExpr::Const(v), dim, v * ascale(dim), v * ascale(dim))
            } else {
                for s in [a, b] {
                    if let Some(k) = s.konst() {
                        check_leaf(cx, k * ascale(s.dim), s.span);
                    }
                }
                let (x, y) = (Box::new(a.e.clone()), Box::new(b.e.clone()));
                mk(if is_min { RExpr::Min(x, y) } else { RExpr::Max(x, y) }, dim, lo, hi)
            }
        }
        _ => {
            // clip(x, lo, hi) = min(max(x, lo), hi)
            let (x, a, b) = (&args[0], &args[1], &args[2]);
            if let (Some(l), Some(h)) = (a.konst(), b.konst()) {
                if l > h {
                    cx.err(
                        Diagnostic::error("E0206", format!("`clip` with lo {l} above hi {h}"))
                            .at(c.span, "empty range"),
                    );
                    return None;
                }
            }
            for s in [a, b] {
                if let Some(k) = s.konst() {
                    check_leaf(cx, k * ascale(s.dim), s.span);
                }
            }
            let lo = x.lo.max(a.lo).min(b.hi);
            let hi = x.hi.max(a.lo).min(b.hi).max(lo);
            let inner = RExpr::Max(Box::new(x.e.clone()), Box::new(a.e.clone()));
            mk(RExpr::Min(Box::new(inner), Box::new(b.e.clone())), dim, lo, hi)
        }
    };
    range_check(cx, &mut l, flagged);
    Some(l)
}
