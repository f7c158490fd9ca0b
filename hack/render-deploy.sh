#!/usr/bin/env bash
# Renders deploy/ (the kustomize base and the single-file install.yaml) from the
# Helm chart with fixed values, so that the three ways to install agree.
# A test re-renders into a temporary folder and fails on any difference:
# run this after changing the chart or the CRD.
#   hack/render-deploy.sh [OUTPUT_DIR]   (default: deploy)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/deploy}
namespace=meetingbot-system
helm=${HELM:-helm}
mkdir -p "$out"

cat >"$out/namespace.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
YAML
cp "$repo/crds/meetingbot.yaml" "$out/crd.yaml"
{
  echo "# Rendered by hack/render-deploy.sh from charts/meetingbot-operator; do not edit."
  echo "# The operator reads its LemonSlice API key from Secret meetingbot-operator-api-key:"
  echo "#   kubectl create secret generic meetingbot-operator-api-key -n $namespace --from-literal=api-key=..."
  # No Helm hooks: kubectl apply would run the uninstall guard's Job at once.
  "$helm" template meetingbot-operator "$repo/charts/meetingbot-operator" --namespace "$namespace" --skip-tests \
    --set uninstallGuard.enabled=false
} >"$out/operator.yaml"
cat >"$out/kustomization.yaml" <<YAML
# kubectl apply -k deploy/   (rendered by hack/render-deploy.sh; do not edit)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
  - crd.yaml
  - operator.yaml
YAML
{
  cat "$out/namespace.yaml"
  echo "---"
  cat "$out/crd.yaml"
  echo "---"
  cat "$out/operator.yaml"
} >"$out/install.yaml"
