# Sourced by tools.sh and gitops-tools.sh: builds Go programs from the pinned
# modules beside this file into a cache folder outside the repository, named
# for the files that pin them and the Go version, so a second run builds
# nothing and a fresh clone on the same machine reuses them.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GOFLAGS=-mod=readonly
export GOTOOLCHAIN=local

# build_cached TAG PREFIX RECIPE FILE...
# The folder PREFIX<key> under the tools cache, <key> hashing the FILEs and
# `go version`: reused when a build completed there, else filled by RECIPE, a
# function that calls `build` once per program. Logs as [TAG] on stderr and
# prints the folder on the last line of stdout.
build_cached() {
  local tag=$1 prefix=$2 recipe=$3
  shift 3
  local key cache_root start
  key=$(cat "$@" <(go version) | sha256sum | cut -c1-16)
  cache_root=${MEETINGBOT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meetingbot-operator/tools}
  bin="$cache_root/$prefix$key"
  log_tag=$tag
  if [[ -f "$bin/.complete" ]]; then
    log "reusing binaries in $bin"
    echo "$bin"
    return
  fi
  mkdir -p "$bin"
  start=$SECONDS
  "$recipe"
  touch "$bin/.complete"
  log "built all binaries in $((SECONDS - start)) s"
  echo "$bin"
}

log() { printf '[%s] %s\n' "$log_tag" "$*" >&2; }

# build MODULE NAME PACKAGE [LDFLAGS [GO BUILD FLAGS...]]
# Builds PACKAGE in the module folder MODULE into $bin/NAME (stripped, with
# LDFLAGS added), unless an earlier, interrupted run already did.
build() {
  local module=$1 name=$2 pkg=$3 flags=${4:-}
  shift $(($# < 4 ? $# : 4))
  if [[ -x "$bin/$name" ]]; then
    log "$name already built"
    return
  fi
  log "building $name from $pkg (the first build takes minutes)"
  (cd "$here/$module" && go build -trimpath -ldflags "-s -w $flags" "$@" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
}
