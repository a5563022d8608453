//! Copying strings and pointer arrays into the caller's buffer, as offsets: plain
//! Rust, so that "buffer too small" (glibc then retries with a larger one) is decided
//! and tested here, not in the FFI.

use std::mem::{align_of, size_of};

/// The buffer was too small: the caller should retry with a larger one.
#[derive(Debug, PartialEq, Eq)]
pub struct TooSmall;

/// Fills a buffer from its start; every item's place is an offset into it.
pub struct Packer<'a> {
    buf: &'a mut [u8],
    used: usize,
}

impl<'a> Packer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Packer<'a> {
        Packer { buf, used: 0 }
    }

    /// Copies `s` with a terminating NUL; its offset. `s` must hold no NUL (the files
    /// cannot: their writer refuses control characters).
    pub fn string(&mut self, s: &str) -> Result<usize, TooSmall> {
        let start = self.used;
        let end = start.checked_add(s.len() + 1).ok_or(TooSmall)?;
        let place = self.buf.get_mut(start..end).ok_or(TooSmall)?;
        place[..s.len()].copy_from_slice(s.as_bytes());
        place[s.len()] = 0;
        self.used = end;
        Ok(start)
    }

    /// Room for `n` pointers, aligned for pointers; its offset. `base` is the buffer's
    /// address, needed to align.
    pub fn pointers(&mut self, base: usize, n: usize) -> Result<usize, TooSmall> {
        let align = align_of::<*const u8>();
        let misalign = (base + self.used) % align;
        let start = self.used + if misalign == 0 { 0 } else { align - misalign };
        let end = n
            .checked_mul(size_of::<*const u8>())
            .and_then(|len| start.checked_add(len))
            .ok_or(TooSmall)?;
        if end > self.buf.len() {
            return Err(TooSmall);
        }
        self.used = end;
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_pointers_fit_or_say_too_small() {
        let mut buf = [0xffu8; 32];
        let base = buf.as_ptr() as usize;
        let mut p = Packer::new(&mut buf);
        assert_eq!(p.string("alice"), Ok(0));
        assert_eq!(p.string(""), Ok(6));
        let at = p.pointers(base, 2).unwrap();
        assert_eq!((base + at) % align_of::<*const u8>(), 0);
        assert!(at >= 7);
        assert_eq!(p.string("this does not fit any more"), Err(TooSmall));
        assert_eq!(p.pointers(base, 100), Err(TooSmall));
        assert_eq!(p.pointers(base, usize::MAX), Err(TooSmall));
        assert_eq!(&buf[..7], b"alice\0\0");
        let mut empty = [0u8; 0];
        assert_eq!(Packer::new(&mut empty).string(""), Err(TooSmall));
    }
}
