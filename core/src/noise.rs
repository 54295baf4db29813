//! Portable Gaussian noise, specified so that any implementation can reproduce it.
//!
//! # Noise v1
//!
//! **Streams.** Sample `i` (a `u64`, its index in the whole job) of seed `s` owns one
//! [`NoiseStream`], a PCG32 generator (PCG-XSH-RR 64/32, as `rand_pcg::Pcg32` implements it):
//!
//! ```text
//! state  = splitmix64(s + (i + 1)·0x9E37_79B9_7F4A_7C15)      (wrapping u64 arithmetic)
//! stream = i                                                 (Pcg32::new(state, stream))
//! splitmix64(z): z = (z ^ (z >> 30))·0xBF58_476D_1CE4_E5B9
//!                z = (z ^ (z >> 27))·0x94D0_49BB_1331_11EB
//!                return z ^ (z >> 31)
//! ```
//!
//! `Pcg32::new(state, stream)` (rand_pcg 0.10) seeds the 64-bit LCG as follows, all arithmetic
//! wrapping u64, with M = 6364136223846793005:
//!
//! ```text
//! increment = (stream << 1) | 1                  (odd; the top bit of the stream is dropped)
//! S         = (state + increment)·M + increment   (one LCG step away from the seed)
//! next u32:   rot = S >> 59,  xsh = u32(((S >> 18) ^ S) >> 27),  output = xsh rotated right by rot
//!             then S ← S·M + increment            (the output uses S before the step)
//! ```
//!
//! The state is the (i+1)-th output of SplitMix64 seeded with `s`, so neighbouring samples start
//! from unrelated states as well as on different PCG streams. Sample `i`'s noise therefore does
//! not depend on the batch size or on which shard of a job draws it.
//!
//! **Normals.** Box–Muller from two `u32`s (`a` first, then `b`), written with nothing but f32
//! `+ − × ÷` and bit manipulation, each operation rounded to nearest-even f32 and never
//! fused. IEEE 754 makes every such operation exact-rounded on every target, so the result is the
//! same bits on x86_64, on a Cortex-M4F, and in numpy (`tests/noise/noise_v1.py` reproduces it
//! bit for bit). No `sqrt`/`log`/`sin`/`cos` from any library is involved: their last-ULP
//! behaviour differs between libraries, and plain arithmetic vectorizes.
//!
//! ```text
//! radius:  u₁ = f32((a >> 8) + 1) · 2⁻²⁴                          ∈ (0, 1], exact
//!          u₁ = 2ᵉ·m with m ∈ [1, 2) from the f32 bits; if m > √2 then m ← m·0.5, e ← e + 1
//!          s = (m − 1)/(m + 1),  w = s·s
//!          ln m = s·(2 + w·(L3 + w·(L5 + w·(L7 + w·L9))))
//!          x = −2·(f32(e)·LN2 + ln m),  h = 0.5·x
//!          y = f32::from_bits(0x5F3759DF − (bits(x) >> 1)), then 3 times: y = y·(1.5 − (h·y)·y)
//!          r = x·y                                          (√x to about 1 ULP)
//! angle:   q = b >> 30 (quadrant),  φ = f32((b >> 8) & 0x3F_FFFF) · 2⁻²² · HALF_PI ∈ [0, π/2)
//!          p = φ·φ
//!          sin φ = φ + (φ·p)·(S3 + p·(S5 + p·(S7 + p·(S9 + p·(S11 + p·S13)))))
//!          cos φ = 1 + p·(C2 + p·(C4 + p·(C6 + p·(C8 + p·(C10 + p·(C12 + p·C14))))))
//!          (cos θ, sin θ) for θ = q·π/2 + φ:  q = 0: (cos φ, sin φ)   q = 1: (−sin φ, cos φ)
//!                                              q = 2: (−cos φ, −sin φ) q = 3: (sin φ, −cos φ)
//! output:  z₀ = r·cos θ,  z₁ = r·sin θ
//! ```
//!
//! The constants are the Taylor coefficients 2/k and ±1/k! rounded to f32, given by their bits:
//! L3 `3F2AAAAB`, L5 `3ECCCCCD`, L7 `3E924925`, L9 `3E638E39`; LN2 `3F317218`, HALF_PI
//! `3FC90FDB`, √2 `3FB504F3`; S3 `BE2AAAAB`, S5 `3C088889`, S7 `B9500D01`, S9 `3638EF1D`,
//! S11 `B2D7322B`, S13 `2F309231`; C2 `BF000000`, C4 `3D2AAAAB`, C6 `BAB60B61`, C8 `37D00D01`,
//! C10 `B493F27E`, C12 `310F76C7`, C14 `AD49CBA5`. Truncation error: below 1e-9 relative for
//! ln m (|s| ≤ 0.172) and 7e-10 for sin/cos on [0, π/2), under the f32 rounding of the result.
//! Normals are drawn in pairs: a request for an odd count `n` computes ⌈n/2⌉ pairs and drops the
//! last `z₁`, so every request starts on a fresh pair.
//!
//! **Order of use in a run.** Each sample's generator first fills x_T (one request of the sample's
//! element count, in NCHW order), then every step that adds noise makes one request of the same
//! count; steps that add none (DDIM with η = 0, and the last step) draw nothing.
//!
//! **Test vectors**: for seed 0, sample 0, the first `u32`s and normals (as f32 bits) are below;
//! `tests/golden/noise.json` holds 1001 normals for five (seed, sample) pairs written by the
//! numpy reference, which the workspace tests require to match bit for bit.
//!
//! ```
//! use diffusion_core::{noise_stream, NoiseSource};
//!
//! let mut words = noise_stream(0, 0);
//! assert_eq!([words.next_u32(), words.next_u32(), words.next_u32()], [0xC0C7_E2C5, 0x750C_892A, 0x575C_7AC6]);
//!
//! let mut normals = [0.0f32; 5];
//! noise_stream(0, 0).fill_standard_normal(&mut normals);
//! assert_eq!(normals.map(f32::to_bits), [0xBF39_E2C8, 0x3E4C_CDF1, 0x3F8B_36B1, 0xBF7B_C9B1, 0xBF3C_15B5]);
//! ```

use rand_core::Rng;
use rand_pcg::Pcg32;

use crate::error::Error;
use crate::pcg_lanes::{LANES, WordLanes};

/// Version of the noise specification implemented here (see the module docs).
///
/// ```
/// assert_eq!(diffusion_core::noise::NOISE_SPEC_VERSION, 1);
/// ```
pub const NOISE_SPEC_VERSION: u32 = 1;

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea & Flood 2014).
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator that owns sample `sample_index`'s noise for `seed` (noise v1).
///
/// ```
/// use diffusion_core::noise_stream;
///
/// let mut generator = noise_stream(0, 0);
/// assert_eq!([generator.next_u32(), generator.next_u32()], [0xC0C7_E2C5, 0x750C_892A]);
/// ```
#[must_use]
pub fn noise_stream(seed: u64, sample_index: u64) -> NoiseStream {
    let state =
        splitmix64(seed.wrapping_add(sample_index.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)));
    NoiseStream {
        generator: Pcg32::new(state, sample_index),
    }
}

/// One sample's noise v1 generator, made by [`noise_stream`]: a PCG32 (PCG-XSH-RR 64/32) whose
/// words become standard normals through [`NoiseSource::fill_standard_normal`]. Clone it to
/// replay the same noise; two streams are equal when they will draw the same values.
///
/// The generator is `rand_pcg`'s `Pcg32`, kept private so that the API does not depend on one
/// `rand_pcg` version, and `NoiseStream` does not implement `rand_core`'s traits for the same
/// reason: the words the spec defines are [`NoiseStream::next_u32`]. Its layout is that of the
/// generator (`#[repr(transparent)]`: two `u64`, state and increment), which the C interface
/// relies on.
///
/// `fill_standard_normal` is compiled once, out of line, which keeps firmware small; a caller
/// compiled for wider vectors than the crate wraps the stream in [`InlinedStream`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct NoiseStream {
    generator: Pcg32,
}

impl NoiseStream {
    /// The next 32-bit word of the PCG32 generator (noise v1's "next u32"): two of them make a
    /// pair of normals. For checking the spec's test vectors; sampling needs only
    /// [`NoiseSource::fill_standard_normal`].
    ///
    /// ```
    /// use diffusion_core::noise_stream;
    ///
    /// assert_eq!(noise_stream(0, 0).next_u32(), 0xC0C7_E2C5);
    /// ```
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.generator.next_u32()
    }
}

const fn f32_bits(bits: u32) -> f32 {
    f32::from_bits(bits)
}

const TWO_TO_MINUS_24: f32 = f32_bits(0x3380_0000);
const TWO_TO_MINUS_22: f32 = f32_bits(0x3480_0000);
const LN_2: f32 = f32_bits(0x3F31_7218);
const HALF_PI: f32 = f32_bits(0x3FC9_0FDB);
const SQRT_2: f32 = f32_bits(0x3FB5_04F3);
const L: [f32; 4] = [
    f32_bits(0x3F2A_AAAB),
    f32_bits(0x3ECC_CCCD),
    f32_bits(0x3E92_4925),
    f32_bits(0x3E63_8E39),
];
const S: [f32; 6] = [
    f32_bits(0xBE2A_AAAB),
    f32_bits(0x3C08_8889),
    f32_bits(0xB950_0D01),
    f32_bits(0x3638_EF1D),
    f32_bits(0xB2D7_322B),
    f32_bits(0x2F30_9231),
];
const C: [f32; 7] = [
    f32_bits(0xBF00_0000),
    f32_bits(0x3D2A_AAAB),
    f32_bits(0xBAB6_0B61),
    f32_bits(0x37D0_0D01),
    f32_bits(0xB493_F27E),
    f32_bits(0x310F_76C7),
    f32_bits(0xAD49_CBA5),
];

/// √(−2·ln u₁) for u₁ = ((a >> 8) + 1)·2⁻²⁴ (noise v1, "radius").
#[inline(always)]
fn radius(a: u32) -> f32 {
    let u1 = ((a >> 8) + 1) as f32 * TWO_TO_MINUS_24;
    let bits = u1.to_bits();
    let mantissa = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000);
    let exponent = ((bits >> 23) as i32) - 127;
    let high = mantissa > SQRT_2;
    let mantissa = if high { mantissa * 0.5 } else { mantissa };
    let exponent = exponent + high as i32;
    let s = (mantissa - 1.0) / (mantissa + 1.0);
    let w = s * s;
    let log_mantissa = s * (2.0 + w * (L[0] + w * (L[1] + w * (L[2] + w * L[3]))));
    square_root(-2.0 * (exponent as f32 * LN_2 + log_mantissa))
}

/// √x for x ≥ 0 (or −0) from the bit-level estimate of 1/√x and three Newton steps
/// y ← y·(1.5 − (h·y)·y), h = x/2: about 1 ULP, and plain arithmetic, so it vectorizes and every
/// target (and numpy) computes the same bits.
#[inline(always)]
fn square_root(x: f32) -> f32 {
    let half = 0.5 * x;
    let mut y = f32::from_bits(0x5F37_59DF_u32.wrapping_sub(x.to_bits() >> 1));
    for _ in 0..3 {
        y = y * (1.5 - (half * y) * y);
    }
    x * y
}

/// (cos θ, sin θ) for θ = 2π·(b >> 8)·2⁻²⁴ (noise v1, "angle").
#[inline(always)]
fn unit_circle(b: u32) -> (f32, f32) {
    let quadrant = b >> 30;
    let phi = ((b >> 8) & 0x003F_FFFF) as f32 * TWO_TO_MINUS_22 * HALF_PI;
    let p = phi * phi;
    let sin_tail = S[0] + p * (S[1] + p * (S[2] + p * (S[3] + p * (S[4] + p * S[5]))));
    let sin = phi + (phi * p) * sin_tail;
    let cos = 1.0
        + p * (C[0] + p * (C[1] + p * (C[2] + p * (C[3] + p * (C[4] + p * (C[5] + p * C[6]))))));
    let (cos, sin) = if quadrant & 1 == 0 {
        (cos, sin)
    } else {
        (sin, cos)
    };
    let cos = if quadrant == 1 || quadrant == 2 {
        -cos
    } else {
        cos
    };
    let sin = if quadrant >= 2 { -sin } else { sin };
    (cos, sin)
}

/// A source of standard normal values for the stochastic part of a step.
///
/// Implemented by [`NoiseStream`] (noise v1), [`InlinedStream`] and [`SliceNoise`]; a caller can
/// supply its own, e.g. zeros to see a sampler's mean:
///
/// ```
/// use diffusion_core::NoiseSource;
///
/// struct Zeros;
/// impl NoiseSource for Zeros {
///     fn fill_standard_normal(&mut self, out: &mut [f32]) {
///         out.fill(0.0);
///     }
/// }
/// let mut values = [1.0f32; 3];
/// Zeros.fill_standard_normal(&mut values);
/// assert_eq!(values, [0.0; 3]);
/// ```
pub trait NoiseSource {
    /// Fills `out` with the next `out.len()` standard normal values.
    fn fill_standard_normal(&mut self, out: &mut [f32]);

    /// How many values the source has left: `None` (the default) for an endless generator,
    /// `Some(n)` for a finite one such as [`SliceNoise`]. A step that would draw more than that
    /// is [`Error::NoiseExhausted`], before it touches any sample.
    fn remaining(&self) -> Option<usize> {
        None
    }
}

/// `Err(NoiseExhausted)` when `noise` is finite and holds fewer than `needed` values.
#[inline(always)]
pub(crate) fn ensure_noise<N: NoiseSource + ?Sized>(noise: &N, needed: usize) -> Result<(), Error> {
    match noise.remaining() {
        Some(available) if available < needed => Err(Error::NoiseExhausted { needed, available }),
        _ => Ok(()),
    }
}

/// Whether words come from [`WordLanes`]: on 64-bit targets, where a 64-bit multiply is one
/// instruction and out-of-order cores overlap the lanes' eight. A 32-bit microcontroller (in
/// order, a 64-bit multiply in three instructions) would gain nothing and pay in flash.
const LANES_PAY_OFF: bool = cfg!(target_pointer_width = "64");

/// Pairs of normals computed per block (64 values).
const PAIRS: usize = 32;

/// Noise v1 normals from `generator` into `out` (see the module docs), for both [`NoiseStream`]
/// and [`InlinedStream`]. On 64-bit targets, requests of eight words or more take their words eight at
/// a time from jumped-ahead copies of the LCG ([`WordLanes`]); otherwise one at a time. The words
/// are the same either way.
#[inline(always)]
fn fill_normals(generator: &mut Pcg32, out: &mut [f32]) {
    let words = 2 * out.len().div_ceil(2);
    if LANES_PAY_OFF && words >= LANES {
        let lanes = LaneWords {
            lanes: WordLanes::new(generator),
            words_left: words,
        };
        let lanes = box_muller_blocks(out, lanes);
        *generator = lanes
            .lanes
            .generator_at(lanes.words_left, generator.stream());
    } else {
        box_muller_blocks(out, SequentialWords(generator));
    }
}

/// Where [`box_muller_blocks`] takes its words.
trait WordSource {
    /// Puts the next `pairs` pairs of words (`a`, `b`) in the first entries of `first`, `second`.
    fn fill(&mut self, first: &mut [u32; PAIRS], second: &mut [u32; PAIRS], pairs: usize);
}

/// Words straight from the generator, one at a time.
struct SequentialWords<'a>(&'a mut Pcg32);

impl WordSource for SequentialWords<'_> {
    #[inline(always)]
    fn fill(&mut self, first: &mut [u32; PAIRS], second: &mut [u32; PAIRS], pairs: usize) {
        for (a, b) in first.iter_mut().zip(second.iter_mut()).take(pairs) {
            (*a, *b) = (self.0.next_u32(), self.0.next_u32());
        }
    }
}

/// Words from [`WordLanes`], which move only past whole groups: a last, partial group is resumed
/// from `words_left` afterwards.
struct LaneWords {
    lanes: WordLanes,
    words_left: usize,
}

impl WordSource for LaneWords {
    #[inline(always)]
    fn fill(&mut self, first: &mut [u32; PAIRS], second: &mut [u32; PAIRS], pairs: usize) {
        const PAIRS_PER_GROUP: usize = LANES / 2;
        let groups = pairs.div_ceil(PAIRS_PER_GROUP);
        for (a, b) in first
            .chunks_exact_mut(PAIRS_PER_GROUP)
            .zip(second.chunks_exact_mut(PAIRS_PER_GROUP))
            .take(groups)
        {
            let words = self.lanes.words();
            for (pair, (a, b)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                (*a, *b) = (words[2 * pair], words[2 * pair + 1]);
            }
            if self.words_left >= LANES {
                self.lanes.advance();
                self.words_left -= LANES;
            }
        }
    }
}

/// Fills `out` block by block: `source` puts each pair's two words in `first` and `second`, then
/// branch-free passes over whole blocks, which vectorize, turn them into normals; the bits are
/// those of the scalar definition, since every operation is exact-rounded. Gives `source` back.
#[inline(always)]
fn box_muller_blocks<S: WordSource>(out: &mut [f32], mut source: S) -> S {
    let mut first = [0u32; PAIRS];
    let mut second = [0u32; PAIRS];
    let mut radii = [0.0f32; PAIRS];
    let mut cosines = [0.0f32; PAIRS];
    for block in out.chunks_mut(2 * PAIRS) {
        source.fill(&mut first, &mut second, block.len().div_ceil(2));
        for (r, &a) in radii.iter_mut().zip(&first) {
            *r = radius(a);
        }
        // z₀ = r·cos θ into `cosines`, z₁ = r·sin θ over the radius it came from.
        for ((r, c), &b) in radii.iter_mut().zip(&mut cosines).zip(&second) {
            let (cos, sin) = unit_circle(b);
            (*c, *r) = (*r * cos, *r * sin);
        }
        let full_pairs = block.len() / 2;
        let mut pairs = block.chunks_exact_mut(2);
        for ((pair, &z0), &z1) in (&mut pairs).zip(&cosines).zip(&radii) {
            pair[0] = z0;
            pair[1] = z1;
        }
        if let [last] = pairs.into_remainder() {
            *last = cosines[full_pairs];
        }
    }
    source
}

/// Noise v1 normals with the words taken one at a time, the path 32-bit targets (Cortex-M) always
/// take: lets a 64-bit host test it against the lanes. Not part of the API; the values are those
/// of [`NoiseSource::fill_standard_normal`].
#[doc(hidden)]
pub fn fill_standard_normal_sequential(stream: &mut NoiseStream, out: &mut [f32]) {
    box_muller_blocks(out, SequentialWords(&mut stream.generator));
}

impl NoiseSource for NoiseStream {
    /// Noise v1 normals (see the module docs).
    fn fill_standard_normal(&mut self, out: &mut [f32]) {
        fill_normals(&mut self.generator, out);
    }
}

/// A [`NoiseStream`] whose noise v1 code is inlined into each caller: the same values as the
/// plain stream, for callers compiled for wider vectors than the crate. A function marked
/// `#[target_feature(enable = "avx2")]` that calls [`DdpmDdimPlan::step`](crate::DdpmDdimPlan::step) with this
/// source gets the step and the noise vectorized for AVX2 (the step is always inlined too), which
/// is how `host` runs them. The plain `NoiseStream` keeps one out-of-line copy, for small firmware.
///
/// ```
/// use diffusion_core::{noise_stream, InlinedStream, NoiseSource};
///
/// let (mut plain, mut inlined) = ([0.0f32; 5], [0.0f32; 5]);
/// noise_stream(3, 9).fill_standard_normal(&mut plain);
/// InlinedStream(noise_stream(3, 9)).fill_standard_normal(&mut inlined);
/// assert_eq!(plain, inlined);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlinedStream(pub NoiseStream);

impl NoiseSource for InlinedStream {
    /// Noise v1 normals (see the module docs), inlined.
    #[inline(always)]
    fn fill_standard_normal(&mut self, out: &mut [f32]) {
        fill_normals(&mut self.0.generator, out);
    }
}

/// Noise given by the caller (for example diffusers' `variance_noise`), consumed in order.
/// It is finite: a step that would draw more values than it has left returns
/// [`Error::NoiseExhausted`] and leaves the sample unchanged. (Read directly past its end, it
/// fills zeros; [`SliceNoise::consumed`] tells how much was asked for.)
///
/// ```
/// use diffusion_core::{DdpmDdimConfig, DdpmDdimPlan, DdpmDdimRule, Error, NoiseSource,
///     ScheduleConfig, SliceNoise, TimestepConfig, TimestepSpacing, VarianceType};
///
/// let mut noise = SliceNoise::new(&[0.5, -0.5, 1.5]);
/// let mut values = [9.0f32; 2];
/// noise.fill_standard_normal(&mut values);
/// assert_eq!(values, [0.5, -0.5]);
/// assert_eq!(noise.remaining(), Some(1));
///
/// // A DDPM step draws one value per element: two from a source holding none is an error.
/// let ddpm = DdpmDdimConfig { rule: DdpmDdimRule::Ddpm { variance_type: VarianceType::FixedSmall }, ..DdpmDdimConfig::default() };
/// let timesteps = TimestepConfig { num_inference_steps: 10, spacing: TimestepSpacing::Leading, steps_offset: 1 };
/// let plan: DdpmDdimPlan<10> = DdpmDdimPlan::new(&ScheduleConfig::default(), &timesteps, &ddpm)?;
/// let mut x = [0.5f32, -0.5];
/// assert_eq!(
///     plan.step(0, &mut x, &[0.1, 0.2], &mut SliceNoise::new(&[]), &mut []),
///     Err(Error::NoiseExhausted { needed: 2, available: 0 })
/// );
/// assert_eq!(x, [0.5, -0.5]);
/// # Ok::<(), diffusion_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SliceNoise<'a> {
    values: &'a [f32],
    position: usize,
}

impl<'a> SliceNoise<'a> {
    /// Noise read from `values`, front to back.
    ///
    /// ```
    /// # use diffusion_core::SliceNoise;
    /// assert_eq!(SliceNoise::new(&[1.0]).consumed(), 0);
    /// ```
    #[must_use]
    pub fn new(values: &'a [f32]) -> Self {
        SliceNoise {
            values,
            position: 0,
        }
    }

    /// How many values have been requested so far.
    ///
    /// ```
    /// # use diffusion_core::{NoiseSource, SliceNoise};
    /// let mut noise = SliceNoise::new(&[1.0, 2.0]);
    /// noise.fill_standard_normal(&mut [0.0; 3]);
    /// assert_eq!(noise.consumed(), 3); // more than it holds: the step asked for 3
    /// ```
    #[must_use]
    pub fn consumed(&self) -> usize {
        self.position
    }
}

impl NoiseSource for SliceNoise<'_> {
    fn fill_standard_normal(&mut self, out: &mut [f32]) {
        let available = self.values.get(self.position..).unwrap_or(&[]);
        let copied = available.len().min(out.len());
        out[..copied].copy_from_slice(&available[..copied]);
        out[copied..].fill(0.0);
        self.position += out.len();
    }

    fn remaining(&self) -> Option<usize> {
        Some(self.values.len().saturating_sub(self.position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_words_of_seed_zero_sample_zero() {
        let mut rng = noise_stream(0, 0);
        let words = [rng.next_u32(), rng.next_u32(), rng.next_u32()];
        assert_eq!(words, [0xC0C7_E2C5, 0x750C_892A, 0x575C_7AC6]);
    }

    #[test]
    fn spec_test_vectors() {
        // Printed by tests/noise/noise_v1.py (numpy), which agrees to the bit.
        let cases: [((u64, u64), [u32; 5]); 2] = [
            (
                (0, 0),
                [
                    0xBF39_E2C8,
                    0x3E4C_CDF1,
                    0x3F8B_36B1,
                    0xBF7B_C9B1,
                    0xBF3C_15B5,
                ],
            ),
            (
                (42, 7),
                [
                    0x3F51_6878,
                    0x401C_9776,
                    0x3C25_9D51,
                    0x3F83_6604,
                    0x3EC7_1529,
                ],
            ),
        ];
        for ((seed, index), expected) in cases {
            let mut values = [0.0f32; 5];
            noise_stream(seed, index).fill_standard_normal(&mut values);
            assert_eq!(
                values.map(f32::to_bits),
                expected,
                "seed {seed}, sample {index}: {values:?}"
            );
        }
    }

    #[test]
    fn odd_requests_start_on_a_fresh_pair() {
        let mut odd = [0.0f32; 3];
        let mut rng = noise_stream(7, 3);
        rng.fill_standard_normal(&mut odd);
        let mut next = [0.0f32; 2];
        rng.fill_standard_normal(&mut next);
        let mut all = [0.0f32; 6];
        noise_stream(7, 3).fill_standard_normal(&mut all);
        assert_eq!(odd[..], all[..3]);
        assert_eq!(next[..], all[4..]);
    }

    #[test]
    fn a_request_for_n_values_consumes_two_words_per_pair() {
        for n in 0..200usize {
            let mut used = noise_stream(11, 4);
            let mut values = [0.0f32; 200];
            used.fill_standard_normal(&mut values[..n]);
            let mut reference = noise_stream(11, 4);
            for _ in 0..2 * n.div_ceil(2) {
                reference.next_u32();
            }
            assert_eq!(used, reference, "n = {n}");
            assert_eq!(used.next_u32(), reference.next_u32(), "n = {n}");
        }
    }

    #[test]
    fn the_inlined_stream_draws_the_same_values() {
        let (mut plain, mut inlined) = (noise_stream(6, 1), InlinedStream(noise_stream(6, 1)));
        for n in [3usize, 64, 5, 200] {
            let (mut a, mut b) = ([0.0f32; 200], [0.0f32; 200]);
            plain.fill_standard_normal(&mut a[..n]);
            inlined.fill_standard_normal(&mut b[..n]);
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "n = {n}");
        }
    }

    #[test]
    fn samples_and_seeds_have_distinct_streams() {
        let draw = |seed, index| {
            let mut values = [0.0f32; 4];
            noise_stream(seed, index).fill_standard_normal(&mut values);
            values
        };
        assert_eq!(draw(5, 2), draw(5, 2));
        assert_ne!(draw(5, 2), draw(5, 3));
        assert_ne!(draw(5, 2), draw(6, 2));
    }

    #[test]
    fn slice_noise_pads_with_zeros() {
        let mut source = SliceNoise::new(&[1.0, 2.0, 3.0]);
        let mut out = [9.0f32; 2];
        source.fill_standard_normal(&mut out);
        assert_eq!(out, [1.0, 2.0]);
        source.fill_standard_normal(&mut out);
        assert_eq!(out, [3.0, 0.0]);
        assert_eq!(source.consumed(), 4);
    }
}
