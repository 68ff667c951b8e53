#!/usr/bin/env bash
# samples/RealModel against transformers on the GPU machine, in one command (after scripts/device-pack.sh, carrying .device):
#   bash bench/interop/e2e.sh OUTDIR
# 1. transformers_e2e.py builds small random bf16 ERNIE-4.5-MoE and Qwen3-MoE models (transformers_layers.py's), saves them
#    to OUTDIR/<arch>/ and records their final hidden states for n = 1, 7, 100 with eager attention;
# 2. the packed sample loads each with the engine's loader on CUDA, runs the forward eagerly, with Layer graphs and with
#    Segment graphs (bit-identical or it fails), prints the listing and one "result:" line against transformers.
# Exit status: 0 only when both pass. SAMPLE overrides the launcher (default: the packed runtime in .device).
set -euo pipefail
out=${1:?usage: bash bench/interop/e2e.sh OUTDIR}
PYTHON=${PYTHON:-python3}
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
SAMPLE=${SAMPLE:-"bash $root/.device/device-run.sh"}
export GRAPHENGINE_APP=${GRAPHENGINE_APP:-app/graphengine-realmodel-sample.dll}
mkdir -p "$out"
out="$(cd "$out" && pwd)"
"$PYTHON" "$here/transformers_e2e.py" "$out"
status=0
for arch in ernie4_5_moe qwen3_moe; do
  echo "== $arch"
  # Word splitting of $SAMPLE is wanted: it is a launcher command line.
  # shellcheck disable=SC2086
  $SAMPLE --model "$out/$arch" --expected "$out/$arch/final_hidden_states.safetensors" --backend cuda || status=1
done
exit $status
