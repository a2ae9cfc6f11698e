//! Back-end properties over random networks (limits, every synapse exactly once, routing
//! equivalence, determinism), golden IR text after each pass, and the explanatory errors.

use nm_compiler::codegen::{generate, limit_problems};
use nm_compiler::ir::{
    print_ir, verify, CompileError, Connectivity, Endpoint, InputKind, InputSource, Ir, NeuronParams, Syn, Values,
};
use nm_compiler::map::Grid;
use nm_compiler::passes::{compile_ir, run_passes, CompileOptions, PASSES};
use nm_compiler::quant::mantissa;
use nm_compiler::route::{
    check_delivery, compress, compress_with, key_shift, sources, sources_with, uncompressed_tables, xy_entries,
};
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
    // Tight cores so that random networks spread over many cores and chips.
    s.core.max_neurons = 64;
    s.core.synapse_memory_bits = 1 << 16;
    s.core.max_input_axons = 512;
    s.core.max_route_entries = 64;
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
    if let Err(e) = prog.validate() {
        return Err(TestCaseError::fail(format!("Program::validate: {e}")));
    }
    prop_assert_eq!(prog.synapse_count(), ir.synapse_count());
    prop_assert_eq!(decode(&prog, &done), expected(&done, chip));
    // Routing: uncompressed and compressed tables deliver every key to exactly its destinations.
    let grid = Grid::new(chip);
    let srcs = sources(&done, chip);
    let raw = xy_entries(&grid, &srcs);
    check_delivery(&grid, &uncompressed_tables(&raw), &srcs).map_err(TestCaseError::fail)?;
    check_delivery(&grid, &compress(&raw, &srcs), &srcs).map_err(TestCaseError::fail)?;
    let ordered = compress_with(&raw, &srcs, 0);
    check_delivery(&grid, &ordered, &srcs).map_err(|e| TestCaseError::fail(format!("ordered covering: {e}")))?;
    let count = |t: &[nm_isa::program::RouteTable]| t.iter().map(|t| t.entries.len()).sum::<usize>();
    prop_assert!(count(&ordered) <= count(&compress_with(&raw, &srcs, usize::MAX)));
    let plain = compress(&raw, &srcs);
    if plain.iter().all(|t| t.entries.len() <= chip.core.max_route_entries as usize) {
        prop_assert_eq!(Some(&plain), done.routes.as_ref());
    } else {
        // Over the limit: ordered covering of the per-block or of the whole-slice trees.
        let routes = done.routes.as_ref().expect("routed");
        let whole = sources_with(&done, chip, true);
        prop_assert!(
            check_delivery(&grid, routes, &srcs).is_ok() || check_delivery(&grid, routes, &whole).is_ok(),
            "minimised tables deliver neither the block trees nor the slice trees"
        );
    }
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
    // The placement is never worse than the naive sequential one.
    let st = done.placement.as_ref().expect("placed");
    if let Some(naive) = st.naive_cost {
        prop_assert!(st.cost <= naive + 1e-9 * naive.abs().max(1.0), "placement {} worse than naive {naive}", st.cost);
    }
    // Determinism.
    let again = generate(&run_passes(ir, &opts, None).expect("second run"), chip).expect("codegen");
    prop_assert!(again == prog, "same input and seed give the same program");
    prop_assert!(nm_isa::binary::encode(&again) == nm_isa::binary::encode(&prog), "identical bytes");
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
        sizes: vec![160, 160, 160, 160, 160, 160],
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
    assert!(chips.len() >= 4, "6 x 160 neurons need at least 15 cores of 64 neurons: all four chips");
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

fn stdp_like_rule(instrs: usize) -> nm_isa::learn::LearnRule {
    use nm_isa::learn::{Dst, Handler, Instr, LearnRule, Opcode, Scope, Src, TraceSpec, Trigger};
    let mut code = vec![Instr::ld(0, Src::W), Instr::ld(1, Src::Y0)];
    while code.len() + 1 < instrs {
        code.push(Instr::rrr(Opcode::Add, 0, 0, 1));
    }
    code.push(Instr::st(Dst::W, 0));
    LearnRule {
        name: "stdp".into(),
        x: [Some(TraceSpec { decay: 200, impulse: 256 }), None],
        y: [Some(TraceSpec { decay: 200, impulse: 256 }), None],
        handlers: vec![Handler { trigger: Trigger::Pre, scope: Scope::Synapse, code }],
        w_min: 0,
        w_max: 0,
        readout: nm_isa::fixed_point::Rounding::Nearest,
    }
}

fn plastic_net(instrs: usize) -> Ir {
    use nm_compiler::ir::Plasticity;
    let mut ir = Ir::new("plastic");
    let inp = ir
        .add_input(InputSource {
            name: "in".into(),
            channels: 50,
            kind: InputKind::Poisson { p: vec![0.015; 50] },
            gate: None,
            rate: None,
            key_base: None,
            inject_core: None,
        })
        .expect("input");
    let post = ir.add_lif("post", 300, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop");
    for (k, (lo, hi)) in [(0.0, 0.5), (0.0, 0.5), (-0.25, 0.25)].into_iter().enumerate() {
        let pl = Plasticity { rule_name: "stdp".into(), rule: stdp_like_rule(instrs), w_min: lo, w_max: hi };
        let conn = Connectivity::fixed_fan_in(50, 300, 10, false, k as u64, 0.1, 1).expect("conn");
        ir.add_projection(&format!("ff{k}"), Endpoint::Input(inp), post, conn, SynKind::Current, Some(pl), false)
            .expect("proj");
    }
    ir
}

#[test]
fn plastic_projections_share_rules_by_identity_and_bounds() {
    let chip = ChipSpec::small_profile();
    let (prog, _) = compile_ir(plastic_net(4), &CompileOptions::new(chip.clone())).expect("compiles");
    prog.validate().expect("valid");
    // ff0 and ff1 share rule and bounds; ff2 has other bounds.
    assert_eq!(prog.rules.len(), 2);
    let frac = accumulator_frac_bits(chip.formats.accumulator_bits, chip.formats.weight_bits);
    let r0 = &prog.rules[0];
    assert_eq!(r0.w_min, 0);
    assert!(r0.w_max > 0 && r0.w_max <= chip.weight_max() << frac, "{}", r0.w_max);
    assert!(prog.rules[1].w_min < 0);
    for core in &prog.cores {
        for g in &core.groups {
            assert_eq!(g.rule.map(|r| r.0), Some(if g.proj.0 == 2 { 1 } else { 0 }));
        }
        // Initial weight 0.1 of bounds up to 0.5: kept at accumulator precision, inside the bounds.
        for s in &core.synapses {
            let r = &prog.rules[core.groups[usize::from(s.group)].rule.expect("plastic").index()];
            assert!(s.acc > 0 && s.acc >= r.w_min && s.acc <= r.w_max, "acc {} in [{}, {}]", s.acc, r.w_min, r.w_max);
        }
    }
}

#[test]
fn tiny_initial_weights_of_plastic_synapses_keep_accumulator_precision() {
    use nm_compiler::ir::Plasticity;
    let mut ir = Ir::new("tiny");
    let a = ir.add_lif("a", 4, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop");
    // 1/1000 of the bound is below half a weight LSB (8 bits) but not of the accumulator (15 bits).
    let syns = vec![Syn { pre: 0, post: 1, weight: 1e-3, delay: 1 }, Syn { pre: 1, post: 0, weight: 0.5, delay: 1 }];
    let conn = Connectivity::from_synapses(4, 4, syns).expect("conn");
    let pl = Plasticity { rule_name: "stdp".into(), rule: stdp_like_rule(3), w_min: -1.0, w_max: 1.0 };
    ir.add_projection("p", Endpoint::Pop(a), a, conn, SynKind::Current, Some(pl), false).expect("proj");
    let (prog, report) = compile_ir(ir, &CompileOptions::new(ChipSpec::default_profile())).expect("compiles");
    assert_eq!(report.quantization[0].zeroed, 0);
    let accs: Vec<i32> = prog.cores[0].synapses.iter().map(|s| s.acc).collect();
    assert!(accs.iter().all(|&a| a != 0), "{accs:?}");
    let (small, big) = (accs.iter().min().copied().unwrap_or(0), accs.iter().max().copied().unwrap_or(0));
    // The small weight is 1e-3 · 255 · 2^frac accumulator units, rounded: the ratio is 500 within
    // the relative rounding error of the small one.
    let spec = ChipSpec::default_profile();
    let frac = accumulator_frac_bits(spec.formats.accumulator_bits, spec.formats.weight_bits);
    let small_exact = 1e-3 * f64::from(spec.weight_max()) * 2f64.powi(frac as i32);
    let tol = 500.0 * 0.5 / small_exact + 0.5;
    assert!((f64::from(big) / f64::from(small) - 500.0).abs() <= tol, "{accs:?} (tolerance {tol})");
}

#[test]
fn learning_program_too_long_is_explained() {
    let chip = ChipSpec::small_profile();
    let n = chip.core.max_learning_instrs as usize + 1;
    let err = compile_ir(plastic_net(n), &CompileOptions::new(chip)).expect_err("too long");
    let text = err.to_string();
    assert!(
        // Two distinct (rule, bounds) pairs of n instructions each.
        text.contains("learning instructions") && text.contains("`post`") && text.contains(&(2 * n).to_string()),
        "{text}"
    );
}

#[test]
fn degenerate_networks_compile() {
    let opts = CompileOptions::new(ChipSpec::small_profile());
    // Nothing at all.
    let (prog, _) = compile_ir(Ir::new("empty"), &opts).expect("empty network");
    assert!(prog.cores.is_empty());
    // A population without synapses, an input without targets, an empty projection.
    let mut ir = Ir::new("sparse");
    let a = ir.add_lif("a", 5, NeuronParams::lif(4.0, 16.0, 1.0, 0.0, 1)).expect("pop");
    let i = ir
        .add_input(InputSource {
            name: "in".into(),
            channels: 3,
            kind: InputKind::SpikeTimes { events: vec![(1, 0), (5, 2)] },
            gate: None,
            rate: None,
            key_base: None,
            inject_core: None,
        })
        .expect("input");
    let conn = Connectivity::fixed_probability(3, 5, 0.0, 1, 0.5, 1).expect("conn");
    ir.add_projection("none", Endpoint::Input(i), a, conn, SynKind::Current, None, false).expect("proj");
    let (prog, report) = compile_ir(ir, &opts).expect("sparse network");
    assert_eq!(prog.neuron_count(), 5);
    assert_eq!(prog.synapse_count(), 0);
    assert!(prog.routes.is_empty());
    assert!(report.to_text().contains("0 synapses"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Hostile parameters give `Ok` or an error, never a panic.
    #[test]
    fn hostile_parameters_never_panic(
        decay in prop::sample::select(vec![0.0, 0.5, 1.0, -0.1, 2.0, f64::NAN]),
        th in prop::sample::select(vec![1.0, 0.0, -5.0, 1e30, f64::INFINITY, f64::NAN]),
        w in prop::sample::select(vec![0.5, -0.5, 0.0, 1e-30, 1e30, f64::NAN]),
        delay in 0u8..=255,
        scale in prop::option::of(prop::sample::select(vec![1.0, 0.0, -1.0, 1e300])),
        size in 1u32..40,
    ) {
        let mut ir = Ir::new("hostile");
        let mut params = NeuronParams::lif(4.0, 16.0, th, 0.0, 1);
        params.decay_u = decay;
        params.scale = scale;
        let a = ir.add_lif("a", size, params).expect("pop");
        let syns = (0..size).map(|k| Syn { pre: k, post: (k * 7) % size, weight: w, delay }).collect();
        let conn = Connectivity::from_synapses(size, size, syns).expect("conn");
        ir.add_projection("p", Endpoint::Pop(a), a, conn, SynKind::Current, None, false).expect("proj");
        for chip in [ChipSpec::default_profile(), ChipSpec::small_profile()] {
            let mut opts = CompileOptions::new(chip);
            opts.verify = false;
            let _ = compile_ir(ir.clone(), &opts);
        }
    }
}

#[test]
fn naive_placer_is_the_baseline_and_greedy_beats_it_on_a_chain() {
    let ir = nm_compiler::ir::nets::local2d(32, 1, 1).expect("net");
    let chip = ChipSpec::small_profile();
    let mut opts = CompileOptions::new(chip);
    opts.placer = nm_compiler::passes::Placer::Naive;
    let (naive_prog, naive) = compile_ir(ir.clone(), &opts).expect("naive");
    naive_prog.validate().expect("valid");
    let t = naive.traffic.expect("traffic");
    assert_eq!(Some(t.cost), t.naive_cost);
    opts.placer = nm_compiler::passes::Placer::Greedy;
    let (_, greedy) = compile_ir(ir, &opts).expect("greedy");
    let g = greedy.traffic.expect("traffic");
    // 4 slices in a chain on a 2 x 2 mesh: sequential order 0,1,2,3 puts slices 1 and 2 two hops apart.
    assert!(g.cost < t.cost, "greedy {} vs naive {}", g.cost, t.cost);
}

#[test]
fn routing_table_overflow_is_explained() {
    let mut chip = small_multichip();
    chip.core.max_route_entries = 1;
    let net = NetSpec {
        sizes: vec![120, 120, 120],
        input: None,
        projs: vec![(0, 1, 0.2, 1), (1, 2, 0.2, 2), (2, 0, 0.2, 3), (0, 2, 0.2, 4)],
    };
    let err = compile_ir(build(&net, &chip), &CompileOptions::new(chip)).expect_err("one entry per router is too few");
    let CompileError::DoesNotFit { limit, place, available, .. } = &err else { panic!("wrong error {err}") };
    assert_eq!(*limit, "routing entries");
    assert!(place.contains("router of core"), "{place}");
    assert_eq!(*available, 1);
}
