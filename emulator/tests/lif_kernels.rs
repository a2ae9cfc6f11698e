//! The LIF kernels (scalar baseline, AVX2, AVX-512) give identical results: the split 32-bit
//! decay equals the widening one over every keep factor and a spread of values, each kernel
//! leaves the same core state after one update from random states, and whole CUBA runs give the
//! same spikes, stats and states with every kernel this CPU has.

use nm_emulator::bench::{cuba_with, Cuba};
use nm_emulator::core::{
    decay_keep, decay_keep_split, decay_keep_u, load_core, update_neurons, CoreState, Formats, LifKernel,
};
use nm_emulator::mismatch::CoreDeviations;
use nm_emulator::netbuild::{lif_profile, NetBuilder, Pre};
use nm_emulator::timing::CostTable;
use nm_emulator::{Emulator, RunConfig};
use nm_isa::neuron::NeuronConfig;
use nm_isa::program::SynKind;
use nm_isa::rng::HwRng;
use nm_isa::ChipSpec;
use proptest::prelude::*;

/// Edge values of `x` plus `extra` random ones.
fn xs(rng: &mut HwRng, extra: usize) -> Vec<i32> {
    let mut v = vec![0, 1, -1, 2, -2, i32::MAX, i32::MIN, i32::MIN + 1, i32::MAX - 1];
    for b in 1..31 {
        let p = 1i32 << b;
        v.extend([p, p - 1, p + 1, -p, -p + 1, -p - 1]);
    }
    v.extend((0..extra).map(|_| rng.next_u32() as i32));
    // Values of current / voltage size (up to 2^24), the usual range on the default chip.
    v.extend((0..extra).map(|_| (rng.next_u32() as i32) >> 7));
    v
}

#[test]
fn split_decay_equals_widening_decay_for_every_keep() {
    let mut rng = HwRng::new(7, 1);
    for bits in [4u32, 8, 12, 16] {
        let xs = xs(&mut rng, if bits == 16 { 40 } else { 400 });
        for keep in 0..=(1u32 << bits) {
            for &x in &xs {
                let w = decay_keep(x, keep as i32, bits);
                assert_eq!(decay_keep_u(x, keep, bits), w, "decay_keep_u x={x} keep={keep} bits={bits}");
                assert_eq!(decay_keep_split(x, keep, bits), w, "decay_keep_split x={x} keep={keep} bits={bits}");
            }
        }
    }
}

proptest! {
    #[test]
    fn split_decay_equals_widening_decay(x in any::<i32>(), bits in 4u32..=16, k in any::<u32>()) {
        let keep = k % ((1 << bits) + 1);
        prop_assert_eq!(decay_keep_split(x, keep, bits), decay_keep(x, keep as i32, bits));
        prop_assert_eq!(decay_keep_u(x, keep, bits), decay_keep(x, keep as i32, bits));
    }
}

/// One core of `n` neurons with random profiles (decay codes over the whole range, some with a
/// second current if `two`), biases, thresholds and a few synapses.
fn random_core(rng: &mut HwRng, n: u32, two: bool) -> nm_isa::program::Program {
    let chip = ChipSpec::default_profile();
    let dmax = 1u32 << chip.formats.decay_bits;
    let mut b = NetBuilder::new(chip, "lif-kernels", 100_000);
    let mut profs = Vec::new();
    for k in 0..4 {
        let code = |rng: &mut HwRng| match rng.next_u32() % 4 {
            0 => [0, 1, dmax - 1, dmax][rng.next_u32() as usize % 4],
            _ => rng.next_u32() % (dmax + 1),
        };
        let mut p =
            lif_profile(code(rng), code(rng), (rng.next_u32() % 6) as u16, (rng.next_u32() % 2000) as i32 - 1000);
        if two && k % 2 == 0 {
            p.decay_u2 = Some(code(rng));
        }
        profs.push(b.add_profile(0, p));
    }
    let g = b.add_group(0, 0, SynKind::Current, None, 0);
    let mut neurons = Vec::new();
    for _ in 0..n {
        let profile = profs[rng.next_u32() as usize % profs.len()];
        let v_th = (rng.next_u32() % 200_000) as i32 + 1;
        let bias = (rng.next_u32() % 40_000) as i32 - 20_000;
        let v_init = (rng.next_u32() % 400_000) as i32 - 200_000;
        neurons.push(b.add_neuron(0, NeuronConfig { profile, bias, v_th, v_init }));
    }
    for k in 0..n.min(8) {
        b.connect(
            Pre::Neuron(neurons[k as usize]),
            neurons[(k as usize + 1) % neurons.len()],
            b.acc_of_weight(50),
            1,
            g,
        );
    }
    b.build()
}

/// Random legal state: currents and voltages of the chip's formats (edges included), refractory
/// counters, and ring inputs of any 32-bit value.
fn randomize(rng: &mut HwRng, s: &mut CoreState, fm: &Formats) {
    let cur = 1i64 << (31 - fm.current_shift);
    let pick = |rng: &mut HwRng, lo: i64, hi: i64| -> i32 {
        match rng.next_u32() % 8 {
            0 => lo as i32,
            1 => hi as i32,
            _ => (lo + (u64::from(rng.next_u32()) % (hi - lo + 1) as u64) as i64) as i32,
        }
    };
    for x in s.u.iter_mut().chain(s.u2.iter_mut()) {
        *x = pick(rng, -cur, cur - 1);
    }
    for x in s.v.iter_mut() {
        *x = pick(rng, fm.vmin, fm.vmax);
    }
    for x in s.cnt.iter_mut() {
        *x = if rng.next_u32().is_multiple_of(3) { (rng.next_u32() % 6) as i32 } else { 0 };
    }
    for x in s.ring.iter_mut() {
        *x = match rng.next_u32() % 4 {
            0 => 0,
            1 => rng.next_u32() as i32,
            _ => (rng.next_u32() as i32) >> 12,
        };
    }
}

#[test]
fn kernels_leave_identical_core_states() {
    let kernels = LifKernel::available();
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        assert!(kernels.contains(&LifKernel::Avx2));
    }
    let chip = ChipSpec::default_profile();
    let costs = CostTable::new(&chip);
    let mut rng = HwRng::new(11, 2);
    let mut spikes = 0usize;
    for case in 0..60 {
        let n = 1 + rng.next_u32() % 300;
        let two = case % 3 == 0;
        let prog = random_core(&mut rng, n, two);
        let c = &prog.cores[0];
        let devs = CoreDeviations::draw(case, c.id.0, c.neurons.len(), c.synapses.len());
        let (p, mut s0) = load_core(&prog, c, devs, false, 1, 0).unwrap();
        assert!(p.keeps_fit, "case {case}: keep factors outside 0..=2^decay_bits");
        assert_eq!(p.two_currents, two);
        let mut fm = Formats::new(&prog.chip);
        assert!(fm.narrow);
        randomize(&mut rng, &mut s0, &fm);
        let t = u64::from(rng.next_u32() % 1000);
        let mut want: Option<CoreState> = None;
        // Every kernel of the 32-bit-lane loop, then the 64-bit loop (`narrow` off), which
        // sets the refractory count and collects the spikes inline: an independent reference
        // for the lane loop's blocks, its spike collection and its refractory fix-up.
        let runs = kernels.iter().map(|&k| (k, true)).chain([(LifKernel::Scalar, false)]);
        for (k, narrow) in runs {
            fm.lif_kernel = k;
            fm.narrow = narrow;
            let mut s = s0.clone();
            // Two updates: the second starts from states the first produced (resets, refractory).
            update_neurons(&p, &mut s, t, &fm, &prog.luts, &costs);
            spikes += s.spikes.len();
            update_neurons(&p, &mut s, t + 1, &fm, &prog.luts, &costs);
            match &want {
                None => want = Some(s),
                Some(w) => assert!(
                    *w == s,
                    "case {case} (n {n}, two currents {two}): {k:?} (narrow {narrow}) differs from Scalar"
                ),
            }
        }
    }
    assert!(spikes > 0, "the random states never fire: the test would not cover the reset path");
}

fn fingerprint(emu: &Emulator) -> String {
    let mut st = emu.stats();
    st.wall_time_s = 0.0;
    st.emulator_realtime_factor = 0.0;
    let mut cores = Vec::new();
    for ci in 0..emu.program().cores.len() {
        let u2 = emu.second_current(ci).map(<[i32]>::to_vec);
        cores.push(emu.neuron_state(ci).map(|(u, v, c)| (u.to_vec(), v.to_vec(), c.to_vec(), u2)));
    }
    format!("{:?}|{:?}|{:?}|{:?}", emu.recordings(), cores, st, emu.step_cycles())
}

#[test]
fn cuba_runs_are_identical_with_every_kernel() {
    for two in [false, true] {
        let prog = cuba_with(Cuba { n: 4000, steps: 2000, ..Cuba::default() }, two);
        let cfg = RunConfig { chip_seed: 3, noise_seed: 0, ideal: false, threads: 1, seed: None };
        let mut want: Option<String> = None;
        for k in LifKernel::available() {
            let mut emu = Emulator::new(&prog, cfg).unwrap();
            emu.set_lif_kernel(k);
            emu.run(2000);
            assert!(emu.stats().spikes > 1000, "CUBA should be active: {} spikes", emu.stats().spikes);
            let f = fingerprint(&emu);
            match &want {
                None => want = Some(f),
                Some(w) => assert!(*w == f, "two currents {two}: {k:?} differs from Scalar"),
            }
        }
    }
}

/// The trace decay over values of the trace format (`0 ..= max`): the one-multiply form where
/// `max · keep < 2^31`, `decay_slice` beyond; both equal `decay_keep`, at the edges of the range
/// too (the default chip's 7.8 traces, 16-bit traces at the limit, and wide traces).
#[test]
fn trace_decay_equals_decay_keep_over_the_trace_range() {
    let mut rng = HwRng::new(12, 5);
    for max in [32767i32, 65535, (1 << 19) - 1, 1 << 19, i32::MAX] {
        let mut base: Vec<i32> =
            (0..400).map(|_| (rng.next_u32() % (max as u32).saturating_add(1).max(1)) as i32).collect();
        base.extend([0, 1, 2, max - 1, max]);
        for keep in [0u32, 1, 2047, 4075, 4095, 4096] {
            let want: Vec<i32> = base.iter().map(|&x| decay_keep(x, keep as i32, 12)).collect();
            for kernel in LifKernel::available() {
                let mut got = base.clone();
                nm_emulator::core::decay_traces(&mut got, keep, 12, max, kernel);
                assert_eq!(got, want, "max {max}, keep {keep}, {kernel:?}");
            }
        }
    }
}

#[test]
fn trace_decay_slice_equals_decay_keep_with_every_kernel() {
    let mut rng = HwRng::new(11, 3);
    let base = xs(&mut rng, 300);
    for bits in [8u32, 12, 16] {
        for keep in [0u32, 1, 2, 3, (1 << bits) / 3, (1 << bits) - 20, (1 << bits) - 1, 1 << bits] {
            let want: Vec<i32> = base.iter().map(|&x| decay_keep(x, keep as i32, bits)).collect();
            for kernel in LifKernel::available() {
                let mut got = base.clone();
                nm_emulator::core::decay_slice(&mut got, keep, bits, kernel);
                assert_eq!(got, want, "bits {bits}, keep {keep}, {kernel:?}");
            }
        }
    }
}
