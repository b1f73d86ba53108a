"""Incremental and lifelong learning engines driven step by step with a fake clock (gm-lc-protocol §9-§10).

Real store, outbox, dataset manager and files under a temporary rootfs; the engine loops are stopped and
``tick`` is called by the test, so each step is deterministic.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from sedna.api.messages import Message
from sedna.lc.config import LCConfig
from sedna.lc.managers.base import LCContext
from sedna.lc.managers.dataset import DatasetManager
from sedna.lc.managers.jobs import IncrementalLearningManager, LifelongLearningManager
from sedna.lc.managers.model import ModelManager
from sedna.lc.metrics import LCMetrics
from sedna.lc.outbox import Outbox
from sedna.lc.store import Store


class Clock:
    def __init__(self, hhmm: str) -> None:
        self.set(hhmm)

    def set(self, hhmm: str) -> None:
        h, m = hhmm.split(":")
        self.now = datetime(2024, 5, 17, int(h), int(m))

    def __call__(self) -> datetime:
        return self.now


class Node:
    """One LC's managers over a real store, without the network parts."""

    def __init__(self, rootfs, clock: Clock) -> None:
        self.rootfs = rootfs
        cfg = LCConfig(gm_address="127.0.0.1:1", node_name="edge-1", rootfs=str(rootfs),
                       db_path=str(rootfs / "lc.db"), dataset_poll_seconds=3600, trigger_period_seconds=3600)
        self.store = Store(cfg.db_path)
        metrics = LCMetrics()
        self.ctx = LCContext(cfg, self.store, Outbox(self.store, metrics, 1000), metrics)
        self.datasets = DatasetManager(self.ctx)
        self.models = ModelManager(self.ctx)
        self.il = IncrementalLearningManager(self.ctx, clock=clock)
        self.ll = LifelongLearningManager(self.ctx, clock=clock)
        for m in (self.datasets, self.models, self.il, self.ll):
            self.ctx.managers[m.kind] = m
        self.seen = 0

    async def add_dataset(self, name, url, fmt="txt"):
        await self.datasets.insert({"kind": "Dataset", "metadata": {"name": name, "namespace": "default"},
                                    "spec": {"url": url, "format": fmt, "nodeName": "edge-1"}})
        state = self.datasets.get("default", name)
        state.task.cancel()
        await asyncio.gather(state.task, return_exceptions=True)
        self.datasets.refresh(state)
        return state

    async def add_model(self, name, url, fmt="pb"):
        await self.models.insert({"kind": "Model", "metadata": {"name": name, "namespace": "default"},
                                  "spec": {"url": url, "format": fmt}})

    async def push_job(self, manager, obj):
        await manager.insert(json.loads(json.dumps(obj)))
        rt = manager.jobs[manager.key("default", obj["metadata"]["name"])]
        if rt.task is not None and not rt.task.done():
            rt.task.cancel()
            await asyncio.gather(rt.task, return_exceptions=True)
        return rt

    def new_messages(self) -> list[Message]:
        frames = [Message.decode(e.frame) for e in self.store.outbox_after(0, 1000)]
        out = frames[self.seen:]
        self.seen = len(frames)
        return out

    async def close(self):
        for m in (self.il, self.ll, self.models, self.datasets):
            await m.close()
        self.store.close()


def cond(stage, ctype, data=None):
    c = {"stage": stage, "type": ctype, "status": "True"}
    if data is not None:
        c["data"] = json.dumps(data)
    return c


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "data").mkdir(parents=True)
    (root / "models").mkdir()
    return root


def il_job(conditions, hot=False, annotations=None):
    return {
        "kind": "IncrementalLearningJob",
        "metadata": {"name": "il1", "namespace": "default", "annotations": annotations or {}},
        "spec": {
            "dataset": {"name": "ds", "trainProb": 0.8},
            "initialModel": {"name": "initial-model"},
            "trainSpec": {"trigger": {"checkPeriodSeconds": 60, "timer": {"start": "02:00", "end": "20:00"},
                                      "condition": {"operator": ">", "threshold": 50, "metric": "num_of_samples"}}},
            "deploySpec": {"model": {"name": "deploy-model", "hotUpdateEnabled": hot, "pollPeriodSeconds": 1},
                           "trigger": {"condition": {"operator": ">", "threshold": 0.1,
                                                     "metric": "precision_delta[0]"}}},
            "outputDir": "/output/il",
        },
        "status": {"conditions": conditions},
    }


async def test_incremental_learning_cycle(rootfs):
    clock = Clock("21:00")
    node = Node(rootfs, clock)
    (rootfs / "data" / "ds.txt").write_text("".join(f"img/{i}.jpg {i % 2}\n" for i in range(100)))
    await node.add_dataset("ds", "/data/ds.txt")
    await node.add_model("initial-model", "/models/base.pb")
    await node.add_model("deploy-model", "/models/deploy.pb")
    conds = [cond("Train", "Waiting")]
    rt = await node.push_job(node.il, il_job(conds))
    assert (rootfs / "output/il/data/train").is_dir() and (rootfs / "output/il/eval").is_dir()

    # 21:00 is outside the 02:00-20:00 window: samples are taken in, nothing is triggered
    await node.il.tick(rt)
    assert node.new_messages() == []
    assert rt.consumed == 100 and rt.train_ranges == [(0, 80)] and rt.eval_versions == [(80, 100)]

    clock.set("10:00")
    await node.il.tick(rt)
    [train] = node.new_messages()
    assert train.header.resource_kind == "IncrementalLearningJob" and train.header.resource_name == "il1"
    assert train.content == {"phase": "Train", "status": "Ready",
                             "input": {"models": [{"format": "pb", "url": "/models/base.pb"}],
                                       "dataURL": "/output/il/data/train/1/data.txt",
                                       "outputDir": "/output/il/train/1"},
                             "output": None}
    lines = (rootfs / "output/il/data/train/1/data.txt").read_text().splitlines()
    assert lines[0] == "img/0.jpg 0" and len(lines) == 80
    assert rt.rounds == 1 and rt.train_ranges == [] and "num_of_samples=80 > 50" in rt.last_trigger
    await node.il.tick(rt)   # same state: never reported twice
    assert node.new_messages() == []

    # the GM moved the job on: train completed, eval waiting
    trained = {"format": "pb", "url": "/output/il/train/1/model.pb"}
    conds += [cond("Train", "Ready"), cond("Train", "Starting"), cond("Train", "Running"),
              cond("Train", "Completed", {"output": {"models": [trained]}}), cond("Eval", "Waiting")]
    rt = await node.push_job(node.il, il_job(conds))
    await node.il.tick(rt)
    [evaluation] = node.new_messages()
    assert evaluation.content["phase"] == "Eval" and evaluation.content["status"] == "Ready"
    assert evaluation.content["input"] == {"models": [trained, {"format": "pb", "url": "/models/deploy.pb"}],
                                           "dataURL": "/output/il/data/eval/1/data.txt"}
    eval_lines = (rootfs / "output/il/data/eval/1/data.txt").read_text().splitlines()
    assert eval_lines == [f"img/{i}.jpg {i % 2}" for i in range(80, 100)]

    # eval completed with new precision 0.9 vs old 0.7: delta 0.2 > 0.1 → copy and Deploy Ready
    (rootfs / "output/il/train/1").mkdir(parents=True)
    (rootfs / "output/il/train/1/model.pb").write_bytes(b"NEW-MODEL")
    results = [{**trained, "metrics": {"precision": [0.9]}},
               {"format": "pb", "url": "/models/deploy.pb", "metrics": {"precision": [0.7]}}]
    conds += [cond("Eval", "Ready"), cond("Eval", "Completed", {"output": {"models": results}}),
              cond("Deploy", "Waiting")]
    rt = await node.push_job(node.il, il_job(conds))
    await node.il.tick(rt)
    [deploy] = node.new_messages()
    assert deploy.content == {"phase": "Deploy", "status": "Ready",
                              "input": {"models": [trained, {"format": "pb", "url": "/models/deploy.pb"}]},
                              "output": None}
    assert (rootfs / "models/deploy.pb").read_bytes() == b"NEW-MODEL"

    # next cycle: 30 new samples → 24 train samples, below the threshold of 50
    conds += [cond("Deploy", "Completed"), cond("Train", "Waiting")]
    rt = await node.push_job(node.il, il_job(conds))
    data = rootfs / "data/ds.txt"
    data.write_text(data.read_text() + "".join(f"img/{i}.jpg 1\n" for i in range(100, 130)))
    node.datasets.refresh(node.datasets.get("default", "ds"))
    await node.il.tick(rt)
    assert node.new_messages() == [] and rt.train_ranges == [(100, 124)]
    await node.close()

    # a restarted LC restores the counters and pending samples from the store
    node2 = Node(rootfs, clock)
    row = node2.store.get_resource("default/incrementallearningjob/il1")
    ann = row["metadata"]["annotations"]
    assert ann["sedna.io/rounds"] == "1" and ann["sedna.io/number-of-samples"] == "130"
    assert ann["sedna.io/data-file-of-eval"] == "/output/il/data/eval/1/data.txt"
    rt2 = await node2.push_job(node2.il, row)
    assert (rt2.rounds, rt2.consumed, rt2.train_ranges) == (1, 130, [(100, 124)])
    await node2.close()


async def test_incremental_deploy_skipped_when_trigger_false(rootfs):
    node = Node(rootfs, Clock("10:00"))
    (rootfs / "data" / "ds.txt").write_text("a.jpg\n")
    await node.add_dataset("ds", "/data/ds.txt")
    await node.add_model("initial-model", "/models/base.pb")
    await node.add_model("deploy-model", "/models/deploy.pb")
    (rootfs / "models/deploy.pb").write_bytes(b"OLD")
    trained = {"format": "pb", "url": "/output/il/train/1/model.pb"}
    results = [{**trained, "metrics": {"precision": [0.75]}},
               {"format": "pb", "url": "/models/deploy.pb", "metrics": {"precision": [0.7]}}]
    conds = [cond("Train", "Waiting"), cond("Train", "Completed", {"output": {"models": [trained]}}),
             cond("Eval", "Completed", {"output": {"models": results}}), cond("Deploy", "Waiting")]
    rt = await node.push_job(node.il, il_job(conds))
    await node.il.tick(rt)
    [msg] = node.new_messages()
    assert msg.content == {"phase": "Deploy", "status": "Completed", "output": None}
    assert (rootfs / "models/deploy.pb").read_bytes() == b"OLD"
    await node.close()


async def test_incremental_hot_update_publishes_config(rootfs):
    node = Node(rootfs, Clock("10:00"))
    await node.add_model("initial-model", "/models/base.pb")
    await node.add_model("deploy-model", "/models/deploy.pb")
    (rootfs / "output/il/train/1").mkdir(parents=True)
    (rootfs / "output/il/train/1/model.pb").write_bytes(b"HOT")
    config = "/var/lib/sedna/model-hot-update/default/incrementallearningjob/il1/model_config.json"
    trained = {"format": "pb", "url": "/output/il/train/1/model.pb"}
    conds = [cond("Train", "Waiting"), cond("Train", "Completed", {"output": {"models": [trained]}}),
             cond("Deploy", "Ready"), cond("Deploy", "Starting"), cond("Deploy", "Running")]
    job = il_job(conds, hot=True, annotations={"sedna.io/model-hot-update-config": config})
    rt = await node.push_job(node.il, job)
    await node.il.tick(rt)
    assert node.new_messages() == []   # the worker reports the result, not the LC
    cfg_file = rootfs / config.lstrip("/")
    doc = json.loads(cfg_file.read_text())
    assert doc["model_config"]["model_path"] == "/model-hot-update/model.pb"
    assert doc["model_config"]["model_update_time"].startswith("2024-05-17 10:00:00")
    assert (cfg_file.parent / "model.pb").read_bytes() == b"HOT"
    assert (rootfs / "models/deploy.pb").read_bytes() == b"HOT"
    assert oct(cfg_file.stat().st_mode & 0o777) == "0o644"
    await node.il.delete("default", "il1")
    assert not cfg_file.parent.exists()
    assert node.store.get_resource("default/incrementallearningjob/il1") is None
    await node.close()


async def test_hot_update_dir_outside_root_is_never_removed(rootfs):
    node = Node(rootfs, Clock("10:00"))
    keep = rootfs / "important"
    keep.mkdir()
    (keep / "file").write_text("x")
    job = il_job([cond("Train", "Waiting")], annotations={"sedna.io/model-hot-update-config": "/important/c.json"})
    await node.push_job(node.il, job)
    await node.il.delete("default", "il1")
    assert (keep / "file").exists()
    await node.close()


def ll_job(conditions):
    return {
        "kind": "LifelongLearningJob",
        "metadata": {"name": "ll1", "namespace": "default"},
        "spec": {"dataset": {"name": "lds", "trainProb": 0.5},
                 "trainSpec": {"trigger": {"timer": {"start": "02:00", "end": "24:00"},
                                           "condition": {"operator": ">=", "threshold": 5,
                                                         "metric": "num_of_samples"}}},
                 "outputDir": "/output/ll"},
        "status": {"conditions": conditions},
    }


async def test_lifelong_learning_cycle(rootfs):
    node = Node(rootfs, Clock("23:59"))
    (rootfs / "data" / "l.csv").write_text("temp,hum,label\n" + "".join(f"{i},{i},{i % 3}\n" for i in range(10)))
    await node.add_dataset("lds", "/data/l.csv", fmt="csv")
    conds = [cond("Train", "Waiting")]
    rt = await node.push_job(node.ll, ll_job(conds))
    await node.ll.tick(rt)
    [train] = node.new_messages()
    assert train.content == {"phase": "Train", "status": "Ready",
                             "input": {"dataURL": "/output/ll/data/train/1/data.csv",
                                       "outputDir": "/output/ll/train/1"}, "output": None}
    assert (rootfs / "output/ll/data/train/1/data.csv").read_text().splitlines() == \
        ["temp,hum,label", "0,0,0", "1,1,1", "2,2,2", "3,3,0", "4,4,1"]

    # eval with no trained models: Eval Failed (upstream would send null and stall)
    conds += [cond("Train", "Completed"), cond("Eval", "Waiting")]
    rt = await node.push_job(node.ll, ll_job(conds))
    await node.ll.tick(rt)
    [failed] = node.new_messages()
    assert failed.content == {"phase": "Eval", "status": "Failed", "output": None}

    kb = {"format": "pkl", "url": "/output/ll/train/1/index.pkl", "classes": ["a"]}
    conds += [cond("Train", "Waiting"), cond("Train", "Completed", {"output": {"models": [kb]}}),
              cond("Eval", "Waiting")]
    rt = await node.push_job(node.ll, ll_job(conds))
    await node.ll.tick(rt)
    [evaluation] = node.new_messages()
    assert evaluation.content["input"] == {"models": [kb], "dataURL": "/output/ll/data/eval/1/data.csv",
                                           "outputDir": "/output/ll/eval/1"}

    (rootfs / "output/ll/eval/1").mkdir(parents=True)
    (rootfs / "output/ll/eval/1/index.pkl").write_bytes(b"KB")
    evaluated = {"format": "pkl", "url": "/output/ll/eval/1/index.pkl"}
    conds += [cond("Eval", "Completed", {"output": {"models": [evaluated]}}), cond("Deploy", "Waiting")]
    rt = await node.push_job(node.ll, ll_job(conds))
    await node.ll.tick(rt)
    [deploy] = node.new_messages()
    assert deploy.content == {"phase": "Deploy", "status": "Ready", "input": {"models": [evaluated]},
                              "output": None}
    assert (rootfs / "output/ll/deploy/index.pkl").read_bytes() == b"KB"
    conds += [cond("Deploy", "Ready"), cond("Deploy", "Running")]
    rt = await node.push_job(node.ll, ll_job(conds))
    await node.ll.tick(rt)
    assert node.new_messages() == []   # once per cycle, whatever the Deploy type
    await node.close()


async def test_incremental_rejects_csv_dataset(rootfs):
    node = Node(rootfs, Clock("10:00"))
    (rootfs / "data" / "ds.csv").write_text("h\n" + "x\n" * 80)
    await node.add_dataset("ds", "/data/ds.csv", fmt="csv")
    await node.add_model("initial-model", "/models/base.pb")
    await node.add_model("deploy-model", "/models/deploy.pb")
    rt = await node.push_job(node.il, il_job([cond("Train", "Waiting")]))
    with pytest.raises(ValueError, match="cannot write csv"):
        await node.il.tick(rt)
    assert node.new_messages() == [] and rt.rounds == 0   # nothing half-done: retried next period
    await node.close()


async def test_dir_dataset_is_counted_as_its_files_and_recounted(rootfs):
    images = rootfs / "data" / "1" / "COCO" / "coco128" / "images" / "train2017"
    images.mkdir(parents=True)
    for i in range(4):
        (images / f"{i}.jpg").write_bytes(b"jpg")
    node = Node(rootfs, Clock("10:00"))
    state = await node.add_dataset("coco-dataset-1", "/data/1/COCO", fmt="dir")
    assert state.count == 4
    (images / "4.jpg").write_bytes(b"jpg")      # a change two levels down, invisible to the top mtime
    assert node.datasets.refresh(state) and state.count == 5
    assert not node.datasets.refresh(state)
    await node.close()


async def test_hot_update_config_outside_hot_update_root_is_refused(rootfs):
    node = Node(rootfs, Clock("10:00"))
    await node.add_model("initial-model", "/models/base.pb")
    await node.add_model("deploy-model", "/models/deploy.pb")
    (rootfs / "output/il/train/1").mkdir(parents=True)
    (rootfs / "output/il/train/1/model.pb").write_bytes(b"HOT")
    trained = {"format": "pb", "url": "/output/il/train/1/model.pb"}
    conds = [cond("Train", "Completed", {"output": {"models": [trained]}}), cond("Deploy", "Running")]
    for bad in ("/etc/cron.d/model_config.json", "/var/lib/sedna/model-hot-update/../../../etc/x.json"):
        rt = await node.push_job(node.il, il_job(conds, hot=True,
                                                 annotations={"sedna.io/model-hot-update-config": bad}))
        with pytest.raises(ValueError, match="not under"):
            await node.il.tick(rt)
    assert not (rootfs / "etc").exists()
    await node.close()


@pytest.fixture
def moto_endpoint():
    from support_s3 import moto_server

    with moto_server() as url:
        yield url.removeprefix("http://")


async def test_incremental_remote_dataset_and_s3_output(rootfs, moto_endpoint):
    import boto3

    s3 = boto3.client("s3", endpoint_url=f"http://{moto_endpoint}", aws_access_key_id="ak",
                      aws_secret_access_key="sk", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="ds/index.txt",
                  Body="".join(f"imgs/{i}.jpg labels/{i}.txt {i}\n" for i in range(10)).encode())
    cred = json.dumps({"s3-endpoint": moto_endpoint, "s3-usehttps": "0", "ACCESS_KEY_ID": "ak",
                       "SECRET_ACCESS_KEY": "sk"})
    node = Node(rootfs, Clock("10:00"))
    await node.datasets.insert({"kind": "Dataset", "metadata": {"name": "ds", "namespace": "default",
                                                                "annotations": {"sedna.io/credential": cred}},
                                "spec": {"url": "s3://bkt/ds/index.txt", "format": "txt", "nodeName": "edge-1"}})
    state = node.datasets.get("default", "ds")
    state.task.cancel()
    await asyncio.gather(state.task, return_exceptions=True)
    assert await asyncio.to_thread(node.datasets.refresh, state) and state.count == 10
    await node.add_model("initial-model", "s3://bkt/models/base.pb")
    await node.add_model("deploy-model", "s3://bkt/models/deploy.pb")
    job = il_job([cond("Train", "Waiting")], annotations={"sedna.io/credential": cred})
    job["spec"]["trainSpec"]["trigger"]["condition"]["threshold"] = 5
    job["spec"]["outputDir"] = "s3://bkt/out"
    rt = await node.push_job(node.il, job)
    await node.il.tick(rt)
    [train] = node.new_messages()
    assert train.content["input"]["dataURL"] == "s3://bkt/out/data/train/1/data.txt"
    assert train.content["input"]["dataIndexURL"] == "s3://bkt/out/data/train/1/dataIndex.txt"
    data = s3.get_object(Bucket="bkt", Key="out/data/train/1/data.txt")["Body"].read().decode().splitlines()
    assert data == [f"imgs/{i}.jpg labels/{i}.txt {i}" for i in range(8)]
    index = s3.get_object(Bucket="bkt", Key="out/data/train/1/dataIndex.txt")["Body"].read().decode().splitlines()
    assert index[0] == "s3://bkt/ds" and index[1:3] == ["imgs/0.jpg", "labels/0.txt"] and len(index) == 17
    await node.close()


async def test_restart_and_resync_never_repeat_a_trigger(rootfs):
    clock = Clock("10:00")
    node = Node(rootfs, clock)
    (rootfs / "data" / "ds.txt").write_text("a.jpg\n" * 10)
    await node.add_dataset("ds", "/data/ds.txt")
    await node.add_model("initial-model", "/models/base.pb")
    await node.add_model("deploy-model", "/models/deploy.pb")
    job = il_job([cond("Train", "Waiting")])
    job["spec"]["trainSpec"]["trigger"]["condition"].update(operator=">=", threshold=0)   # always true
    rt = await node.push_job(node.il, job)
    await node.il.tick(rt)
    assert len(node.new_messages()) == 1
    await node.close()

    # a new LC process on the same store, then the GM's resync re-sends the unchanged job (no LC annotations)
    node2 = Node(rootfs, clock)
    node2.seen = 1
    await node2.add_dataset("ds", "/data/ds.txt")
    await node2.add_model("initial-model", "/models/base.pb")
    rt2 = await node2.push_job(node2.il, node2.store.get_resource("default/incrementallearningjob/il1"))
    rt2 = await node2.push_job(node2.il, job)
    await node2.il.tick(rt2)
    assert node2.new_messages() == [] and rt2.rounds == 1
    # the next (Train, Waiting) condition is a new state: it triggers round 2
    job["status"]["conditions"] += [cond("Train", "Ready"), cond("Train", "Waiting")]
    rt2 = await node2.push_job(node2.il, job)
    await node2.il.tick(rt2)
    [msg] = node2.new_messages()
    assert msg.content["input"]["dataURL"] == "/output/il/data/train/2/data.txt"
    await node2.close()
