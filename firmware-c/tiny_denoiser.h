/* The Rust firmware's tiny ε-model (firmware/model) and its sampling runs, in C on the
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
#define TD_RUNS 5
/* Sample-sized buffers a multistep run may remember (UniPC bh2 needs 3). */
#define TD_HISTORY_BUFFERS 3

/* How a run updates the points. */
typedef enum { TD_PLAN, TD_DPM_SOLVER, TD_UNIPC } TdKind;

/* One sampling run: its printed name, update rule and step count. */
typedef struct {
    const char *name;
    TdKind kind;
    uint32_t sampler;       /* TD_PLAN: a DcSampler */
    float eta;              /* TD_PLAN, DDIM */
    uint32_t steps;
} TdRun;

/* DDIM η = 0 and η = 1 (25 steps), DDPM (100), DPM-Solver++ 2M and UniPC bh2 with diffusers'
 * defaults (10 steps each). */
extern const TdRun TD_RUN_LIST[TD_RUNS];

/* Everything a run needs, sample-sized or plan-sized: keep it static (.bss). */
typedef struct {
    DcPlan plan;
    DcMultistepPlan multistep;
    DcMultistepHistory history;
    float points[TD_DIMENSIONS * TD_POINTS];
    float epsilon[TD_DIMENSIONS * TD_POINTS];
    float history_buffer[TD_HISTORY_BUFFERS * TD_DIMENSIONS * TD_POINTS];
    DcNoiseStream streams[TD_POINTS];
} TdState;

/* Runs `run` on the TD_POINTS points of TD_SEED; the result is in state->points. */
DcStatus td_run(const TdRun *run, TdState *state);

/* ε̂ for `count` points (x, y pairs) at `timestep`, into `out` (2·count floats). */
void td_predict_epsilon(const float *points, size_t count, uint32_t timestep, float *out);

/* FNV-1a (64-bit) over the float bits of `values`, little-endian (tiny_denoiser::hash). */
uint64_t td_hash(const float *values, size_t len);

/* Writes "<name> hash=<16 hex digits> first=<8 hex>,<8 hex>,<8 hex>,<8 hex>" and a NUL into
 * `out` (at least 128 bytes), as the Rust firmware prints a run (tiny_denoiser::report_line). */
void td_report_line(char *out, const char *name, const float *points, size_t len);

#endif
