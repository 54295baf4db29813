/* The Rust firmware's ε-model in C, with the same f32 bits:
 *
 *   ε̂(x, t) = W₃·relu(W₂·relu(W₁·[x, y, emb(t)] + b₁) + b₂) + b₃,
 *   emb(t) = (sin t·f_k, cos t·f_k), f_k = 10000^(−k/8), k = 0..7.
 *
 * Bit-identity needs three things. (1) The same weights: weights.h is generated from the Rust
 * source at build time (weights-from-rust.sh). (2) The same arithmetic in the same order: each sum
 * below accumulates left to right exactly as firmware/model/src/lib.rs does, and the build uses
 * -ffp-contract=off so that GCC never fuses a multiply and an add (the Cortex-M4F has VFMA).
 * (3) The same transcendentals: newlib's (or glibc's) sinf, cosf and powf are other
 * implementations than Rust's libm, and differ from it in the last bit for some arguments, so the
 * time embedding calls dc_sinf, dc_cosf and dc_powf, which are Rust's libm exported by the
 * library. */
#include "tiny_denoiser.h"

#include "weights.h"

#define HIDDEN 64
#define FREQUENCIES 8

const TdRun TD_RUN_LIST[TD_RUNS] = {
    {"ddim_eta0", TD_PLAN, DC_SAMPLER_DDIM, 0.0f, 25},
    {"ddim_eta1", TD_PLAN, DC_SAMPLER_DDIM, 1.0f, 25},
    {"ddpm", TD_PLAN, DC_SAMPLER_DDPM, 0.0f, 100},
    {"dpm_solver_2m", TD_DPM_SOLVER, 0, 0.0f, 10},
    {"unipc_bh2", TD_UNIPC, 0, 0.0f, 10},
};

static void embedding(uint32_t timestep, float out[2 * FREQUENCIES]) {
    for (int k = 0; k < FREQUENCIES; k++) {
        float frequency = dc_powf(10000.0f, -(float)k / (float)FREQUENCIES);
        float angle = (float)timestep * frequency;
        out[k] = dc_sinf(angle);
        out[FREQUENCIES + k] = dc_cosf(angle);
    }
}

/* Rust's f32::max(x, 0.0): NaN gives 0. */
static float relu(float x) { return x > 0.0f ? x : 0.0f; }

void td_predict_epsilon(const float *points, size_t count, uint32_t timestep, float *out) {
    float emb[2 * FREQUENCIES];
    embedding(timestep, emb);
    /* The time part of layer 1 is shared by all points: b₁ + W₁[:, 2..]·emb(t), once per call. */
    float time_bias[HIDDEN];
    for (int j = 0; j < HIDDEN; j++) {
        float bias = B1[j];
        for (int k = 0; k < 2 * FREQUENCIES; k++) {
            bias += W1[j][TD_DIMENSIONS + k] * emb[k];
        }
        time_bias[j] = bias;
    }
    for (size_t p = 0; p < count; p++) {
        const float *point = &points[TD_DIMENSIONS * p];
        float first[HIDDEN], second[HIDDEN];
        for (int j = 0; j < HIDDEN; j++) {
            first[j] = relu(time_bias[j] + W1[j][0] * point[0] + W1[j][1] * point[1]);
        }
        for (int j = 0; j < HIDDEN; j++) {
            float sum = B2[j];
            for (int i = 0; i < HIDDEN; i++) {
                sum += W2[j][i] * first[i];
            }
            second[j] = relu(sum);
        }
        for (int o = 0; o < TD_DIMENSIONS; o++) {
            float sum = B3[o];
            for (int i = 0; i < HIDDEN; i++) {
                sum += W3[o][i] * second[i];
            }
            out[TD_DIMENSIONS * p + (size_t)o] = sum;
        }
    }
}

/* The model's schedule (linear 1e-4 → 0.02, T = 1000) and `trailing` steps, for every run. */
static DcTimestepConfig trailing(uint32_t steps) {
    DcTimestepConfig timesteps = {steps, DC_TIMESTEP_SPACING_TRAILING, 0};
    return timesteps;
}

/* x_T: point i from its own noise v1 stream (seed, i), into state->streams[i]. */
static DcStatus initial_noise(TdState *state) {
    for (size_t i = 0; i < TD_POINTS; i++) {
        state->streams[i] = dc_noise_stream(TD_SEED, i);
        DcStatus status = dc_noise_fill_standard_normal(
            &state->streams[i], &state->points[TD_DIMENSIONS * i], TD_DIMENSIONS);
        if (status != DC_STATUS_OK) return status;
    }
    return DC_STATUS_OK;
}

/* DDPM/DDIM: ε-prediction, no clipping, final ᾱ = 1; the whole set of points as one batch. */
static DcStatus run_plan(const TdRun *run, TdState *state) {
    const size_t values = TD_DIMENSIONS * TD_POINTS;
    DcScheduleConfig schedule = dc_schedule_config_default();
    DcTimestepConfig timesteps = trailing(run->steps);
    DcSamplerConfig sampler = dc_sampler_config_default();
    sampler.sampler = run->sampler;
    sampler.eta = run->eta;
    sampler.variance_type = DC_VARIANCE_TYPE_FIXED_SMALL;
    DcStatus status = dc_plan_build(&state->plan, &schedule, &timesteps, &sampler);
    if (status == DC_STATUS_OK) status = initial_noise(state);
    for (size_t index = 0; status == DC_STATUS_OK && index < dc_plan_len(&state->plan); index++) {
        uint32_t timestep;
        status = dc_plan_timestep(&state->plan, index, &timestep);
        if (status != DC_STATUS_OK) break;
        td_predict_epsilon(state->points, TD_POINTS, timestep, state->epsilon);
        status = dc_plan_step_batch(&state->plan, index, TD_POINTS, state->points, values,
                                    state->epsilon, values, state->streams, TD_POINTS, NULL, 0);
    }
    return status;
}

/* DPM-Solver++ 2M or UniPC bh2 with diffusers' defaults; one history for the whole batch. */
static DcStatus run_multistep(const TdRun *run, TdState *state) {
    const size_t values = TD_DIMENSIONS * TD_POINTS;
    DcScheduleConfig schedule = dc_schedule_config_default();
    DcTimestepConfig timesteps = trailing(run->steps);
    DcStatus status;
    if (run->kind == TD_DPM_SOLVER) {
        DcDpmSolverConfig config = dc_dpm_solver_config_default();
        status = dc_multistep_plan_build_dpm_solver(&state->multistep, &schedule, &timesteps, &config);
    } else {
        DcUniPcConfig config = dc_unipc_config_default();
        status = dc_multistep_plan_build_unipc(&state->multistep, &schedule, &timesteps, &config);
    }
    if (status != DC_STATUS_OK) return status;
    /* The plan says how much memory the run needs; more than the buffer holds is an error. */
    size_t needed = dc_multistep_plan_history_len(&state->multistep) * values;
    if (needed > TD_HISTORY_BUFFERS * values) return DC_STATUS_LENGTH_MISMATCH;
    status = dc_multistep_history_init(&state->history, &state->multistep, state->history_buffer,
                                       needed, values);
    if (status == DC_STATUS_OK) status = initial_noise(state);
    const size_t steps = dc_multistep_plan_len(&state->multistep);
    for (size_t index = 0; status == DC_STATUS_OK && index < steps; index++) {
        uint32_t timestep;
        status = dc_multistep_plan_timestep(&state->multistep, index, &timestep);
        if (status != DC_STATUS_OK) break;
        td_predict_epsilon(state->points, TD_POINTS, timestep, state->epsilon);
        status = dc_multistep_plan_step_batch(&state->multistep, index, TD_POINTS, state->points,
                                              values, state->epsilon, values, &state->history,
                                              NULL, 0);
    }
    return status;
}

DcStatus td_run(const TdRun *run, TdState *state) {
    return run->kind == TD_PLAN ? run_plan(run, state) : run_multistep(run, state);
}

uint64_t td_hash(const float *values, size_t len) {
    uint64_t state = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        union { float value; uint32_t bits; } word = {values[i]};
        for (int byte = 0; byte < 4; byte++) {
            state = (state ^ ((word.bits >> (8 * byte)) & 0xffu)) * 0x00000100000001b3u;
        }
    }
    return state;
}

static char *put_text(char *out, const char *text) {
    while (*text) *out++ = *text++;
    return out;
}

static char *put_hex(char *out, uint64_t value, int digits) {
    for (int d = digits - 1; d >= 0; d--) {
        *out++ = "0123456789abcdef"[(value >> (4 * d)) & 0xf];
    }
    return out;
}

void td_report_line(char *out, const char *name, const float *points, size_t len) {
    out = put_text(out, name);
    out = put_text(out, " hash=");
    out = put_hex(out, td_hash(points, len), 16);
    out = put_text(out, " first=");
    for (size_t i = 0; i < 4 && i < len; i++) {
        union { float value; uint32_t bits; } word = {points[i]};
        if (i > 0) *out++ = ',';
        out = put_hex(out, word.bits, 8);
    }
    *out = '\0';
}
