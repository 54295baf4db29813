//! What the sampling loop runs (a [`Job`]: the plan, the samples, the batch, the conditioning)
//! and what it reports ([`Timing`]).

use std::ops::Range;
use std::time::Duration;

use crate::bind::guidance::Conditioning;
use crate::geometry::Geometry;
use crate::resolve::sampler_plan::SamplingPlan;

/// What to sample.
pub struct Job<'a> {
    /// The realized steps.
    pub plan: &'a SamplingPlan,
    /// Noise seed.
    pub seed: u64,
    /// Global indices of the samples this process computes.
    pub samples: Range<u64>,
    /// Samples per model call.
    pub batch: usize,
    /// Whether a short last batch is padded to `batch` with the next sample indices (discarded
    /// after), so that the model always sees one shape: a fixed-batch model, or TensorRT, whose
    /// engine would be rebuilt for a new shape. Sample i depends only on (seed, i), so the kept
    /// samples are the same either way.
    pub pad_last_batch: bool,
    /// x_T for `samples`, sample after sample, instead of drawing it.
    pub init_noise: Option<&'a [f32]>,
    /// Per-sample shape.
    pub geometry: Geometry,
    /// The model's inputs besides the sample and the timestep, and classifier-free guidance.
    pub conditioning: &'a Conditioning,
    /// With guidance: both halves in one model call of twice the batch (a model whose batch is
    /// dynamic), rather than two calls.
    pub doubled: bool,
}

/// Where the time went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// Inside the model call (including input/output copies of the provider).
    pub model: Duration,
    /// Output check, core step and noise.
    pub sampler: Duration,
    /// Model calls made.
    pub model_calls: u64,
}
