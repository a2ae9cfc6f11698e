//! Documentation kept honest by tests: the grammar in `docs/language.md` is exactly the union of
//! the parser's production doc comments, each production names its function, every diagnostic
//! code the checker emits is documented, and every source file starts with a `//!` line.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn productions() -> Vec<(String, String)> {
    let src = std::fs::read_to_string(root().join("src/front/parser.rs")).expect("parser source");
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    for (k, l) in lines.iter().enumerate() {
        let Some(rest) = l.strip_prefix("/// `") else { continue };
        let Some(prod) = rest.strip_suffix('`') else { continue };
        let Some((name, _)) = prod.split_once(" := ") else { continue };
        // The next `fn` after the doc comment must be named after the production.
        let f = lines[k + 1..].iter().find(|x| x.contains("fn ")).expect("a function follows");
        let fname = f.split("fn ").nth(1).and_then(|x| x.split(['<', '(']).next()).unwrap_or("");
        assert_eq!(fname, name, "production `{name}` documents function `{fname}`");
        out.push((name.to_string(), prod.to_string()));
    }
    out
}

#[test]
fn grammar_in_docs_is_the_union_of_the_productions() {
    let doc = std::fs::read_to_string(root().join("../docs/language.md")).expect("docs/language.md");
    let start = doc.find("## 12. Grammar").expect("grammar section");
    let block = &doc[start..];
    let body = block.split("```").nth(1).expect("code block");
    let in_doc: Vec<&str> = body.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let prods = productions();
    assert!(prods.len() >= 40, "{} productions", prods.len());
    let in_src: Vec<&str> = prods.iter().map(|(_, p)| p.as_str()).collect();
    for p in &in_src {
        assert!(in_doc.contains(p), "docs/language.md lacks `{p}`");
    }
    for p in &in_doc {
        assert!(in_src.contains(p), "docs/language.md has `{p}`, which no parser function documents");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_diagnostic_code_is_documented() {
    let doc = std::fs::read_to_string(root().join("../docs/language.md")).expect("docs/language.md");
    let mut files = Vec::new();
    rust_files(&root().join("src/front"), &mut files);
    let mut missing = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        for (i, _) in text.match_indices('"') {
            let code = text.get(i + 1..i + 6).unwrap_or("");
            let is_code = code.len() == 5
                && (code.starts_with('E') || code.starts_with('W'))
                && code[1..].chars().all(|c| c.is_ascii_digit())
                && text.get(i + 6..i + 7) == Some("\"");
            if is_code && !doc.contains(&format!("| {code} |")) {
                missing.push(format!("{code} ({})", f.display()));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented diagnostic codes: {missing:?}");
}

#[test]
fn every_source_file_starts_with_a_module_doc_line() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        assert!(text.starts_with("//!"), "{} does not start with `//!`", f.display());
    }
}

#[test]
fn the_tour_program_in_the_docs_checks() {
    let doc = std::fs::read_to_string(root().join("../docs/language.md")).expect("docs/language.md");
    let start = doc.find("```\n# STDP between").expect("tour program") + 4;
    let len = doc[start..].find("```").expect("end of block");
    let c = nm_compiler::driver::check_source("tour.nm", &doc[start..start + len], None);
    assert!(c.model.is_some(), "{:?}", c.diagnostics);
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
}
