#!/usr/bin/env bash
# Checks the C interface (capi/) end to end:
#   1. capi/include/diffusion_core.h is what cbindgen 0.29.4 generates from the code (with
#      --write-header: regenerate it instead);
#   2. the host C test (capi/tests/c/capi_test.c, system cc, AddressSanitizer and
#      UndefinedBehaviorSanitizer) passes: bad arguments, noise v1 test vector, the firmware's runs;
#   3. the C firmware (firmware-c/, arm-none-eabi-gcc, linking the thumbv7em-none-eabihf library)
#      prints under QEMU, bit for bit, the lines of the Rust core and model on x86_64
#      (capi/examples/firmware_twin.rs) for all its runs, the Rust firmware's lines for the runs
#      both firmwares make, and the host C test's lines; its panic handler is the library's trap,
#      it links no allocator, and its stack and flash stay within bounds.
# Prints the C firmware's flash, RAM and stack and its instructions per point-step.
set -euo pipefail
cd "$(dirname "$0")/.."
cbindgen_version=0.29.4
header=capi/include/diffusion_core.h

echo "-- header: cbindgen $cbindgen_version"
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $cbindgen_version"; then
  # A debug build: it compiles faster than a release one, and generating one header is instant.
  cargo install cbindgen --version "$cbindgen_version" --locked --debug --quiet
fi
generated=$(mktemp); trap 'rm -f "$generated"' EXIT
cbindgen --quiet --config capi/cbindgen.toml --crate diffusion-core-c --output "$generated" capi
if [ "${1:-}" = "--write-header" ]; then
  cp "$generated" "$header"; echo "wrote $header"
elif ! diff -u "$header" "$generated"; then
  echo "FAIL: $header differs from the code (scripts/capi-check.sh --write-header regenerates it)"
  exit 1
fi

echo "-- host C test under ASan + UBSan (system cc)"
cargo build -p diffusion-core-c --quiet
make -s -C firmware-c build/weights.h
mkdir -p target/capi
cc -std=c11 -g -O1 -Wall -Wextra -Werror -ffp-contract=off \
  -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -I capi/include -I firmware-c -I firmware-c/build \
  capi/tests/c/capi_test.c firmware-c/tiny_denoiser.c target/debug/libdiffusion_core_c.a \
  -lpthread -ldl -lm -o target/capi/capi_test
host_lines=$(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 target/capi/capi_test)

echo "-- C firmware on Cortex-M4F (QEMU)"
gcc_bin=$(scripts/fetch-arm-gcc.sh)
cargo build -p diffusion-core-c --target thumbv7em-none-eabihf --profile capi-firmware --quiet
make -s -C firmware-c CC="$gcc_bin/arm-none-eabi-gcc"
elf=firmware-c/build/firmware-c.elf
c_out=$(scripts/run-qemu.sh "$elf")
rust_elf=firmware/target/thumbv7em-none-eabihf/release/firmware
(cd firmware && cargo build --release --quiet)
rust_out=$(scripts/run-qemu.sh "$rust_elf")
twin_out=$(cargo run --quiet -p diffusion-core-c --example firmware_twin)
echo "C firmware:"; echo "$c_out" | sed 's/^/  /'
echo "host C test (x86_64):"; echo "$host_lines" | sed 's/^/  /'
echo "Rust twin (the core and the Rust model on x86_64, capi/examples/firmware_twin.rs):"
echo "$twin_out" | sed 's/^/  /'

c_lines=$(echo "$c_out" | grep ' hash=' || true)
[ "$c_lines" = "$twin_out" ] || { echo "FAIL: the C firmware's runs differ from the Rust twin's"; exit 1; }
[ "$host_lines" = "$c_lines" ] || { echo "FAIL: host C test and C firmware differ"; exit 1; }
# Every run that the Rust firmware also prints: the same line (at least DDIM η = 0, 1 and DDPM).
shared=0
while read -r line; do
  rust_line=$(echo "$rust_out" | grep "^${line%% *} hash=" || true)
  [ -n "$rust_line" ] || continue
  [ "$rust_line" = "$line" ] || { echo "FAIL: C firmware '$line', Rust firmware '$rust_line'"; exit 1; }
  shared=$((shared + 1)); shared_names="${shared_names:-}${line%% *} "
done <<< "$c_lines"
[ "$shared" -ge 3 ] || { echo "FAIL: only $shared runs in common with the Rust firmware"; exit 1; }
echo "bit-identical: C firmware = C on x86_64 = Rust twin ($(echo "$c_lines" | wc -l) runs) = Rust firmware ($shared_names)"

size() { "$gcc_bin/arm-none-eabi-size" -A "$1" | awk -v want="$2" '$1 ~ want {s += $2} END {print s}'; }
flash=$(size "$elf" '^\.(vector_table|text|rodata|ARM\.exidx|data)$')
ram=$(size "$elf" '^\.(data|bss)$')
# The C program's share of flash: the sizes of the symbols its own objects define (weights, model,
# start-up); the rest is the library (core, C layer, compiler builtins) and libgcc.
c_symbols=$("$gcc_bin/arm-none-eabi-nm" --defined-only firmware-c/build/*.o | awk 'NF == 3 {print $3}' | sort -u)
c_flash=$("$gcc_bin/arm-none-eabi-nm" -S --defined-only "$elf" | awk 'NF == 4 && $3 ~ /^[TtRr]$/ {print $4, $2}' \
  | sort | join - <(echo "$c_symbols") | while read -r _ hex; do echo $((16#$hex)); done | awk '{s += $1} END {print s}')
stack=$(echo "$c_out" | sed -n 's/^stack high-water mark: \([0-9]*\) bytes/\1/p')
allocators=$("$gcc_bin/arm-none-eabi-nm" "$elf" | grep -c '__rust_alloc\|__rg_alloc\|malloc' || true)
# The core keeps a few panic paths the optimizer cannot prove dead (bounds checks inside slice
# selection, a division by a batch size already checked); none is reachable from valid or invalid
# C input. What matters at the boundary: the panic handler linked is the library's trap, never an
# unwinder, so a panic could only stop the firmware through its fault handler.
disassembly=$("$gcc_bin/arm-none-eabi-objdump" -d "$elf")
handler=$(echo "$disassembly" | awk '/rust_begin_unwind>:$/ {on = 1; next} on && NF == 0 {on = 0} on')
panic_calls=$(echo "$disassembly" | grep -c 'bl.*core9panicking' || true)
echo "C firmware: flash $flash B (the C program $c_flash B: weights, model, start-up; the library and libgcc $((flash - c_flash)) B)"
echo "  RAM (static) $ram B, stack high-water mark $stack B, heap: none ($allocators allocator symbols)"
echo "  panic handler: $(echo "$handler" | grep -c 'udf') trap instruction(s); $panic_calls calls of panics the optimizer could not prove dead (none reachable)"
# SysTick runs on the 25 MHz core clock; with -icount shift=0 each instruction is 1 ns: 40 per tick.
echo "$c_out" | awk '/ hash=/ {name=$1} /ticks for/ {printf "  %s: %.0f instructions per point-step\n", name, $1*40/($4*$7)}'
echo "$handler" | grep -q 'udf' || { echo "FAIL: the linked panic handler is not the library's trap"; exit 1; }
[ "$allocators" -eq 0 ] || { echo "FAIL: the C firmware links an allocator"; exit 1; }
[ "$stack" -le 2560 ] || { echo "FAIL: stack high-water mark $stack B (> 2.5 KiB)"; exit 1; }
[ "$flash" -le 102400 ] || { echo "FAIL: the C firmware's flash $flash B (> 100 KiB)"; exit 1; }
