//! Paper 4 float reference: Oja finds the first principal component (check B) and instar with
//! 1-WTA finds the cluster centres (check C), ideal and with 10 % learning-rate mismatch.

use nm_tests::reference::hebb_oja::{hebb, instar, oja, run_instar, run_oja, InstarConfig, OjaConfig};

#[test]
fn float_rules_are_the_papers_formulas() {
    assert_eq!(hebb(0.5, 2.0, 3.0, 7.0), 3.0);
    assert_eq!(instar(0.5, 2.0, 3.0, 1.0), 1.5);
    assert_eq!(oja(0.5, 2.0, 3.0, 0.5), 0.5 * 3.0 * (2.0 - 1.5));
}

#[test]
fn float_reference_oja_finds_the_first_principal_component() {
    for seed in 0..5u64 {
        for (name, cfg) in
            [("ideal", OjaConfig::paper()), ("10 % η mismatch", OjaConfig::paper().with_lr_mismatch(100 + seed, 0.1))]
        {
            let o = run_oja(&cfg, seed);
            eprintln!("oja seed {seed} {name}: |cos| {:.4}, |w| {:.4}", o.abs_cos, o.norm);
            assert!(o.abs_cos >= 0.93, "seed {seed} {name}: |cos(w, e1)| = {}", o.abs_cos);
            assert!((o.norm - 1.0).abs() <= 0.08, "seed {seed} {name}: |w| = {}", o.norm);
        }
    }
}

#[test]
fn float_reference_instar_finds_the_cluster_centres() {
    for seed in 0..5u64 {
        for (name, cfg) in [
            ("ideal", InstarConfig::paper()),
            ("10 % η mismatch", InstarConfig::paper().with_lr_mismatch(100 + seed, 0.1)),
        ] {
            let o = run_instar(&cfg, seed);
            eprintln!("instar seed {seed} {name}: min cos {:.5}, wins {:?}", o.min_cos, o.wins);
            assert!(o.all_claimed, "seed {seed} {name}: {:?}", o.assignment);
            assert!(o.min_cos >= 0.99, "seed {seed} {name}: {:?}", o.assignment);
        }
    }
}
