#!/bin/bash
# Submits the sampling array, then the merge, which starts only when every task has succeeded.
#   examples/slurm/submit.sh [SHARDS]      (default 8; run it from the run directory)
# MODEL, NUM_SAMPLES, SEED, STEPS, BATCH, EP, PNG_DIR, HOST_BIN and RUN_DIR pass through to the jobs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shards=${1:-8}
case $shards in '' | *[!0-9]* | 0) echo "error: SHARDS must be a positive integer, not '$shards'" >&2; exit 2 ;; esac

mkdir -p logs   # Slurm does not create the directory of --output
array=$(sbatch --parsable --array="0-$((shards - 1))" "$here/sample.sbatch")
array=${array%%;*}   # --parsable prints JOBID or JOBID;CLUSTER
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes "$here/merge.sbatch")
merge=${merge%%;*}
echo "submitted array $array ($shards shards) and merge $merge; watch with: squeue -u $USER"
