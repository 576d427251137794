#!/bin/sh
# keepalived: two directors, lb1 and lb2, each in a network namespace of its
# own and joined by a veth pair, run Debian's keepalived with one VRRP instance
# (VI_1, VRID 51, VIP 10.9.0.100) and one virtual_server. An exporter in each
# namespace, run as uid 65534 with CAP_NET_ADMIN alone, reads keepalived's
# configuration and pid file and the kernel's links and addresses; it never
# talks to keepalived. lb1 (priority 150) must show MASTER and lb2 (100)
# BACKUP; then lb1's keepalived is stopped, lb2 must show MASTER within a few
# seconds and lb1 STOP.
#
#   lb1 eth0 10.9.0.1/24 ---------- veth ---------- 10.9.0.2/24 eth0 lb2
. /lab/lib.sh

lab_ipvs_reset
lab_vrrp_pair

# exporter_start NS: the exporter in NS as uid 65534 with CAP_NET_ADMIN only
# (as root without setpriv, which the identity check then catches)
exporter_start() {
    set -- "$1" --keepalived.config-file "/etc/keepalived/$1.conf" \
        --keepalived.pid-file "/run/$1/keepalived.pid"
    ns=$1
    shift
    if [ -x $SETPRIV ]; then
        $IP netns exec "$ns" $SETPRIV --reuid 65534 --regid 65534 --clear-groups \
            --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin \
            $EXPORTER "$@" >/dev/null 2>>"$OUT/exporter-$ns.log" &
    else
        $IP netns exec "$ns" $EXPORTER "$@" >/dev/null 2>>"$OUT/exporter-$ns.log" &
    fi
    echo $! >"/tmp/exporter-$ns.pid"
    ka_wait "the exporter in $ns" 120 $IP netns exec "$ns" timeout 5 wget -q -O /dev/null "$EXPORTER_URL"
    pid=$(cat "/tmp/exporter-$ns.pid")
    grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' "/proc/$pid/status" >"$OUT/identity-$ns.txt"
}

keepalived_conf lb1 MASTER 150
keepalived_conf lb2 BACKUP 100

# lb1 first, so that it is master before lb2 starts; lb2 then stays backup
keepalived_start lb1
ka_wait "lb1 to hold the VIP" 30 ka_has_vip lb1
keepalived_start lb2
ka_wait "lb2 to enter BACKUP" 30 ka_logged lb2 "Entering BACKUP STATE"

exporter_start lb1
exporter_start lb2

mkdir -p "$OUT/before" "$OUT/after"
ka_scrape lb1 "$OUT/before/lb1.txt"
ka_scrape lb2 "$OUT/before/lb2.txt"
$IP -n lb1 addr show >"$OUT/before/addr-lb1.txt"
$IP -n lb2 addr show >"$OUT/before/addr-lb2.txt"
$IP netns exec lb1 $IPVSADM -Ln >"$OUT/before/ipvsadm-lb1.txt"

# the failover: stop lb1's keepalived, time how long until lb2's exporter says MASTER
ka1=$(cat /run/lb1/keepalived.pid)
t0=$(ka_uptime_cs)
kill "$ka1"
ka_wait "lb2's exporter to show MASTER" 20 ka_shows lb2 MASTER
t1=$(ka_uptime_cs)
echo $((t1 - t0)) >"$OUT/failover-centiseconds.txt"
ka_wait "lb1's keepalived to exit" 20 sh -c "! kill -0 $ka1 2>/dev/null"
ka_scrape lb1 "$OUT/after/lb1.txt"
ka_scrape lb2 "$OUT/after/lb2.txt"
$IP -n lb1 addr show >"$OUT/after/addr-lb1.txt"
$IP -n lb2 addr show >"$OUT/after/addr-lb2.txt"

for ns in lb1 lb2; do kill "$(cat /tmp/exporter-$ns.pid)"; done
kill "$(cat /run/lb2/keepalived.pid)" 2>/dev/null || true
# the checks read one log per scenario for errors and panics
cat "$OUT"/exporter-lb*.log >"$OUT/exporter.log"
