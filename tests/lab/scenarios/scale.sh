#!/bin/sh
# scale: a benchmark, not a check. NAT directors of TCP services with 10 real
# servers each, at several sizes (default 200, 2,000 and 20,000 services: 2,000,
# 20,000 and 200,000 real servers); on each table, in the same VM, it times
# full scrapes of the exporter against two baselines:
#   text     the exporter, classic text format (no Accept header)
#   om       the exporter, with the Accept header Prometheus sends (OpenMetrics)
#   node     Debian's prometheus-node-exporter, ipvs collector only
#   ipvsadm  ipvsadm -Ln --stats --exact (a full dump with counters)
# then the two scrapes as Prometheus really asks for them, compressed:
#   om_gzip, node_gzip   the same with "Accept-Encoding: gzip" added
# and, to show the fixed costs inside those numbers:
#   none          nothing: what the two time stamps themselves add
#   null_http     a request for the exporter's /healthz (wget start-up + HTTP)
#   null_ipvsadm  ipvsadm --version (ipvsadm start-up, no table read)
# Round 0 is the warm-up; rounds 1..ROUNDS are the measurement. Every round
# runs each command once, in the same order, so that drift hits all alike.
# After the rounds, 8 clients scrape the exporter at once (classic text): the
# exporter's peak RSS under concurrent scrapes, and how long the 8 took.
#
# Sizes and rounds: SCALE_SIZES (services, default "200 2000 20000") and
# SCALE_ROUNDS (rounds for each size, default "5 5 1"), from /lab/env
# (IPVS_LAB_SCALE_SIZES and IPVS_LAB_SCALE_ROUNDS on the host). One round at
# 20,000 services takes minutes under emulation, node_exporter most of them.
# Each size gets a fresh table and freshly started daemons, so that no state
# of the previous size is carried over.
#
# Run it with tests/lab/bench-scale.sh, which also summarises the results.
# It writes, per size, in $OUT/sSERVICES/: times.tsv (one line per command and
# round), info.txt (key=value facts), *-families.txt (series per metric name),
# *-head.txt (the start of each output), ipvsadm-head.txt and the daemons' logs.
#
# Peak RSS: the daemons' VmHWM is reset before each command and read after it
# (times.tsv), and read once more at the end (info.txt); the report takes the
# largest.
#
# Timer: the "now at N nsecs" line of /proc/timer_list, the kernel's
# CLOCK_MONOTONIC in nanoseconds, read with shell builtins only (no process
# is started to take a stamp). Busybox's date has no %N and /proc/uptime,
# the time applet and /proc/PID/stat all count in 10 ms steps. What a pair of
# stamps adds is measured every round ("none"), and the clock's rate is checked
# against the emulated CMOS clock, which follows the host's clock: the
# monotonic nanoseconds between two RTC second edges around the rounds.
#
# The lines below are read by run.sh:
# lab-needs: node-exporter
# lab-memory: 3072
# lab-timeout: 3600
. /lab/lib.sh

SCALE_SIZES="200 2000 20000"
SCALE_ROUNDS="5 5 1"
SCALE_PROFILE=0
if [ -f /lab/env ]; then . /lab/env; fi
REALS=10
CONCURRENT=8
BASE=$OUT
NODE_EXPORTER=/usr/bin/prometheus-node-exporter
NODE_URL=http://127.0.0.1:9100/metrics
HEALTH_URL=http://127.0.0.1:9748/healthz
PROM_ACCEPT='Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5'
GZIP='Accept-Encoding: gzip'
info() { echo "$1=$2" >>"$INFO"; }

node_pid=
stop_node() {
    if [ -n "$node_pid" ]; then
        kill "$node_pid" 2>/dev/null || true
        node_pid=
    fi
}
trap 'stop_node; stop_exporter' EXIT

# ------------------------------------------------------------ measuring tools

# now_ns: set NOW to CLOCK_MONOTONIC in ns ("now at N nsecs" in /proc/timer_list).
now_ns() {
    NOW=
    while read -r _w1 _w2 _w3 _w4; do
        if [ "$_w1 $_w2" = "now at" ]; then
            NOW=$_w3
            break
        fi
    done </proc/timer_list
    [ -n "$NOW" ]
}

# proc_ticks PID: set UT and ST to the user and system CPU time of PID (all its
# threads), and CUT and CST to that of its waited-for children, in clock ticks.
proc_ticks() {
    read -r _p _c _s _4 _5 _6 _7 _8 _9 _10 _11 _12 _13 UT ST CUT CST _rest <"/proc/$1/stat"
}

# vm_field PID FIELD: print FIELD (VmHWM, VmRSS...) of /proc/PID/status in kB.
vm_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

run_om() { wget -q -O /dev/null --header "$PROM_ACCEPT" "$EXPORTER_URL"; }
run_text() { wget -q -O /dev/null "$EXPORTER_URL"; }
run_node() { wget -q -O /dev/null "$NODE_URL"; }
run_om_gzip() { wget -q -O /dev/null --header "$PROM_ACCEPT" --header "$GZIP" "$EXPORTER_URL"; }
run_node_gzip() { wget -q -O /dev/null --header "$GZIP" "$NODE_URL"; }
run_ipvsadm() { $IPVSADM -Ln --stats --exact >/dev/null; }
run_none() { :; }
run_null_http() { wget -q -O /dev/null "$HEALTH_URL"; }
run_null_ipvsadm() { $IPVSADM --version >/dev/null; }

# measure WHAT ROUND: run run_WHAT once and append a line to times.tsv: its
# wall time (ns); the user and system CPU ticks of the client (the shell's
# children: wget or ipvsadm); those of the server (exporter or node_exporter,
# 0 for ipvsadm); and the server's peak RSS in kB during the command (its
# VmHWM, reset just before through /proc/PID/clear_refs; 0 without a server).
measure() {
    case $1 in
        om | text | om_gzip | null_http) server=$exporter_pid ;;
        node | node_gzip) server=$node_pid ;;
        *) server= ;;
    esac
    sut=0 sst=0
    if [ -n "$server" ]; then
        echo 5 >"/proc/$server/clear_refs"
        proc_ticks "$server"
        sut=$UT sst=$ST
    fi
    proc_ticks $$
    cut0=$CUT cst0=$CST
    now_ns
    t0=$NOW
    "run_$1"
    now_ns
    t1=$NOW
    proc_ticks $$
    cu=$((CUT - cut0)) cs=$((CST - cst0))
    su=0 ss=0 hwm=0
    if [ -n "$server" ]; then
        proc_ticks "$server"
        su=$((UT - sut)) ss=$((ST - sst))
        hwm=$(vm_field "$server" VmHWM)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" $((t1 - t0)) $cu $cs $su $ss "$hwm" >>"$OUT/times.tsv"
}

# rtc_edge: wait for the RTC's next second; set RTC to it and NOW to the
# monotonic clock at that moment.
rtc_edge() {
    read -r _r0 </sys/class/rtc/rtc0/since_epoch
    RTC=$_r0
    while [ "$RTC" = "$_r0" ]; do
        read -r RTC </sys/class/rtc/rtc0/since_epoch
    done
    now_ns
}

# wait_http URL PID NAME: poll URL until it answers; fail when PID exits or
# after 300 s.
wait_http() {
    n=0
    until timeout 60 wget -q -O /dev/null "$1" 2>/dev/null; do
        if ! kill -0 "$2" 2>/dev/null; then
            echo "scale: $3 exited before it answered on $1"
            return 1
        fi
        n=$((n + 1))
        [ $n -lt 3000 ] || {
            echo "scale: $3 did not answer on $1 within 300 s"
            return 1
        }
        usleep 100000
    done
}

# count_series FILE PREFIX: facts about one output: bytes, series (lines that
# are neither comments nor empty), and series per metric name.
count_series() {
    info "$2_bytes" "$(wc -c <"$1")"
    awk '!/^#/ && NF { n++; name = $1; sub(/[{ ].*/, "", name); c[name]++ }
        END { for (k in c) print c[k], k; print n + 0, "TOTAL" }' "$1" |
        sort -k2 >"$OUT/$2-families.txt"
    info "$2_series" "$(awk '$2 == "TOTAL" { print $1 }' "$OUT/$2-families.txt")"
    head -n 300 "$1" >"$OUT/$2-head.txt"
}

# ------------------------------------------------------------ the system

INFO=$BASE/system.txt
: >"$INFO"

info uname "$(uname -r)"
info clocksource "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
info cpus "$(nproc)"
info busybox_date_N "$(date +%s.%N)"
info rtc "$(cat /sys/class/rtc/rtc0/name)"
info mem_total_kb "$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)"

# the timer: cost of one stamp (untraced, as in the rounds), and its rate
# against sleep 1
set +x
i=0
now_ns
a=$NOW
while [ $i -lt 100 ]; do
    now_ns
    i=$((i + 1))
done
set -x
info timer_stamp_100_ns $((NOW - a))
read -r up0 _ </proc/uptime
now_ns
a=$NOW
sleep 1
now_ns
read -r up1 _ </proc/uptime
info timer_sleep1_ns $((NOW - a))
info uptime_sleep1 "$up0 $up1"

# ------------------------------------------------------------ one size

stop_exporter() {
    if [ -n "$exporter_pid" ]; then
        kill "$exporter_pid" 2>/dev/null || true
        wait "$exporter_pid" 2>/dev/null || true
        exporter_pid=
    fi
}
exporter_pid=

# profile: where the CPU goes during three classic-text scrapes, sampled by
# perf over the whole guest (cpu-clock, the only clock an emulated CPU has),
# kernel and user alike: profile.txt by process, binary and function,
# profile-dso.txt by process and binary (IPVS_LAB_SCALE_PROFILE=1 on the host).
profile() {
    echo 0 >/proc/sys/kernel/kptr_restrict
    echo -1 >/proc/sys/kernel/perf_event_paranoid
    /usr/bin/perf record -a -e cpu-clock -F 999 -o /tmp/perf.data -- sh -c \
        "for i in 1 2 3; do wget -q -O /dev/null '$EXPORTER_URL'; done" 2>"$OUT/perf-record.log"
    /usr/bin/perf report -i /tmp/perf.data --stdio --no-children --sort comm,dso,sym \
        --percent-limit 0.3 >"$OUT/profile.txt" 2>>"$OUT/perf-record.log"
    /usr/bin/perf report -i /tmp/perf.data --stdio --no-children --sort comm,dso \
        >"$OUT/profile-dso.txt" 2>>"$OUT/perf-record.log"
    rm -f /tmp/perf.data
}

# concurrent N: N classic-text scrapes of the exporter at once; the exporter's
# peak RSS while they ran and the time until the last one finished.
concurrent() {
    echo 5 >"/proc/$exporter_pid/clear_refs"
    now_ns
    t0=$NOW
    pids=
    i=0
    while [ $i -lt "$1" ]; do
        wget -q -O /dev/null "$EXPORTER_URL" &
        pids="$pids $!"
        i=$((i + 1))
    done
    failed=0
    for p in $pids; do wait "$p" || failed=$((failed + 1)); done
    now_ns
    info concurrent_scrapers "$1"
    info concurrent_failed "$failed"
    info concurrent_ns $((NOW - t0))
    info concurrent_vmhwm_kb "$(vm_field $exporter_pid VmHWM)"
}

# measure_size SERVICES ROUNDS: load a table of SERVICES services of REALS
# real servers, start the daemons, run the rounds, write $BASE/sSERVICES/.
measure_size() {
SERVICES=$1
ROUNDS=$2
OUT=$BASE/s$SERVICES
mkdir -p "$OUT"
INFO=$OUT/info.txt
: >"$INFO"
info services "$SERVICES"
info reals_per_service "$REALS"
info rounds "$ROUNDS"
cat "$BASE/system.txt" >>"$INFO"
echo "scale: $SERVICES services x $REALS real servers, $ROUNDS rounds"

# ------------------------------------------------------------ the table

lab_ipvs_reset
# real server k is 10.(200 + k / 62500).(k / 250 % 250).(k % 250 + 1): up to
# 250,000 distinct addresses; below 62,500 the same as 10.200.(k / 250).(...)
awk -v n=$SERVICES -v r=$REALS 'BEGIN {
    for (i = 0; i < n; i++) {
        v = int(i / 2)
        port = (i % 2) ? 443 : 80
        vip = sprintf("10.100.%d.%d:%d", int(v / 250), v % 250 + 1, port)
        printf "-A -t %s -s wlc\n", vip
        for (j = 0; j < r; j++) {
            k = i * r + j
            printf "-a -t %s -r 10.%d.%d.%d:%d -m -w %d\n", vip, 200 + int(k / 62500),
                int(k / 250) % 250, k % 250 + 1, port + 8000, 1 + k % 5
        }
    }
}' >/tmp/rules
info rules_lines "$(wc -l </tmp/rules)"
now_ns
a=$NOW
$IPVSADM -R </tmp/rules
now_ns
info table_load_ns $((NOW - a))
rm -f /tmp/rules

$IPVSADM -Ln --stats --exact >/tmp/ipvsadm.txt
info ipvsadm_bytes "$(wc -c </tmp/ipvsadm.txt)"
info ipvsadm_services "$(grep -c '^TCP ' /tmp/ipvsadm.txt)"
info ipvsadm_backends "$(grep -c '^  -> [0-9]' /tmp/ipvsadm.txt)"
head -n 40 /tmp/ipvsadm.txt >"$OUT/ipvsadm-head.txt"
[ "$(grep -c '^TCP ' /tmp/ipvsadm.txt)" = $SERVICES ]
[ "$(grep -c '^  -> [0-9]' /tmp/ipvsadm.txt)" = $((SERVICES * REALS)) ]
rm -f /tmp/ipvsadm.txt

# ------------------------------------------------------------ the daemons

# the collector and request timeouts are raised so that a slow gather, and 8
# scrapes at once sharing the one emulated CPU (at 20,000 x 10, about 15 s each
# alone), are measured in full instead of being cut off and reported as failed
$EXPORTER --web.listen-address :9748 --scrape.collector-timeout 300s \
    --web.request-timeout 600s \
    >>"$OUT/exporter.stdout" 2>>"$OUT/exporter.log" &
exporter_pid=$!
echo $exporter_pid >/tmp/exporter.pid
$NODE_EXPORTER --collector.disable-defaults --collector.ipvs \
    --web.listen-address=127.0.0.1:9100 >"$OUT/node_exporter.log" 2>&1 &
node_pid=$!
wait_http "$HEALTH_URL" $exporter_pid exporter
wait_http http://127.0.0.1:9100/ $node_pid node_exporter
info exporter_version "$($EXPORTER --version)"
info node_exporter_version "$($NODE_EXPORTER --version 2>&1 | head -n1)"
info ipvsadm_version "$($IPVSADM --version)"

# ------------------------------------------------------------ the rounds

printf 'what\tround\tns\tclient_user\tclient_sys\tserver_user\tserver_sys\tserver_hwm_kb\n' >"$OUT/times.tsv"
info exporter_idle_vmhwm_kb "$(vm_field $exporter_pid VmHWM)"
info node_idle_vmhwm_kb "$(vm_field $node_pid VmHWM)"
info clk_tck 100
rtc_edge
rtc0=$RTC ns0=$NOW
set +x
r=0
while [ "$r" -le "$ROUNDS" ]; do
    for what in om text node ipvsadm om_gzip node_gzip none null_http null_ipvsadm; do
        measure $what $r
    done
    echo "scale: round $r done"
    r=$((r + 1))
done
set -x
rtc_edge
info rtc_check "$((RTC - rtc0)) $((NOW - ns0))"

if [ "$SCALE_PROFILE" = 1 ]; then profile; fi
concurrent $CONCURRENT

# ------------------------------------------------------------ what was served

# one more scrape of each, kept this time, for sizes and series counts (the
# daemons' VmHWM read after these covers them and the rounds' last request)
wget -S -q -O /tmp/out.txt --header "$PROM_ACCEPT" "$EXPORTER_URL" 2>"$OUT/om.headers"
count_series /tmp/out.txt om
info om_collector "$(grep '^ipvs_scrape_collector_' /tmp/out.txt | tr '\n' ' ')"
info om_source "$(grep '^ipvs_info' /tmp/out.txt)"
rm -f /tmp/out.txt
wget -S -q -O /tmp/out.txt "$EXPORTER_URL" 2>"$OUT/text.headers"
count_series /tmp/out.txt text
rm -f /tmp/out.txt
wget -S -q -O /tmp/out.txt "$NODE_URL" 2>"$OUT/node.headers"
count_series /tmp/out.txt node
info node_ipvs_series "$(grep -c '^node_ipvs_' /tmp/out.txt)"
info node_collector "$(grep '^node_scrape_collector_' /tmp/out.txt | tr '\n' ' ')"
rm -f /tmp/out.txt
wget -S -q -O /tmp/out.gz --header "$PROM_ACCEPT" --header "$GZIP" "$EXPORTER_URL" 2>"$OUT/om_gzip.headers"
info om_gzip_bytes "$(wc -c </tmp/out.gz)"
wget -S -q -O /tmp/out.gz --header "$GZIP" "$NODE_URL" 2>"$OUT/node_gzip.headers"
info node_gzip_bytes "$(wc -c </tmp/out.gz)"
rm -f /tmp/out.gz

info exporter_vmhwm_kb "$(vm_field $exporter_pid VmHWM)"
info exporter_vmrss_kb "$(vm_field $exporter_pid VmRSS)"
info exporter_threads "$(vm_field $exporter_pid Threads)"
info node_vmhwm_kb "$(vm_field $node_pid VmHWM)"
info node_vmrss_kb "$(vm_field $node_pid VmRSS)"
info mem_available_kb "$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)"
cp /proc/net/ip_vs_stats "$OUT/proc-ip_vs_stats.txt"

stop_node
stop_exporter
}

# ------------------------------------------------------------ the sizes

set -- $SCALE_ROUNDS
for size in $SCALE_SIZES; do
    rounds=${1:-1}
    [ $# -gt 0 ] && shift
    measure_size "$size" "$rounds"
done
echo "scale: done"
