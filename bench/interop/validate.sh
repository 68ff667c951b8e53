#!/usr/bin/env bash
# Validates the loader and every layer against transformers on the GPU machine, in one command:
#   GRAPHENGINE="bash .device/device-run.sh" bash bench/interop/validate.sh OUTDIR
# 1. transformers_layers.py builds small random bf16 ERNIE-4.5-MoE, Qwen3-MoE and Llama models, saves them to
#    OUTDIR/<arch>/ and records each layer's outputs in OUTDIR/<arch>/oracle.safetensors;
# 2. `graphengine check --model OUTDIR/<arch> --oracle ...` loads each with ModelLoader on CUDA and prints one line
#    per (layer, sublayer, n), then "N passed, N failed". Exit status: 0 only when all three pass.
set -euo pipefail
out=${1:?usage: GRAPHENGINE="bash .device/device-run.sh" bash bench/interop/validate.sh OUTDIR}
GRAPHENGINE=${GRAPHENGINE:-graphengine}
PYTHON=${PYTHON:-python3}
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
"$PYTHON" "$here/transformers_layers.py" "$out"
status=0
for arch in ernie4_5_moe qwen3_moe llama; do
  echo "== $arch"
  # Word splitting of $GRAPHENGINE is wanted: it is a launcher command line.
  # shellcheck disable=SC2086
  $GRAPHENGINE check --model "$out/$arch" --oracle "$out/$arch/oracle.safetensors" --backend cuda || status=1
done
exit $status
