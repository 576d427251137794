#!/bin/sh
# realserver: doctor inside two DR real-server namespaces, each with the virtual address
# 10.0.0.100/32 on lo and a veth towards the director (rsok0, rsbad0): rsok with arp_ignore=1 and
# arp_announce=2, rsbad with the kernel's defaults and the VIP as a /24.
. /lab/lib.sh

$MODPROBE veth
# the namespace ends are named apart: they are made in the root namespace, which already has
# an eth0 when the netdev scenario ran before
for ns in rsok rsbad; do
    lab_veth "$ns" "v$ns" "${ns}0"
done
$IP -n rsok addr add 10.5.1.2/24 dev rsok0
$IP -n rsbad addr add 10.5.2.2/24 dev rsbad0
$IP -n rsok addr add 10.0.0.100/32 dev lo
$IP -n rsbad addr add 10.0.0.100/24 dev lo
$IP netns exec rsok sysctl -w net.ipv4.conf.all.arp_ignore=1 >/dev/null
$IP netns exec rsok sysctl -w net.ipv4.conf.all.arp_announce=2 >/dev/null

cat /proc/net/softnet_stat >"$OUT/softnet.txt"
for ns in rsok rsbad; do
    set +e
    $IP netns exec "$ns" $EXPORTER doctor --format json >"$OUT/$ns.json" 2>"$OUT/$ns.err"
    echo $? >"$OUT/$ns.code"
    $IP netns exec "$ns" $EXPORTER doctor --format text >"$OUT/$ns.txt" 2>&1
    set -e
done
cat /proc/net/softnet_stat >"$OUT/softnet-after.txt"
