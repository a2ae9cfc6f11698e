//! Floating-point references of the five learning experiments of `docs/learning-rules.md`.
//!
//! Each module runs one experiment in plain `f64`, exactly as the document states it, and returns
//! the metrics its pass criteria need, so that an integration test can compare the chip against
//! the reference in the same run. Every random draw comes from a seeded [`Rng`] (ChaCha8 with a
//! stream id per purpose and a hand-written Box–Muller Gaussian, so the streams never depend on a
//! `rand` version). How each experiment maps onto the chip is in `README.md` beside this file.
//!
//! * [`stdp_select`] — paper 1, Hebbian STDP selects the most active input.
//! * [`contrastive`] — paper 2, temporally local contrastive learning of a Boltzmann machine.
//! * [`sal`] — paper 3, spike-based alignment learning (checks A and B).
//! * [`hebb_oja`] — paper 4, plain Hebb, instar and Oja (checks B and C; float rules for check A).
//! * [`pitchfork`] — paper 5, Hebbian to anti-Hebbian pitchfork in a two-neuron rate network.

// Numerical kernels index several parallel arrays at once; index loops read best there.
#![allow(clippy::needless_range_loop)]

pub mod contrastive;
pub mod hebb_oja;
pub mod pitchfork;
pub mod sal;
pub mod stdp_select;

pub mod bm;
pub use bm::{Bm, ExactSampler, NeuralSampler};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A seeded random stream: ChaCha8 keyed by `seed`, on ChaCha stream `stream`.
///
/// Uniforms use the top 53 bits of a 64-bit draw; Gaussians use Box–Muller with the second value
/// cached, so a stream is fully determined by `(seed, stream)` and the order of calls.
#[derive(Debug, Clone)]
pub struct Rng {
    inner: ChaCha8Rng,
    spare: Option<f64>,
}

impl Rng {
    /// The stream `stream` of seed `seed`.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        Rng { inner, spare: None }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Uniform integer in `0..n` (`n > 0`; 0 for `n = 0`), by multiply-shift (bias below 2^-32 for
    /// the small `n` used here).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.inner.next_u64()) * n as u128) >> 64) as usize
    }

    /// Exponential with rate `rate` (mean `1/rate`).
    #[inline]
    pub fn exponential(&mut self, rate: f64) -> f64 {
        // 1 - U is in (0, 1], so the logarithm is finite.
        -(1.0 - self.uniform()).ln() / rate
    }

    /// Standard normal, Box–Muller (polar-free form), second value cached.
    pub fn gauss(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// Logistic function.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Median of a slice (mean of the two middle values for even length; NaN for an empty slice).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// `KL(p ‖ q) = Σ p ln(p / q)` over states with `p > 0`. A state with `p > 0` and `q = 0` gives
/// infinity.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(&pi, _)| pi > 0.0)
        .map(|(&pi, &qi)| if qi > 0.0 { pi * (pi / qi).ln() } else { f64::INFINITY })
        .sum()
}

/// Normalise a histogram of visit counts to a distribution.
pub fn normalise(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    let t = total.max(1) as f64;
    counts.iter().map(|&c| c as f64 / t).collect()
}

/// Least-squares slope of `ys` against `xs` (NaN with fewer than two points).
pub fn ls_slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return f64::NAN;
    }
    let mx = xs[..n].iter().sum::<f64>() / n as f64;
    let my = ys[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for i in 0..n {
        sxy += (xs[i] - mx) * (ys[i] - my);
        sxx += (xs[i] - mx) * (xs[i] - mx);
    }
    sxy / sxx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = {
            let mut r = Rng::new(3, 1);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(3, 1);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(3, 2);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn gauss_has_unit_moments() {
        let mut r = Rng::new(1, 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.gauss()).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01, "{m}");
        assert!((v - 1.0).abs() < 0.02, "{v}");
    }

    #[test]
    fn helpers() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!((ls_slope(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]) - 2.0).abs() < 1e-12);
        assert_eq!(kl_divergence(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        assert!(kl_divergence(&[0.5, 0.5], &[1.0, 0.0]).is_infinite());
    }
}
