"""Enumerations shared by workers, the LC and the GM; member names and values match upstream Sedna."""

from __future__ import annotations

from enum import Enum

__all__ = ["K8sResourceKind", "K8sResourceKindStatus", "KBResourceConstant"]


class K8sResourceKind(Enum):
    """Job kinds as reported in a worker's ``ownerKind``."""

    DEFAULT = "default"
    REID_JOB = "reidjob"
    VIDEO_ANALYTICS_JOB = "videoanalyticsjob"
    FEATURE_EXTRACTION_SERVICE = "featureextractionservice"
    JOINT_INFERENCE_SERVICE = "jointinferenceservice"
    FEDERATED_LEARNING_JOB = "federatedlearningjob"
    INCREMENTAL_JOB = "incrementallearningjob"
    LIFELONG_JOB = "lifelonglearningjob"


class K8sResourceKindStatus(Enum):
    """Task states a worker reports to its LocalController."""

    COMPLETED = "completed"
    FAILED = "failed"
    RUNNING = "running"


class KBResourceConstant(Enum):
    """Names and limits of the lifelong-learning knowledge base."""

    MIN_TRAIN_SAMPLE = 10
    KB_INDEX_NAME = "index.pkl"
    TASK_EXTRACTOR_NAME = "task_attr_extractor.pkl"
    SEEN_TASK = "seen_task"
    UNSEEN_TASK = "unseen_task"
    TASK_GROUPS = "task_groups"
    EXTRACTOR = "extractor"
    EDGE_KB_DIR = "/var/lib/sedna/kb"
