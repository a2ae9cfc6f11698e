//! `nmc`: command-line shell over the compiler library. Exit codes: 0 ok, 1 errors in the
//! input program, 2 usage or I/O errors.

use clap::{Parser, Subcommand, ValueEnum};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use nm_compiler::driver;
use nm_compiler::front::diag;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "nmc", version, about = "The .nm compiler for the nm neuromorphic chip")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check a .nm file (names, units, locality of rules, fits the chip); no output file.
    Check {
        /// The .nm file.
        file: PathBuf,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
        /// Print the checked model (`front::model::Model`) as JSON on stdout.
        #[arg(long)]
        dump_model: bool,
    },
    /// Compile a .nm file to a program.bin for the chip its `target` names.
    Compile {
        /// The .nm file.
        file: PathBuf,
        /// Output program (default: the input's name with `.bin`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
        /// Print the mapping report (cores, fill, traffic, quantization).
        #[arg(long)]
        report: bool,
        /// Format of the report.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        report_format: ReportFormat,
        /// Print an intermediate form instead of writing the program (`ir`).
        #[arg(long, value_enum)]
        emit: Option<Emit>,
        /// With `--emit ir`: stop after this pass.
        #[arg(long, default_value = "lower_rules")]
        after: String,
        /// Seed of the placement refinement.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Use the naive sequential placement (the report's baseline) instead of the mapper.
        #[arg(long)]
        naive: bool,
        /// Cancel one chip instance's measured mismatch (`nmemu calibrate ... -o chip.cal`).
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// Fault map of the target chip instance (TOML, `docs/faults.md`): no work is placed on
        /// dead cores and routes avoid dead cores and links.
        #[arg(long)]
        faults: Option<PathBuf>,
        /// Budget of neurons plus input channels, checked before lowering allocates them.
        #[arg(long, default_value_t = nm_compiler::budget::DEFAULT_NEURONS)]
        max_neurons: u64,
        /// Budget of synapses (counted before they are drawn), checked before lowering.
        #[arg(long, default_value_t = nm_compiler::budget::DEFAULT_SYNAPSES)]
        max_synapses: u64,
    },
    /// Print a program.bin in readable form.
    Disasm {
        /// The program.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Emit {
    Ir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Check { file, message_format, dump_model } => check(&file, message_format, dump_model),
        Command::Compile {
            file,
            output,
            message_format,
            report,
            report_format,
            emit,
            after,
            seed,
            naive,
            calibration,
            faults,
            max_neurons,
            max_synapses,
        } => {
            let budget = nm_compiler::budget::Budget { neurons: max_neurons, synapses: max_synapses };
            let how = How {
                format: message_format,
                report: report.then_some(report_format),
                emit,
                seed,
                naive,
                faults,
                budget,
            };
            compile(&file, output, &how, &after, calibration.as_deref())
        }
        Command::Disasm { file } => match nm_isa::binary::read_program(&file) {
            Ok(p) => {
                print!("{}", nm_isa::disasm::disassemble(&p));
                ExitCode::SUCCESS
            }
            Err(e @ nm_isa::binary::ReadError::Io { .. }) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
    }
}

/// How `nmc compile` reports and maps.
struct How {
    format: MessageFormat,
    report: Option<ReportFormat>,
    emit: Option<Emit>,
    seed: u64,
    naive: bool,
    faults: Option<PathBuf>,
    budget: nm_compiler::budget::Budget,
}

fn compile(
    file: &std::path::Path,
    output: Option<PathBuf>,
    how: &How,
    after: &str,
    calibration: Option<&std::path::Path>,
) -> ExitCode {
    let How { format, report, emit, seed, naive, ref faults, budget } = *how;
    // Read the calibration before compiling, so that a bad file costs nothing.
    let cal = match calibration.map(driver::read_calibration).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let checked = match driver::check_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match format {
        MessageFormat::Human => {
            let mut err = StandardStream::stderr(stderr_colors());
            diag::write_human(&checked.diagnostics, &checked.sources, &mut err);
        }
        MessageFormat::Json => print!("{}", diag::render_json(&checked.diagnostics, &checked.sources)),
    }
    let model = match &checked.model {
        Some(m) if !checked.diagnostics.has_errors() => m,
        _ => return ExitCode::from(1),
    };
    let mut opts = nm_compiler::passes::CompileOptions::new(model.target.spec.clone());
    opts.seed = seed;
    opts.budget = budget;
    if naive {
        opts.placer = nm_compiler::passes::Placer::Naive;
    }
    if let Some(path) = &faults {
        match nm_isa::FaultMap::read(path, &model.target.spec) {
            Ok(m) => opts.faults = Some(m),
            Err(e @ nm_isa::faults::FaultError::Io { .. }) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("error: `{}`: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    if emit == Some(Emit::Ir) {
        return match driver::emit_ir(model, opts, after) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    let unusable = opts.dead_cores().iter().filter(|&&d| d).count();
    let fault_note = opts.faults.as_ref().map(|f| {
        format!(
            "fault map: {} dead cores, {} dead links; {unusable} cores take no work (dead or cut off); no route uses a dead part",
            f.dead_cores.len(),
            f.dead_links.len()
        )
    });
    let (mut program, mut rep) = match driver::compile_model(model, opts) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: `{}`: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    if let (Some(cal), Some(path)) = (&cal, calibration) {
        let applied = match nm_isa::calibration::check_fits(&program, cal)
            .and_then(|()| nm_isa::calibration::apply_with_report(&program, cal))
        {
            Ok((p, r)) => {
                program = p;
                r
            }
            Err(e) => {
                eprintln!("error: `{}`: {e}", path.display());
                return ExitCode::from(1);
            }
        };
        if format == MessageFormat::Human {
            eprintln!(
                "calibrated {} neurons and {} plastic synapses for chip `{}` instance {} (`{}`)",
                applied.neurons,
                applied.synapses,
                cal.chip,
                cal.chip_seed,
                path.display()
            );
            if applied.trims_clamped > 0 && report.is_none() {
                eprintln!(
                    "warning: {} of {} learning-rate trims hit the end of the code range {}..={} \
                     (`learning_rate_trim_bits` = {}); those synapses keep part of their gain error",
                    applied.trims_clamped,
                    applied.synapses,
                    applied.trim_lo,
                    applied.trim_hi,
                    program.chip.formats.learning_rate_trim_bits
                );
            }
        }
        rep.set_calibration(applied);
    }
    let out = output.unwrap_or_else(|| file.with_extension("bin"));
    let bytes = nm_isa::binary::encode(&program);
    if let Err(e) = driver::write_atomic(&out, &bytes) {
        eprintln!("error: cannot write `{}`: {e}", out.display());
        return ExitCode::from(2);
    }
    match report {
        Some(ReportFormat::Text) => print!("{}", rep.to_text()),
        Some(ReportFormat::Json) => println!("{}", rep.to_json()),
        None => {}
    }
    if format == MessageFormat::Human && report != Some(ReportFormat::Json) {
        if let Some(n) = &fault_note {
            eprintln!("{n}");
        }
        eprintln!(
            "wrote `{}`: {} bytes, {} neurons, {} synapses on {} core{}, {} rule{}",
            out.display(),
            bytes.len(),
            program.neuron_count(),
            program.synapse_count(),
            program.cores.len(),
            s(program.cores.len()),
            program.rules.len(),
            s(program.rules.len()),
        );
    }
    ExitCode::SUCCESS
}

fn check(file: &std::path::Path, format: MessageFormat, dump_model: bool) -> ExitCode {
    let checked = match driver::check_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match format {
        MessageFormat::Human => {
            let mut err = StandardStream::stderr(stderr_colors());
            diag::write_human(&checked.diagnostics, &checked.sources, &mut err);
        }
        MessageFormat::Json => print!("{}", diag::render_json(&checked.diagnostics, &checked.sources)),
    }
    match &checked.model {
        Some(m) if !checked.diagnostics.has_errors() => {
            if dump_model {
                println!("{}", serde_json::to_string_pretty(m).unwrap_or_default());
            } else if format == MessageFormat::Human {
                println!(
                    "ok: `{}`: {} population{}, {} input{}, {} projection{}, {} rule{}, {} signal{}, {} recording{}",
                    file.display(),
                    m.populations.len(),
                    s(m.populations.len()),
                    m.inputs.len(),
                    s(m.inputs.len()),
                    m.projections.len(),
                    s(m.projections.len()),
                    m.rules.len(),
                    s(m.rules.len()),
                    m.signals.len(),
                    s(m.signals.len()),
                    m.recordings.len(),
                    s(m.recordings.len()),
                );
            }
            ExitCode::SUCCESS
        }
        _ => ExitCode::from(1),
    }
}

fn s(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Colours only when stderr is a terminal (and `NO_COLOR` is unset): redirected diagnostics stay
/// plain text.
fn stderr_colors() -> ColorChoice {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    }
}
