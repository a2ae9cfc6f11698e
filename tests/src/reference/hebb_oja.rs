//! Paper 4 (Miconi): plain Hebb, Grossberg's instar and Oja's rule as per-synapse updates, and
//! the two float checks: Oja finds the first principal component (check B), instar with
//! 1-winner-take-all finds cluster centres (check C). Check A (bit-exactness of the integer
//! update) lives on the chip side; [`hebb`], [`instar`] and [`oja`] are its float references.
//!
//! **Check B** ([`run_oja`]): `x ~ N(0, C)` in `d = 16`, `C = R diag(4, 2, 1, …, 1) Rᵀ` with a
//! random rotation `R` (**choice**: rotated basis, Gram–Schmidt of a Gaussian matrix, so that no
//! axis is privileged; `e₁` is the first column of `R`). `w` starts as a random unit vector;
//! each sample: `y = w·x`, `w_i += η a_i y (x_i − y w_i)` (`a_i` per-synapse learning-rate gain,
//! 1 on an ideal chip), `η = 0.005`, 20,000 samples.
//!
//! **Check C** ([`run_instar`]): 4 cluster means, random unit vectors in `d = 16`; a sample is a
//! mean (uniformly chosen) plus `N(0, (0.2/√d)²)` noise per component (not renormalised).
//! `K = 4` prototypes start as random unit vectors. Each sample: the winner is
//! `argmax_k (w_k · x − θ_k)` (1-WTA: `y_k = 1` for the winner only); the winner moves
//! `w_k += η a_{k,i} (x − w_k)` and is renormalised to unit length; every threshold moves
//! `θ_k += 0.01 (y_k − 1/K)` (toward 1/K firing). `η = 0.01`, 20,000 samples.

use super::Rng;

/// Plain Hebb: `Δw = η y x`.
#[inline]
pub fn hebb(eta: f64, x: f64, y: f64, _w: f64) -> f64 {
    eta * y * x
}

/// Instar: `Δw = η y (x − w)`.
#[inline]
pub fn instar(eta: f64, x: f64, y: f64, w: f64) -> f64 {
    eta * y * (x - w)
}

/// Oja: `Δw = η y (x − y w)`.
#[inline]
pub fn oja(eta: f64, x: f64, y: f64, w: f64) -> f64 {
    eta * y * (x - y * w)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: &mut [f64]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn random_unit(d: usize, rng: &mut Rng) -> Vec<f64> {
    let mut v: Vec<f64> = (0..d).map(|_| rng.gauss()).collect();
    normalise(&mut v);
    v
}

/// A random rotation (orthonormal columns, row-major `d × d`) by Gram–Schmidt.
pub fn random_rotation(d: usize, rng: &mut Rng) -> Vec<f64> {
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(d);
    while cols.len() < d {
        let mut v: Vec<f64> = (0..d).map(|_| rng.gauss()).collect();
        for c in &cols {
            let p = dot(&v, c);
            v.iter_mut().zip(c).for_each(|(x, ci)| *x -= p * ci);
        }
        if dot(&v, &v) > 1e-12 {
            normalise(&mut v);
            cols.push(v);
        }
    }
    let mut r = vec![0.0; d * d];
    for (j, c) in cols.iter().enumerate() {
        for i in 0..d {
            r[i * d + j] = c[i];
        }
    }
    r
}

/// Check B settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OjaConfig {
    pub d: usize,
    /// Covariance eigenvalues, largest first (missing ones are 1).
    pub eigenvalues: Vec<f64>,
    pub eta: f64,
    pub samples: usize,
    /// Rotate the eigenbasis randomly (else axis-aligned).
    pub rotate: bool,
    /// Per-synapse learning-rate gains (`None`: all 1).
    pub lr_gain: Option<Vec<f64>>,
}

impl OjaConfig {
    pub fn paper() -> OjaConfig {
        OjaConfig { d: 16, eigenvalues: vec![4.0, 2.0], eta: 0.005, samples: 20_000, rotate: true, lr_gain: None }
    }

    /// Per-synapse learning-rate gains `1 + rsd · N(0, 1)` from `chip_seed`.
    pub fn with_lr_mismatch(mut self, chip_seed: u64, rsd: f64) -> OjaConfig {
        let mut r = Rng::new(chip_seed, 0x3154);
        self.lr_gain = Some((0..self.d).map(|_| (1.0 + rsd * r.gauss()).max(0.05)).collect());
        self
    }
}

/// What check B measured.
#[derive(Debug, Clone, PartialEq)]
pub struct OjaOutcome {
    /// `|cos(w, e₁)|` at the end.
    pub abs_cos: f64,
    /// `‖w‖` at the end.
    pub norm: f64,
    /// `|cos(w, e₁)|` every 100 samples (index 0 = start).
    pub cos_trace: Vec<f64>,
    pub w: Vec<f64>,
    pub e1: Vec<f64>,
}

/// Run check B. Streams: 0 basis, 1 initial `w`, 2 samples.
pub fn run_oja(cfg: &OjaConfig, seed: u64) -> OjaOutcome {
    let d = cfg.d;
    let r = if cfg.rotate {
        random_rotation(d, &mut Rng::new(seed, 0))
    } else {
        (0..d * d).map(|k| if k / d == k % d { 1.0 } else { 0.0 }).collect()
    };
    let sd: Vec<f64> = (0..d).map(|k| cfg.eigenvalues.get(k).copied().unwrap_or(1.0).sqrt()).collect();
    let e1: Vec<f64> = (0..d).map(|i| r[i * d]).collect();
    let gain = cfg.lr_gain.clone().unwrap_or_else(|| vec![1.0; d]);
    let mut w = random_unit(d, &mut Rng::new(seed, 1));
    let mut rng = Rng::new(seed, 2);
    let mut g = vec![0.0; d];
    let mut x = vec![0.0; d];
    let mut cos_trace = vec![dot(&w, &e1).abs() / dot(&w, &w).sqrt()];
    for s in 0..cfg.samples {
        for k in 0..d {
            g[k] = sd[k] * rng.gauss();
        }
        for i in 0..d {
            x[i] = dot(&r[i * d..i * d + d], &g);
        }
        let y = dot(&w, &x);
        for i in 0..d {
            w[i] += oja(cfg.eta * gain[i], x[i], y, w[i]);
        }
        if (s + 1) % 100 == 0 {
            cos_trace.push(dot(&w, &e1).abs() / dot(&w, &w).sqrt());
        }
    }
    let norm = dot(&w, &w).sqrt();
    OjaOutcome { abs_cos: dot(&w, &e1).abs() / norm, norm, cos_trace, w, e1 }
}

/// Check B on given data, as the chip sees it: `samples` (one row per step), the true first
/// principal axis `e1`, the initial weights `w0` (the chip program's), learning rate `eta` and
/// per-synapse gains `gain` (the emulator's learning-rate gains, 1 on an ideal chip). Lets the
/// chip tests run the float rule on exactly the chip's samples.
pub fn run_oja_on(samples: &[Vec<f64>], e1: &[f64], w0: &[f64], eta: f64, gain: &[f64]) -> OjaOutcome {
    let mut w = w0.to_vec();
    let mut cos_trace = vec![dot(&w, e1).abs() / dot(&w, &w).sqrt()];
    for (s, x) in samples.iter().enumerate() {
        let y = dot(&w, x);
        for i in 0..w.len() {
            w[i] += oja(eta * gain[i], x[i], y, w[i]);
        }
        if (s + 1) % 100 == 0 {
            cos_trace.push(dot(&w, e1).abs() / dot(&w, &w).sqrt());
        }
    }
    let norm = dot(&w, &w).sqrt();
    OjaOutcome { abs_cos: dot(&w, e1).abs() / norm, norm, cos_trace, w, e1: e1.to_vec() }
}

/// Check C settings.
#[derive(Debug, Clone, PartialEq)]
pub struct InstarConfig {
    pub d: usize,
    pub clusters: usize,
    /// Noise standard deviation per component (`0.2/√d`).
    pub noise_sd: f64,
    pub eta: f64,
    /// Threshold adaptation rate.
    pub theta_rate: f64,
    pub samples: usize,
    /// Per-synapse learning-rate gains, row-major `clusters × d` (`None`: all 1).
    pub lr_gain: Option<Vec<f64>>,
}

impl InstarConfig {
    pub fn paper() -> InstarConfig {
        InstarConfig {
            d: 16,
            clusters: 4,
            noise_sd: 0.2 / 4.0,
            eta: 0.01,
            theta_rate: 0.01,
            samples: 20_000,
            lr_gain: None,
        }
    }

    /// Per-synapse learning-rate gains `1 + rsd · N(0, 1)` from `chip_seed`.
    pub fn with_lr_mismatch(mut self, chip_seed: u64, rsd: f64) -> InstarConfig {
        let mut r = Rng::new(chip_seed, 0x3155);
        self.lr_gain = Some((0..self.d * self.clusters).map(|_| (1.0 + rsd * r.gauss()).max(0.05)).collect());
        self
    }
}

/// What check C measured.
#[derive(Debug, Clone, PartialEq)]
pub struct InstarOutcome {
    /// For each prototype: the cluster it is closest to, and the cosine with that cluster's mean.
    pub assignment: Vec<(usize, f64)>,
    /// Whether every cluster is claimed by exactly one prototype.
    pub all_claimed: bool,
    /// Smallest cosine of a prototype with its own cluster mean.
    pub min_cos: f64,
    /// Winning counts per prototype over the run.
    pub wins: Vec<u64>,
    pub prototypes: Vec<Vec<f64>>,
    pub means: Vec<Vec<f64>>,
}

/// Run check C. Streams: 0 cluster means, 1 initial prototypes, 2 samples.
pub fn run_instar(cfg: &InstarConfig, seed: u64) -> InstarOutcome {
    let (d, k) = (cfg.d, cfg.clusters);
    let mut mr = Rng::new(seed, 0);
    let means: Vec<Vec<f64>> = (0..k).map(|_| random_unit(d, &mut mr)).collect();
    let mut pr = Rng::new(seed, 1);
    let w: Vec<Vec<f64>> = (0..k).map(|_| random_unit(d, &mut pr)).collect();
    let gain = cfg.lr_gain.clone().unwrap_or_else(|| vec![1.0; d * k]);
    let mut rng = Rng::new(seed, 2);
    let samples: Vec<Vec<f64>> = (0..cfg.samples)
        .map(|_| {
            let c = rng.below(k);
            (0..d).map(|i| means[c][i] + cfg.noise_sd * rng.gauss()).collect()
        })
        .collect();
    run_instar_on(&samples, &means, w, cfg.eta, cfg.theta_rate, &gain)
}

/// Check C on given data (the chip tests pass the chip program's samples, cluster centres and
/// initial weights): 1-WTA by exact argmax of `w_k · x − θ_k`, the winner moves
/// `w += η a (x − w)` and is renormalised, `θ_k += theta_rate (y_k − 1/K)`. `gain` is row-major
/// `K × d` (the emulator's learning-rate gains, 1 on an ideal chip).
pub fn run_instar_on(
    samples: &[Vec<f64>],
    means: &[Vec<f64>],
    mut w: Vec<Vec<f64>>,
    eta: f64,
    theta_rate: f64,
    gain: &[f64],
) -> InstarOutcome {
    let k = means.len();
    let d = means.first().map_or(0, Vec::len);
    let mut theta = vec![0.0; k];
    let mut wins = vec![0u64; k];
    let target_rate = 1.0 / k as f64;
    for x in samples {
        let win = (0..k)
            .map(|j| (j, dot(&w[j], x) - theta[j]))
            .fold((0, f64::NEG_INFINITY), |best, (j, v)| if v > best.1 { (j, v) } else { best })
            .0;
        wins[win] += 1;
        for i in 0..d {
            w[win][i] += instar(eta * gain[win * d + i], x[i], 1.0, w[win][i]);
        }
        normalise(&mut w[win]);
        for (j, t) in theta.iter_mut().enumerate() {
            let y = if j == win { 1.0 } else { 0.0 };
            *t += theta_rate * (y - target_rate);
        }
    }
    let (assignment, all_claimed, min_cos) = assign(&w, means);
    InstarOutcome { all_claimed, min_cos, assignment, wins, prototypes: w, means: means.to_vec() }
}

/// For each prototype the closest cluster mean and its cosine; whether every cluster is claimed
/// by exactly one prototype; the smallest of those cosines.
pub fn assign(prototypes: &[Vec<f64>], means: &[Vec<f64>]) -> (Vec<(usize, f64)>, bool, f64) {
    let k = means.len();
    let assignment: Vec<(usize, f64)> = prototypes
        .iter()
        .map(|wk| {
            let n = dot(wk, wk).sqrt().max(1e-300);
            (0..k)
                .map(|c| (c, dot(wk, &means[c]) / (n * dot(&means[c], &means[c]).sqrt().max(1e-300))))
                .fold((0, f64::NEG_INFINITY), |best, (c, v)| if v > best.1 { (c, v) } else { best })
        })
        .collect();
    let mut claimed = vec![0usize; k];
    for &(c, _) in &assignment {
        claimed[c] += 1;
    }
    let min_cos = assignment.iter().map(|a| a.1).fold(f64::INFINITY, f64::min);
    (assignment, claimed.iter().all(|&n| n == 1), min_cos)
}
