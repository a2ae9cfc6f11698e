//! Back-end properties over random networks (limits, every synapse exactly once, routing
//! equivalence, determinism), golden IR text after each pass, and the explanatory errors.

use nm_compiler::codegen::{generate, limit_problems};
use nm_compiler::ir::{
    print_ir, verify, CompileError, Connectivity, Endpoint, InputKind, InputSource, Ir, NeuronParams, Syn, Values,
};
use nm_compiler::map::Grid;
use nm_compiler::passes::{compile_ir, run_passes, CompileOptions, PASSES};
use nm_compiler::quant::mantissa;
use nm_compiler::route::{check_delivery, compress, key_shift, sources, uncompressed_tables, xy_entries};
use nm_isa::fixed_point::accumulator_frac_bits;
use nm_isa::program::{Program, SynKind};
use nm_isa::ChipSpec;
use proptest::prelude::*;
use std::collections::HashMap;

/// A random network description (kept small so that it fits the `small` profile).
#[derive(Clone, Debug)]
struct NetSpec {
    sizes: Vec<u32>,
    input: Option<u32>,
    /// (pre: index into pops, or pops.len() for the input; post; density in 0..1; seed)
    projs: Vec<(usize, usize, f64, u64)>,
}

fn net_strategy() -> impl Strategy<Value = NetSpec> {
    (prop::collection::vec(1u32..220, 1..4), prop::option::of(1u32..64)).prop_flat_map(|(sizes, input)| {
        let n = sizes.len();
        let pres = n + usize::from(input.is_some());
        let proj = (0..pres, 0..n, 0.0f64..0.15, any::<u64>());
        (Just(sizes), Just(input), prop::collection::vec(proj, 0..5)).prop_map(|(sizes, input, projs)| NetSpec {
            sizes,
            input,
            projs,
        })
    })
}

fn build(spec: &NetSpec, chip: &ChipSpec) -> Ir {
    let mut ir = Ir::new("random");
    let pops: Vec<_> = spec
        .sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| ir.add_lif(&format!("p{k}"), n, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop"))
        .collect();
    let input = spec.input.map(|c| {
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
    let max_delay = chip.core.max_delay.min(255) as u64;
    for (k, &(pre, post, p, seed)) in spec.projs.iter().enumerate() {
        let pre = if pre < pops.len() { Endpoint::Pop(pops[pre]) } else { Endpoint::Input(input.expect("input")) };
        let post_pop = pops[post];
        let (ps, qs) = (ir.endpoint_size(pre), ir.pop(post_pop).size);
        let mut conn = Connectivity::fixed_probability(ps, qs, p, seed, 1.0, 1).expect("conn");
        // Per-synapse weights in ±[0.25, 1] and delays 1..=max_delay, from the seed.
        let syns: Vec<Syn> = conn
            .iter()
            .map(|s| {
                let h = (u64::from(s.pre) * 7919 + u64::from(s.post) * 104_729 + seed) % 1000;
                let mag = 0.25 + 0.75 * (h as f64 / 1000.0);
                let weight = if h % 3 == 0 { -mag } else { mag };
                Syn { weight, delay: (1 + h % max_delay) as u8, ..s }
            })
            .collect();
        conn = Connectivity::from_synapses(ps, qs, syns).expect("conn");
        ir.add_projection(&format!("j{k}"), pre, post_pop, conn, SynKind::Current, None, false).expect("proj");
    }
    ir
}

fn small_multichip() -> ChipSpec {
    let mut s = ChipSpec::small_profile();
    s.name = "small2x2".into();
    s.system.chips_x = 2;
    s.system.chips_y = 2;
    s
}

type SynTuple = (u32, Endpoint, u32, u32, i32, u8);

/// Every synapse of the program as (proj, pre endpoint, pre index, post index, mantissa, delay).
fn decode(prog: &Program, ir: &Ir) -> Vec<SynTuple> {
    let spec = &prog.chip;
    let shift = key_shift(spec);
    let frac = accumulator_frac_bits(spec.formats.accumulator_bits, spec.formats.weight_bits);
    let mut by_key: HashMap<u32, (Endpoint, u32)> = HashMap::new();
    let mut local: HashMap<(u32, u32), (u32, u32)> = HashMap::new();
    for (p, info) in prog.symbols.populations.iter().enumerate() {
        for s in &info.slices {
            for i in 0..s.len {
                by_key.insert(
                    (s.core.0 << shift) + s.first + i,
                    (Endpoint::Pop(nm_compiler::ir::PopId(p as u32)), s.offset + i),
                );
                local.insert((s.core.0, s.first + i), (p as u32, s.offset + i));
            }
        }
    }
    for (k, inp) in prog.inputs.iter().enumerate() {
        for c in 0..inp.channels {
            by_key.insert(inp.key_base + c, (Endpoint::Input(nm_compiler::ir::InputId(k as u32)), c));
        }
    }
    let mut out = Vec::new();
    for core in &prog.cores {
        for m in &core.axon_map {
            for q in 0..m.count {
                let (pre_e, pre_i) = by_key[&(m.key_base + q)];
                let axon = core.axons[(m.axon_base + q) as usize];
                for s in &core.synapses[axon.first as usize..(axon.first + axon.count) as usize] {
                    let g = core.groups[usize::from(s.group)];
                    let (pop, post) = local[&(core.id.0, s.target)];
                    let proj = ir.proj(nm_compiler::ir::ProjId(g.proj.0));
                    assert_eq!(proj.pre, pre_e, "synapse key belongs to the projection's pre side");
                    assert_eq!(proj.post.0, pop, "synapse target belongs to the projection's post population");
                    assert_eq!(s.acc & ((1 << frac) - 1), 0, "static weight sits in accumulator position");
                    out.push((g.proj.0, pre_e, pre_i, post, s.acc >> frac, s.delay));
                }
            }
        }
        let mapped: u32 = core.axon_map.iter().map(|m| m.count).sum();
        assert_eq!(mapped as usize, core.axons.len(), "every axon is mapped once");
        let covered: u32 = core.axons.iter().map(|a| a.count).sum();
        assert_eq!(covered as usize, core.synapses.len(), "axons cover the synapses");
    }
    out.sort_by_key(|t| (t.0, t.2, t.3, t.4, t.5));
    out
}

fn expected(ir: &Ir, spec: &ChipSpec) -> Vec<SynTuple> {
    let mut out = Vec::new();
    for j in ir.proj_ids() {
        let pj = ir.proj(j);
        let q = pj.quant.as_ref().expect("quantized");
        for s in pj.conn.iter() {
            let m = mantissa(s.weight, q.scale, spec.weight_max());
            assert!((f64::from(m) / q.scale - s.weight).abs() <= 0.5 / q.scale + 1e-12, "rounding to nearest");
            out.push((j.0, pj.pre, s.pre, s.post, m, s.delay));
        }
    }
    out.sort_by_key(|t| (t.0, t.2, t.3, t.4, t.5));
    out
}

fn check_network(net: &NetSpec, chip: &ChipSpec) -> Result<(), TestCaseError> {
    let ir = build(net, chip);
    let mut opts = CompileOptions::new(chip.clone());
    opts.verify = true;
    let done = match run_passes(ir.clone(), &opts, None) {
        Ok(d) => d,
        Err(CompileError::DoesNotFit { .. }) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
    };
    let prog = generate(&done, chip).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let problems = limit_problems(&prog);
    prop_assert!(problems.is_empty(), "{problems:?}");
    prop_assert_eq!(prog.synapse_count(), ir.synapse_count());
    prop_assert_eq!(decode(&prog, &done), expected(&done, chip));
    // Routing: uncompressed and compressed tables deliver every key to exactly its destinations.
    let grid = Grid::new(chip);
    let srcs = sources(&done, chip);
    let raw = xy_entries(&grid, &srcs);
    check_delivery(&grid, &uncompressed_tables(&raw), &srcs).map_err(TestCaseError::fail)?;
    check_delivery(&grid, &compress(&raw), &srcs).map_err(TestCaseError::fail)?;
    prop_assert_eq!(Some(&compress(&raw)), done.routes.as_ref());
    // Every synapse's key reaches the core holding it.
    for core in &prog.cores {
        for m in &core.axon_map {
            for q in 0..m.count {
                let key = m.key_base + q;
                let s = srcs.iter().find(|s| key & s.mask == s.key).expect("routed key");
                prop_assert!(s.dests.contains(&core.id.0), "key {key:#x} not routed to {}", core.id);
            }
        }
    }
    // Determinism.
    let again = generate(&run_passes(ir, &opts, None).expect("second run"), chip).expect("codegen");
    prop_assert!(again == prog, "same input and seed give the same program");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_networks_default(net in net_strategy()) {
        check_network(&net, &ChipSpec::default_profile())?;
    }

    #[test]
    fn random_networks_small(net in net_strategy()) {
        check_network(&net, &ChipSpec::small_profile())?;
    }

    #[test]
    fn random_networks_small_multichip(net in net_strategy()) {
        check_network(&net, &small_multichip())?;
    }
}

#[test]
fn big_network_spans_chips_of_the_multichip_system() {
    let net = NetSpec {
        sizes: vec![250, 250, 250, 250, 250, 250],
        input: Some(10),
        projs: vec![
            (0, 1, 0.05, 1),
            (1, 2, 0.05, 2),
            (2, 3, 0.05, 3),
            (3, 4, 0.05, 4),
            (4, 5, 0.05, 5),
            (6, 0, 0.1, 6),
        ],
    };
    let chip = small_multichip();
    check_network(&net, &chip).expect("compiles and checks");
    let (prog, report) = compile_ir(build(&net, &chip), &CompileOptions::new(chip)).expect("compiles");
    let chips: std::collections::BTreeSet<u32> = prog.cores.iter().map(|c| c.id.0 / 4).collect();
    assert!(chips.len() >= 2, "6 x 250 neurons need more than one 4-core chip");
    assert!(report.to_json().contains("\"quantization\""));
}

fn one_core_net(synapses: u32) -> Ir {
    let mut ir = Ir::new("one_core");
    let inp = ir
        .add_input(InputSource {
            name: "in".into(),
            channels: 100,
            kind: InputKind::Poisson { p: vec![0.01; 100] },
            gate: None,
            rate: None,
            key_base: None,
            inject_core: None,
        })
        .expect("input");
    let p = ir.add_lif("big", 1, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop");
    let syns = (0..synapses).map(|k| Syn { pre: k % 100, post: 0, weight: 0.5, delay: 1 }).collect();
    let conn = Connectivity::from_synapses(100, 1, syns).expect("conn");
    ir.add_projection("fan", Endpoint::Input(inp), p, conn, SynKind::Current, None, false).expect("proj");
    ir
}

#[test]
fn one_synapse_too_many_is_explained() {
    for chip in [ChipSpec::default_profile(), ChipSpec::small_profile()] {
        let max = chip.max_synapses_per_core() as u32;
        let opts = CompileOptions::new(chip.clone());
        let (prog, _) = compile_ir(one_core_net(max), &opts).expect("exactly full core compiles");
        assert_eq!(prog.synapse_count(), u64::from(max));
        let err = compile_ir(one_core_net(max + 1), &opts).expect_err("one more synapse does not fit");
        let CompileError::DoesNotFit { limit, place, needed, available, hint } = &err else {
            panic!("wrong error {err}");
        };
        assert_eq!(*limit, "synapse memory");
        assert!(place.contains("`big` neuron 0"), "{place}");
        assert_eq!(*needed, u64::from(max + 1) * chip.synapse_bits());
        assert_eq!(*available, chip.core.synapse_memory_bits);
        assert!(hint.contains("fan-in") && hint.contains("synapse memory"), "{hint}");
        let text = err.to_string();
        assert!(text.contains(&needed.to_string()) && text.contains(&available.to_string()), "{text}");
    }
}

#[test]
fn too_many_neurons_for_the_system_names_a_bigger_profile() {
    let mut ir = Ir::new("huge");
    ir.add_lif("many", 2000, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop");
    let err = compile_ir(ir, &CompileOptions::new(ChipSpec::small_profile())).expect_err("4 x 256 < 2000");
    let text = err.to_string();
    assert!(text.contains("neurons") && text.contains("2000") && text.contains("1024"), "{text}");
    assert!(text.contains("profile `default`"), "{text}");
}

#[test]
fn zeroed_weights_are_an_error_unless_allowed() {
    let build = |allow: bool| {
        let mut ir = Ir::new("zero");
        let a = ir.add_lif("a", 2, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop");
        let syns =
            vec![Syn { pre: 0, post: 0, weight: 1.0, delay: 1 }, Syn { pre: 1, post: 1, weight: 1e-4, delay: 1 }];
        let conn = Connectivity::from_synapses(2, 2, syns).expect("conn");
        ir.add_projection("w", Endpoint::Pop(a), a, conn, SynKind::Current, None, allow).expect("proj");
        ir
    };
    let opts = CompileOptions::new(ChipSpec::small_profile());
    let err = compile_ir(build(false), &opts).expect_err("1e-4 of the largest weight rounds to zero");
    assert!(err.to_string().contains("1 non-zero weights round to zero"), "{err}");
    let (_, report) = compile_ir(build(true), &opts).expect("allowed");
    assert_eq!(report.quantization[0].zeroed, 1);
}

#[test]
fn verifier_names_the_broken_node() {
    let mut ir = one_core_net(10);
    let j = ir.proj_ids().next().expect("proj");
    ir.proj_mut(j).conn.delay = Values::Const(0);
    let problems = verify(&ir, &ChipSpec::default_profile());
    assert!(problems.iter().any(|p| p.contains("j0 `fan`") && p.contains("delay 0")), "{problems:?}");
    let mut opts = CompileOptions::new(ChipSpec::default_profile());
    opts.verify = true;
    assert!(matches!(compile_ir(ir, &opts), Err(CompileError::Verify { .. })));
}

#[test]
fn unknown_pass_is_refused() {
    let opts = CompileOptions::new(ChipSpec::default_profile());
    let err = run_passes(one_core_net(3), &opts, Some("nope")).expect_err("unknown");
    assert!(err.to_string().contains("partition, place, keys, route, quantize"), "{err}");
}

/// Golden IR text after each pass; refresh with `NM_BLESS=1`.
#[test]
fn golden_ir_after_each_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("NM_BLESS").is_some();
    let net =
        NetSpec { sizes: vec![300, 40], input: Some(8), projs: vec![(0, 1, 0.1, 5), (1, 0, 0.2, 6), (2, 0, 0.5, 7)] };
    let chip = ChipSpec::small_profile();
    let mut opts = CompileOptions::new(chip.clone());
    opts.verify = true;
    let mut failures = Vec::new();
    for (name, _) in PASSES {
        let text = print_ir(&run_passes(build(&net, &chip), &opts, Some(name)).expect("passes"));
        let path = dir.join(format!("ir_after_{name}.txt"));
        if bless {
            std::fs::create_dir_all(&dir).expect("golden dir");
            std::fs::write(&path, &text).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != text {
            failures.push(format!("{}:\n--- expected\n{want}\n+++ got\n{text}", path.display()));
        }
    }
    assert!(failures.is_empty(), "golden mismatch (NM_BLESS=1 to refresh):\n{}", failures.join("\n"));
}
