/* The Rust firmware's tiny ε-model (firmware/model) and its three sampling runs, in C on the
 * diffusion-core C interface. Plain C11 with no C library: it builds for the Cortex-M4F firmware
 * (main.c) and for the host's sanitizer test (capi/tests/c/capi_test.c), which must both print
 * the Rust firmware's lines. */
#ifndef TINY_DENOISER_H
#define TINY_DENOISER_H

#include <stddef.h>
#include <stdint.h>

#include "diffusion_core.h"

/* Values per point, points per run, the runs' seed (as in firmware/model/src/lib.rs). */
#define TD_DIMENSIONS 2
#define TD_POINTS 64
#define TD_SEED 2024u
#define TD_RUNS 3

/* One sampling run: its printed name, update rule and step count. */
typedef struct {
    const char *name;
    uint32_t sampler;       /* a DcSampler */
    float eta;              /* DDIM */
    uint32_t steps;
} TdRun;

extern const TdRun TD_RUN_LIST[TD_RUNS];

/* ε̂ for `count` points (x, y pairs) at `timestep`, into `out` (2·count floats). */
void td_predict_epsilon(const float *points, size_t count, uint32_t timestep, float *out);

/* Builds `run`'s plan: the model's schedule (linear 1e-4 → 0.02, T = 1000), `trailing` steps,
 * ε-prediction, no clipping, final ᾱ = 1. */
DcStatus td_build_plan(const TdRun *run, DcPlan *plan);

/* Draws x_T for points first .. first + count − 1 of `seed` and runs `plan` on them. `streams`
 * receives one noise stream per point; `epsilon` is scratch as long as `points` (2·count). */
DcStatus td_sample(const DcPlan *plan, uint64_t seed, uint64_t first, float *points, size_t count,
                   DcNoiseStream *streams, float *epsilon);

/* FNV-1a (64-bit) over the float bits of `values`, little-endian (tiny_denoiser::hash). */
uint64_t td_hash(const float *values, size_t len);

/* Writes "<name> hash=<16 hex digits> first=<8 hex>,<8 hex>,<8 hex>,<8 hex>" and a NUL into
 * `out` (at least 128 bytes), as the Rust firmware prints a run (tiny_denoiser::report_line). */
void td_report_line(char *out, const char *name, const float *points, size_t len);

#endif
