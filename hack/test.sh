#!/usr/bin/env bash
# Create or reuse .venv, install sedna with its dev extra, run the test suite.
# Extra arguments go to pytest (e.g. hack/test.sh -k apiserver). Without a -m of its own the run is the default
# suite, `-m "not slow"`; the long end-to-end tests run with `hack/test.sh -m slow` (CI runs both).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/venv.sh
. hack/venv.sh
marker=(-m "not slow")
for arg in "$@"; do
  case "$arg" in -m|-m*) marker=() ;; esac
done
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "${marker[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "hack/test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
