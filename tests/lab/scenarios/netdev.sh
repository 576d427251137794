#!/bin/sh
# netdev: the guest's virtio NIC (qemu's user network) and a veth pair, as the netdev
# collector sees them, beside /proc/interrupts and ethtool read at the same moment.
. /lab/lib.sh

$MODPROBE veth
lab_nic_up
lab_veth peer vlab0 vpeer0
$IP addr add 10.77.0.1/24 dev vlab0
$IP -n peer addr add 10.77.0.2/24 dev vpeer0

lab_exporter_start
# some interrupts on the virtio NIC (qemu's user network answers its gateway) and traffic
# over the veth pair; neither has to succeed for the checks
ping -c 5 -W 1 10.0.2.2 >/dev/null 2>&1 || true
ping -c 3 -W 1 10.77.0.2 >/dev/null 2>&1 || true
lab_scrape "$OUT/warm-up.txt"

d="$OUT/scrape"
mkdir -p "$d"
cat /proc/interrupts >"$d/interrupts-before.txt"
lab_scrape "$d/metrics.txt"
cat /proc/interrupts >"$d/interrupts-after.txt"
for dev in eth0 vlab0; do
    for opt in i l k; do
        /usr/sbin/ethtool -$opt "$dev" >"$d/ethtool-$opt-$dev.txt" 2>&1 || true
    done
done
