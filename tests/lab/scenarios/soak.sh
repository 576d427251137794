#!/bin/sh
# soak: one exporter serves 8 scrapers that scrape /metrics back to back while a loop removes and
# adds about 200 services a second, for SOAK_SECONDS (default 300; IPVS_LAB_SOAK_SECONDS on the
# host sets it). Six scrapers ask for the classic text format, two for OpenMetrics; all accept
# gzip, as Prometheus does, and the body is kept as it arrived.
#
# The table: 10 fixed services of 2 real servers each, and two sets A and B of 25 services of one
# real server each; each batch (one ipvsadm --restore) deletes one set and adds the other, so the
# table always holds about 35 services and every batch removes 25 services and adds 25. The loop
# asks for 8 batches a second; on an emulated CPU shared with the scrapers it gets what it can,
# and churn.txt says what that was.
#
# Written: status-N.txt per scraper (one line per scrape: uptime in centiseconds, scrape number,
# wget's exit status), kept/sN-I.gz (KEEP_PER_SCRAPER bodies of each scraper, the first scrape
# after each of as many even ticks over the run: every body would be too much to send over the
# serial console), samples.txt (every 3 s: uptime cs, VmRSS kB, threads, open fds), idle-before.txt and
# idle-after.txt (the same at rest, before the scrapers start and 12 s after they stopped, when
# the runtime's idle blocking threads have ended),
# churn.txt (batches done, batches failed, seconds) and settings.txt.
#
# lab-timeout: 480
. /lab/lib.sh

SOAK_SECONDS=300
if [ -f /lab/env ]; then . /lab/env; fi
BATCHES_PER_SECOND=8
SET_SIZE=25
KEEP_PER_SCRAPER=40
KEEP_CS=$((SOAK_SECONDS * 100 / KEEP_PER_SCRAPER))
SCRAPERS=8
echo "seconds=$SOAK_SECONDS batches_per_second=$BATCHES_PER_SECOND set_size=$SET_SIZE keep_per_scraper=$KEEP_PER_SCRAPER scrapers=$SCRAPERS" >"$OUT/settings.txt"

lab_ipvs_reset
S=/tmp/soak
mkdir -p $S "$OUT/kept"

# the fixed table
i=1
while [ $i -le 10 ]; do
    echo "-A -t 10.40.0.$i:80 -s wrr"
    echo "-a -t 10.40.0.$i:80 -r 10.49.1.$i:80 -m -w 1"
    echo "-a -t 10.40.0.$i:80 -r 10.49.2.$i:80 -m -w 2"
    i=$((i + 1))
done >$S/fixed
# sets A and B
for set in A B; do
    net=41
    [ $set = A ] || net=42
    i=1
    while [ $i -le $SET_SIZE ]; do
        echo "-A -t 10.$net.0.$i:80 -s rr" >>$S/add-$set
        echo "-a -t 10.$net.0.$i:80 -r 10.49.0.$i:8080 -m -w 1" >>$S/add-$set
        echo "-D -t 10.$net.0.$i:80" >>$S/del-$set
        i=$((i + 1))
    done
done
cat $S/del-A $S/add-B >$S/to-B
cat $S/del-B $S/add-A >$S/to-A
$IPVSADM -R <$S/fixed
$IPVSADM -R <$S/add-A

lab_exporter_start
PID=$(cat /tmp/exporter.pid)
# from here on thousands of commands a second: no trace of each in scenario.log
set +x

# uptime in centiseconds into NOW, without starting a process
now() {
    read -r up _ </proc/uptime
    NOW=${up%.*}${up#*.}
}
# sample: uptime cs, VmRSS kB, threads, open fds
sample() {
    now
    echo "$NOW $(awk '/^VmRSS:/ { r = $2 } /^Threads:/ { t = $2 } END { print r, t }' /proc/$PID/status) $(ls /proc/$PID/fd | wc -l)"
}

for w in 1 2 3; do lab_scrape "$S/warm-up.txt"; done
# at rest: the runtime ends idle blocking threads after 10 s
sleep 12
sample >"$OUT/idle-before.txt"

# scraper N OPENMETRICS(0/1)
scraper() {
    n=$1 om=$2 i=0
    now
    keep=$((NOW + n * KEEP_CS / SCRAPERS))
    while [ ! -e $S/stop ]; do
        i=$((i + 1))
        now
        if [ "$om" = 1 ]; then
            timeout 60 wget -q -O $S/body-$n \
                --header 'Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4' \
                --header 'Accept-Encoding: gzip' "$EXPORTER_URL" 2>>$S/wget-$n.err
        else
            timeout 60 wget -q -O $S/body-$n --header 'Accept-Encoding: gzip' \
                "$EXPORTER_URL" 2>>$S/wget-$n.err
        fi && rc=0 || rc=$?
        echo "$NOW $i $rc"
        if [ "$NOW" -ge "$keep" ]; then
            mv $S/body-$n "$OUT/kept/s$n-$i.gz"
            while [ "$keep" -le "$NOW" ]; do keep=$((keep + KEEP_CS)); done
        fi
    done
}

now
T0=$NOW
END=$((T0 + SOAK_SECONDS * 100))
n=1
while [ $n -le $SCRAPERS ]; do
    om=0
    [ $n -le 6 ] || om=1
    scraper $n $om >"$OUT/status-$n.txt" &
    echo $! >>$S/scrapers
    n=$((n + 1))
done
(
    while [ ! -e $S/stop ]; do
        sample
        sleep 3
    done
) >"$OUT/samples.txt" &
SAMPLER=$!

# the churn: BATCHES_PER_SECOND batches a second, each deleting one set and adding the other.
# The emulated CPU is busy with the scrapers; at the default priority the loop would get a tenth
# of it and fall far behind.
renice -n -10 -p $$ >/dev/null
done_batches=0
failed_batches=0
now
while [ "$NOW" -lt "$END" ]; do
    due=$(((NOW - T0) * BATCHES_PER_SECOND / 100 + 1))
    if [ $done_batches -lt $due ]; then
        if [ $((done_batches % 2)) = 0 ]; then f=to-B; else f=to-A; fi
        $IPVSADM -R <$S/$f || failed_batches=$((failed_batches + 1))
        done_batches=$((done_batches + 1))
    else
        usleep 20000
    fi
    now
done
echo "$done_batches $failed_batches $(((NOW - T0) / 100))" >"$OUT/churn.txt"

touch $S/stop
for p in $(cat $S/scrapers); do wait "$p"; done
wait $SAMPLER
cat $S/wget-*.err >"$OUT/wget.err"
sleep 12
sample >"$OUT/idle-after.txt"
$IPVSADM -Ln >"$OUT/ipvsadm-end.txt"
lab_exporter_stop
