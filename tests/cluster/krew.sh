#!/usr/bin/env bash
# Builds (or reuses) krew, the kubectl plugin manager, from the pinned module in
# krew/, as kubectl-krew (so that `kubectl krew` finds it): the install-from-dist
# test installs the kubectl-mbot archive with it. Like tools.sh, it lands in a
# cache folder outside the repository, keyed by the Go version and krew/go.{mod,sum}
# (see lib.sh), so a second run builds nothing.
#
# Prints the folder that holds the binary on its last line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

krew_version=v0.4.3

krew() {
  build krew kubectl-krew sigs.k8s.io/krew/cmd/krew \
    "-X sigs.k8s.io/krew/internal/version.gitTag=$krew_version -X sigs.k8s.io/krew/internal/version.gitCommit=$krew_version"
}

build_cached krew krew- krew "$here"/krew/go.{mod,sum}
