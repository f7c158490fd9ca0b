#!/usr/bin/env bash
# Builds (or reuses) the local control plane's binaries from the pinned Go
# modules beside this script: kube-apiserver, kube-controller-manager, kubectl,
# etcd and helm. They land in a cache folder outside the repository, keyed by
# the Go version and the modules' go.mod/go.sum (see lib.sh), so a second run
# builds nothing and a fresh clone on the same machine reuses them.
#
# Prints the folder that holds the binaries on its last line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kube_version=v1.37.2
# The version ldflags make `kubectl version` and /version report the real
# release instead of v0.0.0-master.
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

control_plane() {
  build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
  build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ldflags"
  build kube kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags"
  build etcd etcd go.etcd.io/etcd/server/v3
  build helm helm helm.sh/helm/v4/cmd/helm
}

build_cached tools "$kube_version-" control_plane "$here"/{kube,etcd,helm}/go.{mod,sum}
