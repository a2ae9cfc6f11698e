//! Paper 1 float reference: Hebbian STDP selects the most active input (criteria of
//! `learning-rules.md`, float column), and the same model with 10 % mismatch.

use nm_tests::reference::stdp_select::{run, summarise, Config, Outcome};

fn runs(make: impl Fn(u64) -> Config) -> Vec<Outcome> {
    (0..40u64).map(|s| run(&make(s), s)).collect()
}

#[test]
fn float_reference_selects_the_most_active_input() {
    let cfg = Config::paper();
    let outs = runs(|_| Config::paper());
    let s = summarise(&outs, cfg.alpha);
    eprintln!("paper 1 float: {s:?}");
    assert!(s.correct >= 39, "winner = argmax λ in {}/40 seeds", s.correct);
    assert!(s.median_spikes_to_99 <= 1800.0, "median post spikes to p_max ≥ 0.99: {}", s.median_spikes_to_99);
    for (seed, o) in outs.iter().enumerate() {
        let r = o.tail_slope / cfg.alpha;
        assert!((-1.1..=-0.8).contains(&r), "seed {seed}: tail slope {r} α");
        // The trajectory the figure shows starts at the equal-weight value and ends at the vertex.
        assert!((o.p_max[0] - 40.0 / 193.0).abs() < 1e-12);
        assert!(*o.p_max.last().unwrap_or(&0.0) > 0.999);
    }
}

#[test]
fn mismatch_reference_selects_argmax_of_rate_times_gain() {
    // Efficacy gains g_i and learning-rate gains a_i, 10 % each, chip seed 1000 + seed. The
    // learning-rate gains also bias the race (log w_i grows like α a_i p_i), so the float model
    // itself stays below the chip criterion of 34/40 (measured 33/40 here; 32–36 over five
    // seed sets); efficacy-only mismatch gives 37–39/40. The reference must still pick a close
    // runner-up at worst and converge at the α-rate.
    let outs = runs(|s| Config::with_mismatch(1000 + s, 0.1));
    let s = summarise(&outs, 0.01);
    eprintln!("paper 1 float + 10 % mismatch: {s:?}");
    assert!(s.correct >= 30, "winner = argmax λg in {}/40 seeds", s.correct);
    assert!(s.median_spikes_to_99 <= 1800.0);
    for (seed, o) in outs.iter().enumerate() {
        let cfg = Config::with_mismatch(1000 + seed as u64, 0.1);
        let drive: Vec<f64> = cfg.rates.iter().zip(&cfg.efficacy_gain).map(|(l, g)| l * g).collect();
        let best = drive.iter().copied().fold(f64::MIN, f64::max);
        // A wrong winner is always a close runner-up (its λg within 40 % of the best; measured ≥ 0.69).
        assert!(drive[o.winner] >= 0.6 * best, "seed {seed}: winner {} drive {:?}", o.winner, drive);
        let r = o.tail_slope / 0.01;
        assert!((-1.3..=-0.6).contains(&r), "seed {seed}: tail slope {r} α");
    }
    let eff_only = runs(|s| {
        let mut c = Config::with_mismatch(1000 + s, 0.1);
        c.alpha_gain = vec![1.0; c.rates.len()];
        c
    });
    let e = summarise(&eff_only, 0.01);
    eprintln!("paper 1 float + 10 % efficacy mismatch only: {e:?}");
    assert!(e.correct >= 36, "winner = argmax λg in {}/40 seeds", e.correct);
}

#[test]
fn fixed_point_sketch_needs_a_stochastic_rescale() {
    // The chip program of README.md in integer arithmetic. With the rescale rounded to nearest
    // (today's `wscale`) the losers' accumulators stall near 50 units and the tail slope
    // collapses far outside the 8-bit band [−1.1α, −0.45α]; with stochastic rounding it holds
    // the winner and approximately the band.
    use nm_tests::reference::stdp_select::{run_fixed_point, RescaleRounding};
    let seeds = 0..20u64;
    let near: Vec<Outcome> = seeds.clone().map(|s| run_fixed_point(s, RescaleRounding::Nearest)).collect();
    let stoch: Vec<Outcome> = seeds.map(|s| run_fixed_point(s, RescaleRounding::Stochastic)).collect();
    let (n, s) = (summarise(&near, 0.01), summarise(&stoch, 0.01));
    eprintln!("paper 1 fixed point, wscale nearest: {n:?}");
    eprintln!("paper 1 fixed point, wscale stochastic: {s:?}");
    assert!(n.slope_over_alpha_min > -0.45, "nearest rescale: steepest slope {} α", n.slope_over_alpha_min);
    assert!(s.correct >= 18, "{}", s.correct);
    assert!(s.median_spikes_to_99 <= 1800.0);
    let in_band = stoch.iter().filter(|o| (-1.1..=-0.45).contains(&(o.tail_slope / 0.01))).count();
    assert!(in_band >= 16, "{in_band}/20 slopes in the 8-bit band");
}
