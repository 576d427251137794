#!/bin/sh
# The booted-Debian lab, inside the guest (run by lab-debian.service under
# systemd). Installs the exporter's .deb, starts it, builds a NAT director with
# two real servers and a VRRP instance, and captures what the checks in
# tests/lab_debian.rs compare: the service's identity and capabilities, its
# counters next to ipvsadm's, keepalived's state, restarts, the unit's
# security rating, an upgrade, the container image's entrypoint run as the
# DaemonSet runs it, and a purge. Every file under $OUT goes back to the host
# as base64 between @@LAB-BEGIN/@@LAB-END lines on the console.
set -u
OUT=/lab/out
mkdir -p "$OUT"
# straight to the console: through the journal, lines would get a prefix
exec >/dev/console 2>"$OUT/guest.log"
set -x
URL=http://127.0.0.1:9748/metrics
BB=/lab/busybox
STEP=start
. /lab/checkpoint.sh

fail() {
    echo "$STEP: $*" >>"$OUT/failures.txt"
}

# step NAME: the console shows how far the guest got
step() {
    STEP=$1
    echo "@@LAB-STEP $STEP $(cut -d' ' -f1 /proc/uptime)"
}

# every file under $OUT to the console, also when the script stops early
send_results() {
    status=$?
    set +x
    echo "$STEP $status" >"$OUT/finished.txt"
    cd "$OUT" || return
    : >/lab/MANIFEST
    for f in $(find . -type f | sed 's|^\./||' | sort); do
        echo "@@LAB-BEGIN $f"
        base64 "$f"
        echo "@@LAB-END $f"
        echo "$(md5sum "$f" | cut -d' ' -f1) $f" >>/lab/MANIFEST
    done
    echo "@@LAB-BEGIN MANIFEST"
    base64 /lab/MANIFEST
    echo "@@LAB-END MANIFEST"
    echo "@@LAB-DONE"
}
trap send_results EXIT

# wait_for WHAT SECONDS CMD...: run CMD every half second until it succeeds
wait_for() {
    what=$1 n=$(($2 * 2))
    shift 2
    while [ $n -gt 0 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
        n=$((n - 1))
    done
    fail "timed out waiting for $what"
    return 1
}

# http_get URL FILE: an HTTP/1.0 GET with perl-base alone; fails unless the status is 200.
# (busybox wget, static or Debian's, crashes in this guest)
cat >/lab/http-get.pl <<'PERL'
use strict;
use IO::Socket::INET;
my ($url, $out) = @ARGV;
$url =~ m{^http://([^/:]+):?(\d*)(/.*)?$} or die "bad url $url\n";
my ($h, $p, $path) = ($1, $2 || 80, $3 || "/");
my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $p, Proto => "tcp", Timeout => 10)
    or die "connect $h:$p: $!\n";
print $s "GET $path HTTP/1.0\r\nHost: $h\r\n\r\n";
local $/;
my $r = <$s>;
defined $r or die "no response\n";
my ($head, $body) = split /\r\n\r\n/, $r, 2;
$head =~ m{^HTTP/1\.[01] 200 } or die "status: " . (split /\r\n/, $head)[0] . "\n";
open my $f, ">", $out or die "$out: $!\n";
print $f $body;
close $f or die "$out: $!\n";
PERL
http_get() { timeout 30 perl /lab/http-get.pl "$1" "$2"; }
scrape() { http_get "${2:-$URL}" "$1"; }
main_pid() { systemctl show -p MainPID --value ipvs_exporter.service; }
identity() { # PID FILE
    grep -E '^(Name|Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "/proc/$1/status" >"$2"
    ps -o user=,group=,comm= -p "$1" >>"$2"
}
# checkpoint DIR [URL]: ipvsadm and /proc around one scrape, taken again while they moved
# (checkpoint.sh).
checkpoint() {
    d=$OUT/$1
    mkdir -p "$d"
    checkpoint_until_quiet "$d" capture_once "$d" "${2:-$URL}"
}
capture_once() { # DIR URL
    d=$1
    ipvsadm -Ln --exact >"$d/ipvsadm.txt"
    ipvsadm -Ln --stats --exact >"$d/ipvsadm-stats.txt"
    ipvsadm -Ln --timeout >"$d/ipvsadm-timeout.txt"
    cat /proc/net/ip_vs_stats >"$d/proc-ip_vs_stats.txt"
    scrape "$d/metrics.txt" "$2" || fail "scrape for $d failed"
    ipvsadm -Ln --exact >"$d/ipvsadm-after.txt"
    ipvsadm -Ln --stats --exact >"$d/ipvsadm-stats-after.txt"
    cat /proc/net/ip_vs_stats >"$d/proc-ip_vs_stats-after.txt"
}
traffic() { # N: N HTTP requests from the client namespace to the VIP
    i=0
    while [ $i -lt "$1" ]; do
        ip netns exec client timeout 30 perl /lab/http-get.pl http://10.1.0.1/ /dev/null ||
            fail "request $i failed"
        i=$((i + 1))
    done
    # IPVS folds its per-CPU counters into the totals every 2 s
    sleep 4
}

systemd-analyze time >"$OUT/boot-time.txt" 2>&1 || true
uname -r >"$OUT/uname.txt"

# ------------------------------------------------------------ the network
step network
for m in ip_vs ip_vs_rr ip_vs_wrr veth; do modprobe "$m" || fail "modprobe $m"; done
echo 1 >/proc/sys/net/ipv4/ip_forward
mkdir -p /srv/www
echo "hello from a real server" >/srv/www/index.html
ip netns add client
ip link add lb-c type veth peer name eth0 netns client
ip addr add 10.1.0.1/24 dev lb-c
ip link set lb-c up
ip -n client addr add 10.1.0.2/24 dev eth0
ip -n client link set eth0 up
ip -n client link set lo up
ip -n client route add default via 10.1.0.1
for n in 1 2; do
    ip netns add rs$n
    ip link add lb-r$n type veth peer name eth0 netns rs$n
    ip addr add 10.2.$n.1/24 dev lb-r$n
    ip link set lb-r$n up
    ip -n rs$n addr add 10.2.$n.2/24 dev eth0
    ip -n rs$n link set eth0 up
    ip -n rs$n link set lo up
    ip -n rs$n route add default via 10.2.$n.1
    ip netns exec rs$n $BB httpd -p 80 -h /srv/www
done
ipvsadm -A -t 10.1.0.1:80 -s wrr
ipvsadm -a -t 10.1.0.1:80 -r 10.2.1.2:80 -m -w 1
ipvsadm -a -t 10.1.0.1:80 -r 10.2.2.2:80 -m -w 2
ipvsadm -A -u 10.1.0.1:53 -s rr
ipvsadm -a -u 10.1.0.1:53 -r 10.2.1.2:53 -m

# keepalived with one VRRP instance alone on its link: it becomes MASTER
step keepalived
cat >/etc/keepalived/keepalived.conf <<'KA'
global_defs {
    router_id lab-debian
}
vrrp_instance VI_1 {
    state BACKUP
    interface lb-c
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.1.0.100/24
    }
}
KA
systemctl restart keepalived || fail "keepalived did not start"
wait_for "keepalived to hold the VIP" 30 sh -c 'ip addr show dev lb-c | grep -q 10.1.0.100'

# ------------------------------------------------------------ install
step install
dpkg -i /lab/ipvs-exporter_1.deb >"$OUT/dpkg-install.txt" 2>&1 || fail "dpkg -i failed"
getent passwd ipvs_exporter >"$OUT/user.txt" || fail "no ipvs_exporter user"
systemctl is-enabled ipvs_exporter >"$OUT/is-enabled.txt" 2>&1
systemctl is-active ipvs_exporter >"$OUT/is-active.txt" 2>&1
dpkg-query -W -f='${Conffiles}\n' ipvs-exporter >"$OUT/conffiles.txt"
wait_for "the exporter to answer" 60 scrape /dev/null
systemd-analyze verify /lib/systemd/system/ipvs_exporter.service >"$OUT/verify.txt" 2>&1
echo $? >"$OUT/verify-status.txt"
systemd-analyze security ipvs_exporter.service >"$OUT/security.txt" 2>&1
systemctl show ipvs_exporter -p User -p CapabilityBoundingSet -p AmbientCapabilities -p LimitNOFILE -p MemoryMax >"$OUT/unit-show.txt"
PID1=$(main_pid)
identity "$PID1" "$OUT/identity.txt"
cat "/proc/$PID1/limits" >"$OUT/limits.txt"

# ------------------------------------------------------------ counters
step counters
traffic 30
ip netns exec client perl -MIO::Socket::INET -e \
    'IO::Socket::INET->new(PeerAddr => "10.1.0.1", PeerPort => 53, Proto => "udp")->send("x") or die' ||
    fail "the UDP datagram was not sent"
sleep 4
checkpoint service

# ------------------------------------------------------------ restarts
step restart
systemctl restart ipvs_exporter
wait_for "the exporter after systemctl restart" 60 scrape /dev/null
PID2=$(main_pid)
echo "$PID1 $PID2" >"$OUT/pids-restart.txt"
kill -9 "$PID2"
wait_for "a new main pid after kill -9" 60 sh -c "p=\$(systemctl show -p MainPID --value ipvs_exporter); [ \"\$p\" != 0 ] && [ \"\$p\" != $PID2 ]"
wait_for "the exporter after kill -9" 60 scrape /dev/null
PID3=$(main_pid)
echo "$PID2 $PID3" >"$OUT/pids-kill.txt"
systemctl show ipvs_exporter -p NRestarts -p ActiveState -p SubState >"$OUT/after-kill.txt"
traffic 10
checkpoint after-restart

# ------------------------------------------------------------ upgrade
step upgrade
echo 'ARGS="--log.level=debug"' >>/etc/default/ipvs_exporter
cp /etc/default/ipvs_exporter "$OUT/default-before-upgrade.txt"
DEBIAN_FRONTEND=noninteractive dpkg -i /lab/ipvs-exporter_2.deb >"$OUT/dpkg-upgrade.txt" 2>&1 || fail "dpkg -i (upgrade) failed"
dpkg-query -W -f='${Version}\n' ipvs-exporter >"$OUT/version-after-upgrade.txt"
cp /etc/default/ipvs_exporter "$OUT/default-after-upgrade.txt"
wait_for "the exporter after the upgrade" 60 scrape /dev/null
PID4=$(main_pid)
echo "$PID3 $PID4" >"$OUT/pids-upgrade.txt"
systemctl is-active ipvs_exporter >"$OUT/is-active-upgrade.txt" 2>&1
tr '\0' ' ' <"/proc/$PID4/cmdline" >"$OUT/cmdline-upgrade.txt"

# ------------------------------------------------------------ keepalived's JSON dump
# the drop-in the package ships as documentation: the host's /tmp, CAP_KILL to
# signal keepalived, CAP_DAC_READ_SEARCH to read its 0600 dump
step json
mkdir -p /etc/systemd/system/ipvs_exporter.service.d
cp /usr/share/doc/ipvs-exporter/keepalived-json.conf /etc/systemd/system/ipvs_exporter.service.d/
cp /etc/default/ipvs_exporter /lab/default.saved
echo 'ARGS="--keepalived.signal"' >>/etc/default/ipvs_exporter
systemctl daemon-reload
systemctl restart ipvs_exporter
wait_for "the exporter with the JSON drop-in" 60 scrape /dev/null
mkdir -p "$OUT/json"
identity "$(main_pid)" "$OUT/json/identity.txt"
scrape "$OUT/json/metrics.txt" || fail "scrape with the JSON drop-in failed"
ls -l /tmp/keepalived.json >"$OUT/json/dump-file.txt" 2>&1
rm /etc/systemd/system/ipvs_exporter.service.d/keepalived-json.conf
cp /lab/default.saved /etc/default/ipvs_exporter
systemctl daemon-reload
systemctl restart ipvs_exporter

# ------------------------------------------------------------ the container image
# its entrypoint and the DaemonSet's arguments, on the image's own file system,
# as uid 0 with NET_ADMIN alone, a read-only root and the host's /proc, /sys and
# /etc/keepalived mounted read-only where the DaemonSet mounts them
step container
if [ -d /srv/container ]; then
    mkdir -p /srv/container/host/proc /srv/container/host/sys /srv/container/host/root/etc/keepalived \
        /srv/container/host/root/run/keepalived
    cp /run/keepalived.pid /run/keepalived/keepalived.pid 2>/dev/null || {
        mkdir -p /run/keepalived && cp /run/keepalived.pid /run/keepalived/keepalived.pid
    }
    # the DaemonSet's port 9748 is taken by the service: listen elsewhere
    set -- $(tr ' ' '\n' </lab/container-command.txt | grep -v '^--web.listen-address=')
    echo "$@" >"$OUT/container-command.txt"
    systemd-run --unit=ctr-exporter --property=RootDirectory=/srv/container \
        --property=ReadOnlyPaths=/ \
        --property=BindReadOnlyPaths="/proc:/host/proc /sys:/host/sys /etc/keepalived:/host/root/etc/keepalived /run/keepalived:/host/root/run/keepalived" \
        --property=User=0 --property=Group=0 \
        --property=CapabilityBoundingSet=CAP_NET_ADMIN --property=AmbientCapabilities=CAP_NET_ADMIN \
        --property=NoNewPrivileges=yes \
        "$@" --web.listen-address=127.0.0.1:19748 >"$OUT/container-run.txt" 2>&1 || fail "systemd-run of the image's entrypoint failed"
    if wait_for "the container's exporter" 60 scrape /dev/null http://127.0.0.1:19748/metrics; then
        CPID=$(systemctl show -p MainPID --value ctr-exporter)
        identity "$CPID" "$OUT/container-identity.txt"
        # systemd adds /bin, /dev, /proc... to a root directory; /usr/bin is the image's
        ls -l "/proc/$CPID/root/" >"$OUT/container-root.txt" 2>&1
        ls -A "/proc/$CPID/root/usr/bin/" >"$OUT/container-usr-bin.txt" 2>&1
        readlink "/proc/$CPID/exe" >"$OUT/container-exe.txt" 2>&1
        traffic 10
        checkpoint container http://127.0.0.1:19748/metrics
    fi
    journalctl -u ctr-exporter --no-pager >"$OUT/container-journal.txt" 2>&1
    systemctl stop ctr-exporter
else
    fail "no container file system in the guest"
fi

# ------------------------------------------------------------ purge
step purge
journalctl -u ipvs_exporter --no-pager >"$OUT/journal.txt" 2>&1
dpkg --purge ipvs-exporter >"$OUT/dpkg-purge.txt" 2>&1 || fail "dpkg --purge failed"
{
    echo "status: $(dpkg-query -W -f='${db:Status-Status}' ipvs-exporter 2>&1)"
    echo "default: $(test -e /etc/default/ipvs_exporter && echo present || echo absent)"
    echo "unit: $(test -e /lib/systemd/system/ipvs_exporter.service && echo present || echo absent)"
    echo "binary: $(test -e /usr/bin/ipvs_exporter && echo present || echo absent)"
    echo "active: $(systemctl is-active ipvs_exporter 2>&1)"
    echo "user: $(getent passwd ipvs_exporter >/dev/null && echo kept || echo removed)"
} >"$OUT/after-purge.txt"

step done
