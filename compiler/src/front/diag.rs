//! Diagnostics: a [`Diagnostic`] (severity, code, message, labelled spans, notes), collected in a
//! [`Diagnostics`] list, rendered rustc-style with codespan-reporting or as JSON lines.

use crate::front::span::{SourceMap, Span};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term;
use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

/// A span with a message. The primary label says where the problem is; secondary labels add
/// context ("first defined here").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code such as `E0201`; `docs/language.md` lists them.
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    /// Free-text notes and help lines shown under the source excerpt.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Error, code, message: message.into(), labels: Vec::new(), notes: Vec::new() }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Add the primary label.
    pub fn at(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: true });
        self
    }

    /// Add a secondary label.
    pub fn also(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(format!("note: {}", note.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.notes.push(format!("help: {}", help.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics collected over a run, in the order they were found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.list.iter().filter(|d| d.severity == Severity::Warning).count()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sort by position (file, start), keeping the discovery order of equal positions.
    pub fn sort(&mut self) {
        self.list.sort_by_key(|d| {
            d.labels.iter().find(|l| l.primary).map_or((u32::MAX, u32::MAX), |l| (l.span.file.0, l.span.start))
        });
    }
}

/// Adapter so codespan-reporting can read our [`SourceMap`].
struct FilesAdapter<'a>(&'a SourceMap);

impl<'a> Files<'a> for FilesAdapter<'a> {
    type FileId = u32;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: u32) -> Result<&'a str, FilesError> {
        self.0.get(crate::front::span::FileId(id)).map(|f| f.name.as_str()).ok_or(FilesError::FileMissing)
    }

    fn source(&'a self, id: u32) -> Result<&'a str, FilesError> {
        self.0.get(crate::front::span::FileId(id)).map(|f| f.text.as_str()).ok_or(FilesError::FileMissing)
    }

    fn line_index(&'a self, id: u32, byte_index: usize) -> Result<usize, FilesError> {
        let f = self.0.get(crate::front::span::FileId(id)).ok_or(FilesError::FileMissing)?;
        Ok(f.line_col(byte_index).0 - 1)
    }

    fn line_range(&'a self, id: u32, line_index: usize) -> Result<std::ops::Range<usize>, FilesError> {
        let f = self.0.get(crate::front::span::FileId(id)).ok_or(FilesError::FileMissing)?;
        let starts = f.line_starts();
        let start = *starts.get(line_index).ok_or(FilesError::LineTooLarge { given: line_index, max: starts.len() })?;
        let end = starts.get(line_index + 1).copied().unwrap_or(f.text.len());
        Ok(start..end)
    }
}

fn to_codespan(d: &Diagnostic, map: &SourceMap) -> cs::Diagnostic<u32> {
    let severity = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
        Severity::Note => cs::Severity::Note,
    };
    let labels = d
        .labels
        .iter()
        .filter_map(|l| {
            let file = map.get(l.span.file)?;
            // Clamp to the text and to char boundaries so a stray span can never make the renderer fail.
            let fix = |mut o: usize| {
                o = o.min(file.text.len());
                while !file.text.is_char_boundary(o) {
                    o -= 1;
                }
                o
            };
            let range = fix(l.span.start as usize)..fix(l.span.end as usize);
            let style = if l.primary { cs::LabelStyle::Primary } else { cs::LabelStyle::Secondary };
            Some(cs::Label::new(style, l.span.file.0, range).with_message(l.message.clone()))
        })
        .collect();
    cs::Diagnostic::new(severity)
        .with_code(d.code)
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(d.notes.clone())
}

/// Render diagnostics as text (rustc style: `file:line:col`, the source line, a caret range),
/// without colour, followed by a summary line.
pub fn render_human(diags: &Diagnostics, map: &SourceMap) -> String {
    let mut buf = term::termcolor::NoColor::new(Vec::new());
    write_human(diags, map, &mut buf);
    String::from_utf8_lossy(&buf.into_inner()).into_owned()
}

/// Render diagnostics to a (possibly coloured) writer.
pub fn write_human(diags: &Diagnostics, map: &SourceMap, out: &mut dyn term::termcolor::WriteColor) {
    let config = term::Config::default();
    let files = FilesAdapter(map);
    let folded = fold_repeats(&diags.list);
    for (d, more) in &folded {
        let mut d = (*d).clone();
        if *more > 0 {
            d.notes.push(format!(
                "{more} more {} {} at this place, differing at most in numbers (one per use of the rule; `--message-format json` lists each)",
                d.code,
                if *more == 1 { "diagnostic" } else { "diagnostics" }
            ));
        }
        // Rendering only fails for spans outside the file, which `to_codespan` rules out; fall
        // back to a plain line if it happens anyway.
        if term::emit(out, &config, &files, &to_codespan(&d, map)).is_err() {
            let _ = writeln!(out, "{}[{}]: {}", severity_word(d.severity), d.code, d.message);
        }
    }
    let (e, w) = (diags.error_count(), diags.warning_count());
    let shown = folded.len();
    let hidden = if shown < diags.list.len() {
        format!(" ({} shown, repeats at the same place folded)", shown)
    } else {
        String::new()
    };
    if e > 0 {
        let _ = writeln!(out, "error: aborting: {e} error{} and {w} warning{}{hidden}", plural(e), plural(w));
    } else if w > 0 {
        let _ = writeln!(out, "warning: {w} warning{} emitted{hidden}", plural(w));
    }
}

/// The diagnostics to render, each with the number of later ones of the same severity and code,
/// at the same primary span, whose messages differ at most in their numbers (a rule
/// instantiated for many projections is checked once per use, and would otherwise print the
/// same excerpt each time, e.g. with another bound). Diagnostics without a primary label are
/// never folded. Order: first occurrences, in the original order.
pub fn fold_repeats(list: &[Diagnostic]) -> Vec<(&Diagnostic, usize)> {
    type Key<'a> = (Severity, &'a str, Span, String);
    let mut out: Vec<(&Diagnostic, usize)> = Vec::with_capacity(list.len());
    let mut first: std::collections::HashMap<Key<'_>, usize> = std::collections::HashMap::new();
    for d in list {
        let shape = || d.message.chars().filter(|c| !c.is_ascii_digit()).collect::<String>();
        let key = d.labels.iter().find(|l| l.primary).map(|l| (d.severity, d.code, l.span, shape()));
        match key.as_ref().and_then(|k| first.get(k).copied()) {
            Some(i) => out[i].1 += 1,
            None => {
                if let Some(k) = key {
                    first.insert(k, out.len());
                }
                out.push((d, 0));
            }
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    file: &'a str,
    start: u32,
    end: u32,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    primary: bool,
}

#[derive(Serialize)]
struct JsonDiag<'a> {
    severity: Severity,
    code: &'a str,
    message: &'a str,
    labels: Vec<JsonLabel<'a>>,
    notes: &'a [String],
    rendered: String,
}

/// Render diagnostics as JSON, one object per line (like `cargo --message-format json`).
pub fn render_json(diags: &Diagnostics, map: &SourceMap) -> String {
    let mut out = String::new();
    for d in &diags.list {
        let labels = d
            .labels
            .iter()
            .filter_map(|l| {
                let f = map.get(l.span.file)?;
                let (line, column) = f.line_col(l.span.start as usize);
                let (end_line, end_column) = f.line_col(l.span.end as usize);
                Some(JsonLabel {
                    file: &f.name,
                    start: l.span.start,
                    end: l.span.end,
                    line,
                    column,
                    end_line,
                    end_column,
                    message: &l.message,
                    primary: l.primary,
                })
            })
            .collect();
        let mut rendered = String::new();
        {
            let mut buf = term::termcolor::NoColor::new(Vec::new());
            let files = FilesAdapter(map);
            if term::emit(&mut buf, &term::Config::default(), &files, &to_codespan(d, map)).is_ok() {
                rendered = String::from_utf8_lossy(&buf.into_inner()).into_owned();
            }
        }
        let j = JsonDiag { severity: d.severity, code: d.code, message: &d.message, labels, notes: &d.notes, rendered };
        out.push_str(&serde_json::to_string(&j).unwrap_or_default());
        out.push('\n');
    }
    out
}
