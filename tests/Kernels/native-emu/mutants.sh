#!/usr/bin/env bash
# The mutants of src/Conformance/MutantCatalog.cs whose kernels the emulation's mains run (emu_cuda.h; run.sh runs the
# mains as they are): each main is built with the mutant's define and must fail. A development and CI check on machines
# without a GPU, deterministic because the emulation runs asynchronous work in its most adverse legal order;
# `graphengine check --mutants` on the GPU is the real one and covers the kernels the emulation does not run.
# Prints one line per mutant and "N caught, N missed"; exit 1 when any is missed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
native="$here/../../../native"
sample="$here/../../../samples/RealModel"
out="${TMPDIR:-/tmp}/ge-moe-emu/mutants"
mkdir -p "$out"
# main: defines (the catalog's mutants whose sources that main includes)
table=(
  "norm: GE_MUTANT_RMSNORM_LAST_ROW GE_MUTANT_RMSNORM_LAST_COLUMN GE_MUTANT_RMSNORM_RACY_SUM"
  "gemv: GE_MUTANT_GV_DROP_LAST_K GE_MUTANT_GV_RACY_REDUCTION"
  "gemm: GE_MUTANT_GG_LAST_ROW GE_MUTANT_GG_DROP_LAST_K GE_MUTANT_GG_SCALE_INDEX GE_MUTANT_GG_LAST_COLUMN GE_MUTANT_GG_RACY_DECODE GE_MUTANT_GG_FP16_ACCUMULATOR GE_MUTANT_GG_QUANT_SCALE GE_MUTANT_GW_LAST_ROW GE_MUTANT_GW_DROP_LAST_K GE_MUTANT_GW_RACY_REFILL GE_MUTANT_GW_EXPERT_OFFSET GE_MUTANT_GT_DROP_LAST_K GE_MUTANT_GT_SECOND_BOX GE_MUTANT_GTI_DROP_LAST_K GE_MUTANT_GTI_ONE_DECODER GE_MUTANT_GW_SCALE_INDEX GE_MUTANT_SWIGLU_EPI_SWAP GE_MUTANT_SWIGLU_EPI_NEIGHBOUR GE_MUTANT_WI4A16_LAST_ROW GE_MUTANT_WI4A16_ZERO_POINT GE_MUTANT_LP_LAST_ROW"
  "stream: GE_MUTANT_GS_DROP_LAST_SLICE GE_MUTANT_GS_RACY_REDUCTION GE_MUTANT_GS_GROUP_PER_BLOCK GE_MUTANT_GS_NEIGHBOUR_PAIRS GE_MUTANT_GS_TICKET_NOT_RESET"
  "int8: GE_MUTANT_I8A_DROP_LAST_K GE_MUTANT_I8A_SCALE_INDEX GE_MUTANT_I8A_SKIP_PAD_GUARD GE_MUTANT_I8S_DROP_LAST_K GE_MUTANT_I8S_SCALE_INDEX GE_MUTANT_I8S_SKIP_PAD_GUARD GE_MUTANT_I8T_DROP_LAST_K GE_MUTANT_I8T_SCALE_INDEX GE_MUTANT_I8T_SKIP_PAD_GUARD GE_MUTANT_I8E_SCALE_INDEX GE_MUTANT_I8Q_TRUNCATE"
  "routing: GE_MUTANT_ROUTING_NO_RENORM GE_MUTANT_ROUTING_KEEPS_TAKEN GE_MUTANT_ROUTER_RACY_REDUCTION GE_MUTANT_ROUTER_DROP_LAST_CHUNK GE_MUTANT_ROUTER_FUSED_PAD_GUARD GE_MUTANT_ASSIGN_COUNT GE_MUTANT_COMBINE_DROP_LAST_SLOT GE_MUTANT_SWIGLU_SWAP"
)
# One mutant: build its main with the define, run it stopping at the first failing case, write the verdict line.
one() {
  local main=$1 m=$2 bin="$out/$1-$2"
  if ! g++ -std=c++20 -O1 -pthread -include "$here/emu_cuda.h" -D"$m" -I "$here" -I "$native" -I "$sample" -o "$bin" "$here/${main}_main.cpp" 2> "$bin.build.log"; then
    echo "mutant $m: MISSED, ${main}_main does not build with it ($(head -n 1 "$bin.build.log" | cut -c1-160))" > "$bin.verdict"; return
  fi
  local t0=$SECONDS rc
  GE_EMU_FAIL_FAST=1 timeout 900 "$bin" > "$bin.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "mutant $m: caught by ${main}_main in $((SECONDS - t0)) s (exit $rc: $(tail -n 1 "$bin.log" | cut -c1-120))" > "$bin.verdict"
  else
    echo "mutant $m: MISSED by ${main}_main ($(tail -n 1 "$bin.log" | cut -c1-120))" > "$bin.verdict"
  fi
}
export -f one
export here native sample out
pairs=()
for row in "${table[@]}"; do
  for m in ${row#*:}; do pairs+=("${row%%:*} $m"); done
done
rm -f "$out"/*.verdict
# As many mutants at once as the machine has cores.
printf '%s\n' "${pairs[@]}" | xargs -P "$(nproc)" -L 1 bash -c 'one "$0" "$1"'
caught=0 missed=0
for p in "${pairs[@]}"; do
  set -- $p
  line=$(cat "$out/$1-$2.verdict" 2>/dev/null || echo "mutant $2: MISSED, no verdict from ${1}_main")
  echo "$line"
  case "$line" in *": caught by "*) caught=$((caught + 1)) ;; *) missed=$((missed + 1)) ;; esac
done
echo "$caught caught, $missed missed"
[ $missed -eq 0 ]
