#!/usr/bin/env bash
# The runs the README and docs/results/<commit>/ quote, in one call on a GPU machine with the packed runtime
# (scripts/device-pack.sh, then carry .device):
#   bash scripts/gpu-results.sh OUTDIR [STEP ...]     (default: every step but the optional ones; the names are below)
# check --tier full, run (tiny and ERNIE), the prefill and kernel suites with the PyTorch peers, and the CUPTI
# profile of the ERNIE preset in all three modes (and, when named: faults, soak, mutants). Each step has its own time limit so one slow step cannot
# take the others' time; every log names the commit (the program prints it).
set -uo pipefail
out=${1:?usage: gpu-results.sh OUTDIR [STEP ...]}
shift
only=" $* "
mkdir -p "$out"
export GRAPHENGINE_KERNEL_CACHE=${GRAPHENGINE_KERNEL_CACHE:-/tmp/gekc} PYTHONUNBUFFERED=1
launcher="$(cd "$(dirname "$0")/.." && pwd)/.device/device-run.sh"
step() {  # step NAME LIMIT_S ARGS...
  local name=$1 limit=$2; shift 2
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || return 0
  local t0=$SECONDS
  timeout "$limit" bash "$launcher" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - t0)) s" | tee -a "$out/steps.txt"
}
step check-full 420 check --tier full --debug
# Again with the kernel cache the first run filled: the time of a check after a change to host code only.
step check-full-warm 300 check --tier full
step run-tiny 60 run
step run-ernie 120 run --preset ernie45-21b-a3b
step bench-all 420 bench --suite all --preset ernie45-21b-a3b --torch --out "$out/bench"
step profile-ernie 240 profile --preset ernie45-21b-a3b --tokens 1,16,128,512,2048 --out "$out/profile"
# Beyond the default set (name them to run them; together they exceed one 10-minute device call):
# the fault matrix, the million-replay soak and the mutant table.
optional() {  # optional NAME LIMIT_S ARGS...: a step that runs only when named
  [[ "$only" == *" $1 "* ]] || return 0
  step "$@"
}
optional faults 120 faults --backend cuda
optional soak 300 soak --backend cuda --preset tiny --replays 1000000
optional mutants 540 check --mutants
