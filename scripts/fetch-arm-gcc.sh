#!/usr/bin/env bash
# Fetches Debian's arm-none-eabi-gcc and binutils into .arm-gcc/ (ignored) without installing them,
# as scripts/fetch-qemu.sh does for QEMU: downloads the packages and whichever of their library
# dependencies the system lacks, unpacks them with dpkg -x, and writes .arm-gcc/bin/arm-none-eabi-gcc
# (and -size, -objcopy), wrappers that set LD_LIBRARY_PATH. Prints the directory of the wrappers.
# The C firmware needs no C library (it is freestanding: -nostdlib, libgcc only), so newlib is not
# fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.arm-gcc
wrappers=$root/bin
if [ -x "$wrappers/arm-none-eabi-gcc" ] && "$wrappers/arm-none-eabi-gcc" --version >/dev/null 2>&1; then
  echo "$wrappers"; exit 0
fi
mkdir -p "$root/debs" "$root/root" "$wrappers"
cd "$root/debs"
wanted="gcc-arm-none-eabi binutils-arm-none-eabi"
download() { apt-get download "$@" >/dev/null 2>&1; }
if ! download $wanted; then apt-get update >/dev/null; download $wanted; fi
packages=""
for dependency in $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $wanted | grep -v '^ ' | grep -v '^<' | sort -u); do
  case " $wanted " in *" $dependency "*) continue ;; esac
  if ! dpkg -s "$dependency" 2>/dev/null | grep -q '^Status: install ok installed'; then
    packages="$packages $dependency"
  fi
done
[ -z "$packages" ] || download $packages
for deb in *.deb; do dpkg -x "$deb" "$root/root"; done
libs=$(find "$root/root" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
for tool in gcc size objcopy nm objdump; do
  cat > "$wrappers/arm-none-eabi-$tool" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:-}" exec "$root/root/usr/bin/arm-none-eabi-$tool" "\$@"
WRAP
  chmod +x "$wrappers/arm-none-eabi-$tool"
done
"$wrappers/arm-none-eabi-gcc" --version >/dev/null
echo "$wrappers"
