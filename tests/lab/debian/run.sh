#!/usr/bin/env bash
# The booted-Debian lab: a Debian root file system with systemd as init
# (mmdebstrap, cached), Debian's cloud kernel and its modules (the kernel cache
# of tests/lab/run.sh), an ext4 image made with mke2fs -d, booted under qemu
# TCG; lab-debian.service runs guest.sh once the system is up and powers off.
#
# usage: tests/lab/debian/run.sh DEB DEB_UPGRADE CONTAINER_TAR CONTAINER_COMMAND OUTDIR
#   DEB, DEB_UPGRADE    the exporter's package and a later version of it
#   CONTAINER_TAR       the container image's file system (podman export)
#   CONTAINER_COMMAND   a file with the image's entrypoint and the DaemonSet's
#                       arguments, one word per line
#   OUTDIR              results: OUTDIR/console.log and the guest's files
#
# environment: IPVS_LAB_CACHE (default ~/.cache/ipvs_exporter-lab),
# IPVS_LAB_TIMEOUT (guest time limit in seconds, default 600),
# IPVS_LAB_KERNEL_META (default linux-image-cloud-amd64).
set -eEuo pipefail
trap 'echo "lab-debian: FAILED: unexpected error (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
export PATH=$PATH:/usr/sbin:/sbin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${IPVS_LAB_CACHE:-${HOME:-/root}/.cache/ipvs_exporter-lab}
TIMEOUT=${IPVS_LAB_TIMEOUT:-600}
KERNEL_META=${IPVS_LAB_KERNEL_META:-linux-image-cloud-amd64}
die() {
    echo "lab-debian: FAILED: $*" >&2
    exit 1
}
say() { echo "lab-debian: $*" >&2; }

[ $# = 5 ] || die "usage: $0 DEB DEB_UPGRADE CONTAINER_TAR CONTAINER_COMMAND OUTDIR"
DEB1=$1 DEB2=$2 CTAR=$3 CCMD=$4 OUTDIR=$5
for f in "$DEB1" "$DEB2" "$CTAR" "$CCMD"; do [ -f "$f" ] || die "not a file: $f"; done
T0=$(date +%s)

missing=()
for pair in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static mke2fs:e2fsprogs \
    mmdebstrap:mmdebstrap /usr/sbin/modprobe:kmod cpio:cpio; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
fi
if ldd "$(command -v busybox)" >/dev/null 2>&1; then die "busybox is dynamically linked: install busybox-static"; fi

# ---------------------------------------------------------------- the kernel
pkg=$({ apt-cache depends "$KERNEL_META" 2>/dev/null || true; } |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
if [ -n "$pkg" ]; then
    KDIR=$CACHE/kernel/$pkg
else
    KDIR=$({ ls -d "$CACHE"/kernel/linux-image-*/ 2>/dev/null || true; } | sort -V | tail -n1)
    KDIR=${KDIR%/}
    [ -n "$KDIR" ] || die "apt-cache depends $KERNEL_META names no kernel and none is cached"
fi
if [ ! -e "$KDIR/.complete" ]; then
    [ -n "$pkg" ] || die "no kernel package to fetch"
    say "fetching $pkg"
    rm -rf "$KDIR"
    mkdir -p "$KDIR"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
    dpkg -x "$tmp"/"$pkg"_*.deb "$KDIR/root" || die "dpkg -x failed"
    rm -rf "$tmp"
    depmod -b "$KDIR/root" "$(ls "$KDIR/root/lib/modules" | head -n1)" || die "depmod failed"
    touch "$KDIR/.complete"
fi
KVER=$(ls "$KDIR/root/lib/modules" | head -n1)
VMLINUZ=$KDIR/root/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || die "no kernel image in $KDIR"

# ---------------------------------------------------------------- the disk
TREE=$(bash "$HERE/rootfs.sh") || die "no Debian root file system"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-lab-debian.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
cp -a "$TREE" "$ROOT"
rm -f "$ROOT/.complete"
mkdir -p "$ROOT/lib/modules"
cp -a "$KDIR/root/lib/modules/$KVER" "$ROOT/lib/modules/"
echo lab-debian >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost lab-debian\n::1 localhost\n' >"$ROOT/etc/hosts"
printf '/dev/vda / ext4 rw,noatime 0 1\n' >"$ROOT/etc/fstab"
# what slows a TCG boot and serves no purpose here
for u in getty@tty1.service serial-getty@ttyS0.service getty.target systemd-timesyncd.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service man-db.timer \
    fstrim.timer systemd-tmpfiles-clean.timer dpkg-db-backup.timer; do
    ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done
mkdir -p "$ROOT/lab" "$ROOT/srv/container" "$ROOT/etc/systemd/system/multi-user.target.wants"
install -m 0644 "$DEB1" "$ROOT/lab/ipvs-exporter_1.deb"
install -m 0644 "$DEB2" "$ROOT/lab/ipvs-exporter_2.deb"
install -m 0644 "$HERE/guest.sh" "$ROOT/lab/guest.sh"
install -m 0644 "$HERE/../guest/checkpoint.sh" "$ROOT/lab/checkpoint.sh"
# the host's static busybox for httpd, wget and nc: Debian's dynamic busybox wget
# crashes in this guest
install -m 0755 "$(command -v busybox)" "$ROOT/lab/busybox"
tr '\n' ' ' <"$CCMD" >"$ROOT/lab/container-command.txt"
tar -xf "$CTAR" -C "$ROOT/srv/container"
install -m 0644 "$HERE/lab-debian.service" "$ROOT/etc/systemd/system/lab-debian.service"
ln -sf ../lab-debian.service "$ROOT/etc/systemd/system/multi-user.target.wants/lab-debian.service"
# the guest's files and room for what it installs and logs; the image is sparse, so the host
# holds only what is written, but it must have that much free
root_mb=$(du -sm "$ROOT" | cut -f1)
disk_mb=$((root_mb + 1200))
free_mb=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
[ "${free_mb:-0}" -gt "$((root_mb + 300))" ] ||
    die "$WORK has ${free_mb:-?} MB free; the guest's disk needs about $((root_mb + 300)) MB"
mke2fs -q -t ext4 -d "$ROOT" -F "$WORK/disk.ext4" "${disk_mb}M" >/dev/null ||
    die "mke2fs -d failed (a ${disk_mb} MB image of ${root_mb} MB of files; $(df -Pm "$WORK" | awk 'NR == 2 { print $4 }') MB free in $WORK)"
rm -rf "$ROOT"

# ---------------------------------------------------------------- initramfs
IR=$WORK/initrd
mkdir -p "$IR"/{bin,sbin,proc,sys,dev,newroot}
cp "$(command -v busybox)" "$IR/bin/busybox"
ln -s busybox "$IR/bin/sh"
cp "$(readlink -f /usr/sbin/modprobe)" "$IR/sbin/modprobe"
if ldd "$IR/sbin/modprobe" >/dev/null 2>&1; then
    for lib in $(ldd "$IR/sbin/modprobe" | grep -o '/[^ ]*'); do
        install -D -m 0755 "$(readlink -f "$lib")" "$IR$lib"
    done
fi
for m in virtio_pci virtio_blk; do
    deps=$(modprobe -d "$KDIR/root" -S "$KVER" --show-depends "$m" 2>&1) || die "module $m: $deps"
    for ko in $(echo "$deps" | awk '$1 == "insmod" { print $2 }'); do
        rel=${ko#"$KDIR/root/"}
        install -D -m 0644 "$ko" "$IR/$rel"
    done
done
cp "$KDIR/root/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$IR/lib/modules/$KVER/" 2>/dev/null || true
depmod -b "$IR" "$KVER"
install -m 0755 "$HERE/init" "$IR/init"
(cd "$IR" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz"
T1=$(date +%s)
say "disk image and initramfs ready in $((T1 - T0)) s (kernel $KVER)"

# ---------------------------------------------------------------- boot
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
CONSOLE=$OUTDIR/console.log
rc=0
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 1024 \
    -nographic -no-reboot -nic none \
    -drive file="$WORK/disk.ext4",format=raw,if=virtio \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 cryptomgr.notests systemd.show_status=0" \
    </dev/null >"$CONSOLE" 2>"$WORK/qemu.err" || rc=$?
T2=$(date +%s)
say "guest ran for $((T2 - T1)) s (status $rc)"
[ $rc = 124 ] || [ $rc = 137 ] && {
    tr -d '\r' <"$CONSOLE" | grep -v '^[A-Za-z0-9+/=]*$' | tail -n 30 >&2
    die "guest timed out after $TIMEOUT s; console in $CONSOLE"
}
[ $rc = 0 ] || { cat "$WORK/qemu.err" >&2; die "qemu exited with status $rc"; }

# ---------------------------------------------------------------- results
B64=$WORK/b64
mkdir -p "$B64"
# lines may carry the journal's "[ uptime] unit[pid]: " prefix, or kernel messages before a marker
tr -d '\r' <"$CONSOLE" | sed -e 's/^.*\(@@LAB-\)/\1/' -e 's/^\[ *[0-9.]*\] [^ ]*\[[0-9]*\]: //' | awk -v dir="$B64" '
    /^@@LAB-BEGIN / {
        name = $2
        if (name ~ /(^|\/)\.\.(\/|$)/ || name ~ /^\//) { print "bad block name " name > "/dev/stderr"; exit 1 }
        gsub(/\//, "%", name); f = dir "/" name; printf "" > f; inblock = 1; next
    }
    /^@@LAB-END / { if (inblock) close(f); inblock = 0; next }
    inblock { print > f }
' || die "malformed console output"
[ -f "$B64/MANIFEST" ] || {
    tr -d '\r' <"$CONSOLE" | tail -n 40 >&2
    die "the guest sent no manifest; console in $CONSOLE"
}
base64 -d "$B64/MANIFEST" >"$WORK/manifest" || die "manifest block is corrupt"
bad=0
while read -r sum rel; do
    mkdir -p "$(dirname "$OUTDIR/$rel")"
    if ! base64 -d "$B64/${rel//\//%}" >"$OUTDIR/$rel" 2>/dev/null ||
        [ "$(md5sum "$OUTDIR/$rel" | cut -d' ' -f1)" != "$sum" ]; then
        say "missing or damaged block: $rel"
        bad=$((bad + 1))
    fi
done <"$WORK/manifest"
[ $bad = 0 ] || die "$bad result block(s) missing or damaged; console in $CONSOLE"
say "results in $OUTDIR; wall time $((T2 - T0)) s (prepare $((T1 - T0)) s, guest $((T2 - T1)) s)"
