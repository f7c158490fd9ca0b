# Developer entry points. Everything runs on a local control plane built from
# pinned Go modules (tests/cluster); see README.md.
SHELL := /bin/bash
CLUSTER := tests/cluster

.PHONY: help tools cluster-up cluster-down test lint crds dist
.DEFAULT_GOAL := help

## help: print these targets (what a bare `make` does)
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## tools: build (or reuse) kube-apiserver, kube-controller-manager, kubectl, etcd, helm, and argocd-health, kstatus, promtool, and krew
tools:
	@$(CLUSTER)/tools.sh >/dev/null
	@$(CLUSTER)/gitops-tools.sh >/dev/null
	@$(CLUSTER)/krew.sh >/dev/null

## cluster-up: start (or reuse) the local control plane; kubeconfig in target/cluster/kubeconfig
cluster-up:
	@$(CLUSTER)/up.sh

## cluster-down: stop the local control plane and remove its state
cluster-down:
	@$(CLUSTER)/down.sh

## test: unit and integration tests and the small chaos scenarios, against the local control plane (reused if running, else started and stopped afterwards)
test:
	@$(CLUSTER)/with-cluster.sh cargo test --workspace --locked --all-targets

## lint: formatting and clippy (the committed CRD is checked by `make test`)
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## crds: regenerate crds/meetingbot.yaml from the Rust types, and its copy in the Helm chart
crds:
	cargo run --quiet --locked -- crd > crds/meetingbot.yaml
	cp crds/meetingbot.yaml charts/meetingbot-operator/crds/meetingbot.yaml

## dist: the release artifacts in dist/: the packaged chart, the CRD alone, a one-file install manifest, kubectl-mbot archives, a krew manifest and SHA256SUMS (hack/dist.sh; builds helm first if needed)
dist:
	@PATH="$$($(CLUSTER)/tools.sh | tail -n1):$$PATH" hack/dist.sh

.PHONY: demo demo-down
## demo: the whole mission on this machine (control plane, fake LemonSlice, operator, examples/)
demo:
	@hack/demo.sh

## demo-down: stop the demo's operator and fake LemonSlice, and the local control plane (also when `make demo` found it running)
demo-down:
	@hack/demo.sh down

.PHONY: bench bench-scaling bench-rest chaos
## bench: convergence, cost and restart figures for N MeetingBots against an API-server-only baseline (BENCH_N, BENCH_LATENCY_MS; BENCH_SCALING=1 runs bench-scaling); results and plot in target/bench/
bench:
	@$(CLUSTER)/with-cluster.sh cargo test --release --locked --test e2e bench:: -- --ignored --nocapture --test-threads=1

## bench-scaling: the bench at N = 100, 1000, 5000 and 10000, each with its baseline (BENCH_SCALING_NS); table and plot against N in target/bench/
bench-scaling:
	@BENCH_SCALING=1 $(CLUSTER)/with-cluster.sh cargo test --release --locked --test e2e bench:: -- --ignored --nocapture --test-threads=1

## bench-rest: a fleet at rest: BENCH_REST_N (10000) joined MeetingBots polled every BENCH_REST_POLL_SECS (30) at the default vendor bound; CPU and RSS at rest, and how long BENCH_REST_NEW (20) new ones wait to join; target/bench/rest.json
bench-rest:
	@BENCH_REST=1 $(CLUSTER)/with-cluster.sh cargo test --release --locked --test e2e bench:: -- --ignored --nocapture --test-threads=1

## chaos: every chaos scenario, small and full size (vendor faults, killed operator, leader failover, rolling updates, replaced and copied MeetingBots, a restarted kube-apiserver, hostile input), checked for duplicate bots, bots left behind and leaked secrets; prints their table
chaos:
	@rm -f target/chaos/table.md
	@$(CLUSTER)/with-cluster.sh cargo test --release --locked --test e2e chaos:: -- --include-ignored --nocapture --test-threads=1
	@printf '\n| scenario | MeetingBots | faults or kills | duplicate bots | bots left behind | JoinOutcomeUnknown | secrets found |\n|---|---|---|---|---|---|---|\n'
	@cat target/chaos/table.md
