#!/usr/bin/env bash
# Peak memory of the operator for N MeetingBots, plain or padded with 200 KiB of
# foreign annotations each (what a tenant may add), against the local control
# plane (make cluster-up) and the fake LemonSlice; the MeetingBots are suspended,
# so no vendor call but the start-up check is made.
#   hack/padded-memory.sh plain|padded N [operator flags...]
# Prints the operator's peak and current RSS (VmHWM, VmRSS) once every
# MeetingBot shows Suspended. Uses the debug build (cargo build --workspace).
set -euo pipefail
mode=$1 n=$2
shift 2
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${CARGO_TARGET_DIR:-$repo/target}/debug
export PATH="$("$repo/tests/cluster/tools.sh" | tail -n1):$PATH"
export KUBECONFIG=${KUBECONFIG:-$repo/target/cluster/kubeconfig}
ns=padded-memory-$mode-$$
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; kubectl delete ns "$ns" --wait=false >/dev/null 2>&1; rm -rf "$work"' EXIT
kubectl create namespace "$ns" >/dev/null
python3 - "$mode" "$n" "$ns" >"$work/bots.yaml" <<'PY'
import json, sys
mode, n, ns = sys.argv[1], int(sys.argv[2]), sys.argv[3]
padding = {"tenant.example.com/padding": "x" * (200 * 1024)} if mode == "padded" else {}
for i in range(n):
    print(json.dumps({
        "apiVersion": "liveai.lemonslice.com/v1alpha1", "kind": "MeetingBot",
        "metadata": {"name": f"bot-{i}", "namespace": ns, "annotations": padding,
                     "labels": {"team": "a"}},
        "spec": {"sessionId": f"s{i}", "meetingUrl": "https://meet.google.com/abc-defg-hij",
                 "livekitUrl": "wss://x.livekit.cloud", "suspend": True,
                 "broadcastTokenSecretRef": {"name": "token", "key": "token"}}}))
    print("---")
PY
kubectl apply --server-side -f "$work/bots.yaml" >/dev/null
"$bin/fake-lemonslice" --api-key padded-memory-key >"$work/fake.log" 2>&1 &
for _ in $(seq 50); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/fake.log" | head -n1) && break
  sleep 0.1
done
LEMONSLICE_API_KEY=padded-memory-key "$bin/meetingbot-operator" run --lemonslice-url "$url" \
  --namespaces "$ns" --leader-election=false --metrics-addr 127.0.0.1:0 "$@" >"$work/operator.log" 2>&1 &
operator=$!
for _ in $(seq 300); do
  suspended=$(kubectl get mbot -n "$ns" -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c Suspended || true)
  [[ $suspended -ge $n ]] && break
  sleep 1
done
echo "$mode, $n MeetingBots, flags: ${*:-none}"
grep -E 'VmHWM|VmRSS' "/proc/$operator/status"
