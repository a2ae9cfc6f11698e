//! `nm-robustness`: measures how much fault paper 1's winner selection tolerates and writes the
//! table of `docs/robustness.md` (between its `robustness:begin` / `robustness:end` markers).
//!
//! Usage: `cargo run --release -p nm-tests --bin nm-robustness -- [--seeds N] [--steps N] [--write docs/robustness.md]`
//! (default 40 chip seeds `1..=N`, the program's own 200 s, print the table only).

use nm_tests::robustness::{program, sweep, table_row, FAULT_SEED_OFFSET, LEVELS, TABLE_HEADER};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut seeds = 40u64;
    let mut steps: Option<u64> = None;
    let mut write: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            args.next().and_then(|v| v.parse().ok()).ok_or(format!("{name} needs a number"))
        };
        let r = match a.as_str() {
            "--seeds" => num("--seeds").map(|n| seeds = n),
            "--steps" => num("--steps").map(|n| steps = Some(n)),
            "--write" => match args.next() {
                Some(p) => {
                    write = Some(p);
                    Ok(())
                }
                None => Err("--write needs a path".into()),
            },
            other => Err(format!("unknown argument `{other}` (use --seeds N, --steps N, --write PATH)")),
        };
        if let Err(e) = r {
            eprintln!("nm-robustness: error: {e}");
            return ExitCode::from(2);
        }
    }
    let p = program();
    let seed_list: Vec<u64> = (1..=seeds).collect();
    let start = std::time::Instant::now();
    let mut table = format!(
        "Chip seeds 1..={seeds} (fault seed = chip seed + {FAULT_SEED_OFFSET}), {} steps of {} ms per run.\n\n{TABLE_HEADER}\n",
        steps.unwrap_or(p.meta.steps),
        p.meta.dt_ns as f64 * 1e-6
    );
    for level in LEVELS {
        let runs = sweep(&p, level, &seed_list, steps);
        let row = table_row(level, &runs);
        let failed: Vec<String> = runs.iter().filter(|o| !o.ok()).map(|o| format!("{}", o.chip_seed)).collect();
        eprintln!("{row}  (failed chip seeds: {})", if failed.is_empty() { "none".into() } else { failed.join(", ") });
        table.push_str(&row);
        table.push('\n');
    }
    eprintln!("{} runs in {:.1} s", LEVELS.len() as u64 * seeds, start.elapsed().as_secs_f64());
    print!("{table}");
    if let Some(path) = write {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("nm-robustness: error: {path}: {e}");
                return ExitCode::from(2);
            }
        };
        let (b, e) = ("<!-- robustness:begin -->", "<!-- robustness:end -->");
        let (Some(i), Some(j)) = (text.find(b), text.find(e)) else {
            eprintln!("nm-robustness: error: {path} has no `{b}` ... `{e}` markers");
            return ExitCode::from(2);
        };
        let out = format!("{}{b}\n{table}{}", &text[..i], &text[j..]);
        if let Err(e) = std::fs::write(&path, out) {
            eprintln!("nm-robustness: error: {path}: {e}");
            return ExitCode::from(2);
        }
        eprintln!("wrote the table into {path}");
    }
    ExitCode::SUCCESS
}
