# Sourced by both lab guests (guest/lib.sh and debian/guest.sh): a checkpoint reads
# the kernel's view of IPVS before and after one scrape, and is taken again
# until the two agree.
#
# A connection's timer can end between the reads (an inactive connection
# expiring, more likely on a loaded host). The connections of an earlier burst
# of traffic expire 120 s after it (the FIN timeout), spread over as long as the
# burst took: five tries a second apart were seen to fall inside such a spread
# (a clean-clone run of the Debian guest, its container checkpoint: InActConn 17
# then 16 on all five). Hence up to 30 tries.
CHECKPOINT_TRIES=30

# checkpoint_until_quiet DIR CAPTURE [ARG...]: run CAPTURE with its ARGs, which
# writes ipvsadm.txt, ipvsadm-stats.txt and proc-ip_vs_stats.txt before its
# scrape and the same names with -after after it into DIR, until both reads
# agree or CHECKPOINT_TRIES captures were taken, a second apart; the number of
# tries goes into DIR/attempts.txt.
checkpoint_until_quiet() {
    cq_dir=$1
    shift
    cq_attempt=1
    while :; do
        "$@"
        if cmp -s "$cq_dir/ipvsadm.txt" "$cq_dir/ipvsadm-after.txt" &&
            cmp -s "$cq_dir/ipvsadm-stats.txt" "$cq_dir/ipvsadm-stats-after.txt" &&
            cmp -s "$cq_dir/proc-ip_vs_stats.txt" "$cq_dir/proc-ip_vs_stats-after.txt"; then
            break
        fi
        [ "$cq_attempt" -lt "$CHECKPOINT_TRIES" ] || break
        cq_attempt=$((cq_attempt + 1))
        sleep 1
    done
    echo "$cq_attempt" >"$cq_dir/attempts.txt"
}
