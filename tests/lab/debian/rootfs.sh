#!/usr/bin/env bash
# Builds (once) and caches a Debian root filesystem with systemd as init for the
# booted-Debian lab, as a directory made by mmdebstrap from this machine's apt sources.
#
# usage: tests/lab/debian/rootfs.sh   -> prints the path of the cached tar
#
# The cache key is the suite and the package list, so changing either builds a
# new tree. IPVS_LAB_CACHE (default ~/.cache/ipvs_exporter-lab) is shared with
# the kernel cache of tests/lab/run.sh.
set -euo pipefail
CACHE=${IPVS_LAB_CACHE:-${HOME:-/root}/.cache/ipvs_exporter-lab}
SUITE=${IPVS_LAB_DEBIAN_SUITE:-bookworm}
# systemd as init; ipvsadm and keepalived to build what the exporter reads;
# busybox for httpd and wget in the namespaces; libcap2-bin for capsh
PACKAGES=systemd,systemd-sysv,udev,dbus,iproute2,ipvsadm,keepalived,kmod,procps,libcap2-bin,busybox
key=$(printf '%s %s v1' "$SUITE" "$PACKAGES" | md5sum | cut -c1-12)
TREE=$CACHE/debian/rootfs-$SUITE-$key
say() { echo "lab-debian: $*" >&2; }
if [ -e "$TREE/.complete" ]; then
    echo "$TREE"
    exit 0
fi
command -v mmdebstrap >/dev/null 2>&1 || {
    say "installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >&2 ||
        { say "FAILED: apt-get install mmdebstrap"; exit 1; }
}
mkdir -p "$CACHE/debian"
t0=$(date +%s)
say "building a $SUITE root filesystem with mmdebstrap into $TREE"
mmdebstrap --mode=root --variant=minbase --include="$PACKAGES" "$SUITE" "$TREE.part" >&2 ||
    { rm -rf "$TREE.part"; say "FAILED: mmdebstrap $SUITE"; exit 1; }
rm -rf "$TREE"
mv "$TREE.part" "$TREE"
touch "$TREE/.complete"
say "root filesystem built in $(($(date +%s) - t0)) s ($(du -sm "$TREE" | cut -f1) MB)"
echo "$TREE"
