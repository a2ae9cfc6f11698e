//! Paper 1 (Dexheimer, Gaudlitz, Schmidt-Hieber): Hebbian STDP with multiplicative noise selects
//! the most active input. Float reference in continuous time.
//!
//! `d` independent Poisson inputs with rates `λ_i` drive one non-leaky integrate-and-fire neuron:
//! each input spike adds `g_i · w_i` to the potential (`g_i` the synapse's efficacy gain, 1 without
//! mismatch); when the potential reaches `θ = 3 · w_max` the neuron spikes and resets to 0 (the
//! overshoot is discarded). At each post spike: `B` = one-hot of the input whose spike caused the
//! crossing, `Z_i ~ U(−1, 1)` per synapse, `w_i ← w_i (1 + α a_i (B_i + Z_i))` (`a_i` the
//! synapse's learning-rate gain), then all weights are rescaled so that `max_i w_i = w_max`.
//!
//! **Time**: simulated exactly in continuous time, as the superposition of the inputs: the next
//! input event comes after an `Exp(Σ λ)` interval and belongs to input `i` with probability
//! `λ_i / Σ λ`. (The learning only depends on the order of events, so no `dt` error enters.)
//!
//! Metrics: effective probabilities `p_i = λ_i g_i w_i / Σ_j λ_j g_j w_j` after each post spike,
//! the winner (argmax of the final `p`), the number of post spikes until `p_max ≥ 0.99`, and the
//! least-squares slope of `ln(1 − p_max)` against the post-spike index over a tail window that
//! starts at that point.

use super::{ls_slope, Rng};

/// The input rates of the check, in Hz.
pub const RATES: [f64; 10] = [5.0, 8.0, 11.0, 14.0, 17.0, 20.0, 23.0, 26.0, 29.0, 40.0];

/// Experiment settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Input rates `λ_i` (Hz).
    pub rates: Vec<f64>,
    /// Learning rate `α`.
    pub alpha: f64,
    /// Weight bound after rescaling (and the initial value of every weight).
    pub w_max: f64,
    /// Threshold in units of `w_max` (3 in the check).
    pub theta_over_wmax: f64,
    /// Per-synapse efficacy gains `g_i` (all 1 on an ideal chip).
    pub efficacy_gain: Vec<f64>,
    /// Per-synapse learning-rate gains `a_i` (all 1 on an ideal chip).
    pub alpha_gain: Vec<f64>,
    /// Post spikes of the tail window used for the slope.
    pub tail_len: usize,
    /// Stop after this many post spikes even if `p_max` never reaches 0.99.
    pub max_post_spikes: usize,
}

impl Config {
    /// The check of `learning-rules.md`: 10 inputs, `θ = 3 w_max`, `α = 0.01`, equal initial
    /// weights, no mismatch, a 1000-spike tail window.
    pub fn paper() -> Config {
        let d = RATES.len();
        Config {
            rates: RATES.to_vec(),
            alpha: 0.01,
            w_max: 1.0,
            theta_over_wmax: 3.0,
            efficacy_gain: vec![1.0; d],
            alpha_gain: vec![1.0; d],
            tail_len: 1000,
            max_post_spikes: 20_000,
        }
    }

    /// The same with per-synapse mismatch: efficacy and learning-rate gains `1 + rsd · N(0, 1)`
    /// (clipped at 0.05), drawn from `chip_seed` (efficacy gains first, then learning-rate gains).
    pub fn with_mismatch(chip_seed: u64, rsd: f64) -> Config {
        let mut c = Config::paper();
        let mut r = Rng::new(chip_seed, 0x3151);
        let d = c.rates.len();
        c.efficacy_gain = (0..d).map(|_| (1.0 + rsd * r.gauss()).max(0.05)).collect();
        c.alpha_gain = (0..d).map(|_| (1.0 + rsd * r.gauss()).max(0.05)).collect();
        c
    }

    /// The input that should win: argmax `λ_i g_i`.
    pub fn expected_winner(&self) -> usize {
        argmax(&self.rates.iter().zip(&self.efficacy_gain).map(|(l, g)| l * g).collect::<Vec<_>>())
    }
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Argmax of the final `p`.
    pub winner: usize,
    /// Argmax `λ_i g_i`.
    pub expected_winner: usize,
    /// Post spikes until `p_max ≥ 0.99` (1-based), if reached.
    pub spikes_to_99: Option<usize>,
    /// Slope of `ln(1 − p_max)` per post spike over the tail window (NaN if never reached).
    pub tail_slope: f64,
    /// `p_max` after each post spike (index 0 = initial value).
    pub p_max: Vec<f64>,
    /// Final weights.
    pub weights: Vec<f64>,
    /// Simulated time in seconds.
    pub time_s: f64,
    /// Input spikes processed.
    pub input_spikes: u64,
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f64]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// `(argmax p, p_max, 1 − p_max)` for effective drives `λ_i g_i w_i`, with `1 − p_max` computed
/// from the losers' sum so it stays accurate near the vertex.
pub fn p_stats(drive: &[f64]) -> (usize, f64, f64) {
    let k = argmax(drive);
    let total: f64 = drive.iter().sum();
    let rest: f64 = drive.iter().enumerate().filter(|&(i, _)| i != k).map(|(_, x)| x).sum();
    (k, drive[k] / total, rest / total)
}

/// Run one seed of the experiment. Streams: 0 = input events, 1 = the noise `Z`.
pub fn run(cfg: &Config, seed: u64) -> Outcome {
    let d = cfg.rates.len();
    let mut ev_rng = Rng::new(seed, 0);
    let mut z_rng = Rng::new(seed, 1);
    let total_rate: f64 = cfg.rates.iter().sum();
    let cum: Vec<f64> = cfg
        .rates
        .iter()
        .scan(0.0, |a, &l| {
            *a += l / total_rate;
            Some(*a)
        })
        .collect();
    let theta = cfg.theta_over_wmax * cfg.w_max;
    let mut w = vec![cfg.w_max; d];
    let mut drive = vec![0.0; d];
    let update_drive = |w: &[f64], drive: &mut [f64]| {
        for i in 0..d {
            drive[i] = cfg.rates[i] * cfg.efficacy_gain[i] * w[i];
        }
    };
    update_drive(&w, &mut drive);
    let mut p_max = vec![p_stats(&drive).1];
    let mut log_rest = vec![p_stats(&drive).2.ln()];
    let (mut v, mut t, mut n_in) = (0.0f64, 0.0f64, 0u64);
    let mut spikes_to_99 = None;
    let mut post = 0usize;
    while post < cfg.max_post_spikes {
        t += ev_rng.exponential(total_rate);
        let u = ev_rng.uniform();
        let src = cum.partition_point(|&c| c <= u).min(d - 1);
        n_in += 1;
        v += cfg.efficacy_gain[src] * w[src];
        if v < theta {
            continue;
        }
        // Post spike caused by input `src`.
        v = 0.0;
        post += 1;
        for i in 0..d {
            let b = if i == src { 1.0 } else { 0.0 };
            let z = z_rng.range(-1.0, 1.0);
            w[i] *= 1.0 + cfg.alpha * cfg.alpha_gain[i] * (b + z);
        }
        let m = w.iter().copied().fold(f64::MIN, f64::max);
        if m > 0.0 {
            let s = cfg.w_max / m;
            w.iter_mut().for_each(|x| *x *= s);
        }
        update_drive(&w, &mut drive);
        let (_, pm, rest) = p_stats(&drive);
        p_max.push(pm);
        log_rest.push(rest.max(f64::MIN_POSITIVE).ln());
        if spikes_to_99.is_none() && pm >= 0.99 {
            spikes_to_99 = Some(post);
        }
        if let Some(k) = spikes_to_99 {
            if post >= k + cfg.tail_len {
                break;
            }
        }
    }
    let tail_slope = match spikes_to_99 {
        Some(k) => {
            let end = (k + cfg.tail_len).min(log_rest.len() - 1);
            let xs: Vec<f64> = (k..=end).map(|i| i as f64).collect();
            ls_slope(&xs, &log_rest[k..=end])
        }
        None => f64::NAN,
    };
    Outcome {
        winner: p_stats(&drive).0,
        expected_winner: cfg.expected_winner(),
        spikes_to_99,
        tail_slope,
        p_max,
        weights: w,
        time_s: t,
        input_spikes: n_in,
    }
}

/// Summary over seeds, as the pass criteria count them.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub seeds: usize,
    /// Seeds whose winner is argmax `λ_i g_i`.
    pub correct: usize,
    /// Median post spikes until `p_max ≥ 0.99` (seeds that never reach it count as infinite).
    pub median_spikes_to_99: f64,
    /// Range of the tail slopes, in units of `α`.
    pub slope_over_alpha_min: f64,
    pub slope_over_alpha_max: f64,
}

/// Summarise the outcomes of several seeds (`alpha` scales the slopes).
pub fn summarise(outcomes: &[Outcome], alpha: f64) -> Summary {
    let correct = outcomes.iter().filter(|o| o.winner == o.expected_winner).count();
    let k99: Vec<f64> = outcomes.iter().map(|o| o.spikes_to_99.map_or(f64::INFINITY, |k| k as f64)).collect();
    let slopes: Vec<f64> = outcomes.iter().map(|o| o.tail_slope / alpha).collect();
    Summary {
        seeds: outcomes.len(),
        correct,
        median_spikes_to_99: super::median(&k99),
        slope_over_alpha_min: slopes.iter().copied().fold(f64::INFINITY, f64::min),
        slope_over_alpha_max: slopes.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

/// How the per-post rescale rounds in [`run_fixed_point`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RescaleRounding {
    /// `wscale` as the ISA defines it today (round to nearest).
    Nearest,
    /// A stochastic-rounding rescale (the proposed `wscaler`).
    Stochastic,
}

/// A fixed-point sketch of the chip program of `README.md` (not bit-exact to the emulator: the
/// event stream and `Z` come from [`Rng`], rounding draws from an `HwRng`): 16-bit accumulators
/// with `w_max = 255 << 7`, an 8-bit readout (nearest) as the neuron's weight, `θ = 765`,
/// `α(B+Z)` in Q16 (`α = 5243/2^19`), the product with the accumulator rounded stochastically,
/// then the rescale `acc ← acc · ((w_max << 16) / max) >> 16` with `rescale` rounding. No
/// mismatch. The tail slope is fitted over the 1000 post spikes after `p_max ≥ 0.99`, on the
/// points where `1 − p_max > 1e−4` (above the accumulator's resolution).
pub fn run_fixed_point(seed: u64, rescale: RescaleRounding) -> Outcome {
    use nm_isa::fixed_point::{shift_round, Rounding};
    use nm_isa::rng::HwRng;
    let rates = RATES;
    let d = rates.len();
    let mut ev_rng = Rng::new(seed, 0);
    let mut z_rng = Rng::new(seed, 1);
    let mut hw = HwRng::new(seed, 2);
    let total: f64 = rates.iter().sum();
    let w_max_acc: i64 = 255 << 7;
    let theta: i64 = 3 * 255;
    let mut acc = vec![w_max_acc; d];
    let (mut v, mut post, mut n_in) = (0i64, 0usize, 0u64);
    let stats = |acc: &[i64]| p_stats(&acc.iter().zip(&rates).map(|(&a, l)| a as f64 * l).collect::<Vec<_>>());
    let mut p_max = vec![stats(&acc).1];
    let mut log_rest = vec![stats(&acc).2.ln()];
    let mut spikes_to_99 = None;
    let mut time_s = 0.0;
    while post < 20_000 {
        time_s += ev_rng.exponential(total);
        let u = ev_rng.uniform() * total;
        let mut src = d - 1;
        let mut c = 0.0;
        for (i, l) in rates.iter().enumerate() {
            c += l;
            if u < c {
                src = i;
                break;
            }
        }
        n_in += 1;
        v += shift_round(acc[src], 7, Rounding::Nearest, &mut hw);
        if v < theta {
            continue;
        }
        v = 0;
        post += 1;
        for (i, a) in acc.iter_mut().enumerate() {
            let z = (z_rng.next_u64() >> 47) as i64 - 65536;
            let bz = z + if i == src { 65536 } else { 0 };
            let r0 = shift_round(bz * 5243, 19, Rounding::Nearest, &mut hw);
            *a += shift_round(*a * r0, 16, Rounding::Stochastic, &mut hw);
        }
        let m = acc.iter().copied().max().unwrap_or(1).max(1);
        let scale = (w_max_acc << 16) / m;
        let r = match rescale {
            RescaleRounding::Nearest => Rounding::Nearest,
            RescaleRounding::Stochastic => Rounding::Stochastic,
        };
        for a in acc.iter_mut() {
            *a = shift_round(*a * scale, 16, r, &mut hw);
        }
        let (_, pm, rest) = stats(&acc);
        p_max.push(pm);
        log_rest.push(rest.max(f64::MIN_POSITIVE).ln());
        if spikes_to_99.is_none() && pm >= 0.99 {
            spikes_to_99 = Some(post);
        }
        if spikes_to_99.is_some_and(|k| post >= k + 1000) {
            break;
        }
    }
    let floor = 1e-4f64.ln();
    let tail_slope = match spikes_to_99 {
        Some(k) => {
            let (xs, ys): (Vec<f64>, Vec<f64>) =
                (k..log_rest.len()).filter(|&i| log_rest[i] > floor).map(|i| (i as f64, log_rest[i])).unzip();
            ls_slope(&xs, &ys)
        }
        None => f64::NAN,
    };
    Outcome {
        winner: stats(&acc).0,
        expected_winner: d - 1,
        spikes_to_99,
        tail_slope,
        p_max,
        weights: acc.iter().map(|&a| a as f64 / w_max_acc as f64).collect(),
        time_s,
        input_spikes: n_in,
    }
}
