#!/usr/bin/env bash
# The whole mission on one machine: the local control plane, the fake
# LemonSlice, the operator, and one MeetingBot per platform from examples/.
# `hack/demo.sh down` stops what it started.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
state=target/demo
namespace=meetingbot-demo
api_key=demo-api-key-$(date +%s)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

stop_started() {
  for name in operator fake-lemonslice; do
    if [[ -f "$state/$name.pid" ]]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      rm -f "$state/$name.pid"
    fi
  done
}

if [[ "${1:-}" == "down" ]]; then
  stop_started
  tests/cluster/down.sh
  rm -rf "$state"
  exit 0
fi

step "Building the local control plane (the first time takes about 11 minutes on 2 cores)"
bin=$(tests/cluster/tools.sh | tail -n1)
export PATH="$bin:$PATH"

step "Starting the local control plane"
tests/cluster/up.sh
export KUBECONFIG=$repo/target/cluster/kubeconfig

step "Building the operator and the fake LemonSlice"
cargo build --locked --bin meetingbot-operator && cargo build --locked -p fake-lemonslice

mkdir -p "$state"
stop_started

step "Starting the fake LemonSlice"
target/debug/fake-lemonslice --listen 127.0.0.1:0 --api-key "$api_key" \
  >"$state/fake-lemonslice.out" 2>"$state/fake-lemonslice.log" &
echo $! >"$state/fake-lemonslice.pid"
for _ in $(seq 100); do
  fake_url=$(sed -n 's/^listening on //p' "$state/fake-lemonslice.out")
  [[ -n "$fake_url" ]] && break
  sleep 0.1
done
[[ -n "${fake_url:-}" ]] || { echo "the fake did not start; see $state/fake-lemonslice.log" >&2; exit 1; }
echo "fake LemonSlice at $fake_url"

step "Installing the MeetingBot CRD"
kubectl apply --server-side -f crds/meetingbot.yaml
kubectl wait --for=condition=Established crd/meetingbots.liveai.lemonslice.com --timeout=30s

step "Starting the operator (logs in $state/operator.log)"
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LEMONSLICE_API_KEY=$api_key target/debug/meetingbot-operator run \
  --lemonslice-url "$fake_url" --namespaces "$namespace" --leader-election=false --log-format text \
  --metrics-addr "127.0.0.1:$metrics_port" >"$state/operator.log" 2>&1 &
echo $! >"$state/operator.pid"
until curl -fsS "http://127.0.0.1:$metrics_port/readyz" >/dev/null 2>&1; do
  kill -0 "$(cat "$state/operator.pid")" 2>/dev/null || { tail "$state/operator.log" >&2; exit 1; }
  sleep 0.2
done

step "Applying examples/ (a Secret and one MeetingBot per platform)"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$namespace" -f examples/
kubectl wait -n "$namespace" --for=condition=Ready mbot --all --timeout=60s

step "kubectl get mbot -A -o wide"
kubectl get mbot -A -o wide

step "The fake LemonSlice's live bots"
curl -fsS "$fake_url/_fake/bots" | python3 -m json.tool

step "Deleting zoom-standup: its bot leaves the meeting"
bot_id=$(kubectl get mbot -n "$namespace" zoom-standup -o jsonpath='{.status.meetingBotId}')
kubectl delete mbot -n "$namespace" zoom-standup --wait=true --timeout=30s
if curl -fsS "$fake_url/_fake/bots" | grep -q "$bot_id"; then
  echo "bot $bot_id is still in the meeting" >&2
  exit 1
fi
echo "bot $bot_id left; live bots now:"
curl -fsS "$fake_url/_fake/bots" | python3 -c 'import json,sys; [print(" ", b["meeting_bot_id"], b["meeting_url"]) for b in json.load(sys.stdin)]'

cat <<EOF

The cluster, the operator and the fake keep running. Explore:
  export KUBECONFIG=$KUBECONFIG PATH=$bin:\$PATH
  kubectl get mbot -n $namespace
  kubectl describe mbot -n $namespace meet-design-review
  curl $fake_url/_fake/bots
Stop everything with: make demo-down
EOF
