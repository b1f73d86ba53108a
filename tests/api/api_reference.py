"""Helpers of the API tests: upstream reference CRDs and samples (parsed once per session), repo paths.

A uniquely named module rather than ``conftest`` so imports cannot pick up another test area's conftest."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sedna.api import yamlio

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference"
SAMPLES_DIR = REFERENCE / "samples"
UPSTREAM_CRDS_DIR = REFERENCE / "crds"
#: upstream samples that upstream's own CRDs reject (see docs/api.md, "Sample oddities")
REJECTED_SAMPLES = {"objectsearchservice_v1alpha1.yaml", "objecttrackingservice_v1alpha1.yaml"}


def sample_files() -> list[Path]:
    return sorted(SAMPLES_DIR.glob("*.yaml"))


@cache
def sample_docs(name: str) -> tuple:
    return tuple(yamlio.load_all((SAMPLES_DIR / name).read_text(encoding="utf-8")))


@cache
def upstream_crd(plural: str) -> dict:
    (doc,) = yamlio.load_all((UPSTREAM_CRDS_DIR / f"sedna.io_{plural}.yaml").read_text(encoding="utf-8"))
    return doc


def upstream_schema(plural: str) -> dict:
    return upstream_crd(plural)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
