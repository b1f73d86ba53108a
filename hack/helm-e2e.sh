#!/usr/bin/env bash
# The real-cluster install path on one machine, in one command: `sedna local up --bare`, the Helm chart rendered
# by Helm's own engine and applied (GM Deployment, LC DaemonSet, CRDs, RBAC, ...), then the joint-inference
# example through that GM and LC until its CR shows the inference and hard-example counts; then down.
# The steps live in sedna/local/helm_e2e.py (`sedna local helm-e2e --help`); arguments are passed on, e.g.
#   hack/helm-e2e.sh --keep --frames 20 --cluster-cidr 127.42.0.0/16 --lc-port 19100
# SEDNA_LOCAL_DIR: cluster directory (default: a new temporary one).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/venv.sh
. hack/venv.sh
DATA_DIR=${SEDNA_LOCAL_DIR:-$(mktemp -d -t sedna-helm-e2e.XXXXXX)}
exec .venv/bin/python -m sedna local --data-dir "$DATA_DIR" helm-e2e \
  --chart deploy/helm/sedna --example examples/joint_inference/helmet_detection "$@"
