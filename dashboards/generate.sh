#!/usr/bin/env bash
# Renders the Grafana dashboards from their jsonnet sources into dashboards/*.json, or into
# OUTDIR when one is given (the sync test compares the two).
#
# usage: dashboards/generate.sh [--selector SELECTOR] [OUTDIR]
#
# --selector 'job="lb"' renders them with another selector of the exporter's series than
# alerts/config.libsonnet's ipvsSelector (job="ipvs_exporter"): the one the dashboards' job and
# cluster variables look up. The sources are then rendered from a scratch copy whose
# lib/config.libsonnet adds the selector to the real one; the sources themselves are not changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: $0 [--selector SELECTOR] [OUTDIR]" >&2; exit 2; }
selector=
while [ $# -gt 0 ]; do
    case $1 in
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
out=${1:-$here}
command -v jsonnet >/dev/null || { echo "generate.sh: jsonnet not found (Debian package jsonnet)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
sources=$here
if [ -n "$selector" ]; then
    sources=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-dashboards.XXXXXX")
    trap 'rm -rf "$sources"' EXIT
    cp -R "$here/lib" "$here/advisor-rules.json" "$here"/*.jsonnet "$sources/"
    # a jsonnet verbatim string (@'...'): a quote is written twice, nothing else is escaped
    real=$here/lib/config.libsonnet
    printf "(import @'%s') + { ipvsSelector: std.extVar('ipvsSelector') }\n" \
        "${real//\'/\'\'}" >"$sources/lib/config.libsonnet"
fi
for src in "$sources"/*.jsonnet; do
    name=$(basename "$src" .jsonnet)
    jsonnet -J "$sources" --ext-str "ipvsSelector=$selector" "$src" >"$out/$name.json.tmp"
    mv "$out/$name.json.tmp" "$out/$name.json"
done
