"""MistNet through FederatedLearningV2 / AggregationServerV2: the V2 mapping (sdk.md §7.3-7.4), the Laplace
noise, the cut, the wire, and rounds between a real server and clients (threads and separate processes)."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from support_http import recording_lc
from support_procs import free_port, stop_process

from sedna.algorithms.aggregation import FedAvgV2, MistNet
from sedna.algorithms.aggregation.mistnet import (
    MistNetWireError,
    client_settings,
    decode_features,
    encode_features,
    laplace_noise,
    server_settings,
)
from sedna.algorithms.client_choose import SimpleClientChoose
from sedna.algorithms.transmitter import S3Transmitter, WSTransmitter
from sedna.common.config import BaseConfig
from sedna.common.tensors import dumps_arrays, loads_arrays

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.torch, pytest.mark.timeout(120)]

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mistnet_proc


class Est:
    def __init__(self, hyper=None, model=None, pretrained=None, saved=None):
        self.model = model
        self.hyperparameters = hyper or {}
        self.pretrained = pretrained
        self.saved = saved


# ---- the V2 mapping -------------------------------------------------------------------------------------------
SERVER_CASES = [
    # (hyperparameters, chooser per_round, env, expected subset)
    ({}, None, {}, {"host": "0.0.0.0", "port": 7363, "per_round": 1, "rounds": 1, "epochs": 1, "batch_size": 16}),
    ({"rounds": 2, "epochs": "100", "batch_size": "32"}, 2, {"AGG_BIND_IP": "127.0.0.1", "AGG_BIND_PORT": "9000"},
     {"host": "127.0.0.1", "port": 9000, "per_round": 2, "rounds": 2, "epochs": 100, "batch_size": 32}),
    ({"learning_rate": "0.001", "optimizer": "Adam"}, None, {"PARTICIPANTS_COUNT": "3", "exit_round": "4"},
     {"per_round": 3, "rounds": 4, "learning_rate": 0.001, "optimizer": "Adam"}),
    ({"lr": 0.5}, None, {"MODEL_URL": "/m", "PRETRAINED_MODEL_URL": "/p"},
     {"learning_rate": 0.5, "saved": "/m", "pretrained": "/p"}),
    ({}, None, {"POD_IP": "127.20.0.7"}, {"host": "127.20.0.7"}),
    ({}, None, {"POD_IP": "127.20.0.7", "AGG_BIND_IP": "0.0.0.0"}, {"host": "0.0.0.0"}),
]


@pytest.mark.parametrize("hyper,per_round,env,expected", SERVER_CASES)
def test_server_settings_map_v2_arguments_and_env(hyper, per_round, env, expected):
    chooser = SimpleClientChoose(per_round) if per_round else None
    s = server_settings(Est(hyper), MistNet(cut_layer="4", epsilon="100"), WSTransmitter(), chooser, env)
    assert (s.cut_layer, s.epsilon, s.noise_scale) == (4, 100.0, 0.01)
    assert {k: getattr(s, k) for k in expected} == expected


CLIENT_CASES = [
    ({}, {"host": "127.0.0.1", "port": 7363, "transmitter": "ws"}),
    ({"AGG_IP": "10.0.0.5", "AGG_PORT": "7400"}, {"host": "10.0.0.5", "port": 7400}),
    ({"MISTNET_SENSITIVITY": "2"}, {"sensitivity": 2.0, "noise_scale": 0.02}),
]


@pytest.mark.parametrize("env,expected", CLIENT_CASES)
def test_client_settings_map_env(env, expected):
    s = client_settings(Est({"batch_size": 8, "learning_rate": 0.001, "epochs": 1}), MistNet(4, 100), None, env)
    assert s.batch_size == 8 and s.cut_layer == 4
    assert {k: getattr(s, k) for k in expected} == expected


def test_client_settings_name_the_transmitter(monkeypatch):
    tx = S3Transmitter("http://127.0.0.1:1", "a", "s", "s3://b/p")
    assert client_settings(Est(), MistNet(2), tx, {}).transmitter == "s3"


@pytest.mark.parametrize("aggregation,hyper,error", [
    (FedAvgV2(), {}, "must be 'mistnet'"),
    (MistNet(cut_layer=0), {}, "cut_layer must be >= 1"),
    (MistNet(cut_layer=2, epsilon=0), {}, "epsilon must be > 0"),
    (MistNet(cut_layer=2), {"batch_size": "many"}, "batch_size must be a number"),
])
def test_settings_refuse_bad_input_naming_the_field(aggregation, hyper, error):
    with pytest.raises(ValueError, match=error):
        server_settings(Est(hyper), aggregation, env={})


def test_v2_constructors_dispatch_mistnet(monkeypatch):
    from sedna.core.federated_learning import FederatedLearningV2
    from sedna.core.federated_learning.mistnet import MistNetClient
    from sedna.service.server import AggregationServerV2
    from sedna.service.server.mistnet import MistNetServer

    monkeypatch.setenv("AGG_BIND_PORT", "0")
    model = mistnet_proc.make_model()
    server = AggregationServerV2(estimator=Est({"rounds": 2}, model), aggregation=MistNet(2, 10),
                                 chooser=SimpleClientChoose(2))
    assert isinstance(server, MistNetServer) and server.settings.per_round == 2 and server.settings.rounds == 2
    client = FederatedLearningV2(data=None, estimator=Est({}, model), aggregation=MistNet(2, 10))
    assert isinstance(client, MistNetClient) and isinstance(client, FederatedLearningV2)
    assert client.agg_uri == "ws://127.0.0.1:7363/MistNet"
    with pytest.raises(ValueError, match="needs estimator.model"):
        AggregationServerV2(estimator=Est({}), aggregation=MistNet(2))
    with pytest.raises(ValueError, match="needs estimator.model"):
        FederatedLearningV2(estimator=Est({}), aggregation=MistNet(2))


# ---- noise ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("epsilon", [1, 10, 100])
def test_laplace_noise_has_scale_one_over_epsilon(epsilon):
    features = np.full(400_000, 3.0, np.float32)
    noise = laplace_noise(features, epsilon, rng=np.random.default_rng(1)) - 3.0
    b = 1.0 / epsilon
    # Laplace(0, b): E|n| = b, std = b·√2
    assert abs(np.mean(np.abs(noise)) / b - 1) < 0.02
    assert abs(np.std(noise) / (b * np.sqrt(2)) - 1) < 0.02
    assert abs(np.mean(noise)) < 0.01 * b * 10


def test_client_features_carry_noise_of_the_configured_scale():
    """Through the worker's own path: lower layers that output zeros leave only the noise to measure."""
    from sedna.core.federated_learning.mistnet import MistNetClient

    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    torch.nn.init.zeros_(model[0].weight)
    torch.nn.init.zeros_(model[0].bias)
    for epsilon in (5, 50):
        client = MistNetClient(data=mistnet_proc.Data(1), estimator=Est({"batch_size": 32}, model),
                               aggregation=MistNet(cut_layer=2, epsilon=epsilon))
        batches, samples = client.extract_features()
        noise = np.concatenate([f.ravel() for f, _ in batches])
        assert samples == 96 and batches[0][0].shape == (32, 64)
        assert abs(np.mean(np.abs(noise)) * epsilon - 1) < 0.05, "empirical Laplace scale must be 1/epsilon"


# ---- the cut --------------------------------------------------------------------------------------------------
def test_cut_splits_the_model_and_server_training_changes_only_upper_layers():
    from sedna.algorithms.aggregation.mistnet import forward_from, forward_to, lower_parameter_names
    from sedna.service.server.mistnet import train_upper_layers

    model = mistnet_proc.make_model()
    x = torch.from_numpy(mistnet_proc.make_data(3)[0][:10])
    features = forward_to(model, x, 2)
    assert features.shape == (10, 32)
    torch.testing.assert_close(forward_from(model, features, 2), model(x))
    lower = lower_parameter_names(model, 2)
    assert lower == {"0.weight", "0.bias"}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x_np, y_np = mistnet_proc.make_data(4)
    with torch.no_grad():
        batches = [(forward_to(model, torch.from_numpy(x_np[i:i + 32]), 2).numpy(), y_np[i:i + 32])
                   for i in range(0, 96, 32)]
    settings = server_settings(Est({"epochs": 5, "learning_rate": 0.05}), MistNet(2), env={})
    losses = train_upper_layers(model, batches, settings, torch.nn.functional.cross_entropy)
    assert losses[-1] < losses[0]
    after = model.state_dict()
    for name, value in before.items():
        same = torch.equal(value, after[name])
        assert same == (name in lower), name
    with pytest.raises(ValueError, match="beyond"):
        lower_parameter_names(model, 9)


def test_models_without_layers_or_forward_to_are_refused():
    from sedna.algorithms.aggregation.mistnet import forward_to

    class Opaque(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="cannot be cut"):
        forward_to(Opaque(), torch.zeros(1), 1)


# ---- wire -----------------------------------------------------------------------------------------------------
def test_features_frame_round_trip_and_refuses_anything_but_features_and_targets():
    batches = [(np.ones((4, 8), np.float32), np.arange(4)), (np.zeros((2, 8), np.float32), np.zeros((0, 6)))]
    data = encode_features(batches, {"client": "c", "round": 1, "num_samples": 6})
    decoded, meta = decode_features(data)
    assert meta["type"] == "mistnet_features" and meta["round"] == 1 and len(decoded) == 2
    np.testing.assert_array_equal(decoded[0][0], batches[0][0])
    assert decoded[1][1].shape == (0, 6)
    arrays, meta = loads_arrays(data)
    arrays["weights/0000"] = np.ones(3, np.float32)   # a client smuggling weights is refused
    with pytest.raises(MistNetWireError, match="unexpected tensors"):
        decode_features(dumps_arrays(arrays, meta))
    arrays.pop("weights/0000")
    arrays["features/0000"] = np.full((4, 8), np.nan, np.float32)
    with pytest.raises(MistNetWireError, match="finite float32"):
        decode_features(dumps_arrays(arrays, meta))
    with pytest.raises(MistNetWireError, match="expected a mistnet_features"):
        decode_features(dumps_arrays({"a": np.ones(1)}, {"type": "update_weight", "v": 1}))
    with pytest.raises(MistNetWireError, match="rejected"):
        decode_features(b"garbage")


# ---- rounds ---------------------------------------------------------------------------------------------------
def _env(monkeypatch, cut=2, epsilon=100):
    monkeypatch.setenv("AGG_BIND_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_BIND_PORT", "0")
    monkeypatch.setenv("AGG_EXIT_GRACE", "0.3")
    monkeypatch.setenv("cut_layer", str(cut))
    monkeypatch.setenv("epsilon", str(epsilon))
    monkeypatch.delenv("WORKER_NAME", raising=False)


def test_rounds_in_process_server_sees_only_noisy_cut_features(tmp_path, monkeypatch):
    from sedna.core.federated_learning import FederatedLearningV2
    from sedna.service.server import AggregationServerV2

    _env(monkeypatch)
    monkeypatch.setenv("epochs", "3")
    server = AggregationServerV2(estimator=mistnet_proc.Estimator(rounds=2, saved=str(tmp_path / "model")),
                                 aggregation=mistnet_proc.mistnet(), transmitter=WSTransmitter(),
                                 chooser=SimpleClientChoose(per_round=2))
    lower_before = server.model[0].weight.detach().clone()
    thread = server.start_background()
    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(server.port))
    results, errors = [], []

    def client(seed):
        try:
            fl = FederatedLearningV2(data=mistnet_proc.Data(seed), estimator=mistnet_proc.Estimator(),
                                     aggregation=mistnet_proc.mistnet(), transmitter=WSTransmitter())
            fl.train()
            results.append(fl)
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    with recording_lc() as (lc, reports):
        monkeypatch.setattr(BaseConfig, "lc_server", lc.url)
        threads = [threading.Thread(target=client, args=(s,)) for s in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    thread.join(10)
    assert not errors, errors
    assert server.round == 2 and len(server.losses) == 2 and server.losses[1] < server.losses[0]
    # what reached the server: per round one frame per client, each only (B, 32) features of the cut
    assert len(server.features_received) == 4
    for received in server.features_received:
        assert all(shape[1:] == [32] for shape in received["shapes"]), "features must be the cut layer's output"
        assert received["meta"]["cut_layer"] == 2 and received["meta"]["num_samples"] == 96
    # the union of both clients' features trained the model; lower layers stayed the clients' extractor
    torch.testing.assert_close(server.model[0].weight, lower_before)
    for fl in results:
        assert fl.round == 2 and fl.losses == server.losses
        torch.testing.assert_close(fl.model.state_dict()["4.weight"], server.model.state_dict()["4.weight"])
    assert Path(server.saved_path) == tmp_path / "model" / "global_model.safetensors"
    saved, meta = loads_arrays(Path(server.saved_path).read_bytes())
    assert meta["round"] == 2 and set(saved) == set(server.model.state_dict())
    statuses = sorted(r["status"] for r in reports)
    assert statuses == ["completed", "completed", "running", "running"]
    assert {r["ownerKind"] for r in reports} == {"federatedlearningjob"}


def test_server_rejects_features_from_the_future_and_before_subscribe(monkeypatch):
    from websockets.sync.client import connect

    from sedna.algorithms.transmitter.wire import encode_control
    from sedna.service.server import AggregationServerV2

    _env(monkeypatch)
    server = AggregationServerV2(estimator=mistnet_proc.Estimator(rounds=1), aggregation=mistnet_proc.mistnet(),
                                 chooser=SimpleClientChoose(per_round=2))
    server.start_background()
    frame = encode_features([(np.ones((2, 32), np.float32), np.zeros(2))], {"round": 5, "num_samples": 2})
    with connect(f"ws://127.0.0.1:{server.port}/MistNet") as ws:
        ws.send(frame)
        assert "send subscribe" in ws.recv(timeout=5)
        ws.send(encode_control({"type": "subscribe", "client_id": "x"}))
        assert isinstance(ws.recv(timeout=5), bytes)    # the current model
        assert json.loads(ws.recv(timeout=5))["type"] == "subscribe"
        ws.send(frame)
        assert "next round is 1" in ws.recv(timeout=5)
        ws.send(b"not safetensors")
        assert "rejected" in ws.recv(timeout=5)
    server.stop()


def test_a_second_connection_cannot_take_a_subscribed_client_id(monkeypatch):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from sedna.algorithms.transmitter.wire import encode_control
    from sedna.service.server import AggregationServerV2

    _env(monkeypatch)
    server = AggregationServerV2(estimator=mistnet_proc.Estimator(rounds=1), aggregation=mistnet_proc.mistnet(),
                                 chooser=SimpleClientChoose(per_round=2))
    server.start_background()
    try:
        with connect(f"ws://127.0.0.1:{server.port}/MistNet") as first, \
                connect(f"ws://127.0.0.1:{server.port}/MistNet") as second:
            first.send(encode_control({"type": "subscribe", "client_id": "trainer-1"}))
            assert isinstance(first.recv(timeout=5), bytes)
            assert json.loads(first.recv(timeout=5))["type"] == "subscribe"
            second.send(encode_control({"type": "subscribe", "client_id": "trainer-1"}))
            assert "already connected" in second.recv(timeout=5)
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=5)
            assert closed.value.rcvd.code == 4009
            first.ping().wait(5)                      # the first keeps its id and its connection
            assert server.clients["trainer-1"].ws is not None
    finally:
        server.stop()


def test_aggregator_and_two_clients_as_processes(tmp_path):
    """The integration test: three processes on 127.0.0.1, configured only through the env as in the seed."""
    env = {**os.environ, "AGG_BIND_IP": "127.0.0.1", "AGG_BIND_PORT": str(free_port()), "AGG_EXIT_GRACE": "0.5",
           "cut_layer": "2", "epsilon": "100", "epochs": "3", "batch_size": "32", "learning_rate": "0.05",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "LC_SERVER": "http://127.0.0.1:1"}
    env.pop("WORKER_NAME", None)
    server = subprocess.Popen([sys.executable, str(HERE / "mistnet_proc.py"), "server", "2", "2",
                               str(tmp_path / "model")], env=env, stdout=subprocess.PIPE, text=True)
    try:
        listening = json.loads(server.stdout.readline())
        assert listening["type"] == "MistNetServer"
        client_env = {**env, "AGG_IP": "127.0.0.1", "AGG_PORT": str(listening["port"])}
        clients = [subprocess.Popen([sys.executable, str(HERE / "mistnet_proc.py"), "client", str(seed)],
                                    env={**client_env, "WORKER_NAME": f"trainer-{seed}"}, stdout=subprocess.PIPE,
                                    text=True) for seed in (1, 2)]
        outs = [json.loads(c.communicate(timeout=90)[0].strip().splitlines()[-1]) for c in clients]
        done = json.loads(server.communicate(timeout=30)[0].strip().splitlines()[-1])
    finally:
        stop_process(server)
    assert done["round"] == 2 and done["losses"][1] < done["losses"][0]
    assert Path(done["saved"]).is_file()
    for out in outs:
        assert out["type"] == "MistNetClient" and out["round"] == 2 and out["losses"] == done["losses"]
        assert len(out["bytes_sent"]) == 2
    assert all(shape == [32, 32] for shape in done["feature_shapes"])


def test_rounds_through_the_s3_transmitter(tmp_path, monkeypatch):
    """TRANSMITTER=s3: features and models travel as S3 objects; the websocket carries only references."""
    import boto3
    from support_s3 import moto_server

    from sedna.core.federated_learning import FederatedLearningV2
    from sedna.service.server import AggregationServerV2

    _env(monkeypatch)
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="ak", aws_secret_access_key="sk",
                     region_name="us-east-1").create_bucket(Bucket="sedna")
        monkeypatch.setattr(BaseConfig, "transmitter", "s3")
        monkeypatch.setattr(BaseConfig, "agg_data_path", "s3://sedna/fl/aggregation_data")
        monkeypatch.setattr(BaseConfig, "s3_endpoint_url", endpoint)
        monkeypatch.setattr(BaseConfig, "access_key_id", "ak")
        monkeypatch.setattr(BaseConfig, "secret_access_key", "sk")
        monkeypatch.setattr(BaseConfig, "lc_server", "http://127.0.0.1:9")
        monkeypatch.setenv("JOB_NAME", "yolo")
        server = AggregationServerV2(estimator=mistnet_proc.Estimator(rounds=1, saved=str(tmp_path / "m.safetensors")),
                                     aggregation=mistnet_proc.mistnet(),
                                     transmitter=FederatedLearningV2.get_transmitter_from_config(),
                                     chooser=SimpleClientChoose(per_round=1))
        thread = server.start_background()
        monkeypatch.setenv("AGG_IP", "127.0.0.1")
        monkeypatch.setenv("AGG_PORT", str(server.port))
        fl = FederatedLearningV2(data=mistnet_proc.Data(1), estimator=mistnet_proc.Estimator(),
                                 aggregation=mistnet_proc.mistnet(),
                                 transmitter=FederatedLearningV2.get_transmitter_from_config())
        fl.train()
        thread.join(10)
        keys = [o["Key"] for o in boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="ak",
                                               aws_secret_access_key="sk", region_name="us-east-1")
                .list_objects_v2(Bucket="sedna")["Contents"]]
    assert fl.round == 1 and server.round == 1 and (tmp_path / "m.safetensors").is_file()
    assert "fl/aggregation_data/yolo/mistnet/round-00001/client-" in " ".join(keys)
    assert "fl/aggregation_data/yolo/mistnet/model-round-00001.safetensors" in keys
    assert server.bytes_received < 2000, "features must not travel inside the websocket"
