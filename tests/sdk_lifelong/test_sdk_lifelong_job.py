"""LifelongLearning train → evaluate → inference on the generated thermal-comfort data, against a real
knowledge base and a recording LC."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sdk_lifelong_support import (
    ATTRIBUTE,
    Estimator,
    feature_process,
    generate,
    load_csv,
)
from support_http import recording_lc

from sedna.api.lifelonglearning import KnowledgeBase
from sedna.common.config import BaseConfig
from sedna.common.file_ops import FileOpsError
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import BaseDataSource, CSVDataParse
from sedna.gm.controllers.lifelonglearningjob import knowledge_base
from sedna.service.server import KBServer

ENTRIES = ["Summer_AirConditioned", "Summer_NaturallyVentilated", "Winter_AirConditioned",
           "Winter_NaturallyVentilated"]
DEFINITION = {"method": "TaskDefinitionByDataAttr", "param": ATTRIBUTE}
MINING = {"method": "TaskMiningByDataAttr", "param": ATTRIBUTE}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate(str(tmp_path_factory.mktemp("data")), rows=300, seed=11)


@pytest.fixture(scope="module")
def lc():
    with recording_lc() as running:
        yield running


@pytest.fixture
def kb(tmp_path):
    server = KBServer("127.0.0.1", 0, save_dir=str(tmp_path / "kb")).start_background()
    yield server
    server.stop()


@pytest.fixture
def env(monkeypatch, lc):
    server, records = lc
    records.clear()

    def apply(**values):
        base = {"LC_SERVER": server.url, "JOB_NAME": "atcii", "NAMESPACE": "default", "BACKEND_TYPE": "SKLEARN",
                "DATA_PATH_PREFIX": "/nonexistent-prefix"}
        base.update(values)
        for key in ("KB_SERVER", "MODEL_URLS", "OUTPUT_URL", "HAS_COMPLETED_INITIAL_TRAINING", "CLOUD_KB_INDEX",
                    "edge_output_url", "operator", "model_threshold", "MIN_TRAIN_SAMPLE"):
            monkeypatch.delenv(key, raising=False)
        for key, value in base.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, str(value))
        BaseConfig.reload_from_env()
        return records

    yield apply
    monkeypatch.undo()
    BaseConfig.reload_from_env()


def rows_of(path, keep=None):
    frame = pd.read_csv(path)
    if keep is not None:
        frame = frame[keep(frame)]
    return frame.reset_index(drop=True)


def as_source(frame):
    ds = CSVDataParse(data_type="test", func=None)
    ds.x = feature_process(frame.drop(columns=["Thermal preference"]).copy())
    ds.y = frame["Thermal preference"]
    return ds


def legacy_job(**kw):
    return LifelongLearning(estimator=Estimator, task_definition=DEFINITION, task_relationship_discovery=None,
                            task_mining=kw.pop("task_mining", None), task_remodeling=None, inference_integrate=None,
                            unseen_task_detect=kw.pop("unseen_task_detect", None))


def check_report(record, kind, entries):
    assert record["kind"] == kind and record["status"] == "completed"
    assert record["ownerKind"] == "lifelonglearningjob" and record["ownerName"] == "atcii"
    (model,) = record["results"]
    assert model["format"] == "pkl" and model["url"].endswith("index.pkl")
    assert sorted(model["current_metric"]) == sorted(entries)
    assert model["number_of_model"] == len(entries)
    status = KnowledgeBase.model_validate(knowledge_base(record["results"]))  # what the GM makes of it
    assert status.ai_models.number_of_ai_models == len(entries)
    assert all(0.0 <= m.average_precision <= 1.0 for m in status.ai_models.list_of_ai_models)
    return model


def test_train_evaluate_inference_through_the_knowledge_base(tmp_path, data, env, kb):
    records = env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "out" / "train" / "1", WORKER_NAME="train-worker-1")
    job = legacy_job()
    feedback = job.train(train_data=load_csv(data["trainData.csv"]), metric_name="mlogloss")
    # without valid_data the feedback is each task group's training result (upstream fills it in round 1 too)
    assert sorted(feedback) == sorted(ENTRIES) and all(r["samples"] > 0 for r in feedback.values())
    model = check_report(records[-1], "train", ENTRIES)
    assert model["task_samples"] == {entry: r["samples"] for entry, r in feedback.items()}
    train_index = tmp_path / "out" / "train" / "1" / "index.pkl"
    assert model["url"] == str(train_index)
    doc = json.loads(train_index.read_text())
    assert [g["entry"] for g in doc["seen_task"]["task_groups"]] == ENTRIES
    assert all(g["model"]["model"].startswith(f"{kb.url}/knowledgebase/file/download?")
               for g in doc["seen_task"]["task_groups"])
    assert doc["seen_task"]["extractor"].startswith(kb.url)
    kb_files = os.listdir(tmp_path / "kb")
    assert sum(f.endswith(".model") for f in kb_files) == 4 and "index.pkl" in kb_files

    from sklearn.metrics import precision_score

    records = env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "out" / "eval" / "1", MODEL_URLS=train_index,
                  WORKER_NAME="eval-worker-1")
    res = legacy_job().evaluate(data=load_csv(data["testData.csv"], "eval"), metrics=precision_score,
                                metrics_param={"average": "micro"})
    assert 0.8 <= res["precision_score"] <= 1.0
    model = check_report(records[-1], "eval", ENTRIES)
    assert model["metrics"] == res
    assert all(0.6 <= m["precision_score"] <= 1.0 for m in model["current_metric"].values())
    eval_index = tmp_path / "out" / "eval" / "1" / "index.pkl"
    assert all(g["deploy"] for g in json.loads(eval_index.read_text())["seen_task"]["task_groups"])

    env(KB_SERVER=kb.url, MODEL_URLS=eval_index, edge_output_url=tmp_path / "edge", WORKER_NAME="inferworker-1")
    service = legacy_job(task_mining=MINING, unseen_task_detect={"method": "TaskAttrFilter", "param": {}})
    frame = rows_of(data["inferData.csv"])
    flagged, correct, seen_rows = [], 0, 0
    for i in range(len(frame)):
        row = frame.iloc[i].to_dict()
        infer = CSVDataParse(data_type="test", func=feature_process)
        infer.parse({k: str(v) for k, v in row.items()}, label="Thermal preference")
        result, is_unseen, tasks = service.inference(infer)
        assert len(result) == 1 and len(tasks) == 1
        flagged.append(is_unseen)
        if not is_unseen:
            seen_rows += 1
            correct += int(result[0] == row["Thermal preference"])
    expected = list(frame["Season"] == "Autumn")
    assert flagged == expected and sum(expected) >= 4
    assert correct / seen_rows >= 0.8
    assert (tmp_path / "edge" / "index.pkl").is_file()
    edge_doc = json.loads((tmp_path / "edge" / "index.pkl").read_text())
    assert all(Path(g["model"]["model"]).is_file() for g in edge_doc["seen_task"]["task_groups"])


def test_new_api_splits_a_batch_into_seen_and_unseen_samples(tmp_path, data, env, kb):
    env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "out", WORKER_NAME="train-worker-2")
    LifelongLearning(Estimator, task_definition=DEFINITION).train(load_csv(data["trainData.csv"]))
    env(KB_SERVER=kb.url, MODEL_URLS=tmp_path / "out" / "index.pkl", edge_output_url=tmp_path / "edge",
        WORKER_NAME="inferworker-2")
    job = LifelongLearning(seen_estimator=Estimator, task_definition=DEFINITION,
                           unseen_sample_recognition={"method": "SampleRecognitionByTaskAttr", "param": ATTRIBUTE})
    frame = rows_of(data["inferData.csv"])
    result, is_unseen, tasks = job.inference(as_source(frame))
    assert len(result) == len(frame) and None not in list(result)
    assert is_unseen == {str(i): s == "Autumn" for i, s in enumerate(frame["Season"])}
    seen = ~frame["Season"].eq("Autumn").to_numpy()
    assert np.mean(np.asarray(result)[seen] == frame["Thermal preference"].to_numpy()[seen]) >= 0.8
    assert set(ENTRIES) <= {t.entry for t in tasks}
    stored = list((tmp_path / "edge" / "unseen_samples").glob("*.csv"))
    assert len(stored) == 1 and len(pd.read_csv(stored[0])) == int((~seen).sum())

    single = as_source(frame.iloc[[int(np.flatnonzero(~seen)[0])]].reset_index(drop=True))
    _, flag, _ = job.inference(single)
    assert flag is True


def test_unseen_estimator_serves_unseen_samples(tmp_path, data, env):
    env(OUTPUT_URL=tmp_path / "out", WORKER_NAME="train-worker-3")
    LifelongLearning(Estimator, task_definition=DEFINITION).train(load_csv(data["trainData.csv"]))
    env(MODEL_URLS=tmp_path / "out" / "index.pkl", edge_output_url=tmp_path / "edge", WORKER_NAME="inferworker-3")

    def constant(x):
        return [-1] * len(x)

    job = LifelongLearning(Estimator, unseen_estimator=constant, task_definition=DEFINITION,
                           unseen_sample_recognition={"method": "SampleRecognitionByTaskAttr", "param": ATTRIBUTE})
    frame = rows_of(data["inferData.csv"])
    result, is_unseen, _ = job.inference(as_source(frame))
    autumn = frame["Season"].eq("Autumn").to_numpy()
    assert set(np.asarray(result)[autumn]) == {-1} and -1 not in set(np.asarray(result)[~autumn])
    assert sum(is_unseen.values()) == int(autumn.sum())


def test_without_kb_the_index_points_at_output_files(tmp_path, data, env):
    records = env(OUTPUT_URL=tmp_path / "out", WORKER_NAME="train-worker-4")
    legacy_job().train(train_data=load_csv(data["trainData.csv"]))
    doc = json.loads((tmp_path / "out" / "index.pkl").read_text())
    models = [g["model"]["model"] for g in doc["seen_task"]["task_groups"]]
    assert all(m.startswith(str(tmp_path / "out" / "seen_task")) for m in models)
    check_report(records[-1], "train", ENTRIES)

    env(OUTPUT_URL=tmp_path / "eval", MODEL_URLS=tmp_path / "out" / "index.pkl", WORKER_NAME="eval-worker-4",
        operator="<", model_threshold="1.01")  # every task fails the bar
    legacy_job().evaluate(load_csv(data["testData.csv"], "eval"))
    groups = json.loads((tmp_path / "eval" / "index.pkl").read_text())["seen_task"]["task_groups"]
    assert [g["deploy"] for g in groups] == [False] * 4
    assert {g["model"]["model"] for g in groups} == {models[0]}


def test_eval_drops_tasks_through_the_kb_status_update(tmp_path, data, env, kb):
    env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "out", WORKER_NAME="train-worker-5", MIN_TRAIN_SAMPLE="1")
    legacy_job().train(train_data=load_csv(data["trainData.csv"]))
    env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "eval", MODEL_URLS=tmp_path / "out" / "index.pkl",
        WORKER_NAME="eval-worker-5", operator=">", model_threshold="0")  # drop everything scoring above 0
    legacy_job().evaluate(load_csv(data["testData.csv"], "eval"))
    groups = json.loads((tmp_path / "eval" / "index.pkl").read_text())["seen_task"]["task_groups"]
    assert [g["deploy"] for g in groups] == [False] * 4
    kb_groups = json.loads((tmp_path / "kb" / "index.pkl").read_text())["seen_task"]["task_groups"]
    assert [g["deploy"] for g in kb_groups] == [False] * 4


def test_update_round_retrains_touched_tasks_and_learns_new_ones(tmp_path, data, env, kb):
    env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "train" / "1", WORKER_NAME="train-worker-6")
    legacy_job().train(train_data=load_csv(data["trainData.csv"]))
    first = json.loads((tmp_path / "train" / "1" / "index.pkl").read_text())["seen_task"]["task_groups"]

    new_rows = rows_of(data["trainData.csv"], keep=lambda f: f["Season"].eq("Summer")
                       & f["Cooling startegy_building level"].eq("Air Conditioned"))
    autumn = rows_of(data["inferData.csv"], keep=lambda f: f["Season"].eq("Autumn"))
    autumn = pd.concat([autumn] * 3, ignore_index=True)  # enough rows for a task of its own
    new_file = tmp_path / "round2.csv"
    pd.concat([new_rows, autumn], ignore_index=True).to_csv(new_file, index=False)

    records = env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "train" / "2", WORKER_NAME="train-worker-7",
                  HAS_COMPLETED_INITIAL_TRAINING="true", CLOUD_KB_INDEX=tmp_path / "train" / "1" / "index.pkl")
    index_url = legacy_job().train(train_data=load_csv(new_file))
    assert index_url == str(tmp_path / "train" / "2" / "index.pkl")
    second = json.loads(Path(index_url).read_text())["seen_task"]["task_groups"]
    assert [g["entry"] for g in second] == ENTRIES + ["Autumn_MixedMode"]
    by_entry = {g["entry"]: g for g in second}
    old = {g["entry"]: g for g in first}
    assert by_entry["Summer_AirConditioned"]["model"]["model"] != old["Summer_AirConditioned"]["model"]["model"]
    assert by_entry["Summer_AirConditioned"]["sample_num"] == old["Summer_AirConditioned"]["sample_num"] + len(new_rows)
    for entry in ENTRIES[1:]:
        assert by_entry[entry]["model"]["model"] == old[entry]["model"]["model"]
    model = check_report(records[-1], "train", ENTRIES + ["Autumn_MixedMode"])
    assert model["number_of_labeled_unseen_sample"] == len(autumn)  # the rows of the task the KB did not know

    env(KB_SERVER=kb.url, MODEL_URLS=index_url, edge_output_url=tmp_path / "edge", WORKER_NAME="inferworker-7")
    service = legacy_job(task_mining=MINING, unseen_task_detect={"method": "TaskAttrFilter"})
    _, is_unseen, tasks = service.inference(as_source(autumn.iloc[:1]))
    assert is_unseen is False and tasks[0].entry == "Autumn_MixedMode"


class NoSaveEstimator:
    """An estimator without save/load: the backend falls back to joblib, which must never reach the KB."""

    def fit(self, train_data, valid_data=None, **kwargs):
        self.majority = int(pd.Series(list(train_data.y)).mode()[0])

    def predict(self, x, **kwargs):
        return np.full(len(x), self.majority)


def test_pickled_models_are_not_published_to_the_kb(tmp_path, data, env, kb):
    records = env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "out", WORKER_NAME="train-worker-8")
    job = LifelongLearning(estimator=NoSaveEstimator, task_definition=DEFINITION)
    with pytest.raises(FileOpsError, match="pickled model"):
        job.train(load_csv(data["trainData.csv"]))
    assert records[-1]["status"] == "failed" and records[-1]["kind"] == "train"
    assert not any(f.endswith(".model") for f in os.listdir(tmp_path / "kb"))

    env(OUTPUT_URL=tmp_path / "local", WORKER_NAME="train-worker-9")  # no KB: a local joblib model is fine
    LifelongLearning(estimator=NoSaveEstimator, task_definition=DEFINITION).train(load_csv(data["trainData.csv"]))
    assert (tmp_path / "local" / "index.pkl").is_file()


def test_edge_redeploys_when_a_newer_index_appears(tmp_path, data, env, kb):
    env(KB_SERVER=kb.url, OUTPUT_URL=tmp_path / "out", WORKER_NAME="train-worker-10")
    legacy_job().train(train_data=load_csv(data["trainData.csv"]))
    deploy = tmp_path / "deploy" / "index.pkl"
    deploy.parent.mkdir()
    deploy.write_bytes((tmp_path / "out" / "index.pkl").read_bytes())
    env(KB_SERVER=kb.url, MODEL_URLS=deploy, edge_output_url=tmp_path / "edge", WORKER_NAME="inferworker-10",
        MODEL_POLL_PERIOD_SECONDS="3600")
    service = legacy_job(task_mining=MINING, unseen_task_detect={"method": "TaskAttrFilter"})
    sample = as_source(rows_of(data["testData.csv"]).iloc[:3])
    service.inference(sample)
    edge = service.edge_knowledge_management
    first_version = edge.current_index_version

    doc = json.loads(deploy.read_text())
    doc["create_time"] = "9999999999.0"
    deploy.write_text(json.dumps(doc))
    assert edge.check_index_once(str(deploy)) == "9999999999.0"
    assert edge.needs_update()
    service.inference(sample)
    assert edge.current_index_version == "9999999999.0" != first_version
    assert not edge.needs_update()
    models = sorted((tmp_path / "edge" / "seen_task").glob("*.model"))
    assert len(models) == 4  # one copy of each task model; the previous version's copies are gone

    trained_again = tmp_path / "out2"
    env(KB_SERVER=kb.url, OUTPUT_URL=trained_again, WORKER_NAME="train-worker-10b")
    legacy_job().train(train_data=load_csv(data["trainData.csv"]))
    deploy.write_bytes((trained_again / "index.pkl").read_bytes())
    env(KB_SERVER=kb.url, MODEL_URLS=deploy, edge_output_url=tmp_path / "edge", WORKER_NAME="inferworker-10",
        MODEL_POLL_PERIOD_SECONDS="3600")
    edge.check_index_once(str(deploy))
    service.inference(sample)
    new_models = sorted((tmp_path / "edge" / "seen_task").glob("*.model"))
    assert len(new_models) == 4 and not set(new_models) & set(models)

    kb.stop()  # the KB goes away: the edge keeps serving its copy
    deploy.unlink()
    edge.lastest_index_version = "newer"
    result, _, _ = service.inference(sample)
    assert len(result) == 3


def test_needs_an_estimator():
    with pytest.raises(TypeError):
        LifelongLearning()


def test_unseen_samples_of_image_paths_are_copied(tmp_path, env):
    env(edge_output_url=tmp_path / "edge")
    from sedna.algorithms.knowledge_management import EdgeKnowledgeManagement

    image = tmp_path / "frame1.png"
    image.write_bytes(b"png")
    edge = EdgeKnowledgeManagement(unseen_save_url=str(tmp_path / "cloud"))
    ds = BaseDataSource(data_type="test")
    ds.x = [str(image)]
    edge.save_unseen_samples(ds)
    copied = list((tmp_path / "edge" / "unseen_samples").iterdir())
    assert len(copied) == 1 and copied[0].read_bytes() == b"png"
    os.utime(copied[0], (0, 0))
    assert edge.upload_unseen_once() == [copied[0].name]
    assert (tmp_path / "cloud" / copied[0].name).read_bytes() == b"png"
    assert edge.upload_unseen_once() == []


def test_inference_pod_without_kb_server_fetches_from_a_token_protected_kb(tmp_path, data, env, monkeypatch):
    monkeypatch.setenv("SEDNA_KB_TOKEN", "tok3n")
    server = KBServer("127.0.0.1", 0, save_dir=str(tmp_path / "kb")).start_background()
    try:
        assert server.token == "tok3n"
        env(KB_SERVER=server.url, OUTPUT_URL=tmp_path / "out", WORKER_NAME="train-worker-11")
        legacy_job().train(train_data=load_csv(data["trainData.csv"]))
        # the GM gives inference pods no KB_SERVER: the KB URLs in the index are enough
        env(MODEL_URLS=tmp_path / "out" / "index.pkl", edge_output_url=tmp_path / "edge",
            WORKER_NAME="inferworker-11")
        service = legacy_job(task_mining=MINING, unseen_task_detect={"method": "TaskAttrFilter"})
        result, is_unseen, _ = service.inference(as_source(rows_of(data["testData.csv"]).iloc[:5]))
        assert len(result) == 5 and is_unseen is False
        monkeypatch.setenv("SEDNA_KB_TOKEN", "wrong")
        env(MODEL_URLS=tmp_path / "out" / "index.pkl", edge_output_url=tmp_path / "edge2",
            WORKER_NAME="inferworker-12")
        with pytest.raises(RuntimeError, match="401"):
            legacy_job(task_mining=MINING).inference(as_source(rows_of(data["testData.csv"]).iloc[:5]))
    finally:
        server.stop()


class NumpyResultEstimator(Estimator):
    """Training results with numpy scalars, as many estimators return them."""

    def train(self, train_data, valid_data=None, **kwargs):
        res = super().train(train_data, valid_data, **kwargs)
        return {"train_precision": np.float32(res["train_precision"]), "samples": np.int64(res["samples"])}


def test_numpy_training_results_still_reach_the_lc(tmp_path, data, env):
    records = env(OUTPUT_URL=tmp_path / "r1", WORKER_NAME="train-worker-13")
    LifelongLearning(estimator=NumpyResultEstimator, task_definition=DEFINITION).train(
        load_csv(data["trainData.csv"]))
    check_report(records[-1], "train", ENTRIES)
    records = env(OUTPUT_URL=tmp_path / "r2", WORKER_NAME="train-worker-14", HAS_COMPLETED_INITIAL_TRAINING="true",
                  CLOUD_KB_INDEX=tmp_path / "r1" / "index.pkl")
    LifelongLearning(estimator=NumpyResultEstimator, task_definition=DEFINITION).train(
        load_csv(data["testData.csv"]))
    model = check_report(records[-1], "train", ENTRIES)
    assert set(model["metrics"]) == set(ENTRIES)
    assert all(isinstance(v["samples"], int) for v in model["metrics"].values())
