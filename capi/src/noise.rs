//! Noise v1 streams in caller storage: sample i of seed s owns one generator (see
//! `diffusion_core::noise`), so C draws the same normals as the Rust core for the same (s, i).

use core::mem::{MaybeUninit, align_of, size_of};

use diffusion_core::{NoiseSource, NoiseStream, noise_stream};

use crate::slices::{self, Span};
use crate::status::{DcStatus, status_of};

/// The version of the noise specification these streams implement (`diffusion_core::noise`).
pub const DC_NOISE_SPEC_VERSION: u32 = 1;

const _: () = assert!(DC_NOISE_SPEC_VERSION == diffusion_core::noise::NOISE_SPEC_VERSION);

/// One sample's noise generator (PCG-XSH-RR 64/32, 16 bytes). Every bit pattern is a valid
/// generator, so a zeroed one is safe to use (it just is not any sample's stream); make one with
/// `dc_noise_stream`. Copy it to replay the same noise.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DcNoiseStream {
    opaque: [u64; 2],
}

// The cast between the two below relies on this, on every target.
const _: () = assert!(size_of::<DcNoiseStream>() == size_of::<NoiseStream>());
const _: () = assert!(align_of::<DcNoiseStream>() >= align_of::<NoiseStream>());

/// The core's generator inside C's storage.
pub(crate) fn as_generators(streams: &mut [DcNoiseStream]) -> &mut [NoiseStream] {
    // SAFETY: same size, stride and sufficient alignment (asserted above); a NoiseStream is
    // `#[repr(transparent)]` over rand_pcg's Pcg32, two u64 (state and increment), for which
    // every bit pattern is valid.
    unsafe {
        core::slice::from_raw_parts_mut(streams.as_mut_ptr().cast::<NoiseStream>(), streams.len())
    }
}

/// Sample `sample_index`'s noise stream for `seed` (noise v1), as the Rust core's `noise_stream`.
#[unsafe(no_mangle)]
pub extern "C" fn dc_noise_stream(seed: u64, sample_index: u64) -> DcNoiseStream {
    let mut stream = MaybeUninit::<DcNoiseStream>::uninit();
    // SAFETY: the storage has the generator's size and alignment (asserted above); writing
    // initializes all 16 bytes, since a NoiseStream is two u64 without padding.
    unsafe {
        stream
            .as_mut_ptr()
            .cast::<NoiseStream>()
            .write(noise_stream(seed, sample_index));
        stream.assume_init()
    }
}

/// Fills `out[0 .. len]` with the stream's next `len` standard normals (noise v1: drawn in pairs,
/// an odd `len` discards the pair's second value) and advances it.
///
/// Errors: `NULL_POINTER` (`stream`, or `out` with `len` > 0), `MISALIGNED_POINTER`,
/// `ARRAY_TOO_LONG`, `OVERLAPPING_ARRAYS` (`out` covers the stream).
///
/// # Safety
///
/// `stream` must point to a `DcNoiseStream` and `out` to `len` floats, both writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_noise_fill_standard_normal(
    stream: *mut DcNoiseStream,
    out: *mut f32,
    len: usize,
) -> DcStatus {
    status_of((|| {
        slices::check(stream, 1)?;
        slices::check(out, len)?;
        slices::disjoint(&[Span::of(stream, 1), Span::of(out, len)])?;
        // SAFETY: checked above; valid and exclusive by the caller's contract.
        let (stream, out) =
            unsafe { (slices::exclusive(stream, 1)?, slices::exclusive(out, len)?) };
        as_generators(stream)
            .iter_mut()
            .for_each(|generator| generator.fill_standard_normal(out));
        Ok(())
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_give_the_cores_normals() {
        let mut stream = dc_noise_stream(0, 0);
        let mut out = [0.0f32; 5];
        // SAFETY: valid pointers.
        let status = unsafe { dc_noise_fill_standard_normal(&mut stream, out.as_mut_ptr(), 5) };
        assert_eq!(status, DcStatus::Ok);
        // noise v1 test vector (diffusion_core::noise)
        assert_eq!(
            out.map(f32::to_bits),
            [
                0xBF39_E2C8,
                0x3E4C_CDF1,
                0x3F8B_36B1,
                0xBF7B_C9B1,
                0xBF3C_15B5
            ]
        );
        // SAFETY: NULL and zero length are checked, never read.
        unsafe {
            assert_eq!(
                dc_noise_fill_standard_normal(core::ptr::null_mut(), out.as_mut_ptr(), 1),
                DcStatus::NullPointer
            );
            assert_eq!(
                dc_noise_fill_standard_normal(&mut stream, core::ptr::null_mut(), 1),
                DcStatus::NullPointer
            );
            assert_eq!(
                dc_noise_fill_standard_normal(&mut stream, core::ptr::null_mut(), 0),
                DcStatus::Ok
            );
        }
    }
}
