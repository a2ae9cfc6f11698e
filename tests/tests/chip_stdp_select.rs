//! Paper 1 on the emulated chip: `programs/stdp_select.nm` (Hebbian STDP with multiplicative
//! noise and max-normalisation) selects the input with the largest `λ_i g_i`, checked against the
//! float reference of `nm_tests::reference::stdp_select` with the same seeds, on the ideal 8-bit
//! chip and on chips with the default 10 % mismatch, uncalibrated (reported) and calibrated
//! (`nmemu calibrate` per chip seed, the program compiled with its file: per-synapse
//! learning-rate trims; the criteria of `learning-rules.md`, section 1, are asserted on these),
//! plus a property test over hardware variability.
//!
//! Seeds: run (input and learning-engine) seed `s` and chip seed `s` for `s` in 0..40; the float
//! reference runs seed `s` too. The chip's efficacy gains `g_i` and learning-rate gains `a_i` are
//! the emulator's own mismatch draws (`Emulator::deviations`, turned into the applied Q.12 gains
//! with `mismatch::gain_q12`; on a calibrated chip `a_i` is times the synapse's trim factor,
//! `nm_isa::fixed_point::trim_lgain_q12`); the float "same chip" reference is given exactly those
//! gains.
//!
//! What is measured where: the post spikes come from the spike probe, the final weights from the
//! weight probe (8-bit readouts); `p_i = λ_i g_i w_i / Σ λ_j g_j w_j` after each post spike is
//! computed from the learning accumulators (`Emulator::synapse_state`, read after every step that
//! had a post spike), because the 8-bit readout cannot resolve `1 − p_max` below ~1e−3 and the
//! tail slope needs it. The 8-bit tail slope is fitted (least squares of `ln(1 − p_max)` against
//! the post-spike index) over the 1000 post spikes after `p_max` first reaches 0.99, on the
//! points where `1 − p_max > 1e−4` (above the accumulator's resolution: the losers then hold a
//! few accumulator units), as `tests/src/reference/README.md` defines it for the fixed-point
//! sketch.
//!
//! Larger sweeps (documented in `docs/reproductions.md`):
//! `cargo test --release -p nm-tests --test chip_stdp_select -- --ignored --nocapture`.

use nm_emulator::calibrate;
use nm_emulator::mismatch::gain_q12;
use nm_emulator::plot::{lines_svg, Curve, Scale};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::calibration;
use nm_isa::fixed_point::{accumulator_frac_bits, trim_lgain_q12};
use nm_isa::program::{InputKind, Program};
use nm_tests::chip;
use nm_tests::reference::stdp_select::{self, argmax, p_stats, Config, RATES};
use nm_tests::reference::{ls_slope, median};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

const ALPHA: f64 = 0.01;
const TAIL: usize = 1000;
const SLOPE_FLOOR: f64 = 1e-4;
const SEEDS: u64 = 40;

/// What one chip run measured.
#[derive(Debug, Clone)]
struct ChipOutcome {
    run_seed: u64,
    chip_seed: u64,
    /// Applied efficacy gains `g_i` and learning-rate gains `a_i` (1 on the ideal chip).
    gain: Vec<f64>,
    lgain: Vec<f64>,
    /// Input rates the program's Poisson channels realise (Hz).
    rates: Vec<f64>,
    /// Argmax of the final `p` (accumulators).
    winner: usize,
    /// Post spikes until `p_max ≥ 0.99` (1-based), if reached.
    spikes_to_99: Option<usize>,
    /// `p_max` and `ln(1 − p_max)` after each post spike (index 0 = initial value).
    p_max: Vec<f64>,
    log_rest: Vec<f64>,
    /// Steps run, post spikes in the spike probe.
    steps: u64,
    recorded_post_spikes: usize,
    /// Last sample of the weight probe (8-bit readouts), and the readout maximum.
    final_readout: Vec<i32>,
    w_top: i32,
    /// The accumulators at the end, and one readout LSB in accumulator units.
    final_acc: Vec<i32>,
    readout_lsb: i32,
}

impl ChipOutcome {
    fn drive(&self) -> Vec<f64> {
        self.rates.iter().zip(&self.gain).map(|(l, g)| l * g).collect()
    }
    /// Argmax `λ_i g_i`: the input the criterion says must win.
    fn expected(&self) -> usize {
        argmax(&self.drive())
    }
    /// Argmax `a_i λ_i g_i`: the winner of the deterministic race on a chip whose learning-rate
    /// gains scale every weight update (`log w_i` drifts like `α a_i p_i`).
    fn expected_with_lr(&self) -> usize {
        argmax(&self.drive().iter().zip(&self.lgain).map(|(d, a)| d * a).collect::<Vec<_>>())
    }
    fn tail_slope(&self) -> f64 {
        fit_tail(&self.log_rest, self.spikes_to_99, SLOPE_FLOOR)
    }
}

/// Least-squares slope of `log_rest` over the `TAIL` post spikes after `k99`, on points above `floor`.
fn fit_tail(log_rest: &[f64], k99: Option<usize>, floor: f64) -> f64 {
    let Some(k) = k99 else { return f64::NAN };
    let end = (k + TAIL).min(log_rest.len() - 1);
    let (xs, ys): (Vec<f64>, Vec<f64>) =
        (k..=end).filter(|&i| log_rest[i] > floor.ln()).map(|i| (i as f64, log_rest[i])).unzip();
    ls_slope(&xs, &ys)
}

/// The program with its target line replaced (`None`: as written).
fn program(target: Option<&str>) -> Program {
    let text = chip::program_text("stdp_select.nm");
    let text = target.map_or(text.clone(), |t| chip::with_target(&text, t));
    let p = chip::compile("stdp_select.nm", &text);
    // The layout the analysis relies on: one core, input channel k -> axon k -> synapse k.
    assert_eq!(p.cores.len(), 1, "one core");
    let c = &p.cores[0];
    assert_eq!(c.synapses.len(), RATES.len());
    for (k, a) in c.axons.iter().enumerate() {
        assert_eq!((a.first, a.count), (k as u32, 1), "axon {k}");
    }
    assert_eq!(c.axon_map.len(), 1);
    assert_eq!((c.axon_map[0].key_base, c.axon_map[0].axon_base), (p.inputs[0].key_base, 0));
    p
}

/// Rates realised by the program's Poisson channels (`p = λ dt` per step).
fn program_rates(p: &Program) -> Vec<f64> {
    let dt = p.meta.dt_ns as f64 * 1e-9;
    match &p.inputs[0].kind {
        InputKind::Poisson { p_q32 } => p_q32.iter().map(|&q| f64::from(q) / 2f64.powi(32) / dt).collect(),
        k => panic!("stdp_select's input is not Poisson: {k:?}"),
    }
}

/// The applied gains of the synapses of core 0: `(efficacy, learning rate)`. The learning-rate
/// gain is the mismatch gain times the synapse's programmed trim (`trim_lgain_q12`; trim 0
/// without a calibration).
fn gains(p: &Program, emu: &Emulator) -> (Vec<f64>, Vec<f64>) {
    let m = &p.chip.mismatch;
    let d = emu.deviations()[0];
    let q = |rsd: f64, v: &[f64]| -> Vec<f64> { v.iter().map(|&g| f64::from(gain_q12(rsd, g)) / 4096.0).collect() };
    let lgain = d
        .learning_rate
        .iter()
        .enumerate()
        .map(|(si, &g)| f64::from(trim_lgain_q12(gain_q12(m.learning_rate_rsd, g), p.cores[0].lr_trim_of(si))) / 4096.0)
        .collect();
    (q(m.weight_gain_rsd, &d.weight_gain), lgain)
}

/// What calibrating one chip instance gave.
#[derive(Debug, Clone)]
struct CalOutcome {
    /// Relative SD of the effective learning-rate gains before and after (as `nmemu calibrate`
    /// measures them).
    lr_before: f64,
    lr_after: f64,
    trims_clamped: usize,
    /// CPU-bound wall time of `calibrate` (for the report; not asserted).
    seconds: f64,
}

/// `nmemu calibrate` on chip `chip_seed`, the file through JSON as `nmc compile --calibration`
/// reads it, and the program compiled with it (the correction `nmc` applies).
fn calibrated(p: &Program, chip_seed: u64) -> (Program, CalOutcome) {
    let t0 = std::time::Instant::now();
    let cal = calibrate::calibrate(p, chip_seed).expect("calibrate");
    let seconds = t0.elapsed().as_secs_f64();
    assert_eq!(cal.synapses.len(), RATES.len(), "chip {chip_seed}: every plastic synapse measured");
    let back = calibration::parse(&serde_json::to_string_pretty(&cal).expect("json")).expect("parse");
    assert_eq!(back, cal);
    calibration::check_fits(p, &back).expect("fits");
    let (q, rep) = calibration::apply_with_report(p, &back).expect("apply");
    assert_eq!(rep.synapses, RATES.len());
    let out = CalOutcome {
        lr_before: cal.before.learning_rate_rsd,
        lr_after: cal.after.learning_rate_rsd,
        trims_clamped: rep.trims_clamped,
        seconds,
    };
    (q, out)
}

fn run_config(run_seed: u64, chip_seed: u64, ideal: bool) -> RunConfig {
    chip::config(chip_seed, ideal, Some(run_seed))
}

/// Run the program until `TAIL` post spikes after `p_max ≥ 0.99` (or its `sim` duration).
fn chip_run(p: &Program, run_seed: u64, chip_seed: u64, ideal: bool) -> ChipOutcome {
    let mut emu = Emulator::new(p, run_config(run_seed, chip_seed, ideal)).expect("loads");
    let (gain, lgain) = gains(p, &emu);
    let rates = program_rates(p);
    let drive = |acc: &[i32]| -> Vec<f64> {
        acc.iter().zip(&rates).zip(&gain).map(|((&a, l), g)| f64::from(a) * l * g).collect()
    };
    let (acc, _) = emu.synapse_state(0).expect("core 0");
    let (_, pm, rest) = p_stats(&drive(acc));
    let (mut p_max, mut log_rest) = (vec![pm], vec![rest.ln()]);
    let mut k99 = None;
    while emu.time() < p.meta.steps {
        emu.step();
        if emu.last_spikes(0).is_empty() {
            continue;
        }
        let (acc, _) = emu.synapse_state(0).expect("core 0");
        let (_, pm, rest) = p_stats(&drive(acc));
        p_max.push(pm);
        log_rest.push(rest.max(f64::MIN_POSITIVE).ln());
        let post = p_max.len() - 1;
        if k99.is_none() && pm >= 0.99 {
            k99 = Some(post);
        }
        if k99.is_some_and(|k| post >= k + TAIL) {
            break;
        }
    }
    let (acc, _) = emu.synapse_state(0).expect("core 0");
    let winner = p_stats(&drive(acc)).0;
    ChipOutcome {
        run_seed,
        chip_seed,
        winner,
        spikes_to_99: k99,
        steps: emu.time(),
        recorded_post_spikes: emu.recordings().spikes[0].times.len(),
        final_readout: chip::last_sample(&emu, "src->out"),
        w_top: p.chip.weight_max(),
        final_acc: acc.to_vec(),
        readout_lsb: 1 << accumulator_frac_bits(p.chip.formats.accumulator_bits, p.chip.formats.weight_bits),
        gain,
        lgain,
        rates,
        p_max,
        log_rest,
    }
}

/// Map `f` over `items` on two threads; the result order is the input order (deterministic).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let mid = items.len().div_ceil(2);
    let (a, b) = items.split_at(mid);
    std::thread::scope(|s| {
        let h = s.spawn(|| b.iter().map(&f).collect::<Vec<R>>());
        let mut out: Vec<R> = a.iter().map(&f).collect();
        out.extend(h.join().expect("worker"));
        out
    })
}

/// Summary in the criteria's terms.
#[derive(Debug, Clone, PartialEq)]
struct Summary {
    seeds: usize,
    /// Winner = argmax `λ_i g_i`.
    correct: usize,
    /// Winner = argmax `a_i λ_i g_i`.
    correct_with_lr: usize,
    median_spikes_to_99: f64,
    slope_min: f64,
    slope_median: f64,
    slope_max: f64,
    /// Seeds whose slope lies in `[−1.1α, −0.45α]`.
    slopes_in_band: usize,
}

fn summarise(outs: &[ChipOutcome]) -> Summary {
    let k99: Vec<f64> = outs.iter().map(|o| o.spikes_to_99.map_or(f64::INFINITY, |k| k as f64)).collect();
    let slopes: Vec<f64> = outs.iter().map(|o| o.tail_slope() / ALPHA).collect();
    Summary {
        seeds: outs.len(),
        correct: outs.iter().filter(|o| o.winner == o.expected()).count(),
        correct_with_lr: outs.iter().filter(|o| o.winner == o.expected_with_lr()).count(),
        median_spikes_to_99: median(&k99),
        slope_min: slopes.iter().copied().fold(f64::INFINITY, f64::min),
        slope_median: median(&slopes),
        slope_max: slopes.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        slopes_in_band: slopes.iter().filter(|s| (-1.1..=-0.45).contains(*s)).count(),
    }
}

/// Checks every chip run must pass whatever the configuration: the recordings agree with the
/// inspected state, and the run ended at a vertex of the simplex.
fn check_run(o: &ChipOutcome) {
    let tag = format!("run seed {} chip seed {}", o.run_seed, o.chip_seed);
    assert_eq!(o.recorded_post_spikes, o.p_max.len() - 1, "{tag}: spike probe vs post spikes seen");
    for (r, &l) in o.rates.iter().zip(&RATES) {
        assert!((r / l - 1.0).abs() < 1e-6, "{tag}: program rate {r} vs {l}");
    }
    assert!(o.spikes_to_99.is_some(), "{tag}: p_max never reached 0.99 in {} steps", o.steps);
    // The weight probe shows the vertex: the winner at the top of the readout (the stochastic
    // readout of an accumulator one unit below the top reads one LSB less now and then), every
    // loser at 0 — or, where the probe read 1, an accumulator below one readout LSB (its
    // stochastic readout reads 1 now and then; seen with 6-bit weights, where an LSB is 1/63).
    let (w, acc) = (&o.final_readout, &o.final_acc);
    assert!(w[o.winner] >= o.w_top - 1, "{tag}: recorded readouts {w:?}");
    assert!(
        w.iter().zip(acc).enumerate().all(|(i, (&x, &a))| i == o.winner || x == 0 || (x == 1 && a < o.readout_lsb)),
        "{tag}: recorded readouts {w:?}, accumulators {acc:?} (one readout LSB: {})",
        o.readout_lsb
    );
}

/// Run seeds 0..40 on chip seeds `chip_seeds(s)`, each chip calibrated, the program compiled with
/// its calibration and run.
fn run_calibrated(p: &Program, chip_seeds: impl Fn(u64) -> u64 + Sync) -> (Vec<ChipOutcome>, Vec<CalOutcome>) {
    let seeds: Vec<u64> = (0..SEEDS).collect();
    let both = par_map(&seeds, |&s| {
        let (q, c) = calibrated(p, chip_seeds(s));
        (chip_run(&q, s, chip_seeds(s), false), c)
    });
    let (outs, cals): (Vec<ChipOutcome>, Vec<CalOutcome>) = both.into_iter().unzip();
    outs.iter().for_each(check_run);
    (outs, cals)
}

fn run_all(p: &Program, ideal: bool, chip_seeds: impl Fn(u64) -> u64 + Sync) -> Vec<ChipOutcome> {
    let seeds: Vec<u64> = (0..SEEDS).collect();
    let outs = par_map(&seeds, |&s| chip_run(p, s, chip_seeds(s), ideal));
    outs.iter().for_each(check_run);
    outs
}

fn print_runs(label: &str, outs: &[ChipOutcome]) {
    for o in outs {
        eprintln!(
            "{label} seed {} chip {}: winner {} (argmax λg {}, argmax aλg {}), k99 {:?}, slope {:.3} α, {} steps",
            o.run_seed,
            o.chip_seed,
            o.winner,
            o.expected(),
            o.expected_with_lr(),
            o.spikes_to_99,
            o.tail_slope() / ALPHA,
            o.steps
        );
    }
}

/// Float reference outcomes for seeds 0..40 with the gains of `chips` (or none).
fn float_runs(chips: Option<&[ChipOutcome]>) -> Vec<stdp_select::Outcome> {
    (0..SEEDS as usize)
        .map(|s| {
            let mut c = Config::paper();
            if let Some(ch) = chips {
                c.efficacy_gain = ch[s].gain.clone();
                c.alpha_gain = ch[s].lgain.clone();
            }
            stdp_select::run(&c, s as u64)
        })
        .collect()
}

fn figure(name: &str, float: &[stdp_select::Outcome], ideal: &[ChipOutcome], mism: &[ChipOutcome]) {
    // Every 4th post spike; a chip value of exactly 0 (all losers' accumulators at 0) is left out.
    let pts = |v: &[f64], f: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> {
        v.iter().enumerate().step_by(4).map(|(i, &x)| (i as f64, f(x))).filter(|&(_, y)| y > 1e-300).collect()
    };
    let (f0, i0, m0) = (&float[0], &ideal[0], &mism[0]);
    let il = format!("ideal 8-bit chip (seed 0): the {} Hz input wins", RATES[i0.winner]);
    let ml = format!(
        "chip, 10 % mismatch (chip seed 0): the {} Hz input wins, argmax λg: {} Hz",
        RATES[m0.winner],
        RATES[m0.expected()]
    );
    let fl = format!("float reference (seed 0): the {} Hz input wins", RATES[f0.winner]);
    let curves = [
        Curve::line(&fl, "#888", pts(&f0.p_max, &|x| x)),
        Curve::line(&il, "steelblue", pts(&i0.p_max, &|x| x)),
        Curve::line(&ml, "#c00", pts(&m0.p_max, &|x| x)),
    ];
    chip::write_figure(
        &format!("{name}_pmax"),
        &lines_svg("Paper 1: p_max after each post spike", "post spikes", "p_max", Scale::Linear, &curves),
    );
    let float_rest: Vec<f64> = f0.p_max.iter().map(|p| 1.0 - p).collect();
    let curves = [
        Curve::line(&fl, "#888", pts(&float_rest, &|x| x)),
        Curve::line(&il, "steelblue", pts(&i0.log_rest, &f64::exp)),
        Curve::line(&ml, "#c00", pts(&m0.log_rest, &f64::exp)),
        Curve::line(
            "slope -α from p_max = 0.99 (float)",
            "#2a2",
            f0.spikes_to_99.map_or(Vec::new(), |k| {
                (0..=TAIL).step_by(50).map(|j| ((k + j) as f64, 0.01 * (-ALPHA * j as f64).exp())).collect()
            }),
        ),
    ];
    chip::write_figure(
        &format!("{name}_tail"),
        &lines_svg("Paper 1: 1 - p_max (log scale)", "post spikes", "1 - p_max", Scale::Log, &curves),
    );
    // Per seed: post spikes until p_max >= 0.99; wrong winners (not argmax λg) in black.
    let k99 = |k: Option<usize>| k.map_or(f64::NAN, |k| k as f64);
    let wrong: Vec<(f64, f64)> = ideal
        .iter()
        .chain(mism)
        .filter(|o| o.winner != o.expected())
        .map(|o| (o.run_seed as f64, k99(o.spikes_to_99)))
        .collect();
    let curves = [
        Curve::dots(
            "float reference",
            "#888",
            float.iter().enumerate().map(|(s, o)| (s as f64, k99(o.spikes_to_99))).collect(),
        ),
        Curve::dots(
            "ideal 8-bit chip",
            "steelblue",
            ideal.iter().map(|o| (o.run_seed as f64, k99(o.spikes_to_99))).collect(),
        ),
        Curve::dots(
            "chip, 10 % mismatch",
            "#c00",
            mism.iter().map(|o| (o.run_seed as f64, k99(o.spikes_to_99))).collect(),
        ),
        Curve::dots("chip run whose winner is not argmax λg", "black", wrong),
        Curve::line("criterion: median <= 1800", "#2a2", vec![(0.0, 1800.0), ((SEEDS - 1) as f64, 1800.0)]),
    ];
    chip::write_figure(
        &format!("{name}_seeds"),
        &lines_svg(
            "Paper 1: post spikes until p_max >= 0.99, per seed",
            "seed (run seed = chip seed)",
            "post spikes",
            Scale::Linear,
            &curves,
        ),
    );
}

#[test]
fn float_ideal_chip_and_mismatch_chip_select_the_most_active_input() {
    // Everything is run and printed first, then asserted.
    let float = float_runs(None);
    let fs = stdp_select::summarise(&float, ALPHA);
    eprintln!("paper 1 float: {fs:?}");
    let p = program(None);
    // Ideal 8-bit chip (`--ideal`: no mismatch), run seeds 0..40.
    let ideal = run_all(&p, true, |s| s);
    print_runs("ideal", &ideal);
    let is = summarise(&ideal);
    eprintln!("paper 1 ideal chip: {is:?}");
    // Default mismatch (10 % on every spread), chip seeds 0..40.
    let mism = run_all(&p, false, |s| s);
    print_runs("mismatch", &mism);
    let ms = summarise(&mism);
    eprintln!("paper 1 chip with 10 % mismatch: {ms:?}");
    // The float model of the same chips (the emulator's gains g_i, a_i), same seeds.
    let same = float_runs(Some(&mism));
    let ss = stdp_select::summarise(&same, ALPHA);
    let same_lr = same.iter().zip(&mism).filter(|(f, o)| f.winner == o.expected_with_lr()).count();
    eprintln!("paper 1 float with the chips' gains: {ss:?}; winner = argmax aλg in {same_lr}/40");
    figure("stdp_select", &float, &ideal, &mism);

    // Float reference: every criterion of the float column.
    assert!(fs.correct >= 39, "float: winner = argmax λ in {}/40", fs.correct);
    assert!(fs.median_spikes_to_99 <= 1800.0, "float: median {}", fs.median_spikes_to_99);
    assert!(
        fs.slope_over_alpha_min >= -1.1 && fs.slope_over_alpha_max <= -0.8,
        "float slopes {} .. {} α",
        fs.slope_over_alpha_min,
        fs.slope_over_alpha_max
    );

    // Ideal chip: winner and speed criteria (measured 38/40, median 1226.5).
    assert!(ideal.iter().all(|o| o.gain.iter().chain(&o.lgain).all(|&g| g == 1.0)));
    assert!(is.correct >= 36, "ideal chip: winner = argmax λ in {}/40", is.correct);
    assert!(is.median_spikes_to_99 <= 1800.0, "ideal chip: median {}", is.median_spikes_to_99);
    // Tail slope, 8-bit band [−1.1α, −0.45α]: met by the median, not by every seed. The
    // measurable tail (1 − p_max from 1e−2 to 1e−4, ~460 post spikes) is dominated by the
    // stochastic rounding of the losers' last few accumulator units, which spreads single-seed
    // slopes to both sides of −α (the float fit over the same points: −0.90α … −1.09α). No seed
    // is shallower than the band; the misses are steeper than −1.1α (measured: 33/40 in the band,
    // slopes −1.30α … −0.53α).
    assert!((-1.1..=-0.45).contains(&is.slope_median), "ideal chip: median slope {} α", is.slope_median);
    assert!(is.slope_max <= -0.45, "ideal chip: shallowest slope {} α", is.slope_max);
    assert!(is.slope_min >= -1.5, "ideal chip: steepest slope {} α", is.slope_min);
    assert!(is.slopes_in_band >= 30, "ideal chip: {}/40 slopes in the 8-bit band", is.slopes_in_band);

    // Mismatch chip, uncalibrated: reported, the winner criterion not asserted. **≥ 34/40 is
    // not met uncalibrated**: measured 32/40 for chip seeds 0..40, while the float model of the
    // same chips (same gains g_i and a_i, same seeds) gets 31/40: the chip does what its own
    // float model does; the learning-rate gains a_i tilt and narrow the race
    // (docs/reproductions.md). The calibrated chips below are the configuration the criterion is
    // asserted on.
    eprintln!(
        "paper 1 uncalibrated chips: winner = argmax λg in {}/40 (criterion ≥ 34 {}), float model {}/40",
        ms.correct,
        if ms.correct >= 34 { "met" } else { "NOT met" },
        ss.correct
    );
    assert!(mism.iter().all(|o| o.gain.iter().any(|&g| g != 1.0)), "mismatch is applied");
    assert!(ms.correct + 3 >= ss.correct, "chip {} vs its float model {}", ms.correct, ss.correct);
    assert!(ms.median_spikes_to_99 <= 1800.0, "mismatch chip: median {}", ms.median_spikes_to_99);
    assert!(ss.median_spikes_to_99 <= 1800.0);
    // Slopes as on the ideal chip (measured 28/40 in the band, −1.36α … −0.57α, median −0.95α).
    assert!((-1.1..=-0.45).contains(&ms.slope_median), "mismatch chip: median slope {} α", ms.slope_median);
    assert!(ms.slope_max <= -0.45, "mismatch chip: shallowest slope {} α", ms.slope_max);
    assert!(ms.slope_min >= -1.5, "mismatch chip: steepest slope {} α", ms.slope_min);
    assert!(ms.slopes_in_band >= 26, "mismatch chip: {}/40 slopes in the 8-bit band", ms.slopes_in_band);

    // The same chips calibrated: `nmemu calibrate` per chip seed measures every synapse's
    // learning-rate gain a_i, `nmc compile --calibration` trims it; g_i is untouched, so the
    // criterion's winner is still argmax λ_i g_i. The criteria of learning-rules.md, unchanged.
    let (cal, cals) = run_calibrated(&p, |s| s);
    print_runs("calibrated", &cal);
    let cs = summarise(&cal);
    let cal_float = float_runs(Some(&cal));
    let cfs = stdp_select::summarise(&cal_float, ALPHA);
    let secs: Vec<f64> = cals.iter().map(|c| c.seconds).collect();
    let before: Vec<f64> = cals.iter().map(|c| c.lr_before).collect();
    let after: Vec<f64> = cals.iter().map(|c| c.lr_after).collect();
    let clamped: usize = cals.iter().map(|c| c.trims_clamped).sum();
    eprintln!("paper 1 calibrated chips: {cs:?}; float model of the calibrated chips: {cfs:?}");
    eprintln!(
        "calibration: learning-rate spread median {:.4} -> {:.4} (worst after {:.4}); {clamped} of {} trims \
         clamped; calibrate() median {:.4} s, max {:.4} s per chip",
        median(&before),
        median(&after),
        after.iter().copied().fold(0.0, f64::max),
        cals.len() * RATES.len(),
        median(&secs),
        secs.iter().copied().fold(0.0, f64::max)
    );
    // The spread of the applied learning-rate gains over all 400 synapses shrinks ≥ 5× (the
    // chips' own a_i before, a_i times the trim factor after). Per chip (10 synapses) one trim
    // clamped at the end of the 6-bit range can keep a single chip's spread above 1/5 of its
    // start (chip 25: a gain of ~0.72 trimmed to ~0.89), so that is counted, not asserted.
    let pooled = |v: &[ChipOutcome]| nm_emulator::mismatch::sd(v.iter().flat_map(|o| o.lgain.iter().copied()));
    let (sd_before, sd_after) = (pooled(&mism), pooled(&cal));
    let under5 = cals.iter().filter(|c| c.lr_after * 5.0 > c.lr_before).count();
    eprintln!(
        "applied learning-rate gains over all synapses: SD {sd_before:.4} uncalibrated -> {sd_after:.4} calibrated \
         ({:.1}x); {under5}/40 chips shrink less than 5x",
        sd_before / sd_after
    );
    assert!(sd_after * 5.0 <= sd_before, "learning-rate spread {sd_before} -> {sd_after}");
    assert!(median(&after) * 5.0 <= median(&before), "per-chip spreads {before:?} -> {after:?}");
    for o in &cal {
        // The gains g_i are the same physical draws as on the uncalibrated chip.
        assert_eq!(o.gain, mism[o.chip_seed as usize].gain, "chip {}: efficacy gains", o.chip_seed);
        assert!(o.lgain != mism[o.chip_seed as usize].lgain, "chip {}: trims applied", o.chip_seed);
    }
    assert!(cs.correct >= 34, "calibrated chips: winner = argmax λg in {}/40 (criterion ≥ 34)", cs.correct);
    assert!(cs.median_spikes_to_99 <= 1800.0, "calibrated chips: median {}", cs.median_spikes_to_99);
    assert!((-1.1..=-0.45).contains(&cs.slope_median), "calibrated chips: median slope {} α", cs.slope_median);
    assert!(cs.slope_max <= -0.45, "calibrated chips: shallowest slope {} α", cs.slope_max);
    assert!(cs.slope_min >= -1.5, "calibrated chips: steepest slope {} α", cs.slope_min);
    assert!(cs.slopes_in_band >= 26, "calibrated chips: {}/40 slopes in the 8-bit band", cs.slopes_in_band);
    // Every wrong winner is a runner-up: among the three largest λ_i g_i.
    for o in ideal.iter().chain(&mism).chain(&cal) {
        let d = o.drive();
        let above = d.iter().filter(|&&x| x > d[o.winner]).count();
        assert!(above <= 2, "run {} chip seed {}: winner {} drives {d:?}", o.run_seed, o.chip_seed, o.winner);
    }
}

/// One hardware configuration of the property test.
#[derive(Debug, Clone)]
struct Hw {
    profile: &'static str,
    weight_bits: u8,
    mismatch_pct: u32,
    chip_seed: u64,
}

impl Hw {
    fn target(&self) -> String {
        format!(
            "target {} {{ weight_bits = {}; mismatch = {}%; chip_seed = {} }}",
            self.profile, self.weight_bits, self.mismatch_pct, self.chip_seed
        )
    }
}

fn hw_strategy() -> impl Strategy<Value = Hw> {
    (prop_oneof![Just("default"), Just("small")], 6u8..=8, 0u32..=10, 0u64..10_000).prop_map(
        |(profile, weight_bits, mismatch_pct, chip_seed)| Hw { profile, weight_bits, mismatch_pct, chip_seed },
    )
}

/// Runs per hardware case (run seeds 0..RUNS on the same chip).
const RUNS: u64 = 5;
/// Float runs of the same chip that decide whether its race has a clear favourite.
const FLOAT_RUNS: u64 = 200;
/// A chip whose float model selects argmax `λ_i g_i` in at least this fraction of its runs has
/// a clear favourite; on others (near-ties of `a_i λ_i g_i`, common at 6 bits and 10 %) the
/// race is legitimately random.
const CLEAR: f64 = 0.9;

/// The outcome class on one chip instance: every run reaches a vertex (recorded readouts); and
/// when the float model of this chip (the emulator's gains, seeds 10000..10200) selects argmax
/// `λ_i g_i` in ≥ 90 % of its runs (a clear favourite), the majority of the chip's runs select
/// argmax `λ_i g_i` and their median reaches `p_max ≥ 0.99` within 1800 post spikes (near-ties
/// take longer: the criterion's median is over chips, checked in [`run_property`]). Returns
/// whether the chip had a clear favourite, and the runs' post spikes to `p_max ≥ 0.99`.
fn selects_argmax(hw: &Hw) -> Result<(bool, Vec<f64>), TestCaseError> {
    let p = program(Some(&hw.target()));
    let seeds: Vec<u64> = (0..RUNS).collect();
    let outs: Vec<ChipOutcome> = seeds.iter().map(|&s| chip_run(&p, s, hw.chip_seed, false)).collect();
    let e = outs[0].expected();
    let mut cfg = Config::paper();
    cfg.efficacy_gain = outs[0].gain.clone();
    cfg.alpha_gain = outs[0].lgain.clone();
    let float_hits = (0..FLOAT_RUNS).filter(|&s| stdp_select::run(&cfg, 10_000 + s).winner == e).count();
    let clear = float_hits as f64 >= CLEAR * FLOAT_RUNS as f64;
    let hits = outs.iter().filter(|o| o.winner == e).count();
    outs.iter().for_each(check_run);
    let winners: Vec<usize> = outs.iter().map(|o| o.winner).collect();
    let k99: Vec<f64> = outs.iter().map(|o| o.spikes_to_99.map_or(f64::INFINITY, |k| k as f64)).collect();
    eprintln!(
        "{hw:?}: argmax λg {e}, float model selects it in {float_hits}/{FLOAT_RUNS}, chip winners {winners:?}, k99 {k99:?}"
    );
    if clear {
        prop_assert!(median(&k99) <= 1800.0, "{hw:?}: median post spikes to p_max ≥ 0.99 of {k99:?}");
        prop_assert!(
            2 * hits > outs.len(),
            "{hw:?}: chip winners {winners:?}, argmax λg {e} (float model: {float_hits}/{FLOAT_RUNS})"
        );
    }
    Ok((clear, k99))
}

/// Run `cases` hardware cases from proptest seed `seed`; returns how many had a clear favourite.
/// Over all cases, the median number of post spikes to `p_max ≥ 0.99` is at most 1800.
fn run_property(cases: u32, seed: u64) -> usize {
    eprintln!("proptest seed {seed}, {cases} cases");
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let cfg = ProptestConfig { cases, failure_persistence: None, max_shrink_iters: 0, ..ProptestConfig::default() };
    let mut runner = TestRunner::new_with_rng(cfg, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let clear = std::cell::Cell::new(0usize);
    let k99 = std::cell::RefCell::new(Vec::new());
    if let Err(e) = runner.run(&hw_strategy(), |hw| {
        let (c, k) = selects_argmax(&hw)?;
        clear.set(clear.get() + usize::from(c));
        k99.borrow_mut().extend(k);
        Ok(())
    }) {
        panic!("{e}");
    }
    let m = median(&k99.borrow());
    eprintln!("{} of {cases} cases had a clear favourite; median post spikes to 0.99 over all runs {m}", clear.get());
    assert!(m <= 1800.0, "median post spikes to p_max ≥ 0.99 over all runs: {m}");
    clear.get()
}

#[test]
fn selects_argmax_of_rate_times_gain_over_hardware_variability() {
    // Few cases for CI: profiles default/small, 6–8 weight bits, 0–10 % mismatch, any chip seed.
    // The majority check must not be vacuous: at least half of the cases have a clear favourite.
    let clear = run_property(6, 1);
    assert!(clear >= 3, "only {clear}/6 cases had a clear favourite (measured 4)");
}

#[test]
#[ignore = "larger sweep, beyond the CI budget (~64 cases x 5 runs, 1-2 min on 2 cores): cargo test --release -p nm-tests --test chip_stdp_select selects_argmax_over_hardware_variability_sweep -- --ignored; see docs/reproductions.md"]
fn selects_argmax_over_hardware_variability_sweep() {
    let clear = run_property(64, 2);
    assert!(clear >= 32, "only {clear}/64 cases had a clear favourite");
}

#[test]
#[ignore = "five disjoint sets of 40 chip seeds, beyond the CI budget (CI runs seeds 0..39): cargo test --release -p nm-tests --test chip_stdp_select seed_sets_sweep -- --ignored; see docs/reproductions.md"]
fn seed_sets_sweep() {
    let p = program(None);
    for set in 0..5u64 {
        let outs = run_all(&p, false, |s| 40 * set + s);
        let s = summarise(&outs);
        let same = float_runs(Some(&outs));
        let fs = stdp_select::summarise(&same, ALPHA);
        let (cal, _) = run_calibrated(&p, |s| 40 * set + s);
        let cs = summarise(&cal);
        let cfs = stdp_select::summarise(&float_runs(Some(&cal)), ALPHA);
        eprintln!(
            "chip seeds {}..{}: chip {s:?}; float with these gains: correct {}; calibrated chip {cs:?}; float with \
             the calibrated gains: correct {}",
            40 * set,
            40 * set + 40,
            fs.correct,
            cfs.correct
        );
    }
}
