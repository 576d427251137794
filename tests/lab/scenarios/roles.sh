#!/bin/sh
# roles: doctor on hosts that look like real servers at first sight and are not, and on a TUN
# real server, each in a namespace of its own with an ordinary veth beside what it is about:
#
#   p2p     a veth with ARP off holding a /24 (the shape of a point-to-point link)
#   wg      a WireGuard interface (no peers) with a /24 and a /32
#   tun     a tun device with a /24 and a /32
#   calico  tunl0 (ipip) with a /32 pod address and routes to other nodes' blocks via tunl0
#           onlink, as Calico's IPIP mode sets it up
#   calico1 a single-node Calico cluster: tunl0 with a /32 pod address and no route through it
#           (no other node yet), a blackhole route for the node's block and a pod's cali* veth
#   kube    kube-proxy in IPVS mode: NAT services and the kube-ipvs0 dummy holding their
#           addresses, with the sysctls kube-proxy sets
#   tunrs   a TUN real server: the VIP 10.0.0.100/32 on tunl0, which routes nothing out, with
#           arp_ignore=1, arp_announce=2 and loose reverse-path filtering
. /lab/lib.sh

for m in veth dummy ipip tun wireguard; do $MODPROBE "$m"; done
lab_ipvs_reset

# the namespace ends are named apart from the root namespace's links
lab_veth p2p vp2pa p2pa0
lab_veth p2p vp2pb p2pb0
$IP -n p2p link set p2pa0 arp off
$IP -n p2p addr add 10.7.1.1/24 dev p2pa0
$IP -n p2p addr add 10.5.3.2/24 dev p2pb0

lab_veth wg vwg wgeth0
$IP -n wg addr add 10.5.4.2/24 dev wgeth0
$IP -n wg link add wg0 type wireguard
$IP -n wg addr add 10.7.2.1/24 dev wg0
$IP -n wg addr add 10.7.2.9/32 dev wg0
$IP -n wg link set wg0 up

lab_veth tun vtun tuneth0
$IP -n tun addr add 10.5.5.2/24 dev tuneth0
$IP netns exec tun $IP tuntap add mode tun dev tun0
$IP -n tun addr add 10.7.3.1/24 dev tun0
$IP -n tun addr add 10.7.3.9/32 dev tun0
$IP -n tun link set tun0 up

lab_veth calico vcal caleth0
$IP -n calico addr add 10.5.6.2/24 dev caleth0
$IP -n calico link set tunl0 up
$IP -n calico addr add 10.244.1.0/32 dev tunl0
$IP -n calico route add 10.244.2.0/26 via 10.5.6.3 dev tunl0 onlink
$IP -n calico route add 10.244.3.0/26 via 10.5.6.4 dev tunl0 onlink

lab_veth calico1 vcal1 cal1eth0
$IP -n calico1 addr add 10.5.9.2/24 dev cal1eth0
$IP -n calico1 link set tunl0 up
$IP -n calico1 addr add 10.244.7.0/32 dev tunl0
$IP -n calico1 route add blackhole 10.244.7.0/26
$IP -n calico1 link add cali0a1b2c3d4e5 type veth peer name pod0
$IP -n calico1 link set cali0a1b2c3d4e5 up

lab_veth kube vkube kubeeth0
$IP -n kube addr add 10.5.7.2/24 dev kubeeth0
$IP -n kube link add kube-ipvs0 type dummy
$IP -n kube addr add 10.96.0.1/32 dev kube-ipvs0
$IP -n kube addr add 10.96.0.10/32 dev kube-ipvs0
for setting in ipv4/ip_forward=1 ipv4/vs/conntrack=1 ipv4/vs/expire_nodest_conn=1 \
    ipv4/vs/expire_quiescent_template=1; do
    $IP netns exec kube sh -c "echo ${setting#*=} >/proc/sys/net/${setting%=*}"
done
$IP netns exec kube $IPVSADM -A -t 10.96.0.1:443 -s rr
$IP netns exec kube $IPVSADM -a -t 10.96.0.1:443 -r 10.5.7.3:6443 -m
$IP netns exec kube $IPVSADM -A -u 10.96.0.10:53 -s rr
$IP netns exec kube $IPVSADM -a -u 10.96.0.10:53 -r 10.244.1.5:53 -m
$IP netns exec kube $IPVSADM -Ln >"$OUT/kube-ipvsadm.txt"
# what tcp-max-syn-backlog compares with (it depends on the guest's memory); the global
# net.core settings are not visible inside a namespace, so their rules are not evaluated there
$IP netns exec kube cat /proc/sys/net/ipv4/tcp_max_syn_backlog >"$OUT/kube-tcp_max_syn_backlog.txt"

lab_veth tunrs vtunrs tunrs0
$IP -n tunrs addr add 10.5.8.2/24 dev tunrs0
$IP -n tunrs link set tunl0 up
$IP -n tunrs addr add 10.0.0.100/32 dev tunl0
for setting in all/arp_ignore=1 all/arp_announce=2 all/rp_filter=0 tunl0/rp_filter=0; do
    $IP netns exec tunrs sh -c "echo ${setting#*=} >/proc/sys/net/ipv4/conf/${setting%=*}"
done

for ns in p2p wg tun calico calico1 kube tunrs; do
    $IP -n "$ns" -d link show >"$OUT/$ns-links.txt"
    $IP -n "$ns" addr show >"$OUT/$ns-addresses.txt"
    $IP -n "$ns" route show table all >"$OUT/$ns-routes.txt"
done

# what the softnet rules read, just before and just after the doctor runs
cat /proc/net/softnet_stat >"$OUT/softnet.txt"
for ns in p2p wg tun calico calico1 kube tunrs; do
    set +e
    $IP netns exec "$ns" $EXPORTER doctor --format json >"$OUT/$ns.json" 2>"$OUT/$ns.err"
    echo $? >"$OUT/$ns.code"
    $IP netns exec "$ns" $EXPORTER doctor --format text >"$OUT/$ns.txt" 2>&1
    set -e
done
cat /proc/net/softnet_stat >"$OUT/softnet-after.txt"
