"""Multi-edge inference kinds (crds.md §7-11): ObjectSearchService, ObjectTrackingService, ReidJob,
VideoAnalyticsJob and FeatureExtractionService.

ReidJob and VideoAnalyticsJob inline a batch/v1 JobSpec, FeatureExtractionService and the ``reidWorkers`` of the
object search/tracking services an apps/v1 DeploymentSpec: the fields the GM uses are typed, the rest of the
inlined Kubernetes type is kept as validated extra data.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sedna.api import k8s
from sedna.api.common import (
    Condition,
    DataCondition,
    Int32,
    K8sInlineSpec,
    Metric,
    ObjectRef,
    PodTemplateSpec,
    SednaModel,
    SednaObject,
    Time,
    k8s_field,
)

LabelSelector = k8s_field(k8s.LABEL_SELECTOR)


class WorkerTemplate(SednaModel):
    template: PodTemplateSpec


class ReidWorkers(K8sInlineSpec):
    """apps/v1 DeploymentSpec; only replicas and template are used (the GM builds its own selector)."""

    k8s_inline: ClassVar[str] = k8s.DEPLOYMENT_SPEC
    replicas: Int32 | None = None
    selector: LabelSelector = Field(description="Required by the schema, ignored by the GM.")
    template: PodTemplateSpec


class ObjectSearchServiceSpec(SednaModel):
    user_worker: WorkerTemplate = Field(description="User-facing API worker, run as a 1-replica Deployment.")
    tracking_workers: list[WorkerTemplate] = Field(description="One bare pod per entry.")
    reid_workers: ReidWorkers


class ServiceStatus(SednaModel):
    conditions: list[Condition] | None = None
    start_time: Time | None = None
    active: Int32 | None = None
    failed: Int32 | None = None


class ObjectSearchService(SednaObject):
    """Multi-edge pedestrian search: user worker, tracking workers and a scalable ReID deployment."""

    kind_name = "ObjectSearchService"
    kind: Literal["ObjectSearchService"] = "ObjectSearchService"
    spec: ObjectSearchServiceSpec
    status: ServiceStatus | None = None


class ObjectTrackingServiceSpec(SednaModel):
    tracking_workers: list[WorkerTemplate]
    reid_workers: ReidWorkers


class ObjectTrackingService(SednaObject):
    """Multi-edge object tracking (schema only: upstream has no controller for it)."""

    kind_name = "ObjectTrackingService"
    kind: Literal["ObjectTrackingService"] = "ObjectTrackingService"
    spec: ObjectTrackingServiceSpec
    status: ServiceStatus | None = None


class JobStatus(SednaModel):
    conditions: list[DataCondition] | None = None
    start_time: Time | None = None
    completion_time: Time | None = None
    active: Int32 | None = None
    succeeded: Int32 | None = None
    failed: Int32 | None = None
    phase: str | None = None


class ReidJobSpec(K8sInlineSpec):
    """batch/v1 JobSpec plus kafkaSupport; the GM creates one pod from template."""

    k8s_inline: ClassVar[str] = k8s.JOB_SPEC
    template: PodTemplateSpec
    kafka_support: bool | None = Field(None, description="Inject KAFKA_ENABLED=true.")


class ReidJob(SednaObject):
    """Person re-identification job."""

    kind_name = "ReidJob"
    kind: Literal["ReidJob"] = "ReidJob"
    spec: ReidJobSpec
    status: JobStatus | None = None


class VideoAnalyticsJobSpec(ReidJobSpec):
    model: ObjectRef = Field(description="Model mounted as MODEL_URL.")


class VideoAnalyticsJob(SednaObject):
    """Video analytics (detection) job."""

    kind_name = "VideoAnalyticsJob"
    kind: Literal["VideoAnalyticsJob"] = "VideoAnalyticsJob"
    spec: VideoAnalyticsJobSpec
    status: JobStatus | None = None


class FeatureExtractionServiceSpec(K8sInlineSpec):
    """apps/v1 DeploymentSpec plus model and kafkaSupport."""

    k8s_inline: ClassVar[str] = k8s.DEPLOYMENT_SPEC
    model: ObjectRef
    kafka_support: bool | None = None
    replicas: Int32 | None = Field(None, description="Replica count; the GM needs it set.")
    selector: LabelSelector = Field(description="Required by the schema, ignored by the GM.")
    template: PodTemplateSpec


class FeatureExtractionServiceStatus(ServiceStatus):
    metrics: list[Metric] | None = None


class FeatureExtractionService(SednaObject):
    """Feature extraction deployment for multi-edge inference."""

    kind_name = "FeatureExtractionService"
    kind: Literal["FeatureExtractionService"] = "FeatureExtractionService"
    spec: FeatureExtractionServiceSpec
    status: FeatureExtractionServiceStatus | None = None
