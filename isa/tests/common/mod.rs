//! Helpers shared by the integration tests: golden-file comparison with a readable line diff.

use std::path::Path;

/// Compare `actual` with the checked-in file at `path` (relative to the crate root). With
/// `NM_BLESS=1` in the environment the file is rewritten instead (CI never sets it).
pub fn check_golden(path: &str, actual: &str) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var("NM_BLESS").is_ok_and(|v| v == "1") {
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(&full, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (run with NM_BLESS=1 to create it)", full.display()));
    if expected != actual {
        panic!(
            "{} is stale; diff (- expected, + actual):\n{}\nrun the test with NM_BLESS=1 to accept the new output",
            full.display(),
            line_diff(&expected, actual)
        );
    }
}

/// A unified-style line diff (longest common subsequence), with 2 lines of context.
pub fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i], i + 1));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i], i + 1));
            i += 1;
        } else {
            ops.push(('+', b[j], j + 1));
            j += 1;
        }
    }
    let near_change = |k: usize| ops[k.saturating_sub(2)..(k + 3).min(ops.len())].iter().any(|o| o.0 != ' ');
    let mut out = String::new();
    let mut skipped = false;
    for (k, (tag, line, no)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("...\n");
                skipped = false;
            }
            out.push_str(&format!("{tag}{no:5} {line}\n"));
        } else {
            skipped = true;
        }
    }
    out
}
