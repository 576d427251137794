#!/bin/sh
# kinds: one table with every kind of service and real server the exporter
# has to name: TCP, UDP, SCTP and firewall-mark services, IPv4 and IPv6, NAT,
# direct-routing, tunnel and local real servers, a persistent service, a
# persistent one with a netmask, one-packet scheduling, scheduler flags, a
# service without real servers, a weight-0 real server, a large mark and an
# IPv6 address whose compressed form is easy to get wrong. A few UDP datagrams
# go through the one-packet service.
. /lab/lib.sh

lab_ipvs_reset
# the kernel's IPVS knobs, with their names
for f in /proc/sys/net/ipv4/vs/*; do
    echo "$(basename "$f") = $(cat "$f" 2>&1)"
done >"$OUT/sysctl-net.ipv4.vs.txt"

# a local address for the "Local" real server, and a path for the UDP datagrams
$IP link add lab0 type dummy
$IP link set lab0 up
$IP addr add 192.0.2.1/24 dev lab0
$IP addr add 192.0.2.10/32 dev lab0
$IP -6 addr add 2001:db8::1/64 dev lab0 nodad
$IP addr add 198.51.100.254/24 dev lab0

# TCP, IPv4: one real server per forwarding method
$IPVSADM -A -t 192.0.2.10:80 -s wlc
$IPVSADM -a -t 192.0.2.10:80 -r 198.51.100.1:8080 -m -w 1
$IPVSADM -a -t 192.0.2.10:80 -r 198.51.100.2:80 -g -w 2
$IPVSADM -a -t 192.0.2.10:80 -r 198.51.100.3:80 -i -w 3
$IPVSADM -a -t 192.0.2.10:80 -r 192.0.2.1:80 -m -w 4
$IPVSADM -a -t 192.0.2.10:80 -r 198.51.100.4:80 -g -w 0

# UDP, IPv4, one-packet scheduling
$IPVSADM -A -u 192.0.2.10:53 -s rr -o
$IPVSADM -a -u 192.0.2.10:53 -r 198.51.100.1:53 -m -w 1
$IPVSADM -a -u 192.0.2.10:53 -r 198.51.100.2:5353 -m -w 1

# SCTP, IPv4, source hashing with its flags
$IPVSADM -A --sctp-service 192.0.2.10:3868 -s sh -b sh-fallback,sh-port
$IPVSADM -a --sctp-service 192.0.2.10:3868 -r 198.51.100.1:3868 -m -w 1
$IPVSADM -a --sctp-service 192.0.2.10:3868 -r 198.51.100.2:3868 -g -w 1

# persistent with a netmask, on the highest port
$IPVSADM -A -t 192.0.2.11:65535 -s dh -p 60 -M 255.255.255.0
$IPVSADM -a -t 192.0.2.11:65535 -r 198.51.100.6:65535 -m -w 1

# a service without real servers
$IPVSADM -A -t 192.0.2.12:8443 -s nq

# firewall mark, IPv4
$IPVSADM -A -f 1 -s wrr
$IPVSADM -a -f 1 -r 198.51.100.5 -g -w 5
$IPVSADM -a -f 1 -r 198.51.100.6:80 -m -w 1

# firewall mark, IPv6, a mark above 2^28 (0x10000001); ipvsadm takes an IPv6
# real server without a port only without brackets
$IPVSADM -A -f 268435457 -6 -s rr
$IPVSADM -a -f 268435457 -6 -r 2001:db8:1::4 -g -w 1
$IPVSADM -a -f 268435457 -6 -r '[2001:db8:1::5]:443' -m -w 2

# firewall-mark services without real servers: /proc/net/ip_vs prints no
# address family for FWM services, only their real servers show it
$IPVSADM -A -f 3 -s rr
$IPVSADM -A -f 4 -6 -s rr

# TCP, IPv6, persistent 300 s
$IPVSADM -A -t '[2001:db8::10]:443' -s lc -p 300
$IPVSADM -a -t '[2001:db8::10]:443' -r '[2001:db8:1::1]:443' -m -w 1
$IPVSADM -a -t '[2001:db8::10]:443' -r '[2001:db8:1::2]:443' -i -w 2
# RFC 5952: the first of two equal runs of zeros is the one compressed
$IPVSADM -a -t '[2001:db8::10]:443' -r '[2001:db8:0:0:1:0:0:1]:443' -g -w 3

# UDP and SCTP, IPv6
$IPVSADM -A -u '[2001:db8::10]:53' -s sed
$IPVSADM -a -u '[2001:db8::10]:53' -r '[2001:db8:1::1]:53' -m -w 1
$IPVSADM -A --sctp-service '[2001:db8::10]:3868' -s mh -b mh-port
$IPVSADM -a --sctp-service '[2001:db8::10]:3868' -r '[2001:db8:1::1]:3868' -m -w 1
$IPVSADM -a --sctp-service '[2001:db8::10]:3868' -r '[2001:db8:1::2]:3868' -m -w 0

# the remaining schedulers, each on an empty IPv4 service
port=9000
for s in fo ovf lblc lblcr; do
    $IPVSADM -A -t "192.0.2.13:$port" -s "$s"
    port=$((port + 1))
done

lab_exporter_start

# UDP datagrams from a client namespace through the one-packet service, where
# each datagram is an IPVS connection of its own: busybox nslookup sends an A
# and an AAAA query and gets no answer (the real servers do not exist)
lab_veth client vcl eth0
$IP addr add 10.0.0.1/24 dev vcl
$IP -n client addr add 10.0.0.2/24 dev eth0
$IP -n client route add default via 10.0.0.1
for i in 1 2 3; do
    $IP netns exec client nslookup -retry=1 -timeout=1 "q$i.lab" 192.0.2.10 || true
done

lab_quiet
lab_checkpoint table
