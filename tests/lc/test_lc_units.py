"""Unit tests of the LC's pure pieces: sample counting, store, outbox, storage paths, learning helpers, config."""

import json
import os
import subprocess

import pytest

from sedna.api.messages import Message
from sedna.lc import learning, samples
from sedna.lc.config import ConfigError, LCConfig
from sedna.lc.gmclient import backoff_delay
from sedna.lc.metrics import LCMetrics
from sedna.lc.outbox import Outbox, OutboxFull
from sedna.lc.storage import Credentials, Storage, StorageError, check_url, url_prefix
from sedna.lc.store import Store

# -- sample counting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content,lines", [
    (b"", 0), (b"a", 1), (b"a\n", 1), (b"a\nb", 2), (b"a\nb\n", 2), (b"\n", 1), (b"a\n\nb\n", 3),
    (b"a\n\n", 2), (b"a\r\nb\r\n", 2),
])
def test_count_lines(tmp_path, content, lines):
    p = tmp_path / "f.txt"
    p.write_bytes(content)
    assert samples.count_lines(str(p)) == lines


def test_count_lines_across_chunks_matches_wc(tmp_path):
    p = tmp_path / "big.txt"
    line = b"images/%07d.jpg 1\n"
    with open(p, "wb") as f:
        # ~3.6 MB: several 1 MiB chunks, lines straddling chunk borders
        f.writelines(line % i for i in range(200_000))
    wc = int(subprocess.run(["wc", "-l", str(p)], capture_output=True, text=True, check=True).stdout.split()[0])
    assert samples.count_lines(str(p)) == wc == 200_000
    with open(p, "ab") as f:
        f.write(b"no-newline")
    assert samples.count_lines(str(p)) == wc + 1


@pytest.mark.parametrize("content,lines", [
    (b"", 0), (b"a", 1), (b"\n", 1), (b"ab\ncd", 2), (b"a\n\n\n\nb", 5), (b"a\nbc\n", 2),
    (b"\n" * 37, 37), (b"x" * 37, 1), (b"12345678\n" * 9 + b"tail", 10),
])
@pytest.mark.parametrize("readers", [2, 3])
def test_count_lines_in_parallel_ranges_matches_one_reader(tmp_path, monkeypatch, content, lines, readers):
    # tiny chunks and ranges so that newlines, chunk ends and range boundaries fall on every byte position
    p = tmp_path / "f.txt"
    p.write_bytes(content)
    monkeypatch.setattr(samples, "CHUNK", 4)
    monkeypatch.setattr(samples, "MAX_READERS", readers)
    monkeypatch.setattr(samples.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(samples, "PARALLEL_BYTES", 1)
    assert samples.count_lines(str(p)) == lines


def test_count_samples_formats(tmp_path):
    txt = tmp_path / "d.txt"
    txt.write_text("a 1\nb 2\nc 3\n")
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n1,2\n3,4\n")
    assert samples.count_samples(str(txt), "TXT") == 3
    assert samples.count_samples(str(csv), "csv") == 2
    assert samples.read_header(str(csv)) == "x,y"
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(samples.SampleFileError):
        samples.count_samples(str(empty), "csv")
    with pytest.raises(samples.SampleFileError, match="format"):
        samples.count_samples(str(txt), "json")


def test_dir_dataset_counts_its_files(tmp_path):
    root = tmp_path / "COCO"
    (root / "coco128" / "images" / "train2017").mkdir(parents=True)
    (root / "coco128" / "labels" / "train2017").mkdir(parents=True)
    for i in range(3):
        (root / "coco128" / "images" / "train2017" / f"{i:012d}.jpg").write_bytes(b"x")
        (root / "coco128" / "labels" / "train2017" / f"{i:012d}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (root / ".DS_Store").write_text("hidden")
    (root / ".cache").mkdir()
    (root / ".cache" / "x").write_text("hidden")
    assert samples.count_samples(str(root), "dir") == 6
    assert samples.count_samples(str(root), "Dir") == 6
    assert list(samples.iter_samples(str(root), "dir", [(0, 2)])) == [
        "coco128/images/train2017/000000000000.jpg", "coco128/images/train2017/000000000001.jpg"]
    with pytest.raises(samples.SampleFileError, match="not a directory"):
        samples.count_samples(str(root / "coco128" / "labels" / "train2017" / "000000000000.txt"), "dir")


def test_iter_samples_ranges(tmp_path):
    txt = tmp_path / "d.txt"
    txt.write_text("".join(f"s{i}\n" for i in range(10)))
    assert list(samples.iter_samples(str(txt), "txt", [(2, 4), (7, 9)])) == ["s2", "s3", "s7", "s8"]
    assert list(samples.iter_samples(str(txt), "txt", [(8, 20)])) == ["s8", "s9"]
    assert list(samples.iter_samples(str(txt), "txt", [])) == []
    csv = tmp_path / "d.csv"
    csv.write_text("h\nr0\nr1\nr2\n")
    assert list(samples.iter_samples(str(csv), "csv", [(1, 3)])) == ["r1", "r2"]


# -- store ----------------------------------------------------------------------------------------------

def test_store_resource_round_trip(tmp_path):
    db = str(tmp_path / "sub" / "database.db")
    store = Store(db)
    obj = {"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset",
           "metadata": {"name": "ds1", "namespace": "default", "annotations": {"a": "b"}},
           "spec": {"url": "/data/x.txt", "format": "txt", "nodeName": "n1"}, "status": {"numberOfSamples": 3}}
    store.upsert_resource("default/dataset/ds1", obj)
    obj2 = json.loads(json.dumps(obj))
    obj2["spec"]["url"] = "/data/y.txt"
    store.upsert_resource("default/dataset/ds1", obj2)
    store.close()
    reopened = Store(db)
    rows = reopened.list_resources()
    assert [r.key for r in rows] == ["default/dataset/ds1"]
    assert rows[0].obj == obj2
    assert reopened.get_resource("default/dataset/ds1") == obj2
    assert reopened.delete_resource("default/dataset/ds1") is True
    assert reopened.delete_resource("default/dataset/ds1") is False
    assert reopened.list_resources() == []
    import sqlite3
    cols = {r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(resources)")}
    assert oct(os.stat(db).st_mode & 0o777) == "0o600"   # credentials inside: owner only
    assert {"id", "created_at", "updated_at", "deleted_at", "name", "type_meta", "object_meta", "spec"} <= cols


async def test_outbox_order_ack_coalesce_and_bound(tmp_path):
    store = Store(str(tmp_path / "db.sqlite"))
    metrics = LCMetrics()
    box = Outbox(store, metrics, max_rows=3)

    def status(name, content):
        return Message.build("Dataset", "default", name, "status", content)

    m1 = box.put(status("a", {"numberOfSamples": 1}), coalesce_key="dataset/default/a")
    m2 = box.put(status("b", {"phase": "train"}))
    m3 = box.put(status("a", {"numberOfSamples": 2}), coalesce_key="dataset/default/a")  # replaces m1
    assert box.depth() == 2
    frames = [Message.decode(e.frame) for e in box.pending_after(0, 10)]
    assert [f.header.message_id for f in frames] == [m2, m3]
    assert frames[1].content == {"numberOfSamples": 2}
    box.put(status("c", {"phase": "eval"}))
    with pytest.raises(OutboxFull):
        box.put(status("d", {"phase": "eval"}))
    assert box.ack(m2) is True
    assert box.ack(m2) is False          # a duplicate ack is harmless
    assert box.ack(m1) is False          # acking a replaced message is harmless
    assert box.depth() == 2
    box.flush()   # acked rows are deleted by the next transaction (or within ACK_FLUSH_SECONDS)
    # durable: a new Store on the same file sees the same rows in order
    after = Store(str(tmp_path / "db.sqlite"))
    assert after.outbox_after(0, 10)[0].message_id == m3
    assert box.reject(m3, "bad") is True
    assert box.depth() == 1


# -- storage --------------------------------------------------------------------------------------------

def test_host_path_stays_under_root(tmp_path):
    root = tmp_path / "rootfs"
    (root / "data").mkdir(parents=True)
    st = Storage(str(root))
    assert st.host_path("/data/x.txt") == str(root / "data" / "x.txt")
    for bad in ("/../etc/passwd", "/data/../../x", "../../x"):
        with pytest.raises(StorageError, match="outside"):
            st.host_path(bad)
    (root / "data" / "link").symlink_to(tmp_path)
    with pytest.raises(StorageError, match="outside"):
        st.host_path("/data/link/secret")
    with pytest.raises(StorageError):
        st.host_path("http://x/y")


def test_check_url_and_prefix():
    check_url("/a/b.txt", "spec.url")
    check_url("s3://bucket/key", "spec.url")
    with pytest.raises(StorageError, match="spec.url"):
        check_url("http://host/x", "spec.url")
    with pytest.raises(StorageError):
        check_url("", "spec.url")
    assert url_prefix("s3://b/dir/index.txt") == "s3://b/dir"


def test_credentials_from_annotation():
    cred = {"s3-endpoint": "minio:9000", "s3-usehttps": "0", "ACCESS_KEY_ID": "ak", "SECRET_ACCESS_KEY": "sk"}
    obj = {"metadata": {"annotations": {"sedna.io/credential": json.dumps(cred)}}}
    c = Credentials.from_annotations(obj)
    assert c.endpoint_url == "http://minio:9000" and c.access_key == "ak"
    assert Credentials.from_annotations({"metadata": {}}) is None
    cred.pop("ACCESS_KEY_ID")
    obj["metadata"]["annotations"]["sedna.io/credential"] = json.dumps(cred)
    with pytest.raises(StorageError, match="ACCESS_KEY_ID"):
        Credentials.from_annotations(obj)


def test_copy_host_to_host_under_root(tmp_path):
    root = tmp_path / "rootfs"
    (root / "models").mkdir(parents=True)
    (root / "models" / "new.pb").write_bytes(b"NEW")
    Storage(str(root)).copy("/models/new.pb", "/deploy/model.pb")
    assert (root / "deploy" / "model.pb").read_bytes() == b"NEW"


# -- learning helpers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("current,consumed,prob,expected", [
    (10, 0, 0.8, ((0, 8), (8, 10))),
    (10, 10, 0.8, None),
    (5, 10, 0.8, None),
    (13, 10, 0.5, ((10, 11), (11, 13))),   # floor(0.5 * 3) = 1
    (10, 0, 1.0, ((0, 10), (10, 10))),
    (10, 0, 0.0, ((0, 0), (0, 10))),
    (10, 0, 7.0, ((0, 10), (10, 10))),     # clamped
])
def test_split_intake(current, consumed, prob, expected):
    assert learning.split_intake(current, consumed, prob) == expected


def conds(*pairs, data=None):
    out = [{"stage": s, "type": t, "status": "True"} for s, t in pairs]
    if data:
        for i, d in data.items():
            out[i]["data"] = json.dumps(d)
    return {"status": {"conditions": out}}


def test_job_state_and_cycle():
    assert learning.job_state({}) is None
    job = conds(("Train", "Waiting"), ("Train", "Ready"), ("Train", "Completed"), ("Eval", "Waiting"))
    st = learning.job_state(job)
    assert (st.stage, st.type, st.index, st.cycle) == ("Eval", "Waiting", 3, 0)
    job["status"]["conditions"].append({"stage": "Train", "type": "Waiting"})
    assert learning.job_state(job).cycle == 4


def test_latest_output_models_and_matching():
    job = conds(("Train", "Completed"), ("Eval", "Completed"), ("Train", "Completed"), ("Train", "Waiting"),
                data={0: {"output": {"models": [{"format": "pb", "url": "/old.pb"}]}},
                      2: {"input": {}, "output": {"models": [{"format": "ckpt", "url": "/n.ckpt"},
                                                             {"format": "pb", "url": "/new.pb"}]}}})
    models = learning.latest_output_models(job, "Train")
    assert [m["url"] for m in models] == ["/n.ckpt", "/new.pb"]
    assert learning.matching_model(models, {"format": "pb"})["url"] == "/new.pb"
    assert learning.matching_model(models, {"format": "h5"}) is None
    assert learning.latest_output_models(job, "Eval") is None   # condition without data
    dev = [{"format": "pb", "url": "/a", "device_soc_versions": ["x"]},
           {"format": "pb", "url": "/b", "device_soc_versions": ["y"]}]
    assert learning.matching_model(dev, {"format": "pb", "device_soc_versions": ["y"]})["url"] == "/b"


def test_deploy_stats():
    stats = learning.deploy_stats({"precision": [0.9, 0.8], "recall": 0.5}, {"precision": [0.7, 0.85]})
    assert stats["precision"] == [0.9, 0.8]
    assert stats["precision_delta"] == pytest.approx([0.2, -0.05])
    assert stats["recall"] == [0.5] and stats["recall_delta"] == []


def test_index_lines():
    out = list(learning.index_lines("s3://b/ds", ["img/1.jpg 0", "img/2.png label.txt", "plain 3"]))
    assert out == ["s3://b/ds", "img/1.jpg", "img/2.png", "label.txt"]


# -- config & back-off -----------------------------------------------------------------------------------

def test_config_from_env():
    cfg = LCConfig.from_env({"GM_ADDRESS": "gm:9000", "HOSTNAME": "h1", "ROOTFS_MOUNT_DIR": "/r"})
    assert cfg.node_name == "h1" and cfg.bind_port == 9100 and cfg.db_path == "/r/var/lib/sedna/database.db"
    assert cfg.dataset_poll_seconds == 60 and cfg.trigger_period_seconds == 10 and cfg.bind_address == "0.0.0.0"
    cfg = LCConfig.from_env({"GM_ADDRESS": "ws://gm:9000/", "NODENAME": "n", "HOSTNAME": "h", "BIND_PORT": "1"})
    assert cfg.gm_address == "gm:9000" and cfg.node_name == "n" and cfg.bind_port == 1
    with pytest.raises(ConfigError, match="GM_ADDRESS"):
        LCConfig.from_env({})
    with pytest.raises(ConfigError, match="BIND_PORT"):
        LCConfig.from_env({"GM_ADDRESS": "g:1", "BIND_PORT": "x"})
    with pytest.raises(ConfigError, match="LC_DATASET_POLL_SECONDS"):
        LCConfig.from_env({"GM_ADDRESS": "g:1", "LC_DATASET_POLL_SECONDS": "0"})


def test_backoff_grows_with_jitter_and_cap():
    import random
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(d <= 30.0 for d in delays)
    assert delays[-1] >= 15.0
    assert len({round(backoff_delay(3, 0.5, 30.0, rng), 6) for _ in range(5)}) > 1


def test_outbox_ids_never_reused_after_ack(tmp_path):
    store = Store(str(tmp_path / "db.sqlite"))
    box = Outbox(store, LCMetrics(), max_rows=10)
    mid = box.put(Message.build("Dataset", "default", "a", "status", {"numberOfSamples": 1}))
    first = box.pending_after(0, 10)[0].id
    box.ack(mid)
    box.put(Message.build("Dataset", "default", "a", "status", {"numberOfSamples": 2}))
    assert [e.id for e in box.pending_after(first, 10)] != []   # the writer resumes after the last id sent


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("auto", None), ("", None), ("true", True),
                                                 ("false", False)])
def test_gm_acks_detected_unless_forced(value, expected):
    from sedna.lc.config import LCConfig

    env = {"GM_ADDRESS": "gm:9000", "NODENAME": "n1"}
    if value is not None:
        env["LC_GM_ACKS"] = value
    assert LCConfig.from_env(env).gm_acks is expected
