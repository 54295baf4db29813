//! Ctrl-C and SIGTERM: the first one asks the run to stop at the next step boundary, where the
//! error [`Interrupted`] unwinds the run and every temporary output file is removed on the way
//! out; the exit code is 128 + the signal's number (130, 143). A second signal ends the process at
//! once, with the same code.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

/// The number of the last signal received, 0 while none has been.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Whether any signal has been received (what the second signal's immediate exit tests).
static SIGNALLED: AtomicBool = AtomicBool::new(false);

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
    Ok(())
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
