#!/usr/bin/env bash
# Packs what a GPU machine without .NET needs into .device/ (git-ignored): a framework-dependent publish
# of the CLI, the .NET runtime from this machine's SDK (once), and the run script.
#   scripts/device-pack.sh [OUTDIR]      (default .device)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.device}
mkdir -p "$out"
dotnet publish src/Cli -c Release -o "$out/app" --nologo -v quiet
# samples/RealModel beside the CLI: it shares the CLI's assemblies, so it adds only its own (bench/interop/e2e.sh runs it
# with GRAPHENGINE_APP=app/graphengine-realmodel-sample.dll).
dotnet publish samples/RealModel -c Release -o "$out/app" --nologo -v quiet
# The BenchmarkDotNet host-cost suite (in-process toolchain: the GPU machine has no SDK). Published for
# linux-x64 only (27 MB instead of 73 MB of every platform's native assets), without TraceEvent's
# Windows-only natives, so the whole folder still travels in one device call (64 MiB).
dotnet publish bench/HostCosts -c Release -r linux-x64 --self-contained false -o "$out/bench" --nologo -v quiet
rm -rf "$out/bench/amd64" "$out/bench/x86" "$out/bench/arm64"
if [ ! -f "$out/dotnet.tar.xz" ]; then
  root=${DOTNET_ROOT:-/usr/share/dotnet}
  [ -x "$root/dotnet" ] || { echo "no .NET runtime at $root (set DOTNET_ROOT)" >&2; exit 1; }
  tar cJf "$out/dotnet.tar.xz" -C "$root" dotnet host shared/Microsoft.NETCore.App
fi
cp scripts/device-run.sh "$out/device-run.sh"
chmod +x "$out/device-run.sh"
echo "packed $(du -sh "$out" | cut -f1) into $out; on the GPU machine: bash $out/device-run.sh check"
