#!/usr/bin/env bash
# Runs a command against the local control plane: reuses a running cluster, or
# brings one up and takes it down again afterwards (also when the command fails).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# Tests and scripts find kubectl and helm on PATH and the cluster by KUBECONFIG.
PATH="$("$here/tools.sh" | tail -n1):$PATH"
# …and the GitOps and monitoring checkers (argocd-health, kstatus, promtool).
PATH="$("$here/gitops-tools.sh" | tail -n1):$PATH"
# …and krew (kubectl-krew), which installs the plugin's archive of `make dist`.
PATH="$("$here/krew.sh" | tail -n1):$PATH"
export PATH KUBECONFIG=${CLUSTER_DIR:-$repo/target/cluster}/kubeconfig
if "$here/up.sh" --check; then
  "$@"
  exit
fi
"$here/up.sh" || exit
trap '"$here/down.sh"' EXIT
"$@"
