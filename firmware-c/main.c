/* Cortex-M4F firmware (QEMU mps2-an386) in C: the Rust firmware's runs (64 points of the ring of
 * 8 Gaussians; DDIM η = 0, DDIM η = 1, DDPM, DPM-Solver++ 2M, UniPC bh2) through the diffusion-core C interface, printing per
 * run the same line as the Rust firmware (hash of all output bits, first values), the SysTick
 * ticks it took (deterministic under QEMU's -icount), and the stack high-water mark. */
#include <stdint.h>

#include "diffusion_core.h"
#include "semihosting.h"
#include "tiny_denoiser.h"

/* Everything sample-sized or plan-sized is static (.bss), not on the stack. */
static TdState state;

#define STACK_PAINT 0xDEADBEEFu
extern uint32_t _ebss, _stack_top;

/* Fills the free stack (from the end of the statics up to just below this frame) with a pattern. */
static void paint_stack(void) {
    uint32_t here;
    __asm__ volatile("mov %0, sp" : "=r"(here));
    for (volatile uint32_t *word = &_ebss; (uintptr_t)word < here - 64; word++) *word = STACK_PAINT;
}

/* Bytes of stack ever used: from the top down to the lowest overwritten paint word. */
static uint32_t stack_high_water(void) {
    volatile uint32_t *word = &_ebss;
    while (word < &_stack_top && *word == STACK_PAINT) word++;
    return (uint32_t)((uintptr_t)&_stack_top - (uintptr_t)word);
}

/* SysTick: a free-running 24-bit down counter on the processor clock. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

static void put_decimal(char *out, uint32_t value) {
    char digits[10];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (count) *out++ = digits[--count];
    *out = '\0';
}

static void print_ticks(uint32_t ticks, uint32_t steps) {
    char number[11];
    semihosting_write("  ");
    put_decimal(number, ticks);
    semihosting_write(number);
    semihosting_write(" ticks for ");
    put_decimal(number, steps);
    semihosting_write(number);
    semihosting_write(" steps x ");
    put_decimal(number, TD_POINTS);
    semihosting_write(number);
    semihosting_write(" points\n");
}

int main(void) {
    paint_stack();
    SYST_RVR = 0x00FFFFFF;
    SYST_CVR = 0;
    SYST_CSR = 5; /* enabled, processor clock, no interrupt */
    int failed = 0;
    for (int r = 0; r < TD_RUNS && !failed; r++) {
        const TdRun *run = &TD_RUN_LIST[r];
        uint32_t started = SYST_CVR;
        DcStatus status = td_run(run, &state);
        uint32_t ticks = (started - SYST_CVR) & 0x00FFFFFF;
        if (status != DC_STATUS_OK) {
            semihosting_write(run->name);
            semihosting_write(": error: ");
            semihosting_write(dc_error_name(status));
            semihosting_write("\n");
            failed = 1;
            break;
        }
        char line[128];
        td_report_line(line, run->name, state.points, TD_DIMENSIONS * TD_POINTS);
        semihosting_write(line);
        semihosting_write("\n");
        print_ticks(ticks, run->steps);
    }
    char number[11];
    put_decimal(number, stack_high_water());
    semihosting_write("stack high-water mark: ");
    semihosting_write(number);
    semihosting_write(" bytes\n");
    return failed;
}
