#include "semihosting.h"

/* Operation numbers, open mode and exit reasons from ARM's semihosting specification. */
#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT 0x18
#define OPEN_MODE_W 4
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUNTIME_ERROR_UNKNOWN 0x20023

/* A semihosting call on M-profile: operation in r0, argument in r1, then `bkpt 0xAB`. */
static int semihosting_call(int operation, const void *argument) {
    register int r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* The host's stdout: the special file ":tt" opened for writing (as cortex-m-semihosting's
 * hprintln does; SYS_WRITE0 would go to QEMU's stderr instead). */
static int stdout_handle(void) {
    static int handle = -1;
    if (handle < 0) {
        static const char name[] = ":tt";
        const int arguments[3] = {(int)name, OPEN_MODE_W, (int)(sizeof name - 1)};
        handle = semihosting_call(SYS_OPEN, arguments);
    }
    return handle;
}

void semihosting_write(const char *text) {
    int length = 0;
    while (text[length]) length++;
    const int arguments[3] = {stdout_handle(), (int)text, length};
    semihosting_call(SYS_WRITE, arguments);
}

void semihosting_exit(int success) {
    /* On 32-bit ARM the argument of SYS_EXIT is the reason itself, not a pointer to a block. */
    int reason = success ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR_UNKNOWN;
    semihosting_call(SYS_EXIT, (const void *)reason);
    for (;;) {
    }
}
