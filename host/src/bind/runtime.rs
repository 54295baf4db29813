//! ONNX Runtime: finding the library, creating the one environment, and opening a session on the
//! execution provider the user asked for (never a silent fallback).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use ort::ep;
use ort::session::Session;
use ort::session::builder::SessionBuilder;

use crate::cli::ExecutionProviderKind;

/// The library file name of the pinned ONNX Runtime release (the PyPI wheel has no `.so` link).
pub const LIBRARY_NAME: &str = "libonnxruntime.so.1.31.1";

/// Where the project's own fetch script puts the CPU and GPU builds.
fn project_copies() -> [PathBuf; 2] {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [
        root.join(".ort-gpu/onnxruntime/capi").join(LIBRARY_NAME),
        root.join(".ort/onnxruntime/capi").join(LIBRARY_NAME),
    ]
}

/// The `onnxruntime` package that `python3` imports, if any.
fn python_copy() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .output()
        .ok()?;
    let directory = String::from_utf8(output.stdout).ok()?;
    let candidate = Path::new(directory.trim()).join("capi").join(LIBRARY_NAME);
    (output.status.success() && candidate.is_file()).then_some(candidate)
}

/// Finds the library: the flag, `ORT_DYLIB_PATH`, next to the executable, the project's fetched
/// copy (GPU build first), then python3's `onnxruntime` package.
pub fn locate_library(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = flag {
        return existing(path, "--ort-library");
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return existing(Path::new(&path), "ORT_DYLIB_PATH");
    }
    let beside_executable = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(LIBRARY_NAME)));
    beside_executable
        .into_iter()
        .chain(project_copies())
        .find(|candidate| candidate.is_file())
        .or_else(python_copy)
        .map(|found| std::fs::canonicalize(&found).unwrap_or(found))
        .ok_or_else(|| {
            anyhow!(
                "ONNX Runtime 1.31.1 not found: run scripts/fetch-ort.sh (or `pip install onnxruntime==1.31.1`), \
                 or point --ort-library / ORT_DYLIB_PATH at {LIBRARY_NAME}"
            )
        })
}

fn existing(path: &Path, source: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    } else {
        bail!(
            "{source} {}: no such file (expected {LIBRARY_NAME})",
            path.display()
        )
    }
}

/// Loads the library and creates the process's one environment. Must precede every other `ort` call.
pub fn init(library: &Path) -> Result<ort::environment::Environment> {
    let builder = ort::init_from(library).map_err(|error| {
        anyhow!(
            "cannot load ONNX Runtime from {}: {error}",
            library.display()
        )
    })?;
    builder
        .with_name("host")
        .build()
        .map_err(|error| anyhow!("cannot create the ONNX Runtime environment: {error}"))
}

/// Options of the session that are not the provider.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Intra-op threads (CPU provider).
    pub threads: Option<usize>,
    /// GPU index.
    pub device_id: i32,
    /// TensorRT engine cache directory.
    pub trt_cache: Option<PathBuf>,
    /// TensorRT fp16.
    pub trt_fp16: bool,
}

/// The provider that runs the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// CPU.
    Cpu,
    /// CUDA.
    Cuda,
    /// TensorRT (with CUDA for unsupported nodes).
    TensorRt,
}

impl Provider {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "CPU",
            Provider::Cuda => "CUDA",
            Provider::TensorRt => "TensorRT",
        }
    }

    /// Whether inputs and outputs should live in pinned host memory.
    pub fn is_gpu(self) -> bool {
        self != Provider::Cpu
    }

    /// Whether the provider builds its engine for one input shape, so that a short last batch
    /// is better padded to the batch size than run at a new shape (TensorRT rebuilds its engine
    /// for every new shape).
    pub fn prefers_one_shape(self) -> bool {
        self == Provider::TensorRt
    }
}

/// A provider that `auto` tried and passed over.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// Which.
    pub provider: Provider,
    /// Why, on one line.
    pub reason: String,
}

/// An open session and the provider it runs on.
pub struct OpenSession {
    /// The session.
    pub session: Session,
    /// Its provider.
    pub provider: Provider,
    /// Providers tried before it that failed (`auto` only). Providers this ONNX Runtime build
    /// does not have are not tried and not listed: the closing summary names the provider.
    pub skipped: Vec<Skipped>,
}

impl OpenSession {
    /// One line saying which providers failed before the one that runs, if any did.
    pub fn note(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let reasons: Vec<String> = self
            .skipped
            .iter()
            .map(|skipped| {
                let name = skipped.provider.name();
                match skipped.reason.starts_with(name) {
                    true => skipped.reason.clone(),
                    false => format!("{name}: {}", skipped.reason),
                }
            })
            .collect();
        Some(format!(
            "running on {}; {}",
            self.provider.name(),
            reasons.join("; ")
        ))
    }
}

/// A note or an error is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// ONNX Runtime's messages span lines and open with the source location of the C++ code
/// ("/onnxruntime_src/…/provider_bridge_ort.cc:2043 onnxruntime::Provider& … [ONNXRuntimeError] :
/// 1 : FAIL : "): keep what the message says, on one line.
fn ort_message(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let message = match text.split_once("[ONNXRuntimeError] : ") {
        // What follows is "<code number> : <CODE NAME> : <message>".
        Some((_, rest)) => rest.splitn(3, " : ").nth(2).unwrap_or(rest),
        None => &text,
    };
    one_line(message)
}

/// The provider library a provider needs beside libonnxruntime (the GPU build has them).
fn provider_library(provider: Provider) -> Option<&'static str> {
    match provider {
        Provider::Cuda => Some("libonnxruntime_providers_cuda.so"),
        Provider::TensorRt => Some("libonnxruntime_providers_tensorrt.so"),
        Provider::Cpu => None,
    }
}

/// Whether this ONNX Runtime build has the provider at all.
fn build_has(provider: Provider, library: &Path) -> bool {
    let directory = library.parent().unwrap_or(Path::new("."));
    provider_library(provider).is_none_or(|file| directory.join(file).is_file())
}

fn builder(
    environment: &ort::environment::Environment,
    options: &SessionOptions,
) -> Result<SessionBuilder> {
    let builder = Session::builder(environment).map_err(|error| anyhow!("{error}"))?;
    match options.threads {
        Some(threads) => builder
            .with_intra_threads(threads)
            .map_err(|error| anyhow!("{error}")),
        None => Ok(builder),
    }
}

/// The TensorRT engine cache: `--trt-cache`, else a per-user directory keyed by what the engine
/// depends on (the model's bytes, fp16, the ONNX Runtime release), so that an engine is built once
/// per model and options, and a changed model never picks up a stale engine.
pub fn tensorrt_cache(model: &Path, options: &SessionOptions) -> Result<PathBuf> {
    if let Some(directory) = &options.trt_cache {
        return Ok(directory.clone());
    }
    let hash = crate::digest::sha256_file(model)?;
    let hex = &hash[..24];
    let precision = if options.trt_fp16 { "fp16" } else { "fp32" };
    let base = dirs::cache_dir()
        .ok_or_else(|| anyhow!("no per-user cache directory (HOME unset): pass --trt-cache DIR"))?;
    Ok(base.join("diffusion-host").join("tensorrt").join(format!(
        "{hex}-{precision}-ort{}",
        LIBRARY_NAME.trim_start_matches("libonnxruntime.so.")
    )))
}

fn register(
    builder: SessionBuilder,
    provider: Provider,
    options: &SessionOptions,
    trt_cache: Option<&Path>,
    library: &Path,
) -> Result<SessionBuilder> {
    let cuda = || {
        ep::CUDA::default()
            .with_device_id(options.device_id)
            .build()
            .error_on_failure()
    };
    let providers = match provider {
        // The arena allocator matches ONNX Runtime's own default; ort's `CPU::default()` turns it off,
        // which made a 32×32 UNet at batch 16 ~25% slower than Python's session.
        Provider::Cpu => vec![
            ep::CPU::default()
                .with_arena_allocator(true)
                .build()
                .error_on_failure(),
        ],
        Provider::Cuda => vec![cuda()],
        Provider::TensorRt => {
            let mut tensorrt = ep::TensorRT::default()
                .with_device_id(options.device_id)
                .with_fp16(options.trt_fp16);
            if let Some(cache) = trt_cache {
                tensorrt = tensorrt
                    .with_engine_cache(true)
                    .with_engine_cache_path(cache.display())
                    .with_timing_cache(true)
                    .with_timing_cache_path(cache.display());
            }
            vec![tensorrt.build().error_on_failure(), cuda()]
        }
    };
    builder.with_execution_providers(providers).map_err(|error| {
        let directory = library.parent().unwrap_or(Path::new("."));
        match provider_library(provider) {
            Some(file) if !build_has(provider, library) => anyhow!(
                "{} execution provider unavailable: the ONNX Runtime at {} has no {file} \
                 (install the GPU build with `scripts/fetch-ort.sh gpu`, i.e. onnxruntime-gpu==1.31.1, \
                 which needs CUDA 13, cuDNN 9{})",
                provider.name(),
                directory.display(),
                if provider == Provider::TensorRt { " and TensorRT 10" } else { "" }
            ),
            _ => anyhow!(
                "{} execution provider failed to start: {}",
                provider.name(),
                ort_message(&error)
            ),
        }
    })
}

/// Opens `model` on one provider: registers it, then builds the session.
fn open_on(
    environment: &ort::environment::Environment,
    model: &Path,
    provider: Provider,
    options: &SessionOptions,
    library: &Path,
) -> Result<Session> {
    let trt_cache = match provider {
        Provider::TensorRt => Some(tensorrt_cache(model, options)?),
        _ => None,
    };
    let mut builder = register(
        builder(environment, options)?,
        provider,
        options,
        trt_cache.as_deref(),
        library,
    )?;
    if let Some(cache) = &trt_cache {
        std::fs::create_dir_all(cache)
            .with_context(|| format!("cannot create the TensorRT cache {}", cache.display()))?;
        let has_engine = std::fs::read_dir(cache)?
            .filter_map(|entry| entry.ok())
            .any(|entry| entry.path().extension().is_some_and(|e| e == "engine"));
        if !has_engine {
            eprintln!(
                "note: building a TensorRT engine for this model (can take minutes; cached in {})",
                cache.display()
            );
        }
    }
    builder
        .commit_from_file(model)
        .map_err(|error| anyhow!("{}", ort_message(&error)))
        .with_context(|| format!("cannot load model {}", model.display()))
}

/// The first provider of `candidates` that opens; the failures of those before it. The last
/// candidate's failure is the error.
fn first_that_opens<T>(
    candidates: &[Provider],
    mut open: impl FnMut(Provider) -> Result<T>,
) -> Result<(T, Provider, Vec<Skipped>)> {
    let Some((&last, earlier)) = candidates.split_last() else {
        bail!("no execution provider to try")
    };
    let mut skipped = Vec::new();
    for &provider in earlier {
        match open(provider) {
            Ok(opened) => return Ok((opened, provider, skipped)),
            Err(error) => skipped.push(Skipped {
                provider,
                reason: one_line(&format!("{error:#}")),
            }),
        }
    }
    Ok((open(last)?, last, skipped))
}

/// Opens `model` on the provider `kind` names; `auto` tries TensorRT, CUDA, then CPU, passing
/// over a provider that fails to register *or* whose session fails to build (CUDA libraries
/// present but no usable GPU), and skipping without a word those this build does not have.
pub fn open(
    environment: &ort::environment::Environment,
    model: &Path,
    kind: ExecutionProviderKind,
    options: &SessionOptions,
    library: &Path,
) -> Result<OpenSession> {
    let candidates: Vec<Provider> = match kind {
        ExecutionProviderKind::Auto => [Provider::TensorRt, Provider::Cuda, Provider::Cpu]
            .into_iter()
            .filter(|&provider| build_has(provider, library))
            .collect(),
        ExecutionProviderKind::Cpu => vec![Provider::Cpu],
        ExecutionProviderKind::Cuda => vec![Provider::Cuda],
        ExecutionProviderKind::Tensorrt => vec![Provider::TensorRt],
    };
    let (session, provider, skipped) = first_that_opens(&candidates, |provider| {
        open_on(environment, model, provider, options, library)
    })?;
    Ok(OpenSession {
        session,
        provider,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_passes_over_providers_that_fail_at_any_stage() {
        let tried = std::cell::RefCell::new(Vec::new());
        let (opened, provider, skipped) = first_that_opens(
            &[Provider::TensorRt, Provider::Cuda, Provider::Cpu],
            |provider| {
                tried.borrow_mut().push(provider);
                match provider {
                    Provider::TensorRt => bail!("registration failed:\nno libnvinfer"),
                    Provider::Cuda => Err(anyhow!("no CUDA-capable device is detected"))
                        .context("cannot load model m.onnx"),
                    Provider::Cpu => Ok("session"),
                }
            },
        )
        .unwrap();
        assert_eq!((opened, provider), ("session", Provider::Cpu));
        assert_eq!(skipped.len(), 2);
        assert_eq!(skipped[0].reason, "registration failed: no libnvinfer");
        assert_eq!(skipped[0].provider, Provider::TensorRt);
        assert_eq!(
            skipped[1].reason,
            "cannot load model m.onnx: no CUDA-capable device is detected"
        );
    }

    #[test]
    fn onnx_runtime_messages_become_one_line_without_the_source_location() {
        let message = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 \
                       onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() \
                       [ONNXRuntimeError] : 1 : FAIL : Failed to load library x.so with error:\n \
                       libcublasLt.so.13: cannot open shared object file";
        assert_eq!(
            ort_message(&message),
            "Failed to load library x.so with error: libcublasLt.so.13: cannot open shared object file"
        );
        assert_eq!(one_line("plain\n  message"), "plain message");
    }

    #[test]
    fn the_last_candidates_failure_is_the_error() {
        let result = first_that_opens(&[Provider::Cuda], |_| -> Result<()> { bail!("no GPU") });
        assert_eq!(result.unwrap_err().to_string(), "no GPU");
    }

    #[test]
    fn the_tensorrt_cache_is_keyed_by_model_and_options() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.onnx"), dir.path().join("b.onnx"));
        std::fs::write(&a, b"model a").unwrap();
        std::fs::write(&b, b"model b").unwrap();
        let fp32 = SessionOptions::default();
        let fp16 = SessionOptions {
            trt_fp16: true,
            ..SessionOptions::default()
        };
        let key = |model: &Path, options: &SessionOptions| tensorrt_cache(model, options).unwrap();
        assert_eq!(key(&a, &fp32), key(&a, &fp32));
        assert_ne!(key(&a, &fp32), key(&b, &fp32));
        assert_ne!(key(&a, &fp32), key(&a, &fp16));
        let chosen = SessionOptions {
            trt_cache: Some(dir.path().join("mine")),
            ..SessionOptions::default()
        };
        assert_eq!(key(&a, &chosen), dir.path().join("mine"));
    }
}
