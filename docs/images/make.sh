#!/usr/bin/env bash
# Makes the README's pictures from one lab run:
#
#   docs/images/dashboards.png  a few dashboard panels, their real queries run against the
#                               Prometheus that scraped the lab (docs/images/dashboards.py)
#   docs/images/report.png      the exporter's /report page as the lab scenario saved it
#                               (docs/images/report-screenshot.sh)
#
# usage: docs/images/make.sh
#
# It runs the lab Prometheus test (cargo test --features test-lab --test lab_prometheus: root,
# qemu, prometheus, jsonnet; about six minutes), which keeps its run in
# $CARGO_TARGET_DIR/tmp/lab-prometheus-<pid>/. IPVS_LAB_PROM_RESULTS=DIR uses such a run
# instead of making a new one. Then it starts Prometheus on the run's data, draws the panels
# over the run's time range (its `ready` to `end` marks), and screenshots the saved page.
# matplotlib is installed at a pinned version into a virtual environment under target/ the
# first time (PyPI).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
images=$repo/docs/images
MATPLOTLIB=matplotlib==3.10.3

die() { echo "make.sh: $*" >&2; exit 1; }
for tool in prometheus python3 curl; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian packages prometheus, python3, python3-venv, curl)"
done

# 1. the lab run
if [ -n "${IPVS_LAB_PROM_RESULTS:-}" ]; then
    run=$(cd "$IPVS_LAB_PROM_RESULTS" && pwd)
    echo "make.sh: using the lab run in $run" >&2
else
    tmp=${CARGO_TARGET_DIR:-$repo/target}/tmp
    (cd "$repo" && cargo test --features test-lab --test lab_prometheus) \
        || die "the lab Prometheus test failed; no pictures made"
    # the test's run directory: the newest of its kind
    run=$(ls -dt "$tmp"/lab-prometheus-[0-9]* 2>/dev/null | head -n 1)
    [ -n "$run" ] || die "no lab-prometheus-* directory in $tmp after the test"
fi
[ -f "$run/marks.json" ] && [ -d "$run/data" ] || die "$run has no marks.json or data/: not a lab Prometheus run"

# 2. matplotlib
venv=$repo/target/docs-images-venv
if [ "$(cat "$venv/pinned.txt" 2>/dev/null)" != "$MATPLOTLIB" ]; then
    python3 -m venv --clear "$venv" || die "python3 -m venv failed (Debian: python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$MATPLOTLIB" \
        || die "pip install $MATPLOTLIB failed (is PyPI reachable?)"
    echo "$MATPLOTLIB" >"$venv/pinned.txt"
fi

# 3. Prometheus on the run's data: no scrapes, no rules, nothing added but its own bookkeeping
work=$(mktemp -d)
prom_pid=
cleanup() {
    if [ -n "$prom_pid" ]; then kill "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
printf 'global:\n  scrape_interval: 1m\n' >"$work/prometheus.yml"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$run/data" \
    --storage.tsdb.retention.time=3650d --web.listen-address="127.0.0.1:$port" --log.level=warn \
    >"$work/prometheus.log" 2>&1 &
prom_pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 1 300); do
    curl -fs "$url/-/ready" >/dev/null 2>&1 && break
    kill -0 "$prom_pid" 2>/dev/null || { cat "$work/prometheus.log" >&2; die "prometheus exited"; }
    sleep 0.2
done
curl -fs "$url/-/ready" >/dev/null || die "prometheus not ready within 60 s"

# 4. the dashboards over the run
read -r start end < <(python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(m["ready"], m["end"])' "$run/marks.json")
"$venv/bin/python" "$images/dashboards.py" --prometheus "$url" --start "$start" --end "$end" \
    --out "$images/dashboards.png"
echo "make.sh: wrote $images/dashboards.png ($(stat -c %s "$images/dashboards.png") bytes)" >&2

# 5. the /report page the scenario saved
html=${REPORT_HTML:-$run/lab/prometheus/report-misconfig.html}
[ -x "$images/report-screenshot.sh" ] || [ -f "$images/report-screenshot.sh" ] \
    || die "docs/images/report-screenshot.sh is missing: docs/images/report.png not made"
[ -f "$html" ] || die "$html is missing (the lab scenario saves the /report page there): docs/images/report.png not made"
bash "$images/report-screenshot.sh" "$html" "$images/report.png"
echo "make.sh: wrote $images/report.png" >&2
