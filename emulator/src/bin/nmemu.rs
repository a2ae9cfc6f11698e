//! `nmemu`: command-line shell over the emulator library — `run` a `program.bin`, `resume` a
//! checkpoint, `calibrate` a chip instance.

use clap::{Args, Parser, Subcommand};
use nm_emulator::faults::FaultConfig;
use nm_emulator::{budget, calibrate, checkpoint, output, vcd, EmuError, Emulator, RunConfig};
use nm_isa::faults::{Dir, FaultMap, LinkRef};
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
        faults: FaultArgs,
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
    /// Every N steps write `checkpoint-STEP.ckpt` (kept) and `checkpoint.ckpt` (the latest) in the
    /// output directory.
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

/// Fault injection (see `docs/faults.md`): a fault file and flags for the common cases, which
/// add to (or override) the file's entries.
#[derive(Args, Debug)]
struct FaultArgs {
    /// Fault map (TOML).
    #[arg(long)]
    faults: Option<PathBuf>,
    /// Seed of every random fault draw (drops, stuck-at selection, bit flips).
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Dead core (repeatable).
    #[arg(long = "dead-core", value_name = "CORE")]
    dead_cores: Vec<u32>,
    /// Dead mesh link `CORE:DIR` with DIR one of north, east, south, west (repeatable).
    #[arg(long = "dead-link", value_name = "CORE:DIR")]
    dead_links: Vec<String>,
    /// Probability that a packet is lost on each link it takes.
    #[arg(long)]
    packet_drop: Option<f64>,
    /// Fraction of synapse slots stuck at 0 or at the largest weight.
    #[arg(long)]
    stuck_fraction: Option<f64>,
    /// Probability per step that each accumulator bit flips.
    #[arg(long)]
    bit_flip_rate: Option<f64>,
}

impl FaultArgs {
    fn any(&self) -> bool {
        self.faults.is_some()
            || !self.dead_cores.is_empty()
            || !self.dead_links.is_empty()
            || self.packet_drop.is_some()
            || self.stuck_fraction.is_some()
            || self.bit_flip_rate.is_some()
    }

    /// The fault configuration, or `None` when no fault option was given.
    fn config(&self, spec: &nm_isa::ChipSpec) -> Result<Option<FaultConfig>, EmuError> {
        if !self.any() {
            return Ok(None);
        }
        let mut map = match &self.faults {
            Some(p) => FaultMap::read(p, spec).map_err(|e| EmuError::Faults(e.to_string()))?,
            None => FaultMap::default(),
        };
        for &c in &self.dead_cores {
            if !map.dead_cores.contains(&c) {
                map.dead_cores.push(c);
            }
        }
        for l in &self.dead_links {
            let bad =
                || EmuError::Faults(format!("--dead-link: `{l}` is not CORE:DIR (DIR north, east, south or west)"));
            let (c, d) = l.split_once(':').ok_or_else(bad)?;
            let core: u32 = c.trim().parse().map_err(|_| bad())?;
            let dir = match d.trim() {
                "north" => Dir::North,
                "east" => Dir::East,
                "south" => Dir::South,
                "west" => Dir::West,
                _ => return Err(bad()),
            };
            map.dead_links.push(LinkRef { core, dir });
        }
        if let Some(p) = self.packet_drop {
            map.packet_drop = p;
        }
        if let Some(p) = self.stuck_fraction {
            map.stuck_fraction = p;
        }
        if let Some(p) = self.bit_flip_rate {
            map.bit_flip_rate = p;
        }
        map.validate(spec).map_err(|e| EmuError::Faults(e.to_string()))?;
        Ok(Some(FaultConfig { map, seed: self.fault_seed }))
    }
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
        Some(path) => {
            let sel = vcd_selection(&emu, common.vcd_neurons.as_deref())?;
            let values = 3 * sel.len() as u64 + emu.program().signals.len() as u64;
            budget::check_vcd(steps, values, path, &limits)?;
            Some(vcd::VcdWriter::create(path, &emu, &sel)?)
        }
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
                // Every checkpoint is kept (`checkpoint-STEP.ckpt`, any of them resumes the run
                // bit-identically); `checkpoint.ckpt` is always the latest.
                checkpoint::save(&emu, &out.join(format!("checkpoint-{:012}.ckpt", emu.time())))?;
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
    let plots = output::write_plots(out, emu.recordings(), stats.steps, dt_s)?;
    let files: Vec<_> = files.into_iter().chain(plots).collect();
    println!("{}", stats.summary());
    print!("{}", output::learned_summary(emu.recordings(), stats.steps, dt_s));
    println!("wrote {} files to {}", files.len(), out.display());
    Ok(())
}

fn main_inner(cli: Cli) -> Result<(), EmuError> {
    match cli.cmd {
        Cmd::Run { program, steps, duration, chip_seed, noise_seed, seed, ideal, faults, common } => {
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
            let fcfg = faults.config(&prog.chip)?;
            if let Some(f) = &fcfg {
                println!("fault injection: fault seed {}", f.seed);
            }
            let emu = Emulator::with_faults(&prog, cfg, fcfg)?;
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
            println!(
                "chip seed {seed}: measured {} neurons ({} skipped: graded or LIF without leak), {} plastic synapses",
                cal.neurons.len(),
                cal.skipped,
                cal.synapses.len()
            );
            println!("threshold spread {:.4} -> {:.4}", b.threshold_rsd, a.threshold_rsd);
            println!("leak spread      {:.4} -> {:.4}", b.leak_rsd, a.leak_rsd);
            println!("bias spread      {:.4} -> {:.4}", b.bias_rsd, a.bias_rsd);
            if b.sampling_threshold_rsd > 0.0 {
                println!(
                    "sampling-neuron threshold spread {:.4} -> {:.4}",
                    b.sampling_threshold_rsd, a.sampling_threshold_rsd
                );
            }
            println!("learning-rate spread {:.4} -> {:.4}", b.learning_rate_rsd, a.learning_rate_rsd);
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
