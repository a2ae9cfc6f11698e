//! AST → canonical `.nm` source text. Parsing the printed text gives back the same tree (spans
//! aside); the property tests hold the two to that.

use crate::front::ast::*;
use std::fmt::Write as _;

/// Print a whole file, one item per line (rules and blocks indented by two spaces).
pub fn print_file(f: &File) -> String {
    let mut out = String::new();
    for it in &f.items {
        print_item(&mut out, it);
        out.push('\n');
    }
    out
}

fn print_item(o: &mut String, it: &Item) {
    match &it.kind {
        ItemKind::Target(t) => {
            o.push_str("target ");
            match &t.name {
                TargetName::Profile(id) => o.push_str(&id.name),
                TargetName::Path { path, .. } => print_string(o, path),
            }
            if !t.settings.items.is_empty() {
                o.push(' ');
                print_settings(o, &t.settings);
            }
        }
        ItemKind::Sim(s) => {
            o.push_str("sim ");
            print_settings(o, s);
        }
        ItemKind::Const(c) => {
            let _ = write!(o, "const {} = {}", c.name.name, print_expr(&c.value));
        }
        ItemKind::Pop(d) => {
            let _ = write!(o, "pop {} = {}", d.name.name, print_call(&d.value));
        }
        ItemKind::Input(i) => {
            let _ = write!(o, "input {} = {}", i.name.name, print_call(&i.value));
            if let Some(g) = &i.gate {
                let _ = write!(o, " when {} == {}", g.signal.name, print_expr(&g.value));
            }
        }
        ItemKind::Signal(d) => {
            let _ = write!(o, "signal {} = {}", d.name.name, print_call(&d.value));
        }
        ItemKind::Connect(c) => {
            o.push_str("connect ");
            if let Some(n) = &c.name {
                let _ = write!(o, "{}: ", n.name);
            }
            let _ = write!(o, "{} -> {}", c.pre.name, c.post.name);
            if let Some(p) = &c.pattern {
                let _ = write!(o, " {}", print_call_or_name(p));
            }
            for s in &c.clauses {
                let _ = write!(o, " {} = {}", s.key.name, print_expr(&s.value));
            }
            if let Some(p) = &c.plastic {
                let _ = write!(o, " plastic {}", print_call_or_name(p));
            }
        }
        ItemKind::Rule(r) => {
            let _ = write!(o, "rule {}", r.name.name);
            if !r.params.is_empty() {
                let ps: Vec<String> = r
                    .params
                    .iter()
                    .map(|p| match &p.default {
                        Some(d) => format!("{} = {}", p.name.name, print_expr(d)),
                        None => p.name.name.clone(),
                    })
                    .collect();
                let _ = write!(o, "({})", ps.join(", "));
            }
            o.push_str(" {\n");
            for s in &r.body {
                o.push_str("  ");
                print_rule_stmt(o, s);
                o.push('\n');
            }
            o.push('}');
        }
        ItemKind::Record(r) => {
            o.push_str("record ");
            let ps: Vec<String> = r
                .probes
                .iter()
                .map(|p| {
                    let mut t = match &p.post {
                        Some(b) => format!("{}({} -> {})", p.kind.name, p.subject.name, b.name),
                        None => format!("{}({})", p.kind.name, p.subject.name),
                    };
                    if let Some(e) = &p.every {
                        let _ = write!(t, " every {}", print_expr(e));
                    }
                    t
                })
                .collect();
            o.push_str(&ps.join(", "));
        }
    }
}

fn print_settings(o: &mut String, s: &Settings) {
    let items: Vec<String> = s.items.iter().map(|s| format!("{} = {}", s.key.name, print_expr(&s.value))).collect();
    if items.is_empty() {
        o.push_str("{ }");
    } else {
        let _ = write!(o, "{{ {} }}", items.join("; "));
    }
}

fn trigger_text(t: &Trigger) -> &'static str {
    match t.kind {
        TriggerKind::Pre => "on pre",
        TriggerKind::Post => "on post",
        TriggerKind::Step => "every step",
        TriggerKind::Epoch => "every epoch",
    }
}

fn print_rule_stmt(o: &mut String, s: &RuleStmt) {
    match &s.kind {
        RuleStmtKind::Trace { name, args, side, impulse } => {
            let side = match side {
                Side::Pre => "pre",
                Side::Post => "post",
            };
            let _ = write!(o, "trace {}({}) on {side} += {}", name.name, print_args(args), print_expr(impulse));
        }
        RuleStmtKind::Let { name, value } => {
            let _ = write!(o, "let {} = {}", name.name, print_expr(value));
        }
        RuleStmtKind::Handler { trigger, body } => {
            let _ = write!(o, "{}", trigger_text(trigger));
            if body.len() == 1 {
                let _ = write!(o, ": {}", print_update(&body[0]));
            } else {
                let us: Vec<String> = body.iter().map(print_update).collect();
                if us.is_empty() {
                    o.push_str(" { }");
                } else {
                    let _ = write!(o, " {{ {} }}", us.join("; "));
                }
            }
        }
        RuleStmtKind::Bounds { var, lo, hi } => {
            let _ = write!(o, "bounds {} in [{}, {}]", var.name, print_expr(lo), print_expr(hi));
        }
        RuleStmtKind::Normalize { norm, value, trigger } => {
            let _ = write!(o, "normalize {}(w) = {}", norm.name, print_expr(value));
            if let Some(t) = trigger {
                let _ = write!(o, " {}", trigger_text(t));
            }
        }
        RuleStmtKind::Round { mode } => {
            let _ = write!(o, "round {}", mode.name);
        }
    }
}

fn print_update(u: &Update) -> String {
    format!("{} {} {}", u.target.name, u.op.symbol(), print_expr(&u.value))
}

fn print_args(args: &[Arg]) -> String {
    let v: Vec<String> = args
        .iter()
        .map(|a| match &a.name {
            Some(n) => format!("{} = {}", n.name, print_expr(&a.value)),
            None => print_expr(&a.value),
        })
        .collect();
    v.join(", ")
}

/// `f(args)`.
pub fn print_call(c: &Call) -> String {
    format!("{}({})", c.func.name, print_args(&c.args))
}

fn print_call_or_name(c: &Call) -> String {
    if c.args.is_empty() {
        c.func.name.clone()
    } else {
        print_call(c)
    }
}

fn print_string(o: &mut String, s: &str) {
    o.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('"');
}

fn print_num(value: f64, unit: Option<Unit>) -> String {
    match unit {
        None => format!("{value}"),
        Some(Unit::Percent) => format!("{value}%"),
        Some(u) => format!("{value} {}", u.text()),
    }
}

/// Print an expression with the fewest parentheses that keep its tree.
pub fn print_expr(e: &Expr) -> String {
    let mut o = String::new();
    expr_into(&mut o, e);
    o
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Neg(_) => 3,
        _ => 4,
    }
}

fn expr_into(o: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Num { value, unit } => o.push_str(&print_num(*value, *unit)),
        ExprKind::Str(s) => print_string(o, s),
        ExprKind::List { items, unit } => {
            o.push('[');
            for (k, it) in items.iter().enumerate() {
                if k > 0 {
                    o.push_str(", ");
                }
                expr_into(o, it);
            }
            o.push(']');
            match unit {
                Some(Unit::Percent) => o.push('%'),
                Some(u) => {
                    o.push(' ');
                    o.push_str(u.text());
                }
                None => {}
            }
        }
        ExprKind::Path(p) => {
            let names: Vec<&str> = p.iter().map(|i| i.name.as_str()).collect();
            o.push_str(&names.join("."));
        }
        ExprKind::Call(c) => o.push_str(&print_call(c)),
        ExprKind::Index { base, index } => {
            wrap_if(o, base, prec(base) < 4);
            o.push('[');
            expr_into(o, index);
            o.push(']');
        }
        ExprKind::Neg(x) => {
            o.push('-');
            wrap_if(o, x, prec(x) < 3);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            wrap_if(o, lhs, prec(lhs) < p);
            let _ = write!(o, " {} ", op.symbol());
            wrap_if(o, rhs, prec(rhs) <= p);
        }
    }
}

fn wrap_if(o: &mut String, e: &Expr, wrap: bool) {
    if wrap {
        o.push('(');
        expr_into(o, e);
        o.push(')');
    } else {
        expr_into(o, e);
    }
}
