//! `nmemu run` against its budgets: too many steps, a spike recording over the memory budget and
//! a VCD trace whose projected size is over it are refused with the budget's name, the sizes and the flag that raises it; raising the flag
//! lets the same run through.

use nm_emulator::bench::{cuba, Cuba};
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nmemu-budget-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn nmemu(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nmemu")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into())
}

fn program(d: &std::path::Path) -> String {
    let p = cuba(Cuba { n: 500, fan_in: 40, seed: 2, steps: 300 });
    let path = d.join("cuba.bin");
    std::fs::write(&path, nm_isa::binary::encode(&p)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn steps_over_the_budget_are_refused_up_front() {
    let d = tmp("steps");
    let prog = program(&d);
    let out = d.join("out");
    let (ok, err) = nmemu(&["run", &prog, "--steps", "1000000000", "--max-steps", "5000", "-o", out.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("over the steps budget") && err.contains("--max-steps"), "{err}");
    assert!(!out.join("stats.json").exists(), "nothing may be written for a refused run");
}

#[test]
fn spike_recording_over_the_budget_stops_the_run() {
    let d = tmp("rec");
    let prog = program(&d);
    let out = d.join("out");
    let o = out.to_str().unwrap();
    let (ok, err) = nmemu(&["run", &prog, "--steps", "300", "--max-record-bytes", "24", "-o", o]);
    assert!(!ok, "a 24-byte recording budget (two spikes) must be exceeded by cuba");
    assert!(err.contains("over the recording budget") && err.contains("--max-record-bytes"), "{err}");
    assert!(err.contains("spikes"), "{err}");
    // The same run with the default budget goes through.
    let (ok, err) = nmemu(&["run", &prog, "--steps", "300", "-o", o]);
    assert!(ok, "{err}");
}

#[test]
fn vcd_trace_over_the_budget_is_refused_up_front_with_its_projected_size() {
    let d = tmp("vcd");
    let prog = program(&d);
    let (out, vcd) = (d.join("out"), d.join("t.vcd"));
    let (o, v) = (out.to_str().unwrap(), vcd.to_str().unwrap());
    // 8 neurons x 3 values, 300 steps: at most 300 * (22 + 24 * 38) = 280 200 bytes.
    let (ok, err) = nmemu(&["run", &prog, "--steps", "300", "--vcd", v, "--max-record-bytes", "100000", "-o", o]);
    assert!(!ok);
    assert!(err.contains("over the vcd budget") && err.contains("280200"), "{err}");
    assert!(err.contains("--vcd-neurons"), "says how to make it fit: {err}");
    assert!(!vcd.exists(), "nothing is written for a refused trace");
    let (ok, err) = nmemu(&["run", &prog, "--steps", "300", "--vcd", v, "--max-record-bytes", "300000", "-o", o]);
    assert!(ok, "{err}");
    let size = std::fs::metadata(&vcd).unwrap().len();
    assert!(size > 0 && size <= 280_200 + 4096, "the projection bounds the trace: {size} bytes");
}
