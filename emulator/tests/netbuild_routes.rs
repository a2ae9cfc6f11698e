//! NetBuilder's routing-table minimisation: a network built for a chip whose routing tables are
//! too small for one entry per source core gets its tables minimised by ordered covering within
//! the limit, and runs exactly like the same network with the unminimised tables (spikes, state,
//! packet, hop and cycle counters); CUBA at 64k neurons loads on the board profile.

use nm_emulator::netbuild::{lif_profile, NetBuilder, NeuronRef, Pre};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::neuron::NeuronConfig;
use nm_isa::program::{InputKind, ProbeKind, Program, StateVar, SynKind};
use nm_isa::rng::HwRng;
use nm_isa::ChipSpec;

/// 40 cores spread over the chip, random connections (each core sends to a random third of the
/// others; every fifth core sends nothing), a Poisson input.
fn program(chip: ChipSpec, seed: u64) -> Program {
    let mut r = HwRng::new(seed, 5);
    let mut b = NetBuilder::new(chip, "routes", 1_000_000);
    let mut cores: Vec<(u32, Vec<NeuronRef>, u16)> = Vec::new();
    for c in 0..40u32 {
        let core = (c * 3) % 128;
        let p = b.add_profile(core, lif_profile(400, 200, 2, 0));
        let g = b.add_group(core, 0, SynKind::Current, None, 0);
        let ns = (0..6)
            .map(|_| {
                b.add_neuron(
                    core,
                    NeuronConfig { profile: p, bias: 30, v_th: 1200, v_init: (r.next_u32() % 900) as i32 },
                )
            })
            .collect();
        cores.push((core, ns, g));
    }
    let inp = b.add_input("in", 4, InputKind::Poisson { p_q32: vec![(0.05 * 4_294_967_296.0) as u32; 4] }, 0);
    let mut all = Vec::new();
    for (k, (_, pres, _)) in cores.iter().enumerate() {
        all.extend(pres.iter().copied());
        if k % 5 == 4 {
            continue; // silent core
        }
        for (_, posts, g) in &cores {
            if r.next_u32().is_multiple_of(3) {
                for &pre in pres {
                    let post = posts[(r.next_u32() % posts.len() as u32) as usize];
                    b.connect(
                        Pre::Neuron(pre),
                        post,
                        nm_emulator::netbuild::acc_of_weight(&nm_isa::ChipSpec::default_profile(), 60),
                        1 + (r.next_u32() % 3) as u8,
                        *g,
                    );
                }
            }
        }
    }
    for (_, posts, g) in &cores {
        b.connect(
            Pre::Input(inp, r.next_u32() % 4),
            posts[0],
            nm_emulator::netbuild::acc_of_weight(&nm_isa::ChipSpec::default_profile(), 120),
            1,
            *g,
        );
    }
    let pop = b.add_population("all", nm_isa::neuron::NeuronKind::Lif, &all);
    b.probe("spikes", ProbeKind::Spikes { pop }, 1);
    b.probe("v", ProbeKind::State { pop, var: StateVar::V }, 5);
    b.build()
}

fn fingerprint(emu: &Emulator) -> String {
    let mut st = emu.stats();
    st.wall_time_s = 0.0;
    st.emulator_realtime_factor = 0.0;
    format!("{:?}|{:?}|{:?}", emu.recordings(), st, emu.step_cycles())
}

fn max_entries(p: &Program) -> usize {
    p.routes.iter().map(|t| t.entries.len()).max().unwrap_or(0)
}

#[test]
fn minimised_tables_run_exactly_like_the_full_ones() {
    let full = program(ChipSpec::default_profile(), 11);
    let full_max = max_entries(&full);
    assert!(full_max > 12, "{full_max}");
    let mut small_chip = ChipSpec::default_profile();
    small_chip.core.max_route_entries = (full_max * 2 / 3) as u32;
    let small = program(small_chip.clone(), 11);
    assert!(max_entries(&small) <= full_max * 2 / 3, "{} > {}", max_entries(&small), full_max * 2 / 3);
    assert_ne!(small.routes, full.routes);
    assert_eq!(small.cores, full.cores);
    let cfg = RunConfig { chip_seed: 1, noise_seed: 3, ideal: false, threads: 1, seed: None };
    let mut a = Emulator::new(&full, cfg).expect("full loads");
    let mut b = Emulator::new(&small, cfg).expect("minimised loads");
    a.run(400);
    b.run(400);
    assert!(a.stats().spikes > 50, "{}", a.stats().spikes);
    assert_eq!(fingerprint(&a), fingerprint(&b));
}

/// Every source of `p` resolved with the router reusing the walk of the previous key of the same
/// tree, and with every key walking its own: the same fan-out table and drop count.
fn reused_walks_equal_own_walks(p: &Program) -> usize {
    let costs = nm_emulator::timing::CostTable::new(&p.chip);
    let resolve = |reuse: bool| {
        let mut router = nm_emulator::route::Router::new(p, costs);
        router.reuse_walks = reuse;
        let mut fan = nm_emulator::route::FanoutTable::default();
        for c in &p.cores {
            for i in 0..c.neurons.len() as u32 {
                router.resolve(c.id, c.key_base.wrapping_add(i), &mut fan).expect("resolves");
            }
        }
        for src in &p.inputs {
            for ch in 0..src.channels {
                router.resolve(src.inject_core, src.key_base.wrapping_add(ch), &mut fan).expect("resolves");
            }
        }
        (fan, router.dropped)
    };
    let (a, b) = (resolve(true), resolve(false));
    // The reused walks share their router and link lists between the keys of a tree.
    assert!(a.0.links.len() <= b.0.links.len() && a.0.routers.len() <= b.0.routers.len());
    assert_eq!(b.0.unshared(), b.0, "a table without reuse shares nothing");
    assert_eq!((a.0.unshared(), a.1), (b.0.clone(), b.1));
    // So does the packed form of the router lists.
    let (mut pa, mut pb) = (a.0.clone(), b.0.clone());
    pa.pack_router_bits();
    pb.pack_router_bits();
    assert!(pa.rbits.len() + pa.routers.len() <= pb.rbits.len() + pb.routers.len());
    assert_eq!(pa.unshared(), pb);
    a.0.dest_core.len()
}

/// The router reuses a walk for the next key of the same tree (keys that agree on every table's
/// care bits), reads each router's match from its lookup memo and each key's deliveries from
/// the tree's block index: the fan-out equals every key's own walk over the tables, with the
/// full tables (one entry per source core, so a core's keys share a tree), with minimised ones
/// (entries that also care about neuron bits), with axon maps of other shapes, and on CUBA at
/// 4k and 16k neurons.
#[test]
fn reused_walks_equal_every_keys_own_walk() {
    let full = program(ChipSpec::default_profile(), 11);
    let mut small_chip = ChipSpec::default_profile();
    small_chip.core.max_route_entries = (max_entries(&full) * 2 / 3) as u32;
    let small = program(small_chip, 11);
    let cuba = nm_emulator::bench::cuba(nm_emulator::bench::Cuba { n: 4000, fan_in: 80, seed: 1, steps: 10 });
    // One key of a sending core stopped at its source router by a more specific entry: the
    // tables now care about neuron bits, and that key's tree differs from its neighbours'.
    let mut odd = full.clone();
    let c = odd.cores.iter().find(|c| c.neurons.len() >= 4).expect("a core").clone();
    let t = odd.routes.iter_mut().find(|t| t.core == c.id).expect("its table");
    t.entries
        .insert(0, nm_isa::program::RouteEntry { key: c.key_base + 2, mask: u32::MAX, dirs: nm_isa::program::Dirs(0) });
    // Axon maps of other shapes than one entry per sending core: on some cores an entry split in
    // two, one reaching past the keys its source sends, one starting below a block and ending
    // inside it, and one core whose entries overlap (looked up by a scan in program order).
    let mut shapes = full.clone();
    let mut split = 0;
    for (ci, c) in shapes.cores.iter_mut().enumerate() {
        let Some(e) = c.axon_map.iter().position(|m| m.count >= 3) else { continue };
        let m = c.axon_map[e];
        match ci % 4 {
            0 => {
                c.axon_map[e].count = 1;
                c.axon_map.push(nm_isa::program::AxonMapEntry {
                    key_base: m.key_base + 2,
                    count: m.count - 2,
                    axon_base: m.axon_base + 2,
                });
                split += 1;
            }
            1 => c.axon_map[e].count = m.count + 7,
            2 if m.key_base > 0 && m.axon_base > 0 => {
                c.axon_map[e] = nm_isa::program::AxonMapEntry {
                    key_base: m.key_base - 1,
                    count: m.count,
                    axon_base: m.axon_base - 1,
                };
            }
            _ => c.axon_map.push(nm_isa::program::AxonMapEntry { key_base: m.key_base + 1, count: 1, axon_base: 0 }),
        }
    }
    assert!(split > 3, "{split}");
    let cuba16 = nm_emulator::bench::cuba(nm_emulator::bench::Cuba { n: 16000, fan_in: 80, seed: 1, steps: 10 });
    for p in [&full, &small, &cuba, &odd, &shapes, &cuba16] {
        assert!(reused_walks_equal_own_walks(p) > 100);
    }
    // CUBA's keys of a core take one tree: its lists are stored once per core, not per key.
    let shared = |reuse: bool| {
        let costs = nm_emulator::timing::CostTable::new(&cuba.chip);
        let mut router = nm_emulator::route::Router::new(&cuba, costs);
        router.reuse_walks = reuse;
        let mut fan = nm_emulator::route::FanoutTable::default();
        for c in &cuba.cores {
            for i in 0..c.neurons.len() as u32 {
                router.resolve(c.id, c.key_base.wrapping_add(i), &mut fan).expect("resolves");
            }
        }
        fan.links.len() + fan.routers.len()
    };
    let (with, without) = (shared(true), shared(false));
    assert!(with * 10 < without, "lists of {with} entries with reuse against {without} without");
}

#[test]
fn cuba_64k_loads_on_the_board() {
    let p = nm_emulator::bench::cuba(nm_emulator::bench::Cuba { n: 64000, fan_in: 80, seed: 1, steps: 10 });
    assert_eq!(p.chip.name, "board");
    assert_eq!(p.chip.core.max_route_entries, 1024);
    assert!(max_entries(&p) <= 1024, "{}", max_entries(&p));
    p.validate().expect("valid program");
}
