//! The `nm-sweep` command and its library (`nm_tests::sweep`): measures parse or give clear
//! errors, the target line is rewritten, a small grid over `programs/pitchfork.nm` gives the
//! expected rows (the ideal equilibrium without mismatch, seed-dependent values with it), the
//! outputs are written, and the binary runs end to end.

use nm_tests::chip;
use nm_tests::sweep::{self, Measure, SweepError, SweepSpec};

fn spec(measure: &str) -> SweepSpec {
    SweepSpec {
        name: "pitchfork.nm".into(),
        text: chip::program_text("pitchfork.nm"),
        base_dir: Some(chip::programs_dir()),
        profile: None,
        mismatch: vec![0.0, 10.0],
        weight_bits: vec![6, 8],
        chip_seeds: vec![1, 2],
        steps: Some(3000),
        measure: measure.parse().expect("a valid measure"),
    }
}

#[test]
fn measures_parse_or_explain() {
    assert_eq!("norm:ff".parse::<Measure>().unwrap(), Measure::Norm("ff".into()));
    assert_eq!("cos:ff:1,0,-1".parse::<Measure>().unwrap(), Measure::Cos("ff".into(), vec![1.0, 0.0, -1.0]));
    assert_eq!("state:x:1".parse::<Measure>().unwrap(), Measure::State("x".into(), 1));
    assert_eq!("rate:out".parse::<Measure>().unwrap(), Measure::Rate("out".into()));
    for bad in ["", "norm", "norm:", "cos:ff", "cos:ff:a,b", "cos:ff:0,0", "state:x:-1", "median:ff", "mean:ff:2"] {
        let e = bad.parse::<Measure>().expect_err(bad);
        assert!(matches!(e, SweepError::Measure { .. }), "{bad}: {e}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn target_line_replaces_bits_and_mismatch_only() {
    let t = "# x\ntarget default { weight_bits = 8; accumulator_bits = 16, mismatch_weight = 3%; chip_seed = 7 }\n";
    let line = sweep::target_line(t, None, 6, 5.0).unwrap();
    assert_eq!(line, "target default { accumulator_bits = 16; weight_bits = 6; mismatch = 5% }");
    assert_eq!(
        sweep::target_line("target small\n", None, 7, 0.0).unwrap(),
        "target small { weight_bits = 7; mismatch = 0% }"
    );
    assert_eq!(
        sweep::target_line("sim { dt = 1 ms }\n", Some("small"), 8, 10.0).unwrap(),
        "target small { weight_bits = 8; mismatch = 10% }"
    );
    assert_eq!(sweep::parse_list("0:20:5", "x").unwrap(), vec![0.0, 5.0, 10.0, 15.0, 20.0]);
    assert_eq!(sweep::parse_ints("6,7,8", "bits", 1, 16).unwrap(), vec![6, 7, 8]);
    for bad in ["", "1,,2", "5:0:1", "0:10:0", "a"] {
        assert!(sweep::parse_list(bad, "x").is_err(), "{bad}");
    }
    assert!(sweep::parse_ints("6.5", "bits", 1, 16).is_err());
}

#[test]
fn small_grid_on_the_pitchfork() {
    let s = spec("mean:x->x");
    let rows = sweep::run(&s, 2).expect("the sweep runs");
    assert_eq!(rows.len(), 8);
    assert_eq!(rows, sweep::run(&s, 1).unwrap(), "rows do not depend on the thread count");
    for r in &rows {
        eprintln!("bits {} mismatch {}% seed {}: mean w {:.4}", r.weight_bits, r.mismatch, r.chip_seed, r.value);
    }
    // Without mismatch every chip seed is the same chip, at the model's equilibrium (k = -10:
    // w = -1.257, float reference); with 10 % the chips differ (the pitchfork is imperfect).
    for bits in [6u8, 8] {
        let at = |m: f64| {
            rows.iter().filter(|r| r.weight_bits == bits && r.mismatch == m).map(|r| r.value).collect::<Vec<_>>()
        };
        let ideal = at(0.0);
        assert_eq!(ideal[0], ideal[1], "{bits} bits: 0 % mismatch is the same chip for every seed");
        assert!((ideal[0] - -1.257).abs() < 0.05, "{bits} bits: {}", ideal[0]);
        let mm = at(10.0);
        assert_ne!(mm[0], mm[1], "{bits} bits: two mismatched chips");
    }
    let dir = std::env::temp_dir().join(format!("nm-sweep-test-{}", std::process::id()));
    sweep::write_outputs(&dir, &rows, &s.measure, "test").unwrap();
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 9);
    assert!(csv.starts_with("weight_bits,mismatch_percent,chip_seed,"));
    let txt = std::fs::read_to_string(dir.join("sweep.txt")).unwrap();
    assert_eq!(txt.lines().count(), 2 + 4, "{txt}");
    assert!(std::fs::read_to_string(dir.join("sweep.svg")).unwrap().starts_with("<svg"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_programs_and_measures_give_errors() {
    let mut s = spec("mean:x->x");
    s.text = s.text.replace("pop x = rate(", "pop x = rat(");
    let e = sweep::run(&s, 1).expect_err("does not check");
    assert!(matches!(e, SweepError::Check { .. }), "{e}");
    assert!(e.to_string().contains("E0102"), "{e}");
    let mut s = spec("norm:nope");
    s.mismatch = vec![0.0];
    s.weight_bits = vec![8];
    s.chip_seeds = vec![1];
    let e = sweep::run(&s, 1).expect_err("no such recording");
    assert!(matches!(e, SweepError::NoRecording { .. }), "{e}");
    let mut s = spec("cos:x->x:1,0,0");
    s.mismatch = vec![0.0];
    s.weight_bits = vec![8];
    s.chip_seeds = vec![1];
    assert!(matches!(sweep::run(&s, 1), Err(SweepError::Measure { .. })));
    let mut s = spec("mean:x->x");
    s.chip_seeds.clear();
    assert!(matches!(sweep::run(&s, 1), Err(SweepError::Grid(_))));
}

#[test]
fn the_binary_writes_the_table() {
    let out = std::env::temp_dir().join(format!("nm-sweep-cli-test-{}", std::process::id()));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nm-sweep"))
        .arg(chip::programs_dir().join("pitchfork.nm"))
        .args(["--measure", "abscos:x->x:1,1", "--mismatch", "0,10", "--weight-bits", "8", "--chip-seeds", "1"])
        .args(["--steps", "2000", "-o"])
        .arg(&out)
        .output()
        .expect("nm-sweep runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("|cos(w(x->x), v)|") && stdout.contains("2 runs"), "{stdout}");
    assert_eq!(std::fs::read_to_string(out.join("sweep.csv")).unwrap().lines().count(), 3);
    let _ = std::fs::remove_dir_all(&out);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_nm-sweep"))
        .args(["/nonexistent.nm", "--measure", "norm:ff"])
        .output()
        .expect("nm-sweep runs");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("nm-sweep: error: /nonexistent.nm"));
}
