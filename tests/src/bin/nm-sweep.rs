//! `nm-sweep`: run a `.nm` program over a grid of mismatch spreads, weight widths and chip
//! seeds, and write a table (CSV and text) and an SVG plot of a chosen outcome (see
//! `docs/sweep.md`).

use clap::Parser;
use nm_tests::sweep::{self, Measure, SweepSpec};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sweep a program over hardware variability and measure one outcome from its recordings.
#[derive(Debug, Parser)]
#[command(name = "nm-sweep", version)]
struct Cli {
    /// The .nm program.
    program: PathBuf,
    /// The outcome: argmax:PROJ, mean:PROJ, norm:PROJ, cos:PROJ:v1,v2,..., abscos:PROJ:v1,...
    /// (final weights of a projection, in the program's units), rate:POP (spikes per neuron per
    /// second of a recorded population), state:POP:i (final value of a state probe).
    #[arg(long)]
    measure: String,
    /// Mismatch spreads in percent: a list `0,5,10` or a range `0:20:5`.
    #[arg(long, default_value = "0,5,10")]
    mismatch: String,
    /// Weight magnitude bits: a list `6,7,8` or a range `5:8:1`.
    #[arg(long, default_value = "8")]
    weight_bits: String,
    /// Chip seeds (mismatch patterns): a list `1,2,3` or a range `1:10:1`.
    #[arg(long, default_value = "1,2,3")]
    chip_seeds: String,
    /// Chip profile instead of the program's own (`default`, `small`, `board`).
    #[arg(long)]
    profile: Option<String>,
    /// Steps per run (default: the program's duration).
    #[arg(long)]
    steps: Option<u64>,
    /// Parallel runs (results do not depend on it).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Output folder for sweep.csv, sweep.txt and sweep.svg.
    #[arg(short, long, default_value = "sweep-out")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nm-sweep: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<String, sweep::SweepError> {
    let measure: Measure = cli.measure.parse()?;
    let text = std::fs::read_to_string(&cli.program)
        .map_err(|e| sweep::SweepError::Io { path: cli.program.display().to_string(), source: e })?;
    let spec = SweepSpec {
        name: cli.program.display().to_string(),
        text,
        base_dir: cli.program.parent().map(PathBuf::from),
        profile: cli.profile.clone(),
        mismatch: sweep::parse_list(&cli.mismatch, "mismatch spreads")?,
        weight_bits: sweep::parse_ints(&cli.weight_bits, "weight bits", 1, 16)?.into_iter().map(|b| b as u8).collect(),
        chip_seeds: sweep::parse_ints(&cli.chip_seeds, "chip seeds", 0, u64::from(u32::MAX))?,
        steps: cli.steps,
        measure: measure.clone(),
    };
    let t0 = std::time::Instant::now();
    let rows = sweep::run(&spec, cli.threads)?;
    let title = format!("{}: {} against mismatch", cli.program.display(), measure.label());
    sweep::write_outputs(&cli.out, &rows, &measure, &title)?;
    Ok(format!(
        "{}{} runs in {:.1} s; wrote {}/sweep.csv, sweep.txt, sweep.svg\n",
        sweep::text_table(&rows, &measure),
        rows.len(),
        t0.elapsed().as_secs_f64(),
        cli.out.display()
    ))
}
