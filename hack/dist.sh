#!/usr/bin/env bash
# Writes the release artifacts into dist/ (or OUTPUT_DIR), from the sources the
# tests keep in sync:
#   meetingbot-operator-<version>.tgz       the packaged Helm chart (helm package)
#   meetingbot-operator.crds.yaml            the CRD alone, to apply before an upgrade
#   meetingbot-operator.yaml                 a one-file install manifest (deploy/install.yaml)
#   kubectl-mbot_v<version>_<os>_<arch>.tar.gz
#                                            the kubectl plugin (and its completion helper
#                                            kubectl_complete-mbot once the workspace builds
#                                            it) and LICENSE, one archive per
#                                            platform this machine builds (its Rust targets)
#   kubectl-mbot.krew.yaml                   a krew Plugin manifest naming each archive's sha256
#   SHA256SUMS                               sha256sum of every file above
# Publishing them (an OCI chart, the image, a GitHub release) needs registries and
# credentials that this machine does not have: a CI with them runs this script and
# uploads dist/.
#   hack/dist.sh [OUTPUT_DIR]   (default: dist; needs helm on PATH, cargo, tar, sha256sum)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/dist}
helm=${HELM:-helm}
cd "$repo"

version=$(sed -n 's/^version: *//p' charts/meetingbot-operator/Chart.yaml)
crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
if [[ "$version" != "$crate_version" ]]; then
  echo "Chart.yaml's version $version is not Cargo.toml's $crate_version" >&2
  exit 1
fi
# Where the archives are published; krew needs a URL for each, even when it
# installs a local --archive.
release_url=${RELEASE_URL:-https://github.com/lemonslice/meetingbot-operator/releases/download/v$version}

rm -rf "$out"
mkdir -p "$out"
"$helm" package charts/meetingbot-operator --destination "$out" >/dev/null
cp crds/meetingbot.yaml "$out/meetingbot-operator.crds.yaml"
cp deploy/install.yaml "$out/meetingbot-operator.yaml"

# The plugin, for each installed Rust target whose platform krew knows.
platforms=()
for target in $(rustup target list --installed 2>/dev/null || rustc -vV | sed -n 's/^host: //p'); do
  case $target in
    x86_64-unknown-linux-gnu) platforms+=("$target linux amd64") ;;
    aarch64-unknown-linux-gnu) platforms+=("$target linux arm64") ;;
    x86_64-apple-darwin) platforms+=("$target darwin amd64") ;;
    aarch64-apple-darwin) platforms+=("$target darwin arm64") ;;
    *) echo "skipping Rust target $target: no krew platform for it" >&2 ;;
  esac
done
target_dir=${CARGO_TARGET_DIR:-$repo/target}
# kubectl's completion helper for the plugin (issue 30), once the workspace builds it.
bins=(kubectl-mbot)
if grep -q '^name = "kubectl_complete-mbot"' Cargo.toml; then
  bins+=(kubectl_complete-mbot)
fi
bin_args=()
for bin in "${bins[@]}"; do bin_args+=(--bin "$bin"); done
host=$(rustc -vV | sed -n 's/^host: //p')
krew_platforms=""
for platform in "${platforms[@]}"; do
  read -r target os arch <<<"$platform"
  echo "building kubectl-mbot for $target" >&2
  if [[ "$target" == "$host" ]]; then
    # Without --target: the host's release build shares its folder with others.
    cargo build --release --locked "${bin_args[@]}" >&2
    built=$target_dir/release
  else
    cargo build --release --locked "${bin_args[@]}" --target "$target" >&2
    built=$target_dir/$target/release
  fi
  staging=$(mktemp -d)
  for bin in "${bins[@]}"; do cp "$built/$bin" "$staging/"; done
  cp LICENSE "$staging/"
  archive="kubectl-mbot_v${version}_${os}_${arch}.tar.gz"
  # Reproducible: fixed order, owner and time.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -C "$staging" -cf - LICENSE "${bins[@]}" | gzip -n >"$out/$archive"
  rm -rf "$staging"
  sha=$(sha256sum "$out/$archive" | cut -d' ' -f1)
  krew_platforms+="
  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $release_url/$archive
    sha256: $sha
    bin: kubectl-mbot
    files:
      - from: LICENSE
        to: .$(for bin in "${bins[@]}"; do printf '\n      - from: %s\n        to: .' "$bin"; done)"
done
if [[ -z "$krew_platforms" ]]; then
  echo "no Rust target to build the plugin for" >&2
  exit 1
fi

cat >"$out/kubectl-mbot.krew.yaml" <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: mbot
spec:
  version: v$version
  homepage: https://github.com/lemonslice/meetingbot-operator#the-kubectl-plugin
  shortDescription: Look after MeetingBots (LemonSlice avatars in meetings)
  description: |
    kubectl mbot shows which MeetingBots need a person and why, and gets a
    stuck one going again: list, status, reconcile, adopt a bot after an
    unknown join outcome, retry a join, discard a copied record, suspend and
    resume.
    MeetingBots are the resources of the MeetingBot operator, which puts
    LemonSlice avatars into Zoom, Google Meet, Microsoft Teams and Webex meetings.
  platforms:$krew_platforms
YAML

(cd "$out" && sha256sum -- * >SHA256SUMS)
ls -l "$out" >&2
