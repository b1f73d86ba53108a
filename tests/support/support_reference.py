"""Upstream Sedna's reference files (CRDs and samples) at ``../shared/reference`` beside the clone.

They are there in this project's workspace and CI, not in a user's clone of the repository. Tests that compare
with upstream need them and skip, with this module's reason, when they are absent; every other test runs the
same with or without them. One place decides where they are and what the skip says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: SEDNA_REFERENCE_DIR moves it (tests/test_bare_clone.py points it at an empty folder to play a bare clone)
REFERENCE = Path(os.environ.get("SEDNA_REFERENCE_DIR") or REPO.parent / "shared" / "reference")
SAMPLES = REFERENCE / "samples"
CRDS = REFERENCE / "crds"
#: the skip reason every reference-conformance test reports on a bare clone (asserted by tests/test_bare_clone.py)
MISSING_REASON = (f"upstream Sedna reference files not found at {REFERENCE} "
                  "(../shared/reference beside the clone, or SEDNA_REFERENCE_DIR)")


def present() -> bool:
    return SAMPLES.is_dir() and CRDS.is_dir()


#: mark for a test (or a module's ``pytestmark``) that reads the reference files
needs_reference = pytest.mark.skipif(not present(), reason=MISSING_REASON)


def require() -> Path:
    """The reference folder; skips the calling test (or fixture) when it is absent."""
    if not present():
        pytest.skip(MISSING_REASON)
    return REFERENCE
