#!/bin/sh
# drain: a NAT service in front of two namespaced real servers, each running a
# busybox nc server that keeps every connection open (nc -ll -e cat), and a
# client namespace holding four TCP connections open through the VIP. rs1's
# weight is set to 0 with ipvsadm -e; wait-drained keeps waiting while the
# clients hold on (exit 1 after a short timeout), says 2 for rs2 (weight 1)
# and for a real server the service lacks, and exits 0 once the clients close.
#
#   client 10.0.0.2  --  10.0.0.1 director  --  10.1.N.2 rsN (N = 1, 2)
#   TCP 10.0.0.1:9000 rr: rs1 w1, rs2 w1
. /lab/lib.sh

lab_ipvs_reset
echo 1 >/proc/sys/net/ipv4/ip_forward

# the namespaces' ends are not called eth0: the guest's own NIC may have that name
lab_veth client vcl cl0
$IP addr add 10.0.0.1/24 dev vcl
$IP -n client addr add 10.0.0.2/24 dev cl0
$IP -n client route add default via 10.0.0.1
for n in 1 2; do
    lab_veth "rs$n" "vrs$n" "rs${n}0"
    $IP addr add "10.1.$n.1/24" dev "vrs$n"
    $IP -n "rs$n" addr add "10.1.$n.2/24" dev "rs${n}0"
    $IP -n "rs$n" route add default via "10.1.$n.1"
    $IP netns exec "rs$n" nc -ll -p 9000 -e /bin/cat &
done

$IPVSADM -A -t 10.0.0.1:9000 -s rr
$IPVSADM -a -t 10.0.0.1:9000 -r 10.1.1.2:9000 -m -w 1
$IPVSADM -a -t 10.0.0.1:9000 -r 10.1.2.2:9000 -m -w 1

lab_exporter_start

# wait until each real server answers directly
for n in 1 2; do
    i=0
    until echo ping | $IP netns exec client timeout 2 nc "10.1.$n.2" 9000 | grep -q ping; do
        i=$((i + 1))
        [ $i -lt 50 ] || exit 1
        usleep 100000
    done
done

# four clients that hold their connection open (rr: two on each real server)
for i in 1 2 3 4; do
    # the pipeline runs inside the namespace, so that killing its processes ends it all
    $IP netns exec client sh -c 'sleep 3600 | nc 10.0.0.1 9000 >/dev/null' &
    usleep 200000
done
active() { # REAL: ActiveConn of REAL in ipvsadm -Ln
    $IPVSADM -Ln | awk -v r="$1" '$1 == "->" && $2 == r { print $5 }'
}
i=0
until [ "$(active 10.1.1.2:9000)" = 2 ] && [ "$(active 10.1.2.2:9000)" = 2 ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { $IPVSADM -Ln; exit 1; }
    usleep 100000
done

# rs1 drains: no new connections, its two stay
$IPVSADM -e -t 10.0.0.1:9000 -r 10.1.1.2:9000 -m -w 0
lab_quiet
lab_checkpoint draining
$EXPORTER doctor --format json >"$OUT/doctor-draining.json" || true
$EXPORTER doctor --format text >"$OUT/doctor-draining.txt" || true

run_wait() { # NAME ARGS...: wait-drained, its stdout, stderr and exit code
    name=$1
    shift
    rc=0
    $EXPORTER wait-drained "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || rc=$?
    echo "$rc" >"$OUT/$name.code"
}
# the clients still hold on: a short timeout runs out
run_wait wait-busy --real-server 10.1.1.2:9000 --timeout 3s
# rs2 has weight 1: draining never started
run_wait wait-serving --real-server 10.1.2.2:9000 --timeout 3s
# a real server the service does not have
run_wait wait-absent --real-server 10.1.1.2:9001 --service tcp:10.0.0.1:9000 --timeout 3s

# wait in the background, then let the clients go
rc=0
$EXPORTER wait-drained --real-server 10.1.1.2:9000 --service tcp:10.0.0.1:9000 \
    --timeout 120s >"$OUT/wait-close.out" 2>"$OUT/wait-close.err" &
waiter=$!
sleep 3
if kill -0 "$waiter" 2>/dev/null; then echo yes >"$OUT/waiting-before-close.txt"; fi
$IPVSADM -Ln >"$OUT/ipvsadm-before-close.txt"
for pid in $($IP netns pids client); do kill "$pid" 2>/dev/null || true; done
wait "$waiter" || rc=$?
echo "$rc" >"$OUT/wait-close.code"
lab_quiet
lab_checkpoint drained
$EXPORTER doctor --format text >"$OUT/doctor-drained.txt" || true

# A second drain, for the estimate: six clients on rs1 alone through another
# service, its weight set to 0, then the clients closed one at a time with a
# scrape after each (the exporter keeps the active connections it saw at each
# scrape). /proc/uptime is read just before each scrape, ipvsadm around it.
$IPVSADM -A -t 10.0.0.1:9100 -s rr
$IPVSADM -a -t 10.0.0.1:9100 -r 10.1.1.2:9000 -m -w 1
holders=
for i in 1 2 3 4 5 6; do
    # nc runs sleep on the connection: killing that one process closes it
    $IP netns exec client nc 10.0.0.1 9100 -e /bin/sleep 3600 &
    holders="$holders $!"
done
active9100() { $IPVSADM -Ln -t 10.0.0.1:9100 | awk '$1 == "->" && $2 == "10.1.1.2:9000" { print $5 }'; }
i=0
until [ "$(active9100)" = 6 ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { $IPVSADM -Ln; exit 1; }
    usleep 100000
done
$IPVSADM -e -t 10.0.0.1:9100 -r 10.1.1.2:9000 -m -w 0
step=0
for pid in $holders; do
    mkdir -p "$OUT/estimate-$step"
    cut -d' ' -f1 /proc/uptime >"$OUT/estimate-$step/uptime.txt"
    $IPVSADM -Ln >"$OUT/estimate-$step/ipvsadm.txt"
    lab_scrape "$OUT/estimate-$step/metrics.txt"
    $IPVSADM -Ln >"$OUT/estimate-$step/ipvsadm-after.txt"
    [ $step -lt 3 ] || break
    kill "$pid"
    sleep 1
    step=$((step + 1))
done
