//! `docs/isa.md` is generated from the op table: the checked-in file must equal
//! `nm_isa::learn::isa_markdown()` (refresh with `NM_BLESS=1`).

mod common;

#[test]
fn isa_md_is_fresh() {
    common::check_golden("../docs/isa.md", &nm_isa::learn::isa_markdown());
}

#[test]
fn isa_md_lists_every_opcode() {
    let md = nm_isa::learn::isa_markdown();
    for op in nm_isa::learn::Opcode::ALL {
        assert!(md.contains(&format!("| `{}` | `{:#04x}` |", op.mnemonic(), op.code())), "{op:?}");
    }
}
