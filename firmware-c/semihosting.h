/* ARM semihosting (the debugger, here QEMU with -semihosting-config enable=on, performs the
 * call): text output and exit. */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H

/* Prints a NUL-terminated string on the host's stdout (SYS_WRITE0). */
void semihosting_write(const char *text);

/* Ends the program: QEMU exits with status 0 when `success`, 1 otherwise (SYS_EXIT). */
__attribute__((noreturn)) void semihosting_exit(int success);

#endif
