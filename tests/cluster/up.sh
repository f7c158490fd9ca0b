#!/usr/bin/env bash
# Starts a local control plane: etcd, kube-apiserver and kube-controller-manager,
# on loopback only, on free ports, with RBAC, service-account signing keys and an
# admin client certificate in system:masters. Writes the admin kubeconfig to
# $CLUSTER_DIR/kubeconfig (default target/cluster/kubeconfig).
#
# A second call reuses a running cluster. `up.sh --check` only tells (exit 0)
# whether a healthy cluster is running.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${CLUSTER_DIR:-$repo/target/cluster}
log() { printf '[cluster] %s\n' "$*" >&2; }

healthy() {
  [[ -f "$dir/kubeconfig" && -f "$dir/apiserver.port" ]] || return 1
  for pidfile in "$dir"/pids/*.pid; do
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null || return 1
  done
  curl -fsS --max-time 2 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
    --key "$dir/pki/admin.key" "https://127.0.0.1:$(cat "$dir/apiserver.port")/readyz" >/dev/null 2>&1
}

if [[ "${1:-}" == "--check" ]]; then
  healthy
  exit
fi

if healthy; then
  log "reusing the running cluster: KUBECONFIG=$dir/kubeconfig"
  exit 0
fi

bin=$("$here/tools.sh" | tail -n1)
# Leftovers of a cluster that died: stop what is left of it and start clean.
"$here/down.sh" >/dev/null 2>&1 || true
mkdir -p "$dir"/{pki,pids,logs,etcd}
start=$SECONDS

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
etcd_port=$(free_port)
etcd_peer_port=$(free_port)
api_port=$(free_port)
kcm_port=$(free_port)

# --- certificates -----------------------------------------------------------
pki=$dir/pki
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=meetingbot-local-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
sign() { # name, subject, extensions
  openssl_quiet req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
  openssl_quiet x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -out "$pki/$1.crt" -extfile <(printf '%s\n' "$3")
}
sign apiserver "/CN=kube-apiserver" \
  "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc"$'\n'"extendedKeyUsage=serverAuth"
sign admin "/O=system:masters/CN=meetingbot-admin" "extendedKeyUsage=clientAuth"
openssl_quiet genrsa -out "$pki/sa.key" 2048
openssl_quiet rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

b64() { base64 -w0 "$1"; }
cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
EOF
chmod 600 "$dir/kubeconfig"

# --- processes --------------------------------------------------------------
# Each runs in its own session so that down.sh can stop it, and whatever it
# spawned, by the pid recorded here — never by name.
launch() { # name, command...
  local name=$1
  shift
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}

wait_for() { # process name, description, deadline in seconds, command...
  local name=$1 what=$2 deadline=$((SECONDS + $3))
  shift 3
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$dir/pids/$name.pid")" 2>/dev/null; then
      log "$name exited while waiting for $what; its last log lines:"
      tail -n 30 "$dir/logs/$name.log" >&2
      exit 1
    fi
    if ((SECONDS > deadline)); then
      log "timed out waiting for $what; last log lines:"
      tail -n 30 "$dir"/logs/*.log >&2
      exit 1
    fi
    sleep 0.2
  done
}

log "starting etcd on 127.0.0.1:$etcd_port"
launch etcd "$bin/etcd" --name local --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "local=http://127.0.0.1:$etcd_peer_port" \
  --unsafe-no-fsync --log-level warn
wait_for etcd etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"

log "starting kube-apiserver on https://127.0.0.1:$api_port"
echo "$api_port" >"$dir/apiserver.port"
launch kube-apiserver "$bin/kube-apiserver" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --disable-admission-plugins ServiceAccount \
  --endpoint-reconciler-type none \
  --profiling=false --v 1
wait_for kube-apiserver "kube-apiserver /readyz" 120 healthy

log "starting kube-controller-manager"
launch kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig "$dir/kubeconfig" \
  --authentication-kubeconfig "$dir/kubeconfig" --authorization-kubeconfig "$dir/kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$kcm_port" \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --use-service-account-credentials=false --leader-elect=false \
  --controllers '*' --v 1
wait_for kube-controller-manager "kube-controller-manager /healthz" 60 \
  curl -fsSk "https://127.0.0.1:$kcm_port/healthz"

wait_for kube-controller-manager "the default namespace" 60 \
  "$bin/kubectl" --kubeconfig "$dir/kubeconfig" get namespace default
log "cluster ready in $((SECONDS - start)) s: export KUBECONFIG=$dir/kubeconfig"
