//! `host merge`: the parts of a sharded job back into one output, after checking that they
//! belong together (same model, sampler, seed, total, noise version: their manifests) and that
//! they cover the job's samples 0..N exactly once. The merged `.npy` is byte for byte the file a
//! single process would have written.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::MergeCli;
use crate::finish::manifest::Manifest;
use crate::finish::output::{
    Outputs, PngScale, directory_manifest_name, npy_manifest_path, sample_name,
};
use crate::geometry::Geometry;

/// Samples read from a part before they are written out (memory stays flat).
const MERGE_CHUNK_SAMPLES: usize = 256;

/// A part: its manifest and where it came from.
struct Part {
    manifest: Manifest,
    source: PathBuf,
}

/// Runs `host merge`.
pub fn run(cli: MergeCli) -> Result<()> {
    crate::interrupt::install()?;
    match (&cli.save_npy, &cli.out_dir) {
        (Some(output), None) => merge_npy(output, &cli.parts),
        (None, Some(directory)) if cli.parts.is_empty() => check_directory(directory),
        (None, Some(directory)) => merge_directories(directory, &cli.parts),
        _ => bail!("host merge needs --save-npy ALL.npy PART.npy… or --out-dir DIR"),
    }
}

/// Checks that `parts` are of one job and cover 0..N exactly once; returns them in order.
fn check_parts(mut parts: Vec<Part>) -> Result<Vec<Part>> {
    let Some(first) = parts.first() else {
        bail!("host merge: no parts given")
    };
    let job = first.manifest.job.clone();
    for part in &parts {
        if let Some(difference) = job.difference(&part.manifest.job) {
            bail!(
                "{} is not of the same job as {} ({difference})",
                part.source.display(),
                first.source.display()
            );
        }
        if !part.manifest.complete {
            bail!("{} is not complete", part.source.display());
        }
    }
    parts.sort_by_key(|part| part.manifest.samples);
    let mut next = 0u64;
    let mut previous: Option<&Part> = None;
    for part in &parts {
        let [start, end] = part.manifest.samples;
        if start > next {
            bail!(
                "samples {next}..{start} of {} are in no part",
                job.total_samples
            );
        }
        if start < next {
            let previous = previous.expect("start < next only after a part");
            bail!(
                "{} and {} overlap on samples {start}..{}",
                previous.source.display(),
                part.source.display(),
                next.min(end)
            );
        }
        next = end;
        previous = Some(part);
    }
    if next != job.total_samples {
        bail!(
            "samples {next}..{total} of {total} are in no part",
            total = job.total_samples
        );
    }
    Ok(parts)
}

fn merge_npy(output: &Path, sources: &[PathBuf]) -> Result<()> {
    let parts = sources
        .iter()
        .map(|source| {
            Ok(Part {
                manifest: Manifest::read(&npy_manifest_path(source))?,
                source: source.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let parts = check_parts(parts)?;
    let job = parts[0].manifest.job.clone();
    let [channels, height, width] = job.sample_shape;
    let geometry = Geometry {
        channels,
        height,
        width,
    };
    // The parts go through the same streaming writer as a run's own output.
    let outputs = Outputs::prepare(None, None, Some(output), 0..job.total_samples, false)?;
    let mut stream = outputs.begin(geometry, 0..job.total_samples, PngScale::Factor(1), None)?;
    let chunk = geometry.elements() * MERGE_CHUNK_SAMPLES;
    let mut buffer = Vec::with_capacity(chunk);
    for part in &parts {
        let [start, end] = part.manifest.samples;
        let describe = || format!("cannot read {}", part.source.display());
        let file = File::open(&part.source).with_context(describe)?;
        let reader = npyz::NpyFile::new(BufReader::new(file)).with_context(describe)?;
        let expected = [end - start, channels as u64, height as u64, width as u64];
        if reader.shape() != expected || reader.dtype().descr() != "'<f4'" {
            bail!(
                "{}: shape {:?} of {}, but its manifest says {expected:?} of '<f4'",
                part.source.display(),
                reader.shape(),
                reader.dtype().descr()
            );
        }
        for value in reader.data::<f32>().with_context(describe)? {
            buffer.push(value.with_context(describe)?);
            if buffer.len() == chunk {
                stream.accept(&buffer)?;
                buffer.clear();
            }
        }
        stream.accept(&buffer)?;
        buffer.clear();
    }
    let manifest = Manifest {
        samples: [0, job.total_samples],
        ..parts[0].manifest.clone()
    };
    stream.finish(Some(&manifest))?;
    println!(
        "merged {} parts into {} ({} samples)",
        parts.len(),
        output.display(),
        job.total_samples
    );
    Ok(())
}

/// The parts whose manifests (`manifest_START-END.json`) are in `directory`.
fn directory_parts(directory: &Path) -> Result<Vec<Part>> {
    let entries = std::fs::read_dir(directory)
        .with_context(|| format!("cannot read {}", directory.display()))?;
    let mut parts = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("manifest_") && name.ends_with(".json") {
            parts.push(Part {
                manifest: Manifest::read(&path)?,
                source: path,
            });
        }
    }
    Ok(parts)
}

/// Checks that every PNG of every part is in the part's folder.
fn check_pngs(parts: &[Part]) -> Result<()> {
    for part in parts {
        let folder = part.source.parent().unwrap_or(Path::new("."));
        let [start, end] = part.manifest.samples;
        for index in start..end {
            let png = folder.join(sample_name(index));
            if !png.is_file() {
                bail!(
                    "{} is missing (its manifest is {})",
                    png.display(),
                    part.source.display()
                );
            }
        }
    }
    Ok(())
}

/// `host merge --out-dir DIR`: the shards wrote into one folder; check it.
fn check_directory(directory: &Path) -> Result<()> {
    let parts = check_parts(directory_parts(directory)?)
        .map_err(|error| anyhow!("{}: {error:#}", directory.display()))?;
    check_pngs(&parts)?;
    let total = parts[0].manifest.job.total_samples;
    println!(
        "{}: all {total} samples, from {} parts of one job",
        directory.display(),
        parts.len()
    );
    Ok(())
}

/// `host merge --out-dir DIR PARTDIR…`: the shards wrote into folders of their own; check them
/// together, then copy their PNGs and manifests into DIR (staged in a hidden folder there and
/// moved into place only when all are copied).
fn merge_directories(output: &Path, sources: &[PathBuf]) -> Result<()> {
    let mut parts = Vec::new();
    for source in sources {
        parts.extend(directory_parts(source)?);
    }
    let parts = check_parts(parts)?;
    check_pngs(&parts)?;
    std::fs::create_dir_all(output)
        .with_context(|| format!("cannot create --out-dir {}", output.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".host-")
        .tempdir_in(output)
        .with_context(|| format!("cannot write --out-dir {}", output.display()))?;
    let mut names = Vec::new();
    for part in &parts {
        let folder = part.source.parent().unwrap_or(Path::new("."));
        let [start, end] = part.manifest.samples;
        for name in (start..end).map(sample_name) {
            copy(&folder.join(&name), &staging.path().join(&name))?;
            names.push(name);
        }
        let manifest = directory_manifest_name(&(start..end));
        copy(&part.source, &staging.path().join(&manifest))?;
        names.push(manifest);
    }
    crate::interrupt::check(|| "while merging".into())?;
    for name in &names {
        std::fs::rename(staging.path().join(name), output.join(name))
            .with_context(|| format!("cannot write {}", output.join(name).display()))?;
    }
    let total = parts[0].manifest.job.total_samples;
    println!(
        "merged {} parts into {} ({total} PNGs)",
        parts.len(),
        output.display()
    );
    Ok(())
}

/// A hard link where the file system allows it, else a copy.
fn copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}
