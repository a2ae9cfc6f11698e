//! Device mismatch: the fixed-pattern deviations of one fabricated chip instance, drawn once from
//! the chip seed, and how they turn nominal register values into effective ones.
//!
//! Streams: a `ChaCha8Rng` seeded with `chip_seed`, stream `2·core_id` for the neurons of a
//! core and `2·core_id + 1` for its synapse slots. Neuron slot `i` consumes exactly four
//! standard normals (threshold, current leak, voltage leak, bias) and synapse slot `s` two
//! (weight gain, learning-rate gain), in slot order, so a slot's deviations depend only on the
//! chip seed and the slot's physical position, never on the program. Normals come from our own
//! Box–Muller transform (both outputs used) so the streams cannot change with a library.
//!
//! Effective values (`g` a drawn standard normal, `rsd` the spec's relative SD):
//! * threshold: `v_th · (1 + rsd_th · g)`, rounded to nearest, saturated to the voltage format;
//! * leaks: the leak rate `1/τ` of each decay code scales by `1 + rsd_leak · g`: the keep factor
//!   `a = 1 − d/2^decay_bits` becomes `a^(1 + rsd_leak · g)`, i.e. `d · (1 + rsd_leak · g)` to first
//!   order for long time constants, while a full code (current cleared every step) stays full;
//!   rounded, clamped to `[0, 2^decay_bits]` (separate draws for the current and the voltage decay);
//! * bias: an additive offset whose steady-state effect on `v` is `rsd_bias · g · |v_th|`, i.e.
//!   `rsd_bias · g · |v_th| · max(d_v, 1) / 2^decay_bits` per step, rounded to nearest;
//! * synaptic efficacy gain and learning-rate gain: Q.12 factors `round(4096 · (1 + rsd · g))`
//!   clamped to `[0, 65535]`.
//!
//! All factors `1 + rsd · g` are clamped at 0 (a negative gain is not physical). The ideal chip
//! (`RunConfig::ideal`) uses the nominal values everywhere.

use nm_isa::ChipSpec;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Gaussian source from a ChaCha8 stream via Box–Muller, both outputs used.
#[derive(Debug)]
pub struct Gauss {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Gauss {
    pub fn new(seed: u64, stream: u64) -> Gauss {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Gauss { rng, spare: None }
    }

    /// A standard normal draw.
    pub fn sample(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let u1 = ((self.rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64); // (0, 1]
        let u2 = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64); // [0, 1)
        let r = (-2.0 * u1.ln()).sqrt();
        let th = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * th.sin());
        r * th.cos()
    }
}

/// The drawn standard normals of one core's neuron and synapse slots.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreDeviations {
    /// Per neuron: threshold, current-leak, voltage-leak and bias normals.
    pub threshold: Vec<f64>,
    pub leak_u: Vec<f64>,
    pub leak_v: Vec<f64>,
    pub bias: Vec<f64>,
    /// Per synapse: efficacy-gain and learning-rate-gain normals.
    pub weight_gain: Vec<f64>,
    pub learning_rate: Vec<f64>,
}

impl CoreDeviations {
    /// Draw the deviations of core `core_id` for `neurons` neuron slots and `synapses` synapse slots.
    pub fn draw(chip_seed: u64, core_id: u32, neurons: usize, synapses: usize) -> CoreDeviations {
        let mut d = CoreDeviations::default();
        let mut g = Gauss::new(chip_seed, 2 * u64::from(core_id));
        for _ in 0..neurons {
            d.threshold.push(g.sample());
            d.leak_u.push(g.sample());
            d.leak_v.push(g.sample());
            d.bias.push(g.sample());
        }
        let mut g = Gauss::new(chip_seed, 2 * u64::from(core_id) + 1);
        for _ in 0..synapses {
            d.weight_gain.push(g.sample());
            d.learning_rate.push(g.sample());
        }
        d
    }

    /// All-zero deviations (the ideal chip).
    pub fn ideal(neurons: usize, synapses: usize) -> CoreDeviations {
        CoreDeviations {
            threshold: vec![0.0; neurons],
            leak_u: vec![0.0; neurons],
            leak_v: vec![0.0; neurons],
            bias: vec![0.0; neurons],
            weight_gain: vec![0.0; synapses],
            learning_rate: vec![0.0; synapses],
        }
    }
}

#[inline]
fn factor(rsd: f64, g: f64) -> f64 {
    (1.0 + rsd * g).max(0.0)
}

/// Effective threshold.
pub fn eff_threshold(spec: &ChipSpec, v_th: i32, g: f64) -> i32 {
    let v = (f64::from(v_th) * factor(spec.mismatch.threshold_rsd, g)).round();
    let b = spec.formats.voltage_bits;
    v.clamp(nm_isa::fixed_point::smin(b) as f64, nm_isa::fixed_point::smax(b) as f64) as i32
}

/// Effective decay code. The mismatch scales the leak *rate* `1/τ` by `f = 1 + rsd · g`: the
/// per-step keep factor `a = 1 − d/2^bits = e^(−1/τ)` becomes `a^f`. For long time constants
/// (small codes) this is `d · f` to first order; a current cleared every step (`d = 2^bits`,
/// `τ → 0`) stays cleared, and a non-leaky one (`d = 0`) stays non-leaky.
pub fn eff_decay(spec: &ChipSpec, code: u32, g: f64) -> u32 {
    let full = (1u64 << spec.formats.decay_bits) as f64;
    let keep = (1.0 - f64::from(code) / full).clamp(0.0, 1.0);
    let f = factor(spec.mismatch.leak_rsd, g);
    let d = (full * (1.0 - keep.powf(f))).round();
    d.clamp(0.0, full) as u32
}

/// Effective bias (nominal plus the drawn offset).
pub fn eff_bias(spec: &ChipSpec, bias: i32, v_th: i32, decay_v: u32, g: f64) -> i32 {
    let d = f64::from(decay_v.max(1)) / (1u64 << spec.formats.decay_bits) as f64;
    let off = (spec.mismatch.bias_rsd * g * f64::from(v_th).abs() * d).round();
    let b = spec.formats.voltage_bits;
    (f64::from(bias) + off).clamp(nm_isa::fixed_point::smin(b) as f64, nm_isa::fixed_point::smax(b) as f64) as i32
}

/// A Q.12 gain.
pub fn gain_q12(rsd: f64, g: f64) -> u16 {
    (4096.0 * factor(rsd, g)).round().clamp(0.0, 65535.0) as u16
}

/// Measured spreads (sample SDs of the relative deviations actually applied), for the stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spreads {
    pub threshold_rsd: f64,
    pub leak_rsd: f64,
    pub bias_rsd: f64,
    pub weight_gain_rsd: f64,
    pub learning_rate_rsd: f64,
}

/// Sample standard deviation.
pub fn sd(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    if v.len() < 2 {
        return 0.0;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

impl Spreads {
    /// The relative spreads the spec's SDs give to the drawn normals of `devs`.
    pub fn of(spec: &ChipSpec, devs: &[CoreDeviations]) -> Spreads {
        let m = &spec.mismatch;
        let all = |f: fn(&CoreDeviations) -> &Vec<f64>| devs.iter().flat_map(move |d| f(d).iter().copied());
        Spreads {
            threshold_rsd: m.threshold_rsd * sd(all(|d| &d.threshold)),
            leak_rsd: m.leak_rsd * sd(all(|d| &d.leak_v)),
            bias_rsd: m.bias_rsd * sd(all(|d| &d.bias)),
            weight_gain_rsd: m.weight_gain_rsd * sd(all(|d| &d.weight_gain)),
            learning_rate_rsd: m.learning_rate_rsd * sd(all(|d| &d.learning_rate)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_is_standard() {
        let mut g = Gauss::new(3, 0);
        let xs: Vec<f64> = (0..20000).map(|_| g.sample()).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.03, "{m}");
        assert!((sd(xs.into_iter()) - 1.0).abs() < 0.03);
    }

    #[test]
    fn slot_deviations_do_not_depend_on_slot_count() {
        let a = CoreDeviations::draw(9, 5, 10, 20);
        let b = CoreDeviations::draw(9, 5, 40, 3);
        assert_eq!(a.threshold[..], b.threshold[..10]);
        assert_eq!(a.weight_gain[..3], b.weight_gain[..]);
        assert_ne!(CoreDeviations::draw(10, 5, 10, 0).threshold, a.threshold);
    }
}
