#!/bin/sh
# fleet at scale: a synthetic fleet written as OpenMetrics text, backfilled into a fresh
# Prometheus TSDB with promtool, served by Prometheus, and one `ipvs_exporter fleet` run against
# it under /usr/bin/time -v. A benchmark, not a test: it prints figures, it asserts nothing but
# that every step ran.
#
#   benches/fleet-scale.sh [HOSTS [SERVICES [REALS]]]      (default 500 200 10)
#   environment: HOSTS_PER_BACKFILL (below), FLEET_TIMEOUT (fleet's --timeout, default 30s),
#   BIN, PORT, KEEP
#
# The fleet: HOSTS directors in VRRP pairs (MASTER priority 150, BACKUP 100, one VRID and one
# virtual address per pair), five clusters, SERVICES virtual services per pair on its address,
# REALS real servers each, a sync daemon on each director, the families fleet's queries read
# as the exporter exports them, with the job/instance/cluster labels a scrape adds. The series
# of virtual services and real servers have two samples (60 s apart, the second at the time
# fleet asks for); up, VRRP and build info one sample a minute over the 15 minutes before it.
# Made to disagree: pair 0 both MASTER, pair 1's BACKUP lacks service 0, pair 2's BACKUP has a
# real server at weight 0 (configured 2), pair 3's BACKUP holds few of service 0's connections, host 8's
# exporter is down, host 10 runs another version, hosts 0-19 have an advisor finding.
#
# The text is written and backfilled HOSTS_PER_BACKFILL hosts at a time (default all of them,
# an even number): promtool holds every series of a block in memory, so a large fleet is
# backfilled in parts, each into blocks of its own, which Prometheus reads together (their
# time ranges overlap; Prometheus 2.39 and later accept that).
#
# Needs Debian's prometheus (prometheus, promtool), python3, /usr/bin/time (package time) and
# the binary (BIN, default target/release/ipvs_exporter: cargo build --release). Work files go
# in a temporary directory, removed at the end (KEEP=1 keeps it).
set -eu

HOSTS=${1:-500}
SERVICES=${2:-200}
REALS=${3:-10}
BIN=${BIN:-target/release/ipvs_exporter}
PORT=${PORT:-19790}
# fleet's --timeout for each query; at millions of series Prometheus takes longer than the
# default 30 s to answer the queries that read every real server
FLEET_TIMEOUT=${FLEET_TIMEOUT:-30s}

for tool in prometheus promtool python3 /usr/bin/time "$BIN"; do
    command -v "$tool" >/dev/null || { echo "fleet-scale: $tool not found" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/fleet-scale.XXXXXX)
PROM_PID=
cleanup() {
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The time fleet asks for: a whole minute, an hour ago (inside the backfilled range, outside
# the head block Prometheus opens at start).
END=$(( ($(date +%s) - 3600) / 60 * 60 ))

echo "fleet-scale: $HOSTS hosts, $SERVICES services, $REALS real servers each; time $END"
GEN="$WORK/generate.py"
cat >"$GEN" <<'EOF'
import sys

hosts, services, reals, end, first, last = (int(a) for a in sys.argv[1:7])
out = sys.stdout
write = out.write


def host_labels(h):
    return 'cluster="dc%d",instance="lb%03d.example:9748",job="ipvs_exporter"' % (h // 2 % 5, h)


def vip(pair):
    return "10.%d.%d.1" % (pair // 250, pair % 250)


def family(name, kind, series, times):
    """series: (labels, value or function of the sample index)."""
    write("# TYPE %s %s\n" % (name, kind))
    sample = "%s_total" % name if kind == "counter" else name
    for labels, value in series:
        for i, t in enumerate(times):
            v = value(i) if callable(value) else value
            write("%s{%s} %s %d\n" % (sample, labels, v, t))


minutes = [end - 60 * k for k in range(15, -1, -1)]
pair_times = [end - 60, end]
down = 8
all_hosts = range(first, min(last, hosts))

family("up", "gauge",
       [(host_labels(h), (lambda i, h=h: 0 if h == down and i == len(minutes) - 1 else 1))
        for h in all_hosts], minutes)
family("ipvs_up", "gauge", [(host_labels(h), 1) for h in all_hosts], minutes)
family("ipvs_exporter_build_info", "gauge",
       [(host_labels(h) + ',version="%s",revision="%s"'
         % (("0.1.0", "1111111") if h == 10 else ("0.2.0", "2222222")), 1) for h in all_hosts],
       minutes)


def role(h):
    if h // 2 == 0:
        return "MASTER"
    return "MASTER" if h % 2 == 0 else "BACKUP"


state_series = []
vip_series = []
prio_series = []
for h in all_hosts:
    pair = h // 2
    inst = 'vrrp_instance="VI_%d",interface="eth0",vrid="%d"' % (pair, pair % 255 + 1)
    for state in ("MASTER", "BACKUP", "FAULT"):
        state_series.append((host_labels(h) + "," + inst + ',state="%s"' % state,
                             1 if role(h) == state else 0))
    vip_series.append((host_labels(h) + ',vrrp_instance="VI_%d",interface="eth0",address="%s"'
                       % (pair, vip(pair)), 1 if role(h) == "MASTER" else 0))
    prio_series.append((host_labels(h) + ',vrrp_instance="VI_%d"' % pair,
                        150 if h % 2 == 0 else 100))
family("ipvs_vrrp_state", "gauge", state_series, minutes)
family("ipvs_vrrp_vip_present", "gauge", vip_series, minutes)
family("ipvs_vrrp_priority", "gauge", prio_series, minutes)
family("ipvs_sync_daemon_info", "gauge",
       [(host_labels(h) + ',state="%s",interface="eth0",syncid="%d"'
         % ("master" if role(h) == "MASTER" else "backup", h // 2 % 256), 1) for h in all_hosts],
       minutes)
family("ipvs_advisor_finding", "gauge",
       [(host_labels(h) + ',rule="conntrack-table-small",severity="warning",'
         'subject="net.netfilter.nf_conntrack_max"', 1) for h in all_hosts if h < 20],
       minutes)


def service(h, s):
    return 'proto="TCP",local_address="%s",local_port="%d",local_mark=""' % (vip(h // 2), 1000 + s)


def has_service(h, s):
    return not (h == 3 and s == 0)


def real(s, r):
    return 'remote_address="172.16.%d.%d",remote_port="80"' % (s % 256, r + 1)


def services_of(h):
    return (s for s in range(services) if has_service(h, s))


def per_service(build):
    for h in all_hosts:
        for s in services_of(h):
            yield host_labels(h) + "," + service(h, s), build(h, s)


def per_real(build):
    for h in all_hosts:
        for s in services_of(h):
            base = host_labels(h) + "," + service(h, s)
            for r in range(reals):
                yield base + "," + real(s, r), build(h, s, r)


write("# TYPE ipvs_service_info gauge\n")
for labels, _ in per_service(lambda h, s: 1):
    for t in pair_times:
        write('ipvs_service_info{%s,scheduler="wlc",family="inet",flags="",persistent="false"} 1 %d\n'
              % (labels, t))
family("ipvs_backend_info", "gauge",
       ((labels.replace(',remote_port="80"', ',remote_port="80",forward="route"'), 1)
        for labels, _ in per_real(lambda h, s, r: 1)), pair_times)
family("ipvs_backend_weight", "gauge",
       per_real(lambda h, s, r: 0 if (h == 5 and s == 0 and r == 0) else 1), pair_times)
family("ipvs_keepalived_real_server_configured_weight", "gauge",
       ((labels.replace(',remote_address', ',virtual_server_group="",remote_address'), weight)
        for labels, weight in per_real(lambda h, s, r: 2 if (h == 5 and s == 0 and r == 0) else 1)),
       pair_times)


def active(h, s, r):
    if role(h) == "MASTER":
        return 50
    return 1 if (h == 7 and s == 0) else 0


def inactive(h, s, r):
    if role(h) == "MASTER":
        return 20
    return 0 if (h == 7 and s == 0) else 60


family("ipvs_backend_connections_active", "gauge", per_real(active), pair_times)
family("ipvs_backend_connections_inactive", "gauge", per_real(inactive), pair_times)
write("# EOF\n")
EOF
CHUNK=${HOSTS_PER_BACKFILL:-$HOSTS}
[ $((CHUNK % 2)) = 0 ] || { echo "fleet-scale: HOSTS_PER_BACKFILL must be even (pairs stay together)" >&2; exit 1; }
mkdir -p "$WORK/data"
GEN_SECONDS=0
BACKFILL_SECONDS=0
BACKFILL_PEAK=0
LINES=0
BYTES=0
FIRST=0
while [ "$FIRST" -lt "$HOSTS" ]; do
    T=$(date +%s)
    python3 "$GEN" "$HOSTS" "$SERVICES" "$REALS" "$END" "$FIRST" $((FIRST + CHUNK)) >"$WORK/fleet.om"
    GEN_SECONDS=$((GEN_SECONDS + $(date +%s) - T))
    LINES=$((LINES + $(wc -l <"$WORK/fleet.om")))
    BYTES=$((BYTES + $(stat -c %s "$WORK/fleet.om")))
    T=$(date +%s)
    /usr/bin/time -v -o "$WORK/promtool.time" \
        promtool tsdb create-blocks-from openmetrics "$WORK/fleet.om" "$WORK/part" >"$WORK/promtool.log" 2>&1 \
        || { cat "$WORK/promtool.log" "$WORK/promtool.time" >&2; exit 1; }
    BACKFILL_SECONDS=$((BACKFILL_SECONDS + $(date +%s) - T))
    RSS=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/promtool.time")
    [ "$RSS" -le "$BACKFILL_PEAK" ] || BACKFILL_PEAK=$RSS
    mv "$WORK/part"/* "$WORK/data/"
    rm -rf "$WORK/part" "$WORK/fleet.om"
    echo "fleet-scale: hosts $FIRST to $((FIRST + CHUNK - 1)) backfilled, promtool peak RSS $RSS kB"
    FIRST=$((FIRST + CHUNK))
done
echo "fleet-scale: OpenMetrics text $((BYTES / 1048576)) MiB, $LINES lines, ${GEN_SECONDS}s to write"
echo "fleet-scale: backfilled with promtool in ${BACKFILL_SECONDS}s, peak RSS $BACKFILL_PEAK kB"

printf 'global:\n  scrape_interval: 1m\nscrape_configs: []\n' >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$PORT" \
    >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/-/ready")" = 200 ] && break
    sleep 1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/-/ready")" = 200 ] \
    || { tail "$WORK/prometheus.log" >&2; echo "fleet-scale: prometheus not ready" >&2; exit 1; }

SERIES=$(curl -s "$URL/api/v1/query" --data-urlencode 'query=count({job="ipvs_exporter"})' \
    --data-urlencode "time=$END" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
PROM_RSS_BEFORE=$(sed -n 's/^VmRSS:\s*//p' "/proc/$PROM_PID/status")

set +e
/usr/bin/time -v -o "$WORK/fleet.time" "$BIN" fleet --prometheus "$URL" --time "$END" --timeout "$FLEET_TIMEOUT" \
    --format json --log.level debug >"$WORK/fleet.json" 2>"$WORK/fleet.log"
CODE=$?
set -e
[ "$CODE" -le 2 ] || { tail -c 2000 "$WORK/fleet.log" >&2; echo "fleet-scale: fleet exited $CODE" >&2; exit 1; }

PROM_HWM=$(sed -n 's/^VmHWM:\s*//p' "/proc/$PROM_PID/status")
SENT=$(grep -c 'querying' "$WORK/fleet.log" || true)
python3 - "$WORK/fleet.json" <<'EOF'
import json, sys
from collections import Counter

report = json.load(open(sys.argv[1]))
print("fleet-scale: report: %d hosts (%d up), queries %d, %d findings: %s" % (
    report["summary"]["hosts"], report["summary"]["up"], report["queries"],
    len(report["findings"]),
    ", ".join("%s %d" % kv for kv in sorted(Counter(f["rule"] for f in report["findings"]).items()))))
EOF
# Each query as fleet logged it, sent again with curl (gzip, as fleet asks): the answer's
# series and size (JSON/gzip), and how long Prometheus takes to answer it; fleet's time per query (to the next query's log line:
# Prometheus' answer and fleet's decoding of it) from the log's timestamps.
python3 - "$WORK/fleet.log" "$URL" "$END" <<'EOF2'
import datetime, json, re, subprocess, sys

log, url, end = sys.argv[1:4]
line_re = re.compile(r'^ts=(\S+) level=debug msg=querying query=(\S+) promql="(.*)"$')
queries = []
for line in open(log):
    m = line_re.match(line.rstrip("\n"))
    if m:
        at = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        queries.append((at, m.group(2), m.group(3).replace('\\"', '"')))
print("fleet-scale: %-22s %9s %19s %11s %15s" % ("query", "series", "bytes/gzip", "prometheus", "fleet (to next)"))
for i, (at, name, promql) in enumerate(queries):
    out = subprocess.run(
        ["curl", "-s", "--compressed", "-o", "/dev/stderr", "-w", "%{size_download} %{time_total}",
         url + "/api/v1/query", "--data-urlencode", "query=" + promql,
         "--data-urlencode", "time=" + end],
        capture_output=True, check=True)
    gzipped, seconds = out.stdout.decode().split()
    series = len(json.loads(out.stderr)["data"]["result"])
    size = "%d/%s" % (len(out.stderr), gzipped)
    to_next = "%.2fs" % (queries[i + 1][0] - at) if i + 1 < len(queries) else "-"
    print("fleet-scale: %-22s %9d %19s %10.2fs %15s" % (name, series, size, float(seconds), to_next))
EOF2
echo "fleet-scale: hosts $HOSTS"
echo "fleet-scale: series in the TSDB at the time asked for: $SERIES"
echo "fleet-scale: queries sent (debug log lines): $SENT"
echo "fleet-scale: fleet exit code $CODE, wall $(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$WORK/fleet.time"), peak RSS $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/fleet.time") kB"
echo "fleet-scale: prometheus RSS after loading $PROM_RSS_BEFORE, peak $PROM_HWM"
