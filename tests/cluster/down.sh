#!/usr/bin/env bash
# Stops every process that up.sh started (by the pids it recorded, with their
# process groups) and removes the cluster's state.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${CLUSTER_DIR:-$repo/target/cluster}

stop() { # pidfile
  local pid
  pid=$(cat "$1")
  # up.sh started each process as the leader of its own process group.
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

if [[ -d "$dir/pids" ]]; then
  # Stop in reverse order of start: the controller manager, then the API server, then etcd.
  for name in kube-controller-manager kube-apiserver etcd; do
    [[ -f "$dir/pids/$name.pid" ]] && stop "$dir/pids/$name.pid"
  done
fi
rm -rf "$dir"
echo "[cluster] stopped" >&2
