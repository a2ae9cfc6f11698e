//! Compact connectivity of one projection: CSR arrays indexed by pre-synaptic neuron, with
//! per-projection constants for weights and delays when they do not vary, and seeded generators
//! that expand straight into CSR (two passes, no per-synapse heap objects).

use super::CompileError;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A per-synapse quantity stored once when constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Values<T> {
    Const(T),
    Each(Vec<T>),
}

impl<T: Copy> Values<T> {
    /// The value of synapse `i` (CSR position).
    #[inline]
    pub fn get(&self, i: usize) -> T {
        match self {
            Values::Const(v) => *v,
            Values::Each(v) => v[i],
        }
    }

    /// Number of stored values (1 for a constant).
    pub fn stored(&self) -> usize {
        match self {
            Values::Const(_) => 1,
            Values::Each(v) => v.len(),
        }
    }

    /// Iterate over all stored values (a constant once).
    pub fn stored_iter(&self) -> impl Iterator<Item = T> + '_ {
        let (c, e): (Option<T>, &[T]) = match self {
            Values::Const(v) => (Some(*v), &[]),
            Values::Each(v) => (None, v.as_slice()),
        };
        c.into_iter().chain(e.iter().copied())
    }
}

/// One synapse as seen when iterating a projection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Syn {
    pub pre: u32,
    pub post: u32,
    pub weight: f64,
    pub delay: u8,
}

/// CSR connectivity: synapses of pre neuron `i` are positions `row_ptr[i] .. row_ptr[i + 1]`,
/// sorted by post index (duplicates allowed: each is a separate synapse).
#[derive(Clone, Debug, PartialEq)]
pub struct Connectivity {
    pub pre_size: u32,
    pub post_size: u32,
    pub(crate) row_ptr: Vec<u64>,
    pub(crate) post: Vec<u32>,
    pub weight: Values<f64>,
    pub delay: Values<u8>,
}

/// A uniform random number in `0..n` (Lemire's multiply-shift, deterministic).
#[inline]
pub fn below(rng: &mut ChaCha8Rng, n: u32) -> u32 {
    ((u64::from(rng.next_u32()) * u64::from(n)) >> 32) as u32
}

/// The generator stream for post neuron `post` of seed `seed`.
fn post_rng(seed: u64, post: u32) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(u64::from(post) + 1);
    r
}

impl Connectivity {
    /// Number of synapses.
    pub fn len(&self) -> u64 {
        self.post.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.post.is_empty()
    }

    /// The CSR range of pre neuron `pre`.
    #[inline]
    pub fn row_range(&self, pre: u32) -> std::ops::Range<usize> {
        self.row_ptr[pre as usize] as usize..self.row_ptr[pre as usize + 1] as usize
    }

    /// Post indices of pre neuron `pre`, ascending.
    #[inline]
    pub fn row_posts(&self, pre: u32) -> &[u32] {
        &self.post[self.row_range(pre)]
    }

    /// Synapses of pre neuron `pre`.
    pub fn row(&self, pre: u32) -> impl Iterator<Item = Syn> + '_ {
        self.row_range(pre).map(move |i| Syn {
            pre,
            post: self.post[i],
            weight: self.weight.get(i),
            delay: self.delay.get(i),
        })
    }

    /// All synapses in CSR order.
    pub fn iter(&self) -> impl Iterator<Item = Syn> + '_ {
        (0..self.pre_size).flat_map(move |p| self.row(p))
    }

    /// CSR position of synapse `i`'s weight etc.: iterate `(position, syn)` for a row.
    pub fn row_indexed(&self, pre: u32) -> impl Iterator<Item = (usize, Syn)> + '_ {
        self.row_range(pre)
            .map(move |i| (i, Syn { pre, post: self.post[i], weight: self.weight.get(i), delay: self.delay.get(i) }))
    }

    /// Largest absolute weight (0 for an empty projection).
    pub fn max_abs_weight(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.weight.stored_iter().fold(0.0, |m, w| m.max(w.abs()))
    }

    /// Incoming synapse count of every post neuron.
    pub fn in_degrees(&self) -> Vec<u32> {
        let mut d = vec![0u32; self.post_size as usize];
        for &p in &self.post {
            d[p as usize] += 1;
        }
        d
    }

    /// Build from explicit synapses; they are sorted into CSR order (stable for equal pairs).
    pub fn from_synapses(pre_size: u32, post_size: u32, mut syns: Vec<Syn>) -> Result<Connectivity, CompileError> {
        for s in &syns {
            if s.pre >= pre_size || s.post >= post_size {
                return Err(CompileError::Invalid(format!(
                    "synapse ({} -> {}) outside a projection of {pre_size} -> {post_size} neurons",
                    s.pre, s.post
                )));
            }
        }
        syns.sort_by_key(|a| (a.pre, a.post));
        let mut row_ptr = vec![0u64; pre_size as usize + 1];
        for s in &syns {
            row_ptr[s.pre as usize + 1] += 1;
        }
        for i in 0..pre_size as usize {
            row_ptr[i + 1] += row_ptr[i];
        }
        let weight = compact(syns.iter().map(|s| s.weight).collect());
        let delay = compact(syns.iter().map(|s| s.delay).collect());
        let post = syns.iter().map(|s| s.post).collect();
        Ok(Connectivity { pre_size, post_size, row_ptr, post, weight, delay })
    }

    /// Every pre neuron to every post neuron.
    pub fn all_to_all(pre_size: u32, post_size: u32, weight: f64, delay: u8) -> Connectivity {
        let n = u64::from(pre_size) * u64::from(post_size);
        let row_ptr = (0..=u64::from(pre_size)).map(|i| i * u64::from(post_size)).collect();
        let mut post = Vec::with_capacity(n as usize);
        for _ in 0..pre_size {
            post.extend(0..post_size);
        }
        Connectivity { pre_size, post_size, row_ptr, post, weight: Values::Const(weight), delay: Values::Const(delay) }
    }

    /// Pre neuron `i` to post neuron `i`.
    pub fn one_to_one(size: u32, weight: f64, delay: u8) -> Connectivity {
        Connectivity {
            pre_size: size,
            post_size: size,
            row_ptr: (0..=u64::from(size)).collect(),
            post: (0..size).collect(),
            weight: Values::Const(weight),
            delay: Values::Const(delay),
        }
    }

    /// Each post neuron draws `fan_in` pre neurons uniformly with replacement (self-connections
    /// excluded when `no_self` and the projection is recurrent). Deterministic for `seed`.
    pub fn fixed_fan_in(
        pre_size: u32,
        post_size: u32,
        fan_in: u32,
        no_self: bool,
        seed: u64,
        weight: f64,
        delay: u8,
    ) -> Result<Connectivity, CompileError> {
        if pre_size == 0 || (no_self && pre_size < 2) {
            return Err(CompileError::Invalid(format!("fixed fan-in {fan_in} from {pre_size} neurons")));
        }
        Ok(Self::fan_in_with(pre_size, post_size, fan_in, seed, weight, delay, |post, rng| loop {
            let p = below(rng, pre_size);
            if !(no_self && p == post) {
                break p;
            }
        }))
    }

    /// Each post neuron `j` gets `fan_in` synapses whose pre index is `choose(j, rng)`; the
    /// generator is run twice (count, fill) so no intermediate list is kept.
    pub fn fan_in_with(
        pre_size: u32,
        post_size: u32,
        fan_in: u32,
        seed: u64,
        weight: f64,
        delay: u8,
        choose: impl Fn(u32, &mut ChaCha8Rng) -> u32,
    ) -> Connectivity {
        let choose = |post: u32, rng: &mut ChaCha8Rng| choose(post, rng).min(pre_size.saturating_sub(1));
        let mut row_ptr = vec![0u64; pre_size as usize + 1];
        for j in 0..post_size {
            let mut rng = post_rng(seed, j);
            for _ in 0..fan_in {
                row_ptr[choose(j, &mut rng) as usize + 1] += 1;
            }
        }
        for i in 0..pre_size as usize {
            row_ptr[i + 1] += row_ptr[i];
        }
        let total = row_ptr[pre_size as usize] as usize;
        let mut fill: Vec<u64> = row_ptr[..pre_size as usize].to_vec();
        let mut post = vec![0u32; total];
        // Posts are visited in ascending order, so every row comes out sorted.
        for j in 0..post_size {
            let mut rng = post_rng(seed, j);
            for _ in 0..fan_in {
                let p = choose(j, &mut rng) as usize;
                post[fill[p] as usize] = j;
                fill[p] += 1;
            }
        }
        Connectivity { pre_size, post_size, row_ptr, post, weight: Values::Const(weight), delay: Values::Const(delay) }
    }

    /// Each pair independently with probability `p` (geometric skipping), deterministic for `seed`.
    pub fn fixed_probability(
        pre_size: u32,
        post_size: u32,
        p: f64,
        seed: u64,
        weight: f64,
        delay: u8,
    ) -> Result<Connectivity, CompileError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(CompileError::Invalid(format!("connection probability {p} outside [0, 1]")));
        }
        let mut row_ptr = vec![0u64; pre_size as usize + 1];
        let mut post = Vec::new();
        for i in 0..pre_size {
            let mut rng = post_rng(seed, i);
            if p > 0.0 {
                let mut j: i64 = -1;
                loop {
                    let skip = if p >= 1.0 {
                        1
                    } else {
                        let u = (f64::from(rng.next_u32()) + 0.5) / 4_294_967_296.0;
                        1 + (u.ln() / (1.0 - p).ln()).floor() as i64
                    };
                    j += skip;
                    if j >= i64::from(post_size) {
                        break;
                    }
                    post.push(j as u32);
                }
            }
            row_ptr[i as usize + 1] = post.len() as u64;
        }
        Ok(Connectivity {
            pre_size,
            post_size,
            row_ptr,
            post,
            weight: Values::Const(weight),
            delay: Values::Const(delay),
        })
    }

    /// Replace the weights by per-synapse values `f(syn)`.
    pub fn map_weights(&mut self, f: impl Fn(Syn) -> f64) {
        let w: Vec<f64> = self.iter().map(&f).collect();
        self.weight = compact(w);
    }
}

/// Store a constant once.
fn compact<T: Copy + PartialEq>(v: Vec<T>) -> Values<T> {
    match v.first() {
        Some(&f) if v.iter().all(|&x| x == f) => Values::Const(f),
        None => Values::Each(v),
        _ => Values::Each(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_in_counts_and_sorted_rows() {
        let c = Connectivity::fixed_fan_in(50, 40, 7, true, 3, 1.0, 1).expect("valid");
        assert_eq!(c.len(), 40 * 7);
        assert!(c.in_degrees().iter().all(|&d| d == 7));
        for p in 0..50 {
            let r = c.row_posts(p);
            assert!(r.windows(2).all(|w| w[0] <= w[1]));
            assert!(!r.contains(&p), "self connection");
        }
        let again = Connectivity::fixed_fan_in(50, 40, 7, true, 3, 1.0, 1).expect("valid");
        assert_eq!(c, again);
    }

    #[test]
    fn from_synapses_sorts() {
        let s = |pre, post, weight| Syn { pre, post, weight, delay: 1 };
        let c = Connectivity::from_synapses(3, 3, vec![s(2, 0, 1.0), s(0, 2, 2.0), s(0, 1, 3.0)]).expect("ok");
        let v: Vec<_> = c.iter().map(|s| (s.pre, s.post, s.weight)).collect();
        assert_eq!(v, vec![(0, 1, 3.0), (0, 2, 2.0), (2, 0, 1.0)]);
        assert!(Connectivity::from_synapses(3, 3, vec![s(3, 0, 1.0)]).is_err());
    }

    #[test]
    fn probability_density() {
        let c = Connectivity::fixed_probability(200, 200, 0.1, 9, 1.0, 1).expect("ok");
        let n = c.len() as f64;
        assert!((n - 4000.0).abs() < 400.0, "{n}");
    }
}
