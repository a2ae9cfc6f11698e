//! Register formats and their arithmetic: wrap, saturate, decay and rounding rules, one function
//! each, so that the compiler (quantization, range analysis) and the emulator (execution) apply
//! the very same rule. `docs/chip-model.md` lists every format.
//!
//! | register | format | overflow | rounding |
//! |---|---|---|---|
//! | synaptic current `u` | signed `current_bits` | wraps | decay truncates toward zero |
//! | membrane voltage `v` | signed `voltage_bits` | saturates | decay truncates toward zero |
//! | weight | sign + `weight_bits` magnitude | saturates | readout from accumulator: stochastic or nearest |
//! | learning accumulator | signed `accumulator_bits` | saturates | — |
//! | trace | unsigned `trace_int_bits`.`trace_frac_bits` | saturates | decay truncates toward zero |
//! | learning register | signed Q15.16 in 32 bits ([`LearnFix`]) | saturates | per op, see `learn` |

use crate::rng::HwRng;
use serde::{Deserialize, Serialize};

/// The learning engine's register format: signed, 15 integer and 16 fraction bits.
pub type LearnFix = fixed::types::I16F16;

/// One in the learning engine's Q15.16 format.
pub const LEARN_ONE: i32 = 1 << 16;

/// The learning-rate trim step: a trim code `c` scales a synapse's learning-rate gain by
/// `1 + c · 2^-7`, i.e. `4096 + 32 c` in Q.12.
pub const LR_TRIM_STEP: f64 = 1.0 / 128.0;
/// [`LR_TRIM_STEP`] in Q.12.
pub const LR_TRIM_STEP_Q12: i64 = 32;

/// The code range `lo ..= hi` of a signed `bits`-wide trim (`0 ..= 0` for 0 bits).
pub fn lr_trim_range(bits: u8) -> (i32, i32) {
    if bits == 0 {
        (0, 0)
    } else {
        (smin(bits.min(8)) as i32, smax(bits.min(8)) as i32)
    }
}

/// The effective Q.12 learning-rate gain of a synapse with mismatch gain `gain` (Q.12) and trim
/// code `code`: `gain · (4096 + 32 · code) / 4096`, rounded half up, saturated to `0 ..= 65535`.
/// Code 0 returns `gain` exactly. Computed once when a program is loaded.
pub fn trim_lgain_q12(gain: u16, code: i8) -> u16 {
    let f = 4096 + LR_TRIM_STEP_Q12 * i64::from(code);
    ((i64::from(gain) * f + 2048) >> 12).clamp(0, 65535) as u16
}

/// Largest value of a signed `bits`-wide register.
#[inline]
pub const fn smax(bits: u8) -> i64 {
    (1i64 << (bits - 1)) - 1
}

/// Smallest value of a signed `bits`-wide register.
#[inline]
pub const fn smin(bits: u8) -> i64 {
    -(1i64 << (bits - 1))
}

/// Two's-complement wrap of `v` to `bits` bits (the synaptic current rule).
#[inline]
pub fn wrap(v: i64, bits: u8) -> i32 {
    let shift = 64 - u32::from(bits);
    ((v << shift) >> shift) as i32
}

/// Saturate `v` to a signed `bits`-wide register (the membrane voltage rule).
#[inline]
pub fn saturate(v: i64, bits: u8) -> i32 {
    v.clamp(smin(bits), smax(bits)) as i32
}

/// Multiply by `(2^decay_bits - code) / 2^decay_bits`, truncating toward zero.
/// `code = 0` keeps the value, `code = 2^decay_bits` clears it.
#[inline]
pub fn decay(v: i32, code: u32, decay_bits: u8) -> i32 {
    let keep = (1i64 << decay_bits) - i64::from(code);
    let p = i64::from(v) * keep;
    // Truncate toward zero: shift the magnitude.
    if p >= 0 {
        (p >> decay_bits) as i32
    } else {
        -((-p) >> decay_bits) as i32
    }
}

/// Largest trace value for `int_bits.frac_bits`.
#[inline]
pub const fn trace_max(int_bits: u8, frac_bits: u8) -> i32 {
    (1 << (int_bits + frac_bits)) - 1
}

/// Add an impulse to a trace, saturating at the format's maximum and at 0.
#[inline]
pub fn trace_add(t: i32, impulse: i32, max: i32) -> i32 {
    (i64::from(t) + i64::from(impulse)).clamp(0, i64::from(max)) as i32
}

/// How a wide value is rounded to a narrower register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rounding {
    /// Drop the low bits (toward negative infinity, arithmetic shift).
    Floor,
    /// Round half away from zero.
    Nearest,
    /// Round up with probability equal to the dropped fraction, from a seeded hardware PRNG.
    Stochastic,
}

impl Rounding {
    pub const ALL: [Rounding; 3] = [Rounding::Floor, Rounding::Nearest, Rounding::Stochastic];

    pub fn code(self) -> u8 {
        match self {
            Rounding::Floor => 0,
            Rounding::Nearest => 1,
            Rounding::Stochastic => 2,
        }
    }

    pub fn from_code(c: u8) -> Option<Rounding> {
        Rounding::ALL.get(usize::from(c)).copied()
    }
}

/// Shift `v` right by `sh` bits with `rounding`. `rng` is drawn only for stochastic rounding
/// and only when the dropped bits are non-zero.
#[inline]
pub fn shift_round(v: i64, sh: u32, rounding: Rounding, rng: &mut HwRng) -> i64 {
    if sh == 0 {
        return v;
    }
    let sh = sh.min(62);
    let floor = v >> sh;
    let frac = v - (floor << sh); // in [0, 2^sh)
    match rounding {
        Rounding::Floor => floor,
        Rounding::Nearest => {
            let half = 1i64 << (sh - 1);
            if frac > half || (frac == half && v >= 0) {
                floor + 1
            } else {
                floor
            }
        }
        Rounding::Stochastic => {
            if frac == 0 {
                floor
            } else {
                // Compare the dropped fraction with a uniform draw of the same width (up to 32 bits).
                let r = i64::from(rng.next_u32());
                let frac32 = if sh >= 32 { frac >> (sh - 32) } else { frac << (32 - sh) };
                if r < frac32 {
                    floor + 1
                } else {
                    floor
                }
            }
        }
    }
}

/// Number of fraction bits the learning accumulator keeps below the weight LSB. The accumulator
/// is sign, one guard bit above the largest weight (so that an update may overshoot the weight
/// range before a rescale or a bound brings it back, instead of saturating), the weight bits and
/// the fraction bits.
#[inline]
pub fn accumulator_frac_bits(accumulator_bits: u8, weight_bits: u8) -> u32 {
    u32::from(accumulator_bits.saturating_sub(weight_bits + 2))
}

/// The weight read out from a learning accumulator: drop the accumulator's extra fraction bits
/// with `rounding`, then saturate to sign + `weight_bits`.
#[inline]
pub fn weight_readout(acc: i32, accumulator_bits: u8, weight_bits: u8, rounding: Rounding, rng: &mut HwRng) -> i32 {
    let sh = accumulator_frac_bits(accumulator_bits, weight_bits);
    let w = shift_round(i64::from(acc), sh, rounding, rng);
    let m = (1i64 << weight_bits) - 1;
    w.clamp(-m, m) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_saturate_at_24_bits() {
        assert_eq!(wrap(smax(24) + 1, 24), smin(24) as i32);
        assert_eq!(wrap(-1, 24), -1);
        assert_eq!(saturate(smax(24) + 5, 24), smax(24) as i32);
        assert_eq!(saturate(smin(24) - 5, 24), smin(24) as i32);
    }

    #[test]
    fn decay_truncates_toward_zero() {
        assert_eq!(decay(4096, 0, 12), 4096);
        assert_eq!(decay(4096, 4096, 12), 0);
        assert_eq!(decay(100, 2048, 12), 50);
        assert_eq!(decay(-101, 2048, 12), -50);
        assert_eq!(decay(101, 2048, 12), 50);
    }

    #[test]
    fn rounding_rules() {
        let mut r = HwRng::new(1, 1);
        assert_eq!(shift_round(5, 1, Rounding::Floor, &mut r), 2);
        assert_eq!(shift_round(5, 1, Rounding::Nearest, &mut r), 3);
        assert_eq!(shift_round(-5, 1, Rounding::Nearest, &mut r), -3);
        assert_eq!(shift_round(-5, 1, Rounding::Floor, &mut r), -3);
        // Stochastic rounding is unbiased: 1/4 on average over many draws.
        let n = 100_000;
        let s: i64 = (0..n).map(|_| shift_round(1, 2, Rounding::Stochastic, &mut r)).sum();
        let mean = s as f64 / n as f64;
        assert!((mean - 0.25).abs() < 0.01, "{mean}");
    }

    #[test]
    fn readout_saturates() {
        let mut r = HwRng::new(1, 1);
        // 16-bit accumulator, 8-bit weight: a guard bit and 6 fraction bits.
        assert_eq!(weight_readout(255 << 6, 16, 8, Rounding::Floor, &mut r), 255);
        assert_eq!(weight_readout(300 << 6, 16, 8, Rounding::Floor, &mut r), 255);
        assert_eq!(weight_readout(i32::from(i16::MAX), 16, 8, Rounding::Nearest, &mut r), 255);
        assert_eq!(weight_readout(-(255 << 6), 16, 8, Rounding::Floor, &mut r), -255);
        assert_eq!(weight_readout(-(400 << 6), 16, 8, Rounding::Floor, &mut r), -255);
    }

    #[test]
    fn lr_trim_arithmetic() {
        // Trim 0 is the identity for every gain (today's behaviour bit for bit).
        for g in [0u16, 1, 2047, 4095, 4096, 4097, 5000, 65535] {
            assert_eq!(trim_lgain_q12(g, 0), g);
        }
        // 1 + c/128 in Q.12, rounded half up, saturated.
        assert_eq!(trim_lgain_q12(4096, 31), 4096 + 31 * 32);
        assert_eq!(trim_lgain_q12(4096, -32), 3072);
        assert_eq!(trim_lgain_q12(4000, 14), ((4000u32 * (4096 + 14 * 32) + 2048) >> 12) as u16);
        assert_eq!(trim_lgain_q12(65535, 127), 65535);
        assert_eq!(trim_lgain_q12(4096, -128), 0);
        assert_eq!(lr_trim_range(6), (-32, 31));
        assert_eq!(lr_trim_range(0), (0, 0));
        assert_eq!(lr_trim_range(8), (-128, 127));
    }
}
