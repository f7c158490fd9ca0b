#!/usr/bin/env bash
# Builds (or reuses) the programs that judge the operator the way GitOps and
# monitoring tools do, from the pinned Go modules beside this script:
#   argocd-health  Argo CD v3's own health assessment (argocd/)
#   kstatus        sigs.k8s.io/cli-utils' kstatus, as Flux's wait uses (kstatus/)
#   promtool       Prometheus' rule checker and rule unit tester (prometheus/)
# Like tools.sh, they land in a cache folder outside the repository, keyed by the
# Go version and the modules' go.mod/go.sum, so a second run builds nothing.
#
# Prints the folder that holds the binaries on its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export GOFLAGS=-mod=readonly
export GOTOOLCHAIN=local

key=$(cat "$here"/{argocd,kstatus,prometheus}/go.{mod,sum} "$here"/{argocd,kstatus}/main.go <(go version) |
  sha256sum | cut -c1-16)
cache_root=${MEETINGBOT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meetingbot-operator/tools}
bin="$cache_root/gitops-$key"

log() { printf '[gitops-tools] %s\n' "$*" >&2; }

if [[ -f "$bin/.complete" ]]; then
  log "reusing binaries in $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
start=$SECONDS
build() { # module, output name, package, extra go build flags...
  local module=$1 name=$2 pkg=$3
  shift 3
  if [[ -x "$bin/$name" ]]; then
    log "$name already built"
    return
  fi
  log "building $name from $pkg (the first build takes minutes)"
  (cd "$here/$module" && go build -trimpath -ldflags "-s -w" "$@" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
}

build kstatus kstatus .
build argocd argocd-health .
# Service discovery plugins are of no use to rule checks and double the build.
build prometheus promtool github.com/prometheus/prometheus/cmd/promtool -tags remove_all_sd

touch "$bin/.complete"
log "built all binaries in $((SECONDS - start)) s"
echo "$bin"
