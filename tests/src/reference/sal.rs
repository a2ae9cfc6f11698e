//! Paper 3 (Gierlich, Baumbach, Kungl, Max, Petrovici): spike-based alignment learning (SAL)
//! makes reciprocal weights of a sampling network symmetric.
//!
//! Network: [`NeuralSampler`] units (rectangular PSP, `τ_syn = τ_ref = τ`); `W_ij` is the weight
//! `j → i`. A *spike* is a firing event, including a re-firing in the last refractory step
//! (consecutive spikes of one unit are therefore at least `τ` apart).
//!
//! **SAL** (pair-based STDP with a flipped kernel, exponential `k(Δ) = e^{−Δ/τ}`, all-to-all
//! pairs via traces): for `W_ij` with `Δ = t_i − t_j`, a pairing with `j` before `i` (`Δ > 0`)
//! depresses `W_ij` by `A_ij k(Δ)`, a pairing with `i` before `j` potentiates it by `A_ij k(|Δ|)`.
//! Same-step pairs (`Δ = 0`) count for neither. Traces are read before this step's spikes are
//! added, so every pairing has `|Δ| ≥ 1`. The pairings are summed over an epoch of `T` steps into
//! `S_ij` and applied as `ΔW_ij = η S_ij τ / T` at its end.
//!
//! **Check A** ([`run_check_a`]): two neurons, `W_01 = 1.5`, `W_10 = 0.5`, `b = (−0.5, −0.2)`,
//! `τ = 25`, `T = 1500`, `η = 0.03`, 1500 epochs; optional frozen `W_01` and per-synapse
//! amplitude gains `A_ij`.
//!
//! **Check B** ([`run_check_b`]): five neurons learn a target Boltzmann machine with the task
//! rule `ΔW_ij = η (⟨z_i z_j⟩_target − A_ij Ŝ_ij)`, `Δb_i = η (⟨z_i⟩_target − ν_i τ)` at each epoch
//! end, where `Ŝ_ij = (τ / T) Σ_pairs k_tri(Δ)` sums nearest-neighbour pairings (each spike of one
//! unit with the latest spike of the other, `|Δ| < τ`, same-step pairs once) with the symmetric
//! triangular kernel `k_tri(Δ) = 1 − |Δ|/τ`; `ν_i` is the spike count per step. For
//! rectangular windows of length `τ`, `τ k_tri(Δ)` is the overlap of the two windows, so `Ŝ` is
//! the coincidence rate `⟨z_i z_j⟩` seen through spike pairings. `A_ij = 1 + N(0, σ_A)` drawn
//! independently for the two directions (**choice**: the same amplitude scales the SAL pairings of
//! that synapse: one STDP circuit per synapse). Optionally SAL is added with `η_SAL`. `|W|`,
//! `|b|` are clipped at 2 and the diagonal stays 0.

use super::bm::moments_of;
use super::contrastive::smoothed_kl;
use super::{median, Bm, NeuralSampler, Rng};

/// A network with SAL / Hebbian pairing accumulators.
#[derive(Debug, Clone)]
struct Net {
    n: usize,
    tau: u32,
    w: Vec<f64>,
    b: Vec<f64>,
    sampler: NeuralSampler,
    spiked: Vec<bool>,
    /// Exponential traces `Σ e^{−(t − s)/τ}` over past spikes.
    trace: Vec<f64>,
    decay: f64,
    last_spike: Vec<Option<u64>>,
    /// SAL pairing sums (potentiation − depression), row-major.
    sal: Vec<f64>,
    /// Triangular nearest-neighbour pairing sums, symmetric, row-major.
    hebb: Vec<f64>,
    spikes: Vec<u64>,
    visited: Vec<u64>,
    t: u64,
    /// SAL pairing weights `(depression, potentiation, same-step pairs potentiate)`.
    timing: (f64, f64, bool),
}

impl Net {
    fn new(n: usize, tau: u32, w: Vec<f64>, b: Vec<f64>) -> Net {
        Net {
            n,
            tau,
            w,
            b,
            sampler: NeuralSampler::new(n, tau),
            spiked: vec![false; n],
            trace: vec![0.0; n],
            decay: (-1.0 / f64::from(tau)).exp(),
            last_spike: vec![None; n],
            sal: vec![0.0; n * n],
            hebb: vec![0.0; n * n],
            spikes: vec![0; n],
            visited: vec![0; 1 << n],
            t: 0,
            timing: (1.0, 1.0, false),
        }
    }

    fn clear_epoch(&mut self) {
        self.sal.iter_mut().for_each(|x| *x = 0.0);
        self.hebb.iter_mut().for_each(|x| *x = 0.0);
        self.spikes.iter_mut().for_each(|x| *x = 0);
    }

    /// One epoch of `steps` steps; `record` adds the visited states to the histogram.
    fn run_epoch(&mut self, steps: u32, rng: &mut Rng, record: bool) {
        let n = self.n;
        let tau = f64::from(self.tau);
        self.clear_epoch();
        for _ in 0..steps {
            let state = self.sampler.step(&self.w, &self.b, rng, &mut self.spiked);
            if record {
                self.visited[state] += 1;
            }
            let t = self.t;
            self.t += 1;
            for x in &mut self.trace {
                *x *= self.decay;
            }
            if self.spiked.iter().any(|&s| s) {
                for i in 0..n {
                    if !self.spiked[i] {
                        continue;
                    }
                    self.spikes[i] += 1;
                    for j in 0..n {
                        if j == i {
                            continue;
                        }
                        // SAL: i (post of W_ij) fires after j: depress W_ij; i (pre of W_ji)
                        // fires after j: potentiate W_ji.
                        let (dep, pot, same) = self.timing;
                        let now = if same && self.spiked[j] { 1.0 } else { 0.0 };
                        self.sal[i * n + j] -= dep * self.trace[j];
                        self.sal[j * n + i] += pot * (self.trace[j] + now);
                        // Hebbian pairing with j's latest spike. A same-step pair is counted
                        // once: by the higher index, when the lower one's time is already `t`.
                        match self.last_spike[j] {
                            Some(tj) if t - tj < u64::from(self.tau) => {
                                let k = 1.0 - (t - tj) as f64 / tau;
                                self.hebb[i * n + j] += k;
                                self.hebb[j * n + i] += k;
                            }
                            _ => {}
                        }
                    }
                    self.last_spike[i] = Some(t);
                }
                for i in 0..n {
                    if self.spiked[i] {
                        self.trace[i] += 1.0;
                    }
                }
            }
        }
    }
}

/// SAL pairing weights as the chip sees them. A pre spike at `t_j` reaches the synapse at
/// `t_j + 1`; `Pre` handlers read post traces without this step's post spikes, `Post` handlers
/// read pre traces with this step's arrivals (`LearnRule` order). So for `Δ = t_i − t_j`:
/// depression for `Δ ≥ 1` with `e^{−(Δ−1)/τ}` (`e^{1/τ}` times the paper's), potentiation for
/// `Δ ≤ 0` with `e^{−(|Δ|+1)/τ}` (`e^{−1/τ}` times the paper's, and same-step pairs now
/// potentiate both directions). Returns `(dep, pot · pot_gain, true)`.
pub fn chip_timing(tau: u32, pot_gain: f64) -> (f64, f64, bool) {
    let e = (1.0 / f64::from(tau)).exp();
    (e, pot_gain / e, true)
}

/// Check A settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckA {
    pub w01: f64,
    pub w10: f64,
    pub b: [f64; 2],
    pub tau: u32,
    pub epoch_steps: u32,
    pub eta: f64,
    pub epochs: usize,
    /// Keep `W_01` at its initial value.
    pub freeze_w01: bool,
    /// STDP amplitude gains `(A_01, A_10)`.
    pub amp: [f64; 2],
    /// Chip timing: `Some(pot_gain)` models the one-step synaptic delay of the chip's pre
    /// packets and its handler order (see [`chip_timing`]), with the potentiation amplitude
    /// multiplied by `pot_gain`; `None` is the paper's timing.
    pub chip_timing: Option<f64>,
}

impl CheckA {
    /// The settings of `learning-rules.md`.
    pub fn paper() -> CheckA {
        CheckA {
            w01: 1.5,
            w10: 0.5,
            b: [-0.5, -0.2],
            tau: 25,
            epoch_steps: 1500,
            eta: 0.03,
            epochs: 1500,
            freeze_w01: false,
            amp: [1.0, 1.0],
            chip_timing: None,
        }
    }

    /// Amplitude gains `1 + rsd · N(0, 1)` from `chip_seed`.
    pub fn with_amp_mismatch(mut self, chip_seed: u64, rsd: f64) -> CheckA {
        let mut r = Rng::new(chip_seed, 0x3153);
        self.amp = [(1.0 + rsd * r.gauss()).max(0.05), (1.0 + rsd * r.gauss()).max(0.05)];
        self
    }
}

/// Check A trajectory: after each epoch (index 0 = start).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckAOutcome {
    pub w01: Vec<f64>,
    pub w10: Vec<f64>,
}

impl CheckAOutcome {
    /// `|W_01 − W_10|` after epoch `e`.
    pub fn asym(&self, e: usize) -> f64 {
        (self.w01[e] - self.w10[e]).abs()
    }
    /// Median asymmetry over epochs `lo..=hi`.
    pub fn median_asym(&self, lo: usize, hi: usize) -> f64 {
        let hi = hi.min(self.w01.len() - 1);
        median(&(lo..=hi).map(|e| self.asym(e)).collect::<Vec<_>>())
    }
    /// Largest relative deviation of `W_01 + W_10` from its start.
    pub fn max_sum_drift(&self) -> f64 {
        let s0 = self.w01[0] + self.w10[0];
        self.w01.iter().zip(&self.w10).map(|(a, b)| ((a + b - s0) / s0).abs()).fold(0.0, f64::max)
    }
}

/// Run check A (stream 1 of `seed` drives the neurons).
pub fn run_check_a(cfg: &CheckA, seed: u64) -> CheckAOutcome {
    let mut net = Net::new(2, cfg.tau, vec![0.0, cfg.w01, cfg.w10, 0.0], cfg.b.to_vec());
    if let Some(g) = cfg.chip_timing {
        net.timing = chip_timing(cfg.tau, g);
    }
    let mut rng = Rng::new(seed, 1);
    let scale = cfg.eta * f64::from(cfg.tau) / f64::from(cfg.epoch_steps);
    let mut out = CheckAOutcome { w01: vec![cfg.w01], w10: vec![cfg.w10] };
    for _ in 0..cfg.epochs {
        net.run_epoch(cfg.epoch_steps, &mut rng, false);
        if !cfg.freeze_w01 {
            net.w[1] += scale * cfg.amp[0] * net.sal[1];
        }
        net.w[2] += scale * cfg.amp[1] * net.sal[2];
        out.w01.push(net.w[1]);
        out.w10.push(net.w[2]);
    }
    out
}

/// Check B settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckB {
    pub n: usize,
    pub tau: u32,
    pub epoch_steps: u32,
    pub epochs: usize,
    pub eta: f64,
    /// SAL learning rate; 0 disables SAL.
    pub eta_sal: f64,
    /// Standard deviation of the STDP amplitude noise `A_ij = 1 + N(0, σ)`.
    pub amp_sd: f64,
    /// Whether the amplitude noise also scales the SAL pairings.
    pub amp_on_sal: bool,
    /// Whether the amplitude noise scales the whole update of the synapse, target term included
    /// (what a per-synapse learning-rate gain on the weight write does on the chip; `false` in
    /// the document's check, where only the STDP-measured terms carry it).
    pub amp_on_target: bool,
    pub clip: f64,
    /// Fraction of the final epochs over which the asymmetry and the sampled KL are averaged.
    pub tail_fraction: f64,
}

impl CheckB {
    /// The settings of `learning-rules.md` at learning rate `eta` (`η_SAL = η` when `sal`).
    pub fn paper(eta: f64, epochs: usize, sal: bool) -> CheckB {
        CheckB {
            n: 5,
            tau: 10,
            epoch_steps: 1000,
            epochs,
            eta,
            eta_sal: if sal { eta } else { 0.0 },
            amp_sd: 0.05,
            amp_on_sal: true,
            amp_on_target: false,
            clip: 2.0,
            tail_fraction: 0.1,
        }
    }
}

/// What a check-B run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckBOutcome {
    /// `var(W − Wᵀ)` over the off-diagonal entries, after each epoch (index 0 = start).
    pub asym_var: Vec<f64>,
    /// Mean of `asym_var` over the tail epochs.
    pub tail_asym_var: f64,
    /// `KL(target ‖ visited states)` over the tail epochs.
    pub sampled_kl: f64,
    /// Exact KL of the symmetrised model `(W + Wᵀ)/2` (for reference).
    pub exact_kl_symmetrised: f64,
    /// Largest `|W_ij|` at the end, and how many entries sit at the clip.
    pub max_abs_w: f64,
    pub clipped: usize,
    pub target: Bm,
    pub model: Bm,
}

/// `var(W − Wᵀ)` over the off-diagonal entries (their mean is 0).
pub fn asym_var(n: usize, w: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let d = w[i * n + j] - w[j * n + i];
                s += d * d;
            }
        }
    }
    s / (n * (n - 1)) as f64
}

/// Run check B on the target and amplitude noise of `seed` (target: stream 10; amplitudes:
/// stream 11; neurons: stream 1).
pub fn run_check_b(cfg: &CheckB, seed: u64) -> CheckBOutcome {
    let n = cfg.n;
    let target = Bm::random(n, &mut Rng::new(seed, 10));
    let p_target = target.distribution();
    let (c_t, m_t) = moments_of(n, &p_target);
    let mut ar = Rng::new(seed, 11);
    let amp: Vec<f64> = (0..n * n).map(|_| 1.0 + cfg.amp_sd * ar.gauss()).collect();
    let mut net = Net::new(n, cfg.tau, vec![0.0; n * n], vec![0.0; n]);
    let mut rng = Rng::new(seed, 1);
    let scale = f64::from(cfg.tau) / f64::from(cfg.epoch_steps);
    let tail_from = cfg.epochs - ((cfg.epochs as f64 * cfg.tail_fraction).round() as usize).clamp(1, cfg.epochs);
    let mut asym = vec![asym_var(n, &net.w)];
    for e in 0..cfg.epochs {
        net.run_epoch(cfg.epoch_steps, &mut rng, e >= tail_from);
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let k = i * n + j;
                let s_hat = amp[k] * net.hebb[k] * scale;
                let sal_amp = if cfg.amp_on_sal { amp[k] } else { 1.0 };
                let c = if cfg.amp_on_target { amp[k] * c_t[k] } else { c_t[k] };
                let dw = cfg.eta * (c - s_hat) + cfg.eta_sal * sal_amp * net.sal[k] * scale;
                net.w[k] = (net.w[k] + dw).clamp(-cfg.clip, cfg.clip);
            }
            let nu_tau = net.spikes[i] as f64 * scale;
            net.b[i] = (net.b[i] + cfg.eta * (m_t[i] - nu_tau)).clamp(-cfg.clip, cfg.clip);
        }
        asym.push(asym_var(n, &net.w));
    }
    let tail = &asym[tail_from + 1..];
    let model = Bm { n, w: net.w.clone(), b: net.b.clone() };
    let max_abs_w = net.w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    CheckBOutcome {
        tail_asym_var: tail.iter().sum::<f64>() / tail.len() as f64,
        sampled_kl: smoothed_kl(&p_target, &net.visited),
        exact_kl_symmetrised: super::kl_divergence(&p_target, &model.distribution()),
        max_abs_w,
        clipped: net.w.iter().filter(|x| x.abs() >= cfg.clip).count(),
        asym_var: asym,
        target,
        model,
    }
}
