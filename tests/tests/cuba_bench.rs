//! The CUBA benchmark (Vogels & Abbott 2005) on the ideal chip with two synaptic currents per LIF
//! neuron (τe = 5 ms, τi = 10 ms) against Brian2's mean rate and CV of inter-spike intervals:
//! the compiled `programs/bench/cuba.nm` and the hand-mapped `nm_emulator::bench::cuba_with` network (both within 10 %); plus the second
//! current's semantics, its diagnostics and the format-version compatibility. ~1.6 s in release.
//!
//! Brian2 reference (measured 2026-12-01 on this machine, Brian2 2.9.0 C++ standalone, model of
//! `/work/shared/bench/reference/cuba_brian.py`):
//! - `/work/shared/bench/reference.sh cuba 4000` (seed 1): 22 463 spikes, **5.616 Hz** (it prints
//!   no CV; NEST 3.10 in the same call: 5.642 Hz).
//! - `~/.cache/nm-bench/venv/bin/python programs/bench/cuba_brian_stats.py --seeds 1 2 3` (the same
//!   model, CV computed as `nm_emulator::bench::rate_and_cv` does: per neuron with ≥ 3 spikes,
//!   population s.d. of its ISIs over their mean, averaged): seed 1 22 463 spikes, 5.616 Hz,
//!   **CV 0.527**; seeds 2, 3: see `BRIAN2_*` below. Seeds 1–5 of an earlier run with the seed
//!   drawn before `set_device` (other networks): 5.50–5.82 Hz, CV 0.523–0.536.
//!
//! The chip's network is its own draw (`fixed_prob` seeds 10–13, `v_init` seeds 2, 3), so it is a
//! different realisation of the same random network: the comparison is statistical, and the
//! seed-to-seed spread of Brian2 itself (±3 % in rate, ±1.3 % in CV) is part of the 10 % budget.

use nm_emulator::bench::rate_and_cv;
use nm_tests::chip;

/// Brian2's mean rate (Hz), seed 1 (see the module doc).
const BRIAN2_RATE_HZ: f64 = 5.61575;
/// Brian2's mean CV of ISIs, seed 1 (see the module doc).
const BRIAN2_CV: f64 = 0.5152;

/// Rate and CV of the whole network from the two spike recordings (inh ids follow exc ids).
fn stats(emu: &nm_emulator::Emulator, steps: u64) -> (f64, f64, usize) {
    let recs = &emu.recordings().spikes;
    let (mut times, mut ids) = (Vec::new(), Vec::new());
    let mut offset = 0;
    for pop in ["exc", "inh"] {
        let r = recs.iter().find(|r| r.population == pop).expect("spike recording");
        times.extend_from_slice(&r.times);
        ids.extend(r.ids.iter().map(|&i| i + offset));
        offset += if pop == "exc" { 3200 } else { 800 };
    }
    let (rate, cv) = rate_and_cv(&times, &ids, 4000, steps, 1e-4);
    (rate, cv, times.len())
}

/// The one-current mapping this benchmark used before the chip had a second current: both
/// synapse types share τ = 5 ms and the inhibitory weight is doubled (same charge per spike).
fn one_current_variant(text: &str) -> String {
    text.replace(", tau_syn2 = 10 ms", "").replace("weight = -9 mV current = 2", "weight = -18 mV")
}

/// CV of ISIs and mean rate within 10 % of Brian2's on the ideal chip.
///
/// Measured here (program seed 1, ideal chip): 24 459 spikes, 6.115 Hz (+8.9 %). History of the
/// rate: one synaptic current (both types τ = 5 ms, inhibition doubled) 7.0 Hz (+25 %); two
/// currents 6.64 Hz (+18 %); the compiler then took the `v_rest` bias and the weight factor from
/// the quantized membrane decay code (20/4096, τ = 20.43 ms: before, the chip rested 0.24 mV
/// above −49 mV) 6.33 Hz (+13 %), and a finer voltage scale (4 instead of 6 bits of headroom above
/// the largest voltage parameter: 52 429 instead of 13 107 units/mV, so the current decay's
/// truncation toward zero loses 4× less) 6.115 Hz. The remaining excess: the chip's update order
/// and exponential-Euler currents (+3 % in a float model with exact τm) and network draws
/// (5.98–6.69 Hz over four network seeds before the last two fixes; Brian2's own seeds ±3 %).
#[test]
fn cuba_rate_and_cv_against_brian2_on_the_ideal_chip() {
    let text = chip::program_text("bench/cuba.nm");
    let program = chip::compile("cuba.nm", &text);
    // The inhibitory projections feed the second current; every profile has one (10 ms).
    assert_eq!(program.format_version(), 2);
    assert!(program.cores.iter().all(|c| c.profiles.iter().all(|p| p.decay_u2.is_some())));
    let names: Vec<&str> = program.symbols.projections.iter().map(|p| p.name.as_str()).collect();
    for c in &program.cores {
        for g in &c.groups {
            let inh = names[g.proj.index()].starts_with("inh");
            assert_eq!(g.current, u8::from(inh), "group of `{}`", names[g.proj.index()]);
        }
    }
    let steps = program.meta.steps;
    assert_eq!(steps, 10_000);
    let emu = chip::run(&program, chip::config(0, true, None), None);
    let (rate, cv, spikes) = stats(&emu, steps);
    let (dr, dc) = (rate / BRIAN2_RATE_HZ - 1.0, cv / BRIAN2_CV - 1.0);
    let one = chip::compile("cuba_one_current.nm", &one_current_variant(&text));
    assert_eq!(one.format_version(), 1);
    let (rate1, cv1, spikes1) = stats(&chip::run(&one, chip::config(0, true, None), None), steps);
    let dr1 = rate1 / BRIAN2_RATE_HZ - 1.0;
    println!(
        "CUBA ideal chip (program seed {}, fixed_prob seeds 10-13, v_init seeds 2, 3): two currents {spikes} spikes, \
         rate {rate:.3} Hz ({:+.1} % vs Brian2 {BRIAN2_RATE_HZ}), CV {cv:.3} ({:+.1} % vs Brian2 {BRIAN2_CV}); \
         one current (shared 5 ms, inhibition doubled) {spikes1} spikes, rate {rate1:.3} Hz ({:+.1} %), CV {cv1:.3}",
        program.meta.seed,
        100.0 * dr,
        100.0 * dc,
        100.0 * dr1
    );
    assert!(dc.abs() <= 0.10, "CV {cv:.3} is {:+.1} % from Brian2's {BRIAN2_CV}", 100.0 * dc);
    assert!(dr.abs() < dr1.abs(), "two currents ({rate:.3} Hz) are not closer to Brian2 than one ({rate1:.3} Hz)");
    assert!(dr.abs() <= 0.10, "rate {rate:.3} Hz is {:+.1} % from Brian2's {BRIAN2_RATE_HZ}", 100.0 * dr);
}

/// The same network built directly as a chip program (`nm_emulator::bench::cuba_with(.., true)`,
/// what `nmemu-bench --two-currents` runs): 16 384 units/mV, the `E_l` bias computed from the
/// quantized membrane decay code (20/4096) and per-step weights `w · dt/τm`, fan-in Bernoulli
/// with p = 80/4000 drawn from seed 1. On the ideal chip it meets both criteria: measured
/// 23 662 spikes, 5.916 Hz (+5.3 %), CV 0.508 (−1.4 %). This is the chip's two-current neuron
/// meeting the benchmark; the gap of the compiled `cuba.nm` is the compiler's LIF mapping.
#[test]
fn hand_mapped_cuba_with_two_currents_is_within_10_percent_of_brian2() {
    let c = nm_emulator::bench::Cuba::default();
    let program = nm_emulator::bench::cuba_with(c, true);
    assert_eq!(program.format_version(), 2);
    let emu = chip::run(&program, chip::config(0, true, None), Some(c.steps));
    let rec = &emu.recordings().spikes[0];
    let (rate, cv) = rate_and_cv(&rec.times, &rec.ids, c.n as usize, c.steps, 1e-4);
    let (dr, dc) = (rate / BRIAN2_RATE_HZ - 1.0, cv / BRIAN2_CV - 1.0);
    println!(
        "hand-mapped CUBA, two currents, ideal chip (network seed {}): {} spikes, rate {rate:.3} Hz ({:+.1} %), CV {cv:.3} ({:+.1} %)",
        c.seed,
        rec.times.len(),
        100.0 * dr,
        100.0 * dc
    );
    assert!(dr.abs() <= 0.10, "rate {rate:.3} Hz is {:+.1} % from Brian2's {BRIAN2_RATE_HZ}", 100.0 * dr);
    assert!(dc.abs() <= 0.10, "CV {cv:.3} is {:+.1} % from Brian2's {BRIAN2_CV}", 100.0 * dc);
}

/// One spike into each current of one neuron: `u` decays with τ = 5 ms, `u2` with 10 ms, both
/// exactly as `decay(x, d) = x·(D − d)/D` truncated, and the voltage integrates their sum.
#[test]
fn second_current_decays_with_its_own_time_constant() {
    let text = "target default\nsim { dt = 0.1 ms; duration = 30 ms; seed = 0 }\n\
        input kick = spikes(n = 1, times = [[0, 0 steps]])\n\
        pop p = lif(n = 1, tau_m = inf, tau_syn = 5 ms, tau_syn2 = 10 ms, v_th = 1000)\n\
        connect a: kick -> p one_to_one weight = 1\n\
        connect b: kick -> p one_to_one weight = 1 current = 2\n";
    let program = chip::compile("two_currents.nm", text);
    let prof = &program.cores[0].profiles[0];
    let (du, du2) = (prof.decay_u, prof.decay_u2.expect("second current"));
    assert!(du2 < du, "decay codes {du} (5 ms) and {du2} (10 ms)");
    let mut emu = nm_emulator::Emulator::new(&program, chip::config(0, true, None)).expect("load");
    emu.run(2);
    let u0 = emu.neuron_state(0).expect("core").0[0];
    let u20 = emu.second_current(0).expect("core")[0];
    assert!(u0 > 0 && u0 == u20, "both currents got the same kick: {u0}, {u20}");
    let bits = program.chip.formats.decay_bits;
    let decay = |x: i32, d: u32| ((i64::from(x) * i64::from((1u32 << bits) - d)) / (1i64 << bits)) as i32;
    let (mut eu, mut eu2) = (u0, u20);
    let mut v_expected = i64::from(emu.neuron_state(0).expect("core").1[0]);
    for _ in 0..100 {
        emu.run(1);
        eu = decay(eu, du);
        eu2 = decay(eu2, du2);
        v_expected += i64::from(eu) + i64::from(eu2);
        let (u, v, _) = emu.neuron_state(0).expect("core");
        assert_eq!((u[0], emu.second_current(0).expect("core")[0]), (eu, eu2));
        assert_eq!(i64::from(v[0]), v_expected);
    }
    // The codes are those of 5 ms and 10 ms at dt = 0.1 ms: round(2^bits · (1 − e^(−dt/τ))).
    let code = |tau_ms: f64| (f64::from(1u32 << bits) * (1.0 - (-0.1 / tau_ms).exp())).round() as u32;
    assert_eq!((du, du2), (code(5.0), code(10.0)));
    assert!(eu2 > eu, "after 10 ms the 10 ms current ({eu2}) outlasts the 5 ms one ({eu})");
}

#[test]
fn current_2_needs_a_second_current_on_the_post_population() {
    let text = "target default\nsim { dt = 0.1 ms; duration = 1 ms }\n\
        input kick = spikes(n = 1, times = [[0, 0 steps]])\n\
        pop p = lif(n = 1, tau_m = 20 ms, tau_syn = 5 ms, v_th = 1)\n\
        connect kick -> p one_to_one weight = 1 current = 2\n";
    let checked = nm_compiler::driver::check_source("bad.nm", text, None);
    assert!(checked.model.is_none());
    let d = checked.diagnostics.list.iter().find(|d| d.code == "E0206").expect("an E0206 diagnostic");
    assert!(d.message.contains("no second synaptic current"), "{}", d.message);
    let text3 = text.replace("current = 2", "current = 3");
    assert!(nm_compiler::driver::check_source("bad.nm", &text3, None).model.is_none());
}

/// Programs without a second current are written as format version 1, byte for byte as before;
/// a two-current program is version 2 and round-trips.
#[test]
fn format_version_follows_the_second_current() {
    let one = chip::compile("stdp_select.nm", &chip::program_text("stdp_select.nm"));
    assert_eq!(one.format_version(), 1);
    let bytes = nm_isa::binary::encode(&one);
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1);
    assert_eq!(nm_isa::binary::decode(&bytes).expect("decode"), one);
    let text = "target default\nsim { dt = 0.1 ms; duration = 1 ms }\n\
        input kick = spikes(n = 1, times = [[0, 0 steps]])\n\
        pop p = lif(n = 2, tau_m = 20 ms, tau_syn = 5 ms, tau_syn2 = 10 ms, v_th = 1)\n\
        connect kick -> p all_to_all weight = -1 current = 2\n";
    let two = chip::compile("two.nm", text);
    let bytes = nm_isa::binary::encode(&two);
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 2);
    assert_eq!(nm_isa::binary::decode(&bytes).expect("decode"), two);
}
