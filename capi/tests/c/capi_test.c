/* The C interface from C, built by the system compiler under AddressSanitizer and
 * UndefinedBehaviorSanitizer (scripts/capi-check.sh): every bad argument gets its status code and
 * leaves the caller's arrays untouched; noise v1 gives the specification's test vector; and the
 * Rust firmware's runs, computed here on x86_64 through the same interface, print lines that
 * the check compares with the Rust firmware's. Exit status 1 on any failed expectation. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "diffusion_core.h"
#include "tiny_denoiser.h"

static int failures = 0;

#define EXPECT_STATUS(call, expected)                                                         \
    do {                                                                                      \
        DcStatus got_ = (call);                                                               \
        if (got_ != (expected)) {                                                             \
            fprintf(stderr, "FAIL line %d: %s gave %s, expected %s\n", __LINE__, #call,      \
                    dc_error_name(got_), dc_error_name(expected));                            \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

#define EXPECT(condition)                                                                     \
    do {                                                                                      \
        if (!(condition)) {                                                                   \
            fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #condition);                     \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

static uint32_t bits(float value) {
    uint32_t out;
    memcpy(&out, &value, sizeof out);
    return out;
}

/* noise v1's test vector (diffusion_core::noise): seed 0, sample 0. */
static void noise_matches_the_specification(void) {
    static const uint32_t expected[5] = {0xBF39E2C8, 0x3E4CCDF1, 0x3F8B36B1, 0xBF7BC9B1, 0xBF3C15B5};
    DcNoiseStream stream = dc_noise_stream(0, 0);
    float normals[5];
    EXPECT_STATUS(dc_noise_fill_standard_normal(&stream, normals, 5), DC_STATUS_OK);
    for (int i = 0; i < 5; i++) EXPECT(bits(normals[i]) == expected[i]);
    /* A copied stream replays the same noise. */
    DcNoiseStream first = dc_noise_stream(0, 0), copy = first;
    float a[3], b[3];
    EXPECT_STATUS(dc_noise_fill_standard_normal(&first, a, 3), DC_STATUS_OK);
    EXPECT_STATUS(dc_noise_fill_standard_normal(&copy, b, 3), DC_STATUS_OK);
    EXPECT(memcmp(a, b, sizeof a) == 0);
    EXPECT(DC_NOISE_SPEC_VERSION == 1);

    EXPECT_STATUS(dc_noise_fill_standard_normal(NULL, normals, 5), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_noise_fill_standard_normal(&stream, NULL, 5), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_noise_fill_standard_normal(&stream, NULL, 0), DC_STATUS_OK);
    EXPECT_STATUS(dc_noise_fill_standard_normal(&stream, (float *)(void *)&stream, 2),
                  DC_STATUS_OVERLAPPING_ARRAYS);
    EXPECT_STATUS(dc_noise_fill_standard_normal(&stream, normals, SIZE_MAX / 2),
                  DC_STATUS_ARRAY_TOO_LONG);
}

static void errors_have_names(void) {
    EXPECT(strcmp(dc_error_name(DC_STATUS_OK), "Ok") == 0);
    EXPECT(strcmp(dc_error_name(DC_STATUS_STEP_INDEX_OUT_OF_RANGE), "StepIndexOutOfRange") == 0);
    EXPECT(strcmp(dc_error_name(DC_STATUS_NULL_POINTER), "NullPointer") == 0);
    EXPECT(strcmp(dc_error_name(-1), "UnknownStatus") == 0);
    EXPECT(strcmp(dc_error_name(1000), "UnknownStatus") == 0);
}

static void bad_plans_are_refused(void) {
    static DcPlan plan; /* zeroed: not built */
    DcScheduleConfig schedule = dc_schedule_config_default();
    DcTimestepConfig timesteps = dc_timestep_config_default();
    DcSamplerConfig sampler = dc_sampler_config_default();
    EXPECT(dc_plan_len(&plan) == 0);
    EXPECT(dc_plan_len(NULL) == 0);
    uint32_t timestep = 7;
    EXPECT_STATUS(dc_plan_timestep(&plan, 0, &timestep), DC_STATUS_PLAN_NOT_BUILT);

    EXPECT_STATUS(dc_plan_build(NULL, &schedule, &timesteps, &sampler), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_build(&plan, NULL, &timesteps, &sampler), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, NULL, &sampler), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, &timesteps, NULL), DC_STATUS_NULL_POINTER);

    DcTimestepConfig bad_steps = timesteps;
    bad_steps.num_inference_steps = 0;
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, &bad_steps, &sampler), DC_STATUS_INVALID_STEP_COUNT);
    bad_steps.num_inference_steps = DC_PLAN_CAPACITY + 1;
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, &bad_steps, &sampler), DC_STATUS_CAPACITY_EXCEEDED);
    EXPECT(dc_plan_len(&plan) == 0); /* built, but empty after the error */
    bad_steps = timesteps;
    bad_steps.spacing = 3;
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, &bad_steps, &sampler), DC_STATUS_INVALID_ENUM_VALUE);

    DcSamplerConfig bad_sampler = sampler;
    bad_sampler.eta = -1.0f;
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, &timesteps, &bad_sampler), DC_STATUS_INVALID_ETA);
    bad_sampler = sampler;
    bad_sampler.sampler = 2;
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, &timesteps, &bad_sampler), DC_STATUS_INVALID_ENUM_VALUE);

    DcScheduleConfig bad_schedule = schedule;
    bad_schedule.beta_schedule = DC_BETA_SCHEDULE_TRAINED; /* trained_betas is NULL */
    EXPECT_STATUS(dc_plan_build(&plan, &bad_schedule, &timesteps, &sampler), DC_STATUS_NULL_POINTER);
    float betas[3] = {0.1f, 0.2f, 0.3f};
    bad_schedule.trained_betas = betas;
    bad_schedule.trained_betas_len = 3; /* T is 1000 */
    EXPECT_STATUS(dc_plan_build(&plan, &bad_schedule, &timesteps, &sampler), DC_STATUS_TRAINED_BETAS_LENGTH);
    bad_schedule = schedule;
    bad_schedule.beta_start = 0.5;
    bad_schedule.beta_end = 0.1;
    EXPECT_STATUS(dc_plan_build(&plan, &bad_schedule, &timesteps, &sampler), DC_STATUS_INVALID_BETA_RANGE);

    /* Trained betas are read, not kept: a three-step schedule of its own. */
    DcScheduleConfig trained = schedule;
    trained.num_train_timesteps = 3;
    trained.beta_schedule = DC_BETA_SCHEDULE_TRAINED;
    trained.trained_betas = betas;
    trained.trained_betas_len = 3;
    DcTimestepConfig three = {3, DC_TIMESTEP_SPACING_TRAILING, 0};
    EXPECT_STATUS(dc_plan_build(&plan, &trained, &three, &sampler), DC_STATUS_OK);
    EXPECT(dc_plan_len(&plan) == 3);
    EXPECT_STATUS(dc_plan_timestep(&plan, 0, &timestep), DC_STATUS_OK);
    EXPECT(timestep == 2);
    EXPECT_STATUS(dc_plan_timestep(&plan, 3, &timestep), DC_STATUS_STEP_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(dc_plan_timestep(&plan, 0, NULL), DC_STATUS_NULL_POINTER);
}

static void bad_steps_are_refused_and_change_nothing(void) {
    static DcPlan plan;
    DcScheduleConfig schedule = dc_schedule_config_default();
    DcTimestepConfig timesteps = {10, DC_TIMESTEP_SPACING_TRAILING, 0};
    DcSamplerConfig sampler = dc_sampler_config_default();
    sampler.eta = 1.0f; /* draws noise on every step but the last */
    EXPECT_STATUS(dc_plan_build(&plan, &schedule, &timesteps, &sampler), DC_STATUS_OK);

    float sample[4] = {0.5f, -0.25f, 1.0f, 2.0f}, before[4];
    float output[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    DcNoiseStream noise[2] = {dc_noise_stream(1, 0), dc_noise_stream(1, 1)};
    memcpy(before, sample, sizeof sample);

    EXPECT_STATUS(dc_plan_step(NULL, 0, sample, 4, output, 4, noise, NULL, 0), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_step(&plan, 10, sample, 4, output, 4, noise, NULL, 0),
                  DC_STATUS_STEP_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(dc_plan_step(&plan, SIZE_MAX, sample, 4, output, 4, noise, NULL, 0),
                  DC_STATUS_STEP_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(dc_plan_step(&plan, 0, NULL, 4, output, 4, noise, NULL, 0), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_step(&plan, 0, sample, 4, NULL, 4, noise, NULL, 0), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_step(&plan, 0, sample, 4, output, 3, noise, NULL, 0), DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_plan_step(&plan, 0, sample, 4, output, 4, NULL, NULL, 0), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_step(&plan, 0, sample, 4, sample, 4, noise, NULL, 0),
                  DC_STATUS_OVERLAPPING_ARRAYS);
    EXPECT_STATUS(dc_plan_step(&plan, 0, sample, 4, output, 4, noise, NULL, 1), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_plan_step(&plan, 0, sample, SIZE_MAX / 2, output, 4, noise, NULL, 0),
                  DC_STATUS_ARRAY_TOO_LONG);
    /* An address that is no float's: integer-to-pointer conversion, never dereferenced. */
    float *misaligned = (float *)((uintptr_t)output + 1);
    EXPECT_STATUS(dc_plan_step(&plan, 0, sample, 4, misaligned, 4, noise, NULL, 0),
                  DC_STATUS_MISALIGNED_POINTER);
    /* Batches: noise count, divisibility. */
    EXPECT_STATUS(dc_plan_step_batch(&plan, 0, 2, sample, 4, output, 4, noise, 1, NULL, 0),
                  DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_plan_step_batch(&plan, 0, 3, sample, 4, output, 4, noise, 3, NULL, 0),
                  DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_plan_step_batch(&plan, 0, 2, sample, 4, output, 4, NULL, 2, NULL, 0),
                  DC_STATUS_NULL_POINTER);
    EXPECT(memcmp(sample, before, sizeof sample) == 0);

    /* The same two samples as a batch and one by one: the same bits. */
    float alone[4];
    memcpy(alone, sample, sizeof sample);
    DcNoiseStream single[2] = {noise[0], noise[1]};
    for (size_t index = 0; index < dc_plan_len(&plan); index++) {
        EXPECT_STATUS(dc_plan_step_batch(&plan, index, 2, sample, 4, output, 4, noise, 2, NULL, 0),
                      DC_STATUS_OK);
        for (int s = 0; s < 2; s++) {
            EXPECT_STATUS(dc_plan_step(&plan, index, &alone[2 * s], 2, &output[2 * s], 2, &single[s], NULL, 0),
                          DC_STATUS_OK);
        }
    }
    EXPECT(memcmp(sample, alone, sizeof sample) == 0);
    EXPECT(memcmp(sample, before, sizeof sample) != 0);
    /* The last step draws no noise: NULL is fine there. */
    EXPECT_STATUS(dc_plan_step(&plan, 9, sample, 4, output, 4, NULL, NULL, 0), DC_STATUS_OK);
}

/* Multistep solvers: a history over the caller's buffer; order, overlap and size are checked. */
static void multistep_runs_in_order_and_refuses_bad_arguments(void) {
    static DcMultistepPlan plan, not_built;
    static DcMultistepHistory history, not_made;
    DcScheduleConfig schedule = dc_schedule_config_default();
    DcTimestepConfig timesteps = {10, DC_TIMESTEP_SPACING_TRAILING, 0};
    DcDpmSolverConfig dpm = dc_dpm_solver_config_default();
    dpm.solver_order = 4;
    EXPECT_STATUS(dc_multistep_plan_build_dpm_solver(&plan, &schedule, &timesteps, &dpm),
                  DC_STATUS_INVALID_SOLVER_ORDER);
    dpm.solver_order = 3;
    dpm.algorithm_type = 2;
    EXPECT_STATUS(dc_multistep_plan_build_dpm_solver(&plan, &schedule, &timesteps, &dpm),
                  DC_STATUS_INVALID_ENUM_VALUE);
    dpm.algorithm_type = DC_DPM_SOLVER_ALGORITHM_DPM_SOLVER_PLUS_PLUS;
    dpm.sigma_schedule = 4;
    EXPECT_STATUS(dc_multistep_plan_build_dpm_solver(&plan, &schedule, &timesteps, &dpm),
                  DC_STATUS_INVALID_ENUM_VALUE);
    /* Karras sigmas: the first step at the largest training sigma (t = 999), the last near t = 0. */
    dpm.sigma_schedule = DC_SIGMA_SCHEDULE_KARRAS;
    EXPECT_STATUS(dc_multistep_plan_build_dpm_solver(&plan, &schedule, &timesteps, &dpm), DC_STATUS_OK);
    uint32_t first_t = 0, last_t = 0;
    EXPECT_STATUS(dc_multistep_plan_timestep(&plan, 0, &first_t), DC_STATUS_OK);
    EXPECT_STATUS(dc_multistep_plan_timestep(&plan, 9, &last_t), DC_STATUS_OK);
    EXPECT(first_t == 999 && last_t < 20);
    dpm.sigma_schedule = DC_SIGMA_SCHEDULE_INTERPOLATED;
    EXPECT_STATUS(dc_multistep_plan_build_dpm_solver(NULL, &schedule, &timesteps, &dpm),
                  DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_multistep_plan_build_dpm_solver(&plan, &schedule, &timesteps, &dpm), DC_STATUS_OK);
    EXPECT(dc_multistep_plan_len(&plan) == 10);
    EXPECT(dc_multistep_plan_history_len(&plan) == 2); /* third order: two earlier outputs */
    EXPECT(dc_multistep_plan_len(&not_built) == 0);

    float sample[4] = {0.5f, -0.25f, 1.0f, 2.0f}, output[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    float buffer[16];
    EXPECT_STATUS(dc_multistep_history_init(&history, &plan, buffer, 7, 4), DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_multistep_history_init(&history, &not_built, buffer, 8, 4), DC_STATUS_PLAN_NOT_BUILT);
    EXPECT_STATUS(dc_multistep_history_init(NULL, &plan, buffer, 8, 4), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_multistep_history_init(&history, &plan, NULL, 8, 4), DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_multistep_history_init(&history, &plan, buffer, 8, 4), DC_STATUS_OK);

    float before[4];
    memcpy(before, sample, sizeof sample);
    EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, 1, 1, sample, 4, output, 4, &history, NULL, 0),
                  DC_STATUS_STEP_OUT_OF_ORDER);
    EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, 10, 1, sample, 4, output, 4, &history, NULL, 0),
                  DC_STATUS_STEP_INDEX_OUT_OF_RANGE);
    EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, 0, 1, sample, 4, output, 4, &not_made, NULL, 0),
                  DC_STATUS_PLAN_NOT_BUILT);
    EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, 0, 1, sample, 4, output, 4, NULL, NULL, 0),
                  DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, 0, 1, buffer, 4, output, 4, &history, NULL, 0),
                  DC_STATUS_OVERLAPPING_ARRAYS);
    EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, 0, 1, sample, 4, output, 3, &history, NULL, 0),
                  DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, 0, 1, sample, 2, output, 2, &history, NULL, 0),
                  DC_STATUS_LENGTH_MISMATCH); /* the history was made for 4 values */
    EXPECT(memcmp(sample, before, sizeof sample) == 0);
    for (size_t index = 0; index < dc_multistep_plan_len(&plan); index++) {
        uint32_t timestep;
        EXPECT_STATUS(dc_multistep_plan_timestep(&plan, index, &timestep), DC_STATUS_OK);
        EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, index, 2, sample, 4, output, 4, &history, NULL, 0),
                      DC_STATUS_OK);
    }
    EXPECT(memcmp(sample, before, sizeof sample) != 0);

    /* UniPC with a corrector switched off, and a run started over with the same buffer: the same
     * bits twice. */
    DcUniPcConfig unipc = dc_unipc_config_default();
    size_t disabled[1] = {0};
    unipc.disable_corrector = disabled;
    unipc.disable_corrector_len = 1;
    EXPECT_STATUS(dc_multistep_plan_build_unipc(&plan, &schedule, &timesteps, &unipc), DC_STATUS_OK);
    size_t needed = dc_multistep_plan_history_len(&plan) * 4;
    EXPECT(needed > 0 && needed <= 16);
    float runs[2][4];
    for (int run = 0; run < 2; run++) {
        memcpy(runs[run], before, sizeof before);
        EXPECT_STATUS(dc_multistep_history_init(&history, &plan, buffer, needed, 4), DC_STATUS_OK);
        for (size_t index = 0; index < dc_multistep_plan_len(&plan); index++) {
            EXPECT_STATUS(dc_multistep_plan_step_batch(&plan, index, 1, runs[run], 4, output, 4, &history, NULL, 0),
                          DC_STATUS_OK);
        }
    }
    EXPECT(memcmp(runs[0], runs[1], sizeof runs[0]) == 0);
    EXPECT(memcmp(runs[0], before, sizeof before) != 0);
}

/* Unbiased standard deviation accumulated in double, as the core (and torch) compute it. */
static float standard_deviation(const float *values, size_t n) {
    double mean = 0.0, squares = 0.0;
    for (size_t i = 0; i < n; i++) mean += (double)values[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double deviation = (double)values[i] - mean;
        squares += deviation * deviation;
    }
    return (float)sqrt(squares / (double)(n - 1));
}

/* Guidance gives the formula's bits (computed here in C, -ffp-contract=off), per sample; bad
 * arguments get their status and leave the output untouched. */
static void guidance_is_the_formula_and_refuses_bad_arguments(void) {
    enum { BATCH = 2, PER = 5, N = BATCH * PER };
    float uncond[N], cond[N], guided[N], expected[N];
    DcNoiseStream a = dc_noise_stream(3, 0), b = dc_noise_stream(3, 1);
    EXPECT_STATUS(dc_noise_fill_standard_normal(&a, uncond, N), DC_STATUS_OK);
    EXPECT_STATUS(dc_noise_fill_standard_normal(&b, cond, N), DC_STATUS_OK);

    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.0, BATCH, uncond, N, cond, N, guided, N),
                  DC_STATUS_OK);
    for (int i = 0; i < N; i++) expected[i] = uncond[i] + 7.5f * (cond[i] - uncond[i]);
    EXPECT(memcmp(guided, expected, sizeof guided) == 0);

    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.7, BATCH, uncond, N, cond, N, guided, N),
                  DC_STATUS_OK);
    const float rescale = 0.7f, keep = (float)(1.0 - 0.7);
    for (int s = 0; s < BATCH; s++) {
        float *g = expected + s * PER;
        for (int i = 0; i < PER; i++) g[i] = uncond[s * PER + i] + 7.5f * (cond[s * PER + i] - uncond[s * PER + i]);
        float ratio = standard_deviation(cond + s * PER, PER) / standard_deviation(g, PER);
        for (int i = 0; i < PER; i++) g[i] = rescale * (g[i] * ratio) + keep * g[i];
    }
    EXPECT(memcmp(guided, expected, sizeof guided) == 0);
    /* One sample of ten values is not two of five: σ is per sample. */
    float whole[N];
    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.7, 1, uncond, N, cond, N, whole, N), DC_STATUS_OK);
    EXPECT(memcmp(whole, guided, sizeof whole) != 0);

    float before[N];
    memcpy(before, guided, sizeof before);
    EXPECT_STATUS(dc_guidance_combine_batch(NAN, 0.0, BATCH, uncond, N, cond, N, guided, N),
                  DC_STATUS_INVALID_GUIDANCE);
    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 1.5, BATCH, uncond, N, cond, N, guided, N),
                  DC_STATUS_INVALID_GUIDANCE);
    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.0, 0, uncond, N, cond, N, guided, N),
                  DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.0, 3, uncond, N, cond, N, guided, N),
                  DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.0, BATCH, uncond, N - 2, cond, N, guided, N),
                  DC_STATUS_LENGTH_MISMATCH);
    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.0, BATCH, NULL, N, cond, N, guided, N),
                  DC_STATUS_NULL_POINTER);
    EXPECT_STATUS(dc_guidance_combine_batch(7.5, 0.0, BATCH, guided, N, cond, N, guided, N),
                  DC_STATUS_OVERLAPPING_ARRAYS);
    EXPECT(memcmp(guided, before, sizeof before) == 0);
}

int main(void) {
    noise_matches_the_specification();
    errors_have_names();
    bad_plans_are_refused();
    bad_steps_are_refused_and_change_nothing();
    multistep_runs_in_order_and_refuses_bad_arguments();
    guidance_is_the_formula_and_refuses_bad_arguments();

    /* The Rust firmware's runs on this machine: compared with the firmware's lines by the check. */
    static TdState state;
    for (int r = 0; r < TD_RUNS; r++) {
        const TdRun *run = &TD_RUN_LIST[r];
        EXPECT_STATUS(td_run(run, &state), DC_STATUS_OK);
        char line[128];
        td_report_line(line, run->name, state.points, TD_DIMENSIONS * TD_POINTS);
        printf("%s\n", line);
    }
    if (failures) {
        fprintf(stderr, "%d expectation(s) failed\n", failures);
        return 1;
    }
    fprintf(stderr, "capi_test: all expectations met\n");
    return 0;
}
