#!/usr/bin/env bash
# Builds the digits firmware (firmware-digits/), runs it under QEMU (mps2-an386, -icount shift=0),
# and checks:
#   - every digit it draws (all 64 f32 bit patterns) equals its host twin's, for both runs;
#   - flash (.vector_table + .text + .rodata + .data) <= 256 KiB (memory.x also declares only that);
#   - RAM, statics (.data + .bss + .uninit) plus the stack high-water mark, <= 64 KiB;
#   - no allocator symbol in the ELF;
#   - scripts/edge-digits writes the board's DPM-Solver++ digits (seed 0, indices 0 ..) to its .npy.
# Prints the figures quoted in README.md and docs/firmware.md. `--grid` draws the full 8x8 grid
# per run (about a minute under QEMU) and writes the board's output to firmware-digits/board.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
features=() twin_args=()
if [ "${1:-}" = "--grid" ]; then features=(--features grid); twin_args=(--grid);
elif [ $# -gt 0 ]; then echo "usage: scripts/edge-digits-check.sh [--grid]" >&2; exit 2; fi
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
scripts/fetch-qemu.sh >/dev/null
elf=firmware-digits/target/thumbv7em-none-eabihf/release/firmware-digits

(cd firmware-digits && cargo fmt --check && cargo clippy --release --quiet -- -D warnings)
(cd firmware-digits/model && cargo fmt --check)
cargo clippy --quiet --manifest-path firmware-digits/model/Cargo.toml --all-targets -- -D warnings

(cd firmware-digits && cargo build --release --quiet "${features[@]}")
size() { "$bin/llvm-size" -A "$elf" | awk -v pattern="$1" '$1 ~ pattern {s += $2} END {print s}'; }
flash=$(size '^\.(vector_table|text|rodata|data)$')
statics=$(size '^\.(data|bss|uninit)$')
weights=$("$bin/llvm-nm" -S --radix=d "$elf" | awk '$4 ~ /digits_denoiser7weights/ {s += $2} END {print s}')
board=$(cd firmware-digits && cargo run --release --quiet "${features[@]}" 2>/dev/null)
twin=$(cargo run --release --quiet --manifest-path firmware-digits/model/Cargo.toml --example host_twin -- "${twin_args[@]}")
[ "${1:-}" = "--grid" ] && echo "$board" > firmware-digits/board.txt

board_digits=$(echo "$board" | grep '^digit ' || true)
echo "$board" | grep -v '^digit ' | sed 's/^/  board: /'
if [ -z "$board_digits" ] || [ "$board_digits" != "$twin" ]; then
  echo "FAIL: the firmware's digits and the host twin's differ:"
  diff <(echo "$board_digits" | cut -c1-60) <(echo "$twin" | cut -c1-60) | head -20 || true
  exit 1
fi
# scripts/edge-digits (the .npy writer) must give the board's digits for seed 0, indices 0 .. n-1.
count=$(echo "$board_digits" | grep -c '^digit dpmpp10 ')
npy=$(mktemp -d)
trap 'rm -rf "$npy"' EXIT
scripts/edge-digits "$count" "$npy/digits.npy" --seed 0 --solver dpm-solver++ --steps 10
npy_words=$(od -An -v -tx4 -j128 "$npy/digits.npy" | tr -d ' \n')
board_words=$(echo "$board_digits" | awk '$2 == "dpmpp10" {printf "%s", $4}')
if [ "$npy_words" != "$board_words" ]; then
  echo "FAIL: scripts/edge-digits $count differs from the board's DPM-Solver++ digits"; exit 1
fi
echo "bit-identical: $(echo "$twin" | wc -l) digits (DDIM 20 steps, DPM-Solver++ 2M 10 steps), Cortex-M4F under QEMU vs x86_64"

stack=$(echo "$board" | sed -n 's/^stack high-water mark: \([0-9]*\) bytes/\1/p')
allocators=$("$bin/llvm-nm" "$elf" | grep -c '__rust_alloc\|__rg_alloc' || true)
ram=$((statics + stack))
echo "flash: $flash B of 262144 (weights $weights B, the rest code and constants)"
echo "RAM: $ram B of 65536 (statics $statics B + stack high-water mark $stack B); heap: none ($allocators allocator symbols)"
# SysTick runs on the 25 MHz core clock; with -icount shift=0 each instruction is 1 ns: 40 per tick.
echo "$board" | awk '/^ticks / {printf "%s: %.2f M instructions per digit (%.0f per model call and step); on a 100 MHz M4F, at most one instruction per cycle: >= %.0f ms per digit\n", $2, $3*40/$5/1e6, $3*40/($5*$8), $3*40/$5/1e5}'
[ "$flash" -le 262144 ] || { echo "FAIL: flash $flash B > 256 KiB"; exit 1; }
[ -n "$stack" ] && [ "$ram" -le 65536 ] || { echo "FAIL: RAM ${ram} B > 64 KiB (or no stack figure)"; exit 1; }
[ "$allocators" -eq 0 ] || { echo "FAIL: the firmware links an allocator"; exit 1; }
