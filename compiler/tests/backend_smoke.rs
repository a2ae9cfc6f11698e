//! Smoke test of the back end on the example networks.

use nm_compiler::ir::nets;
use nm_compiler::passes::{compile_ir, CompileOptions};
use nm_isa::ChipSpec;

#[test]
fn cuba_4k_compiles() {
    let ir = nets::cuba(4000, 80, None, 1).expect("net");
    let opts = CompileOptions::new(ChipSpec::default_profile());
    let (prog, report) = compile_ir(ir, &opts).expect("compiles");
    assert_eq!(prog.synapse_count(), 4000 * 80);
    println!("{}", report.to_text());
    assert!(nm_compiler::codegen::limit_problems(&prog).is_empty());
}
