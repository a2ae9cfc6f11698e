//! A vector whose elements start on a 64-byte boundary (a cache line), in safe code.
//!
//! The LIF loop loads and stores 64 bytes of each array at a time; where an array starts
//! inside a cache line, every such access touches two lines (the allocator aligns large
//! blocks to 16 bytes only). [`Aligned`] over-allocates by one line and starts its slice at
//! the first element on a line boundary.

use std::ops::{Deref, DerefMut};

/// Bytes of a cache line.
const LINE: usize = 64;

/// A growable array (while it is built: [`Aligned::extend_from_slice`], [`Aligned::append`])
/// whose slice starts on a cache line once [`Aligned::align`] has run.
#[derive(Default)]
pub struct Aligned<T> {
    buf: Vec<T>,
    /// Index in `buf` of the first element.
    off: usize,
}

impl<T: Copy + Default> Aligned<T> {
    /// `xs` copied into a cache-line-aligned buffer.
    pub fn from_slice(xs: &[T]) -> Aligned<T> {
        let size = std::mem::size_of::<T>().max(1);
        let mut buf = Vec::with_capacity(xs.len() + LINE / size);
        // Elements before the first line boundary inside the allocation (a whole number of
        // them: an element's address is a multiple of its alignment, which divides a power
        // of two ≤ 64 for the types used here; otherwise the slice is merely unaligned).
        let addr = buf.as_ptr() as usize;
        let off = if addr.is_multiple_of(size) { (LINE - addr % LINE) % LINE / size } else { 0 };
        buf.resize(off, T::default());
        buf.extend_from_slice(xs);
        Aligned { buf, off }
    }

    /// Append `xs` (may move the elements: call [`Aligned::align`] when done).
    pub fn extend_from_slice(&mut self, xs: &[T]) {
        self.buf.extend_from_slice(xs);
    }

    /// Move the elements of `xs` to the end (as [`Vec::append`]).
    pub fn append(&mut self, xs: &mut Vec<T>) {
        self.buf.append(xs);
    }

    /// Start the elements on a cache line (a copy, unless they already do).
    pub fn align(&mut self) {
        if !(self.as_ptr() as usize).is_multiple_of(LINE) {
            *self = Aligned::from_slice(self);
        }
    }
}

impl<T> Deref for Aligned<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.buf[self.off..]
    }
}

impl<T> DerefMut for Aligned<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.off..]
    }
}

impl<T: Copy + Default> From<Vec<T>> for Aligned<T> {
    fn from(xs: Vec<T>) -> Aligned<T> {
        let mut a = Aligned { buf: xs, off: 0 };
        a.align();
        a
    }
}

impl<T: Copy + Default> Clone for Aligned<T> {
    /// A copy aligned in its own allocation.
    fn clone(&self) -> Aligned<T> {
        Aligned::from_slice(self)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Aligned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_start_on_a_line_and_keep_their_values() {
        for n in [0usize, 1, 15, 16, 17, 1000] {
            let xs: Vec<i32> = (0..n as i32).map(|i| i * 7 - 3).collect();
            let a = Aligned::from_slice(&xs);
            assert_eq!(&a[..], &xs[..]);
            let b: Aligned<u16> = xs.iter().map(|&x| x as u16).collect::<Vec<_>>().into();
            assert_eq!(b.len(), n);
            if n > 0 {
                assert_eq!(a.as_ptr() as usize % LINE, 0);
                assert_eq!(b.as_ptr() as usize % LINE, 0);
            }
            let c = a.clone();
            assert_eq!(&c[..], &xs[..]);
            if n > 0 {
                assert_eq!(c.as_ptr() as usize % LINE, 0);
            }
            let mut d = Aligned::default();
            d.extend_from_slice(&xs[..n / 2]);
            d.append(&mut xs[n / 2..].to_vec());
            d.align();
            assert_eq!(&d[..], &xs[..]);
            if n > 0 {
                assert_eq!(d.as_ptr() as usize % LINE, 0);
            }
        }
    }
}
