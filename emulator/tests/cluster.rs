//! The static LIF cluster (`nm_emulator::cluster`): a run with the static LIF cores side by side
//! is bit-identical to the same run core by core (`set_synapse_arena(false)`), also when switched
//! mid-run, resumed from a checkpoint, run on more threads, or poked through the state API; and
//! the cores it must leave alone (learning, noise-free but stochastic, probed) stay out of it.

use nm_emulator::checkpoint;
use nm_emulator::netbuild::{lif_profile, NetBuilder, NeuronRef, Pre};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Scope, Src, TraceSpec, Trigger};
use nm_isa::neuron::{NeuronConfig, NeuronKind, NeuronProfile};
use nm_isa::program::{Encoding, InputKind, PatternOrder, ProbeKind, Program, StateVar, SynKind};
use nm_isa::rng::HwRng;
use nm_isa::ChipSpec;
use proptest::prelude::*;

fn acc(w: i32) -> i32 {
    nm_emulator::netbuild::acc_of_weight(&ChipSpec::default_profile(), w)
}

fn hebb() -> LearnRule {
    LearnRule {
        name: "hebb".into(),
        x: [Some(TraceSpec { decay: 300, impulse: 512 }), None],
        y: [None, None],
        handlers: vec![Handler {
            trigger: Trigger::Post,
            scope: Scope::Synapse,
            code: vec![
                Instr::ld(0, Src::W),
                Instr::ld(1, Src::X0),
                Instr::rrs(Opcode::Shrr, 1, 1, 4),
                Instr::rrr(Opcode::Add, 0, 0, 1),
                Instr::st(Dst::W, 0),
            ],
        }],
        w_min: 0,
        w_max: acc(255),
        readout: nm_isa::fixed_point::Rounding::Nearest,
    }
}

/// Core kinds of [`program`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// LIF only, no rule: a member. `long`: delays up to 6 (a deeper ring, another group).
    Static { long: bool },
    /// LIF only, no rule, every synapse onto it of delay 1 (a ring of one slot).
    Prompt,
    /// LIF only, two synaptic currents, no rule.
    TwoCurrents,
    /// LIF with a learning rule on its inputs.
    Plastic,
    /// LIF and stochastic neurons.
    Mixed,
}

/// A random network: core 0 is a short-delay static LIF core, the others of random kinds; a
/// Poisson input and a graded pattern input (payloads 0..=3, queued, not flat); recurrent
/// synapses of random signs and delays; spikes recorded, and `V` of core `probed` if any.
fn program(seed: u64, kinds: &[Kind], probed: Option<usize>) -> Program {
    let mut r = HwRng::new(seed, 5);
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "cluster", 1_000_000);
    b.program.meta.seed = seed;
    let rule = b.add_rule(hebb());
    b.program.luts.push(nm_isa::neuron::Lut {
        name: "sigmoid".into(),
        shift: 6,
        entries: (0..64).map(|k| ((1.0 / (1.0 + (-(f64::from(k) - 32.0) / 6.0).exp())) * 65536.0) as i32).collect(),
    });
    let mut all: Vec<NeuronRef> = Vec::new();
    let mut per_core: Vec<Vec<NeuronRef>> = Vec::new();
    let mut groups = Vec::new();
    for (c, &kind) in kinds.iter().enumerate() {
        let core = c as u32 * 2;
        let mut prof = lif_profile(300 + r.next_u32() % 500, 100 + r.next_u32() % 300, 2, 0);
        if kind == Kind::TwoCurrents {
            prof.decay_u2 = Some(150 + r.next_u32() % 300);
        }
        let lif = b.add_profile(core, prof);
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
        let n = 5 + r.next_u32() % 20;
        let mut here = Vec::new();
        for k in 0..n {
            let p = if kind == Kind::Mixed && k % 3 == 2 { sto } else { lif };
            let nr = b.add_neuron(
                core,
                NeuronConfig {
                    profile: p,
                    bias: 10 + (r.next_u32() % 30) as i32,
                    v_th: 1500,
                    v_init: (r.next_u32() % 1000) as i32,
                },
            );
            here.push(nr);
            all.push(nr);
        }
        per_core.push(here);
        let plastic = (kind == Kind::Plastic).then_some(rule);
        let g_exc = b.add_group(core, 0, SynKind::Current, plastic, 1);
        let g_inh = if kind == Kind::TwoCurrents {
            b.add_group_on(core, 1, SynKind::Current, None, 0, 1)
        } else {
            b.add_group(core, 1, SynKind::Current, None, 0)
        };
        groups.push((g_exc, g_inh));
    }
    let core_of = |n: NeuronRef| (n.core / 2) as usize;
    let poisson = b.add_input("in", 8, InputKind::Poisson { p_q32: vec![(0.08 * 4_294_967_296.0) as u32; 8] }, 0);
    let rows: Vec<Vec<i32>> = (0..6).map(|_| (0..4).map(|_| (r.next_u32() % 4) as i32).collect()).collect();
    let graded = b.add_input(
        "graded",
        4,
        InputKind::Patterns { rows, present_steps: 7, order: PatternOrder::Sequential, encoding: Encoding::Graded },
        0,
    );
    for &post in &all {
        let kind = kinds[core_of(post)];
        let long = matches!(kind, Kind::Static { long: true });
        let span = match kind {
            Kind::Prompt => 1,
            _ if long => 6,
            _ => 2,
        };
        let delay = |r: &mut HwRng| 1 + (r.next_u32() % span) as u8;
        let (ge, gi) = groups[core_of(post)];
        for ch in 0..8 {
            if r.next_u32().is_multiple_of(3) {
                let d = delay(&mut r);
                b.connect(Pre::Input(poisson, ch), post, acc(60 + (r.next_u32() % 120) as i32), d, ge);
            }
        }
        for ch in 0..4 {
            if r.next_u32().is_multiple_of(4) {
                let d = delay(&mut r);
                b.connect(Pre::Input(graded, ch), post, acc(20 + (r.next_u32() % 60) as i32), d, ge);
            }
        }
        for &pre in &all {
            if r.next_u32().is_multiple_of(4) {
                let w = (r.next_u32() % 200) as i32 - 70;
                let d = delay(&mut r);
                if w > 0 {
                    b.connect(Pre::Neuron(pre), post, acc(w), d, ge);
                } else {
                    b.connect(Pre::Neuron(pre), post, acc(-w), d, gi);
                }
            }
        }
    }
    let pop = b.add_population("all", NeuronKind::Lif, &all);
    b.add_projection("exc", pop);
    b.add_projection("inh", pop);
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    if let Some(c) = probed {
        let watched = b.add_population("watched", NeuronKind::Lif, &per_core[c]);
        b.probe("v", ProbeKind::State { pop: watched, var: StateVar::V }, 3);
    }
    b.build()
}

fn kinds_from(seed: u64, cores: usize) -> Vec<Kind> {
    let mut r = HwRng::new(seed, 6);
    let mut k = vec![Kind::Static { long: false }];
    for _ in 1..cores {
        k.push(match r.next_u32() % 5 {
            0 => Kind::Static { long: false },
            1 => Kind::Static { long: true },
            2 => Kind::TwoCurrents,
            3 => Kind::Plastic,
            _ => Kind::Mixed,
        });
    }
    k
}

/// Everything observable of a run (wall time excluded), the state of every core included.
fn fingerprint(emu: &Emulator) -> String {
    let mut st = emu.stats();
    st.wall_time_s = 0.0;
    st.emulator_realtime_factor = 0.0;
    let mut state = Vec::new();
    for ci in 0..emu.program().cores.len() {
        state.push(format!("{:?}", emu.synapse_state(ci).map(|(a, w)| (a.to_vec(), w.to_vec()))));
        state.push(format!("{:?}", emu.neuron_state(ci).map(|(u, v, c)| (u.to_vec(), v.to_vec(), c.to_vec()))));
        state.push(format!("{:?}", emu.second_current(ci).map(<[i32]>::to_vec)));
        state.push(format!("{:?}", emu.last_spikes(ci)));
        let n = emu.program().cores[ci].neurons.len();
        state.push(format!("{:?}", (0..n).map(|i| emu.neuron_value(ci, i, StateVar::Y)).collect::<Vec<_>>()));
    }
    format!("{:?}|{:?}|{:?}|{:?}", emu.recordings(), state, st, emu.step_cycles())
}

fn cfg(threads: usize) -> RunConfig {
    RunConfig { chip_seed: 11, noise_seed: 3, ideal: false, threads, seed: None }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// With the cluster, core by core, and switched between them mid-run (delay rings holding
    /// contributions of both), the runs are identical.
    #[test]
    fn cluster_equals_core_by_core(seed in 0u64..10_000, cores in 1usize..7, split in 1u64..249) {
        let prog = program(seed, &kinds_from(seed, cores), None);
        let mut fast = Emulator::new(&prog, cfg(1)).unwrap();
        prop_assert!(!fast.cluster_members().is_empty(), "core 0 is a static LIF core");
        let mut slow = Emulator::new(&prog, cfg(1)).unwrap();
        slow.set_synapse_arena(false);
        prop_assert!(slow.cluster_members().is_empty());
        let mut switched = Emulator::new(&prog, cfg(1)).unwrap();
        fast.run(250);
        slow.run(250);
        switched.run(split);
        switched.set_synapse_arena(false);
        switched.run((250 - split) / 2);
        switched.set_synapse_arena(true);
        switched.run(250 - split - (250 - split) / 2);
        prop_assert!(fast.stats().spikes > 0 && fast.stats().synaptic_events > 0);
        prop_assert_eq!(fingerprint(&fast), fingerprint(&slow));
        prop_assert_eq!(fingerprint(&fast), fingerprint(&switched));
    }

    /// A run resumed from a checkpoint taken with the cluster, and a run on three threads, equal
    /// the uninterrupted single-thread run.
    #[test]
    fn cluster_resumes_and_threads_bit_identically(seed in 0u64..10_000, cores in 1usize..6, split in 1u64..199) {
        let prog = program(seed, &kinds_from(seed, cores), None);
        let mut whole = Emulator::new(&prog, cfg(1)).unwrap();
        whole.run(200);
        let mut first = Emulator::new(&prog, cfg(1)).unwrap();
        first.run(split);
        let bytes = checkpoint::to_bytes(&first).unwrap();
        let mut resumed = checkpoint::from_bytes(&bytes, "mem", Some(1)).unwrap();
        prop_assert!(!resumed.cluster_members().is_empty());
        // The last step's spikes survive the checkpoint (the rebuilt cluster holds them).
        for ci in 0..prog.cores.len() {
            prop_assert_eq!(resumed.last_spikes(ci), first.last_spikes(ci), "core {}", ci);
        }
        drop(first);
        resumed.run(200 - split);
        prop_assert_eq!(fingerprint(&whole), fingerprint(&resumed));
        let mut threaded = Emulator::new(&prog, cfg(3)).unwrap();
        threaded.run(200);
        prop_assert_eq!(fingerprint(&whole), fingerprint(&threaded));
    }
}

/// The cluster takes static LIF cores of the largest (ring depth, currents) group only; learning
/// cores, cores with stochastic neurons and cores under a state probe stay out.
#[test]
fn membership_follows_the_rules() {
    let kinds = [
        Kind::Static { long: false },
        Kind::Plastic,
        Kind::Mixed,
        Kind::Static { long: false },
        Kind::Static { long: false },
        Kind::TwoCurrents,
    ];
    let emu = Emulator::new(&program(3, &kinds, Some(3)), cfg(1)).unwrap();
    assert_eq!(emu.cluster_members(), &[0, 4]);
    let emu = Emulator::new(&program(3, &kinds, None), cfg(1)).unwrap();
    assert_eq!(emu.cluster_members(), &[0, 3, 4]);
}

/// Membrane values written through `neuron_state_mut` reach a member's next update, as they
/// reach a core outside the cluster.
#[test]
fn state_written_through_the_api_is_used() {
    let prog = program(8, &kinds_from(8, 4), None);
    let mut runs = Vec::new();
    for on in [true, false] {
        let mut emu = Emulator::new(&prog, cfg(1)).unwrap();
        emu.set_synapse_arena(on);
        emu.run(40);
        let (u, v) = emu.neuron_state_mut(0).unwrap();
        u[0] = 900;
        v[1] = 1400;
        emu.run(40);
        runs.push(fingerprint(&emu));
    }
    let mut untouched = Emulator::new(&prog, cfg(1)).unwrap();
    untouched.run(80);
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], fingerprint(&untouched), "the write changed nothing: the test would not see a lost write");
}

/// Run `prog` for 300 steps with the cluster (`fast`, checked by `check` once loaded) and core
/// by core: both must spike and end in the same state.
fn assert_cluster_equals_core_by_core(prog: &Program, what: &str, check: impl Fn(&Emulator)) {
    let mut fast = Emulator::new(prog, cfg(1)).unwrap();
    check(&fast);
    let mut slow = Emulator::new(prog, cfg(1)).unwrap();
    slow.set_synapse_arena(false);
    fast.run(300);
    slow.run(300);
    assert!(fast.stats().spikes > 0, "{what}: no spikes");
    assert_eq!(fingerprint(&fast), fingerprint(&slow), "{what}");
}

/// The cluster's flat synapse words hold their member (no per-event look-up); without it (the
/// layout of a cluster too large for it) the run is the same, with rings of one slot, short and
/// deep rings, and two currents.
#[test]
fn flat_words_with_and_without_members_equal_core_by_core() {
    for kinds in [
        vec![Kind::Prompt, Kind::Plastic, Kind::Prompt, Kind::Prompt, Kind::Prompt],
        vec![Kind::Static { long: false }, Kind::Plastic, Kind::Static { long: false }, Kind::Static { long: false }],
        vec![Kind::Static { long: true }, Kind::Static { long: true }, Kind::Mixed],
        vec![Kind::TwoCurrents, Kind::TwoCurrents],
    ] {
        for seed in 0..3 {
            let prog = program(seed, &kinds, None);
            let what = format!("{kinds:?}, seed {seed}");
            let mut packed = Emulator::new(&prog, cfg(1)).unwrap();
            assert_eq!(packed.cluster_words_hold_members(), Some(true), "{what}");
            let mut plain = Emulator::new(&prog, cfg(1)).unwrap();
            plain.cluster_words_without_members();
            assert_eq!(plain.cluster_words_hold_members(), Some(false), "{what}");
            let mut slow = Emulator::new(&prog, cfg(1)).unwrap();
            slow.set_synapse_arena(false);
            for e in [&mut packed, &mut plain, &mut slow] {
                e.run(300);
            }
            assert!(packed.stats().spikes > 0, "{what}: no spikes");
            assert_eq!(fingerprint(&packed), fingerprint(&slow), "{what}: with members");
            assert_eq!(fingerprint(&plain), fingerprint(&slow), "{what}: without members");
        }
    }
}

/// A cluster of two-current cores (the second plane of the rings) and one of long-delay cores
/// (a deeper ring) run as core by core does.
#[test]
fn two_current_and_deep_ring_clusters_equal_core_by_core() {
    for (kinds, want) in [
        (vec![Kind::TwoCurrents, Kind::TwoCurrents, Kind::Mixed], vec![0u32, 1]),
        (vec![Kind::Static { long: true }, Kind::Plastic, Kind::Static { long: true }], vec![0, 2]),
    ] {
        for seed in 0..4 {
            let prog = program(seed, &kinds, None);
            let what = format!("{kinds:?}, seed {seed}");
            assert_cluster_equals_core_by_core(&prog, &what, |fast| {
                assert_eq!(fast.cluster_members(), want.as_slice(), "{what}");
            });
        }
    }
}

/// The cluster stores the keep factors and refractory periods as `u16` where every value fits,
/// else as `i32` (a 16-bit decay without leak keeps `2^16`): both equal core by core.
#[test]
fn narrow_and_wide_cluster_constants_equal_core_by_core() {
    for (bits, narrow) in [(12u8, true), (16, false)] {
        for seed in 0..3 {
            let mut prog = program(seed, &[Kind::Static { long: false }; 3], None);
            prog.chip.formats.decay_bits = bits;
            for core in &mut prog.cores {
                for p in &mut core.profiles {
                    if p.kind == NeuronKind::Lif {
                        p.decay_v = 0;
                    }
                }
            }
            let what = format!("{bits} bits, seed {seed}");
            assert_cluster_equals_core_by_core(&prog, &what, |fast| {
                assert_eq!(fast.cluster_members().len(), 3, "{what}");
                assert_eq!(fast.cluster_narrow_constants(), Some(narrow), "{what}");
            });
        }
    }
}

/// The cluster stores bias and reset as `u16` offsets above their smallest values where both
/// span less than `2^16`, else as `i32` (a reset far below the others): both equal core by core.
#[test]
fn narrow_and_wide_cluster_offsets_equal_core_by_core() {
    for (low_reset, narrow) in [(None, true), (Some(-70_000), false), (Some(-65_535), true)] {
        for seed in 0..3 {
            let mut prog = program(seed, &[Kind::Static { long: false }; 3], None);
            if let Some(vr) = low_reset {
                for p in &mut prog.cores[1].profiles {
                    if p.kind == NeuronKind::Lif {
                        p.v_reset = vr;
                    }
                }
            }
            let what = format!("reset {low_reset:?}, seed {seed}");
            assert_cluster_equals_core_by_core(&prog, &what, |fast| {
                assert_eq!(fast.cluster_members().len(), 3, "{what}");
                assert_eq!(fast.cluster_narrow_offsets(), Some(narrow), "{what}");
            });
        }
    }
}
