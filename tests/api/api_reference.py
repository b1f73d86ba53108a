"""Helpers of the API tests: upstream reference CRDs and samples (parsed once per session), repo paths.

A uniquely named module rather than ``conftest`` so imports cannot pick up another test area's conftest."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from support_reference import CRDS as UPSTREAM_CRDS_DIR
from support_reference import REFERENCE, needs_reference, require  # noqa: F401 - re-exported to the API tests
from support_reference import SAMPLES as SAMPLES_DIR

from sedna.api import yamlio

REPO = Path(__file__).resolve().parents[2]
#: upstream samples that upstream's own CRDs reject (see docs/api.md, "Sample oddities")
REJECTED_SAMPLES = {"objectsearchservice_v1alpha1.yaml", "objecttrackingservice_v1alpha1.yaml"}


def sample_files() -> list[Path]:
    """The upstream samples; empty on a bare clone (the tests built from them are marked ``needs_reference``)."""
    return sorted(SAMPLES_DIR.glob("*.yaml"))


@cache
def sample_docs(name: str) -> tuple:
    require()
    return tuple(yamlio.load_all((SAMPLES_DIR / name).read_text(encoding="utf-8")))


@cache
def upstream_crd(plural: str) -> dict:
    require()
    (doc,) = yamlio.load_all((UPSTREAM_CRDS_DIR / f"sedna.io_{plural}.yaml").read_text(encoding="utf-8"))
    return doc


def upstream_schema(plural: str) -> dict:
    return upstream_crd(plural)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
