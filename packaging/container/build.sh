#!/usr/bin/env bash
# Builds the container image: a statically linked release build of the
# exporter (glibc, crt-static), checked to need no shared library, copied into
# a context of its own and built FROM scratch with podman.
#
# usage: packaging/container/build.sh [TAG]   (default localhost/ipvs_exporter:VERSION)
# prints the image's tag on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "container: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
command -v podman >/dev/null 2>&1 || die "podman is not installed (Debian package podman)"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
tag=${1:-localhost/ipvs_exporter:$version}
TRIPLE=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$TRIPLE" >&2 ||
    die "cargo build --release --target $TRIPLE"
bin=target/$TRIPLE/release/ipvs_exporter
# ldd says "statically linked" (static-pie) or "not a dynamic executable"; a
# dynamically linked binary gets its libraries listed with "=>"
ldd_out=$(ldd "$bin" 2>&1 || true)
if grep -q "=>" <<<"$ldd_out" || ! grep -q "not a dynamic executable\|statically linked" <<<"$ldd_out"; then
    die "$bin is not statically linked: ldd says: $ldd_out"
fi
ctx=target/container-context
rm -rf "$ctx"
mkdir -p "$ctx"
cp "$bin" "$ctx/ipvs_exporter"
strip --strip-debug "$ctx/ipvs_exporter" 2>/dev/null || true
podman build --quiet -f packaging/container/Containerfile -t "$tag" "$ctx" >&2 || die "podman build"
echo "$tag"
