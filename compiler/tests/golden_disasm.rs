//! Golden disassembly of small compiled programs: the whole pipeline (front end, lowering,
//! mapping, quantization, rule lowering, code generation) pinned to a checked-in listing.
//! Refresh with `NM_BLESS=1` (CI never sets it).

use nm_compiler::driver;
use nm_compiler::passes::CompileOptions;
use std::path::Path;

const SMALL: &[&str] = &["stdp.nm", "stdp_select.nm", "pitchfork.nm", "sal.nm"];

#[test]
fn golden_disassembly_of_small_programs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("NM_BLESS").is_some();
    let mut failures = Vec::new();
    for name in SMALL {
        let src = root.join("../programs").join(name);
        let checked = driver::check_file(&src).expect("readable");
        let model = checked.model.expect("checks");
        let (program, _) =
            driver::compile_model(&model, CompileOptions::new(model.target.spec.clone())).expect("compiles");
        let text = nm_isa::disasm::disassemble(&program);
        let golden = root.join("tests/golden").join(name.replace(".nm", ".disasm"));
        if bless {
            std::fs::write(&golden, &text).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if want != text {
            let first = want.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0);
            failures.push(format!(
                "{name}: first difference at line {}:\n  want: {}\n  got:  {}",
                first + 1,
                want.lines().nth(first).unwrap_or("<end>"),
                text.lines().nth(first).unwrap_or("<end>")
            ));
        }
    }
    assert!(failures.is_empty(), "golden mismatch (NM_BLESS=1 to refresh):\n{}", failures.join("\n"));
}
