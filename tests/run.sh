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
  "prometheus prometheus"
  "jsonnet jsonnet"
  "python3 python3"
)
missing=()
for pair in "${needed[@]}"; do
  read -r cmd pkg <<<"$pair"
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
    missing+=("$pkg")
  fi
done
# the dashboards' schema check makes a Python virtual environment
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
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
# test-host: the alert and recording rules (promtool check and unit tests, generator in sync; jsonnet, prometheus).
cargo test --locked --features test-host --test alerts

# dashboards: generated from their sources, and loaded through Grafana's typed schema
cargo test --locked --features test-host --test dashboards_host
# a real Prometheus scraping the lab while it makes traffic, a drain, a misconfiguration and a
# VRRP failover: dashboards' queries, recording rules and alerts
IPVS_LAB_TIMEOUT=${IPVS_LAB_TIMEOUT:-900} cargo test --locked --features test-lab --test lab_prometheus
