# Shell functions shared by the lab init and the guest scenarios (busybox ash).
#
# Busybox's shell runs its own applets before anything on PATH, so the real
# tools are always called by their full paths. Busybox 1.35's wget crashes
# (SIGSEGV) when given -T, so time limits come from the timeout applet.
IP=/usr/sbin/ip
IPVSADM=/usr/sbin/ipvsadm
MODPROBE=/sbin/modprobe
EXPORTER=/bin/ipvs_exporter
EXPORTER_URL=http://127.0.0.1:9748/metrics

. /lab/checkpoint.sh

# ------------------------------------------------------------ result transport

# lab_emit_file FILE NAME: send FILE as block NAME and list it in the manifest.
lab_emit_file() {
    sum=$(md5sum <"$1" | cut -d' ' -f1)
    echo "@@LAB-BEGIN $2"
    base64 <"$1"
    echo "@@LAB-END $2"
    [ "$2" = MANIFEST ] || echo "$sum  $2" >>/tmp/manifest
}

# lab_emit_dir NAME: send every file under /out/NAME.
lab_emit_dir() {
    for f in $(cd /out && find "$1" -type f | sort); do
        lab_emit_file "/out/$f" "$f"
    done
}

# ------------------------------------------------------------ system set-up

LAB_IPVS_MODULES="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_dh ip_vs_sed
 ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_lblc ip_vs_lblcr ip_vs_mh"

# lab_ipvs_loaded: true when the ip_vs module is in the kernel.
lab_ipvs_loaded() { [ -e /proc/net/ip_vs ]; }

# lab_ipvs_reset: load IPVS and its schedulers, start from an empty table with
# zeroed counters (host totals included).
lab_ipvs_reset() {
    $MODPROBE -a $LAB_IPVS_MODULES
    $MODPROBE -a veth dummy ipip ip6_tunnel sctp
    $IPVSADM -C
    $IPVSADM -Z
}

# lab_nic_up: the guest's virtio NIC on qemu's user network as eth0, up, with qemu's usual
# address 10.0.2.15/24 (virtio_pci is the transport: without it virtio_net finds no device)
lab_nic_up() {
    $MODPROBE -a virtio_pci virtio_net
    i=0
    until [ -e /sys/class/net/eth0 ] || [ $i -ge 50 ]; do
        usleep 100000
        i=$((i + 1))
    done
    $IP link set eth0 up
    $IP addr replace 10.0.2.15/24 dev eth0
}

# lab_veth NS HOST_IF NS_IF: a veth pair with one end in namespace NS (created
# if needed), both ends up.
lab_veth() {
    [ -e "/run/netns/$1" ] || {
        $IP netns add "$1"
        $IP -n "$1" link set lo up
    }
    $IP link add "$2" type veth peer name "$3"
    $IP link set "$3" netns "$1"
    $IP link set "$2" up
    $IP -n "$1" link set "$3" up
}

# lab_in NS CMD...: run CMD in namespace NS ("" for the root namespace).
lab_in() {
    ns=$1
    shift
    if [ -n "$ns" ]; then $IP netns exec "$ns" "$@"; else "$@"; fi
}

# ------------------------------------------------------------ the exporter

LAB_NS=

# lab_exporter_start [NS]: start the exporter with its defaults in namespace NS
# (default: the root namespace) and wait until it answers on its port.
lab_exporter_start() {
    LAB_NS=${1:-}
    if [ ! -x $EXPORTER ]; then
        echo "lab: no exporter in this run; captures only"
        return 0
    fi
    # started directly (not through a function) so that $! is the exporter
    if [ -n "$LAB_NS" ]; then
        $IP netns exec "$LAB_NS" $EXPORTER >>"$OUT/exporter.stdout" 2>>"$OUT/exporter.log" &
    else
        $EXPORTER >>"$OUT/exporter.stdout" 2>>"$OUT/exporter.log" &
    fi
    echo $! >/tmp/exporter.pid
    lab_exporter_wait
}

# lab_exporter_wait: poll the metrics endpoint until it answers (the exporter
# gives no other readiness signal); give up after 120 s or when it exits.
lab_exporter_wait() {
    pid=$(cat /tmp/exporter.pid)
    deadline=$(($(date +%s) + 120))
    while ! lab_in "$LAB_NS" timeout 5 wget -q -O /dev/null "$EXPORTER_URL" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "lab: exporter exited before it served $EXPORTER_URL; its log:"
            cat "$OUT/exporter.log"
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "lab: exporter did not answer on $EXPORTER_URL within 120 s"
            return 1
        fi
        usleep 100000
    done
    echo "lab: exporter answers (pid $pid)"
}

lab_exporter_stop() {
    [ -f /tmp/exporter.pid ] || return 0
    pid=$(cat /tmp/exporter.pid)
    rm -f /tmp/exporter.pid
    kill "$pid" 2>/dev/null || return 0
    n=0
    while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do
        usleep 100000
        n=$((n + 1))
    done
    kill -9 "$pid" 2>/dev/null || true
}

# lab_scrape FILE: fetch /metrics into FILE (response headers to FILE.headers).
lab_scrape() {
    if [ ! -x $EXPORTER ]; then return 0; fi
    # the command itself, not a function, takes the redirection: a function's
    # stderr would also carry the shell's trace
    if [ -n "$LAB_NS" ]; then
        $IP netns exec "$LAB_NS" timeout 30 wget -S -q -O "$1" "$EXPORTER_URL" 2>"$1.headers"
    else
        timeout 30 wget -S -q -O "$1" "$EXPORTER_URL" 2>"$1.headers"
    fi
}

# ------------------------------------------------------------ checkpoints


# kx CMD...: run CMD in the namespace whose kernel view a checkpoint records.
kx() { lab_in "$LAB_KERNEL_NS" "$@"; }

# lab_quiet: IPVS folds its per-CPU counters into the totals that ipvsadm,
# netlink and /proc report only every 2 s, from a timer. There is no event to
# wait for, so wait for one full period plus margin after the traffic stopped.
lab_quiet() { sleep 3; }

# lab_checkpoint NAME: capture the kernel's view and the exporter's at one
# quiet moment into $OUT/NAME/. The kernel's view is read before and after the
# scrape so that the checks can tell a moving table from a wrong exporter; the
# capture is taken again while the two differ (checkpoint.sh).
lab_checkpoint() {
    d="$OUT/$1"
    mkdir -p "$d"
    # optional: read the kernel in namespace $2 ("" for the root one) and scrape
    # the exporter at URL $3, instead of the exporter's namespace and address
    LAB_KERNEL_NS=$LAB_NS
    saved_url=$EXPORTER_URL
    if [ $# -ge 2 ]; then LAB_KERNEL_NS=$2; fi
    if [ $# -ge 3 ]; then EXPORTER_URL=$3; fi
    checkpoint_until_quiet "$d" lab_capture_once "$d"
    EXPORTER_URL=$saved_url
}

# lab_capture_once DIR: one capture of lab_checkpoint
lab_capture_once() {
    d=$1
    kx $IPVSADM -Ln --exact >"$d/ipvsadm.txt"
    kx $IPVSADM -Ln --stats --exact >"$d/ipvsadm-stats.txt"
    kx $IPVSADM -Ln --rate --exact >"$d/ipvsadm-rate.txt"
    kx $IPVSADM -Sn >"$d/ipvsadm-save.txt"
    kx $IPVSADM -Ln --timeout >"$d/ipvsadm-timeout.txt"
    kx cat /proc/net/ip_vs >"$d/proc-ip_vs.txt"
    kx cat /proc/net/ip_vs_stats >"$d/proc-ip_vs_stats.txt"
    kx cat /proc/net/ip_vs_stats_percpu >"$d/proc-ip_vs_stats_percpu.txt"
    kx cat /proc/net/ip_vs_conn >"$d/proc-ip_vs_conn.txt"
    lab_scrape "$d/metrics.txt"
    kx $IPVSADM -Ln --exact >"$d/ipvsadm-after.txt"
    kx $IPVSADM -Ln --stats --exact >"$d/ipvsadm-stats-after.txt"
    kx cat /proc/net/ip_vs_stats >"$d/proc-ip_vs_stats-after.txt"
}

# ------------------------------------------------------------ between scenarios

# lab_cleanup: stop everything a scenario started, remove its namespaces' /run/NS, and
# empty the IPVS table.
lab_cleanup() {
    lab_exporter_stop
    for ns in $(ls /run/netns 2>/dev/null); do
        for pid in $($IP netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        $IP netns del "$ns"
        # a process killed here leaves its files (a keepalived's FIFO, pid files) behind
        rm -rf "/run/$ns"
    done
    for l in $(ls /sys/class/net); do
        [ "$l" = lo ] || $IP link del "$l" 2>/dev/null
    done
    if lab_ipvs_loaded; then $IPVSADM -C; fi
    true
}

# ------------------------------------------------------------ a director and its real servers

# lab_director NET COUNT: namespace lb (forwarding on) joined by a veth cN/rN to each of the
# real-server namespaces rs1..rsCOUNT, 10.NET.N.1/24 on lb's side and 10.NET.N.2/24 on the
# real server's (its default route), each with a page /www/rsN/index.html
lab_director() {
    $IP netns add lb
    $IP -n lb link set lo up
    $IP netns exec lb sysctl -qw net.ipv4.ip_forward=1
    n=1
    while [ "$n" -le "$2" ]; do
        $IP netns add "rs$n"
        $IP -n "rs$n" link set lo up
        $IP link add "c$n" type veth peer name "r$n"
        $IP link set "c$n" netns lb
        $IP link set "r$n" netns "rs$n"
        $IP -n lb addr add "10.$1.$n.1/24" dev "c$n"
        $IP -n "rs$n" addr add "10.$1.$n.2/24" dev "r$n"
        $IP -n lb link set "c$n" up
        $IP -n "rs$n" link set "r$n" up
        $IP -n "rs$n" route add default via "10.$1.$n.1"
        mkdir -p "/www/rs$n"
        echo "rs$n" >"/www/rs$n/index.html"
        n=$((n + 1))
    done
}

# httpd_start NS PORT: busybox httpd in the foreground of a background job, its
# pid (ip netns exec execs it) in /tmp/httpd-NS-PORT.pid; httpd_stop NS PORT
httpd_start() {
    $IP netns exec "$1" httpd -f -p "$2" -h "/www/$1" &
    echo $! >"/tmp/httpd-$1-$2.pid"
}
httpd_stop() {
    kill "$(cat "/tmp/httpd-$1-$2.pid")"
}

# ------------------------------------------------------------ keepalived
# Shared by the keepalived scenarios: two directors lb1 and lb2 running
# Debian's keepalived with one VRRP instance (VI_1, VRID 51, VIP 10.9.0.100).

KEEPALIVED=/usr/sbin/keepalived
SETPRIV=/usr/bin/setpriv
# lab_vrrp_pair: namespaces lb1 and lb2 joined by a veth pair (eth0 in each)
lab_vrrp_pair() {
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
}

# keepalived_conf NAME STATE PRIORITY [GLOBAL_DEFS_LINE] [no-virtual-server]: the VRRP
# instance, and a DR virtual_server for the VIP unless the fifth argument says no-virtual-server
keepalived_conf() {
    mkdir -p /etc/keepalived "/run/$1"
    cat >"/etc/keepalived/$1.conf" <<EOF
global_defs {
    router_id $1
    enable_script_security
    script_user root
    ${4:-}
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
EOF
    [ "${5:-}" = no-virtual-server ] || cat >>"/etc/keepalived/$1.conf" <<EOF

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

# ka_wait WHAT SECONDS CMD...: poll CMD every 100 ms until it succeeds
ka_wait() {
    what=$1 limit=$(($2 * 10))
    shift 2
    i=0
    until "$@"; do
        i=$((i + 1))
        if [ $i -ge $limit ]; then
            echo "lab: gave up waiting for $what"
            return 1
        fi
        usleep 100000
    done
}

# ka_scrape NS FILE
ka_scrape() {
    $IP netns exec "$1" timeout 30 wget -q -O "$2" "$EXPORTER_URL"
}

ka_has_vip() { $IP -n "$1" -4 addr show dev eth0 | grep -q 'inet 10.9.0.100/'; }
ka_logged() { grep -q "$2" "$OUT/keepalived-$1.log"; }
ka_shows() { ka_scrape "$1" /tmp/scrape.txt && grep -q "ipvs_vrrp_state{.*state=\"$2\"} 1" /tmp/scrape.txt; }
ka_uptime_cs() { awk '{ split($1, t, "."); print t[1] * 100 + t[2] }' /proc/uptime; }
