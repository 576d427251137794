#!/usr/bin/env bash
# Real-kernel lab: boot Debian's cloud kernel (which has IPVS as modules) under
# qemu with software emulation, run guest scenario scripts in it, and cut the
# files they produce out of the serial console.
#
# usage: tests/lab/run.sh SCENARIO_SCRIPT [SCENARIO_SCRIPT...] OUTDIR
#
# All scenarios given share one boot and run in the order given, each in a
# clean IPVS table. Results land in OUTDIR/<scenario>/..., named after the
# script without its ".sh". OUTDIR/console.log keeps the raw serial console.
#
# environment:
#   IPVS_EXPORTER_BIN     path to a built ipvs_exporter; copied into the guest
#                         as /bin/ipvs_exporter with the libraries ldd lists.
#                         Required unless IPVS_LAB_NO_EXPORTER=1 (raw captures
#                         only).
#   IPVS_LAB_CACHE        kernel cache (default ~/.cache/ipvs_exporter-lab)
#   IPVS_LAB_TIMEOUT      hard limit for the guest, in seconds (default 420,
#                         plus what the scenarios' lab-timeout lines ask for)
#   IPVS_LAB_SUITE        the Debian suite whose cloud kernel boots: trixie
#                         (13, kernel 6.12; the default), bookworm (12, 6.1)
#                         or bullseye (11, 5.10). A suite other than the
#                         host's is read through an apt configuration of its
#                         own under the cache, so the host's apt is untouched.
#   IPVS_LAB_KERNEL_META  meta package naming the kernel
#                         (default linux-image-cloud-amd64)
#   IPVS_LAB_SOAK_SECONDS how long the soak scenario runs (default 300)
#   IPVS_LAB_SCALE_SIZES  the scale scenario's table sizes, in services of 10 real
#                         servers (default "200 2000 20000")
#   IPVS_LAB_SCALE_ROUNDS its measured rounds for each size (default "5 5 1")
#   IPVS_LAB_SCALE_PROFILE 1: the scale scenario also samples where the guest's
#                         CPU goes during three scrapes at each size, with the
#                         host's perf (linux-perf) copied into the guest
#   IPVS_LAB_HOSTFWD      optional, comma separated qemu user-network port
#                         forwards from the host's loopback into the guest,
#                         each tcp:127.0.0.1:HOSTPORT-:GUESTPORT (a scenario
#                         gives the guest's NIC 10.0.2.15/24 itself); unset,
#                         the guest's network is what it always was
#
# A scenario may ask for more than the others need with lines of its own:
#   # lab-needs: node-exporter  also put Debian's prometheus-node-exporter in the
#                               guest (as /usr/bin/prometheus-node-exporter)
#   # lab-needs: tc             also put iproute2's tc in the guest (as /usr/sbin/tc)
#                               with the modules of a clsact qdisc, u32 filters
#                               and the drop action
#   # lab-memory: MB            boot with at least MB of memory (default 512)
#   # lab-timeout: S            the scenario may take S seconds: added to the
#                               default limit of the guest
# Without such lines the guest is exactly what it was.
#
# Exit status is 0 only when the guest ran every scenario to the end, every
# scenario reported success, and every file it listed arrived intact.
set -eEuo pipefail
# anything that fails without its own message still says where
trap 'echo "lab: FAILED: unexpected error (status $?) at run.sh line $LINENO: $BASH_COMMAND" >&2' ERR

# ipvsadm, depmod and modprobe live in sbin, which a user's PATH may lack
export PATH=$PATH:/usr/sbin:/sbin
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${IPVS_LAB_CACHE:-${HOME:-/root}/.cache/ipvs_exporter-lab}
TIMEOUT=${IPVS_LAB_TIMEOUT:-420}
KERNEL_META=${IPVS_LAB_KERNEL_META:-linux-image-cloud-amd64}
SUITE=${IPVS_LAB_SUITE:-trixie}
HOST_SUITE=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || HOST_SUITE=
# the archive key that signs every suite, for a suite read apart from the host's
ARCHIVE_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
    echo "lab: FAILED: $*" >&2
    exit 1
}
say() { echo "lab: $*" >&2; }

[ $# -ge 2 ] || die "usage: $0 SCENARIO_SCRIPT [SCENARIO_SCRIPT...] OUTDIR"
[[ $SUITE =~ ^[a-z]+$ ]] || die "IPVS_LAB_SUITE=$SUITE is not a Debian suite name (trixie, bookworm, bullseye)"
OUTDIR=${*: -1}
SCENARIOS=("${@:1:$#-1}")
for s in "${SCENARIOS[@]}"; do
    [ -f "$s" ] || die "scenario script not found: $s"
done

NEED_NODE_EXPORTER=0
NEED_TC=0
MEMORY=512
EXTRA_SECONDS=0
for s in "${SCENARIOS[@]}"; do
    if grep -q '^# lab-needs: node-exporter$' "$s"; then NEED_NODE_EXPORTER=1; fi
    if grep -q '^# lab-needs: tc$' "$s"; then NEED_TC=1; fi
    m=$(sed -n 's/^# lab-memory: \([0-9][0-9]*\)$/\1/p' "$s" | head -n1)
    if [ -n "$m" ] && [ "$m" -gt "$MEMORY" ]; then MEMORY=$m; fi
    t=$(sed -n 's/^# lab-timeout: \([0-9][0-9]*\)$/\1/p' "$s" | head -n1)
    EXTRA_SECONDS=$((EXTRA_SECONDS + ${t:-0}))
done
# a soak longer than its default 300 s needs as much more time
if [[ ${IPVS_LAB_SOAK_SECONDS:-} =~ ^[0-9]+$ ]] && [ "$IPVS_LAB_SOAK_SECONDS" -gt 300 ]; then
    EXTRA_SECONDS=$((EXTRA_SECONDS + IPVS_LAB_SOAK_SECONDS - 300))
fi
TIMEOUT=${IPVS_LAB_TIMEOUT:-$((TIMEOUT + EXTRA_SECONDS))}

if [ "${IPVS_LAB_NO_EXPORTER:-0}" = 1 ]; then
    EXPORTER=
else
    EXPORTER=${IPVS_EXPORTER_BIN:-}
    [ -n "$EXPORTER" ] || die "IPVS_EXPORTER_BIN is not set (set IPVS_LAB_NO_EXPORTER=1 for raw captures only)"
    [ -x "$EXPORTER" ] || die "IPVS_EXPORTER_BIN=$EXPORTER is not an executable file"
fi

NIC=user,model=virtio-net-pci
if [ -n "${IPVS_LAB_HOSTFWD:-}" ]; then
    IFS=, read -r -a fwds <<<"$IPVS_LAB_HOSTFWD"
    for f in "${fwds[@]}"; do
        # loopback only: nothing else on the host may reach the guest
        [[ $f =~ ^tcp:127\.0\.0\.1:[0-9]+-:[0-9]+$ ]] ||
            die "IPVS_LAB_HOSTFWD: '$f' is not tcp:127.0.0.1:HOSTPORT-:GUESTPORT"
        NIC+=",hostfwd=$f"
    done
fi

T0=$(date +%s)

# ---------------------------------------------------------------- host tools
# command -> Debian package that provides it
need_tools() {
    local missing=() pair cmd pkg
    for pair in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static \
        ipvsadm:ipvsadm /usr/sbin/ip:iproute2 /usr/sbin/modprobe:kmod \
        /usr/sbin/depmod:kmod cpio:cpio apt-get:apt dpkg:dpkg gzip:gzip \
        ldd:libc-bin base64:coreutils xz:xz-utils flock:util-linux; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    # the guest needs the static busybox: a dynamic one would need its libraries
    if command -v busybox >/dev/null 2>&1 && ldd "$(command -v busybox)" >/dev/null 2>&1; then
        missing+=(busybox-static)
    fi
    if [ "$SUITE" != "$HOST_SUITE" ] && [ ! -f "$ARCHIVE_KEYRING" ]; then
        missing+=(debian-archive-keyring)
    fi
    if [ "$NEED_NODE_EXPORTER" = 1 ] && ! command -v prometheus-node-exporter >/dev/null 2>&1; then
        missing+=(prometheus-node-exporter)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    say "installing missing host packages: ${missing[*]}"
    local sudo=
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing packages ${missing[*]}; not root and no sudo to install them"
        sudo=sudo
    fi
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        $sudo apt-get update -q >&2 || true
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
            die "apt-get install ${missing[*]} failed"
    fi
}
need_tools

# ---------------------------------------------------------------- the kernel
# Resolve the versioned package behind the meta package in the chosen suite,
# download exactly that one, unpack it and index its modules. Cached per
# package name; $CACHE/kernel/suite-SUITE names the package last fetched for a
# suite, for offline runs.
#
# The host's own suite goes through the host's apt as it is. Any other suite
# goes through a configuration of its own in $CACHE/apt/SUITE (one sources.list
# line, its own package lists and archive cache), so the host keeps its suite.
APT_OPTS=()
if [ "$SUITE" != "$HOST_SUITE" ]; then
    APT_DIR=$CACHE/apt/$SUITE
    APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache")
fi

apt_update() {
    if [ ${#APT_OPTS[@]} -eq 0 ]; then
        say "running apt-get update (host suite $SUITE)"
        apt-get update -q >&2 || true
        return 0
    fi
    say "running apt-get update for suite $SUITE in $APT_DIR"
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
    echo "deb [signed-by=$ARCHIVE_KEYRING] http://deb.debian.org/debian $SUITE main" >"$APT_DIR/sources.list"
    apt-get "${APT_OPTS[@]}" update -q >&2 || true
}

resolve_kernel_pkg() {
    { apt-cache "${APT_OPTS[@]}" depends "$KERNEL_META" 2>/dev/null || true; } |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1
}

# downloads $1 into directory $2; fails when the mirror does not have it
download_pkg() {
    (cd "$2" && apt-get "${APT_OPTS[@]}" download -q "$1" >&2)
}

fetch_kernel() {
    local pkg dir tmp deb record=$CACHE/kernel/suite-$SUITE updated=0
    pkg=$(resolve_kernel_pkg)
    if [ -z "$pkg" ]; then
        say "apt does not know $KERNEL_META in $SUITE"
        apt_update
        updated=1
        pkg=$(resolve_kernel_pkg)
    fi
    if [ -z "$pkg" ]; then
        # offline: fall back to the kernel last fetched for this suite
        dir=$CACHE/kernel/$(cat "$record" 2>/dev/null || true)
        if [ -f "$record" ] && [ -e "$dir/.complete" ]; then
            say "cannot resolve $KERNEL_META in $SUITE; using cached $(basename "$dir")"
            KDIR=$dir
            return 0
        fi
        die "cannot resolve the kernel package: 'apt-cache depends $KERNEL_META' in suite $SUITE names no linux-image-* package and nothing is cached in $CACHE/kernel for it"
    fi
    KDIR=$CACHE/kernel/$pkg
    if [ -e "$KDIR/.complete" ]; then
        echo "$pkg" >"$record"
        return 0
    fi
    say "fetching $pkg ($SUITE) into $KDIR"
    rm -rf "$KDIR"
    mkdir -p "$KDIR"
    tmp=$(mktemp -d)
    # apt-get download as root warns that the download is unsandboxed; harmless.
    # Old lists may name a version the mirror has dropped since: update once.
    if ! download_pkg "$pkg" "$tmp"; then
        if [ $updated = 0 ]; then
            apt_update
            rm -rf "$KDIR"
            pkg=$(resolve_kernel_pkg)
            KDIR=$CACHE/kernel/$pkg
            mkdir -p "$KDIR"
        fi
        if [ -z "$pkg" ] || ! download_pkg "$pkg" "$tmp"; then
            rm -rf "$tmp"
            die "apt-get download ${pkg:-$KERNEL_META} ($SUITE) failed (is a Debian mirror reachable?)"
        fi
    fi
    deb=$({ ls "$tmp"/"$pkg"_*.deb 2>/dev/null || true; } | head -n1)
    [ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
    dpkg -x "$deb" "$KDIR/root" || die "dpkg -x $deb failed"
    rm -rf "$tmp"
    # trixie's package is merged-/usr: its modules are in usr/lib/modules.
    # The rest of the lab (and the initramfs) wants them in lib/modules.
    if [ ! -d "$KDIR/root/lib/modules" ] && [ -d "$KDIR/root/usr/lib/modules" ]; then
        mkdir -p "$KDIR/root/lib"
        mv "$KDIR/root/usr/lib/modules" "$KDIR/root/lib/modules"
    fi
    # trixie's modules are xz-compressed (.ko.xz). Busybox's modprobe, which the
    # scenarios' shell may run, cannot load them; decompressed, every modprobe
    # can. depmod below indexes the .ko names.
    find "$KDIR/root/lib/modules" -name '*.ko.xz' -exec xz -d {} + ||
        die "xz -d of the modules of $pkg failed"
    if find "$KDIR/root/lib/modules" -name '*.ko.*' | grep -q .; then
        die "$pkg has modules compressed in a way the lab does not undo: $(find "$KDIR/root/lib/modules" -name '*.ko.*' | head -n1)"
    fi
    local kver
    kver=$({ ls "$KDIR/root/lib/modules" 2>/dev/null || true; } | head -n1)
    depmod -b "$KDIR/root" "$kver" || die "depmod -b $KDIR/root $kver failed"
    touch "$KDIR/.complete"
    echo "$pkg" >"$record"
}
mkdir -p "$CACHE/kernel"
# two labs started at once (the CI boots two kernels side by side) share the
# cache: one fetches at a time
exec 9>"$CACHE/kernel/.lock"
flock 9
fetch_kernel
flock -u 9
exec 9>&-

KVER=$({ ls "$KDIR/root/lib/modules" 2>/dev/null || true; } | head -n1)
VMLINUZ=$KDIR/root/boot/vmlinuz-$KVER
[ -n "$KVER" ] && [ -f "$VMLINUZ" ] || die "no kernel image or modules in $KDIR"
[ -f "$KDIR/root/lib/modules/$KVER/modules.dep" ] ||
    depmod -b "$KDIR/root" "$KVER" || die "depmod -b $KDIR/root $KVER failed"

# ---------------------------------------------------------------- initramfs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipvs-lab.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,run,etc,lab/scenarios,srv}

copy_with_libs() { # SRC DEST-IN-ROOT
    local src=$1 dst=$2 lib
    install -D -m 0755 "$src" "$ROOT$dst"
    # ldd prints "name => /path (addr)" and "/path (addr)"; keep the paths
    if ldd "$src" >/dev/null 2>&1; then
        for lib in $(ldd "$src" | grep -o '/[^ ]*'); do
            [ -e "$ROOT$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$ROOT$lib"
        done
    fi
}

# busybox and its applets
cp "$(command -v busybox)" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list); do
    case $applet in
        busybox | ip | modprobe | insmod | rmmod | lsmod | depmod | modinfo) continue ;;
    esac
    [ -e "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
done

copy_with_libs /usr/sbin/ip /usr/sbin/ip
copy_with_libs "$(command -v ipvsadm)" /usr/sbin/ipvsadm
copy_with_libs "$(readlink -f /usr/sbin/modprobe)" /usr/bin/kmod
for t in modprobe lsmod insmod rmmod depmod modinfo; do ln -s ../usr/bin/kmod "$ROOT/sbin/$t"; done
if command -v conntrack >/dev/null 2>&1; then copy_with_libs "$(command -v conntrack)" /usr/sbin/conntrack; fi
# ethtool, to compare the exporter's NIC settings with
if command -v ethtool >/dev/null 2>&1; then copy_with_libs "$(command -v ethtool)" /usr/sbin/ethtool; fi
if [ "$NEED_NODE_EXPORTER" = 1 ]; then
    copy_with_libs "$(command -v prometheus-node-exporter)" /usr/bin/prometheus-node-exporter
fi
# tc from iproute2 (as ip is): busybox's own tc applet has no u32 filters or actions
if [ "$NEED_TC" = 1 ]; then copy_with_libs /usr/sbin/tc /usr/sbin/tc; fi
if [ "${IPVS_LAB_SCALE_PROFILE:-0}" = 1 ]; then
    command -v perf >/dev/null 2>&1 || die "IPVS_LAB_SCALE_PROFILE=1 needs perf on the host (apt-get install linux-perf)"
    # /usr/bin/perf is Debian's wrapper (of a versioned perf_X.Y) or the tool itself
    perf_tool=$(readlink -f "$(command -v perf)")
    for versioned in /usr/bin/perf_[0-9]*; do
        if [ -x "$versioned" ]; then perf_tool=$versioned; fi
    done
    copy_with_libs "$perf_tool" /usr/bin/perf
fi
# keepalived (Debian's package) for the VRRP scenarios, and setpriv to run the
# exporter with a chosen capability set
if ! command -v keepalived >/dev/null 2>&1; then
    say "installing keepalived for the VRRP scenarios"
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends keepalived >&2 ||
        die "apt-get install keepalived failed"
fi
copy_with_libs "$(command -v keepalived)" /usr/sbin/keepalived
if command -v setpriv >/dev/null 2>&1; then copy_with_libs "$(command -v setpriv)" /usr/bin/setpriv; fi

if [ -n "$EXPORTER" ]; then
    # debug builds carry hundreds of MB of debug info; the guest has 512 MB
    if command -v strip >/dev/null 2>&1; then
        strip --strip-debug -o "$WORK/ipvs_exporter" "$EXPORTER" ||
            die "strip $EXPORTER failed (was it being rebuilt?)"
    else
        cp "$EXPORTER" "$WORK/ipvs_exporter"
    fi
    copy_with_libs "$WORK/ipvs_exporter" /bin/ipvs_exporter
fi

# the kernel modules the scenarios need, with what they depend on
MODULES="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_dh ip_vs_sed
 ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_lblc ip_vs_lblcr ip_vs_mh veth dummy ipip tunnel4
 ip6_tunnel tunnel6 tun wireguard sctp nf_conntrack nf_conntrack_netlink virtio_pci virtio_net"
if [ "$NEED_TC" = 1 ]; then MODULES+=" sch_ingress cls_u32 act_gact"; fi
MODDIR=lib/modules/$KVER
mkdir -p "$ROOT/$MODDIR"
for m in $MODULES; do
    deps=$(modprobe -d "$KDIR/root" -S "$KVER" --show-depends "$m" 2>&1) ||
        die "module $m not found in $KVER: $deps"
    for ko in $(echo "$deps" | awk '$1 == "insmod" { print $2 }'); do
        rel=${ko#"$KDIR/root/"}
        [ -e "$ROOT/$rel" ] || install -D -m 0644 "$ko" "$ROOT/$rel"
    done
done
cp "$KDIR/root/$MODDIR"/modules.{order,builtin,builtin.modinfo} "$ROOT/$MODDIR/" 2>/dev/null || true
depmod -b "$ROOT" "$KVER" || die "depmod on the initramfs tree failed"

# the guest programs
install -m 0755 "$LAB_DIR/guest/init" "$ROOT/init"
install -m 0644 "$LAB_DIR/guest/lib.sh" "$ROOT/lab/lib.sh"
install -m 0644 "$LAB_DIR/guest/checkpoint.sh" "$ROOT/lab/checkpoint.sh"
: >"$ROOT/lab/scenarios.list"
for s in "${SCENARIOS[@]}"; do
    name=$(basename "$s" .sh)
    install -m 0755 "$s" "$ROOT/lab/scenarios/$name.sh"
    echo "$name" >>"$ROOT/lab/scenarios.list"
done
: >"$ROOT/lab/env"
if [ -n "${IPVS_LAB_SOAK_SECONDS:-}" ]; then
    [[ $IPVS_LAB_SOAK_SECONDS =~ ^[1-9][0-9]*$ ]] || die "IPVS_LAB_SOAK_SECONDS=$IPVS_LAB_SOAK_SECONDS is not a number of seconds"
    echo "SOAK_SECONDS=$IPVS_LAB_SOAK_SECONDS" >>"$ROOT/lab/env"
fi
if [ -n "${IPVS_LAB_SCALE_SIZES:-}" ]; then
    [[ $IPVS_LAB_SCALE_SIZES =~ ^[1-9][0-9]*( [1-9][0-9]*)*$ ]] || die "IPVS_LAB_SCALE_SIZES=$IPVS_LAB_SCALE_SIZES is not a list of service counts"
    echo "SCALE_SIZES='$IPVS_LAB_SCALE_SIZES'" >>"$ROOT/lab/env"
fi
if [ -n "${IPVS_LAB_SCALE_ROUNDS:-}" ]; then
    [[ $IPVS_LAB_SCALE_ROUNDS =~ ^[0-9]+( [0-9]+)*$ ]] || die "IPVS_LAB_SCALE_ROUNDS=$IPVS_LAB_SCALE_ROUNDS is not a list of round counts"
    echo "SCALE_ROUNDS='$IPVS_LAB_SCALE_ROUNDS'" >>"$ROOT/lab/env"
fi
if [ "${IPVS_LAB_SCALE_PROFILE:-0}" = 1 ]; then echo "SCALE_PROFILE=1" >>"$ROOT/lab/env"; fi
echo "root:x:0:0:root:/root:/bin/sh" >"$ROOT/etc/passwd"
echo "root:x:0:" >"$ROOT/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOT/etc/hosts"
# an initial console for init, in case the kernel's built-in archive lacks one
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true

(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz" ||
    die "packing the initramfs failed"
say "kernel $KVER ($SUITE), initramfs $(du -m "$WORK/initrd.gz" | cut -f1) MB, prepared in $(($(date +%s) - T0)) s"

# ---------------------------------------------------------------- boot
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
# which kernel these results come from
printf 'suite %s\npackage %s\nrelease %s\n' "$SUITE" "$(basename "$KDIR")" "$KVER" >"$OUTDIR/kernel.txt"
for s in "${SCENARIOS[@]}"; do rm -rf "${OUTDIR:?}/$(basename "$s" .sh)"; done
CONSOLE=$OUTDIR/console.log
T1=$(date +%s)
say "booting qemu (TCG, ${MEMORY} MB, timeout ${TIMEOUT} s), scenarios: $(tr '\n' ' ' <"$ROOT/lab/scenarios.list")"
rc=0
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
    -accel tcg -cpu max -m "$MEMORY" -smp 1 -nographic -no-reboot \
    -nic "$NIC" \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=1" \
    </dev/null >"$CONSOLE" 2>"$WORK/qemu.err" || rc=$?
say "guest ran for $(($(date +%s) - T1)) s"

# the console without the result blocks
tail_console() {
    tr -d '\r' <"$CONSOLE" | awk '/@@LAB-BEGIN /{b=1} !b && !/@@LAB/{print} /@@LAB-END /{b=0}' |
        tail -n "${1:-30}" | sed 's/^/  console| /' >&2
}

if [ $rc = 124 ] || [ $rc = 137 ]; then
    tail_console 40
    where=$(tr -d '\r' <"$CONSOLE" | grep -o '@@LAB-SCENARIO [^ ]*' | tail -n1 | cut -d' ' -f2 || true)
    die "guest timed out after ${TIMEOUT} s (IPVS_LAB_TIMEOUT)${where:+ during scenario $where}; console in $CONSOLE"
fi
if [ $rc != 0 ]; then
    sed 's/^/  qemu| /' "$WORK/qemu.err" >&2
    tail_console 20
    die "qemu exited with status $rc"
fi
if ! grep -q "@@LAB-START" "$CONSOLE"; then
    sed 's/^/  qemu| /' "$WORK/qemu.err" >&2
    tail_console 40
    die "the guest never started the lab init (kernel or initramfs problem); console in $CONSOLE"
fi

# ---------------------------------------------------------------- results
# Blocks look like:
#   @@LAB-BEGIN <relative path>
#   <base64 lines>
#   @@LAB-END <relative path>
# and a final MANIFEST block lists "md5  path" for every file sent.
B64=$WORK/b64
mkdir -p "$B64"
tr -d '\r' <"$CONSOLE" | awk -v dir="$B64" '
    /^@@LAB-BEGIN / {
        name = $2
        if (name ~ /(^|\/)\.\.(\/|$)/ || name ~ /^\//) { print "bad block name " name > "/dev/stderr"; exit 1 }
        gsub(/\//, "%", name)
        f = dir "/" name
        printf "" > f
        inblock = 1
        next
    }
    /^@@LAB-END / { if (inblock) close(f); inblock = 0; next }
    inblock { print > f }
' || die "malformed console output"

[ -f "$B64/MANIFEST" ] || {
    tail_console 40
    die "the guest did not send its manifest (it stopped before the end); console in $CONSOLE"
}
base64 -d "$B64/MANIFEST" >"$WORK/manifest" || die "manifest block is corrupt"
missing=0
while read -r sum rel; do
    src=$B64/${rel//\//%}
    if [ ! -f "$src" ]; then
        say "missing block: $rel"
        missing=$((missing + 1))
        continue
    fi
    mkdir -p "$(dirname "$OUTDIR/$rel")"
    if ! base64 -d "$src" >"$OUTDIR/$rel" 2>/dev/null; then
        say "corrupt block: $rel"
        missing=$((missing + 1))
        continue
    fi
    got=$(md5sum "$OUTDIR/$rel" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
        say "checksum mismatch: $rel"
        missing=$((missing + 1))
    fi
done <"$WORK/manifest"
[ $missing = 0 ] || die "$missing result block(s) missing or damaged; console in $CONSOLE"
grep -q '^@@LAB-DONE' "$CONSOLE" || die "the guest did not reach the end of the lab"

failed=0
while read -r name; do
    st=$(cat "$OUTDIR/$name/status" 2>/dev/null || echo "no status")
    if [ "$st" != 0 ]; then
        say "scenario $name failed (status $st); last lines of $OUTDIR/$name/scenario.log:"
        tail -n 25 "$OUTDIR/$name/scenario.log" 2>/dev/null | sed 's/^/  guest| /' >&2
        failed=$((failed + 1))
    fi
done <"$ROOT/lab/scenarios.list"
[ $failed = 0 ] || die "$failed scenario(s) failed in the guest"

say "all scenarios ran; results in $OUTDIR; wall time $(($(date +%s) - T0)) s"
