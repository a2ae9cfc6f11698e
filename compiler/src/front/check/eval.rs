//! Units and constant evaluation: dimensions, SI conversion of literals, evaluation of constant
//! expressions, and [`Args`], the typed reader of a call's arguments that reports unknown,
//! duplicate, missing and mistyped arguments and unit errors.

use super::Cx;
use crate::front::ast::{Arg, BinOp, Call, Expr, ExprKind, Ident, Unit};
use crate::front::diag::Diagnostic;
use crate::front::model::VoltUnit;
use crate::front::span::Span;

/// A physical dimension: powers of time and of voltage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dim {
    pub time: i8,
    pub volt: i8,
}

impl Dim {
    pub const PLAIN: Dim = Dim { time: 0, volt: 0 };
    pub const TIME: Dim = Dim { time: 1, volt: 0 };
    pub const RATE: Dim = Dim { time: -1, volt: 0 };
    pub const VOLT: Dim = Dim { time: 0, volt: 1 };

    pub fn times(self, o: Dim) -> Dim {
        Dim { time: self.time.saturating_add(o.time), volt: self.volt.saturating_add(o.volt) }
    }

    pub fn per(self, o: Dim) -> Dim {
        Dim { time: self.time.saturating_sub(o.time), volt: self.volt.saturating_sub(o.volt) }
    }

    /// "a time", "a rate", ... for messages.
    pub fn describe(self) -> String {
        match (self.time, self.volt) {
            (0, 0) => "a plain number".into(),
            (1, 0) => "a time".into(),
            (-1, 0) => "a rate".into(),
            (0, 1) => "a voltage".into(),
            (t, v) => format!("a quantity in s^{t}·V^{v}"),
        }
    }
}

/// SI factor and dimension of a unit (`step` is handled by the caller: it needs `dt`).
pub fn unit_si(u: Unit) -> (f64, Dim) {
    match u {
        Unit::Ns => (1e-9, Dim::TIME),
        Unit::Us => (1e-6, Dim::TIME),
        Unit::Ms => (1e-3, Dim::TIME),
        Unit::S => (1.0, Dim::TIME),
        Unit::Hz => (1.0, Dim::RATE),
        Unit::KHz => (1e3, Dim::RATE),
        Unit::UV => (1e-6, Dim::VOLT),
        Unit::MV => (1e-3, Dim::VOLT),
        Unit::V => (1.0, Dim::VOLT),
        Unit::Step => (1.0, Dim::TIME),
        Unit::Percent => (0.01, Dim::PLAIN),
    }
}

/// A constant value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// A number in SI units with its dimension; `steps` is true if it was written in steps
    /// (then `v` is already converted with `dt`).
    Num {
        v: f64,
        dim: Dim,
        steps: bool,
    },
    Str(String),
    List(Vec<Val>),
    /// A bare word that names nothing (`tanh`, `rate`, `true`).
    Word(String),
}

impl Val {
    pub fn plain(v: f64) -> Val {
        Val::Num { v, dim: Dim::PLAIN, steps: false }
    }
}

impl Cx<'_> {
    /// Evaluate a constant expression. Unknown single names become [`Val::Word`]; the consumer
    /// decides whether a word is allowed. Errors are reported and give `None`.
    pub fn eval(&mut self, e: &Expr) -> Option<Val> {
        match &e.kind {
            ExprKind::Num { value, unit } => Some(self.num(*value, *unit)),
            ExprKind::Str(s) => Some(Val::Str(s.clone())),
            ExprKind::List { items, unit } => {
                let mut out = Vec::new();
                let mut ok = true;
                for it in items {
                    match self.eval(it) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                if let Some(u) = unit {
                    out = out.into_iter().map(|v| self.apply_unit(v, *u, e.span)).collect::<Option<Vec<_>>>()?;
                }
                Some(Val::List(out))
            }
            ExprKind::Path(p) if p.len() == 1 => {
                let n = &p[0].name;
                if let Some(v) = self.consts.get(n.as_str()) {
                    return Some(v.clone());
                }
                match n.as_str() {
                    "inf" => Some(Val::plain(f64::INFINITY)),
                    "dt" => Some(Val::Num { v: self.dt, dim: Dim::TIME, steps: false }),
                    _ => {
                        if let Some(kind) = self.global_article(n) {
                            self.err(
                                Diagnostic::error("E0103", format!("`{n}` is {kind}, not a constant"))
                                    .at(e.span, "a value is expected here"),
                            );
                            return None;
                        }
                        Some(Val::Word(n.clone()))
                    }
                }
            }
            ExprKind::Path(_) => {
                self.err(
                    Diagnostic::error("E0205", "a dotted name is not a constant")
                        .at(e.span, "only rule expressions may read `pre.` and `post.` quantities"),
                );
                None
            }
            ExprKind::Call(c) => {
                self.err(
                    Diagnostic::error("E0205", format!("`{}(...)` is not allowed here", c.func.name))
                        .at(c.span, "a constant value is expected"),
                );
                None
            }
            ExprKind::Index { .. } => {
                self.err(
                    Diagnostic::error("E0205", "indexing is not allowed here").at(e.span, "a constant is expected"),
                );
                None
            }
            ExprKind::Neg(x) => match self.eval(x)? {
                Val::Num { v, dim, steps } => Some(Val::Num { v: -v, dim, steps }),
                Val::List(items) => Some(Val::List(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Val::Num { v, dim, steps } => Val::Num { v: -v, dim, steps },
                            o => o,
                        })
                        .collect(),
                )),
                _ => {
                    self.err(Diagnostic::error("E0205", "cannot negate this value").at(e.span, "not a number"));
                    None
                }
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.eval(lhs)?, self.eval(rhs)?);
                let (Val::Num { v: x, dim: dx, steps: sx }, Val::Num { v: y, dim: dy, steps: sy }) = (&a, &b) else {
                    self.err(
                        Diagnostic::error("E0205", format!("`{}` needs two numbers", op.symbol()))
                            .at(e.span, "arithmetic on a non-number"),
                    );
                    return None;
                };
                let steps = *sx || *sy;
                match op {
                    BinOp::Add | BinOp::Sub => {
                        if dx != dy {
                            self.err(unit_mismatch(e.span, lhs.span, *dx, rhs.span, *dy, op.symbol()));
                            return None;
                        }
                        let v = if *op == BinOp::Add { x + y } else { x - y };
                        Some(Val::Num { v, dim: *dx, steps })
                    }
                    BinOp::Mul => Some(Val::Num { v: x * y, dim: dx.times(*dy), steps }),
                    BinOp::Div => {
                        if *y == 0.0 {
                            self.err(Diagnostic::error("E0206", "division by zero").at(rhs.span, "this is zero"));
                            return None;
                        }
                        Some(Val::Num { v: x / y, dim: dx.per(*dy), steps })
                    }
                }
            }
        }
    }

    fn num(&self, value: f64, unit: Option<Unit>) -> Val {
        match unit {
            None => Val::plain(value),
            Some(Unit::Step) => Val::Num { v: value * self.dt, dim: Dim::TIME, steps: true },
            Some(u) => {
                let (f, dim) = unit_si(u);
                Val::Num { v: value * f, dim, steps: false }
            }
        }
    }

    /// A list unit applies to each plain item: `[5, 10] Hz`.
    fn apply_unit(&mut self, v: Val, u: Unit, span: Span) -> Option<Val> {
        match v {
            Val::Num { v, dim, .. } if dim == Dim::PLAIN => match self.num(v, Some(u)) {
                Val::Num { v: nv, dim, steps } => Some(Val::Num { v: nv, dim, steps }),
                other => Some(other),
            },
            Val::List(items) => {
                Some(Val::List(items.into_iter().map(|i| self.apply_unit(i, u, span)).collect::<Option<_>>()?))
            }
            Val::Num { dim, .. } => {
                self.err(
                    Diagnostic::error("E0301", format!("unit `{}` applied to {}", u.text(), dim.describe()))
                        .at(span, "this list already has units inside"),
                );
                None
            }
            other => Some(other),
        }
    }
}

/// The standard unit-mismatch diagnostic for `a op b`.
pub fn unit_mismatch(whole: Span, ls: Span, ld: Dim, rs: Span, rd: Dim, op: &str) -> Diagnostic {
    Diagnostic::error("E0301", format!("unit mismatch: cannot `{op}` {} and {}", ld.describe(), rd.describe()))
        .at(whole, "operands of different units")
        .also(ls, ld.describe())
        .also(rs, rd.describe())
}

/// Typed access to the arguments of a call, reporting every problem once.
#[derive(Debug)]
pub struct Args<'c> {
    pub call: &'c Call,
    what: String,
    named: Vec<(&'static str, &'c Arg)>,
}

impl<'c> Args<'c> {
    /// Match `call`'s arguments against the allowed names; positional arguments take the names
    /// of `positional` in order. Reports unknown names, duplicates and excess positionals.
    pub fn new(
        cx: &mut Cx<'_>,
        call: &'c Call,
        what: &str,
        allowed: &'static [&'static str],
        positional: &'static [&'static str],
    ) -> Args<'c> {
        let mut named: Vec<(&'static str, &'c Arg)> = Vec::new();
        let mut pos = 0usize;
        for a in &call.args {
            let name: &'static str = match &a.name {
                Some(n) => match allowed.iter().find(|&&k| k == n.name) {
                    Some(k) => k,
                    None => {
                        let mut d = Diagnostic::error("E0201", format!("{what} has no argument `{}`", n.name))
                            .at(n.span, "unknown argument");
                        if let Some(s) = suggest(&n.name, allowed.iter().copied()) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        d = d.note(format!("{what} takes: {}", allowed.join(", ")));
                        cx.err(d);
                        continue;
                    }
                },
                None => match positional.get(pos) {
                    Some(k) => {
                        pos += 1;
                        k
                    }
                    None => {
                        cx.err(
                            Diagnostic::error(
                                "E0204",
                                format!(
                                    "{what} takes {} positional argument{}, found more",
                                    positional.len(),
                                    if positional.len() == 1 { "" } else { "s" }
                                ),
                            )
                            .at(a.span, "unexpected argument")
                            .help(format!("name the argument: one of {}", allowed.join(", "))),
                        );
                        continue;
                    }
                },
            };
            if let Some((_, first)) = named.iter().find(|(k, _)| *k == name) {
                cx.err(
                    Diagnostic::error("E0203", format!("argument `{name}` given twice"))
                        .at(a.span, "second value")
                        .also(first.span, "first value"),
                );
                continue;
            }
            named.push((name, a));
        }
        Args { call, what: what.to_string(), named }
    }

    pub fn expr(&self, name: &str) -> Option<&'c Expr> {
        self.named.iter().find(|(k, _)| *k == name).map(|(_, a)| &a.value)
    }

    pub fn has(&self, name: &str) -> bool {
        self.expr(name).is_some()
    }

    /// Report a missing required argument.
    pub fn missing(&self, cx: &mut Cx<'_>, name: &str, example: &str) {
        cx.err(
            Diagnostic::error("E0202", format!("{} needs `{name}`", self.what))
                .at(self.call.span, format!("`{name}` missing"))
                .help(format!("add `{name} = {example}`")),
        );
    }

    /// A number of dimension `dim` (steps count as time), or `None` (absent or reported).
    pub fn quantity(&self, cx: &mut Cx<'_>, name: &str, dim: Dim, example: &str) -> Option<f64> {
        let e = self.expr(name)?;
        cx.quantity(e, dim, name, example)
    }

    pub fn time(&self, cx: &mut Cx<'_>, name: &str) -> Option<f64> {
        self.quantity(cx, name, Dim::TIME, "20 ms")
    }

    /// A time, in steps (at least `min`).
    pub fn steps(&self, cx: &mut Cx<'_>, name: &str, min: u64) -> Option<u64> {
        let e = self.expr(name)?;
        cx.steps(e, name, min)
    }

    pub fn plain(&self, cx: &mut Cx<'_>, name: &str) -> Option<f64> {
        self.quantity(cx, name, Dim::PLAIN, "1.0")
    }

    /// A voltage (mV, V) or a plain number, with which one it was.
    pub fn volt(&self, cx: &mut Cx<'_>, name: &str) -> Option<(f64, VoltUnit)> {
        let e = self.expr(name)?;
        cx.volt(e, name)
    }

    /// A whole number in `[lo, hi]`.
    pub fn int(&self, cx: &mut Cx<'_>, name: &str, lo: i64, hi: i64) -> Option<i64> {
        let e = self.expr(name)?;
        cx.int(e, name, lo, hi)
    }

    /// A probability: plain in `[0, 1]` or a percentage.
    pub fn prob(&self, cx: &mut Cx<'_>, name: &str) -> Option<f64> {
        let e = self.expr(name)?;
        cx.prob(e, name)
    }

    pub fn seed(&self, cx: &mut Cx<'_>, name: &str) -> Option<u64> {
        self.int(cx, name, 0, i64::MAX).map(|v| v as u64)
    }

    /// One of the listed words.
    pub fn word(&self, cx: &mut Cx<'_>, name: &str, options: &[&str]) -> Option<String> {
        let e = self.expr(name)?;
        cx.word(e, name, options)
    }

    pub fn string(&self, cx: &mut Cx<'_>, name: &str) -> Option<String> {
        let e = self.expr(name)?;
        match cx.eval(e)? {
            Val::Str(s) => Some(s),
            _ => {
                cx.err(Diagnostic::error("E0205", format!("`{name}` must be a string")).at(e.span, "expected \"...\""));
                None
            }
        }
    }

    /// A list of numbers of one dimension (a single number counts as a list of one).
    pub fn list(&self, cx: &mut Cx<'_>, name: &str, dim: Dim, example: &str) -> Option<Vec<f64>> {
        let e = self.expr(name)?;
        cx.num_list(e, name, dim, example)
    }

    /// A list of rows of plain numbers.
    pub fn matrix(&self, cx: &mut Cx<'_>, name: &str) -> Option<Vec<Vec<f64>>> {
        let e = self.expr(name)?;
        cx.matrix(e, name, Dim::PLAIN)
    }
}

impl Cx<'_> {
    pub fn quantity(&mut self, e: &Expr, dim: Dim, name: &str, example: &str) -> Option<f64> {
        match self.eval(e)? {
            Val::Num { v, dim: d, .. } if d == dim => Some(v),
            // `inf` is allowed for times (no decay).
            Val::Num { v, dim: d, .. } if d == Dim::PLAIN && v.is_infinite() && dim == Dim::TIME => Some(v),
            Val::Num { dim: d, .. } if d == Dim::PLAIN && dim != Dim::PLAIN => {
                self.err(
                    Diagnostic::error("E0302", format!("`{name}` needs a unit: it is {}", dim.describe()))
                        .at(e.span, "plain number")
                        .help(format!("write it with a unit, e.g. `{name} = {example}`")),
                );
                None
            }
            Val::Num { dim: d, .. } => {
                let mut diag = Diagnostic::error(
                    "E0301",
                    format!("unit mismatch: `{name}` is {}, found {}", dim.describe(), d.describe()),
                )
                .at(e.span, format!("this is {}", d.describe()))
                .help(format!("e.g. `{name} = {example}`"));
                if dim == Dim::TIME && d == Dim::RATE {
                    diag = diag.note("a time constant is a duration (ms, s, steps), not a frequency");
                }
                if dim == Dim::RATE && d == Dim::TIME {
                    diag = diag.note("a rate is a frequency (Hz, kHz), not a duration");
                }
                self.err(diag);
                None
            }
            other => {
                self.err(
                    Diagnostic::error("E0205", format!("`{name}` must be {}", dim.describe()))
                        .at(e.span, format!("found {}", val_kind(&other))),
                );
                None
            }
        }
    }

    pub fn steps(&mut self, e: &Expr, name: &str, min: u64) -> Option<u64> {
        let t = self.quantity(e, Dim::TIME, name, "10 steps")?;
        if !t.is_finite() || t < 0.0 {
            self.err(
                Diagnostic::error("E0206", format!("`{name}` must be a finite, non-negative time")).at(e.span, "here"),
            );
            return None;
        }
        let s = (t / self.dt).round();
        if s < min as f64 || s > 1e15 {
            self.err(
                Diagnostic::error("E0206", format!("`{name}` is {s} steps; it must be at least {min}"))
                    .at(e.span, format!("{s} steps at dt = {} ms", self.dt * 1e3)),
            );
            return None;
        }
        Some(s as u64)
    }

    pub fn volt(&mut self, e: &Expr, _name: &str) -> Option<(f64, VoltUnit)> {
        match self.eval(e)? {
            Val::Num { v, dim, .. } if dim == Dim::VOLT => Some((v, VoltUnit::Volt)),
            Val::Num { v, dim, .. } if dim == Dim::PLAIN => Some((v, VoltUnit::Plain)),
            Val::Num { dim, .. } => {
                self.err(
                    Diagnostic::error(
                        "E0301",
                        format!("unit mismatch: expected a voltage or a plain number, found {}", dim.describe()),
                    )
                    .at(e.span, format!("this is {}", dim.describe())),
                );
                None
            }
            other => {
                self.err(
                    Diagnostic::error("E0205", "expected a voltage or a plain number")
                        .at(e.span, format!("found {}", val_kind(&other))),
                );
                None
            }
        }
    }

    pub fn int(&mut self, e: &Expr, name: &str, lo: i64, hi: i64) -> Option<i64> {
        let v = self.quantity(e, Dim::PLAIN, name, "1")?;
        if v.fract() != 0.0 || v < lo as f64 || v > hi as f64 {
            self.err(
                Diagnostic::error("E0206", format!("`{name}` must be a whole number in [{lo}, {hi}]"))
                    .at(e.span, format!("found {v}")),
            );
            return None;
        }
        Some(v as i64)
    }

    pub fn prob(&mut self, e: &Expr, name: &str) -> Option<f64> {
        let v = self.quantity(e, Dim::PLAIN, name, "0.5")?;
        if !(0.0..=1.0).contains(&v) {
            self.err(
                Diagnostic::error("E0206", format!("`{name}` is a probability and must be in [0, 1]"))
                    .at(e.span, format!("found {v}")),
            );
            return None;
        }
        Some(v)
    }

    pub fn word(&mut self, e: &Expr, name: &str, options: &[&str]) -> Option<String> {
        let v = self.eval(e)?;
        if let Val::Word(w) = &v {
            if options.contains(&w.as_str()) {
                return Some(w.clone());
            }
        }
        let mut d = Diagnostic::error("E0206", format!("`{name}` must be one of: {}", options.join(", ")))
            .at(e.span, format!("found {}", val_kind(&v)));
        if let Val::Word(w) = &v {
            if let Some(s) = suggest(w, options.iter().copied()) {
                d = d.help(format!("did you mean `{s}`?"));
            }
        }
        self.err(d);
        None
    }

    pub fn num_list(&mut self, e: &Expr, name: &str, dim: Dim, example: &str) -> Option<Vec<f64>> {
        match self.eval(e)? {
            Val::List(items) => {
                let mut out = Vec::new();
                for (k, it) in items.into_iter().enumerate() {
                    let span = match &e.kind {
                        ExprKind::List { items, .. } => items.get(k).map_or(e.span, |x| x.span),
                        _ => e.span,
                    };
                    match it {
                        Val::Num { v, dim: d, .. } if d == dim => out.push(v),
                        Val::Num { dim: d, .. } if d == Dim::PLAIN => {
                            self.err(
                                Diagnostic::error("E0302", format!("`{name}` needs a unit: it is {}", dim.describe()))
                                    .at(e.span, "plain numbers")
                                    .help(format!("write e.g. `{name} = {example}`")),
                            );
                            return None;
                        }
                        Val::Num { dim: d, .. } => {
                            let mut diag = Diagnostic::error(
                                "E0301",
                                format!("unit mismatch: `{name}` holds {}, found {}", plural_dim(dim), d.describe()),
                            )
                            .at(span, format!("this is {}", d.describe()))
                            .help(format!("e.g. `{name} = {example}`"));
                            if dim == Dim::RATE && d == Dim::TIME {
                                diag = diag.note("a rate is a frequency (Hz, kHz), not a duration");
                            }
                            self.err(diag);
                            return None;
                        }
                        other => {
                            self.err(
                                Diagnostic::error("E0205", format!("`{name}` must hold numbers"))
                                    .at(span, format!("found {}", val_kind(&other))),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Val::Num { .. } => self.quantity(e, dim, name, example).map(|v| vec![v]),
            other => {
                self.err(
                    Diagnostic::error("E0205", format!("`{name}` must be a list of numbers"))
                        .at(e.span, format!("found {}", val_kind(&other))),
                );
                None
            }
        }
    }

    pub fn matrix(&mut self, e: &Expr, name: &str, dim: Dim) -> Option<Vec<Vec<f64>>> {
        let ExprKind::List { items, .. } = &e.kind else {
            self.err(
                Diagnostic::error("E0205", format!("`{name}` must be a matrix `[[...], [...]]`"))
                    .at(e.span, "not a list of rows"),
            );
            return None;
        };
        let mut rows = Vec::new();
        for r in items {
            rows.push(self.num_list(r, name, dim, "[[0, 1], [1, 0]]")?);
        }
        if let Some(first) = rows.first() {
            let n = first.len();
            if let Some(k) = rows.iter().position(|r| r.len() != n) {
                self.err(
                    Diagnostic::error("E0602", format!("rows of `{name}` differ in length"))
                        .at(items[k].span, format!("{} entries, the first row has {n}", rows[k].len())),
                );
                return None;
            }
        }
        Some(rows)
    }
}

fn plural_dim(d: Dim) -> String {
    match (d.time, d.volt) {
        (1, 0) => "times".into(),
        (-1, 0) => "rates".into(),
        (0, 1) => "voltages".into(),
        (0, 0) => "plain numbers".into(),
        _ => d.describe(),
    }
}

pub fn val_kind(v: &Val) -> String {
    match v {
        Val::Num { dim, .. } => dim.describe(),
        Val::Str(_) => "a string".into(),
        Val::List(_) => "a list".into(),
        Val::Word(w) => format!("`{w}`"),
    }
}

/// The closest candidate within edit distance 2 (for "did you mean").
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, c)| d <= 2 && d < c.len().max(name.len()))
        .min_by_key(|&(d, c)| (d, c))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Settings (`key = value` lists) read like named arguments.
pub fn settings_as_call(name: &Ident, items: &[crate::front::ast::Setting], span: Span) -> Call {
    Call {
        func: name.clone(),
        args: items.iter().map(|s| Arg { name: Some(s.key.clone()), value: s.value.clone(), span: s.span }).collect(),
        span,
    }
}
