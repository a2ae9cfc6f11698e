//! A calibrated population on a mismatched chip fires like the ideal chip: each neuron of a
//! bias-driven LIF population (no synapses) is measured on chip instance `s`, the correction is
//! applied, and every neuron's spike count must then lie within ±5 % of the ideal chip's (it is
//! off by up to tens of % uncalibrated). Chip seeds are drawn by proptest.

use nm_emulator::calibrate::{apply, calibrate};
use nm_emulator::netbuild::{lif_profile, NetBuilder};
use nm_emulator::{Emulator, RunConfig};
use nm_isa::neuron::NeuronConfig;
use nm_isa::program::Program;
use nm_isa::ChipSpec;
use proptest::prelude::*;

const STEPS: u64 = 4000;

fn population() -> Program {
    let mut b = NetBuilder::new(ChipSpec::default_profile(), "calpop", 100_000);
    let p = b.add_profile(0, lif_profile(4096, 82, 5, 0));
    for _ in 0..48 {
        // Steady state 1.5 × threshold: a regular firing rate that depends on threshold, leak, bias.
        b.add_neuron(0, NeuronConfig { profile: p, bias: 1200, v_th: 40_000, v_init: 0 });
    }
    b.build()
}

fn counts(p: &Program, chip_seed: u64, ideal: bool) -> Vec<u32> {
    let cfg = RunConfig { chip_seed, noise_seed: 0, ideal, threads: 1, seed: None };
    let mut emu = Emulator::new(p, cfg).unwrap();
    let mut c = vec![0u32; 48];
    for _ in 0..STEPS {
        emu.step();
        for &i in emu.last_spikes(0) {
            c[i as usize] += 1;
        }
    }
    c
}

fn worst(c: &[u32], ideal: &[u32]) -> f64 {
    c.iter().zip(ideal).map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs() / f64::from(b)).fold(0.0, f64::max)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, .. ProptestConfig::default() })]

    #[test]
    fn calibrated_population_fires_like_the_ideal_chip(chip_seed in 0u64..10_000) {
        let p = population();
        let ideal = counts(&p, 0, true);
        prop_assert!(ideal[0] > 20);
        let raw = counts(&p, chip_seed, false);
        let cal = calibrate(&p, chip_seed).unwrap();
        let fixed = counts(&apply(&p, &cal).unwrap(), chip_seed, false);
        let (w_raw, w_fixed) = (worst(&raw, &ideal), worst(&fixed, &ideal));
        prop_assert!(w_raw > 0.10, "uncalibrated spread unexpectedly small: {w_raw}");
        prop_assert!(w_fixed <= 0.05, "calibrated worst deviation {w_fixed} (uncalibrated {w_raw})");
    }
}
