"""LifelongLearning with OUTPUT_URL and MODEL_URLS on S3 (moto in server mode), no knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sdk_lifelong_support import ATTRIBUTE, AppServer, Estimator, generate, load_csv, recording_lc_app
from support_s3 import s3_server_fixture  # noqa: F401 - the s3_server fixture

from sedna.common.config import BaseConfig
from sedna.common.file_ops import FileOps, FileOpsError
from sedna.core.lifelong_learning import LifelongLearning

pytestmark = pytest.mark.timeout(120)

BUCKET = "sedna-ll"
DEFINITION = {"method": "TaskDefinitionByDataAttr", "param": ATTRIBUTE}


@pytest.fixture
def env(s3_server, monkeypatch):
    app, records, _ = recording_lc_app()
    lc = AppServer(app).start()

    def apply(**values):
        for key in ("KB_SERVER", "MODEL_URLS", "OUTPUT_URL", "edge_output_url"):
            monkeypatch.delenv(key, raising=False)
        base = {"S3_ENDPOINT_URL": s3_server, "ACCESS_KEY_ID": "testing", "SECRET_ACCESS_KEY": "testing",
                "LC_SERVER": lc.url, "JOB_NAME": "atcii", "NAMESPACE": "default", "BACKEND_TYPE": "SKLEARN",
                "WORKER_NAME": "worker-s3"}
        for key, value in {**base, **values}.items():
            monkeypatch.setenv(key, str(value))
        BaseConfig.reload_from_env()
        return records

    apply()
    client = FileOps.s3_client()
    if BUCKET not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=BUCKET)
    yield apply
    lc.stop()
    monkeypatch.undo()
    BaseConfig.reload_from_env()


def test_train_evaluate_inference_with_s3_storage(tmp_path, env):
    paths = generate(str(tmp_path / "data"), rows=160, seed=4)
    records = env(OUTPUT_URL=f"s3://{BUCKET}/atcii/train/1")
    LifelongLearning(estimator=Estimator, task_definition=DEFINITION).train(load_csv(paths["trainData.csv"]))
    assert records[-1]["results"][0]["url"] == f"s3://{BUCKET}/atcii/train/1/index.pkl"
    index = FileOps.download(f"s3://{BUCKET}/atcii/train/1/index.pkl", str(tmp_path / "index.json"))
    doc = json.loads(Path(index).read_text(encoding="utf-8"))
    models = [g["model"]["model"] for g in doc["seen_task"]["task_groups"]]
    assert len(models) == 4 and all(m.startswith(f"s3://{BUCKET}/atcii/train/1/seen_task/") for m in models)

    records = env(OUTPUT_URL=f"s3://{BUCKET}/atcii/eval/1", MODEL_URLS=f"s3://{BUCKET}/atcii/train/1/index.pkl")
    res = LifelongLearning(estimator=Estimator, task_definition=DEFINITION).evaluate(
        load_csv(paths["testData.csv"], "eval"))
    assert 0.7 <= res["precision_score"] <= 1.0
    assert records[-1]["results"][0]["url"] == f"s3://{BUCKET}/atcii/eval/1/index.pkl"

    env(MODEL_URLS=f"s3://{BUCKET}/atcii/eval/1/index.pkl", edge_output_url=tmp_path / "edge")
    job = LifelongLearning(Estimator, task_definition=DEFINITION,
                           unseen_sample_recognition={"method": "SampleRecognitionByTaskAttr", "param": ATTRIBUTE})
    infer = load_csv(paths["inferData.csv"], "test")
    result, is_unseen, _ = job.inference(infer)
    assert len(result) == len(infer.x)
    assert sum(is_unseen.values()) == int((infer.x["Season"] == "Autumn").sum()) > 0


class NoSave:
    def fit(self, train_data, valid_data=None, **kwargs):
        self.value = 1

    def predict(self, x, **kwargs):
        return [self.value] * len(x)


def test_pickled_models_never_go_to_s3(tmp_path, env):
    paths = generate(str(tmp_path / "data"), rows=80, seed=4)
    records = env(OUTPUT_URL=f"s3://{BUCKET}/pickles/train")
    with pytest.raises(FileOpsError, match="pickled model"):
        LifelongLearning(estimator=NoSave, task_definition=DEFINITION).train(load_csv(paths["trainData.csv"]))
    assert records[-1]["status"] == "failed"
    listed = FileOps.s3_client().list_objects_v2(Bucket=BUCKET, Prefix="pickles/").get("Contents", [])
    assert not [o["Key"] for o in listed if o["Key"].endswith(".model")]
