#!/usr/bin/env bash
# Kills the local control plane's kube-apiserver and starts it again with the
# same command line, port and certificates, so that kubeconfigs stay valid:
# what `make chaos` does to show that the operator recovers by itself.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=${CLUSTER_DIR:-$repo/target/cluster}
pidfile=$dir/pids/kube-apiserver.pid
pid=$(cat "$pidfile")
mapfile -d '' command <"/proc/$pid/cmdline"

kill "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
echo "[cluster] kube-apiserver stopped; starting it again" >&2
setsid "${command[@]}" >>"$dir/logs/kube-apiserver.log" 2>&1 </dev/null &
echo $! >"$pidfile"

deadline=$((SECONDS + 60))
until curl -fsS --max-time 2 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
  --key "$dir/pki/admin.key" "https://127.0.0.1:$(cat "$dir/apiserver.port")/readyz" >/dev/null 2>&1; do
  ((SECONDS < deadline)) || { echo "[cluster] kube-apiserver did not come back" >&2; exit 1; }
  sleep 0.2
done
echo "[cluster] kube-apiserver serves again" >&2
