"""Worker code written the way upstream's pedestrian-tracking scripts are (model classes that set attributes
before ``super().__init__()``, ``evaluate()`` without data, ``update_plugin(**kwargs)``, tensor-like features,
``DetTrackResult(0, images, None, [], 0, 0)`` queries), across real REST hops; plus the Kafka path."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import httpx
import numpy as np
import pytest
from sdk_multiedge_support import loopback_env

from sedna.algorithms.reid.multi_img_matching import match_query_to_targets
from sedna.core.multi_edge_inference import codec
from sedna.core.multi_edge_inference.components.detector import ObjectDetector
from sedna.core.multi_edge_inference.components.feature_extraction import FEService
from sedna.core.multi_edge_inference.components.reid import ReID
from sedna.core.multi_edge_inference.data_classes import OP_MODE, DetTrackResult, Target
from sedna.core.multi_edge_inference.plugins import PLUGIN, PluggableModel
from sedna.core.multi_edge_inference.utils import get_parameters

pytestmark = pytest.mark.timeout(60)


class FakeTensor:
    """Quacks like a CPU torch tensor for what the pipeline needs."""

    def __init__(self, values):
        self.values = np.asarray(values, np.float32)

    def detach(self):
        return self

    def cpu(self):
        return self

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


class StripeTracker(PluggableModel):
    """Finds vertical bright stripes; written like upstream's ByteTracker."""

    def __init__(self, **kwargs) -> None:
        self.op_mode = OP_MODE(get_parameters("op_mode", "covid19"))
        self.camera_code = kwargs.get("video_id", 0)
        self.device = "cpu"
        self.model = None
        super().__init__()

    def load(self) -> None:
        with open(self.model_path, encoding="utf-8") as fh:
            self.model = json.load(fh)

    def evaluate(self, **kwargs):
        self.evaluated = True

    def predict(self, data, **kwargs):
        out = []
        for frame, det_time, index in data:
            columns = np.nonzero(frame.max(axis=(0, 2)) > self.model["threshold"])[0]
            rows = np.nonzero(frame.max(axis=(1, 2)) > self.model["threshold"])[0]
            if len(columns):
                out.append(DetTrackResult(frame_index=index, scene=frame, confidence=FakeTensor([0.9]),
                                          detection_time=det_time, camera=self.camera_code,
                                          bbox_coord=[[int(columns[0]), int(rows[0]), int(columns[-1]) + 1,
                                                              int(rows[-1]) + 1]],
                                          tracking_ids=[-1]))
        return out

    def update_plugin(self, **kwargs):
        return None


class MeanColourFE(PluggableModel):
    def __init__(self, **kwargs):
        self.device = "cpu"
        super().__init__()

    def load(self):
        self.ready = os.path.isfile(self.model_path)

    def evaluate(self):
        return None

    def update_plugin(self, update_object, **kwargs):
        return None

    @staticmethod
    def _feature(crop):
        v = crop.reshape(-1, crop.shape[-1])[:, :3].mean(axis=0)
        return FakeTensor((v / np.linalg.norm(v)).reshape(1, -1))

    def predict(self, data, **kwargs):
        for det in data:
            for x1, y1, x2, y2 in det.bbox_coord:
                det.features.append(self._feature(det.scene[y1:y2, x1:x2]))
        return data

    def get_target_features(self, ldata):
        query = ldata[0]
        return [Target(query.userID, [self._feature(image) for image in query.bbox])]


class ReIDWorker:
    def __init__(self, images, threshold=0.95):
        self.images = images
        self.threshold = threshold
        self.targets_list = []
        self.found = []

    def update_plugin(self, status):
        data = DetTrackResult(0, self.images, None, [], 0, 0)
        data.userID = "carol"
        return [data]

    def update_target(self, ldata):
        self.targets_list = ldata

    def predict(self, data, **kwargs):
        hits = []
        for det in data:
            for target in self.targets_list:
                _match_id, score = match_query_to_targets(target.features, det.features, False)
                if score >= self.threshold:
                    det.userID = target.userid
                    hits.append(det)
        self.found.extend(hits)
        return hits


def stripe_frame(x: int, colour) -> np.ndarray:
    frame = np.zeros((20, 40, 3), np.uint8)
    frame[4:16, x:x + 4] = colour  # a block, not a full-height stripe: optical flow needs corners
    return frame


@pytest.fixture
def env(monkeypatch, tmp_path):
    loopback_env(monkeypatch, tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"threshold": 50}))
    monkeypatch.setenv("model_path", str(tmp_path / "model.json"))
    return tmp_path


@pytest.mark.parametrize("wire", ["msgpack", "json"])
def test_upstream_style_workers(env, monkeypatch, wire):
    monkeypatch.setenv("MULTI_EDGE_WIRE_FORMAT", wire)
    fe = FEService(models=[MeanColourFE()], asynchronous=False)
    detector = reid = None
    try:
        monkeypatch.setenv("FE_MODEL_BIND_PORT", str(fe.get_plugin(PLUGIN.FEATURE_EXTRACTION).port))
        model = StripeTracker(video_id=3)
        assert model.evaluated and model.model == {"threshold": 50}
        detector = ObjectDetector(models=[model])
        fe.get_plugin(PLUGIN.VIDEO_ANALYTICS_I).set_address("127.0.0.1",
                                                            detector.get_plugin(PLUGIN.VIDEO_ANALYTICS).port)
        assert fe.get_plugin(PLUGIN.VIDEO_ANALYTICS_I).plugin_api.wire_format == wire
        colours = [(200, 30, 30), (30, 200, 30), (200, 30, 30), (30, 30, 200)]
        for i, colour in enumerate(colours):
            detector.put((stripe_frame(2 + 8 * i, colour), "Thu, 26 November 2026 10:00:00.000000", i))
        assert detector.frames_dropped == 0 and detector.data_counter == 4
        # update_service reaches the model; upstream-style update_plugin(**kwargs) refuses a positional
        # status, which is logged, not raised
        detector.get_plugin(PLUGIN.FEATURE_EXTRACTION_I).plugin_api.update_service({"op": "noop"})

        worker = ReIDWorker([np.full((8, 8, 3), (200, 30, 30), np.uint8)])
        reid = ReID(models=[worker], asynchronous=False)
        assert reid.targets_loaded
        assert isinstance(worker.targets_list[0].features[0], np.ndarray)  # tensors arrive as arrays
        shared = str(env / "shared")
        for path in reid.get_files_list(shared):
            reid.put(reid.read_from_disk(path))
            reid.delete_from_disk(path)
        assert sorted(d.frame_index for d in worker.found) == [0, 2]
        assert {d.userID for d in worker.found} == {"carol"} and worker.found[0].camera == 3
    finally:
        for component in (reid, detector, fe):
            if component is not None:
                component.close()


def test_detector_server_refuses_anything_but_results(env):
    model = StripeTracker()
    detector = ObjectDetector(models=[model])
    try:
        server = detector.get_plugin(PLUGIN.VIDEO_ANALYTICS).plugin_api
        url = f"{server.url}/video_analytics"
        headers = {"Content-Type": codec.MSGPACK_CONTENT_TYPE}
        answer = httpx.post(url, content=codec.encode([{"rm": "-rf"}]), headers=headers)
        assert answer.status_code == 400 and "DetTrackResult" in answer.json()["detail"]
        answer = httpx.post(url, content=codec.encode([DetTrackResult(frame_index=1)]), headers=headers)
        assert answer.status_code == 200
        assert detector.data_counter == 1 and len(detector.get_files_list(str(env / "shared"))) == 1
        assert httpx.get(f"{server.url}/status").json() == "OK"
    finally:
        detector.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/status", timeout=2)


@pytest.mark.kafka
def test_kafka_path_between_detector_and_feature_extraction(env, monkeypatch):
    pytest.importorskip("kafka")
    broker = os.environ.get("SEDNA_TEST_KAFKA")  # host:port of a running broker
    if not broker:
        pytest.skip("set SEDNA_TEST_KAFKA=host:port to run against a Kafka broker")
    host, port = broker.rsplit(":", 1)
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("KAFKA_ENABLED", "true")
    monkeypatch.setenv("KAFKA_BIND_IPS", host)
    monkeypatch.setenv("KAFKA_BIND_PORTS", port)
    monkeypatch.setenv("FE_MODEL_BIND_PORT", "0")
    fe = FEService(models=[MeanColourFE()], consumer_topics=[f"det-{suffix}"], producer_topics=[f"enr-{suffix}"])
    detector = ObjectDetector(models=[StripeTracker()], consumer_topics=[f"enr-{suffix}"],
                              producer_topics=[f"det-{suffix}"])
    try:
        detector.put((stripe_frame(4, (200, 30, 30)), "Thu, 26 November 2026 10:00:00.000000", 0))
        arrived = threading.Event()
        for _ in range(300):
            if detector.data_counter:
                arrived.set()
                break
            arrived.wait(0.1)
        assert arrived.is_set(), "no enriched result came back through Kafka"
    finally:
        detector.close()
        fe.close()


def test_asynchronous_detector_for_streams(env, monkeypatch):
    """Upstream's stream path: ``ObjectDetector(models=[...], asynchronous=True)``; batches of ``batch_size``
    are processed by the worker thread, leftovers after ``timeout``."""
    monkeypatch.setenv("batch_size", "2")  # both components batch by 2 and flush leftovers after 0.5 s
    fe = FEService(models=[MeanColourFE()], timeout=0.5)
    detector = None
    try:
        monkeypatch.setenv("FE_MODEL_BIND_PORT", str(fe.get_plugin(PLUGIN.FEATURE_EXTRACTION).port))
        detector = ObjectDetector(models=[StripeTracker()], asynchronous=True, timeout=0.5)
        fe.get_plugin(PLUGIN.VIDEO_ANALYTICS_I).set_address("127.0.0.1",
                                                            detector.get_plugin(PLUGIN.VIDEO_ANALYTICS).port)
        caller = threading.current_thread().name
        for i in range(5):
            detector.put((stripe_frame(2 + 6 * i, (200, 200, 30)), "Thu, 26 November 2026 10:00:00.000000", i))
        deadline = time.monotonic() + 20
        while detector.data_counter < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert detector.data_counter == 5 and detector.processed_batches == 3  # 2 + 2 + the leftover
        assert detector._worker.name != caller
    finally:
        if detector is not None:
            detector.close()
        fe.close()


def test_servers_bind_the_pod_ip_by_default(monkeypatch, env):
    for prefix in ("DET", "FE", "REID"):
        monkeypatch.delenv(f"{prefix}_MODEL_BIND_URL", raising=False)
    monkeypatch.setenv("POD_IP", "127.0.0.1")
    from sedna.core.multi_edge_inference.plugins.registered import Feature_Extraction

    class Component:
        def get_target_features(self, data):
            return data

    plugin = Feature_Extraction(wrapper=Component())
    try:
        assert plugin.ip == "127.0.0.1" and plugin.port > 0 and plugin.kind == "FEATURE_EXTRACTION"
        assert httpx.get(f"http://127.0.0.1:{plugin.port}/feature_extraction/status").json() == "OK"
    finally:
        plugin.stop()


def test_a_component_that_fails_to_build_leaves_no_server(env, monkeypatch):
    monkeypatch.setenv("DET_MODEL_BIND_PORT", str(_free_port()))
    monkeypatch.setenv("KAFKA_ENABLED", "true")  # without brokers: the constructor fails after the servers
    port = int(os.environ["DET_MODEL_BIND_PORT"])
    with pytest.raises(ValueError, match="KAFKA_BIND_IPS"):
        ObjectDetector(models=[StripeTracker()])
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/video_analytics/status", timeout=2)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_components_use_the_token_from_the_environment(env, monkeypatch):
    monkeypatch.setenv("SEDNA_INFERENCE_TOKEN", "pipeline-secret")
    fe = FEService(models=[MeanColourFE()])
    detector = None
    try:
        fe_port = fe.get_plugin(PLUGIN.FEATURE_EXTRACTION).port
        monkeypatch.setenv("FE_MODEL_BIND_PORT", str(fe_port))
        detector = ObjectDetector(models=[StripeTracker()])
        fe.get_plugin(PLUGIN.VIDEO_ANALYTICS_I).set_address("127.0.0.1",
                                                            detector.get_plugin(PLUGIN.VIDEO_ANALYTICS).port)
        detector.put((stripe_frame(3, (200, 30, 30)), "Thu, 26 November 2026 10:00:00.000000", 0))
        assert detector.data_counter == 1 and detector.send_failures == 0 and fe.send_failures == 0
        body = codec.encode([DetTrackResult()])
        headers = {"Content-Type": codec.MSGPACK_CONTENT_TYPE}
        assert httpx.post(f"http://127.0.0.1:{fe_port}/feature_extraction/feature_extraction", content=body,
                          headers=headers).status_code == 401
    finally:
        if detector is not None:
            detector.close()
        fe.close()


def test_asynchronous_reid_matches_in_its_worker(env, monkeypatch):
    fe = FEService(models=[MeanColourFE()])
    reid = None
    try:
        monkeypatch.setenv("FE_MODEL_BIND_PORT", str(fe.get_plugin(PLUGIN.FEATURE_EXTRACTION).port))
        worker = ReIDWorker([np.full((8, 8, 3), (30, 200, 30), np.uint8)])
        reid = ReID(models=[worker], timeout=0.3)  # asynchronous by default, as upstream
        assert reid.asynchronous and reid.targets_loaded
        green, red = (stripe_frame(5, (30, 200, 30)), stripe_frame(5, (200, 30, 30)))
        items = []
        for index, frame in enumerate((green, red, green)):
            det = DetTrackResult(frame_index=index, scene=frame, bbox_coord=[[5, 4, 9, 16]])
            det.features.append(MeanColourFE._feature(frame[4:16, 5:9]))
            items.append(det)
        reid.put(items)
        deadline = time.monotonic() + 10
        while len(worker.found) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(d.frame_index for d in worker.found) == [0, 2]
    finally:
        if reid is not None:
            reid.close()
        fe.close()
