//! `nmemu`: command-line shell over the emulator library — `run` a `program.bin`, `resume` a
//! checkpoint, `calibrate` a chip instance.

use clap::{Args, Parser, Subcommand};
use nm_emulator::{budget, calibrate, checkpoint, output, plot, vcd, EmuError, Emulator, RunConfig};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "nmemu", version, about = "Cycle-level emulator of the nm neuromorphic chip")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a program and write its recordings, plots and stats.
    Run {
        /// The compiled program (`program.bin`).
        program: PathBuf,
        /// Steps to run (default: the program's own run length).
        #[arg(long, conflicts_with = "duration")]
        steps: Option<u64>,
        /// Model time to run, e.g. `1s`, `250ms`, `0.5` (seconds).
        #[arg(long)]
        duration: Option<String>,
        /// Chip instance (fixed-pattern mismatch); default: the chip spec's default seed.
        #[arg(long)]
        chip_seed: Option<u64>,
        /// Per-run temporal noise seed.
        #[arg(long, default_value_t = 0)]
        noise_seed: u64,
        /// Overrides the program's input / runtime PRNG seed.
        #[arg(long)]
        seed: Option<u64>,
        /// No mismatch and no noise.
        #[arg(long)]
        ideal: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Continue a run from a checkpoint.
    Resume {
        checkpoint: PathBuf,
        /// Further steps (default: up to the program's own run length).
        #[arg(long)]
        steps: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// Measure every neuron of a chip instance and write the deviations for the compiler.
    Calibrate {
        program: PathBuf,
        #[arg(long)]
        chip_seed: Option<u64>,
        /// Output calibration file.
        #[arg(short, long, default_value = "chip.cal")]
        output: PathBuf,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// Worker threads (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Output directory.
    #[arg(short, long, default_value = "nmemu-out")]
    output: PathBuf,
    /// Write `checkpoint.ckpt` in the output directory every N steps.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Write a VCD trace of chosen neurons and all signals to this file.
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Neurons for the VCD trace: `POP` or `POP:FIRST-LAST` (default: first 8 of the first population).
    #[arg(long)]
    vcd_neurons: Option<String>,
    /// Budget of steps of this run (checked before it starts).
    #[arg(long, default_value_t = budget::DEFAULT_MAX_STEPS)]
    max_steps: u64,
    /// Budget of recording bytes held in memory (series projected before the run, spikes as they
    /// grow); the output directory's free space is checked too.
    #[arg(long, default_value_t = budget::DEFAULT_RECORD_BYTES)]
    max_record_bytes: u64,
}

fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, scale) = if let Some(x) = s.strip_suffix("ms") {
        (x, 1e-3)
    } else if let Some(x) = s.strip_suffix("us") {
        (x, 1e-6)
    } else if let Some(x) = s.strip_suffix('s') {
        (x, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * scale)
}

fn load_program(path: &Path) -> Result<nm_isa::Program, EmuError> {
    let bytes = std::fs::read(path).map_err(|e| EmuError::io(path, e))?;
    nm_isa::binary::decode(&bytes)
        .map_err(|e| EmuError::Decode { path: path.display().to_string(), msg: e.to_string() })
}

fn vcd_selection(emu: &Emulator, spec: Option<&str>) -> Result<Vec<(String, u32, usize, u32)>, EmuError> {
    let pops = &emu.program().symbols.populations;
    let (name, range) = match spec {
        Some(s) => match s.split_once(':') {
            Some((n, r)) => {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                let a: u32 = a.parse().map_err(|_| EmuError::Program(format!("--vcd-neurons: bad range `{r}`")))?;
                let b: u32 = b.parse().map_err(|_| EmuError::Program(format!("--vcd-neurons: bad range `{r}`")))?;
                (n.to_string(), Some((a, b)))
            }
            None => (s.to_string(), None),
        },
        None => match pops.first() {
            Some(p) => (p.name.clone(), Some((0, 7))),
            None => return Ok(Vec::new()),
        },
    };
    let ns = emu
        .population_neurons(&name)
        .ok_or_else(|| EmuError::Program(format!("--vcd-neurons: no population `{name}`")))?;
    let (a, b) = range.unwrap_or((0, ns.len().saturating_sub(1) as u32));
    Ok((a..=b.min(ns.len().saturating_sub(1) as u32))
        .filter_map(|k| ns.get(k as usize).filter(|n| n.0 != usize::MAX).map(|&(ci, li)| (name.clone(), k, ci, li)))
        .collect())
}

fn drive(mut emu: Emulator, steps: u64, common: &Common) -> Result<(), EmuError> {
    let out = &common.output;
    let limits = budget::RunBudget { max_steps: common.max_steps, max_record_bytes: common.max_record_bytes };
    budget::check_run(emu.program(), emu.time(), steps, &limits, Some(out))?;
    std::fs::create_dir_all(out).map_err(|e| EmuError::io(out, e))?;
    let mut vcd = match &common.vcd {
        Some(path) => Some(vcd::VcdWriter::create(path, &emu, &vcd_selection(&emu, common.vcd_neurons.as_deref())?)?),
        None => None,
    };
    let bar = if std::io::stdout().is_terminal() && steps >= 1000 {
        let b = indicatif::ProgressBar::new(steps);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps ({eta})") {
            b.set_style(style);
        }
        Some(b)
    } else {
        None
    };
    let ckpt = out.join("checkpoint.ckpt");
    let every = common.checkpoint_every.filter(|&n| n > 0);
    let chunk = if vcd.is_some() { 1 } else { every.unwrap_or(steps).clamp(1, 1000) };
    let mut done = 0u64;
    while done < steps {
        let mut n = chunk.min(steps - done);
        if let Some(e) = every {
            n = n.min(e - emu.time() % e);
        }
        emu.run(n);
        done += n;
        budget::check_recorded(emu.recordings(), emu.time(), &limits, Some(out))?;
        if let Some(v) = vcd.as_mut() {
            v.sample(&emu)?;
        }
        if let Some(e) = every {
            if emu.time().is_multiple_of(e) {
                checkpoint::save(&emu, &ckpt)?;
            }
        }
        if let Some(b) = &bar {
            b.set_position(done);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(v) = vcd {
        v.finish()?;
    }
    let stats = emu.stats();
    let files = output::write_all(out, emu.recordings(), &stats)?;
    let dt_s = emu.program().meta.dt_ns as f64 * 1e-9;
    for r in &emu.recordings().spikes {
        let p = out.join(format!("{}.raster.svg", output::file_stem(&r.name)));
        std::fs::write(&p, plot::raster_svg(r, stats.steps, dt_s)).map_err(|e| EmuError::io(&p, e))?;
    }
    for s in emu.recordings().series.iter().filter(|s| s.what == "weights") {
        let p = out.join(format!("{}.weights.svg", output::file_stem(&s.name)));
        std::fs::write(&p, plot::weights_svg(s, dt_s)).map_err(|e| EmuError::io(&p, e))?;
    }
    println!("{}", stats.summary());
    println!("wrote {} files to {}", files.len(), out.display());
    Ok(())
}

fn main_inner(cli: Cli) -> Result<(), EmuError> {
    match cli.cmd {
        Cmd::Run { program, steps, duration, chip_seed, noise_seed, seed, ideal, common } => {
            let prog = load_program(&program)?;
            let steps = match (steps, duration) {
                (Some(n), _) => n,
                (None, Some(d)) => {
                    let secs = parse_duration(&d)
                        .ok_or_else(|| EmuError::Program(format!("--duration: cannot read `{d}`")))?;
                    (secs / (prog.meta.dt_ns.max(1) as f64 * 1e-9)).round() as u64
                }
                (None, None) => prog.meta.steps,
            };
            let cfg = RunConfig {
                chip_seed: chip_seed.unwrap_or(prog.chip.mismatch.default_chip_seed),
                noise_seed,
                ideal,
                threads: common.threads.max(1),
                seed,
            };
            let emu = Emulator::new(&prog, cfg)?;
            drive(emu, steps, &common)
        }
        Cmd::Resume { checkpoint: path, steps, common } => {
            let emu = checkpoint::load(&path, Some(common.threads.max(1)))?;
            let steps = steps.unwrap_or_else(|| emu.program().meta.steps.saturating_sub(emu.time()));
            println!("resuming `{}` at step {}", emu.program().meta.name, emu.time());
            drive(emu, steps, &common)
        }
        Cmd::Calibrate { program, chip_seed, output } => {
            let prog = load_program(&program)?;
            let seed = chip_seed.unwrap_or(prog.chip.mismatch.default_chip_seed);
            let cal = calibrate::calibrate(&prog, seed)?;
            let text = serde_json::to_string_pretty(&cal).map_err(|e| EmuError::Calibration(e.to_string()))?;
            std::fs::write(&output, text).map_err(|e| EmuError::io(&output, e))?;
            let (b, a) = (cal.before, cal.after);
            println!("chip seed {seed}: measured {} neurons ({} non-LIF skipped)", cal.neurons.len(), cal.skipped);
            println!("threshold spread {:.4} -> {:.4}", b.threshold_rsd, a.threshold_rsd);
            println!("leak spread      {:.4} -> {:.4}", b.leak_rsd, a.leak_rsd);
            println!("bias spread      {:.4} -> {:.4}", b.bias_rsd, a.bias_rsd);
            println!("wrote {}", output.display());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match main_inner(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nmemu: error: {e}");
            ExitCode::FAILURE
        }
    }
}
