//! Fault injection: a faulty run is bit-reproducible from its seeds (any thread count, across a
//! checkpoint), an empty fault map changes nothing, and every kind of fault is injected at its
//! configured rate and counted (injected faults and lost spikes per cause).

use nm_emulator::bench::{stdp, Stdp};
use nm_emulator::checkpoint;
use nm_emulator::faults::FaultConfig;
use nm_emulator::netbuild::{lif_profile, NetBuilder, Pre};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::faults::{Dir, FaultMap, LinkRef, StuckSynapse};
use nm_isa::neuron::{NeuronConfig, NeuronKind};
use nm_isa::program::{InputKind, ProbeKind, Program, SynKind};
use nm_isa::ChipSpec;

/// The STDP benchmark on three cores (0, 1, 2 in a row; inputs injected at core 0).
fn net() -> Program {
    stdp(Stdp { n_in: 100, n_post: 75, rate_hz: 300.0, seed: 3 })
}

fn cfg(threads: usize) -> RunConfig {
    RunConfig { chip_seed: 5, noise_seed: 0, ideal: false, threads, seed: None }
}

fn faults(map: FaultMap, seed: u64) -> Option<FaultConfig> {
    Some(FaultConfig { map, seed })
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

fn mixed() -> FaultMap {
    FaultMap { packet_drop: 0.05, stuck_fraction: 0.02, bit_flip_rate: 2e-6, ..FaultMap::default() }
}

fn run(p: &Program, c: RunConfig, f: Option<FaultConfig>, steps: u64) -> Emulator {
    let mut emu = Emulator::with_faults(p, c, f).expect("loads");
    emu.run(steps);
    emu
}

#[test]
fn empty_fault_map_changes_nothing() {
    let p = net();
    let plain = run(&p, cfg(1), None, 1500);
    let empty = run(&p, cfg(1), faults(FaultMap::default(), 9), 1500);
    let mut st = empty.stats();
    let f = st.faults.take().expect("fault stats present with a map");
    assert_eq!(f.lost_spikes.total, 0);
    assert_eq!(f.fault_seed, 9);
    assert!(plain.stats().faults.is_none());
    assert_eq!(fingerprint(&plain), fingerprint(&empty).replace(&format!("{:?}", Some(f)), "None"));
}

#[test]
fn faulty_runs_are_reproducible_from_their_seeds() {
    let p = net();
    let a = run(&p, cfg(1), faults(mixed(), 11), 2000);
    let b = run(&p, cfg(1), faults(mixed(), 11), 2000);
    let c = run(&p, cfg(3), faults(mixed(), 11), 2000);
    let d = run(&p, cfg(1), faults(mixed(), 12), 2000);
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert_eq!(fingerprint(&a), fingerprint(&c), "the thread count changes a faulty run");
    assert_ne!(fingerprint(&a), fingerprint(&d), "the fault seed has no effect");
    let f = a.fault_stats().expect("stats");
    assert!(f.packets_dropped > 0 && f.bit_flips > 0 && f.stuck_synapses > 0, "{f:?}");
}

#[test]
fn checkpoint_resumes_a_faulty_run_bit_identically() {
    let p = net();
    let whole = run(&p, cfg(1), faults(mixed(), 21), 1600);
    let half = run(&p, cfg(1), faults(mixed(), 21), 800);
    let bytes = checkpoint::to_bytes(&half).expect("encodes");
    let mut resumed = checkpoint::from_bytes(&bytes, "mem", None).expect("decodes");
    assert_eq!(resumed.fault_config().map(|f| f.seed), Some(21));
    resumed.run(800);
    assert_eq!(fingerprint(&whole), fingerprint(&resumed));
}

/// One input channel spiking every step into one neuron on the same core: each packet takes
/// exactly one link (router to core), so the loss fraction is `packet_drop`.
fn one_link(steps: u64) -> Program {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "one_link", 1_000_000);
    b.program.meta.steps = steps;
    let pr = b.add_profile(0, lif_profile(4096, 4096, 0, 0));
    let g = b.add_group(0, 0, SynKind::Current, None, 0);
    let n = b.add_neuron(0, NeuronConfig { profile: pr, bias: 0, v_th: 1, v_init: 0 });
    let inp = b.add_input("in", 1, InputKind::Poisson { p_q32: vec![u32::MAX] }, 0);
    b.connect(Pre::Input(inp, 0), n, b.acc_of_weight(10), 1, g);
    let pop = b.add_population("out", NeuronKind::Lif, &[n]);
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    b.build()
}

#[test]
fn packet_drop_rate_is_the_configured_probability() {
    let steps = 20_000;
    let p = one_link(steps);
    for (drop, seed) in [(0.05, 1), (0.3, 2)] {
        let map = FaultMap { packet_drop: drop, ..FaultMap::default() };
        let emu = run(&p, cfg(1), faults(map, seed), steps);
        let f = emu.fault_stats().expect("stats");
        let sent = emu.stats().synaptic_events + f.lost_spikes.dropped;
        assert!(sent >= steps - 2, "{sent} packets for {steps} steps");
        let frac = f.lost_spikes.dropped as f64 / sent as f64;
        let sd = (drop * (1.0 - drop) / sent as f64).sqrt();
        assert!((frac - drop).abs() < 4.0 * sd, "drop {drop}: lost fraction {frac} (seed {seed})");
        assert_eq!(f.packets_dropped, f.lost_spikes.dropped);
        assert_eq!(f.lost_spikes.total, f.lost_spikes.dropped);
    }
    // Everything lost: the neuron never receives a packet.
    let map = FaultMap { packet_drop: 1.0, ..FaultMap::default() };
    let emu = run(&p, cfg(1), faults(map, 3), 500);
    assert_eq!(emu.stats().synaptic_events, 0);
    assert_eq!(emu.stats().spikes, 0);
}

#[test]
fn dead_cores_and_links_lose_their_spikes() {
    let p = net();
    let base = run(&p, cfg(1), None, 1500);
    assert!(base.stats().spikes > 0);
    // Core 1 dead: its neurons never spike; inputs still reach core 0, but not core 2 (the
    // tree 0 -> 1 -> 2 passes through core 1).
    let dead = run(&p, cfg(1), faults(FaultMap { dead_cores: vec![1], ..FaultMap::default() }, 0), 1500);
    let f = dead.fault_stats().expect("stats");
    assert_eq!(f.dead_cores, 1);
    assert!(f.lost_spikes.dead_core > 0 && f.lost_spikes.dead_link == 0 && f.lost_spikes.dropped == 0, "{f:?}");
    let spikes_on = |emu: &Emulator, ci: usize| -> usize {
        let r = &emu.recordings().spikes[0];
        let ns = emu.population_neurons("post").expect("pop");
        r.ids.iter().filter(|&&i| ns[i as usize].0 == ci).count()
    };
    assert!(spikes_on(&base, 1) > 0 && spikes_on(&base, 2) > 0);
    assert_eq!(spikes_on(&dead, 1), 0, "a dead core spiked");
    assert_eq!(spikes_on(&dead, 2), 0, "a core behind a dead core still got input");
    assert_eq!(spikes_on(&dead, 0), spikes_on(&base, 0), "core 0 is not behind the dead core");
    // Link 1 -> 2 dead: only core 2 loses its input.
    let map = FaultMap { dead_links: vec![LinkRef { core: 2, dir: Dir::West }], ..FaultMap::default() };
    let cut = run(&p, cfg(1), faults(map, 0), 1500);
    let f = cut.fault_stats().expect("stats");
    assert!(f.lost_spikes.dead_link > 0 && f.lost_spikes.dead_core == 0, "{f:?}");
    assert_eq!(spikes_on(&cut, 2), 0);
    assert_eq!(spikes_on(&cut, 1), spikes_on(&base, 1));
    // Every input packet reaches one axon per core: core 2's share is lost.
    let summary = cut.stats().summary();
    assert!(summary.contains("fault seed 0") && summary.contains("dead link"), "{summary}");
}

#[test]
fn stuck_synapses_hold_and_bit_flips_come_at_their_rate() {
    let p = net();
    let stuck = vec![StuckSynapse { core: 0, synapse: 3, weight: 17 }];
    let map = FaultMap { stuck_fraction: 0.05, stuck, ..FaultMap::default() };
    let emu = run(&p, cfg(1), faults(map, 4), 3000);
    let total: usize = (0..3).map(|ci| emu.stuck_synapses(ci).len()).sum();
    let syn = p.synapse_count() as f64;
    assert!((total as f64 - 0.05 * syn).abs() < 4.0 * (0.05 * 0.95 * syn).sqrt() + 1.0, "{total} of {syn}");
    assert_eq!(emu.fault_stats().map(|f| f.stuck_synapses), Some(total as u64));
    let wr17 = |ci: usize, si: usize| emu.synapse_state(ci).map(|(_, w)| w[si]);
    assert_eq!(wr17(0, 3), Some(17), "the explicit stuck synapse moved");
    for ci in 0..3 {
        let (acc, _) = emu.synapse_state(ci).expect("core");
        for &(si, a) in emu.stuck_synapses(ci) {
            assert_eq!(acc[si as usize], a, "stuck synapse {si} of core index {ci} learned");
        }
    }
    // Bit flips: expected rate x bits x steps.
    let rate = 1e-5;
    let steps = 2000u64;
    let map = FaultMap { bit_flip_rate: rate, ..FaultMap::default() };
    let emu = run(&p, cfg(1), faults(map, 5), steps);
    let bits = syn * f64::from(p.chip.formats.accumulator_bits);
    let expect = rate * bits * steps as f64;
    let got = emu.fault_stats().map_or(0, |f| f.bit_flips) as f64;
    assert!((got - expect).abs() < 4.0 * expect.sqrt(), "{got} flips, expected {expect}");
}

#[test]
fn fault_maps_that_do_not_fit_the_chip_are_refused() {
    let p = net();
    let bad = FaultMap { dead_cores: vec![100_000], ..FaultMap::default() };
    let e = Emulator::with_faults(&p, cfg(1), faults(bad, 0)).unwrap_err();
    assert!(e.to_string().contains("dead_cores[0]"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 8, ..proptest::prelude::ProptestConfig::default() })]

    /// Any fault level, fault seed and checkpoint step: the resumed run equals the whole run.
    #[test]
    fn any_faulty_run_resumes_bit_identically(
        drop in 0.0f64..0.5,
        stuck in 0.0f64..0.1,
        flips in proptest::sample::select(vec![0.0, 1e-6, 1e-5]),
        dead_link in proptest::bool::ANY,
        seed in 0u64..1000,
        split in 1u64..600,
    ) {
        let p = net();
        let mut map = FaultMap { packet_drop: drop, stuck_fraction: stuck, bit_flip_rate: flips, ..FaultMap::default() };
        if dead_link {
            map.dead_links.push(LinkRef { core: 1, dir: Dir::East });
        }
        let whole = run(&p, cfg(1), faults(map.clone(), seed), 600);
        let part = run(&p, cfg(2), faults(map, seed), split);
        let bytes = checkpoint::to_bytes(&part).expect("encodes");
        let mut resumed = checkpoint::from_bytes(&bytes, "mem", Some(1)).expect("decodes");
        resumed.run(600 - split);
        proptest::prop_assert_eq!(fingerprint(&whole), fingerprint(&resumed));
    }
}
