//! The `nmemu` binary end to end: outputs of `run`, refusals of damaged inputs (clear message,
//! non-zero exit, no panic), checkpoint + `resume` equal to one run, `calibrate`.

use nm_emulator::bench::{cuba, Cuba};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nmemu-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn nmemu(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nmemu")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn small_program(dir: &Path) -> PathBuf {
    let p = cuba(Cuba { n: 500, fan_in: 40, seed: 2, steps: 300 });
    let path = dir.join("cuba.bin");
    std::fs::write(&path, nm_isa::binary::encode(&p)).unwrap();
    path
}

fn read_npy_i64(path: &Path) -> Vec<i64> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    b[10 + hl..].chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn run_writes_outputs() {
    let d = tmp("run");
    let prog = small_program(&d);
    let out = d.join("out");
    let (ok, stdout, stderr) =
        nmemu(&["run", prog.to_str().unwrap(), "--steps", "300", "--chip-seed", "4", "-o", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("chip 4"), "{stdout}");
    for f in ["spikes.times.npy", "spikes.ids.npy", "spikes.csv", "index.json", "stats.json", "spikes.raster.svg"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["steps"], 300);
    assert_eq!(stats["seeds"]["chip_seed"], 4);
    let times = read_npy_i64(&out.join("spikes.times.npy"));
    assert_eq!(times.len() as u64, stats["spikes"].as_u64().unwrap());
    let csv = std::fs::read_to_string(out.join("spikes.csv")).unwrap();
    assert_eq!(csv.lines().count(), times.len() + 1);
}

#[test]
fn damaged_program_is_refused_cleanly() {
    let d = tmp("bad");
    let prog = small_program(&d);
    let bytes = std::fs::read(&prog).unwrap();
    let trunc = d.join("trunc.bin");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, _, err) = nmemu(&["run", trunc.to_str().unwrap(), "--steps", "5", "-o", d.join("o1").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("cannot decode program") && !err.contains("panicked"), "{err}");
    let mut flipped = bytes.clone();
    let k = flipped.len() / 3;
    flipped[k] ^= 0xFF;
    let bad = d.join("flip.bin");
    std::fs::write(&bad, &flipped).unwrap();
    let (ok, _, err) = nmemu(&["run", bad.to_str().unwrap(), "--steps", "5", "-o", d.join("o2").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.starts_with("nmemu: error:") && !err.contains("panicked"), "{err}");
    let (ok, _, err) = nmemu(&["run", d.join("missing.bin").to_str().unwrap()]);
    assert!(!ok && err.contains("missing.bin"), "{err}");
}

#[test]
fn checkpoint_and_resume_equal_one_run() {
    let d = tmp("ckpt");
    let prog = small_program(&d);
    let (a, b) = (d.join("a"), d.join("b"));
    let (ok, _, e) = nmemu(&["run", prog.to_str().unwrap(), "--steps", "300", "-o", a.to_str().unwrap()]);
    assert!(ok, "{e}");
    let (ok, _, e) = nmemu(&[
        "run",
        prog.to_str().unwrap(),
        "--steps",
        "120",
        "--checkpoint-every",
        "120",
        "-o",
        b.to_str().unwrap(),
    ]);
    assert!(ok, "{e}");
    let ck = b.join("checkpoint.ckpt");
    let (ok, out, e) =
        nmemu(&["resume", ck.to_str().unwrap(), "--steps", "180", "--threads", "2", "-o", b.to_str().unwrap()]);
    assert!(ok, "{e}");
    assert!(out.contains("step 120"), "{out}");
    for f in ["spikes.times.npy", "spikes.ids.npy"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
    // Every checkpoint is kept: resuming from the first of three (60 steps) is the same run too.
    let (c, first) = (d.join("c"), d.join("c").join("checkpoint-000000000060.ckpt"));
    let (ok, _, e) = nmemu(&[
        "run",
        prog.to_str().unwrap(),
        "--steps",
        "180",
        "--checkpoint-every",
        "60",
        "-o",
        c.to_str().unwrap(),
    ]);
    assert!(ok, "{e}");
    for k in [60, 120, 180] {
        assert!(c.join(format!("checkpoint-{k:012}.ckpt")).exists(), "checkpoint at step {k} kept");
    }
    let (ok, out, e) = nmemu(&["resume", first.to_str().unwrap(), "--steps", "240", "-o", c.to_str().unwrap()]);
    assert!(ok && out.contains("step 60"), "{e}{out}");
    for f in ["spikes.times.npy", "spikes.ids.npy"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(c.join(f)).unwrap(), "{f} differs");
    }
    let mut bytes = std::fs::read(&ck).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    std::fs::write(&ck, &bytes).unwrap();
    let (ok, _, e) = nmemu(&["resume", ck.to_str().unwrap(), "-o", b.to_str().unwrap()]);
    assert!(!ok && e.contains("CRC"), "{e}");
}

#[test]
fn calibrate_writes_a_calibration() {
    let d = tmp("cal");
    let prog = small_program(&d);
    let cal = d.join("chip.cal");
    let (ok, out, e) = nmemu(&["calibrate", prog.to_str().unwrap(), "--chip-seed", "5", "-o", cal.to_str().unwrap()]);
    assert!(ok, "{e}");
    assert!(out.contains("threshold spread"), "{out}");
    let c = nm_emulator::calibrate::read(&cal).unwrap();
    assert_eq!(c.neurons.len(), 500);
    assert!(c.after.threshold_rsd * 5.0 <= c.before.threshold_rsd, "{:?} -> {:?}", c.before, c.after);
}

#[test]
fn vcd_trace_has_header_and_changes() {
    let d = tmp("vcd");
    let prog = small_program(&d);
    let vcd = d.join("t.vcd");
    let (ok, _, e) = nmemu(&[
        "run",
        prog.to_str().unwrap(),
        "--steps",
        "200",
        "--vcd",
        vcd.to_str().unwrap(),
        "--vcd-neurons",
        "neurons:0-3",
        "-o",
        d.join("o").to_str().unwrap(),
    ]);
    assert!(ok, "{e}");
    let text = std::fs::read_to_string(&vcd).unwrap();
    assert!(text.contains("$enddefinitions $end"));
    assert_eq!(text.matches("$var wire 1").count(), 4);
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 10, "too few time stamps");
    let (ok, _, e) = nmemu(&["run", prog.to_str().unwrap(), "--vcd", vcd.to_str().unwrap(), "--vcd-neurons", "nope"]);
    assert!(!ok && e.contains("no population"), "{e}");
}

#[test]
fn run_with_faults_counts_them_and_resumes_bit_identically() {
    let d = tmp("faults");
    let prog = small_program(&d);
    let ftoml = d.join("faults.toml");
    std::fs::write(&ftoml, "packet_drop = 0.1\nstuck_fraction = 0.02\n").unwrap();
    let p = prog.to_str().unwrap();
    let f = ftoml.to_str().unwrap();
    let whole = d.join("whole");
    let args = ["--faults", f, "--fault-seed", "13", "--bit-flip-rate", "1e-6", "--dead-core", "1"];
    let mut a = vec!["run", p, "--steps", "300", "-o", whole.to_str().unwrap()];
    a.extend(args);
    let (ok, stdout, stderr) = nmemu(&a);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("fault seed 13"), "{stdout}");
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(whole.join("stats.json")).unwrap()).unwrap();
    let fs = &stats["faults"];
    assert_eq!(fs["fault_seed"], 13);
    assert_eq!(fs["dead_cores"], 1);
    assert!(fs["stuck_synapses"].as_u64().unwrap() > 0, "{fs}");
    assert!(fs["lost_spikes"]["dropped"].as_u64().unwrap() > 0, "{fs}");
    assert!(fs["lost_spikes"]["dead_core"].as_u64().unwrap() > 0, "{fs}");
    // Checkpoint at 150, resume to 300: identical spikes and fault counts.
    let half = d.join("half");
    let mut a = vec!["run", p, "--steps", "150", "--checkpoint-every", "150", "-o", half.to_str().unwrap()];
    a.extend(args);
    let (ok, _, stderr) = nmemu(&a);
    assert!(ok, "{stderr}");
    let resumed = d.join("resumed");
    let ck = half.join("checkpoint.ckpt");
    let (ok, _, stderr) = nmemu(&["resume", ck.to_str().unwrap(), "--steps", "150", "-o", resumed.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read(whole.join("spikes.times.npy")).unwrap(),
        std::fs::read(resumed.join("spikes.times.npy")).unwrap()
    );
    let st2: serde_json::Value = serde_json::from_slice(&std::fs::read(resumed.join("stats.json")).unwrap()).unwrap();
    assert_eq!(st2["faults"], stats["faults"]);
    // Without faults, stats.json has no `faults` entry; a bad fault option is refused cleanly.
    let plain = d.join("plain");
    let (ok, _, _) = nmemu(&["run", p, "--steps", "10", "-o", plain.to_str().unwrap()]);
    assert!(ok);
    let st3: serde_json::Value = serde_json::from_slice(&std::fs::read(plain.join("stats.json")).unwrap()).unwrap();
    assert!(st3.get("faults").is_none());
    for bad in [["--packet-drop", "1.5"], ["--dead-link", "0:up"], ["--dead-core", "999999"]] {
        let mut a = vec!["run", p, "--steps", "10", "-o", plain.to_str().unwrap()];
        a.extend(bad);
        let (ok, _, stderr) = nmemu(&a);
        assert!(!ok && stderr.starts_with("nmemu: error:") && !stderr.contains("panicked"), "{bad:?}: {stderr}");
    }
}
