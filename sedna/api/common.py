"""Building blocks shared by all Sedna kinds (crds.md §0.1): the model base, ObjectMeta, time and int32 types,
Metric/ParaSpec, references, conditions, and the Kubernetes-typed dict fields (pod templates and friends).

Wire names are camelCase (aliases), Python names snake_case; models accept both (``populate_by_name``).
Unknown fields are dropped, as the apiserver prunes fields its schema does not know.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sedna.api import k8s

GROUP = "sedna.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: marker keys in the JSON schema pydantic emits; crdgen replaces them with the Kubernetes schema
K8S_REF_KEY = "x-sedna-k8s-ref"
K8S_INLINE_KEY = "x-sedna-k8s-inline"


class SednaModel(BaseModel):
    """Base of every spec/status type: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              validate_assignment=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Load the wire form (camelCase; snake_case also accepted); raises ``pydantic.ValidationError``."""
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys, unset optional fields left out, times as RFC 3339 text."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _parse_time(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("Z"):
        return value[:-1] + "+00:00"
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes ``metav1.Time``."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


#: ``format: date-time`` field; naive datetimes are taken as UTC
Time = Annotated[datetime, BeforeValidator(_parse_time), AfterValidator(_utc),
                 PlainSerializer(format_time, return_type=str, when_used="json")]


def _int32(value: int) -> int:
    if not -(2 ** 31) <= value < 2 ** 31:
        raise ValueError("value does not fit in int32")
    return value


Int32 = Annotated[int, AfterValidator(_int32), Field(json_schema_extra={"format": "int32"})]
Int64 = Annotated[int, Field(json_schema_extra={"format": "int64"})]


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def k8s_field(definition: str) -> Any:
    """A dict-typed field holding a Kubernetes object of ``definition`` (validated against the pinned schema)."""

    def _check(value: dict[str, Any]) -> dict[str, Any]:
        k8s.check(definition, value)
        return value

    return Annotated[dict[str, Any], AfterValidator(_check),
                     WithJsonSchema({K8S_REF_KEY: definition, "type": "object"})]


PodTemplateSpec = k8s_field(k8s.POD_TEMPLATE_SPEC)
HPAMetricSpec = k8s_field(k8s.HPA_METRIC_SPEC)
HPABehavior = k8s_field(k8s.HPA_BEHAVIOR)


class K8sInlineSpec(SednaModel):
    """A spec that inlines a Kubernetes spec type (batch/v1 JobSpec, apps/v1 DeploymentSpec) plus own fields.

    Fields the subclass declares are typed; the other fields of the inlined type are kept as extra data,
    checked against the pinned Kubernetes schema, and written back unchanged.
    """

    model_config = ConfigDict(extra="allow")
    k8s_inline: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _check_inlined(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        own = set()
        for name, field in cls.model_fields.items():
            own.update({name, field.alias or name})
        known = k8s.definitions()[cls.k8s_inline]["properties"]
        # Unknown fields are dropped (the apiserver prunes them); own fields are validated by their types.
        data = {k: v for k, v in data.items() if k in own or k in known}
        k8s.check(cls.k8s_inline, {k: v for k, v in data.items() if k not in own},
                  without=tuple(sorted(own & set(known))))
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target[K8S_INLINE_KEY] = cls.k8s_inline
        return schema


class ObjectMeta(SednaModel):
    """The parts of ``metav1.ObjectMeta`` controllers use; other metadata fields are kept as extra data."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None


class Metric(SednaModel):
    """A reported figure; numeric values are rendered as JSON text (e.g. "0.25")."""

    key: str
    value: str


class ParaSpec(SednaModel):
    """One hard-example-mining parameter."""

    key: str
    value: str


class ObjectRef(SednaModel):
    """Reference to a Dataset/Model/... in the same namespace by name."""

    name: str


class HardExampleMining(SednaModel):
    name: str
    parameters: list[ParaSpec] | None = None


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(SednaModel):
    """Service/job condition: the last element of the append-only list is the current state."""

    type: str
    status: str
    last_heartbeat_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DataCondition(Condition):
    """Condition carrying a JSON data text (ReidJob, VideoAnalyticsJob)."""

    data: str | None = None


def condition_data(cond: dict | None) -> dict[str, Any]:
    """The JSON object in a (wire-form) condition's ``data``: ``{}`` when absent, not JSON or not an object."""
    raw = (cond or {}).get("data")
    if not raw:
        return {}
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


class StageCondition(DataCondition):
    """Incremental/lifelong learning condition: stage is Train, Eval or Deploy."""

    stage: str


class FLCondition(SednaModel):
    """FederatedLearningJob condition: lastProbeTime instead of lastTransitionTime."""

    type: str
    status: str
    last_probe_time: Time | None = None
    last_heartbeat_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class TriggerTimer(SednaModel):
    """Daily window, HH:MM compared as text; 24:00 allowed; start > end wraps midnight."""

    start: str
    end: str


class TriggerCondition(SednaModel):
    operator: str
    threshold: float
    metric: str


class Trigger(SednaModel):
    """When a training round starts (train trigger) or an evaluated model is deployed (deploy trigger)."""

    check_period_seconds: int | None = None
    timer: TriggerTimer | None = None
    condition: TriggerCondition


class SednaObject(SednaModel):
    """Top level of every kind: apiVersion, kind, metadata, spec and optional status."""

    kind_name: ClassVar[str]

    api_version: Literal["sedna.io/v1alpha1"] = API_VERSION
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @property
    def name(self) -> str | None:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace
