#!/bin/sh
# checkers: keepalived's health checks against namespaced real servers, and what
# the exporter makes of them. A NAT director in namespace lb runs Debian's
# keepalived with two virtual servers (no VRRP: the checkers alone):
#
#   10.30.0.100:80 rr   rs1 10.30.1.2:80 TCP_CHECK, weight 1
#                       rs2 10.30.2.2:80 HTTP_GET, weight 2, inhibit_on_failure
#   10.30.0.101:80 wrr  quorum 2, sorry_server 10.30.4.2:80
#                       rs3 10.30.3.2:80 TCP_CHECK, rs1 10.30.1.2:8080 HTTP_GET
#
# busybox httpd serves each real server in its own namespace, on a veth of its
# own (10.30.N.1 on the director's side). delay_loop 2, connect_timeout 1,
# retry 1, delay_before_retry 1. Checkpoints (the exporter's /metrics and
# ipvsadm at one moment):
#   up/        all real servers up
#   down/      rs1:80 and rs2 stopped, once the exporter shows both down
#              (down-centiseconds.txt: how long that took)
#   restored/  both started again, once the exporter shows both up
#   quorum/    rs3 stopped: 10.30.0.101 below quorum 2, the sorry server in
#   manual/    a real server added to 10.30.0.100 with ipvsadm by hand; doctor's
#              JSON in doctor.json (exit code in doctor.code)
. /lab/lib.sh

lab_ipvs_reset
$MODPROBE -a ip_vs_rr ip_vs_wrr

lab_director 30 4
httpd_start rs1 80
httpd_start rs1 8080
httpd_start rs2 80
httpd_start rs3 80
httpd_start rs4 80

mkdir -p /etc/keepalived /run/lb
cat >/etc/keepalived/lb.conf <<EOF
global_defs {
    router_id lb
}

virtual_server 10.30.0.100 80 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.30.1.2 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 10.30.2.2 80 {
        weight 2
        inhibit_on_failure
        HTTP_GET {
            url {
                path /index.html
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}

virtual_server 10.30.0.101 80 {
    delay_loop 2
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    quorum 2
    sorry_server 10.30.4.2 80
    real_server 10.30.3.2 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 10.30.1.2 8080 {
        weight 1
        HTTP_GET {
            url {
                path /index.html
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
EOF
cp /etc/keepalived/lb.conf "$OUT/lb.conf"
$IP netns exec lb $KEEPALIVED -n -l -D -f /etc/keepalived/lb.conf \
    -p /run/lb/keepalived.pid -r /run/lb/vrrp.pid -c /run/lb/checkers.pid \
    >>"$OUT/keepalived-lb.log" 2>&1 &

# in_table SPEC: ipvsadm -Ln in lb lists a line matching SPEC
in_table() { $IP netns exec lb $IPVSADM -Ln | grep -q -- "$1"; }
ka_wait "keepalived's real servers in the table" 60 sh -c \
    "$IP netns exec lb $IPVSADM -Ln | grep -c -- '-> 10.30.' | grep -qx 4"

EXPORTER_ARGS="--keepalived.config-file /etc/keepalived/lb.conf --keepalived.pid-file /run/lb/keepalived.pid"
# shellcheck disable=SC2086
$IP netns exec lb $EXPORTER $EXPORTER_ARGS >>"$OUT/exporter.stdout" 2>>"$OUT/exporter.log" &
echo $! >/tmp/exporter.pid
LAB_NS=lb
lab_exporter_wait

# shows SERVICE_VIP REMOTE PORT STATE: the exporter has the real server in STATE
shows() {
    lab_scrape /tmp/checkers-scrape.txt &&
        grep -q "^ipvs_keepalived_real_server_state{proto=\"TCP\",local_address=\"$1\",local_port=\"80\",local_mark=\"\",virtual_server_group=\"\",remote_address=\"$2\",remote_port=\"$3\",state=\"$4\"} 1\$" /tmp/checkers-scrape.txt
}

all_up() {
    shows 10.30.0.100 10.30.1.2 80 up && shows 10.30.0.100 10.30.2.2 80 up &&
        shows 10.30.0.101 10.30.3.2 80 up && shows 10.30.0.101 10.30.1.2 8080 up
}
ka_wait "the exporter to show every real server up" 30 all_up
lab_checkpoint up

t0=$(ka_uptime_cs)
httpd_stop rs1 80
httpd_stop rs2 80
until shows 10.30.0.100 10.30.1.2 80 down && shows 10.30.0.100 10.30.2.2 80 down; do
    [ $(($(ka_uptime_cs) - t0)) -lt 3000 ] || { echo "lab: rs1/rs2 never shown down"; exit 1; }
    usleep 100000
done
t1=$(ka_uptime_cs)
echo $((t1 - t0)) >"$OUT/down-centiseconds.txt"
lab_checkpoint down

httpd_start rs1 80
httpd_start rs2 80
until shows 10.30.0.100 10.30.1.2 80 up && shows 10.30.0.100 10.30.2.2 80 up; do
    [ $(($(ka_uptime_cs) - t1)) -lt 3000 ] || { echo "lab: rs1/rs2 never shown up again"; exit 1; }
    usleep 100000
done
lab_checkpoint restored

httpd_stop rs3 80
ka_wait "the sorry server in the table" 30 in_table '-> 10.30.4.2:80'
# keepalived changes the table in more than one step: let it finish
sleep 1
lab_checkpoint quorum

$IP netns exec lb $IPVSADM -a -t 10.30.0.100:80 -r 10.30.1.2:8080 -m -w 1
lab_checkpoint manual
code=0
# shellcheck disable=SC2086
$IP netns exec lb $EXPORTER doctor --format json $EXPORTER_ARGS \
    >"$OUT/manual/doctor.json" 2>>"$OUT/exporter.log" || code=$?
echo "$code" >"$OUT/manual/doctor.code"

lab_exporter_stop
kill "$(cat /run/lb/keepalived.pid)" 2>/dev/null || true
for f in /tmp/httpd-*.pid; do kill "$(cat "$f")" 2>/dev/null || true; done
