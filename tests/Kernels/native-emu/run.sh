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
# Mutants (src/Conformance/MutantCatalog.cs) whose fault is an ordering the GPU shows only when its timing opens the
# window: the emulation's adverse order (emu_cuda.h, wgmma) makes each wrong on every run, so each build must fail.
for m in "gemm GE_MUTANT_GW_RACY_REFILL"; do
  set -- $m
  g++ -std=c++20 -O1 -pthread -include "$here/emu_cuda.h" -D"$2" -I "$here" -I "$native" -I "$sample" -o "$out/$1-$2" "$here/${1}_main.cpp"
  if "$out/$1-$2" > "$out/$1-$2.log" 2>&1; then echo "mutant $2: not caught by ${1}_main"; exit 1; fi
  echo "mutant $2: caught by ${1}_main ($(tail -n 1 "$out/$1-$2.log"))"
done
