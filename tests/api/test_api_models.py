"""Pydantic models: camelCase on the wire, snake_case in Python, round trips, embedded Kubernetes types."""

from __future__ import annotations

from datetime import datetime, timezone

import pydantic
import pytest
from api_reference import REJECTED_SAMPLES, needs_reference, sample_docs, sample_files

from sedna.api import crdgen, structural
from sedna.api.common import API_VERSION, format_time
from sedna.api.dataset import Dataset, DatasetSpec, ModelSpec
from sedna.api.federatedlearning import FederatedLearningJobStatus
from sedna.api.incrementallearning import IncrementalLearningJobStatus
from sedna.api.lifelonglearning import LifelongLearningJobStatus
from sedna.api.multiedge import FeatureExtractionService, ReidJob
from sedna.api.registry import KINDS, is_sedna, lookup, model_for, parse_object


def _samples():
    for path in sample_files():
        if path.name in REJECTED_SAMPLES:
            continue
        for index, doc in enumerate(sample_docs(path.name)):
            if is_sedna(doc):
                yield pytest.param(doc, id=f"{path.name}:{index}")


@pytest.mark.parametrize("doc", list(_samples()))
@needs_reference
def test_round_trip_keeps_camel_case_wire_form(doc):
    obj = parse_object(doc)
    # The model applies schema defaults (pollPeriodSeconds: 60) exactly as the apiserver would.
    expected = structural.apply_defaults(crdgen.openapi_schema(doc["kind"]), doc)
    assert obj.to_dict() == expected
    again = type(obj).model_validate(obj.to_dict())
    assert again == obj


def test_snake_case_and_camel_case_both_populate():
    a = DatasetSpec(url="/d.txt", format="txt", node_name="edge-1", credential_name="s3")
    b = DatasetSpec.model_validate({"url": "/d.txt", "format": "txt", "nodeName": "edge-1",
                                    "credentialName": "s3"})
    assert a == b == DatasetSpec.from_dict(a.to_dict())
    assert a.to_dict() == {"url": "/d.txt", "format": "txt", "nodeName": "edge-1", "credentialName": "s3"}


def test_irregular_wire_names():
    spec = ModelSpec.model_validate({"url": "s3://b/m", "format": "pb", "device_soc_versions": ["Ascend310"]})
    assert spec.device_soc_versions == ["Ascend310"]
    assert "device_soc_versions" in spec.to_dict()
    status = LifelongLearningJobStatus.model_validate({"knowledgeBase": {
        "AIModels": {"numberOfAIModels": 1, "listOfAIModels": [
            {"modelID": "m0", "averagePrecision": 0.5, "numberOfTrainSamples": 20}]},
        "AIClasses": {"numberOfAIClasses": 2, "listOfAIClasses": ["a", "b"]},
        "samples": {"numberOfLabeledUnseenSample": 3, "numberOfUnseenSample": 0}}})
    kb = status.knowledge_base
    assert kb.ai_models.list_of_ai_models[0].model_id == "m0"
    assert kb.ai_classes.number_of_ai_classes == 2
    out = status.to_dict()["knowledgeBase"]
    assert set(out) == {"AIModels", "AIClasses", "samples"}
    assert out["AIModels"]["listOfAIModels"][0]["modelID"] == "m0"


def test_times_are_rfc3339_utc():
    status = FederatedLearningJobStatus.model_validate({
        "startTime": "2024-05-01T10:00:00Z",
        "conditions": [{"type": "Training", "status": "True", "lastProbeTime": "2024-05-01T12:00:00+02:00",
                        "reason": "DoTraining", "message": "Round 1 reaches at x"}]})
    assert status.start_time == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    out = status.to_dict()
    assert out["startTime"] == "2024-05-01T10:00:00Z"
    assert out["conditions"][0]["lastProbeTime"] == "2024-05-01T10:00:00Z"
    assert format_time(datetime(2024, 1, 2, 3, 4, 5, 999)) == "2024-01-02T03:04:05Z"


def test_stage_conditions_need_stage():
    ok = IncrementalLearningJobStatus.model_validate({"conditions": [
        {"type": "Running", "status": "True", "stage": "Train", "data": "{\"input\":{}}"}]})
    assert ok.conditions[0].stage == "Train"
    with pytest.raises(pydantic.ValidationError, match="stage"):
        IncrementalLearningJobStatus.model_validate({"conditions": [{"type": "Running", "status": "True"}]})


POD = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_inlined_job_spec_fields_are_kept_and_checked():
    doc = {"apiVersion": API_VERSION, "kind": "ReidJob", "metadata": {"name": "r"},
           "spec": {"template": POD, "backoffLimit": 5, "kafkaSupport": True, "bogus": 1}}
    job = parse_object(doc)
    assert isinstance(job, ReidJob) and job.spec.kafka_support is True
    out = job.to_dict()["spec"]
    assert out["backoffLimit"] == 5 and "bogus" not in out  # unknown fields are pruned like the apiserver
    doc["spec"]["backoffLimit"] = "five"
    with pytest.raises(pydantic.ValidationError, match="backoffLimit: expected integer"):
        parse_object(doc)


def test_inlined_deployment_spec_requires_selector():
    doc = {"apiVersion": API_VERSION, "kind": "FeatureExtractionService", "metadata": {"name": "fe"},
           "spec": {"model": {"name": "m"}, "replicas": 2, "template": POD}}
    with pytest.raises(pydantic.ValidationError, match="selector"):
        parse_object(doc)
    doc["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    fe = parse_object(doc)
    assert isinstance(fe, FeatureExtractionService) and fe.spec.replicas == 2


def test_pod_template_is_checked_against_kubernetes_schema():
    doc = {"apiVersion": API_VERSION, "kind": "ReidJob", "metadata": {"name": "r"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80x"}]}]}}}}
    with pytest.raises(pydantic.ValidationError, match=r"spec.containers\[0\].ports\[0\].containerPort"):
        parse_object(doc)
    doc["spec"]["template"] = {"spec": {}}
    with pytest.raises(pydantic.ValidationError, match="spec.containers: required field is missing"):
        parse_object(doc)


def test_null_fields_in_templates_are_tolerated():
    doc = {"apiVersion": API_VERSION, "kind": "ReidJob", "metadata": {"name": "r"},
           "spec": {"template": {"metadata": {"creationTimestamp": None}, **POD}}}
    assert parse_object(doc).spec.template["spec"]["containers"][0]["name"] == "c"


def test_parse_object_rejects_wrong_identity():
    base = {"metadata": {"name": "d"}, "spec": {"url": "/a", "format": "txt", "nodeName": "n"}}
    with pytest.raises(ValueError, match="unsupported apiVersion"):
        parse_object({"apiVersion": "sedna.io/v1alpha2", "kind": "Dataset", **base})
    with pytest.raises(ValueError, match="unknown kind"):
        parse_object({"apiVersion": API_VERSION, "kind": "Datasets", **base})
    with pytest.raises(TypeError):
        parse_object(["not", "a", "mapping"])
    assert isinstance(parse_object({"apiVersion": API_VERSION, "kind": "Dataset", **base}), Dataset)


def test_registry_lookups():
    assert lookup("ji").kind == "JointInferenceService"
    assert lookup("FederatedLearningJobs").kind == "FederatedLearningJob"
    assert lookup("reidjob").plural == "reidjobs"
    assert lookup("nope") is None
    assert model_for("Model").__name__ == "Model"
    assert len({k.plural for k in KINDS}) == len(KINDS) == 11


def test_package_exports_resolve():
    from sedna import api

    for name in api.__all__:
        assert getattr(api, name) is not None
    with pytest.raises(AttributeError):
        api.NoSuchThing  # noqa: B018
