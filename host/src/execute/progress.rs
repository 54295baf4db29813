//! Progress: a bar on a terminal; without one (a batch system's log), a plain line on stderr at
//! most every `--progress-interval` seconds, and a first one when sampling starts.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports model calls as they complete.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Plain lines: the interval, when the last was printed.
    plain: Option<(Duration, Instant)>,
    started: Instant,
    calls_done: u64,
    calls_total: u64,
    samples_done: u64,
    samples_total: u64,
}

impl Progress {
    /// Progress over `calls_total` model calls computing `samples_total` samples.
    pub fn new(calls_total: u64, samples_total: u64, interval: Duration) -> Self {
        let started = Instant::now();
        let (bar, plain) = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(calls_total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} model calls ({eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            (Some(bar), None)
        } else {
            eprintln!("progress: sampling {samples_total} samples in {calls_total} model calls");
            (None, Some((interval, started)))
        };
        Progress {
            bar,
            plain,
            started,
            calls_done: 0,
            calls_total,
            samples_done: 0,
            samples_total,
        }
    }

    /// One step of a batch is done, which took `calls` model calls (two with guidance on a
    /// fixed-batch model); `samples_finished` samples were completed by it.
    pub fn step_done(&mut self, calls: u64, samples_finished: u64) {
        self.calls_done += calls;
        self.samples_done += samples_finished;
        if let Some(bar) = &self.bar {
            bar.inc(calls);
        }
        if let Some((interval, last)) = &mut self.plain {
            let now = Instant::now();
            if now - *last >= *interval && self.calls_done < self.calls_total {
                *last = now;
                eprintln!("{}", self.line(now));
            }
        }
    }

    /// "progress: 48/160 samples, 120/400 model calls (30.0%), 12.3 calls/s, ETA 28 s".
    fn line(&self, now: Instant) -> String {
        let elapsed = (now - self.started).as_secs_f64();
        let rate = self.calls_done as f64 / elapsed.max(1e-9);
        let left = (self.calls_total - self.calls_done) as f64 / rate.max(1e-9);
        format!(
            "progress: {}/{} samples, {}/{} model calls ({:.1}%), {rate:.1} calls/s, ETA {:.0} s",
            self.samples_done,
            self.samples_total,
            self.calls_done,
            self.calls_total,
            100.0 * self.calls_done as f64 / self.calls_total.max(1) as f64,
            left.ceil()
        )
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_line_counts_and_estimates() {
        let mut progress = Progress {
            bar: None,
            plain: None,
            started: Instant::now(),
            calls_done: 0,
            calls_total: 40,
            samples_done: 0,
            samples_total: 8,
        };
        for _ in 0..5 {
            progress.step_done(2, 0);
        }
        progress.step_done(1, 4);
        let line = progress.line(progress.started + Duration::from_secs(11));
        assert_eq!(
            line,
            "progress: 4/8 samples, 11/40 model calls (27.5%), 1.0 calls/s, ETA 29 s"
        );
    }
}
