#!/usr/bin/env bash
# Builds the Cortex-M4F firmware, runs it under QEMU (mps2-an386, -icount shift=0), and checks:
#   - every run's line (hash of all output bits + first values) equals the host twin's: DDIM η = 0,
#     DDIM η = 1, DDPM, DPM-Solver++ 2M, UniPC bh2 and DDIM η = 0 with classifier-free guidance;
#   - the core's flash share, i.e. flash minus that of the same firmware built --features
#     without-core (the model alone on fixed points): <= 12 KiB in a firmware with only the DDIM
#     and DDPM runs, <= 14 KiB in a firmware with only one multistep solver (each built alone with
#     --no-default-features --features dpm-solver, resp. unipc); and prints what guidance adds
#     (flash of --features ddim-ddpm,guidance minus that of --features ddim-ddpm);
#   - the stack high-water mark (stack painting, per run) <= 2 KiB; no allocator symbol in the ELF.
# Prints the memory and instruction figures quoted in docs/firmware.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
scripts/fetch-qemu.sh >/dev/null
elf=firmware/target/thumbv7em-none-eabihf/release/firmware

flash() { "$bin/llvm-size" -A "$elf" | awk '$1 ~ /^\.(vector_table|text|rodata|data)$/ {s += $2} END {print s}'; }
ram() { "$bin/llvm-size" -A "$elf" | awk '$1 ~ /^\.(data|bss|uninit)$/ {s += $2} END {print s}'; }
build() { (cd firmware && cargo build --release --quiet "$@"); }
run() { scripts/run-qemu.sh "$elf" 2>/dev/null || { echo "FAIL: the firmware ($*) exited with an error"; exit 1; }; }
max_stack() { sed -n 's/^stack high-water mark: \([0-9]*\) bytes/\1/p'; }

twin_out=$(cargo run --release --quiet --manifest-path firmware/model/Cargo.toml --example host_twin)

build --features without-core
without_flash=$(flash)
without_out=$(run without-core)
declare -A share ram_of stack_of
for features in ddim-ddpm dpm-solver unipc; do
  build --no-default-features --features "$features"
  share[$features]=$(($(flash) - without_flash)); ram_of[$features]=$(ram)
  if [ "$features" != ddim-ddpm ]; then  # the multistep runs alone: their bits and stack
    out=$(run "$features")
    line=$(echo "$out" | grep ' hash=')
    echo "$twin_out" | grep -qxF "$line" || { echo "FAIL: $features alone: $line"; exit 1; }
    stack_of[$features]=$(echo "$out" | max_stack)
  fi
done
build --no-default-features --features ddim-ddpm,guidance
guidance_share=$(($(flash) - without_flash - share[ddim-ddpm])); guidance_ram=$(($(ram) - ram_of[ddim-ddpm]))
build
with_flash=$(flash); with_ram=$(ram)
firmware_out=$(run all)

echo "firmware (Cortex-M4F under QEMU):"; echo "$firmware_out" | sed 's/^/  /'
echo "host twin (x86_64):"; echo "$twin_out" | sed 's/^/  /'
if [ "$(echo "$firmware_out" | grep ' hash=')" != "$twin_out" ]; then
  echo "FAIL: firmware and host twin differ"; exit 1
fi
echo "bit-identical: all $(echo "$twin_out" | wc -l) runs"

stack=$(echo "$firmware_out" | max_stack)
allocators=$("$bin/llvm-nm" "$elf" | grep -c '__rust_alloc\|__rg_alloc' || true)
echo "the core's flash share (flash minus the firmware --features without-core, $without_flash B):"
echo "  DDIM + DDPM only:     ${share[ddim-ddpm]} B (RAM ${ram_of[ddim-ddpm]} B static)"
echo "  DPM-Solver++ 2M only: ${share[dpm-solver]} B (RAM ${ram_of[dpm-solver]} B static; stack ${stack_of[dpm-solver]} B)"
echo "  UniPC bh2 only:       ${share[unipc]} B (RAM ${ram_of[unipc]} B static; stack ${stack_of[unipc]} B)"
echo "  all runs:             $((with_flash - without_flash)) B (flash $with_flash B, RAM $with_ram B static)"
echo "guidance's flash share (--features ddim-ddpm,guidance minus --features ddim-ddpm): $guidance_share B (RAM $guidance_ram B static)"
echo "stack high-water mark: $stack B; heap: none ($allocators allocator symbols)"
# SysTick runs on the 25 MHz core clock; with -icount shift=0 each instruction is 1 ns: 40 per tick.
echo "$firmware_out" | awk '/ hash=/ {name=$1} / ticks for / {printf "%s: plan %d instructions; %.0f instructions per point-step; stack %d B\n", name, $2*40, $5*40/($8*$11), $14}'
echo "$firmware_out" | awk '/ hash=/ {name=$1} / ticks for / {per[name] = $5*40/($8*$11)}
  END {printf "guidance: %.0f instructions per point-step (ddim_guided minus ddim_eta0)\n", per["ddim_guided"] - per["ddim_eta0"]}'
echo "$without_out" | awk '/ ticks for / {printf "model alone (%s steps): %.0f instructions per point-step\n", $8, $5*40/($8*$11)}' | sort -u
[ "${share[ddim-ddpm]}" -le 12288 ] || { echo "FAIL: with DDIM and DDPM the core adds ${share[ddim-ddpm]} B of flash (> 12 KiB)"; exit 1; }
for features in dpm-solver unipc; do
  [ "${share[$features]}" -le 14336 ] || { echo "FAIL: with $features alone the core adds ${share[$features]} B of flash (> 14 KiB)"; exit 1; }
  [ "${stack_of[$features]}" -le 2048 ] || { echo "FAIL: $features alone: stack high-water mark ${stack_of[$features]} B (> 2 KiB)"; exit 1; }
done
[ "$stack" -le 2048 ] || { echo "FAIL: stack high-water mark $stack B (> 2 KiB)"; exit 1; }
[ "$allocators" -eq 0 ] || { echo "FAIL: the firmware links an allocator"; exit 1; }
