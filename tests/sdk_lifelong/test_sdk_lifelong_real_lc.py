"""LifelongLearning reports through the real LocalController worker API into its outbox, and the GM's upstream
handler turns the forwarded report into ``status.knowledgeBase``."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from sdk_lifelong_support import ATTRIBUTE, AppServer, Estimator, generate, load_csv
from support_config import restore_config_fixture  # noqa: F401 - autouse

from sedna.api.lifelonglearning import KnowledgeBase
from sedna.api.messages import Message
from sedna.common.config import BaseConfig
from sedna.core.lifelong_learning import LifelongLearning

pytestmark = pytest.mark.timeout(120)


def test_train_report_reaches_the_lc_outbox_and_the_gm_status(monkeypatch, tmp_path):
    from sedna.gm.controllers.lifelonglearningjob import upstream
    from sedna.lc.config import LCConfig
    from sedna.lc.main import LocalController

    config = LCConfig(gm_address="127.0.0.1:1", node_name="cloud-1", rootfs=str(tmp_path / "rootfs"),
                      db_path=str(tmp_path / "lc.db"), api_token="lc-secret")
    lc = LocalController(config)
    job = {"kind": "LifelongLearningJob", "metadata": {"name": "atcii", "namespace": "default"},
           "spec": {"dataset": {"name": "ds"}, "outputDir": "/out"}}
    asyncio.run(lc.apply(Message.build("lifelonglearningjob", "default", "atcii", "insert", job)))
    server = AppServer(lc.app).start()
    try:
        paths = generate(str(tmp_path / "data"), rows=120, seed=2)
        for key, value in {"LC_SERVER": server.url, "LC_API_TOKEN": "lc-secret", "JOB_NAME": "atcii",
                           "NAMESPACE": "default", "WORKER_NAME": "train-worker-ab12c", "BACKEND_TYPE": "SKLEARN",
                           "OUTPUT_URL": str(tmp_path / "out"), "MIN_TRAIN_SAMPLE": "5"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("KB_SERVER", raising=False)
        BaseConfig.reload_from_env()
        LifelongLearning(estimator=Estimator, task_definition={"method": "TaskDefinitionByDataAttr",
                                                               "param": ATTRIBUTE}).train(
            train_data=load_csv(paths["trainData.csv"]))
        frames = [Message.decode(e.frame) for e in lc.outbox.pending_after(0, 100)]
    finally:
        server.stop()
    reports = [m for m in frames if m.header.operation == "status" and m.header.resource_name == "atcii"]
    assert reports, [m.header for m in frames]
    msg = reports[-1]
    assert msg.header.resource_kind == "LifelongLearningJob"
    assert msg.content["phase"] == "train" and msg.content["status"] == "completed"
    (model,) = msg.content["output"]["models"]
    assert model["url"] == str(tmp_path / "out" / "index.pkl") and model["format"] == "pkl"

    obj = {"kind": "LifelongLearningJob", "metadata": {"name": "atcii", "namespace": "default"},
           "spec": job["spec"], "status": {}}
    writes = upstream(obj, msg.content, datetime.now(timezone.utc))
    assert writes
    kb = KnowledgeBase.model_validate(writes[0].status["knowledgeBase"])
    assert kb.ai_classes.list_of_ai_classes == ["Summer_AirConditioned", "Summer_NaturallyVentilated",
                                                "Winter_AirConditioned", "Winter_NaturallyVentilated"]
    assert kb.ai_models.number_of_ai_models == 4
    assert all(0.5 <= m.average_precision <= 1.0 for m in kb.ai_models.list_of_ai_models)
