#!/bin/sh
# noipvs: the exporter on a host where the ip_vs module is not loaded. It must
# run, report ipvs_up 0, and not load the module as a side effect of asking.
# This scenario has to run before any other in the same boot.
. /lab/lib.sh

if lab_ipvs_loaded; then
    echo "noipvs: ip_vs is already loaded; run this scenario first" >&2
    exit 1
fi
d="$OUT/scrape"
mkdir -p "$d"
cat /proc/modules >"$d/modules-before.txt"
lab_exporter_start
lab_scrape "$d/metrics.txt"
# a second scrape: whatever the first one did must not have changed the answer
lab_scrape "$d/metrics-second.txt"
cat /proc/modules >"$d/modules-after.txt"
if lab_ipvs_loaded; then echo present; else echo absent; fi >"$d/proc-ip_vs-after.txt"
