//! Hardware sweeps of a `.nm` program (the `nm-sweep` command): compile it for every weight
//! width and mismatch spread of a grid, emulate it on several chip seeds, and measure one
//! user-chosen outcome from the recordings, to answer "how much mismatch can this rule take?".
//! Output: rows (CSV), a readable text table and an SVG plot of the outcome against mismatch.

use crate::chip;
use nm_compiler::driver;
use nm_compiler::front::diag::render_human;
use nm_compiler::passes::CompileOptions;
use nm_emulator::plot::{lines_svg, Curve, Scale};
use nm_emulator::record::Recordings;
use nm_emulator::Emulator;
use std::fmt::Write as _;
use std::path::Path;

/// What can go wrong in a sweep: all reported, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("bad measure `{spec}`: {why}")]
    Measure { spec: String, why: String },
    #[error("bad grid: {0}")]
    Grid(String),
    #[error("{name} (weight_bits = {bits}, mismatch = {mismatch}%) does not check:\n{rendered}")]
    Check { name: String, bits: u8, mismatch: f64, rendered: String },
    #[error("{name} (weight_bits = {bits}, mismatch = {mismatch}%) does not compile: {message}")]
    Compile { name: String, bits: u8, mismatch: f64, message: String },
    #[error("emulator: {0}")]
    Emulate(String),
    #[error("{what}: no recording of `{of}`; the program records {have:?}")]
    NoRecording { what: String, of: String, have: Vec<String> },
    #[error("{0}")]
    Data(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The outcome of one run, computed from the program's recordings.
#[derive(Clone, Debug, PartialEq)]
pub enum Measure {
    /// `argmax:PROJ` — index of the largest final weight of the projection.
    Argmax(String),
    /// `mean:PROJ` — mean final weight (program units).
    Mean(String),
    /// `norm:PROJ` — L2 norm of the final weight vector (program units).
    Norm(String),
    /// `cos:PROJ:a,b,c` — cosine of the final weight vector to a given vector.
    Cos(String, Vec<f64>),
    /// `abscos:PROJ:a,b,c` — absolute cosine (a principal axis has no sign).
    AbsCos(String, Vec<f64>),
    /// `rate:POP` — spikes per neuron per second of a recorded population, over the whole run.
    Rate(String),
    /// `state:POP:i` — final value of neuron `i` of a recorded state probe of POP (chip units).
    State(String, usize),
}

impl std::str::FromStr for Measure {
    type Err = SweepError;
    fn from_str(spec: &str) -> Result<Measure, SweepError> {
        let bad = |why: &str| SweepError::Measure { spec: spec.to_string(), why: why.to_string() };
        let parts: Vec<&str> = spec.splitn(3, ':').collect();
        let target = parts.get(1).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let target = || target.clone().ok_or_else(|| bad("needs a projection or population after `:`"));
        let vector = || -> Result<Vec<f64>, SweepError> {
            let v = parts.get(2).ok_or_else(|| bad("needs a vector: `cos:PROJ:1,0,0`"))?;
            let v: Result<Vec<f64>, _> = v.split(',').map(|x| x.trim().parse::<f64>()).collect();
            let v = v.map_err(|_| bad("the vector must be numbers separated by commas"))?;
            if v.iter().all(|x| *x == 0.0) || v.iter().any(|x| !x.is_finite()) {
                return Err(bad("the vector must be finite and non-zero"));
            }
            Ok(v)
        };
        let no_third = |m: Measure| if parts.len() > 2 { Err(bad("takes one argument")) } else { Ok(m) };
        match parts[0].trim() {
            "argmax" => no_third(Measure::Argmax(target()?)),
            "mean" => no_third(Measure::Mean(target()?)),
            "norm" => no_third(Measure::Norm(target()?)),
            "cos" => Ok(Measure::Cos(target()?, vector()?)),
            "abscos" => Ok(Measure::AbsCos(target()?, vector()?)),
            "rate" => no_third(Measure::Rate(target()?)),
            "state" => {
                let i = parts.get(2).ok_or_else(|| bad("needs a neuron index: `state:POP:0`"))?;
                let i = i.trim().parse::<usize>().map_err(|_| bad("the neuron index must be a whole number"))?;
                Ok(Measure::State(target()?, i))
            }
            other => Err(bad(&format!(
                "unknown measure `{other}`; measures: argmax, mean, norm, cos, abscos (weights of a projection), \
                 rate (spikes of a population), state (a state probe)"
            ))),
        }
    }
}

impl Measure {
    /// A short label for tables and plots.
    pub fn label(&self) -> String {
        match self {
            Measure::Argmax(p) => format!("argmax w({p})"),
            Measure::Mean(p) => format!("mean w({p})"),
            Measure::Norm(p) => format!("|w({p})|"),
            Measure::Cos(p, _) => format!("cos(w({p}), v)"),
            Measure::AbsCos(p, _) => format!("|cos(w({p}), v)|"),
            Measure::Rate(p) => format!("rate({p}) Hz"),
            Measure::State(p, i) => format!("state {p}[{i}]"),
        }
    }

    /// Evaluate on a run's recordings; `weight_scale` gives chip weight units per program unit
    /// for a projection, `dt` is the step in seconds, `steps` the run length.
    pub fn eval(
        &self,
        recs: &Recordings,
        weight_scale: &dyn Fn(&str) -> Option<f64>,
        sizes: &dyn Fn(&str) -> Option<usize>,
        dt: f64,
        steps: u64,
    ) -> Result<f64, SweepError> {
        let series = |of: &str, what: &str| {
            recs.series.iter().find(|s| s.of == of && s.what.starts_with(what)).ok_or_else(|| SweepError::NoRecording {
                what: self.label(),
                of: of.to_string(),
                have: recs.series.iter().map(|s| format!("{} of {}", s.what, s.of)).collect(),
            })
        };
        let weights = |p: &str| -> Result<Vec<f64>, SweepError> {
            let s = series(p, "weights")?;
            if s.steps.is_empty() {
                return Err(SweepError::Data(format!("`{p}`: no weight sample recorded (run longer)")));
            }
            let scale = weight_scale(p).unwrap_or(1.0);
            Ok(s.data[s.data.len() - s.width..].iter().map(|&v| f64::from(v) / scale).collect())
        };
        let cos = |w: &[f64], v: &[f64]| -> Result<f64, SweepError> {
            if w.len() != v.len() {
                return Err(SweepError::Measure {
                    spec: self.label(),
                    why: format!("the vector has {} entries, the projection {} synapses", v.len(), w.len()),
                });
            }
            let dot: f64 = w.iter().zip(v).map(|(a, b)| a * b).sum();
            let n = (w.iter().map(|a| a * a).sum::<f64>() * v.iter().map(|a| a * a).sum::<f64>()).sqrt();
            Ok(if n > 0.0 { dot / n } else { 0.0 })
        };
        match self {
            Measure::Argmax(p) => {
                let w = weights(p)?;
                Ok(w.iter()
                    .enumerate()
                    .fold((0usize, f64::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
                    .0 as f64)
            }
            Measure::Mean(p) => {
                let w = weights(p)?;
                Ok(w.iter().sum::<f64>() / w.len().max(1) as f64)
            }
            Measure::Norm(p) => Ok(weights(p)?.iter().map(|x| x * x).sum::<f64>().sqrt()),
            Measure::Cos(p, v) => cos(&weights(p)?, v),
            Measure::AbsCos(p, v) => Ok(cos(&weights(p)?, v)?.abs()),
            Measure::Rate(p) => {
                let s = recs.spikes.iter().find(|s| s.population == *p).ok_or_else(|| SweepError::NoRecording {
                    what: self.label(),
                    of: p.clone(),
                    have: recs.spikes.iter().map(|s| format!("spikes of {}", s.population)).collect(),
                })?;
                let n = sizes(p).unwrap_or(1).max(1);
                Ok(s.times.len() as f64 / (n as f64 * steps as f64 * dt))
            }
            Measure::State(p, i) => {
                let s = series(p, "state")?;
                if *i >= s.width || s.steps.is_empty() {
                    return Err(SweepError::Data(format!("`{p}` has {} neurons recorded, no index {i}", s.width)));
                }
                Ok(f64::from(s.data[s.data.len() - s.width + i]))
            }
        }
    }
}

/// The grid and the measure of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepSpec {
    /// Name for diagnostics (the file name).
    pub name: String,
    pub text: String,
    /// Folder that the program's data files resolve against.
    pub base_dir: Option<std::path::PathBuf>,
    /// `None`: the program's own profile.
    pub profile: Option<String>,
    /// Mismatch spreads in percent (one spread for every fixed-pattern mismatch).
    pub mismatch: Vec<f64>,
    pub weight_bits: Vec<u8>,
    pub chip_seeds: Vec<u64>,
    /// `None`: the program's own duration.
    pub steps: Option<u64>,
    pub measure: Measure,
}

/// One row of the result.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub weight_bits: u8,
    pub mismatch: f64,
    pub chip_seed: u64,
    pub value: f64,
}

/// The program's `target` line with `weight_bits` and `mismatch` replaced (other settings kept;
/// every `mismatch*` setting and `chip_seed` are dropped: the sweep sets them).
pub fn target_line(text: &str, profile: Option<&str>, bits: u8, mismatch: f64) -> Result<String, SweepError> {
    let line = text.lines().find(|l| l.trim_start().starts_with("target ")).unwrap_or("target default");
    let rest = line.trim_start().trim_start_matches("target").trim_start();
    let (name, settings) = match rest.find('{') {
        Some(i) => {
            let body = rest[i + 1..].split('}').next().unwrap_or("");
            (rest[..i].trim().to_string(), body.to_string())
        }
        None => (rest.split('#').next().unwrap_or("").trim().to_string(), String::new()),
    };
    if name.is_empty() {
        return Err(SweepError::Grid("the program's `target` line names no chip".into()));
    }
    let name = profile.map(str::to_string).unwrap_or(name);
    let mut kept: Vec<String> = settings
        .split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter(|s| {
            let key = s.split('=').next().unwrap_or("").trim();
            key != "weight_bits" && !key.starts_with("mismatch") && key != "chip_seed"
        })
        .map(str::to_string)
        .collect();
    kept.push(format!("weight_bits = {bits}"));
    kept.push(format!("mismatch = {mismatch}%"));
    Ok(format!("target {name} {{ {} }}", kept.join("; ")))
}

fn replace_target(text: &str, target: &str) -> String {
    if text.lines().any(|l| l.trim_start().starts_with("target ")) {
        chip::with_target(text, target)
    } else {
        format!("{target}\n{text}")
    }
}

/// Run the whole grid (rows in order weight bits, mismatch, chip seed). `threads` runs in
/// parallel; the rows do not depend on it.
pub fn run(spec: &SweepSpec, threads: usize) -> Result<Vec<Row>, SweepError> {
    if spec.mismatch.is_empty() || spec.weight_bits.is_empty() || spec.chip_seeds.is_empty() {
        return Err(SweepError::Grid("every axis needs at least one value".into()));
    }
    if let Some(m) = spec.mismatch.iter().find(|m| !(m.is_finite() && **m >= 0.0)) {
        return Err(SweepError::Grid(format!("mismatch {m}% is not a spread >= 0")));
    }
    // Compile each (bits, mismatch) once; the chip seed is a run setting.
    let mut programs = Vec::new();
    for &bits in &spec.weight_bits {
        for &m in &spec.mismatch {
            let target = target_line(&spec.text, spec.profile.as_deref(), bits, m)?;
            let text = replace_target(&spec.text, &target);
            let checked = driver::check_source(&spec.name, &text, spec.base_dir.as_deref());
            let model = checked.model.ok_or_else(|| SweepError::Check {
                name: spec.name.clone(),
                bits,
                mismatch: m,
                rendered: render_human(&checked.diagnostics, &checked.sources),
            })?;
            let opts = CompileOptions::new(model.target.spec.clone());
            let (program, report) = driver::compile_model(&model, opts).map_err(|e| SweepError::Compile {
                name: spec.name.clone(),
                bits,
                mismatch: m,
                message: e.to_string(),
            })?;
            let scales: Vec<(String, f64)> =
                report.quantization.iter().map(|q| (q.projection.clone(), q.weight_scale)).collect();
            let sizes: Vec<(String, usize)> =
                model.populations.iter().map(|p| (p.name.clone(), p.size as usize)).collect();
            programs.push((bits, m, program, scales, sizes, model.sim.dt));
        }
    }
    let jobs: Vec<(usize, u64)> =
        (0..programs.len()).flat_map(|p| spec.chip_seeds.iter().map(move |&s| (p, s))).collect();
    let threads = threads.max(1);
    let mut results: Vec<Option<Result<f64, SweepError>>> = (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (jobs, programs) = (&jobs, &programs);
                sc.spawn(move || {
                    let mut out = Vec::new();
                    for (j, &(p, seed)) in jobs.iter().enumerate().skip(t).step_by(threads) {
                        let (_, _, program, scales, sizes, dt) = &programs[p];
                        let steps = spec.steps.unwrap_or(program.meta.steps);
                        let r = Emulator::new(program, chip::config(seed, false, None))
                            .map_err(|e| SweepError::Emulate(e.to_string()))
                            .and_then(|mut emu| {
                                emu.run(steps);
                                let ws = |p: &str| scales.iter().find(|(n, _)| n == p).map(|s| s.1);
                                let sz = |p: &str| sizes.iter().find(|(n, _)| n == p).map(|s| s.1);
                                spec.measure.eval(emu.recordings(), &ws, &sz, *dt, steps)
                            });
                        out.push((j, r));
                    }
                    out
                })
            })
            .collect();
        for h in handles {
            for (j, r) in h.join().unwrap_or_default() {
                results[j] = Some(r);
            }
        }
    });
    let mut rows = Vec::with_capacity(jobs.len());
    for (j, &(p, seed)) in jobs.iter().enumerate() {
        let value = results[j].take().unwrap_or_else(|| Err(SweepError::Emulate("a sweep thread stopped".into())))?;
        rows.push(Row { weight_bits: programs[p].0, mismatch: programs[p].1, chip_seed: seed, value });
    }
    Ok(rows)
}

/// `weight_bits,mismatch_percent,chip_seed,<measure>` rows.
pub fn csv(rows: &[Row], measure: &Measure) -> String {
    let mut s = format!("weight_bits,mismatch_percent,chip_seed,{}\n", measure.label().replace(',', ";"));
    for r in rows {
        let _ = writeln!(s, "{},{},{},{}", r.weight_bits, r.mismatch, r.chip_seed, r.value);
    }
    s
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

/// A readable table: one line per (weight bits, mismatch), one column per chip seed, then the
/// mean and standard deviation over the seeds.
pub fn text_table(rows: &[Row], measure: &Measure) -> String {
    let mut seeds: Vec<u64> = rows.iter().map(|r| r.chip_seed).collect();
    seeds.dedup();
    seeds.sort_unstable();
    seeds.dedup();
    let mut s = format!("{}\n", measure.label());
    let _ = write!(s, "{:>5} {:>9}", "bits", "mismatch");
    for seed in &seeds {
        let _ = write!(s, " {:>10}", format!("seed {seed}"));
    }
    let _ = writeln!(s, " {:>10} {:>10}", "mean", "sd");
    let mut keys: Vec<(u8, f64)> = Vec::new();
    for r in rows {
        if !keys.iter().any(|k| k.0 == r.weight_bits && k.1 == r.mismatch) {
            keys.push((r.weight_bits, r.mismatch));
        }
    }
    for (b, m) in keys {
        let vals: Vec<f64> = rows.iter().filter(|r| r.weight_bits == b && r.mismatch == m).map(|r| r.value).collect();
        let _ = write!(s, "{b:>5} {:>9}", format!("{m}%"));
        for v in &vals {
            let _ = write!(s, " {v:>10.4}");
        }
        let (mu, sd) = mean_sd(&vals);
        let _ = writeln!(s, " {mu:>10.4} {sd:>10.4}");
    }
    s
}

/// The outcome against mismatch: one line per weight width (mean over chip seeds) and the
/// single runs as dots.
pub fn svg(rows: &[Row], measure: &Measure, title: &str) -> String {
    const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
    let mut bits: Vec<u8> = rows.iter().map(|r| r.weight_bits).collect();
    bits.sort_unstable();
    bits.dedup();
    let mut curves = Vec::new();
    for (i, &b) in bits.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let mut ms: Vec<f64> = rows.iter().filter(|r| r.weight_bits == b).map(|r| r.mismatch).collect();
        ms.sort_by(f64::total_cmp);
        ms.dedup();
        let pts = ms
            .iter()
            .map(|&m| {
                let v: Vec<f64> =
                    rows.iter().filter(|r| r.weight_bits == b && r.mismatch == m).map(|r| r.value).collect();
                (m, mean_sd(&v).0)
            })
            .collect();
        curves.push(Curve::line(&format!("{b}-bit weights, mean over chip seeds"), c, pts));
        let dots = rows.iter().filter(|r| r.weight_bits == b).map(|r| (r.mismatch, r.value)).collect();
        curves.push(Curve::dots(&format!("{b}-bit, single chips"), c, dots));
    }
    lines_svg(title, "mismatch spread (%)", &measure.label(), Scale::Linear, &curves)
}

/// Write `sweep.csv`, `sweep.txt` and `sweep.svg` into `dir`.
pub fn write_outputs(dir: &Path, rows: &[Row], measure: &Measure, title: &str) -> Result<(), SweepError> {
    let io = |p: &Path, e: std::io::Error| SweepError::Io { path: p.display().to_string(), source: e };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for (name, body) in [
        ("sweep.csv", csv(rows, measure)),
        ("sweep.txt", text_table(rows, measure)),
        ("sweep.svg", svg(rows, measure, title)),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// Parse a comma-separated list (`0,5,10`) or an inclusive range with a step (`0:20:5`).
pub fn parse_list(s: &str, what: &str) -> Result<Vec<f64>, SweepError> {
    let bad = || SweepError::Grid(format!("`{s}` is not a list (`0,5,10`) or range (`0:20:5`) of {what}"));
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() == 3 {
        let n: Result<Vec<f64>, _> = parts.iter().map(|p| p.trim().parse::<f64>()).collect();
        let n = n.map_err(|_| bad())?;
        let (lo, hi, st) = (n[0], n[1], n[2]);
        if !(st > 0.0 && lo <= hi && lo.is_finite() && hi.is_finite()) || (hi - lo) / st > 10_000.0 {
            return Err(bad());
        }
        let count = ((hi - lo) / st + 1e-9).floor() as usize;
        return Ok((0..=count).map(|i| lo + st * i as f64).collect());
    }
    let v: Result<Vec<f64>, _> = s.split(',').map(|p| p.trim().parse::<f64>()).collect();
    let v = v.map_err(|_| bad())?;
    if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
        return Err(bad());
    }
    Ok(v)
}

/// A list of whole numbers in `[lo, hi]` (weight bits, chip seeds).
pub fn parse_ints(s: &str, what: &str, lo: u64, hi: u64) -> Result<Vec<u64>, SweepError> {
    let v = parse_list(s, what)?;
    v.iter()
        .map(|&x| {
            if x.fract() == 0.0 && x >= lo as f64 && x <= hi as f64 {
                Ok(x as u64)
            } else {
                Err(SweepError::Grid(format!("{what} must be whole numbers in [{lo}, {hi}], got {x}")))
            }
        })
        .collect()
}
