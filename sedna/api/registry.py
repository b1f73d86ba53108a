"""The Sedna kinds: kind <-> plural <-> model <-> short names <-> printer columns, and loading dicts into models.

Short names are upstream's. Printer columns are our addition (upstream declares none, so kubectl shows only
NAME and AGE); every kind keeps an AGE column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sedna.api.common import API_VERSION, GROUP, VERSION, SednaObject
from sedna.api.dataset import Dataset, Model
from sedna.api.federatedlearning import FederatedLearningJob
from sedna.api.incrementallearning import IncrementalLearningJob
from sedna.api.jointinference import JointInferenceService
from sedna.api.lifelonglearning import LifelongLearningJob
from sedna.api.multiedge import (
    FeatureExtractionService,
    ObjectSearchService,
    ObjectTrackingService,
    ReidJob,
    VideoAnalyticsJob,
)


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0

    def to_crd(self) -> dict[str, Any]:
        out = {"name": self.name, "jsonPath": self.json_path, "type": self.type}
        if self.priority:
            out["priority"] = self.priority
        return out


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
ACTIVE = PrinterColumn("Active", ".status.active", "integer")
SUCCEEDED = PrinterColumn("Succeeded", ".status.succeeded", "integer")
FAILED = PrinterColumn("Failed", ".status.failed", "integer")
PHASE = PrinterColumn("Phase", ".status.phase")
# the current condition (the last of the append-only list) and why: Degraded/CrashLoopBackOff, Pending/NodeNotFound
STATUS = PrinterColumn("Status", ".status.conditions[-1:].type")
REASON = PrinterColumn("Reason", ".status.conditions[-1:].reason")
STAGE = PrinterColumn("Stage", ".status.conditions[-1:].stage")


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    model: type[SednaObject]
    short_names: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = (AGE,)
    #: suffixes of the Services the GM creates, named ``<name>-<suffix>`` (gm.md §4)
    service_suffixes: tuple[str, ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


KINDS: tuple[KindInfo, ...] = (
    KindInfo("Dataset", "datasets", Dataset, (), (
        PrinterColumn("Node", ".spec.nodeName"), PrinterColumn("Format", ".spec.format"),
        PrinterColumn("Samples", ".status.numberOfSamples", "integer"), AGE)),
    KindInfo("Model", "models", Model, (), (
        PrinterColumn("Format", ".spec.format"), PrinterColumn("URL", ".spec.url", priority=1), AGE)),
    KindInfo("JointInferenceService", "jointinferenceservices", JointInferenceService, ("ji",),
             (STATUS, REASON, ACTIVE, FAILED, AGE), ("cloud",)),
    KindInfo("FederatedLearningJob", "federatedlearningjobs", FederatedLearningJob, ("fl",),
             (PHASE, STATUS, REASON, ACTIVE, SUCCEEDED, FAILED, AGE), ("aggregation",)),
    KindInfo("IncrementalLearningJob", "incrementallearningjobs", IncrementalLearningJob, ("il",),
             (PrinterColumn("Dataset", ".spec.dataset.name"), STAGE, STATUS, REASON, AGE)),
    KindInfo("LifelongLearningJob", "lifelonglearningjobs", LifelongLearningJob, ("ll",),
             (PrinterColumn("Dataset", ".spec.dataset.name"), STAGE, STATUS, REASON, AGE)),
    KindInfo("ObjectSearchService", "objectsearchservices", ObjectSearchService, ("objs",),
             (STATUS, REASON, ACTIVE, FAILED, AGE), ("reidworker", "userworker")),
    KindInfo("ObjectTrackingService", "objecttrackingservices", ObjectTrackingService, ("objt",),
             (STATUS, REASON, ACTIVE, FAILED, AGE)),
    KindInfo("ReidJob", "reidjobs", ReidJob, ("reid",), (PHASE, STATUS, REASON, ACTIVE, SUCCEEDED, FAILED, AGE)),
    KindInfo("VideoAnalyticsJob", "videoanalyticsjobs", VideoAnalyticsJob, ("va",),
             (PHASE, STATUS, REASON, ACTIVE, SUCCEEDED, FAILED, AGE), ("videoanalytics",)),
    KindInfo("FeatureExtractionService", "featureextractionservices", FeatureExtractionService, ("fe",),
             (PrinterColumn("Replicas", ".spec.replicas", "integer"), STATUS, REASON, ACTIVE, FAILED, AGE),
             ("fe",)),
)

_BY_KIND = {k.kind: k for k in KINDS}
_BY_NAME = {n: k for k in KINDS for n in (k.plural, k.singular, *k.short_names)}


def get_kind(kind: str) -> KindInfo:
    """Kind info by kind name (``Dataset``); ``KeyError`` if unknown."""
    return _BY_KIND[kind]


def lookup(name: str) -> KindInfo | None:
    """Kind info by kind, plural, singular or short name (case-insensitive), as kubectl resolves names."""
    if name in _BY_KIND:
        return _BY_KIND[name]
    return _BY_NAME.get(name.lower())


def model_for(kind: str) -> type[SednaObject]:
    return get_kind(kind).model


def is_sedna(doc: Any) -> bool:
    """Whether a manifest belongs to the sedna.io API group (any version)."""
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).split("/")[0] == GROUP


def parse_object(doc: dict[str, Any]) -> SednaObject:
    """Load a manifest dict (camelCase) into its kind's model; ``ValueError`` for a wrong group/version/kind (``TypeError`` for a non-mapping) and
    ``pydantic.ValidationError`` for a bad body."""
    if not isinstance(doc, dict):
        raise TypeError("object must be a mapping")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version != API_VERSION:
        raise ValueError(f"unsupported apiVersion {api_version!r} (sedna.io serves {VERSION} only)")
    if kind not in _BY_KIND:
        raise ValueError(f"unknown kind {kind!r} in {GROUP}")
    return _BY_KIND[kind].model.model_validate(doc)
