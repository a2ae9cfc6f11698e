//! Running bundled programs on the emulated chip from the integration tests: read a program from
//! `programs/`, swap its `target` item (profile, weight bits, mismatch) or a `const`, compile it
//! with `nmc`'s pipeline and emulate it with `nmemu`'s engine, returning the recordings.

use nm_compiler::driver;
use nm_compiler::passes::CompileOptions;
use nm_compiler::report::Report;
use nm_emulator::{Emulator, RunConfig};
use nm_isa::Program;
use std::path::{Path, PathBuf};

/// The repository's `programs/` folder.
pub fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../programs")
}

/// The text of `programs/<name>` (e.g. `"stdp_select.nm"`).
pub fn program_text(name: &str) -> String {
    let path = programs_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with its `target ...` item (one line) replaced by `target` (a whole item, e.g.
/// `"target small { weight_bits = 6; mismatch = 10% }"`). Panics if the program has no
/// one-line target item: tests must not silently run the program as written.
pub fn with_target(text: &str, target: &str) -> String {
    with_item(text, "target", target)
}

/// `text` with its `sim ...` item (one line) replaced by `sim` (e.g.
/// `"sim { dt = 1 ms; duration = 200 s; seed = 1 }"`).
pub fn with_sim(text: &str, sim: &str) -> String {
    with_item(text, "sim", sim)
}

/// `text` with the first one-line item starting with `keyword` replaced by `item`.
fn with_item(text: &str, keyword: &str, item: &str) -> String {
    let prefix = format!("{keyword} ");
    let mut found = false;
    let out: Vec<&str> = text
        .lines()
        .map(|l| {
            if !found && l.trim_start().starts_with(&prefix) {
                found = true;
                item
            } else {
                l
            }
        })
        .collect();
    assert!(found, "program has no one-line `{keyword}` item");
    out.join("\n") + "\n"
}

/// Every bundled program: `programs/*.nm` then `programs/bench/*.nm`, sorted.
pub fn bundled_programs() -> Vec<PathBuf> {
    let root = programs_dir();
    let mut out = Vec::new();
    for dir in [root.clone(), root.join("bench")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "nm"))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// `text` with the value of `const NAME = ...` (one line) replaced by `value`.
pub fn with_const(text: &str, name: &str, value: &str) -> String {
    let prefix = format!("const {name} ");
    let prefix_eq = format!("const {name}=");
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if !found && (t.starts_with(&prefix) || t.starts_with(&prefix_eq)) {
                found = true;
                format!("const {name} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "program has no `const {name}`");
    out.join("\n") + "\n"
}

/// Compile source text (named `name` in diagnostics; data files resolve against `programs/`).
/// Panics with the rendered diagnostics if it does not compile.
pub fn compile(name: &str, text: &str) -> Program {
    compile_with_report(name, text).0
}

/// [`compile`], also returning the mapping report (its `quantization` rows give each
/// projection's chip weight units per ideal unit, to read weight recordings in model units).
pub fn compile_with_report(name: &str, text: &str) -> (Program, Report) {
    let checked = driver::check_source(name, text, Some(&programs_dir()));
    let model = match checked.model {
        Some(m) => m,
        None => panic!("{name} does not check: {:#?}", checked.diagnostics.list),
    };
    let opts = CompileOptions::new(model.target.spec.clone());
    driver::compile_model(&model, opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The diagnostic codes (`E0504`, `W0504`, ...) that checking `text` reports.
pub fn diagnostic_codes(name: &str, text: &str) -> Vec<String> {
    let checked = driver::check_source(name, text, Some(&programs_dir()));
    checked.diagnostics.list.iter().map(|d| d.code.to_string()).collect()
}

/// Chip weight units per model unit of projection `proj` (from the compile report).
pub fn weight_scale(report: &Report, proj: &str) -> f64 {
    report
        .quantization
        .iter()
        .find(|q| q.projection == proj)
        .unwrap_or_else(|| panic!("no quantization row for `{proj}`"))
        .scale
}

/// Run `jobs` in parallel; results in job order. Each job must be deterministic on its own (its
/// own program, seeds and emulator), so the thread count changes no number.
pub fn parallel<T: Send, R: Send>(jobs: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    jobs.into_par_iter().map(f).collect()
}

/// The chip-seed default of a compiled program's target (`chip_seed = ...` in its `target`).
pub fn default_chip_seed(p: &Program) -> u64 {
    p.chip.mismatch.default_chip_seed
}

/// A run configuration: `ideal` turns mismatch and noise off; otherwise chip `chip_seed`.
pub fn config(chip_seed: u64, ideal: bool, seed: Option<u64>) -> RunConfig {
    RunConfig { chip_seed, noise_seed: chip_seed.wrapping_add(0x5eed), ideal, threads: 1, seed }
}

/// Emulate `program` for `steps` steps (its own `sim` duration when `None`).
pub fn run(program: &Program, cfg: RunConfig, steps: Option<u64>) -> Emulator {
    let mut emu = Emulator::new(program, cfg).unwrap_or_else(|e| panic!("{}: {e}", program.meta.name));
    emu.run(steps.unwrap_or(program.meta.steps));
    emu
}

/// The last sample of the series probe whose `of` is `of` (a projection, population or signal).
pub fn last_sample(emu: &Emulator, of: &str) -> Vec<i32> {
    let rec = series(emu, of);
    let w = rec.width;
    rec.data[rec.data.len() - w..].to_vec()
}

/// The series probe whose `of` is `of`.
pub fn series<'a>(emu: &'a Emulator, of: &str) -> &'a nm_emulator::record::SeriesRecord {
    let recs = emu.recordings();
    recs.series.iter().find(|s| s.of == of).unwrap_or_else(|| {
        panic!("no series of `{of}`; have {:?}", recs.series.iter().map(|s| &s.of).collect::<Vec<_>>())
    })
}

/// Where reproduction figures go: `$NM_FIGURES` if set (e.g. `docs/figures`), else a folder
/// under the target directory. Tests always write their figures, so the docs' figures are
/// made by the same code that asserts the criteria.
pub fn figures_dir() -> PathBuf {
    let dir = std::env::var_os("NM_FIGURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/figures"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Write one figure (`name.svg`) into [`figures_dir`].
pub fn write_figure(name: &str, svg: &str) {
    let path = figures_dir().join(format!("{name}.svg"));
    std::fs::write(&path, svg).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_and_const_are_replaced_once() {
        let t = "# c\ntarget default { weight_bits = 8 }\nconst eta = 0.1\nconst etab = 2\n";
        let u = with_target(t, "target small");
        assert!(u.contains("target small\n") && !u.contains("weight_bits"));
        let v = with_const(t, "eta", "0.2");
        assert!(v.contains("const eta = 0.2\n") && v.contains("const etab = 2"));
    }

    #[test]
    fn every_bundled_learning_program_has_a_target_line() {
        for p in ["stdp_select.nm", "contrastive.nm", "sal.nm", "oja.nm", "instar.nm", "hebb.nm", "pitchfork.nm"] {
            let _ = with_target(&program_text(p), "target default");
        }
    }
}
