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
  "cc gcc"
  "/usr/include/linux/ip_vs.h linux-libc-dev"
  "jsonnet jsonnet"
)
missing=()
for pair in "${needed[@]}"; do
  read -r cmd pkg <<<"$pair"
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -e "$cmd" ]; then
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
# test-host: the uapi numbers against the kernel headers (gcc, linux-libc-dev).
cargo test --locked --features test-host --test uapi_headers
# test-host: the alert and recording rules (promtool check and unit tests, generator in sync,
# a real Prometheus on fixture exporters; jsonnet, prometheus).
cargo test --locked --features test-host --test alerts
