//! Every program in `programs/` passes `nmc check`, and the models of the learning-rule
//! programs say what their files say.

mod common;

use nm_compiler::driver;
use nm_compiler::front::model::*;
use nm_isa::learn::Src;

fn model(name: &str) -> Model {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../programs").join(name);
    let c = driver::check_file(&path).expect("readable");
    let text = nm_compiler::front::diag::render_human(&c.diagnostics, &c.sources);
    c.model.unwrap_or_else(|| panic!("{name} has errors:\n{text}"))
}

fn loads(e: &RExpr, out: &mut Vec<Src>) {
    match e {
        RExpr::Const(_) => {}
        RExpr::Load(s) => out.push(*s),
        RExpr::Neg(a) | RExpr::Abs(a) => loads(a, out),
        RExpr::Bin(_, a, b) | RExpr::Min(a, b) | RExpr::Max(a, b) => {
            loads(a, out);
            loads(b, out);
        }
    }
}

fn rule_loads(r: &Rule) -> Vec<Src> {
    let mut v = Vec::new();
    for h in &r.handlers {
        for u in &h.updates {
            loads(&u.value, &mut v);
        }
    }
    v
}

#[test]
fn every_program_checks_without_errors() {
    let all = common::programs();
    assert!(all.len() >= 11, "expected the 9 rule programs and 2 benchmarks, found {}", all.len());
    for p in all {
        let c = driver::check_file(&p).expect("readable");
        let text = nm_compiler::front::diag::render_human(&c.diagnostics, &c.sources);
        assert!(!c.diagnostics.has_errors(), "{}:\n{text}", p.display());
        assert!(c.model.is_some(), "{}", p.display());
    }
}

#[test]
fn every_learning_rule_has_its_program() {
    for name in [
        "hebb",
        "antihebb",
        "instar",
        "oja",
        "stdp",
        "stdp_select",
        "contrastive",
        "sal",
        "pitchfork",
        "bench/cuba",
        "bench/stdp",
    ] {
        let m = model(&format!("{name}.nm"));
        assert!(!m.populations.is_empty(), "{name}");
    }
}

#[test]
fn stdp_select_is_paper_one() {
    let m = model("stdp_select.nm");
    let InputKind::Poisson { rates } = &m.inputs[0].kind else { panic!("poisson input") };
    assert_eq!(rates, &vec![5.0, 8.0, 11.0, 14.0, 17.0, 20.0, 23.0, 26.0, 29.0, 40.0]);
    let Neuron::Lif { tau_m, v_th, .. } = &m.populations[0].neuron else { panic!("lif") };
    assert_eq!(*tau_m, None, "non-leaky");
    assert_eq!(*v_th, 3.0);
    assert_eq!(m.populations[0].codes.decay_v, 0);
    let r = &m.rules[0];
    assert_eq!(r.handlers[0].trigger, Trigger::Post);
    assert_eq!(r.handlers[0].updates[0].op, UpdateOp::Mul);
    let l = rule_loads(r);
    assert!(l.contains(&Src::LastPre) && l.contains(&Src::Rand), "{l:?}");
    let n = r.normalize.expect("normalised");
    assert_eq!((n.kind, n.value, n.trigger), (NormKind::Max, 1.0, Trigger::Post));
    assert_eq!(r.rounding, nm_isa::fixed_point::Rounding::Stochastic);
}

#[test]
fn contrastive_uses_a_random_phase_signal_and_clamps() {
    let m = model("contrastive.nm");
    let Schedule::Random { len, p_one, one, zero, .. } = &m.signals[0].schedule else { panic!("random schedule") };
    assert_eq!((*len, *p_one, *one, *zero), (PhaseLen::Fixed(50), 0.3, 1, 0));
    let data = &m.inputs[m.input("data").expect("data input")];
    assert_eq!(data.gate, Some((0, 1)));
    assert_eq!(data.channels, 6);
    let InputKind::Patterns { encoding, rows, present_steps, .. } = &data.kind else { panic!("patterns") };
    assert_eq!(*encoding, Encoding::Clamp);
    assert_eq!(*present_steps, 10, "each data row is held for tau steps");
    assert!(rows.iter().flatten().all(|&v| v == 0.0 || v == 1.0));
    assert!(matches!(m.populations[0].neuron, Neuron::Stochastic { clampable: true, tau_ref_steps: 10, .. }));
    let clamp = m.projections.iter().find(|p| p.mode == SynMode::Clamp).expect("clamp projection");
    assert_eq!(clamp.connectivity, Connectivity::OneToOne);
    let rec = &m.rules[m.projections[m.projection("recurrent").expect("recurrent")].rule.expect("plastic")];
    let l = rule_loads(rec);
    assert!(l.contains(&Src::Sig(0)) && l.contains(&Src::Xg) && l.contains(&Src::Yg), "{l:?}");
    assert_eq!(rec.handlers.iter().map(|h| h.trigger).collect::<Vec<_>>(), vec![Trigger::Step]);
}

#[test]
fn oja_reads_graded_values_and_has_its_own_eta() {
    let m = model("oja.nm");
    let r = &m.rules[0];
    assert_eq!(r.params, vec![("eta".to_string(), 0.005)]);
    let l = rule_loads(r);
    assert!(l.contains(&Src::Xg) && l.contains(&Src::Yg) && l.contains(&Src::W), "{l:?}");
    let InputKind::Patterns { rows, source: PatternSource::Gaussian { eigenvalues, .. }, .. } = &m.inputs[0].kind
    else {
        panic!("gaussian patterns")
    };
    assert_eq!(rows.len(), 20000);
    assert_eq!(eigenvalues.len(), 16);
    assert_eq!(&eigenvalues[..3], &[4.0, 2.0, 1.0]);
}

#[test]
fn sal_rule_uses_both_traces_on_both_events() {
    let m = model("sal.nm");
    assert_eq!(m.rules.len(), 1, "both projections share one instance");
    let r = &m.rules[0];
    assert_eq!(r.pre_traces.len(), 1);
    assert_eq!(r.post_traces.len(), 2, "y, and s marking a post spike in the previous step");
    assert_eq!(r.pre_traces[0].tau, Some(0.025));
    assert_eq!(r.post_traces[1].decay_code, 4095);
    assert_eq!(m.projections[0].sign, Sign::Mixed);
    assert!(matches!(m.populations[0].neuron, Neuron::Stochastic { tau_ref_steps: 25, clampable: false, .. }));
}

#[test]
fn cuba_is_in_volts() {
    let m = model("bench/cuba.nm");
    assert_eq!(m.sim.steps, 10_000);
    assert!((m.sim.dt - 1e-4).abs() < 1e-12);
    assert_eq!(m.populations.iter().map(|p| p.size).sum::<u32>(), 4000);
    assert_eq!(m.populations[0].volt_unit, VoltUnit::Volt);
    let Neuron::Lif { v_th, refractory_steps, .. } = &m.populations[0].neuron else { panic!("lif") };
    assert!((v_th + 0.050).abs() < 1e-12);
    assert_eq!(*refractory_steps, 50);
    assert!(matches!(m.projections[0].weights, WeightInit::Constant(w) if (w - 1.62e-3).abs() < 1e-12));
    assert!(matches!(m.projections[2].connectivity, Connectivity::FixedProb { p, seed: 12, .. } if p == 0.02));
    assert_eq!(m.projections[2].sign, Sign::Inhibitory);
    // Excitation on the first current (5 ms), inhibition on the second (10 ms), as in Brian2.
    let Neuron::Lif { tau_syn, tau_syn2, .. } = &m.populations[0].neuron else { panic!("lif") };
    assert_eq!((*tau_syn, *tau_syn2), (Some(0.005), Some(0.01)));
    assert_eq!(m.projections.iter().map(|p| p.current).collect::<Vec<_>>(), vec![0, 0, 1, 1]);
    assert!(matches!(m.projections[2].weights, WeightInit::Constant(w) if (w + 9e-3).abs() < 1e-12));
}
