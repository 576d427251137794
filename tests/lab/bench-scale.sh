#!/usr/bin/env bash
# Scale benchmark on a real kernel: IPVS services of 10 real servers each, at
# 200, 2,000 and 20,000 services by default. Builds the exporter in release
# mode, boots the lab with only the scale scenario (tests/lab/scenarios/scale.sh)
# and prints a report for each size: median times of a full scrape of the
# exporter, of node_exporter's ipvs collector and of `ipvsadm -Ln --stats
# --exact`, the ratios against the project's targets, series counts, output
# sizes and peak memory (one scraper, and 8 at once); then one table of all
# sizes.
#
# usage: tests/lab/bench-scale.sh [OUTDIR]    (default target/tmp/bench-scale)
#   IPVS_LAB_SCALE_SIZES   services per size (default "200 2000 20000")
#   IPVS_LAB_SCALE_ROUNDS  measured rounds per size (default "5 5 1")
#
# The raw results stay in OUTDIR/scale/sSERVICES/ (times.tsv, info.txt, ...);
# the report is also written to OUTDIR/report.txt. A benchmark, not a test:
# nothing here fails on a missed target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${1:-target/tmp/bench-scale}
T0=$(date +%s)

cargo build --release --locked
IPVS_EXPORTER_BIN=${CARGO_TARGET_DIR:-target}/release/ipvs_exporter \
    bash tests/lab/run.sh tests/lab/scenarios/scale.sh "$OUT"
R=$OUT/scale
# qemu's one emulated CPU is one host thread: other work on the host slows the
# guest and widens the spread. The 1-minute load average at the end says how
# busy the host was (qemu alone makes about 1).
read -r LOAD1 _ </proc/loadavg
ELAPSED=$(($(date +%s) - T0))
: >"$OUT/report.txt"
: >"$OUT/summary.tsv"

for size in $(ls "$R" | sed -n 's/^s\([0-9][0-9]*\)$/\1/p' | sort -n); do
dir=$R/s$size
awk -F'\t' -v elapsed="$ELAPSED" -v load="$LOAD1" -v cores="$(nproc)" -v summary="$OUT/summary.tsv" '
    FNR == 1 { file++ }
    # info.txt: key=value
    file == 1 { i = index($0, "="); info[substr($0, 1, i - 1)] = substr($0, i + 1); next }
    # times.tsv: what round ns client_user client_sys server_user server_sys server_hwm_kb
    file == 2 && FNR > 1 {
        if ($8 > peak[$1]) peak[$1] = $8
        if ($2 < 1) next   # the warm-up
        c = ++n[$1]
        ns[$1, c] = $3; cu[$1, c] = $4; cs[$1, c] = $5; su[$1, c] = $6; ss[$1, c] = $7
    }
    function median(arr, w,    k, j, t, v, c) {
        c = n[w]
        for (k = 1; k <= c; k++) v[k] = arr[w, k] + 0
        for (k = 2; k <= c; k++) {
            t = v[k]
            for (j = k - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
            v[j + 1] = t
        }
        lo = v[1]; hi = v[c]
        return (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
    }
    function row(w, label,    m, r) {
        m = median(ns, w) / 1e6
        med[w] = m
        r = peak[w] ? sprintf("%7.1f", peak[w] / 1024) : sprintf("%7s", "-")
        printf "  %-40s %8.1f %8.1f %8.1f %6.0f %6.0f %6.0f %6.0f %s\n", label, m, lo / 1e6, hi / 1e6,
            median(cu, w) * 10, median(cs, w) * 10, median(su, w) * 10, median(ss, w) * 10, r
    }
    function ratio(a, b, target, name,    r) {
        r = med[a] / med[b]
        if (target == "")
            printf "  %-44s %6.3f\n", name, r
        else
            printf "  %-44s %6.3f      target <= %.2f: %s\n", name, r, target,
                r <= target ? "met" : sprintf("MISSED by %.0f%%", (r / target - 1) * 100)
        return r
    }
    function mib(kb) { return sprintf("%.1f MiB", kb / 1024) }
    function maxpeak(a, b, c, k,    m) {
        m = info[k] + 0
        if (peak[a] > m) m = peak[a]
        if (peak[b] > m) m = peak[b]
        if (peak[c] > m) m = peak[c]
        return m
    }
    function collector(k,    v) {
        v = info[k]
        if (!sub(/.*duration_seconds[{]collector="ipvs"[}] /, "", v)) return "?"
        sub(/ .*/, "", v)
        return sprintf("%.0f ms", v * 1000)
    }
    END {
        reals = info["ipvsadm_backends"]
        printf "scale benchmark: %s services x %s real servers (%s), kernel %s, %s CPU (qemu TCG), clocksource %s\n",
            info["ipvsadm_services"], reals / info["ipvsadm_services"], reals,
            info["uname"], info["cpus"], info["clocksource"]
        printf "%s rounds after one warm-up. Times in ms: median, min, max. CPU in ms, medians of 10 ms\n", n["text"]
        printf "ticks: client (wget or ipvsadm) user/system, server user/system. Server peak RSS in MiB.\n\n"
        printf "  %-40s %8s %8s %8s %6s %6s %6s %6s %7s\n", "", "median", "min", "max", "cl-us", "cl-sy", "srv-us", "srv-sy", "srv-rss"
        row("text", "exporter, classic text format")
        row("om", "exporter, Prometheus Accept (OpenMetrics)")
        row("node", "node_exporter, ipvs collector only")
        row("ipvsadm", "ipvsadm -Ln --stats --exact")
        row("om_gzip", "exporter, OpenMetrics, gzip")
        row("node_gzip", "node_exporter, gzip")
        row("none", "(two time stamps, nothing between)")
        row("null_http", "(wget of the exporter'"'"'s /healthz)")
        row("null_ipvsadm", "(ipvsadm --version)")
        print ""
        t_i = ratio("text", "ipvsadm", 1.0, "exporter (text) / ipvsadm")
        t_n = ratio("text", "node", 0.25, "exporter (text) / node_exporter")
        o_i = ratio("om", "ipvsadm", "", "exporter (OpenMetrics) / ipvsadm")
        o_n = ratio("om", "node", "", "exporter (OpenMetrics) / node_exporter")
        g_n = ratio("om_gzip", "node_gzip", "", "exporter (gzip) / node_exporter (gzip)")
        # one scraper: the peaks of the timed scrapes only (the VmHWM read at the end also
        # covers the concurrent scrapes)
        hwm = maxpeak("om", "text", "om_gzip", "")
        chwm = info["concurrent_vmhwm_kb"] + 0
        printf "  %-44s %6.1f MiB\n", "exporter peak RSS, one scraper (VmHWM)", hwm / 1024
        printf "  %-44s %6.1f MiB  (%s scrapers, all done in %.1f s, %s failed)\n",
            "exporter peak RSS, concurrent scrapers", chwm / 1024, info["concurrent_scrapers"],
            info["concurrent_ns"] / 1e9, info["concurrent_failed"]
        print ""
        printf "  %-22s %8s series %10s bytes\n", "exporter text", info["text_series"], info["text_bytes"]
        printf "  %-22s %8s series %10s bytes\n", "exporter OpenMetrics", info["om_series"], info["om_bytes"]
        printf "  %-22s %8s series %10s bytes\n", "exporter gzip", info["om_series"], info["om_gzip_bytes"]
        printf "  %-22s %8s series %10s bytes (%s of them node_ipvs_*)\n", "node_exporter", info["node_series"], info["node_bytes"], info["node_ipvs_series"]
        printf "  %-22s %8s series %10s bytes\n", "node_exporter gzip", info["node_series"], info["node_gzip_bytes"]
        printf "  %-22s %8s lines  %10s bytes\n", "ipvsadm", info["ipvsadm_services"] + reals, info["ipvsadm_bytes"]
        printf "  per real server: exporter %.1f series, %.0f bytes (text); node_exporter %.1f series, %.0f bytes\n",
            info["text_series"] / reals, info["text_bytes"] / reals, info["node_series"] / reals, info["node_bytes"] / reals
        print ""
        printf "  peak RSS: exporter idle before the first scrape %s, %s threads;\n",
            mib(info["exporter_idle_vmhwm_kb"]), info["exporter_threads"]
        printf "            node_exporter %s (idle %s)\n",
            mib(maxpeak("node", "node_gzip", "", "node_vmhwm_kb")), mib(info["node_idle_vmhwm_kb"])
        printf "  ipvs collector time inside one scrape: exporter %s (%s), node_exporter %s\n",
            collector("om_collector"), info["om_source"], collector("node_collector")
        split(info["rtc_check"], rc, " ")
        printf "  timer: /proc/timer_list (CLOCK_MONOTONIC, ns); against the RTC: %.4f s per RTC second over %d s\n",
            rc[2] / 1e9 / rc[1], rc[1]
        printf "  table load (ipvsadm -R, %s rules): %.1f s\n", info["rules_lines"], info["table_load_ns"] / 1e9
        printf "  versions: %s; %s; %s\n\n", info["exporter_version"], info["node_exporter_version"], info["ipvsadm_version"]
        printf "%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.0f\t%.1f\t%.1f\t%d\n",
            info["ipvsadm_services"], reals, med["text"], med["om"], med["om_gzip"], med["node"], med["ipvsadm"],
            t_i, t_n, o_i, o_n, g_n, info["text_series"] / reals, info["text_bytes"] / reals,
            hwm / 1024, chwm / 1024, n["text"] >> summary
    }
' "$dir/info.txt" "$dir/times.tsv" | tee -a "$OUT/report.txt"
done

{
    echo "all sizes (times: medians in ms; ratios of the exporter's classic text unless said; per real server: the exporter's text):"
    printf '%7s %8s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %7s %8s %8s %6s\n' \
        services reals text om gzip node ipvsadm t/ipvs t/node om/ipvs om/node gz/gz series bytes 'rss MiB' 'rss x8' rounds
    awk -F'\t' '{ printf "%7d %8d %7d %7d %7d %7d %7d %7.3f %7.3f %7.3f %7.3f %7.3f %7.1f %7d %8.1f %8.1f %6d\n",
        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 }' "$OUT/summary.tsv"
    echo "targets at 2,000 x 10: text/ipvsadm <= 1.0, text/node_exporter <= 0.25, peak RSS <= 48 MiB;" \
        "at 20,000 x 10: peak RSS with 8 scrapers <= 96 MiB"
    echo "benchmark wall time ${ELAPSED} s; host: $(nproc) cores, 1-minute load average at the end $LOAD1 (qemu alone makes about 1)"
} | tee -a "$OUT/report.txt"
