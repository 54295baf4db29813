//! `--resume`: the progress of a run, committed after every batch, so that a run killed at any
//! moment (SIGKILL, a preempted node) and started again with the same command and `--resume`
//! continues from its last completed batch and ends with the same bytes.
//!
//! Where the state lives, next to the outputs (documented in the README):
//! - `--save-npy X.npy`: the samples so far in `X.npy.partial` (the final file's header, then the
//!   finished samples), the state in `X.npy.partial.json`;
//! - `--out-dir DIR`: the finished PNGs in `DIR/.host-resume-START-END/`, the state in its
//!   `state.json`.
//!
//! The state file is the commit point: it is replaced (written beside and renamed) only after the
//! batch's data is synced, so it never claims samples that are not on disk. A resumed run checks
//! that it is the same job (model hash, sampler, seed, total, range, shape), naming the difference.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::finish::manifest::JobIdentity;

/// The format's name and version.
const FORMAT: &str = "diffusion-host resume v2";

/// What a state file says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// [`FORMAT`].
    pub format: String,
    /// The job.
    pub job: JobIdentity,
    /// The range of this run (global indices).
    pub samples: [u64; 2],
    /// Samples finished and on disk, from the range's start.
    pub done: u64,
}

/// The state beside `--save-npy X.npy`.
pub fn npy_state_path(npy: &Path) -> PathBuf {
    let mut name = npy.as_os_str().to_owned();
    name.push(".partial.json");
    PathBuf::from(name)
}

/// The staging folder of `--out-dir DIR` for the samples `start..end`.
pub fn directory_staging(directory: &Path, samples: &std::ops::Range<u64>) -> PathBuf {
    directory.join(format!(
        ".host-resume-{:06}-{:06}",
        samples.start, samples.end
    ))
}

/// The state file in a staging folder.
pub fn directory_state_path(staging: &Path) -> PathBuf {
    staging.join("state.json")
}

/// How many samples of `samples` are done according to the state files `paths` (0 where one is
/// missing: that output starts over, and the others redo what it lacks). Errors when a state
/// belongs to another job.
pub fn done(paths: &[PathBuf], job: &JobIdentity, samples: &std::ops::Range<u64>) -> Result<u64> {
    let mut done = u64::MAX;
    for path in paths {
        if !path.exists() {
            return Ok(0);
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the resume state {}", path.display()))?;
        let state: ResumeState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a resume state", path.display()))?;
        let start_over = format!("delete {} to start over", path.display());
        if state.format != FORMAT {
            bail!(
                "cannot resume from {}: format {:?}; {start_over}",
                path.display(),
                state.format
            );
        }
        if let Some(difference) = state.job.difference(job) {
            bail!(
                "cannot resume from {}: it is another job ({difference}, saved vs now); {start_over}",
                path.display()
            );
        }
        if state.samples != [samples.start, samples.end] {
            bail!(
                "cannot resume from {}: it holds samples {}..{}, this run is {}..{}; {start_over}",
                path.display(),
                state.samples[0],
                state.samples[1],
                samples.start,
                samples.end
            );
        }
        if state.done > samples.end - samples.start {
            bail!("{}: done {} exceeds its range", path.display(), state.done);
        }
        done = done.min(state.done);
    }
    Ok(if done == u64::MAX { 0 } else { done })
}

/// Replaces the state file `path` atomically: written to `PATH.tmp` (a fixed name, so that a
/// copy left by a kill is overwritten next time), synced, renamed, and the directory synced.
pub fn commit(path: &Path, state: &ResumeState) -> Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temporary = temporary_path(path);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        let text = serde_json::to_string_pretty(state).expect("a state serializes");
        file.write_all(text.as_bytes())?;
        file.sync_data()?;
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(directory)?.sync_all()
    };
    write().with_context(|| format!("cannot write the resume state {}", path.display()))
}

/// Removes the state file `path` (and a temporary copy a kill may have left).
pub fn remove(path: &Path) -> Result<()> {
    let _ = std::fs::remove_file(temporary_path(path));
    std::fs::remove_file(path)
        .with_context(|| format!("cannot remove the resume state {}", path.display()))
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// A new state for `samples` with `done` finished.
pub fn state(job: &JobIdentity, samples: &std::ops::Range<u64>, done: u64) -> ResumeState {
    ResumeState {
        format: FORMAT.into(),
        job: job.clone(),
        samples: [samples.start, samples.end],
        done,
    }
}
