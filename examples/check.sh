#!/usr/bin/env bash
# Checks examples/ without a cluster or a container runtime (CI runs it):
# - every shell and sbatch script parses (bash -n);
# - the Kubernetes manifests parse as YAML and have what a Job needs, the Indexed Job's
#   HOST_SHARD_COUNT equals its completions, the Dockerfile builds host with the README's command
#   and pins scripts/fetch-ort.sh's ONNX Runtime (examples/check_examples.py);
# - with a built host (the newer of target/{release,debug}/host, or CHECK_HOST=FILE), every flag
#   the examples pass to host exists in its --help;
# - the check itself fails on broken copies of the manifests and the Dockerfile.
# Needs python3 with PyYAML; without it, PyYAML is installed from PyPI into .venv-examples/ (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== examples: scripts parse (bash -n)"
scripts=(examples/*.sh examples/*/*.sh examples/*/*.sbatch)
for script in "${scripts[@]}"; do
  [ -e "$script" ] || continue
  bash -n "$script"
  echo "ok: $script"
done

echo "== examples: PyYAML"
if ! python3 -c 'import yaml' 2>/dev/null; then
  if ! PYTHONPATH=.venv-examples python3 -c 'import yaml' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --target .venv-examples pyyaml==6.0.3
  fi
  export PYTHONPATH=$PWD/.venv-examples${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c 'import yaml; print("PyYAML", yaml.__version__)'

host=${CHECK_HOST:-}
if [ -z "$host" ]; then
  for candidate in target/release/host target/debug/host; do
    if [ -x "$candidate" ] && { [ -z "$host" ] || [ "$candidate" -nt "$host" ]; }; then host=$candidate; fi
  done
fi
host_args=()
if [ -n "$host" ]; then host_args=(--host "$host"); fi

echo "== examples: Kubernetes manifests, Dockerfile${host:+, flags against $host}"
python3 examples/check_examples.py --root . "${host_args[@]}"
if [ -z "$host" ]; then echo "note: no built host; the examples' flags were not checked against its --help"; fi

echo "== examples: the check fails on broken examples"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
broken=0
# Each line: file|sed expression that breaks it.
while IFS='|' read -r file edit; do
  rm -rf "$scratch/k8s" && cp -r examples/kubernetes "$scratch/k8s"
  sed -i -e "$edit" "$scratch/k8s/$file"
  if cmp -s "examples/kubernetes/$file" "$scratch/k8s/$file"; then
    echo "FAIL: the self-test edit '$edit' does not change $file"; exit 1
  fi
  if python3 examples/check_examples.py --root . --k8s-dir "$scratch/k8s" >"$scratch/log" 2>&1; then
    echo "FAIL: the check passes $file broken by '$edit'"; exit 1
  fi
  echo "ok: refused $file with '$edit': $(grep -m1 '^FAIL' "$scratch/log" || tail -n1 "$scratch/log")"
  broken=$((broken + 1))
done <<'EOF'
job.yaml|s/completionMode: Indexed/completionMode: NonIndexed/
job.yaml|s/^  completions: 8/  completions: 4/
job.yaml|s/value: "8"            # = spec.completions/value: "4"/
job.yaml|/restartPolicy: Never/d
job.yaml|s/apiVersion: batch\/v1/apiVersion: batch\/v2/
job.yaml|/nvidia.com\/gpu: 1/d
job.yaml|s/          image: /          imag: /
job.yaml|s/claimName: diffusion-data/claimName: other-data/
job.yaml|s/^  parallelism: 8/  parallelism: [8/
job.yaml|s/if \[ -n/if [ -n "x" ]; then if [ -n/
merge-job.yaml|s/kind: Job/kind: Jobs/
merge-job.yaml|s/restartPolicy: Never/restartPolicy: Always/
Dockerfile|s/cargo build --release -p host/cargo build -p host/
Dockerfile|s/onnxruntime-gpu==/onnxruntime-gpu>=/
EOF
echo "examples: $broken broken copies refused"
