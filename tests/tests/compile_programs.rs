//! Every bundled program compiles, its `program.bin` decodes to the same program and
//! disassembles, and compiling twice gives identical bytes (determinism).

use nm_compiler::driver;
use nm_compiler::passes::CompileOptions;
use std::path::{Path, PathBuf};

fn programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../programs");
    let mut out = Vec::new();
    for dir in [root.clone(), root.join("bench")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "nm"))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

fn compile(path: &Path) -> Vec<u8> {
    let checked = driver::check_file(path).unwrap_or_else(|e| panic!("{e}"));
    let model = checked.model.unwrap_or_else(|| panic!("{}: {:?}", path.display(), checked.diagnostics));
    let opts = CompileOptions::new(model.target.spec.clone());
    let (program, _report) = driver::compile_model(&model, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes = nm_isa::binary::encode(&program);
    let back = nm_isa::binary::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(back, program, "{}: decode(encode(p)) != p", path.display());
    let listing = nm_isa::disasm::disassemble(&back);
    assert!(listing.contains("core 0"), "{}: disassembly lists no core", path.display());
    bytes
}

#[test]
fn every_program_compiles_decodes_and_disassembles_deterministically() {
    let files = programs();
    assert!(files.len() >= 11, "expected the bundled programs, found {files:?}");
    for f in &files {
        let a = compile(f);
        let b = compile(f);
        assert!(a == b, "{}: two compilations differ", f.display());
    }
}
