"""FederatedLearning / FederatedLearningV2 workers against a real aggregation server, LC reports to a stub
LocalController, the S3 transmitter against moto in server mode, and the surface-defect example end to end."""

import json
import sys
import threading
from pathlib import Path

import boto3
import numpy as np
import pytest
from support_http import recording_lc
from support_s3 import moto_server

from sedna.algorithms.aggregation import FedAvgV2, MistNet
from sedna.algorithms.client_choose import SimpleClientChoose
from sedna.algorithms.transmitter import S3Transmitter, WSTransmitter
from sedna.algorithms.transmitter.wire import WireError
from sedna.common.config import BaseConfig
from sedna.core.federated_learning import FederatedLearning, FederatedLearningV2
from sedna.service.client import AggregationClient
from sedna.service.server import AggregationServer, AggregationServerV2

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "federated_learning" / "surface_defect_detection"


@pytest.fixture
def fake_lc(monkeypatch):
    with recording_lc() as (server, reports):
        monkeypatch.setattr(BaseConfig, "lc_server", server.url)
        yield reports


class LinearModel:
    """y ≈ x·w, trained by a few gradient steps; enough to see averaging happen."""

    def __init__(self):
        self.w = np.zeros(3, np.float32)
        self.fits = 0

    def fit(self, x, y, epochs=1, learning_rate=0.1):
        for _ in range(int(epochs) * 20):
            grad = x.T @ (x @ self.w - y) / len(x)
            self.w -= np.float32(learning_rate) * grad.astype(np.float32)
        self.fits += 1
        return {"loss": float(np.mean((x @ self.w - y) ** 2))}

    def get_weights(self):
        return [self.w]

    def set_weights(self, weights):
        self.w = np.array(weights[0], np.float32)

    def save(self, path):
        Path(path).write_bytes(self.w.tobytes())

    def score(self, x, y):
        return float(np.mean((x @ self.w - y) ** 2))


class TrainEstimator(LinearModel):
    """The V1 shape: ``train(train_data, ...)`` and no ``fit`` (the backend prefers ``fit``)."""

    fit = None

    def train(self, train_data, valid_data=None, epochs=1):
        return LinearModel.fit(self, train_data.x, train_data.y, epochs=epochs)


class Data:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)


def make_data(seed, true_w, n=50):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return Data(x, (x @ true_w).astype(np.float32))


def test_federated_learning_worker_rounds_and_lc_reports(tmp_path, fake_lc, monkeypatch):
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=2, participants_count=1,
                               checkpoint_path=str(tmp_path / "g.safetensors"), job_name="fl1", exit_grace=0.5)
    server.start_background()
    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(server.port))
    monkeypatch.setenv("JOB_NAME", "fl1")
    monkeypatch.setattr(BaseConfig, "worker_name", "trainworker-x")
    monkeypatch.setattr(BaseConfig, "model_url", str(tmp_path / "model"))
    monkeypatch.setattr(BaseConfig, "model_name", "m.bin")
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    fl = FederatedLearning(estimator=TrainEstimator, aggregation="FedAvg")
    assert fl.job_kind == "federatedlearningjob"
    data = make_data(0, np.array([1.0, -2.0, 0.5], np.float32))
    model = fl.train(train_data=data, epochs=1)
    assert model.estimator.fits == 2
    assert [r["ownerInfo"]["currentRound"] for r in fake_lc] == [1, 2]
    assert [r["status"] for r in fake_lc] == ["running", "completed"]
    last = fake_lc[-1]
    assert last["ownerKind"] == "federatedlearningjob" and last["ownerName"] == "fl1"
    assert last["name"] == "trainworker-x" and last["ownerInfo"]["sampleCount"] == 50
    assert last["results"][0]["metrics"]["loss"] >= 0
    assert (tmp_path / "model" / "m.bin").exists()

    # a worker that starts after the job finished takes the final model and completes at once
    fake_lc.clear()
    late = FederatedLearning(estimator=TrainEstimator, aggregation="FedAvg")
    result = late.train(train_data=data, epochs=1)
    assert result.estimator.fits == 0
    np.testing.assert_array_equal(result.estimator.w, server.global_arrays["0000"])
    assert fake_lc[-1]["status"] == "completed" and fake_lc[-1]["ownerInfo"]["currentRound"] == 2
    server.stop()


def run_v2_clients(datas, transmitter_factory, hyper):
    results, errors = [], []

    class Estimator:
        def __init__(self):
            self.model = LinearModel()
            self.hyperparameters = hyper

    class Dataset:
        def __init__(self, d):
            self.trainset = (d.x, d.y)
            self.testset = (d.x, d.y)

    def one(d):
        try:
            fl = FederatedLearningV2(data=Dataset(d), estimator=Estimator(), aggregation=FedAvgV2(),
                                     transmitter=transmitter_factory())
            model = fl.train()
            results.append((fl, model))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(d,)) for d in datas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def v2_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AGG_BIND_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_BIND_PORT", "0")
    monkeypatch.setenv("AGG_EXIT_GRACE", "0.5")
    monkeypatch.setenv("AGG_CHECKPOINT", str(tmp_path / "v2.safetensors"))
    monkeypatch.delenv("WORKER_NAME", raising=False)


def test_v2_server_and_clients_over_websocket(tmp_path, fake_lc, monkeypatch):
    v2_env(monkeypatch, tmp_path)
    true_w = np.array([1.0, -2.0, 0.5], np.float32)

    class ServerEstimator:
        def __init__(self):
            self.hyperparameters = {"rounds": 3}
            self.saved = str(tmp_path / "final")
            self.pretrained = None

    (tmp_path / "final").mkdir()
    server = AggregationServerV2(estimator=ServerEstimator(), aggregation=FedAvgV2(),
                                 transmitter=WSTransmitter(), chooser=SimpleClientChoose(per_round=2))
    thread = server.start_background()
    assert server.settings.exit_round == 3 and server.settings.participants_count == 2
    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(server.port))
    results = run_v2_clients([make_data(1, true_w), make_data(2, true_w)], WSTransmitter,
                             {"rounds": 3, "epochs": 1, "learning_rate": 0.1, "type": "basic"})
    for fl, model in results:
        assert [r["round"] for r in fl.test_results] == [1, 2, 3]
        assert fl.test_results[-1]["score"] < fl.test_results[0]["score"]
    thread.join(10)
    assert (tmp_path / "final" / "global_model.safetensors").exists()


def test_v2_refuses_unknown_aggregation_types_and_mistnet_without_a_model():
    class Other:
        def __init__(self):
            self.parameters = {"type": "fedprox"}

    with pytest.raises(ValueError, match="'fedavg' and 'mistnet', got 'fedprox'"):
        FederatedLearningV2(data=None, estimator=None, aggregation=Other())
    with pytest.raises(ValueError, match="'fedavg' and 'mistnet', got 'fedprox'"):
        AggregationServerV2(aggregation=Other())
    with pytest.raises(ValueError, match="MistNet needs estimator.model"):
        AggregationServerV2(aggregation=MistNet(cut_layer=4))


@pytest.fixture
def s3_bucket():
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="ak", aws_secret_access_key="sk",
                     region_name="us-east-1").create_bucket(Bucket="fl-bucket")
        yield endpoint


def test_s3_transmitter_round_trip_and_reference_checks(s3_bucket):
    tx = S3Transmitter(s3_bucket, "ak", "sk", "s3://fl-bucket/jobs/a")
    assert tx.parameters == {"s3_endpoint_url": s3_bucket, "s3_bucket": "s3://fl-bucket/jobs/a", "access_key": "ak",
                             "secret_key": "sk"}
    ref = json.loads(tx.pack(b"payload-bytes", "r1/c.safetensors"))
    assert ref == {"type": "weights_ref", "url": "s3://fl-bucket/jobs/a/r1/c.safetensors", "size": 13}
    assert tx.unpack(ref) == b"payload-bytes"
    with pytest.raises(WireError, match="exceeds limit"):
        tx.unpack(ref, max_bytes=5)
    with pytest.raises(WireError, match="outside"):
        tx.unpack({"url": "s3://other/jobs/a/x"})
    with pytest.raises(WireError, match="outside"):
        tx.unpack({"url": "s3://fl-bucket/jobs/b/x"})
    with pytest.raises(WireError, match="cannot fetch"):
        tx.unpack({"url": "s3://fl-bucket/jobs/a/missing"})
    with pytest.raises(ValueError, match="AGG_DATA_PATH"):
        S3Transmitter(s3_bucket, "ak", "sk", "./")


def test_federated_rounds_through_s3_transmitter(tmp_path, s3_bucket, fake_lc, monkeypatch):
    def transmitter():
        return S3Transmitter(s3_bucket, "ak", "sk", "s3://fl-bucket/sedna")

    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=2, participants_count=2,
                               checkpoint_path=str(tmp_path / "g.safetensors"), job_name="s3job",
                               transmitter=transmitter(), exit_grace=0.5)
    server.start_background()
    url = f"ws://127.0.0.1:{server.port}/FedAvg"
    out = {}

    def client(cid, value, n):
        c = AggregationClient(url, cid, connect_timeout=10, transmitter=transmitter(), job_name="s3job")
        for _ in range(2):
            out[cid] = c.exchange([np.full(1000, value, np.float32)], n, timeout=30)
        c.close()

    threads = [threading.Thread(target=client, args=("a", 1.0, 1)), threading.Thread(target=client,
                                                                                     args=("b", 4.0, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out["a"]["round_number"] == 2 and out["a"]["data"]["weights"][0].tolist() == [3.0] * 1000
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_bucket, aws_access_key_id="ak",
                                           aws_secret_access_key="sk", region_name="us-east-1")
            .list_objects_v2(Bucket="fl-bucket")["Contents"]]
    assert "sedna/s3job/global/round-00002-recv_weight.safetensors" in keys
    assert any(k.startswith("sedna/s3job/updates/round-00001/a-") for k in keys)
    # 4 updates of 4 kB went through S3; the websocket carried only references and control frames
    assert server.bytes_received < 2000, "weights must not travel inside the websocket"


def test_get_transmitter_from_config(monkeypatch):
    monkeypatch.setattr(BaseConfig, "transmitter", "ws")
    assert isinstance(FederatedLearningV2.get_transmitter_from_config(), WSTransmitter)
    monkeypatch.setattr(BaseConfig, "transmitter", "s3")
    monkeypatch.setattr(BaseConfig, "agg_data_path", "s3://bucket/p")
    monkeypatch.setattr(BaseConfig, "s3_endpoint_url", "http://127.0.0.1:1")
    tx = FederatedLearningV2.get_transmitter_from_config()
    assert isinstance(tx, S3Transmitter) and tx.bucket == "bucket" and tx.prefix == "p"


def test_surface_defect_example_federated_beats_local_only(tmp_path):
    sys.path.insert(0, str(EXAMPLE))
    try:
        import run_local
    finally:
        sys.path.remove(str(EXAMPLE))
    result = run_local.run(rounds=3, epochs=3, per_client=200, workdir=str(tmp_path), timeout=90)
    fed, local1, local2 = (row["accuracy"] for row in result["rows"])
    assert fed > local1 and fed > local2, result["rows"]
    assert result["clients_hold_same_global_model"]
    reports = result["lc_reports"]
    assert {r["name"] for r in reports} == {"trainworker-1", "trainworker-2"}
    assert sorted(r["ownerInfo"]["currentRound"] for r in reports) == [1, 1, 2, 2, 3, 3]
    assert all(r["ownerKind"] == "federatedlearningjob" for r in reports)
    assert run_local.format_table(result).count("\n") == 4


def test_v2_example_runs_and_improves(tmp_path):
    import importlib.util

    path = EXAMPLE.parent / "surface_defect_detection_v2" / "run_local.py"
    spec = importlib.util.spec_from_file_location("fl_v2_run_local", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run(rounds=3, per_client=200, workdir=str(tmp_path), timeout=90)
    acc = result["accuracy_per_round"]
    assert acc["client1"] == acc["client2"] and len(acc["client1"]) == 3
    assert acc["client1"][-1] > acc["client1"][0]
    assert Path(result["global_model"]).exists()


def test_dropped_client_is_reported_to_the_lc(tmp_path, fake_lc, monkeypatch):
    from websockets.sync.client import connect

    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=1, participants_count=2,
                               round_timeout=0.5, min_participants=1,
                               checkpoint_path=str(tmp_path / "g.safetensors"), job_name="fl2", exit_grace=0.5)
    server.start_background()
    ghost = connect(f"ws://127.0.0.1:{server.port}/FedAvg", proxy=None)
    ghost.send(json.dumps({"type": "subscribe", "client_id": "trainworker-ghost"}))
    ghost.recv(timeout=5)
    ghost.close()  # leaves before sending anything
    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(server.port))
    monkeypatch.setenv("JOB_NAME", "fl2")
    monkeypatch.setattr(BaseConfig, "worker_name", "trainworker-y")
    monkeypatch.setattr(BaseConfig, "model_url", str(tmp_path / "model"))
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    fl = FederatedLearning(estimator=TrainEstimator, aggregation="FedAvg")
    fl.train(train_data=make_data(3, np.ones(3, np.float32)), epochs=1)
    last = fake_lc[-1]
    assert last["status"] == "completed"
    assert last["ownerInfo"]["droppedClients"] == ["trainworker-ghost"]
    assert last["ownerInfo"]["sampleCount"] == 50


def test_rejected_update_fails_the_worker_and_reports_failed(tmp_path, fake_lc, monkeypatch):
    from sedna.service.client.aggregation import AggregationError
    from sedna.service.server.aggregation import save_checkpoint

    # the job's global model (from a checkpoint) has 4 weights; this worker's model has 3
    ckpt = tmp_path / "g.safetensors"
    save_checkpoint(str(ckpt), {"0000": np.zeros(4, np.float32)},
                    {"round": 1, "total_sample": 5, "job_name": "fl3", "aggregation": "FedAvg"})
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=0, exit_round=3, participants_count=1,
                               checkpoint_path=str(ckpt), job_name="fl3", exit_grace=0.5)
    server.start_background()
    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(server.port))
    monkeypatch.setenv("JOB_NAME", "fl3")
    monkeypatch.setattr(BaseConfig, "worker_name", "trainworker-z")
    monkeypatch.setattr(BaseConfig, "model_url", str(tmp_path / "model"))
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")

    class ThreeWeights(TrainEstimator):
        def set_weights(self, weights):  # ignore the 4-weight global model it is handed on joining
            return None

    fl = FederatedLearning(estimator=ThreeWeights, aggregation="FedAvg")
    with pytest.raises(AggregationError, match="does not match the global model"):
        fl.train(train_data=make_data(4, np.ones(3, np.float32)), epochs=1)
    assert fake_lc[-1]["status"] == "failed" and fake_lc[-1]["ownerInfo"]["currentRound"] == 1
    server.stop()
