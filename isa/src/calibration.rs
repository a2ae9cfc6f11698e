//! Calibration files: the per-neuron deviations of one chip instance, measured from outside
//! (`nmemu calibrate` writes them), and the correction a compiler applies to cancel them within
//! the register formats (`nmc compile --calibration`). Shared here because the compiler and the
//! emulator never depend on each other.
//!
//! The file is JSON (format `nmemu-calibration`, version 1): per neuron the measured gains
//! `v_th_gain = v_th_eff / v_th`, `leak_gain = d_eff / d_v` and the additive bias offset. The
//! correction: `v_th ← round(v_th / v_th_gain)`, `bias ← round(bias − offset)`, and the voltage
//! decay code `round(d_v / leak_gain)` — decay codes live in profiles, so neurons are regrouped
//! into per-neuron-leak profiles, merging codes when the core's profile budget is exceeded.

use crate::neuron::NeuronProfile;
use crate::program::Program;
use serde::{Deserialize, Serialize};

/// Why a calibration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CalError {
    #[error("not a calibration file: {0}")]
    Parse(String),
    #[error("calibration file is format `{format}` version {version}; expected `{FORMAT}` version 1")]
    Format { format: String, version: u32 },
    #[error("calibration does not fit this program: {0}")]
    Invalid(String),
}

/// The calibration file's format name.
pub const FORMAT: &str = "nmemu-calibration";

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
    /// Neurons not measured (graded neurons, LIF neurons without leak).
    pub skipped: u64,
    pub before: CalSpread,
    pub after: CalSpread,
}

/// Parse a calibration file's text (JSON) and check its format and version.
pub fn parse(text: &str) -> Result<Calibration, CalError> {
    let cal: Calibration = serde_json::from_str(text).map_err(|e| CalError::Parse(e.to_string()))?;
    if cal.format != FORMAT || cal.version != 1 {
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

/// Apply a calibration to a program: per-neuron threshold and bias, and per-neuron leak through
/// regrouped profiles (at most the core's `max_profiles`; codes are merged when needed).
pub fn apply(p: &Program, cal: &Calibration) -> Result<Program, CalError> {
    let mut q = p.clone();
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
    Ok(q)
}
