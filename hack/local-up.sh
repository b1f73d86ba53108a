#!/usr/bin/env bash
# One example end to end on the single-machine cluster: creates/reuses .venv, installs sedna, then
# `sedna local example run NAME` (default: joint-inference-helmet). The runner prepares the example's data,
# starts the cluster if none runs in $SEDNA_LOCAL_DIR (default ~/.sedna/local), applies the example's YAMLs,
# shows progress and prints the CR's final status and where the outputs are. The cluster stays up.
#   hack/local-up.sh                       # joint inference
#   hack/local-up.sh --list                # the examples
#   hack/local-up.sh NAME [runner options: --timeout S --cluster-cidr 127.C.0.0/16 --lc-port P --down]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/venv.sh
. hack/venv.sh
if [ "${1:-}" = "--list" ]; then
  exec .venv/bin/python -m sedna --log-level WARNING local example list
fi
NAME=${1:-joint-inference-helmet}
[ $# -gt 0 ] && shift
exec .venv/bin/python -m sedna --log-level WARNING local example run "$NAME" "$@"
