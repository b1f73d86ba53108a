#!/usr/bin/env bash
# A tour of the single-machine cluster itself: bring it up (API emulator + process runtime + GM + one LC per
# node), apply a Dataset, run a demo pod on each node and show its log and status. Safe to re-run: an existing cluster is reused and the
# demo pods are replaced.
#   NODES=cloud-node,edge-node  SEDNA_LOCAL_DIR=~/.sedna/local  SEDNA_LOCAL_UP_ARGS="--no-controllers"
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# shellcheck source=hack/venv.sh
. hack/venv.sh

DATA_DIR=${SEDNA_LOCAL_DIR:-$HOME/.sedna/local}
NODES=${NODES:-cloud-node,edge-node}
local_cmd() { sedna --log-level WARNING local --data-dir "$DATA_DIR" "$@"; }

say "starting the cluster (nodes: $NODES, data dir: $DATA_DIR)"
# shellcheck disable=SC2086
local_cmd up --nodes "$NODES" ${SEDNA_LOCAL_UP_ARGS:-}
KUBECONFIG_FILE="$DATA_DIR/kubeconfig"

sample=../shared/reference/samples/dataset_v1alpha1.yaml
if [ -f "$sample" ]; then
  say "applying the upstream Dataset sample ($sample)"
  local_cmd apply -f "$sample"
fi
first_edge=$(printf '%s\n' "${NODES//,/$'\n'}" | sed -n '2p;' | cut -d: -f1)
first_edge=${first_edge:-$(printf '%s' "$NODES" | cut -d, -f1 | cut -d: -f1)}
say "applying a Dataset whose index file lives on node $first_edge"
mkdir -p "$DATA_DIR/nodes/$first_edge/data/demo"
printf '/data/demo/img%d.jpg 0\n' 1 2 3 > "$DATA_DIR/nodes/$first_edge/data/demo/train.txt"
local_cmd apply -f - <<YAML
apiVersion: sedna.io/v1alpha1
kind: Dataset
metadata:
  name: dataset-local-demo
spec:
  url: /data/demo/train.txt
  format: txt
  nodeName: $first_edge
YAML

say "running a demo pod on each node"
manifest=$(mktemp)
trap 'rm -f "$manifest"' EXIT
for spec in ${NODES//,/ }; do
  node=${spec%%:*}
  local_cmd delete pod "demo-$node" >/dev/null 2>&1 || true
  cat >> "$manifest" <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: demo-$node
  labels: {app: sedna-local-demo}
spec:
  restartPolicy: Never
  nodeSelector: {kubernetes.io/hostname: $node}
  containers:
  - name: hello
    image: python:3
    command: [python, -c, "import os, platform; print(f'hello from pod {os.environ[\"HOSTNAME\"]} on node {os.environ[\"NODE\"]}, pod IP {os.environ[\"POD_IP\"]}, python {platform.python_version()}')"]
    env:
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
YAML
done
# deleted pods disappear once their processes are gone
for _ in $(seq 1 50); do
  left=$(local_cmd get pods -o name 2>/dev/null | grep -c '/demo-' || true)
  [ "$left" = 0 ] && break
  sleep 0.2
done
local_cmd apply -f "$manifest"
for spec in ${NODES//,/ }; do
  node=${spec%%:*}
  for _ in $(seq 1 100); do
    phase=$(local_cmd get pod "demo-$node" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get("phase",""))')
    case "$phase" in Succeeded|Failed) break ;; esac
    sleep 0.2
  done
  say "pod demo-$node: $phase; its log:"
  local_cmd logs "demo-$node"
done

say "pods"
local_cmd get pods -o wide
say "datasets"
local_cmd get datasets
say "cluster status"
local_cmd status

cat <<EOF2

The cluster keeps running in the background. To inspect it:
  export KUBECONFIG=$KUBECONFIG_FILE
  kubectl get pods -A -o wide            # .venv/bin/kubectl
  sedna local --data-dir $DATA_DIR get pods
  sedna local --data-dir $DATA_DIR logs demo-${NODES%%[,:]*}
To tear it down:
  sedna local --data-dir $DATA_DIR down            # add --purge to delete $DATA_DIR
EOF2
