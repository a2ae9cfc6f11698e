//! `nmemu-bench`: times the emulator on the CUBA benchmark network (built as a program directly)
//! and a plain gather-accumulate loop over the same synapse tables, and prints the figures.
//!
//! Usage: `nmemu-bench [N] [--ideal] [--threads T] [--reps R] [--two-currents]
//! [--kernel scalar|avx2|avx512]` (CUBA, N = 4000 by default; `--two-currents`: inhibition on the
//! second synaptic current with τi = 10 ms; `--kernel`: the LIF kernel instead of the detected one);
//! `nmemu-bench stdp [NPOST] [--seconds S] [--ideal]` (STDP 1000 → NPOST, 100 s by default);
//! `nmemu-bench [N] --write-program cuba.bin` writes the CUBA program for `nmemu run`;
//! `nmemu-bench run PROGRAM.bin [--ideal] [--steps N]` times a compiled program over its own run
//! length or `N` steps (e.g.
//! `programs/bench/stdp.nm` compiled by `nmc`) and reports, for programs with one learning rule,
//! the fractions of all synapses whose accumulator is below 0.1 and above 0.9 of the rule's
//! upper bound (meant for programs whose synapses are all plastic, like the STDP benchmark).

use nm_emulator::bench::{cuba_with, rate_and_cv, Cuba};
use nm_emulator::core::LifKernel;
use nm_emulator::{Emulator, RunConfig};
use std::time::Instant;

/// Run `steps` steps: wall seconds and CPU seconds of this thread (if the OS reports them).
fn timed_run(emu: &mut Emulator, steps: u64) -> (f64, Option<f64>) {
    let c1 = thread_cpu_s();
    let t1 = Instant::now();
    emu.run(steps);
    let sim = t1.elapsed().as_secs_f64();
    let cpu = match (c1, thread_cpu_s()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    (sim, cpu)
}

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/schedstat`), so that the
/// figure is not inflated by other processes on a shared machine; `None` elsewhere.
fn thread_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Gather-accumulate over a CSR table shaped like the network's: `spikes` random rows of
/// `fan_out` random targets each, into an `n`-wide accumulator. Returns events per second.
fn gather_accumulate(n: usize, rows: usize, fan_out: usize, events_wanted: usize) -> f64 {
    let mut x = 0x1234_5678u32;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let targets: Vec<u32> = (0..rows * fan_out).map(|_| next() % n as u32).collect();
    let weights: Vec<i32> = (0..rows * fan_out).map(|_| (next() % 255) as i32 - 127).collect();
    let spikes: Vec<usize> = (0..events_wanted / fan_out).map(|_| next() as usize % rows).collect();
    let mut acc = vec![0i32; n];
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        for &r in &spikes {
            let (t, w) = (&targets[r * fan_out..(r + 1) * fan_out], &weights[r * fan_out..(r + 1) * fan_out]);
            for (&ti, &wi) in t.iter().zip(w) {
                acc[ti as usize] = acc[ti as usize].wrapping_add(wi);
            }
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    std::hint::black_box(&acc);
    (spikes.len() * fan_out) as f64 / best
}

fn stdp_main(args: &[String]) {
    let mut n_post = 100u32;
    let mut seconds = 100.0f64;
    let mut ideal = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--ideal" => ideal = true,
            "--seconds" => {
                i += 1;
                seconds = args.get(i).and_then(|s| s.parse().ok()).unwrap_or(100.0);
            }
            s => n_post = s.parse().unwrap_or(100),
        }
        i += 1;
    }
    let program = nm_emulator::bench::stdp(nm_emulator::bench::Stdp { n_post, ..Default::default() });
    let cfg = RunConfig { chip_seed: 1, noise_seed: 0, ideal, threads: 1, seed: None };
    let t0 = Instant::now();
    let mut emu = match Emulator::new(&program, cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("nmemu-bench: {e}");
            std::process::exit(1);
        }
    };
    let load = t0.elapsed().as_secs_f64();
    let steps = (seconds / 1e-4).round() as u64;
    let (sim, cpu) = timed_run(&mut emu, steps);
    let st = emu.stats();
    let w: Vec<f64> = (0..program.cores.len())
        .filter_map(|ci| emu.synapse_state(ci).map(|(_, wr)| wr.to_vec()))
        .flatten()
        .map(|x| f64::from(x) / f64::from(nm_emulator::bench::STDP_WMAX))
        .collect();
    let low = w.iter().filter(|&&x| x < 0.1).count() as f64 / w.len().max(1) as f64;
    let high = w.iter().filter(|&&x| x > 0.9).count() as f64 / w.len().max(1) as f64;
    let line = serde_json::json!({
        "bench": "stdp", "n_in": 1000, "n_post": n_post, "seconds": seconds, "ideal": ideal,
        "load_s": load, "sim_s": sim, "sim_cpu_s": cpu, "post_spikes": st.spikes,
        "post_rate_hz": st.spikes as f64 / (f64::from(n_post) * seconds),
        "learning_invocations": st.learning_invocations, "learning_ops": st.learning_ops,
        "synaptic_events": st.synaptic_events,
        "frac_weights_below_0.1_gmax": low, "frac_weights_above_0.9_gmax": high,
    });
    println!("RESULT {line}");
}

/// `nmemu-bench run PROGRAM.bin [--ideal]`.
fn run_program_main(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: nmemu-bench run PROGRAM.bin [--ideal] [--steps N] [--threads T]";
    let (mut path, mut ideal, mut steps, mut threads) = (None, false, None, 1usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ideal" => ideal = true,
            "--steps" => {
                let n = it.next().and_then(|v| v.parse::<u64>().ok()).ok_or(USAGE)?;
                steps = Some(n);
            }
            "--threads" => {
                threads = it.next().and_then(|v| v.parse::<usize>().ok()).filter(|&t| t > 0).ok_or(USAGE)?;
            }
            _ if a.starts_with("--") => return Err(format!("unknown option `{a}`; {USAGE}")),
            _ => path = Some(a),
        }
    }
    let path = path.ok_or(USAGE)?;
    let t0 = Instant::now();
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let program = nm_isa::binary::decode(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let cfg = RunConfig { chip_seed: 1, noise_seed: 0, ideal, threads, seed: None };
    let mut emu = Emulator::new(&program, cfg).map_err(|e| format!("{path}: {e}"))?;
    let load = t0.elapsed().as_secs_f64();
    let steps = steps.unwrap_or(program.meta.steps);
    let (sim, cpu) = timed_run(&mut emu, steps);
    let st = emu.stats();
    // Every synapse's accumulator relative to the rule's upper bound, in accumulator units.
    let (mut low, mut high, mut total) = (0usize, 0usize, 0usize);
    if let [rule] = program.rules.as_slice() {
        let wmax = f64::from(rule.w_max.max(1));
        for ci in 0..program.cores.len() {
            if let Some((acc, _)) = emu.synapse_state(ci) {
                for &a in acc {
                    let x = f64::from(a) / wmax;
                    low += usize::from(x < 0.1);
                    high += usize::from(x > 0.9);
                    total += 1;
                }
            }
        }
    }
    let frac = |k: usize| if total == 0 { None } else { Some(k as f64 / total as f64) };
    let line = serde_json::json!({
        "bench": "run", "program": path, "ideal": ideal, "steps": steps, "threads": threads, "load_s": load, "sim_s": sim,
        "sim_cpu_s": cpu, "spikes": st.spikes, "synaptic_events": st.synaptic_events,
        "learning_invocations": st.learning_invocations, "learning_ops": st.learning_ops,
        "synapses": total, "cluster_cores": emu.cluster_members().len(),
        "cluster_narrow": [emu.cluster_narrow_constants(), emu.cluster_narrow_offsets()],
        "frac_weights_below_0.1_wmax": frac(low), "frac_weights_above_0.9_wmax": frac(high),
    });
    println!("RESULT {line}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("run") {
        if let Err(e) = run_program_main(&args[1..]) {
            eprintln!("nmemu-bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("stdp") {
        stdp_main(&args[1..]);
        return;
    }
    let mut n = 4000u32;
    let mut ideal = false;
    let mut two_currents = false;
    let mut threads = 1usize;
    let mut reps = 3usize;
    let mut write: Option<String> = None;
    let mut kernel: Option<LifKernel> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--ideal" => ideal = true,
            "--two-currents" => two_currents = true,
            "--threads" => {
                i += 1;
                threads = args.get(i).and_then(|s| s.parse().ok()).unwrap_or(1);
            }
            "--write-program" => {
                i += 1;
                write = args.get(i).cloned();
            }
            "--kernel" => {
                i += 1;
                kernel = match args.get(i).map(String::as_str) {
                    Some("scalar") => Some(LifKernel::Scalar),
                    Some("avx2") => Some(LifKernel::Avx2),
                    Some("avx512") => Some(LifKernel::Avx512),
                    _ => {
                        eprintln!("nmemu-bench: --kernel takes scalar, avx2 or avx512");
                        std::process::exit(2);
                    }
                };
                if kernel.is_some_and(|k| !k.supported()) {
                    eprintln!("nmemu-bench: this CPU cannot run the {:?} kernel", kernel.unwrap_or(LifKernel::Scalar));
                    std::process::exit(2);
                }
            }
            "--reps" => {
                i += 1;
                reps = args.get(i).and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
            }
            s => match s.parse() {
                Ok(v) => n = v,
                Err(_) => {
                    eprintln!("usage: nmemu-bench [N] [--ideal] [--threads T] [--reps R] [--two-currents]");
                    std::process::exit(2);
                }
            },
        }
        i += 1;
    }
    let t0 = Instant::now();
    let program = cuba_with(Cuba { n, ..Cuba::default() }, two_currents);
    let build_s = t0.elapsed().as_secs_f64();
    if let Some(path) = write {
        if let Err(e) = std::fs::write(&path, nm_isa::binary::encode(&program)) {
            eprintln!("nmemu-bench: {path}: {e}");
            std::process::exit(1);
        }
        println!("wrote {path}");
        return;
    }
    let cfg = RunConfig { chip_seed: 1, noise_seed: 0, ideal, threads, seed: None };
    let mut load = Vec::new();
    let mut sim = Vec::new();
    let mut sim_cpu = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t0 = Instant::now();
        let mut emu = match Emulator::new(&program, cfg) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("nmemu-bench: {e}");
                std::process::exit(1);
            }
        };
        if let Some(k) = kernel {
            emu.set_lif_kernel(k);
        }
        load.push(t0.elapsed().as_secs_f64());
        let c1 = thread_cpu_s();
        let t1 = Instant::now();
        emu.run(10_000);
        sim.push(t1.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c1, thread_cpu_s()) {
            sim_cpu.push(b - a);
        }
        last = Some(emu);
    }
    let Some(emu) = last else { return };
    let st = emu.stats();
    let rec = &emu.recordings().spikes[0];
    let (rate, cv) = rate_and_cv(&rec.times, &rec.ids, n as usize, st.steps, 1e-4);
    let sim_s = median(sim);
    let ev_rate = st.synaptic_events as f64 / sim_s;
    let limit = gather_accumulate(n as usize, n as usize, 80, 20_000_000);
    let line = serde_json::json!({
        "bench": "cuba",
        "n": n,
        "ideal": ideal,
        "two_currents": two_currents,
        "threads": threads,
        "lif_kernel": format!("{:?}", emu.lif_kernel()),
        "build_program_s": build_s,
        "route_entries_total": program.routes.iter().map(|t| t.entries.len()).sum::<usize>(),
        "route_entries_max": program.routes.iter().map(|t| t.entries.len()).max().unwrap_or(0),
        "load_s": median(load),
        "sim_s": sim_s,
        "sim_cpu_s": if sim_cpu.is_empty() { None } else { Some(median(sim_cpu.clone())) },
        "spikes": st.spikes,
        "synaptic_events": st.synaptic_events,
        "rate_hz": rate,
        "cv_isi": cv,
        "cycles_per_step_median": st.cycles_per_step.median,
        "chip_time_s": st.chip_time_s,
        "energy_j": st.energy.total_j,
        "neuron_updates_per_s": (u64::from(n) * st.steps) as f64 / sim_s,
        "events_per_s": ev_rate,
        "gather_accumulate_events_per_s": limit,
        "events_fraction_of_limit": ev_rate / limit,
    });
    println!("RESULT {line}");
}
