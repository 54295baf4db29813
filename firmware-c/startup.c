/* Minimal start-up for the Cortex-M4F of QEMU's mps2-an386: the vector table, and a reset
 * handler that prepares RAM and the FPU, then calls main. No C library is involved. */
#include <stdint.h>

#include "semihosting.h"

int main(void);

/* Symbols of link.ld. */
extern uint32_t _stack_top, _sidata, _sdata, _edata, _sbss, _ebss;

/* Any fault (including the undefined instruction a Rust panic would execute, were one linked)
 * ends the run as a failure; faults the core does not enable escalate here. */
static void fault_handler(void) {
    semihosting_write("fault: the firmware stopped\n");
    semihosting_exit(0);
}

__attribute__((noreturn)) void Reset_Handler(void) {
    /* .data: its initial values are stored in flash at _sidata. */
    for (uint32_t *from = &_sidata, *to = &_sdata; to < &_edata;) *to++ = *from++;
    for (uint32_t *to = &_sbss; to < &_ebss;) *to++ = 0;
    /* Full access to the FPU (CP10 and CP11 in CPACR), before the first float instruction. */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    semihosting_exit(main() == 0);
}

/* The initial stack pointer, then the handlers of the 15 system exceptions (none of the
 * device's interrupts is enabled). */
__attribute__((section(".vector_table"), used)) static const void *const vector_table[16] = {
    &_stack_top,   Reset_Handler, fault_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, 0,             0,             0,             0,             fault_handler,
    fault_handler, 0,             fault_handler, fault_handler,
};
