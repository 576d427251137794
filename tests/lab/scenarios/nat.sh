#!/bin/sh
# nat: a NAT director (the root namespace) in front of three real servers,
# each a namespace running busybox httpd, and a client namespace that sends
# real HTTP requests through the virtual addresses.
#
#   client 10.0.0.2 / fd00::2  --  10.0.0.1 / fd00::1 director
#   director 10.1.N.1 / fd00:1:N::1  --  10.1.N.2 / fd00:1:N::2 rsN  (N = 1..3)
#
# Services (all NAT):
#   TCP 10.0.0.1:80    rr   rs1 w1, rs2 w2, rs3 w3   12 requests: 4 / 4 / 4
#   TCP 10.0.0.1:8080  wrr  rs1 w3, rs2 w1, rs3 w2   12 requests: 6 / 2 / 4
#   TCP [fd00::1]:80   lc   rs1 w1, rs2 w1            6 requests, spread
#   UDP 10.0.0.1:53    rr   rs1, rs2                  no traffic
. /lab/lib.sh

lab_ipvs_reset
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/ipv6/conf/all/forwarding

lab_veth client vcl eth0
$IP addr add 10.0.0.1/24 dev vcl
$IP addr add fd00::1/64 dev vcl nodad
$IP -n client addr add 10.0.0.2/24 dev eth0
$IP -n client addr add fd00::2/64 dev eth0 nodad
$IP -n client route add default via 10.0.0.1
$IP -n client -6 route add default via fd00::1

for n in 1 2 3; do
    lab_veth "rs$n" "vrs$n" eth0
    $IP addr add "10.1.$n.1/24" dev "vrs$n"
    $IP addr add "fd00:1:$n::1/64" dev "vrs$n" nodad
    $IP -n "rs$n" addr add "10.1.$n.2/24" dev eth0
    $IP -n "rs$n" addr add "fd00:1:$n::2/64" dev eth0 nodad
    $IP -n "rs$n" route add default via "10.1.$n.1"
    $IP -n "rs$n" -6 route add default via "fd00:1:$n::1"
    mkdir -p "/srv/rs$n"
    echo "rs$n" >"/srv/rs$n/index.html"
    $IP netns exec "rs$n" httpd -p 80 -h "/srv/rs$n"
done

$IPVSADM -A -t 10.0.0.1:80 -s rr
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.2.2:80 -m -w 2
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.3.2:80 -m -w 3
$IPVSADM -A -t 10.0.0.1:8080 -s wrr
$IPVSADM -a -t 10.0.0.1:8080 -r 10.1.1.2:80 -m -w 3
$IPVSADM -a -t 10.0.0.1:8080 -r 10.1.2.2:80 -m -w 1
$IPVSADM -a -t 10.0.0.1:8080 -r 10.1.3.2:80 -m -w 2
$IPVSADM -A -t '[fd00::1]:80' -s lc
$IPVSADM -a -t '[fd00::1]:80' -r '[fd00:1:1::2]:80' -m -w 1
$IPVSADM -a -t '[fd00::1]:80' -r '[fd00:1:2::2]:80' -m -w 1
$IPVSADM -A -u 10.0.0.1:53 -s rr
$IPVSADM -a -u 10.0.0.1:53 -r 10.1.1.2:53 -m
$IPVSADM -a -u 10.0.0.1:53 -r 10.1.2.2:53 -m

# the exporter starts on the configured table, before any traffic
lab_exporter_start
lab_checkpoint before

# wait until every real server answers directly (httpd daemonises at once but
# the namespaces' routes and neighbours settle asynchronously)
for n in 1 2 3; do
    i=0
    until $IP netns exec client timeout 2 wget -q -O /dev/null "http://10.1.$n.2/"; do
        i=$((i + 1))
        [ $i -lt 50 ] || exit 1
        usleep 100000
    done
done

fetch() { # URL FILE COUNT
    i=0
    while [ $i -lt "$3" ]; do
        $IP netns exec client timeout 10 wget -q -O - "$1" >>"$2"
        i=$((i + 1))
    done
}
fetch http://10.0.0.1/ "$OUT/responses-tcp-80.txt" 12
fetch http://10.0.0.1:8080/ "$OUT/responses-tcp-8080.txt" 12
fetch 'http://[fd00::1]/' "$OUT/responses-tcp6-80.txt" 6

lab_quiet
lab_checkpoint after
