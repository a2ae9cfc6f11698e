//! Calibration files: the per-neuron and per-synapse deviations of one chip instance, measured
//! from outside (`nmemu calibrate` writes them), and the correction a compiler applies to cancel
//! them within the register formats (`nmc compile --calibration`). Shared here because the
//! compiler and the emulator never depend on each other.
//!
//! The file is JSON (format `nmemu-calibration`, version 2; version 1 files, which have no
//! synapse list, are still read): per neuron the measured gains `v_th_gain = v_th_eff / v_th`,
//! `leak_gain = d_eff / d_v` and the additive bias offset; per plastic synapse the measured
//! learning-rate gain `lr_gain` (`a_i`: the factor the chip applies to every weight write). The
//! correction: `v_th ← round(v_th / v_th_gain)`, `bias ← round(bias − offset)`, and the voltage
//! decay code `round(d_v / leak_gain)` — decay codes live in profiles, so neurons are regrouped
//! into per-neuron-leak profiles, merging codes when the core's profile budget is exceeded; and
//! each measured synapse's learning-rate trim code `round((1/a_i − 1) / step)` (step
//! [`crate::fixed_point::LR_TRIM_STEP`] = 1/128), clamped to the chip's
//! `learning_rate_trim_bits` (the count of clamped codes is reported by [`apply_with_report`]).

use crate::neuron::NeuronProfile;
use crate::program::Program;
use serde::{Deserialize, Serialize};

/// Why a calibration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalError {
    #[error("not a calibration file: {0}")]
    Parse(String),
    #[error("calibration file is format `{format}` version {version}; expected `{FORMAT}` version 1 or 2")]
    Format { format: String, version: u32 },
    #[error("calibration does not fit this program: {0}")]
    Invalid(String),
}

/// The calibration file's format name.
pub const FORMAT: &str = "nmemu-calibration";
/// The version `nmemu calibrate` writes (2 adds [`Calibration::synapses`] and
/// [`CalSpread::learning_rate_rsd`]); versions 1 ..= this are read.
pub const VERSION: u32 = 2;

/// The measured learning-rate gain of one plastic synapse.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynapseCal {
    pub core: u32,
    /// Index into the core's synapses (the physical synapse slot).
    pub synapse: u32,
    /// `a_i`: the weight change the chip makes divided by the change the rule writes.
    pub lr_gain: f64,
}

/// Measured deviations of one neuron.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeuronCal {
    pub core: u32,
    pub neuron: u32,
    pub v_th_gain: f64,
    pub leak_gain: f64,
    /// Bias offset per step at the program's threshold and leak (voltage units).
    pub bias_offset: f64,
    /// The same relative to `|v_th| · decay_v / 2^decay_bits` (the chip's offset scales with
    /// the programmed threshold and leak, so this is what a correction uses).
    pub bias_offset_rel: f64,
}

/// Spreads across neurons.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CalSpread {
    /// Relative SD of the effective threshold.
    pub threshold_rsd: f64,
    /// Relative SD of the effective voltage leak.
    pub leak_rsd: f64,
    /// SD of the bias offset relative to the threshold's steady-state bias (`v_th · d_v / 2^bits`).
    pub bias_rsd: f64,
    /// Relative SD of the effective threshold (firing-probability offset) of the stochastic
    /// sampling neurons (0 when the program has none; absent in files of older builds).
    #[serde(default)]
    pub sampling_threshold_rsd: f64,
    /// Relative SD of the effective learning-rate gains of the plastic synapses (mismatch gain
    /// times trim factor; 0 in version 1 files).
    #[serde(default)]
    pub learning_rate_rsd: f64,
}

/// The calibration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub format: String,
    pub version: u32,
    pub chip: String,
    pub chip_seed: u64,
    pub program: String,
    pub neurons: Vec<NeuronCal>,
    /// Neurons not measured: graded neurons and LIF neurons without a voltage leak (`decay_v = 0`).
    pub skipped: u64,
    /// Measured plastic synapses (empty in version 1 files).
    #[serde(default)]
    pub synapses: Vec<SynapseCal>,
    pub before: CalSpread,
    pub after: CalSpread,
}

/// Parse a calibration file's text (JSON) and check its format and version.
pub fn parse(text: &str) -> Result<Calibration, CalError> {
    let cal: Calibration = serde_json::from_str(text).map_err(|e| CalError::Parse(e.to_string()))?;
    if cal.format != FORMAT || !(1..=VERSION).contains(&cal.version) {
        return Err(CalError::Format { format: cal.format, version: cal.version });
    }
    Ok(cal)
}

/// Check that a calibration was measured for this program's chip and neurons: the chip name,
/// and every calibrated `(core, neuron)` exists and is a LIF or a stochastic neuron.
pub fn check_fits(p: &Program, cal: &Calibration) -> Result<(), CalError> {
    if cal.chip != p.chip.name {
        return Err(CalError::Invalid(format!(
            "measured on chip `{}`, the program is compiled for `{}`",
            cal.chip, p.chip.name
        )));
    }
    for c in &cal.synapses {
        let Some(core) = p.cores.iter().find(|k| k.id.0 == c.core) else {
            return Err(CalError::Invalid(format!("the program has no core {}", c.core)));
        };
        let Some(s) = core.synapses.get(c.synapse as usize) else {
            return Err(CalError::Invalid(format!("core {} has no synapse {}", c.core, c.synapse)));
        };
        if core.groups.get(usize::from(s.group)).and_then(|g| g.rule).is_none() {
            return Err(CalError::Invalid(format!(
                "core {}, synapse {} is not plastic in this program (was the placement different?)",
                c.core, c.synapse
            )));
        }
    }
    for c in &cal.neurons {
        let Some(core) = p.cores.iter().find(|k| k.id.0 == c.core) else {
            return Err(CalError::Invalid(format!("the program has no core {}", c.core)));
        };
        let Some(n) = core.neurons.get(c.neuron as usize) else {
            return Err(CalError::Invalid(format!("core {} has no neuron {}", c.core, c.neuron)));
        };
        match core.profiles.get(usize::from(n.profile)) {
            Some(pr) if matches!(pr.kind, crate::neuron::NeuronKind::Lif | crate::neuron::NeuronKind::Stochastic) => {}
            _ => {
                return Err(CalError::Invalid(format!(
                    "core {}, neuron {} is neither a LIF nor a stochastic neuron in this program (was the placement different?)",
                    c.core, c.neuron
                )))
            }
        }
    }
    Ok(())
}

/// What [`apply_with_report`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub neurons: usize,
    /// Synapses whose learning-rate trim was set.
    pub synapses: usize,
    /// Of those, how many wanted a code outside the trim range and got the nearest end.
    pub trims_clamped: usize,
    /// The trim code range `lo ..= hi` of the chip.
    pub trim_lo: i32,
    pub trim_hi: i32,
}

/// The trim code for a measured learning-rate gain `a`: `round((1/a − 1) / step)` clamped to
/// `lo ..= hi`, and whether it was clamped (a gain of 0 or below gets `hi`, clamped).
pub fn trim_code(a: f64, lo: i32, hi: i32) -> (i8, bool) {
    if a <= 0.0 {
        return (hi as i8, true);
    }
    let want = ((1.0 / a - 1.0) / crate::fixed_point::LR_TRIM_STEP).round();
    let c = want.clamp(f64::from(lo), f64::from(hi));
    (c as i8, c != want)
}

/// Apply a calibration to a program: per-neuron threshold and bias, per-neuron leak through
/// regrouped profiles (at most the core's `max_profiles`; codes are merged when needed), and
/// per-synapse learning-rate trims.
pub fn apply(p: &Program, cal: &Calibration) -> Result<Program, CalError> {
    apply_with_report(p, cal).map(|(q, _)| q)
}

/// [`apply`], and what it changed (how many trims hit the end of the code range).
pub fn apply_with_report(p: &Program, cal: &Calibration) -> Result<(Program, ApplyReport), CalError> {
    let mut q = p.clone();
    let (trim_lo, trim_hi) = crate::fixed_point::lr_trim_range(q.chip.formats.learning_rate_trim_bits);
    let mut rep = ApplyReport { neurons: cal.neurons.len(), trim_lo, trim_hi, ..ApplyReport::default() };
    for c in &cal.synapses {
        let Some(core) = q.cores.iter_mut().find(|k| k.id.0 == c.core) else {
            return Err(CalError::Invalid(format!("the program has no core {}", c.core)));
        };
        let si = c.synapse as usize;
        if si >= core.synapses.len() {
            return Err(CalError::Invalid(format!("core {} has no synapse {}", c.core, c.synapse)));
        }
        if !c.lr_gain.is_finite() {
            return Err(CalError::Invalid(format!(
                "core {}, synapse {}: non-finite learning-rate gain",
                c.core, c.synapse
            )));
        }
        if core.lr_trim.is_empty() {
            core.lr_trim = vec![0; core.synapses.len()];
        }
        let (code, clamped) = trim_code(c.lr_gain, trim_lo, trim_hi);
        core.lr_trim[si] = code;
        rep.synapses += 1;
        rep.trims_clamped += usize::from(clamped);
    }
    let vb = q.chip.formats.voltage_bits;
    let (vmin, vmax) = (crate::fixed_point::smin(vb) as f64, crate::fixed_point::smax(vb) as f64);
    let dmax = 1u32 << q.chip.formats.decay_bits;
    let max_profiles = q.chip.core.max_profiles as usize;
    let mut by_core: std::collections::HashMap<u32, Vec<&NeuronCal>> = std::collections::HashMap::new();
    for n in &cal.neurons {
        by_core.entry(n.core).or_default().push(n);
    }
    for core in &mut q.cores {
        let Some(cals) = by_core.get(&core.id.0) else { continue };
        // Desired (profile, decay code) per calibrated neuron.
        let mut want: Vec<(usize, u8, u32, f64)> = Vec::new();
        for c in cals {
            let Some(n) = core.neurons.get_mut(c.neuron as usize) else {
                return Err(CalError::Invalid(format!("core {} has no neuron {}", core.id, c.neuron)));
            };
            if !(c.v_th_gain.is_finite()
                && c.v_th_gain > 0.0
                && c.leak_gain.is_finite()
                && c.leak_gain > 0.0
                && c.bias_offset.is_finite())
            {
                return Err(CalError::Invalid(format!(
                    "core {}, neuron {}: non-finite or non-positive gain",
                    core.id, c.neuron
                )));
            }
            n.v_th = (f64::from(n.v_th) / c.v_th_gain).round().clamp(vmin, vmax) as i32;
            let prof = core
                .profiles
                .get(usize::from(n.profile))
                .ok_or_else(|| CalError::Invalid(format!("core {}: neuron profile missing", core.id)))?;
            if prof.kind == crate::neuron::NeuronKind::Stochastic {
                // A sampling neuron has no leak to regroup: its threshold is all there is.
                continue;
            }
            let code = (f64::from(prof.decay_v) / c.leak_gain).round().clamp(0.0, f64::from(dmax)) as u32;
            want.push((c.neuron as usize, n.profile, code, c.bias_offset_rel));
        }
        // Merge codes (coarser steps) until the distinct profiles fit the budget.
        let mut step = 1u32;
        loop {
            let mut set: std::collections::BTreeSet<(u8, u32)> =
                core.profiles.iter().enumerate().map(|(k, p)| (k as u8, p.decay_v)).collect();
            for &(_, pr, code, _) in &want {
                set.insert((pr, code / step * step + step / 2));
            }
            if set.len() <= max_profiles || step > dmax {
                break;
            }
            step *= 2;
        }
        let q_code = |c: u32| if step == 1 { c } else { c / step * step + step / 2 };
        for (ni, pr, code, rel) in want {
            let code = q_code(code).min(dmax);
            let base = core.profiles[usize::from(pr)].clone();
            let target = NeuronProfile { decay_v: code, ..base };
            let k = match core.profiles.iter().position(|p| *p == target) {
                Some(k) => k,
                None if core.profiles.len() < max_profiles => {
                    core.profiles.push(target);
                    core.profiles.len() - 1
                }
                None => usize::from(pr), // out of profiles: this neuron keeps its leak
            };
            core.neurons[ni].profile = k as u8;
            // The offset at the corrected threshold and leak, removed from the bias.
            let d = core.profiles[k].decay_v;
            let n = &mut core.neurons[ni];
            let off = rel * f64::from(n.v_th).abs() * f64::from(d.max(1)) / f64::from(dmax);
            n.bias = (f64::from(n.bias) - off).round().clamp(vmin, vmax) as i32;
        }
    }
    Ok((q, rep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_codes_cancel_the_gain_within_half_a_step() {
        assert_eq!(trim_code(1.0, -32, 31), (0, false));
        assert_eq!(trim_code(0.9, -32, 31), (14, false));
        assert_eq!(trim_code(1.1, -32, 31), (-12, false));
        assert_eq!(trim_code(0.5, -32, 31), (31, true));
        assert_eq!(trim_code(2.0, -32, 31), (-32, true));
        assert_eq!(trim_code(0.0, -32, 31), (31, true));
        assert_eq!(trim_code(0.9, 0, 0), (0, true));
        for k in 0..200 {
            let a = 0.82 + 0.5 * f64::from(k) / 200.0;
            let (c, clamped) = trim_code(a, -32, 31);
            assert!(!clamped, "{a}");
            let eff = a * (1.0 + f64::from(c) * crate::fixed_point::LR_TRIM_STEP);
            assert!((eff - 1.0).abs() <= a * crate::fixed_point::LR_TRIM_STEP / 2.0 + 1e-12, "{a}: {eff}");
        }
    }
}
