//! Small fully visible Boltzmann machines (exact distribution by enumeration) and the
//! discrete-time neural-sampling network of papers 2 and 3.

use super::{sigmoid, Rng};

/// A Boltzmann machine over `n` binary units, `p(z) ∝ exp(Σ_{i<j} W_ij z_i z_j + Σ_i b_i z_i)`.
///
/// `w` is row-major `n × n`; row `i` holds the weights *into* unit `i` (`u_i = b_i + Σ_j W_ij z_j`).
/// A state is a bit set: bit `i` is `z_i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bm {
    pub n: usize,
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

impl Bm {
    /// All weights and biases zero (the uniform distribution).
    pub fn zeros(n: usize) -> Bm {
        Bm { n, w: vec![0.0; n * n], b: vec![0.0; n] }
    }

    /// The random target of papers 2 and 3: `W` symmetric with entries `U(-1, 1)`, zero diagonal,
    /// biases `U(-1, 1)`. Draw order: `W_ij` for `i < j` row by row, then `b`.
    pub fn random(n: usize, rng: &mut Rng) -> Bm {
        let mut m = Bm::zeros(n);
        for i in 0..n {
            for j in i + 1..n {
                let v = rng.range(-1.0, 1.0);
                m.w[i * n + j] = v;
                m.w[j * n + i] = v;
            }
        }
        for i in 0..n {
            m.b[i] = rng.range(-1.0, 1.0);
        }
        m
    }

    /// The unnormalised log-probability of `state`, using the upper triangle of `w` (the lower
    /// one too if `w` is asymmetric: the pair term is `(W_ij + W_ji) / 2`).
    pub fn log_weight(&self, state: usize) -> f64 {
        let n = self.n;
        let mut e = 0.0;
        for i in 0..n {
            if state >> i & 1 == 1 {
                e += self.b[i];
                for j in i + 1..n {
                    if state >> j & 1 == 1 {
                        e += 0.5 * (self.w[i * n + j] + self.w[j * n + i]);
                    }
                }
            }
        }
        e
    }

    /// The exact distribution over all `2^n` states.
    pub fn distribution(&self) -> Vec<f64> {
        let logs: Vec<f64> = (0..1usize << self.n).map(|s| self.log_weight(s)).collect();
        let m = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ws: Vec<f64> = logs.iter().map(|l| (l - m).exp()).collect();
        let z: f64 = ws.iter().sum();
        ws.iter().map(|w| w / z).collect()
    }

    /// Exact moments `(⟨z_i z_j⟩ as a row-major n × n matrix with ⟨z_i⟩ on the diagonal, ⟨z_i⟩)`.
    pub fn moments(&self) -> (Vec<f64>, Vec<f64>) {
        moments_of(self.n, &self.distribution())
    }
}

/// Moments of a distribution over `2^n` states: `(⟨z_i z_j⟩ row-major, ⟨z_i⟩)`.
pub fn moments_of(n: usize, p: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0.0; n * n];
    let mut m = vec![0.0; n];
    for (s, &ps) in p.iter().enumerate() {
        for i in 0..n {
            if s >> i & 1 == 1 {
                m[i] += ps;
                for j in 0..n {
                    if s >> j & 1 == 1 {
                        c[i * n + j] += ps;
                    }
                }
            }
        }
    }
    (c, m)
}

/// Exact sampling from a distribution over states by inverse CDF.
#[derive(Debug, Clone)]
pub struct ExactSampler {
    cdf: Vec<f64>,
}

impl ExactSampler {
    pub fn new(p: &[f64]) -> ExactSampler {
        let mut acc = 0.0;
        let cdf = p
            .iter()
            .map(|&x| {
                acc += x;
                acc
            })
            .collect();
        ExactSampler { cdf }
    }

    /// One state.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.uniform() * self.cdf.last().copied().unwrap_or(1.0);
        self.cdf.partition_point(|&c| c <= u).min(self.cdf.len().saturating_sub(1))
    }
}

/// The discrete-time neural-sampling network (Buesing et al. 2011) as the chip runs it: all units
/// update in parallel from the previous step's states.
///
/// Unit `i` has a refractory counter `ζ_i`. If `ζ_i > 1` it counts down and `z_i` stays 1.
/// Otherwise (`ζ_i ∈ {0, 1}`: a unit in its last refractory step may fire again) it fires with
/// probability `σ(u_i − ln τ)`, setting `ζ_i = τ`, else `ζ_i = 0`. `z_i = [ζ_i > 0]`, so a spike
/// keeps the unit active for exactly `τ` steps, and consecutive spikes are at least `τ` apart.
/// The membrane potential uses a rectangular PSP of the same length: `u_i = b_i + Σ_j W_ij z_j`
/// with the states of the previous step.
#[derive(Debug, Clone)]
pub struct NeuralSampler {
    pub n: usize,
    pub tau: u32,
    log_tau: f64,
    counter: Vec<u32>,
    z: Vec<f64>,
    u: Vec<f64>,
}

impl NeuralSampler {
    /// All units silent and not refractory.
    pub fn new(n: usize, tau: u32) -> NeuralSampler {
        let tau = tau.max(1);
        NeuralSampler { n, tau, log_tau: f64::from(tau).ln(), counter: vec![0; n], z: vec![0.0; n], u: vec![0.0; n] }
    }

    /// The current state as a bit set.
    #[inline]
    pub fn state(&self) -> usize {
        self.z.iter().enumerate().fold(0, |s, (i, &z)| s | (usize::from(z > 0.5) << i))
    }

    /// The current states `z_i` (0.0 or 1.0).
    #[inline]
    pub fn z(&self) -> &[f64] {
        &self.z
    }

    /// One step of the sampler with weights `w` (row `i` = into unit `i`) and biases `b`;
    /// `spiked[i]` reports whether unit `i` fired this step. Returns the new state.
    #[inline]
    pub fn step(&mut self, w: &[f64], b: &[f64], rng: &mut Rng, spiked: &mut [bool]) -> usize {
        let n = self.n;
        for i in 0..n {
            let row = &w[i * n..i * n + n];
            self.u[i] = b[i] + row.iter().zip(&self.z).map(|(a, z)| a * z).sum::<f64>();
        }
        self.draw(rng, spiked)
    }

    /// One step with the synaptic input given (`u_i = b_i + syn_i`) instead of computed from
    /// the weights: for a chip-style current that integrates state-change packets.
    #[inline]
    pub fn step_with_input(&mut self, syn: &[f64], b: &[f64], rng: &mut Rng, spiked: &mut [bool]) -> usize {
        for i in 0..self.n {
            self.u[i] = b[i] + syn[i];
        }
        self.draw(rng, spiked)
    }

    #[inline]
    fn draw(&mut self, rng: &mut Rng, spiked: &mut [bool]) -> usize {
        let n = self.n;
        let mut state = 0;
        for i in 0..n {
            let fired = if self.counter[i] > 1 {
                self.counter[i] -= 1;
                false
            } else if rng.uniform() < sigmoid(self.u[i] - self.log_tau) {
                self.counter[i] = self.tau;
                true
            } else {
                self.counter[i] = 0;
                false
            };
            spiked[i] = fired;
            let on = self.counter[i] > 0;
            self.z[i] = if on { 1.0 } else { 0.0 };
            state |= usize::from(on) << i;
        }
        state
    }

    /// Force the state (a clamp forces the outcome of the draw): a unit clamped to 1 fires
    /// (`ζ = τ`), a unit clamped to 0 is silenced (`ζ = 0`) even if it was refractory.
    #[inline]
    pub fn clamp(&mut self, state: usize) {
        for i in 0..self.n {
            let on = state >> i & 1 == 1;
            self.counter[i] = if on { self.tau } else { 0 };
            self.z[i] = if on { 1.0 } else { 0.0 };
        }
    }

    /// One step of naive synchronous Gibbs sampling (the negative control of paper 2): every unit
    /// redraws `z_i ~ Bernoulli(σ(u_i))` at once from the previous step's states.
    #[inline]
    pub fn step_naive_gibbs(&mut self, w: &[f64], b: &[f64], rng: &mut Rng) -> usize {
        let n = self.n;
        for i in 0..n {
            let row = &w[i * n..i * n + n];
            self.u[i] = b[i] + row.iter().zip(&self.z).map(|(a, z)| a * z).sum::<f64>();
        }
        let mut state = 0;
        for i in 0..n {
            let on = rng.uniform() < sigmoid(self.u[i]);
            self.counter[i] = 0;
            self.z[i] = if on { 1.0 } else { 0.0 };
            state |= usize::from(on) << i;
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_is_normalised_and_moments_match() {
        let mut r = Rng::new(5, 0);
        let bm = Bm::random(4, &mut r);
        let p = bm.distribution();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let (c, m) = bm.moments();
        for i in 0..4 {
            assert!((c[i * 4 + i] - m[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn exact_sampler_follows_the_distribution() {
        let p = [0.1, 0.2, 0.3, 0.4];
        let s = ExactSampler::new(&p);
        let mut r = Rng::new(1, 1);
        let mut c = [0u64; 4];
        for _ in 0..100_000 {
            c[s.sample(&mut r)] += 1;
        }
        for (k, &pk) in p.iter().enumerate() {
            assert!((c[k] as f64 / 1e5 - pk).abs() < 0.01);
        }
    }

    #[test]
    fn refractory_window_is_tau_steps() {
        // A huge bias makes the unit fire whenever it may: it is then on for ever, and it spikes
        // exactly every τ steps.
        let mut s = NeuralSampler::new(1, 4);
        let mut r = Rng::new(1, 0);
        let mut sp = [false];
        let mut times = vec![];
        for t in 0..20 {
            s.step(&[0.0], &[100.0], &mut r, &mut sp);
            assert_eq!(s.state(), 1);
            if sp[0] {
                times.push(t);
            }
        }
        assert_eq!(times, vec![0, 4, 8, 12, 16]);
    }
}
