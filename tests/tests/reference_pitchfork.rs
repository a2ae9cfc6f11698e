//! Paper 5 float reference: the attractor count of the two-neuron plastic rate network against
//! the plasticity gain k (ideal-chip criteria of `learning-rules.md`).

use nm_tests::reference::pitchfork::{critical_k, equilibrium, onset, sweep, Config};

#[test]
fn float_reference_pitchfork() {
    let cfg = Config::paper();
    let res = sweep(&cfg, 1);
    for r in &res {
        eprintln!("k = {:5.1}: {} end state(s), {} unconverged", r.k, r.states.len(), r.unconverged);
        assert_eq!(r.unconverged, 0, "k = {}", r.k);
        if r.k >= -6.0 {
            assert_eq!(r.states.len(), 1, "k = {}", r.k);
        }
        if r.k <= -7.0 {
            assert_eq!(r.states.len(), 2, "k = {}", r.k);
            // The two states are mirror images.
            let (a, b) = (r.states[0].0, r.states[1].0);
            assert!((a[0] - b[1]).abs() < 1e-6 && (a[1] - b[0]).abs() < 1e-6 && (a[2] - b[2]).abs() < 1e-6);
        }
    }
    let k_on = onset(&res).expect("a pitchfork in the sweep");
    eprintln!("onset at k = {k_on}");
    assert!((k_on - -6.54).abs() <= 0.5, "onset {k_on}");
}

#[test]
fn float_reference_equilibria_match_the_quoted_values() {
    let cfg = Config::paper();
    let close = |s: [f64; 3], e: [f64; 3]| (0..3).all(|i| (s[i] - e[i]).abs() <= 0.005);
    let s = equilibrium(0.0, [0.3, -0.2, 0.5], &cfg);
    assert!(close(s, [1.0, 1.0, 0.0]), "{s:?}");
    let s = equilibrium(-6.0, [0.3, -0.2, 0.5], &cfg);
    assert!(close(s, [0.477, 0.477, -1.18]), "{s:?}");
    let s = equilibrium(-10.0, [0.0, 1.0, -1.0], &cfg);
    assert!(close(s, [0.200, 0.751, -1.257]), "{s:?}");
    let s = equilibrium(-10.0, [1.0, 0.0, -1.0], &cfg);
    assert!(close(s, [0.751, 0.200, -1.257]), "{s:?}");
}

#[test]
fn critical_gain_is_minus_6_54() {
    let (k, x) = critical_k(1.0);
    eprintln!("k* = {k:.4}, x* = {x:.4}");
    assert!((k - -6.54).abs() < 0.005, "{k}");
    // Just above k* the sweep sees one state, just below two.
    let cfg = Config::paper();
    let near = |k: f64| nm_tests::reference::pitchfork::attractors(k, &cfg, 2).states.len();
    assert_eq!(near(k + 0.1), 1);
    assert_eq!(near(k - 0.3), 2);
}
