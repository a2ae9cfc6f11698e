//! Golden tests: the disassembly of the hand-built example program against the checked-in
//! expectation in `tests/golden/`, refreshed with `NM_BLESS=1`.

mod common;

use nm_isa::builder::example_program;
use nm_isa::disasm::disassemble;
use nm_isa::ChipSpec;

#[test]
fn example_disassembly_small() {
    let p = example_program(ChipSpec::small_profile());
    p.validate().expect("example is valid");
    common::check_golden("tests/golden/example_small.disasm", &disassemble(&p));
}

#[test]
fn disassembly_survives_a_binary_round_trip() {
    let p = example_program(ChipSpec::default_profile());
    let back = nm_isa::binary::decode(&nm_isa::binary::encode(&p)).expect("decodes");
    assert_eq!(disassemble(&back), disassemble(&p));
}

#[test]
fn diff_is_readable() {
    let d = common::line_diff("a\nb\nc\n", "a\nB\nc\n");
    assert!(d.contains("-    2 b") && d.contains("+    2 B"), "{d}");
}
