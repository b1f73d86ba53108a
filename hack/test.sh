#!/usr/bin/env bash
# Create or reuse .venv, install sedna with its dev extra, run the test suite.
# Extra arguments go to pytest (e.g. hack/test.sh -k apiserver).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.sedna-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q -U pip setuptools wheel
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "hack/test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
