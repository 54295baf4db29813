#!/usr/bin/env bash
# Fetches Debian's qemu-system-arm into .qemu/ (ignored) without installing it: `apt-get install`
# would replace the machine's newer qemu-utils. Downloads the package and whichever of its library
# dependencies the system lacks, unpacks them with dpkg -x, and writes .qemu/qemu-system-arm, a
# wrapper that sets LD_LIBRARY_PATH. Prints the wrapper's path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.qemu
wrapper=$root/qemu-system-arm
if [ -x "$wrapper" ] && "$wrapper" --version >/dev/null 2>&1; then echo "$wrapper"; exit 0; fi
mkdir -p "$root/debs" "$root/root"
cd "$root/debs"
packages=""
download() { apt-get download "$@" >/dev/null 2>&1; }
if ! download qemu-system-arm; then apt-get update >/dev/null; download qemu-system-arm; fi
for dependency in $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances qemu-system-arm | grep -v '^ ' | grep -v '^<' | sort -u); do
  if ! dpkg -s "$dependency" 2>/dev/null | grep -q '^Status: install ok installed'; then
    packages="$packages $dependency"
  fi
done
download $packages
for deb in *.deb; do dpkg -x "$deb" "$root/root"; done
libs=$(find "$root/root" -name '*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
cat > "$wrapper" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:-}" exec "$root/root/usr/bin/qemu-system-arm" "\$@"
WRAP
chmod +x "$wrapper"
"$wrapper" --version >/dev/null
echo "$wrapper"
