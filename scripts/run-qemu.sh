#!/usr/bin/env bash
# Runs a Cortex-M4F ELF on QEMU's mps2-an386 with semihosting, deterministically (-icount shift=0:
# one instruction per nanosecond of virtual time), under a timeout. The exit code is the firmware's.
set -euo pipefail
qemu=$("$(dirname "$0")/fetch-qemu.sh")
exec timeout 120 "$qemu" -machine mps2-an386 -cpu cortex-m4 -nographic -icount shift=0 \
  -semihosting-config enable=on,target=native -kernel "$1" </dev/null
