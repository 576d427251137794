#!/usr/bin/env bash
# Builds every package of the exporter into target/packaging/:
#   ipvs-exporter_VERSION-1_amd64.deb      cargo-deb, from [package.metadata.deb]
#                                          (Debian's package names have no "_")
#   ipvs-exporter_VERSION-2_amd64.deb      the same files as the next Debian
#                                          revision (for upgrade tests)
#   container.tar                          the image's file system (podman export)
#   container-command.txt                  the image's entrypoint and the DaemonSet's
#                                          arguments, one per line
#   ipvs_exporter-VERSION.linux-amd64.tar.gz
#                                          node_exporter's layout: a directory of the
#                                          same name with the static binary, LICENSE,
#                                          README.md, CHANGELOG.md, docs/ (what the
#                                          README links to), dashboards/ (the
#                                          generated dashboards) and alerts/ (the rule
#                                          files)
#   ipvs_exporter-VERSION.linux-amd64.oci.tar
#                                          the image as an OCI archive (podman save)
#   SHA256SUMS                             sha256sum's lines for the release artifacts:
#                                          the -1 .deb, the tarball and the OCI archive
#                                          (the -2 twin and container.tar are for tests)
#   built-from                             the commit all of it was built from, written
#                                          only when the work tree was clean
#   docs/                                  the man page and shell completions the
#                                          .deb ships
# and the image itself, tagged localhost/ipvs_exporter:VERSION.
#
# The .deb holds an ordinary (dynamically linked) release build, with the
# libraries it needs as Depends; the image a static one
# (packaging/container/build.sh): a static glibc program that resolves a host
# name loads the host's NSS modules, which only works with the very glibc it
# was linked with. The tarball holds the image's binary. cargo-deb is installed
# (pinned) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0
say() { echo "packaging: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
OUT=target/packaging
mkdir -p "$OUT"
rm -f "$OUT/built-from"
# what the artifacts are built from: a commit, when nothing tracked or untracked differs from it
# (then a later step of the same run, tests/lab_debian.rs, can use them instead of building again)
built_from=$(git rev-parse HEAD 2>/dev/null || true)
[ -z "$(git status --porcelain 2>/dev/null)" ] || built_from=""
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)

if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    say "installing cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked >&2 || die "cargo install cargo-deb"
fi
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing (Debian package dpkg)"

tag=$(bash packaging/container/build.sh) || die "the container image"

rm -f "$OUT"/*.deb "$OUT"/*.tar.gz "$OUT"/*.oci.tar "$OUT/SHA256SUMS" "$OUT/built-from"
cargo build --release --locked >&2 || die "cargo build --release"

# Man page and shell completions ([package.metadata.deb] assets under $OUT/docs): the
# release binary writes them from its own clap definitions, so they name exactly the flags
# it takes, collectors included. A hidden subcommand rather than build.rs (which runs
# before the crate is compiled, so it could only describe a copy of the definitions) or a
# second binary (built by every `cargo build`): ordinary builds pay only for two small
# crates. Dated by the last commit, so that the same source gives the same page.
docs="$OUT/docs"
rm -rf "$docs"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" \
    cargo run --release --locked --quiet -- __generate-docs "$docs" >&2 ||
    die "the man page and completions (ipvs_exporter __generate-docs)"
gzip -9nf "$docs/ipvs_exporter.1" || die "gzip the man page"

cargo deb --no-build -o "$OUT/ipvs-exporter_${version}-1_amd64.deb" >&2 || die "cargo deb"
cargo deb --no-build --deb-version "${version}-2" -o "$OUT/ipvs-exporter_${version}-2_amd64.deb" >&2 ||
    die "cargo deb (upgrade version)"

cid=$(podman create "$tag") || die "podman create $tag"
podman export -o "$OUT/container.tar" "$cid" || { podman rm "$cid" >/dev/null; die "podman export"; }
podman rm "$cid" >/dev/null
podman image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$tag" \
    | sed '/^$/d' >"$OUT/container-command.txt" || die "podman image inspect"
# the DaemonSet's args: the "- --flag" lines of its container
sed -n '/^ *args:$/,/^ *ports:$/s/^ *- \(--.*\)$/\1/p' packaging/kubernetes/daemonset.yaml \
    >>"$OUT/container-command.txt"
[ "$(wc -l <"$OUT/container-command.txt")" -ge 3 ] || die "no entrypoint or DaemonSet arguments found"
echo "$tag" >"$OUT/image-tag.txt"

# The static tarball, from the binary the image holds (packaging/container/build.sh checked
# that it is static). Owners, order and times are fixed so that the same files give the same
# archive: times are the last commit's (or SOURCE_DATE_EPOCH).
release=ipvs_exporter-${version}.linux-amd64
stage=target/release-tarball
rm -rf "$stage"
mkdir -p "$stage/$release/dashboards" "$stage/$release/alerts" "$stage/$release/docs/images"
install -m 0755 target/container-context/ipvs_exporter "$stage/$release/ipvs_exporter"
install -m 0644 LICENSE README.md CHANGELOG.md "$stage/$release/"
# what the README links to, at the same relative paths
install -m 0644 docs/*.md "$stage/$release/docs/"
install -m 0644 docs/images/*.png "$stage/$release/docs/images/"
# a dashboard is a .json that dashboards/generate.sh renders from the mixin, one for each
# dashboards/<name>.libsonnet but mixin.libsonnet
for src in dashboards/*.libsonnet; do
    [ "$src" = dashboards/mixin.libsonnet ] && continue
    json=${src%.libsonnet}.json
    [ -f "$json" ] || die "$json is not generated (dashboards/generate.sh)"
    install -m 0644 "$json" "$stage/$release/dashboards/"
done
# the rule files alerts/generate.sh writes (their tests are in alerts/tests/), and the example
# Alertmanager configuration
install -m 0644 alerts/*.yaml alerts/alertmanager.yml "$stage/$release/alerts/"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$stage" -cf - "$release" | gzip -n -9 >"$OUT/$release.tar.gz" || die "the tarball"
rm -rf "$stage"

podman save --format oci-archive -o "$OUT/$release.oci.tar" "$tag" >&2 || die "podman save $tag"

(cd "$OUT" && sha256sum -- "ipvs-exporter_${version}-1_amd64.deb" "$release.tar.gz" \
    "$release.oci.tar" >SHA256SUMS) || die "SHA256SUMS"
say "built $(cd "$OUT" && ls *.deb *.tar.gz *.oci.tar SHA256SUMS | tr '\n' ' ')and image $tag"
[ -z "$built_from" ] || echo "$built_from" >"$OUT/built-from"
