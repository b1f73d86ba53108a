"""JointInferenceService: an edge worker with hard-example mining and a cloud worker (crds.md §3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sedna.api.common import (
    Condition,
    HardExampleMining,
    HPABehavior,
    HPAMetricSpec,
    Int32,
    Metric,
    ObjectRef,
    PodTemplateSpec,
    SednaModel,
    SednaObject,
    Time,
)


class HPA(SednaModel):
    """HorizontalPodAutoscaler settings for a worker Deployment."""

    min_replicas: Int32 | None = None
    max_replicas: Int32
    metrics: list[HPAMetricSpec] | None = None
    behavior: HPABehavior | None = None


class EdgeWorker(SednaModel):
    model: ObjectRef = Field(description="The small model.")
    hard_example_mining: HardExampleMining
    template: PodTemplateSpec = Field(description="Edge pod template; spec.nodeName routes the service to "
                                                  "that node's LocalController.")
    hpa: HPA | None = None


class CloudWorker(SednaModel):
    model: ObjectRef = Field(description="The big model.")
    template: PodTemplateSpec
    hpa: HPA | None = None


class JointInferenceServiceSpec(SednaModel):
    edge_worker: EdgeWorker
    cloud_worker: CloudWorker


class JointInferenceServiceStatus(SednaModel):
    conditions: list[Condition] | None = None
    start_time: Time | None = None
    active: Int32 | None = None
    failed: Int32 | None = None
    metrics: list[Metric] | None = None


class JointInferenceService(SednaObject):
    """Edge-cloud joint inference: hard samples go from the edge worker to the cloud worker."""

    kind_name = "JointInferenceService"
    kind: Literal["JointInferenceService"] = "JointInferenceService"
    spec: JointInferenceServiceSpec
    status: JointInferenceServiceStatus | None = None
