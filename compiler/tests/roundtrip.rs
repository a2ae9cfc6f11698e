//! Property tests of the parser and printer: printing an AST and parsing it again gives the same
//! AST (spans ignored); arbitrary and mutated text never panics and ends in a model or in
//! diagnostics whose spans lie inside the text.

mod common;

use nm_compiler::driver;
use nm_compiler::front::ast::*;
use nm_compiler::front::parser::parse_file;
use nm_compiler::front::printer::print_file;
use nm_compiler::front::span::{FileId, Span};
use proptest::prelude::*;

fn parse_ok(text: &str) -> File {
    let (f, d) = parse_file(FileId(0), text);
    assert!(d.is_empty(), "unexpected syntax errors in:\n{text}\n{d:?}");
    f
}

#[test]
fn programs_round_trip_through_the_printer() {
    for p in common::programs() {
        let text = std::fs::read_to_string(&p).expect("readable");
        let a = parse_ok(&text);
        let printed = print_file(&a);
        let b = parse_ok(&printed);
        assert_eq!(common::strip_spans(&a), common::strip_spans(&b), "{}:\n{printed}", p.display());
        // Printing is canonical: a second round gives the same text.
        assert_eq!(print_file(&b), printed);
    }
}

// ------------------------------------------------------------------------------------------
// Random ASTs

const RESERVED: &[&str] = &[
    "target",
    "sim",
    "const",
    "pop",
    "input",
    "signal",
    "connect",
    "rule",
    "record",
    "plastic",
    "when",
    "every",
    "on",
    "trace",
    "let",
    "bounds",
    "normalize",
    "round",
    "in",
    "pre",
    "post",
    "step",
    "steps",
    "epoch",
    "ns",
    "us",
    "ms",
    "s",
    "Hz",
    "kHz",
    "uV",
    "mV",
    "V",
];

fn sp() -> Span {
    Span::default()
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,5}".prop_filter("not reserved", |s| !RESERVED.contains(&s.as_str()))
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(|name| Ident { name, span: sp() })
}

fn unit() -> impl Strategy<Value = Option<Unit>> {
    prop_oneof![3 => Just(None), 1 => proptest::sample::select(Unit::ALL.map(|(_, u)| u).to_vec()).prop_map(Some)]
}

fn num() -> impl Strategy<Value = f64> {
    prop_oneof![(0u32..10_000).prop_map(f64::from), 0.0f64..1e6, 1e-9f64..1e-3]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (num(), unit()).prop_map(|(value, unit)| Expr { kind: ExprKind::Num { value, unit }, span: sp() }),
        "[ -~]{0,8}".prop_map(|s| Expr { kind: ExprKind::Str(s), span: sp() }),
        proptest::collection::vec(ident(), 1..3).prop_map(|p| Expr { kind: ExprKind::Path(p), span: sp() }),
    ]
}

fn expr() -> BoxedStrategy<Expr> {
    leaf()
        .prop_recursive(4, 24, 4, |inner| {
            let e = |kind| Expr { kind, span: sp() };
            prop_oneof![
                (
                    inner.clone(),
                    inner.clone(),
                    proptest::sample::select(vec![BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div])
                )
                    .prop_map(move |(l, r, op)| e(ExprKind::Binary {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r)
                    })),
                inner.clone().prop_map(move |x| e(ExprKind::Neg(Box::new(x)))),
                (inner.clone(), inner.clone())
                    .prop_map(move |(b, i)| e(ExprKind::Index { base: Box::new(b), index: Box::new(i) })),
                (proptest::collection::vec(inner.clone(), 0..3), unit())
                    .prop_map(move |(items, unit)| e(ExprKind::List { items, unit })),
                call_with(inner.boxed()).prop_map(move |c| e(ExprKind::Call(c))),
            ]
        })
        .boxed()
}

fn call_with(inner: BoxedStrategy<Expr>) -> impl Strategy<Value = Call> {
    (ident(), proptest::collection::vec((proptest::option::of(ident()), inner), 0..3)).prop_map(|(func, args)| Call {
        func,
        args: args.into_iter().map(|(name, value)| Arg { name, value, span: sp() }).collect(),
        span: sp(),
    })
}

fn call() -> impl Strategy<Value = Call> {
    call_with(expr())
}

fn setting() -> impl Strategy<Value = Setting> {
    (ident(), expr()).prop_map(|(key, value)| Setting { key, value, span: sp() })
}

fn trigger() -> impl Strategy<Value = Trigger> {
    proptest::sample::select(vec![TriggerKind::Pre, TriggerKind::Post, TriggerKind::Step, TriggerKind::Epoch])
        .prop_map(|kind| Trigger { kind, span: sp() })
}

fn update() -> impl Strategy<Value = Update> {
    (ident(), proptest::sample::select(vec![AssignOp::Set, AssignOp::Add, AssignOp::Sub, AssignOp::Mul]), expr())
        .prop_map(|(target, op, value)| Update { target, op, value, span: sp() })
}

fn rule_stmt() -> impl Strategy<Value = RuleStmt> {
    let k =
        prop_oneof![
            (ident(), proptest::collection::vec((proptest::option::of(ident()), expr()), 0..2), any::<bool>(), expr())
                .prop_map(|(name, args, pre, impulse)| RuleStmtKind::Trace {
                    name,
                    args: args.into_iter().map(|(name, value)| Arg { name, value, span: sp() }).collect(),
                    side: if pre { Side::Pre } else { Side::Post },
                    impulse,
                }),
            (ident(), expr()).prop_map(|(name, value)| RuleStmtKind::Let { name, value }),
            (trigger(), proptest::collection::vec(update(), 0..3))
                .prop_map(|(trigger, body)| RuleStmtKind::Handler { trigger, body }),
            (ident(), expr(), expr()).prop_map(|(var, lo, hi)| RuleStmtKind::Bounds { var, lo, hi }),
            (ident(), expr(), proptest::option::of(trigger()))
                .prop_map(|(norm, value, trigger)| RuleStmtKind::Normalize { norm, value, trigger }),
            ident().prop_map(|mode| RuleStmtKind::Round { mode }),
        ];
    k.prop_map(|kind| RuleStmt { kind, span: sp() })
}

fn item() -> impl Strategy<Value = Item> {
    let settings = || proptest::collection::vec(setting(), 0..3).prop_map(|items| Settings { items, span: sp() });
    let k = prop_oneof![
        (
            prop_oneof![
                ident().prop_map(TargetName::Profile),
                "[ -~]{0,10}".prop_map(|path| TargetName::Path { path, span: sp() })
            ],
            settings()
        )
            .prop_map(|(name, settings)| ItemKind::Target(Target { name, settings })),
        settings().prop_map(ItemKind::Sim),
        (ident(), expr()).prop_map(|(name, value)| ItemKind::Const(Const { name, value })),
        (ident(), call()).prop_map(|(name, value)| ItemKind::Pop(Decl { name, value })),
        (ident(), call()).prop_map(|(name, value)| ItemKind::Signal(Decl { name, value })),
        (ident(), call(), proptest::option::of((ident(), expr()))).prop_map(|(name, value, g)| ItemKind::Input(
            Input { name, value, gate: g.map(|(signal, value)| Gate { signal, value, span: sp() }) }
        )),
        (
            proptest::option::of(ident()),
            ident(),
            ident(),
            proptest::option::of(call()),
            proptest::collection::vec(setting(), 0..3),
            proptest::option::of(call())
        )
            .prop_map(|(name, pre, post, pattern, clauses, plastic)| ItemKind::Connect(Connect {
                name,
                pre,
                post,
                pattern,
                clauses,
                plastic
            })),
        (
            ident(),
            proptest::collection::vec((ident(), proptest::option::of(expr())), 0..3),
            proptest::collection::vec(rule_stmt(), 0..5)
        )
            .prop_map(|(name, params, body)| ItemKind::Rule(Rule {
                name,
                params: params.into_iter().map(|(name, default)| Param { name, default, span: sp() }).collect(),
                body,
            })),
        proptest::collection::vec(
            (ident(), ident(), proptest::option::of(ident()), proptest::option::of(expr())),
            1..3
        )
        .prop_map(|ps| ItemKind::Record(Record {
            probes: ps
                .into_iter()
                .map(|(kind, subject, post, every)| Probe { kind, subject, post, every, span: sp() })
                .collect()
        })),
    ];
    k.prop_map(|kind| Item { kind, span: sp() })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(items in proptest::collection::vec(item(), 0..6)) {
        let ast = File { items, span: sp() };
        let text = print_file(&ast);
        let (back, diags) = parse_file(FileId(0), &text);
        prop_assert!(diags.is_empty(), "syntax errors in printed text:\n{}\n{:?}", text, diags);
        prop_assert_eq!(common::strip_spans(&ast), common::strip_spans(&back), "text:\n{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let c = driver::check_source("fuzz.nm", &text, None);
        common::assert_spans_valid(&c.diagnostics, &c.sources);
        prop_assert!(c.model.is_some() || c.diagnostics.has_errors());
    }

    #[test]
    fn token_soup_never_panics(toks in proptest::collection::vec(proptest::sample::select(vec![
        "pop", "rule", "connect", "input", "record", "signal", "target", "sim", "const", "x", "w", "=", "+=",
        "(", ")", "[", "]", "{", "}", ",", ";", ":", "->", "1", "2.5", "ms", "Hz", "%", "-", "*", "/", "+", "\"s\"",
        "on", "pre", "post", "every", "step", "trace", "bounds", "in", "lif", "n", "plastic", "when", "==", "\n",
    ]), 0..60)) {
        let text = toks.join(" ");
        let c = driver::check_source("soup.nm", &text, None);
        common::assert_spans_valid(&c.diagnostics, &c.sources);
        prop_assert!(c.model.is_some() || c.diagnostics.has_errors());
    }

    #[test]
    fn mutated_programs_never_panic(
        which in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, "\\PC{0,3}"), 1..6),
    ) {
        let progs = common::programs();
        let path = which.get(&progs);
        let mut text = std::fs::read_to_string(path).expect("readable");
        for (at, kind, s) in edits {
            let mut pos = at.index(text.len() + 1);
            while !text.is_char_boundary(pos) {
                pos -= 1;
            }
            let mut end = (pos + s.len().max(1)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            match kind {
                0 => text.insert_str(pos, &s),
                1 => text.replace_range(pos..end, ""),
                _ => text.replace_range(pos..end, &s),
            }
        }
        // Generated pattern sets are small enough here: mutation may change sizes, but checks
        // bound them (see MAX_VALUES).
        let c = driver::check_source("mutated.nm", &text, path.parent());
        common::assert_spans_valid(&c.diagnostics, &c.sources);
        prop_assert!(c.model.is_some() || c.diagnostics.has_errors());
    }
}
