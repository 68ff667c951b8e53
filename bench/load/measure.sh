#!/usr/bin/env bash
# Load GB/s and memory of a synthetic sharded checkpoint, in one command on the GPU machine:
#   bash bench/load/measure.sh OUTDIR GB [graphengine args...]      (e.g. OUTDIR=/tmp/ckpt8 GB=8)
# Writes the checkpoint once (bench/load/synthetic_checkpoint.py; skipped when OUTDIR already holds the same one),
# drops its shards from the page cache so the load reads the disk, then loads it on the default backend with
# `graphengine run --model OUTDIR` and prints the CLI's load line: bytes, seconds, GB/s, the host's peak resident
# memory above the resident set before loading, and the device memory the load took. Exit 1 when the host peak is
# 2 GB or more above that baseline (the target: independent of the checkpoint's size).
# GRAPHENGINE names the launcher (default: the packed runtime, .device/device-run.sh; see scripts/device-pack.sh).
set -euo pipefail
out=${1:?usage: measure.sh OUTDIR GB [graphengine args...]}
gb=${2:?usage: measure.sh OUTDIR GB [graphengine args...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
launcher=${GRAPHENGINE:-bash $here/../../.device/device-run.sh}
python3 "$here/synthetic_checkpoint.py" "$out" "$gb" ${SYNTHETIC_ARGS:-}
python3 "$here/synthetic_checkpoint.py" --evict "$out"
df -h "$out" | tail -1
log=$(mktemp)
$launcher run --model "$out" --tokens 1 --sizes 1 "$@" 2>&1 | tee "$log"
line=$(grep -E '^loaded [0-9]+ layers' "$log" || true)
rm -f "$log"
[ -n "$line" ] || { echo "measure.sh: no load line in the output" >&2; exit 2; }
peak=$(sed -nE 's/.*host peak \+([0-9.]+) GB.*/\1/p' <<<"$line")
[ -n "$peak" ] || { echo "measure.sh: the load line has no host peak (no /proc/self/clear_refs?)" >&2; exit 2; }
echo "host peak above baseline: $peak GB (target < 2 GB)"
awk -v p="$peak" 'BEGIN { exit !(p < 2) }'
