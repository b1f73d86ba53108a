# Sourced by the hack/ scripts: create or reuse .venv and install sedna with its dev extra when pyproject.toml
# changed since the last install. Leaves .venv/bin first on PATH.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.sedna-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing sedna with its dev extra into .venv"
  .venv/bin/pip install -q -U pip setuptools wheel
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
