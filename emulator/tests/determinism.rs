//! Determinism: the same program and seeds give bit-identical spikes, state and counters
//! whatever the thread count, and a run resumed from a checkpoint equals the uninterrupted one.
//! A damaged checkpoint is refused.

use nm_emulator::checkpoint;
use nm_emulator::netbuild::{lif_profile, NetBuilder, NeuronRef, Pre};
use nm_emulator::{EmuError, Emulator, RunConfig};
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Scope, Src, TraceSpec, Trigger};
use nm_isa::neuron::{NeuronConfig, NeuronKind, NeuronProfile};
use nm_isa::program::{InputKind, ProbeKind, Program, StateVar, SynKind};
use nm_isa::rng::HwRng;
use nm_isa::ChipSpec;
use proptest::prelude::*;

/// The accumulator value of weight `w` on the default chip.
fn acc(w: i32) -> i32 {
    nm_emulator::netbuild::acc_of_weight(&nm_isa::ChipSpec::default_profile(), w)
}

fn stdp() -> LearnRule {
    LearnRule {
        name: "stdp".into(),
        x: [Some(TraceSpec { decay: 300, impulse: 512 }), None],
        y: [Some(TraceSpec { decay: 300, impulse: 512 }), None],
        handlers: vec![
            Handler {
                trigger: Trigger::Pre,
                scope: Scope::Synapse,
                code: vec![
                    Instr::ld(0, Src::W),
                    Instr::ld(1, Src::Y0),
                    Instr::rrs(Opcode::Shrr, 1, 1, 3),
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
                    Instr::rrs(Opcode::Shrr, 1, 1, 3),
                    Instr::rrr(Opcode::Add, 0, 0, 1),
                    Instr::st(Dst::W, 0),
                ],
            },
        ],
        w_min: 0,
        w_max: acc(255),
        readout: nm_isa::fixed_point::Rounding::Stochastic,
    }
}

/// A random network over `cores` cores: LIF and stochastic neurons, recurrent and Poisson input
/// synapses with random delays, half of them plastic.
fn random_program(seed: u64, cores: u32) -> Program {
    random_program_with(seed, cores, 0)
}

/// [`random_program`] whose last `static_cores` cores have no learning rule (their packets take
/// the synapse arena and the router's direct delivery).
fn random_program_with(seed: u64, cores: u32, static_cores: u32) -> Program {
    let mut r = HwRng::new(seed, 99);
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "random", 1_000_000);
    b.program.meta.seed = seed;
    let rule = b.add_rule(stdp());
    b.program.luts.push(nm_isa::neuron::Lut {
        name: "sigmoid".into(),
        shift: 6,
        entries: (0..64).map(|k| ((1.0 / (1.0 + (-(f64::from(k) - 32.0) / 6.0).exp())) * 65536.0) as i32).collect(),
    });
    let mut all: Vec<NeuronRef> = Vec::new();
    let mut groups = Vec::new();
    for c in 0..cores {
        let core = c * 3; // spread over the mesh so packets hop
        let lif = b.add_profile(core, lif_profile(300 + r.next_u32() % 500, 100 + r.next_u32() % 300, 2, 0));
        let sto = b.add_profile(
            core,
            NeuronProfile {
                kind: NeuronKind::Stochastic,
                decay_u: 4096,
                decay_v: 0,
                refractory: 4,
                v_reset: 0,
                lut: Some(0),
                noisy: false,
                decay_u2: None,
            },
        );
        for k in 0..12 {
            let p = if k % 4 == 3 { sto } else { lif };
            all.push(b.add_neuron(
                core,
                NeuronConfig { profile: p, bias: 20, v_th: 1500, v_init: (r.next_u32() % 1000) as i32 },
            ));
        }
        let plastic = c + static_cores < cores;
        groups.push((
            b.add_group(core, 0, SynKind::Current, None, 0),
            b.add_group(core, 1, SynKind::Current, plastic.then_some(rule), 1),
        ));
    }
    let core_idx = |n: NeuronRef| (n.core / 3) as usize;
    let inp = b.add_input("in", 8, InputKind::Poisson { p_q32: vec![(0.05 * 4_294_967_296.0) as u32; 8] }, 0);
    for &post in &all {
        let (gs, gp) = groups[core_idx(post)];
        for ch in 0..8 {
            if r.next_u32().is_multiple_of(3) {
                b.connect(
                    Pre::Input(inp, ch),
                    post,
                    acc(40 + (r.next_u32() % 120) as i32),
                    1 + (r.next_u32() % 4) as u8,
                    gp,
                );
            }
        }
        for &pre in &all {
            if r.next_u32().is_multiple_of(5) {
                let w = (r.next_u32() % 200) as i32 - 80;
                let g = if w > 0 { gp } else { gs };
                b.connect(Pre::Neuron(pre), post, acc(w), 1 + (r.next_u32() % 6) as u8, g);
            }
        }
    }
    let pop = b.add_population("all", NeuronKind::Lif, &all);
    b.add_projection("static", pop);
    b.add_projection("plastic", pop);
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    b.probe("v", ProbeKind::State { pop, var: StateVar::V }, 7);
    b.build()
}

/// Everything observable of a run (wall time excluded).
fn fingerprint(emu: &Emulator) -> String {
    let mut st = emu.stats();
    st.wall_time_s = 0.0;
    st.emulator_realtime_factor = 0.0;
    let mut syn = Vec::new();
    for ci in 0..emu.program().cores.len() {
        syn.push(emu.synapse_state(ci).map(|(a, w)| (a.to_vec(), w.to_vec())));
        syn.push(emu.neuron_state(ci).map(|(u, v, _)| (u.to_vec(), v.to_vec())));
    }
    format!("{:?}|{:?}|{:?}|{:?}", emu.recordings(), syn, st, emu.step_cycles())
}

fn cfg(threads: usize, chip_seed: u64) -> RunConfig {
    RunConfig { chip_seed, noise_seed: 3, ideal: false, threads, seed: None }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    #[test]
    fn thread_count_does_not_change_results(seed in 0u64..1000, cores in 1u32..5, statics in 0u32..3, chip_seed in 0u64..100) {
        let prog = random_program_with(seed, cores, statics.min(cores));
        let mut a = Emulator::new(&prog, cfg(1, chip_seed)).unwrap();
        let mut b = Emulator::new(&prog, cfg(3, chip_seed)).unwrap();
        a.run(300);
        b.run(300);
        prop_assert!(a.stats().spikes > 0);
        prop_assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn resumed_run_is_bit_identical(seed in 0u64..1000, cores in 1u32..4, statics in 0u32..4, split in 1u64..299) {
        let prog = random_program_with(seed, cores, statics.min(cores));
        let mut whole = Emulator::new(&prog, cfg(1, 7)).unwrap();
        whole.run(300);
        let mut first = Emulator::new(&prog, cfg(1, 7)).unwrap();
        first.run(split);
        let bytes = checkpoint::to_bytes(&first).unwrap();
        drop(first);
        let mut resumed = checkpoint::from_bytes(&bytes, "mem", Some(2)).unwrap();
        resumed.run(300 - split);
        prop_assert_eq!(fingerprint(&whole), fingerprint(&resumed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    /// The synapse arena and the router's direct delivery into the rings of static cores give
    /// the same run as queueing every packet for its core's own delivery, also when switched
    /// mid-run (with contributions of both kinds pending in the delay rings).
    #[test]
    fn direct_delivery_equals_queued_delivery(seed in 0u64..1000, cores in 1u32..5, statics in 1u32..5, split in 1u64..299) {
        let prog = random_program_with(seed, cores, statics.min(cores));
        let mut fast = Emulator::new(&prog, cfg(1, 5)).unwrap();
        let mut queued = Emulator::new(&prog, cfg(1, 5)).unwrap();
        queued.set_synapse_arena(false);
        let mut switched = Emulator::new(&prog, cfg(1, 5)).unwrap();
        fast.run(300);
        queued.run(300);
        switched.run(split);
        switched.set_synapse_arena(false);
        switched.run(150.min(300 - split));
        switched.set_synapse_arena(true);
        switched.run(300 - split - 150.min(300 - split));
        prop_assert!(fast.stats().synaptic_events > 0);
        prop_assert_eq!(fingerprint(&fast), fingerprint(&queued));
        prop_assert_eq!(fingerprint(&fast), fingerprint(&switched));
    }
}

/// Past the steps whose own cycle counts are kept, a resumed run still equals the whole one
/// (the cycle histogram is checkpointed), and the stats' cycles cover every step.
#[test]
fn resumed_run_past_the_kept_cycle_counts_is_bit_identical() {
    let kept = nm_emulator::timing::CycleLog::KEPT as u64;
    let prog = random_program_with(17, 2, 1);
    let mut whole = Emulator::new(&prog, cfg(1, 4)).unwrap();
    whole.run(kept + 700);
    let mut first = Emulator::new(&prog, cfg(1, 4)).unwrap();
    first.run(kept + 300);
    let bytes = checkpoint::to_bytes(&first).unwrap();
    let mut resumed = checkpoint::from_bytes(&bytes, "mem", None).unwrap();
    resumed.run(400);
    assert_eq!(fingerprint(&whole), fingerprint(&resumed));
    assert_eq!(whole.step_cycles().len() as u64, kept);
    assert_eq!(whole.cycle_log().steps(), kept + 700);
    let st = whole.stats();
    let mut head = whole.step_cycles().to_vec();
    head.sort_unstable();
    assert!(st.cycles_per_step.total > head.iter().sum::<u64>());
    assert!(st.cycles_per_step.min <= head[0] && st.cycles_per_step.max >= head[head.len() - 1]);
}

/// Dropping old spikes between runs (`Emulator::forget_spikes_before`) keeps exactly the later
/// spikes of the whole run and changes nothing else (state, counters, series, cycles).
#[test]
fn forgetting_old_spikes_keeps_the_rest_of_the_run() {
    for seed in [3u64, 11, 29] {
        let prog = random_program_with(seed, 3, 1);
        let mut whole = Emulator::new(&prog, cfg(1, 2)).unwrap();
        whole.run(300);
        let mut chunked = Emulator::new(&prog, cfg(1, 2)).unwrap();
        for (len, forget) in [(70u64, 50u64), (80, 120), (150, 140)] {
            chunked.run(len);
            chunked.forget_spikes_before(forget);
        }
        let (w, c) = (whole.recordings(), chunked.recordings());
        assert_eq!(w.series, c.series);
        assert_eq!(w.spikes.len(), c.spikes.len());
        let mut kept = 0;
        for (a, b) in w.spikes.iter().zip(&c.spikes) {
            let later: Vec<(i64, i32)> =
                a.times.iter().zip(&a.ids).filter(|(&t, _)| t >= 140).map(|(&t, &i)| (t, i)).collect();
            let left: Vec<(i64, i32)> = b.times.iter().copied().zip(b.ids.iter().copied()).collect();
            assert_eq!(later, left, "{}", a.name);
            kept += left.len();
        }
        assert!(kept > 0 && kept < w.spikes.iter().map(|r| r.times.len()).sum::<usize>(), "seed {seed}");
        let strip = |e: &Emulator| fingerprint(e).split_once('|').map(|(_, rest)| rest.to_string());
        assert_eq!(strip(&whole), strip(&chunked));
    }
}

/// A checkpoint with the header of `bytes` (magic and version) around the payload `body`, with
/// its length and a valid CRC: how the crafted-payload tests below build their inputs.
fn reencode(bytes: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A checkpoint claiming more pending synaptic events than a core's synapse words can receive
/// in a step (a valid CRC over a crafted payload) is refused, not charged.
#[test]
fn crafted_pending_events_are_refused() {
    let prog = random_program_with(4, 2, 2);
    let mut emu = Emulator::new(&prog, cfg(1, 1)).unwrap();
    emu.run(50);
    let bytes = checkpoint::to_bytes(&emu).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&bytes[24..]).unwrap();
    v["states"][0]["pending_events"] = serde_json::json!(u64::MAX);
    let body = serde_json::to_vec(&v).unwrap();
    match checkpoint::from_bytes(&reencode(&bytes, &body), "x.ckpt", None) {
        Err(EmuError::Checkpoint { msg, .. }) => assert!(msg.contains("pending synaptic events"), "{msg}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    // The same payload re-encoded unchanged is accepted (the crafting itself is sound).
    let body = serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&bytes[24..]).unwrap()).unwrap();
    assert!(checkpoint::from_bytes(&reencode(&bytes, &body), "x.ckpt", None).is_ok());
}

/// A checkpoint whose trace lies outside the trace format (negative, or above its largest
/// value; a valid CRC over a crafted payload) is refused: the trace decay relies on the range.
#[test]
fn crafted_traces_out_of_range_are_refused() {
    let prog = random_program_with(4, 2, 0);
    let mut emu = Emulator::new(&prog, cfg(1, 1)).unwrap();
    emu.run(50);
    let bytes = checkpoint::to_bytes(&emu).unwrap();
    let craft = |x: i64| {
        let mut v: serde_json::Value = serde_json::from_slice(&bytes[24..]).unwrap();
        v["states"][0]["rules"][0]["x"][0][0] = serde_json::json!(x);
        let body = serde_json::to_vec(&v).unwrap();
        checkpoint::from_bytes(&reencode(&bytes, &body), "x.ckpt", None)
    };
    for x in [-1i64, 32768] {
        match craft(x) {
            Err(EmuError::Checkpoint { msg, .. }) => assert!(msg.contains("trace value"), "{msg}"),
            other => panic!("expected a refusal of trace {x}, got {:?}", other.map(|_| ())),
        }
    }
    assert!(craft(32767).is_ok(), "the largest trace value is valid");
}

#[test]
fn different_chip_seeds_give_different_chips() {
    let prog = random_program(1, 2);
    let mut a = Emulator::new(&prog, cfg(1, 1)).unwrap();
    let mut b = Emulator::new(&prog, cfg(1, 2)).unwrap();
    a.run(200);
    b.run(200);
    assert_ne!(fingerprint(&a), fingerprint(&b));
}

#[test]
fn damaged_checkpoints_are_refused() {
    let prog = random_program(4, 2);
    let mut emu = Emulator::new(&prog, cfg(1, 1)).unwrap();
    emu.run(50);
    let bytes = checkpoint::to_bytes(&emu).unwrap();
    let check = |b: &[u8], want: &str| match checkpoint::from_bytes(b, "x.ckpt", None) {
        Err(EmuError::Checkpoint { msg, .. }) => assert!(msg.contains(want), "{msg}"),
        other => panic!("expected a refusal containing {want:?}, got {other:?}"),
    };
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    check(&flipped, "CRC");
    check(&bytes[..bytes.len() - 10], "truncated");
    check(&bytes[..10], "header");
    let mut magic = bytes.clone();
    magic[0] = b'X';
    check(&magic, "magic");
    let mut version = bytes.clone();
    version[8] = 9;
    check(&version, "version");
    assert!(checkpoint::from_bytes(&bytes, "x.ckpt", None).is_ok());
}
