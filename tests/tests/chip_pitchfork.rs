//! Paper 5 on the chip: the attractor count of the two-neuron plastic rate network
//! (`programs/pitchfork.nm`) against the plasticity gain k, on the float reference, the ideal
//! 8-bit chip and the chip with mismatch, from the same 100 initial conditions (seed
//! [`INIT_SEED`]); criteria of `learning-rules.md` section 5. Plus the property "one attractor
//! for k ≥ −6" over hardware variability.
//!
//! Larger property sweep (not in the default suite, ~1 min on 2 cores):
//! `cargo test --release -p nm-tests --test chip_pitchfork -- --ignored`

use nm_emulator::plot::{lines_svg, Curve, Scale};
use nm_tests::chip;
use nm_tests::pitchfork_chip::{self as pc, ChipK, Hw};
use nm_tests::reference::pitchfork as pf;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Seed of the initial conditions (stream 0), shared by the float reference and the chip.
const INIT_SEED: u64 = 1;
/// Chip seed of the mismatched chip (the program's default `chip_seed`).
const CHIP_SEED: u64 = 1;
const K_STAR: f64 = -6.54;

fn count_curve(label: &str, color: &str, pts: Vec<(f64, f64)>) -> Curve {
    Curve::line(label, color, pts)
}

fn print_sweep(name: &str, res: &[ChipK]) {
    for r in res {
        let sizes: Vec<usize> = r.states.iter().map(|s| s.1).collect();
        let reps: Vec<String> =
            r.states.iter().map(|(s, _)| format!("({:.3}, {:.3}, {:.3})", s[0], s[1], s[2])).collect();
        let asym = r.ends.iter().map(|e| e.w_asym).fold(0.0f64, f64::max);
        let steps = r.ends.iter().map(|e| e.steps).max().unwrap_or(0);
        eprintln!(
            "{name}: k = {:5.1}: {} state(s) {sizes:?} {}, unconverged {}, max |w01 - w10| {asym:.4}, max steps {steps}",
            r.k,
            r.states.len(),
            reps.join(" "),
            r.unconverged
        );
    }
}

/// Largest distance (max-norm) between a chip end state and the float end state of the same
/// initial condition, over the runs at `k`.
fn max_dev_from_float(r: &ChipK, float_ends: &[[f64; 3]]) -> f64 {
    r.ends
        .iter()
        .zip(float_ends)
        .map(|(e, f)| (0..3).fold(0.0f64, |m, i| m.max((e.state[i] - f[i]).abs())))
        .fold(0.0, f64::max)
}

#[test]
fn pitchfork_float_ideal_chip_and_mismatch_chip() {
    let t0 = std::time::Instant::now();
    let cfg = pf::Config::paper();
    let ks = pf::k_values();
    let inits = pf::initial_conditions(&cfg, INIT_SEED);
    eprintln!("initial conditions: {} from seed {INIT_SEED} (stream 0); chip seed {CHIP_SEED}", inits.len());

    // Float reference, same initial conditions; keep every run's end state for the comparison.
    let float: Vec<pf::KResult> = pf::sweep(&cfg, INIT_SEED);
    let float_ends: Vec<Vec<[f64; 3]>> =
        ks.iter().map(|&k| inits.iter().map(|&s0| pf::settle(s0, k, &cfg).0).collect()).collect();
    for r in &float {
        assert_eq!(r.unconverged, 0, "float k = {}", r.k);
        if r.k >= -6.0 {
            assert_eq!(r.states.len(), 1, "float k = {}", r.k);
        }
        if r.k <= -7.0 {
            assert_eq!(r.states.len(), 2, "float k = {}", r.k);
        }
    }
    let float_onset = pf::onset(&float).expect("float: a pitchfork in the sweep");
    assert!((float_onset - K_STAR).abs() <= 0.5, "float onset {float_onset}");

    let threads = pc::threads();
    let ideal = pc::sweep(&Hw::ideal(), &ks, &inits, cfg.tol, threads);
    print_sweep("ideal", &ideal);
    let t_ideal = t0.elapsed();
    let mm10 = pc::sweep(&Hw::mismatch(10.0, CHIP_SEED), &ks, &inits, cfg.tol, threads);
    print_sweep("mismatch 10%", &mm10);
    let mm5 = pc::sweep(&Hw::mismatch(5.0, CHIP_SEED), &ks, &inits, cfg.tol, threads);
    print_sweep("mismatch 5%", &mm5);

    // Ideal 8-bit chip: exactly 1 for k >= -6, exactly 2 for k <= -7, onset within 0.5 of k*;
    // every run converged; with one state, it is the float one (same initial condition).
    let mut agree_branch = (0usize, 0usize);
    for (a, r) in ideal.iter().enumerate() {
        if r.k >= -6.0 || r.k <= -7.0 {
            assert_eq!(r.unconverged, 0, "ideal chip k = {}: {} runs did not converge", r.k, r.unconverged);
        }
        if r.k >= -6.0 {
            assert_eq!(r.states.len(), 1, "ideal chip k = {}: {:?}", r.k, r.states);
            let dev = max_dev_from_float(r, &float_ends[a]);
            assert!(dev <= cfg.tol, "ideal chip k = {}: end state {dev:.4} from the float one", r.k);
        }
        if r.k <= -7.0 {
            assert_eq!(r.states.len(), 2, "ideal chip k = {}: {:?}", r.k, r.states);
            for (e, f) in r.ends.iter().zip(&float_ends[a]) {
                agree_branch.1 += 1;
                if (0..3).all(|i| (e.state[i] - f[i]).abs() <= cfg.tol) {
                    agree_branch.0 += 1;
                }
            }
        }
    }
    let ideal_onset = pc::onset(&ideal).expect("ideal chip: a pitchfork in the sweep");
    eprintln!(
        "ideal chip: onset {ideal_onset} (float {float_onset}, k* {K_STAR}); for k <= -7 the chip reaches the \
         float run's state in {}/{} runs",
        agree_branch.0, agree_branch.1
    );
    assert!((ideal_onset - K_STAR).abs() <= 0.5, "ideal chip onset {ideal_onset}");

    // Mismatched 8-bit chips (10 % and 5 %): 1 for k >= -6, 2 at k = -12, onset in [-12, -6].
    let mut onsets = Vec::new();
    let mut float_same_chip = Vec::new();
    for (name, spread, res) in [("10%", 10.0, &mm10), ("5%", 5.0, &mm5)] {
        // The float model of the same chip: the emulator's two input gains.
        let gains = pc::input_gains(&Hw::mismatch(spread, CHIP_SEED));
        let gcfg = pf::Config { gains, ..cfg.clone() };
        let fg = pf::sweep(&gcfg, INIT_SEED);
        let fg_onset = pf::onset(&fg);
        // Distance of each distinct chip state to the nearest float state at the same k.
        let (mut dev, mut dev_one) = (0.0f64, 0.0f64);
        let mut differ = Vec::new();
        for (a, r) in res.iter().enumerate() {
            for (c, _) in &r.states {
                let d = fg[a]
                    .states
                    .iter()
                    .map(|(f, _)| (0..3).fold(0.0f64, |m, i| m.max((c[i] - f[i]).abs())))
                    .fold(f64::INFINITY, f64::min);
                dev = dev.max(d);
                if r.k >= -6.0 {
                    dev_one = dev_one.max(d);
                }
            }
            if fg[a].states.len() != r.states.len() {
                differ.push((r.k, fg[a].states.len(), r.states.len()));
            }
        }
        eprintln!(
            "mismatch {name}: input gains (efficacy x 4096/decay_u) into neurons 0, 1 = {:.4}, {:.4}; float model \
             with these gains: onset {fg_onset:?}; state counts differ at (k, float, chip) {differ:?}; largest \
             distance of a chip state to the nearest float state {dev:.4}",
            gains[0], gains[1]
        );
        // Differential check: where the attractor is unique, the chip sits on the float model of
        // the same chip (within the distinct-state tolerance).
        assert!(dev_one <= cfg.tol, "mismatch {name}: chip state {dev_one:.4} from the same-chip float model");
        eprintln!("mismatch {name}: for k >= -6 the chip state is within {dev_one:.4} of the same-chip float state");
        float_same_chip.push((name, fg));
        for r in res.iter() {
            if r.k >= -6.0 {
                assert_eq!(r.unconverged, 0, "mismatch {name} k = {}", r.k);
                assert_eq!(r.states.len(), 1, "mismatch {name} k = {}: {:?}", r.k, r.states);
            }
        }
        let last = res.last().expect("k = -12");
        assert_eq!(last.k, -12.0);
        assert_eq!(last.states.len(), 2, "mismatch {name} k = -12: {:?}", last.states);
        let on = pc::onset(res).expect("a pitchfork");
        assert!((-12.0..=-6.0).contains(&on), "mismatch {name}: onset {on}");
        eprintln!(
            "mismatch {name} (chip seed {CHIP_SEED}): onset {on}, shift {:+} from the ideal chip",
            on - ideal_onset
        );
        onsets.push(on);
    }

    // Figures: attractor count against k; end states' x1 against k.
    let cnt = |res: &[ChipK]| res.iter().map(|r| (r.k, r.states.len() as f64)).collect::<Vec<_>>();
    let fcnt: Vec<(f64, f64)> = float.iter().map(|r| (r.k, r.states.len() as f64)).collect();
    chip::write_figure(
        "pitchfork_attractors",
        &lines_svg(
            "Paper 5: distinct end states of 100 initial conditions",
            "k",
            "end states",
            Scale::Linear,
            &[
                count_curve("float (RK4)", "black", fcnt),
                count_curve("ideal chip, 8-bit", "#1f77b4", cnt(&ideal)),
                count_curve(&format!("chip, 5 % mismatch (seed {CHIP_SEED})"), "#2ca02c", cnt(&mm5)),
                count_curve(&format!("chip, 10 % mismatch (seed {CHIP_SEED})"), "#d62728", cnt(&mm10)),
                count_curve(
                    "float with that chip's input gains",
                    "#ff9896",
                    float_same_chip[0].1.iter().map(|r| (r.k, r.states.len() as f64)).collect(),
                ),
            ],
        ),
    );
    let x1s = |res: &[ChipK]| -> Vec<(f64, f64)> {
        res.iter().flat_map(|r| r.states.iter().map(move |(s, _)| (r.k, s[0]))).collect()
    };
    let fx1: Vec<(f64, f64)> = float.iter().flat_map(|r| r.states.iter().map(move |(s, _)| (r.k, s[0]))).collect();
    chip::write_figure(
        "pitchfork_branches",
        &lines_svg(
            "Paper 5: x1 of the distinct end states",
            "k",
            "x1",
            Scale::Linear,
            &[
                Curve::dots("float (RK4)", "black", fx1),
                Curve::dots("ideal chip, 8-bit", "#1f77b4", x1s(&ideal)),
                Curve::dots(&format!("chip, 10 % mismatch (seed {CHIP_SEED})"), "#d62728", x1s(&mm10)),
            ],
        ),
    );
    eprintln!("ideal sweep {:.1?}, whole test {:.1?} ({threads} threads)", t_ideal, t0.elapsed());
}

/// A `k` where a chip has more than one end state: `(k, chip states, states of the float model
/// of the same chip)`.
type Exception = (f64, usize, usize);

/// One case of the property on the chip `target`: every run converges (asserted); returns the
/// `k` at which the runs do not all end in one state, with the count of the float model of the
/// same chip (its two input gains, [`pc::input_gains`]) beside the chip's.
fn attractor_exceptions(
    target: &str,
    chip_seed: u64,
    ks: &[f64],
    n_inits: usize,
) -> Result<Vec<Exception>, TestCaseError> {
    let cfg = pf::Config::paper();
    let inits = pf::initial_conditions(&cfg, INIT_SEED);
    let hw = Hw { target: target.to_string(), ideal: false, chip_seed };
    let mut exceptions = Vec::new();
    for r in pc::sweep(&hw, ks, &inits[..n_inits], cfg.tol, pc::threads()) {
        prop_assert_eq!(r.unconverged, 0, "{} chip seed {}: k = {} did not converge", target, chip_seed, r.k);
        if r.states.len() != 1 {
            let fcfg = pf::Config { gains: pc::input_gains(&hw), inits: n_inits, ..cfg.clone() };
            let f = pf::attractors(r.k, &fcfg, INIT_SEED);
            eprintln!(
                "exception: {target} chip seed {chip_seed}: k = {}: chip {:?}; float model of this chip (input gains \
                 {:.3}, {:.3}) {:?}",
                r.k, r.states, fcfg.gains[0], fcfg.gains[1], f.states
            );
            exceptions.push((r.k, r.states.len(), f.states.len()));
        }
    }
    Ok(exceptions)
}

/// The case the larger sweep found first (6-bit weights, 3 % mismatch): at k = -6 the ±1 LSB
/// readout jitter (0.125 per LSB) keeps 500-step means scattering by ~0.03, so a fixed drift
/// test never declared convergence; the noise-aware test settles every run, in one state.
#[test]
fn six_bit_chip_settles_at_k_minus_6() {
    let ex = attractor_exceptions(
        "target default { weight_bits = 6; mismatch = 3% }",
        9_227_969_720_297_079_777,
        &[-6.0],
        100,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(ex.is_empty(), "{ex:?}");
}

/// Former counter-example 1 of the outcome class, kept as a regression test: on this chip the
/// neuron-1 current, cleared every step, used to be drawn 2.9 σ leaky at 9 % (the leak mismatch
/// scaled the decay code itself), which amplified its input by 1.38 and gave a second attractor
/// at k = 2 in 12 of 100 runs. Leak mismatch now scales the leak rate, so a cleared current stays
/// cleared, and the chip has one attractor at k = 2 and k = 0.
#[test]
fn a_strongly_mismatched_chip_keeps_one_attractor_for_hebbian_k() {
    let ex = attractor_exceptions(
        "target default { weight_bits = 8; mismatch = 9% }",
        7_762_033_767_531_011_410,
        &[2.0, 0.0],
        100,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(ex.is_empty(), "{ex:?}");
}

/// Counter-example 2 of the outcome class: on this chip (small profile, 6-bit weights, 8 %) the
/// runs at k = -6 end in 3 distinct states, while the float model of the same chip (its two input
/// gains) has one. Kept pinned so that a change of either the chip model or the property shows up
/// here; [`why_the_six_bit_chip_has_several_end_states`] gives the reason.
#[test]
fn a_six_bit_chip_has_several_end_states_at_k_minus_6() {
    let ex = attractor_exceptions(
        "target small { weight_bits = 6; mismatch = 8% }",
        14_328_105_976_310_670_377,
        &[-6.0, -4.0],
        100,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ex, vec![(-6.0, 3, 1)]);
}

/// Why counter-example 2 has several end states: its mismatch raises both input gains by about
/// 10 % (1.106 and 1.094), which moves the bifurcation of the float model from k* = -6.54 to
/// between -5.5 and -6 (both gains 1.1: one state at -5.5, two mirror states at -6). So at
/// k = -6 this chip is past its own bifurcation. The float model of the chip still has one end
/// state there only because its 1.1 % gain imbalance makes the pitchfork imperfect: one branch
/// wins from every initial condition, the other appears at k = -7. With 8-bit weights the chip
/// behaves like that model (one state, beside the float one). With 6-bit weights the
/// quantization of the weights changes the chip's imbalance, which then no longer decides: the
/// other neuron wins in 65 runs, the float model's in 35 (the third "state" is the larger branch
/// stopped at another point). At 7 bits the same chip also splits (80 / 18 / 2 runs).
#[test]
fn why_the_six_bit_chip_has_several_end_states() {
    let cfg = pf::Config::paper();
    let (seed, target) =
        (14_328_105_976_310_670_377u64, |bits: u8| format!("target small {{ weight_bits = {bits}; mismatch = 8% }}"));
    let float =
        |k: f64, gains: [f64; 2]| pf::attractors(k, &pf::Config { gains, inits: 100, ..cfg.clone() }, INIT_SEED).states;
    // Both gains 1.1: the bifurcation lies between -5.5 and -6.
    assert_eq!(float(-5.5, [1.1, 1.1]).len(), 1);
    assert_eq!(float(-6.0, [1.1, 1.1]).len(), 2);
    // The chip's gains: one (asymmetric) state at -6, the second branch at -7.
    let hw8 = Hw { target: target(8), ideal: false, chip_seed: seed };
    let gains = pc::input_gains(&hw8);
    assert!(gains.iter().all(|g| (1.08..1.12).contains(g)) && gains[0] > gains[1], "{gains:?}");
    let f6 = float(-6.0, gains);
    assert_eq!(f6.len(), 1);
    let fs = f6[0].0;
    assert!(fs[1] - fs[0] > 0.15, "float state {fs:?}: the stronger input's neuron should not win");
    assert_eq!(float(-7.0, gains).len(), 2);
    // 8-bit weights: one state at -6, within 0.02 of the float model's.
    let inits = pf::initial_conditions(&cfg, INIT_SEED);
    let r8 = pc::sweep(&hw8, &[-6.0], &inits[..100], cfg.tol, pc::threads()).remove(0);
    assert_eq!(r8.states.len(), 1, "{:?}", r8.states);
    assert!((0..3).all(|i| (r8.states[0].0[i] - fs[i]).abs() < 0.02), "{:?} vs {fs:?}", r8.states);
    // 6-bit weights: both branches (each neuron the high one in some runs).
    let hw6 = Hw { target: target(6), ideal: false, chip_seed: seed };
    let r6 = pc::sweep(&hw6, &[-6.0], &inits[..100], cfg.tol, pc::threads()).remove(0);
    let high0: usize = r6.states.iter().filter(|(s, _)| s[0] > s[1] + 0.05).map(|x| x.1).sum();
    let high1: usize = r6.states.iter().filter(|(s, _)| s[1] > s[0] + 0.05).map(|x| x.1).sum();
    eprintln!("6-bit chip at k = -6: {:?}; neuron 0 high in {high0} runs, neuron 1 in {high1}", r6.states);
    assert!(high0 > 0 && high1 > 0 && high0 + high1 == 100, "{:?}", r6.states);
}

fn hardware() -> impl Strategy<Value = (String, u64)> {
    (prop_oneof![Just("default"), Just("small")], 6u8..=8, 0u32..=10, any::<u64>())
        .prop_map(|(p, b, m, s)| (format!("target {p} {{ weight_bits = {b}; mismatch = {m}% }}"), s))
}

/// Seed of the property test's case generator (fixed: the cases are reproducible).
const PROPTEST_SEED: u64 = 5;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(PROPTEST_SEED),
        ..ProptestConfig::default()
    })]

    /// The pitchfork has one attractor for k >= -6: chips drawn over chip seed, mismatch 0-10 %,
    /// 6-8 weight bits and both profiles (three values of k, 20 initial conditions per case).
    /// The class does not hold on every chip (see the two counter-examples above and the larger
    /// sweep, which pins them); these six cases are chips where it holds.
    #[test]
    fn one_attractor_for_k_at_least_minus_6((target, seed) in hardware(), i in 0usize..=16) {
        let k = 2.0 - 0.5 * i as f64;
        let ex = attractor_exceptions(&target, seed, &[k, -6.0, 2.0], 20)?;
        prop_assert!(ex.is_empty(), "{} chip seed {}: {:?}", target, seed, ex);
    }
}

/// The larger sweep of the property: `CHIPS` random chips (profile, weight bits 6-8, mismatch
/// 0-10 %, chip seed; drawn from generator seed 11), every k >= -6 of the grid, 100 initial
/// conditions. Asserts that every run converges and that the outcome class fails on exactly the
/// chips of [`SWEEP_EXCEPTIONS`] (docs/reproductions.md, paper 5), so that a change of the chip
/// model that breaks it on one more chip, or mends it on one, is seen; prints how many of them
/// the float model of the same chip also shows.
#[test]
#[ignore = "larger sweep (~1.5 min on 2 idle cores, ~5 min loaded): cargo test --release -p nm-tests --test chip_pitchfork -- --ignored"]
fn one_attractor_for_k_at_least_minus_6_sweep() {
    const CHIPS: usize = 100;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        rng_seed: proptest::test_runner::RngSeed::Fixed(11),
        ..ProptestConfig::default()
    });
    let ks: Vec<f64> = (0..=16).map(|i| 2.0 - 0.5 * f64::from(i)).collect();
    let mut failing = Vec::new();
    for _ in 0..CHIPS {
        let (target, seed): (String, u64) = hardware().new_tree(&mut runner).expect("a case").current();
        let ex = attractor_exceptions(&target, seed, &ks, 100).unwrap_or_else(|e| panic!("{e}"));
        if !ex.is_empty() {
            failing.push((target, seed, ex));
        }
    }
    let explained = failing.iter().filter(|(_, _, ex)| ex.iter().all(|e| e.1 == e.2)).count();
    eprintln!(
        "{} of {CHIPS} chips have more than one end state at some k >= -6 ({explained} of them as the float model \
         of the same chip): {failing:?}",
        failing.len()
    );
    let want: Vec<(String, u64, Vec<Exception>)> =
        SWEEP_EXCEPTIONS.iter().map(|&(t, s, ex)| (t.to_string(), s, ex.to_vec())).collect();
    assert_eq!(failing, want, "the chips of the sweep without one attractor at every k >= -6");
}

/// The chips of [`one_attractor_for_k_at_least_minus_6_sweep`] where the class fails, with their
/// exceptions: the `small` 6-bit 8 % chip pinned by `a_six_bit_chip_has_several_end_states_at_k_minus_6`
/// (three end states at k = -6, its float model one). Measured on the toolchain of 2026-12-04.
const SWEEP_EXCEPTIONS: [(&str, u64, &[Exception]); 1] =
    [("target small { weight_bits = 6; mismatch = 8% }", 14328105976310670377, &[(-6.0, 3, 1)])];

/// The onset on more mismatched chips (not in the default suite: ~7 s of emulation per chip):
/// `cargo test --release -p nm-tests --test chip_pitchfork onsets_over_chip_seeds -- --ignored --nocapture`.
/// Asserts one state for k ≥ -6 on every chip, and the criteria "2 states at k = -12, onset in
/// [-12, -6]" on every chip whose float model (its two input gains) has a second branch by
/// k = -12; a chip whose float model has none (so strongly asymmetric gains that the imperfect
/// pitchfork's second branch lies beyond -12) must then have none either. Prints each onset.
#[test]
#[ignore = "longer: cargo test --release -p nm-tests --test chip_pitchfork onsets_over_chip_seeds -- --ignored"]
fn onsets_over_chip_seeds() {
    let cfg = pf::Config::paper();
    let ks = pf::k_values();
    let inits = pf::initial_conditions(&cfg, INIT_SEED);
    for spread in [5.0, 10.0] {
        for seed in 1..=5u64 {
            let res = pc::sweep(&Hw::mismatch(spread, seed), &ks, &inits, cfg.tol, pc::threads());
            let gains = pc::input_gains(&Hw::mismatch(spread, seed));
            let float_onset = pf::onset(&pf::sweep(&pf::Config { gains, ..cfg.clone() }, INIT_SEED));
            let on = pc::onset(&res);
            eprintln!(
                "mismatch {spread}% chip seed {seed}: input gains {:.3}, {:.3}; onset {on:?} (ideal chip -7; same-chip \
                 float {float_onset:?}); count at k = -12: {}",
                gains[0],
                gains[1],
                res.last().map_or(0, |r| r.states.len())
            );
            for r in res.iter().filter(|r| r.k >= -6.0) {
                assert_eq!(r.states.len(), 1, "{spread}% seed {seed} k = {}", r.k);
            }
            if float_onset.is_some() {
                assert_eq!(res.last().map(|r| r.states.len()), Some(2), "{spread}% seed {seed} k = -12");
                assert!(on.is_some_and(|o| (-12.0..=-6.0).contains(&o)), "{spread}% seed {seed}: onset {on:?}");
            } else {
                assert!(on.is_none_or(|o| o <= -11.5), "{spread}% seed {seed}: onset {on:?}, float model none");
            }
        }
    }
}
