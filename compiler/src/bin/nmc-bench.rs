//! `nmc-bench`: back-end benchmark. Compile time and peak memory (VmHWM) for CUBA-style networks
//! of 80 synapses per neuron, and mapping quality (traffic × hops) against the naive sequential
//! placement on structured networks. Run `cargo run --release -p nm-compiler --bin nmc-bench -- all`.
//! Networks above 4096 neurons draw their partners from a ring window of 512 neurons (`random`
//! draws them from the whole network, which exceeds the chip's input axons beyond one chip).

use nm_compiler::ir::{nets, Ir};
use nm_compiler::passes::{compile_ir, CompileOptions, Placer};
use nm_isa::ChipSpec;
use std::process::{Command, ExitCode};
use std::time::Instant;

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The chip for a benchmark size: one chip while it fits, else a board.
fn chip_for(n: u32, big_board: bool) -> ChipSpec {
    if n <= 4096 {
        ChipSpec::default_profile()
    } else if !big_board {
        ChipSpec::board_profile()
    } else {
        let mut s = ChipSpec::board_profile();
        s.name = "board8x8".into();
        s.system.chips_x = 8;
        s.system.chips_y = 8;
        s
    }
}

/// Compile one CUBA network in this process and print a `RESULT` line.
fn compile_one(n: u32, big_board: bool, random: bool) -> Result<(), String> {
    let spec = chip_for(n, big_board);
    let window = if n <= 4096 || random { None } else { Some(512) };
    let t0 = Instant::now();
    let ir = nets::cuba(n, 80, window, 1).map_err(|e| e.to_string())?;
    let build_s = t0.elapsed().as_secs_f64();
    let synapses = ir.synapse_count();
    let mut opts = CompileOptions::new(spec.clone());
    opts.verify = false;
    let t1 = Instant::now();
    let result = compile_ir(ir, &opts);
    let compile_s = t1.elapsed().as_secs_f64();
    let hwm = vm_hwm_kib().unwrap_or(0);
    match result {
        Ok((prog, report)) => {
            let t = report.traffic.as_ref();
            println!(
                "RESULT {{\"neurons\": {n}, \"synapses\": {synapses}, \"chip\": \"{}\", \"build_ir_s\": {build_s:.3}, \
                 \"compile_s\": {compile_s:.3}, \"peak_rss_mib\": {:.1}, \"cores\": {}, \"route_entries_max\": {}, \"route_entries_total\": {}, \
                 \"cost\": {:.3}, \"naive_cost\": {}, \"program_synapses\": {}}}",
                spec.name,
                hwm as f64 / 1024.0,
                report.cores_used,
                report.route_entries_max,
                report.route_entries,
                t.map_or(0.0, |t| t.cost),
                t.and_then(|t| t.naive_cost).map_or("null".into(), |c| format!("{c:.3}")),
                prog.synapse_count()
            );
            Ok(())
        }
        Err(e) => {
            println!(
                "RESULT {{\"neurons\": {n}, \"synapses\": {synapses}, \"chip\": \"{}\", \"compile_s\": {compile_s:.3}, \
                 \"peak_rss_mib\": {:.1}, \"error\": {:?}}}",
                spec.name,
                hwm as f64 / 1024.0,
                e.to_string()
            );
            Ok(())
        }
    }
}

fn quality() -> Result<(), String> {
    let nets: Vec<(&str, Ir, ChipSpec)> = vec![
        (
            "layered 8 x 2048, fan-in 40",
            nets::layered(8, 2048, 40, 3).map_err(|e| e.to_string())?,
            ChipSpec::default_profile(),
        ),
        (
            "local 2-D 128 x 128, radius 2",
            nets::local2d(128, 2, 4).map_err(|e| e.to_string())?,
            ChipSpec::default_profile(),
        ),
        (
            "local 2-D 256 x 256, radius 2",
            nets::local2d(256, 2, 4).map_err(|e| e.to_string())?,
            ChipSpec::default_profile(),
        ),
        (
            "layered 8 x 16384, fan-in 40 (board)",
            nets::layered(8, 16384, 40, 3).map_err(|e| e.to_string())?,
            ChipSpec::board_profile(),
        ),
        (
            "random 12 x 1500, 24 projections",
            nets::random(12, 1500, 24, 20, 5).map_err(|e| e.to_string())?,
            ChipSpec::default_profile(),
        ),
        (
            "CUBA 64k ring window 512 (board)",
            nets::cuba(65536, 80, Some(512), 1).map_err(|e| e.to_string())?,
            ChipSpec::board_profile(),
        ),
    ];
    println!(
        "| network | chip | cores | naive sequential | greedy | greedy + refinement | reduction vs naive | \
         inter-chip naive | inter-chip ours | mean hops | compile s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, ir, spec) in nets {
        let mut opts = CompileOptions::new(spec.clone());
        opts.verify = false;
        opts.placer = Placer::Greedy;
        let t = Instant::now();
        let (_, rep) = compile_ir(ir, &opts).map_err(|e| format!("{name}: {e}"))?;
        let secs = t.elapsed().as_secs_f64();
        let tr = rep.traffic.ok_or("no traffic figures")?;
        println!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {:.2} | {:.2} | {secs:.2} |",
            spec.name,
            rep.cores_used,
            tr.naive_cost.map_or("does not fit".into(), |c| format!("{c:.2}")),
            tr.greedy_cost,
            tr.cost,
            tr.improvement.map_or("n/a".into(), |i| format!("{:.1} %", 100.0 * i)),
            tr.naive_inter_chip.map_or("n/a".into(), |c| format!("{c:.2}")),
            tr.inter_chip,
            tr.mean_hops,
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("all");
    let res = match what {
        "one" => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4096);
            let flag = |f: &str| args.iter().skip(3).any(|s| s == f);
            compile_one(n, flag("big"), flag("random"))
        }
        "compile" | "all" => {
            let exe = std::env::current_exe().map_err(|e| e.to_string());
            let mut r = exe.and_then(|exe| {
                for (n, big) in [(4096u32, false), (65536, false), (1 << 20, false)] {
                    let mut cmd = Command::new(&exe);
                    cmd.arg("one").arg(n.to_string());
                    if big {
                        cmd.arg("big");
                    }
                    let st = cmd.status().map_err(|e| e.to_string())?;
                    if !st.success() {
                        return Err(format!("size {n} failed: {st}"));
                    }
                }
                Ok(())
            });
            if r.is_ok() && what == "all" {
                r = quality();
            }
            r
        }
        "quality" => quality(),
        _ => Err("usage: nmc-bench [all|compile|quality|one N [big] [random]]".into()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nmc-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
