//! Paper 2 (Williams, Bredenberg, Lajoie): temporally local contrastive learning of a fully
//! visible Boltzmann machine, with the neural-sampling network as the free-phase sampler.
//!
//! * Target: `n = 6` units, `W` symmetric `U(−1, 1)`, zero diagonal, `b ~ U(−1, 1)`
//!   ([`Bm::random`], drawn from stream 10 of the seed).
//! * Model: `W = 0`, `b = 0` at the start; the network state carries over between phases.
//! * Phases: the type `ξ` (1 = clamped, 0 = free) is drawn `Bernoulli(b)` at each phase boundary;
//!   phases last `K = 5τ` steps ([`PhaseMode::Fixed`]), or end with probability `1/K` per step
//!   ([`PhaseMode::Geometric`]), or alternate clamp/free every `K` steps
//!   ([`PhaseMode::Alternating`], the classic two-phase baseline; it always uses `b = 1/2`, i.e.
//!   `g = ±2`, because both phases take half the time).
//! * Clamped phase: the units are forced to a sample of the target distribution. **Choice**: a
//!   fresh exact sample every step ([`ClampMode::PerStep`], the default; [`ClampMode::PerPhase`]
//!   holds one sample for the whole phase). A clamp forces the neuron's draw: a unit clamped to 1
//!   fires (refractory counter = τ), a unit clamped to 0 is silenced (counter = 0). So after a
//!   clamped phase the units that were on stay on until their window ends.
//! * Free phase: one step of [`NeuralSampler`] (or of naive synchronous Gibbs for the negative
//!   control, [`Sampler::NaiveGibbs`]).
//! * Learning, every step, with the state `z` after this step's update:
//!   `ΔW_ij = η g(ξ) z_i z_j` (i ≠ j), `Δb_i = η g(ξ) z_i`, `g(1) = 1/b`, `g(0) = −1/(1 − b)`,
//!   optionally times a per-synapse learning-rate gain (mismatch).
//! * Chip-faithful variant ([`Config::pre_lag`]): the pre-synaptic state seen one step late.
//! * Metric: the exact `KL(target ‖ model)` by enumeration at `checkpoints` evenly spaced points;
//!   the criterion uses the median over the last third. Also the KL of the sampler's visited
//!   free-phase states in the last third against the target.

use super::bm::{moments_of, ExactSampler};
use super::{kl_divergence, median, normalise, Bm, NeuralSampler, Rng};

/// How phases are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseMode {
    Fixed,
    Geometric,
    Alternating,
}

/// How the clamped phase presents data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClampMode {
    /// A fresh exact sample of the target every step.
    PerStep,
    /// One exact sample held for the whole phase.
    PerPhase,
    /// A fresh exact sample every `m` steps of the global clock, whatever the phases do (what a
    /// `Patterns` input with `present_steps = m` gives on the chip).
    Every(u32),
}

/// The free-phase sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// Neural sampling with refractory window τ.
    Neural,
    /// Naive synchronous Gibbs (every unit redraws from `σ(u)` at once).
    NaiveGibbs,
}

/// Experiment settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n: usize,
    pub tau: u32,
    /// Phase length `K` (mean length for geometric phases).
    pub phase_len: u32,
    pub phase_mode: PhaseMode,
    pub clamp_mode: ClampMode,
    pub sampler: Sampler,
    /// Probability of a clamped phase.
    pub b: f64,
    pub eta: f64,
    pub steps: u64,
    /// Exact-KL checkpoints over the run.
    pub checkpoints: usize,
    /// Per-synapse learning-rate gains, row-major `n × n` (and `n` more for the biases); `None`
    /// on an ideal chip.
    pub lr_gain: Option<Vec<f64>>,
    /// Learn from `z_i(t) z_j(t − 1)` instead of `z_i(t) z_j(t)`: what a synapse sees when the
    /// pre-synaptic state reaches it through a one-step synaptic delay (chip-faithful variant;
    /// `false` in the paper's rule).
    pub pre_lag: bool,
    /// Chip-style rectangular PSP: the synaptic current integrates `±W_ij` (the weight at the
    /// time of the change) when unit `j` switches on or off, instead of being `Σ_j W_ij z_j`
    /// with the current weights (`false` in the paper's model).
    pub psp_from_changes: bool,
}

impl Config {
    /// The check: `n = 6`, `K = 5τ`, `η · steps = 160`, per-step clamping, neural sampling.
    pub fn paper(tau: u32, b: f64, phase_mode: PhaseMode, steps: u64) -> Config {
        Config {
            n: 6,
            tau,
            phase_len: 5 * tau,
            phase_mode,
            clamp_mode: ClampMode::PerStep,
            sampler: Sampler::Neural,
            b,
            eta: 160.0 / steps as f64,
            steps,
            checkpoints: 150,
            lr_gain: None,
            pre_lag: false,
            psp_from_changes: false,
        }
    }

    /// Per-synapse learning-rate gains `1 + rsd · N(0, 1)` from `chip_seed` (weights row-major,
    /// then biases).
    pub fn with_lr_mismatch(mut self, chip_seed: u64, rsd: f64) -> Config {
        let mut r = Rng::new(chip_seed, 0x3152);
        let n = self.n;
        self.lr_gain = Some((0..n * n + n).map(|_| (1.0 + rsd * r.gauss()).max(0.05)).collect());
        self
    }
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `(step, exact KL(target ‖ model))` at each checkpoint (step 0 included).
    pub kl_trace: Vec<(u64, f64)>,
    /// Median exact KL over the checkpoints of the last third.
    pub median_kl_last_third: f64,
    /// KL(target ‖ visited free-phase states) over the last third.
    pub sampler_kl_last_third: f64,
    /// Largest `|W_ij|` of the model divided by the target's.
    pub weight_ratio: f64,
    /// With [`Config::psp_from_changes`]: the largest `|syn_i − Σ_j W_ij z_j|` at the end.
    pub psp_error: f64,
    pub target: Bm,
    pub model: Bm,
}

/// The target of seed `seed`.
pub fn target(n: usize, seed: u64) -> Bm {
    Bm::random(n, &mut Rng::new(seed, 10))
}

/// Run one seed. Streams: 0 phases, 1 sampler, 2 clamp samples, 10 target.
pub fn run(cfg: &Config, seed: u64) -> Outcome {
    let n = cfg.n;
    let target = target(n, seed);
    let p_target = target.distribution();
    let data = ExactSampler::new(&p_target);
    let mut model = Bm::zeros(n);
    let mut phase_rng = Rng::new(seed, 0);
    let mut s_rng = Rng::new(seed, 1);
    let mut d_rng = Rng::new(seed, 2);
    let mut sampler = NeuralSampler::new(n, cfg.tau);
    let mut spiked = vec![false; n];
    let b_eff = if cfg.phase_mode == PhaseMode::Alternating { 0.5 } else { cfg.b };
    let (g1, g0) = (1.0 / b_eff, -1.0 / (1.0 - b_eff));
    let k = u64::from(cfg.phase_len.max(1));
    let p_end = 1.0 / k as f64;
    let check_every = (cfg.steps / cfg.checkpoints.max(1) as u64).max(1);
    let third = cfg.steps - cfg.steps / 3;
    let mut kl_trace = vec![(0, kl_divergence(&p_target, &model.distribution()))];
    let mut visited = vec![0u64; 1 << n];
    let gain = cfg.lr_gain.clone().unwrap_or_else(|| vec![1.0; n * n + n]);
    let mut xi = true;
    let mut phase_left = 0u64;
    let mut phase_no = 0u64;
    let mut new_phase = true;
    let mut phase_sample = 0usize;
    let mut active = Vec::with_capacity(n);
    let mut prev_state = 0usize;
    let mut syn = vec![0.0; n];
    for t in 0..cfg.steps {
        // Phase boundary.
        let boundary = match cfg.phase_mode {
            PhaseMode::Fixed | PhaseMode::Alternating => phase_left == 0,
            PhaseMode::Geometric => new_phase,
        };
        if boundary {
            xi = match cfg.phase_mode {
                PhaseMode::Alternating => phase_no.is_multiple_of(2),
                _ => phase_rng.bernoulli(cfg.b),
            };
            phase_no += 1;
            phase_left = k;
            new_phase = false;
            if cfg.clamp_mode == ClampMode::PerPhase {
                phase_sample = data.sample(&mut d_rng);
            }
        }
        if let ClampMode::Every(m) = cfg.clamp_mode {
            if t % u64::from(m.max(1)) == 0 {
                phase_sample = data.sample(&mut d_rng);
            }
        }
        // Network update.
        let state = if xi {
            let s = match cfg.clamp_mode {
                ClampMode::PerStep => data.sample(&mut d_rng),
                ClampMode::PerPhase | ClampMode::Every(_) => phase_sample,
            };
            sampler.clamp(s);
            s
        } else {
            let s = match cfg.sampler {
                Sampler::Neural if cfg.psp_from_changes => {
                    sampler.step_with_input(&syn, &model.b, &mut s_rng, &mut spiked)
                }
                Sampler::Neural => sampler.step(&model.w, &model.b, &mut s_rng, &mut spiked),
                Sampler::NaiveGibbs => sampler.step_naive_gibbs(&model.w, &model.b, &mut s_rng),
            };
            if t >= third {
                visited[s] += 1;
            }
            s
        };
        // State-change packets (delivered for the next step's current).
        let changed = state ^ prev_state;
        if cfg.psp_from_changes && changed != 0 {
            for j in (0..n).filter(|&j| changed >> j & 1 == 1) {
                let sign = if state >> j & 1 == 1 { 1.0 } else { -1.0 };
                for i in 0..n {
                    syn[i] += sign * model.w[i * n + j];
                }
            }
        }
        // Learning.
        let lr = cfg.eta * if xi { g1 } else { g0 };
        let pre_state = if cfg.pre_lag { prev_state } else { state };
        prev_state = state;
        active.clear();
        active.extend((0..n).filter(|&i| state >> i & 1 == 1));
        for &i in &active {
            model.b[i] += lr * gain[n * n + i];
            for j in 0..n {
                if i != j && pre_state >> j & 1 == 1 {
                    model.w[i * n + j] += lr * gain[i * n + j];
                }
            }
        }
        // Phase end.
        phase_left = phase_left.saturating_sub(1);
        if cfg.phase_mode == PhaseMode::Geometric && phase_rng.bernoulli(p_end) {
            new_phase = true;
        }
        if (t + 1) % check_every == 0 {
            kl_trace.push((t + 1, kl_divergence(&p_target, &model.distribution())));
        }
    }
    let last: Vec<f64> = kl_trace.iter().filter(|(s, _)| *s > third).map(|&(_, k)| k).collect();
    let tw = target.w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mw = model.w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let psp_error = (0..n)
        .map(|i| {
            let exact: f64 = (0..n).filter(|&j| prev_state >> j & 1 == 1).map(|j| model.w[i * n + j]).sum();
            (syn[i] - exact).abs()
        })
        .fold(0.0, f64::max);
    Outcome {
        psp_error: if cfg.psp_from_changes { psp_error } else { 0.0 },
        median_kl_last_third: median(&last),
        sampler_kl_last_third: smoothed_kl(&p_target, &visited),
        weight_ratio: mw / tw,
        kl_trace,
        target,
        model,
    }
}

/// `KL(p ‖ counts)` with half a count added to every state (so an unvisited state is finite).
pub fn smoothed_kl(p: &[f64], counts: &[u64]) -> f64 {
    let total = counts.iter().sum::<u64>() as f64 + 0.5 * counts.len() as f64;
    let q: Vec<f64> = counts.iter().map(|&c| (c as f64 + 0.5) / total).collect();
    kl_divergence(p, &q)
}

/// The sampler check: run a sampler on the fixed `bm` for `burn_in + samples` steps and return
/// `KL(exact ‖ visited)` over the samples. Stream 1 of `seed`.
pub fn sampler_kl(bm: &Bm, sampler: Sampler, tau: u32, samples: u64, seed: u64) -> f64 {
    let n = bm.n;
    let mut s = NeuralSampler::new(n, tau);
    let mut rng = Rng::new(seed, 1);
    let mut spiked = vec![false; n];
    let mut counts = vec![0u64; 1 << n];
    let burn_in = 20 * u64::from(tau);
    for t in 0..burn_in + samples {
        let st = match sampler {
            Sampler::Neural => s.step(&bm.w, &bm.b, &mut rng, &mut spiked),
            Sampler::NaiveGibbs => s.step_naive_gibbs(&bm.w, &bm.b, &mut rng),
        };
        if t >= burn_in {
            counts[st] += 1;
        }
    }
    kl_divergence(&bm.distribution(), &normalise(&counts))
}

/// Exact moments of the target of `seed`, for chip-side comparisons.
pub fn target_moments(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    moments_of(n, &target(n, seed).distribution())
}
