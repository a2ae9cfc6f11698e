//! Helpers shared by the front-end integration tests.

#![allow(dead_code)]

use nm_compiler::front::ast::File;
use nm_compiler::front::diag::Diagnostics;
use nm_compiler::front::span::SourceMap;
use std::path::{Path, PathBuf};

/// The AST as JSON with every `span` field removed, for comparisons that ignore positions.
pub fn strip_spans(f: &File) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("span");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(f).expect("AST serialises");
    strip(&mut v);
    v
}

/// Every `.nm` file under `programs/` (recursively), sorted.
pub fn programs() -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "nm") {
                    out.push(p);
                }
            }
        }
    }
    let mut v = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../programs"), &mut v);
    v.sort();
    v
}

/// Every label of every diagnostic lies inside the source and on character boundaries.
pub fn assert_spans_valid(diags: &Diagnostics, map: &SourceMap) {
    for d in &diags.list {
        for l in &d.labels {
            let f = map.get(l.span.file).expect("label file exists");
            let (s, e) = (l.span.start as usize, l.span.end as usize);
            assert!(s <= e && e <= f.text.len(), "span {s}..{e} outside text of {} bytes: {d:?}", f.text.len());
            assert!(f.text.is_char_boundary(s) && f.text.is_char_boundary(e), "span not on char boundary: {d:?}");
        }
    }
}
