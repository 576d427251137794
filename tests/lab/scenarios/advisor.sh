#!/bin/sh
# advisor: doctor on a misconfigured NAT director, then on the same director after applying
# what `doctor --emit-sysctl` wrote and fixing the weights by hand.
#
#   TCP 10.0.0.1:80   rr, its only real server at weight 0      (service-without-weight)
#   TCP 10.0.0.1:443  rr, persistent 60 s                        (expire_quiescent_template)
#   net.ipv4.ip_forward=0                                         (nat-ip-forward)
#
# The real server's address is this scenario's own: IPVS keeps a removed real server that
# still has connections in a trash list for a while and, when the same one is added to the
# same service again, brings it back with its counters and rate estimate. With nat's
# 10.1.1.2:80 that estimate (nat's traffic, decaying) could make the quiesced server look busy.
. /lab/lib.sh

lab_ipvs_reset
echo 0 >/proc/sys/net/ipv4/ip_forward
echo 0 >/proc/sys/net/ipv4/vs/expire_nodest_conn
echo 0 >/proc/sys/net/ipv4/vs/expire_quiescent_template

$IP link add lab0 type dummy
$IP link set lab0 up
$IP addr add 10.0.0.1/24 dev lab0
$IPVSADM -A -t 10.0.0.1:80 -s rr
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.9.2:80 -m -w 0
$IPVSADM -A -t 10.0.0.1:443 -s rr -p 60
$IPVSADM -a -t 10.0.0.1:443 -r 10.1.9.2:443 -m -w 1

# doctor's exit code is the point here, so it must not stop the scenario
doctor() { # NAME ARGS...
    name=$1
    shift
    set +e
    $EXPORTER doctor "$@" >"$OUT/$name" 2>"$OUT/$name.err"
    echo $? >"$OUT/$name.code"
    set -e
}

# what the softnet rules read, just before and just after doctor reads it
cat /proc/net/softnet_stat >"$OUT/softnet-bad.txt"
doctor bad.json --format json
cat /proc/net/softnet_stat >"$OUT/softnet-bad-after.txt"
doctor bad.txt --format text
doctor bad.sysctl --emit-sysctl

# apply what doctor asked for, and fix the weight
sysctl -p "$OUT/bad.sysctl" >"$OUT/sysctl-applied.txt"
$IPVSADM -e -t 10.0.0.1:80 -r 10.1.9.2:80 -m -w 1

doctor fixed.json --format json
doctor fixed.txt --format text
