#!/usr/bin/env bash
# Renders the Grafana dashboards from the mixin (mixin.libsonnet, dashboards/*.libsonnet) into
# dashboards/*.json, or into OUTDIR when one is given (the sync test compares the two).
#
# usage: dashboards/generate.sh [--selector 'job="lb"'] [--cluster-label region] [OUTDIR]
#    or: [IPVS_SELECTOR=...] [IPVS_CLUSTER_LABEL=...] [IPVS_MIXIN_CONFIG='{...}'] dashboards/generate.sh [OUTDIR]
#
# The options and variables override the mixin's _config (alerts/config.libsonnet) as in
# alerts/generate.sh; render into an OUTDIR of your own then, the committed files are the
# defaults'.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../alerts/config-args.sh
. "$here/../alerts/config-args.sh"
config_options "$@"
set -- ${rest_args[@]+"${rest_args[@]}"}
config_args_from_env
[ $# -le 1 ] || { echo "usage: $0 [--selector SELECTOR] [--cluster-label LABEL] [OUTDIR]" >&2; exit 2; }
out=${1:-$here}
command -v jsonnet >/dev/null || { echo "generate.sh: jsonnet not found (Debian package jsonnet)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jsonnet -m "$tmp" "${config_args[@]}" "$here/files.jsonnet" >/dev/null
for f in "$tmp"/*.json; do
    mv "$f" "$out/$(basename "$f")"
done
