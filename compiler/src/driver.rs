//! The compiler pipeline as the command-line tool runs it: read a file, parse, check, report.
//! Later stages (lowering to the back end's IR, placement, code generation) plug in after
//! [`check_source`].

use crate::front::check::{self, Options};
use crate::front::diag::Diagnostics;
use crate::front::model::Model;
use crate::front::parser;
use crate::front::span::SourceMap;
use std::path::Path;

/// Errors outside the input program (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("`{path}` is not UTF-8 text")]
    NotUtf8 { path: String },
}

/// Everything the front end produced for one file.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
    /// Present when there were no errors.
    pub model: Option<Model>,
}

/// Parse and check source text. `name` is shown in diagnostics; relative paths inside the
/// program (chip specs, data files) resolve against `base_dir`.
pub fn check_source(name: &str, text: &str, base_dir: Option<&Path>) -> Checked {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let (ast, parse_diags) = parser::parse_file(id, text);
    let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or("program").to_string();
    let opts = Options { name: stem, base_dir: base_dir.map(Path::to_path_buf) };
    let mut diagnostics = Diagnostics::default();
    let model = if parse_diags.is_empty() {
        let (model, d) = check::check(&ast, id, &opts);
        diagnostics = d;
        model
    } else {
        // Check what parsed, so that semantic mistakes show up in the same run; a file with
        // syntax errors never yields a model.
        for d in parse_diags {
            diagnostics.push(d);
        }
        let (_, d) = check::check(&ast, id, &opts);
        diagnostics.list.extend(d.list);
        diagnostics.sort();
        None
    };
    Checked { sources, diagnostics, model }
}

/// Read and check a file.
pub fn check_file(path: &Path) -> Result<Checked, DriverError> {
    let bytes = std::fs::read(path).map_err(|source| DriverError::Read { path: path.display().to_string(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| DriverError::NotUtf8 { path: path.display().to_string() })?;
    Ok(check_source(&path.display().to_string(), &text, path.parent()))
}
