//! Paper 5 (Gong, Chen, Ching; reconstructed, provisional): a two-neuron rate network with a
//! plastic symmetric weight goes through a pitchfork as the plasticity turns anti-Hebbian.
//!
//! `ẋ₁ = −x₁ + w φ(x₂) + u₁`, `ẋ₂ = −x₂ + w φ(x₁) + u₂`, `ẇ = ε (−w + k φ(x₁) φ(x₂))`, `φ = tanh`,
//! `u = (1, 1)`, zero diagonal (the two reciprocal weights obey the same equation from the same
//! start, so one `w` stands for both).
//!
//! Integration: classical RK4 with `dt = 0.1`, from each initial condition until the vector
//! field's max-norm is below `1e-9` (or `t_max`). Initial conditions: `x_i ~ U(−2, 2)`,
//! `w ~ U(−3, 3)` (**choice**; the document does not state a range). End states are grouped
//! greedily: a state within `tol = 0.05` (max-norm over `(x₁, x₂, w)`) of a group's first member
//! joins it.

use super::Rng;

/// Sweep settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub eps: f64,
    pub u: [f64; 2],
    /// Initial conditions per `k`.
    pub inits: usize,
    pub dt: f64,
    pub t_max: f64,
    /// Convergence: max-norm of the vector field.
    pub f_tol: f64,
    /// Distinct-state tolerance.
    pub tol: f64,
    pub x_range: f64,
    pub w_range: f64,
    /// Efficacy gain of the synapse into neuron 1 and into neuron 2 (1 = the model; a chip's
    /// efficacy mismatch makes them differ and the pitchfork imperfect).
    pub gains: [f64; 2],
}

impl Config {
    pub fn paper() -> Config {
        Config {
            eps: 0.1,
            u: [1.0, 1.0],
            inits: 100,
            dt: 0.1,
            t_max: 20_000.0,
            f_tol: 1e-9,
            tol: 0.05,
            x_range: 2.0,
            w_range: 3.0,
            gains: [1.0, 1.0],
        }
    }
}

/// The sweep's `k` values: +2 down to −12 in steps of 0.5.
pub fn k_values() -> Vec<f64> {
    (0..=28).map(|i| 2.0 - 0.5 * f64::from(i)).collect()
}

/// The vector field at `s = (x₁, x₂, w)` (with the efficacy gains of `cfg`).
#[inline]
pub fn field(s: [f64; 3], k: f64, cfg: &Config) -> [f64; 3] {
    let (p1, p2) = (s[0].tanh(), s[1].tanh());
    [
        -s[0] + cfg.gains[0] * s[2] * p2 + cfg.u[0],
        -s[1] + cfg.gains[1] * s[2] * p1 + cfg.u[1],
        cfg.eps * (-s[2] + k * p1 * p2),
    ]
}

fn norm_inf(v: [f64; 3]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Integrate from `s0` to convergence; returns the end state and whether it converged.
pub fn settle(mut s: [f64; 3], k: f64, cfg: &Config) -> ([f64; 3], bool) {
    let h = cfg.dt;
    let add = |a: [f64; 3], b: [f64; 3], c: f64| [a[0] + c * b[0], a[1] + c * b[1], a[2] + c * b[2]];
    let steps = (cfg.t_max / h).ceil() as u64;
    for n in 0..steps {
        let k1 = field(s, k, cfg);
        if n % 16 == 0 && norm_inf(k1) < cfg.f_tol {
            return (s, true);
        }
        let k2 = field(add(s, k1, h / 2.0), k, cfg);
        let k3 = field(add(s, k2, h / 2.0), k, cfg);
        let k4 = field(add(s, k3, h), k, cfg);
        for i in 0..3 {
            s[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    let ok = norm_inf(field(s, k, cfg)) < cfg.f_tol;
    (s, ok)
}

/// Distinct end states at one `k`.
#[derive(Debug, Clone, PartialEq)]
pub struct KResult {
    pub k: f64,
    /// One representative per group, with its size.
    pub states: Vec<([f64; 3], usize)>,
    /// Initial conditions that did not converge within `t_max`.
    pub unconverged: usize,
}

/// The initial conditions of a sweep: `cfg.inits` draws of `(x₁, x₂, w)` from stream 0 of
/// `seed` (the same at every `k`; the chip test starts its runs from these too).
pub fn initial_conditions(cfg: &Config, seed: u64) -> Vec<[f64; 3]> {
    let mut rng = Rng::new(seed, 0);
    (0..cfg.inits)
        .map(|_| {
            [
                rng.range(-cfg.x_range, cfg.x_range),
                rng.range(-cfg.x_range, cfg.x_range),
                rng.range(-cfg.w_range, cfg.w_range),
            ]
        })
        .collect()
}

/// Group end states greedily: a state within `tol` (max-norm) of a group's first member joins
/// it. One representative per group, with its size, in order of first appearance.
pub fn group(ends: &[[f64; 3]], tol: f64) -> Vec<([f64; 3], usize)> {
    let mut states: Vec<([f64; 3], usize)> = Vec::new();
    for s in ends {
        match states.iter_mut().find(|(r, _)| (0..3).all(|i| (r[i] - s[i]).abs() <= tol)) {
            Some(g) => g.1 += 1,
            None => states.push((*s, 1)),
        }
    }
    states
}

/// Run the initial conditions at one `k` (stream `i` of `seed` for the `i`-th value of the sweep
/// is not needed: the same initial conditions are used at every `k`, stream 0).
pub fn attractors(k: f64, cfg: &Config, seed: u64) -> KResult {
    let mut ends = Vec::with_capacity(cfg.inits);
    let mut unconverged = 0;
    for s0 in initial_conditions(cfg, seed) {
        let (s, ok) = settle(s0, k, cfg);
        if !ok {
            unconverged += 1;
        }
        ends.push(s);
    }
    KResult { k, states: group(&ends, cfg.tol), unconverged }
}

/// The whole sweep over [`k_values`].
pub fn sweep(cfg: &Config, seed: u64) -> Vec<KResult> {
    k_values().into_iter().map(|k| attractors(k, cfg, seed)).collect()
}

/// The onset: the largest `k` of the sweep with two or more end states (`None` if none).
pub fn onset(results: &[KResult]) -> Option<f64> {
    results.iter().filter(|r| r.states.len() >= 2).map(|r| r.k).fold(None, |m, k| Some(m.map_or(k, |m: f64| m.max(k))))
}

/// The equilibrium reached from a start near `s0` (Newton-free: integrate to convergence).
pub fn equilibrium(k: f64, s0: [f64; 3], cfg: &Config) -> [f64; 3] {
    settle(s0, k, cfg).0
}

/// The exact pitchfork point for `u = (c, c)`: on the symmetric branch `x₁ = x₂ = x`,
/// `w = k φ(x)²`, `x = k φ(x)³ + c`; the antisymmetric mode `(δx, −δx, 0)` has eigenvalue
/// `−1 − w φ'(x)`, so the branch loses stability where `k φ² (1 − φ²) = −1`. Solved by bisection
/// on `φ`; returns `(k*, x*)`.
pub fn critical_k(c: f64) -> (f64, f64) {
    // With k = −1/(φ²(1 − φ²)): x = c − φ/(1 − φ²); find φ = tanh(x).
    let g = |p: f64| (c - p / (1.0 - p * p)).tanh() - p;
    let (mut lo, mut hi) = (1e-9, 1.0 - 1e-9);
    for _ in 0..200 {
        let m = 0.5 * (lo + hi);
        if g(m) > 0.0 {
            lo = m;
        } else {
            hi = m;
        }
    }
    let p = 0.5 * (lo + hi);
    (-1.0 / (p * p * (1.0 - p * p)), c - p / (1.0 - p * p))
}
