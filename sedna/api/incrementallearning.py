"""IncrementalLearningJob: retrain on new edge samples, evaluate, deploy conditionally (crds.md §5)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sedna.api.common import (
    HardExampleMining,
    Int32,
    Int64,
    ObjectRef,
    PodTemplateSpec,
    SednaModel,
    SednaObject,
    StageCondition,
    Time,
    Trigger,
)


class ILDataset(SednaModel):
    name: str
    train_prob: float = Field(description="Fraction of new samples used for training; the rest is for "
                                          "evaluation.")


class TrainSpec(SednaModel):
    template: PodTemplateSpec
    trigger: Trigger


class EvalSpec(SednaModel):
    template: PodTemplateSpec
    initial_eval_model: ObjectRef | None = Field(None, description="Model evaluated as the old model "
                                                                      "instead of the deploy model.")


class DeployModel(SednaModel):
    name: str
    hot_update_enabled: bool | None = Field(None, description="Hot-swap the model instead of restarting "
                                                                 "the inference pod.")
    poll_period_seconds: Int64 | None = Field(60, ge=1, description="How often the inference worker "
                                                                       "polls the hot-update config.")


class DeploySpec(SednaModel):
    model: DeployModel
    trigger: Trigger
    hard_example_mining: HardExampleMining
    template: PodTemplateSpec


class IncrementalLearningJobSpec(SednaModel):
    dataset: ILDataset
    initial_model: ObjectRef
    train_spec: TrainSpec
    eval_spec: EvalSpec
    deploy_spec: DeploySpec
    output_dir: str = Field(description="Root of all job outputs: host path on the dataset node or s3://.")
    credential_name: str | None = None
    backoff_limit: Int32 | None = Field(None, ge=0, description=(
        "Sedna extension, as batch/v1 Job backoffLimit: failures (container restarts plus failed pods, "
        "counted across the workers) before the current train/eval stage fails with BackoffLimitExceeded. "
        "Default 6."))


class IncrementalLearningJobStatus(SednaModel):
    conditions: list[StageCondition] | None = None
    start_time: Time | None = None
    completion_time: Time | None = None


class IncrementalLearningJob(SednaObject):
    """Incremental learning driven by the LocalController of the dataset's node."""

    kind_name = "IncrementalLearningJob"
    kind: Literal["IncrementalLearningJob"] = "IncrementalLearningJob"
    spec: IncrementalLearningJobSpec
    status: IncrementalLearningJobStatus | None = None
