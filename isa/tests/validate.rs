//! `Program::validate`: each broken invariant or chip limit is refused with an error that names
//! where (core, item, index) and what (field, value, limit).

use nm_isa::builder::example_program;
use nm_isa::chip::ChipSpec;
use nm_isa::ids::{CoreId, SignalId};
use nm_isa::learn::{Handler, Instr, Opcode, Scope, Trigger};
use nm_isa::program::{AxonMapEntry, Dirs, Program, RouteEntry, Schedule};
use nm_isa::validate::{ValidationErrorKind, Where};

type Breaker = fn(&mut Program);

fn check(name: &str, f: Breaker, at: Where, needle: &str) {
    let mut p = example_program(ChipSpec::small_profile());
    f(&mut p);
    let e = p.validate().expect_err(name);
    assert_eq!(e.at, at, "{name}: {e}");
    assert!(e.to_string().contains(needle), "{name}: `{e}` lacks `{needle}`");
}

#[test]
fn example_is_valid() {
    example_program(ChipSpec::small_profile()).validate().expect("valid");
}

#[test]
fn each_problem_is_named() {
    let core = |index| Where::CoreItem { core: 0, item: "synapse", index };
    let cases: Vec<(&str, Breaker, Where, &str)> = vec![
        ("chip", |p| p.chip.formats.accumulator_bits = 2, Where::Chip, "formats.accumulator_bits"),
        ("dt", |p| p.meta.dt_ns = 0, Where::Meta, "`dt_ns` = 0"),
        ("lut size", |p| p.luts[0].entries = vec![0; 4097], Where::Lut(0), "entries.len()"),
        ("unsorted cores", |p| p.cores.swap(0, 1), Where::Cores, "not strictly increasing"),
        ("core id", |p| p.cores[1].id = CoreId(4), Where::Core(4), "`id` = 4"),
        ("delay 0", |p| p.cores[0].synapses[3].delay = 0, core(3), "`delay` = 0 is out of range [1, 15]"),
        ("delay max", |p| p.cores[0].synapses[3].delay = 16, core(3), "[1, 15]"),
        ("target", |p| p.cores[0].synapses[0].target = 4, core(0), "`target` = 4 does not name one of the 4 neurons"),
        ("acc", |p| p.cores[0].synapses[1].acc = 40000, core(1), "`acc` = 40000 is out of range [-32768, 32767]"),
        ("group", |p| p.cores[0].synapses[1].group = 9, core(1), "`group` = 9"),
        (
            "axons tile",
            |p| p.cores[0].axons[1].first += 1,
            Where::CoreItem { core: 0, item: "axon", index: 1 },
            "should be 1",
        ),
        (
            "axon cover",
            |p| p.cores[0].axons[3].count -= 1,
            Where::Core(0),
            "axons cover 9 synapses but the core has 10",
        ),
        (
            "weight exp",
            |p| p.cores[0].groups[0].weight_exp = 9,
            Where::CoreItem { core: 0, item: "group", index: 0 },
            "`weight_exp` = 9",
        ),
        (
            "neuron profile",
            |p| p.cores[0].neurons[2].profile = 1,
            Where::CoreItem { core: 0, item: "neuron", index: 2 },
            "`profile` = 1",
        ),
        (
            "profile lut",
            |p| p.cores[1].profiles[0].lut = None,
            Where::CoreItem { core: 1, item: "profile", index: 0 },
            "needs a firing-probability LUT",
        ),
        (
            "voltage",
            |p| p.cores[0].neurons[0].v_th = 1 << 23,
            Where::CoreItem { core: 0, item: "neuron", index: 0 },
            "`v_th` = 8388608",
        ),
        (
            "axon map overlap",
            |p| p.cores[1].axon_map.push(AxonMapEntry { key_base: 0x2_0001, count: 1, axon_base: 0 }),
            Where::CoreItem { core: 1, item: "axon map entry", index: 3 },
            "overlap",
        ),
        (
            "axon map range",
            |p| p.cores[1].axon_map[0].count = 9,
            Where::CoreItem { core: 1, item: "axon map entry", index: 0 },
            "beyond the core's 8 axons",
        ),
        (
            "clamp target",
            |p| p.cores[1].synapses[8].target = 2,
            Where::CoreItem { core: 1, item: "synapse", index: 8 },
            "not stochastic",
        ),
        (
            "too many neurons",
            |p| {
                let n = p.cores[0].neurons[0];
                p.cores[0].neurons.resize(257, n);
            },
            Where::Core(0),
            "neurons: 257 exceeds the limit 256 (max_neurons)",
        ),
        (
            "synapse memory",
            |p| {
                let s = p.cores[0].synapses[0];
                p.cores[0].synapses.resize(9000, s);
                p.cores[0].axons[3].count += 8990;
            },
            Where::Core(0),
            "synapse memory bits: 279000 exceeds the limit 262144 (synapse_memory_bits)",
        ),
        (
            "learning instrs",
            |p| {
                p.rules[0].handlers.push(Handler {
                    trigger: Trigger::Step,
                    scope: Scope::Synapse,
                    code: vec![Instr::new(Opcode::Nop); 219],
                })
            },
            Where::Rule(0),
            "instructions: 257 exceeds the limit 256 (max_learning_instrs)",
        ),
        (
            "rule check",
            |p| p.rules[0].handlers[0].code.push(Instr::wscale(1, 2)),
            Where::Rule(0),
            "not allowed in a per-synapse handler",
        ),
        (
            "route dirs",
            |p| p.routes[0].entries[0].dirs = Dirs(32),
            Where::Route { core: 0, index: Some(0) },
            "`dirs` = 32",
        ),
        (
            "route mask",
            |p| p.routes[0].entries.push(RouteEntry { key: 3, mask: !3, dirs: Dirs::LOCAL }),
            Where::Route { core: 0, index: Some(2) },
            "outside mask",
        ),
        (
            "route entries",
            |p| p.routes[0].entries = vec![RouteEntry { key: 0, mask: 0, dirs: Dirs::LOCAL }; 257],
            Where::Route { core: 0, index: None },
            "entries: 257 exceeds the limit 256 (max_route_entries)",
        ),
        (
            "gate signal",
            |p| {
                p.inputs[1].gate = p.inputs[1].gate.map(|mut g| {
                    g.signal = SignalId(3);
                    g
                })
            },
            Where::Input(1),
            "gate signal 3",
        ),
        (
            "gate value",
            |p| {
                p.inputs[1].gate = p.inputs[1].gate.map(|mut g| {
                    g.value = 2;
                    g
                })
            },
            Where::Input(1),
            "`gate.value` = 2",
        ),
        ("signal bits", |p| p.signals[0].bits = 17, Where::Signal(0), "`bits` = 17"),
        (
            "signal value",
            |p| p.signals[0].schedule = Schedule::Constant(2),
            Where::Signal(0),
            "`value` = 2 is out of range [-1, 1]",
        ),
        ("probe pop", |p| p.probes[0].every = 0, Where::Probe(0), "`every` = 0"),
        (
            "slice",
            |p| p.symbols.populations[0].slices[0].len = 5,
            Where::Population(0),
            "beyond the 4 neurons of core 0",
        ),
        (
            "projection",
            |p| p.cores[0].groups[0].proj.0 = 7,
            Where::CoreItem { core: 0, item: "group", index: 0 },
            "`proj` = 7",
        ),
    ];
    for (name, f, at, needle) in cases {
        check(name, f, at, needle);
    }
}

#[test]
fn limit_errors_carry_the_numbers() {
    let mut p = example_program(ChipSpec::small_profile());
    let n = p.cores[0].neurons[0];
    p.cores[0].neurons.resize(300, n);
    let e = p.validate().expect_err("too many neurons");
    assert_eq!(
        e.kind,
        ValidationErrorKind::Limit { what: "neurons", count: 300, limit: 256, limit_name: "max_neurons" }
    );
}

/// A chip spec loaded from TOML: every built-in profile round-trips through its TOML text, and a
/// file with one number out of range is refused with the field's name, for several fields.
#[test]
fn chip_spec_toml_round_trips_and_names_the_bad_field() {
    use nm_isa::ChipSpec;
    for name in nm_isa::chip::PROFILE_NAMES {
        let spec = ChipSpec::profile(name).expect("built-in");
        let text = spec.to_toml_string();
        assert_eq!(ChipSpec::from_toml_str(&text).expect("valid"), spec, "{name}");
    }
    let text = ChipSpec::default_profile().to_toml_string();
    for (field, key, bad) in [
        ("formats.weight_bits", "weight_bits = 8", "weight_bits = 40"),
        ("formats.decay_bits", "decay_bits = 12", "decay_bits = 0"),
        ("mismatch.threshold_rsd", "threshold_rsd = 0.1", "threshold_rsd = -0.5"),
    ] {
        assert!(text.contains(key), "the default profile's TOML has `{key}`:\n{text}");
        let broken = text.replacen(key, bad, 1);
        let err = ChipSpec::from_toml_str(&broken).expect_err(bad);
        assert!(err.to_string().contains(field), "{bad}: {err}");
    }
    let err = ChipSpec::from_toml_str("name = 3").expect_err("wrong type");
    assert!(!err.to_string().is_empty());
}
