#!/usr/bin/env bash
# Builds (or reuses) the programs that judge the operator the way GitOps and
# monitoring tools do, from the pinned Go modules beside this script:
#   argocd-health  Argo CD v3's own health assessment (argocd/)
#   kstatus        sigs.k8s.io/cli-utils' kstatus, as Flux's wait uses (kstatus/)
#   promtool       Prometheus' rule checker and rule unit tester (prometheus/)
# Like tools.sh, they land in a cache folder outside the repository, keyed by the
# Go version and the modules' go.mod/go.sum (see lib.sh), so a second run builds
# nothing.
#
# Prints the folder that holds the binaries on its last line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

checkers() {
  build kstatus kstatus .
  build argocd argocd-health .
  # Service discovery plugins are of no use to rule checks and double the build.
  build prometheus promtool github.com/prometheus/prometheus/cmd/promtool "" -tags remove_all_sd
}

build_cached gitops-tools gitops- checkers \
  "$here"/{argocd,kstatus,prometheus}/go.{mod,sum} "$here"/{argocd,kstatus}/main.go
