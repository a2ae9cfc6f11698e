//! Golden vectors: tiny hand-built programs, their state after each step and the cycle count of
//! each step, computed by hand from the equations of `isa/src/neuron.rs` and the costs of the
//! default chip (2 cycles per neuron update, 1 per synaptic event, 2 per router hop, 16 barrier).

use nm_emulator::netbuild::{lif_profile, NetBuilder, NeuronRef, Pre};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Scope, Src, TraceSpec, Trigger};
use nm_isa::neuron::NeuronConfig;
use nm_isa::program::{InputKind, SynKind};
use nm_isa::ChipSpec;

const IDEAL: RunConfig = RunConfig { chip_seed: 1, noise_seed: 0, ideal: true, threads: 1, seed: None };

fn neuron(profile: u8, bias: i32, v_th: i32, v_init: i32) -> NeuronConfig {
    NeuronConfig { profile, bias, v_th, v_init }
}

/// The accumulator value of weight `w` on the default chip (8-bit weight in a 16-bit
/// accumulator: sign, guard bit, 8 weight bits, 6 fraction bits).
fn acc(w: i32) -> i32 {
    nm_emulator::netbuild::acc_of_weight(&ChipSpec::default_profile(), w)
}

#[test]
fn lif_integrates_decays_fires_and_charges_cycles() {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "golden-lif", 1_000_000);
    let p = b.add_profile(0, lif_profile(2048, 1024, 2, -7));
    let n0 = b.add_neuron(0, neuron(p, 100, 1000, 500));
    b.add_neuron(0, neuron(p, 100, 1000, 999));
    let g = b.add_group(0, 2, SynKind::Current, None, 0);
    let input = b.add_input("in", 1, InputKind::SpikeTimes { events: vec![(0, 0)] }, 0);
    b.connect(Pre::Input(input, 0), n0, acc(10), 1, g);
    let prog = b.build();
    let mut emu = Emulator::new(&prog, IDEAL).unwrap();
    // Step 0: v = decay(v, 1024) + u + bias; decay keeps 3072/4096, truncating.
    emu.step();
    let (u, v, c) = emu.neuron_state(0).unwrap();
    assert_eq!((u, v, &*c), (&[0, 0][..], &[475, 849][..], &[0, 0][..]));
    assert_eq!(emu.step_cycles(), &[2 * 2 + 16]);
    // Step 1: the input spike of step 0 arrives: u0 = 10 · 2^2 = 40.
    emu.step();
    let (u, v, _) = emu.neuron_state(0).unwrap();
    assert_eq!(u, &[40, 0]);
    assert_eq!(v, &[356 + 40 + 100, 636 + 100]);
    assert_eq!(emu.step_cycles()[1], 2 * 2 + 1 + 16);
    // Step 2: u0 = decay(40, 2048) = 20; v0 = 372 + 20 + 100 = 492; v1 = 552 + 100 = 652.
    emu.step();
    let (u, v, _) = emu.neuron_state(0).unwrap();
    assert_eq!((u, v), (&[20, 0][..], &[492, 652][..]));
}

#[test]
fn threshold_reset_and_refractory_counter() {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "golden-refr", 1_000_000);
    let p = b.add_profile(0, lif_profile(4096, 0, 2, -7));
    b.add_neuron(0, neuron(p, 300, 1000, 0));
    let prog = b.build();
    let mut emu = Emulator::new(&prog, IDEAL).unwrap();
    let mut trace = Vec::new();
    for _ in 0..7 {
        emu.step();
        let (_, v, c) = emu.neuron_state(0).unwrap();
        trace.push((v[0], c[0], emu.last_spikes(0).len()));
    }
    // 300, 600, 900, 1200 ≥ 1000 → spike, reset to −7, 2 refractory steps held at −7, then 293 ...
    assert_eq!(trace, vec![(300, 0, 0), (600, 0, 0), (900, 0, 0), (-7, 2, 1), (-7, 1, 0), (-7, 0, 0), (293, 0, 0)]);
}

#[test]
fn current_wraps_and_voltage_saturates() {
    let mut chip = ChipSpec::default_profile();
    chip.formats.current_bits = 8;
    chip.formats.voltage_bits = 8;
    let mut b = NetBuilder::new(chip, "golden-wrap", 1_000_000);
    let p = b.add_profile(0, lif_profile(4096, 0, 0, 0));
    let graded = b.add_profile(
        0,
        nm_isa::neuron::NeuronProfile {
            kind: nm_isa::neuron::NeuronKind::Graded,
            decay_u: 4096,
            decay_v: 4096,
            refractory: 0,
            v_reset: 0,
            lut: None,
            noisy: false,
            decay_u2: None,
        },
    );
    let n0 = b.add_neuron(0, neuron(p, 0, 127, 0));
    b.add_neuron(0, neuron(p, -100, 100, -100));
    let n2 = b.add_neuron(0, neuron(graded, 127, 100, 0));
    let g = b.add_group(0, 0, SynKind::Current, None, 0);
    let input = b.add_input("in", 1, InputKind::SpikeTimes { events: vec![(0, 0)] }, 0);
    b.connect(Pre::Input(input, 0), n0, acc(100), 1, g);
    b.connect(Pre::Input(input, 0), n0, acc(100), 1, g);
    b.connect(Pre::Input(input, 0), n2, acc(100), 1, g);
    let prog = b.build();
    let mut emu = Emulator::new(&prog, IDEAL).unwrap();
    emu.step();
    // Step 0: v1 = −100 − 100 saturates at −128; graded v2 = sat(0 + (0 + 127)) = 127.
    assert_eq!(emu.neuron_state(0).unwrap().1, &[0, -128, 127]);
    emu.step();
    let (u, v, _) = emu.neuron_state(0).unwrap();
    // 100 + 100 = 200 wraps to 200 − 256 = −56 in 8 bits; graded (100 + 127) saturates at 127.
    assert_eq!(u, &[-56, 0, 100]);
    assert_eq!(v, &[-56, -128, 127]);
}

#[test]
fn readout_rounds_to_nearest_and_decay_truncates_toward_zero() {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "golden-round", 1_000_000);
    let p = b.add_profile(0, lif_profile(4096, 2048, 0, 0));
    let ns: Vec<NeuronRef> = (0..4).map(|_| b.add_neuron(0, neuron(p, 0, 1 << 20, -101))).collect();
    let g = b.add_group(0, 0, SynKind::Current, None, 0);
    let input = b.add_input("in", 1, InputKind::SpikeTimes { events: vec![(0, 0)] }, 0);
    // Half an LSB is 32 accumulator units (6 fraction bits): ±32 round away from zero, 31 to 0.
    for (k, a) in [32, -32, 31, -33].into_iter().enumerate() {
        b.connect(Pre::Input(input, 0), ns[k], a, 1, g);
    }
    let prog = b.build();
    let mut emu = Emulator::new(&prog, IDEAL).unwrap();
    assert_eq!(emu.synapse_state(0).unwrap().1, &[1, -1, 0, -1]);
    emu.step();
    // decay(−101, 2048) = −50 (toward zero, not −51).
    assert_eq!(emu.neuron_state(0).unwrap().1, &[-50, -50, -50, -50]);
    emu.step();
    assert_eq!(emu.neuron_state(0).unwrap().0, &[1, -1, 0, -1]);
}

#[test]
fn delays_are_exact_and_mesh_hops_are_charged() {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "golden-delay", 1_000_000);
    let p0 = b.add_profile(0, lif_profile(4096, 4096, 0, 0));
    let src = b.add_neuron(0, neuron(p0, 10, 5, 0)); // fires at step 0
    let p3 = b.add_profile(3, lif_profile(4096, 4096, 0, 0));
    let dst = b.add_neuron(3, neuron(p3, 0, 1 << 20, 0));
    let g = b.add_group(3, 0, SynKind::Current, None, 0);
    b.connect(Pre::Neuron(src), dst, acc(7), 3, g);
    let prog = b.build();
    let mut emu = Emulator::new(&prog, IDEAL).unwrap();
    let mut us = Vec::new();
    for _ in 0..6 {
        emu.step();
        us.push(emu.neuron_state(1).unwrap().0[0]);
    }
    // Spikes at steps 0, 1, 2, ... (v cleared each step, bias 10 ≥ 5); the first arrives at 0 + 3.
    assert_eq!(us, vec![0, 0, 0, 7, 7, 7]);
    // Step 0: one neuron update per core (2 cycles), 3 hops east (latency 6 cycles), barrier 16.
    assert_eq!(emu.step_cycles()[0], 2 + 6 + 16);
    let st = emu.stats();
    assert_eq!(st.router_hops, 3 * 6);
    assert_eq!(st.synaptic_events, 5);
}

/// Pair STDP with one trace each side: at a pre arrival `w ← w − y0 · 2^-4`, at a post spike
/// `w ← w + x0 · 2^-4`, accumulator clamped to `[0, 2^15 − 1]`.
fn pair_stdp(impulse: i32, decay: u32) -> LearnRule {
    let pre = vec![
        Instr::ld(0, Src::W),
        Instr::ld(1, Src::Y0),
        Instr::rrs(Opcode::Shr, 1, 1, 4),
        Instr::rrr(Opcode::Sub, 0, 0, 1),
        Instr::st(Dst::W, 0),
    ];
    let post = vec![
        Instr::ld(0, Src::W),
        Instr::ld(1, Src::X0),
        Instr::rrs(Opcode::Shr, 1, 1, 4),
        Instr::rrr(Opcode::Add, 0, 0, 1),
        Instr::st(Dst::W, 0),
    ];
    LearnRule {
        name: "pair".into(),
        x: [Some(TraceSpec { decay, impulse }), None],
        y: [Some(TraceSpec { decay, impulse }), None],
        handlers: vec![
            Handler { trigger: Trigger::Pre, scope: Scope::Synapse, code: pre },
            Handler { trigger: Trigger::Post, scope: Scope::Synapse, code: post },
        ],
        w_min: 0,
        w_max: 32767,
        readout: nm_isa::fixed_point::Rounding::Nearest,
    }
}

#[test]
fn pair_stdp_learning_phase_order_and_cycles() {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "golden-stdp", 1_000_000);
    let rule = b.add_rule(pair_stdp(1024, 2048));
    let p = b.add_profile(0, lif_profile(4096, 4096, 0, 0));
    // Post fires at step 2 only (bias pulse through a spike list input with a big weight).
    let post = b.add_neuron(0, neuron(p, 0, 100, 0));
    let gs = b.add_group(0, 0, SynKind::Current, None, 0);
    let gp = b.add_group(0, 0, SynKind::Current, Some(rule), 1);
    let drive = b.add_input("drive", 1, InputKind::SpikeTimes { events: vec![(1, 0)] }, 0);
    let pre = b.add_input("pre", 1, InputKind::SpikeTimes { events: vec![(0, 0), (3, 0)] }, 0);
    b.connect(Pre::Input(drive, 0), post, acc(200), 1, gs);
    b.connect(Pre::Input(pre, 0), post, acc(1), 1, gp);
    let prog = b.build();
    let mut emu = Emulator::new(&prog, IDEAL).unwrap();
    let w0 = acc(1);
    let mut accs = Vec::new();
    for _ in 0..5 {
        emu.step();
        accs.push(emu.synapse_state(0).unwrap().0.to_vec());
    }
    // Axons: drive (axon 0, synapse 0) then pre (axon 1, synapse 1).
    // Step 1: pre arrives; y0 = 0 → no change; x0 ← 1024.
    // Step 2: post spikes (drive arrived, u = 200 ≥ 100); x0 decayed to 512 → w += 512 >> 4 = 32.
    // Step 4: pre arrives again; y0: 1024 at step 2, 512 at 3, 256 at 4 → w −= 256 >> 4 = 16.
    let syn = |k: usize| accs[k][1];
    assert_eq!([syn(0), syn(1), syn(2), syn(3), syn(4)], [w0, w0, w0 + 32, w0 + 32, w0 + 16]);
    // Step 2 cycles: 1 neuron (2) + 1 event (1) + one post handler: dispatch 4 + ops 1+1+1+1+2.
    assert_eq!(emu.step_cycles()[2], 2 + 1 + 4 + 6 + 16);
    let st = emu.stats();
    assert_eq!(st.learning_invocations, 3);
    assert_eq!(st.learning_ops, 15);
}
