#!/usr/bin/env bash
# Builds (or reuses) the local control plane's binaries from the pinned Go
# modules beside this script: kube-apiserver, kube-controller-manager, kubectl,
# etcd and helm. They land in a cache folder outside the repository, keyed by
# the Go version and the modules' go.mod/go.sum, so a second run builds nothing
# and a fresh clone on the same machine reuses them.
#
# Prints the folder that holds the binaries on its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export GOFLAGS=-mod=readonly
export GOTOOLCHAIN=local

kube_version=v1.37.2
key=$(cat "$here"/{kube,etcd,helm}/go.{mod,sum} <(go version) | sha256sum | cut -c1-16)
cache_root=${MEETINGBOT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meetingbot-operator/tools}
bin="$cache_root/$kube_version-$key"

log() { printf '[tools] %s\n' "$*" >&2; }

if [[ -f "$bin/.complete" ]]; then
  log "reusing binaries in $bin"
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
start=$SECONDS
# The version ldflags make `kubectl version` and /version report the real
# release instead of v0.0.0-master.
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # module, output name, package, extra ldflags
  local module=$1 name=$2 pkg=$3 flags=${4:-}
  if [[ -x "$bin/$name" ]]; then
    log "$name already built"
    return
  fi
  log "building $name from $pkg (the first build of the control plane takes minutes)"
  (cd "$here/$module" && go build -trimpath -ldflags "-s -w $flags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
}

build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ldflags"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags"
build etcd etcd go.etcd.io/etcd/server/v3
build helm helm helm.sh/helm/v4/cmd/helm

touch "$bin/.complete"
log "built all binaries in $((SECONDS - start)) s"
echo "$bin"
