//! Semantic checks: names, types, units, locality of learning rules and whether everything fits
//! the chip; the result is a [`Model`]. Every problem found is reported (the checks go on after an
//! error wherever the rest still makes sense), sorted by position.
//!
//! Order of work: names of all items (duplicates), `target`, `sim`, `const`s in order, signals,
//! populations, inputs, rule definitions, projections (each `plastic` use instantiates its rule,
//! see [`rules`]), recordings, then rules nobody uses (checked with their defaults).

pub mod eval;
pub mod gen;
pub mod items;
pub mod rules;

use crate::front::ast::{self, ItemKind};
use crate::front::diag::{Diagnostic, Diagnostics};
use crate::front::model::*;
use crate::front::span::{FileId, Span};
use eval::{Args, Val};
use nm_isa::ChipSpec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a global name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Const,
    Pop,
    Input,
    Signal,
    Rule,
    Projection,
}

impl NameKind {
    /// The word with its article ("an input").
    pub fn article(self) -> &'static str {
        match self {
            NameKind::Input => "an input",
            NameKind::Const => "a constant",
            NameKind::Pop => "a population",
            NameKind::Signal => "a signal",
            NameKind::Rule => "a rule",
            NameKind::Projection => "a projection",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            NameKind::Const => "constant",
            NameKind::Pop => "population",
            NameKind::Input => "input",
            NameKind::Signal => "signal",
            NameKind::Rule => "rule",
            NameKind::Projection => "projection",
        }
    }
}

/// Options of a check run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Program name for the model (usually the file stem).
    pub name: String,
    /// Directory relative paths (chip specs, data files) are resolved against.
    pub base_dir: Option<PathBuf>,
}

/// The checker's state: diagnostics so far and everything resolved up to now.
#[derive(Debug)]
pub struct Cx<'a> {
    pub diags: Vec<Diagnostic>,
    pub consts: HashMap<String, Val>,
    pub dt: f64,
    pub spec: ChipSpec,
    pub base_dir: Option<&'a Path>,
    pub names: HashMap<String, (NameKind, Span)>,
    pub file: FileId,
    pub model: Model,
    /// Signal name → index.
    pub signal_ix: HashMap<String, usize>,
    pub pop_ix: HashMap<String, usize>,
    pub input_ix: HashMap<String, usize>,
    /// Rule definitions by name.
    pub rule_defs: HashMap<String, &'a ast::Rule>,
    /// Instances already made: (rule name, parameter bits) → index in `model.rules`.
    pub rule_instances: HashMap<(String, Vec<u64>), usize>,
    pub used_rules: std::collections::HashSet<String>,
    /// Projections whose `sign` the file states (otherwise a plastic one takes its rule's bounds).
    pub explicit_sign: std::collections::HashSet<usize>,
}

impl Cx<'_> {
    pub fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The kind of a global name with its article ("an input").
    pub fn global_article(&self, name: &str) -> Option<&'static str> {
        self.names.get(name).map(|(k, _)| k.article())
    }

    /// The kind of a global name, as a word ("population").
    pub fn global_kind(&self, name: &str) -> Option<&'static str> {
        self.names.get(name).map(|(k, _)| k.word())
    }

    /// Report an unknown name, with a suggestion among names of the wanted kinds.
    pub fn unknown(&mut self, id: &ast::Ident, what: &str, kinds: &[NameKind]) {
        let cands: Vec<&str> =
            self.names.iter().filter(|(_, (k, _))| kinds.contains(k)).map(|(n, _)| n.as_str()).collect();
        let mut d = Diagnostic::error("E0102", format!("unknown {what} `{}`", id.name)).at(id.span, "not defined");
        if let Some(s) = eval::suggest(&id.name, cands.into_iter()) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        self.err(d);
    }
}

/// Check a parsed file. Returns the model if there were no errors, and every diagnostic.
pub fn check(file: &ast::File, file_id: FileId, opts: &Options) -> (Option<Model>, Diagnostics) {
    let spec = ChipSpec::default_profile();
    let chip_seed = spec.mismatch.default_chip_seed;
    let mut cx = Cx {
        diags: Vec::new(),
        consts: HashMap::new(),
        dt: 1e-3,
        spec: spec.clone(),
        base_dir: opts.base_dir.as_deref(),
        names: HashMap::new(),
        file: file_id,
        model: Model {
            name: opts.name.clone(),
            target: Target { source: "default".into(), spec, chip_seed },
            sim: Sim { dt: 1e-3, steps: 1000, epoch_steps: 0, seed: 0 },
            populations: Vec::new(),
            inputs: Vec::new(),
            signals: Vec::new(),
            projections: Vec::new(),
            rules: Vec::new(),
            recordings: Vec::new(),
        },
        signal_ix: HashMap::new(),
        pop_ix: HashMap::new(),
        input_ix: HashMap::new(),
        rule_defs: HashMap::new(),
        rule_instances: HashMap::new(),
        used_rules: Default::default(),
        explicit_sign: Default::default(),
    };
    collect_names(&mut cx, file);
    let mut target_seen: Option<Span> = None;
    let mut sim_seen: Option<Span> = None;
    for it in &file.items {
        match &it.kind {
            ItemKind::Target(t) if once(&mut cx, &mut target_seen, it.span, "target") => {
                check_target(&mut cx, t, it.span);
            }
            ItemKind::Sim(s) if once(&mut cx, &mut sim_seen, it.span, "sim") => check_sim(&mut cx, s),
            _ => {}
        }
    }
    for it in &file.items {
        if let ItemKind::Const(c) = &it.kind {
            if let Some(v) = cx.eval(&c.value) {
                if let Val::Word(w) = &v {
                    cx.err(
                        Diagnostic::error("E0102", format!("unknown name `{w}`"))
                            .at(c.value.span, "not a constant defined above"),
                    );
                } else {
                    cx.consts.insert(c.name.name.clone(), v);
                }
            }
        }
    }
    for it in &file.items {
        if let ItemKind::Signal(d) = &it.kind {
            items::check_signal(&mut cx, d);
        }
    }
    for it in &file.items {
        if let ItemKind::Pop(d) = &it.kind {
            items::check_pop(&mut cx, d);
        }
    }
    for it in &file.items {
        if let ItemKind::Input(i) = &it.kind {
            items::check_input(&mut cx, i);
        }
    }
    for it in &file.items {
        if let ItemKind::Rule(r) = &it.kind {
            cx.rule_defs.entry(r.name.name.clone()).or_insert(r);
        }
    }
    for it in &file.items {
        if let ItemKind::Connect(c) = &it.kind {
            items::check_connect(&mut cx, c, it.span);
        }
    }
    for it in &file.items {
        if let ItemKind::Record(r) = &it.kind {
            items::check_record(&mut cx, r);
        }
    }
    for it in &file.items {
        if let ItemKind::Rule(r) = &it.kind {
            if !cx.used_rules.contains(&r.name.name) {
                rules::check_unused(&mut cx, r);
            }
        }
    }
    let mut diags = cx.diags;
    // One diagnostic per place and message, even if a rule used twice reports it twice.
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| {
        let at = d.labels.iter().find(|l| l.primary).map(|l| (l.span.start, l.span.end));
        seen.insert((d.code, d.message.clone(), at))
    });
    let mut diags = Diagnostics { list: diags };
    diags.sort();
    let model = if diags.has_errors() { None } else { Some(cx.model) };
    (model, diags)
}

fn once(cx: &mut Cx<'_>, seen: &mut Option<Span>, span: Span, what: &str) -> bool {
    if let Some(first) = seen {
        let first = *first;
        cx.err(
            Diagnostic::error("E0104", format!("more than one `{what}` block"))
                .at(span, "second block")
                .also(first, "first block"),
        );
        return false;
    }
    *seen = Some(span);
    true
}

fn collect_names(cx: &mut Cx<'_>, file: &ast::File) {
    for it in &file.items {
        let (name, kind) = match &it.kind {
            ItemKind::Const(c) => (&c.name, NameKind::Const),
            ItemKind::Pop(d) => (&d.name, NameKind::Pop),
            ItemKind::Input(i) => (&i.name, NameKind::Input),
            ItemKind::Signal(d) => (&d.name, NameKind::Signal),
            ItemKind::Rule(r) => (&r.name, NameKind::Rule),
            ItemKind::Connect(c) => match &c.name {
                Some(n) => (n, NameKind::Projection),
                None => continue,
            },
            _ => continue,
        };
        if let Some((k, first)) = cx.names.get(&name.name) {
            let (k, first) = (*k, *first);
            cx.err(
                Diagnostic::error("E0101", format!("the name `{}` is defined twice", name.name))
                    .at(name.span, format!("redefined here as {}", kind.article()))
                    .also(first, format!("first defined here as {}", k.article()))
                    .help("every population, input, signal, rule, constant and named projection needs its own name"),
            );
            continue;
        }
        cx.names.insert(name.name.clone(), (kind, name.span));
    }
}

const TARGET_KEYS: &[&str] = &[
    "weight_bits",
    "accumulator_bits",
    "tag_bits",
    "learning_rate_trim_bits",
    "decay_bits",
    "trace_int_bits",
    "trace_frac_bits",
    "current_bits",
    "voltage_bits",
    "payload_bits",
    "max_delay",
    "mismatch",
    "mismatch_threshold",
    "mismatch_leak",
    "mismatch_bias",
    "mismatch_weight",
    "mismatch_learning_rate",
    "noise",
    "chip_seed",
];

fn check_target(cx: &mut Cx<'_>, t: &ast::Target, span: Span) {
    let mut spec = match &t.name {
        ast::TargetName::Profile(id) => match ChipSpec::profile(&id.name) {
            Some(s) => {
                cx.model.target.source = id.name.clone();
                s
            }
            None => {
                let mut d = Diagnostic::error("E0102", format!("unknown chip profile `{}`", id.name))
                    .at(id.span, "not a built-in profile")
                    .note(format!("built-in profiles: {}", nm_isa::chip::PROFILE_NAMES.join(", ")))
                    .help("or give the path of a chip-spec TOML file in quotes");
                if let Some(s) = eval::suggest(&id.name, nm_isa::chip::PROFILE_NAMES.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.err(d);
                return;
            }
        },
        ast::TargetName::Path { path, span } => {
            cx.model.target.source = path.clone();
            let full = match cx.base_dir {
                Some(b) => b.join(path),
                None => PathBuf::from(path),
            };
            let text = match crate::budget::read_bounded(&full, crate::budget::file_bytes_budget())
                .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()))
            {
                Ok(t) => t,
                Err(e) => {
                    cx.err(
                        Diagnostic::error("E0701", format!("cannot read chip spec `{path}`: {e}"))
                            .at(*span, "this file"),
                    );
                    return;
                }
            };
            match ChipSpec::from_toml_str(&text) {
                Ok(s) => s,
                Err(e) => {
                    cx.err(
                        Diagnostic::error("E0801", format!("invalid chip spec `{path}`: {e}")).at(*span, "this file"),
                    );
                    return;
                }
            }
        }
    };
    let id = ast::Ident { name: "target".into(), span };
    let call = eval::settings_as_call(&id, &t.settings.items, span);
    let a = Args::new(cx, &call, "`target`", TARGET_KEYS, &[]);
    let f = &mut spec.formats;
    let bits = |cx: &mut Cx<'_>, k: &str, slot: &mut u8| {
        if let Some(v) = a.int(cx, k, 0, 64) {
            *slot = v as u8;
        }
    };
    bits(cx, "weight_bits", &mut f.weight_bits);
    bits(cx, "accumulator_bits", &mut f.accumulator_bits);
    bits(cx, "tag_bits", &mut f.tag_bits);
    bits(cx, "learning_rate_trim_bits", &mut f.learning_rate_trim_bits);
    bits(cx, "decay_bits", &mut f.decay_bits);
    bits(cx, "trace_int_bits", &mut f.trace_int_bits);
    bits(cx, "trace_frac_bits", &mut f.trace_frac_bits);
    bits(cx, "current_bits", &mut f.current_bits);
    bits(cx, "voltage_bits", &mut f.voltage_bits);
    bits(cx, "payload_bits", &mut f.payload_bits);
    if let Some(v) = a.int(cx, "max_delay", 0, 255) {
        spec.core.max_delay = v as u32;
    }
    let m = &mut spec.mismatch;
    if let Some(v) = a.prob(cx, "mismatch") {
        m.threshold_rsd = v;
        m.leak_rsd = v;
        m.bias_rsd = v;
        m.weight_gain_rsd = v;
        m.learning_rate_rsd = v;
    }
    for (k, slot) in [
        ("mismatch_threshold", &mut m.threshold_rsd),
        ("mismatch_leak", &mut m.leak_rsd),
        ("mismatch_bias", &mut m.bias_rsd),
        ("mismatch_weight", &mut m.weight_gain_rsd),
        ("mismatch_learning_rate", &mut m.learning_rate_rsd),
        ("noise", &mut m.noise_rsd),
    ] {
        if let Some(v) = a.prob(cx, k) {
            *slot = v;
        }
    }
    if let Some(s) = a.seed(cx, "chip_seed") {
        cx.model.target.chip_seed = s;
    } else {
        cx.model.target.chip_seed = spec.mismatch.default_chip_seed;
    }
    if let Err(e) = spec.validate() {
        let mut d = Diagnostic::error("E0801", format!("the target does not describe a valid chip: {e}"))
            .at(span, "this target");
        if let nm_isa::chip::SpecError::OutOfRange { field, .. } = &e {
            let key = field.rsplit('.').next().unwrap_or(field);
            if let Some(s) = t.settings.items.iter().find(|s| s.key.name == key) {
                d = Diagnostic::error("E0801", format!("the target does not describe a valid chip: {e}"))
                    .at(s.span, "this setting");
            }
        }
        cx.err(d);
        return;
    }
    cx.spec = spec.clone();
    cx.model.target.spec = spec;
}

fn check_sim(cx: &mut Cx<'_>, s: &ast::Settings) {
    let id = ast::Ident { name: "sim".into(), span: s.span };
    let call = eval::settings_as_call(&id, &s.items, s.span);
    let a = Args::new(cx, &call, "`sim`", &["dt", "duration", "epoch", "seed"], &[]);
    if let Some(dt) = a.time(cx, "dt") {
        if !(dt.is_finite() && dt > 0.0 && dt <= 1.0) {
            cx.err(
                Diagnostic::error("E0206", "`dt` must be a positive time of at most 1 s")
                    .at(a.expr("dt").map_or(s.span, |e| e.span), "here"),
            );
        } else {
            cx.dt = dt;
            cx.model.sim.dt = dt;
        }
    }
    if let Some(n) = a.steps(cx, "duration", 1) {
        cx.model.sim.steps = n;
    }
    if let Some(n) = a.steps(cx, "epoch", 1) {
        cx.model.sim.epoch_steps = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(seed) = a.seed(cx, "seed") {
        cx.model.sim.seed = seed;
    }
}

/// Decay code of a time constant at `dt` with `bits`-bit codes; `None` (infinite) gives 0.
pub fn decay_code(tau: Option<f64>, dt: f64, bits: u8) -> u32 {
    let d = f64::from(1u32 << bits);
    match tau {
        None => 0,
        Some(t) if t <= 0.0 => 1 << bits,
        Some(t) => (d * (1.0 - (-dt / t).exp())).round().clamp(0.0, d) as u32,
    }
}

/// Check that a time constant gives a usable decay code; returns the code.
pub fn check_tau(cx: &mut Cx<'_>, tau: Option<f64>, span: Span, what: &str) -> u32 {
    let bits = cx.spec.formats.decay_bits;
    let code = decay_code(tau, cx.dt, bits);
    if let Some(t) = tau {
        if t <= 0.0 {
            cx.err(Diagnostic::error("E0206", format!("{what} must be positive")).at(span, "here"));
            return code;
        }
        if code == 0 {
            let longest = cx.dt / -(1.0 - 0.5 / f64::from(1u32 << bits)).ln();
            cx.err(
                Diagnostic::error("E0502", format!("{what} is too long for the chip's {bits}-bit decay codes"))
                    .at(span, "rounds to decay code 0: no decay at all")
                    .note(format!("the longest time constant at dt = {} ms is about {:.3} s", cx.dt * 1e3, longest))
                    .help("write `inf` for no decay, or use a larger dt"),
            );
        } else {
            let keep = 1.0 - f64::from(code) / f64::from(1u32 << bits);
            let eff = if keep <= 0.0 { 0.0 } else { -cx.dt / keep.ln() };
            if (eff - t).abs() > 0.1 * t && keep > 0.0 {
                cx.err(
                    Diagnostic::warning("W0502", format!("{what} is quantized to {:.4} ms on the chip", eff * 1e3))
                        .at(span, format!("decay code {code} of {}", 1u32 << bits))
                        .note(format!("{what} = {} ms is off by more than 10 % at dt = {} ms", t * 1e3, cx.dt * 1e3)),
                );
            }
        }
    }
    code
}
