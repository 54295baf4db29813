//! The closing report: what ran, where the time went, how to repeat it.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::bind::runtime::Provider;
use crate::execute::job::Timing;
use crate::geometry::Geometry;

/// Everything the report says.
pub struct Summary {
    /// Where the model ran.
    pub provider: Provider,
    /// What the sampling step runs on ([`crate::execute::dispatch::instruction_set`]).
    pub instruction_set: &'static str,
    /// The sampler's name: "DDIM", "DDPM", "DPM-Solver++ 2M"…
    pub scheduler: String,
    /// Steps per sample.
    pub steps: usize,
    /// Model calls per sample (Heun: 2·steps − 1; the others: steps), twice that when guidance
    /// takes two calls per step (a fixed-batch model).
    pub calls_per_sample: usize,
    /// The seed (printed so that a run can be repeated).
    pub seed: u64,
    /// Global indices computed here.
    pub samples: Range<u64>,
    /// Samples of the whole job.
    pub total_samples: u64,
    /// Samples per model call.
    pub batch: usize,
    /// Per-sample shape.
    pub geometry: Geometry,
    /// Model and sampler time.
    pub timing: Timing,
    /// Wall time of the sampling loop.
    pub sampling_time: Duration,
    /// Wall time of the whole run.
    pub total_time: Duration,
    /// One line per output written ("wrote x0.npy", "wrote 2000 PNGs to DIR").
    pub written: Vec<String>,
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls = self.timing.model_calls.max(1) as f64;
        let sampler_share =
            100.0 * self.timing.sampler.as_secs_f64() / self.sampling_time.as_secs_f64().max(1e-12);
        let scheduler = &self.scheduler;
        let Geometry {
            channels,
            height,
            width,
        } = self.geometry;
        writeln!(
            f,
            "sampled {} of {} samples (indices {}..{}) of {channels}x{height}x{width}, batch {}, seed {}",
            self.samples.end - self.samples.start,
            self.total_samples,
            self.samples.start,
            self.samples.end,
            self.batch,
            self.seed
        )?;
        let evaluations = if self.calls_per_sample == self.steps {
            String::new()
        } else {
            format!(" ({} model calls)", self.calls_per_sample)
        };
        writeln!(
            f,
            "provider {}, {scheduler}, {} steps{evaluations}, sampler on {}",
            self.provider.name(),
            self.steps,
            self.instruction_set
        )?;
        let per = if evaluations.is_empty() {
            "step"
        } else {
            "model call"
        };
        writeln!(
            f,
            "time: total {:.1} ms, sampling {:.1} ms; per {per}: model {:.3} ms, sampler {:.1} µs ({sampler_share:.1}% of sampling)",
            milliseconds(self.total_time),
            milliseconds(self.sampling_time),
            milliseconds(self.timing.model) / calls,
            1e3 * milliseconds(self.timing.sampler) / calls,
        )?;
        for line in &self.written {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
