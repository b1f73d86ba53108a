"""Short real runs: the LC process drives an incremental learning job and counts an S3 dataset (moto server)."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from lc_harness import wait_for
from support_s3 import moto_server


def test_incremental_job_real_run(fake_gm, lc_process, tmp_path):
    gm = fake_gm()
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "data" / "ds.txt").write_text("".join(f"img/{i}.jpg 0\n" for i in range(100)))
    lc = lc_process(gm.address, rootfs)
    wait_for(gm.connected, what="LC connection")
    gm.push("dataset", "insert", {"kind": "Dataset", "metadata": {"name": "ds", "namespace": "default"},
                                  "spec": {"url": "/data/ds.txt", "format": "txt", "nodeName": "edge-1"}})
    gm.push("model", "insert", {"kind": "Model", "metadata": {"name": "base", "namespace": "default"},
                                "spec": {"url": "/models/base.pb", "format": "pb"}})
    job = {"kind": "IncrementalLearningJob", "metadata": {"name": "il", "namespace": "default"},
           "spec": {"dataset": {"name": "ds", "trainProb": 0.8}, "initialModel": {"name": "base"},
                    "trainSpec": {"trigger": {"timer": {"start": "00:00", "end": "24:00"},
                                              "condition": {"operator": ">", "threshold": 50,
                                                            "metric": "num_of_samples"}}},
                    "deploySpec": {"model": {"name": "base"}, "trigger": {"condition": {
                        "operator": ">", "threshold": 0, "metric": "precision_delta[0]"}}},
                    "outputDir": "/output/il"},
           "status": {"conditions": [{"stage": "Train", "type": "Waiting", "status": "True"}]}}
    gm.push("incrementallearningjob", "insert", job)
    [msg] = wait_for(lambda: gm.status_messages("IncrementalLearningJob"), what="train trigger")
    assert msg.content["phase"] == "Train" and msg.content["status"] == "Ready"
    assert msg.content["input"]["dataURL"] == "/output/il/data/train/1/data.txt"
    assert len((rootfs / "output/il/data/train/1/data.txt").read_text().splitlines()) == 80
    # a re-push of the same state (informer resync) does not trigger again
    gm.push("incrementallearningjob", "insert", job)
    wait_for(lambda: lc.logs().count("applied insert incrementallearningjob") == 2, what="resync applied")

    time.sleep(0.6)
    assert len(gm.status_messages("IncrementalLearningJob")) == 1


@pytest.fixture
def moto_s3():
    with moto_server() as url:
        yield url.removeprefix("http://")


def test_s3_dataset_counted_with_credentials(fake_gm, lc_process, moto_s3):
    s3 = boto3.client("s3", endpoint_url=f"http://{moto_s3}", aws_access_key_id="ak",
                      aws_secret_access_key="sk", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="sets/index.txt", Body=b"".join(b"a/%d.jpg\n" % i for i in range(7)))
    gm = fake_gm()
    lc_process(gm.address)
    wait_for(gm.connected, what="LC connection")
    cred = {"s3-endpoint": moto_s3, "s3-usehttps": "0", "ACCESS_KEY_ID": "ak", "SECRET_ACCESS_KEY": "sk"}
    gm.push("dataset", "insert", {
        "kind": "Dataset",
        "metadata": {"name": "remote", "namespace": "default",
                     "annotations": {"sedna.io/credential": json.dumps(cred)}},
        "spec": {"url": "s3://data/sets/index.txt", "format": "txt", "nodeName": "edge-1"}})
    msgs = wait_for(lambda: gm.status_messages("Dataset", "remote"), timeout=20, what="s3 count")
    assert msgs[0].content == {"numberOfSamples": 7}
    s3.put_object(Bucket="data", Key="sets/index.txt", Body=b"".join(b"a/%d.jpg\n" % i for i in range(9)))
    wait_for(lambda: len(gm.status_messages("Dataset", "remote")) == 2, timeout=20, what="s3 recount")
    assert gm.status_messages("Dataset", "remote")[1].content == {"numberOfSamples": 9}
