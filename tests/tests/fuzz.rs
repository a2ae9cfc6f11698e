//! The fuzz bodies of `nm_tests::fuzz` on stable: a fixed number of seeded random and mutated
//! inputs per target, from the seed corpus (bundled programs, diagnostics goldens, compiled
//! `program.bin`s, checkpoints), under a limiting global allocator: any allocation that would
//! take the process above [`MEMORY_BUDGET`] aborts the test binary, so "no allocation beyond the
//! budget" is checked, not assumed. Regression inputs of earlier findings run first.
//!
//! Every input comes from `ChaCha8` seeded with the printed seed; `NM_FUZZ_SEED` changes it and
//! `NM_FUZZ_TRACE=1` (with `--nocapture`) prints each case before it runs, to find the case of
//! an allocation abort.

use cap::Cap;
use nm_tests::fuzz::{self, Mutator};
use std::alloc::System;
use std::time::Instant;

/// Peak bytes the whole test binary may hold at once (all four targets share it).
const MEMORY_BUDGET: usize = 512 << 20;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, MEMORY_BUDGET);

fn seed() -> u64 {
    std::env::var("NM_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_201)
}

/// The fuzzed sources may name any file: keep what one read may take well inside the budget.
fn small_file_budget() {
    std::env::set_var(nm_compiler::budget::FILE_BYTES_VAR, (16u64 << 20).to_string());
}

/// Inputs per target: the stated count, or `NM_FUZZ_CASES` (for longer soaks or quick timing).
fn cases(default: usize) -> usize {
    std::env::var("NM_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn trace() -> bool {
    std::env::var_os("NM_FUZZ_TRACE").is_some()
}

/// Run `body` on `n` inputs made by `make(mutator, k)`; panics with the case on a finding.
fn drive(target: &str, n: usize, seed: u64, mut make: impl FnMut(&mut Mutator, usize) -> Vec<u8>, body: fn(&[u8])) {
    let mut m = Mutator::new(seed);
    let t0 = Instant::now();
    let mut slowest = (0usize, 0f64);
    for k in 0..n {
        let input = make(&mut m, k);
        if trace() {
            eprintln!("{target} case {k} (seed {seed}): {} bytes", input.len());
        }
        // `NM_FUZZ_DUMP=K` writes case K to `target/fuzz-case-<target>-K` and skips it.
        if std::env::var("NM_FUZZ_DUMP").ok().and_then(|v| v.parse::<usize>().ok()) == Some(k) {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/fuzz-case-{target}-{k}"));
            std::fs::write(&p, &input).expect("dump the case");
            eprintln!("{target}: case {k} written to {}", p.display());
            continue;
        }
        let t = Instant::now();
        let r = std::panic::catch_unwind(|| body(&input));
        let dt = t.elapsed().as_secs_f64();
        if dt > slowest.1 {
            slowest = (k, dt);
        }
        if r.is_err() {
            let shown = String::from_utf8_lossy(&input[..input.len().min(4000)]).into_owned();
            panic!("{target}: case {k} of seed {seed} panicked; input ({} bytes):\n{shown}", input.len());
        }
    }
    eprintln!(
        "{target}: {n} inputs (seed {seed}) in {:.2} s (slowest: case {} in {:.3} s), {} bytes held after",
        t0.elapsed().as_secs_f64(),
        slowest.0,
        slowest.1,
        ALLOC.allocated()
    );
}

/// Regression inputs of earlier findings (docs/testing.md lists them).
fn regressions_nm() -> Vec<&'static str> {
    vec![
        // Budget: 2^48 synapses asked for; lowering allocated them before any check.
        "pop a = lif(n = 16777216, v_th = 1)\nconnect a -> a all_to_all weight = 0.1\n",
        "input x = poisson(n = 4194304, rate = 5 Hz)\npop a = lif(n = 16777216, v_th = 1)\nconnect x -> a fixed_prob(p = 0.5) weight = 0.1\n",
        // Budget: a chip spec or data file that never ends.
        "target \"/dev/zero\"\n",
        "input x = patterns(file(\"/dev/zero\"), present = 5 steps, encoding = graded)\npop y = rate(n = 1, tau = 1 ms)\nconnect x -> y\n",
    ]
}

#[test]
fn nm_front_end_survives_mutated_sources() {
    small_file_budget();
    let seeds = fuzz::nm_seeds();
    assert!(seeds.len() >= 60, "seed corpus too small: {}", seeds.len());
    for r in regressions_nm() {
        fuzz::nm_source(r.as_bytes());
    }
    let texts: Vec<String> = seeds.iter().map(|(_, b)| String::from_utf8_lossy(b).into_owned()).collect();
    let n = cases(12_000);
    drive(
        "nm_source",
        n,
        seed(),
        |m, k| match k % 10 {
            0 => m.random_bytes(200),
            1 | 2 => m.bytes(texts[k % texts.len()].as_bytes(), texts[(k / 7) % texts.len()].as_bytes()),
            _ => m.text(&texts[k % texts.len()]).into_bytes(),
        },
        fuzz::nm_source,
    );
}

#[test]
fn program_bin_decoder_survives_mutated_files() {
    let mut seeds = fuzz::at_most(fuzz::program_seeds(), 32 << 10);
    seeds.extend(fuzz::generated_program_seeds(8, 5));
    eprintln!("program_bin seeds: {:?}", seeds.iter().map(|(n, b)| (n, b.len())).collect::<Vec<_>>());
    assert!(seeds.len() >= 10, "only {} programs compiled as seeds", seeds.len());
    let n = cases(12_000);
    drive(
        "program_bin",
        n,
        seed() ^ 1,
        |m, k| {
            let (_, bin) = &seeds[k % seeds.len()];
            // Mode byte: odd cases reseal the CRCs (the mutation reaches the section parsers and
            // Program::validate); every fourth also loads and emulates what decodes.
            let mode = (k % 4) as u8 | ((k as u8) & 0xf0);
            let mut v = vec![mode];
            if k % 50 == 0 {
                v.extend(m.random_bytes(300));
            } else {
                v.extend(m.bytes(bin, &seeds[(k / 3) % seeds.len()].1));
            }
            v
        },
        fuzz::program_bin,
    );
    // The unmutated seeds decode, round-trip and emulate.
    for (name, bin) in &seeds {
        let p = nm_isa::binary::decode(bin).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(nm_isa::binary::encode(&p) == *bin, "{name}: round trip");
    }
}

#[test]
fn checkpoint_loader_survives_mutated_files() {
    let seeds = fuzz::at_most(fuzz::checkpoint_seeds(), 64 << 10);
    eprintln!("checkpoint seeds: {:?}", seeds.iter().map(|(n, b)| (n, b.len())).collect::<Vec<_>>());
    assert!(seeds.len() >= 3, "only {} checkpoints as seeds", seeds.len());
    let n = cases(10_000);
    let t0 = Instant::now();
    drive(
        "checkpoint",
        n,
        seed() ^ 2,
        |m, k| {
            let (_, ck) = &seeds[k % seeds.len()];
            match k % 4 {
                // Byte mutations, CRC left as is: must be refused as damaged.
                0 => {
                    let mut v = vec![0u8];
                    v.extend(m.bytes(ck, &[]));
                    v
                }
                // Byte mutations with length and CRC resealed: reach the JSON parser.
                1 => {
                    let mut v = vec![1u8];
                    v.extend(m.bytes(ck, &seeds[(k / 3) % seeds.len()].1));
                    v
                }
                // Structure-aware: a number or an array length of the payload changed.
                _ => {
                    let mut v = vec![3u8];
                    v.extend(m.checkpoint(ck));
                    v
                }
            }
        },
        fuzz::checkpoint_bytes,
    );
    for (name, ck) in &seeds {
        nm_emulator::checkpoint::from_bytes(ck, name, Some(1)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    eprintln!("checkpoint total {:.2} s", t0.elapsed().as_secs_f64());
}

#[test]
fn generated_programs_compile_emulate_and_resume_identically() {
    small_file_budget();
    let n = cases(400).min(400);
    let mut compiled = 0usize;
    let mut m = Mutator::new(seed() ^ 3);
    let t0 = Instant::now();
    for k in 0..n {
        let input = m.random_bytes(96);
        let text = fuzz::generate_program(&input);
        let checked = nm_compiler::driver::check_source("gen.nm", &text, None);
        if checked.model.is_some() && !checked.diagnostics.has_errors() {
            compiled += 1;
        }
        if std::panic::catch_unwind(|| fuzz::compile_emulate(&input)).is_err() {
            panic!("compile_emulate: case {k} of seed {} failed on:\n{text}", seed() ^ 3);
        }
    }
    eprintln!("compile_emulate: {n} programs, {compiled} checked, in {:.2} s", t0.elapsed().as_secs_f64());
    // The generator must mostly write valid programs, or this target tests only diagnostics.
    assert!(compiled * 2 >= n, "only {compiled} of {n} generated programs check");
}

/// Write the seed corpus for `cargo fuzz` into `fuzz/corpus/<target>/` (run by hand, see
/// docs/testing.md).
#[test]
#[ignore = "a tool, not a check: writes the cargo-fuzz seed corpus into fuzz/corpus (docs/testing.md)"]
fn export_fuzz_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let write = |target: &str, items: Vec<(String, Vec<u8>)>, mode: Option<u8>| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (k, (name, bytes)) in items.into_iter().enumerate() {
            let mut v = mode.map(|m| vec![m]).unwrap_or_default();
            v.extend(bytes);
            let file = format!("seed{k:03}_{}", name.replace('/', "_"));
            std::fs::write(dir.join(file), v).expect("write seed");
        }
    };
    write("nm_source", fuzz::nm_seeds(), None);
    let mut bins = fuzz::program_seeds();
    bins.extend(fuzz::generated_program_seeds(8, 5));
    write("program_bin", bins, Some(3));
    write("checkpoint", fuzz::checkpoint_seeds(), Some(3));
    let mut m = Mutator::new(1);
    write("compile_emulate", (0..32).map(|k| (format!("gen{k}"), m.random_bytes(96))).collect(), None);
}

/// Replay a saved input (`NM_FUZZ_REPLAY=path NM_FUZZ_TARGET=program_bin`) and time it.
#[test]
#[ignore = "a tool, not a check: replays one saved input named by NM_FUZZ_REPLAY (docs/testing.md)"]
fn replay() {
    let (Some(path), Ok(target)) = (std::env::var_os("NM_FUZZ_REPLAY"), std::env::var("NM_FUZZ_TARGET")) else {
        eprintln!("set NM_FUZZ_REPLAY=<absolute path> and NM_FUZZ_TARGET=<target>");
        return;
    };
    let data = std::fs::read(path).expect("read the input");
    let body: fn(&[u8]) = match target.as_str() {
        "nm_source" => fuzz::nm_source,
        "program_bin" => fuzz::program_bin,
        "checkpoint" => fuzz::checkpoint_bytes,
        _ => fuzz::compile_emulate,
    };
    if target == "program_bin" {
        let mut b = data[1..].to_vec();
        if data[0] & 1 == 1 {
            fuzz::reseal_program_bin(&mut b);
        }
        if let Ok(p) = nm_isa::binary::decode(&b) {
            eprintln!(
                "mode {} chip {} cores {}/{} neurons {} synapses {} steps {} inputs {:?}",
                data[0],
                p.chip.name,
                p.cores.len(),
                p.chip.total_cores(),
                p.neuron_count(),
                p.synapse_count(),
                p.meta.steps,
                p.inputs.iter().map(|i| (i.channels, i.inject_core.0)).collect::<Vec<_>>()
            );
        }
    }
    let t = Instant::now();
    body(&data);
    eprintln!("{target}: {:.3} s", t.elapsed().as_secs_f64());
}

/// Saved inputs of `cargo fuzz` findings (`tests/tests/fuzz_regressions/<target>-<what>`): each
/// runs through its body without a panic and quickly.
#[test]
fn saved_fuzz_findings_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("regressions folder").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(e.path()).expect("read");
        let body: fn(&[u8]) = match name.split('-').next() {
            Some("nm_source") => fuzz::nm_source,
            Some("program_bin") => fuzz::program_bin,
            Some("checkpoint") => fuzz::checkpoint_bytes,
            Some("compile_emulate") => fuzz::compile_emulate,
            _ => panic!("{name}: unknown target"),
        };
        let t = Instant::now();
        body(&data);
        let dt = t.elapsed().as_secs_f64();
        assert!(dt < 2.0, "{name} took {dt:.2} s");
        n += 1;
    }
    assert!(n >= 1, "no saved findings in {}", dir.display());
}
