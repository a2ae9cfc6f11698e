//! The `.nm` parser, built with nom 8: one function per grammar production, named after it, with
//! the production in its doc comment (`docs/language.md`'s grammar is the union of those lines).
//!
//! Every production takes the parse context [`Ctx`] (the whole source, for spans, and the
//! expression recursion budget) and the remaining input. Errors are [`PError`], nom's error
//! extended with what was expected and domain kinds. After a syntax error the parser skips to the
//! next line that starts an item and goes on, so one run reports every broken item.

use crate::front::ast::*;
use crate::front::diag::Diagnostic;
use crate::front::span::{FileId, Span};
use nom::error::{ErrorKind, ParseError};
use nom::IResult;
use std::cell::Cell;

/// Deepest expression tree the parser accepts: parentheses, lists, calls, negations, and each
/// operator of a left-associative chain count one level.
pub const MAX_EXPR_DEPTH: u32 = 128;

/// Words that start an item; they cannot be used as connectivity patterns or clause keys.
pub const ITEM_KEYWORDS: [&str; 9] = ["target", "sim", "const", "pop", "input", "signal", "connect", "rule", "record"];

/// What went wrong, beyond nom's own kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PErrorKind {
    Nom(ErrorKind),
    /// Expected a token or construct, described for the user.
    Expected(&'static str),
    /// The expression nesting budget ran out.
    TooDeep,
    /// A number literal that is not a finite `f64`.
    BadNumber,
    UnterminatedString,
}

/// The parser's error: where (the remaining input) and what.
#[derive(Clone, Debug, PartialEq)]
pub struct PError<'a> {
    pub input: &'a str,
    pub kind: PErrorKind,
}

impl<'a> ParseError<&'a str> for PError<'a> {
    fn from_error_kind(input: &'a str, kind: ErrorKind) -> Self {
        PError { input, kind: PErrorKind::Nom(kind) }
    }

    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }

    /// Of two alternatives keep the one that got further.
    fn or(self, other: Self) -> Self {
        if other.input.len() < self.input.len() {
            other
        } else {
            self
        }
    }
}

type PResult<'a, T> = IResult<&'a str, T, PError<'a>>;

/// Parse context: the full text (spans are offsets into it), the file id and the recursion budget.
#[derive(Debug)]
pub struct Ctx<'a> {
    base: &'a str,
    file: FileId,
    depth: Cell<u32>,
}

impl<'a> Ctx<'a> {
    fn off(&self, i: &str) -> usize {
        self.base.len() - i.len()
    }

    fn span(&self, start: &str, end: &str) -> Span {
        Span::new(self.file, self.off(start), self.off(end))
    }

    /// Take one level of the expression budget; the guard gives it back.
    fn enter(&'a self, i: &'a str) -> Result<DepthGuard<'a>, nom::Err<PError<'a>>> {
        let d = self.depth.get();
        if d >= MAX_EXPR_DEPTH {
            return Err(nom::Err::Failure(PError { input: i, kind: PErrorKind::TooDeep }));
        }
        self.depth.set(d + 1);
        Ok(DepthGuard(&self.depth))
    }
}

struct DepthGuard<'a>(&'a Cell<u32>);

impl Drop for DepthGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

fn fail<'a, T>(i: &'a str, what: &'static str) -> PResult<'a, T> {
    Err(nom::Err::Error(PError { input: i, kind: PErrorKind::Expected(what) }))
}

/// Replace an error that did not get past `at` with "expected `what`"; keep deeper errors.
fn expect_at<'a, T>(r: PResult<'a, T>, at: &'a str, what: &'static str) -> PResult<'a, T> {
    match r {
        Err(nom::Err::Error(e)) if e.input.len() >= ws(at).len() => fail(ws(at), what),
        other => other,
    }
}

/// Turn a recoverable error into a failure (we are committed to this production).
fn cut<'a, T>(r: PResult<'a, T>) -> PResult<'a, T> {
    r.map_err(|e| match e {
        nom::Err::Error(e) => nom::Err::Failure(e),
        other => other,
    })
}

// ---------------------------------------------------------------------------------------------
// Lexical level

/// `ws := (whitespace | "#" ... newline | "//" ... newline)*`
fn ws(i: &str) -> &str {
    let mut i = i;
    loop {
        let t = i.trim_start();
        if t.starts_with('#') || t.starts_with("//") {
            i = t.find('\n').map_or("", |n| &t[n..]);
        } else {
            return t;
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A punctuation token after optional whitespace.
fn sym<'a>(i: &'a str, s: &'static str) -> PResult<'a, &'a str> {
    let i = ws(i);
    match i.strip_prefix(s) {
        Some(rest) => Ok((rest, &i[..s.len()])),
        None => fail(i, s),
    }
}

/// Whether the next token is the punctuation `s`.
fn peek_sym(i: &str, s: &str) -> bool {
    ws(i).starts_with(s)
}

/// The word at the start of `i` (after whitespace), if any.
fn peek_word(i: &str) -> Option<&str> {
    let i = ws(i);
    let n = i.find(|c: char| !is_ident_char(c)).unwrap_or(i.len());
    if n > 0 && i.starts_with(is_ident_start) {
        Some(&i[..n])
    } else {
        None
    }
}

/// A keyword: the word `kw` not followed by a name character.
fn keyword<'a>(i: &'a str, kw: &'static str) -> PResult<'a, &'a str> {
    let t = ws(i);
    if peek_word(t) == Some(kw) {
        Ok((&t[kw.len()..], &t[..kw.len()]))
    } else {
        fail(t, kw)
    }
}

/// `ident := (letter | "_") (letter | digit | "_")*`
pub fn ident<'a>(p: &Ctx<'a>, i: &'a str) -> PResult<'a, Ident> {
    let i = ws(i);
    match peek_word(i) {
        Some(w) => {
            let rest = &i[w.len()..];
            Ok((rest, Ident { name: w.to_string(), span: p.span(i, rest) }))
        }
        None => fail(i, "a name"),
    }
}

/// `number := digit+ ("." digit+)? (("e" | "E") ("+" | "-")? digit+)?`
pub fn number<'a>(p: &Ctx<'a>, i: &'a str) -> PResult<'a, (f64, Span)> {
    let i = ws(i);
    let b = i.as_bytes();
    let digits = |mut k: usize| {
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        k
    };
    let mut k = digits(0);
    if k == 0 {
        return fail(i, "a number");
    }
    if k + 1 < b.len() && b[k] == b'.' && b[k + 1].is_ascii_digit() {
        k = digits(k + 1);
    }
    if k < b.len() && (b[k] == b'e' || b[k] == b'E') {
        let mut m = k + 1;
        if m < b.len() && (b[m] == b'+' || b[m] == b'-') {
            m += 1;
        }
        let e = digits(m);
        if e > m {
            k = e;
        }
    }
    let rest = &i[k..];
    match i[..k].parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((rest, (v, p.span(i, rest)))),
        _ => Err(nom::Err::Failure(PError { input: i, kind: PErrorKind::BadNumber })),
    }
}

/// `unit := "ns" | "us" | "ms" | "s" | "Hz" | "kHz" | "uV" | "mV" | "V" | "step" | "steps" | "%"`
pub fn unit<'a>(_p: &Ctx<'a>, i: &'a str) -> PResult<'a, Unit> {
    let t = ws(i);
    if let Some(rest) = t.strip_prefix('%') {
        return Ok((rest, Unit::Percent));
    }
    if let Some(w) = peek_word(t) {
        for (s, u) in Unit::ALL {
            if w == s {
                return Ok((&t[s.len()..], u));
            }
        }
    }
    fail(t, "a unit")
}

/// `string := '"' (char - '"' | '\"' | '\\')* '"'`
pub fn string<'a>(p: &Ctx<'a>, i: &'a str) -> PResult<'a, (String, Span)> {
    let i = ws(i);
    let Some(body) = i.strip_prefix('"') else { return fail(i, "a string") };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => {
                let rest = &body[k + 1..];
                return Ok((rest, (out, p.span(i, rest))));
            }
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(nom::Err::Failure(PError { input: i, kind: PErrorKind::UnterminatedString }))
}

// ---------------------------------------------------------------------------------------------
// Expressions

/// `expr := term (("+" | "-") term)*`
pub fn expr<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Expr> {
    let (mut i, mut lhs) = term(p, i)?;
    // Each operator of a left-associative chain is one more level of the tree (and of every
    // recursive pass over it), so it takes one level of the budget until the chain ends.
    let mut levels = Vec::new();
    loop {
        let op = if peek_sym(i, "+") && !peek_sym(i, "+=") {
            BinOp::Add
        } else if peek_sym(i, "-") && !peek_sym(i, "-=") && !peek_sym(i, "->") {
            BinOp::Sub
        } else {
            return Ok((i, lhs));
        };
        levels.push(p.enter(i)?);
        let (r, _) = sym(i, op.symbol())?;
        let (r, rhs) = cut(term(p, r))?;
        let span = lhs.span.to(rhs.span);
        lhs = Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
        i = r;
    }
}

/// `term := unary (("*" | "/") unary)*`
pub fn term<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Expr> {
    let (mut i, mut lhs) = unary(p, i)?;
    // Each operator of a left-associative chain is one more level of the tree (and of every
    // recursive pass over it), so it takes one level of the budget until the chain ends.
    let mut levels = Vec::new();
    loop {
        let op = if peek_sym(i, "*") && !peek_sym(i, "*=") {
            BinOp::Mul
        } else if peek_sym(i, "/") && !peek_sym(i, "//") {
            BinOp::Div
        } else {
            return Ok((i, lhs));
        };
        levels.push(p.enter(i)?);
        let (r, _) = sym(i, op.symbol())?;
        let (r, rhs) = cut(unary(p, r))?;
        let span = lhs.span.to(rhs.span);
        lhs = Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
        i = r;
    }
}

/// `unary := "-" unary | postfix`
pub fn unary<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Expr> {
    let start = ws(i);
    if peek_sym(start, "-") && !peek_sym(start, "->") {
        let _g = p.enter(start)?;
        let (i, _) = sym(start, "-")?;
        let (i, e) = cut(unary(p, i))?;
        let span = p.span(start, i);
        return Ok((i, Expr { kind: ExprKind::Neg(Box::new(e)), span }));
    }
    postfix(p, i)
}

/// `postfix := primary ("[" expr "]")*`
pub fn postfix<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Expr> {
    let start = ws(i);
    let (mut i, mut e) = primary(p, start)?;
    while peek_sym(i, "[") {
        let _g = p.enter(i)?;
        let (r, _) = sym(i, "[")?;
        let (r, index) = cut(expr(p, r))?;
        let (r, _) = cut(sym(r, "]"))?;
        e = Expr { kind: ExprKind::Index { base: Box::new(e), index: Box::new(index) }, span: p.span(start, r) };
        i = r;
    }
    Ok((i, e))
}

/// `primary := number unit? | string | list | call | path | "(" expr ")"`
pub fn primary<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Expr> {
    let start = ws(i);
    let c = start.chars().next();
    match c {
        Some(c) if c.is_ascii_digit() => {
            let (i, (value, _)) = number(p, start)?;
            let (i, unit) = match unit(p, i) {
                Ok((r, u)) => (r, Some(u)),
                Err(_) => (i, None),
            };
            Ok((i, Expr { kind: ExprKind::Num { value, unit }, span: p.span(start, i) }))
        }
        Some('"') => {
            let (i, (s, span)) = string(p, start)?;
            Ok((i, Expr { kind: ExprKind::Str(s), span }))
        }
        Some('[') => list(p, start),
        Some('(') => {
            let _g = p.enter(start)?;
            let (i, _) = sym(start, "(")?;
            let (i, mut e) = cut(expr(p, i))?;
            let (i, _) = cut(sym(i, ")"))?;
            // The parentheses belong to the span, not to the tree.
            e.span = p.span(start, i);
            Ok((i, e))
        }
        Some(c) if is_ident_start(c) => {
            let (_, name) = ident(p, start)?;
            let after = &start[name.name.len()..];
            if peek_sym(after, "(") {
                let (i, c) = call(p, start)?;
                let span = c.span;
                Ok((i, Expr { kind: ExprKind::Call(c), span }))
            } else {
                path(p, start)
            }
        }
        _ => fail(start, "an expression"),
    }
}

/// `list := "[" (expr ("," expr)* ","?)? "]" unit?`
pub fn list<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Expr> {
    let start = ws(i);
    let _g = p.enter(start)?;
    let (mut i, _) = sym(start, "[")?;
    let mut items = Vec::new();
    loop {
        if let Ok((r, _)) = sym(i, "]") {
            i = r;
            break;
        }
        let (r, e) = cut(expr(p, i))?;
        items.push(e);
        if let Ok((r2, _)) = sym(r, ",") {
            i = r2;
        } else {
            let (r2, _) = cut(expect_at(sym(r, "]"), ws(r), "`,` or `]`"))?;
            i = r2;
            break;
        }
    }
    let (i, unit) = match unit(p, i) {
        Ok((r, u)) => (r, Some(u)),
        Err(_) => (i, None),
    };
    Ok((i, Expr { kind: ExprKind::List { items, unit }, span: p.span(start, i) }))
}

/// `call := ident "(" args? ")"`
pub fn call<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Call> {
    let start = ws(i);
    let (i, func) = ident(p, start)?;
    let _g = p.enter(i)?;
    let (i, _) = sym(i, "(")?;
    let (i, args) = cut(args(p, i))?;
    let (i, _) = cut(sym(i, ")").or_else(|_| fail(ws(i), "`,` or `)`")))?;
    Ok((i, Call { func, args, span: p.span(start, i) }))
}

/// `args := arg ("," arg)* ","?`
pub fn args<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Vec<Arg>> {
    let mut out = Vec::new();
    let mut i = i;
    while !peek_sym(i, ")") {
        let (r, a) = arg(p, i)?;
        out.push(a);
        match sym(r, ",") {
            Ok((r2, _)) => i = r2,
            Err(_) => return Ok((r, out)),
        }
    }
    Ok((i, out))
}

/// `arg := (ident "=")? expr`
pub fn arg<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Arg> {
    let start = ws(i);
    if let Ok((r, name)) = ident(p, start) {
        if peek_sym(r, "=") && !peek_sym(r, "==") {
            let (r, _) = sym(r, "=")?;
            let (r, value) = cut(expr(p, r))?;
            return Ok((r, Arg { name: Some(name), value, span: p.span(start, r) }));
        }
    }
    let (r, value) = expr(p, start)?;
    Ok((r, Arg { name: None, value, span: p.span(start, r) }))
}

/// `path := ident ("." ident)*`
pub fn path<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Expr> {
    let start = ws(i);
    let (mut i, first) = ident(p, start)?;
    let mut parts = vec![first];
    while i.starts_with('.') {
        let (r, next) = cut(ident(p, &i[1..]))?;
        parts.push(next);
        i = r;
    }
    Ok((i, Expr { kind: ExprKind::Path(parts), span: p.span(start, i) }))
}

// ---------------------------------------------------------------------------------------------
// Items

/// `file := (item ";"?)* EOF`
///
/// With recovery: a broken item is reported and skipped up to the next line that starts an item.
pub fn file<'a>(p: &'a Ctx<'a>, i: &'a str, errors: &mut Vec<PError<'a>>) -> File {
    let start = i;
    let mut items = Vec::new();
    let mut i = ws(i);
    while !i.is_empty() {
        match item(p, i) {
            Ok((r, it)) => {
                items.push(it);
                i = ws(r);
                if let Some(r) = i.strip_prefix(';') {
                    i = ws(r);
                }
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                errors.push(e);
                i = skip_to_next_item(i);
            }
            Err(nom::Err::Incomplete(_)) => {
                errors.push(PError { input: i, kind: PErrorKind::Expected("more input") });
                break;
            }
        }
        p.depth.set(0);
    }
    File { items, span: p.span(start, i) }
}

/// After an error: skip the current line, then every line that does not start with an item keyword.
fn skip_to_next_item(i: &str) -> &str {
    let mut rest = match i.find('\n') {
        Some(n) => &i[n + 1..],
        None => return "",
    };
    loop {
        let t = rest.trim_start_matches([' ', '\t', '\r']);
        if peek_word(t).is_some_and(|w| ITEM_KEYWORDS.contains(&w)) && !t.starts_with(char::is_whitespace) {
            return t;
        }
        match rest.find('\n') {
            Some(n) => rest = &rest[n + 1..],
            None => return "",
        }
    }
}

/// `item := target | sim | const_item | pop | input | signal | connect | rule | record`
pub fn item<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Item> {
    let start = ws(i);
    let (i, kind) = match peek_word(start) {
        Some("target") => target(p, start)?,
        Some("sim") => sim(p, start)?,
        Some("const") => const_item(p, start)?,
        Some("pop") => pop(p, start)?,
        Some("input") => input(p, start)?,
        Some("signal") => signal(p, start)?,
        Some("connect") => connect(p, start)?,
        Some("rule") => rule(p, start)?,
        Some("record") => record(p, start)?,
        _ => return fail(start, "an item (target, sim, const, pop, input, signal, connect, rule or record)"),
    };
    Ok((i, Item { kind, span: p.span(start, i) }))
}

/// `target := "target" (ident | string) settings?`
pub fn target<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "target")?;
    let t = ws(i);
    let (i, name) = if t.starts_with('"') {
        let (r, (path, span)) = string(p, t)?;
        (r, TargetName::Path { path, span })
    } else {
        let (r, id) = cut(expect_at(ident(p, t), t, "a chip profile name or a chip-spec path in quotes"))?;
        (r, TargetName::Profile(id))
    };
    let (i, settings) = if peek_sym(i, "{") { settings(p, i)? } else { (i, empty_settings(p, i)) };
    Ok((i, ItemKind::Target(Target { name, settings })))
}

fn empty_settings<'a>(p: &Ctx<'a>, i: &'a str) -> Settings {
    Settings { items: Vec::new(), span: p.span(i, i) }
}

/// `settings := "{" (setting (";" | ",")?)* "}"`
pub fn settings<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Settings> {
    let start = ws(i);
    let (mut i, _) = sym(start, "{")?;
    let mut items = Vec::new();
    loop {
        if let Ok((r, _)) = sym(i, "}") {
            return Ok((r, Settings { items, span: p.span(start, r) }));
        }
        let (r, s) = cut(expect_at(setting(p, i), ws(i), "a setting `name = value` or `}`"))?;
        items.push(s);
        i = sym(r, ";").or_else(|_| sym(r, ",")).map_or(r, |(r, _)| r);
    }
}

/// `setting := ident "=" expr`
pub fn setting<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Setting> {
    let start = ws(i);
    let (i, key) = ident(p, start)?;
    let (i, _) = cut(sym(i, "="))?;
    let (i, value) = cut(expr(p, i))?;
    Ok((i, Setting { key, value, span: p.span(start, i) }))
}

/// `sim := "sim" settings`
pub fn sim<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "sim")?;
    let (i, s) = cut(settings(p, i))?;
    Ok((i, ItemKind::Sim(s)))
}

/// `const_item := "const" ident "=" expr`
pub fn const_item<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "const")?;
    let (i, name) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "="))?;
    let (i, value) = cut(expr(p, i))?;
    Ok((i, ItemKind::Const(Const { name, value })))
}

/// `pop := "pop" ident "=" call`
pub fn pop<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "pop")?;
    let (i, name) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "="))?;
    let (i, value) = cut(expect_at(call(p, i), ws(i), "a neuron type such as `lif(n = 10, ...)`"))?;
    Ok((i, ItemKind::Pop(Decl { name, value })))
}

/// `input := "input" ident "=" call gate?`
pub fn input<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "input")?;
    let (i, name) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "="))?;
    let (i, value) = cut(expect_at(call(p, i), ws(i), "an input kind such as `poisson(rates = ...)`"))?;
    let (i, gate) = if peek_word(i) == Some("when") { cut(gate(p, i)).map(|(r, g)| (r, Some(g)))? } else { (i, None) };
    Ok((i, ItemKind::Input(Input { name, value, gate })))
}

/// `gate := "when" ident "==" expr`
pub fn gate<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Gate> {
    let start = ws(i);
    let (i, _) = keyword(start, "when")?;
    let (i, signal) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "=="))?;
    let (i, value) = cut(expr(p, i))?;
    Ok((i, Gate { signal, value, span: p.span(start, i) }))
}

/// `signal := "signal" ident "=" call`
pub fn signal<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "signal")?;
    let (i, name) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "="))?;
    let (i, value) =
        cut(expect_at(call(p, i), ws(i), "a schedule such as `cycle(period = 10 steps, values = [1, 0])`"))?;
    Ok((i, ItemKind::Signal(Decl { name, value })))
}

/// `connect := "connect" (ident ":")? ident "->" ident pattern? clause* plastic?`
pub fn connect<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "connect")?;
    let (i, first) = cut(ident(p, i))?;
    let (i, name, pre) = if peek_sym(i, ":") {
        let (r, _) = sym(i, ":")?;
        let (r, pre) = cut(ident(p, r))?;
        (r, Some(first), pre)
    } else {
        (i, None, first)
    };
    let (i, _) = cut(sym(i, "->"))?;
    let (mut i, post) = cut(ident(p, i))?;
    let mut pat = None;
    if let Some(w) = peek_word(i) {
        let after = &ws(i)[w.len()..];
        let is_clause = peek_sym(after, "=") && !peek_sym(after, "==");
        if w != "plastic" && !ITEM_KEYWORDS.contains(&w) && !is_clause {
            let (r, c) = cut(pattern(p, i))?;
            pat = Some(c);
            i = r;
        }
    }
    let mut clauses = Vec::new();
    while let Some(w) = peek_word(i) {
        if w == "plastic" || ITEM_KEYWORDS.contains(&w) {
            break;
        }
        let (r, c) = cut(clause(p, i))?;
        clauses.push(c);
        i = r;
    }
    let (i, plastic) =
        if peek_word(i) == Some("plastic") { cut(plastic(p, i)).map(|(r, c)| (r, Some(c)))? } else { (i, None) };
    Ok((i, ItemKind::Connect(Connect { name, pre, post, pattern: pat, clauses, plastic })))
}

/// `pattern := call_or_name`
pub fn pattern<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Call> {
    call_or_name(p, i)
}

/// `clause := ident "=" expr`
pub fn clause<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Setting> {
    setting(p, i)
}

/// `plastic := "plastic" call_or_name`
pub fn plastic<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Call> {
    let (i, _) = keyword(i, "plastic")?;
    cut(call_or_name(p, i))
}

/// `call_or_name := ident ("(" args? ")")?`
pub fn call_or_name<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Call> {
    let start = ws(i);
    let (i, func) = ident(p, start)?;
    if i.starts_with('(') {
        return call(p, start);
    }
    Ok((i, Call { func, args: Vec::new(), span: p.span(start, i) }))
}

/// `rule := "rule" ident ("(" params? ")")? "{" rule_stmt* "}"`
pub fn rule<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "rule")?;
    let (i, name) = cut(ident(p, i))?;
    let (i, params) = if peek_sym(i, "(") {
        let (r, _) = sym(i, "(")?;
        let (r, ps) = cut(params(p, r))?;
        let (r, _) = cut(sym(r, ")").or_else(|_| fail(ws(r), "`,` or `)`")))?;
        (r, ps)
    } else {
        (i, Vec::new())
    };
    let (mut i, _) = cut(sym(i, "{"))?;
    let mut body = Vec::new();
    loop {
        if let Ok((r, _)) = sym(i, "}") {
            return Ok((r, ItemKind::Rule(Rule { name, params, body })));
        }
        let (r, s) = cut(rule_stmt(p, i))?;
        body.push(s);
        i = sym(r, ";").map_or(r, |(r, _)| r);
    }
}

/// `params := param ("," param)* ","?`
pub fn params<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Vec<Param>> {
    let mut out = Vec::new();
    let mut i = i;
    while !peek_sym(i, ")") {
        let (r, a) = param(p, i)?;
        out.push(a);
        match sym(r, ",") {
            Ok((r2, _)) => i = r2,
            Err(_) => return Ok((r, out)),
        }
    }
    Ok((i, out))
}

/// `param := ident ("=" expr)?`
pub fn param<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Param> {
    let start = ws(i);
    let (i, name) = ident(p, start)?;
    if peek_sym(i, "=") {
        let (r, _) = sym(i, "=")?;
        let (r, e) = cut(expr(p, r))?;
        return Ok((r, Param { name, default: Some(e), span: p.span(start, r) }));
    }
    Ok((i, Param { name, default: None, span: p.span(start, i) }))
}

/// `rule_stmt := (trace | let_stmt | handler | bounds | normalize | round) ";"?`
pub fn rule_stmt<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, RuleStmt> {
    let start = ws(i);
    let (i, kind) = match peek_word(start) {
        Some("trace") => trace(p, start)?,
        Some("let") => let_stmt(p, start)?,
        Some("on" | "every") => handler(p, start)?,
        Some("bounds") => bounds(p, start)?,
        Some("normalize") => normalize(p, start)?,
        Some("round") => round(p, start)?,
        _ => return fail(start, "a rule statement (trace, let, on, every, bounds, normalize, round) or `}`"),
    };
    Ok((i, RuleStmt { kind, span: p.span(start, i) }))
}

/// `trace := "trace" ident "(" args? ")" "on" ("pre" | "post") "+=" expr`
pub fn trace<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, RuleStmtKind> {
    let (i, _) = keyword(i, "trace")?;
    let (i, name) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "("))?;
    let (i, a) = cut(args(p, i))?;
    let (i, _) = cut(sym(i, ")").or_else(|_| fail(ws(i), "`,` or `)`")))?;
    let (i, _) = cut(keyword(i, "on"))?;
    let (i, side) = match peek_word(i) {
        Some("pre") => (keyword(i, "pre")?.0, Side::Pre),
        Some("post") => (keyword(i, "post")?.0, Side::Post),
        _ => return cut(fail(ws(i), "`pre` or `post`")),
    };
    let (i, _) = cut(sym(i, "+="))?;
    let (i, impulse) = cut(expr(p, i))?;
    Ok((i, RuleStmtKind::Trace { name, args: a, side, impulse }))
}

/// `let_stmt := "let" ident "=" expr`
pub fn let_stmt<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, RuleStmtKind> {
    let (i, _) = keyword(i, "let")?;
    let (i, name) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "="))?;
    let (i, value) = cut(expr(p, i))?;
    Ok((i, RuleStmtKind::Let { name, value }))
}

/// `handler := trigger (":" update | "{" update* "}")`
pub fn handler<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, RuleStmtKind> {
    let (i, trigger) = trigger(p, i)?;
    if let Ok((r, _)) = sym(i, ":") {
        let (r, u) = cut(update(p, r))?;
        return Ok((r, RuleStmtKind::Handler { trigger, body: vec![u] }));
    }
    let (mut i, _) = cut(expect_at(sym(i, "{"), ws(i), "`:` or `{`"))?;
    let mut body = Vec::new();
    loop {
        if let Ok((r, _)) = sym(i, "}") {
            return Ok((r, RuleStmtKind::Handler { trigger, body }));
        }
        let (r, u) = cut(expect_at(update(p, i), ws(i), "an update such as `w += ...` or `}`"))?;
        body.push(u);
        i = sym(r, ";").map_or(r, |(r, _)| r);
    }
}

/// `trigger := "on" ("pre" | "post") | "every" ("step" | "epoch")`
pub fn trigger<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Trigger> {
    let start = ws(i);
    let (i, first) = ident(p, start)?;
    let (i, kind) = match (first.name.as_str(), peek_word(i)) {
        ("on", Some("pre")) => (keyword(i, "pre")?.0, TriggerKind::Pre),
        ("on", Some("post")) => (keyword(i, "post")?.0, TriggerKind::Post),
        ("every", Some("step")) => (keyword(i, "step")?.0, TriggerKind::Step),
        ("every", Some("epoch")) => (keyword(i, "epoch")?.0, TriggerKind::Epoch),
        ("on", _) => return cut(fail(ws(i), "`pre` or `post` after `on`")),
        ("every", _) => return cut(fail(ws(i), "`step` or `epoch` after `every`")),
        _ => return fail(start, "`on` or `every`"),
    };
    Ok((i, Trigger { kind, span: p.span(start, i) }))
}

/// `update := ident ("=" | "+=" | "-=" | "*=") expr ";"?`
pub fn update<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Update> {
    let start = ws(i);
    let (i, target) = ident(p, start)?;
    let t = ws(i);
    let (i, op) = if let Some(r) = t.strip_prefix("+=") {
        (r, AssignOp::Add)
    } else if let Some(r) = t.strip_prefix("-=") {
        (r, AssignOp::Sub)
    } else if let Some(r) = t.strip_prefix("*=") {
        (r, AssignOp::Mul)
    } else if t.starts_with('=') && !t.starts_with("==") {
        (&t[1..], AssignOp::Set)
    } else {
        return cut(fail(t, "`=`, `+=`, `-=` or `*=`"));
    };
    let (i, value) = cut(expr(p, i))?;
    Ok((i, Update { target, op, value, span: p.span(start, i) }))
}

/// `bounds := "bounds" ident "in" "[" expr "," expr "]"`
pub fn bounds<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, RuleStmtKind> {
    let (i, _) = keyword(i, "bounds")?;
    let (i, var) = cut(ident(p, i))?;
    let (i, _) = cut(keyword(i, "in"))?;
    let (i, _) = cut(sym(i, "["))?;
    let (i, lo) = cut(expr(p, i))?;
    let (i, _) = cut(sym(i, ","))?;
    let (i, hi) = cut(expr(p, i))?;
    let (i, _) = cut(sym(i, "]"))?;
    Ok((i, RuleStmtKind::Bounds { var, lo, hi }))
}

/// `normalize := "normalize" ident "(" ident ")" "=" expr trigger?`
pub fn normalize<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, RuleStmtKind> {
    let (i, _) = keyword(i, "normalize")?;
    let (i, norm) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, "("))?;
    let (i, _w) = cut(ident(p, i))?;
    let (i, _) = cut(sym(i, ")"))?;
    let (i, _) = cut(sym(i, "="))?;
    let (i, value) = cut(expr(p, i))?;
    // A trigger right after the value belongs to the normalisation unless it opens a handler
    // (`on post: ...` or `on post { ... }` on the next line).
    let (i, trig) = match peek_word(i) {
        Some("on" | "every") => match trigger(p, i) {
            Ok((r, t)) if !peek_sym(r, ":") && !peek_sym(r, "{") => (r, Some(t)),
            _ => (i, None),
        },
        _ => (i, None),
    };
    Ok((i, RuleStmtKind::Normalize { norm, value, trigger: trig }))
}

/// `round := "round" ident`
pub fn round<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, RuleStmtKind> {
    let (i, _) = keyword(i, "round")?;
    let (i, mode) = cut(ident(p, i))?;
    Ok((i, RuleStmtKind::Round { mode }))
}

/// `record := "record" probe ("," probe)*`
pub fn record<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, ItemKind> {
    let (i, _) = keyword(i, "record")?;
    let (mut i, first) = cut(probe(p, i))?;
    let mut probes = vec![first];
    while let Ok((r, _)) = sym(i, ",") {
        let (r, pr) = cut(probe(p, r))?;
        probes.push(pr);
        i = r;
    }
    Ok((i, ItemKind::Record(Record { probes })))
}

/// `probe := ident "(" ident ("->" ident)? ")" ("every" expr)?`
pub fn probe<'a>(p: &'a Ctx<'a>, i: &'a str) -> PResult<'a, Probe> {
    let start = ws(i);
    let (i, kind) = ident(p, start)?;
    let (i, _) = cut(sym(i, "("))?;
    let (i, subject) = cut(ident(p, i))?;
    let (i, post) = if peek_sym(i, "->") {
        let (r, _) = sym(i, "->")?;
        let (r, b) = cut(ident(p, r))?;
        (r, Some(b))
    } else {
        (i, None)
    };
    let (i, _) = cut(sym(i, ")"))?;
    let (i, every) = if peek_word(i) == Some("every") {
        let (r, _) = keyword(i, "every")?;
        let (r, e) = cut(expr(p, r))?;
        (r, Some(e))
    } else {
        (i, None)
    };
    Ok((i, Probe { kind, subject, post, every, span: p.span(start, i) }))
}

// ---------------------------------------------------------------------------------------------
// Entry points

/// Parse a whole file. Always returns a (possibly partial) tree; syntax errors are diagnostics.
pub fn parse_file(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    let ctx = Ctx { base: text, file, depth: Cell::new(0) };
    let mut errors = Vec::new();
    // `file` borrows the context for the whole parse.
    let ast = {
        let ctx_ref: &Ctx<'_> = &ctx;
        file_entry(ctx_ref, text, &mut errors)
    };
    let diags = errors.iter().map(|e| error_to_diag(&ctx, e)).collect();
    (ast, diags)
}

fn file_entry<'a>(p: &'a Ctx<'a>, text: &'a str, errors: &mut Vec<PError<'a>>) -> File {
    file(p, text, errors)
}

/// Parse a single expression (for tests and tools); trailing input is an error.
pub fn parse_expr(file: FileId, text: &str) -> Result<Expr, Diagnostic> {
    let ctx = Ctx { base: text, file, depth: Cell::new(0) };
    let r = expr_entry(&ctx, text);
    match r {
        Ok((rest, e)) if ws(rest).is_empty() => Ok(e),
        Ok((rest, _)) => {
            Err(error_to_diag(&ctx, &PError { input: ws(rest), kind: PErrorKind::Expected("end of expression") }))
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(error_to_diag(&ctx, &e)),
        Err(nom::Err::Incomplete(_)) => Err(Diagnostic::error("E0001", "incomplete expression")),
    }
}

fn expr_entry<'a>(p: &'a Ctx<'a>, text: &'a str) -> PResult<'a, Expr> {
    expr(p, text)
}

/// The token at the start of `i`, for "found ..." messages, and its length in bytes.
fn token_at(i: &str) -> (String, usize) {
    let Some(c) = i.chars().next() else { return ("end of file".into(), 0) };
    if is_ident_start(c) || c.is_ascii_digit() {
        let n = i.find(|c: char| !is_ident_char(c) && c != '.').unwrap_or(i.len());
        return (format!("`{}`", &i[..n]), n);
    }
    for two in ["->", "+=", "-=", "*=", "==", "//"] {
        if i.starts_with(two) {
            return (format!("`{two}`"), 2);
        }
    }
    if c == '\n' {
        return ("end of line".into(), 1);
    }
    (format!("`{c}`"), c.len_utf8())
}

fn error_to_diag(p: &Ctx<'_>, e: &PError<'_>) -> Diagnostic {
    let off = p.off(e.input);
    let (found, len) = token_at(e.input);
    let span = Span::new(p.file, off, off + len);
    match &e.kind {
        PErrorKind::Expected(what) => {
            let what = if what.chars().all(|c| !c.is_alphanumeric()) { format!("`{what}`") } else { what.to_string() };
            Diagnostic::error("E0001", format!("syntax error: expected {what}, found {found}"))
                .at(span, format!("expected {what}"))
        }
        PErrorKind::Nom(k) => Diagnostic::error("E0001", format!("syntax error: unexpected {found}"))
            .at(span, format!("not expected here ({})", k.description())),
        PErrorKind::TooDeep => Diagnostic::error(
            "E0002",
            format!("expression too deep (more than {MAX_EXPR_DEPTH} levels of nesting and chained operators)"),
        )
        .at(span, "depth limit reached here")
        .help("split the expression with `let` or `const`"),
        PErrorKind::BadNumber => {
            let n = e.input.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '+' || c == '-'));
            let span = Span::new(p.file, off, off + n.unwrap_or(e.input.len()).max(1));
            Diagnostic::error("E0003", "number literal out of range")
                .at(span, "not a finite 64-bit floating-point number")
        }
        PErrorKind::UnterminatedString => Diagnostic::error("E0004", "unterminated string")
            .at(Span::new(p.file, off, off + 1), "this string is never closed")
            .help("close it with `\"`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::printer::print_expr;

    fn e(s: &str) -> String {
        print_expr(&parse_expr(FileId(0), s).expect("parses"))
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(e("a + b * c"), "a + b * c");
        assert_eq!(e("(a + b) * c"), "(a + b) * c");
        assert_eq!(e("a - (b - c)"), "a - (b - c)");
        assert_eq!(e("(a - b) - c"), "a - b - c");
        assert_eq!(e("a / (b * c)"), "a / (b * c)");
        assert_eq!(e("-(a + b)"), "-(a + b)");
        assert_eq!(e("--a"), "--a");
        assert_eq!(e("w[i + 1]"), "w[i + 1]");
    }

    #[test]
    fn numbers_units_lists_calls_paths() {
        assert_eq!(e("20ms"), "20 ms");
        assert_eq!(e("10 %"), "10%");
        assert_eq!(e("1.5e-3 s"), "0.0015 s");
        assert_eq!(e("[5, 8,] Hz"), "[5, 8] Hz");
        assert_eq!(e("f(1, k = 2 mV)"), "f(1, k = 2 mV)");
        assert_eq!(e("pre.spike * post.value"), "pre.spike * post.value");
        assert_eq!(e("\"a\\\"b\""), "\"a\\\"b\"");
        // A unit only follows a number or a list: `s` alone is a name.
        assert_eq!(e("2 * s"), "2 * s");
    }

    #[test]
    fn spans_cover_the_source() {
        let x = parse_expr(FileId(0), "  a +  b").expect("parses");
        assert_eq!((x.span.start, x.span.end), (2, 8));
    }

    #[test]
    fn recursion_budget_holds() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let err = parse_expr(FileId(0), &deep).expect_err("too deep");
        assert_eq!(err.code, "E0002");
        let negs = format!("{}1", "-".repeat(10_000));
        assert_eq!(parse_expr(FileId(0), &negs).expect_err("too deep").code, "E0002");
    }

    #[test]
    fn recovery_reports_each_broken_item() {
        let (f, d) = parse_file(FileId(0), "pop a = lif(\npop b = lif(n = 1)\nrecord x(\nconst c = 1\n");
        assert_eq!(d.len(), 2);
        assert_eq!(f.items.len(), 2);
    }
}
