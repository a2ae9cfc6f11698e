//! Paper 2 on the emulated chip: `programs/contrastive.nm` (temporally local contrastive
//! learning of a 6-unit Boltzmann machine) compiled and run on the default profile, ideal and
//! with 10 % per-synapse learning-rate mismatch, beside the float reference of the same seeds;
//! the sampler check on fixed weights; the toolchain's precision diagnostic for directly written
//! 8-bit weights; and the naive synchronous Gibbs negative control (τ_ref = 1, offset 0).

use nm_emulator::plot::{lines_svg, Curve, Scale};
use nm_tests::chip::{
    compile_with_report, config, diagnostic_codes, program_text, run, series, weight_scale, with_const, with_target,
    write_figure,
};
use nm_tests::reference::contrastive::{self, target, ClampMode, Config, PhaseMode};
use nm_tests::reference::{kl_divergence, median, normalise, Bm};
use std::collections::BTreeMap;

const STEPS: u64 = 2_000_000;
const N: usize = 6;
/// The program's target line with learning-rate mismatch only (the criterion's mismatch).
const LR_MISMATCH: &str =
    "target default { weight_bits = 8; accumulator_bits = 16; mismatch = 0%; mismatch_learning_rate = 10%; chip_seed = 1 }";
const DEFAULT: &str = "target default { weight_bits = 8; accumulator_bits = 16 }";

/// A float matrix literal of the `.nm` language.
fn matrix(rows: &[Vec<f64>]) -> String {
    let r: Vec<String> = rows
        .iter()
        .map(|row| format!("[{}]", row.iter().map(|v| format!("{v:.9}")).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("[{}]", r.join(", "))
}

fn rows_of(bm: &Bm) -> Vec<Vec<f64>> {
    (0..bm.n).map(|i| bm.w[i * bm.n..(i + 1) * bm.n].to_vec()).collect()
}

/// `programs/contrastive.nm` for reference seed `seed`: the clamped rows are exact samples of the
/// reference's target of that seed, the phase schedule is `mode`, `b` and `τ` as given.
fn program(seed: u64, tau: u32, b: f64, mode: PhaseMode, target_line: &str) -> String {
    let t = target(N, seed);
    let mut text = with_target(&program_text("contrastive.nm"), target_line);
    text = with_const(&text, "b", &format!("{b}"));
    text = with_const(&text, "tau", &format!("{tau} steps"));
    let generated = "boltzmann(units = 6, target_seed = 11, n = 40000, seed = 12)";
    assert!(text.contains(generated), "contrastive.nm: the data generator changed");
    text = text.replace(
        generated,
        &format!("boltzmann(w = {}, b = [{}], n = 40000, seed = {})", matrix(&rows_of(&t)), join(&t.b), 1000 + seed),
    );
    let sig = "signal phase = random(p = b, len = 5 * tau, one = 1, zero = 0, seed = 7)";
    assert!(text.contains(sig), "contrastive.nm: the phase signal changed");
    let new_sig = match mode {
        PhaseMode::Fixed => sig.to_string(),
        PhaseMode::Geometric => "signal phase = random(p = b, mean_len = 5 * tau, one = 1, zero = 0, seed = 7)".into(),
        PhaseMode::Alternating => "signal phase = cycle(period = 5 * tau, values = [1, 0])".into(),
    };
    text.replace(sig, &new_sig)
}

fn join(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.9}")).collect::<Vec<_>>().join(", ")
}

/// What a chip run measured, from its weight recordings.
struct ChipRun {
    kl_trace: Vec<(u64, f64)>,
    median_kl_last_third: f64,
    model: Bm,
}

/// The learned model of every sample of the `recurrent` and `bias` weight recordings.
fn models(emu: &nm_emulator::Emulator, report: &nm_compiler::report::Report) -> Vec<(u64, Bm)> {
    let p = emu.program();
    assert_eq!(p.cores.len(), 1, "the 6-unit machine fits one core");
    let core = &p.cores[0];
    // (pre, post) of every recurrent synapse, in the recording's order (core synapse order).
    let rec_proj = p.symbols.projections.iter().position(|q| q.name == "recurrent").unwrap();
    let mut pairs = vec![];
    for (a, ax) in core.axons.iter().enumerate() {
        for si in ax.first..ax.first + ax.count {
            let s = core.synapses[si as usize];
            if core.groups[usize::from(s.group)].proj.index() == rec_proj {
                let e =
                    core.axon_map.iter().find(|e| (e.axon_base..e.axon_base + e.count).contains(&(a as u32))).unwrap();
                let pre = (e.key_base + (a as u32 - e.axon_base) - core.key_base) as usize;
                pairs.push((pre, s.target as usize));
            }
        }
    }
    // The quantizer's scale is per unit of the pre payload: the `one` input sends 1.0 as `raw_one`.
    let raw_one = p
        .inputs
        .iter()
        .find(|i| i.name == "one")
        .and_then(|i| match &i.kind {
            nm_isa::program::InputKind::Patterns { rows, .. } => rows.first().and_then(|r| r.first()).copied(),
            _ => None,
        })
        .expect("contrastive.nm has the always-on input `one`");
    let (ws, bs) = (weight_scale(report, "recurrent"), weight_scale(report, "bias") / f64::from(raw_one));
    let rw = series(emu, "recurrent");
    let rb = series(emu, "bias");
    assert_eq!(rw.width, pairs.len());
    rw.steps
        .iter()
        .enumerate()
        .map(|(k, &step)| {
            let mut m = Bm::zeros(N);
            for (c, &(j, i)) in pairs.iter().enumerate() {
                m.w[i * N + j] = f64::from(rw.data[k * rw.width + c]) / ws;
            }
            for i in 0..N {
                m.b[i] = f64::from(rb.data[k * rb.width + i]) / bs;
            }
            (step, m)
        })
        .collect()
}

fn chip_run(text: &str, seed: u64, ideal: bool) -> ChipRun {
    let (prog, report) = compile_with_report("contrastive.nm", text);
    let emu = run(&prog, config(1, ideal, Some(seed)), Some(STEPS));
    let p = target(N, seed).distribution();
    let mut ms = models(&emu, &report);
    let kl_trace: Vec<(u64, f64)> = ms.iter().map(|(s, m)| (*s, kl_divergence(&p, &m.distribution()))).collect();
    let third = STEPS - STEPS / 3;
    let last: Vec<f64> = kl_trace.iter().filter(|(s, _)| *s > third).map(|&(_, k)| k).collect();
    let model = ms.pop().expect("weights recorded").1;
    ChipRun { median_kl_last_third: median(&last), kl_trace, model }
}

/// The float reference in its chip-faithful form (pre state one step late, rows held τ steps).
fn reference(tau: u32, b: f64, mode: PhaseMode, seed: u64) -> contrastive::Outcome {
    let mut cfg = Config::paper(tau, b, mode, STEPS);
    cfg.pre_lag = true;
    cfg.clamp_mode = ClampMode::Every(tau);
    contrastive::run(&cfg, seed)
}

/// One experiment configuration.
#[derive(Clone, Copy, Debug)]
struct Case {
    tau: u32,
    b: f64,
    mode: PhaseMode,
}

impl Case {
    fn bound(self) -> f64 {
        match self.mode {
            PhaseMode::Fixed => 0.1,
            PhaseMode::Geometric => 0.2,
            PhaseMode::Alternating => 0.05,
        }
    }
}

/// What the float reference, the ideal chip and (optionally) the mismatch chip measured for one
/// case and seed.
struct Measured {
    case: Case,
    seed: u64,
    float: contrastive::Outcome,
    ideal: ChipRun,
    mismatch: Option<ChipRun>,
}

/// Reference, ideal chip and (with `mismatch`) the learning-rate-mismatch chip for every case
/// and seed 0..3. Chip seed 1 for the mismatch pattern; the run seed is the reference seed.
fn measure(cases: &[Case], mismatch: impl Fn(Case) -> bool) -> Vec<Measured> {
    #[derive(Clone, Copy)]
    enum Job {
        Float(Case, u64),
        Chip(Case, u64, bool),
    }
    enum Out {
        Float(Box<contrastive::Outcome>),
        Chip(ChipRun),
    }
    let mut jobs = vec![];
    for &c in cases {
        for seed in 0..3 {
            jobs.push(Job::Float(c, seed));
            jobs.push(Job::Chip(c, seed, false));
            if mismatch(c) {
                jobs.push(Job::Chip(c, seed, true));
            }
        }
    }
    // Longest first keeps both threads busy to the end.
    jobs.reverse();
    let outs = nm_tests::chip::parallel(jobs.clone(), |j| match j {
        Job::Float(c, seed) => Out::Float(Box::new(reference(c.tau, c.b, c.mode, seed))),
        Job::Chip(c, seed, mm) => {
            let line = if mm { LR_MISMATCH } else { DEFAULT };
            Out::Chip(chip_run(&program(seed, c.tau, c.b, c.mode, line), seed, !mm))
        }
    });
    let mut by: BTreeMap<(usize, u64), Slots> = BTreeMap::new();
    for (j, o) in jobs.into_iter().zip(outs) {
        let key = |c: Case, seed: u64| {
            (cases.iter().position(|x| x.tau == c.tau && x.b == c.b && x.mode == c.mode).unwrap(), seed)
        };
        match (j, o) {
            (Job::Float(c, seed), Out::Float(f)) => by.entry(key(c, seed)).or_default().0 = Some(*f),
            (Job::Chip(c, seed, false), Out::Chip(r)) => by.entry(key(c, seed)).or_default().1 = Some(r),
            (Job::Chip(c, seed, true), Out::Chip(r)) => by.entry(key(c, seed)).or_default().2 = Some(r),
            _ => unreachable!("job and outcome kinds match"),
        }
    }
    by.into_iter()
        .map(|((ci, seed), (f, i, m))| Measured {
            case: cases[ci],
            seed,
            float: f.unwrap(),
            ideal: i.unwrap(),
            mismatch: m,
        })
        .collect()
}

/// Float outcome, ideal chip and mismatch chip of one case and seed, as they come back.
type Slots = (Option<contrastive::Outcome>, Option<ChipRun>, Option<ChipRun>);

/// Assert the criteria of learning-rules.md §2 on every measurement and print the numbers.
fn check(ms: &[Measured]) {
    let mut failures = vec![];
    for m in ms {
        let c = m.case;
        let mm = m.mismatch.as_ref().map(|r| r.median_kl_last_third);
        eprintln!(
            "τ={} {:?} b={} seed {}: start KL {:.3}; median KL over the last third: float {:.4}, ideal chip {:.4}, lr-mismatch chip {} (bound {})",
            c.tau,
            c.mode,
            c.b,
            m.seed,
            m.float.kl_trace[0].1,
            m.float.median_kl_last_third,
            m.ideal.median_kl_last_third,
            mm.map_or("-".into(), |k| format!("{k:.4} (ratio {:.2})", k / m.ideal.median_kl_last_third)),
            c.bound()
        );
        let tag = format!("τ={} {:?} b={} seed {}", c.tau, c.mode, c.b, m.seed);
        if m.float.median_kl_last_third > c.bound() {
            failures.push(format!("{tag}: float {}", m.float.median_kl_last_third));
        }
        if m.ideal.median_kl_last_third > c.bound() {
            failures.push(format!("{tag}: ideal chip {}", m.ideal.median_kl_last_third));
        }
        if let Some(k) = mm {
            if k > c.bound() {
                failures.push(format!("{tag}: mismatch chip {k}"));
            }
            if k > 1.5 * m.ideal.median_kl_last_third {
                failures.push(format!("{tag}: mismatch chip {k} > 1.5 x ideal {}", m.ideal.median_kl_last_third));
            }
        }
    }
    assert!(failures.is_empty(), "criteria not met: {failures:#?}");
}

fn figure(name: &str, title: &str, ms: &[Measured]) {
    let Some(m) = ms.iter().find(|m| m.seed == 0) else { return };
    let pts = |t: &[(u64, f64)]| t.iter().map(|&(s, k)| (s as f64, k)).collect::<Vec<_>>();
    let mut curves = vec![
        Curve::line("float reference", "#444", pts(&m.float.kl_trace)),
        Curve::line("ideal chip", "steelblue", pts(&m.ideal.kl_trace)),
    ];
    if let Some(r) = &m.mismatch {
        curves.push(Curve::line("chip, 10 % learning-rate mismatch", "#c00", pts(&r.kl_trace)));
    }
    let svg = lines_svg(title, "step", "exact KL(target ‖ model)", Scale::Log, &curves);
    write_figure(name, &svg);
}

#[test]
fn fixed_phases_learn_on_the_chip_with_and_without_mismatch() {
    let cases = [Case { tau: 10, b: 0.3, mode: PhaseMode::Fixed }, Case { tau: 10, b: 0.5, mode: PhaseMode::Fixed }];
    let ms = measure(&cases, |c| c.b == 0.5);
    figure(
        "contrastive_kl_fixed",
        "Paper 2: fixed phases K = 5τ, τ = 10, b = 0.5, seed 0",
        &ms.iter().filter(|m| m.case.b == 0.5).map(clone_measured).collect::<Vec<_>>(),
    );
    check(&ms);
}

#[test]
fn geometric_and_alternating_phases_learn_on_the_chip() {
    let cases =
        [Case { tau: 10, b: 0.3, mode: PhaseMode::Geometric }, Case { tau: 10, b: 0.5, mode: PhaseMode::Alternating }];
    let ms = measure(&cases, |_| false);
    let (g, a): (Vec<_>, Vec<_>) = ms.iter().map(clone_measured).partition(|m| m.case.mode == PhaseMode::Geometric);
    figure("contrastive_kl_geometric", "Paper 2: geometric phases (mean 5τ), τ = 10, b = 0.3, seed 0", &g);
    figure("contrastive_kl_alternating", "Paper 2: alternating clamp/free every 5τ, τ = 10, seed 0", &a);
    check(&ms);
}

/// The full grid of the criteria: τ ∈ {10, 20}, b ∈ {0.3, 0.5}, all three schedules, the
/// learning-rate-mismatch chip everywhere. About 40 chip runs of 2M steps:
/// `cargo test --release -p nm-tests --test chip_contrastive -- --ignored full_grid`.
#[test]
#[ignore = "long, beyond the CI budget: ~40 chip runs of 2M steps (~2.5 min on 2 cores): cargo test --release -p nm-tests --test chip_contrastive full_grid -- --ignored"]
fn full_grid() {
    let mut cases = vec![];
    for tau in [10, 20] {
        for b in [0.3, 0.5] {
            cases.push(Case { tau, b, mode: PhaseMode::Fixed });
            cases.push(Case { tau, b, mode: PhaseMode::Geometric });
        }
        cases.push(Case { tau, b: 0.5, mode: PhaseMode::Alternating });
    }
    let ms = measure(&cases, |_| true);
    check(&ms);
}

fn clone_measured(m: &Measured) -> Measured {
    let copy = |r: &ChipRun| ChipRun {
        kl_trace: r.kl_trace.clone(),
        median_kl_last_third: r.median_kl_last_third,
        model: r.model.clone(),
    };
    Measured {
        case: m.case,
        seed: m.seed,
        float: m.float.clone(),
        ideal: copy(&m.ideal),
        mismatch: m.mismatch.as_ref().map(copy),
    }
}

/// The program with 8-bit weights written directly (`accumulator_bits = weight_bits + 2`: no
/// fraction bits below the weight LSB): every update (≈ 0.02 LSB) rounds away. The toolchain
/// must say so — a warning with stochastic rounding, an error with round-to-nearest.
#[test]
fn toolchain_reports_that_directly_written_8_bit_weights_do_not_learn() {
    let direct = "target default { weight_bits = 8; accumulator_bits = 10 }";
    let text = with_target(&program_text("contrastive.nm"), direct);
    let codes = diagnostic_codes("contrastive.nm", &text);
    eprintln!("direct write, round stochastic: {codes:?}");
    assert!(codes.iter().any(|c| c == "W0504"), "no precision warning: {codes:?}");
    let nearest = text.replace("  round stochastic\n", "");
    assert_ne!(nearest, text);
    let codes = diagnostic_codes("contrastive.nm", &nearest);
    eprintln!("direct write, round nearest: {codes:?}");
    assert!(codes.iter().any(|c| c == "E0504"), "no precision error: {codes:?}");
    // With the 16-bit accumulator the program as bundled checks without a precision diagnostic.
    let codes = diagnostic_codes("contrastive.nm", &program_text("contrastive.nm"));
    assert!(!codes.iter().any(|c| c.ends_with("0504")), "bundled program: {codes:?}");
}

/// The program with learning off and the weights fixed to a target: the sampler alone.
fn sampler_program(bm: &Bm, tau: u32, offset: Option<f64>) -> String {
    let mut text = with_const(&program_text("contrastive.nm"), "tau", &format!("{tau} steps"));
    let sig = "signal phase = random(p = b, len = 5 * tau, one = 1, zero = 0, seed = 7)";
    assert!(text.contains(sig));
    text = text.replace(sig, "signal phase = constant(0)");
    let pop = "pop z = binary(n = 6, tau_ref = tau)";
    assert!(text.contains(pop));
    if let Some(o) = offset {
        text = text.replace(pop, &format!("pop z = binary(n = 6, tau_ref = tau, offset = {o})"));
    }
    // weights(pre → post): row j is pre j; the target is symmetric.
    let rec = "connect recurrent: z -> z all_to_all(self = false) weight = 0 plastic contrast";
    let bias = "connect bias: one -> z weight = 0 plastic contrast_bias";
    assert!(text.contains(rec) && text.contains(bias));
    text = text
        .replace(rec, &format!("connect recurrent: z -> z all_to_all(self = false) weight = {}", matrix(&rows_of(bm))));
    text = text.replace(bias, &format!("connect bias: one -> z weight = [[{}]]", join(&bm.b)));
    let i = text.find("record ").unwrap();
    text.truncate(i);
    text + "record spikes(z)\n"
}

/// Visited states (bit sets) from a spike recording: unit `i` is on at step `t` if it spiked
/// in `(t − τ, t]`.
fn visited(spikes: &nm_emulator::record::SpikeRecord, tau: u64, burn_in: u64, steps: u64) -> Vec<u64> {
    let mut last = [None::<u64>; N];
    let mut counts = vec![0u64; 1 << N];
    let mut k = 0;
    for t in 0..steps {
        while k < spikes.times.len() && spikes.times[k] as u64 == t {
            last[spikes.ids[k] as usize] = Some(t);
            k += 1;
        }
        if t >= burn_in {
            let s = (0..N).fold(0usize, |s, i| s | (usize::from(last[i].is_some_and(|l| t < l + tau)) << i));
            counts[s] += 1;
        }
    }
    counts
}

fn chip_sampler_kl(bm: &Bm, tau: u32, offset: Option<f64>, seed: u64, samples: u64) -> f64 {
    let text = sampler_program(bm, tau, offset);
    let (prog, _) = compile_with_report("contrastive_sampler.nm", &text);
    let burn_in = 20 * u64::from(tau);
    let emu = run(&prog, config(1, true, Some(seed)), Some(burn_in + samples));
    let rec = &emu.recordings().spikes[0];
    kl_divergence(&bm.distribution(), &normalise(&visited(rec, u64::from(tau), burn_in, burn_in + samples)))
}

/// Sampler check of §2: on the fixed W, b of the targets of seeds 7 and 8, 2.5M samples of the
/// chip's sampling units (ideal chip, 8-bit weights) have KL ≤ 0.01 to the exact distribution
/// at τ = 10; the naive synchronous Gibbs sampler (τ_ref = 1, offset 0: every unit redraws
/// from σ(u) every step) is the negative control.
#[test]
fn sampler_check_on_the_chip() {
    let jobs: Vec<(u64, bool)> = vec![(7, false), (8, false), (7, true)];
    let outs = nm_tests::chip::parallel(jobs.clone(), |(seed, naive)| {
        let bm = target(N, seed);
        if naive {
            chip_sampler_kl(&bm, 1, Some(0.0), seed, 2_500_000)
        } else {
            chip_sampler_kl(&bm, 10, None, seed, 2_500_000)
        }
    });
    for ((seed, naive), kl) in jobs.iter().zip(&outs) {
        let f = if *naive {
            contrastive::sampler_kl(&target(N, *seed), contrastive::Sampler::NaiveGibbs, 10, 2_500_000, *seed)
        } else {
            contrastive::sampler_kl(&target(N, *seed), contrastive::Sampler::Neural, 10, 2_500_000, *seed)
        };
        eprintln!(
            "sampler, target seed {seed}, {}: float {f:.5}, ideal chip {kl:.5}",
            if *naive { "naive synchronous Gibbs" } else { "neural sampling τ = 10" }
        );
    }
    assert!(outs[0] <= 0.01 && outs[1] <= 0.01, "neural sampling τ = 10: {:?}", &outs[..2]);
    assert!(outs[2] >= 0.03 && outs[2] >= 5.0 * outs[0], "naive Gibbs should be far worse: {} vs {}", outs[2], outs[0]);
}

/// KL(target ‖ states the chip's units visited in the free phases of the last third), from the
/// spike and phase-signal recordings. A state is counted once the free phase is older than τ
/// steps (a clamp-0 silences a unit without a spike, so earlier states cannot be read from
/// spikes alone). Unlike the exact KL of the recorded weights, this sees what the mismatched
/// chip really samples (threshold, bias and weight-gain mismatch included).
fn free_phase_kl(text: &str, seed: u64, chip_seed: u64, ideal: bool, tau: u64) -> f64 {
    let i = text.find("\nrecord ").expect("record line");
    let text = format!("{}\nrecord signal(phase), spikes(z)\n", &text[..i]);
    let (prog, _) = compile_with_report("contrastive.nm", &text);
    let emu = run(&prog, config(chip_seed, ideal, Some(seed)), Some(STEPS));
    let phase = series(&emu, "phase");
    assert_eq!(phase.steps.len() as u64, STEPS, "phase recorded every step");
    let spikes = &emu.recordings().spikes[0];
    let third = STEPS - STEPS / 3;
    let mut last = [None::<u64>; N];
    let mut counts = vec![0u64; 1 << N];
    let (mut k, mut free_for) = (0, 0u64);
    for (t, &ph) in phase.steps.iter().zip(&phase.data) {
        while k < spikes.times.len() && spikes.times[k] as u64 <= *t {
            last[spikes.ids[k] as usize] = Some(spikes.times[k] as u64);
            k += 1;
        }
        free_for = if ph == 0 { free_for + 1 } else { 0 };
        if *t >= third && free_for > tau {
            let s = (0..N).fold(0usize, |s, i| s | (usize::from(last[i].is_some_and(|l| *t < l + tau)) << i));
            counts[s] += 1;
        }
    }
    contrastive::smoothed_kl(&target(N, seed).distribution(), &counts)
}

/// The outcome class over hardware variability: after η·steps = 160 of fixed-phase learning
/// (τ = 10, b = 0.5) the chip's own free-phase samples have KL ≤ 0.1 to the target (start: the
/// uniform distribution, KL 0.36–0.87 for these targets).
fn learns(profile: &str, weight_bits: u8, spread_pct: u32, chip_seed: u64, seed: u64) -> Result<(), String> {
    let line =
        format!("target {profile} {{ weight_bits = {weight_bits}; accumulator_bits = 16; mismatch = {spread_pct}% }}");
    let text = program(seed, 10, 0.5, PhaseMode::Fixed, &line);
    let kl = free_phase_kl(&text, seed, chip_seed, spread_pct == 0, 10);
    eprintln!(
        "contrastive property: {profile}, {weight_bits}-bit, mismatch {spread_pct} %, chip seed {chip_seed}, target/run seed {seed}: free-phase sample KL {kl:.4}"
    );
    if kl > 0.1 {
        return Err(format!("free-phase sample KL {kl}"));
    }
    Ok(())
}

proptest::proptest! {
    // Two cases in CI (one 2M-step run each, ~5 s of CPU); the ignored sweep below runs more.
    // The case generator has a fixed seed (22): the same cases every run, each printed.
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 2,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(22),
        ..proptest::prelude::ProptestConfig::default()
    })]
    #[test]
    fn contrastive_learning_holds_over_hardware_variability(
        profile in proptest::prop_oneof![proptest::strategy::Just("default"), proptest::strategy::Just("small")],
        bits in 6u8..=8,
        spread in 0u32..=10,
        chip_seed in 0u64..1000,
        seed in 0u64..3,
    ) {
        learns(profile, bits, spread, chip_seed, seed).map_err(proptest::test_runner::TestCaseError::fail)?;
    }
}

/// `cargo test --release -p nm-tests --test chip_contrastive -- --ignored sweep` (24 runs).
#[test]
#[ignore = "sweep, beyond the CI budget (the 4-case property runs in CI): 24 chip runs of 2M steps: cargo test --release -p nm-tests --test chip_contrastive contrastive_learning_hardware_sweep -- --ignored"]
fn contrastive_learning_hardware_sweep() {
    let mut jobs = vec![];
    for profile in ["default", "small"] {
        for bits in [6u8, 8] {
            for spread in [0u32, 5, 10] {
                for seed in [0u64, 1] {
                    jobs.push((profile, bits, spread, 7 + seed, seed));
                }
            }
        }
    }
    let errs: Vec<String> = nm_tests::chip::parallel(jobs, |(p, b, s, c, seed)| learns(p, b, s, c, seed).err())
        .into_iter()
        .flatten()
        .collect();
    assert!(errs.is_empty(), "{errs:#?}");
}
