//! The `nmc` binary: exit codes (0 ok, 1 errors in the input, 2 usage or I/O), human and JSON
//! diagnostics, and no panic on any input.

use std::process::Command;

fn nmc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nmc")).args(args).output().expect("nmc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str, text: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nmc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn good_program_exits_zero() {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../programs/stdp.nm");
    let (code, out, err) = nmc(&["check", p]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok:"), "{out}");
}

#[test]
fn errors_exit_one_with_rendered_and_json_diagnostics() {
    let p = temp("bad.nm", b"pop out = lif(n = 1, tau_m = 20 Hz, v_th = 1)\n");
    let ps = p.to_str().expect("utf-8 path");
    let (code, _, err) = nmc(&["check", ps]);
    assert_eq!(code, 1);
    assert!(err.contains("error[E0301]") && err.contains("bad.nm:1:30"), "{err}");
    let (code, out, _) = nmc(&["check", ps, "--message-format", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().expect("a line")).expect("JSON");
    assert_eq!(v["code"], "E0301");
    assert_eq!(v["labels"][0]["column"], 30);
}

#[test]
fn usage_and_io_errors_exit_two() {
    assert_eq!(nmc(&[]).0, 2);
    assert_eq!(nmc(&["frobnicate"]).0, 2);
    assert_eq!(nmc(&["check"]).0, 2);
    assert_eq!(nmc(&["check", "/no/such/file.nm"]).0, 2);
    assert_eq!(nmc(&["check", "x.nm", "--message-format", "xml"]).0, 2);
    let p = temp("binary.nm", &[0xff, 0xfe, 0x00, 0x80]);
    assert_eq!(nmc(&["check", p.to_str().expect("path")]).0, 2);
    assert_eq!(nmc(&["--help"]).0, 0);
}

#[test]
fn empty_file_is_ok() {
    let p = temp("empty.nm", b"");
    assert_eq!(nmc(&["check", p.to_str().expect("path")]).0, 0);
}

#[test]
fn compile_with_calibration_corrects_thresholds_and_refuses_bad_files() {
    let src =
        temp("calpop.nm", b"pop p = lif(n = 2, tau_m = 20 ms, v_th = 10 mV, refractory = 2 ms)\nrecord spikes(p)\n");
    let (s, plain, cal_out) = (src.to_str().unwrap(), temp("plain.bin", b""), temp("cal.bin", b""));
    let (code, _, err) = nmc(&["compile", s, "-o", plain.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // A calibration as `nmemu calibrate` writes it: neuron 1 measured with a 25 % high threshold.
    let cal = temp(
        "chip.cal",
        br#"{"format": "nmemu-calibration", "version": 1, "chip": "default", "chip_seed": 4, "program": "calpop",
            "neurons": [{"core": 0, "neuron": 1, "v_th_gain": 1.25, "leak_gain": 1.0, "bias_offset": 0.0, "bias_offset_rel": 0.0}],
            "skipped": 0,
            "before": {"threshold_rsd": 0.1, "leak_rsd": 0.1, "bias_rsd": 0.1},
            "after": {"threshold_rsd": 0.0, "leak_rsd": 0.0, "bias_rsd": 0.0}}"#,
    );
    let (code, _, err) = nmc(&["compile", s, "-o", cal_out.to_str().unwrap(), "--calibration", cal.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("calibrated 1 neurons"), "{err}");
    let read = |p: &std::path::Path| nm_isa::binary::decode(&std::fs::read(p).unwrap()).unwrap();
    let (a, b) = (read(&plain), read(&cal_out));
    let (ta, tb) = (a.cores[0].neurons[1].v_th, b.cores[0].neurons[1].v_th);
    assert_eq!(tb, (f64::from(ta) / 1.25).round() as i32, "threshold divided by the measured gain");
    assert_eq!(a.cores[0].neurons[0].v_th, b.cores[0].neurons[0].v_th, "uncalibrated neuron unchanged");
    // Damaged, foreign and mismatching files: clear errors, and the old output is kept.
    let before = std::fs::read(&cal_out).unwrap();
    let bad = temp("bad.cal", b"{not json");
    let (code, _, err) = nmc(&["compile", s, "-o", cal_out.to_str().unwrap(), "--calibration", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.cal") && err.contains("not a calibration file"), "{err}");
    let foreign = std::fs::read_to_string(&cal).unwrap().replace("\"chip\": \"default\"", "\"chip\": \"small\"");
    let other = temp("other.cal", foreign.as_bytes());
    let (code, _, err) =
        nmc(&["compile", s, "-o", cal_out.to_str().unwrap(), "--calibration", other.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("measured on chip `small`"), "{err}");
    assert_eq!(std::fs::read(&cal_out).unwrap(), before, "a refused calibration leaves the saved program alone");
}

#[test]
fn compile_with_calibration_trims_learning_rates_and_reports_clamped_codes() {
    let src = temp(
        "calsyn.nm",
        b"input src = poisson(rates = [5, 8, 11] Hz)\npop out = lif(n = 1, tau_m = inf, v_th = 3, v_reset = 0)\n\
          rule r(alpha = 0.01) {\n  on post: w *= 1 + alpha * rand()\n  bounds w in [0, 1]\n}\n\
          connect src -> out all_to_all weight = 1 plastic r\n",
    );
    let (s, plain, out) = (src.to_str().unwrap(), temp("syn_plain.bin", b""), temp("syn_cal.bin", b""));
    let (code, _, err) = nmc(&["compile", s, "-o", plain.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // Version 2: synapse 0 learns 10 % slow (trim round(128 (1/0.9 − 1)) = 14), synapse 2 at half
    // speed (wants 128 > 31: clamped at 31); synapse 1 is not listed and keeps trim 0.
    let cal = temp(
        "syn.cal",
        br#"{"format": "nmemu-calibration", "version": 2, "chip": "default", "chip_seed": 4, "program": "calsyn",
            "neurons": [], "skipped": 0,
            "synapses": [{"core": 0, "synapse": 0, "lr_gain": 0.9}, {"core": 0, "synapse": 2, "lr_gain": 0.5}],
            "before": {"threshold_rsd": 0.0, "leak_rsd": 0.0, "bias_rsd": 0.0, "learning_rate_rsd": 0.2},
            "after": {"threshold_rsd": 0.0, "leak_rsd": 0.0, "bias_rsd": 0.0, "learning_rate_rsd": 0.1}}"#,
    );
    let args = ["compile", s, "-o", out.to_str().unwrap(), "--calibration", cal.to_str().unwrap()];
    let (code, _, err) = nmc(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("calibrated 0 neurons and 2 plastic synapses"), "{err}");
    assert!(err.contains("warning: 1 of 2 learning-rate trims hit the end of the code range -32..=31"), "{err}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 3, "trims need format version 3");
    let b = nm_isa::binary::decode(&bytes).unwrap();
    assert_eq!(b.cores[0].lr_trim, vec![14, 0, 31]);
    let a = nm_isa::binary::decode(&std::fs::read(&plain).unwrap()).unwrap();
    assert!(a.cores[0].lr_trim.is_empty());
    // The report says it too (text and JSON).
    let (code, text, _) = nmc(&[&args[..], &["--report"]].concat());
    assert_eq!(code, 0);
    assert!(text.contains("calibration: 0 neurons, 2 learning-rate trims (codes -32..=31), 1 clamped"), "{text}");
    assert!(text.contains("warning: 1 of 2 learning-rate trims hit the end"), "{text}");
    let (code, json, _) = nmc(&[&args[..], &["--report", "--report-format", "json"]].concat());
    assert_eq!(code, 0);
    assert!(json.contains("\"trims_clamped\": 1"), "{json}");
    // A synapse that is not plastic, or does not exist, is refused.
    let bad = std::fs::read_to_string(&cal).unwrap().replace("\"synapse\": 2", "\"synapse\": 7");
    let bad = temp("syn_bad.cal", bad.as_bytes());
    let (code, _, err) = nmc(&["compile", s, "-o", out.to_str().unwrap(), "--calibration", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("core 0 has no synapse 7"), "{err}");
}

#[test]
fn a_very_long_operator_chain_is_a_diagnostic_not_a_stack_overflow() {
    // 20 000 terms: every recursive pass over a left-associative chain would go 20 000 deep.
    let text = format!("const x = {}\n", vec!["1"; 20_000].join(" + "));
    let p = temp("chain.nm", text.as_bytes());
    let (code, _, err) = nmc(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 1, "{}", &err[..err.len().min(400)]);
    assert!(err.contains("error[E0002]") && err.contains("chained operators"), "{}", &err[..err.len().min(400)]);
    assert!(!err.contains('\u{1b}'), "no colour escapes when stderr is not a terminal");
    // A chain well within the budget is fine.
    let ok = temp("chain_ok.nm", format!("const x = {}\n", vec!["1"; 100].join(" * ")).as_bytes());
    let (code, _, err) = nmc(&["check", ok.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn synapse_budget_is_named_and_raised_by_its_flag() {
    let src = b"input x = poisson(n = 20, rate = 5 Hz)\npop a = lif(n = 10, v_th = 1)\nconnect x -> a weight = 0.1\n";
    let p = temp("budget.nm", src);
    let out = p.with_extension("bin");
    let (code, _, err) = nmc(&["compile", p.to_str().unwrap(), "-o", out.to_str().unwrap(), "--max-synapses", "199"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("over the synapses budget") && err.contains("need 200, the budget is 199"), "{err}");
    assert!(err.contains("--max-synapses"), "{err}");
    let (code, _, err) = nmc(&["compile", p.to_str().unwrap(), "-o", out.to_str().unwrap(), "--max-synapses", "200"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = nmc(&["compile", p.to_str().unwrap(), "-o", out.to_str().unwrap(), "--max-neurons", "29"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("over the neurons budget") && err.contains("--max-neurons"), "{err}");
}
