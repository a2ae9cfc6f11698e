//! Virtual calibration: measure every LIF neuron and every plastic synapse of one chip instance
//! the way a lab would, from the outside, and write the measured deviations for the compiler.
//!
//! Procedure (all neurons of the program in parallel, each run a stripped copy of the program:
//! same cores, profiles and neuron slots, no synapses, inputs or routes, so the chip instance —
//! drawn per physical slot — is the same):
//! 1. **Leak.** Threshold set out of reach; run A from `v = V0` and run B from `v = 0`, both with
//!    bias 0, for `k = 2^decay_bits / d_v` steps. B alone is the bias offset's contribution, so
//!    `A − B = V0 · a^k` gives the per-step keep factor `a` and the effective decay code
//!    `d = 2^decay_bits · (1 − a)`.
//! 2. **Bias offset.** Run B continued to steady state (8 time constants): `v∞ = off / (1 − a)`.
//! 3. **Threshold.** Binary search over the programmed bias for the rheobase `b*` (smallest bias
//!    that makes the neuron spike within 8 time constants from rest); then the effective
//!    threshold is `(b* + off) / (1 − a)`.
//!
//! 4. **Learning-rate gain** of every plastic synapse ([`measure_lr`]): a copy of the program
//!    with the same cores, neurons and synapses (so the same physical slots) but silent inputs,
//!    no routes and no trims, in which every plastic synapse's rule is replaced by a calibration rule
//!    that adds a known large `D` to its weight at every step (`ld w; addi D; st w`, an epoch
//!    of one step, nearest rounding). After `W` steps from a known accumulator value the
//!    accumulators are read back; `a_i = Δacc / (W · D)`. The chip applies its learning-rate
//!    gain to every written difference, so this is the factor a rule's updates get. With the
//!    default 16-bit accumulator `D = 6144`, `W = 4`: a resolution of 4·10⁻⁵ (each write rounds
//!    to the nearest accumulator unit). Gains above 2 saturate the accumulator (then `a_i` is a
//!    lower bound; such a gain is far outside any trim range anyway).
//!
//! The file (`chip.cal`, JSON, format `nmemu-calibration` version 2) lists per neuron the
//! measured gains `v_th_gain = v_th_eff / v_th`, `leak_gain = d_eff / d_v` and the additive
//! `bias_offset` (voltage units per step). The correction a compiler applies, within the register
//! formats: `v_th ← round(v_th / v_th_gain)`, `bias ← round(bias − bias_offset)`, and the voltage
//! decay code `round(d_v / leak_gain)` — decay codes live in profiles, so neurons are regrouped
//! into per-neuron-leak profiles, merging codes when the core's profile budget is exceeded; and per
//! plastic synapse `lr_gain = a_i`, which the compiler turns into the synapse's learning-rate trim
//! code `round((1/a_i − 1) · 128)`, clamped to the chip's `learning_rate_trim_bits`.
//!
//! **Sampling (stochastic) neurons** have no leak; their threshold (the offset `ln τ` of the
//! firing probability `σ(u + b − v_th)`) carries the chip's mismatch. With the bias programmed at
//! the threshold and no input, the spike count over ~20 000 draws gives the firing probability
//! per draw (each spike suppresses `refractory − 1` draws); the probability table inverted there
//! gives the effective threshold, written as `v_th_gain` (leak gain 1, no offset) and corrected
//! through `v_th` like a LIF neuron's.
//!
//! [`apply`] is that correction; [`calibrate`] measures before and after it and reports the
//! spreads (relative SDs across neurons and synapses) of effective threshold, leak, bias offset
//! and learning-rate gain.

use crate::engine::{Emulator, RunConfig};
use crate::error::EmuError;
use crate::mismatch::sd;
pub use nm_isa::calibration::{CalSpread, Calibration, NeuronCal, SynapseCal, FORMAT, VERSION};
use nm_isa::fixed_point::{smax, smin, Rounding};
use nm_isa::ids::RuleId;
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Scope, Src, Trigger};
use nm_isa::neuron::{NeuronKind, NeuronProfile};
use nm_isa::program::Program;

/// Per neuron: effective threshold, decay code and bias offset, measured.
#[derive(Clone, Copy, Debug, Default)]
struct Meas {
    v_th: f64,
    d: f64,
    /// Offset per step at the program's threshold and leak.
    off: f64,
    /// Offset relative to the threshold's steady-state bias `|v_th| · d_v / 2^bits`.
    rel: f64,
    /// Offset left after the program's correction.
    resid: f64,
}

/// `(core index, neuron)` of each measured neuron and its measurement.
type Measured = (Vec<(usize, usize)>, Vec<Meas>);

fn strip(p: &Program) -> Program {
    let mut q = p.clone();
    for c in &mut q.cores {
        c.axon_map.clear();
        c.axons.clear();
        c.synapses.clear();
        c.lr_trim.clear();
        c.groups.clear();
    }
    q.routes.clear();
    q.inputs.clear();
    q.probes.clear();
    q.signals.clear();
    q.rules.clear();
    q.symbols.projections.clear();
    q
}

fn lif_neurons(p: &Program) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (ci, c) in p.cores.iter().enumerate() {
        for (i, n) in c.neurons.iter().enumerate() {
            if c.profiles.get(usize::from(n.profile)).is_some_and(|pr| pr.kind == NeuronKind::Lif && pr.decay_v > 0) {
                v.push((ci, i));
            }
        }
    }
    v
}

/// Run `q` (stripped) with per-neuron `(bias, v_th, v_init)` for `steps`; returns each neuron's
/// final v and spike count.
fn trial(
    q: &Program,
    cfg: RunConfig,
    set: &dyn Fn(usize, usize) -> (i32, i32, i32),
    steps: u64,
    neurons: &[(usize, usize)],
) -> Result<(Vec<i32>, Vec<u64>), EmuError> {
    let mut t = q.clone();
    for &(ci, i) in neurons {
        let (b, th, v0) = set(ci, i);
        let n = &mut t.cores[ci].neurons[i];
        n.bias = b;
        n.v_th = th;
        n.v_init = v0;
    }
    let mut emu = Emulator::new(&t, cfg)?;
    let mut count: Vec<Vec<u64>> = t.cores.iter().map(|c| vec![0; c.neurons.len()]).collect();
    for _ in 0..steps {
        emu.step();
        for (ci, c) in count.iter_mut().enumerate() {
            for &k in emu.last_spikes(ci) {
                c[k as usize] += 1;
            }
        }
    }
    let v = neurons.iter().map(|&(ci, i)| emu.membrane(ci).map_or(0, |s| s.1[i])).collect();
    let counts = neurons.iter().map(|&(ci, i)| count[ci][i]).collect();
    Ok((v, counts))
}

/// Measure every LIF neuron of `p` on the chip instance `chip_seed`. `nominal` is the
/// uncalibrated program: the leak and offset runs program the bias `p.bias − nominal.bias` (the
/// calibration's correction, 0 before calibration), so `Meas::resid` is the offset left over,
/// while `Meas::off` is the chip's own offset.
fn measure(p: &Program, nominal: &Program, chip_seed: u64) -> Result<Measured, EmuError> {
    let q = strip(p);
    let delta = |ci: usize, i: usize| q.cores[ci].neurons[i].bias - nominal.cores[ci].neurons[i].bias;
    let cfg = RunConfig { chip_seed, noise_seed: 0, ideal: false, threads: 1, seed: None };
    let neurons = lif_neurons(&q);
    let vb = q.chip.formats.voltage_bits;
    let dmax = f64::from(1u32 << q.chip.formats.decay_bits);
    let vmax = smax(vb) as i32;
    let prof =
        |ci: usize, i: usize| -> &NeuronProfile { &q.cores[ci].profiles[usize::from(q.cores[ci].neurons[i].profile)] };
    let dv_nom: Vec<f64> = neurons.iter().map(|&(ci, i)| f64::from(prof(ci, i).decay_v)).collect();
    // One common run length: a time constant of the slowest nominal leak.
    let dmin = dv_nom.iter().copied().fold(f64::MAX, f64::min).max(1.0);
    let k = (dmax / dmin).ceil().max(1.0) as u64;
    let v0 = (vmax / 2).max(1);
    let (va, _) = trial(&q, cfg, &|_, _| (0, vmax, v0), k, &neurons)?;
    let (vb0, _) = trial(&q, cfg, &|_, _| (0, vmax, 0), k, &neurons)?;
    let settle = 8 * k;
    let (vinf, _) = trial(&q, cfg, &|_, _| (0, vmax, 0), settle, &neurons)?;
    let mut meas: Vec<Meas> = Vec::with_capacity(neurons.len());
    for j in 0..neurons.len() {
        let ratio = (f64::from(va[j]) - f64::from(vb0[j])) / f64::from(v0);
        let a = if ratio > 0.0 { ratio.powf(1.0 / k as f64) } else { 0.0 };
        let d = dmax * (1.0 - a);
        // The offset scales with the programmed threshold and leak (see `mismatch`): measured
        // with the threshold at `vmax`, expressed relative to it, then at the operating point.
        let (ci, i) = neurons[j];
        let dprog = f64::from(prof(ci, i).decay_v.max(1)) / dmax;
        let rel = f64::from(vinf[j]) * (1.0 - a) / (f64::from(vmax) * dprog);
        let off = rel * f64::from(q.cores[ci].neurons[i].v_th).abs() * dprog;
        meas.push(Meas { v_th: 0.0, d, off, rel, resid: off + f64::from(delta(ci, i)) });
    }
    // Rheobase by binary search on the programmed bias.
    let mut lo: Vec<i64> = vec![-(i64::from(vmax)); neurons.len()];
    let mut hi: Vec<i64> = vec![i64::from(vmax); neurons.len()];
    for _ in 0..(u32::from(vb) + 1) {
        let mid: Vec<i32> = lo.iter().zip(&hi).map(|(&l, &h)| ((l + h).div_euclid(2)) as i32).collect();
        let idx: std::collections::HashMap<(usize, usize), usize> =
            neurons.iter().enumerate().map(|(j, &n)| (n, j)).collect();
        let (_, sp) = trial(&q, cfg, &|ci, i| (mid[idx[&(ci, i)]], q.cores[ci].neurons[i].v_th, 0), settle, &neurons)?;
        for j in 0..neurons.len() {
            if sp[j] > 0 {
                hi[j] = i64::from(mid[j]);
            } else {
                lo[j] = i64::from(mid[j]);
            }
        }
        if lo.iter().zip(&hi).all(|(&l, &h)| h - l <= 1) {
            break;
        }
    }
    for (j, m) in meas.iter_mut().enumerate() {
        let keep = (m.d / dmax).max(1e-9);
        m.v_th = (hi[j] as f64 + m.off) / keep;
    }
    Ok((neurons, meas))
}

/// The stochastic (sampling) neurons of `p` with a firing-probability table and a threshold.
fn sampling_neurons(p: &Program) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (ci, c) in p.cores.iter().enumerate() {
        for (i, n) in c.neurons.iter().enumerate() {
            let lut = |pr: &NeuronProfile| pr.lut.and_then(|l| p.luts.get(usize::from(l)));
            if n.v_th != 0
                && c.profiles.get(usize::from(n.profile)).is_some_and(|pr| {
                    pr.kind == NeuronKind::Stochastic && lut(pr).is_some_and(|l| !l.entries.is_empty())
                })
            {
                v.push((ci, i));
            }
        }
    }
    v
}

/// `(core index, neuron)` of each measured sampling neuron and its effective threshold.
type SamplingMeasured = (Vec<(usize, usize)>, Vec<f64>);

/// Draws (non-refractory steps) per sampling neuron in [`measure_sampling`]: the logit of the
/// firing probability is then known to about `2 / sqrt(DRAWS)` ≈ 0.014.
const DRAWS: u64 = 20_000;

/// Measure the effective threshold of every sampling neuron of `p` on chip `chip_seed`, from the
/// outside: with the bias programmed at the threshold (so the nominal input of the probability
/// table is 0) and no synaptic input, count the spikes `S` in `T` steps; each spike makes the
/// neuron active for `refractory − 1` steps without a draw, so the firing probability per draw
/// is `p = S / (T − S · (refractory − 1))`, and the table's input is the `x` at which it gives
/// `p` (inverted by bisection; the tables are monotone). The chip's threshold is then
/// `bias − x`. Returns `(core index, neuron)` and the effective thresholds.
fn measure_sampling(p: &Program, chip_seed: u64) -> Result<SamplingMeasured, EmuError> {
    let q = strip(p);
    let neurons = sampling_neurons(&q);
    if neurons.is_empty() {
        return Ok((neurons, Vec::new()));
    }
    let refr = |q: &Program, ci: usize, i: usize| {
        u64::from(q.cores[ci].profiles[usize::from(q.cores[ci].neurons[i].profile)].refractory.max(1))
    };
    let longest = neurons.iter().map(|&(ci, i)| refr(&q, ci, i)).max().unwrap_or(1);
    // At p = 1/2 a spike every ~(refractory + 1) / 2 steps ... 2 / (refractory + 1) draws per step.
    let steps = DRAWS * (longest + 1) / 2 + DRAWS;
    let cfg = RunConfig { chip_seed, noise_seed: 0, ideal: false, threads: 1, seed: None };
    let at_threshold = |ci: usize, i: usize| {
        let th = q.cores[ci].neurons[i].v_th;
        (th, th, 0)
    };
    let (_, count) = trial(&q, cfg, &at_threshold, steps, &neurons)?;
    let vb = q.chip.formats.voltage_bits;
    let (lo, hi) = (nm_isa::fixed_point::smin(vb), smax(vb));
    let mut vth = Vec::with_capacity(neurons.len());
    for (&(ci, i), &s) in neurons.iter().zip(&count) {
        let c = &q.cores[ci];
        let n = &c.neurons[i];
        let lut = c.profiles[usize::from(n.profile)].lut.and_then(|l| q.luts.get(usize::from(l)));
        let Some(lut) = lut else { continue };
        let draws = steps.saturating_sub(s * (refr(&q, ci, i) - 1)).max(1);
        // The table's value (Q16 probability) at the measured probability, kept inside (0, 1).
        let target = (s as f64 / draws as f64 * 65536.0).clamp(0.5, 65535.5);
        // Smallest and largest x with lookup(x) >= target / <= target: the middle of the step.
        let first_at_least = |t: f64| -> i64 {
            let (mut a, mut b) = (lo, hi + 1);
            while a < b {
                let m = (a + b).div_euclid(2);
                if f64::from(lut.lookup(m as i32)) >= t {
                    b = m;
                } else {
                    a = m + 1;
                }
            }
            a
        };
        let x = (first_at_least(target) + first_at_least(target + 1.0)) as f64 / 2.0;
        // The bias was programmed at the threshold.
        vth.push(f64::from(n.v_th) - x);
    }
    if vth.len() != neurons.len() {
        return Err(EmuError::Calibration("a sampling neuron lost its probability table".into()));
    }
    Ok((neurons, vth))
}

fn spread(p: &Program, neurons: &[(usize, usize)], meas: &[Meas], nominal: &Program) -> CalSpread {
    let dmax = f64::from(1u32 << p.chip.formats.decay_bits);
    let nom = |ci: usize, i: usize| {
        let c = &nominal.cores[ci];
        let n = &c.neurons[i];
        (f64::from(n.v_th), f64::from(c.profiles[usize::from(n.profile)].decay_v))
    };
    let th = neurons.iter().zip(meas).map(|(&(ci, i), m)| m.v_th / nom(ci, i).0.max(1.0));
    let lk = neurons.iter().zip(meas).map(|(&(ci, i), m)| m.d / nom(ci, i).1.max(1.0));
    let bs = neurons.iter().zip(meas).map(|(&(ci, i), m)| {
        let (t, d) = nom(ci, i);
        m.resid / (t * d / dmax).abs().max(1e-9)
    });
    CalSpread {
        threshold_rsd: sd(th),
        leak_rsd: sd(lk),
        bias_rsd: sd(bs),
        sampling_threshold_rsd: 0.0,
        learning_rate_rsd: 0.0,
    }
}

/// Relative SD of the measured sampling-neuron thresholds against `nominal`'s.
fn sampling_spread(neurons: &[(usize, usize)], vth: &[f64], nominal: &Program) -> f64 {
    sd(neurons.iter().zip(vth).map(|(&(ci, i), &v)| v / f64::from(nominal.cores[ci].neurons[i].v_th)))
}

/// `(core index, synapse index)` of each measured plastic synapse and its learning-rate gain.
pub type MeasuredLr = (Vec<(usize, usize)>, Vec<f64>);

/// Writes of the learning-rate measurement.
const LR_WRITES: u64 = 4;

/// `(start accumulator, D)` of the learning-rate measurement for `accumulator_bits`: start at
/// `smin/2`, and `W · D · 2` stays below `smax` (gains up to 2 are measured unsaturated).
fn lr_probe(ab: u8) -> (i32, i32) {
    let start = (smin(ab) / 2) as i32;
    let d = ((3i64 << ab) >> 5).max(1) as i32;
    (start, d)
}

/// The calibration rule: every step, `w ← w + d` on every synapse (nearest rounding, bounds the
/// whole accumulator).
fn lr_rule(d: i32, ab: u8) -> LearnRule {
    LearnRule {
        name: "calibrate_lr".into(),
        x: [None, None],
        y: [None, None],
        handlers: vec![Handler {
            trigger: Trigger::Epoch,
            scope: Scope::Synapse,
            code: vec![Instr::ld(0, Src::W), Instr::rri(Opcode::Addi, 0, 0, d), Instr::st(Dst::W, 0)],
        }],
        w_min: smin(ab) as i32,
        w_max: smax(ab) as i32,
        readout: Rounding::Nearest,
    }
}

/// `(core index, synapse index)` of every plastic synapse (its group has a rule).
fn plastic_synapses(p: &Program) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (ci, c) in p.cores.iter().enumerate() {
        for (si, s) in c.synapses.iter().enumerate() {
            if c.groups.get(usize::from(s.group)).is_some_and(|g| g.rule.is_some()) {
                v.push((ci, si));
            }
        }
    }
    v
}

/// Measure the effective learning-rate gain (mismatch gain times the programmed trim factor) of
/// every plastic synapse of `p` on the chip instance `chip_seed`, from the outside: see the
/// module documentation, step 4. Returns the synapses and their gains.
pub fn measure_lr(p: &Program, chip_seed: u64) -> Result<MeasuredLr, EmuError> {
    let syns = plastic_synapses(p);
    if syns.is_empty() {
        return Ok((syns, Vec::new()));
    }
    let ab = p.chip.formats.accumulator_bits;
    let (start, d) = lr_probe(ab);
    let mut q = p.clone();
    q.routes.clear();
    // Inputs stay (projections name them) but send nothing.
    for i in &mut q.inputs {
        i.kind = nm_isa::program::InputKind::SpikeTimes { events: Vec::new() };
        i.gate = None;
    }
    q.probes.clear();
    q.signals.clear();
    q.rules = vec![lr_rule(d, ab)];
    q.meta.epoch_steps = 1;
    for c in &mut q.cores {
        for g in &mut c.groups {
            if g.rule.is_some() {
                g.rule = Some(RuleId(0));
            }
        }
    }
    for &(ci, si) in &syns {
        q.cores[ci].synapses[si].acc = start;
    }
    let cfg = RunConfig { chip_seed, noise_seed: 0, ideal: false, threads: 1, seed: None };
    let mut emu = Emulator::new(&q, cfg)?;
    for _ in 0..LR_WRITES {
        emu.step();
    }
    let intended = (LR_WRITES as f64) * f64::from(d);
    let gains = syns
        .iter()
        .map(|&(ci, si)| {
            let acc = emu.synapse_state(ci).map_or(start, |(a, _)| a.get(si).copied().unwrap_or(start));
            (f64::from(acc) - f64::from(start)) / intended
        })
        .collect();
    Ok((syns, gains))
}

/// Measure the chip instance `chip_seed` on the neurons and plastic synapses of `p`, derive the
/// calibration, apply it and measure again.
pub fn calibrate(p: &Program, chip_seed: u64) -> Result<Calibration, EmuError> {
    let (neurons, meas) = measure(p, p, chip_seed)?;
    let (sampling, sampling_vth) = measure_sampling(p, chip_seed)?;
    let mut before = spread(p, &neurons, &meas, p);
    before.sampling_threshold_rsd = sampling_spread(&sampling, &sampling_vth, p);
    // The learning-rate gains of the chip itself: the program's own trims (if any) cleared.
    let mut untrimmed = p.clone();
    untrimmed.cores.iter_mut().for_each(|c| c.lr_trim.clear());
    let (syns, lr) = measure_lr(&untrimmed, chip_seed)?;
    let mut cal = Calibration {
        format: FORMAT.into(),
        version: VERSION,
        chip: p.chip.name.clone(),
        chip_seed,
        program: p.meta.name.clone(),
        neurons: Vec::with_capacity(neurons.len()),
        skipped: p.neuron_count() - (neurons.len() + sampling.len()) as u64,
        synapses: syns
            .iter()
            .zip(&lr)
            .map(|(&(ci, si), &a)| SynapseCal { core: p.cores[ci].id.0, synapse: si as u32, lr_gain: a })
            .collect(),
        before: CalSpread { learning_rate_rsd: sd(lr.iter().copied()), ..before },
        after: CalSpread::default(),
    };
    for (&(ci, i), m) in neurons.iter().zip(&meas) {
        let c = &p.cores[ci];
        let n = &c.neurons[i];
        let d = f64::from(c.profiles[usize::from(n.profile)].decay_v);
        cal.neurons.push(NeuronCal {
            core: c.id.0,
            neuron: i as u32,
            v_th_gain: m.v_th / f64::from(n.v_th).max(1.0),
            leak_gain: m.d / d.max(1.0),
            bias_offset: m.off,
            bias_offset_rel: m.rel,
        });
    }
    // Sampling neurons: the threshold gain only (no leak; the chip's bias offset scales with
    // the leak code, 0 here).
    for (&(ci, i), &v) in sampling.iter().zip(&sampling_vth) {
        let c = &p.cores[ci];
        cal.neurons.push(NeuronCal {
            core: c.id.0,
            neuron: i as u32,
            v_th_gain: v / f64::from(c.neurons[i].v_th),
            leak_gain: 1.0,
            bias_offset: 0.0,
            bias_offset_rel: 0.0,
        });
    }
    let corrected = apply(p, &cal)?;
    let (n2, m2) = measure(&corrected, p, chip_seed)?;
    let (_, lr2) = measure_lr(&corrected, chip_seed)?;
    cal.after = CalSpread { learning_rate_rsd: sd(lr2.into_iter()), ..spread(&corrected, &n2, &m2, p) };
    let (s2, v2) = measure_sampling(&corrected, chip_seed)?;
    cal.after.sampling_threshold_rsd = sampling_spread(&s2, &v2, p);
    Ok(cal)
}

/// Read a calibration file.
pub fn read(path: &std::path::Path) -> Result<Calibration, EmuError> {
    let text = std::fs::read_to_string(path).map_err(|e| EmuError::io(path, e))?;
    nm_isa::calibration::parse(&text).map_err(|e| EmuError::Calibration(format!("{}: {e}", path.display())))
}

/// Apply a calibration to a program (see [`nm_isa::calibration::apply`]).
pub fn apply(p: &Program, cal: &Calibration) -> Result<Program, EmuError> {
    nm_isa::calibration::apply(p, cal).map_err(|e| EmuError::Calibration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbuild::{lif_profile, NetBuilder};
    use nm_isa::neuron::NeuronConfig;

    #[test]
    fn calibration_shrinks_spreads_five_fold() {
        let mut b = NetBuilder::new(nm_isa::ChipSpec::default_profile(), "cal", 100_000);
        for core in 0..2 {
            let p = b.add_profile(core, lif_profile(82, 82, 2, 0));
            for _ in 0..64 {
                b.add_neuron(core, NeuronConfig { profile: p, bias: 0, v_th: 40_000, v_init: 0 });
            }
        }
        let prog = b.build();
        let cal = calibrate(&prog, 3).unwrap();
        assert_eq!(cal.neurons.len(), 128);
        let (bf, af) = (cal.before, cal.after);
        assert!(bf.threshold_rsd > 0.05 && bf.leak_rsd > 0.05, "{bf:?}");
        assert!(af.threshold_rsd * 5.0 <= bf.threshold_rsd, "threshold {bf:?} -> {af:?}");
        assert!(af.leak_rsd * 5.0 <= bf.leak_rsd, "leak {bf:?} -> {af:?}");
        assert!(af.bias_rsd * 5.0 <= bf.bias_rsd, "bias {bf:?} -> {af:?}");
        assert_eq!(bf.sampling_threshold_rsd, 0.0);
    }

    /// Sampling neurons: the threshold (the offset `ln τ` of the firing probability) is measured
    /// from spike counts, and the corrected program's thresholds spread ≥ 5× less; the corrected
    /// neurons fire at the nominal rate.
    #[test]
    fn sampling_neuron_thresholds_are_calibrated() {
        let mut b = NetBuilder::new(nm_isa::ChipSpec::default_profile(), "cal-sampling", 100_000);
        b.program.luts.push(nm_isa::neuron::Lut {
            name: "sigmoid_q16".into(),
            shift: 4,
            entries: (0..4096)
                .map(|k| {
                    let x = (f64::from(k) - 2048.0) * 16.0 / 4096.0;
                    (65536.0 / (1.0 + (-x).exp())).min(65535.0) as i32
                })
                .collect(),
        });
        let v_th = (25f64.ln() * 4096.0).round() as i32;
        for core in 0..2 {
            let p = b.add_profile(
                core,
                NeuronProfile {
                    kind: NeuronKind::Stochastic,
                    decay_u: 4096,
                    decay_v: 0,
                    refractory: 25,
                    v_reset: 0,
                    lut: Some(0),
                    noisy: false,
                    decay_u2: None,
                },
            );
            for _ in 0..32 {
                b.add_neuron(core, NeuronConfig { profile: p, bias: 0, v_th, v_init: 0 });
            }
        }
        let prog = b.build();
        let cal = calibrate(&prog, 5).unwrap();
        assert_eq!((cal.neurons.len(), cal.skipped), (64, 0));
        let (bf, af) = (cal.before, cal.after);
        eprintln!("sampling thresholds: rsd {:.4} -> {:.4}", bf.sampling_threshold_rsd, af.sampling_threshold_rsd);
        assert!(bf.sampling_threshold_rsd > 0.05, "{bf:?}");
        assert!(af.sampling_threshold_rsd * 5.0 <= bf.sampling_threshold_rsd, "{bf:?} -> {af:?}");
        // The measured gains are the applied ones (`mismatch::eff_threshold`) within the
        // measurement's resolution (≈ 0.014 of the logit, 0.5 % of ln 25).
        let emu = Emulator::new(&prog, RunConfig { chip_seed: 5, noise_seed: 0, ideal: false, threads: 1, seed: None })
            .unwrap();
        for c in &cal.neurons {
            let ci = prog.cores.iter().position(|k| k.id.0 == c.core).unwrap();
            let applied = f64::from(emu.effective_neuron(ci, c.neuron as usize).unwrap().v_th) / f64::from(v_th);
            assert!(
                (c.v_th_gain - applied).abs() < 0.02,
                "neuron {}: measured {} applied {applied}",
                c.neuron,
                c.v_th_gain
            );
        }
    }

    #[test]
    fn learning_rate_gains_are_measured_and_trimmed() {
        use crate::netbuild::Pre;
        use nm_isa::program::{InputKind, SynKind};
        let chip = nm_isa::ChipSpec::default_profile();
        let mut b = NetBuilder::new(chip.clone(), "lrcal", 100_000);
        let pr = b.add_profile(0, lif_profile(4096, 0, 0, 0));
        let n = b.add_neuron(0, NeuronConfig { profile: pr, bias: 0, v_th: 1 << 20, v_init: 0 });
        let rule = b.add_rule(lr_rule(1, chip.formats.accumulator_bits));
        let plastic = b.add_group(0, 0, SynKind::Current, Some(rule), 0);
        let fixed = b.add_group(0, 0, SynKind::Current, None, 0);
        let inp = b.add_input("in", 300, InputKind::Poisson { p_q32: vec![0; 300] }, 0);
        let acc = b.acc_of_weight(10);
        for ch in 0..300 {
            b.connect(Pre::Input(inp, ch), n, acc, 1, if ch % 3 == 2 { fixed } else { plastic });
        }
        let prog = b.build();
        let cal = calibrate(&prog, 11).unwrap();
        assert_eq!(cal.synapses.len(), 200, "the plastic synapses only");
        // The measurement is the gain the emulator applies (Q.12), to well below 1 %.
        let emu =
            Emulator::new(&prog, RunConfig { chip_seed: 11, noise_seed: 0, ideal: false, threads: 1, seed: None })
                .unwrap();
        let devs = emu.deviations()[0];
        for c in &cal.synapses {
            let q12 =
                crate::mismatch::gain_q12(chip.mismatch.learning_rate_rsd, devs.learning_rate[c.synapse as usize]);
            assert!((c.lr_gain - f64::from(q12) / 4096.0).abs() < 1e-3, "{c:?} vs {q12}");
        }
        let (bf, af) = (cal.before.learning_rate_rsd, cal.after.learning_rate_rsd);
        assert!(bf > 0.07 && bf < 0.13, "before {bf}");
        assert!(af * 5.0 <= bf, "learning-rate spread {bf} -> {af}");
        // The corrected program's trims are what the compiler's rule gives, and the chip applies them.
        let fixed_prog = apply(&prog, &cal).unwrap();
        let (syns, eff) = measure_lr(&fixed_prog, 11).unwrap();
        for ((&(ci, si), &e), c) in syns.iter().zip(&eff).zip(&cal.synapses) {
            assert_eq!(si as u32, c.synapse);
            let code = fixed_prog.cores[ci].lr_trim[si];
            assert_eq!(code, nm_isa::calibration::trim_code(c.lr_gain, -32, 31).0);
            let q12 = (c.lr_gain * 4096.0).round() as u16;
            let want = f64::from(nm_isa::fixed_point::trim_lgain_q12(q12, code)) / 4096.0;
            assert!((e - want).abs() < 1e-3, "synapse {si}: {e} vs {want}");
        }
    }
}
