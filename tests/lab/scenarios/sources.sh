#!/bin/sh
# sources: one table read every way the exporter can read it.
#
# - netlink and procfs: two exporters side by side (netlink on :9748, procfs on
#   :9749) scraped at the same quiet moment after real NAT traffic;
# - network namespaces: lbA and lbB hold IPVS tables of their own, read by the
#   netlink exporter through --collector.ipvs.netns (by name and by path);
# - no privilege: an exporter run as nobody (no CAP_NET_ADMIN) on :9750, whose
#   netlink requests the kernel refuses, so it falls back to /proc;
# - the estimator off: net.ipv4.vs.run_estimation=0, counters zeroed, traffic
#   again, and what the kernel and the exporter then say;
# - a service of 300 real servers in lbA, whose dump of real servers takes
#   several netlink buffers of either size the exporter reads with.
#
#   client 10.0.0.2 -- 10.0.0.1 director -- 10.1.1.2 rs1 (httpd)
. /lab/lib.sh

lab_ipvs_reset
echo 1 >/proc/sys/net/ipv4/ip_forward

lab_veth client vcl eth0
$IP addr add 10.0.0.1/24 dev vcl
$IP -n client addr add 10.0.0.2/24 dev eth0
$IP -n client route add default via 10.0.0.1
lab_veth rs1 vrs1 eth0
$IP addr add 10.1.1.1/24 dev vrs1
$IP -n rs1 addr add 10.1.1.2/24 dev eth0
$IP -n rs1 route add default via 10.1.1.1
mkdir -p /srv/rs1
echo rs1 >/srv/rs1/index.html
$IP netns exec rs1 httpd -p 80 -h /srv/rs1

$IPVSADM -A -t 10.0.0.1:80 -s rr
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 2
$IPVSADM -A -u 10.0.0.1:53 -s wrr
$IPVSADM -a -u 10.0.0.1:53 -r 10.1.1.2:53 -m -w 1
$IPVSADM -A -f 7 -s wlc -p 120
$IPVSADM -a -f 7 -r 10.1.1.2 -m -w 3

# two more namespaces with tables of their own, unlike the root one
for ns in lbA lbB; do
    $IP netns add "$ns"
    $IP -n "$ns" link set lo up
done
$IP netns exec lbA $IPVSADM -A -t 192.0.2.1:443 -s sh
$IP netns exec lbA $IPVSADM -a -t 192.0.2.1:443 -r 198.51.100.1:443 -g -w 5
$IP netns exec lbA $IPVSADM -a -t 192.0.2.1:443 -r 198.51.100.2:443 -g -w 0
# 300 real servers of one service, read over netlink only: /proc/net/ip_vs of these
# kernels can skip services when other namespaces have some and it takes several reads
$IP netns exec lbA $IPVSADM -A -t 192.0.2.1:8080 -s wrr
i=0
while [ $i -lt 300 ]; do
    echo "-a -t 192.0.2.1:8080 -r 10.99.$((i / 200)).$((i % 200 + 1)):8080 -g -w $((i % 5 + 1))"
    i=$((i + 1))
done | $IP netns exec lbA $IPVSADM -R
$IP netns exec lbB $IPVSADM -A -u '[2001:db8::53]:53' -s rr
$IP netns exec lbB $IPVSADM -a -u '[2001:db8::53]:53' -r '[2001:db8:1::1]:53' -m -w 1
$IP netns exec lbB $IPVSADM -A -f 9 -s lc
$IP netns exec lbB $IPVSADM -a -f 9 -r 198.51.100.9 -i -w 2

# start EXPORTER_ARGS... as USER ("" for root), logging to LOG; wait for URL
start_exporter() {
    user=$1 log=$2 url=$3
    shift 3
    if [ -n "$user" ]; then
        su -s /bin/sh "$user" -c "exec $EXPORTER $*" >/dev/null 2>>"$log" &
    else
        $EXPORTER "$@" >/dev/null 2>>"$log" &
    fi
    i=0
    until timeout 5 wget -q -O /dev/null "$url" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -ge 600 ]; then
            echo "sources: exporter at $url did not answer; its log:"
            cat "$log"
            return 1
        fi
        usleep 100000
    done
}

echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd
echo 'nogroup:x:65534:' >>/etc/group

NETLINK=http://127.0.0.1:9748/metrics
PROCFS=http://127.0.0.1:9749/metrics
NOBODY=http://127.0.0.1:9750/metrics
start_exporter "" "$OUT/exporter-netlink.log" $NETLINK \
    --collector.ipvs.source netlink --collector.ipvs.netns lbA \
    --collector.ipvs.netns /run/netns/lbB
start_exporter "" "$OUT/exporter-procfs.log" $PROCFS \
    --collector.ipvs.source procfs --web.listen-address :9749
start_exporter nobody "$OUT/exporter-nobody.log" $NOBODY --web.listen-address :9750

i=0
until $IP netns exec client timeout 2 wget -q -O /dev/null http://10.1.1.2/; do
    i=$((i + 1))
    [ $i -lt 50 ] || exit 1
    usleep 100000
done
i=0
while [ $i -lt 10 ]; do
    $IP netns exec client timeout 10 wget -q -O /dev/null http://10.0.0.1/
    i=$((i + 1))
done

lab_quiet
lab_checkpoint root-netlink "" $NETLINK
lab_checkpoint root-procfs "" $PROCFS
lab_checkpoint root-nobody "" $NOBODY
# a second scrape: the fallback is announced once, not on every scrape
timeout 30 wget -q -O "$OUT/root-nobody/metrics-second.txt" $NOBODY
lab_checkpoint lbA lbA $NETLINK
lab_checkpoint lbB lbB $NETLINK

# The rate estimator off. Kernels before 5.16 have no run_estimation sysctl: their
# estimator always runs. There the same traffic and checkpoint show what the exporter
# serves without the sysctl; the file below tells the check which case it is.
RUN_ESTIMATION=/proc/sys/net/ipv4/vs/run_estimation
if [ -e $RUN_ESTIMATION ]; then
    echo present >"$OUT/run_estimation.txt"
    echo 0 >$RUN_ESTIMATION
else
    echo absent >"$OUT/run_estimation.txt"
fi
$IPVSADM -Z
i=0
while [ $i -lt 10 ]; do
    $IP netns exec client timeout 10 wget -q -O - http://10.0.0.1/ >>"$OUT/noestimation-responses.txt"
    i=$((i + 1))
done
lab_quiet
lab_checkpoint noestimation "" $NETLINK
if [ -e $RUN_ESTIMATION ]; then echo 1 >$RUN_ESTIMATION; fi

for pid in $(pidof ipvs_exporter); do kill "$pid"; done
# the checks read one log per scenario for errors and panics
cat "$OUT"/exporter-*.log >"$OUT/exporter.log"
