//! `program.bin`: the versioned little-endian container of a [`Program`] ([`encode`], [`decode`]).
//!
//! Layout (byte by byte in `docs/program-format.md`): a 16-byte header (magic, format version,
//! section count, reserved), then the sections in a fixed order ([`SECTIONS`]), each a 12-byte
//! header (id, reserved, payload length, CRC32 of the payload) and its payload. The chip spec is
//! the first section; every later count is checked against its limits and against the bytes that
//! remain before anything is allocated. Decoding never panics: every problem is a [`DecodeError`]
//! with the byte offset where it was found, and a decoded program has passed [`Program::validate`].

mod decode;
mod encode;
mod instr;
mod reader;

pub use decode::decode;
pub use encode::encode;
pub use instr::{decode_instr, encode_instr, InstrError, INSTR_FIELDS};

use crate::chip::SpecError;
use crate::program::Program;
use crate::validate::{ValidationError, Where};
use std::path::{Path, PathBuf};

/// The first eight bytes of every `program.bin`.
pub const MAGIC: [u8; 8] = *b"NMPROG\0\0";
/// Bytes of the file header: magic, version u16, section count u16, reserved u32.
pub const HEADER_BYTES: usize = 16;
/// Bytes of a section header: id u8, 3 reserved bytes, payload length u32, CRC32 u32.
pub const SECTION_HEADER_BYTES: usize = 12;

/// The sections, in file order: id and name. Every section is present exactly once.
pub const SECTIONS: [(u8, &str); 10] = [
    (0, "chip"),
    (1, "meta"),
    (2, "luts"),
    (3, "rules"),
    (4, "cores"),
    (5, "routes"),
    (6, "inputs"),
    (7, "signals"),
    (8, "probes"),
    (9, "symbols"),
];

/// Section ids.
pub(crate) mod section {
    pub const CHIP: u8 = 0;
    pub const META: u8 = 1;
    pub const LUTS: u8 = 2;
    pub const RULES: u8 = 3;
    pub const CORES: u8 = 4;
    pub const ROUTES: u8 = 5;
    pub const INPUTS: u8 = 6;
    pub const SIGNALS: u8 = 7;
    pub const PROBES: u8 = 8;
    pub const SYMBOLS: u8 = 9;
}

/// The section a validation problem belongs to (its offset is reported for a decoded program).
pub(crate) fn section_of(at: &Where) -> u8 {
    match at {
        Where::Chip => section::CHIP,
        Where::Meta => section::META,
        Where::Lut(_) => section::LUTS,
        Where::Rule(_) => section::RULES,
        Where::Cores | Where::Core(_) | Where::CoreItem { .. } => section::CORES,
        Where::Routes | Where::Route { .. } => section::ROUTES,
        Where::Input(_) => section::INPUTS,
        Where::Signal(_) => section::SIGNALS,
        Where::Probe(_) => section::PROBES,
        Where::Population(_) | Where::Projection(_) => section::SYMBOLS,
    }
}

/// A `program.bin` that cannot be decoded, and the byte offset where the problem was found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{kind} (at offset {offset:#x})")]
pub struct DecodeError {
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

/// What is wrong with a `program.bin`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("bad magic (not a program.bin)")]
    BadMagic,
    #[error("unsupported format version {found} (this build reads version {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("unexpected end of input reading {what}")]
    UnexpectedEof { what: &'static str },
    #[error("bad section count {found} (expected {expected})")]
    BadSectionCount { found: u16, expected: u16 },
    #[error("bad section id {found} (expected {expected}, the `{name}` section)")]
    BadSectionId { found: u8, expected: u8, name: &'static str },
    #[error("bad section length {len} of the `{name}` section ({remaining} bytes remain)")]
    BadSectionLength { name: &'static str, len: u64, remaining: u64 },
    #[error("bad CRC32 of the `{name}` section: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { name: &'static str, stored: u32, computed: u32 },
    #[error("{what}: count {count} exceeds the limit {limit}")]
    TooMany { what: &'static str, count: u64, limit: u64 },
    #[error("{what}: count {count} needs at least {needed} bytes but only {remaining} remain")]
    TooLong { what: &'static str, count: u64, needed: u64, remaining: u64 },
    #[error("bad {what} tag {value}")]
    BadTag { what: &'static str, value: u64 },
    #[error("{what} is not valid UTF-8")]
    BadUtf8 { what: &'static str },
    #[error("bad learning instruction {word:#018x}: {reason}")]
    BadInstr { word: u64, reason: InstrError },
    #[error("non-zero reserved bytes in {what}")]
    Reserved { what: &'static str },
    #[error("{count} unread bytes at the end of {what}")]
    TrailingBytes { what: &'static str, count: u64 },
    #[error("invalid chip spec: {0}")]
    Spec(Box<SpecError>),
    #[error("invalid program: {0}")]
    Invalid(Box<ValidationError>),
}

/// Why [`read_program`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Decode { path: PathBuf, source: DecodeError },
}

/// Read and decode a `program.bin` file.
pub fn read_program(path: &Path) -> Result<Program, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io { path: path.to_owned(), source })?;
    decode(&bytes).map_err(|source| ReadError::Decode { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::{ChipSpec, PROFILE_NAMES};

    #[test]
    fn empty_programs_round_trip() {
        for name in PROFILE_NAMES {
            let p = Program::new(ChipSpec::profile(name).expect("profile"), "empty");
            assert_eq!(decode(&encode(&p)), Ok(p));
        }
    }

    #[test]
    fn every_truncation_is_an_error_inside_the_input() {
        let bytes = encode(&Program::new(ChipSpec::small_profile(), "t"));
        for n in 0..bytes.len() {
            let e = decode(&bytes[..n]).expect_err("truncated");
            assert!(e.offset <= n, "{e} for length {n}");
        }
    }

    #[test]
    fn error_message_names_the_offset() {
        let mut bytes = encode(&Program::new(ChipSpec::small_profile(), "t"));
        bytes[0] = b'X';
        assert_eq!(decode(&bytes).expect_err("bad magic").to_string(), "bad magic (not a program.bin) (at offset 0x0)");
    }
}
