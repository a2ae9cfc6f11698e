//! A bounds-checked little-endian reader in the style of wasmparser's `BinaryReader`: every read
//! checks the remaining bytes, every count is checked against a limit and against the remaining
//! bytes ([`Reader::read_size`]) before the caller allocates.

use super::{DecodeError, DecodeErrorKind};
use crate::validate::MAX_NAME_BYTES;

#[derive(Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data[0]` in the whole input.
    base: usize,
}

pub(crate) type Result<T> = std::result::Result<T, DecodeError>;

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0, base: 0 }
    }

    /// Offset of the next byte in the whole input.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn error_at<T>(&self, offset: usize, kind: DecodeErrorKind) -> Result<T> {
        Err(DecodeError { offset, kind })
    }

    pub fn error<T>(&self, kind: DecodeErrorKind) -> Result<T> {
        self.error_at(self.offset(), kind)
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return self.error(DecodeErrorKind::UnexpectedEof { what });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N, what)?);
        Ok(a)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn i8(&mut self, what: &'static str) -> Result<i8> {
        Ok(i8::from_le_bytes(self.array(what)?))
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &'static str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    /// A byte that must be 0 or 1.
    pub fn bool(&mut self, what: &'static str) -> Result<bool> {
        let at = self.offset();
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => self.error_at(at, DecodeErrorKind::BadTag { what, value: u64::from(v) }),
        }
    }

    /// A one-byte tag mapped through `f`; unknown values are a [`DecodeErrorKind::BadTag`].
    pub fn tag<T>(&mut self, what: &'static str, f: impl FnOnce(u8) -> Option<T>) -> Result<T> {
        let at = self.offset();
        let v = self.u8(what)?;
        match f(v) {
            Some(t) => Ok(t),
            None => self.error_at(at, DecodeErrorKind::BadTag { what, value: u64::from(v) }),
        }
    }

    /// A u32 count of items that each take at least `min_item_bytes` bytes: checked against
    /// `limit` and against the remaining bytes, so the caller may allocate `count` items.
    pub fn read_size(&mut self, limit: u64, min_item_bytes: usize, what: &'static str) -> Result<usize> {
        let at = self.offset();
        let count = u64::from(self.u32(what)?);
        if count > limit {
            return self.error_at(at, DecodeErrorKind::TooMany { what, count, limit });
        }
        let needed = count.saturating_mul(min_item_bytes as u64);
        let remaining = self.remaining() as u64;
        if needed > remaining {
            return self.error_at(at, DecodeErrorKind::TooLong { what, count, needed, remaining });
        }
        usize::try_from(count).or_else(|_| self.error_at(at, DecodeErrorKind::TooMany { what, count, limit }))
    }

    /// A string: u16 byte length (at most [`MAX_NAME_BYTES`]) and UTF-8 bytes.
    pub fn string(&mut self, what: &'static str) -> Result<String> {
        let at = self.offset();
        let len = u64::from(self.u16(what)?);
        if len > MAX_NAME_BYTES as u64 {
            return self.error_at(at, DecodeErrorKind::TooMany { what, count: len, limit: MAX_NAME_BYTES as u64 });
        }
        let start = self.offset();
        let b = self.bytes(len as usize, what)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => self.error_at(start, DecodeErrorKind::BadUtf8 { what }),
        }
    }

    /// The next `len` bytes as a reader of their own (offsets stay those of the whole input).
    pub fn sub(&mut self, len: usize, what: &'static str) -> Result<Reader<'a>> {
        let base = self.offset();
        let data = self.bytes(len, what)?;
        Ok(Reader { data, pos: 0, base })
    }

    /// All bytes this reader covers.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Every byte must have been read.
    pub fn finish(&self, what: &'static str) -> Result<()> {
        if self.remaining() != 0 {
            return self.error(DecodeErrorKind::TrailingBytes { what, count: self.remaining() as u64 });
        }
        Ok(())
    }
}
