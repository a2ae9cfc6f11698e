//! The learning engine's fused kernels (`fastlearn::FusedW`, handlers `w ± f(trace)`) against
//! the interpreter: random rules (fused shapes with random unary chains, mixed with handlers the
//! recogniser must refuse, `Step`/`Epoch`/per-post handlers that force the deferred refresh,
//! nearest and stochastic readout), random weights near the bounds, ideal and mismatched chips;
//! every observable of the run (spikes, recordings, accumulators, readouts, neuron state, stats,
//! per-step cycles) must be bit-identical with `Emulator::set_fused_learning(false)`.

use nm_emulator::checkpoint;
use nm_emulator::core::LifKernel;
use nm_emulator::fastlearn::{FastRule, FusedW};
use nm_emulator::netbuild::{lif_profile, NetBuilder, NeuronRef, Pre};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::fixed_point::Rounding;
use nm_isa::ids::ProjId;
use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Reduce, Scope, Src, TraceSpec, Trigger};
use nm_isa::neuron::{NeuronConfig, NeuronKind};
use nm_isa::program::{Encoding, InputKind, PatternOrder, Probe, ProbeKind, Program, StateVar, SynKind};
use nm_isa::rng::HwRng;
use nm_isa::ChipSpec;

fn acc(w: i32) -> i32 {
    nm_emulator::netbuild::acc_of_weight(&ChipSpec::default_profile(), w)
}

fn pick<T: Copy>(r: &mut HwRng, xs: &[T]) -> T {
    xs[(r.next_u32() as usize) % xs.len()]
}

/// A random handler of the fused shape: `ld` of a trace, 0–3 unary ops on it, `ld w`, `add` or
/// `sub` in either order, `st w`, with unrelated ops mixed in.
fn fused_code(r: &mut HwRng) -> Vec<Instr> {
    let (t, w, o) = (pick(r, &[0u8, 1, 2]), pick(r, &[3u8, 4]), 6u8);
    let mut code = vec![Instr::ld(t, pick(r, &[Src::X0, Src::X1, Src::Y0, Src::Y1]))];
    if r.next_u32().is_multiple_of(2) {
        code.insert(0, Instr::ld(w, Src::W));
    } else {
        code.push(Instr::ld(w, Src::W));
    }
    for _ in 0..r.next_u32() % 4 {
        let imm = match r.next_u32() % 3 {
            0 => (r.next_u32() % 9000) as i32 - 3000,
            1 => (r.next_u32() >> 1) as i32 - (1 << 30),
            _ => (r.next_u32() % 4096) as i32,
        };
        let sh = (r.next_u32() % 32) as u8;
        code.push(match r.next_u32() % 9 {
            0 | 1 => Instr::rris(Opcode::Muli, t, t, imm, sh),
            2 => Instr::rrs(Opcode::Shr, t, t, sh),
            3 => Instr::rrs(Opcode::Shl, t, t, sh % 6),
            4 => Instr::rri(Opcode::Addi, t, t, imm),
            5 => Instr::rri(Opcode::Mini, t, t, imm),
            6 => Instr::rri(Opcode::Maxi, t, t, imm),
            7 => Instr::rr(Opcode::Neg, t, t),
            _ => Instr::rr(Opcode::Abs, t, t),
        });
        if r.next_u32().is_multiple_of(5) {
            // Ops that do not reach the store.
            code.push(Instr::ld(o, Src::Ys));
            code.push(Instr::rrr(Opcode::Add, 7, o, t));
        }
    }
    code.push(match r.next_u32() % 4 {
        0 => Instr::rrr(Opcode::Add, w, w, t),
        1 => Instr::rrr(Opcode::Add, w, t, w),
        2 => Instr::rrr(Opcode::Sub, w, w, t),
        _ => Instr::rrr(Opcode::Sub, w, t, w),
    });
    code.push(Instr::st(Dst::W, w));
    if r.next_u32().is_multiple_of(4) {
        code.push(Instr::rr(Opcode::Mov, 5, w));
    }
    code
}

/// A random per-synapse handler the recogniser must refuse (stochastic rounding, a tag store, a
/// second store, a product of two registers, or no store).
fn other_code(r: &mut HwRng) -> Vec<Instr> {
    let mut code = vec![Instr::ld(0, Src::W), Instr::ld(1, pick(r, &[Src::X0, Src::Y0]))];
    match r.next_u32() % 5 {
        0 => code.push(Instr::rrs(Opcode::Shrr, 1, 1, 4)),
        1 => code.push(Instr::st(Dst::Tag, 1)),
        2 => {
            code.push(Instr::rrr(Opcode::Add, 0, 0, 1));
            code.push(Instr::st(Dst::W, 0));
        }
        3 => code.push(Instr::rrrs(Opcode::Mul, 1, 1, 1, 12)),
        _ => {
            code.push(Instr::rrr(Opcode::Add, 0, 0, 1));
            return code;
        }
    }
    code.push(Instr::rrr(Opcode::Sub, 0, 0, 1));
    code.push(Instr::st(Dst::W, 0));
    code
}

fn random_rule(r: &mut HwRng) -> LearnRule {
    let trace =
        |r: &mut HwRng| TraceSpec { decay: 50 + r.next_u32() % 500, impulse: 256 + (r.next_u32() % 3000) as i32 };
    let mut handlers = Vec::new();
    for trig in [Trigger::Pre, Trigger::Post] {
        let code = if r.next_u32().is_multiple_of(4) { other_code(r) } else { fused_code(r) };
        handlers.push(Handler { trigger: trig, scope: Scope::Synapse, code });
        if r.next_u32().is_multiple_of(6) {
            let code = vec![
                Instr::red(0, Reduce::Sum),
                Instr::rrs(Opcode::Shr, 0, 0, 20),
                Instr::rri(Opcode::Addi, 0, 0, 4000),
                Instr::wscale(0, 12),
            ];
            handlers.push(Handler { trigger: trig, scope: Scope::PostNeuron, code });
        }
    }
    for trig in [Trigger::Step, Trigger::Epoch] {
        if r.next_u32().is_multiple_of(5) {
            handlers.push(Handler {
                trigger: trig,
                scope: Scope::Synapse,
                code: vec![Instr::ld(0, Src::W), Instr::rri(Opcode::Addi, 0, 0, -3), Instr::st(Dst::W, 0)],
            });
        }
    }
    let lo = (r.next_u32() % 60) as i32;
    LearnRule {
        name: "rule".into(),
        x: [Some(trace(r)), if r.next_u32().is_multiple_of(2) { Some(trace(r)) } else { None }],
        y: [Some(trace(r)), if r.next_u32().is_multiple_of(2) { Some(trace(r)) } else { None }],
        handlers,
        w_min: acc(lo),
        w_max: acc(lo + 40 + (r.next_u32() % 200) as i32),
        readout: if r.next_u32().is_multiple_of(5) { Rounding::Stochastic } else { Rounding::Nearest },
    }
}

/// A random network: Poisson inputs and recurrent LIF neurons over `cores` cores, two plastic
/// groups with their own random rules, weights spread over and beyond the rules' bounds.
fn random_program(seed: u64, cores: u32) -> (Program, Vec<LearnRule>) {
    let mut r = HwRng::new(seed, 77);
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "fused", 1_000_000);
    b.program.meta.seed = seed;
    b.program.meta.epoch_steps = 5 + r.next_u32() % 20;
    let rules = vec![random_rule(&mut r), random_rule(&mut r)];
    let ids: Vec<_> = rules.iter().map(|rule| b.add_rule(rule.clone())).collect();
    let mut all: Vec<NeuronRef> = Vec::new();
    let mut groups = Vec::new();
    for c in 0..cores {
        let core = c * 2;
        let lif = b.add_profile(core, lif_profile(200 + r.next_u32() % 400, 100 + r.next_u32() % 200, 2, 0));
        for _ in 0..10 {
            all.push(b.add_neuron(
                core,
                NeuronConfig { profile: lif, bias: 30, v_th: 1200, v_init: (r.next_u32() % 900) as i32 },
            ));
        }
        groups.push((
            b.add_group(core, 0, SynKind::Current, Some(ids[0]), 1),
            b.add_group(core, 0, SynKind::Current, Some(ids[1]), 0),
            b.add_group(core, 0, SynKind::Current, None, 0),
        ));
    }
    let core_of = |n: NeuronRef| (n.core / 2) as usize;
    let inp = b.add_input("in", 24, InputKind::Poisson { p_q32: vec![(0.08 * 4_294_967_296.0) as u32; 24] }, 0);
    for &post in &all {
        let (g0, g1, gs) = groups[core_of(post)];
        for ch in 0..24 {
            if !r.next_u32().is_multiple_of(3) {
                let g = if ch % 2 == 0 { g0 } else { g1 };
                b.connect(Pre::Input(inp, ch), post, acc((r.next_u32() % 300) as i32), 1 + (r.next_u32() % 3) as u8, g);
            }
        }
        for &pre in &all {
            if r.next_u32().is_multiple_of(4) {
                let g = pick(&mut r, &[g0, g1, gs]);
                let w = if g == gs { -((r.next_u32() % 60) as i32) } else { (r.next_u32() % 250) as i32 };
                b.connect(Pre::Neuron(pre), post, acc(w), 1 + (r.next_u32() % 4) as u8, g);
            }
        }
    }
    // Graded packets through the plastic groups: delivered with `weff · payload`, which must
    // see the refreshed efficacy of a synapse whose refresh was deferred (`core::Stale`).
    let rows: Vec<Vec<i32>> = (0..5).map(|_| (0..4).map(|_| (r.next_u32() % 4) as i32).collect()).collect();
    let graded = b.add_input(
        "graded",
        4,
        InputKind::Patterns { rows, present_steps: 6, order: PatternOrder::Sequential, encoding: Encoding::Graded },
        0,
    );
    for &post in &all {
        let (g0, g1, _) = groups[core_of(post)];
        for ch in 0..4 {
            if r.next_u32().is_multiple_of(2) {
                let g = if ch % 2 == 0 { g0 } else { g1 };
                b.connect(Pre::Input(graded, ch), post, acc((r.next_u32() % 200) as i32), 1, g);
            }
        }
    }
    let pop = b.add_population("all", NeuronKind::Lif, &all);
    for name in ["p0", "p1", "static"] {
        b.add_projection(name, pop);
    }
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    b.probe("v", ProbeKind::State { pop, var: StateVar::V }, 5);
    (b.build(), rules)
}

/// Everything observable of a run (wall time excluded).
fn fingerprint(emu: &Emulator) -> String {
    let mut st = emu.stats();
    st.wall_time_s = 0.0;
    st.emulator_realtime_factor = 0.0;
    let mut state = Vec::new();
    for ci in 0..emu.program().cores.len() {
        state.push(format!("{:?}", emu.synapse_state(ci)));
        state.push(format!("{:?}", emu.neuron_state(ci)));
        state.push(format!("{:?}", emu.traces(ci, 0)));
    }
    format!("{:?}|{:?}|{:?}|{:?}", emu.recordings(), state, st, emu.step_cycles())
}

#[test]
fn fused_kernels_equal_the_interpreter_on_random_rules() {
    let (mut fused_handlers, mut runs) = (0, 0);
    for seed in 0..24u64 {
        let (prog, rules) = random_program(seed, 1 + (seed % 3) as u32);
        fused_handlers += rules.iter().map(|r| FastRule::decode(r).fused.iter().flatten().count()).sum::<usize>();
        let cfg = RunConfig { chip_seed: seed, noise_seed: 1, ideal: seed % 4 == 0, threads: 1, seed: None };
        let mut a = Emulator::new(&prog, cfg).unwrap();
        let mut b = Emulator::new(&prog, cfg).unwrap();
        b.set_fused_learning(false);
        // The fused kernels' vectorised loops on every kernel this CPU has (the interpreter side
        // keeps the default).
        let kernels = LifKernel::available();
        a.set_lif_kernel(kernels[seed as usize % kernels.len()]);
        a.run(400);
        b.run(400);
        assert!(a.stats().learning_invocations > 0, "seed {seed}: no learning");
        assert_eq!(fingerprint(&a), fingerprint(&b), "seed {seed}");
        runs += 1;
    }
    // The random rules do reach the fused kernels (most handlers have the fused shape).
    assert!(fused_handlers > runs, "{fused_handlers} fused handlers in {runs} runs");
}

/// A rule whose every handler runs fused with nearest readout: its kernels leave the refresh of
/// the weights they write to the synapses' next reader (`core::Stale`).
fn entirely_fused(rule: &LearnRule) -> bool {
    let f = FastRule::decode(rule);
    let has = |t: Trigger| rule.handlers.iter().any(|h| h.trigger == t);
    rule.readout == Rounding::Nearest
        && rule.w_min <= rule.w_max
        && !has(Trigger::Step)
        && !has(Trigger::Epoch)
        && [Trigger::Pre, Trigger::Post].iter().all(|&t| !has(t) || f.fused[t.code() as usize].is_some())
}

/// The deferred refresh of entirely fused rules is invisible: weights recorded every few steps,
/// a run in pieces (public `run` and `step` calls) through a checkpoint, graded and spike
/// deliveries all equal the interpreter's single run, which refreshes every write at once.
#[test]
fn deferred_refresh_is_invisible() {
    let (mut lazy_rules, mut weights) = (0, 0usize);
    for seed in 100..116u64 {
        let (mut prog, rules) = random_program(seed, 1 + (seed % 3) as u32);
        lazy_rules += rules.iter().filter(|r| entirely_fused(r)).count();
        for proj in 0..2 {
            let kind = ProbeKind::Weights { proj: ProjId(proj) };
            prog.probes.push(Probe { name: format!("w{proj}"), kind, every: 3 + (seed % 5) as u32 });
        }
        let cfg = RunConfig { chip_seed: seed, noise_seed: 1, ideal: seed % 4 == 0, threads: 1, seed: None };
        let mut a = Emulator::new(&prog, cfg).unwrap();
        let kernels = LifKernel::available();
        a.set_lif_kernel(kernels[seed as usize % kernels.len()]);
        let mut b = Emulator::new(&prog, cfg).unwrap();
        b.set_fused_learning(false);
        a.run(90 + seed % 7);
        for _ in 0..7 {
            a.step();
        }
        let bytes = checkpoint::to_bytes(&a).unwrap();
        let mut a = checkpoint::from_bytes(&bytes, "mem", Some(1)).unwrap();
        a.set_lif_kernel(kernels[seed as usize % kernels.len()]);
        a.run(300 - a.time());
        b.run(300);
        assert!(a.stats().learning_invocations > 0, "seed {seed}: no learning");
        assert_eq!(fingerprint(&a), fingerprint(&b), "seed {seed}");
        weights +=
            a.recordings().series.iter().filter(|s| s.name.starts_with('w')).map(|s| s.data.len()).sum::<usize>();
    }
    assert!(lazy_rules >= 4, "only {lazy_rules} entirely fused rules");
    assert!(weights > 0, "no weights recorded");
}

#[test]
fn recogniser_accepts_the_fused_shapes_and_refuses_the_others() {
    let stdp = |code: Vec<Instr>| FusedW::recognise(&nm_emulator::fastlearn::FastCode::decode(&code));
    // The shape `nmc` emits for `w += c * apre`.
    let f = stdp(vec![
        Instr::ld(0, Src::X0),
        Instr::rris(Opcode::Muli, 0, 0, 844_424_930, 15),
        Instr::rris(Opcode::Muli, 0, 0, 3417, 31),
        Instr::ld(1, Src::W),
        Instr::rrr(Opcode::Add, 1, 1, 0),
        Instr::st(Dst::W, 1),
    ])
    .expect("recognised");
    assert_eq!(f.src, Src::X0);
    assert_eq!((f.len, f.chain.len()), (6, 2));
    assert_eq!(f.result(100, f.term(5000)), 100 + f.term(5000));
    let mut r = HwRng::new(3, 3);
    for _ in 0..200 {
        assert!(stdp(fused_code(&mut r)).is_some());
        assert!(stdp(other_code(&mut r)).is_none());
    }
    // The stored value must be `w ± term`: a store of the term alone is not fused.
    assert!(stdp(vec![Instr::ld(0, Src::Y0), Instr::st(Dst::W, 0)]).is_none());
}
