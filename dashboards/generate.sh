#!/usr/bin/env bash
# Renders the Grafana dashboards from the mixin (mixin.libsonnet, dashboards/*.libsonnet) into
# dashboards/*.json, or into OUTDIR when one is given (the sync test compares the two).
#
# usage: [IPVS_SELECTOR='job="lb"'] [IPVS_CLUSTER_LABEL=region] [IPVS_MIXIN_CONFIG='{...}'] \
#        dashboards/generate.sh [OUTDIR]
#
# The variables override the mixin's _config (alerts/config.libsonnet) as alerts/generate.sh
# does; render into an OUTDIR of your own then, the committed files are the defaults'.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
command -v jsonnet >/dev/null || { echo "generate.sh: jsonnet not found (Debian package jsonnet)" >&2; exit 1; }
# shellcheck source=../alerts/config-args.sh
. "$here/../alerts/config-args.sh"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jsonnet -m "$tmp" "${config_args[@]}" "$here/files.jsonnet" >/dev/null
for f in "$tmp"/*.json; do
    mv "$f" "$out/$(basename "$f")"
done
