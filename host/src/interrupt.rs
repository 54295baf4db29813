//! Ctrl-C and SIGTERM: the first one asks the run to stop at the next step boundary, where the
//! error [`Interrupted`] unwinds the run and every temporary output file is removed on the way
//! out; the exit code is 128 + the signal's number (130, 143). A second signal ends the process at
//! once, with the same code.
//!
//! **Test-only switch**: [`TEST_STOP_AFTER_BATCHES`] (`DIFFUSION_HOST_TEST_STOP_AFTER_BATCHES=K`,
//! K ≥ 1), read once by [`install`], makes the process raise SIGINT at itself right after the
//! K-th batch of the run has been handed to the outputs (with `--resume`: committed). The signal
//! takes the same path as a Ctrl-C arriving at that moment (the same handlers, error, message and
//! exit code 130), so host's tests can stop a run after an exact batch without timing. Unset,
//! empty, 0 or not a number, it does nothing; the hook then costs one atomic load per batch.
//! It is not an interface for users.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

/// The number of the last signal received, 0 while none has been.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Whether any signal has been received (what the second signal's immediate exit tests).
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// The test-only switch's environment variable (see the module docs): SIGINT after batch K.
pub const TEST_STOP_AFTER_BATCHES: &str = "DIFFUSION_HOST_TEST_STOP_AFTER_BATCHES";
/// K from [`TEST_STOP_AFTER_BATCHES`], 0 when unset (read once, by [`install`]).
static STOP_AFTER_BATCHES: AtomicU64 = AtomicU64::new(0);
/// Batches handed to the outputs so far (counted only while the switch is on).
static BATCHES_HANDED: AtomicU64 = AtomicU64::new(0);

/// The run was stopped by a signal.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal_name} {what}; no output was written")]
pub struct Interrupted {
    /// `SIGINT` or `SIGTERM`.
    pub signal_name: &'static str,
    /// The signal's number.
    pub signal: i32,
    /// What was running, e.g. "while sampling (step 3/25 of batch 2/4)".
    pub what: String,
}

impl Interrupted {
    /// The conventional exit code of a process ended by the signal: 128 + its number.
    pub fn exit_code(&self) -> u8 {
        (128 + self.signal) as u8
    }
}

/// Installs the handlers (once per process).
pub fn install() -> Result<()> {
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so that the first signal finds SIGNALLED still false and only records
        // itself; a second signal exits at once.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, &SIGNALLED)
            .and_then(|_| signal_hook::flag::register(signal, &SIGNALLED))
            .and_then(|_| signal_hook::flag::register_usize(signal, &RECEIVED, signal as usize))
            .context("cannot install the signal handlers")?;
    }
    // After the handlers: the switch raises a signal that they must catch.
    let stop_after = std::env::var(TEST_STOP_AFTER_BATCHES)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    STOP_AFTER_BATCHES.store(stop_after, Ordering::SeqCst);
    Ok(())
}

/// Told by the sampling loop each time a finished batch has been handed to the outputs: the
/// hook of the test-only switch [`TEST_STOP_AFTER_BATCHES`] (module docs), which raises SIGINT
/// after the K-th. Without the switch it only loads one atomic.
pub fn batch_handed_to_outputs() {
    let stop_after = STOP_AFTER_BATCHES.load(Ordering::Relaxed);
    if stop_after != 0 && BATCHES_HANDED.fetch_add(1, Ordering::SeqCst) + 1 == stop_after {
        // Delivered to this thread before raise returns: the next `check` sees it.
        if let Err(error) = signal_hook::low_level::raise(SIGINT) {
            eprintln!("warning: {TEST_STOP_AFTER_BATCHES}: cannot raise SIGINT: {error}");
        }
    }
}

/// Fails with [`Interrupted`] if a signal has arrived; `what` says what was running.
pub fn check(what: impl FnOnce() -> String) -> Result<()> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(Interrupted {
            signal_name: if signal as i32 == SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            },
            signal: signal as i32,
            what: what(),
        }
        .into()),
    }
}
