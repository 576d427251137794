#!/bin/sh
# prometheus: a director and a keepalived pair, each with an exporter that a real Prometheus on
# the host scrapes every three seconds through qemu's user network (IPVS_LAB_HOSTFWD forwards host
# ports to guest ports 9748, 9749 and 9750). The scenario goes through phases, each announced on
# the console as "@@LAB-MARK <phase>" so that the host knows when it began:
#
#   ready     everything is up, well configured (what doctor --emit-sysctl asks for), no traffic
#   traffic   HTTP requests through a wrr service; two held TCP connections on an rr service
#   drain     one real server of the held service set to weight 0 while it holds its connection
#   misconfig net.ipv4.vs.expire_nodest_conn=0 and net.ipv4.vs.run_estimation=0 (advisor
#             warnings; estimation off; counters frozen while connections are held) and a
#             service whose only real server has weight 0 (no usable real server; advisor critical);
#             the director's /report is saved then (report-misconfig.html and .json)
#   splitbrain the two sysctls set back (the director keeps its critical finding alone); VRRP
#             (IP protocol 112) dropped both ways on lb2's link by tc: lb2 hears no adverts and
#             sends none, so it becomes MASTER while lb1 stays MASTER (split brain)
#   fixed     VRRP let through again (lb2 goes back to BACKUP), lb2's configuration given lb1's
#             weight and keepalived reloaded, the :8081 service deleted, the drained real server
#             given its weight back: nothing is wrong across the three hosts
#   failover  lb1's keepalived stopped: lb2 becomes MASTER, lb1 is configured but not running
#             (and, stopping, keepalived removes the virtual server it had programmed in lb1)
#   end       the phases are over (the exporters still answer until the guest powers off)
#
# Guest ports: 9748 the director's exporter (root namespace); 9749 and 9750 relays (busybox nc)
# into lb1's and lb2's namespaces, where their exporters listen on 9748.
#
#   client 10.0.0.2 -- 10.0.0.1 director -- 10.1.N.2 rsN (N = 1..3, busybox httpd on 80,
#                                                          a held-connection listener on 9000)
#   lb1 eth0 10.9.0.1/24 ---- veth ---- 10.9.0.2/24 eth0 lb2   (VRRP VI_1, VRID 51)
#
# Both of the pair's keepalived configure the DR virtual server 10.9.0.100:80 (wrr, real servers
# 10.9.0.51 and 10.9.0.52, no health checks: keepalived keeps them in service), which they program
# in their own namespaces; lb2's configuration gives 10.9.0.52 weight 3 where lb1's gives 2, until
# the fixed phase. That, the split brain and the director's critical finding are what `fleet`
# must find in the splitbrain phase (tests/lab_prometheus.rs); vrrp-*.txt and ipvsadm-*.txt
# say from keepalived's and the kernel's side what the pair was in each of the two phases.
#
# lab-needs: tc
# lab-timeout: 240
. /lab/lib.sh

PHASE_SECONDS=${PHASE_SECONDS:-35}
# the two short phases: long enough for IpvsVrrpSplitBrain (for: 10s in the lab rules) to fire,
# and for a few scrapes of the fixed state
SPLITBRAIN_SECONDS=${SPLITBRAIN_SECONDS:-18}
FIXED_SECONDS=${FIXED_SECONDS:-12}
TC=/usr/sbin/tc
mark() {
    echo "@@LAB-MARK $1" >/dev/console
    echo "$1 $(date +%s)" >>"$OUT/marks.txt"
}

lab_ipvs_reset
$MODPROBE nf_conntrack
lab_nic_up
echo 1 >/proc/sys/net/ipv4/ip_forward

# ------------------------------------------------------------------ the NAT director
lab_veth client vcl cl0
$IP addr add 10.0.0.1/24 dev vcl
$IP -n client addr add 10.0.0.2/24 dev cl0
$IP -n client route add default via 10.0.0.1
for n in 1 2 3; do
    lab_veth "rs$n" "vrs$n" rs0
    $IP addr add "10.1.$n.1/24" dev "vrs$n"
    $IP -n "rs$n" addr add "10.1.$n.2/24" dev rs0
    $IP -n "rs$n" route add default via "10.1.$n.1"
    mkdir -p "/srv/rs$n"
    echo "rs$n" >"/srv/rs$n/index.html"
    $IP netns exec "rs$n" httpd -p 80 -h "/srv/rs$n"
    # a listener that keeps every connection open (cat echoes, the client never sends)
    $IP netns exec "rs$n" nc -ll -p 9000 -e cat &
done
$IPVSADM -A -t 10.0.0.1:80 -s wrr
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.1.2:80 -m -w 1
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.2.2:80 -m -w 2
$IPVSADM -a -t 10.0.0.1:80 -r 10.1.3.2:80 -m -w 3
$IPVSADM -A -t 10.0.0.1:9000 -s rr
$IPVSADM -a -t 10.0.0.1:9000 -r 10.1.1.2:9000 -m -w 1
$IPVSADM -a -t 10.0.0.1:9000 -r 10.1.2.2:9000 -m -w 1

# a well configured director to start from: what doctor asks for
$EXPORTER doctor --emit-sysctl >"$OUT/good.sysctl" 2>"$OUT/good.sysctl.err" || true
sysctl -p "$OUT/good.sysctl" >"$OUT/sysctl-applied.txt"
set +e
$EXPORTER doctor >"$OUT/doctor-ready.txt" 2>&1
set -e

# the NIC only: ethtool on a dozen veth devices would double the guest's work per scrape
$EXPORTER --collector.netdev.device-include '^eth0$' >/dev/null 2>>"$OUT/exporter-director.log" &
echo $! >/tmp/exporter-director.pid

# ------------------------------------------------------------------ the keepalived pair
lab_vrrp_pair
keepalived_conf lb1 MASTER 150 "notify_fifo /run/lb1/notify.fifo" no-virtual-server
keepalived_conf lb2 BACKUP 100 "notify_fifo /run/lb2/notify.fifo" no-virtual-server
# pair_virtual_server NAME WEIGHT: the pair's virtual server, 10.9.0.52 at WEIGHT
pair_virtual_server() {
    cat >>"/etc/keepalived/$1.conf" <<EOF

virtual_server 10.9.0.100 80 {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 10.9.0.51 80 {
        weight 1
    }
    real_server 10.9.0.52 80 {
        weight $2
    }
}
EOF
    cp "/etc/keepalived/$1.conf" "$OUT/$1.conf"
}
pair_virtual_server lb1 2
pair_virtual_server lb2 3
# vrrp_view FILE: each of the pair as keepalived tells it (the last state it logged entering)
# and as the kernel does (whether the VIP is on its eth0)
vrrp_view() {
    : >"$1"
    for ns in lb1 lb2; do
        state=$(grep -o 'Entering [A-Z]* STATE' "$OUT/keepalived-$ns.log" | tail -n 1 | cut -d' ' -f2)
        if ka_has_vip "$ns"; then vip=holds-vip; else vip=no-vip; fi
        echo "$ns ${state:-none} $vip" >>"$1"
    done
}
# lb_weight_is NS WEIGHT: the kernel in NS has 10.9.0.52:80 at WEIGHT
lb_weight_is() { $IP netns exec "$1" $IPVSADM -Ln | grep -q "10.9.0.52:80 *Route *$2 "; }
# the tc filters that drop VRRP on lb2's link (clsact comes with sch_ingress)
$MODPROBE -a sch_ingress cls_u32 act_gact
rm -f /tmp/keepalived.json
# lb2's exporter alone signals keepalived for its JSON dump: both share the guest's /tmp.
# Inside a network namespace net.core.netdev_max_backlog and net.core.netdev_budget are not
# visible, and lb1 has no dump to tell keepalived's own view of its role and priority: the rules
# that need them are turned off there, as an operator would, so that they are not reported as
# rules that cannot be evaluated.
$IP netns exec lb1 $EXPORTER --keepalived.config-file /etc/keepalived/lb1.conf \
    --keepalived.pid-file /run/lb1/keepalived.pid --keepalived.notify-fifo /run/lb1/notify.fifo \
    --keepalived.json-file /run/lb1/no-dump.json --collector.vrrp.listen \
    --collector.netdev.device-include '^eth0$' \
    --advisor.disable netdev-max-backlog,netdev-budget,keepalived-vips-while-backup,vrrp-priority-degraded \
    >/dev/null 2>>"$OUT/exporter-lb1.log" &
$IP netns exec lb2 $EXPORTER --keepalived.config-file /etc/keepalived/lb2.conf \
    --keepalived.pid-file /run/lb2/keepalived.pid --keepalived.notify-fifo /run/lb2/notify.fifo \
    --keepalived.signal --collector.vrrp.listen --collector.netdev.device-include '^eth0$' \
    --advisor.disable netdev-max-backlog,netdev-budget \
    >/dev/null 2>>"$OUT/exporter-lb2.log" &
keepalived_start lb1
ka_wait "lb1 to hold the VIP" 30 ka_has_vip lb1
keepalived_start lb2
ka_wait "lb2 to enter BACKUP" 30 ka_logged lb2 "Entering BACKUP STATE"
ka_wait "lb1's keepalived to program its virtual server" 30 lb_weight_is lb1 2
ka_wait "lb2's keepalived to program its virtual server" 30 lb_weight_is lb2 3
# the pair are directors in their namespaces now: the IPVS settings doctor asks for there (the
# net.core ones are not visible in a namespace, and the pair's exporters do not judge them)
for ns in lb1 lb2; do
    $IP netns exec $ns $EXPORTER doctor --keepalived.config-file "/etc/keepalived/$ns.conf" \
        --emit-sysctl >"$OUT/doctor-$ns.sysctl" 2>"$OUT/doctor-$ns.sysctl.err" || true
    grep -v '^net\.core\.' "$OUT/doctor-$ns.sysctl" >"/tmp/good-$ns.sysctl" || true
    $IP netns exec $ns sysctl -p "/tmp/good-$ns.sysctl" >"$OUT/sysctl-applied-$ns.txt"
done

# relays from the root namespace's ports into the namespaces' exporters
nc -ll -p 9749 -e $IP netns exec lb1 nc 127.0.0.1 9748 &
echo $! >/tmp/relay-lb1.pid
nc -ll -p 9750 -e $IP netns exec lb2 nc 127.0.0.1 9748 &
echo $! >/tmp/relay-lb2.pid

ka_wait "the director's exporter" 120 timeout 5 wget -q -O /dev/null http://127.0.0.1:9748/metrics
ka_wait "lb1's exporter through its relay" 120 timeout 5 wget -q -O /dev/null http://127.0.0.1:9749/metrics
ka_wait "lb2's exporter through its relay" 120 timeout 5 wget -q -O /dev/null http://127.0.0.1:9750/metrics
for n in 1 2 3; do
    ka_wait "rs$n to answer" 20 $IP netns exec client timeout 2 wget -q -O /dev/null "http://10.1.$n.2/"
done

mark ready
sleep "$PHASE_SECONDS"

# ------------------------------------------------------------------ traffic
mark traffic
# about 1.5 requests a second through the wrr service, until the end (each request starts a
# process, which the emulated CPU pays dearly for: more would starve the exporters' scrapes)
$IP netns exec client sh -c 'while :; do wget -q -O /dev/null http://10.0.0.1/; usleep 600000; done' &
echo $! >/tmp/traffic.pid
# two connections held open: rr puts one on each real server of :9000. They come once the
# requests have been counted (IPVS folds its counters every 2 s): active connections beside
# counters that have not moved yet would be what IpvsCountersFrozen looks for
sleep 5
$IP netns exec client sh -c 'sleep 1000 | nc 10.0.0.1 9000' &
sleep 1
$IP netns exec client sh -c 'sleep 1000 | nc 10.0.0.1 9000' &
sleep "$PHASE_SECONDS"
$IPVSADM -Ln --stats >"$OUT/ipvsadm-traffic.txt"

# ------------------------------------------------------------------ drain
mark drain
$IPVSADM -e -t 10.0.0.1:9000 -r 10.1.2.2:9000 -m -w 0
sleep "$PHASE_SECONDS"
$IPVSADM -Ln >"$OUT/ipvsadm-drain.txt"

# ------------------------------------------------------------------ misconfiguration
mark misconfig
echo 0 >/proc/sys/net/ipv4/vs/expire_nodest_conn
# the kernel stops its rate estimates and, on this kernel, its counters too
echo 0 >/proc/sys/net/ipv4/vs/run_estimation
$IPVSADM -A -t 10.0.0.1:8081 -s rr
$IPVSADM -a -t 10.0.0.1:8081 -r 10.1.3.2:80 -m -w 0
sleep "$PHASE_SECONDS"
# the director's /report while it has findings, as a browser and as a program see it (kept for
# docs/images/report-screenshot.sh; a failed fetch is written down, not fatal to the phases)
for format in html json; do
    timeout 30 wget -q -O "$OUT/report-misconfig.$format" \
        "http://127.0.0.1:9748/report?format=$format" ||
        echo "wget of /report?format=$format failed: $?" >>"$OUT/report-misconfig.err"
done
set +e
$EXPORTER doctor >"$OUT/doctor-misconfig.txt" 2>&1
set -e

# ------------------------------------------------------------------ split brain
mark splitbrain
echo 1 >/proc/sys/net/ipv4/vs/expire_nodest_conn
echo 1 >/proc/sys/net/ipv4/vs/run_estimation
$IP netns exec lb2 $TC qdisc add dev eth0 clsact
for way in ingress egress; do
    $IP netns exec lb2 $TC filter add dev eth0 $way protocol ip prio 1 \
        u32 match ip protocol 112 0xff action drop
done
ka_wait "lb2 to hold the VIP beside lb1" 30 ka_has_vip lb2
ka_wait "lb2's keepalived to enter MASTER" 30 ka_logged lb2 "Entering MASTER STATE"
sleep 2
vrrp_view "$OUT/vrrp-splitbrain.txt"
for way in ingress egress; do
    echo "$way:"
    $IP netns exec lb2 $TC -s filter show dev eth0 $way
done >"$OUT/tc-splitbrain.txt"
$IPVSADM -Ln >"$OUT/ipvsadm-splitbrain.txt"
for ns in lb1 lb2; do
    $IP netns exec $ns $IPVSADM -Ln >"$OUT/ipvsadm-$ns-splitbrain.txt"
done
sleep "$SPLITBRAIN_SECONDS"

# ------------------------------------------------------------------ everything fixed
mark fixed
# lb2 hears lb1 first and goes back to BACKUP before its own adverts go out again: lb1 never
# hears a second master (its advisor would remember that advert for minutes, see
# vrrp-two-masters)
$IP netns exec lb2 $TC filter del dev eth0 ingress
ka_wait "lb2 to give the VIP up" 30 sh -c "! $IP -n lb2 -4 addr show dev eth0 | grep -q 'inet 10.9.0.100/'"
$IP netns exec lb2 $TC qdisc del dev eth0 clsact
# lb1's weight for 10.9.0.52, put in place in one rename and loaded at once
sed 's/^        weight 3$/        weight 2/' /etc/keepalived/lb2.conf >/etc/keepalived/lb2.conf.new
mv /etc/keepalived/lb2.conf.new /etc/keepalived/lb2.conf
kill -HUP "$(cat /run/lb2/keepalived.pid)"
cp /etc/keepalived/lb2.conf "$OUT/lb2-fixed.conf"
$IPVSADM -D -t 10.0.0.1:8081
$IPVSADM -e -t 10.0.0.1:9000 -r 10.1.2.2:9000 -m -w 1
ka_wait "lb2's keepalived to load its new weight" 30 lb_weight_is lb2 2
sleep 2
vrrp_view "$OUT/vrrp-fixed.txt"
$IPVSADM -Ln >"$OUT/ipvsadm-fixed.txt"
for ns in lb1 lb2; do
    $IP netns exec $ns $IPVSADM -Ln >"$OUT/ipvsadm-$ns-fixed.txt"
done
sleep "$FIXED_SECONDS"

# ------------------------------------------------------------------ VRRP failover
mark failover
kill "$(cat /run/lb1/keepalived.pid)"
ka_wait "lb2 to hold the VIP" 30 ka_has_vip lb2
sleep "$PHASE_SECONDS"

mark end
$IPVSADM -Ln --stats >"$OUT/ipvsadm-end.txt"
# a few more scrapes of the final state before the guest goes away
sleep 5
kill "$(cat /tmp/traffic.pid)" 2>/dev/null || true
for f in /tmp/relay-lb1.pid /tmp/relay-lb2.pid /tmp/exporter-director.pid; do
    kill "$(cat "$f")" 2>/dev/null || true
done
kill "$(cat /run/lb2/keepalived.pid)" 2>/dev/null || true
rm -f /tmp/keepalived.json
cat "$OUT"/exporter-*.log >"$OUT/exporter.log"
