//! The `libm` functions the core and the project's models use, exported so that C computes the
//! same bits as Rust. A C library's `sinf` or `powf` (newlib, glibc) is another implementation,
//! whose last-bit results differ from `libm`'s (a port of musl's) for some inputs; a model whose
//! time embedding calls them would drift from its Rust twin. These are the Rust functions
//! themselves, the same bits on every target.

/// sin(x), `libm::sinf`.
#[unsafe(no_mangle)]
pub extern "C" fn dc_sinf(x: f32) -> f32 {
    libm::sinf(x)
}

/// cos(x), `libm::cosf`.
#[unsafe(no_mangle)]
pub extern "C" fn dc_cosf(x: f32) -> f32 {
    libm::cosf(x)
}

/// xʸ, `libm::powf`.
#[unsafe(no_mangle)]
pub extern "C" fn dc_powf(x: f32, y: f32) -> f32 {
    libm::powf(x, y)
}

/// eˣ, `libm::expf`.
#[unsafe(no_mangle)]
pub extern "C" fn dc_expf(x: f32) -> f32 {
    libm::expf(x)
}

/// ln(x), `libm::logf`.
#[unsafe(no_mangle)]
pub extern "C" fn dc_logf(x: f32) -> f32 {
    libm::logf(x)
}
