//! Paper 3 float reference: SAL symmetrises reciprocal weights (check A, two neurons) and bounds
//! the asymmetry drift of a sampling network learning a Boltzmann machine under STDP amplitude
//! noise (check B).

use nm_tests::reference::median;
use nm_tests::reference::sal::{run_check_a, run_check_b, CheckA, CheckB};

const SEEDS_A: u64 = 8;

#[test]
fn check_a_two_neurons() {
    // The document names no seed count for check A. Every seed must meet the transient bounds;
    // the stationary asymmetry fluctuates (float: median over epochs 900–1500 of 0.013–0.063
    // over seeds 0..12, one seed above 0.06), so the stationary bounds must hold in all but one
    // of the seeds.
    let mut stationary_misses = 0;
    let mut frozen_misses = 0;
    for seed in 0..SEEDS_A {
        let o = run_check_a(&CheckA::paper(), seed);
        let (a600, med) = (o.asym(600), o.median_asym(900, 1500));
        let mut frozen = CheckA::paper();
        frozen.freeze_w01 = true;
        let f = run_check_a(&frozen, seed);
        let w10 = *f.w10.last().unwrap_or(&f64::NAN);
        eprintln!(
            "check A seed {seed}: |W01−W10| at 600 {a600:.4}, median 900–1500 {med:.4}, sum drift {:.1e}; frozen W01: W10 → {w10:.4}",
            o.max_sum_drift()
        );
        assert!(a600 <= 0.10, "seed {seed}: asymmetry at epoch 600 {a600}");
        assert!(o.asym(0) > 0.9, "starts asymmetric");
        assert!(o.max_sum_drift() <= 0.01, "seed {seed}: sum drift {}", o.max_sum_drift());
        stationary_misses += usize::from(med > 0.06);
        frozen_misses += usize::from((w10 - 1.5).abs() > 0.1);
    }
    assert!(stationary_misses <= 1, "{stationary_misses} seeds with median asymmetry > 0.06");
    assert!(frozen_misses <= 1, "{frozen_misses} seeds with |W10 − 1.5| > 0.1");
}

#[test]
fn check_a_with_amplitude_mismatch() {
    let mut stationary_misses = 0;
    for seed in 0..SEEDS_A {
        let o = run_check_a(&CheckA::paper().with_amp_mismatch(100 + seed, 0.1), seed);
        let (a600, med) = (o.asym(600), o.median_asym(900, 1500));
        eprintln!("check A + 10 % amplitude mismatch seed {seed}: at 600 {a600:.4}, median 900–1500 {med:.4}");
        assert!(a600 <= 0.10, "seed {seed}: {a600}");
        stationary_misses += usize::from(med > 0.06);
    }
    assert!(stationary_misses <= 1, "{stationary_misses} seeds with median asymmetry > 0.06");
}

fn check_b(eta: f64, epochs: usize, max_ratio: f64) {
    let (mut without, mut with, mut kl_without, mut kl_with) = (vec![], vec![], vec![], vec![]);
    for seed in 0..4u64 {
        let a = run_check_b(&CheckB::paper(eta, epochs, false), seed);
        let b = run_check_b(&CheckB::paper(eta, epochs, true), seed);
        eprintln!(
            "check B η={eta} target {seed}: var(W−Wᵀ) {:.4} without vs {:.4} with SAL; sampled KL {:.4} vs {:.4}; max|W| {:.2} vs {:.2}",
            a.tail_asym_var, b.tail_asym_var, a.sampled_kl, b.sampled_kl, a.max_abs_w, b.max_abs_w
        );
        assert_eq!(b.clipped, 0, "target {seed}: a weight reached the clip with SAL");
        without.push(a.tail_asym_var);
        with.push(b.tail_asym_var);
        kl_without.push(a.sampled_kl);
        kl_with.push(b.sampled_kl);
    }
    let ratio = median(&with) / median(&without);
    eprintln!(
        "check B η={eta}: asymmetry ratio {ratio:.3}, median KL {:.4} vs {:.4}",
        median(&kl_without),
        median(&kl_with)
    );
    assert!(ratio <= max_ratio, "asymmetry ratio {ratio}");
    assert!(median(&kl_with) <= 1.1 * median(&kl_without), "KL with SAL {:?} vs without {:?}", kl_with, kl_without);
}

#[test]
fn check_b_eta_0_01() {
    check_b(0.01, 2000, 0.5);
}

#[test]
fn check_b_eta_0_03() {
    check_b(0.03, 3000, 0.2);
}

#[test]
fn check_b_with_the_chip_gain_model_has_no_drift() {
    // The chip's per-synapse mismatch is a learning-rate gain on the whole weight write, target
    // term included. Then the task rule's fixed point (⟨zz⟩_target = Ŝ) is unchanged and the
    // antisymmetric part has nothing to drift on: the without-SAL asymmetry stays tiny, so the
    // document's with/without comparison needs an amplitude mismatch on the pairing terms only.
    for seed in 0..2u64 {
        let mut cfg = CheckB::paper(0.01, 2000, false);
        cfg.amp_on_target = true;
        let o = run_check_b(&cfg, seed);
        let doc = run_check_b(&CheckB::paper(0.01, 2000, false), seed);
        eprintln!(
            "check B target {seed}, no SAL: var(W−Wᵀ) {:.5} with gain on the whole update vs {:.4} with noise on Ŝ only",
            o.tail_asym_var, doc.tail_asym_var
        );
        assert!(o.tail_asym_var < 0.01 && o.tail_asym_var < 0.2 * doc.tail_asym_var, "{}", o.tail_asym_var);
    }
}

#[test]
fn check_a_with_the_chip_timing() {
    // The chip delivers a pre spike one step late and counts a same-step post spike as earlier
    // than the arrival. Taken naively (equal amplitudes), pairs are no longer antisymmetric and
    // the sum W01 + W10 collapses (measured −65 %); the asymmetry still shrinks. Scaling
    // potentiation by e^{2/τ} fixes every pair but the same-step ones (sum still drifts ~25 %).
    let e2 = (2.0f64 / 25.0).exp();
    for seed in 0..2u64 {
        let mut naive = CheckA::paper();
        naive.chip_timing = Some(1.0);
        let o = run_check_a(&naive, seed);
        let mut comp = CheckA::paper();
        comp.chip_timing = Some(e2);
        let c = run_check_a(&comp, seed);
        eprintln!(
            "chip timing seed {seed}: equal amplitudes: sum drift {:.3}, asym at 600 {:.4}; potentiation × e^(2/τ): sum drift {:.3}, asym at 600 {:.4}",
            o.max_sum_drift(),
            o.asym(600),
            c.max_sum_drift(),
            c.asym(600)
        );
        assert!(o.asym(600) <= 0.10 && c.asym(600) <= 0.10);
        assert!(o.max_sum_drift() > 0.3, "{}", o.max_sum_drift());
        assert!(c.max_sum_drift() > 0.05 && c.max_sum_drift() < o.max_sum_drift());
    }
}
