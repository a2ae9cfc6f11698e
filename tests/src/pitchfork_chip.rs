//! Paper 5 on the emulated chip: run `programs/pitchfork.nm` from the float reference's initial
//! conditions, to convergence, and read the end states `(x₁, x₂, w)` from the recordings.
//!
//! One run is one initial condition on one pair of neurons, so all runs of a sweep use the same
//! physical neurons and synapses (core 0, slots 0 and 1): with mismatch every run sees the same
//! chip. (Placing 100 pairs on one core would give 100 differently mismatched networks, whose end
//! states differ by the mismatch, not by the attractor they reached.)

use crate::chip;
use crate::reference::pitchfork as pf;
use nm_compiler::lower::net::TABLE_VSCALE;
use nm_emulator::Emulator;

/// The bundled program.
pub const PROGRAM: &str = "pitchfork.nm";
/// Steps between convergence checks.
pub const CHUNK: u64 = 1000;
/// The end state is the mean of the last `WINDOWS[0]` recorded samples (every 10 steps: 500
/// steps, 250 τ at τ = 2 steps), which averages the ±1 LSB jitter of the stochastically rounded
/// weights; when that mean is too noisy to decide (6-bit weights: ±0.125 per LSB), the next,
/// longer window is tried.
pub const WINDOWS: [usize; 4] = [50, 100, 200, 400];
/// Converged when the means of the last two windows differ by less than this (real units, max
/// norm over `x₁, x₂, w`), well below the distinct-state tolerance 0.05 — or, when the rounding
/// noise makes window means scatter more than that (6-bit weights near the bifurcation), by less
/// than three standard errors of the difference, provided that noise band stays below
/// [`NOISE_MAX`] (else a longer window is tried). The standard error of a window mean comes
/// from its [`BLOCKS`] block means, so a slow trend inflates it less than it moves the mean:
/// trends are still caught.
pub const DRIFT_TOL: f64 = 0.01;
/// Largest noise band (three standard errors) accepted as converged: half the 0.05 tolerance.
pub const NOISE_MAX: f64 = 0.025;
/// Blocks per window for the standard error.
pub const BLOCKS: usize = 5;
/// Upper bound on a run: the program's duration (20 s = 10 000 τ).
pub const MAX_STEPS: u64 = 20_000;

/// Which chip a sweep runs on.
#[derive(Clone, Debug, PartialEq)]
pub struct Hw {
    /// The whole `target` item, e.g. `target default { mismatch = 5% }`.
    pub target: String,
    /// Mismatch and noise off (`--ideal`).
    pub ideal: bool,
    pub chip_seed: u64,
}

impl Hw {
    pub fn ideal() -> Hw {
        Hw { target: "target default".into(), ideal: true, chip_seed: 1 }
    }
    pub fn mismatch(spread_percent: f64, chip_seed: u64) -> Hw {
        Hw { target: format!("target default {{ mismatch = {spread_percent}% }}"), ideal: false, chip_seed }
    }
}

/// One run's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct End {
    /// `(x₁, x₂, w)`, `w` the mean of the two reciprocal weights, averaged over the last window.
    pub state: [f64; 3],
    /// `|w₀₁ − w₁₀|` at the end (real units).
    pub w_asym: f64,
    pub converged: bool,
    pub steps: u64,
}

/// The program text for one run.
pub fn run_text(base: &str, hw: &Hw, k: f64, s0: [f64; 3]) -> String {
    let t = chip::with_target(base, &hw.target);
    let t = chip::with_const(&t, "k", &format!("{k}"));
    let t = chip::with_const(&t, "x1", &format!("{}", s0[0]));
    let t = chip::with_const(&t, "x2", &format!("{}", s0[1]));
    chip::with_const(&t, "w0", &format!("{}", s0[2]))
}

fn window_mean(data: &[i32], width: usize, from: usize, to: usize) -> Vec<f64> {
    let mut m = vec![0.0; width];
    for s in from..to {
        for (j, v) in m.iter_mut().enumerate() {
            *v += f64::from(data[s * width + j]);
        }
    }
    m.iter().map(|v| v / (to - from) as f64).collect()
}

/// Compile and run one initial condition to convergence.
pub fn run_one(base: &str, hw: &Hw, k: f64, s0: [f64; 3]) -> End {
    let text = run_text(base, hw, k, s0);
    let (program, report) = chip::compile_with_report(PROGRAM, &text);
    let wscale = report.quantization[0].weight_scale;
    let mut emu = Emulator::new(&program, chip::config(hw.chip_seed, hw.ideal, None))
        .unwrap_or_else(|e| panic!("{PROGRAM}: {e}"));
    // The window of `win` samples `back` windows before the end: its mean state, |w01 - w10|,
    // and the largest standard error of the mean over the three components (from block means).
    let state_of = |emu: &Emulator, back: usize, win: usize| -> Option<([f64; 3], f64, f64)> {
        let v = chip::series(emu, "x");
        let w = chip::series(emu, "x->x");
        let n = v.steps.len().min(w.steps.len());
        if n < win * (back + 1) {
            return None;
        }
        let to = n - win * back;
        let state = |from: usize, to: usize| -> ([f64; 3], f64) {
            let xv = window_mean(&v.data, v.width, from, to);
            let wv = window_mean(&w.data, w.width, from, to);
            let (w0, w1) = (wv[0] / wscale, wv[1] / wscale);
            ([xv[0] / TABLE_VSCALE, xv[1] / TABLE_VSCALE, 0.5 * (w0 + w1)], (w0 - w1).abs())
        };
        let (mean, asym) = state(to - win, to);
        let bl = win / BLOCKS;
        let blocks: Vec<[f64; 3]> = (0..BLOCKS).map(|b| state(to - win + b * bl, to - win + (b + 1) * bl).0).collect();
        let se = (0..3)
            .map(|i| {
                let var = blocks.iter().map(|s| (s[i] - mean[i]).powi(2)).sum::<f64>() / (BLOCKS - 1) as f64;
                (var / BLOCKS as f64).sqrt()
            })
            .fold(0.0f64, f64::max);
        Some((mean, asym, se))
    };
    // Converged at window `win`: Some(true); a trend: Some(false); too noisy: None (try longer).
    let check = |emu: &Emulator, win: usize| -> Option<(bool, [f64; 3], f64)> {
        let ((a, asym, se_a), (b, _, se_b)) = (state_of(emu, 0, win)?, state_of(emu, 1, win)?);
        let drift = (0..3).fold(0.0f64, |m, i| m.max((a[i] - b[i]).abs()));
        let band = 3.0 * (se_a * se_a + se_b * se_b).sqrt();
        if drift < DRIFT_TOL || (drift < band && band < NOISE_MAX) {
            Some((true, a, asym))
        } else if drift >= band {
            Some((false, a, asym))
        } else {
            None
        }
    };
    let mut steps = 0;
    loop {
        emu.run(CHUNK);
        steps += CHUNK;
        let mut last = None;
        for win in WINDOWS {
            match check(&emu, win) {
                Some((true, a, asym)) => return End { state: a, w_asym: asym, converged: true, steps },
                Some((false, a, asym)) => {
                    last = Some((a, asym));
                    break;
                }
                None => {
                    if let Some((a, asym, _)) = state_of(&emu, 0, win) {
                        last = Some((a, asym));
                    }
                }
            }
        }
        if steps >= MAX_STEPS {
            let (a, asym) = last.expect("a full run holds every window");
            return End { state: a, w_asym: asym, converged: false, steps };
        }
    }
}

/// The input gains of the chip `hw` into neuron 0 and into neuron 1, for the float model of the
/// same chip ([`pf::Config::gains`]): the synapse's efficacy gain (`1 + rsd·g` in Q.12, as the
/// chip applies it) times `2^12 / decay_u` of the post neuron. The program clears the input
/// current every step (`decay_u = 2^12`); the leak mismatch draws that code too, and a code
/// below `2^12` keeps part of the last step's current, so the steady input is `2^12 / decay_u`
/// times the synaptic drive (codes above `2^12` saturate to a full clear). The learning-rate
/// gains and the voltage-leak mismatch do not move the equilibria; rate neurons have no
/// threshold, so no bias offset.
pub fn input_gains(hw: &Hw) -> [f64; 2] {
    if hw.ideal {
        return [1.0, 1.0];
    }
    let text = run_text(&chip::program_text(PROGRAM), hw, 0.0, [0.0, 0.0, 0.0]);
    let program = chip::compile(PROGRAM, &text);
    let emu = Emulator::new(&program, chip::config(hw.chip_seed, false, None)).unwrap_or_else(|e| panic!("{e}"));
    let devs = emu.deviations()[0];
    let rsd = program.chip.mismatch.weight_gain_rsd;
    let full = f64::from(1u32 << program.chip.formats.decay_bits);
    let mut g = [1.0; 2];
    for (si, syn) in program.cores[0].synapses.iter().enumerate() {
        let post = syn.target as usize;
        let du = emu.effective_neuron(0, post).map_or(full, |n| f64::from(n.decay_u));
        g[post] = f64::from(nm_emulator::mismatch::gain_q12(rsd, devs.weight_gain[si])) / 4096.0 * full / du;
    }
    g
}

/// The chip's result at one `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChipK {
    pub k: f64,
    pub ends: Vec<End>,
    /// Distinct end states (greedy grouping with the reference's tolerance), with their sizes.
    pub states: Vec<([f64; 3], usize)>,
    pub unconverged: usize,
}

/// Run every initial condition at every `k` on `hw`, spread over `threads` threads (results do
/// not depend on the thread count: every run is independent and seeded by its chip seed).
pub fn sweep(hw: &Hw, ks: &[f64], inits: &[[f64; 3]], tol: f64, threads: usize) -> Vec<ChipK> {
    let base = chip::program_text(PROGRAM);
    let jobs: Vec<(usize, usize)> = (0..ks.len()).flat_map(|a| (0..inits.len()).map(move |b| (a, b))).collect();
    let threads = threads.max(1);
    let mut out: Vec<Option<End>> = vec![None; jobs.len()];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (jobs, base) = (&jobs, &base);
                s.spawn(move || {
                    jobs.iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(j, &(a, b))| (j, run_one(base, hw, ks[a], inits[b])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (j, e) in h.join().expect("a sweep thread panicked") {
                out[j] = Some(e);
            }
        }
    });
    let out: Vec<End> = out.into_iter().map(|e| e.expect("every job ran")).collect();
    ks.iter()
        .enumerate()
        .map(|(a, &k)| {
            let ends: Vec<End> = out[a * inits.len()..(a + 1) * inits.len()].to_vec();
            let states = pf::group(&ends.iter().map(|e| e.state).collect::<Vec<_>>(), tol);
            let unconverged = ends.iter().filter(|e| !e.converged).count();
            ChipK { k, ends, states, unconverged }
        })
        .collect()
}

/// The onset: the largest `k` with two or more end states.
pub fn onset(res: &[ChipK]) -> Option<f64> {
    res.iter().filter(|r| r.states.len() >= 2).map(|r| r.k).reduce(f64::max)
}

/// Threads for a sweep: the machine's parallelism, at most 2 (the CI budget assumes 2 cores).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(2)
}
