#!/usr/bin/env bash
# compute-sanitizer over `graphengine check` through the packed runtime (scripts/device-pack.sh, then carry .device):
#   bash scripts/gpu-sanitize.sh OUTDIR [--filter SUBSTRINGS] [--tier ci|full] [--limit SECONDS] [TOOL ...]
# TOOLs: memcheck (with --leak-check full), racecheck, synccheck, initcheck; default all four, in that order. Each tool
# runs the whole check once under its own time limit (default 540 s, so one tool fits one 10-minute device call; give
# one TOOL per call when the check is long), with the check's output in OUTDIR/TOOL.check.log and the sanitizer's in
# OUTDIR/TOOL.sanitizer.log. OUTDIR/sanitizers.txt gets one line per tool: its "ERROR SUMMARY: N errors" (or, when the
# limit cut it short, the error reports seen so far), the check's exit status and the time. --filter bounds the device
# time the same way it bounds check (comma-separated substrings of case names). Exit 1 when any tool reported errors,
# failed or timed out.
#
# The program destroys the GPU's primary context when check ends (GRAPHENGINE__RUN__RESETDEVICEATEXIT=1:
# cuDevicePrimaryCtxReset after every allocation is freed): memcheck's leak check reports what is still allocated when
# the context is destroyed, and cuBLASLt's runtime would otherwise keep the context alive until the process is gone.
set -uo pipefail
out=${1:?usage: gpu-sanitize.sh OUTDIR [--filter SUBSTRINGS] [--tier ci|full] [--limit SECONDS] [TOOL ...]}
shift
filter="" tier=full limit=540 tools=()
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) filter=${2:?--filter needs a value}; shift 2 ;;
    --tier) tier=${2:?--tier needs ci or full}; shift 2 ;;
    --limit) limit=${2:?--limit needs seconds}; shift 2 ;;
    memcheck|racecheck|synccheck|initcheck) tools+=("$1"); shift ;;
    *) echo "gpu-sanitize.sh: unknown argument '$1' (tools: memcheck racecheck synccheck initcheck)" >&2; exit 2 ;;
  esac
done
[ ${#tools[@]} -gt 0 ] || tools=(memcheck racecheck synccheck initcheck)
case "$limit" in ''|*[!0-9]*) echo "gpu-sanitize.sh: --limit '$limit' is not a whole number of seconds" >&2; exit 2 ;; esac
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
[ -x "$sanitizer" ] || { echo "gpu-sanitize.sh: compute-sanitizer not found on PATH or at $sanitizer" >&2; exit 2; }
launcher="$(cd "$(dirname "$0")/.." && pwd)/.device/device-run.sh"
[ -f "$launcher" ] || { echo "gpu-sanitize.sh: $launcher missing: run scripts/device-pack.sh and carry .device" >&2; exit 2; }
mkdir -p "$out"
export GRAPHENGINE_KERNEL_CACHE=${GRAPHENGINE_KERNEL_CACHE:-/tmp/gekc} GRAPHENGINE__RUN__RESETDEVICEATEXIT=1
check=(check --tier "$tier")
[ -n "$filter" ] && check+=(--filter "$filter")
summary="$out/sanitizers.txt"
echo "compute-sanitizer $("$sanitizer" --version | grep -o 'Version [0-9.]*' | head -1) over: graphengine ${check[*]} (limit ${limit} s per tool)" | tee -a "$summary"
bad=0
for tool in "${tools[@]}"; do
  extra=()
  [ "$tool" = memcheck ] && extra=(--leak-check full)
  log="$out/$tool.sanitizer.log"
  t0=$SECONDS
  # The application's own exit status comes back unless the tool found errors (then 86), so the two are told apart.
  timeout --signal=INT --kill-after=30 "$limit" "$sanitizer" --tool "$tool" "${extra[@]}" --target-processes all \
    --error-exitcode 86 --print-limit 200 --log-file "$log" bash "$launcher" "${check[@]}" > "$out/$tool.check.log" 2>&1
  rc=$?
  took=$((SECONDS - t0))
  errors=$(grep -o 'ERROR SUMMARY: [0-9]* error' "$log" 2>/dev/null | tail -1 | grep -o '[0-9]*')
  # racecheck ends with its own line instead: "RACECHECK SUMMARY: N hazards displayed (E errors, W warnings)".
  [ -z "$errors" ] && errors=$(grep -o 'RACECHECK SUMMARY: [0-9]* hazards displayed ([0-9]* errors' "$log" 2>/dev/null | tail -1 | grep -o '[0-9]* errors' | grep -o '[0-9]*')
  last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out/$tool.check.log" | tail -1)
  if [ "$rc" = 124 ] || [ "$rc" = 137 ] || { [ -z "$errors" ] && [ "$rc" = 130 ]; }; then
    # Cut short: no summary; count the error reports printed so far (each starts with the tool's prefix and a kind).
    seen=$(grep -cE '^========= (Invalid|Error|Uninitialized|Barrier|Program hit|Leaked|Race|Malloc|Cuda API|Warning: Race)' "$log" 2>/dev/null)
    line="$tool: TIMEOUT after ${took} s (limit ${limit} s): ${seen:-0} error reports before the limit; check: ${last:-not finished}"
    bad=1
  elif [ -z "$errors" ]; then
    line="$tool: no ERROR SUMMARY in $log (exit $rc after ${took} s); check: ${last:-no totals}"
    bad=1
  else
    line="$tool: ERROR SUMMARY: $errors errors; check exit $rc (${last:-no totals}) in ${took} s"
    { [ "$errors" != 0 ] || [ "$rc" != 0 ]; } && bad=1
  fi
  echo "$line" | tee -a "$summary"
done
exit $bad
