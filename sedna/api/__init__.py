"""Typed models of Sedna's custom resources and the wire types shared by GM, LC and workers.

Kinds and helpers resolve lazily (``from sedna.api import Dataset, parse_object``) so importing the wire
types in :mod:`sedna.api.messages` does not load the CRD models.
"""

import importlib

_MODULES = {
    "sedna.api.dataset": ("Dataset", "DatasetSpec", "DatasetStatus", "Model", "ModelSpec", "ModelStatus"),
    "sedna.api.jointinference": ("JointInferenceService", "JointInferenceServiceSpec",
                                 "JointInferenceServiceStatus", "EdgeWorker", "CloudWorker", "HPA"),
    "sedna.api.federatedlearning": ("FederatedLearningJob", "FederatedLearningJobSpec",
                                    "FederatedLearningJobStatus", "AggregationWorker", "TrainingWorker",
                                    "Transmitter"),
    "sedna.api.incrementallearning": ("IncrementalLearningJob", "IncrementalLearningJobSpec",
                                      "IncrementalLearningJobStatus"),
    "sedna.api.lifelonglearning": ("LifelongLearningJob", "LifelongLearningJobSpec", "LifelongLearningJobStatus",
                                   "KnowledgeBase"),
    "sedna.api.multiedge": ("ObjectSearchService", "ObjectSearchServiceSpec", "ObjectTrackingService",
                            "ObjectTrackingServiceSpec", "ServiceStatus", "ReidJob", "ReidJobSpec", "JobStatus",
                            "VideoAnalyticsJob", "VideoAnalyticsJobSpec", "FeatureExtractionService",
                            "FeatureExtractionServiceSpec", "FeatureExtractionServiceStatus"),
    "sedna.api.common": ("SednaObject", "ObjectMeta", "Condition", "DataCondition", "StageCondition",
                         "FLCondition", "Metric", "ParaSpec", "ObjectRef", "Trigger", "HardExampleMining",
                         "GROUP", "VERSION", "API_VERSION"),
    "sedna.api.registry": ("KINDS", "KindInfo", "get_kind", "lookup", "model_for", "parse_object", "is_sedna"),
    "sedna.api.validate": ("ValidationIssue", "check_object", "validate_object"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
