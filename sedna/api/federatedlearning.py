"""FederatedLearningJob: one aggregation worker and N training workers (crds.md §4).

There is no v1alpha2 API version upstream: the "v1alpha2" sample is a v1alpha1 object using the optional
``transmitter`` block, which v1alpha1 already has.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sedna.api.common import FLCondition, Int32, ObjectRef, PodTemplateSpec, SednaModel, SednaObject, Time


class AggregationWorker(SednaModel):
    model: ObjectRef = Field(description="Model whose URL all workers get as MODEL_URL.")
    template: PodTemplateSpec


class TrainingWorker(SednaModel):
    dataset: ObjectRef
    template: PodTemplateSpec = Field(description="Training pod template; spec.nodeName routes the job.")


class S3Transmitter(SednaModel):
    agg_data_path: str = Field(description="s3:// URL of the shared aggregation data.")
    credential_name: str | None = None


class Transmitter(SednaModel):
    """Data plane between trainers and aggregator: websocket (default) or S3."""

    ws: dict[str, Any] | None = Field(None, description="Websocket transmitter (an empty object).")
    s3: S3Transmitter | None = None


class FederatedLearningJobSpec(SednaModel):
    aggregation_worker: AggregationWorker
    training_workers: list[TrainingWorker]
    pretrained_model: ObjectRef | None = None
    transmitter: Transmitter | None = None
    backoff_limit: Int32 | None = Field(None, ge=0, description=(
        "Sedna extension, as batch/v1 Job backoffLimit: failures (container restarts plus failed pods, "
        "counted across the workers) before the job fails with BackoffLimitExceeded. Default 6."))


class FederatedLearningJobStatus(SednaModel):
    conditions: list[FLCondition] | None = None
    start_time: Time | None = None
    completion_time: Time | None = None
    active: Int32 | None = None
    succeeded: Int32 | None = None
    failed: Int32 | None = None
    phase: str | None = None


class FederatedLearningJob(SednaObject):
    """Federated learning across edge nodes."""

    kind_name = "FederatedLearningJob"
    kind: Literal["FederatedLearningJob"] = "FederatedLearningJob"
    spec: FederatedLearningJobSpec
    status: FederatedLearningJobStatus | None = None
