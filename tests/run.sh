#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and golden tests, promtool, and the
# real-kernel lab. Installs the Debian packages it needs when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
needed=(
  "promtool prometheus"
  "qemu-system-x86_64 qemu-system-x86"
  "ipvsadm ipvsadm"
  "cpio cpio"
  "depmod kmod"
  "/usr/sbin/ip iproute2"
  "/bin/busybox busybox-static"
  "ethtool ethtool"
  "conntrack conntrack"
  "chromium chromium"
  "/usr/sbin/keepalived keepalived"
)
missing=()
for pair in "${needed[@]}"; do
  read -r cmd pkg <<<"$pair"
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "tests/run.sh: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked

# packaging: the .deb, the image and the manifests (test-host), then the packages in a booted
# Debian system (test-lab)
packaging_needed=(
  "podman podman"
  "lintian lintian"
  "dpkg-deb dpkg"
  "systemd-analyze systemd"
  "mmdebstrap mmdebstrap"
  "mke2fs e2fsprogs"
)
missing=()
for pair in "${packaging_needed[@]}"; do
  read -r cmd pkg <<<"$pair"
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then missing+=(python3-venv); fi
if ((${#missing[@]})); then
  echo "tests/run.sh: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo test --locked --features test-host --test packaging_host
cargo test --locked --features test-lab --test lab_debian
