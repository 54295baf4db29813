//! C arrays (pointer, length) turned into Rust slices, or into the status that says why not.
//!
//! A Rust slice must be non-null, aligned, at most `isize::MAX` bytes long, and a `&mut` slice
//! must not overlap any other live slice. These checks make each of those an error code; what no
//! check can see is whether the C caller's pointer really covers `len` elements.

use core::mem::{align_of, size_of};

use crate::status::DcStatus;

/// The byte range an array covers, for the overlap check.
#[derive(Clone, Copy)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The bytes of `len` elements of `T` at `ptr` (empty for length 0).
    pub(crate) fn of<T>(ptr: *const T, len: usize) -> Span {
        let start = ptr as usize;
        Span {
            start,
            end: start.saturating_add(len.saturating_mul(size_of::<T>())),
        }
    }

    fn overlaps(self, other: Span) -> bool {
        self.start < self.end
            && other.start < other.end
            && self.start < other.end
            && other.start < self.end
    }
}

/// `OverlappingArrays` when any two non-empty spans share a byte.
pub(crate) fn disjoint(spans: &[Span]) -> Result<(), DcStatus> {
    for (position, first) in spans.iter().enumerate() {
        for second in spans.iter().skip(position + 1) {
            if first.overlaps(*second) {
                return Err(DcStatus::OverlappingArrays);
            }
        }
    }
    Ok(())
}

/// Checks what a slice needs of `ptr`: not NULL unless `len` is 0, aligned, not too long.
pub(crate) fn check<T>(ptr: *const T, len: usize) -> Result<(), DcStatus> {
    if len == 0 {
        return Ok(());
    }
    if ptr.is_null() {
        return Err(DcStatus::NullPointer);
    }
    if (ptr as usize) % align_of::<T>() != 0 {
        return Err(DcStatus::MisalignedPointer);
    }
    if len > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(DcStatus::ArrayTooLong);
    }
    Ok(())
}

/// A shared slice of `len` elements at `ptr` (NULL allowed for length 0).
///
/// # Safety
///
/// When the checks pass, `ptr` must point to `len` initialized elements that nothing writes for
/// the lifetime `'a`.
pub(crate) unsafe fn shared<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], DcStatus> {
    check(ptr, len)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: non-null, aligned, at most isize::MAX bytes (checked); valid and unaliased by the
    // caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A mutable slice of `len` elements at `ptr` (NULL allowed for length 0).
///
/// # Safety
///
/// When the checks pass, `ptr` must point to `len` initialized elements that nothing else
/// accesses for the lifetime `'a` (the callers check overlaps among their own arguments).
pub(crate) unsafe fn exclusive<'a, T>(ptr: *mut T, len: usize) -> Result<&'a mut [T], DcStatus> {
    check(ptr, len)?;
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: as in `shared`, and exclusive by the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_misaligned_and_too_long_arrays_are_refused() {
        let values = [0.0f32; 4];
        assert_eq!(
            check(core::ptr::null::<f32>(), 1),
            Err(DcStatus::NullPointer)
        );
        assert_eq!(check(core::ptr::null::<f32>(), 0), Ok(()));
        let misaligned = (values.as_ptr() as usize + 1) as *const f32;
        assert_eq!(check(misaligned, 1), Err(DcStatus::MisalignedPointer));
        assert_eq!(
            check(values.as_ptr(), usize::MAX / 2),
            Err(DcStatus::ArrayTooLong)
        );
        assert_eq!(check(values.as_ptr(), 4), Ok(()));
    }

    #[test]
    fn overlap_needs_a_shared_byte() {
        let values = [0.0f32; 8];
        let at = |index: usize, len| Span::of(values[index..].as_ptr(), len);
        assert_eq!(disjoint(&[at(0, 4), at(4, 4)]), Ok(()));
        assert_eq!(
            disjoint(&[at(0, 5), at(4, 4)]),
            Err(DcStatus::OverlappingArrays)
        );
        assert_eq!(disjoint(&[at(2, 0), at(0, 8)]), Ok(())); // empty arrays overlap nothing
        assert_eq!(
            disjoint(&[at(0, 1), at(7, 1), at(3, 2), at(7, 1)]),
            Err(DcStatus::OverlappingArrays)
        );
    }
}
