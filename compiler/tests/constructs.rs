//! Each construct of the language parses, checks, and means what `docs/language.md` says.

mod common;

use nm_compiler::driver;
use nm_compiler::front::model::*;
use nm_isa::learn::{Dst, Src};

fn checked(src: &str, dir: Option<&std::path::Path>) -> driver::Checked {
    let c = driver::check_source("t.nm", src, dir);
    common::assert_spans_valid(&c.diagnostics, &c.sources);
    c
}

fn ok(src: &str) -> Model {
    let c = checked(src, None);
    let text = nm_compiler::front::diag::render_human(&c.diagnostics, &c.sources);
    assert!(!c.diagnostics.has_errors(), "unexpected errors:\n{text}");
    c.model.expect("model")
}

fn codes(src: &str) -> Vec<&'static str> {
    checked(src, None).diagnostics.list.iter().map(|d| d.code).collect()
}

const NET: &str = "input src = poisson(rates = [5, 10] Hz)\npop out = lif(n = 1, v_th = 1.0)\n";

#[test]
fn target_profiles_and_overrides() {
    let m = ok("target small { weight_bits = 5; accumulator_bits = 12; mismatch = 5%; noise = 1%; chip_seed = 9 }");
    assert_eq!(m.target.source, "small");
    assert_eq!(m.target.spec.formats.weight_bits, 5);
    assert_eq!(m.target.spec.formats.accumulator_bits, 12);
    assert_eq!(m.target.spec.mismatch.weight_gain_rsd, 0.05);
    assert_eq!(m.target.spec.mismatch.learning_rate_rsd, 0.05);
    assert_eq!(m.target.spec.mismatch.noise_rsd, 0.01);
    assert_eq!(m.target.chip_seed, 9);
    assert_eq!(m.target.spec.mesh.width, 2);
    assert_eq!(m.target.spec.formats.learning_rate_trim_bits, 6);
    let m = ok("target default { learning_rate_trim_bits = 7 }");
    assert_eq!(m.target.spec.formats.learning_rate_trim_bits, 7);
    let m = ok("target board { mismatch_weight = 0.2 }");
    assert_eq!(m.target.spec.system.chips_x, 8);
    assert_eq!(m.target.spec.mismatch.weight_gain_rsd, 0.2);
    assert_eq!(m.target.spec.mismatch.leak_rsd, 0.1);
    // No target: the default profile.
    assert_eq!(ok("").target.spec, nm_isa::ChipSpec::default_profile());
}

#[test]
fn target_from_a_chip_spec_file() {
    let dir = std::env::temp_dir().join(format!("nm-front-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut spec = nm_isa::ChipSpec::small_profile();
    spec.name = "mine".into();
    spec.formats.tag_bits = 4;
    std::fs::write(dir.join("chip.toml"), spec.to_toml_string()).expect("write spec");
    std::fs::write(dir.join("x.csv"), "0, 1, 0.5\n1, 0, 0.25\n").expect("write csv");
    let c = checked(
        "target \"chip.toml\" { weight_bits = 4 }\ninput x = patterns(file(\"x.csv\"), present = 3 steps, encoding = graded, scale = 2)",
        Some(&dir),
    );
    assert!(!c.diagnostics.has_errors(), "{:?}", c.diagnostics);
    let m = c.model.expect("model");
    assert_eq!(m.target.spec.name, "mine");
    assert_eq!(m.target.spec.formats.tag_bits, 4);
    assert_eq!(m.target.spec.formats.weight_bits, 4);
    let InputKind::Patterns { rows, encoding, present_steps, .. } = &m.inputs[0].kind else { panic!() };
    assert_eq!(rows, &vec![vec![0.0, 1.0, 0.5], vec![1.0, 0.0, 0.25]]);
    assert_eq!(*encoding, Encoding::Graded { scale: 2.0 });
    assert_eq!(*present_steps, 3);
    // A broken spec file is reported, naming the file.
    std::fs::write(dir.join("bad.toml"), "name = 3").expect("write");
    let c = checked("target \"bad.toml\"", Some(&dir));
    assert_eq!(c.diagnostics.list[0].code, "E0801");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sim_block() {
    let m = ok("sim { dt = 0.5 ms; duration = 2 s; epoch = 100 ms; seed = 42 }");
    assert_eq!(m.sim.dt, 0.0005);
    assert_eq!(m.sim.steps, 4000);
    assert_eq!(m.sim.epoch_steps, 200);
    assert_eq!(m.sim.seed, 42);
    let m = ok("sim { duration = 300 steps }");
    assert_eq!((m.sim.dt, m.sim.steps), (0.001, 300));
    assert_eq!(codes("sim { dt = 1 ms } sim { dt = 2 ms }"), vec!["E0104"]);
}

#[test]
fn constants_with_units_fold() {
    let m = ok("const tau = 20 ms\nconst k = 2\npop p = lif(n = k * 3, tau_m = tau / 2, v_th = 1)");
    assert_eq!(m.populations[0].size, 6);
    let Neuron::Lif { tau_m, .. } = m.populations[0].neuron else { panic!() };
    assert_eq!(tau_m, Some(0.01));
}

#[test]
fn lif_population() {
    let m = ok("sim { dt = 0.1 ms }\npop p = lif(n = 10, tau_m = 20 ms, tau_syn = 5 ms, v_th = -50 mV, v_reset = -60 mV, v_rest = -49 mV, bias = 0.1 mV, refractory = 5 ms, v_init = uniform(-60 mV, -50 mV), seed = 4)");
    let p = &m.populations[0];
    assert_eq!(p.volt_unit, VoltUnit::Volt);
    let Neuron::Lif { tau_m, tau_syn, tau_syn2, v_th, v_reset, v_rest, bias, refractory_steps, v_init, v_init_seed } =
        p.neuron
    else {
        panic!()
    };
    assert_eq!((tau_m, tau_syn, tau_syn2), (Some(0.02), Some(0.005), None));
    assert!((v_th + 0.05).abs() < 1e-12 && (v_reset + 0.06).abs() < 1e-12 && (v_rest + 0.049).abs() < 1e-12);
    assert!((bias - 1e-4).abs() < 1e-12);
    assert_eq!(refractory_steps, 50);
    assert!((v_init.0 + 0.06).abs() < 1e-12 && (v_init.1 + 0.05).abs() < 1e-12);
    assert_eq!(v_init_seed, 4);
    // code = round(4096 (1 - exp(-0.1/20))) = 20; tau_syn: round(4096 (1 - exp(-0.02))) = 81
    assert_eq!(p.codes, NeuronCodes { decay_u: 81, decay_u2: None, decay_v: 20, refractory: 50 });
}

#[test]
fn lif_second_current() {
    let m = ok("sim { dt = 0.1 ms }
pop p = lif(n = 2, tau_m = 20 ms, tau_syn = 5 ms, tau_syn2 = 10 ms, v_th = 1)
\
                input i = poisson(n = 2, rate = 10 Hz)
connect i -> p one_to_one weight = -1 current = 2
\
                connect i -> p one_to_one weight = 1");
    let p = &m.populations[0];
    let Neuron::Lif { tau_syn2, .. } = p.neuron else { panic!() };
    assert_eq!(tau_syn2, Some(0.01));
    // round(4096 (1 - exp(-0.01))) = 41
    assert_eq!(p.codes.decay_u2, Some(41));
    assert_eq!((m.projections[0].current, m.projections[1].current), (1, 0));
}

#[test]
fn sampling_binary_and_rate_populations() {
    let m = ok("pop s = sampling(n = 5, tau_ref = 10 steps, bias = -0.5)\npop b = binary(n = 6, tau_ref = 20 steps, offset = 2)\npop r = rate(n = 2, tau = 10 ms, activation = tanh, bias = 1)");
    let Neuron::Stochastic { tau_ref_steps, offset, bias, clampable, .. } = m.populations[0].neuron else { panic!() };
    assert_eq!((tau_ref_steps, bias, clampable), (10, -0.5, false));
    assert!((offset - 10f64.ln()).abs() < 1e-12, "default offset is ln(tau_ref)");
    assert!(matches!(m.populations[1].neuron, Neuron::Stochastic { clampable: true, offset, .. } if offset == 2.0));
    let Neuron::Rate { tau, activation, bias, out_range, .. } = m.populations[2].neuron else { panic!() };
    assert_eq!((tau, activation, bias, out_range), (0.01, Activation::Tanh, 1.0, (-1.0, 1.0)));
    assert_eq!(m.populations[2].codes.decay_v, 410, "Euler code 4096 * dt / tau");
    for act in ["linear", "sigmoid", "relu"] {
        ok(&format!("pop r = rate(n = 1, tau = 5 ms, activation = {act})"));
    }
}

#[test]
fn inputs_of_every_kind() {
    let m = ok(r#"
signal phase = cycle(period = 10 steps, values = [1, 0])
input a = poisson(rates = [5, 10, 20] Hz)
input b = poisson(n = 4, rate = 15 Hz)
input c = spikes(n = 2, times = [[1, 20 ms], [0, 10 ms], [0, 3 steps]])
input d = patterns([[0, 1], [1, 0]], present = 20 ms, encoding = rate, max_rate = 100 Hz, order = random, seed = 3)
input e = patterns(bars(size = 3, n = 5, p = 0.5, seed = 1), present = 1 step, encoding = graded)
input f = patterns(clusters(d = 4, k = 2, n = 10, noise = 0.1, seed = 2), present = 1 step, encoding = graded)
input g = patterns(boltzmann(w = [[0, 1], [1, 0]], b = [0.5, -0.5], n = 50, seed = 2), present = 5 steps, encoding = clamp) when phase == 1
input h = current(values = [0.5, 1.5])
input i = current(n = 3, value = 0.25)
"#);
    let k: Vec<u32> = m.inputs.iter().map(|i| i.channels).collect();
    assert_eq!(k, vec![3, 4, 2, 2, 9, 4, 2, 2, 3]);
    let InputKind::SpikeTimes { events } = &m.inputs[2].kind else { panic!() };
    assert_eq!(events, &vec![(3, 0), (10, 0), (20, 1)]);
    let InputKind::Patterns { order, encoding, seed, .. } = &m.inputs[3].kind else { panic!() };
    assert_eq!((*order, *encoding, *seed), (Order::Random, Encoding::Rate { max_rate: 100.0 }, 3));
    let InputKind::Patterns { rows, .. } = &m.inputs[4].kind else { panic!() };
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().flatten().all(|&v| v == 0.0 || v == 1.0));
    let InputKind::Patterns { rows, .. } = &m.inputs[5].kind else { panic!() };
    for r in rows {
        let n: f64 = r.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-9, "cluster points are unit vectors");
    }
    assert_eq!(m.inputs[6].gate, Some((0, 1)));
    assert_eq!(m.inputs[8].kind, InputKind::Current { values: vec![0.25; 3] });
}

#[test]
fn generated_patterns_follow_their_statistics_and_seed() {
    let src = "input x = patterns(gaussian(d = 4, eigenvalues = [4, 1], n = 20000, seed = 5, rotate = false), present = 1 step, encoding = graded)";
    let (a, b) = (ok(src), ok(src));
    assert_eq!(a.inputs, b.inputs, "same seed, same rows");
    let InputKind::Patterns { rows, .. } = &a.inputs[0].kind else { panic!() };
    let var = |j: usize| rows.iter().map(|r| r[j] * r[j]).sum::<f64>() / rows.len() as f64;
    assert!((var(0) - 4.0).abs() < 0.2, "{}", var(0));
    for j in 1..4 {
        assert!((var(j) - 1.0).abs() < 0.06, "{}", var(j));
    }
    // Boltzmann samples: the state with the largest weight-sum is the most frequent.
    let m = ok("input x = patterns(boltzmann(w = [[0, 2], [2, 0]], b = [-1, -1], n = 4000, seed = 1), present = 1 step, encoding = clamp)");
    let InputKind::Patterns { rows, .. } = &m.inputs[0].kind else { panic!() };
    let both = rows.iter().filter(|r| r[0] == 1.0 && r[1] == 1.0).count() as f64 / 4000.0;
    // p(11) = e^0 / (1 + 2 e^-1 + e^0) = 0.3807
    assert!((both - 0.3807).abs() < 0.03, "{both}");
}

#[test]
fn signals_of_every_schedule() {
    let m = ok("signal a = constant(3)\nsignal b = cycle(period = 5 ms, values = [1, -1])\nsignal c = random(p = 0.3, mean_len = 50 steps, one = 2, zero = -1, seed = 4, bits = 4)\nsignal d = list(changes = [[10 ms, 1], [0 ms, 2]])");
    assert_eq!(m.signals[0].schedule, Schedule::Constant(3));
    assert_eq!(m.signals[1].schedule, Schedule::Cycle { period_steps: 5, values: vec![1, -1] });
    assert_eq!(
        m.signals[2].schedule,
        Schedule::Random { len: PhaseLen::Geometric { p_end: 0.02 }, p_one: 0.3, one: 2, zero: -1, seed: 4 }
    );
    assert_eq!(m.signals[2].bits, 4);
    assert_eq!(m.signals[3].schedule, Schedule::List(vec![(0, 2), (10, 1)]));
    let nine: String = (0..9).map(|k| format!("signal s{k} = constant(1)\n")).collect();
    assert_eq!(codes(&nine), vec!["E0505"]);
}

#[test]
fn projections_patterns_weights_delays_signs_modes() {
    let m = ok(r#"
pop a = lif(n = 3, v_th = 1)
pop b = lif(n = 3, v_th = 1)
pop z = binary(n = 2, tau_ref = 5 steps)
input d = patterns([[1, 0]], present = 5 steps, encoding = clamp)
connect a -> b weight = 0.5
connect one: a -> b one_to_one weight = uniform(0.1, 0.2, seed = 3) delay = 4 steps
connect a -> a fixed_prob(p = 0.5, seed = 7, self = false) weight = normal(0, 0.1, seed = 1) sign = mixed
connect b -> a fixed_in(n = 2, seed = 1) weight = -0.3
connect lst: b -> b list(pairs = [[0, 1], [2, 0]]) weight = 1
connect mat: a -> b weight = [[0, 1, 0], [1, 0, 1], [0, 0, 2]] delay = 3 ms
connect d -> z one_to_one mode = clamp weight = 1
"#);
    let p = &m.projections;
    assert_eq!(p[0].connectivity, Connectivity::AllToAll { self_connections: true });
    assert_eq!((p[0].delay_steps, p[0].sign, p[0].name.as_str()), (1, Sign::Excitatory, "a->b"));
    assert_eq!(p[1].connectivity, Connectivity::OneToOne);
    assert_eq!((p[1].delay_steps, p[1].weights.clone()), (4, WeightInit::Uniform { lo: 0.1, hi: 0.2, seed: 3 }));
    assert_eq!(p[2].connectivity, Connectivity::FixedProb { p: 0.5, seed: 7, self_connections: false });
    assert_eq!(p[2].sign, Sign::Mixed);
    assert_eq!(p[3].connectivity, Connectivity::FixedInDegree { n: 2, seed: 1, self_connections: true });
    assert_eq!(p[3].sign, Sign::Inhibitory);
    assert_eq!(p[4].connectivity, Connectivity::List(vec![(0, 1), (2, 0)]));
    assert_eq!(p[5].delay_steps, 3);
    assert!(matches!(&p[5].weights, WeightInit::Matrix(m) if m.len() == 3));
    assert_eq!(p[6].mode, SynMode::Clamp);
    assert_eq!(p[6].pre, Endpoint::Input(0));
    assert_eq!(m.endpoint_size(p[6].pre), 2);
}

#[test]
fn rule_with_every_statement() {
    let m = ok(r#"
target default { tag_bits = 8 }
sim { epoch = 100 steps }
signal mod = cycle(period = 50 steps, values = [1, 0])
input src = poisson(rates = [5, 10] Hz)
pop out = lif(n = 2, tau_m = 20 ms, v_th = 1.0)
rule full(eta = 0.01, decay = 0.001, tau = 20 ms) {
  trace x(tau = tau) on pre += 1
  trace x2(tau = 40 ms) on pre += 0.5
  trace y(tau = tau) on post += 1
  let g = 2 * mod - 1
  on pre: w -= eta * y
  on post { w += eta * x * g; tag = 1 }
  every step: w += clip(eta * pre.value * post.value, -0.01, 0.01) + 0 * abs(post.v) * min(x2, 1) * max(randu(), post.u)
  every epoch: w -= decay * w
  bounds w in [0, 2]
  normalize sum(w) = 1.5 every epoch
  round stochastic
}
connect src -> out weight = 0.5 plastic full(eta = 0.02)
"#);
    let r = &m.rules[0];
    assert_eq!(r.params[0], ("eta".into(), 0.02));
    assert_eq!(r.pre_traces.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["x", "x2"]);
    assert_eq!(r.pre_traces[1].impulse, 0.5);
    assert_eq!(r.pre_traces[0].decay_code, 200, "round(4096 (1 - exp(-1/20))) = round(199.8)");
    assert_eq!(r.post_traces.len(), 1);
    assert_eq!(
        r.handlers.iter().map(|h| h.trigger).collect::<Vec<_>>(),
        vec![Trigger::Pre, Trigger::Post, Trigger::Step, Trigger::Epoch]
    );
    assert_eq!(r.handlers[1].updates[1].dst, Dst::Tag);
    assert_eq!(r.handlers[1].updates[1].value, RExpr::Const(1.0));
    // `on pre: w -= eta * y` with eta folded in.
    assert_eq!(
        r.handlers[0].updates[0].value,
        RExpr::Bin(RBinOp::Mul, Box::new(RExpr::Const(0.02)), Box::new(RExpr::Load(Src::Y0)))
    );
    assert_eq!(r.bounds, (0.0, 2.0));
    assert_eq!(r.normalize, Some(Normalize { kind: NormKind::Sum, value: 1.5, trigger: Trigger::Epoch }));
    assert_eq!(r.rounding, nm_isa::fixed_point::Rounding::Stochastic);
    assert_eq!(m.projections[0].rule, Some(0));
}

#[test]
fn rule_instances_are_shared_or_split_by_arguments() {
    let src = format!("{NET}rule r(eta = 0.01) {{\n on post: w += eta * pre.spike\n bounds w in [0, 1]\n}}\nconnect a1: src -> out weight = 0.5 plastic r\nconnect a2: src -> out weight = 0.5 plastic r(eta = 0.01)\nconnect a3: src -> out weight = 0.5 plastic r(0.02)\n");
    let m = ok(&src);
    assert_eq!(m.rules.len(), 2);
    assert_eq!(m.rules[1].name, "r#2");
    assert_eq!(m.projections.iter().map(|p| p.rule).collect::<Vec<_>>(), vec![Some(0), Some(0), Some(1)]);
}

#[test]
fn recordings() {
    let m = ok(&format!("{NET}signal s = constant(1)\nconnect ff: src -> out weight = 0.5\nrecord spikes(out), v(out) every 2 ms, u(out), output(out), trace0(out), weights(ff) every 1 s, weights(src -> out), signal(s) every 10 steps"));
    use nm_isa::program::StateVar;
    let r: Vec<(RecordKind, u32)> = m.recordings.iter().map(|r| (r.what, r.every_steps)).collect();
    assert_eq!(
        r,
        vec![
            (RecordKind::Spikes { pop: 0 }, 1),
            (RecordKind::State { pop: 0, var: StateVar::V }, 2),
            (RecordKind::State { pop: 0, var: StateVar::U }, 1),
            (RecordKind::State { pop: 0, var: StateVar::Y }, 1),
            (RecordKind::State { pop: 0, var: StateVar::Trace0 }, 1),
            (RecordKind::Weights { proj: 0 }, 1000),
            (RecordKind::Weights { proj: 0 }, 1),
            (RecordKind::Signal { signal: 0 }, 10),
        ]
    );
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let c = codes("pop a = lif(n = 0, v_th = 1)\npop b = lif(n = 1, tau_m = 3 Hz, v_th = 1)\ninput i = poisson(rates = [1] ms)\nconnect a -> nowhere weight = 1");
    assert_eq!(c, vec!["E0206", "E0301", "E0301", "E0102"]);
}

#[test]
fn locality_and_range_checks_do_not_fire_on_good_rules() {
    // Every local quantity is readable.
    ok(&format!("{NET}signal s = constant(1)\nrule r {{\n trace x(tau = 10 ms) on pre += 1\n trace y(tau = 10 ms) on post += 1\n every step: w += 0.001 * (x + y + pre.spike + pre.value + post.spike + post.value + post.v + post.u + tag + last_pre + rand() + randu() + s) * w\n bounds w in [0, 1]\n}}\nconnect src -> out weight = 0.5 plastic r\n"));
}

#[test]
fn precision_warning_with_stochastic_rounding() {
    let src = "target default { accumulator_bits = 10 }\npop z = binary(n = 2, tau_ref = 10 steps)\nrule cd(eta = 8e-5) {\n every step: w += eta * post.value * pre.spike\n bounds w in [-4, 4]\n round stochastic\n}\nconnect z -> z weight = 0 plastic cd";
    assert_eq!(codes(src), vec!["W0504"]);
    assert!(ok(src).rules[0].rounding == nm_isa::fixed_point::Rounding::Stochastic);
}

#[test]
fn nonzero_connectivity_takes_the_matrix() {
    let m = ok("pop a = lif(n = 2, v_th = 1)\nconnect a -> a nonzero weight = [[0, 1.5], [0.5, 0]]");
    assert_eq!(m.projections[0].connectivity, Connectivity::NonZero);
    assert_eq!(codes("pop a = lif(n = 2, v_th = 1)\nconnect a -> a nonzero weight = 1"), vec!["E0206"]);
}

#[test]
fn explicit_decay_codes() {
    let m = ok(&format!("{NET}pop p = lif(n = 1, decay_v = 205, decay_u = 4096, v_th = 1)\npop r = rate(n = 1, tau = 2 ms, decay_u = 100)\nrule k {{\n trace x(decay = 410) on pre += 1\n on post: w += 0.01 * x\n bounds w in [0, 1]\n}}\nconnect src -> out weight = 0.5 plastic k"));
    assert_eq!((m.populations[1].codes.decay_v, m.populations[1].codes.decay_u), (205, 4096));
    let Neuron::Lif { tau_m, tau_syn, .. } = m.populations[1].neuron else { panic!() };
    assert!((tau_m.expect("leaky") - 0.0195).abs() < 1e-3, "{tau_m:?}");
    assert_eq!(tau_syn, None, "code 4096 clears the current every step");
    assert_eq!(m.populations[2].codes.decay_u, 100);
    assert_eq!(m.rules[0].pre_traces[0].decay_code, 410);
    assert_eq!(codes("pop p = lif(n = 1, tau_m = 20 ms, decay_v = 205, v_th = 1)"), vec!["E0206"]);
    assert_eq!(codes("pop p = lif(n = 1, decay_v = 5000, v_th = 1)"), vec!["E0206"]);
}

#[test]
fn three_factor_rule_with_a_reward_signal() {
    ok(&format!("{NET}signal reward = list(changes = [[2 s, 1], [2100 ms, 0]])\nrule rstdp(eta = 0.01) {{\n trace x(tau = 20 ms) on pre += 1\n trace y(tau = 20 ms) on post += 1\n on post: tag += 1\n on pre: tag -= 1\n every step: w += eta * reward * tag\n every epoch: tag = 0\n bounds w in [0, 1]\n bounds tag in [-100, 100]\n}}\nsim {{ epoch = 1 s }}\nconnect src -> out weight = 0.5 plastic rstdp"));
}

#[test]
fn nested_lets_cannot_explode() {
    let mut body = String::from(" let a0 = pre.value\n");
    for k in 1..40 {
        body += &format!(" let a{k} = a{} * a{}\n", k - 1, k - 1);
    }
    let src = format!("{NET}rule r {{\n{body} every step: w += a39\n bounds w in [0, 1]\n}}\nconnect src -> out weight = 0.5 plastic r");
    assert!(codes(&src).contains(&"E0505"));
}

#[test]
fn zeroed_weights_are_an_error_unless_the_connect_allows_them() {
    let compile = |src: &str| {
        let m = ok(src);
        let opts = nm_compiler::passes::CompileOptions::new(m.target.spec.clone());
        driver::compile_model(&m, opts).map(|_| ())
    };
    let net = "input src = poisson(n = 200, rate = 5 Hz)\npop out = lif(n = 2, v_th = 1.0)\n";
    // Uniform in [0, 1): the few smallest weights fall below half an 8-bit LSB.
    let base = format!("{net}connect src -> out weight = uniform(0, 1, seed = 2)");
    let e = compile(&base).expect_err("weights that round to zero");
    let msg = e.to_string();
    assert!(msg.contains("round to zero") && msg.contains("zeroed = allow"), "{msg}");
    compile(&format!("{base} zeroed = allow")).expect("allowed explicitly");
    assert!(ok(&format!("{base} zeroed = allow")).projections[0].allow_zero);
    assert!(!ok(&format!("{base} zeroed = error")).projections[0].allow_zero);
    assert!(!codes(&format!("{base} zeroed = maybe")).is_empty(), "an unknown word is a diagnostic");
}

#[test]
fn rate_populations_take_initial_states() {
    let m = ok("pop r = rate(n = 3, tau = 2 ms, activation = tanh, v_init = [0.5, -1, 2])");
    let Neuron::Rate { v_init, .. } = &m.populations[0].neuron else { panic!() };
    assert_eq!(*v_init, InitValues::Each(vec![0.5, -1.0, 2.0]));
    let m = ok("pop r = rate(n = 4, tau = 2 ms, v_init = uniform(-2, 2), seed = 9)");
    let Neuron::Rate { v_init, .. } = &m.populations[0].neuron else { panic!() };
    assert_eq!(*v_init, InitValues::Uniform { lo: -2.0, hi: 2.0, seed: 9 });
    let m = ok("const a = 0.25\npop r = rate(n = 2, tau = 2 ms, v_init = a)");
    let Neuron::Rate { v_init, .. } = &m.populations[0].neuron else { panic!() };
    assert_eq!(*v_init, InitValues::Const(0.25));
    let m = ok("pop r = rate(n = 2, tau = 2 ms)");
    assert!(matches!(&m.populations[0].neuron, Neuron::Rate { v_init: InitValues::Const(v), .. } if *v == 0.0));
    assert_eq!(codes("pop r = rate(n = 3, tau = 2 ms, v_init = [1, 2])"), vec!["E0602"]);
    assert_eq!(codes("pop r = rate(n = 2, tau = 2 ms, v_init = uniform(2, -2))"), vec!["E0206"]);
    assert_eq!(codes("pop r = rate(n = 2, tau = 2 ms, v_init = [1 mV, 2 mV])"), vec!["E0301"]);
    assert_eq!(codes("pop r = rate(n = 2, tau = 2 ms, seed = 3)"), vec!["W0206"]);

    // The compiled program starts each neuron at its value (graded state: 4096 per unit).
    let checked = driver::check_source(
        "t.nm",
        "pop r = rate(n = 3, tau = 2 ms, activation = tanh, v_init = [0.5, -1, 2])\nrecord v(r)",
        None,
    );
    let model = checked.model.expect("checks");
    let (p, _) = driver::compile_model(&model, nm_compiler::passes::CompileOptions::new(model.target.spec.clone()))
        .expect("compiles");
    let v: Vec<i32> = p.cores.iter().flat_map(|c| c.neurons.iter().map(|n| n.v_init)).collect();
    assert_eq!(v, vec![2048, -4096, 8192]);
}
