#!/usr/bin/env bash
# Runs the MoE and RMSNorm CUDA kernels of native/ and samples/RealModel's attention and embedding kernels on the CPU under
# tests/Kernels/native-emu/emu_cuda.h (needs g++ with C++20). A development check for machines without a GPU;
# `graphengine check` (and bench/interop/e2e.sh for the sample) on the GPU is the real one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
native="$here/../../../native"
sample="$here/../../../samples/RealModel"
out="${TMPDIR:-/tmp}/ge-moe-emu"
mkdir -p "$out"
for t in gemm stream routing attention norm gemv int8; do
  g++ -std=c++20 -O1 -pthread -include "$here/emu_cuda.h" -I "$here" -I "$native" -I "$sample" -o "$out/$t" "$here/${t}_main.cpp"
  "$out/$t"
done
# The kernels with asynchronous copies again with the copies landing at their latest (emu_cuda.h, GE_EMU_LATE_COPIES):
# a tile read before its wait reads the slot's old contents.
for t in gemm int8; do
  g++ -std=c++20 -O1 -pthread -include "$here/emu_cuda.h" -DGE_EMU_LATE_COPIES -I "$here" -I "$native" -I "$sample" -o "$out/$t-late" "$here/${t}_main.cpp"
  echo "late copies: ${t}_main"
  "$out/$t-late"
done
# Every catalog mutant of a kernel these mains run must make its main fail (mutants.sh; the emulation's adverse order
# of asynchronous work makes the racy ones wrong on every run).
bash "$here/mutants.sh"
