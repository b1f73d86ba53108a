"""A user's clone has no ``../shared/reference``: the tests that compare with upstream's files skip with one
clear reason there, and everything else in them still passes.

Plays the bare clone by pointing SEDNA_REFERENCE_DIR at an empty folder and running pytest in a subprocess on
the reference-reading test modules that start no processes (the rest are covered by ``.ci/run``, which runs
every reference-reading module once that way)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import support_reference

REPO = Path(__file__).resolve().parents[1]
HELPERS = re.compile(r"\b(support_reference|api_reference|gm_testlib|gm_cluster|reference_dir)\b")
#: pure modules among those that read the reference (no cluster, no GM process): fast enough for every run
PURE = ("tests/api/", "tests/gm/test_gm_reconcile_", "tests/local/test_apiserver_crd.py")


def reference_modules() -> list[str]:
    """Every test module that reads the reference files through one of the shared helpers."""
    found = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if path.name != Path(__file__).name and HELPERS.search(path.read_text(encoding="utf-8")):
            found.append(str(path.relative_to(REPO)))
    return found


def test_reference_modules_are_found():
    modules = reference_modules()
    assert "tests/api/test_api_conformance.py" in modules and "tests/gm/test_gm_integration.py" in modules
    assert any(m.startswith(PURE) for m in modules)


@pytest.mark.timeout(240)
def test_reference_tests_skip_with_a_clear_reason_without_the_reference(tmp_path):
    modules = [m for m in reference_modules() if m.startswith(PURE)]
    env = {**os.environ, "SEDNA_REFERENCE_DIR": str(tmp_path / "no-reference")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "-m", "not slow",
                           *modules], cwd=REPO, env=env, capture_output=True, text=True, timeout=230, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    summary = out.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|skipped|failed|error)", summary)}
    assert counts.get("passed", 0) > 100 and counts.get("skipped", 0) > 50, summary
    reasons = re.findall(r"^SKIPPED \[\d+\] \S+: (.*)$", out, re.MULTILINE)
    assert reasons
    expected = support_reference.MISSING_REASON.replace(str(support_reference.REFERENCE),
                                                        str(tmp_path / "no-reference"))
    assert set(reasons) == {expected}, set(reasons)
