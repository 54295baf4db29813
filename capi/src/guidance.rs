//! Classifier-free guidance over C arrays: [`diffusion_core::Guidance`] as diffusers'
//! StableDiffusionPipeline computes it, so that a C firmware guides with the same bits as `host`.

use diffusion_core::Guidance;

use crate::slices::{self, Span};
use crate::status::{DcStatus, status_of};

/// Guides `batch` samples laid out one after another (`guided_len` a multiple of `batch`):
/// per sample, `guided = unconditional + scale·(conditional − unconditional)`, then, when
/// `rescale` > 0, diffusers' `rescale_noise_cfg`:
/// `guided ← rescale·guided·σ(conditional)/σ(guided) + (1 − rescale)·guided`, σ the unbiased
/// standard deviation of the sample's values accumulated in double (NaN for samples of one
/// value, as in diffusers). `scale` = 1 copies `conditional`. The three arrays have one length
/// and must not overlap (`guided` is written only after every check passed).
///
/// Errors: `INVALID_GUIDANCE` (`scale` not finite as a float, `rescale` outside [0, 1]),
/// `LENGTH_MISMATCH` (lengths differ, `batch` 0 or not dividing them), and the array checks
/// (`NULL_POINTER`, `MISALIGNED_POINTER`, `ARRAY_TOO_LONG`, `OVERLAPPING_ARRAYS`).
///
/// # Safety
///
/// Each pointer must point to as many valid elements as its length says (NULL only with length
/// 0); `guided` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dc_guidance_combine_batch(
    scale: f64,
    rescale: f64,
    batch: usize,
    unconditional: *const f32,
    unconditional_len: usize,
    conditional: *const f32,
    conditional_len: usize,
    guided: *mut f32,
    guided_len: usize,
) -> DcStatus {
    status_of((|| {
        let guidance = Guidance::new(scale, rescale)?;
        slices::check(unconditional, unconditional_len)?;
        slices::check(conditional, conditional_len)?;
        slices::check(guided, guided_len)?;
        slices::disjoint(&[
            Span::of(unconditional, unconditional_len),
            Span::of(conditional, conditional_len),
            Span::of(guided, guided_len),
        ])?;
        if batch == 0
            || guided_len % batch != 0
            || unconditional_len != guided_len
            || conditional_len != guided_len
        {
            return Err(DcStatus::LengthMismatch);
        }
        // SAFETY: checked (non-null unless empty, aligned, not too long, disjoint); valid by the
        // caller's contract.
        let (unconditional, conditional, guided) = unsafe {
            (
                slices::shared(unconditional, unconditional_len)?,
                slices::shared(conditional, conditional_len)?,
                slices::exclusive(guided, guided_len)?,
            )
        };
        let per_sample = guided.len() / batch;
        if per_sample == 0 {
            return Ok(()); // batch samples of no values
        }
        guidance.combine_batch(per_sample, unconditional, conditional, guided)?;
        Ok(())
    })())
}
