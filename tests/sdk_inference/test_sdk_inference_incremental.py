"""IncrementalLearning train/evaluate/inference reports, and model hot update under concurrent inference."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
from sdk_inference_support import ScaleEstimator, sdk_env, wait_for, write_model
from support_config import restore_config_fixture  # noqa: F401 - autouse
from support_http import lc_fixture  # noqa: F401 - the lc fixture

from sedna.core.base import ModelHotUpdater
from sedna.core.incremental_learning import IncrementalLearning

pytestmark = pytest.mark.timeout(90)


def base_env(lc_url, **extra):
    env = {"JOB_NAME": "helmet-il", "NAMESPACE": "default", "WORKER_NAME": "train-worker-abcde",
           "LC_SERVER": lc_url}
    env.update(extra)
    return env


def test_train_saves_and_reports_model(monkeypatch, tmp_path, lc):
    lc_server, records = lc
    prefix = tmp_path / "home" / "data"
    out = prefix / "output" / "train" / "1"
    sdk_env(monkeypatch, **base_env(lc_server.url, MODEL_URL=str(out), MODEL_NAME="model.json",
                                   DATA_PATH_PREFIX=str(prefix)))
    il = IncrementalLearning(estimator=ScaleEstimator)
    assert out.is_dir()  # the output folder is created up front
    trained = il.train(train_data=np.array([0.2, 0.4]), tag=3)
    assert trained is il.estimator
    saved = out / "model.json"
    assert json.loads(saved.read_text()) == {"scale": pytest.approx(0.3), "tag": 3}
    report = records[-1]
    assert report == {
        "name": "train-worker-abcde", "namespace": "default", "ownerName": "helmet-il",
        "ownerKind": "incrementallearningjob", "kind": "train", "status": "completed",
        "results": [{"format": "json", "url": "/output/train/1/model.json", "metrics": {"loss": [0.5]}}],
    }
    assert "ownerInfo" not in report


def test_train_failure_is_reported(monkeypatch, tmp_path, lc):
    lc_server, records = lc
    sdk_env(monkeypatch, **base_env(lc_server.url, MODEL_URL=str(tmp_path), MODEL_NAME="m.json"))

    class Broken(ScaleEstimator):
        def train(self, train_data, valid_data=None, **kwargs):
            raise RuntimeError("out of memory")

    il = IncrementalLearning(estimator=Broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        il.train(train_data=[1])
    assert records[-1]["status"] == "failed" and records[-1]["kind"] == "train"


def test_evaluate_reports_each_model(monkeypatch, tmp_path, lc):
    lc_server, records = lc
    new = write_model(tmp_path / "new.json", scale=0.9)
    old = write_model(tmp_path / "old.json", scale=0.4)
    sdk_env(monkeypatch, **base_env(lc_server.url, MODEL_URLS=f"{new};{old};", WORKER_NAME="eval-worker-x"))
    il = IncrementalLearning(estimator=ScaleEstimator)
    info = il.evaluate(data=np.ones(3))
    assert [m["url"] for m in info] == [new, old]
    assert [m["metrics"]["precision"] for m in info] == [[0.9], [0.4]]
    assert records[-1]["kind"] == "eval" and records[-1]["results"] == info
    assert records[-1]["name"] == "eval-worker-x"


def test_inference_tuple_and_hard_examples(monkeypatch, tmp_path, lc):
    lc_server, _ = lc
    model = write_model(tmp_path / "deploy.json", scale=1.0)
    sdk_env(monkeypatch, **base_env(lc_server.url, MODEL_URL=model, HEM_NAME="IBT",
                                   HEM_PARAMETERS='[{"key":"threshold_img","value":"0.9"},'
                                                  '{"key":"threshold_box","value":"0.5"}]'))
    il = IncrementalLearning(estimator=ScaleEstimator)
    infer_res, res, hard = il.inference(np.full(4, 0.2))
    assert hard is True and infer_res == res
    infer_res, res, hard = il.inference(np.full(4, 0.8), post_process=lambda r: [b + ["x"] for b in r])
    assert hard is False and res[0][-1] == "x" and infer_res[0][-1] != "x"
    sdk_env(monkeypatch, **base_env(lc_server.url, MODEL_URL=model))
    assert IncrementalLearning(estimator=ScaleEstimator).inference([0.1])[2] is False  # no HEM configured


def write_hot_config(path, model_path, version):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"model_config": {"model_path": str(model_path), "model_update_time": version}}, fh)
    os.replace(tmp, path)


def test_hot_update_under_concurrent_inference(monkeypatch, tmp_path, lc):
    lc_server, records = lc
    deploy = write_model(tmp_path / "deploy.json", scale=1.0, tag=1)
    hot_dir = tmp_path / "model-hot-update"
    hot_dir.mkdir()
    config = hot_dir / "model_config.json"
    sdk_env(monkeypatch, **base_env(lc_server.url, MODEL_URL=deploy, WORKER_NAME="inferworker-abcde",
                                   MODEL_HOT_UPDATE="true", MODEL_HOT_UPDATE_CONFIG=str(config),
                                   MODEL_POLL_PERIOD_SECONDS="1"))
    il = IncrementalLearning(estimator=ScaleEstimator)
    assert isinstance(il.hot_updater, ModelHotUpdater) and il.hot_updater.period == 1
    errors, tags, timed = [], [], []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                started = time.monotonic()
                tag = il.inference(np.full(8, 0.5))[0][0][5]
                timed.append((started, tag))
                tags.append(tag)
            except Exception as exc:  # noqa: BLE001 - any failure is what the test looks for
                errors.append(exc)

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        assert wait_for(lambda: len(tags) > 50)
        new_model = write_model(hot_dir / "model-v2.json", scale=2.0, tag=2)
        write_hot_config(config, new_model, "2026-01-01 10:00:00")
        assert wait_for(lambda: il.hot_updater.updates == 1, timeout=10)
        swapped_at = time.monotonic()
        count = len(tags)
        assert wait_for(lambda: len(tags) > count + 50)
        assert tags[-1] == 2.0
        assert wait_for(lambda: any(r["kind"] == "deploy" and r["status"] == "completed" for r in records))
        # a broken model is rejected; the working one keeps serving
        broken = hot_dir / "model-v3.json"
        broken.write_text("{not json")
        write_hot_config(config, broken, "2026-01-01 11:00:00")
        assert wait_for(lambda: il.hot_updater.failures == 1, timeout=10)
        count = len(tags)
        assert wait_for(lambda: len(tags) > count + 50)
        assert tags[-1] == 2.0
        assert il.hot_updater.current_version == "2026-01-01 10:00:00"
        assert wait_for(lambda: any(r["kind"] == "deploy" and r["status"] == "failed" for r in records))
        assert il.hot_updater.check_once() is None  # the rejected version is not retried every poll
    finally:
        stop.set()
        for t in threads:
            t.join()
        il.hot_updater.stop()
    assert errors == []
    assert set(tags) == {1.0, 2.0}
    # every request that started after the swap was answered by the new model
    late = [tag for started, tag in timed if started > swapped_at]
    assert late and set(late) == {2.0}


def test_hot_update_config_edge_cases(monkeypatch, tmp_path, lc):
    lc_server, _ = lc
    deploy = write_model(tmp_path / "deploy.json", scale=1.0)
    sdk_env(monkeypatch, **base_env(lc_server.url, MODEL_URL=deploy))
    il = IncrementalLearning(estimator=ScaleEstimator)
    assert il.hot_updater is None
    cfg = tmp_path / "cfg.json"
    updater = ModelHotUpdater(il, config_path=str(cfg), period=0.5)
    assert updater.period == 60  # < 1 -> 60, as upstream
    assert updater.check_once() is None  # no file
    cfg.write_text('{"model_config": {}}')
    assert updater.check_once() is None  # malformed
    write_hot_config(cfg, tmp_path / "missing.json", "v1")
    assert updater.check_once() is False  # missing model file -> rejected
    v2 = write_model(tmp_path / "v2.json", scale=3.0, tag=5)
    write_hot_config(cfg, v2, "v2")
    assert updater.check_once() is True
    assert il.inference([0.1])[0][0][5] == 5.0
    assert updater.check_once() is None  # same version: nothing to do
