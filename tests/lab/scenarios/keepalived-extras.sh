#!/bin/sh
# keepalived-extras: the keepalived pair again, this time with keepalived's own
# optional sources turned on. Each keepalived writes transitions into a notify
# FIFO that its exporter reads (--keepalived.notify-fifo); lb2's exporter also
# signals keepalived at each scrape (--keepalived.signal) and reads the JSON
# dump it writes to /tmp/keepalived.json, and listens for VRRP adverts on eth0
# (--collector.vrrp.listen). Only lb2's keepalived is signalled:
# both share the guest's /tmp. The exporters run as root here (the dump is
# written with mode 0600 and signalling keepalived needs its uid).
#
# Checkpoints: before/ (lb1 MASTER, lb2 BACKUP) and after/ (lb1's keepalived
# stopped, lb2 MASTER), each with both exporters' scrapes.
. /lab/lib.sh

lab_ipvs_reset
lab_vrrp_pair

# extras_exporter_start NS ARGS...
extras_exporter_start() {
    ns=$1
    shift
    $IP netns exec "$ns" $EXPORTER --keepalived.config-file "/etc/keepalived/$ns.conf" \
        --keepalived.pid-file "/run/$ns/keepalived.pid" \
        --keepalived.notify-fifo "/run/$ns/notify.fifo" "$@" \
        >/dev/null 2>>"$OUT/exporter-$ns.log" &
    echo $! >"/tmp/exporter-$ns.pid"
    ka_wait "the exporter in $ns" 120 $IP netns exec "$ns" timeout 5 wget -q -O /dev/null "$EXPORTER_URL"
}

keepalived_conf lb1 MASTER 150 "notify_fifo /run/lb1/notify.fifo"
keepalived_conf lb2 BACKUP 100 "notify_fifo /run/lb2/notify.fifo"
rm -f /tmp/keepalived.json

# the exporters first: their readers wait for the FIFOs, which keepalived makes
extras_exporter_start lb1 --keepalived.json-file /run/lb1/no-dump.json
extras_exporter_start lb2 --keepalived.signal --collector.vrrp.listen

keepalived_start lb1
ka_wait "lb1 to hold the VIP" 30 ka_has_vip lb1
keepalived_start lb2
ka_wait "lb2 to enter BACKUP" 30 ka_logged lb2 "Entering BACKUP STATE"
# a few adverts from lb1 reach lb2
sleep 3
ka_fifo_saw() { ka_scrape "$1" /tmp/scrape.txt && grep -q "ipvs_vrrp_transitions_total{vrrp_instance=\"VI_1\",state=\"$2\"} 1" /tmp/scrape.txt; }
ka_wait "lb1's FIFO to tell MASTER" 20 ka_fifo_saw lb1 MASTER
ka_wait "lb2's FIFO to tell BACKUP" 20 ka_fifo_saw lb2 BACKUP

mkdir -p "$OUT/before" "$OUT/after"
ka_scrape lb1 "$OUT/before/lb1.txt"
ka_scrape lb2 "$OUT/before/lb2.txt"
cp /tmp/keepalived.json "$OUT/before/keepalived.json" || true

ka1=$(cat /run/lb1/keepalived.pid)
date +%s >"$OUT/stopped-at.txt"
kill "$ka1"
ka_wait "lb2's FIFO to tell MASTER" 20 ka_fifo_saw lb2 MASTER
ka_wait "lb1's keepalived to exit" 20 sh -c "! kill -0 $ka1 2>/dev/null"
ka_scrape lb1 "$OUT/after/lb1.txt"
ka_scrape lb2 "$OUT/after/lb2.txt"
cp /tmp/keepalived.json "$OUT/after/keepalived.json" || true

for ns in lb1 lb2; do kill "$(cat /tmp/exporter-$ns.pid)"; done
kill "$(cat /run/lb2/keepalived.pid)" 2>/dev/null || true
rm -f /tmp/keepalived.json
cat "$OUT"/exporter-lb*.log >"$OUT/exporter.log"
