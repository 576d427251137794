#!/bin/sh
# conformance: real keepalived, one configuration shape at a time, and what the exporter
# expects keepalived to program. A NAT director lb (a namespace) reaches three real-server
# namespaces rs1..rs3 over veths (10.40.N.1/24 and fd40:N::1/64 on its side, .2 and ::2 on
# theirs; rs1 also holds 10.40.1.3..11); busybox httpd serves ports 25, 80, 443, 1358 and
# 8080 in each. Every shape is a keepalived.conf of its own (shapes/*.conf, written below:
# keepalived's doc/samples that describe an LVS set-up, adapted to these addresses and to the
# checkers the guest can answer, and the shapes that keepalived's source treats apart: ports
# under NAT, DR and TUN, firewall marks of both families, groups with ranges, weights,
# inhibit_on_failure, alpha, sorry servers, persistence with a netmask, UDP, SCTP, ops).
#
# For each shape NAME, in NAME/: keepalived.conf, configtest.txt and configtest.code
# (keepalived -t), keepalived.log, and once the table has settled (the same `ipvsadm -Sn`
# for 2.5 s): ipvsadm.txt (-Ln --exact), ipvsadm-save.txt (-Sn), doctor.json and doctor.code
# (the exporter's doctor with that configuration and keepalived's pid file).
#
# Then the shape `break`, in checkpoints break/healthy, break/server-down (one real server's
# service stopped: keepalived removes it, quorum holds) and break/quorum-lost (a second one:
# below quorum 2, the sorry server in).
#
# About 150 s on a quiet two-core host (25 shapes, each settled for 2.5 s); the line below is
# read by run.sh and gives it twice that:
# lab-timeout: 300
. /lab/lib.sh

lab_ipvs_reset
$MODPROBE -a sctp

lab_director 40 3
# the director forwards IPv6 too (NAT services of IPv6 need it; doctor says so otherwise)
$IP netns exec lb sysctl -qw net.ipv6.conf.all.forwarding=1
for n in 1 2 3; do
    $IP -n lb addr add "fd40:$n::1/64" dev "c$n" nodad
    $IP -n "rs$n" addr add "fd40:$n::2/64" dev "r$n" nodad
done
for i in 3 4 5 6 7 8 9 10 11; do $IP -n rs1 addr add "10.40.1.$i/24" dev r1; done

for n in 1 2 3; do
    for port in 25 80 443 1358 8080; do httpd_start "rs$n" "$port"; done
done

mkdir -p /etc/keepalived/shapes /run/lb

# A checker that answers quickly; HTTP_CHECK the same over HTTP.
TCP_CHECK='TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }'
HTTP_CHECK='HTTP_GET {
            url {
                path /index.html
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }'

# shape NAME: the configuration is on standard input
shape_conf() { cat >"/etc/keepalived/shapes/$1.conf"; }

# ---------------------------------------------------------------- keepalived's samples
# keepalived.conf.sample: NAT, persistence, a sorry server, HTTP_GET
shape_conf sample <<EOF
virtual_server 10.41.1.2 1358 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    sorry_server 10.40.3.2 1358
    real_server 10.40.1.2 1358 {
        weight 1
        $HTTP_CHECK
    }
}
EOF
# keepalived.conf.virtual_server_group: addresses on three ports, a range and two marks
# under NAT, the real servers on 1358
shape_conf virtual-server-group <<EOF
virtual_server_group VSG_1 {
    10.41.2.1 8080
    10.41.2.2 80
    10.41.2.3 1358
    10.41.2.10-12 80
    fwmark 1
    fwmark 2
}
virtual_server group VSG_1 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 10.40.1.2 1358 {
        weight 1
        $HTTP_CHECK
    }
    real_server 10.40.2.2 1358 {
        weight 1
        $HTTP_CHECK
    }
}
EOF
# keepalived.conf.fwmark: a mark under NAT, real servers without a port
shape_conf fwmark <<EOF
virtual_server fwmark 1 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 900
    protocol TCP
    real_server 10.40.1.2 {
        weight 1
        TCP_CHECK {
            connect_port 80
            connect_timeout 1
        }
    }
    real_server 10.40.2.2 {
        weight 1
        TCP_CHECK {
            connect_port 80
            connect_timeout 1
        }
    }
}
EOF
# keepalived.conf.inhibit
shape_conf inhibit <<EOF
virtual_server 10.41.4.1 1358 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 10.40.1.2 1358 {
        weight 1
        inhibit_on_failure
        $HTTP_CHECK
    }
}
EOF
# keepalived.conf.quorum: alpha, omega, quorum 7 with hysteresis 2 over ten real servers
{
    cat <<EOF
virtual_server 10.41.5.1 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 900
    protocol TCP
    alpha
    omega
    quorum 7
    hysteresis 2
    quorum_up /bin/true
    quorum_down /bin/true
EOF
    for i in 2 3 4 5 6 7 8 9 10 11; do
        cat <<EOF
    real_server 10.40.1.$i 8080 {
        weight 1
        $TCP_CHECK
    }
EOF
    done
    echo "}"
} | shape_conf quorum
# keepalived.conf.IPv6: an IPv6 group beside an IPv6 virtual server that does not use it
shape_conf ipv6 <<EOF
virtual_server_group IPv6_group {
    fd41:6::2-9 80
    fd41:6::1 80
}
virtual_server fd41:6::1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server fd40:1::2 25 {
        weight 1
        $TCP_CHECK
    }
}
EOF
# keepalived.conf.SSL_GET and .HTTP_GET.port: two services of one address (the SSL check
# is a TCP check here)
shape_conf ssl-get <<EOF
virtual_server 10.41.7.1 443 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 10.40.1.2 443 {
        weight 1
        $TCP_CHECK
    }
}
virtual_server 10.41.7.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 10.40.1.2 80 {
        weight 1
        $HTTP_CHECK
    }
}
EOF
# keepalived.conf.UDP_CHECK: a UDP service (no check: nothing answers UDP here)
shape_conf udp-check <<EOF
virtual_server 10.41.8.1 1358 {
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol UDP
    real_server 10.40.1.2 1358 {
        weight 1
    }
}
EOF
# keepalived.conf.PING_CHECK
shape_conf ping-check <<EOF
virtual_server 10.41.9.1 1358 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol UDP
    real_server 10.40.2.2 1358 {
        weight 1
        PING_CHECK {
            retry 1
        }
    }
}
EOF
# keepalived.conf.misc_check
shape_conf misc-check <<EOF
virtual_server 10.41.10.1 1358 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 10.40.1.2 1358 {
        weight 1
        MISC_CHECK {
            misc_path "/bin/true"
            misc_timeout 5
        }
    }
}
EOF
# keepalived.conf.SMTP_CHECK: three real servers, no persistence (TCP checks here)
shape_conf smtp-check <<EOF
virtual_server 10.41.11.1 25 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.40.1.2 25 {
        weight 1
        $TCP_CHECK
    }
    real_server 10.40.2.2 25 {
        weight 1
        $TCP_CHECK
    }
    real_server 10.40.3.2 25 {
        weight 1
        $TCP_CHECK
    }
}
EOF
# keepalived.conf.vrrp.lvs_syncd: its virtual server (this director runs the checkers only)
shape_conf lvs-syncd <<EOF
virtual_server 10.41.12.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 10.40.3.2 80 {
        weight 1
        $TCP_CHECK
    }
}
EOF
# keepalived.conf.virtualhost and .status_code: HTTP_GET with a virtual host
shape_conf virtualhost <<EOF
virtual_server 10.41.13.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    virtualhost www.example.com
    real_server 10.40.2.2 80 {
        weight 1
        HTTP_GET {
            url {
                path /index.html
                status_code 200-299
            }
            connect_timeout 1
        }
    }
}
EOF

# ---------------------------------------------------------------- shapes from the source
# NAT under a firewall mark and in a group keeps the real server's own port
shape_conf fwmark-nat-port <<EOF
virtual_server fwmark 5 {
    lb_algo rr
    lb_kind NAT
    real_server 10.40.1.2 8080 {
        weight 1
    }
    real_server 10.40.2.2 8080 {
        weight 2
    }
}
virtual_server_group NATGROUP {
    fwmark 6
    10.41.14.1 80
}
virtual_server group NATGROUP {
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 10.40.3.2 8080 {
        weight 1
    }
}
EOF
# DR gives every real server the service's port (0 under a mark)
shape_conf dr-port <<EOF
virtual_server 10.41.15.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.40.1.2 8080 {
        weight 1
    }
    real_server 10.40.2.2 {
        weight 1
    }
}
virtual_server_group DRGROUP {
    10.41.15.2 80
    10.41.15.3 443
    fwmark 15
}
virtual_server group DRGROUP {
    lb_algo sh
    lb_kind DR
    protocol TCP
    real_server 10.40.3.2 8080 {
        weight 1
    }
}
EOF
# TUN likewise
shape_conf tun-port <<EOF
virtual_server 10.41.16.1 80 {
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server 10.40.1.2 8080 {
        weight 1
    }
}
virtual_server fwmark 16 {
    lb_algo rr
    lb_kind TUN
    real_server 10.40.2.2 8080 {
        weight 1
    }
}
EOF
# one mark for IPv4 and for IPv6; a group's mark with its family
shape_conf fwmark-both-families <<EOF
virtual_server fwmark 17 {
    lb_algo rr
    lb_kind NAT
    real_server 10.40.1.2 80 {
        weight 1
    }
}
virtual_server fwmark 17 {
    ip_family inet6
    lb_algo wlc
    lb_kind NAT
    real_server fd40:1::2 80 {
        weight 1
    }
}
virtual_server_group V6MARK {
    fwmark 18 inet6
}
virtual_server group V6MARK {
    lb_algo rr
    lb_kind DR
    real_server fd40:2::2 80 {
        weight 1
    }
}
EOF
# ranges: the last octet, a whole end address, a block by netmask
shape_conf group-ranges <<EOF
virtual_server_group RANGES {
    10.41.18.1-3 80
    10.41.18.10-10.41.18.12 80
    10.41.18.32/30 80
    fwmark 19 inet
}
virtual_server group RANGES {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.40.1.2 80 {
        weight 1
    }
}
EOF
# the virtual server's weight as the default, a real server of weight 0
shape_conf weights <<EOF
virtual_server 10.41.19.1 80 {
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    weight 3
    real_server 10.40.1.2 80 {
    }
    real_server 10.40.2.2 80 {
        weight 0
    }
    real_server 10.40.3.2 80 {
        weight 7
        $TCP_CHECK
    }
}
EOF
# alpha and inhibit_on_failure, healthy
shape_conf alpha-inhibit <<EOF
virtual_server 10.41.20.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    inhibit_on_failure
    real_server 10.40.1.2 80 {
        weight 2
        $TCP_CHECK
    }
    real_server 10.40.2.2 80 {
        weight 1
        inhibit_on_failure false
        $TCP_CHECK
    }
}
EOF
# sorry servers while quorum holds: absent, or kept at weight 0 (sorry_server_inhibit), by DR
shape_conf sorry-inactive <<EOF
virtual_server 10.41.21.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 2
    sorry_server 10.40.3.2 8080
    real_server 10.40.1.2 80 {
        weight 1
        $TCP_CHECK
    }
    real_server 10.40.2.2 80 {
        weight 1
        $TCP_CHECK
    }
}
virtual_server 10.41.21.2 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    sorry_server 10.40.3.2 8080
    sorry_server_inhibit
    sorry_server_lvs_method DR
    real_server 10.40.1.2 8080 {
        weight 1
    }
}
EOF
# persistence with a granularity (IPv4 mask, IPv6 prefix), and port 0 (persistent)
shape_conf persistence-netmask <<EOF
virtual_server 10.41.22.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    persistence_timeout 120
    persistence_granularity 255.255.255.0
    real_server 10.40.1.2 80 {
        weight 1
    }
}
virtual_server fd41:22::1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    persistence_granularity 64
    real_server fd40:1::2 80 {
        weight 1
    }
}
virtual_server 10.41.22.3 0 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.40.2.2 80 {
        weight 1
    }
}
EOF
# UDP, SCTP, one-packet scheduling, and no protocol at all (keepalived makes it UDP)
shape_conf protocols-ops <<EOF
virtual_server 10.41.23.1 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    ops
    real_server 10.40.1.2 53 {
        weight 1
    }
}
virtual_server 10.41.23.2 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    ops
    real_server 10.40.1.2 80 {
        weight 1
    }
}
virtual_server 10.41.23.3 9999 {
    lb_algo rr
    lb_kind NAT
    protocol SCTP
    real_server 10.40.2.2 9999 {
        weight 1
    }
}
virtual_server fwmark 23 {
    lb_algo rr
    lb_kind DR
    ops
    real_server 10.40.2.2 {
        weight 1
    }
}
virtual_server 10.41.23.4 5000 {
    lb_algo rr
    lb_kind NAT
    real_server 10.40.3.2 5000 {
        weight 1
    }
}
EOF
# a forwarding method per real server, IPv6 under DR
shape_conf mixed-methods <<EOF
virtual_server 10.41.24.1 80 {
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    real_server 10.40.1.2 8080 {
        weight 1
    }
    real_server 10.40.2.2 8080 {
        weight 1
        lvs_method DR
    }
    real_server 10.40.3.2 8080 {
        weight 1
        lvs_method TUN
    }
}
virtual_server fd41:24::1 443 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server fd40:2::2 8443 {
        weight 4
    }
}
EOF

# ---------------------------------------------------------------- running a shape

# ka_table_settled: the same `ipvsadm -Sn` for 2.5 s (keepalived adds real servers as their
# first checks pass), and not empty
ka_table_settled() {
    last=
    same=0
    i=0
    while [ $i -lt 300 ]; do
        table=$($IP netns exec lb $IPVSADM -Sn)
        now=$(echo "$table" | md5sum)
        if [ -n "$table" ] && [ "$now" = "$last" ]; then
            same=$((same + 1))
            [ $same -ge 5 ] && return 0
        else
            same=0
        fi
        last=$now
        usleep 500000
        i=$((i + 1))
    done
    echo "lab: the table never settled"
    return 1
}

# ka_stop: keepalived and all its children gone (they would go on logging), the table empty
ka_stop() {
    pid=$(cat /run/lb/keepalived.pid 2>/dev/null || true)
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    i=0
    while pidof keepalived >/dev/null && [ $i -lt 300 ]; do
        usleep 100000
        i=$((i + 1))
    done
    if pidof keepalived >/dev/null; then
        echo "lab: keepalived did not stop within 30 s"
        return 1
    fi
    rm -f /run/lb/*.pid
    $IP netns exec lb $IPVSADM -C
}

# capture DIR: the table and the exporter's doctor at one moment
capture() {
    mkdir -p "$1"
    $IP netns exec lb $IPVSADM -Ln --exact >"$1/ipvsadm.txt"
    $IP netns exec lb $IPVSADM -Sn >"$1/ipvsadm-save.txt"
    code=0
    $IP netns exec lb $EXPORTER doctor --format json \
        --keepalived.config-file "$CONF" --keepalived.pid-file /run/lb/keepalived.pid \
        >"$1/doctor.json" 2>>"$OUT/exporter.log" || code=$?
    echo "$code" >"$1/doctor.code"
    # the table again: the checks tell a table that moved from an exporter that is wrong
    $IP netns exec lb $IPVSADM -Sn >"$1/ipvsadm-save-after.txt"
}

# run_shape NAME: keepalived -t, then keepalived with the checkers only, settled, captured
run_shape() {
    CONF=/etc/keepalived/shapes/$1.conf
    dir=$OUT/$1
    mkdir -p "$dir"
    cp "$CONF" "$dir/keepalived.conf"
    code=0
    $IP netns exec lb $KEEPALIVED -t -l -G -D -f "$CONF" >"$dir/configtest.txt" 2>&1 || code=$?
    echo "$code" >"$dir/configtest.code"
    # -G: no syslog, whose fallback writes to the console that carries the results
    $IP netns exec lb $KEEPALIVED -n -l -G -D -C -f "$CONF" \
        -p /run/lb/keepalived.pid -c /run/lb/checkers.pid >"$dir/keepalived.log" 2>&1 &
    ka_wait "keepalived's pid file ($1)" 30 test -s /run/lb/keepalived.pid
    ka_table_settled
    capture "$dir"
}

for conf in /etc/keepalived/shapes/*.conf; do
    name=$(basename "$conf" .conf)
    t0=$(ka_uptime_cs)
    run_shape "$name"
    ka_stop
    echo "$name" >>"$OUT/shapes.txt"
    # centiseconds the shape took, for the record
    echo "$name $(($(ka_uptime_cs) - t0))" >>"$OUT/shape-centiseconds.txt"
done

# ---------------------------------------------------------------- breaking one
shape_conf break <<EOF
virtual_server 10.41.30.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.40.1.2 80 {
        weight 1
        $TCP_CHECK
    }
    real_server 10.40.2.2 80 {
        weight 1
        $TCP_CHECK
    }
}
virtual_server fwmark 30 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    quorum 2
    sorry_server 10.40.3.2 1358
    real_server 10.40.1.2 8080 {
        weight 1
        $TCP_CHECK
    }
    real_server 10.40.2.2 8080 {
        weight 1
        $TCP_CHECK
    }
}
EOF
run_shape break
mkdir -p "$OUT/break/healthy"
mv "$OUT/break/ipvsadm.txt" "$OUT/break/ipvsadm-save.txt" "$OUT/break/ipvsadm-save-after.txt" \
    "$OUT/break/doctor.json" "$OUT/break/doctor.code" "$OUT/break/healthy/"

in_table() { $IP netns exec lb $IPVSADM -Ln | grep -q -- "$1"; }
httpd_stop rs2 80
ka_wait "10.40.2.2:80 out of the table" 30 sh -c "! $IP netns exec lb $IPVSADM -Ln | grep -q -- '-> 10.40.2.2:80 '"
sleep 1
capture "$OUT/break/server-down"

httpd_stop rs2 8080
ka_wait "the sorry server in the table" 30 in_table '-> 10.40.3.2:1358'
# keepalived changes the table in more than one step: let it finish
sleep 1
capture "$OUT/break/quorum-lost"
ka_stop

for f in /tmp/httpd-*.pid; do kill "$(cat "$f")" 2>/dev/null || true; done
