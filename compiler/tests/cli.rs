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
