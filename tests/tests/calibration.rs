//! Mismatch-aware compilation end to end: a bias-driven LIF population written in `.nm` is
//! compiled, one chip instance is measured by the virtual calibration (`nmemu calibrate`), the
//! calibration file is written and read back as `nmc compile --calibration` reads it, the program
//! is recompiled with it, and on that chip instance the population then fires like the ideal chip.

use nm_compiler::driver;
use nm_emulator::calibrate::calibrate;
use nm_isa::calibration::{apply, check_fits};
use nm_isa::Program;
use nm_tests::chip;

const SRC: &str = "target default { mismatch = 10%; chip_seed = 11 }
sim { dt = 0.1 ms; duration = 2 s; seed = 1 }
pop p = lif(n = 64, tau_m = 20 ms, v_th = -50 mV, v_reset = -60 mV, v_rest = -60 mV, bias = 15 mV,
            refractory = 2 ms)
record spikes(p)
";

fn counts(p: &Program, chip_seed: u64, ideal: bool) -> Vec<u32> {
    let emu = chip::run(p, chip::config(chip_seed, ideal, None), None);
    let mut c = vec![0u32; 64];
    for &i in &emu.recordings().spikes[0].ids {
        c[i as usize] += 1;
    }
    c
}

fn worst(c: &[u32], ideal: &[u32]) -> f64 {
    c.iter().zip(ideal).map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs() / f64::from(b)).fold(0.0, f64::max)
}

#[test]
fn compiling_with_a_calibration_cancels_that_chips_mismatch() {
    let p = chip::compile("cal.nm", SRC);
    let ideal = counts(&p, 0, true);
    assert!(ideal.iter().all(|&c| c == ideal[0] && c > 60), "ideal chip: every neuron alike, {ideal:?}");
    for chip_seed in [11u64, 12] {
        let raw = counts(&p, chip_seed, false);
        let cal = calibrate(&p, chip_seed).expect("calibrate");
        // Through the file, as the two tools exchange it.
        let path = std::env::temp_dir().join(format!("nm-cal-{}-{chip_seed}.cal", std::process::id()));
        std::fs::write(&path, serde_json::to_string_pretty(&cal).expect("json")).expect("write");
        let back = driver::read_calibration(&path).expect("nmc reads the calibration");
        let _ = std::fs::remove_file(&path);
        assert_eq!(back, cal);
        check_fits(&p, &back).expect("measured on this program's neurons");
        let fixed = counts(&apply(&p, &back).expect("apply"), chip_seed, false);
        let (w_raw, w_fixed) = (worst(&raw, &ideal), worst(&fixed, &ideal));
        eprintln!("chip {chip_seed}: worst rate deviation {w_raw:.3} uncalibrated, {w_fixed:.3} calibrated");
        assert!(w_raw > 0.10, "uncalibrated spread unexpectedly small: {w_raw}");
        assert!(w_fixed <= 0.05, "calibrated worst deviation {w_fixed} (uncalibrated {w_raw})");
        assert!(cal.after.threshold_rsd * 5.0 <= cal.before.threshold_rsd, "{:?} -> {:?}", cal.before, cal.after);
    }
}

#[test]
fn a_calibration_for_another_chip_or_program_is_refused() {
    let p = chip::compile("cal.nm", SRC);
    let mut cal = calibrate(&p, 3).expect("calibrate");
    cal.chip = "small".into();
    let e = check_fits(&p, &cal).expect_err("other chip");
    assert!(e.to_string().contains("measured on chip `small`"), "{e}");
    let mut cal = calibrate(&p, 3).expect("calibrate");
    cal.neurons[0].neuron = 5000;
    let e = check_fits(&p, &cal).expect_err("missing neuron");
    assert!(e.to_string().contains("has no neuron 5000"), "{e}");
    let e = nm_isa::calibration::parse("{\"format\": \"other\"}").expect_err("not a calibration");
    assert!(e.to_string().contains("not a calibration file"), "{e}");
}
