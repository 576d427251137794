#!/usr/bin/env bash
# Runs every test of the project, every tier: formatting, lints, plain `cargo test` (unit,
# parsers, replays, goldens, rules, HTTP on loopback), then each target of the test-host,
# test-browser and test-lab tiers by name. Installs the Debian packages the tiers need when
# they are missing. A tiered test whose tool is missing fails; none is skipped.
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
  "setpriv util-linux"
  "prometheus prometheus"
  "curl curl"
  "openssl openssl"
  "prlimit util-linux"
  "jsonnet jsonnet"
  "python3 python3"
  "podman podman"
  "lintian lintian"
  "dpkg-deb dpkg"
  "systemd-analyze systemd"
  "mmdebstrap mmdebstrap"
  "mke2fs e2fsprogs"
  "man man-db"
  "groff groff-base"
)
missing=()
for pair in "${needed[@]}"; do
  read -r cmd pkg <<<"$pair"
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -e "$cmd" ]; then
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
cargo clippy --all-targets --all-features --locked -- -D warnings

# Plain tier: no root, network, qemu, Chromium or host tools.
cargo test --locked

# test-host: root, the live kernel, host tools.
cargo test --locked --features test-host --test golden_promtool
cargo test --locked --features test-host --test uapi_headers
cargo test --locked --features test-host --test host_live
cargo test --locked --features test-host --test keepalived_configtest
cargo test --locked --features test-host --test conntrack_live
cargo test --locked --features test-host --test ethtool_live
cargo test --locked --features test-host --test web_tls
# The alert and recording rules: promtool check and unit tests, the generator in sync, a
# real Prometheus on fixture exporters (jsonnet, prometheus).
cargo test --locked --features test-host --test alerts

# Dashboards: generated from their sources, and loaded through Grafana's typed schema.
cargo test --locked --features test-host --test dashboards_host

# Packages: the .deb (cargo-deb, lintian), the FROM scratch image (podman), the unit
# (systemd-analyze) and the Kubernetes manifests (kubernetes-validate).
cargo test --locked --features test-host --test packaging_host

# test-browser: headless Chromium.
cargo test --locked --features test-browser --test report_browser

# test-lab: the qemu real-kernel lab.
cargo test --locked --features test-lab --test lab
# A real Prometheus scraping the lab while it makes traffic, a drain, a misconfiguration and a
# VRRP failover: the dashboards' queries, the recording rules and the alerts.
cargo test --locked --features test-lab --test lab_prometheus
# The packages in a booted Debian system: dpkg, systemd, the unit's privileges, the image's
# entrypoint, against a real IPVS table.
cargo test --locked --features test-lab --test lab_debian
