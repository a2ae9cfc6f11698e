//! The 64-bit learning-instruction word: `op:8 | rd:3 | ra:3 | rb:3 | sh:5 | sel:6 | pad:4 | imm:32`,
//! bit 0 first (little-endian bit numbering), packed and unpacked with `bitvec`.

use crate::learn::{Instr, Opcode};
use bitvec::prelude::*;
use std::ops::Range;

/// The fields of an instruction word, in bit order: name and bit range.
pub const INSTR_FIELDS: [(&str, Range<usize>); 8] = [
    ("op", 0..8),
    ("rd", 8..11),
    ("ra", 11..14),
    ("rb", 14..17),
    ("sh", 17..22),
    ("sel", 22..28),
    ("pad", 28..32),
    ("imm", 32..64),
];

const OP: Range<usize> = 0..8;
const RD: Range<usize> = 8..11;
const RA: Range<usize> = 11..14;
const RB: Range<usize> = 14..17;
const SH: Range<usize> = 17..22;
const SEL: Range<usize> = 22..28;
const PAD: Range<usize> = 28..32;
const IMM: Range<usize> = 32..64;

/// Why a word is not an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstrError {
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    #[error("non-zero padding bits")]
    Padding,
    #[error("not canonical (a field out of range, an unused field not zero, or a bad selector)")]
    NotCanonical,
}

/// Pack an instruction into its word. Fields are truncated to their widths, so only a canonical
/// instruction ([`Instr::is_canonical`]) round-trips through [`decode_instr`].
pub fn encode_instr(ins: &Instr) -> u64 {
    let mut w = BitArray::<[u64; 1], Lsb0>::ZERO;
    w[OP].store_le(ins.op.code());
    w[RD].store_le(ins.rd);
    w[RA].store_le(ins.ra);
    w[RB].store_le(ins.rb);
    w[SH].store_le(ins.sh);
    w[SEL].store_le(ins.sel);
    w[IMM].store_le(ins.imm as u32);
    w.into_inner()[0]
}

/// Unpack a word; refuses unknown opcodes, non-zero padding and non-canonical instructions, so
/// `decode_instr(encode_instr(i)) == Ok(i)` exactly for canonical `i` and every accepted word
/// re-encodes to itself.
pub fn decode_instr(word: u64) -> Result<Instr, InstrError> {
    let w = BitArray::<[u64; 1], Lsb0>::new([word]);
    let code: u8 = w[OP].load_le();
    let op = Opcode::from_code(code).ok_or(InstrError::UnknownOpcode(code))?;
    if w[PAD].load_le::<u8>() != 0 {
        return Err(InstrError::Padding);
    }
    let ins = Instr {
        op,
        rd: w[RD].load_le(),
        ra: w[RA].load_le(),
        rb: w[RB].load_le(),
        sh: w[SH].load_le(),
        sel: w[SEL].load_le(),
        imm: w[IMM].load_le::<u32>() as i32,
    };
    if !ins.is_canonical() {
        return Err(InstrError::NotCanonical);
    }
    Ok(ins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::{Dst, Src};

    #[test]
    fn fields_tile_the_word() {
        let mut next = 0;
        for (_, r) in INSTR_FIELDS.iter() {
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, 64);
    }

    #[test]
    fn known_words() {
        // ldi r3, -1: op 0x02, rd 3 at bit 8, imm all ones in the high half.
        assert_eq!(encode_instr(&Instr::ldi(3, -1)), 0xffff_ffff_0000_0302);
        // st w, r5: op 0x03, ra 5 at bit 11, sel 0.
        assert_eq!(encode_instr(&Instr::st(Dst::W, 5)), 0x03 | (5 << 11));
        // ld r1, sig2: sel 18 at bit 22.
        assert_eq!(encode_instr(&Instr::ld(1, Src::Sig(2))), 0x01 | (1 << 8) | (18 << 22));
        // mul r1, r2, r3, >>16: sh at bit 17.
        let m = Instr::rrrs(Opcode::Mul, 1, 2, 3, 16);
        assert_eq!(encode_instr(&m), 0x08 | (1 << 8) | (2 << 11) | (3 << 14) | (16 << 17));
        assert_eq!(decode_instr(encode_instr(&m)), Ok(m));
    }

    #[test]
    fn bad_words_are_refused() {
        assert_eq!(decode_instr(0xff), Err(InstrError::UnknownOpcode(0xff)));
        assert_eq!(decode_instr(1 << 28), Err(InstrError::Padding));
        // nop with rd = 1: unused field not zero.
        assert_eq!(decode_instr(1 << 8), Err(InstrError::NotCanonical));
        // ld with selector 63.
        assert_eq!(decode_instr(0x01 | (63 << 22)), Err(InstrError::NotCanonical));
    }
}
