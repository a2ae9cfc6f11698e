//! The syntax tree of a `.nm` file: plain data, every node carrying its [`Span`]. Produced by
//! [`crate::front::parser`], printed back by [`crate::front::printer`], checked by
//! [`crate::front::check`]. Meaning (units, names, locality) is not decided here.

use crate::front::span::Span;
use serde::Serialize;

/// A whole file: items in source order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct File {
    pub items: Vec<Item>,
    pub span: Span,
}

/// A name as written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A top-level item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ItemKind {
    /// `target default { weight_bits = 8 }`
    Target(Target),
    /// `sim { dt = 1 ms; duration = 10 s }`
    Sim(Settings),
    /// `const wmax = 1.0`
    Const(Const),
    /// `pop out = lif(n = 1, ...)`
    Pop(Decl),
    /// `input src = poisson(rates = [5, 10] Hz) when phase == 1`
    Input(Input),
    /// `signal phase = cycle(period = 50 steps, values = [1, 0])`
    Signal(Decl),
    /// `connect src -> out all_to_all weight = 0.5 plastic stdp`
    Connect(Connect),
    /// `rule stdp(eta = 0.01) { ... }`
    Rule(Rule),
    /// `record spikes(out), weights(src -> out) every 100 ms`
    Record(Record),
}

/// Which chip: a built-in profile name or a chip-spec TOML path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TargetName {
    Profile(Ident),
    Path { path: String, span: Span },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    pub name: TargetName,
    pub settings: Settings,
}

/// `{ key = value; ... }` (empty when the block is omitted).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    pub items: Vec<Setting>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Const {
    pub name: Ident,
    pub value: Expr,
}

/// `name = call(...)`: populations and signals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decl {
    pub name: Ident,
    pub value: Call,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Input {
    pub name: Ident,
    pub value: Call,
    /// `when signal == value`: the input is active only while the signal has that value.
    pub gate: Option<Gate>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gate {
    pub signal: Ident,
    pub value: Expr,
    pub span: Span,
}

/// A call-like form `f(a, k = v)`, used for kinds, generators and functions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Call {
    pub func: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A positional (`name == None`) or named argument.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Connect {
    /// Optional projection name (`connect ff: a -> b`); otherwise `a->b`.
    pub name: Option<Ident>,
    pub pre: Ident,
    pub post: Ident,
    /// Connectivity pattern; `None` means `all_to_all`.
    pub pattern: Option<Call>,
    /// `key = value` clauses: `weight`, `delay`, `sign`, `mode`.
    pub clauses: Vec<Setting>,
    /// `plastic rule(args)`.
    pub plastic: Option<Call>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Vec<RuleStmt>,
}

/// A rule parameter with an optional default value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    pub name: Ident,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleStmt {
    pub kind: RuleStmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RuleStmtKind {
    /// `trace x(tau = 20 ms) on pre += 1`
    Trace { name: Ident, args: Vec<Arg>, side: Side, impulse: Expr },
    /// `let g = expr`
    Let { name: Ident, value: Expr },
    /// `on post: w += ...` or `every step { ... }`
    Handler { trigger: Trigger, body: Vec<Update> },
    /// `bounds w in [lo, hi]` (or `bounds tag in [...]`)
    Bounds { var: Ident, lo: Expr, hi: Expr },
    /// `normalize max(w) = 1 on post`
    Normalize { norm: Ident, value: Expr, trigger: Option<Trigger> },
    /// `round stochastic`
    Round { mode: Ident },
}

/// The owner of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Side {
    Pre,
    Post,
}

/// When a handler runs, with the span of the words that say so.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TriggerKind {
    Pre,
    Post,
    Step,
    Epoch,
}

/// `w += expr` and friends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Update {
    pub target: Ident,
    pub op: AssignOp,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
    Mul,
}

impl AssignOp {
    pub fn symbol(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Add => "+=",
            AssignOp::Sub => "-=",
            AssignOp::Mul => "*=",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    pub probes: Vec<Probe>,
}

/// `kind(a)` or `kind(a -> b)`, optionally `every 10 ms`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    pub kind: Ident,
    pub subject: Ident,
    pub post: Option<Ident>,
    /// Sampling period; `None` samples every step (spikes: every spike).
    pub every: Option<Expr>,
    pub span: Span,
}

/// A unit suffix as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Unit {
    Ns,
    Us,
    Ms,
    S,
    Hz,
    KHz,
    UV,
    MV,
    V,
    Step,
    Percent,
}

impl Unit {
    /// Every unit with its spelling; longer spellings first so that prefixes never shadow them.
    pub const ALL: [(&'static str, Unit); 12] = [
        ("steps", Unit::Step),
        ("step", Unit::Step),
        ("kHz", Unit::KHz),
        ("Hz", Unit::Hz),
        ("ns", Unit::Ns),
        ("us", Unit::Us),
        ("ms", Unit::Ms),
        ("uV", Unit::UV),
        ("mV", Unit::MV),
        ("s", Unit::S),
        ("V", Unit::V),
        ("%", Unit::Percent),
    ];

    pub fn text(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::Us => "us",
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::Hz => "Hz",
            Unit::KHz => "kHz",
            Unit::UV => "uV",
            Unit::MV => "mV",
            Unit::V => "V",
            Unit::Step => "steps",
            Unit::Percent => "%",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExprKind {
    /// A number with an optional unit: `20 ms`, `0.5`, `10%`.
    Num {
        value: f64,
        unit: Option<Unit>,
    },
    /// `"data/x.npy"`
    Str(String),
    /// `[1, 2, 3] Hz`
    List {
        items: Vec<Expr>,
        unit: Option<Unit>,
    },
    /// `a` or `pre.spike`
    Path(Vec<Ident>),
    /// `f(a, k = b)`
    Call(Call),
    /// `a[i]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    /// Binding strength: `*` and `/` bind tighter than `+` and `-`.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }
}

impl Expr {
    /// The path's single name, if this is a plain name.
    pub fn as_name(&self) -> Option<&Ident> {
        match &self.kind {
            ExprKind::Path(p) if p.len() == 1 => p.first(),
            _ => None,
        }
    }
}
