#!/usr/bin/env bash
# Create or reuse .venv, install sedna with its dev extra, run the test suite.
# Extra arguments go to pytest (e.g. hack/test.sh -k apiserver).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/venv.sh
. hack/venv.sh
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "hack/test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
