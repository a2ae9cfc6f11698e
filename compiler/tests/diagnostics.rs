//! Golden tests of the rendered diagnostics: every `tests/diagnostics/*.nm` holds one mistake;
//! its expected rendering is the `.stderr` file beside it. A mismatch fails with a diff; run
//! with `NM_BLESS=1` to rewrite the expected files (CI never does).

use nm_compiler::driver;
use nm_compiler::front::diag;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/diagnostics exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nm"))
        .collect();
    v.sort();
    v
}

/// A small line diff: expected lines prefixed `-`, actual `+`, equal lines ` `.
fn diff(expected: &str, actual: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    // Longest common subsequence table.
    let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            t[i][j] = if a[i] == b[j] { t[i + 1][j + 1] + 1 } else { t[i + 1][j].max(t[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || t[i][j + 1] >= t[i + 1][j]) {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        } else {
            out += &format!("- {}\n", a[i]);
            i += 1;
        }
    }
    out
}

fn render(path: &Path) -> (String, driver::Checked) {
    let text = std::fs::read_to_string(path).expect("readable case");
    let name = format!("tests/diagnostics/{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("?"));
    let checked = driver::check_source(&name, &text, path.parent());
    (diag::render_human(&checked.diagnostics, &checked.sources), checked)
}

#[test]
fn rendered_diagnostics_match_golden_files() {
    let bless = std::env::var_os("NM_BLESS").is_some();
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 25, "expected at least 25 diagnostic cases, found {}", all.len());
    for case in &all {
        let (actual, checked) = render(case);
        assert!(!checked.diagnostics.is_empty(), "{}: no diagnostic at all", case.display());
        let golden = case.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &actual).expect("write golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            failures.push(format!("--- {} (- expected, + actual)\n{}", golden.display(), diff(&expected, &actual)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es); rerun with NM_BLESS=1 if intended\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_case_is_a_distinct_mistake() {
    // Cases must not all collapse to one code: the suite covers many kinds of mistakes.
    let mut codes = std::collections::BTreeSet::new();
    for case in cases() {
        let (_, checked) = render(&case);
        let first = checked.diagnostics.list.first().map(|d| d.code).unwrap_or("none");
        codes.insert(first);
    }
    assert!(codes.len() >= 20, "only {} distinct first codes: {codes:?}", codes.len());
}

#[test]
fn json_output_has_positions() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics/unknown_name.nm");
    let (_, checked) = render(&case);
    let json = diag::render_json(&checked.diagnostics, &checked.sources);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().expect("one line")).expect("valid JSON");
    assert_eq!(first["code"], "E0102");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["labels"][0]["line"], 3);
    assert_eq!(first["labels"][0]["column"], 16);
    assert!(first["rendered"].as_str().is_some_and(|r| r.contains("outptu")));
}
