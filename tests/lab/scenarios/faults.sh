#!/bin/sh
# faults: what the exporter survives without a restart. Each fault is made while the exporter
# serves, scraped, undone and scraped again; the exporter's pid and start time are kept at each
# checkpoint so that the checks can tell it is the same process throughout.
#
#   keepalived   lb1's keepalived killed with SIGKILL (all its processes, a crash), then started
#                again; lb1's exporter must say STOP and ipvs_keepalived_up 0, then MASTER
#   proc         /proc/net/softnet_stat made unreadable to the exporter (mode 0400; the exporter
#                runs as uid 65534 with CAP_NET_ADMIN and CAP_SYS_ADMIN only), then readable
#   ipvs         services deleted, ip_vs and its schedulers removed (rmmod), then loaded again
#                and a service added
#   netns        the namespace given to --collector.ipvs.netns deleted, then created again with a
#                service in it
#   conntrack    ip_vs removed again, then nf_conntrack_netlink and nf_conntrack; then
#                nf_conntrack loaded again
#
# Checkpoints: <name>/metrics.txt, <name>/report.json (/report?format=json), <name>/exporter.txt
# (pid and start time), and the kernel's view where one applies (lab_checkpoint).
. /lab/lib.sh

lab_ipvs_reset
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd
echo 'nogroup:x:65534:' >>/etc/group

URL=http://127.0.0.1:9748

# fault_capture NAME [NS]: the exporter's scrape, its report and its identity in $OUT/NAME/,
# from namespace NS ("" for the root one); pid file /tmp/exporter-<NS or root>.pid
fault_capture() {
    d="$OUT/$1"
    ns=${2:-}
    mkdir -p "$d"
    pid=$(cat "/tmp/exporter-${ns:-root}.pid")
    lab_in "$ns" timeout 30 wget -q -O "$d/metrics.txt" "$URL/metrics"
    lab_in "$ns" timeout 30 wget -q -O "$d/report.json" "$URL/report?format=json"
    # field 22 of /proc/PID/stat: the start time in clock ticks since boot
    echo "$pid $(cut -d' ' -f22 "/proc/$pid/stat")" >"$d/exporter.txt"
}

# ------------------------------------------------------------------ keepalived killed
lab_vrrp_pair
keepalived_conf lb1 MASTER 150
keepalived_conf lb2 BACKUP 100
keepalived_start lb1
ka_wait "lb1 to hold the VIP" 30 ka_has_vip lb1
keepalived_start lb2
ka_wait "lb2 to enter BACKUP" 30 ka_logged lb2 "Entering BACKUP STATE"
$IP netns exec lb1 $EXPORTER --keepalived.config-file /etc/keepalived/lb1.conf \
    --keepalived.pid-file /run/lb1/keepalived.pid --collector.netdev.device-include '^eth0$' \
    >/dev/null 2>>"$OUT/exporter-lb1.log" &
echo $! >/tmp/exporter-lb1.pid
ka_wait "the exporter in lb1" 120 $IP netns exec lb1 timeout 5 wget -q -O /dev/null "$URL/metrics"
ka_wait "lb1's exporter to show MASTER" 20 ka_shows lb1 MASTER
fault_capture keepalived-before lb1

# a crash: the parent and both children at once, nothing cleaned up (the VIP stays on lb1)
ka_pids="$(cat /run/lb1/keepalived.pid) $(cat /run/lb1/vrrp.pid) $(cat /run/lb1/checkers.pid)"
echo "$ka_pids" >"$OUT/keepalived-killed-pids.txt"
kill -9 $ka_pids
ka_gone() { for p in $ka_pids; do ! kill -0 "$p" 2>/dev/null || return 1; done; }
ka_wait "lb1's keepalived to be gone" 20 ka_gone
ka_wait "lb2 to take over" 30 ka_logged lb2 "Entering MASTER STATE"
ka_wait "lb1's exporter to show STOP" 20 ka_shows lb1 STOP
fault_capture keepalived-killed lb1
$IP -n lb1 addr show dev eth0 >"$OUT/keepalived-killed/addr-lb1.txt"

# Started again, keepalived first removes the VIP the crash left and enters BACKUP; it preempts
# lb2 after three adverts. Until it has removed the stale VIP the exporter, which infers the state
# from the addresses, shows MASTER: wait for keepalived's own word first.
masters_before=$(grep -c "Entering MASTER STATE" "$OUT/keepalived-lb1.log")
keepalived_start lb1
ka_master_again() { [ "$(grep -c "Entering MASTER STATE" "$OUT/keepalived-lb1.log")" -gt "$masters_before" ]; }
ka_wait "lb1's keepalived to enter MASTER again" 60 ka_master_again
ka_wait "lb1's exporter to show MASTER again" 20 ka_shows lb1 MASTER
fault_capture keepalived-restarted lb1

kill "$(cat /tmp/exporter-lb1.pid)"
for ns in lb1 lb2; do
    kill "$(cat /run/$ns/keepalived.pid)" 2>/dev/null || true
done
ka_wait "keepalived to exit" 30 sh -c "! pidof keepalived >/dev/null"
for ns in lb1 lb2; do
    $IP netns exec $ns $IPVSADM -C
    $IP netns del $ns
done

# ------------------------------------------------------------------ the root namespace's exporter
$IPVSADM -A -t 10.30.0.1:80 -s rr
$IPVSADM -a -t 10.30.0.1:80 -r 10.31.0.1:80 -m -w 1
$IP netns add lbA
$IP -n lbA link set lo up
$IP netns exec lbA $IPVSADM -A -t 192.0.2.1:443 -s wrr
$IP netns exec lbA $IPVSADM -a -t 192.0.2.1:443 -r 198.51.100.1:443 -g -w 2

# uid 65534: root-only files are unreadable to it; CAP_NET_ADMIN for netlink, CAP_SYS_ADMIN to
# join lbA
caps=-all,+net_admin,+sys_admin
$SETPRIV --reuid 65534 --regid 65534 --clear-groups --inh-caps=$caps --ambient-caps=$caps \
    --bounding-set=$caps $EXPORTER --collector.ipvs.netns lbA \
    --collector.netdev.device-include '^$' >/dev/null 2>>"$OUT/exporter-root.log" &
echo $! >/tmp/exporter-root.pid
ka_wait "the exporter in the root namespace" 120 timeout 5 wget -q -O /dev/null "$URL/metrics"
grep -E '^(Uid|CapEff):' "/proc/$(cat /tmp/exporter-root.pid)/status" >"$OUT/identity-root.txt"
fault_capture start

# ------------------------------------------------------------------ a /proc file unreadable
stat -c %a /proc/net/softnet_stat >"$OUT/softnet-mode.txt"
chmod 0400 /proc/net/softnet_stat
stat -c '%a %U' /proc/net/softnet_stat >"$OUT/softnet-mode-unreadable.txt"
fault_capture proc-unreadable
chmod "$(cat "$OUT/softnet-mode.txt")" /proc/net/softnet_stat
fault_capture proc-restored

# ------------------------------------------------------------------ ip_vs removed and loaded again
ipvs_unload() {
    $IPVSADM -C
    if [ -e /run/netns/lbA ]; then $IP netns exec lbA $IPVSADM -C; fi
    # the schedulers first: each holds ip_vs
    for m in $(cut -d' ' -f1 /proc/modules | grep '^ip_vs_'); do rmmod "$m"; done
    rmmod ip_vs
    ! lab_ipvs_loaded
}
ipvs_unload
fault_capture ipvs-removed
# a second scrape: scraping must not have loaded ip_vs again
fault_capture ipvs-removed-second
if lab_ipvs_loaded; then echo present; else echo absent; fi >"$OUT/ipvs-removed-second/proc-ip_vs.txt"
cut -d' ' -f1 /proc/modules | sort >"$OUT/ipvs-removed-second/modules.txt"

$MODPROBE ip_vs
$MODPROBE ip_vs_rr
$IPVSADM -A -t 10.30.0.2:80 -s rr
$IPVSADM -a -t 10.30.0.2:80 -r 10.31.0.2:80 -m -w 3
LAB_NS=
lab_checkpoint ipvs-back "" "$URL/metrics"
fault_capture ipvs-back

# ------------------------------------------------------------------ the namespace deleted and made again
$IP netns del lbA
fault_capture netns-deleted
$IP netns add lbA
$IP -n lbA link set lo up
$IP netns exec lbA $IPVSADM -A -t 192.0.2.3:443 -s rr
$IP netns exec lbA $IPVSADM -a -t 192.0.2.3:443 -r 198.51.100.3:443 -g -w 4
lab_checkpoint netns-back lbA "$URL/metrics"
fault_capture netns-back

# ------------------------------------------------------------------ nf_conntrack removed and loaded again
ipvs_unload
for m in nf_conntrack_netlink nf_conntrack; do
    if grep -q "^$m " /proc/modules; then rmmod "$m"; fi
done
[ ! -e /proc/sys/net/netfilter/nf_conntrack_max ]
fault_capture conntrack-removed
fault_capture conntrack-removed-second
if [ -e /proc/sys/net/netfilter/nf_conntrack_max ]; then echo present; else echo absent; fi \
    >"$OUT/conntrack-removed-second/nf_conntrack_max.txt"
$MODPROBE nf_conntrack
cat /proc/sys/net/netfilter/nf_conntrack_max >"$OUT/nf_conntrack_max.txt"
fault_capture conntrack-back

kill "$(cat /tmp/exporter-root.pid)"
# the checks read one log per scenario for errors and panics
cat "$OUT"/exporter-*.log >"$OUT/exporter.log"
