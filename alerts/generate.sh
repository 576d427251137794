#!/usr/bin/env bash
# Renders the Prometheus rule files from the jsonnet sources in alerts/:
#
#   alerts/generate.sh              rewrite alerts/ipvs_exporter.{alerts,rules}.yaml
#   alerts/generate.sh OUTDIR       write them into OUTDIR instead (the sync test compares)
#   alerts/generate.sh --lab OUTDIR the lab's variant: the same rules with short for: and
#                                   windows (alerts/lab.libsonnet), for a Prometheus that
#                                   scrapes every second
#   alerts/generate.sh --selector 'job="lb"' [--lab] OUTDIR
#                                   the same with another selector of the exporter's series
#                                   than alerts/config.libsonnet's ipvsSelector (job="ipvs_exporter")
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: $0 [--selector SELECTOR] [--lab] [OUTDIR]   (--lab needs OUTDIR)" >&2; exit 2; }
lab=false
selector=
while [ $# -gt 0 ]; do
    case $1 in
        --lab) lab=true; shift ;;
        --selector)
            [ $# -ge 2 ] && [ -n "$2" ] || usage
            selector=$2; shift 2 ;;
        --selector=*)
            selector=${1#--selector=}
            [ -n "$selector" ] || usage
            shift ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -le 1 ] || usage
if $lab && [ $# -ne 1 ]; then usage; fi
out=${1:-$here}
command -v jsonnet >/dev/null || { echo "generate.sh: jsonnet not found (Debian package jsonnet)" >&2; exit 1; }
mkdir -p "$out"
jsonnet -S -m "$out" -J "$here" --tla-code "lab=$lab" --tla-str "selector=$selector" \
    "$here/files.jsonnet" >/dev/null
