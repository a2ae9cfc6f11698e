//! Differential tests: the ideal chip against a floating-point reference of the same network
//! (same input spike trains, same parameters, real-valued state without truncation).
//!
//! Quantization tolerance: the chip truncates each decay toward zero, losing less than one unit
//! per step on `u` and `v`; with `v_th = 2000` units and `τ_v ≈ 20` steps that shifts the
//! membrane by at most ~20 units (1 % of threshold), so total spike counts must agree within 3 %
//! and each neuron's within max(3, 10 %). With pair STDP (nearest rounding of the 16-bit
//! accumulator, 7 fraction bits below the 8-bit weight), the mean final weight must move the same
//! way and agree within 5 % of the initial weight, and the post spike count within 5 %. (The
//! truncating trace decay makes the chip's traces a few % smaller, and the net drift is a small
//! difference of potentiation and depression, so the chip's drift is smaller than the float's.)

use nm_emulator::inputs::InputState;
use nm_emulator::netbuild::{lif_profile, NetBuilder, NeuronRef, Pre};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Scope, Src, TraceSpec, Trigger};
use nm_isa::neuron::{NeuronConfig, NeuronKind};
use nm_isa::program::{InputKind, ProbeKind, Program, SynKind};
use nm_isa::rng::HwRng;
use nm_isa::ChipSpec;

/// Accumulator units per weight LSB on the default chip (16-bit accumulator, 8-bit weight: a
/// guard bit and 6 fraction bits).
const ACC_PER_LSB: f64 = 64.0;

/// A pairing changes the accumulator by the other side's trace shifted right by this: trace
/// impulse 256 → 4 accumulator units = 1/16 weight LSB.
const TRACE_SHIFT: u8 = 6;

/// The accumulator value of weight `w` on the default chip.
fn acc(w: i32) -> i32 {
    debug_assert_eq!(
        f64::from(nm_emulator::netbuild::acc_of_weight(&nm_isa::ChipSpec::default_profile(), 1)),
        ACC_PER_LSB
    );
    nm_emulator::netbuild::acc_of_weight(&nm_isa::ChipSpec::default_profile(), w)
}

const N_IN: usize = 60;
const N_OUT: usize = 20;
const STEPS: u64 = 6000;
const DU: u32 = 410;
const DV: u32 = 205;
const VTH: i32 = 2000;
const REFR: u16 = 2;

fn stdp_rule() -> LearnRule {
    let pre = vec![
        Instr::ld(0, Src::W),
        Instr::ld(1, Src::Y0),
        Instr::rrs(Opcode::Shr, 1, 1, TRACE_SHIFT),
        Instr::rrr(Opcode::Sub, 0, 0, 1),
        Instr::st(Dst::W, 0),
    ];
    let post = vec![
        Instr::ld(0, Src::W),
        Instr::ld(1, Src::X0),
        Instr::rrs(Opcode::Shr, 1, 1, TRACE_SHIFT),
        Instr::rrr(Opcode::Add, 0, 0, 1),
        Instr::st(Dst::W, 0),
    ];
    LearnRule {
        name: "pair".into(),
        x: [Some(TraceSpec { decay: 200, impulse: 256 }), None],
        y: [Some(TraceSpec { decay: 200, impulse: 256 }), None],
        handlers: vec![
            Handler { trigger: Trigger::Pre, scope: Scope::Synapse, code: pre },
            Handler { trigger: Trigger::Post, scope: Scope::Synapse, code: post },
        ],
        w_min: 0,
        w_max: acc(255),
        readout: nm_isa::fixed_point::Rounding::Nearest,
    }
}

/// Weights (8-bit) of the all-to-all projection, from a fixed stream.
fn weights() -> Vec<Vec<i32>> {
    let mut r = HwRng::new(11, 0);
    (0..N_IN).map(|_| (0..N_OUT).map(|_| 20 + (r.next_u32() % 41) as i32).collect()).collect()
}

fn build(stdp: bool) -> Program {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "diff", 1_000_000);
    b.program.meta.seed = 5;
    let rule = stdp.then(|| b.add_rule(stdp_rule()));
    let p = b.add_profile(0, lif_profile(DU, DV, REFR, 0));
    let outs: Vec<NeuronRef> =
        (0..N_OUT).map(|_| b.add_neuron(0, NeuronConfig { profile: p, bias: 0, v_th: VTH, v_init: 0 })).collect();
    let g = b.add_group(0, 0, SynKind::Current, rule, 0);
    let p_q32 = vec![(0.02 * 4_294_967_296.0) as u32; N_IN];
    let inp = b.add_input("poisson", N_IN as u32, InputKind::Poisson { p_q32 }, 0);
    let w = weights();
    for (i, row) in w.iter().enumerate() {
        for (j, &wij) in row.iter().enumerate() {
            b.connect(Pre::Input(inp, i as u32), outs[j], acc(wij), 1, g);
        }
    }
    let pop = b.add_population("out", NeuronKind::Lif, &outs);
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    b.build()
}

/// Float reference: returns per-neuron spike counts and the final mean weight (weight units).
fn reference(prog: &Program, stdp: bool) -> (Vec<u32>, f64) {
    let src = &prog.inputs[0];
    let mut gen = InputState::new(src, 0, prog.meta.seed);
    let mut w: Vec<Vec<f64>> = weights().iter().map(|r| r.iter().map(|&x| f64::from(x)).collect()).collect();
    let (ku, kv) = (1.0 - f64::from(DU) / 4096.0, 1.0 - f64::from(DV) / 4096.0);
    let kt = 1.0 - 200.0 / 4096.0;
    let (mut u, mut v, mut cnt) = (vec![0.0f64; N_OUT], vec![0.0f64; N_OUT], vec![0u16; N_OUT]);
    let (mut x, mut y) = (vec![0.0f64; N_IN], vec![0.0f64; N_OUT]);
    let mut counts = vec![0u32; N_OUT];
    let mut arriving: Vec<u32> = Vec::new();
    let mut packets = Vec::new();
    for t in 0..STEPS {
        // Arrivals of the packets sent at t − 1.
        let mut input = [0.0; N_OUT];
        for &c in &arriving {
            for j in 0..N_OUT {
                input[j] += w[c as usize][j];
            }
        }
        let mut spiked = Vec::new();
        for j in 0..N_OUT {
            u[j] = u[j] * ku + input[j];
            if cnt[j] > 0 {
                cnt[j] -= 1;
                v[j] = 0.0;
                continue;
            }
            v[j] = v[j] * kv + u[j];
            if v[j] >= f64::from(VTH) {
                v[j] = 0.0;
                cnt[j] = REFR;
                counts[j] += 1;
                spiked.push(j);
            }
        }
        if stdp {
            for xi in x.iter_mut() {
                *xi *= kt;
            }
            for yj in y.iter_mut() {
                *yj *= kt;
            }
            // Accumulator units are weight · ACC_PER_LSB; a pairing changes the
            // accumulator by the trace >> TRACE_SHIFT.
            for &c in &arriving {
                for j in 0..N_OUT {
                    w[c as usize][j] =
                        (w[c as usize][j] - y[j] / f64::from(1u32 << TRACE_SHIFT) / ACC_PER_LSB).clamp(0.0, 255.0);
                }
                x[c as usize] = (x[c as usize] + 256.0).min(32767.0);
            }
            for &j in &spiked {
                for i in 0..N_IN {
                    w[i][j] = (w[i][j] + x[i] / f64::from(1u32 << TRACE_SHIFT) / ACC_PER_LSB).clamp(0.0, 255.0);
                }
                y[j] = (y[j] + 256.0).min(32767.0);
            }
        }
        packets.clear();
        gen.generate(src, t, true, &mut packets);
        arriving = packets.iter().map(|p| p.0).collect();
    }
    let mean = w.iter().flatten().sum::<f64>() / (N_IN * N_OUT) as f64;
    (counts, mean)
}

fn chip(prog: &Program) -> (Vec<u32>, f64) {
    let cfg = RunConfig { chip_seed: 1, noise_seed: 0, ideal: true, threads: 1, seed: None };
    let mut emu = Emulator::new(prog, cfg).unwrap();
    emu.run(STEPS);
    let mut counts = vec![0u32; N_OUT];
    for &i in &emu.recordings().spikes[0].ids {
        counts[i as usize] += 1;
    }
    let accs = emu.synapse_state(0).unwrap().0;
    let mean = accs.iter().map(|&a| f64::from(a) / ACC_PER_LSB).sum::<f64>() / accs.len() as f64;
    (counts, mean)
}

#[test]
fn lif_population_matches_float_reference() {
    let prog = build(false);
    let (c_chip, _) = chip(&prog);
    let (c_ref, _) = reference(&prog, false);
    let (tc, tr) = (c_chip.iter().sum::<u32>() as f64, c_ref.iter().sum::<u32>() as f64);
    assert!(tr > 500.0, "reference too quiet: {tr}");
    assert!((tc - tr).abs() <= 0.03 * tr, "total spikes chip {tc} vs float {tr}");
    for (a, b) in c_chip.iter().zip(&c_ref) {
        let tol = (0.1 * f64::from(*b)).max(3.0);
        assert!((f64::from(*a) - f64::from(*b)).abs() <= tol, "neuron counts chip {c_chip:?} vs float {c_ref:?}");
    }
}

#[test]
fn pair_stdp_matches_float_reference() {
    let prog = build(true);
    let (c_chip, w_chip) = chip(&prog);
    let (c_ref, w_ref) = reference(&prog, true);
    let w0 = weights().iter().flatten().sum::<i32>() as f64 / (N_IN * N_OUT) as f64;
    assert!((w_ref - w0).abs() > 1.0, "STDP should move the mean weight (float {w_ref} vs start {w0})");
    assert_eq!((w_chip - w0).signum(), (w_ref - w0).signum(), "chip and float move the mean weight the same way");
    assert!((w_chip - w_ref).abs() <= 0.05 * w0, "mean weight chip {w_chip} vs float {w_ref} (start {w0})");
    let (tc, tr) = (c_chip.iter().sum::<u32>() as f64, c_ref.iter().sum::<u32>() as f64);
    assert!((tc - tr).abs() <= 0.05 * tr, "post spikes chip {tc} vs float {tr}");
}
