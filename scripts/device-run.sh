#!/usr/bin/env bash
# Runs a graphengine command on a GPU machine that has no .NET: unpacks the packed runtime to /tmp/dn
# once, then starts the published CLI. Lives next to app/ and dotnet.tar.xz (see device-pack.sh).
#   bash .device/run.sh check --filter gemm
# GRAPHENGINE_APP names another packed program, relative to this folder (app/graphengine-realmodel-sample.dll).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dn=${GRAPHENGINE_DOTNET_DIR:-/tmp/dn}
if [ ! -x "$dn/dotnet" ]; then
  mkdir -p "$dn"
  tar xJf "$here/dotnet.tar.xz" -C "$dn"
fi
export DOTNET_ROOT="$dn" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
exec "$dn/dotnet" "$here/${GRAPHENGINE_APP:-app/graphengine.dll}" "$@"
