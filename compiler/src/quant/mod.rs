//! Quantization: a voltage scale per post population, a weight exponent per projection (one
//! synapse group), weights to sign + magnitude stored in accumulator position, decays to codes,
//! thresholds / resets / biases to voltage units; the error figures go to the report.

use crate::ir::{CompileError, Ir, PopQuant, ProjQuant};
use nm_isa::fixed_point::{accumulator_frac_bits, smax, smin};
use nm_isa::ChipSpec;

/// Headroom (in bits) kept above the largest voltage parameter for sums of inputs.
pub const VOLTAGE_HEADROOM_BITS: u8 = 4;

/// Round half away from zero.
#[inline]
pub fn round_away(x: f64) -> f64 {
    x.signum() * (x.abs() + 0.5).floor()
}

/// A decay fraction to a code of `decay_bits` bits.
pub fn decay_code(fraction: f64, decay_bits: u8) -> u32 {
    let full = 1u64 << decay_bits;
    (fraction * full as f64).round().clamp(0.0, full as f64) as u32
}

/// The weight exponent for a largest scaled magnitude `m` (chip voltage units).
pub fn choose_exp(m: f64, spec: &ChipSpec) -> i8 {
    let f = &spec.formats;
    let wmax = f64::from(spec.weight_max());
    if m <= 0.0 {
        return 0i8.clamp(f.weight_exp_min, f.weight_exp_max);
    }
    let mut e = (m / wmax).log2().ceil() as i32;
    // Guard against log2 rounding: the largest weight must not saturate.
    if m / 2f64.powi(e) > wmax + 0.5 {
        e += 1;
    }
    e.clamp(i32::from(f.weight_exp_min), i32::from(f.weight_exp_max)) as i8
}

/// The mantissa of weight `w` (ideal units) at scale `scale` (chip units per ideal unit of weight).
#[inline]
pub fn mantissa(w: f64, scale: f64, wmax: i32) -> i32 {
    round_away(w * scale).clamp(-f64::from(wmax), f64::from(wmax)) as i32
}

/// The raw accumulator of a synapse of weight `w` (ideal units) in a projection quantized as `q`:
/// a static synapse holds its weight mantissa shifted into accumulator position; a plastic one
/// keeps the initial weight at accumulator precision, clamped to its bounds.
pub fn initial_acc(w: f64, q: &ProjQuant, spec: &ChipSpec) -> i32 {
    let f = &spec.formats;
    let frac = accumulator_frac_bits(f.accumulator_bits, f.weight_bits);
    let wmax = spec.weight_max();
    match q.acc_bounds {
        None => mantissa(w, q.scale, wmax) << frac,
        Some((lo, hi)) => {
            let lim = f64::from(wmax) * 2f64.powi(frac as i32);
            let a = round_away(w * q.scale * 2f64.powi(frac as i32)).clamp(-lim, lim) as i32;
            a.clamp(lo, hi.max(lo))
        }
    }
}

/// Chip voltage value of `v` ideal units, saturated to the voltage register.
pub fn volts(v: f64, scale: f64, spec: &ChipSpec) -> i32 {
    let b = spec.formats.voltage_bits;
    round_away(v * scale).clamp(smin(b) as f64, smax(b) as f64) as i32
}

/// The `quantize` pass.
pub fn quantize(mut ir: Ir, spec: &ChipSpec) -> Result<Ir, CompileError> {
    let f = &spec.formats;
    let wmax = spec.weight_max();
    let frac = accumulator_frac_bits(f.accumulator_bits, f.weight_bits);
    let top = 2f64.powi(i32::from(f.voltage_bits) - 1 - i32::from(VOLTAGE_HEADROOM_BITS));
    let max_weight_units = f64::from(wmax) * 2f64.powi(i32::from(f.weight_exp_max));
    let mut pq = Vec::with_capacity(ir.pop_count());
    let mut warn = Vec::new();
    for p in ir.pop_ids() {
        let pop = ir.pop(p);
        let pr = &pop.params;
        let pop_name = pop.name.clone();
        let mut wmax_in: f64 = 0.0;
        for j in ir.projs_into(p) {
            let pj = ir.proj(j);
            wmax_in = wmax_in.max(pj.conn.max_abs_weight());
            if let Some(pl) = &pj.plasticity {
                wmax_in = wmax_in.max(pl.w_min.abs()).max(pl.w_max.abs());
            }
        }
        let vmag = pr.threshold.max_abs().max(pr.reset.abs()).max(pr.bias.max_abs()).max(pr.v_init.max_abs());
        let scale = match pr.scale {
            Some(s) => s,
            None => {
                let mut s = if vmag > 0.0 {
                    top / vmag
                } else if wmax_in > 0.0 {
                    f64::from(wmax) / wmax_in
                } else {
                    1.0
                };
                if wmax_in > 0.0 {
                    s = s.min(max_weight_units / wmax_in);
                }
                s
            }
        };
        if !(scale.is_finite() && scale > 0.0) {
            return Err(CompileError::Quantization {
                place: format!("population `{}`", pop.name),
                message: format!(
                    "no usable voltage scale (got {scale}) for parameters up to {vmag} and weights up to {wmax_in}"
                ),
            });
        }
        if vmag * scale > smax(f.voltage_bits) as f64 {
            return Err(CompileError::Quantization {
                place: format!("population `{}`", pop.name),
                message: format!(
                    "voltage parameters up to {vmag} at scale {scale} exceed the {}-bit voltage register",
                    f.voltage_bits
                ),
            });
        }
        let du = decay_code(pr.decay_u, f.decay_bits);
        let dv = decay_code(pr.decay_v, f.decay_bits);
        for (what, frac_, code) in [("current", pr.decay_u, du), ("voltage", pr.decay_v, dv)] {
            if frac_ > 0.0 && code == 0 {
                warn.push(format!(
                    "population `{pop_name}`: {what} decay {frac_} rounds to code 0 ({}-bit decay codes): no decay",
                    f.decay_bits
                ));
            }
        }
        let du2 = pr.decay_u2.map(|d| decay_code(d, f.decay_bits));
        if let (Some(frac_), Some(0)) = (pr.decay_u2, du2) {
            if frac_ > 0.0 {
                warn.push(format!(
                    "population `{pop_name}`: second current decay {frac_} rounds to code 0 ({}-bit decay codes): no decay",
                    f.decay_bits
                ));
            }
        }
        pq.push(PopQuant { scale, decay_u: du, decay_u2: du2, decay_v: dv });
    }
    ir.warnings.extend(warn);
    for j in ir.proj_ids().collect::<Vec<_>>() {
        let pj = ir.proj(j);
        let vscale = pq[pj.post.index()].scale;
        let mut m = pj.conn.max_abs_weight();
        if let Some(pl) = &pj.plasticity {
            m = m.max(pl.w_min.abs()).max(pl.w_max.abs());
        }
        let e = choose_exp(m * vscale, spec);
        let scale = vscale / 2f64.powi(i32::from(e));
        let (mut max_err, mut sum_err, mut nz, mut zeroed, mut saturated) = (0.0f64, 0.0f64, 0u64, 0u64, 0u64);
        // Plastic synapses keep their initial weight at accumulator precision.
        let unit = if pj.plasticity.is_some() { 2f64.powi(frac as i32) } else { 1.0 };
        for w in pj.conn.weight.stored_iter() {
            if w == 0.0 {
                continue;
            }
            let q = round_away(w * scale * unit).clamp(-f64::from(wmax) * unit, f64::from(wmax) * unit);
            let err = ((q / (scale * unit)) - w).abs() / w.abs();
            let mult = match &pj.conn.weight {
                crate::ir::Values::Const(_) => pj.conn.len(),
                crate::ir::Values::Each(_) => 1,
            };
            max_err = max_err.max(err);
            sum_err += err * mult as f64;
            nz += mult;
            if q == 0.0 {
                zeroed += mult;
            }
            if (w * scale).abs() > f64::from(wmax) + 0.5 {
                saturated += mult;
            }
        }
        if zeroed > 0 && !pj.allow_zero {
            return Err(CompileError::Quantization {
                place: format!("projection `{}`", pj.name),
                message: format!(
                    "{zeroed} non-zero weights round to zero (largest |w| {m}, exponent {e}, {} magnitude bits); \
                     narrow the weight range, or accept them with `zeroed = allow` on this `connect`",
                    f.weight_bits
                ),
            });
        }
        let acc_bounds = pj.plasticity.as_ref().map(|pl| {
            let amax = smax(f.accumulator_bits) as f64;
            let amin = smin(f.accumulator_bits) as f64;
            let lim = f64::from(wmax) * 2f64.powi(frac as i32);
            let a = |w: f64| (round_away(w * scale * 2f64.powi(frac as i32))).clamp(-lim, lim).clamp(amin, amax) as i32;
            (a(pl.w_min), a(pl.w_max))
        });
        let q = ProjQuant {
            weight_exp: e,
            scale,
            max_rel_error: max_err,
            mean_rel_error: if nz > 0 { sum_err / nz as f64 } else { 0.0 },
            zeroed,
            saturated,
            acc_bounds,
        };
        if saturated > 0 {
            let name = pj.name.clone();
            ir.warnings.push(format!(
                "projection `{name}`: {saturated} weights saturate at the largest weight exponent {}",
                f.weight_exp_max
            ));
        }
        ir.proj_mut(j).quant = Some(q);
    }
    ir.pop_quant = pq;
    Ok(ir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponent_keeps_largest_weight_in_range() {
        let spec = ChipSpec::default_profile();
        for m in [1.0, 254.9, 255.0, 256.0, 3538.0, 30000.0] {
            let e = choose_exp(m, &spec);
            let q = m / 2f64.powi(i32::from(e));
            assert!(q <= 255.5, "m {m} e {e} q {q}");
            assert!(q > 127.0 || e == spec.formats.weight_exp_min, "m {m} e {e} q {q}");
        }
        assert_eq!(choose_exp(1e6, &spec), spec.formats.weight_exp_max, "clamped");
    }

    #[test]
    fn decay_codes() {
        assert_eq!(decay_code(0.0, 12), 0);
        assert_eq!(decay_code(1.0, 12), 4096);
        assert_eq!(decay_code(0.5, 12), 2048);
    }
}
