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
}

/// An open session and the provider it runs on.
pub struct OpenSession {
    /// The session.
    pub session: Session,
    /// Its provider.
    pub provider: Provider,
    /// Why providers tried before it were skipped (`auto` only), one short reason each.
    pub skipped: Vec<String>,
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

fn register(
    builder: SessionBuilder,
    provider: Provider,
    options: &SessionOptions,
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
            if let Some(cache) = &options.trt_cache {
                tensorrt = tensorrt
                    .with_engine_cache(true)
                    .with_engine_cache_path(cache.display());
            }
            vec![tensorrt.build().error_on_failure(), cuda()]
        }
    };
    builder.with_execution_providers(providers).map_err(|error| {
        let directory = library.parent().unwrap_or(Path::new("."));
        let provider_library = match provider {
            Provider::Cuda => Some("libonnxruntime_providers_cuda.so"),
            Provider::TensorRt => Some("libonnxruntime_providers_tensorrt.so"),
            Provider::Cpu => None,
        };
        match provider_library {
            Some(file) if !directory.join(file).is_file() => anyhow!(error.to_string()).context(format!(
                "{} execution provider unavailable: the ONNX Runtime at {} has no {file} \
                 (install the GPU build with `scripts/fetch-ort.sh gpu`, i.e. onnxruntime-gpu==1.31.1, \
                 which needs CUDA 13, cuDNN 9{})",
                provider.name(),
                directory.display(),
                if provider == Provider::TensorRt { " and TensorRT 10" } else { "" }
            )),
            _ => anyhow!("{} execution provider failed to start: {error}", provider.name()),
        }
    })
}

/// Opens `model` on the provider `kind` names; `auto` tries TensorRT, CUDA, then CPU.
pub fn open(
    environment: &ort::environment::Environment,
    model: &Path,
    kind: ExecutionProviderKind,
    options: &SessionOptions,
    library: &Path,
) -> Result<OpenSession> {
    let candidates: &[Provider] = match kind {
        ExecutionProviderKind::Auto => &[Provider::TensorRt, Provider::Cuda, Provider::Cpu],
        ExecutionProviderKind::Cpu => &[Provider::Cpu],
        ExecutionProviderKind::Cuda => &[Provider::Cuda],
        ExecutionProviderKind::Tensorrt => &[Provider::TensorRt],
    };
    let commit = |mut builder: SessionBuilder, provider: Provider, skipped: Vec<String>| {
        let session = builder
            .commit_from_file(model)
            .map_err(|error| anyhow!("{error}"))
            .with_context(|| format!("cannot load model {}", model.display()))?;
        Ok(OpenSession {
            session,
            provider,
            skipped,
        })
    };
    let Some((&last, earlier)) = candidates.split_last() else {
        bail!("no execution provider to try")
    };
    let mut skipped = Vec::new();
    for &provider in earlier {
        match register(builder(environment, options)?, provider, options, library) {
            Ok(builder) => return commit(builder, provider, skipped),
            Err(error) => {
                let reason = error.root_cause().to_string();
                skipped.push(format!(
                    "{}: {}",
                    provider.name(),
                    reason.trim_end_matches('.')
                ));
            }
        }
    }
    commit(
        register(builder(environment, options)?, last, options, library)?,
        last,
        skipped,
    )
}
