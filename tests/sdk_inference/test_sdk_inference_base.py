"""JobBase: names from the environment, model path rules, callbacks, report message shape; lazy exports."""

from __future__ import annotations

import numpy as np
import pytest
from sdk_inference_support import AppServer, ScaleEstimator, recording_lc_app, sdk_env, write_model
from support_config import restore_config_fixture  # noqa: F401 - autouse

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.core.base import JobBase, build_hard_example_mining, resolve_callback
from sedna.core.joint_inference import BigModelService
from sedna.service.client import ModelClient

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("env, job, worker, namespace", [
    ({}, "sedna", "sedna", "sedna"),
    ({"SERVICE_NAME": "ji-a"}, "ji-a", "ji-a", "ji-a"),
    ({"SERVICE_NAME": "ji-a", "JOB_NAME": "job-b"}, "job-b", "job-b", "job-b"),
    ({"JOB_NAME": "job-b", "WORKER_NAME": "w-1", "NAMESPACE": "ns"}, "job-b", "w-1", "ns"),
])
def test_names(monkeypatch, env, job, worker, namespace):
    sdk_env(monkeypatch, **env)
    base = JobBase(estimator=ScaleEstimator)
    assert (base.job_name, base.worker_name, base.namespace) == (job, worker, namespace)
    assert base.job_kind == "default" and base.model_load_mode == "file"


def test_model_path_rules(monkeypatch, tmp_path):
    model = write_model(tmp_path / "m.json", 1.0)
    sdk_env(monkeypatch, MODEL_URL=model)
    assert JobBase(estimator=ScaleEstimator).model_path == model  # a file: as is
    sdk_env(monkeypatch, MODEL_URL=str(tmp_path), MODEL_NAME="weights.json")
    assert JobBase(estimator=ScaleEstimator).model_path == str(tmp_path / "weights.json")  # folder + name
    sdk_env(monkeypatch, MODEL_URL=str(tmp_path), model_path="/elsewhere/x.json")
    assert JobBase(estimator=ScaleEstimator).model_path == "/elsewhere/x.json"
    sdk_env(monkeypatch, MODEL_URL="s3://bucket/models", MODEL_LOAD_MODE="hub")
    assert JobBase(estimator=ScaleEstimator).model_path == "s3://bucket/models"


def test_callbacks_and_inference(monkeypatch, tmp_path):
    @ClassFactory.register(ClassType.CALLBACK, alias="sdk_inference_first_score")
    def first_score(boxes):
        return boxes[0][4]

    assert resolve_callback(None) is None
    assert resolve_callback(len) is len
    assert resolve_callback("sdk_inference_first_score") is first_score
    with pytest.raises(ValueError, match="no_such_callback"):
        resolve_callback("no_such_callback")
    sdk_env(monkeypatch, MODEL_URL=write_model(tmp_path / "m.json", 1.0))
    base = JobBase(estimator=ScaleEstimator)
    base._load_model()
    assert base.inference(np.full(3, 0.25), post_process="sdk_inference_first_score") == 0.25


def test_report_task_info_shape(monkeypatch):
    app, records, _ = recording_lc_app()
    lc = AppServer(app).start()
    try:
        sdk_env(monkeypatch, JOB_NAME="job-b", WORKER_NAME="w-1", NAMESPACE="ns", LC_SERVER=lc.url)
        base = JobBase(estimator=ScaleEstimator)
        base.report_task_info(None, "completed", kind="deploy")
        base.report_task_info({"currentRound": 2}, "running", results=[{"format": "pb", "url": "/m.pb",
                                                                          "metrics": {}}])
        assert records[0] == {"name": "w-1", "namespace": "ns", "ownerName": "job-b", "ownerKind": "default",
                              "kind": "deploy", "status": "completed"}
        assert records[1]["ownerInfo"] == {"currentRound": 2} and records[1]["kind"] == "train"
        assert records[1]["results"][0]["url"] == "/m.pb"
    finally:
        lc.stop()
    # an LC that is not there: logged, never raised
    monkeypatch.setattr("sedna.service.client.http.DEFAULT_RETRY_INTERVAL", 0)
    assert base.report_task_info(None, "completed") is None


def test_build_hem_validation():
    assert build_hard_example_mining(None) is None and build_hard_example_mining({}) is None
    assert type(build_hard_example_mining({"param": {}})).__name__ == "IBTFilter"  # method default IBT
    with pytest.raises(ValueError, match="not JSON"):
        build_hard_example_mining({"method": "IBT", "param": "{oops"})
    with pytest.raises(TypeError, match="object"):
        build_hard_example_mining({"method": "IBT", "param": "[1]"})
    with pytest.raises(ValueError, match="Nope"):
        build_hard_example_mining({"method": "Nope"})


def test_big_model_service_applies_registered_callback(monkeypatch, tmp_path):
    @ClassFactory.register(ClassType.CALLBACK, alias="sdk_inference_labels")
    def labels(boxes):
        return [box[5] for box in boxes]

    sdk_env(monkeypatch, SERVICE_NAME="cb-svc", MODEL_URL=write_model(tmp_path / "big.json", 2.0, tag=4),
            BIG_MODEL_BIND_IP="127.0.0.1", BIG_MODEL_BIND_PORT="0")
    server = BigModelService(estimator=ScaleEstimator).start_background()
    try:
        client = ModelClient("cb-svc", port=server.port)
        assert client.inference(np.full(3, 0.1), callback="sdk_inference_labels") == {"result": [4.0]}
        assert client.inference([0.1, 0.1], callback="sdk_inference_labels") == {"result": [4.0]}
        assert client.inference([0.1], callback="missing_cb") is None
        assert "missing_cb" in client.last_error
    finally:
        server.stop()


def test_lazy_exports():
    from sedna.service import client, server

    assert client.LCReporter.__module__ == "sedna.service.client.lc"
    assert client.http_request.__module__ == "sedna.service.client.http"
    assert server.InferenceServer.__module__ == "sedna.service.server.inference"
