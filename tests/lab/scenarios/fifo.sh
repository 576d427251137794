#!/bin/sh
# fifo: keepalived's notify FIFO as the exporter reads it across a stop and a
# start that replaces the FIFO, then a configuration whose FIFO keepalived
# ignores.
#
# One director lb1 (alone on its link: it becomes MASTER by itself) runs
# keepalived with notify_fifo /run/lb1/notify.fifo, a FIFO made beforehand so
# that keepalived leaves it on disk when it stops. Its exporter reads the FIFO
# (--keepalived.notify-fifo). keepalived is stopped, the FIFO replaced (rm +
# mkfifo, as a restart that makes it again would), and keepalived started
# again: the exporter must read the new FIFO.
#
# Then lb1's configuration has enable_script_security and no script_user, and
# the guest has no keepalived_script user: keepalived ignores the notify_fifo.
# keepalived -t, a start of keepalived, doctor, and an exporter waiting for
# that FIFO are recorded.
#
# Checkpoints: first/, stopped/, restarted/ (metrics.txt, keepalived.log with
# keepalived's own lines so far), ignored/ (configtest.code, configtest.txt,
# doctor.json, fifo-made.txt, exporter.log, keepalived.log).
. /lab/lib.sh

lab_vrrp_pair
keepalived_conf lb1 MASTER 150 "notify_fifo /run/lb1/notify.fifo" no-virtual-server
mkfifo -m 0600 /run/lb1/notify.fifo

$IP netns exec lb1 $EXPORTER --keepalived.config-file /etc/keepalived/lb1.conf \
    --keepalived.pid-file /run/lb1/keepalived.pid \
    --keepalived.notify-fifo /run/lb1/notify.fifo \
    >/dev/null 2>>"$OUT/exporter.log" &
echo $! >/tmp/exporter.pid
ka_wait "the exporter in lb1" 120 $IP netns exec lb1 timeout 5 wget -q -O /dev/null "$EXPORTER_URL"

# fifo_shows NAME MASTERS CONNECTED: the scrape counts MASTERS changes into
# MASTER and says the FIFO is connected or not
fifo_shows() {
    ka_scrape lb1 /tmp/fifo-scrape.txt &&
        grep -q "^ipvs_vrrp_transitions_total{vrrp_instance=\"VI_1\",state=\"MASTER\"} $1\$" /tmp/fifo-scrape.txt &&
        grep -q "^ipvs_keepalived_notify_fifo_connected $2\$" /tmp/fifo-scrape.txt
}
# fifo_checkpoint NAME: the scrape and keepalived's log so far
fifo_checkpoint() {
    mkdir -p "$OUT/$1"
    ka_scrape lb1 "$OUT/$1/metrics.txt"
    cp "$OUT/keepalived-lb1.log" "$OUT/$1/keepalived.log"
}
masters_logged() { [ "$(grep -c 'Entering MASTER STATE' "$OUT/keepalived-lb1.log")" -eq "$1" ]; }

keepalived_start lb1
ka_wait "lb1 to enter MASTER" 30 masters_logged 1
ka_wait "the exporter to count it" 20 fifo_shows 1 1
fifo_checkpoint first

ka=$(cat /run/lb1/keepalived.pid)
kill "$ka"
ka_wait "lb1's keepalived to exit" 20 sh -c "! kill -0 $ka 2>/dev/null"
[ -p /run/lb1/notify.fifo ]
ka_wait "the exporter to see no writer" 10 fifo_shows 1 0
fifo_checkpoint stopped

# a start that makes the FIFO again
rm /run/lb1/notify.fifo
mkfifo -m 0600 /run/lb1/notify.fifo
keepalived_start lb1
ka_wait "lb1 to enter MASTER again" 30 masters_logged 2
ka_wait "the exporter to count it on the new FIFO" 20 fifo_shows 2 1
fifo_checkpoint restarted

ka=$(cat /run/lb1/keepalived.pid)
kill "$ka"
ka_wait "lb1's keepalived to exit" 20 sh -c "! kill -0 $ka 2>/dev/null"
lab_exporter_stop

# --- a FIFO keepalived ignores: enable_script_security, no script_user, no
# keepalived_script user in the guest's /etc/passwd
mkdir -p "$OUT/ignored"
grep -c '^keepalived_script:' /etc/passwd >"$OUT/ignored/keepalived_script-users.txt" || true
cat >/etc/keepalived/ignored.conf <<'CONF'
global_defs {
    router_id lb1
    enable_script_security
    notify_fifo /run/lb1/ignored.fifo
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.9.0.100/24
    }
}
CONF
cp /etc/keepalived/ignored.conf "$OUT/ignored/keepalived.conf"
rm -f /run/lb1/ignored.fifo
code=0
$IP netns exec lb1 $KEEPALIVED -t -f /etc/keepalived/ignored.conf >"$OUT/ignored/configtest.txt" 2>&1 || code=$?
echo "$code" >"$OUT/ignored/configtest.code"
code=0
$IP netns exec lb1 $EXPORTER doctor --format json \
    --keepalived.config-file /etc/keepalived/ignored.conf \
    --keepalived.pid-file /run/lb1/keepalived.pid >"$OUT/ignored/doctor.json" 2>"$OUT/ignored/doctor.err" || code=$?
echo "$code" >"$OUT/ignored/doctor.code"

# the exporter waits for the FIFO and says why it is missing; keepalived starts without making it
$IP netns exec lb1 $EXPORTER --keepalived.config-file /etc/keepalived/ignored.conf \
    --keepalived.pid-file /run/lb1/ignored.pid \
    --keepalived.notify-fifo /run/lb1/ignored.fifo \
    >/dev/null 2>>"$OUT/ignored/exporter.log" &
echo $! >/tmp/exporter.pid
ka_wait "the exporter in lb1" 120 $IP netns exec lb1 timeout 5 wget -q -O /dev/null "$EXPORTER_URL"
$IP netns exec lb1 $KEEPALIVED -n -l -D -f /etc/keepalived/ignored.conf \
    -p /run/lb1/ignored.pid -r /run/lb1/ignored-vrrp.pid -c /run/lb1/ignored-checkers.pid \
    >>"$OUT/ignored/keepalived.log" 2>&1 &
ka_wait "the second keepalived to start" 30 grep -q "Startup complete" "$OUT/ignored/keepalived.log"
if [ -e /run/lb1/ignored.fifo ]; then echo yes; else echo no; fi >"$OUT/ignored/fifo-made.txt"
ka_scrape lb1 "$OUT/ignored/metrics.txt"
ka=$(cat /run/lb1/ignored.pid)
kill "$ka"
ka_wait "the second keepalived to exit" 20 sh -c "! kill -0 $ka 2>/dev/null"
lab_exporter_stop
cat "$OUT/ignored/exporter.log" >>"$OUT/exporter.log"
