"""LifelongLearningJob: incremental learning over a multi-task knowledge base (crds.md §6)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sedna.api.common import Int32, PodTemplateSpec, SednaModel, SednaObject, StageCondition, Time, Trigger
from sedna.api.incrementallearning import ILDataset, TrainSpec


class LLEvalSpec(SednaModel):
    template: PodTemplateSpec


class LLDeploySpec(SednaModel):
    template: PodTemplateSpec


class LifelongLearningJobSpec(SednaModel):
    dataset: ILDataset
    train_spec: TrainSpec
    eval_spec: LLEvalSpec
    deploy_spec: LLDeploySpec
    output_dir: str = Field(description="Output root; the deployed index is <outputDir>/deploy/index.pkl.")
    credential_name: str | None = None
    backoff_limit: Int32 | None = Field(None, ge=0, description=(
        "Sedna extension, as batch/v1 Job backoffLimit: failures (container restarts plus failed pods, "
        "counted across the workers) before the current train/eval stage fails with BackoffLimitExceeded. "
        "Default 6."))


class AIModel(SednaModel):
    model_id: str = Field(alias="modelID")
    average_precision: float
    number_of_train_samples: int


class AIModels(SednaModel):
    number_of_ai_models: int = Field(alias="numberOfAIModels")
    list_of_ai_models: list[AIModel] | None = Field(None, alias="listOfAIModels")


class AIClasses(SednaModel):
    number_of_ai_classes: int = Field(alias="numberOfAIClasses")
    list_of_ai_classes: list[str] | None = Field(None, alias="listOfAIClasses")


class KBSamples(SednaModel):
    number_of_labeled_unseen_sample: int
    number_of_unseen_sample: int


class KnowledgeBase(SednaModel):
    """Summary of the knowledge base, recomputed from LocalController reports."""

    ai_models: AIModels = Field(alias="AIModels")
    ai_classes: AIClasses = Field(alias="AIClasses")
    samples: KBSamples


class LifelongLearningJobStatus(SednaModel):
    conditions: list[StageCondition] | None = None
    start_time: Time | None = None
    completion_time: Time | None = None
    knowledge_base: KnowledgeBase | None = None


class LifelongLearningJob(SednaObject):
    """Lifelong learning with seen/unseen task handling."""

    kind_name = "LifelongLearningJob"
    kind: Literal["LifelongLearningJob"] = "LifelongLearningJob"
    spec: LifelongLearningJobSpec
    status: LifelongLearningJobStatus | None = None


__all__ = [
    "AIClasses",
    "AIModel",
    "AIModels",
    "ILDataset",
    "KBSamples",
    "KnowledgeBase",
    "LLDeploySpec",
    "LLEvalSpec",
    "LifelongLearningJob",
    "LifelongLearningJobSpec",
    "LifelongLearningJobStatus",
    "TrainSpec",
    "Trigger",
]
