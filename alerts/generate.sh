#!/usr/bin/env bash
# Renders the Prometheus rule files from the jsonnet sources in alerts/:
#
#   alerts/generate.sh              rewrite alerts/ipvs_exporter.{alerts,rules}.yaml
#   alerts/generate.sh OUTDIR       write them into OUTDIR instead (the sync test compares)
#   alerts/generate.sh --lab OUTDIR the lab's variant: the same rules with short for: and
#                                   windows (alerts/lab.libsonnet), for a Prometheus that
#                                   scrapes every second
#
# The rules come from the mixin (mixin.libsonnet). These options and variables override its
# _config (alerts/config.libsonnet); render into an OUTDIR of your own then, the committed
# files are the defaults':
#   --selector 'job="lb"'   or IPVS_SELECTOR       the exporter's series (ipvsSelector)
#   --cluster-label region  or IPVS_CLUSTER_LABEL  the label that names a fleet (clusterLabel)
#   IPVS_MIXIN_CONFIG='{ ... }'                    any other fields, as a jsonnet object
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=config-args.sh
. "$here/config-args.sh"
config_options "$@"
set -- ${rest_args[@]+"${rest_args[@]}"}
config_args_from_env
lab=false
if [ "${1:-}" = "--lab" ]; then
    lab=true
    shift
    [ $# -eq 1 ] || { echo "usage: $0 --lab OUTDIR" >&2; exit 2; }
fi
out=${1:-$here}
command -v jsonnet >/dev/null || { echo "generate.sh: jsonnet not found (Debian package jsonnet)" >&2; exit 1; }
mkdir -p "$out"
jsonnet -S -m "$out" "${config_args[@]}" --tla-code "lab=$lab" "$here/files.jsonnet" >/dev/null
