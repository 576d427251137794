#!/usr/bin/env bash
# Renders the Grafana dashboards from their jsonnet sources into dashboards/*.json, or into
# OUTDIR when one is given (the sync test compares the two).
#
# usage: dashboards/generate.sh [OUTDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
command -v jsonnet >/dev/null || { echo "generate.sh: jsonnet not found (Debian package jsonnet)" >&2; exit 1; }
mkdir -p "$out"
for src in "$here"/*.jsonnet; do
    name=$(basename "$src" .jsonnet)
    jsonnet -J "$here" "$src" >"$out/$name.json.tmp"
    mv "$out/$name.json.tmp" "$out/$name.json"
done
