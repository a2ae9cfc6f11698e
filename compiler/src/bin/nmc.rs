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
    },
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
        Command::Check { file, message_format } => check(&file, message_format),
    }
}

fn check(file: &std::path::Path, format: MessageFormat) -> ExitCode {
    let checked = match driver::check_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match format {
        MessageFormat::Human => {
            let mut err = StandardStream::stderr(ColorChoice::Auto);
            diag::write_human(&checked.diagnostics, &checked.sources, &mut err);
        }
        MessageFormat::Json => print!("{}", diag::render_json(&checked.diagnostics, &checked.sources)),
    }
    match &checked.model {
        Some(m) if !checked.diagnostics.has_errors() => {
            if format == MessageFormat::Human {
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
