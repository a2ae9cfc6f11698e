//! Benchmark networks built directly as programs (until the compiler emits them), shared by
//! the `nmemu-bench` binary and the tests.
//!
//! CUBA (Vogels & Abbott 2005, as in /work/shared/bench/README.md) on the chip: voltage unit
//! `2^-14 mV` with `v = 0` at `V_r`, `dt = 0.1 ms`, `τ_m = 20 ms` (decay code 20), threshold
//! 10 mV, bias giving a rest at `E_l = −49 mV`, refractory 50 steps, delay 1. [`cuba`] uses one
//! synaptic current per neuron: both synapse types share `τ_e = 5 ms` (decay code 82) and the
//! inhibitory weight is scaled by `τ_i/τ_e = 2` to keep the charge per spike (the figures of
//! `emulator/docs/performance.md` are of this network). [`cuba_with`]`(c, true)` gives inhibition the
//! second current with `τ_i = 10 ms` (decay code 41) and its own weight, as in Brian2.

use crate::netbuild::{lif_profile, NetBuilder, NeuronRef, Pre};
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Scope, Src, TraceSpec, Trigger};
use nm_isa::neuron::{NeuronConfig, NeuronKind};
use nm_isa::program::{InputKind, ProbeKind, Program, SynKind};
use nm_isa::rng::HwRng;
use nm_isa::ChipSpec;

/// Parameters of the CUBA network.
#[derive(Clone, Copy, Debug)]
pub struct Cuba {
    pub n: u32,
    /// Fan-in (80 at N = 4000: p = 0.02).
    pub fan_in: u32,
    pub seed: u64,
    pub steps: u64,
}

impl Default for Cuba {
    fn default() -> Cuba {
        Cuba { n: 4000, fan_in: 80, seed: 1, steps: 10_000 }
    }
}

/// Build the CUBA program on the default chip (board profile above one chip's neurons).
pub fn cuba(c: Cuba) -> Program {
    cuba_with(c, false)
}

/// [`cuba`], with the inhibitory synapses on the second current (`τ_i = 10 ms`) if `two_currents`.
pub fn cuba_with(c: Cuba, two_currents: bool) -> Program {
    // 250 · 80 synapses fit the default 1 Mbit synapse memory; above 4k neurons the distinct
    // sources a core hears must stay below its 4096 input axons: N·(1 − e^(−fan_in·k/N)) ≤ 3800.
    let frac = (3800.0 / f64::from(c.n)).min(0.999);
    let by_axons = (-(1.0 - frac).ln() * f64::from(c.n) / f64::from(c.fan_in.max(1))).floor() as u32;
    // With at most 4096 neurons every core can hear all of them.
    let per_core = if c.n <= 4096 { 250 } else { by_axons.clamp(1, 250) };
    let cores = c.n.div_ceil(per_core);
    let chip = if cores <= ChipSpec::default_profile().total_cores() {
        ChipSpec::default_profile()
    } else {
        ChipSpec::board_profile()
    };
    let mut b = NetBuilder::new(chip, "cuba", 100_000);
    b.program.meta.steps = c.steps;
    let s = 16384.0; // units per mV
    let dv = 20u32;
    let du = 82u32;
    let bias = (11.0 * s * f64::from(dv) / 4096.0).round() as i32;
    let vth = (10.0 * s) as i32;
    let mut rng = HwRng::new(c.seed, 77);
    let mut neurons = Vec::with_capacity(c.n as usize);
    let mut groups = Vec::new();
    for k in 0..cores {
        let mut prof = lif_profile(du, dv, 50, 0);
        if two_currents {
            prof.decay_u2 = Some(41);
        }
        let pr = b.add_profile(k, prof);
        let ge = b.add_group(k, 0, SynKind::Current, None, 0);
        let gi = b.add_group_on(k, 3, SynKind::Current, None, 1, u8::from(two_currents));
        groups.push((ge, gi));
        let here = per_core.min(c.n - k * per_core);
        for _ in 0..here {
            let v_init = ((u64::from(rng.next_u32()) * vth as u64) >> 32) as i32;
            neurons.push(b.add_neuron(k, NeuronConfig { profile: pr, bias, v_th: vth, v_init }));
        }
    }
    let n_exc = c.n * 4 / 5;
    // Weights: we = 1.62 mV, wi = -9 mV (x2 for the shared tau); per-step current = w * dt / tau_m.
    let we = (1.62 * s * 0.1 / 20.0).round() as i32; // 133
    let tau_ratio = if two_currents { 1.0 } else { 2.0 };
    let wi = (-9.0 * tau_ratio * s * 0.1 / 20.0 / 8.0).round() as i32; // -184 (exp 3), -92 with two currents
                                                                       // Fixed fan-in: each post draws `fan_in` distinct pre neurons (p = fan_in / N).
    let p_q32 = ((f64::from(c.fan_in) / f64::from(c.n)) * 4_294_967_296.0) as u64;
    for post in 0..c.n {
        let pn: NeuronRef = neurons[post as usize];
        let (ge, gi) = groups[pn.core as usize];
        for pre in 0..c.n {
            if u64::from(rng.next_u32()) < p_q32 {
                let (w, g) = if pre < n_exc { (we, ge) } else { (wi, gi) };
                b.connect(Pre::Neuron(neurons[pre as usize]), pn, b.acc_of_weight(w), 1, g);
            }
        }
    }
    let pop = b.add_population("neurons", NeuronKind::Lif, &neurons);
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    b.build()
}

/// Mean rate (Hz) and mean CV of inter-spike intervals from spike times (steps) and ids.
pub fn rate_and_cv(times: &[i64], ids: &[i32], n: usize, steps: u64, dt_s: f64) -> (f64, f64) {
    let rate = times.len() as f64 / (n as f64 * steps as f64 * dt_s);
    let mut per: Vec<Vec<i64>> = vec![Vec::new(); n];
    for (&t, &i) in times.iter().zip(ids) {
        if let Some(v) = per.get_mut(i as usize) {
            v.push(t);
        }
    }
    let mut cvs = Vec::new();
    for v in &per {
        if v.len() < 3 {
            continue;
        }
        let isi: Vec<f64> = v.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let m = isi.iter().sum::<f64>() / isi.len() as f64;
        let sd = (isi.iter().map(|x| (x - m).powi(2)).sum::<f64>() / isi.len() as f64).sqrt();
        cvs.push(sd / m);
    }
    let cv = if cvs.is_empty() { 0.0 } else { cvs.iter().sum::<f64>() / cvs.len() as f64 };
    (rate, cv)
}

/// Parameters of the STDP benchmark (Song, Miller & Abbott 2000, as in Brian2's example).
#[derive(Clone, Copy, Debug)]
pub struct Stdp {
    pub n_in: u32,
    pub n_post: u32,
    pub rate_hz: f64,
    pub seed: u64,
}

impl Default for Stdp {
    fn default() -> Stdp {
        Stdp { n_in: 1000, n_post: 100, rate_hz: 15.0, seed: 1 }
    }
}

/// Largest weight code (`gmax`): `197 · 2^-1 ≈ 98` current units per spike.
pub const STDP_WMAX: i32 = 197;

/// Build the STDP benchmark on the default chip. Current-based approximation of the
/// conductance-based original (`ge·(E_e − v_r)` taken at the reset voltage): voltage unit
/// `2^-14 mV` above `E_l = −74 mV`, threshold 20 mV, reset 14 mV, `τ_m = 10 ms` (code 41),
/// `τ_e = 5 ms` (code 82), pair STDP with traces of `τ = 20 ms` (code 20), `ΔA_pre = 0.01 gmax`,
/// `ΔA_post = −1.05 ΔA_pre`, weights in `[0, gmax]`, uniform initial weights.
pub fn stdp(c: Stdp) -> Program {
    let per_core = 25u32;
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "stdp", 100_000);
    let s = 16384.0;
    let (vth, vreset) = ((20.0 * s) as i32, (14.0 * s) as i32);
    // ΔA in accumulator units: 0.01 · gmax weight LSBs · (accumulator units per LSB), per trace
    // unit of 256.
    let acc_per_lsb = f64::from(b.acc_of_weight(1));
    let k_post = (0.01 * f64::from(STDP_WMAX) * acc_per_lsb / 256.0 * 65536.0).round() as i32;
    let k_pre = (1.05 * f64::from(k_post)).round() as i32;
    let rule = b.add_rule(LearnRule {
        name: "song_stdp".into(),
        x: [Some(TraceSpec { decay: 20, impulse: 256 }), None],
        y: [Some(TraceSpec { decay: 20, impulse: 256 }), None],
        handlers: vec![
            Handler {
                trigger: Trigger::Pre,
                scope: Scope::Synapse,
                code: vec![
                    Instr::ld(0, Src::W),
                    Instr::ld(1, Src::Y0),
                    Instr::rris(Opcode::Muli, 1, 1, k_pre, 16),
                    Instr::rrr(Opcode::Sub, 0, 0, 1),
                    Instr::st(Dst::W, 0),
                ],
            },
            Handler {
                trigger: Trigger::Post,
                scope: Scope::Synapse,
                code: vec![
                    Instr::ld(0, Src::W),
                    Instr::ld(1, Src::X0),
                    Instr::rris(Opcode::Muli, 1, 1, k_post, 16),
                    Instr::rrr(Opcode::Add, 0, 0, 1),
                    Instr::st(Dst::W, 0),
                ],
            },
        ],
        w_min: 0,
        w_max: b.acc_of_weight(STDP_WMAX),
        readout: nm_isa::fixed_point::Rounding::Nearest,
    });
    let p_q32 = vec![(c.rate_hz * 1e-4 * 4_294_967_296.0) as u32; c.n_in as usize];
    let inp = b.add_input("poisson", c.n_in, InputKind::Poisson { p_q32 }, 0);
    let mut rng = HwRng::new(c.seed, 78);
    let mut posts = Vec::new();
    for k in 0..c.n_post.div_ceil(per_core) {
        let pr = b.add_profile(k, lif_profile(82, 41, 0, vreset));
        let g = b.add_group(k, -1, SynKind::Current, Some(rule), 0);
        for _ in 0..per_core.min(c.n_post - k * per_core) {
            let n = b.add_neuron(k, NeuronConfig { profile: pr, bias: 0, v_th: vth, v_init: vreset });
            posts.push(n);
            for ch in 0..c.n_in {
                let w = ((u64::from(rng.next_u32()) * b.acc_of_weight(STDP_WMAX) as u64) >> 32) as i32;
                b.connect(Pre::Input(inp, ch), n, w, 1, g);
            }
        }
    }
    let pop = b.add_population("post", NeuronKind::Lif, &posts);
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    b.build()
}
