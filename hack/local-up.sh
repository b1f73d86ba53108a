#!/usr/bin/env bash
# The main job, end to end on the single-machine cluster: creates/reuses .venv, installs sedna, then runs the
# helmet-detection JointInferenceService through API emulator → GM → runtime → workers → LC → CR status
# (hack/e2e-joint-inference.sh). Leaves the cluster up and prints how to inspect and tear it down.
# Safe to re-run. Settings: FRAMES, SEDNA_LOCAL_DIR, TIMEOUT, SEDNA_LOCAL_UP_ARGS (see that script).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/venv.sh
. hack/venv.sh
exec env PYTHON="$PWD/.venv/bin/python" bash hack/e2e-joint-inference.sh "$@"
