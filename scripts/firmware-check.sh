#!/usr/bin/env bash
# Builds the Cortex-M4F firmware, runs it under QEMU (mps2-an386, -icount shift=0), and checks:
#   - every sampler's line (hash of all output bits + first values) equals the host twin's;
#   - the core's flash share (vs the same firmware built --features without-core) <= 12 KiB;
#   - the stack high-water mark (stack painting) <= 2 KiB; no allocator symbol in the ELF.
# Prints the memory and instruction figures quoted in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
scripts/fetch-qemu.sh >/dev/null
elf=firmware/target/thumbv7em-none-eabihf/release/firmware

flash() { "$bin/llvm-size" -A "$1" | awk '$1 ~ /^\.(vector_table|text|rodata|data)$/ {s += $2} END {print s}'; }
ram() { "$bin/llvm-size" -A "$1" | awk '$1 ~ /^\.(data|bss|uninit)$/ {s += $2} END {print s}'; }

(cd firmware && cargo build --release --quiet --features without-core)
without_flash=$(flash "$elf"); without_ram=$(ram "$elf")
without_out=$(cd firmware && cargo run --release --quiet --features without-core 2>/dev/null)
(cd firmware && cargo build --release --quiet)
with_flash=$(flash "$elf"); with_ram=$(ram "$elf")
firmware_out=$(cd firmware && cargo run --release --quiet 2>/dev/null)
twin_out=$(cargo run --release --quiet --manifest-path firmware/model/Cargo.toml --example host_twin)

echo "firmware (Cortex-M4F under QEMU):"; echo "$firmware_out" | sed 's/^/  /'
echo "host twin (x86_64):"; echo "$twin_out" | sed 's/^/  /'
if [ "$(echo "$firmware_out" | grep ' hash=')" != "$twin_out" ]; then
  echo "FAIL: firmware and host twin differ"; exit 1
fi
echo "bit-identical: all three samplers"

core_flash=$((with_flash - without_flash))
stack=$(echo "$firmware_out" | sed -n 's/^stack high-water mark: \([0-9]*\) bytes/\1/p')
allocators=$("$bin/llvm-nm" "$elf" | grep -c '__rust_alloc\|__rg_alloc' || true)
echo "flash: $with_flash B (without the core: $without_flash B; the core adds $core_flash B)"
echo "RAM (static): $with_ram B (without the core: $without_ram B); stack high-water mark: $stack B; heap: none ($allocators allocator symbols)"
# SysTick runs on the 25 MHz core clock; with -icount shift=0 each instruction is 1 ns: 40 per tick.
echo "$firmware_out" | awk '/ hash=/ {name=$1} /ticks for/ {printf "%s: %d ticks = %.0f instructions per point-step\n", name, $1, $1*40/($4*$7)}'
echo "$without_out" | awk '/ hash=/ {name=$1} /ticks for/ {printf "model alone (%s steps): %.0f instructions per point-step\n", $4, $1*40/($4*$7)}'
[ "$core_flash" -le 12288 ] || { echo "FAIL: the core adds $core_flash B of flash (> 12 KiB)"; exit 1; }
[ "$stack" -le 2048 ] || { echo "FAIL: stack high-water mark $stack B (> 2 KiB)"; exit 1; }
[ "$allocators" -eq 0 ] || { echo "FAIL: the firmware links an allocator"; exit 1; }
