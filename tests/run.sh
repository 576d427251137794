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
  "amtool prometheus-alertmanager"
  "victoria-metrics victoria-metrics"
  "python3 python3"
  "podman podman"
  "lintian lintian"
  "dpkg-deb dpkg"
  "systemd-analyze systemd"
  "mmdebstrap mmdebstrap"
  "mke2fs e2fsprogs"
  "xz xz-utils"
  "/usr/share/keyrings/debian-archive-keyring.gpg debian-archive-keyring"
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
# the mixin's check reads the rendered rules back with Python's YAML parser
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import yaml' >/dev/null 2>&1; then
  missing+=(python3-yaml)
fi
if ((${#missing[@]})); then
  echo "tests/run.sh: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Disk: a clean run holds about 3 GB of build output in target/ and up to 2 GB of lab images in
# $TMPDIR at a time. Incremental compilation (another 1.5 GB) buys nothing in a run that builds
# each thing once, and full debug information only makes the test binaries larger: file and
# line in backtraces is enough.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}
disk_report() { # what is free where the build and the lab write
  df -h --output=target,avail . "${TMPDIR:-/tmp}" 2>/dev/null | sed 's/^/tests\/run.sh: disk: /' >&2 || true
}
disk_report
trap 'status=$?; [ $status = 0 ] || disk_report; exit $status' EXIT

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

# Every tier below is built with all three tier features at once: the features only switch
# test targets on, so one build of the crate serves them all (a build per feature set would
# compile and link everything three more times).
tiers=test-host,test-browser,test-lab

# Plain tier: no root, network, qemu, Chromium or host tools. The workspace: the exporter and
# testkit/, its test doubles.
cargo test --workspace --locked

# test-host: root, the live kernel, host tools.
cargo test --locked --features $tiers --test golden_promtool
cargo test --locked --features $tiers --test uapi_headers
cargo test --locked --features $tiers --test host_live
cargo test --locked --features $tiers --test keepalived_configtest
cargo test --locked --features $tiers --test conntrack_live
cargo test --locked --features $tiers --test ethtool_live
cargo test --locked --features $tiers --test web_tls
# fleet against a real Prometheus scraping exporters on loopback (prometheus).
cargo test --locked --features $tiers --test fleet_prometheus
# The same fleet report from VictoriaMetrics scraping the same exporters (victoria-metrics).
cargo test --locked --features $tiers --test fleet_victoria
# The alert and recording rules: promtool check and unit tests, the generator in sync, a
# real Prometheus on fixture exporters (jsonnet, prometheus).
cargo test --locked --features $tiers --test alerts
# The example Alertmanager configuration: amtool, and a real Alertmanager that inhibits.
cargo test --locked --features $tiers --test alertmanager

# Dashboards: generated from their sources, and loaded through Grafana's typed schema.
cargo test --locked --features $tiers --test dashboards_host

# Packages: the .deb (cargo-deb, lintian), the FROM scratch image (podman), the unit
# (systemd-analyze) and the Kubernetes manifests (kubernetes-validate).
cargo test --locked --features $tiers --test packaging_host

# test-browser: headless Chromium.
cargo test --locked --features $tiers --test report_browser

# test-lab: the qemu real-kernel lab, in two lanes side by side (qemu's TCG runs a guest on one
# thread, and the machine has two cores). Each lab boot is one guest of 512 MB to 1 GB.
#   lane 1, printed as it runs: every scenario on Debian 13's kernel (trixie, 6.12: the default
#     of tests/lab/run.sh), then the packages in a booted Debian system (dpkg, systemd, the unit's
#     privileges, the image's entrypoint, against a real IPVS table);
#   lane 2, printed when both lanes are done: a real Prometheus scraping the lab while it makes
#     traffic, a drain, a misconfiguration and a VRRP failover (the dashboards' queries, the
#     recording rules and the alerts), then the IPVS and keepalived scenarios on the older kernels,
#     Debian 12's 6.1 (bookworm) and Debian 11's 5.10 (bullseye), without the soak, then the
#     series budget on a table of 20,000 real servers with the scale benchmark's report (a guest
#     of 3 GB; the report's figures are printed, not checked).
# A lane goes on after a failure, so that one run shows every failure.
cargo test --locked --features $tiers --no-run --test lab --test lab_prometheus --test lab_debian --test lab_scale
kernel_scenarios=(nat kinds churn sources keepalived keepalived-extras checkers datadump conformance)
lab_on_suite() { # SUITE SCENARIO...: only those scenarios in the boot, and only their tests
  local suite=$1 filters=() s
  shift
  for s in "$@"; do filters+=("lab_${s//-/_}_"); done
  echo "---- lab on $suite: $*"
  IPVS_LAB_SUITE=$suite IPVS_LAB_SCENARIOS=$(IFS=,; echo "$*") \
    cargo test --locked --features $tiers --test lab -- "${filters[@]}"
}
lab_lane_2() {
  local failed=0
  cargo test --locked --features $tiers --test lab_prometheus || failed=1
  lab_on_suite bookworm "${kernel_scenarios[@]}" || failed=1
  # advisor on 5.10 as well: the run_estimation rule skipped there, with its reason
  lab_on_suite bullseye "${kernel_scenarios[@]}" advisor || failed=1
  # the series budget on 2,000 services of 10 real servers, and the scale benchmark's report
  cargo test --locked --features $tiers --test lab_scale || failed=1
  return $failed
}
lane_2_log=$(mktemp)
lab_lane_2 >"$lane_2_log" 2>&1 &
lane_2=$!
lane_1_failed=0
cargo test --locked --features $tiers --test lab || lane_1_failed=1
cargo test --locked --features $tiers --test lab_debian || lane_1_failed=1
lane_2_failed=0
wait $lane_2 || lane_2_failed=1
echo "---- lab lane 2: lab_prometheus, the lab on bookworm and bullseye, lab_scale"
cat "$lane_2_log"
rm -f "$lane_2_log"
[ $lane_1_failed = 0 ] || echo "tests/run.sh: lane 1 failed: the lab on trixie or lab_debian (above)" >&2
[ $lane_2_failed = 0 ] || echo "tests/run.sh: lane 2 failed: lab_prometheus, the lab on bookworm or bullseye, or lab_scale (above)" >&2
[ $lane_1_failed = 0 ] && [ $lane_2_failed = 0 ]
