#!/usr/bin/env bash
# Packs what a GPU machine without .NET needs into .device/ (git-ignored): a framework-dependent publish
# of the CLI, the .NET runtime from this machine's SDK (once), and the run script.
#   scripts/device-pack.sh [OUTDIR]      (default .device)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.device
[ -n "${1:-}" ] && [ "${1}" != "--bench" ] && out=$1
mkdir -p "$out"
dotnet publish src/Cli -c Release -o "$out/app" --nologo -v quiet
# The BenchmarkDotNet host-cost suite (in-process toolchain: the GPU machine has no SDK). It publishes
# Roslyn along with BenchmarkDotNet (~70 MB), more than a device call carries, so it goes to its own
# folder and only when asked: scripts/device-pack.sh --bench.
if [ "${2:-}" = "--bench" ] || [ "${1:-}" = "--bench" ]; then
  dotnet publish bench -c Release -o "${out%/}-bench" --nologo -v quiet
fi
if [ ! -f "$out/dotnet.tar.xz" ]; then
  root=${DOTNET_ROOT:-/usr/share/dotnet}
  [ -x "$root/dotnet" ] || { echo "no .NET runtime at $root (set DOTNET_ROOT)" >&2; exit 1; }
  tar cJf "$out/dotnet.tar.xz" -C "$root" dotnet host shared/Microsoft.NETCore.App
fi
cp scripts/device-run.sh "$out/device-run.sh"
chmod +x "$out/device-run.sh"
echo "packed $(du -sh "$out" | cut -f1) into $out; on the GPU machine: bash $out/device-run.sh check"
