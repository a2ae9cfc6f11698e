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
    #[error("`{path}`: {source}")]
    Calibration { path: String, source: nm_isa::calibration::CalError },
    #[error("cannot read `{path}`: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("`{path}` is not UTF-8 text")]
    NotUtf8 { path: String },
    #[error("`{path}`: {msg}")]
    TooLarge { path: String, msg: String },
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
        // Names of items that did not parse are unknown to the checker: leave those out.
        diagnostics.list.extend(d.list.into_iter().filter(|d| d.code != "E0102"));
        diagnostics.sort();
        None
    };
    Checked { sources, diagnostics, model }
}

/// Read and check a file.
pub fn check_file(path: &Path) -> Result<Checked, DriverError> {
    let limit = crate::budget::file_bytes_budget();
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > limit) {
        let msg = crate::budget::read_bounded(path, limit).err().unwrap_or_default();
        return Err(DriverError::TooLarge { path: path.display().to_string(), msg });
    }
    let bytes = std::fs::read(path).map_err(|source| DriverError::Read { path: path.display().to_string(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| DriverError::NotUtf8 { path: path.display().to_string() })?;
    Ok(check_source(&path.display().to_string(), &text, path.parent()))
}

/// Read a calibration file (`nmemu calibrate -o chip.cal`) for `nmc compile --calibration`.
pub fn read_calibration(path: &Path) -> Result<nm_isa::calibration::Calibration, DriverError> {
    let bytes = std::fs::read(path).map_err(|source| DriverError::Read { path: path.display().to_string(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| DriverError::NotUtf8 { path: path.display().to_string() })?;
    nm_isa::calibration::parse(&text)
        .map_err(|source| DriverError::Calibration { path: path.display().to_string(), source })
}

/// Lower a checked model and run the back end: the program and the mapping report.
pub fn compile_model(
    model: &Model,
    mut opts: crate::passes::CompileOptions,
) -> Result<(nm_isa::Program, crate::report::Report), crate::ir::CompileError> {
    crate::budget::check_model(model, &opts.budget)?;
    let (ir, sources) = crate::lower::net::lower_model(model)?;
    opts.rule_sources = sources;
    crate::passes::compile_ir(ir, &opts)
}

/// The IR of a checked model after the back-end pass `after` (`nmc compile --emit ir --after`).
pub fn emit_ir(
    model: &Model,
    mut opts: crate::passes::CompileOptions,
    after: &str,
) -> Result<String, crate::ir::CompileError> {
    crate::budget::check_model(model, &opts.budget)?;
    let (ir, sources) = crate::lower::net::lower_model(model)?;
    opts.rule_sources = sources;
    crate::passes::emit_ir_after(ir, &opts, after)
}

/// Write `bytes` to `path` atomically: a temporary file beside it, synced, then renamed, so a
/// failed write never leaves a half-written file in place of a good one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
