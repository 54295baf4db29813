//! Output files: an image grid (PNG, JPEG or WebP, by extension: [`crate::finish::picture`]), one PNG
//! per sample, `.npy` with the exact values, and their manifests.
//!
//! Streamed and all or nothing: every target is checked, and its temporary file created beside
//! it, before the model loads; each finished batch is written at once (memory does not grow with
//! the number of samples); at the end the file systems are synced once, every output is renamed
//! into place, and the manifests last. A failed or interrupted run removes its temporaries (they
//! are deleted on drop) and leaves no output; with `--resume` the progress is kept instead
//! ([`crate::finish::resume`]). Files are created with mode 0666 less the umask, as any other program's
//! output.

use std::fs::{File, Permissions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use npyz::WriterBuilder;
use tempfile::NamedTempFile;

pub use crate::cli::png_scale::PngScale;
use crate::finish::manifest::{JobIdentity, Manifest};
use crate::finish::picture::{ImageFormat, encode, grid_pixels, to_pixels};
use crate::finish::resume;
use crate::geometry::Geometry;
use crate::interrupt;

/// The message of an I/O error without the temporary file's name, which tempfile appends.
fn os_message(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(_) => error.to_string(),
        None => error.kind().to_string(),
    }
}

/// Where a pending output's bytes are until it is renamed into place.
enum Holding {
    /// A hidden temporary file, deleted on drop unless renamed into place.
    Temporary(NamedTempFile),
    /// `TARGET.partial` (`--resume`): kept when the run fails, so that it can be resumed.
    Resumable { path: PathBuf, file: File },
}

/// A file waiting to become `target`: created at once (mode 0666 less the umask).
struct Pending {
    target: PathBuf,
    flag: &'static str,
    holding: Holding,
}

impl Pending {
    /// A temporary file beside `target`.
    fn new(target: &Path, flag: &'static str) -> Result<Self> {
        let directory = checked_directory(target, flag)?;
        let file = tempfile::Builder::new()
            .prefix(".host-")
            .suffix(".partial")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(directory)
            .map_err(|error| {
                anyhow!(
                    "cannot write {flag} {}: {}",
                    target.display(),
                    os_message(&error)
                )
            })?;
        Ok(Pending {
            target: target.to_path_buf(),
            flag,
            holding: Holding::Temporary(file),
        })
    }

    /// `target.partial`, opened as it is (it may hold a previous run's progress).
    fn resumable(target: &Path, flag: &'static str) -> Result<Self> {
        checked_directory(target, flag)?;
        let mut path = target.as_os_str().to_owned();
        path.push(".partial");
        let path = PathBuf::from(path);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| {
                anyhow!(
                    "cannot write {flag} {}: {}",
                    path.display(),
                    os_message(&error)
                )
            })?;
        Ok(Pending {
            target: target.to_path_buf(),
            flag,
            holding: Holding::Resumable { path, file },
        })
    }

    fn file(&self) -> &File {
        match &self.holding {
            Holding::Temporary(file) => file.as_file(),
            Holding::Resumable { file, .. } => file,
        }
    }

    fn directory(&self) -> &Path {
        let path = match &self.holding {
            Holding::Temporary(file) => file.path(),
            Holding::Resumable { path, .. } => path,
        };
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// Fills the file (no sync: [`sync_file_systems`] does that once for all).
    fn fill(&mut self, contents: impl FnOnce(&mut BufWriter<&File>) -> Result<()>) -> Result<()> {
        let mut writer = BufWriter::new(self.file());
        contents(&mut writer)
            .and_then(|()| Ok(writer.flush()?))
            .with_context(|| format!("cannot write {} {}", self.flag, self.target.display()))
    }

    fn persist(self) -> Result<()> {
        let (flag, target) = (self.flag, self.target);
        let renamed = match self.holding {
            Holding::Temporary(file) => file.persist(&target).map(drop).map_err(|e| e.error),
            Holding::Resumable { path, .. } => std::fs::rename(path, &target),
        };
        renamed.map_err(|error| {
            anyhow!(
                "cannot write {flag} {}: {}",
                target.display(),
                os_message(&error)
            )
        })
    }
}

/// The directory `target` goes into, checked: it exists, and `target` is not a directory.
fn checked_directory<'a>(target: &'a Path, flag: &str) -> Result<&'a Path> {
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let fail = |why: String| anyhow!("cannot write {flag} {}: {why}", target.display());
    if target.is_dir() {
        return Err(fail("it is a directory".into()));
    }
    if !directory.is_dir() {
        return Err(fail(format!("no directory {}", directory.display())));
    }
    Ok(directory)
}

/// Syncs the file systems that hold `directories`, once each (syncfs(2)): one call instead of an
/// fsync per file, which cost 5x the sampling time for 2 000 small PNGs.
fn sync_file_systems<'a>(directories: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    let mut synced: Vec<&Path> = Vec::new();
    for directory in directories {
        if synced.contains(&directory) {
            continue;
        }
        let handle = File::open(directory)
            .with_context(|| format!("cannot sync {}", directory.display()))?;
        rustix::fs::syncfs(&handle)
            .map_err(std::io::Error::from)
            .with_context(|| format!("cannot sync {}", directory.display()))?;
        synced.push(directory);
    }
    Ok(())
}

/// An `--out-dir` that this run created: removed again (if still empty) unless the run succeeds.
struct CreatedDirectory(Option<PathBuf>);

impl Drop for CreatedDirectory {
    fn drop(&mut self) {
        if let Some(directory) = &self.0 {
            let _ = std::fs::remove_dir(directory);
        }
    }
}

/// `--out-dir`: per-sample PNGs are written into a hidden staging folder inside it and moved
/// into place at the end: `.host-XXXXXX/`, removed on drop with whatever it holds, or with
/// `--resume` `.host-resume-START-END/`, kept for the next run.
struct OutDir {
    path: PathBuf,
    staging: Staging,
}

enum Staging {
    Temporary(tempfile::TempDir),
    Resumable(PathBuf),
}

impl OutDir {
    fn staging(&self) -> &Path {
        match &self.staging {
            Staging::Temporary(directory) => directory.path(),
            Staging::Resumable(path) => path,
        }
    }
}

/// The outputs asked for, checked, with their temporary files reserved.
pub struct Outputs {
    grid: Option<(Pending, ImageFormat)>,
    npy: Option<Pending>,
    /// `--save-latents`: a latent model's latents, beside the decoded images.
    latents: Option<Pending>,
    directory: Option<OutDir>,
    /// Where the manifests of the `.npy` and of `--out-dir` go ([`crate::finish::manifest`]), with the
    /// flag; their files are made only when the data is complete, so that a killed run leaves
    /// none behind.
    manifests: Vec<(PathBuf, &'static str)>,
    created: CreatedDirectory,
}

impl Outputs {
    /// Checks every target (extension, not a directory, writable) and reserves its temporary file;
    /// `indices` (global) name the `--out-dir` manifest.
    pub fn prepare(
        grid: Option<&Path>,
        directory: Option<&Path>,
        npy: Option<&Path>,
        indices: Range<u64>,
        resume: bool,
    ) -> Result<Self> {
        if resume && grid.is_some() {
            bail!(
                "--resume keeps progress in --save-npy and --out-dir only; drop --out (a grid can \
                 be made from the .npy afterwards)"
            );
        }
        if resume && npy.is_none() && directory.is_none() {
            bail!("--resume needs --save-npy or --out-dir to keep its progress in");
        }
        let grid = grid
            .map(|path| -> Result<_> {
                if path.is_dir() {
                    bail!("cannot write --out {}: it is a directory", path.display());
                }
                let format = ImageFormat::of(path)?;
                Ok((Pending::new(path, "--out")?, format))
            })
            .transpose()?;
        let npy = npy
            .map(|path| {
                let is_npy = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
                if !is_npy {
                    bail!(
                        "--save-npy {}: the file name must end in .npy",
                        path.display()
                    );
                }
                match resume {
                    true => Pending::resumable(path, "--save-npy"),
                    false => Pending::new(path, "--save-npy"),
                }
            })
            .transpose()?;
        let mut created = CreatedDirectory(None);
        if let Some(directory) = directory {
            // A resumable run keeps its staging folder in the directory, so it keeps the directory.
            if !directory.exists() && !resume {
                created.0 = Some(directory.to_path_buf());
            }
            std::fs::create_dir_all(directory).map_err(|error| {
                anyhow!(
                    "cannot create --out-dir {}: {}",
                    directory.display(),
                    os_message(&error)
                )
            })?;
        }
        let directory = directory
            .map(|path| -> Result<OutDir> {
                let fail = |error: std::io::Error| {
                    anyhow!(
                        "cannot write --out-dir {}: {}",
                        path.display(),
                        os_message(&error)
                    )
                };
                let staging = match resume {
                    true => {
                        let staging = resume::directory_staging(path, &indices);
                        std::fs::create_dir_all(&staging).map_err(fail)?;
                        Staging::Resumable(staging)
                    }
                    false => Staging::Temporary(
                        tempfile::Builder::new()
                            .prefix(".host-")
                            .tempdir_in(path)
                            .map_err(fail)?,
                    ),
                };
                Ok(OutDir {
                    path: path.to_path_buf(),
                    staging,
                })
            })
            .transpose()?;
        let mut manifests = Vec::new();
        if let Some(npy) = &npy {
            manifests.push((npy_manifest_path(&npy.target), "--save-npy"));
        }
        if let Some(directory) = &directory {
            let name = directory_manifest_name(&indices);
            manifests.push((directory.path.join(name), "--out-dir"));
        }
        Ok(Outputs {
            grid,
            npy,
            latents: None,
            directory,
            manifests,
            created,
        })
    }

    /// Adds `--save-latents` (a latent model's latents, written as `--save-npy` is, but without
    /// a manifest and not resumable: [`crate::bind::vae::resolve`] refuses it with `--resume`).
    pub fn with_latents(mut self, path: Option<&Path>) -> Result<Self> {
        if let Some(path) = path {
            if !path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
            {
                bail!(
                    "--save-latents {}: the file name must end in .npy",
                    path.display()
                );
            }
            self.latents = Some(Pending::new(path, "--save-latents")?);
        }
        Ok(self)
    }

    /// Whether any output carries a manifest (so that the model's hash is needed).
    pub fn wants_manifest(&self) -> bool {
        !self.manifests.is_empty()
    }

    /// Checks that the image outputs can hold samples of `channels`.
    pub fn check_channels(&self, channels: usize) -> Result<()> {
        if let Some((_, format)) = &self.grid {
            format.check_channels(channels)?;
        }
        if self.directory.is_some() {
            ImageFormat::Png.check_channels(channels)?;
        }
        Ok(())
    }

    /// Starts writing the samples `indices` (global) of `geometry`: the `.npy` header goes out
    /// now, and each finished batch is then written by [`Stream::accept`]. With `--resume`,
    /// `job` is checked against the saved state, and the stream continues after its last
    /// committed batch ([`Stream::done`] says where).
    pub fn begin(
        self,
        geometry: Geometry,
        indices: Range<u64>,
        scale: PngScale,
        job: Option<&JobIdentity>,
    ) -> Result<Stream> {
        let count = indices.end - indices.start;
        let mut states = Vec::new();
        if let Some(pending) = &self.npy
            && matches!(pending.holding, Holding::Resumable { .. })
        {
            states.push(resume::npy_state_path(&pending.target));
        }
        if let Some(OutDir {
            staging: Staging::Resumable(staging),
            ..
        }) = &self.directory
        {
            states.push(resume::directory_state_path(staging));
        }
        let resumable = match (states.is_empty(), job) {
            (true, _) => None,
            (false, Some(job)) => Some((job.clone(), states)),
            (false, None) => bail!("internal error: --resume without a job identity"),
        };
        let done = match &resumable {
            Some((job, states)) => resume::done(states, job, &indices)?,
            None => 0,
        };
        let npy = match self.npy {
            Some(pending) => {
                check_space(&pending, count, geometry)?;
                let header = npy_header(count, geometry)?;
                let mut file = pending.file().try_clone()?;
                let data_end = header.len() as u64 + done * geometry.elements() as u64 * 4;
                if done > 0 {
                    // Keep the header and the committed samples; drop a batch written after.
                    let mut existing = vec![0u8; header.len()];
                    file.read_exact(&mut existing)
                        .ok()
                        .filter(|()| existing == header)
                        .ok_or_else(|| {
                            anyhow!(
                                "cannot resume {}: its header is not this job's; delete it to start over",
                                pending.target.display()
                            )
                        })?;
                    if file.metadata()?.len() < data_end {
                        bail!(
                            "cannot resume {}: it holds fewer samples than its state says",
                            pending.target.display()
                        );
                    }
                    file.set_len(data_end)?;
                    file.seek(SeekFrom::Start(data_end))?;
                } else {
                    file.set_len(0)?;
                    file.seek(SeekFrom::Start(0))?;
                    file.write_all(&header)?;
                }
                Some((pending, BufWriter::new(file)))
            }
            None => None,
        };
        let grid = self.grid.map(|(pending, format)| GridOutput {
            pending,
            format,
            samples: Vec::new(),
        });
        Ok(Stream {
            npy,
            latents: LatentOutput::Waiting(self.latents),
            grid,
            directory: self.directory,
            manifests: self.manifests,
            created: self.created,
            geometry,
            indices,
            done,
            scale: scale.factor(geometry),
            resumable,
        })
    }
}

/// The `.npy` header of `count` samples of `geometry`, float32, C order, exactly as npyz writes
/// it (the data that follows is the samples' little-endian bytes).
fn npy_header(count: u64, geometry: Geometry) -> Result<Vec<u8>> {
    let shape = [
        count,
        geometry.channels as u64,
        geometry.height as u64,
        geometry.width as u64,
    ];
    let mut header = Vec::new();
    {
        let writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut header)
            .begin_nd()?;
        // Dropped before any data: only the header is written (the count check fails silently).
        drop(writer);
    }
    Ok(header)
}

/// Refuses an `.npy` that could not be written whole: larger than u64 bytes, or than the space
/// left on its file system (checked before sampling, not found out after hours).
fn check_space(pending: &Pending, count: u64, geometry: Geometry) -> Result<()> {
    let target = pending.target.display();
    let values = (geometry.elements() as u64).checked_mul(count);
    let Some(bytes) = values.and_then(|values| values.checked_mul(4)) else {
        bail!(
            "--save-npy {target}: {count} samples of {} values are too large for one file",
            geometry.elements()
        );
    };
    let stats = rustix::fs::fstatvfs(pending.file()).map_err(std::io::Error::from)?;
    let available = stats.f_bavail.saturating_mul(stats.f_frsize);
    if bytes > available {
        bail!(
            "--save-npy {target}: {count} samples need {bytes} bytes and its file system has {available} \
             free; split the job with --shard K/N or free space"
        );
    }
    Ok(())
}

/// At most this many samples go into the `--out` grid: the first ones of the run. A grid of a
/// large run would be unreadable and would need every sample in memory.
pub const GRID_MAX_SAMPLES: u64 = 256;

/// The `--out` grid and the samples it will show.
struct GridOutput {
    pending: Pending,
    format: ImageFormat,
    samples: Vec<f32>,
}

/// `--save-latents`: waiting for the latents' shape ([`Stream::begin_latents`]), then written.
enum LatentOutput {
    Waiting(Option<Pending>),
    Writing(Pending, BufWriter<File>),
}

/// Outputs being written, batch by batch: memory holds at most the grid's samples, whatever the
/// number of samples.
pub struct Stream {
    npy: Option<(Pending, BufWriter<File>)>,
    latents: LatentOutput,
    grid: Option<GridOutput>,
    directory: Option<OutDir>,
    manifests: Vec<(PathBuf, &'static str)>,
    created: CreatedDirectory,
    geometry: Geometry,
    indices: Range<u64>,
    /// Samples accepted so far (with `--resume`, from the start of the range).
    done: u64,
    scale: usize,
    /// With `--resume`: the job and the state files committed after each batch.
    resumable: Option<(JobIdentity, Vec<PathBuf>)>,
}

impl Stream {
    /// Samples already written from the start of the range: nonzero when resuming.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// Starts `--save-latents` (if asked for) with latents of `geometry`: its header goes out
    /// now, and each batch's latents are then written by [`Stream::accept_latents`].
    pub fn begin_latents(&mut self, geometry: Geometry) -> Result<()> {
        let LatentOutput::Waiting(waiting) = &mut self.latents else {
            bail!("internal error: --save-latents begun twice");
        };
        let Some(pending) = waiting.take() else {
            return Ok(());
        };
        let count = self.indices.end - self.indices.start;
        check_space(&pending, count, geometry)?;
        let header = npy_header(count, geometry)?;
        let mut writer = BufWriter::new(pending.file().try_clone()?);
        writer
            .write_all(&header)
            .with_context(|| format!("cannot write --save-latents {}", pending.target.display()))?;
        self.latents = LatentOutput::Writing(pending, writer);
        Ok(())
    }

    /// Writes the latents of the samples that the next [`Stream::accept`] gets.
    pub fn accept_latents(&mut self, latents: &[f32]) -> Result<()> {
        if let LatentOutput::Writing(pending, writer) = &mut self.latents {
            latents
                .iter()
                .try_for_each(|value| writer.write_all(&value.to_le_bytes()))
                .with_context(|| {
                    format!("cannot write --save-latents {}", pending.target.display())
                })?;
        }
        Ok(())
    }

    /// Writes the next finished samples (NCHW, following those accepted before); with
    /// `--resume`, commits them (data synced, then the state replaced).
    pub fn accept(&mut self, samples: &[f32]) -> Result<()> {
        let per_sample = self.geometry.elements();
        let count = (samples.len() / per_sample) as u64;
        if let Some((pending, writer)) = &mut self.npy {
            samples
                .iter()
                .try_for_each(|value| writer.write_all(&value.to_le_bytes()))
                .with_context(|| format!("cannot write --save-npy {}", pending.target.display()))?;
        }
        if let Some(grid) = &mut self.grid {
            let wanted = GRID_MAX_SAMPLES.saturating_sub(self.done).min(count) as usize;
            grid.samples
                .extend_from_slice(&samples[..wanted * per_sample]);
        }
        if let Some(directory) = &self.directory {
            let first = self.indices.start + self.done;
            for (sample, index) in samples.chunks(per_sample).zip(first..) {
                let name = directory.staging().join(sample_name(index));
                let write = || -> Result<()> {
                    let mut writer = BufWriter::new(File::create(&name)?);
                    let pixels = to_pixels(sample, self.geometry);
                    let Geometry {
                        channels,
                        height,
                        width,
                    } = self.geometry;
                    encode(
                        &mut writer,
                        ImageFormat::Png,
                        &pixels,
                        width,
                        height,
                        channels,
                        self.scale,
                    )?;
                    Ok(writer.flush()?)
                };
                write().with_context(|| {
                    format!("cannot write --out-dir {}", directory.path.display())
                })?;
            }
        }
        self.done += count;
        if self.resumable.is_some() {
            self.commit()?;
        }
        Ok(())
    }

    /// Makes the samples accepted so far durable, then says so in the state files.
    fn commit(&mut self) -> Result<()> {
        if let Some((pending, writer)) = &mut self.npy {
            writer.flush()?;
            pending.file().sync_data()?;
        }
        if let Some(directory) = &self.directory {
            sync_file_systems([directory.staging()])?;
        }
        if let Some((job, states)) = &self.resumable {
            let state = resume::state(job, &self.indices, self.done);
            for path in states {
                resume::commit(path, &state)?;
            }
        }
        Ok(())
    }

    /// Finishes every output, syncs the file systems once, and renames each into place, the
    /// manifests (`manifest` as JSON) last. Returns one line per output for the summary.
    pub fn finish(mut self, manifest: Option<&Manifest>) -> Result<Vec<String>> {
        let total = self.indices.end - self.indices.start;
        if self.done != total {
            bail!(
                "internal error: {} of {total} samples were written",
                self.done
            );
        }
        let mut ready = Vec::new();
        let mut written = Vec::new();
        if let Some((pending, mut writer)) = self.npy.take() {
            writer
                .flush()
                .with_context(|| format!("cannot write --save-npy {}", pending.target.display()))?;
            written.push(format!("wrote {}", pending.target.display()));
            ready.push(pending);
        }
        match std::mem::replace(&mut self.latents, LatentOutput::Waiting(None)) {
            LatentOutput::Writing(pending, mut writer) => {
                writer.flush().with_context(|| {
                    format!("cannot write --save-latents {}", pending.target.display())
                })?;
                written.push(format!("wrote {}", pending.target.display()));
                ready.push(pending);
            }
            LatentOutput::Waiting(Some(_)) => {
                bail!("internal error: --save-latents was never begun")
            }
            LatentOutput::Waiting(None) => {}
        }
        if let Some(mut grid) = self.grid.take() {
            let shown = (grid.samples.len() / self.geometry.elements()) as u64;
            let (width, height, pixels) = grid_pixels(&grid.samples, self.geometry, shown as usize);
            let (format, channels, scale) = (grid.format, self.geometry.channels, self.scale);
            grid.pending
                .fill(|writer| encode(writer, format, &pixels, width, height, channels, scale))?;
            written.push(match shown < total {
                true => format!(
                    "wrote {} (the first {shown} of {total} samples)",
                    grid.pending.target.display()
                ),
                false => format!("wrote {}", grid.pending.target.display()),
            });
            ready.push(grid.pending);
        }
        let mut manifests = Vec::new();
        if let Some(manifest) = manifest {
            let text = manifest.to_json();
            for (target, flag) in &self.manifests {
                let mut pending = Pending::new(target, flag)?;
                pending.fill(|writer| Ok(writer.write_all(text.as_bytes())?))?;
                manifests.push(pending);
            }
        }
        interrupt::check(|| "while writing the outputs".into())?;
        // Data first, then the renames, each made durable by one sync per file system.
        let mut directories: Vec<PathBuf> =
            ready.iter().map(|p| p.directory().to_path_buf()).collect();
        directories.extend(self.directory.iter().map(|d| d.path.clone()));
        sync_file_systems(directories.iter().map(PathBuf::as_path))?;
        for pending in ready {
            pending.persist()?;
        }
        if let Some(directory) = &self.directory {
            for index in self.indices.clone() {
                let name = sample_name(index);
                std::fs::rename(directory.staging().join(&name), directory.path.join(&name))
                    .map_err(|error| {
                        anyhow!(
                            "cannot write --out-dir {}: {}",
                            directory.path.join(&name).display(),
                            os_message(&error)
                        )
                    })?;
            }
            written.push(format!(
                "wrote {total} PNGs to {}",
                directory.path.display()
            ));
        }
        // A manifest says its data is complete: it appears after the data.
        if manifest.is_some() {
            for pending in manifests {
                pending.persist()?;
            }
        }
        sync_file_systems(directories.iter().map(PathBuf::as_path))?;
        // Done: the progress of --resume is no longer needed.
        if let Some((_, states)) = &self.resumable {
            for path in states {
                resume::remove(path)?;
            }
        }
        if let Some(OutDir {
            staging: Staging::Resumable(staging),
            ..
        }) = &self.directory
        {
            // Every PNG was moved out; what is left are a killed run's unfinished files.
            std::fs::remove_dir_all(staging)
                .with_context(|| format!("cannot remove {}", staging.display()))?;
        }
        self.created.0 = None;
        Ok(written)
    }
}

/// The manifest beside `--save-npy X.npy`: `X.npy.json`.
pub fn npy_manifest_path(npy: &Path) -> PathBuf {
    let mut name = npy.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// The manifest of the samples `indices` in `--out-dir`: `manifest_START-END.json`.
pub fn directory_manifest_name(indices: &Range<u64>) -> String {
    format!("manifest_{:06}-{:06}.json", indices.start, indices.end)
}

/// The file name of sample `index` (global) in `--out-dir`.
pub fn sample_name(index: u64) -> String {
    format!("sample_{index:06}.png")
}
