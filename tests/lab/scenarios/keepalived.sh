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

KEEPALIVED=/usr/sbin/keepalived
SETPRIV=/usr/bin/setpriv
lab_ipvs_reset

for ns in lb1 lb2; do
    $IP netns add $ns
    $IP -n $ns link set lo up
done
$IP link add k1 type veth peer name k2
$IP link set k1 netns lb1
$IP link set k2 netns lb2
$IP -n lb1 link set k1 name eth0
$IP -n lb2 link set k2 name eth0
$IP -n lb1 addr add 10.9.0.1/24 dev eth0
$IP -n lb2 addr add 10.9.0.2/24 dev eth0
$IP -n lb1 link set eth0 up
$IP -n lb2 link set eth0 up

# keepalived_conf NAME STATE PRIORITY
keepalived_conf() {
    mkdir -p /etc/keepalived "/run/$1"
    cat >"/etc/keepalived/$1.conf" <<EOF
global_defs {
    router_id $1
    enable_script_security
    script_user root
}

vrrp_instance VI_1 {
    state $2
    interface eth0
    virtual_router_id 51
    priority $3
    advert_int 1
    virtual_ipaddress {
        10.9.0.100/24
    }
}

virtual_server 10.9.0.100 80 {
    delay_loop 2
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.9.0.50 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOF
    cp "/etc/keepalived/$1.conf" "$OUT/$1.conf"
}

# keepalived_start NS: keepalived in the foreground of a background job,
# logging to the console (there is no syslog in the guest)
keepalived_start() {
    $IP netns exec "$1" $KEEPALIVED -n -l -D -f "/etc/keepalived/$1.conf" \
        -p "/run/$1/keepalived.pid" -r "/run/$1/vrrp.pid" -c "/run/$1/checkers.pid" \
        >>"$OUT/keepalived-$1.log" 2>&1 &
}

# wait_for WHAT SECONDS CMD...: poll CMD every 100 ms until it succeeds
wait_for() {
    what=$1 limit=$(($2 * 10))
    shift 2
    i=0
    until "$@"; do
        i=$((i + 1))
        if [ $i -ge $limit ]; then
            echo "keepalived: gave up waiting for $what"
            return 1
        fi
        usleep 100000
    done
}

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
    wait_for "the exporter in $ns" 120 $IP netns exec "$ns" timeout 5 wget -q -O /dev/null "$EXPORTER_URL"
    pid=$(cat "/tmp/exporter-$ns.pid")
    grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' "/proc/$pid/status" >"$OUT/identity-$ns.txt"
}

# scrape NS FILE
scrape() {
    $IP netns exec "$1" timeout 30 wget -q -O "$2" "$EXPORTER_URL"
}

has_vip() { $IP -n "$1" -4 addr show dev eth0 | grep -q 'inet 10.9.0.100/'; }
logged() { grep -q "$2" "$OUT/keepalived-$1.log"; }
shows() { scrape "$1" /tmp/scrape.txt && grep -q "ipvs_vrrp_state{.*state=\"$2\"} 1" /tmp/scrape.txt; }
uptime_cs() { awk '{ split($1, t, "."); print t[1] * 100 + t[2] }' /proc/uptime; }

keepalived_conf lb1 MASTER 150
keepalived_conf lb2 BACKUP 100

# lb1 first, so that it is master before lb2 starts; lb2 then stays backup
keepalived_start lb1
wait_for "lb1 to hold the VIP" 30 has_vip lb1
keepalived_start lb2
wait_for "lb2 to enter BACKUP" 30 logged lb2 "Entering BACKUP STATE"

exporter_start lb1
exporter_start lb2

mkdir -p "$OUT/before" "$OUT/after"
scrape lb1 "$OUT/before/lb1.txt"
scrape lb2 "$OUT/before/lb2.txt"
$IP -n lb1 addr show >"$OUT/before/addr-lb1.txt"
$IP -n lb2 addr show >"$OUT/before/addr-lb2.txt"
$IP netns exec lb1 $IPVSADM -Ln >"$OUT/before/ipvsadm-lb1.txt"

# the failover: stop lb1's keepalived, time how long until lb2's exporter says MASTER
ka1=$(cat /run/lb1/keepalived.pid)
t0=$(uptime_cs)
kill "$ka1"
wait_for "lb2's exporter to show MASTER" 20 shows lb2 MASTER
t1=$(uptime_cs)
echo $((t1 - t0)) >"$OUT/failover-centiseconds.txt"
wait_for "lb1's keepalived to exit" 20 sh -c "! kill -0 $ka1 2>/dev/null"
scrape lb1 "$OUT/after/lb1.txt"
scrape lb2 "$OUT/after/lb2.txt"
$IP -n lb1 addr show >"$OUT/after/addr-lb1.txt"
$IP -n lb2 addr show >"$OUT/after/addr-lb2.txt"

for ns in lb1 lb2; do kill "$(cat /tmp/exporter-$ns.pid)"; done
kill "$(cat /run/lb2/keepalived.pid)" 2>/dev/null || true
# the checks read one log per scenario for errors and panics
cat "$OUT"/exporter-lb*.log >"$OUT/exporter.log"
