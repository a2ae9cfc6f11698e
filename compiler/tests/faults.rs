//! Mapping around faults: over random networks and random fault maps, a program compiled with a
//! fault map places nothing on a dead core, no packet of its routes touches a dead core or
//! crosses a dead link, and every synapse still receives its pre-synaptic packets; an empty
//! fault map changes nothing; `nmc compile --faults` applies the map and explains bad ones.

use nm_compiler::ir::{Connectivity, Endpoint, InputKind, InputSource, Ir, NeuronParams, Syn};
use nm_compiler::passes::{compile_ir, CompileOptions};
use nm_isa::faults::{neighbour, Dir, FaultMap, LinkRef};
use nm_isa::program::{Dirs, Program, SynKind};
use nm_isa::ChipSpec;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// A 4 x 4 mesh of small cores (tight, so networks spread over several cores).
fn mesh4() -> ChipSpec {
    let mut s = ChipSpec::small_profile();
    s.name = "mesh4".into();
    s.mesh.width = 4;
    s.mesh.height = 4;
    s.core.max_neurons = 64;
    s.core.synapse_memory_bits = 1 << 16;
    s
}

/// Populations of `sizes`, an optional input, random projections `(pre, post, density, seed)`
/// (`pre == sizes.len()` is the input).
fn build(sizes: &[u32], input: Option<u32>, projs: &[(usize, usize, f64, u64)]) -> Ir {
    let mut ir = Ir::new("random");
    let pops: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| ir.add_lif(&format!("p{k}"), n, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop"))
        .collect();
    let inp = input.map(|c| {
        ir.add_input(InputSource {
            name: "in".into(),
            channels: c,
            kind: InputKind::Poisson { p: vec![0.05; c as usize] },
            gate: None,
            rate: None,
            key_base: None,
            inject_core: None,
        })
        .expect("input")
    });
    for (k, &(pre, post, p, seed)) in projs.iter().enumerate() {
        let pre = match (pre < pops.len(), inp) {
            (true, _) => Endpoint::Pop(pops[pre]),
            (false, Some(i)) => Endpoint::Input(i),
            (false, None) => Endpoint::Pop(pops[0]),
        };
        let (ps, qs) = (ir.endpoint_size(pre), ir.pop(pops[post]).size);
        let conn = Connectivity::fixed_probability(ps, qs, p, seed, 1.0, 1).expect("conn");
        let syns: Vec<Syn> = conn.iter().map(|s| Syn { weight: 0.5, delay: 1, ..s }).collect();
        let conn = Connectivity::from_synapses(ps, qs, syns).expect("conn");
        ir.add_projection(&format!("j{k}"), pre, pops[post], conn, SynKind::Current, None, false).expect("proj");
    }
    ir
}

/// Cores a packet with `key` injected at `src` is delivered to, following `program.rs` routing.
fn reached(p: &Program, src: u32, key: u32) -> BTreeSet<u32> {
    let mut got = BTreeSet::new();
    let mut stack: Vec<(u32, u8)> = vec![(src, 0)];
    let mut visits = 0;
    while let Some((at, travel)) = stack.pop() {
        visits += 1;
        assert!(visits < 10_000, "routing loop for key {key:#x}");
        let entry =
            p.routes.iter().find(|t| t.core.0 == at).and_then(|t| t.entries.iter().find(|e| key & e.mask == e.key));
        let dirs = match (entry, travel) {
            (Some(e), _) => e.dirs.0,
            (None, 0) => continue,
            (None, t) => t,
        };
        if dirs & Dirs::LOCAL.0 != 0 {
            got.insert(at);
        }
        for d in Dir::ALL {
            if dirs & d.bit().0 != 0 {
                let n = neighbour(&p.chip, at, d).expect("a route leaves the system");
                stack.push((n, d.bit().0));
            }
        }
    }
    got
}

/// Every (source key → core with synapses for it) pair must be delivered.
fn check_delivery(p: &Program) -> Result<(), String> {
    let mut src_of: HashMap<u32, u32> = HashMap::new();
    for c in &p.cores {
        for i in 0..c.neurons.len() as u32 {
            src_of.insert(c.key_base + i, c.id.0);
        }
    }
    for inp in &p.inputs {
        for ch in 0..inp.channels {
            src_of.insert(inp.key_base + ch, inp.inject_core.0);
        }
    }
    for c in &p.cores {
        for m in &c.axon_map {
            for q in 0..m.count {
                let key = m.key_base + q;
                if c.axons[(m.axon_base + q) as usize].count == 0 {
                    continue;
                }
                let src = *src_of.get(&key).ok_or(format!("key {key:#x} has no source"))?;
                if !reached(p, src, key).contains(&c.id.0) {
                    return Err(format!("key {key:#x} from core{src} does not reach core{}", c.id.0));
                }
            }
        }
    }
    Ok(())
}

fn fault_strategy() -> impl Strategy<Value = FaultMap> {
    let spec = mesh4();
    let n = spec.total_cores();
    (prop::collection::btree_set(0..n, 0..4), prop::collection::btree_set((0..n, 0usize..4), 0..7)).prop_map(
        move |(dead, links)| {
            let mut seen = BTreeSet::new();
            let dead_links = links
                .into_iter()
                .map(|(core, d)| LinkRef { core, dir: Dir::ALL[d] })
                .filter(|l| l.canonical(&spec).is_some_and(|c| seen.insert(c)))
                .collect();
            FaultMap { dead_cores: dead.into_iter().collect(), dead_links, ..FaultMap::default() }
        },
    )
}

/// Projections `(pre, post, density, seed)`.
type Projs = Vec<(usize, usize, f64, u64)>;

fn net_strategy() -> impl Strategy<Value = (Vec<u32>, Option<u32>, Projs)> {
    (prop::collection::vec(1u32..150, 1..4), prop::option::of(1u32..40)).prop_flat_map(|(sizes, input)| {
        let n = sizes.len();
        let proj = (0..n + 1, 0..n, 0.01f64..0.2, any::<u64>());
        (Just(sizes), Just(input), prop::collection::vec(proj, 1..5))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The acceptance property: no route of a program compiled with a fault map uses a dead
    /// core or link, nothing is placed on a dead core, and every synapse is still reached.
    #[test]
    fn compiled_programs_never_touch_dead_parts((sizes, input, projs) in net_strategy(), faults in fault_strategy()) {
        let ir = build(&sizes, input, &projs);
        let mut opts = CompileOptions::new(mesh4());
        opts.verify = true;
        opts.faults = Some(faults.clone());
        match compile_ir(ir, &opts) {
            Ok((program, _)) => {
                let bad = faults.route_violations(&program, 10);
                prop_assert!(bad.is_empty(), "{bad:?}");
                for c in &program.cores {
                    prop_assert!(c.neurons.is_empty() || !faults.dead_cores.contains(&c.id.0), "work on dead core{}", c.id.0);
                }
                for inp in &program.inputs {
                    prop_assert!(!faults.dead_cores.contains(&inp.inject_core.0));
                }
                check_delivery(&program).map_err(TestCaseError::fail)?;
            }
            // Only a shortage of live cores may refuse the network, and it must say so.
            Err(e) => prop_assert!(e.to_string().contains("dead"), "unexplained refusal: {e}"),
        }
    }
}

#[test]
fn an_empty_fault_map_changes_nothing_and_dead_parts_are_avoided() {
    let ir = build(&[120, 100, 60], Some(20), &[(3, 0, 0.2, 1), (0, 1, 0.1, 2), (1, 2, 0.1, 3), (2, 0, 0.1, 4)]);
    let plain = compile_ir(ir.clone(), &CompileOptions::new(mesh4())).expect("compiles").0;
    let mut opts = CompileOptions::new(mesh4());
    opts.faults = Some(FaultMap::default());
    assert_eq!(compile_ir(ir.clone(), &opts).expect("compiles").0, plain);
    // Kill every core the plain program uses and the links of the first live one.
    let used: Vec<u32> = plain.cores.iter().filter(|c| !c.neurons.is_empty()).map(|c| c.id.0).collect();
    let faults = FaultMap {
        dead_cores: used.clone(),
        dead_links: vec![LinkRef { core: 5, dir: Dir::East }, LinkRef { core: 6, dir: Dir::North }],
        ..FaultMap::default()
    };
    // The check sees the plain program's use of those cores, and of a link its routes take.
    assert!(faults.route_violations(&plain, 10).iter().any(|v| v.contains("placed on dead core")));
    let (core, dir) = plain
        .routes
        .iter()
        .find_map(|t| {
            let e = t.entries.iter().find(|e| e.dirs.0 & !Dirs::LOCAL.0 != 0)?;
            Some((t.core.0, Dir::ALL.into_iter().find(|d| e.dirs.0 & d.bit().0 != 0)?))
        })
        .expect("the plain program routes between cores");
    let one_link = FaultMap { dead_links: vec![LinkRef { core, dir }], ..FaultMap::default() };
    let v = one_link.route_violations(&plain, 10);
    assert!(v.iter().any(|v| v.contains("crosses dead link")), "{v:?}");
    opts.faults = Some(faults.clone());
    let moved = compile_ir(ir.clone(), &opts).expect("compiles around the faults").0;
    assert!(moved.cores.iter().all(|c| c.neurons.is_empty() || !used.contains(&c.id.0)));
    assert!(faults.route_violations(&moved, 10).is_empty());
    check_delivery(&moved).expect("delivers");
    // Around the one dead link only.
    opts.faults = Some(one_link.clone());
    let around = compile_ir(ir, &opts).expect("compiles around the link").0;
    assert!(one_link.route_violations(&around, 10).is_empty());
    check_delivery(&around).expect("delivers");
}

#[test]
fn too_few_live_cores_is_explained() {
    let ir = build(&[64, 64, 64], None, &[(0, 1, 0.1, 1), (1, 2, 0.1, 2)]);
    let mut opts = CompileOptions::new(mesh4());
    // Everything but two cores is dead: three full cores cannot fit.
    opts.faults = Some(FaultMap { dead_cores: (2..16).collect(), ..FaultMap::default() });
    let e = compile_ir(ir, &opts).unwrap_err().to_string();
    assert!(e.contains("does not fit") && e.contains("14 cores are dead"), "{e}");
    // A fault map that does not fit the chip names its field.
    let mut opts = CompileOptions::new(mesh4());
    opts.faults = Some(FaultMap { dead_cores: vec![99], ..FaultMap::default() });
    let e = compile_ir(build(&[4], None, &[]), &opts).unwrap_err().to_string();
    assert!(e.contains("dead_cores[0]"), "{e}");
}

#[test]
fn trees_detour_around_dead_links_and_cores() {
    use nm_compiler::map::Grid;
    use nm_compiler::route::{
        check_delivery as tables_deliver, compress, fault_aware_entries, uncompressed_tables, Source,
    };
    let spec = mesh4();
    let grid = Grid::new(&spec);
    // Row 0 is cores 0..4; the XY route 0 -> 3 crosses link 1-2 and core 2's router... kill both
    // a link on the way and a router, and a second source whose XY tree is fault-free.
    let faults =
        FaultMap { dead_cores: vec![2], dead_links: vec![LinkRef { core: 4, dir: Dir::East }], ..FaultMap::default() };
    let idx = faults.index(&spec);
    let srcs = vec![
        Source { key: 0, mask: !3, src: 0, dests: vec![3, 6, 15] },
        Source { key: 64, mask: !0, src: 12, dests: vec![13] },
    ];
    let raw = fault_aware_entries(&grid, &spec, &idx, &srcs).expect("routes around");
    for r in &raw {
        assert!(!idx.core_dead(r.core), "tree passes core{}", r.core);
        for d in Dir::ALL {
            assert!(r.entry.dirs.0 & d.bit().0 == 0 || !idx.link_dead(&spec, r.core, d), "tree crosses a dead link");
        }
    }
    tables_deliver(&grid, &uncompressed_tables(&raw), &srcs).expect("uncompressed delivers");
    tables_deliver(&grid, &compress(&raw, &srcs), &srcs).expect("compressed delivers");
    // A destination walled in by dead links: the error names both ends and why.
    let walled = FaultMap {
        dead_links: vec![
            LinkRef { core: 5, dir: Dir::North },
            LinkRef { core: 5, dir: Dir::South },
            LinkRef { core: 5, dir: Dir::East },
            LinkRef { core: 5, dir: Dir::West },
        ],
        ..FaultMap::default()
    };
    let e =
        fault_aware_entries(&grid, &spec, &walled.index(&spec), &[Source { key: 0, mask: !0, src: 0, dests: vec![5] }])
            .unwrap_err()
            .to_string();
    assert!(e.contains("core0") && e.contains("core5") && e.contains("every link"), "{e}");
}

fn nmc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nmc")).args(args).output().expect("nmc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn nmc_compile_with_a_fault_file() {
    let dir = std::env::temp_dir().join(format!("nmc-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../programs/stdp_select.nm");
    let plain = dir.join("plain.bin");
    let (code, _, err) = nmc(&["compile", src, "-o", plain.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    let p = nm_isa::binary::read_program(&plain).expect("reads");
    let used: Vec<u32> = p.cores.iter().map(|c| c.id.0).collect();
    let ftoml = dir.join("faults.toml");
    std::fs::write(&ftoml, format!("dead_cores = {used:?}\n")).expect("write");
    let out = dir.join("moved.bin");
    let (code, _, err) =
        nmc(&["compile", src, "-o", out.to_str().expect("utf8"), "--faults", ftoml.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("fault map: {} dead cores", used.len())), "{err}");
    let q = nm_isa::binary::read_program(&out).expect("reads");
    assert!(q.cores.iter().all(|c| !used.contains(&c.id.0)), "work stayed on a dead core");
    assert!(q.inputs.iter().all(|i| !used.contains(&i.inject_core.0)));
    std::fs::write(&ftoml, "packet_drop = 2.0\n").expect("write");
    let (code, _, err) =
        nmc(&["compile", src, "-o", out.to_str().expect("utf8"), "--faults", ftoml.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    assert!(err.contains("packet_drop"), "{err}");
    let (code, _, err) = nmc(&["compile", src, "--faults", "/nonexistent/faults.toml"]);
    assert_eq!(code, 2, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
