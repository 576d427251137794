#!/bin/sh
# datadump: one director, lb1, runs Debian's keepalived with a VRRP instance
# (VI_1, VIP 10.9.0.100 on eth0, a tracked dummy interface trk0 and a tracked
# script that always fails with weight -20) and a NAT virtual_server whose
# TCP_CHECKs probe three namespaced real servers: rs1 serves, rs2 and rs3 do
# not (rs3 with inhibit_on_failure, so it stays in the table with weight 0).
# An exporter in lb1 reads keepalived's notify FIFO and sends keepalived
# SIGUSR1 at each scrape (--keepalived.data-signal); each checkpoint keeps its
# scrape, the data dumps it read (/tmp/keepalived*.data), the kernel's table
# just before and after, and the exporter's /report as JSON. trk0 is then
# toggled down and up twice so that VI_1 flaps between FAULT and MASTER.
#
# Checkpoints: master/ (settled: VI_1 MASTER at priority 130), fault/ (trk0
# down) and flapped/ (trk0 back up after the second toggle); doctor.json is a
# one-shot doctor at the master checkpoint.
#
#   lbpeer 10.9.0.2/24 eth0 -- veth -- eth0 10.9.0.1/24 lb1
#   lb1 dN 10.2.N.1/24      -- veth -- eth0 10.2.N.2/24 rsN  (N = 1..3)
. /lab/lib.sh

lab_ipvs_reset
for ns in lb1 lbpeer rs1 rs2 rs3; do
    $IP netns add $ns
    $IP -n $ns link set lo up
done
$IP link add k1 type veth peer name k2
$IP link set k1 netns lb1
$IP link set k2 netns lbpeer
$IP -n lb1 link set k1 name eth0
$IP -n lbpeer link set k2 name eth0
$IP -n lb1 addr add 10.9.0.1/24 dev eth0
$IP -n lbpeer addr add 10.9.0.2/24 dev eth0
$IP -n lb1 link set eth0 up
$IP -n lbpeer link set eth0 up
$IP -n lb1 link add trk0 type dummy
$IP -n lb1 link set trk0 up
for n in 1 2 3; do
    $IP link add "d$n" type veth peer name "e$n"
    $IP link set "d$n" netns lb1
    $IP link set "e$n" netns "rs$n"
    $IP -n "rs$n" link set "e$n" name eth0
    $IP -n lb1 addr add "10.2.$n.1/24" dev "d$n"
    $IP -n "rs$n" addr add "10.2.$n.2/24" dev eth0
    $IP -n lb1 link set "d$n" up
    $IP -n "rs$n" link set eth0 up
    $IP -n "rs$n" route add default via "10.2.$n.1"
done
$IP netns exec lb1 sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
# only rs1 serves: rs2's and rs3's service is stopped
mkdir -p /srv/rs1
echo rs1 >/srv/rs1/index.html
$IP netns exec rs1 httpd -p 80 -h /srv/rs1

mkdir -p /etc/keepalived /run/lb1
cat >/etc/keepalived/lb1.conf <<CONF
global_defs {
    router_id lb1
    enable_script_security
    script_user root
    notify_fifo /run/lb1/notify.fifo
}

vrrp_script chk_fail {
    script "/bin/false"
    interval 1
    weight -20
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 52
    priority 150
    advert_int 1
    track_interface {
        trk0
    }
    track_script {
        chk_fail
    }
    virtual_ipaddress {
        10.9.0.100/24
    }
}

virtual_server 10.9.0.100 80 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.2.1.2 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.2.2.2 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.2.3.2 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
CONF
cp /etc/keepalived/lb1.conf "$OUT/lb1.conf"
$KEEPALIVED --version >"$OUT/keepalived-version.txt" 2>&1 || true
rm -f /tmp/keepalived*.data /tmp/keepalived.json

KA_FLAGS="--keepalived.config-file /etc/keepalived/lb1.conf --keepalived.pid-file /run/lb1/keepalived.pid"
# the exporter first: its FIFO reader waits for the FIFO, which keepalived makes
$IP netns exec lb1 $EXPORTER $KA_FLAGS --keepalived.notify-fifo /run/lb1/notify.fifo \
    --keepalived.data-signal >/dev/null 2>>"$OUT/exporter.log" &
echo $! >/tmp/exporter-lb1.pid
ka_wait "the exporter in lb1" 120 $IP netns exec lb1 timeout 5 wget -q -O /dev/null "$EXPORTER_URL"

keepalived_start lb1
ka_wait "lb1 to hold the VIP" 30 ka_has_vip lb1
# the checkers: rs1 in with weight 3, rs2 out, rs3 in with weight 0 (inhibit_on_failure)
kx_rs() { $IP netns exec lb1 $IPVSADM -Ln --exact; }
ka_checked() { t=$(kx_rs) && echo "$t" | grep -q '10.2.1.2:80 .* 3 ' && ! echo "$t" | grep -q 10.2.2.2 && echo "$t" | grep -q '10.2.3.2:80 .* 0 '; }
ka_wait "the checkers to settle" 60 ka_checked
# the failing tracked script lowers the priority
ka_wait "the tracked script to fail" 30 ka_logged lb1 "chk_fail.*fail"
sleep 2

# checkpoint NAME: the kernel's table, a scrape (which signals keepalived and
# reads its data dump), the dumps it read, the table again, the report
checkpoint() {
    d="$OUT/$1"
    mkdir -p "$d"
    $IP netns exec lb1 $IPVSADM -Ln --exact >"$d/ipvsadm.txt"
    ka_scrape lb1 "$d/metrics.txt"
    for f in /tmp/keepalived*.data; do
        [ -e "$f" ] && cp "$f" "$d/"
    done
    $IP netns exec lb1 $IPVSADM -Ln --exact >"$d/ipvsadm-after.txt"
    $IP netns exec lb1 timeout 30 wget -q -O "$d/report.json" "http://127.0.0.1:9748/report?format=json"
    grep -c "Entering .* STATE" "$OUT/keepalived-lb1.log" >"$d/entered-states.txt" || true
    grep -c "Entering MASTER STATE" "$OUT/keepalived-lb1.log" >"$d/entered-master.txt" || true
}
# ka_logged_n NS PATTERN N: PATTERN logged at least N times
ka_logged_n() { [ "$(grep -c "$2" "$OUT/keepalived-lb1.log")" -ge "$3" ]; }

checkpoint master
set +e
$IP netns exec lb1 $EXPORTER doctor --format json $KA_FLAGS --keepalived.data-signal \
    >"$OUT/doctor.json" 2>"$OUT/doctor.err"
echo $? >"$OUT/doctor.code"
set -e

# flap: trk0 down (FAULT) and up (MASTER again), twice
$IP -n lb1 link set trk0 down
ka_wait "VI_1 to enter FAULT" 20 ka_logged_n lb1 "Entering FAULT STATE" 1
checkpoint fault
$IP -n lb1 link set trk0 up
ka_wait "VI_1 to be MASTER again" 20 ka_logged_n lb1 "Entering MASTER STATE" 2
$IP -n lb1 link set trk0 down
ka_wait "VI_1 to enter FAULT again" 20 ka_logged_n lb1 "Entering FAULT STATE" 2
$IP -n lb1 link set trk0 up
ka_wait "VI_1 to be MASTER a third time" 20 ka_logged_n lb1 "Entering MASTER STATE" 3
sleep 1
checkpoint flapped

kill "$(cat /tmp/exporter-lb1.pid)"
kill "$(cat /run/lb1/keepalived.pid)" 2>/dev/null || true
sleep 1
rm -f /tmp/keepalived*.data /tmp/keepalived.json
